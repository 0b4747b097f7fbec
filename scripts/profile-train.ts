// Profile target: training steps of one model as `makemore train --type TYPE` sets it up
// (src/bench/models.ts `ourRow` for the WaveNet and makemore.py's types, a scaling row of
// src/bench/scaling.ts such as d2-h200, the lecture presets otherwise), after a warm-up, printing
// steps per second of CPU time.
//
//   node --cpu-prof --cpu-prof-dir /tmp/prof --import tsx scripts/profile-train.ts transformer 200
//
// --kernels: then the replayed plan kernel by kernel: each call of the step alone, repeated, in
// CPU time (no clock read between calls), with its kernel's first source line and its buffers'
// sizes, and the plan's whole replay against the step (the rest: minibatch, SGD, the loop).
//
//   node --import tsx scripts/profile-train.ts batchnorm 2000 --kernels
import { readFileSync } from "node:fs";
import { MODEL_ROWS, type ModelRow, ourRow } from "../src/bench/models.ts";
import { SCALING_ROWS } from "../src/bench/scaling.ts";
import { parseLines, prepareData } from "../src/data/dataset.ts";
import { buildModel, type ModelType, presetSpec } from "../src/models/mlp.ts";
import type { Module } from "../src/nn/modules.ts";
import { Generator } from "../src/random/generator.ts";
import { planOf } from "../src/train/plan.ts";
import { LECTURE_TRAIN, train } from "../src/train/train.ts";

const type = process.argv[2] ?? "batchnorm";
const steps = Number(process.argv[3] ?? 2000);
const kernels = process.argv.includes("--kernels");

// Plan binds every recorded call (`k.bind(null, ...args)`): remember each bound call's kernel and
// arguments, to label the plan's calls
const bound = new WeakMap<object, { k: (...a: unknown[]) => unknown; args: unknown[] }>();
if (kernels) {
  const bind = Function.prototype.bind;
  Function.prototype.bind = function (this: (...a: unknown[]) => unknown, ...a: unknown[]) {
    const f = bind.apply(this, a as [unknown, ...unknown[]]);
    bound.set(f, { k: this, args: a.slice(1) });
    return f;
  };
}

const words = parseLines(readFileSync(new URL("../data/names.txt", import.meta.url), "utf8"));
let run: (n: number) => void;
let model: Module;
const scaling = SCALING_ROWS.find((r) => r.name === type);
if ((MODEL_ROWS as readonly string[]).includes(type)) {
  const r = ourRow(type as ModelRow, words);
  model = r.model;
  run = (n) => {
    train(r.model, r.data.train, { ...r.cfg, maxSteps: r.step + n }, r.g, {}, r.step, r.optimizer);
    r.step += n;
  };
} else {
  const spec = scaling ? scaling.spec : presetSpec(type as ModelType, 27, 3);
  const d = prepareData(words, spec.blockSize);
  const g = new Generator().manualSeed(2147483647);
  const m = buildModel(spec, g);
  model = m;
  const cfg = { ...LECTURE_TRAIN, batchSize: scaling ? scaling.batch : LECTURE_TRAIN.batchSize };
  run = (n) => train(m, d.train, { ...cfg, maxSteps: n }, g);
}
run(Math.max(20, steps >> 3)); // warm up the JIT
const c0 = process.cpuUsage();
run(steps);
const c = process.cpuUsage(c0);
const stepUs = (c.user + c.system) / steps;
console.log(`${type}: ${steps} steps, ${(1e6 / stepUs).toFixed(1)} steps per CPU second`);

if (kernels) {
  const plan = planOf(model)?.plan as unknown as { calls: (() => void)[]; run(): void } | undefined;
  if (!plan) throw new Error(`${type}: no training plan (the step runs eagerly)`);
  const cpu = (f: () => void, reps: number) => {
    f();
    const t = process.cpuUsage();
    for (let i = 0; i < reps; i++) f();
    const u = process.cpuUsage(t);
    return (u.user + u.system) / reps;
  };
  const label = (f: object) => {
    const b = bound.get(f);
    if (!b) return "?";
    const src = b.k.toString().split("\n")[0].slice(0, 60);
    const sizes = b.args.map((x) =>
      ArrayBuffer.isView(x) ? (x as Float32Array).length : typeof x === "number" ? x : "",
    );
    return `${src} [${sizes.join(",")}]`;
  };
  // a call repeated alone: its kernel's CPU time on warm caches (accumulating calls keep adding,
  // which does not change their cost)
  const each = plan.calls.map((f) => cpu(f, 200));
  const sum = each.reduce((a, b) => a + b, 0);
  const replay = cpu(() => plan.run(), 200);
  console.log(
    `step ${stepUs.toFixed(1)} us CPU; plan.run ${replay.toFixed(1)} us (${plan.calls.length} calls, alone ${sum.toFixed(1)} us); outside the plan ${(stepUs - replay).toFixed(1)} us`,
  );
  plan.calls.forEach((f, i) =>
    console.log(`${String(i).padStart(3)} ${each[i].toFixed(2).padStart(8)} us  ${label(f)}`),
  );
}
