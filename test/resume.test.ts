/**
 * Nothing lost: a run killed with SIGKILL at a random moment (possibly mid-checkpoint) and resumed
 * ends bit-identical to an uninterrupted run with the same seed: weights, BatchNorm buffers, the
 * per-step loss log, split losses and samples. Ctrl-C (SIGINT) checkpoints and resumes the same way.
 * A NaN stops training, names the step and layer, and keeps the last good checkpoint.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { decodeSafetensors } from "../src/io/safetensors.ts";
import { Generator } from "../src/random/generator.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const CLI = join(ROOT, "src/cli/main.ts");
const tmp = mkdtempSync(join(tmpdir(), "makemore-resume-"));
const FLAGS = [
  "--max-steps",
  "8000",
  "--checkpoint-every",
  "100",
  "--log-every",
  "500",
  "--num-samples",
  "5",
  "--diagnostics",
];

function run(args: string[]) {
  const r = spawnSync(process.execPath, ["--import", "tsx", CLI, ...args], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 180_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function start(args: string[]): ChildProcess {
  return spawn(process.execPath, ["--import", "tsx", CLI, ...args], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(cond: () => boolean, ms: number): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error("timed out waiting");
    await sleep(20);
  }
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((r) => child.on("exit", (code, signal) => r(code ?? (signal ? -1 : null))));
}

/** Everything a finished run produced that must not depend on interruptions. */
function outcome(dir: string) {
  const ckpt = decodeSafetensors(readFileSync(join(dir, "checkpoint.safetensors")));
  const tensors = Object.fromEntries(
    Object.entries(ckpt.tensors).map(([k, t]) => [k, Buffer.from(t.data.buffer).toString("base64")]),
  );
  const metrics = readFileSync(join(dir, "metrics.jsonl"), "utf8").trim().split("\n");
  const state = JSON.parse(readFileSync(join(dir, "state.json"), "utf8"));
  const snaps = readFileSync(join(dir, "diagnostics.jsonl"), "utf8").trim().split("\n");
  return {
    tensors,
    metrics,
    snapshotSteps: snaps.map((l) => JSON.parse(l).step),
    splitLosses: state.splitLosses,
    step: state.step,
    samples: readFileSync(join(dir, "samples.txt"), "utf8"),
  };
}

const reference = join(tmp, "reference");

test("an uninterrupted reference run", () => {
  const r = run(["train", "-o", reference, ...FLAGS]);
  assert.equal(r.code, 0, r.stderr);
  const o = outcome(reference);
  assert.equal(o.step, 8000);
  assert.equal(o.metrics.length, 8000);
});

test("SIGKILL at a random moment, then --resume: bit-identical to the uninterrupted run", async () => {
  const ref = outcome(reference);
  // a seeded "random" moment after the first checkpoint exists (the run takes several seconds)
  const g = new Generator().manualSeed(20261123);
  let resumedTrials = 0;
  for (let trial = 0; trial < 2; trial++) {
    const dir = join(tmp, `killed-${trial}`);
    const child = start(["train", "-o", dir, ...FLAGS]);
    const done = exited(child);
    await waitFor(() => existsSync(join(dir, "checkpoint.safetensors")), 120_000);
    await sleep(Math.floor(g.uniformF32() * 1500));
    child.kill("SIGKILL");
    await done;
    // the last checkpoint is readable whatever the moment was
    const state = JSON.parse(
      decodeSafetensors(readFileSync(join(dir, "checkpoint.safetensors"))).metadata.makemore_state,
    );
    assert.ok(state.step % 100 === 0, `checkpoint at step ${state.step}`);
    if (state.finished) continue; // the kill came after the end: nothing to resume
    const r = run(["train", "--resume", dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`resuming at step ${state.step}`));
    assert.deepEqual(outcome(dir), ref);
    resumedTrials++;
  }
  assert.ok(resumedTrials > 0, "no trial was killed before the end: nothing was resumed");
});

test("Ctrl-C (SIGINT) saves a checkpoint, says how to resume, and resuming is exact", async () => {
  const ref = outcome(reference);
  const dir = join(tmp, "interrupted");
  const child = start(["train", "-o", dir, ...FLAGS]);
  let stderr = "";
  child.stderr?.on("data", (d) => {
    stderr += d;
  });
  const done = exited(child);
  await waitFor(() => existsSync(join(dir, "checkpoint.safetensors")), 120_000);
  await sleep(300);
  child.kill("SIGINT");
  assert.equal(await done, 130);
  // the hint is the command as it was invoked here, so pasting it runs: run exactly that
  const hint = /interrupted at step \d+; checkpoint saved\. Continue with: (.*)$/m.exec(stderr);
  assert.ok(hint, stderr);
  assert.equal(hint[1], `node --import tsx src/cli/main.ts train --resume ${dir}`);
  const [exe, ...hintArgs] = hint[1].split(" ");
  assert.equal(exe, "node");
  const resumed = spawnSync(process.execPath, hintArgs, { cwd: ROOT, encoding: "utf8", timeout: 180_000 });
  const r = { code: resumed.status ?? -1, stderr: resumed.stderr };
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(outcome(dir), ref);
});

test("resuming a finished run, or with changed flags, is refused clearly", () => {
  let r = run(["train", "--resume", reference]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /already finished \(8000 steps\)/);
  // a new learning rate without more steps: still finished, and config.json is left as it was
  const before = readFileSync(join(reference, "config.json"), "utf8");
  r = run(["train", "--resume", reference, "--learning-rate", "0.5"]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /already finished \(8000 steps\); continue it with --max-steps above 8000/);
  assert.equal(readFileSync(join(reference, "config.json"), "utf8"), before);
  // a flag that changes the model is refused, naming it
  r = run(["train", "--resume", reference, "--n-hidden", "50", "--max-steps", "9000"]);
  assert.equal(r.code, 2);
  assert.match(
    r.stderr,
    /--resume continues the run's model, data and optimizer: --n-hidden would change it/,
  );
});

test("a NaN stops training, names the step and the first layer, and keeps the last good checkpoint", () => {
  const dir = join(tmp, "nan");
  // a linear stack with gain 5 and learning rate 100 overflows within two steps
  const flags = ["--type", "custom", "--nonlinearity", "none", "--gain", "5", "--learning-rate", "100"];
  const r = run(["train", "-o", dir, ...flags, "--max-steps", "5000", "--checkpoint-every", "1"]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  // either the update overflowed the weights, or finite but huge weights overflowed the forward pass
  const m =
    r.stderr.match(
      /the weights became non-finite \((\S+)\) by step \d+; training stopped and the last good checkpoint \(step (\d+)\) was kept/,
    ) ??
    r.stderr.match(
      /the loss became NaN at step \d+; first non-finite values in the output of layer \d+ \((\w+)\).*the last good checkpoint \(step (\d+)\) was kept/,
    );
  assert.ok(m, r.stderr);
  const step = Number(m[2]);
  const ckpt = decodeSafetensors(readFileSync(join(dir, "checkpoint.safetensors")));
  const state = JSON.parse(ckpt.metadata.makemore_state);
  assert.equal(state.step, step, "the checkpoint is the last good step");
  for (const t of Object.values(ckpt.tensors))
    assert.ok(t.data.every(Number.isFinite), "the checkpoint holds no NaN");
  const lines = readFileSync(join(dir, "metrics.jsonl"), "utf8").trim().split("\n");
  for (const l of lines) JSON.parse(l); // valid JSON throughout (no bare NaN)
});

test("an unwritable work directory is reported before training starts", () => {
  const r = run(["train", "-o", join(ROOT, "package.json", "run"), "--max-steps", "10"]);
  assert.notEqual(r.code, 0);
  assert.equal(r.stderr.trim().split("\n").length, 1);
  assert.match(r.stderr, /cannot be created|not a directory|not writable/);
});

test("--detect-anomaly names the op where the first NaN or infinity appears", () => {
  const dir = join(tmp, "anomaly");
  const flags = ["--type", "custom", "--nonlinearity", "none", "--gain", "5", "--learning-rate", "100"];
  const r = run(["train", "-o", dir, ...flags, "--max-steps", "100", "--detect-anomaly"]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  assert.match(
    r.stderr,
    /anomaly at step \d+: (linear produced (NaN|-?inf) in its output from finite inputs[^;]*|the SGD update made \S+ non-finite); training stopped and the last good checkpoint \(step \d+\) was kept/,
  );
  // every run directory holds a checkpoint from step 0 on
  const state = JSON.parse(
    decodeSafetensors(readFileSync(join(dir, "checkpoint.safetensors"))).metadata.makemore_state,
  );
  assert.equal(state.step, 0);
});

test("anomaly mode in the library: the first op to produce a NaN from finite inputs is named", async () => {
  const { setDetectAnomaly, tensor, AnomalyError } = await import("../src/tensor/tensor.ts");
  const x = tensor([1, 0, 2]).requiresGrad_();
  setDetectAnomaly(true);
  try {
    // log(0) = -inf in the forward pass
    assert.throws(
      () => x.log(),
      (e: unknown) => e instanceof AnomalyError && e.op === "log" && /-inf/.test(e.message),
    );
    // sqrt is finite at 0 but its backward divides by zero
    const y = x.sqrt().sum();
    assert.throws(
      () => y.backward(),
      (e: unknown) => e instanceof AnomalyError && e.phase === "backward" && e.op === "sqrt",
    );
  } finally {
    setDetectAnomaly(false);
  }
  // off: no check, PyTorch semantics (the -inf flows on)
  assert.equal(x.log().storage[1], Number.NEGATIVE_INFINITY);
});
