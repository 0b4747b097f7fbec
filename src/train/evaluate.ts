/**
 * Evaluation, BatchNorm calibration, sampling and folding: what a trained model is used for.
 * `splitLoss` and `sampleWords` take any `LanguageModel` (src/models/model.ts), with captured
 * eval-mode forwards (src/train/plan.ts) for the lecture MLP; calibration and folding are about the
 * MLP's BatchNorms.
 */

import {
  ContextWindows,
  type Examples,
  exampleBlockSize,
  exampleCount,
  exampleRows,
  gatherExamples,
  type Vocabulary,
} from "../data/dataset.ts";
import { findFamily, type LanguageModel } from "../models/index.ts";
import { MLP, type ModelSpec } from "../models/mlp.ts";
import { BatchNorm1d, Embedding, Linear, type Module, Sequential } from "../nn/modules.ts";
import type { Generator } from "../random/generator.ts";
import { kernels } from "../tensor/kernels.ts";
import { multinomial, multinomialOne } from "../tensor/random.ts";
import { noGrad, Tensor } from "../tensor/tensor.ts";
import { type ForwardPlan, forwardPlanFor, type LossPlan, lossPlanFor, verifiedLoss } from "./plan.ts";

/** Rows per forward pass when evaluating a whole split (bounds memory; eval mode is row-wise). */
const CHUNK = 16384;
/** Calibration keeps a BatchNorm's inputs between its two passes up to this many floats (256 MB). */
const CALIBRATE_KEEP = 64 * 1024 * 1024;

/** Targets that count in the loss (sequence data marks the rest -1). */
function countTargets(Y: Tensor): number {
  let n = 0;
  for (const y of Y.storage) if (y !== -1) n++;
  return n;
}

/**
 * A split grouped by context: eval mode is row-independent (BatchNorm uses running statistics), so
 * rows sharing a context share their logits. U (K, T) holds the distinct contexts in order of first
 * appearance; the rows of context k have the distinct targets `targets[offs[k] .. offs[k+1])`
 * (ascending), each `counts[j]` times.
 */
interface Grouped {
  /** the storages it was built from, for materialised data (a replaced storage invalidates it) */
  xs: Float32Array | null;
  ys: Float32Array | null;
  N: number;
  T: number;
  K: number;
  U: Float32Array;
  offs: Int32Array;
  targets: Int32Array;
  counts: Int32Array;
  /** 1 + the largest context token id and target id */
  tokens: number;
  classes: number;
}

/** Per split (the same split is evaluated repeatedly); null when grouping does not pay. */
const groupedCache = new WeakMap<Examples, Grouped | null>();

/** Only take the grouped path when it removes at least this share of the rows' forwards. */
const GROUPED_MAX_RATIO = 0.7;
/** Most distinct contexts (and context, target pairs) grouped: bounds the tables' memory. */
const GROUPED_MAX_KEYS = 4_000_000;

/**
 * The grouping of `data` by context, or null when it does not pay (K >= 0.7 N) or the ids are not
 * all non-negative integers (the row path then reports them as before). Cached per Examples; the
 * storages are assumed not to be written in place afterwards.
 */
function groupedRows(data: Examples): Grouped | null {
  const materialised = !(data instanceof ContextWindows);
  const xs = materialised ? data.X.storage : null;
  const ys = materialised ? data.Y.storage : null;
  if (groupedCache.has(data)) {
    const hit = groupedCache.get(data) ?? null;
    if (hit === null || (hit.xs === xs && hit.ys === ys)) return hit;
  }
  const g = buildGrouped(data, xs, ys);
  groupedCache.set(data, g);
  return g;
}

/** Visit the rows of `data` in chunks of CHUNK: fn(x (n, T), y (n,), n); fn returning false stops. */
function forEachChunk(data: Examples, fn: (x: Float32Array, y: Float32Array, n: number) => unknown) {
  const N = exampleCount(data);
  const T = exampleBlockSize(data);
  const x = new Float32Array(Math.min(N, CHUNK) * T);
  const y = new Float32Array(Math.min(N, CHUNK));
  for (let s = 0; s < N; s += CHUNK) {
    const n = Math.min(CHUNK, N - s);
    gatherExamples(data, null, s, n, x, y);
    if (fn(x, y, n) === false) return;
  }
}

/**
 * Two passes over the rows, memory O(K) rather than O(N): the first numbers the distinct contexts
 * (giving up once they exceed 0.7 N), the second counts each (context, target) pair.
 */
function buildGrouped(data: Examples, xs: Float32Array | null, ys: Float32Array | null): Grouped | null {
  if (!(data instanceof ContextWindows) && (data.X.shape.length !== 2 || data.Y.shape.length !== 1))
    return null;
  const N = exampleCount(data);
  const T = exampleBlockSize(data);
  if (N < 2 || T < 1) return null;
  if (xs && ys && (data.Y.shape[0] !== N || xs.length < N * T || ys.length < N)) return null;
  // the largest ids (and whether all are valid) decide the key space
  let maxX = 0;
  let maxY = 0;
  let valid = true;
  forEachChunk(data, (x, y, n) => {
    for (let i = 0; i < n * T; i++) {
      const v = x[i];
      if (!(v >= 0 && Number.isInteger(v))) return (valid = false);
      if (v > maxX) maxX = v;
    }
    for (let i = 0; i < n; i++) {
      const v = y[i];
      if (!(v >= 0 && Number.isInteger(v))) return (valid = false);
      if (v > maxY) maxY = v;
    }
  });
  if (!valid) return null;
  const B = maxX + 1;
  const classes = maxY + 1;
  const limit = Math.min(GROUPED_MAX_RATIO * N, GROUPED_MAX_KEYS);
  const space = B ** T;
  // context key -> id: the T token ids in base B (a dense table when the space is small)
  const dense =
    space <= Math.max(1 << 20, 4 * Math.min(N, GROUPED_MAX_KEYS)) ? new Int32Array(space).fill(-1) : null;
  const map = new Map<number | string, number>();
  const U: number[] = [];
  let K = 0;
  const idOf = (x: Float32Array, at: number, add: boolean): number => {
    if (dense || space < 2 ** 53) {
      let key = 0;
      for (let t = 0; t < T; t++) key = key * B + x[at + t];
      const k = dense ? dense[key] : (map.get(key) ?? -1);
      if (k >= 0 || !add) return k;
      if (dense) dense[key] = K;
      else map.set(key, K);
    } else {
      const key = x.subarray(at, at + T).join(",");
      const k = map.get(key) ?? -1;
      if (k >= 0 || !add) return k;
      map.set(key, K);
    }
    for (let t = 0; t < T; t++) U.push(x[at + t]);
    return K++;
  };
  let pays = true;
  forEachChunk(data, (x, _y, n) => {
    for (let b = 0; b < n; b++) idOf(x, b * T, true);
    if (K >= limit) return (pays = false);
  });
  if (!pays || K >= GROUPED_MAX_RATIO * N) return null;
  // (context, target) pair counts: dense (K, classes) when small, else a map keyed k * classes + y
  const pairDense = K * classes <= 1 << 24 ? new Int32Array(K * classes) : null;
  const pairMap = new Map<number, number>();
  let tooMany = false;
  forEachChunk(data, (x, y, n) => {
    for (let b = 0; b < n; b++) {
      const key = idOf(x, b * T, false) * classes + y[b];
      if (pairDense) pairDense[key]++;
      else pairMap.set(key, (pairMap.get(key) ?? 0) + 1);
    }
    if (pairMap.size > GROUPED_MAX_KEYS) return !(tooMany = true);
  });
  if (tooMany) return null;
  const offs = new Int32Array(K + 1);
  const targets: number[] = [];
  const counts: number[] = [];
  if (pairDense) {
    for (let k = 0; k < K; k++) {
      for (let c = 0; c < classes; c++) {
        const n = pairDense[k * classes + c];
        if (n > 0) {
          targets.push(c);
          counts.push(n);
        }
      }
      offs[k + 1] = targets.length;
    }
  } else {
    const keys = Float64Array.from(pairMap.keys()).sort();
    let j = 0;
    for (let k = 0; k < K; k++) {
      for (; j < keys.length && Math.floor(keys[j] / classes) === k; j++) {
        targets.push(keys[j] - k * classes);
        counts.push(pairMap.get(keys[j])!);
      }
      offs[k + 1] = targets.length;
    }
  }
  return {
    xs,
    ys,
    N,
    T,
    K,
    U: Float32Array.from(U),
    offs,
    targets: Int32Array.from(targets),
    counts: Int32Array.from(counts),
    tokens: B,
    classes,
  };
}

/** Σ over context k's targets of count · (logsumexp(logits) − logits[t]), in float64. */
function groupLoss(g: Grouped, k: number, logits: Float32Array, at: number, C: number): number {
  let mx = Number.NEGATIVE_INFINITY;
  for (let v = 0; v < C; v++) if (logits[at + v] > mx) mx = logits[at + v];
  if (Number.isNaN(mx) || !Number.isFinite(mx)) {
    // NaN or infinite logits: the same arithmetic without the shift, which propagates them
    mx = 0;
    for (let v = 0; v < C; v++) if (Number.isNaN(logits[at + v])) return Number.NaN;
  }
  let sum = 0;
  for (let v = 0; v < C; v++) sum += Math.exp(logits[at + v] - mx);
  const lse = mx + Math.log(sum);
  let total = 0;
  for (let j = g.offs[k]; j < g.offs[k + 1]; j++) total += g.counts[j] * (lse - logits[at + g.targets[j]]);
  return total;
}

/**
 * Mean cross-entropy over a whole split in eval mode (running BatchNorm statistics), like the
 * lecture's `split_loss`. The model's mode is restored afterwards.
 *
 * When the split repeats contexts (the lecture's training split: ~5,400 distinct contexts among
 * 182,625 rows), the logits are computed once per distinct context and the loss is the
 * count-weighted sum over (context, target) pairs, in float64: equal to the row-by-row mean up to
 * float rounding (test/evaluate.test.ts).
 */
export function splitLoss(model: LanguageModel, data: Examples): number {
  if (data.X.shape[0] === 0) return Number.NaN; // an empty split (--split makemore has no val set)
  if (!(model instanceof MLP)) return rowLoss(model, data);
  const T = exampleBlockSize(data);
  const plan = T === model.spec.blockSize ? forwardPlanFor(model, PLAN_ROWS, T) : null;
  // the grouped path computes cross-entropy itself, so only for a model whose loss is the plain one
  const grouped = model.loss === MLP.prototype.loss ? groupedRows(data) : null;
  if (plan) {
    // the captured eval forward (src/train/plan.ts), PLAN_ROWS rows at a time in cache
    plan.load();
    if (grouped && grouped.tokens <= model.embedding.numEmbeddings) {
      const { K, U } = grouped;
      let total = 0;
      let ok = true;
      for (let s = 0; s < K && ok; s += PLAN_ROWS) {
        const n = Math.min(PLAN_ROWS, K - s);
        const logits = plan.run(U.subarray(s * T, (s + n) * T), n);
        const C = logits.length / PLAN_ROWS;
        if (grouped.classes > C)
          ok = false; // a target out of range: the row path reports it
        else for (let k = 0; k < n; k++) total += groupLoss(grouped, s + k, logits, k * C, C);
      }
      if (ok) return total / grouped.N;
    }
    return planLoss(plan, data);
  }
  const wasTraining = model.training;
  model.eval();
  try {
    return noGrad(() => {
      if (grouped && grouped.tokens <= model.embedding.numEmbeddings) {
        const { K, T, U } = grouped;
        let total = 0;
        let ok = true;
        for (let s = 0; s < K && ok; s += CHUNK) {
          const e = Math.min(K, s + CHUNK);
          const logits = model.forward(new Tensor(U.subarray(s * T, e * T), [e - s, T], "int64"));
          const C = logits.shape[1];
          if (logits.shape.length !== 2 || logits.shape[0] !== e - s || grouped.classes > C) ok = false;
          else {
            const l = logits.storage.length === (e - s) * C ? logits.storage : null;
            if (!l) ok = false;
            else for (let k = s; k < e; k++) total += groupLoss(grouped, k, l, (k - s) * C, C);
          }
        }
        if (ok) return total / grouped.N;
      }
      return chunkedLoss(model, data);
    });
  } finally {
    model.train(wasTraining);
  }
}

/** Rows per replay of a captured evaluation forward (small enough to stay in cache). */
const PLAN_ROWS = 256;

/** The row-by-row mean cross-entropy of a window split through a captured forward, in float64. */
function planLoss(plan: ForwardPlan, data: Examples): number {
  const T = exampleBlockSize(data);
  const R = plan.rows;
  let total = 0;
  forEachChunk(data, (xs, ys, count) => {
    for (let s = 0; s < count; s += R) {
      const n = Math.min(R, count - s);
      const logits = plan.run(xs.subarray(s * T, (s + n) * T), n);
      const V = logits.length / R;
      for (let b = 0; b < n; b++) {
        const t = ys[s + b];
        if (!(t >= 0 && t < V))
          throw new RangeError(`crossEntropy: target ${t} out of range for ${V} classes`);
      }
      total += kernels().crossEntropyForward(logits.subarray(0, n * V), ys.subarray(s, s + n), n, V, null);
    }
  });
  return total / exampleCount(data);
}

/** Rows per chunk of a split's loss for models other than the window MLP (bounds memory). */
const LOSS_ROWS = 256;

/**
 * Any model, eval mode, no graph: Σ over chunks of LOSS_ROWS rows of (chunk mean loss) x (targets
 * in the chunk) / all targets, in float64 (mode restored afterwards). Every full chunk replays the
 * model's captured eval loss (src/train/plan.ts `lossPlanFor`), the last partial one runs eagerly:
 * the same kernels on the same rows, so the same bits as the eager loop (test/engine.test.ts).
 */
function rowLoss(model: LanguageModel, data: Examples): number {
  const wasTraining = model.training;
  model.eval();
  try {
    return noGrad(() => {
      const N = exampleCount(data);
      let plan: LossPlan | null | undefined;
      let total = 0;
      let count = 0;
      for (let s = 0; s < N; s += LOSS_ROWS) {
        const e = Math.min(N, s + LOSS_ROWS);
        const { X, Y } = exampleRows(data, s, e);
        const n = countTargets(Y);
        if (n === 0) continue;
        let loss: number;
        if (e - s < LOSS_ROWS || plan === null) loss = model.loss(X, Y).item();
        else if (plan === undefined) {
          // capture (an eager run) on the first full chunk; the next one checks a replay
          plan = lossPlanFor(model, X, Y);
          plan?.load();
          loss = plan ? plan.run(X, Y) : model.loss(X, Y).item();
        } else if (!plan.verified) {
          loss = verifiedLoss(model, plan, X, Y);
          if (!plan.verified) plan = null;
        } else loss = plan.run(X, Y);
        total += loss * n;
        count += n;
      }
      return total / count;
    });
  } finally {
    model.train(wasTraining);
  }
}

/** Σ over chunks of (chunk mean loss) x (targets in the chunk) / all targets: the split's mean. */
function chunkedLoss(model: LanguageModel, data: Examples): number {
  const N = exampleCount(data);
  let total = 0;
  let count = 0;
  for (let s = 0; s < N; s += CHUNK) {
    const e = Math.min(N, s + CHUNK);
    const { X, Y } = exampleRows(data, s, e);
    const n = countTargets(Y);
    if (n === 0) continue;
    total += model.loss(X, Y).item() * n;
    count += n;
  }
  return total / count;
}

/**
 * The lecture's "calibrate the batch norm at the end of training": replace every BatchNorm's
 * running statistics by the statistics of the whole training set. Layer by layer: once the
 * BatchNorms before layer k hold full-set statistics, eval mode reproduces exactly the full-batch
 * training-mode normalisation, so one chunked pass per BatchNorm gives its exact statistics.
 */
export function calibrateBatchNorm(model: MLP, data: Examples): void {
  const layers = model.layers.layers;
  const wasTraining = model.training;
  model.eval();
  noGrad(() => {
    for (let k = 0; k < layers.length; k++) {
      const bn = layers[k];
      if (!(bn instanceof BatchNorm1d)) continue;
      const H = bn.dim;
      const sum = new Float64Array(H);
      const sumsq = new Float64Array(H);
      const N = exampleCount(data);
      // two-pass (mean, then squared deviations) for accuracy; the inputs are kept between the
      // passes when they fit in CALIBRATE_KEEP floats, else recomputed (the same forward, the same
      // values), so memory stays bounded for any training set
      const keep = N * H <= CALIBRATE_KEEP;
      const inputs: Tensor[] = [];
      const input = (s: number) => {
        const { X } = exampleRows(data, s, Math.min(N, s + CHUNK));
        const emb = model.embedding.forward(X);
        let x = emb.view(emb.shape[0], -1);
        for (let j = 0; j < k; j++) x = layers[j].forward(x);
        return x;
      };
      for (let s = 0; s < N; s += CHUNK) {
        const x = input(s);
        if (keep) inputs.push(x);
        const xs = x.storage;
        for (let i = 0; i < xs.length; i++) sum[i % H] += xs[i];
      }
      const mean = sum.map((v) => v / N);
      for (let s = 0, c = 0; s < N; s += CHUNK, c++) {
        const xs = (keep ? inputs[c] : input(s)).storage;
        for (let i = 0; i < xs.length; i++) {
          const d = xs[i] - mean[i % H];
          sumsq[i % H] += d * d;
        }
      }
      for (let c = 0; c < H; c++) {
        const unbiasedVar = sumsq[c] / (N - 1);
        bn.runningMean.storage[c] = mean[c];
        // lecture-std tracks the std, with its eps inside the root: sqrt(var + eps)
        bn.runningSpread.storage[c] =
          bn.variant === "lecture-std"
            ? Math.sqrt(bn.eps === 0 ? unbiasedVar : Math.fround(Math.fround(unbiasedVar) + bn.eps))
            : unbiasedVar;
      }
    }
  });
  model.train(wasTraining);
}

export interface SampleOptions {
  count: number;
  generator: Generator;
  /** divide logits by this before the softmax (1 = the model's distribution) */
  temperature?: number;
  /** stop a word after this many characters (an untrained model may never emit the boundary) */
  maxLength?: number;
  /** keep only the k largest logits at each step, the rest -inf (makemore.py's --top-k) */
  topK?: number;
}

/**
 * Sample words like the lecture: start from the boundary token, take the softmax of the next
 * token's logits (`model.nextLogits`), draw it with `torch.multinomial` (PyTorch-exact), stop at
 * the boundary. A family with its own draw order (`ModelFamily.sample`) samples its own way.
 */
export function sampleWords(model: LanguageModel, vocab: Vocabulary, opts: SampleOptions): string[] {
  const own = findFamily(model.spec.type)?.sample;
  if (own) return own(model, vocab, opts);
  const temperature = opts.temperature ?? 1;
  const maxLength = opts.maxLength ?? 256;
  const topK = opts.topK;
  const T = model.spec.blockSize;
  const plan = model instanceof MLP && topK === undefined ? forwardPlanFor(model, 1, T) : null;
  if (plan) {
    plan.load();
    return sampleArena((context) => plan.run(context, 1), vocab, opts, T, temperature, maxLength);
  }
  const wasTraining = model.training;
  model.eval();
  const words: string[] = [];
  try {
    noGrad(() => {
      for (let n = 0; n < opts.count; n++) {
        const context = [0]; // the tokens so far, starting at the boundary
        const out: number[] = [];
        for (let k = 0; k < maxLength; k++) {
          const x = new Tensor(Float32Array.from(context), [1, context.length], "int64");
          let logits = model.nextLogits(x); // (1, V)
          if (temperature !== 1) logits = logits.div(temperature);
          if (topK !== undefined) logits = topKMask(logits, topK);
          const probs = logits.softmax(1);
          const ix = multinomial(probs, 1, { generator: opts.generator }).item();
          context.push(ix);
          if (ix === 0) break;
          out.push(ix);
        }
        words.push(vocab.decode(out));
      }
    });
  } finally {
    model.train(wasTraining);
  }
  return words;
}

/** Most floats of next-token distributions one `sampleArena` call keeps (16 MB). */
const SAMPLE_MEMO_FLOATS = 4 * 1024 * 1024;

/**
 * The same sampling on a captured eval-mode forward: logits for the last T tokens, then exactly the
 * ops the generic path applies to them -- `div(temperature)` in float32, `softmax(1)` (float64 exp
 * and sum, float32 result) and torch's multinomial draw from the generator.
 *
 * In eval mode the next-token distribution is a fixed function of the T-token context (no batch
 * statistics, no state), so within one call a context seen before reuses the probabilities computed
 * the first time: the same bits as recomputing them, and most characters of a batch of names come
 * from a context already seen (every name starts from the all-boundary context; prefixes repeat).
 * The memo holds at most SAMPLE_MEMO_FLOATS floats and lives only for the call (the parameters may
 * change between calls).
 */
function sampleArena(
  logitsOf: (context: Int32Array) => Float32Array,
  vocab: Vocabulary,
  opts: SampleOptions,
  T: number,
  temperature: number,
  maxLength: number,
): string[] {
  const words: string[] = [];
  const context = new Int32Array(T);
  let q = new Float32Array(0);
  let e = new Float64Array(0);
  const tf = Math.fround(temperature);
  // context -> its distribution; the key is the context in base `base` (exact below 2^53)
  const memo = new Map<number, Float32Array>();
  let memoFloats = 0;
  let base = 0;
  const probsOf = (): Float32Array => {
    let key = -1;
    if (base > 0) {
      key = 0;
      for (let t = 0; t < T; t++) key = key * base + context[t];
      const hit = memo.get(key);
      if (hit) return hit;
    }
    const logits = logitsOf(context);
    const V = logits.length;
    if (base === 0 && V ** T < 2 ** 53) base = V;
    if (e.length !== V) {
      e = new Float64Array(V);
      q = new Float32Array(V);
    }
    const probs = new Float32Array(V);
    for (let v = 0; v < V; v++) probs[v] = temperature !== 1 ? logits[v] / tf : logits[v];
    let mx = Number.NEGATIVE_INFINITY;
    for (let v = 0; v < V; v++) mx = Math.max(mx, probs[v]);
    let sum = 0;
    for (let v = 0; v < V; v++) sum += e[v] = Math.exp(probs[v] - mx);
    for (let v = 0; v < V; v++) {
      probs[v] = e[v] / sum;
      if (!(probs[v] >= 0) || !Number.isFinite(probs[v])) {
        throw new RangeError("multinomial: probabilities must be finite and non-negative");
      }
    }
    if (key >= 0 && memoFloats + V <= SAMPLE_MEMO_FLOATS) {
      memo.set(key, probs);
      memoFloats += V;
    }
    return probs;
  };
  for (let n = 0; n < opts.count; n++) {
    context.fill(0);
    const out: number[] = [];
    for (let k = 0; k < maxLength; k++) {
      const probs = probsOf();
      const ix = multinomialOne(probs, opts.generator, q);
      context.copyWithin(0, 1);
      context[T - 1] = ix;
      if (ix === 0) break;
      out.push(ix);
    }
    words.push(vocab.decode(out));
  }
  return words;
}

/**
 * makemore.py's top-k: `v, _ = torch.topk(logits, k); logits[logits < v[:, [-1]]] = -inf` on
 * (n, V) logits: every value below a row's k-th largest becomes -inf (ties with it are kept).
 */
export function topKMask(logits: Tensor, k: number): Tensor {
  const [n, V] = logits.shape;
  const y = logits.storage.slice();
  for (let r = 0; r < n; r++) {
    const row = y.subarray(r * V, r * V + V);
    const kth = Float32Array.from(row).sort().reverse()[Math.min(Math.max(1, k), V) - 1];
    for (let v = 0; v < V; v++) if (row[v] < kth) row[v] = Number.NEGATIVE_INFINITY;
  }
  return new Tensor(y, [n, V]);
}

/** Where a sampled word comes from, as makemore marks it. */
export type Provenance = "train" | "val" | "test" | "new";

export function provenance(
  word: string,
  sets: { train: Set<string>; val: Set<string>; test: Set<string> },
): Provenance {
  if (sets.train.has(word)) return "train";
  if (sets.val.has(word)) return "val";
  if (sets.test.has(word)) return "test";
  return "new";
}

/**
 * Fold every BatchNorm (eval mode) into the Linear before it, for inference:
 *   y = gamma (x W + b - mu) / sigma + beta  =  x W' + b'
 *   W'[:, c] = W[:, c] * gamma_c / sigma_c ;  b'_c = (b_c - mu_c) * gamma_c / sigma_c + beta_c
 * with sigma = running std ("lecture-std") or sqrt(running var + eps). Computed in float64.
 * Returns a new model without BatchNorm layers; the original is untouched.
 */
export function foldBatchNorm(model: MLP): MLP {
  const spec: ModelSpec = {
    ...model.spec,
    type: "custom",
    batchnorm: "none",
    outputBatchnorm: false,
    bias: true,
  };
  const src = model.layers.layers;
  const layers: Module[] = [];
  for (let i = 0; i < src.length; i++) {
    const layer = src[i];
    const next = src[i + 1];
    if (layer instanceof BatchNorm1d)
      throw new Error(`BatchNorm at layer ${i} does not follow a Linear; cannot fold`);
    if (layer instanceof Linear && next instanceof BatchNorm1d) {
      const { fanIn: I, fanOut: O } = layer;
      const W = new Float32Array(I * O);
      const b = new Float32Array(O);
      for (let c = 0; c < O; c++) {
        const spread = next.runningSpread.storage[c];
        const sigma = next.variant === "lecture-std" ? spread : Math.sqrt(spread + next.eps);
        const scale = next.gamma.storage[c] / sigma;
        for (let r = 0; r < I; r++) W[r * O + c] = layer.weight.storage[r * O + c] * scale;
        const bias = layer.bias ? layer.bias.storage[c] : 0;
        b[c] = (bias - next.runningMean.storage[c]) * scale + next.beta.storage[c];
      }
      layers.push(new Linear(I, O, { weight: new Tensor(W, [I, O]), biasInit: new Tensor(b, [O]) }));
      i++; // the BatchNorm is consumed
    } else if (layer instanceof Linear) {
      const bias = layer.bias ? layer.bias.storage.slice() : new Float32Array(layer.fanOut);
      layers.push(
        new Linear(layer.fanIn, layer.fanOut, {
          weight: new Tensor(layer.weight.storage.slice(), layer.weight.shape),
          biasInit: new Tensor(bias, [layer.fanOut]),
        }),
      );
    } else {
      layers.push(layer);
    }
  }
  const { numEmbeddings, embeddingDim, weight } = model.embedding;
  const emb = new Embedding(numEmbeddings, embeddingDim, {
    weight: new Tensor(weight.storage.slice(), weight.shape),
  });
  const folded = new MLP(spec, emb, new Sequential(layers));
  folded.eval();
  return folded;
}
