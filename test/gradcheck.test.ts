/**
 * Gradient checks of every differentiable op against independent float64 math.
 *
 * For each op: float32 inputs drawn from a seeded Generator, L = sum(out * w) with w a fixed
 * random float32 tensor. The analytic gradient is `out.backward(w)` through the TS autograd. The
 * numerical gradient is a central difference (h = 1e-6) of L evaluated with a plain-JS float64
 * reference forward written below (no code shared with src/tensor), at the same float32 input
 * values. This tests each backward rule against the math itself, not against the TS forward.
 *
 * Tolerances:
 *   - gradient: |analytic - numeric| <= 1e-4 + 1e-3 |numeric|. The analytic side is float32
 *     (relative error ~1e-6, more where backward terms cancel); the numerical side is float64
 *     with truncation error O(h^2) ~ 1e-12 and round-off ~ 1e-16 |L| / h ~ 1e-10 |L|.
 *   - reference sanity: the float64 reference forward must agree with the TS float32 forward to
 *     rtol 1e-4 / atol 1e-5 (float32 rounding only), so that a wrong reference cannot pass.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { Generator } from "../src/random/index.ts";
import { arange, cat, crossEntropy, randn, type Tensor, tensor, where } from "../src/tensor/index.ts";

// ---------------------------------------------------------------------------------------------
// A tiny float64 n-d array and reference ops (plain math, row-major)

interface Nd {
  shape: number[];
  data: number[];
}

const H = 1e-6;
const GRAD_RTOL = 1e-3;
const GRAD_ATOL = 1e-4;
const REF_RTOL = 1e-4;
const REF_ATOL = 1e-5;

const nd = (shape: number[], data: number[]): Nd => ({ shape, data });
const numel = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

function unravel(flat: number, shape: number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = flat % shape[d];
    flat = Math.floor(flat / shape[d]);
  }
  return idx;
}
function ravel(idx: number[], shape: number[]): number {
  let flat = 0;
  for (let d = 0; d < shape.length; d++) flat = flat * shape[d] + idx[d];
  return flat;
}
const normDim = (d: number, n: number): number => (d < 0 ? d + n : d);

/** Broadcast elementwise f over any number of operands. */
function bmap(xs: Nd[], f: (...v: number[]) => number): Nd {
  const n = Math.max(...xs.map((x) => x.shape.length));
  const shape: number[] = [];
  for (let i = 0; i < n; i++) {
    let s = 1;
    for (const x of xs) {
      const d = x.shape[x.shape.length - n + i] ?? 1;
      if (d !== 1) {
        assert.ok(s === 1 || s === d, "reference broadcast mismatch");
        s = d;
      }
    }
    shape.push(s);
  }
  const data: number[] = [];
  for (let flat = 0; flat < numel(shape); flat++) {
    const idx = unravel(flat, shape);
    const vals = xs.map((x) => {
      const off = n - x.shape.length;
      const sub = x.shape.map((d, i) => (d === 1 ? 0 : idx[off + i]));
      return x.data[ravel(sub, x.shape)];
    });
    data.push(f(...vals));
  }
  return nd(shape, data);
}
const map = (x: Nd, f: (v: number) => number): Nd => nd(x.shape.slice(), x.data.map(f));

/** Reduce along `dim` (all elements when undefined) with f(values of the slice). */
function reduce(x: Nd, dim: number | undefined, keepdim: boolean, f: (vals: number[]) => number): Nd {
  if (dim === undefined) return nd(keepdim ? x.shape.map(() => 1) : [], [f(x.data)]);
  const d = normDim(dim, x.shape.length);
  const kept = x.shape.slice();
  kept[d] = 1;
  const data: number[] = [];
  for (let flat = 0; flat < numel(kept); flat++) {
    const idx = unravel(flat, kept);
    const vals: number[] = [];
    for (let r = 0; r < x.shape[d]; r++) {
      idx[d] = r;
      vals.push(x.data[ravel(idx, x.shape)]);
    }
    data.push(f(vals));
  }
  const shape = keepdim ? kept : x.shape.filter((_, i) => i !== d);
  return nd(shape, data);
}
const sumv = (v: number[]): number => v.reduce((a, b) => a + b, 0);
const meanv = (v: number[]): number => sumv(v) / v.length;
function varv(v: number[], unbiased: boolean): number {
  const m = meanv(v);
  return sumv(v.map((x) => (x - m) ** 2)) / (v.length - (unbiased ? 1 : 0));
}

/** Apply f to each slice along `dim`, keeping the shape (softmax-like ops). */
function alongDim(x: Nd, dim: number, f: (vals: number[]) => number[]): Nd {
  const d = normDim(dim, x.shape.length);
  const kept = x.shape.slice();
  kept[d] = 1;
  const out = new Array<number>(x.data.length);
  for (let flat = 0; flat < numel(kept); flat++) {
    const idx = unravel(flat, kept);
    const offs: number[] = [];
    for (let r = 0; r < x.shape[d]; r++) {
      idx[d] = r;
      offs.push(ravel(idx, x.shape));
    }
    const y = f(offs.map((o) => x.data[o]));
    offs.forEach((o, r) => {
      out[o] = y[r];
    });
  }
  return nd(x.shape.slice(), out);
}
function softmaxv(v: number[]): number[] {
  const m = Math.max(...v);
  const e = v.map((x) => Math.exp(x - m));
  const s = sumv(e);
  return e.map((x) => x / s);
}
function logSoftmaxv(v: number[]): number[] {
  const m = Math.max(...v);
  const lse = m + Math.log(sumv(v.map((x) => Math.exp(x - m))));
  return v.map((x) => x - lse);
}

function matmulRef(a: Nd, b: Nd): Nd {
  const [m, k] = a.shape;
  const n = b.shape.length === 2 ? b.shape[1] : 1;
  const data: number[] = [];
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += a.data[i * k + p] * b.data[p * n + j];
      data.push(s);
    }
  }
  return nd(b.shape.length === 2 ? [m, n] : [m], data);
}
function permuteRef(x: Nd, perm: number[]): Nd {
  const shape = perm.map((p) => x.shape[p]);
  const data: number[] = [];
  for (let flat = 0; flat < numel(shape); flat++) {
    const idx = unravel(flat, shape);
    const src = new Array<number>(perm.length);
    perm.forEach((p, i) => {
      src[p] = idx[i];
    });
    data.push(x.data[ravel(src, x.shape)]);
  }
  return nd(shape, data);
}
const reshapeRef = (x: Nd, shape: number[]): Nd => nd(shape, x.data.slice());
function indexRef(table: Nd, idx: number[], idxShape: number[]): Nd {
  const row = numel(table.shape.slice(1));
  const data: number[] = [];
  for (const i of idx) {
    const r = i < 0 ? i + table.shape[0] : i;
    data.push(...table.data.slice(r * row, (r + 1) * row));
  }
  return nd([...idxShape, ...table.shape.slice(1)], data);
}
const pickRef = (x: Nd, rows: number[], cols: number[]): Nd =>
  nd(
    [rows.length],
    rows.map((r, i) => x.data[r * x.shape[1] + cols[i]]),
  );
function sliceRef(x: Nd, s: number, e: number): Nd {
  const row = numel(x.shape.slice(1));
  return nd([e - s, ...x.shape.slice(1)], x.data.slice(s * row, e * row));
}
function catRef(xs: Nd[], dim: number): Nd {
  const d = normDim(dim, xs[0].shape.length);
  const shape = xs[0].shape.slice();
  shape[d] = sumv(xs.map((x) => x.shape[d]));
  const data: number[] = [];
  for (let flat = 0; flat < numel(shape); flat++) {
    const idx = unravel(flat, shape);
    let k = 0;
    let r = idx[d];
    while (r >= xs[k].shape[d]) r -= xs[k++].shape[d];
    const src = idx.slice();
    src[d] = r;
    data.push(xs[k].data[ravel(src, xs[k].shape)]);
  }
  return nd(shape, data);
}
function crossEntropyRef(logits: Nd, targets: number[]): Nd {
  const [B] = logits.shape;
  const lp = alongDim(logits, 1, logSoftmaxv);
  const V = logits.shape[1];
  let s = 0;
  for (let b = 0; b < B; b++) s -= lp.data[b * V + targets[b]];
  return nd([], [s / B]);
}

// ---------------------------------------------------------------------------------------------
// The checker

type Kind = "randn" | "positive" | "away0";
interface Spec {
  shape: number[];
  /** randn (default); positive: |randn| + 0.5; away0: randn with |x| >= 0.1 (kinks at 0). */
  kind?: Kind;
  /** scale applied to randn */
  scale?: number;
  /** false: an input that does not require grad (default true) */
  grad?: boolean;
}

let seed = 1000;

function draw(g: Generator, s: Spec): Float32Array {
  const v = randn(s.shape, { generator: g }).storage;
  const scale = s.scale ?? 1;
  return v.map((x) => {
    const y = x * scale;
    if (s.kind === "positive") return Math.abs(y) + 0.5;
    if (s.kind === "away0") return Math.abs(y) < 0.1 ? Math.sign(y || 1) * (0.1 + Math.abs(y)) : y;
    return y;
  });
}

function gradcheck(
  name: string,
  specs: Spec[],
  tsFn: (xs: Tensor[]) => Tensor,
  refFn: (xs: Nd[]) => Nd,
): void {
  const mySeed = seed++;
  test(name, () => {
    const g = new Generator().manualSeed(mySeed);
    const vals = specs.map((s) => draw(g, s));
    const xs = specs.map((s, i) => {
      const t = tensor(vals[i], { shape: s.shape });
      return s.grad === false ? t : t.requiresGrad_();
    });
    const out = tsFn(xs);
    const w = randn(out.shape, { generator: g });
    out.backward(w);

    // The reference must compute the same function as the TS forward (float32 vs float64).
    const ref0 = refFn(vals.map((v, i) => nd(specs[i].shape.slice(), Array.from(v))));
    assert.deepEqual(ref0.shape, out.shape, `${name}: reference output shape`);
    ref0.data.forEach((r, j) => {
      const o = out.storage[j];
      assert.ok(
        Math.abs(o - r) <= REF_ATOL + REF_RTOL * Math.abs(r),
        `${name}: reference forward disagrees at [${j}]: ts ${o} vs float64 ${r}`,
      );
    });

    const loss = (inputs: Nd[]): number => {
      const y = refFn(inputs);
      let s = 0;
      for (let j = 0; j < y.data.length; j++) s += y.data[j] * w.storage[j];
      return s;
    };
    const bad: string[] = [];
    let checked = 0;
    specs.forEach((s, i) => {
      if (s.grad === false) {
        assert.equal(xs[i].grad, null, `${name}: input ${i} does not require grad but got one`);
        return;
      }
      const grad = xs[i].grad;
      assert.ok(grad, `${name}: input ${i} got no gradient`);
      assert.deepEqual(grad.shape, s.shape, `${name}: grad ${i} shape`);
      const base = vals.map((v, k) => nd(specs[k].shape.slice(), Array.from(v)));
      for (let e = 0; e < vals[i].length; e++) {
        const x0 = base[i].data[e];
        base[i].data[e] = x0 + H;
        const lp = loss(base);
        base[i].data[e] = x0 - H;
        const lm = loss(base);
        base[i].data[e] = x0;
        const numeric = (lp - lm) / (2 * H);
        const analytic = grad.storage[e];
        checked++;
        if (!(Math.abs(analytic - numeric) <= GRAD_ATOL + GRAD_RTOL * Math.abs(numeric))) {
          bad.push(`input ${i}[${e}]: analytic ${analytic} numeric ${numeric}`);
        }
      }
    });
    assert.ok(checked > 0, `${name}: nothing was checked`);
    assert.ok(
      bad.length === 0,
      `${name}: ${bad.length}/${checked} gradient entries outside rtol=${GRAD_RTOL} atol=${GRAD_ATOL}: ${bad.slice(0, 8).join("; ")}`,
    );
  });
}

// ---------------------------------------------------------------------------------------------
// Elementwise binary, with broadcasting

const binTs = {
  add: (a: Tensor, b: Tensor | number) => a.add(b),
  sub: (a: Tensor, b: Tensor | number) => a.sub(b),
  mul: (a: Tensor, b: Tensor | number) => a.mul(b),
  div: (a: Tensor, b: Tensor | number) => a.div(b),
};
const binRef = {
  add: (a: number, b: number) => a + b,
  sub: (a: number, b: number) => a - b,
  mul: (a: number, b: number) => a * b,
  div: (a: number, b: number) => a / b,
};
const bcastShapes: [string, number[], number[]][] = [
  ["same", [3, 4], [3, 4]],
  ["(3,4)op(4,)", [3, 4], [4]],
  ["(3,4)op(3,1)", [3, 4], [3, 1]],
  ["(2,1,4)op(3,1)", [2, 1, 4], [3, 1]],
  ["(4,)op(3,4)", [4], [3, 4]],
  ["(3,4)op()", [3, 4], []],
  ["()op(3,4)", [], [3, 4]],
];
for (const op of ["add", "sub", "mul", "div"] as const) {
  for (const [label, sa, sb] of bcastShapes) {
    // keep denominators away from 0 so the function is smooth at the scale of h
    const specB: Spec = op === "div" ? { shape: sb, kind: "positive" } : { shape: sb };
    gradcheck(
      `${op} ${label}`,
      [{ shape: sa }, specB],
      ([a, b]) => binTs[op](a, b),
      ([a, b]) => bmap([a, b], binRef[op]),
    );
  }
  gradcheck(
    `${op} number operand`,
    [{ shape: [3, 4] }],
    ([a]) => binTs[op](a, 2.5),
    ([a]) => map(a, (v) => binRef[op](v, Math.fround(2.5))),
  );
  gradcheck(
    `${op} rhs without grad`,
    [{ shape: [3, 4] }, { shape: [4], kind: "positive", grad: false }],
    ([a, b]) => binTs[op](a, b),
    ([a, b]) => bmap([a, b], binRef[op]),
  );
}
gradcheck(
  "rsub 1 - x",
  [{ shape: [3, 4] }],
  ([a]) => a.rsub(1),
  ([a]) => map(a, (v) => 1 - v),
);
for (const p of [2, 3, -1, 0.5, 1.5, -0.5]) {
  const kind: Kind = Number.isInteger(p) && p > 0 ? "randn" : "positive";
  gradcheck(
    `pow number exponent ${p}`,
    [{ shape: [3, 4], kind }],
    ([a]) => a.pow(p),
    ([a]) => map(a, (v) => v ** p),
  );
}
gradcheck(
  "pow tensor exponent",
  [{ shape: [3, 4], kind: "positive" }, { shape: [3, 4] }],
  ([a, b]) => a.pow(b),
  ([a, b]) => bmap([a, b], (x, y) => x ** y),
);
gradcheck(
  "pow tensor exponent broadcast (3,4)**(4,)",
  [{ shape: [3, 4], kind: "positive" }, { shape: [4] }],
  ([a, b]) => a.pow(b),
  ([a, b]) => bmap([a, b], (x, y) => x ** y),
);
for (const [op, f] of [
  ["maximum", Math.max],
  ["minimum", Math.min],
] as const) {
  gradcheck(
    `${op} same shape`,
    [{ shape: [3, 4] }, { shape: [3, 4] }],
    ([a, b]) => (op === "maximum" ? a.maximum(b) : a.minimum(b)),
    ([a, b]) => bmap([a, b], f),
  );
  gradcheck(
    `${op} broadcast (3,4),(4,)`,
    [{ shape: [3, 4] }, { shape: [4] }],
    ([a, b]) => (op === "maximum" ? a.maximum(b) : a.minimum(b)),
    ([a, b]) => bmap([a, b], f),
  );
  gradcheck(
    `${op} number 0`,
    [{ shape: [3, 4], kind: "away0" }],
    ([a]) => (op === "maximum" ? a.maximum(0) : a.minimum(0)),
    ([a]) => map(a, (v) => f(v, 0)),
  );
}

// ---------------------------------------------------------------------------------------------
// Elementwise unary

const unary: [string, Kind, (t: Tensor) => Tensor, (v: number) => number][] = [
  ["neg", "randn", (t) => t.neg(), (v) => -v],
  ["exp", "randn", (t) => t.exp(), Math.exp],
  ["log", "positive", (t) => t.log(), Math.log],
  ["tanh", "randn", (t) => t.tanh(), Math.tanh],
  ["sqrt", "positive", (t) => t.sqrt(), Math.sqrt],
  ["abs", "away0", (t) => t.abs(), Math.abs],
  ["relu", "away0", (t) => t.relu(), (v) => Math.max(v, 0)],
  ["sigmoid", "randn", (t) => t.sigmoid(), (v) => 1 / (1 + Math.exp(-v))],
];
for (const [op, kind, tsF, refF] of unary) {
  gradcheck(
    op,
    [{ shape: [3, 4], kind, scale: op === "tanh" ? 2 : 1 }],
    ([a]) => tsF(a),
    ([a]) => map(a, refF),
  );
}

// ---------------------------------------------------------------------------------------------
// Reductions

for (const dim of [undefined, 0, 1, 2, -1]) {
  for (const keepdim of dim === undefined ? [false] : [false, true]) {
    const label = `dim=${dim ?? "all"} keepdim=${keepdim}`;
    gradcheck(
      `sum ${label}`,
      [{ shape: [2, 3, 4] }],
      ([a]) => a.sum(dim, { keepdim }),
      ([a]) => reduce(a, dim, keepdim, sumv),
    );
    gradcheck(
      `mean ${label}`,
      [{ shape: [2, 3, 4] }],
      ([a]) => a.mean(dim, { keepdim }),
      ([a]) => reduce(a, dim, keepdim, meanv),
    );
    for (const unbiased of [true, false]) {
      gradcheck(
        `var ${label} unbiased=${unbiased}`,
        [{ shape: [2, 3, 4] }],
        ([a]) => a.var(dim, { keepdim, unbiased }),
        ([a]) => reduce(a, dim, keepdim, (v) => varv(v, unbiased)),
      );
      gradcheck(
        `std ${label} unbiased=${unbiased}`,
        [{ shape: [2, 3, 4] }],
        ([a]) => a.std(dim, { keepdim, unbiased }),
        ([a]) => reduce(a, dim, keepdim, (v) => Math.sqrt(varv(v, unbiased))),
      );
    }
  }
}
for (const dim of [0, 1, -1]) {
  for (const keepdim of [false, true]) {
    gradcheck(
      `max(dim=${dim}) values keepdim=${keepdim}`,
      [{ shape: [3, 5] }],
      ([a]) => a.max(dim, { keepdim }).values,
      ([a]) => reduce(a, dim, keepdim, (v) => Math.max(...v)),
    );
  }
}
gradcheck(
  "max() of all",
  [{ shape: [3, 5] }],
  ([a]) => a.max(),
  ([a]) => nd([], [Math.max(...a.data)]),
);
gradcheck(
  "min() of all",
  [{ shape: [3, 5] }],
  ([a]) => a.min(),
  ([a]) => nd([], [Math.min(...a.data)]),
);

// ---------------------------------------------------------------------------------------------
// Views, permutations, indexing, cat, where

gradcheck(
  "view (3,4)->(2,6)",
  [{ shape: [3, 4] }],
  ([a]) => a.view(2, 6),
  ([a]) => reshapeRef(a, [2, 6]),
);
gradcheck(
  "reshape (2,3,4)->(4,-1)",
  [{ shape: [2, 3, 4] }],
  ([a]) => a.reshape(4, -1),
  ([a]) => reshapeRef(a, [4, 6]),
);
gradcheck(
  "flatten(1)",
  [{ shape: [2, 3, 4] }],
  ([a]) => a.flatten(1),
  ([a]) => reshapeRef(a, [2, 12]),
);
gradcheck(
  "unsqueeze(1) then squeeze()",
  [{ shape: [3, 4] }],
  ([a]) => a.unsqueeze(1).mul(a.unsqueeze(1)).squeeze(),
  ([a]) => map(a, (v) => v * v),
);
gradcheck(
  "transpose(0,2)",
  [{ shape: [2, 3, 4] }],
  ([a]) => a.transpose(0, 2),
  ([a]) => permuteRef(a, [2, 1, 0]),
);
gradcheck(
  "permute(2,0,1)",
  [{ shape: [2, 3, 4] }],
  ([a]) => a.permute(2, 0, 1),
  ([a]) => permuteRef(a, [2, 0, 1]),
);
gradcheck(
  ".T",
  [{ shape: [3, 5] }],
  ([a]) => a.T,
  ([a]) => permuteRef(a, [1, 0]),
);
gradcheck(
  "clone",
  [{ shape: [3, 4] }],
  ([a]) => a.clone().mul(a),
  ([a]) => map(a, (v) => v * v),
);
{
  const ix = [1, 5, 1, 0, 26, 5, 5, 5, 3, 26, 0, 1];
  gradcheck(
    "index (27,10) by (4,3) with repeated indices",
    [{ shape: [27, 10] }],
    ([c]) => c.index(tensor(ix, { dtype: "int64", shape: [4, 3] })),
    ([c]) => indexRef(c, ix, [4, 3]),
  );
  const neg = [-1, 0, 2, -1, 5];
  gradcheck(
    "index with negative indices",
    [{ shape: [6, 3] }],
    ([c]) => c.index(tensor(neg, { dtype: "int64" })),
    ([c]) => indexRef(c, neg, [5]),
  );
}
{
  const rows = [0, 0, 2, 2, 2, 4, 1];
  const cols = [1, 1, 3, 3, 0, 2, 1];
  gradcheck(
    "pick with repeated pairs",
    [{ shape: [5, 4] }],
    ([x]) => x.pick(tensor(rows, { dtype: "int64" }), tensor(cols, { dtype: "int64" })),
    ([x]) => pickRef(x, rows, cols),
  );
}
gradcheck(
  "slice [1:4] and [-2:]",
  [{ shape: [5, 3] }],
  ([x]) => cat([x.slice(1, 4), x.slice(-2)], 0),
  ([x]) => catRef([sliceRef(x, 1, 4), sliceRef(x, 3, 5)], 0),
);
gradcheck(
  "cat dim 0",
  [{ shape: [2, 3] }, { shape: [4, 3] }, { shape: [1, 3] }],
  (xs) => cat(xs, 0),
  (xs) => catRef(xs, 0),
);
gradcheck(
  "cat dim 1",
  [{ shape: [2, 3] }, { shape: [2, 1] }, { shape: [2, 4] }],
  (xs) => cat(xs, 1),
  (xs) => catRef(xs, 1),
);
gradcheck(
  "cat dim -1 (3-d), one input without grad",
  [{ shape: [2, 3, 2] }, { shape: [2, 3, 1], grad: false }],
  (xs) => cat(xs, -1),
  (xs) => catRef(xs, -1),
);
gradcheck(
  "where with broadcast b",
  [{ shape: [3, 4], grad: false }, { shape: [3, 4] }, { shape: [4] }],
  ([c, a, b]) => where(c.gt(0), a, b),
  // the condition input is never perturbed (it does not require grad)
  ([c, a, b]) => bmap([c, a, b], (k, x, y) => (k > 0 ? x : y)),
);

// ---------------------------------------------------------------------------------------------
// matmul (including a tensor used twice)

gradcheck(
  "matmul (5,7)@(7,3)",
  [{ shape: [5, 7] }, { shape: [7, 3] }],
  ([a, b]) => a.matmul(b),
  ([a, b]) => matmulRef(a, b),
);
gradcheck(
  "matmul (4,6)@(6,)",
  [{ shape: [4, 6] }, { shape: [6] }],
  ([a, b]) => a.matmul(b),
  ([a, b]) => matmulRef(a, b),
);
gradcheck(
  "matmul x@x (tensor used twice)",
  [{ shape: [4, 4] }],
  ([x]) => x.matmul(x),
  ([x]) => matmulRef(x, x),
);
gradcheck(
  "x*x + x (tensor used three times)",
  [{ shape: [3, 4] }],
  ([x]) => x.mul(x).add(x),
  ([x]) => map(x, (v) => v * v + v),
);
gradcheck(
  "x + x.T",
  [{ shape: [4, 4] }],
  ([x]) => x.add(x.T),
  ([x]) => bmap([x, permuteRef(x, [1, 0])], (a, b) => a + b),
);
{
  let frozen: number[] = [];
  gradcheck(
    "x.detach() * x",
    [{ shape: [3, 4] }],
    ([x]) => {
      frozen = Array.from(x.storage);
      return x.detach().mul(x);
    },
    ([x]) =>
      nd(
        x.shape,
        x.data.map((v, i) => frozen[i] * v),
      ),
  );
}

// ---------------------------------------------------------------------------------------------
// softmax, log-softmax, cross-entropy

for (const [shape, dims] of [
  [
    [3, 5],
    [0, 1, -1],
  ],
  [[2, 3, 4], [1]],
] as [number[], number[]][]) {
  for (const dim of dims) {
    gradcheck(
      `softmax (${shape}) dim=${dim}`,
      [{ shape }],
      ([x]) => x.softmax(dim),
      ([x]) => alongDim(x, dim, softmaxv),
    );
    gradcheck(
      `logSoftmax (${shape}) dim=${dim}`,
      [{ shape }],
      ([x]) => x.logSoftmax(dim),
      ([x]) => alongDim(x, dim, logSoftmaxv),
    );
  }
}
{
  const Y = [1, 26, 0, 13, 1, 1, 5, 7];
  gradcheck(
    "crossEntropy (8,27)",
    [{ shape: [8, 27] }],
    ([x]) => crossEntropy(x, tensor(Y, { dtype: "int64" })),
    ([x]) => crossEntropyRef(x, Y),
  );
  gradcheck(
    "crossEntropy confident logits (scale 10)",
    [{ shape: [8, 27], scale: 10 }],
    ([x]) => crossEntropy(x, tensor(Y, { dtype: "int64" })),
    ([x]) => crossEntropyRef(x, Y),
  );
  gradcheck(
    "logSoftmax + pick + mean == cross-entropy",
    [{ shape: [8, 27] }],
    ([x]) =>
      x
        .logSoftmax(1)
        .pick(arange(8), tensor(Y, { dtype: "int64" }))
        .mean()
        .neg(),
    ([x]) => crossEntropyRef(x, Y),
  );
}

// ---------------------------------------------------------------------------------------------
// The lecture's graph: embedding -> view -> matmul -> batchnorm -> tanh -> matmul + bias -> CE

{
  const B = 8;
  const X = [0, 0, 5, 0, 5, 13, 5, 13, 13, 13, 13, 1, 13, 1, 1, 0, 0, 0, 0, 0, 26, 0, 26, 9];
  const Y = [5, 13, 13, 1, 0, 26, 9, 1];
  const leaves: Spec[] = [
    { shape: [27, 10] }, // C
    { shape: [30, 20], scale: 0.3 }, // W1
    { shape: [1, 20], scale: 0.1 }, // bngain offset (1 + ...)
    { shape: [1, 20], scale: 0.1 }, // bnbias
    { shape: [20, 27], scale: 0.1 }, // W2
    { shape: [27], scale: 0.1 }, // b2
  ];
  for (const variant of ["std + crossEntropy", "var+eps + logSoftmax/pick/mean"] as const) {
    gradcheck(
      `lecture graph (${variant}), every leaf`,
      leaves,
      ([C, W1, g, b, W2, b2]) => {
        const emb = C.index(tensor(X, { dtype: "int64", shape: [B, 3] }));
        const hpre = emb.view(B, 30).matmul(W1);
        const mean = hpre.mean(0, { keepdim: true });
        const denom =
          variant === "std + crossEntropy"
            ? hpre.std(0, { keepdim: true })
            : hpre.var(0, { keepdim: true, unbiased: true }).add(1e-5).sqrt();
        const h = g.add(1).mul(hpre.sub(mean).div(denom)).add(b).tanh();
        const logits = h.matmul(W2).add(b2);
        const y = tensor(Y, { dtype: "int64" });
        return variant === "std + crossEntropy"
          ? crossEntropy(logits, y)
          : logits.logSoftmax(1).pick(arange(B), y).mean().neg();
      },
      ([C, W1, g, b, W2, b2]) => {
        const emb = reshapeRef(indexRef(C, X, [B, 3]), [B, 30]);
        const hpre = matmulRef(emb, W1);
        const mean = reduce(hpre, 0, true, meanv);
        const denom =
          variant === "std + crossEntropy"
            ? reduce(hpre, 0, true, (v) => Math.sqrt(varv(v, true)))
            : reduce(hpre, 0, true, (v) => Math.sqrt(varv(v, true) + 1e-5));
        const norm = bmap([hpre, mean, denom], (x, m, s) => (x - m) / s);
        const h = bmap([g, norm, b], (gi, n, bi) => Math.tanh((1 + gi) * n + bi));
        const logits = bmap([matmulRef(h, W2), b2], (a, c) => a + c);
        return crossEntropyRef(logits, Y);
      },
    );
  }
}
