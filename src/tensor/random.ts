/**
 * Random tensors. Every draw goes through a `Generator` (PyTorch-exact MT19937), so a seed gives
 * PyTorch's numbers: `randn([27, 10], { generator: g })` is `torch.randn((27,10), generator=g)`.
 */

import { Generator } from "../random/generator.ts";
import { logCR } from "../random/libm.ts";
import { notCapturable } from "./engine.ts";
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
  notCapturable("randn");
  const y = new Float32Array(numelOf(shape));
  (opts.generator ?? defaultGenerator).randnInto(y);
  return finish(new Tensor(y, shape), opts);
}

/** Uniform samples in [0, 1), float32. */
export function rand(shape: Shape, opts: RandomOptions = {}): Tensor {
  notCapturable("rand");
  const y = new Float32Array(numelOf(shape));
  (opts.generator ?? defaultGenerator).randInto(y);
  return finish(new Tensor(y, shape), opts);
}

/** Integers in [low, high), int64, like `torch.randint(low, high, size)`. */
export function randint(low: number, high: number, shape: Shape, opts: RandomOptions = {}): Tensor {
  notCapturable("randint");
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
  notCapturable("multinomial");
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
  notCapturable("randperm");
  const p = (opts.generator ?? defaultGenerator).randperm(n);
  return new Tensor(Float32Array.from(p), [n], "int64");
}

/**
 * One draw of `torch.multinomial(probs, 1)` (without replacement) from one row of probabilities
 * (V,), exactly as `Generator.multinomial` makes it -- the same V uniform draws, the same float32
 * exponentials q = -log(1 - u), the argmax of probs / q -- but faster: torch rounds -log(1 - u) to
 * float32, and Math.log (within 1 ulp in float64) yields the same float32 unless the value lies
 * within 4 ulp of a float32 rounding boundary; only there (about one draw in 10^7) does the
 * correctly rounded `logCR` decide. The sampling loop's hot path. `q`: scratch of V floats.
 *
 *   const ix = multinomialOne(probs, g, new Float32Array(probs.length));
 */
export function multinomialOne(probs: Float32Array, g: Generator, q: Float32Array): number {
  const k = probs.length;
  let sum = 0;
  for (let i = 0; i < k; i++) {
    const p = probs[i];
    if (!(p >= 0) || p === Number.POSITIVE_INFINITY)
      throw new RangeError("multinomial: probs must be finite and >= 0");
    sum += p;
  }
  if (!(sum > 0)) throw new RangeError("multinomial: each row must have a positive sum");
  for (let i = 0; i < k; i++) {
    const x = 1 - g.uniformF64();
    const v = -Math.log(x);
    const f = Math.fround(v);
    q[i] = Math.fround(v * (1 + 2 ** -50)) === f && Math.fround(v * (1 - 2 ** -50)) === f ? f : -logCR(x);
  }
  let best = 0;
  let bestV = Math.fround(probs[0] / q[0]);
  for (let i = 1; i < k && !Number.isNaN(bestV); i++) {
    const v = Math.fround(probs[i] / q[i]);
    if (v > bestV || Number.isNaN(v)) {
      best = i;
      bestV = v;
    }
  }
  return best;
}

/**
 * Fill `t` in place with uniform samples in [from, to), like `t.uniform_(from, to)` on a float32
 * tensor (outside autograd, as `torch.nn.init` runs under `no_grad`).
 *
 *   uniform_(bias, -1 / Math.sqrt(fanIn), 1 / Math.sqrt(fanIn), { generator: g });
 */
export function uniform_(t: Tensor, from = 0, to = 1, opts: { generator?: Generator } = {}): Tensor {
  notCapturable("uniform");
  (opts.generator ?? defaultGenerator).uniformInto(t.storage, from, to);
  return t;
}

/** Fill `t` in place with normal samples, like `t.normal_(mean, std)` (the same draws as `randn`). */
export function normal_(t: Tensor, mean = 0, std = 1, opts: { generator?: Generator } = {}): Tensor {
  notCapturable("normal");
  (opts.generator ?? defaultGenerator).randnInto(t.storage, mean, std);
  return t;
}
