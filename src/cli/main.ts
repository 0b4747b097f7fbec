#!/usr/bin/env node
/**
 * `makemore`: train, evaluate, sample and inspect character-level language models.
 * One file per command; this one dispatches and turns user errors into one line.
 */

import { runBench } from "../bench/bench.ts";
import { UserError } from "../errors.ts";
import { invocation, suggest, workDirAsRunDir } from "./args.ts";
import { dashboardCommand } from "./dashboard.ts";
import { doctorCommand } from "./doctor.ts";
import { evalCommand } from "./eval.ts";
import { experimentCommand } from "./experiment.ts";
import { exportCommand } from "./export.ts";
import { foldCommand } from "./fold.ts";
import { infoCommand } from "./info.ts";
import { playgroundCommand } from "./playground.ts";
import { reportCommand } from "./report.ts";
import { sampleCommand } from "./sample.ts";
import { trainCommand } from "./train.ts";

const HELP = `usage: makemore <command> [options]

Train character-level language models (Karpathy's makemore, part 3) and look inside them.

commands
  train    train a model (default: the lecture's BatchNorm MLP on the bundled names.txt)
  sample   sample words from a trained run
  eval     split losses of a trained run
  fold     fold BatchNorm into the preceding Linear for inference
  export   write a run's weights as a PyTorch state_dict (--format torch)
  info     describe a run, or the dataset and presets
  doctor   check a network's health (at init, or a run) and suggest fixes
  report   plots and a self-contained HTML report of a run
  experiment  the lecture's experiments: lecture-init, gain-sweep, zero-init
  dashboard   open runs in the browser (live while training with train --dashboard)
  bench       training, evaluation and sampling speed, side by side with PyTorch when present
  playground  train, watch and sample in the browser (a static page served on this machine)

Run 'makemore <command> --help' for a command's options.`;

type Command = (argv: string[]) => number | Promise<number>;
const COMMANDS: Record<string, Command> = {
  train: trainCommand,
  sample: sampleCommand,
  eval: evalCommand,
  fold: foldCommand,
  export: exportCommand,
  info: infoCommand,
  doctor: doctorCommand,
  report: reportCommand,
  experiment: experimentCommand,
  dashboard: dashboardCommand,
  bench: runBench,
  playground: playgroundCommand,
};

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === "--help" || cmd === "-h" || cmd === "help") {
    console.log(HELP);
    return cmd === undefined ? 2 : 0;
  }
  if (cmd === "--version" || cmd === "-V") {
    console.log("makemore-ts 0.1.0");
    return 0;
  }
  // makemore.py has no subcommands: `makemore -i names.txt -o out` is what its users type, so
  // flags without a command mean `train` (said on stderr, so piped output stays the same)
  if (cmd.startsWith("-")) {
    console.error(`makemore: no command given; running '${invocation()} train ${argv.join(" ")}'`);
    return main(["train", ...argv]);
  }
  const run = COMMANDS[cmd];
  if (!run) {
    const guess = suggest(cmd, Object.keys(COMMANDS));
    console.error(
      `makemore: error: unknown command '${cmd}'${guess ? `; did you mean '${guess}'?` : ""} (commands: ${Object.keys(COMMANDS).join(", ")})`,
    );
    return 2;
  }
  try {
    // makemore.py's -o/--work-dir names the run for every command that reads one
    return await run(workDirAsRunDir(cmd, rest));
  } catch (e) {
    if (e instanceof UserError) {
      console.error(`makemore: error: ${e.message}`);
      return e.exitCode;
    }
    throw e;
  }
}

// `makemore info RUN | head -2`: a closed pipe ends the output quietly, as other tools do
process.stdout.on("error", (e: NodeJS.ErrnoException) => {
  if (e.code === "EPIPE") process.exit(0);
  throw e;
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    console.error(`makemore: internal error (please report it): ${(e as Error)?.stack ?? e}`);
    // a failure stops everything: no worker, server or timer may keep the process alive
    process.exit(70);
  },
);
