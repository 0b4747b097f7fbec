/**
 * src/train/optim.ts against torch.optim (PyTorch 1.13), fixtures/torch-optim.json from
 * scripts/torch/optim_fixtures.py.
 *
 * "exact": the gradient is set by hand each step to p * c (one float32 multiply, the same bits on
 * both sides), so any difference comes from the update itself. AdamW and SGD must reproduce
 * PyTorch's parameters after 1, 10 and 100 steps bit for bit.
 * "model": AdamW with makemore.py's settings on a tanh layer, gradients from our autograd (float32,
 * summed in another order than torch): the 100 losses within 1e-6 and the final weights within
 * 1e-6 + 1e-5 relative.
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { Tensor, tensor } from "../src/tensor/index.ts";
import { AdamW, type Optimizer, SGD } from "../src/train/optim.ts";

interface Exact {
  name: string;
  kind: string;
  opts: Record<string, unknown>;
  after: Record<string, number[][]>;
}
const fx = JSON.parse(readFileSync(new URL("../fixtures/torch-optim.json", import.meta.url), "utf8")) as {
  p0: number[][];
  c: number[][];
  exact: Exact[];
  model: { X: number[]; T: number[]; W0: number[]; b0: number[]; losses: number[]; W: number[]; b: number[] };
};
const shapes = [[6, 5], [7]];

for (const e of fx.exact) {
  test(`${e.name}: parameters after 1, 10, 100 steps are PyTorch's bits`, () => {
    const ps = fx.p0.map((v, i) => new Tensor(Float32Array.from(v), shapes[i]).requiresGrad_());
    const cs = fx.c.map((v) => Float32Array.from(v));
    const opt: Optimizer = e.kind === "adamw" ? new AdamW(ps, e.opts) : new SGD(ps, e.opts);
    for (let step = 1; step <= 100; step++) {
      ps.forEach((p, i) => {
        const g = new Float32Array(p.numel());
        for (let j = 0; j < g.length; j++) g[j] = p.storage[j] * cs[i][j];
        p.grad = new Tensor(g, p.shape);
      });
      opt.step();
      const want = e.after[String(step)];
      if (want)
        ps.forEach((p, i) =>
          assert.deepEqual(Array.from(p.storage), want[i], `step ${step}, parameter ${i}`),
        );
    }
  });
}

test("AdamW with makemore.py's settings tracks torch on a tanh layer for 100 steps", () => {
  const m = fx.model;
  const X = tensor(Float32Array.from(m.X), { shape: [16, 5] });
  const T = tensor(Float32Array.from(m.T), { shape: [16, 3] });
  const W = tensor(Float32Array.from(m.W0), { shape: [5, 3] }).requiresGrad_();
  const b = tensor(Float32Array.from(m.b0), { shape: [3] }).requiresGrad_();
  const opt = new AdamW([W, b]);
  assert.deepEqual([opt.lr, opt.betas, opt.eps, opt.weightDecay], [5e-4, [0.9, 0.99], 1e-8, 0.01]);
  for (let step = 0; step < 100; step++) {
    const loss = X.matmul(W).add(b).tanh().sub(T).pow(2).mean();
    opt.zeroGrad();
    loss.backward();
    opt.step();
    assert.ok(
      Math.abs(loss.item() - m.losses[step]) <= 1e-6,
      `step ${step}: ${loss.item()} vs ${m.losses[step]}`,
    );
  }
  const near = (got: Float32Array, want: number[]) =>
    want.forEach((w, i) => assert.ok(Math.abs(got[i] - w) <= 1e-6 + 1e-5 * Math.abs(w), `${got[i]} vs ${w}`));
  near(W.storage, m.W);
  near(b.storage, m.b);
});

test("optimizer state round-trips: a resumed AdamW continues identically", () => {
  const mk = () => [tensor([1, -2, 3]).requiresGrad_()];
  const a = mk();
  const b = mk();
  const oa = new AdamW(a, { lr: 0.1 });
  const ob = new AdamW(b, { lr: 0.1 });
  const grad = (p: Tensor) => {
    p.grad = p.detach().mul(0.5);
  };
  for (let i = 0; i < 3; i++) {
    grad(a[0]);
    oa.step();
  }
  b[0].storage.set(a[0].storage);
  ob.loadStateDict(JSON.parse(JSON.stringify(oa.stateDict())));
  grad(a[0]);
  oa.step();
  grad(b[0]);
  ob.step();
  assert.deepEqual(Array.from(b[0].storage), Array.from(a[0].storage));
  assert.throws(() => new SGD(mk()).loadStateDict(oa.stateDict()), /is for adamw/);
  assert.throws(() => new SGD(mk(), { nesterov: true }), /Nesterov/);
});
