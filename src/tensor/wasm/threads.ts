/**
 * Worker threads for the arena kernels: large gemms split across threads over one shared
 * WebAssembly memory (the arena module built with --sharedMemory, arena-shared.wasm.ts).
 *
 *   setThreads(2)        // later arenas (src/tensor/wasm/arena-wasm.ts) use 2 threads
 *
 * Isomorphic: this file never creates a thread itself. The host installs a `WorkerFactory` (Node:
 * src/io/threads.ts, with worker_threads); without one, or where SharedArrayBuffer is missing (a
 * browser page without cross-origin isolation), everything runs on the calling thread.
 *
 * Protocol (all in the arena's shared memory, a control block of Int32 words):
 *   GEN    job generation: the main thread bumps it and notifies; workers wait on it
 *   DONE   workers finished with the current generation (each adds 1)
 *   READY  one word per worker, set once its instance is up
 *   args   one 16-word slot per worker: the gemm arguments of its share, or -1 (no share)
 * The main thread computes share 0 itself, then waits (Atomics.wait) until DONE = workers.
 *
 * Exactness: a gemm is split into whole 4-row or 8-column tiles, and the kernel sums every C[i, j]
 * in one fixed order (p = 0..k-1, then C_old, then bias) whatever the tile or thread, so the result
 * is bit-identical for every thread count (test/kernels.test.ts checks it).
 */

/** One started worker; `terminate` ends it. */
export interface WorkerHandle {
  terminate(): void;
}

/** What a worker is started with (its side: src/io/threads.ts WORKER_SOURCE). */
export interface WorkerInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  /** byte offset of the control block */
  ctrl: number;
  /** this worker's index, 0-based (thread 1 of the pool is worker 0) */
  slot: number;
}

export type WorkerFactory = (init: WorkerInit) => WorkerHandle;

let factory: WorkerFactory | null = null;
let threads = 1;

/** Install the host's way of starting a worker (src/io/threads.ts does it in Node). */
export function setWorkerFactory(f: WorkerFactory | null): void {
  factory = f;
}

/**
 * Use n threads (>= 1) in arenas created from now on. Returns the count actually in effect: 1
 * where threads cannot run (no factory, no SharedArrayBuffer, no shared-memory WebAssembly).
 */
export function setThreads(n: number): number {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`threads must be a positive integer, got ${n}`);
  threads = n > 1 && threadsAvailable() ? n : 1;
  return threads;
}

/** The thread count new arenas use. */
export function getThreads(): number {
  return threads;
}

/** True when worker threads can run here. */
export function threadsAvailable(): boolean {
  return factory !== null && typeof SharedArrayBuffer !== "undefined" && typeof Atomics !== "undefined";
}

// control block layout (Int32 words)
export const GEN = 0;
export const DONE = 1;
export const QUIT = 2;
export const READY = 4;
export const MAX_WORKERS = 15;
export const ARGS = READY + MAX_WORKERS + 1;
export const SLOT_WORDS = 16;
/** Words of the control block. */
export const CTRL_WORDS = ARGS + MAX_WORKERS * SLOT_WORDS;

/**
 * Smallest gemm (2 m n k flops) worth splitting: below it, waking a worker costs more than the
 * share it takes (measured on this 2-core machine, see /work/coord/kernels.md).
 */
export const MIN_PARALLEL_FLOPS = 4e6;

/** A gemm's arguments before `work` (see assembly/gemm-kernel.ts). */
export type GemmArgs = [
  transA: number,
  transB: number,
  m: number,
  n: number,
  k: number,
  a: number,
  lda: number,
  b: number,
  ldb: number,
  c: number,
  ldc: number,
  acc: number,
  bias: number,
];

/** The one-thread kernel: the arguments, then the workspace (0: the module's own). */
type Gemm = (...args: [...GemmArgs, work: number]) => void;

/** The workers of one shared arena. */
export class Pool {
  private readonly ctrl: Int32Array;
  private readonly handles: WorkerHandle[] = [];
  private gen = 0;

  /**
   * Start `workers` workers on `memory` (control block at byte `ctrl`, per-worker gemm
   * workspaces at `works`). Waits up to 10 s for them; null if they do not come up.
   */
  static start(
    module: WebAssembly.Module,
    memory: WebAssembly.Memory,
    ctrl: number,
    works: number[],
  ): Pool | null {
    if (!factory) return null;
    const pool = new Pool(memory, ctrl, works);
    const c = pool.ctrl;
    try {
      for (let s = 0; s < works.length; s++) pool.handles.push(factory({ module, memory, ctrl, slot: s }));
      const deadline = Date.now() + 10_000;
      for (let s = 0; s < works.length; s++) {
        while (Atomics.load(c, READY + s) === 0) {
          const left = deadline - Date.now();
          if (left <= 0) throw new Error("worker start timed out");
          Atomics.wait(c, READY + s, 0, left);
        }
      }
    } catch {
      pool.close();
      return null;
    }
    return pool;
  }

  private constructor(
    memory: WebAssembly.Memory,
    ctrlPtr: number,
    private readonly works: number[],
  ) {
    this.ctrl = new Int32Array(memory.buffer, ctrlPtr, CTRL_WORDS);
  }

  /** Threads including the caller's. */
  get size(): number {
    return this.works.length + 1;
  }

  /**
   * C (+)= op(A) op(B) (+ bias) split across the pool (see assembly/gemm-kernel.ts for the
   * arguments); `gemm` runs the caller's share with the module's own workspace (work = 0).
   */
  gemm(run: Gemm, ...args: GemmArgs): void {
    const [transA, transB, m, n, k, a, lda, b, ldb, c, ldc, acc, bias] = args;
    const tilesM = (m + 3) >> 2;
    const tilesN = (n + 7) >> 3;
    const byRows = tilesM >= tilesN;
    const tiles = byRows ? tilesM : tilesN;
    const parts = Math.min(this.size, tiles);
    if (parts < 2 || 2 * m * n * k < MIN_PARALLEL_FLOPS) {
      run(...args, 0);
      return;
    }
    const ctl = this.ctrl;
    // share p: tiles [floor(p T / parts), floor((p+1) T / parts)) of the split dimension
    const share = (p: number): GemmArgs => {
      const t0 = Math.floor((p * tiles) / parts);
      const t1 = Math.floor(((p + 1) * tiles) / parts);
      if (byRows) {
        const i0 = t0 * 4;
        const i1 = Math.min(m, t1 * 4);
        const ap = transA ? a + i0 * 4 : a + i0 * lda * 4;
        return [transA, transB, i1 - i0, n, k, ap, lda, b, ldb, c + i0 * ldc * 4, ldc, acc, bias];
      }
      const j0 = t0 * 8;
      const j1 = Math.min(n, t1 * 8);
      const bp = transB ? b + j0 * ldb * 4 : b + j0 * 4;
      return [transA, transB, m, j1 - j0, k, a, lda, bp, ldb, c + j0 * 4, ldc, acc, bias ? bias + j0 * 4 : 0];
    };
    for (let w = 0; w < this.works.length; w++) {
      const o = ARGS + w * SLOT_WORDS;
      if (w + 1 < parts) {
        const args = share(w + 1);
        for (let i = 0; i < args.length; i++) ctl[o + i] = args[i];
        ctl[o + 13] = this.works[w];
      } else ctl[o] = -1;
    }
    Atomics.store(ctl, DONE, 0);
    this.gen = (this.gen + 1) | 0;
    Atomics.store(ctl, GEN, this.gen);
    Atomics.notify(ctl, GEN);
    run(...share(0), 0);
    const want = this.works.length;
    for (let d = Atomics.load(ctl, DONE); d < want; d = Atomics.load(ctl, DONE)) Atomics.wait(ctl, DONE, d);
  }

  /** Stop the workers. */
  close(): void {
    Atomics.store(this.ctrl, QUIT, 1);
    this.gen = (this.gen + 1) | 0;
    Atomics.store(this.ctrl, GEN, this.gen);
    Atomics.notify(this.ctrl, GEN);
    for (const h of this.handles) h.terminate();
    this.handles.length = 0;
  }
}
