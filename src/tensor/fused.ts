/**
 * Fused ops: one forward pass and one backward rule for what would otherwise be several ops.
 * Each must equal its composed form (tested in test/fused.test.ts); they exist for speed and
 * keep the composed float32 operation order where the lecture's numbers depend on it.
 */

import { type BatchNormVariant, kernels } from "./kernels.ts";
import { gradOf, record, Tensor } from "./tensor.ts";

/**
 * x @ W (+ b): (B, I) @ (I, O) + (O,) -> (B, O). The lecture's Linear stores W as (fan_in, fan_out).
 * Backward: dx = g @ W^T, dW = x^T @ g, db = sum_rows(g).
 */
export function linear(x: Tensor, W: Tensor, b: Tensor | null = null): Tensor {
  if (x.ndim !== 2 || W.ndim !== 2 || x.shape[1] !== W.shape[0]) {
    throw new RangeError(`linear: cannot multiply (${x.shape}) by (${W.shape})`);
  }
  const [B, I] = x.shape;
  const O = W.shape[1];
  const y = new Float32Array(B * O);
  kernels().gemm(false, false, B, O, I, x.storage, W.storage, y, false);
  if (b) {
    const bs = b.storage;
    for (let r = 0; r < B; r++) {
      const row = r * O;
      for (let c = 0; c < O; c++) y[row + c] += bs[c];
    }
  }
  const out = new Tensor(y, [B, O]);
  return record(out, "linear", b ? [x, W, b] : [x, W], (g) => {
    if (x.requiresGrad) kernels().gemm(false, true, B, I, O, g, W.storage, gradOf(x), true);
    if (W.requiresGrad) kernels().gemm(true, false, I, O, B, x.storage, g, gradOf(W), true);
    if (b?.requiresGrad) {
      const gb = gradOf(b);
      for (let r = 0; r < B; r++) {
        const row = r * O;
        for (let c = 0; c < O; c++) gb[c] += g[row + c];
      }
    }
  });
}

/**
 * How a BatchNorm normalises a batch. The three variants in use (see docs/batchnorm.md):
 *  - "lecture-std": the lecture's single-layer BN-MLP: (x - mean) / std, unbiased std, no eps.
 *  - "lecture":     the lecture's BatchNorm1d class: (x - mean) / sqrt(var + eps), unbiased var.
 *  - "torch":       torch.nn.BatchNorm1d: (x - mean) / sqrt(var + eps), biased var.
 */
export type { BatchNormVariant } from "./kernels.ts";

export interface BatchNormStats {
  /** (H,) batch mean */
  mean: Float32Array;
  /** (H,) the batch statistic the running buffer tracks: std ("lecture-std") or unbiased var */
  spread: Float32Array;
}

/**
 * Training-mode BatchNorm over the batch dimension: x (B, H), gamma and beta (H,) or (1, H).
 * Returns the output and the batch statistics (for the running buffers).
 *
 * Forward, per column, with sigma = std (lecture-std) or sqrt(var + eps):
 *   xhat = (x - mean) / sigma ;  y = gamma * xhat + beta
 * The "lecture-std" variant computes y = ((gamma * (x - mean)) / std) + beta in exactly the
 * lecture's float32 order, so it reproduces the composed ops bit for bit.
 * Backward, with D = N - 1 (unbiased) or N (biased) and gx = g * gamma:
 *   dbeta = sum g ;  dgamma = sum g * xhat
 *   dx = (gx - mean(gx) - xhat * sum(gx * xhat) / D) / sigma
 * (the same formula for std and var+eps: d sigma / dx_j = xhat_j / D in both cases).
 */
export function batchNormTrain(
  x: Tensor,
  gamma: Tensor,
  beta: Tensor,
  variant: BatchNormVariant,
  eps: number,
): { out: Tensor; stats: BatchNormStats } {
  if (x.ndim !== 2) throw new RangeError(`BatchNorm1d expects (B, H) input, got (${x.shape})`);
  const [N, H] = x.shape;
  if (gamma.numel() !== H || beta.numel() !== H)
    throw new RangeError(`BatchNorm1d: ${H} features but gamma/beta of ${gamma.numel()}`);
  if (N < 2 && variant !== "torch")
    throw new RangeError("BatchNorm1d in training mode needs a batch of at least 2");
  const gs = gamma.storage;
  const mean = new Float32Array(H);
  const spread = new Float32Array(H);
  const sigma = new Float32Array(H); // the divisor actually used
  const y = new Float32Array(N * H);
  const xhat = new Float32Array(N * H);
  kernels().batchNormTrainForward(
    x.storage,
    N,
    H,
    gs,
    beta.storage,
    variant,
    eps,
    mean,
    spread,
    sigma,
    xhat,
    y,
  );
  const out = new Tensor(y, [N, H]);
  const D = variant === "torch" ? N : N - 1;
  record(out, "batchNorm", [x, gamma, beta], (g) => {
    kernels().batchNormTrainBackward(
      g,
      xhat,
      sigma,
      gs,
      N,
      H,
      D,
      gamma.requiresGrad ? gradOf(gamma) : null,
      beta.requiresGrad ? gradOf(beta) : null,
      x.requiresGrad ? gradOf(x) : null,
    );
  });
  return { out, stats: { mean, spread } };
}

/**
 * Eval-mode BatchNorm with fixed statistics: y = gamma * (x - mean) / sigma + beta, where
 * sigma = runningStd ("lecture-std") or sqrt(runningVar + eps). Gradients flow to x, gamma, beta.
 */
export function batchNormEval(
  x: Tensor,
  gamma: Tensor,
  beta: Tensor,
  runningMean: Tensor,
  runningSpread: Tensor,
  variant: BatchNormVariant,
  eps: number,
): Tensor {
  const [N, H] = x.shape;
  const sigma = new Float32Array(H);
  const rs = runningSpread.storage;
  for (let c = 0; c < H; c++)
    sigma[c] = variant === "lecture-std" ? rs[c] : Math.sqrt(Math.fround(rs[c] + eps));
  const xs = x.storage;
  const gs = gamma.storage;
  const ms = runningMean.storage;
  const y = new Float32Array(N * H);
  kernels().batchNormEvalForward(xs, N, H, gs, beta.storage, ms, sigma, variant, y);
  const out = new Tensor(y, [N, H]);
  return record(out, "batchNorm", [x, gamma, beta], (g) => {
    const gx = x.requiresGrad ? gradOf(x) : null;
    const gg = gamma.requiresGrad ? gradOf(gamma) : null;
    const gb = beta.requiresGrad ? gradOf(beta) : null;
    for (let r = 0; r < N; r++) {
      const row = r * H;
      for (let c = 0; c < H; c++) {
        const xhat = (xs[row + c] - ms[c]) / sigma[c];
        if (gx) gx[row + c] += (g[row + c] * gs[c]) / sigma[c];
        if (gg) gg[c] += g[row + c] * xhat;
        if (gb) gb[c] += g[row + c];
      }
    }
  });
}
