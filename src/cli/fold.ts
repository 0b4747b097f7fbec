/** `makemore fold RUN -o OUT`: an inference run with every BatchNorm folded into its Linear. */

import { UserError } from "../errors.ts";
import { createLockedRunDir, loadRun, saveCheckpoint } from "../io/run.ts";
import { writeJsonFile } from "../io/rundir.ts";
import { foldBatchNorm, splitLoss } from "../train/evaluate.ts";
import { onePositional, parse } from "./args.ts";
import { lectureMLP, wordSets } from "./runs.ts";

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
  // the folded run's writer lock, as train takes it (another writer is refused, naming it)
  const { paths, lock } = createLockedRunDir(v["work-dir"], "fold", { overwrite: v.overwrite === true });
  try {
    writeJsonFile(paths.config, { ...run.config, model: folded.spec });
    saveCheckpoint(paths, folded, { ...run.state, finished: true, splitLosses: after });
  } finally {
    lock.release();
  }
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
