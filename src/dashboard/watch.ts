/**
 * A run directory seen live: tails metrics.jsonl and diagnostics.jsonl (reading only the bytes
 * appended since the last poll), re-reads the small JSON files when they change, and keeps a
 * bounded summary of the history, so a 10-million-step run costs the same memory as a 10,000-step
 * one:
 *
 *   loss            a min/max envelope in step-aligned buckets (at most RAW_BUCKETS, their width
 *                   doubling as the run grows) + the exact window-step means the report plots
 *   update ratios   bucket means per parameter (at most UD_BUCKETS)
 *   diagnostics     the latest snapshot only
 *
 * Charts are built from these with the same spec builders as the report (src/viz/specs.ts), so
 * the dashboard and `makemore report` draw the same pictures. A torn last line (the trainer is
 * mid-write) is held back until its newline arrives.
 *
 *   const w = new RunWatcher("runs/bn", 0);
 *   if (w.poll()) send(w.summary());
 *   const { spec } = w.chart("loss")!;
 */

import { closeSync, openSync, readFileSync, readSync, type Stats, statSync } from "node:fs";
import { basename, join, relative, resolve } from "node:path";
import { splitWords } from "../data/dataset.ts";
import type { DiagnosticsSnapshot, Finding, MetricsLine } from "../diagnostics/types.ts";
import { readWordFile } from "../io/wordfile.ts";
import { buildFromSpec, type ModelSpecBase } from "../models/index.ts";
import { Generator } from "../random/generator.ts";
import {
  activationHistSpec,
  type ChartSpec,
  chooseWindow,
  compareHistSpec,
  compareLossSpec,
  downsampleMean,
  downsampleMinMax,
  gradientHistSpec,
  histHistorySpec,
  lossSpec,
  MAX_HISTORY,
  MAX_POINTS,
  type Point,
  saturationSpec,
  updateRatioSpec,
  weightGradHistSpec,
} from "../viz/specs.ts";

// ---------------------------------------------------------------- bounded series

/** Loss envelope buckets kept (each holds its lowest and highest point: at most 2× points). */
export const RAW_BUCKETS = 2000;
/** Update-ratio bucket means kept per parameter (specs.ts thins them to MAX_POINTS for drawing). */
export const UD_BUCKETS = 4000;
/** Eval lines (train_loss / val_loss) kept; beyond it every other one is dropped. */
export const MAX_EVALS = 2000;
/** Bytes read from one file per poll, so a huge history loads in slices and the server stays responsive. */
const READ_BUDGET = 8 * 1024 * 1024;
/** A "line" longer than this without a newline is not a metrics line: it is dropped. */
const MAX_LINE_BYTES = 64 * 1024 * 1024;

/**
 * Step-aligned buckets: step s goes to bucket floor(s / width). When there are more than `max`
 * buckets, neighbours merge pairwise and `width` doubles, so the count stays between max/2 and max.
 */
export class StepBuckets<B> {
  width = 1;
  private map = new Map<number, B>();

  constructor(
    private readonly max: number,
    private readonly create: (step: number, value: number) => B,
    private readonly add: (b: B, step: number, value: number) => void,
    private readonly merge: (a: B, b: B) => B,
  ) {}

  get size(): number {
    return this.map.size;
  }

  push(step: number, value: number): void {
    const k = Math.floor(step / this.width);
    const b = this.map.get(k);
    if (b !== undefined) this.add(b, step, value);
    else {
      this.map.set(k, this.create(step, value));
      while (this.map.size > this.max) this.coarsen();
    }
  }

  private coarsen(): void {
    this.width *= 2;
    const next = new Map<number, B>();
    for (const [k, b] of this.map) {
      const k2 = Math.floor(k / 2);
      const o = next.get(k2);
      next.set(k2, o === undefined ? b : this.merge(o, b));
    }
    this.map = next;
  }

  /** The buckets in step order. */
  sorted(): B[] {
    return [...this.map.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]);
  }
}

interface MinMax {
  lo: Point;
  hi: Point;
}

/** Lowest and highest point of each bucket, in step order: the look of the full series. */
export function envelope(max = RAW_BUCKETS): StepBuckets<MinMax> {
  return new StepBuckets<MinMax>(
    max,
    (step, value) => ({ lo: { step, value }, hi: { step, value } }),
    (b, step, value) => {
      if (value < b.lo.value) b.lo = { step, value };
      if (value > b.hi.value) b.hi = { step, value };
    },
    (a, b) => ({ lo: b.lo.value < a.lo.value ? b.lo : a.lo, hi: b.hi.value > a.hi.value ? b.hi : a.hi }),
  );
}

export function envelopePoints(env: StepBuckets<MinMax>): Point[] {
  const out: Point[] = [];
  for (const { lo, hi } of env.sorted()) {
    if (lo === hi || lo.step === hi.step) out.push(lo);
    else if (lo.step < hi.step) out.push(lo, hi);
    else out.push(hi, lo);
  }
  return out;
}

interface Sum {
  n: number;
  stepSum: number;
  sum: number;
}

/** Mean of each bucket, placed at the mean of its steps. */
export function meanBuckets(max = UD_BUCKETS): StepBuckets<Sum> {
  return new StepBuckets<Sum>(
    max,
    (step, value) => ({ n: 1, stepSum: step, sum: value }),
    (b, step, value) => {
      b.n++;
      b.stepSum += step;
      b.sum += value;
    },
    (a, b) => ({ n: a.n + b.n, stepSum: a.stepSum + b.stepSum, sum: a.sum + b.sum }),
  );
}

export function meanPoints(m: StepBuckets<Sum>): Point[] {
  return m.sorted().map((b) => ({ step: b.stepSum / b.n, value: b.sum / b.n }));
}

/**
 * The exact means the loss chart plots: blocks of `window` steps with window = chooseWindow(count),
 * as specs.ts `blockMeans` computes them from the full series. The window only grows (1, 10, 100,
 * 1,000) and each is a multiple of the last, so old blocks regroup exactly when it changes.
 */
export class BlockMeans {
  window = 1;
  count = 0;
  private blocks = new Map<number, Sum>();

  push(step: number, value: number): void {
    this.count++;
    const w = chooseWindow(this.count);
    if (w !== this.window) {
      this.blocks = regroup(this.blocks, this.window, w);
      this.window = w;
    }
    const k = Math.floor(step / this.window);
    const b = this.blocks.get(k);
    if (b) {
      b.n++;
      b.stepSum += step;
      b.sum += value;
    } else this.blocks.set(k, { n: 1, stepSum: step, sum: value });
  }

  /** Block means for `window` (default: this run's own), which must be a multiple of this.window. */
  points(window = this.window): (Point & { n: number })[] {
    const blocks = window === this.window ? this.blocks : regroup(this.blocks, this.window, window);
    return [...blocks.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([, b]) => ({ step: b.stepSum / b.n, value: b.sum / b.n, n: b.n }));
  }
}

function regroup(blocks: Map<number, Sum>, from: number, to: number): Map<number, Sum> {
  const out = new Map<number, Sum>();
  for (const [k, b] of blocks) {
    // k·from ≤ step < (k+1)·from, and `to` is a multiple of `from`: floor(step / to) = floor(k·from / to)
    const k2 = Math.floor((k * from) / to);
    const o = out.get(k2);
    if (o) {
      o.n += b.n;
      o.stepSum += b.stepSum;
      o.sum += b.sum;
    } else out.set(k2, { ...b });
  }
  return out;
}

// ---------------------------------------------------------------- reading files

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function statOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

/** A JSON line; a diverged step may log NaN or Infinity, which JSON cannot hold: read as null. */
function parseLine(line: string): unknown {
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

/** Follows an append-only JSONL file: each read returns the lines completed since the last one. */
export class LineTail {
  private offset = 0;
  private ino = -1;
  private rest: Buffer = Buffer.alloc(0);
  private decoder = new TextDecoder("utf-8");

  constructor(readonly path: string) {}

  /**
   * New complete lines (at most about `budget` bytes of them). `reset` says the file was replaced,
   * truncated or removed, so everything read before is void; `more` that bytes are still unread.
   */
  read(budget = READ_BUDGET): { lines: string[]; reset: boolean; more: boolean } {
    const st = statOrNull(this.path);
    let reset = false;
    if (!st?.isFile()) {
      const had = this.ino !== -1 || this.offset > 0;
      if (had) this.restart(-1);
      return { lines: [], reset: had, more: false };
    }
    if (st.ino !== this.ino || st.size < this.offset) {
      reset = this.ino !== -1 || this.offset > 0;
      this.restart(st.ino);
    }
    const lines: string[] = [];
    if (st.size <= this.offset) {
      // a last line without its newline that is a whole JSON object is complete (a prefix of
      // an object line never parses): take it, so a run that ended without "\n" shows fully
      if (this.rest.length > 0) {
        const text = this.decoder.decode(this.rest);
        if (isObject(parseLine(text))) {
          lines.push(text);
          this.rest = Buffer.alloc(0);
        }
      }
      return { lines, reset, more: false };
    }
    const want = Math.min(st.size - this.offset, budget);
    const chunk = Buffer.alloc(want);
    let got = 0;
    const fd = openSync(this.path, "r");
    try {
      while (got < want) {
        const n = readSync(fd, chunk, got, want - got, this.offset + got);
        if (n === 0) break;
        got += n;
      }
    } finally {
      closeSync(fd);
    }
    this.offset += got;
    const data = this.rest.length
      ? Buffer.concat([this.rest, chunk.subarray(0, got)])
      : chunk.subarray(0, got);
    const nl = data.lastIndexOf(10);
    if (nl < 0) {
      this.rest = data.length > MAX_LINE_BYTES ? Buffer.alloc(0) : Buffer.from(data);
    } else {
      for (const line of this.decoder.decode(data.subarray(0, nl)).split("\n"))
        if (line.trim().length) lines.push(line);
      this.rest = Buffer.from(data.subarray(nl + 1));
    }
    return { lines, reset, more: this.offset < st.size };
  }

  private restart(ino: number): void {
    this.ino = ino;
    this.offset = 0;
    this.rest = Buffer.alloc(0);
  }
}

/** A small JSON file re-read when its size, mtime or inode changes (a failed parse retries later). */
class JsonWatch {
  value: unknown = undefined;
  mtimeMs = 0;
  private sig = "";

  constructor(readonly path: string) {}

  /** true when the value changed */
  poll(): boolean {
    const st = statOrNull(this.path);
    if (!st?.isFile()) {
      if (this.sig === "") return false;
      this.sig = "";
      this.value = undefined;
      return true;
    }
    const sig = `${st.ino}:${st.size}:${st.mtimeMs}`;
    if (sig === this.sig) return false;
    try {
      this.value = JSON.parse(readFileSync(this.path, "utf8"));
    } catch {
      return false; // mid-write (not atomic) or damaged: try again at the next poll
    }
    this.sig = sig;
    this.mtimeMs = st.mtimeMs;
    return true;
  }
}

class TextWatch {
  text: string | undefined = undefined;
  mtimeMs = 0;
  private sig = "";

  constructor(readonly path: string) {}

  poll(): boolean {
    const st = statOrNull(this.path);
    if (!st?.isFile()) {
      if (this.sig === "") return false;
      this.sig = "";
      this.text = undefined;
      return true;
    }
    const sig = `${st.ino}:${st.size}:${st.mtimeMs}`;
    if (sig === this.sig || st.size > 16 * 1024 * 1024) return false;
    try {
      this.text = readFileSync(this.path, "utf8");
    } catch {
      return false;
    }
    this.sig = sig;
    this.mtimeMs = st.mtimeMs;
    return true;
  }
}

// ---------------------------------------------------------------- one run

export type SampleSource = "train" | "val" | "test" | "new";

export interface Sample {
  word: string;
  /** where the word is found in the data (absent when unknown) */
  source?: SampleSource;
}

/** What live.json holds (written by `makemore train --dashboard`). */
interface LiveFile {
  step?: number;
  samples?: Sample[];
  findings?: Finding[];
  stepsPerSecond?: number;
  maxSteps?: number;
  updatedAt?: string;
}

/** The small facts about a run that the page header, tables and panels show; sent on every change. */
export interface RunSummary {
  index: number;
  name: string;
  /** increases whenever anything in the run changed */
  version: number;
  /** "training": files changed within the last few seconds; "finished": state.json says so */
  status: "training" | "finished" | "idle";
  model?: string;
  /** steps done */
  step: number;
  maxSteps?: number;
  stepsPerSecond?: number;
  lastLoss?: number;
  splitLosses?: { train?: number; val?: number; test?: number };
  snapshotStep?: number;
  /** the charts this run has now, with the version of their data */
  charts: { name: string; version: number }[];
  findings: Finding[];
  /** whether a health check ran at all (live.json or findings.json holds one) */
  checked: boolean;
  samples: Sample[];
  /** where the samples come from: live.json (fresh, during training) or samples.txt */
  samplesFrom?: "live" | "final";
  /** the step live.json's samples were drawn at */
  samplesStep?: number;
  /** what is missing, one sentence each */
  notes: string[];
  updatedAt?: string;
}

/** Downsampled series of a run, as the JSON endpoint serves them. */
export interface RunSeries {
  /** log10(loss): at most MAX_POINTS points with each bucket's min and max */
  loss: Point[];
  /** exact means of log10(loss) over `window`-step blocks (the report's curve) */
  lossMeans: (Point & { n: number })[];
  window: number;
  /** log10 update:data ratio per parameter, at most MAX_POINTS bucket means each */
  updateRatios: Record<string, Point[]>;
  evals: MetricsLine[];
  /** steps logged so far */
  count: number;
}

const ACTIVE_MS = 10_000;

export class RunWatcher {
  readonly name: string;
  version = 0;
  private metricsVersion = 0;
  private snapVersion = 0;

  private metricsTail: LineTail;
  private diagTail: LineTail;
  private config: JsonWatch;
  private state: JsonWatch;
  private live: JsonWatch;
  private findingsFile: JsonWatch;
  private samplesFile: TextWatch;

  // bounded history
  private env = envelope();
  private means = new BlockMeans();
  private ud = new Map<string, StepBuckets<Sum>>();
  private evals: MetricsLine[] = [];
  private lastStep = -1;
  private lastLoss: number | undefined = undefined;
  private snapshot: DiagnosticsSnapshot | undefined = undefined;
  /** every snapshot's histograms (params and saturation maps dropped), oldest first */
  private history: DiagnosticsSnapshot[] = [];
  private modelShapes: Record<string, number[]> = {};
  private splitSets: { train: Set<string>; val: Set<string>; test: Set<string> } | null | undefined;

  // activity: growth seen after the first complete read means someone is writing
  private lastGrowth = 0;
  private loaded = false;
  private rate: { t: number; step: number }[] = [];
  private charts = new Map<string, { version: number; spec: ChartSpec | null }>();

  constructor(
    readonly dir: string,
    readonly index: number,
    name?: string,
  ) {
    this.name = name ?? basename(resolve(dir));
    this.metricsTail = new LineTail(join(dir, "metrics.jsonl"));
    this.diagTail = new LineTail(join(dir, "diagnostics.jsonl"));
    this.config = new JsonWatch(join(dir, "config.json"));
    this.state = new JsonWatch(join(dir, "state.json"));
    this.live = new JsonWatch(join(dir, "live.json"));
    this.findingsFile = new JsonWatch(join(dir, "findings.json"));
    this.samplesFile = new TextWatch(join(dir, "samples.txt"));
  }

  /** True while bytes of a file remain unread (poll again soon). */
  behind = false;

  /** Read what changed on disk; true when the summary changed. */
  poll(now = Date.now()): boolean {
    let changed = false;
    if (this.config.poll()) {
      changed = true;
      this.modelShapes = shapesFromConfig(this.config.value);
      this.splitSets = undefined;
      this.metricsVersion++; // update-ratio labels depend on the shapes
    }
    for (const f of [this.state, this.live, this.findingsFile, this.samplesFile])
      if (f.poll()) changed = true;

    const m = this.metricsTail.read();
    if (m.reset) {
      this.clearMetrics();
      changed = true;
    }
    if (m.lines.length) {
      for (const line of m.lines) this.addMetrics(parseLine(line));
      this.metricsVersion++;
      if (this.loaded) this.lastGrowth = now;
      changed = true;
    }
    const d = this.diagTail.read();
    if (d.reset) {
      this.snapshot = undefined;
      this.history = [];
      this.snapVersion++;
      changed = true;
    }
    // the newest snapshot in full; of every snapshot its histograms, for the views over time
    let newest: DiagnosticsSnapshot | undefined;
    for (const line of d.lines) {
      const snap = toSnapshot(parseLine(line));
      if (!snap) continue;
      newest = snap;
      this.history.push({ ...snap, params: [], saturation: [] });
      if (this.history.length > 2 * MAX_HISTORY * 8)
        this.history = this.history.filter((_, k) => k % 2 === 0);
    }
    if (newest) {
      this.snapshot = newest;
      this.snapVersion++;
      if (this.loaded) this.lastGrowth = now;
      changed = true;
    }
    this.behind = m.more || d.more;
    if (!this.behind) this.loaded = true;

    if (changed) {
      this.version++;
      const step = this.step();
      this.rate.push({ t: now, step });
      while (this.rate.length > 2 && now - this.rate[0]!.t > 10_000) this.rate.shift();
    }
    return changed;
  }

  private clearMetrics(): void {
    this.env = envelope();
    this.means = new BlockMeans();
    this.ud = new Map();
    this.evals = [];
    this.lastStep = -1;
    this.lastLoss = undefined;
    this.rate = [];
    this.metricsVersion++;
  }

  private addMetrics(r: unknown): void {
    if (!isObject(r) || typeof r.step !== "number" || !Number.isFinite(r.step)) return;
    const step = r.step;
    if (step > this.lastStep) this.lastStep = step;
    if (typeof r.loss === "number" && Number.isFinite(r.loss) && r.loss > 0) {
      this.env.push(step, r.loss);
      this.means.push(step, Math.log10(r.loss));
      this.lastLoss = r.loss;
    } else if (r.loss === null) this.lastLoss = Number.NaN;
    if (isObject(r.ud))
      for (const [name, v] of Object.entries(r.ud)) {
        if (typeof v !== "number" || !Number.isFinite(v)) continue;
        let b = this.ud.get(name);
        if (!b) this.ud.set(name, (b = meanBuckets()));
        b.push(step, v);
      }
    if (typeof r.train_loss === "number" || typeof r.val_loss === "number") {
      const e: MetricsLine = { step };
      if (typeof r.train_loss === "number") e.train_loss = r.train_loss;
      if (typeof r.val_loss === "number") e.val_loss = r.val_loss;
      this.evals.push(e);
      if (this.evals.length > MAX_EVALS) this.evals = this.evals.filter((_, i) => i % 2 === 1);
    }
  }

  private liveFile(): LiveFile | undefined {
    return isObject(this.live.value) ? (this.live.value as LiveFile) : undefined;
  }

  private stateObj(): Record<string, unknown> | undefined {
    return isObject(this.state.value) ? this.state.value : undefined;
  }

  /** Steps done: the largest of what live.json, state.json and metrics.jsonl say. */
  step(): number {
    const live = this.liveFile();
    const st = this.stateObj();
    return Math.max(
      this.lastStep + 1,
      typeof live?.step === "number" ? live.step : 0,
      typeof st?.step === "number" ? st.step : 0,
    );
  }

  private shapes(): Record<string, number[]> {
    const out: Record<string, number[]> = { ...this.modelShapes };
    // the snapshots were written by the same code as the update ratios: their names win
    for (const p of this.snapshot?.params ?? []) out[p.name] = p.shape.slice();
    return out;
  }

  // ------------------------------------------------------------ charts

  /** The charts with data now, in page order: loss, update-ratios, activations, ..., saturation-layer-N. */
  chartList(): { name: string; version: number }[] {
    const out: { name: string; version: number }[] = [];
    if (this.means.count > 0) out.push({ name: "loss", version: this.metricsVersion });
    if (this.ud.size > 0) out.push({ name: "update-ratios", version: this.metricsVersion });
    const snap = this.snapshot;
    if (snap) {
      for (const name of ["activations", "gradients", "weight-gradients"])
        out.push({ name, version: this.snapVersion });
      if (this.history.length >= 2)
        for (const name of ["activations-history", "gradients-history"])
          out.push({ name, version: this.snapVersion });
      for (const map of snap.saturation)
        out.push({ name: `saturation-layer-${map.layer}`, version: this.snapVersion });
    }
    return out;
  }

  /** The chart `name` built from the current data (cached per data version); undefined if unknown. */
  chart(name: string): { version: number; spec: ChartSpec | null } | undefined {
    const entry = this.chartList().find((c) => c.name === name);
    if (!entry) return undefined;
    const cached = this.charts.get(name);
    if (cached && cached.version === entry.version) return cached;
    const built = { version: entry.version, spec: this.buildChart(name) };
    this.charts.set(name, built);
    return built;
  }

  private buildChart(name: string): ChartSpec | null {
    const snap = this.snapshot;
    switch (name) {
      case "loss":
        return this.lossChart();
      case "update-ratios": {
        const shapes = this.shapes();
        return updateRatioSpec(this.udMetrics(), { shapes: Object.keys(shapes).length ? shapes : undefined });
      }
      case "activations":
        return snap ? activationHistSpec(snap) : null;
      case "gradients":
        return snap ? gradientHistSpec(snap) : null;
      case "weight-gradients":
        return snap ? weightGradHistSpec(snap) : null;
      case "activations-history":
        return histHistorySpec(this.history, "activations");
      case "gradients-history":
        return histHistorySpec(this.history, "gradients");
    }
    const layer = /^saturation-layer-(\d+)$/.exec(name);
    if (snap && layer) {
      const map = snap.saturation.find((s) => s.layer === Number(layer[1]));
      const kind = snap.activations.find((a) => a.layer === Number(layer[1]))?.kind;
      return map ? saturationSpec(map, { kind, step: snap.step }) : null;
    }
    return null;
  }

  /**
   * lossSpec over the envelope (the per-step line, thinned like the report thins it) with the
   * block means replaced by the exact ones, which the envelope alone cannot give.
   */
  private lossChart(): ChartSpec | null {
    const metrics: MetricsLine[] = envelopePoints(this.env).map((p) => ({ step: p.step, loss: p.value }));
    for (const e of this.evals) metrics.push(e);
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

  /** The update ratios as metrics lines, one parameter after another (the spec groups by name). */
  private udMetrics(): MetricsLine[] {
    const out: MetricsLine[] = [];
    for (const [name, b] of this.ud)
      for (const p of meanPoints(b)) out.push({ step: p.step, ud: { [name]: p.value } });
    return out;
  }

  /** Synthetic metrics whose block means (for a window that is a multiple of this run's) are exact. */
  meanMetrics(window: number): MetricsLine[] {
    return this.means.points(window).map((p) => ({ step: p.step, loss: 10 ** p.value }));
  }

  get lossCount(): number {
    return this.means.count;
  }

  get latestSnapshot(): DiagnosticsSnapshot | undefined {
    return this.snapshot;
  }

  // ------------------------------------------------------------ JSON views

  series(): RunSeries {
    const updateRatios: Record<string, Point[]> = {};
    for (const [name, b] of this.ud) updateRatios[name] = downsampleMean(meanPoints(b), MAX_POINTS);
    const loss = downsampleMinMax(
      envelopePoints(this.env).map((p) => ({ step: p.step, value: Math.log10(p.value) })),
      MAX_POINTS,
    );
    return {
      loss,
      lossMeans: this.means.points(),
      window: this.means.window,
      updateRatios,
      evals: this.evals.slice(),
      count: this.means.count,
    };
  }

  /** state.json without the generator and optimizer state (large, and nothing to look at). */
  stateView(): Record<string, unknown> | null {
    const st = this.stateObj();
    if (!st) return null;
    const { generator: _g, optimizer: _o, ...rest } = st;
    return rest;
  }

  findings(): Finding[] {
    const live = this.liveFile();
    const fromFile = Array.isArray(this.findingsFile.value)
      ? (this.findingsFile.value as Finding[])
      : undefined;
    const fromLive = Array.isArray(live?.findings) ? live.findings : undefined;
    const pick =
      fromFile && (!fromLive || this.findingsFile.mtimeMs >= this.live.mtimeMs) ? fromFile : (fromLive ?? []);
    return pick.filter((f) => isObject(f) && typeof f.title === "string").slice(0, 100);
  }

  /** The newer of live.json's samples (during training) and samples.txt (written at the end). */
  samples(): { samples: Sample[]; from?: "live" | "final" } {
    const live = this.liveFile();
    const final = this.samplesFile.text !== undefined && this.samplesFile.mtimeMs >= this.live.mtimeMs;
    if (Array.isArray(live?.samples) && !final)
      return {
        from: "live",
        samples: live.samples
          .filter((s) => isObject(s) && typeof s.word === "string")
          .slice(0, 500)
          .map((s) => ({ word: s.word, source: s.source })),
      };
    if (this.samplesFile.text === undefined) return { samples: [] };
    const words = this.samplesFile.text
      .split("\n")
      .filter((w) => w.length > 0)
      .slice(0, 500);
    const sets = this.dataSets();
    return {
      from: "final",
      samples: words.map((word) => {
        if (!sets) return { word };
        const source: SampleSource = sets.train.has(word)
          ? "train"
          : sets.val.has(word)
            ? "val"
            : sets.test.has(word)
              ? "test"
              : "new";
        return { word, source };
      }),
    };
  }

  /** The run's train/val/test words (the lecture split of the config's input file), or null. */
  private dataSets() {
    if (this.splitSets !== undefined) return this.splitSets;
    this.splitSets = null;
    const data = isObject(this.config.value) ? this.config.value.data : undefined;
    if (isObject(data) && typeof data.inputFile === "string") {
      try {
        const split = splitWords(
          readWordFile(data.inputFile).words,
          typeof data.splitSeed === "number" ? data.splitSeed : 42,
        );
        this.splitSets = { train: new Set(split.train), val: new Set(split.val), test: new Set(split.test) };
      } catch {
        // the word file moved or changed: the samples are shown without their provenance
      }
    }
    return this.splitSets;
  }

  /** "finished" when state.json says so; "training" while files changed within the last 10 s. */
  status(now = Date.now()): RunSummary["status"] {
    if (this.stateObj()?.finished === true) return "finished";
    const live = this.liveFile();
    const liveAt = typeof live?.updatedAt === "string" ? Date.parse(live.updatedAt) : Number.NaN;
    return now - this.lastGrowth < ACTIVE_MS || now - liveAt < ACTIVE_MS ? "training" : "idle";
  }

  summary(now = Date.now()): RunSummary {
    const live = this.liveFile();
    const st = this.stateObj();
    const config = isObject(this.config.value) ? this.config.value : undefined;
    const model = isObject(config?.model) ? config.model : undefined;
    const train = isObject(config?.train) ? config.train : undefined;
    const status = this.status(now);
    const maxSteps =
      typeof live?.maxSteps === "number"
        ? live.maxSteps
        : typeof train?.maxSteps === "number"
          ? train.maxSteps
          : undefined;
    let stepsPerSecond: number | undefined;
    if (status === "training") {
      if (typeof live?.stepsPerSecond === "number" && Number.isFinite(live.stepsPerSecond))
        stepsPerSecond = live.stepsPerSecond;
      else if (this.rate.length >= 2) {
        const a = this.rate[0]!;
        const b = this.rate.at(-1)!;
        if (b.t - a.t >= 1000) stepsPerSecond = ((b.step - a.step) * 1000) / (b.t - a.t);
      }
    }
    const split = isObject(st?.splitLosses) ? st.splitLosses : undefined;
    const { samples, from } = this.samples();
    const notes: string[] = [];
    if (!config) notes.push("no config.json yet");
    if (this.means.count === 0) notes.push("no loss logged yet");
    if (!this.snapshot && this.ud.size === 0)
      notes.push("no diagnostics: train with --diagnostics to see update ratios, histograms and saturation");
    const out: RunSummary = {
      index: this.index,
      name: this.name,
      version: this.version,
      status,
      step: this.step(),
      charts: this.chartList(),
      findings: this.findings(),
      checked: Array.isArray(this.findingsFile.value) || Array.isArray(this.liveFile()?.findings),
      samples,
      notes,
    };
    if (typeof model?.type === "string") out.model = model.type;
    if (maxSteps !== undefined) out.maxSteps = maxSteps;
    if (stepsPerSecond !== undefined) out.stepsPerSecond = stepsPerSecond;
    if (this.lastLoss !== undefined && Number.isFinite(this.lastLoss)) out.lastLoss = this.lastLoss;
    if (split) {
      const num = (v: unknown) => (typeof v === "number" ? v : undefined);
      out.splitLosses = { train: num(split.train), val: num(split.val), test: num(split.test) };
    }
    if (this.snapshot) out.snapshotStep = this.snapshot.step;
    if (from) out.samplesFrom = from;
    if (from === "live" && typeof live?.step === "number") out.samplesStep = live.step;
    if (typeof live?.updatedAt === "string") out.updatedAt = live.updatedAt;
    return out;
  }
}

/** Parameter shapes of the model a config describes (cheap rebuild; skipped for huge models). */
function shapesFromConfig(config: unknown): Record<string, number[]> {
  const model = isObject(config) ? config.model : undefined;
  if (!isObject(model)) return {};
  const size = (k: string) => (typeof model[k] === "number" ? (model[k] as number) : 0);
  if (size("nHidden") * Math.max(size("nHidden"), size("nEmbd") * size("blockSize")) * size("depth") > 5e6)
    return {};
  try {
    const m = buildFromSpec(model as unknown as ModelSpecBase, new Generator());
    const out: Record<string, number[]> = {};
    for (const [name, t] of m.namedParameters()) out[name] = t.shape.slice();
    return out;
  } catch {
    return {};
  }
}

/** A snapshot line with the fields the charts read (lists default to empty), or undefined. */
function toSnapshot(r: unknown): DiagnosticsSnapshot | undefined {
  if (!isObject(r) || typeof r.step !== "number") return undefined;
  const list = <T>(v: unknown, ok: (o: Record<string, unknown>) => boolean): T[] =>
    Array.isArray(v) ? (v.filter((o) => isObject(o) && ok(o)) as T[]) : [];
  const hist = (o: Record<string, unknown>) =>
    isObject(o.hist) && Array.isArray(o.hist.counts) && Array.isArray(o.hist.edges);
  return {
    step: r.step,
    loss: typeof r.loss === "number" ? r.loss : Number.NaN,
    activations: list(
      r.activations,
      (o) => typeof o.layer === "number" && typeof o.kind === "string" && hist(o),
    ),
    gradients: list(r.gradients, (o) => typeof o.layer === "number" && typeof o.kind === "string" && hist(o)),
    params: list(r.params, (o) => typeof o.name === "string" && Array.isArray(o.shape) && hist(o)),
    saturation: list(r.saturation, (o) => {
      if (typeof o.layer !== "number" || typeof o.bits !== "string") return false;
      if (typeof o.rows !== "number" || typeof o.cols !== "number") return false;
      if (!Array.isArray(o.deadUnits)) o.deadUnits = [];
      return true;
    }),
  };
}

// ---------------------------------------------------------------- several runs

/** Legend labels for runs: their directory names, or relative paths when two names clash. */
export function runLabels(dirs: readonly string[]): string[] {
  const names = dirs.map((d) => basename(resolve(d)));
  if (new Set(names).size === names.length) return names;
  return dirs.map((d) => relative(process.cwd(), resolve(d)) || ".");
}

/** The comparison charts of several runs, as the comparison report draws them. */
export function compareCharts(runs: readonly RunWatcher[]): Record<string, ChartSpec | null> {
  const longest = Math.max(0, ...runs.map((r) => r.lossCount));
  const window = chooseWindow(longest);
  const withSnap = runs.flatMap((r) =>
    r.latestSnapshot ? [{ label: r.name, snapshot: r.latestSnapshot }] : [],
  );
  const missing = runs.filter((r) => !r.latestSnapshot).map((r) => r.name);
  return {
    "compare-loss": compareLossSpec(
      runs.map((r) => ({ label: r.name, metrics: r.meanMetrics(window) })),
      { window },
    ),
    "compare-activations": compareHistSpec(withSnap, "activations", { missing }),
    "compare-gradients": compareHistSpec(withSnap, "gradients", { missing }),
  };
}
