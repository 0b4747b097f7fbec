/**
 * The arena WebAssembly module (assembly/arena.ts) and an arena over its memory.
 *
 * Each `Arena` is its own instance of the module, so its own linear memory: the caller reserves
 * every buffer it will need (`alloc`), then `seal()` grows the memory once and the memory never
 * grows again. Float32Array views taken after sealing therefore stay valid for the arena's
 * lifetime (growing a WebAssembly memory detaches its old views), which lets src/tensor/engine.ts
 * hand out tensors (`layer.out`, `p.grad`) that look straight into the arena.
 *
 * The module is compiled synchronously on first use by src/tensor/wasm/load.ts (which picks the
 * fused multiply-add build where it runs). It is larger than the 4 KB that browsers compile
 * synchronously on the main thread; there (and in engines without WebAssembly SIMD)
 * `Arena.create()` returns null and callers use the generic ops.
 */

import type { AdamWScalars } from "../kernels.ts";
import { wasmModule } from "./load.ts";
import { CTRL_WORDS, type GemmArgs, getThreads, MIN_PARALLEL_FLOPS, Pool } from "./threads.ts";

/** The module's exports; pointers are byte offsets, see assembly/arena.ts for each kernel. */
export interface ArenaExports {
  memory: WebAssembly.Memory;
  heapBase(): number;
  /** Register the workspace gemm calls with work = 0 use (Arena does it). */
  setGemmWork(work: number): void;
  /** Bytes of workspace a gemm call needs (a worker thread passes its own; 0 = the module's). */
  gemmWorkBytes(): number;
  /**
   * C(m, n) (+)= op(A)(m, k) @ op(B)(k, n) (+ bias(n)), row strides lda/ldb/ldc in floats;
   * transA = 1: A stored (k, m), transB = 1: B stored (n, k); bias 0 for none. Every C[i, j] is
   * summed p = 0..k-1 from zero, then + C_old (acc), then + bias: the same bits for any blocking.
   */
  gemm(...args: [...GemmArgs, work: number]): void;
  /** a * b + c through the gemm's multiply-add, for the loader's FMA probe (load.ts). */
  maddProbe(a: number, b: number, c: number): number;
  colSum(m: number, n: number, g: number, db: number): void;
  tanhFwd(x: number, y: number, n: number): void;
  tanhBwd(y: number, g: number, gx: number, n: number, acc: number): void;
  reluFwd(x: number, y: number, n: number): void;
  reluBwd(y: number, g: number, gx: number, n: number, acc: number): void;
  bnTrainFwd(
    x: number,
    n: number,
    h: number,
    gamma: number,
    beta: number,
    variant: number,
    eps: number,
    mean: number,
    spread: number,
    sigma: number,
    xhat: number,
    y: number,
  ): void;
  bnTrainBwd(
    g: number,
    xhat: number,
    sigma: number,
    gamma: number,
    n: number,
    h: number,
    d: number,
    dgamma: number,
    dbeta: number,
    dx: number,
    accX: number,
    sums: number,
  ): void;
  bnEval(
    x: number,
    n: number,
    h: number,
    gamma: number,
    beta: number,
    mean: number,
    sigma: number,
    variant: number,
    y: number,
  ): void;
  ceFwd(logits: number, targets: number, b: number, v: number, probs: number): number;
  ceBwd(probs: number, targets: number, b: number, v: number, k: number, dlogits: number, acc: number): void;
  gather(table: number, e: number, ix: number, rows: number, out: number): void;
  /** the distinct rows of x (m, k) bit for bit: first (u), slot (m); returns u (table: 2^bits i32) */
  uniqueRows(
    x: number,
    m: number,
    k: number,
    first: number,
    slot: number,
    table: number,
    bits: number,
  ): number;
  scatterAdd(dtable: number, e: number, ix: number, rows: number, g: number): void;
  gatherSum(
    tables: number,
    v: number,
    o: number,
    t: number,
    ix: number,
    rows: number,
    bias: number,
    out: number,
  ): void;
  sgd(w: number, g: number, n: number, k: number): void;
  bnRunning(rm: number, rv: number, mean: number, spread: number, h: number, m: number, k: number): void;
  // the general engine's kernels (assembly/arena.ts; twins in kernels.ts `arenaReference`)
  add(a: number, b: number, y: number, n: number): void;
  mul(a: number, b: number, y: number, n: number): void;
  /** y(rows, cols) = x op v(cols); op 0 = add (bias), 1 = mul */
  rowOp(x: number, v: number, y: number, rows: number, cols: number, op: number): void;
  scale(x: number, s: number, y: number, n: number): void;
  /** y += s * x */
  axpy(y: number, x: number, s: number, n: number): void;
  expFwd(x: number, y: number, n: number): void;
  /** s: 0.5 (1 + tanh(u)) kept for geluBwd (0: not kept) */
  geluFwd(x: number, y: number, s: number, n: number): void;
  sigmoidFwd(x: number, y: number, n: number): void;
  causalSoftmaxFwd(x: number, y: number, T: number, mats: number, scale: number): void;
  geluBwd(x: number, s: number, g: number, gx: number, n: number, acc: number): void;
  causalSoftmaxBwd(
    y: number,
    g: number,
    gx: number,
    T: number,
    mats: number,
    scale: number,
    acc: number,
  ): void;
  /** log 0: softmax, 1: log-softmax, per row of x (rows, cols) */
  softmaxRows(x: number, y: number, rows: number, cols: number, log: number): void;
  softmaxRowsBwd(
    y: number,
    g: number,
    gx: number,
    rows: number,
    cols: number,
    log: number,
    acc: number,
  ): void;
  /** LayerNorm over the last dim; gamma/beta 0 = none; writes mean, rstd (rows) and xhat */
  lnFwd(
    x: number,
    rows: number,
    c: number,
    gamma: number,
    beta: number,
    eps: number,
    mean: number,
    rstd: number,
    xhat: number,
    y: number,
  ): void;
  lnBwd(
    g: number,
    xhat: number,
    rstd: number,
    gamma: number,
    rows: number,
    c: number,
    dgamma: number,
    dbeta: number,
    dx: number,
    accX: number,
  ): void;
  /** AdamW (float32 op sequence of src/train/optim.ts); scalars pre-rounded to float32 */
  adamw(w: number, g: number, m: number, v: number, n: number, ...scalars: AdamWScalars): void;
  /**
   * SGD with momentum / weight decay / Nesterov over n floats (torch's float32 op sequence, fused
   * multiply-adds exact); flags SGD_FLAGS; b unused without momentum.
   */
  sgdMomentum(
    w: number,
    g: number,
    b: number,
    n: number,
    wd: number,
    mom: number,
    damp: number,
    negLr: number,
    flags: number,
  ): void;
  /** [sum w, sum w^2, sum g, sum g^2] (float64) over n floats; read back with momentsOut(0..3). */
  moments(w: number, g: number, n: number): void;
  momentsOut(i: number): number;
}

const PAGE_BYTES = 65536;
/** Bytes of zeros after every buffer: the SIMD panels may read up to 28 bytes past an end. */
const PAD_BYTES = 32;

/** Sealed arenas by their (final) memory buffer, so a kernel can run on views into them in place. */
const sealedArenas = new WeakMap<ArrayBufferLike, ArenaExports>();

/**
 * The exports of the sealed arena whose memory is `buffer` (then Float32Array views of it can be
 * passed to its kernels as `byteOffset` pointers), or undefined.
 */
export function arenaExportsFor(buffer: ArrayBufferLike): ArenaExports | undefined {
  return sealedArenas.get(buffer);
}

/** Pages of the shared build's memory at instantiation (its --initialMemory). */
const SHARED_INITIAL_PAGES = 16;
const SHARED_MAX_PAGES = 32768;

/**
 * One instance of the arena module and a bump allocator over its memory. With `setThreads(n)`
 * (src/tensor/wasm/threads.ts) in effect, an arena runs on a shared memory and, once sealed, has
 * n - 1 worker threads that take shares of every large gemm (same bits as one thread).
 */
export class Arena {
  /** The kernels; after seal() with threads, gemm splits across the pool. */
  ex: ArenaExports;
  /** Views of the whole memory, valid once sealed. */
  f32: Float32Array;
  i32: Int32Array;
  private top: number;
  private sealed = false;
  private pool: Pool | null = null;
  private ctrl = 0;
  private readonly works: number[] = [];
  /** The module's own exports (ex before the pool wrapped it). */
  private readonly raw: ArenaExports;

  private constructor(
    ex: ArenaExports,
    private readonly module: WebAssembly.Module,
    /** threads it was created for (1: an unshared memory, no pool) */
    readonly threads: number,
  ) {
    this.ex = ex;
    this.raw = ex;
    this.top = align(ex.heapBase());
    this.f32 = new Float32Array(ex.memory.buffer);
    this.i32 = new Int32Array(ex.memory.buffer);
    // the gemm workspaces: the calling thread's, then one per worker, and the pool's control block
    const workWords = ex.gemmWorkBytes() >> 2;
    ex.setGemmWork(this.alloc(workWords));
    if (threads > 1) {
      this.ctrl = this.alloc(CTRL_WORDS);
      for (let t = 1; t < threads; t++) this.works.push(this.alloc(workWords));
    }
  }

  /**
   * A fresh instance with its own memory, or null where the module cannot be used; `threads`
   * (default: setThreads' count) above 1 puts it on a shared memory with a pool.
   */
  static create(threads = getThreads()): Arena | null {
    const shared = threads > 1 ? wasmModule("arenaShared") : null;
    if (shared) {
      try {
        const memory = new WebAssembly.Memory({
          initial: SHARED_INITIAL_PAGES,
          maximum: SHARED_MAX_PAGES,
          shared: true,
        });
        const ex = new WebAssembly.Instance(shared, { env: { memory } }).exports as unknown as ArenaExports;
        return new Arena(ex, shared, threads);
      } catch {
        // fall through to one thread
      }
    }
    const mod = wasmModule("arena");
    if (!mod) return null;
    try {
      return new Arena(new WebAssembly.Instance(mod, {}).exports as unknown as ArenaExports, mod, 1);
    } catch {
      return null;
    }
  }

  /**
   * Reserve n 4-byte words (16-byte aligned, zero padding after); returns the byte offset. After
   * seal() only from the room it left (see `room`).
   */
  alloc(n: number): number {
    const ptr = this.top;
    const end = ptr + Arena.bytesFor(n);
    if (this.sealed && end > this.limit) throw new Error("Arena.alloc past the room seal() left");
    this.top = end;
    return ptr;
  }

  /** Bytes that alloc(n) takes. */
  static bytesFor(n: number): number {
    return align(n * 4 + PAD_BYTES);
  }

  /** Bytes still free for alloc() after seal() (the memory never grows again). */
  get room(): number {
    return this.sealed ? this.limit - this.top : Number.POSITIVE_INFINITY;
  }

  /** The end of the memory as sealed. */
  private limit = 0;

  /**
   * Grow the memory to hold every reservation and `reserve` more bytes (a later plan of the same
   * model sealed into this arena: src/tensor/engine.ts `Plan.sealInto`); the memory never grows
   * again, so views of it stay valid. The room is zero pages that no one touches until a plan
   * takes it (the OS maps them on first write); where the memory cannot grow that far, half as
   * much room, and so on. With threads, start the workers (on failure the arena stays
   * single-threaded).
   */
  seal(reserve = 0): void {
    const mem = this.ex.memory;
    for (let room = reserve; ; room = room < PAGE_BYTES ? 0 : room / 2) {
      const bytes = this.top + room;
      try {
        if (mem.buffer.byteLength < bytes) mem.grow(Math.ceil((bytes - mem.buffer.byteLength) / PAGE_BYTES));
        break;
      } catch (e) {
        if (room === 0) throw e;
      }
    }
    const buf = mem.buffer;
    this.limit = buf.byteLength;
    this.f32 = new Float32Array(buf);
    this.i32 = new Int32Array(buf);
    this.sealed = true;
    // the workers start at the first gemm large enough to split (small models never start any)
    if (this.threads > 1) this.ex = parallelExports(this.ex, () => this.startPool());
    sealedArenas.set(buf, this.ex);
  }

  private poolFailed = false;

  /** The pool, started on first use; null (and one thread from then on) if it cannot start. */
  private startPool(): Pool | null {
    if (!this.pool && !this.poolFailed) {
      this.pool = Pool.start(this.module, this.ex.memory, this.ctrl, this.works);
      this.poolFailed = this.pool === null;
    }
    return this.pool;
  }

  /** Threads that run this arena's large gemms (1 until sealed, or without a pool). */
  get threadCount(): number {
    return this.sealed && this.threads > 1 ? (this.startPool()?.size ?? 1) : 1;
  }

  /** Stop the arena's worker threads (it keeps working on the calling thread). */
  close(): void {
    this.poolFailed = true; // never (re)start
    this.pool?.close();
    this.pool = null;
    this.ex = this.raw;
    sealedArenas.set(this.f32.buffer, this.ex);
  }

  /** A Float32Array view of n floats at byte offset ptr (after seal). */
  view(ptr: number, n: number): Float32Array {
    return this.f32.subarray(ptr >> 2, (ptr >> 2) + n);
  }

  /** Bytes reserved so far. */
  get bytes(): number {
    return this.top;
  }
}

/**
 * The exports with gemm split across the pool `pool()` returns (started on the first gemm of at
 * least MIN_PARALLEL_FLOPS; smaller ones, and calls that bring their own workspace, always run on
 * the calling thread).
 */
function parallelExports(ex: ArenaExports, pool: () => Pool | null): ArenaExports {
  const run = ex.gemm;
  return {
    ...ex,
    gemm: (...args) => {
      const [, , m, n, k] = args;
      const p = args[13] === 0 && 2 * m * n * k >= MIN_PARALLEL_FLOPS ? pool() : null;
      if (p) p.gemm(run, ...(args.slice(0, 13) as GemmArgs));
      else run(...args);
    },
  };
}

function align(bytes: number): number {
  return (bytes + 15) & ~15;
}

// ---------------------------------------------------------------------------------------------
// The scratch instance: one growable (never sealed) arena for kernels on plain arrays

/**
 * A growable instance of the arena module: plain arrays are copied in, computed on, copied out.
 * One per thread, shared by every kernel that is not handed views into a sealed arena (the eager
 * kernels of src/tensor/engine.ts, `moments` in src/tensor/wasm/kernels-wasm.ts).
 */
export interface Scratch {
  ex: ArenaExports;
  /** the first byte after the module's own reservations (its gemm workspace) */
  base: number;
  f32: Float32Array;
  i32: Int32Array;
  top: number;
}
let scratchInstance: Scratch | null | undefined;

/** The scratch instance (created on first use), or null where the arena module cannot be used. */
export function scratchArena(): Scratch | null {
  if (scratchInstance === undefined) {
    const a = Arena.create();
    scratchInstance = a && {
      ex: a.ex,
      base: a.bytes,
      f32: new Float32Array(a.ex.memory.buffer),
      i32: new Int32Array(a.ex.memory.buffer),
      top: a.bytes,
    };
  }
  return scratchInstance;
}

/** Start laying out one call's copies in the scratch instance. */
export function scratchBegin(s: Scratch): void {
  s.top = s.base;
}

/**
 * Reserve n floats (PAD_BYTES of zeros after) and copy `src` in when given, growing the memory
 * as needed; returns the byte offset.
 */
export function scratchPut(s: Scratch, n: number, src: Float32Array | Int32Array | null): number {
  const ptr = s.top;
  s.top = align(ptr + n * 4 + PAD_BYTES);
  const mem = s.ex.memory;
  if (mem.buffer.byteLength < s.top) mem.grow(Math.ceil((s.top - mem.buffer.byteLength) / PAGE_BYTES));
  if (s.f32.buffer !== mem.buffer) {
    s.f32 = new Float32Array(mem.buffer);
    s.i32 = new Int32Array(mem.buffer);
  }
  if (src instanceof Int32Array) s.i32.set(src.subarray(0, n), ptr >> 2);
  else if (src) s.f32.set(src.length === n ? src : src.subarray(0, n), ptr >> 2);
  s.f32.fill(0, (ptr >> 2) + n, (ptr >> 2) + n + PAD_BYTES / 4);
  return ptr;
}
