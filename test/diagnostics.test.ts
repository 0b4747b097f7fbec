/**
 * The lecture's diagnostics against PyTorch running the notebook's 6-layer networks
 * (fixtures/torch-lecture-deep.json from scripts/torch/lecture_deep.py): forward and backward
 * statistics per Tanh layer with the lecture's printed lines, weight gradients and grad:data ratios,
 * histograms, and update:data ratios; measured after the step's update, as the notebook does.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { parseLines, prepareData } from "../src/data/dataset.ts";
import { formatActivationLine, formatGradientLine } from "../src/diagnostics/format.ts";
import { retainLayerGrads, snapshot, updateRatios } from "../src/diagnostics/measure.ts";
import type { DiagnosticsSnapshot, Histogram, UpdateRatios } from "../src/diagnostics/types.ts";
import { buildModel, type ModelType, presetSpec } from "../src/models/mlp.ts";
import { Generator } from "../src/random/generator.ts";
import { LECTURE_TRAIN, train } from "../src/train/train.ts";

const ref = JSON.parse(readFileSync(new URL("../fixtures/torch-lecture-deep.json", import.meta.url), "utf8"));
const data = prepareData(parseLines(readFileSync(new URL("../data/names.txt", import.meta.url), "utf8")));

/** PyTorch's parameter names ("C", "layers[3].weight") in ours ("embedding.weight", "layers.3.weight"). */
const ourName = (n: string) => (n === "C" ? "embedding.weight" : n.replace(/\[(\d+)\]/, ".$1"));

function measure(
  type: ModelType,
  steps: number,
  edit: Partial<ReturnType<typeof presetSpec>> = {},
): { snap: DiagnosticsSnapshot; ud: UpdateRatios[] } {
  const g = new Generator().manualSeed(2147483647);
  const model = buildModel({ ...presetSpec(type, 27, 3), ...edit }, g);
  retainLayerGrads(model);
  const ud: UpdateRatios[] = [];
  let snap: DiagnosticsSnapshot | null = null;
  train(model, data.train, { ...LECTURE_TRAIN, maxSteps: steps }, g, {
    afterStep: ({ step, loss, lr }) => {
      ud.push(updateRatios(model, lr));
      if (step === steps - 1) snap = snapshot(model, step, loss);
    },
  });
  return { snap: snap!, ud };
}

function close(actual: number, expected: number, rtol: number, atol: number, what: string) {
  assert.ok(
    Math.abs(actual - expected) <= atol + rtol * Math.abs(expected),
    `${what}: ${actual} vs ${expected}`,
  );
}

/** Probability mass that differs between two density histograms over (nearly) the same edges. */
function massDifference(h: Histogram, counts: number[], edges: number[]): number {
  let d = 0;
  for (let i = 0; i < counts.length; i++) d += Math.abs(h.counts[i] - counts[i]) * (edges[i + 1] - edges[i]);
  return d;
}

for (const type of ["deep-tanh", "deep-bn"] as const) {
  test(`${type}: step-0 diagnostics equal PyTorch's (the lecture's printouts)`, () => {
    const want = ref.variants[type].diagnostics.step0;
    const { snap, ud } = measure(type, 1);
    // forward: the same Tanh layers, the same printed line, mean/std to 1e-5, same histogram
    assert.deepEqual(
      snap.activations.map((a) => a.layer),
      want.activations.map((a: { layer: number }) => a.layer),
    );
    snap.activations.forEach((a, k) => {
      const w = want.activations[k];
      assert.equal(formatActivationLine(a), w.line);
      close(a.mean, w.mean, 1e-4, 1e-6, `layer ${a.layer} mean`);
      close(a.std, w.std, 1e-5, 0, `layer ${a.layer} std`);
      close(a.saturated, w.saturated_pct, 0, 1e-4, `layer ${a.layer} saturated`);
      a.hist.edges.forEach((e, i) => close(e, w.edges[i], 1e-5, 1e-6, `edge ${i}`));
      // at most one of the 3,200 values may fall into a neighbouring bin through rounding
      assert.ok(massDifference(a.hist, w.hist, w.edges) <= 2 / 3200 + 1e-6, `layer ${a.layer} histogram`);
    });
    // backward: layer.out.grad statistics
    snap.gradients.forEach((gs, k) => {
      const w = want.activation_grads[k];
      assert.equal(gs.layer, w.layer);
      close(gs.std, w.std, 1e-4, 0, `layer ${gs.layer} grad std`);
      close(gs.mean, w.mean, 0, 1e-3 * w.std, `layer ${gs.layer} grad mean`);
      // the mean is ~1e-12 with a noise sign; the line's layer part and std digits must agree
      assert.equal(formatGradientLine(gs).split(":")[0], w.line.split(":")[0]);
      assert.equal(formatGradientLine(gs).split("std ")[1].slice(0, 4), w.line.split("std ")[1].slice(0, 4));
    });
    // weights: gradient statistics and grad:data ratios (the data after the update, as the notebook)
    for (const w of want.weight_grads) {
      const p = snap.params.find((x) => x.name === ourName(w.name));
      assert.ok(p, w.name);
      assert.deepEqual(p.shape, w.shape);
      close(p.std, w.std, 1e-4, 0, `${w.name} grad std`);
      close(p.gradDataRatio, w.grad_data_ratio, 1e-4, 0, `${w.name} grad:data`);
    }
    // update:data, log10, for the 2-d weights (gamma/beta/bias ratios are rounding noise at step 0)
    const names: string[] = ref.variants[type].param_names;
    names.forEach((n, i) => {
      if (ref.variants[type].param_shapes[i].length !== 2) return;
      close(ud[0][ourName(n)], ref.variants[type].update_data_ratio_log10[0][i], 0, 1e-4, `ud ${n}`);
    });
  });
}

test("a net without Tanh (the lecture's linear-only stack): the tables show its Linear layers, as PyTorch's", () => {
  const want = ref.variants["deep-linear"].diagnostics.step0;
  const { snap } = measure("deep-tanh", 1, { nonlinearity: "none", gain: 1 });
  assert.deepEqual(
    snap.activations.map((a) => [a.layer, a.kind]),
    want.activations.map((a: { layer: number; type: string }) => [a.layer, a.type]),
  );
  assert.equal(snap.activations.length, 5);
  snap.activations.forEach((a, k) => {
    const w = want.activations[k];
    assert.equal(formatActivationLine(a), w.line);
    close(a.std, w.std, 1e-5, 0, `layer ${a.layer} std`);
  });
  assert.deepEqual(
    snap.gradients.map((gs) => gs.layer),
    want.activation_grads.map((w: { layer: number }) => w.layer),
  );
  snap.gradients.forEach((gs, k) => {
    const w = want.activation_grads[k];
    close(gs.std, w.std, 1e-4, 0, `layer ${gs.layer} grad std`);
    assert.equal(formatGradientLine(gs).split(":")[0], w.line.split(":")[0]);
  });
});

test("deep-bn after 1,000 steps: activations and update ratios still track PyTorch's", () => {
  const want = ref.variants["deep-bn"];
  const { snap, ud } = measure("deep-bn", 1000);
  snap.activations.forEach((a, k) => {
    const w = want.diagnostics.last.activations[k];
    close(a.std, w.std, 2e-3, 0, `layer ${a.layer} std`);
    close(a.saturated, w.saturated_pct, 0, 0.5, `layer ${a.layer} saturated`);
  });
  // the lecture's healthy band: every weight's update:data near -3 at step 999
  want.param_names.forEach((n: string, i: number) => {
    if (want.param_shapes[i].length !== 2) return;
    const ours = ud[999][ourName(n)];
    close(ours, want.update_data_ratio_log10[999][i], 0, 0.05, `ud ${n} at step 999`);
    assert.ok(ours > -4 && ours < -2, `${n}: ${ours}`);
  });
});

test("the one-pass std of a weight and its gradient equals the two-pass reference", async () => {
  const { stdPair, meanStd } = await import("../src/diagnostics/measure.ts");
  const g = new Generator().manualSeed(3);
  for (const n of [2, 3, 27, 6000, 6001]) {
    const w = new Float32Array(n);
    const gr = new Float32Array(n);
    g.randnInto(w);
    g.randnInto(gr);
    for (let i = 0; i < n; i++) {
      w[i] = w[i] * 0.1 + 0.01; // weights: small spread, a mean
      gr[i] *= 1e-3;
    }
    const p = stdPair(w, gr);
    assert.ok(Math.abs(p.dataStd / meanStd(w).std - 1) < 1e-12, `data n=${n}`);
    assert.ok(Math.abs(p.gradStd / meanStd(gr).std - 1) < 1e-12, `grad n=${n}`);
  }
});
