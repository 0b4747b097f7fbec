/**
 * Words -> vocabulary -> context windows -> the lecture's 80/10/10 split.
 *
 * Characters are Unicode code points (so "zoë" has 3), the vocabulary is the sorted set of
 * characters with a boundary token at index 0 ('.' unless the data itself contains '.'), and
 * every word w yields |w| + 1 examples: the `blockSize` previous tokens (padded with the boundary)
 * predicting the next one, the last predicting the boundary.
 */

import { UserError } from "../errors.ts";
import { Generator } from "../random/generator.ts";
import { PyRandom } from "../random/pyrandom.ts";
import { Tensor } from "../tensor/tensor.ts";
import { randpermSplit } from "./makemore.ts";

/**
 * Largest vocabulary (distinct characters + the boundary) accepted. The output layer is
 * (H, V) and every training step computes (B, V) logits, so time per step grows with V: measured
 * for the default model (H 200, B 32) on this machine, see README "What you can rely on".
 */
export const MAX_VOCAB_SIZE = 4096;

/**
 * Sequence models materialise X and Y (N, T) with T = the longest word + 1: at most this many
 * positions per split (8 bytes each: 512 MiB).
 */
export const MAX_SEQUENCE_CELLS = 64 * 1024 * 1024;

/** Boundary symbols tried in order when the data already uses '.'. */
const BOUNDARY_CANDIDATES = [".", "|", "#", "~", "^", "$", "_", "·", "¶", "␀"];

/** Characters as code points: `chars("zoë")` is ["z", "o", "ë"]. */
export function chars(word: string): string[] {
  return Array.from(word);
}

/** Compare by code point (Python's sort order for str), not UTF-16 unit. */
function byCodePoint(a: string, b: string): number {
  return a.codePointAt(0)! - b.codePointAt(0)!;
}

export class Vocabulary {
  /** itos: index -> character; index 0 is the boundary token. */
  readonly itos: string[];
  /** stoi: character -> index. */
  readonly stoi: Map<string, number>;

  constructor(itos: string[]) {
    if (new Set(itos).size !== itos.length) throw new Error("vocabulary characters must be distinct");
    this.itos = itos.slice();
    this.stoi = new Map(itos.map((c, i) => [c, i]));
  }

  /**
   * The lecture's vocabulary: sorted distinct characters at 1..V-1 and the boundary at 0.
   * `Vocabulary.fromWords(["emma", "ava"])` -> ['.', 'a', 'e', 'm', 'v'].
   */
  static fromWords(words: readonly string[]): Vocabulary {
    const seen = new Set<number>();
    for (const w of words) {
      for (let i = 0; i < w.length; i++) {
        const cp = w.codePointAt(i)!;
        if (cp > 0xffff) i++;
        seen.add(cp);
      }
      if (seen.size > MAX_VOCAB_SIZE - 1) {
        throw new UserError(
          `the data has more than ${MAX_VOCAB_SIZE - 1} distinct characters (the limit, with the boundary token, is a vocabulary of ${MAX_VOCAB_SIZE}); this is a character-level model: use text with fewer distinct characters`,
        );
      }
    }
    const set = new Set([...seen].map((cp) => String.fromCodePoint(cp)));
    const sorted = [...set].sort(byCodePoint);
    const boundary = BOUNDARY_CANDIDATES.find((c) => !set.has(c));
    if (boundary === undefined) {
      throw new UserError(
        `the data uses every candidate boundary symbol (${BOUNDARY_CANDIDATES.join(" ")}); remove one of them from the data`,
      );
    }
    return new Vocabulary([boundary, ...sorted]);
  }

  get size(): number {
    return this.itos.length;
  }
  /** The end-of-word / start padding token (index 0). */
  get boundary(): string {
    return this.itos[0];
  }

  /** index + 1 by code point below 0x10000 (0: not in the vocabulary); the rest in `astral` */
  private bmp: Int32Array | null = null;
  private astral: Map<number, number> | null = null;

  private lookup(cp: number): number {
    if (!this.bmp) {
      this.bmp = new Int32Array(0x10000);
      this.astral = new Map();
      this.itos.forEach((c, i) => {
        const p = c.codePointAt(0)!;
        if (c.length === 1) this.bmp![p] = i + 1;
        else if (p > 0xffff && c.length === 2) this.astral!.set(p, i);
      });
    }
    return cp <= 0xffff ? this.bmp[cp] - 1 : (this.astral!.get(cp) ?? -1);
  }

  /** Write `word`'s indices into `out` from `at`; returns the position after the last one. */
  encodeInto(word: string, out: { [i: number]: number }, at: number): number {
    for (let i = 0; i < word.length; i++) {
      const cp = word.codePointAt(i)!;
      if (cp > 0xffff) i++;
      const ix = this.lookup(cp);
      if (ix < 0)
        throw new RangeError(
          `character ${JSON.stringify(String.fromCodePoint(cp))} is not in the vocabulary`,
        );
      out[at++] = ix;
    }
    return at;
  }

  encode(word: string): number[] {
    return chars(word).map((c) => {
      const i = this.stoi.get(c);
      if (i === undefined) throw new RangeError(`character ${JSON.stringify(c)} is not in the vocabulary`);
      return i;
    });
  }
  /** Indices -> string; the boundary token ends the word and is dropped. */
  decode(ix: readonly number[]): string {
    let s = "";
    for (const i of ix) {
      if (i === 0) break;
      s += this.itos[i];
    }
    return s;
  }
}

/**
 * A split's examples: X (N, T) int64 contexts and Y (N,) int64 next-token targets.
 *
 * Training data is a `ContextWindows` (below), which stores only the token stream and builds
 * contexts per batch; `X` and `Y` are then materialised on first use (tests, small data). Code
 * that must scale reads rows through `exampleCount`, `exampleRows` and `gatherExamples`.
 */
export interface Examples {
  /** (N, T) int64 contexts */
  readonly X: Tensor;
  /** (N,) int64 next-token targets */
  readonly Y: Tensor;
}

/** The narrowest unsigned array that holds token ids below `vocabSize`. */
function tokenArray(vocabSize: number, n: number): Uint8Array | Uint16Array | Uint32Array {
  if (vocabSize <= 0x100) return new Uint8Array(n);
  if (vocabSize <= 0x10000) return new Uint16Array(n);
  return new Uint32Array(n);
}

/**
 * The lecture's context windows without materialising them: the words' tokens in order, each
 * word followed by the boundary 0, one row per token. Row r predicts `tokens[r]` from the T tokens
 * before it in the same word, left-padded with the boundary: since 0 occurs only at word ends,
 * the context is `tokens[r-T .. r-1]` with everything up to and including the last 0 (or before
 * the start) replaced by 0. Exactly `buildDataset`'s rows in its order, at 1-4 bytes a row instead
 * of 4 (T + 1).
 */
export class ContextWindows implements Examples {
  readonly tokens: Uint8Array | Uint16Array | Uint32Array;
  /** N: rows (= tokens, boundaries included) */
  readonly length: number;
  /** T: context length */
  readonly blockSize: number;
  private x: Tensor | null = null;
  private y: Tensor | null = null;

  constructor(tokens: Uint8Array | Uint16Array | Uint32Array, blockSize: number) {
    this.tokens = tokens;
    this.length = tokens.length;
    this.blockSize = blockSize;
  }

  /** Row `r`'s context into `out[at .. at+T)` and its target (returned). */
  context(r: number, out: Float32Array | Int32Array, at = 0): number {
    const T = this.blockSize;
    const tok = this.tokens;
    let t = T - 1;
    for (let j = r - 1; t >= 0 && j >= 0; j--, t--) {
      const v = tok[j];
      if (v === 0) break;
      out[at + t] = v;
    }
    for (; t >= 0; t--) out[at + t] = 0;
    return tok[r];
  }

  /** The whole (N, T) context matrix, built once on first use (4 T bytes a row). */
  get X(): Tensor {
    if (!this.x) {
      const T = this.blockSize;
      const X = new Float32Array(this.length * T);
      for (let r = 0; r < this.length; r++) this.context(r, X, r * T);
      this.x = new Tensor(X, [this.length, T], "int64");
    }
    return this.x;
  }

  get Y(): Tensor {
    if (!this.y) this.y = new Tensor(Float32Array.from(this.tokens), [this.length], "int64");
    return this.y;
  }
}

/** N, the number of rows, without materialising anything. */
export function exampleCount(data: Examples): number {
  return data instanceof ContextWindows ? data.length : data.X.shape[0];
}

/** T, the context length. */
export function exampleBlockSize(data: Examples): number {
  return data instanceof ContextWindows ? data.blockSize : data.X.shape[1];
}

/**
 * Rows `rows[0 .. count)` (or, with `rows` null, rows start .. start+count) into x (count, T) and
 * y (count, W) (W = `targetWidth`): a minibatch or an evaluation chunk, built from the stream for
 * `ContextWindows`.
 */
export function gatherExamples(
  data: Examples,
  rows: ArrayLike<number> | null,
  start: number,
  count: number,
  x: Float32Array,
  y: Float32Array,
): void {
  if (data instanceof ContextWindows) {
    const T = data.blockSize;
    for (let b = 0; b < count; b++) y[b] = data.context(rows ? rows[b] : start + b, x, b * T);
    return;
  }
  const T = data.X.shape[1];
  const W = targetWidth(data);
  const xs = data.X.storage;
  const ys = data.Y.storage;
  for (let b = 0; b < count; b++) {
    const r = rows ? rows[b] : start + b;
    for (let t = 0; t < T; t++) x[b * T + t] = xs[r * T + t];
    for (let t = 0; t < W; t++) y[b * W + t] = ys[r * W + t];
  }
}

/** Targets per row: 1 for window data (Y (N,)), T for sequence data (Y (N, T)). */
export function targetWidth(data: Examples): number {
  return data instanceof ContextWindows || data.Y.shape.length !== 2 ? 1 : data.Y.shape[1];
}

/** Rows start .. end as (X (n, T), Y (n,)) tensors (views when the data is materialised). */
export function exampleRows(data: Examples, start: number, end: number): { X: Tensor; Y: Tensor } {
  const T = exampleBlockSize(data);
  if (!(data instanceof ContextWindows)) {
    const W = targetWidth(data);
    return {
      X: new Tensor(data.X.storage.subarray(start * T, end * T), [end - start, T], "int64"),
      Y: new Tensor(
        data.Y.storage.subarray(start * W, end * W),
        data.Y.shape.length === 2 ? [end - start, W] : [end - start],
        "int64",
      ),
    };
  }
  const x = new Float32Array((end - start) * T);
  const y = new Float32Array(end - start);
  gatherExamples(data, null, start, end - start, x, y);
  return { X: new Tensor(x, [end - start, T], "int64"), Y: new Tensor(y, [end - start], "int64") };
}

/**
 * The lecture's `build_dataset`: for each word, slide a window of `blockSize` tokens over
 * boundary-padded text. X (N, T), Y (N,), stored as the token stream (`ContextWindows`).
 */
export function buildDataset(words: readonly string[], vocab: Vocabulary, blockSize: number): ContextWindows {
  if (!Number.isInteger(blockSize) || blockSize < 1)
    throw new RangeError(`block size must be a positive integer, got ${blockSize}`);
  let n = 0;
  for (const w of words) n += codePointCount(w) + 1;
  const tokens = tokenArray(vocab.size, n);
  let at = 0;
  for (const w of words) at = vocab.encodeInto(w, tokens, at) + 1; // tokens[at] stays 0: the boundary
  return new ContextWindows(tokens, blockSize);
}

/** The longest word's length in code points (a sequence model's T is this + 1; a loop: spreading millions of words overflows the stack). */
export function longestWord(words: readonly string[]): number {
  let n = 0;
  for (const w of words) if (w.length > n) n = Math.max(n, codePointCount(w));
  return n;
}

/** Code points in `s` (surrogate pairs count once). */
export function codePointCount(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

export interface WordSplit {
  train: string[];
  val: string[];
  test: string[];
}

/**
 * The lecture's split: Python `random.seed(seed); random.shuffle(words)`, then the first 80%
 * train, next 10% val, last 10% test (n1 = int(0.8 n), n2 = int(0.9 n)).
 */
export function splitWords(words: readonly string[], seed = 42): WordSplit {
  const w = words.slice();
  new PyRandom(seed).shuffle(w);
  const n1 = Math.floor(0.8 * w.length);
  const n2 = Math.floor(0.9 * w.length);
  return { train: w.slice(0, n1), val: w.slice(n1, n2), test: w.slice(n2) };
}

/** Lines of a text -> trimmed, non-empty items (accepts CRLF). */
export function parseLines(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    const t = line.trim();
    if (t.length > 0) out.push(t);
  }
  return out;
}

/** Everything a training run needs from a word list. */
export interface LectureData {
  words: readonly string[];
  vocab: Vocabulary;
  blockSize: number;
  split: WordSplit;
  train: Examples;
  val: Examples;
  test: Examples;
}

/** Vocabulary, split and context windows, as the lecture builds them. */
export function prepareData(words: readonly string[], blockSize = 3, seed = 42): LectureData {
  const vocab = Vocabulary.fromWords(words);
  const split = splitWords(words, seed);
  return {
    words,
    vocab,
    blockSize,
    split,
    train: buildDataset(split.train, vocab, blockSize),
    val: buildDataset(split.val, vocab, blockSize),
    test: buildDataset(split.test, vocab, blockSize),
  };
}

/**
 * makemore.py's CharDataset, for "sequence" models: each word becomes one row of T = blockSize
 * tokens, x = [boundary, w0, w1, ...] (boundary-padded) and y = [w0, w1, ..., boundary, -1, ...]:
 * at position t the model predicts y[t] from x[0..t]; -1 marks "nothing to predict" (ignored by
 * the loss). X (N, T), Y (N, T). makemore.py: block_size = max word length + 1.
 */
export function buildSequenceDataset(
  words: readonly string[],
  vocab: Vocabulary,
  blockSize: number,
): Examples {
  if (!Number.isInteger(blockSize) || blockSize < 1)
    throw new RangeError(`block size must be a positive integer, got ${blockSize}`);
  const T = blockSize;
  if (words.length * T > MAX_SEQUENCE_CELLS)
    throw new UserError(
      `${words.length} words of up to ${T - 1} characters make ${words.length * T} sequence positions, over the limit of ${MAX_SEQUENCE_CELLS} for sequence models (8 bytes each); use fewer or shorter words`,
    );
  const X = new Float32Array(words.length * T);
  const Y = new Float32Array(words.length * T).fill(-1);
  words.forEach((w, r) => {
    const ix = vocab.encode(w);
    if (ix.length + 1 > T) throw new RangeError(`word ${r} is longer than the block size ${T} - 1`);
    for (let t = 0; t < ix.length; t++) {
      X[r * T + t + 1] = ix[t];
      Y[r * T + t] = ix[t];
    }
    Y[r * T + ix.length] = 0;
  });
  return { X: new Tensor(X, [words.length, T], "int64"), Y: new Tensor(Y, [words.length, T], "int64") };
}

// ---------------------------------------------------------------- the split, a choice

/**
 * How the words are split (`--split`):
 *   "lecture"  the notebooks': random.seed(seed) (42); random.shuffle; 80% train, 10% val, 10% test
 *   "makemore" makemore.py's: torch.manual_seed(seed); rp = torch.randperm(n); the last
 *              min(1000, int(0.1 n)) words are the test set, the rest train; no val set
 *   "none"     every word in train (part 1 counts all 228,146 bigrams of names.txt)
 */
export const SPLIT_KINDS = ["lecture", "makemore", "none"] as const;
export type SplitKind = (typeof SPLIT_KINDS)[number];

/** Split `words` the chosen way (the seed: Python's for "lecture", torch's for "makemore"). */
export function splitWordsBy(kind: SplitKind, words: readonly string[], seed: number): WordSplit {
  switch (kind) {
    case "lecture":
      return splitWords(words, seed);
    case "makemore": {
      const { train, test } = randpermSplit(words, new Generator().manualSeed(seed));
      return { train, val: [], test };
    }
    case "none":
      return { train: words.slice(), val: [], test: [] };
  }
}

/** One line for the start-up log: how the split was made and its sizes. */
export function describeSplit(kind: SplitKind, seed: number): string {
  if (kind === "makemore")
    return `makemore.py's torch.randperm under manual_seed(${seed}), test min(1000, 10%)`;
  if (kind === "none") return "none: every word in train";
  return `random.seed(${seed})`;
}

/** `prepareData` for a model family's way of reading words ("window" or "sequence"), split as asked. */
export function prepareDataFor(
  kind: "window" | "sequence",
  words: readonly string[],
  blockSize: number,
  seed = 42,
  splitKind: SplitKind = "lecture",
): LectureData {
  if (kind === "window" && splitKind === "lecture") return prepareData(words, blockSize, seed);
  const vocab = Vocabulary.fromWords(words);
  const split = splitWordsBy(splitKind, words, seed);
  const build = kind === "window" ? buildDataset : buildSequenceDataset;
  return {
    words,
    vocab,
    blockSize,
    split,
    train: build(split.train, vocab, blockSize),
    val: build(split.val, vocab, blockSize),
    test: build(split.test, vocab, blockSize),
  };
}
