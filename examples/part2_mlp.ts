/**
 * makemore part 2: the first MLP (Bengio et al. 2003), in TypeScript as the notebook writes it
 * (lectures/makemore/makemore_part2_mlp.ipynb): embeddings C (27, 10), a 200-unit tanh layer,
 * 11,897 parameters, 200,000 steps of minibatch SGD, split losses and 20 samples.
 *
 *   node --import tsx examples/part2_mlp.ts
 *   MAKEMORE_EXAMPLE_STEPS=10 node --import tsx examples/part2_mlp.ts
 *
 * The notebook draws its minibatches from torch's unseeded global generator, so its printed losses
 * cannot be reproduced; here they come from `g`, as in part 3, which makes this run the same as
 * `makemore train --type original` (and PyTorch running that code: fixtures/torch-original-first1001.json).
 */

import { readFileSync } from "node:fs";
import { F, Generator, noGrad, parseLines, prepareData, randint, randn, tensor } from "../src/index.ts";

const maxSteps = Number(process.env.MAKEMORE_EXAMPLE_STEPS ?? 200000);
const printEvery = maxSteps < 10000 ? 1 : 10000;

const words = parseLines(readFileSync(new URL("../data/names.txt", import.meta.url), "utf8"));
// build_dataset over the random.seed(42) shuffle: 80% / 10% / 10%, block size 3
const blockSize = 3;
const { train, val, vocab } = prepareData(words, blockSize);
const [Xtr, Ytr] = [train.X, train.Y];
console.log(Xtr.shape, Ytr.shape);

const g = new Generator().manualSeed(2147483647); // for reproducibility
const C = randn([27, 10], { generator: g });
const W1 = randn([30, 200], { generator: g });
const b1 = randn([200], { generator: g });
const W2 = randn([200, 27], { generator: g });
const b2 = randn([27], { generator: g });
const parameters = [C, W1, b1, W2, b2];
console.log(parameters.reduce((s, p) => s + p.numel(), 0)); // number of parameters in total
for (const p of parameters) p.requiresGrad_();

for (let i = 0; i < maxSteps; i++) {
  // minibatch construct
  const ix = randint(0, Xtr.shape[0], [32], { generator: g });
  // forward pass
  const emb = C.index(Xtr.index(ix)); // (32, 3, 10)
  const h = emb.view(-1, 30).matmul(W1).add(b1).tanh(); // (32, 200)
  const logits = h.matmul(W2).add(b2); // (32, 27)
  const loss = F.crossEntropy(logits, Ytr.index(ix));
  // backward pass
  for (const p of parameters) p.grad = null;
  loss.backward();
  // update
  const lr = i < 100000 ? 0.1 : 0.01;
  for (const p of parameters) p.data.add_(p.grad!, -lr);
  if (i % printEvery === 0)
    console.log(`${String(i).padStart(7)}/${String(maxSteps).padStart(7)}: ${loss.item().toFixed(4)}`);
}

noGrad(() => {
  for (const [split, d] of [
    ["train", train],
    ["val", val],
  ] as const) {
    const emb = C.index(d.X); // (N, 3, 10)
    const h = emb.view(-1, 30).matmul(W1).add(b1).tanh(); // (N, 200)
    console.log(split, F.crossEntropy(h.matmul(W2).add(b2), d.Y).item());
  }

  // sample from the model
  const gs = new Generator().manualSeed(2147483647 + 10);
  for (let s = 0; s < 20; s++) {
    const out: number[] = [];
    let context = new Array<number>(blockSize).fill(0); // initialize with all ...
    for (;;) {
      const emb = C.index(tensor([context], { dtype: "int64" })); // (1, block_size, d)
      const h = emb.view(1, -1).matmul(W1).add(b1).tanh();
      const probs = F.softmax(h.matmul(W2).add(b2), 1);
      const ix = gs.multinomial(probs.storage, 1, 27, 1)[0];
      context = [...context.slice(1), ix];
      out.push(ix);
      if (ix === 0) break;
    }
    console.log(out.map((i) => vocab.itos[i]).join(""));
  }
});
