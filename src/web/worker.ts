/**
 * The playground's training worker: the whole run lives here (data, model, generator, the bounded
 * chart series), off the page's main thread. It trains in slices of ~40 ms on the same library loop
 * as `makemore train` (src/train/train.ts, the fused WebAssembly SIMD step, which browsers compile
 * synchronously only off the main thread), yields between slices so pause/stop/sample messages get
 * in, and every ~0.5 s sends the page a view: the charts whose data changed (built with the
 * dashboard's bounded series and the report's Vega-Lite specs), the doctor's findings and fresh
 * samples, as `makemore train --dashboard` writes them to live.json.
 *
 * Same settings, same numbers: the generator, the split (random.seed(42)), the init draws and the
 * minibatch draws are the CLI's, so the loss at every step is the CLI's to the bit.
 */

import { BlockMeans, envelope, envelopePoints, meanBuckets, meanPoints } from "../dashboard/watch.ts";
import { type LectureData, longestWord, prepareDataFor, splitWords, Vocabulary } from "../data/dataset.ts";
import { checkBatchNormDrift, checkHistory, checkModel, sortFindings } from "../diagnostics/doctor.ts";
import { retainLayerGrads, snapshot, updateRatios } from "../diagnostics/measure.ts";
import type { DiagnosticsSnapshot, Finding, MetricsLine } from "../diagnostics/types.ts";
import { UserError } from "../errors.ts";
import { decodeSafetensors, encodeSafetensors } from "../io/safetensors.ts";
import { DEFAULT_MAX_WORD_FILE_BYTES, parseWordBytes } from "../io/wordfile.ts";
import { buildFromSpec, checkModelSpec, familyOf, type LanguageModel } from "../models/index.ts";
import { Generator, type GeneratorState } from "../random/generator.ts";
import { provenance, sampleWords, splitLoss } from "../train/evaluate.ts";
import { firstNonFinite, type StopReason, train, validateTrainConfig } from "../train/train.ts";
import {
  activationHistSpec,
  type ChartSpec,
  gradientHistSpec,
  lossSpec,
  saturationSpec,
  updateRatioSpec,
  weightGradHistSpec,
} from "../viz/specs.ts";
import type { ChartRequest } from "./charts.ts";
import type { DataChoice, DroppedFile, FromWorker, SampleRow, Source, ToWorker } from "./protocol.ts";
import {
  CONFIG_VERSION,
  catalog,
  checkNumber,
  runFlags,
  specForWords,
  type WebRunConfig,
} from "./settings.ts";

const post = (m: FromWorker, transfer: Transferable[] = []) =>
  (self as unknown as { postMessage(m: unknown, t: Transferable[]): void }).postMessage(m, transfer);

const BUNDLED = ["names.txt"];
/** Time slice of training between looks at the message queue, and the view interval. */
const SLICE_MS = 40;
const VIEW_MS = 500;
/** Findings and live samples, as often as `train --dashboard` rewrites live.json. */
const LIVE_MS = 2000;

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

/** The CLI's first start-up line. */
function dataLine(name: string, data: LectureData): string {
  return `data: ${name} | ${data.words.length} items | vocabulary ${data.vocab.size} (boundary '${data.vocab.boundary}') | longest ${longestWord(data.words)}`;
}

async function dataBytes(choice: DataChoice): Promise<{ name: string; bytes: Uint8Array }> {
  if ("bundled" in choice) return { name: choice.bundled, bytes: await bundledBytes(choice.bundled) };
  return { name: choice.file.name, bytes: new Uint8Array(choice.file.bytes) };
}

// ---------------------------------------------------------------- the run

type WordSets = { train: Set<string>; val: Set<string>; test: Set<string> };

class Run {
  step = 0;
  state: "training" | "paused" | "stopped" | "finished" | "loaded" | "failed" = "training";
  lastLoss: number | null = null;
  splitLosses?: { train: number; val: number; test: number };
  private stopAsked = false;
  private resumeWaiter: (() => void) | null = null;

  // bounded series, as the dashboard keeps them (src/dashboard/watch.ts)
  private env = envelope();
  private means = new BlockMeans();
  private ud = new Map<string, ReturnType<typeof meanBuckets>>();
  /** recent metrics for the doctor's history checks (as `train --dashboard` keeps them) */
  private recent: MetricsLine[] = [];
  private lastSnap: DiagnosticsSnapshot | null = null;
  private versions = { metrics: 0, snapshot: 0 };
  private sent = new Map<string, number>();
  private t0 = performance.now();
  private rate: { t: number; step: number }[] = [];
  private findings: Finding[] | undefined;
  private live?: { rows: SampleRow[]; step: number; seed: number };

  constructor(
    readonly config: WebRunConfig,
    readonly model: LanguageModel,
    readonly g: Generator,
    readonly data: LectureData | null,
    readonly sets: WordSets | null,
  ) {
    this.vocab = new Vocabulary(config.data.vocab);
  }

  readonly vocab: Vocabulary;

  get maxSteps(): number {
    return this.config.train.maxSteps;
  }

  // ------------------------------------------------------------ control

  pause(): void {
    if (this.state === "training") this.setState("paused");
  }

  resume(): void {
    if (this.state !== "paused") return;
    this.setState("training");
    this.resumeWaiter?.();
  }

  stop(): void {
    this.stopAsked = true;
    this.resumeWaiter?.();
  }

  setState(s: Run["state"]): void {
    this.state = s;
    post({ type: "status", state: s, step: this.step, maxSteps: this.maxSteps });
  }

  // ------------------------------------------------------------ training

  async train(): Promise<void> {
    const data = this.data!;
    const diag = this.config.diagnostics;
    const snapEvery = diag ? diag.every || Math.max(1000, Math.floor(this.config.train.maxSteps / 100)) : 0;
    if (diag) retainLayerGrads(this.model);
    let sliceEnd = 0;
    let lastView = 0;
    let lastLive = Number.NEGATIVE_INFINITY;
    const cfg = this.config.train;
    let result: { step: number; reason: StopReason } = { step: this.step, reason: "done" };
    this.setState("training");
    this.sendView(true);
    for (;;) {
      sliceEnd = performance.now() + SLICE_MS;
      result = train(
        this.model,
        data.train,
        cfg,
        this.g,
        {
          readOnly: true,
          afterStep: ({ step, loss, lr }) => {
            this.step = step + 1;
            this.lastLoss = loss;
            this.env.push(step, loss);
            this.means.push(step, Math.log10(loss));
            const line: MetricsLine = { step, loss, lr };
            if (diag) {
              // the lecture's ud after the update: log10(std(lr * grad) / std(data)) of the 2-d weights
              const ratios = updateRatios(this.model, lr, { weightsOnly: true });
              line.ud = ratios;
              for (const [name, v] of Object.entries(ratios)) {
                if (!Number.isFinite(v)) continue;
                let b = this.ud.get(name);
                if (!b) this.ud.set(name, (b = meanBuckets()));
                b.push(step, v);
              }
              if (step % snapEvery === 0 || step + 1 === cfg.maxSteps) {
                this.lastSnap = snapshot(this.model, step, loss);
                this.versions.snapshot++;
              }
            }
            this.recent.push(line);
            if (this.recent.length > 1200) this.recent.splice(0, this.recent.length - 1000);
            this.versions.metrics++;
          },
          shouldStop: () => this.stopAsked || performance.now() > sliceEnd,
        },
        this.step,
      );
      this.step = result.step;
      const now = performance.now();
      if (result.reason !== "stopped" || this.stopAsked) break;
      if (now - lastLive > LIVE_MS) {
        this.liveCheck();
        lastLive = performance.now();
      }
      if (now - lastView > VIEW_MS) {
        this.sendView();
        lastView = now;
      }
      await yieldToMessages();
      if (this.state === "paused" && !this.stopAsked) {
        this.sendView(true);
        await new Promise<void>((r) => (this.resumeWaiter = r));
        this.resumeWaiter = null;
        this.t0 = performance.now();
        this.rate = [];
      }
    }
    if (result.reason === "nonfinite" || firstNonFinite(this.model)) {
      this.sendView(true);
      this.setState("failed");
      post({
        type: "error",
        message: `the loss became not finite at step ${result.step}; training stopped. Try a lower --learning-rate.`,
      });
      return;
    }
    if (this.stopAsked) {
      this.liveCheck();
      this.sendView(true);
      this.setState("stopped");
      return;
    }
    this.finish();
  }

  /** The end of a run, as the CLI ends it: split losses, findings, the 20 samples of seed + 10. */
  private finish(): void {
    const data = this.data!;
    this.splitLosses = {
      train: splitLoss(this.model, data.train),
      val: splitLoss(this.model, data.val),
      test: splitLoss(this.model, data.test),
    };
    this.findings = sortFindings([
      ...checkModel(this.model, data.train, new Generator().manualSeed(this.config.seed)),
      ...checkHistory(this.recent, this.splitLosses),
      ...checkBatchNormDrift(this.model, data.train),
    ]);
    const seed = this.config.seed + 10;
    this.live = { rows: this.sample(this.config.numSamples, 1, seed), step: this.step, seed };
    this.sendView(true);
    this.setState("finished");
  }

  /** Findings and 10 fresh samples, as `train --dashboard` writes live.json. */
  private liveCheck(): void {
    const data = this.data!;
    this.findings = sortFindings([
      ...checkModel(this.model, data.train, new Generator().manualSeed(this.config.seed)),
      ...checkHistory(this.recent),
    ]);
    const seed = this.config.seed + 10 + this.step;
    this.live = { rows: this.sample(10, 1, seed), step: this.step, seed };
  }

  sample(count: number, temperature: number, seed: number): SampleRow[] {
    const words = sampleWords(this.model, this.vocab, {
      count,
      temperature,
      generator: new Generator().manualSeed(seed),
    });
    return words.map((word) => ({ word, source: this.source(word) }));
  }

  private source(word: string): Source {
    return this.sets ? provenance(word, this.sets) : "unknown";
  }

  // ------------------------------------------------------------ the view

  private chartNames(): string[] {
    const out: string[] = [];
    if (this.means.count > 0) out.push("loss");
    if (this.ud.size > 0) out.push("update-ratios");
    const snap = this.lastSnap;
    if (snap) {
      out.push("activations", "gradients", "weight-gradients");
      for (const map of snap.saturation) out.push(`saturation-layer-${map.layer}`);
    }
    return out;
  }

  private version(name: string): number {
    return name === "loss" || name === "update-ratios" ? this.versions.metrics : this.versions.snapshot;
  }

  private chart(name: string): ChartSpec | null {
    const snap = this.lastSnap;
    switch (name) {
      case "loss":
        return this.lossChart();
      case "update-ratios": {
        const metrics: MetricsLine[] = [];
        for (const [n, b] of this.ud)
          for (const p of meanPoints(b)) metrics.push({ step: p.step, ud: { [n]: p.value } });
        const shapes: Record<string, number[]> = {};
        for (const [n, t] of this.model.namedParameters()) shapes[n] = t.shape.slice();
        return updateRatioSpec(metrics, { shapes });
      }
      case "activations":
        return snap ? activationHistSpec(snap) : null;
      case "gradients":
        return snap ? gradientHistSpec(snap) : null;
      case "weight-gradients":
        return snap ? weightGradHistSpec(snap) : null;
    }
    const layer = /^saturation-layer-(\d+)$/.exec(name);
    if (snap && layer) {
      const map = snap.saturation.find((s) => s.layer === Number(layer[1]));
      const kind = snap.activations.find((a) => a.layer === Number(layer[1]))?.kind;
      return map ? saturationSpec(map, { kind, step: snap.step }) : null;
    }
    return null;
  }

  /** The dashboard's loss chart: the envelope of the per-step losses and the exact block means. */
  private lossChart(): ChartSpec | null {
    const metrics: MetricsLine[] = envelopePoints(this.env).map((p) => ({ step: p.step, loss: p.value }));
    const spec = lossSpec(metrics, { window: this.means.window });
    const layers = (spec as { layer?: { data?: { values?: { series?: string }[] }; mark?: object }[] } | null)
      ?.layer;
    const meanLayer = layers?.[1];
    if (!meanLayer?.data?.values) return spec;
    const series = meanLayer.data.values[0]?.series;
    const exact = this.means.points();
    meanLayer.data.values = exact.map((p) => ({ step: p.step, value: p.value, series }));
    meanLayer.mark = { ...meanLayer.mark, point: exact.length === 1 };
    return spec;
  }

  private stepsPerSecond(): number {
    const now = performance.now();
    this.rate.push({ t: now, step: this.step });
    while (this.rate.length > 2 && now - this.rate[0]!.t > 5000) this.rate.shift();
    const a = this.rate[0]!;
    const dt = now - a.t;
    if (dt >= 400) return ((this.step - a.step) * 1000) / dt;
    const all = now - this.t0;
    return all > 0 ? (this.step * 1000) / all : 0;
  }

  sendView(all = false): void {
    const names = this.chartNames();
    const charts: Record<string, ChartSpec | null> = {};
    for (const name of names) {
      const v = this.version(name);
      if (all || this.sent.get(name) !== v) {
        charts[name] = this.chart(name);
        this.sent.set(name, v);
      }
    }
    if (Object.keys(charts).length) chartPort?.postMessage({ charts } satisfies ChartRequest);
    post({
      type: "view",
      step: this.step,
      maxSteps: this.maxSteps,
      stepsPerSecond: this.state === "training" ? this.stepsPerSecond() : 0,
      lastLoss: this.lastLoss,
      chartNames: names,
      findings: this.findings,
      samples: this.live,
      splitLosses: this.splitLosses,
    });
  }

  // ------------------------------------------------------------ checkpoints

  /** checkpoint.safetensors as `makemore train` writes it (weights, buffers, the resume state). */
  checkpoint(): Uint8Array {
    const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
    for (const [name, t] of Object.entries(this.model.stateDict()))
      tensors[name] = { shape: t.shape.slice(), data: t.storage };
    const state = {
      step: this.step,
      generator: this.g.getState(),
      finished: this.state === "finished",
      lastLoss: this.lastLoss ?? Number.NaN,
      ...(this.splitLosses ? { splitLosses: this.splitLosses } : {}),
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
  // as `makemore train`: flags checked first, then the words, then the family's spec for them
  const r = runFlags(m.flags);
  const { name, bytes } = await dataBytes(m.data);
  const words = readWords(name, bytes);
  const vocab = Vocabulary.fromWords(words);
  const spec = specForWords(r, vocab.size, longestWord(words));
  const data = prepareDataFor(familyOf(r.type).data, words, spec.blockSize, 42);
  validateTrainConfig(r.train, data.train.X.shape[0]);
  const config: WebRunConfig = {
    version: CONFIG_VERSION,
    model: spec,
    train: r.train,
    seed: r.seed,
    data: {
      inputFile: name,
      numWords: words.length,
      vocab: data.vocab.itos,
      blockSize: spec.blockSize,
      splitSeed: 42,
    },
    logEvery: 10000,
    checkpointEvery: 10000,
    evalEvery: 0,
    calibrate: false,
    numSamples: 20,
    // every: 0 is the CLI's "max(1000, max-steps / 100)"
    diagnostics: m.diagnostics ? { every: 0, updateRatios: true } : undefined,
  };
  const g = new Generator().manualSeed(config.seed);
  const model = buildFromSpec(config.model, g);
  const lines = [
    dataLine(name, data),
    `split (random.seed(42)): train ${data.train.X.shape[0]} | val ${data.val.X.shape[0]} | test ${data.test.X.shape[0]} examples (block size ${spec.blockSize})`,
    `model: ${spec.type} | ${model.numParameters()} parameters | seed ${config.seed}`,
    `train: ${config.train.maxSteps} steps | batch ${config.train.batchSize} | lr ${config.train.learningRate} -> ${config.train.lrDecayTo} at step ${config.train.lrDecayStep}`,
  ];
  if (data.vocab.itos[0] !== ".")
    lines.push(`note: the data contains '.', so '${data.vocab.itos[0]}' marks word boundaries`);
  post({ type: "facts", lines, config });
  const sets = {
    train: new Set(data.split.train),
    val: new Set(data.split.val),
    test: new Set(data.split.test),
  };
  run = new Run(config, model, g, data, sets);
  const done = run.train();
  training = done.catch(() => {});
  await done; // an error reaches the page through the message handler
}

/** A run's config.json and checkpoint.safetensors (and, optionally, its word file) dropped on the page. */
async function loadRun(files: DroppedFile[]): Promise<void> {
  const configFile = files.find((f) => f.name.endsWith(".json"));
  const ckptFile = files.find((f) => f.name.endsWith(".safetensors"));
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
  let state: { step?: number; generator?: GeneratorState; splitLosses?: Run["splitLosses"] } = {};
  try {
    state = JSON.parse(ckpt.metadata.makemore_state ?? "{}") ?? {};
  } catch {
    throw new UserError(`checkpoint ${ckptFile.name} has corrupt resume state in its metadata`);
  }
  // provenance needs the run's words: a dropped word file, or the bundled list it was trained on
  const wordFile = files.find((f) => f !== configFile && f !== ckptFile);
  let sets: WordSets | null = null;
  const inputName = config.data.inputFile.split(/[\\/]/).pop() ?? "";
  let words: string[] | null = null;
  if (wordFile) words = readWords(wordFile.name, new Uint8Array(wordFile.bytes));
  else if (BUNDLED.includes(inputName)) words = readWords(inputName, await bundledBytes(inputName));
  const same = words && words.length === config.data.numWords;
  if (words && same && Vocabulary.fromWords(words).itos.join("") === config.data.vocab.join("")) {
    const split = splitWords(words, config.data.splitSeed);
    sets = { train: new Set(split.train), val: new Set(split.val), test: new Set(split.test) };
  }
  await stopCurrent();
  const g = new Generator();
  if (state.generator) g.setState(state.generator);
  run = new Run(config, model, g, null, sets);
  run.step = typeof state.step === "number" ? state.step : 0;
  run.splitLosses = state.splitLosses;
  post({
    type: "facts",
    lines: [
      `run: ${configFile.name} + ${ckptFile.name} | ${config.model.type} | ${model.numParameters()} parameters | step ${run.step} | seed ${config.seed}`,
      `data: ${config.data.inputFile} | ${config.data.numWords} items | vocabulary ${config.data.vocab.length}${sets ? "" : " (word file not here: samples are shown without provenance)"}`,
    ],
    config,
  });
  run.setState("loaded");
  const seed = config.seed + 10;
  post({ type: "samples", rows: run.sample(20, 1, seed), seed, temperature: 1, topK: 0 });
}

/** The fields of config.json the page reads, checked (a dropped file may come from anywhere). */
function checkConfig(raw: unknown, name: string): WebRunConfig {
  const bad = (what: string) => new UserError(`${name} is not a valid makemore config: ${what}`);
  const obj = (v: unknown): v is Record<string, unknown> =>
    typeof v === "object" && v !== null && !Array.isArray(v);
  if (!obj(raw)) throw bad("not a JSON object");
  if (raw.version !== CONFIG_VERSION) throw bad(`unsupported version ${JSON.stringify(raw.version)}`);
  const m = raw.model;
  if (!obj(m)) throw bad("missing model section");
  const d = raw.data;
  if (!obj(raw.train) || !obj(d)) throw bad("missing train or data section");
  if (!Array.isArray(d.vocab) || d.vocab.some((c) => typeof c !== "string")) throw bad("bad vocabulary");
  if (typeof d.inputFile !== "string") throw bad("missing data.inputFile");
  if (m.vocabSize !== d.vocab.length) throw bad("vocabulary size does not match the model");
  if (!Number.isInteger(raw.seed)) throw bad("seed must be a whole number");
  return raw as unknown as WebRunConfig;
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
      const rows = run.sample(count, temperature, seed);
      return post({ type: "samples", rows, seed, temperature, topK: m.topK });
    }
    case "export": {
      if (!run) throw new UserError("nothing to download yet: train a model first");
      const bytes = run.checkpoint();
      const config = `${JSON.stringify(run.config, null, 2)}\n`;
      const buf = bytes.slice().buffer as ArrayBuffer;
      return post({ type: "exported", config, checkpoint: buf, name: run.config.model.type }, [buf]);
    }
    case "load":
      return loadRun(m.files);
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
