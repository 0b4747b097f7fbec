/**
 * The gemm's ceiling on this CPU, for the bench's verdicts (src/bench/scaling.ts) and
 * scripts/bench-gemm.ts: the 4x8 microkernel (assembly/gemm-kernel.ts `tile`) repeated on one
 * L1-resident tile (assembly/ceiling.ts), so no packing, no edge tiles, no cache misses. Whatever
 * the full gemm does beyond that inner loop only subtracts.
 *
 * The arithmetic it is compared with: a 128-bit WebAssembly SIMD multiply (or fused multiply-add)
 * is 4 float32 lanes; a Zen 4 or Zen 5 core issues two multiplies (or two FMAs) per cycle besides
 * two adds, so the plain mul + add kernel and the FMA kernel both retire at most 8 products = 16
 * flops per cycle. The CPU's own widest FMA code (OpenBLAS's kernels) retires 32 or 64
 * (src/bench/machine.ts nativePeak).
 * `measureCeiling` also clocks the core (a chain of dependent one-cycle integer operations,
 * interleaved with the microkernel's batches), so the ceiling is stated in flops per cycle against
 * those 16 rather than assumed to be them.
 */

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { Generator } from "../random/generator.ts";

/** flops per cycle per core of 128-bit SIMD on this CPU (2 mul/FMA pipes x 4 lanes x 2 flops) */
export const SIMD128_FLOPS_PER_CYCLE = 16;

/** This thread's CPU time in ms (user + system): it does not count time other processes hold the core. */
export function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

/**
 * Median GFLOP/s (per CPU second) of `flops`-sized calls, in `batches` batches of about 20 ms,
 * after `warm` ms of warm-up (V8 runs new wasm code in its baseline tier first and swaps in the
 * optimised code at a later call).
 */
export function gflopRate(flops: number, call: () => void, batches = 7, warm = 100): number {
  let t = performance.now();
  let calls = 0;
  while (performance.now() - t < warm) {
    call();
    calls++;
  }
  const reps = Math.max(1, Math.round((20 * calls) / (performance.now() - t)));
  const rates: number[] = [];
  for (let r = 0; r < batches; r++) {
    t = cpuMs();
    for (let i = 0; i < reps; i++) call();
    rates.push((flops * reps) / ((cpuMs() - t) * 1e6));
  }
  return median(rates);
}

interface CeilingExports {
  memory: WebAssembly.Memory;
  heapBase(): number;
  ceiling(k: number, reps: number, ap: number, bp: number, c: number, scratch: number): void;
  clockChain(n: number, y: number, z: number): number;
}

/**
 * Compile assembly/ceiling.ts with asc (a dev dependency) in a child process: compiling in this
 * process would leave V8's background compiler busy optimising binaryen's own large wasm, and the
 * module would then run unoptimised for seconds.
 */
function ceilingModule(root: string, relaxed: boolean): WebAssembly.Instance {
  const out = join(mkdtempSync(join(tmpdir(), "makemore-ceiling-")), "ceiling.wasm");
  const asc = join(root, "node_modules/assemblyscript/bin/asc.js");
  execFileSync(
    process.execPath,
    [asc, "assembly/ceiling.ts", "--enable", "simd", "-O3", "--runtime", "stub"].concat([
      ...(relaxed ? ["--enable", "relaxed-simd"] : []),
      "--noAssert",
      "--outFile",
      out,
    ]),
    { cwd: root, stdio: "inherit" },
  );
  const bytes = readFileSync(out);
  rmSync(dirname(out), { recursive: true });
  return new WebAssembly.Instance(new WebAssembly.Module(bytes), {});
}

/**
 * GFLOP/s (per CPU second) of the 4x8 microkernel on L1-resident packed panels (k = 256), in the
 * plain build or the relaxed-SIMD (FMA) one; `root` is the repository (where asc and assembly/ are).
 */
export function microkernelCeiling(root: string, relaxed = false, batches = 7): number {
  return ceilingSetup(root, relaxed).rate(batches);
}

/** The microkernel's rate (`rate`) and the ceiling module's clock chain (`clock`, GHz per batch). */
function ceilingSetup(root: string, relaxed: boolean) {
  const cx = ceilingModule(root, relaxed).exports as unknown as CeilingExports;
  const k = 256;
  const base = (cx.heapBase() + 63) & ~63;
  cx.memory.grow(2);
  const f = new Float32Array(cx.memory.buffer);
  const g = new Generator().manualSeed(1);
  const ap = base;
  const bp = ap + 16 * k;
  const c = bp + 32 * k;
  g.randnInto(f.subarray(ap >> 2, (ap >> 2) + 4 * k));
  g.randnInto(f.subarray(bp >> 2, (bp >> 2) + 8 * k));
  const reps = 200;
  const kernel = () => cx.ceiling(k, reps, ap, bp, c, c + 256);
  const flops = 2 * 4 * 8 * k * reps;
  let calls = 0; // calls in a ~20 ms batch, sized at the first batch
  return {
    rate: (batches: number) => gflopRate(flops, kernel, batches),
    /** one batch of the microkernel (~20 ms), GFLOP/s */
    kernelBatch: () => {
      if (calls === 0) {
        const t0 = performance.now();
        while (performance.now() - t0 < 100) {
          kernel();
          calls++;
        }
        calls = Math.max(1, calls >> 2);
      }
      const t = cpuMs();
      for (let i = 0; i < calls; i++) kernel();
      return (flops * calls) / ((cpuMs() - t) * 1e6);
    },
    /** one batch of the clock chain (~20 ms), GHz */
    clock: () => {
      const n = 200_000;
      const t = cpuMs();
      cx.clockChain(n, 12345, 678);
      return (32 * n) / ((cpuMs() - t) * 1e6);
    },
  };
}

export interface Ceiling {
  /** the microkernel's GFLOP/s: the best of the batches */
  gflops: number;
  /** the core's clock in GHz beside that batch, from the dependent integer chain */
  ghz: number;
  /** flops per cycle: that batch's GFLOP/s over the clock beside it */
  flopsPerCycle: number;
}

/**
 * The microkernel's ceiling and the clock, in alternating batches: on a shared machine the clock a
 * core gets drifts, so each batch's flops per cycle is taken against the clock measured right
 * beside it. A ceiling is what the kernel can do, and other processes only take from it (a CPU
 * clock does not run fast), so the best batch is kept, not the median: under load the median fell
 * below the rate the full gemm itself reached a minute earlier.
 */
export function measureCeiling(root: string, relaxed = false, batches = 7): Ceiling {
  const s = ceilingSetup(root, relaxed);
  s.kernelBatch(); // warm both: V8 tiers the module up at a later call
  for (let i = 0; i < 5; i++) s.clock();
  const rates: number[] = [];
  const clocks: number[] = [];
  const perCycle: number[] = [];
  for (let b = 0; b < batches; b++) {
    const before = s.clock();
    const r = s.kernelBatch();
    const after = s.clock();
    rates.push(r);
    clocks.push((before + after) / 2);
    perCycle.push(r / ((before + after) / 2));
  }
  const best = rates.indexOf(Math.max(...rates));
  return { gflops: rates[best]!, ghz: clocks[best]!, flopsPerCycle: perCycle[best]! };
}
