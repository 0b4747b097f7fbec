/**
 * `makemore train --resume` and `--sample-only`: makemore.py's ways of naming a run (`--resume -o
 * DIR`), the flags a resumed run takes (what changes how it continues or is watched, never the
 * model), and sampling a trained run. Shared by cli/train.ts; no command of its own.
 */

import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { exampleCount } from "../data/dataset.ts";
import { UserError } from "../errors.ts";
import { printable } from "../io/describe.ts";
import { loadRun, type OpenedRun, openResume } from "../io/run.ts";
import { writeJsonFile } from "../io/rundir.ts";
import { readSafetensorsFile } from "../io/safetensors.ts";
import { Generator } from "../random/generator.ts";
import { provenance, sampleWords } from "../train/evaluate.ts";
import type { LrSchedule } from "../train/optim.ts";
import { checkResumable, type RunConfig, sampleGroups, seedPlus } from "../train/session.ts";
import { validateTrainConfig } from "../train/train.ts";
import { choice, num } from "./args.ts";
import { topKFlag } from "./flags.ts";
import { wordSets } from "./runs.ts";

/**
 * makemore.py's `--resume` is a switch that continues the run in `-o/--work-dir`: a bare
 * `--resume` (last, or before another flag) becomes `--resume=` here, meaning "the work dir".
 */
export function bareResume(argv: string[]): string[] {
  return argv.map((a, i) =>
    a === "--resume" && (i + 1 === argv.length || argv[i + 1].startsWith("-")) ? "--resume=" : a,
  );
}

/** The run a `--resume` or `--sample-only` names: `--resume DIR`, or `-o/--work-dir DIR` (makemore.py's way). */
function namedRun(v: Record<string, string | boolean | undefined>, what: string): string {
  const resume = typeof v.resume === "string" && v.resume !== "" ? v.resume : undefined;
  const workDir = typeof v["work-dir"] === "string" ? v["work-dir"] : undefined;
  if (resume !== undefined && workDir !== undefined && resolve(resume) !== resolve(workDir))
    throw new UserError(`--resume ${resume} and -o/--work-dir ${workDir} name different runs; give one`, 2);
  const dir = resume ?? workDir;
  if (dir === undefined) throw new UserError(`${what} needs the run: --resume DIR or -o/--work-dir DIR`, 2);
  return dir;
}

/**
 * `train --resume DIR [flags]` opened: the model, data and optimizer come from the run directory;
 * flags that would change them are refused before anything is opened, the others (steps, learning
 * rate, logging, diagnostics, dashboard) are applied to its config, written, and said.
 */
export function openResumeWithFlags(
  v: Record<string, string | boolean | undefined>,
  quiet: boolean,
): OpenedRun {
  const dir = namedRun(v, "--resume");
  resumeOverrides(v, STUB_CONFIG);
  let run = openResume(dir);
  try {
    const { config, changes } = resumeOverrides(v, run.config);
    validateTrainConfig(config.train, exampleCount(run.data.train));
    if (run.resume) checkResumable(config, run.resume.state, dir);
    if (changes.length) {
      writeJsonFile(run.paths.config, config);
      run = { ...run, config };
    }
    const st = run.resume?.state;
    if (!quiet) {
      for (const c of changes) console.log(`resume: changed ${c}`);
      if (st?.finished && (config.train.maxSteps < 0 || config.train.maxSteps > st.step))
        console.log(
          `resume: the run finished at step ${st.step}; continuing to ${config.train.maxSteps < 0 ? "until interrupted" : `step ${config.train.maxSteps}`}`,
        );
    }
  } catch (e) {
    run.lock.release();
    throw e;
  }
  return run;
}

/**
 * The flags `train --resume DIR` takes besides the run: those that change how the run continues
 * or is watched, never the model (makemore.py's `--resume` with a new `--max-steps` or learning
 * rate). Each sets one field of the saved config; the CLI-only ones (dashboard, quiet, threads)
 * set none.
 */
const RESUME_SETTABLE: Record<string, (c: RunConfig, raw: string | boolean) => [string, unknown, unknown]> = {
  "max-steps": (c, raw) => {
    const to = num(raw, "--max-steps", 0, { integer: true, min: -1, max: 1e9 });
    const from = c.train.maxSteps;
    c.train.maxSteps = to;
    return ["--max-steps", from, to];
  },
  "learning-rate": (c, raw) =>
    setTrain(c, "learningRate", "--learning-rate", raw, { min: 0, exclusiveMin: true, max: 100 }),
  "lr-decay-step": (c, raw) => setTrain(c, "lrDecayStep", "--lr-decay-step", raw, { integer: true, min: 0 }),
  "lr-decay-to": (c, raw) =>
    setTrain(c, "lrDecayTo", "--lr-decay-to", raw, { min: 0, exclusiveMin: true, max: 100 }),
  "warmup-steps": (c, raw) => setTrain(c, "warmupSteps", "--warmup-steps", raw, { integer: true, min: 0 }),
  "weight-decay": (c, raw) => setTrain(c, "weightDecay", "--weight-decay", raw, { min: 0, max: 10 }),
  "batch-size": (c, raw) =>
    setTrain(c, "batchSize", "--batch-size", raw, { integer: true, min: 1, max: 1e7 }),
  "lr-schedule": (c, raw) => {
    const from = c.train.lrSchedule ?? "step";
    c.train.lrSchedule = choice(raw, "--lr-schedule", ["step", "constant", "cosine"], "step") as LrSchedule;
    return ["--lr-schedule", from, c.train.lrSchedule];
  },
  "log-every": (c, raw) => setTop(c, "logEvery", "--log-every", raw, 1),
  "checkpoint-every": (c, raw) => setTop(c, "checkpointEvery", "--checkpoint-every", raw, 1),
  "eval-every": (c, raw) => setTop(c, "evalEvery", "--eval-every", raw, 0),
  "sample-every": (c, raw) => setTop(c, "sampleEvery", "--sample-every", raw, 0),
  "top-k": (c, raw) => {
    const from = c.topK ?? "all";
    const k = topKFlag(raw);
    if (k) c.topK = k;
    else delete c.topK;
    return ["--top-k", from, k ?? "all"];
  },
  "num-samples": (c, raw) => {
    const from = c.numSamples ?? 20;
    c.numSamples = num(raw, "--num-samples", 20, { integer: true, min: 0, max: 100000 });
    return ["--num-samples", from, c.numSamples];
  },
  diagnostics: (c) => {
    const from = c.diagnostics !== undefined;
    c.diagnostics ??= { every: 0, updateRatios: true };
    return ["--diagnostics", from ? "on" : "off", "on"];
  },
  "diagnostics-every": (c, raw) => {
    const from = c.diagnostics ? c.diagnostics.every || "auto" : "off";
    c.diagnostics = {
      every: num(raw, "--diagnostics-every", 0, { integer: true, min: 1 }),
      updateRatios: true,
    };
    return ["--diagnostics-every", from, c.diagnostics.every];
  },
  // the dashboard implies diagnostics, as on a new run
  dashboard: (c) => {
    const from = c.diagnostics !== undefined;
    c.diagnostics ??= { every: 0, updateRatios: true };
    return ["--diagnostics", from ? "on" : "off", "on (for --dashboard)"];
  },
};

/** Flags a resumed run takes that are not part of its config (how this process runs and prints). */
const RESUME_PROCESS_FLAGS = [
  "resume",
  "work-dir",
  "quiet",
  "help",
  "port",
  "host",
  "detect-anomaly",
  "threads",
];

function setTrain(
  c: RunConfig,
  field: "learningRate" | "lrDecayStep" | "lrDecayTo" | "warmupSteps" | "weightDecay" | "batchSize",
  flag: string,
  raw: string | boolean,
  range: Parameters<typeof num>[3],
): [string, unknown, unknown] {
  const from = c.train[field];
  const to = num(raw, flag, 0, range);
  c.train[field] = to;
  return [flag, from ?? (field === "warmupSteps" || field === "weightDecay" ? 0 : undefined), to];
}

function setTop(
  c: RunConfig,
  field: "logEvery" | "checkpointEvery" | "evalEvery" | "sampleEvery",
  flag: string,
  raw: string | boolean,
  min: number,
): [string, unknown, unknown] {
  const from = c[field] ?? 0;
  c[field] = num(raw, flag, 0, { integer: true, min });
  return [flag, from, c[field]];
}

/**
 * `train --resume DIR [flags]`: the run's config with the flags applied, and one line per value
 * that changed ("--learning-rate 0.0005 -> 0.0001"). A flag that would change the model, its data
 * or its optimizer's kind is refused with one line (start a new run for those). Pure: the caller
 * writes the config.
 */
export function resumeOverrides(
  v: Record<string, string | boolean | undefined>,
  saved: RunConfig,
): { config: RunConfig; changes: string[] } {
  const given = Object.keys(v).filter((k) => v[k] !== undefined && !RESUME_PROCESS_FLAGS.includes(k));
  const fixed = given.filter((k) => !(k in RESUME_SETTABLE));
  if (fixed.length)
    throw new UserError(
      `--resume continues the run's model, data and optimizer: --${fixed.join(", --")} would change ${fixed.length > 1 ? "them" : "it"} (start a new run for that); it takes --max-steps, the learning rate, logging, diagnostics and dashboard flags`,
      2,
    );
  const config = structuredClone(saved);
  const changes: string[] = [];
  for (const k of given) {
    const [flag, from, to] = RESUME_SETTABLE[k](config, v[k] as string | boolean);
    if (String(from) !== String(to)) changes.push(`${flag} ${from ?? "default"} -> ${to}`);
  }
  if (config.train.maxSteps < 0 && config.train.lrSchedule === "cosine")
    throw new UserError("--lr-schedule cosine decays over --max-steps: give a number of steps, not -1", 2);
  return { config, changes };
}

/** A config with every field a resume flag sets: to refuse a bad flag before the run is opened. */
const STUB_CONFIG = {
  train: { maxSteps: 0, batchSize: 1, learningRate: 1, lrDecayStep: 0, lrDecayTo: 1 },
  logEvery: 1,
  checkpointEvery: 1,
  evalEvery: 0,
} as unknown as RunConfig;

/**
 * makemore.py's `--sample-only`: 50 samples from the run's best weights (best.safetensors, its
 * model.pt) or, without one, its last checkpoint, grouped as in train / in test / new; then exit.
 * Nothing in the run is written. The generator is seeded with the run's seed + 10 (`makemore
 * sample` takes a --seed, --temperature and --top-k).
 */
export function sampleOnly(v: Record<string, string | boolean | undefined>): number {
  const dir = namedRun(v, "--sample-only");
  const extra = Object.keys(v).filter(
    (k) =>
      v[k] !== undefined &&
      !["sample-only", "resume", "work-dir", "num-samples", "top-k", "quiet"].includes(k),
  );
  if (extra.length)
    throw new UserError(`--sample-only samples a trained run; drop --${extra.join(", --")}`, 2);
  const count = num(v["num-samples"], "--num-samples", 50, { integer: true, min: 1, max: 100000 });
  const run = loadRun(dir);
  let from = `its checkpoint (step ${run.state.step})`;
  if (existsSync(run.paths.best)) {
    const best = readSafetensorsFile(run.paths.best, { what: "best weights" });
    try {
      run.model.loadStateDict(best.tensors);
    } catch (e) {
      throw new UserError(
        `${printable(run.paths.best)} does not fit the run's model: ${(e as Error).message}`,
      );
    }
    const info = JSON.parse(best.metadata.makemore_best ?? "{}") as { step?: number; testLoss?: number };
    from = `its best weights (step ${info.step ?? "?"}, test loss ${info.testLoss ?? "?"})`;
  }
  const { sets } = wordSets(run);
  const seed = seedPlus(run.config.seed, 10);
  const topK = v["top-k"] !== undefined ? topKFlag(v["top-k"]) : run.config.topK;
  const words = sampleWords(run.model, run.vocab, {
    count,
    generator: new Generator().manualSeed(typeof seed === "string" ? BigInt(seed) : seed),
    ...(topK ? { topK } : {}),
  });
  if (v.quiet !== true) console.log(`sampling ${count} words from ${printable(dir)}, ${from}, seed ${seed}`);
  const rows = words.map((word) => ({ word: printable(word), source: provenance(word, sets) }));
  for (const line of sampleGroups(rows, sets.val.size > 0)) console.log(line);
  return 0;
}
