// Profile target: training steps of one model as `makemore train --type TYPE` sets it up
// (src/bench/models.ts `ourRow` for the WaveNet and makemore.py's types, the lecture presets
// otherwise), after a warm-up, printing steps per second of CPU time.
//
//   node --cpu-prof --cpu-prof-dir /tmp/prof --import tsx scripts/profile-train.ts transformer 200
import { readFileSync } from "node:fs";
import { MODEL_ROWS, type ModelRow, ourRow } from "../src/bench/models.ts";
import { parseLines, prepareData } from "../src/data/dataset.ts";
import { buildModel, type ModelType, presetSpec } from "../src/models/mlp.ts";
import { Generator } from "../src/random/generator.ts";
import { LECTURE_TRAIN, train } from "../src/train/train.ts";

const type = process.argv[2] ?? "batchnorm";
const steps = Number(process.argv[3] ?? 2000);
const words = parseLines(readFileSync(new URL("../data/names.txt", import.meta.url), "utf8"));
let run: (n: number) => void;
if ((MODEL_ROWS as readonly string[]).includes(type)) {
  const r = ourRow(type as ModelRow, words);
  run = (n) => {
    train(r.model, r.data.train, { ...r.cfg, maxSteps: r.step + n }, r.g, {}, r.step, r.optimizer);
    r.step += n;
  };
} else {
  const d = prepareData(words);
  const g = new Generator().manualSeed(2147483647);
  const model = buildModel(presetSpec(type as ModelType, 27, 3), g);
  run = (n) => train(model, d.train, { ...LECTURE_TRAIN, maxSteps: n }, g);
}
run(Math.max(20, steps >> 3)); // warm up the JIT
const c0 = process.cpuUsage();
run(steps);
const c = process.cpuUsage(c0);
console.log(
  `${type}: ${steps} steps, ${(steps / ((c.user + c.system) / 1e6)).toFixed(1)} steps per CPU second`,
);
