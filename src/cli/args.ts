/**
 * Flag parsing shared by the commands: node:util parseArgs, with every mistake turned into one
 * clear line (UserError, exit code 2) instead of a stack trace.
 */

import { type ParseArgsConfig, parseArgs } from "node:util";
import { UserError } from "../errors.ts";

export type Options = NonNullable<ParseArgsConfig["options"]>;

export interface Parsed {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/** Parse `argv` against `options`; `--help` is always accepted. */
export function parse(command: string, argv: string[], options: Options, allowPositionals = false): Parsed {
  // `--learning-rate -0.1` should reach the range check, not be taken for an option: glue a
  // negative number to the string option before it.
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].startsWith("--") ? argv[i].slice(2) : null;
    if (name && options[name]?.type === "string" && /^-\d|^-\.\d|^-inf/i.test(argv[i + 1] ?? "")) {
      args.push(`${argv[i]}=${argv[i + 1]}`);
      i++;
    } else args.push(argv[i]);
  }
  try {
    const { values, positionals } = parseArgs({
      args,
      options: { ...options, help: { type: "boolean", short: "h" } },
      allowPositionals,
      strict: true,
    });
    return { values: values as Parsed["values"], positionals };
  } catch (e) {
    const msg = (e as Error).message.split("\n")[0].replace(/\. To specify a positional argument.*$/, "");
    throw new UserError(`makemore ${command}: ${msg} (see makemore ${command} --help)`, 2);
  }
}

/** A number flag, checked: `num(v, "--batch-size", { integer: true, min: 1 })`. */
export function num(
  value: string | boolean | undefined,
  flag: string,
  fallback: number,
  opts: { integer?: boolean; min?: number; max?: number; exclusiveMin?: boolean } = {},
): number {
  if (value === undefined) return fallback;
  const s = String(value).trim().replaceAll("_", "");
  const v = s === "" ? Number.NaN : Number(s);
  const kind = opts.integer ? "a whole number" : "a number";
  if (!Number.isFinite(v) || (opts.integer && !Number.isInteger(v))) {
    throw new UserError(`${flag} must be ${kind}, got '${value}'`, 2);
  }
  if (opts.min !== undefined && (opts.exclusiveMin ? v <= opts.min : v < opts.min)) {
    throw new UserError(
      `${flag} must be ${opts.exclusiveMin ? "greater than" : "at least"} ${opts.min}, got ${v}`,
      2,
    );
  }
  if (opts.max !== undefined && v > opts.max)
    throw new UserError(`${flag} must be at most ${opts.max}, got ${v}`, 2);
  return v;
}

/** A string flag limited to a set of choices. */
export function choice<T extends string>(
  value: string | boolean | undefined,
  flag: string,
  choices: readonly T[],
  fallback: T,
): T {
  if (value === undefined) return fallback;
  if (!choices.includes(value as T)) {
    throw new UserError(`${flag} must be one of ${choices.join(", ")}; got '${value}'`, 2);
  }
  return value as T;
}

/** Exactly one positional (a run directory, usually). */
export function onePositional(command: string, positionals: string[], what: string): string {
  if (positionals.length !== 1) {
    throw new UserError(
      `makemore ${command} needs one ${what}${positionals.length ? `, got ${positionals.length}` : ""} (see --help)`,
      2,
    );
  }
  return positionals[0];
}

/** Format seconds as h:mm:ss or m:ss. */
export function clock(seconds: number): string {
  if (!Number.isFinite(seconds)) return "--:--";
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${r}` : `${m}:${r}`;
}
