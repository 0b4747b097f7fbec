/**
 * Optimizers with torch.optim's semantics (PyTorch 1.13, the single-tensor CPU path):
 * `AdamW` as makemore.py creates it and `SGD` with momentum, Nesterov and weight decay. Each
 * update mirrors torch's sequence of float32 tensor ops, rounding where each op rounds (an
 * `add_(x, alpha=a)` is one fused multiply-add on AVX2 builds), so a run tracks PyTorch's to a
 * few float32 ulps per step. The lecture presets keep their plain `p.data += -lr * p.grad`.
 *
 *   const opt = new AdamW(model.parameters(), { lr: 5e-4, betas: [0.9, 0.99], eps: 1e-8, weightDecay: 0.01 });
 *   loss.backward(); opt.step(); opt.zeroGrad();
 */

import { adamwArena, sgdMomentumArena } from "../tensor/engine.ts";
import { type AdamWScalars, arenaReference, SGD_FLAGS } from "../tensor/kernels.ts";
import type { Tensor } from "../tensor/tensor.ts";

const f = Math.fround;

/** What every optimizer offers the training loop: a settable learning rate, step, state. */
export interface Optimizer {
  /** the learning rate of the next step (a schedule sets it before each step) */
  lr: number;
  readonly params: Tensor[];
  step(): void;
  /** `zero_grad(set_to_none=True)` */
  zeroGrad(): void;
  /** JSON-able state (moments as plain arrays) for exact resume */
  stateDict(): OptimizerState;
  loadStateDict(s: OptimizerState): void;
}

/**
 * An optimizer whose per-parameter state can move into a training plan's arena as blocks laid out
 * like the parameter block (src/train/plan.ts), so that one kernel call updates every parameter.
 */
export interface BlockOptimizer extends Optimizer {
  /** the state, one list per kind (AdamW: exp_avg, exp_avg_sq), one buffer per parameter */
  stateBuffers(): Float32Array[][];
  /**
   * After a capture: the state now lives in `views` (same shape as stateBuffers()), and `blocks`
   * are the whole parameter, gradient and state blocks (in that order) as the plan laid them out.
   * `grads` are the gradient tensors the blocks hold: a step may take the one-call path only while
   * every parameter's `.grad` is still that tensor.
   */
  adoptState(views: Float32Array[][], blocks: Float32Array[], grads: (Tensor | null)[]): void;
}

export interface OptimizerState {
  kind: string;
  step: number;
  /** per parameter, per buffer name, the values */
  buffers: Record<string, number[]>[];
}

function zeroGrad(params: Tensor[]): void {
  for (const p of params) p.grad = null;
}

function loadBuffers(params: Tensor[], s: OptimizerState, kind: string, names: string[]): Float32Array[][] {
  if (s.kind !== kind) throw new Error(`optimizer state is for ${s.kind}, not ${kind}`);
  if (s.buffers.length !== params.length)
    throw new Error(`optimizer state has ${s.buffers.length} parameters, the model ${params.length}`);
  return s.buffers.map((b, i) =>
    names.map((n) => {
      const v = b[n];
      if (!v) return new Float32Array(0);
      if (v.length !== params[i].numel())
        throw new Error(`optimizer state ${n} of parameter ${i} has the wrong size`);
      return Float32Array.from(v);
    }),
  );
}

export interface AdamWOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
}

/**
 * Where a captured training plan laid out the parameters, their gradients and the optimizer's
 * state (BlockOptimizer.adoptState): while every parameter still has that storage and gradient,
 * one kernel call over the blocks updates them all.
 */
class PlanBlocks {
  /** the plan's blocks (parameters, gradients, then the state buffers), or null before adoption */
  blocks: Float32Array[] | null = null;
  private grads: (Tensor | null)[] = [];
  private storages: Float32Array[] = [];
  adopt(params: readonly Tensor[], blocks: Float32Array[], grads: (Tensor | null)[]): void {
    this.blocks = blocks;
    this.grads = grads;
    this.storages = params.map((p) => p.storage);
  }
  /** Whether parameter i, `p`, still has the storage and the gradient the plan laid out. */
  holds(p: Tensor, i: number): boolean {
    return p.grad !== null && p.grad === this.grads[i] && p.storage === this.storages[i];
  }
}

/**
 * `torch.optim.AdamW` (defaults: makemore.py's lr 5e-4, betas (0.9, 0.99), eps 1e-8, weight
 * decay 0.01; torch's own are 1e-3, (0.9, 0.999), 1e-8, 0.01). Per step t, for every parameter:
 *   p = p (1 - lr wd)                       decoupled weight decay
 *   m = b1 m + (1 - b1) g ;  v = b2 v + (1 - b2) g^2
 *   p = p - (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 */
export class AdamW implements BlockOptimizer {
  lr: number;
  readonly betas: [number, number];
  readonly eps: number;
  weightDecay: number;
  stepCount = 0;
  private expAvg: Float32Array[];
  private expAvgSq: Float32Array[];
  constructor(
    readonly params: Tensor[],
    opts: AdamWOptions = {},
  ) {
    this.lr = opts.lr ?? 5e-4;
    this.betas = opts.betas ?? [0.9, 0.99];
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0.01;
    this.expAvg = params.map((p) => new Float32Array(p.numel()));
    this.expAvgSq = params.map((p) => new Float32Array(p.numel()));
  }
  step(): void {
    this.stepCount++;
    const [b1, b2] = this.betas;
    const t = this.stepCount;
    const lr = this.lr;
    const bc1 = 1 - b1 ** t;
    // decay, b1, b2, one1, one2, bc2sqrt, negStep, eps (src/tensor/kernels.ts AdamWScalars)
    const s: AdamWScalars = [
      f(1 - lr * this.weightDecay),
      f(b1),
      f(b2),
      f(1 - b1),
      f(1 - b2),
      f(Math.sqrt(1 - b2 ** t)),
      f(-(lr / bc1)),
      f(this.eps),
    ];
    // the kernel (assembly/arena.ts adamw, or its twin) runs torch's float32 op sequence per element:
    //   p = p * (1 - lr wd)                                  param.mul_(1 - lr * wd)
    //   m = fma(g, 1 - b1, m * b1)                           exp_avg.mul_(b1).add_(grad, alpha=1 - b1)
    //   v = fma((1 - b2) g, g, v * b2)                       exp_avg_sq.mul_(b2).addcmul_(grad, grad, value=1 - b2)
    //   p = p + (-step_size m) / (sqrt(v) / sqrt(bc2) + eps) param.addcdiv_(exp_avg, denom, value=-step_size)
    // (the multiply-adds fused as torch's AVX2 build compiles them; checked bit for bit)
    const run = (w: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array) => {
      if (!adamwArena(w, g, m, v, ...s)) arenaReference.adamw(w, g, m, v, ...s);
    };
    if (this.blocksCover()) {
      // one call over the plan's blocks (their zero padding stays zero)
      const [w, g, m, v] = this.plan.blocks as Float32Array[];
      run(w, g, m, v);
      return;
    }
    this.params.forEach((p, i) => {
      if (!p.grad) return; // torch skips parameters without a gradient
      run(p.storage, p.grad.storage, this.expAvg[i], this.expAvgSq[i]);
    });
  }
  private readonly plan = new PlanBlocks();
  /** Whether the plan's blocks hold exactly the current parameters, gradients and moments. */
  private blocksCover(): boolean {
    if (!this.plan.blocks) return false;
    for (let i = 0; i < this.params.length; i++) {
      if (!this.plan.holds(this.params[i], i)) return false;
      if (this.expAvg[i] !== this.blockState[0][i] || this.expAvgSq[i] !== this.blockState[1][i])
        return false;
    }
    return true;
  }
  private blockState: Float32Array[][] = [[], []];
  stateBuffers(): Float32Array[][] {
    return [this.expAvg, this.expAvgSq];
  }
  adoptState(views: Float32Array[][], blocks: Float32Array[], grads: (Tensor | null)[]): void {
    this.expAvg = views[0];
    this.expAvgSq = views[1];
    this.blockState = [views[0], views[1]];
    this.plan.adopt(this.params, blocks, grads);
  }
  zeroGrad(): void {
    zeroGrad(this.params);
  }
  stateDict(): OptimizerState {
    return {
      kind: "adamw",
      step: this.stepCount,
      buffers: this.params.map((_, i) => ({
        exp_avg: Array.from(this.expAvg[i]),
        exp_avg_sq: Array.from(this.expAvgSq[i]),
      })),
    };
  }
  loadStateDict(s: OptimizerState): void {
    const bufs = loadBuffers(this.params, s, "adamw", ["exp_avg", "exp_avg_sq"]);
    this.stepCount = s.step;
    this.expAvg = bufs.map((b) => b[0]);
    this.expAvgSq = bufs.map((b) => b[1]);
  }
}

export interface SGDOptions {
  lr?: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

/**
 * `torch.optim.SGD`: with weight decay d = g + wd p; with momentum the buffer starts as d and
 * then buf = momentum buf + (1 - dampening) d; Nesterov uses d + momentum buf; p -= lr d.
 */
export class SGD implements BlockOptimizer {
  lr: number;
  readonly momentum: number;
  readonly dampening: number;
  weightDecay: number;
  readonly nesterov: boolean;
  stepCount = 0;
  /** the momentum buffers (allocated up front, so a plan can lay them out in its arena) */
  private buf: Float32Array[];
  /** whether a parameter's buffer holds a value yet (torch creates it at its first update) */
  private started: boolean[];
  constructor(
    readonly params: Tensor[],
    opts: SGDOptions = {},
  ) {
    this.lr = opts.lr ?? 0.1;
    this.momentum = opts.momentum ?? 0;
    this.dampening = opts.dampening ?? 0;
    this.weightDecay = opts.weightDecay ?? 0;
    this.nesterov = opts.nesterov ?? false;
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0))
      throw new RangeError("Nesterov momentum requires a momentum and zero dampening");
    this.buf = params.map((p) => new Float32Array(this.momentum !== 0 ? p.numel() : 0));
    this.started = params.map(() => false);
  }
  step(): void {
    this.stepCount++;
    const negLr = f(-this.lr);
    const wd = f(this.weightDecay);
    const mom = f(this.momentum);
    const damp = f(1 - this.dampening);
    const flags =
      (this.weightDecay !== 0 ? SGD_FLAGS.decay : 0) |
      (this.momentum !== 0 ? SGD_FLAGS.momentum : 0) |
      (this.nesterov ? SGD_FLAGS.nesterov : 0);
    // the kernel (assembly/arena.ts sgdMomentum, or its twin) runs torch's float32 op sequence per
    // element, its multiply-adds fused: d = fma(w, wd, g); b = d (first) or fma(d, 1 - dampening,
    // b * momentum); d = fma(b, momentum, d) (Nesterov) or b; w = fma(d, -lr, w)
    const run = (w: Float32Array, g: Float32Array, b: Float32Array | null, first: boolean) => {
      const fl = flags | (first ? SGD_FLAGS.first : 0);
      if (!sgdMomentumArena(w, g, b, wd, mom, damp, negLr, fl))
        arenaReference.sgdMomentum(w, g, b, wd, mom, damp, negLr, fl);
    };
    const mb = this.momentum !== 0;
    if (this.blocksCover()) {
      // one call over the plan's blocks (their zero padding stays zero): every buffer is at the
      // same stage (blocksCover checks it)
      const [w, g, b] = this.plan.blocks as Float32Array[];
      run(w, g, mb ? b : null, mb && !this.started[0]);
      this.started.fill(true);
      return;
    }
    this.params.forEach((p, i) => {
      if (!p.grad) return; // torch skips parameters without a gradient
      run(p.storage, p.grad.storage, mb ? this.buf[i] : null, mb && !this.started[i]);
      this.started[i] = true;
    });
  }
  private readonly plan = new PlanBlocks();
  private blockBuf: Float32Array[] = [];
  /** Whether the plan's blocks hold exactly the current parameters, gradients and buffers. */
  private blocksCover(): boolean {
    if (!this.plan.blocks) return false;
    for (let i = 0; i < this.params.length; i++) {
      if (!this.plan.holds(this.params[i], i)) return false;
      if (this.momentum !== 0 && (this.buf[i] !== this.blockBuf[i] || this.started[i] !== this.started[0]))
        return false;
    }
    return true;
  }
  stateBuffers(): Float32Array[][] {
    return this.momentum !== 0 ? [this.buf] : [];
  }
  adoptState(views: Float32Array[][], blocks: Float32Array[], grads: (Tensor | null)[]): void {
    if (this.momentum !== 0) {
      this.buf = views[0];
      this.blockBuf = views[0];
    }
    this.plan.adopt(this.params, blocks, grads);
  }
  zeroGrad(): void {
    zeroGrad(this.params);
  }
  stateDict(): OptimizerState {
    return {
      kind: "sgd",
      step: this.stepCount,
      buffers: this.buf.map(
        (b, i): Record<string, number[]> =>
          this.momentum !== 0 && this.started[i] ? { momentum_buffer: Array.from(b) } : {},
      ),
    };
  }
  loadStateDict(s: OptimizerState): void {
    const bufs = loadBuffers(this.params, s, "sgd", ["momentum_buffer"]);
    this.stepCount = s.step;
    this.started = bufs.map((b) => b[0].length > 0);
    this.buf = bufs.map((b, i) =>
      b[0].length ? b[0] : new Float32Array(this.momentum !== 0 ? this.params[i].numel() : 0),
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Choosing an optimizer and a learning-rate schedule from a run's config

export type OptimizerKind = "sgd" | "adamw";
export type LrSchedule = "step" | "constant" | "cosine";

/** The optimizer fields of a TrainConfig (all optional: the lecture's plain SGD by default). */
export interface OptimizerConfig {
  /** "sgd" (default) or "adamw" */
  optimizer?: OptimizerKind;
  /** AdamW's decoupled decay (default 0.01) or SGD's L2 term (default 0) */
  weightDecay?: number;
  /** SGD momentum (default 0) */
  momentum?: number;
  /** AdamW betas (default makemore.py's [0.9, 0.99]) */
  betas?: [number, number];
  /** AdamW eps (default 1e-8) */
  eps?: number;
  /** "step" (default: learningRate, then lrDecayTo from lrDecayStep), "constant", "cosine" */
  lrSchedule?: LrSchedule;
  /** linear warm-up from 0 over this many steps (default 0) */
  warmupSteps?: number;
}

/**
 * The optimizer a config asks for, or null for the lecture's plain update
 * (`p.data += -lr * p.grad`, which `sgdStep` does): SGD without momentum or weight decay.
 */
export function makeOptimizer(
  cfg: OptimizerConfig & { learningRate: number },
  params: Tensor[],
): Optimizer | null {
  if (cfg.optimizer === "adamw") {
    return new AdamW(params, {
      lr: cfg.learningRate,
      betas: cfg.betas,
      eps: cfg.eps,
      weightDecay: cfg.weightDecay ?? 0.01,
    });
  }
  if ((cfg.momentum ?? 0) === 0 && (cfg.weightDecay ?? 0) === 0) return null;
  return new SGD(params, { lr: cfg.learningRate, momentum: cfg.momentum, weightDecay: cfg.weightDecay });
}

/**
 * The learning rate at `step` (0-based) of `maxSteps`:
 *   step:     base before lrDecayStep, lrDecayTo from it (the lecture's 0.1 -> 0.01 at 100,000)
 *   constant: base (makemore.py)
 *   cosine:   lrDecayTo + (base - lrDecayTo) (1 + cos(pi p)) / 2, p = progress after warm-up
 * then, during the first warmupSteps steps, times (step + 1) / warmupSteps.
 */
export function scheduledLr(
  cfg: OptimizerConfig & { learningRate: number; lrDecayStep: number; lrDecayTo: number; maxSteps: number },
  step: number,
): number {
  const base = cfg.learningRate;
  const warm = cfg.warmupSteps ?? 0;
  let lr: number;
  switch (cfg.lrSchedule ?? "step") {
    case "constant":
      lr = base;
      break;
    case "cosine": {
      const span = Math.max(1, cfg.maxSteps - warm);
      const p = Math.min(1, Math.max(0, (step - warm) / span));
      lr = cfg.lrDecayTo + ((base - cfg.lrDecayTo) * (1 + Math.cos(Math.PI * p))) / 2;
      break;
    }
    default:
      lr = step < cfg.lrDecayStep ? base : cfg.lrDecayTo;
  }
  return step < warm ? (lr * (step + 1)) / warm : lr;
}
