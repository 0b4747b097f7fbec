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

/**
 * Parse `argv` against `options`; `--help` is always accepted. Habits from other tools are
 * accepted too: `-o=DIR` (as `-o DIR`), `-n -1` and `--learning-rate -0.1` (a negative number is
 * a value, so it reaches the range check); a misspelt flag gets "did you mean --n-hidden?".
 * Errors carry no "makemore" prefix: main prints `makemore: error: ` before every message.
 */
export function parse(command: string, argv: string[], options: Options, allowPositionals = false): Parsed {
  const shorts = new Map<string, string>();
  for (const [name, o] of Object.entries(options)) if (o.short) shorts.set(o.short, name);
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") {
      args.push(...argv.slice(i));
      break;
    }
    // `-o=/tmp/x`: node's parser would take "=/tmp/x" as the value of -o
    const shortEq = /^-([A-Za-z])=(.*)$/s.exec(a);
    const longName = a.startsWith("--") && !a.includes("=") ? a.slice(2) : null;
    const shortName = /^-[A-Za-z]$/.test(a) ? shorts.get(a[1]) : undefined;
    const name = longName ?? shortName;
    if (shortEq && shorts.has(shortEq[1])) {
      args.push(`--${shorts.get(shortEq[1])}=${shortEq[2]}`);
    } else if (name && options[name]?.type === "string" && /^-\d|^-\.\d|^-inf/i.test(argv[i + 1] ?? "")) {
      args.push(`--${name}=${argv[i + 1]}`);
      i++;
    } else args.push(a);
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
    const err = e as Error & { code?: string };
    const see = `(see makemore ${command} --help)`;
    const unknown = /Unknown option '([^']+)'/.exec(err.message);
    if (err.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && unknown) {
      const flag = unknown[1];
      const guess = suggest(flag.replace(/^-+/, "").split("=")[0], Object.keys(options));
      throw new UserError(`unknown option ${flag}${guess ? `; did you mean --${guess}?` : ""} ${see}`, 2);
    }
    const positional = /Unexpected argument '([^']+)'/.exec(err.message);
    if (err.code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL" && positional) {
      throw new UserError(`unexpected argument '${positional[1]}': makemore ${command} takes none ${see}`, 2);
    }
    const missing = /Option '(?:-\w, )?(--[\w-]+)[^']*' argument missing/.exec(err.message);
    if (missing) throw new UserError(`${missing[1]} needs a value ${see}`, 2);
    const msg = err.message.split("\n")[0].replace(/\. To specify a positional argument.*$/, "");
    throw new UserError(`${msg} ${see}`, 2);
  }
}

/**
 * The known name closest to `name` (edit distance at most a third of its length, or a unique
 * prefix), for "did you mean": `suggest("n-hiden", names)` is "n-hidden".
 */
export function suggest(name: string, known: readonly string[]): string | null {
  const prefixed = known.filter((k) => k.startsWith(name));
  if (name.length >= 2 && prefixed.length === 1) return prefixed[0];
  let best: string | null = null;
  let bestD = Math.max(1, Math.floor(name.length / 3)) + 1;
  for (const k of known) {
    const d = editDistance(name, k);
    if (d < bestD) [best, bestD] = [k, d];
  }
  return best;
}

/** Levenshtein distance (insert, delete, substitute; a swap of neighbours counts as one). */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      const sub = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + sub);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.length][b.length];
}

/**
 * How the user runs this program, for hints that must work when pasted: `makemore` when it was
 * started through its installed name, `npx makemore` under npx, otherwise `node` plus the script
 * path as typed (`node dist/cli/main.js`, `node --import tsx src/cli/main.ts`).
 */
export function invocation(
  argv1 = process.argv[1] ?? "",
  env = process.env,
  execArgv = process.execArgv,
): string {
  const base = argv1.split(/[\\/]/).pop() ?? "";
  if (env.npm_command === "exec") return "npx makemore";
  if (base === "makemore" || base === "makemore.cmd") return "makemore";
  let script = argv1;
  const cwd = process.cwd();
  if (script.startsWith(`${cwd}/`)) script = script.slice(cwd.length + 1);
  const flags = execArgv.filter((f, i) => f === "--import" || execArgv[i - 1] === "--import");
  return ["node", ...flags, script].join(" ");
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

/**
 * The commands that read a run, and how they take makemore.py's `-o/--work-dir DIR` as their
 * RUN_DIR: "o" both forms, "long" only `--work-dir` (`report` and `export` keep `-o` for the file
 * they write; `fold` writes its folded run to -o).
 */
const READS_A_RUN: Record<string, "o" | "long"> = {
  sample: "o",
  eval: "o",
  info: "o",
  doctor: "o",
  dashboard: "o",
  report: "long",
  export: "long",
};

/**
 * `makemore sample -o out` as makemore.py's users name a run: `-o DIR`, `-o=DIR`, `--work-dir DIR`
 * and `--work-dir=DIR` become the positional RUN_DIR of a command that reads a run (argv unchanged
 * for other commands; a flag without its value is left for the parser to refuse).
 */
export function workDirAsRunDir(command: string, argv: string[]): string[] {
  const how = READS_A_RUN[command];
  if (!how) return argv;
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") {
      out.push(...argv.slice(i));
      break;
    }
    const short = how === "o" && (a === "-o" || a.startsWith("-o="));
    const long = a === "--work-dir" || a.startsWith("--work-dir=");
    if (!short && !long) {
      out.push(a);
      continue;
    }
    const eq = a.indexOf("=");
    if (eq >= 0) out.push(a.slice(eq + 1));
    else if (i + 1 < argv.length) out.push(argv[++i]);
    else out.push(a);
  }
  return out;
}
