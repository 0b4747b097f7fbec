/**
 * The engine (src/tensor/engine.ts, src/train/plan.ts): a captured and replayed training step gives
 * the same bits as the eager autograd step -- both run the same kernels, so every loss, parameter,
 * gradient, activation and BatchNorm running buffer must be identical, step after step -- on every
 * preset, on custom nets with each layer kind and on a model of composed ops; the captured eval
 * forward gives the eager split losses and samples exactly. Plus the capture rules: an op computing
 * outside a launched kernel, or a random draw, makes the step run eagerly (and still train right).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { exampleRows, parseLines, prepareData, prepareDataFor } from "../src/data/dataset.ts";
import { buildMakemore, MAKEMORE_TYPES } from "../src/models/makemore.ts";
import { buildModel, type MLP, type ModelSpec, presetSpec } from "../src/models/mlp.ts";
import type { LanguageModel } from "../src/models/model.ts";
import { windowContext } from "../src/models/model.ts";
import { WAVENET_FAMILY } from "../src/models/wavenet.ts";
import { BatchNorm1d, Embedding, Linear, Module, ReLU, Tanh } from "../src/nn/modules.ts";
import { Generator } from "../src/random/generator.ts";
import { capture, Plan } from "../src/tensor/engine.ts";
import {
  attentionMix,
  attentionScores,
  attentionWeights,
  causalSoftmax,
  matmul,
  split,
} from "../src/tensor/index.ts";
import { randn } from "../src/tensor/random.ts";
import { crossEntropy, noGrad, record, Tensor, tensor } from "../src/tensor/tensor.ts";
import { sampleWords, splitLoss } from "../src/train/evaluate.ts";
import { AdamW, SGD } from "../src/train/optim.ts";
import { lossPlanFor, planOf, setCaptureEnabled, trainStep } from "../src/train/plan.ts";
import { gatherBatch, LECTURE_TRAIN, type StepInfo, train } from "../src/train/train.ts";

const data = prepareData(
  parseLines(readFileSync(new URL("../data/names.txt", import.meta.url), "utf8")).slice(0, 3000),
);

/** Every float of a model's parameters, gradients and buffers, and its layers' outputs. */
function snapshot(model: Module): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [name, p] of model.namedParameters()) {
    out.set(name, p.storage.slice());
    if (p.grad) out.set(`${name}.grad`, p.grad.storage.slice());
  }
  for (const [name, b] of model.namedBuffers()) out.set(name, b.storage.slice());
  model.modules().forEach((m, i) => {
    if (m.out) out.set(`module ${i} out`, m.out.storage.slice());
    if (m.out?.grad) out.set(`module ${i} out.grad`, m.out.grad.storage.slice());
  });
  return out;
}

function assertSameBits(what: string, a: Map<string, Float32Array>, b: Map<string, Float32Array>): void {
  assert.deepEqual([...a.keys()], [...b.keys()], `${what}: the same tensors`);
  for (const [name, x] of a) {
    const y = b.get(name)!;
    assert.equal(x.length, y.length, `${what} ${name}: length`);
    for (let i = 0; i < x.length; i++) {
      if (!Object.is(x[i], y[i])) assert.fail(`${what} ${name}[${i}]: replayed ${x[i]}, eager ${y[i]}`);
    }
  }
}

/** Train `make()` twice from the same seed, replayed and eager; compare every step's state bitwise. */
function replayEqualsEager(
  label: string,
  make: (g: Generator) => LanguageModel,
  batchSize: number,
  steps: number,
) {
  const runs = [true, false].map((captured) => {
    const prev = setCaptureEnabled(captured);
    try {
      const g = new Generator().manualSeed(2147483647);
      const model = make(g);
      for (const m of model.modules()) m.retainOutGrad = true;
      const losses: number[] = [];
      const states: Map<string, Float32Array>[] = [];
      let planned = 0;
      train(model, data.train, { ...LECTURE_TRAIN, batchSize, maxSteps: steps }, g, {
        beforeUpdate: (s) => {
          losses.push(s.loss);
          if (s.step % 3 === 0) states.push(snapshot(model));
        },
      });
      // one more step through trainStep directly, to see that a plan ran
      const X = new Tensor(data.train.X.storage.slice(0, batchSize * 3), [batchSize, 3], "int64");
      const Y = new Tensor(data.train.Y.storage.slice(0, batchSize), [batchSize], "int64");
      if (trainStep(model, X, Y).plan) planned++;
      states.push(snapshot(model));
      return { losses, states, planned, final: snapshot(model) };
    } finally {
      setCaptureEnabled(prev);
    }
  });
  const [replayed, eager] = runs;
  assert.equal(replayed.planned, 1, `${label}: the step ran as a plan`);
  assert.equal(eager.planned, 0, `${label}: capture off runs eagerly`);
  assert.deepEqual(replayed.losses, eager.losses, `${label}: losses`);
  replayed.states.forEach((s, i) => assertSameBits(`${label} snapshot ${i}`, s, eager.states[i]));
}

const PRESETS = [
  "original",
  "fix-softmax",
  "fix-tanh",
  "kaiming",
  "batchnorm",
  "deep-bn",
  "deep-tanh",
] as const;
for (const type of PRESETS) {
  test(`replayed plan == eager, bit for bit: ${type}`, () => {
    replayEqualsEager(type, (g) => buildModel(presetSpec(type, 27, 3), g), 32, 12);
  });
}

const CUSTOM: [string, ModelSpec, number][] = [
  [
    "custom: relu, torch BatchNorm, bias, odd widths, batch 7",
    {
      ...presetSpec("custom", 27, 3),
      nHidden: 37,
      depth: 2,
      batchnorm: "torch",
      nonlinearity: "relu",
      nEmbd: 5,
    },
    7,
  ],
  [
    "custom: lecture BatchNorm incl. the output, no nonlinearity, batch 3",
    {
      ...presetSpec("custom", 27, 3),
      nHidden: 9,
      depth: 3,
      batchnorm: "lecture",
      outputBatchnorm: true,
      nonlinearity: "none",
    },
    3,
  ],
  [
    "custom: lecture-std BatchNorm, tanh, no bias",
    { ...presetSpec("custom", 27, 3), nHidden: 20, depth: 2, batchnorm: "lecture-std", bias: false },
    16,
  ],
];
for (const [label, spec, batchSize] of CUSTOM) {
  test(`replayed plan == eager, bit for bit: ${label}`, () => {
    replayEqualsEager(label, (g) => buildModel(spec, g), batchSize, 9);
  });
}

/**
 * A model of composed ops (every elementwise family, broadcasting, reductions, softmax, pick):
 * Embedding -> flatten -> Linear -> BatchNorm(torch) -> x * sigmoid(x) + relu(x) - |x| / 4 ->
 * Tanh -> Linear -> log-softmax -> pick -> negated mean.
 */
class Composed extends Module implements LanguageModel {
  readonly spec = { type: "composed", vocabSize: 27, blockSize: 3 };
  emb: Embedding;
  l1: Linear;
  bn: BatchNorm1d;
  act = new Tanh();
  relu = new ReLU();
  l2: Linear;
  scale: Tensor;
  constructor(g: Generator) {
    super();
    this.emb = new Embedding(27, 6, { generator: g });
    this.l1 = new Linear(18, 24, { generator: g });
    this.bn = new BatchNorm1d(24, { variant: "torch" });
    this.l2 = new Linear(24, 27, { generator: g });
    this.scale = randn([1, 24], { generator: g }).requiresGrad_();
  }
  forward(X: Tensor): Tensor {
    const e = this.emb.forward(X);
    let h = this.bn.forward(this.l1.forward(e.view(e.shape[0], -1)));
    h = h.mul(h.sigmoid()).add(this.relu.forward(h)).sub(h.abs().div(4)).mul(this.scale);
    h = this.act.forward(h.maximum(h.exp().neg()).sub(h.mean(0, { keepdim: true })));
    return this.l2.forward(h);
  }
  loss(X: Tensor, Y: Tensor): Tensor {
    const lp = this.forward(X).logSoftmax(1);
    const n = Y.numel();
    const picked = lp.pick(
      tensor(
        Array.from({ length: n }, (_, i) => i),
        { dtype: "int64" },
      ),
      Y,
    );
    return picked
      .mean()
      .neg()
      .add(crossEntropy(this.forward(X), Y).mul(0));
  }
  nextLogits(context: Tensor): Tensor {
    return this.forward(windowContext(context, 3));
  }
  diagnosticLayers(): Module[] {
    return [];
  }
  override ownParameters(): [string, Tensor][] {
    return [["scale", this.scale]];
  }
  override children(): [string, Module][] {
    return [
      ["emb", this.emb],
      ["l1", this.l1],
      ["bn", this.bn],
      ["act", this.act],
      ["relu", this.relu],
      ["l2", this.l2],
    ];
  }
}

test("replayed plan == eager, bit for bit: a model of composed ops", () => {
  replayEqualsEager("composed", (g) => new Composed(g), 10, 9);
});

test("the captured eval forward gives the eager split losses and samples exactly", () => {
  for (const type of ["batchnorm", "deep-bn", "kaiming"] as const) {
    const g = new Generator().manualSeed(2147483647);
    const model: MLP = buildModel(presetSpec(type, 27, 3), g);
    train(model, data.train, { ...LECTURE_TRAIN, maxSteps: 60 }, g);
    const both = [true, false].map((captured) => {
      const prev = setCaptureEnabled(captured);
      try {
        const losses = (["train", "val"] as const).map((s) => splitLoss(model, data[s]));
        const words = sampleWords(model, data.vocab, { count: 10, generator: new Generator().manualSeed(7) });
        const cold = sampleWords(model, data.vocab, {
          count: 5,
          generator: new Generator().manualSeed(8),
          temperature: 0.7,
          maxLength: 5,
        });
        return { losses, words, cold };
      } finally {
        setCaptureEnabled(prev);
      }
    });
    assert.deepEqual(both[0], both[1], type);
  }
});

/** Tanh written as an op that computes outside a launched kernel (what a plan must refuse). */
class InlineTanh extends Module {
  forward(x: Tensor): Tensor {
    const y = new Float32Array(x.numel());
    for (let i = 0; i < y.length; i++) y[i] = Math.tanh(x.storage[i]);
    const out = new Tensor(y, x.shape);
    return this.keep(
      record(out, "inlineTanh", [x], (g) => {
        const gx = x.grad ?? (x.grad = new Tensor(new Float32Array(x.numel()), x.shape));
        for (let i = 0; i < g.length; i++) gx.storage[i] += g[i] * (1 - y[i] * y[i]);
      }),
    );
  }
}

/** Adds noise drawn inside the step (a random draw: not capturable). */
class Noise extends Module {
  g = new Generator().manualSeed(1);
  forward(x: Tensor): Tensor {
    return this.keep(x.add(randn(x.shape, { generator: this.g }).mul(1e-3)));
  }
}

test("an op computing outside a kernel, or a random draw, makes the step eager (and it still trains)", () => {
  for (const [name, make] of [
    ["inline op", () => new InlineTanh()],
    ["random draw", () => new Noise()],
  ] as const) {
    const g = new Generator().manualSeed(2147483647);
    const model = buildModel(presetSpec("deep-tanh", 27, 3), g);
    model.layers.layers[1] = make(); // replaces the first Tanh
    const X = new Tensor(data.train.X.storage.slice(0, 96), [32, 3], "int64");
    const Y = new Tensor(data.train.Y.storage.slice(0, 32), [32], "int64");
    const first = trainStep(model, X, Y);
    assert.equal(first.plan, null, `${name}: no plan`);
    assert.ok(
      model.parameters().every((p) => p.grad !== null),
      `${name}: gradients from the eager step`,
    );
    const losses: number[] = [];
    train(model, data.train, { ...LECTURE_TRAIN, maxSteps: 30 }, g, {
      afterStep: (s) => losses.push(s.loss),
    });
    assert.ok(losses[29] < losses[0], `${name}: the loss falls (${losses[0]} -> ${losses[29]})`);
  }
});

test("a changed structure (BatchNorm to eval mode, a swapped weight) is captured again and matches eager", () => {
  const runs = [true, false].map((captured) => {
    const prev = setCaptureEnabled(captured);
    try {
      const g = new Generator().manualSeed(2147483647);
      const model = buildModel(presetSpec("deep-bn", 27, 3), g);
      train(model, data.train, { ...LECTURE_TRAIN, maxSteps: 8 }, g, {
        afterStep: ({ step }) => {
          if (step === 2) (model.layers.layers[1] as BatchNorm1d).training = false;
          if (step === 4) {
            const lin = model.layers.layers[3] as Linear;
            lin.weight = new Tensor(
              lin.weight.storage.map((v) => v * 0.5),
              lin.weight.shape,
            ).requiresGrad_();
          }
          if (step === 5) (model.layers.layers[4] as BatchNorm1d).momentum = 0.5;
        },
      });
      return snapshot(model);
    } finally {
      setCaptureEnabled(prev);
    }
  });
  assertSameBits("restructured", runs[0], runs[1]);
});

test("makemore.py's models: the replayed plan == eager, bit for bit (losses and parameters)", () => {
  const words = parseLines(readFileSync(new URL("../data/names.txt", import.meta.url), "utf8")).slice(
    0,
    1000,
  );
  const T = Math.max(...words.map((w) => w.length)) + 1;
  const seq = prepareDataFor("sequence", words, T);
  for (const type of MAKEMORE_TYPES) {
    const runs = [true, false].map((captured) => {
      const prev = setCaptureEnabled(captured);
      try {
        const g = new Generator().manualSeed(3407);
        const spec = {
          type,
          vocabSize: seq.vocab.size,
          blockSize: T,
          nLayer: 1,
          nHead: 2,
          nEmbd: 8,
          nEmbd2: 8,
          splitDraw: 0,
        };
        const model = buildMakemore(spec, g);
        const losses: number[] = [];
        train(model, seq.train, { ...LECTURE_TRAIN, batchSize: 8, maxSteps: 5, learningRate: 0.05 }, g, {
          afterStep: (s) => losses.push(s.loss),
        });
        return { losses, planned: planOf(model) !== null, state: snapshot(model) };
      } finally {
        setCaptureEnabled(prev);
      }
    });
    assert.ok(runs[0].planned, `${type}: the step ran as a plan`);
    assert.deepEqual(runs[0].losses, runs[1].losses, `${type}: losses`);
    assertSameBits(type, runs[0].state, runs[1].state);
  }
});

test("AdamW on the plan: its moments live in the arena, one call updates every parameter, bit for bit eager's", () => {
  const words = parseLines(readFileSync(new URL("../data/names.txt", import.meta.url), "utf8")).slice(0, 500);
  const T = Math.max(...words.map((w) => w.length)) + 1;
  const seq = prepareDataFor("sequence", words, T);
  for (const type of ["transformer", "rnn"] as const) {
    const runs = [true, false].map((captured) => {
      const prev = setCaptureEnabled(captured);
      try {
        const g = new Generator().manualSeed(3407);
        const spec = {
          type,
          vocabSize: seq.vocab.size,
          blockSize: T,
          nLayer: 1,
          nHead: 2,
          nEmbd: 8,
          nEmbd2: 8,
          splitDraw: 0,
        };
        const model = buildMakemore(spec, g);
        const opt = new AdamW(model.parameters(), {
          lr: 1e-2,
          betas: [0.9, 0.99],
          eps: 1e-8,
          weightDecay: 0.01,
        });
        const losses: number[] = [];
        train(
          model,
          seq.train,
          { ...LECTURE_TRAIN, batchSize: 8, maxSteps: 6 },
          g,
          { afterStep: (s) => losses.push(s.loss) },
          0,
          opt,
        );
        const plan = planOf(model);
        const inArena = plan !== null && opt.stateBuffers()[0][0].buffer === plan.plan.arena.ex.memory.buffer;
        return { losses, inArena, state: snapshot(model), moments: opt.stateDict() };
      } finally {
        setCaptureEnabled(prev);
      }
    });
    assert.ok(runs[0].inArena, `${type}: AdamW's moments moved into the plan's arena`);
    assert.ok(!runs[1].inArena, `${type}: eager keeps them as plain arrays`);
    assert.deepEqual(runs[0].losses, runs[1].losses, `${type}: losses`);
    assertSameBits(`${type} AdamW`, runs[0].state, runs[1].state);
    assert.deepEqual(runs[0].moments, runs[1].moments, `${type}: exp_avg and exp_avg_sq`);
  }
});

test("SGD with momentum on the plan: its buffers live in the arena, one call updates every parameter, bit for bit eager's", () => {
  const words = parseLines(readFileSync(new URL("../data/names.txt", import.meta.url), "utf8")).slice(0, 500);
  const data = prepareData(words, 3);
  for (const opts of [
    { momentum: 0.9, weightDecay: 5e-4, nesterov: true },
    { momentum: 0.5, dampening: 0.1 },
    { weightDecay: 1e-3 },
  ]) {
    const runs = [true, false].map((captured) => {
      const prev = setCaptureEnabled(captured);
      try {
        const g = new Generator().manualSeed(2147483647);
        const model = buildModel(presetSpec("batchnorm", 27, 3), g);
        const opt = new SGD(model.parameters(), { lr: 0.05, ...opts });
        const losses: number[] = [];
        train(
          model,
          data.train,
          { ...LECTURE_TRAIN, batchSize: 32, maxSteps: 6 },
          g,
          { afterStep: (s) => losses.push(s.loss) },
          0,
          opt,
        );
        const plan = planOf(model);
        const bufs = opt.stateBuffers();
        const inArena =
          plan !== null && (bufs.length === 0 || bufs[0][0].buffer === plan.plan.arena.ex.memory.buffer);
        return { losses, planned: plan !== null, inArena, state: snapshot(model), buffers: opt.stateDict() };
      } finally {
        setCaptureEnabled(prev);
      }
    });
    const what = JSON.stringify(opts);
    assert.ok(
      runs[0].planned && runs[0].inArena,
      `${what}: the momentum buffers moved into the plan's arena`,
    );
    assert.ok(!runs[1].planned, `${what}: the eager run`);
    assert.deepEqual(runs[0].losses, runs[1].losses, `${what}: losses`);
    assertSameBits(`${what} SGD`, runs[0].state, runs[1].state);
    assert.deepEqual(runs[0].buffers, runs[1].buffers, `${what}: momentum buffers`);
  }
});

test("sequence models' split losses on a captured eval loss == eager, bit for bit", () => {
  const words = parseLines(readFileSync(new URL("../data/names.txt", import.meta.url), "utf8")).slice(
    0,
    1000,
  );
  const T = Math.max(...words.map((w) => w.length)) + 1;
  const seq = prepareDataFor("sequence", words, T);
  for (const type of MAKEMORE_TYPES) {
    const g = new Generator().manualSeed(3407);
    const spec = {
      type,
      vocabSize: seq.vocab.size,
      blockSize: T,
      nLayer: 1,
      nHead: 2,
      nEmbd: 8,
      nEmbd2: 8,
      splitDraw: 0,
    };
    const model = buildMakemore(spec, g);
    train(model, seq.train, { ...LECTURE_TRAIN, batchSize: 8, maxSteps: 3, learningRate: 0.05 }, g);
    const both = [true, false].map((captured) => {
      const prev = setCaptureEnabled(captured);
      try {
        return (["train", "val"] as const).map((s) => splitLoss(model, seq[s]));
      } finally {
        setCaptureEnabled(prev);
      }
    });
    assert.deepEqual(both[0], both[1], type);
    const { X, Y } = exampleRows(seq.train, 0, 256);
    model.eval(); // as splitLoss asks for it
    assert.ok(lossPlanFor(model, X, Y)?.verified, `${type}: the split loss ran on a verified plan`);
  }
});

test("the WaveNet: the replayed plan == eager, bit for bit", () => {
  const fam = WAVENET_FAMILY;
  const spec = fam.spec("wavenet", {}, { vocabSize: 27, longestWord: 15, numWords: 3000 });
  const windows = prepareData(
    parseLines(readFileSync(new URL("../data/names.txt", import.meta.url), "utf8")).slice(0, 3000),
    spec.blockSize,
  );
  const runs = [true, false].map((captured) => {
    const prev = setCaptureEnabled(captured);
    try {
      const g = new Generator().manualSeed(42);
      const model = fam.build(spec, g);
      const losses: number[] = [];
      train(model, windows.train, { ...LECTURE_TRAIN, maxSteps: 6 }, g, {
        afterStep: (s) => losses.push(s.loss),
      });
      return { losses, planned: planOf(model) !== null, state: snapshot(model) };
    } finally {
      setCaptureEnabled(prev);
    }
  });
  assert.ok(runs[0].planned, "the step ran as a plan");
  assert.deepEqual(runs[0].losses, runs[1].losses);
  assertSameBits("wavenet", runs[0].state, runs[1].state);
});

test("causal self-attention replayed on the arena (each (batch, head) pair's products together) == the composed ops eager, bit for bit", () => {
  // the Transformer's shape (B 32, T 16, nh 4, hs 16) and an odd one (3 x 2 pairs, then 3 x 3:
  // an odd count); the plan runs attentionWeights two pairs at a time (engine.ts
  // attentionWeightsArena) and attention's backward gemms pair by pair (gemmStridedArena), eager
  // gemm after gemm over all pairs
  const g = new Generator().manualSeed(31);
  for (const [B, T, nh, hs] of [
    [32, 16, 4, 16],
    [3, 7, 2, 5],
    [3, 6, 3, 4],
  ]) {
    const C = nh * hs;
    const qkv = randn([B, T, 3 * C], { generator: g }).requiresGrad_();
    const up = randn([B, T, C], { generator: g });
    const upAtt = randn([B, nh, T, T], { generator: g });
    const sc = 1 / Math.sqrt(hs);
    // a loss reading both outputs, so the weights' gradient has a direct term and one through y
    const lossOf = (att: Tensor, y: Tensor) => y.mul(up).sum().add(att.mul(upAtt).sum());
    for (const op of ["attentionWeights", "causalSoftmax(attentionScores)"]) {
      qkv.grad = null;
      const { result, capture: c } = capture(() => {
        const att =
          op === "attentionWeights"
            ? attentionWeights(qkv, nh, sc)
            : causalSoftmax(attentionScores(qkv, nh), sc);
        const y = attentionMix(att, qkv, nh);
        lossOf(att, y).backward();
        return { att, y };
      });
      const plan = Plan.seal(c, [qkv, up, upAtt]);
      assert.ok(plan, "the arena module runs here");
      const composed = () => {
        const x = new Tensor(qkv.storage.slice(), qkv.shape).requiresGrad_();
        const [q, k, v] = split(x, C, 2).map((t) => t.view(B, T, nh, hs).transpose(1, 2));
        const att = causalSoftmax(matmul(q, k.transpose(-2, -1)), sc);
        const y = matmul(att, v).transpose(1, 2).reshape(B, T, C);
        lossOf(att, y).backward();
        return new Map([
          ["att", att.storage],
          ["y", y.storage],
          ["dqkv", x.grad!.storage],
        ]);
      };
      // the replay on the capture's qkv, then on new values written into the arena's qkv
      for (const what of ["capture values", "new values"]) {
        if (what === "new values") qkv.storage.set(randn([B, T, 3 * C], { generator: g }).storage);
        for (const t of [result.att, result.y, qkv.grad!]) t.storage.fill(Number.NaN);
        plan!.run();
        const replayed = new Map([
          ["att", result.att.storage],
          ["y", result.y.storage],
          ["dqkv", qkv.grad!.storage],
        ]);
        assertSameBits(`${op} (${B}, ${T}, ${nh}, ${hs}) ${what}`, replayed, composed());
      }
    }
  }
});

test("a hook's StepInfo.ix is its minibatch's rows (made on first read, kept past the step)", () => {
  // the loop makes info.ix only when a hook reads it: it must still be the step's
  // torch.randint(0, N, (B,), generator=g) draw, whether read during the step or after training
  const spec = presetSpec("fix-tanh", 27, 3);
  const g = new Generator().manualSeed(2147483647);
  const model = buildModel(spec, g);
  // the same stream from a twin generator: the model's initialisation, then steps x B draws
  const twin = new Generator().manualSeed(2147483647);
  buildModel(spec, twin);
  const steps = 6;
  const B = LECTURE_TRAIN.batchSize;
  const N = data.train.X.shape[0];
  const rows = new Float32Array(steps * B);
  twin.randintInto(rows, 0, N);
  const kept: StepInfo[] = [];
  const readNow = new Map<number, { ix: number[]; loss: number }>();
  train(model, data.train, { ...LECTURE_TRAIN, maxSteps: steps }, g, {
    beforeUpdate: (s) => {
      kept.push(s);
      if (s.step % 2 !== 0) return; // odd steps: read only after training
      // the step's loss, again from the rows the hook sees (the parameters are not updated yet)
      const { Xb, Yb } = gatherBatch(data.train, s.ix, 3);
      readNow.set(s.step, { ix: [...s.ix.storage], loss: noGrad(() => model.loss(Xb, Yb)).item() });
    },
  });
  assert.equal(kept.length, steps);
  for (const [k, s] of kept.entries()) {
    const want = [...rows.subarray(k * B, (k + 1) * B)];
    assert.deepEqual(s.ix.shape, [B]);
    assert.deepEqual([...s.ix.storage], want, `step ${k}: ix`);
    const now = readNow.get(k);
    if (now) {
      assert.deepEqual(now.ix, want, `step ${k}: ix read in the hook`);
      assert.equal(now.loss, s.loss, `step ${k}: the loss of Xtr[ix], Ytr[ix]`);
    }
  }
});
