/**
 * The training loop of the lecture: minibatch SGD with a step-decay learning rate.
 *
 *   for i in range(max_steps):
 *     ix = torch.randint(0, Xtr.shape[0], (batch_size,), generator=g)
 *     loss = model(Xtr[ix], Ytr[ix]); for p: p.grad = None; loss.backward()
 *     lr = 0.1 if i < 100000 else 0.01; for p: p.data += -lr * p.grad
 *
 * The loop owns nothing but the step: logging, checkpoints and diagnostics subscribe through
 * hooks, so the same loop serves the CLI, the experiments, the dashboard and the tests.
 *
 * The step is captured once and replayed (src/train/plan.ts over src/tensor/engine.ts) for every
 * model: the same kernels as the eager graph, in WebAssembly on buffers laid out once, leaving
 * `layer.out`, `layer.out.grad` (where `retainOutGrad` asks) and `p.grad` exactly where the eager
 * step leaves them -- as views of buffers that the next step overwrites.
 */

import {
  ContextWindows,
  type Examples,
  exampleBlockSize,
  exampleCount,
  gatherExamples,
  targetWidth,
} from "../data/dataset.ts";
import { UserError } from "../errors.ts";
import type { LanguageModel } from "../models/index.ts";
import type { Module } from "../nn/modules.ts";
import type { Generator } from "../random/generator.ts";
import { kernels } from "../tensor/kernels.ts";
import { Tensor } from "../tensor/tensor.ts";
import { makeOptimizer, type Optimizer, type OptimizerConfig, scheduledLr } from "./optim.ts";
import { trainStep } from "./plan.ts";

export interface TrainConfig extends OptimizerConfig {
  /** steps to train; -1: until stopped (makemore.py's --max-steps -1) */
  maxSteps: number;
  batchSize: number;
  /** learning rate before the decay step */
  learningRate: number;
  /** step at which the learning rate drops (the lecture: 100,000); >= maxSteps for none */
  lrDecayStep: number;
  /** learning rate after the decay step (the lecture: 0.01) */
  lrDecayTo: number;
}

export const LECTURE_TRAIN: TrainConfig = {
  maxSteps: 200_000,
  batchSize: 32,
  learningRate: 0.1,
  lrDecayStep: 100_000,
  lrDecayTo: 0.01,
};

let cropping = true;

/**
 * Switch the cropping of causal models' minibatches (`croppedWidth`) on or off (off: every step
 * on the whole (B, T) minibatch, as makemore.py computes it). Returns the previous setting.
 */
export function setCropping(on: boolean): boolean {
  const prev = cropping;
  cropping = on;
  return prev;
}

/** The schedule (default the lecture's step decay: `lr = 0.1 if i < 100000 else 0.01`). */
export function learningRateAt(cfg: TrainConfig, step: number): number {
  return scheduledLr(cfg, step);
}

/** Reject numbers that cannot train (one clear line each). */
export function validateTrainConfig(cfg: TrainConfig, trainSize: number): void {
  const { maxSteps, batchSize, learningRate, lrDecayTo, lrDecayStep } = cfg;
  if (!Number.isInteger(maxSteps) || maxSteps < -1 || maxSteps > 1e9) {
    throw new UserError(
      `--max-steps must be a whole number from 0 to 1e9, or -1 to train until interrupted, got ${maxSteps}`,
    );
  }
  if (maxSteps < 0 && cfg.lrSchedule === "cosine")
    throw new UserError("--lr-schedule cosine decays over --max-steps: give a number of steps, not -1");
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new UserError(`--batch-size must be a positive integer, got ${batchSize}`);
  if (batchSize > trainSize) {
    throw new UserError(`--batch-size ${batchSize} is larger than the training set (${trainSize} examples)`);
  }
  for (const [name, v] of [
    ["--learning-rate", learningRate],
    ["--lr-decay-to", lrDecayTo],
  ] as const) {
    if (!Number.isFinite(v) || v <= 0 || v > 100)
      throw new UserError(`${name} must be a positive number up to 100, got ${v}`);
  }
  if (!Number.isInteger(lrDecayStep) || lrDecayStep < 0)
    throw new UserError(`--lr-decay-step must be a whole number, got ${lrDecayStep}`);
  if (cfg.optimizer !== undefined && cfg.optimizer !== "sgd" && cfg.optimizer !== "adamw")
    throw new UserError(`--optimizer must be sgd or adamw, got ${JSON.stringify(cfg.optimizer)}`);
  if (cfg.lrSchedule !== undefined && !["step", "constant", "cosine"].includes(cfg.lrSchedule))
    throw new UserError(
      `--lr-schedule must be step, constant or cosine, got ${JSON.stringify(cfg.lrSchedule)}`,
    );
  for (const [name, v, max] of [
    ["--weight-decay", cfg.weightDecay, 10],
    ["--momentum", cfg.momentum, 1],
  ] as const) {
    if (v !== undefined && !(Number.isFinite(v) && v >= 0 && v <= max))
      throw new UserError(`${name} must be a number from 0 to ${max}, got ${v}`);
  }
  if (cfg.warmupSteps !== undefined && !(Number.isInteger(cfg.warmupSteps) && cfg.warmupSteps >= 0))
    throw new UserError(`--warmup-steps must be a whole number, got ${cfg.warmupSteps}`);
}

/** What a hook sees after each step (the gradients are still on the parameters). */
export interface StepInfo {
  step: number;
  loss: number;
  lr: number;
  /** the minibatch's row indices (B,) */
  readonly ix: Tensor;
}

/**
 * The loop's StepInfo: `ix` is made on first read, from the loop's index buffer while this is the
 * current step (`detach` copies the rows out before the next step draws over them, for a hook that
 * keeps the info). A step no hook reads the rows of allocates no tensor.
 */
class LoopStep implements StepInfo {
  private rows: Float32Array;
  private own = false;
  private tensor: Tensor | null = null;

  constructor(
    public step: number,
    public loss: number,
    public lr: number,
    rows: Float32Array,
  ) {
    this.rows = rows;
  }

  get ix(): Tensor {
    if (!this.tensor)
      this.tensor = new Tensor(this.own ? this.rows : this.rows.slice(), [this.rows.length], "int64");
    return this.tensor;
  }

  /** The loop's buffer is about to change: keep this step's rows (unless `ix` already has them). */
  detach(): void {
    if (!this.tensor && !this.own) {
      this.rows = this.rows.slice();
      this.own = true;
    }
  }
}

export interface TrainHooks {
  /** after backward, before the update: gradients present, data not yet changed */
  beforeUpdate?(info: StepInfo): void;
  /**
   * The hooks only read the model (log, measure, checkpoint, sample): they neither swap layers or
   * tensors nor change module settings, so the loop need not check at every step whether the
   * captured plan still describes the model (src/train/plan.ts).
   */
  readOnly?: boolean;
  /**
   * Whether a hook reads this step's activations (`layer.out`, its gradient): then the step trains
   * on the whole minibatch, not on its cropped columns (see `croppedWidth`), so the activation
   * statistics are those of makemore.py's full (B, T) batch.
   */
  readsActivations?(step: number): boolean;
  /** after the update */
  afterStep?(info: StepInfo): void;
  /** return true to stop early (Ctrl-C, a NaN, a deadline) */
  shouldStop?(): boolean;
}

/** Stop reason reported by `train`. */
export type StopReason = "done" | "stopped" | "nonfinite";

/**
 * Run SGD from `startStep` to `cfg.maxSteps` (-1: until `hooks.shouldStop`) on `data`, drawing minibatches from `g`
 * (the generator that initialised the model, as in the lecture).
 */
export function train(
  model: LanguageModel,
  data: Examples,
  cfg: TrainConfig,
  g: Generator,
  hooks: TrainHooks = {},
  startStep = 0,
  /** the optimizer (its state carries across calls); default from cfg, null = the lecture's update */
  optimizer: Optimizer | null = makeOptimizer(cfg, model.parameters()),
): { step: number; reason: StopReason } {
  const N = exampleCount(data);
  const T = exampleBlockSize(data);
  const B = cfg.batchSize;
  const W = targetWidth(data);
  const ixBuf = new Float32Array(B);
  // one minibatch buffer pair for the whole run (no op keeps its inputs past the step)
  const Xb = new Tensor(new Float32Array(B * T), [B, T], "int64");
  const yShape = data instanceof ContextWindows || data.Y.shape.length !== 2 ? [B] : [B, W];
  const Yb = new Tensor(new Float32Array(B * W), yShape, "int64");
  // a causal sequence model trains on the columns up to the minibatch's last target (croppedWidth)
  const crop = cropping && model.causal === true && yShape.length === 2 && W === T;
  const cropped: { X: Tensor; Y: Tensor }[] = [];
  // per width: whether its last step ran on a plan (a width without one, while capture works, is
  // widened to the narrowest width that has one: any width from T' on is exact)
  const planned: boolean[] = [];
  model.train();
  // only hooks that may write (or the first step of this call) can change what the plan covers
  const userCode =
    !hooks.readOnly &&
    (hooks.afterStep !== undefined || hooks.shouldStop !== undefined || hooks.beforeUpdate !== undefined);
  // the hooks that see a StepInfo (none: the loop allocates nothing per step)
  const informed = hooks.beforeUpdate !== undefined || hooks.afterStep !== undefined;
  let last: LoopStep | null = null;
  let step = startStep;
  while (cfg.maxSteps < 0 || step < cfg.maxSteps) {
    if (hooks.shouldStop?.()) return { step, reason: "stopped" };
    last?.detach();
    g.randintInto(ixBuf, 0, N);
    gatherExamples(data, ixBuf, 0, B, Xb.storage, Yb.storage);
    let X = Xb;
    let Y = Yb;
    let w = crop && !hooks.readsActivations?.(step) ? croppedWidth(Yb.storage, B, T) : T;
    if (planned[w] === false) {
      let v = w + 1;
      while (v <= T && !planned[v]) v++;
      if (v <= T) w = v;
    }
    if (w < T) {
      // one tensor pair per width, so a width's plan sees the same shape arrays every time
      const c = (cropped[w] ??= {
        X: new Tensor(new Float32Array(B * w), [B, w], "int64"),
        Y: new Tensor(new Float32Array(B * w), [B, w], "int64"),
      });
      cropColumns(Xb.storage, c.X.storage, B, T, w);
      cropColumns(Yb.storage, c.Y.storage, B, T, w);
      X = c.X;
      Y = c.Y;
    }
    // forward + backward: a replayed plan, or eager (src/train/plan.ts); a plan per width
    const { loss: lossValue, plan } = trainStep(model, X, Y, userCode || step === startStep, optimizer, crop);
    if (crop) planned[w] = plan !== null;
    const lr = learningRateAt(cfg, step);
    if (!Number.isFinite(lossValue)) return { step, reason: "nonfinite" };
    const info = informed ? (last = new LoopStep(step, lossValue, lr, ixBuf)) : null;
    if (info) hooks.beforeUpdate?.(info);
    if (optimizer) {
      optimizer.lr = lr;
      optimizer.step();
    } else if (!plan?.sgd(lr)) sgdStep(model.parameters(), lr);
    step++;
    if (info) hooks.afterStep?.(info);
  }
  return { step, reason: "done" };
}

/**
 * The width a minibatch of word sequences can be cropped to: 1 + the last column holding a target
 * other than -1 (Y (B, T)). makemore.py's examples are x = [0, w...] and y = [w..., 0, -1, ...];
 * for a causal model (`LanguageModel.causal`) the logits at columns t < T' read only x[0..t], and
 * a column whose targets are all -1 adds nothing to the loss (cross_entropy's ignore_index: the
 * mean is over the counted targets) and exactly zero to every gradient. So the cropped minibatch
 * has the same loss and gradients as the whole one, in about 2/3 of the work on names.txt
 * (batch 32: T' is 9-12 of 16 for 94% of the batches, 10.55 on average); PyTorch computes all T.
 * The float32 sums over the rows (a bias's gradient, a weight's gradient as a gemm over B T rows)
 * skip rows that are exactly zero, which is bit for bit the same where the kernels sum rows in
 * order; test/crop.test.ts holds every type to the whole minibatch's losses and parameters.
 */
export function croppedWidth(Y: ArrayLike<number>, B: number, T: number): number {
  let last = 0;
  for (let b = 0; b < B; b++) {
    const row = b * T;
    for (let t = T - 1; t > last; t--) {
      if (Y[row + t] !== -1) {
        last = t;
        break;
      }
    }
  }
  return last + 1;
}

/**
 * (X, Y) cropped to `croppedWidth` columns for a causal model (`LanguageModel.causal`, cropping on:
 * `setCropping`), else as they are: the same loss, in eval mode too (src/train/session.ts
 * makemoreEvaluate).
 */
export function croppedBatch(model: LanguageModel, X: Tensor, Y: Tensor): { X: Tensor; Y: Tensor } {
  if (!cropping || model.causal !== true || Y.shape.length !== 2 || X.shape.join() !== Y.shape.join())
    return { X, Y };
  const [B, T] = X.shape;
  const w = croppedWidth(Y.storage, B, T);
  if (w === T) return { X, Y };
  const Xc = new Tensor(new Float32Array(B * w), [B, w], "int64");
  const Yc = new Tensor(new Float32Array(B * w), [B, w], "int64");
  cropColumns(X.storage, Xc.storage, B, T, w);
  cropColumns(Y.storage, Yc.storage, B, T, w);
  return { X: Xc, Y: Yc };
}

/** dst (B, w) = src (B, T)[:, :w]. */
function cropColumns(src: Float32Array, dst: Float32Array, B: number, T: number, w: number): void {
  for (let b = 0; b < B; b++) dst.set(src.subarray(b * T, b * T + w), b * w);
}

/** p.data += -lr * p.grad for every parameter (float32 product, then add, as PyTorch rounds it). */
export function sgdStep(params: Tensor[], lr: number): void {
  for (const p of params) if (p.grad) kernels().sgd(p.storage, p.grad.storage, -lr);
}

/**
 * Xtr[ix], Ytr[ix] without autograd: (B, T) and (B,) for window data, (B, T) and (B, T) for
 * sequence data (Y (N, T)).
 */
export function gatherBatch(data: Examples, ix: Tensor, T: number): { Xb: Tensor; Yb: Tensor } {
  const B = ix.numel();
  const W = targetWidth(data);
  const xb = new Float32Array(B * T);
  const yb = new Float32Array(B * W);
  gatherExamples(data, ix.storage, 0, B, xb, yb);
  const yShape = data instanceof ContextWindows || data.Y.shape.length !== 2 ? [B] : [B, W];
  return { Xb: new Tensor(xb, [B, T], "int64"), Yb: new Tensor(yb, yShape, "int64") };
}

/** Parameters that are not finite, by name (for the NaN guard's message). */
export function firstNonFinite(model: Module): string | null {
  for (const [name, p] of model.namedParameters()) {
    const g = p.grad?.storage;
    if (g) for (let i = 0; i < g.length; i++) if (!Number.isFinite(g[i])) return `${name}.grad`;
    const w = p.storage;
    for (let i = 0; i < w.length; i++) if (!Number.isFinite(w[i])) return name;
  }
  return null;
}
