/**
 * Tensor: float32 storage, a shape, row-major and always contiguous; plus reverse-mode autograd.
 *
 * Every op computes its forward value and, when gradients are on and an input requires them,
 * records a closure that turns the output's gradient into its inputs' gradients. Closures
 * ACCUMULATE (`grad += ...`), so a tensor used twice in one graph collects both contributions.
 * Integer tensors (indices, targets) are stored as exact integers in float32 (exact below 2^24)
 * and carry dtype "int64" so that indexing can check them.
 *
 *   const g = new Generator().manualSeed(2147483647);
 *   const W = randn([30, 200], { generator: g }).requiresGrad_();
 *   const loss = x.matmul(W).tanh().sum();
 *   loss.backward();          // W.grad now holds d loss / d W
 */

import {
  accumulateArena,
  addRowsArena,
  addTiledArena,
  allocF32,
  allocI32,
  arenaKernels,
  checkLaunched,
  copyRowsArena,
  elementwiseArena,
  engineAvailable,
  gatherArena,
  isCapturing,
  launch,
  mulAccumulateArena,
  noteTensor,
  type OpTable,
  reluForwardArena,
  repeatedRows,
  repeatsPay,
  scatterAddArena,
  sigmoidForwardArena,
  tanhRowsArena,
  zerosF32,
} from "./engine.ts";
import { kernels, setKernels, tanhF32 } from "./kernels.ts";

// The arena WebAssembly SIMD kernels by default where the engine has them (Node 20 and current
// browsers): eager ops and captured plans then run the same kernels and compute the same bits.
// `setKernels(referenceKernels)` switches back to the plain TypeScript reference.
if (engineAvailable()) setKernels(arenaKernels);

export { tanhF32 };

export type DType = "float32" | "int64" | "bool";
export type Shape = readonly number[];

// ---------------------------------------------------------------------------------------------
// Grad mode

let gradEnabled = true;

/** Run `fn` with gradient recording off, like `with torch.no_grad():`. */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

// ---------------------------------------------------------------------------------------------
// Anomaly detection (like torch.autograd.set_detect_anomaly): slow, for finding where a NaN starts

let anomalyMode = false;

/** Thrown in anomaly mode by the first op whose finite inputs gave a NaN or an infinity. */
export class AnomalyError extends Error {
  constructor(
    readonly op: string,
    readonly phase: "forward" | "backward",
    message: string,
  ) {
    super(message);
    this.name = "AnomalyError";
  }
}

/** Check every op's output (forward) and every op's input gradients (backward) for NaN/inf. */
export function setDetectAnomaly(on: boolean): boolean {
  const prev = anomalyMode;
  anomalyMode = on;
  return prev;
}
export function isAnomalyEnabled(): boolean {
  return anomalyMode;
}

function nonFiniteKind(x: Float32Array): string | null {
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (!Number.isFinite(v)) return Number.isNaN(v) ? "NaN" : v > 0 ? "inf" : "-inf";
  }
  return null;
}

/** Whether ops currently record the graph. */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Set grad mode globally (prefer `noGrad`). Returns the previous mode. */
export function setGradEnabled(on: boolean): boolean {
  const prev = gradEnabled;
  gradEnabled = on;
  return prev;
}

// ---------------------------------------------------------------------------------------------
// Shapes

/** Number of elements of a shape. */
export function numelOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** A shape as PyTorch prints it: (3, 4), or (3,) for one dimension. */
export function shapeStr(shape: Shape): string {
  return `(${shape.join(", ")}${shape.length === 1 ? "," : ""})`;
}

/** A dim in [-ndim, ndim) as an index in [0, ndim). */
export function normDim(dim: number, ndim: number): number {
  const d = dim < 0 ? dim + ndim : dim;
  if (d < 0 || d >= ndim) throw new RangeError(`dimension ${dim} out of range for a ${ndim}-d tensor`);
  return d;
}

/** NumPy/PyTorch broadcasting: align from the right; each pair of sizes equal or one of them 1. */
export function broadcastShapes(a: Shape, b: Shape): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new RangeError(`shapes ${shapeStr(a)} and ${shapeStr(b)} cannot be broadcast together`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/**
 * For an input of shape `inShape` broadcast to `outShape`, the input's flat offset for every
 * output element. Cached by shape: the same broadcasts recur every training step.
 */
const offsetCache = new Map<string, Int32Array>();
export function broadcastOffsets(inShape: Shape, outShape: Shape): Int32Array {
  const key = `${inShape.join(",")}>${outShape.join(",")}`;
  const hit = offsetCache.get(key);
  if (hit) return hit;
  const n = outShape.length;
  const strides = new Array<number>(n).fill(0);
  let s = 1;
  for (let i = inShape.length - 1; i >= 0; i--) {
    const o = n - inShape.length + i;
    strides[o] = inShape[i] === 1 ? 0 : s;
    s *= inShape[i];
  }
  const total = numelOf(outShape);
  const offs = new Int32Array(total);
  const idx = new Array<number>(n).fill(0);
  let off = 0;
  for (let flat = 0; flat < total; flat++) {
    offs[flat] = off;
    // odometer increment over the output index, tracking the input offset
    for (let d = n - 1; d >= 0; d--) {
      idx[d]++;
      off += strides[d];
      if (idx[d] < outShape[d]) break;
      off -= strides[d] * outShape[d];
      idx[d] = 0;
    }
  }
  if (offsetCache.size > 512) offsetCache.clear();
  offsetCache.set(key, offs);
  // ones then the output's trailing dimensions ((T, C) in (B, T, C)): offsets i mod numel(in)
  if (isTiled(inShape, outShape)) tiledOffsets.add(offs);
  return offs;
}

/**
 * Offsets of an input whose shape is leading ones then the output's trailing dimensions: offset
 * i mod numel(input), so kernels may run whole contiguous blocks (broadcastOffsets marks them).
 */
const tiledOffsets = new WeakSet<Int32Array>();
function isTiled(inShape: Shape, outShape: Shape): boolean {
  let i = 0;
  while (i < inShape.length && inShape[i] === 1) i++;
  const lead = outShape.length - inShape.length;
  for (; i < inShape.length; i++) if (inShape[i] !== outShape[lead + i]) return false;
  return true;
}

/** Split `shape` around `dim` into (outer, size, inner) so a reduction is a 3-loop nest. */
export function splitAt(shape: Shape, dim: number): [number, number, number] {
  let outer = 1;
  let inner = 1;
  for (let i = 0; i < dim; i++) outer *= shape[i];
  for (let i = dim + 1; i < shape.length; i++) inner *= shape[i];
  return [outer, shape[dim], inner];
}

function reducedShape(shape: Shape, dim: number, keepdim: boolean): number[] {
  const out = shape.slice();
  if (keepdim) out[dim] = 1;
  else out.splice(dim, 1);
  return out;
}

// ---------------------------------------------------------------------------------------------
// The Tensor

export type NestedArray = number | boolean | NestedArray[];

export interface ReduceOptions {
  keepdim?: boolean;
}
export interface VarOptions extends ReduceOptions {
  /** Divide by N - 1 (Bessel's correction) when true, the default as in PyTorch; by N when false. */
  unbiased?: boolean;
}

export class Tensor {
  /** The values, row-major. Ops never write into an input's storage (except the in-place `_` ops). */
  storage: Float32Array;
  shape: number[];
  dtype: DType;
  requiresGrad: boolean;
  /** d(root)/d(this) after `backward()`, for leaves and tensors that called `retainGrad()`. */
  grad: Tensor | null = null;
  /** Optional label used in error messages and diagnostics. */
  name?: string;
  /** The op that produced this tensor ("matmul", "tanh", ...); undefined for leaves. */
  op?: string;
  parents: Tensor[] = [];
  backwardFn: (() => void) | null = null;
  retainsGrad = false;

  constructor(storage: Float32Array, shape: Shape, dtype: DType = "float32", requiresGrad = false) {
    if (storage.length !== numelOf(shape)) {
      throw new RangeError(`storage of ${storage.length} values does not fit shape ${shapeStr(shape)}`);
    }
    this.storage = storage;
    this.shape = shape.slice();
    this.dtype = dtype;
    this.requiresGrad = requiresGrad;
    noteTensor(this);
  }

  // -- basic facts ----------------------------------------------------------------------------

  get ndim(): number {
    return this.shape.length;
  }
  dim(): number {
    return this.shape.length;
  }
  numel(): number {
    return this.storage.length;
  }
  /** `size()` is the shape; `size(d)` one dimension (negative counts from the end). */
  size(): number[];
  size(dim: number): number;
  size(dim?: number): number[] | number {
    return dim === undefined ? this.shape.slice() : this.shape[normDim(dim, this.ndim)];
  }
  get isLeaf(): boolean {
    return this.backwardFn === null;
  }

  /** The single value of a one-element tensor. */
  item(): number {
    if (this.storage.length !== 1) {
      throw new RangeError(`item() needs a tensor with one element, this one has ${this.storage.length}`);
    }
    return this.storage[0];
  }

  /** Nested JS arrays, like `tensor.tolist()`. */
  tolist(): NestedArray {
    const s = this.storage;
    const build = (d: number, off: number): NestedArray => {
      if (d === this.ndim) return s[off];
      const stride = numelOf(this.shape.slice(d + 1));
      const out: NestedArray[] = [];
      for (let i = 0; i < this.shape[d]; i++) out.push(build(d + 1, off + i * stride));
      return out;
    };
    return build(0, 0);
  }

  /** A copy of the values as a plain number array (flat, row-major). */
  toArray(): number[] {
    return Array.from(this.storage);
  }

  toString(): string {
    const fmt = (v: number) =>
      this.dtype === "float32" ? (Number.isInteger(v) ? `${v}.` : v.toFixed(4)) : String(v);
    const body = (d: number, off: number): string => {
      if (this.ndim === 0) return fmt(this.storage[0]);
      const stride = numelOf(this.shape.slice(d + 1));
      const parts: string[] = [];
      for (let i = 0; i < this.shape[d]; i++) {
        parts.push(d === this.ndim - 1 ? fmt(this.storage[off + i]) : body(d + 1, off + i * stride));
      }
      return `[${parts.join(d === this.ndim - 1 ? ", " : `,\n${" ".repeat(8 + d)}`)}]`;
    };
    const extra = this.dtype === "float32" ? "" : `, dtype=${this.dtype}`;
    const g = this.requiresGrad ? ", requires_grad=True" : "";
    return `tensor(${body(0, 0)}${extra}${g})`;
  }

  // -- autograd -------------------------------------------------------------------------------

  /** Mark a leaf as needing gradients (in place), like `t.requires_grad = True`. */
  requiresGrad_(on = true): this {
    if (!this.isLeaf) throw new Error("requiresGrad_ applies to leaf tensors only");
    if (on && this.dtype !== "float32") throw new TypeError("only float tensors can require gradients");
    this.requiresGrad = on;
    return this;
  }

  /** Keep `.grad` on this non-leaf tensor after `backward()` (the lecture reads `layer.out.grad`). */
  retainGrad(): this {
    if (this.isLeaf) return this;
    this.retainsGrad = true;
    return this;
  }

  /** A tensor sharing this storage, cut from the graph. */
  detach(): Tensor {
    return new Tensor(this.storage, this.shape, this.dtype, false);
  }

  /** Like PyTorch's `.data`: the same storage, outside autograd, for in-place parameter updates. */
  get data(): Tensor {
    return this.detach();
  }

  /** A copy with its own storage (tracked by autograd). */
  clone(): Tensor {
    const y = allocF32(this.storage.length);
    launch(OPS.clone.forward, this.storage, y);
    const out = new Tensor(y, this.shape, this.dtype);
    return record(out, "clone", [this], (g) => launch(OPS.clone.backward, gradOf(this), g));
  }

  /**
   * Backpropagate from this tensor. With no argument the tensor must hold one element and
   * d(this)/d(this) = 1. Gradients accumulate into `.grad` of every leaf that requires them.
   */
  backward(gradient?: Tensor, opts: { retainGraph?: boolean } = {}): void {
    if (!this.requiresGrad) {
      throw new Error("backward() on a tensor that does not require grad (is any input requiresGrad?)");
    }
    if (gradient === undefined && this.numel() !== 1) {
      throw new Error(
        `backward() without a gradient needs a one-element tensor, got ${shapeStr(this.shape)}`,
      );
    }
    const order = topoOrder(this);
    // Seed d(root)/d(root).
    const seed = gradOf(this);
    if (gradient) launch(accumulate, seed, gradient.storage);
    else launch(addAt, seed, 0, 1);
    for (let i = order.length - 1; i >= 0; i--) {
      const t = order[i];
      if (t.backwardFn && t.grad) {
        t.backwardFn();
        if (anomalyMode && nonFiniteKind(t.grad.storage) === null) {
          for (const p of t.parents) {
            const kind = p.grad ? nonFiniteKind(p.grad.storage) : null;
            if (kind) {
              throw new AnomalyError(
                t.op ?? "op",
                "backward",
                `the backward of ${t.op} produced ${kind} in the gradient of its input ${shapeStr(p.shape)} from a finite gradient`,
              );
            }
          }
        }
      }
    }
    // Interior gradients were scratch space: keep them only where asked (PyTorch semantics).
    for (const t of order) {
      if (!t.isLeaf) {
        if (!t.retainsGrad) t.grad = null;
        if (!opts.retainGraph) {
          t.backwardFn = freedGraph;
          t.parents = [];
        }
      }
    }
  }

  // -- views and copies -----------------------------------------------------------------------

  /** Reshape without copying; one dimension may be -1. */
  view(...shape: number[] | [number[]]): Tensor {
    const dims = (Array.isArray(shape[0]) ? shape[0] : shape) as number[];
    const target = inferShape(dims, this.numel());
    const out = new Tensor(this.storage, target, this.dtype);
    return record(out, "view", [this], (g) => {
      // The input's gradient is g reshaped. When it has none yet and g is scratch (an interior
      // view that keeps no .grad), hand g's buffer down instead of zero-filling a new one and
      // adding: no kernel call, and -0 stays -0 as in PyTorch (every later use adds it to zeros).
      if (this.grad === null && !this.isLeaf && !out.retainsGrad) {
        this.grad = new Tensor(g, this.shape, "float32");
        return;
      }
      launch(OPS.view.backward, gradOf(this), g);
    });
  }
  /** Same as `view` (storage is always contiguous). */
  reshape(...shape: number[] | [number[]]): Tensor {
    return this.view(...shape);
  }
  /** Flatten dimensions from `startDim` on. */
  flatten(startDim = 0): Tensor {
    const d = normDim(startDim, Math.max(this.ndim, 1));
    return this.view([...this.shape.slice(0, d), -1]);
  }
  unsqueeze(dim: number): Tensor {
    const d = normDim(dim, this.ndim + 1);
    const s = this.shape.slice();
    s.splice(d, 0, 1);
    return this.view(s);
  }
  squeeze(dim?: number): Tensor {
    if (dim === undefined) return this.view(this.shape.filter((d) => d !== 1));
    const d = normDim(dim, this.ndim);
    if (this.shape[d] !== 1) return this;
    const s = this.shape.slice();
    s.splice(d, 1);
    return this.view(s);
  }

  /** Swap two dimensions (copies the data). */
  transpose(dim0: number, dim1: number): Tensor {
    const a = normDim(dim0, this.ndim);
    const b = normDim(dim1, this.ndim);
    if (a === b) return this;
    const perm = this.shape.map((_, i) => i);
    perm[a] = b;
    perm[b] = a;
    return this.permute(...perm);
  }
  /** The 2-d transpose. */
  get T(): Tensor {
    if (this.ndim !== 2) throw new RangeError(`.T needs a 2-d tensor, got ${shapeStr(this.shape)}`);
    return this.transpose(0, 1);
  }
  /** Reorder dimensions (copies the data). */
  permute(...perm: number[]): Tensor {
    const nd = this.ndim;
    if (perm.length !== nd) throw new RangeError(`permute needs ${nd} dimensions, got ${perm.length}`);
    const p = perm.map((d) => normDim(d, nd));
    const outShape = p.map((d) => this.shape[d]);
    const src = permuteOffsets(this.shape, p);
    const y = allocF32(this.storage.length);
    // the last dimension kept (attention's (B, T, nh, hs) -> (B, nh, T, hs)): a row table
    const row = nd > 0 ? this.shape[nd - 1] : 1;
    let rows: Int32Array | null = null;
    if (nd > 1 && p[nd - 1] === nd - 1 && row >= 4 && engineAvailable()) {
      rows = allocI32(src.length / row);
      for (let r = 0; r < rows.length; r++) rows[r] = src[r * row] / row;
    }
    launch(OPS.permute.forward, this.storage, src, y, rows, row);
    const out = new Tensor(y, outShape, this.dtype);
    return record(out, "permute", [this], (g) =>
      launch(OPS.permute.backward, g, src, gradOf(this), rows, row),
    );
  }

  /**
   * Rows of this tensor picked by an integer tensor: `C.index(Xb)` is the lecture's `C[Xb]`.
   * (V, ...rest) indexed by (...I) gives (...I, ...rest). Backward scatter-adds, so repeated
   * indices accumulate.
   */
  index(idx: Tensor | number[]): Tensor {
    const ix = idx instanceof Tensor ? idx : tensor(idx, { dtype: "int64" });
    if (ix.dtype === "float32") throw new TypeError("tensors used as indices must be integer (int64)");
    const rows = this.shape[0];
    const row = this.numel() / rows;
    const outShape = [...ix.shape, ...this.shape.slice(1)];
    const checked = allocI32(ix.numel());
    const y = allocF32(checked.length * row);
    launch(OPS.index.forward, this.storage, rows, row, ix.storage, checked, y);
    const out = new Tensor(y, outShape, this.dtype);
    return record(out, "index", [this], (g) => launch(OPS.index.backward, g, row, checked, gradOf(this)));
  }

  /**
   * Pick one element per row: `x.pick(rows, cols)[k] = x[rows[k], cols[k]]`, the lecture's
   * `logprobs[torch.arange(n), Yb]` for a 2-d tensor.
   */
  pick(rows: Tensor, cols: Tensor): Tensor {
    if (this.ndim !== 2) throw new RangeError("pick needs a 2-d tensor");
    const n = rows.numel();
    if (cols.numel() !== n) throw new RangeError("pick needs as many row indices as column indices");
    const [R, K] = this.shape;
    const off = allocI32(n);
    const y = allocF32(n);
    launch(OPS.pick.forward, this.storage, R, K, rows.storage, cols.storage, off, y);
    const out = new Tensor(y, rows.shape, this.dtype);
    return record(out, "pick", [this], (g) => launch(OPS.pick.backward, g, off, gradOf(this)));
  }

  /** Contiguous slice `[start, end)` along dimension 0 (a copy). */
  slice(start: number, end: number = this.shape[0]): Tensor {
    const n0 = this.shape[0];
    const s = Math.max(0, start < 0 ? start + n0 : start);
    const e = Math.min(n0, end < 0 ? end + n0 : end);
    const row = this.numel() / n0;
    const y = allocF32((Math.max(s, e) - s) * row);
    launch(OPS.slice.forward, this.storage, s * row, y);
    const out = new Tensor(y, [Math.max(0, e - s), ...this.shape.slice(1)], this.dtype);
    return record(out, "slice", [this], (g) => launch(OPS.slice.backward, g, s * row, gradOf(this)));
  }

  // -- elementwise binary (broadcasting) ------------------------------------------------------

  add(other: Tensor | number): Tensor {
    return binary(this, other, "add");
  }
  sub(other: Tensor | number): Tensor {
    return binary(this, other, "sub");
  }
  mul(other: Tensor | number): Tensor {
    return binary(this, other, "mul");
  }
  div(other: Tensor | number): Tensor {
    return binary(this, other, "div");
  }
  /** `x ** p`. With a number exponent; a tensor exponent broadcasts too. */
  pow(p: Tensor | number): Tensor {
    return binary(this, p, "pow");
  }
  /** `other - this` (PyTorch `rsub`), handy for `1 - t`. */
  rsub(other: number): Tensor {
    return this.neg().add(other);
  }
  maximum(other: Tensor | number): Tensor {
    return binary(this, other, "maximum");
  }
  minimum(other: Tensor | number): Tensor {
    return binary(this, other, "minimum");
  }

  // comparisons give bool masks (0/1), no gradient
  gt(other: Tensor | number): Tensor {
    return compare(this, other, (a, b) => a > b);
  }
  lt(other: Tensor | number): Tensor {
    return compare(this, other, (a, b) => a < b);
  }
  ge(other: Tensor | number): Tensor {
    return compare(this, other, (a, b) => a >= b);
  }
  le(other: Tensor | number): Tensor {
    return compare(this, other, (a, b) => a <= b);
  }
  eq(other: Tensor | number): Tensor {
    return compare(this, other, (a, b) => a === b);
  }
  ne(other: Tensor | number): Tensor {
    return compare(this, other, (a, b) => a !== b);
  }

  // -- elementwise unary ----------------------------------------------------------------------

  neg(): Tensor {
    return unary(this, "neg");
  }
  exp(): Tensor {
    return unary(this, "exp");
  }
  log(): Tensor {
    return unary(this, "log");
  }
  tanh(): Tensor {
    return unary(this, "tanh");
  }
  sqrt(): Tensor {
    return unary(this, "sqrt");
  }
  abs(): Tensor {
    return unary(this, "abs");
  }
  relu(): Tensor {
    return unary(this, "relu");
  }
  sigmoid(): Tensor {
    return unary(this, "sigmoid");
  }
  /** Cast to float32 (masks and integer tensors), like `.float()`. */
  float(): Tensor {
    const y = allocF32(this.storage.length);
    launch(copy, this.storage, y);
    return new Tensor(y, this.shape, "float32");
  }

  // -- reductions -----------------------------------------------------------------------------

  /** Sum over `dim`, or over everything when `dim` is omitted. */
  sum(dim?: number, opts: ReduceOptions = {}): Tensor {
    return reduceSum(this, dim, opts.keepdim ?? false, 1);
  }
  /** Mean over `dim`, or over everything. */
  mean(dim?: number, opts: ReduceOptions = {}): Tensor {
    const n = dim === undefined ? this.numel() : this.shape[normDim(dim, this.ndim)];
    return reduceSum(this, dim, opts.keepdim ?? false, 1 / n);
  }
  /** Variance over `dim` (all when omitted); unbiased (N - 1) by default, as in PyTorch. */
  var(dim?: number, opts: VarOptions = {}): Tensor {
    return variance(this, dim, opts.keepdim ?? false, opts.unbiased ?? true, false);
  }
  /** Standard deviation: sqrt(var). Where std = 0 the gradient is 0, as PyTorch defines it. */
  std(dim?: number, opts: VarOptions = {}): Tensor {
    return variance(this, dim, opts.keepdim ?? false, opts.unbiased ?? true, true);
  }
  /** Maximum over `dim` with the index of the first maximum, like `torch.max(x, dim)`. */
  max(dim: number, opts?: ReduceOptions): { values: Tensor; indices: Tensor };
  /** Maximum of all elements. */
  max(): Tensor;
  max(dim?: number, opts: ReduceOptions = {}): Tensor | { values: Tensor; indices: Tensor } {
    if (dim === undefined) return maxAll(this);
    return maxDim(this, normDim(dim, this.ndim), opts.keepdim ?? false);
  }
  min(): Tensor {
    return this.neg().max().neg();
  }
  /** Index of the maximum over `dim` (of the flattened tensor when omitted). */
  argmax(dim?: number, opts: ReduceOptions = {}): Tensor {
    if (dim === undefined) return maxDim(this.view(-1), 0, false).indices;
    return maxDim(this, normDim(dim, this.ndim), opts.keepdim ?? false).indices;
  }

  // -- linear algebra and the fused ops --------------------------------------------------------

  /** Matrix product: (m,k) @ (k,n) -> (m,n); a 1-d right operand is treated as a column. */
  matmul(other: Tensor): Tensor {
    return matmul(this, other);
  }
  softmax(dim = -1): Tensor {
    return softmax(this, dim, false);
  }
  logSoftmax(dim = -1): Tensor {
    return softmax(this, dim, true);
  }

  // -- in place (outside autograd) -------------------------------------------------------------

  private checkInPlace(): void {
    if (this.requiresGrad && gradEnabled) {
      throw new Error(
        "a leaf tensor that requires grad is being used in an in-place operation; wrap it in noGrad() or use .data",
      );
    }
  }
  /** `this += alpha * other` in place. */
  add_(other: Tensor | number, alpha = 1): this {
    this.checkInPlace();
    if (alpha === 1) inPlace(this, other, (a, b) => a + b);
    else {
      // like `p.data += -lr * p.grad`: the product is a float32 tensor before the add
      const k = Math.fround(alpha);
      inPlace(this, other, (a, b) => a + Math.fround(k * b));
    }
    return this;
  }
  sub_(other: Tensor | number): this {
    return this.add_(other, -1);
  }
  mul_(other: Tensor | number): this {
    this.checkInPlace();
    inPlace(this, other, (a, b) => a * b);
    return this;
  }
  div_(other: Tensor | number): this {
    this.checkInPlace();
    inPlace(this, other, (a, b) => a / b);
    return this;
  }
  fill_(v: number): this {
    this.checkInPlace();
    launch(fill, this.storage, v);
    return this;
  }
  zero_(): this {
    return this.fill_(0);
  }
  /** Copy values from `src` (broadcasting) into this storage. */
  copy_(src: Tensor): this {
    this.checkInPlace();
    inPlace(this, src, (_a, b) => b);
    return this;
  }
}

// ---------------------------------------------------------------------------------------------
// Autograd plumbing

function freedGraph(): void {
  throw new Error(
    "backward through a graph a second time: pass { retainGraph: true } to the first backward()",
  );
}

/**
 * A tensor that looks like an op's output after `backward()` freed its graph (requiresGrad, not a
 * leaf, no parents), over the given storage.
 */
export function spentResult(storage: Float32Array, shape: Shape, op: string): Tensor {
  const t = new Tensor(storage, shape, "float32", true);
  t.op = op;
  t.backwardFn = freedGraph;
  return t;
}

/** The gradient storage of `t`, allocated (zeros) on first use; a replay zeroes it there again. */
export function gradOf(t: Tensor): Float32Array {
  if (!t.grad) t.grad = new Tensor(zerosF32(t.storage.length), t.shape, "float32");
  return t.grad.storage;
}

/** gradOf(t) when `t` requires a gradient, else null (absent `t` too: a backward kernel skips a null output). */
export function gradIfWanted(t: Tensor | null | undefined): Float32Array | null {
  return t?.requiresGrad ? gradOf(t) : null;
}

/**
 * The gradient storage of `t` for a kernel that writes all of it: a fresh one (the first
 * contribution) is allocated without the zero-fill and `acc` is false, so the kernel overwrites
 * instead of adding to zeros (the same values: x + 0 = x for every sum a kernel computes from
 * zero). Otherwise t's gradient, to add into.
 */
export function gradInto(t: Tensor): { buf: Float32Array; acc: boolean } {
  if (t.grad) return { buf: t.grad.storage, acc: true };
  t.grad = new Tensor(allocF32(t.storage.length), t.shape, "float32");
  return { buf: t.grad.storage, acc: false };
}

/**
 * Attach `backward` to `out` if gradients are on and a parent requires them. The closure gets
 * `out.grad`'s storage and accumulates into the parents' `.grad` -- through `launch`ed kernels, so
 * that a captured step replays it (see engine.ts).
 */
export function record(
  out: Tensor,
  op: string,
  parents: Tensor[],
  backward: (g: Float32Array) => void,
): Tensor {
  if (isCapturing()) checkLaunched(op, out.storage, parents);
  if (!gradEnabled) return out;
  let needs = false;
  for (const p of parents) needs ||= p.requiresGrad;
  if (!needs) return out;
  out.requiresGrad = true;
  out.op = op;
  out.parents = parents;
  out.backwardFn = () => backward(out.grad!.storage);
  if (anomalyMode) {
    const kind = nonFiniteKind(out.storage);
    const bad = parents.find((p) => nonFiniteKind(p.storage) !== null);
    if (kind && !bad) {
      throw new AnomalyError(
        op,
        "forward",
        `${op} produced ${kind} in its output from finite inputs ${parents.map((p) => shapeStr(p.shape)).join(", ")}`,
      );
    }
    if (bad?.isLeaf) {
      throw new AnomalyError(
        op,
        "forward",
        `${op} received a non-finite input ${bad.name ?? shapeStr(bad.shape)}`,
      );
    }
  }
  return out;
}

/** Depth-first post-order from `root` (iterative: deep graphs must not overflow the JS stack). */
function topoOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  const stack: [Tensor, number][] = [[root, 0]];
  seen.add(root);
  while (stack.length) {
    const top = stack[stack.length - 1];
    const [t, i] = top;
    if (i < t.parents.length) {
      top[1]++;
      const p = t.parents[i];
      if (p.requiresGrad && !seen.has(p)) {
        seen.add(p);
        stack.push([p, 0]);
      }
    } else {
      order.push(t);
      stack.pop();
    }
  }
  return order;
}

// ---------------------------------------------------------------------------------------------
// The kernels of the ops: the one place where each op's forward and backward math lives.
// Row-major, contiguous; backward kernels accumulate (`gx += ...`). B batch, V classes.

type F32 = Float32Array;

function copy(x: F32, y: F32): void {
  y.set(x);
}
function fill(x: F32, v: number): void {
  x.fill(v);
}
/** gx += g */
function accumulate(gx: F32, g: F32): void {
  if (accumulateArena(gx, g)) return;
  for (let i = 0; i < gx.length; i++) gx[i] += g[i];
}
/** y = tanh(x) over rows (rows, C) that repeat: each distinct row once on a plan's arena. */
function tanhRows(x: F32, y: F32, rows: number, C: number): void {
  if (kernels() === arenaKernels && tanhRowsArena(x, y, rows, C)) return;
  kernels().tanhForward(x, y);
}
function addAt(x: F32, i: number, v: number): void {
  x[i] += v;
}

/**
 * Broadcasting elementwise binary ops: y_i = f(x[oa_i], z[ob_i]), with oa/ob the flat input offset
 * of every output element (identity when shapes agree). Backward computes each input's gradient as
 * PyTorch's formula does, one float32 rounding per op in the formula (`grad * other`, not a fused
 * multiply-add), into ta/tb: buffers of the OUTPUT's size, indexed like y, that the rule adds to
 * (+=). For an input of the output's shape they are its `.grad` itself; for a broadcast input they
 * are zeroed scratch that `sumToShape` then reduces as the forward `sum` op does (float64, in
 * row-major order, one rounding) and adds to its `.grad` -- PyTorch's `grad.sum_to_size(shape)`.
 * So a gradient equals, bit for bit, the same formula written with this library's forward ops
 * (makemore part 4's manual backward pass). Backward gets null for an input that needs no gradient.
 */
type BinaryForward = (x: F32, oa: Int32Array, z: F32, ob: Int32Array, y: F32) => void;
type BinaryBackward = (
  x: F32,
  oa: Int32Array,
  z: F32,
  ob: Int32Array,
  y: F32,
  g: F32,
  ta: F32 | null,
  tb: F32 | null,
) => void;
type BinaryOp = "add" | "sub" | "mul" | "div" | "pow" | "maximum" | "minimum";

const fr = Math.fround;

/** a ** b as the forward `pow` computes it (float64, then rounded to float32 on store). */
function powF32(a: number, b: number): number {
  return fr(b === 2 ? a * a : a ** b);
}

// (an operand as long as the output is not broadcast -- storage length = numel -- has the offsets
// 0, 1, 2, ...: on a plan's arena the SIMD kernels compute the same float32 sums and products)
/** Scratch for the softmax kernel's exponentials (within one call only; grows to the longest row). */
let softmaxExp = new Float64Array(64);

const BINARY = {
  add: {
    forward: (x, oa, z, ob, y) => {
      if (x.length === y.length && z.length === y.length && elementwiseArena("add", x, z, y)) return;
      // (B, T, C) + (T, C): one SIMD add per block of z's length (the same float32 sums)
      if (x.length === y.length && tiledOffsets.has(ob) && addTiledArena(x, z, y)) return;
      for (let i = 0; i < y.length; i++) y[i] = x[oa[i]] + z[ob[i]];
    },
    backward: (_x, _oa, _z, _ob, _y, g, ta, tb) => {
      if (ta) accumulate(ta, g);
      if (tb) accumulate(tb, g);
    },
  },
  sub: {
    forward: (x, oa, z, ob, y) => {
      for (let i = 0; i < y.length; i++) y[i] = x[oa[i]] - z[ob[i]];
    },
    backward: (_x, _oa, _z, _ob, _y, g, ta, tb) => {
      if (ta) accumulate(ta, g);
      if (tb) for (let i = 0; i < g.length; i++) tb[i] -= g[i];
    },
  },
  // d(ab)/da = b: grad * other
  mul: {
    forward: (x, oa, z, ob, y) => {
      if (x.length === y.length && z.length === y.length && elementwiseArena("mul", x, z, y)) return;
      for (let i = 0; i < y.length; i++) y[i] = x[oa[i]] * z[ob[i]];
    },
    backward: (x, oa, z, ob, _y, g, ta, tb) => {
      // same-shape operands on a plan's arena: SIMD mul then add (the same two roundings)
      if (ta && !(z.length === g.length && mulAccumulateArena(ta, g, z)))
        for (let i = 0; i < g.length; i++) ta[i] += fr(g[i] * z[ob[i]]);
      if (tb && !(x.length === g.length && mulAccumulateArena(tb, g, x)))
        for (let i = 0; i < g.length; i++) tb[i] += fr(g[i] * x[oa[i]]);
    },
  },
  // d(a/b)/da = 1/b: grad / other ; d(a/b)/db = -a/b^2: -grad * ((self / other) / other)
  div: {
    forward: (x, oa, z, ob, y) => {
      for (let i = 0; i < y.length; i++) y[i] = x[oa[i]] / z[ob[i]];
    },
    backward: (x, oa, z, ob, _y, g, ta, tb) => {
      if (ta) for (let i = 0; i < g.length; i++) ta[i] += fr(g[i] / z[ob[i]]);
      if (tb) {
        for (let i = 0; i < g.length; i++) {
          const zb = z[ob[i]];
          tb[i] += fr(-g[i] * fr(fr(x[oa[i]] / zb) / zb));
        }
      }
    },
  },
  // d(a^b)/da = b a^(b-1): grad * (exponent * self.pow(exponent - 1)), zero for exponent 0;
  // d(a^b)/db = a^b ln a: grad * (result * self.log()), PyTorch masks a = 0 to 0 there
  pow: {
    forward: (x, oa, z, ob, y) => {
      for (let i = 0; i < y.length; i++) y[i] = powF32(x[oa[i]], z[ob[i]]);
    },
    backward: (x, oa, z, ob, y, g, ta, tb) => {
      for (let i = 0; i < g.length; i++) {
        const a = x[oa[i]];
        const b = z[ob[i]];
        if (ta && b !== 0) ta[i] += fr(g[i] * fr(b * powF32(a, b - 1)));
        if (tb && a !== 0) tb[i] += fr(g[i] * fr(y[i] * fr(Math.log(a))));
      }
    },
  },
  // the gradient goes to the larger input; a tie splits it evenly, as PyTorch does
  maximum: {
    forward: (x, oa, z, ob, y) => {
      for (let i = 0; i < y.length; i++) {
        const a = x[oa[i]];
        const b = z[ob[i]];
        y[i] = a >= b ? a : b;
      }
    },
    backward: (x, oa, z, ob, _y, g, ta, tb) => {
      for (let i = 0; i < g.length; i++) {
        const a = x[oa[i]];
        const b = z[ob[i]];
        if (ta) ta[i] += a > b ? g[i] : a === b ? g[i] / 2 : 0;
        if (tb) tb[i] += b > a ? g[i] : a === b ? g[i] / 2 : 0;
      }
    },
  },
  minimum: {
    forward: (x, oa, z, ob, y) => {
      for (let i = 0; i < y.length; i++) {
        const a = x[oa[i]];
        const b = z[ob[i]];
        y[i] = a <= b ? a : b;
      }
    },
    backward: (x, oa, z, ob, _y, g, ta, tb) => {
      for (let i = 0; i < g.length; i++) {
        const a = x[oa[i]];
        const b = z[ob[i]];
        if (ta) ta[i] += a < b ? g[i] : a === b ? g[i] / 2 : 0;
        if (tb) tb[i] += b < a ? g[i] : a === b ? g[i] / 2 : 0;
      }
    },
  },
} satisfies Record<BinaryOp, { forward: BinaryForward; backward: BinaryBackward }>;

/** Elementwise unary ops: y = f(x); backward gx += dL/dx given x, y = f(x) and upstream g. */
type UnaryOp = "neg" | "exp" | "log" | "tanh" | "sqrt" | "abs" | "relu" | "sigmoid";

const UNARY = {
  neg: {
    forward: (x: F32, y: F32) => {
      for (let i = 0; i < y.length; i++) y[i] = -x[i];
    },
    backward: (_x: F32, _y: F32, g: F32, gx: F32) => {
      for (let i = 0; i < g.length; i++) gx[i] += -g[i];
    },
  },
  // d e^x = e^x
  exp: {
    forward: (x: F32, y: F32) => {
      for (let i = 0; i < y.length; i++) y[i] = Math.exp(x[i]);
    },
    backward: (_x: F32, y: F32, g: F32, gx: F32) => {
      for (let i = 0; i < g.length; i++) gx[i] += g[i] * y[i];
    },
  },
  // d ln x = 1/x
  log: {
    forward: (x: F32, y: F32) => {
      for (let i = 0; i < y.length; i++) y[i] = Math.log(x[i]);
    },
    backward: (x: F32, _y: F32, g: F32, gx: F32) => {
      for (let i = 0; i < g.length; i++) gx[i] += g[i] / x[i];
    },
  },
  // d tanh(x) = (1 - y^2); saturated units (|y| -> 1) pass no gradient
  tanh: {
    forward: (x: F32, y: F32) => kernels().tanhForward(x, y),
    backward: (_x: F32, y: F32, g: F32, gx: F32, acc = true) => kernels().tanhBackward(y, g, gx, acc),
  },
  // d sqrt(x) = 1 / (2 sqrt(x))
  sqrt: {
    forward: (x: F32, y: F32) => {
      for (let i = 0; i < y.length; i++) y[i] = Math.sqrt(x[i]);
    },
    backward: (_x: F32, y: F32, g: F32, gx: F32) => {
      for (let i = 0; i < g.length; i++) gx[i] += g[i] / (2 * y[i]);
    },
  },
  // d |x| = sign(x), 0 at 0 (PyTorch)
  abs: {
    forward: (x: F32, y: F32) => {
      for (let i = 0; i < y.length; i++) y[i] = Math.abs(x[i]);
    },
    backward: (x: F32, _y: F32, g: F32, gx: F32) => {
      for (let i = 0; i < g.length; i++) gx[i] += x[i] > 0 ? g[i] : x[i] < 0 ? -g[i] : 0;
    },
  },
  relu: {
    forward: (x: F32, y: F32) => {
      if (reluForwardArena(x, y)) return;
      for (let i = 0; i < y.length; i++) y[i] = x[i] > 0 ? x[i] : 0;
    },
    backward: (x: F32, _y: F32, g: F32, gx: F32) => {
      for (let i = 0; i < g.length; i++) gx[i] += x[i] > 0 ? g[i] : 0;
    },
  },
  // d sigmoid = y (1 - y)
  // computed in float32 like PyTorch: exp(-x) overflows to inf below x = -88.72 and y is exactly 0;
  // in float32 lanes on the arena module where it runs (eager ops too), else with a correctly
  // rounded exp
  sigmoid: {
    forward: (x: F32, y: F32) => {
      if (sigmoidForwardArena(x, y)) return;
      for (let i = 0; i < y.length; i++)
        y[i] = Math.fround(1 / Math.fround(1 + Math.fround(Math.exp(-x[i]))));
    },
    backward: (_x: F32, y: F32, g: F32, gx: F32) => {
      for (let i = 0; i < g.length; i++) gx[i] += g[i] * y[i] * (1 - y[i]);
    },
  },
} satisfies OpTable<UnaryOp>;

/** Check integer indices against `size` (negative ones count from the end) into `ix`. */
function checkIndices(idx: F32, size: number, ix: Int32Array): void {
  for (let r = 0; r < ix.length; r++) {
    const i = idx[r];
    if (!(i >= 0 && i < size) && !(i < 0 && i >= -size)) {
      throw new RangeError(`index ${i} is out of bounds for dimension 0 with size ${size}`);
    }
    ix[r] = i < 0 ? i + size : i;
  }
}

/** Ops other than the elementwise families; see each op below for shapes and math. */
type CoreOp =
  | "clone"
  | "view"
  | "permute"
  | "index"
  | "pick"
  | "slice"
  | "sum"
  | "var"
  | "maxAll"
  | "maxDim"
  | "matmul"
  | "softmax"
  | "crossEntropy"
  | "cat"
  | "where";

const OPS = {
  clone: { forward: copy, backward: accumulate },
  view: { forward: "shares-storage", backward: accumulate },
  // y[i] = x[src[i]]
  // y[i] = x[src[i]]; when the last dimension stays last, whole rows of `row` floats move:
  // rows[r] is the source row of output row r (the arena module's row gather / scatter-add on a
  // plan's arena: the same copies and, each gradient element receiving one value, the same sums)
  permute: {
    forward: (x: F32, src: Int32Array, y: F32, rows: Int32Array | null, row: number) => {
      if (rows && gatherArena(x, row, rows, y)) return;
      for (let i = 0; i < y.length; i++) y[i] = x[src[i]];
    },
    backward: (g: F32, src: Int32Array, gx: F32, rows: Int32Array | null, row: number) => {
      if (rows && scatterAddArena(g, row, rows, gx)) return;
      for (let i = 0; i < g.length; i++) gx[src[i]] += g[i];
    },
  },
  // rows of x (V, row) picked by integer indices; backward scatter-adds (repeats accumulate)
  index: {
    forward: (x: F32, rows: number, row: number, idx: F32, ix: Int32Array, y: F32) => {
      checkIndices(idx, rows, ix);
      if (gatherArena(x, row, ix, y)) return;
      for (let r = 0; r < ix.length; r++) {
        const src = ix[r] * row;
        const dst = r * row;
        for (let c = 0; c < row; c++) y[dst + c] = x[src + c];
      }
    },
    backward: (g: F32, row: number, ix: Int32Array, gx: F32) => {
      if (scatterAddArena(g, row, ix, gx)) return;
      for (let r = 0; r < ix.length; r++) {
        const dst = ix[r] * row;
        const src = r * row;
        for (let c = 0; c < row; c++) gx[dst + c] += g[src + c];
      }
    },
  },
  // y[k] = x[rows[k], cols[k]] of x (R, K)
  pick: {
    forward: (x: F32, R: number, K: number, rows: F32, cols: F32, off: Int32Array, y: F32) => {
      for (let i = 0; i < off.length; i++) {
        const r = rows[i];
        const c = cols[i];
        if (!(r >= 0 && r < R && c >= 0 && c < K)) throw new RangeError(`index (${r}, ${c}) out of bounds`);
        off[i] = r * K + c;
        y[i] = x[off[i]];
      }
    },
    backward: (g: F32, off: Int32Array, gx: F32) => {
      for (let i = 0; i < off.length; i++) gx[off[i]] += g[i];
    },
  },
  // y = x[start .. start + y.length)
  slice: {
    forward: (x: F32, start: number, y: F32) => y.set(x.subarray(start, start + y.length)),
    backward: (g: F32, start: number, gx: F32) => {
      for (let i = 0; i < g.length; i++) gx[start + i] += g[i];
    },
  },
  // y = scale * sum over the middle axis of x (outer, n, inner), accumulated in float64
  // (sum: scale 1, mean: 1/N); d(sum)/dx_i = 1, so every element gets its slice's gradient
  sum: {
    forward: (x: F32, outer: number, n: number, inner: number, scale: number, y: F32) => {
      const acc = new Float64Array(inner);
      for (let o = 0; o < outer; o++) {
        acc.fill(0);
        const base = o * n * inner;
        for (let r = 0; r < n; r++) {
          const row = base + r * inner;
          for (let c = 0; c < inner; c++) acc[c] += x[row + c];
        }
        for (let c = 0; c < inner; c++) y[o * inner + c] = acc[c] * scale;
      }
    },
    backward: (g: F32, outer: number, n: number, inner: number, scale: number, gx: F32) => {
      for (let o = 0; o < outer; o++) {
        for (let r = 0; r < n; r++) {
          const row = o * n * inner + r * inner;
          for (let c = 0; c < inner; c++) gx[row + c] += g[o * inner + c] * scale;
        }
      }
    },
  },
  // var = sum (x - mean)^2 / denom, denom = N - 1 when unbiased; std = sqrt(var).
  // d var / dx_i = 2 (x_i - mean) / denom    (the mean's own dependence cancels)
  // d std / dx_i = (x_i - mean) / (denom std), defined as 0 where std = 0.
  var: {
    forward: (
      x: F32,
      outer: number,
      n: number,
      inner: number,
      denom: number,
      isStd: boolean,
      mean: Float64Array,
      y: F32,
    ) => {
      for (let o = 0; o < outer; o++) {
        const base = o * n * inner;
        for (let c = 0; c < inner; c++) {
          let s = 0;
          for (let r = 0; r < n; r++) s += x[base + r * inner + c];
          const m = s / n;
          let ss = 0;
          for (let r = 0; r < n; r++) {
            const dlt = x[base + r * inner + c] - m;
            ss += dlt * dlt;
          }
          mean[o * inner + c] = m;
          const v = ss / denom;
          y[o * inner + c] = isStd ? Math.sqrt(v) : v;
        }
      }
    },
    backward: (
      x: F32,
      outer: number,
      n: number,
      inner: number,
      denom: number,
      isStd: boolean,
      mean: Float64Array,
      y: F32,
      g: F32,
      gx: F32,
    ) => {
      for (let o = 0; o < outer; o++) {
        const base = o * n * inner;
        for (let c = 0; c < inner; c++) {
          const j = o * inner + c;
          const k = isStd ? (y[j] === 0 ? 0 : g[j] / (denom * y[j])) : (2 * g[j]) / denom;
          if (k === 0) continue;
          const m = mean[j];
          for (let r = 0; r < n; r++) gx[base + r * inner + c] += k * (x[base + r * inner + c] - m);
        }
      }
    },
  },
  // the maximum of all elements (NaN wins); PyTorch splits the gradient evenly among tied maxima
  maxAll: {
    forward: (x: F32, best: Int32Array, y: F32) => {
      let b = 0;
      for (let i = 1; i < x.length; i++) if (x[i] > x[b] || Number.isNaN(x[i])) b = i;
      best[0] = b;
      y[0] = x[b];
    },
    backward: (x: F32, best: Int32Array, g: F32, gx: F32) => {
      const m = x[best[0]];
      let ties = 0;
      for (let i = 0; i < x.length; i++) if (x[i] === m) ties++;
      if (ties <= 1) gx[best[0]] += g[0];
      else for (let i = 0; i < x.length; i++) if (x[i] === m) gx[i] += g[0] / ties;
    },
  },
  // the maximum over the middle axis of (outer, n, inner) and the index of the first one
  maxDim: {
    forward: (x: F32, outer: number, n: number, inner: number, y: F32, arg: F32) => {
      for (let o = 0; o < outer; o++) {
        for (let c = 0; c < inner; c++) {
          const base = o * n * inner + c;
          let bi = 0;
          let bv = x[base];
          for (let r = 1; r < n; r++) {
            const v = x[base + r * inner];
            if (v > bv || (Number.isNaN(v) && !Number.isNaN(bv))) {
              bv = v;
              bi = r;
            }
          }
          y[o * inner + c] = bv;
          arg[o * inner + c] = bi;
        }
      }
    },
    backward: (g: F32, outer: number, n: number, inner: number, arg: F32, gx: F32) => {
      for (let o = 0; o < outer; o++) {
        for (let c = 0; c < inner; c++)
          gx[o * n * inner + arg[o * inner + c] * inner + c] += g[o * inner + c];
      }
    },
  },
  // (m,k) @ (k,n) -> (m,n); dA = G @ B^T : (m,n) @ (n,k) ; dB = A^T @ G : (k,m) @ (m,n)
  matmul: {
    forward: (a: F32, b: F32, y: F32, m: number, n: number, k: number) =>
      kernels().gemm(false, false, m, n, k, a, b, y, false),
    backward: (a: F32, b: F32, g: F32, ga: F32 | null, gb: F32 | null, m: number, n: number, k: number) => {
      if (ga) kernels().gemm(false, true, m, k, n, g, b, ga, true);
      if (gb) kernels().gemm(true, false, k, n, m, a, g, gb, true);
    },
  },
  // softmax over the middle axis: y_i = exp(x_i - max) / sum_j exp(x_j - max), and log-softmax
  // y_i = x_i - max - log sum_j exp(x_j - max).
  // Backward: softmax dx = y (g - sum(g y)); log-softmax dx = g - softmax * sum(g).
  softmax: {
    forward: (x: F32, outer: number, n: number, inner: number, log: boolean, y: F32) => {
      for (let o = 0; o < outer; o++) {
        for (let c = 0; c < inner; c++) {
          const base = o * n * inner + c;
          let mx = Number.NEGATIVE_INFINITY;
          for (let r = 0; r < n; r++) mx = Math.max(mx, x[base + r * inner]);
          // each exp once (float64, kept for the division: the same values as recomputing it)
          if (softmaxExp.length < n) softmaxExp = new Float64Array(n);
          const e = softmaxExp;
          let s = 0;
          for (let r = 0; r < n; r++) s += e[r] = Math.exp(x[base + r * inner] - mx);
          if (log) {
            const lse = Math.log(s);
            for (let r = 0; r < n; r++) y[base + r * inner] = x[base + r * inner] - mx - lse;
          } else {
            for (let r = 0; r < n; r++) y[base + r * inner] = e[r] / s;
          }
        }
      }
    },
    backward: (y: F32, outer: number, n: number, inner: number, log: boolean, g: F32, gx: F32) => {
      for (let o = 0; o < outer; o++) {
        for (let c = 0; c < inner; c++) {
          const base = o * n * inner + c;
          if (log) {
            let sg = 0;
            for (let r = 0; r < n; r++) sg += g[base + r * inner];
            for (let r = 0; r < n; r++) {
              const i = base + r * inner;
              gx[i] += g[i] - Math.exp(y[i]) * sg;
            }
          } else {
            let sgy = 0;
            for (let r = 0; r < n; r++) sgy += g[base + r * inner] * y[base + r * inner];
            for (let r = 0; r < n; r++) {
              const i = base + r * inner;
              gx[i] += y[i] * (g[i] - sgy);
            }
          }
        }
      }
    },
  },
  // loss = mean_b [ logsumexp(x_b) - x_b[t_b] ] ; d loss / d x_bv = (softmax(x_b)_v - [v = t_b]) / B
  crossEntropy: {
    forward: (logits: F32, B: number, V: number, targets: F32, t: Int32Array, probs: F32, y: F32) => {
      for (let b = 0; b < B; b++) {
        const tb = targets[b];
        if (!(tb >= 0 && tb < V))
          throw new RangeError(`crossEntropy: target ${tb} out of range for ${V} classes`);
        t[b] = tb;
      }
      y[0] = kernels().crossEntropyForward(logits, t, B, V, probs) / B;
    },
    backward: (probs: F32, t: Int32Array, B: number, V: number, g: F32, gx: F32) =>
      kernels().crossEntropyBackward(probs, t, B, V, g[0] / B, gx),
  },
  // one input's block of every outer row: y[o, offset : offset + chunk] = x[o, :]
  cat: {
    forward: (x: F32, outer: number, chunk: number, rowOut: number, offset: number, y: F32) => {
      if (copyRowsArena(x, 0, chunk, y, offset, rowOut, chunk, outer)) return;
      for (let o = 0; o < outer; o++) y.set(x.subarray(o * chunk, (o + 1) * chunk), o * rowOut + offset);
    },
    backward: (g: F32, outer: number, chunk: number, rowOut: number, offset: number, gx: F32) => {
      if (addRowsArena(g, offset, rowOut, gx, 0, chunk, chunk, outer)) return;
      for (let o = 0; o < outer; o++) {
        for (let i = 0; i < chunk; i++) gx[o * chunk + i] += g[o * rowOut + offset + i];
      }
    },
  },
  // y = cond ? a : b (broadcast offsets oc, oa, ob); the gradient flows to the chosen side only
  where: {
    forward: (c: F32, oc: Int32Array, a: F32, oa: Int32Array, b: F32, ob: Int32Array, y: F32) => {
      for (let i = 0; i < y.length; i++) y[i] = c[oc[i]] !== 0 ? a[oa[i]] : b[ob[i]];
    },
    backward: (
      c: F32,
      oc: Int32Array,
      oa: Int32Array,
      ob: Int32Array,
      g: F32,
      ga: F32 | null,
      gb: F32 | null,
    ) => {
      for (let i = 0; i < g.length; i++) {
        if (c[oc[i]] !== 0) {
          if (ga) ga[oa[i]] += g[i];
        } else if (gb) gb[ob[i]] += g[i];
      }
    },
  },
} satisfies OpTable<CoreOp>;

// ---------------------------------------------------------------------------------------------
// Elementwise ops

function binary(a: Tensor, bIn: Tensor | number, op: BinaryOp): Tensor {
  // A scalar right operand meets a float32 tensor as a float32 (PyTorch's type promotion) and gets
  // no gradient: a one-element constant.
  const bt = typeof bIn === "number" ? constant(bIn) : bIn;
  const dtype =
    typeof bIn === "number"
      ? floatOrInt(a.dtype, bIn)
      : a.dtype === "float32" || bt.dtype === "float32"
        ? "float32"
        : a.dtype;
  const shape = typeof bIn === "number" ? a.shape : broadcastShapes(a.shape, bt.shape);
  const oa = broadcastOffsets(a.shape, shape);
  const ob = broadcastOffsets(bt.shape, shape);
  const y = allocF32(oa.length);
  const rule = BINARY[op];
  launch(rule.forward, a.storage, oa, bt.storage, ob, y);
  const out = new Tensor(y, shape, dtype);
  return record(out, op, [a, bt], (g) => {
    const ga = gradIfWanted(a);
    const gb = gradIfWanted(bt);
    // a broadcast input's gradient is summed to its shape after the rule (see BINARY); add's rule
    // would copy g into zeroed scratch (0 + g = g), so g itself is summed
    const direct = op === "add";
    const ta = ga && ga.length !== g.length ? (direct ? null : zerosF32(g.length)) : ga;
    const tb = gb && gb.length !== g.length ? (direct ? null : zerosF32(g.length)) : gb;
    if (ta || tb) launch(rule.backward, a.storage, oa, bt.storage, ob, y, g, ta, tb);
    if (ga && ta !== ga) launch(sumToShape, (ta ?? g) as F32, oa, ga);
    if (gb && tb !== gb) launch(sumToShape, (tb ?? g) as F32, ob, gb);
  });
}

/**
 * gx += t summed to gx's shape: t holds one value per output element, o the flat offset each
 * came from. Sums in float64 in row-major order and rounds once, as the forward `sum` op does, so
 * `(a * b).sum(0)` written by hand equals the gradient autograd gives a (1, H) factor.
 */
function sumToShape(t: F32, o: Int32Array, gx: F32): void {
  const L = gx.length;
  if (sumScratch.length < L) sumScratch = new Float64Array(L);
  const acc = sumScratch;
  acc.fill(0, 0, L);
  if (tiledOffsets.has(o) && t.length % L === 0) {
    // o[i] = i mod L: the same additions in the same order, over contiguous blocks
    for (let base = 0; base < t.length; base += L) for (let j = 0; j < L; j++) acc[j] += t[base + j];
  } else {
    for (let i = 0; i < t.length; i++) acc[o[i]] += t[i];
  }
  for (let j = 0; j < L; j++) gx[j] += fr(acc[j]);
}
/** sumToShape's float64 accumulators (one call at a time; grows to the largest gradient). */
let sumScratch = new Float64Array(64);

/** A one-element float32 constant (a scalar operand). */
function constant(v: number): Tensor {
  const s = allocF32(1);
  launch(fill, s, v);
  return new Tensor(s, [], "float32");
}

function floatOrInt(dtype: DType, scalar: number): DType {
  return dtype === "float32" || !Number.isInteger(scalar) ? "float32" : dtype;
}

function compareKernel(
  x: F32,
  oa: Int32Array,
  z: F32,
  ob: Int32Array,
  y: F32,
  f: (a: number, b: number) => boolean,
): void {
  for (let i = 0; i < y.length; i++) y[i] = f(x[oa[i]], z[ob[i]]) ? 1 : 0;
}

function compare(a: Tensor, bIn: Tensor | number, f: (a: number, b: number) => boolean): Tensor {
  const b = typeof bIn === "number" ? constant(bIn) : bIn;
  const shape = broadcastShapes(a.shape, b.shape);
  const oa = broadcastOffsets(a.shape, shape);
  const ob = broadcastOffsets(b.shape, shape);
  const y = allocF32(oa.length);
  launch(compareKernel, a.storage, oa, b.storage, ob, y, f);
  return new Tensor(y, shape, "bool");
}

function inPlaceKernel(x: F32, z: F32, ob: Int32Array, f: (a: number, b: number) => number): void {
  for (let i = 0; i < x.length; i++) x[i] = f(x[i], z[ob[i]]);
}

function inPlace(t: Tensor, other: Tensor | number, f: (a: number, b: number) => number): void {
  // a Python scalar meets a float32 tensor as a float32 (PyTorch's type promotion)
  const o = typeof other === "number" ? constant(other) : other;
  const shape = broadcastShapes(t.shape, o.shape);
  if (shape.length !== t.ndim || shape.some((d, i) => d !== t.shape[i])) {
    throw new RangeError(`in-place op: ${shapeStr(o.shape)} does not broadcast to ${shapeStr(t.shape)}`);
  }
  launch(inPlaceKernel, t.storage, o.storage, broadcastOffsets(o.shape, t.shape), f);
}

function unary(a: Tensor, op: UnaryOp): Tensor {
  const rule = UNARY[op];
  const y = allocF32(a.storage.length);
  // tanh over rows that repeat (the WaveNet's padded contexts): each distinct row once in a plan
  const C = a.shape[a.ndim - 1] ?? 1;
  const rows = a.storage.length / C;
  if (op === "tanh" && isCapturing() && repeatsPay(repeatedRows(a.storage, rows, C), rows, C, 0))
    launch(tanhRows, a.storage, y, rows, C);
  else launch(rule.forward, a.storage, y);
  const out = new Tensor(y, a.shape, op === "neg" || op === "abs" || op === "relu" ? a.dtype : "float32");
  return record(out, op, [a], (g) => {
    if (op !== "tanh") return launch(rule.backward, a.storage, y, g, gradOf(a));
    // tanh's backward writes every element: a fresh gradient is overwritten, not zero-filled
    const gx = gradInto(a);
    launch(UNARY.tanh.backward, a.storage, y, g, gx.buf, gx.acc);
  });
}

// ---------------------------------------------------------------------------------------------
// Reductions

/** scale * sum over `dim`, or over everything (sum: scale 1, mean: 1/N). Accumulates in float64. */
function reduceSum(a: Tensor, dim: number | undefined, keepdim: boolean, scale: number): Tensor {
  let outer = 1;
  let n = a.storage.length;
  let inner = 1;
  let shape: number[];
  if (dim === undefined) shape = keepdim ? a.shape.map(() => 1) : [];
  else {
    const d = normDim(dim, a.ndim);
    [outer, n, inner] = splitAt(a.shape, d);
    shape = reducedShape(a.shape, d, keepdim);
  }
  const y = allocF32(outer * inner);
  launch(OPS.sum.forward, a.storage, outer, n, inner, scale, y);
  const out = new Tensor(y, shape, a.dtype === "float32" || scale !== 1 ? "float32" : a.dtype);
  return record(out, scale === 1 ? "sum" : "mean", [a], (g) =>
    launch(OPS.sum.backward, g, outer, n, inner, scale, gradOf(a)),
  );
}

/** var or std over `dim` (all when omitted); see OPS.var for the math. */
function variance(
  a: Tensor,
  dim: number | undefined,
  keepdim: boolean,
  unbiased: boolean,
  isStd: boolean,
): Tensor {
  let outer: number;
  let n: number;
  let inner: number;
  let shape: number[];
  if (dim === undefined) {
    [outer, n, inner] = [1, a.storage.length, 1];
    shape = keepdim ? a.shape.map(() => 1) : [];
  } else {
    const d = normDim(dim, a.ndim);
    [outer, n, inner] = splitAt(a.shape, d);
    shape = reducedShape(a.shape, d, keepdim);
  }
  const denom = unbiased ? n - 1 : n;
  const mean = new Float64Array(outer * inner);
  const y = allocF32(outer * inner);
  launch(OPS.var.forward, a.storage, outer, n, inner, denom, isStd, mean, y);
  const out = new Tensor(y, shape, "float32");
  return record(out, isStd ? "std" : "var", [a], (g) =>
    launch(OPS.var.backward, a.storage, outer, n, inner, denom, isStd, mean, y, g, gradOf(a)),
  );
}

function maxAll(a: Tensor): Tensor {
  if (a.storage.length === 0) throw new RangeError("max() of an empty tensor");
  const best = allocI32(1);
  const y = allocF32(1);
  launch(OPS.maxAll.forward, a.storage, best, y);
  const out = new Tensor(y, [], a.dtype);
  return record(out, "max", [a], (g) => launch(OPS.maxAll.backward, a.storage, best, g, gradOf(a)));
}

function maxDim(a: Tensor, d: number, keepdim: boolean): { values: Tensor; indices: Tensor } {
  const [outer, n, inner] = splitAt(a.shape, d);
  if (n === 0) throw new RangeError("max over an empty dimension");
  const y = allocF32(outer * inner);
  const arg = allocF32(outer * inner);
  launch(OPS.maxDim.forward, a.storage, outer, n, inner, y, arg);
  const shape = reducedShape(a.shape, d, keepdim);
  const values = new Tensor(y, shape, a.dtype);
  record(values, "max", [a], (g) => launch(OPS.maxDim.backward, g, outer, n, inner, arg, gradOf(a)));
  return { values, indices: new Tensor(arg, shape, "int64") };
}

// ---------------------------------------------------------------------------------------------
// matmul, softmax, cross-entropy

function matmul(a: Tensor, b: Tensor): Tensor {
  if (a.ndim !== 2 || (b.ndim !== 2 && b.ndim !== 1)) {
    throw new RangeError(
      `matmul supports (m,k) @ (k,n) or (m,k) @ (k,); got ${shapeStr(a.shape)} @ ${shapeStr(b.shape)}`,
    );
  }
  const [m, k] = a.shape;
  const n = b.ndim === 2 ? b.shape[1] : 1;
  if (b.shape[0] !== k) {
    throw new RangeError(`matmul shape mismatch: ${shapeStr(a.shape)} @ ${shapeStr(b.shape)}`);
  }
  const y = allocF32(m * n);
  launch(OPS.matmul.forward, a.storage, b.storage, y, m, n, k);
  const out = new Tensor(y, b.ndim === 2 ? [m, n] : [m], "float32");
  return record(out, "matmul", [a, b], (g) =>
    launch(OPS.matmul.backward, a.storage, b.storage, g, gradIfWanted(a), gradIfWanted(b), m, n, k),
  );
}

function softmax(a: Tensor, dim: number, log: boolean): Tensor {
  const d = normDim(dim, a.ndim);
  const [outer, n, inner] = splitAt(a.shape, d);
  const y = allocF32(a.storage.length);
  launch(OPS.softmax.forward, a.storage, outer, n, inner, log, y);
  const out = new Tensor(y, a.shape, "float32");
  return record(out, log ? "logSoftmax" : "softmax", [a], (g) =>
    launch(OPS.softmax.backward, y, outer, n, inner, log, g, gradOf(a)),
  );
}

/**
 * Fused cross-entropy, mean over the batch: logits (B,V), targets (B,) int64 -> scalar.
 * Equal to logSoftmax + pick + mean (tested), in one pass and numerically safe for huge logits.
 */
export function crossEntropy(logits: Tensor, targets: Tensor): Tensor {
  if (logits.ndim !== 2)
    throw new RangeError(`crossEntropy needs (B, V) logits, got ${shapeStr(logits.shape)}`);
  const [B, V] = logits.shape;
  if (targets.numel() !== B)
    throw new RangeError(`crossEntropy: ${B} rows of logits but ${targets.numel()} targets`);
  if (targets.dtype === "float32")
    throw new TypeError("crossEntropy targets must be integer class indices (int64)");
  const t = allocI32(B);
  const probs = allocF32(B * V);
  const y = allocF32(1);
  launch(OPS.crossEntropy.forward, logits.storage, B, V, targets.storage, t, probs, y);
  const out = new Tensor(y, [], "float32");
  return record(out, "crossEntropy", [logits], (g) =>
    launch(OPS.crossEntropy.backward, probs, t, B, V, g, gradOf(logits)),
  );
}

// ---------------------------------------------------------------------------------------------
// Helpers for views and permutations

function inferShape(dims: number[], numel: number): number[] {
  const out = dims.slice();
  const neg = out.indexOf(-1);
  if (out.indexOf(-1, neg + 1) !== -1) throw new RangeError("only one dimension can be -1");
  if (neg >= 0) {
    const rest = numelOf(out.filter((_, i) => i !== neg));
    if (rest === 0 || numel % rest !== 0)
      throw new RangeError(`shape ${shapeStr(dims)} is invalid for ${numel} elements`);
    out[neg] = numel / rest;
  }
  if (numelOf(out) !== numel)
    throw new RangeError(`shape ${shapeStr(dims)} is invalid for input of size ${numel}`);
  return out;
}

/** For output position i of a permutation, the flat source offset. */
function permuteOffsets(shape: Shape, perm: number[]): Int32Array {
  const nd = shape.length;
  const inStrides = new Array<number>(nd);
  let s = 1;
  for (let i = nd - 1; i >= 0; i--) {
    inStrides[i] = s;
    s *= shape[i];
  }
  const outShape = perm.map((d) => shape[d]);
  const strides = perm.map((d) => inStrides[d]);
  const total = numelOf(shape);
  const offs = new Int32Array(total);
  const idx = new Array<number>(nd).fill(0);
  let off = 0;
  for (let flat = 0; flat < total; flat++) {
    offs[flat] = off;
    for (let d = nd - 1; d >= 0; d--) {
      idx[d]++;
      off += strides[d];
      if (idx[d] < outShape[d]) break;
      off -= strides[d] * outShape[d];
      idx[d] = 0;
    }
  }
  return offs;
}

// ---------------------------------------------------------------------------------------------
// Creation

export interface CreateOptions {
  dtype?: DType;
  requiresGrad?: boolean;
}

function flattenNested(data: NestedArray, shape: number[], out: number[], depth: number): void {
  if (!Array.isArray(data)) {
    if (depth !== shape.length) throw new RangeError("ragged nested array");
    out.push(typeof data === "boolean" ? (data ? 1 : 0) : data);
    return;
  }
  if (depth === shape.length) shape.push(data.length);
  else if (shape[depth] !== data.length) throw new RangeError("ragged nested array");
  for (const d of data) flattenNested(d, shape, out, depth + 1);
}

/**
 * Make a tensor from nested arrays, a number, or a typed array (with an explicit shape):
 * `tensor([[1, 2], [3, 4]])`, `tensor([1, 2, 3], { dtype: "int64" })`.
 */
export function tensor(
  data: NestedArray | Float32Array,
  opts: CreateOptions & { shape?: Shape } = {},
): Tensor {
  if (data instanceof Float32Array) {
    const t = new Tensor(data, opts.shape ?? [data.length], opts.dtype ?? "float32");
    if (opts.requiresGrad) t.requiresGrad_();
    return t;
  }
  const shape: number[] = [];
  const flat: number[] = [];
  flattenNested(data, shape, flat, 0);
  const t = new Tensor(Float32Array.from(flat), opts.shape ?? shape, opts.dtype ?? "float32");
  if (opts.requiresGrad) t.requiresGrad_();
  return t;
}

export function full(shape: Shape, value: number, opts: CreateOptions = {}): Tensor {
  const y = allocF32(numelOf(shape));
  launch(fill, y, value);
  const t = new Tensor(y, shape, opts.dtype ?? "float32");
  if (opts.requiresGrad) t.requiresGrad_();
  return t;
}
export function zeros(shape: Shape, opts: CreateOptions = {}): Tensor {
  return full(shape, 0, opts);
}
export function ones(shape: Shape, opts: CreateOptions = {}): Tensor {
  return full(shape, 1, opts);
}
export function zerosLike(t: Tensor, opts: CreateOptions = {}): Tensor {
  return full(t.shape, 0, { dtype: t.dtype, ...opts });
}
export function onesLike(t: Tensor, opts: CreateOptions = {}): Tensor {
  return full(t.shape, 1, { dtype: t.dtype, ...opts });
}

/** `arange(end)` or `arange(start, end, step)`; int64 when all arguments are integers. */
export function arange(start: number, end?: number, step = 1, opts: CreateOptions = {}): Tensor {
  if (end === undefined) {
    end = start;
    start = 0;
  }
  if (step === 0) throw new RangeError("arange step must be non-zero");
  const n = Math.max(0, Math.ceil((end - start) / step));
  const y = new Float32Array(n);
  for (let i = 0; i < n; i++) y[i] = start + i * step;
  const isInt = Number.isInteger(start) && Number.isInteger(end) && Number.isInteger(step);
  return new Tensor(y, [n], opts.dtype ?? (isInt ? "int64" : "float32"));
}

/** `linspace(start, end, steps)` in float32, computed like PyTorch (from both ends). */
export function linspace(start: number, end: number, steps: number): Tensor {
  const y = new Float32Array(steps);
  const stepSize = steps > 1 ? (end - start) / (steps - 1) : 0;
  const half = Math.floor(steps / 2);
  for (let i = 0; i < steps; i++) y[i] = i < half ? start + stepSize * i : end - stepSize * (steps - i - 1);
  if (steps === 1) y[0] = start;
  return new Tensor(y, [steps]);
}

/** Concatenate along `dim`. */
export function cat(tensors: Tensor[], dim = 0): Tensor {
  if (tensors.length === 0) throw new RangeError("cat needs at least one tensor");
  const first = tensors[0];
  const d = normDim(dim, first.ndim);
  for (const t of tensors) {
    if (t.ndim !== first.ndim || t.shape.some((s, i) => i !== d && s !== first.shape[i])) {
      throw new RangeError(`cat: shapes ${tensors.map((x) => shapeStr(x.shape)).join(", ")} do not match`);
    }
  }
  const outShape = first.shape.slice();
  outShape[d] = tensors.reduce((s, t) => s + t.shape[d], 0);
  const [outer, , inner] = splitAt(outShape, d);
  const y = allocF32(numelOf(outShape));
  const rowOut = outShape[d] * inner;
  let offset = 0;
  const offsets: number[] = [];
  for (const t of tensors) {
    const chunk = t.shape[d] * inner;
    offsets.push(offset);
    launch(OPS.cat.forward, t.storage, outer, chunk, rowOut, offset, y);
    offset += chunk;
  }
  const out = new Tensor(y, outShape, first.dtype);
  return record(out, "cat", tensors, (g) => {
    tensors.forEach((t, k) => {
      if (!t.requiresGrad) return;
      launch(OPS.cat.backward, g, outer, t.shape[d] * inner, rowOut, offsets[k], gradOf(t));
    });
  });
}

/** Elementwise choice `cond ? a : b` with broadcasting; the gradient flows to the chosen side only. */
export function where(cond: Tensor, a: Tensor, b: Tensor): Tensor {
  const shape = broadcastShapes(broadcastShapes(cond.shape, a.shape), b.shape);
  const oc = broadcastOffsets(cond.shape, shape);
  const oa = broadcastOffsets(a.shape, shape);
  const ob = broadcastOffsets(b.shape, shape);
  const y = allocF32(oc.length);
  launch(OPS.where.forward, cond.storage, oc, a.storage, oa, b.storage, ob, y);
  const out = new Tensor(y, shape, a.dtype === "float32" || b.dtype === "float32" ? "float32" : a.dtype);
  return record(out, "where", [a, b], (g) =>
    launch(OPS.where.backward, cond.storage, oc, oa, ob, g, gradIfWanted(a), gradIfWanted(b)),
  );
}

/**
 * Histogram like `torch.histogram(t, bins)`: `bins` equal-width bins between min and max
 * (or `range`), the last bin closed on the right. Returns counts (or densities) and the edges.
 */
export function histogram(
  t: Tensor,
  bins = 100,
  opts: { range?: [number, number]; density?: boolean } = {},
): { hist: Tensor; binEdges: Tensor } {
  const x = t.storage;
  let lo: number;
  let hi: number;
  if (opts.range) [lo, hi] = opts.range;
  else {
    lo = Number.POSITIVE_INFINITY;
    hi = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < x.length; i++) {
      if (x[i] < lo) lo = x[i];
      if (x[i] > hi) hi = x[i];
    }
    if (x.length === 0) [lo, hi] = [0, 0];
  }
  // An empty range is widened by 0.5 each way, as torch (following NumPy) does.
  if (lo === hi) {
    lo -= 0.5;
    hi += 0.5;
  }
  const edges = linspace(lo, hi, bins + 1);
  const e = edges.storage;
  const counts = new Float32Array(bins);
  const left = e[0];
  const right = e[bins];
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (!(v >= left && v <= right)) continue;
    let pos = Math.floor(((v - left) / (right - left)) * bins);
    if (pos >= bins) pos = bins - 1;
    // the float computation above can land one bin off near an edge: fix it against the edges
    if (pos > 0 && v < e[pos]) pos--;
    else if (pos < bins - 1 && v >= e[pos + 1]) pos++;
    counts[pos] += 1;
  }
  if (opts.density) {
    let total = 0;
    for (let i = 0; i < bins; i++) total += counts[i];
    for (let i = 0; i < bins; i++) counts[i] = counts[i] / (total * (e[i + 1] - e[i]));
  }
  return { hist: new Tensor(counts, [bins]), binEdges: edges };
}
