/**
 * Advice that sends people the right way (issue 16, points 1, 2, 6 and 7): a zero-spread batch
 * through the lecture's eps-free BatchNorm is named as the cause of the NaN (and the doctor
 * finds it before training), empty splits are announced and printed as "empty", the doctor's
 * saturation figure is the table's, its fix fits the model, it says when a run had nothing to
 * look at, `--strict` gives CI an exit code, and the stale start-up and eval lines are fixed.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import type { Examples } from "../src/data/dataset.ts";
import { checkModel, checkZeroSpread } from "../src/diagnostics/doctor.ts";
import type { DiagnosticsSnapshot } from "../src/diagnostics/types.ts";
import { buildModel, presetSpec } from "../src/models/mlp.ts";
import { Generator } from "../src/random/generator.ts";
import { Tensor } from "../src/tensor/tensor.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), "makemore-advice-"));

function makemore(...args: string[]) {
  const r = spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "src/cli/main.ts"), ...args], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 120_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

// the issue's 4-line file: three names and one line of 1,000 b's (98.6% of the contexts are "bbb")
const four = join(tmp, "four.txt");
writeFileSync(four, `emma\nolivia\nava\n${"b".repeat(1000)}\n`);
const eight = join(tmp, "eight.txt");
writeFileSync(eight, "emma\nolivia\nava\nisabella\nsophia\nmia\namelia\nharper\n");
const three = join(tmp, "three.txt");
writeFileSync(three, "emma\nolivia\nava\n");

test("a zero-spread batch through the eps-free BatchNorm: the message names it and the real fixes", () => {
  for (const lr of ["0.1", "0.0001"]) {
    const r = makemore("train", "-i", four, "-o", join(tmp, `four-${lr}`), "--learning-rate", lr);
    assert.equal(r.code, 1);
    const error = r.stderr.split("\n").find((l) => l.startsWith("makemore: error:"));
    assert.equal(
      error,
      "makemore: error: the loss became NaN at step 0: 200 of 200 columns of the batch entering layer 1 (BatchNorm1d, lecture-std) had zero spread (all 32 rows equal), and this BatchNorm divides by the batch std with no eps: (x - mean) / std = 0/0; training stopped and the last good checkpoint (step 0) was kept. Use a larger --batch-size, a BatchNorm with an eps (--type custom --batchnorm torch: biased var + 1e-5), or train on more (and more varied) data; a lower learning rate does not help.",
    );
    // and it was said at start-up, before any step
    assert.match(
      r.stdout,
      /^warning: layer 1 \(BatchNorm1d, lecture-std, eps 0\): 100% chance of a batch with zero spread/m,
    );
  }
  // 8 names at batch 2: two equal contexts in one batch, a few dozen steps in
  const r = makemore("train", "-i", eight, "-o", join(tmp, "eight"), "--batch-size", "2");
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /the loss became NaN at step \d+: 200 of 200 columns .* had zero spread \(all 2 rows equal\)/,
  );
  assert.doesNotMatch(r.stderr, /Try a lower --learning-rate/);
  // the same data with a BatchNorm that has an eps trains
  const ok = makemore(
    "train",
    "-i",
    eight,
    "-o",
    join(tmp, "eight-torch"),
    "--batch-size",
    "2",
    "--max-steps",
    "300",
    "--type",
    "custom",
    "--depth",
    "1",
    "--batchnorm",
    "torch",
    "--num-samples",
    "0",
  );
  assert.equal(ok.code, 0, ok.stderr);
});

test("the doctor finds the zero-spread risk before training; --strict exits 1 on an ERROR", () => {
  let r = makemore("doctor", "-i", four);
  assert.equal(r.code, 0);
  assert.match(
    r.stdout,
    /ERROR layer 1 \(BatchNorm1d, lecture-std, eps 0\): 100% chance of a batch with zero spread within 200000 steps \(one context is 98\.6% of the training set; batch 32\)/,
  );
  r = makemore("doctor", "-i", four, "--strict");
  assert.equal(r.code, 1);
  r = makemore("doctor", "--type", "original", "--strict", "--json");
  assert.equal(r.code, 1);
  assert.ok(JSON.parse(r.stdout).findings.some((f: { id: string }) => f.id === "init-loss-high"));
  r = makemore("doctor", "--type", "batchnorm", "--strict");
  assert.equal(r.code, 0, r.stdout);
  assert.match(r.stdout, /no problems found/);
});

test("zero-spread odds: a batch of B is all one context with probability sum p_c^B", () => {
  // contexts A, A, A, B: q = (3/4)^2 + (1/4)^2 = 0.625 per step at batch 2
  const X = new Tensor(new Float32Array([1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2]), [4, 3], "int64");
  const train: Examples = { X, Y: new Tensor(new Float32Array(4), [4], "int64") };
  const model = buildModel(presetSpec("batchnorm", 27, 3), new Generator().manualSeed(1));
  const [f] = checkZeroSpread(model, train, 2, 1);
  assert.equal(f.measured.perStep, 0.625);
  assert.equal(f.measured.perRun, 0.625);
  // over 3 steps: 1 - 0.375^3
  assert.ok(
    Math.abs((checkZeroSpread(model, train, 2, 3)[0].measured.perRun as number) - (1 - 0.375 ** 3)) < 1e-12,
  );
  // BatchNorms with an eps are safe from 0/0: no finding
  const deep = buildModel(presetSpec("deep-bn", 27, 3), new Generator().manualSeed(1));
  assert.deepEqual(checkZeroSpread(deep, train, 2, 1000), []);
});

test("tiny data: empty splits are announced at start-up and printed as 'empty', never NaN", () => {
  const dir = join(tmp, "three");
  const r = makemore(
    "train",
    "-i",
    three,
    "-o",
    dir,
    "--max-steps",
    "50",
    "--batch-size",
    "4",
    "--type",
    "kaiming",
    "--num-samples",
    "2",
  );
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /split \(random\.seed\(42\)\): train 12 \| val 0 \| test 4/);
  assert.match(
    r.stdout,
    /^warning: the val split is empty \(3 items split 80\/10\/10\): val loss will be reported as "empty"/m,
  );
  assert.match(r.stdout, /^train \d\.\d{4} \| val empty \| test \d\.\d{4}$/m);
  const e = makemore("eval", dir);
  assert.match(e.stdout, /^val {3}empty$/m);
  const info = makemore("info", dir);
  assert.match(info.stdout, /val empty/);
  for (const out of [r.stdout, r.stderr, e.stdout, info.stdout]) assert.doesNotMatch(out, /NaN/);
  assert.equal(JSON.parse(makemore("eval", dir, "--json").stdout).losses.val, null);
  // and the report says it the same way
  assert.equal(makemore("report", dir).code, 0);
  const html = readFileSync(join(dir, "report.html"), "utf8");
  assert.match(html, /<td class="num">empty<\/td>/);
  assert.doesNotMatch(html, /NaN/);
});

test("the doctor's saturation is the table's number, and its fix is not what the model has", () => {
  // deep-tanh is Kaiming-initialised (gain 5/3); a snapshot whose layer 1 is 35.50% saturated
  const model = buildModel(presetSpec("deep-tanh", 27, 3), new Generator().manualSeed(2147483647));
  const X = new Tensor(
    new Float32Array(96).map((_, i) => i % 27),
    [32, 3],
    "int64",
  );
  const train: Examples = {
    X,
    Y: new Tensor(
      new Float32Array(32).map((_, i) => i % 27),
      [32],
      "int64",
    ),
  };
  const snapshot = {
    step: 29999,
    loss: 2.1,
    activations: [{ layer: 1, kind: "Tanh", mean: -0.04, std: 0.8, saturated: 35.5 }],
    gradients: [],
    params: [],
    saturation: [],
  } as unknown as DiagnosticsSnapshot;
  const findings = checkModel(model, train, new Generator().manualSeed(1), { snapshot });
  const sat = findings.filter((f) => f.id === "tanh-saturated");
  assert.equal(sat.length, 1);
  assert.equal(sat[0].title, "layer 1 (Tanh): 35.50% of units saturated (|t| > 0.97) at step 29999");
  assert.doesNotMatch(sat[0].fix, /Kaiming init/);
  assert.match(sat[0].fix, /BatchNorm before each tanh/);
  assert.match(sat[0].fix, /the init is already Kaiming/);
  // with BatchNorm and Kaiming, the fix is neither
  const bn = buildModel(presetSpec("deep-bn", 27, 3), new Generator().manualSeed(2147483647));
  const bnSat = checkModel(bn, train, new Generator().manualSeed(1), { snapshot }).find(
    (f) => f.id === "tanh-saturated",
  );
  assert.ok(bnSat);
  assert.doesNotMatch(bnSat.fix, /Kaiming init|BatchNorm before/);
});

test("train --diagnostics: every saturation the doctor prints is the table's", () => {
  // gain 3 saturates the 6-layer tanh net at once
  const r = makemore(
    "train",
    "-o",
    join(tmp, "gain3"),
    "--type",
    "custom",
    "--gain",
    "3",
    "--max-steps",
    "200",
    "--diagnostics",
    "--num-samples",
    "0",
  );
  assert.equal(r.code, 0, r.stderr);
  const table = new Map(
    [
      ...r.stdout.matchAll(
        /^layer (\d+) \( *Tanh\): mean [-+]?\d\.\d\d, std \d\.\d\d, saturated: (\d+\.\d\d)%$/gm,
      ),
    ].map((m) => [m[1], m[2]]),
  );
  const doctor = [
    ...r.stdout.matchAll(
      /^WARNING layer (\d+) \(Tanh\): (\d+\.\d\d)% of units saturated \(\|t\| > 0\.97\) at step 199$/gm,
    ),
  ];
  assert.ok(doctor.length >= 3, r.stdout);
  for (const [, layer, pct] of doctor) assert.equal(pct, table.get(layer), `layer ${layer}`);
  // a custom net with gain 3 is told to lower its gain, not to use Kaiming's 5/3 it lacks
  assert.match(
    r.stdout,
    /fix: Shrink the pre-activations: a smaller gain \(yours is 3\.00; Kaiming's for tanh is 5\/3\)/,
  );
});

test("a run without --diagnostics: the doctor says what it could not look at", () => {
  const dir = join(tmp, "plain");
  assert.equal(
    makemore("train", "-o", dir, "--type", "kaiming", "--max-steps", "20", "--num-samples", "0").code,
    0,
  );
  const r = makemore("doctor", dir);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^no problems found in what could be checked$/m);
  assert.match(
    r.stdout,
    /^note: this run was trained without --diagnostics: there is no update:data history/m,
  );
  assert.doesNotMatch(r.stdout, /^no problems found$/m);
});

test("stale lines: no lr drop past the end, eval lines labelled like the log, fold without plots/", () => {
  const dir = join(tmp, "short");
  const r = makemore(
    "train",
    "-o",
    dir,
    "--max-steps",
    "2000",
    "--eval-every",
    "1000",
    "--log-every",
    "1000",
    "--num-samples",
    "0",
  );
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    /^train: 2000 steps \| batch 32 \| lr 0\.1 \(its drop at step 100000 is past the last step\)$/m,
  );
  assert.match(r.stdout, /^step {4}1000\/2000 \| loss \d\.\d{4} \| lr 0\.1/m);
  assert.match(
    r.stdout,
    /^step {4}1000\/2000 \| train \d\.\d{4} \| val \d\.\d{4} \(eval mode, after 1000 steps\)$/m,
  );
  assert.doesNotMatch(r.stdout, /step +999/);
  const evals = readFileSync(join(dir, "metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l))
    .filter((m) => m.val_loss !== undefined);
  assert.deepEqual(
    evals.map((m) => m.step),
    [1000, 2000],
  );
  const long = makemore(
    "train",
    "-o",
    join(tmp, "long"),
    "--max-steps",
    "3",
    "--lr-decay-step",
    "2",
    "--num-samples",
    "0",
  );
  assert.match(long.stdout, /^train: 3 steps \| batch 32 \| lr 0\.1 -> 0\.01 at step 2$/m);
  // the seed is an identifier, not a quantity: the report prints it as typed
  assert.equal(makemore("report", dir).code, 0);
  const html = readFileSync(join(dir, "report.html"), "utf8");
  assert.match(html, /2147483647/);
  assert.doesNotMatch(html, /2,147,483,647/);
  const folded = join(tmp, "folded");
  assert.equal(makemore("fold", dir, "-o", folded).code, 0);
  assert.ok(!existsSync(join(folded, "plots")), "fold leaves no empty plots/");
});
