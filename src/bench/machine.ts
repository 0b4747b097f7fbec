/**
 * What the bench must know about the machine to judge its own ratios honestly:
 *
 *   - `blasWarning`: which BLAS PyTorch mapped. Debian's python3-torch depends on the virtual
 *     libblas.so.3, which a fresh machine satisfies with the reference BLAS (libblas3, plain
 *     Fortran loops, about 3 GFLOP/s a core); PyTorch's matmuls are then 10-30x slower than with
 *     OpenBLAS, and every ratio to it flatters makemore.ts (on 2026-12-02 the scaling rows printed
 *     6.8x-9.9x and "met" for all six targets against the reference BLAS, and 0.36x-3.3x against
 *     OpenBLAS on the same machine a minute later). The bench still prints the figures but says so,
 *     and judges no target against them.
 *   - `nativePeak`: the float32 flops per cycle a core can retire with the CPU's own widest vector
 *     FMA code (what OpenBLAS runs), from the vendor, family and flags in /proc/cpuinfo. It is the
 *     bound no kernel on this core can pass, against 128-bit WebAssembly SIMD's 16
 *     (src/bench/ceiling.ts): an AMD Zen 3/4 core has two 256-bit FMA pipes, so 2 x 8 lanes x 2 =
 *     32 (Zen 4 runs an AVX-512 instruction on both halves in turn, not twice as fast); Zen 5's
 *     server and desktop cores have full 512-bit pipes, 64; an Intel core with AVX-512 has two
 *     512-bit FMA ports on most server parts (64), AVX2 + FMA cores 32.
 */

import { readFileSync } from "node:fs";

/**
 * null when `blas` (the shared objects PyTorch mapped, ", "-separated, from
 * scripts/torch/bench_worker.py `blas_library`) include an optimised BLAS; otherwise the one line
 * that says why the ratios cannot be trusted and how to fix it.
 */
export function blasWarning(blas: string | undefined, matmulGflops?: number): string | null {
  if (blas === undefined) return null; // an old worker that does not say: nothing to judge by
  if (/openblas|mkl|blis|atlas/i.test(blas)) return null;
  const lib = blas.split(", ")[0] || blas;
  const speed = matmulGflops === undefined ? "" : ` (${matmulGflops.toFixed(1)} GFLOP/s on a 256x256 matmul)`;
  return (
    `PyTorch is on the reference BLAS, ${lib}${speed}, not OpenBLAS: its matmuls run 10-30x slow, ` +
    "so every ratio here flatters makemore.ts and no target is judged; install Debian's OpenBLAS " +
    "(apt-get install libopenblas0-openmp) and run the bench again"
  );
}

export interface NativePeak {
  /** float32 flops per cycle per core with the CPU's widest FMA vectors */
  flopsPerCycle: number;
  /** why: the core and its FMA pipes */
  why: string;
}

/** The CPU's native float32 peak per cycle from /proc/cpuinfo's text, or null when not known. */
export function nativePeak(cpuinfo?: string): NativePeak | null {
  let text = cpuinfo;
  if (text === undefined) {
    try {
      text = readFileSync("/proc/cpuinfo", "utf8");
    } catch {
      return null;
    }
  }
  const field = (name: string) => new RegExp(`^${name}\\s*:\\s*(.*)$`, "m").exec(text!)?.[1]?.trim();
  const vendor = field("vendor_id");
  const family = Number(field("cpu family"));
  const flags = new Set((field("flags") ?? "").split(/\s+/));
  const fma = flags.has("fma") && flags.has("avx2");
  if (!fma) return null;
  if (vendor === "AuthenticAMD") {
    if (family === 25) return { flopsPerCycle: 32, why: "AMD Zen 3/4: two 256-bit FMA pipes" };
    if (family === 26 && flags.has("avx512f"))
      return { flopsPerCycle: 64, why: "AMD Zen 5: two 512-bit FMA pipes" };
    if (family === 23) return { flopsPerCycle: 32, why: "AMD Zen 2: two 256-bit FMA pipes" };
    return null;
  }
  if (vendor === "GenuineIntel") {
    if (flags.has("avx512f"))
      return { flopsPerCycle: 64, why: "Intel AVX-512: two 512-bit FMA ports (one on some parts: 32)" };
    return { flopsPerCycle: 32, why: "Intel AVX2: two 256-bit FMA ports" };
  }
  return null;
}
