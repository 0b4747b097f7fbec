/**
 * A run directory: everything needed to rebuild a model, continue training exactly, evaluate and
 * sample.
 *
 *   config.json             model spec, training config, seed, data source and vocabulary
 *   checkpoint.safetensors  weights and BatchNorm buffers (PyTorch reads it); its metadata also
 *                           holds the resume state, so weights and state change in ONE atomic rename
 *   state.json              the same resume state, readable (step, generator state, losses)
 *   metrics.jsonl           one line per step: {"step", "loss", "lr"} (+ diagnostics lines)
 *   samples.txt             sampled words
 */

import { appendFileSync, existsSync, readdirSync, rmSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  exampleCount,
  type LectureData,
  MAX_VOCAB_SIZE,
  prepareDataFor,
  SPLIT_KINDS,
  type SplitKind,
  Vocabulary,
} from "../data/dataset.ts";
import {
  checkBatchNormDrift,
  checkBigramFit,
  checkHistory,
  checkMakemore,
  checkModel,
  sortFindings,
} from "../diagnostics/doctor.ts";
import type { DiagnosticsSnapshot, Finding } from "../diagnostics/types.ts";
import { UserError } from "../errors.ts";
import {
  buildFromSpec,
  checkModelSpec,
  type DataKind,
  familyOf,
  type LanguageModel,
} from "../models/index.ts";
import type { Module } from "../nn/modules.ts";
import { Generator } from "../random/generator.ts";
import type { OptimizerState } from "../train/optim.ts";
import {
  CONFIG_VERSION,
  checkRunData,
  configForWords,
  type RunConfig,
  type RunRequest,
  type RunState,
} from "../train/session.ts";
import { type TrainConfig, validateTrainConfig } from "../train/train.ts";
import { ensureWritableDir, removeStaleTemps } from "./atomic.ts";
import { isFsError, osReason, showName, showPath } from "./describe.ts";
import { lockRunDir, type RunLock } from "./lock.ts";
import {
  createRunDir,
  existingRunFiles,
  forEachJsonLine,
  isObject,
  type RunPaths,
  readJsonFile,
  readMetricsForChecks,
  runPaths,
  writeJsonFile,
} from "./rundir.ts";
import { readSafetensorsFile, writeSafetensorsFile } from "./safetensors.ts";
import { DEFAULT_MAX_LINE_CHARS, DEFAULT_MAX_WORDS, readWordFile } from "./wordfile.ts";

export { CONFIG_VERSION, type RunConfig, type RunState };

/** The bundled names.txt (32,033 names), the default input. */
export const BUNDLED_NAMES = /* @__PURE__ */ bundledNames();

// a function marked pure, so that bundling a module that imports this one for its pure parts (the
// browser playground: scripts/build-web.ts) can drop it
function bundledNames(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), "../../data/names.txt");
}

/** Read a word file and build the lecture's data from it (context windows, or sequences). */
export function loadData(
  inputFile: string,
  blockSize: number,
  splitSeed = 42,
  kind: DataKind = "window",
  split: SplitKind = "lecture",
): LectureData & { bytes: number } {
  const file = readWordFile(inputFile);
  return { ...prepareDataFor(kind, file.words, blockSize, splitSeed, split), bytes: file.bytes };
}

/**
 * The data a run's config names, shaped the way its model family reads it; `file` when the
 * caller has read the word file already (it is read once: a pipe can be read only once).
 */
export function loadRunData(
  config: RunConfig,
  file?: { words: readonly string[]; bytes: number },
): LectureData & { bytes: number; sha256?: string } {
  const { inputFile, blockSize, splitSeed, split } = config.data;
  const kind = familyOf(config.model.type).data;
  if (file)
    return {
      ...prepareDataFor(kind, file.words, blockSize, splitSeed, split ?? "lecture"),
      bytes: file.bytes,
    };
  const f = readWordFile(inputFile);
  const data = {
    ...prepareDataFor(kind, f.words, blockSize, splitSeed, split ?? "lecture"),
    bytes: f.bytes,
    sha256: f.sha256,
  };
  // a word file that gained or lost characters would feed the model ids it has no row for
  if (data.vocab.itos.join("\u0000") !== config.data.vocab.join("\u0000"))
    throw new UserError(
      `${showPath(inputFile)} has changed since the run was trained: its characters differ from the run's vocabulary of ${config.data.vocab.length}`,
    );
  return data;
}

/**
 * Save weights + buffers with the resume state embedded (one atomic file), then state.json. The
 * state records the model's parameter shapes by name, so readers need not rebuild the model.
 */
export function saveCheckpoint(paths: RunPaths, model: Module, state: RunState): void {
  const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const [name, t] of Object.entries(model.stateDict()))
    tensors[name] = { shape: t.shape, data: t.storage };
  const parameters = Object.fromEntries(model.namedParameters().map(([n, t]) => [n, t.shape.slice()]));
  // the optimizer's moments go to their own binary file, written first: the checkpoint names it,
  // so the rename that replaces the checkpoint switches weights, state and moments together (a
  // writer killed before it leaves the old checkpoint naming the old file, still there)
  const { optimizer, ...rest } = state;
  const optimizerFile = optimizer ? saveOptimizerState(paths, optimizer) : undefined;
  const full: RunState = { ...rest, ...(optimizerFile ? { optimizerFile } : {}), parameters };
  writeSafetensorsFile(paths.checkpoint, tensors, { format: "pt", makemore_state: JSON.stringify(full) });
  writeJsonFile(paths.state, full);
  // older moments no checkpoint names any more
  for (const f of readdirSync(paths.dir))
    if (OPTIMIZER_FILE.test(f) && f !== optimizerFile?.name) rmSync(join(paths.dir, f), { force: true });
}

/** optimizer-<step>.safetensors: AdamW's exp_avg / exp_avg_sq (SGD's momentum) after that step. */
export const OPTIMIZER_FILE = /^optimizer-\d+\.safetensors$/;

/**
 * The optimizer state as float32 tensors "<parameter index>.<buffer>" (the order of
 * `model.parameters()`, torch's `optimizer.state_dict()` numbering), 8 bytes per weight for AdamW
 * instead of ~70 of JSON. Returns what the checkpoint's state records of it.
 */
function saveOptimizerState(paths: RunPaths, s: OptimizerState): NonNullable<RunState["optimizerFile"]> {
  const name = `optimizer-${s.step}.safetensors`;
  const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
  s.buffers.forEach((b, i) => {
    for (const [k, v] of Object.entries(b))
      tensors[`${i}.${k}`] = { shape: [v.length], data: Float32Array.from(v) };
  });
  writeSafetensorsFile(join(paths.dir, name), tensors, {
    format: "pt",
    makemore_optimizer: JSON.stringify({ kind: s.kind, step: s.step, parameters: s.buffers.length }),
  });
  return { name, kind: s.kind, step: s.step, parameters: s.buffers.length };
}

/** The optimizer state a checkpoint names, read back (UserError for a missing or mismatched file). */
function loadOptimizerState(paths: RunPaths, ref: NonNullable<RunState["optimizerFile"]>): OptimizerState {
  const bad = (what: string) =>
    new UserError(
      `checkpoint ${showPath(paths.checkpoint)} names optimizer state ${showName(String(ref.name))} that ${what}`,
    );
  if (typeof ref.name !== "string" || !OPTIMIZER_FILE.test(ref.name)) throw bad("is not an optimizer file");
  const path = join(paths.dir, ref.name);
  if (!existsSync(path)) throw bad("is missing; the run cannot be resumed exactly");
  return optimizerStateFrom(readSafetensorsFile(path, { what: "optimizer state" }), ref, bad);
}

/**
 * The optimizer state in a decoded optimizer-<step>.safetensors that `ref` (the checkpoint's
 * `optimizerFile`) names; `bad(what)` makes the error. Pure: the browser playground reads a dropped
 * file with it.
 */
export function optimizerStateFrom(
  f: { tensors: Record<string, { data: Float32Array }>; metadata: Record<string, string> },
  ref: NonNullable<RunState["optimizerFile"]>,
  bad: (what: string) => Error,
): OptimizerState {
  let meta: { kind?: unknown; step?: unknown; parameters?: unknown };
  try {
    meta = JSON.parse(f.metadata.makemore_optimizer ?? "null") ?? {};
  } catch {
    meta = {};
  }
  if (meta.kind !== ref.kind || meta.step !== ref.step || meta.parameters !== ref.parameters)
    throw bad("belongs to another checkpoint");
  const buffers: Record<string, number[]>[] = Array.from({ length: ref.parameters }, () => ({}));
  for (const [key, t] of Object.entries(f.tensors)) {
    const m = /^(\d+)\.([a-z_]+)$/.exec(key);
    const i = m ? Number(m[1]) : -1;
    if (!m || i >= ref.parameters) throw bad(`holds an unexpected tensor ${showName(key)}`);
    buffers[i][m[2]] = Array.from(t.data);
  }
  return { kind: ref.kind, step: ref.step, buffers };
}

/**
 * makemore.py's `torch.save(model.state_dict(), "model.pt")` when the test loss improves:
 * best.safetensors, the same tensors as the checkpoint, with the step and test loss in its metadata.
 */
export function saveBestWeights(
  paths: RunPaths,
  model: Module,
  best: { step: number; testLoss: number },
): void {
  const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const [name, t] of Object.entries(model.stateDict()))
    tensors[name] = { shape: t.shape, data: t.storage };
  writeSafetensorsFile(paths.best, tensors, {
    format: "pt",
    makemore_best: JSON.stringify(best),
  });
}

/** Validate a parsed config.json (it may come from anywhere). */
export function checkConfig(raw: unknown, path: string): RunConfig {
  const bad = (what: string) => new UserError(`${path} is not a valid makemore config: ${what}`);
  if (!isObject(raw)) throw bad("not a JSON object");
  if (raw.version !== CONFIG_VERSION) throw bad(`unsupported version ${JSON.stringify(raw.version)}`);
  const m = raw.model;
  if (!isObject(m)) throw bad("missing model section");
  try {
    checkModelSpec(m);
  } catch (e) {
    if (e instanceof UserError) throw bad(e.message);
    throw e;
  }
  if (!isObject(raw.train) || !isObject(raw.data)) throw bad("missing train or data section");
  const d = raw.data;
  if (!Array.isArray(d.vocab) || d.vocab.some((c) => typeof c !== "string")) throw bad("bad vocabulary");
  if (typeof d.inputFile !== "string") throw bad("missing data.inputFile");
  if (m.vocabSize !== d.vocab.length) throw bad("vocabulary size does not match the model");
  if (new Set(d.vocab).size !== d.vocab.length) throw bad("the vocabulary repeats a character");
  if (d.split !== undefined && !SPLIT_KINDS.includes(d.split as SplitKind))
    throw bad(`data.split must be one of ${SPLIT_KINDS.join(", ")}, got ${JSON.stringify(d.split)}`);
  for (const k of ["logEvery", "checkpointEvery"] as const) {
    if (!Number.isInteger(raw[k]) || (raw[k] as number) < 1) throw bad(`${k} must be a positive integer`);
  }
  if (!Number.isInteger(raw.evalEvery) || (raw.evalEvery as number) < 0)
    throw bad("evalEvery must be a whole number");
  if (
    raw.sampleEvery !== undefined &&
    (!Number.isInteger(raw.sampleEvery) || (raw.sampleEvery as number) < 0)
  )
    throw bad("sampleEvery must be a whole number");
  if (raw.habits !== undefined && raw.habits !== "makemore")
    throw bad(`habits must be "makemore" or absent, got ${JSON.stringify(raw.habits)}`);
  // every other field a run reads, with the flags' ranges (a tampered value is one line, not a
  // stack trace from a typed-array length or a BigInt conversion far away)
  const int = (v: unknown, name: string, min: number, max: number) => {
    if (!Number.isInteger(v) || (v as number) < min || (v as number) > max)
      throw bad(`${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(v)}`);
  };
  int(raw.seed, "seed", 0, Number.MAX_SAFE_INTEGER);
  int(d.splitSeed, "data.splitSeed", 0, Number.MAX_SAFE_INTEGER);
  int(d.numWords, "data.numWords", 1, DEFAULT_MAX_WORDS);
  int(d.blockSize, "data.blockSize", 1, DEFAULT_MAX_LINE_CHARS + 1);
  if (d.blockSize !== m.blockSize) throw bad(`data.blockSize ${d.blockSize} differs from model.blockSize`);
  if (d.vocab.length > MAX_VOCAB_SIZE) throw bad(`the vocabulary has over ${MAX_VOCAB_SIZE} characters`);
  if (d.vocab.some((c) => [...(c as string)].length !== 1))
    throw bad("a vocabulary entry is not one character");
  if (raw.numSamples !== undefined) int(raw.numSamples, "numSamples", 0, 100_000);
  if (raw.topK !== undefined) int(raw.topK, "topK", 1, 1_000_000);
  if (d.sha256 !== undefined && (typeof d.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(d.sha256)))
    throw bad("data.sha256 must be 64 hex digits");
  if (typeof raw.calibrate !== "boolean") throw bad("calibrate must be true or false");
  if (raw.diagnostics !== undefined && raw.diagnostics !== null) {
    const dg = raw.diagnostics;
    if (!isObject(dg)) throw bad("diagnostics must be an object");
    int(dg.every, "diagnostics.every", 0, 1e9);
  }
  try {
    validateTrainConfig(raw.train as unknown as TrainConfig, Number.POSITIVE_INFINITY);
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    // the checks speak in flags; here the field is what the user must find
    const field: Record<string, string> = {
      "--max-steps": "train.maxSteps",
      "--batch-size": "train.batchSize",
      "--learning-rate": "train.learningRate",
      "--lr-decay-to": "train.lrDecayTo",
      "--lr-decay-step": "train.lrDecayStep",
    };
    throw bad(e.message.replace(/^--[a-z-]+/, (f) => field[f] ?? f));
  }
  return raw as unknown as RunConfig;
}

/**
 * The word file of a run. The CLI records an absolute path; a run made elsewhere (the browser
 * playground) names its file relative to the run directory, and the bundled names.txt there means
 * this install's copy unless the directory holds one.
 */
export function runInputFile(inputFile: string, dir: string): string {
  if (isAbsolute(inputFile)) return inputFile;
  const beside = resolve(dir, inputFile);
  return inputFile === "names.txt" && !existsSync(beside) ? BUNDLED_NAMES : beside;
}

/** A run loaded from disk: config, rebuilt model with its weights, resume state. */
export interface LoadedRun {
  paths: RunPaths;
  config: RunConfig;
  model: LanguageModel;
  state: RunState;
  vocab: Vocabulary;
}

/** Load a run directory (config + checkpoint), with one clear error for anything missing or damaged. */
export function loadRun(dir: string): LoadedRun {
  if (!existsSync(dir)) throw new UserError(`run directory ${dir} does not exist`);
  const paths = runPaths(dir);
  if (!existsSync(paths.config)) throw new UserError(`${dir} is not a run directory (no config.json)`);
  const config = checkConfig(readJsonFile(paths.config, "run config"), paths.config);
  config.data.inputFile = runInputFile(config.data.inputFile, dir);
  if (!existsSync(paths.checkpoint)) throw new UserError(`run ${dir} has no checkpoint.safetensors yet`);
  const ckpt = readSafetensorsFile(paths.checkpoint, { what: "checkpoint" });
  const model = buildFromSpec(config.model, new Generator(0));
  try {
    model.loadStateDict(ckpt.tensors);
  } catch (e) {
    throw new UserError(
      `checkpoint ${paths.checkpoint} does not fit the model in config.json: ${(e as Error).message}`,
    );
  }
  for (const [name, t] of Object.entries(ckpt.tensors)) {
    const bad = t.data.findIndex((x) => !Number.isFinite(x));
    if (bad >= 0)
      throw new UserError(
        `checkpoint ${showPath(paths.checkpoint)} holds a non-finite value (${t.data[bad]}) in ${showName(name)} at index ${bad}; its weights cannot be used`,
      );
  }
  let state: RunState;
  try {
    state = JSON.parse(ckpt.metadata.makemore_state ?? "null");
  } catch {
    throw new UserError(`checkpoint ${paths.checkpoint} has corrupt resume state in its metadata`);
  }
  if (!isObject(state) || !Number.isInteger(state.step) || !isObject(state.generator)) {
    throw new UserError(`checkpoint ${paths.checkpoint} has no valid resume state in its metadata`);
  }
  if (state.optimizerFile !== undefined) {
    const ref = state.optimizerFile;
    if (
      !isObject(ref) ||
      typeof ref.kind !== "string" ||
      !Number.isInteger(ref.step) ||
      !Number.isInteger(ref.parameters)
    )
      throw new UserError(`checkpoint ${paths.checkpoint} has a corrupt optimizer reference in its metadata`);
    if (ref.parameters !== model.parameters().length)
      throw new UserError(
        `checkpoint ${paths.checkpoint} names optimizer state for ${ref.parameters} parameters; the model has ${model.parameters().length}`,
      );
    state.optimizer = loadOptimizerState(paths, ref);
    delete state.optimizerFile;
  }
  return { paths, config, model, state, vocab: new Vocabulary(config.data.vocab) };
}

/** Resolve a user path against the current directory (config stores absolute paths). */
export function absolutePath(p: string): string {
  return isAbsolute(p) ? p : resolve(process.cwd(), p);
}

/** Append several JSONL lines in one write (metrics are buffered between checkpoints). */
export function appendLines(path: string, lines: string[]): void {
  if (lines.length === 0) return;
  try {
    appendFileSync(path, `${lines.join("\n")}\n`);
  } catch (e) {
    if (isFsError(e)) throw new UserError(`cannot write ${path}: ${osReason(e)}`);
    throw e;
  }
}

// ---------------------------------------------------------------- opening a run for the training session

/** A run directory ready for `new TrainingSession(...)`: its config, data and store. */
export interface OpenedRun {
  config: RunConfig;
  data: LectureData & { bytes: number };
  paths: RunPaths;
  /** set when resuming */
  resume?: { model: LanguageModel; state: RunState };
  /** the directory this call created (remove it if the host fails before training starts) */
  createdDir: string | null;
  /** the run directory's writer lock, held until `lock.release()` or the process exits */
  lock: RunLock;
}

/**
 * A new run: read the words, make the family's spec, check the schedule against the data, then
 * (only then) create the run directory and write config.json.
 */
export function createRun(req: RunRequest, workDir: string, opts: { overwrite?: boolean } = {}): OpenedRun {
  const file = readWordFile(req.inputFile);
  const config = configForWords(req, file.words);
  config.data.sha256 = file.sha256;
  const data = loadRunData(config, file);
  validateTrainConfig(config.train, exampleCount(data.train));
  const { paths, createdDir, lock } = createLockedRunDir(workDir, "train", opts);
  try {
    writeJsonFile(paths.config, config);
    return { config, data, paths, createdDir, lock };
  } catch (e) {
    lock.release();
    if (createdDir) rmSync(createdDir, { recursive: true, force: true });
    throw e;
  }
}

/**
 * A new run directory for `command` ("train", "fold") holding its writer's lock: an existing run
 * is refused before anything is created; with `overwrite`, the lock is taken first and only then
 * are the old run files removed, so a live writer's run is never deleted under it.
 */
export function createLockedRunDir(
  workDir: string,
  command: string,
  opts: { overwrite?: boolean } = {},
): { paths: RunPaths; createdDir: string | null; lock: RunLock } {
  const createdDir = existsSync(workDir) ? null : workDir;
  if (!opts.overwrite) createRunDirCheck(workDir);
  ensureWritableDir(workDir);
  let lock: RunLock | null = null;
  try {
    lock = lockRunDir(workDir, opts.overwrite ? `${command} --overwrite` : command);
    const paths = createRunDir(workDir, { overwrite: opts.overwrite === true });
    return { paths, createdDir, lock };
  } catch (e) {
    lock?.release();
    if (createdDir) rmSync(createdDir, { recursive: true, force: true });
    throw e;
  }
}

/** `createRunDir`'s refusal of a directory that already holds a run, without touching anything. */
function createRunDirCheck(dir: string): void {
  const existing = existingRunFiles(dir);
  if (existing.length > 0)
    throw new UserError(
      `run directory ${showPath(dir)} already holds a run (${existing.join(", ")}); choose another directory or pass --overwrite`,
    );
}

/** An interrupted run, to continue exactly: its model, state and the same data. */
export function openResume(dir: string): OpenedRun {
  // the lock first: a second `--resume` of the same run is refused before it reads anything
  if (!existsSync(join(dir, "config.json"))) loadRun(dir); // its one-line "not a run" errors
  const lock = lockRunDir(dir, "train --resume");
  try {
    const run = loadRun(dir);
    const data = loadRunData(run.config);
    checkRunData(run.config, data);
    if (run.config.data.sha256 !== undefined && data.sha256 !== run.config.data.sha256)
      throw new UserError(
        `${showPath(run.config.data.inputFile)} has changed since the run started (its SHA-256 differs from the one in config.json); resuming needs the same word file`,
      );
    // temp files a killed writer left behind (their owner is dead: the pid in the name is checked)
    removeStaleTemps(run.paths.dir);
    removeStaleTemps(run.paths.plots);
    return {
      config: run.config,
      data,
      paths: run.paths,
      resume: { model: run.model, state: run.state },
      createdDir: null,
      lock,
    };
  } catch (e) {
    lock.release();
    throw e;
  }
}

/** The doctor on a run directory: its current weights, its history, its BatchNorm statistics. */
export function diagnoseRun(dir: string): { subject: string; findings: Finding[]; notes: string[] } {
  const run = loadRun(dir);
  const data = loadRunData(run.config);
  // the saturation figures come from the last snapshot: the same numbers the tables printed
  const diagPath = run.paths.diagnostics;
  let snapshot: DiagnosticsSnapshot | null = null; // streamed: only the last one is kept
  if (existsSync(diagPath))
    forEachJsonLine(diagPath, "diagnostics", (r) => (snapshot = r as DiagnosticsSnapshot));
  const findings = checkModel(run.model, data.train, new Generator().manualSeed(run.config.seed), {
    batchSize: run.config.train.batchSize,
    maxSteps: run.config.train.maxSteps < 0 ? 1e9 : run.config.train.maxSteps,
    snapshot,
  });
  const metrics = existsSync(run.paths.metrics) ? readMetricsForChecks(run.paths.metrics) : [];
  findings.push(...checkHistory(metrics, run.state.splitLosses));
  findings.push(
    ...checkMakemore(run.model, data.train, new Generator().manualSeed(run.config.seed), {
      step: run.state.step,
      train: run.config.train,
      metrics,
    }),
  );
  if (run.state.step > 0) findings.push(...checkBatchNormDrift(run.model, data.train));
  findings.push(...checkBigramFit(run.model, data.train, run.state.step));
  // say what could not be looked at, so "no problems found" is never about checks that did not run
  const notes: string[] = [];
  if (!run.config.diagnostics || !metrics.some((m) => m.ud)) {
    notes.push(
      `this run was trained without --diagnostics: there is no update:data history and no activation snapshots to look at, only the weights at step ${run.state.step} (checked on one batch). Train with --diagnostics for the full check.`,
    );
  }
  return {
    subject: `run ${run.paths.dir} at step ${run.state.step} (${run.config.model.type})`,
    findings: sortFindings(findings),
    notes,
  };
}
