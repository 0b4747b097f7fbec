/**
 * Cropped minibatches (src/train/train.ts croppedWidth) and one plan per input shape sharing the
 * model's arena (src/train/plan.ts, src/tensor/engine.ts Plan.sealInto).
 *
 * makemore.py's six types are causal and ignore the -1 targets after a word's end, so a minibatch
 * cropped to 1 + its last target column has the same loss and gradients; the float32 sums skip
 * rows that are exactly zero, so every type's run is the whole-minibatch run bit for bit. The
 * cropped run is also held to PyTorch's 200 replayed losses (fixtures/torch-makemore-replay.json,
 * scripts/torch/makemore_replay.py), as test/makemore.test.ts holds the whole-minibatch one.
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { ourRow } from "../src/bench/models.ts";
import { type Examples, gatherExamples, parseLines } from "../src/data/dataset.ts";
import { setThreads } from "../src/io/threads.ts";
import { MAKEMORE_TYPES, type MakemoreType } from "../src/models/makemore.ts";
import { Generator } from "../src/random/index.ts";
import { randint, Tensor } from "../src/tensor/index.ts";
import { AdamW, makeOptimizer } from "../src/train/optim.ts";
import { planOf, plansOf, setCaptureEnabled, setPlanRoom, trainStep } from "../src/train/plan.ts";
import { croppedWidth, setCropping, type TrainConfig, train } from "../src/train/train.ts";
import { encodeBatch, fixtureOf, fx, maxLen, setup } from "./support/makemore-replay.ts";

const words = parseLines(readFileSync(new URL("../data/names.txt", import.meta.url), "utf8"));

function sameBits(what: string, got: ArrayLike<number>, want: ArrayLike<number>): void {
  assert.equal(got.length, want.length, what);
  for (let i = 0; i < want.length; i++)
    if (!Object.is(got[i], want[i])) assert.fail(`${what}[${i}]: ${got[i]} vs ${want[i]}`);
}

test("croppedWidth: 1 + the last column with a target other than -1", () => {
  // makemore.py's y rows for "ab", "abcd", "" at T = 7: [w..., 0, -1, ...]
  const Y = [1, 2, 0, -1, -1, -1, -1, 1, 2, 3, 4, 0, -1, -1, 0, -1, -1, -1, -1, -1, -1];
  assert.equal(croppedWidth(Y, 3, 7), 5);
  assert.equal(croppedWidth(Y.slice(0, 7), 1, 7), 3);
  assert.equal(croppedWidth(Y.slice(14), 1, 7), 1);
  assert.equal(croppedWidth([1, 2, 3, 4, 5, 6, 0], 1, 7), 7);
});

/** `makemore train --type TYPE`'s model, data and AdamW, `steps` steps; what a run leaves. */
function run(
  type: MakemoreType,
  steps: number,
  o: { crop: boolean; capture: boolean; cfg?: Partial<TrainConfig> },
) {
  const prevCrop = setCropping(o.crop);
  const prevCapture = setCaptureEnabled(o.capture);
  try {
    const r = ourRow(type, words);
    if (o.cfg) {
      r.cfg = { ...r.cfg, ...o.cfg };
      r.optimizer = makeOptimizer(r.cfg, r.model.parameters());
    }
    const data: Examples = r.data.train;
    const [, T] = data.X.shape;
    const losses: number[] = [];
    const widths = new Set<number>();
    const yb = new Float32Array(r.cfg.batchSize * T);
    const xb = new Float32Array(r.cfg.batchSize * T);
    train(
      r.model,
      data,
      { ...r.cfg, maxSteps: steps },
      r.g,
      {
        readOnly: true,
        afterStep: ({ loss, ix }) => {
          losses.push(loss);
          gatherExamples(data, ix.storage, 0, ix.numel(), xb, yb);
          widths.add(croppedWidth(yb, ix.numel(), T));
        },
      },
      0,
      r.optimizer,
    );
    const state = r.optimizer?.stateDict();
    return {
      losses,
      widths,
      T,
      model: r.model,
      params: r.model.parameters().map((p) => p.storage.slice()),
      state: state ? state.buffers.flatMap((b) => Object.values(b)) : [],
    };
  } finally {
    setCropping(prevCrop);
    setCaptureEnabled(prevCapture);
  }
}

for (const type of MAKEMORE_TYPES) {
  test(`${type}: cropped minibatches give the whole minibatches' losses, parameters and AdamW state bit for bit; one plan per width, one arena`, () => {
    const steps = type === "transformer" ? 16 : 24;
    const whole = run(type, steps, { crop: false, capture: true });
    const cropped = run(type, steps, { crop: true, capture: true });
    assert.equal(cropped.losses.length, steps);
    assert.deepEqual(cropped.losses, whole.losses);
    whole.params.forEach((p, i) => sameBits(`${type} parameter ${i}`, cropped.params[i], p));
    whole.state.forEach((s, i) => sameBits(`${type} optimizer state ${i}`, cropped.state[i], s));
    // the widths seen (T' of 9 to 12 on most names.txt batches) each got one plan, all verified
    // against eager on their first replay and sealed into the model's first arena
    assert.ok(cropped.widths.size >= 3, `widths ${[...cropped.widths]}`);
    const plans = plansOf(cropped.model);
    const shapes = [...plans.keys()].map((k) => Number(k.split(/[,:]/)[1])).sort((a, b) => a - b);
    assert.deepEqual(
      shapes,
      [...cropped.widths].sort((a, b) => a - b),
    );
    assert.ok(
      [...plans.values()].every((p) => p !== null),
      "every width on a plan",
    );
    assert.equal(new Set([...plans.values()].map((p) => p?.plan.arena)).size, 1, "one arena");
    // the whole-minibatch run keeps one plan of the full width
    assert.deepEqual(
      [...plansOf(whole.model).keys()].map((k) => k.split("|")[0]),
      [`32,${whole.T}:int64`],
    );
  });
}

test("a run that alternates widths on the shared arena's plans equals the eager run bit for bit (Transformer, GRU)", () => {
  for (const type of ["transformer", "gru"] as const) {
    const steps = 12;
    const eager = run(type, steps, { crop: true, capture: false });
    const planned = run(type, steps, { crop: true, capture: true });
    assert.ok(planned.widths.size >= 3, `widths ${[...planned.widths]}`);
    assert.deepEqual(planned.losses, eager.losses, `${type} losses`);
    eager.params.forEach((p, i) => sameBits(`${type} parameter ${i}`, planned.params[i], p));
    eager.state.forEach((s, i) => sameBits(`${type} optimizer state ${i}`, planned.state[i], s));
    assert.equal(planOf(eager.model), null);
  }
});

test("SGD with momentum and plain SGD on the shared blocks: cropped == whole == eager bit for bit (BoW)", () => {
  for (const cfg of [
    { optimizer: "sgd", learningRate: 0.05, momentum: 0.9, lrSchedule: "constant" },
    { optimizer: "sgd", learningRate: 0.05, momentum: 0, weightDecay: 0, lrSchedule: "constant" },
  ] as Partial<TrainConfig>[]) {
    const whole = run("bow", 16, { crop: false, capture: true, cfg });
    const cropped = run("bow", 16, { crop: true, capture: true, cfg });
    const eager = run("bow", 16, { crop: true, capture: false, cfg });
    assert.ok(cropped.widths.size >= 3, `widths ${[...cropped.widths]}`);
    for (const other of [whole, eager]) {
      assert.deepEqual(cropped.losses, other.losses);
      other.params.forEach((p, i) => sameBits(`parameter ${i}`, cropped.params[i], p));
      other.state.forEach((s, i) => sameBits(`momentum ${i}`, cropped.state[i], s));
    }
    assert.ok(cfg.momentum === 0 || cropped.state.length > 0, "momentum buffers");
  }
});

test("a structure change recaptures every width into the same arena: loaded optimizer state and parameters, still eager's bits", () => {
  // two runs of the BoW: 10 steps, then the AdamW state (a state dict loaded) and the weights'
  // storages are replaced by copies (new storages: the plans' key changes), then 10 more steps;
  // eager and planned
  const once = (capture: boolean) => {
    const prevCapture = setCaptureEnabled(capture);
    try {
      const r = ourRow("bow", words);
      const losses: number[] = [];
      const hooks = { afterStep: ({ loss }: { loss: number }) => losses.push(loss) };
      train(r.model, r.data.train, { ...r.cfg, maxSteps: 10 }, r.g, hooks, 0, r.optimizer);
      const arena = planOf(r.model)?.plan.arena;
      r.optimizer?.loadStateDict(r.optimizer.stateDict());
      for (const p of r.model.parameters()) p.storage = p.storage.slice();
      train(r.model, r.data.train, { ...r.cfg, maxSteps: 20 }, r.g, hooks, 10, r.optimizer);
      const plans = [...plansOf(r.model).values()];
      return {
        losses,
        arenas: capture ? [arena, ...new Set(plans.map((p) => p?.plan.arena))] : [],
        params: r.model.parameters().map((p) => p.storage.slice()),
        state: (r.optimizer?.stateDict().buffers ?? []).flatMap((b) => Object.values(b)),
      };
    } finally {
      setCaptureEnabled(prevCapture);
    }
  };
  const eager = once(false);
  const planned = once(true);
  assert.equal(planned.losses.length, 20);
  assert.deepEqual(planned.losses, eager.losses);
  eager.params.forEach((p, i) => sameBits(`parameter ${i}`, planned.params[i], p));
  eager.state.forEach((s, i) => sameBits(`optimizer state ${i}`, planned.state[i], s));
  assert.ok(planned.arenas[0], "planned");
  assert.deepEqual(new Set(planned.arenas).size, 1, "the recaptured plans share the first arena");
});

test("no room for another width's plan: one new arena, then widths without a plan run eagerly or widen to one with a plan; still the whole minibatches' bits", () => {
  const prev = setPlanRoom(0);
  let cropped: ReturnType<typeof run>;
  try {
    cropped = run("bow", 40, { crop: true, capture: true });
  } finally {
    setPlanRoom(prev);
  }
  const whole = run("bow", 40, { crop: false, capture: true });
  assert.deepEqual(cropped.losses, whole.losses);
  whole.params.forEach((p, i) => sameBits(`parameter ${i}`, cropped.params[i], p));
  whole.state.forEach((s, i) => sameBits(`optimizer state ${i}`, cropped.state[i], s));
  // the first arena's plan was dropped when the second width sealed a new arena (with room for
  // twice the first one's bytes); the widths that did not fit in that either have no plan
  const plans = [...plansOf(cropped.model).values()];
  assert.equal(new Set(plans.filter((p) => p !== null).map((p) => p?.plan.arena)).size, 1, "one arena");
  assert.ok(
    plans.some((p) => p === null),
    "a width without a plan",
  );
});

test("makemore.py's evaluate() on cropped batches of 100: the whole batches' loss bit for bit", async () => {
  const { makemoreEvaluate } = await import("../src/train/session.ts");
  for (const type of ["transformer", "gru", "bow"] as const) {
    const r = ourRow(type, words);
    train(r.model, r.data.train, { ...r.cfg, maxSteps: 5 }, r.g, {}, 0, r.optimizer);
    const test = r.data.test as Examples;
    const evaluate = (crop: boolean) => {
      const prev = setCropping(crop);
      try {
        return makemoreEvaluate(r.model, test, new Generator().manualSeed(7));
      } finally {
        setCropping(prev);
      }
    };
    const whole = evaluate(false);
    assert.ok(Number.isFinite(whole) && whole > 2 && whole < 4, `${type}: ${whole}`);
    assert.ok(Object.is(evaluate(true), whole), `${type}: cropped ${evaluate(true)} vs ${whole}`);
  }
  // (the batches are cropped: of the test split's first 100 words in that order, the longest)
  const r = ourRow("transformer", words);
  const test = r.data.test as Examples;
  const [N, T] = test.X.shape;
  const order = new Generator().manualSeed(7).randperm(N).subarray(0, 100);
  const x = new Float32Array(100 * T);
  const y = new Float32Array(100 * T);
  gatherExamples(test, Float32Array.from(order), 0, 100, x, y);
  assert.ok(croppedWidth(y, 100, T) < T, "a cropped batch");
});

test("a step whose hook reads the activations trains on the whole minibatch; the others on cropped columns", () => {
  const r = ourRow("transformer", words);
  const outWidths: number[] = [];
  train(
    r.model,
    r.data.train,
    { ...r.cfg, maxSteps: 6 },
    r.g,
    {
      readOnly: true,
      readsActivations: (step) => step % 3 === 0,
      afterStep: () => {
        outWidths.push((r.model.out as Tensor).shape[1]);
      },
    },
    0,
    r.optimizer,
  );
  assert.equal(outWidths[0], 16);
  assert.equal(outWidths[3], 16);
  for (const i of [1, 2, 4, 5]) assert.ok(outWidths[i] < 16, `step ${i}: ${outWidths[i]} columns`);
});

test("at 2 threads (shared-memory arena, workers) the cropped Transformer run is the one-thread run bit for bit", () => {
  assert.equal(setThreads(2), 2);
  let two: ReturnType<typeof run>;
  try {
    two = run("transformer", 8, { crop: true, capture: true });
  } finally {
    setThreads(1);
  }
  const one = run("transformer", 8, { crop: true, capture: true });
  const arena = planOf(two.model)?.plan.arena;
  assert.equal(arena?.f32.buffer instanceof SharedArrayBuffer, true, "a shared-memory arena");
  assert.equal(arena?.threadCount, 2);
  assert.deepEqual(two.losses, one.losses);
  one.params.forEach((p, i) => sameBits(`parameter ${i}`, two.params[i], p));
  arena?.close();
});

// PyTorch's 200 steps (test/makemore.test.ts's replay) on cropped minibatches through the plans
for (const type of MAKEMORE_TYPES) {
  test(`${type}: PyTorch's 200 AdamW steps on cropped minibatches through the plans, every loss within 1e-4`, () => {
    const want = fixtureOf(type).losses;
    const { split, model } = setup(type);
    const { steps, batch: B } = fx.meta;
    const ix = randint(0, split.train.length, [steps, B], {
      generator: new Generator().manualSeed(fx.meta.batch_seed),
    });
    const opt = new AdamW(model.parameters(), { lr: 5e-4, weightDecay: 0.01, betas: [0.9, 0.99], eps: 1e-8 });
    const T = maxLen + 1;
    const shapes = new Map<number, number[]>();
    let worst = 0;
    for (let step = 0; step < steps; step++) {
      // makemore.py's CharDataset rows, then the crop the training loop makes
      const whole = encodeBatch(
        Array.from(ix.storage.subarray(step * B, step * B + B), (i) => split.train[i]),
      );
      const [x, y] = [whole.X.storage, whole.Y.storage];
      const w = croppedWidth(y, B, T);
      const shape = shapes.get(w) ?? [B, w];
      shapes.set(w, shape);
      const X = new Tensor(new Float32Array(B * w), shape, "int64");
      const Y = new Tensor(new Float32Array(B * w), shape, "int64");
      for (let r = 0; r < B; r++) {
        X.storage.set(x.subarray(r * T, r * T + w), r * w);
        Y.storage.set(y.subarray(r * T, r * T + w), r * w);
      }
      const { loss } = trainStep(model, X, Y, true, opt, true);
      opt.step();
      const d = Math.abs(loss - want[step]);
      worst = Math.max(worst, d);
      assert.ok(d <= 1e-4, `step ${step}: loss ${loss} vs PyTorch ${want[step]}`);
    }
    assert.ok(shapes.size >= 4, `widths ${[...shapes.keys()]}`);
    assert.ok(planOf(model), "on a plan");
    assert.ok(worst <= 1e-4, `worst loss difference ${worst}`);
  });
}
