/**
 * makemore part 5: building a WaveNet, in TypeScript as the notebook writes it
 * (lectures/makemore/makemore_part5_cnn1.ipynb): the lecture's layers (src/nn/), the hierarchical
 * network fusing two characters at a time, 76,579 parameters, torch.manual_seed(42) for the init,
 * the minibatches and the samples. `makemore train --type wavenet` runs the same network.
 *
 *   node --import tsx examples/part5_wavenet.ts
 *   MAKEMORE_EXAMPLE_STEPS=10 node --import tsx examples/part5_wavenet.ts
 */

import { readFileSync } from "node:fs";
import {
  BatchNorm1d,
  Embedding,
  F,
  FlattenConsecutive,
  Linear,
  manualSeed,
  multinomial,
  noGrad,
  parseLines,
  prepareData,
  randint,
  Sequential,
  Tanh,
  tensor,
} from "../src/index.ts";

const maxSteps = Number(process.env.MAKEMORE_EXAMPLE_STEPS ?? 200000);
// a short run (the test suite's) prints every step and scores the val split only (the training
// split's 182,625 rows take a while on the generic path)
const short = maxSteps < 10000;
const printEvery = short ? 1 : 10000;

const words = parseLines(readFileSync(new URL("../data/names.txt", import.meta.url), "utf8"));
const blockSize = 8; // context length: how many characters do we take to predict the next one?
const { train, val, vocab } = prepareData(words, blockSize); // random.seed(42) shuffle, 80/10/10
const [Xtr, Ytr] = [train.X, train.Y];
const vocabSize = vocab.size;
console.log(Xtr.shape, Ytr.shape);

manualSeed(42); // seed rng for reproducibility (torch's global generator)

// hierarchical network
const nEmbd = 24; // the dimensionality of the character embedding vectors
const nHidden = 128; // the number of neurons in the hidden layer of the MLP
// the lecture's BatchNorm1d class: unbiased var + eps, momentum 0.1, over dims (0, 1) for 3-D input
const bn = (dim: number) => new BatchNorm1d(dim, { variant: "lecture" });
const model = new Sequential([
  new Embedding(vocabSize, nEmbd),
  new FlattenConsecutive(2),
  new Linear(nEmbd * 2, nHidden, { bias: false }),
  bn(nHidden),
  new Tanh(),
  new FlattenConsecutive(2),
  new Linear(nHidden * 2, nHidden, { bias: false }),
  bn(nHidden),
  new Tanh(),
  new FlattenConsecutive(2),
  new Linear(nHidden * 2, nHidden, { bias: false }),
  bn(nHidden),
  new Tanh(),
  new Linear(nHidden, vocabSize),
]);

// parameter init
noGrad(() => {
  (model.layers.at(-1) as Linear).weight.mul_(0.1); // last layer make less confident
});
const parameters = model.parameters();
console.log(parameters.reduce((s, p) => s + p.numel(), 0)); // number of parameters in total

// same optimization as last time
for (let i = 0; i < maxSteps; i++) {
  // minibatch construct
  const ix = randint(0, Xtr.shape[0], [32]);
  const [Xb, Yb] = [Xtr.index(ix), Ytr.index(ix)]; // batch X,Y
  // forward pass
  const logits = model.forward(Xb);
  const loss = F.crossEntropy(logits, Yb); // loss function
  // backward pass
  for (const p of parameters) p.grad = null;
  loss.backward();
  // update: simple SGD
  const lr = i < 150000 ? 0.1 : 0.01; // step learning rate decay
  for (const p of parameters) p.data.add_(p.grad!, -lr);
  // track stats
  if (i % printEvery === 0)
    console.log(`${String(i).padStart(7)}/${String(maxSteps).padStart(7)}: ${loss.item().toFixed(4)}`);
}

// put layers into eval mode (needed for batchnorm especially)
model.eval();

// evaluate the loss (in chunks of rows: eval mode treats every row on its own)
noGrad(() => {
  const splits = short
    ? ([["val", val]] as const)
    : ([
        ["train", train],
        ["val", val],
      ] as const);
  for (const [split, d] of splits) {
    const N = d.X.shape[0];
    let total = 0;
    for (let s = 0; s < N; s += 16384) {
      const e = Math.min(N, s + 16384);
      const x = tensor(d.X.storage.subarray(s * blockSize, e * blockSize), {
        shape: [e - s, blockSize],
        dtype: "int64",
      });
      const y = tensor(d.Y.storage.subarray(s, e), { dtype: "int64" });
      total += F.crossEntropy(model.forward(x), y).item() * (e - s);
    }
    console.log(split, total / N);
  }

  // sample from the model
  for (let s = 0; s < 20; s++) {
    const out: number[] = [];
    let context = new Array<number>(blockSize).fill(0); // initialize with all ...
    for (;;) {
      // forward pass the neural net
      const logits = model.forward(tensor([context], { dtype: "int64" }));
      const probs = F.softmax(logits, 1);
      // sample from the distribution
      const ix = multinomial(probs, 1).item();
      // shift the context window and track the samples
      context = [...context.slice(1), ix];
      out.push(ix);
      // if we sample the special '.' token, break
      if (ix === 0) break;
    }
    console.log(out.map((i) => vocab.itos[i]).join("")); // decode and print the generated word
  }
});
