/**
 * The kernel seam: every hot loop of the tensor core lives here, over plain Float32Arrays.
 *
 * Ops in `tensor.ts` and `fused.ts` never loop over storage for matmul, tanh, the fused layers or
 * cross-entropy themselves; they call these functions. A faster implementation (WebAssembly SIMD,
 * blocked loops) can replace a kernel by installing itself with `setKernels`, and the plain
 * TypeScript versions below stay as the reference that tests compare against: test/kernels.test.ts
 * runs every fast kernel (the gemm of src/tensor/wasm/kernels-wasm.ts and the arena kernels of
 * assembly/arena.ts that src/tensor/engine.ts runs) against its reference twin here.
 *
 * Conventions: row-major, contiguous. `acc` means "C += result" (backward passes accumulate into
 * existing gradients, never assign); otherwise "C = result". Backward kernels always accumulate.
 */

import { fmaF32 } from "../random/generator.ts";

/** How a BatchNorm normalises (see fused.ts and docs): 0/1/2 in the WebAssembly kernels. */
export type BatchNormVariant = "lecture-std" | "lecture" | "torch";

export interface Kernels {
  /**
   * C(m,n) (+)= op(A)(m,k) @ op(B)(k,n), where op(A) = A (m,k) or A^T with A stored (k,m);
   * op(B) = B (k,n) or B^T with B stored (n,k).
   */
  gemm(
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    A: Float32Array,
    B: Float32Array,
    C: Float32Array,
    acc: boolean,
  ): void;
  /** y = tanh(x) (PyTorch's float32 tanh: exactly +-1 past 8.664339742). */
  tanhForward(x: Float32Array, y: Float32Array): void;
  /** gx += g * (1 - y^2), y = tanh(x). */
  tanhBackward(y: Float32Array, g: Float32Array, gx: Float32Array, acc?: boolean): void;
  /**
   * Training-mode BatchNorm forward over the rows of x (N, H); writes the batch mean, the tracked
   * statistic `spread` (std for "lecture-std", the unbiased var otherwise), the divisor `sigma`,
   * xhat and y. See `batchNormTrain` in fused.ts for the math.
   */
  batchNormTrainForward(
    x: Float32Array,
    N: number,
    H: number,
    gamma: Float32Array,
    beta: Float32Array,
    variant: BatchNormVariant,
    eps: number,
    mean: Float32Array,
    spread: Float32Array,
    sigma: Float32Array,
    xhat: Float32Array,
    y: Float32Array,
  ): void;
  /**
   * Its backward, D = N - 1 (lecture variants) or N (torch): dgamma += sum g xhat, dbeta += sum g,
   * dx += (g gamma - mean(g gamma) - xhat sum(g gamma xhat) / D) / sigma (0 where sigma = 0).
   * Pass null for a gradient that is not wanted.
   */
  batchNormTrainBackward(
    g: Float32Array,
    xhat: Float32Array,
    sigma: Float32Array,
    gamma: Float32Array,
    N: number,
    H: number,
    D: number,
    dgamma: Float32Array | null,
    dbeta: Float32Array | null,
    dx: Float32Array | null,
    /** false: dx is a fresh gradient, overwritten (0 + each value, as into zeros) */
    accX?: boolean,
  ): void;
  /** Eval-mode BatchNorm with fixed mean and divisor sigma (H,). */
  batchNormEvalForward(
    x: Float32Array,
    N: number,
    H: number,
    gamma: Float32Array,
    beta: Float32Array,
    mean: Float32Array,
    sigma: Float32Array,
    variant: BatchNormVariant,
    y: Float32Array,
  ): void;
  /**
   * Cross-entropy rows: returns sum_b [logsumexp(x_b) - x_b[t_b]] (float64) and, when `probs` is
   * given, writes softmax(x_b) there. Targets must be in range (the op checks them).
   */
  crossEntropyForward(
    logits: Float32Array,
    targets: ArrayLike<number>,
    B: number,
    V: number,
    probs: Float32Array | null,
  ): number;
  /** dlogits += (probs - onehot(t)) * k, with k = upstream gradient / B. */
  crossEntropyBackward(
    probs: Float32Array,
    targets: ArrayLike<number>,
    B: number,
    V: number,
    k: number,
    dlogits: Float32Array,
  ): void;
  /** SGD: w += fround(k * g) elementwise, k = -lr (`p.data += -lr * p.grad` in float32). */
  sgd(w: Float32Array, g: Float32Array, k: number): void;
  /**
   * out[0..3] = [sum w, sum w^2, sum g, sum g^2] over w.length elements (w and g the same length),
   * accumulated in float64: the one-pass moments of the per-step update:data ratio.
   */
  moments(w: Float32Array, g: Float32Array, out: Float64Array): void;
}

/** Plain TypeScript reference kernels. Loop orders keep the innermost loop on contiguous memory. */
export const referenceKernels: Kernels = {
  gemm(transA, transB, m, n, k, A, B, C, acc) {
    if (!acc) C.fill(0, 0, m * n);
    if (!transA && !transB) {
      // i-p-j: C[i,:] += A[i,p] * B[p,:]; the j loop streams one row of B and one row of C.
      for (let i = 0; i < m; i++) {
        const ci = i * n;
        const ai = i * k;
        for (let p = 0; p < k; p++) {
          const a = A[ai + p];
          if (a === 0) continue;
          const bp = p * n;
          for (let j = 0; j < n; j++) C[ci + j] += a * B[bp + j];
        }
      }
    } else if (!transA && transB) {
      // C[i,j] = dot(A[i,:], B[j,:]): both rows contiguous. Four accumulators break the add chain.
      for (let i = 0; i < m; i++) {
        const ai = i * k;
        for (let j = 0; j < n; j++) {
          const bj = j * k;
          let s0 = 0;
          let s1 = 0;
          let s2 = 0;
          let s3 = 0;
          let p = 0;
          for (; p + 3 < k; p += 4) {
            s0 += A[ai + p] * B[bj + p];
            s1 += A[ai + p + 1] * B[bj + p + 1];
            s2 += A[ai + p + 2] * B[bj + p + 2];
            s3 += A[ai + p + 3] * B[bj + p + 3];
          }
          for (; p < k; p++) s0 += A[ai + p] * B[bj + p];
          C[i * n + j] += s0 + s1 + s2 + s3;
        }
      }
    } else if (transA && !transB) {
      // A stored (k,m): C[i,:] += A[p,i] * B[p,:], p outermost so both A and B rows are read in order.
      for (let p = 0; p < k; p++) {
        const ap = p * m;
        const bp = p * n;
        for (let i = 0; i < m; i++) {
          const a = A[ap + i];
          if (a === 0) continue;
          const ci = i * n;
          for (let j = 0; j < n; j++) C[ci + j] += a * B[bp + j];
        }
      }
    } else {
      // Both transposed: rare (never in the lecture); C[i,j] += sum_p A[p,i] * B[j,p].
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let p = 0; p < k; p++) s += A[p * m + i] * B[j * k + p];
          C[i * n + j] += s;
        }
      }
    }
  },

  tanhForward(x, y) {
    for (let i = 0; i < x.length; i++) y[i] = tanhF32(x[i]);
  },
  tanhBackward(y, g, gx, acc = true) {
    // float32, one rounding per op, as PyTorch's tanh_backward `a * (1 - b * b)`; acc false: a
    // fresh gradient, 0 + each value (as into zeros)
    for (let i = 0; i < g.length; i++)
      gx[i] = (acc ? gx[i] : 0) + Math.fround(g[i] * Math.fround(1 - Math.fround(y[i] * y[i])));
  },

  batchNormTrainForward(x, N, H, gamma, beta, variant, eps, mean, spread, sigma, xhat, y) {
    // Statistics in float64 (mean rounded to float32 before the squared deviations).
    const acc = new Float64Array(H);
    for (let r = 0; r < N; r++) for (let c = 0; c < H; c++) acc[c] += x[r * H + c];
    for (let c = 0; c < H; c++) mean[c] = acc[c] / N;
    acc.fill(0);
    for (let r = 0; r < N; r++) {
      for (let c = 0; c < H; c++) {
        const d = x[r * H + c] - mean[c];
        acc[c] += d * d;
      }
    }
    for (let c = 0; c < H; c++) {
      const unbiasedVar = acc[c] / (N - 1);
      if (variant === "lecture-std") {
        // the notebook's hpreact.std(0); with an eps, (hpreact.var(0) + eps).sqrt() in float32
        spread[c] =
          eps === 0 ? Math.sqrt(unbiasedVar) : Math.sqrt(Math.fround(Math.fround(unbiasedVar) + eps));
        sigma[c] = spread[c];
      } else {
        spread[c] = unbiasedVar; // running var tracks the unbiased var in both lecture and torch
        const v = variant === "torch" ? Math.fround(acc[c] / N) : Math.fround(unbiasedVar);
        sigma[c] = Math.sqrt(Math.fround(v + eps));
      }
    }
    const f = Math.fround;
    for (let r = 0; r < N; r++) {
      const row = r * H;
      for (let c = 0; c < H; c++) {
        const centered = f(x[row + c] - mean[c]);
        xhat[row + c] = centered / sigma[c];
        // lecture order: ((gamma * centered) / sigma) + beta; the others: gamma * xhat + beta
        y[row + c] =
          variant === "lecture-std"
            ? f(f(gamma[c] * centered) / sigma[c]) + beta[c]
            : f(gamma[c] * xhat[row + c]) + beta[c];
      }
    }
  },

  batchNormTrainBackward(g, xhat, sigma, gamma, N, H, D, dgamma, dbeta, dx, accX = true) {
    if (dgamma || dbeta) {
      for (let r = 0; r < N; r++) {
        const row = r * H;
        for (let c = 0; c < H; c++) {
          if (dgamma) dgamma[c] += g[row + c] * xhat[row + c];
          if (dbeta) dbeta[c] += g[row + c];
        }
      }
    }
    if (!dx) return;
    const sumG = new Float64Array(H);
    const sumGX = new Float64Array(H);
    for (let r = 0; r < N; r++) {
      const row = r * H;
      for (let c = 0; c < H; c++) {
        const gh = g[row + c] * gamma[c];
        sumG[c] += gh;
        sumGX[c] += gh * xhat[row + c];
      }
    }
    for (let c = 0; c < H; c++) {
      sumG[c] /= N;
      sumGX[c] /= D;
    }
    if (!accX) dx.fill(0, 0, N * H);
    for (let r = 0; r < N; r++) {
      const row = r * H;
      for (let c = 0; c < H; c++) {
        if (sigma[c] === 0) continue;
        dx[row + c] += (g[row + c] * gamma[c] - sumG[c] - xhat[row + c] * sumGX[c]) / sigma[c];
      }
    }
  },

  batchNormEvalForward(x, N, H, gamma, beta, mean, sigma, variant, y) {
    const f = Math.fround;
    for (let r = 0; r < N; r++) {
      const row = r * H;
      for (let c = 0; c < H; c++) {
        const centered = f(x[row + c] - mean[c]);
        y[row + c] =
          variant === "lecture-std"
            ? f(f(gamma[c] * centered) / sigma[c]) + beta[c]
            : f(gamma[c] * f(centered / sigma[c])) + beta[c];
      }
    }
  },

  crossEntropyForward(x, t, B, V, probs) {
    // float64 exp and sums; probs = float32(e) / s, like the lecture's softmax in one pass
    let total = 0;
    for (let b = 0; b < B; b++) {
      const row = b * V;
      let mx = Number.NEGATIVE_INFINITY;
      for (let v = 0; v < V; v++) if (x[row + v] > mx) mx = x[row + v];
      let s = 0;
      for (let v = 0; v < V; v++) {
        const ev = Math.exp(x[row + v] - mx);
        if (probs) probs[row + v] = ev;
        s += ev;
      }
      if (probs) for (let v = 0; v < V; v++) probs[row + v] /= s;
      total += Math.log(s) + mx - x[row + t[b]];
    }
    return total;
  },

  crossEntropyBackward(probs, t, B, V, k, dlogits) {
    for (let b = 0; b < B; b++) {
      const row = b * V;
      for (let v = 0; v < V; v++) dlogits[row + v] += probs[row + v] * k;
      dlogits[row + t[b]] -= k;
    }
  },

  sgd(w, g, k) {
    const kf = Math.fround(k);
    for (let i = 0; i < w.length; i++) w[i] += Math.fround(kf * g[i]);
  },

  moments(w, g, out) {
    const n = w.length;
    // two interleaved sets of accumulators halve the floating-point add dependency chains
    let sw = 0;
    let sww = 0;
    let sg = 0;
    let sgg = 0;
    let sw2 = 0;
    let sww2 = 0;
    let sg2 = 0;
    let sgg2 = 0;
    let i = 0;
    for (; i + 1 < n; i += 2) {
      const a = w[i];
      const b = g[i];
      const a2 = w[i + 1];
      const b2 = g[i + 1];
      sw += a;
      sww += a * a;
      sg += b;
      sgg += b * b;
      sw2 += a2;
      sww2 += a2 * a2;
      sg2 += b2;
      sgg2 += b2 * b2;
    }
    if (i < n) {
      sw += w[i];
      sww += w[i] * w[i];
      sg += g[i];
      sgg += g[i] * g[i];
    }
    out[0] = sw + sw2;
    out[1] = sww + sww2;
    out[2] = sg + sg2;
    out[3] = sgg + sgg2;
  },
};

/**
 * tanh as PyTorch's float32 kernel (SLEEF tanhf_u10) returns it: exactly +-1 once |x| > 8.664339742,
 * so a saturated unit passes exactly zero gradient; elsewhere the correctly rounded value.
 */
export function tanhF32(x: number): number {
  if (x > 8.664339742) return 1;
  if (x < -8.664339742) return -1;
  return Math.tanh(x);
}

let active: Kernels = referenceKernels;

/** The kernels in use. Ops call `kernels().gemm(...)`. */
export function kernels(): Kernels {
  return active;
}

/** Install a faster implementation (tests compare it against `referenceKernels`). */
export function setKernels(k: Kernels): void {
  active = k;
}

// ---------------------------------------------------------------------------------------------
// Twins of the arena kernels for the general engine (assembly/arena.ts, "Kernels for the general
// engine"): the plain TypeScript meaning of each, over Float32Arrays. test/kernels.test.ts runs
// every wasm kernel against its twin; assembly/arena.ts says, kernel by kernel, whether the bits
// agree exactly or within which tolerance. `acc`: add into the destination.

const fr = Math.fround;
const GELU_K = Math.sqrt(2 / Math.PI);
const GELU_C = 0.044715;

/**
 * One AdamW step's scalars, each rounded to float32 by the caller (src/train/optim.ts), in the order
 * every AdamW kernel takes them (this file's twin, src/tensor/engine.ts adamwArena, assembly/arena.ts
 * adamw): decay = 1 - lr wd, b1, b2, one1 = 1 - b1, one2 = 1 - b2, bc2sqrt = sqrt(1 - b2^t),
 * negStep = -lr / (1 - b1^t), eps.
 */
export type AdamWScalars = [
  decay: number,
  b1: number,
  b2: number,
  one1: number,
  one2: number,
  bc2sqrt: number,
  negStep: number,
  eps: number,
];

export const arenaReference = {
  /** y = a + b */
  add(a: Float32Array, b: Float32Array, y: Float32Array): void {
    for (let i = 0; i < y.length; i++) y[i] = a[i] + b[i];
  },
  /** y = a * b */
  mul(a: Float32Array, b: Float32Array, y: Float32Array): void {
    for (let i = 0; i < y.length; i++) y[i] = a[i] * b[i];
  },
  /** y(rows, cols) = x op v(cols): op 0 adds the row vector (bias), 1 multiplies by it (gain). */
  rowOp(x: Float32Array, v: Float32Array, y: Float32Array, rows: number, cols: number, op: 0 | 1): void {
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++)
        y[r * cols + c] = op === 0 ? x[r * cols + c] + v[c] : x[r * cols + c] * v[c];
    }
  },
  /** y = s x, s rounded to float32 */
  scale(x: Float32Array, s: number, y: Float32Array): void {
    const sf = fr(s);
    for (let i = 0; i < y.length; i++) y[i] = x[i] * sf;
  },
  /** y += fround(s x) */
  axpy(y: Float32Array, x: Float32Array, s: number): void {
    const sf = fr(s);
    for (let i = 0; i < y.length; i++) y[i] += fr(x[i] * sf);
  },
  /** y = e^x */
  exp(x: Float32Array, y: Float32Array): void {
    for (let i = 0; i < y.length; i++) y[i] = Math.exp(x[i]);
  },
  /** y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), in float64 (src/tensor/nnops.ts gelu) */
  gelu(x: Float32Array, y: Float32Array): void {
    for (let i = 0; i < y.length; i++) {
      const v = x[i];
      y[i] = 0.5 * v * (1 + Math.tanh(GELU_K * (v + GELU_C * v * v * v)));
    }
  },
  /** gx (+)= g gelu'(x) */
  geluBackward(x: Float32Array, g: Float32Array, gx: Float32Array, acc: boolean): void {
    for (let i = 0; i < gx.length; i++) {
      const v = x[i];
      const t = Math.tanh(GELU_K * (v + GELU_C * v * v * v));
      const d = g[i] * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * GELU_K * (1 + 3 * GELU_C * v * v));
      gx[i] = acc ? gx[i] + d : d;
    }
  },
  /** row softmax (log false) or log-softmax (log true) of x (rows, cols), float64 */
  softmaxRows(x: Float32Array, y: Float32Array, rows: number, cols: number, log: boolean): void {
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let m = Number.NEGATIVE_INFINITY;
      for (let c = 0; c < cols; c++) m = Math.max(m, x[o + c]);
      let s = 0;
      for (let c = 0; c < cols; c++) s += Math.exp(x[o + c] - m);
      for (let c = 0; c < cols; c++) y[o + c] = log ? x[o + c] - m - Math.log(s) : Math.exp(x[o + c] - m) / s;
    }
  },
  /** softmax: gx (+)= y (g - sum g y); log-softmax: gx (+)= g - e^y sum g (per row, float64) */
  softmaxRowsBackward(
    y: Float32Array,
    g: Float32Array,
    gx: Float32Array,
    rows: number,
    cols: number,
    log: boolean,
    acc: boolean,
  ): void {
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let s = 0;
      for (let c = 0; c < cols; c++) s += log ? g[o + c] : g[o + c] * y[o + c];
      for (let c = 0; c < cols; c++) {
        const d = log ? g[o + c] - Math.exp(y[o + c]) * s : y[o + c] * (g[o + c] - s);
        gx[o + c] = acc ? gx[o + c] + d : d;
      }
    }
  },
  /**
   * LayerNorm over the last dim (F.layer_norm), float64 per row: mean, rstd = 1/sqrt(var + eps),
   * xhat = (x - mean) rstd, y = xhat gamma + beta (null: 1 / 0). Writes mean, rstd (rows) and xhat.
   */
  layerNorm(
    x: Float32Array,
    rows: number,
    C: number,
    gamma: Float32Array | null,
    beta: Float32Array | null,
    eps: number,
    mean: Float32Array,
    rstd: Float32Array,
    xhat: Float32Array,
    y: Float32Array,
  ): void {
    for (let r = 0; r < rows; r++) {
      const o = r * C;
      let s = 0;
      for (let c = 0; c < C; c++) s += x[o + c];
      const mu = s / C;
      let q = 0;
      for (let c = 0; c < C; c++) q += (x[o + c] - mu) ** 2;
      const rs = 1 / Math.sqrt(q / C + eps);
      mean[r] = mu;
      rstd[r] = rs;
      for (let c = 0; c < C; c++) {
        xhat[o + c] = (x[o + c] - mu) * rs;
        y[o + c] = xhat[o + c] * (gamma ? gamma[c] : 1) + (beta ? beta[c] : 0);
      }
    }
  },
  /** Its backward (dgamma/dbeta accumulate in float32 in row order; null = not wanted). */
  layerNormBackward(
    g: Float32Array,
    xhat: Float32Array,
    rstd: Float32Array,
    gamma: Float32Array | null,
    rows: number,
    C: number,
    dgamma: Float32Array | null,
    dbeta: Float32Array | null,
    dx: Float32Array | null,
    accX: boolean,
  ): void {
    for (let r = 0; r < rows; r++) {
      const o = r * C;
      let m1 = 0;
      let m2 = 0;
      for (let c = 0; c < C; c++) {
        const dh = g[o + c] * (gamma ? gamma[c] : 1);
        m1 += dh;
        m2 += dh * xhat[o + c];
        if (dgamma) dgamma[c] += fr(g[o + c] * xhat[o + c]);
        if (dbeta) dbeta[c] += g[o + c];
      }
      if (!dx) continue;
      m1 /= C;
      m2 /= C;
      for (let c = 0; c < C; c++) {
        const dh = g[o + c] * (gamma ? gamma[c] : 1);
        const v = rstd[r] * (dh - m1 - xhat[o + c] * m2);
        dx[o + c] = accX ? dx[o + c] + v : v;
      }
    }
  },
  /**
   * AdamW over w, g, m (exp_avg), v (exp_avg_sq): the float32 op sequence of src/train/optim.ts
   * (torch.optim.AdamW with its AVX2 fused multiply-adds). Scalars as the wasm kernel takes them.
   */
  adamw(
    w: Float32Array,
    g: Float32Array,
    m: Float32Array,
    v: Float32Array,
    ...[decay, b1, b2, one1, one2, bc2sqrt, negStep, eps]: AdamWScalars
  ): void {
    for (let j = 0; j < w.length; j++) {
      const gj = g[j];
      const pj = fr(w[j] * decay);
      const mj = fmaF32(gj, one1, fr(m[j] * b1));
      const vj = fmaF32(fr(one2 * gj), gj, fr(v[j] * b2));
      const denom = fr(fr(fr(Math.sqrt(vj)) / bc2sqrt) + eps);
      w[j] = fr(pj + fr(fr(negStep * mj) / denom));
      m[j] = mj;
      v[j] = vj;
    }
  },
  /**
   * torch.optim.SGD over w, g and the momentum buffer b (float32, its fused multiply-adds exact):
   * d = fma(w, wd, g) with SGD_FLAGS.decay; with .momentum b = d on the .first step, else
   * fma(d, damp, b * mom), then d = fma(b, mom, d) (.nesterov) or b; w = fma(d, negLr, w).
   * Scalars rounded to float32 by the caller (src/train/optim.ts), as assembly/arena.ts takes them.
   */
  sgdMomentum(
    w: Float32Array,
    g: Float32Array,
    b: Float32Array | null,
    wd: number,
    mom: number,
    damp: number,
    negLr: number,
    flags: number,
  ): void {
    const decay = (flags & SGD_FLAGS.decay) !== 0;
    const momentum = b !== null && (flags & SGD_FLAGS.momentum) !== 0;
    const first = (flags & SGD_FLAGS.first) !== 0;
    const nesterov = (flags & SGD_FLAGS.nesterov) !== 0;
    for (let j = 0; j < w.length; j++) {
      // d_p = d_p.add(param, alpha=wd)
      let d = decay ? fmaF32(w[j], wd, g[j]) : g[j];
      if (momentum) {
        // buf = clone(d_p) on the first step, then buf.mul_(momentum).add_(d_p, alpha=1 - dampening)
        b[j] = first ? d : fmaF32(d, damp, fr(b[j] * mom));
        d = nesterov ? fmaF32(b[j], mom, d) : b[j];
      }
      // param.add_(d_p, alpha=-lr)
      w[j] = fmaF32(d, negLr, w[j]);
    }
  },
};

/** The flags of the sgdMomentum kernels (assembly/arena.ts has the same values). */
export const SGD_FLAGS = { decay: 1, momentum: 2, first: 4, nesterov: 8 } as const;
