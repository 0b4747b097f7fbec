/**
 * The training session: a run config -> a finished run, with everything around the 30-line loop
 * of train.ts -- resume, checkpoints, time slices that let a host's signals and UI in, metrics,
 * diagnostics, the live status, evaluation, samples and the doctor's findings. The CLI, the
 * experiments, the dashboard and the browser playground all run training through it.
 *
 * Isomorphic: it writes nothing itself. Every file goes through a `RunStore`: `FileRunStore`
 * (src/io/runfiles.ts) stores a run directory on disk, `MemoryRunStore` below keeps it in memory
 * (tests, browser).
 *
 *   const session = new TrainingSession({ config, data, store, events: { line: console.log } });
 *   process.once("SIGINT", () => session.stop());
 *   const outcome = await session.run();   // "finished" | "stopped" | "failed"
 *
 * Sections: run config and state -> the store -> the session -> start-up facts.
 */

import {
  describeSplit,
  type Examples,
  exampleBlockSize,
  exampleCount,
  type LectureData,
  longestWord,
  type SplitKind,
  Vocabulary,
} from "../data/dataset.ts";
import {
  type CheckOptions,
  checkBatchNormDrift,
  checkBigramFit,
  checkHistory,
  checkMakemore,
  checkModel,
  checkZeroSpread,
  explainNonFinite,
  sortFindings,
} from "../diagnostics/doctor.ts";
import {
  copyWeights,
  retainLayerGrads,
  snapshot,
  updateRatios,
  updateRatiosFromChange,
} from "../diagnostics/measure.ts";
import type { DiagnosticsSnapshot, Finding, MetricsLine } from "../diagnostics/types.ts";
import { UserError } from "../errors.ts";
import {
  buildFromSpec,
  type FlagValues,
  familyOf,
  type LanguageModel,
  type ModelSpecBase,
  specFor,
} from "../models/index.ts";
import { MLP } from "../models/mlp.ts";
import type { Module } from "../nn/modules.ts";
import { Generator, type GeneratorState } from "../random/generator.ts";
import { AnomalyError, noGrad, setDetectAnomaly, Tensor } from "../tensor/tensor.ts";
import { calibrateBatchNorm, type Provenance, provenance, sampleWords, splitLoss } from "./evaluate.ts";
import { makeOptimizer, type Optimizer, type OptimizerState } from "./optim.ts";
import {
  croppedBatch,
  firstNonFinite,
  gatherBatch,
  type StopReason,
  type TrainConfig,
  type TrainHooks,
  train,
  validateTrainConfig,
} from "./train.ts";

// ---------------------------------------------------------------- run config and state

export const CONFIG_VERSION = 1;

/** config.json: everything needed to rebuild the model and continue the run exactly. */
export interface RunConfig {
  version: number;
  /** the model's spec: `type` names its family in src/models/index.ts, which defines the rest */
  model: ModelSpecBase;
  train: TrainConfig;
  /** seeds the generator that initialises the model and draws the minibatches */
  seed: number;
  data: {
    /** absolute path of the word file (a label in the browser) */
    inputFile: string;
    numWords: number;
    /** the vocabulary, index order: boundary first */
    vocab: string[];
    blockSize: number;
    /** the split's seed: Python's random.seed for "lecture" (42), torch's manual_seed for "makemore" */
    splitSeed: number;
    /** how the words are split (`--split`; absent in older runs: "lecture") */
    split?: SplitKind;
    /** SHA-256 of the word file (hex), checked on resume (absent in runs made before it) */
    sha256?: string;
  };
  /** log a line every N steps; checkpoint every N steps */
  logEvery: number;
  checkpointEvery: number;
  /** evaluate split losses every N steps (0 = only at the end) */
  evalEvery: number;
  /**
   * makemore.py's habits (its types' default): the log line `step N | loss X | step time Yms`,
   * evaluation as its evaluate() (train and test, batches of 100, 11 of them) at steps
   * evalEvery, 2 evalEvery, ... with the best weights by test loss kept in best.safetensors, and
   * the samples every sampleEvery steps. Absent: the lecture's log and split losses.
   */
  habits?: "makemore";
  /** print 10 samples (in train / in test / new) every N steps (0 or absent: never) */
  sampleEvery?: number;
  /** calibrate BatchNorm statistics over the whole training set after training */
  calibrate: boolean;
  /** words sampled into samples.txt at the end */
  numSamples?: number;
  /** makemore.py's --top-k: sample among the k most likely characters (absent: all) */
  topK?: number;
  /** record diagnostics (activation/gradient statistics) */
  diagnostics?: { every: number; updateRatios: boolean };
}

/** The resume state (in the checkpoint's metadata and state.json). */
export interface RunState {
  /** steps completed */
  step: number;
  /** generator state after `step` steps */
  generator: GeneratorState;
  finished: boolean;
  /** split losses measured at the end (eval mode) */
  splitLosses?: Record<string, number>;
  lastLoss?: number;
  /** the optimizer's moments/momentum after `step` steps (AdamW, SGD with momentum) */
  optimizer?: OptimizerState;
  /**
   * on disk, instead of `optimizer`: the binary file beside the checkpoint that holds it
   * (optimizer-<step>.safetensors; src/io/run.ts writes and reads it)
   */
  optimizerFile?: { name: string; kind: string; step: number; parameters: number };
  /** the parameter shapes by name (written by the store, for readers that build no model) */
  parameters?: Record<string, number[]>;
  /** makemore.py's habits: the best test loss so far and its step (best.safetensors holds its weights) */
  best?: { step: number; testLoss: number };
}

/** What a run asks for before its words are read: the config but the model spec and data facts. */
export interface RunRequest {
  /** --type */
  type: string;
  /** the model flags given, checked (src/models/model.ts `FlagValues`) */
  modelFlags: FlagValues;
  config: Omit<RunConfig, "data" | "model">;
  inputFile: string;
  /** `--split` (default the family's: "makemore" for makemore.py's types, else "lecture") */
  split?: SplitKind;
}

/** The full run config once the words are known: the family's spec for this vocabulary. */
export function configForWords(req: RunRequest, words: readonly string[]): RunConfig {
  // no --split: the family's (makemore.py's types: its randperm), as `makemore train` defaults it
  const split = req.split ?? familyOf(req.type).runDefaults?.split ?? "lecture";
  const vocab = Vocabulary.fromWords(words);
  const model = specFor(req.type, req.modelFlags, {
    vocabSize: vocab.size,
    longestWord: longestWord(words),
    numWords: words.length,
  });
  return {
    ...req.config,
    model,
    data: {
      inputFile: req.inputFile,
      numWords: words.length,
      vocab: vocab.itos,
      blockSize: model.blockSize,
      // makemore.py's randperm runs under the run's torch seed; the lecture's shuffle under random.seed(42)
      splitSeed: split === "makemore" ? req.config.seed : 42,
      split,
    },
  };
}

/**
 * Can `state` continue under `config`? A finished run continues when it is given more steps
 * (--resume DIR --max-steps N); an unfinished run at its last step was killed while finishing and
 * redoes the finish. UserError otherwise.
 */
export function checkResumable(config: RunConfig, state: RunState, location: string): void {
  const max = config.train.maxSteps;
  const { step, finished } = state;
  if (max >= 0 && (finished ? step >= max : step > max))
    throw new UserError(
      finished
        ? `run ${location} already finished (${step} steps); continue it with --max-steps above ${step}`
        : `run ${location} is at step ${step}, past --max-steps ${max}`,
    );
}

/** A run's data must be the data it started with (a resumed run re-reads its word file). */
export function checkRunData(config: RunConfig, data: LectureData): void {
  validateTrainConfig(config.train, exampleCount(data.train));
  if (data.words.length !== config.data.numWords) {
    throw new UserError(
      `${config.data.inputFile} has changed since the run started (${data.words.length} items, the run had ${config.data.numWords})`,
    );
  }
  if (data.vocab.itos.join("") !== config.data.vocab.join("")) {
    throw new UserError(
      `${config.data.inputFile} has changed since the run started (its vocabulary differs)`,
    );
  }
}

// ---------------------------------------------------------------- the store

/** A sampled word and where it comes from (makemore's "in train" / "new" marks). */
export interface SampleRecord {
  word: string;
  source: Provenance;
}

/** live.json: what the dashboard shows of a run in progress. */
export interface LiveStatus {
  step: number;
  samples: SampleRecord[];
  findings: Finding[];
  stepsPerSecond: number;
  maxSteps: number;
  updatedAt: string;
}

/**
 * Where a session's files go. Writes are whole-file atomic except the two appends; the session
 * calls them in the order a resumable run needs (metrics flushed before every checkpoint).
 */
export interface RunStore {
  /** for messages: the run directory, or a name */
  readonly location: string;
  /** weights + buffers with `state`, as one atomic unit (checkpoint.safetensors + state.json) */
  saveCheckpoint(model: Module, state: RunState): void;
  /** the best weights so far (makemore.py's model.pt): best.safetensors; a store may keep none */
  saveBest?(model: Module, best: { step: number; testLoss: number }): void;
  /** metrics.jsonl, appended */
  appendMetrics(lines: readonly MetricsLine[]): void;
  /** diagnostics.jsonl, appended */
  appendDiagnostics(snapshot: DiagnosticsSnapshot): void;
  /** drop metrics and diagnostics lines logged at `step` or later (resuming from that checkpoint) */
  truncateFrom(step: number): void;
  /** metrics.jsonl as logged so far (for the doctor's history checks) */
  readMetrics(): MetricsLine[];
  writeLive(live: LiveStatus): void;
  /** samples.txt (the words) and their provenance */
  /** `seed` is a decimal string when above 2^53 (a seed near 2^53 plus the lecture's 10) */
  writeSamples(samples: readonly SampleRecord[], seed: number | string): void;
  writeFindings(findings: readonly Finding[]): void;
}

/** A run kept in memory: the browser's store, and the tests'. */
export class MemoryRunStore implements RunStore {
  checkpoint: { tensors: Map<string, Float32Array>; state: RunState } | null = null;
  best: { tensors: Map<string, Float32Array>; step: number; testLoss: number } | null = null;
  metrics: MetricsLine[] = [];
  diagnostics: DiagnosticsSnapshot[] = [];
  live: LiveStatus | null = null;
  samples: { seed: number | string; samples: SampleRecord[] } | null = null;
  findings: Finding[] | null = null;
  constructor(readonly location = "memory") {}
  saveCheckpoint(model: Module, state: RunState): void {
    const tensors = new Map<string, Float32Array>();
    for (const [name, t] of Object.entries(model.stateDict())) tensors.set(name, t.storage.slice());
    this.checkpoint = { tensors, state: structuredClone(state) };
  }
  saveBest(model: Module, best: { step: number; testLoss: number }): void {
    const tensors = new Map<string, Float32Array>();
    for (const [name, t] of Object.entries(model.stateDict())) tensors.set(name, t.storage.slice());
    this.best = { tensors, ...best };
  }
  appendMetrics(lines: readonly MetricsLine[]): void {
    this.metrics.push(...lines);
  }
  appendDiagnostics(s: DiagnosticsSnapshot): void {
    this.diagnostics.push(s);
  }
  truncateFrom(step: number): void {
    this.metrics = this.metrics.filter((m) => m.step < step);
    this.diagnostics = this.diagnostics.filter((d) => d.step < step);
  }
  readMetrics(): MetricsLine[] {
    return this.metrics.slice();
  }
  writeLive(live: LiveStatus): void {
    this.live = live;
  }
  writeSamples(samples: readonly SampleRecord[], seed: number | string): void {
    this.samples = { seed, samples: samples.slice() };
  }
  writeFindings(findings: readonly Finding[]): void {
    this.findings = findings.slice();
  }
}

// ---------------------------------------------------------------- the session

/** What a host hears from a running session (all optional; the CLI prints, a page draws). */
export interface SessionEvents {
  /** a permanent log line: start-up facts, every `logEvery` steps, evaluations */
  line?(text: string): void;
  /** after every step: `done` steps are complete, the minibatch loss was `loss` */
  step?(done: number, loss: number): void;
  /** a checkpoint was saved after `step` steps */
  checkpoint?(step: number): void;
}

export interface SessionOptions {
  config: RunConfig;
  /** the run's data (src/io loads it from config.data; the playground from its text box) */
  data: LectureData;
  store: RunStore;
  /** resume: the model loaded from the checkpoint and its state (else a fresh model from the seed) */
  resume?: { model: LanguageModel; state: RunState };
  events?: SessionEvents;
  /** check every op for NaN/inf and name the first (slow) */
  detectAnomaly?: boolean;
  /** write live.json this often, and metrics at most this stale (0 = only at checkpoints) */
  liveEveryMs?: number;
  flushEveryMs?: number;
  /** run the loop in slices of this many ms, yielding to the host in between (default 50) */
  sliceMs?: number;
  /** how to yield (Node: setImmediate; default a zero timeout) */
  yieldToHost?: () => Promise<void>;
  /** milliseconds clock (default performance.now) */
  now?: () => number;
  /** wall clock for live.json (default new Date()) */
  date?: () => Date;
  /** how the host stops a `--max-steps -1` run, for the start-up line (default the terminal's Ctrl-C) */
  stopHint?: string;
}

/** How a session ended. */
export type SessionOutcome =
  | {
      kind: "finished";
      step: number;
      splitLosses: Record<"train" | "val" | "test", number>;
      samples: SampleRecord[];
      sampleSeed: number | string;
      /** with diagnostics: the doctor's findings (also in findings.json) and the last snapshot */
      findings: Finding[] | null;
      snapshot: DiagnosticsSnapshot | null;
      stepsPerSecond: number;
    }
  /** stop() was called; a checkpoint of this step was saved */
  | { kind: "stopped"; step: number }
  /** a non-finite loss, weights or (with detectAnomaly) op; the last good checkpoint is kept */
  /** lastGoodStep is null when no checkpoint was ever saved (the initial weights were not finite) */
  | { kind: "failed"; step: number; lastGoodStep: number | null; message: string };

/** How often diagnostics snapshot, when config.diagnostics.every is 0: 100 over the run, >= 1000 apart. */
export function snapshotInterval(config: RunConfig): number {
  const d = config.diagnostics;
  return d ? d.every || Math.max(1000, Math.floor(config.train.maxSteps / 100)) : 0;
}

export class TrainingSession {
  readonly config: RunConfig;
  readonly model: LanguageModel;
  readonly generator: Generator;
  readonly startStep: number;
  /** AdamW / SGD with momentum (null: the lecture's plain update); one instance across slices */
  readonly optimizer: Optimizer | null;
  private readonly o: SessionOptions;
  private readonly now: () => number;
  private stopRequested = false;
  private readonly sets: { train: Set<string>; val: Set<string>; test: Set<string> };
  private pending: MetricsLine[] = [];
  private recent: MetricsLine[] = [];
  private lastLoss = Number.NaN;
  private lastGoodStep: number | null;
  private badParam: { name: string; step: number } | null = null;
  private lastSnapshot: DiagnosticsSnapshot | null = null;
  private t0 = 0;
  /** makemore.py's habits: the best test loss so far (restored on resume) */
  private best: { step: number; testLoss: number } | null = null;

  constructor(opts: SessionOptions) {
    this.o = opts;
    this.config = opts.config;
    this.now = opts.now ?? (() => performance.now());
    if (opts.resume) {
      checkResumable(this.config, opts.resume.state, opts.store.location);
      this.model = opts.resume.model;
      this.generator = new Generator();
      try {
        this.generator.setState(opts.resume.state.generator);
      } catch {
        throw new UserError(
          `run ${opts.store.location} holds a corrupt generator state; the run cannot be resumed exactly`,
        );
      }
      this.startStep = opts.resume.state.step;
      this.best = opts.resume.state.best ?? null;
      // a run resumed at its last step (killed while finishing) records the same last loss
      if (typeof opts.resume.state.lastLoss === "number") this.lastLoss = opts.resume.state.lastLoss;
    } else {
      this.generator = new Generator().manualSeed(this.config.seed);
      this.model = buildFromSpec(this.config.model, this.generator);
      this.startStep = 0;
    }
    this.optimizer = makeOptimizer(this.config.train, this.model.parameters());
    const saved = opts.resume?.state.optimizer;
    if (this.optimizer && saved) {
      try {
        this.optimizer.loadStateDict(saved);
      } catch (e) {
        throw new UserError(
          `run ${opts.store.location} holds an unusable optimizer state: ${(e as Error).message}`,
        );
      }
    } else if (this.optimizer && opts.resume && this.startStep > 0) {
      throw new UserError(
        `run ${opts.store.location} has no ${this.config.train.optimizer ?? "sgd"} state to resume from (it was trained with another optimizer)`,
      );
    }
    // a new run has no checkpoint until its first save (of the initial weights, if finite)
    this.lastGoodStep = opts.resume ? this.startStep : null;
    const { split } = opts.data;
    this.sets = { train: new Set(split.train), val: new Set(split.val), test: new Set(split.test) };
  }

  /** What the failure left: the last good checkpoint, or none at all. */
  private keptText(): string {
    return this.lastGoodStep === null
      ? "no checkpoint was saved (the initial weights are not finite: check --gain and --last-layer-scale)"
      : `the last good checkpoint (step ${this.lastGoodStep}) was kept`;
  }

  /** Ask the session to stop after the current step (a signal handler, a Stop button). */
  stop(): void {
    this.stopRequested = true;
  }

  /** The start-up lines makemore prints: data, split, model, training, run. */
  facts(): string[] {
    return startFacts(
      this.config,
      this.o.data,
      this.model,
      this.o.store.location,
      this.o.resume ? this.startStep : null,
      this.o.stopHint,
    );
  }

  /** Steps per second since `run` started. */
  stepsPerSecond(step: number): number {
    return (Math.max(1, step - this.startStep) / Math.max(1e-9, this.now() - this.t0)) * 1000;
  }

  /** Train to config.train.maxSteps (or a stop), then evaluate, sample and diagnose. */
  async run(): Promise<SessionOutcome> {
    const { config, model, generator: g, o } = this;
    const { data, store } = o;
    const ev = o.events ?? {};
    const maxSteps = config.train.maxSteps;
    this.t0 = this.now();
    for (const f of this.facts()) ev.line?.(f);
    if (o.resume) store.truncateFrom(this.startStep);
    const diag = config.diagnostics;
    const snapEvery = snapshotInterval(config);
    if (diag) retainLayerGrads(model);
    // a new run checkpoints its initial state at once: every run directory can be resumed
    if (!o.resume) this.checkpoint(0, false);

    const live = (o.liveEveryMs ?? 0) > 0;
    const flushEvery = o.flushEveryMs ?? 0;
    let lastFlush = this.now();
    let lastLive = Number.NEGATIVE_INFINITY;
    let lastLineAt = this.now();
    let lastLineStep = this.startStep;
    const anomaly = o.detectAnomaly === true;
    // makemore.py's habits: its log line (with one step's time), its evaluate(), samples every N
    const habits = config.habits === "makemore";
    const sampleEvery = config.sampleEvery ?? 0;
    const total = maxSteps < 0 ? "" : `/${maxSteps}`;
    let stepStartedAt = this.now();
    // AdamW and SGD with momentum or weight decay do not step by lr * grad: measure the change
    const before = diag && this.optimizer ? new Map<string, Float32Array>() : null;
    let stepsDone = this.startStep;
    let sliceEnd = 0;
    let sliceStart = this.startStep;
    const hooks: TrainHooks = {
      // logging, metrics, diagnostics, checkpoints and live samples only read the model
      readOnly: true,
      beforeUpdate: before ? () => copyWeights(model, before) : undefined,
      // a snapshot reads the activations: that step trains on the whole (B, T) minibatch, so the
      // statistics are makemore.py's (the other steps of a causal model train on cropped columns)
      readsActivations: diag ? (step) => step % snapEvery === 0 || step + 1 === maxSteps : undefined,
      afterStep: ({ step, loss, lr }) => {
        const stepMs = this.now() - stepStartedAt;
        this.lastLoss = loss;
        const done = step + 1;
        stepsDone = done;
        if (anomaly) {
          const bad = firstNonFinite(model);
          if (bad) throw new AnomalyError("sgd", "backward", `the SGD update made ${bad} non-finite`);
        }
        if (diag) {
          // the lecture's ud, after the update: log10(std(lr * grad) / std(data)) of the 2-d weights
          const ud = before
            ? updateRatiosFromChange(model, before)
            : updateRatios(model, lr, { weightsOnly: true });
          this.pending.push({ step, loss, lr, ud });
          if (live) {
            this.recent.push({ step, loss, lr, ud });
            if (this.recent.length > 1200) this.recent.splice(0, this.recent.length - 1000);
          }
          if (step % snapEvery === 0 || done === maxSteps) {
            this.lastSnapshot = snapshot(model, step, loss);
            store.appendDiagnostics(this.lastSnapshot);
          }
        } else this.pending.push({ step, loss, lr });
        if (habits) {
          // as makemore.py's loop: by the 0-based index of the step just taken, after its update
          if (step % config.logEvery === 0)
            ev.line?.(`step ${step} | loss ${loss.toFixed(4)} | step time ${stepMs.toFixed(2)}ms`);
          if (config.evalEvery > 0 && step > 0 && step % config.evalEvery === 0)
            this.evaluateAsMakemore(step);
        } else if (step % config.logEvery === 0 || done === maxSteps) {
          const now = this.now();
          const msPerStep = (now - lastLineAt) / Math.max(1, done - lastLineStep);
          lastLineAt = now;
          lastLineStep = done;
          ev.line?.(
            `step ${String(step).padStart(7)}${total} | loss ${loss.toFixed(4)} | lr ${lr} | ${msPerStep.toFixed(2)} ms/step`,
          );
        }
        if (!habits && config.evalEvery > 0 && done % config.evalEvery === 0) {
          // the weights after `done` updates: the log's "step {done}" line trains on them next
          const tr = splitLoss(model, data.train);
          const va = splitLoss(model, data.val);
          this.pending.push({ step: done, train_loss: tr, val_loss: va }); // NaN (an empty split) is null in JSON
          ev.line?.(
            `step ${String(done).padStart(7)}${total} | train ${lossText(tr)} | val ${lossText(va)} (eval mode, after ${done} steps)`,
          );
        }
        if (sampleEvery > 0 && step > 0 && step % sampleEvery === 0)
          for (const text of this.sampleBlock(step)) ev.line?.(text);
        if (done % config.checkpointEvery === 0 && (maxSteps < 0 || done < maxSteps))
          this.checkpoint(done, false);
        if (flushEvery > 0 || live) {
          const now = this.now();
          if (flushEvery > 0 && now - lastFlush > flushEvery) {
            this.flush();
            lastFlush = now;
          }
          if (live && now - lastLive > (o.liveEveryMs ?? 0)) {
            this.writeLive(done);
            lastLive = this.now();
          }
        }
        ev.step?.(done, loss);
      },
      // a slice always makes progress: its time is checked only once it has taken a step
      // (called before every step: the step's time starts here)
      shouldStop: () => {
        stepStartedAt = this.now();
        return (
          this.stopRequested || this.badParam !== null || (stepsDone > sliceStart && stepStartedAt > sliceEnd)
        );
      },
    };

    // The loop runs in slices and yields to the host in between, so that a signal handler or a
    // page's Stop button runs promptly (a synchronous loop would never let them in).
    const yieldToHost = o.yieldToHost ?? (() => new Promise<void>((resolve) => setTimeout(resolve, 0)));
    let result: { step: number; reason: StopReason } = { step: this.startStep, reason: "done" };
    const prevAnomaly = setDetectAnomaly(anomaly);
    const family = familyOf(config.model.type);
    try {
      if (family.fit) {
        // counted (bigram-counts) or the reference's own full-batch loop (bigram): one call
        sliceEnd = Number.POSITIVE_INFINITY;
        const ix = new Tensor(new Float32Array(0), [0], "int64");
        const steps = family.fit(model, data.train, config.train, (step, loss) =>
          hooks.afterStep?.({ step, loss, lr: config.train.learningRate, ix }),
        );
        result = { step: steps, reason: "done" };
      }
      while (!family.fit) {
        sliceEnd = this.now() + (o.sliceMs ?? 50);
        sliceStart = stepsDone;
        result = train(model, data.train, config.train, g, hooks, result.step, this.optimizer);
        if (result.reason !== "stopped" || this.stopRequested || this.badParam) break;
        await yieldToHost();
      }
    } catch (e) {
      if (!(e instanceof AnomalyError)) throw e;
      this.flush();
      return {
        kind: "failed",
        step: stepsDone,
        lastGoodStep: this.lastGoodStep,
        message: `anomaly at step ${stepsDone}: ${e.message}; training stopped and ${this.keptText()}.`,
      };
    } finally {
      setDetectAnomaly(prevAnomaly);
    }

    const overflow = this.badParam as { name: string; step: number } | null; // set inside the hooks
    if (overflow) {
      this.flush();
      return {
        kind: "failed",
        step: overflow.step,
        lastGoodStep: this.lastGoodStep,
        message: `the weights became non-finite (${overflow.name}) by step ${overflow.step}; training stopped and ${this.keptText()}. Try a lower --learning-rate.`,
      };
    }
    if (result.reason === "stopped") {
      this.checkpoint(result.step, false);
      return { kind: "stopped", step: result.step };
    }
    if (result.reason === "nonfinite") {
      this.flush();
      const param = firstNonFinite(model);
      // a BatchNorm without eps meeting a zero-spread column is 0/0, not a learning-rate problem
      const zero = explainNonFinite(model);
      return {
        kind: "failed",
        step: result.step,
        lastGoodStep: this.lastGoodStep,
        message: zero
          ? `the loss became ${nonFiniteText(model)} at step ${result.step}: ${zero.cause}; training stopped and ${this.keptText()}. ${zero.fix}.`
          : `the loss became ${nonFiniteText(model)} at step ${result.step}${firstNonFiniteLayer(model)}${param ? ` (${param} is not finite)` : ""}; training stopped and ${this.keptText()}. Try a lower --learning-rate.`,
      };
    }

    // finished: calibrate, evaluate, checkpoint, sample, diagnose
    const stepsPerSecond = this.stepsPerSecond(result.step);
    if (config.calibrate && model instanceof MLP) calibrateBatchNorm(model, data.train);
    const splitLosses =
      config.habits === "makemore"
        ? this.finalMakemoreLosses(result.step)
        : {
            train: splitLoss(model, data.train),
            val: splitLoss(model, data.val),
            test: splitLoss(model, data.test),
          };
    // Finishing is resumable: the evaluated weights are saved as not yet finished, then samples
    // and findings are written, and only then is the run marked finished (same weights, same
    // state). A run killed in between resumes at its last step and redoes exactly this part:
    // calibration is idempotent and every draw is seeded (or continues the saved generator), so
    // the files come out byte-identical.
    this.checkpoint(result.step, false, { splitLosses });
    // the WaveNet notebook samples from the generator that trained it; the others from seed + 10
    const continued = family.samplesContinueTraining === true;
    const sampleSeed = continued ? config.seed : seedPlus(config.seed, 10);
    const samples = this.sample(config.numSamples ?? 20, sampleSeed, continued ? g : undefined);
    store.writeSamples(samples, sampleSeed);
    let findings: Finding[] | null = null;
    if (diag) {
      findings = sortFindings([
        ...checkModel(model, data.train, new Generator().manualSeed(config.seed), this.checkOptions()),
        ...checkHistory(store.readMetrics(), splitLosses),
        ...checkBatchNormDrift(model, data.train),
        ...checkMakemore(model, data.train, new Generator().manualSeed(config.seed), {
          step: result.step,
          train: config.train,
          metrics: store.readMetrics(),
        }),
        ...checkBigramFit(model, data.train, result.step),
      ]);
      store.writeFindings(findings);
    }
    this.checkpoint(result.step, true, { splitLosses });
    if (live) this.writeLive(result.step);
    return {
      kind: "finished",
      step: result.step,
      splitLosses,
      samples,
      sampleSeed,
      findings,
      snapshot: this.lastSnapshot,
      stepsPerSecond,
    };
  }

  /** `count` words from the seed (or from `generator` as it stands), each marked train / val / test / new. */
  sample(count: number, seed: number | string, generator?: Generator): SampleRecord[] {
    const words = sampleWords(this.model, this.o.data.vocab, {
      count,
      generator: generator ?? new Generator().manualSeed(seedValue(seed)),
      ...(this.config.topK ? { topK: this.config.topK } : {}),
    });
    return words.map((word) => ({ word, source: provenance(word, this.sets) }));
  }

  private flush(): void {
    this.o.store.appendMetrics(this.pending);
    this.pending = [];
  }

  private checkpoint(step: number, finished: boolean, extra: Partial<RunState> = {}): void {
    this.flush();
    // never replace a good checkpoint by weights that have overflowed
    const bad = firstNonFinite(this.model);
    if (bad) {
      this.badParam = { name: bad, step };
      return;
    }
    const state: RunState = {
      step,
      generator: this.generator.getState(),
      finished,
      lastLoss: this.lastLoss,
      ...(this.optimizer ? { optimizer: this.optimizer.stateDict() } : {}),
      ...(this.best ? { best: this.best } : {}),
      ...extra,
    };
    this.o.store.saveCheckpoint(this.model, state);
    // the finishing save and the one marking the run finished are one checkpoint to listeners
    if (this.lastGoodStep !== step || !finished) this.o.events?.checkpoint?.(step);
    this.lastGoodStep = step;
  }

  /** The doctor's view of this run: its batch, its length, and the snapshot the tables print. */
  private checkOptions(): CheckOptions {
    const t = this.config.train;
    return {
      batchSize: t.batchSize,
      maxSteps: t.maxSteps < 0 ? 1e9 : t.maxSteps,
      snapshot: this.lastSnapshot,
    };
  }

  /**
   * makemore.py's `evaluate(model, train_dataset, batch_size=100, max_batches=10)` and the same
   * on the test set, after the update of step `step`; the best test loss so far keeps its weights
   * (best.safetensors, makemore.py's model.pt). The shuffles draw from a generator seeded with
   * seed + step, so the training stream and an exact resume are untouched.
   */
  private evaluateAsMakemore(step: number): void {
    const { model, config, o } = this;
    const g = new Generator().manualSeed(seedValue(seedPlus(config.seed, step)));
    const trainLoss = makemoreEvaluate(model, o.data.train, g);
    const testLoss = makemoreEvaluate(model, o.data.test, g);
    this.pending.push({ step, train_loss: trainLoss, test_loss: testLoss });
    o.events?.line?.(`step ${step} train loss: ${trainLoss} test loss: ${testLoss}`);
    if (Number.isFinite(testLoss) && (this.best === null || testLoss < this.best.testLoss)) {
      this.best = { step, testLoss };
      o.store.saveBest?.(model, this.best);
      // a store that keeps no best weights (the playground's tab) says only the first half
      o.events?.line?.(
        `test loss ${testLoss} is the best so far${o.store.saveBest ? `, saving model to ${o.store.location}/best.safetensors` : ""}`,
      );
    }
  }

  /**
   * The end of a run with makemore.py's habits: its evaluate() after the last update (the numbers
   * its log prints at an evaluation step), not a pass over every word (the Transformer's 31,033
   * training words take half a minute). `makemore eval RUN` measures whole splits.
   */
  private finalMakemoreLosses(steps: number): Record<"train" | "val" | "test", number> {
    const g = new Generator().manualSeed(seedValue(seedPlus(this.config.seed, steps)));
    const { data } = this.o;
    return {
      train: makemoreEvaluate(this.model, data.train, g),
      val: makemoreEvaluate(this.model, data.val, g),
      test: makemoreEvaluate(this.model, data.test, g),
    };
  }

  /** makemore.py's print_samples(num=10): ten words grouped by where they come from, between rules. */
  private sampleBlock(step: number): string[] {
    return sampleGroups(this.sample(10, seedPlus(this.config.seed, 10 + step)), this.sets.val.size > 0);
  }

  private writeLive(step: number): void {
    const { config, model, o } = this;
    const findings = sortFindings([
      ...checkModel(model, o.data.train, new Generator().manualSeed(config.seed), this.checkOptions()),
      ...checkHistory(this.recent),
    ]);
    o.store.writeLive({
      step,
      samples: this.sample(10, seedPlus(config.seed, 10 + step)),
      findings,
      stepsPerSecond: this.stepsPerSecond(step),
      maxSteps: Math.max(0, config.train.maxSteps), // 0: until interrupted
      updatedAt: (o.date?.() ?? new Date()).toISOString(),
    });
  }
}

// ---------------------------------------------------------------- start-up facts and failures

/** makemore's start-up lines: the data, the split, the model and parameter count, the schedule. */
export function startFacts(
  config: RunConfig,
  data: LectureData,
  model: Module,
  location: string,
  resumedAt: number | null,
  stopHint = "Ctrl-C saves a checkpoint",
): string[] {
  const t = config.train;
  const facts = [
    `data: ${config.data.inputFile} | ${data.words.length} items | vocabulary ${data.vocab.size} (boundary '${data.vocab.boundary}') | longest ${longestWord(data.words)}`,
    `split (${describeSplit(config.data.split ?? "lecture", config.data.splitSeed)}): train ${exampleCount(data.train)} | val ${exampleCount(data.val)} | test ${exampleCount(data.test)} examples (block size ${config.data.blockSize})`,
    `model: ${config.model.type} | ${model.numParameters()} parameters | seed ${config.seed}`,
    `train: ${t.maxSteps < 0 ? `until interrupted (--max-steps -1; ${stopHint})` : `${t.maxSteps} steps`} | batch ${t.batchSize} | ${optimizationText(t)}`,
    `run: ${location}${resumedAt !== null ? ` (resuming at step ${resumedAt})` : ""}`,
  ];
  if (config.data.vocab[0] !== ".")
    facts.push(`note: the data contains '.', so '${config.data.vocab[0]}' marks word boundaries`);
  // tiny data: say at once what an empty split means, rather than a NaN at the end
  // (only the lecture's split has a val set; makemore.py's and "none" have none by design)
  const split = config.data.split ?? "lecture";
  const empty = (["val", "test"] as const).filter(
    (k) => exampleCount(data[k]) === 0 && (split === "lecture" || (k === "test" && split === "makemore")),
  );
  if (empty.length)
    facts.push(
      `warning: the ${empty.join(" and ")} split${empty.length > 1 ? "s are" : " is"} empty (${data.words.length} items split ${split === "lecture" ? "80/10/10" : "test min(1000, 10%)"}): ${empty.join(" and ")} loss${empty.length > 1 ? "es" : ""} will be reported as "empty"; use more data to measure generalisation`,
    );
  // a BatchNorm without eps and data that repeats: a batch of one context is 0/0
  for (const f of checkZeroSpread(model as LanguageModel, data.train, t.batchSize, t.maxSteps))
    facts.push(`warning: ${f.title}\n  fix: ${f.fix}`);
  return facts;
}

/** "adamw (betas 0.9, 0.99, weight decay 0.01) | " for anything but the lecture's plain SGD. */
/**
 * The optimizer and the learning-rate schedule as run: the start-up line's and the report's words.
 *
 *   optimizationText(config.train)  // the lecture's 200,000 steps: "lr 0.1 -> 0.01 at step 100000"
 *                                   // 2,000 of them: "lr 0.1 (its drop at step 100000 is past the last step)"
 */
export function optimizationText(t: TrainConfig): string {
  const lr =
    (t.lrSchedule ?? "step") !== "step"
      ? `${t.learningRate} ${t.lrSchedule}${t.lrSchedule === "cosine" ? ` to ${t.lrDecayTo}` : ""}`
      : t.maxSteps < 0 || t.lrDecayStep < t.maxSteps
        ? `${t.learningRate} -> ${t.lrDecayTo} at step ${t.lrDecayStep}`
        : `${t.learningRate} (its drop at step ${t.lrDecayStep} is past the last step)`;
  return `${optimizerText(t)}lr ${lr}${t.warmupSteps ? `, ${t.warmupSteps} warm-up steps` : ""}`;
}

function optimizerText(t: TrainConfig): string {
  if (t.optimizer === "adamw") {
    const [b1, b2] = t.betas ?? [0.9, 0.99];
    return `adamw (betas ${b1}, ${b2}, weight decay ${t.weightDecay ?? 0.01}) | `;
  }
  if (t.momentum || t.weightDecay)
    return `sgd (momentum ${t.momentum ?? 0}, weight decay ${t.weightDecay ?? 0}) | `;
  return "";
}

/** A split loss for printing: 4 decimals, or "empty" for a split with no examples (never "NaN"). */
export function lossText(loss: number | null | undefined): string {
  return loss === null || loss === undefined || Number.isNaN(loss) ? "empty" : loss.toFixed(4);
}

function nonFiniteText(model: LanguageModel): string {
  const v = model.out?.storage.find((x) => !Number.isFinite(x));
  return v === undefined ? "not finite" : String(v);
}

/** The first layer (in forward order) whose output holds a NaN or an infinity. */
function firstNonFiniteLayer(model: LanguageModel): string {
  const named: [string, Module][] = [
    ...(model instanceof MLP ? [["embedding", model.embedding] as [string, Module]] : []),
    ...model.diagnosticLayers().map((l, i) => [`layer ${i} (${l.constructor.name})`, l] as [string, Module]),
  ];
  for (const [name, layer] of named) {
    const s = layer.out?.storage;
    if (s?.some((x) => !Number.isFinite(x))) return `; first non-finite values in the output of ${name}`;
  }
  return "";
}

/**
 * makemore.py's print_samples layout: a rule, "N samples that are in train:" and the words, the
 * same for val (only when the split has one), test and new, a rule.
 */
export function sampleGroups(samples: readonly SampleRecord[], hasVal: boolean): string[] {
  const groups: [Provenance, string][] = [
    ["train", "in train"],
    ["val", "in val"],
    ["test", "in test"],
    ["new", "new"],
  ];
  const rule = "-".repeat(80);
  const out = [rule];
  for (const [source, desc] of groups) {
    if (source === "val" && !hasVal) continue; // makemore.py's split has none
    const words = samples.filter((x) => x.source === source).map((x) => x.word);
    out.push(`${words.length} samples that are ${desc}:`, ...words);
  }
  out.push(rule);
  return out;
}

/** A seed from `seedPlus` as the generator takes it. */
function seedValue(seed: number | string): number | bigint {
  return typeof seed === "string" ? BigInt(seed) : seed;
}

/**
 * makemore.py's `evaluate(model, dataset, batch_size, max_batches)`: eval mode, no gradients,
 * the split in a shuffled order (its DataLoader's shuffle: a randperm, here from `g`), the mean of
 * the batch losses of the first max_batches + 1 batches (its `if i >= max_batches: break` comes
 * after the batch is counted), as a float32 (`torch.tensor(losses).mean()`). NaN for an empty split.
 */
export function makemoreEvaluate(
  model: LanguageModel,
  data: Examples,
  g: Generator,
  batchSize = 100,
  maxBatches = 10,
): number {
  const N = exampleCount(data);
  if (N === 0) return Number.NaN;
  const order = g.randperm(N);
  const T = exampleBlockSize(data);
  const losses: number[] = [];
  const wasTraining = model.training;
  model.eval();
  try {
    noGrad(() => {
      for (let b = 0; b * batchSize < N && b <= maxBatches; b++) {
        const rows = Float32Array.from(order.subarray(b * batchSize, Math.min(N, (b + 1) * batchSize)));
        const { Xb, Yb } = gatherBatch(data, new Tensor(rows, [rows.length], "int64"), T);
        // a causal model's batch without its all-ignored trailing columns: the same loss
        const { X, Y } = croppedBatch(model, Xb, Yb);
        losses.push(model.loss(X, Y).item());
      }
    });
  } finally {
    model.train(wasTraining);
  }
  return Math.fround(losses.reduce((a, v) => a + v, 0) / losses.length);
}

/**
 * `seed + k` exactly: a number while it is a safe integer, else its decimal string (the generator
 * takes any 64-bit seed; a seed near 2^53 plus the lecture's 10 is not a safe number).
 */
export function seedPlus(seed: number, k: number): number | string {
  const sum = BigInt(seed) + BigInt(k);
  return sum <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(sum) : sum.toString();
}
