/**
 * Commands that use a finished (or checkpointed) run: `sample`, `eval`, `fold`, `info`.
 */

import { existsSync } from "node:fs";
import {
  buildDataset,
  buildSequenceDataset,
  chars,
  type Examples,
  exampleCount,
  longestWord,
} from "../data/dataset.ts";
import { UserError } from "../errors.ts";
import { printable } from "../io/describe.ts";
import { BUNDLED_NAMES, type LoadedRun, loadData, loadRun, loadRunData, saveCheckpoint } from "../io/run.ts";
import { createRunDir, writeJsonFile } from "../io/rundir.ts";
import { readWordFile } from "../io/wordfile.ts";
import { familyOf, modelTypes } from "../models/index.ts";
import { MLP } from "../models/mlp.ts";
import { Generator } from "../random/generator.ts";
import { calibrateBatchNorm, foldBatchNorm, provenance, sampleWords, splitLoss } from "../train/evaluate.ts";
import { lossText, seedPlus } from "../train/session.ts";
import { choice, num, onePositional, parse } from "./args.ts";

/** The word sets of the run's data, when its input file is still there. */
function wordSets(run: LoadedRun) {
  const data = loadRunData(run.config);
  return {
    data,
    sets: { train: new Set(data.split.train), val: new Set(data.split.val), test: new Set(data.split.test) },
  };
}

/** The run's model when it is a lecture MLP (BatchNorm calibration and folding are about its layers). */
function lectureMLP(run: LoadedRun, what: string): MLP {
  if (run.model instanceof MLP) return run.model;
  throw new UserError(
    `${what} applies to the lecture MLPs; ${run.paths.dir} holds a ${run.config.model.type} model`,
    2,
  );
}

export const SAMPLE_HELP = `usage: makemore sample RUN_DIR [options]

Sample words from a trained model (eval mode, PyTorch-exact multinomial), each marked as
in the training, validation or test set, or new.

  -n, --num-samples N   how many words (default 20)
      --seed N          sampling generator seed (default: the run's seed + 10, as the lecture)
      --temperature X   divide logits by X before the softmax (default 1)
      --max-length N    cut a word after N characters (default 256)
      --top-k K         sample among the K most likely characters only (makemore.py's --top-k;
                        default all, -1 = all)
      --json            print JSON for scripts
  -h, --help            this help`;

export function sampleCommand(argv: string[]): number {
  const { values: v, positionals } = parse(
    "sample",
    argv,
    {
      "num-samples": { type: "string", short: "n" },
      seed: { type: "string" },
      temperature: { type: "string" },
      "max-length": { type: "string" },
      "top-k": { type: "string" },
      json: { type: "boolean" },
    },
    true,
  );
  if (v.help) {
    console.log(SAMPLE_HELP);
    return 0;
  }
  // flags first: `sample -n -1 RUN` names the flag even when RUN is wrong too
  const count = num(v["num-samples"], "--num-samples", 20, { integer: true, min: 1, max: 1_000_000 });
  const run = loadRun(onePositional("sample", positionals, "run directory"));
  // the default is the run's seed + 10 (exact, also for a run seed near 2^53)
  const seed =
    v.seed === undefined
      ? seedPlus(run.config.seed, 10)
      : num(v.seed, "--seed", 0, { integer: true, min: 0, max: Number.MAX_SAFE_INTEGER });
  const temperature = num(v.temperature, "--temperature", 1, { min: 0, exclusiveMin: true, max: 1000 });
  const maxLength = num(v["max-length"], "--max-length", 256, { integer: true, min: 1, max: 100000 });
  const topKFlag = num(v["top-k"], "--top-k", -1, { integer: true, min: -1, max: 1_000_000 });
  if (topKFlag === 0)
    throw new UserError("--top-k must be a positive number of characters (or -1 for all)", 2);
  const topK = topKFlag > 0 ? topKFlag : undefined;
  let words: string[];
  try {
    words = sampleWords(run.model, run.vocab, {
      count,
      generator: new Generator().manualSeed(typeof seed === "string" ? BigInt(seed) : seed),
      temperature,
      maxLength,
      topK,
    });
  } catch (e) {
    // softmax(logits / temperature) overflowed: PyTorch's multinomial refuses it the same way
    if (!(e instanceof RangeError && /multinomial/.test(e.message))) throw e;
    throw new UserError(
      `cannot sample at --temperature ${temperature}: the logits divided by it are not finite numbers${temperature < 1 ? "; use a larger --temperature" : ""}`,
    );
  }
  let sets: ReturnType<typeof wordSets>["sets"] | null = null;
  if (existsSync(run.config.data.inputFile)) sets = wordSets(run).sets;
  const rows = words.map((w) => ({ word: w, source: sets ? provenance(w, sets) : "unknown" }));
  if (v.json) {
    console.log(JSON.stringify({ run: run.paths.dir, seed, temperature, samples: rows }, null, 2));
  } else {
    for (const r of rows)
      console.log(`${printable(r.word).padEnd(24)} ${r.source === "new" ? "new" : `in ${r.source}`}`);
    const fresh = rows.filter((r) => r.source === "new").length;
    console.log(
      `${fresh}/${rows.length} new (seed ${seed}${temperature !== 1 ? `, temperature ${temperature}` : ""})`,
    );
  }
  return 0;
}

export const EVAL_HELP = `usage: makemore eval RUN_DIR [options]

Mean cross-entropy of a run's model on the train, val and test splits, in eval mode
(BatchNorm uses its running statistics).

      --split NAMES   comma-separated: train,val,test (default all three)
  -i, --input-file FILE
                      score every word of another word file instead (the run's vocabulary)
      --calibrate     first set BatchNorm statistics from the whole training set (not saved)
      --json          print JSON for scripts
  -h, --help          this help`;

export function evalCommand(argv: string[]): number {
  const { values: v, positionals } = parse(
    "eval",
    argv,
    {
      split: { type: "string" },
      "input-file": { type: "string", short: "i" },
      calibrate: { type: "boolean" },
      json: { type: "boolean" },
    },
    true,
  );
  if (v.help) {
    console.log(EVAL_HELP);
    return 0;
  }
  const run = loadRun(onePositional("eval", positionals, "run directory"));
  const other = typeof v["input-file"] === "string" ? v["input-file"] : null;
  if (other && v.split !== undefined)
    throw new UserError("eval: --split and --input-file exclude each other", 2);
  const { data } = wordSets(run);
  const names = (typeof v.split === "string" ? v.split : "train,val,test").split(",").map((s) => s.trim());
  for (const n of names) choice(n, "--split", ["train", "val", "test"] as const, "train");
  if (v.calibrate) calibrateBatchNorm(lectureMLP(run, "--calibrate"), data.train);
  // a split without words (tiny data, or --split makemore, which has no val set) prints "empty"
  // (null in JSON), never NaN
  const losses: Record<string, number | null> = {};
  if (other) losses[other] = splitLoss(run.model, otherWords(run, other));
  else
    for (const n of names) {
      const split = data[n as "train" | "val" | "test"];
      losses[n] = exampleCount(split) > 0 ? splitLoss(run.model, split) : null;
    }
  // a NaN or infinite loss of a split with words is a broken model, not a measurement
  for (const [n, l] of Object.entries(losses)) {
    if (l !== null && !Number.isFinite(l))
      throw new UserError(
        `the ${n} loss of run ${printable(run.paths.dir)} is ${l}: the model's outputs are not finite numbers`,
      );
  }
  if (v.json)
    console.log(
      JSON.stringify(
        { run: run.paths.dir, step: run.state.step, calibrated: v.calibrate === true, losses },
        null,
        2,
      ),
    );
  else {
    for (const [n, l] of Object.entries(losses)) console.log(`${n.padEnd(5)} ${lossText(l)}`);
  }
  return 0;
}

/** Every word of another file as the run's model reads it (windows or sequences), in its vocabulary. */
function otherWords(run: LoadedRun, path: string): Examples {
  const { words } = readWordFile(path);
  for (const [i, w] of words.entries()) {
    for (const c of chars(w)) {
      if (!run.vocab.stoi.has(c) || c === run.vocab.boundary)
        throw new UserError(
          `${path}: line ${i + 1} has ${JSON.stringify(c)}, which the run's vocabulary lacks`,
        );
    }
  }
  const T = run.config.model.blockSize;
  if (familyOf(run.config.model.type).data === "window") return buildDataset(words, run.vocab, T);
  const long = words.findIndex((w) => chars(w).length + 1 > T);
  if (long >= 0)
    throw new UserError(`${path}: line ${long + 1} is longer than the model's ${T - 1} characters`);
  return buildSequenceDataset(words, run.vocab, T);
}

export const FOLD_HELP = `usage: makemore fold RUN_DIR -o OUT_DIR [options]

Write an inference model with every BatchNorm folded into the Linear layer before it
(W' = W * gamma / sigma, b' = (b - mean) * gamma / sigma + beta). The folded model has no
BatchNorm layers and gives the same outputs in eval mode.

  -o, --work-dir DIR  where to write the folded run (required)
      --overwrite     replace the run files in an existing OUT_DIR
      --json          print JSON for scripts
  -h, --help          this help`;

export function foldCommand(argv: string[]): number {
  const { values: v, positionals } = parse(
    "fold",
    argv,
    { "work-dir": { type: "string", short: "o" }, overwrite: { type: "boolean" }, json: { type: "boolean" } },
    true,
  );
  if (v.help) {
    console.log(FOLD_HELP);
    return 0;
  }
  const run = loadRun(onePositional("fold", positionals, "run directory"));
  if (typeof v["work-dir"] !== "string")
    throw new UserError("makemore fold needs -o/--work-dir for the folded model", 2);
  const folded = foldBatchNorm(lectureMLP(run, "makemore fold"));
  const { data } = wordSets(run);
  const before: Record<string, number> = {};
  const after: Record<string, number> = {};
  for (const n of ["train", "val", "test"] as const) {
    before[n] = splitLoss(run.model, data[n]);
    after[n] = splitLoss(folded, data[n]);
  }
  const paths = createRunDir(v["work-dir"], { overwrite: v.overwrite === true });
  writeJsonFile(paths.config, { ...run.config, model: folded.spec });
  saveCheckpoint(paths, folded, { ...run.state, finished: true, splitLosses: after });
  const maxDiff = Math.max(...Object.keys(after).map((k) => Math.abs(after[k] - before[k])));
  if (v.json) {
    console.log(
      JSON.stringify(
        { from: run.paths.dir, to: paths.dir, parameters: folded.numParameters(), before, after, maxDiff },
        null,
        2,
      ),
    );
  } else {
    console.log(
      `folded ${run.model.numParameters()} -> ${folded.numParameters()} parameters into ${paths.dir}`,
    );
    for (const n of Object.keys(after)) {
      console.log(
        `${n.padEnd(5)} ${before[n].toFixed(6)} -> ${after[n].toFixed(6)} (diff ${Math.abs(after[n] - before[n]).toExponential(1)})`,
      );
    }
  }
  return 0;
}

export const INFO_HELP = `usage: makemore info [RUN_DIR] [options]

Without RUN_DIR: the presets and the dataset facts of the input file.
With RUN_DIR: the run's configuration, model, progress and losses.

  -i, --input-file FILE  word list to describe (default: bundled names.txt)
      --json             print JSON for scripts
  -h, --help             this help`;

export function infoCommand(argv: string[]): number {
  const { values: v, positionals } = parse(
    "info",
    argv,
    { "input-file": { type: "string", short: "i" }, json: { type: "boolean" } },
    true,
  );
  if (v.help) {
    console.log(INFO_HELP);
    return 0;
  }
  if (positionals.length > 1) throw new UserError("makemore info takes at most one run directory", 2);
  if (positionals.length === 1 && v["input-file"] !== undefined) {
    throw new UserError(
      "makemore info: --input-file describes a word file; a run directory names its own",
      2,
    );
  }
  if (positionals.length === 1) {
    const run = loadRun(positionals[0]);
    const info = {
      run: run.paths.dir,
      model: run.config.model,
      parameters: run.model.numParameters(),
      seed: run.config.seed,
      train: run.config.train,
      step: run.state.step,
      finished: run.state.finished,
      splitLosses: run.state.splitLosses ?? null,
      data: { ...run.config.data, vocab: run.config.data.vocab.join("") },
    };
    if (v.json) console.log(JSON.stringify(info, null, 2));
    else {
      console.log(`run ${info.run}: ${info.model.type}, ${info.parameters} parameters, seed ${info.seed}`);
      console.log(`step ${info.step}/${info.train.maxSteps}${info.finished ? " (finished)" : ""}`);
      if (info.splitLosses)
        console.log(
          Object.entries(info.splitLosses)
            .map(([k, l]) => `${k} ${lossText(l)}`)
            .join(" | "),
        );
      console.log(
        `data ${printable(info.data.inputFile)} (${info.data.numWords} items, vocabulary '${printable(info.data.vocab)}')`,
      );
      console.log(run.model.describe());
    }
    return 0;
  }
  const file = typeof v["input-file"] === "string" ? v["input-file"] : BUNDLED_NAMES;
  const data = loadData(file, 3);
  const presets = modelTypes()
    .filter((p) => p !== "custom")
    .map((p) => ({ type: p }));
  const facts = {
    inputFile: file,
    items: data.words.length,
    vocabulary: data.vocab.itos.join(""),
    longest: longestWord(data.words),
    split: { train: exampleCount(data.train), val: exampleCount(data.val), test: exampleCount(data.test) },
    uniformLoss: Math.log(data.vocab.size),
  };
  if (v.json) console.log(JSON.stringify({ ...facts, presets: presets.map((p) => p.type) }, null, 2));
  else {
    console.log(
      `${printable(facts.inputFile)}: ${facts.items} items, vocabulary of ${data.vocab.size} ('${printable(facts.vocabulary)}'), longest ${facts.longest}`,
    );
    console.log(
      `split (block size 3): train ${facts.split.train} | val ${facts.split.val} | test ${facts.split.test} examples`,
    );
    console.log(`loss of a uniform prediction: -ln(1/${data.vocab.size}) = ${facts.uniformLoss.toFixed(4)}`);
    console.log(`presets: ${presets.map((p) => p.type).join(", ")}, custom`);
  }
  return 0;
}
