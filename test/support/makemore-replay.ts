/**
 * What the makemore.py replay tests share (test/makemore.test.ts, test/crop.test.ts): PyTorch's
 * recorded run (fixtures/torch-makemore-replay.json from scripts/torch/makemore_replay.py), the
 * words, makemore.py's CharDataset encoding written out independently of the library's, and the
 * seeded model as makemore.py builds it (its randperm split first, then the modules).
 */

import { readFileSync } from "node:fs";
import { randpermSplit } from "../../src/data/makemore.ts";
import { buildMakemore, MAKEMORE_DEFAULTS, type MakemoreType } from "../../src/models/makemore.ts";
import { Generator } from "../../src/random/index.ts";
import { Tensor } from "../../src/tensor/index.ts";

export interface TypeFixture {
  params: number;
  state: { name: string; shape: number[]; sha256: string; first: number[] }[];
  losses: number[];
  test_words_first: string[];
  train_words_first: string[];
  batch_ix_sha256: string;
}

export const fx = JSON.parse(
  readFileSync(new URL("../../fixtures/torch-makemore-replay.json", import.meta.url), "utf8"),
) as {
  meta: { steps: number; batch: number; seed: number; batch_seed: number };
  types: Record<string, TypeFixture>;
};

/** The fixture of a type (makemore.py calls makemore-bigram "bigram"). */
export const fixtureOf = (type: MakemoreType): TypeFixture =>
  fx.types[type === "makemore-bigram" ? "bigram" : type];

export const words = readFileSync(new URL("../../data/names.txt", import.meta.url), "utf8")
  .split("\n")
  .map((w) => w.trim())
  .filter((w) => w);
const chars = [...new Set(words.join(""))].sort();
const stoi = new Map(chars.map((c, i) => [c, i + 1]));
export const maxLen = Math.max(...words.map((w) => w.length));

/** makemore.py's CharDataset: x = [0, w..., 0...], y = [w..., 0, -1...], length maxLen + 1. */
export function encodeBatch(ws: string[]): { X: Tensor; Y: Tensor } {
  const T = maxLen + 1;
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

/** torch.manual_seed(fx.meta.seed), makemore.py's randperm split, then the model at its defaults. */
export function setup(type: MakemoreType) {
  const g = new Generator().manualSeed(fx.meta.seed);
  const split = randpermSplit(words, g);
  const model = buildMakemore(
    { type, vocabSize: chars.length + 1, blockSize: maxLen + 1, ...MAKEMORE_DEFAULTS },
    g,
  );
  return { split, model };
}
