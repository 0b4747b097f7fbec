/**
 * Language models by `--type`: the registry that the CLI, the training session, the run files and
 * the browser playground look types up in. The interface is src/models/model.ts.
 *
 * A model family is ONE file in src/models/ that exports a `ModelFamily`, plus ONE line in
 * `FAMILIES` below.
 *
 *   const family = familyOf("batchnorm");                     // the lecture MLPs
 *   const spec = family.spec("batchnorm", {}, { vocabSize: 27, longestWord: 15 });
 *   const model = family.build(spec, new Generator().manualSeed(2147483647));
 *   model.loss(Xb, Yb);                  // scalar cross-entropy
 *   model.nextLogits(context);           // (B, t) tokens so far -> (B, V), for sampling
 */

import { UserError } from "../errors.ts";
import type { Generator } from "../random/generator.ts";
import { BIGRAM_FAMILY } from "./bigram.ts";
import { MAKEMORE_FAMILY } from "./makemore.ts";
import { MLP_FAMILY } from "./mlp.ts";
import type { DataFacts, FlagValues, LanguageModel, ModelFamily, ModelFlag, ModelSpecBase } from "./model.ts";
import { WAVENET_FAMILY } from "./wavenet.ts";

export * from "./model.ts";

// ---------------------------------------------------------------- the registry

/** One line per family. The first type of the first family is the default `--type`. */
export const FAMILIES: readonly ModelFamily[] = [
  MLP_FAMILY as ModelFamily,
  MAKEMORE_FAMILY as ModelFamily,
  BIGRAM_FAMILY as ModelFamily,
  WAVENET_FAMILY as ModelFamily,
];

/** Every --type, in registry order. */
export function modelTypes(): string[] {
  return FAMILIES.flatMap((f) => f.types.map((t) => t.type));
}

export const DEFAULT_TYPE = "batchnorm";

/** The family that builds `type`, or undefined. */
export function findFamily(type: unknown): ModelFamily | undefined {
  return FAMILIES.find((fam) => fam.types.some((t) => t.type === type));
}

/** The family that builds `type`, or a UserError listing the types. */
export function familyOf(type: unknown): ModelFamily {
  const f = findFamily(type);
  if (!f) {
    throw new UserError(`unknown model type ${JSON.stringify(type)} (types: ${modelTypes().join(", ")})`, 2);
  }
  return f;
}

/** Every flag any family reads, once per name (the first declaration wins for help text). */
export function allModelFlags(): ModelFlag[] {
  const seen = new Map<string, ModelFlag>();
  for (const f of FAMILIES) for (const flag of f.flags) if (!seen.has(flag.name)) seen.set(flag.name, flag);
  return [...seen.values()];
}

/** Spec from a --type and checked flag values; refuses flags the family does not read. */
export function specFor(type: string, flags: FlagValues, data: DataFacts): ModelSpecBase {
  const family = familyOf(type);
  const reads = new Set(family.flags.map((f) => f.name));
  const foreign = Object.keys(flags).filter((k) => flags[k] !== undefined && !reads.has(k));
  if (foreign.length) {
    throw new UserError(
      `--${foreign.join(", --")} does not apply to --type ${type} (${family.name} models)`,
      2,
    );
  }
  return family.spec(type, flags, data);
}

/** Check a spec from config.json: the type is known, the common fields sane, then the family's. */
export function checkModelSpec(raw: unknown): ModelSpecBase {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw))
    throw new UserError("model is not an object");
  const m = raw as Record<string, unknown>;
  const family = familyOf(m.type);
  for (const k of ["vocabSize", "blockSize"] as const) {
    const v = m[k];
    if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > 1_000_000)
      throw new UserError(`model.${k} must be a positive integer, got ${JSON.stringify(v)}`);
  }
  return family.checkSpec(m);
}

/** Build the model a spec describes (validated), drawing its initial weights from `g`. */
export function buildFromSpec(spec: ModelSpecBase, g: Generator): LanguageModel {
  const family = familyOf(spec.type);
  return family.build(family.checkSpec(spec as unknown as Record<string, unknown>), g);
}
