// Bench-only module (src/bench/ceiling.ts compiles it on the fly; it is not shipped): the gemm's 4x8
// microkernel (assembly/gemm-kernel.ts `tile`) repeated on one L1-resident tile, A (4 x k) and
// B (k x 8) packed. Its GFLOP/s is the ceiling of the gemm on this CPU: everything the full gemm
// does beyond it (packing, edge tiles, cache misses, loop control) only subtracts. And a clock: a
// chain of dependent one-cycle integer operations, whose rate is the core's cycles per second, so
// the ceiling can be put in flops per cycle against what the core's pipes can retire.

import { tile } from "./gemm-kernel";

export function heapBase(): usize {
  return __heap_base;
}

/** reps times: C(4, 8) = A(4, k) @ B(k, 8), panels packed at ap (16k bytes) and bp (32k bytes). */
export function ceiling(k: i32, reps: i32, ap: usize, bp: usize, c: usize, scratch: usize): void {
  for (let r = 0; r < reps; r++) tile(4, 8, k, ap, 16, bp, 32, c, 32, false, false, 0, scratch);
}

/**
 * n x 32 dependent one-cycle integer operations (x = (x + y) ^ z, 16 times an iteration; the
 * loop's own counter runs beside the chain): 32 n / seconds is the clock. Returns x, so the chain
 * is not dropped.
 */
export function clockChain(n: i32, y: i32, z: i32): i32 {
  let x: i32 = 1;
  for (let i = 0; i < n; i++) {
    x = (x + y) ^ z;
    x = (x + y) ^ z;
    x = (x + y) ^ z;
    x = (x + y) ^ z;
    x = (x + y) ^ z;
    x = (x + y) ^ z;
    x = (x + y) ^ z;
    x = (x + y) ^ z;
    x = (x + y) ^ z;
    x = (x + y) ^ z;
    x = (x + y) ^ z;
    x = (x + y) ^ z;
    x = (x + y) ^ z;
    x = (x + y) ^ z;
    x = (x + y) ^ z;
    x = (x + y) ^ z;
  }
  return x;
}
