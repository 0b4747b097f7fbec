/**
 * Random tensors. Every draw goes through a `Generator` (PyTorch-exact MT19937), so a seed gives
 * PyTorch's numbers: `randn([27, 10], { generator: g })` is `torch.randn((27,10), generator=g)`.
 */

import { Generator } from "../random/generator.ts";
import { type CreateOptions, numelOf, type Shape, Tensor } from "./tensor.ts";

export interface RandomOptions extends CreateOptions {
  generator?: Generator;
}

/**
 * The generator used when none is passed, like torch's default generator. Seed it with
 * `manualSeed(s)` for reproducible runs.
 */
export const defaultGenerator = new Generator();

/** Seed the default generator, like `torch.manual_seed`. */
export function manualSeed(seed: number | bigint): Generator {
  return defaultGenerator.manualSeed(seed);
}

function finish(t: Tensor, opts: RandomOptions): Tensor {
  if (opts.requiresGrad) t.requiresGrad_();
  return t;
}

/** Standard normal samples, float32 (torch 1.13 AVX2 kernel, bit exact). */
export function randn(shape: Shape, opts: RandomOptions = {}): Tensor {
  const y = new Float32Array(numelOf(shape));
  (opts.generator ?? defaultGenerator).randnInto(y);
  return finish(new Tensor(y, shape), opts);
}

/** Uniform samples in [0, 1), float32. */
export function rand(shape: Shape, opts: RandomOptions = {}): Tensor {
  const y = new Float32Array(numelOf(shape));
  (opts.generator ?? defaultGenerator).randInto(y);
  return finish(new Tensor(y, shape), opts);
}

/** Integers in [low, high), int64, like `torch.randint(low, high, size)`. */
export function randint(low: number, high: number, shape: Shape, opts: RandomOptions = {}): Tensor {
  if (!(high > low)) throw new RangeError(`randint: high (${high}) must be greater than low (${low})`);
  const y = new Float32Array(numelOf(shape));
  (opts.generator ?? defaultGenerator).randintInto(y, low, high);
  return new Tensor(y, shape, "int64");
}

/**
 * Draw `numSamples` indices per row from (unnormalised) probabilities, like
 * `torch.multinomial(probs, numSamples, replacement, generator=g)` on torch 1.13.
 * probs (K,) -> (numSamples,); (R, K) -> (R, numSamples).
 */
export function multinomial(
  probs: Tensor,
  numSamples: number,
  opts: { replacement?: boolean; generator?: Generator } = {},
): Tensor {
  if (probs.ndim !== 1 && probs.ndim !== 2) throw new RangeError("multinomial needs a 1-d or 2-d tensor");
  const rows = probs.ndim === 2 ? probs.shape[0] : 1;
  const k = probs.shape[probs.ndim - 1];
  const p = probs.storage;
  for (let i = 0; i < p.length; i++) {
    if (!(p[i] >= 0) || !Number.isFinite(p[i])) {
      throw new RangeError("multinomial: probabilities must be finite and non-negative");
    }
  }
  const idx = (opts.generator ?? defaultGenerator).multinomial(
    p,
    rows,
    k,
    numSamples,
    opts.replacement ?? false,
  );
  const shape = probs.ndim === 2 ? [rows, numSamples] : [numSamples];
  return new Tensor(Float32Array.from(idx), shape, "int64");
}

/** A random permutation of 0..n-1, int64. */
export function randperm(n: number, opts: { generator?: Generator } = {}): Tensor {
  const p = (opts.generator ?? defaultGenerator).randperm(n);
  return new Tensor(Float32Array.from(p), [n], "int64");
}
