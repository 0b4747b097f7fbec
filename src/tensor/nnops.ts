/**
 * The ops makemore.py's models need beyond the lecture's: PyTorch-layout linear, batched matmul,
 * LayerNorm, the tanh GELU, masking, slicing along any dimension, stacking, expand, and a
 * cross-entropy that ignores padded targets. Each primitive's forward and backward kernels are an
 * entry of the NN_OPS table (run through `launch`, so a captured training step replays them:
 * src/tensor/engine.ts), or a composition of primitives where that is as clean. Backward kernels
 * accumulate (`grad += ...`).
 *
 * Letters: B batch, T time (block size), C channels, nh heads, hs head size, V vocabulary.
 *
 *   const qkv = linearT(x, W, b);                      // (B, T, C) @ (3C, C)^T -> (B, T, 3C)
 *   const att = matmul(q, k.transpose(-2, -1));        // (B, nh, T, hs) @ (B, nh, hs, T)
 *   const p = maskedFill(att, causal, -Infinity).softmax(-1);
 *   const p2 = causalSoftmax(matmulT(q, k), 0.25);     // the same weights, one op, no copies
 */

import {
  addRowsArena,
  allocF32,
  allocI32,
  attentionWeightsArena,
  attentionWeightsBackwardArena,
  causalSoftmaxArena,
  causalSoftmaxBackwardArena,
  colSumArena,
  copyRowsArena,
  gatherSumArena,
  geluBackwardArena,
  geluForwardArena,
  gemmStridedArena,
  launch,
  layerNormBackwardArena,
  layerNormForwardArena,
  type OpTable,
  type StridedGemm,
  scatterAddTablesArena,
} from "./engine.ts";
import { linearRows } from "./fused.ts";
import { kernels } from "./kernels.ts";
import {
  broadcastOffsets,
  broadcastShapes,
  cat,
  gradIfWanted,
  gradInto,
  gradOf,
  normDim,
  record,
  shapeStr,
  splitAt,
  Tensor,
} from "./tensor.ts";

// ---------------------------------------------------------------------------------------------
// Linear in PyTorch's layout, batched matmul

/**
 * `F.linear(x, W, b)` = x @ W^T + b with W stored (out, in) as `torch.nn.Linear` stores it:
 * (..., I) @ (O, I)^T + (O,) -> (..., O). Leading dimensions are flattened into rows N.
 * Backward: dx = g @ W (N,O)@(O,I); dW = g^T @ x (O,N)@(N,I); db = sum_rows g.
 */
export function linearT(x: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor {
  const I = x.shape[x.ndim - 1];
  if (weight.ndim !== 2 || weight.shape[1] !== I) {
    throw new RangeError(`linear: input ${shapeStr(x.shape)} does not fit weight ${shapeStr(weight.shape)}`);
  }
  const O = weight.shape[0];
  if (bias && bias.numel() !== O)
    throw new RangeError(`linear: bias ${shapeStr(bias.shape)} for ${O} outputs`);
  const N = I === 0 ? 0 : x.numel() / I;
  // the lecture Linear's kernel with the weight read transposed (fused.ts)
  return linearRows(x, weight, bias, N, I, O, true, [...x.shape.slice(0, -1), O], "linearT");
}

/**
 * `torch.matmul` for n-d operands: (..., m, k) @ (..., k, n) -> (..., m, n), the batch
 * dimensions broadcast (attention's (B, nh, T, hs) @ (B, nh, hs, T)). 1-d and 2-d operands go
 * to the 2-d matmul. Backward per batch: dA = G @ B^T, dB = A^T @ G (summed over broadcast).
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  if (a.ndim <= 2 && b.ndim <= 2) return a.matmul(b);
  return batchedMatmul(a, b, false);
}

/**
 * `torch.matmul(a, b.transpose(-2, -1))` without the transposed copy: (..., m, k) @ (..., n, k)^T
 * -> (..., m, n), attention's q @ k^T. The gemm reads b transposed; every element is the same sum
 * over k in the same order as through the copy. Backward: dA = G @ B, dB = G^T @ A.
 */
export function matmulT(a: Tensor, b: Tensor): Tensor {
  return batchedMatmul(a, b, true);
}

function batchedMatmul(a: Tensor, b: Tensor, transB: boolean): Tensor {
  if (a.ndim < 2 || b.ndim < 2) {
    throw new RangeError(
      `matmul: batched operands need 2+ dimensions, got ${shapeStr(a.shape)} @ ${shapeStr(b.shape)}`,
    );
  }
  const [m, k] = a.shape.slice(-2);
  const [k2, n] = transB ? b.shape.slice(-2).reverse() : b.shape.slice(-2);
  if (k !== k2) {
    const bs = transB ? `${shapeStr(b.shape)}^T` : shapeStr(b.shape);
    throw new RangeError(`matmul shape mismatch: ${shapeStr(a.shape)} @ ${bs}`);
  }
  const batchA = a.shape.slice(0, -2);
  const batchB = b.shape.slice(0, -2);
  const batch = broadcastShapes(batchA, batchB);
  const offA = broadcastOffsets(batchA, batch);
  const offB = broadcastOffsets(batchB, batch);
  const nb = offA.length;
  const y = allocF32(nb * m * n);
  launch(NN_OPS.bmm.forward, a.storage, offA, b.storage, offB, y, m, n, k, transB);
  const out = new Tensor(y, [...batch, m, n]);
  return record(out, "bmm", [a, b], (g) =>
    launch(
      NN_OPS.bmm.backward,
      a.storage,
      offA,
      b.storage,
      offB,
      g,
      gradIfWanted(a),
      gradIfWanted(b),
      m,
      n,
      k,
      transB,
    ),
  );
}

/**
 * A Linear over K concatenated embeddings without the concatenation (makemore.py's MLP):
 *   cat_k(E[ix[:, k]]) @ W^T + b = sum_k P_k[ix[:, k]] + b,  P_k = E @ W_k^T (V, O),
 * W_k = W[:, kC:(k+1)C] the block of columns that multiplies embedding k. `tables` (K, V, O) are
 * the P_k; this op is the gather-sum y[r] = P_0[ix_r0] + ... + P_{K-1}[ix_r,K-1] (+ b), float32
 * adds in that order. ix (N, K) integer indices < V. Backward: dP_k[ix_rk] += g_r (rows in
 * order), db += sum_r g_r. Per row it costs K row adds instead of a K C-long dot product per output.
 */
export function gatherSum(tables: Tensor, ix: Tensor, bias: Tensor | null = null): Tensor {
  if (tables.ndim !== 3 || ix.ndim !== 2 || ix.shape[1] !== tables.shape[0])
    throw new RangeError(`gatherSum: tables ${shapeStr(tables.shape)} for indices ${shapeStr(ix.shape)}`);
  const [K, V, O] = tables.shape;
  const N = ix.shape[0];
  if (bias && bias.numel() !== O)
    throw new RangeError(`gatherSum: bias ${shapeStr(bias.shape)} for ${O} outputs`);
  // the indices twice: (N, K) for the gather, (K, N) for the per-table scatter-add
  const rows = allocI32(N * K);
  const cols = allocI32(N * K);
  const y = allocF32(N * O);
  const b = bias ? bias.storage : null;
  launch(NN_OPS.gatherSum.forward, tables.storage, K, V, O, ix.storage, N, b, rows, cols, y);
  const out = new Tensor(y, [N, O]);
  const parents = [tables, ...(bias ? [bias] : [])];
  return record(out, "gatherSum", parents, (g) =>
    launch(NN_OPS.gatherSum.backward, g, K, V, O, cols, N, gradIfWanted(tables), gradIfWanted(bias)),
  );
}

// ---------------------------------------------------------------------------------------------
// LayerNorm, GELU

/**
 * `F.layer_norm(x, (C,), weight, bias, eps)` over the last dimension: per row,
 *   mu = mean x ; rstd = 1 / sqrt(mean (x - mu)^2 + eps) ; xhat = (x - mu) rstd ; y = xhat w + b
 * Backward with dxhat = g w:
 *   dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)) ; dw = sum g xhat ; db = sum g
 */
export function layerNorm(x: Tensor, weight: Tensor | null, bias: Tensor | null, eps = 1e-5): Tensor {
  const C = x.shape[x.ndim - 1];
  if ((weight && weight.numel() !== C) || (bias && bias.numel() !== C)) {
    throw new RangeError(`layerNorm: weight/bias must have ${C} elements for input ${shapeStr(x.shape)}`);
  }
  const N = C === 0 ? 0 : x.numel() / C;
  const xhat = allocF32(x.numel());
  // the statistics per row: float32 on the arena module, float64 in the plain kernel
  const mean = allocF32(N);
  const rstd32 = allocF32(N);
  const rstd = new Float64Array(N);
  const y = allocF32(x.numel());
  const w = weight ? weight.storage : null;
  const b = bias ? bias.storage : null;
  launch(NN_OPS.layerNorm.forward, x.storage, N, C, w, b, eps, xhat, rstd, y, mean, rstd32);
  const out = new Tensor(y, x.shape);
  const parents = [x, ...(weight ? [weight] : []), ...(bias ? [bias] : [])];
  return record(out, "layerNorm", parents, (g) => {
    // dx covers all of x: a fresh gradient is overwritten, not zeroed and added to
    const gx = x.requiresGrad ? gradInto(x) : null;
    launch(
      NN_OPS.layerNorm.backward,
      g,
      N,
      C,
      w,
      xhat,
      rstd,
      gx ? gx.buf : null,
      gradIfWanted(weight),
      gradIfWanted(bias),
      rstd32,
      gx ? gx.acc : true,
    );
  });
}

const GELU_K = Math.sqrt(2 / Math.PI);
const GELU_C = 0.044715;
const GELU_KF = Math.fround(GELU_K);
const GELU_CF = Math.fround(GELU_C);

/**
 * The tanh GELU (makemore.py's NewGELU, GPT-2's):
 *   y = 0.5 x (1 + tanh(u)) = x s,  u = sqrt(2/pi) (x + 0.044715 x^3),  s = 0.5 (1 + tanh(u)) = 1 / (1 + e^(-2u))
 *   dy/dx = s + 2 x s (1 - s) sqrt(2/pi) (1 + 3 * 0.044715 x^2)
 * The arena kernel computes y = x s in float32 lanes (one exp, one division); s is kept for the
 * backward. Without the arena module, NewGELU's own float32 steps with PyTorch's float32 tanh.
 */
export function gelu(x: Tensor): Tensor {
  const s = allocF32(x.numel());
  const y = allocF32(x.numel());
  launch(NN_OPS.gelu.forward, x.storage, s, y);
  const out = new Tensor(y, x.shape);
  return record(out, "gelu", [x], (g) => {
    const gx = gradInto(x);
    launch(NN_OPS.gelu.backward, x.storage, s, g, gx.buf, gx.acc);
  });
}

// ---------------------------------------------------------------------------------------------
// Masking

/**
 * `x.masked_fill(mask, value)`: value where the (broadcast) mask is non-zero, x elsewhere. The
 * causal mask of attention is `maskedFill(att, tril.eq(0), -Infinity)`. No gradient reaches x
 * where it was filled.
 */
export function maskedFill(x: Tensor, mask: Tensor, value: number): Tensor {
  const shape = broadcastShapes(x.shape, mask.shape);
  if (shape.length !== x.ndim || shape.some((d, i) => d !== x.shape[i])) {
    throw new RangeError(
      `maskedFill: mask ${shapeStr(mask.shape)} does not broadcast to ${shapeStr(x.shape)}`,
    );
  }
  const om = broadcastOffsets(mask.shape, x.shape);
  const y = allocF32(x.numel());
  launch(NN_OPS.maskedFill.forward, x.storage, mask.storage, om, Math.fround(value), y);
  const out = new Tensor(y, x.shape, x.dtype);
  return record(out, "maskedFill", [x], (g) =>
    launch(NN_OPS.maskedFill.backward, mask.storage, om, g, gradOf(x)),
  );
}

/**
 * Attention's weights in one op: `(x * scale).masked_fill(tril(T) == 0, -inf).softmax(-1)` for
 * x (..., T, T), as the three ops compute them (the product rounded to float32; per row max, each
 * exp(v - max) once in float64, their sum in order, each divided and rounded), over the causal
 * part j <= i only: the masked entries are exp(-inf) = 0, adding them changes no sum and their
 * weights are 0. Backward, the chain's rules fused: with the row's sum sgy = sum_j g_j y_j,
 *   dx_j += f32(f32(y_j (g_j - sgy)) * scale) for j <= i, nothing where masked.
 */
export function causalSoftmax(x: Tensor, scale = 1): Tensor {
  const T = x.shape[x.ndim - 1];
  if (x.ndim < 2 || x.shape[x.ndim - 2] !== T)
    throw new RangeError(`causalSoftmax needs (..., T, T) scores, got ${shapeStr(x.shape)}`);
  const y = allocF32(x.numel());
  const sc = Math.fround(scale);
  launch(NN_OPS.causalSoftmax.forward, x.storage, T, sc, y);
  const out = new Tensor(y, x.shape);
  return record(out, "causalSoftmax", [x], (g) => {
    const gx = gradInto(x);
    launch(NN_OPS.causalSoftmax.backward, y, T, sc, g, gx.buf, gx.acc);
  });
}

/**
 * Attention's two products with the heads read in place, for qkv (B, T, 3C), the c_attn output
 * whose last dimension is [q | k | v], each C = nh hs wide, head h at columns h hs .. h hs + hs - 1:
 *   attentionScores(qkv, nh) = q @ k^T  (B, nh, T, T)   (per batch and head, q, k (T, hs))
 *   attentionMix(att, qkv, nh) = att @ v  (B, T, C)     (head h's output at columns h hs..)
 * which is `split(qkv, C, 2)`, `.view(B, T, nh, hs).transpose(1, 2)`, the two matmuls and
 * `.transpose(1, 2).reshape(B, T, C)` without the copies: the gemms read q, k, v and write y with
 * row strides 3C and C. The same sums in the same order (the gemm's sums do not depend on
 * strides), so the same bits. Backward: dq = dS k, dk = dS^T q, dv = att^T dy, datt = dy v^T.
 */
export function attentionScores(qkv: Tensor, nHead: number): Tensor {
  const { B, T, C, hs, at } = attentionLayout(qkv, nHead);
  const S = allocF32(B * nHead * T * T);
  launch(NN_OPS.attentionScores.forward, qkv.storage, at, S, T, hs, C);
  const out = new Tensor(S, [B, nHead, T, T]);
  return record(out, "attentionScores", [qkv], (g) =>
    launch(NN_OPS.attentionScores.backward, qkv.storage, at, g, gradOf(qkv), T, hs, C),
  );
}

/**
 * `causalSoftmax(attentionScores(qkv, nh), scale)` in one op, (B, nh, T, T): the same bits (the
 * same gemm per (batch, head) pair, the same softmax per matrix), computed two pairs at a time on
 * a plan's arena so each pair's scores stay in cache for their softmax, and its gradient for the
 * two gemms, and the (B, nh, T, T) scores and their gradient are never written.
 */
export function attentionWeights(qkv: Tensor, nHead: number, scale = 1): Tensor {
  const { B, T, C, hs, at } = attentionLayout(qkv, nHead);
  const att = allocF32(B * nHead * T * T);
  const S = allocF32(2 * T * T); // two pairs' scores (forward) or their gradient (backward)
  const sc = Math.fround(scale);
  launch(NN_OPS.attentionWeights.forward, qkv.storage, at, S, att, T, hs, C, sc);
  const out = new Tensor(att, [B, nHead, T, T]);
  return record(out, "attentionWeights", [qkv], (g) =>
    launch(NN_OPS.attentionWeights.backward, qkv.storage, at, att, g, S, gradOf(qkv), T, hs, C, sc),
  );
}

/** att (B, nh, T, T) @ v of qkv (B, T, 3C) per head -> (B, T, C): see attentionScores. */
export function attentionMix(att: Tensor, qkv: Tensor, nHead: number): Tensor {
  const { B, T, C, hs, at } = attentionLayout(qkv, nHead);
  if (att.numel() !== B * nHead * T * T)
    throw new RangeError(`attentionMix: weights ${shapeStr(att.shape)} for qkv ${shapeStr(qkv.shape)}`);
  const y = allocF32(B * T * C);
  launch(NN_OPS.attentionMix.forward, att.storage, qkv.storage, at, y, T, hs, C);
  const out = new Tensor(y, [B, T, C]);
  return record(out, "attentionMix", [att, qkv], (g) =>
    launch(
      NN_OPS.attentionMix.backward,
      att.storage,
      qkv.storage,
      at,
      g,
      gradIfWanted(att),
      gradIfWanted(qkv),
      T,
      hs,
      C,
    ),
  );
}

/**
 * Per (batch, head) i = b nh + h, float offsets: q[i] into qkv (k at + C, v at + 2C), y[i] into
 * the (B, T, C) output, s[i] into the (B, nh, T, T) weights. Cached by shape.
 */
interface AttentionOffsets {
  q: Int32Array;
  k: Int32Array;
  v: Int32Array;
  y: Int32Array;
  s: Int32Array;
}
const attentionCache = new Map<string, AttentionOffsets>();
function attentionLayout(qkv: Tensor, nh: number) {
  if (qkv.ndim !== 3 || qkv.shape[2] % (3 * nh) !== 0)
    throw new RangeError(`attention: qkv ${shapeStr(qkv.shape)} is not (B, T, 3 C) with ${nh} heads`);
  const [B, T, C3] = qkv.shape;
  const C = C3 / 3;
  const hs = C / nh;
  const key = `${B},${T},${C},${nh}`;
  let at = attentionCache.get(key);
  if (!at) {
    const n = B * nh;
    at = {
      q: new Int32Array(n),
      k: new Int32Array(n),
      v: new Int32Array(n),
      y: new Int32Array(n),
      s: new Int32Array(n),
    };
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < nh; h++) {
        const i = b * nh + h;
        at.q[i] = b * T * C3 + h * hs;
        at.k[i] = at.q[i] + C;
        at.v[i] = at.q[i] + 2 * C;
        at.y[i] = b * T * C + h * hs;
        at.s[i] = i * T * T;
      }
    }
    if (attentionCache.size > 64) attentionCache.clear();
    attentionCache.set(key, at);
  }
  return { B, T, C, hs, at };
}

/** causalSoftmax's float64 exponentials of one row (one call at a time). */
let rowExp = new Float64Array(64);

/** The (n, n) lower-triangular matrix of ones, `torch.tril(torch.ones(n, n))`. */
export function tril(n: number, m = n): Tensor {
  const y = new Float32Array(n * m);
  for (let i = 0; i < n; i++) for (let j = 0; j <= i && j < m; j++) y[i * m + j] = 1;
  return new Tensor(y, [n, m]);
}

// ---------------------------------------------------------------------------------------------
// Slicing, stacking, expanding

/**
 * `x.narrow(dim, start, length)`: elements start..start+length-1 along `dim` (a copy). The
 * RNN's time step is `select(emb, 1, t)`; attention's q, k, v are `split(qkv, C, 2)`.
 */
export function narrow(x: Tensor, dim: number, start: number, length: number): Tensor {
  const d = normDim(dim, x.ndim);
  const [outer, n, inner] = splitAt(x.shape, d);
  if (
    !(start >= 0 && length >= 0 && start + length <= n && Number.isInteger(start) && Number.isInteger(length))
  ) {
    throw new RangeError(
      `narrow: [${start}, ${start + length}) out of range for dimension ${dim} of size ${n}`,
    );
  }
  const y = allocF32(outer * length * inner);
  launch(NN_OPS.narrow.forward, x.storage, outer, n, inner, start, length, y);
  const shape = x.shape.slice();
  shape[d] = length;
  const out = new Tensor(y, shape, x.dtype);
  return record(out, "narrow", [x], (g) =>
    launch(NN_OPS.narrow.backward, g, outer, n, inner, start, length, gradOf(x)),
  );
}

/** `x.select(dim, i)` = `x[:, i]` for dim 1: narrow to one element and drop the dimension. */
export function select(x: Tensor, dim: number, index: number): Tensor {
  const d = normDim(dim, x.ndim);
  const i = index < 0 ? index + x.shape[d] : index;
  return narrow(x, d, i, 1).squeeze(d);
}

/** `x.split(size, dim)`: consecutive chunks of `size` along `dim` (the last may be shorter). */
export function split(x: Tensor, size: number, dim: number): Tensor[] {
  const d = normDim(dim, x.ndim);
  const out: Tensor[] = [];
  for (let s = 0; s < x.shape[d]; s += size) out.push(narrow(x, d, s, Math.min(size, x.shape[d] - s)));
  return out;
}

/** `torch.stack(tensors, dim)`: a new dimension at `dim`, composed as unsqueeze + cat. */
export function stack(tensors: Tensor[], dim = 0): Tensor {
  if (tensors.length === 0) throw new RangeError("stack needs at least one tensor");
  const d = normDim(dim, tensors[0].ndim + 1);
  return cat(
    tensors.map((t) => t.unsqueeze(d)),
    d,
  );
}

/**
 * `x.expand(shape)`: size-1 dimensions repeated (-1 keeps a size), like the RNN's
 * `start.expand((b, -1))`. A copy here; the backward sums over the repeats.
 */
export function expand(x: Tensor, shape: number[]): Tensor {
  const lead = shape.length - x.ndim;
  if (lead < 0)
    throw new RangeError(`expand: ${shapeStr(shape)} has fewer dimensions than ${shapeStr(x.shape)}`);
  const target = shape.map((s, i) => (s === -1 ? x.shape[i - lead] : s));
  for (let i = 0; i < x.ndim; i++) {
    const have = x.shape[i];
    const want = target[i + lead];
    if (have !== want && have !== 1) {
      throw new RangeError(`expand: cannot expand ${shapeStr(x.shape)} to ${shapeStr(shape)}`);
    }
  }
  const off = broadcastOffsets(x.shape, target);
  const y = allocF32(off.length);
  launch(NN_OPS.expand.forward, x.storage, off, y);
  const out = new Tensor(y, target, x.dtype);
  return record(out, "expand", [x], (g) => launch(NN_OPS.expand.backward, g, off, gradOf(x)));
}

// ---------------------------------------------------------------------------------------------
// Cross-entropy with ignored targets

/**
 * `F.cross_entropy(logits, targets, ignore_index=ignoreIndex)`, mean over the targets that are
 * not `ignoreIndex` (makemore.py marks the positions after a word's end with -1):
 *   loss = (1/M) sum_{b: t_b != ignore} [logsumexp(x_b) - x_b[t_b]],  M = number of kept rows
 *   d loss / d x_bv = (softmax(x_b)_v - [v = t_b]) / M for kept rows, 0 for ignored rows.
 * logits (N, V), targets (N,) int64. All rows ignored gives NaN, as in PyTorch.
 */
export function crossEntropyIgnore(logits: Tensor, targets: Tensor, ignoreIndex = -100): Tensor {
  if (logits.ndim !== 2)
    throw new RangeError(`crossEntropy needs (N, V) logits, got ${shapeStr(logits.shape)}`);
  const [N, V] = logits.shape;
  if (targets.numel() !== N)
    throw new RangeError(`crossEntropy: ${N} rows of logits but ${targets.numel()} targets`);
  if (targets.dtype === "float32")
    throw new TypeError("crossEntropy targets must be integer class indices (int64)");
  // the kept rows (how many depends on the targets) are compacted inside the kernels into
  // buffers sized for all N rows, so a captured step replays with any number of ignored targets
  const kept = allocF32(N * V);
  const kt = allocI32(N);
  const rows = allocI32(N + 1); // rows[N] = M, the number of kept rows
  const probs = allocF32(N * V);
  const gk = allocF32(N * V);
  const y = allocF32(1);
  launch(
    NN_OPS.crossEntropyIgnore.forward,
    logits.storage,
    N,
    V,
    targets.storage,
    ignoreIndex,
    kept,
    kt,
    rows,
    probs,
    y,
  );
  const out = new Tensor(y, []);
  return record(out, "crossEntropy", [logits], (g) =>
    launch(NN_OPS.crossEntropyIgnore.backward, probs, kt, rows, N, V, g, gk, gradOf(logits)),
  );
}

// ---------------------------------------------------------------------------------------------
// The kernels (forward and backward of every primitive above)

type F32 = Float32Array;

const identities = new Map<number, Int32Array>();
/** 0, 1, ..., n-1 (cached: the batch offsets of an output) */
function identity(n: number): Int32Array {
  let id = identities.get(n);
  if (!id) {
    id = Int32Array.from({ length: n }, (_, i) => i);
    identities.set(n, id);
  }
  return id;
}

/**
 * For each batch i in order: C_offC[i] (M,N) (+)= op(A_offA[i]) (M,K) @ op(B_offB[i]) (K,N), the
 * offsets counting whole matrices: the strided gemm at natural strides, offsets in matrices.
 */
function bmm(
  tA: boolean,
  tB: boolean,
  M: number,
  N: number,
  K: number,
  A: F32,
  offA: Int32Array,
  Bs: F32,
  offB: Int32Array,
  C: F32,
  offC: Int32Array,
  acc: boolean,
): void {
  const [lda, ldb] = [tA ? M : K, tB ? K : N];
  gemmStrided(strided(tA, tB, M, N, K, A, offA, lda, Bs, offB, ldb, C, offC, N, acc, [M * K, K * N, M * N]));
}

/**
 * The strided gemm `for each i in order: C[offC[i]..] (M,N), row stride ldc, (+)=
 * op(A[offA[i]..]) @ op(B[offB[i]..])`, row strides lda, ldb (offsets in floats times `units`).
 */
function strided(
  tA: boolean,
  tB: boolean,
  M: number,
  N: number,
  K: number,
  A: F32,
  offA: Int32Array,
  lda: number,
  Bs: F32,
  offB: Int32Array,
  ldb: number,
  C: F32,
  offC: Int32Array,
  ldc: number,
  acc: boolean,
  units: readonly [number, number, number] = [1, 1, 1],
): StridedGemm {
  return { tA, tB, m: M, n: N, k: K, A, offA, lda, B: Bs, offB, ldb, C, offC, ldc, acc, units };
}

/**
 * Strided gemms over one batch, writing disjoint outputs that none of them reads: in place on a
 * plan's arena batch index by batch index (gemmStridedArena: each (batch, head) pair's products
 * while its operands are in cache), else gemm after gemm on views (natural strides) or contiguous
 * copies. Each output element is the same sum either way, so the same bits.
 */
function gemmStrided(...gemms: StridedGemm[]): void {
  if (gemmStridedArena(gemms)) return;
  for (const g of gemms) gemmStridedCopies(g);
}

function gemmStridedCopies(g: StridedGemm): void {
  const { tA, tB, m: M, n: N, k: K, A, offA, lda, B: Bs, offB, ldb, C, offC, ldc, acc, units } = g;
  // stored shapes: A (M, K) or (K, M) when tA; B (K, N) or (N, K) when tB; C (M, N)
  const [ar, ac] = tA ? [K, M] : [M, K];
  const [br, bc] = tB ? [N, K] : [K, N];
  const gemm = kernels().gemm;
  if (lda === ac && ldb === bc && ldc === N) {
    // natural strides: each operand is one contiguous block, so views, no copies
    for (let i = 0; i < offA.length; i++) {
      const [a, b, c] = [offA[i] * units[0], offB[i] * units[1], offC[i] * units[2]];
      gemm(
        tA,
        tB,
        M,
        N,
        K,
        A.subarray(a, a + M * K),
        Bs.subarray(b, b + K * N),
        C.subarray(c, c + M * N),
        acc,
      );
    }
    return;
  }
  const pack = (x: F32, o: number, ld: number, rows: number, cols: number, y: F32) => {
    for (let r = 0; r < rows; r++) y.set(x.subarray(o + r * ld, o + r * ld + cols), r * cols);
  };
  const [a, b, c] = [new Float32Array(M * K), new Float32Array(K * N), new Float32Array(M * N)];
  for (let i = 0; i < offA.length; i++) {
    const [oa, ob, oc] = [offA[i] * units[0], offB[i] * units[1], offC[i] * units[2]];
    pack(A, oa, lda, ar, ac, a);
    pack(Bs, ob, ldb, br, bc, b);
    if (acc) pack(C, oc, ldc, M, N, c);
    gemm(tA, tB, M, N, K, a, b, c, acc);
    for (let r = 0; r < M; r++) C.set(c.subarray(r * N, r * N + N), oc + r * ldc);
  }
}

const NN_OPS = {
  // per (batch, head) i: S_i = Q_i K_i^T (T, T); Y_i = att_i V_i (T, hs) with Q, K, V read from
  // qkv (row stride 3C) and Y written into (B, T, C) (row stride C); gradients accumulate
  attentionScores: {
    forward: (qkv: F32, at: AttentionOffsets, S: F32, T: number, hs: number, C: number) =>
      gemmStrided(strided(false, true, T, T, hs, qkv, at.q, 3 * C, qkv, at.k, 3 * C, S, at.s, T, false)),
    backward: (qkv: F32, at: AttentionOffsets, g: F32, gqkv: F32, T: number, hs: number, C: number) =>
      // pair by pair: dQ_i += dS_i (T, T) @ K_i (T, hs), then dK_i += dS_i^T @ Q_i
      gemmStrided(
        strided(false, false, T, hs, T, g, at.s, T, qkv, at.k, 3 * C, gqkv, at.q, 3 * C, true),
        strided(true, false, T, hs, T, g, at.s, T, qkv, at.q, 3 * C, gqkv, at.k, 3 * C, true),
      ),
  },
  // per pair i: att_i = causal softmax of (Q_i K_i^T) sc; backward dS_i = the softmax's backward,
  // dQ_i += dS_i K_i, dK_i += dS_i^T Q_i. On a plan's arena pair by pair through a (2, T, T)
  // scratch S; else the scores over all pairs, then the softmax (the same ops, so the same bits)
  attentionWeights: {
    forward: (
      qkv: F32,
      at: AttentionOffsets,
      S: F32,
      att: F32,
      T: number,
      hs: number,
      C: number,
      sc: number,
    ) => {
      if (attentionWeightsArena(qkv, at.q, at.k, S, att, T, hs, 3 * C, sc)) return;
      const scores = new Float32Array(att.length);
      NN_OPS.attentionScores.forward(qkv, at, scores, T, hs, C);
      NN_OPS.causalSoftmax.forward(scores, T, sc, att);
    },
    backward: (
      qkv: F32,
      at: AttentionOffsets,
      att: F32,
      g: F32,
      S: F32,
      gqkv: F32,
      T: number,
      hs: number,
      C: number,
      sc: number,
    ) => {
      if (attentionWeightsBackwardArena(qkv, at.q, at.k, att, g, S, gqkv, T, hs, 3 * C, sc)) return;
      const dS = new Float32Array(att.length);
      NN_OPS.causalSoftmax.backward(att, T, sc, g, dS, false);
      NN_OPS.attentionScores.backward(qkv, at, dS, gqkv, T, hs, C);
    },
  },
  attentionMix: {
    forward: (att: F32, qkv: F32, at: AttentionOffsets, y: F32, T: number, hs: number, C: number) =>
      gemmStrided(strided(false, false, T, hs, T, att, at.s, T, qkv, at.v, 3 * C, y, at.y, C, false)),
    backward: (
      att: F32,
      qkv: F32,
      at: AttentionOffsets,
      g: F32,
      gatt: F32 | null,
      gqkv: F32 | null,
      T: number,
      hs: number,
      C: number,
    ) => {
      // pair by pair: dAtt_i += dY_i (T, hs) @ V_i^T, then dV_i += att_i^T (T, T) @ dY_i
      const gemms: StridedGemm[] = [];
      if (gatt) gemms.push(strided(false, true, T, T, hs, g, at.y, C, qkv, at.v, 3 * C, gatt, at.s, T, true));
      if (gqkv) gemms.push(strided(true, false, T, hs, T, att, at.s, T, g, at.y, C, gqkv, at.v, 3 * C, true));
      if (gemms.length > 0) gemmStrided(...gemms);
    },
  },
  // per batch i: Y_i (m,n) = A_offA[i] (m,k) @ op(B_offB[i]), B stored (k,n), or (n,k) read
  // transposed (tB); dA = G @ op(B)^T, dB = A^T @ G (tB: G^T @ A), accumulated in batch order
  bmm: {
    forward: (
      A: F32,
      offA: Int32Array,
      Bs: F32,
      offB: Int32Array,
      y: F32,
      m: number,
      n: number,
      k: number,
      tB: boolean,
    ) => bmm(false, tB, m, n, k, A, offA, Bs, offB, y, identity(offA.length), false),
    backward: (
      A: F32,
      offA: Int32Array,
      Bs: F32,
      offB: Int32Array,
      g: F32,
      ga: F32 | null,
      gb: F32 | null,
      m: number,
      n: number,
      k: number,
      tB: boolean,
    ) => {
      const id = identity(offA.length);
      // dA_i (m,k) += G_i (m,n) @ op(B_i)^T: B (k,n) read transposed, or B (n,k) as stored
      if (ga) bmm(false, !tB, m, k, n, g, id, Bs, offB, ga, offA, true);
      // dB_i (k,n) += A_i^T (k,m) @ G_i (m,n); tB: dB_i (n,k) += G_i^T (n,m) @ A_i (m,k)
      if (gb && tB) bmm(true, false, n, k, m, g, id, A, offA, gb, offB, true);
      else if (gb) bmm(true, false, k, n, m, A, offA, g, id, gb, offB, true);
    },
  },
  // per row of (N, C): mu, rstd = 1 / sqrt(var + eps), xhat = (x - mu) rstd, y = xhat w + b;
  // backward with dh = g w: dx = rstd (dh - mean dh - xhat mean(dh xhat)); dw = sum g xhat; db = sum g
  layerNorm: {
    forward: (
      xs: F32,
      N: number,
      C: number,
      w: F32 | null,
      bs: F32 | null,
      eps: number,
      xhat: F32,
      rstd: Float64Array,
      y: F32,
      mean32: F32,
      rstd32: F32,
    ) => {
      if (layerNormForwardArena(xs, N, C, w, bs, eps, mean32, rstd32, xhat, y)) return;
      for (let r = 0; r < N; r++) {
        const o = r * C;
        let s = 0;
        for (let c = 0; c < C; c++) s += xs[o + c];
        const mu = s / C;
        let ss = 0;
        for (let c = 0; c < C; c++) {
          const d = xs[o + c] - mu;
          ss += d * d;
        }
        const rs = 1 / Math.sqrt(ss / C + eps);
        rstd[r] = rs;
        for (let c = 0; c < C; c++) {
          const h = (xs[o + c] - mu) * rs;
          xhat[o + c] = h;
          y[o + c] = h * (w ? w[c] : 1) + (bs ? bs[c] : 0);
        }
      }
    },
    backward: (
      g: F32,
      N: number,
      C: number,
      w: F32 | null,
      xhat: F32,
      rstd: Float64Array,
      gx: F32 | null,
      gw: F32 | null,
      gb: F32 | null,
      rstd32: F32,
      accX: boolean,
    ) => {
      if (layerNormBackwardArena(g, xhat, rstd32, w, N, C, gw, gb, gx, accX)) return;
      for (let r = 0; r < N; r++) {
        const o = r * C;
        let m1 = 0;
        let m2 = 0;
        for (let c = 0; c < C; c++) {
          const gi = g[o + c];
          if (gw) gw[c] += gi * xhat[o + c];
          if (gb) gb[c] += gi;
          const dh = gi * (w ? w[c] : 1);
          m1 += dh;
          m2 += dh * xhat[o + c];
        }
        if (!gx) continue;
        m1 /= C;
        m2 /= C;
        const rs = rstd[r];
        for (let c = 0; c < C; c++) {
          const dh = g[o + c] * (w ? w[c] : 1);
          const v = rs * (dh - m1 - xhat[o + c] * m2);
          gx[o + c] = accX ? gx[o + c] + v : v;
        }
      }
    },
  },
  // y = 0.5 x (1 + tanh(u)) = x s, u = sqrt(2/pi) (x + 0.044715 x^3), s = 0.5 (1 + tanh(u)) kept;
  // dy/dx = s + 2 x s (1 - s) sqrt(2/pi) (1 + 3 * 0.044715 x^2)
  gelu: {
    forward: (xs: F32, s: F32, y: F32) => {
      if (geluForwardArena(xs, y, s)) return; // y = x / (1 + e^(-2u)) in float32 lanes, s kept
      // NewGELU's float32 steps, with PyTorch's float32 tanh
      const f = Math.fround;
      for (let i = 0; i < xs.length; i++) {
        const v = xs[i];
        s[i] = f(GELU_KF * f(v + f(GELU_CF * f(f(v * v) * v))));
      }
      kernels().tanhForward(s, s);
      for (let i = 0; i < xs.length; i++) {
        const t1 = f(1 + s[i]);
        y[i] = f(0.5 * xs[i]) * t1;
        s[i] = 0.5 * t1;
      }
    },
    backward: (xs: F32, s: F32, g: F32, gx: F32, acc: boolean) => {
      if (geluBackwardArena(xs, s, g, gx, acc)) return; // float32 lanes from the forward's s
      for (let i = 0; i < xs.length; i++) {
        const v = xs[i];
        const si = s[i];
        const d = g[i] * (si + 2 * v * si * (1 - si) * GELU_K * (1 + 3 * GELU_C * v * v));
        gx[i] = acc ? gx[i] + d : d;
      }
    },
  },
  // per (T, T) matrix, row i: v_j = f32(x_j sc), y_j = exp(v_j - max v) / sum for j <= i, else 0
  causalSoftmax: {
    forward: (xs: F32, T: number, sc: number, y: F32) => {
      if (causalSoftmaxArena(xs, y, T, sc)) return; // float32 lanes (eager ops too)
      if (rowExp.length < T) rowExp = new Float64Array(T);
      const e = rowExp;
      const f = Math.fround;
      for (let base = 0; base < xs.length; base += T * T) {
        for (let i = 0; i < T; i++) {
          const o = base + i * T;
          let mx = Number.NEGATIVE_INFINITY;
          for (let j = 0; j <= i; j++) mx = Math.max(mx, f(xs[o + j] * sc));
          let s = 0;
          for (let j = 0; j <= i; j++) s += e[j] = Math.exp(f(xs[o + j] * sc) - mx);
          for (let j = 0; j <= i; j++) y[o + j] = e[j] / s;
          for (let j = i + 1; j < T; j++) y[o + j] = 0;
        }
      }
    },
    // backward: sgy = sum_j g_j y_j (float64), dx_j (+)= f32(f32(y_j (g_j - sgy)) sc); masked: 0 / untouched
    backward: (y: F32, T: number, sc: number, g: F32, gx: F32, acc: boolean) => {
      if (causalSoftmaxBackwardArena(y, g, gx, T, sc, acc)) return; // the same float64 steps in wasm
      const f = Math.fround;
      for (let base = 0; base < y.length; base += T * T) {
        for (let i = 0; i < T; i++) {
          const o = base + i * T;
          let sgy = 0;
          for (let j = 0; j <= i; j++) sgy += g[o + j] * y[o + j];
          for (let j = 0; j <= i; j++) {
            const d = f(f(y[o + j] * (g[o + j] - sgy)) * sc);
            gx[o + j] = acc ? gx[o + j] + d : d;
          }
          if (!acc) gx.fill(0, o + i + 1, o + T);
        }
      }
    },
  },
  // y[r] = P_0[ix_r0] + ... + P_{K-1}[ix_r,K-1] (+ b); dP_k[ix_rk] += g_r, db += sum_r g_r
  gatherSum: {
    forward: (
      P: F32,
      K: number,
      V: number,
      O: number,
      ix: F32,
      N: number,
      b: F32 | null,
      rows: Int32Array,
      cols: Int32Array,
      y: F32,
    ) => {
      for (let r = 0; r < N; r++) {
        for (let k = 0; k < K; k++) {
          const v = ix[r * K + k];
          if (!(Number.isInteger(v) && v >= 0 && v < V))
            throw new RangeError(`gatherSum: index ${v} out of range for ${V} rows`);
          rows[r * K + k] = v;
          cols[k * N + r] = v;
        }
      }
      if (gatherSumArena(P, V, O, K, rows, N, b, y)) return;
      const f = Math.fround;
      for (let r = 0; r < N; r++) {
        const dst = r * O;
        for (let j = 0; j < O; j++) y[dst + j] = P[rows[r * K] * O + j];
        for (let k = 1; k < K; k++) {
          const src = (k * V + rows[r * K + k]) * O;
          for (let j = 0; j < O; j++) y[dst + j] = f(y[dst + j] + P[src + j]);
        }
        if (b) for (let j = 0; j < O; j++) y[dst + j] = f(y[dst + j] + b[j]);
      }
    },
    backward: (
      g: F32,
      K: number,
      V: number,
      O: number,
      cols: Int32Array,
      N: number,
      gP: F32 | null,
      gb: F32 | null,
    ) => {
      if (gP && !scatterAddTablesArena(g, O, cols, K, N, gP, V)) {
        for (let k = 0; k < K; k++) {
          for (let r = 0; r < N; r++) {
            const dst = (k * V + cols[k * N + r]) * O;
            for (let j = 0; j < O; j++) gP[dst + j] += g[r * O + j];
          }
        }
      }
      if (gb && !colSumArena(g, gb, N, O)) {
        for (let r = 0; r < N; r++) for (let j = 0; j < O; j++) gb[j] += g[r * O + j];
      }
    },
  },
  // y = mask ? value : x (mask broadcast by offsets om); no gradient where filled
  maskedFill: {
    forward: (xs: F32, m: F32, om: Int32Array, v: number, y: F32) => {
      for (let i = 0; i < y.length; i++) y[i] = m[om[i]] !== 0 ? v : xs[i];
    },
    backward: (m: F32, om: Int32Array, g: F32, gx: F32) => {
      for (let i = 0; i < g.length; i++) if (m[om[i]] === 0) gx[i] += g[i];
    },
  },
  // y = x[:, start:start+length, :] of x (outer, n, inner)
  narrow: {
    forward: (xs: F32, outer: number, n: number, inner: number, start: number, length: number, y: F32) => {
      const run = length * inner;
      if (copyRowsArena(xs, start * inner, n * inner, y, 0, run, run, outer)) return;
      for (let o = 0; o < outer; o++) {
        const src = (o * n + start) * inner;
        for (let i = 0; i < run; i++) y[o * run + i] = xs[src + i];
      }
    },
    backward: (g: F32, outer: number, n: number, inner: number, start: number, length: number, gx: F32) => {
      const run = length * inner;
      if (addRowsArena(g, 0, run, gx, start * inner, n * inner, run, outer)) return;
      for (let o = 0; o < outer; o++) {
        const dst = (o * n + start) * inner;
        const src = o * run;
        for (let i = 0; i < run; i++) gx[dst + i] += g[src + i];
      }
    },
  },
  // y[i] = x[off[i]] (broadcast copy); the backward sums over the repeats
  expand: {
    forward: (xs: F32, off: Int32Array, y: F32) => {
      for (let i = 0; i < y.length; i++) y[i] = xs[off[i]];
    },
    backward: (g: F32, off: Int32Array, gx: F32) => {
      for (let i = 0; i < g.length; i++) gx[off[i]] += g[i];
    },
  },
  // mean over the M kept rows of logsumexp(x_b) - x_b[t_b]; rows[0..M) the kept rows, rows[N] = M
  crossEntropyIgnore: {
    forward: (
      xs: F32,
      N: number,
      V: number,
      t: F32,
      ignoreIndex: number,
      kept: F32,
      kt: Int32Array,
      rows: Int32Array,
      probs: F32,
      y: F32,
    ) => {
      let M = 0;
      for (let r = 0; r < N; r++) {
        const tr = t[r];
        if (tr === ignoreIndex) continue;
        if (!(tr >= 0 && tr < V))
          throw new RangeError(`crossEntropy: target ${tr} out of range for ${V} classes`);
        rows[M] = r;
        kt[M] = tr;
        for (let v = 0; v < V; v++) kept[M * V + v] = xs[r * V + v];
        M++;
      }
      rows[N] = M;
      const total =
        M > 0
          ? kernels().crossEntropyForward(
              kept.subarray(0, M * V),
              kt.subarray(0, M),
              M,
              V,
              probs.subarray(0, M * V),
            )
          : 0;
      y[0] = total / M;
    },
    backward: (
      probs: F32,
      kt: Int32Array,
      rows: Int32Array,
      N: number,
      V: number,
      g: F32,
      gk: F32,
      gx: F32,
    ) => {
      const M = rows[N];
      gk.fill(0, 0, M * V);
      kernels().crossEntropyBackward(
        probs.subarray(0, M * V),
        kt.subarray(0, M),
        M,
        V,
        g[0] / M,
        gk.subarray(0, M * V),
      );
      for (let i = 0; i < M; i++) {
        const dst = rows[i] * V;
        for (let v = 0; v < V; v++) gx[dst + v] += gk[i * V + v];
      }
    },
  },
} satisfies OpTable<
  | "attentionScores"
  | "attentionMix"
  | "attentionWeights"
  | "bmm"
  | "causalSoftmax"
  | "gatherSum"
  | "layerNorm"
  | "gelu"
  | "maskedFill"
  | "narrow"
  | "expand"
  | "crossEntropyIgnore"
>;
