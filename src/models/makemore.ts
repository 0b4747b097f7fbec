/**
 * makemore.py's six models, as karpathy/makemore defines them: Transformer (GPT-2), BoW, RNN,
 * GRU, MLP and Bigram. Every module is built in makemore.py's construction order from one
 * `Generator`, so after `manualSeed(3407)` and its split's `randperm` the initial weights are
 * PyTorch's bit for bit; children carry makemore.py's attribute names, so `stateDict()` has its
 * `state_dict()` keys and layouts (`transformer.h.0.attn.c_attn.weight` (3C, C), ...) and
 * `model.load_state_dict` in PyTorch accepts our checkpoints.
 *
 * All are sequence models: idx (B, T) int64 -> logits (B, T, V); targets (B, T) with -1 after a
 * word's end (ignored). Letters: B batch, T time, C n_embd, C2 n_embd2, V vocabulary, nh heads,
 * hs = C / nh head size.
 *
 *   const g = new Generator().manualSeed(3407);
 *   g.randperm(words.length);                          // makemore.py's split draws first
 *   const model = buildMakemore({ type: "transformer", vocabSize: 27, blockSize: 16, ...MAKEMORE_DEFAULTS }, g);
 *   const loss = model.loss(X, Y);
 */

import type { Vocabulary } from "../data/dataset.ts";
import { UserError } from "../errors.ts";
import { Embedding, Module, named, Sequential, Tanh } from "../nn/modules.ts";
import { GELU, LayerNorm, TorchLinear } from "../nn/torchnn.ts";
import type { Generator } from "../random/generator.ts";
import { allocF32, launch } from "../tensor/engine.ts";
import {
  attentionMix,
  attentionWeights,
  causalSoftmax,
  crossEntropyIgnore,
  expand,
  gatherSum,
  matmul,
  matmulT,
  select,
  stack,
  tril,
} from "../tensor/nnops.ts";
import { multinomial } from "../tensor/random.ts";
import { arange, cat, noGrad, Tensor, zeros } from "../tensor/tensor.ts";
import type { DataFacts, FlagValues, LanguageModel, ModelFamily, SampleRequest } from "./model.ts";

/**
 * makemore.py's --type names; its `bigram` is `makemore-bigram` here, because `bigram` is the
 * lecture's neural bigram (src/models/bigram.ts: randn init, window data, SGD).
 */
export const MAKEMORE_TYPES = ["transformer", "makemore-bigram", "mlp", "rnn", "gru", "bow"] as const;
export type MakemoreType = (typeof MAKEMORE_TYPES)[number];

/** makemore.py's ModelConfig: vocab and block size from the data, the rest from flags. */
export interface MakemoreSpec {
  type: MakemoreType;
  /** V: characters + the boundary token 0 */
  vocabSize: number;
  /** T: longest word + 1 (the <START> token then the word) */
  blockSize: number;
  nLayer: number;
  nHead: number;
  nEmbd: number;
  nEmbd2: number;
  /**
   * n > 0: draw `torch.randperm(n)` from the generator before building, as makemore.py's split
   * does (`rp = torch.randperm(len(words))` after `torch.manual_seed`), so the weights are its
   * weights at the same seed. The permutation itself is not used (the run's split is its own).
   */
  splitDraw: number;
}

/** makemore.py's defaults: `--n-layer 4 --n-head 4 --n-embd 64 --n-embd2 64`. */
export const MAKEMORE_DEFAULTS = { nLayer: 4, nHead: 4, nEmbd: 64, nEmbd2: 64, splitDraw: 0 } as const;

// ---------------------------------------------------------------------------------------------
// Containers named like torch.nn.ModuleDict / ModuleList

/** Named submodules without a forward of their own (`nn.ModuleDict`, `nn.ModuleList`). */
class ModuleDict extends Module {
  constructor(readonly entries: [string, Module][]) {
    super();
  }
  forward(_x: Tensor): Tensor {
    throw new Error("a ModuleDict has no forward");
  }
  override children(): [string, Module][] {
    return this.entries;
  }
  get(name: string): Module {
    const hit = this.entries.find(([n]) => n === name);
    if (!hit) throw new Error(`no submodule ${name}`);
    return hit[1];
  }
}

const moduleList = (ms: Module[]) => new ModuleDict(ms.map((m, i) => [String(i), m]));

/** The base of the six: the loss and the next-token logits every family model offers. */
export abstract class MakemoreModel extends Module implements LanguageModel {
  /**
   * Every makemore.py type is causal: the Transformer and BoW by their masks, the RNN and GRU by
   * their recurrence, the MLP and the bigram by reading only earlier tokens.
   */
  readonly causal = true;
  constructor(readonly spec: MakemoreSpec) {
    super();
  }
  /** idx (B, T) -> logits (B, T, V) */
  abstract override forward(idx: Tensor): Tensor;
  /** How many previous tokens `nextLogits` feeds the model (makemore.py's get_block_size). */
  contextSize(): number {
    return this.spec.blockSize;
  }
  /** `F.cross_entropy(logits.view(-1, V), targets.view(-1), ignore_index=-1)` */
  loss(X: Tensor, Y: Tensor): Tensor {
    const logits = this.forward(X);
    const V = logits.shape[logits.ndim - 1];
    return crossEntropyIgnore(logits.view(-1, V), Y.view(-1), -1);
  }
  /** The logits after `context` (B, t): crop to the last block_size tokens, the last position. */
  nextLogits(context: Tensor): Tensor {
    const [B, t] = context.shape;
    const T = this.contextSize();
    let ctx = context;
    if (t > T) {
      const y = new Float32Array(B * T);
      for (let b = 0; b < B; b++) y.set(context.storage.subarray(b * t + t - T, b * t + t), b * T);
      ctx = zeros([B, T], { dtype: "int64" });
      ctx.storage.set(y);
    }
    return select(this.forward(ctx), 1, -1);
  }
  /** The modules whose `.out` diagnostics read, in forward order. */
  diagnosticLayers(): Module[] {
    return [];
  }
}

// ---------------------------------------------------------------------------------------------
// Transformer (GPT-2)

/** Multi-head masked self-attention with one (C, 3C) projection for q, k, v and an output one. */
class CausalSelfAttention extends Module {
  readonly c_attn: TorchLinear;
  readonly c_proj: TorchLinear;
  /** (1, 1, T, T) lower-triangular ones: position i attends to 0..i (makemore.py's `bias` buffer) */
  readonly bias: Tensor;
  constructor(
    readonly nEmbd: number,
    readonly nHead: number,
    blockSize: number,
    g: Generator,
  ) {
    super();
    if (nEmbd % nHead !== 0) throw new RangeError(`n_embd ${nEmbd} is not a multiple of n_head ${nHead}`);
    this.c_attn = new TorchLinear(nEmbd, 3 * nEmbd, { generator: g });
    this.c_proj = new TorchLinear(nEmbd, nEmbd, { generator: g });
    this.bias = tril(blockSize).view(1, 1, blockSize, blockSize);
  }
  forward(x: Tensor): Tensor {
    const C = x.shape[2];
    const nh = this.nHead;
    const hs = C / nh;
    // (B, T, 3C) = [q | k | v]; per head h, q, k, v are (T, hs) blocks read in place (nnops.ts):
    // att = (q @ k^T * hs^-1/2).masked_fill(tril == 0, -inf).softmax(-1)  (B, nh, T, T)
    const qkv = this.c_attn.forward(x);
    const att = attentionWeights(qkv, nh, 1 / Math.sqrt(hs));
    this.keep(att);
    // (B, nh, T, T) @ v (B, nh, T, hs), heads side by side -> (B, T, C)
    const y = attentionMix(att, qkv, nh);
    return this.c_proj.forward(y);
  }
  override children(): [string, Module][] {
    return named(this, "c_attn", "c_proj");
  }
  protected override ownBuffers(): [string, Tensor][] {
    return named(this, "bias");
  }
}

/** Pre-LayerNorm block: x + attn(ln_1(x)), then x + c_proj(gelu(c_fc(ln_2(x)))) with a 4x MLP. */
class Block extends Module {
  readonly ln_1: LayerNorm;
  readonly attn: CausalSelfAttention;
  readonly ln_2: LayerNorm;
  readonly mlp: ModuleDict;
  readonly c_fc: TorchLinear;
  readonly c_proj: TorchLinear;
  readonly act = new GELU();
  constructor(spec: MakemoreSpec, g: Generator) {
    super();
    const C = spec.nEmbd;
    this.ln_1 = new LayerNorm(C);
    this.attn = new CausalSelfAttention(C, spec.nHead, spec.blockSize, g);
    this.ln_2 = new LayerNorm(C);
    this.c_fc = new TorchLinear(C, 4 * C, { generator: g });
    this.c_proj = new TorchLinear(4 * C, C, { generator: g });
    this.mlp = new ModuleDict([
      ["c_fc", this.c_fc],
      ["c_proj", this.c_proj],
      ["act", this.act],
    ]);
  }
  forward(x: Tensor): Tensor {
    x = x.add(this.attn.forward(this.ln_1.forward(x)));
    x = x.add(this.c_proj.forward(this.act.forward(this.c_fc.forward(this.ln_2.forward(x)))));
    return this.keep(x);
  }
  override children(): [string, Module][] {
    return named(this, "ln_1", "attn", "ln_2", "mlp");
  }
}

/** GPT-2: token + position embeddings, n_layer blocks, final LayerNorm, lm_head without bias. */
export class Transformer extends MakemoreModel {
  readonly wte: Embedding;
  readonly wpe: Embedding;
  readonly h: Block[];
  readonly ln_f: LayerNorm;
  readonly transformer: ModuleDict;
  readonly lm_head: TorchLinear;
  constructor(spec: MakemoreSpec, g: Generator) {
    super(spec);
    this.wte = new Embedding(spec.vocabSize, spec.nEmbd, { generator: g });
    this.wpe = new Embedding(spec.blockSize, spec.nEmbd, { generator: g });
    this.h = Array.from({ length: spec.nLayer }, () => new Block(spec, g));
    this.ln_f = new LayerNorm(spec.nEmbd);
    this.transformer = new ModuleDict([
      ["wte", this.wte],
      ["wpe", this.wpe],
      ["h", moduleList(this.h)],
      ["ln_f", this.ln_f],
    ]);
    this.lm_head = new TorchLinear(spec.nEmbd, spec.vocabSize, { generator: g, bias: false });
  }
  forward(idx: Tensor): Tensor {
    const T = idx.shape[1];
    if (T > this.spec.blockSize)
      throw new RangeError(
        `cannot forward a sequence of length ${T}, block size is only ${this.spec.blockSize}`,
      );
    // (B, T, C) + (T, C)
    let x = this.wte.forward(idx).add(this.wpe.forward(arange(T)));
    for (const block of this.h) x = block.forward(x);
    return this.keep(this.lm_head.forward(this.ln_f.forward(x)));
  }
  override children(): [string, Module][] {
    return named(this, "transformer", "lm_head");
  }
  override diagnosticLayers(): Module[] {
    return [this.wte, ...this.h.flatMap((b) => [b.ln_1, b.attn, b.ln_2, b.act, b]), this.ln_f];
  }
}

// ---------------------------------------------------------------------------------------------
// Bag of words

/** The causal average of the preceding positions: softmax of a masked zero matrix, (B,T,T) @ (B,T,C). */
class CausalBoW extends Module {
  /** (1, T, T) lower-triangular ones (makemore.py's `bias` buffer) */
  readonly bias: Tensor;
  constructor(blockSize: number) {
    super();
    this.bias = tril(blockSize).view(1, blockSize, blockSize);
  }
  forward(x: Tensor): Tensor {
    const [B, T] = x.shape;
    // zeros.masked_fill(tril == 0, -inf).softmax(-1): row i averages positions 0..i
    const att = causalSoftmax(zeros([B, T, T]));
    return this.keep(matmul(att, x));
  }
  protected override ownBuffers(): [string, Tensor][] {
    return named(this, "bias");
  }
}

/** x + cbow(x), then x + c_proj(tanh(c_fc(x))) with an n_embd2 hidden layer. */
class BoWBlock extends Module {
  readonly cbow: CausalBoW;
  readonly c_fc: TorchLinear;
  readonly c_proj: TorchLinear;
  readonly mlp: ModuleDict;
  constructor(spec: MakemoreSpec, g: Generator) {
    super();
    this.cbow = new CausalBoW(spec.blockSize);
    this.c_fc = new TorchLinear(spec.nEmbd, spec.nEmbd2, { generator: g });
    this.c_proj = new TorchLinear(spec.nEmbd2, spec.nEmbd, { generator: g });
    this.mlp = new ModuleDict([
      ["c_fc", this.c_fc],
      ["c_proj", this.c_proj],
    ]);
  }
  forward(x: Tensor): Tensor {
    x = x.add(this.cbow.forward(x));
    x = x.add(this.c_proj.forward(this.c_fc.forward(x).tanh()));
    return this.keep(x);
  }
  override children(): [string, Module][] {
    return named(this, "cbow", "mlp");
  }
}

/** Token + position embeddings, one causal bag-of-words block, a Linear head. */
export class BoW extends MakemoreModel {
  readonly wte: Embedding;
  readonly wpe: Embedding;
  readonly context_block: BoWBlock;
  readonly lm_head: TorchLinear;
  constructor(spec: MakemoreSpec, g: Generator) {
    super(spec);
    this.wte = new Embedding(spec.vocabSize, spec.nEmbd, { generator: g });
    this.wpe = new Embedding(spec.blockSize, spec.nEmbd, { generator: g });
    this.context_block = new BoWBlock(spec, g);
    this.lm_head = new TorchLinear(spec.nEmbd, spec.vocabSize, { generator: g });
  }
  forward(idx: Tensor): Tensor {
    const T = idx.shape[1];
    if (T > this.spec.blockSize)
      throw new RangeError(
        `cannot forward a sequence of length ${T}, block size is only ${this.spec.blockSize}`,
      );
    const x = this.wte.forward(idx).add(this.wpe.forward(arange(T)));
    return this.keep(this.lm_head.forward(this.context_block.forward(x)));
  }
  override children(): [string, Module][] {
    return named(this, "wte", "wpe", "context_block", "lm_head");
  }
  override diagnosticLayers(): Module[] {
    return [this.wte, this.context_block.cbow, this.context_block.c_fc, this.context_block];
  }
}

// ---------------------------------------------------------------------------------------------
// RNN and GRU

/** h_t = tanh(W [x_t, h_{t-1}] + b) */
class RNNCell extends Module {
  readonly xh_to_h: TorchLinear;
  constructor(spec: MakemoreSpec, g: Generator) {
    super();
    this.xh_to_h = new TorchLinear(spec.nEmbd + spec.nEmbd2, spec.nEmbd2, { generator: g });
  }
  forward(_x: Tensor): Tensor {
    throw new Error("RNNCell.forward takes (x_t, h_prev): call step()");
  }
  /** (B, C) and (B, C2) -> (B, C2) */
  step(xt: Tensor, hprev: Tensor): Tensor {
    return this.keep(this.xh_to_h.forward(cat([xt, hprev], 1)).tanh());
  }
  override children(): [string, Module][] {
    return [["xh_to_h", this.xh_to_h]];
  }
}

/**
 * r = sigmoid(W_r [x, h]) ; hbar = tanh(W_hbar [x, r h]) ; z = sigmoid(W_z [x, h]) ;
 * h_t = (1 - z) h + z hbar. Built in makemore.py's order: xh_to_z, xh_to_r, xh_to_hbar.
 */
class GRUCell extends Module {
  readonly xh_to_z: TorchLinear;
  readonly xh_to_r: TorchLinear;
  readonly xh_to_hbar: TorchLinear;
  constructor(spec: MakemoreSpec, g: Generator) {
    super();
    const I = spec.nEmbd + spec.nEmbd2;
    this.xh_to_z = new TorchLinear(I, spec.nEmbd2, { generator: g });
    this.xh_to_r = new TorchLinear(I, spec.nEmbd2, { generator: g });
    this.xh_to_hbar = new TorchLinear(I, spec.nEmbd2, { generator: g });
  }
  forward(_x: Tensor): Tensor {
    throw new Error("GRUCell.forward takes (x_t, h_prev): call step()");
  }
  step(xt: Tensor, hprev: Tensor): Tensor {
    const xh = cat([xt, hprev], 1);
    const r = this.xh_to_r.forward(xh).sigmoid();
    const hbar = this.xh_to_hbar.forward(cat([xt, r.mul(hprev)], 1)).tanh();
    const z = this.xh_to_z.forward(xh).sigmoid();
    return this.keep(z.rsub(1).mul(hprev).add(z.mul(hbar)));
  }
  override children(): [string, Module][] {
    return named(this, "xh_to_z", "xh_to_r", "xh_to_hbar");
  }
}

/** A recurrence over the time steps from a learned start state, then a Linear head. */
export class RNN extends MakemoreModel {
  /** (1, C2) the starting hidden state, learned (zeros at init) */
  readonly start: Tensor;
  readonly wte: Embedding;
  readonly cell: RNNCell | GRUCell;
  readonly lm_head: TorchLinear;
  /**
   * Keep every time step's hidden state h_t (B, C2) of the next forward in `hiddens`, each with
   * retainGrad(): the doctor measures how much gradient reaches back through the recurrence.
   */
  retainHiddens = false;
  hiddens: Tensor[] = [];
  constructor(spec: MakemoreSpec, g: Generator) {
    super(spec);
    this.start = zeros([1, spec.nEmbd2]).requiresGrad_();
    this.wte = new Embedding(spec.vocabSize, spec.nEmbd, { generator: g });
    this.cell = spec.type === "gru" ? new GRUCell(spec, g) : new RNNCell(spec, g);
    this.lm_head = new TorchLinear(spec.nEmbd2, spec.vocabSize, { generator: g });
  }
  forward(idx: Tensor): Tensor {
    const [B, T] = idx.shape;
    const emb = this.wte.forward(idx); // (B, T, C)
    let hprev = expand(this.start, [B, -1]); // (B, C2)
    const hiddens: Tensor[] = [];
    for (let i = 0; i < T; i++) {
      hprev = this.cell.step(select(emb, 1, i), hprev);
      if (this.retainHiddens) hprev.retainGrad();
      hiddens.push(hprev);
    }
    this.hiddens = this.retainHiddens ? hiddens : [];
    // (B, T, C2) -> (B, T, V)
    return this.keep(this.lm_head.forward(stack(hiddens, 1)));
  }
  protected override ownParameters(): [string, Tensor][] {
    return [["start", this.start]];
  }
  override children(): [string, Module][] {
    return named(this, "wte", "cell", "lm_head");
  }
  override diagnosticLayers(): Module[] {
    return [this.wte, this.cell];
  }
}

// ---------------------------------------------------------------------------------------------
// MLP and Bigram

/**
 * s[b, j, k] = idx[b, j - k] for j >= k, else `blank`: for every position the K previous tokens,
 * idx (B, T) rolled right by k = 0..K-1 (makemore.py's `torch.roll` + <BLANK> loop), (B T, K).
 */
function shiftedContexts(
  idx: Float32Array,
  B: number,
  T: number,
  K: number,
  blank: number,
  s: Float32Array,
): void {
  for (let b = 0; b < B; b++)
    for (let j = 0; j < T; j++)
      for (let k = 0; k < K; k++) s[(b * T + j) * K + k] = j >= k ? idx[b * T + j - k] : blank;
}

/**
 * Bengio et al. 2003 over every position: the embeddings of the previous block_size tokens
 * (a <BLANK> token V before the sequence start) concatenated, Linear -> tanh -> Linear.
 *
 * The first Linear is computed without the concatenation, the same sum regrouped: with W_k the
 * (H, C) block of its weight that multiplies embedding k, cat_k(wte[s_k]) @ W^T + b =
 * sum_k (wte @ W_k^T)[s_k] + b. The K tables wte @ W_k^T are (V+1, H): K (V+1) C H multiply-adds
 * instead of B T K C H, and the gradients flow through them (nnops.ts gatherSum, matmulT). The
 * float32 sums are grouped differently from one long dot product (PyTorch's own order is its
 * BLAS's): the PyTorch replay test holds every loss within 1e-4.
 */
export class MakemoreMLP extends MakemoreModel {
  readonly wte: Embedding;
  readonly mlp: Sequential;
  constructor(spec: MakemoreSpec, g: Generator) {
    super(spec);
    // +1 for the <BLANK> token that stands for positions before the beginning
    this.wte = new Embedding(spec.vocabSize + 1, spec.nEmbd, { generator: g });
    this.mlp = new Sequential([
      new TorchLinear(spec.blockSize * spec.nEmbd, spec.nEmbd2, { generator: g }),
      new Tanh(),
      new TorchLinear(spec.nEmbd2, spec.vocabSize, { generator: g }),
    ]);
  }
  forward(idx: Tensor): Tensor {
    const [B, T] = idx.shape;
    const { vocabSize: V, blockSize: K, nEmbd: C, nEmbd2: H } = this.spec;
    // a launched kernel (src/tensor/engine.ts), so a captured training step recomputes it
    const s = new Tensor(allocF32(B * T * K), [B * T, K], "int64");
    launch(shiftedContexts, idx.storage, B, T, K, V, s.storage);
    const [fc, act, head] = this.mlp.layers as [TorchLinear, Tanh, TorchLinear];
    // (1, V+1, C) @ ((H, K, C) -> (K, H, C))^T -> (K, V+1, H): table k holds wte @ W_k^T
    const tables = matmulT(this.wte.weight.view(1, V + 1, C), fc.weight.view(H, K, C).transpose(0, 1));
    // (B T, K) indices -> (B, T, H), as fc(cat(embeddings, -1)) would give
    const h = gatherSum(tables, s, fc.bias).view(B, T, H);
    kept(fc, h);
    // the embedding layer's output for the diagnostics: the tokens' own embeddings (B, T, C)
    kept(
      this.wte,
      noGrad(() => this.wte.weight.index(idx)),
    );
    return this.keep(head.forward(act.forward(h)));
  }
  override children(): [string, Module][] {
    return named(this, "wte", "mlp");
  }
  override diagnosticLayers(): Module[] {
    return [this.wte, ...this.mlp.layers];
  }
}

/** `m.out = y` as the module's own forward keeps it (its gradient retained when asked). */
function kept(m: Module, y: Tensor): void {
  m.out = y;
  if (m.retainOutGrad && y.requiresGrad) y.retainGrad();
}

/** A (V, V) table of next-token logits, zeros at init; it reads one previous token. */
export class MakemoreBigram extends MakemoreModel {
  readonly logits: Tensor;
  constructor(spec: MakemoreSpec) {
    super(spec);
    this.logits = zeros([spec.vocabSize, spec.vocabSize]).requiresGrad_();
  }
  forward(idx: Tensor): Tensor {
    return this.keep(this.logits.index(idx));
  }
  override contextSize(): number {
    return 1;
  }
  protected override ownParameters(): [string, Tensor][] {
    return [["logits", this.logits]];
  }
}

/** makemore.py's dispatch on --type. */
export function buildMakemore(spec: MakemoreSpec, g: Generator): MakemoreModel {
  if (spec.splitDraw > 0) g.randperm(spec.splitDraw);
  switch (spec.type) {
    case "transformer":
      return new Transformer(spec, g);
    case "makemore-bigram":
      return new MakemoreBigram(spec);
    case "mlp":
      return new MakemoreMLP(spec, g);
    case "rnn":
    case "gru":
      return new RNN(spec, g);
    case "bow":
      return new BoW(spec, g);
  }
}

/**
 * makemore.py's parameter count line: the Transformer prints only `transformer.*` parameters
 * ("we don't count the decoder parameters in lm_head"), then `model #params` counts all.
 */
export function countParameters(model: Module): number {
  return model.parameters().reduce((s, p) => s + p.numel(), 0);
}

// ---------------------------------------------------------------------------------------------
// Sampling, as makemore.py's generate()

/**
 * makemore.py's `generate(model, zeros(num, 1), block_size - 1, temperature, do_sample=True,
 * top_k)`: all `count` rows at once, each step one `torch.multinomial(probs (count, V), 1)` draw
 * per row from the generator, then each row cut at its first boundary token 0.
 */
export function sampleMakemore(
  model: LanguageModel,
  vocab: Vocabulary,
  opts: SampleRequest & { topK?: number },
): string[] {
  const n = opts.count;
  if (n === 0) return [];
  const steps = Math.min(opts.maxLength ?? Number.POSITIVE_INFINITY, model.spec.blockSize - 1);
  const temperature = opts.temperature ?? 1;
  const rows: number[][] = Array.from({ length: n }, () => [0]);
  const wasTraining = model.training;
  model.eval();
  try {
    noGrad(() => {
      for (let k = 0; k < steps; k++) {
        const t = rows[0].length;
        const ctx = new Tensor(Float32Array.from(rows.flat()), [n, t], "int64");
        let logits = model.nextLogits(ctx); // (n, V)
        if (temperature !== 1) logits = logits.div(temperature);
        if (opts.topK !== undefined && opts.topK > 0) logits = topKMask(logits, opts.topK);
        const ix = multinomial(logits.softmax(-1), 1, { generator: opts.generator });
        for (let r = 0; r < n; r++) rows[r].push(ix.storage[r]);
      }
    });
  } finally {
    model.train(wasTraining);
  }
  return rows.map((row) => {
    const w = row.slice(1);
    const stop = w.indexOf(0);
    return vocab.decode(stop >= 0 ? w.slice(0, stop) : w);
  });
}

/** `logits[logits < v[:, [-1]]] = -inf` with v the k largest of each row (torch.topk). */
function topKMask(logits: Tensor, k: number): Tensor {
  const [n, V] = logits.shape;
  const y = logits.storage.slice();
  for (let r = 0; r < n; r++) {
    const row = y.subarray(r * V, r * V + V);
    const kth = Array.from(row).sort((a, b) => b - a)[Math.min(k, V) - 1];
    for (let v = 0; v < V; v++) if (row[v] < kth) row[v] = Number.NEGATIVE_INFINITY;
  }
  return new Tensor(y, [n, V]);
}

// ---------------------------------------------------------------------------------------------
// The family (one registry line in src/models/index.ts)

const SUMMARIES: Record<MakemoreType, string> = {
  transformer: "makemore.py's GPT-2 Transformer (--n-layer, --n-head, --n-embd), AdamW",
  "makemore-bigram": "makemore.py's Bigram: a (V, V) logits table from zeros, AdamW",
  mlp: "makemore.py's MLP (Bengio 2003) over every position, <BLANK> padding (--n-embd, --n-embd2)",
  rnn: "makemore.py's RNN with a learned start state (--n-embd, --n-embd2)",
  gru: "makemore.py's GRU with a learned start state (--n-embd, --n-embd2)",
  bow: "makemore.py's causal bag of words + MLP (--n-embd, --n-embd2)",
};

/** Which of the family's flags each type reads (makemore.py ignores the rest; we refuse them). */
const READS: Record<MakemoreType, readonly string[]> = {
  transformer: ["n-layer", "n-head", "n-embd"],
  "makemore-bigram": [],
  mlp: ["n-embd", "n-embd2"],
  rnn: ["n-embd", "n-embd2"],
  gru: ["n-embd", "n-embd2"],
  bow: ["n-embd", "n-embd2"],
};

export const MAKEMORE_FAMILY: ModelFamily<MakemoreSpec> = {
  name: "makemore",
  types: MAKEMORE_TYPES.map((type) => ({ type, summary: SUMMARIES[type] })),
  data: "sequence",
  flags: [
    { name: "n-layer", kind: "int", min: 1, max: 64, help: "Transformer blocks (default 4)" },
    { name: "n-head", kind: "int", min: 1, max: 64, help: "attention heads, dividing --n-embd (default 4)" },
    {
      name: "n-embd",
      kind: "int",
      min: 1,
      max: 4096,
      help: "embedding size (makemore.py types: default 64)",
    },
    {
      name: "n-embd2",
      kind: "int",
      min: 1,
      max: 4096,
      help: "hidden size of the MLP/RNN/GRU/BoW (default 64)",
    },
  ],
  spec(type: string, f: FlagValues, data: DataFacts): MakemoreSpec {
    const t = type as MakemoreType;
    for (const name of ["n-layer", "n-head", "n-embd", "n-embd2"]) {
      if (f[name] !== undefined && !READS[t].includes(name)) {
        const users = MAKEMORE_TYPES.filter((x) => READS[x].includes(name)).join(", ");
        throw new UserError(`--${name} does not apply to --type ${type} (it applies to ${users})`, 2);
      }
    }
    const spec: MakemoreSpec = {
      type: t,
      vocabSize: data.vocabSize,
      blockSize: data.longestWord + 1,
      nLayer: (f["n-layer"] as number | undefined) ?? MAKEMORE_DEFAULTS.nLayer,
      nHead: (f["n-head"] as number | undefined) ?? MAKEMORE_DEFAULTS.nHead,
      nEmbd: (f["n-embd"] as number | undefined) ?? MAKEMORE_DEFAULTS.nEmbd,
      nEmbd2: (f["n-embd2"] as number | undefined) ?? MAKEMORE_DEFAULTS.nEmbd2,
      splitDraw: data.numWords ?? 0,
    };
    if (t === "transformer" && spec.nEmbd % spec.nHead !== 0)
      throw new UserError(`--n-embd ${spec.nEmbd} must be a multiple of --n-head ${spec.nHead}`, 2);
    return spec;
  },
  checkSpec(m: Record<string, unknown>): MakemoreSpec {
    const bad = (field: string, what: string) =>
      new UserError(`model.${field} ${what}, got ${JSON.stringify(m[field])}`);
    if (!MAKEMORE_TYPES.includes(m.type as MakemoreType))
      throw bad("type", `must be one of ${MAKEMORE_TYPES.join(", ")}`);
    for (const k of ["vocabSize", "blockSize", "nLayer", "nHead", "nEmbd", "nEmbd2"]) {
      const v = m[k];
      if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > 65536)
        throw bad(k, "must be a positive integer");
    }
    if (!Number.isInteger(m.splitDraw) || (m.splitDraw as number) < 0)
      throw bad("splitDraw", "must be a whole number");
    if (m.type === "transformer" && (m.nEmbd as number) % (m.nHead as number) !== 0)
      throw bad("nEmbd", `must be a multiple of model.nHead (${m.nHead})`);
    return {
      type: m.type as MakemoreType,
      vocabSize: m.vocabSize as number,
      blockSize: m.blockSize as number,
      nLayer: m.nLayer as number,
      nHead: m.nHead as number,
      nEmbd: m.nEmbd as number,
      nEmbd2: m.nEmbd2 as number,
      splitDraw: m.splitDraw as number,
    };
  },
  build: (spec, g) => buildMakemore(spec, g),
  // makemore.py: AdamW(lr 5e-4, betas (0.9, 0.99), eps 1e-8, weight_decay 0.01), batch 32, constant lr
  trainDefaults: {
    // makemore.py's --max-steps -1: train until interrupted (Ctrl-C checkpoints; --resume continues)
    maxSteps: -1,
    learningRate: 5e-4,
    batchSize: 32,
    optimizer: "adamw",
    weightDecay: 0.01,
    lrSchedule: "constant",
  },
  runDefaults: { split: "makemore", logEvery: 10, evalEvery: 500, sampleEvery: 200, habits: "makemore" },
  sample: (model, vocab, opts) => sampleMakemore(model, vocab, opts),
  defaultSeed: 3407,
};
