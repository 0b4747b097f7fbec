/**
 * makemore part 1, the bigrams, against PyTorch running the notebook's code
 * (fixtures/torch-bigrams.json from scripts/torch/bigrams.py) and the notebook's printed output.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { trainFlagsFrom } from "../src/cli/flags.ts";
import { buildDataset, parseLines, Vocabulary } from "../src/data/dataset.ts";
import { checkBigramFit, checkModel } from "../src/diagnostics/doctor.ts";
import {
  type Bigram,
  BigramCounts,
  bigramFit,
  bigramSpec,
  buildBigram,
  sampleBigram,
  trainBigramFullBatch,
} from "../src/models/bigram.ts";
import { Generator } from "../src/random/generator.ts";
import { sampleWords, splitLoss } from "../src/train/evaluate.ts";
import { optimizationText } from "../src/train/session.ts";

const ref = JSON.parse(readFileSync(new URL("../fixtures/torch-bigrams.json", import.meta.url), "utf8"));
const words = parseLines(readFileSync(new URL("../data/names.txt", import.meta.url), "utf8"));
const vocab = Vocabulary.fromWords(words);
// the notebook's dataset: every bigram of every word, '.' around each
const { X, Y } = buildDataset(words, vocab, 1);

function sha256(x: Float32Array): string {
  return createHash("sha256")
    .update(new Uint8Array(x.buffer, x.byteOffset, x.byteLength))
    .digest("hex");
}
const seeded = () => new Generator().manualSeed(2147483647);

test("counting: 228,146 bigrams, the notebook's most common pairs, PyTorch's log-likelihood in float32", () => {
  const model = new BigramCounts(bigramSpec("bigram-counts", 27)).fit(X, Y);
  const N = model.counts.storage;
  assert.equal(X.shape[0], 228146);
  // the notebook's sorted(b.items()): ('n', '<E>') 6763, ('a', '<E>') 6640, ('a', 'n') 5438, ...
  const pairs = Array.from(N, (c, k) => [c, vocab.itos[Math.floor(k / 27)] + vocab.itos[k % 27]] as const);
  pairs.sort((a, b) => b[0] - a[0]);
  assert.deepEqual(pairs.slice(0, 10), ref.counts.top10);
  assert.deepEqual(Array.from(N.subarray(0, 27)), ref.counts.row0);
  assert.equal(sha256(Int32Array.from(N) as unknown as Float32Array), ref.counts.sha256_int32);
  // P = (N+1).float(); P /= P.sum(1, keepdims=True): bit for bit
  assert.equal(sha256(model.probs().storage), ref.counts.P_sha256);
  // log_likelihood += torch.log(prob), a float32 tensor accumulating in the notebook's order
  const ll = model.logLikelihood(X, Y);
  assert.equal(ll.n, ref.counts.n);
  assert.equal(ll.logLikelihood, ref.counts.log_likelihood); // -559951.5625
  assert.equal(ll.nll, ref.counts.nll_per_bigram); // 2.4543561935424805
  // the exact (float64) sum that the float32 loop approximates
  assert.ok(Math.abs(ll.logLikelihood64 - -560001.88468) < 0.01, String(ll.logLikelihood64));
  // the model's cross-entropy is the same nll
  assert.ok(Math.abs(model.loss(X, Y).item() - ll.logLikelihood64 / -ll.n) < 1e-6);
});

test("counting: the notebook's samples (mor., axx., minaymoryles., kondlaisah., anchshizarie.)", () => {
  const model = new BigramCounts(bigramSpec("bigram-counts", 27)).fit(X, Y);
  const printed = ["mor.", "axx.", "minaymoryles.", "kondlaisah.", "anchshizarie."]; // the notebook
  assert.deepEqual(ref.counts.samples, printed);
  const names = sampleBigram(model, vocab, { count: 5, generator: seeded() });
  assert.deepEqual(
    names.map((w) => `${w}.`),
    printed,
  );
  // the registry routes sampleWords to the notebook's own loop
  assert.deepEqual(sampleWords(model, vocab, { count: 5, generator: seeded() }), names);
  // the first draw of the notebook: p = N[0] / N[0].sum(); multinomial -> 'm'
  const p = model.counts.storage.slice(0, 27);
  const s = p.reduce((a, b) => Math.fround(a + b), 0);
  for (let j = 0; j < 27; j++) p[j] = p[j] / s;
  assert.equal(vocab.itos[seeded().multinomial(p, 1, 27, 1, true)[0]], ref.counts.first_char);
});

test("neural bigram: W from Generator(2147483647) bit for bit; the 'emma' walk-through", () => {
  const model = buildBigram(bigramSpec("bigram", 27), seeded()) as Bigram;
  assert.equal(sha256(model.W.storage), ref.neural_emma.W_sha256);
  assert.equal(model.numParameters(), 729);
  const emma = buildDataset(["emma"], vocab, 1);
  assert.deepEqual(emma.X.toArray(), [0, 5, 13, 13, 1]);
  assert.deepEqual(emma.Y.toArray(), [5, 13, 13, 1, 0]);
  // probs = softmax of W's rows; nll of each bigram; the mean 3.7693 the notebook prints
  const probs = model.forward(emma.X).softmax(1);
  for (let j = 0; j < 27; j++) assert.ok(Math.abs(probs.storage[j] - ref.neural_emma.probs0[j]) < 1e-7);
  const nlls = [0, 1, 2, 3, 4].map((i) => -Math.log(probs.storage[i * 27 + emma.Y.storage[i]]));
  nlls.forEach((v, i) => {
    assert.ok(Math.abs(v - ref.neural_emma.nlls[i]) < 2e-6, `${v} vs ${ref.neural_emma.nlls[i]}`);
  });
  const noReg = buildBigram(bigramSpec("bigram", 27, { regularization: 0 }), seeded()) as Bigram;
  const loss = noReg.loss(emma.X, emma.Y);
  assert.ok(Math.abs(loss.item() - 3.7693049907684326) < 1e-6, String(loss.item())); // the notebook's
  loss.backward();
  ref.neural_emma.grad_first8.forEach((g: number, i: number) => {
    assert.ok(Math.abs(noReg.W.grad!.storage[i] - g) < 1e-7);
  });
});

test("neural bigram: the notebook's full-batch descent (lr 50, 0.01 mean(W^2)) gives PyTorch's 100 losses", () => {
  const model = buildBigram(bigramSpec("bigram", 27), seeded()) as Bigram;
  const losses: number[] = [];
  trainBigramFullBatch(model, X, Y, { steps: ref.neural.steps, onStep: (_k, l) => losses.push(l) });
  assert.equal(losses.length, 100);
  losses.forEach((l, k) => {
    const want = ref.neural.losses[k];
    assert.ok(Math.abs(l - want) / want < 1e-6, `step ${k}: ${l} vs PyTorch ${want}`);
  });
  // 3.7686 -> 2.4901: approaching the counting model's 2.4544 (+ the regularization)
  assert.ok(Math.abs(losses[0] - 3.7686) < 1e-4 && Math.abs(losses[99] - 2.4901) < 1e-4);
  ref.neural.W_first8.forEach((w: number, i: number) => {
    assert.ok(Math.abs(model.W.storage[i] - w) < 1e-5, `W[${i}] ${model.W.storage[i]} vs ${w}`);
  });
  // the notebook's sampling loop on the trained net draws PyTorch's names
  assert.deepEqual(
    sampleBigram(model, vocab, { count: 5, generator: seeded() }).map((w) => `${w}.`),
    ref.neural.samples,
  );
  // its split loss is the objective it minimised (cross-entropy + regularization)
  assert.ok(Math.abs(splitLoss(model, { X, Y }) - model.loss(X, Y).item()) < 1e-6);
});

test("bigram specs: block size 1, bad values are one clear line", () => {
  assert.throws(() => buildBigram({ ...bigramSpec("bigram", 27), smoothing: -1 }, seeded()), /smoothing/);
  assert.throws(
    () => buildBigram({ ...bigramSpec("bigram", 27), blockSize: 3 as 1 }, seeded()),
    /one character/,
  );
  const counts = buildBigram(bigramSpec("bigram-counts", 27), seeded());
  assert.equal(counts.numParameters(), 0);
  assert.deepEqual(Object.keys(counts.stateDict()), ["counts"]);
});

test("doctor: silent on the notebook's bigrams, names what is wrong on broken ones", () => {
  const neural = (opts: { learningRate?: number; regularization?: number }) => {
    const m = buildBigram(
      bigramSpec("bigram", 27, { regularization: opts.regularization ?? 0.01 }),
      seeded(),
    ) as Bigram;
    trainBigramFullBatch(m, X, Y, { steps: 100, learningRate: opts.learningRate ?? 50 });
    return m;
  };
  const ids = (f: { id: string }[]) => f.map((x) => x.id);
  // the notebook's run: 0.02 nats above the best the table can do (the unsmoothed counts, whose nll
  // is below the smoothed counts' 2.4544 over the same 228,146 bigrams, PyTorch's)
  const ok = neural({});
  const fit = bigramFit(ok, X, Y);
  assert.ok(
    fit.optimum < ref.counts.nll_per_bigram && fit.optimum > ref.counts.nll_per_bigram - 0.01,
    `${fit.optimum}`,
  );
  assert.ok(fit.nll - fit.optimum > 0 && fit.nll - fit.optimum < 0.05, `${fit.nll - fit.optimum}`);
  assert.deepEqual(checkBigramFit(ok, { X, Y }, 100), []);
  assert.deepEqual(checkBigramFit(neural({ learningRate: 100 }), { X, Y }, 100), []); // oscillates, but gets there
  assert.deepEqual(checkBigramFit(neural({ regularization: 0 }), { X, Y }, 100), []); // fine on the training words
  // before its first step the net is far from the counts by construction: no finding
  assert.deepEqual(checkBigramFit(buildBigram(bigramSpec("bigram", 27), seeded()), { X, Y }, 0), []);
  // lr 2: 100 steps get half way (nll 2.9, still falling: |grad loss| ~ |grad nll|)
  const slow = checkBigramFit(neural({ learningRate: 2 }), { X, Y }, 100);
  assert.deepEqual(ids(slow), ["bigram-not-converged"]);
  assert.match(slow[0].title, /above the counting model's 2\.45\d\d.*still descending/);
  assert.match(slow[0].fix, /--learning-rate/);
  // regularization 1: converged (|grad loss| ~ 0), to an optimum 0.27 above the counts
  const flat = checkBigramFit(neural({ regularization: 1 }), { X, Y }, 100);
  assert.deepEqual(ids(flat), ["bigram-over-regularized"]);
  assert.ok((flat[0].measured.gradRatio as number) < 1e-3 && (flat[0].measured.gap as number) > 0.2);
  assert.match(flat[0].fix, /--regularization/);

  // the counting model: smoothing 1 is silent; 0 leaves unseen pairs at probability 0 (the
  // lecture's "jq": log 0 = -inf); 1000 flattens P towards uniform
  const counted = (smoothing: number) =>
    new BigramCounts(bigramSpec("bigram-counts", 27, { smoothing })).fit(X, Y);
  assert.deepEqual(checkBigramFit(counted(1), { X, Y }, 0), []);
  const raw = counted(0);
  const zero = checkBigramFit(raw, { X, Y }, 0);
  assert.deepEqual(ids(zero), ["bigram-zero-probability"]);
  const j = vocab.stoi.get("j")!;
  const q = vocab.stoi.get("q")!;
  assert.equal(raw.counts.storage[j * 27 + q], 0); // "jq" is one of them
  // independently: the 729 pairs minus the distinct pairs of the words (every character occurs as
  // a context in names.txt, so every row counts)
  const seen = new Set<string>();
  for (const w of words) {
    const chs = [".", ...w, "."];
    for (let i = 1; i < chs.length; i++) seen.add(chs[i - 1] + chs[i]);
  }
  assert.equal(zero[0].measured.zeroPairs, 27 * 27 - seen.size);
  assert.deepEqual(ids(checkBigramFit(counted(1000), { X, Y }, 0)), ["bigram-over-smoothed"]);
  // checkModel on a model with no parameters does not try to backpropagate
  assert.deepEqual(checkModel(counted(1), { X, Y }, seeded()), []);
});

test("the neural bigram's defaults: the notebook's 100 full-batch steps at a constant lr 50, said so", () => {
  const { train } = trainFlagsFrom({}, "bigram");
  assert.equal(train.maxSteps, 100);
  assert.equal(optimizationText(train), "lr 50 constant");
  // a user's --max-steps -1 has no drop to announce either
  assert.equal(optimizationText(trainFlagsFrom({ "max-steps": "-1" }, "bigram").train), "lr 50 constant");
});
