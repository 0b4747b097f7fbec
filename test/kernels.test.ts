// wasmKernels.gemm (WebAssembly SIMD) against referenceKernels.gemm (plain TypeScript): all four
// transpose combinations, assign and accumulate, odd and degenerate sizes, the makemore lecture
// shapes (forward and both backward forms) and row counts that cross the wrapper's row blocks.
//
// Tolerance: the two kernels add the k products in a different order (the wasm kernel keeps
// per-tile f32x4 partial sums; the reference adds into C one product at a time or in 4 strided
// partial sums), so float32 rounding differs. Each entry may differ by 1e-5 of its magnitude
// sum_p |a_ip * b_pj| (+ |C_ij| when accumulating); a bug is off by O(1) of it.

import assert from "node:assert/strict";
import { test } from "node:test";
import { Generator } from "../src/random/generator.ts";
import { referenceKernels } from "../src/tensor/kernels.ts";
import { wasmAvailable, wasmKernels } from "../src/tensor/wasm/kernels-wasm.ts";

const REL_TOL = 1e-5;

function randn(g: Generator, size: number): Float32Array {
  const out = new Float32Array(size);
  g.randnInto(out);
  return out;
}

/**
 * Run both kernels on the same inputs and compare every entry of C (and that nothing past m*n is
 * touched). Returns the largest error seen, as a fraction of the tolerance.
 */
function check(
  seed: number,
  transA: boolean,
  transB: boolean,
  m: number,
  n: number,
  k: number,
  acc: boolean,
): number {
  const g = new Generator().manualSeed(seed);
  const A = randn(g, m * k);
  const B = randn(g, k * n);
  const tail = 3;
  const C0 = new Float32Array(m * n + tail);
  // Without acc the old contents of C must not matter: poison them.
  if (acc) g.randnInto(C0);
  else C0.fill(Number.NaN, 0, m * n).fill(7, m * n);
  const want = C0.slice();
  const got = C0.slice();
  referenceKernels.gemm(transA, transB, m, n, k, A, B, want, acc);
  wasmKernels.gemm(transA, transB, m, n, k, A, B, got, acc);
  const what = `gemm(${transA}, ${transB}, m=${m}, n=${n}, k=${k}, acc=${acc}), seed ${seed}`;
  for (let t = 0; t < tail; t++) {
    assert.equal(got[m * n + t], C0[m * n + t], `${what}: wrote past m*n`);
  }
  return assertClose(what, transA, transB, m, n, k, A, B, acc ? C0 : null, got, want);
}

/**
 * Assert got ~ want entry by entry, with the tolerance scaled by sum_p |a_ip * b_pj| (+ |C0_ij|),
 * computed by the reference kernel on |A| and |B|. Returns the largest error / tolerance.
 */
function assertClose(
  what: string,
  transA: boolean,
  transB: boolean,
  m: number,
  n: number,
  k: number,
  A: Float32Array,
  B: Float32Array,
  C0: Float32Array | null,
  got: Float32Array,
  want: Float32Array,
): number {
  const mag = C0 ? C0.map(Math.abs) : new Float32Array(m * n);
  referenceKernels.gemm(transA, transB, m, n, k, A.map(Math.abs), B.map(Math.abs), mag, true);
  let worst = 0;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      const err = Math.abs(got[i * n + j]! - want[i * n + j]!);
      const tol = REL_TOL * mag[i * n + j]! + 1e-30;
      if (!(err <= tol)) {
        assert.fail(`${what}: C[${i},${j}] = ${got[i * n + j]}, reference ${want[i * n + j]} (tol ${tol})`);
      }
      worst = Math.max(worst, err / tol);
    }
  }
  return worst;
}

const COMBOS: [boolean, boolean][] = [
  [false, false],
  [false, true],
  [true, false],
  [true, true],
];

test("the WebAssembly SIMD module instantiates", () => {
  assert.equal(wasmAvailable(), true);
});

test("odd and tiny sizes, all transpose combinations, assign and accumulate", () => {
  const sizes = [1, 2, 3, 4, 5, 7, 8, 9, 17, 31, 33, 65];
  let seed = 1;
  // Every size on each axis with the others small, then random triples from the list.
  for (const s of sizes) {
    for (const [m, n, k] of [
      [s, 3, 5],
      [5, s, 3],
      [3, 5, s],
      [s, s, s],
    ] as const) {
      for (const [ta, tb] of COMBOS) {
        for (const acc of [false, true]) check(seed++, ta, tb, m, n, k, acc);
      }
    }
  }
  const pick = new Generator().manualSeed(99);
  const u32 = new Float32Array(3);
  for (let trial = 0; trial < 60; trial++) {
    pick.randInto(u32);
    const [m, n, k] = Array.from(u32, (u) => sizes[Math.floor(u * sizes.length)]!);
    for (const [ta, tb] of COMBOS) {
      for (const acc of [false, true]) check(seed++, ta, tb, m!, n!, k!, acc);
    }
  }
});

test("degenerate sizes: k = 0 zeroes or keeps C, m or n = 0 touches nothing", () => {
  for (const [ta, tb] of COMBOS) {
    const C = new Float32Array([1, 2, 3, 4, 5, 6, 7]);
    wasmKernels.gemm(ta, tb, 2, 3, 0, new Float32Array(0), new Float32Array(0), C, true);
    assert.deepEqual(Array.from(C), [1, 2, 3, 4, 5, 6, 7]);
    wasmKernels.gemm(ta, tb, 2, 3, 0, new Float32Array(0), new Float32Array(0), C, false);
    assert.deepEqual(Array.from(C), [0, 0, 0, 0, 0, 0, 7]);
    const D = new Float32Array([9, 9]);
    wasmKernels.gemm(ta, tb, 0, 2, 4, new Float32Array(0), new Float32Array(8), D, false);
    wasmKernels.gemm(ta, tb, 2, 0, 4, new Float32Array(8), new Float32Array(0), D, false);
    assert.deepEqual(Array.from(D), [9, 9]);
  }
});

test("lecture shapes: forward NN, backward NT (dX = G @ W^T) and TN (dW = X^T @ G)", () => {
  const lecture = [
    // [m, k, n] of X(m,k) @ W(k,n)
    [32, 30, 200],
    [32, 200, 27],
    [32, 100, 100],
    [32, 30, 100],
    [32, 100, 27],
  ];
  let seed = 1000;
  for (const [m, k, n] of lecture as [number, number, number][]) {
    for (const acc of [false, true]) {
      check(seed++, false, false, m, n, k, acc);
      check(seed++, false, true, m, k, n, acc);
      check(seed++, true, false, k, n, m, acc);
      check(seed++, true, true, m, n, k, acc);
    }
  }
});

test("many rows: several row blocks, for every transpose combination", () => {
  let seed = 2000;
  for (const [ta, tb] of COMBOS) {
    for (const acc of [false, true]) {
      check(seed++, ta, tb, 1237, 29, 31, acc);
      check(seed++, ta, tb, 2050, 200, 30, acc);
    }
  }
});

test("evaluation shape (182625,30) @ (30,200): row windows across the whole output", () => {
  // The reference would take seconds on all 182625 rows; rows of NN depend only on the same rows of
  // A, so compare 40 windows of 9 rows spread over the output, including both ends.
  const [m, k, n] = [182625, 30, 200];
  const g = new Generator().manualSeed(3000);
  const A = randn(g, m * k);
  const B = randn(g, k * n);
  const got = new Float32Array(m * n).fill(Number.NaN);
  wasmKernels.gemm(false, false, m, n, k, A, B, got, false);
  const rows = 9;
  for (let w = 0; w < 40; w++) {
    const r0 = Math.min(m - rows, Math.floor((w * m) / 39));
    const Aw = A.subarray(r0 * k, (r0 + rows) * k);
    const want = new Float32Array(rows * n);
    referenceKernels.gemm(false, false, rows, n, k, Aw, B, want, false);
    const what = `eval gemm rows ${r0}..${r0 + rows - 1}`;
    assertClose(what, false, false, rows, n, k, Aw, B, null, got.subarray(r0 * n, (r0 + rows) * n), want);
  }
  // A small call after the memory grew for the big one (views must be re-acquired).
  check(3001, false, true, 7, 9, 11, true);
});
