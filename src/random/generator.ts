// A torch 1.13 CPU `torch.Generator` reimplementation, bit-exact against x86-64 AVX2 builds.
// Spec and derivations: docs/torch-rng.md (section numbers below refer to it).
//
// Everything runs in plain JS numbers: u32 draws are non-negative numbers, float32 results are
// produced with Math.fround after every float32 operation, and the one fused multiply-add the AVX2
// kernels need is emulated exactly (fmaF32). The double-precision paths (per-element normals,
// float64 randn, exponential_) use correctly rounded log/sin/cos from libm.ts instead of V8's
// Math.*, because torch gets these from glibc, which V8's fdlibm ports disagree with in ~3-9% of
// inputs. No Math.random, no node: imports (browser-safe).

import { cosCR, logCR, sinCR } from "./libm.ts";
import { initGenrand, MT_N, temper, twist } from "./mt19937.ts";

const fround = Math.fround;

/** Seed of `torch.Generator()` when none is given. */
export const DEFAULT_SEED = 67280421310721n;

const TWO_POW_32 = 4294967296;
const TWO_POW_M24 = 2 ** -24;
const TWO_POW_M53 = 2 ** -53;
const U64_MASK = (1n << 64n) - 1n;

// ---------------------------------------------------------------------------------------------
// Bit casts and an exact float32 fused multiply-add

// One shared scratch buffer: f32/u32[0] for float32 bit casts, f64 + u32[LO/HI] for float64 bits.
const scratch = new ArrayBuffer(8);
const f32View = new Float32Array(scratch, 0, 1);
const u32View = new Uint32Array(scratch, 0, 2);
const f64View = new Float64Array(scratch, 0, 1);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const LO = LITTLE_ENDIAN ? 0 : 1;
const HI = 1 - LO;

/** IEEE-754 bits of `Math.fround(x)` as a u32, e.g. `f32Bits(1) === 0x3f800000`. */
export function f32Bits(x: number): number {
  f32View[0] = x;
  return u32View[0]!;
}

/** float32 with the given u32 bit pattern, e.g. `f32FromBits(0x3f800000) === 1`. */
export function f32FromBits(bits: number): number {
  u32View[0] = bits;
  return f32View[0]!;
}

/**
 * Exact float32 fma: the float32 rounding of a*b + c computed with a single rounding, for float32
 * inputs a, b, c. `fmaF32(a, b, c)` equals what `vfmadd` returns on float32 lanes.
 *
 * Why it is exact: a*b has at most 48 significant bits, so it is exact in a double. The sum
 * s = a*b + c is rounded once to double; TwoSum recovers the exact error e = (a*b + c) - s. If
 * e != 0 we replace s by its "round to odd" neighbour (step one double ulp toward e when s's last
 * bit is even). Round-to-odd to 53 bits followed by round-to-nearest to 24 bits is a correct
 * single rounding because 53 >= 2*24 + 2 (Boldo–Melquiond), so no double-rounding midpoint error.
 */
export function fmaF32(a: number, b: number, c: number): number {
  const p = a * b;
  const s = p + c;
  // Fast path: rounding s (one double rounding of the exact sum) to float32 can only go wrong when
  // s is exactly a float32 midpoint (a midpoint between the exact sum and s would be a nearer
  // double). s is a midpoint iff r + 2 (s - r) is the other float32 neighbour.
  const r = fround(s);
  const half = s - r;
  const other = r + 2 * half;
  if (half === 0 || fround(other) !== other) return r;
  // TwoSum (Knuth): e is the exact rounding error of s = p + c.
  const bv = s - p;
  const e = p - (s - bv) + (c - bv);
  if (e === 0 || Number.isNaN(e)) return fround(s);
  f64View[0] = s;
  const lo = u32View[LO]!;
  if ((lo & 1) === 0) {
    if (s > 0 === e > 0) {
      // |true value| > |s|: the odd neighbour is one ulp further from zero (lo is even: no carry).
      u32View[LO] = lo + 1;
    } else if (lo === 0) {
      // |true value| < |s|: one ulp toward zero, borrowing from the high word.
      u32View[LO] = 0xffffffff;
      u32View[HI] = u32View[HI]! - 1;
    } else {
      u32View[LO] = lo - 1;
    }
    return fround(f64View[0]!);
  }
  return fround(s);
}

// ---------------------------------------------------------------------------------------------
// AVX2 normal kernel (§3.3): Cephes-style float32 log and sincos exactly as GCC compiled them in
// torch 1.13's avx_mathfun.h, including which multiply-adds were fused.

const TWO_PI_F = fround(2 * Math.PI);
const FOPI = fround(1.27323954473516); // 4/pi
const SQRTHF = fround(Math.SQRT1_2);
const MIN_NORM_POS = 2 ** -126;
const LOG_P = [
  7.0376836292e-2, -1.151461031e-1, 1.167699874e-1, -1.2420140846e-1, 1.4249322787e-1, -1.6668057665e-1,
  2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1,
].map(fround);
const LOG_P0 = LOG_P[0]!;
const LOG_Q1 = fround(-2.1219444e-4);
const LOG_Q2 = fround(0.693359375);
const DP1 = fround(-0.78515625);
const DP2 = fround(-2.4187564849853516e-4);
const DP3 = fround(-3.774894977445941e-8);
const SIN_P0 = fround(-1.9515295891e-4);
const SIN_P1 = fround(8.3321608736e-3);
const SIN_P2 = fround(-1.6666654611e-1);
const COS_P0 = fround(2.443315711809948e-5);
const COS_P1 = fround(-1.388731625493765e-3);
const COS_P2 = fround(4.166664568298827e-2);

/** float32 natural log of x in (0, 1], lane-exact copy of the AVX2 `log256_ps`. */
function logAvx2(x: number): number {
  if (x < MIN_NORM_POS) x = MIN_NORM_POS;
  // Split x = m * 2^e with m in [0.5, 1): exponent from the bits, mantissa re-biased to 2^-1.
  f32View[0] = x;
  const bits = u32View[0]!;
  let e = fround(fround((bits >>> 23) - 127) + 1);
  u32View[0] = (bits & 0x807fffff) | 0x3f000000;
  const m = f32View[0]!;
  // For m < sqrt(1/2) use 2m - 1 (and e - 1) so the polynomial argument stays in [-0.29, 0.41].
  const small = m < SQRTHF;
  x = fround(m - 1);
  if (small) {
    e = fround(e - 1);
    x = fround(x + m);
  }
  const z = fround(x * x);
  // log(1+x) ~ x - x^2/2 + x^3 P(x): Horner with 8 fused steps.
  let y = LOG_P0;
  for (let k = 1; k < 9; k++) y = fmaF32(y, x, LOG_P[k]!);
  y = fround(y * x);
  y = fmaF32(y, z, fround(e * LOG_Q1));
  y = fround(y - fround(z * 0.5));
  x = fround(x + y);
  // ln 2 split as LOG_Q2 + LOG_Q1 so that e * LOG_Q2 is exact.
  return fround(x + fround(e * LOG_Q2));
}

// sincosAvx2 returns through these to avoid allocating a pair per lane.
let sinOut = 0;
let cosOut = 0;

/** float32 sin and cos of t >= 0, lane-exact copy of the AVX2 `sincos256_ps`; sets sinOut/cosOut. */
function sincosAvx2(t: number): void {
  let x = Math.abs(t);
  // Octant j (rounded up to even) and Cody–Waite reduction x - j*pi/4 with pi/4 = -(DP1+DP2+DP3).
  let j = Math.trunc(fround(x * FOPI)) | 0;
  j = (j + 1) & ~1;
  const y = fround(j);
  x = fmaF32(y, DP1, x);
  x = fmaF32(y, DP2, x);
  x = fmaF32(y, DP3, x);
  const z = fround(x * x);
  // cos(x) ~ 1 - z/2 + z^2 Q(z),  sin(x) ~ x + x z P(z) on |x| <= pi/4.
  let c = fmaF32(COS_P0, z, COS_P1);
  c = fmaF32(c, z, COS_P2);
  c = fround(c * z);
  c = fmaF32(c, z, -fround(z * 0.5));
  c = fround(c + 1);
  let s = fmaF32(SIN_P0, z, SIN_P1);
  s = fmaF32(s, z, SIN_P2);
  s = fround(s * z);
  s = fmaF32(s, x, x);
  // Octants 2,3 (mod 4) swap the polynomials; sign bits follow the octant.
  const swap = (j & 2) !== 0;
  const sinMag = swap ? c : s;
  const cosMag = swap ? s : c;
  sinOut = (j & 4) !== 0 ? -sinMag : sinMag;
  cosOut = ((j - 2) & 4) === 0 ? -cosMag : cosMag;
}

/**
 * Box–Muller on one 16-value block (§3.2/3.3): lane j pairs radius u[j] with angle u[j+8].
 * Reads src[so..so+15] and writes dst[d0..d0+15]; in-place use (src === dst, so === d0) is safe
 * because each lane reads its two slots before writing them. Two kernels, as torch has two.
 */
type BlockKernel = (
  src: Float32Array,
  so: number,
  dst: Float32Array,
  d0: number,
  std: number,
  mean: number,
) => void;

/** The AVX2 kernel: its float32 log and sincos polynomials, the final multiply-add fused. */
const normalBlockAvx2: BlockKernel = (src, so, dst, d0, std, mean) => {
  for (let j = 0; j < 8; j++) {
    const u1 = fround(1 - src[so + j]!);
    const u2 = src[so + j + 8]!;
    const r = fround(Math.sqrt(fround(-2 * logAvx2(u1))));
    sincosAvx2(fround(TWO_PI_F * u2));
    dst[d0 + j] = fmaF32(fround(r * cosOut), std, mean);
    dst[d0 + j + 8] = fmaF32(fround(r * sinOut), std, mean);
  }
};

/**
 * The non-AVX2 scalar kernel (§3.3b): libm float functions, angle product in double. We have no
 * glibc logf/cosf/sinf, so f32 of the correctly rounded double result stands in: within ~3 ulp.
 */
const normalBlockScalar: BlockKernel = (src, so, dst, d0, std, mean) => {
  for (let j = 0; j < 8; j++) {
    const u1 = fround(1 - src[so + j]!);
    const u2 = src[so + j + 8]!;
    const r = fround(Math.sqrt(fround(-2 * fround(logCR(u1)))));
    const t = fround(2 * Math.PI * u2);
    dst[d0 + j] = fround(fround(fround(r * fround(cosCR(t))) * std) + mean);
    dst[d0 + j + 8] = fround(fround(fround(r * fround(sinCR(t))) * std) + mean);
  }
};

// ---------------------------------------------------------------------------------------------
// Generator

/** JSON-serialisable snapshot of a Generator: MT state, position, Box–Muller cache, seed. */
export interface GeneratorState {
  mt: number[];
  idx: number;
  nextDoubleNormal: number | null;
  initialSeed: string;
}

function toSeedBigInt(seed: number | bigint): bigint {
  if (typeof seed === "number" && !Number.isSafeInteger(seed)) {
    throw new RangeError(`seed must be a safe integer or a bigint, got ${seed}`);
  }
  // Like torch: negative seeds wrap modulo 2^64.
  return BigInt(seed) & U64_MASK;
}

function checkInt(name: string, v: number): void {
  if (!Number.isSafeInteger(v)) throw new RangeError(`${name} must be a safe integer, got ${v}`);
}

/**
 * torch 1.13 CPU generator (MT19937). Same seed, same calls, same numbers as PyTorch.
 *
 * @example
 * const g = new Generator(2147483647);
 * const C = new Float32Array(27 * 10);
 * g.randnInto(C); // == torch.randn((27, 10), generator=g)
 */
export class Generator {
  private readonly mt = new Uint32Array(MT_N);
  private idx = MT_N;
  private nextDoubleNormal: number | null = null;
  private seed = DEFAULT_SEED;
  private readonly tail = new Float32Array(16);

  /** `torch.Generator().manual_seed(seed)`; default seed 67280421310721 like `torch.Generator()`. */
  constructor(seed: number | bigint = DEFAULT_SEED) {
    this.manualSeed(seed);
  }

  /**
   * `g.manual_seed(seed)`: only the low 32 bits reach the state (5 and 2^32 + 5 give the same
   * stream); clears the Box–Muller cache. Returns this for chaining.
   */
  manualSeed(seed: number | bigint): this {
    this.seed = toSeedBigInt(seed);
    initGenrand(this.mt, Number(this.seed & 0xffffffffn));
    this.idx = MT_N; // twist lazily on the first draw
    this.nextDoubleNormal = null;
    return this;
  }

  /** `g.initial_seed()`: the seed modulo 2^64. */
  initialSeed(): bigint {
    return this.seed;
  }

  /** One raw MT19937 32-bit draw (torch's `random()`), as a number in [0, 2^32). */
  nextU32(): number {
    if (this.idx >= MT_N) {
      twist(this.mt);
      this.idx = 0;
    }
    return temper(this.mt[this.idx++]!);
  }

  /** float32 uniform in [0, 1): the low 24 bits of one draw times 2^-24 (exact in float32). */
  uniformF32(): number {
    return (this.nextU32() & 0xffffff) * TWO_POW_M24;
  }

  /** float64 uniform in [0, 1): low 53 bits of random64() = (hi << 32 | lo), hi drawn first. */
  uniformF64(): number {
    const hi = this.nextU32();
    const lo = this.nextU32();
    return ((hi & 0x1fffff) * TWO_POW_32 + lo) * TWO_POW_M53;
  }

  /** `torch.rand(n)` (float32), one draw per element in order. */
  randInto(out: Float32Array): void {
    for (let i = 0; i < out.length; i++) out[i] = this.uniformF32();
  }

  /**
   * `t.uniform_(from, to)` on a float32 tensor (§2), one draw per element in order. torch casts
   * both bounds to float32 and the AVX2 build computes x * (to - from) + from as one fused
   * multiply-add, with x = uniformF32() and to - from rounded to float32 first.
   *
   * @example
   * const w = new Float32Array(64 * 192);
   * g.uniformInto(w, -0.125, 0.125); // == torch.empty(64, 192).uniform_(-0.125, 0.125)
   */
  uniformInto(out: Float32Array, from: number, to: number): void {
    const a = fround(from);
    const range = fround(fround(to) - a);
    for (let i = 0; i < out.length; i++) out[i] = fmaF32(this.uniformF32(), range, a);
  }

  /**
   * `torch.randn` float32 with torch 1.13's AVX2 dispatch: n >= 16 uses the block path (§3.2/3.3,
   * bit exact, leaves the Box–Muller cache alone); n < 16 uses the per-element double path with the
   * generator's Box–Muller cache (§3.5).
   *
   * @example
   * const W1 = new Float32Array(30 * 200);
   * g.randnInto(W1); // == torch.randn((30, 200), generator=g)
   */
  randnInto(out: Float32Array, mean = 0, std = 1): void {
    this.randnF32(out, mean, std, normalBlockAvx2);
  }

  /**
   * `torch.randn` float32 as computed by builds without AVX2 (ARM/Apple Silicon,
   * ATEN_CPU_CAPABILITY=default): same draws as randnInto, libm-style kernel (§3.3b) with
   * float32-rounded correctly rounded double log/cos/sin standing in for glibc's logf/cosf/sinf,
   * which are not correctly rounded. Matches those builds only to within ~3 ulp.
   */
  randnScalarKernelInto(out: Float32Array, mean = 0, std = 1): void {
    this.randnF32(out, mean, std, normalBlockScalar);
  }

  private randnF32(out: Float32Array, mean: number, std: number, kernel: BlockKernel): void {
    const n = out.length;
    if (n < 16) {
      for (let i = 0; i < n; i++) out[i] = this.normalF64() * std + mean;
      return;
    }
    // Block path: the kernel takes float mean/std.
    const m = fround(mean);
    const s = fround(std);
    for (let i = 0; i < n; i++) out[i] = (this.nextU32() & 0xffffff) * TWO_POW_M24;
    for (let i = 0; i + 16 <= n; i += 16) kernel(out, i, out, i, s, m);
    if (n % 16 !== 0) {
      // The ragged tail is recomputed from 16 fresh draws and overwrites the last 16 slots.
      const tail = this.tail;
      for (let i = 0; i < 16; i++) tail[i] = (this.nextU32() & 0xffffff) * TWO_POW_M24;
      kernel(tail, 0, out, n - 16, s, m);
    }
  }

  /** `torch.randn(..., dtype=float64)`: double block path for n >= 16 (§3.4), else §3.5. */
  randnF64Into(out: Float64Array, mean = 0, std = 1): void {
    const n = out.length;
    if (n < 16) {
      for (let i = 0; i < n; i++) out[i] = this.normalF64() * std + mean;
      return;
    }
    for (let i = 0; i < n; i++) out[i] = this.uniformF64();
    for (let i = 0; i + 16 <= n; i += 16) normalBlockF64(out, i, std, mean);
    if (n % 16 !== 0) {
      for (let i = n - 16; i < n; i++) out[i] = this.uniformF64();
      normalBlockF64(out, n - 16, std, mean);
    }
  }

  /**
   * torch's `normal_distribution<double>` (§3.5): Box–Muller producing a pair; cos is returned and
   * sin is cached in the generator for the next per-element normal (even across calls).
   */
  private normalF64(): number {
    const cached = this.nextDoubleNormal;
    if (cached !== null) {
      this.nextDoubleNormal = null;
      return cached;
    }
    const u1 = this.uniformF64();
    const u2 = this.uniformF64();
    const r = Math.sqrt(-2 * logCR(1 - u2));
    const t = 2 * Math.PI * u1;
    this.nextDoubleNormal = r * sinCR(t);
    return r * cosCR(t);
  }

  /**
   * `torch.randint(low, high, (n,))` written into `out` (row-major). Plain modulo of one draw:
   * random() when high - low < 2^32 (or for Int32Array, like torch's int32 dtype), else random64().
   *
   * @example
   * const ix = new Int32Array(32);
   * g.randintInto(ix, 0, 182625); // == torch.randint(0, Xtr.shape[0], (32,), generator=g)
   */
  randintInto(out: Int32Array | Float32Array | Float64Array, low: number, high: number): void {
    checkInt("low", low);
    checkInt("high", high);
    const range = high - low;
    if (!(range >= 1)) throw new RangeError(`randint: need low < high, got [${low}, ${high})`);
    if (range < TWO_POW_32 || out instanceof Int32Array) {
      for (let i = 0; i < out.length; i++) out[i] = (this.nextU32() % range) + low;
      return;
    }
    const bigRange = BigInt(range);
    const bigLow = BigInt(low);
    for (let i = 0; i < out.length; i++) {
      const hi = BigInt(this.nextU32());
      const lo = BigInt(this.nextU32());
      out[i] = Number((((hi << 32n) | lo) % bigRange) + bigLow);
    }
  }

  /** `Tensor.exponential_(lambd)` on float32 (§5): v = (-1/lambd) * log(1 - u), u = uniformF64(). */
  exponentialInto(out: Float32Array, lambd = 1): void {
    const k = -1 / lambd;
    for (let i = 0; i < out.length; i++) out[i] = k * logCR(1 - this.uniformF64());
  }

  /**
   * `torch.multinomial(probs, numSamples, replacement)` for row-major float32 probs of shape
   * (rows, k); returns row-major indices of shape (rows, numSamples). torch 1.13 paths (§6):
   * replacement=false -> exponential ("Gumbel-max") path, argmax or topk of probs / Exp(1);
   * replacement=true -> cumulative-distribution binary search (also for numSamples == 1).
   *
   * @example
   * const ix = g.multinomial(probs, 1, 27, 1)[0]; // part 3 sampling loop, 54 draws
   */
  multinomial(
    probs: Float32Array,
    rows: number,
    k: number,
    numSamples: number,
    replacement = false,
  ): Int32Array {
    checkInt("rows", rows);
    checkInt("k", k);
    checkInt("numSamples", numSamples);
    if (rows < 1 || k < 1 || probs.length !== rows * k) {
      throw new RangeError(`multinomial: probs has ${probs.length} values, expected rows*k = ${rows}*${k}`);
    }
    if (numSamples < 1) throw new RangeError("multinomial: numSamples must be positive");
    if (!replacement && numSamples > k) {
      throw new RangeError("multinomial: cannot sample numSamples > k without replacement");
    }
    // torch's validity checks draw nothing, so do them all up front.
    for (let r = 0; r < rows; r++) {
      let sum = 0;
      for (let i = r * k; i < (r + 1) * k; i++) {
        const p = probs[i]!;
        if (!(p >= 0) || p === Infinity) throw new RangeError("multinomial: probs must be finite and >= 0");
        sum += p;
      }
      if (!(sum > 0)) throw new RangeError("multinomial: each row must have a positive sum");
    }
    const out = new Int32Array(rows * numSamples);
    if (replacement) {
      this.multinomialCumulative(probs, rows, k, numSamples, out);
    } else {
      this.multinomialExponential(probs, rows, k, numSamples, out);
    }
    return out;
  }

  /** §6.2: ratio = probs / q with q ~ Exp(1) drawn over the whole tensor first, then argmax / topk. */
  private multinomialExponential(
    probs: Float32Array,
    rows: number,
    k: number,
    numSamples: number,
    out: Int32Array,
  ): void {
    const q = new Float32Array(rows * k);
    this.exponentialInto(q);
    for (let i = 0; i < q.length; i++) q[i] = probs[i]! / q[i]!; // float32 division (store rounds)
    for (let r = 0; r < rows; r++) {
      const base = r * k;
      if (numSamples === 1) {
        // argmax, first index wins ties; NaN counts as the maximum like torch.argmax.
        let best = 0;
        let bestV = q[base]!;
        for (let i = 1; i < k && !Number.isNaN(bestV); i++) {
          const v = q[base + i]!;
          if (v > bestV || Number.isNaN(v)) {
            best = i;
            bestV = v;
          }
        }
        out[r] = best;
      } else {
        // topk: indices of the numSamples largest ratios, descending (ties: lower index first).
        const idx = Array.from({ length: k }, (_, i) => i);
        idx.sort((a, b) => q[base + b]! - q[base + a]! || a - b);
        for (let s = 0; s < numSamples; s++) out[r * numSamples + s] = idx[s]!;
      }
    }
  }

  /** §6.3: float32 running sum, normalised, then a binary search per uniform_f64 draw. */
  private multinomialCumulative(
    probs: Float32Array,
    rows: number,
    k: number,
    numSamples: number,
    out: Int32Array,
  ): void {
    const cum = new Float32Array(k);
    for (let r = 0; r < rows; r++) {
      let sum = 0;
      for (let i = 0; i < k; i++) cum[i] = sum = fround(sum + probs[r * k + i]!);
      for (let i = 0; i < k; i++) cum[i] = cum[i]! / sum;
      for (let s = 0; s < numSamples; s++) {
        const u = this.uniformF64();
        cum[k - 1] = 1;
        let left = 0;
        let right = k;
        while (right > left) {
          const mid = left + ((right - left) >> 1);
          if (cum[mid]! < u) left = mid + 1;
          else right = mid;
        }
        out[r * numSamples + s] = left;
      }
    }
  }

  /** `torch.randperm(n)` (§7): forward Fisher–Yates with `random() % (n - i)`. */
  randperm(n: number): Int32Array {
    checkInt("n", n);
    if (n < 0 || n > 0x7fffffff) throw new RangeError(`randperm: n out of range: ${n}`);
    const r = new Int32Array(n);
    for (let i = 0; i < n; i++) r[i] = i;
    for (let i = 0; i < n - 1; i++) {
      const z = this.nextU32() % (n - i);
      const t = r[i]!;
      r[i] = r[i + z]!;
      r[i + z] = t;
    }
    return r;
  }

  /** Snapshot like `g.get_state()`, including the Box–Muller cache; plain JSON. */
  getState(): GeneratorState {
    return {
      mt: Array.from(this.mt),
      idx: this.idx,
      nextDoubleNormal: this.nextDoubleNormal,
      initialSeed: this.seed.toString(),
    };
  }

  /** Restore a snapshot from getState (`g.set_state(...)`); the continuation is identical. */
  setState(s: GeneratorState): this {
    if (!Array.isArray(s.mt) || s.mt.length !== MT_N)
      throw new RangeError(`state.mt must have ${MT_N} words`);
    if (!Number.isInteger(s.idx) || s.idx < 0 || s.idx > MT_N) throw new RangeError("state.idx out of range");
    for (let i = 0; i < MT_N; i++) this.mt[i] = s.mt[i]!;
    this.idx = s.idx;
    this.nextDoubleNormal = s.nextDoubleNormal;
    this.seed = BigInt(s.initialSeed) & U64_MASK;
    return this;
  }
}

/** §3.4: one float64 Box–Muller block in place, libm double log/cos/sin. */
function normalBlockF64(data: Float64Array, i0: number, std: number, mean: number): void {
  for (let j = 0; j < 8; j++) {
    const u1 = 1 - data[i0 + j]!;
    const u2 = data[i0 + j + 8]!;
    const r = Math.sqrt(-2 * logCR(u1));
    const t = 2 * Math.PI * u2;
    data[i0 + j] = r * cosCR(t) * std + mean;
    data[i0 + j + 8] = r * sinCR(t) * std + mean;
  }
}
