/**
 * The doctor on makemore.py's models (issue 12, point 6), on real short runs through the training
 * session with --diagnostics: a Transformer at lr 1e-2 without warm-up, and an RNN whose gradients
 * vanish over the sequence, each found on the broken variant and silent on makemore.py's defaults.
 * The numbers the findings carry are measured: AdamW's first step moves a weight by about lr
 * (m / sqrt(v) = +-1 on the first step), so the first update:data ratio is checked against
 * lr / std(w) of the initial weights, and the RNN's gradient flow against float64 central
 * differences of the same single-position loss.
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { parseLines, prepareDataFor } from "../src/data/dataset.ts";
import { checkMakemore, recurrentGradientFlow, THRESHOLDS } from "../src/diagnostics/doctor.ts";
import { attentionEntropy, meanStd } from "../src/diagnostics/measure.ts";
import type { Finding } from "../src/diagnostics/types.ts";
import { buildFromSpec, familyOf, specFor } from "../src/models/index.ts";
import type { RNN } from "../src/models/makemore.ts";
import { Generator } from "../src/random/generator.ts";
import { Tensor } from "../src/tensor/tensor.ts";
import { CONFIG_VERSION, configForWords, MemoryRunStore, TrainingSession } from "../src/train/session.ts";
import { LECTURE_TRAIN, type TrainConfig } from "../src/train/train.ts";

const words = parseLines(readFileSync(new URL("../data/names.txt", import.meta.url), "utf8"));

/** A short run of `type` at makemore.py's defaults with `train` changed, --diagnostics on. */
async function shortRun(type: string, train: Partial<TrainConfig>, modelFlags = {}) {
  const family = familyOf(type);
  const config = configForWords(
    {
      type,
      modelFlags,
      split: "makemore",
      config: {
        version: CONFIG_VERSION,
        train: { ...LECTURE_TRAIN, ...(family.trainDefaults as Partial<TrainConfig>), ...train },
        seed: 3407,
        logEvery: 1000,
        checkpointEvery: 100000,
        evalEvery: 0,
        habits: "makemore",
        calibrate: false,
        numSamples: 0,
        diagnostics: { every: 0, updateRatios: true },
      },
      inputFile: "names.txt",
    },
    words,
  );
  const data = prepareDataFor("sequence", words, config.model.blockSize, 3407, "makemore");
  const store = new MemoryRunStore();
  const session = new TrainingSession({ config, data, store });
  const out = await session.run();
  assert.equal(out.kind, "finished");
  const findings = (out as { findings: Finding[] }).findings;
  return { findings, store, session, data, config };
}

const ids = (fs: Finding[]) => fs.map((f) => f.id);

test("a Transformer at lr 1e-2 without warm-up is found (its measured first update), silent at makemore.py's lr 5e-4 and with a warm-up", async () => {
  // the initial weights' spread: AdamW's first step moves each weight by lr, so update:data ~ lr / std(w)
  const spec = specFor("transformer", {}, { vocabSize: 27, longestWord: 15, numWords: words.length });
  const init = buildFromSpec(spec, new Generator().manualSeed(3407));
  const predicted = init
    .namedParameters()
    .filter(([n, p]) => p.shape.length === 2 && n.endsWith("weight"))
    .map(([, p]) => Math.log10(1e-2 / meanStd(p.storage).std))
    .sort((a, b) => a - b);

  const broken = await shortRun("transformer", { maxSteps: 12, learningRate: 1e-2 });
  const f = broken.findings.find((x) => x.id === "transformer-no-warmup");
  assert.ok(f, JSON.stringify(ids(broken.findings)));
  // measured from the step-0 change of the weights, equal to lr / std(w) to within the first
  // step's weight decay and the rows of the embeddings no batch touched
  const measured = f.measured.firstUpdateLog10 as number;
  assert.equal(f.measured.from, "step 0");
  assert.ok(
    Math.abs(measured - predicted[Math.floor(predicted.length / 2)]) < 0.05,
    `${measured} vs ${predicted}`,
  );
  assert.ok(measured > THRESHOLDS.firstUpdateHigh);
  assert.match(f.fix, /--warmup-steps/);

  // the attention weights' entropy is recorded per block (a share of the uniform's)
  const snap = broken.store.diagnostics.at(-1)!;
  const att = snap.activations.filter((a) => a.kind === "CausalSelfAttention");
  assert.equal(att.length, 4);
  for (const a of att) assert.ok(a.entropyShare! > 0 && a.entropyShare! <= 1, String(a.entropyShare));
  assert.deepEqual([...new Set(snap.activations.map((a) => a.kind))].sort(), [
    "Block",
    "CausalSelfAttention",
    "Embedding",
    "GELU",
    "LayerNorm",
  ]);

  const healthy = await shortRun("transformer", { maxSteps: 12 });
  assert.deepEqual(ids(healthy.findings), []);
  const warm = await shortRun("transformer", { maxSteps: 12, learningRate: 1e-2, warmupSteps: 100 });
  assert.ok(!ids(warm.findings).includes("transformer-no-warmup"), JSON.stringify(ids(warm.findings)));
});

test("attention entropy: uniform rows give ln(t + 1), one-hot rows 0", () => {
  // (1, 1, 3, 3) causal rows: [1], [1/2, 1/2], [1/3, 1/3, 1/3] and the one-hot version
  const uniform = new Tensor(Float32Array.from([1, 0, 0, 0.5, 0.5, 0, 1 / 3, 1 / 3, 1 / 3]), [1, 1, 3, 3]);
  const e = attentionEntropy(uniform);
  assert.ok(Math.abs(e.entropy - (0 + Math.log(2) + Math.log(3)) / 3) < 1e-6);
  assert.ok(Math.abs(e.share - 1) < 1e-6);
  const onehot = new Tensor(Float32Array.from([1, 0, 0, 0, 1, 0, 1, 0, 0]), [1, 1, 3, 3]);
  assert.deepEqual(attentionEntropy(onehot), { entropy: 0, share: 0 });
});

test("the RNN's gradient flow is dL_k/dh_t, checked against the chain rule in float64 from the weights", () => {
  // one word, so the flow's batch is that word and k its length: the loss predicts the end token
  const word = "isabella";
  const data = prepareDataFor("sequence", [word], word.length + 1, 3407, "makemore");
  const V = data.vocab.size;
  const spec = specFor("rnn", { "n-embd": 4, "n-embd2": 5 }, { vocabSize: V, longestWord: 8, numWords: 1 });
  const model = buildFromSpec(spec, new Generator().manualSeed(3407)) as unknown as RNN;
  const flow = recurrentGradientFlow(model, data.train, new Generator().manualSeed(1))!;
  assert.equal(flow.k, 8);
  // float64 forward h_t = tanh(W [x_t, h_{t-1}] + b) from the start state, then backward:
  // dL/dh_k = W_lm^T (softmax(W_lm h_k + b_lm) - e_end), dL/dh_{t-1} = W_h^T ((1 - h_t^2) dL/dh_t)
  const sd = model.stateDict();
  const P = (n: string) => Float64Array.from(sd[n].storage);
  const [wte, W, b, Wlm, blm, start] = [
    "wte.weight",
    "cell.xh_to_h.weight",
    "cell.xh_to_h.bias",
    "lm_head.weight",
    "lm_head.bias",
    "start",
  ].map(P);
  const C = 4;
  const H = 5;
  const ids = [0, ...[...word].map((c) => data.vocab.stoi.get(c)!)]; // <START> then the word
  const hs: Float64Array[] = [];
  let h = start;
  for (let t = 0; t <= flow.k; t++) {
    const xh = [...wte.subarray(ids[t] * C, ids[t] * C + C), ...h];
    h = Float64Array.from({ length: H }, (_, i) =>
      Math.tanh(b[i] + xh.reduce((a, v, j) => a + W[i * (C + H) + j] * v, 0)),
    );
    hs.push(h);
  }
  const logits = Array.from(
    { length: V },
    (_, v) => blm[v] + hs[flow.k].reduce((a, x, i) => a + Wlm[v * H + i] * x, 0),
  );
  const mx = Math.max(...logits);
  const z = logits.reduce((a, l) => a + Math.exp(l - mx), 0);
  const dlogits = logits.map((l, v) => Math.exp(l - mx) / z - (v === 0 ? 1 : 0));
  let g = Float64Array.from({ length: H }, (_, i) => dlogits.reduce((a, d, v) => a + Wlm[v * H + i] * d, 0));
  const want: number[] = [];
  for (let t = flow.k; t >= 0; t--) {
    want[t] = Math.sqrt(g.reduce((a, x) => a + x * x, 0));
    const pre = hs[t].map((x, i) => (1 - x * x) * g[i]);
    g = Float64Array.from({ length: H }, (_, j) =>
      pre.reduce((a, d, i) => a + W[i * (C + H) + C + j] * d, 0),
    );
  }
  flow.norms.forEach((n, t) =>
    assert.ok(Math.abs(n - want[t]) <= 1e-4 * want[t], `t ${t}: ${n} vs ${want[t]}`),
  );
  assert.ok(Math.abs(flow.perStep - (want[0] / want[flow.k]) ** (1 / flow.k)) < 1e-4);
});

test("an RNN whose gradients vanish over the sequence (lr 1e-2 saturates it) is found; silent at makemore.py's defaults; GRU not checked", async () => {
  const healthy = await shortRun("rnn", { maxSteps: 250 });
  assert.deepEqual(ids(healthy.findings), []);
  const broken = await shortRun("rnn", { maxSteps: 250, learningRate: 1e-2 });
  const f = broken.findings.find((x) => x.id === "rnn-vanishing-gradients");
  assert.ok(f, JSON.stringify(ids(broken.findings)));
  assert.ok((f.measured.reach as number) < THRESHOLDS.rnnReach);
  assert.match(f.fix, /--type gru/);
  // the measurement behind it, on the healthy run's weights: more than the threshold reaches back
  const flow = recurrentGradientFlow(
    healthy.session.model as unknown as RNN,
    healthy.data.train,
    new Generator().manualSeed(3407),
  )!;
  assert.ok(flow.norms[0] / flow.norms[flow.k] > THRESHOLDS.rnnReach);
  // at initialization every RNN is there (x0.35 per step): the check waits for training
  const fresh = buildFromSpec(healthy.config.model, new Generator().manualSeed(3407));
  assert.deepEqual(
    checkMakemore(fresh, healthy.data.train, new Generator().manualSeed(1), {
      step: 0,
      train: healthy.config.train,
    }),
    [],
  );
});
