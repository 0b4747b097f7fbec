/**
 * BatchNorm knobs and the PyTorch export (issue 16, points 9 and 10), against PyTorch
 * (fixtures/torch-export-bn-knobs.json from scripts/torch/export_and_bn_knobs.py):
 *  - `--type deep-bn --bias` is a learner's 47,551-parameter notebook net (Linear with bias, then
 *    BatchNorm, six layers), with `--bn-eps` and `--bn-momentum`: PyTorch's losses step by step;
 *  - `makemore export RUN --format torch` writes a file that torch.load(weights_only=True) reads
 *    and an idiomatic nn.Sequential loads strictly; torch's eval-mode logits from it are ours.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { parseLines, prepareData } from "../src/data/dataset.ts";
import { loadRun } from "../src/io/run.ts";
import { torchStateDict } from "../src/io/torchsave.ts";
import { buildModel, type MLP, presetSpec } from "../src/models/mlp.ts";
import { Generator } from "../src/random/generator.ts";
import { Tensor } from "../src/tensor/tensor.ts";
import { splitLoss } from "../src/train/evaluate.ts";
import { LECTURE_TRAIN, train } from "../src/train/train.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), "makemore-export-"));
const ref = JSON.parse(readFileSync(join(ROOT, "fixtures/torch-export-bn-knobs.json"), "utf8"));
const data = prepareData(parseLines(readFileSync(join(ROOT, "data/names.txt"), "utf8")));

function makemore(...args: string[]) {
  const r = spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "src/cli/main.ts"), ...args], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 120_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

for (const [name, knobs] of [
  ["deep-bn-bias", {}],
  ["deep-bn-bias-knobs", { bnEps: 1e-3, bnMomentum: 0.001 }],
] as const) {
  test(`${name}: PyTorch's parameter count, 300 losses and eval-mode split losses`, () => {
    const r = ref.knobs[name];
    const g = new Generator().manualSeed(2147483647);
    const model = buildModel({ ...presetSpec("deep-bn", 27, 3), bias: true, ...knobs }, g);
    assert.equal(model.numParameters(), 47551);
    assert.equal(r.param_count, 47551);
    const losses: number[] = [];
    train(model, data.train, { ...LECTURE_TRAIN, maxSteps: 300 }, g, {
      afterStep: (s) => losses.push(s.loss),
    });
    assert.ok(
      Math.abs(losses[0] - r.loss_per_step[0]) < 1e-5,
      `step 0: ${losses[0]} vs ${r.loss_per_step[0]}`,
    );
    let worst = 0;
    for (let i = 0; i < 300; i++) worst = Math.max(worst, Math.abs(losses[i] - r.loss_per_step[i]));
    assert.ok(worst < 1e-3, `largest deviation over 300 steps: ${worst}`);
    // eval mode uses the running statistics, which the momentum and eps shape
    for (const split of ["train", "val", "test"] as const) {
      const ours = splitLoss(model, data[split]);
      const theirs = r.split_loss_eval[split];
      assert.ok(Math.abs(ours - theirs) < 1e-3, `${split}: ${ours} vs ${theirs}`);
    }
  });
}

// The runs torch loaded are committed (one folder per run under fixtures/export-runs, trained once by the script), so
// the exported bytes do not depend on the training kernels' rounding (the FMA build or not).
for (const name of Object.keys(ref.export)) {
  test(`export ${name}: torch loads it into nn.Sequential, and its logits are ours`, () => {
    const r = ref.export[name];
    const dir = join(tmp, name);
    cpSync(join(ROOT, r.run), dir, { recursive: true });
    const e = makemore("export", dir, "--format", "torch");
    assert.equal(e.code, 0, e.stderr);
    // the Python it prints is the one torch built the model from
    assert.ok(e.stdout.includes(`model = ${r.sequential}`), e.stdout);
    assert.match(e.stdout, /model\.load_state_dict\(torch\.load\(".*state_dict\.pt"\)\)/);
    // torch saw exactly these bytes
    const bytes = readFileSync(join(dir, "state_dict.pt"));
    assert.equal(createHash("sha256").update(bytes).digest("hex"), r.sha256);
    const run = loadRun(dir);
    assert.deepEqual(stateDictShapes(run.model as MLP), r.state_dict);
    // our eval-mode logits for the fixture's contexts against torch's
    run.model.eval();
    const X = new Tensor(Float32Array.from(ref.contexts.flat()), [ref.contexts.length, 3], "int64");
    const ours = run.model.forward(X).tolist() as number[][];
    let worst = 0;
    ours.forEach((row, i) => {
      row.forEach((v, j) => {
        worst = Math.max(worst, Math.abs(v - r.logits[i][j]));
      });
    });
    assert.ok(worst < 1e-5, `largest logit difference ${worst}`);
  });
}

// The same command on runs trained now, with today's kernels: the state_dict torch loaded
// (names, shapes, dtypes) and the nn.Sequential it was built from.
for (const name of ["batchnorm", "deep-bn-bias"]) {
  test(`export ${name}, trained now: the state_dict and nn.Sequential torch loaded`, () => {
    const r = ref.export[name];
    const dir = join(tmp, `${name}-fresh`);
    const t = makemore("train", "-o", dir, "--num-samples", "0", "--quiet", ...r.flags);
    assert.equal(t.code, 0, t.stderr);
    const e = makemore("export", dir, "--format", "torch");
    assert.equal(e.code, 0, e.stderr);
    assert.ok(e.stdout.includes(`model = ${r.sequential}`), e.stdout);
    assert.deepEqual(stateDictShapes(loadRun(dir).model as MLP), r.state_dict);
  });
}

function stateDictShapes(model: MLP) {
  return torchStateDict(model).tensors.map(([k, v]) => [
    k,
    v.shape,
    v.dtype === "int64" ? "torch.int64" : "torch.float32",
  ]);
}

test("export: bad usage is one line", () => {
  let r = makemore("export", join(tmp, "nope"), "--format", "torch");
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^makemore: error: run directory .* does not exist\n$/);
  r = makemore("export", join(tmp, "nope"));
  assert.equal(r.code, 2);
  assert.match(r.stderr, /needs --format torch/);
  r = makemore("export", join(tmp, "nope"), "--format", "onnx");
  assert.match(r.stderr, /--format must be one of torch; got 'onnx'/);
});
