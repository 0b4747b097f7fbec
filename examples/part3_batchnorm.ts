/**
 * makemore part 3: activations, gradients and BatchNorm -- the lecture's BatchNorm MLP in
 * TypeScript, line by line as the notebook writes it (12,097 parameters, seed 2147483647).
 * `makemore train` (the default model) runs the same network on the arena path and reproduces
 * PyTorch's 20 printed losses and 20 samples (test/lecture.test.ts).
 *
 *   node --import tsx examples/part3_batchnorm.ts
 *   MAKEMORE_EXAMPLE_STEPS=10 node --import tsx examples/part3_batchnorm.ts
 */

import { readFileSync } from "node:fs";
import {
  F,
  Generator,
  noGrad,
  ones,
  parseLines,
  prepareData,
  randint,
  randn,
  tensor,
  zeros,
} from "../src/index.ts";

const maxSteps = Number(process.env.MAKEMORE_EXAMPLE_STEPS ?? 200000);
const printEvery = maxSteps < 10000 ? 1 : 10000;

const words = parseLines(readFileSync(new URL("../data/names.txt", import.meta.url), "utf8"));
const { train, val, vocab } = prepareData(words, 3);
const [Xtr, Ytr] = [train.X, train.Y];

const nEmbd = 10; // the dimensionality of the character embedding vectors
const nHidden = 200; // the number of neurons in the hidden layer of the MLP
const g = new Generator().manualSeed(2147483647); // for reproducibility
const C = randn([27, nEmbd], { generator: g });
const W1 = randn([nEmbd * 3, nHidden], { generator: g })
  .mul(5 / 3)
  .div((nEmbd * 3) ** 0.5);
const W2 = randn([nHidden, 27], { generator: g }).mul(0.01);
const b2 = randn([27], { generator: g }).mul(0);
const bngain = ones([1, nHidden]);
const bnbias = zeros([1, nHidden]);
let bnmeanRunning = zeros([1, nHidden]);
let bnstdRunning = ones([1, nHidden]);
const parameters = [C, W1, W2, b2, bngain, bnbias];
console.log(parameters.reduce((s, p) => s + p.numel(), 0)); // number of parameters in total
for (const p of parameters) p.requiresGrad_();

for (let i = 0; i < maxSteps; i++) {
  // minibatch construct
  const ix = randint(0, Xtr.shape[0], [32], { generator: g });
  const [Xb, Yb] = [Xtr.index(ix), Ytr.index(ix)]; // batch X,Y
  // forward pass
  const emb = C.index(Xb); // embed the characters into vectors
  const embcat = emb.view(emb.shape[0], -1); // concatenate the vectors
  // Linear layer
  let hpreact = embcat.matmul(W1); // hidden layer pre-activation
  // BatchNorm layer
  const bnmeani = hpreact.mean(0, { keepdim: true });
  const bnstdi = hpreact.std(0, { keepdim: true });
  hpreact = bngain.mul(hpreact.sub(bnmeani)).div(bnstdi).add(bnbias);
  noGrad(() => {
    bnmeanRunning = bnmeanRunning.mul(0.999).add(bnmeani.mul(0.001));
    bnstdRunning = bnstdRunning.mul(0.999).add(bnstdi.mul(0.001));
  });
  // Non-linearity
  const h = hpreact.tanh(); // hidden layer
  const logits = h.matmul(W2).add(b2); // output layer
  const loss = F.crossEntropy(logits, Yb); // loss function
  // backward pass
  for (const p of parameters) p.grad = null;
  loss.backward();
  // update
  const lr = i < 100000 ? 0.1 : 0.01; // step learning rate decay
  for (const p of parameters) p.data.add_(p.grad!, -lr);
  // track stats
  if (i % printEvery === 0)
    console.log(`${String(i).padStart(7)}/${String(maxSteps).padStart(7)}: ${loss.item().toFixed(4)}`);
}

noGrad(() => {
  // split_loss with the running statistics
  for (const [split, d] of [
    ["train", train],
    ["val", val],
  ] as const) {
    const emb = C.index(d.X);
    let hpreact = emb.view(emb.shape[0], -1).matmul(W1);
    hpreact = bngain.mul(hpreact.sub(bnmeanRunning)).div(bnstdRunning).add(bnbias);
    console.log(split, F.crossEntropy(hpreact.tanh().matmul(W2).add(b2), d.Y).item());
  }
  // sample from the model
  const gs = new Generator().manualSeed(2147483647 + 10);
  for (let s = 0; s < 20; s++) {
    const out: number[] = [];
    let context = [0, 0, 0]; // initialize with all ...
    for (;;) {
      const emb = C.index(tensor([context], { dtype: "int64" })); // (1, block_size, n_embd)
      let hpreact = emb.view(1, -1).matmul(W1);
      hpreact = bngain.mul(hpreact.sub(bnmeanRunning)).div(bnstdRunning).add(bnbias);
      const probs = F.softmax(hpreact.tanh().matmul(W2).add(b2), 1);
      const ix = gs.multinomial(probs.storage, 1, 27, 1)[0];
      context = [...context.slice(1), ix];
      out.push(ix);
      if (ix === 0) break;
    }
    console.log(out.map((i) => vocab.itos[i]).join(""));
  }
});
