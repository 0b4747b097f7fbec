/**
 * An error caused by the user's input (a file, a flag, a checkpoint), as opposed to a bug.
 * The command line prints its message as one line and exits non-zero, without a stack trace,
 * so the message must name the problem and, where possible, the fix.
 *
 *   throw new UserError(`input file ${path} is empty`);
 */
export class UserError extends Error {
  /** Process exit code the CLI uses (2 for usage errors, 1 otherwise). */
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = "UserError";
    this.exitCode = exitCode;
  }
}
