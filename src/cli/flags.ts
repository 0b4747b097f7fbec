/**
 * The flags that describe a training run, shared by `train` and `doctor` (so that no command
 * imports another): the common ones here, the model's from its family (src/models/index.ts), each
 * checked into a typed value before any file is touched.
 */

import { SPLIT_KINDS } from "../data/dataset.ts";
import { UserError } from "../errors.ts";
import { absolutePath, BUNDLED_NAMES, CONFIG_VERSION } from "../io/run.ts";
import {
  allModelFlags,
  DEFAULT_TYPE,
  FAMILIES,
  type FlagValues,
  familyOf,
  type ModelFlag,
  modelTypes,
} from "../models/index.ts";
import type { LrSchedule, OptimizerConfig, OptimizerKind } from "../train/optim.ts";
import type { RunRequest } from "../train/session.ts";
import { LECTURE_TRAIN, type TrainConfig } from "../train/train.ts";
import { choice, num, type Options } from "./args.ts";

/** Every flag `train` takes: the common ones and every family's model flags. */
export const TRAIN_OPTIONS: Options = {
  "input-file": { type: "string", short: "i" },
  "work-dir": { type: "string", short: "o" },
  overwrite: { type: "boolean" },
  resume: { type: "string" },
  "sample-only": { type: "boolean" },
  type: { type: "string" },
  ...Object.fromEntries(
    allModelFlags().map((f) => [f.name, { type: f.kind === "boolean" ? "boolean" : "string" }]),
  ),
  seed: { type: "string" },
  split: { type: "string" },
  "max-steps": { type: "string" },
  "batch-size": { type: "string" },
  "learning-rate": { type: "string" },
  "lr-decay-step": { type: "string" },
  "lr-decay-to": { type: "string" },
  optimizer: { type: "string" },
  "weight-decay": { type: "string", short: "w" },
  momentum: { type: "string" },
  "lr-schedule": { type: "string" },
  "warmup-steps": { type: "string" },
  "log-every": { type: "string" },
  "checkpoint-every": { type: "string" },
  "eval-every": { type: "string" },
  "sample-every": { type: "string" },
  "top-k": { type: "string" },
  calibrate: { type: "boolean" },
  diagnostics: { type: "boolean" },
  "diagnostics-every": { type: "string" },
  dashboard: { type: "boolean" },
  port: { type: "string" },
  host: { type: "string" },
  "num-samples": { type: "string" },
  quiet: { type: "boolean" },
  "detect-anomaly": { type: "boolean" },
  threads: { type: "string" },
};

/** The flags that describe a model (its type, its family's flags) and its data and seed. */
export const MODEL_FLAGS = ["type", ...allModelFlags().map((f) => f.name), "seed", "input-file"];

/** --help lines for the model section: --type and every family's flags. */
export function modelHelp(): string {
  const line = (flag: string, help: string) =>
    flag.length > 24 ? `      ${flag}\n${" ".repeat(32)}${help}` : `      ${flag.padEnd(24)}  ${help}`;
  const placeholder = (f: ModelFlag) =>
    f.kind === "boolean" ? "" : f.kind === "int" ? " N" : f.kind === "number" ? " X" : " KIND";
  const out = [line("--type NAME", `${modelTypes().join(" | ")} (default ${DEFAULT_TYPE})`)];
  for (const f of allModelFlags()) out.push(line(`--${f.name}${placeholder(f)}`, f.help));
  if (FAMILIES.length > 1) {
    for (const fam of FAMILIES) out.push(`      (${fam.name}: ${fam.types.map((t) => t.type).join(", ")})`);
  }
  return out.join("\n");
}

/** One model flag's value, checked against its declaration (undefined when not given). */
function flagValue(f: ModelFlag, raw: string | boolean | undefined): string | number | boolean | undefined {
  if (raw === undefined) return undefined;
  const flag = `--${f.name}`;
  switch (f.kind) {
    case "boolean":
      return raw === true;
    case "choice":
      return choice(raw, flag, f.choices ?? [], (f.choices ?? [""])[0]);
    case "int":
    case "number":
      return num(raw, flag, 0, {
        integer: f.kind === "int",
        min: f.min,
        max: f.max,
        exclusiveMin: f.exclusiveMin,
      });
  }
}

/** The --type and the model flags given, typed (the family checks which apply). */
export function modelFlagsFrom(v: Record<string, string | boolean | undefined>): {
  type: string;
  flags: FlagValues;
} {
  const type = choice(v.type, "--type", modelTypes(), DEFAULT_TYPE);
  familyOf(type);
  const flags: Record<string, string | number | boolean | undefined> = {};
  for (const f of allModelFlags()) {
    const value = flagValue(f, v[f.name]);
    if (value !== undefined) flags[f.name] = value;
  }
  return { type, flags };
}

function defaultWorkDir(type: string): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, "0");
  return `runs/${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}-${type}`;
}

/** The training config and seed the flags ask for (no files: the browser playground calls it too). */
export function trainFlagsFrom(
  v: Record<string, string | boolean | undefined>,
  type: string,
): { train: TrainConfig; seed: number } {
  const defaults = { ...LECTURE_TRAIN, ...(familyOf(type).trainDefaults as Partial<TrainConfig>) };
  const trainCfg: TrainConfig = {
    ...defaults,
    // -1: until interrupted (makemore.py's default for its types)
    maxSteps: num(v["max-steps"], "--max-steps", defaults.maxSteps, { integer: true, min: -1, max: 1e9 }),
    batchSize: num(v["batch-size"], "--batch-size", defaults.batchSize, { integer: true, min: 1, max: 1e7 }),
    learningRate: num(v["learning-rate"], "--learning-rate", defaults.learningRate, {
      min: 0,
      exclusiveMin: true,
      max: 100,
    }),
    lrDecayStep: num(v["lr-decay-step"], "--lr-decay-step", defaults.lrDecayStep, { integer: true, min: 0 }),
    lrDecayTo: num(v["lr-decay-to"], "--lr-decay-to", defaults.lrDecayTo, {
      min: 0,
      exclusiveMin: true,
      max: 100,
    }),
    ...optimizerFlags(v, defaults),
  };
  // the lecture's 2147483647, or the family's own reference seed (the WaveNet notebook's 42)
  const seed = num(v.seed, "--seed", familyOf(type).defaultSeed ?? 2147483647, {
    integer: true,
    min: 0,
    max: Number.MAX_SAFE_INTEGER,
  });
  return { train: trainCfg, seed };
}

/** Build the run request from flags (everything validated before any file is touched). */
export function configFromFlags(
  v: Record<string, string | boolean | undefined>,
): RunRequest & { workDir: string } {
  const { type, flags } = modelFlagsFrom(v);
  const { train: trainCfg, seed } = trainFlagsFrom(v, type);
  if (v.calibrate === true && familyOf(type).name !== "mlp")
    throw new UserError(`--calibrate applies to the lecture MLPs, not --type ${type}`, 2);
  if (trainCfg.maxSteps < 0 && trainCfg.lrSchedule === "cosine")
    throw new UserError("--lr-schedule cosine decays over --max-steps: give a number of steps, not -1", 2);
  // the family's habits (makemore.py's types: its split, log, evaluation and samples), else the lecture's
  const rd = familyOf(type).runDefaults ?? {};
  const split = choice(v.split, "--split", SPLIT_KINDS, rd.split ?? "lecture");
  return {
    type,
    modelFlags: flags,
    split,
    config: {
      version: CONFIG_VERSION,
      train: trainCfg,
      seed,
      logEvery: num(v["log-every"], "--log-every", rd.logEvery ?? 10000, { integer: true, min: 1 }),
      checkpointEvery: num(v["checkpoint-every"], "--checkpoint-every", 10000, { integer: true, min: 1 }),
      evalEvery: num(v["eval-every"], "--eval-every", rd.evalEvery ?? 0, { integer: true, min: 0 }),
      ...(rd.habits ? { habits: rd.habits } : {}),
      ...(rd.sampleEvery !== undefined || v["sample-every"] !== undefined
        ? {
            sampleEvery: num(v["sample-every"], "--sample-every", rd.sampleEvery ?? 0, {
              integer: true,
              min: 0,
            }),
          }
        : {}),
      calibrate: v.calibrate === true,
      numSamples: num(v["num-samples"], "--num-samples", 20, { integer: true, min: 0, max: 100000 }),
      ...(topKFlag(v["top-k"]) ? { topK: topKFlag(v["top-k"]) } : {}),
      diagnostics:
        v.diagnostics === true || v["diagnostics-every"] !== undefined || v.dashboard === true
          ? {
              every: num(v["diagnostics-every"], "--diagnostics-every", 0, { integer: true, min: 1 }),
              updateRatios: true,
            }
          : undefined,
    },
    inputFile: absolutePath(typeof v["input-file"] === "string" ? v["input-file"] : BUNDLED_NAMES),
    workDir: typeof v["work-dir"] === "string" ? v["work-dir"] : defaultWorkDir(type),
  };
}

/**
 * --optimizer sgd | adamw, --weight-decay, --momentum, --lr-schedule step | constant | cosine,
 * --warmup-steps. Defaults: the family's (makemore.py's types: AdamW, wd 0.01, constant) or the
 * lecture's plain SGD with the step decay.
 */
function optimizerFlags(v: Record<string, string | boolean | undefined>, d: TrainConfig): OptimizerConfig {
  const optimizer = choice(
    v.optimizer,
    "--optimizer",
    ["sgd", "adamw"],
    d.optimizer ?? "sgd",
  ) as OptimizerKind;
  const out: OptimizerConfig = {
    optimizer,
    weightDecay: num(
      v["weight-decay"],
      "--weight-decay",
      d.weightDecay ?? (optimizer === "adamw" ? 0.01 : 0),
      {
        min: 0,
        max: 10,
      },
    ),
    lrSchedule: choice(
      v["lr-schedule"],
      "--lr-schedule",
      ["step", "constant", "cosine"],
      d.lrSchedule ?? "step",
    ) as LrSchedule,
    warmupSteps: num(v["warmup-steps"], "--warmup-steps", d.warmupSteps ?? 0, { integer: true, min: 0 }),
  };
  if (optimizer === "sgd") out.momentum = num(v.momentum, "--momentum", d.momentum ?? 0, { min: 0, max: 1 });
  else if (v.momentum !== undefined)
    throw new UserError("--momentum applies to --optimizer sgd (AdamW has betas)", 2);
  return out;
}

/** makemore.py's --top-k K: K > 0 the K most likely characters, -1 (or absent) all; 0 is refused. */
export function topKFlag(raw: string | boolean | undefined): number | undefined {
  const k = num(raw, "--top-k", -1, { integer: true, min: -1, max: 1_000_000 });
  if (k === 0) throw new UserError("--top-k must be a positive number of characters (or -1 for all)", 2);
  return k > 0 ? k : undefined;
}
