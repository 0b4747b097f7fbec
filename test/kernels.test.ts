// wasmKernels.gemm (WebAssembly SIMD) against referenceKernels.gemm (plain TypeScript): all four
// transpose combinations, assign and accumulate, odd and degenerate sizes, the makemore lecture
// shapes (forward and both backward forms) and row counts that cross the wrapper's row blocks.
//
// Tolerance: the two kernels add the k products in a different order (the wasm kernel keeps
// per-tile f32x4 partial sums; the reference adds into C one product at a time or in 4 strided
// partial sums), so float32 rounding differs. Each entry may differ by 1e-5 of its magnitude
// sum_p |a_ip * b_pj| (+ |C_ij| when accumulating); a bug is off by O(1) of it.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { stepFlops, verdict } from "../src/bench/scaling.ts";
import { parseLines, prepareData } from "../src/data/dataset.ts";
import { buildModel, MLP, type ModelSpec, presetSpec } from "../src/models/mlp.ts";
import type { BatchNorm1d, Linear } from "../src/nn/modules.ts";
import { Generator } from "../src/random/generator.ts";
import { type GemmCall, setGemmLog } from "../src/tensor/engine.ts";
import { arenaReference, referenceKernels, SGD_FLAGS } from "../src/tensor/kernels.ts";
import { multinomialOne } from "../src/tensor/random.ts";
import { Tensor } from "../src/tensor/tensor.ts";
import { Arena, type ArenaExports } from "../src/tensor/wasm/arena-wasm.ts";
import { wasmAvailable, wasmKernels } from "../src/tensor/wasm/kernels-wasm.ts";
import { fmaActive, fmaModule, plainModule, wasmModule } from "../src/tensor/wasm/load.ts";
import { sampleWords, splitLoss } from "../src/train/evaluate.ts";
import { forwardPlanFor, planOf, runEagerly } from "../src/train/plan.ts";
import { LECTURE_TRAIN, train } from "../src/train/train.ts";
import { scalingRow } from "./support/scaling-row.ts";

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

// ---------------------------------------------------------------------------------------------
// The arena kernels (assembly/arena.ts, run by src/tensor/engine.ts) against their reference
// twins in src/tensor/kernels.ts. Inputs are copied into an arena, the wasm kernel runs on
// pointers, the result is compared with the reference run on plain Float32Arrays. Most kernels
// must agree bit for bit; the gemms to the gemm tolerance above; tanh and cross-entropy (float32
// polynomial exp) to 1 ulp / 1e-6.

const arena = Arena.create();

/** Copy arrays into a fresh region of the arena; returns their byte offsets. */
function place(...arrays: (Float32Array | Int32Array)[]): number[] {
  const a = arena!;
  return arrays.map((arr) => {
    const ptr = scratchTop;
    scratchTop += ((arr.length + 8 + 3) & ~3) * 4;
    assert.ok(scratchTop < a.f32.length * 4, "test arena too small");
    if (arr instanceof Int32Array) a.i32.set(arr, ptr >> 2);
    else a.f32.set(arr, ptr >> 2);
    // poison the padding: kernels may read it but must not let it into results
    a.f32.fill(Number.NaN, (ptr >> 2) + arr.length, (ptr >> 2) + arr.length + 8);
    return ptr;
  });
}
let scratchTop = 0;
function resetArena(): void {
  scratchTop = arena!.bytes;
}
const out = (ptr: number, n: number) => arena!.f32.slice(ptr >> 2, (ptr >> 2) + n);
const alloc = (n: number, fill = Number.NaN) => place(new Float32Array(n).fill(fill))[0];

function exactly(what: string, got: Float32Array, want: Float32Array): void {
  assert.equal(got.length, want.length);
  for (let i = 0; i < want.length; i++) {
    if (!Object.is(got[i], want[i])) assert.fail(`${what}[${i}]: ${got[i]}, reference ${want[i]}`);
  }
}

function ulpsApart(a: number, b: number): number {
  if (Object.is(a, b)) return 0;
  const f = new Float32Array([a, b]);
  const i = new Int32Array(f.buffer);
  if (Math.sign(f[0]) !== Math.sign(f[1]) && f[0] !== 0 && f[1] !== 0) return Number.POSITIVE_INFINITY;
  return Math.abs(i[0] - i[1]);
}

if (arena) {
  arena.seal();
  // a 16 MB test arena: the module's memory is sealed at its initial size, so grow it here
  arena.ex.memory.grow(256);
  arena.f32 = new Float32Array(arena.ex.memory.buffer);
  arena.i32 = new Int32Array(arena.ex.memory.buffer);
}

test("the arena module instantiates", () => {
  assert.ok(arena, "assembly/arena.ts did not instantiate (WebAssembly SIMD missing?)");
});

const ODD = [1, 2, 3, 4, 5, 7, 8, 9, 13, 27, 30, 33];

test("arena gemm NN (+ bias) and TN against the reference gemm, odd sizes", () => {
  const g = new Generator().manualSeed(11);
  const pick = new Float32Array(3);
  let seed = 0;
  for (let trial = 0; trial < 150; trial++) {
    g.randInto(pick);
    const [m, n, k] = Array.from(pick, (u) => ODD[Math.floor(u * ODD.length)]);
    for (const acc of [false, true]) {
      resetArena();
      const A = randn(g, m * k);
      const B = randn(g, k * n);
      const bias = randn(g, n);
      const C0 = randn(g, m * n);
      const withBias = trial % 2 === 0 && !acc;
      // NN: C (+)= A @ B (+ bias)
      const [pa, pb, pc, pbias] = place(A, B, acc ? C0 : new Float32Array(m * n).fill(Number.NaN), bias);
      arena!.ex.gemm(0, 0, m, n, k, pa, k, pb, n, pc, n, acc ? 1 : 0, withBias ? pbias : 0, 0);
      const want = acc ? C0.slice() : new Float32Array(m * n);
      referenceKernels.gemm(false, false, m, n, k, A, B, want, acc);
      if (withBias) for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) want[i * n + j] += bias[j];
      const magC = acc ? C0 : withBias ? new Float32Array(m * n).map((_, i) => bias[i % n]) : null;
      assertClose(
        `gemm NN m=${m} n=${n} k=${k} acc=${acc} bias=${withBias} (${seed++})`,
        false,
        false,
        m,
        n,
        k,
        A,
        B,
        magC,
        out(pc, m * n),
        want,
      );
      // TN: C (+)= A^T @ B with A stored (k, m)
      const [qa, qb, qc] = place(A, B, acc ? C0 : new Float32Array(m * n).fill(Number.NaN));
      arena!.ex.gemm(1, 0, m, n, k, qa, m, qb, n, qc, n, acc ? 1 : 0, 0, 0);
      const want2 = acc ? C0.slice() : new Float32Array(m * n);
      referenceKernels.gemm(true, false, m, n, k, A, B, want2, acc);
      assertClose(
        `gemm TN m=${m} n=${n} k=${k} acc=${acc}`,
        true,
        false,
        m,
        n,
        k,
        A,
        B,
        acc ? C0 : null,
        out(qc, m * n),
        want2,
      );
    }
  }
  // the lecture's shapes and a long evaluation block, NN with bias
  for (const [m, k, n] of [
    [32, 30, 200],
    [32, 200, 27],
    [32, 100, 100],
    [256, 30, 200],
    [97, 100, 27],
  ]) {
    resetArena();
    const A = randn(g, m * k);
    const B = randn(g, k * n);
    const [pa, pb, pc] = place(A, B, new Float32Array(m * n));
    arena!.ex.gemm(0, 0, m, n, k, pa, k, pb, n, pc, n, 0, 0, 0);
    const want = new Float32Array(m * n);
    referenceKernels.gemm(false, false, m, n, k, A, B, want, false);
    assertClose(`gemm NN lecture ${m}x${k}x${n}`, false, false, m, n, k, A, B, null, out(pc, m * n), want);
  }
});

/**
 * fma(a, b, c) correctly rounded to float32, for float32 a, b, c: the product of two float32 is
 * exact in float64 (48 bits), so p + c is the only rounding. Rounding p + c to float64 first and
 * then to float32 can go wrong (double rounding) only when the float64 sum lands exactly on a
 * float32 midpoint; TwoSum gives the exact error e = (p + c) - sum, whose sign then says which way
 * the true value lies.
 */
function fma32(a: number, b: number, c: number): number {
  const p = a * b;
  const sum = p + c;
  const r = Math.fround(sum);
  if (!Number.isFinite(sum) || r === sum) return r;
  const bb = sum - p;
  const e = p - (sum - bb) + (c - bb);
  if (e === 0) return r;
  // sum is a midpoint iff its reflection about r is a float32 (the other neighbour)
  const other = r + 2 * (sum - r);
  if (Math.fround(other) !== other) return r;
  return e > 0 ? Math.max(r, other) : Math.min(r, other);
}

/**
 * The gemm's documented summation order as a scalar float32 model: s = 0; for p in order,
 * s = fma(a, b, s) rounded once (fused: the relaxed-SIMD build, src/tensor/wasm/load.ts) or
 * s = round(s + round(a * b)) (the plain build); then + C_old, then + bias. With acc and k past
 * the k block (1024 in assembly/gemm-kernel.ts) C_old comes first instead. Strides lda/ldb/ldc.
 */
function sequentialGemm(
  fused: boolean,
  transA: boolean,
  transB: boolean,
  m: number,
  n: number,
  k: number,
  A: Float32Array,
  lda: number,
  B: Float32Array,
  ldb: number,
  C: Float32Array,
  ldc: number,
  acc: boolean,
  bias: Float32Array | null,
): void {
  const f = Math.fround;
  const cFirst = acc && k > 1024;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = cFirst ? C[i * ldc + j] : 0;
      for (let p = 0; p < k; p++) {
        const a = transA ? A[p * lda + i] : A[i * lda + p];
        const b = transB ? B[j * ldb + p] : B[p * ldb + j];
        s = fused ? fma32(a, b, s) : f(s + f(a * b));
      }
      if (acc && !cFirst) s = f(s + C[i * ldc + j]);
      if (bias) s = f(s + bias[j]);
      C[i * ldc + j] = s;
    }
  }
}

/**
 * Both builds of the arena module as instances of their own, memory as large as arena's:
 * plain (mul + add) and, where this engine and CPU have it, relaxed SIMD (fused multiply-add),
 * whichever of them src/tensor/wasm/load.ts has put into effect.
 */
const builds = (
  [
    [false, plainModule("arena")],
    [true, fmaModule("arena")],
  ] as const
).flatMap(([fused, mod]) => {
  if (!mod) return [];
  const ex = new WebAssembly.Instance(mod, {}).exports as unknown as ArenaExports;
  ex.memory.grow(arena!.ex.memory.buffer.byteLength / 65536 - ex.memory.buffer.byteLength / 65536);
  // its gemm workspace: below arena's first free byte, where the fused arena keeps its own
  ex.setGemmWork((ex.heapBase() + 15) & ~15);
  return [{ fused, ex, f32: new Float32Array(ex.memory.buffer) }];
});
const fmaBuild = builds.find((b) => b.fused) ?? null;

test("fma32 is the correctly rounded fused multiply-add: known ties, and the CPU's own FMA on hard cases", () => {
  // (1 + 2^-12)^2 - 1 = 2^-11 + 2^-24 exactly; unfused, the product's 2^-24 is a tie rounded away
  const a = Math.fround(1 + 2 ** -12);
  assert.equal(fma32(a, a, -1), 2 ** -11 + 2 ** -24);
  assert.equal(Math.fround(Math.fround(a * a) - 1), 2 ** -11);
  // double rounding: a * a is the midpoint between 1 + 2^-11 and 1 + 2^-11 + 2^-23; adding 2^-80
  // leaves it a midpoint in float64 (ties to even: down), but the exact sum is above it (up)
  assert.equal(fma32(a, a, 2 ** -80), 1 + 2 ** -11 + 2 ** -23);
  assert.equal(fma32(a, a, -(2 ** -80)), 1 + 2 ** -11);
  assert.equal(Math.fround(a * a + 2 ** -80), 1 + 2 ** -11);
  if (!fmaBuild) return; // no fused multiply-add in this engine or CPU to compare with
  // against the relaxed-SIMD gemm's multiply-add on this CPU: products that are float32 midpoints
  // ((1 + i 2^-12)(1 + j 2^-12) with i j odd) plus addends far below them, of both signs, and
  // random operands with addends of every scale
  const ex = fmaBuild.ex;
  const g = new Generator().manualSeed(31);
  const r = new Float32Array(4);
  for (let t = 0; t < 20000; t++) {
    g.randInto(r);
    let x: number;
    let y: number;
    let z: number;
    const sign = r[3] < 0.5 ? -1 : 1;
    if (t % 2 === 0) {
      x = Math.fround(1 + (2 * Math.floor(r[0] * 500) + 1) * 2 ** -12);
      y = Math.fround((1 + (2 * Math.floor(r[1] * 500) + 1) * 2 ** -12) * sign);
      z = Math.fround((r[2] < 0.5 ? -1 : 1) * 2 ** -(30 + Math.floor(r[2] * 60)));
    } else {
      x = Math.fround(1 + Math.floor(r[0] * 2 ** 23) * 2 ** -23);
      y = Math.fround((1 + Math.floor(r[1] * 2 ** 23) * 2 ** -23) * sign);
      z = Math.fround((r[2] - 0.5) * 2 ** (Math.floor(r[3] * 60) - 40));
    }
    const want = ex.maddProbe(x, y, z);
    assert.ok(Object.is(fma32(x, y, z), want), `fma32(${x}, ${y}, ${z}) = ${fma32(x, y, z)}, CPU ${want}`);
  }
});

test("one build everywhere: the generic gemm, the arena and the threads' shared build multiply-add alike", () => {
  // (1 + 2^-12)^2 - 1: 2^-11 + 2^-24 fused, 2^-11 when the product is rounded first
  const a = Math.fround(1 + 2 ** -12);
  const want = fmaActive() ? 2 ** -11 + 2 ** -24 : 2 ** -11;
  type Probe = { maddProbe(a: number, b: number, c: number): number };
  const gemm = new WebAssembly.Instance(wasmModule("gemm")!, {}).exports as unknown as Probe;
  assert.equal(gemm.maddProbe(a, a, -1), want, "generic gemm module");
  assert.equal(arena!.ex.maddProbe(a, a, -1), want, "arena (arena module)");
  const memory = new WebAssembly.Memory({ initial: 16, maximum: 32768, shared: true });
  const shared = new WebAssembly.Instance(wasmModule("arenaShared")!, { env: { memory } })
    .exports as unknown as Probe;
  assert.equal(shared.maddProbe(a, a, -1), want, "shared-memory build (worker threads)");
  for (const b of builds) assert.equal(b.ex.maddProbe(a, a, -1), b.fused ? 2 ** -11 + 2 ** -24 : 2 ** -11);
});

/**
 * One gemm call against the scalar model of its summation order (sequentialGemm), bit for bit, in
 * the arena's build, in each build on its own instance (plain, and fused where it runs), and in the
 * generic ops' module for dense operands. Row strides lda, ldb, ldc (floats, at least the rows'
 * lengths); bias or none; without acc, C's old contents are NaN (they must not matter).
 */
function gemmMatchesModel(
  g: Generator,
  ta: boolean,
  tb: boolean,
  m: number,
  n: number,
  k: number,
  acc: boolean,
  lda: number,
  ldb: number,
  ldc: number,
  withBias: boolean,
): void {
  resetArena();
  const A = randn(g, (ta ? k : m) * lda);
  const B = randn(g, (tb ? n : k) * ldb);
  const C0 = randn(g, m * ldc);
  const bias = withBias ? randn(g, n) : null;
  // the model of each build: mul + add (plain), fused multiply-add (relaxed SIMD)
  const models = new Map<boolean, Float32Array>();
  const model = (fused: boolean) => {
    if (!models.has(fused)) {
      const c = C0.slice();
      sequentialGemm(fused, ta, tb, m, n, k, A, lda, B, ldb, c, ldc, acc, bias);
      models.set(fused, c);
    }
    return models.get(fused)!;
  };
  const want = model(fmaActive());
  if (!acc) C0.fill(Number.NaN); // old contents must not matter
  const [pa, pb, pc, pbias] = place(A, B, C0, bias ?? new Float32Array(1));
  const args = [ta ? 1 : 0, tb ? 1 : 0, m, n, k, pa, lda, pb, ldb, pc, ldc, acc ? 1 : 0] as const;
  const what = `gemm(${ta}, ${tb}) ${m}x${n}x${k} acc=${acc} bias=${!!bias} lda=${lda} ldb=${ldb} ldc=${ldc}`;
  const expect = (build: string, got: Float32Array, model: Float32Array) => {
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        const q = i * ldc + j;
        if (!Object.is(got[q], model[q]))
          assert.fail(`${build} ${what}: C[${i},${j}] = ${got[q]}, model ${model[q]}`);
      }
      // the stride gap between rows is never written
      for (let j = n; j < ldc; j++)
        assert.ok(Object.is(got[i * ldc + j], C0[i * ldc + j]), `${build} ${what}: gap`);
    }
  };
  arena!.ex.gemm(...args, bias ? pbias : 0, 0);
  expect("the arena's build", out(pc, m * ldc), want);
  // each build, at the same offsets of its own memory
  for (const b of builds) {
    b.f32.set(arena!.f32.subarray(arena!.bytes >> 2, scratchTop >> 2), arena!.bytes >> 2);
    b.f32.set(C0, pc >> 2);
    b.ex.gemm(...args, bias ? pbias : 0, 0);
    const got = b.f32.slice(pc >> 2, (pc >> 2) + m * ldc);
    expect(b.fused ? "relaxed-SIMD build" : "plain build", got, model(b.fused));
  }
  // the generic ops' module (dense operands, no bias) runs the same source: the same bits
  if (lda === (ta ? m : k) && ldb === (tb ? k : n) && ldc === n && !bias) {
    const Cg = acc ? C0.slice(0, m * n) : new Float32Array(m * n);
    wasmKernels.gemm(ta, tb, m, n, k, A, B, Cg, acc);
    exactly(`generic ${what}`, Cg, want.slice(0, m * n));
  }
}

test("gemm: one fixed summation order, bit for bit, across block edges, strides, bias and both modules", () => {
  // Sizes around every edge of assembly/gemm-kernel.ts: the 4x8 tile (odd m, n: partial panels of
  // A and B, packed or read in place), k not a multiple of 4, B read in place (k * ldb * 4 <= 64 KB)
  // or packed, A^T in place or packed; k split into equal blocks past KB = 256 without acc (k =
  // 600: three of 200, k = 1031: five of 207, the last 203; a block resumes from the partial sums
  // in C), kept whole with acc up to 1024 (C_old added after the whole sum), split with acc past
  // 1024 (C_old first); A in equal blocks of MC rows where it does not fit 3/4 of the workspace
  // (m = 300 at kc = 256: two of 152; at an unsplit k = 1024 with acc, six of 52; m = 230 at an
  // unsplit k = 600: three of 80) and B in blocks of NC columns in the rest (n = 530 > 256 at
  // kc = 256; n = 300 > 56 at k = 1024 with acc), with partial tiles at every block's edge.
  const shapes: [number, number, number][] = [
    [1, 1, 1],
    [3, 5, 7],
    [5, 9, 13],
    [6, 27, 30],
    [13, 33, 101],
    [32, 27, 200],
    [9, 230, 300],
    [70, 11, 300],
    [6, 70, 1024],
    [5, 70, 1031],
    [300, 13, 9],
    [67, 29, 258],
    [230, 21, 600],
    [9, 530, 1024],
    [6, 300, 1024],
    [300, 10, 1024],
  ];
  const g = new Generator().manualSeed(21);
  let seed = 0;
  for (const [m, n, k] of shapes) {
    for (const [ta, tb] of COMBOS) {
      for (const acc of [false, true]) {
        seed++;
        // row strides a little larger than the rows: the kernel must honour them
        const lda = (ta ? m : k) + (seed % 3);
        const ldb = (tb ? k : n) + (seed % 2);
        const ldc = n + ((seed >> 1) % 3);
        gemmMatchesModel(g, ta, tb, m, n, k, acc, lda, ldb, ldc, seed % 2 === 0);
      }
    }
  }
});

test("gemm: the training steps' own shapes, forward and backward, bit for bit the summation-order model", () => {
  // (transA, transB, M, N, K, acc) as the engine's gemm log records them (scripts/bench-gemm.ts
  // --step): Y = X W, dX = G W^T (NT), dW += X^T G (TN, accumulating), at natural strides, for
  // the lecture's BatchNorm MLP (B 32, 30 -> 200 -> 27), the depth-2 net at H 512 (B 128, 192
  // inputs; 108 distinct rows), d2-h1024 (B 256, H 1024: k = 1024 split in four blocks, A and B
  // in several blocks; 193 distinct rows), and the Transformer
  // (B*T = 512 rows, n-embd 64, MLP 256; attention's 16 x 16 x 16 per head, read in place from
  // qkv with row stride 3C = 192 and written with row stride C = 64).
  const calls: [number, number, number, number, number, number][] = [
    [0, 0, 32, 200, 30, 0],
    [0, 1, 32, 30, 200, 0],
    [1, 0, 30, 200, 32, 1],
    [0, 0, 32, 27, 200, 0],
    [0, 1, 32, 200, 27, 0],
    [1, 0, 200, 27, 32, 1],
    [0, 0, 108, 512, 512, 0],
    [0, 1, 128, 512, 512, 0],
    [1, 0, 512, 512, 128, 1],
    [0, 1, 128, 192, 512, 0],
    [1, 0, 192, 512, 128, 1],
    [0, 0, 256, 27, 1024, 0],
    [1, 0, 1024, 27, 256, 1],
    [0, 0, 193, 1024, 1024, 0],
    [0, 1, 256, 1024, 1024, 0],
    [1, 0, 1024, 1024, 256, 1],
    [0, 1, 256, 192, 1024, 0],
    [1, 0, 192, 1024, 256, 1],
    [0, 0, 512, 64, 256, 0],
    [0, 1, 512, 256, 64, 0],
    [1, 0, 256, 64, 512, 1],
    [1, 0, 64, 256, 512, 1],
    [0, 0, 512, 256, 64, 0],
    [0, 1, 512, 64, 256, 0],
    [0, 1, 512, 27, 64, 0],
    [1, 0, 27, 64, 512, 1],
  ];
  const g = new Generator().manualSeed(22);
  for (const [ta, tb, m, n, k, acc] of calls) {
    const [lda, ldb] = [ta ? m : k, tb ? k : n];
    gemmMatchesModel(g, ta === 1, tb === 1, m, n, k, acc === 1, lda, ldb, n, false);
  }
  // attention per (batch, head): S = Q K^T, dQ += dS K, dK += dS^T Q, Y = att V, d_att += dY V^T
  const [T, hs, C3, C] = [16, 16, 192, 64];
  gemmMatchesModel(g, false, true, T, T, hs, false, C3, C3, T, false);
  gemmMatchesModel(g, false, false, T, hs, T, true, T, C3, C3, false);
  gemmMatchesModel(g, true, false, T, hs, T, true, T, C3, C3, false);
  gemmMatchesModel(g, false, false, T, hs, T, false, T, C3, C, false);
  gemmMatchesModel(g, false, true, T, T, hs, true, C, C3, T, false);
  gemmMatchesModel(g, true, false, T, hs, T, true, T, C, C3, false);
});

test("arena colSum equals a plain loop exactly", () => {
  const g = new Generator().manualSeed(12);
  for (const r of ODD) {
    for (const c of ODD) {
      resetArena();
      const X = randn(g, r * c);
      const db0 = randn(g, c);
      const [pg, pdb] = place(X, db0);
      arena!.ex.colSum(r, c, pg, pdb);
      const wantDb = db0.slice();
      for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) wantDb[j] += X[i * c + j];
      exactly(`colSum ${r}x${c}`, out(pdb, c), wantDb);
    }
  }
});

test("arena tanh: within 1 ulp of the reference (exact +-1 past 8.664339742, NaN stays NaN); backward exact", () => {
  const g = new Generator().manualSeed(13);
  const special = [
    0,
    -0,
    1e-30,
    -1e-8,
    0.625,
    -0.625,
    0.6249999,
    8.664339742,
    8.6643405,
    -8.6643405,
    9,
    20,
    -88,
    1e30,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
    Number.NaN,
  ];
  const n = 100003;
  const x = randn(g, n);
  for (let i = 0; i < n; i++) x[i] *= i % 3 === 0 ? 4 : i % 3 === 1 ? 0.5 : 10;
  x.set(special, 0);
  resetArena();
  const [px, py] = place(x, new Float32Array(n));
  arena!.ex.tanhFwd(px, py, n);
  const got = out(py, n);
  const want = new Float32Array(n);
  referenceKernels.tanhForward(x, want);
  let worst = 0;
  for (let i = 0; i < n; i++) {
    const d = Number.isNaN(want[i])
      ? Number.isNaN(got[i])
        ? 0
        : Number.POSITIVE_INFINITY
      : ulpsApart(got[i], want[i]);
    if (!(d <= 1)) assert.fail(`tanh(${x[i]}) = ${got[i]}, reference ${want[i]}`);
    if (Math.abs(x[i]) > 8.664339742 && !Number.isNaN(x[i])) assert.equal(got[i], Math.sign(x[i]));
    worst = Math.max(worst, d);
  }
  assert.ok(Object.is(got[1], -0), "tanh(-0) = -0");
  // odd lengths (the scalar tail)
  for (const len of ODD) {
    resetArena();
    const xs = randn(g, len);
    const [qx, qy] = place(xs, new Float32Array(len));
    arena!.ex.tanhFwd(qx, qy, len);
    const w = new Float32Array(len);
    referenceKernels.tanhForward(xs, w);
    out(qy, len).forEach((v, i) => assert.ok(ulpsApart(v, w[i]) <= 1, `tanh tail ${len}`));
  }
  // backward: gx (+)= g (1 - y^2), exactly
  for (const len of [...ODD, 1000]) {
    for (const acc of [0, 1]) {
      resetArena();
      const y = new Float32Array(len);
      referenceKernels.tanhForward(
        randn(g, len).map((v) => v * 3),
        y,
      );
      const gr = randn(g, len);
      const gx0 = acc ? randn(g, len) : new Float32Array(len);
      // a fresh gradient (acc 0) is overwritten: stale values in its buffer must not matter
      const [py2, pg, pgx] = place(y, gr, acc ? gx0 : new Float32Array(len).fill(Number.NaN));
      arena!.ex.tanhBwd(py2, pg, pgx, len, acc);
      // the plain float32 formula, each op rounded: gx + f32(g f32(1 - f32(y^2)))
      const f = Math.fround;
      const w = gx0.map((v, i) => v + f(gr[i] * f(1 - f(y[i] * y[i]))));
      exactly(`tanhBwd ${len} acc=${acc}`, out(pgx, len), w);
      const ref = acc ? gx0.slice() : new Float32Array(len).fill(Number.NaN);
      referenceKernels.tanhBackward(y, gr, ref, acc === 1);
      exactly(`reference tanhBackward ${len} acc=${acc}`, ref, w);
    }
  }
});

test("arena relu forward and backward equal the relu op's rules exactly", () => {
  const g = new Generator().manualSeed(14);
  for (const len of [...ODD, 1001]) {
    resetArena();
    const x = randn(g, len);
    if (len > 3) x.set([0, -0, Number.NaN], 0);
    const gr = randn(g, len);
    const gx0 = randn(g, len);
    const [px, py, pg, pgx] = place(x, new Float32Array(len), gr, gx0);
    arena!.ex.reluFwd(px, py, len);
    const y = out(py, len);
    exactly(
      `relu ${len}`,
      y,
      x.map((v) => (v > 0 ? v : 0)),
    );
    arena!.ex.reluBwd(py, pg, pgx, len, 1);
    exactly(
      `relu backward ${len}`,
      out(pgx, len),
      gx0.map((v, i) => v + (x[i] > 0 ? gr[i] : 0)),
    );
    const [pgx2] = place(new Float32Array(len).fill(Number.NaN));
    arena!.ex.reluBwd(py, pg, pgx2, len, 0);
    exactly(
      `relu backward (fresh) ${len}`,
      out(pgx2, len),
      gr.map((v, i) => 0 + (x[i] > 0 ? v : 0)),
    );
  }
});

const VARIANTS = ["lecture-std", "lecture", "torch"] as const;
const VARIANT_CODE = { "lecture-std": 0, lecture: 1, torch: 2 } as const;

test("arena BatchNorm (train forward, backward, eval forward) equals the reference bit for bit", () => {
  const g = new Generator().manualSeed(15);
  for (const variant of VARIANTS) {
    for (const [N, H] of [
      [2, 1],
      [3, 5],
      [32, 200],
      [32, 27],
      [33, 13],
      [7, 100],
    ]) {
      resetArena();
      const x = randn(g, N * H).map((v, i) => v * (1 + (i % 7)) + (i % 3));
      if (H > 2) for (let r = 0; r < N; r++) x[r * H + 1] = 0.5; // a constant column: sigma = 0 for lecture-std
      const gamma = randn(g, H);
      const beta = randn(g, H);
      const eps = 1e-5;
      const ref = {
        mean: new Float32Array(H),
        spread: new Float32Array(H),
        sigma: new Float32Array(H),
        xhat: new Float32Array(N * H),
        y: new Float32Array(N * H),
      };
      referenceKernels.batchNormTrainForward(
        x,
        N,
        H,
        gamma,
        beta,
        variant,
        eps,
        ref.mean,
        ref.spread,
        ref.sigma,
        ref.xhat,
        ref.y,
      );
      const [px, pg, pb, pm, ps, psg, pxh, py] = place(
        x,
        gamma,
        beta,
        new Float32Array(H),
        new Float32Array(H),
        new Float32Array(H),
        new Float32Array(N * H),
        new Float32Array(N * H),
      );
      arena!.ex.bnTrainFwd(px, N, H, pg, pb, VARIANT_CODE[variant], eps, pm, ps, psg, pxh, py);
      const what = `${variant} N=${N} H=${H}`;
      exactly(`mean ${what}`, out(pm, H), ref.mean);
      exactly(`spread ${what}`, out(ps, H), ref.spread);
      exactly(`sigma ${what}`, out(psg, H), ref.sigma);
      exactly(`xhat ${what}`, out(pxh, N * H), ref.xhat);
      exactly(`y ${what}`, out(py, N * H), ref.y);
      // backward, accumulating into existing gradients
      const gr = randn(g, N * H);
      const dg0 = randn(g, H);
      const db0 = randn(g, H);
      const dx0 = randn(g, N * H);
      const D = variant === "torch" ? N : N - 1;
      const want = { dg: dg0.slice(), db: db0.slice(), dx: dx0.slice() };
      referenceKernels.batchNormTrainBackward(
        gr,
        ref.xhat,
        ref.sigma,
        gamma,
        N,
        H,
        D,
        want.dg,
        want.db,
        want.dx,
      );
      const [pgr, pdg, pdb, pdx] = place(gr, dg0, db0, dx0);
      arena!.ex.bnTrainBwd(pgr, pxh, psg, pg, N, H, D, pdg, pdb, pdx, 1, alloc(4 * H));
      exactly(`dgamma ${what}`, out(pdg, H), want.dg);
      exactly(`dbeta ${what}`, out(pdb, H), want.db);
      exactly(`dx ${what}`, out(pdx, N * H), want.dx);
      const wantFresh = new Float32Array(N * H);
      referenceKernels.batchNormTrainBackward(gr, ref.xhat, ref.sigma, gamma, N, H, D, null, null, wantFresh);
      const [pdx2, pdg2, pdb2] = place(
        new Float32Array(N * H).fill(Number.NaN),
        new Float32Array(H),
        new Float32Array(H),
      );
      arena!.ex.bnTrainBwd(pgr, pxh, psg, pg, N, H, D, pdg2, pdb2, pdx2, 0, alloc(4 * H));
      exactly(`dx (fresh) ${what}`, out(pdx2, N * H), wantFresh);
      // the reference's own fresh path (accX false) overwrites a stale buffer the same way
      const refFresh = new Float32Array(N * H).fill(Number.NaN);
      referenceKernels.batchNormTrainBackward(
        gr,
        ref.xhat,
        ref.sigma,
        gamma,
        N,
        H,
        D,
        null,
        null,
        refFresh,
        false,
      );
      exactly(`reference dx (fresh) ${what}`, refFresh, wantFresh);
      // eval forward with running statistics
      const rm = randn(g, H);
      const rsig = randn(g, H).map((v) => Math.abs(v) + 0.1);
      const wantE = new Float32Array(N * H);
      referenceKernels.batchNormEvalForward(x, N, H, gamma, beta, rm, rsig, variant, wantE);
      const [prm, prs, pye] = place(rm, rsig, new Float32Array(N * H));
      arena!.ex.bnEval(px, N, H, pg, pb, prm, prs, VARIANT_CODE[variant], pye);
      exactly(`eval ${what}`, out(pye, N * H), wantE);
    }
  }
});

test("arena BatchNorm running buffers equal the lecture's float32 update bit for bit", () => {
  const g = new Generator().manualSeed(17);
  const f = Math.fround;
  for (const momentum of [0.001, 0.1, 0.5]) {
    for (const H of [1, 3, 4, 27, 100, 200, 203]) {
      resetArena();
      const rm = randn(g, H);
      const rv = randn(g, H).map((v) => Math.abs(v) * 3);
      const mean = randn(g, H).map((v) => v * 10);
      const spread = randn(g, H).map((v) => v * v);
      if (H > 3) rm.set([0, -0, 1e-38], 0);
      const [m, k] = [f(momentum), f(1 - momentum)];
      const [prm, prv, pm, ps] = place(rm, rv, mean, spread);
      arena!.ex.bnRunning(prm, prv, pm, ps, H, m, k);
      // running = 0.999 * running + 0.001 * batch with each product rounded, then the sum
      exactly(
        `running mean ${momentum} H=${H}`,
        out(prm, H),
        rm.map((v, c) => f(k * v) + f(m * mean[c])),
      );
      exactly(
        `running spread ${momentum} H=${H}`,
        out(prv, H),
        rv.map((v, c) => f(k * v) + f(m * spread[c])),
      );
    }
  }
});

/**
 * assembly/arena.ts expv in plain float32 (Math.fround after every op): Cephes' reduction
 * x = n ln2 + r, e^r = 1 + r + r^2 P(r) by Estrin's scheme, then 2^n through the exponent bits.
 */
function expLane(x: number): number {
  const f = Math.fround;
  const t = f(f(x * f(1.4426950408889634)) + 12582912);
  const n = f(t - 12582912);
  let r = f(x - f(n * 0.693359375));
  r = f(r - f(n * f(-2.1219444e-4)));
  const r2 = f(r * r);
  const q01 = f(f(f(1.98756915e-4) * r) + f(1.3981999507e-3));
  const q23 = f(f(f(8.3334519073e-3) * r) + f(4.1665795894e-2));
  const q45 = f(f(f(1.6666665459e-1) * r) + f(5.0000001201e-1));
  const q = f(f(f(f(q01 * r2) + q23) * r2) + q45);
  const y = f(f(f(q * r2) + r) + 1);
  const bits = new Int32Array(2);
  const fl = new Float32Array(bits.buffer);
  fl[0] = t;
  bits[1] = (bits[0] - (0x4b400000 - 127)) << 23;
  return f(y * fl[1]);
}

test("arena cross-entropy forward is its float32-lane rule: softmax bit for bit, loss to the libm's last bits", () => {
  // per row: max; e_j = exp(max(x_j - max, -87.3365448)) in float32; four lane sums (lane l adds
  // e_l, e_{l+4}, ... in order), then s = ((l0 + l1) + l2) + l3 in float64; p_j = e_j / f32(s);
  // loss = sum over rows in order of ln s + max - x_t (float64). Rows two at a time in the
  // kernel and one at a time here: the same ops per row.
  const g = new Generator().manualSeed(18);
  const f = Math.fround;
  for (const [B, V] of [
    [1, 27],
    [2, 1],
    [3, 5],
    [32, 27],
    [33, 9],
    [7, 100],
  ]) {
    resetArena();
    const x = randn(g, B * V).map((v, i) => v * (i % 3 ? 2 : 30));
    const t = Int32Array.from({ length: B }, (_, b) => (b * 5) % V);
    const wantP = new Float32Array(B * V);
    let wantL = 0;
    for (let b = 0; b < B; b++) {
      const row = x.subarray(b * V, (b + 1) * V);
      const mx = row.reduce((m, v) => Math.max(m, v), Number.NEGATIVE_INFINITY);
      const lanes = [0, 0, 0, 0];
      const e = row.map((v) => expLane(Math.max(f(v - mx), f(-87.3365448))));
      e.forEach((v, j) => {
        lanes[j % 4] = f(lanes[j % 4] + v);
      });
      const sum = lanes[0] + lanes[1] + lanes[2] + lanes[3];
      e.forEach((v, j) => {
        wantP[b * V + j] = f(v / f(sum));
      });
      wantL += Math.log(sum) + mx - row[t[b]];
    }
    const [px, pt, pp] = place(x, t, new Float32Array(B * V).fill(Number.NaN));
    const got = arena!.ex.ceFwd(px, pt, B, V, pp);
    exactly(`softmax ${B}x${V}`, out(pp, B * V), wantP);
    // (V8's Math.log and the module's may differ in a last bit per row)
    assert.ok(
      Math.abs(got - wantL) <= 4e-16 * B * Math.max(1, Math.abs(wantL)),
      `loss ${B}x${V}: ${got} vs ${wantL}`,
    );
  }
});

test("arena cross-entropy: loss and softmax within 1e-6 of the reference, backward exact", () => {
  const g = new Generator().manualSeed(16);
  for (const [B, V] of [
    [1, 1],
    [1, 27],
    [3, 4],
    [32, 27],
    [5, 9],
    [33, 100],
  ]) {
    resetArena();
    const x = randn(g, B * V).map((v, i) => v * (i % 2 ? 1 : 8));
    const t = Int32Array.from({ length: B }, (_, b) => (b * 7) % V);
    const wantP = new Float32Array(B * V);
    const wantL = referenceKernels.crossEntropyForward(x, t, B, V, wantP);
    const [px, pt, pp] = place(x, t, new Float32Array(B * V));
    const got = arena!.ex.ceFwd(px, pt, B, V, pp);
    assert.ok(
      Math.abs(got - wantL) <= 1e-6 * Math.max(1, Math.abs(wantL)),
      `loss ${B}x${V}: ${got} vs ${wantL}`,
    );
    assert.ok(Math.abs(arena!.ex.ceFwd(px, pt, B, V, 0) - got) === 0, "loss without probs");
    const probs = out(pp, B * V);
    probs.forEach((p, i) =>
      assert.ok(Math.abs(p - wantP[i]) <= 1e-6 * wantP[i] + 1e-12, `p[${i}] ${p} vs ${wantP[i]}`),
    );
    const k = 1 / B;
    const d0 = randn(g, B * V);
    const want = d0.slice();
    referenceKernels.crossEntropyBackward(probs, t, B, V, k, want);
    const [pd] = place(d0);
    arena!.ex.ceBwd(pp, pt, B, V, k, pd, 1);
    exactly(`ceBwd ${B}x${V}`, out(pd, B * V), want);
  }
});

test("arena embedding gather / scatter-add and SGD equal plain loops exactly", () => {
  const g = new Generator().manualSeed(17);
  for (const [V, E, rows] of [
    [27, 10, 96],
    [5, 3, 17],
    [1, 1, 4],
    [30, 7, 33],
  ]) {
    resetArena();
    const table = randn(g, V * E);
    const ix = Int32Array.from({ length: rows }, (_, r) => (r * r + 3) % V);
    const [pt, pix, po] = place(table, ix, new Float32Array(rows * E));
    arena!.ex.gather(pt, E, pix, rows, po);
    const want = new Float32Array(rows * E);
    for (let r = 0; r < rows; r++) want.set(table.subarray(ix[r] * E, ix[r] * E + E), r * E);
    exactly(`gather ${V}x${E}`, out(po, rows * E), want);
    const gr = randn(g, rows * E);
    const d0 = randn(g, V * E);
    const [pd, pg] = place(d0, gr);
    arena!.ex.scatterAdd(pd, E, pix, rows, pg);
    const wantD = d0.slice();
    for (let r = 0; r < rows; r++) for (let e = 0; e < E; e++) wantD[ix[r] * E + e] += gr[r * E + e];
    exactly(`scatterAdd ${V}x${E}`, out(pd, V * E), wantD);
  }
  for (const n of [...ODD, 12097]) {
    resetArena();
    const w = randn(g, n);
    const gr = randn(g, n);
    const [pw, pg] = place(w, gr);
    arena!.ex.sgd(pw, pg, n, Math.fround(-0.1));
    const want = w.slice();
    referenceKernels.sgd(want, gr, -0.1);
    exactly(`sgd ${n}`, out(pw, n), want);
  }
});

test("arena gatherSum (embedding tables + bias) equals plain loops exactly", () => {
  const g = new Generator().manualSeed(20);
  for (const [V, O, T, rows] of [
    [27, 200, 3, 37],
    [27, 100, 3, 5],
    [5, 7, 1, 9],
    [9, 13, 4, 16],
  ]) {
    for (const withBias of [false, true]) {
      resetArena();
      const tables = randn(g, T * V * O);
      const bias = randn(g, O);
      const ix = Int32Array.from({ length: rows * T }, (_, i) => (i * 7 + 3) % V);
      const [pt, pb, pix, po] = place(tables, bias, ix, new Float32Array(rows * O));
      arena!.ex.gatherSum(pt, V, O, T, pix, rows, withBias ? pb : 0, po);
      const want = new Float32Array(rows * O);
      for (let r = 0; r < rows; r++) {
        for (let o = 0; o < O; o++) {
          let s = tables[ix[r * T] * O + o];
          for (let t = 1; t < T; t++) s = Math.fround(s + tables[t * V * O + ix[r * T + t] * O + o]);
          want[r * O + o] = withBias ? s + bias[o] : s;
        }
      }
      exactly(`gatherSum V=${V} O=${O} T=${T}`, out(po, rows * O), want);
    }
  }
});

test("multinomialOne draws exactly what Generator.multinomial(probs, 1) draws", () => {
  const g = new Generator().manualSeed(18);
  const a = new Generator().manualSeed(19);
  const b = new Generator().manualSeed(19);
  for (let trial = 0; trial < 3000; trial++) {
    const V = 1 + (trial % 40);
    const probs = new Float32Array(V);
    g.randInto(probs);
    if (trial % 5 === 0 && V > 1) probs[trial % V] = 0;
    if (trial % 7 === 0) for (let i = 0; i < V; i++) probs[i] = probs[i] ** 8; // peaked
    const want = a.multinomial(probs, 1, V, 1, false)[0];
    const got = multinomialOne(probs, b, new Float32Array(V));
    assert.equal(got, want, `trial ${trial}`);
  }
  assert.deepEqual(b.getState(), a.getState());
  assert.throws(() => multinomialOne(new Float32Array([0, 0]), b, new Float32Array(2)), /positive sum/);
  assert.throws(() => multinomialOne(new Float32Array([1, -1]), b, new Float32Array(2)), /finite and >= 0/);
});

// ---------------------------------------------------------------------------------------------
// The captured plans (src/train/plan.ts) against the generic tensor ops, end to end: the same
// models trained, evaluated and sampled both ways. `Generic` (an MLP marked `runEagerly`) runs the
// eager graph. (test/engine.test.ts checks the same bit for bit.)

class Generic extends MLP {
  constructor(...args: ConstructorParameters<typeof MLP>) {
    super(...args);
    runEagerly(this);
  }
}
const names = parseLines(readFileSync(new URL("../data/names.txt", import.meta.url), "utf8"));
const lecture = prepareData(names.slice(0, 3000));

function twins(spec: ModelSpec, seed = 2147483647): [MLP, MLP] {
  const a = buildModel(spec, new Generator().manualSeed(seed));
  const b0 = buildModel(spec, new Generator().manualSeed(seed));
  return [a, new Generic(b0.spec, b0.embedding, b0.layers)];
}

function closeArrays(what: string, got: Float32Array, want: Float32Array, rtol: number, atol: number): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(got[i] - want[i]) <= atol + rtol * Math.abs(want[i]))) {
      assert.fail(`${what}[${i}]: arena ${got[i]}, generic ${want[i]}`);
    }
  }
}

// [label, spec, batch size, steps compared]: a BatchNorm over 3 rows with no nonlinearity is chaotic
// (float32 rounding differences grow tenfold every ~5 steps), so that one is compared over 8 steps.
const CHAIN_SPECS: [string, ModelSpec, number, number][] = [
  ["batchnorm", presetSpec("batchnorm", 27, 3), 32, 40],
  ["deep-bn", presetSpec("deep-bn", 27, 3), 32, 40],
  ["deep-tanh", presetSpec("deep-tanh", 27, 3), 32, 40],
  ["original (saturated)", presetSpec("original", 27, 3), 32, 40],
  [
    "custom: relu, torch BatchNorm, bias, odd widths, batch 7",
    {
      ...presetSpec("custom", 27, 3),
      nHidden: 37,
      depth: 2,
      batchnorm: "torch",
      nonlinearity: "relu",
      bias: true,
      nEmbd: 5,
    },
    7,
    40,
  ],
  [
    "custom: lecture BatchNorm, no nonlinearity, batch 3",
    {
      ...presetSpec("custom", 27, 3),
      nHidden: 9,
      depth: 3,
      batchnorm: "lecture",
      outputBatchnorm: true,
      nonlinearity: "none",
    },
    3,
    8,
  ],
];

for (const [label, spec, batchSize, steps] of CHAIN_SPECS) {
  test(`arena training step equals the generic graph: ${label}`, () => {
    const [onArena, generic] = twins(spec);
    for (const m of [onArena, generic])
      for (const l of [m.embedding, ...m.layers.layers]) l.retainOutGrad = true;
    const cfg = { ...LECTURE_TRAIN, batchSize, maxSteps: 1 };
    const ga = new Generator().manualSeed(1);
    const gb = new Generator().manualSeed(1);
    const la: number[] = [];
    const lb: number[] = [];
    // one step: activations, their gradients and the parameter gradients, seen from the hook
    const seen: Float32Array[][] = [[], []];
    const look = (m: MLP, into: Float32Array[]) => () => {
      for (const l of [m.embedding, ...m.layers.layers]) {
        into.push(l.out!.storage.slice(), l.out!.grad!.storage.slice());
        assert.ok(!l.out!.isLeaf && l.out!.requiresGrad);
      }
      assert.equal(m.out, m.layers.layers[m.layers.layers.length - 1].out);
      for (const p of m.parameters()) into.push(p.grad!.storage.slice());
    };
    train(onArena, lecture.train, cfg, ga, {
      beforeUpdate: look(onArena, seen[0]),
      afterStep: (s) => la.push(s.loss),
    });
    train(generic, lecture.train, cfg, gb, {
      beforeUpdate: look(generic, seen[1]),
      afterStep: (s) => lb.push(s.loss),
    });
    assert.ok(planOf(onArena), "the captured path applies");
    assert.equal(planOf(generic), null, "the twin takes the generic path");
    assert.equal(seen[0].length, seen[1].length);
    seen[0].forEach((v, i) => closeArrays(`${label} step 0 tensor ${i}`, v, seen[1][i], 1e-4, 1e-6));
    // then more steps: same trajectory, same parameters, same running statistics
    train(onArena, lecture.train, { ...cfg, maxSteps: steps }, ga, { afterStep: (s) => la.push(s.loss) });
    train(generic, lecture.train, { ...cfg, maxSteps: steps }, gb, { afterStep: (s) => lb.push(s.loss) });
    la.forEach((l, i) =>
      assert.ok(
        Math.abs(l - lb[i]) <= 2e-4 * Math.max(1, Math.abs(lb[i])),
        `${label} step ${i}: ${l} vs ${lb[i]}`,
      ),
    );
    const sa = onArena.stateDict();
    const sb = generic.stateDict();
    for (const name of Object.keys(sb))
      closeArrays(`${label} ${name}`, sa[name].storage, sb[name].storage, 2e-3, 1e-5);
    assert.deepEqual(ga.getState(), gb.getState());
  });
}

test("arena step: hooks see p.grad before the update and may null or replace it, or change p.data", () => {
  const [onArena, generic] = twins(presetSpec("deep-tanh", 27, 3));
  const cfg = { ...LECTURE_TRAIN, maxSteps: 3 };
  for (const m of [onArena, generic]) {
    const ps = m.parameters();
    train(m, lecture.train, cfg, new Generator().manualSeed(5), {
      beforeUpdate: ({ step }) => {
        if (step === 0) ps[1].grad = null; // skipped by the update
        if (step === 1) ps[2].grad = ps[2].grad!.mul(0); // replaced: no change either
        if (step === 2) ps[3].data.mul_(0.5); // the update applies to the changed values
      },
    });
  }
  const sa = onArena.stateDict();
  const sb = generic.stateDict();
  for (const name of Object.keys(sb)) closeArrays(name, sa[name].storage, sb[name].storage, 1e-4, 1e-6);
});

test("arena step: a hook that swaps a parameter tensor gets the generic loop's behaviour", () => {
  const [onArena, generic] = twins(presetSpec("deep-tanh", 27, 3));
  for (const m of [onArena, generic]) {
    const lin = m.layers.layers[2] as Linear;
    train(m, lecture.train, { ...LECTURE_TRAIN, maxSteps: 4 }, new Generator().manualSeed(6), {
      afterStep: ({ step }) => {
        if (step === 1)
          lin.weight = new Tensor(
            lin.weight.storage.map((v) => v * 0.5),
            lin.weight.shape,
          ).requiresGrad_();
      },
    });
  }
  const sa = onArena.stateDict();
  const sb = generic.stateDict();
  for (const name of Object.keys(sb)) closeArrays(name, sa[name].storage, sb[name].storage, 1e-4, 1e-6);
});

test("arena step falls back to the generic graph for a BatchNorm left in eval mode, and matches it", () => {
  const [onArena, generic] = twins(presetSpec("deep-bn", 27, 3));
  for (const m of [onArena, generic]) {
    train(m, lecture.train, { ...LECTURE_TRAIN, maxSteps: 2 }, new Generator().manualSeed(3), {
      beforeUpdate: () => {
        (m.layers.layers[1] as BatchNorm1d).training = false; // from the second step on
      },
      afterStep: () => {
        (m.layers.layers[1] as BatchNorm1d).training = false;
      },
    });
  }
  const sa = onArena.stateDict();
  const sb = generic.stateDict();
  for (const name of Object.keys(sb)) closeArrays(name, sa[name].storage, sb[name].storage, 1e-4, 1e-6);
});

test("arena split loss and sampling equal the generic ops' (same names)", () => {
  for (const type of ["batchnorm", "deep-bn", "deep-tanh", "kaiming"] as const) {
    const [onArena, generic] = twins(presetSpec(type, 27, 3));
    train(onArena, lecture.train, { ...LECTURE_TRAIN, maxSteps: 300 }, new Generator().manualSeed(9));
    generic.loadStateDict(
      Object.fromEntries(
        Object.entries(onArena.stateDict()).map(([k, t]) => [k, { shape: t.shape, data: t.storage }]),
      ),
    );
    assert.ok(forwardPlanFor(onArena, 1, 3));
    for (const split of ["train", "val"] as const) {
      const a = splitLoss(onArena, lecture[split]);
      const b = splitLoss(generic, lecture[split]);
      assert.ok(Math.abs(a - b) <= 1e-6 * b, `${type} ${split}: ${a} vs ${b}`);
    }
    const opts = (seed: number) => ({ count: 30, generator: new Generator().manualSeed(seed) });
    assert.deepEqual(
      sampleWords(onArena, lecture.vocab, opts(7)),
      sampleWords(generic, lecture.vocab, opts(7)),
    );
    assert.deepEqual(
      sampleWords(onArena, lecture.vocab, { ...opts(8), temperature: 0.7, maxLength: 5 }),
      sampleWords(generic, lecture.vocab, { ...opts(8), temperature: 0.7, maxLength: 5 }),
    );
  }
});

test("wasm moments equals the reference sums (plain arrays, views into a sealed arena, mixed)", () => {
  assert.ok(wasmAvailable());
  const g = new Generator().manualSeed(31);
  const sizes = [1, 3, 5, 17, 6000, 6001];
  // Sums of w (and g) may cancel, so their error is measured against sum |x|; the sums of squares
  // are positive and measured against themselves. The two differ only in float64 rounding order.
  const close = (what: string, got: Float64Array, want: Float64Array, absW: number, absG: number) => {
    const scale = [absW, want[1], absG, want[3]];
    for (let i = 0; i < 4; i++) {
      assert.ok(
        Math.abs(got[i] - want[i]) <= 1e-12 * scale[i],
        `${what} sum ${i}: ${got[i]}, reference ${want[i]}`,
      );
    }
  };
  const absSum = (x: Float32Array) => x.reduce((s, v) => s + Math.abs(v), 0);
  // a sealed arena of its own, as src/tensor/engine.ts lays out parameters and gradients
  const arena = Arena.create();
  assert.ok(arena);
  const ptrs = sizes.map((n) => [arena.alloc(n), arena.alloc(n)]);
  arena.seal();
  sizes.forEach((n, si) => {
    const w = randn(g, n);
    const gr = randn(g, n);
    for (let i = 0; i < n; i++) {
      w[i] = w[i] * 0.1 + 0.01;
      gr[i] *= 1e-3;
    }
    const want = new Float64Array(4);
    referenceKernels.moments(w, gr, want);
    const aw = absSum(w);
    const ag = absSum(gr);
    const got = new Float64Array(4);
    wasmKernels.moments(w, gr, got);
    close(`plain n=${n}`, got, want, aw, ag);
    const vw = arena.view(ptrs[si][0], n);
    const vg = arena.view(ptrs[si][1], n);
    vw.set(w);
    vg.set(gr);
    assert.equal(vw.buffer, arena.ex.memory.buffer);
    got.fill(Number.NaN);
    wasmKernels.moments(vw, vg, got);
    close(`arena views n=${n}`, got, want, aw, ag);
    got.fill(Number.NaN);
    wasmKernels.moments(w, vg, got); // as in training: data in JS memory, gradient in the arena
    close(`mixed n=${n}`, got, want, aw, ag);
    got.fill(Number.NaN);
    // a view at an odd float offset (unaligned SIMD loads)
    if (n > 1) {
      const want1 = new Float64Array(4);
      referenceKernels.moments(vw.subarray(1), vg.subarray(1), want1);
      wasmKernels.moments(vw.subarray(1), vg.subarray(1), got);
      close(`offset views n=${n}`, got, want1, aw, ag);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The general engine's kernels (assembly/arena.ts) against their twins (kernels.ts arenaReference)

/** Largest |got - want| / (abs + rel |want|) over the arrays; fails above 1. */
function within(what: string, got: Float32Array, want: Float32Array, abs: number, rel: number): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    if (Object.is(got[i], want[i])) continue;
    if (!(err <= abs + rel * Math.abs(want[i])))
      assert.fail(`${what}[${i}]: ${got[i]}, twin ${want[i]} (err ${err})`);
  }
}

test("engine kernels: add, mul, row broadcast, scale, axpy equal their twins exactly", () => {
  const g = new Generator().manualSeed(31);
  const ex = arena!.ex;
  for (const [rows, cols] of [
    [1, 1],
    [3, 5],
    [7, 33],
    [32, 200],
  ]) {
    resetArena();
    const n = rows * cols;
    const a = randn(g, n);
    const b = randn(g, n);
    const v = randn(g, cols);
    const [pa, pb, pv, py] = place(a, b, v, new Float32Array(n));
    const want = new Float32Array(n);
    ex.add(pa, pb, py, n);
    arenaReference.add(a, b, want);
    exactly(`add ${n}`, out(py, n), want);
    ex.mul(pa, pb, py, n);
    arenaReference.mul(a, b, want);
    exactly(`mul ${n}`, out(py, n), want);
    for (const op of [0, 1] as const) {
      ex.rowOp(pa, pv, py, rows, cols, op);
      arenaReference.rowOp(a, v, want, rows, cols, op);
      exactly(`rowOp ${op} ${rows}x${cols}`, out(py, n), want);
    }
    ex.scale(pa, -0.3, py, n);
    arenaReference.scale(a, -0.3, want);
    exactly(`scale ${n}`, out(py, n), want);
    const y0 = randn(g, n);
    const [qy] = place(y0);
    ex.axpy(qy, pa, 0.7, n);
    const w2 = y0.slice();
    arenaReference.axpy(w2, a, 0.7);
    exactly(`axpy ${n}`, out(qy, n), w2);
  }
});

test("engine kernels: exp within 1 ulp, GELU forward and backward within float32 rounding of the float64 twin", () => {
  const g = new Generator().manualSeed(32);
  const ex = arena!.ex;
  resetArena();
  const n = 4099;
  const x = randn(g, n).map((v, i) => (i % 7 === 0 ? v * 30 : v * 3));
  x[0] = 0;
  x[1] = -0;
  x[2] = 88.7;
  x[3] = -87;
  x[4] = Number.NaN;
  x[5] = 100;
  x[6] = -200;
  x[7] = -100; // a subnormal result
  x[8] = 88.72283935546875;
  x[9] = 88.7228469848632; // the next float32: overflows
  const [px, py] = place(x, new Float32Array(n));
  ex.expFwd(px, py, n);
  const want = new Float32Array(n);
  arenaReference.exp(x, want);
  const got = out(py, n);
  for (let i = 0; i < n; i++) {
    assert.ok(ulpsApart(got[i], want[i]) <= 1, `exp(${x[i]}) = ${got[i]}, twin ${want[i]}`);
  }
  const xs = randn(g, n).map((v, i) => (i % 5 === 0 ? v * 6 : v * 2));
  const gg = randn(g, n);
  const gx0 = randn(g, n);
  const [qx, qg, qy, qgx, qt, qy0] = place(
    xs,
    gg,
    new Float32Array(n),
    gx0,
    new Float32Array(n),
    new Float32Array(n),
  );
  ex.geluFwd(qx, qy, qt, n);
  arenaReference.gelu(xs, want);
  const gy = out(qy, n);
  for (let i = 0; i < n; i++) {
    const tol = 4e-7 * (1 + Math.abs(xs[i]));
    assert.ok(Math.abs(gy[i] - want[i]) <= tol, `gelu(${xs[i]}) = ${gy[i]}, twin ${want[i]}`);
  }
  // s = 0.5 (1 + tanh(u)) of the float32 u (NewGELU's rounding steps), within 3 ulp of the float64
  // value; 0 where u < -9 (float32 tanh(u) = -1 there), so y = +-0 as PyTorch's y
  const f = Math.fround;
  const [K, C] = [f(Math.sqrt(2 / Math.PI)), f(0.044715)];
  const gs = out(qt, n);
  let saturated = 0;
  for (let i = 0; i < n; i++) {
    const v = xs[i];
    const u = f(K * f(v + f(C * f(v * f(v * v)))));
    const want = u < -9 ? 0 : f(0.5 * (1 + Math.tanh(u)));
    if (u < -9) saturated++;
    assert.ok(ulpsApart(gs[i], want) <= 3, `gelu's s(${v}) = ${gs[i]}, 0.5 (1 + tanh u) ${want}`);
    if (u < -9) assert.ok(Object.is(gy[i], v < 0 ? -0 : 0), `gelu(${v}) = ${gy[i]}, PyTorch's ±0`);
  }
  assert.ok(saturated > 10, "the sweep reaches the saturated range");
  // without s: the same y
  ex.geluFwd(qx, qy0, 0, n);
  exactly("gelu y without s", out(qy0, n), gy);
  ex.geluBwd(qx, qt, qg, qgx, n, 1);
  const wgx = gx0.slice();
  arenaReference.geluBackward(xs, gg, wgx, true);
  const ggx = out(qgx, n);
  for (let i = 0; i < n; i++) {
    const tol = 1e-6 * (1 + xs[i] * xs[i]) * Math.abs(gg[i]) + 1e-7 * Math.abs(gx0[i]);
    assert.ok(Math.abs(ggx[i] - wgx[i]) <= tol, `gelu'(${xs[i]}): ${ggx[i]}, twin ${wgx[i]}`);
  }
  // acc 0 overwrites (NaN-filled destination): g gelu'(x) alone
  const qgx0 = alloc(n);
  ex.geluBwd(qx, qt, qg, qgx0, n, 0);
  const wgx0 = new Float32Array(n);
  arenaReference.geluBackward(xs, gg, wgx0, false);
  const ggx0 = out(qgx0, n);
  for (let i = 0; i < n; i++) {
    const tol = 1e-6 * (1 + xs[i] * xs[i]) * Math.abs(gg[i]);
    assert.ok(Math.abs(ggx0[i] - wgx0[i]) <= tol, `gelu'(${xs[i]}) overwrite: ${ggx0[i]}, twin ${wgx0[i]}`);
  }
});

test("engine kernels: the causal softmax forward is its float32 rule bit for bit (expFwd's exponentials)", () => {
  const g = new Generator().manualSeed(38);
  const ex = arena!.ex;
  const f = Math.fround;
  for (const [T, mats] of [
    [1, 2],
    [5, 3],
    [16, 4],
    [7, 2],
    [9, 1],
  ]) {
    resetArena();
    const n = T * T * mats;
    const x = randn(g, n).map((v) => v * 4);
    const sc = f(0.61);
    const [px, py] = place(x, new Float32Array(n).fill(Number.NaN));
    ex.causalSoftmaxFwd(px, py, T, mats, sc);
    // the rule per row (j <= i): v_j = f32(x_j sc), m = max v, e_j = expFull(v_j - m), s = float32
    // sum: lanes l = 0..3 of the vectors j = 0, 4, .. (each lane in j order), the lanes added in
    // order, then the tail j >= 4 floor((i+1)/4) in order; y_j = f32(e_j / s), masked y_j = 0
    const want = new Float32Array(n);
    for (let b = 0; b < n; b += T * T) {
      for (let i = 0; i < T; i++) {
        const o = b + i * T;
        const v = Array.from({ length: i + 1 }, (_, j) => f(x[o + j] * sc));
        const m = Math.max(...v);
        const [pd, pe] = place(new Float32Array(v.map((vj) => f(vj - m))), new Float32Array(i + 1));
        ex.expFwd(pd, pe, i + 1);
        const e = out(pe, i + 1);
        const full = (i + 1) & ~3;
        const lanes = [0, 0, 0, 0];
        for (let j = 0; j < full; j++) lanes[j % 4] = f(lanes[j % 4] + e[j]);
        let s = f(f(f(lanes[0] + lanes[1]) + lanes[2]) + lanes[3]);
        for (let j = full; j <= i; j++) s = f(s + e[j]);
        for (let j = 0; j <= i; j++) want[o + j] = f(e[j] / s);
      }
    }
    exactly(`causalSoftmaxFwd T=${T} mats=${mats}`, out(py, n), want);
  }
});

test("engine kernels: the causal softmax backward is the float64 rule bit for bit", () => {
  const g = new Generator().manualSeed(37);
  const ex = arena!.ex;
  const f = Math.fround;
  for (const [T, mats] of [
    [1, 1],
    [5, 3],
    [16, 8],
    [7, 1],
  ]) {
    resetArena();
    const n = T * T * mats;
    const x = randn(g, n).map((v) => v * 3);
    const sc = f(0.37);
    const gg = randn(g, n);
    const gx0 = randn(g, n);
    const [px, py, pg, pa, pw] = place(x, new Float32Array(n), gg, gx0, new Float32Array(n).fill(Number.NaN));
    ex.causalSoftmaxFwd(px, py, T, mats, sc);
    const y = out(py, n);
    // the rule: sgy = sum_{j<=i} g_j y_j in float64, dx_j = f32(f32(y_j (g_j - sgy)) sc)
    const want = gx0.slice();
    const fresh = new Float32Array(n);
    for (let b = 0; b < n; b += T * T) {
      for (let i = 0; i < T; i++) {
        const o = b + i * T;
        let sgy = 0;
        for (let j = 0; j <= i; j++) sgy += gg[o + j] * y[o + j];
        for (let j = 0; j <= i; j++) {
          const d = f(f(y[o + j] * (gg[o + j] - sgy)) * sc);
          want[o + j] += d;
          fresh[o + j] = d;
        }
      }
    }
    ex.causalSoftmaxBwd(py, pg, pa, T, mats, sc, 1);
    exactly(`causalSoftmaxBwd acc T=${T} mats=${mats}`, out(pa, n), want);
    ex.causalSoftmaxBwd(py, pg, pw, T, mats, sc, 0);
    exactly(`causalSoftmaxBwd overwrite T=${T} mats=${mats}`, out(pw, n), fresh);
  }
});

test("engine kernels: row softmax / log-softmax and their backward within 2e-6 of the float64 twin", () => {
  const g = new Generator().manualSeed(33);
  const ex = arena!.ex;
  for (const [rows, cols] of [
    [1, 1],
    [3, 5],
    [4, 27],
    [16, 65],
  ]) {
    for (const log of [0, 1] as const) {
      resetArena();
      const n = rows * cols;
      const x = randn(g, n).map((v) => v * 4);
      const gg = randn(g, n);
      const [px, py, pg, pgx] = place(x, new Float32Array(n), gg, new Float32Array(n));
      ex.softmaxRows(px, py, rows, cols, log);
      const want = new Float32Array(n);
      arenaReference.softmaxRows(x, want, rows, cols, log === 1);
      const y = out(py, n);
      within(`softmaxRows log=${log} ${rows}x${cols}`, y, want, log ? 2e-6 : 0, 2e-6);
      // backward from the kernel's own y: the same input for both
      ex.softmaxRowsBwd(py, pg, pgx, rows, cols, log, 0);
      const wgx = new Float32Array(n);
      arenaReference.softmaxRowsBackward(y, gg, wgx, rows, cols, log === 1, false);
      let scale = 0;
      for (const v of gg) scale = Math.max(scale, Math.abs(v));
      within(`softmaxRowsBwd log=${log} ${rows}x${cols}`, out(pgx, n), wgx, 2e-6 * scale * cols, 0);
    }
  }
});

test("engine kernels: LayerNorm forward and backward within float64 summation order of the twin", () => {
  const g = new Generator().manualSeed(34);
  const ex = arena!.ex;
  for (const [rows, C] of [
    [1, 1],
    [3, 5],
    [8, 64],
    [5, 33],
  ]) {
    for (const affine of [true, false]) {
      resetArena();
      const n = rows * C;
      const x = randn(g, n).map((v, i) => v * 2 + (i % 3));
      const gamma = randn(g, C);
      const beta = randn(g, C);
      const gg = randn(g, n);
      const [px, pga, pbe, pm, pr, ph, py] = place(
        x,
        gamma,
        beta,
        new Float32Array(rows),
        new Float32Array(rows),
        new Float32Array(n),
        new Float32Array(n),
      );
      ex.lnFwd(px, rows, C, affine ? pga : 0, affine ? pbe : 0, 1e-5, pm, pr, ph, py);
      const m = new Float32Array(rows);
      const r = new Float32Array(rows);
      const h = new Float32Array(n);
      const y = new Float32Array(n);
      arenaReference.layerNorm(x, rows, C, affine ? gamma : null, affine ? beta : null, 1e-5, m, r, h, y);
      within(`ln mean ${rows}x${C}`, out(pm, rows), m, 1e-6, 1e-6);
      within(`ln rstd ${rows}x${C}`, out(pr, rows), r, 0, 1e-6);
      within(`ln xhat ${rows}x${C}`, out(ph, n), h, 1e-6, 1e-6);
      within(`ln y ${rows}x${C}`, out(py, n), y, 1e-6, 1e-6);
      const dg0 = randn(g, C);
      const db0 = randn(g, C);
      const dx0 = randn(g, n);
      const [qg, qdg, qdb, qdx] = place(gg, dg0, db0, dx0);
      // backward from the kernel's own xhat and rstd: the same inputs for both
      const hk = out(ph, n);
      const rk = out(pr, rows);
      ex.lnBwd(qg, ph, pr, affine ? pga : 0, rows, C, qdg, qdb, qdx, 1);
      const dg = dg0.slice();
      const db = db0.slice();
      const dx = dx0.slice();
      arenaReference.layerNormBackward(gg, hk, rk, affine ? gamma : null, rows, C, dg, db, dx, true);
      exactly(`ln dgamma ${rows}x${C}`, out(qdg, C), dg);
      exactly(`ln dbeta ${rows}x${C}`, out(qdb, C), db);
      within(`ln dx ${rows}x${C}`, out(qdx, n), dx, 1e-5, 1e-6);
      // accX 0 overwrites a NaN-filled dx (a fresh gradient)
      const qfx = alloc(n);
      ex.lnBwd(qg, ph, pr, affine ? pga : 0, rows, C, 0, 0, qfx, 0);
      const fx = new Float32Array(n);
      arenaReference.layerNormBackward(gg, hk, rk, affine ? gamma : null, rows, C, null, null, fx, false);
      within(`ln dx overwrite ${rows}x${C}`, out(qfx, n), fx, 1e-5, 1e-6);
    }
  }
});

test("engine kernels: AdamW equals its twin (and src/train/optim.ts's sequence) bit for bit over 20 steps", () => {
  const g = new Generator().manualSeed(35);
  const ex = arena!.ex;
  resetArena();
  const n = 1027;
  const w = randn(g, n);
  const m = new Float32Array(n);
  const v = new Float32Array(n);
  const [pw, pg, pm, pv] = place(w, new Float32Array(n), m, v);
  const [lr, b1, b2, eps, wd] = [5e-4, 0.9, 0.99, 1e-8, 0.01];
  const f = Math.fround;
  for (let t = 1; t <= 20; t++) {
    const grad = randn(g, n).map((x, i) => (i % 11 === 0 ? x * 1e-6 : x));
    arena!.f32.set(grad, pg >> 2);
    const args = [
      f(1 - lr * wd),
      f(b1),
      f(b2),
      f(1 - b1),
      f(1 - b2),
      f(Math.sqrt(1 - b2 ** t)),
      f(-(lr / (1 - b1 ** t))),
      f(eps),
    ] as const;
    ex.adamw(pw, pg, pm, pv, n, ...args);
    arenaReference.adamw(w, grad, m, v, ...args);
    exactly(`adamw w step ${t}`, out(pw, n), w);
    exactly(`adamw exp_avg step ${t}`, out(pm, n), m);
    exactly(`adamw exp_avg_sq step ${t}`, out(pv, n), v);
  }
});

test("engine kernels: AdamW's fused multiply-adds where float64 then float32 rounding would differ", () => {
  // m' = fma(g, one1, m b1) with b1 = 1: g = m = 1 + 2^-23, one1 = 2^-24 (1 - 2^-23), so the exact
  // sum 1 + 3 2^-24 - 2^-70 rounds to the float64 midpoint 1 + 3 2^-24, whose float32 rounding (to
  // even, 1 + 2^-22) is not the correct 1 + 2^-23. Lanes in every position of the four; subnormal-
  // range sums (m = 1e-39, g = 0 or 1e-40) and zeros beside them.
  const ex = arena!.ex;
  resetArena();
  const n = 11;
  const f = Math.fround;
  const one = 1 + 2 ** -23;
  const w = new Float32Array(n).fill(0.5);
  const grad = new Float32Array(n);
  const m = new Float32Array(n);
  const v = new Float32Array(n).fill(0.25);
  for (let i = 0; i < n; i++) {
    const kind = i % 4;
    grad[i] = kind === 0 || kind === 2 ? one : kind === 1 ? 0 : 1e-40;
    m[i] = kind === 0 || kind === 2 ? one : kind === 1 ? 1e-39 : 0;
  }
  const args = [
    f(1),
    f(1),
    f(0.99),
    f(2 ** -24 * (1 - 2 ** -23)),
    f(0.01),
    f(0.3),
    f(-1e-3),
    f(1e-8),
  ] as const;
  const [pw, pg, pm, pv] = place(w, grad, m, v);
  ex.adamw(pw, pg, pm, pv, n, ...args);
  arenaReference.adamw(w, grad, m, v, ...args);
  assert.equal(m[0], f(one), "the twin's correctly rounded fma");
  exactly("adamw exp_avg at midpoints", out(pm, n), m);
  exactly("adamw exp_avg_sq at midpoints", out(pv, n), v);
  exactly("adamw w at midpoints", out(pw, n), w);
});

test("engine kernels: SGD with momentum / weight decay / Nesterov equals its twin bit for bit", () => {
  const g = new Generator().manualSeed(36);
  const ex = arena!.ex;
  const f = Math.fround;
  // [weight decay, momentum, dampening, nesterov]
  const configs: [number, number, number, boolean][] = [
    [0.01, 0, 0, false],
    [0, 0.9, 0, false],
    [0, 0.9, 0.1, false],
    [5e-4, 0.9, 0, true],
    [1e-3, 0.5, 0.25, false],
  ];
  for (const n of [1, 2, 7, 1027]) {
    for (const [wd, mom, damp, nesterov] of configs) {
      resetArena();
      const w = randn(g, n);
      const b = new Float32Array(n);
      const [pw, pg, pb] = place(w, new Float32Array(n), b);
      const flags =
        (wd ? SGD_FLAGS.decay : 0) | (mom ? SGD_FLAGS.momentum : 0) | (nesterov ? SGD_FLAGS.nesterov : 0);
      for (let t = 1; t <= 5; t++) {
        const grad = randn(g, n).map((x, i) => (i % 5 === 0 ? x * 1e-4 : x));
        arena!.f32.set(grad, pg >> 2);
        const fl = flags | (t === 1 ? SGD_FLAGS.first : 0);
        const args = [f(wd), f(mom), f(1 - damp), f(-0.1)] as const;
        ex.sgdMomentum(pw, pg, pb, n, ...args, fl);
        arenaReference.sgdMomentum(w, grad, mom ? b : null, ...args, fl);
        const what = `sgd n=${n} wd=${wd} momentum=${mom} dampening=${damp} nesterov=${nesterov} step ${t}`;
        exactly(`${what} w`, out(pw, n), w);
        if (mom) exactly(`${what} momentum_buffer`, out(pb, n), b);
      }
    }
  }
});

test("bench profile: a training step's recorded gemm calls are its Linear products, and the verdicts follow the arithmetic", () => {
  // the lecture's BatchNorm MLP at batch 32: Linear 30 -> 200 and 200 -> 27, no bias in the first
  const g = new Generator().manualSeed(2147483647);
  const model = buildModel(presetSpec("batchnorm", 27, 3), g) as MLP;
  const words = parseLines(readFileSync(new URL("../data/names.txt", import.meta.url), "utf8"));
  const data = prepareData(words.slice(0, 200), 3);
  train(model, data.train, { ...LECTURE_TRAIN, batchSize: 32, maxSteps: 2 }, g); // capture + verify
  const log: GemmCall[] = [];
  setGemmLog(log);
  train(model, data.train, { ...LECTURE_TRAIN, batchSize: 32, maxSteps: 1 }, g);
  setGemmLog(null);
  // [transA, transB, m, n, k] of forward Y = X W, dX = G W^T, dW = X^T G per Linear
  const shapes = log.map((c) => c.shape.join(",")).sort();
  assert.deepEqual(shapes, [
    "0,0,32,200,30",
    "0,0,32,27,200",
    "0,1,32,200,27",
    "0,1,32,30,200",
    "1,0,200,27,32",
    "1,0,30,200,32",
  ]);
  const flops = log.reduce((s, { shape: a }) => s + 2 * a[2] * a[3] * a[4], 0);
  assert.equal(flops, stepFlops(model, 32));

  // verdict: F = 1 GFLOP a step, ceiling 50 GFLOP/s (a step's gemm >= 20 ms), PyTorch 10 steps/s
  const row = scalingRow;
  // 6x needs 60 steps/s = 60 GFLOP/s > 50
  assert.match(verdict(row(6, 20, 0.04), 50), /arithmetic-bound: it needs 60\.0 GFLOP\/s/);
  // against 128-bit SIMD's own bound at a measured clock (16 flops/cycle): 3.5 GHz = 56 < 60, 4 GHz = 64
  assert.match(verdict(row(6, 20, 0.04), 50, 16 * 3.5), /and over the 56\.0 of 16 flops\/cycle/);
  assert.match(verdict(row(6, 20, 0.04), 50, 16 * 4), /under the 64\.0 of 16 flops\/cycle/);
  // 3x: 33.3 ms allowed; gemm >= 20 ms, rest 50 - 40 = 10 ms: 30 ms fits, so the gemm needs
  // 1 GFLOP in 23.3 ms = 42.9 GFLOP/s
  assert.match(verdict(row(3, 20, 0.04), 50), /reachable: .* needs 42\.9 GFLOP\/s \(86% of the ceiling\)/);
  // 4x: 25 ms allowed; 20 + 10 > 25: the rest must shrink below 5 ms
  assert.match(verdict(row(4, 20, 0.04), 50), /out of reach .* the rest must shrink below 5000 us/);
  assert.match(verdict(row(2, 20, 0.04), 50), /met$/);
});
