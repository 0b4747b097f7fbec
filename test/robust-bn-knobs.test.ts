/**
 * The batchnorm preset's two knobs (issue 16 point 10), against PyTorch running the notebook's
 * code (fixtures/torch-bn-mlp-knobs.json from scripts/torch/bn_mlp_knobs.py):
 *  - `--bias`: the notebook's commented-out `b1 = torch.randn(n_hidden, generator=g) * 0.01`
 *    uncommented (drawn right after W1, added before the BatchNorm): 12,297 parameters;
 *  - `--bn-eps E`: the lecture-std BatchNorm divides by sqrt(var + E) (the unbiased var, as
 *    .std() uses), so E = 0 is the notebook's .std(), bit for bit the default.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { exampleCount, exampleRows, parseLines, prepareData } from "../src/data/dataset.ts";
import { buildModel, type MLP, presetSpec } from "../src/models/mlp.ts";
import { Generator } from "../src/random/generator.ts";
import { Tensor } from "../src/tensor/tensor.ts";
import { calibrateBatchNorm, foldBatchNorm, splitLoss } from "../src/train/evaluate.ts";
import { LECTURE_TRAIN, train } from "../src/train/train.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const ref = JSON.parse(readFileSync(join(ROOT, "fixtures/torch-bn-mlp-knobs.json"), "utf8"));
const data = prepareData(parseLines(readFileSync(join(ROOT, "data/names.txt"), "utf8")));
const tmp = mkdtempSync(join(tmpdir(), "makemore-bn-knobs-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

function trained(knobs: { bias?: boolean; bnEps?: number }, steps: number): { model: MLP; losses: number[] } {
  const g = new Generator().manualSeed(2147483647);
  const model = buildModel({ ...presetSpec("batchnorm", 27, 3), ...knobs }, g);
  const losses: number[] = [];
  train(model, data.train, { ...LECTURE_TRAIN, maxSteps: steps }, g, {
    afterStep: (s) => losses.push(s.loss),
  });
  return { model, losses };
}

for (const [name, knobs] of [
  ["bias", { bias: true }],
  ["eps", { bnEps: 1e-3 }],
] as const) {
  test(`batchnorm ${name === "bias" ? "--bias" : "--bn-eps 1e-3"}: PyTorch's parameter count, 300 losses, split losses`, () => {
    const r = ref.runs[name];
    const { model, losses } = trained(knobs, r.loss_per_step.length);
    assert.equal(model.numParameters(), r.param_count);
    assert.equal(r.param_count, name === "bias" ? 12297 : 12097);
    assert.ok(
      Math.abs(losses[0]! - r.loss_per_step[0]) < 1e-6,
      `step 0: ${losses[0]} vs ${r.loss_per_step[0]}`,
    );
    let worst = 0;
    for (let i = 0; i < losses.length; i++)
      worst = Math.max(worst, Math.abs(losses[i]! - r.loss_per_step[i]));
    assert.ok(worst < 1e-4, `largest deviation over ${losses.length} steps: ${worst}`);
    // the running std (which the eps is inside of) and the eval-mode losses that use it
    const bn = model.layers.layers[1] as unknown as { runningSpread: Tensor };
    for (let c = 0; c < 5; c++)
      assert.ok(
        Math.abs(bn.runningSpread.storage[c]! - r.bnstd_running_first5[c]) < 1e-5,
        `running std ${c}`,
      );
    for (const split of ["train", "val", "test"] as const) {
      const ours = splitLoss(model, data[split]);
      assert.ok(Math.abs(ours - r.split_loss_running_stats[split]) < 1e-4, `${split}: ${ours}`);
    }
    // folding the BatchNorm (and b1) into the Linear keeps the function
    const folded = foldBatchNorm(model);
    assert.ok(Math.abs(splitLoss(folded, data.val) - splitLoss(model, data.val)) < 1e-5);
  });
}

test("--bn-eps 0 is the notebook's .std(): the same bits as the default, step by step", () => {
  const a = trained({}, 60);
  const b = trained({ bnEps: 0 }, 60);
  assert.deepEqual(b.losses, a.losses);
  assert.deepEqual([...b.model.parameters()[1]!.storage], [...a.model.parameters()[1]!.storage]);
  // and the default is PyTorch's (the 1,000-step reference's first losses)
  const bn1000 = JSON.parse(readFileSync(join(ROOT, "fixtures/torch-bn-mlp-1000.json"), "utf8"));
  for (let i = 0; i < 60; i++)
    assert.ok(Math.abs(a.losses[i]! - bn1000.loss_per_step[i]) < 1e-5, `step ${i}`);
});

test("a batch with no spread: NaN without eps, PyTorch's finite loss with --bn-eps 1e-3", () => {
  for (const [eps, key] of [
    [0, "eps0"],
    [1e-3, "eps1e-3"],
  ] as const) {
    const model = buildModel(
      { ...presetSpec("batchnorm", 27, 3), bnEps: eps },
      new Generator().manualSeed(2147483647),
    );
    // 32 copies of the context (., ., .) -> 'a': every hidden column has zero spread
    const X = new Tensor(new Float32Array(32 * 3), [32, 3], "int64");
    const Y = new Tensor(new Float32Array(32).fill(1), [32], "int64");
    const loss = model.loss(X, Y).item();
    const theirs = ref.zero_spread_loss[key];
    if (eps === 0)
      assert.ok(Number.isNaN(loss) && theirs === null, `${loss} vs ${theirs}`); // null: JSON's NaN
    else assert.ok(Math.abs(loss - theirs) < 1e-6, `${loss} vs ${theirs}`);
  }
});

test("calibrating a --bn-eps run sets the running std to sqrt(var + eps) over the training set", () => {
  const { model } = trained({ bnEps: 0.5, bias: true }, 20);
  // a small training set, so the float64 reference below is cheap
  const small = prepareData(
    parseLines(readFileSync(join(ROOT, "data/names.txt"), "utf8")).slice(0, 300),
  ).train;
  calibrateBatchNorm(model, small);
  const N = exampleCount(small);
  const { X } = exampleRows(small, 0, N);
  const H = 200;
  const pre = model.layers.layers[0]!.forward(model.embedding.forward(X).view(N, -1)).storage; // (N, H)
  const bn = model.layers.layers[1] as unknown as { runningSpread: Tensor; runningMean: Tensor };
  for (const c of [0, 7, 199]) {
    let mean = 0;
    for (let r = 0; r < N; r++) mean += pre[r * H + c]!;
    mean /= N;
    let ss = 0;
    for (let r = 0; r < N; r++) ss += (pre[r * H + c]! - mean) ** 2;
    const expected = Math.sqrt(ss / (N - 1) + 0.5);
    assert.ok(
      Math.abs(bn.runningSpread.storage[c]! - expected) < 1e-5,
      `column ${c}: ${bn.runningSpread.storage[c]} vs ${expected}`,
    );
    assert.ok(Math.abs(bn.runningMean.storage[c]! - mean) < 1e-5);
  }
});

test("the command line: train --type batchnorm --bias --bn-eps 1e-3 records both and trains", () => {
  const dir = join(tmp, "run");
  const r = spawnSync(
    process.execPath,
    [
      "--import",
      "tsx",
      join(ROOT, "src/cli/main.ts"),
      "train",
      "-o",
      dir,
      "--type",
      "batchnorm",
      "--bias",
      "--bn-eps",
      "1e-3",
      "--max-steps",
      "3",
      "--num-samples",
      "0",
    ],
    { cwd: ROOT, encoding: "utf8" },
  );
  assert.equal(r.status, 0, r.stderr);
  const config = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
  assert.equal(config.model.bias, true);
  assert.equal(config.model.bnEps, 1e-3);
  assert.match(r.stdout + r.stderr, /12,?297/);
});
