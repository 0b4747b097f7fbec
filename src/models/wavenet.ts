/**
 * The WaveNet of makemore part 5: characters are fused hierarchically, two at a time, instead of
 * being concatenated all at once.
 *
 *   Embedding(V, C)                                   (B, 8) -> (B, 8, C)
 *   FlattenConsecutive(2), Linear(2C, H), BatchNorm1d(H), Tanh     -> (B, 4, H)
 *   FlattenConsecutive(2), Linear(2H, H), BatchNorm1d(H), Tanh     -> (B, 2, H)
 *   FlattenConsecutive(2), Linear(2H, H), BatchNorm1d(H), Tanh     -> (B, H)
 *   Linear(H, V), weight * 0.1                                     -> (B, V) logits
 *
 * The notebook's defaults (V 27, C 24, H 128, T 8): 76,579 parameters. BatchNorm is the lecture's
 * class (unbiased var + eps 1e-5, momentum 0.1), reducing over dims (0, 1) of a (B, T, H) input;
 * `bnPerPosition` rebuilds the lecture's first, buggy version that reduces over dim 0 only.
 * The Linear layers have no bias (the BatchNorm after each makes it useless), the output one does.
 *
 *   const g = new Generator().manualSeed(42);           // the notebook's torch.manual_seed(42)
 *   const model = buildWaveNet(wavenetSpec(27), g);     // draws in the notebook's order
 *   const loss = model.loss(Xb, Yb);                    // Xb (B, 8) int64, Yb (B,)
 */

import { UserError } from "../errors.ts";
import {
  BatchNorm1d,
  Embedding,
  FlattenConsecutive,
  Linear,
  Module,
  named,
  Sequential,
  Tanh,
} from "../nn/modules.ts";
import type { Generator } from "../random/generator.ts";
import type { BatchNormVariant } from "../tensor/fused.ts";
import { crossEntropy, noGrad, type Tensor } from "../tensor/tensor.ts";
import {
  type DataFacts,
  type FlagValues,
  type LanguageModel,
  type ModelFamily,
  windowContext,
} from "./model.ts";

/** Everything needed to rebuild a WaveNet (stored in config.json). */
export interface WaveNetSpec {
  type: "wavenet";
  vocabSize: number;
  /** context length T; must be a power of `groupSize` */
  blockSize: number;
  /** embedding size C */
  nEmbd: number;
  /** hidden width H */
  nHidden: number;
  /** positions fused per level (2 in the lecture; = blockSize gives the flat one-level MLP) */
  groupSize: number;
  batchnorm: BatchNormVariant;
  /** the lecture's "bug in batchnorm": statistics over dim 0 only for (B, T, H) activations */
  bnPerPosition: boolean;
  /** multiplies the output Linear's weight ("last layer make less confident") */
  lastLayerScale: number;
}

/** The notebook's hierarchical network: T 8, C 24, H 128, pairs fused, output weight * 0.1. */
export function wavenetSpec(
  vocabSize: number,
  overrides: Partial<Omit<WaveNetSpec, "type">> = {},
): WaveNetSpec {
  return {
    type: "wavenet",
    vocabSize,
    blockSize: 8,
    nEmbd: 24,
    nHidden: 128,
    groupSize: 2,
    batchnorm: "lecture",
    bnPerPosition: false,
    lastLayerScale: 0.1,
    ...overrides,
  };
}

/** Number of fusing levels: log_groupSize(blockSize). */
export function wavenetLevels(spec: Pick<WaveNetSpec, "blockSize" | "groupSize">): number {
  let levels = 0;
  for (let t = spec.blockSize; t > 1; t /= spec.groupSize) levels++;
  return levels;
}

/** Check a spec's numbers before building (bad flags end here with one clear line). */
export function validateWaveNetSpec(s: WaveNetSpec, exitCode?: number): void {
  const fail = (msg: string) => new UserError(msg, exitCode);
  const posInt = (v: number, name: string) => {
    if (!Number.isInteger(v) || v < 1 || v > 1_000_000)
      throw fail(`${name} must be a positive integer, got ${v}`);
  };
  posInt(s.vocabSize, "vocabulary size");
  posInt(s.blockSize, "block size");
  posInt(s.nEmbd, "embedding size");
  posInt(s.nHidden, "hidden width");
  posInt(s.groupSize, "group size");
  if (s.groupSize < 2) throw fail(`the WaveNet fuses at least 2 positions per level, got ${s.groupSize}`);
  if (s.blockSize < s.groupSize)
    throw fail(`the WaveNet needs a block size of at least its group size (${s.groupSize})`);
  let t = s.blockSize;
  while (t > 1 && t % s.groupSize === 0) t /= s.groupSize;
  if (t !== 1) {
    throw fail(
      `the WaveNet's block size must be a power of its group size (${s.groupSize}): got ${s.blockSize}`,
    );
  }
  if (!Number.isFinite(s.lastLayerScale))
    throw fail(`last-layer scale must be finite, got ${s.lastLayerScale}`);
  if (s.nHidden * s.nHidden * s.groupSize * wavenetLevels(s) > 2e8)
    throw fail("the model is too large for this tool (more than 200M weights)");
}

/**
 * Embedding, then the lecture's `Sequential` of layers over (B, T, C) activations -> logits (B, V).
 * Parameter names follow the notebook's list: "layers.0.weight" is the embedding table when
 * counting as the lecture does (`model.layers[0]`); here the embedding is its own child so that
 * every model family exposes `embedding` and `layers` alike.
 */
export class WaveNet extends Module implements LanguageModel {
  constructor(
    readonly spec: WaveNetSpec,
    readonly embedding: Embedding,
    readonly layers: Sequential,
  ) {
    super();
  }
  /** X (B, T) int64 -> logits (B, V) */
  forward(X: Tensor): Tensor {
    return this.keep(this.layers.forward(this.embedding.forward(X))); // (B, T, C) -> ... -> (B, V)
  }
  /** Mean cross-entropy of the next-token predictions: X (B, T), Y (B,). */
  loss(X: Tensor, Y: Tensor): Tensor {
    return crossEntropy(this.forward(X), Y);
  }
  /** context (B, t) -> logits (B, V) from the last T tokens (boundary-padded), as the notebook samples. */
  nextLogits(context: Tensor): Tensor {
    return this.forward(windowContext(context, this.spec.blockSize));
  }
  /**
   * The notebook's `model.layers`, embedding first: layer i in the diagnostics is the lecture's
   * `model.layers[i]` (the Tanh layers are 4, 8 and 12 of the default net).
   */
  diagnosticLayers(): Module[] {
    return [this.embedding, ...this.layers.layers];
  }
  override children(): [string, Module][] {
    return named(this, "embedding", "layers");
  }
  override describe(): string {
    return `WaveNet(levels=${wavenetLevels(this.spec)})\n  embedding: ${this.embedding.describe()}\n  layers: ${this.layers.describe().replaceAll("\n", "\n  ")}`;
  }
}

/**
 * Build a WaveNet, drawing from `g` exactly as the notebook does from torch's global generator
 * after `torch.manual_seed(42)`: the embedding table randn((V, C)), then each Linear weight
 * randn((fan_in, fan_out)) / fan_in**0.5 in order; then `layers[-1].weight *= 0.1`.
 */
export function buildWaveNet(spec: WaveNetSpec, g: Generator): WaveNet {
  validateWaveNetSpec(spec);
  const { vocabSize: V, nEmbd: C, nHidden: H, groupSize: n } = spec;
  const embedding = new Embedding(V, C, { generator: g });
  const layers: Module[] = [];
  let width = C;
  let T = spec.blockSize;
  for (let level = 0; level < wavenetLevels(spec); level++) {
    T /= n;
    layers.push(
      new FlattenConsecutive(n),
      new Linear(width * n, H, { generator: g, bias: false }),
      // after the last fusion T = 1 is squeezed away: (B, H) input, where dims 0 and (0, 1) agree
      new BatchNorm1d(H, {
        variant: spec.batchnorm,
        perPosition: spec.bnPerPosition && T > 1 ? T : undefined,
      }),
      new Tanh(),
    );
    width = H;
  }
  const last = new Linear(width, V, { generator: g });
  layers.push(last);
  noGrad(() => last.weight.mul_(spec.lastLayerScale));
  return new WaveNet(spec, embedding, new Sequential(layers));
}

// ---------------------------------------------------------------- the family (registry entry)

const BATCHNORMS = ["lecture", "torch", "lecture-std"] as const;

export const WAVENET_FAMILY: ModelFamily<WaveNetSpec> = {
  name: "wavenet",
  types: [
    {
      type: "wavenet",
      summary: "makemore part 5: characters fused two at a time (76,579 parameters, block size 8, seed 42)",
    },
  ],
  data: "window",
  flags: [
    {
      name: "block-size",
      kind: "int",
      min: 2,
      max: 64,
      help: "context length in characters (default 3; wavenet 8)",
    },
    {
      name: "n-embd",
      kind: "int",
      min: 1,
      max: 4096,
      help: "embedding size per character (default 10; wavenet 24)",
    },
    {
      name: "n-hidden",
      kind: "int",
      min: 1,
      max: 65536,
      help: "hidden width (default 200, 100 for deep-*; wavenet 128)",
    },
    {
      name: "group-size",
      kind: "int",
      min: 2,
      max: 64,
      help: "wavenet: positions fused per level (default 2; = block size gives the flat MLP)",
    },
    {
      name: "batchnorm",
      kind: "choice",
      choices: ["none", ...BATCHNORMS],
      help: "none | torch | lecture | lecture-std (custom only; default none)",
    },
    {
      name: "bn-per-position",
      kind: "boolean",
      help: "wavenet: BatchNorm over dim 0 only for (B, T, C) activations (the lecture's bug)",
    },
    {
      name: "last-layer-scale",
      kind: "number",
      help: "scale of the output layer at init (custom only; default 0.1)",
    },
  ],
  spec(_type: string, f: FlagValues, data: DataFacts): WaveNetSpec {
    const bn = f.batchnorm as string | undefined;
    if (bn === "none")
      throw new UserError("--batchnorm none does not apply to --type wavenet (it needs one)", 2);
    const spec = wavenetSpec(data.vocabSize, {
      blockSize: (f["block-size"] as number | undefined) ?? 8,
      nEmbd: (f["n-embd"] as number | undefined) ?? 24,
      nHidden: (f["n-hidden"] as number | undefined) ?? 128,
      groupSize: (f["group-size"] as number | undefined) ?? 2,
      batchnorm: (bn as BatchNormVariant | undefined) ?? "lecture",
      bnPerPosition: f["bn-per-position"] === true,
      lastLayerScale: (f["last-layer-scale"] as number | undefined) ?? 0.1,
    });
    validateWaveNetSpec(spec, 2);
    return spec;
  },
  checkSpec(m: Record<string, unknown>): WaveNetSpec {
    const bad = (field: string, what: string) =>
      new UserError(`model.${field} ${what}, got ${JSON.stringify(m[field])}`);
    if (m.type !== "wavenet") throw bad("type", "must be wavenet");
    for (const k of ["vocabSize", "blockSize", "nEmbd", "nHidden", "groupSize"]) {
      if (!Number.isInteger(m[k]) || (m[k] as number) < 1) throw bad(k, "must be a positive integer");
    }
    if (!BATCHNORMS.includes(m.batchnorm as never))
      throw bad("batchnorm", `must be one of ${BATCHNORMS.join(", ")}`);
    if (typeof m.bnPerPosition !== "boolean") throw bad("bnPerPosition", "must be true or false");
    if (!Number.isFinite(m.lastLayerScale)) throw bad("lastLayerScale", "must be a finite number");
    const spec = m as unknown as WaveNetSpec;
    validateWaveNetSpec(spec);
    return spec;
  },
  build: buildWaveNet,
  // the notebook: lr = 0.1 if i < 150000 else 0.01
  trainDefaults: { lrDecayStep: 150_000 },
  // torch.manual_seed(42) once: the init, then the minibatches, then the samples continue it
  defaultSeed: 42,
  samplesContinueTraining: true,
};
