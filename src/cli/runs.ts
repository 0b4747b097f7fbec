/**
 * What the commands that use a saved run (`sample`, `eval`, `fold`) share: the word sets of its
 * data and its lecture MLP. Not a command: command files import this, never each other.
 */

import { UserError } from "../errors.ts";
import { type LoadedRun, loadRunData } from "../io/run.ts";
import { MLP } from "../models/mlp.ts";

/** The word sets of the run's data, when its input file is still there. */
export function wordSets(run: LoadedRun) {
  const data = loadRunData(run.config);
  return {
    data,
    sets: { train: new Set(data.split.train), val: new Set(data.split.val), test: new Set(data.split.test) },
  };
}

/** The run's model when it is a lecture MLP (BatchNorm calibration and folding are about its layers). */
export function lectureMLP(run: LoadedRun, what: string): MLP {
  if (run.model instanceof MLP) return run.model;
  throw new UserError(
    `${what} applies to the lecture MLPs; ${run.paths.dir} holds a ${run.config.model.type} model`,
    2,
  );
}
