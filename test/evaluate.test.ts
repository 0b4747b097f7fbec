// splitLoss (src/train/evaluate.ts) groups a split's rows by context and computes the logits once
// per distinct context. Compared here with a plain row-by-row reference -- crossEntropy over chunks
// of rows through model.forward in eval mode, weighted by chunk size -- on the arena path (the
// plain MLP) and on the generic tensor path (a subclass), and with hand-computed losses.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { type Examples, parseLines, prepareData } from "../src/data/dataset.ts";
import { buildModel, MLP, presetSpec } from "../src/models/mlp.ts";
import { Generator } from "../src/random/generator.ts";
import { crossEntropy, noGrad, Tensor } from "../src/tensor/tensor.ts";
import { splitLoss } from "../src/train/evaluate.ts";
import { forwardPlanFor, runEagerly } from "../src/train/plan.ts";
import { LECTURE_TRAIN, train } from "../src/train/train.ts";

const lecture = prepareData(parseLines(readFileSync("data/names.txt", "utf8")));

/** Takes the generic tensor path (eager ops, no captured plan). */
class Generic extends MLP {
  constructor(...args: ConstructorParameters<typeof MLP>) {
    super(...args);
    runEagerly(this);
  }
}

function genericTwin(model: MLP): MLP {
  const b = buildModel(model.spec, new Generator().manualSeed(1));
  const twin = new Generic(b.spec, b.embedding, b.layers);
  twin.loadStateDict(
    Object.fromEntries(
      Object.entries(model.stateDict()).map(([k, t]) => [k, { shape: t.shape, data: t.storage }]),
    ),
  );
  return twin;
}

/** The row-by-row mean cross-entropy in eval mode, without any grouping. */
function referenceLoss(model: MLP, data: Examples): number {
  const [N, T] = data.X.shape;
  const wasTraining = model.training;
  model.eval();
  try {
    return noGrad(() => {
      let total = 0;
      for (let s = 0; s < N; s += 10000) {
        const e = Math.min(N, s + 10000);
        const X = new Tensor(data.X.storage.slice(s * T, e * T), [e - s, T], "int64");
        const Y = new Tensor(data.Y.storage.slice(s, e), [e - s], "int64");
        total += crossEntropy(model.forward(X), Y).item() * (e - s);
      }
      return total / N;
    });
  } finally {
    model.train(wasTraining);
  }
}

function distinctContexts(data: Examples): number {
  const T = data.X.shape[1];
  const seen = new Set<string>();
  for (let r = 0; r < data.X.shape[0]; r++) seen.add(data.X.storage.subarray(r * T, (r + 1) * T).join(","));
  return seen.size;
}

test("the lecture's splits repeat contexts enough for the grouped path", () => {
  for (const split of ["train", "val", "test"] as const) {
    const N = lecture[split].X.shape[0];
    assert.ok(distinctContexts(lecture[split]) < 0.7 * N, split);
  }
});

for (const type of ["batchnorm", "deep-tanh"] as const) {
  test(`grouped split loss equals the row-by-row loss: ${type}`, () => {
    const g = new Generator().manualSeed(2147483647);
    const model = buildModel(presetSpec(type, 27, 3), g);
    train(model, lecture.train, { ...LECTURE_TRAIN, maxSteps: 200 }, g);
    const twin = genericTwin(model);
    assert.ok(forwardPlanFor(model, 256, 3), "the plain MLP takes the captured path");
    assert.equal(forwardPlanFor(twin, 256, 3), null, "the twin takes the generic path");
    for (const split of ["train", "val", "test"] as const) {
      const want = referenceLoss(model, lecture[split]);
      for (const [path, m] of [
        ["arena", model],
        ["generic", twin],
      ] as const) {
        const wasTraining = m.training;
        const got = splitLoss(m, lecture[split]);
        assert.equal(m.training, wasTraining, "mode restored");
        assert.ok(Math.abs(got - want) <= 1e-6, `${type} ${path} ${split}: ${got} vs ${want}`);
        // a second evaluation (the cached grouping) gives the same number
        assert.equal(splitLoss(m, lecture[split]), got);
      }
    }
  });
}

function examples(rows: [number[], number][]): Examples {
  return {
    X: new Tensor(Float32Array.from(rows.flatMap(([x]) => x)), [rows.length, rows[0][0].length], "int64"),
    Y: new Tensor(Float32Array.from(rows.map(([, y]) => y)), [rows.length], "int64"),
  };
}

/**
 * A batchnorm-preset model whose logits are the same vector b for every context: every parameter
 * zero except the output bias b, with b[1] = ln 3 and 0 elsewhere (so softmax = 3/29 for token 1,
 * 1/29 for the other 26).
 */
function constantLogitsModel(): MLP {
  const model = buildModel(presetSpec("batchnorm", 27, 3), new Generator().manualSeed(7));
  for (const p of model.parameters()) p.storage.fill(0);
  const outBias = model.parameters().filter((p) => p.shape.length === 1 && p.shape[0] === 27);
  assert.ok(outBias.length > 0);
  outBias[outBias.length - 1].storage[1] = Math.log(3);
  return model;
}

test("grouped split loss on a hand-made split with repeated contexts", () => {
  const model = constantLogitsModel();
  const twin = genericTwin(model);
  // 3 distinct contexts among 8 rows; targets 1 (loss ln 29 - ln 3) five times, others three times
  const data = examples([
    [[0, 0, 1], 1],
    [[0, 0, 1], 1],
    [[5, 5, 5], 1],
    [[0, 0, 1], 2],
    [[0, 0, 1], 1],
    [[1, 2, 3], 0],
    [[5, 5, 5], 1],
    [[5, 5, 5], 26],
  ]);
  const want = Math.log(29) - (5 / 8) * Math.log(3);
  for (const m of [model, twin]) {
    assert.ok(Math.abs(splitLoss(m, data) - want) <= 1e-6, `${splitLoss(m, data)} vs ${want}`);
    assert.ok(Math.abs(referenceLoss(m, data) - want) <= 1e-6);
  }
  // rows that do not repeat (the row path) give the same per-row losses
  const distinct = examples([
    [[0, 0, 1], 1],
    [[0, 1, 2], 0],
    [[1, 2, 3], 1],
  ]);
  const want2 = Math.log(29) - (2 / 3) * Math.log(3);
  for (const m of [model, twin]) assert.ok(Math.abs(splitLoss(m, distinct) - want2) <= 1e-6);
});

test("grouped split loss: a trained model on a small repeated split, and out-of-range ids still throw", () => {
  const g = new Generator().manualSeed(2147483647);
  const model = buildModel(presetSpec("deep-tanh", 27, 3), g);
  train(model, lecture.train, { ...LECTURE_TRAIN, maxSteps: 50 }, g);
  const twin = genericTwin(model);
  // the first 40 rows of the validation split, each repeated 1 to 3 times
  const T = 3;
  const rows: [number[], number][] = [];
  for (let r = 0; r < 40; r++) {
    const x = Array.from(lecture.val.X.storage.subarray(r * T, (r + 1) * T));
    for (let c = 0; c <= r % 3; c++) rows.push([x, lecture.val.Y.storage[r]]);
  }
  const data = examples(rows);
  const want = referenceLoss(model, data);
  for (const m of [model, twin]) assert.ok(Math.abs(splitLoss(m, data) - want) <= 1e-6);
  const badTarget = examples([
    [[0, 0, 1], 1],
    [[0, 0, 1], 30],
    [[0, 0, 1], 1],
  ]);
  const badToken = examples([
    [[0, 0, 40], 1],
    [[0, 0, 40], 1],
    [[0, 0, 40], 1],
  ]);
  for (const m of [model, twin]) {
    assert.throws(() => splitLoss(m, badTarget), RangeError);
    assert.throws(() => splitLoss(m, badToken), RangeError);
  }
});
