/**
 * The training session (src/train/session.ts) in memory, as the browser playground runs it:
 * PyTorch's 1,000-step BatchNorm-MLP trajectory, split losses and samples
 * (fixtures/torch-bn-mlp-1000.json), and a run stopped half-way and resumed from its in-memory
 * checkpoint ending exactly where the uninterrupted one does.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { parseLines, prepareDataFor } from "../src/data/dataset.ts";
import { buildFromSpec, familyOf } from "../src/models/index.ts";
import { Generator } from "../src/random/generator.ts";
import {
  CONFIG_VERSION,
  configForWords,
  MemoryRunStore,
  type RunConfig,
  type SessionOutcome,
  TrainingSession,
} from "../src/train/session.ts";
import { LECTURE_TRAIN } from "../src/train/train.ts";

const bn1000 = JSON.parse(
  readFileSync(new URL("../fixtures/torch-bn-mlp-1000.json", import.meta.url), "utf8"),
);
const words = parseLines(readFileSync(new URL("../data/names.txt", import.meta.url), "utf8"));
const data = prepareDataFor("window", words, 3);

function lectureConfig(): RunConfig {
  return configForWords(
    {
      type: "batchnorm",
      modelFlags: {},
      config: {
        version: CONFIG_VERSION,
        train: { ...LECTURE_TRAIN, maxSteps: 1000 },
        seed: 2147483647,
        logEvery: 500,
        checkpointEvery: 250,
        evalEvery: 0,
        calibrate: false,
        numSamples: 20,
      },
      inputFile: "names.txt",
    },
    words,
  );
}

function finished(o: SessionOutcome) {
  assert.equal(o.kind, "finished", JSON.stringify(o));
  return o as Extract<SessionOutcome, { kind: "finished" }>;
}

test("a session in memory: PyTorch's 1,000 losses, split losses and samples; checkpoints every 250", async () => {
  const store = new MemoryRunStore();
  const lines: string[] = [];
  const saved: number[] = [];
  const session = new TrainingSession({
    config: lectureConfig(),
    data,
    store,
    events: { line: (t) => lines.push(t), checkpoint: (s) => saved.push(s) },
  });
  const out = finished(await session.run());
  assert.equal(out.step, 1000);
  assert.equal(store.metrics.length, 1000);
  store.metrics.forEach((m, i) => {
    assert.equal(m.step, i);
    assert.ok(Math.abs((m.loss as number) - bn1000.loss_per_step[i]) < 1e-4, `step ${i}`);
  });
  for (const split of ["train", "val", "test"] as const)
    assert.ok(Math.abs(out.splitLosses[split] - bn1000.split_loss_running_stats[split]) < 1e-5, split);
  assert.equal(out.sampleSeed, bn1000.sample_seed);
  assert.deepEqual(
    out.samples.map((s) => s.word),
    bn1000.samples.map((s: string) => s.replace(/\.$/, "")),
  );
  assert.deepEqual(store.samples?.samples, out.samples);
  assert.deepEqual(saved, [0, 250, 500, 750, 1000]);
  assert.equal(store.checkpoint?.state.finished, true);
  assert.match(lines[0], /^data: names\.txt \| 32033 items \| vocabulary 27/);
  assert.match(lines[2], /^model: batchnorm \| 12097 parameters \| seed 2147483647$/);
  assert.ok(lines.some((l) => /^step {7}0\/1000 \| loss 3\.3239/.test(l)));
});

test("stopped at step 400 and resumed from the in-memory checkpoint: the same run", async () => {
  const config = lectureConfig();
  const store = new MemoryRunStore();
  let first: TrainingSession | null = null;
  first = new TrainingSession({
    config,
    data,
    store,
    events: { step: (done) => done === 400 && first?.stop() },
  });
  const stopped = await first.run();
  assert.deepEqual(stopped, { kind: "stopped", step: 400 });
  assert.equal(store.checkpoint?.state.step, 400);
  // what a run directory holds: the tensors by name and the state; metrics past the checkpoint go
  const ckpt = store.checkpoint;
  assert.ok(ckpt);
  const model = buildFromSpec(config.model, new Generator(0));
  model.loadStateDict(
    Object.fromEntries(
      [...ckpt.tensors].map(([name, t]) => [name, { shape: model.stateDict()[name].shape, data: t }]),
    ),
  );
  store.metrics.push({ step: 400, loss: 99 }); // a line logged after the checkpoint, as a crash leaves it
  const resumed = new TrainingSession({ config, data, store, resume: { model, state: ckpt.state } });
  assert.equal(resumed.startStep, 400);
  const out = finished(await resumed.run());
  assert.equal(store.metrics.length, 1000);
  store.metrics.forEach((m, i) => {
    assert.equal(m.step, i);
    assert.ok(Math.abs((m.loss as number) - bn1000.loss_per_step[i]) < 1e-4, `step ${i}`);
  });
  assert.deepEqual(
    out.samples.map((s) => s.word),
    bn1000.samples.map((s: string) => s.replace(/\.$/, "")),
  );
  // a finished run does not start again
  assert.throws(
    () => new TrainingSession({ config, data, store, resume: { model, state: store.checkpoint!.state } }),
    /already finished \(1000 steps\)/,
  );
});

test("AdamW's moments survive the time slices and a stop + resume: the same losses as one run", async () => {
  const few = words.slice(0, 400);
  const config = configForWords(
    {
      type: "bow",
      modelFlags: { "n-embd": 8, "n-embd2": 16 },
      config: {
        version: CONFIG_VERSION,
        train: { ...LECTURE_TRAIN, ...familyOf("bow").trainDefaults, maxSteps: 60, batchSize: 16 },
        seed: 3407,
        logEvery: 1000,
        checkpointEvery: 1000,
        evalEvery: 0,
        calibrate: false,
        numSamples: 2,
      },
      inputFile: "names.txt",
    },
    few,
  );
  assert.equal((config.train as { optimizer?: string }).optimizer, "adamw");
  const seqData = prepareDataFor("sequence", few, config.model.blockSize);
  // one slice per step: the optimizer is handed from slice to slice
  const whole = new MemoryRunStore();
  finished(await new TrainingSession({ config, data: seqData, store: whole, sliceMs: 0 }).run());
  const parts = new MemoryRunStore();
  let first: TrainingSession | null = null;
  first = new TrainingSession({
    config,
    data: seqData,
    store: parts,
    events: { step: (done) => done === 25 && first?.stop() },
  });
  assert.equal((await first.run()).kind, "stopped");
  const ckpt = parts.checkpoint;
  assert.ok(ckpt?.state.optimizer, "the checkpoint holds the optimizer state");
  const model = buildFromSpec(config.model, new Generator(0));
  model.loadStateDict(
    Object.fromEntries(
      [...ckpt.tensors].map(([name, t]) => [name, { shape: model.stateDict()[name].shape, data: t }]),
    ),
  );
  finished(
    await new TrainingSession({
      config,
      data: seqData,
      store: parts,
      resume: { model, state: ckpt.state },
    }).run(),
  );
  assert.equal(whole.metrics.length, 60);
  assert.deepEqual(
    parts.metrics.map((m) => m.loss),
    whole.metrics.map((m) => m.loss),
  );
  // and the losses are a model learning, not a constant
  assert.ok((whole.metrics[59].loss as number) < (whole.metrics[0].loss as number));
});
