/**
 * Bounded series: a run's history kept in memory of fixed size however long it runs, so a
 * 10-million-step run costs the dashboard and the report what a 10,000-step one does
 * (`MetricsHistory` is fed one metrics.jsonl line at a time, by the dashboard's tailer or by the
 * report's streaming read).
 *
 *   loss            a min/max envelope in step-aligned buckets (at most RAW_BUCKETS, their width
 *                   doubling as the run grows) + the exact window-step means the report plots
 *   update ratios   bucket means per parameter (at most UD_BUCKETS)
 */

import type { MetricsLine } from "../diagnostics/types.ts";
import {
  type ChartSpec,
  chooseWindow,
  downsampleMean,
  downsampleMinMax,
  lossSpec,
  MAX_POINTS,
  type Point,
  updateRatioSpec,
} from "./specs.ts";

/** Loss envelope buckets kept (each holds its lowest and highest point: at most 2× points). */
export const RAW_BUCKETS = 2000;
/** Update-ratio bucket means kept per parameter (specs.ts thins them to MAX_POINTS for drawing). */
export const UD_BUCKETS = 4000;
/** Eval lines (train_loss / val_loss / test_loss) kept; beyond it every other one is dropped. */
export const MAX_EVALS = 2000;

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

export interface Sum {
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

// ---------------------------------------------------------------- a run's metrics, bounded

/** Downsampled series of a run, as the dashboard's JSON endpoint serves them. */
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

/**
 * The metrics.jsonl history in bounded memory: the loss envelope and exact block means, update
 * ratios as bucket means, the last MAX_EVALS eval lines. Its charts are the report's specs.
 *
 *   const h = new MetricsHistory();
 *   forEachJsonLine(path, "metrics", (r) => h.push(toMetricsLine(r)));
 *   const spec = h.lossSpec();
 */
export class MetricsHistory {
  private env = envelope();
  private means = new BlockMeans();
  private ud = new Map<string, StepBuckets<Sum>>();
  private evals: MetricsLine[] = [];
  /** the largest step logged, -1 before any */
  lastStep = -1;
  /** the last logged minibatch loss (NaN when the run logged a non-finite one) */
  lastLoss: number | undefined = undefined;

  push(r: MetricsLine | null): void {
    if (!r) return;
    const step = r.step;
    if (step > this.lastStep) this.lastStep = step;
    if (typeof r.loss === "number" && Number.isFinite(r.loss) && r.loss > 0) {
      this.env.push(step, r.loss);
      this.means.push(step, Math.log10(r.loss));
      this.lastLoss = r.loss;
    } else if (Number.isNaN(r.loss)) this.lastLoss = Number.NaN;
    if (r.ud)
      for (const [name, v] of Object.entries(r.ud)) {
        if (!Number.isFinite(v)) continue;
        let b = this.ud.get(name);
        if (!b) this.ud.set(name, (b = meanBuckets()));
        b.push(step, v);
      }
    if (
      typeof r.train_loss === "number" ||
      typeof r.val_loss === "number" ||
      typeof r.test_loss === "number"
    ) {
      const e: MetricsLine = { step };
      if (typeof r.train_loss === "number") e.train_loss = r.train_loss;
      if (typeof r.val_loss === "number") e.val_loss = r.val_loss;
      if (typeof r.test_loss === "number") e.test_loss = r.test_loss;
      this.evals.push(e);
      if (this.evals.length > MAX_EVALS) this.evals = this.evals.filter((_, i) => i % 2 === 1);
    }
  }

  /** Steps with a finite positive loss. */
  get lossCount(): number {
    return this.means.count;
  }

  /** Whether any line carried update ratios. */
  get hasUpdateRatios(): boolean {
    return this.ud.size > 0;
  }

  /**
   * lossSpec over the envelope (the per-step line, thinned) with the block means replaced by the
   * exact ones, which the envelope alone cannot give.
   */
  lossSpec(): ChartSpec | null {
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

  /** updateRatioSpec over the bucket means (shapes as updateRatioSpec takes them). */
  updateRatioSpec(shapes?: Readonly<Record<string, readonly number[]>>): ChartSpec | null {
    const out: MetricsLine[] = [];
    for (const [name, b] of this.ud)
      for (const p of meanPoints(b)) out.push({ step: p.step, ud: { [name]: p.value } });
    return updateRatioSpec(out, { shapes });
  }

  /** Synthetic metrics whose block means (for a window that is a multiple of this run's) are exact. */
  meanMetrics(window: number): MetricsLine[] {
    return this.means.points(window).map((p) => ({ step: p.step, loss: 10 ** p.value }));
  }

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
}
