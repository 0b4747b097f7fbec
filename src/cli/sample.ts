/**
 * `makemore sample RUN`: words from a trained (or checkpointed) run, each marked as in the
 * training, validation or test set, or new.
 */

import { existsSync } from "node:fs";
import { UserError } from "../errors.ts";
import { printable } from "../io/describe.ts";
import { loadRun } from "../io/run.ts";
import { Generator } from "../random/generator.ts";
import { provenance, sampleWords } from "../train/evaluate.ts";
import { seedPlus } from "../train/session.ts";
import { num, onePositional, parse } from "./args.ts";
import { topKFlag } from "./flags.ts";
import { wordSets } from "./runs.ts";

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
  const topK = topKFlag(v["top-k"]);
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
