// Correctly rounded double log, sin and cos for the double-precision parts of torch's samplers.
//
// Why: torch computes Box–Muller in double with glibc's libm. V8's Math.log/sin/cos are fdlibm
// ports with errors up to ~1 ulp, and on uniform inputs Math.log already disagrees with glibc in
// about 9% of cases, enough to break bit-exact float64 randn. glibc 2.36's log/sin/cos are
// within ~0.52 ulp, so they agree with the correctly rounded result except in roughly 0.1% of
// inputs (measured against mpmath). Correct rounding is therefore the best portable target.
//
// Method: evaluate in double-double (an unevaluated sum hi + lo, ~106 bits) and round once at the
// end. The error before the final rounding is below ~2^-100 relative, so the result is correctly
// rounded unless the exact value lies within 2^-100 of a rounding midpoint (no known double
// input does for these ranges; worst cases of log/sin/cos need ~2^-118, see Lefèvre–Muller).
// Speed is ~0.5 µs per call, fine for the per-element normal path and exponential_.

// ---------------------------------------------------------------------------------------------
// Double-double primitives. Results go to the registers (rh, rl) to avoid allocating pairs.

let rh = 0;
let rl = 0;

const SPLITTER = 134217729; // 2^27 + 1, Veltkamp split into two 26-bit halves

/** rh + rl = a + b exactly (Knuth TwoSum). */
function twoSum(a: number, b: number): void {
  const s = a + b;
  const bb = s - a;
  rh = s;
  rl = a - (s - bb) + (b - bb);
}

/** rh + rl = a + b exactly, given |a| >= |b| (Dekker Fast2Sum). */
function fastTwoSum(a: number, b: number): void {
  const s = a + b;
  rh = s;
  rl = b - (s - a);
}

/** rh + rl = a * b exactly (Dekker TwoProduct with Veltkamp splitting; no fma in JS). */
function twoProd(a: number, b: number): void {
  const p = a * b;
  let t = SPLITTER * a;
  const ah = t - (t - a);
  const al = a - ah;
  t = SPLITTER * b;
  const bh = t - (t - b);
  const bl = b - bh;
  rh = p;
  rl = ah * bh - p + ah * bl + al * bh + al * bl;
}

/** (ah, al) + (bh, bl), accurate even under cancellation. */
function ddAdd(ah: number, al: number, bh: number, bl: number): void {
  twoSum(ah, bh);
  const s1 = rh;
  let s2 = rl;
  twoSum(al, bl);
  const t1 = rh;
  const t2 = rl;
  s2 += t1;
  fastTwoSum(s1, s2);
  s2 = rl + t2;
  fastTwoSum(rh, s2);
}

/** (ah, al) * (bh, bl). */
function ddMul(ah: number, al: number, bh: number, bl: number): void {
  twoProd(ah, bh);
  const p = rh;
  const e = rl + (ah * bl + al * bh);
  fastTwoSum(p, e);
}

/** (ah, al) / d for a double d (long division with one correction step). */
function ddDivD(ah: number, al: number, d: number): void {
  const q1 = ah / d;
  twoProd(q1, d);
  // a - q1*d: ah - rh is exact (Sterbenz), the rest is tiny.
  const rem = ah - rh - rl + al;
  const q2 = rem / d;
  fastTwoSum(q1, q2);
}

// ---------------------------------------------------------------------------------------------
// log

// ln 2 = LN2_HI + LN2_LO + LN2_LO2 to ~140 bits; LN2_HI has 32 significant bits so k * LN2_HI
// is exact for any binary exponent k.
const LN2_HI = 0.6931471803691238;
const LN2_LO = 1.9082149292705877e-10;
const LN2_LO2 = 1.1612227229362532e-26;
const ATANH_TERMS = 23; // f^2 <= 0.0295, so 0.0295^23 < 2^-116

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
const HI_WORD = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;

/**
 * Correctly rounded natural logarithm (see file header for the precise claim).
 * @example logCR(0.5) === -0.6931471805599453
 */
export function logCR(x: number): number {
  if (!(x > 0) || x === Infinity) return Math.log(x);
  if (x === 1) return 0;
  // x = m * 2^k with m in [sqrt(1/2), sqrt(2)); subnormals are scaled into the normal range first.
  let k = 0;
  if (x < 2.2250738585072014e-308) {
    x *= 18014398509481984; // 2^54
    k = -54;
  }
  f64[0] = x;
  const hiWord = u32[HI_WORD]!;
  k += (hiWord >>> 20) - 1023;
  u32[HI_WORD] = (hiWord & 0x000fffff) | 0x3ff00000;
  let m = f64[0]!; // in [1, 2)
  if (m > Math.SQRT2) {
    m *= 0.5;
    k += 1;
  }
  // log m = 2 atanh(f), f = (m - 1) / (m + 1); m - 1 is exact (Sterbenz), m + 1 is a double-double.
  const num = m - 1;
  twoSum(m, 1);
  const dh = rh;
  const dl = rl;
  const q1 = num / dh;
  twoProd(q1, dh);
  const fl0 = (num - rh - rl - q1 * dl) / dh;
  fastTwoSum(q1, fl0);
  const fh = rh;
  const fl = rl;
  // atanh(f)/f = sum_j s^j / (2j + 1), s = f^2, by Horner in double-double.
  ddMul(fh, fl, fh, fl);
  const sh = rh;
  const sl = rl;
  let ah = 1 / (2 * ATANH_TERMS + 1);
  let al = 0;
  for (let j = ATANH_TERMS - 1; j >= 0; j--) {
    ddMul(ah, al, sh, sl);
    const ph = rh;
    const pl = rl;
    ddDivD(1, 0, 2 * j + 1); // 1/(2j+1) as a double-double
    ddAdd(rh, rl, ph, pl);
    ah = rh;
    al = rl;
  }
  ddMul(ah, al, fh, fl);
  const lh = 2 * rh; // log m, exact doubling
  const ll = 2 * rl;
  if (k === 0) return lh + ll;
  // + k ln 2: k*LN2_HI exact, k*LN2_LO as an exact product, k*LN2_LO2 below the error budget.
  twoProd(k, LN2_LO);
  ddAdd(k * LN2_HI, 0, rh, rl + k * LN2_LO2);
  ddAdd(rh, rl, lh, ll);
  return rh + rl;
}

// ---------------------------------------------------------------------------------------------
// sin, cos

// pi/2 = P1 + P2 + P3 + P3T to ~160 bits (fdlibm's pio2_1, pio2_2, pio2_3, pio2_3t). The first
// three have 33 significant bits, so k*Pi is exact for |k| < 2^20 and t - k*P1 is exact.
const P1 = 1.5707963267341256;
const P2 = 6.077100506303966e-11;
const P3 = 2.0222662487111665e-21;
const P3T = 8.4784276603689e-32;
const TWO_OVER_PI = 0.6366197723675814;
const TAYLOR_TERMS = 16; // |r| <= pi/4: (pi/4)^33 / 33! < 2^-120

// Reduced argument r = t - k*pi/2 as a double-double, and the quadrant k mod 4.
let redH = 0;
let redL = 0;
let quadrant = 0;

/** Cody–Waite reduction for |t| < 2^19 * pi (callers fall back to Math.* beyond). */
function reduce(t: number): void {
  const k = Math.round(t * TWO_OVER_PI);
  quadrant = k & 3;
  const a = t - k * P1; // exact
  twoSum(a, -k * P2);
  let h = rh;
  let l = rl;
  twoSum(h, -k * P3);
  h = rh;
  l += rl;
  twoProd(k, P3T);
  ddAdd(h, l, -rh, -rl);
  redH = rh;
  redL = rl;
}

/**
 * The Taylor series at the reduced r, summed from the last term in, in double-double:
 *   sin r = r (1 - r^2/(2*3) (1 - r^2/(4*5) (1 - ...)))    (odd = 1)
 *   cos r =    1 - r^2/(1*2) (1 - r^2/(3*4) (1 - ...))     (odd = 0)
 * term j divides by (2j - 1 + odd)(2j + odd), an exact integer.
 */
function taylorReduced(h: number, l: number, odd: 0 | 1): number {
  ddMul(h, l, h, l);
  const sh = rh;
  const sl = rl;
  let ah = 1;
  let al = 0;
  for (let j = TAYLOR_TERMS; j >= 1; j--) {
    ddMul(ah, al, sh, sl);
    ddDivD(rh, rl, (2 * j - 1 + odd) * (2 * j + odd));
    ddAdd(1, 0, -rh, -rl);
    ah = rh;
    al = rl;
  }
  if (odd === 0) return ah + al;
  ddMul(ah, al, h, l);
  return rh + rl;
}
const sinReduced = (h: number, l: number) => taylorReduced(h, l, 1);
const cosReduced = (h: number, l: number) => taylorReduced(h, l, 0);

const REDUCE_LIMIT = 823549.6; // 2^19 * pi/2: k stays below 2^20

/**
 * Correctly rounded sine (|t| < 823549; larger arguments fall back to Math.sin).
 * @example sinCR(Math.PI) === 1.2246467991473532e-16
 */
export function sinCR(t: number): number {
  if (!(Math.abs(t) < REDUCE_LIMIT)) return Math.sin(t);
  if (t === 0) return t; // keeps the sign of zero
  reduce(t);
  switch (quadrant) {
    case 0:
      return sinReduced(redH, redL);
    case 1:
      return cosReduced(redH, redL);
    case 2:
      return -sinReduced(redH, redL);
    default:
      return -cosReduced(redH, redL);
  }
}

/**
 * Correctly rounded cosine (|t| < 823549; larger arguments fall back to Math.cos).
 * @example cosCR(1) === 0.5403023058681398
 */
export function cosCR(t: number): number {
  if (!(Math.abs(t) < REDUCE_LIMIT)) return Math.cos(t);
  reduce(t);
  switch (quadrant) {
    case 0:
      return cosReduced(redH, redL);
    case 1:
      return -sinReduced(redH, redL);
    case 2:
      return -cosReduced(redH, redL);
    default:
      return sinReduced(redH, redL);
  }
}
