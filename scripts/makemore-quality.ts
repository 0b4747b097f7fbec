/**
 * The README's makemore.py table, our side: each --type at makemore.py's defaults (seed 3407 and
 * its randperm split, batch 32, AdamW lr 5e-4 / betas (0.9, 0.99) / eps 1e-8 / wd 0.01) trained for
 * 5,000 steps through the library, evaluated as makemore.py's evaluate() does at step 5000 (the
 * test set's 1,000 words in batches of 100, the mean of the batch losses; train: 10 batches of
 * 100 random training words). Writes fixtures/makemore-ts/<type>.json. One-off measurement, not a
 * test: its counterpart is scripts/torch/makemore_runs.sh (fixtures/makemore-py/).
 *
 *   node --import tsx scripts/makemore-quality.ts [types...]
 */

import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { randpermSplit } from "../src/data/makemore.ts";
import { buildMakemore, MAKEMORE_DEFAULTS, type MakemoreType } from "../src/models/makemore.ts";
import { Generator } from "../src/random/index.ts";
import { noGrad, Tensor } from "../src/tensor/index.ts";
import { AdamW } from "../src/train/optim.ts";
import { trainStep } from "../src/train/plan.ts";

const root = new URL("..", import.meta.url);
const words = readFileSync(new URL("data/names.txt", root), "utf8")
  .split("\n")
  .map((w) => w.trim())
  .filter((w) => w);
const chars = [...new Set(words.join(""))].sort();
const stoi = new Map(chars.map((c, i) => [c, i + 1]));
const T = Math.max(...words.map((w) => w.length)) + 1;

function encode(ws: string[]): { X: Tensor; Y: Tensor } {
  const X = new Float32Array(ws.length * T);
  const Y = new Float32Array(ws.length * T).fill(-1);
  ws.forEach((w, r) => {
    [...w].forEach((c, t) => {
      X[r * T + t + 1] = stoi.get(c)!;
      Y[r * T + t] = stoi.get(c)!;
    });
    Y[r * T + w.length] = 0;
  });
  return { X: new Tensor(X, [ws.length, T], "int64"), Y: new Tensor(Y, [ws.length, T], "int64") };
}

const STEPS = 5000;
const types = (
  process.argv.slice(2).length
    ? process.argv.slice(2)
    : ["makemore-bigram", "mlp", "rnn", "gru", "bow", "transformer"]
) as MakemoreType[];
mkdirSync(new URL("fixtures/makemore-ts/", root), { recursive: true });
for (const type of types) {
  const g = new Generator().manualSeed(3407);
  const { train, test } = randpermSplit(words, g);
  const model = buildMakemore({ type, vocabSize: chars.length + 1, blockSize: T, ...MAKEMORE_DEFAULTS }, g);
  const opt = new AdamW(model.parameters(), { lr: 5e-4, betas: [0.9, 0.99], eps: 1e-8, weightDecay: 0.01 });
  const evalGen = new Generator().manualSeed(1);
  const evaluate = (ws: string[], batches: number, random: boolean) =>
    noGrad(() => {
      model.eval();
      const losses: number[] = [];
      for (let b = 0; b < batches; b++) {
        const chunk = random
          ? Array.from({ length: 100 }, () => ws[evalGen.nextU32() % ws.length])
          : ws.slice(b * 100, b * 100 + 100);
        if (chunk.length === 0) break;
        const { X, Y } = encode(chunk);
        losses.push(model.loss(X, Y).item());
      }
      model.train();
      return losses.reduce((a, v) => a + v, 0) / losses.length;
    });
  const evals: { step: number; train: number; test: number }[] = [];
  const ix = new Float32Array(32);
  let trainMs = 0;
  const t0 = performance.now();
  for (let step = 0; step <= STEPS; step++) {
    const a = performance.now();
    g.randintInto(ix, 0, train.length);
    const { X, Y } = encode(Array.from(ix, (i) => train[i]));
    // the captured plan (src/train/plan.ts): the same bits as model.loss + backward, faster
    const loss = trainStep(model, X, Y).loss;
    opt.step();
    trainMs += performance.now() - a;
    if (step % 500 === 0) {
      const e = { step, train: evaluate(train, 10, true), test: evaluate(test, 10, false) };
      if (step > 0) evals.push(e);
      console.log(
        `${type} step ${step} | loss ${loss.toFixed(4)} | train ${e.train.toFixed(4)} | test ${e.test.toFixed(4)} | ${(trainMs / (step + 1)).toFixed(1)} ms/step`,
      );
    }
  }
  const out = {
    type,
    params: model.numParameters(),
    steps: STEPS,
    evals,
    testLoss: evals[evals.length - 1].test,
    msPerStep: trainMs / (STEPS + 1),
    wallSeconds: (performance.now() - t0) / 1000,
  };
  writeFileSync(new URL(`fixtures/makemore-ts/${type}.json`, root), `${JSON.stringify(out, null, 1)}\n`);
}
