/**
 * Lecture replay: PyTorch's own initial weights and minibatches for the lecture's BatchNorm MLP,
 * run through our tensor API written line by line like the notebook. Every one of the 1,000
 * per-step losses must match PyTorch's within 1e-4, and so must the split losses after them.
 * Reference: fixtures/torch-replay-bn-mlp-first1000.json (PyTorch 1.13).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { buildDataset, parseLines, splitWords, Vocabulary } from "../src/data/dataset.ts";
import { Generator } from "../src/random/generator.ts";
import { randn } from "../src/tensor/random.ts";
import { crossEntropy, noGrad, ones, type Tensor, tensor, zeros } from "../src/tensor/tensor.ts";

const replay = JSON.parse(
  readFileSync(new URL("../fixtures/torch-replay-bn-mlp-first1000.json", import.meta.url), "utf8"),
);
const words = parseLines(readFileSync(new URL("../data/names.txt", import.meta.url), "utf8"));
const vocab = Vocabulary.fromWords(words);
const split = splitWords(words, 42);
const tr = buildDataset(split.train, vocab, 3);
const dev = buildDataset(split.val, vocab, 3);
const te = buildDataset(split.test, vocab, 3);

test("the lecture's split: 182,625 / 22,655 / 22,866 examples, first word yuheng", () => {
  assert.equal(words.length, 32033);
  assert.equal(vocab.size, 27);
  assert.equal(vocab.itos.join(""), ".abcdefghijklmnopqrstuvwxyz");
  assert.equal(split.train[0], "yuheng");
  assert.deepEqual(
    [tr.X.shape, dev.X.shape, te.X.shape],
    [
      [182625, 3],
      [22655, 3],
      [22866, 3],
    ],
  );
  // yuheng -> contexts ... , ..y , .yu ; targets y, u, h
  assert.deepEqual(tr.X.slice(0, 3).tolist(), [
    [0, 0, 0],
    [0, 0, 25],
    [0, 25, 21],
  ]);
  assert.deepEqual(tr.Y.slice(0, 3).tolist(), [25, 21, 8]);
});

test("1,000 lecture steps from PyTorch's weights and minibatches match PyTorch's losses within 1e-4", () => {
  const C = tensor(Float32Array.from(replay.init.C), { shape: [27, 10] }).requiresGrad_();
  const W1 = tensor(Float32Array.from(replay.init.W1), { shape: [30, 200] }).requiresGrad_();
  const W2 = tensor(Float32Array.from(replay.init.W2), { shape: [200, 27] }).requiresGrad_();
  const b2 = zeros([27]).requiresGrad_();
  const bngain = ones([1, 200]).requiresGrad_();
  const bnbias = zeros([1, 200]).requiresGrad_();
  let bnmeanRunning = zeros([1, 200]);
  let bnstdRunning = ones([1, 200]);
  const parameters = [C, W1, W2, b2, bngain, bnbias];
  assert.equal(
    parameters.reduce((s, p) => s + p.numel(), 0),
    12097,
  );

  const losses: number[] = [];
  for (let i = 0; i < replay.steps; i++) {
    const ix = tensor(replay.batch_indices_into_Xtr[i], { dtype: "int64" });
    const [Xb, Yb] = [tr.X.index(ix), tr.Y.index(ix)];
    const emb = C.index(Xb); // (32, 3, 10)
    const embcat = emb.view(emb.shape[0], -1); // (32, 30)
    let hpreact = embcat.matmul(W1); // (32, 200)
    const bnmeani = hpreact.mean(0, { keepdim: true });
    const bnstdi = hpreact.std(0, { keepdim: true });
    hpreact = bngain.mul(hpreact.sub(bnmeani)).div(bnstdi).add(bnbias);
    noGrad(() => {
      bnmeanRunning = bnmeanRunning.mul(0.999).add(bnmeani.mul(0.001));
      bnstdRunning = bnstdRunning.mul(0.999).add(bnstdi.mul(0.001));
    });
    const h = hpreact.tanh();
    const logits = h.matmul(W2).add(b2);
    const loss = crossEntropy(logits, Yb);
    for (const p of parameters) p.grad = null;
    loss.backward();
    if (i === 0) {
      // PyTorch's step-0 gradients, by summary statistics
      const g = replay.step0_grads;
      for (const [name, p] of Object.entries({ C, W1, W2, b2, bngain, bnbias })) {
        const gp = p.grad as Tensor;
        assert.ok(
          Math.abs(gp.abs().sum().item() - g[name].abs_sum) < 1e-4 * Math.max(1, g[name].abs_sum),
          name,
        );
        gp.storage
          .slice(0, 5)
          .forEach((v, k) => assert.ok(Math.abs(v - g[name].first5[k]) < 1e-6, `${name}[${k}]`));
      }
      const st = replay.step0_activation_stats;
      assert.ok(Math.abs(h.mean().item() - st.tanh_mean) < 1e-6);
      assert.ok(Math.abs(h.std().item() - st.tanh_std) < 1e-6);
      assert.ok(Math.abs(h.abs().gt(0.97).float().mean().item() * 100 - st["tanh_sat_gt_0.97_pct"]) < 1e-4);
    }
    const lr = i < 100000 ? 0.1 : 0.01;
    for (const p of parameters) p.data.add_(p.grad!, -lr);
    losses.push(loss.item());
  }

  let worst = 0;
  losses.forEach((l, i) => {
    worst = Math.max(worst, Math.abs(l - replay.loss_per_step[i]));
  });
  assert.ok(worst < 1e-4, `largest deviation from PyTorch's loss: ${worst}`);
  assert.ok(Math.abs(losses[0] - 3.3239) < 5e-5, `step-0 loss ${losses[0]}`);

  // Split losses in eval mode with the running statistics, as the lecture's split_loss.
  const splitLoss = (X: Tensor, Y: Tensor) =>
    noGrad(() => {
      const emb = C.index(X);
      const embcat = emb.view(emb.shape[0], -1);
      let hpreact = embcat.matmul(W1);
      hpreact = bngain.mul(hpreact.sub(bnmeanRunning)).div(bnstdRunning).add(bnbias);
      const h = hpreact.tanh();
      return crossEntropy(h.matmul(W2).add(b2), Y).item();
    });
  const after = replay.after_steps;
  assert.ok(Math.abs(splitLoss(tr.X, tr.Y) - after.train_loss_running_stats) < 1e-4);
  assert.ok(Math.abs(splitLoss(dev.X, dev.Y) - after.val_loss_running_stats) < 1e-4);
  bnmeanRunning.storage
    .slice(0, 5)
    .forEach((v, k) => assert.ok(Math.abs(v - after.bnmean_running_first5[k]) < 1e-4));
  bnstdRunning.storage
    .slice(0, 5)
    .forEach((v, k) => assert.ok(Math.abs(v - after.bnstd_running_first5[k]) < 1e-4));
  assert.ok(Math.abs(W1.sum().item() - after.W1_sum) < 1e-2);
  assert.ok(Math.abs(C.sum().item() - after.C_sum) < 1e-2);
});

test("Generator(2147483647) builds PyTorch's initial weights and the step-0 loss 3.3239", () => {
  const g = new Generator().manualSeed(2147483647);
  const C = randn([27, 10], { generator: g });
  // Python: randn(...) * (5/3)/((n_embd * block_size)**0.5) evaluates left to right: two float32 ops
  const W1 = randn([30, 200], { generator: g })
    .mul(5 / 3)
    .div(30 ** 0.5);
  const W2 = randn([200, 27], { generator: g }).mul(0.01);
  const b2 = randn([27], { generator: g }).mul(0);
  // bit for bit PyTorch's initial weights
  assert.deepEqual(Array.from(C.storage), replay.init.C);
  assert.deepEqual(Array.from(W1.storage), replay.init.W1);
  assert.deepEqual(Array.from(W2.storage), replay.init.W2);
  const bngain = ones([1, 200]);
  const bnbias = zeros([1, 200]);
  const ix = (() => {
    const t = zeros([32], { dtype: "int64" });
    g.randintInto(t.storage, 0, tr.X.shape[0]);
    return t;
  })();
  assert.deepEqual(Array.from(ix.storage), replay.batch_indices_into_Xtr[0]);
  const emb = C.index(tr.X.index(ix));
  let hpreact = emb.view(32, -1).matmul(W1);
  hpreact = bngain
    .mul(hpreact.sub(hpreact.mean(0, { keepdim: true })))
    .div(hpreact.std(0, { keepdim: true }))
    .add(bnbias);
  const loss = crossEntropy(hpreact.tanh().matmul(W2).add(b2), tr.Y.index(ix)).item();
  assert.equal(loss.toFixed(4), "3.3239");
});
