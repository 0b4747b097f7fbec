/**
 * The playground's training worker: the whole run lives here (data, model, generator, the bounded
 * chart series), off the page's main thread. It trains in slices of ~40 ms on the same library loop
 * as `makemore train` (src/train/train.ts, the arena WebAssembly SIMD step, which browsers compile
 * synchronously only off the main thread), yields between slices so pause/stop/sample messages get
 * in, and every ~0.5 s sends the page a view: the charts whose data changed (built with the
 * dashboard's bounded series and the report's Vega-Lite specs), the doctor's findings and fresh
 * samples, as `makemore train --dashboard` writes them to live.json.
 *
 * Same settings, same numbers: the generator, the split (random.seed(42)), the init draws and the
 * minibatch draws are the CLI's, so the loss at every step is the CLI's to the bit.
 */

import { longestWord, prepareDataFor, splitWordsBy, Vocabulary } from "../data/dataset.ts";
import type { DiagnosticsSnapshot, Finding, MetricsLine } from "../diagnostics/types.ts";
import { UserError } from "../errors.ts";
import { checkConfig, OPTIMIZER_FILE, optimizerStateFrom } from "../io/run.ts";
import { parseJsonLine, toMetricsLine, toSnapshot } from "../io/runfiles.ts";
import { decodeSafetensors, encodeSafetensors } from "../io/safetensors.ts";
import { DEFAULT_MAX_WORD_FILE_BYTES, parseWordBytes } from "../io/wordfile.ts";
import { buildFromSpec, checkModelSpec, familyOf, type LanguageModel } from "../models/index.ts";
import type { Module } from "../nn/modules.ts";
import { Generator } from "../random/generator.ts";
import { provenance, sampleWords } from "../train/evaluate.ts";
import {
  checkRunData,
  configForWords,
  type LiveStatus,
  type RunConfig,
  type RunState,
  type RunStore,
  type SampleRecord,
  TrainingSession,
} from "../train/session.ts";
import { BlockMeans, envelope, envelopePoints, meanBuckets, meanPoints } from "../viz/series.ts";
import {
  type ChartSpec,
  keepHistory,
  lossSpec,
  snapshotChart,
  snapshotChartNames,
  updateRatioSpec,
} from "../viz/specs.ts";
import type { ChartRequest } from "./charts.ts";
import type { DataChoice, DroppedFile, FromWorker, PageState, SampleRow, ToWorker } from "./protocol.ts";
import { catalog, checkNumber, checkTopK, runRequest } from "./settings.ts";

const post = (m: FromWorker, transfer: Transferable[] = []) =>
  (self as unknown as { postMessage(m: unknown, t: Transferable[]): void }).postMessage(m, transfer);

const BUNDLED = ["names.txt"];
/** Time slice of training between looks at the message queue, and the view interval. */
const SLICE_MS = 40;
const VIEW_MS = 500;
/** Findings and live samples, as often as `train --dashboard` rewrites live.json. */
const LIVE_MS = 2000;
/** The most metrics.jsonl + diagnostics.jsonl kept for the download (a 200,000-step run with diagnostics: ~40 MB). */
const FILE_CAP = 128 * 1024 * 1024;
/** Buckets of the loss envelope and of each update-ratio series (the dashboard keeps 2,000 / 4,000). */
const CHART_BUCKETS = 1000;

// ---------------------------------------------------------------- data

const bundledCache = new Map<string, Uint8Array>();

async function bundledBytes(name: string): Promise<Uint8Array> {
  if (!BUNDLED.includes(name))
    throw new UserError(`no bundled data set '${name}' (bundled: ${BUNDLED.join(", ")})`, 2);
  let b = bundledCache.get(name);
  if (!b) {
    const res = await fetch(new URL(`data/${name}`, self.location.href));
    if (!res.ok) throw new UserError(`cannot load the bundled data set ${name} (HTTP ${res.status})`);
    b = new Uint8Array(await res.arrayBuffer());
    bundledCache.set(name, b);
  }
  return b;
}

/** The words of a word file's bytes, with the CLI's checks (src/io/wordfile.ts `readWordFile`). */
function readWords(name: string, bytes: Uint8Array): string[] {
  if (bytes.length > DEFAULT_MAX_WORD_FILE_BYTES)
    throw new UserError(
      `word file ${name} is ${bytes.length} bytes, over the ${DEFAULT_MAX_WORD_FILE_BYTES}-byte limit for a word list`,
    );
  return parseWordBytes(bytes, name).words;
}

async function dataBytes(choice: DataChoice): Promise<{ name: string; bytes: Uint8Array }> {
  if ("bundled" in choice) return { name: choice.bundled, bytes: await bundledBytes(choice.bundled) };
  return { name: choice.file.name, bytes: new Uint8Array(choice.file.bytes) };
}

// ---------------------------------------------------------------- the store

type WordSets = { train: Set<string>; val: Set<string>; test: Set<string> };

/**
 * Where the training session writes, kept as the dashboard keeps a run (src/dashboard/watch.ts):
 * bounded series for the charts (the loss envelope and exact block means, update-ratio bucket
 * means), the newest snapshot, the live status, the last checkpoint. Metrics are kept only as far
 * back as the doctor's history checks read them, so a 200,000-step run costs what a 2,000-step one does.
 */
class PageStore implements RunStore {
  readonly location = "this browser tab (download it to keep it)";
  checkpoint: { tensors: Record<string, { shape: number[]; data: Float32Array }>; state: RunState } | null =
    null;
  // half the dashboard's resolution: a chart redrawn every half second stays cheap to draw
  env = envelope(CHART_BUCKETS);
  means = new BlockMeans();
  ud = new Map<string, ReturnType<typeof meanBuckets>>();
  snapshot: DiagnosticsSnapshot | null = null;
  /** every snapshot's histograms (params and saturation maps dropped), oldest first, as the dashboard keeps them */
  history: DiagnosticsSnapshot[] = [];
  live: LiveStatus | null = null;
  samples: { samples: SampleRecord[]; seed: number } | null = null;
  findings: Finding[] | null = null;
  versions = { metrics: 0, snapshot: 0 };
  /** metrics.jsonl and diagnostics.jsonl as the CLI writes them, for the download (up to FILE_CAP) */
  readonly files = { metrics: [] as string[], diagnostics: [] as string[], bytes: 0, complete: true };
  /** the last 2,000 metrics lines: checkHistory reads at most the last 1,000 of a run this long */
  private tail: MetricsLine[] = [];
  /** the evaluation lines (train/val/test losses), which the loss chart draws */
  evals: MetricsLine[] = [];

  saveCheckpoint(model: Module, state: RunState): void {
    const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
    for (const [name, t] of Object.entries(model.stateDict()))
      tensors[name] = { shape: t.shape.slice(), data: t.storage.slice() };
    this.checkpoint = { tensors, state: structuredClone(state) };
  }
  private keep(file: "metrics" | "diagnostics", record: unknown): void {
    const f = this.files;
    if (!f.complete) return;
    const text = JSON.stringify(record);
    f.bytes += text.length + 1;
    if (f.bytes > FILE_CAP) {
      // a partial log would make a report that looks whole: offer none
      f.complete = false;
      f.metrics = [];
      f.diagnostics = [];
    } else f[file].push(text);
  }
  appendMetrics(lines: readonly MetricsLine[]): void {
    for (const line of lines) {
      this.keep("metrics", line);
      if (line.train_loss !== undefined || line.val_loss !== undefined || line.test_loss !== undefined)
        this.evals.push(line);
      if (typeof line.loss === "number" && Number.isFinite(line.loss) && line.loss > 0) {
        this.env.push(line.step, line.loss);
        this.means.push(line.step, Math.log10(line.loss));
        this.tail.push(line);
      }
      for (const [name, v] of Object.entries(line.ud ?? {})) {
        if (!Number.isFinite(v)) continue;
        let b = this.ud.get(name);
        if (!b) this.ud.set(name, (b = meanBuckets(CHART_BUCKETS)));
        b.push(line.step, v);
      }
    }
    if (this.tail.length > 4000) this.tail.splice(0, this.tail.length - 2000);
    if (lines.length) this.versions.metrics++;
  }
  appendDiagnostics(s: DiagnosticsSnapshot): void {
    this.keep("diagnostics", s);
    this.snapshot = s;
    this.history = keepHistory(this.history, s);
    this.versions.snapshot++;
  }
  /**
   * A dropped run's logs before it continues: the lines before `step` (the checkpoint's), as
   * `train --resume` keeps metrics.jsonl and diagnostics.jsonl (the session's truncateFrom). A log
   * the run should have and that was not dropped leaves the download without logs: a partial log
   * would make a report that looks whole.
   */
  preload(
    logs: { metrics: string | null; diagnostics: string | null },
    step: number,
    diagnostics: boolean,
  ): void {
    if (step > 0 && (logs.metrics === null || (diagnostics && logs.diagnostics === null))) {
      this.files.complete = false;
      this.files.metrics = [];
      this.files.diagnostics = [];
    }
    for (const line of (logs.metrics ?? "").split("\n")) {
      const m = line.trim() ? toMetricsLine(parseJsonLine(line)) : null;
      if (m && m.step < step) this.appendMetrics([m]);
    }
    for (const line of (logs.diagnostics ?? "").split("\n")) {
      const snap = line.trim() ? toSnapshot(parseJsonLine(line)) : null;
      if (snap && snap.step < step) this.appendDiagnostics(snap);
    }
  }
  truncateFrom(step: number): void {
    this.tail = this.tail.filter((m) => m.step < step);
    this.evals = this.evals.filter((m) => m.step < step);
  }
  readMetrics(): MetricsLine[] {
    return [...this.tail.slice(-2000), ...this.evals];
  }
  writeLive(live: LiveStatus): void {
    this.live = live;
  }
  writeSamples(samples: readonly SampleRecord[], seed: number): void {
    this.samples = { samples: samples.slice(), seed };
  }
  writeFindings(findings: readonly Finding[]): void {
    this.findings = findings.slice();
  }
}

// ---------------------------------------------------------------- the run

/** A model on the page: one training here (with its session), or one loaded from a dropped run. */
class Run {
  step = 0;
  state: PageState = "training";
  lastLoss: number | null = null;
  splitLosses?: { train: number; val: number; test: number };
  readonly vocab: Vocabulary;
  private paused: (() => void) | null = null;
  private pauseAsked = false;
  private sent = new Map<string, number>();
  private rate: { t: number; step: number }[] = [];
  /** steps/s over the whole run, once it finished (the CLI's "saved ... at N steps/s") */
  private finalRate = 0;
  /** a run dropped on the page: its resume state and, when here, its words (to continue it) */
  dropped?: {
    state: RunState;
    ckptName: string;
    /** the basename of the run's word file */
    wordName: string;
    words: { name: string; bytes: Uint8Array; words: string[] } | null;
    logs: { metrics: string | null; diagnostics: string | null };
    /** the optimizer-<step>.safetensors its checkpoint names, when it was not dropped with it */
    optimizerMissing: string | null;
  };

  constructor(
    readonly config: RunConfig,
    readonly model: LanguageModel,
    readonly sets: WordSets | null,
    /** the session training it (null: a loaded run) */
    readonly session: TrainingSession | null,
    readonly generator: Generator | null,
    readonly store: PageStore = new PageStore(),
  ) {
    this.vocab = new Vocabulary(config.data.vocab);
  }

  get maxSteps(): number {
    return this.config.train.maxSteps;
  }

  // ------------------------------------------------------------ control

  pause(): void {
    if (this.state === "training") this.pauseAsked = true;
  }

  resume(): void {
    if (this.state !== "paused") return;
    this.pauseAsked = false;
    this.paused?.();
  }

  stop(): void {
    this.session?.stop();
    this.pauseAsked = false;
    this.paused?.();
  }

  setState(s: PageState): void {
    this.state = s;
    post({ type: "status", state: s, step: this.step, maxSteps: this.maxSteps });
  }

  /**
   * Between two time slices of the session: let queued messages in (pause, stop, sample, export
   * run here, with the model and the generator consistent at `step`), send a view when one is due,
   * and hold while paused.
   */
  private lastView = 0;
  async betweenSlices(): Promise<void> {
    const now = performance.now();
    if (now - this.lastView > VIEW_MS) {
      this.sendView();
      this.lastView = now;
    }
    await yieldToMessages();
    if (this.pauseAsked) {
      this.setState("paused");
      this.sendView(true);
      await new Promise<void>((r) => (this.paused = r));
      this.paused = null;
      this.rate = [];
      if (this.state === "paused") this.setState("training");
    }
  }

  async train(): Promise<void> {
    const session = this.session!;
    this.setState("training");
    const outcome = await session.run().catch((e: unknown) => {
      this.setState("failed");
      throw e;
    });
    this.step = outcome.step;
    if (outcome.kind === "finished") {
      this.splitLosses = outcome.splitLosses;
      this.finalRate = outcome.stepsPerSecond;
      this.sendView(true);
      this.setState("finished");
    } else if (outcome.kind === "stopped") {
      this.sendView(true);
      this.setState("stopped");
    } else {
      this.sendView(true);
      this.setState("failed");
      post({ type: "error", message: outcome.message });
    }
  }

  /** `makemore sample`'s draw: `topK` undefined samples among every character. */
  sample(count: number, temperature: number, seed: number, topK?: number): SampleRow[] {
    const words = sampleWords(this.model, this.vocab, {
      count,
      temperature,
      topK,
      generator: new Generator().manualSeed(seed),
    });
    return words.map((word) => ({ word, source: this.sets ? provenance(word, this.sets) : "unknown" }));
  }

  // ------------------------------------------------------------ the view

  private chartNames(): string[] {
    const st = this.store;
    const out: string[] = [];
    if (st.means.count > 0) out.push("loss");
    if (st.ud.size > 0) out.push("update-ratios");
    out.push(...snapshotChartNames(st.snapshot, st.history.length));
    return out;
  }

  private version(name: string): number {
    const v = this.store.versions;
    return name === "loss" || name === "update-ratios" ? v.metrics : v.snapshot;
  }

  /** The chart `name`, built as the dashboard builds it (src/dashboard/watch.ts RunWatcher). */
  private chart(name: string): ChartSpec | null {
    const st = this.store;
    switch (name) {
      case "loss":
        return this.lossChart();
      case "update-ratios": {
        const metrics: MetricsLine[] = [];
        for (const [n, b] of st.ud)
          for (const p of meanPoints(b)) metrics.push({ step: p.step, ud: { [n]: p.value } });
        const shapes: Record<string, number[]> = {};
        for (const [n, t] of this.model.namedParameters()) shapes[n] = t.shape.slice();
        return updateRatioSpec(metrics, { shapes });
      }
    }
    return snapshotChart(name, st.snapshot, st.history) ?? null;
  }

  /** lossSpec over the envelope of the per-step losses and the evaluations, with the exact block means. */
  private lossChart(): ChartSpec | null {
    const st = this.store;
    const metrics: MetricsLine[] = envelopePoints(st.env).map((p) => ({ step: p.step, loss: p.value }));
    metrics.push(...st.evals);
    const spec = lossSpec(metrics, { window: st.means.window });
    const layers = (spec as { layer?: { data?: { values?: { series?: string }[] }; mark?: object }[] } | null)
      ?.layer;
    const meanLayer = layers?.[1];
    if (!meanLayer?.data?.values) return spec;
    const series = meanLayer.data.values[0]?.series;
    const exact = st.means.points();
    meanLayer.data.values = exact.map((p) => ({ step: p.step, value: p.value, series }));
    meanLayer.mark = { ...meanLayer.mark, point: exact.length === 1 };
    return spec;
  }

  private stepsPerSecond(): number {
    const now = performance.now();
    this.rate.push({ t: now, step: this.step });
    while (this.rate.length > 2 && now - this.rate[0]!.t > 5000) this.rate.shift();
    const a = this.rate[0]!;
    return now - a.t >= 400 ? ((this.step - a.step) * 1000) / (now - a.t) : 0;
  }

  sendView(all = false): void {
    const st = this.store;
    const names = this.chartNames();
    const charts: Record<string, ChartSpec | null> = {};
    for (const name of names) {
      const v = this.version(name);
      if (all || this.sent.get(name) !== v) {
        charts[name] = this.chart(name);
        this.sent.set(name, v);
      }
    }
    // a full view comes when training holds (paused, finished, stopped): draw without pausing
    const training = !all && this.state === "training";
    if (Object.keys(charts).length) chartPort?.postMessage({ charts, training } satisfies ChartRequest);
    const final = st.samples;
    const live = st.live;
    post({
      type: "view",
      step: this.step,
      maxSteps: this.maxSteps,
      stepsPerSecond: this.finalRate || (this.state === "training" ? this.stepsPerSecond() : 0),
      lastLoss: this.lastLoss,
      chartNames: names,
      findings: st.findings ?? live?.findings,
      samples: final
        ? { rows: final.samples, step: this.step, seed: final.seed }
        : live
          ? { rows: live.samples, step: live.step, seed: this.config.seed + 10 + live.step }
          : undefined,
      splitLosses: this.splitLosses,
    });
  }

  // ------------------------------------------------------------ checkpoints

  /**
   * checkpoint.safetensors as `makemore train` writes it: weights, buffers and the resume state.
   * A finished or stopped run gives the checkpoint the session saved; a paused or running one the
   * model and generator as they are between two slices (consistent at `step`), so the CLI can
   * `--resume` it exactly.
   */
  checkpointBytes(): Uint8Array {
    const saved = this.store.checkpoint;
    if (saved && (saved.state.step === this.step || !this.generator))
      return encodeSafetensors(saved.tensors, { format: "pt", makemore_state: JSON.stringify(saved.state) });
    const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
    for (const [name, t] of Object.entries(this.model.stateDict()))
      tensors[name] = { shape: t.shape.slice(), data: t.storage };
    const state: RunState = {
      step: this.step,
      generator: this.generator!.getState(),
      finished: false,
      lastLoss: this.lastLoss ?? Number.NaN,
      // AdamW's moments, SGD's momentum: `train --resume` refuses a run without them
      ...(this.session?.optimizer ? { optimizer: this.session.optimizer.stateDict() } : {}),
    };
    return encodeSafetensors(tensors, { format: "pt", makemore_state: JSON.stringify(state) });
  }
}

/** Let queued messages in: a MessageChannel task, not setTimeout (clamped to >= 4 ms when nested). */
const channel = new MessageChannel();
let wake: (() => void) | null = null;
channel.port1.onmessage = () => wake?.();
function yieldToMessages(): Promise<void> {
  return new Promise((r) => {
    wake = r;
    channel.port2.postMessage(0);
  });
}

// ---------------------------------------------------------------- commands

let run: Run | null = null;
/** where the chart specs go (the chart worker draws them) */
let chartPort: MessagePort | null = null;
/** The running training loop (a new run waits for the old one to stop). */
let training: Promise<void> = Promise.resolve();

async function stopCurrent(): Promise<void> {
  run?.stop();
  await training;
}

async function startTraining(m: Extract<ToWorker, { type: "train" }>): Promise<void> {
  await stopCurrent();
  // as `makemore train`: the flags checked first, then the words, then the family's spec for them
  const request = runRequest(m.flags, m.diagnostics);
  const { name, bytes } = await dataBytes(m.data);
  request.inputFile = name;
  const words = readWords(name, bytes);
  const config = configForWords(request, words);
  // as the CLI records it, so `train --resume` of a download checks it is given the same file
  const sha256 = await sha256Hex(bytes);
  if (sha256) config.data.sha256 = sha256;
  await trainOnPage(config, words);
}

/**
 * Train `config` on `words` in this worker: the CLI's TrainingSession on the page's store, in time
 * slices with views in between; `resume` continues a run from its checkpoint as `train --resume`.
 */
async function trainOnPage(
  config: RunConfig,
  words: readonly string[],
  resume?: {
    model: LanguageModel;
    state: RunState;
    /** the run's metrics.jsonl and diagnostics.jsonl, when they were dropped with it */
    logs: { metrics: string | null; diagnostics: string | null };
  },
): Promise<void> {
  const { blockSize, splitSeed, split } = config.data;
  const data = prepareDataFor(familyOf(config.model.type).data, words, blockSize, splitSeed, split);
  checkRunData(config, data);
  const sets = {
    train: new Set(data.split.train),
    val: new Set(data.split.val),
    test: new Set(data.split.test),
  };
  let current: Run | null = null;
  const store = new PageStore();
  if (resume) store.preload(resume.logs, resume.state.step, config.diagnostics !== undefined);
  const session = new TrainingSession({
    config,
    data,
    store,
    resume,
    events: {
      line: (text) => post({ type: "line", text }),
      step: (done, loss) => {
        if (current) {
          current.step = done;
          current.lastLoss = loss;
        }
      },
    },
    // between slices: messages (pause, stop, sample, export), views, the pause itself
    yieldToHost: () => current!.betweenSlices(),
    sliceMs: SLICE_MS,
    // findings and fresh samples as often as `train --dashboard` rewrites live.json; metrics
    // reach the charts at every view
    liveEveryMs: LIVE_MS,
    flushEveryMs: VIEW_MS / 2,
    // the page has no Ctrl-C: its Stop button ends the run and keeps a checkpoint
    stopHint: "Stop keeps a checkpoint",
  });
  current = new Run(config, session.model, sets, session, session.generator, store);
  current.step = session.startStep;
  if (resume && typeof resume.state.lastLoss === "number") current.lastLoss = resume.state.lastLoss;
  run = current;
  post({ type: "facts", lines: [], config });
  const done = current.train();
  training = done.catch(() => {});
  await done; // an error reaches the page through the message handler
}

/** SHA-256 of `bytes` in hex (null where the browser offers no WebCrypto: an http:// page off loopback). */
async function sha256Hex(bytes: Uint8Array): Promise<string | null> {
  const subtle = (globalThis.crypto as Crypto | undefined)?.subtle;
  if (!subtle) return null;
  const digest = new Uint8Array(await subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Continue the dropped run (`makemore train --resume`): the same checkpoint, generator and
 * optimizer state, the same words (checked as the CLI checks them), to the run's --max-steps.
 */
async function continueRun(): Promise<void> {
  const r = run;
  const dropped = r?.dropped;
  if (!r || !dropped)
    throw new UserError("drop an unfinished run's config.json and checkpoint.safetensors first");
  const { config } = r;
  const { state, words, wordName, ckptName } = dropped;
  const max = config.train.maxSteps; // -1: until Stop
  if (state.finished || (max >= 0 && state.step >= max))
    throw new UserError(`run ${ckptName} already finished (${state.step} steps)`);
  if (!words)
    throw new UserError(
      `continuing needs the run's word file: drop ${wordName} together with config.json and checkpoint.safetensors`,
    );
  if (dropped.optimizerMissing)
    throw new UserError(
      `continuing needs the run's optimizer state: drop ${dropped.optimizerMissing} together with config.json and checkpoint.safetensors`,
    );
  if (config.data.sha256 !== undefined) {
    const sha = await sha256Hex(words.bytes);
    if (sha !== null && sha !== config.data.sha256)
      throw new UserError(
        `${words.name} has changed since the run started (its SHA-256 differs from the one in config.json); resuming needs the same word file`,
      );
  }
  await stopCurrent();
  await trainOnPage(config, words.words, { model: r.model, state, logs: dropped.logs });
}

/** A run's config.json and checkpoint.safetensors (and, optionally, its word file) dropped on the page. */
async function loadRun(files: DroppedFile[]): Promise<void> {
  const configFile = files.find((f) => f.name.endsWith(".json"));
  // the checkpoint, and the optimizer-<step>.safetensors beside it that a CLI run's checkpoint names
  const ckptFile = files.find((f) => f.name.endsWith(".safetensors") && !OPTIMIZER_FILE.test(f.name));
  const optimizerFile = files.find((f) => OPTIMIZER_FILE.test(f.name));
  if (!configFile || !ckptFile)
    throw new UserError(
      "drop a run's config.json and checkpoint.safetensors together (select both files, or drag both)",
    );
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(configFile.bytes));
  } catch (e) {
    throw new UserError(`${configFile.name} is not valid JSON: ${(e as Error).message.split("\n")[0]}`);
  }
  const config = checkConfig(raw, configFile.name);
  const ckpt = decodeSafetensors(new Uint8Array(ckptFile.bytes), { source: ckptFile.name });
  let model: LanguageModel;
  try {
    model = buildFromSpec(checkModelSpec(config.model), new Generator(0));
  } catch (e) {
    throw new UserError(`${configFile.name} is not a valid makemore config: ${(e as Error).message}`);
  }
  try {
    model.loadStateDict(ckpt.tensors);
  } catch (e) {
    throw new UserError(
      `checkpoint ${ckptFile.name} does not fit the model in ${configFile.name}: ${(e as Error).message}`,
    );
  }
  let state: RunState;
  try {
    state = JSON.parse(ckpt.metadata.makemore_state ?? "null");
  } catch {
    throw new UserError(`checkpoint ${ckptFile.name} has corrupt resume state in its metadata`);
  }
  if (typeof state !== "object" || state === null || !Number.isInteger(state.step))
    throw new UserError(`checkpoint ${ckptFile.name} has no valid resume state in its metadata`);
  // the optimizer's moments: in the metadata (a page download) or in the file the checkpoint names
  // (a CLI run), needed only to continue the run
  const ref = state.optimizerFile;
  let optimizerMissing: string | null = null;
  if (ref !== undefined) {
    const bad = (what: string) =>
      new UserError(`checkpoint ${ckptFile.name} names optimizer state ${String(ref?.name)} that ${what}`);
    if (typeof ref !== "object" || ref === null || !Number.isInteger(ref.parameters))
      throw new UserError(`checkpoint ${ckptFile.name} has a corrupt optimizer reference in its metadata`);
    if (ref.parameters !== model.parameters().length)
      throw new UserError(
        `checkpoint ${ckptFile.name} names optimizer state for ${ref.parameters} parameters; the model has ${model.parameters().length}`,
      );
    if (optimizerFile && optimizerFile.name === ref.name) {
      const f = decodeSafetensors(new Uint8Array(optimizerFile.bytes), { source: optimizerFile.name });
      state.optimizer = optimizerStateFrom(f, ref, bad);
      delete state.optimizerFile;
    } else optimizerMissing = String(ref.name);
  }
  // provenance needs the run's words: a dropped word file, or the bundled list it was trained on
  const text = (name: string) => {
    const f = files.find((x) => x.name === name);
    return f ? new TextDecoder().decode(f.bytes) : null;
  };
  const logs = { metrics: text("metrics.jsonl"), diagnostics: text("diagnostics.jsonl") };
  const wordFile = files.find(
    (f) =>
      f !== configFile && f !== ckptFile && !f.name.endsWith(".jsonl") && !f.name.endsWith(".safetensors"),
  );
  let sets: WordSets | null = null;
  const inputName = config.data.inputFile.split(/[\\/]/).pop() ?? "";
  let words: { name: string; bytes: Uint8Array; words: string[] } | null = null;
  if (wordFile) {
    const bytes = new Uint8Array(wordFile.bytes);
    words = { name: wordFile.name, bytes, words: readWords(wordFile.name, bytes) };
  } else if (BUNDLED.includes(inputName)) {
    const bytes = await bundledBytes(inputName);
    words = { name: inputName, bytes, words: readWords(inputName, bytes) };
  }
  const w = words?.words;
  if (
    w &&
    w.length === config.data.numWords &&
    Vocabulary.fromWords(w).itos.join("") === config.data.vocab.join("")
  ) {
    const split = splitWordsBy(config.data.split ?? "lecture", w, config.data.splitSeed);
    sets = { train: new Set(split.train), val: new Set(split.val), test: new Set(split.test) };
  }
  await stopCurrent();
  run = new Run(config, model, sets, null, null);
  run.dropped = { state, ckptName: ckptFile.name, wordName: inputName, words, logs, optimizerMissing };
  // a download gives back the checkpoint as it was dropped
  run.store.checkpoint = { tensors: ckpt.tensors, state };
  run.step = state.step;
  const split = state.splitLosses;
  if (split && ["train", "val", "test"].every((k) => typeof split[k] === "number"))
    run.splitLosses = split as Run["splitLosses"];
  post({
    type: "facts",
    lines: [
      `run: ${configFile.name} + ${ckptFile.name} | ${config.model.type} | ${model.numParameters()} parameters | step ${run.step} | seed ${config.seed}`,
      `data: ${config.data.inputFile} | ${config.data.numWords} items | vocabulary ${config.data.vocab.length}${sets ? "" : " (word file not here: samples are shown without provenance)"}`,
    ],
    config,
    resumable: !state.finished && (config.train.maxSteps < 0 || state.step < config.train.maxSteps),
  });
  run.setState("loaded");
  const seed = config.seed + 10;
  post({ type: "samples", rows: run.sample(20, 1, seed), seed, temperature: 1, topK: -1 });
}

async function handle(m: ToWorker): Promise<void> {
  switch (m.type) {
    case "charts":
      chartPort = m.port;
      return;
    case "train":
      return startTraining(m);
    case "pause":
      return run?.pause();
    case "resume":
      return run?.resume();
    case "stop":
      return run?.stop();
    case "sample": {
      if (!run) throw new UserError("train a model or drop a run's checkpoint first");
      // the checks of `makemore sample`'s flags
      const count = checkNumber(m.count, "num-samples", { integer: true, min: 1, max: 1_000_000 });
      const temperature = checkNumber(m.temperature, "temperature", {
        min: 0,
        exclusiveMin: true,
        max: 1000,
      });
      const seed =
        m.seed === null
          ? run.config.seed + 10
          : checkNumber(m.seed, "seed", { integer: true, min: 0, max: Number.MAX_SAFE_INTEGER });
      const topK = checkTopK(m.topK);
      const rows = run.sample(count, temperature, seed, topK);
      return post({ type: "samples", rows, seed, temperature, topK: topK ?? -1 });
    }
    case "export": {
      if (!run) throw new UserError("nothing to download yet: train a model first");
      const bytes = run.checkpointBytes();
      const config = `${JSON.stringify(run.config, null, 2)}\n`;
      const buf = bytes.slice().buffer as ArrayBuffer;
      const f = run.store.files;
      const jsonl = (lines: string[]) => (f.complete && lines.length ? `${lines.join("\n")}\n` : null);
      return post(
        {
          type: "exported",
          config,
          checkpoint: buf,
          metrics: jsonl(f.metrics),
          diagnostics: jsonl(f.diagnostics),
          name: run.config.model.type,
        },
        [buf],
      );
    }
    case "load":
      return loadRun(m.files);
    case "continue":
      return continueRun();
    case "check": {
      const words = readWords(m.file.name, new Uint8Array(m.file.bytes));
      const vocab = Vocabulary.fromWords(words);
      return post({
        type: "checked",
        name: m.file.name,
        line: `data: ${m.file.name} | ${words.length} items | vocabulary ${vocab.size} (boundary '${vocab.boundary}') | longest ${longestWord(words)}`,
      });
    }
  }
}

self.onmessage = (e: MessageEvent<ToWorker>) => {
  handle(e.data).catch((err: unknown) => {
    if (err instanceof UserError) post({ type: "error", message: err.message });
    else
      post({ type: "error", message: `internal error (please report it): ${(err as Error)?.stack ?? err}` });
  });
};

post({ type: "catalog", catalog: catalog(BUNDLED) });
