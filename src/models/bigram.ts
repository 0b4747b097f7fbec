/**
 * The bigram models of makemore part 1: the next character depends on the current one only.
 *
 *   BigramCounts  ("bigram-counts")  count every pair, P = (N + 1) / rowsum: no gradient steps
 *   Bigram        ("bigram")         a (V, V) table of logits W trained by gradient descent;
 *                                    the notebook's one_hot(x) @ W is row x of W
 *
 *   const vocab = Vocabulary.fromWords(words);
 *   const { X, Y } = buildDataset(words, vocab, 1);              // the notebook's 228,146 bigrams
 *   const counts = new BigramCounts(bigramSpec("bigram-counts", vocab.size));
 *   counts.fit(X, Y);
 *   counts.logLikelihood(X, Y);                                  // { logLikelihood, n, nll }
 *   const net = buildBigram(bigramSpec("bigram", vocab.size), new Generator().manualSeed(2147483647));
 *   trainBigramFullBatch(net, X, Y, { steps: 100 });             // lr 50, 0.01 * mean(W^2)
 *   sampleBigram(net, vocab, { count: 5, generator: new Generator().manualSeed(2147483647) });
 *
 * Both read a window of one token (block size 1), so they train, evaluate, sample and diagnose
 * like every other window model; sampling follows the notebook's own loop (`sampleBigram`).
 */

import type { Vocabulary } from "../data/dataset.ts";
import { UserError } from "../errors.ts";
import { Module } from "../nn/modules.ts";
import type { Generator } from "../random/generator.ts";
import { randn } from "../tensor/random.ts";
import { crossEntropy, noGrad, Tensor, zeros } from "../tensor/tensor.ts";
import {
  type DataFacts,
  type FlagValues,
  type LanguageModel,
  type ModelFamily,
  type SampleRequest,
  windowContext,
} from "./model.ts";

export type BigramType = "bigram-counts" | "bigram";

/** Everything needed to rebuild a bigram model (stored in config.json). */
export interface BigramSpec {
  type: BigramType;
  vocabSize: number;
  /** always 1: the current character */
  blockSize: 1;
  /** bigram-counts: added to every count before normalising (the notebook's N + 1) */
  smoothing: number;
  /** bigram: the loss adds regularization * mean(W^2) (the notebook's 0.01) */
  regularization: number;
}

export function bigramSpec(
  type: BigramType,
  vocabSize: number,
  overrides: Partial<BigramSpec> = {},
): BigramSpec {
  return { type, vocabSize, blockSize: 1, smoothing: 1, regularization: 0.01, ...overrides };
}

/** The current token of each window: X (B, T) -> (B,), its last column. */
function lastToken(X: Tensor): Tensor {
  if (X.ndim !== 2) throw new RangeError(`a bigram model reads (B, T) windows, got (${X.shape.join(", ")})`);
  const [B, T] = X.shape;
  if (T === 1) return X.view(B);
  const out = new Float32Array(B);
  for (let b = 0; b < B; b++) out[b] = X.storage[b * T + T - 1];
  return new Tensor(out, [B], "int64");
}

// ---------------------------------------------------------------- counting

/**
 * The counting model: N[i, j] = how often character j follows character i, and
 * P = (N + smoothing).float() / P.sum(1, keepdims=True). It has no parameters; `fit` counts.
 * forward gives log P of the next character (B, V), so its cross-entropy is the notebook's nll.
 */
export class BigramCounts extends Module implements LanguageModel {
  /** N (V, V): the counts (whole numbers, stored as float32, exact below 2^24) */
  readonly counts: Tensor;
  private cachedProbs: Tensor | null = null;
  constructor(readonly spec: BigramSpec) {
    super();
    this.counts = zeros([spec.vocabSize, spec.vocabSize]);
  }
  /** N[x, y] += 1 for every window's current token x and its next token y. */
  fit(X: Tensor, Y: Tensor): this {
    const x = lastToken(X).storage;
    const y = Y.storage;
    const V = this.spec.vocabSize;
    const n = this.counts.storage;
    for (let i = 0; i < x.length; i++) {
      if (!(x[i] >= 0 && x[i] < V && y[i] >= 0 && y[i] < V))
        throw new RangeError(`bigram (${x[i]}, ${y[i]}) outside the vocabulary of ${V}`);
      n[x[i] * V + y[i]] += 1;
    }
    this.cachedProbs = null;
    return this;
  }
  /**
   * P (V, V) float32: P = (N + s).float(); P /= P.sum(1, keepdims=True). The row sums are whole
   * numbers (exact in float32 below 2^24), so every P[i, j] is one correctly rounded division.
   */
  probs(): Tensor {
    if (this.cachedProbs && this.cachedProbs.shape[0] === this.spec.vocabSize) return this.cachedProbs;
    const V = this.spec.vocabSize;
    const n = this.counts.storage;
    const s = Math.fround(this.spec.smoothing);
    const P = new Float32Array(V * V);
    for (let i = 0; i < V; i++) {
      let sum = 0;
      for (let j = 0; j < V; j++) sum = Math.fround(sum + Math.fround(n[i * V + j] + s));
      for (let j = 0; j < V; j++) P[i * V + j] = Math.fround(n[i * V + j] + s) / sum;
    }
    this.cachedProbs = new Tensor(P, [V, V]);
    return this.cachedProbs;
  }
  /** X (B, T) int64 -> log P[x] (B, V): log-probabilities of the next character, as logits. */
  forward(X: Tensor): Tensor {
    return this.keep(this.probs().index(lastToken(X)).log());
  }
  /** The mean negative log-likelihood (no gradient: this model is counted, not trained). */
  loss(X: Tensor, Y: Tensor): Tensor {
    return crossEntropy(this.forward(X), Y);
  }
  nextLogits(context: Tensor): Tensor {
    return this.forward(windowContext(context, 1));
  }
  diagnosticLayers(): Module[] {
    return [];
  }
  /**
   * The notebook's quality measure: log_likelihood += torch.log(P[ix1, ix2]) for every bigram in
   * order, accumulated in a float32 tensor as the notebook's loop does, and nll = -ll / n
   * (float32). Also the same sum in float64 (what the float32 loop approximates).
   */
  logLikelihood(
    X: Tensor,
    Y: Tensor,
  ): { logLikelihood: number; n: number; nll: number; logLikelihood64: number } {
    const P = this.probs().storage;
    const V = this.spec.vocabSize;
    const x = lastToken(X).storage;
    const y = Y.storage;
    let ll = 0;
    let ll64 = 0;
    for (let i = 0; i < x.length; i++) {
      const lp = Math.fround(Math.log(P[x[i] * V + y[i]]));
      ll = Math.fround(ll + lp);
      ll64 += lp;
    }
    return { logLikelihood: ll, n: x.length, nll: Math.fround(-ll / x.length), logLikelihood64: ll64 };
  }
  protected override ownBuffers(): [string, Tensor][] {
    return [["counts", this.counts]];
  }
  override describe(): string {
    return `BigramCounts(${this.spec.vocabSize}, smoothing=${this.spec.smoothing})`;
  }
}

// ---------------------------------------------------------------- the neural bigram

/**
 * The notebook's "neural net": logits = one_hot(x) @ W, W (V, V); row x of W holds the log-counts
 * of the characters after x. one_hot(x) @ W picks that row exactly (every other product is 0), so
 * the forward is `W[x]`; the backward scatter-adds each row's gradient into W[x] in row order,
 * as the matmul's xenc.T @ dlogits sums them.
 */
export class Bigram extends Module implements LanguageModel {
  readonly W: Tensor;
  constructor(
    readonly spec: BigramSpec,
    W: Tensor,
  ) {
    super();
    this.W = W.requiresGrad_();
  }
  /** X (B, T) int64 -> logits W[x] (B, V) */
  forward(X: Tensor): Tensor {
    return this.keep(this.W.index(lastToken(X)));
  }
  /**
   * The notebook's loss: the mean cross-entropy (its -probs[arange(n), ys].log().mean()) plus
   * regularization * (W**2).mean(), which pulls every row toward uniform (the counts' smoothing).
   */
  loss(X: Tensor, Y: Tensor): Tensor {
    const nll = crossEntropy(this.forward(X), Y);
    return this.spec.regularization === 0 ? nll : nll.add(this.W.pow(2).mean().mul(this.spec.regularization));
  }
  nextLogits(context: Tensor): Tensor {
    return this.forward(windowContext(context, 1));
  }
  diagnosticLayers(): Module[] {
    return [];
  }
  protected override ownParameters(): [string, Tensor][] {
    return [["W", this.W]];
  }
  override describe(): string {
    return `Bigram(${this.spec.vocabSize}, regularization=${this.spec.regularization})`;
  }
}

/** Build either model; the neural one draws W = torch.randn((V, V), generator=g). */
export function buildBigram(spec: BigramSpec, g: Generator): BigramCounts | Bigram {
  validateBigramSpec(spec);
  if (spec.type === "bigram-counts") return new BigramCounts(spec);
  return new Bigram(spec, randn([spec.vocabSize, spec.vocabSize], { generator: g }));
}

export function validateBigramSpec(s: BigramSpec, exitCode?: number): void {
  if (!Number.isInteger(s.vocabSize) || s.vocabSize < 1 || s.vocabSize > 65536)
    throw new UserError(`vocabulary size must be 1..65536 for a bigram table, got ${s.vocabSize}`, exitCode);
  if (s.blockSize !== 1)
    throw new UserError(`a bigram model reads one character, got block size ${s.blockSize}`, exitCode);
  if (!(Number.isFinite(s.smoothing) && s.smoothing >= 0))
    throw new UserError(`smoothing must be a number >= 0, got ${s.smoothing}`, exitCode);
  if (!(Number.isFinite(s.regularization) && s.regularization >= 0))
    throw new UserError(`regularization must be a number >= 0, got ${s.regularization}`, exitCode);
}

/**
 * The notebook's full-batch gradient descent: every step scores all bigrams, then
 *   loss = nll + 0.01 * mean(W^2);  W.grad = None;  loss.backward();  W.data += -lr * W.grad
 * The N rows share only V contexts, so the mean over rows is computed over the (V, V) table of
 * counts instead: nll = -sum_ij N_ij log softmax(W_i)_j / n (the same loss and gradient as the
 * notebook's (n, V) forward, up to float rounding, in O(V^2) per step instead of O(n V)).
 * `onStep(k, loss)` gets step k's loss (the one the notebook prints, from before the update) once
 * the update is done, like the training loop's afterStep: W.grad then holds step k's gradient, so
 * diagnostics see this step's grad:data and update:data.
 */
export function trainBigramFullBatch(
  model: Bigram,
  X: Tensor,
  Y: Tensor,
  opts: { steps: number; learningRate?: number; onStep?: (step: number, loss: number) => void },
): number {
  const lr = opts.learningRate ?? 50;
  const V = model.spec.vocabSize;
  // N (V, V) / n: the share of the rows with context i and target j
  const counts = new BigramCounts(bigramSpec("bigram-counts", V)).fit(X, Y).counts;
  const weights = counts.div(Y.numel());
  let last = Number.NaN;
  for (let k = 0; k < opts.steps; k++) {
    let loss = weights.mul(model.W.logSoftmax(1)).sum().neg(); // (V, V) -> scalar nll
    if (model.spec.regularization !== 0)
      loss = loss.add(model.W.pow(2).mean().mul(model.spec.regularization));
    last = loss.item();
    model.W.grad = null;
    loss.backward();
    noGrad(() => model.W.data.add_(model.W.grad!, -lr));
    opts.onStep?.(k, last);
  }
  return last;
}

/**
 * How close the neural bigram is to the best it can do on (X, Y): its nll over the rows, the
 * counting model's nll without smoothing (the maximum-likelihood table, which is the optimum of
 * the nll alone: softmax(W_i) = N_i / sum N_i), and |grad loss| / |grad nll| at the current W. The
 * ratio is near 1 while the nll term still drives the descent (not converged: the learning rate or
 * the step count) and near 0 at the optimum of nll + regularization * mean(W^2), where the
 * regularization's pull balances the nll's (the regularization decides the gap).
 */
export function bigramFit(
  model: Bigram,
  X: Tensor,
  Y: Tensor,
): { nll: number; optimum: number; gradRatio: number } {
  const V = model.spec.vocabSize;
  const table = new BigramCounts(bigramSpec("bigram-counts", V, { smoothing: 0 })).fit(X, Y);
  const weights = table.counts.div(Y.numel());
  const W = new Tensor(model.W.storage.slice(), [V, V], "float32").requiresGrad_();
  const nllOf = () => weights.mul(W.logSoftmax(1)).sum().neg(); // (V, V) -> scalar, as the training
  const nll = nllOf();
  nll.backward();
  const gNll = W.grad!.storage.slice();
  W.grad = null;
  const reg = model.spec.regularization;
  (reg === 0 ? nllOf() : nllOf().add(W.pow(2).mean().mul(reg))).backward();
  const norm = (g: Float32Array) => Math.sqrt(g.reduce((s, v) => s + v * v, 0));
  const n = norm(gNll);
  return {
    nll: nll.item(),
    optimum: -table.logLikelihood(X, Y).logLikelihood64 / Y.numel(),
    gradRatio: n === 0 ? 0 : norm(W.grad!.storage) / n,
  };
}

/**
 * Sample as the notebook does: from index 0, p = P[ix] (counts) or exp(W[ix]) / sum (neural),
 * ix = torch.multinomial(p, num_samples=1, replacement=True, generator=g), until '.'. torch 1.13
 * draws replacement=True samples by the cumulative-distribution path (one uniform per draw), unlike
 * the softmax sampler of the other models, so the notebook's names come only from this loop.
 * A temperature other than 1 samples from softmax(log p / temperature) by the same path.
 */
export function sampleBigram(model: LanguageModel, vocab: Vocabulary, opts: SampleRequest): string[] {
  const V = model.spec.vocabSize;
  const temperature = opts.temperature ?? 1;
  const maxLength = opts.maxLength ?? 256;
  const row = (ix: number): Float32Array => {
    const p = new Float32Array(V);
    if (model instanceof BigramCounts && temperature === 1) {
      p.set(model.probs().storage.subarray(ix * V, (ix + 1) * V));
      return p;
    }
    const logits =
      model instanceof BigramCounts
        ? model
            .probs()
            .storage.subarray(ix * V, (ix + 1) * V)
            .map(Math.log)
        : (model as Bigram).W.storage.subarray(ix * V, (ix + 1) * V);
    // counts = logits.exp(); p = counts / counts.sum(1, keepdims=True)  (float32, as the notebook)
    const tf = Math.fround(temperature);
    let sum = 0;
    for (let j = 0; j < V; j++) {
      p[j] = Math.exp(temperature === 1 ? logits[j] : Math.fround(logits[j] / tf));
      sum += p[j];
    }
    const s = Math.fround(sum);
    for (let j = 0; j < V; j++) p[j] = p[j] / s;
    return p;
  };
  const words: string[] = [];
  for (let n = 0; n < opts.count; n++) {
    const out: number[] = [];
    let ix = 0;
    for (let k = 0; k < maxLength; k++) {
      ix = opts.generator.multinomial(row(ix), 1, V, 1, true)[0];
      if (ix === 0) break;
      out.push(ix);
    }
    words.push(vocab.decode(out));
  }
  return words;
}

// ---------------------------------------------------------------- the family (registry entry)

export const BIGRAM_FAMILY: ModelFamily<BigramSpec> = {
  name: "bigram",
  types: [
    {
      type: "bigram-counts",
      summary: "makemore part 1: count character pairs, P = (N + 1) / rowsum (no training)",
    },
    { type: "bigram", summary: "makemore part 1: a (V, V) logits table trained by gradient descent" },
  ],
  data: "window",
  flags: [
    { name: "smoothing", kind: "number", min: 0, help: "bigram-counts: added to every count (default 1)" },
    {
      name: "regularization",
      kind: "number",
      min: 0,
      help: "bigram: loss + this * mean(W^2) (default 0.01)",
    },
  ],
  spec(type: string, f: FlagValues, data: DataFacts): BigramSpec {
    if (type === "bigram" && f.smoothing !== undefined)
      throw new UserError("--smoothing applies to --type bigram-counts only", 2);
    if (type === "bigram-counts" && f.regularization !== undefined)
      throw new UserError("--regularization applies to --type bigram only", 2);
    const spec = bigramSpec(type as BigramType, data.vocabSize, {
      smoothing: (f.smoothing as number | undefined) ?? 1,
      regularization: (f.regularization as number | undefined) ?? 0.01,
    });
    validateBigramSpec(spec, 2);
    return spec;
  },
  checkSpec(m: Record<string, unknown>): BigramSpec {
    const bad = (field: string, what: string) =>
      new UserError(`model.${field} ${what}, got ${JSON.stringify(m[field])}`);
    if (m.type !== "bigram" && m.type !== "bigram-counts")
      throw bad("type", "must be bigram or bigram-counts");
    if (m.blockSize !== 1) throw bad("blockSize", "must be 1 for a bigram model");
    for (const k of ["smoothing", "regularization"]) {
      if (!(Number.isFinite(m[k]) && (m[k] as number) >= 0)) throw bad(k, "must be a number >= 0");
    }
    const spec = m as unknown as BigramSpec;
    validateBigramSpec(spec);
    return spec;
  },
  build: buildBigram,
  sample: sampleBigram,
  // the notebook's full-batch descent: 100 steps at a constant lr 50 (bigram-counts takes no steps)
  trainDefaults: { maxSteps: 100, learningRate: 50, lrSchedule: "constant" },
  fit(model, train, cfg, onStep) {
    if (model instanceof BigramCounts) {
      model.fit(train.X, train.Y);
      return 0;
    }
    trainBigramFullBatch(model as Bigram, train.X, train.Y, {
      steps: cfg.maxSteps,
      learningRate: cfg.learningRate,
      onStep,
    });
    return cfg.maxSteps;
  },
};
