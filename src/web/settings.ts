/**
 * A playground run's settings: the CLI's flags, by the CLI's names, from the URL or the form.
 *
 *   ?type=batchnorm&seed=2147483647&steps=2000&autostart=1
 *
 * is `makemore train --type batchnorm --seed 2147483647 --max-steps 2000`: the model types and
 * their flags come from the model registry (src/models/index.ts), each flag checked against its
 * declaration with the CLI's words (src/cli/args.ts), the spec from the family, so the page and the
 * CLI train the same run. `steps` is the URL's short name for --max-steps.
 *
 * (src/cli/flags.ts does the same for the CLI; it also resolves file paths, which needs Node, so
 * the training flags' checks are repeated here with its bounds and messages.)
 */

import { choice, num } from "../cli/args.ts";
import { UserError } from "../errors.ts";
import {
  allModelFlags,
  DEFAULT_TYPE,
  FAMILIES,
  type FlagValues,
  familyOf,
  type ModelFamily,
  type ModelFlag,
  modelTypes,
} from "../models/index.ts";
import { CONFIG_VERSION, type RunRequest } from "../train/session.ts";
import { LECTURE_TRAIN, type TrainConfig } from "../train/train.ts";
import type { Catalog, FlagInfo, Flags } from "./protocol.ts";

// ---------------------------------------------------------------- the catalog

/** The training flags every type reads, with `makemore train --help`'s bounds. */
const TRAIN_FLAGS: (FlagInfo & { min: number; max?: number; exclusiveMin?: boolean })[] = [
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

/** `--n-hidden` -> the spec field `nHidden` (the registry's naming convention). */
const fieldOf = (flag: string) => flag.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** The data facts the form's defaults are shown for (the bundled names.txt). */
const NAMES_FACTS = { vocabSize: 27, longestWord: 15 };

/**
 * The flags `type` reads, with their defaults: a flag counts as read unless the family refuses it
 * for this type (given its own default value, `spec` throws the CLI's "only applies to" error).
 */
function typeFlags(family: ModelFamily, type: string): { flags: string[]; defaults: Record<string, string> } {
  const base = family.spec(type, {}, NAMES_FACTS) as unknown as Record<string, unknown>;
  const flags: string[] = [];
  const defaults: Record<string, string> = {};
  for (const f of family.flags) {
    const v = base[fieldOf(f.name)];
    const probe = f.kind === "boolean" ? true : v;
    if (probe !== undefined) {
      try {
        family.spec(type, { [f.name]: probe as string | number | boolean }, NAMES_FACTS);
      } catch (e) {
        if (e instanceof UserError) continue;
        throw e;
      }
    }
    flags.push(f.name);
    if (typeof v === "number") defaults[f.name] = String(Number(v.toPrecision(6)));
    else if (typeof v === "string") defaults[f.name] = v;
  }
  return { flags, defaults };
}

function info(f: ModelFlag): FlagInfo {
  return { name: f.name, kind: f.kind, choices: f.choices, help: f.help, placeholder: "" };
}

/** Every --type with its flags and defaults, the common training flags, the bundled data sets. */
export function catalog(datasets: string[]): Catalog {
  return {
    types: FAMILIES.flatMap((family) =>
      family.types.map(({ type, summary }) => {
        const { flags, defaults } = typeFlags(family, type);
        const train = { ...LECTURE_TRAIN, ...(family.trainDefaults as Partial<TrainConfig> | undefined) };
        defaults["learning-rate"] = String(train.learningRate);
        defaults["lr-decay-step"] = String(train.lrDecayStep);
        defaults["lr-decay-to"] = String(train.lrDecayTo);
        defaults["batch-size"] = String(train.batchSize);
        defaults["max-steps"] = String(train.maxSteps);
        return { type, summary, family: family.name, flags, defaults };
      }),
    ),
    defaultType: DEFAULT_TYPE,
    modelFlags: allModelFlags().map(info),
    trainFlags: TRAIN_FLAGS.map(({ min: _a, max: _b, exclusiveMin: _c, ...f }) => f),
    datasets,
  };
}

// ---------------------------------------------------------------- checking, as the CLI checks

/** A model flag's value checked against its declaration (src/cli/flags.ts `flagValue`). */
function modelFlagValue(
  f: ModelFlag,
  raw: string | boolean | undefined,
): string | number | boolean | undefined {
  if (raw === undefined || raw === "" || raw === false) return undefined;
  const flag = `--${f.name}`;
  if (f.kind === "boolean") return raw === true;
  if (f.kind === "choice") return choice(raw, flag, f.choices ?? [], (f.choices ?? [""])[0]!);
  return num(raw, flag, 0, {
    integer: f.kind === "int",
    min: f.min,
    max: f.max,
    exclusiveMin: f.exclusiveMin,
  });
}

const trainFlag = (name: string) => TRAIN_FLAGS.find((f) => f.name === name)!;

function trainNum(f: Flags, name: string, fallback: number): number {
  const def = trainFlag(name);
  const raw = f[name];
  return num(raw === "" ? undefined : raw, `--${name}`, fallback, {
    integer: def.kind === "int",
    min: def.min,
    max: def.max,
    exclusiveMin: def.exclusiveMin,
  });
}

/** A number checked as the CLI checks flag `--name` (the sample form's fields). */
export function checkNumber(
  value: number | string,
  name: string,
  opts: { integer?: boolean; min?: number; max?: number; exclusiveMin?: boolean },
): number {
  return num(String(value), `--${name}`, Number.NaN, opts);
}

/**
 * What the flags ask for, before the words are read (the session's `configForWords` adds the
 * family's spec for their vocabulary), as `makemore train` checks them. The page's run has the CLI's
 * defaults for everything the page does not set; `inputFile` is the data's name.
 */
export function runRequest(f: Flags, diagnostics: boolean): RunRequest {
  const type = choice(f.type === "" ? undefined : f.type, "--type", modelTypes(), DEFAULT_TYPE);
  const family = familyOf(type);
  const modelFlags: Record<string, string | number | boolean | undefined> = {};
  for (const flag of allModelFlags()) {
    const v = modelFlagValue(flag, f[flag.name]);
    if (v !== undefined) modelFlags[flag.name] = v;
  }
  const d = { ...LECTURE_TRAIN, ...(family.trainDefaults as Partial<TrainConfig> | undefined) };
  const train: TrainConfig = {
    ...d,
    maxSteps: trainNum(f, "max-steps", d.maxSteps),
    batchSize: trainNum(f, "batch-size", d.batchSize),
    learningRate: trainNum(f, "learning-rate", d.learningRate),
    lrDecayStep: trainNum(f, "lr-decay-step", d.lrDecayStep),
    lrDecayTo: trainNum(f, "lr-decay-to", d.lrDecayTo),
  };
  return {
    type,
    modelFlags: modelFlags as FlagValues,
    config: {
      version: CONFIG_VERSION,
      train,
      seed: trainNum(f, "seed", 2147483647),
      logEvery: 10000,
      checkpointEvery: 10000,
      evalEvery: 0,
      calibrate: false,
      numSamples: 20,
      // every: 0 is the CLI's "max(1000, max-steps / 100)"
      diagnostics: diagnostics ? { every: 0, updateRatios: true } : undefined,
    },
    inputFile: "names.txt",
  };
}
