/**
 * makemore.py's habits for its types (issue 12, point 4), as makemore.py's training loop has them
 * (/work/shared/references/makemore.py): the `step N | loss X | step time Yms` line every 10
 * steps, evaluate(train and test, batch_size=100, max_batches=10) every 500 steps keeping the
 * best weights by test loss, print_samples(num=10) every 200 steps, --max-steps -1 (until Ctrl-C),
 * --sample-only, and --resume that continues a finished run with new flags. The split and the
 * initial weights through the CLI are makemore.py's own (fixtures/torch-makemore-replay.json, from
 * scripts/torch/makemore_replay.py running makemore.py's code at seed 3407).
 */

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { parseLines, prepareDataFor } from "../src/data/dataset.ts";
import { loadRunData } from "../src/io/run.ts";
import { readSafetensorsFile } from "../src/io/safetensors.ts";
import { buildFromSpec, familyOf } from "../src/models/index.ts";
import type { Module } from "../src/nn/modules.ts";
import { Generator } from "../src/random/generator.ts";
import { splitLoss } from "../src/train/evaluate.ts";
import {
  CONFIG_VERSION,
  configForWords,
  MemoryRunStore,
  type RunConfig,
  type RunState,
  TrainingSession,
} from "../src/train/session.ts";
import { LECTURE_TRAIN, type TrainConfig } from "../src/train/train.ts";
import { assertOneLineError, fingerprint, makemore, ROOT } from "./support/cli-harness.ts";

const words = parseLines(readFileSync(new URL("../data/names.txt", import.meta.url), "utf8"));
const fx = JSON.parse(
  readFileSync(new URL("../fixtures/torch-makemore-replay.json", import.meta.url), "utf8"),
);
const tmp = mkdtempSync(join(tmpdir(), "makemore-habits-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

const sha256 = (x: Float32Array) =>
  createHash("sha256")
    .update(new Uint8Array(x.buffer, x.byteOffset, x.byteLength))
    .digest("hex");

/** A store that keeps every checkpoint by step (the memory store keeps the last). */
class KeepingStore extends MemoryRunStore {
  all = new Map<number, Map<string, Float32Array>>();
  override saveCheckpoint(model: Module, state: RunState): void {
    super.saveCheckpoint(model, state);
    this.all.set(state.step, this.checkpoint!.tensors);
  }
}

test("makemore.py's loop in a session: its step lines, evaluate() every N steps with the best weights kept, 10 samples every N steps", async () => {
  // 1,000 words: makemore.py's split holds out min(1000, 10%) = 100 test words, one batch of 100,
  // so its evaluate() on the test set is the mean over every test position: splitLoss's number
  const few = words.slice(0, 1000);
  const family = familyOf("rnn");
  const base: TrainConfig = { ...LECTURE_TRAIN, ...(family.trainDefaults as Partial<TrainConfig>) };
  const config = configForWords(
    {
      type: "rnn",
      modelFlags: { "n-embd": 8, "n-embd2": 12 },
      split: "makemore",
      config: {
        version: CONFIG_VERSION,
        train: { ...base, maxSteps: 401, batchSize: 16, learningRate: 1e-2 },
        seed: 3407,
        logEvery: 10,
        // the checkpoint after update 201 holds the weights evaluated at step 200 (0-based index)
        checkpointEvery: 201,
        evalEvery: 200,
        habits: "makemore",
        sampleEvery: 200,
        calibrate: false,
        numSamples: 0,
      },
      inputFile: "names.txt",
    },
    few,
  );
  const data = prepareDataFor("sequence", few, config.model.blockSize, 3407, "makemore");
  assert.deepEqual([data.split.train.length, data.split.test.length], [900, 100]);
  const store = new KeepingStore();
  const lines: string[] = [];
  const out = await new TrainingSession({
    config,
    data,
    store,
    events: { line: (t) => lines.push(t) },
  }).run();
  assert.equal(out.kind, "finished");

  // `step N | loss X | step time Yms` for N = 0, 10, ..., 400, with the step's minibatch loss
  const stepLines = lines.filter((l) => /^step \d+ \| loss/.test(l));
  assert.equal(stepLines.length, 41);
  stepLines.forEach((l, k) => {
    const m = /^step (\d+) \| loss (\d+\.\d{4}) \| step time \d+\.\d{2}ms$/.exec(l);
    assert.ok(m, l);
    assert.equal(Number(m[1]), 10 * k);
    assert.equal(m[2], (store.metrics.find((x) => x.step === 10 * k)!.loss as number).toFixed(4));
  });

  // evaluate() at steps 200 and 400; the best test loss's weights are kept (makemore.py's model.pt)
  const evals = store.metrics.filter((m) => m.test_loss !== undefined);
  assert.deepEqual(
    evals.map((m) => m.step),
    [200, 400],
  );
  for (const e of evals) {
    assert.ok(lines.includes(`step ${e.step} train loss: ${e.train_loss} test loss: ${e.test_loss}`));
    // the weights evaluated at step s are the checkpoint after s + 1 updates
    const model = buildFromSpec(config.model, new Generator(0));
    const t = store.all.get(e.step + 1)!;
    model.loadStateDict(
      Object.fromEntries([...t].map(([n, d]) => [n, { shape: model.stateDict()[n].shape, data: d }])),
    );
    assert.ok(Math.abs((e.test_loss as number) - splitLoss(model, data.test)) < 1e-5, `step ${e.step}`);
    // train: 9 batches of 100 words cover the 900 training words, the mean of the batch means
    assert.ok(Math.abs((e.train_loss as number) - splitLoss(model, data.train)) < 0.05, `step ${e.step}`);
  }
  const bestEval = evals.reduce((a, b) => ((b.test_loss as number) < (a.test_loss as number) ? b : a));
  assert.equal(store.best?.step, bestEval.step);
  assert.equal(store.best?.testLoss, bestEval.test_loss);
  for (const [name, d] of store.best!.tensors)
    assert.equal(sha256(d), sha256(store.all.get(bestEval.step + 1)!.get(name)!), name);
  assert.equal(
    lines.filter((l) => /is the best so far, saving model to/.test(l)).length,
    evals[1].test_loss! < evals[0].test_loss! ? 2 : 1,
  );
  assert.deepEqual(store.checkpoint?.state.best, { step: bestEval.step, testLoss: bestEval.test_loss });

  // print_samples(num=10) at steps 200 and 400: rule, in train, in test, new, rule (no val set)
  const rule = "-".repeat(80);
  const starts = lines.flatMap((l, i) =>
    l === rule && /samples that are in train/.test(lines[i + 1]) ? [i] : [],
  );
  assert.equal(starts.length, 2);
  const train = new Set(data.split.train);
  const testSet = new Set(data.split.test);
  for (const s of starts) {
    let i = s + 1;
    let total = 0;
    for (const [desc, holds] of [
      ["in train", (w: string) => train.has(w)],
      ["in test", (w: string) => !train.has(w) && testSet.has(w)],
      ["new", (w: string) => !train.has(w) && !testSet.has(w)],
    ] as const) {
      const m = new RegExp(`^(\\d+) samples that are ${desc}:$`).exec(lines[i]);
      assert.ok(m, lines[i]);
      const n = Number(m[1]);
      for (const w of lines.slice(i + 1, i + 1 + n)) assert.ok(holds(w), `${w} is not ${desc}`);
      total += n;
      i += n + 1;
    }
    assert.equal(total, 10);
    assert.equal(lines[i], rule);
  }
  assert.ok(!lines.some((l) => /in val/.test(l)));
});

test("the CLI's makemore.py defaults: makemore train --type transformer has makemore.py's split and initial weights", () => {
  const ref = fx.types.transformer;
  const dir = join(tmp, "gpt");
  const r = makemore(["train", "--type", "transformer", "--max-steps", "0", "-o", dir, "--num-samples", "0"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    /split \(makemore\.py's torch\.randperm under manual_seed\(3407\), test min\(1000, 10%\)\): train 31033 \| val 0 \| test 1000/,
  );
  assert.match(r.stdout, /model: transformer \| 204544 parameters \| seed 3407/);
  assert.doesNotMatch(r.stdout, /warning: the val split is empty/);
  const ckpt = readSafetensorsFile(join(dir, "checkpoint.safetensors"), { what: "checkpoint" });
  assert.deepEqual(Object.keys(ckpt.tensors).sort(), ref.state.map((s: { name: string }) => s.name).sort());
  for (const s of ref.state as { name: string; shape: number[]; sha256: string }[]) {
    assert.deepEqual(ckpt.tensors[s.name].shape, s.shape, s.name);
    assert.equal(sha256(ckpt.tensors[s.name].data), s.sha256, s.name);
  }
  const config = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as RunConfig;
  assert.equal(config.data.split, "makemore");
  assert.equal(config.train.maxSteps, 0);
  const data = loadRunData(config);
  assert.deepEqual(data.split.train.slice(0, 3), ref.train_words_first);
  assert.deepEqual(data.split.test.slice(0, 3), ref.test_words_first);
});

function start(args: string[]): ChildProcess {
  return spawn(process.execPath, ["--import", "tsx", join(ROOT, "src/cli/main.ts"), ...args], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
}

test("--max-steps -1 (makemore.py's default) trains until Ctrl-C; --resume continues with a new --max-steps and learning rate, saying so", async () => {
  const dir = join(tmp, "forever");
  const child = start(["train", "--type", "makemore-bigram", "-o", dir, "--num-samples", "2"]);
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d) => {
    stdout += d;
  });
  child.stderr?.on("data", (d) => {
    stderr += d;
  });
  const code = new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
  const t0 = Date.now();
  while (!/^step 50 \| loss/m.test(stdout)) {
    assert.ok(Date.now() - t0 < 120_000, `no step 50 line: ${stdout}\n${stderr}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.match(stdout, /train: until interrupted \(--max-steps -1; Ctrl-C saves a checkpoint\)/);
  child.kill("SIGINT");
  assert.equal(await code, 130, stderr);
  const m = /interrupted at step (\d+); checkpoint saved\. Continue with: .* train --resume (.*)$/m.exec(
    stderr,
  );
  assert.ok(m, stderr);
  assert.equal(m[2], dir);
  const stopped = Number(m[1]);
  assert.ok(stopped > 50);
  const state = JSON.parse(readFileSync(join(dir, "state.json"), "utf8"));
  assert.deepEqual([state.step, state.finished], [stopped, false]);
  assert.equal(JSON.parse(readFileSync(join(dir, "config.json"), "utf8")).train.maxSteps, -1);

  const end = stopped + 20;
  const r = makemore(["train", "--resume", dir, "--max-steps", String(end), "--learning-rate", "0.001"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^resume: changed --max-steps -1 -> ${end}$`, "m"));
  assert.match(r.stdout, /^resume: changed --learning-rate 0\.0005 -> 0\.001$/m);
  assert.match(r.stdout, /lr 0\.001 constant/);
  const after = JSON.parse(readFileSync(join(dir, "state.json"), "utf8"));
  assert.deepEqual([after.step, after.finished], [end, true]);
  const config = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as RunConfig;
  assert.deepEqual([config.train.maxSteps, config.train.learningRate], [end, 0.001]);
  const steps = readFileSync(join(dir, "metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l))
    .filter((l) => l.loss !== undefined)
    .map((l) => l.step);
  assert.deepEqual(
    steps,
    Array.from({ length: end }, (_, i) => i),
  );
  // the metrics after the resume ran at the new rate: the log says so for every step after it
  const lrs = readFileSync(join(dir, "metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l))
    .filter((l) => l.lr !== undefined);
  assert.ok(lrs.every((l) => l.lr === (l.step < stopped ? 5e-4 : 1e-3)));
});

test("a finished run continued with --resume --max-steps equals one run of that length, bit for bit; model flags are refused; --sample-only samples its best weights", () => {
  const model = ["--type", "rnn", "--n-embd", "8", "--n-embd2", "8", "--num-samples", "3"];
  const a = join(tmp, "a");
  const b = join(tmp, "b");
  // A evaluates every 20 steps (best.safetensors) and B never: evaluation must not move training
  let r = makemore(["train", ...model, "--max-steps", "40", "--eval-every", "20", "-o", a]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^step 20 train loss: \d\.\d+ test loss: \d\.\d+$/m);
  assert.ok(existsSync(join(a, "best.safetensors")));
  r = makemore(["train", "--resume", a, "--max-steps", "80"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /resume: the run finished at step 40; continuing to step 80/);
  r = makemore(["train", ...model, "--max-steps", "80", "-o", b]);
  assert.equal(r.code, 0, r.stderr);
  const ca = readSafetensorsFile(join(a, "checkpoint.safetensors"), { what: "a" }).tensors;
  const cb = readSafetensorsFile(join(b, "checkpoint.safetensors"), { what: "b" }).tensors;
  for (const name of Object.keys(cb)) assert.equal(sha256(ca[name].data), sha256(cb[name].data), name);
  const losses = (d: string) =>
    readFileSync(join(d, "metrics.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l))
      .filter((l) => l.loss !== undefined)
      .map((l) => [l.step, l.loss]);
  assert.deepEqual(losses(a), losses(b));

  // AdamW's moments are float32 tensors beside the checkpoint, named by it (not JSON in state.json)
  const state = JSON.parse(readFileSync(join(a, "state.json"), "utf8"));
  assert.equal(state.optimizer, undefined);
  assert.deepEqual(state.optimizerFile, {
    name: "optimizer-80.safetensors",
    kind: "adamw",
    step: 80,
    parameters: 6,
  });
  assert.deepEqual(
    readdirSync(a).filter((f) => f.startsWith("optimizer-")),
    ["optimizer-80.safetensors"],
  );
  const moments = readSafetensorsFile(join(a, "optimizer-80.safetensors"), { what: "moments" }).tensors;
  assert.equal(Object.keys(moments).length, 12);
  // one exp_avg and one exp_avg_sq per parameter, each the parameter's size
  const sizes = (xs: { data: Float32Array }[]) => xs.map((t) => t.data.length).sort((x, y) => x - y);
  for (const buf of ["exp_avg", "exp_avg_sq"])
    assert.deepEqual(
      sizes(
        Object.entries(moments)
          .filter(([k]) => k.endsWith(`.${buf}`))
          .map(([, t]) => t),
      ),
      sizes(Object.values(ca)),
    );

  // what would change the model, its data or its optimizer is refused, and nothing is touched
  const before = fingerprint(a);
  for (const flag of [
    ["--n-embd", "16"],
    ["--seed", "1"],
    ["--optimizer", "sgd"],
    ["--split", "lecture"],
  ]) {
    const bad = makemore(["train", "--resume", a, "--max-steps", "100", ...flag]);
    assertOneLineError(
      bad,
      new RegExp(`--resume continues the run's model, data and optimizer: ${flag[0]} would change it`),
      2,
    );
  }
  assert.equal(fingerprint(a), before);

  // makemore.py's --sample-only -o DIR: 50 words from best.safetensors, grouped; nothing written
  r = makemore(["train", "--sample-only", "-o", a]);
  assert.equal(r.code, 0, r.stderr);
  const best = JSON.parse(
    readSafetensorsFile(join(a, "best.safetensors"), { what: "best" }).metadata.makemore_best!,
  );
  assert.match(r.stdout, new RegExp(`its best weights \\(step ${best.step}, test loss ${best.testLoss}\\)`));
  const counts = [...r.stdout.matchAll(/^(\d+) samples that are (in train|in test|new):$/gm)].map((x) =>
    Number(x[1]),
  );
  assert.equal(counts.length, 3);
  assert.equal(
    counts.reduce((x, y) => x + y, 0),
    50,
  );
  assert.equal(fingerprint(a), before);
  assertOneLineError(
    makemore(["train", "--sample-only"]),
    /--sample-only needs the run: --resume DIR or -o\/--work-dir DIR/,
    2,
  );
  // a run whose optimizer file went missing is refused in one line, not restarted from zero moments
  const lost = join(tmp, "lost");
  cpSync(a, lost, { recursive: true });
  rmSync(join(lost, "optimizer-80.safetensors"));
  assertOneLineError(
    makemore(["train", "--resume", lost, "--max-steps", "90"]),
    /names optimizer state "optimizer-80\.safetensors" that is missing; the run cannot be resumed exactly/,
  );
  // --top-k 1 (makemore.py's flag): each step takes the most likely character, so 50 samples from
  // the same weights are one word 50 times
  r = makemore(["train", "--sample-only", "-o", a, "--top-k", "1"]);
  assert.equal(r.code, 0, r.stderr);
  const greedy = r.stdout
    .split("\n")
    .slice(1)
    .filter((l) => l && !/^-+$/.test(l) && !/samples that are/.test(l));
  assert.equal(greedy.length, 50);
  assert.equal(new Set(greedy).size, 1);
  // makemore.py's bare --resume with -o; --top-k is a sampling flag, so a resume takes it
  r = makemore(["train", "--resume", "-o", a, "--max-steps", "90", "--top-k", "3"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^resume: changed --top-k all -> 3$/m);
  assert.equal(JSON.parse(readFileSync(join(a, "state.json"), "utf8")).step, 90);
  assert.equal(JSON.parse(readFileSync(join(a, "config.json"), "utf8")).topK, 3);
});

test("-o/--work-dir names the run for every command that reads one, as in makemore.py", () => {
  const a = join(tmp, "a"); // the run the test above trained
  const positional = makemore(["sample", a, "-n", "4"]);
  assert.equal(positional.code, 0, positional.stderr);
  for (const form of [["-o", a], [`-o=${a}`], ["--work-dir", a], [`--work-dir=${a}`]]) {
    const r = makemore(["sample", ...form, "-n", "4"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, positional.stdout);
  }
  const ev = makemore(["eval", a, "--json"]);
  assert.equal(makemore(["eval", "-o", a, "--json"]).stdout, ev.stdout);
  assert.equal(makemore(["info", "--work-dir", a, "--json"]).stdout, makemore(["info", a, "--json"]).stdout);
  // report keeps -o for its output file: the run is --work-dir there
  const html = join(tmp, "a-report.html");
  const rep = makemore(["report", "--work-dir", a, "-o", html]);
  assert.equal(rep.code, 0, rep.stderr);
  assert.ok(existsSync(html));
  assertOneLineError(makemore(["sample", "-o", join(tmp, "nope")]), /does not exist/);
});
