// Profile target: the CLI's training loop on the preset given as argv[2] (default batchnorm).
import { readFileSync } from "node:fs";
import { parseLines, prepareData } from "../src/data/dataset.ts";
import { buildModel, type ModelType, presetSpec } from "../src/models/mlp.ts";
import { Generator } from "../src/random/generator.ts";
import { LECTURE_TRAIN, train } from "../src/train/train.ts";

const type = (process.argv[2] ?? "batchnorm") as ModelType;
const steps = Number(process.argv[3] ?? 2000);
const d = prepareData(parseLines(readFileSync(new URL("../data/names.txt", import.meta.url), "utf8")));
const g = new Generator().manualSeed(2147483647);
const model = buildModel(presetSpec(type, 27, 3), g);
train(model, d.train, { ...LECTURE_TRAIN, maxSteps: 300 }, g); // warm up the JIT
const t0 = performance.now();
train(model, d.train, { ...LECTURE_TRAIN, maxSteps: steps }, g);
const ms = performance.now() - t0;
console.log(`${type}: ${steps} steps, ${((steps / ms) * 1000).toFixed(0)} steps/s`);
