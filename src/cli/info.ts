/** `makemore info [RUN]`: a run's configuration and progress, or a word file's facts and the presets. */

import { exampleCount, longestWord } from "../data/dataset.ts";
import { UserError } from "../errors.ts";
import { printable } from "../io/describe.ts";
import { BUNDLED_NAMES, loadData, loadRun } from "../io/run.ts";
import { modelTypes } from "../models/index.ts";
import { lossText } from "../train/session.ts";
import { parse } from "./args.ts";

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
