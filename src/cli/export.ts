/**
 * `makemore export RUN --format torch`: the run's weights as a PyTorch `state_dict` for an
 * idiomatic nn.Sequential, in torch.save's own format. The mapping and the writer are
 * src/io/torchsave.ts; this file parses the flags, writes and prints.
 */

import { dirname, join } from "node:path";
import { UserError } from "../errors.ts";
import { writeFileAtomic } from "../io/atomic.ts";
import { loadRun } from "../io/run.ts";
import { torchSave, torchStateDict } from "../io/torchsave.ts";
import { MLP } from "../models/mlp.ts";
import { choice, onePositional, parse } from "./args.ts";

export const EXPORT_HELP = `usage: makemore export RUN_DIR --format torch [options]

Write the run's weights as a PyTorch state_dict (torch.save format) for an idiomatic
nn.Sequential of nn.Embedding, nn.Flatten, nn.Linear, nn.BatchNorm1d, nn.Tanh / nn.ReLU.
Linear weights are transposed to nn.Linear's (out, in); the lecture's BatchNorm variants are
mapped so that eval mode gives the same logits (the notes say what differs in training mode).
Prints the Python that builds the model and loads the file.

      --format torch  the only format so far (required, so scripts say what they get)
  -o, --output FILE   where to write (default RUN_DIR/state_dict.pt)
  -h, --help          this help`;

export function exportCommand(argv: string[]): number {
  const { values: v, positionals } = parse(
    "export",
    argv,
    { format: { type: "string" }, output: { type: "string", short: "o" } },
    true,
  );
  if (v.help) {
    console.log(EXPORT_HELP);
    return 0;
  }
  if (v.format === undefined) throw new UserError("makemore export needs --format torch (see --help)", 2);
  choice(v.format, "--format", ["torch"] as const, "torch");
  const run = loadRun(onePositional("export", positionals, "run directory"));
  const out = typeof v.output === "string" ? v.output : join(run.paths.dir, "state_dict.pt");
  if (!(run.model instanceof MLP))
    throw new UserError(
      `makemore export --format torch covers the lecture MLPs; a ${run.config.model.type} checkpoint already uses makemore.py's state_dict names (load checkpoint.safetensors with safetensors.torch.load_file)`,
    );
  const { tensors, python, notes } = torchStateDict(run.model);
  try {
    writeFileAtomic(out, torchSave(tensors));
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`cannot write ${out} (is ${dirname(out)} a writable folder?)`);
  }
  const count = tensors.reduce((a, [, t]) => a + (t.dtype === "float32" ? t.data.length : 0), 0);
  console.log(`wrote ${out} (${tensors.length} tensors, ${count} numbers, step ${run.state.step})`);
  console.log(
    `\nimport torch\nfrom torch import nn\nmodel = ${python}\nmodel.load_state_dict(torch.load(${JSON.stringify(out)}))\nmodel.eval()  # BatchNorm uses the running statistics`,
  );
  for (const n of notes) console.log(`note: ${n}`);
  return 0;
}
