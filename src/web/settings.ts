/**
 * A playground run's settings: the CLI's flags, by the CLI's names, from the URL or the form.
 *
 *   ?type=batchnorm&seed=2147483647&steps=2000&autostart=1
 *
 * is `makemore train --type batchnorm --seed 2147483647 --max-steps 2000`: the model types and
 * their flags come from the model registry (src/models/index.ts), the spec from the family, so the
 * page and the CLI train the same run. `steps` is the URL's short name for --max-steps.
 *
 * The checks are the CLI's own (src/cli/flags.ts `modelFlagsFrom`, `trainFlagsFrom`); this file adds
 * what the form needs to show: which flags a type reads and their defaults.
 */

import { num } from "../cli/args.ts";
import { modelFlagsFrom, topKFlag, trainFlagsFrom } from "../cli/flags.ts";
import { UserError } from "../errors.ts";
import {
  allModelFlags,
  DEFAULT_TYPE,
  FAMILIES,
  familyOf,
  type ModelFamily,
  type ModelFlag,
} from "../models/index.ts";
import { CONFIG_VERSION, type RunRequest } from "../train/session.ts";
import type { Catalog, FlagInfo, Flags } from "./protocol.ts";

// ---------------------------------------------------------------- the catalog

/** The training flags every type reads (`makemore train --help`); src/cli/flags.ts checks them. */
const TRAIN_FLAGS: FlagInfo[] = [
  { name: "seed", kind: "int", help: "generator seed for init and minibatches", placeholder: "" },
  { name: "max-steps", kind: "int", help: "optimisation steps", placeholder: "" },
  { name: "batch-size", kind: "int", help: "examples per step", placeholder: "" },
  { name: "optimizer", kind: "choice", choices: ["sgd", "adamw"], help: "the update rule", placeholder: "" },
  { name: "learning-rate", kind: "number", help: "learning rate (before the decay)", placeholder: "" },
  {
    name: "lr-schedule",
    kind: "choice",
    choices: ["step", "constant", "cosine"],
    help: "how the learning rate changes",
    placeholder: "",
  },
  { name: "lr-decay-step", kind: "int", help: "step where the learning rate drops (step)", placeholder: "" },
  { name: "lr-decay-to", kind: "number", help: "learning rate after the drop (step)", placeholder: "" },
  { name: "warmup-steps", kind: "int", help: "linear warm-up steps", placeholder: "" },
  {
    name: "weight-decay",
    kind: "number",
    help: "decoupled (AdamW) or L2 (SGD) weight decay",
    placeholder: "",
  },
  { name: "momentum", kind: "number", help: "SGD momentum", placeholder: "" },
  {
    name: "top-k",
    kind: "int",
    help: "the run's samples (live and at the end) among the K most likely characters (-1: all)",
    placeholder: "",
  },
];

/** A training flag's default for a type: what `trainFlagsFrom` gives when the flag is not given. */
function trainDefaults(type: string): Record<string, string> {
  const { train, seed } = trainFlagsFrom({}, type);
  const t = train as unknown as Record<string, unknown>;
  const out: Record<string, string> = { seed: String(seed) };
  for (const f of TRAIN_FLAGS) {
    const v = t[fieldOf(f.name)];
    if (typeof v === "number" || typeof v === "string") out[f.name] = String(v);
  }
  if (train.optimizer === undefined) out.optimizer = "sgd";
  return out;
}

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
        return {
          type,
          summary,
          family: family.name,
          flags,
          defaults: { ...defaults, ...trainDefaults(type) },
        };
      }),
    ),
    defaultType: DEFAULT_TYPE,
    modelFlags: allModelFlags().map(info),
    trainFlags: TRAIN_FLAGS,
    datasets,
  };
}

// ---------------------------------------------------------------- checking, as the CLI checks

/** A number checked as the CLI checks flag `--name` (the sample form's fields). */
export function checkNumber(
  value: number | string,
  name: string,
  opts: { integer?: boolean; min?: number; max?: number; exclusiveMin?: boolean },
): number {
  return num(String(value), `--${name}`, Number.NaN, opts);
}

/**
 * `makemore sample --top-k K` as the CLI checks it: "" or -1 is every character (undefined), 0 is
 * refused, K > 0 keeps the K largest logits at each step.
 */
export function checkTopK(value: number | string): number | undefined {
  return topKFlag(String(value).trim() || undefined);
}

/**
 * What the flags ask for, before the words are read (the session's `configForWords` adds the
 * family's spec for their vocabulary), as `makemore train` checks them. The page's run has the CLI's
 * defaults for everything the page does not set; `inputFile` is the data's name.
 */
export function runRequest(f: Flags, diagnostics: boolean): RunRequest {
  // the CLI's own checks: an empty field is a flag not given
  const v: Record<string, string | boolean | undefined> = {};
  for (const [k, x] of Object.entries(f)) if (x !== "" && x !== false && x !== undefined) v[k] = x;
  const { type, flags: modelFlags } = modelFlagsFrom(v);
  const { train, seed } = trainFlagsFrom(v, type);
  const topK = topKFlag(v["top-k"]);
  // the family's habits, as `makemore train` takes them (makemore.py's types: its randperm split,
  // its evaluate() every 500 steps on train and test, drawn on the loss chart, and its final
  // losses). Not its log lines every 10 steps or its samples every 200: the page shows the step,
  // the loss and live samples itself.
  const rd = familyOf(type).runDefaults ?? {};
  return {
    type,
    modelFlags,
    split: rd.split ?? "lecture",
    config: {
      version: CONFIG_VERSION,
      train,
      seed,
      logEvery: 10000,
      checkpointEvery: 10000,
      evalEvery: rd.evalEvery ?? 0,
      ...(rd.habits ? { habits: rd.habits } : {}),
      calibrate: false,
      numSamples: 20,
      ...(topK ? { topK } : {}),
      // every: 0 is the CLI's "max(1000, max-steps / 100)"
      diagnostics: diagnostics ? { every: 0, updateRatios: true } : undefined,
    },
    inputFile: "names.txt",
  };
}
