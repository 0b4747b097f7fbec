/**
 * A compiled layer chain: the makemore MLP's whole training step, evaluation pass or sampling
 * step run by the fused WebAssembly kernels (assembly/fused.ts) inside one linear memory.
 *
 *   X (B, T) int -> embedding gather, flattened (B, T*E) -> [linear | batchnorm | tanh | relu]* -> logits (B, V)
 *   loss = cross-entropy(logits, Y), then the backward of every layer, then SGD
 *
 * The generic tensor ops build a graph of closures and allocate every output and gradient; for
 * this one fixed shape of network that costs more than the arithmetic (PyTorch spends most of a
 * step the same way). Here every buffer -- parameters, activations, gradients, scratch -- is laid
 * out once in an `Arena`, and a step is ~30 kernel calls on pointers: no allocation, no copies
 * between ops, no graph. The math is the generic ops' math (the kernels' TypeScript twins in
 * kernels.ts are what the generic ops run), and test/kernels.test.ts checks both: every kernel
 * against its twin, and the same networks trained, evaluated and sampled both ways.
 *
 * Parameters keep living in their tensors' own storage: a step copies them into the arena first
 * (`loadParameters`), and the update writes them back, so `p.storage` and everything that holds
 * it stay valid. Activations and gradients are exposed as tensors that view the arena
 * (`outs`, `outGrads`, `paramGrads`); they are overwritten by the next step, like PyTorch's
 * in-place `.grad` buffers.
 *
 * The chain knows layers only by the `ChainLayer` descriptions below (src/nn/modules.ts makes them
 * from modules and src/train uses them); BatchNorm fields are read live at every step, so
 * changing `momentum`, `eps` or the running buffers between steps behaves as with the modules.
 */

import { type BatchNormVariant, kernels } from "./kernels.ts";
import { spentResult, Tensor } from "./tensor.ts";
import { Arena } from "./wasm/fused-wasm.ts";

/** What the chain reads from a BatchNorm layer (a `BatchNorm1d` module satisfies it). */
export interface BatchNormLayer {
  gamma: Tensor;
  beta: Tensor;
  runningMean: Tensor;
  /** running std for "lecture-std", running (unbiased) variance otherwise */
  runningVar: Tensor;
  variant: BatchNormVariant;
  eps: number;
  momentum: number;
  training: boolean;
}

export type ChainLayer =
  | { kind: "linear"; weight: Tensor; bias: Tensor | null }
  | { kind: "batchnorm"; bn: BatchNormLayer }
  | { kind: "tanh" }
  | { kind: "relu" };

/** An embedding table (V, E) for a context of `blockSize` tokens, then the layers. */
export interface ChainSpec {
  table: Tensor;
  blockSize: number;
  layers: ChainLayer[];
}

const VARIANT_CODE: Record<BatchNormVariant, number> = { "lecture-std": 0, lecture: 1, torch: 2 };

/** Per-layer buffers (byte offsets into the arena). */
interface Slot {
  layer: ChainLayer;
  width: number;
  out: number;
  grad: number;
  // linear
  w?: number;
  b?: number;
  dw?: number;
  db?: number;
  // batchnorm
  gamma?: number;
  beta?: number;
  dgamma?: number;
  dbeta?: number;
  mean?: number;
  spread?: number;
  sigma?: number;
  xhat?: number;
}

/**
 * Check a spec's shapes; returns the width after each layer and the parameters in order
 * (table first), or a reason it cannot run as a chain.
 */
function plan(spec: ChainSpec): { widths: number[]; params: Tensor[] } | string {
  const { table, layers } = spec;
  if (table.ndim !== 2 || table.dtype !== "float32") return "embedding table is not a 2-d float tensor";
  let width = spec.blockSize * table.shape[1];
  const widths: number[] = [];
  const params: Tensor[] = [table];
  for (const l of layers) {
    if (l.kind === "linear") {
      if (l.weight.ndim !== 2 || l.weight.shape[0] !== width) return "linear shapes do not chain";
      width = l.weight.shape[1];
      params.push(l.weight);
      if (l.bias) {
        if (l.bias.numel() !== width) return "linear bias does not match";
        params.push(l.bias);
      }
    } else if (l.kind === "batchnorm") {
      const { gamma, beta, runningMean, runningVar } = l.bn;
      for (const t of [gamma, beta, runningMean, runningVar])
        if (t.numel() !== width) return "batchnorm width";
      params.push(gamma, beta);
    }
    widths.push(width);
  }
  if (new Set(params).size !== params.length) return "a parameter is used twice";
  for (const p of params) if (p.dtype !== "float32") return "parameters must be float32";
  return { widths, params };
}

/** Rows of a dataset, gathered into the arena's int32 buffers with the generic ops' range checks. */
function gatherRows(
  dst: Int32Array,
  xOff: number,
  yOff: number,
  X: Float32Array,
  Y: Float32Array,
  T: number,
  rows: ArrayLike<number> | null,
  start: number,
  count: number,
  V: number,
  classes: number,
): void {
  for (let b = 0; b < count; b++) {
    const r = rows === null ? start + b : rows[start + b];
    for (let t = 0; t < T; t++) {
      let v = X[r * T + t];
      if (!(v >= 0 && v < V)) {
        if (v < 0 && v >= -V) v += V;
        else throw new RangeError(`index ${v} is out of bounds for dimension 0 with size ${V}`);
      }
      dst[xOff + b * T + t] = v;
    }
    const y = Y[r];
    if (!(y >= 0 && y < classes))
      throw new RangeError(`crossEntropy: target ${y} out of range for ${classes} classes`);
    dst[yOff + b] = y;
  }
}

/** The training step of a chain at a fixed batch size. */
export class TrainChain {
  readonly batchSize: number;
  readonly params: Tensor[];
  /** Outputs of the embedding (B, T, E) and of every layer, as tensors. */
  readonly embOut: Tensor;
  readonly outs: Tensor[];
  /** Their gradients after a step. */
  readonly embGrad: Tensor;
  readonly outGrads: Tensor[];
  /** One gradient tensor per parameter, in `params` order. */
  readonly paramGrads: Tensor[];

  private readonly arena: Arena;
  private readonly spec: ChainSpec;
  private readonly slots: Slot[];
  private readonly pOff: number[];
  private readonly gOff: number[];
  private readonly pStart: number;
  private readonly pEnd: number;
  private readonly x: number;
  private readonly y: number;
  private readonly emb: number;
  private readonly dEmb: number;
  private readonly dTable: number;
  private readonly probs: number;
  private readonly wt: number;
  private readonly ap: number;
  private readonly scratch: number;
  private readonly sums: number;

  /** Compile `spec` for batches of `batchSize`, or null when it cannot run as a chain here. */
  static create(spec: ChainSpec, batchSize: number): TrainChain | null {
    const p = plan(spec);
    if (typeof p === "string") return null;
    if (!Number.isInteger(batchSize) || batchSize < 1) return null;
    // the lecture BatchNorms need 2 rows for the unbiased statistics; the generic op reports it
    if (batchSize < 2 && spec.layers.some((l) => l.kind === "batchnorm")) return null;
    const arena = Arena.create();
    if (!arena) return null;
    return new TrainChain(spec, batchSize, p.widths, p.params, arena);
  }

  private constructor(spec: ChainSpec, B: number, widths: number[], params: Tensor[], arena: Arena) {
    this.spec = spec;
    this.batchSize = B;
    this.params = params;
    this.arena = arena;
    const T = spec.blockSize;
    const E = spec.table.shape[1];
    const a = arena;
    // parameters and their gradients: two blocks with the same layout, so one SGD call covers all
    const sizes = params.map((t) => t.numel());
    const total = sizes.reduce((s, n) => s + ((n + 8 + 3) & ~3), 0);
    this.pStart = a.alloc(total);
    const gStart = a.alloc(total);
    this.pEnd = this.pStart + total * 4;
    this.pOff = [];
    this.gOff = [];
    let at = 0;
    for (const n of sizes) {
      this.pOff.push(this.pStart + at * 4);
      this.gOff.push(gStart + at * 4);
      at += (n + 8 + 3) & ~3;
    }
    const index = new Map(params.map((t, i) => [t, i]));
    const pOf = (t: Tensor) => this.pOff[index.get(t)!];
    const gOf = (t: Tensor) => this.gOff[index.get(t)!];
    this.x = a.alloc(B * T);
    this.y = a.alloc(B);
    this.emb = a.alloc(B * T * E);
    this.dEmb = a.alloc(B * T * E);
    this.dTable = gOf(spec.table);
    let maxK = T * E;
    let maxW = 0;
    this.slots = spec.layers.map((layer, i) => {
      const width = widths[i];
      maxK = Math.max(maxK, width);
      const s: Slot = { layer, width, out: a.alloc(B * width), grad: a.alloc(B * width) };
      if (layer.kind === "linear") {
        s.w = pOf(layer.weight);
        s.dw = gOf(layer.weight);
        maxW = Math.max(maxW, layer.weight.numel());
        if (layer.bias) {
          s.b = pOf(layer.bias);
          s.db = gOf(layer.bias);
        }
      } else if (layer.kind === "batchnorm") {
        s.gamma = pOf(layer.bn.gamma);
        s.beta = pOf(layer.bn.beta);
        s.dgamma = gOf(layer.bn.gamma);
        s.dbeta = gOf(layer.bn.beta);
        s.mean = a.alloc(width);
        s.spread = a.alloc(width);
        s.sigma = a.alloc(width);
        s.xhat = a.alloc(B * width);
      }
      return s;
    });
    const V2 = widths[widths.length - 1] ?? T * E;
    this.probs = a.alloc(B * V2);
    this.wt = a.alloc(maxW);
    this.ap = a.alloc(4 * maxK);
    this.scratch = a.alloc(32);
    this.sums = a.alloc(4 * maxK);
    a.seal();
    // tensors over the arena
    this.embOut = spentResult(a.view(this.emb, B * T * E), [B, T, E], "index");
    this.embGrad = new Tensor(a.view(this.dEmb, B * T * E), [B, T, E]);
    const opName = { linear: "linear", batchnorm: "batchNorm", tanh: "tanh", relu: "relu" } as const;
    this.outs = this.slots.map((s) =>
      spentResult(a.view(s.out, B * s.width), [B, s.width], opName[s.layer.kind]),
    );
    this.outGrads = this.slots.map((s) => new Tensor(a.view(s.grad, B * s.width), [B, s.width]));
    this.paramGrads = params.map((t, i) => new Tensor(a.view(this.gOff[i], t.numel()), t.shape));
  }

  /** False when a layer is in a state the chain does not run (a BatchNorm in eval mode). */
  ready(): boolean {
    for (const l of this.spec.layers) if (l.kind === "batchnorm" && !l.bn.training) return false;
    return true;
  }

  /** Copy parameter values from their tensors into the arena. */
  loadParameters(): void {
    const f = this.arena.f32;
    this.params.forEach((t, i) => {
      f.set(t.storage, this.pOff[i] >> 2);
    });
  }

  /**
   * Forward and backward on rows `ix` of (X (N, T), Y (N,)) as stored in a dataset; updates the
   * BatchNorm running statistics like the modules do. Returns the loss (float32 mean). `reload`:
   * copy the parameters in first; the caller may skip it when nothing but this chain's own `update`
   * has touched them since the last step.
   */
  step(X: Float32Array, Y: Float32Array, ix: ArrayLike<number>, reload = true): number {
    const B = this.batchSize;
    const a = this.arena;
    const ex = a.ex;
    const f32 = a.f32;
    const T = this.spec.blockSize;
    const [V, E] = this.spec.table.shape;
    const slots = this.slots;
    const last = slots.length ? slots[slots.length - 1] : null;
    const classes = last ? last.width : T * E;
    gatherRows(a.i32, this.x >> 2, this.y >> 2, X, Y, T, ix, 0, B, V, classes);
    if (reload) this.loadParameters();

    // forward
    ex.gather(this.pOff[0], E, this.x, B * T, this.emb);
    let cur = this.emb;
    let width = T * E;
    for (const s of slots) {
      const l = s.layer;
      if (l.kind === "linear") {
        ex.gemmNN(
          B,
          s.width,
          width,
          cur,
          width,
          s.w!,
          s.width,
          s.out,
          s.width,
          0,
          s.b ?? 0,
          this.ap,
          this.scratch,
        );
      } else if (l.kind === "batchnorm") {
        const bn = l.bn;
        ex.bnTrainFwd(
          cur,
          B,
          width,
          s.gamma!,
          s.beta!,
          VARIANT_CODE[bn.variant],
          bn.eps,
          s.mean!,
          s.spread!,
          s.sigma!,
          s.xhat!,
          s.out,
        );
        // running = (1 - m) * running + m * batch, each product rounded (the module's update)
        const m = Math.fround(bn.momentum);
        const k = Math.fround(1 - bn.momentum);
        const fr = Math.fround;
        const rm = bn.runningMean.storage;
        const rv = bn.runningVar.storage;
        const mo = s.mean! >> 2;
        const so = s.spread! >> 2;
        for (let c = 0; c < width; c++) {
          rm[c] = fr(k * rm[c]) + fr(m * f32[mo + c]);
          rv[c] = fr(k * rv[c]) + fr(m * f32[so + c]);
        }
      } else if (l.kind === "tanh") ex.tanhFwd(cur, s.out, B * width);
      else ex.reluFwd(cur, s.out, B * width);
      cur = s.out;
      width = s.width;
    }
    const total = ex.ceFwd(cur, this.y, B, width, this.probs);
    const loss = Math.fround(total / B);

    // backward
    ex.ceBwd(this.probs, this.y, B, width, 1 / B, last ? last.grad : this.dEmb, 0);
    for (let i = slots.length - 1; i >= 0; i--) {
      const s = slots[i];
      const l = s.layer;
      const inPtr = i > 0 ? slots[i - 1].out : this.emb;
      const gIn = i > 0 ? slots[i - 1].grad : this.dEmb;
      const wIn = i > 0 ? slots[i - 1].width : T * E;
      if (l.kind === "linear") {
        const O = s.width;
        // dW = X^T @ G : (I, B) @ (B, O) ; db = sum_rows G ; dX = G @ W^T : (B, O) @ (O, I)
        ex.gemmTN(wIn, O, B, inPtr, wIn, s.grad, O, s.dw!, O, 0, this.scratch);
        if (s.db !== undefined) {
          f32.fill(0, s.db >> 2, (s.db >> 2) + O);
          ex.colSum(B, O, s.grad, s.db);
        }
        ex.transpose(wIn, O, s.w!, this.wt);
        ex.gemmNN(B, wIn, O, s.grad, O, this.wt, wIn, gIn, wIn, 0, 0, this.ap, this.scratch);
      } else if (l.kind === "batchnorm") {
        const H = s.width;
        f32.fill(0, s.dgamma! >> 2, (s.dgamma! >> 2) + H);
        f32.fill(0, s.dbeta! >> 2, (s.dbeta! >> 2) + H);
        const D = l.bn.variant === "torch" ? B : B - 1;
        ex.bnTrainBwd(s.grad, s.xhat!, s.sigma!, s.gamma!, B, H, D, s.dgamma!, s.dbeta!, gIn, 0, this.sums);
      } else if (l.kind === "tanh") ex.tanhBwd(s.out, s.grad, gIn, B * s.width, 0);
      else ex.reluBwd(s.out, s.grad, gIn, B * s.width, 0);
    }
    f32.fill(0, this.dTable >> 2, (this.dTable >> 2) + V * E);
    ex.scatterAdd(this.dTable, E, this.x, B * T, this.dEmb);
    return loss;
  }

  /**
   * SGD on the arena's copy of every parameter whose `.grad` is still this chain's gradient
   * tensor, `p.data += -lr * p.grad` in float32, then write the values back to the parameters'
   * storage. Parameters whose `.grad` a hook replaced are updated from that tensor in place; a
   * null `.grad` is skipped (like `sgdStep`). `reload`: copy the parameters in first (a hook may
   * have changed them since the step).
   */
  update(lr: number, reload: boolean): void {
    const k = Math.fround(-lr);
    const a = this.arena;
    if (reload) this.loadParameters();
    const own = this.params.map((p, i) => p.grad === this.paramGrads[i]);
    const allOwn = own.every(Boolean);
    // one call over the whole parameter block (the padding between parameters has zero gradient)
    if (allOwn) a.ex.sgd(this.pStart, this.gOff[0], (this.pEnd - this.pStart) >> 2, k);
    this.params.forEach((p, i) => {
      const n = p.numel();
      if (own[i]) {
        if (!allOwn) a.ex.sgd(this.pOff[i], this.gOff[i], n, k);
        p.storage.set(a.view(this.pOff[i], n));
      } else if (p.grad) kernels().sgd(p.storage, p.grad.storage, -lr);
    });
  }
}

/**
 * Forward passes in eval mode (running BatchNorm statistics): split losses and sampling.
 *
 * Eval mode lets the embedding and the first Linear fold into tables (like folding a BatchNorm
 * into the Linear before it): emb(x) @ W = sum_t C[x_t] @ W[tE:(t+1)E, :] = sum_t P_t[x_t], with
 * P_t = C @ W[tE:(t+1)E, :] of shape (V, O), computed once per `load()`. A row's first layer is then
 * T row additions instead of a (T*E)-long dot product per unit; the sum is the same up to float32
 * rounding order (test/kernels.test.ts compares with the generic ops).
 */
export class EvalChain {
  /** Rows per forward pass. */
  readonly rows: number;
  private readonly arena: Arena;
  private readonly spec: ChainSpec;
  private readonly params: Tensor[];
  private readonly pOff: number[];
  private readonly widths: number[];
  /** per layer: parameter pointers (linear: a = weight, b = bias; batchnorm: a = gamma, b = beta) */
  private readonly ptr: { a: number; b: number; mean: number; sigma: number }[];
  /** the first layer is a Linear folded into per-position tables (0 when not) */
  private readonly tables: number;
  private readonly x: number;
  private readonly y: number;
  private readonly buf: [number, number];
  private readonly ap: number;
  private readonly scratch: number;

  static create(spec: ChainSpec, rows = 256): EvalChain | null {
    const p = plan(spec);
    if (typeof p === "string") return null;
    const arena = Arena.create();
    if (!arena) return null;
    return new EvalChain(spec, rows, p.widths, p.params, arena);
  }

  private constructor(spec: ChainSpec, R: number, widths: number[], params: Tensor[], arena: Arena) {
    this.spec = spec;
    this.rows = R;
    this.arena = arena;
    this.params = params;
    this.widths = widths;
    const T = spec.blockSize;
    const [V, E] = spec.table.shape;
    const a = arena;
    this.pOff = params.map((t) => a.alloc(t.numel()));
    const index = new Map(params.map((t, i) => [t, this.pOff[i]]));
    this.ptr = spec.layers.map((l, i) => {
      if (l.kind === "linear")
        return { a: index.get(l.weight)!, b: l.bias ? index.get(l.bias)! : 0, mean: 0, sigma: 0 };
      if (l.kind === "batchnorm") {
        return {
          a: index.get(l.bn.gamma)!,
          b: index.get(l.bn.beta)!,
          mean: a.alloc(widths[i]),
          sigma: a.alloc(widths[i]),
        };
      }
      return { a: 0, b: 0, mean: 0, sigma: 0 };
    });
    this.tables = spec.layers[0]?.kind === "linear" ? a.alloc(T * V * widths[0]) : 0;
    const maxW = Math.max(T * E, ...widths);
    this.x = a.alloc(R * T);
    this.y = a.alloc(R);
    this.buf = [a.alloc(R * maxW), a.alloc(R * maxW)];
    this.ap = a.alloc(4 * Math.max(maxW, V));
    this.scratch = a.alloc(32);
    a.seal();
  }

  /**
   * Copy the current parameters and BatchNorm statistics in (sigma as the eval op computes it)
   * and build the first layer's tables.
   */
  load(): void {
    const f = this.arena.f32;
    const ex = this.arena.ex;
    this.params.forEach((t, i) => {
      f.set(t.storage, this.pOff[i] >> 2);
    });
    this.spec.layers.forEach((l, i) => {
      if (l.kind !== "batchnorm") return;
      const { runningMean, runningVar, variant, eps } = l.bn;
      const m = this.ptr[i].mean >> 2;
      const s = this.ptr[i].sigma >> 2;
      f.set(runningMean.storage, m);
      const rs = runningVar.storage;
      for (let c = 0; c < rs.length; c++) {
        f[s + c] = variant === "lecture-std" ? rs[c] : Math.sqrt(Math.fround(rs[c] + eps));
      }
    });
    if (this.tables) {
      // P_t = C (V, E) @ W[tE:(t+1)E, :] (E, O)
      const [V, E] = this.spec.table.shape;
      const O = this.widths[0];
      for (let t = 0; t < this.spec.blockSize; t++) {
        const w = this.ptr[0].a + t * E * O * 4;
        ex.gemmNN(
          V,
          O,
          E,
          this.pOff[0],
          E,
          w,
          O,
          this.tables + t * V * O * 4,
          O,
          0,
          0,
          this.ap,
          this.scratch,
        );
      }
    }
  }

  /** Forward the `n` rows at this.x; returns the pointer to their logits (n, V). */
  private forward(n: number): { logits: number; width: number } {
    const ex = this.arena.ex;
    const T = this.spec.blockSize;
    const [V, E] = this.spec.table.shape;
    let [cur, next] = this.buf;
    let width = T * E;
    let first = 0;
    if (this.tables) {
      ex.gatherSum(this.tables, V, this.widths[0], T, this.x, n, this.ptr[0].b, cur);
      width = this.widths[0];
      first = 1;
    } else ex.gather(this.pOff[0], E, this.x, n * T, cur);
    const layers = this.spec.layers;
    for (let i = first; i < layers.length; i++) {
      const l = layers[i];
      const w = this.widths[i];
      const p = this.ptr[i];
      if (l.kind === "linear") {
        ex.gemmNN(n, w, width, cur, width, p.a, w, next, w, 0, p.b, this.ap, this.scratch);
        [cur, next] = [next, cur];
      } else if (l.kind === "batchnorm") {
        ex.bnEval(cur, n, w, p.a, p.b, p.mean, p.sigma, VARIANT_CODE[l.bn.variant], next);
        [cur, next] = [next, cur];
      } else if (l.kind === "tanh") ex.tanhFwd(cur, cur, n * w);
      else ex.reluFwd(cur, cur, n * w);
      width = w;
    }
    return { logits: cur, width };
  }

  /** Mean cross-entropy over all rows of (X (N, T), Y (N,)); call `load()` first. */
  meanLoss(X: Float32Array, Y: Float32Array): number {
    const T = this.spec.blockSize;
    const N = Y.length;
    const V = this.spec.table.shape[0];
    const classes = this.widths.length ? this.widths[this.widths.length - 1] : T * this.spec.table.shape[1];
    const a = this.arena;
    let total = 0;
    for (let s = 0; s < N; s += this.rows) {
      const n = Math.min(this.rows, N - s);
      gatherRows(a.i32, this.x >> 2, this.y >> 2, X, Y, T, null, s, n, V, classes);
      const { logits, width } = this.forward(n);
      total += a.ex.ceFwd(logits, this.y, n, width, 0);
    }
    return total / N;
  }

  /** The logits (V,) for one context of T token ids (a view, valid until the next call). */
  logits(context: ArrayLike<number>): Float32Array {
    const T = this.spec.blockSize;
    const V = this.spec.table.shape[0];
    const i32 = this.arena.i32;
    for (let t = 0; t < T; t++) {
      let v = context[t];
      if (v < 0 && v >= -V) v += V;
      if (!(v >= 0 && v < V))
        throw new RangeError(`index ${v} is out of bounds for dimension 0 with size ${V}`);
      i32[(this.x >> 2) + t] = v;
    }
    const { logits, width } = this.forward(1);
    return this.arena.view(logits, width);
  }
}
