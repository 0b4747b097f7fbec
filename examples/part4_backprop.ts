/**
 * makemore part 4: becoming a backprop ninja, in TypeScript, cell by cell as the notebook writes it
 * (lectures/makemore/makemore_part4_backprop.ipynb): the 4,137-parameter net's forward "chunkated"
 * into 26 intermediates, autograd's gradients, the same gradients by hand (exercise 1), the fused
 * cross-entropy (exercise 2) and BatchNorm (exercise 3) backward formulas, and training with the
 * manual backward only (exercise 4).
 *
 *   node --import tsx examples/part4_backprop.ts          # 200,000 steps of exercise 4
 *   MAKEMORE_EXAMPLE_STEPS=20 node --import tsx examples/part4_backprop.ts
 */

import { readFileSync } from "node:fs";
import {
  cmp,
  F,
  Generator,
  noGrad,
  onesLike,
  parseLines,
  prepareData,
  randint,
  randn,
  type Tensor,
  tensor,
  zerosLike,
} from "../src/index.ts";

const maxSteps = Number(process.env.MAKEMORE_EXAMPLE_STEPS ?? 200000);
// the notebook prints every 10,000 steps; a short run (the test suite's) prints every step
const printEvery = maxSteps < 10000 ? 1 : 10000;

// read in all the words; the lecture's split after random.seed(42), block size 3
const words = parseLines(readFileSync(new URL("../data/names.txt", import.meta.url), "utf8"));
const { train, val, vocab } = prepareData(words, 3);
const [Xtr, Ytr] = [train.X, train.Y];
const vocabSize = vocab.size;
const blockSize = 3;

// ----------------------------------------------------------------------------- the network
const nEmbd = 10; // the dimensionality of the character embedding vectors
let nHidden = 64; // the number of neurons in the hidden layer of the MLP

let g = new Generator().manualSeed(2147483647); // for reproducibility
let C = randn([vocabSize, nEmbd], { generator: g });
// Layer 1
let W1 = randn([nEmbd * blockSize, nHidden], { generator: g })
  .mul(5 / 3)
  .div((nEmbd * blockSize) ** 0.5);
let b1 = randn([nHidden], { generator: g }).mul(0.1); // using b1 just for fun, it's useless because of BN
// Layer 2
let W2 = randn([nHidden, vocabSize], { generator: g }).mul(0.1);
let b2 = randn([vocabSize], { generator: g }).mul(0.1);
// BatchNorm parameters: the notebook draws these from torch's default generator (no generator=g)
let bngain = randn([1, nHidden]).mul(0.1).add(1.0);
let bnbias = randn([1, nHidden]).mul(0.1);

let parameters = [C, W1, b1, W2, b2, bngain, bnbias];
console.log(parameters.reduce((s, p) => s + p.numel(), 0)); // number of parameters in total
for (const p of parameters) p.requiresGrad_();

const batchSize = 32;
const n = batchSize; // a shorter variable also, for convenience
// construct a minibatch
let ix = randint(0, Xtr.shape[0], [batchSize], { generator: g });
let [Xb, Yb] = [Xtr.index(ix), Ytr.index(ix)];
const rows = tensor(
  Array.from({ length: n }, (_, i) => i),
  { dtype: "int64" },
); // range(n)

// ----------------------------------------------------------------------------- forward, chunkated
const emb = C.index(Xb); // embed the characters into vectors
const embcat = emb.view(emb.shape[0], -1); // concatenate the vectors
// Linear layer 1
const hprebn = embcat.matmul(W1).add(b1); // hidden layer pre-activation
// BatchNorm layer
const bnmeani = hprebn.sum(0, { keepdim: true }).mul(1 / n);
const bndiff = hprebn.sub(bnmeani);
const bndiff2 = bndiff.pow(2);
const bnvar = bndiff2.sum(0, { keepdim: true }).mul(1 / (n - 1)); // note: Bessel's correction
const bnvarInv = bnvar.add(1e-5).pow(-0.5);
const bnraw = bndiff.mul(bnvarInv);
const hpreact = bngain.mul(bnraw).add(bnbias);
// Non-linearity
const h = hpreact.tanh(); // hidden layer
// Linear layer 2
const logits = h.matmul(W2).add(b2); // output layer
// cross entropy loss (same as F.cross_entropy(logits, Yb))
const logitMaxes = logits.max(1, { keepdim: true }).values;
const normLogits = logits.sub(logitMaxes); // subtract max for numerical stability
const counts = normLogits.exp();
const countsSum = counts.sum(1, { keepdim: true });
const countsSumInv = countsSum.pow(-1);
const probs = counts.mul(countsSumInv);
const logprobs = probs.log();
const loss = logprobs.pick(rows, Yb).mean().neg();

// PyTorch backward pass
for (const p of parameters) p.grad = null;
for (const t of [
  logprobs,
  probs,
  counts,
  countsSum,
  countsSumInv,
  normLogits,
  logitMaxes,
  logits,
  h,
  hpreact,
  bnraw,
  bnvarInv,
  bnvar,
  bndiff2,
  bndiff,
  hprebn,
  bnmeani,
  embcat,
  emb,
])
  t.retainGrad();
loss.backward();
console.log(`loss ${loss.item().toFixed(4)}`);

// ----------------------------------------------------------------------------- exercise 1
// backprop through the whole thing manually, through exactly all of the variables above
noGrad(() => {
  const dlogprobs = zerosLike(logprobs);
  for (let i = 0; i < n; i++) dlogprobs.storage[i * vocabSize + Yb.storage[i]] = -1.0 / n;
  const dprobs = probs.pow(-1).mul(dlogprobs); // (1.0 / probs) * dlogprobs
  const dcountsSumInv = counts.mul(dprobs).sum(1, { keepdim: true });
  const dcounts = countsSumInv.mul(dprobs);
  const dcountsSum = countsSum.pow(-2).neg().mul(dcountsSumInv);
  dcounts.add_(onesLike(counts).mul(dcountsSum));
  const dnormLogits = counts.mul(dcounts);
  const dlogits = dnormLogits.clone();
  const dlogitMaxes = dnormLogits.neg().sum(1, { keepdim: true });
  dlogits.add_(F.oneHot(logits.max(1).indices, logits.shape[1]).float().mul(dlogitMaxes));
  const dh = dlogits.matmul(W2.T);
  const dW2 = h.T.matmul(dlogits);
  const db2 = dlogits.sum(0);
  const dhpreact = h.pow(2).rsub(1.0).mul(dh);
  const dbngain = bnraw.mul(dhpreact).sum(0, { keepdim: true });
  const dbnraw = bngain.mul(dhpreact);
  const dbnbias = dhpreact.sum(0, { keepdim: true });
  const dbndiff = bnvarInv.mul(dbnraw);
  const dbnvarInv = bndiff.mul(dbnraw).sum(0, { keepdim: true });
  const dbnvar = bnvar.add(1e-5).pow(-1.5).mul(-0.5).mul(dbnvarInv);
  const dbndiff2 = onesLike(bndiff2)
    .mul(1.0 / (n - 1))
    .mul(dbnvar);
  dbndiff.add_(bndiff.mul(2).mul(dbndiff2));
  const dhprebn = dbndiff.clone();
  const dbnmeani = dbndiff.neg().sum(0);
  dhprebn.add_(
    onesLike(hprebn)
      .mul(dbnmeani)
      .mul(1.0 / n),
  );
  const dembcat = dhprebn.matmul(W1.T);
  const dW1 = embcat.T.matmul(dhprebn);
  const db1 = dhprebn.sum(0);
  const demb = dembcat.view(emb.shape);
  const dC = zerosLike(C);
  for (let k = 0; k < Xb.shape[0]; k++) {
    for (let j = 0; j < Xb.shape[1]; j++) {
      const row = Xb.storage[k * blockSize + j];
      for (let c = 0; c < nEmbd; c++)
        dC.storage[row * nEmbd + c] += demb.storage[(k * blockSize + j) * nEmbd + c];
    }
  }

  cmp("logprobs", dlogprobs, logprobs);
  cmp("probs", dprobs, probs);
  cmp("counts_sum_inv", dcountsSumInv, countsSumInv);
  cmp("counts_sum", dcountsSum, countsSum);
  cmp("counts", dcounts, counts);
  cmp("norm_logits", dnormLogits, normLogits);
  cmp("logit_maxes", dlogitMaxes, logitMaxes);
  cmp("logits", dlogits, logits);
  cmp("h", dh, h);
  cmp("W2", dW2, W2);
  cmp("b2", db2, b2);
  cmp("hpreact", dhpreact, hpreact);
  cmp("bngain", dbngain, bngain);
  cmp("bnbias", dbnbias, bnbias);
  cmp("bnraw", dbnraw, bnraw);
  cmp("bnvar_inv", dbnvarInv, bnvarInv);
  cmp("bnvar", dbnvar, bnvar);
  cmp("bndiff2", dbndiff2, bndiff2);
  cmp("bndiff", dbndiff, bndiff);
  cmp("bnmeani", dbnmeani, bnmeani);
  cmp("hprebn", dhprebn, hprebn);
  cmp("embcat", dembcat, embcat);
  cmp("W1", dW1, W1);
  cmp("b1", db1, b1);
  cmp("emb", demb, emb);
  cmp("C", dC, C);

  // --------------------------------------------------------------------------- exercise 2
  // backprop through cross_entropy all in one go: dlogits = (softmax(logits) - onehot(Yb)) / n
  const lossFast = F.crossEntropy(logits, Yb);
  console.log(lossFast.item(), "diff:", Math.fround(lossFast.item() - loss.item()));
  const dlogitsFast = F.softmax(logits, 1);
  for (let i = 0; i < n; i++) dlogitsFast.storage[i * vocabSize + Yb.storage[i]] -= 1;
  cmp("logits", dlogitsFast.div(n), logits); // I can only get approximate to be true, my maxdiff is 6e-9

  // --------------------------------------------------------------------------- exercise 3
  // backprop through batchnorm all in one go
  const hpreactFast = bngain
    .mul(hprebn.sub(hprebn.mean(0, { keepdim: true })))
    .div(hprebn.var(0, { keepdim: true, unbiased: true }).add(1e-5).sqrt())
    .add(bnbias);
  console.log("max diff:", hpreactFast.sub(hpreact).abs().max().item());
  // dhprebn = bngain*bnvar_inv/n * (n*dhpreact - dhpreact.sum(0) - n/(n-1)*bnraw*(dhpreact*bnraw).sum(0))
  const dhprebnFast = bngain
    .mul(bnvarInv)
    .div(n)
    .mul(
      dhpreact
        .mul(n)
        .sub(dhpreact.sum(0))
        .sub(bnraw.mul(n / (n - 1)).mul(dhpreact.mul(bnraw).sum(0))),
    );
  cmp("hprebn", dhprebnFast, hprebn); // I can only get approximate to be true, my maxdiff is 9e-10
});

// ----------------------------------------------------------------------------- exercise 4
// Train the MLP neural net with your own backward pass
nHidden = 200;
g = new Generator().manualSeed(2147483647);
C = randn([vocabSize, nEmbd], { generator: g });
W1 = randn([nEmbd * blockSize, nHidden], { generator: g })
  .mul(5 / 3)
  .div((nEmbd * blockSize) ** 0.5);
b1 = randn([nHidden], { generator: g }).mul(0.1);
W2 = randn([nHidden, vocabSize], { generator: g }).mul(0.1);
b2 = randn([vocabSize], { generator: g }).mul(0.1);
bngain = randn([1, nHidden]).mul(0.1).add(1.0);
bnbias = randn([1, nHidden]).mul(0.1);
parameters = [C, W1, b1, W2, b2, bngain, bnbias];
console.log(parameters.reduce((s, p) => s + p.numel(), 0));

let bnmean: Tensor = zerosLike(bngain);
let bnvar4: Tensor = zerosLike(bngain);
noGrad(() => {
  for (let i = 0; i < maxSteps; i++) {
    ix = randint(0, Xtr.shape[0], [batchSize], { generator: g });
    [Xb, Yb] = [Xtr.index(ix), Ytr.index(ix)];
    // forward pass
    const emb = C.index(Xb);
    const embcat = emb.view(emb.shape[0], -1);
    const hprebn = embcat.matmul(W1).add(b1);
    const bnmeanI = hprebn.mean(0, { keepdim: true });
    const bnvarI = hprebn.var(0, { keepdim: true, unbiased: true });
    const bnvarInv = bnvarI.add(1e-5).pow(-0.5);
    const bnraw = hprebn.sub(bnmeanI).mul(bnvarInv);
    const hpreact = bngain.mul(bnraw).add(bnbias);
    const h = hpreact.tanh();
    const logits = h.matmul(W2).add(b2);
    const loss = F.crossEntropy(logits, Yb);
    // manual backprop! #swole_doge_meme
    const dlogits = F.softmax(logits, 1);
    for (let r = 0; r < n; r++) dlogits.storage[r * vocabSize + Yb.storage[r]] -= 1;
    dlogits.div_(n);
    const dh = dlogits.matmul(W2.T);
    const dW2 = h.T.matmul(dlogits);
    const db2 = dlogits.sum(0);
    const dhpreact = h.pow(2).rsub(1.0).mul(dh);
    const dbngain = bnraw.mul(dhpreact).sum(0, { keepdim: true });
    const dbnbias = dhpreact.sum(0, { keepdim: true });
    const dhprebn = bngain
      .mul(bnvarInv)
      .div(n)
      .mul(
        dhpreact
          .mul(n)
          .sub(dhpreact.sum(0))
          .sub(bnraw.mul(n / (n - 1)).mul(dhpreact.mul(bnraw).sum(0))),
      );
    const dembcat = dhprebn.matmul(W1.T);
    const dW1 = embcat.T.matmul(dhprebn);
    const db1 = dhprebn.sum(0);
    const demb = dembcat.view(emb.shape);
    const dC = zerosLike(C);
    for (let k = 0; k < Xb.shape[0]; k++) {
      for (let j = 0; j < Xb.shape[1]; j++) {
        const row = Xb.storage[k * blockSize + j];
        for (let c = 0; c < nEmbd; c++)
          dC.storage[row * nEmbd + c] += demb.storage[(k * blockSize + j) * nEmbd + c];
      }
    }
    const grads = [dC, dW1, db1, dW2, db2, dbngain, dbnbias];
    // update
    const lr = i < 100000 ? 0.1 : 0.01; // step learning rate decay
    parameters.forEach((p, k) => p.data.add_(grads[k], -lr));
    // track stats
    if (i % printEvery === 0)
      console.log(`${String(i).padStart(7)}/${String(maxSteps).padStart(7)}: ${loss.item().toFixed(4)}`);
  }

  // calibrate the batch norm at the end of training
  const embAll = C.index(Xtr);
  const hpre = embAll.view(embAll.shape[0], -1).matmul(W1).add(b1);
  bnmean = hpre.mean(0, { keepdim: true });
  bnvar4 = hpre.var(0, { keepdim: true, unbiased: true });

  // evaluate train and val loss
  for (const [split, d] of [
    ["train", train],
    ["val", val],
  ] as const) {
    const e = C.index(d.X);
    let hp = e.view(e.shape[0], -1).matmul(W1).add(b1);
    hp = bngain.mul(hp.sub(bnmean)).mul(bnvar4.add(1e-5).pow(-0.5)).add(bnbias);
    const lg = hp.tanh().matmul(W2).add(b2);
    console.log(split, F.crossEntropy(lg, d.Y).item());
  }

  // sample from the model
  const gs = new Generator().manualSeed(2147483647 + 10);
  for (let s = 0; s < 20; s++) {
    const out: number[] = [];
    let context = [0, 0, 0]; // initialize with all ...
    for (;;) {
      const e = C.index(tensor([context], { dtype: "int64" })); // (1, block_size, d)
      let hp = e.view(e.shape[0], -1).matmul(W1).add(b1);
      hp = bngain.mul(hp.sub(bnmean)).mul(bnvar4.add(1e-5).pow(-0.5)).add(bnbias);
      const lg = hp.tanh().matmul(W2).add(b2);
      const p = F.softmax(lg, 1);
      const next = gs.multinomial(p.storage, 1, vocabSize, 1)[0];
      context = [...context.slice(1), next];
      out.push(next);
      if (next === 0) break;
    }
    console.log(out.map((i) => vocab.itos[i]).join(""));
  }
});
