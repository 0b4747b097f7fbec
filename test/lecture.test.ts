/**
 * The whole lecture, end to end: the BatchNorm MLP trained for 200,000 steps from seed 2147483647
 * prints PyTorch's 20 losses (every 10,000 steps, to the lecture's 4 decimals), ends within 1e-4
 * of PyTorch's split losses, and samples PyTorch's 20 names. About a minute.
 * Reference: fixtures/torch-lecture-mlp.json (scripts/torch/lecture_mlp.py, PyTorch 1.13).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { parseLines, prepareData } from "../src/data/dataset.ts";
import { buildModel, presetSpec } from "../src/models/mlp.ts";
import { Generator } from "../src/random/generator.ts";
import { sampleWords, splitLoss } from "../src/train/evaluate.ts";
import { LECTURE_TRAIN, train } from "../src/train/train.ts";

const ref = JSON.parse(readFileSync(new URL("../fixtures/torch-lecture-mlp.json", import.meta.url), "utf8"))
  .presets.batchnorm;
const data = prepareData(parseLines(readFileSync(new URL("../data/names.txt", import.meta.url), "utf8")));

test("200,000 steps of the lecture's BatchNorm MLP: PyTorch's printed losses, split losses and samples", () => {
  const g = new Generator().manualSeed(2147483647);
  const model = buildModel(presetSpec("batchnorm", 27, 3), g);
  const printed: string[] = [];
  train(model, data.train, LECTURE_TRAIN, g, {
    afterStep: ({ step, loss }) => {
      // the notebook: if i % 10000 == 0: print(f'{i:7d}/{max_steps:7d}: {loss.item():.4f}')
      if (step % 10000 === 0) printed.push(`${String(step).padStart(7)}/ 200000: ${loss.toFixed(4)}`);
    },
  });
  assert.deepEqual(
    printed,
    ref.printed.map((p: { line: string }) => p.line),
  );
  for (const split of ["train", "val"] as const) {
    const ours = splitLoss(model, data[split]);
    assert.ok(
      Math.abs(ours - ref.split_loss[split]) < 1e-4, // the issue asks 0.005; measured equal to 4 decimals
      `${split}: ${ours} vs PyTorch ${ref.split_loss[split]}`,
    );
  }
  const words = sampleWords(model, data.vocab, {
    count: 20,
    generator: new Generator().manualSeed(2147483647 + 10),
  });
  assert.deepEqual(
    words,
    ref.samples.map((s: string) => s.replace(/\.$/, "")),
  );
});
