// AssemblyScript source of the arena kernels (WebAssembly SIMD, f32x4 / f64x2) that run a whole
// makemore training step, an evaluation pass or a sampling step inside ONE linear memory: the
// caller (src/tensor/engine.ts through src/tensor/wasm/arena-wasm.ts) lays out parameters,
// activations and gradients in this module's memory once, then calls these kernels on pointers,
// so nothing is copied between ops. Compiled by `npm run build:wasm` into
// src/tensor/wasm/arena.wasm.ts. Not TypeScript: `i32`, `usize`, `v128`, `f32x4`, `load<T>`,
// `store<T>` are AssemblyScript builtins; this file is outside tsconfig's include on purpose.
//
// Every kernel has a plain TypeScript twin in src/tensor/kernels.ts (`referenceKernels`) that
// test/kernels.test.ts runs against it. Most kernels reproduce their twin bit for bit: where the
// twin accumulates or divides in float64 (BatchNorm statistics and backward) so do
// these, with f64x2. Three differ by float32 rounding only, and say so: the gemms add per 4x8 tile
// (the same sequential p order as assembly/gemm.ts), `tanhFwd` and `ceFwd` use float32 polynomial
// exp/tanh (at most 1 ulp from the correctly rounded value; see tanhv).
//
// Conventions: pointers are byte offsets; matrices are row-major with the given row strides (in
// floats); "acc" = add into the destination, otherwise overwrite. Reads may run up to 28 bytes past
// the end of a row or buffer (the partial SIMD panels); the caller pads every buffer by 32 bytes.
// Results beyond the valid rows and columns are computed in scratch lanes and never stored.

/** First byte the caller may use (everything below belongs to the module). */
export function heapBase(): usize {
  return __heap_base;
}

// ---------------------------------------------------------------------------------------------
// gemm: the one shared kernel (assembly/gemm-kernel.ts, also behind assembly/gemm.ts), exported
// as it is. The summation order is the kernel's: every C[i, j] sums p = 0..k-1 from zero in
// float32, then + C_old (acc), then + bias, whatever the blocking. work = 0: the workspace this
// module's caller registered with setGemmWork (every arena does).
export { gemm, gemmWorkBytes, maddProbe, setGemmWork } from "./gemm-kernel";

/** db(n) += sum over the m rows of G(m, n) (float32, rows in order): the bias gradient. */
export function colSum(m: i32, n: i32, g: usize, db: usize): void {
  const nB: usize = (<usize>n) << 2;
  let j = 0;
  // 16 columns at a time: four independent chains of adds (each column still sums its rows in
  // order, so the same bits), where one chain would wait on each add's latency
  for (; j + 16 <= n; j += 16) {
    const d: usize = db + ((<usize>j) << 2);
    let s0 = v128.load(d);
    let s1 = v128.load(d, 16);
    let s2 = v128.load(d, 32);
    let s3 = v128.load(d, 48);
    let p: usize = g + ((<usize>j) << 2);
    for (let r = 0; r < m; r++) {
      s0 = f32x4.add(s0, v128.load(p));
      s1 = f32x4.add(s1, v128.load(p, 16));
      s2 = f32x4.add(s2, v128.load(p, 32));
      s3 = f32x4.add(s3, v128.load(p, 48));
      p += nB;
    }
    v128.store(d, s0);
    v128.store(d, s1, 16);
    v128.store(d, s2, 32);
    v128.store(d, s3, 48);
  }
  for (; j + 4 <= n; j += 4) {
    let s = v128.load(db + ((<usize>j) << 2));
    let p: usize = g + ((<usize>j) << 2);
    for (let r = 0; r < m; r++) {
      s = f32x4.add(s, v128.load(p));
      p += nB;
    }
    v128.store(db + ((<usize>j) << 2), s);
  }
  for (; j < n; j++) {
    let s: f32 = load<f32>(db + ((<usize>j) << 2));
    let p: usize = g + ((<usize>j) << 2);
    for (let r = 0; r < m; r++) {
      s += load<f32>(p);
      p += nB;
    }
    store<f32>(db + ((<usize>j) << 2), s);
  }
}

// ---------------------------------------------------------------------------------------------
// exp and tanh in float32 lanes

/** t = x log2(e) + 1.5 * 2^23: n = round(x / ln2) lands in t's low mantissa bits (n = t - 1.5 * 2^23). */
@inline
function expShifted(x: v128): v128 {
  return f32x4.add(f32x4.mul(x, f32x4.splat(1.44269504088896341)), f32x4.splat(12582912.0));
}

/**
 * e^r where x = n ln2 + r, n from t = expShifted(x): the exact reduction (ln2 split in two), then
 * 1 + r + r^2 P(r) with a degree-5 P by Estrin's scheme. The caller applies 2^n.
 */
@inline
function expReduced(x: v128, t: v128): v128 {
  const n = f32x4.sub(t, f32x4.splat(12582912.0));
  let r = f32x4.sub(x, f32x4.mul(n, f32x4.splat(0.693359375)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(-2.12194440e-4)));
  const r2 = f32x4.mul(r, r);
  const q01 = f32x4.add(f32x4.mul(f32x4.splat(1.987569150e-4), r), f32x4.splat(1.3981999507e-3));
  const q23 = f32x4.add(f32x4.mul(f32x4.splat(8.3334519073e-3), r), f32x4.splat(4.1665795894e-2));
  const q45 = f32x4.add(f32x4.mul(f32x4.splat(1.6666665459e-1), r), f32x4.splat(5.0000001201e-1));
  const q = f32x4.add(f32x4.mul(f32x4.add(f32x4.mul(q01, r2), q23), r2), q45);
  return f32x4.add(f32x4.add(f32x4.mul(q, r2), r), f32x4.splat(1));
}

/**
 * e^x for x in [-87.3, 88.7] (Cephes expf): x = n ln2 + r with |r| <= ln2/2 (n rounded with the
 * 1.5 * 2^23 trick, ln2 split in two for an exact reduction), e^r = 1 + r + r^2 P(r) with a degree-5
 * P evaluated by Estrin's scheme, then 2^n through the exponent bits. At most 1 ulp from the
 * correctly rounded value.
 */
@inline
function expv(x: v128): v128 {
  const t = expShifted(x);
  const y = expReduced(x, t);
  // the low mantissa bits of t hold n + 0x400000; (n + 127) << 23 is 2^n
  const pow2 = i32x4.shl(i32x4.sub(t, i32x4.splat(0x4b400000 - 127)), 23);
  return f32x4.mul(y, pow2);
}

/**
 * tanh in float32 lanes, as PyTorch's kernel returns it: |x| > 8.664339742 gives exactly +-1 (like
 * tanhF32 in src/tensor/tensor.ts). |x| < 0.625: x + x^3 P(x^2) (Cephes tanhf); otherwise
 * 1 - 2 / (e^(2|x|) + 1), which is correctly rounded near saturation where 1 - y^2 is tiny. At most
 * 1 ulp from the correctly rounded tanh (measured over dense sweeps); NaN stays NaN.
 */
@inline
function tanhv(x: v128): v128 {
  const ax = f32x4.abs(x);
  const z = f32x4.mul(ax, ax);
  const z2 = f32x4.mul(z, z);
  const pa = f32x4.add(f32x4.mul(f32x4.splat(-5.70498872745e-3), z), f32x4.splat(2.06390887954e-2));
  const pb = f32x4.add(f32x4.mul(f32x4.splat(-5.37397155531e-2), z), f32x4.splat(1.33314422036e-1));
  const p = f32x4.add(f32x4.mul(f32x4.add(f32x4.mul(pa, z2), pb), z), f32x4.splat(-3.33332819422e-1));
  const small = f32x4.add(f32x4.mul(f32x4.mul(p, z), ax), ax);
  const e = expv(f32x4.pmin(f32x4.add(ax, ax), f32x4.splat(18)));
  const large = f32x4.sub(f32x4.splat(1), f32x4.div(f32x4.splat(2), f32x4.add(e, f32x4.splat(1))));
  let y = v128.bitselect(small, large, f32x4.lt(ax, f32x4.splat(0.625)));
  // |x| > 8.664339742 for a float32 x means |x| >= 8.664340019226074, the next float32 above it
  y = v128.bitselect(f32x4.splat(1), y, f32x4.ge(ax, f32x4.splat(8.664340019226074)));
  return v128.or(y, v128.and(x, f32x4.splat(-0.0)));
}

/**
 * tanhv on 4 vectors at once, the same operations interleaved step by step: one tanh is a long
 * dependency chain (exp's reduction and polynomial, a division), and V8 does not reorder wasm
 * instructions, so four independent chains side by side are what keeps the FP units busy.
 */
@inline
function tanh4(p: usize, q: usize): void {
  const x0 = v128.load(p, 0);
  const x1 = v128.load(p, 16);
  const x2 = v128.load(p, 32);
  const x3 = v128.load(p, 48);
  const ax0 = f32x4.abs(x0);
  const ax1 = f32x4.abs(x1);
  const ax2 = f32x4.abs(x2);
  const ax3 = f32x4.abs(x3);
  const u0 = f32x4.pmin(f32x4.add(ax0, ax0), f32x4.splat(18));
  const u1 = f32x4.pmin(f32x4.add(ax1, ax1), f32x4.splat(18));
  const u2 = f32x4.pmin(f32x4.add(ax2, ax2), f32x4.splat(18));
  const u3 = f32x4.pmin(f32x4.add(ax3, ax3), f32x4.splat(18));
  const z0 = f32x4.mul(ax0, ax0);
  const z1 = f32x4.mul(ax1, ax1);
  const z2 = f32x4.mul(ax2, ax2);
  const z3 = f32x4.mul(ax3, ax3);
  const t0 = f32x4.add(f32x4.mul(u0, f32x4.splat(1.44269504088896341)), f32x4.splat(12582912.0));
  const t1 = f32x4.add(f32x4.mul(u1, f32x4.splat(1.44269504088896341)), f32x4.splat(12582912.0));
  const t2 = f32x4.add(f32x4.mul(u2, f32x4.splat(1.44269504088896341)), f32x4.splat(12582912.0));
  const t3 = f32x4.add(f32x4.mul(u3, f32x4.splat(1.44269504088896341)), f32x4.splat(12582912.0));
  const z20 = f32x4.mul(z0, z0);
  const z21 = f32x4.mul(z1, z1);
  const z22 = f32x4.mul(z2, z2);
  const z23 = f32x4.mul(z3, z3);
  const n0 = f32x4.sub(t0, f32x4.splat(12582912.0));
  const n1 = f32x4.sub(t1, f32x4.splat(12582912.0));
  const n2 = f32x4.sub(t2, f32x4.splat(12582912.0));
  const n3 = f32x4.sub(t3, f32x4.splat(12582912.0));
  const pa0 = f32x4.add(f32x4.mul(f32x4.splat(-5.70498872745e-3), z0), f32x4.splat(2.06390887954e-2));
  const pa1 = f32x4.add(f32x4.mul(f32x4.splat(-5.70498872745e-3), z1), f32x4.splat(2.06390887954e-2));
  const pa2 = f32x4.add(f32x4.mul(f32x4.splat(-5.70498872745e-3), z2), f32x4.splat(2.06390887954e-2));
  const pa3 = f32x4.add(f32x4.mul(f32x4.splat(-5.70498872745e-3), z3), f32x4.splat(2.06390887954e-2));
  const pb0 = f32x4.add(f32x4.mul(f32x4.splat(-5.37397155531e-2), z0), f32x4.splat(1.33314422036e-1));
  const pb1 = f32x4.add(f32x4.mul(f32x4.splat(-5.37397155531e-2), z1), f32x4.splat(1.33314422036e-1));
  const pb2 = f32x4.add(f32x4.mul(f32x4.splat(-5.37397155531e-2), z2), f32x4.splat(1.33314422036e-1));
  const pb3 = f32x4.add(f32x4.mul(f32x4.splat(-5.37397155531e-2), z3), f32x4.splat(1.33314422036e-1));
  const rh0 = f32x4.sub(u0, f32x4.mul(n0, f32x4.splat(0.693359375)));
  const rh1 = f32x4.sub(u1, f32x4.mul(n1, f32x4.splat(0.693359375)));
  const rh2 = f32x4.sub(u2, f32x4.mul(n2, f32x4.splat(0.693359375)));
  const rh3 = f32x4.sub(u3, f32x4.mul(n3, f32x4.splat(0.693359375)));
  const pp0 = f32x4.add(f32x4.mul(f32x4.add(f32x4.mul(pa0, z20), pb0), z0), f32x4.splat(-3.33332819422e-1));
  const pp1 = f32x4.add(f32x4.mul(f32x4.add(f32x4.mul(pa1, z21), pb1), z1), f32x4.splat(-3.33332819422e-1));
  const pp2 = f32x4.add(f32x4.mul(f32x4.add(f32x4.mul(pa2, z22), pb2), z2), f32x4.splat(-3.33332819422e-1));
  const pp3 = f32x4.add(f32x4.mul(f32x4.add(f32x4.mul(pa3, z23), pb3), z3), f32x4.splat(-3.33332819422e-1));
  const r0 = f32x4.sub(rh0, f32x4.mul(n0, f32x4.splat(-2.1219444e-4)));
  const r1 = f32x4.sub(rh1, f32x4.mul(n1, f32x4.splat(-2.1219444e-4)));
  const r2 = f32x4.sub(rh2, f32x4.mul(n2, f32x4.splat(-2.1219444e-4)));
  const r3 = f32x4.sub(rh3, f32x4.mul(n3, f32x4.splat(-2.1219444e-4)));
  const small0 = f32x4.add(f32x4.mul(f32x4.mul(pp0, z0), ax0), ax0);
  const small1 = f32x4.add(f32x4.mul(f32x4.mul(pp1, z1), ax1), ax1);
  const small2 = f32x4.add(f32x4.mul(f32x4.mul(pp2, z2), ax2), ax2);
  const small3 = f32x4.add(f32x4.mul(f32x4.mul(pp3, z3), ax3), ax3);
  const r20 = f32x4.mul(r0, r0);
  const r21 = f32x4.mul(r1, r1);
  const r22 = f32x4.mul(r2, r2);
  const r23 = f32x4.mul(r3, r3);
  const q010 = f32x4.add(f32x4.mul(f32x4.splat(1.98756915e-4), r0), f32x4.splat(1.3981999507e-3));
  const q011 = f32x4.add(f32x4.mul(f32x4.splat(1.98756915e-4), r1), f32x4.splat(1.3981999507e-3));
  const q012 = f32x4.add(f32x4.mul(f32x4.splat(1.98756915e-4), r2), f32x4.splat(1.3981999507e-3));
  const q013 = f32x4.add(f32x4.mul(f32x4.splat(1.98756915e-4), r3), f32x4.splat(1.3981999507e-3));
  const q230 = f32x4.add(f32x4.mul(f32x4.splat(8.3334519073e-3), r0), f32x4.splat(4.1665795894e-2));
  const q231 = f32x4.add(f32x4.mul(f32x4.splat(8.3334519073e-3), r1), f32x4.splat(4.1665795894e-2));
  const q232 = f32x4.add(f32x4.mul(f32x4.splat(8.3334519073e-3), r2), f32x4.splat(4.1665795894e-2));
  const q233 = f32x4.add(f32x4.mul(f32x4.splat(8.3334519073e-3), r3), f32x4.splat(4.1665795894e-2));
  const q450 = f32x4.add(f32x4.mul(f32x4.splat(1.6666665459e-1), r0), f32x4.splat(5.0000001201e-1));
  const q451 = f32x4.add(f32x4.mul(f32x4.splat(1.6666665459e-1), r1), f32x4.splat(5.0000001201e-1));
  const q452 = f32x4.add(f32x4.mul(f32x4.splat(1.6666665459e-1), r2), f32x4.splat(5.0000001201e-1));
  const q453 = f32x4.add(f32x4.mul(f32x4.splat(1.6666665459e-1), r3), f32x4.splat(5.0000001201e-1));
  const qq0 = f32x4.add(f32x4.mul(f32x4.add(f32x4.mul(q010, r20), q230), r20), q450);
  const qq1 = f32x4.add(f32x4.mul(f32x4.add(f32x4.mul(q011, r21), q231), r21), q451);
  const qq2 = f32x4.add(f32x4.mul(f32x4.add(f32x4.mul(q012, r22), q232), r22), q452);
  const qq3 = f32x4.add(f32x4.mul(f32x4.add(f32x4.mul(q013, r23), q233), r23), q453);
  const pw0 = i32x4.shl(i32x4.sub(t0, i32x4.splat(0x4b400000 - 127)), 23);
  const pw1 = i32x4.shl(i32x4.sub(t1, i32x4.splat(0x4b400000 - 127)), 23);
  const pw2 = i32x4.shl(i32x4.sub(t2, i32x4.splat(0x4b400000 - 127)), 23);
  const pw3 = i32x4.shl(i32x4.sub(t3, i32x4.splat(0x4b400000 - 127)), 23);
  const e0 = f32x4.mul(f32x4.add(f32x4.add(f32x4.mul(qq0, r20), r0), f32x4.splat(1)), pw0);
  const e1 = f32x4.mul(f32x4.add(f32x4.add(f32x4.mul(qq1, r21), r1), f32x4.splat(1)), pw1);
  const e2 = f32x4.mul(f32x4.add(f32x4.add(f32x4.mul(qq2, r22), r2), f32x4.splat(1)), pw2);
  const e3 = f32x4.mul(f32x4.add(f32x4.add(f32x4.mul(qq3, r23), r3), f32x4.splat(1)), pw3);
  const large0 = f32x4.sub(f32x4.splat(1), f32x4.div(f32x4.splat(2), f32x4.add(e0, f32x4.splat(1))));
  const large1 = f32x4.sub(f32x4.splat(1), f32x4.div(f32x4.splat(2), f32x4.add(e1, f32x4.splat(1))));
  const large2 = f32x4.sub(f32x4.splat(1), f32x4.div(f32x4.splat(2), f32x4.add(e2, f32x4.splat(1))));
  const large3 = f32x4.sub(f32x4.splat(1), f32x4.div(f32x4.splat(2), f32x4.add(e3, f32x4.splat(1))));
  const y0 = v128.bitselect(small0, large0, f32x4.lt(ax0, f32x4.splat(0.625)));
  const y1 = v128.bitselect(small1, large1, f32x4.lt(ax1, f32x4.splat(0.625)));
  const y2 = v128.bitselect(small2, large2, f32x4.lt(ax2, f32x4.splat(0.625)));
  const y3 = v128.bitselect(small3, large3, f32x4.lt(ax3, f32x4.splat(0.625)));
  const s0 = v128.bitselect(f32x4.splat(1), y0, f32x4.ge(ax0, f32x4.splat(8.664340019226074)));
  const s1 = v128.bitselect(f32x4.splat(1), y1, f32x4.ge(ax1, f32x4.splat(8.664340019226074)));
  const s2 = v128.bitselect(f32x4.splat(1), y2, f32x4.ge(ax2, f32x4.splat(8.664340019226074)));
  const s3 = v128.bitselect(f32x4.splat(1), y3, f32x4.ge(ax3, f32x4.splat(8.664340019226074)));
  v128.store(q, v128.or(s0, v128.and(x0, f32x4.splat(-0.0))), 0);
  v128.store(q, v128.or(s1, v128.and(x1, f32x4.splat(-0.0))), 16);
  v128.store(q, v128.or(s2, v128.and(x2, f32x4.splat(-0.0))), 32);
  v128.store(q, v128.or(s3, v128.and(x3, f32x4.splat(-0.0))), 48);
}

/** y = tanh(x), n elements (y may alias x). */
export function tanhFwd(x: usize, y: usize, n: i32): void {
  const end = x + ((<usize>n) << 2);
  while (x + 64 <= end) {
    tanh4(x, y);
    x += 64;
    y += 64;
  }
  while (x + 16 <= end) {
    v128.store(y, tanhv(v128.load(x)));
    x += 16;
    y += 16;
  }
  while (x < end) {
    store<f32>(y, f32x4.extract_lane(tanhv(f32x4.splat(load<f32>(x))), 0));
    x += 4;
    y += 4;
  }
}

/**
 * gx (+)= g * (1 - y^2) in float32, one rounding per op as the reference and PyTorch's
 * tanh_backward (`a * (1 - b * b)`) compute it; the sum then rounds once more when accumulating.
 * No fused multiply-add here: it would differ from `(1 - h**2) * dh` written with tensor ops.
 */
export function tanhBwd(y: usize, g: usize, gx: usize, n: i32, acc: i32): void {
  const one = f32x4.splat(1);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o: usize = (<usize>i) << 2;
    const yv = v128.load(y + o);
    const v = f32x4.mul(v128.load(g + o), f32x4.sub(one, f32x4.mul(yv, yv)));
    // 0 + v when not accumulating, as into a fresh gradient (-0 becomes +0)
    v128.store(gx + o, f32x4.add(acc !== 0 ? v128.load(gx + o) : f32x4.splat(0), v));
  }
  for (; i < n; i++) {
    const o: usize = (<usize>i) << 2;
    const yy = load<f32>(y + o);
    const v = load<f32>(g + o) * (<f32>1 - yy * yy);
    store<f32>(gx + o, (acc !== 0 ? load<f32>(gx + o) : <f32>0) + v);
  }
}

/** y = max(x, 0) (NaN -> 0, like the reference `x > 0 ? x : 0`). */
export function reluFwd(x: usize, y: usize, n: i32): void {
  const zero = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o: usize = (<usize>i) << 2;
    const v = v128.load(x + o);
    v128.store(y + o, v128.and(v, f32x4.gt(v, zero)));
  }
  for (; i < n; i++) {
    const o: usize = (<usize>i) << 2;
    const v = load<f32>(x + o);
    store<f32>(y + o, v > 0 ? v : 0);
  }
}

/** gx (+)= y > 0 ? g : 0, with y = relu(x) (y > 0 exactly where x > 0). */
export function reluBwd(y: usize, g: usize, gx: usize, n: i32, acc: i32): void {
  const zero = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o: usize = (<usize>i) << 2;
    const v = f32x4.add(acc !== 0 ? v128.load(gx + o) : zero, v128.and(v128.load(g + o), f32x4.gt(v128.load(y + o), zero)));
    v128.store(gx + o, v);
  }
  for (; i < n; i++) {
    const o: usize = (<usize>i) << 2;
    const v: f32 = load<f32>(y + o) > 0 ? load<f32>(g + o) : 0;
    store<f32>(gx + o, (acc !== 0 ? load<f32>(gx + o) : 0) + v);
  }
}

// ---------------------------------------------------------------------------------------------
// BatchNorm over the batch dimension of x (N, H). variant: 0 = "lecture-std", 1 = "lecture",
// 2 = "torch" (see src/tensor/fused.ts). Statistics and the backward run in float64 exactly as the
// reference does; the normalisation is float32, op for op.

/** acc(2 columns) in f64x2 from the f32 pair at p. */
@inline
function pair(p: usize): v128 {
  return f64x2.promote_low_f32x4(v128.load64_zero(p));
}

/** lane 0 + lane 1 of an f64x2 (a float64 sum's two partial sums, in that order). */
@inline
function sum2(v: v128): f64 {
  return f64x2.extract_lane(v, 0) + f64x2.extract_lane(v, 1);
}

/**
 * xhat = (x - mean) / sigma and y = ((gamma * (x - mean)) / sigma) + beta (v0 = 1: lecture-std)
 * or gamma * xhat + beta, for eight columns over the n rows (x, xhat, y at column c of row 0, the
 * others at column c): the normalisation loop's float32 arithmetic, the columns' statistics and
 * affine parameters in registers. v0 is a constant at each call, so each variant is its own loop.
 */
@inline
function bnNorm8(x: usize, xhat: usize, y: usize, rowB: usize, n: i32, mean: usize, sigma: usize, gamma: usize, beta: usize, v0: i32): void {
  const m0 = v128.load(mean);
  const m1 = v128.load(mean, 16);
  const s0 = v128.load(sigma);
  const s1 = v128.load(sigma, 16);
  const g0 = v128.load(gamma);
  const g1 = v128.load(gamma, 16);
  const b0 = v128.load(beta);
  const b1 = v128.load(beta, 16);
  for (let r = 0; r < n; r++) {
    const c0 = f32x4.sub(v128.load(x), m0);
    const c1 = f32x4.sub(v128.load(x, 16), m1);
    const xh0 = f32x4.div(c0, s0);
    const xh1 = f32x4.div(c1, s1);
    v128.store(xhat, xh0);
    v128.store(xhat, xh1, 16);
    if (v0 !== 0) {
      v128.store(y, f32x4.add(f32x4.div(f32x4.mul(g0, c0), s0), b0));
      v128.store(y, f32x4.add(f32x4.div(f32x4.mul(g1, c1), s1), b1), 16);
    } else {
      v128.store(y, f32x4.add(f32x4.mul(g0, xh0), b0));
      v128.store(y, f32x4.add(f32x4.mul(g1, xh1), b1), 16);
    }
    x += rowB;
    xhat += rowB;
    y += rowB;
  }
}

/**
 * Training-mode forward. Writes mean (H), spread (H: std for lecture-std, the unbiased var
 * otherwise), sigma (H, the divisor used), xhat (N, H) and y (N, H).
 */
export function bnTrainFwd(
  x: usize,
  n: i32,
  h: i32,
  gamma: usize,
  beta: usize,
  variant: i32,
  eps: f64,
  mean: usize,
  spread: usize,
  sigma: usize,
  xhat: usize,
  y: usize,
): void {
  const rowB: usize = (<usize>h) << 2;
  const nf = <f64>n;
  // per column: mean = f32(sum / N); ss = sum (x - mean)^2, both summed over rows in float64.
  // Eight columns at a time first: four independent f64x2 sums in flight instead of one chain
  // of N dependent adds (each column still sums rows 0..N-1 in order: the same bits), then
  // these columns' xhat and y (bnNorm8) while their rows are in L1; the statistics of the
  // remaining columns two and one at a time, their xhat and y after.
  let c = 0;
  for (; c + 8 <= h; c += 8) {
    const o: usize = (<usize>c) << 2;
    let s0 = f64x2.splat(0);
    let s1 = f64x2.splat(0);
    let s2 = f64x2.splat(0);
    let s3 = f64x2.splat(0);
    let p = x + o;
    for (let r = 0; r < n; r++) {
      s0 = f64x2.add(s0, pair(p));
      s1 = f64x2.add(s1, pair8(p));
      s2 = f64x2.add(s2, pair16(p));
      s3 = f64x2.add(s3, pair24(p));
      p += rowB;
    }
    const nv = f64x2.splat(nf);
    const q0 = f32x4.demote_f64x2_zero(f64x2.div(s0, nv));
    const q1 = f32x4.demote_f64x2_zero(f64x2.div(s1, nv));
    const q2 = f32x4.demote_f64x2_zero(f64x2.div(s2, nv));
    const q3 = f32x4.demote_f64x2_zero(f64x2.div(s3, nv));
    v128.store64_lane(mean + o, q0, 0);
    v128.store64_lane(mean + o + 8, q1, 0);
    v128.store64_lane(mean + o + 16, q2, 0);
    v128.store64_lane(mean + o + 24, q3, 0);
    const m0 = f64x2.promote_low_f32x4(q0);
    const m1 = f64x2.promote_low_f32x4(q1);
    const m2 = f64x2.promote_low_f32x4(q2);
    const m3 = f64x2.promote_low_f32x4(q3);
    s0 = f64x2.splat(0);
    s1 = f64x2.splat(0);
    s2 = f64x2.splat(0);
    s3 = f64x2.splat(0);
    p = x + o;
    for (let r = 0; r < n; r++) {
      const d0 = f64x2.sub(pair(p), m0);
      const d1 = f64x2.sub(pair8(p), m1);
      const d2 = f64x2.sub(pair16(p), m2);
      const d3 = f64x2.sub(pair24(p), m3);
      s0 = f64x2.add(s0, f64x2.mul(d0, d0));
      s1 = f64x2.add(s1, f64x2.mul(d1, d1));
      s2 = f64x2.add(s2, f64x2.mul(d2, d2));
      s3 = f64x2.add(s3, f64x2.mul(d3, d3));
      p += rowB;
    }
    bnColumn(f64x2.extract_lane(s0, 0), n, variant, eps, spread + o, sigma + o);
    bnColumn(f64x2.extract_lane(s0, 1), n, variant, eps, spread + o + 4, sigma + o + 4);
    bnColumn(f64x2.extract_lane(s1, 0), n, variant, eps, spread + o + 8, sigma + o + 8);
    bnColumn(f64x2.extract_lane(s1, 1), n, variant, eps, spread + o + 12, sigma + o + 12);
    bnColumn(f64x2.extract_lane(s2, 0), n, variant, eps, spread + o + 16, sigma + o + 16);
    bnColumn(f64x2.extract_lane(s2, 1), n, variant, eps, spread + o + 20, sigma + o + 20);
    bnColumn(f64x2.extract_lane(s3, 0), n, variant, eps, spread + o + 24, sigma + o + 24);
    bnColumn(f64x2.extract_lane(s3, 1), n, variant, eps, spread + o + 28, sigma + o + 28);
    // normalise these eight columns now, their rows still in L1
    if (variant === 0) bnNorm8(x + o, xhat + o, y + o, rowB, n, mean + o, sigma + o, gamma + o, beta + o, 1);
    else bnNorm8(x + o, xhat + o, y + o, rowB, n, mean + o, sigma + o, gamma + o, beta + o, 0);
  }
  const c8 = c;
  for (; c + 2 <= h; c += 2) {
    const o: usize = (<usize>c) << 2;
    let s = f64x2.splat(0);
    let p = x + o;
    for (let r = 0; r < n; r++) {
      s = f64x2.add(s, pair(p));
      p += rowB;
    }
    const m32 = f32x4.demote_f64x2_zero(f64x2.div(s, f64x2.splat(nf)));
    v128.store64_lane(mean + o, m32, 0);
    const m = f64x2.promote_low_f32x4(m32);
    let ss = f64x2.splat(0);
    p = x + o;
    for (let r = 0; r < n; r++) {
      const d = f64x2.sub(pair(p), m);
      ss = f64x2.add(ss, f64x2.mul(d, d));
      p += rowB;
    }
    bnColumn(f64x2.extract_lane(ss, 0), n, variant, eps, spread + o, sigma + o);
    bnColumn(f64x2.extract_lane(ss, 1), n, variant, eps, spread + o + 4, sigma + o + 4);
  }
  for (; c < h; c++) {
    const o: usize = (<usize>c) << 2;
    let s: f64 = 0;
    for (let r = 0; r < n; r++) s += <f64>load<f32>(x + <usize>r * rowB + o);
    const m = <f64>(<f32>(s / nf));
    store<f32>(mean + o, <f32>m);
    let ss: f64 = 0;
    for (let r = 0; r < n; r++) {
      const d = <f64>load<f32>(x + <usize>r * rowB + o) - m;
      ss += d * d;
    }
    bnColumn(ss, n, variant, eps, spread + o, sigma + o);
  }
  // y = ((gamma * centered) / sigma) + beta (lecture-std) or gamma * (centered / sigma) + beta,
  // for the columns after the groups of eight
  for (let r = 0; c8 < h && r < n; r++) {
    const ro: usize = <usize>r * rowB;
    c = c8;
    for (; c + 4 <= h; c += 4) {
      const o: usize = (<usize>c) << 2;
      const sg = v128.load(sigma + o);
      const g = v128.load(gamma + o);
      const centered = f32x4.sub(v128.load(x + ro + o), v128.load(mean + o));
      const xh = f32x4.div(centered, sg);
      v128.store(xhat + ro + o, xh);
      const scaled = variant === 0 ? f32x4.div(f32x4.mul(g, centered), sg) : f32x4.mul(g, xh);
      v128.store(y + ro + o, f32x4.add(scaled, v128.load(beta + o)));
    }
    for (; c < h; c++) {
      const o: usize = (<usize>c) << 2;
      const sg = load<f32>(sigma + o);
      const g = load<f32>(gamma + o);
      const centered: f32 = load<f32>(x + ro + o) - load<f32>(mean + o);
      const xh: f32 = centered / sg;
      store<f32>(xhat + ro + o, xh);
      const scaled: f32 = variant === 0 ? (g * centered) / sg : g * xh;
      store<f32>(y + ro + o, scaled + load<f32>(beta + o));
    }
  }
}

/** spread and sigma of one column from ss = sum (x - mean)^2. */
@inline
function bnColumn(ss: f64, n: i32, variant: i32, eps: f64, spreadP: usize, sigmaP: usize): void {
  const unbiasedVar = ss / <f64>(n - 1);
  if (variant === 0) {
    // hpreact.std(0); with an eps, (hpreact.var(0) + eps).sqrt() in float32 (src/tensor/kernels.ts)
    const sd: f32 = eps == 0 ? <f32>Math.sqrt(unbiasedVar) : <f32>Math.sqrt(<f64>(<f32>(<f64>(<f32>unbiasedVar) + eps)));
    store<f32>(spreadP, sd);
    store<f32>(sigmaP, sd);
  } else {
    store<f32>(spreadP, <f32>unbiasedVar);
    const v: f32 = variant === 2 ? <f32>(ss / <f64>n) : <f32>unbiasedVar;
    store<f32>(sigmaP, <f32>Math.sqrt(<f64>(<f32>(<f64>v + eps))));
  }
}

/**
 * pair(p + 8), pair(p + 16), pair(p + 24) with the offset in the load's immediate: V8 folds it
 * into the address, where p + 8 as an i32.add costs an instruction of its own per load.
 */
@inline
function pair8(p: usize): v128 {
  return f64x2.promote_low_f32x4(v128.load64_zero(p, 8));
}
@inline
function pair16(p: usize): v128 {
  return f64x2.promote_low_f32x4(v128.load64_zero(p, 16));
}
@inline
function pair24(p: usize): v128 {
  return f64x2.promote_low_f32x4(v128.load64_zero(p, 24));
}

/**
 * dx (+)= (g * gamma - mG - xhat * mX) / sigma (0 where sigma = 0) for four columns (two f64x2
 * pairs) over the n rows, acc = accX folded to a constant by the caller: the dx loop's
 * arithmetic, with the columns' gamma, sums, sigma and sigma = 0 mask in registers instead of
 * loaded and promoted again for every row. g, xhat and dx point at the first column.
 */
@inline
function bnDx4(
  g: usize,
  xhat: usize,
  dx: usize,
  rowB: usize,
  n: i32,
  acc: i32,
  gs0: v128,
  gs1: v128,
  mG0: v128,
  mG1: v128,
  mX0: v128,
  mX1: v128,
  sg0: v128,
  sg1: v128,
): void {
  const z0 = f64x2.eq(sg0, f64x2.splat(0));
  const z1 = f64x2.eq(sg1, f64x2.splat(0));
  for (let r = 0; r < n; r++) {
    const t0 = f64x2.sub(f64x2.sub(f64x2.mul(pair(g), gs0), mG0), f64x2.mul(pair(xhat), mX0));
    const t1 = f64x2.sub(f64x2.sub(f64x2.mul(pair8(g), gs1), mG1), f64x2.mul(pair8(xhat), mX1));
    // 0 + v when not accumulating, as the pair loop adds it (-0 becomes +0)
    const v0 = f64x2.add(acc !== 0 ? pair(dx) : f64x2.splat(0), v128.andnot(f64x2.div(t0, sg0), z0));
    const v1 = f64x2.add(acc !== 0 ? pair8(dx) : f64x2.splat(0), v128.andnot(f64x2.div(t1, sg1), z1));
    v128.store64_lane(dx, f32x4.demote_f64x2_zero(v0), 0);
    v128.store64_lane(dx, f32x4.demote_f64x2_zero(v1), 0, 8);
    g += rowB;
    xhat += rowB;
    dx += rowB;
  }
}

/**
 * bnTrainBwd for the eight columns c..c+7 (every pointer at column c, row 0 for g, xhat and dx),
 * the pair loop's arithmetic in three passes over these columns' rows while they stay in L1:
 * dgamma and dbeta (four f32-rounded chains, two f32x4), then sum(g gamma) and
 * sum(g gamma xhat) (four chains each), then dx four columns at a time. Each pass's running
 * values fit in registers (one pass with all of them spilled every row); each column still adds
 * rows 0..N-1 in order, every element's arithmetic is the pair loop's: the same bits.
 */
@inline
function bnBwd8(
  g: usize,
  xhat: usize,
  dx: usize,
  sigma: usize,
  gamma: usize,
  dgamma: usize,
  dbeta: usize,
  n: i32,
  h: i32,
  d: i32,
  accX: i32,
): void {
  const rowB: usize = (<usize>h) << 2;
  // dgamma: f32(dgamma + g * xhat) with the product exact in float64, like `gg[c] += g * xhat`
  let dg0 = pair(dgamma);
  let dg1 = pair8(dgamma);
  let dg2 = pair16(dgamma);
  let dg3 = pair24(dgamma);
  let db0 = v128.load(dbeta);
  let db1 = v128.load(dbeta, 16);
  let pg = g;
  let px = xhat;
  for (let r = 0; r < n; r++) {
    dg0 = f64x2.promote_low_f32x4(f32x4.demote_f64x2_zero(f64x2.add(dg0, f64x2.mul(pair(pg), pair(px)))));
    dg1 = f64x2.promote_low_f32x4(f32x4.demote_f64x2_zero(f64x2.add(dg1, f64x2.mul(pair8(pg), pair8(px)))));
    dg2 = f64x2.promote_low_f32x4(f32x4.demote_f64x2_zero(f64x2.add(dg2, f64x2.mul(pair16(pg), pair16(px)))));
    dg3 = f64x2.promote_low_f32x4(f32x4.demote_f64x2_zero(f64x2.add(dg3, f64x2.mul(pair24(pg), pair24(px)))));
    db0 = f32x4.add(db0, v128.load(pg));
    db1 = f32x4.add(db1, v128.load(pg, 16));
    pg += rowB;
    px += rowB;
  }
  v128.store64_lane(dgamma, f32x4.demote_f64x2_zero(dg0), 0);
  v128.store64_lane(dgamma, f32x4.demote_f64x2_zero(dg1), 0, 8);
  v128.store64_lane(dgamma, f32x4.demote_f64x2_zero(dg2), 0, 16);
  v128.store64_lane(dgamma, f32x4.demote_f64x2_zero(dg3), 0, 24);
  v128.store(dbeta, db0);
  v128.store(dbeta, db1, 16);
  const gs0 = pair(gamma);
  const gs1 = pair8(gamma);
  const gs2 = pair16(gamma);
  const gs3 = pair24(gamma);
  let sg0 = f64x2.splat(0);
  let sg1 = f64x2.splat(0);
  let sg2 = f64x2.splat(0);
  let sg3 = f64x2.splat(0);
  let sx0 = f64x2.splat(0);
  let sx1 = f64x2.splat(0);
  let sx2 = f64x2.splat(0);
  let sx3 = f64x2.splat(0);
  pg = g;
  px = xhat;
  for (let r = 0; r < n; r++) {
    const h0 = f64x2.mul(pair(pg), gs0);
    const h1 = f64x2.mul(pair8(pg), gs1);
    const h2 = f64x2.mul(pair16(pg), gs2);
    const h3 = f64x2.mul(pair24(pg), gs3);
    sg0 = f64x2.add(sg0, h0);
    sg1 = f64x2.add(sg1, h1);
    sg2 = f64x2.add(sg2, h2);
    sg3 = f64x2.add(sg3, h3);
    sx0 = f64x2.add(sx0, f64x2.mul(h0, pair(px)));
    sx1 = f64x2.add(sx1, f64x2.mul(h1, pair8(px)));
    sx2 = f64x2.add(sx2, f64x2.mul(h2, pair16(px)));
    sx3 = f64x2.add(sx3, f64x2.mul(h3, pair24(px)));
    pg += rowB;
    px += rowB;
  }
  const nv = f64x2.splat(<f64>n);
  const dv = f64x2.splat(<f64>d);
  const mG0 = f64x2.div(sg0, nv);
  const mG1 = f64x2.div(sg1, nv);
  const mG2 = f64x2.div(sg2, nv);
  const mG3 = f64x2.div(sg3, nv);
  const mX0 = f64x2.div(sx0, dv);
  const mX1 = f64x2.div(sx1, dv);
  const mX2 = f64x2.div(sx2, dv);
  const mX3 = f64x2.div(sx3, dv);
  if (accX !== 0) {
    bnDx4(g, xhat, dx, rowB, n, 1, gs0, gs1, mG0, mG1, mX0, mX1, pair(sigma), pair8(sigma));
    bnDx4(g + 16, xhat + 16, dx + 16, rowB, n, 1, gs2, gs3, mG2, mG3, mX2, mX3, pair16(sigma), pair24(sigma));
  } else {
    bnDx4(g, xhat, dx, rowB, n, 0, gs0, gs1, mG0, mG1, mX0, mX1, pair(sigma), pair8(sigma));
    bnDx4(g + 16, xhat + 16, dx + 16, rowB, n, 0, gs2, gs3, mG2, mG3, mX2, mX3, pair16(sigma), pair24(sigma));
  }
}

/**
 * Training-mode backward, with D = N - 1 (lecture variants) or N (torch) and gx = g * gamma:
 *   dbeta += sum g ; dgamma += sum g * xhat ;
 *   dx (+)= (gx - sum(gx) / N - xhat * sum(gx * xhat) / D) / sigma   (0 where sigma = 0)
 * dgamma/dbeta accumulate into their float32 buffers row by row, dx is computed in float64.
 * sums: scratch of 32 * H bytes (two float64 per column).
 */
export function bnTrainBwd(
  g: usize,
  xhat: usize,
  sigma: usize,
  gamma: usize,
  n: i32,
  h: i32,
  d: i32,
  dgamma: usize,
  dbeta: usize,
  dx: usize,
  accX: i32,
  sums: usize,
): void {
  const rowB: usize = (<usize>h) << 2;
  const sumG = sums;
  const sumGX = sums + ((<usize>h) << 3);
  // eight columns at a time first, sums and dx (bnBwd8: four independent chains per sum instead
  // of one; each column still adds rows 0..N-1 in order: the same bits); then the remaining
  // columns' sums two per f64x2 and one by one (into the sums scratch), and their dx
  let c = 0;
  for (; c + 8 <= h; c += 8) {
    const o: usize = (<usize>c) << 2;
    bnBwd8(g + o, xhat + o, dx + o, sigma + o, gamma + o, dgamma + o, dbeta + o, n, h, d, accX);
  }
  const c8 = c;
  for (; c + 2 <= h; c += 2) {
    const o: usize = (<usize>c) << 2;
    const gs = pair(gamma + o);
    let dg = pair(dgamma + o);
    let db = v128.load64_zero(dbeta + o);
    let sg = f64x2.splat(0);
    let sgx = f64x2.splat(0);
    let pg = g + o;
    let px = xhat + o;
    for (let r = 0; r < n; r++) {
      const gv32 = v128.load64_zero(pg);
      const gv = f64x2.promote_low_f32x4(gv32);
      const xv = pair(px);
      // dgamma: f32(dgamma + g * xhat) with the product exact in float64, like `gg[c] += g * xhat`
      dg = f64x2.promote_low_f32x4(f32x4.demote_f64x2_zero(f64x2.add(dg, f64x2.mul(gv, xv))));
      db = f32x4.add(db, gv32);
      const gh = f64x2.mul(gv, gs);
      sg = f64x2.add(sg, gh);
      sgx = f64x2.add(sgx, f64x2.mul(gh, xv));
      pg += rowB;
      px += rowB;
    }
    v128.store64_lane(dgamma + o, f32x4.demote_f64x2_zero(dg), 0);
    v128.store64_lane(dbeta + o, db, 0);
    v128.store(sumG + ((<usize>c) << 3), f64x2.div(sg, f64x2.splat(<f64>n)));
    v128.store(sumGX + ((<usize>c) << 3), f64x2.div(sgx, f64x2.splat(<f64>d)));
  }
  for (; c < h; c++) {
    const o: usize = (<usize>c) << 2;
    const gs = <f64>load<f32>(gamma + o);
    let dg = load<f32>(dgamma + o);
    let db = load<f32>(dbeta + o);
    let sg: f64 = 0;
    let sgx: f64 = 0;
    for (let r = 0; r < n; r++) {
      const gv32 = load<f32>(g + <usize>r * rowB + o);
      const gv = <f64>gv32;
      const xv = <f64>load<f32>(xhat + <usize>r * rowB + o);
      dg = <f32>(<f64>dg + gv * xv);
      db = db + gv32;
      const gh = gv * gs;
      sg += gh;
      sgx += gh * xv;
    }
    store<f32>(dgamma + o, dg);
    store<f32>(dbeta + o, db);
    store<f64>(sumG + ((<usize>c) << 3), sg / <f64>n);
    store<f64>(sumGX + ((<usize>c) << 3), sgx / <f64>d);
  }
  // dx of the columns after the groups of eight
  for (let r = 0; c8 < h && r < n; r++) {
    const ro: usize = <usize>r * rowB;
    c = c8;
    for (; c + 2 <= h; c += 2) {
      const o: usize = (<usize>c) << 2;
      const sgm = pair(sigma + o);
      const gh = f64x2.mul(pair(g + ro + o), pair(gamma + o));
      const t = f64x2.sub(
        f64x2.sub(gh, v128.load(sumG + ((<usize>c) << 3))),
        f64x2.mul(pair(xhat + ro + o), v128.load(sumGX + ((<usize>c) << 3))),
      );
      // sigma = 0 (a constant column without eps): no gradient, as the reference skips it
      const v = f64x2.add(
        accX !== 0 ? pair(dx + ro + o) : f64x2.splat(0),
        v128.andnot(f64x2.div(t, sgm), f64x2.eq(sgm, f64x2.splat(0))),
      );
      v128.store64_lane(dx + ro + o, f32x4.demote_f64x2_zero(v), 0);
    }
    for (; c < h; c++) {
      const o: usize = (<usize>c) << 2;
      const sgm = <f64>load<f32>(sigma + o);
      let v: f64 = 0;
      if (sgm !== 0) {
        const gh = <f64>load<f32>(g + ro + o) * <f64>load<f32>(gamma + o);
        v = (gh - load<f64>(sumG + ((<usize>c) << 3)) - <f64>load<f32>(xhat + ro + o) * load<f64>(sumGX + ((<usize>c) << 3))) / sgm;
      }
      store<f32>(dx + ro + o, <f32>((accX !== 0 ? <f64>load<f32>(dx + ro + o) : 0) + v));
    }
  }
}

/**
 * The running buffers after a training batch, in float32 as the lecture writes them:
 * running = (1 - m) * running + m * batch, each product rounded, then the sum (k = f32(1 - m),
 * m = f32(momentum)): rm = k rm + m mean, rv = k rv + m spread over h columns. The float32
 * products and sum are IEEE's, so they equal the plain loop's Math.fround of each (fused.ts).
 */
export function bnRunning(rm: usize, rv: usize, mean: usize, spread: usize, h: i32, m: f32, k: f32): void {
  const mv = f32x4.splat(m);
  const kv = f32x4.splat(k);
  let c = 0;
  for (; c + 4 <= h; c += 4) {
    const o: usize = (<usize>c) << 2;
    v128.store(rm + o, f32x4.add(f32x4.mul(kv, v128.load(rm + o)), f32x4.mul(mv, v128.load(mean + o))));
    v128.store(rv + o, f32x4.add(f32x4.mul(kv, v128.load(rv + o)), f32x4.mul(mv, v128.load(spread + o))));
  }
  for (; c < h; c++) {
    const o: usize = (<usize>c) << 2;
    store<f32>(rm + o, k * load<f32>(rm + o) + m * load<f32>(mean + o));
    store<f32>(rv + o, k * load<f32>(rv + o) + m * load<f32>(spread + o));
  }
}

/**
 * Eval-mode forward with fixed statistics (sigma precomputed by the caller):
 * lecture-std: ((gamma * (x - mean)) / sigma) + beta ; otherwise gamma * ((x - mean) / sigma) + beta.
 */
export function bnEval(
  x: usize,
  n: i32,
  h: i32,
  gamma: usize,
  beta: usize,
  mean: usize,
  sigma: usize,
  variant: i32,
  y: usize,
): void {
  const rowB: usize = (<usize>h) << 2;
  for (let r = 0; r < n; r++) {
    const ro: usize = <usize>r * rowB;
    let c = 0;
    for (; c + 4 <= h; c += 4) {
      const o: usize = (<usize>c) << 2;
      const sg = v128.load(sigma + o);
      const g = v128.load(gamma + o);
      const centered = f32x4.sub(v128.load(x + ro + o), v128.load(mean + o));
      const scaled = variant === 0 ? f32x4.div(f32x4.mul(g, centered), sg) : f32x4.mul(g, f32x4.div(centered, sg));
      v128.store(y + ro + o, f32x4.add(scaled, v128.load(beta + o)));
    }
    for (; c < h; c++) {
      const o: usize = (<usize>c) << 2;
      const sg = load<f32>(sigma + o);
      const g = load<f32>(gamma + o);
      const centered: f32 = load<f32>(x + ro + o) - load<f32>(mean + o);
      const scaled: f32 = variant === 0 ? (g * centered) / sg : g * (centered / sg);
      store<f32>(y + ro + o, scaled + load<f32>(beta + o));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Cross-entropy over logits (B, V) and int32 targets (B,)

/**
 * Sum over rows of logsumexp(x_b) - x_b[t_b] (float64), and, when probs != 0, the softmax rows
 * (B, V) for the backward. Per row: the max, e = exp(x - max) in float32 lanes (lanes past V
 * masked to 0), s = sum e (float32 lanes, then float64), loss = ln s + max - x[t].
 */
export function ceFwd(logits: usize, targets: usize, b: i32, v: i32, probs: usize): f64 {
  const rowB: usize = (<usize>v) << 2;
  const full = v & ~3;
  const rem = v - full;
  // lanes 0..rem-1 of the last partial vector are live
  const live = i32x4.lt_s(i32x4.replace_lane(i32x4.replace_lane(i32x4.replace_lane(i32x4.splat(0), 1, 1), 2, 2), 3, 3), i32x4.splat(rem));
  let total: f64 = 0;
  let r = 0;
  // two rows at a time, phase by phase: each row's chain (max, exp and sum, log, divide) is long
  // and serial, two side by side keep the units busy. Each row's ops and order are the one-row
  // loop's, and the losses are added in row order: the same bits.
  for (; r + 2 <= b; r += 2) {
    const x0 = logits + <usize>r * rowB;
    const x1 = x0 + rowB;
    const p0 = probs !== 0 ? probs + <usize>r * rowB : 0;
    const p1 = probs !== 0 ? p0 + rowB : 0;
    const m0 = ceMax(x0, full, rem, live);
    const m1 = ceMax(x1, full, rem, live);
    const s0 = ceExpSum(x0, m0, full, rem, live, p0);
    const s1 = ceExpSum(x1, m1, full, rem, live, p1);
    const t0 = load<i32>(targets + ((<usize>r) << 2));
    const t1 = load<i32>(targets + ((<usize>(r + 1)) << 2));
    const l0 = Math.log(s0) + <f64>m0 - <f64>load<f32>(x0 + ((<usize>t0) << 2));
    const l1 = Math.log(s1) + <f64>m1 - <f64>load<f32>(x1 + ((<usize>t1) << 2));
    total += l0;
    total += l1;
    if (probs !== 0) {
      ceDivide(p0, s0, v, full);
      ceDivide(p1, s1, v, full);
    }
  }
  for (; r < b; r++) {
    const x = logits + <usize>r * rowB;
    const pr = probs !== 0 ? probs + <usize>r * rowB : 0;
    const mx = ceMax(x, full, rem, live);
    const s = ceExpSum(x, mx, full, rem, live, pr);
    const t = load<i32>(targets + ((<usize>r) << 2));
    total += Math.log(s) + <f64>mx - <f64>load<f32>(x + ((<usize>t) << 2));
    if (probs !== 0) ceDivide(pr, s, v, full);
  }
  return total;
}

/** The max of a row of v = full + rem logits (the partial vector's dead lanes masked to -inf). */
@inline
function ceMax(x: usize, full: i32, rem: i32, live: v128): f32 {
  const ninf = f32x4.splat(-Infinity);
  let mv = ninf;
  let j = 0;
  for (; j < full; j += 4) mv = f32x4.max(mv, v128.load(x + ((<usize>j) << 2)));
  if (rem > 0) mv = f32x4.max(mv, v128.bitselect(v128.load(x + ((<usize>full) << 2)), ninf, live));
  mv = f32x4.max(mv, v128.shuffle<f32>(mv, mv, 2, 3, 0, 1));
  mv = f32x4.max(mv, v128.shuffle<f32>(mv, mv, 1, 0, 3, 2));
  return f32x4.extract_lane(mv, 0);
}

/**
 * e = exp(x - max) in float32 lanes (dead lanes 0), stored to pr when pr != 0, and s = sum e:
 * float32 lanes, then their four sums in float64 (lane 0 + 1 + 2 + 3).
 */
@inline
function ceExpSum(x: usize, mx: f32, full: i32, rem: i32, live: v128, pr: usize): f64 {
  const mxv = f32x4.splat(mx);
  let sv = f32x4.splat(0);
  let j = 0;
  for (; j < full; j += 4) {
    const o: usize = (<usize>j) << 2;
    const e = expv(f32x4.pmax(f32x4.sub(v128.load(x + o), mxv), f32x4.splat(-87.3365448)));
    sv = f32x4.add(sv, e);
    if (pr !== 0) v128.store(pr + o, e);
  }
  if (rem > 0) {
    const o: usize = (<usize>full) << 2;
    const e = v128.and(expv(f32x4.pmax(f32x4.sub(v128.load(x + o), mxv), f32x4.splat(-87.3365448))), live);
    sv = f32x4.add(sv, e);
    if (pr !== 0) {
      for (let l = 0; l < rem; l++) store<f32>(pr + o + ((<usize>l) << 2), lane(e, l));
    }
  }
  return <f64>f32x4.extract_lane(sv, 0) + <f64>f32x4.extract_lane(sv, 1) + <f64>f32x4.extract_lane(sv, 2) + <f64>f32x4.extract_lane(sv, 3);
}

/** The softmax row: pr[j] = e_j / f32(s), float32 divisions. */
@inline
function ceDivide(pr: usize, s: f64, v: i32, full: i32): void {
  const inv = f32x4.splat(<f32>s);
  let j = 0;
  for (; j < full; j += 4) {
    const o: usize = (<usize>j) << 2;
    v128.store(pr + o, f32x4.div(v128.load(pr + o), inv));
  }
  for (; j < v; j++) {
    const o: usize = (<usize>j) << 2;
    store<f32>(pr + o, load<f32>(pr + o) / <f32>s);
  }
}

@inline
function lane(e: v128, l: i32): f32 {
  return l === 0 ? f32x4.extract_lane(e, 0) : l === 1 ? f32x4.extract_lane(e, 1) : f32x4.extract_lane(e, 2);
}

/**
 * dlogits (+)= (probs - onehot(t)) * k, k = upstream / B: the cross-entropy backward, in float64
 * like the reference (`d += p * k`, then `d[t] -= k`, each rounded to float32 once).
 */
export function ceBwd(probs: usize, targets: usize, b: i32, v: i32, k: f64, dlogits: usize, acc: i32): void {
  const n = b * v;
  const kv = f64x2.splat(k);
  let i = 0;
  for (; i + 2 <= n; i += 2) {
    const o: usize = (<usize>i) << 2;
    let x = f64x2.mul(pair(probs + o), kv);
    if (acc !== 0) x = f64x2.add(pair(dlogits + o), x);
    v128.store64_lane(dlogits + o, f32x4.demote_f64x2_zero(x), 0);
  }
  for (; i < n; i++) {
    const o: usize = (<usize>i) << 2;
    let x: f64 = <f64>load<f32>(probs + o) * k;
    if (acc !== 0) x = <f64>load<f32>(dlogits + o) + x;
    store<f32>(dlogits + o, <f32>x);
  }
  for (let r = 0; r < b; r++) {
    const p: usize = dlogits + ((<usize>(r * v + load<i32>(targets + ((<usize>r) << 2)))) << 2);
    store<f32>(p, <f32>(<f64>load<f32>(p) - k));
  }
}

// ---------------------------------------------------------------------------------------------
// Embedding, SGD

/** out[r, :] = table[ix[r], :] for r < rows (e floats per row; indices already checked). */
export function gather(table: usize, e: i32, ix: usize, rows: i32, out: usize): void {
  const eB: usize = (<usize>e) << 2;
  for (let r = 0; r < rows; r++) {
    const src: usize = table + <usize>load<i32>(ix + ((<usize>r) << 2)) * eB;
    const dst: usize = out + <usize>r * eB;
    let j: usize = 0;
    for (; j + 16 <= eB; j += 16) v128.store(dst + j, v128.load(src + j));
    for (; j < eB; j += 4) store<f32>(dst + j, load<f32>(src + j));
  }
}

/**
 * out[r, :] = tables[0][ix[r, 0], :] + ... + tables[T-1][ix[r, T-1], :] (+ bias), each table (v, o)
 * and stored one after the other: the embedding lookup and the first Linear in one pass, from
 * tables P_t = C @ W[t*E:(t+1)*E, :] (see EvalChain). Adds left to right in float32.
 */
export function gatherSum(tables: usize, v: i32, o: i32, t: i32, ix: usize, rows: i32, bias: usize, out: usize): void {
  const oB: usize = (<usize>o) << 2;
  const tableB: usize = <usize>v * oB;
  for (let r = 0; r < rows; r++) {
    const dst: usize = out + <usize>r * oB;
    const xr: usize = ix + ((<usize>(r * t)) << 2);
    const s0: usize = tables + <usize>load<i32>(xr) * oB;
    let j: usize = 0;
    if (t === 3) {
      // the lecture's block size: three row pointers, one pass
      const s1: usize = tables + tableB + <usize>load<i32>(xr, 4) * oB;
      const s2: usize = tables + 2 * tableB + <usize>load<i32>(xr, 8) * oB;
      for (; j + 16 <= oB; j += 16) {
        let acc = f32x4.add(f32x4.add(v128.load(s0 + j), v128.load(s1 + j)), v128.load(s2 + j));
        if (bias !== 0) acc = f32x4.add(acc, v128.load(bias + j));
        v128.store(dst + j, acc);
      }
    }
    for (; j + 16 <= oB; j += 16) {
      let acc = v128.load(s0 + j);
      for (let k = 1; k < t; k++) {
        acc = f32x4.add(acc, v128.load(tables + <usize>k * tableB + <usize>load<i32>(xr + ((<usize>k) << 2)) * oB + j));
      }
      if (bias !== 0) acc = f32x4.add(acc, v128.load(bias + j));
      v128.store(dst + j, acc);
    }
    for (; j < oB; j += 4) {
      let acc = load<f32>(s0 + j);
      for (let k = 1; k < t; k++) {
        acc += load<f32>(tables + <usize>k * tableB + <usize>load<i32>(xr + ((<usize>k) << 2)) * oB + j);
      }
      if (bias !== 0) acc += load<f32>(bias + j);
      store<f32>(dst + j, acc);
    }
  }
}

/** dtable[ix[r], :] += g[r, :] in row order: the embedding backward (repeated rows accumulate). */
export function scatterAdd(dtable: usize, e: i32, ix: usize, rows: i32, g: usize): void {
  const eB: usize = (<usize>e) << 2;
  for (let r = 0; r < rows; r++) {
    const dst: usize = dtable + <usize>load<i32>(ix + ((<usize>r) << 2)) * eB;
    const src: usize = g + <usize>r * eB;
    let j: usize = 0;
    for (; j + 16 <= eB; j += 16) v128.store(dst + j, f32x4.add(v128.load(dst + j), v128.load(src + j)));
    for (; j < eB; j += 4) store<f32>(dst + j, load<f32>(dst + j) + load<f32>(src + j));
  }
}

/** w += f32(k * g) over n floats: `p.data += -lr * p.grad` with k = -lr rounded to float32. */
export function sgd(w: usize, g: usize, n: i32, k: f32): void {
  const kv = f32x4.splat(k);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o: usize = (<usize>i) << 2;
    v128.store(w + o, f32x4.add(v128.load(w + o), f32x4.mul(kv, v128.load(g + o))));
  }
  for (; i < n; i++) {
    const o: usize = (<usize>i) << 2;
    store<f32>(w + o, load<f32>(w + o) + k * load<f32>(g + o));
  }
}

// ---------------------------------------------------------------------------------------------
// moments: [sum w, sum w^2, sum g, sum g^2] over n floats of w and g, in float64 (the per-step
// update:data ratio of src/diagnostics/measure.ts). Each f32x4 is promoted to two f64x2; two sets
// of f64x2 accumulators per sum break the add chains. The sums land in module globals that
// `momentsOut(i)` reads back, so the kernel needs no output buffer in the caller's memory. Differs
// from its twin only in float64 rounding order.

let mOut0: f64 = 0;
let mOut1: f64 = 0;
let mOut2: f64 = 0;
let mOut3: f64 = 0;

export function moments(w: usize, g: usize, n: i32): void {
  let sw0 = f64x2.splat(0);
  let sw1 = f64x2.splat(0);
  let sww0 = f64x2.splat(0);
  let sww1 = f64x2.splat(0);
  let sg0 = f64x2.splat(0);
  let sg1 = f64x2.splat(0);
  let sgg0 = f64x2.splat(0);
  let sgg1 = f64x2.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o: usize = (<usize>i) << 2;
    const wv = v128.load(w + o);
    const gv = v128.load(g + o);
    const wlo = f64x2.promote_low_f32x4(wv);
    const whi = f64x2.promote_low_f32x4(v128.shuffle<i32>(wv, wv, 2, 3, 0, 1));
    const glo = f64x2.promote_low_f32x4(gv);
    const ghi = f64x2.promote_low_f32x4(v128.shuffle<i32>(gv, gv, 2, 3, 0, 1));
    sw0 = f64x2.add(sw0, wlo);
    sw1 = f64x2.add(sw1, whi);
    sww0 = f64x2.add(sww0, f64x2.mul(wlo, wlo));
    sww1 = f64x2.add(sww1, f64x2.mul(whi, whi));
    sg0 = f64x2.add(sg0, glo);
    sg1 = f64x2.add(sg1, ghi);
    sgg0 = f64x2.add(sgg0, f64x2.mul(glo, glo));
    sgg1 = f64x2.add(sgg1, f64x2.mul(ghi, ghi));
  }
  const sw = f64x2.add(sw0, sw1);
  const sww = f64x2.add(sww0, sww1);
  const sg = f64x2.add(sg0, sg1);
  const sgg = f64x2.add(sgg0, sgg1);
  let a: f64 = sum2(sw);
  let b: f64 = sum2(sww);
  let c: f64 = sum2(sg);
  let d: f64 = sum2(sgg);
  for (; i < n; i++) {
    const o: usize = (<usize>i) << 2;
    const x = <f64>load<f32>(w + o);
    const y = <f64>load<f32>(g + o);
    a += x;
    b += x * x;
    c += y;
    d += y * y;
  }
  mOut0 = a;
  mOut1 = b;
  mOut2 = c;
  mOut3 = d;
}

/** Sum i (0..3) of the last `moments` call. */
export function momentsOut(i: i32): f64 {
  return i == 0 ? mOut0 : i == 1 ? mOut1 : i == 2 ? mOut2 : mOut3;
}

// ---------------------------------------------------------------------------------------------
// Kernels for the general engine (src/tensor/engine.ts): elementwise ops, row softmax, LayerNorm,
// AdamW. Each has a TypeScript twin in src/tensor/kernels.ts (`arenaReference`); the comment says
// whether the twin's bits are reproduced exactly or within a stated tolerance. n counts floats;
// x, y may be the same buffer for the elementwise ops (in place).

/** y = a + b (n floats). Exact. */
export function add(a: usize, b: usize, y: usize, n: i32): void {
  const end: usize = (<usize>n) << 2;
  let o: usize = 0;
  for (; o + 16 <= end; o += 16) v128.store(y + o, f32x4.add(v128.load(a + o), v128.load(b + o)));
  for (; o < end; o += 4) store<f32>(y + o, load<f32>(a + o) + load<f32>(b + o));
}

/** y = a * b (n floats). Exact. */
export function mul(a: usize, b: usize, y: usize, n: i32): void {
  const end: usize = (<usize>n) << 2;
  let o: usize = 0;
  for (; o + 16 <= end; o += 16) v128.store(y + o, f32x4.mul(v128.load(a + o), v128.load(b + o)));
  for (; o < end; o += 4) store<f32>(y + o, load<f32>(a + o) * load<f32>(b + o));
}

/**
 * Row-vector broadcast: y(rows, cols) = x op v(cols), op 0 = add (bias-add), 1 = mul (a gain).
 * Exact.
 */
export function rowOp(x: usize, v: usize, y: usize, rows: i32, cols: i32, op: i32): void {
  const rowB: usize = (<usize>cols) << 2;
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>r * rowB;
    const yr = y + <usize>r * rowB;
    let o: usize = 0;
    if (op === 0) {
      for (; o + 16 <= rowB; o += 16) v128.store(yr + o, f32x4.add(v128.load(xr + o), v128.load(v + o)));
      for (; o < rowB; o += 4) store<f32>(yr + o, load<f32>(xr + o) + load<f32>(v + o));
    } else {
      for (; o + 16 <= rowB; o += 16) v128.store(yr + o, f32x4.mul(v128.load(xr + o), v128.load(v + o)));
      for (; o < rowB; o += 4) store<f32>(yr + o, load<f32>(xr + o) * load<f32>(v + o));
    }
  }
}

/** y = s * x (float32 s). Exact. */
export function scale(x: usize, s: f32, y: usize, n: i32): void {
  const sv = f32x4.splat(s);
  const end: usize = (<usize>n) << 2;
  let o: usize = 0;
  for (; o + 16 <= end; o += 16) v128.store(y + o, f32x4.mul(v128.load(x + o), sv));
  for (; o < end; o += 4) store<f32>(y + o, load<f32>(x + o) * s);
}

/** y += s * x (float32, the product rounded first): gradient accumulation. Exact. */
export function axpy(y: usize, x: usize, s: f32, n: i32): void {
  const sv = f32x4.splat(s);
  const end: usize = (<usize>n) << 2;
  let o: usize = 0;
  for (; o + 16 <= end; o += 16) v128.store(y + o, f32x4.add(v128.load(y + o), f32x4.mul(v128.load(x + o), sv)));
  for (; o < end; o += 4) store<f32>(y + o, load<f32>(y + o) + load<f32>(x + o) * s);
}

/**
 * e^x in float32 lanes over the whole range of expf: expv's reduction and polynomial, with 2^n
 * applied as two factors 2^(n>>1) * 2^(n - (n>>1)) so that n from -150 to 128 stays exact (a
 * subnormal result is rounded once, by the last multiply). Past 88.72283 +Inf, below -103.97 0,
 * NaN stays NaN. At most 1 ulp from the correctly rounded value.
 */
@inline
function expFull(x: v128): v128 {
  const xc = f32x4.pmax(f32x4.pmin(x, f32x4.splat(88.72283935546875)), f32x4.splat(-103.972084045410));
  const t = expShifted(xc);
  const y = expReduced(xc, t);
  const n = i32x4.sub(t, i32x4.splat(0x4b400000)); // the integer n
  const n1 = i32x4.shr_s(n, 1);
  const n2 = i32x4.sub(n, n1);
  const p1 = i32x4.shl(i32x4.add(n1, i32x4.splat(127)), 23);
  const p2 = i32x4.shl(i32x4.add(n2, i32x4.splat(127)), 23);
  let e = f32x4.mul(f32x4.mul(y, p1), p2);
  e = v128.bitselect(f32x4.splat(Infinity), e, f32x4.gt(x, f32x4.splat(88.72283935546875)));
  e = v128.andnot(e, f32x4.lt(x, f32x4.splat(-103.972084045410)));
  return v128.bitselect(x, e, f32x4.ne(x, x));
}

/**
 * y = e^x (n floats), within 1 ulp of the correctly rounded value (subnormal results: within
 * 1 ulp of the subnormal grid).
 */
export function expFwd(x: usize, y: usize, n: i32): void {
  const end: usize = (<usize>n) << 2;
  let o: usize = 0;
  for (; o + 16 <= end; o += 16) v128.store(y + o, expFull(v128.load(x + o)));
  for (; o < end; o += 4) store<f32>(y + o, f32x4.extract_lane(expFull(f32x4.splat(load<f32>(x + o))), 0));
}

// GELU, tanh form (makemore.py's NewGELU): y = 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3),
// computed as y = x s with s = 0.5 (1 + tanh(u)) = 1 / (1 + e^(-2u)) (tfops, issue 12): one exp and
// one division, none of tanh's two branches, and no cancellation in 1 + tanh(u) near -1.
const GELU_K: f32 = 0.7978845608028654;
const GELU_C: f32 = 0.044715;

@inline
function geluU(x: v128): v128 {
  return f32x4.mul(f32x4.splat(GELU_K), f32x4.add(x, f32x4.mul(f32x4.splat(GELU_C), f32x4.mul(x, f32x4.mul(x, x)))));
}

/**
 * s = 1 / (1 + e^(-2u)) = 0.5 (1 + tanh(u)), u = geluU(x): u clamped to [-9, 9] (e^(-2u) within
 * expv's range, never subnormal), and s = 0 for u < -9 as float32 tanh(u) = -1 gives (e^(-18) is
 * below 1/2 ulp of 1, so s = 1 exactly for u > 9 already). NaN stays NaN. Within 3 ulp of s(u).
 */
@inline
function geluS(x: v128): v128 {
  const u = geluU(x);
  const uc = f32x4.pmax(f32x4.pmin(u, f32x4.splat(9)), f32x4.splat(-9));
  const e = expv(f32x4.mul(uc, f32x4.splat(-2)));
  const s = f32x4.div(f32x4.splat(1), f32x4.add(f32x4.splat(1), e));
  return v128.andnot(s, f32x4.lt(u, f32x4.splat(-9)));
}

/** gelu'(x) = s + 2 x s (1 - s) sqrt(2/pi) (1 + 3 * 0.044715 x^2), s = 0.5 (1 + tanh(u)). */
@inline
function geluDeriv(x: v128, s: v128): v128 {
  const one = f32x4.splat(1);
  const du = f32x4.mul(f32x4.splat(GELU_K), f32x4.add(one, f32x4.mul(f32x4.splat(3 * GELU_C), f32x4.mul(x, x))));
  return f32x4.add(s, f32x4.mul(f32x4.mul(f32x4.add(x, x), f32x4.mul(s, f32x4.sub(one, s))), du));
}

/**
 * y = gelu(x) = x s, float32 lanes, and s = 0.5 (1 + tanh(u)) for the backward (s = 0: not kept).
 * Within 4e-7 (1 + |x|) of the float64 formula (the twin); y = +-0 where u < -9, as PyTorch's
 * 0.5 x (1 + tanh(u)) with tanh = -1 gives.
 */
export function geluFwd(x: usize, y: usize, s: usize, n: i32): void {
  const end: usize = (<usize>n) << 2;
  let o: usize = 0;
  // 4 vectors at a time: four independent chains for the out-of-order core
  for (; o + 64 <= end; o += 64) {
    const x0 = v128.load(x + o);
    const x1 = v128.load(x + o, 16);
    const x2 = v128.load(x + o, 32);
    const x3 = v128.load(x + o, 48);
    const s0 = geluS(x0);
    const s1 = geluS(x1);
    const s2 = geluS(x2);
    const s3 = geluS(x3);
    v128.store(y + o, f32x4.mul(x0, s0));
    v128.store(y + o, f32x4.mul(x1, s1), 16);
    v128.store(y + o, f32x4.mul(x2, s2), 32);
    v128.store(y + o, f32x4.mul(x3, s3), 48);
    if (s !== 0) {
      v128.store(s + o, s0);
      v128.store(s + o, s1, 16);
      v128.store(s + o, s2, 32);
      v128.store(s + o, s3, 48);
    }
  }
  for (; o + 16 <= end; o += 16) {
    const v = v128.load(x + o);
    const sv = geluS(v);
    v128.store(y + o, f32x4.mul(v, sv));
    if (s !== 0) v128.store(s + o, sv);
  }
  for (; o < end; o += 4) {
    const v = f32x4.splat(load<f32>(x + o));
    const sv = geluS(v);
    store<f32>(y + o, f32x4.extract_lane(f32x4.mul(v, sv), 0));
    if (s !== 0) store<f32>(s + o, f32x4.extract_lane(sv, 0));
  }
}

/**
 * gx (+)= g * gelu'(x), gelu'(x) = s + 2 x s (1 - s) sqrt(2/pi) (1 + 3 * 0.044715 x^2), in float32
 * lanes, with s = 0.5 (1 + tanh(u)) as geluFwd kept it. Within 1e-6 (1 + x^2) |g| of the float64 twin.
 */
export function geluBwd(x: usize, s: usize, g: usize, gx: usize, n: i32, acc: i32): void {
  const end: usize = (<usize>n) << 2;
  let o: usize = 0;
  for (; o + 16 <= end; o += 16) {
    let r = f32x4.mul(v128.load(g + o), geluDeriv(v128.load(x + o), v128.load(s + o)));
    if (acc !== 0) r = f32x4.add(r, v128.load(gx + o));
    v128.store(gx + o, r);
  }
  for (; o < end; o += 4) {
    const r = f32x4.mul(
      f32x4.splat(load<f32>(g + o)),
      geluDeriv(f32x4.splat(load<f32>(x + o)), f32x4.splat(load<f32>(s + o))),
    );
    let v = f32x4.extract_lane(r, 0);
    if (acc !== 0) v += load<f32>(gx + o);
    store<f32>(gx + o, v);
  }
}

/** Horizontal sum of a f32x4 in float64, lanes in order. */
@inline
function hsum(v: v128): f64 {
  return (
    <f64>f32x4.extract_lane(v, 0) +
    <f64>f32x4.extract_lane(v, 1) +
    <f64>f32x4.extract_lane(v, 2) +
    <f64>f32x4.extract_lane(v, 3)
  );
}

/** Max of a row of `cols` floats (SIMD, -Inf lanes past the end). */
@inline
function rowMax(xr: usize, cols: i32): f32 {
  const full = cols & ~3;
  let mv = f32x4.splat(-Infinity);
  let j = 0;
  for (; j < full; j += 4) mv = f32x4.max(mv, v128.load(xr + ((<usize>j) << 2)));
  let m = f32x4.extract_lane(mv, 0);
  m = max(m, f32x4.extract_lane(mv, 1));
  m = max(m, f32x4.extract_lane(mv, 2));
  m = max(m, f32x4.extract_lane(mv, 3));
  for (; j < cols; j++) m = max(m, load<f32>(xr + ((<usize>j) << 2)));
  return m;
}

/**
 * Row softmax (log = 0) or log-softmax (log = 1) of x (rows, cols) into y, per row: m = max,
 * e = exp(x - m) (float32 lanes), s = sum e (float32 lanes, then float64); softmax y = e / s,
 * log-softmax y = (x - m) - ln s. Within 2e-6 relative (softmax) / 2e-6 absolute (log-softmax)
 * of the float64 twin.
 */
export function softmaxRows(x: usize, y: usize, rows: i32, cols: i32, log: i32): void {
  const rowB: usize = (<usize>cols) << 2;
  const full = cols & ~3;
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>r * rowB;
    const yr = y + <usize>r * rowB;
    const m = rowMax(xr, cols);
    const mv = f32x4.splat(m);
    let sv = f32x4.splat(0);
    let j = 0;
    for (; j < full; j += 4) {
      const o: usize = (<usize>j) << 2;
      const e = expFull(f32x4.sub(v128.load(xr + o), mv));
      sv = f32x4.add(sv, e);
      if (log === 0) v128.store(yr + o, e);
    }
    let s = hsum(sv);
    for (; j < cols; j++) {
      const o: usize = (<usize>j) << 2;
      const e = f32x4.extract_lane(expFull(f32x4.splat(load<f32>(xr + o) - m)), 0);
      s += <f64>e;
      if (log === 0) store<f32>(yr + o, e);
    }
    if (log === 0) {
      const inv = f32x4.splat(<f32>s);
      for (j = 0; j < full; j += 4) {
        const o: usize = (<usize>j) << 2;
        v128.store(yr + o, f32x4.div(v128.load(yr + o), inv));
      }
      for (; j < cols; j++) {
        const o: usize = (<usize>j) << 2;
        store<f32>(yr + o, load<f32>(yr + o) / <f32>s);
      }
    } else {
      const lse = f32x4.splat(<f32>Math.log(s));
      for (j = 0; j < full; j += 4) {
        const o: usize = (<usize>j) << 2;
        v128.store(yr + o, f32x4.sub(f32x4.sub(v128.load(xr + o), mv), lse));
      }
      for (; j < cols; j++) {
        const o: usize = (<usize>j) << 2;
        store<f32>(yr + o, load<f32>(xr + o) - m - <f32>Math.log(s));
      }
    }
  }
}

/**
 * Backward of softmaxRows from its output y and upstream g, per row:
 *   softmax:     gx (+)= y * (g - sum(g * y))
 *   log-softmax: gx (+)= g - e^y * sum(g)
 * The row sums in float32 lanes then float64; within 1e-6 of the twin relative to sum |g|.
 */
export function softmaxRowsBwd(y: usize, g: usize, gx: usize, rows: i32, cols: i32, log: i32, acc: i32): void {
  const rowB: usize = (<usize>cols) << 2;
  const full = cols & ~3;
  for (let r = 0; r < rows; r++) {
    const ro: usize = <usize>r * rowB;
    let sv = f32x4.splat(0);
    let j = 0;
    for (; j < full; j += 4) {
      const o: usize = ro + ((<usize>j) << 2);
      const gv = v128.load(g + o);
      sv = f32x4.add(sv, log === 0 ? f32x4.mul(gv, v128.load(y + o)) : gv);
    }
    let s = hsum(sv);
    for (; j < cols; j++) {
      const o: usize = ro + ((<usize>j) << 2);
      s += log === 0 ? <f64>(load<f32>(g + o) * load<f32>(y + o)) : <f64>load<f32>(g + o);
    }
    const ss = f32x4.splat(<f32>s);
    for (j = 0; j < full; j += 4) {
      const o: usize = ro + ((<usize>j) << 2);
      const yv = v128.load(y + o);
      const gv = v128.load(g + o);
      let d = log === 0 ? f32x4.mul(yv, f32x4.sub(gv, ss)) : f32x4.sub(gv, f32x4.mul(expFull(yv), ss));
      if (acc !== 0) d = f32x4.add(d, v128.load(gx + o));
      v128.store(gx + o, d);
    }
    for (; j < cols; j++) {
      const o: usize = ro + ((<usize>j) << 2);
      const yv = load<f32>(y + o);
      const gv = load<f32>(g + o);
      let d: f32 = log === 0 ? yv * (gv - <f32>s) : gv - f32x4.extract_lane(expFull(f32x4.splat(yv)), 0) * <f32>s;
      if (acc !== 0) d += load<f32>(gx + o);
      store<f32>(gx + o, d);
    }
  }
}

/**
 * LayerNorm over the last dim (F.layer_norm(x, (C,), gamma, beta, eps)), x (rows, C), per row in
 * float64: mu = mean x, var = mean (x - mu)^2, rstd = 1 / sqrt(var + eps); xhat = f32((x - mu) rstd),
 * y = f32(xhat gamma + beta) (gamma/beta 0: 1/0). Writes mean and rstd (rows, float32) and xhat
 * for the backward. Differs from the twin only in the float64 summation order (2 lanes).
 */
export function lnFwd(
  x: usize,
  rows: i32,
  c: i32,
  gamma: usize,
  beta: usize,
  eps: f64,
  mean: usize,
  rstd: usize,
  xhat: usize,
  y: usize,
): void {
  const rowB: usize = (<usize>c) << 2;
  const pairs = c & ~1;
  // two rows at a time (a lone last row twice): each row's sums in the one-row order, the two
  // dependency chains side by side
  for (let ra = 0; ra < rows; ra += 2) {
    const rb = ra + 1 < rows ? ra + 1 : ra;
    const xa = x + <usize>ra * rowB;
    const xb = x + <usize>rb * rowB;
    let sa = f64x2.splat(0);
    let sb = f64x2.splat(0);
    let j = 0;
    for (; j < pairs; j += 2) {
      const o: usize = (<usize>j) << 2;
      sa = f64x2.add(sa, pair(xa + o));
      sb = f64x2.add(sb, pair(xb + o));
    }
    let s1 = sum2(sa);
    let s2 = sum2(sb);
    for (; j < c; j++) {
      const o: usize = (<usize>j) << 2;
      s1 += <f64>load<f32>(xa + o);
      s2 += <f64>load<f32>(xb + o);
    }
    const mua = s1 / <f64>c;
    const mub = s2 / <f64>c;
    const muva = f64x2.splat(mua);
    const muvb = f64x2.splat(mub);
    let qa = f64x2.splat(0);
    let qb = f64x2.splat(0);
    for (j = 0; j < pairs; j += 2) {
      const o: usize = (<usize>j) << 2;
      const da = f64x2.sub(pair(xa + o), muva);
      const db = f64x2.sub(pair(xb + o), muvb);
      qa = f64x2.add(qa, f64x2.mul(da, da));
      qb = f64x2.add(qb, f64x2.mul(db, db));
    }
    let q1 = sum2(qa);
    let q2 = sum2(qb);
    for (; j < c; j++) {
      const o: usize = (<usize>j) << 2;
      const da = <f64>load<f32>(xa + o) - mua;
      const db = <f64>load<f32>(xb + o) - mub;
      q1 += da * da;
      q2 += db * db;
    }
    lnRowOut(ra, xa, mua, 1 / Math.sqrt(q1 / <f64>c + eps), c, rowB, gamma, beta, mean, rstd, xhat, y);
    if (rb !== ra) lnRowOut(rb, xb, mub, 1 / Math.sqrt(q2 / <f64>c + eps), c, rowB, gamma, beta, mean, rstd, xhat, y);
  }
}

/** lnFwd's outputs for row r (x row at xr) from its float64 mean mu and rstd rs. */
// @ts-ignore: decorator
@inline
function lnRowOut(
  r: i32,
  xr: usize,
  mu: f64,
  rs: f64,
  c: i32,
  rowB: usize,
  gamma: usize,
  beta: usize,
  mean: usize,
  rstd: usize,
  xhat: usize,
  y: usize,
): void {
  const pairs = c & ~1;
  store<f32>(mean + ((<usize>r) << 2), <f32>mu);
  store<f32>(rstd + ((<usize>r) << 2), <f32>rs);
  const muv = f64x2.splat(mu);
  const rsv = f64x2.splat(rs);
  const hr = xhat + <usize>r * rowB;
  const yr = y + <usize>r * rowB;
  let j = 0;
  for (; j < pairs; j += 2) {
    const o: usize = (<usize>j) << 2;
    const h = f64x2.mul(f64x2.sub(pair(xr + o), muv), rsv);
    const hf = f32x4.demote_f64x2_zero(h);
    v128.store64_lane(hr + o, hf, 0);
    let yv = f64x2.promote_low_f32x4(hf);
    if (gamma !== 0) yv = f64x2.mul(yv, pair(gamma + o));
    if (beta !== 0) yv = f64x2.add(yv, pair(beta + o));
    v128.store64_lane(yr + o, f32x4.demote_f64x2_zero(yv), 0);
  }
  for (; j < c; j++) {
    const o: usize = (<usize>j) << 2;
    const hf = <f32>((<f64>load<f32>(xr + o) - mu) * rs);
    store<f32>(hr + o, hf);
    let yv = <f64>hf;
    if (gamma !== 0) yv *= <f64>load<f32>(gamma + o);
    if (beta !== 0) yv += <f64>load<f32>(beta + o);
    store<f32>(yr + o, <f32>yv);
  }
}

/**
 * LayerNorm backward, dxhat = g gamma, per row in float64:
 *   dx (+)= rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)) ; dgamma += sum g xhat ; dbeta += sum g
 * (dgamma/dbeta accumulate in float32, rows in order; gamma 0 = 1; dgamma/dbeta/dx 0 = not wanted).
 */
export function lnBwd(
  g: usize,
  xhat: usize,
  rstd: usize,
  gamma: usize,
  rows: i32,
  c: i32,
  dgamma: usize,
  dbeta: usize,
  dx: usize,
  accX: i32,
): void {
  const rowB: usize = (<usize>c) << 2;
  const pairs = c & ~1;
  // two rows at a time (a lone last row alone): each row's sums in the one-row order
  for (let ra = 0; ra < rows; ra += 2) {
    const two = ra + 1 < rows;
    const rb = two ? ra + 1 : ra;
    const ga = g + <usize>ra * rowB;
    const gb = g + <usize>rb * rowB;
    const ha = xhat + <usize>ra * rowB;
    const hb = xhat + <usize>rb * rowB;
    let m1a = f64x2.splat(0);
    let m2a = f64x2.splat(0);
    let m1b = f64x2.splat(0);
    let m2b = f64x2.splat(0);
    let j = 0;
    for (; j < pairs; j += 2) {
      const o: usize = (<usize>j) << 2;
      let dha = pair(ga + o);
      let dhb = pair(gb + o);
      if (gamma !== 0) {
        const gm = pair(gamma + o);
        dha = f64x2.mul(dha, gm);
        dhb = f64x2.mul(dhb, gm);
      }
      m1a = f64x2.add(m1a, dha);
      m2a = f64x2.add(m2a, f64x2.mul(dha, pair(ha + o)));
      m1b = f64x2.add(m1b, dhb);
      m2b = f64x2.add(m2b, f64x2.mul(dhb, pair(hb + o)));
    }
    let m1 = sum2(m1a);
    let m2 = sum2(m2a);
    let n1 = sum2(m1b);
    let n2 = sum2(m2b);
    for (; j < c; j++) {
      const o: usize = (<usize>j) << 2;
      const gm = gamma !== 0 ? <f64>load<f32>(gamma + o) : 1.0;
      const dha = gamma !== 0 ? <f64>load<f32>(ga + o) * gm : <f64>load<f32>(ga + o);
      const dhb = gamma !== 0 ? <f64>load<f32>(gb + o) * gm : <f64>load<f32>(gb + o);
      m1 += dha;
      m2 += dha * <f64>load<f32>(ha + o);
      n1 += dhb;
      n2 += dhb * <f64>load<f32>(hb + o);
    }
    // parameter gradients, float32 accumulation in row order (row a, then row b)
    if (dgamma !== 0 || dbeta !== 0) {
      j = 0;
      for (; j + 4 <= c; j += 4) {
        const o: usize = (<usize>j) << 2;
        const gva = v128.load(ga + o);
        const gvb = v128.load(gb + o);
        if (dgamma !== 0) {
          let d = f32x4.add(v128.load(dgamma + o), f32x4.mul(gva, v128.load(ha + o)));
          if (two) d = f32x4.add(d, f32x4.mul(gvb, v128.load(hb + o)));
          v128.store(dgamma + o, d);
        }
        if (dbeta !== 0) {
          let d = f32x4.add(v128.load(dbeta + o), gva);
          if (two) d = f32x4.add(d, gvb);
          v128.store(dbeta + o, d);
        }
      }
      for (; j < c; j++) {
        const o: usize = (<usize>j) << 2;
        const gva = load<f32>(ga + o);
        const gvb = load<f32>(gb + o);
        if (dgamma !== 0) {
          let d = load<f32>(dgamma + o) + gva * load<f32>(ha + o);
          if (two) d += gvb * load<f32>(hb + o);
          store<f32>(dgamma + o, d);
        }
        if (dbeta !== 0) {
          let d = load<f32>(dbeta + o) + gva;
          if (two) d += gvb;
          store<f32>(dbeta + o, d);
        }
      }
    }
    if (dx === 0) continue;
    lnRowDx(ga, ha, dx + <usize>ra * rowB, <f64>load<f32>(rstd + ((<usize>ra) << 2)), m1 / <f64>c, m2 / <f64>c, gamma, c, accX);
    if (two) lnRowDx(gb, hb, dx + <usize>rb * rowB, <f64>load<f32>(rstd + ((<usize>rb) << 2)), n1 / <f64>c, n2 / <f64>c, gamma, c, accX);
  }
}

/** lnBwd's dx for one row: dx (+)= rs (g gamma - m1 - xhat m2), float64 per element, f64x2 lanes. */
// @ts-ignore: decorator
@inline
function lnRowDx(gr: usize, hr: usize, xr: usize, rs: f64, m1: f64, m2: f64, gamma: usize, c: i32, accX: i32): void {
  const pairs = c & ~1;
  const rsv = f64x2.splat(rs);
  const m1v = f64x2.splat(m1);
  const m2v = f64x2.splat(m2);
  let j = 0;
  for (; j < pairs; j += 2) {
    const o: usize = (<usize>j) << 2;
    const gv = pair(gr + o);
    const dh = gamma !== 0 ? f64x2.mul(gv, pair(gamma + o)) : gv;
    let v = f64x2.mul(rsv, f64x2.sub(f64x2.sub(dh, m1v), f64x2.mul(pair(hr + o), m2v)));
    if (accX !== 0) v = f64x2.add(v, pair(xr + o));
    v128.store64_lane(xr + o, f32x4.demote_f64x2_zero(v), 0);
  }
  for (; j < c; j++) {
    const o: usize = (<usize>j) << 2;
    const gv = <f64>load<f32>(gr + o);
    const dh = gamma !== 0 ? gv * <f64>load<f32>(gamma + o) : gv;
    let v = rs * (dh - m1 - <f64>load<f32>(hr + o) * m2);
    if (accX !== 0) v += <f64>load<f32>(xr + o);
    store<f32>(xr + o, <f32>v);
  }
}

/**
 * fma(a, b, c) of float32 lanes held as f64x2, rounded once to float32: a*b is exact in float64;
 * s = p + c is rounded to odd (TwoSum gives its error e; an even s with e != 0 moves one ulp
 * toward the true value), and rounding an odd-rounded float64 to float32 is a single correct
 * rounding (53 >= 2*24 + 2 bits). The same function as fmaF32 in src/random/generator.ts.
 */
@inline
function fma64(a: v128, b: v128, c: v128): v128 {
  const p = f64x2.mul(a, b);
  const s = f64x2.add(p, c);
  const bv = f64x2.sub(s, p);
  const e = f64x2.add(f64x2.sub(p, f64x2.sub(s, bv)), f64x2.sub(c, bv));
  // lanes to adjust: e nonzero and not NaN, s even
  const even = i64x2.eq(v128.and(s, i64x2.splat(1)), i64x2.splat(0));
  const need = v128.and(v128.and(f64x2.ne(e, f64x2.splat(0)), f64x2.eq(e, e)), even);
  // same sign: magnitude up (+1 on the bits), opposite: down (-1)
  const opposite = i64x2.shr_s(v128.xor(s, e), 63);
  const delta = v128.bitselect(i64x2.splat(-1), i64x2.splat(1), opposite);
  return i64x2.add(s, v128.and(delta, need));
}

/**
 * AdamW (torch.optim.AdamW, float32, the op sequence of src/train/optim.ts `AdamW.step`, fused
 * multiply-adds where torch's AVX2 build has them), over n floats of w, g, m (exp_avg), v (exp_avg_sq):
 *   w = w * decay ; m = fma(g, one1, m * b1) ; v = fma(one2 * g, g, v * b2)
 *   w = w + (negStep * m) / (sqrt(v) / bc2sqrt + eps)
 * with decay = 1 - lr wd, one1 = 1 - b1, one2 = 1 - b2, bc2sqrt = sqrt(1 - b2^t),
 * negStep = -lr / (1 - b1^t), all float32 (the caller rounds them). Bit for bit the twin.
 */
export function adamw(
  w: usize,
  g: usize,
  m: usize,
  v: usize,
  n: i32,
  decay: f32,
  b1: f32,
  b2: f32,
  one1: f32,
  one2: f32,
  bc2sqrt: f32,
  negStep: f32,
  eps: f32,
): void {
  const dv = f32x4.splat(decay);
  const b1v = f32x4.splat(b1);
  const b2v = f32x4.splat(b2);
  const o1 = f64x2.splat(<f64>one1);
  const o2v = f32x4.splat(one2);
  const bcv = f32x4.splat(bc2sqrt);
  const nsv = f32x4.splat(negStep);
  const ev = f32x4.splat(eps);
  const quads = n & ~3;
  const pairs = n & ~1;
  let i = 0;
  // four elements at a time: float32 ops in four lanes, each fused multiply-add as two f64x2 halves
  for (; i < quads; i += 4) {
    const o: usize = (<usize>i) << 2;
    const gf = v128.load(g + o);
    const pj = f32x4.mul(v128.load(w + o), dv);
    const mb = f32x4.mul(v128.load(m + o), b1v);
    const mj = fma64x4(gf, f32x4.splat(one1), mb);
    const vb = f32x4.mul(v128.load(v + o), b2v);
    const vj = fma64x4(f32x4.mul(o2v, gf), gf, vb);
    const denom = f32x4.add(f32x4.div(f32x4.sqrt(vj), bcv), ev);
    v128.store(w + o, f32x4.add(pj, f32x4.div(f32x4.mul(nsv, mj), denom)));
    v128.store(m + o, mj);
    v128.store(v + o, vj);
  }
  for (; i < pairs; i += 2) {
    const o: usize = (<usize>i) << 2;
    adamwLanes(true, w + o, g + o, m + o, v + o, dv, b1v, b2v, o1, o2v, bcv, nsv, ev);
  }
  if (pairs < n) {
    const o: usize = (<usize>pairs) << 2;
    adamwLanes(false, w + o, g + o, m + o, v + o, dv, b1v, b2v, o1, o2v, bcv, nsv, ev);
  }
}

/**
 * fma64's float32 result, the cheap way where it is the same: s = p + c rounded to float64, then to
 * float32, is the correctly rounded fma unless s landed exactly on a float32 midpoint (the only case
 * where rounding twice differs from rounding once: every midpoint is a float64, and rounding is
 * monotone) or below float32's normal range, where the midpoints sit elsewhere. A normal-range
 * midpoint has low 29 mantissa bits 1 << 28. Those lanes (rare: about 2^-29 of random sums; zeros
 * too) take fma64's round-to-odd.
 */
// @ts-ignore: decorator
@inline
function fma64fast(a: v128, b: v128, c: v128): v128 {
  const s = f64x2.add(f64x2.mul(a, b), c);
  const mid = i64x2.eq(v128.and(s, i64x2.splat(0x1fffffff)), i64x2.splat(0x10000000));
  const low = f64x2.lt(f64x2.abs(s), f64x2.splat(1.1754943508222875e-38));
  if (v128.any_true(v128.or(mid, low))) return fma64(a, b, c);
  return s;
}

/** fma64 on four float32 lanes (two f64x2 halves, through fma64fast), rounded to float32 and packed back. */
// @ts-ignore: decorator
@inline
function fma64x4(a: v128, b: v128, c: v128): v128 {
  const lo = fma64fast(f64x2.promote_low_f32x4(a), f64x2.promote_low_f32x4(b), f64x2.promote_low_f32x4(c));
  const ah = v128.shuffle<i64>(a, a, 1, 1);
  const bh = v128.shuffle<i64>(b, b, 1, 1);
  const ch = v128.shuffle<i64>(c, c, 1, 1);
  const hi = fma64fast(f64x2.promote_low_f32x4(ah), f64x2.promote_low_f32x4(bh), f64x2.promote_low_f32x4(ch));
  return v128.shuffle<i64>(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 2);
}

/**
 * adamw on two elements (two, the fused multiply-adds in f64x2 lanes) or one (the odd tail) at
 * w, g, m, v; the scalars splatted. `two` is a constant at each call site, so each inlined copy
 * keeps one kind of load and store.
 */
// @ts-ignore: decorator
@inline
function adamwLanes(
  two: bool,
  w: usize,
  g: usize,
  m: usize,
  v: usize,
  dv: v128,
  b1v: v128,
  b2v: v128,
  o1: v128,
  o2v: v128,
  bcv: v128,
  nsv: v128,
  ev: v128,
): void {
  const gf = two ? v128.load64_zero(g) : v128.load32_zero(g);
  const pj = f32x4.mul(two ? v128.load64_zero(w) : v128.load32_zero(w), dv);
  const mb = f32x4.mul(two ? v128.load64_zero(m) : v128.load32_zero(m), b1v);
  const mj = f32x4.demote_f64x2_zero(fma64(f64x2.promote_low_f32x4(gf), o1, f64x2.promote_low_f32x4(mb)));
  const vb = f32x4.mul(two ? v128.load64_zero(v) : v128.load32_zero(v), b2v);
  const og = f32x4.mul(o2v, gf);
  const vj = f32x4.demote_f64x2_zero(
    fma64(f64x2.promote_low_f32x4(og), f64x2.promote_low_f32x4(gf), f64x2.promote_low_f32x4(vb)),
  );
  const denom = f32x4.add(f32x4.div(f32x4.sqrt(vj), bcv), ev);
  const wj = f32x4.add(pj, f32x4.div(f32x4.mul(nsv, mj), denom));
  if (two) {
    v128.store64_lane(w, wj, 0);
    v128.store64_lane(m, mj, 0);
    v128.store64_lane(v, vj, 0);
  } else {
    v128.store32_lane(w, wj, 0);
    v128.store32_lane(m, mj, 0);
    v128.store32_lane(v, vj, 0);
  }
}

// ---------------------------------------------------------------------------------------------
// SGD with momentum / weight decay / Nesterov (torch.optim.SGD's float32 op sequence, its fused
// multiply-adds exact through fma64), over n floats of w, g and the momentum buffer b.

/** sgdMomentum flags */
const SGD_DECAY = 1;
const SGD_MOMENTUM = 2;
const SGD_FIRST = 4;
const SGD_NESTEROV = 8;

/**
 * Per element, as src/train/optim.ts `SGD.step` (and its twin) computes it:
 *   d = fma(w, wd, g) (SGD_DECAY) or g
 *   SGD_MOMENTUM: b = d (SGD_FIRST) or fma(d, damp, b * mom); d = fma(b, mom, d) (SGD_NESTEROV) or b
 *   w = fma(d, negLr, w)
 * Two elements per f64x2 (the fused multiply-adds), the odd one last. Bit for bit the twin.
 */
export function sgdMomentum(
  w: usize,
  g: usize,
  b: usize,
  n: i32,
  wd: f32,
  mom: f32,
  damp: f32,
  negLr: f32,
  flags: i32,
): void {
  const pairs = n & ~1;
  for (let i = 0; i < pairs; i += 2) {
    const o: usize = (<usize>i) << 2;
    sgdLanes(true, w + o, g + o, b + o, wd, mom, damp, negLr, flags);
  }
  if (pairs < n) {
    const o: usize = (<usize>pairs) << 2;
    sgdLanes(false, w + o, g + o, b + o, wd, mom, damp, negLr, flags);
  }
}

/** sgdMomentum on two elements (two) or one at w, g, b; `two` is a constant at each call site. */
// @ts-ignore: decorator
@inline
function sgdLanes(
  two: bool,
  w: usize,
  g: usize,
  b: usize,
  wd: f32,
  mom: f32,
  damp: f32,
  negLr: f32,
  flags: i32,
): void {
  const wf = two ? v128.load64_zero(w) : v128.load32_zero(w);
  const w64 = f64x2.promote_low_f32x4(wf);
  let d = two ? v128.load64_zero(g) : v128.load32_zero(g);
  if (flags & SGD_DECAY) {
    d = f32x4.demote_f64x2_zero(fma64(w64, f64x2.splat(<f64>wd), f64x2.promote_low_f32x4(d)));
  }
  if (flags & SGD_MOMENTUM) {
    let bv = d;
    if (!(flags & SGD_FIRST)) {
      const bm = f32x4.mul(two ? v128.load64_zero(b) : v128.load32_zero(b), f32x4.splat(mom));
      bv = f32x4.demote_f64x2_zero(
        fma64(f64x2.promote_low_f32x4(d), f64x2.splat(<f64>damp), f64x2.promote_low_f32x4(bm)),
      );
    }
    if (two) v128.store64_lane(b, bv, 0);
    else v128.store32_lane(b, bv, 0);
    d =
      flags & SGD_NESTEROV
        ? f32x4.demote_f64x2_zero(
            fma64(f64x2.promote_low_f32x4(bv), f64x2.splat(<f64>mom), f64x2.promote_low_f32x4(d)),
          )
        : bv;
  }
  const wj = f32x4.demote_f64x2_zero(fma64(f64x2.promote_low_f32x4(d), f64x2.splat(<f64>negLr), w64));
  if (two) v128.store64_lane(w, wj, 0);
  else v128.store32_lane(w, wj, 0);
}

// ---------------------------------------------------------------------------------------------
// Repeated rows (wavenet, issue 11: the WaveNet's padded contexts "......ab" repeat whole rows of
// its Linear inputs). A gemm row depends on its own input row's bits alone, so rows that repeat
// bit for bit are multiplied once and the result copied (src/tensor/engine.ts linearRowsArena).

/** Whether the rows at p and q (rowB bytes each) hold the same bits. */
@inline
function sameRow(p: usize, q: usize, rowB: usize): bool {
  let j: usize = 0;
  for (; j + 16 <= rowB; j += 16) {
    if (v128.any_true(v128.xor(v128.load(p + j), v128.load(q + j)))) return false;
  }
  for (; j < rowB; j += 4) if (load<i32>(p + j) !== load<i32>(q + j)) return false;
  return true;
}

/**
 * The distinct rows of x (m rows of k floats, packed), compared bit for bit: first[u] = the row
 * where the u-th distinct row first appears, slot[r] = the u of row r. table: 2^bits i32 of
 * scratch, 2^bits >= 2m (open addressing on a hash of the row's bits); k >= 4. Returns the count.
 */
export function uniqueRows(x: usize, m: i32, k: i32, first: usize, slot: usize, table: usize, bits: i32): i32 {
  const mask: u32 = (1 << bits) - 1;
  memory.fill(table, 0, (<usize>1 << bits) << 2);
  const rowB: usize = (<usize>k) << 2;
  const mul = i32x4.splat(0x9e3779b1);
  let u = 0;
  for (let r = 0; r < m; r++) {
    const p = x + <usize>r * rowB;
    // The hash reads four v128 chunks spread over the row (at 0, 1/4, 1/2, 3/4 of it) and the
    // row's last 16 bytes: rows that differ somewhere else only share a bucket chain, and the
    // full bit-for-bit comparison below decides. Four independent multiply chains.
    const q: usize = (rowB >> 6) << 4;
    const tail: usize = rowB >= 16 ? rowB - 16 : 0;
    let hv = i32x4.mul(v128.xor(i32x4.splat(0x811c9dc5), v128.load(p)), mul);
    let h1 = i32x4.mul(v128.xor(i32x4.splat(0x01000193), v128.load(p + q)), mul);
    let h2 = i32x4.mul(v128.xor(i32x4.splat(0x27d4eb2f), v128.load(p + 2 * q)), mul);
    let h3 = i32x4.mul(v128.xor(i32x4.splat(0x165667b1), v128.load(p + 3 * q)), mul);
    hv = i32x4.mul(v128.xor(hv, v128.load(p + tail)), mul);
    hv = v128.xor(v128.xor(hv, i32x4.shl(h1, 7)), v128.xor(i32x4.shl(h2, 13), i32x4.shr_u(h3, 9)));
    let h: u32 =
      <u32>i32x4.extract_lane(hv, 0) ^
      rotl<u32>(<u32>i32x4.extract_lane(hv, 1), 8) ^
      rotl<u32>(<u32>i32x4.extract_lane(hv, 2), 16) ^
      rotl<u32>(<u32>i32x4.extract_lane(hv, 3), 24);
    h = (h ^ (h >>> 15)) * 0x85ebca6b;
    h ^= h >>> 13;
    let b = h & mask;
    while (true) {
      const at: usize = table + ((<usize>b) << 2);
      const e = load<i32>(at);
      if (e === 0) {
        store<i32>(at, u + 1);
        store<i32>(first + ((<usize>u) << 2), r);
        store<i32>(slot + ((<usize>r) << 2), u);
        u++;
        break;
      }
      if (sameRow(p, x + <usize>load<i32>(first + ((<usize>(e - 1)) << 2)) * rowB, rowB)) {
        store<i32>(slot + ((<usize>r) << 2), e - 1);
        break;
      }
      b = (b + 1) & mask;
    }
  }
  return u;
}

// -------------------------------------------------------------------------------------------------
// makemore.py's GRU and attention (mmspeed, issue 12): float32 lanes, expFull's exponential. The
// engine runs them for eager ops too (through its scratch instance), so a plan and the eager step
// compute the same bits; PyTorch computes these in float32 with its own vectorised exp.

/** y = 1 / (1 + e^-x) (n floats), each op rounded to float32 (e^-x within 1 ulp). */
export function sigmoidFwd(x: usize, y: usize, n: i32): void {
  const one = f32x4.splat(1);
  const end: usize = (<usize>n) << 2;
  let o: usize = 0;
  for (; o + 16 <= end; o += 16)
    v128.store(y + o, f32x4.div(one, f32x4.add(one, expFull(f32x4.neg(v128.load(x + o))))));
  for (; o < end; o += 4) {
    const v = f32x4.div(one, f32x4.add(one, expFull(f32x4.splat(-load<f32>(x + o)))));
    store<f32>(y + o, f32x4.extract_lane(v, 0));
  }
}

/**
 * Causal attention weights over `mats` (T, T) matrices, row i: v_j = f32(x_j scale) for j <= i,
 * m = max_j v_j, e_j = e^(v_j - m), s = the float32 sum of the e_j (four lanes of j = 0, 4, 8, ...
 * then the lanes in order, then the tail in order), y_j = e_j / s; y_j = 0 for j > i (masked).
 */
export function causalSoftmaxFwd(x: usize, y: usize, T: i32, mats: i32, scale: f32): void {
  const sv = f32x4.splat(scale);
  const rowB: usize = (<usize>T) << 2;
  const rows = mats * T;
  const lane = i32x4(0, 1, 2, 3);
  for (let r = 0; r < rows; r++) {
    const xr: usize = x + <usize>r * rowB;
    const yr: usize = y + <usize>r * rowB;
    const n = (r % T) + 1;
    const full = n & ~3;
    const rem = n - full;
    // the tail's rem < 4 entries as one vector (lanes >= rem: -Inf for the max, never summed or stored)
    const live = i32x4.lt_s(lane, i32x4.splat(rem));
    const tail = v128.bitselect(f32x4.mul(v128.load(xr + ((<usize>full) << 2)), sv), f32x4.splat(-Infinity), live);
    let j = 0;
    let mv = tail;
    for (; j < full; j += 4) mv = f32x4.max(mv, f32x4.mul(v128.load(xr + ((<usize>j) << 2)), sv));
    const m = max(max(f32x4.extract_lane(mv, 0), f32x4.extract_lane(mv, 1)), max(f32x4.extract_lane(mv, 2), f32x4.extract_lane(mv, 3)));
    const mm = f32x4.splat(m);
    let acc = f32x4.splat(0);
    for (j = 0; j < full; j += 4) {
      const o: usize = (<usize>j) << 2;
      const e = expFull(f32x4.sub(f32x4.mul(v128.load(xr + o), sv), mm));
      v128.store(yr + o, e);
      acc = f32x4.add(acc, e);
    }
    let s: f32 = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3);
    // the tail's exponentials in one vector, added in j order as one at a time would be (dead
    // lanes get e^0: e^-Inf would take the slow subnormal path of the multiplies)
    const et = expFull(v128.and(f32x4.sub(tail, mm), live));
    if (rem > 0) s += f32x4.extract_lane(et, 0);
    if (rem > 1) s += f32x4.extract_lane(et, 1);
    if (rem > 2) s += f32x4.extract_lane(et, 2);
    const ss = f32x4.splat(s);
    for (j = 0; j < full; j += 4) {
      const o: usize = (<usize>j) << 2;
      v128.store(yr + o, f32x4.div(v128.load(yr + o), ss));
    }
    // the tail's weights, 0 in its masked lanes, then the rest of the masked row
    const yt = v128.and(f32x4.div(et, ss), live);
    if (full + 4 <= T) {
      v128.store(yr + ((<usize>full) << 2), yt);
      j = full + 4;
    } else {
      for (let k = 0; j < T; j++, k++) store<f32>(yr + ((<usize>j) << 2), k === 0 ? f32x4.extract_lane(yt, 0) : k === 1 ? f32x4.extract_lane(yt, 1) : f32x4.extract_lane(yt, 2));
    }
    for (; j < T; j++) store<f32>(yr + ((<usize>j) << 2), 0);
  }
}

/**
 * causalSoftmaxFwd's backward (tfops, issue 12), the float64 rule of src/tensor/nnops.ts bit for
 * bit: per row i of each (T, T) matrix, sgy = sum_{j <= i} g_j y_j in float64, j in order, then
 *   gx_j (+)= f32(f32(y_j (g_j - sgy)) scale)  for j <= i;  masked j > i: untouched (acc), else 0.
 * Two matrices at a time, their rows i in the two lanes of f64x2 (each lane the same sums), so
 * the two dependency chains run side by side.
 */
export function causalSoftmaxBwd(y: usize, g: usize, gx: usize, T: i32, mats: i32, scale: f32, acc: i32): void {
  const matB: usize = <usize>T * <usize>T * 4;
  const rowB: usize = (<usize>T) << 2;
  const sc = f32x4.splat(scale);
  for (let mt = 0; mt < mats; mt += 2) {
    const two = mt + 1 < mats;
    const a: usize = <usize>mt * matB;
    const b: usize = two ? a + matB : a; // a lone last matrix runs in both lanes, lane 0 stored
    for (let i = 0; i < T; i++) {
      const ra = a + <usize>i * rowB;
      const rb = b + <usize>i * rowB;
      let s = f64x2.splat(0);
      for (let j = 0; j <= i; j++) {
        const o: usize = (<usize>j) << 2;
        const gv = f64x2(<f64>load<f32>(g + ra + o), <f64>load<f32>(g + rb + o));
        const yv = f64x2(<f64>load<f32>(y + ra + o), <f64>load<f32>(y + rb + o));
        s = f64x2.add(s, f64x2.mul(gv, yv));
      }
      for (let j = 0; j <= i; j++) {
        const o: usize = (<usize>j) << 2;
        const gv = f64x2(<f64>load<f32>(g + ra + o), <f64>load<f32>(g + rb + o));
        const yv = f64x2(<f64>load<f32>(y + ra + o), <f64>load<f32>(y + rb + o));
        const d = f32x4.mul(f32x4.demote_f64x2_zero(f64x2.mul(yv, f64x2.sub(gv, s))), sc);
        let d0 = f32x4.extract_lane(d, 0);
        let d1 = f32x4.extract_lane(d, 1);
        if (acc !== 0) {
          d0 += load<f32>(gx + ra + o);
          d1 += load<f32>(gx + rb + o);
        }
        store<f32>(gx + ra + o, d0);
        if (two) store<f32>(gx + rb + o, d1);
      }
      if (acc === 0) {
        for (let j = i + 1; j < T; j++) {
          const o: usize = (<usize>j) << 2;
          store<f32>(gx + ra + o, 0);
          if (two) store<f32>(gx + rb + o, 0);
        }
      }
    }
  }
}
