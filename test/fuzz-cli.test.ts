/**
 * A seeded fuzz pass over the command line (issue 15, deliverable 7): every subcommand that ends
 * by itself (train, sample, eval, fold, info, doctor, report) with random flag values, on run
 * directories whose files are mutated at random. Commands run in this process, dispatched as
 * src/cli/main.ts does (a UserError is the one-line error; anything else is an internal error), so
 * a few hundred cases take seconds. Every case must end with an exit code or a one-line UserError;
 * a failure names its case number and argv, and the seed reproduces it exactly. The serving and
 * long-running commands are fuzzed in test/fuzz-serve.test.ts.
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { doctorCommand } from "../src/cli/doctor.ts";
import { evalCommand } from "../src/cli/eval.ts";
import { foldCommand } from "../src/cli/fold.ts";
import { infoCommand } from "../src/cli/info.ts";
import { reportCommand } from "../src/cli/report.ts";
import { sampleCommand } from "../src/cli/sample.ts";
import { trainCommand } from "../src/cli/train.ts";
import { base, int, mutatedRun, pick, record, run, seed, tmp, wordFile } from "./support/fuzz.ts";

const SEED = 15;
const CASES = 300;
seed(SEED);

const values = [
  "0",
  "1",
  "2",
  "3",
  "-1",
  "-0",
  "1.5",
  "1e308",
  "-1e308",
  "1e-40",
  "NaN",
  "Infinity",
  "abc",
  "",
  "9007199254740993",
  "0x10",
  " 3",
  "3 ",
  "\u001b[2J",
  "😀",
  "../../etc",
  "/dev/null",
  "4097",
] as const;
type Spec = { cmd: (argv: string[]) => number | Promise<number>; flags: Record<string, readonly string[]> };
const num = values;
const COMMANDS: Record<string, Spec> = {
  train: {
    cmd: trainCommand,
    flags: {
      "--block-size": num,
      "--type": ["batchnorm", "custom", "original", "deep-tanh", "nope", ""],
      "--n-embd": num,
      "--n-hidden": ["1", "3", "0", "-1", "abc", "1e9"],
      "--depth": ["0", "1", "2", "101", "x"],
      "--batchnorm": ["none", "torch", "lecture", "x"],
      "--nonlinearity": ["tanh", "relu", "none", "x"],
      "--gain": num,
      "--last-layer-scale": num,
      "--seed": num,
      "--max-steps": ["0", "1", "2", "3", "-1", "x", "1e308"],
      "--batch-size": ["1", "4", "0", "-1", "100000", "x"],
      "--learning-rate": num,
      "--lr-decay-step": num,
      "--lr-decay-to": num,
      "--log-every": num,
      "--checkpoint-every": num,
      "--eval-every": ["0", "1", "-1", "x"],
      "--num-samples": ["0", "1", "2", "-1", "1e12", "x"],
      "--diagnostics-every": ["1", "0", "x"],
      "--port": num,
      "--host": ["", "127.0.0.1"],
      "--optimizer": ["sgd", "adamw", "x"],
      "--calibrate": [],
      "--diagnostics": [],
      "--zero-init": [],
      "--detect-anomaly": [],
      "--quiet": [],
      "--overwrite": [],
      "--bogus": ["1"],
    },
  },
  sample: {
    cmd: sampleCommand,
    flags: {
      "-n": ["1", "3", "0", "-1", "1e308", "x"],
      "--seed": num,
      "--temperature": num,
      "--max-length": num,
      "--json": [],
    },
  },
  eval: {
    cmd: evalCommand,
    flags: { "--split": ["train", "val,test", "x", "", "train,,val"], "--calibrate": [], "--json": [] },
  },
  fold: { cmd: foldCommand, flags: { "--overwrite": [], "--json": [] } },
  info: { cmd: infoCommand, flags: { "--json": [], "-i": ["/dev/null", "/nonexistent", ""] } },
  doctor: { cmd: doctorCommand, flags: { "--json": [], "--type": ["batchnorm", "x"], "--seed": num } },
  report: { cmd: reportCommand, flags: { "--step": num } },
};

test(`fuzz the CLI: ${CASES} seeded cases, every one an exit code or a one-line error`, async () => {
  const t = await run(trainCommand, [
    "-i",
    wordFile,
    "-o",
    base,
    "--max-steps",
    "20",
    "--batch-size",
    "8",
    "--num-samples",
    "2",
    "--quiet",
  ]);
  assert.equal(t.code, 0, `${t.error} ${t.internal}`);
  const internal: string[] = [];
  const counts: Record<string, number> = {};
  for (let k = 0; k < CASES; k++) {
    const name = pick(Object.keys(COMMANDS));
    const spec = COMMANDS[name]!;
    const argv: string[] = [];
    const dir = int(4) === 0 ? base : mutatedRun(k);
    if (name === "train") {
      if (int(3) === 0) argv.push("--resume", dir);
      else
        argv.push(
          "-i",
          int(5) === 0 ? pick(["/dev/null", join(tmp, "missing"), dir]) : wordFile,
          "-o",
          join(tmp, `out-${k}`),
        );
    } else if (name === "fold") argv.push(dir, "-o", join(tmp, `fold-${k}`));
    else if (name === "report")
      argv.push(dir, "-o", pick([join(tmp, `r-${k}.html`), "/dev/null", join(dir, "config.json")]));
    else if (name === "info" || name === "doctor") {
      if (int(2) === 0) argv.push(dir);
    } else argv.push(int(8) === 0 ? join(tmp, "missing") : dir);
    const flagNames = Object.keys(spec.flags);
    for (let f = int(4); f > 0; f--) {
      const flag = pick(flagNames);
      const vals = spec.flags[flag]!;
      argv.push(flag);
      if (vals.length) argv.push(pick(vals));
    }
    // training is bounded: a few steps (fuzzed values above can only shorten it further)
    if (name === "train" && !argv.includes("--resume")) argv.push("--max-steps", pick(["0", "1", "3"]));
    const r = await run(spec.cmd, argv);
    record(k, name, argv, r, counts, internal);
    rmSync(join(tmp, `case-${k}`), { recursive: true, force: true });
  }
  assert.deepEqual(internal, [], internal.join("\n\n"));
  // the pass exercised both sides: accepted inputs and refused ones
  const ok = Object.entries(counts).filter(([k]) => k.endsWith(":0")).length;
  assert.ok(ok >= 3, JSON.stringify(counts));
  assert.ok(Object.keys(counts).length >= 10, JSON.stringify(counts));
});
