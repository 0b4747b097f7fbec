/**
 * torch.nn layers as PyTorch defines them (for makemore.py's models), next to the lecture's
 * hand-written ones in modules.ts: `TorchLinear` stores its weight (out, in) and draws PyTorch's
 * default init, `LayerNorm` normalises the last dimension, `GELU` is the tanh form; plus the
 * `torch.nn.init` functions they use. With the same generator state they draw the same bits as
 * PyTorch 1.13 (src/random: uniform_ on float32 is one fused multiply-add per element).
 *
 *   const g = new Generator().manualSeed(3407);
 *   const fc = new TorchLinear(64, 256, { generator: g }); // == torch.nn.Linear(64, 256)
 */

import type { Generator } from "../random/generator.ts";
import { gelu, layerNorm, linearT } from "../tensor/nnops.ts";
import { normal_, uniform_ } from "../tensor/random.ts";
import { ones, type Tensor, zeros } from "../tensor/tensor.ts";
import { Module, named } from "./modules.ts";

// ---------------------------------------------------------------------------------------------
// torch.nn.init

/** `torch.nn.init.calculate_gain("leaky_relu", a)` = sqrt(2 / (1 + a^2)). */
export function leakyReluGain(a: number): number {
  return Math.sqrt(2 / (1 + a ** 2));
}

/**
 * `torch.nn.init.kaiming_uniform_(w, a, mode="fan_in", nonlinearity="leaky_relu")`: uniform in
 * [-bound, bound], bound = sqrt(3) * gain / sqrt(fan_in), fan_in = w.shape[1] * receptive field.
 * The double arithmetic follows PyTorch's Python line by line so the bound is the same double.
 */
export function kaimingUniform_(w: Tensor, a = 0, opts: { generator?: Generator } = {}): Tensor {
  const fan = fanIn(w);
  const gain = leakyReluGain(a);
  const std = gain / Math.sqrt(fan);
  const bound = Math.sqrt(3.0) * std;
  return uniform_(w, -bound, bound, opts);
}

/** fan_in of a weight as `torch.nn.init._calculate_fan_in_and_fan_out` computes it. */
export function fanIn(w: Tensor): number {
  if (w.ndim < 2)
    throw new RangeError("fan in can not be computed for a tensor with fewer than 2 dimensions");
  let receptive = 1;
  for (let i = 2; i < w.ndim; i++) receptive *= w.shape[i];
  return w.shape[1] * receptive;
}

export { normal_, uniform_ };

// ---------------------------------------------------------------------------------------------
// Layers

export interface TorchLinearOptions {
  bias?: boolean;
  generator?: Generator;
}

/**
 * `torch.nn.Linear(in, out, bias)`: y = x @ W^T + b, W (out, in), on (..., in) inputs.
 * Init as `reset_parameters`: kaiming_uniform_(W, a=sqrt(5)) (so W ~ U(-1/sqrt(in), 1/sqrt(in)))
 * and then, if there is a bias, b ~ U(-1/sqrt(in), 1/sqrt(in)), drawn in that order.
 */
export class TorchLinear extends Module {
  weight: Tensor;
  bias: Tensor | null;
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    opts: TorchLinearOptions = {},
  ) {
    super();
    const gen = { generator: opts.generator };
    this.weight = kaimingUniform_(zeros([outFeatures, inFeatures]), Math.sqrt(5), gen).requiresGrad_();
    if (opts.bias === false) this.bias = null;
    else {
      const bound = inFeatures > 0 ? 1 / Math.sqrt(inFeatures) : 0;
      this.bias = uniform_(zeros([outFeatures]), -bound, bound, gen).requiresGrad_();
    }
  }
  forward(x: Tensor): Tensor {
    return this.keep(linearT(x, this.weight, this.bias));
  }
  protected override ownParameters(): [string, Tensor][] {
    return named(this, "weight", "bias");
  }
  override describe(): string {
    return `Linear(in_features=${this.inFeatures}, out_features=${this.outFeatures}, bias=${this.bias ? "True" : "False"})`;
  }
}

/** `torch.nn.LayerNorm(C, eps=1e-5)` over the last dimension; weight ones, bias zeros. */
export class LayerNorm extends Module {
  weight: Tensor;
  bias: Tensor;
  constructor(
    readonly normalizedShape: number,
    readonly eps = 1e-5,
  ) {
    super();
    this.weight = ones([normalizedShape]).requiresGrad_();
    this.bias = zeros([normalizedShape]).requiresGrad_();
  }
  forward(x: Tensor): Tensor {
    return this.keep(layerNorm(x, this.weight, this.bias, this.eps));
  }
  protected override ownParameters(): [string, Tensor][] {
    return named(this, "weight", "bias");
  }
  override describe(): string {
    return `LayerNorm((${this.normalizedShape},), eps=${this.eps})`;
  }
}

/** The tanh GELU, makemore.py's `NewGELU`: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
export class GELU extends Module {
  forward(x: Tensor): Tensor {
    return this.keep(gelu(x));
  }
  override describe(): string {
    return "NewGELU()";
  }
}
