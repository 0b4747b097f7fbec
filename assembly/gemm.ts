// AssemblyScript source of the WebAssembly SIMD gemm (f32x4). Compiled by `npm run build:wasm`
// (scripts/build-wasm.ts) into src/tensor/wasm/gemm.wasm.ts; the wrapper that manages memory and
// copies is src/tensor/wasm/kernels-wasm.ts.
//
// Not TypeScript: `i32`, `usize`, `v128`, `f32x4`, `load<T>`, `store<T>` and `<usize>` casts are
// AssemblyScript builtins. This file is outside tsconfig's include on purpose.
//
// Scheme (BLIS-like, sized for the small-k, small-m shapes of makemore):
//   * B is packed once per call into column panels of NR = 8: panel jp holds op(B)[p, 8jp .. 8jp+7]
//     for p = 0..k-1, contiguous, zero-padded past n. This is also where B^T gets transposed.
//   * A is packed one row panel at a time (MR = 4 rows): ap[4p + r] = op(A)[i0 + r, p], zero-padded
//     past m; A^T needs no transposition here, plain A is transposed with 4x4 shuffles.
//   * The microkernel keeps a 4 x 8 tile of C in eight v128 accumulators. Per p it loads two v128 of
//     B, splats four A values and does 8 mul + 8 add: every load is unit-stride.
//   * Edge tiles: a last row panel with <= 2 live rows runs a 2x8 kernel, a last column panel with
//     <= 4 live columns a 4x4 one; any tile that hangs over C is written through a scratch tile.
//   * Measured on V8 (Node 20, x86-64): plain loops beat unrolling p (V8 then spills), and ending
//     the p loop on a pointer compare beats a counter by ~10%.
//
// All pointers are byte offsets into this module's memory; the caller lays out the buffers.

/** First byte the caller may use as scratch memory (everything below belongs to the module). */
export function heapBase(): usize {
  return __heap_base;
}

/**
 * Pack op(B) (k x n) into column panels of 8: bp[(jp*k + p)*8 + c] = op(B)[p, 8*jp + c], zero past n.
 * transB = 0: B stored (k, n); transB = 1: B stored (n, k). Writes ceil(n/8)*8*k floats at bp.
 */
export function packB(transB: i32, n: i32, k: i32, b: usize, bp: usize): void {
  const panels = (n + 7) >> 3;
  for (let jp = 0; jp < panels; jp++) {
    const j0 = jp << 3;
    const w = min(8, n - j0);
    let dst: usize = bp + ((<usize>jp * <usize>k) << 5);
    if (transB === 0) {
      const stride: usize = (<usize>n) << 2;
      let src: usize = b + ((<usize>j0) << 2);
      if (w === 8) {
        for (let p = 0; p < k; p++) {
          v128.store(dst, v128.load(src));
          v128.store(dst, v128.load(src, 16), 16);
          src += stride;
          dst += 32;
        }
      } else {
        for (let p = 0; p < k; p++) {
          for (let c = 0; c < 8; c++) {
            store<f32>(dst + ((<usize>c) << 2), c < w ? load<f32>(src + ((<usize>c) << 2)) : <f32>0);
          }
          src += stride;
          dst += 32;
        }
      }
    } else {
      // B stored (n, k): op(B)[p, j] = B[j*k + p]; rows j0..j0+7 of storage become panel columns.
      const rs: usize = (<usize>k) << 2;
      const r0: usize = b + ((<usize>j0 * <usize>k) << 2);
      if (w === 8) {
        const r1 = r0 + rs;
        const r2 = r1 + rs;
        const r3 = r2 + rs;
        const r4 = r3 + rs;
        const r5 = r4 + rs;
        const r6 = r5 + rs;
        const r7 = r6 + rs;
        let p = 0;
        for (; p + 4 <= k; p += 4) {
          const o: usize = (<usize>p) << 2;
          // Columns 0..3 of the panel, rows p..p+3: a 4x4 transpose of storage rows j0..j0+3.
          let x0 = v128.load(r0 + o);
          let x1 = v128.load(r1 + o);
          let x2 = v128.load(r2 + o);
          let x3 = v128.load(r3 + o);
          let t0 = v128.shuffle<f32>(x0, x1, 0, 4, 1, 5);
          let t1 = v128.shuffle<f32>(x2, x3, 0, 4, 1, 5);
          let t2 = v128.shuffle<f32>(x0, x1, 2, 6, 3, 7);
          let t3 = v128.shuffle<f32>(x2, x3, 2, 6, 3, 7);
          v128.store(dst, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5));
          v128.store(dst, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7), 32);
          v128.store(dst, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5), 64);
          v128.store(dst, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7), 96);
          // Columns 4..7 from storage rows j0+4..j0+7.
          x0 = v128.load(r4 + o);
          x1 = v128.load(r5 + o);
          x2 = v128.load(r6 + o);
          x3 = v128.load(r7 + o);
          t0 = v128.shuffle<f32>(x0, x1, 0, 4, 1, 5);
          t1 = v128.shuffle<f32>(x2, x3, 0, 4, 1, 5);
          t2 = v128.shuffle<f32>(x0, x1, 2, 6, 3, 7);
          t3 = v128.shuffle<f32>(x2, x3, 2, 6, 3, 7);
          v128.store(dst, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5), 16);
          v128.store(dst, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7), 48);
          v128.store(dst, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5), 80);
          v128.store(dst, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7), 112);
          dst += 128;
        }
        for (; p < k; p++) {
          const o: usize = (<usize>p) << 2;
          store<f32>(dst, load<f32>(r0 + o));
          store<f32>(dst, load<f32>(r1 + o), 4);
          store<f32>(dst, load<f32>(r2 + o), 8);
          store<f32>(dst, load<f32>(r3 + o), 12);
          store<f32>(dst, load<f32>(r4 + o), 16);
          store<f32>(dst, load<f32>(r5 + o), 20);
          store<f32>(dst, load<f32>(r6 + o), 24);
          store<f32>(dst, load<f32>(r7 + o), 28);
          dst += 32;
        }
      } else {
        for (let p = 0; p < k; p++) {
          const o: usize = (<usize>p) << 2;
          for (let c = 0; c < 8; c++) {
            store<f32>(dst + ((<usize>c) << 2), c < w ? load<f32>(r0 + <usize>c * rs + o) : <f32>0);
          }
          dst += 32;
        }
      }
    }
  }
}

/**
 * Pack rows i0..i0+h-1 (h <= 4) of op(A) into ap[4p + r], zero rows past h.
 * transA = 0: op(A)[i, p] = A[i*lda + p]; transA = 1: op(A)[i, p] = A[p*lda + i]. a points at A[0].
 */
function packA(transA: i32, h: i32, k: i32, a: usize, lda: i32, i0: i32, ap: usize): void {
  const ldaBytes: usize = (<usize>lda) << 2;
  if (transA !== 0) {
    let src: usize = a + ((<usize>i0) << 2);
    let dst = ap;
    if (h === 4) {
      for (let p = 0; p < k; p++) {
        v128.store(dst, v128.load(src));
        src += ldaBytes;
        dst += 16;
      }
    } else {
      for (let p = 0; p < k; p++) {
        for (let r = 0; r < 4; r++) {
          store<f32>(dst + ((<usize>r) << 2), r < h ? load<f32>(src + ((<usize>r) << 2)) : <f32>0);
        }
        src += ldaBytes;
        dst += 16;
      }
    }
    return;
  }
  const r0: usize = a + <usize>i0 * ldaBytes;
  if (h === 4) {
    const r1 = r0 + ldaBytes;
    const r2 = r1 + ldaBytes;
    const r3 = r2 + ldaBytes;
    let dst = ap;
    let p = 0;
    for (; p + 4 <= k; p += 4) {
      const o: usize = (<usize>p) << 2;
      const x0 = v128.load(r0 + o);
      const x1 = v128.load(r1 + o);
      const x2 = v128.load(r2 + o);
      const x3 = v128.load(r3 + o);
      const t0 = v128.shuffle<f32>(x0, x1, 0, 4, 1, 5);
      const t1 = v128.shuffle<f32>(x2, x3, 0, 4, 1, 5);
      const t2 = v128.shuffle<f32>(x0, x1, 2, 6, 3, 7);
      const t3 = v128.shuffle<f32>(x2, x3, 2, 6, 3, 7);
      v128.store(dst, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5));
      v128.store(dst, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7), 16);
      v128.store(dst, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5), 32);
      v128.store(dst, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7), 48);
      dst += 64;
    }
    for (; p < k; p++) {
      const o: usize = (<usize>p) << 2;
      store<f32>(dst, load<f32>(r0 + o));
      store<f32>(dst, load<f32>(r1 + o), 4);
      store<f32>(dst, load<f32>(r2 + o), 8);
      store<f32>(dst, load<f32>(r3 + o), 12);
      dst += 16;
    }
  } else {
    let dst = ap;
    for (let p = 0; p < k; p++) {
      const o: usize = (<usize>p) << 2;
      for (let r = 0; r < 4; r++) {
        store<f32>(dst + ((<usize>r) << 2), r < h ? load<f32>(r0 + <usize>r * ldaBytes + o) : <f32>0);
      }
      dst += 16;
    }
  }
}

/**
 * C(m, n) (+)= op(A)(m, k) @ op(B)(k, n) for one block of rows, with B already packed by packB.
 * C is row-major with row stride n at c; acc != 0 adds into C, otherwise C is overwritten.
 * ap is scratch for one packed A panel (16*k bytes), scratch for one 4x8 tile (128 bytes).
 */
export function gemmBlock(
  transA: i32,
  m: i32,
  n: i32,
  k: i32,
  a: usize,
  lda: i32,
  bp: usize,
  c: usize,
  acc: i32,
  ap: usize,
  scratch: usize,
): void {
  const panels = (n + 7) >> 3;
  const panelBytes: usize = (<usize>k) << 5;
  const ldc: usize = (<usize>n) << 2;
  for (let i0 = 0; i0 < m; i0 += 4) {
    const h = min(4, m - i0);
    packA(transA, h, k, a, lda, i0, ap);
    const crow: usize = c + <usize>i0 * ldc;
    for (let jp = 0; jp < panels; jp++) {
      const j0 = jp << 3;
      const w = min(8, n - j0);
      let pa = ap;
      let pb: usize = bp + <usize>jp * panelBytes;
      const paEnd: usize = ap + ((<usize>k) << 4);
      let c00 = f32x4.splat(0);
      let c01 = f32x4.splat(0);
      let c10 = f32x4.splat(0);
      let c11 = f32x4.splat(0);
      let c20 = f32x4.splat(0);
      let c21 = f32x4.splat(0);
      let c30 = f32x4.splat(0);
      let c31 = f32x4.splat(0);
      if (h <= 2) {
        // Last row panel with at most 2 live rows (m = 30, or a single row): 2x8, rows 2-3 stay 0.
        while (pa < paEnd) {
          const b0 = v128.load(pb);
          const b1 = v128.load(pb, 16);
          const a0 = v128.load32_splat(pa);
          c00 = f32x4.add(c00, f32x4.mul(a0, b0));
          c01 = f32x4.add(c01, f32x4.mul(a0, b1));
          const a1 = v128.load32_splat(pa, 4);
          c10 = f32x4.add(c10, f32x4.mul(a1, b0));
          c11 = f32x4.add(c11, f32x4.mul(a1, b1));
          pa += 16;
          pb += 32;
        }
      } else if (w > 4) {
        // The 4x8 microkernel: 8 accumulators, 2 loads of B and 4 splats of A per step of p.
        while (pa < paEnd) {
          const b0 = v128.load(pb);
          const b1 = v128.load(pb, 16);
          const a0 = v128.load32_splat(pa);
          c00 = f32x4.add(c00, f32x4.mul(a0, b0));
          c01 = f32x4.add(c01, f32x4.mul(a0, b1));
          const a1 = v128.load32_splat(pa, 4);
          c10 = f32x4.add(c10, f32x4.mul(a1, b0));
          c11 = f32x4.add(c11, f32x4.mul(a1, b1));
          const a2 = v128.load32_splat(pa, 8);
          c20 = f32x4.add(c20, f32x4.mul(a2, b0));
          c21 = f32x4.add(c21, f32x4.mul(a2, b1));
          const a3 = v128.load32_splat(pa, 12);
          c30 = f32x4.add(c30, f32x4.mul(a3, b0));
          c31 = f32x4.add(c31, f32x4.mul(a3, b1));
          pa += 16;
          pb += 32;
        }
      } else {
        // Last panel with at most 4 live columns (n = 27, 30, 100...): skip its zero half.
        while (pa < paEnd) {
          const b0 = v128.load(pb);
          c00 = f32x4.add(c00, f32x4.mul(v128.load32_splat(pa), b0));
          c10 = f32x4.add(c10, f32x4.mul(v128.load32_splat(pa, 4), b0));
          c20 = f32x4.add(c20, f32x4.mul(v128.load32_splat(pa, 8), b0));
          c30 = f32x4.add(c30, f32x4.mul(v128.load32_splat(pa, 12), b0));
          pa += 16;
          pb += 32;
        }
      }
      if (h === 4 && w === 8) {
        const q0: usize = crow + ((<usize>j0) << 2);
        const q1 = q0 + ldc;
        const q2 = q1 + ldc;
        const q3 = q2 + ldc;
        if (acc !== 0) {
          c00 = f32x4.add(c00, v128.load(q0));
          c01 = f32x4.add(c01, v128.load(q0, 16));
          c10 = f32x4.add(c10, v128.load(q1));
          c11 = f32x4.add(c11, v128.load(q1, 16));
          c20 = f32x4.add(c20, v128.load(q2));
          c21 = f32x4.add(c21, v128.load(q2, 16));
          c30 = f32x4.add(c30, v128.load(q3));
          c31 = f32x4.add(c31, v128.load(q3, 16));
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
        // Edge tile: spill the full 4x8 result, then write only the rows and columns inside C.
        v128.store(scratch, c00);
        v128.store(scratch, c01, 16);
        v128.store(scratch, c10, 32);
        v128.store(scratch, c11, 48);
        v128.store(scratch, c20, 64);
        v128.store(scratch, c21, 80);
        v128.store(scratch, c30, 96);
        v128.store(scratch, c31, 112);
        for (let r = 0; r < h; r++) {
          const q: usize = crow + <usize>r * ldc + ((<usize>j0) << 2);
          const s: usize = scratch + ((<usize>r) << 5);
          for (let cc = 0; cc < w; cc++) {
            const o: usize = (<usize>cc) << 2;
            const v = load<f32>(s + o);
            store<f32>(q + o, acc !== 0 ? load<f32>(q + o) + v : v);
          }
        }
      }
    }
  }
}
