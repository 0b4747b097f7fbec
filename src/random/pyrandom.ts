// CPython 3 `random.Random` (Mersenne Twister), bit-exact for integer seeds (seed version 2).
// Spec: docs/torch-rng.md §8. Used for the lecture's `random.seed(42); random.shuffle(words)`.

import { initGenrand, MT_N, temper, twist } from "./mt19937.ts";

const TWO_POW_32 = 4294967296;

/** Bit length of a non-negative safe integer (Python's int.bit_length()). */
function bitLength(n: number): number {
  if (n < TWO_POW_32) return 32 - Math.clz32(n);
  return 32 + bitLength(Math.floor(n / TWO_POW_32));
}

/**
 * CPython's `random.Random` with integer seeds: same seed, same `random()`, `getrandbits`,
 * `shuffle` as Python 3.2+.
 *
 * @example
 * const rng = new PyRandom(42);
 * rng.shuffle(words); // == random.seed(42); random.shuffle(words)
 */
export class PyRandom {
  private readonly mt = new Uint32Array(MT_N);
  private idx = MT_N;

  /** `random.Random(seed)`; default seed 0 (Python would use OS entropy; we stay deterministic). */
  constructor(seed: number | bigint = 0) {
    this.seed(seed);
  }

  /**
   * `random.seed(a)` for an int: init_by_array over the 32-bit words of |a|, least significant
   * first (so seed(-42) == seed(42), and bigints use all their words).
   */
  seed(a: number | bigint): void {
    if (typeof a === "number" && !Number.isSafeInteger(a)) {
      throw new RangeError(`PyRandom.seed: need a safe integer or bigint, got ${a}`);
    }
    let n = BigInt(a);
    if (n < 0n) n = -n;
    const key: number[] = [];
    while (n > 0n) {
      key.push(Number(n & 0xffffffffn));
      n >>= 32n;
    }
    if (key.length === 0) key.push(0);
    this.initByArray(key);
  }

  /** Reference MT19937 `init_by_array` (as in CPython's _randommodule.c). */
  private initByArray(key: number[]): void {
    const mt = this.mt;
    initGenrand(mt, 19650218);
    let i = 1;
    let j = 0;
    for (let k = Math.max(MT_N, key.length); k > 0; k--) {
      const prev = mt[i - 1]!;
      mt[i] = ((mt[i]! ^ Math.imul(prev ^ (prev >>> 30), 1664525)) + key[j]! + j) >>> 0;
      i++;
      j++;
      if (i >= MT_N) {
        mt[0] = mt[MT_N - 1]!;
        i = 1;
      }
      if (j >= key.length) j = 0;
    }
    for (let k = MT_N - 1; k > 0; k--) {
      const prev = mt[i - 1]!;
      mt[i] = ((mt[i]! ^ Math.imul(prev ^ (prev >>> 30), 1566083941)) - i) >>> 0;
      i++;
      if (i >= MT_N) {
        mt[0] = mt[MT_N - 1]!;
        i = 1;
      }
    }
    mt[0] = 0x80000000; // MSB is 1, assuring a non-zero initial array
    this.idx = MT_N;
  }

  /** One tempered 32-bit output (`genrand_uint32`). */
  private genrand(): number {
    if (this.idx >= MT_N) {
      twist(this.mt);
      this.idx = 0;
    }
    return temper(this.mt[this.idx++]!);
  }

  /** `random.random()`: 27 + 26 bits -> a double in [0, 1) with 53 random bits; `a` is drawn first. */
  random(): number {
    const a = this.genrand() >>> 5;
    const b = this.genrand() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /**
   * `random.getrandbits(k)`: a number for k <= 32 (the top k bits of one draw), a bigint for k > 32
   * (32-bit words least significant first; the last word keeps only its top remaining bits).
   */
  getrandbits(k: number): number | bigint {
    if (!Number.isInteger(k) || k < 0) throw new RangeError(`getrandbits: k must be a non-negative integer`);
    if (k === 0) return 0;
    if (k <= 32) return this.genrand() >>> (32 - k);
    let result = 0n;
    let shift = 0n;
    for (let left = k; left > 0; left -= 32) {
      let r = this.genrand();
      if (left < 32) r >>>= 32 - left;
      result |= BigInt(r) << shift;
      shift += 32n;
    }
    return result;
  }

  /**
   * `random._randbelow(n)`: rejection sampling with k = bitlength(n) bits (not bitlength(n-1),
   * exactly like CPython), so it may take several draws.
   */
  randbelow(n: number): number {
    if (!Number.isSafeInteger(n) || n <= 0) throw new RangeError(`randbelow: n must be a positive integer`);
    const k = bitLength(n);
    if (k <= 32) {
      let r = this.genrand() >>> (32 - k);
      while (r >= n) r = this.genrand() >>> (32 - k);
      return r;
    }
    const bn = BigInt(n);
    let r = this.getrandbits(k) as bigint;
    while (r >= bn) r = this.getrandbits(k) as bigint;
    return Number(r);
  }

  /** `random.shuffle(x)` in place: Fisher–Yates from the end, j = _randbelow(i + 1). */
  shuffle<T>(x: T[]): void {
    for (let i = x.length - 1; i > 0; i--) {
      const j = this.randbelow(i + 1);
      const t = x[i]!;
      x[i] = x[j]!;
      x[j] = t;
    }
  }

  /** Snapshot of the MT state and position (Python's getstate without gauss_next). */
  getState(): { mt: number[]; idx: number } {
    return { mt: Array.from(this.mt), idx: this.idx };
  }

  /** Restore a snapshot from getState. */
  setState(s: { mt: number[]; idx: number }): void {
    if (!Array.isArray(s.mt) || s.mt.length !== MT_N)
      throw new RangeError(`state.mt must have ${MT_N} words`);
    if (!Number.isInteger(s.idx) || s.idx < 0 || s.idx > MT_N) throw new RangeError("state.idx out of range");
    for (let i = 0; i < MT_N; i++) this.mt[i] = s.mt[i]!;
    this.idx = s.idx;
  }
}
