/**
 * makemore part 1: the bigram models, in TypeScript, cell by cell as the notebook writes them
 * (lectures/makemore/makemore_part1_bigrams.ipynb): counting, sampling, the log-likelihood, then
 * the same model as a one-layer "neural net" trained by full-batch gradient descent.
 *
 *   node --import tsx examples/part1_bigrams.ts                  # 100 gradient steps
 *   MAKEMORE_EXAMPLE_STEPS=2 node --import tsx examples/part1_bigrams.ts
 *
 * (The library's `BigramCounts`, `Bigram` and `trainBigramFullBatch` in src/models/bigram.ts do
 * the same in a few lines; `makemore train --type bigram-counts | bigram` runs them.)
 */

import { readFileSync } from "node:fs";
import { arange, F, Generator, noGrad, parseLines, rand, randn, tensor, zeros } from "../src/index.ts";

const steps = Number(process.env.MAKEMORE_EXAMPLE_STEPS ?? 100);

const words = parseLines(readFileSync(new URL("../data/names.txt", import.meta.url), "utf8"));
console.log(JSON.stringify(words.slice(0, 10)));
console.log(words.length);
console.log(Math.min(...words.map((w) => w.length)), Math.max(...words.map((w) => w.length)));

// the vocabulary: '.' = 0, a..z = 1..26
const chars = [...new Set(words.join(""))].sort();
const stoi = new Map(chars.map((s, i) => [s, i + 1]));
stoi.set(".", 0);
const itos = new Map([...stoi].map(([s, i]) => [i, s]));

// N[ix1, ix2] += 1 for every bigram of every word, '.' around each
const N = zeros([27, 27], { dtype: "int64" });
for (const w of words) {
  const chs = [".", ...w, "."];
  for (let k = 0; k + 1 < chs.length; k++) N.storage[stoi.get(chs[k])! * 27 + stoi.get(chs[k + 1])!] += 1;
}
const top = Array.from(
  N.storage,
  (c, k) => [`${itos.get(Math.floor(k / 27))}${itos.get(k % 27)}`, c] as const,
);
top.sort((a, b) => b[1] - a[1]);
console.log(
  top
    .slice(0, 10)
    .map(([s, c]) => `${s} ${c}`)
    .join(", "),
);

// the first character: p = N[0] / N[0].sum(); torch.multinomial(p, 1, replacement=True)
let p = N.index([0]).view(27).float();
p = p.div(p.sum());
let g = new Generator().manualSeed(2147483647);
console.log(itos.get(g.multinomial(p.storage, 1, 27, 1, true)[0]));

g = new Generator().manualSeed(2147483647);
p = rand([3], { generator: g });
p = p.div(p.sum());
console.log(p.toString());
console.log(Array.from(g.multinomial(p.storage, 1, 3, 100, true)).join(" "));

// P = (N+1).float(); P /= P.sum(1, keepdims=True)
let P = N.add(1).float();
P = P.div(P.sum(1, { keepdim: true }));

g = new Generator().manualSeed(2147483647);
for (let i = 0; i < 5; i++) {
  const out: string[] = [];
  let ix = 0;
  for (;;) {
    ix = g.multinomial(P.storage.subarray(ix * 27, ix * 27 + 27), 1, 27, 1, true)[0];
    out.push(itos.get(ix)!);
    if (ix === 0) break;
  }
  console.log(out.join(""));
}

// log(a*b*c) = log(a) + log(b) + log(c): the average negative log likelihood of the data
let logLikelihood = Math.fround(0); // a float32 tensor in the notebook, accumulating in order
let n = 0;
for (const w of words) {
  const chs = [".", ...w, "."];
  for (let k = 0; k + 1 < chs.length; k++) {
    const prob = P.storage[stoi.get(chs[k])! * 27 + stoi.get(chs[k + 1])!];
    logLikelihood = Math.fround(logLikelihood + Math.fround(Math.log(prob)));
    n += 1;
  }
}
console.log(`log_likelihood=${logLikelihood}`);
const nll = -logLikelihood;
console.log(`nll=${nll}`);
console.log(`${Math.fround(nll / n)}`);

// ----------------------------------------------------------------------------- the neural net
// the training set of bigrams (x, y) of the first word
let xs: number[] = [];
let ys: number[] = [];
for (const w of words.slice(0, 1)) {
  const chs = [".", ...w, "."];
  for (let k = 0; k + 1 < chs.length; k++) {
    xs.push(stoi.get(chs[k])!);
    ys.push(stoi.get(chs[k + 1])!);
  }
}
// randomly initialize 27 neurons' weights; each neuron receives 27 inputs
g = new Generator().manualSeed(2147483647);
let W = randn([27, 27], { generator: g });
{
  const xenc = F.oneHot(tensor(xs, { dtype: "int64" }), 27).float(); // input: one-hot encoding
  const logits = xenc.matmul(W); // predict log-counts
  const counts = logits.exp(); // counts, equivalent to N
  const probs = counts.div(counts.sum(1, { keepdim: true })); // probabilities for next character
  const nlls: number[] = [];
  for (let i = 0; i < 5; i++) {
    const p = probs.storage[i * 27 + ys[i]];
    nlls.push(-Math.fround(Math.log(p)));
    console.log(`bigram example ${i + 1}: ${itos.get(xs[i])}${itos.get(ys[i])} nll ${nlls[i]}`);
  }
  console.log("average negative log likelihood, i.e. loss =", Math.fround(nlls.reduce((a, b) => a + b) / 5));
}

// the whole dataset
xs = [];
ys = [];
for (const w of words) {
  const chs = [".", ...w, "."];
  for (let k = 0; k + 1 < chs.length; k++) {
    xs.push(stoi.get(chs[k])!);
    ys.push(stoi.get(chs[k + 1])!);
  }
}
const X = tensor(xs, { dtype: "int64" });
const Y = tensor(ys, { dtype: "int64" });
const num = X.numel();
console.log("number of examples: ", num);

g = new Generator().manualSeed(2147483647);
W = randn([27, 27], { generator: g, requiresGrad: true });
const xenc = F.oneHot(X, 27).float(); // the same every step
const rows = arange(num);
// gradient descent
for (let k = 0; k < steps; k++) {
  // forward pass
  const logits = xenc.matmul(W); // predict log-counts
  const counts = logits.exp(); // counts, equivalent to N
  const probs = counts.div(counts.sum(1, { keepdim: true })); // probabilities for next character
  const loss = probs.pick(rows, Y).log().mean().neg().add(W.pow(2).mean().mul(0.01));
  console.log(loss.item());
  // backward pass
  W.grad = null; // set to zero the gradient
  loss.backward();
  // update
  W.data.add_(W.grad!, -50);
}

// finally, sample from the 'neural net' model
g = new Generator().manualSeed(2147483647);
noGrad(() => {
  for (let i = 0; i < 5; i++) {
    const out: string[] = [];
    let ix = 0;
    for (;;) {
      const xenc = F.oneHot(tensor([ix], { dtype: "int64" }), 27).float();
      const logits = xenc.matmul(W); // predict log-counts
      const counts = logits.exp(); // counts, equivalent to N
      const p = counts.div(counts.sum(1, { keepdim: true })); // probabilities for next character
      ix = g.multinomial(p.storage, 1, 27, 1, true)[0];
      out.push(itos.get(ix)!);
      if (ix === 0) break;
    }
    console.log(out.join(""));
  }
});
