/**
 * makemore.py's six models (src/models/makemore.ts) against makemore.py itself run by PyTorch 1.13:
 * fixtures/torch-makemore-replay.json from scripts/torch/makemore_replay.py.
 *
 *  - init: torch.manual_seed(3407), makemore.py's randperm split, then the model: every
 *    state_dict name, shape and the sha256 of its float32 bytes must be equal (bit-identical
 *    weights), and the parameter count;
 *  - replay: AdamW as makemore.py builds it, 200 steps on the recorded minibatches (indices drawn
 *    by torch.randint from a Generator seeded 1: we draw them with our exact randint and check
 *    their sha256), every step's loss within 1e-4 of PyTorch's. The gradients are float32 sums in
 *    a different order than torch's, so the runs drift apart by float32 rounding only.
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import {
  buildMakemore,
  MAKEMORE_DEFAULTS,
  MAKEMORE_TYPES,
  type MakemoreSpec,
} from "../src/models/makemore.ts";
import { Generator } from "../src/random/index.ts";
import { randint, Tensor } from "../src/tensor/index.ts";
import { AdamW } from "../src/train/optim.ts";
import { encodeBatch, fixtureOf, fx, setup, words } from "./support/makemore-replay.ts";

const sha256 = (bytes: ArrayBufferView) =>
  createHash("sha256")
    .update(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength))
    .digest("hex");

for (const type of MAKEMORE_TYPES) {
  const want = fixtureOf(type);
  test(`${type}: seed 3407 gives makemore.py's state_dict bit for bit`, () => {
    const { split, model } = setup(type);
    assert.deepEqual(split.train.slice(0, 3), want.train_words_first);
    assert.deepEqual(split.test.slice(0, 3), want.test_words_first);
    assert.equal(split.test.length, 1000);
    const state = Object.entries(model.stateDict());
    assert.deepEqual(state.map(([n]) => n).sort(), want.state.map((s) => s.name).sort(), "state_dict names");
    const byName = new Map(state);
    for (const s of want.state) {
      const t = byName.get(s.name)!;
      assert.deepEqual(t.shape, s.shape, `${s.name} shape`);
      assert.deepEqual(Array.from(t.storage.subarray(0, 4)), s.first, `${s.name} first values`);
      assert.equal(sha256(t.storage), s.sha256, `${s.name} bytes`);
    }
    assert.equal(model.numParameters(), want.params);
  });

  test(`${type}: 200 AdamW steps on PyTorch's minibatches, every loss within 1e-4`, () => {
    const { split, model } = setup(type);
    const { steps, batch } = fx.meta;
    const ix = randint(0, split.train.length, [steps, batch], {
      generator: new Generator().manualSeed(fx.meta.batch_seed),
    });
    assert.equal(
      sha256(BigInt64Array.from(ix.storage, (v) => BigInt(v))),
      want.batch_ix_sha256,
      "minibatch indices",
    );
    const opt = new AdamW(model.parameters(), { lr: 5e-4, weightDecay: 0.01, betas: [0.9, 0.99], eps: 1e-8 });
    let worst = 0;
    for (let step = 0; step < steps; step++) {
      const { X, Y } = encodeBatch(
        Array.from(ix.storage.subarray(step * batch, step * batch + batch), (i) => split.train[i]),
      );
      const loss = model.loss(X, Y);
      opt.zeroGrad();
      loss.backward();
      opt.step();
      const d = Math.abs(loss.item() - want.losses[step]);
      worst = Math.max(worst, d);
      assert.ok(d <= 1e-4, `step ${step}: loss ${loss.item()} vs PyTorch ${want.losses[step]}`);
    }
    assert.ok(worst <= 1e-4, `worst loss difference ${worst}`);
  });
}

test("AdamW through a training session: stopped at step 30 and resumed, the same 60 losses bit for bit", async () => {
  const { prepareDataFor } = await import("../src/data/dataset.ts");
  const { buildFromSpec, familyOf } = await import("../src/models/index.ts");
  const { CONFIG_VERSION, configForWords, MemoryRunStore, TrainingSession } = await import(
    "../src/train/session.ts"
  );
  const { LECTURE_TRAIN } = await import("../src/train/train.ts");
  const few = words.slice(0, 300);
  const config = configForWords(
    {
      type: "gru",
      modelFlags: { "n-embd": 8, "n-embd2": 12 },
      config: {
        version: CONFIG_VERSION,
        train: { ...LECTURE_TRAIN, ...familyOf("gru").trainDefaults, maxSteps: 60, batchSize: 8 },
        seed: 3407,
        logEvery: 1000,
        checkpointEvery: 1000,
        evalEvery: 0,
        calibrate: false,
        numSamples: 3,
      },
      inputFile: "names.txt",
    },
    few,
  );
  assert.equal(config.train.optimizer, "adamw");
  // no split in the request: the family's, makemore.py's randperm under the run's seed (the page's case)
  assert.equal(config.data.split, "makemore");
  assert.equal(config.data.splitSeed, 3407);
  const data = prepareDataFor("sequence", few, config.model.blockSize);
  const straight = new MemoryRunStore();
  await new TrainingSession({ config, data, store: straight }).run();
  const store = new MemoryRunStore();
  let first: InstanceType<typeof TrainingSession> | null = null;
  first = new TrainingSession({
    config,
    data,
    store,
    events: { step: (done) => done === 30 && first?.stop() },
  });
  assert.deepEqual(await first.run(), { kind: "stopped", step: 30 });
  const ckpt = store.checkpoint!;
  assert.equal(ckpt.state.optimizer?.kind, "adamw");
  assert.equal(ckpt.state.optimizer?.step, 30);
  const model = buildFromSpec(config.model, new Generator(0));
  model.loadStateDict(
    Object.fromEntries(
      [...ckpt.tensors].map(([n, t]) => [n, { shape: model.stateDict()[n].shape, data: t }]),
    ),
  );
  await new TrainingSession({ config, data, store, resume: { model, state: ckpt.state } }).run();
  assert.equal(store.metrics.length, 60);
  assert.deepEqual(
    store.metrics.map((m) => m.loss),
    straight.metrics.map((m) => m.loss),
  );
  // and a resume whose checkpoint lost its optimizer state is refused, not silently restarted
  const { optimizer: _, ...noOpt } = ckpt.state;
  assert.throws(
    () =>
      new TrainingSession({ config, data, store, resume: { model, state: { ...noOpt, finished: false } } }),
    /no adamw state to resume from/,
  );
});

test("through the registry and the CLI: --seed defaults to 3407 and the weights are makemore.py's", async () => {
  const { buildFromSpec, specFor } = await import("../src/models/index.ts");
  const spec = specFor("gru", {}, { vocabSize: 27, longestWord: 15, numWords: words.length });
  const model = buildFromSpec(spec, new Generator().manualSeed(3407));
  const want = new Map(fx.types.gru.state.map((s) => [s.name, s.sha256]));
  for (const [name, t] of Object.entries(model.stateDict()))
    assert.equal(sha256(t.storage), want.get(name), name);

  const { spawnSync } = await import("node:child_process");
  const { mkdtempSync, rmSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const dir = mkdtempSync(join(tmpdir(), "makemore-py-"));
  try {
    const main = new URL("../src/cli/main.ts", import.meta.url).pathname;
    const run = (...args: string[]) =>
      spawnSync(process.execPath, ["--import", "tsx", main, ...args], { encoding: "utf8", timeout: 120_000 });
    const r = run(
      "train",
      "--type",
      "bow",
      "--n-embd",
      "16",
      "--n-embd2",
      "16",
      "--max-steps",
      "30",
      "-o",
      join(dir, "run"),
      "--num-samples",
      "3",
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /model: bow \| \d+ parameters \| seed 3407/);
    assert.match(r.stdout, /adamw \(betas 0\.9, 0\.99, weight decay 0\.01\) \| lr 0\.0005 constant/);
    const bad = run("train", "--type", "bow", "--n-head", "2", "--max-steps", "1", "-o", join(dir, "bad"));
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--n-head does not apply to --type bow \(it applies to transformer\)/);
    const bad2 = run(
      "train",
      "--type",
      "transformer",
      "--n-embd",
      "30",
      "--max-steps",
      "1",
      "-o",
      join(dir, "bad2"),
    );
    assert.match(bad2.stderr, /--n-embd 30 must be a multiple of --n-head 4/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("sampling as makemore.py's generate: top-k 1 follows the most likely characters; the words are cut at the boundary", async () => {
  const { Vocabulary } = await import("../src/data/dataset.ts");
  const { sampleMakemore, MakemoreBigram } = await import("../src/models/makemore.ts");
  const { topKMask } = await import("../src/train/evaluate.ts");
  const vocab = Vocabulary.fromWords(["abc"]); // '.', a, b, c
  const model = buildMakemore(
    { type: "makemore-bigram", vocabSize: 4, blockSize: 6, ...MAKEMORE_DEFAULTS },
    new Generator(0),
  );
  // . -> b -> c -> a -> . (the largest logit of each row), everything else close behind
  const table = [
    [0, 1, 3, 2],
    [4, 0, 1, 2],
    [0, 1, 2, 5],
    [0, 6, 1, 2],
  ];
  (model as InstanceType<typeof MakemoreBigram>).logits.storage.set(table.flat());
  const words = sampleMakemore(model, vocab, { count: 4, generator: new Generator(1), topK: 1 });
  assert.deepEqual(words, ["bca", "bca", "bca", "bca"]);
  const free = sampleMakemore(model, vocab, { count: 50, generator: new Generator(1) });
  assert.ok(free.some((w) => w !== "bca") && free.every((w) => w.length <= 5));
  const masked = topKMask(new Tensor(Float32Array.from([1, 5, 3, 5]), [1, 4]), 2);
  assert.deepEqual(Array.from(masked.storage), [Number.NEGATIVE_INFINITY, 5, Number.NEGATIVE_INFINITY, 5]);
});

test("every makemore.py type runs on a captured plan (verified on its first replay) with eager's losses, bit for bit", async () => {
  const { planOf, setCaptureEnabled, trainStep } = await import("../src/train/plan.ts");
  for (const type of MAKEMORE_TYPES) {
    const spec: MakemoreSpec = {
      type,
      vocabSize: 27,
      blockSize: 16,
      nLayer: 2,
      nHead: 2,
      nEmbd: 8,
      nEmbd2: 12,
      splitDraw: 0,
    };
    const losses: number[][] = [];
    let plan: unknown = null;
    for (const captured of [false, true]) {
      const prev = setCaptureEnabled(captured);
      try {
        const model = buildMakemore(spec, new Generator(3407));
        const opt = new AdamW(model.parameters());
        const g = new Generator(5);
        const run: number[] = [];
        for (let step = 0; step < 4; step++) {
          const ix = randint(0, 2000, [4], { generator: g });
          const { X, Y } = encodeBatch(Array.from(ix.storage, (i) => words[i]));
          run.push(trainStep(model, X, Y).loss);
          opt.step();
        }
        losses.push(run);
        if (captured) plan = planOf(model);
      } finally {
        setCaptureEnabled(prev);
      }
    }
    assert.deepEqual(losses[1], losses[0], `${type}: captured vs eager`);
    assert.ok(plan, `${type}: no captured plan`);
  }
});
