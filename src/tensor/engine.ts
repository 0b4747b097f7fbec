/**
 * The engine: every op runs its kernels through `launch`, so one training step of any model can be
 * captured once -- the kernel calls of forward, backward and the update, with their buffers -- and
 * replayed on a preallocated arena, as tinygrad's TinyJit and CUDA graphs do.
 *
 *   eager:    op -> launch(kernel, buffers...) runs the kernel; autograd records the closure
 *   capture:  the same eager step, and every launch is also appended to a tape; every buffer an op
 *             allocates (`allocF32`) is remembered, and so is every tensor made
 *   seal:     the buffers move into ONE WebAssembly memory (an `Arena`, laid out once, never grown
 *             again), the tape's arguments and the tensors' storages are rebound to views of it;
 *             a capture of the same model at another input shape can be sealed into the room the
 *             first left (`Plan.sealInto`), sharing its parameters, gradients and optimizer state
 *   replay:   copy the new minibatch into the input buffers, run the tape in order
 *
 * Eager autograd stays the reference semantics: the tape is exactly the kernel calls the eager step
 * made, so a replay computes the same bits (test/engine.test.ts). Gradient buffers are zeroed on the
 * tape where autograd allocated them (`zerosF32`), so replays accumulate like fresh `.grad`s.
 *
 * The rules of a captured step (the same as TinyJit's): no data-dependent control flow (nothing may
 * read a tensor's values to decide what to compute -- `item()`, `tolist()`, an `if` on storage), no
 * random draws (they would repeat, so random ops refuse to be captured), and every loop over
 * storage runs inside a launched kernel. `record()` checks the last rule for every op output during
 * a capture and aborts it (the caller falls back to eager) when an op computed outside a kernel.
 *
 * This file is below tensor.ts (it imports no tensor value), so tensor.ts, fused.ts and every op
 * file can launch; src/train/plan.ts captures whole training steps over modules.
 */

import { type AdamWScalars, type BatchNormVariant, type Kernels, referenceKernels } from "./kernels.ts";
import type { Tensor } from "./tensor.ts";
import {
  Arena,
  type ArenaExports,
  arenaExportsFor,
  scratchArena,
  scratchBegin,
  scratchPut,
} from "./wasm/arena-wasm.ts";
import { wasmKernels } from "./wasm/kernels-wasm.ts";
import { getThreads, MIN_PARALLEL_FLOPS } from "./wasm/threads.ts";

// ---------------------------------------------------------------------------------------------
// Launch and capture

/** A typed-array buffer a kernel reads or writes. */
export type Buffer = Float32Array | Int32Array;

interface Launch {
  k: (...args: never[]) => void;
  args: unknown[];
  /** reads only parameters and buffers (see `launchInvariant`) */
  invariant?: boolean;
}

/** Thrown (inside a capture only) when a step does something a plan cannot replay. */
export class CaptureError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CaptureError";
  }
}

interface CaptureState {
  tape: Launch[];
  /** buffers allocated by ops during the capture (they move into the arena) */
  owned: Set<Buffer>;
  /** every buffer passed to a launched kernel */
  touched: Set<unknown>;
  /** every tensor made during the capture (their storages are rebound) */
  tensors: Tensor[];
  /** the largest gemm scratch a kernel asked for, in floats */
  scratch: number;
  /** flops (2 m n k) of the largest gemm of the capture */
  gemmFlops: number;
}

let cap: CaptureState | null = null;

/**
 * Run kernel `k` on `args` now; during a capture also append the call to the tape. Kernels are
 * plain functions over typed arrays and numbers (`(x, y) => ...`); a kernel must not keep state
 * between calls other than what its arguments hold.
 */
export function launch<A extends unknown[]>(k: (...args: A) => void, ...args: A): void {
  k(...args);
  if (cap !== null) {
    cap.tape.push({ k: k as unknown as (...args: never[]) => void, args });
    for (const a of args) if (ArrayBuffer.isView(a)) cap.touched.add(a);
  }
}

/**
 * `launch` for a kernel whose outputs depend only on parameters and buffers, never on the step's
 * inputs or on anything computed from them (BatchNorm's eval divisor from its running variance).
 * Its outputs must be buffers that no other kernel writes. A training plan replays it like any
 * other call; an evaluation plan (parameters fixed between `refresh()`es) runs it once per
 * refresh instead of once per replay.
 */
export function launchInvariant<A extends unknown[]>(k: (...args: A) => void, ...args: A): void {
  launch(k, ...args);
  if (cap !== null) cap.tape[cap.tape.length - 1].invariant = true;
}

/** A float32 buffer for an op's output or saved values (zeros; moves into the arena on capture). */
export function allocF32(n: number): Float32Array {
  const a = new Float32Array(n);
  if (cap !== null) cap.owned.add(a);
  return a;
}
/** An int32 buffer (checked indices). */
export function allocI32(n: number): Int32Array {
  const a = new Int32Array(n);
  if (cap !== null) cap.owned.add(a);
  return a;
}

function fillZero(x: Float32Array): void {
  x.fill(0);
}

/** A zeroed buffer that is zeroed again at this point of every replay: a fresh gradient. */
export function zerosF32(n: number): Float32Array {
  const a = allocF32(n);
  if (cap !== null) launch(fillZero, a);
  return a;
}

/** Whether a capture is running. */
export function isCapturing(): boolean {
  return cap !== null;
}

/** Tensors register themselves while a capture runs (called by the Tensor constructor). */
export function noteTensor(t: Tensor): void {
  if (cap !== null) cap.tensors.push(t);
}

/**
 * Called by `record()` for every op output during a capture: the output must have been written by
 * a launched kernel, or share the storage of one of its inputs (a view).
 */
export function checkLaunched(op: string, storage: Buffer, inputs: readonly { storage: Buffer }[]): void {
  if (cap === null || cap.touched.has(storage)) return;
  for (const p of inputs) if (p.storage === storage) return;
  throw new CaptureError(`op "${op}" computed its output outside a launched kernel`);
}

/** Refuse to be captured (random draws, data-dependent work): throws inside a capture only. */
export function notCapturable(what: string): void {
  if (cap !== null) throw new CaptureError(`${what} cannot run inside a captured step`);
}

/** What a capture produced, before `seal`. */
export interface Capture {
  tape: Launch[];
  owned: Set<Buffer>;
  tensors: Tensor[];
  scratch: number;
  /** flops (2 m n k) of its largest gemm: below MIN_PARALLEL_FLOPS its arena needs no threads */
  gemmFlops: number;
}

/**
 * Run `fn` as a capture: an ordinary eager run that also records the kernel calls. Returns fn's
 * result and the capture, or rethrows fn's error (a `CaptureError` when the step cannot be a plan).
 */
export function capture<R>(fn: () => R): { result: R; capture: Capture } {
  if (cap !== null) throw new Error("capture() inside a capture");
  const state: CaptureState = {
    tape: [],
    owned: new Set(),
    touched: new Set(),
    tensors: [],
    scratch: 0,
    gemmFlops: 0,
  };
  cap = state;
  try {
    const result = fn();
    return {
      result,
      capture: {
        tape: state.tape,
        owned: state.owned,
        tensors: state.tensors,
        scratch: state.scratch,
        gemmFlops: state.gemmFlops,
      },
    };
  } finally {
    cap = null;
  }
}

// ---------------------------------------------------------------------------------------------
// Plans: a capture sealed into an arena

/** Floats between blocks of the parameter/gradient layout (the SIMD kernels read past ends). */
const PAD = 8;
const padded = (n: number) => (n + PAD + 3) & ~3;

/**
 * A captured run over one arena. `groups` are laid out first, each as one contiguous block with
 * the same per-tensor layout (parameters and their gradients: one SGD call covers a whole block).
 */
export class Plan {
  readonly arena: Arena;
  private readonly calls: (() => void)[];
  /** for a plan over copies of the parameters (`refresh`): the invariant calls, run by refresh */
  private readonly once: (() => void)[];
  /** byte offsets of each group's block start and end (float offsets of members inside) */
  readonly blocks: { start: number; floats: number }[];

  private constructor(
    arena: Arena,
    steps: Launch[],
    blocks: { start: number; floats: number }[],
    private readonly copies: [Tensor, Float32Array][],
  ) {
    this.arena = arena;
    this.blocks = blocks;
    // bound once: a call then costs what a direct call does (no argument spreading per replay)
    const bind = (s: Launch) => (s.k as (...a: unknown[]) => void).bind(null, ...s.args);
    // over copies of the parameters (an evaluation plan), the invariant calls move to `refresh`
    const hoist = copies.length > 0;
    this.calls = steps.filter((s) => !(hoist && s.invariant)).map(bind);
    this.once = hoist ? steps.filter((s) => s.invariant).map(bind) : [];
  }

  /**
   * Move a capture into a new arena. `adopt`: tensors made before the capture whose storage should
   * live in the arena too (parameters, buffers); `groups`: lists of tensors laid out as parallel
   * blocks (group 0 and group 1 must list tensors of the same sizes in the same order). Every
   * tensor made during the capture, and every adopted one, is rebound to its view. `reserve`: the
   * bytes of room to leave after the plan (given the plan's own bytes) for later plans sealed into
   * the same arena (`sealInto`). Returns null where the arena module is unavailable.
   */
  static seal(
    c: Capture,
    adopt: Tensor[],
    groups: (Tensor | null)[][] = [],
    rebindAdopted = true,
    reserve: (bytes: number) => number = () => 0,
  ): Plan | null {
    // a plan whose gemms are all too small to split never starts a worker: it gets a one-thread
    // arena, whose (unshared) memory the kernels run on 10-15% faster here than the shared one
    const arena = Arena.create(c.gemmFlops >= MIN_PARALLEL_FLOPS ? getThreads() : 1);
    if (!arena) return null;
    return Plan.layOut(arena, null, c, adopt, groups, rebindAdopted, reserve) as Plan;
  }

  /**
   * Seal a capture of the same model at another input shape into the arena of `base`, in the room
   * its seal left: the tensors already in that arena (parameters, buffers, the optimizer's state:
   * `adopt` and `groups` members laid out by `base`) stay where they are, the groups take base's
   * blocks slot for slot (so the gradients land where base's do and one SGD or AdamW call over
   * the blocks serves both plans), and the capture's own buffers take fresh room. Returns "no
   * room" where the room left is too small, null where the layout does not fit (other block
   * sizes, or gemms large enough for threads in a one-thread arena), and nothing has moved then.
   */
  static sealInto(
    base: Plan,
    c: Capture,
    adopt: Tensor[],
    groups: (Tensor | null)[][],
  ): Plan | "no room" | null {
    const arena = base.arena;
    if (c.gemmFlops >= MIN_PARALLEL_FLOPS && arena.threads < getThreads()) return null;
    if (groups.length !== base.blocks.length) return null;
    for (let i = 0; i < groups.length; i++) {
      let floats = 0;
      for (const t of groups[i]) floats += padded(t ? t.storage.length : 0);
      if (floats !== base.blocks[i].floats) return null;
    }
    return Plan.layOut(arena, base.blocks, c, adopt, groups, true, () => 0);
  }

  /** `seal` on a new arena (blocks null) or `sealInto` a sealed one (its blocks given). */
  private static layOut(
    arena: Arena,
    given: { start: number; floats: number }[] | null,
    c: Capture,
    adopt: Tensor[],
    groups: (Tensor | null)[][],
    rebindAdopted: boolean,
    reserve: (bytes: number) => number,
  ): Plan | "no room" {
    // in a sealed arena, a buffer already in its memory was laid out by an earlier plan: it stays
    const old = given ? arena.ex.memory.buffer : null;
    const where = new Map<Buffer, number>();
    const blocks: { start: number; floats: number }[] = [];
    groups.forEach((group, gi) => {
      let floats = 0;
      for (const t of group) floats += padded(t ? t.storage.length : 0);
      const start = given ? given[gi].start : arena.alloc(floats);
      let at = start;
      // a group member may be null (a parameter without gradient): its slot stays zero
      for (const t of group) {
        const b = t?.storage;
        if (b && !where.has(b) && !(b.buffer === old && b.byteOffset === at)) where.set(b, at);
        at += padded(b ? b.length : 0) * 4;
      }
      blocks.push({ start, floats });
    });
    const fresh: Buffer[] = [];
    const pending = new Set<Buffer>();
    const take = (b: Buffer) => {
      if (!where.has(b) && b.buffer !== old && !pending.has(b)) {
        pending.add(b);
        fresh.push(b);
      }
    };
    for (const t of adopt) take(t.storage);
    for (const t of c.tensors) if (c.owned.has(t.storage)) take(t.storage);
    for (const s of c.tape) for (const a of s.args) if (c.owned.has(a as Buffer)) take(a as Buffer);
    const scratchFloats = Math.max(c.scratch, 64);
    // one scratch region per arena, the largest any of its plans asked for
    const prevScratch = given ? scratchOf.get(arena.ex) : undefined;
    const newScratch = !prevScratch || prevScratch.floats < scratchFloats;
    if (given) {
      let bytes = newScratch ? Arena.bytesFor(scratchFloats) : 0;
      for (const b of fresh) bytes += Arena.bytesFor(b.length);
      if (bytes > arena.room) return "no room";
    }
    for (const b of fresh) where.set(b, arena.alloc(b.length));
    const scratch = newScratch ? arena.alloc(scratchFloats) : 0;
    if (!given) arena.seal(reserve(arena.bytes));
    if (newScratch) scratchOf.set(arena.ex, { ptr: scratch, floats: scratchFloats });
    const mem = arena.ex.memory.buffer;
    const moved = new Map<Buffer, Buffer>();
    for (const [b, ptr] of where) {
      const v =
        b instanceof Int32Array ? new Int32Array(mem, ptr, b.length) : new Float32Array(mem, ptr, b.length);
      v.set(b);
      moved.set(b, v);
    }
    const rebind = (t: Tensor) => {
      const v = moved.get(t.storage);
      if (v) t.storage = v as Float32Array;
    };
    // adopted tensors either move (their storage becomes the view) or keep their storage and are
    // copied in by `refresh()` (a second plan over the same parameters, like an evaluation plan)
    const copies: [Tensor, Float32Array][] = [];
    for (const t of adopt) {
      if (rebindAdopted) rebind(t);
      else copies.push([t, moved.get(t.storage) as Float32Array]);
    }
    for (const t of c.tensors) rebind(t);
    for (const g of groups) for (const t of g) if (t) rebind(t);
    const steps = c.tape.map((s) => ({
      k: s.k,
      args: s.args.map((a) => moved.get(a as Buffer) ?? a),
      invariant: s.invariant,
    }));
    return new Plan(arena, steps, blocks, copies);
  }

  /**
   * Copy the current values of the adopted tensors in (for a plan sealed with rebindAdopted false)
   * and run the calls that depend on nothing else (`launchInvariant`).
   */
  refresh(): void {
    for (const [t, v] of this.copies) v.set(t.storage);
    for (const call of this.once) call();
  }

  /** Run the recorded kernel calls in order. */
  run(): void {
    const calls = this.calls;
    for (let i = 0; i < calls.length; i++) calls[i]();
  }

  /** Number of kernel calls per replay. */
  get length(): number {
    return this.calls.length;
  }

  /** A view of `floats` floats at byte offset `ptr` of the arena. */
  view(ptr: number, floats: number): Float32Array {
    return this.arena.view(ptr, floats);
  }
}

// ---------------------------------------------------------------------------------------------
// The kernel seam over the arena module: pointers into an arena, or copies into a scratch instance

/** Per sealed arena: the scratch region that the pointer kernels use (gemm packing, transposes). */
const scratchOf = new WeakMap<ArenaExports, { ptr: number; floats: number }>();

/** The arena exports when every buffer is a view into the same sealed arena. */
function arenaOf(
  a: Buffer,
  b: Buffer | null = null,
  c: Buffer | null = null,
  d: Buffer | null = null,
  e: Buffer | null = null,
  f: Buffer | null = null,
  g: Buffer | null = null,
  h: Buffer | null = null,
): ArenaExports | undefined {
  // fixed parameters, not a rest array: this runs on every kernel call of a replay
  const m = a.buffer;
  if (
    (b !== null && b.buffer !== m) ||
    (c !== null && c.buffer !== m) ||
    (d !== null && d.buffer !== m) ||
    (e !== null && e.buffer !== m) ||
    (f !== null && f.buffer !== m) ||
    (g !== null && g.buffer !== m) ||
    (h !== null && h.buffer !== m)
  )
    return undefined;
  return arenaExportsFor(m);
}

function noteScratch(floats: number): void {
  if (cap !== null && floats > cap.scratch) cap.scratch = floats;
}

/** One gemm call as the bench's profiling pass records it: [transA, transB, m, n, k] and a rerun. */
export interface GemmCall {
  shape: [transA: number, transB: number, m: number, n: number, k: number];
  /** the same call again: same module, same pointers */
  run: () => void;
}
let gemmLog: GemmCall[] | null = null;

/**
 * Append every gemm call to `log` from now on (null: stop). For the bench's profiling pass
 * (src/bench/scaling.ts replays a step's calls to time them: the share of a step spent in gemm),
 * never in its timed repetitions.
 */
export function setGemmLog(log: GemmCall[] | null): void {
  gemmLog = log;
}

/**
 * C(m,n) (+)= op(A) op(B) (+ bias) by the arena module's one gemm on byte offsets (its own
 * workspace): every C[i, j] summed p = 0..k-1 from zero, then + C_old, then + bias.
 */
function gemmPtr(
  ex: ArenaExports,
  transA: boolean,
  transB: boolean,
  m: number,
  n: number,
  k: number,
  a: number,
  b: number,
  c: number,
  acc: boolean,
  bias: number,
): void {
  // natural row strides: A (m, k) or (k, m) stored, B (k, n) or (n, k), C (m, n)
  gemmPtrStrided(ex, transA, transB, m, n, k, a, transA ? m : k, b, transB ? k : n, c, n, acc, bias);
}

/** gemmPtr with explicit row strides (in floats); records the capture's largest gemm and the log. */
function gemmPtrStrided(
  ex: ArenaExports,
  transA: boolean,
  transB: boolean,
  m: number,
  n: number,
  k: number,
  a: number,
  lda: number,
  b: number,
  ldb: number,
  c: number,
  ldc: number,
  acc: boolean,
  bias: number,
): void {
  if (cap !== null && 2 * m * n * k > cap.gemmFlops) cap.gemmFlops = 2 * m * n * k;
  const [ta, tb, ac] = [transA ? 1 : 0, transB ? 1 : 0, acc ? 1 : 0];
  ex.gemm(ta, tb, m, n, k, a, lda, b, ldb, c, ldc, ac, bias, 0);
  gemmLog?.push({
    shape: [ta, tb, m, n, k],
    run: () => ex.gemm(ta, tb, m, n, k, a, lda, b, ldb, c, ldc, ac, bias, 0),
  });
}

/**
 * C(m,n) (+)= op(A) op(B) (+ bias(n)), on the arena module: in place when every buffer is in one
 * sealed arena, else through the scratch instance. The one gemm of eager ops and plans alike.
 */
export function gemmArena(
  transA: boolean,
  transB: boolean,
  m: number,
  n: number,
  k: number,
  A: Float32Array,
  B: Float32Array,
  C: Float32Array,
  acc: boolean,
  bias: Float32Array | null = null,
): boolean {
  if (m === 0 || n === 0) return true;
  if (k === 0) {
    if (!acc) C.fill(0, 0, m * n);
    if (bias) for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) C[i * n + j] += bias[j];
    return true;
  }
  const ex = arenaOf(A, B, C, bias);
  if (ex) {
    gemmPtr(
      ex,
      transA,
      transB,
      m,
      n,
      k,
      A.byteOffset,
      B.byteOffset,
      C.byteOffset,
      acc,
      bias ? bias.byteOffset : 0,
    );
    return true;
  }
  const s = scratchArena();
  if (!s) return false;
  scratchBegin(s);
  const a = scratchPut(s, m * k, A);
  const b = scratchPut(s, n * k, B);
  const c = scratchPut(s, m * n, acc ? C : null);
  const bi = bias ? scratchPut(s, n, bias) : 0;
  gemmPtr(s.ex, transA, transB, m, n, k, a, b, c, acc, bi);
  C.set(s.f32.subarray(c >> 2, (c >> 2) + m * n));
  return true;
}

/**
 * One strided batched gemm: for i in order, C[offC[i] ..] (m,n, row stride ldc) (+)=
 * op(A[offA[i] ..]) (lda) op(B[offB[i] ..]) (ldb), the offsets in floats times `units` (1, or the
 * matrices' sizes when the offsets count whole matrices, as nnops.ts bmm's).
 */
export interface StridedGemm {
  tA: boolean;
  tB: boolean;
  m: number;
  n: number;
  k: number;
  A: Float32Array;
  offA: Int32Array;
  lda: number;
  B: Float32Array;
  offB: Int32Array;
  ldb: number;
  C: Float32Array;
  offC: Int32Array;
  ldc: number;
  acc: boolean;
  units: readonly [number, number, number];
}

/**
 * Strided batched gemms on the arena module, all operands in one sealed arena: attention's heads
 * read in place from the (B, T, 3C) projection, and batched matmul. Several gemms over the same
 * batch run batch index by batch index (for i: each gemm's i-th product, in the order given), so
 * one (batch, head) pair's q, k, v and scores are still in cache for its second product, where
 * gemm after gemm over all pairs fetched them twice. The callers' gemms write disjoint outputs
 * and read none of them, so the order changes no bit; the gemm's sums do not depend on the
 * strides (assembly/gemm-kernel.ts). False when not in one arena.
 */
export function gemmStridedArena(gemms: readonly StridedGemm[]): boolean {
  const first = gemms[0];
  const ex = arenaOf(first.A, first.B, first.C);
  if (!ex) return false;
  for (const g of gemms) {
    if (arenaOf(first.A, g.A, g.B, g.C) !== ex || g.m === 0 || g.n === 0 || g.k === 0) return false;
  }
  const n = first.offA.length;
  if (gemms.length === 1) {
    const { tA, tB, m, n: nn, k, A, offA, lda, B, offB, ldb, C, offC, ldc, acc, units } = first;
    const [ua, ub, uc] = [units[0] * 4, units[1] * 4, units[2] * 4];
    for (let i = 0; i < n; i++) {
      const [a, b, c] = [
        A.byteOffset + offA[i] * ua,
        B.byteOffset + offB[i] * ub,
        C.byteOffset + offC[i] * uc,
      ];
      gemmPtrStrided(ex, tA, tB, m, nn, k, a, lda, b, ldb, c, ldc, acc, 0);
    }
    return true;
  }
  for (let i = 0; i < n; i++) {
    for (const g of gemms) {
      const a = g.A.byteOffset + g.offA[i] * g.units[0] * 4;
      const b = g.B.byteOffset + g.offB[i] * g.units[1] * 4;
      const c = g.C.byteOffset + g.offC[i] * g.units[2] * 4;
      gemmPtrStrided(ex, g.tA, g.tB, g.m, g.n, g.k, a, g.lda, b, g.ldb, c, g.ldc, g.acc, 0);
    }
  }
  return true;
}

const VARIANT: Record<BatchNormVariant, number> = { "lecture-std": 0, lecture: 1, torch: 2 };

/**
 * The kernel seam on the arena WebAssembly module (assembly/arena.ts). Buffers that live in one
 * sealed arena (a plan's) run in place by pointer; plain arrays take the same module's kernels
 * through copies where its result differs from the TypeScript reference (gemm, tanh forward,
 * cross-entropy forward: float32 rounding order and polynomial exp/tanh), and the reference
 * elsewhere (where the module reproduces the reference bit for bit: test/kernels.test.ts). So a
 * kernel computes the same bits wherever its buffers live: eager ops and replayed plans agree.
 */
export const arenaKernels: Kernels = {
  // moments (the update:data ratios) as src/tensor/wasm/kernels-wasm.ts runs it
  ...wasmKernels,

  gemm(transA, transB, m, n, k, A, B, C, acc) {
    if (!gemmArena(transA, transB, m, n, k, A, B, C, acc))
      referenceKernels.gemm(transA, transB, m, n, k, A, B, C, acc);
  },

  tanhForward(x, y) {
    const ex = arenaOf(x, y);
    if (ex) return ex.tanhFwd(x.byteOffset, y.byteOffset, x.length);
    const s = scratchArena();
    if (!s) return referenceKernels.tanhForward(x, y);
    scratchBegin(s);
    const p = scratchPut(s, x.length, x);
    s.ex.tanhFwd(p, p, x.length);
    y.set(s.f32.subarray(p >> 2, (p >> 2) + x.length));
  },

  tanhBackward(y, g, gx, acc = true) {
    const ex = arenaOf(y, g, gx);
    if (ex) return ex.tanhBwd(y.byteOffset, g.byteOffset, gx.byteOffset, g.length, acc ? 1 : 0);
    referenceKernels.tanhBackward(y, g, gx, acc);
  },

  batchNormTrainForward(x, N, H, gamma, beta, variant, eps, mean, spread, sigma, xhat, y) {
    const ex = arenaOf(x, gamma, beta, mean, spread, sigma, xhat, y);
    if (ex) {
      return ex.bnTrainFwd(
        x.byteOffset,
        N,
        H,
        gamma.byteOffset,
        beta.byteOffset,
        VARIANT[variant],
        eps,
        mean.byteOffset,
        spread.byteOffset,
        sigma.byteOffset,
        xhat.byteOffset,
        y.byteOffset,
      );
    }
    referenceKernels.batchNormTrainForward(x, N, H, gamma, beta, variant, eps, mean, spread, sigma, xhat, y);
  },

  batchNormTrainBackward(g, xhat, sigma, gamma, N, H, D, dgamma, dbeta, dx, accX = true) {
    noteScratch(8 * H + 8);
    const ex = dgamma && dbeta && dx ? arenaOf(g, xhat, sigma, gamma, dgamma, dbeta, dx) : undefined;
    const sc = ex && scratchOf.get(ex);
    if (ex && sc && sc.floats >= 8 * H + 8 && dgamma && dbeta && dx) {
      return ex.bnTrainBwd(
        g.byteOffset,
        xhat.byteOffset,
        sigma.byteOffset,
        gamma.byteOffset,
        N,
        H,
        D,
        dgamma.byteOffset,
        dbeta.byteOffset,
        dx.byteOffset,
        accX ? 1 : 0,
        sc.ptr,
      );
    }
    referenceKernels.batchNormTrainBackward(g, xhat, sigma, gamma, N, H, D, dgamma, dbeta, dx, accX);
  },

  batchNormEvalForward(x, N, H, gamma, beta, mean, sigma, variant, y) {
    const ex = arenaOf(x, gamma, beta, mean, sigma, y);
    if (ex) {
      return ex.bnEval(
        x.byteOffset,
        N,
        H,
        gamma.byteOffset,
        beta.byteOffset,
        mean.byteOffset,
        sigma.byteOffset,
        VARIANT[variant],
        y.byteOffset,
      );
    }
    referenceKernels.batchNormEvalForward(x, N, H, gamma, beta, mean, sigma, variant, y);
  },

  crossEntropyForward(x, t, B, V, probs) {
    if (t instanceof Int32Array) {
      const ex = arenaOf(x, t, probs);
      if (ex) return ex.ceFwd(x.byteOffset, t.byteOffset, B, V, probs ? probs.byteOffset : 0);
    }
    const s = scratchArena();
    if (!s) return referenceKernels.crossEntropyForward(x, t, B, V, probs);
    scratchBegin(s);
    const xp = scratchPut(s, B * V, x);
    const tp = scratchPut(s, B, null);
    for (let b = 0; b < B; b++) s.i32[(tp >> 2) + b] = t[b];
    const pp = probs ? scratchPut(s, B * V, null) : 0;
    const total = s.ex.ceFwd(xp, tp, B, V, pp);
    if (probs) probs.set(s.f32.subarray(pp >> 2, (pp >> 2) + B * V));
    return total;
  },

  crossEntropyBackward(probs, t, B, V, k, dlogits) {
    if (t instanceof Int32Array) {
      const ex = arenaOf(probs, t, dlogits);
      if (ex) return ex.ceBwd(probs.byteOffset, t.byteOffset, B, V, k, dlogits.byteOffset, 1);
    }
    referenceKernels.crossEntropyBackward(probs, t, B, V, k, dlogits);
  },

  sgd(w, g, k) {
    const ex = arenaOf(w, g);
    if (ex) return ex.sgd(w.byteOffset, g.byteOffset, w.length, Math.fround(k));
    referenceKernels.sgd(w, g, k);
  },
};

// ---------------------------------------------------------------------------------------------
// Repeated rows (wavenet, issue 11): the WaveNet's padded contexts repeat whole rows of its
// activations ("......ab" at the first level, "....abcd" at the second). A Linear or a tanh row
// depends on its own input row's bits alone, so a plan computes each distinct row once and copies
// the result to the rows that repeat it: the same bits, less work.

/**
 * Rows of x (m, k) that repeat an earlier row bit for bit; 0 when all are one row (an evaluation
 * plan's capture on zeros, which says nothing about real rows). JS, checked once at capture.
 */
export function repeatedRows(x: Float32Array, m: number, k: number): number {
  if (m < 16 || k < 4) return 0;
  const bits = new Int32Array(x.buffer, x.byteOffset, m * k);
  const seen = new Set<string>();
  for (let r = 0; r < m; r++) seen.add(bits.subarray(r * k, r * k + k).join(","));
  return seen.size > 1 ? m - seen.size : 0;
}

/**
 * Whether skipping r repeated rows of m (k wide) pays for hashing, gathering and copying every
 * row (about one op per float): for a Linear with n outputs, 2 n k flops per repeated row; for
 * tanh (n = 0), about 9 ops per float.
 */
export function repeatsPay(r: number, m: number, k: number, n: number): boolean {
  return n > 0 ? r * n * k >= 8 * m * (k + n) : 6 * r >= m;
}

/**
 * The distinct rows of x (m, k) on its sealed arena, in the plan's scratch: their copies xc
 * (u, k), room for results yc (u, n), and slot (m, int32: row r repeats distinct row slot[r]).
 * Null where x is not in a sealed arena with that much scratch.
 */
function distinctRows(
  x: Float32Array,
  m: number,
  k: number,
  n: number,
  ...others: (Float32Array | null)[]
): { ex: ArenaExports; u: number; xc: number; yc: number; slot: number } | null {
  const pad = (f: number) => (f + 8 + 3) & ~3;
  const bits = Math.max(4, Math.ceil(Math.log2(2 * m)));
  const floats = pad(m * k) + pad(m * n) + 2 * pad(m) + pad(1 << bits);
  noteScratch(floats);
  const ex = arenaOf(x, others[0] ?? null, others[1] ?? null, others[2] ?? null);
  const sc = ex && scratchOf.get(ex);
  if (!ex || !sc || sc.floats < floats) return null;
  const xc = sc.ptr;
  const yc = xc + pad(m * k) * 4;
  const first = yc + pad(m * n) * 4;
  const slot = first + pad(m) * 4;
  const u = ex.uniqueRows(x.byteOffset, m, k, first, slot, slot + pad(m) * 4, bits);
  if (repeatsPay(m - u, m, k, n)) ex.gather(x.byteOffset, k, first, u, xc);
  return { ex, u, xc, yc, slot };
}

/**
 * y(m, n) = x(m, k) @ op(W) (+ bias), each distinct row of x multiplied once and its result
 * copied to the rows that repeat it. The same bits as one gemm over x: each output row is summed
 * from its own input row alone (p = 0..k-1 from zero, then + bias; gemmPtr). False where the
 * buffers are not in one sealed arena (the caller runs the plain gemm).
 */
export function linearRowsArena(
  transB: boolean,
  m: number,
  n: number,
  k: number,
  x: Float32Array,
  W: Float32Array,
  y: Float32Array,
  bias: Float32Array | null,
): boolean {
  const d = distinctRows(x, m, k, n, W, y, bias);
  if (!d) return false;
  const b = bias ? bias.byteOffset : 0;
  if (!repeatsPay(m - d.u, m, k, n)) {
    gemmPtr(d.ex, false, transB, m, n, k, x.byteOffset, W.byteOffset, y.byteOffset, false, b);
    return true;
  }
  gemmPtr(d.ex, false, transB, d.u, n, k, d.xc, W.byteOffset, d.yc, false, b);
  d.ex.gather(d.yc, n, d.slot, m, y.byteOffset);
  return true;
}

/** y = tanh(x) over rows (m, c), each distinct row once (the arena module's tanh: the same bits). */
export function tanhRowsArena(x: Float32Array, y: Float32Array, m: number, c: number): boolean {
  const d = distinctRows(x, m, c, 0, y);
  if (!d) return false;
  if (!repeatsPay(m - d.u, m, c, 0)) {
    d.ex.tanhFwd(x.byteOffset, y.byteOffset, m * c);
    return true;
  }
  d.ex.tanhFwd(d.xc, d.xc, d.u * c);
  d.ex.gather(d.xc, c, d.slot, m, y.byteOffset);
  return true;
}

/** db(n) += column sums of G(m, n) on the arena module when both are in one arena (same bits). */
export function colSumArena(g: Float32Array, db: Float32Array, m: number, n: number): boolean {
  const ex = arenaOf(g, db);
  if (!ex) return false;
  ex.colSum(m, n, g.byteOffset, db.byteOffset);
  return true;
}

/**
 * BatchNorm's running buffers, rm = k rm + m mean and rv = k rv + m spread (float32 m, k; each
 * product rounded, then the sum), on the arena module when all four are in one arena: the float32
 * ops of the plain loop, so the same bits. False otherwise (the caller loops).
 */
export function bnRunningArena(
  rm: Float32Array,
  rv: Float32Array,
  mean: Float32Array,
  spread: Float32Array,
  m: number,
  k: number,
): boolean {
  const ex = arenaOf(rm, rv, mean, spread);
  if (!ex) return false;
  ex.bnRunning(rm.byteOffset, rv.byteOffset, mean.byteOffset, spread.byteOffset, rm.length, m, k);
  return true;
}

/** gx += g on the arena module when both are in one arena (sgd with k = 1: w + 1 * g, same bits). */
export function accumulateArena(gx: Float32Array, g: Float32Array): boolean {
  const ex = arenaOf(gx, g);
  if (!ex) return false;
  ex.sgd(gx.byteOffset, g.byteOffset, gx.length, 1);
  return true;
}

/** y[r, :] = x[ix[r], :] (rows of `row` floats) on the arena module in one arena. */
export function gatherArena(x: Float32Array, row: number, ix: Int32Array, y: Float32Array): boolean {
  const ex = arenaOf(x, ix, y);
  if (!ex) return false;
  ex.gather(x.byteOffset, row, ix.byteOffset, ix.length, y.byteOffset);
  return true;
}

/** gx[ix[r], :] += g[r, :] in row order on the arena module in one arena (same bits). */
export function scatterAddArena(g: Float32Array, row: number, ix: Int32Array, gx: Float32Array): boolean {
  const ex = arenaOf(g, ix, gx);
  if (!ex) return false;
  ex.scatterAdd(gx.byteOffset, row, ix.byteOffset, ix.length, g.byteOffset);
  return true;
}

/**
 * out[r, :] = tables[0, ix[r, 0], :] + ... + tables[t-1, ix[r, t-1], :] (+ bias), float32 adds in
 * that order, tables (t, v, o), ix (rows, t), on the arena module in one arena; false otherwise.
 */
export function gatherSumArena(
  tables: Float32Array,
  v: number,
  o: number,
  t: number,
  ix: Int32Array,
  rows: number,
  bias: Float32Array | null,
  out: Float32Array,
): boolean {
  const ex = arenaOf(tables, ix, out, bias);
  if (!ex) return false;
  ex.gatherSum(tables.byteOffset, v, o, t, ix.byteOffset, rows, bias ? bias.byteOffset : 0, out.byteOffset);
  return true;
}

/**
 * dtables[k, ix[k, r], :] += g[r, :] for k < t, rows r in order (ix (t, rows)): gatherSum's
 * backward as one scatter-add per table, on the arena module in one arena; false otherwise.
 */
export function scatterAddTablesArena(
  g: Float32Array,
  o: number,
  ix: Int32Array,
  t: number,
  rows: number,
  dtables: Float32Array,
  v: number,
): boolean {
  const ex = arenaOf(g, ix, dtables);
  if (!ex) return false;
  for (let k = 0; k < t; k++)
    ex.scatterAdd(dtables.byteOffset + k * v * o * 4, o, ix.byteOffset + k * rows * 4, rows, g.byteOffset);
  return true;
}

/** relu forward on the arena module in place (the reference rule elsewhere: same bits). */
export function reluForwardArena(x: Float32Array, y: Float32Array): boolean {
  const ex = arenaOf(x, y);
  if (!ex) return false;
  ex.reluFwd(x.byteOffset, y.byteOffset, x.length);
  return true;
}

/**
 * The eager side of a pointer kernel: copy `bufs` into the scratch instance (null stays 0), run
 * `call` on their offsets, copy back the buffers at the indices `outs`. False where the module is
 * unavailable. (Replays never come here: their buffers are in one sealed arena.)
 */
function viaScratch(
  bufs: readonly (Buffer | null)[],
  outs: readonly number[],
  call: (ex: ArenaExports, p: number[]) => void,
): boolean {
  const s = scratchArena();
  if (!s) return false;
  scratchBegin(s);
  const p = bufs.map((b) => (b ? scratchPut(s, b.length, b) : 0));
  call(s.ex, p);
  for (const i of outs) {
    const b = bufs[i] as Float32Array;
    b.set(s.f32.subarray(p[i] >> 2, (p[i] >> 2) + b.length));
  }
  return true;
}

/**
 * The tanh GELU y = 0.5 x (1 + tanh(u)) = x s, s = 1 / (1 + e^(-2u)), u = sqrt(2/pi) (x + 0.044715
 * x^3), in float32 lanes (assembly/arena.ts geluFwd), keeping s for the backward. False where the
 * arena module does not run.
 */
export function geluForwardArena(x: Float32Array, y: Float32Array, s: Float32Array): boolean {
  const ex = arenaOf(x, y, s);
  if (ex) {
    ex.geluFwd(x.byteOffset, y.byteOffset, s.byteOffset, x.length);
    return true;
  }
  return viaScratch([x, y, s], [1, 2], (m, [px, py, ps]) => m.geluFwd(px, py, ps, x.length));
}

/**
 * y = 1 / (1 + e^-x) in float32 lanes (assembly/arena.ts sigmoidFwd), by pointer in one arena,
 * else through the scratch instance. False where the arena module does not run.
 */
export function sigmoidForwardArena(x: Float32Array, y: Float32Array): boolean {
  const ex = arenaOf(x, y);
  if (ex) {
    ex.sigmoidFwd(x.byteOffset, y.byteOffset, x.length);
    return true;
  }
  return viaScratch([x, y], [1], (m, [px, py]) => m.sigmoidFwd(px, py, x.length));
}

/**
 * Causal attention weights of x (mats (T, T) matrices, scaled by float32 `scale`) in float32
 * lanes (assembly/arena.ts causalSoftmaxFwd), by pointer in one arena, else through the scratch
 * instance. False where the arena module does not run.
 */
export function causalSoftmaxArena(x: Float32Array, y: Float32Array, T: number, scale: number): boolean {
  const mats = T === 0 ? 0 : x.length / (T * T);
  const ex = arenaOf(x, y);
  if (ex) {
    ex.causalSoftmaxFwd(x.byteOffset, y.byteOffset, T, mats, scale);
    return true;
  }
  return viaScratch([x, y], [1], (m, [px, py]) => m.causalSoftmaxFwd(px, py, T, mats, scale));
}

/**
 * Attention's weights pair by pair on the arena, all buffers in one sealed arena: for each two
 * (batch, head) pairs i, i + 1 (one at the end for an odd count), S_j = Q_j K_j^T (T, T) into the
 * scratch S (2 T T floats), then their causal softmax (causalSoftmaxFwd, two matrices) into
 * att_i, att_i+1 (att (pairs, T, T)): the same gemm and the same softmax per matrix as the
 * scores gemm over all pairs followed by the softmax over all matrices, so the same bits, with
 * each pair's scores still in cache for its softmax and no (pairs, T, T) scores written. Q_j, K_j
 * at float offsets offQ[j], offK[j] into qkv, row stride ld. False when not in one arena.
 */
export function attentionWeightsArena(
  qkv: Float32Array,
  offQ: Int32Array,
  offK: Int32Array,
  S: Float32Array,
  att: Float32Array,
  T: number,
  hs: number,
  ld: number,
  scale: number,
): boolean {
  const ex = arenaOf(qkv, S, att);
  if (!ex || T === 0 || hs === 0) return false;
  const [n, TT4] = [offQ.length, T * T * 4];
  const [q0, s0, a0] = [qkv.byteOffset, S.byteOffset, att.byteOffset];
  for (let i = 0; i < n; i += 2) {
    const m = Math.min(2, n - i);
    for (let j = 0; j < m; j++) {
      const [q, k] = [q0 + offQ[i + j] * 4, q0 + offK[i + j] * 4];
      gemmPtrStrided(ex, false, true, T, T, hs, q, ld, k, ld, s0 + j * TT4, T, false, 0);
    }
    ex.causalSoftmaxFwd(s0, a0 + i * TT4, T, m, scale);
  }
  return true;
}

/**
 * attentionWeightsArena's backward, two pairs at a time: dS = the causal softmax's backward of
 * att's gradient g into the scratch dS (causalSoftmaxBwd, overwriting: a fresh gradient), then per
 * pair dQ_j += dS_j K_j and dK_j += dS_j^T Q_j into gqkv: the ops of the softmax's backward over
 * all matrices and the scores' two gemms over all pairs, so the same bits.
 */
export function attentionWeightsBackwardArena(
  qkv: Float32Array,
  offQ: Int32Array,
  offK: Int32Array,
  att: Float32Array,
  g: Float32Array,
  dS: Float32Array,
  gqkv: Float32Array,
  T: number,
  hs: number,
  ld: number,
  scale: number,
): boolean {
  const ex = arenaOf(qkv, att, g, dS, gqkv);
  if (!ex || T === 0 || hs === 0) return false;
  const [n, TT4] = [offQ.length, T * T * 4];
  const [q0, gq0, d0] = [qkv.byteOffset, gqkv.byteOffset, dS.byteOffset];
  for (let i = 0; i < n; i += 2) {
    const m = Math.min(2, n - i);
    ex.causalSoftmaxBwd(att.byteOffset + i * TT4, g.byteOffset + i * TT4, d0, T, m, scale, 0);
    for (let j = 0; j < m; j++) {
      const [oq, ok, d] = [offQ[i + j] * 4, offK[i + j] * 4, d0 + j * TT4];
      gemmPtrStrided(ex, false, false, T, hs, T, d, T, q0 + ok, ld, gq0 + oq, ld, true, 0);
      gemmPtrStrided(ex, true, false, T, hs, T, d, T, q0 + oq, ld, gq0 + ok, ld, true, 0);
    }
  }
  return true;
}

/**
 * gx (+)= g gelu'(x) = g (s + 2 x s (1 - s) u'(x)), float32 lanes, from geluForwardArena's s
 * (assembly/arena.ts geluBwd). acc false: gx is overwritten (a fresh gradient).
 */
export function geluBackwardArena(
  x: Float32Array,
  s: Float32Array,
  g: Float32Array,
  gx: Float32Array,
  acc: boolean,
): boolean {
  const a = acc ? 1 : 0;
  const ex = arenaOf(x, s, g, gx);
  if (ex) {
    ex.geluBwd(x.byteOffset, s.byteOffset, g.byteOffset, gx.byteOffset, x.length, a);
    return true;
  }
  return viaScratch([x, s, g, gx], [3], (m, [px, ps, pg, pgx]) => m.geluBwd(px, ps, pg, pgx, x.length, a));
}

/**
 * causalSoftmaxArena's backward from its weights y (assembly/arena.ts causalSoftmaxBwd, the float64
 * rule of src/tensor/nnops.ts bit for bit): gx (+)= f32(f32(y (g - sum g y)) scale) on the causal
 * half; acc false: gx is overwritten, its masked half with 0 (a fresh gradient).
 */
export function causalSoftmaxBackwardArena(
  y: Float32Array,
  g: Float32Array,
  gx: Float32Array,
  T: number,
  scale: number,
  acc: boolean,
): boolean {
  const mats = T === 0 ? 0 : y.length / (T * T);
  const a = acc ? 1 : 0;
  const ex = arenaOf(y, g, gx);
  if (ex) {
    ex.causalSoftmaxBwd(y.byteOffset, g.byteOffset, gx.byteOffset, T, mats, scale, a);
    return true;
  }
  return viaScratch([y, g, gx], [2], (m, [py, pg, pgx]) =>
    m.causalSoftmaxBwd(py, pg, pgx, T, mats, scale, a),
  );
}

/**
 * LayerNorm over the last dim of x (N, C), per row in float64 (assembly/arena.ts lnFwd): mean and
 * rstd (N, float32), xhat = f32((x - mean) rstd), y = f32(xhat w + b) (w / b null: 1 / 0).
 */
export function layerNormForwardArena(
  x: Float32Array,
  N: number,
  C: number,
  w: Float32Array | null,
  b: Float32Array | null,
  eps: number,
  mean: Float32Array,
  rstd: Float32Array,
  xhat: Float32Array,
  y: Float32Array,
): boolean {
  const ex = arenaOf(x, w, b, mean, rstd, xhat, y);
  if (ex) {
    const at = (a: Float32Array | null) => (a ? a.byteOffset : 0);
    ex.lnFwd(
      x.byteOffset,
      N,
      C,
      at(w),
      at(b),
      eps,
      mean.byteOffset,
      rstd.byteOffset,
      xhat.byteOffset,
      y.byteOffset,
    );
    return true;
  }
  return viaScratch([x, w, b, mean, rstd, xhat, y], [3, 4, 5, 6], (m, p) =>
    m.lnFwd(p[0], N, C, p[1], p[2], eps, p[3], p[4], p[5], p[6]),
  );
}

/**
 * Its backward with dxhat = g w (assembly/arena.ts lnBwd): gx (+)= rstd (dxhat - mean(dxhat) -
 * xhat mean(dxhat xhat)) per row in float64 (accX false: overwritten, a fresh gradient); gw +=
 * sum g xhat, gb += sum g (float32, rows in order). A null gradient is not computed.
 */
export function layerNormBackwardArena(
  g: Float32Array,
  xhat: Float32Array,
  rstd: Float32Array,
  w: Float32Array | null,
  N: number,
  C: number,
  gw: Float32Array | null,
  gb: Float32Array | null,
  gx: Float32Array | null,
  accX = true,
): boolean {
  const ax = accX ? 1 : 0;
  const ex = arenaOf(g, xhat, rstd, w, gw, gb, gx);
  if (ex) {
    const at = (a: Float32Array | null) => (a ? a.byteOffset : 0);
    ex.lnBwd(g.byteOffset, xhat.byteOffset, rstd.byteOffset, at(w), N, C, at(gw), at(gb), at(gx), ax);
    return true;
  }
  return viaScratch(
    [g, xhat, rstd, w, gw, gb, gx],
    [4, 5, 6].filter((i) => [gw, gb, gx][i - 4]),
    (m, p) => m.lnBwd(p[0], p[1], p[2], p[3], N, C, p[4], p[5], p[6], ax),
  );
}

/**
 * AdamW over w, g, m (exp_avg), v (exp_avg_sq) on the arena module, by pointer when all four are
 * in one sealed arena (assembly/arena.ts adamw: bit for bit kernels.ts `arenaReference.adamw`, the
 * op sequence of src/train/optim.ts). Scalars as the kernel takes them, rounded to float32 by the
 * caller. False when the buffers are not in one arena (the caller runs the twin).
 */
export function adamwArena(
  w: Float32Array,
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
  ...scalars: AdamWScalars
): boolean {
  const ex = arenaOf(w, g, m, v);
  if (!ex) return false;
  ex.adamw(w.byteOffset, g.byteOffset, m.byteOffset, v.byteOffset, w.length, ...scalars);
  return true;
}

/**
 * SGD with momentum / weight decay / Nesterov on the arena module when w, g (and b, with momentum)
 * are in one arena: the twin's float32 op sequence bit for bit (kernels.ts arenaReference.sgdMomentum,
 * SGD_FLAGS). False when they are not (the caller runs the twin).
 */
export function sgdMomentumArena(
  w: Float32Array,
  g: Float32Array,
  b: Float32Array | null,
  wd: number,
  mom: number,
  damp: number,
  negLr: number,
  flags: number,
): boolean {
  const ex = b ? arenaOf(w, g, b) : arenaOf(w, g);
  if (!ex) return false;
  ex.sgdMomentum(
    w.byteOffset,
    g.byteOffset,
    b ? b.byteOffset : 0,
    w.length,
    wd,
    mom,
    damp,
    negLr,
    b ? flags : flags & 1,
  );
  return true;
}

/**
 * y = a + b or a * b elementwise (equal lengths) on the arena module in one arena (float32 adds
 * or products: the same bits as the plain loop).
 */
export function elementwiseArena(
  op: "add" | "mul",
  a: Float32Array,
  b: Float32Array,
  y: Float32Array,
): boolean {
  const ex = arenaOf(a, b, y);
  if (!ex) return false;
  ex[op](a.byteOffset, b.byteOffset, y.byteOffset, y.length);
  return true;
}

/**
 * y = x + z with z tiled over x ((B, T, C) + (T, C): y[i] = x[i] + z[i mod len z]), one SIMD add
 * per block on the arena module in one arena (float32 adds: same bits). False otherwise.
 */
export function addTiledArena(x: Float32Array, z: Float32Array, y: Float32Array): boolean {
  const L = z.length;
  // (a scalar or a short z: one call per element would cost more than the plain loop)
  if (L < 16 || y.length % L !== 0) return false;
  const ex = arenaOf(x, z, y);
  if (!ex) return false;
  for (let o = 0; o < y.length * 4; o += L * 4) ex.add(x.byteOffset + o, z.byteOffset, y.byteOffset + o, L);
  return true;
}

/**
 * gx += f32(g * z) elementwise (equal lengths), the product rounded, then the sum (the JS rule's
 * two roundings): the SIMD mul into the plan's scratch, then the SIMD add, when all three are in
 * one sealed arena whose scratch holds n floats (a capture notes the size). False otherwise.
 */
export function mulAccumulateArena(gx: Float32Array, g: Float32Array, z: Float32Array): boolean {
  const n = g.length;
  noteScratch(n);
  const ex = arenaOf(gx, g, z);
  const sc = ex && scratchOf.get(ex);
  if (!ex || !sc || sc.floats < n) return false;
  ex.mul(g.byteOffset, z.byteOffset, sc.ptr, n);
  ex.add(gx.byteOffset, sc.ptr, gx.byteOffset, n);
  return true;
}

/** A Float32Array over a whole sealed arena's memory (it never grows after sealing), per memory. */
const wholeViews = new WeakMap<ArrayBufferLike, Float32Array>();

/**
 * rows x n floats: y[yo + r sy + i] = x[xo + r sx + i] (offsets and strides in floats), as native
 * memmoves (copyWithin) when x and y are views of one sealed arena: no per-row subarray objects.
 * False otherwise (the caller loops).
 */
export function copyRowsArena(
  x: Float32Array,
  xo: number,
  sx: number,
  y: Float32Array,
  yo: number,
  sy: number,
  n: number,
  rows: number,
): boolean {
  const m = x.buffer;
  if (y.buffer !== m || !arenaExportsFor(m)) return false;
  let whole = wholeViews.get(m);
  if (!whole) wholeViews.set(m, (whole = new Float32Array(m)));
  let src = (x.byteOffset >> 2) + xo;
  let dst = (y.byteOffset >> 2) + yo;
  for (let r = 0; r < rows; r++, src += sx, dst += sy) whole.copyWithin(dst, src, src + n);
  return true;
}

/**
 * rows x n floats: gx[go + r sgx + i] += g[o + r sg + i] on the arena module (one SIMD add per row,
 * the same float32 sums) when both are views of one sealed arena; false otherwise.
 */
export function addRowsArena(
  g: Float32Array,
  o: number,
  sg: number,
  gx: Float32Array,
  go: number,
  sgx: number,
  n: number,
  rows: number,
): boolean {
  const ex = arenaOf(g, gx);
  if (!ex) return false;
  let src = g.byteOffset + o * 4;
  let dst = gx.byteOffset + go * 4;
  for (let r = 0; r < rows; r++, src += sg * 4, dst += sgx * 4) ex.add(dst, src, dst, n);
  return true;
}

/** True when the arena module runs here (WebAssembly SIMD and synchronous compilation). */
export function engineAvailable(): boolean {
  return scratchArena() !== null;
}

// ---------------------------------------------------------------------------------------------
// Op tables

/**
 * One op's kernels: `forward` computes the output (and any values its backward saves) from the
 * inputs, `backward` accumulates the inputs' gradients from the output's. Ops keep theirs in a
 * table typed over their names, `{ ... } satisfies OpTable<"a" | "b">`, so an op without a kernel
 * or without a gradient rule fails the type check; the op function does the shapes, allocates
 * with `allocF32`, and calls `launch(TABLE.op.forward, ...)` and, in the closure it `record`s,
 * `launch(TABLE.op.backward, ...)`. A view has no forward kernel: it shares its input's storage.
 */
export interface OpRule {
  // biome-ignore lint/suspicious/noExplicitAny: kernels have op-specific signatures
  forward: ((...args: any[]) => void) | "shares-storage";
  // biome-ignore lint/suspicious/noExplicitAny: kernels have op-specific signatures
  backward: (...args: any[]) => void;
}
export type OpTable<N extends string> = Record<N, OpRule>;
