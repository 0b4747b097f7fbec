/**
 * The run files' schema: what each file of a run directory holds, the one writer of each (the
 * training session's `RunStore` on disk) and the one reader (validated once, on read), which
 * the report, the dashboard, `doctor` and `info` go through. The shapes are the types of
 * src/train/session.ts (config, state, live, samples) and src/diagnostics/types.ts (metrics,
 * snapshots, findings).
 *
 *   config.json         RunConfig, "version": 1 (checkConfig in run.ts)
 *   checkpoint.safetensors + state.json   weights + RunState (run.ts)
 *   metrics.jsonl       MetricsLine per line: {"step","loss","lr"[,"ud"]} or {"step","train_loss","val_loss"}
 *                       (makemore.py's types: {"step","train_loss","test_loss"}, its evaluate())
 *   diagnostics.jsonl   DiagnosticsSnapshot per line
 *   samples.txt         one sampled word per line; samples.json {"version","seed","samples":[{word,source}]}
 *   findings.json       Finding[]
 *   live.json           LiveStatus, rewritten every ~2 s while a dashboard watches
 *
 * A tampered field is one UserError line naming the file and the field.
 */

import { existsSync, readFileSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { DiagnosticsSnapshot, Finding, MetricsLine } from "../diagnostics/types.ts";
import { UserError } from "../errors.ts";
import type { Module } from "../nn/modules.ts";
import type { LiveStatus, RunState, RunStore, SampleRecord } from "../train/session.ts";
import { forEachLine, writeFileAtomic } from "./atomic.ts";
import { showPath } from "./describe.ts";
import { appendLines, saveBestWeights, saveCheckpoint } from "./run.ts";
import {
  isObject,
  type RunPaths,
  readJsonFile,
  readMetricsForChecks,
  runPaths,
  writeJsonFile,
} from "./rundir.ts";

export const SAMPLES_VERSION = 1;

// ---------------------------------------------------------------- writing: the session's store on disk

/** A run directory as the training session's store (src/train/session.ts `RunStore`). */
export class FileRunStore implements RunStore {
  constructor(readonly paths: RunPaths) {}
  get location(): string {
    return this.paths.dir;
  }
  saveCheckpoint(model: Module, state: RunState): void {
    saveCheckpoint(this.paths, model, state);
    if (!state.finished && state.splitLosses && process.env.MAKEMORE_TEST_HOLD === "final-checkpoint")
      holdToBeKilled("the final checkpoint");
  }
  saveBest(model: Module, best: { step: number; testLoss: number }): void {
    saveBestWeights(this.paths, model, best);
  }
  appendMetrics(lines: readonly MetricsLine[]): void {
    appendLines(
      this.paths.metrics,
      lines.map((l) => JSON.stringify(l)),
    );
  }
  appendDiagnostics(snapshot: DiagnosticsSnapshot): void {
    appendLines(this.paths.diagnostics, [JSON.stringify(snapshot)]);
  }
  truncateFrom(step: number): void {
    truncateJsonLines(this.paths.metrics, step);
    truncateJsonLines(this.paths.diagnostics, step);
  }
  /** What the doctor's history checks read (bounded: see readMetricsForChecks). */
  readMetrics(): MetricsLine[] {
    try {
      return readMetricsForChecks(this.paths.metrics);
    } catch {
      return [];
    }
  }
  writeLive(live: LiveStatus): void {
    writeJsonFile(this.paths.live, live);
  }
  writeSamples(samples: readonly SampleRecord[], seed: number | string): void {
    writeFileAtomic(this.paths.samples, samples.map((s) => `${s.word}\n`).join(""));
    writeJsonFile(this.paths.samplesJson, { version: SAMPLES_VERSION, seed, samples });
  }
  writeFindings(findings: readonly Finding[]): void {
    writeJsonFile(this.paths.findings, findings);
  }
}

/**
 * A test hook (test/robust.test.ts, row 4): with MAKEMORE_TEST_HOLD=final-checkpoint the process
 * stops just after the checkpoint that ends training (the evaluated weights, saved as not yet
 * finished: samples and findings are still to come), says so on stderr and waits there, so a
 * test can send a real SIGKILL at exactly that moment. It resumes by itself after 60 s.
 */
function holdToBeKilled(where: string): void {
  writeSync(2, `makemore: test hold: ${process.pid} is waiting after ${where}\n`);
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60_000);
}

/** Keep the JSONL lines logged before `step` (a resumed run re-logs the rest); a torn line goes. */
function truncateJsonLines(path: string, step: number): void {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return;
  }
  const keep = text.split("\n").filter((line) => {
    if (!line) return false;
    try {
      return JSON.parse(line).step < step;
    } catch {
      return false; // a torn last line from a crash
    }
  });
  writeFileAtomic(path, keep.length ? `${keep.join("\n")}\n` : "");
}

// ---------------------------------------------------------------- reading: one parser per file

export { isObject } from "./rundir.ts";

/** A UserError naming the file and the field: `live.json: samples[2].word must be a string`. */
function badField(file: string, field: string, what: string, value: unknown): UserError {
  const shown = JSON.stringify(value);
  return new UserError(
    `${file}: ${field} ${what}${shown === undefined ? " (missing)" : `, got ${shown.length > 40 ? `${shown.slice(0, 40)}…` : shown}`}`,
  );
}

/** A JSON line; a diverged step may log NaN or Infinity, which JSON cannot hold: read as null. */
export function parseJsonLine(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    try {
      return JSON.parse(line.replace(/-?\bInfinity\b|\bNaN\b/g, "null"));
    } catch {
      return undefined;
    }
  }
}

/**
 * A JSONL file read for display, streaming (one slice plus one line in memory): a torn last line
 * and lines that are not JSON or not UTF-8 are skipped (with a note), NaN/Infinity written by a
 * diverged run read as null. Returns the number of records passed on.
 */
export function forEachJsonLineLenient(
  path: string,
  what: string,
  notes: string[],
  onRecord: (record: unknown) => void,
  opts: { chunkBytes?: number } = {},
): number {
  let count = 0;
  let bad = 0;
  let nonFinite = false;
  let torn = false;
  forEachLine(
    path,
    what,
    ({ text, unterminated }) => {
      if (text !== null && text.trim() === "") return;
      let rec: unknown;
      if (text !== null) {
        try {
          rec = JSON.parse(text);
        } catch {
          rec = parseJsonLine(text);
          if (rec !== undefined) nonFinite = true;
        }
      }
      if (rec === undefined) {
        if (unterminated) torn = true;
        else bad++;
        return;
      }
      count++;
      onRecord(rec);
    },
    opts,
  );
  if (torn) notes.push(`${what}: the last line was cut off (a crash mid-write?) and was skipped.`);
  if (bad || nonFinite)
    notes.push(
      `${what}: ${bad ? `${bad} line${bad === 1 ? " is" : "s are"} not valid JSON and ${bad === 1 ? "was" : "were"} skipped` : "some lines hold NaN or Infinity"}; non-finite values (NaN, Infinity) are shown as gaps.`,
    );
  return count;
}

/** One metrics.jsonl record, or null when it has no numeric step. A null loss (NaN logged) is NaN. */
export function toMetricsLine(r: unknown): MetricsLine | null {
  if (!isObject(r) || typeof r.step !== "number" || !Number.isFinite(r.step)) return null;
  const m: MetricsLine = { step: r.step };
  if (typeof r.loss === "number") m.loss = r.loss;
  else if (r.loss === null) m.loss = Number.NaN;
  if (typeof r.lr === "number") m.lr = r.lr;
  if (isObject(r.ud)) {
    const ud: Record<string, number> = {};
    for (const [k, v] of Object.entries(r.ud)) if (typeof v === "number") ud[k] = v;
    m.ud = ud;
  }
  if (typeof r.train_loss === "number") m.train_loss = r.train_loss;
  if (typeof r.val_loss === "number") m.val_loss = r.val_loss;
  if (typeof r.test_loss === "number") m.test_loss = r.test_loss;
  return m;
}

/** A number field; JSON turns Infinity and NaN into null, read back as `ifNull`. */
function numField(o: Record<string, unknown>, key: string, ifNull = Number.NaN): void {
  if (typeof o[key] !== "number") o[key] = ifNull;
}

function isHistogram(h: unknown): boolean {
  return isObject(h) && Array.isArray(h.counts) && Array.isArray(h.edges);
}

/** Entries of a snapshot list that have the fields the charts read (numbers made numeric). */
function entries<T>(v: unknown, fields: string[], keep: (o: Record<string, unknown>) => boolean): T[] {
  if (!Array.isArray(v)) return [];
  const out: T[] = [];
  for (const o of v) {
    if (!isObject(o) || !keep(o)) continue;
    for (const f of fields) numField(o, f);
    out.push(o as T);
  }
  return out;
}

/** One diagnostics.jsonl record with the fields the charts read (lists default to empty), or null. */
export function toSnapshot(r: unknown): DiagnosticsSnapshot | null {
  if (!isObject(r) || typeof r.step !== "number") return null;
  const layer = (o: Record<string, unknown>) =>
    typeof o.layer === "number" && typeof o.kind === "string" && isHistogram(o.hist);
  return {
    step: r.step,
    loss: typeof r.loss === "number" ? r.loss : Number.NaN,
    activations: entries(r.activations, ["mean", "std", "saturated"], layer),
    gradients: entries(r.gradients, ["mean", "std"], layer),
    params: entries(r.params, ["mean", "std"], (o) => {
      if (typeof o.name !== "string" || !Array.isArray(o.shape) || !isHistogram(o.hist)) return false;
      // std(grad) / std(data) with data of zero spread is Infinity, stored as null
      numField(o, "gradDataRatio", Number.POSITIVE_INFINITY);
      return true;
    }),
    saturation: entries(r.saturation, [], (o) => {
      if (typeof o.layer !== "number" || typeof o.bits !== "string") return false;
      if (typeof o.rows !== "number" || typeof o.cols !== "number") return false;
      if (!Array.isArray(o.deadUnits)) o.deadUnits = [];
      return true;
    }),
  };
}

const PROVENANCES = ["train", "val", "test", "new"];

function checkSamples(v: unknown, file: string, field: string): SampleRecord[] {
  if (!Array.isArray(v)) throw badField(file, field, "must be a list", v);
  return v.map((s, i) => {
    if (!isObject(s)) throw badField(file, `${field}[${i}]`, "must be an object", s);
    if (typeof s.word !== "string") throw badField(file, `${field}[${i}].word`, "must be a string", s.word);
    if (!PROVENANCES.includes(s.source as string))
      throw badField(file, `${field}[${i}].source`, `must be one of ${PROVENANCES.join(", ")}`, s.source);
    return { word: s.word, source: s.source as SampleRecord["source"] };
  });
}

const SEVERITIES = ["error", "warning", "info"];

/** findings.json (or live.json's findings): a list of the doctor's findings, every field checked. */
export function checkFindings(v: unknown, file = "findings.json", field = "findings"): Finding[] {
  if (!Array.isArray(v)) throw badField(file, field, "must be a list", v);
  return v.map((f, i) => {
    const at = `${field}[${i}]`;
    if (!isObject(f)) throw badField(file, at, "must be an object", f);
    for (const k of ["id", "title", "why", "fix"])
      if (typeof f[k] !== "string") throw badField(file, `${at}.${k}`, "must be a string", f[k]);
    if (!SEVERITIES.includes(f.severity as string))
      throw badField(file, `${at}.severity`, `must be one of ${SEVERITIES.join(", ")}`, f.severity);
    if (!isObject(f.measured)) throw badField(file, `${at}.measured`, "must be an object", f.measured);
    if (f.where !== undefined && typeof f.where !== "string")
      throw badField(file, `${at}.where`, "must be a string", f.where);
    return f as unknown as Finding;
  });
}

/** live.json, every field checked. */
export function checkLive(v: unknown, file = "live.json"): LiveStatus {
  if (!isObject(v)) throw badField(file, "the file", "must be a JSON object", v);
  for (const k of ["step", "maxSteps"])
    if (!Number.isInteger(v[k]) || (v[k] as number) < 0)
      throw badField(file, k, "must be a whole number", v[k]);
  if (typeof v.stepsPerSecond !== "number" || !(v.stepsPerSecond >= 0))
    throw badField(file, "stepsPerSecond", "must be a non-negative number", v.stepsPerSecond);
  if (typeof v.updatedAt !== "string" || Number.isNaN(Date.parse(v.updatedAt)))
    throw badField(file, "updatedAt", "must be an ISO date", v.updatedAt);
  return {
    step: v.step as number,
    maxSteps: v.maxSteps as number,
    stepsPerSecond: v.stepsPerSecond,
    updatedAt: v.updatedAt,
    samples: checkSamples(v.samples, file, "samples"),
    findings: checkFindings(v.findings, file, "findings"),
  };
}

/** samples.json, every field checked. */
export function checkSamplesFile(
  v: unknown,
  file = "samples.json",
): { seed: number; samples: SampleRecord[] } {
  if (!isObject(v)) throw badField(file, "the file", "must be a JSON object", v);
  if (v.version !== SAMPLES_VERSION) throw badField(file, "version", `must be ${SAMPLES_VERSION}`, v.version);
  if (!Number.isInteger(v.seed)) throw badField(file, "seed", "must be a whole number", v.seed);
  return { seed: v.seed as number, samples: checkSamples(v.samples, file, "samples") };
}

/** The parameter shapes a run has, by name (state.json's "parameters", written at every checkpoint). */
export function parameterShapes(state: unknown): Record<string, number[]> {
  const p = isObject(state) ? state.parameters : undefined;
  const out: Record<string, number[]> = {};
  if (!isObject(p)) return out;
  for (const [name, shape] of Object.entries(p))
    if (Array.isArray(shape) && shape.every((d) => Number.isInteger(d) && d >= 0))
      out[name] = shape as number[];
  return out;
}

// ---------------------------------------------------------------- reading a whole run (the report)

/** Everything the report shows about one run, read leniently: what is missing becomes a note. */
export interface RunData {
  dir: string;
  config?: Record<string, unknown>;
  state?: Record<string, unknown>;
  /** metrics lines read (they went to `onMetrics`: the run data never holds them all) */
  metricsCount: number;
  snapshots: DiagnosticsSnapshot[];
  /** samples.json's words with provenance, else samples.txt's words */
  samples?: { word: string; source?: SampleRecord["source"] }[];
  /** parameter shapes by name (from the diagnostics snapshots and state.json) */
  shapes: Record<string, number[]>;
  numParameters?: number;
  /** what was missing or damaged, one sentence each */
  notes: string[];
}

/**
 * A directory that holds a run (or is about to): it exists and has config.json or metrics.jsonl
 * as files. One UserError line otherwise.
 */
export function checkRunDir(dir: string): void {
  const shown = showPath(dir);
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    throw new UserError(`run directory ${shown} does not exist`);
  }
  if (!isDir) throw new UserError(`run directory ${shown} is not a directory`);
  if (!isRunDir(dir))
    throw new UserError(`${shown} is not a run directory (no config.json or metrics.jsonl)`);
}

/** Whether `dir` holds config.json or metrics.jsonl as files (a run, or one about to start). */
export function isRunDir(dir: string): boolean {
  return ["config.json", "metrics.jsonl"].some((f) => {
    try {
      return statSync(join(dir, f)).isFile();
    } catch {
      return false;
    }
  });
}

/**
 * Read a run directory for the report. UserError when `dir` does not exist, is not a directory
 * or holds neither config.json nor metrics.jsonl; every other gap becomes a note. metrics.jsonl,
 * which grows with every step, is streamed line by line into `onMetrics` (the report keeps a
 * bounded MetricsHistory of it), so a file of any size is read in bounded memory.
 */
export function readRunData(
  dir: string,
  onMetrics: (line: MetricsLine) => void,
  opts: { chunkBytes?: number } = {},
): RunData {
  checkRunDir(dir);
  const paths = runPaths(dir);
  const hasConfig = existsSync(paths.config);
  const hasMetrics = existsSync(paths.metrics);

  const notes: string[] = [];
  const data: RunData = { dir, metricsCount: 0, snapshots: [], shapes: {}, notes };

  if (hasConfig) {
    try {
      const c = readJsonFile(paths.config, "run config");
      if (isObject(c)) data.config = c;
      else notes.push("config.json is not a JSON object; the summary is incomplete.");
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      notes.push(`${e.message}; the summary is incomplete.`);
    }
  } else notes.push("no config.json: the model and training settings are unknown.");

  if (existsSync(paths.state)) {
    try {
      const s = readJsonFile(paths.state, "training state");
      if (isObject(s)) data.state = s;
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      notes.push(`${e.message}.`);
    }
  }

  if (hasMetrics)
    forEachJsonLineLenient(
      paths.metrics,
      "metrics.jsonl",
      notes,
      (x) => {
        const m = toMetricsLine(x);
        if (!m) return;
        data.metricsCount++;
        onMetrics(m);
      },
      opts,
    );
  else notes.push("no metrics.jsonl: the run has not logged a step yet.");

  if (existsSync(paths.diagnostics)) {
    forEachJsonLineLenient(paths.diagnostics, "diagnostics.jsonl", notes, (x) => {
      const s = toSnapshot(x);
      if (s) data.snapshots.push(s);
    });
    if (data.snapshots.length === 0) notes.push("diagnostics.jsonl holds no snapshot.");
  } else
    notes.push(
      "no diagnostics.jsonl: train with --diagnostics to record activations, gradients and update ratios.",
    );

  if (existsSync(paths.samplesJson)) {
    try {
      data.samples = checkSamplesFile(readJsonFile(paths.samplesJson, "samples"), paths.samplesJson).samples;
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      notes.push(`${e.message}.`);
    }
  }
  if (!data.samples && existsSync(paths.samples)) {
    try {
      data.samples = readFileSync(paths.samples, "utf8")
        .split("\n")
        .filter((s) => s.length > 0)
        .map((word) => ({ word }));
    } catch {
      notes.push("samples.txt cannot be read.");
    }
  }

  // parameter shapes and count: what the last checkpoint recorded (no model is built)
  const shapes = parameterShapes(data.state);
  if (Object.keys(shapes).length) {
    data.shapes = shapes;
    data.numParameters = Object.values(shapes).reduce((n, s) => n + s.reduce((a, b) => a * b, 1), 0);
  }
  // the snapshots were written by the same code as the update ratios: their names win
  for (const s of data.snapshots) for (const p of s.params) data.shapes[p.name] = p.shape.slice();

  const st = data.state;
  const maxSteps = isObject(data.config?.train)
    ? (data.config.train as Record<string, unknown>).maxSteps
    : undefined;
  if (st && st.finished !== true)
    notes.push(
      `the run is unfinished: ${typeof st.step === "number" ? st.step : "?"} of ${typeof maxSteps === "number" ? maxSteps : "?"} steps; split losses are measured at the end.`,
    );
  else if (!st && hasConfig) notes.push("no state.json: the run has not saved a checkpoint yet.");
  return data;
}
