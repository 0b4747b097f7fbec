/** `makemore eval RUN`: a run's split losses in eval mode, or its loss on another word file. */

import { buildDataset, buildSequenceDataset, chars, type Examples, exampleCount } from "../data/dataset.ts";
import { UserError } from "../errors.ts";
import { printable } from "../io/describe.ts";
import { type LoadedRun, loadRun } from "../io/run.ts";
import { readWordFile } from "../io/wordfile.ts";
import { familyOf } from "../models/index.ts";
import { calibrateBatchNorm, splitLoss } from "../train/evaluate.ts";
import { lossText } from "../train/session.ts";
import { choice, onePositional, parse } from "./args.ts";
import { lectureMLP, wordSets } from "./runs.ts";

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
