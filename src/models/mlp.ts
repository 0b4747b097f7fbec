/**
 * The lecture's models. `MLP` = Embedding -> concatenate -> layers; presets rebuild the notebook's
 * networks exactly, drawing from the generator in the notebook's order, and `buildCustom` is the
 * general builder (depth, width, BatchNorm, nonlinearity, gain, last-layer scale, zero init).
 *
 *   const g = new Generator().manualSeed(2147483647);
 *   const model = buildModel(presetSpec("batchnorm", 27, 3), g);   // 12,097 parameters
 *   const loss = model.loss(Xb, Yb);
 */

import { UserError } from "../errors.ts";
import {
  BatchNorm1d,
  Embedding,
  GAINS,
  Linear,
  Module,
  named,
  ReLU,
  Sequential,
  Tanh,
} from "../nn/modules.ts";
import type { Generator } from "../random/generator.ts";
import type { BatchNormVariant } from "../tensor/fused.ts";
import { randn } from "../tensor/random.ts";
import { crossEntropy, noGrad, type Tensor } from "../tensor/tensor.ts";
import {
  type DataFacts,
  type FlagValues,
  type LanguageModel,
  type ModelFamily,
  windowContext,
} from "./model.ts";

export const PRESETS = [
  "original",
  "fix-softmax",
  "fix-tanh",
  "kaiming",
  "batchnorm",
  "deep-bn",
  "deep-tanh",
  "custom",
] as const;
export type ModelType = (typeof PRESETS)[number];

/** Everything needed to rebuild a model's architecture (stored in config.json). */
export interface ModelSpec {
  type: ModelType;
  /** V */
  vocabSize: number;
  /** T: characters of context */
  blockSize: number;
  nEmbd: number;
  nHidden: number;
  /** number of hidden layers (Linear [+ BatchNorm] [+ nonlinearity]) before the output Linear */
  depth: number;
  /** BatchNorm after every Linear (including the output one for deep nets), or "none" */
  batchnorm: BatchNormVariant | "none";
  /** BatchNorm after the output Linear too (the lecture's 6-layer net does this) */
  outputBatchnorm: boolean;
  nonlinearity: "tanh" | "relu" | "none";
  /** multiplies every hidden Linear weight after the 1/sqrt(fan_in) scaling (5/3 for tanh) */
  gain: number;
  /** multiplies the output Linear weight (or the output BatchNorm's gamma) to make the initial softmax diffuse */
  lastLayerScale: number;
  /** all Linear weights start at zero (a teaching experiment: only the last layer learns) */
  zeroInit: boolean;
  /** Linear layers have a bias (no use before a BatchNorm) */
  bias: boolean;
  /** every BatchNorm's eps (default: its variant's, 0 for lecture-std, 1e-5 for the others) */
  bnEps?: number;
  /** every BatchNorm's momentum (default: its variant's, 0.001 for lecture-std, 0.1 otherwise) */
  bnMomentum?: number;
}

/** The BatchNorm options a spec asks for (undefined fields keep the variant's defaults). */
function bnOptions(spec: ModelSpec): { eps?: number; momentum?: number } {
  return { eps: spec.bnEps, momentum: spec.bnMomentum };
}

/**
 * Embedding -> concatenate the T embeddings -> layers -> logits (B, V). `layers` holds exactly the
 * lecture's list, so layer i here is the lecture's "layer i" (the 6-layer net's first Tanh is layer 2)
 * and parameter names read like it: "layers.0.weight".
 */
export class MLP extends Module implements LanguageModel {
  constructor(
    readonly spec: ModelSpec,
    readonly embedding: Embedding,
    readonly layers: Sequential,
  ) {
    super();
  }
  /** X (B, T) int64 -> logits (B, V) */
  forward(X: Tensor): Tensor {
    const emb = this.embedding.forward(X); // (B, T, C)
    return this.keep(this.layers.forward(emb.view(emb.shape[0], -1))); // (B, T*C) -> (B, V)
  }
  /** Mean cross-entropy of the next-token predictions: X (B, T), Y (B,). */
  loss(X: Tensor, Y: Tensor): Tensor {
    return crossEntropy(this.forward(X), Y);
  }
  /** context (B, t) -> logits (B, V) of the next token, from the last T tokens (boundary-padded). */
  nextLogits(context: Tensor): Tensor {
    return this.forward(windowContext(context, this.spec.blockSize));
  }
  /** The lecture's `layers` list: layer i in the diagnostics is `layers[i]`. */
  diagnosticLayers(): Module[] {
    return this.layers.layers;
  }
  override children(): [string, Module][] {
    return named(this, "embedding", "layers");
  }
  override describe(): string {
    return `MLP(type=${this.spec.type})\n  embedding: ${this.embedding.describe()}\n  layers: ${this.layers.describe().replaceAll("\n", "\n  ")}`;
  }
}

/** The architecture of each preset, for a vocabulary and block size. */
export function presetSpec(type: ModelType, vocabSize: number, blockSize: number): ModelSpec {
  const base = { type, vocabSize, blockSize, zeroInit: false };
  switch (type) {
    case "original":
    case "fix-softmax":
    case "fix-tanh":
    case "kaiming":
      return {
        ...base,
        nEmbd: 10,
        nHidden: 200,
        depth: 1,
        batchnorm: "none",
        outputBatchnorm: false,
        nonlinearity: "tanh",
        gain: type === "kaiming" ? GAINS.tanh : 1,
        lastLayerScale: type === "original" ? 1 : 0.01,
        bias: true,
      };
    case "batchnorm":
      return {
        ...base,
        nEmbd: 10,
        nHidden: 200,
        depth: 1,
        batchnorm: "lecture-std",
        outputBatchnorm: false,
        nonlinearity: "tanh",
        gain: GAINS.tanh,
        lastLayerScale: 0.01,
        bias: false,
      };
    case "deep-bn":
      return {
        ...base,
        nEmbd: 10,
        nHidden: 100,
        depth: 5,
        batchnorm: "lecture",
        outputBatchnorm: true,
        nonlinearity: "tanh",
        gain: GAINS.tanh,
        lastLayerScale: 0.1,
        bias: false,
      };
    case "deep-tanh":
    case "custom":
      return {
        ...base,
        nEmbd: 10,
        nHidden: 100,
        depth: 5,
        batchnorm: "none",
        outputBatchnorm: false,
        nonlinearity: "tanh",
        gain: GAINS.tanh,
        lastLayerScale: 0.1,
        bias: true,
      };
  }
}

/** Check a spec's numbers before building (bad flags end here with one clear line). */
export function validateSpec(s: ModelSpec): void {
  const posInt = (v: number, name: string) => {
    if (!Number.isInteger(v) || v < 1 || v > 1_000_000)
      throw new UserError(`${name} must be a positive integer, got ${v}`);
  };
  posInt(s.vocabSize, "vocabulary size");
  posInt(s.blockSize, "block size");
  posInt(s.nEmbd, "embedding size");
  posInt(s.nHidden, "hidden width");
  if (!Number.isInteger(s.depth) || s.depth < 0 || s.depth > 100)
    throw new UserError(`depth must be 0..100, got ${s.depth}`);
  if (!Number.isFinite(s.gain)) throw new UserError(`gain must be a finite number, got ${s.gain}`);
  if (!Number.isFinite(s.lastLayerScale))
    throw new UserError(`last-layer scale must be finite, got ${s.lastLayerScale}`);
  if (s.bnEps !== undefined && !(s.bnEps >= 0 && s.bnEps <= 1))
    throw new UserError(`BatchNorm eps must be in [0, 1], got ${s.bnEps}`);
  if (s.bnMomentum !== undefined && !(s.bnMomentum > 0 && s.bnMomentum <= 1))
    throw new UserError(`BatchNorm momentum must be in (0, 1], got ${s.bnMomentum}`);
  if (s.nHidden * Math.max(s.nHidden, s.nEmbd * s.blockSize) * Math.max(1, s.depth) > 2e8) {
    throw new UserError("the model is too large for this tool (more than 200M weights)");
  }
}

/** Build a model from its spec, drawing the initial weights from `g` in the lecture's order. */
export function buildModel(spec: ModelSpec, g: Generator): MLP {
  validateSpec(spec);
  switch (spec.type) {
    case "original":
    case "fix-softmax":
    case "fix-tanh":
    case "kaiming":
      return buildLectureChain(spec, g);
    case "batchnorm":
      return buildLectureBatchNorm(spec, g);
    default:
      return buildCustom(spec, g);
  }
}

/**
 * The lecture's first network and its fixes, exactly as the notebook writes them:
 *   C  = randn((V, 10));  W1 = randn((30, 200)) * s1;  b1 = randn(200) * sb1
 *   W2 = randn((200, V)) * s2;  b2 = randn(V) * sb2
 * original: no scaling (initial loss about 27); fix-softmax: W2 * 0.01, b2 * 0;
 * fix-tanh: also W1 * 0.2, b1 * 0.01; kaiming: W1 * (5/3) / sqrt(30), b1 * 0.01.
 */
function buildLectureChain(spec: ModelSpec, g: Generator): MLP {
  const { vocabSize: V, blockSize: T, nEmbd: E, nHidden: H, type } = spec;
  const C = randn([V, E], { generator: g });
  let W1 = randn([E * T, H], { generator: g });
  let b1 = randn([H], { generator: g });
  let W2 = randn([H, V], { generator: g });
  let b2 = randn([V], { generator: g });
  if (type !== "original") {
    W2 = W2.mul(0.01);
    b2 = b2.mul(0);
  }
  if (type === "fix-tanh") {
    W1 = W1.mul(0.2);
    b1 = b1.mul(0.01);
  }
  if (type === "kaiming") {
    W1 = W1.mul(5 / 3).div((E * T) ** 0.5); // two float32 ops, as Python evaluates them
    b1 = b1.mul(0.01);
  }
  return new MLP(
    spec,
    new Embedding(V, E, { weight: C }),
    new Sequential([
      new Linear(E * T, H, { weight: W1, biasInit: b1 }),
      new Tanh(),
      new Linear(H, V, { weight: W2, biasInit: b2 }),
    ]),
  );
}

/**
 * The lecture's BatchNorm MLP (12,097 parameters for V = 27):
 *   C = randn((V, 10)); W1 = randn((30, 200)) * (5/3) / sqrt(30); W2 = randn((200, V)) * 0.01;
 *   b2 = randn(V) * 0; bngain = ones((1, 200)); bnbias = zeros((1, 200)); no b1 (with --bias, the
 *   notebook's commented-out b1 = randn(200) * 0.01 after W1: 12,297 parameters).
 * BatchNorm divides by the unbiased batch std (no eps; with --bn-eps, sqrt(var + eps)) and tracks
 * running mean/std with momentum 0.001.
 */
function buildLectureBatchNorm(spec: ModelSpec, g: Generator): MLP {
  const { vocabSize: V, blockSize: T, nEmbd: E, nHidden: H } = spec;
  const C = randn([V, E], { generator: g });
  const W1 = randn([E * T, H], { generator: g })
    .mul(5 / 3)
    .div((E * T) ** 0.5);
  // the notebook's commented-out `#b1 = torch.randn(n_hidden, generator=g) * 0.01`, drawn right
  // after W1 when --bias keeps it (and `hpreact = embcat @ W1 + b1`)
  const b1 = spec.bias ? randn([H], { generator: g }).mul(0.01) : null;
  const W2 = randn([H, V], { generator: g }).mul(0.01);
  const b2 = randn([V], { generator: g }).mul(0);
  return new MLP(
    spec,
    new Embedding(V, E, { weight: C }),
    new Sequential([
      new Linear(E * T, H, b1 ? { weight: W1, biasInit: b1 } : { weight: W1, bias: false }),
      new BatchNorm1d(H, { variant: "lecture-std", keepdimParams: true, ...bnOptions(spec) }),
      new Tanh(),
      new Linear(H, V, { weight: W2, biasInit: b2 }),
    ]),
  );
}

/**
 * The general builder, which is also the lecture's 6-layer network (`deep-bn`, `deep-tanh`):
 *   C = randn((V, E)); then for each layer, in order, Linear weight = randn((fan_in, fan_out)) / sqrt(fan_in)
 * and then, as the notebook does under no_grad: the output BatchNorm's gamma *= lastLayerScale
 * (or, without it, the output Linear's weight *= lastLayerScale), and every other Linear weight *= gain.
 */
export function buildCustom(spec: ModelSpec, g: Generator): MLP {
  const { vocabSize: V, blockSize: T, nEmbd: E, nHidden: H, depth } = spec;
  const bn = spec.batchnorm;
  const C = randn([V, E], { generator: g }); // the notebook draws C before the layers
  const layers: Module[] = [];
  const linears: Linear[] = [];
  const makeLinear = (i: number, o: number) => {
    const l = new Linear(i, o, { generator: g, bias: spec.bias });
    linears.push(l);
    return l;
  };
  let fanIn = E * T;
  for (let d = 0; d < depth; d++) {
    layers.push(makeLinear(fanIn, H));
    if (bn !== "none") layers.push(new BatchNorm1d(H, { variant: bn, ...bnOptions(spec) }));
    if (spec.nonlinearity === "tanh") layers.push(new Tanh());
    else if (spec.nonlinearity === "relu") layers.push(new ReLU());
    fanIn = H;
  }
  const last = makeLinear(fanIn, V);
  layers.push(last);
  const outBn =
    bn !== "none" && spec.outputBatchnorm ? new BatchNorm1d(V, { variant: bn, ...bnOptions(spec) }) : null;
  if (outBn) layers.push(outBn);
  noGrad(() => {
    if (spec.zeroInit) for (const l of linears) l.weight.zero_();
    // layers[-1].gamma *= 0.1 (with an output BatchNorm) or layers[-1].weight *= 0.1 (without);
    // then `for layer in layers[:-1]: if Linear: weight *= gain` -- which includes the output
    // Linear when an output BatchNorm follows it.
    if (outBn) outBn.gamma.mul_(spec.lastLayerScale);
    else last.weight.mul_(spec.lastLayerScale);
    for (const l of linears) if (l !== last || outBn) l.weight.mul_(spec.gain);
  });
  return new MLP(spec, new Embedding(V, E, { weight: C }), new Sequential(layers));
}

// ---------------------------------------------------------------- the family (src/models/index.ts)

const BATCHNORMS = ["none", "torch", "lecture", "lecture-std"] as const;
const NONLINEARITIES = ["tanh", "relu", "none"] as const;

/** The flags only the general builder takes (the presets fix them). */
const BUILDER_FLAGS = ["depth", "batchnorm", "nonlinearity", "gain", "last-layer-scale", "zero-init"];

/** The lecture MLPs: the presets and the general builder, "window" models (X (B, T) -> (B, V)). */
export const MLP_FAMILY: ModelFamily<ModelSpec> = {
  name: "mlp",
  types: [
    { type: "original", summary: "the lecture's first MLP, unscaled randn init (initial loss about 27.9)" },
    { type: "fix-softmax", summary: "W2 * 0.01, b2 * 0: the initial loss drops to 3.32" },
    { type: "fix-tanh", summary: "also W1 * 0.2, b1 * 0.01: no more saturated tanh" },
    { type: "kaiming", summary: "W1 * (5/3)/sqrt(30)" },
    { type: "batchnorm", summary: "the lecture's BatchNorm MLP (the default)" },
    { type: "deep-bn", summary: "the 6-layer net with BatchNorm" },
    { type: "deep-tanh", summary: "the 6-layer net without BatchNorm" },
    { type: "custom", summary: "the general builder: --depth, --n-hidden, --batchnorm, --nonlinearity, ..." },
  ],
  data: "window",
  flags: [
    { name: "block-size", kind: "int", min: 1, max: 64, help: "context length in characters (default 3)" },
    { name: "n-embd", kind: "int", min: 1, max: 4096, help: "embedding size per character (default 10)" },
    {
      name: "n-hidden",
      kind: "int",
      min: 1,
      max: 65536,
      help: "hidden width (default 200, 100 for deep-*)",
    },
    { name: "depth", kind: "int", min: 0, max: 100, help: "hidden layers (custom only; default 5)" },
    {
      name: "batchnorm",
      kind: "choice",
      choices: BATCHNORMS,
      help: "none | torch | lecture | lecture-std (custom only; default none)",
    },
    {
      name: "nonlinearity",
      kind: "choice",
      choices: NONLINEARITIES,
      help: "tanh | relu | none (custom only; default tanh)",
    },
    { name: "gain", kind: "number", help: "hidden weight gain (custom only; default 5/3)" },
    {
      name: "last-layer-scale",
      kind: "number",
      help: "scale of the output layer at init (custom only; default 0.1)",
    },
    { name: "zero-init", kind: "boolean", help: "all Linear weights start at zero (custom only)" },
    {
      name: "bias",
      kind: "boolean",
      help: "keep the Linear biases before each BatchNorm (the lecture drops them; batchnorm: the notebook's commented-out b1)",
    },
    {
      name: "bn-eps",
      kind: "number",
      min: 0,
      max: 1,
      help: "every BatchNorm's eps (default 1e-5; the batchnorm preset's lecture-std: 0, the notebook's std; else sqrt(var + eps))",
    },
    {
      name: "bn-momentum",
      kind: "number",
      min: 0,
      exclusiveMin: true,
      max: 1,
      help: "every BatchNorm's running-statistics momentum (default 0.001 for lecture-std, else 0.1)",
    },
  ],
  spec(type: string, f: FlagValues, data: DataFacts): ModelSpec {
    const preset = type as ModelType;
    if (preset !== "custom") {
      for (const name of BUILDER_FLAGS) {
        if (f[name] !== undefined)
          throw new UserError(`--${name} only applies to --type custom (the presets fix it)`, 2);
      }
    }
    const base = presetSpec(preset, data.vocabSize, (f["block-size"] as number | undefined) ?? 3);
    const spec: ModelSpec = {
      ...base,
      nEmbd: (f["n-embd"] as number | undefined) ?? base.nEmbd,
      nHidden: (f["n-hidden"] as number | undefined) ?? base.nHidden,
      depth: (f.depth as number | undefined) ?? base.depth,
      batchnorm: (f.batchnorm as ModelSpec["batchnorm"] | undefined) ?? base.batchnorm,
      nonlinearity: (f.nonlinearity as ModelSpec["nonlinearity"] | undefined) ?? base.nonlinearity,
      gain: (f.gain as number | undefined) ?? base.gain,
      lastLayerScale: (f["last-layer-scale"] as number | undefined) ?? base.lastLayerScale,
      zeroInit: f["zero-init"] === true,
    };
    if (preset === "custom") {
      spec.bias = spec.batchnorm === "none";
      spec.outputBatchnorm = spec.batchnorm !== "none";
    }
    // BatchNorm knobs: every variant takes a momentum and an eps
    for (const name of ["bn-eps", "bn-momentum"]) {
      if (f[name] !== undefined && spec.batchnorm === "none")
        throw new UserError(`--${name} applies to a model with BatchNorm (--type ${type} has none)`, 2);
    }
    // lecture-std (the batchnorm preset): eps goes inside the root, sqrt(var + eps); 0 is the notebook's std
    if (f["bn-eps"] !== undefined) spec.bnEps = f["bn-eps"] as number;
    if (f["bn-momentum"] !== undefined) spec.bnMomentum = f["bn-momentum"] as number;
    if (f.bias === true) spec.bias = true;
    return spec;
  },
  checkSpec(m: Record<string, unknown>): ModelSpec {
    const bad = (field: string, what: string) =>
      new UserError(`model.${field} ${what}, got ${JSON.stringify(m[field])}`);
    if (!PRESETS.includes(m.type as ModelType)) throw bad("type", `must be one of ${PRESETS.join(", ")}`);
    for (const k of ["vocabSize", "blockSize", "nEmbd", "nHidden"]) {
      if (!Number.isInteger(m[k]) || (m[k] as number) < 1) throw bad(k, "must be a positive integer");
    }
    if (!Number.isInteger(m.depth) || (m.depth as number) < 0 || (m.depth as number) > 100)
      throw bad("depth", "must be a whole number from 0 to 100");
    if (!BATCHNORMS.includes(m.batchnorm as never))
      throw bad("batchnorm", `must be one of ${BATCHNORMS.join(", ")}`);
    if (!NONLINEARITIES.includes(m.nonlinearity as never))
      throw bad("nonlinearity", `must be one of ${NONLINEARITIES.join(", ")}`);
    for (const k of ["gain", "lastLayerScale"])
      if (!Number.isFinite(m[k])) throw bad(k, "must be a finite number");
    for (const k of ["outputBatchnorm", "zeroInit", "bias"]) {
      if (typeof m[k] !== "boolean") throw bad(k, "must be true or false");
    }
    // optional (runs from before the knobs have neither): absent = the variant's default
    if (m.bnEps !== undefined && !(typeof m.bnEps === "number" && m.bnEps >= 0 && m.bnEps <= 1))
      throw bad("bnEps", "must be a number from 0 to 1");
    if (
      m.bnMomentum !== undefined &&
      !(typeof m.bnMomentum === "number" && m.bnMomentum > 0 && m.bnMomentum <= 1)
    )
      throw bad("bnMomentum", "must be a number in (0, 1]");
    const spec = m as unknown as ModelSpec;
    validateSpec(spec);
    return spec;
  },
  build: buildModel,
};
