/**
 * WebAssembly SIMD (f32x4) kernels: a drop-in `Kernels` whose `gemm` runs the one gemm of the
 * project (assembly/gemm-kernel.ts: cache-blocked, packed, a 4x8 microkernel; the arena module runs
 * the same source) in the small module compiled from assembly/gemm.ts.
 *
 * Wiring: `if (wasmAvailable()) setKernels(wasmKernels)`. Without WebAssembly SIMD (very old
 * engines) `wasmAvailable()` is false and `wasmKernels.gemm` falls back to `referenceKernels.gemm`.
 *
 * The module is instantiated synchronously on first use from bytes embedded in gemm.wasm.ts (the
 * build src/tensor/wasm/load.ts picks: fused multiply-add where it runs, the same as the arena's),
 * so nothing is fetched and no `node:` module is imported. Browsers
 * allow synchronous compilation on the main thread only for modules under 4 KB; this one is just
 * under and scripts/build-wasm.ts warns if it ever outgrows that. It owns one linear memory; each
 * call copies op(B) in, then walks op(A) in blocks of rows: copy the A rows in (and the C rows when
 * accumulating), compute, copy the C rows out. Blocking keeps memory small for the 182625-row
 * evaluation matmuls. The copies are O(mk + kn + mn) against O(mnk) work.
 *
 * Results match `referenceKernels.gemm` up to float32 rounding order: the kernel sums every C[i, j]
 * over p = 0..k-1 from zero, then adds C_old, so its bits do not depend on the row blocks;
 * non-finite inputs may differ where the reference skips zeros of A.
 */

import type { Kernels } from "../kernels.ts";
import { referenceKernels } from "../kernels.ts";
import { type ArenaExports, arenaExportsFor, scratchArena, scratchBegin, scratchPut } from "./arena-wasm.ts";
import { wasmModule } from "./load.ts";

/** The generic module's exports: the same gemm as the arena module's (one source). */
interface GemmExports {
  memory: WebAssembly.Memory;
  heapBase(): number;
  gemmWorkBytes(): number;
  gemm: ArenaExports["gemm"];
}

interface WasmState {
  ex: GemmExports;
  /** View of the whole memory; replaced after every grow (growth detaches the old buffer). */
  heap: Float32Array;
  /** First float index the wrapper may use (module data lives below). */
  base: number;
}

/**
 * Target bytes of one row block (A rows + C rows): it bounds the module's memory for the 182625-row
 * evaluation products, and every block re-packs a large B, so blocks stay big (4 MB).
 */
const BLOCK_BYTES = 1 << 22;
const PAGE_BYTES = 65536;

let state: WasmState | null | undefined;

function instantiate(): WasmState | null {
  const mod = wasmModule("gemm");
  if (!mod) return null;
  try {
    const ex = new WebAssembly.Instance(mod, {}).exports as unknown as GemmExports;
    const base = align16(Math.ceil(ex.heapBase() / 4));
    return { ex, heap: new Float32Array(ex.memory.buffer), base };
  } catch {
    return null;
  }
}

function getState(): WasmState | null {
  if (state === undefined) state = instantiate();
  return state;
}

/** True when the WebAssembly SIMD module instantiates in this engine. */
export function wasmAvailable(): boolean {
  return getState() !== null;
}

/** Round a float count up to a multiple of 16 floats (64 bytes). */
function align16(x: number): number {
  return (x + 15) & ~15;
}

/** Make the memory at least `floats` floats long and return a current view of it. */
function ensure(s: WasmState, floats: number): Float32Array {
  const need = floats * 4;
  const mem = s.ex.memory;
  if (mem.buffer.byteLength < need) {
    mem.grow(Math.ceil((need - mem.buffer.byteLength) / PAGE_BYTES));
  }
  if (s.heap.buffer !== mem.buffer) s.heap = new Float32Array(mem.buffer);
  return s.heap;
}

function gemmWasm(
  s: WasmState,
  transA: boolean,
  transB: boolean,
  m: number,
  n: number,
  k: number,
  A: Float32Array,
  B: Float32Array,
  C: Float32Array,
  acc: boolean,
): void {
  if (m === 0 || n === 0) return;
  if (k === 0) {
    if (!acc) C.fill(0, 0, m * n);
    return;
  }
  // Rows per block: a multiple of 4 (the microkernel's row panel), all of m when it fits.
  let mb = Math.max(4, Math.floor(BLOCK_BYTES / (4 * (k + n))) & ~3);
  if (mb >= m) mb = m;
  // Layout, in floats from s.base: gemm workspace | B | A (a row block, or all of A^T) | C row
  // block; every buffer is followed by at least 32 bytes (the kernel's partial panels read past).
  const workOff = s.base;
  const bOff = workOff + align16(s.ex.gemmWorkBytes() / 4);
  const aOff = bOff + align16(n * k + 8);
  const cOff = aOff + align16((transA ? m : mb) * k + 8);
  const heap = ensure(s, cOff + align16(mb * n + 8));
  const ex = s.ex;

  heap.set(B.length === n * k ? B : B.subarray(0, n * k), bOff);
  if (transA) heap.set(A.length === m * k ? A : A.subarray(0, m * k), aOff);

  for (let i0 = 0; i0 < m; i0 += mb) {
    const rows = Math.min(mb, m - i0);
    let aPtr: number;
    let lda: number;
    if (transA) {
      // A stored (k, m): this block's columns start at A[i0]; row stride stays m.
      aPtr = (aOff + i0) * 4;
      lda = m;
    } else {
      heap.set(A.subarray(i0 * k, (i0 + rows) * k), aOff);
      aPtr = aOff * 4;
      lda = k;
    }
    const cBlock = C.subarray(i0 * n, (i0 + rows) * n);
    if (acc) heap.set(cBlock, cOff);
    ex.gemm(
      transA ? 1 : 0,
      transB ? 1 : 0,
      rows,
      n,
      k,
      aPtr,
      lda,
      bOff * 4,
      transB ? k : n,
      cOff * 4,
      n,
      acc ? 1 : 0,
      0,
      workOff * 4,
    );
    cBlock.set(heap.subarray(cOff, cOff + rows * n));
  }
}

/**
 * moments on the arena module: in place when w and g are both views into the same sealed arena
 * (src/tensor/engine.ts), otherwise after copying both into the scratch instance. Returns false when
 * the module is unavailable.
 */
function momentsWasm(w: Float32Array, g: Float32Array, out: Float64Array): boolean {
  const n = w.length;
  let ex = arenaExportsFor(w.buffer);
  let wPtr: number;
  let gPtr: number;
  if (ex !== undefined && g.buffer === w.buffer) {
    wPtr = w.byteOffset;
    gPtr = g.byteOffset;
  } else {
    const s = scratchArena();
    if (s === null) return false;
    ex = s.ex;
    scratchBegin(s);
    wPtr = scratchPut(s, n, w);
    gPtr = scratchPut(s, n, g);
  }
  ex.moments(wPtr, gPtr, n);
  out[0] = ex.momentsOut(0);
  out[1] = ex.momentsOut(1);
  out[2] = ex.momentsOut(2);
  out[3] = ex.momentsOut(3);
  return true;
}

/**
 * `Kernels` whose gemm runs in the WebAssembly SIMD module (reference fallback when unavailable)
 * and whose `moments` runs in the arena module (assembly/arena.ts); the other kernels stay the
 * TypeScript reference for the generic ops (the training step's arena WebAssembly kernels live in
 * src/tensor/engine.ts).
 */
export const wasmKernels: Kernels = {
  ...referenceKernels,
  gemm(transA, transB, m, n, k, A, B, C, acc) {
    const s = getState();
    if (s === null) {
      referenceKernels.gemm(transA, transB, m, n, k, A, B, C, acc);
      return;
    }
    gemmWasm(s, transA, transB, m, n, k, A, B, C, acc);
  },
  moments(w, g, out) {
    if (!momentsWasm(w, g, out)) referenceKernels.moments(w, g, out);
  },
};
