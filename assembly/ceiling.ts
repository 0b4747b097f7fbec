// Bench-only module (scripts/bench-gemm.ts compiles it on the fly; it is not shipped): the gemm's 4x8
// microkernel (assembly/gemm-kernel.ts `tile`) repeated on one L1-resident tile, A (4 x k) and
// B (k x 8) packed. Its GFLOP/s is the ceiling of the gemm on this CPU: everything the full gemm
// does beyond it (packing, edge tiles, cache misses, loop control) only subtracts.

import { tile } from "./gemm-kernel";

export function heapBase(): usize {
  return __heap_base;
}

/** reps times: C(4, 8) = A(4, k) @ B(k, 8), panels packed at ap (16k bytes) and bp (32k bytes). */
export function ceiling(k: i32, reps: i32, ap: usize, bp: usize, c: usize, scratch: usize): void {
  for (let r = 0; r < reps; r++) tile(4, 8, k, ap, 16, bp, 32, c, 32, false, false, 0, scratch);
}
