/**
 * Every tensor op against PyTorch 1.13: forward values and gradients recorded in
 * fixtures/torch-ops.json by scripts/torch/gen_op_fixtures.py. One test per fixture case (named
 * like the case), with separate subtests for the forward value, each gradient and each extra output.
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { type TestContext, test } from "node:test";
import {
  arange,
  cat,
  crossEntropy,
  type DType,
  full,
  histogram,
  linspace,
  ones,
  Tensor,
  where,
  zeros,
} from "../src/tensor/index.ts";

// ---------------------------------------------------------------------------------------------
// Fixture format

type Value = number | "inf" | "-inf" | "nan";
interface TJ {
  shape: number[];
  dtype: string;
  values: Value[];
}
interface InputJ extends TJ {
  requires_grad: boolean;
}
type Kwargs = Record<string, unknown>;
interface Case {
  name: string;
  op: string;
  kwargs: Kwargs;
  inputs: InputJ[];
  upstream: TJ | null;
  output: TJ;
  grads: (TJ | null)[];
  extra: Record<string, TJ>;
}

const fixture = JSON.parse(readFileSync(new URL("../fixtures/torch-ops.json", import.meta.url), "utf8")) as {
  meta: { torch_version: string; count: number };
  cases: Case[];
};

function dec(v: Value): number {
  if (v === "inf") return Number.POSITIVE_INFINITY;
  if (v === "-inf") return Number.NEGATIVE_INFINITY;
  if (v === "nan") return Number.NaN;
  return v;
}

function build(j: TJ): Tensor {
  return new Tensor(Float32Array.from(j.values, dec), j.shape, j.dtype as DType);
}

// ---------------------------------------------------------------------------------------------
// Tolerances. |got - expected| <= atol + rtol * |expected|, elementwise; NaN must match NaN and
// infinities must match exactly.

interface Tol {
  rtol: number;
  atol: number;
}
/**
 * Forward default. Both sides compute in float32; TS often evaluates an elementwise op in double
 * and rounds once while torch rounds each float32 step (and uses SLEEF vector exp/tanh/log with up
 * to 1 ulp error), and reductions associate differently (TS accumulates in float64, torch uses
 * float32 vector lanes). That is a few ulps, ~1e-7 relative; rtol 1e-5 leaves margin without
 * hiding a wrong formula. atol 1e-6 absorbs results near 0 that come from cancellation of O(1)
 * terms (sums, matmul, x - mean), whose absolute error is a few ulps of the terms.
 */
const FWD: Tol = { rtol: 1e-5, atol: 1e-6 };
/**
 * log, log_softmax, softmax, cross_entropy: results are log-sum-exp of O(1..30) values; the
 * absolute error is a few ulps of the log-sum-exp term (ulp(30) ~ 2e-6) even when the result
 * itself is near 0, so atol is 1e-5 (rtol unchanged).
 */
const FWD_LSE: Tol = { rtol: 1e-5, atol: 1e-5 };
/**
 * Gradients. Backward rules read rounded forward values (y = tanh, softmax, std) and accumulate
 * several float32 contributions (broadcast sums, matmul, the x - mean of var/std), so relative
 * errors of ~1e-5 occur where terms cancel; rtol 1e-4, atol 1e-6.
 */
const GRAD: Tol = { rtol: 1e-4, atol: 1e-6 };
/** Integer results (indices, bool masks, histogram counts): exact. */
const EXACT: Tol = { rtol: 0, atol: 0 };
/**
 * Hand-chosen extreme elementwise cases (saturated tanh/sigmoid, exp/log/sqrt/pow/div at tiny or
 * huge magnitudes). Their point is the magnitude of tiny values (tanh'(8) = 4.8e-7, sqrt(1e-30) =
 * 1e-15, torch's exact zeros), which an atol of 1e-6 would accept whatever they were. An
 * elementwise op has no cancellation, so both sides are one correctly-rounded-or-1-ulp float32
 * result and a purely relative comparison (atol 0) is the right check, forward and backward.
 */
const FWD_TINY: Tol = { rtol: 1e-5, atol: 0 };
const GRAD_TINY: Tol = { rtol: 1e-4, atol: 0 };
const TINY_CASES = new Set([
  "tanh/saturated_300_20",
  "tanh/near_saturation",
  "sigmoid/extremes",
  "exp/extremes",
  "log/small_positives",
  "sqrt/near_zero",
  "pow/exp_-1_small_base",
  "pow/exp_0.5_near_zero",
  "div/by_small_tensor",
  "div/by_small_number",
]);

const LSE_OPS = new Set(["log", "log_softmax", "softmax", "cross_entropy"]);
const LSE_COMPOSITES = new Set(["logsoftmax_pick_mean", "manual_softmax"]);

function forwardTol(c: Case): Tol {
  const dt = c.output.dtype;
  if (dt === "int64" || dt === "bool") return EXACT;
  if (c.op === "histogram" && c.kwargs.density !== true) return EXACT;
  if (TINY_CASES.has(c.name)) return FWD_TINY;
  if (LSE_OPS.has(c.op) || (c.op === "composite" && LSE_COMPOSITES.has(c.kwargs.expr as string)))
    return FWD_LSE;
  return FWD;
}
function gradTol(c: Case): Tol {
  return TINY_CASES.has(c.name) ? GRAD_TINY : GRAD;
}

function assertClose(what: string, got: Tensor | null, exp: TJ, tol: Tol, checkDtype = true): void {
  assert.ok(got, `${what}: expected a tensor of shape [${exp.shape}], got null`);
  assert.deepEqual(got.shape, exp.shape, `${what}: shape`);
  if (checkDtype) assert.equal(got.dtype, exp.dtype, `${what}: dtype`);
  const g = got.storage;
  const bad: string[] = [];
  let worst = 0;
  for (let i = 0; i < exp.values.length; i++) {
    const e = dec(exp.values[i]);
    const v = g[i];
    let ok: boolean;
    if (Number.isNaN(e)) ok = Number.isNaN(v);
    else if (!Number.isFinite(e)) ok = v === e;
    else {
      const err = Math.abs(v - e);
      ok = err <= tol.atol + tol.rtol * Math.abs(e);
      if (Number.isFinite(err)) worst = Math.max(worst, err);
    }
    if (!ok) bad.push(`[${i}] expected ${e} got ${v}`);
  }
  assert.ok(
    bad.length === 0,
    `${what}: ${bad.length}/${exp.values.length} values outside rtol=${tol.rtol} atol=${tol.atol} ` +
      `(max abs err ${worst}): ${bad.slice(0, 8).join("; ")}`,
  );
}

// ---------------------------------------------------------------------------------------------
// Running a case with the TS API

interface Run {
  out: Tensor;
  /** Secondary outputs, read after backward (so retained gradients are available). */
  extra?: () => Record<string, Tensor | null>;
}

const num = (k: Kwargs, name: string): number => k[name] as number;
const optDim = (k: Kwargs): number | undefined =>
  k.dim === null || k.dim === undefined ? undefined : num(k, "dim");
const keepdim = (k: Kwargs): boolean => k.keepdim === true;

function binaryOther(k: Kwargs, xs: Tensor[]): Tensor | number {
  return "other" in k ? num(k, "other") : xs[1];
}

function composite(expr: string, xs: Tensor[]): Run {
  const [x, a, b] = xs;
  switch (expr) {
    case "x*x+x":
      return { out: x.mul(x).add(x) };
    case "x@x":
      return { out: x.matmul(x) };
    case "x+x.T":
      return { out: x.add(x.T) };
    case "x.detach()*x":
      return { out: x.detach().mul(x) };
    case "x*x.sum(0,keepdim)":
      return { out: x.mul(x.sum(0, { keepdim: true })) };
    case "retain_grad_tanh_sq": {
      const h = x.tanh().retainGrad();
      return { out: h.mul(h), extra: () => ({ h_grad: h.grad }) };
    }
    case "batchnorm_std": {
      const mean = x.mean(0, { keepdim: true });
      const std = x.std(0, { keepdim: true });
      return { out: a.mul(x.sub(mean)).div(std).add(b) };
    }
    case "batchnorm_var_eps": {
      const mean = x.mean(0, { keepdim: true });
      const v = x.var(0, { keepdim: true, unbiased: false });
      return { out: a.mul(x.sub(mean)).div(v.add(1e-5).sqrt()).add(b) };
    }
    case "logsoftmax_pick_mean":
      return { out: x.logSoftmax(1).pick(arange(x.shape[0]), a).mean().neg() };
    case "manual_softmax":
      return { out: x.exp().div(x.exp().sum(1, { keepdim: true })) };
    case "relu_pow_mean":
      return { out: x.relu().pow(2).mean() };
    case "mlp_tanh":
      return { out: x.matmul(a).add(b).tanh() };
    default:
      throw new Error(`unhandled composite expr ${expr}`);
  }
}

function run(c: Case, xs: Tensor[]): Run {
  const k = c.kwargs;
  const x = xs[0];
  switch (c.op) {
    case "add":
      return { out: x.add(binaryOther(k, xs)) };
    case "sub":
      return { out: x.sub(binaryOther(k, xs)) };
    case "mul":
      return { out: x.mul(binaryOther(k, xs)) };
    case "div":
      return { out: x.div(binaryOther(k, xs)) };
    case "pow":
      return { out: x.pow(binaryOther(k, xs)) };
    case "maximum":
      return { out: x.maximum(binaryOther(k, xs)) };
    case "minimum":
      return { out: x.minimum(binaryOther(k, xs)) };
    case "rsub":
      return { out: x.rsub(num(k, "other")) };
    case "gt":
      return { out: x.gt(binaryOther(k, xs)) };
    case "lt":
      return { out: x.lt(binaryOther(k, xs)) };
    case "ge":
      return { out: x.ge(binaryOther(k, xs)) };
    case "le":
      return { out: x.le(binaryOther(k, xs)) };
    case "eq":
      return { out: x.eq(binaryOther(k, xs)) };
    case "ne":
      return { out: x.ne(binaryOther(k, xs)) };
    case "neg":
      return { out: x.neg() };
    case "exp":
      return { out: x.exp() };
    case "log":
      return { out: x.log() };
    case "tanh":
      return { out: x.tanh() };
    case "sqrt":
      return { out: x.sqrt() };
    case "abs":
      return { out: x.abs() };
    case "relu":
      return { out: x.relu() };
    case "sigmoid":
      return { out: x.sigmoid() };
    case "sum":
      return { out: x.sum(optDim(k), { keepdim: keepdim(k) }) };
    case "mean":
      return { out: x.mean(optDim(k), { keepdim: keepdim(k) }) };
    case "var":
      return { out: x.var(optDim(k), { keepdim: keepdim(k), unbiased: k.unbiased as boolean }) };
    case "std":
      return { out: x.std(optDim(k), { keepdim: keepdim(k), unbiased: k.unbiased as boolean }) };
    case "max_dim": {
      const { values, indices } = x.max(num(k, "dim"), { keepdim: keepdim(k) });
      return { out: values, extra: () => ({ indices }) };
    }
    case "max_all":
      return { out: x.max() };
    case "min_all":
      return { out: x.min() };
    case "argmax":
      return { out: x.argmax(optDim(k), { keepdim: keepdim(k) }) };
    case "view":
      return { out: x.view(k.shape as number[]) };
    case "reshape":
      return { out: x.reshape(k.shape as number[]) };
    case "flatten":
      return { out: x.flatten(num(k, "start_dim")) };
    case "unsqueeze":
      return { out: x.unsqueeze(num(k, "dim")) };
    case "squeeze":
      return { out: x.squeeze(optDim(k)) };
    case "transpose":
      return { out: x.transpose(num(k, "dim0"), num(k, "dim1")) };
    case "permute":
      return { out: x.permute(...(k.dims as number[])) };
    case "T":
      return { out: x.T };
    case "index":
      return { out: x.index(xs[1]) };
    case "pick":
      return { out: x.pick(xs[1], xs[2]) };
    case "slice":
      return { out: k.end === null ? x.slice(num(k, "start")) : x.slice(num(k, "start"), num(k, "end")) };
    case "matmul":
      return { out: x.matmul(xs[1]) };
    case "softmax":
      return { out: x.softmax(num(k, "dim")) };
    case "log_softmax":
      return { out: x.logSoftmax(num(k, "dim")) };
    case "cross_entropy":
      return { out: crossEntropy(x, xs[1]) };
    case "cat":
      return { out: cat(xs, num(k, "dim")) };
    case "where":
      return { out: where(xs[0], xs[1], xs[2]) };
    case "histogram": {
      const opts: { density: boolean; range?: [number, number] } = { density: k.density === true };
      if (k.range) opts.range = k.range as [number, number];
      const { hist, binEdges } = histogram(x, num(k, "bins"), opts);
      return { out: hist, extra: () => ({ bin_edges: binEdges }) };
    }
    case "arange": {
      const [a0, a1, a2] = k.args as number[];
      return { out: a1 === undefined ? arange(a0) : arange(a0, a1, a2) };
    }
    case "linspace": {
      const [a0, a1, a2] = k.args as number[];
      return { out: linspace(a0, a1, a2) };
    }
    case "zeros":
      return { out: zeros(k.shape as number[]) };
    case "ones":
      return { out: ones(k.shape as number[]) };
    case "full":
      return { out: full(k.shape as number[], num(k, "value")) };
    case "composite":
      return composite(k.expr as string, xs);
    default:
      throw new Error(`unhandled op ${c.op} (case ${c.name})`);
  }
}

// ---------------------------------------------------------------------------------------------
// One test per case

let handled = 0;

for (const c of fixture.cases) {
  test(c.name, async (t) => {
    const xs = c.inputs.map((j) => {
      const x = build(j);
      if (j.requires_grad) x.requiresGrad_();
      return x;
    });
    const r = run(c, xs);
    handled++;
    const ftol = forwardTol(c);
    await t.test("forward", () => assertClose(`${c.name}: forward`, r.out, c.output, ftol));
    if (c.upstream) {
      assert.ok(r.out.requiresGrad, "output should require grad");
      r.out.backward(build(c.upstream));
      for (const [i, g] of c.grads.entries()) {
        if (g) await assertCloseSub(t, c.name, `grad of input ${i}`, xs[i].grad, g, gradTol(c));
      }
    } else {
      assert.equal(r.out.requiresGrad, false, "torch's output does not require grad, so neither should ours");
    }
    for (const [name, exp] of Object.entries(c.extra)) {
      const got = r.extra?.()[name] ?? null;
      const isInt = exp.dtype === "int64" || exp.dtype === "bool";
      const tol = isInt ? EXACT : name.endsWith("_grad") ? gradTol(c) : FWD;
      await assertCloseSub(t, c.name, `extra ${name}`, got, exp, tol);
    }
  });
}

async function assertCloseSub(
  t: TestContext,
  caseName: string,
  what: string,
  got: Tensor | null,
  exp: TJ,
  tol: Tol,
): Promise<void> {
  // gradients are float32 regardless of how torch names them; dtype is checked on outputs only
  await t.test(what, () => assertClose(`${caseName}: ${what}`, got, exp, tol, !what.startsWith("grad")));
}

test("every fixture case was run", () => {
  assert.equal(fixture.cases.length, fixture.meta.count, "fixture meta.count disagrees with its cases");
  assert.ok(fixture.cases.length > 200, "fixture unexpectedly small");
  assert.equal(handled, fixture.cases.length, "some fixture cases were not handled by run()");
});
