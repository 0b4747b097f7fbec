// The one gemm of makemore.ts, in AssemblyScript (WebAssembly SIMD, f32x4). Both modules import it:
// assembly/gemm.ts (the generic tensor ops' gemm, src/tensor/wasm/kernels-wasm.ts) and
// assembly/arena.ts (the arena kernels that the captured plans of src/tensor/engine.ts run). Not
// TypeScript: `i32`, `usize`, `v128`, `f32x4`, `load<T>`, `store<T>` are AssemblyScript builtins.
//
//   C(m, n) (+)= op(A)(m, k) @ op(B)(k, n) (+ bias(n))
//
// Summation order (what the tests and the lecture's exact reproduction rely on): every C[i, j] is
// s = 0; s += op(A)[i, p] * op(B)[p, j] for p = 0, 1, ..., k-1 in float32, then s + C_old (acc),
// then + bias[j]. The module is built twice (scripts/build-wasm.ts): with relaxed SIMD each step
// is one fused multiply-add, s = fma(a, b, s) rounded once (f32x4.relaxed_madd, which fuses on
// CPUs with FMA; src/tensor/wasm/load.ts uses that build only when asked, MAKEMORE_FMA=1, and
// where a probe shows it fuses); in the plain build, the default, the product and the sum are each
// rounded (mul, then add). It depends on nothing else: not the tile an element falls in, not the blocking,
// not the thread that computes it. So every blocking and every thread split gives the same bits as
// the unblocked kernels this replaced (assembly/gemm.ts's and assembly/arena.ts's own copies).
// The one exception: acc with k > KC (never in makemore's shapes) sums C_old first.
//
// Blocking, sized for a 32 KB L1d and 1 MB L2 (Zen 4; tuned there, not on Zen 5's 48 KB L1d) and a
// 128-bit kernel, in a workspace of PACK_BYTES = 272 KB:
//   * k is split into equal blocks of at most KB = 256 steps (k = 1024: four of 256). A block after
//     the first starts from the partial sums the one before stored in C (float32 out, float32 back
//     in: the sum resumes exactly), bias comes with the last. With acc and k <= KC, C_old must be
//     added after the whole sum, so k stays whole there (no training step accumulates; the
//     generic ops' backward does).
//   * per k block, A is packed into row panels of 4, ap[4p + r] = op(A)[i0 + r, p], all m rows at
//     once when they fit 3/4 of the workspace (d2-h1024's 193 distinct rows at kc = 256: 196 KB),
//     else in equal blocks of MC rows that do (its batch of 256: two of 128); an A^T that is
//     small (its k rows span <= 64 KB) is read in place (the 4 values of one p are adjacent).
//   * for each A block, B is packed NC columns at a time (the rest of the workspace) into column
//     panels of 8: panel q holds op(B)[p, 8q .. 8q+7] for every p, contiguous. Packing is also
//     where op(B) = B^T gets transposed. A B that is small and not transposed (its k rows span
//     <= 64 KB: the lecture's weights) is read in place with its row stride instead.
//   * each 8-column B panel (kc * 32 bytes: 8 KB, L1-resident) then meets every 4-row A panel of
//     the block in turn (4 KB each, from L2). So every operand is packed once per k block when A
//     fits (B once per A block otherwise). The order before (per 4-row A panel, every B panel
//     streamed from L2: at k = 1024, 48 KB of panels a tile, more than a 32 KB L1d; all of A
//     re-packed for every block of 64 B columns) ran d2-h1024's gemms at 29-33 GFLOP/s here.
//   * The microkernel keeps a 4 x 8 tile of C in eight v128 accumulators: per p two v128 loads of
//     B, four splat loads of A, 8 fused multiply-adds (or 8 mul + 8 add without relaxed SIMD:
//     twice the arithmetic instructions, the bound of the large shapes). Edge tiles:
//     <= 2 live rows run a 2x8 loop, <= 4 live columns a 4x4 loop; a tile that hangs over C is
//     stored through a scratch tile.
//   * Measured on V8 (Node 20, x86-64): plain loops beat unrolling p (V8 then spills), and ending
//     the p loop on a pointer compare beats a counter; 5x8, 6x8, 3x12 and 4x12 tiles measured
//     slower than 4x8 on Zen 4 (V8 spills accumulators; 3x12 ties it with FMA only).
//
// Partial panels (n or m not a multiple of the tile) are packed with the same vector copies and
// 4x4 transposes as full ones: a dead lane is computed like any other and never stored, and no
// lane's sum reads another's, so what a dead lane holds changes no stored bit.
// Reads: B (in place or packed, not transposed) and A^T (in place or packed) may read up to 28
// bytes past the last row's live columns (lanes of a partial panel that are never stored);
// callers pad their buffers by 32 bytes.

/**
 * Past this k, an accumulating call (acc) sums C_old first (its one exception to the order below).
 */
export const KC: i32 = 1024;
/** The k block: a k above it is split into equal blocks of at most KB steps (see gemm). */
const KB: i32 = 256;
/**
 * Bytes of the packed A and B blocks together (the A block takes up to 3/4, B the rest; at
 * KC = 1024 steps, one A panel and one B panel take 48 KB). Arenas reserve this workspace (one per
 * thread), so it stays what it was: the plans' room (src/train/plan.ts) is reckoned in arena bytes.
 */
const PACK_BYTES: i32 = 272 * 1024;
/** Operands at most this large (bytes spanned) are read in place rather than packed. */
const IN_PLACE_BYTES: usize = 64 * 1024;

/** Bytes of workspace one `gemm` call needs (the packed A and B blocks, a tile). */
export const GEMM_WORK_BYTES: i32 = PACK_BYTES + 128;

/** Bytes of workspace one gemm call needs (a worker thread passes its own). */
export function gemmWorkBytes(): i32 {
  return GEMM_WORK_BYTES;
}

/**
 * The workspace of calls that pass work = 0: gemmWorkBytes() bytes the caller reserved in this
 * memory and registered with setGemmWork (src/tensor/wasm/arena-wasm.ts does it for every arena).
 * Not static data: with a shared memory every thread's instance would re-write a data segment.
 */
let GEMM_WORK: usize = 0;

export function setGemmWork(work: usize): void {
  GEMM_WORK = work;
}

/**
 * acc + a * b per lane: one rounding in the relaxed-SIMD build (ASC_FEATURE_RELAXED_SIMD is a
 * compile-time constant, so each build keeps one branch), two in the plain one.
 */
// @ts-ignore: decorator
@inline
function madd(a: v128, b: v128, acc: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, acc);
  return f32x4.add(acc, f32x4.mul(a, b));
}

/**
 * a * b + c through the gemm's multiply-add, lane 0. The loader calls it with a product whose low
 * bits matter: a relaxed-SIMD engine on a CPU without FMA computes mul then add, and then the
 * relaxed build's results would not be the fused ones its tests and twin assume.
 */
export function maddProbe(a: f32, b: f32, c: f32): f32 {
  return f32x4.extract_lane(madd(f32x4.splat(a), f32x4.splat(b), f32x4.splat(c)), 0);
}

/**
 * A 4x4 transpose: the 4 floats at each of x0..x3 (four storage rows) become 4 vectors of one
 * float from each row, stored at dst, dst + stride, dst + 2 stride, dst + 3 stride (bytes).
 */
// @ts-ignore: decorator
@inline
function transpose4(x0: usize, x1: usize, x2: usize, x3: usize, dst: usize, stride: usize): void {
  const a = v128.load(x0);
  const b = v128.load(x1);
  const c = v128.load(x2);
  const d = v128.load(x3);
  const t0 = v128.shuffle<f32>(a, b, 0, 4, 1, 5);
  const t1 = v128.shuffle<f32>(c, d, 0, 4, 1, 5);
  const t2 = v128.shuffle<f32>(a, b, 2, 6, 3, 7);
  const t3 = v128.shuffle<f32>(c, d, 2, 6, 3, 7);
  v128.store(dst, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5));
  v128.store(dst + stride, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7));
  v128.store(dst + 2 * stride, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5));
  v128.store(dst + 3 * stride, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7));
}

/**
 * The scalar packing path: kc vectors of `width` floats at dst, whose lane c at step p is the float
 * at src + p step + c col (bytes), or 0 for c >= live. For partial panels, and for the steps after
 * the last full 4x4 transpose.
 */
// @ts-ignore: decorator
@inline
function packLanes(width: i32, live: i32, kc: i32, src: usize, step: usize, col: usize, dst: usize): void {
  for (let p = 0; p < kc; p++) {
    for (let c = 0; c < width; c++) {
      store<f32>(dst + ((<usize>c) << 2), c < live ? load<f32>(src + <usize>c * col) : <f32>0);
    }
    src += step;
    dst += (<usize>width) << 2;
  }
}

/** Storage row r of a panel starting at r0 (stride bytes apart), or row 0 again when r >= live. */
// @ts-ignore: decorator
@inline
function liveRow(r0: usize, r: i32, live: i32, stride: usize): usize {
  return r < live ? r0 + <usize>r * stride : r0;
}

/**
 * Pack op(B)[p0 .. p0+kc-1, j0 .. j0+nw-1] into column panels of 8 at bp:
 * bp[(q*kc + p)*8 + c] = op(B)[p0 + p, j0 + 8q + c] for the live columns (j0 + 8q + c < j0 + nw).
 * The lanes of a partial panel's dead columns hold whatever the vector copy brought along (B's
 * next floats, or a live column again): every lane of the tile is its own sum and dead columns
 * are never stored, so they cost no scalar packing and change no live bit.
 * transB = 0: B stored (k, n) with row stride ldb; transB = 1: B stored (n, k), row stride ldb.
 */
function packB(transB: i32, kc: i32, nw: i32, b: usize, ldb: i32, p0: i32, j0: i32, bp: usize): void {
  const panels = (nw + 7) >> 3;
  const ldbB: usize = (<usize>ldb) << 2;
  for (let q = 0; q < panels; q++) {
    const jq = j0 + (q << 3);
    const w = min(8, nw - (q << 3));
    let dst: usize = bp + ((<usize>q * <usize>kc) << 5);
    if (transB === 0) {
      // 8 floats of each row from column jq; a partial panel reads up to 28 bytes past the row's
      // live columns, as B read in place does
      let src: usize = b + <usize>p0 * ldbB + ((<usize>jq) << 2);
      for (let p = 0; p < kc; p++) {
        v128.store(dst, v128.load(src));
        v128.store(dst, v128.load(src, 16), 16);
        src += ldbB;
        dst += 32;
      }
    } else {
      // op(B)[p, j] = B[j*ldb + p]: storage rows jq..jq+7 become the panel's columns; a partial
      // panel's dead columns re-read storage row jq (never past B's last row)
      const r0: usize = b + <usize>jq * ldbB + ((<usize>p0) << 2);
      const r1 = liveRow(r0, 1, w, ldbB);
      const r2 = liveRow(r0, 2, w, ldbB);
      const r3 = liveRow(r0, 3, w, ldbB);
      const r4 = liveRow(r0, 4, w, ldbB);
      const r5 = liveRow(r0, 5, w, ldbB);
      const r6 = liveRow(r0, 6, w, ldbB);
      const r7 = liveRow(r0, 7, w, ldbB);
      let p = 0;
      for (; p + 4 <= kc; p += 4) {
        const o: usize = (<usize>p) << 2;
        // steps p..p+3 of columns 0..3 (storage rows jq..jq+3), then of columns 4..7
        transpose4(r0 + o, r1 + o, r2 + o, r3 + o, dst, 32);
        transpose4(r4 + o, r5 + o, r6 + o, r7 + o, dst + 16, 32);
        dst += 128;
      }
      packLanes(8, w, kc - p, r0 + ((<usize>p) << 2), 4, ldbB, dst);
    }
  }
}

/**
 * Pack rows i0..i0+h-1 (h <= 4), steps p0..p0+kc-1 of op(A) into ap[4p + r] for r < h; the lanes
 * of dead rows (r >= h) hold a live row again or A's next floats (never stored, as in packB).
 * transA = 0: op(A)[i, p] = A[i*lda + p]; transA = 1: op(A)[i, p] = A[p*lda + i].
 */
function packA(transA: i32, h: i32, kc: i32, a: usize, lda: i32, i0: i32, p0: i32, ap: usize): void {
  const ldaB: usize = (<usize>lda) << 2;
  let dst = ap;
  if (transA !== 0) {
    // 4 floats of each storage row from column i0: a partial panel reads up to 12 bytes past the
    // live ones, as A^T read in place does
    let src: usize = a + <usize>p0 * ldaB + ((<usize>i0) << 2);
    for (let p = 0; p < kc; p++) {
      v128.store(dst, v128.load(src));
      src += ldaB;
      dst += 16;
    }
    return;
  }
  // dead rows re-read row i0 (never past A's last row)
  const r0: usize = a + <usize>i0 * ldaB + ((<usize>p0) << 2);
  const r1 = liveRow(r0, 1, h, ldaB);
  const r2 = liveRow(r0, 2, h, ldaB);
  const r3 = liveRow(r0, 3, h, ldaB);
  let p = 0;
  for (; p + 4 <= kc; p += 4) {
    const o: usize = (<usize>p) << 2;
    transpose4(r0 + o, r1 + o, r2 + o, r3 + o, dst, 16);
    dst += 64;
  }
  packLanes(4, h, kc - p, r0 + ((<usize>p) << 2), 4, ldaB, dst);
}

/**
 * One h x w tile (h <= 4, w <= 8) of C at q0 (row stride ldcB bytes) over kc steps: A values of a
 * step are 4 adjacent floats at pa (next step + sap bytes), B values 8 adjacent floats at pb (next
 * step + sbp bytes). init: start from the tile's current C values (a resumed k block) instead of 0;
 * addC: add the old C after the sum; bias: 0 or a pointer to the tile's first bias value.
 */
// @ts-ignore: decorator
@inline
export function tile(
  h: i32,
  w: i32,
  kc: i32,
  pa: usize,
  sap: usize,
  pb: usize,
  sbp: usize,
  q0: usize,
  ldcB: usize,
  init: bool,
  addC: bool,
  bias: usize,
  scratch: usize,
): void {
  let c00 = f32x4.splat(0);
  let c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0);
  let c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0);
  let c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0);
  let c31 = f32x4.splat(0);
  const full = h === 4 && w === 8;
  if (init || addC) {
    // the tile's current C values (edge tiles go through the scratch tile; its dead lanes keep
    // whatever they hold: never stored)
    if (!full) {
      for (let r = 0; r < h; r++) {
        for (let cc = 0; cc < w; cc++) {
          store<f32>(scratch + ((<usize>(r * 8 + cc)) << 2), load<f32>(q0 + <usize>r * ldcB + ((<usize>cc) << 2)));
        }
      }
    }
  }
  if (init) {
    const s0 = full ? q0 : scratch;
    const s1 = full ? q0 + ldcB : scratch + 32;
    const s2 = full ? q0 + 2 * ldcB : scratch + 64;
    const s3 = full ? q0 + 3 * ldcB : scratch + 96;
    c00 = v128.load(s0);
    c01 = v128.load(s0, 16);
    c10 = v128.load(s1);
    c11 = v128.load(s1, 16);
    c20 = v128.load(s2);
    c21 = v128.load(s2, 16);
    c30 = v128.load(s3);
    c31 = v128.load(s3, 16);
  }
  const end: usize = pa + <usize>kc * sap;
  if (h <= 2) {
    // at most 2 live rows (m = 30, or one row): 2x8, rows 2-3 stay as they are
    while (pa < end) {
      const b0 = v128.load(pb);
      const b1 = v128.load(pb, 16);
      const a0 = v128.load32_splat(pa);
      c00 = madd(a0, b0, c00);
      c01 = madd(a0, b1, c01);
      const a1 = v128.load32_splat(pa, 4);
      c10 = madd(a1, b0, c10);
      c11 = madd(a1, b1, c11);
      pa += sap;
      pb += sbp;
    }
  } else if (w > 4) {
    // the 4x8 microkernel
    while (pa < end) {
      const b0 = v128.load(pb);
      const b1 = v128.load(pb, 16);
      const a0 = v128.load32_splat(pa);
      c00 = madd(a0, b0, c00);
      c01 = madd(a0, b1, c01);
      const a1 = v128.load32_splat(pa, 4);
      c10 = madd(a1, b0, c10);
      c11 = madd(a1, b1, c11);
      const a2 = v128.load32_splat(pa, 8);
      c20 = madd(a2, b0, c20);
      c21 = madd(a2, b1, c21);
      const a3 = v128.load32_splat(pa, 12);
      c30 = madd(a3, b0, c30);
      c31 = madd(a3, b1, c31);
      pa += sap;
      pb += sbp;
    }
  } else {
    // at most 4 live columns (n = 27, 30, 100...): skip the panel's zero half
    while (pa < end) {
      const b0 = v128.load(pb);
      c00 = madd(v128.load32_splat(pa), b0, c00);
      c10 = madd(v128.load32_splat(pa, 4), b0, c10);
      c20 = madd(v128.load32_splat(pa, 8), b0, c20);
      c30 = madd(v128.load32_splat(pa, 12), b0, c30);
      pa += sap;
      pb += sbp;
    }
  }
  if (full) {
    const q1 = q0 + ldcB;
    const q2 = q1 + ldcB;
    const q3 = q2 + ldcB;
    if (addC) {
      c00 = f32x4.add(c00, v128.load(q0));
      c01 = f32x4.add(c01, v128.load(q0, 16));
      c10 = f32x4.add(c10, v128.load(q1));
      c11 = f32x4.add(c11, v128.load(q1, 16));
      c20 = f32x4.add(c20, v128.load(q2));
      c21 = f32x4.add(c21, v128.load(q2, 16));
      c30 = f32x4.add(c30, v128.load(q3));
      c31 = f32x4.add(c31, v128.load(q3, 16));
    }
    if (bias !== 0) {
      const bb0 = v128.load(bias);
      const bb1 = v128.load(bias, 16);
      c00 = f32x4.add(c00, bb0);
      c01 = f32x4.add(c01, bb1);
      c10 = f32x4.add(c10, bb0);
      c11 = f32x4.add(c11, bb1);
      c20 = f32x4.add(c20, bb0);
      c21 = f32x4.add(c21, bb1);
      c30 = f32x4.add(c30, bb0);
      c31 = f32x4.add(c31, bb1);
    }
    v128.store(q0, c00);
    v128.store(q0, c01, 16);
    v128.store(q1, c10);
    v128.store(q1, c11, 16);
    v128.store(q2, c20);
    v128.store(q2, c21, 16);
    v128.store(q3, c30);
    v128.store(q3, c31, 16);
  } else {
    // edge tile: the old C values are in scratch (when needed); finish there, store the live part
    if (addC) {
      c00 = f32x4.add(c00, v128.load(scratch));
      c01 = f32x4.add(c01, v128.load(scratch, 16));
      c10 = f32x4.add(c10, v128.load(scratch, 32));
      c11 = f32x4.add(c11, v128.load(scratch, 48));
      c20 = f32x4.add(c20, v128.load(scratch, 64));
      c21 = f32x4.add(c21, v128.load(scratch, 80));
      c30 = f32x4.add(c30, v128.load(scratch, 96));
      c31 = f32x4.add(c31, v128.load(scratch, 112));
    }
    v128.store(scratch, c00);
    v128.store(scratch, c01, 16);
    v128.store(scratch, c10, 32);
    v128.store(scratch, c11, 48);
    v128.store(scratch, c20, 64);
    v128.store(scratch, c21, 80);
    v128.store(scratch, c30, 96);
    v128.store(scratch, c31, 112);
    for (let r = 0; r < h; r++) {
      const q: usize = q0 + <usize>r * ldcB;
      const s: usize = scratch + ((<usize>r) << 5);
      for (let cc = 0; cc < w; cc++) {
        const o: usize = (<usize>cc) << 2;
        let v = load<f32>(s + o);
        if (bias !== 0) v = v + load<f32>(bias + o);
        store<f32>(q + o, v);
      }
    }
  }
}

/**
 * C(m, n) (+)= op(A)(m, k) @ op(B)(k, n) (+ bias), all row-major with row strides lda, ldb, ldc
 * (floats). transA = 1: A stored (k, m); transB = 1: B stored (n, k). acc != 0 adds into C,
 * otherwise C is overwritten (its old contents never read). bias: 0 or a pointer to n floats.
 * work: GEMM_WORK_BYTES of scratch, 16-byte aligned, owned by this call (one per thread), or 0
 * for the workspace registered with setGemmWork. The modules export this function as it is
 * (assembly/arena.ts, assembly/gemm.ts).
 */
export function gemm(
  transA: i32,
  transB: i32,
  m: i32,
  n: i32,
  k: i32,
  a: usize,
  lda: i32,
  b: usize,
  ldb: i32,
  c: usize,
  ldc: i32,
  acc: i32,
  bias: usize,
  work: usize,
): void {
  if (m <= 0 || n <= 0) return;
  const ldaB: usize = (<usize>lda) << 2;
  const ldbB: usize = (<usize>ldb) << 2;
  const ldcB: usize = (<usize>ldc) << 2;
  const ap = work !== 0 ? work : GEMM_WORK;
  const scratch = ap + <usize>PACK_BYTES;
  if (k <= 0) {
    // empty sum: C = C_old (acc) or 0, plus bias
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        const q: usize = c + <usize>i * ldcB + ((<usize>j) << 2);
        let v: f32 = acc !== 0 ? load<f32>(q) : 0;
        if (bias !== 0) v = v + load<f32>(bias + ((<usize>j) << 2));
        store<f32>(q, v);
      }
    }
    return;
  }
  // k blocks: a block after the first resumes from the partial sums it finds in C (stored and
  // reloaded as float32: exactly where they left off). Without acc, or with acc and k > KC (C_old
  // first: C is the start of every block), any split is exact; with acc and k <= KC the sum must
  // be done before C_old is added, so k stays whole.
  const cOldFirst = acc !== 0 && k > KC;
  let kb = k;
  if (acc === 0 || cOldFirst) {
    const blocks = (k + KB - 1) / KB;
    kb = (k + blocks - 1) / blocks;
  }
  for (let p0 = 0; p0 < k; p0 += kb) {
    const kc = min(kb, k - p0);
    const init = p0 > 0 || cOldFirst;
    const addC = acc !== 0 && !cOldFirst;
    const biasHere: usize = p0 + kc >= k ? bias : 0;
    const kcB: usize = (<usize>kc) << 2;
    // B in place: not transposed and all its k rows span at most IN_PLACE_BYTES (a block of a
    // larger B read in place measured slower than packed); A^T likewise
    const bInPlace = transB === 0 && <usize>k * ldbB <= IN_PLACE_BYTES;
    const aInPlace = transA !== 0 && <usize>k * ldaB <= IN_PLACE_BYTES;
    // the A block: all of m when it fits in 3/4 of the workspace, else equal blocks that do
    let mc = m;
    let aBytes: i32 = 0;
    if (!aInPlace) {
      const most = max(4, ((PACK_BYTES >> 2) * 3) / (kc << 2));
      const blocks = (m + most - 1) / most;
      mc = (((m + blocks - 1) / blocks) + 3) & ~3;
      aBytes = mc * (kc << 2);
    }
    const bp: usize = ap + <usize>aBytes;
    const nc = bInPlace ? n : max(8, ((PACK_BYTES - aBytes) / (kc << 2)) & ~7);
    const sbp: usize = bInPlace ? ldbB : 32;
    const panelB: usize = bInPlace ? 32 : kcB << 3;
    const sap: usize = aInPlace ? ldaB : 16;
    const panelA: usize = aInPlace ? 16 : kcB << 2;
    // an A block (mc x kc, L2) packed once; for it, each B block (kc x nc) packed once; each
    // 8-column B panel (L1) then meets every 4-row A panel of the block in turn
    for (let i1 = 0; i1 < m; i1 += mc) {
      const mh = min(mc, m - i1);
      let pa0: usize = a + <usize>p0 * ldaB + ((<usize>i1) << 2);
      if (!aInPlace) {
        for (let ir = 0; ir < mh; ir += 4) {
          packA(transA, min(4, mh - ir), kc, a, lda, i1 + ir, p0, ap + <usize>(ir >> 2) * panelA);
        }
        pa0 = ap;
      }
      for (let j0 = 0; j0 < n; j0 += nc) {
        const nw = min(nc, n - j0);
        let pb: usize = b + <usize>p0 * ldbB + ((<usize>j0) << 2);
        if (!bInPlace) {
          packB(transB, kc, nw, b, ldb, p0, j0, bp);
          pb = bp;
        }
        for (let jr = 0; jr < nw; jr += 8) {
          const w = min(8, nw - jr);
          const bj: usize = biasHere !== 0 ? biasHere + ((<usize>(j0 + jr)) << 2) : 0;
          let pa = pa0;
          let crow: usize = c + <usize>i1 * ldcB + ((<usize>(j0 + jr)) << 2);
          for (let ir = 0; ir < mh; ir += 4) {
            tile(min(4, mh - ir), w, kc, pa, sap, pb, sbp, crow, ldcB, init, addC, bj, scratch);
            pa += panelA;
            crow += ldcB << 2;
          }
          pb += panelB;
        }
      }
    }
  }
}
