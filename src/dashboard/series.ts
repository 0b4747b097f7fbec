/**
 * Bounded series: a run's history kept in memory of fixed size however long it runs, so a
 * 10-million-step run costs the dashboard what a 10,000-step one does.
 *
 *   loss            a min/max envelope in step-aligned buckets (at most RAW_BUCKETS, their width
 *                   doubling as the run grows) + the exact window-step means the report plots
 *   update ratios   bucket means per parameter (at most UD_BUCKETS)
 */

import { chooseWindow, type Point } from "../viz/specs.ts";

/** Loss envelope buckets kept (each holds its lowest and highest point: at most 2× points). */
export const RAW_BUCKETS = 2000;
/** Update-ratio bucket means kept per parameter (specs.ts thins them to MAX_POINTS for drawing). */
export const UD_BUCKETS = 4000;
/** Eval lines (train_loss / val_loss) kept; beyond it every other one is dropped. */
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
