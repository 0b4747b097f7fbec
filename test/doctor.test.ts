/**
 * The doctor on the lecture's broken networks (each finding appears, with its number) and on its
 * healthy ones (no warning, no error).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { parseLines, prepareData } from "../src/data/dataset.ts";
import { checkBatchNormDrift, checkHistory, checkModel } from "../src/diagnostics/doctor.ts";
import type { Finding, MetricsLine } from "../src/diagnostics/types.ts";
import { buildModel, type ModelSpec, type ModelType, presetSpec } from "../src/models/mlp.ts";
import { BatchNorm1d } from "../src/nn/modules.ts";
import { Generator } from "../src/random/generator.ts";
import type { Tensor } from "../src/tensor/tensor.ts";
import { LECTURE_TRAIN, train } from "../src/train/train.ts";

const data = prepareData(parseLines(readFileSync(new URL("../data/names.txt", import.meta.url), "utf8")));

function model(type: ModelType, over: Partial<ModelSpec> = {}) {
  const g = new Generator().manualSeed(2147483647);
  const m = buildModel({ ...presetSpec(type, 27, 3), ...over }, g);
  return { m, g };
}

function diagnose(type: ModelType, over: Partial<ModelSpec> = {}): Finding[] {
  const { m, g } = model(type, over);
  return checkModel(m, data.train, g);
}

const ids = (fs: Finding[]) => fs.map((f) => f.id);
const serious = (fs: Finding[]) => fs.filter((f) => f.severity !== "info");

for (const type of ["fix-tanh", "kaiming", "batchnorm", "deep-bn", "deep-tanh"] as const) {
  test(`healthy lecture model ${type}: no warning or error`, () => {
    assert.deepEqual(ids(serious(diagnose(type))), []);
  });
}

test("unscaled init (loss about 27): confidently wrong softmax and saturated tanh", () => {
  const fs = diagnose("original");
  const loss = fs.find((f) => f.id === "init-loss-high");
  assert.ok(loss, ids(fs).join());
  assert.equal((loss.measured.loss as number).toFixed(2), "27.88");
  assert.equal((loss.measured.expected as number).toFixed(4), "3.2958");
  assert.ok(ids(fs).includes("tanh-saturated"));
  assert.match(loss.fix, /0\.01/);
});

test("zero init: constant weights, only the last layer learns", () => {
  const fs = diagnose("custom", { zeroInit: true });
  assert.ok(ids(fs).includes("zero-init"), ids(fs).join());
  // and it is true: after 50 steps only the output layer's bias has moved
  const { m, g } = model("custom", { zeroInit: true });
  const before = new Map(m.namedParameters().map(([n, p]) => [n, p.storage.slice()]));
  train(m, data.train, { ...LECTURE_TRAIN, maxSteps: 50 }, g);
  const moved = m
    .namedParameters()
    .filter(([n, p]) => p.storage.some((v, i) => v !== before.get(n)![i]))
    .map(([n]) => n);
  assert.deepEqual(moved, ["layers.10.bias"]);
});

test("a network without nonlinearities: one linear map, activations growing", () => {
  const fs = diagnose("custom", { nonlinearity: "none" });
  assert.ok(ids(fs).includes("no-nonlinearity"), ids(fs).join());
  assert.ok(ids(fs).includes("activations-growing"));
});

test("6-layer tanh, gain 3: saturated units and exploding gradients", () => {
  const fs = diagnose("custom", { gain: 3 });
  assert.ok(ids(fs).includes("tanh-saturated"), ids(fs).join());
  assert.ok(ids(fs).includes("gradients-exploding"));
});

test("6-layer tanh, gain 0.5: activations and gradients shrinking with depth", () => {
  const fs = diagnose("custom", { gain: 0.5 });
  assert.ok(ids(fs).includes("activations-shrinking"), ids(fs).join());
  assert.ok(ids(fs).includes("gradients-vanishing"));
  const shrink = fs.find((f) => f.id === "activations-shrinking")!;
  assert.ok((shrink.measured.ratio as number) < 0.1);
});

/** The precedence slip `gamma * (x - mean / std) + beta`. */
class SlippedBatchNorm extends BatchNorm1d {
  override forward(x: Tensor): Tensor {
    const mean = x.mean(0, { keepdim: true });
    const std = x.std(0, { keepdim: true });
    return this.keep(this.gamma.mul(x.sub(mean.div(std))).add(this.beta));
  }
}

test("BatchNorm with the precedence slip gamma * (x - mean / std) + beta", () => {
  const { m, g } = model("batchnorm");
  const layers = m.layers.layers;
  const slipped = new SlippedBatchNorm(200, { variant: "lecture-std", keepdimParams: true });
  layers[1] = slipped;
  const fs = checkModel(m, data.train, g);
  const f = fs.find((x) => x.id === "batchnorm-not-normalising");
  assert.ok(f, ids(fs).join());
  assert.equal(f.where, "layer 1");
  assert.match(f.fix, /gamma \* \(x - mean\) \/ std \+ beta/);
});

test("checkModel leaves the model exactly as it was", () => {
  const { m, g } = model("deep-bn");
  const before = m.stateDict();
  const copy = Object.fromEntries(Object.entries(before).map(([k, t]) => [k, t.storage.slice()]));
  checkModel(m, data.train, g);
  for (const [k, t] of Object.entries(m.stateDict())) assert.deepEqual(t.storage, copy[k], k);
  assert.ok(m.parameters().every((p) => p.grad === null));
});

test("update:data history: too low and too high learning rates, silence near 1e-3", () => {
  const hist = (v: number): MetricsLine[] =>
    Array.from({ length: 600 }, (_, step) => ({
      step,
      loss: 2.5,
      lr: 0.1,
      ud: { "layers.0.weight": v, "layers.3.weight": v },
    }));
  assert.deepEqual(ids(checkHistory(hist(-5.2))), ["learning-rate-low"]);
  assert.deepEqual(ids(checkHistory(hist(-1.1))), ["learning-rate-high"]);
  assert.deepEqual(ids(checkHistory(hist(-3.05))), []);
  // a real run's ratios: 300 steps of the BatchNorm MLP at the lecture's rate are healthy,
  // and at lr 1e-4 they are too low
  for (const [lr, expected] of [
    [0.1, []],
    [1e-4, ["learning-rate-low"]],
  ] as const) {
    const { m, g } = model("batchnorm");
    const lines: MetricsLine[] = [];
    train(m, data.train, { ...LECTURE_TRAIN, maxSteps: 400, learningRate: lr }, g, {
      afterStep: ({ step, loss, lr: l }) => {
        const ud: Record<string, number> = {};
        for (const [n, p] of m.namedParameters()) {
          if (p.ndim !== 2) continue;
          const std = (x: Float32Array) => {
            const mu = x.reduce((a, b) => a + b, 0) / x.length;
            return Math.sqrt(x.reduce((a, b) => a + (b - mu) ** 2, 0) / (x.length - 1));
          };
          ud[n] = Math.log10((l * std(p.grad!.storage)) / std(p.storage));
        }
        lines.push({ step, loss, lr: l, ud });
      },
    });
    assert.deepEqual(ids(checkHistory(lines)), expected, `lr ${lr}`);
  }
});

test("a widening train/val gap is reported; the lecture's 2.0674 / 2.1057 is not", () => {
  assert.deepEqual(ids(checkHistory([], { train: 2.0674, val: 2.1057 })), []);
  const f = checkHistory([
    { step: 1000, train_loss: 2.3, val_loss: 2.32 },
    { step: 2000, train_loss: 1.6, val_loss: 2.4 },
  ]);
  assert.deepEqual(ids(f), ["overfitting"]);
  assert.equal((f[0].measured.gap as number).toFixed(2), "0.80");
});

test("BatchNorm running statistics: drift after a short run, none after calibration-quality statistics", () => {
  // after 300 steps with the lecture's momentum 0.001 the running std has moved only 26% of the way
  const { m, g } = model("batchnorm");
  train(m, data.train, { ...LECTURE_TRAIN, maxSteps: 300 }, g);
  const fs = checkBatchNormDrift(m, data.train);
  assert.deepEqual(ids(fs), ["batchnorm-running-drift"]);
  // with torch's momentum 0.1 the running statistics track the data
  const { m: m2, g: g2 } = model("custom", { batchnorm: "torch", bias: false, outputBatchnorm: true });
  train(m2, data.train, { ...LECTURE_TRAIN, maxSteps: 300 }, g2);
  assert.deepEqual(ids(checkBatchNormDrift(m2, data.train)), []);
});

for (const type of ["kaiming", "batchnorm", "deep-bn", "deep-tanh"] as const) {
  test(`healthy ${type} stays silent after 20 training steps (gamma/beta are not weight matrices)`, () => {
    const { m, g } = model(type);
    train(m, data.train, { ...LECTURE_TRAIN, maxSteps: 20 }, g);
    assert.deepEqual(ids(serious(checkModel(m, data.train, g))), []);
  });
}
