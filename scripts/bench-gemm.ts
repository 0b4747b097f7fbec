// GFLOP/s of the one gemm (assembly/gemm-kernel.ts) against its ceiling on this CPU, in both
// builds, interleaved shape by shape: plain SIMD (mul + add, the default) and relaxed SIMD (fused
// multiply-add, MAKEMORE_FMA=1; src/tensor/wasm/load.ts).
//
//   node --import tsx scripts/bench-gemm.ts [--quick]
//   node --import tsx scripts/bench-gemm.ts --step d2-h512,d2-h1024,transformer
//
// Ceiling: the 4x8 microkernel alone on one L1-resident tile (assembly/ceiling.ts, compiled here
// with asc, in both builds), i.e. the inner loop with no packing, no edges, no cache misses. Then
// every product of makemore's training step for the lecture shapes and the depth-2 nets of the
// bench (block 8 x n-embd 24 = 192 inputs), plus square shapes up to 1024^3, each in its three
// forms: forward Y = X @ W (NN), dX = G @ W^T (NT) and dW = X^T @ G (TN, accumulating). Timed on
// pointers in an instance of each build (no copies), and through the generic ops' wrapper
// (src/tensor/wasm/kernels-wasm.ts, which copies operands in and out; the build in effect).
// Each figure: the median of 7 batches of ~20 ms; `uptime` is printed, since the machine is shared.
//
// --step ROWS: the gemm calls of a real training step instead (a scaling row of `npm run bench`, or
// a model row such as transformer), recorded by the engine's gemm log (src/tensor/engine.ts
// setGemmLog) and replayed in order, on the plan's own arena and pointers, so each call finds the
// caches as the step leaves them. Each call is clocked on every replay and its median kept (a
// replay the machine preempts does not move a median); the calls are then summed per shape.

import { execSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { gflopRate, measureCeiling, microkernelCeiling } from "../src/bench/ceiling.ts";
import { Generator } from "../src/random/generator.ts";
import { Arena, type ArenaExports } from "../src/tensor/wasm/arena-wasm.ts";
import { wasmKernels } from "../src/tensor/wasm/kernels-wasm.ts";
import { fmaActive, fmaModule, plainModule } from "../src/tensor/wasm/load.ts";

const quick = process.argv.includes("--quick");
const stepAt = process.argv.indexOf("--step");
if (stepAt >= 0) {
  await profileSteps(process.argv[stepAt + 1] ?? "d2-h512,d2-h1024,transformer");
  process.exit(0);
}
const root = fileURLToPath(new URL("..", import.meta.url));
/** Median GFLOP/s per CPU second of `flops`-sized calls (src/bench/ceiling.ts). */
const rate = (flops: number, call: () => void, warm = 100) => gflopRate(flops, call, quick ? 3 : 7, warm);

console.log(`load: ${execSync("uptime").toString().trim()}`);
const fmaMod = fmaModule("arena"); // also sets the V8 flag that relaxed SIMD needs on Node 20
const fma = fmaMod !== null;
console.log(
  `fused multiply-add build: ${fma ? "runs here" : "unavailable here"}; in effect for training: ${fmaActive() ? "yes (MAKEMORE_FMA=1)" : "no (the default)"}`,
);
/** GFLOP/s of the 4x8 microkernel on L1-resident panels (k = 256), per build. */
const ceilingOf = (relaxed: boolean) => microkernelCeiling(root, relaxed, quick ? 3 : 7);
const plainCeiling = measureCeiling(root, false, quick ? 3 : 7);
const ceilPlain = plainCeiling.gflops;
const ceil = fma ? ceilingOf(true) : ceilPlain;
console.log(
  `ceiling (4x8 microkernel, k=256, L1-resident): plain ${ceilPlain.toFixed(1)} GFLOP/s, fused multiply-add ${fma ? ceil.toFixed(1) : "-"} GFLOP/s`,
);
console.log(
  `clock beside the plain ceiling: ${plainCeiling.ghz.toFixed(2)} GHz, ${plainCeiling.flopsPerCycle.toFixed(1)} flops/cycle of the 16 a 128-bit core retires`,
);

// [m, k, n] of a forward product X(m, k) @ W(k, n)
const shapes: [string, number, number, number][] = [
  ["lecture", 32, 30, 200],
  ["lecture", 32, 200, 27],
  ["lecture", 32, 100, 100],
  ["d2 H200 B32", 32, 192, 200],
  ["d2 H200 B32", 32, 200, 200],
  ["d2 H512 B128", 128, 192, 512],
  ["d2 H512 B128", 128, 512, 512],
  ["d2 H512 B128", 128, 512, 27],
  ["d2 H1024 B256", 256, 192, 1024],
  ["d2 H1024 B256", 256, 1024, 1024],
  ["d2 H1024 B256", 256, 1024, 27],
  ["transformer", 512, 64, 256],
  ["transformer", 512, 256, 64],
  ["transformer", 512, 64, 192],
  ["square", 256, 256, 256],
  ["square", 512, 512, 512],
  ["square", 1024, 1024, 1024],
];

const arena = Arena.create();
if (!arena) throw new Error("the arena module does not instantiate here");
const maxFloats = 1024 * 1024 + 64;
const pa = arena.alloc(maxFloats);
const pb = arena.alloc(maxFloats);
const pc = arena.alloc(maxFloats);
arena.seal();
const ex = arena.ex;
const gen = new Generator().manualSeed(2);
gen.randnInto(arena.view(pa, maxFloats));
gen.randnInto(arena.view(pb, maxFloats));
// each build over a copy of the arena's memory (same offsets, its own gemm workspace)
function instance(mod: WebAssembly.Module): ArenaExports {
  const x = new WebAssembly.Instance(mod, {}).exports as unknown as ArenaExports;
  x.memory.grow((ex.memory.buffer.byteLength - x.memory.buffer.byteLength) / 65536);
  x.setGemmWork((x.heapBase() + 15) & ~15);
  new Float32Array(x.memory.buffer).set(new Float32Array(ex.memory.buffer));
  return x;
}
const px = instance(plainModule("arena")!);
const fx = fmaMod ? instance(fmaMod) : px;

console.log(
  `${"shape (m x n x k, form)".padEnd(40)} ${"plain".padStart(7)} ${"of ceil".padStart(8)} ${"fma".padStart(7)} ${"of ceil".padStart(8)} ${"generic".padStart(8)}`,
);
// the first calls of a module run in V8's baseline tier: warm them up on a mid-size shape first
rate(1, () => fx.gemm(0, 0, 128, 128, 128, pa, 128, pb, 128, pc, 128, 0, 0, 0), 1000);
rate(1, () => px.gemm(0, 0, 128, 128, 128, pa, 128, pb, 128, pc, 128, 0, 0, 0), 1000);
{
  const A = new Float32Array(128 * 128);
  rate(1, () => wasmKernels.gemm(false, false, 128, 128, 128, A, A, A.slice(), false), 1000);
}
for (const [label, m, k, n] of shapes) {
  if (quick && m * n * k > 1e8) continue;
  // [form, transA, transB, M, N, K, acc]: forward, dX = G @ W^T, dW = X^T @ G
  const forms: [string, number, number, number, number, number, number][] = [
    ["NN fwd", 0, 0, m, n, k, 0],
    ["NT dX", 0, 1, m, k, n, 0],
    ["TN dW", 1, 0, k, n, m, 1],
  ];
  for (const [form, tA, tB, M, N, K, acc] of forms) {
    const flops = 2 * M * N * K;
    const lda = tA ? M : K;
    const ldb = tB ? K : N;
    const rp = rate(flops, () => px.gemm(tA, tB, M, N, K, pa, lda, pb, ldb, pc, N, acc, 0, 0));
    const r = fma ? rate(flops, () => fx.gemm(tA, tB, M, N, K, pa, lda, pb, ldb, pc, N, acc, 0, 0)) : rp;
    const A = arena.view(pa, M * K).slice();
    const B = arena.view(pb, K * N).slice();
    const C = new Float32Array(M * N);
    const rg = rate(flops, () => wasmKernels.gemm(tA === 1, tB === 1, M, N, K, A, B, C, acc === 1));
    const name = `${label} ${M}x${N}x${K} ${form}`;
    const pct = (x: number, c: number) => `${((100 * x) / c).toFixed(0)}%`.padStart(8);
    console.log(
      `${name.padEnd(40)} ${rp.toFixed(1).padStart(7)} ${pct(rp, ceilPlain)} ${fma ? r.toFixed(1).padStart(7) : "      -"} ${fma ? pct(r, ceil) : "       -"} ${rg.toFixed(1).padStart(8)}`,
    );
  }
}
console.log(
  `GFLOP/s, medians of ${quick ? 3 : 7} batches; load after: ${execSync("uptime").toString().trim()}`,
);

/** Per-shape GFLOP/s of the gemm calls of a few training steps of each row (see --step above). */
async function profileSteps(rows: string): Promise<void> {
  const { readFileSync } = await import("node:fs");
  const { MODEL_ROWS, ourRow } = await import("../src/bench/models.ts");
  const { parseRows } = await import("../src/bench/scaling.ts");
  const { parseLines, prepareData } = await import("../src/data/dataset.ts");
  const { buildModel } = await import("../src/models/mlp.ts");
  const { setGemmLog } = await import("../src/tensor/engine.ts");
  const { LECTURE_TRAIN, train } = await import("../src/train/train.ts");
  type Call = import("../src/tensor/engine.ts").GemmCall;
  const words = parseLines(readFileSync(new URL("../data/names.txt", import.meta.url), "utf8"));
  console.log(`load: ${execSync("uptime").toString().trim()}`);
  for (const name of rows.split(",").map((s) => s.trim())) {
    let run: (n: number) => void;
    if ((MODEL_ROWS as readonly string[]).includes(name)) {
      const r = ourRow(name as (typeof MODEL_ROWS)[number], words);
      run = (n) => {
        train(r.model, r.data.train, { ...r.cfg, maxSteps: r.step + n }, r.g, {}, r.step, r.optimizer);
        r.step += n;
      };
    } else {
      const row = parseRows(name)[0]!;
      const g = new Generator().manualSeed(2147483647);
      const model = buildModel(row.spec, g);
      const d = prepareData(words, row.spec.blockSize);
      run = (n) => train(model, d.train, { ...LECTURE_TRAIN, batchSize: row.batch, maxSteps: n }, g);
    }
    run(5); // the capture and the JIT's first tiers
    const steps = 2;
    const log: Call[] = [];
    setGemmLog(log);
    try {
      run(steps);
    } finally {
      setGemmLog(null);
    }
    const replay = () => {
      for (const c of log) c.run();
    };
    for (let t = performance.now(); performance.now() - t < 300; ) replay(); // warm
    // clock every call on every replay, for ~2 s of replays
    const times = log.map(() => [] as number[]);
    const c0 = cpuMsNow();
    let reps = 0;
    for (const t = performance.now(); performance.now() - t < (quick ? 700 : 2000) || reps < 5; reps++) {
      for (let i = 0; i < log.length; i++) {
        const t0 = performance.now();
        log[i]!.run();
        times[i]!.push(performance.now() - t0);
      }
    }
    const replayMs = (cpuMsNow() - c0) / reps / steps;
    // what clocking a call costs by itself (two clock reads and a closure call), taken off each
    // median: it is most of a 16 x 16 x 16 call's time
    const idle: number[] = [];
    const nothing = () => {};
    for (let r = 0; r < 20000; r++) {
      const t0 = performance.now();
      nothing();
      idle.push(performance.now() - t0);
    }
    const clockMs = median(idle);
    // the same calls each repeated on their own, right after: operands hot in the caches
    const alone = log.map(() => [] as number[]);
    for (let r = 0; r < Math.max(5, Math.min(reps, 30)); r++) {
      for (let i = 0; i < log.length; i++) {
        log[i]!.run();
        const t0 = performance.now();
        log[i]!.run();
        alone[i]!.push(performance.now() - t0);
      }
    }
    const byShape = new Map<string, { calls: number; ms: number; flops: number; hotMs: number }>();
    let totalFlops = 0;
    let totalMs = 0;
    for (const [i, c] of log.entries()) {
      const [ta, tb, m, n, k] = c.shape;
      const key = `(${ta},${tb},${m},${n},${k})`;
      const e = byShape.get(key) ?? { calls: 0, ms: 0, flops: 0, hotMs: 0 };
      const ms = Math.max(1e-6, median(times[i]!) - clockMs);
      e.calls++;
      e.ms += ms;
      e.hotMs += Math.max(1e-6, median(alone[i]!) - clockMs);
      e.flops += 2 * m * n * k;
      totalFlops += 2 * m * n * k;
      totalMs += ms;
      byShape.set(key, e);
    }
    console.log(
      `${name}: ${log.length / steps} gemm calls a step, ${(totalFlops / steps / 1e6).toFixed(1)} MFLOP; ` +
        `the replay ${replayMs.toFixed(2)} CPU-ms a step (${(totalFlops / steps / replayMs / 1e6).toFixed(1)} GFLOP/s), ` +
        `sum of per-call medians ${(totalMs / steps).toFixed(2)} ms (${(totalFlops / totalMs / 1e6).toFixed(1)} GFLOP/s; ${(clockMs * 1e6).toFixed(0)} ns of clocking taken off each call)`,
    );
    console.log(
      `  ${"(transA,transB,M,N,K)".padEnd(26)} ${"calls".padStart(6)} ${"ms/step".padStart(8)} ${"share".padStart(6)} ${"GFLOP/s".padStart(8)} ${"alone".padStart(6)}`,
    );
    for (const [key, e] of [...byShape].sort((a, b) => b[1].ms - a[1].ms)) {
      console.log(
        `  ${key.padEnd(26)} ${String(e.calls / steps).padStart(6)} ${(e.ms / steps).toFixed(3).padStart(8)} ${`${((100 * e.ms) / totalMs).toFixed(0)}%`.padStart(6)} ${(e.flops / e.ms / 1e6).toFixed(1).padStart(8)} ${(e.flops / e.hotMs / 1e6).toFixed(1).padStart(6)}`,
      );
    }
  }
  const c = measureCeiling(fileURLToPath(new URL("..", import.meta.url)), false, 5);
  console.log(
    `the microkernel's ceiling now: ${c.gflops.toFixed(1)} GFLOP/s, ${c.flopsPerCycle.toFixed(1)} flops/cycle at ${c.ghz.toFixed(2)} GHz`,
  );
  console.log(`medians over replays; load after: ${execSync("uptime").toString().trim()}`);
}

function cpuMsNow(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}
