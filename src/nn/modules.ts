/**
 * Layers, shaped like the lecture's hand-written classes (which mirror torch.nn):
 * `Linear` stores its weight as (fan_in, fan_out) and computes x @ W + b; `BatchNorm1d` keeps
 * gamma/beta parameters and running statistics as buffers; every layer keeps its last output in
 * `.out` for diagnostics (the lecture's histograms read `layer.out` and `layer.out.grad`).
 *
 *   const g = new Generator().manualSeed(2147483647);
 *   const layer = new Linear(30, 100, { generator: g, bias: false });
 *   const h = new Tanh().forward(layer.forward(x));
 */

import type { Generator } from "../random/generator.ts";
import {
  type BatchNormVariant,
  batchNormEval,
  batchNormTrain,
  linear,
  updateRunningStats,
} from "../tensor/fused.ts";
import { randn } from "../tensor/random.ts";
import { ones, type Tensor, zeros } from "../tensor/tensor.ts";

/** Recommended gains for Kaiming init (torch.nn.init.calculate_gain). */
export const GAINS = {
  linear: 1,
  identity: 1,
  tanh: 5 / 3,
  relu: Math.SQRT2,
} as const;
export type Nonlinearity = keyof typeof GAINS;

/**
 * The fields of `owner` that are set, as [name, value] pairs in the order given. The order is
 * PyTorch's registration order (it fixes state_dict names and order), and a field that is null
 * (a Linear without bias) is left out, as torch leaves out a parameter registered as None:
 * `named(this, "weight", "bias")`, `named(this, "ln_1", "attn", "ln_2", "mlp")`.
 */
export function named<T, K extends keyof T & string>(owner: T, ...names: K[]): [K, NonNullable<T[K]>][] {
  const out: [K, NonNullable<T[K]>][] = [];
  for (const n of names) {
    const v = owner[n];
    if (v !== null && v !== undefined) out.push([n, v]);
  }
  return out;
}

/** Base class: parameters, buffers, children, train/eval. */
export abstract class Module {
  /** Training mode (batch statistics in BatchNorm) vs eval mode (running statistics). */
  training = true;
  /** The last forward output (kept for diagnostics; `retainGrad` it to read `.out.grad`). */
  out: Tensor | null = null;
  /** When true, `forward` calls `retainGrad()` on its output so diagnostics can read `out.grad`. */
  retainOutGrad = false;

  abstract forward(x: Tensor): Tensor;

  /** Own parameters (not children's), by local name. */
  protected ownParameters(): [string, Tensor][] {
    return [];
  }
  /** Own buffers (running statistics), by local name. */
  protected ownBuffers(): [string, Tensor][] {
    return [];
  }
  /** Direct submodules, by local name. */
  children(): [string, Module][] {
    return [];
  }

  /** All parameters with dotted names, depth first: `["layers.0.weight", W], ...`. */
  namedParameters(prefix = ""): [string, Tensor][] {
    return this.namedTensors(prefix, (m) => m.ownParameters());
  }
  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }
  /** All buffers (running statistics) with dotted names, depth first, as `namedParameters`. */
  namedBuffers(prefix = ""): [string, Tensor][] {
    return this.namedTensors(prefix, (m) => m.ownBuffers());
  }
  private namedTensors(prefix: string, own: (m: Module) => [string, Tensor][]): [string, Tensor][] {
    const out: [string, Tensor][] = own(this).map(([n, t]) => [prefix + n, t]);
    for (const [name, child] of this.children()) out.push(...child.namedTensors(`${prefix}${name}.`, own));
    return out;
  }
  buffers(): Tensor[] {
    return this.namedBuffers().map(([, t]) => t);
  }
  /** Every module in the tree, this one first. */
  modules(): Module[] {
    return [this, ...this.children().flatMap(([, c]) => c.modules())];
  }

  /** Set training mode on the whole tree. */
  train(mode = true): this {
    for (const m of this.modules()) m.training = mode;
    return this;
  }
  eval(): this {
    return this.train(false);
  }

  /** Parameters and buffers by name (the checkpoint contents). */
  stateDict(): Record<string, Tensor> {
    return Object.fromEntries([...this.namedParameters(), ...this.namedBuffers()]);
  }
  /** Copy values into parameters and buffers; every name must match with the same shape. */
  loadStateDict(state: Record<string, { shape: readonly number[]; data: Float32Array }>): void {
    const mine = this.stateDict();
    for (const name of Object.keys(mine)) {
      if (!(name in state)) throw new Error(`checkpoint is missing ${name}`);
    }
    for (const [name, src] of Object.entries(state)) {
      const dst = mine[name];
      if (!dst) throw new Error(`checkpoint has an unexpected tensor ${name}`);
      if (dst.numel() !== src.data.length || dst.shape.join(",") !== src.shape.join(",")) {
        throw new Error(
          `checkpoint tensor ${name} has shape (${src.shape}), the model expects (${dst.shape})`,
        );
      }
      dst.storage.set(src.data);
    }
  }

  /** Total number of parameter elements. */
  numParameters(): number {
    return this.parameters().reduce((s, p) => s + p.numel(), 0);
  }

  /** Record `.out` (and retain its gradient when asked); layers call this on their output. */
  protected keep(out: Tensor): Tensor {
    this.out = out;
    if (this.retainOutGrad && out.requiresGrad) out.retainGrad();
    return out;
  }

  /** A short description for logs, like PyTorch's repr. */
  describe(): string {
    return this.constructor.name;
  }
}

export interface LinearOptions {
  bias?: boolean;
  generator?: Generator;
  /** Multiply the initial weight by this gain after the 1/sqrt(fan_in) scaling. */
  gain?: number;
  /** Start from this weight (fan_in, fan_out) and bias (fan_out,) instead of drawing. */
  weight?: Tensor;
  biasInit?: Tensor;
}

/** y = x @ W + b with W (fan_in, fan_out) drawn as randn / sqrt(fan_in) * gain; b = 0. */
export class Linear extends Module {
  weight: Tensor;
  bias: Tensor | null;
  constructor(
    readonly fanIn: number,
    readonly fanOut: number,
    opts: LinearOptions = {},
  ) {
    super();
    if (opts.weight) this.weight = opts.weight;
    else {
      // the lecture: torch.randn((fan_in, fan_out), generator=g) / fan_in**0.5, then weight *= gain
      let w = randn([fanIn, fanOut], { generator: opts.generator }).div(fanIn ** 0.5);
      if (opts.gain !== undefined && opts.gain !== 1) w = w.mul(opts.gain);
      this.weight = w;
    }
    this.weight.requiresGrad_();
    this.bias = opts.bias === false ? null : (opts.biasInit ?? zeros([fanOut])).requiresGrad_();
  }
  /** (B, I) -> (B, O); a (B, T, I) input is multiplied position by position -> (B, T, O), as torch's x @ W. */
  forward(x: Tensor): Tensor {
    if (x.ndim <= 2) return this.keep(linear(x, this.weight, this.bias));
    // (B, T, I) -> (B*T, I) @ (I, O) -> (B, T, O): torch folds the leading dims into one mm too
    const lead = x.shape.slice(0, -1);
    return this.keep(linear(x.view(-1, this.fanIn), this.weight, this.bias).view([...lead, this.fanOut]));
  }
  protected override ownParameters(): [string, Tensor][] {
    return named(this, "weight", "bias");
  }
  override describe(): string {
    return `Linear(${this.fanIn}, ${this.fanOut}${this.bias ? "" : ", bias=False"})`;
  }
}

export interface BatchNormOptions {
  /** Which BatchNorm (see docs): "torch" (default), "lecture" or "lecture-std". */
  variant?: BatchNormVariant;
  eps?: number;
  momentum?: number;
  /** Parameter shape: (H,) like the lecture's class and torch, or (1, H) like the BN-MLP. */
  keepdimParams?: boolean;
  /**
   * Normalise each of the T positions of a (B, T, H) input separately, with statistics over dim 0
   * only and running statistics of shape (T, H): the lecture's "bug in batchnorm" (part 5), kept
   * to show what it does. Without it a (B, T, H) input is normalised over dims (0, 1).
   */
  perPosition?: number;
}

/** The variants' defaults: eps and momentum as the lecture and PyTorch use them. */
export const BATCHNORM_DEFAULTS: Record<BatchNormVariant, { eps: number; momentum: number }> = {
  "lecture-std": { eps: 0, momentum: 0.001 },
  lecture: { eps: 1e-5, momentum: 0.1 },
  torch: { eps: 1e-5, momentum: 0.1 },
};

/**
 * BatchNorm over the batch dimension of (B, H). Training mode normalises with batch statistics
 * and updates the running buffers (`running = (1 - momentum) * running + momentum * batch`);
 * eval mode uses the running buffers.
 *
 * | variant       | normalise with        | eps  | running stats        | momentum |
 * | "lecture-std" | unbiased std          | none | mean and std         | 0.001    |
 * | "lecture"     | unbiased var + eps    | 1e-5 | mean and var         | 0.1      |
 * | "torch"       | biased var + eps      | 1e-5 | mean and unbiased var| 0.1      |
 */
export class BatchNorm1d extends Module {
  readonly variant: BatchNormVariant;
  eps: number;
  momentum: number;
  gamma: Tensor;
  beta: Tensor;
  runningMean: Tensor;
  /**
   * The running spread: the std for "lecture-std" (the lecture's `bnstd_running`, saved as
   * `running_std`), the unbiased variance otherwise (torch's `running_var`). `runningStd` and
   * `runningVar` name it for the variants that hold that quantity.
   */
  runningSpread: Tensor;
  /** T when each position of a (B, T, H) input is normalised separately (see BatchNormOptions) */
  readonly perPosition: number | undefined;
  constructor(
    readonly dim: number,
    opts: BatchNormOptions = {},
  ) {
    super();
    this.variant = opts.variant ?? "torch";
    const d = BATCHNORM_DEFAULTS[this.variant];
    this.eps = opts.eps ?? d.eps;
    this.momentum = opts.momentum ?? d.momentum;
    const shape = opts.keepdimParams ? [1, dim] : [dim];
    this.gamma = ones(shape).requiresGrad_();
    this.beta = zeros(shape).requiresGrad_();
    this.perPosition = opts.perPosition;
    const running = this.perPosition === undefined ? shape : [this.perPosition, dim];
    this.runningMean = zeros(running);
    this.runningSpread = ones(running);
  }
  /** The running variance (torch's `running_var`); "lecture-std" keeps a std instead. */
  get runningVar(): Tensor {
    if (this.variant === "lecture-std")
      throw new RangeError("BatchNorm1d(variant=lecture-std) keeps a running std: use runningStd");
    return this.runningSpread;
  }
  /** The running std (the lecture's `bnstd_running`), kept only by "lecture-std". */
  get runningStd(): Tensor {
    if (this.variant !== "lecture-std")
      throw new RangeError(`BatchNorm1d(variant=${this.variant}) keeps a running variance: use runningVar`);
    return this.runningSpread;
  }
  /**
   * (B, H) -> (B, H), statistics over dim 0; (B, T, H) -> (B, T, H), statistics over dims (0, 1)
   * as the lecture's class computes them for 3-D input (every position of every example is one
   * sample of each of the H channels), or per position over dim 0 with `perPosition`.
   */
  forward(x: Tensor): Tensor {
    if (x.ndim === 3 && this.perPosition !== undefined) return this.keep(this.forwardPerPosition(x));
    if (x.ndim === 3) {
      // (B, T, H) -> (B*T, H): reducing over dims (0, 1) is reducing the folded dim 0
      const [B, T, H] = x.shape;
      return this.keep(this.forward2d(x.view(B * T, H)).view(B, T, H));
    }
    return this.keep(this.forward2d(x));
  }

  private forward2d(x: Tensor): Tensor {
    if (!this.training) {
      return batchNormEval(
        x,
        this.gamma,
        this.beta,
        this.runningMean,
        this.runningSpread,
        this.variant,
        this.eps,
      );
    }
    const { out, stats } = batchNormTrain(x, this.gamma, this.beta, this.variant, this.eps);
    // running = (1 - m) * running + m * batch, in float32 as the lecture writes it (a launched kernel)
    updateRunningStats(this.runningMean, this.runningSpread, stats, this.momentum);
    return out;
  }

  /**
   * The lecture's "bug": x (B, T, H) with mean and var over dim 0 only -> (1, T, H) statistics,
   * composed from ops as the notebook writes it: xhat = (x - xmean) / sqrt(xvar + eps) (or / std
   * for "lecture-std"; biased var for "torch"), out = gamma * xhat + beta.
   */
  private forwardPerPosition(x: Tensor): Tensor {
    const [, T, H] = x.shape;
    if (T !== this.perPosition || H !== this.dim) {
      throw new RangeError(
        `BatchNorm1d(${this.dim}, perPosition=${this.perPosition}) got input (${x.shape.join(", ")})`,
      );
    }
    let mean: Tensor;
    let spread: Tensor; // what the running buffer tracks: std (lecture-std) or unbiased var
    let sigma: Tensor;
    if (this.training) {
      mean = x.mean(0, { keepdim: true }); // (1, T, H)
      if (this.variant === "lecture-std") {
        // x.std(0); with an eps, (x.var(0) + eps).sqrt(), as the flat kernels compute it
        spread =
          this.eps === 0 ? x.std(0, { keepdim: true }) : x.var(0, { keepdim: true }).add(this.eps).sqrt();
        sigma = spread;
      } else {
        spread = x.var(0, { keepdim: true });
        const v = this.variant === "torch" ? x.var(0, { keepdim: true, unbiased: false }) : spread;
        sigma = v.add(this.eps).sqrt();
      }
      updateRunningStats(
        this.runningMean,
        this.runningSpread,
        { mean: mean.storage, spread: spread.storage },
        this.momentum,
      );
    } else {
      mean = this.runningMean; // (T, H)
      sigma = this.variant === "lecture-std" ? this.runningSpread : this.runningSpread.add(this.eps).sqrt();
    }
    const centered = x.sub(mean);
    if (this.variant === "lecture-std") return this.gamma.mul(centered).div(sigma).add(this.beta);
    return this.gamma.mul(centered.div(sigma)).add(this.beta);
  }

  protected override ownParameters(): [string, Tensor][] {
    return named(this, "gamma", "beta");
  }
  protected override ownBuffers(): [string, Tensor][] {
    return [
      ["running_mean", this.runningMean],
      [this.variant === "lecture-std" ? "running_std" : "running_var", this.runningSpread],
    ];
  }
  override describe(): string {
    const per = this.perPosition === undefined ? "" : `, perPosition=${this.perPosition}`;
    return `BatchNorm1d(${this.dim}, variant=${this.variant}${per})`;
  }
}

/** Elementwise tanh. */
export class Tanh extends Module {
  forward(x: Tensor): Tensor {
    return this.keep(x.tanh());
  }
}

/** Elementwise ReLU. */
export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return this.keep(x.relu());
  }
}

/** Lookup table: (B, T) int64 -> (B, T, C). The lecture's `C[Xb]`. */
export class Embedding extends Module {
  weight: Tensor;
  constructor(
    readonly numEmbeddings: number,
    readonly embeddingDim: number,
    opts: { generator?: Generator; weight?: Tensor } = {},
  ) {
    super();
    this.weight = (
      opts.weight ?? randn([numEmbeddings, embeddingDim], { generator: opts.generator })
    ).requiresGrad_();
  }
  forward(x: Tensor): Tensor {
    return this.keep(this.weight.index(x));
  }
  protected override ownParameters(): [string, Tensor][] {
    return [["weight", this.weight]];
  }
  override describe(): string {
    return `Embedding(${this.numEmbeddings}, ${this.embeddingDim})`;
  }
}

/** (B, T, C) -> (B, T*C): the lecture's `emb.view(emb.shape[0], -1)`. */
export class Flatten extends Module {
  forward(x: Tensor): Tensor {
    return this.keep(x.view(x.shape[0], -1));
  }
}

/**
 * (B, T, C) -> (B, T/n, C*n): concatenate each run of n consecutive positions, the lecture's
 * `x.view(B, T//n, C*n)`; when one position remains the result is squeezed to (B, C*n).
 * The WaveNet fuses pairs of characters, then pairs of pairs, ... with it.
 */
export class FlattenConsecutive extends Module {
  constructor(readonly n: number) {
    super();
    if (!Number.isInteger(n) || n < 1)
      throw new RangeError(`FlattenConsecutive needs a positive n, got ${n}`);
  }
  forward(x: Tensor): Tensor {
    if (x.ndim !== 3)
      throw new RangeError(`FlattenConsecutive expects (B, T, C), got (${x.shape.join(", ")})`);
    const [B, T, C] = x.shape;
    if (T % this.n !== 0)
      throw new RangeError(`FlattenConsecutive(${this.n}): T = ${T} is not a multiple of ${this.n}`);
    const y = x.view(B, T / this.n, C * this.n);
    return this.keep(T / this.n === 1 ? y.squeeze(1) : y);
  }
  override describe(): string {
    return `FlattenConsecutive(${this.n})`;
  }
}

/** Layers applied in order; named "0", "1", ... like torch.nn.Sequential. */
export class Sequential extends Module {
  readonly layers: Module[];
  constructor(layers: Module[]) {
    super();
    this.layers = layers;
  }
  forward(x: Tensor): Tensor {
    for (const layer of this.layers) x = layer.forward(x);
    return this.keep(x);
  }
  override children(): [string, Module][] {
    return this.layers.map((l, i) => [String(i), l]);
  }
  override describe(): string {
    return `Sequential(\n${this.layers.map((l, i) => `  (${i}): ${l.describe()}`).join("\n")}\n)`;
  }
}
