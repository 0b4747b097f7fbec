/**
 * The lecture's measurements of a network's health, taken after a training step:
 *
 *   forward   for each layer: layer.out mean, std, % saturated (|t| > 0.97, tanh), histogram
 *   backward  for each layer: layer.out.grad mean, std, histogram (needs retainOutGrad)
 *   weights   for each parameter: grad mean, std, grad:data = std(grad) / std(data), histogram
 *   updates   every step: log10(std(lr * grad) / std(data)) per parameter (the lecture's `ud`)
 *   saturation map  |h| > 0.99 over (batch x units) for tanh layers, and the units dead for all
 *
 * Statistics follow PyTorch's definitions (std is unbiased; histogram as
 * torch.histogram(t, density=True) with 100 bins), so they compare with the lecture's printouts.
 */

import { MakemoreModel } from "../models/makemore.ts";
import type { LanguageModel } from "../models/model.ts";
import type { Module } from "../nn/modules.ts";
import { kernels } from "../tensor/kernels.ts";
import { histogram, type Tensor } from "../tensor/tensor.ts";
import type {
  ActivationStats,
  DiagnosticsSnapshot,
  GradientStats,
  Histogram,
  ParameterStats,
  SaturationMap,
  UpdateRatios,
} from "./types.ts";

/** Threshold of the lecture's "saturated" percentage for tanh outputs. */
export const SATURATION_THRESHOLD = 0.97;
/** Threshold of the lecture's saturation image (`h.abs() > 0.99`). */
export const SATURATION_MAP_THRESHOLD = 0.99;
const BINS = 100;

/** mean and unbiased std of a float array, accumulated in float64. */
export function meanStd(x: Float32Array): { mean: number; std: number } {
  const n = x.length;
  let s = 0;
  for (let i = 0; i < n; i++) s += x[i];
  const mean = s / n;
  let ss = 0;
  for (let i = 0; i < n; i++) {
    const d = x[i] - mean;
    ss += d * d;
  }
  return { mean, std: n > 1 ? Math.sqrt(ss / (n - 1)) : 0 };
}

function hist(t: Tensor): Histogram {
  const { hist: h, binEdges } = histogram(t, BINS, { density: true });
  return { counts: Array.from(h.storage), edges: Array.from(binEdges.storage) };
}

function kindOf(m: Module): string {
  return m.constructor.name;
}

/** Turn on `.out.grad` retention for every layer (call before the training step you measure). */
export function retainLayerGrads(model: LanguageModel, on = true): void {
  for (const layer of model.diagnosticLayers()) layer.retainOutGrad = on;
}

/** Share of |t| > threshold, in percent. */
export function saturatedPercent(t: Float32Array, threshold = SATURATION_THRESHOLD): number {
  let n = 0;
  for (let i = 0; i < t.length; i++) if (Math.abs(t[i]) > threshold) n++;
  return (n / t.length) * 100;
}

/**
 * The kind of layer the lecture's tables show: its Tanh layers; a net without any (ReLU, or
 * linear-only) shows its Linear layers, as the lecture does for the net it builds without
 * nonlinearities.
 */
function tableKind(model: LanguageModel): string {
  const kinds = model.diagnosticLayers().map(kindOf);
  return kinds.includes("Tanh") || !kinds.includes("Linear") ? "Tanh" : "Linear";
}

/**
 * Forward statistics of the layers that carry the signal between Linear layers: the lecture
 * plots the Tanh outputs (the Linear outputs of a net without Tanh); with `allLayers` every
 * layer is measured.
 */
export function activationStats(model: LanguageModel, opts: { allLayers?: boolean } = {}): ActivationStats[] {
  const out: ActivationStats[] = [];
  // makemore.py's models (embeddings, LayerNorm, attention, GELU, blocks, the RNN cell, ...) are
  // measured at every layer they list; the lecture's nets plot their Tanh layers
  const all = opts.allLayers === true || model instanceof MakemoreModel;
  const shown = tableKind(model);
  const layers = model.diagnosticLayers();
  layers.forEach((layer, i) => {
    if (!layer.out) return;
    const isTanh = kindOf(layer) === "Tanh";
    // the lecture's tables run over layers[:-1]: never the output layer
    if (!all && (kindOf(layer) !== shown || i === layers.length - 1)) return;
    const x = layer.out.storage;
    const { mean, std } = meanStd(x);
    const att =
      kindOf(layer) === "CausalSelfAttention" && layer.out.ndim === 4 ? attentionEntropy(layer.out) : null;
    out.push({
      layer: i,
      kind: kindOf(layer),
      mean,
      std,
      saturated: isTanh ? saturatedPercent(x) : 0,
      ...(att ? { entropy: att.entropy, entropyShare: att.share } : {}),
      hist: hist(layer.out),
    });
  });
  return out;
}

/**
 * Causal attention weights (B, nh, T, T), row t a distribution over positions 0..t: the mean over
 * rows of H = -sum p ln p (nats), and of H / ln(t + 1) over the rows t >= 1 (the uniform's share).
 */
export function attentionEntropy(att: Tensor): { entropy: number; share: number } {
  const T = att.shape[3];
  const rows = att.numel() / T;
  const p = att.storage;
  let sumH = 0;
  let sumShare = 0;
  for (let r = 0; r < rows; r++) {
    const t = r % T;
    let h = 0;
    for (let s = 0; s <= t; s++) {
      const v = p[r * T + s];
      if (v > 0) h -= v * Math.log(v);
    }
    sumH += h;
    if (t > 0) sumShare += h / Math.log(t + 1);
  }
  return { entropy: sumH / rows, share: T > 1 ? sumShare / ((rows * (T - 1)) / T) : 1 };
}

/** Backward statistics of layer outputs' gradients (requires `retainLayerGrads` before the step). */
export function gradientStats(model: LanguageModel, opts: { allLayers?: boolean } = {}): GradientStats[] {
  const out: GradientStats[] = [];
  const all = opts.allLayers === true || model instanceof MakemoreModel;
  const shown = tableKind(model);
  const layers = model.diagnosticLayers();
  layers.forEach((layer, i) => {
    const g = layer.out?.grad;
    if (!g) return;
    if (!all && (kindOf(layer) !== shown || i === layers.length - 1)) return;
    const { mean, std } = meanStd(g.storage);
    out.push({ layer: i, kind: kindOf(layer), mean, std, hist: hist(g) });
  });
  return out;
}

/** Gradient statistics of every parameter, with the grad:data ratio std(grad) / std(data). */
export function parameterStats(model: LanguageModel): ParameterStats[] {
  const out: ParameterStats[] = [];
  for (const [name, p] of model.namedParameters()) {
    if (!p.grad) continue;
    const g = meanStd(p.grad.storage);
    const d = meanStd(p.storage);
    out.push({
      name,
      shape: p.shape.slice(),
      mean: g.mean,
      std: g.std,
      gradDataRatio: d.std === 0 ? Number.POSITIVE_INFINITY : g.std / d.std,
      hist: hist(p.grad),
    });
  }
  return out;
}

/**
 * |h| > 0.99 over (batch x units) for each tanh layer -- (batch * positions x units) for 3-D
 * activations -- and the units saturated for every row.
 */
export function saturationMaps(model: LanguageModel): SaturationMap[] {
  const out: SaturationMap[] = [];
  model.diagnosticLayers().forEach((layer, i) => {
    if (kindOf(layer) !== "Tanh" || !layer.out || layer.out.ndim < 2) return;
    // (B, H), or (B, T, H) as the WaveNet's: every position of every example is a row
    const H = layer.out.shape[layer.out.ndim - 1];
    const B = layer.out.numel() / H;
    const x = layer.out.storage;
    let bits = "";
    const allSat = new Array<boolean>(H).fill(true);
    for (let r = 0; r < B; r++) {
      for (let c = 0; c < H; c++) {
        const sat = Math.abs(x[r * H + c]) > SATURATION_MAP_THRESHOLD;
        bits += sat ? "1" : "0";
        if (!sat) allSat[c] = false;
      }
    }
    const deadUnits = allSat.flatMap((d, c) => (d ? [c] : []));
    out.push({ layer: i, rows: B, cols: H, bits, deadUnits });
  });
  return out;
}

/** Everything at once (after the step's forward, backward and update). */
export function snapshot(model: LanguageModel, step: number, loss: number): DiagnosticsSnapshot {
  return {
    step,
    loss,
    activations: activationStats(model),
    gradients: gradientStats(model),
    params: parameterStats(model),
    saturation: saturationMaps(model),
  };
}

/**
 * A weight matrix (Linear or Embedding weight), as the lecture's plots select them with
 * `p.ndim == 2`; BatchNorm's gamma and beta are excluded even when shaped (1, H) as in the BN-MLP.
 */
export function isWeightMatrix(name: string, shape: readonly number[]): boolean {
  // "W": the neural bigram's (V, V) table, the notebook's name for its one_hot(x) @ W layer
  return shape.length === 2 && (name.endsWith("weight") || name === "W");
}

/**
 * The lecture's update:data ratio of each parameter: log10(std(lr * grad) / std(data)), about -3
 * for a healthy learning rate. Parameters whose data has zero spread (fresh BatchNorm gamma and
 * beta) are skipped: the ratio is undefined there.
 */
export function updateRatios(
  model: LanguageModel,
  lr: number,
  opts: { weightsOnly?: boolean } = {},
): UpdateRatios {
  const out: UpdateRatios = {};
  for (const [name, p] of model.namedParameters()) {
    if (!p.grad || (opts.weightsOnly && !isWeightMatrix(name, p.shape))) continue;
    const { dataStd, gradStd } = stdPair(p.storage, p.grad.storage);
    if (dataStd === 0 || gradStd === 0) continue;
    out[name] = Math.log10((lr * gradStd) / dataStd);
  }
  return out;
}

/** Reused output of the moments kernel (stdPair runs every step; no allocation). */
const momentsOut = new Float64Array(4);

/**
 * Unbiased std of a parameter and of its gradient in ONE pass (this runs every training step):
 * var = (sum x^2 - (sum x)^2 / n) / (n - 1) in float64. Weights and gradients have means near 0
 * next to their spread, so the cancellation costs nothing measurable (tested against meanStd).
 * The sums come from the `moments` kernel (WebAssembly SIMD when installed).
 */
export function stdPair(w: Float32Array, g: Float32Array): { dataStd: number; gradStd: number } {
  const n = w.length;
  const m = momentsOut;
  kernels().moments(w, g, m);
  if (n < 2) return { dataStd: 0, gradStd: 0 };
  const v = (s: number, ss: number) => Math.sqrt(Math.max(0, (ss - (s * s) / n) / (n - 1)));
  return { dataStd: v(m[0], m[1]), gradStd: v(m[2], m[3]) };
}

/**
 * update:data from the change itself, for optimizers whose update is not lr * grad (AdamW, SGD
 * with momentum or weight decay): log10(std(w_after - w_before) / std(w_after)) per 2-d weight.
 * Adam's first steps move every weight by about lr whatever its gradient (m / sqrt(v) is +-1), so
 * the lecture's lr * grad ratio would say nothing about them. `before` holds the weights as they
 * were (by name, from `copyWeights`); it is overwritten with the change.
 */
export function updateRatiosFromChange(
  model: LanguageModel,
  before: Map<string, Float32Array>,
): UpdateRatios {
  const out: UpdateRatios = {};
  for (const [name, p] of model.namedParameters()) {
    const prev = before.get(name);
    if (!prev) continue;
    const w = p.storage;
    for (let i = 0; i < w.length; i++) prev[i] = w[i] - prev[i];
    const { dataStd, gradStd: changeStd } = stdPair(w, prev);
    if (dataStd === 0 || changeStd === 0) continue;
    out[name] = Math.log10(changeStd / dataStd);
  }
  return out;
}

/** The 2-d weights' values into `into` (allocated on first use), for `updateRatiosFromChange`. */
export function copyWeights(model: LanguageModel, into: Map<string, Float32Array>): void {
  for (const [name, p] of model.namedParameters()) {
    if (!isWeightMatrix(name, p.shape)) continue;
    const buf = into.get(name);
    if (buf && buf.length === p.storage.length) buf.set(p.storage);
    else into.set(name, p.storage.slice());
  }
}
