/**
 * A playground run's settings: the CLI's flags, by the CLI's names, from the URL or the form.
 *
 *   ?type=batchnorm&seed=2147483647&steps=2000&autostart=1
 *
 * is `makemore train --type batchnorm --seed 2147483647 --max-steps 2000`: the same checks, the
 * same one-line errors, the same config (config.json's fields), so the page and the CLI train the
 * same run. `steps` is the URL's short name for --max-steps.
 */

import { UserError } from "../errors.ts";
import { buildModel, type MLP, type ModelSpec, type ModelType, PRESETS, presetSpec } from "../models/mlp.ts";
import type { Generator } from "../random/generator.ts";
import { LECTURE_TRAIN, type TrainConfig } from "../train/train.ts";
import type { Catalog, FlagInfo, Flags } from "./protocol.ts";

/** config.json's version (src/io/run.ts CONFIG_VERSION; that module reads files, so not imported). */
export const CONFIG_VERSION = 1;

/** What the page writes as config.json: the CLI's RunConfig. */
export interface WebRunConfig {
  version: number;
  model: ModelSpec;
  train: TrainConfig;
  seed: number;
  data: { inputFile: string; numWords: number; vocab: string[]; blockSize: number; splitSeed: number };
  logEvery: number;
  checkpointEvery: number;
  evalEvery: number;
  calibrate: boolean;
  numSamples: number;
  diagnostics?: { every: number; updateRatios: boolean };
}

// ---------------------------------------------------------------- the flags

interface FlagDef extends FlagInfo {
  min?: number;
  max?: number;
  exclusiveMin?: boolean;
}

const MODEL_FLAGS: FlagDef[] = [
  { name: "n-embd", kind: "int", min: 1, max: 4096, help: "embedding size per character", placeholder: "10" },
  { name: "n-hidden", kind: "int", min: 1, max: 65536, help: "hidden width", placeholder: "" },
  { name: "depth", kind: "int", min: 0, max: 100, help: "hidden layers", placeholder: "5" },
  {
    name: "batchnorm",
    kind: "choice",
    choices: ["none", "torch", "lecture", "lecture-std"],
    help: "BatchNorm after each Linear",
    placeholder: "none",
  },
  {
    name: "nonlinearity",
    kind: "choice",
    choices: ["tanh", "relu", "none"],
    help: "after each hidden layer",
    placeholder: "tanh",
  },
  { name: "gain", kind: "number", help: "hidden weight gain", placeholder: "5/3" },
  { name: "last-layer-scale", kind: "number", help: "scale of the output layer at init", placeholder: "0.1" },
  { name: "zero-init", kind: "boolean", help: "all Linear weights start at zero", placeholder: "" },
];

const TRAIN_FLAGS: FlagDef[] = [
  {
    name: "block-size",
    kind: "int",
    min: 1,
    max: 64,
    help: "context length in characters",
    placeholder: "3",
  },
  {
    name: "seed",
    kind: "int",
    min: 0,
    max: Number.MAX_SAFE_INTEGER,
    help: "generator seed for init and minibatches",
    placeholder: "2147483647",
  },
  { name: "max-steps", kind: "int", min: 0, max: 1e9, help: "SGD steps", placeholder: "200000" },
  { name: "batch-size", kind: "int", min: 1, max: 1e7, help: "examples per step", placeholder: "32" },
  {
    name: "learning-rate",
    kind: "number",
    min: 0,
    exclusiveMin: true,
    max: 100,
    help: "learning rate before the decay",
    placeholder: "0.1",
  },
  {
    name: "lr-decay-step",
    kind: "int",
    min: 0,
    help: "step where the learning rate drops",
    placeholder: "100000",
  },
  {
    name: "lr-decay-to",
    kind: "number",
    min: 0,
    exclusiveMin: true,
    max: 100,
    help: "learning rate after the drop",
    placeholder: "0.01",
  },
];

/** The flags only `--type custom` reads (the presets fix them). */
const BUILDER_FLAGS = ["depth", "batchnorm", "nonlinearity", "gain", "last-layer-scale", "zero-init"];

const SUMMARIES: Record<ModelType, string> = {
  original: "the lecture's first MLP, unscaled randn init (initial loss about 27.9)",
  "fix-softmax": "W2 * 0.01, b2 * 0: the initial loss drops to 3.32",
  "fix-tanh": "also W1 * 0.2, b1 * 0.01: no more saturated tanh",
  kaiming: "W1 * (5/3)/sqrt(30)",
  batchnorm: "the lecture's BatchNorm MLP",
  "deep-bn": "the 6-layer net with BatchNorm",
  "deep-tanh": "the 6-layer net without BatchNorm",
  custom: "the general builder",
};

export function catalog(datasets: string[]): Catalog {
  const strip = ({ min: _a, max: _b, exclusiveMin: _c, ...info }: FlagDef): FlagInfo => info;
  return {
    types: PRESETS.map((type) => ({
      type,
      summary: SUMMARIES[type],
      flags: MODEL_FLAGS.map((f) => f.name).filter((n) => type === "custom" || !BUILDER_FLAGS.includes(n)),
    })),
    defaultType: "batchnorm",
    modelFlags: MODEL_FLAGS.map(strip),
    trainFlags: TRAIN_FLAGS.map(strip),
    datasets,
  };
}

// ---------------------------------------------------------------- checking, as the CLI checks

/** A number flag, with the CLI's words (src/cli/args.ts `num`). */
function num(value: string | boolean | undefined, def: FlagDef, fallback: number): number {
  if (value === undefined || value === "") return fallback;
  const flag = `--${def.name}`;
  const s = String(value).trim().replaceAll("_", "");
  const v = s === "" ? Number.NaN : Number(s);
  const integer = def.kind === "int";
  if (!Number.isFinite(v) || (integer && !Number.isInteger(v)))
    throw new UserError(`${flag} must be ${integer ? "a whole number" : "a number"}, got '${value}'`, 2);
  if (def.min !== undefined && (def.exclusiveMin ? v <= def.min : v < def.min))
    throw new UserError(
      `${flag} must be ${def.exclusiveMin ? "greater than" : "at least"} ${def.min}, got ${v}`,
      2,
    );
  if (def.max !== undefined && v > def.max)
    throw new UserError(`${flag} must be at most ${def.max}, got ${v}`, 2);
  return v;
}

/** A number checked as the CLI checks flag `--name` (for the sample form's fields). */
export function checkNumber(
  value: number | string,
  name: string,
  opts: { integer?: boolean; min?: number; max?: number; exclusiveMin?: boolean },
): number {
  const def: FlagDef = { name, kind: opts.integer ? "int" : "number", help: "", placeholder: "", ...opts };
  return num(String(value), def, Number.NaN);
}

function choice<T extends string>(value: string | boolean | undefined, def: FlagDef, fallback: T): T {
  if (value === undefined || value === "") return fallback;
  const choices = def.choices as readonly T[];
  if (!choices.includes(value as T))
    throw new UserError(`--${def.name} must be one of ${choices.join(", ")}; got '${value}'`, 2);
  return value as T;
}

const flagDef = (name: string) => [...MODEL_FLAGS, ...TRAIN_FLAGS].find((f) => f.name === name)!;

/**
 * The run's model spec, training config and seed from flags, as `makemore train` builds them
 * (src/cli/train.ts configFromFlags). Throws the CLI's UserError for a bad flag.
 */
export function settingsFromFlags(
  f: Flags,
  vocabSize: number,
): { model: ModelSpec; train: TrainConfig; seed: number } {
  const given = (name: string) => f[name] !== undefined && f[name] !== "" && f[name] !== false;
  if (f.type !== undefined && !PRESETS.includes(f.type as ModelType))
    throw new UserError(`--type must be one of ${PRESETS.join(", ")}; got '${f.type}'`, 2);
  const type = (f.type ?? "batchnorm") as ModelType;
  if (type !== "custom") {
    for (const name of BUILDER_FLAGS)
      if (given(name)) throw new UserError(`--${name} only applies to --type custom (the presets fix it)`, 2);
  }
  const blockSize = num(f["block-size"], flagDef("block-size"), 3);
  const base = presetSpec(type, vocabSize, blockSize);
  const model: ModelSpec = {
    ...base,
    nEmbd: num(f["n-embd"], flagDef("n-embd"), base.nEmbd),
    nHidden: num(f["n-hidden"], flagDef("n-hidden"), base.nHidden),
    depth: num(f.depth, flagDef("depth"), base.depth),
    batchnorm: choice(f.batchnorm, flagDef("batchnorm"), base.batchnorm),
    nonlinearity: choice(f.nonlinearity, flagDef("nonlinearity"), base.nonlinearity),
    gain: num(f.gain, flagDef("gain"), base.gain),
    lastLayerScale: num(f["last-layer-scale"], flagDef("last-layer-scale"), base.lastLayerScale),
    zeroInit: f["zero-init"] === true,
  };
  if (type === "custom") {
    model.bias = model.batchnorm === "none";
    model.outputBatchnorm = model.batchnorm !== "none";
  }
  const train: TrainConfig = {
    maxSteps: num(f["max-steps"], flagDef("max-steps"), LECTURE_TRAIN.maxSteps),
    batchSize: num(f["batch-size"], flagDef("batch-size"), LECTURE_TRAIN.batchSize),
    learningRate: num(f["learning-rate"], flagDef("learning-rate"), LECTURE_TRAIN.learningRate),
    lrDecayStep: num(f["lr-decay-step"], flagDef("lr-decay-step"), LECTURE_TRAIN.lrDecayStep),
    lrDecayTo: num(f["lr-decay-to"], flagDef("lr-decay-to"), LECTURE_TRAIN.lrDecayTo),
  };
  return { model, train, seed: num(f.seed, flagDef("seed"), 2147483647) };
}

/** Build a spec's model (the registry's one entry point for the page). */
export function buildFor(spec: ModelSpec, g: Generator): MLP {
  return buildModel(spec, g);
}
