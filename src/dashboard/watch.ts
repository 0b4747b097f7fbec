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

import { basename, join, resolve } from "node:path";
import type { DiagnosticsSnapshot, Finding, MetricsLine } from "../diagnostics/types.ts";
import {
  checkLive,
  checkSamplesFile,
  isObject,
  parameterShapes,
  parseJsonLine,
  toMetricsLine,
  toSnapshot,
} from "../io/runfiles.ts";
import type { LiveStatus } from "../train/session.ts";
import { MetricsHistory, type RunSeries } from "../viz/series.ts";
import {
  type ChartSpec,
  chooseWindow,
  compareHistSpec,
  compareLossSpec,
  keepHistory,
  snapshotChart,
  snapshotChartNames,
} from "../viz/specs.ts";
import { JsonWatch, LineTail, TextWatch } from "./tail.ts";

export { runLabels } from "../viz/compare.ts";

// ---------------------------------------------------------------- one run

export type SampleSource = "train" | "val" | "test" | "new";

export interface Sample {
  word: string;
  /** where the word is found in the data (absent when unknown) */
  source?: SampleSource;
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

export type { RunSeries };

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
  private samplesJson: JsonWatch;

  // bounded history
  private metrics = new MetricsHistory();
  private snapshot: DiagnosticsSnapshot | undefined = undefined;
  /** every snapshot's histograms (params and saturation maps dropped), oldest first */
  private history: DiagnosticsSnapshot[] = [];
  /** live.json as checked (undefined when absent or damaged; the damage is a note) */
  private liveValue: LiveStatus | undefined = undefined;
  private liveNote: string | null = null;

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
    this.samplesJson = new JsonWatch(join(dir, "samples.json"));
  }

  /** True while bytes of a file remain unread (poll again soon). */
  behind = false;

  /** Read what changed on disk; true when the summary changed. */
  poll(now = Date.now()): boolean {
    let changed = false;
    if (this.config.poll()) changed = true;
    if (this.state.poll()) {
      changed = true;
      this.metricsVersion++; // update-ratio labels depend on the parameter shapes state.json records
    }
    if (this.live.poll()) {
      changed = true;
      this.liveValue = undefined;
      this.liveNote = null;
      if (this.live.value !== undefined) {
        try {
          this.liveValue = checkLive(this.live.value, join(this.dir, "live.json"));
        } catch (e) {
          this.liveNote = (e as Error).message;
        }
      }
    }
    for (const f of [this.findingsFile, this.samplesFile, this.samplesJson]) if (f.poll()) changed = true;

    const m = this.metricsTail.read();
    if (m.reset) {
      this.clearMetrics();
      changed = true;
    }
    if (m.lines.length) {
      for (const line of m.lines) this.metrics.push(toMetricsLine(parseJsonLine(line)));
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
      const snap = toSnapshot(parseJsonLine(line));
      if (!snap) continue;
      newest = snap;
      this.history = keepHistory(this.history, snap);
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
    this.metrics = new MetricsHistory();
    this.rate = [];
    this.metricsVersion++;
  }

  private liveFile(): LiveStatus | undefined {
    return this.liveValue;
  }

  private stateObj(): Record<string, unknown> | undefined {
    return isObject(this.state.value) ? this.state.value : undefined;
  }

  /** Steps done: the largest of what live.json, state.json and metrics.jsonl say. */
  step(): number {
    const live = this.liveFile();
    const st = this.stateObj();
    return Math.max(
      this.metrics.lastStep + 1,
      typeof live?.step === "number" ? live.step : 0,
      typeof st?.step === "number" ? st.step : 0,
    );
  }

  private shapes(): Record<string, number[]> {
    const out: Record<string, number[]> = parameterShapes(this.state.value);
    // the snapshots were written by the same code as the update ratios: their names win
    for (const p of this.snapshot?.params ?? []) out[p.name] = p.shape.slice();
    return out;
  }

  // ------------------------------------------------------------ charts

  /** The charts with data now, in page order: loss, update-ratios, activations, ..., saturation-layer-N. */
  chartList(): { name: string; version: number }[] {
    const out: { name: string; version: number }[] = [];
    if (this.metrics.lossCount > 0) out.push({ name: "loss", version: this.metricsVersion });
    if (this.metrics.hasUpdateRatios) out.push({ name: "update-ratios", version: this.metricsVersion });
    for (const name of snapshotChartNames(this.snapshot, this.history.length))
      out.push({ name, version: this.snapVersion });
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
    switch (name) {
      case "loss":
        return this.metrics.lossSpec();
      case "update-ratios": {
        const shapes = this.shapes();
        return this.metrics.updateRatioSpec(Object.keys(shapes).length ? shapes : undefined);
      }
    }
    return snapshotChart(name, this.snapshot, this.history) ?? null;
  }

  /** Synthetic metrics whose block means (for a window that is a multiple of this run's) are exact. */
  meanMetrics(window: number): MetricsLine[] {
    return this.metrics.meanMetrics(window);
  }

  get lossCount(): number {
    return this.metrics.lossCount;
  }

  get latestSnapshot(): DiagnosticsSnapshot | undefined {
    return this.snapshot;
  }

  // ------------------------------------------------------------ JSON views

  series(): RunSeries {
    return this.metrics.series();
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

  /** The newer of live.json's samples (during training) and samples.json/.txt (written at the end). */
  samples(): { samples: Sample[]; from?: "live" | "final" } {
    const live = this.liveFile();
    const final = this.samplesFile.text !== undefined && this.samplesFile.mtimeMs >= this.live.mtimeMs;
    if (live && !final) return { from: "live", samples: live.samples.slice(0, 500) };
    if (this.samplesFile.text === undefined) return { samples: [] };
    // samples.json records where each word comes from (written by the same session as samples.txt)
    if (this.samplesJson.value !== undefined) {
      try {
        const recorded = checkSamplesFile(this.samplesJson.value, join(this.dir, "samples.json"));
        return { from: "final", samples: recorded.samples.slice(0, 500) };
      } catch {
        // a damaged samples.json: the words of samples.txt, without their provenance
      }
    }
    const words = this.samplesFile.text
      .split("\n")
      .filter((w) => w.length > 0)
      .slice(0, 500);
    return { from: "final", samples: words.map((word) => ({ word })) };
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
    // live.json writes --max-steps -1 (until interrupted) as 0; config.json keeps the -1
    const maxSteps =
      typeof live?.maxSteps === "number" && train?.maxSteps !== -1
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
    if (this.liveNote) notes.push(this.liveNote);
    if (this.metrics.lossCount === 0) notes.push("no loss logged yet");
    if (!this.snapshot && !this.metrics.hasUpdateRatios)
      notes.push("no diagnostics: train with --diagnostics to see update ratios, histograms and saturation");
    if (this.snapshot && this.snapshot.activations.length === 0)
      notes.push("no layer statistics: this model has no Tanh layer to measure (its weights are measured)");
    if (this.snapshot && this.snapshot.saturation.length === 0)
      notes.push("no saturation map: this model has no Tanh layer");
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
    const lastLoss = this.metrics.lastLoss;
    if (lastLoss !== undefined && Number.isFinite(lastLoss)) out.lastLoss = lastLoss;
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

// ---------------------------------------------------------------- several runs

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
