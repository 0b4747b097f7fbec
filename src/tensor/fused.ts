/**
 * Fused ops: one forward pass and one backward rule for what would otherwise be several ops.
 * Each must equal its composed form (tested in test/gradcheck.test.ts and test/ops.torch.test.ts);
 * they exist for speed and keep the composed float32 operation order where the lecture's numbers
 * depend on it. Their kernels live in the FUSED table below, run through `launch` (engine.ts).
 */

import {
  allocF32,
  arenaKernels,
  bnRunningArena,
  colSumArena,
  gemmArena,
  isCapturing,
  launch,
  launchInvariant,
  linearRowsArena,
  type OpTable,
  repeatedRows,
  repeatsPay,
} from "./engine.ts";
import { type BatchNormVariant, kernels } from "./kernels.ts";
import { gradIfWanted, gradInto, record, Tensor } from "./tensor.ts";

type F32 = Float32Array;

/**
 * How a BatchNorm normalises a batch. The three variants in use (see the README's BatchNorm table):
 *  - "lecture-std": the lecture's single-layer BN-MLP: (x - mean) / std, unbiased std, no eps.
 *  - "lecture":     the lecture's BatchNorm1d class: (x - mean) / sqrt(var + eps), unbiased var.
 *  - "torch":       torch.nn.BatchNorm1d: (x - mean) / sqrt(var + eps), biased var.
 */
export type { BatchNormVariant } from "./kernels.ts";

const FUSED = {
  // y = x @ op(W) (+ b): (B, I) @ (I, O) + (O,) -> (B, O), the bias added after the sum. op(W) is
  // W stored (I, O) (the lecture's Linear) or, transB, W^T of W stored (O, I) (torch.nn.Linear).
  // Backward: dx = g @ op(W)^T, d op(W) = x^T @ g (dW = g^T @ x when transB), db = sum_rows(g)
  // (float32, rows in order).
  linear: {
    forward: (
      x: F32,
      W: F32,
      b: F32 | null,
      y: F32,
      B: number,
      I: number,
      O: number,
      transB: boolean,
      repeats = false,
    ) => {
      // on the arena module the bias rides in the gemm (added after the sum: the same bits);
      // `repeats`: x's rows repeat, each distinct one is multiplied once (the same bits again)
      if (kernels() === arenaKernels && repeats && linearRowsArena(transB, B, O, I, x, W, y, b)) return;
      if (kernels() === arenaKernels && gemmArena(false, transB, B, O, I, x, W, y, false, b)) return;
      kernels().gemm(false, transB, B, O, I, x, W, y, false);
      if (b) {
        for (let r = 0; r < B; r++) {
          const row = r * O;
          for (let c = 0; c < O; c++) y[row + c] += b[c];
        }
      }
    },
    backward: (
      x: F32,
      W: F32,
      g: F32,
      gx: F32 | null,
      gW: F32 | null,
      gb: F32 | null,
      B: number,
      I: number,
      O: number,
      transB: boolean,
      accX = true,
      accW = true,
    ) => {
      // accX / accW false: a fresh gradient, overwritten (gradInto)
      // (B, O) @ (O, I): W (I, O) read transposed, or W (O, I) as it is
      if (gx) kernels().gemm(false, !transB, B, I, O, g, W, gx, accX);
      // (I, B) @ (B, O) -> (I, O), or (O, B) @ (B, I) -> (O, I) for the (out, in) layout
      if (gW && transB) kernels().gemm(true, false, O, I, B, g, x, gW, accW);
      else if (gW) kernels().gemm(true, false, I, O, B, x, g, gW, accW);
      if (gb && !colSumArena(g, gb, B, O)) {
        for (let r = 0; r < B; r++) {
          const row = r * O;
          for (let c = 0; c < O; c++) gb[c] += g[row + c];
        }
      }
    },
  },
  // Training-mode BatchNorm over the rows of x (N, H); see batchNormTrain for the math.
  batchNorm: {
    forward: (
      x: F32,
      N: number,
      H: number,
      gamma: F32,
      beta: F32,
      variant: BatchNormVariant,
      eps: number,
      mean: F32,
      spread: F32,
      sigma: F32,
      xhat: F32,
      y: F32,
    ) => {
      if (N < 2 && variant !== "torch")
        throw new RangeError("BatchNorm1d in training mode needs a batch of at least 2");
      kernels().batchNormTrainForward(x, N, H, gamma, beta, variant, eps, mean, spread, sigma, xhat, y);
    },
    backward: (
      g: F32,
      xhat: F32,
      sigma: F32,
      gamma: F32,
      N: number,
      H: number,
      D: number,
      dgamma: F32 | null,
      dbeta: F32 | null,
      dx: F32 | null,
      accX = true,
    ) => kernels().batchNormTrainBackward(g, xhat, sigma, gamma, N, H, D, dgamma, dbeta, dx, accX),
  },
  // Eval-mode BatchNorm with fixed statistics: y = gamma (x - mean) / sigma + beta, with the
  // divisor sigma (bnSigma below, from the running buffer) computed by its own launch.
  batchNormEval: {
    forward: (
      x: F32,
      N: number,
      H: number,
      gamma: F32,
      beta: F32,
      mean: F32,
      sigma: F32,
      variant: BatchNormVariant,
      y: F32,
    ) => kernels().batchNormEvalForward(x, N, H, gamma, beta, mean, sigma, variant, y),
    backward: (
      x: F32,
      N: number,
      H: number,
      gamma: F32,
      mean: F32,
      sigma: F32,
      g: F32,
      gx: F32 | null,
      gg: F32 | null,
      gb: F32 | null,
    ) => {
      for (let r = 0; r < N; r++) {
        const row = r * H;
        for (let c = 0; c < H; c++) {
          const xhat = (x[row + c] - mean[c]) / sigma[c];
          if (gx) gx[row + c] += (g[row + c] * gamma[c]) / sigma[c];
          if (gg) gg[c] += g[row + c] * xhat;
          if (gb) gb[c] += g[row + c];
        }
      }
    },
  },
} satisfies OpTable<"linear" | "batchNorm" | "batchNormEval">;

/**
 * x @ W (+ b): (B, I) @ (I, O) + (O,) -> (B, O). The lecture's Linear stores W as (fan_in, fan_out).
 * Backward: dx = g @ W^T, dW = x^T @ g, db = sum_rows(g).
 */
export function linear(x: Tensor, W: Tensor, b: Tensor | null = null): Tensor {
  if (x.ndim !== 2 || W.ndim !== 2 || x.shape[1] !== W.shape[0]) {
    throw new RangeError(`linear: cannot multiply (${x.shape}) by (${W.shape})`);
  }
  const [B, I] = x.shape;
  return linearRows(x, W, b, B, I, W.shape[1], false, [B, W.shape[1]], "linear");
}

/**
 * The one linear op: N rows of I inputs (x's storage) times op(W) (I, O) plus b, shaped `shape`.
 * `transB`: W stored (O, I) as torch.nn.Linear stores it (nnops.ts `linearT`). Shapes are checked
 * by the callers.
 */
export function linearRows(
  x: Tensor,
  W: Tensor,
  b: Tensor | null,
  N: number,
  I: number,
  O: number,
  transB: boolean,
  shape: number[],
  name: string,
): Tensor {
  const y = allocF32(N * O);
  // a captured step checks once whether its input rows repeat (embedding rows of padded contexts)
  const repeats = isCapturing() && repeatsPay(repeatedRows(x.storage, N, I), N, I, O);
  launch(FUSED.linear.forward, x.storage, W.storage, b ? b.storage : null, y, N, I, O, transB, repeats);
  const out = new Tensor(y, shape);
  return record(out, name, b ? [x, W, b] : [x, W], (g) => {
    const gx = x.requiresGrad ? gradInto(x) : null;
    const gW = W.requiresGrad ? gradInto(W) : null;
    launch(
      FUSED.linear.backward,
      x.storage,
      W.storage,
      g,
      gx ? gx.buf : null,
      gW ? gW.buf : null,
      gradIfWanted(b),
      N,
      I,
      O,
      transB,
      gx ? gx.acc : true,
      gW ? gW.acc : true,
    );
  });
}

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
  const mean = allocF32(H);
  const spread = allocF32(H);
  const sigma = allocF32(H); // the divisor actually used
  const y = allocF32(N * H);
  const xhat = allocF32(N * H);
  const gs = gamma.storage;
  launch(
    FUSED.batchNorm.forward,
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
    // dx written whole: a fresh gradient is overwritten, not zero-filled and added to
    const dx = x.requiresGrad ? gradInto(x) : null;
    launch(
      FUSED.batchNorm.backward,
      g,
      xhat,
      sigma,
      gs,
      N,
      H,
      D,
      gradIfWanted(gamma),
      gradIfWanted(beta),
      dx ? dx.buf : null,
      dx ? dx.acc : true,
    );
  });
  return { out, stats: { mean, spread } };
}

/**
 * running = (1 - m) * running + m * batch, in float32 as the lecture writes it
 * (0.999 * running + 0.001 * batch, each product rounded). In place, outside autograd.
 */
function runningUpdateKernel(rm: F32, rv: F32, mean: F32, spread: F32, momentum: number): void {
  const m = Math.fround(momentum);
  const k = Math.fround(1 - momentum);
  // a plan's buffers: one SIMD call (the same float32 products and sums)
  if (bnRunningArena(rm, rv, mean, spread, m, k)) return;
  const f = Math.fround;
  for (let c = 0; c < rm.length; c++) {
    rm[c] = f(k * rm[c]) + f(m * mean[c]);
    rv[c] = f(k * rv[c]) + f(m * spread[c]);
  }
}

/** Update BatchNorm running buffers from a training batch's statistics (a launched kernel). */
export function updateRunningStats(
  runningMean: Tensor,
  runningSpread: Tensor,
  stats: BatchNormStats,
  momentum: number,
): void {
  launch(runningUpdateKernel, runningMean.storage, runningSpread.storage, stats.mean, stats.spread, momentum);
}

/** sigma = running std ("lecture-std") or sqrt(running var + eps), from the running buffer (H,). */
function bnSigma(spread: F32, variant: BatchNormVariant, eps: number, sigma: F32): void {
  for (let c = 0; c < sigma.length; c++)
    sigma[c] = variant === "lecture-std" ? spread[c] : Math.sqrt(Math.fround(spread[c] + eps));
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
  const sigma = allocF32(H);
  const y = allocF32(N * H);
  const gs = gamma.storage;
  const ms = runningMean.storage;
  // the divisor depends on the running buffer only: an evaluation plan computes it once per load
  launchInvariant(bnSigma, runningSpread.storage, variant, eps, sigma);
  launch(FUSED.batchNormEval.forward, x.storage, N, H, gs, beta.storage, ms, sigma, variant, y);
  const out = new Tensor(y, [N, H]);
  return record(out, "batchNorm", [x, gamma, beta], (g) =>
    launch(
      FUSED.batchNormEval.backward,
      x.storage,
      N,
      H,
      gs,
      ms,
      sigma,
      g,
      gradIfWanted(x),
      gradIfWanted(gamma),
      gradIfWanted(beta),
    ),
  );
}
