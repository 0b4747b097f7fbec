// Quick profile target: the lecture BN-MLP step with raw tensors.
import { readFileSync } from "node:fs";
import { parseLines, prepareData } from "../src/data/dataset.ts";
import { Generator } from "../src/random/generator.ts";
import { randint, randn } from "../src/tensor/random.ts";
import { crossEntropy, noGrad, ones, zeros } from "../src/tensor/tensor.ts";

const words = parseLines(readFileSync(new URL("../data/names.txt", import.meta.url), "utf8"));
const d = prepareData(words);
const g = new Generator().manualSeed(2147483647);
const C = randn([27, 10], { generator: g }).requiresGrad_();
const W1 = randn([30, 200], { generator: g })
  .mul(5 / 3)
  .div(30 ** 0.5)
  .requiresGrad_();
const W2 = randn([200, 27], { generator: g }).mul(0.01).requiresGrad_();
const b2 = randn([27], { generator: g }).mul(0).requiresGrad_();
const bngain = ones([1, 200]).requiresGrad_();
const bnbias = zeros([1, 200]).requiresGrad_();
let bnmeanRunning = zeros([1, 200]);
let bnstdRunning = ones([1, 200]);
const parameters = [C, W1, W2, b2, bngain, bnbias];
const steps = Number(process.argv[2] ?? 2000);
const t0 = performance.now();
for (let i = 0; i < steps; i++) {
  const ix = randint(0, d.train.X.shape[0], [32], { generator: g });
  const Xb = d.train.X.index(ix);
  const Yb = d.train.Y.index(ix);
  const emb = C.index(Xb);
  let hpreact = emb.view(emb.shape[0], -1).matmul(W1);
  const bnmeani = hpreact.mean(0, { keepdim: true });
  const bnstdi = hpreact.std(0, { keepdim: true });
  hpreact = bngain.mul(hpreact.sub(bnmeani)).div(bnstdi).add(bnbias);
  noGrad(() => {
    bnmeanRunning = bnmeanRunning.mul(0.999).add(bnmeani.mul(0.001));
    bnstdRunning = bnstdRunning.mul(0.999).add(bnstdi.mul(0.001));
  });
  const logits = hpreact.tanh().matmul(W2).add(b2);
  const loss = crossEntropy(logits, Yb);
  for (const p of parameters) p.grad = null;
  loss.backward();
  for (const p of parameters) p.data.add_(p.grad!, -0.1);
}
const ms = performance.now() - t0;
console.log(`${steps} steps in ${ms.toFixed(0)} ms: ${((steps / ms) * 1000).toFixed(0)} steps/s`);
