// GFLOP/s of the gemm kernels on makemore's lecture shapes: referenceKernels (plain TypeScript) vs
// wasmKernels (WebAssembly SIMD). Run: node --import tsx scripts/bench-kernels.ts [--no-eval]
//
// For every forward product X(m,k) @ W(k,n) it times the forward (NN) and both backward products:
// dX = G @ W^T (NT: m x k, inner n) and dW = X^T @ G (TN: k x n, inner m, accumulating like a
// gradient). Each figure is the median of several timed runs of a batch sized to ~20 ms. The
// evaluation shapes (m = 182625 rows, the whole training split) run the reference once.

import { Generator } from "../src/random/generator.ts";
import { type Kernels, referenceKernels } from "../src/tensor/kernels.ts";
import { wasmAvailable, wasmKernels } from "../src/tensor/wasm/kernels-wasm.ts";

interface Case {
  label: string;
  transA: boolean;
  transB: boolean;
  m: number;
  n: number;
  k: number;
  acc: boolean;
}

const lecture: [number, number, number][] = [
  // [m, k, n] of X(m,k) @ W(k,n)
  [32, 30, 200],
  [32, 200, 27],
  [32, 100, 100],
  [32, 30, 100],
  [32, 100, 27],
];

const cases: Case[] = [];
for (const [m, k, n] of lecture) {
  const fwd = `(${m},${k})@(${k},${n})`;
  cases.push({ label: `${fwd} NN fwd`, transA: false, transB: false, m, n, k, acc: false });
  cases.push({ label: `${fwd} NT dX`, transA: false, transB: true, m, n: k, k: n, acc: false });
  cases.push({ label: `${fwd} TN dW`, transA: true, transB: false, m: k, n, k: m, acc: true });
}
if (!process.argv.includes("--no-eval")) {
  for (const [k, n] of [
    [30, 200],
    [200, 27],
    [30, 100],
    [100, 100],
    [100, 27],
  ] as const) {
    const m = 182625;
    cases.push({
      label: `(${m},${k})@(${k},${n}) NN eval`,
      transA: false,
      transB: false,
      m,
      n,
      k,
      acc: false,
    });
  }
}

const g = new Generator().manualSeed(1234);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

/** Median GFLOP/s over `runs` timed batches of `reps` calls. */
function measure(
  kern: Kernels,
  c: Case,
  A: Float32Array,
  B: Float32Array,
  C: Float32Array,
  runs: number,
): number {
  const flops = 2 * c.m * c.n * c.k;
  const call = () => kern.gemm(c.transA, c.transB, c.m, c.n, c.k, A, B, C, c.acc);
  call(); // warm-up (also instantiates / grows the wasm memory)
  let t = performance.now();
  call();
  const once = Math.max(performance.now() - t, 1e-3);
  const reps = Math.max(1, Math.round(20 / once));
  for (let i = 0; i < Math.min(reps, 50); i++) call(); // let the JIT settle on small shapes
  const rates: number[] = [];
  for (let r = 0; r < runs; r++) {
    t = performance.now();
    for (let i = 0; i < reps; i++) call();
    const ms = performance.now() - t;
    rates.push((flops * reps) / (ms * 1e6));
  }
  return median(rates);
}

if (!wasmAvailable()) throw new Error("WebAssembly SIMD module failed to instantiate");
console.log(
  `${"shape".padEnd(32)} ${"reference".padStart(10)} ${"wasm".padStart(10)} ${"speedup".padStart(8)}`,
);
for (const c of cases) {
  const A = new Float32Array(c.m * c.k);
  const B = new Float32Array(c.k * c.n);
  const C = new Float32Array(c.m * c.n);
  g.randnInto(A);
  g.randnInto(B);
  const big = c.m * c.n * c.k > 1e8;
  const ref = measure(referenceKernels, c, A, B, C, big ? 1 : 7);
  const wasm = measure(wasmKernels, c, A, B, C, big ? 5 : 7);
  console.log(
    `${c.label.padEnd(32)} ${ref.toFixed(2).padStart(10)} ${wasm.toFixed(2).padStart(10)} ${`${(wasm / ref).toFixed(1)}x`.padStart(8)}`,
  );
}
console.log("GFLOP/s, median of timed batches (reference on evaluation shapes: a single run)");
