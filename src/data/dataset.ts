/**
 * Words -> vocabulary -> context windows -> the lecture's 80/10/10 split.
 *
 * Characters are Unicode code points (so "zoë" has 3), the vocabulary is the sorted set of
 * characters with a boundary token at index 0 ('.' unless the data itself contains '.'), and
 * every word w yields |w| + 1 examples: the `blockSize` previous tokens (padded with the boundary)
 * predicting the next one, the last predicting the boundary.
 */

import { UserError } from "../errors.ts";
import { PyRandom } from "../random/pyrandom.ts";
import { Tensor } from "../tensor/tensor.ts";

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
    const set = new Set<string>();
    for (const w of words) for (const c of chars(w)) set.add(c);
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

export interface Examples {
  /** (N, T) int64 contexts */
  X: Tensor;
  /** (N,) int64 next-token targets */
  Y: Tensor;
}

/**
 * The lecture's `build_dataset`: for each word, slide a window of `blockSize` tokens over
 * boundary-padded text. X (N, T), Y (N,).
 */
export function buildDataset(words: readonly string[], vocab: Vocabulary, blockSize: number): Examples {
  if (!Number.isInteger(blockSize) || blockSize < 1)
    throw new RangeError(`block size must be a positive integer, got ${blockSize}`);
  let n = 0;
  const encoded = words.map((w) => vocab.encode(w));
  for (const e of encoded) n += e.length + 1;
  const X = new Float32Array(n * blockSize);
  const Y = new Float32Array(n);
  const context = new Array<number>(blockSize);
  let row = 0;
  for (const e of encoded) {
    context.fill(0);
    for (let k = 0; k <= e.length; k++) {
      const ix = k < e.length ? e[k] : 0;
      for (let t = 0; t < blockSize; t++) X[row * blockSize + t] = context[t];
      Y[row] = ix;
      row++;
      context.shift();
      context.push(ix);
    }
  }
  return { X: new Tensor(X, [n, blockSize], "int64"), Y: new Tensor(Y, [n], "int64") };
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
  words: string[];
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
    words: words.slice(),
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

/** `prepareData` for a model family's way of reading words ("window" or "sequence"). */
export function prepareDataFor(
  kind: "window" | "sequence",
  words: readonly string[],
  blockSize: number,
  seed = 42,
): LectureData {
  if (kind === "window") return prepareData(words, blockSize, seed);
  const vocab = Vocabulary.fromWords(words);
  const split = splitWords(words, seed);
  return {
    words: words.slice(),
    vocab,
    blockSize,
    split,
    train: buildSequenceDataset(split.train, vocab, blockSize),
    val: buildSequenceDataset(split.val, vocab, blockSize),
    test: buildSequenceDataset(split.test, vocab, blockSize),
  };
}

/** The longest word, in code points (a sequence model's T is this + 1). */
export function longestWord(words: readonly string[]): number {
  let n = 0;
  for (const w of words) n = Math.max(n, chars(w).length);
  return n;
}
