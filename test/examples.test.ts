/**
 * examples/: one script per lecture, run briefly (MAKEMORE_EXAMPLE_STEPS) and checked against
 * PyTorch running the notebooks' code (the fixtures) and the notebooks' printed output.
 * Part 4's script is checked in test/backprop.test.ts.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
const fixture = (name: string) =>
  JSON.parse(readFileSync(new URL(`../fixtures/${name}`, import.meta.url), "utf8"));

async function example(name: string, steps: number): Promise<string[]> {
  const path = fileURLToPath(new URL(`../examples/${name}`, import.meta.url));
  const { stdout } = await run(process.execPath, ["--import", "tsx", path], {
    env: { ...process.env, MAKEMORE_EXAMPLE_STEPS: String(steps) },
    maxBuffer: 1 << 24,
  });
  return stdout.trim().split("\n");
}

/** The losses of lines like "      3/     10: 3.2064". */
function printedLosses(lines: string[]): number[] {
  return lines.filter((l) => /^\s*\d+\/\s*\d+: /.test(l)).map((l) => Number(l.split(": ")[1]));
}

function closeTo(ours: number[], theirs: number[], tol: number, what: string): void {
  assert.ok(ours.length > 0, what);
  ours.forEach((v, i) =>
    assert.ok(Math.abs(v - theirs[i]) <= tol, `${what} step ${i}: ${v} vs ${theirs[i]}`),
  );
}

test("part 1: counts, the notebook's samples and log-likelihood, the neural bigram's first steps", async () => {
  const ref = fixture("torch-bigrams.json");
  const lines = await example("part1_bigrams.ts", 2);
  assert.equal(lines[1], "32033");
  assert.equal(lines[2], "2 15"); // shortest and longest name
  assert.match(lines[3], /^n\. 6763, a\. 6640, an 5438, \.a 4410, e\. 3983/); // sorted(b.items())
  assert.equal(lines[4], "m"); // the notebook's itos[ix]
  assert.equal(lines[5], "tensor([0.6064, 0.3033, 0.0903])"); // the notebook's p
  assert.equal(lines[6], ref.counts.multinomial100.join(" "));
  assert.deepEqual(lines.slice(7, 12), ["mor.", "axx.", "minaymoryles.", "kondlaisah.", "anchshizarie."]);
  assert.equal(lines[12], `log_likelihood=${ref.counts.log_likelihood}`);
  assert.equal(lines[14], String(ref.counts.nll_per_bigram));
  assert.equal(lines[20], "average negative log likelihood, i.e. loss = 3.7693049907684326"); // the notebook's
  assert.equal(lines[21], "number of examples:  228146");
  const losses = lines.slice(22, 24).map(Number);
  losses.forEach((l, k) => {
    assert.ok(
      Math.abs(l - ref.neural.losses[k]) / ref.neural.losses[k] < 1e-5,
      `${l} vs ${ref.neural.losses[k]}`,
    );
  });
  assert.equal(lines.length, 29);
});

test("part 2: the first MLP, 11,897 parameters, PyTorch's first losses", async () => {
  const ref = fixture("torch-original-first1001.json");
  const lines = await example("part2_mlp.ts", 5);
  assert.equal(lines[1], "11897");
  closeTo(printedLosses(lines), ref.loss_per_step, 1e-4, "part 2");
  assert.match(lines[7], /^train \d/);
  assert.equal(lines.length, 9 + 20);
});

test("part 3: the BatchNorm MLP, 12,097 parameters, PyTorch's first losses", async () => {
  const ref = fixture("torch-bn-mlp-1000.json");
  const lines = await example("part3_batchnorm.ts", 5);
  assert.equal(lines[0], "12097");
  closeTo(printedLosses(lines), ref.loss_per_step, 1e-4, "part 3");
  assert.equal(lines.length, 1 + 5 + 2 + 20);
});

test("part 5: the WaveNet, 76,579 parameters, PyTorch's first losses", async () => {
  const ref = fixture("torch-wavenet.json");
  const lines = await example("part5_wavenet.ts", 5);
  assert.equal(lines[1], "76579");
  const losses = printedLosses(lines);
  assert.equal(losses[0], 3.3167); // the notebook's step-0 line
  closeTo(losses, ref.prefix.losses, 1e-4, "part 5");
  assert.match(lines[7], /^val \d/);
  assert.equal(lines.length, 2 + 5 + 1 + 20);
});
