/**
 * A run directory: where one training run keeps its files.
 *
 *   config.json              the run's settings
 *   checkpoint.safetensors   model parameters (written atomically)
 *   state.json               training progress (step, optimizer state, RNG) for resuming
 *   metrics.jsonl            one JSON object per line, appended during training
 *   samples.txt              generated words (samples.json: with provenance and seed)
 *   diagnostics.jsonl        diagnostics snapshots; findings.json the doctor's; live.json the dashboard's
 *   plots/                   figures
 *   report.html              the run's report
 *
 * `createRunDir` refuses to reuse a directory that already holds any of these unless told to
 * overwrite, and checks before it changes anything. The readers turn missing or damaged files
 * into one-line UserErrors naming the file.
 */

import { readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import type { MetricsLine } from "../diagnostics/types.ts";
import { UserError } from "../errors.ts";
import {
  ensureWritableDir,
  forEachLine,
  readRegularFile,
  removeStaleTemps,
  writeFileAtomic,
} from "./atomic.ts";
import { errorCode, isFsError, oneLine, osReason, showPath } from "./describe.ts";

export interface RunPaths {
  dir: string;
  config: string;
  checkpoint: string;
  /** makemore.py's habits: the weights with the best test loss so far (its model.pt) */
  best: string;
  state: string;
  metrics: string;
  diagnostics: string;
  samples: string;
  /** the samples with their provenance (train / val / test / new) and seed */
  samplesJson: string;
  findings: string;
  live: string;
  plots: string;
  report: string;
}

/** The names `createRunDir` treats as belonging to a run. */
export const RUN_FILE_NAMES = [
  "config.json",
  "checkpoint.safetensors",
  "best.safetensors",
  "state.json",
  "metrics.jsonl",
  "samples.txt",
  "samples.json",
  "diagnostics.jsonl",
  "findings.json",
  "live.json",
  "plots",
  "report.html",
] as const;

/** The file paths of the run in `dir` (nothing is touched on disk). */
export function runPaths(dir: string): RunPaths {
  return {
    dir,
    config: join(dir, "config.json"),
    checkpoint: join(dir, "checkpoint.safetensors"),
    best: join(dir, "best.safetensors"),
    state: join(dir, "state.json"),
    metrics: join(dir, "metrics.jsonl"),
    diagnostics: join(dir, "diagnostics.jsonl"),
    samples: join(dir, "samples.txt"),
    samplesJson: join(dir, "samples.json"),
    findings: join(dir, "findings.json"),
    live: join(dir, "live.json"),
    plots: join(dir, "plots"),
    report: join(dir, "report.html"),
  };
}

/** Run files present in `dir` (empty when `dir` does not exist). UserError if it is not a dir. */
export function existingRunFiles(dir: string): string[] {
  const shown = showPath(dir);
  let entries: string[];
  try {
    if (!statSync(dir).isDirectory())
      throw new UserError(`run directory ${shown} exists but is not a directory`);
    entries = readdirSync(dir);
  } catch (e) {
    if (e instanceof UserError) throw e;
    const code = errorCode(e);
    if (code === "ENOENT") return [];
    if (code === "ENOTDIR")
      throw new UserError(`run directory ${shown} cannot be created: a parent path is a file`);
    if (code === "EACCES" || code === "EPERM")
      throw new UserError(`run directory ${shown} cannot be read: permission denied`);
    if (isFsError(e)) throw new UserError(`run directory ${shown} cannot be used: ${osReason(e)}`);
    throw e;
  }
  const present = new Set(entries);
  // and the optimizer's moments beside the checkpoint (optimizer-<step>.safetensors, src/io/run.ts)
  return [
    ...RUN_FILE_NAMES.filter((n) => present.has(n)),
    ...entries.filter((n) => /^optimizer-\d+\.safetensors$/.test(n)).sort(),
  ];
}

/**
 * Prepare `dir` for a new run and return its paths. If it already holds run files, refuse with a
 * UserError (nothing is modified) unless `overwrite`, in which case exactly those run files are
 * removed (other files in the directory are left alone). Creates the directory.
 */
export function createRunDir(dir: string, opts: { overwrite?: boolean } = {}): RunPaths {
  const shown = showPath(dir);
  const existing = existingRunFiles(dir);
  if (existing.length > 0 && !opts.overwrite)
    throw new UserError(
      `run directory ${shown} already holds a run (${existing.join(", ")}); choose another directory or pass --overwrite`,
    );
  ensureWritableDir(dir);
  const paths = runPaths(dir);
  for (const name of existing) {
    try {
      rmSync(join(dir, name), { recursive: true, force: true });
    } catch (e) {
      if (isFsError(e)) throw new UserError(`cannot remove ${showPath(join(dir, name))}: ${osReason(e)}`);
      throw e;
    }
  }
  // plots/ is made by `makemore report` when there is something to draw (fold and eval runs
  // would otherwise keep an empty folder)
  // temp files a killed writer left behind (their owner is dead: the pid in the name is checked)
  removeStaleTemps(dir);
  removeStaleTemps(paths.plots);
  return paths;
}

export const DEFAULT_MAX_JSON_BYTES = 64 * 1024 * 1024;

/** Read a UTF-8 text file for `what`, mapping OS errors to one-line UserErrors. */
function readText(path: string, what: string, maxBytes: number): string {
  const shown = showPath(path);
  const bytes = readRegularFile(path, what, maxBytes);
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new UserError(`${what} ${shown} is damaged: not valid UTF-8`);
  }
}

/**
 * Parse the JSON file at `path`; `what` names it in messages ("run config", "training state").
 * Missing, empty, unreadable or invalid files give `UserError("<what> <path> ...")`. The result
 * is unvalidated: check its fields before use.
 */
export function readJsonFile(path: string, what: string, opts: { maxBytes?: number } = {}): unknown {
  const text = readText(path, what, opts.maxBytes ?? DEFAULT_MAX_JSON_BYTES);
  const shown = showPath(path);
  if (text.trim().length === 0) throw new UserError(`${what} ${shown} is empty`);
  try {
    return JSON.parse(text);
  } catch (e) {
    const detail = e instanceof Error ? oneLine(e.message, 100) : "";
    throw new UserError(`${what} ${shown} is not valid JSON${detail ? ` (${detail})` : ""}`);
  }
}

/** A parsed JSON object (not null, not an array): the first check of every run file's reader. */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Write `value` as pretty JSON, atomically. */
export function writeJsonFile(path: string, value: unknown): void {
  writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}

/** What is wrong with one JSONL record of a run file, or null. */
function recordProblem(rec: unknown, metrics: boolean): string | null {
  if (typeof rec !== "object" || rec === null || Array.isArray(rec)) return "is not a JSON object";
  const r = rec as Record<string, unknown>;
  if (!Number.isInteger(r.step) || (r.step as number) < 0) return "has no whole-number step";
  if (!metrics) return null;
  for (const k of ["loss", "lr", "train_loss", "val_loss", "test_loss"]) {
    // null is what JSON.stringify makes of NaN/Infinity: a diverged run's honest record
    if (r[k] !== undefined && r[k] !== null && typeof r[k] !== "number") return `has a non-numeric ${k}`;
  }
  if (r.ud !== undefined) {
    if (typeof r.ud !== "object" || r.ud === null || Array.isArray(r.ud))
      return "has an ud that is not an object";
    for (const v of Object.values(r.ud))
      if (v !== null && typeof v !== "number") return "has a non-numeric ud value";
  }
  return null;
}

/**
 * Parse a JSONL file (e.g. metrics.jsonl) record by record, streaming (forEachLine: memory is one
 * slice plus one line, whatever the file's size). A last line without its newline that does not
 * parse is a write torn by a crash: it is dropped and `tornTail` is set. Any other bad line is a
 * UserError naming the file and line number.
 *
 *   forEachJsonLine("runs/bn/metrics.jsonl", "metrics", (rec) => lines.push(rec as MetricsLine));
 */
export function forEachJsonLine(
  path: string,
  what: string,
  onRecord: (record: unknown) => void,
  opts: { chunkBytes?: number } = {},
): { count: number; tornTail: boolean } {
  let tornTail = false;
  let count = 0;
  const shown = () => showPath(path);
  forEachLine(
    path,
    what,
    ({ text, number, unterminated }) => {
      if (tornTail) return;
      if (text === null) {
        if (unterminated) {
          tornTail = true; // a crash mid-character or a runaway last line
          return;
        }
        throw new UserError(
          `${what} ${shown()} is damaged: line ${number} is not valid UTF-8 (or over 64 MiB)`,
        );
      }
      if (text.trim().length === 0) return;
      let rec: unknown;
      try {
        rec = JSON.parse(text);
      } catch {
        if (unterminated) {
          tornTail = true;
          return;
        }
        throw new UserError(`${what} ${shown()} is damaged: line ${number} is not valid JSON`);
      }
      // every run JSONL line is an object with a whole-number step; metrics' numbers are numbers
      const problem = recordProblem(rec, what === "metrics");
      if (problem) throw new UserError(`${what} ${shown()} is damaged: line ${number} ${problem}`);
      count++;
      onRecord(rec);
    },
    opts,
  );
  return { count, tornTail };
}

/** forEachJsonLine's records as a list (for files known to be small, or tests). */
export function readJsonLines(path: string, what: string): { records: unknown[]; tornTail: boolean } {
  const records: unknown[] = [];
  const { tornTail } = forEachJsonLine(path, what, (r) => records.push(r));
  return { records, tornTail };
}

/**
 * What checkHistory (src/diagnostics/doctor.ts) reads of metrics.jsonl, in bounded memory: it
 * looks at the last min(1000, n/2) of the n lines with update ratios and at the first and last
 * eval lines, so keeping the last UD_TAIL = 2,000 ud lines (min(1000, 2000/2) = 1000 = min(1000,
 * n/2) for any n >= 2000) and those two eval lines gives it the same answer as the whole file;
 * checkMakemore (the same file) reads the step-0 update ratios, so that line is kept too.
 * Streams the file; a damaged line is a UserError naming it, as readJsonLines does.
 */
export function readMetricsForChecks(path: string, opts: { chunkBytes?: number } = {}): MetricsLine[] {
  const UD_TAIL = 2000;
  let ud: { i: number; m: MetricsLine }[] = [];
  let firstEval: { i: number; m: MetricsLine } | undefined;
  let lastEval: { i: number; m: MetricsLine } | undefined;
  let firstUd: { i: number; m: MetricsLine } | undefined;
  let i = 0;
  forEachJsonLine(
    path,
    "metrics",
    (r) => {
      const m = r as MetricsLine;
      if (m.ud) {
        if (m.step === 0) firstUd ??= { i, m };
        ud.push({ i, m });
        if (ud.length >= 2 * UD_TAIL) ud = ud.slice(-UD_TAIL); // amortised: a copy every UD_TAIL lines
      }
      if (m.train_loss !== undefined && m.val_loss !== undefined) {
        firstEval ??= { i, m };
        lastEval = { i, m };
      }
      i++;
    },
    opts,
  );
  const kept = new Map<number, MetricsLine>();
  for (const e of [firstUd, firstEval, ...ud.slice(-UD_TAIL), lastEval]) if (e) kept.set(e.i, e.m);
  return [...kept.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]);
}
