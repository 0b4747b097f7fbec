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

import { fmaF32 } from "../random/generator.ts";
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
 * `torch.optim.AdamW` (defaults: makemore.py's lr 5e-4, betas (0.9, 0.99), eps 1e-8, weight
 * decay 0.01; torch's own are 1e-3, (0.9, 0.999), 1e-8, 0.01). Per step t, for every parameter:
 *   p = p (1 - lr wd)                       decoupled weight decay
 *   m = b1 m + (1 - b1) g ;  v = b2 v + (1 - b2) g^2
 *   p = p - (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 */
export class AdamW implements Optimizer {
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
    const decay = f(1 - lr * this.weightDecay);
    const b1f = f(b1);
    const b2f = f(b2);
    const one1 = f(1 - b1);
    const one2 = f(1 - b2);
    const bc1 = 1 - b1 ** t;
    const bc2sqrt = f(Math.sqrt(1 - b2 ** t));
    const negStep = f(-(lr / bc1));
    const eps = f(this.eps);
    this.params.forEach((p, i) => {
      if (!p.grad) return; // torch skips parameters without a gradient
      const w = p.storage;
      const g = p.grad.storage;
      const m = this.expAvg[i];
      const v = this.expAvgSq[i];
      for (let j = 0; j < w.length; j++) {
        const gj = g[j];
        // param.mul_(1 - lr * wd)
        const pj = f(w[j] * decay);
        // exp_avg.mul_(b1).add_(grad, alpha=1 - b1): the add is fma(grad, alpha, self)
        const mj = fmaF32(gj, one1, f(m[j] * b1f));
        // exp_avg_sq.mul_(b2).addcmul_(grad, grad, value=1 - b2): self + (value * g) * g, the
        // last multiply-add fused (as torch's AVX2 build compiles it; checked bit for bit)
        const vj = fmaF32(f(one2 * gj), gj, f(v[j] * b2f));
        // denom = (exp_avg_sq.sqrt() / sqrt(bc2)).add_(eps)
        const denom = f(f(f(Math.sqrt(vj)) / bc2sqrt) + eps);
        // param.addcdiv_(exp_avg, denom, value=-step_size): self + value * m / denom
        w[j] = f(pj + f(f(negStep * mj) / denom));
        m[j] = mj;
        v[j] = vj;
      }
    });
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
export class SGD implements Optimizer {
  lr: number;
  readonly momentum: number;
  readonly dampening: number;
  weightDecay: number;
  readonly nesterov: boolean;
  stepCount = 0;
  private buf: (Float32Array | null)[];
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
    this.buf = params.map(() => null);
  }
  step(): void {
    this.stepCount++;
    const negLr = f(-this.lr);
    const wd = f(this.weightDecay);
    const mom = f(this.momentum);
    const damp = f(1 - this.dampening);
    this.params.forEach((p, i) => {
      if (!p.grad) return;
      const w = p.storage;
      const g = p.grad.storage;
      const first = this.buf[i] === null;
      if (this.momentum !== 0 && first) this.buf[i] = new Float32Array(w.length);
      const b = this.buf[i];
      for (let j = 0; j < w.length; j++) {
        // d_p = d_p.add(param, alpha=wd)
        let d = this.weightDecay !== 0 ? fmaF32(w[j], wd, g[j]) : g[j];
        if (b) {
          // buf = clone(d_p) on the first step, then buf.mul_(momentum).add_(d_p, alpha=1 - dampening)
          b[j] = first ? d : fmaF32(d, damp, f(b[j] * mom));
          d = this.nesterov ? fmaF32(b[j], mom, d) : b[j];
        }
        // param.add_(d_p, alpha=-lr)
        w[j] = fmaF32(d, negLr, w[j]);
      }
    });
  }
  zeroGrad(): void {
    zeroGrad(this.params);
  }
  stateDict(): OptimizerState {
    return {
      kind: "sgd",
      step: this.stepCount,
      buffers: this.buf.map((b): Record<string, number[]> => (b ? { momentum_buffer: Array.from(b) } : {})),
    };
  }
  loadStateDict(s: OptimizerState): void {
    const bufs = loadBuffers(this.params, s, "sgd", ["momentum_buffer"]);
    this.stepCount = s.step;
    this.buf = bufs.map((b) => (b[0].length ? b[0] : null));
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
