/**
 * The training progress display, fed by step events and nothing else (no model, no run):
 *
 *   const p = new Progress({ total: 200000, startStep: 0 });
 *   p.line("step 0/200000 | loss 3.3239 ...");   // a permanent line on stdout
 *   p.tick(step + 1, loss);                      // after every step
 *   p.clear();                                   // before the summary
 *
 * On a terminal (stderr is a TTY) one status line is redrawn in place, at most every 100 ms:
 *
 *   ██████░░░░░░  52000/200000 | loss 2.1823 | mean 2.2410 | 4,312 steps/s | 0:12 elapsed, 0:34 left
 *
 * It never wraps: the line is built for the terminal's current width (read at every redraw, so
 * a resized window is followed), the bar takes what is left and the least useful fields give
 * way first when even that does not fit (50 columns: `52000/200000 loss 2.1823 mean 2.2410 0:12<0:34`). "mean" is the running mean of the last 1,000 minibatch losses (the
 * report's smoothing): one batch's loss jumps by ±0.3, the mean shows the trend.
 * When stderr is not a terminal (piped, CI, nohup) a status line is printed every few seconds
 * instead of redrawn, so a log shows progress between the every-N-step lines.
 */

import { clock } from "./args.ts";

/** Where status lines go: process.stderr, or a fake in tests. */
export interface StatusStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressOptions {
  /** the step count the run ends at (its --max-steps) */
  total: number;
  /** the step the run starts or resumes at */
  startStep?: number;
  /** no status line, no permanent lines */
  quiet?: boolean;
  /** the status stream (default process.stderr) */
  status?: StatusStream;
  /** permanent lines (default console.log) */
  print?: (text: string) => void;
  /** milliseconds clock (default performance.now) */
  now?: () => number;
  /** piped status interval in ms (default 5000) */
  pipeEveryMs?: number;
  /** losses in the running mean (default 1000) */
  meanWindow?: number;
}

/** What one status line shows. */
export interface ProgressState {
  step: number;
  total: number;
  loss: number;
  /** running mean of the last losses (NaN before the first step) */
  mean: number;
  stepsPerSecond: number;
  elapsedSeconds: number;
}

/** Thousands separators for counts: 4312 -> "4,312". */
const count = (n: number) => Math.round(n).toLocaleString("en-US");

/**
 * One status line no wider than `columns - 1` (the last column would make some terminals wrap).
 * The first layout that fits wins; fields go in order of what matters least: the rate, the bar,
 * the long form of the time, the mean, the time, the loss.
 */
export function statusLine(s: ProgressState, columns: number, bar = true): string {
  const width = Math.max(10, columns - 1);
  // total < 0: until interrupted (--max-steps -1): the count alone, no bar, no time left
  const open = s.total < 0;
  const left = s.stepsPerSecond > 0 && !open ? (s.total - s.step) / s.stepsPerSecond : Number.NaN;
  const steps = open ? `step ${s.step}` : `${String(s.step).padStart(String(s.total).length)}/${s.total}`;
  const loss = `loss ${s.loss.toFixed(4)}`;
  const mean = `mean ${Number.isFinite(s.mean) ? s.mean.toFixed(4) : "–"}`;
  const rate = `${count(s.stepsPerSecond)} steps/s`;
  const time = `${clock(s.elapsedSeconds)} elapsed, ${clock(left)} left`;
  const short = `${clock(s.elapsedSeconds)}<${clock(left)}`; // tqdm's elapsed<left
  // [fields, separator]: the tight separator keeps the mean at 50 columns on a 200,000-step run
  const layouts: [string[], string][] = [
    [[steps, loss, mean, rate, time], " | "],
    [[steps, loss, mean, time], " | "],
    [[steps, loss, mean, short], " | "],
    [[steps.trimStart(), loss, mean, short], " "],
    [[steps.trimStart(), loss, short], " "],
    [[steps.trimStart(), loss], " "],
    [[steps.trimStart()], " "],
  ];
  const frac = s.total > 0 ? Math.min(1, s.step / s.total) : 1;
  for (const withBar of bar && !open ? [true, false] : [false]) {
    for (const [fields, sep] of layouts) {
      const text = fields.join(sep);
      if (!withBar) {
        if (text.length <= width) return text;
        continue;
      }
      // a bar of 10 to 30 cells before the text, or none
      const cells = Math.min(30, width - text.length - 1);
      if (cells < 10 || fields.length < 4) continue;
      const filled = Math.round(frac * cells);
      return `${"█".repeat(filled)}${"░".repeat(cells - filled)} ${text}`;
    }
  }
  return steps.slice(0, width);
}

export class Progress {
  private readonly total: number;
  private readonly startStep: number;
  private readonly quiet: boolean;
  private readonly status: StatusStream;
  private readonly print: (text: string) => void;
  private readonly now: () => number;
  private readonly pipeEveryMs: number;
  private readonly t0: number;
  private readonly window: Float64Array;
  private filled = 0;
  private sum = 0;
  private next = 0;
  private lastDraw = Number.NEGATIVE_INFINITY;
  private lastPipe: number;
  private drawn = false;
  private lastLineAt: number;
  private lastLineStep: number;

  constructor(opts: ProgressOptions) {
    this.total = opts.total;
    this.startStep = opts.startStep ?? 0;
    this.quiet = opts.quiet === true;
    this.status = opts.status ?? process.stderr;
    this.print = opts.print ?? ((t) => console.log(t));
    this.now = opts.now ?? (() => performance.now());
    this.pipeEveryMs = opts.pipeEveryMs ?? 5000;
    this.window = new Float64Array(opts.meanWindow ?? 1000);
    this.t0 = this.now();
    this.lastPipe = this.t0;
    this.lastLineAt = this.t0;
    this.lastLineStep = this.startStep;
  }

  private get tty(): boolean {
    return this.status.isTTY === true;
  }

  /** Running mean of the last `meanWindow` losses (NaN before the first). */
  get mean(): number {
    return this.filled ? this.sum / this.filled : Number.NaN;
  }

  /** ms per step since the previous call (for the periodic log line) */
  intervalMs(step: number): number {
    const now = this.now();
    const ms = (now - this.lastLineAt) / Math.max(1, step - this.lastLineStep);
    this.lastLineAt = now;
    this.lastLineStep = step;
    return ms;
  }

  /** ms per step and steps/s since the start */
  rate(step: number): { msPerStep: number; perSecond: number } {
    const ms = Math.max(1e-9, this.now() - this.t0);
    const done = Math.max(1, step - this.startStep);
    return { msPerStep: ms / done, perSecond: (done / ms) * 1000 };
  }

  /** After each step: `step` steps are done, the last minibatch loss was `loss`. */
  tick(step: number, loss: number): void {
    // the mean over a ring of the last losses; recomputed from the ring once per wrap so that
    // float drift from adding and subtracting never builds up
    if (Number.isFinite(loss)) {
      if (this.filled === this.window.length) this.sum -= this.window[this.next];
      else this.filled++;
      this.window[this.next] = loss;
      this.sum += loss;
      this.next = (this.next + 1) % this.window.length;
      if (this.next === 0) this.sum = this.window.reduce((a, b) => a + b, 0);
    }
    if (this.quiet) return;
    const now = this.now();
    const last = this.total >= 0 && step >= this.total;
    if (this.tty) {
      if (now - this.lastDraw < 100 && !last) return;
      this.lastDraw = now;
      this.status.write(`\r${statusLine(this.state(step, loss), this.status.columns || 80)}\x1b[K`);
      this.drawn = true;
    } else if (now - this.lastPipe >= this.pipeEveryMs && !last) {
      this.lastPipe = now;
      // a log gets a plain line with no bar (it reads top to bottom, and has no width)
      this.status.write(`${statusLine(this.state(step, loss), 1000, false)}\n`);
    }
  }

  /** A permanent line (the every-N-step log, the start-up facts): on stdout, above the bar. */
  line(text: string): void {
    if (this.quiet) return;
    this.clear();
    this.print(text);
    this.lastPipe = this.now();
  }

  /** Erase the status line (before the summary, or an error). */
  clear(): void {
    if (this.tty && this.drawn) this.status.write("\r\x1b[K");
    this.drawn = false;
  }

  private state(step: number, loss: number): ProgressState {
    return {
      step,
      total: this.total,
      loss,
      mean: this.mean,
      stepsPerSecond: this.rate(step).perSecond,
      elapsedSeconds: (this.now() - this.t0) / 1000,
    };
  }
}
