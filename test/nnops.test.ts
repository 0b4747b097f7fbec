/**
 * makemore.py's ops and inits (src/tensor/nnops.ts, src/nn/torchnn.ts) three ways:
 *  1. the init draws against PyTorch 1.13 bit for bit (fixtures/torch-makemore-ops.json "init",
 *     from scripts/torch/makemore_ops.py): uniform_, nn.Linear's kaiming_uniform_ + bias,
 *     nn.Embedding's normal_, and the generator position after them;
 *  2. every op's forward and gradients against PyTorch ("cases");
 *  3. every primitive's backward against float64 central differences of an independent
 *     plain-JS float64 forward (no code shared with src/tensor).
 *
 * Tolerances, |got - want| <= atol + rtol |want|: forward rtol 1e-5 / atol 1e-6 (a few float32
 * ulps: TS evaluates elementwise math in double and rounds once, torch rounds each float32 step and
 * sums in other orders); gradients vs torch rtol 1e-4 / atol 1e-5 (backward chains several float32
 * roundings); central differences h = 1e-6 in float64, rtol 1e-3 / atol 1e-4 against the float32
 * analytic gradient (as test/gradcheck.test.ts argues).
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { Embedding, TorchLinear } from "../src/nn/index.ts";
import { Generator } from "../src/random/index.ts";
import {
  attentionMix,
  attentionScores,
  attentionWeights,
  cat,
  causalSoftmax,
  crossEntropyIgnore,
  type DType,
  expand,
  gelu,
  layerNorm,
  linearT,
  maskedFill,
  matmul,
  matmulT,
  narrow,
  rand,
  randn,
  select,
  split,
  stack,
  Tensor,
  tril,
  uniform_,
  zeros,
} from "../src/tensor/index.ts";

type Value = number | "inf" | "-inf" | "nan";
interface TJ {
  shape: number[];
  dtype: string;
  values: Value[];
}
interface Case {
  name: string;
  kwargs: Record<string, unknown>;
  inputs: (TJ & { requires_grad: boolean })[];
  upstream: TJ;
  output: TJ;
  grads: (TJ | null)[];
}
const fx = JSON.parse(
  readFileSync(new URL("../fixtures/torch-makemore-ops.json", import.meta.url), "utf8"),
) as {
  init: {
    uniform: { from: number; to: number; values: TJ }[];
    linear: { weight: TJ; bias: TJ };
    linear_nobias: { weight: TJ };
    linear_big_sums: { weight_sum: number; bias_sum: number; weight_first: TJ; bias_last: TJ };
    embedding: { weight: TJ };
    embedding_small: { weight: TJ };
    after: TJ;
  };
  cases: Case[];
};

const dec = (v: Value): number =>
  v === "inf"
    ? Number.POSITIVE_INFINITY
    : v === "-inf"
      ? Number.NEGATIVE_INFINITY
      : v === "nan"
        ? Number.NaN
        : v;
const vals = (j: TJ): number[] => j.values.map(dec);
const build = (j: TJ): Tensor =>
  new Tensor(Float32Array.from(vals(j)), j.shape, (j.dtype === "float32" ? "float32" : "int64") as DType);

function close(got: ArrayLike<number>, want: number[], rtol: number, atol: number, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const g = got[i];
    const w = want[i];
    if (Number.isNaN(w) || !Number.isFinite(w)) {
      assert.ok(Object.is(g, w) || (Number.isNaN(g) && Number.isNaN(w)), `${what}[${i}]: ${g} vs ${w}`);
      continue;
    }
    assert.ok(Math.abs(g - w) <= atol + rtol * Math.abs(w), `${what}[${i}]: got ${g}, want ${w}`);
  }
}
const bitsEqual = (got: Float32Array, want: TJ, what: string): void =>
  assert.deepEqual(Array.from(got), vals(want), `${what}: not bit-identical to PyTorch`);

// ---------------------------------------------------------------------------------------------
// 1. Init draws, bit for bit

test("init: uniform_, nn.Linear, nn.Embedding draw PyTorch's bits at seed 3407", () => {
  const g = new Generator().manualSeed(3407);
  for (const u of fx.init.uniform) {
    const t = zeros(u.values.shape);
    uniform_(t, u.from, u.to, { generator: g });
    bitsEqual(t.storage, u.values, `uniform_(${u.from}, ${u.to})`);
  }
  const lin = new TorchLinear(7, 5, { generator: g });
  assert.deepEqual(lin.weight.shape, [5, 7]);
  bitsEqual(lin.weight.storage, fx.init.linear.weight, "Linear(7, 5).weight");
  bitsEqual(lin.bias!.storage, fx.init.linear.bias, "Linear(7, 5).bias");
  const nb = new TorchLinear(3, 4, { generator: g, bias: false });
  assert.equal(nb.bias, null);
  bitsEqual(nb.weight.storage, fx.init.linear_nobias.weight, "Linear(3, 4, bias=False).weight");
  const big = new TorchLinear(64, 192, { generator: g });
  const s = fx.init.linear_big_sums;
  bitsEqual(big.weight.storage.subarray(0, 8), s.weight_first, "Linear(64, 192).weight[0, :8]");
  bitsEqual(big.bias!.storage.subarray(188), s.bias_last, "Linear(64, 192).bias[-4:]");
  const sum = (x: Float32Array) => x.reduce((a, v) => a + v, 0);
  assert.ok(Math.abs(sum(big.weight.storage) - s.weight_sum) < 1e-9, "Linear(64, 192).weight sum");
  assert.ok(Math.abs(sum(big.bias!.storage) - s.bias_sum) < 1e-12, "Linear(64, 192).bias sum");
  bitsEqual(
    new Embedding(5, 4, { generator: g }).weight.storage,
    fx.init.embedding.weight,
    "Embedding(5, 4)",
  );
  bitsEqual(
    new Embedding(3, 3, { generator: g }).weight.storage,
    fx.init.embedding_small.weight,
    "Embedding(3, 3)",
  );
  bitsEqual(rand([3], { generator: g }).storage, fx.init.after, "torch.rand(3) afterwards");
});

// ---------------------------------------------------------------------------------------------
// 2. Against PyTorch

type OpFn = (inputs: Tensor[], kw: Record<string, unknown>) => Tensor;
const OPS: Record<string, OpFn> = {
  linearT: ([x, w, b]) => linearT(x, w, b),
  linearT_nobias: ([x, w]) => linearT(x, w),
  matmul_4d: ([a, b]) => matmul(a, b),
  matmul_3d: ([a, b]) => matmul(a, b),
  matmul_broadcast: ([a, b]) => matmul(a, b),
  layerNorm: ([x, w, b]) => layerNorm(x, w, b, 1e-5),
  layerNorm_offset: ([x, w, b]) => layerNorm(x, w, b, 1e-5),
  gelu: ([x]) => gelu(x),
  causal_softmax: ([a]) => maskedFill(a, tril(4).eq(0), Number.NEGATIVE_INFINITY).softmax(-1),
  softmax_dim1: ([a]) => a.softmax(1),
  bow_average: ([x]) => {
    const att = maskedFill(zeros([2, 4, 4]), tril(4).view(1, 4, 4).eq(0), Number.NEGATIVE_INFINITY).softmax(
      -1,
    );
    return matmul(att, x);
  },
  narrow: ([x], kw) => narrow(x, kw.dim as number, kw.start as number, kw.length as number),
  split_last: ([x], kw) => stack(split(x, kw.size as number, kw.dim as number), 0),
  select_time: ([x], kw) => select(x, kw.dim as number, kw.index as number),
  stack1: (xs, kw) => stack(xs, kw.dim as number),
  expand: ([x], kw) => expand(x, kw.shape as number[]),
  crossEntropy_ignore: ([x, t], kw) => crossEntropyIgnore(x, t, kw.ignoreIndex as number),
  rnn_cell: ([x, h, w, b]) => linearT(cat([x, h], 1), w, b).tanh(),
  gru_blend: ([z, h, hb]) => z.sigmoid().rsub(1).mul(h).add(z.sigmoid().mul(hb)),
};

for (const c of fx.cases) {
  test(`torch: ${c.name}`, () => {
    const fn = OPS[c.name];
    assert.ok(fn, `no TS op for fixture case ${c.name}`);
    const inputs = c.inputs.map((j) => {
      const t = build(j);
      return j.requires_grad ? t.requiresGrad_() : t;
    });
    const out = fn(inputs, c.kwargs);
    assert.deepEqual(out.shape, c.output.shape, "output shape");
    close(out.storage, vals(c.output), 1e-5, 1e-6, "forward");
    out.backward(build(c.upstream));
    c.grads.forEach((gj, i) => {
      if (!gj) return;
      assert.ok(inputs[i].grad, `input ${i} got no gradient`);
      close(inputs[i].grad!.storage, vals(gj), 1e-4, 1e-5, `grad of input ${i}`);
    });
  });
}

// The fused forms the models run: the same PyTorch cases through them, and bit for bit the
// composed ops they replace (forward and every gradient), at the Transformer's own shapes too.
const FUSED: Record<string, (xs: Tensor[]) => Tensor> = {
  causal_softmax: ([a]) => causalSoftmax(a),
  matmul_4d: ([a, b]) => matmulT(a, b.transpose(-2, -1)),
  matmul_3d: ([a, b]) => matmulT(a, b.transpose(-2, -1)),
  matmul_broadcast: ([a, b]) => matmulT(a, b.transpose(-2, -1)),
  bow_average: ([x]) => matmul(causalSoftmax(zeros([2, 4, 4])), x),
};
for (const c of fx.cases.filter((k) => k.name in FUSED)) {
  test(`torch: ${c.name} through causalSoftmax / matmulT`, () => {
    const inputs = c.inputs.map((j) => build(j).requiresGrad_());
    const out = FUSED[c.name](inputs);
    assert.deepEqual(out.shape, c.output.shape, "output shape");
    close(out.storage, vals(c.output), 1e-5, 1e-6, "forward");
    out.backward(build(c.upstream));
    c.grads.forEach((gj, i) => {
      if (gj) close(inputs[i].grad!.storage, vals(gj), 1e-4, 1e-5, `grad of input ${i}`);
    });
  });
}

test("matmulT(q, k) is q @ k.transpose(-2, -1) bit for bit; causalSoftmax is the masked softmax's float32", () => {
  const g = new Generator().manualSeed(5);
  for (const [B, nh, T, hs] of [
    [2, 3, 5, 4],
    [32, 4, 16, 16],
  ]) {
    const q = randn([B, nh, T, hs], { generator: g }).requiresGrad_();
    const k = randn([B, nh, T, hs], { generator: g }).requiresGrad_();
    const up = randn([B, nh, T, T], { generator: g });
    const scale = 1 / Math.sqrt(hs);
    const what = `(${B}, ${nh}, ${T}, ${hs})`;
    const grads = () => {
      const out = [q.grad!.storage.slice(), k.grad!.storage.slice()];
      q.grad = null;
      k.grad = null;
      return out;
    };
    // the products: the same gemm sums with or without the transposed copy
    const sT = matmulT(q, k);
    sT.backward(up);
    const [gqT, gkT] = grads();
    const sC = matmul(q, k.transpose(-2, -1));
    sC.backward(up);
    const [gqC, gkC] = grads();
    assert.deepEqual(Array.from(sT.storage), Array.from(sC.storage), `${what} q @ k^T`);
    assert.deepEqual(Array.from(gqT), Array.from(gqC), `${what} dq`);
    assert.deepEqual(Array.from(gkT), Array.from(gkC), `${what} dk`);
    // the weights: float32 lanes (expf within 1 ulp, float32 sums) against the float64-exp ops
    const fused = causalSoftmax(matmulT(q, k), scale);
    fused.backward(up);
    const [gq, gk] = grads();
    const att = matmul(q, k.transpose(-2, -1)).mul(scale);
    const composed = maskedFill(att, tril(T).eq(0), Number.NEGATIVE_INFINITY).softmax(-1);
    composed.backward(up);
    const [gq2, gk2] = grads();
    close(fused.storage, Array.from(composed.storage), 2e-6, 1e-7, `${what} weights`);
    close(gq, Array.from(gq2), 1e-4, 1e-5, `${what} dq through the weights`);
    close(gk, Array.from(gk2), 1e-4, 1e-5, `${what} dk through the weights`);
    // masked weights are exactly 0
    for (let r = 0; r < B * nh * T; r++)
      for (let j = (r % T) + 1; j < T; j++) assert.equal(fused.storage[r * T + j], 0, `${what} masked`);
  }
});

test("attentionScores / attentionWeights / attentionMix read the heads in place: the split, transposes and matmuls, bit for bit", () => {
  const g = new Generator().manualSeed(6);
  for (const [B, T, nh, hs] of [
    [2, 5, 3, 4],
    [32, 16, 4, 16],
  ]) {
    const C = nh * hs;
    const qkv = randn([B, T, 3 * C], { generator: g }).requiresGrad_();
    const up = randn([B, T, C], { generator: g });
    const upAtt = randn([B, nh, T, T], { generator: g });
    const run = (way: "weights" | "scores" | "composed") => {
      qkv.grad = null;
      let att: Tensor;
      let y: Tensor;
      if (way !== "composed") {
        att =
          way === "weights" ? attentionWeights(qkv, nh, 0.5) : causalSoftmax(attentionScores(qkv, nh), 0.5);
        y = attentionMix(att, qkv, nh);
      } else {
        const [q, k, v] = split(qkv, C, 2).map((t) => t.view(B, T, nh, hs).transpose(1, 2));
        att = causalSoftmax(matmul(q, k.transpose(-2, -1)), 0.5);
        y = matmul(att, v).transpose(1, 2).reshape(B, T, C);
      }
      att.retainGrad();
      // a loss reading both outputs, so datt gets a direct term as well as the one through y
      y.mul(up).sum().add(att.mul(upAtt).sum()).backward();
      return [y.storage, att.storage, att.grad!.storage, qkv.grad!.storage].map((a) => Array.from(a));
    };
    const composed = run("composed");
    for (const way of ["weights", "scores"] as const) {
      const fused = run(way);
      ["y", "att", "datt", "dqkv"].forEach((what, i) =>
        assert.deepEqual(fused[i], composed[i], `${way} (${B}, ${T}, ${nh}, ${hs}) ${what}`),
      );
    }
  }
});

// ---------------------------------------------------------------------------------------------
// 3. Float64 central differences against independent references

/** Float64 reference forwards on flat row-major arrays. */
const REF = {
  linearT(x: number[], w: number[], b: number[], N: number, I: number, O: number): number[] {
    const y: number[] = [];
    for (let n = 0; n < N; n++)
      for (let o = 0; o < O; o++) {
        let s = b[o];
        for (let i = 0; i < I; i++) s += x[n * I + i] * w[o * I + i];
        y.push(s);
      }
    return y;
  },
  bmm(a: number[], b: number[], B: number, m: number, k: number, n: number): number[] {
    const y: number[] = [];
    for (let p = 0; p < B; p++)
      for (let i = 0; i < m; i++)
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let q = 0; q < k; q++) s += a[p * m * k + i * k + q] * b[p * k * n + q * n + j];
          y.push(s);
        }
    return y;
  },
  layerNorm(x: number[], w: number[], b: number[], N: number, C: number): number[] {
    const y: number[] = [];
    for (let r = 0; r < N; r++) {
      const row = x.slice(r * C, r * C + C);
      const mu = row.reduce((s, v) => s + v, 0) / C;
      const v = row.reduce((s, t) => s + (t - mu) ** 2, 0) / C;
      row.forEach((t, c) => y.push(((t - mu) / Math.sqrt(v + 1e-5)) * w[c] + b[c]));
    }
    return y;
  },
  gelu: (x: number[]): number[] =>
    x.map((v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)))),
  causalSoftmax(x: number[], R: number, T: number): number[] {
    const y: number[] = [];
    for (let r = 0; r < R; r++) {
      const i = r % T; // row within the (T, T) block: columns 0..i visible
      const row = x.slice(r * T, r * T + T);
      const mx = Math.max(...row.slice(0, i + 1));
      const e = row.map((v, j) => (j <= i ? Math.exp(v - mx) : 0));
      const s = e.reduce((a, v) => a + v, 0);
      y.push(...e.map((v) => v / s));
    }
    return y;
  },
  crossEntropy(x: number[], t: number[], V: number, ignore: number): number[] {
    let s = 0;
    let m = 0;
    t.forEach((tb, r) => {
      if (tb === ignore) return;
      const row = x.slice(r * V, r * V + V);
      const mx = Math.max(...row);
      s += mx + Math.log(row.reduce((a, v) => a + Math.exp(v - mx), 0)) - row[tb];
      m++;
    });
    return [s / m];
  },
};

/**
 * Check d sum(out * w) / d inputs from the TS backward against central differences of `ref`
 * evaluated in float64 at the same float32 input values.
 */
function gradcheck(
  name: string,
  inputs: Tensor[],
  op: (xs: Tensor[]) => Tensor,
  ref: (xs: number[][]) => number[],
): void {
  const g = new Generator().manualSeed(7);
  const leaves = inputs.map((t) => (t.dtype === "float32" ? t.requiresGrad_() : t));
  const out = op(leaves);
  const w = randn(out.shape, { generator: g });
  const base = leaves.map((t) => Array.from(t.storage));
  close(
    out.storage,
    ref(base).map((v) => Math.fround(v)),
    1e-4,
    1e-5,
    `${name}: float64 reference vs TS forward`,
  );
  out.backward(w);
  const L = (xs: number[][]) => ref(xs).reduce((s, v, i) => s + v * w.storage[i], 0);
  leaves.forEach((t, k) => {
    if (t.dtype !== "float32") return;
    const num: number[] = [];
    for (let i = 0; i < base[k].length; i++) {
      const plus = base.map((b) => b.slice());
      const minus = base.map((b) => b.slice());
      plus[k][i] += 1e-6;
      minus[k][i] -= 1e-6;
      num.push((L(plus) - L(minus)) / 2e-6);
    }
    close(t.grad!.storage, num, 1e-3, 1e-4, `${name}: d/d input ${k}`);
  });
}

test("central differences: linearT, batched matmul, layerNorm, gelu", () => {
  const g = new Generator().manualSeed(11);
  const r = (shape: number[], k = 1) => randn(shape, { generator: g }).mul(k);
  gradcheck(
    "linearT",
    [r([4, 5]), r([3, 5]), r([3])],
    ([x, w, b]) => linearT(x, w, b),
    ([x, w, b]) => REF.linearT(x, w, b, 4, 5, 3),
  );
  gradcheck(
    "matmul (2, 3, 4) @ (2, 4, 5)",
    [r([2, 3, 4]), r([2, 4, 5])],
    ([a, b]) => matmul(a, b),
    ([a, b]) => REF.bmm(a, b, 2, 3, 4, 5),
  );
  gradcheck(
    "layerNorm",
    [r([3, 6], 2), r([6]).add(1), r([6])],
    ([x, w, b]) => layerNorm(x, w, b),
    ([x, w, b]) => REF.layerNorm(x, w, b, 3, 6),
  );
  gradcheck(
    "gelu",
    [r([24], 3)],
    ([x]) => gelu(x),
    ([x]) => REF.gelu(x),
  );
});

test("central differences: causal masked softmax, narrow/expand/stack, ignoring cross-entropy", () => {
  const g = new Generator().manualSeed(12);
  const r = (shape: number[]) => randn(shape, { generator: g });
  gradcheck(
    "maskedFill + softmax",
    [r([2, 4, 4])],
    ([a]) => maskedFill(a, tril(4).eq(0), Number.NEGATIVE_INFINITY).softmax(-1),
    ([a]) => REF.causalSoftmax(a, 8, 4),
  );
  gradcheck(
    "causalSoftmax, scaled",
    [r([2, 4, 4])],
    ([a]) => causalSoftmax(a, 0.5),
    ([a]) =>
      REF.causalSoftmax(
        a.map((v) => v * 0.5),
        8,
        4,
      ),
  );
  gradcheck(
    "matmulT (2, 3, 4) @ (2, 5, 4)^T",
    [r([2, 3, 4]), r([2, 5, 4])],
    ([a, b]) => matmulT(a, b),
    ([a, b]) => {
      const bt: number[] = [];
      for (let p = 0; p < 2; p++)
        for (let q = 0; q < 4; q++) for (let j = 0; j < 5; j++) bt.push(b[p * 20 + j * 4 + q]);
      return REF.bmm(a, bt, 2, 3, 4, 5);
    },
  );
  gradcheck(
    "narrow + expand + stack",
    [r([2, 3, 4]), r([1, 2])],
    ([x, s]) => stack([narrow(x, 2, 1, 2), expand(s, [2, 3, -1])], 0),
    ([x, s]) => {
      const y: number[] = [];
      for (let i = 0; i < 6; i++) y.push(x[i * 4 + 1], x[i * 4 + 2]);
      for (let i = 0; i < 6; i++) y.push(s[0], s[1]);
      return y;
    },
  );
  const t = new Tensor(Float32Array.from([2, -1, 0, 4, -1]), [5], "int64");
  gradcheck(
    "crossEntropyIgnore",
    [r([5, 6]), t],
    ([x, tt]) => crossEntropyIgnore(x, tt, -1),
    ([x]) => REF.crossEntropy(x, [2, -1, 0, 4, -1], 6, -1),
  );
});

test("ops reject bad shapes with a clear message", () => {
  assert.throws(() => linearT(zeros([2, 3]), zeros([4, 5])), /does not fit weight/);
  assert.throws(() => matmul(zeros([2, 3, 4]), zeros([2, 5, 2])), /shape mismatch/);
  assert.throws(() => narrow(zeros([2, 3]), 1, 2, 2), /out of range/);
  assert.throws(() => expand(zeros([2, 3]), [4, 3]), /cannot expand/);
  assert.throws(
    () => crossEntropyIgnore(zeros([2, 3]), new Tensor(Float32Array.from([5, 0]), [2], "int64")),
    /out of range/,
  );
  assert.ok(
    Number.isNaN(
      crossEntropyIgnore(zeros([1, 3]), new Tensor(Float32Array.from([-1]), [1], "int64"), -1).item(),
    ),
  );
});
