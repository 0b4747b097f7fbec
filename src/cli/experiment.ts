/**
 * `makemore experiment`: the lecture's experiments, each a set of training runs under one
 * directory plus a comparison report.
 *
 *   lecture-init  original -> fix-softmax -> fix-tanh -> kaiming -> batchnorm: the loss log
 *   gain-sweep    6-layer tanh net at gains 0.5, 1, 5/3, 3, with and without BatchNorm
 *   zero-init     all weights zero: only the last layer learns
 *   wavenet       part 5's performance log: the flat net -> 8 characters -> hierarchical ->
 *                 the BatchNorm fix -> scaled up
 */

import { existsSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "../errors.ts";
import { createRun, loadRun } from "../io/run.ts";
import { existingRunFiles, writeJsonFile } from "../io/rundir.ts";
import { FileRunStore } from "../io/runfiles.ts";
import { buildFromSpec } from "../models/index.ts";
import { Generator } from "../random/generator.ts";
import { TrainingSession } from "../train/session.ts";
import { writeComparisonReport } from "../viz/report.ts";
import { choice, num, parse } from "./args.ts";
import { configFromFlags } from "./flags.ts";

/** The lecture notebook's printed loss log (train, val), for reference next to ours. */
export const LECTURE_LOSS_LOG: Record<string, [number, number]> = {
  original: [2.1245, 2.1682],
  "fix-softmax": [2.07, 2.13],
  "fix-tanh": [2.0356, 2.1027],
  kaiming: [2.0377, 2.107],
  batchnorm: [2.0668, 2.1048],
};

/** Part 5's performance log (train, val), as the notebook writes it (3 decimals). */
export const WAVENET_LOSS_LOG: Record<string, [number, number]> = {
  "original (3 chars, 200 hidden)": [2.058, 2.105],
  "context 3 -> 8": [1.918, 2.027],
  "flat -> hierarchical": [1.941, 2.029],
  "fix bug in batchnorm": [1.912, 2.022],
  "scale up (24, 128)": [1.769, 1.993],
};

const EXPERIMENTS = ["lecture-init", "gain-sweep", "zero-init", "wavenet"] as const;
type Experiment = (typeof EXPERIMENTS)[number];

export const EXPERIMENT_HELP = `usage: makemore experiment NAME [options]

The lecture's experiments; each trains several runs into one directory and writes a
comparison report (overlaid loss curves, final split losses, histograms side by side).

  lecture-init   original -> fix-softmax -> fix-tanh -> kaiming -> batchnorm, printing the
                 lecture's loss log (final train and val loss per row); 200,000 steps each
                 by default, as the lecture (about 20 minutes in all)
  gain-sweep     the 6-layer tanh net at gains 0.5, 1, 5/3 and 3, without and with BatchNorm,
                 1,000 steps each (the lecture's diagnostic runs): forward and backward
                 histograms side by side
  zero-init      the 6-layer tanh net with every weight zero, 1,000 steps: only the last
                 layer learns
  wavenet        part 5's performance log, 200,000 steps each: the flat net on 3 characters
                 (12K parameters), on 8 (22K), hierarchical with the lecture's BatchNorm bug,
                 with the fix, and scaled up to n_embd 24, n_hidden 128 (76,579 parameters)

  -o, --work-dir DIR   where the runs go (default runs/experiment-NAME-<date>)
      --max-steps N    steps per run (default: 200000 for lecture-init and wavenet, 1000 otherwise)
  -i, --input-file F   word list (default: bundled names.txt)
      --overwrite      replace runs in an existing work dir
  -h, --help           this help`;

interface Row {
  label: string;
  dir: string;
  /** train flags, as parsed values */
  flags: Record<string, string | boolean>;
}

function plan(name: Experiment, root: string): Row[] {
  switch (name) {
    case "lecture-init":
      return ["original", "fix-softmax", "fix-tanh", "kaiming", "batchnorm"].map((t) => ({
        label: t,
        dir: join(root, t),
        flags: { type: t },
      }));
    case "gain-sweep": {
      const rows: Row[] = [];
      for (const bn of [false, true]) {
        for (const [gain, text] of [
          [0.5, "0.5"],
          [1, "1"],
          [5 / 3, "5/3"],
          [3, "3"],
        ] as const) {
          const label = `${bn ? "bn" : "tanh"} gain ${text}`;
          rows.push({
            label,
            dir: join(root, `${bn ? "bn" : "tanh"}-gain-${text.replace("/", "over")}`),
            flags: {
              type: "custom",
              gain: String(gain),
              diagnostics: true,
              ...(bn ? { batchnorm: "lecture" } : {}),
            },
          });
        }
      }
      return rows;
    }
    case "wavenet": {
      // the notebook's path, each from torch.manual_seed(42) (the family's default seed)
      const w = (label: string, dir: string, f: Record<string, string | boolean>): Row => ({
        label,
        dir: join(root, dir),
        flags: { type: "wavenet", ...f },
      });
      const flat = { "n-embd": "10", "n-hidden": "200" };
      return [
        w("original (3 chars, 200 hidden)", "flat-3", { ...flat, "block-size": "3", "group-size": "3" }),
        w("context 3 -> 8", "flat-8", { ...flat, "block-size": "8", "group-size": "8" }),
        w("flat -> hierarchical", "hierarchical-bug", {
          "n-embd": "10",
          "n-hidden": "68",
          "bn-per-position": true,
        }),
        w("fix bug in batchnorm", "hierarchical", { "n-embd": "10", "n-hidden": "68" }),
        w("scale up (24, 128)", "wavenet", {}),
      ];
    }
    case "zero-init":
      return [
        {
          label: "zero init",
          dir: join(root, "zero"),
          flags: { type: "custom", "zero-init": true, diagnostics: true },
        },
        {
          label: "kaiming (gain 5/3)",
          dir: join(root, "kaiming"),
          flags: { type: "deep-tanh", diagnostics: true },
        },
      ];
  }
}

export async function experimentCommand(argv: string[]): Promise<number> {
  const { values: v, positionals } = parse(
    "experiment",
    argv,
    {
      "work-dir": { type: "string", short: "o" },
      "max-steps": { type: "string" },
      "input-file": { type: "string", short: "i" },
      overwrite: { type: "boolean" },
    },
    true,
  );
  if (v.help) {
    console.log(EXPERIMENT_HELP);
    return 0;
  }
  if (positionals.length !== 1) {
    throw new UserError(`makemore experiment needs a name: ${EXPERIMENTS.join(", ")} (see --help)`, 2);
  }
  const name = choice(positionals[0], "experiment", EXPERIMENTS, "lecture-init");
  const long = name === "lecture-init" || name === "wavenet";
  const steps = num(v["max-steps"], "--max-steps", long ? 200_000 : 1000, {
    integer: true,
    min: 1,
    max: 1e9,
  });
  const stamp = new Date().toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
  const root = typeof v["work-dir"] === "string" ? v["work-dir"] : `runs/experiment-${name}-${stamp}`;
  const rows = plan(name, root);
  // never write into an existing run or experiment without --overwrite
  const taken = [...existingRunFiles(root), ...["experiment.json"].filter((f) => existsSync(join(root, f)))];
  if (taken.length && !v.overwrite) {
    throw new UserError(
      `${root} already holds a run or an experiment (${taken.join(", ")}); choose another directory or pass --overwrite`,
    );
  }
  const common: Record<string, string | boolean> = {
    "max-steps": String(steps),
    "num-samples": "10",
    "log-every": String(Math.max(1, steps)),
  };
  if (typeof v["input-file"] === "string") common["input-file"] = v["input-file"];
  console.log(`experiment ${name}: ${rows.length} runs of ${steps} steps into ${root}`);
  const results: { label: string; dir: string; train: number; val: number; params: number }[] = [];
  for (const row of rows) {
    const t0 = performance.now();
    console.log(`-- ${row.label}`);
    const opened = createRun(configFromFlags({ ...row.flags, ...common }), row.dir, {
      overwrite: v.overwrite === true,
    });
    const session = new TrainingSession({
      config: opened.config,
      data: opened.data,
      store: new FileRunStore(opened.paths),
      yieldToHost: () => new Promise((resolve) => setImmediate(resolve)),
    });
    const stop = () => session.stop();
    process.once("SIGINT", stop);
    const outcome = await session.run().finally(() => opened.lock.release());
    process.off("SIGINT", stop);
    if (outcome.kind === "failed") throw new UserError(`${row.label}: ${outcome.message}`);
    if (outcome.kind === "stopped") {
      console.error(`interrupted in ${row.label} at step ${outcome.step}`);
      return 130;
    }
    const { train, val, test } = outcome.splitLosses;
    console.log(`   train ${train.toFixed(4)} | val ${val.toFixed(4)} | test ${test.toFixed(4)}`);
    results.push({ label: row.label, dir: row.dir, train, val, params: session.model.numParameters() });
    console.log(`   ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  }

  console.log(`\n${name}: final split losses (eval mode)`);
  for (const r of results) {
    const ref =
      name === "lecture-init"
        ? LECTURE_LOSS_LOG[r.label]
        : name === "wavenet"
          ? WAVENET_LOSS_LOG[r.label]
          : undefined;
    const d = name === "wavenet" ? 3 : 4; // the notebook's performance log has 3 decimals
    const lecture = ref ? `   (lecture: train ${ref[0].toFixed(d)} | val ${ref[1].toFixed(d)})` : "";
    console.log(
      `${r.label.padEnd(name === "wavenet" ? 31 : 18)} train ${r.train.toFixed(4)} | val ${r.val.toFixed(4)}${lecture}`,
    );
  }
  if (name === "zero-init") {
    // which parameters moved at all from their initial values?
    const zero = loadRun(rows[0].dir);
    // rebuild the initial weights from the seed and compare: what never moved never got a gradient
    const init = new Map(
      buildFromSpec(zero.config.model, new Generator().manualSeed(zero.config.seed)).namedParameters(),
    );
    const rowsOut = zero.model.namedParameters().map(([n, p]) => {
      const p0 = init.get(n)!.storage;
      let change = 0;
      p.storage.forEach((x, i) => {
        change = Math.max(change, Math.abs(x - p0[i]));
      });
      return `${n.padEnd(18)} ${change === 0 ? "never changed" : `learned (max change ${change.toExponential(2)})`}`;
    });
    for (const m of rowsOut) console.log(`  ${m}`);
  }
  writeJsonFile(join(root, "experiment.json"), { name, steps, runs: results });
  const { report } = await writeComparisonReport(
    rows.map((r) => r.dir),
    join(root, "report.html"),
    { labels: rows.map((r) => r.label), title: `experiment ${name}` },
  );
  console.log(`\nwrote ${report}`);
  return 0;
}
