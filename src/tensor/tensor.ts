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

import { kernels, setKernels, tanhF32 } from "./kernels.ts";
import { wasmAvailable, wasmKernels } from "./wasm/kernels-wasm.ts";

// WebAssembly SIMD kernels by default where the engine has them (Node 20 and current browsers);
// `setKernels(referenceKernels)` switches back to the plain TypeScript reference.
if (wasmAvailable()) setKernels(wasmKernels);

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

function shapeStr(shape: Shape): string {
  return `(${shape.join(", ")}${shape.length === 1 ? "," : ""})`;
}

function normDim(dim: number, ndim: number): number {
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
  return offs;
}

/** Split `shape` around `dim` into (outer, size, inner) so a reduction is a 3-loop nest. */
function splitAt(shape: Shape, dim: number): [number, number, number] {
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
    const out = new Tensor(this.storage.slice(), this.shape, this.dtype);
    return record(out, "clone", [this], (g) => {
      addInto(gradOf(this), g);
    });
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
    if (gradient) addInto(seed, gradient.storage);
    else seed[0] += 1;
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
    return record(out, "view", [this], () => {
      addInto(gradOf(this), out.grad!.storage);
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
    const x = this.storage;
    const y = new Float32Array(x.length);
    for (let i = 0; i < y.length; i++) y[i] = x[src[i]];
    const out = new Tensor(y, outShape, this.dtype);
    return record(out, "permute", [this], () => {
      const g = out.grad!.storage;
      const gx = gradOf(this);
      for (let i = 0; i < g.length; i++) gx[src[i]] += g[i];
    });
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
    const x = this.storage;
    const is = ix.storage;
    const y = new Float32Array(is.length * row);
    for (let r = 0; r < is.length; r++) {
      const i = is[r];
      if (!(i >= 0 && i < rows) && !(i < 0 && i >= -rows)) {
        throw new RangeError(`index ${i} is out of bounds for dimension 0 with size ${rows}`);
      }
      const src = (i < 0 ? i + rows : i) * row;
      y.set(x.subarray(src, src + row), r * row);
    }
    const out = new Tensor(y, outShape, this.dtype);
    return record(out, "index", [this], () => {
      const g = out.grad!.storage;
      const gx = gradOf(this);
      for (let r = 0; r < is.length; r++) {
        const i = is[r];
        const dst = (i < 0 ? i + rows : i) * row;
        const src = r * row;
        for (let c = 0; c < row; c++) gx[dst + c] += g[src + c];
      }
    });
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
    const off = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const r = rows.storage[i];
      const c = cols.storage[i];
      if (!(r >= 0 && r < R && c >= 0 && c < K)) throw new RangeError(`index (${r}, ${c}) out of bounds`);
      off[i] = r * K + c;
    }
    const y = new Float32Array(n);
    for (let i = 0; i < n; i++) y[i] = this.storage[off[i]];
    const out = new Tensor(y, rows.shape, this.dtype);
    return record(out, "pick", [this], () => {
      const g = out.grad!.storage;
      const gx = gradOf(this);
      for (let i = 0; i < n; i++) gx[off[i]] += g[i];
    });
  }

  /** Contiguous slice `[start, end)` along dimension 0 (a copy). */
  slice(start: number, end: number = this.shape[0]): Tensor {
    const n0 = this.shape[0];
    const s = Math.max(0, start < 0 ? start + n0 : start);
    const e = Math.min(n0, end < 0 ? end + n0 : end);
    const row = this.numel() / n0;
    const y = this.storage.slice(s * row, Math.max(s, e) * row);
    const out = new Tensor(y, [Math.max(0, e - s), ...this.shape.slice(1)], this.dtype);
    return record(out, "slice", [this], () => {
      const g = out.grad!.storage;
      const gx = gradOf(this);
      for (let i = 0; i < g.length; i++) gx[s * row + i] += g[i];
    });
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
    return new Tensor(this.storage.slice(), this.shape, "float32");
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
    this.storage.fill(v);
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
 * leaf, no parents), over the given storage: what src/tensor/chain.ts hands out as `layer.out`.
 */
export function spentResult(storage: Float32Array, shape: Shape, op: string): Tensor {
  const t = new Tensor(storage, shape, "float32", true);
  t.op = op;
  t.backwardFn = freedGraph;
  return t;
}

/** The gradient storage of `t`, allocated (zeros) on first use. */
export function gradOf(t: Tensor): Float32Array {
  if (!t.grad) t.grad = new Tensor(new Float32Array(t.storage.length), t.shape, "float32");
  return t.grad.storage;
}

function addInto(dst: Float32Array, src: Float32Array): void {
  for (let i = 0; i < dst.length; i++) dst[i] += src[i];
}

/**
 * Attach `backward` to `out` if gradients are on and a parent requires them. The closure reads
 * `out.grad` and accumulates into the parents' `.grad`.
 */
export function record(
  out: Tensor,
  op: string,
  parents: Tensor[],
  backward: (g: Float32Array) => void,
): Tensor {
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
// Elementwise ops

type BinaryOp = "add" | "sub" | "mul" | "div" | "pow" | "maximum" | "minimum";

/**
 * Gradient rules of the binary primitives, typed over the op set so that a new op without a
 * rule fails to compile. Each returns (dL/da, dL/db) for one element given a, b, y = f(a, b)
 * and the upstream gradient g.
 */
const binaryRules: Record<
  BinaryOp,
  {
    f: (a: number, b: number) => number;
    da: (a: number, b: number, y: number, g: number) => number;
    db: (a: number, b: number, y: number, g: number) => number;
  }
> = {
  add: { f: (a, b) => a + b, da: (_a, _b, _y, g) => g, db: (_a, _b, _y, g) => g },
  sub: { f: (a, b) => a - b, da: (_a, _b, _y, g) => g, db: (_a, _b, _y, g) => -g },
  mul: { f: (a, b) => a * b, da: (_a, b, _y, g) => g * b, db: (a, _b, _y, g) => g * a },
  // d(a/b)/da = 1/b ; d(a/b)/db = -a/b^2
  div: { f: (a, b) => a / b, da: (_a, b, _y, g) => g / b, db: (a, b, _y, g) => (-g * a) / (b * b) },
  // d(a^b)/da = b a^(b-1) ; d(a^b)/db = a^b ln a (PyTorch masks a = 0 to 0 there)
  pow: {
    f: (a, b) => (b === 2 ? a * a : a ** b),
    da: (a, b, _y, g) => (b === 0 ? 0 : b === 2 ? 2 * a * g : g * b * a ** (b - 1)),
    db: (a, _b, y, g) => (a === 0 ? 0 : g * y * Math.log(a)),
  },
  // the gradient goes to the larger input; a tie splits it evenly, as PyTorch does
  maximum: {
    f: (a, b) => (a >= b ? a : b),
    da: (a, b, _y, g) => (a > b ? g : a === b ? g / 2 : 0),
    db: (a, b, _y, g) => (b > a ? g : a === b ? g / 2 : 0),
  },
  minimum: {
    f: (a, b) => (a <= b ? a : b),
    da: (a, b, _y, g) => (a < b ? g : a === b ? g / 2 : 0),
    db: (a, b, _y, g) => (b < a ? g : a === b ? g / 2 : 0),
  },
};

function binary(a: Tensor, bIn: Tensor | number, op: BinaryOp): Tensor {
  const rule = binaryRules[op];
  const x = a.storage;
  if (typeof bIn === "number") {
    // Scalar right operand: a plain loop, and no gradient for the constant.
    const b = Math.fround(bIn);
    const y = new Float32Array(x.length);
    switch (op) {
      case "add":
        for (let i = 0; i < x.length; i++) y[i] = x[i] + b;
        break;
      case "sub":
        for (let i = 0; i < x.length; i++) y[i] = x[i] - b;
        break;
      case "mul":
        for (let i = 0; i < x.length; i++) y[i] = x[i] * b;
        break;
      case "div":
        for (let i = 0; i < x.length; i++) y[i] = x[i] / b;
        break;
      default:
        for (let i = 0; i < x.length; i++) y[i] = rule.f(x[i], b);
    }
    const out = new Tensor(y, a.shape, floatOrInt(a.dtype, bIn));
    return record(out, op, [a], (g) => {
      const gx = gradOf(a);
      if (op === "add" || op === "sub") addInto(gx, g);
      else if (op === "mul") for (let i = 0; i < g.length; i++) gx[i] += g[i] * b;
      else if (op === "div") for (let i = 0; i < g.length; i++) gx[i] += g[i] / b;
      else for (let i = 0; i < g.length; i++) gx[i] += rule.da(x[i], b, y[i], g[i]);
    });
  }
  const bt = bIn;
  const z = bt.storage;
  const dtype = a.dtype === "float32" || bt.dtype === "float32" ? "float32" : a.dtype;
  const shape = broadcastShapes(a.shape, bt.shape);
  // Flat input offsets per output element (identity when shapes agree); a broadcast input
  // repeats offsets, and its backward then sums the gradients of all the outputs it fed.
  const oa = broadcastOffsets(a.shape, shape);
  const ob = broadcastOffsets(bt.shape, shape);
  const n = oa.length;
  const y = new Float32Array(n);
  switch (op) {
    case "add":
      for (let i = 0; i < n; i++) y[i] = x[oa[i]] + z[ob[i]];
      break;
    case "sub":
      for (let i = 0; i < n; i++) y[i] = x[oa[i]] - z[ob[i]];
      break;
    case "mul":
      for (let i = 0; i < n; i++) y[i] = x[oa[i]] * z[ob[i]];
      break;
    case "div":
      for (let i = 0; i < n; i++) y[i] = x[oa[i]] / z[ob[i]];
      break;
    default:
      for (let i = 0; i < n; i++) y[i] = rule.f(x[oa[i]], z[ob[i]]);
  }
  const out = new Tensor(y, shape, dtype);
  return record(out, op, [a, bt], (g) => {
    if (a.requiresGrad) {
      const ga = gradOf(a);
      switch (op) {
        case "add":
        case "sub":
          for (let i = 0; i < n; i++) ga[oa[i]] += g[i];
          break;
        case "mul":
          for (let i = 0; i < n; i++) ga[oa[i]] += g[i] * z[ob[i]];
          break;
        case "div":
          for (let i = 0; i < n; i++) ga[oa[i]] += g[i] / z[ob[i]];
          break;
        default:
          for (let i = 0; i < n; i++) ga[oa[i]] += rule.da(x[oa[i]], z[ob[i]], y[i], g[i]);
      }
    }
    if (bt.requiresGrad) {
      const gb = gradOf(bt);
      switch (op) {
        case "add":
          for (let i = 0; i < n; i++) gb[ob[i]] += g[i];
          break;
        case "sub":
          for (let i = 0; i < n; i++) gb[ob[i]] -= g[i];
          break;
        case "mul":
          for (let i = 0; i < n; i++) gb[ob[i]] += g[i] * x[oa[i]];
          break;
        case "div":
          for (let i = 0; i < n; i++) {
            const zb = z[ob[i]];
            gb[ob[i]] -= (g[i] * x[oa[i]]) / (zb * zb);
          }
          break;
        default:
          for (let i = 0; i < n; i++) gb[ob[i]] += rule.db(x[oa[i]], z[ob[i]], y[i], g[i]);
      }
    }
  });
}

function floatOrInt(dtype: DType, scalar: number): DType {
  return dtype === "float32" || !Number.isInteger(scalar) ? "float32" : dtype;
}

function compare(a: Tensor, bIn: Tensor | number, f: (a: number, b: number) => boolean): Tensor {
  const b = typeof bIn === "number" ? new Tensor(new Float32Array([bIn]), [], "float32") : bIn;
  const shape = broadcastShapes(a.shape, b.shape);
  const oa = broadcastOffsets(a.shape, shape);
  const ob = broadcastOffsets(b.shape, shape);
  const y = new Float32Array(oa.length);
  for (let i = 0; i < y.length; i++) y[i] = f(a.storage[oa[i]], b.storage[ob[i]]) ? 1 : 0;
  return new Tensor(y, shape, "bool");
}

function inPlace(t: Tensor, other: Tensor | number, f: (a: number, b: number) => number): void {
  const x = t.storage;
  if (typeof other === "number") {
    // a Python scalar meets a float32 tensor as a float32 (PyTorch's type promotion)
    const b = Math.fround(other);
    for (let i = 0; i < x.length; i++) x[i] = f(x[i], b);
    return;
  }
  const shape = broadcastShapes(t.shape, other.shape);
  if (shape.length !== t.ndim || shape.some((d, i) => d !== t.shape[i])) {
    throw new RangeError(`in-place op: ${shapeStr(other.shape)} does not broadcast to ${shapeStr(t.shape)}`);
  }
  const ob = broadcastOffsets(other.shape, t.shape);
  const z = other.storage;
  for (let i = 0; i < x.length; i++) x[i] = f(x[i], z[ob[i]]);
}

type UnaryOp = "neg" | "exp" | "log" | "tanh" | "sqrt" | "abs" | "relu" | "sigmoid";

/** Unary primitives: f and dL/dx given x, y = f(x) and upstream g. Typed over the op set. */
const unaryRules: Record<
  UnaryOp,
  { f: (x: number) => number; dx: (x: number, y: number, g: number) => number }
> = {
  neg: { f: (x) => -x, dx: (_x, _y, g) => -g },
  // d e^x = e^x
  exp: { f: Math.exp, dx: (_x, y, g) => g * y },
  // d ln x = 1/x
  log: { f: Math.log, dx: (x, _y, g) => g / x },
  // d tanh(x) = (1 - y^2); saturated units (|y| -> 1) pass no gradient
  tanh: { f: tanhF32, dx: (_x, y, g) => g * (1 - y * y) },
  // d sqrt(x) = 1 / (2 sqrt(x))
  sqrt: { f: Math.sqrt, dx: (_x, y, g) => g / (2 * y) },
  // d |x| = sign(x), 0 at 0 (PyTorch)
  abs: { f: Math.abs, dx: (x, _y, g) => (x > 0 ? g : x < 0 ? -g : 0) },
  relu: { f: (x) => (x > 0 ? x : 0), dx: (x, _y, g) => (x > 0 ? g : 0) },
  // d sigmoid = y (1 - y)
  // computed in float32 like PyTorch: exp(-x) overflows to inf below x = -88.72 and y is exactly 0
  sigmoid: {
    f: (x) => Math.fround(1 / Math.fround(1 + Math.fround(Math.exp(-x)))),
    dx: (_x, y, g) => g * y * (1 - y),
  },
};

function unary(a: Tensor, op: UnaryOp): Tensor {
  const rule = unaryRules[op];
  const x = a.storage;
  const y = new Float32Array(x.length);
  if (op === "tanh") kernels().tanhForward(x, y);
  else for (let i = 0; i < x.length; i++) y[i] = rule.f(x[i]);
  const out = new Tensor(y, a.shape, op === "neg" || op === "abs" || op === "relu" ? a.dtype : "float32");
  return record(out, op, [a], (g) => {
    const gx = gradOf(a);
    if (op === "tanh") kernels().tanhBackward(y, g, gx);
    else for (let i = 0; i < g.length; i++) gx[i] += rule.dx(x[i], y[i], g[i]);
  });
}

// ---------------------------------------------------------------------------------------------
// Reductions

/** scale * sum over `dim` (sum: scale 1, mean: 1/N). Accumulates in float64. */
function reduceSum(a: Tensor, dim: number | undefined, keepdim: boolean, scale: number): Tensor {
  const x = a.storage;
  if (dim === undefined) {
    let s = 0;
    for (let i = 0; i < x.length; i++) s += x[i];
    const shape = keepdim ? a.shape.map(() => 1) : [];
    const out = new Tensor(
      new Float32Array([s * scale]),
      shape,
      a.dtype === "float32" || scale !== 1 ? "float32" : a.dtype,
    );
    return record(out, scale === 1 ? "sum" : "mean", [a], (g) => {
      const gx = gradOf(a);
      const gv = g[0] * scale;
      for (let i = 0; i < gx.length; i++) gx[i] += gv;
    });
  }
  const d = normDim(dim, a.ndim);
  const [outer, n, inner] = splitAt(a.shape, d);
  const y = new Float32Array(outer * inner);
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
  const out = new Tensor(
    y,
    reducedShape(a.shape, d, keepdim),
    a.dtype === "float32" || scale !== 1 ? "float32" : a.dtype,
  );
  return record(out, scale === 1 ? "sum" : "mean", [a], (g) => {
    // d(sum)/dx_i = 1: every element of the reduced slice gets the slice's gradient
    const gx = gradOf(a);
    for (let o = 0; o < outer; o++) {
      for (let r = 0; r < n; r++) {
        const row = o * n * inner + r * inner;
        for (let c = 0; c < inner; c++) gx[row + c] += g[o * inner + c] * scale;
      }
    }
  });
}

/**
 * var = sum (x - mean)^2 / (N - c), c = 1 when unbiased; std = sqrt(var).
 * d var / dx_i = 2 (x_i - mean) / (N - c)        (the mean's own dependence cancels)
 * d std / dx_i = (x_i - mean) / ((N - c) std), defined as 0 where std = 0.
 */
function variance(
  a: Tensor,
  dim: number | undefined,
  keepdim: boolean,
  unbiased: boolean,
  isStd: boolean,
): Tensor {
  const x = a.storage;
  let outer: number;
  let n: number;
  let inner: number;
  let shape: number[];
  if (dim === undefined) {
    [outer, n, inner] = [1, x.length, 1];
    shape = keepdim ? a.shape.map(() => 1) : [];
  } else {
    const d = normDim(dim, a.ndim);
    [outer, n, inner] = splitAt(a.shape, d);
    shape = reducedShape(a.shape, d, keepdim);
  }
  const denom = unbiased ? n - 1 : n;
  const mean = new Float64Array(outer * inner);
  const y = new Float32Array(outer * inner);
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
  const out = new Tensor(y, shape, "float32");
  return record(out, isStd ? "std" : "var", [a], (g) => {
    const gx = gradOf(a);
    for (let o = 0; o < outer; o++) {
      const base = o * n * inner;
      for (let c = 0; c < inner; c++) {
        const j = o * inner + c;
        let k: number;
        if (isStd) k = y[j] === 0 ? 0 : g[j] / (denom * y[j]);
        else k = (2 * g[j]) / denom;
        if (k === 0) continue;
        const m = mean[j];
        for (let r = 0; r < n; r++) gx[base + r * inner + c] += k * (x[base + r * inner + c] - m);
      }
    }
  });
}

function maxAll(a: Tensor): Tensor {
  const x = a.storage;
  if (x.length === 0) throw new RangeError("max() of an empty tensor");
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best] || Number.isNaN(x[i])) best = i;
  const out = new Tensor(new Float32Array([x[best]]), [], a.dtype);
  return record(out, "max", [a], (g) => {
    // PyTorch splits the gradient of a full reduction evenly among tied maxima
    const m = x[best];
    let ties = 0;
    for (let i = 0; i < x.length; i++) if (x[i] === m) ties++;
    const gx = gradOf(a);
    if (ties <= 1) gx[best] += g[0];
    else for (let i = 0; i < x.length; i++) if (x[i] === m) gx[i] += g[0] / ties;
  });
}

function maxDim(a: Tensor, d: number, keepdim: boolean): { values: Tensor; indices: Tensor } {
  const x = a.storage;
  const [outer, n, inner] = splitAt(a.shape, d);
  if (n === 0) throw new RangeError("max over an empty dimension");
  const y = new Float32Array(outer * inner);
  const arg = new Float32Array(outer * inner);
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
  const shape = reducedShape(a.shape, d, keepdim);
  const values = new Tensor(y, shape, a.dtype);
  record(values, "max", [a], (g) => {
    const gx = gradOf(a);
    for (let o = 0; o < outer; o++) {
      for (let c = 0; c < inner; c++) gx[o * n * inner + arg[o * inner + c] * inner + c] += g[o * inner + c];
    }
  });
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
  const y = new Float32Array(m * n);
  // (m,k) @ (k,n) -> (m,n)
  kernels().gemm(false, false, m, n, k, a.storage, b.storage, y, false);
  const out = new Tensor(y, b.ndim === 2 ? [m, n] : [m], "float32");
  return record(out, "matmul", [a, b], (g) => {
    // dA = G @ B^T : (m,n) @ (n,k) ; dB = A^T @ G : (k,m) @ (m,n)
    if (a.requiresGrad) kernels().gemm(false, true, m, k, n, g, b.storage, gradOf(a), true);
    if (b.requiresGrad) kernels().gemm(true, false, k, n, m, a.storage, g, gradOf(b), true);
  });
}

/**
 * softmax over `dim`: y_i = exp(x_i - max) / sum_j exp(x_j - max), and log-softmax
 * y_i = x_i - max - log sum_j exp(x_j - max).
 * Backward: softmax dx = y (g - sum(g y)); log-softmax dx = g - softmax * sum(g).
 */
function softmax(a: Tensor, dim: number, log: boolean): Tensor {
  const d = normDim(dim, a.ndim);
  const [outer, n, inner] = splitAt(a.shape, d);
  const x = a.storage;
  const y = new Float32Array(x.length);
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < inner; c++) {
      const base = o * n * inner + c;
      let mx = Number.NEGATIVE_INFINITY;
      for (let r = 0; r < n; r++) mx = Math.max(mx, x[base + r * inner]);
      let s = 0;
      for (let r = 0; r < n; r++) s += Math.exp(x[base + r * inner] - mx);
      if (log) {
        const lse = Math.log(s);
        for (let r = 0; r < n; r++) y[base + r * inner] = x[base + r * inner] - mx - lse;
      } else {
        for (let r = 0; r < n; r++) y[base + r * inner] = Math.exp(x[base + r * inner] - mx) / s;
      }
    }
  }
  const out = new Tensor(y, a.shape, "float32");
  return record(out, log ? "logSoftmax" : "softmax", [a], (g) => {
    const gx = gradOf(a);
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
  });
}

/**
 * Fused cross-entropy, mean over the batch: logits (B,V), targets (B,) int64 -> scalar.
 * loss = mean_b [ logsumexp(x_b) - x_b[t_b] ]
 * d loss / d x_bv = (softmax(x_b)_v - [v = t_b]) / B
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
  const t = targets.storage;
  for (let b = 0; b < B; b++) {
    const tb = t[b];
    if (!(tb >= 0 && tb < V))
      throw new RangeError(`crossEntropy: target ${tb} out of range for ${V} classes`);
  }
  const probs = new Float32Array(B * V);
  const total = kernels().crossEntropyForward(logits.storage, t, B, V, probs);
  const out = new Tensor(new Float32Array([total / B]), [], "float32");
  return record(out, "crossEntropy", [logits], (g) => {
    kernels().crossEntropyBackward(probs, t, B, V, g[0] / B, gradOf(logits));
  });
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
  const t = new Tensor(new Float32Array(numelOf(shape)).fill(value), shape, opts.dtype ?? "float32");
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
  const y = new Float32Array(numelOf(outShape));
  const rowOut = outShape[d] * inner;
  let offset = 0;
  const offsets: number[] = [];
  for (const t of tensors) {
    const chunk = t.shape[d] * inner;
    offsets.push(offset);
    for (let o = 0; o < outer; o++)
      y.set(t.storage.subarray(o * chunk, (o + 1) * chunk), o * rowOut + offset);
    offset += chunk;
  }
  const out = new Tensor(y, outShape, first.dtype);
  return record(out, "cat", tensors, (g) => {
    tensors.forEach((t, k) => {
      if (!t.requiresGrad) return;
      const gx = gradOf(t);
      const chunk = t.shape[d] * inner;
      for (let o = 0; o < outer; o++) {
        for (let i = 0; i < chunk; i++) gx[o * chunk + i] += g[o * rowOut + offsets[k] + i];
      }
    });
  });
}

/** Elementwise choice `cond ? a : b` with broadcasting; the gradient flows to the chosen side only. */
export function where(cond: Tensor, a: Tensor, b: Tensor): Tensor {
  const shape = broadcastShapes(broadcastShapes(cond.shape, a.shape), b.shape);
  const oc = broadcastOffsets(cond.shape, shape);
  const oa = broadcastOffsets(a.shape, shape);
  const ob = broadcastOffsets(b.shape, shape);
  const c = cond.storage;
  const y = new Float32Array(oc.length);
  for (let i = 0; i < y.length; i++) y[i] = c[oc[i]] !== 0 ? a.storage[oa[i]] : b.storage[ob[i]];
  const out = new Tensor(y, shape, a.dtype === "float32" || b.dtype === "float32" ? "float32" : a.dtype);
  return record(out, "where", [a, b], (g) => {
    const ga = a.requiresGrad ? gradOf(a) : null;
    const gb = b.requiresGrad ? gradOf(b) : null;
    for (let i = 0; i < g.length; i++) {
      if (c[oc[i]] !== 0) {
        if (ga) ga[oa[i]] += g[i];
      } else if (gb) gb[ob[i]] += g[i];
    }
  });
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
