/**
 * `doctor`: automatic health checks of a network, in the lecture's terms. Each finding carries the
 * measured number, why it matters, and a fix.
 *
 * Two kinds of check:
 *  - of a model (at initialization or at any checkpoint): one training-mode forward and backward on
 *    a minibatch, without changing the model (no update; BatchNorm buffers restored);
 *  - of a run's history: update:data ratios over recent steps, BatchNorm running statistics against
 *    the training set's, the train/val gap.
 *
 * Thresholds were set on the lecture's own networks: they stay silent on the healthy ones (fix-tanh,
 * kaiming, batchnorm, deep-bn, deep-tanh at gain 5/3) and fire on the broken ones (unscaled init,
 * zero init, no nonlinearity, gain 3 and 0.5 tanh stacks, BatchNorm with a precedence slip).
 */

import { ContextWindows, type Examples, exampleBlockSize, exampleCount } from "../data/dataset.ts";
import { Bigram, BigramCounts, bigramFit, bigramSpec } from "../models/bigram.ts";
import { RNN, Transformer } from "../models/makemore.ts";
import { MLP } from "../models/mlp.ts";
import type { LanguageModel } from "../models/model.ts";
import { BatchNorm1d, Embedding, Linear } from "../nn/modules.ts";
import type { Generator } from "../random/generator.ts";
import { noGrad, Tensor } from "../tensor/tensor.ts";
import { calibrateBatchNorm } from "../train/evaluate.ts";
import { gatherBatch } from "../train/train.ts";
import {
  activationStats,
  gradientStats,
  isWeightMatrix,
  meanStd,
  parameterStats,
  retainLayerGrads,
  saturatedPercent,
  saturationMaps,
} from "./measure.ts";
import type { DiagnosticsSnapshot, Finding, MetricsLine } from "./types.ts";

/** Thresholds, named so tests and docs can refer to them. */
export const THRESHOLDS = {
  /** initial loss above this multiple of -ln(1/V) means a confidently wrong softmax */
  initLossFactor: 1.2,
  /** a tanh layer with more than this % of |t| > 0.97 is saturated */
  saturatedPercent: 30,
  /** activation std of the last hidden layer over the first's: below -> shrinking, above -> growing */
  shrinkRatio: 0.5,
  growRatio: 2,
  /** gradient std at the first hidden layer over the last: below -> vanishing, above -> exploding */
  gradShrinkRatio: 1 / 3,
  gradGrowRatio: 3,
  /** a parameter's grad:data this many times away from the median of the hidden weights */
  gradDataOutlier: 20,
  /** update:data (log10) outside this band over recent steps: learning rate too low / too high */
  updateLow: -4,
  updateHigh: -2,
  /** BatchNorm output mean off beta (in units of gamma) or std off |gamma| by more than this share */
  bnTolerance: 0.1,
  /** a (B, T, C) BatchNorm whose batch mean is beta at every position to within this (in gammas) */
  bnPerPosition: 1e-4,
  /** running mean off the training set's by this many stds, or running var off by this factor */
  bnDriftStds: 0.25,
  bnDriftVarFactor: 1.5,
  /** val loss above train loss by more than this */
  gapMax: 0.15,
  /**
   * AdamW's first step moves every weight by about lr (m / sqrt(v) = +-1): a Transformer whose
   * first update:data (log10, median over its weights) is above this, with no warm-up, is at risk
   * (makemore.py's lr 5e-4: -2.2; lr 1e-2: -0.9)
   */
  firstUpdateHigh: -1.5,
  /**
   * an RNN whose gradient of one prediction, k steps later, keeps less than this share at the
   * first hidden state (trained at makemore.py's defaults: 28-36%; at lr 1e-2: 2.5%)
   */
  rnnReach: 0.05,
  /** neural bigram: nats of train nll above the counting model's (the notebook's run: 0.02) */
  bigramGap: 0.1,
} as const;

const fmt = (x: number, d = 2) => (Math.abs(x) >= 1e-3 || x === 0 ? x.toFixed(d) : x.toExponential(1));

export interface CheckOptions {
  /** the run's minibatch size (default 32) */
  batchSize?: number;
  /** the run's length in steps, for risks that grow with it (default 200,000) */
  maxSteps?: number;
  /**
   * The diagnostics snapshot the tables print (train --diagnostics, the report): its saturation
   * figures are used instead of a fresh batch's, so the doctor and the table say the same number.
   */
  snapshot?: DiagnosticsSnapshot | null;
}

/**
 * Check a model by one training-mode forward/backward on a minibatch drawn from `g` (the model is
 * left exactly as it was: no update, BatchNorm buffers and gradients restored).
 */
export function checkModel(
  model: LanguageModel,
  train: Examples,
  g: Generator,
  opts: CheckOptions = {},
): Finding[] {
  const findings: Finding[] = [];
  const B = Math.min(opts.batchSize ?? 32, exampleCount(train));
  const ix = new Tensor(new Float32Array(B), [B], "int64");
  g.randintInto(ix.storage, 0, exampleCount(train));
  const { Xb, Yb } = gatherBatch(train, ix, exampleBlockSize(train));

  const restoreBuffers = saveBuffers(model);
  const grads = model.parameters().map((p) => p.grad);
  const wasTraining = model.training;
  const retained = model.diagnosticLayers().map((l) => l.retainOutGrad);
  model.train();
  retainLayerGrads(model);
  for (const p of model.parameters()) p.grad = null;
  const lossT = model.loss(Xb, Yb);
  if (lossT.requiresGrad) lossT.backward(); // a counted model (bigram-counts) has no parameters
  const loss = lossT.item();

  const V = model.spec.vocabSize;
  const uniform = Math.log(V);
  const layers = model.diagnosticLayers();
  const acts = activationStats(model, { allLayers: true });
  const tanhActs = acts.filter((a) => a.kind === "Tanh");
  const gradsStats = gradientStats(model);
  const params = parameterStats(model);
  const sat = saturationMaps(model);

  // 1. the loss at initialization: -ln(1/V) is what a network that knows nothing should say
  if (!Number.isFinite(loss)) {
    const zeroSpread = explainNonFinite(model);
    findings.push({
      id: "loss-not-finite",
      severity: "error",
      title: `the loss is ${loss}${zeroSpread ? `: ${zeroSpread.cause}` : ""}`,
      measured: { loss: String(loss) },
      why: zeroSpread
        ? "A BatchNorm that divides by the batch std with no eps turns a column with zero spread into 0/0 = NaN; nothing can be learned from it."
        : "A NaN or infinite loss means some activation overflowed; nothing can be learned from it.",
      fix: zeroSpread
        ? `${zeroSpread.fix}.`
        : "Scale the initial weights down (Kaiming: randn / sqrt(fan_in) * gain) and lower the learning rate.",
    });
  } else if (loss > THRESHOLDS.initLossFactor * uniform) {
    findings.push({
      id: "init-loss-high",
      severity: "error",
      title: `loss ${fmt(loss, 4)} is far above -ln(1/${V}) = ${fmt(uniform, 4)}: the softmax is confidently wrong`,
      measured: { loss, expected: uniform, ratio: loss / uniform },
      why: "Before training, every character should be equally likely, giving loss -ln(1/V). A much higher loss means the logits are large and the network is confidently wrong; the first steps are wasted squashing them (the hockey-stick loss curve).",
      fix: "Make the initial logits small: scale the output layer's weights by 0.01 (or 0.1) and start its bias at zero.",
      where: "output layer",
    });
  }

  // 2. saturated tanh layers, and units dead on the whole batch. With a snapshot, its numbers (the
  // table's: the same layer outputs, the same |t| > 0.97) rather than this batch's
  const snap = opts.snapshot;
  const satActs = snap ? snap.activations.filter((a) => a.kind === "Tanh") : tanhActs;
  const atStep = snap ? ` at step ${snap.step}` : "";
  for (const a of satActs) {
    if (a.saturated > THRESHOLDS.saturatedPercent) {
      findings.push({
        id: "tanh-saturated",
        severity: "warning",
        title: `layer ${a.layer} (Tanh): ${fmt(a.saturated)}% of units saturated (|t| > 0.97)${atStep}`,
        measured: { layer: a.layer, saturatedPercent: a.saturated, std: a.std },
        why: "A saturated tanh passes almost no gradient (d tanh = 1 - t^2 ~ 0), so those units barely learn.",
        fix: saturationFix(model),
        where: `layer ${a.layer}`,
      });
    }
  }
  for (const s of sat) {
    if (s.deadUnits.length > 0) {
      findings.push({
        id: "dead-units",
        severity: "warning",
        title: `layer ${s.layer} (Tanh): ${s.deadUnits.length} of ${s.cols} units saturated for every example of the batch`,
        measured: { layer: s.layer, dead: s.deadUnits.length, units: s.cols },
        why: "A unit that is saturated for every input never receives gradient: it is dead and will not learn.",
        fix: "Reduce the pre-activation scale (Kaiming init, smaller gain) or add BatchNorm; a lower learning rate avoids killing units during training.",
        where: `layer ${s.layer}`,
      });
    }
  }

  // 3. activations and gradients shrinking or growing through depth
  const signal = tanhActs.length >= 3 ? tanhActs : acts.filter((a) => a.kind === "Linear").slice(0, -1);
  const actDrift = depthDrift(
    signal,
    (first, last) => last.std / first.std,
    THRESHOLDS.shrinkRatio,
    THRESHOLDS.growRatio,
  );
  if (actDrift) {
    const { first, last, r, grow } = actDrift;
    findings.push({
      id: grow ? "activations-growing" : "activations-shrinking",
      severity: "warning",
      title: `activations ${grow ? "grow" : "shrink"} with depth: std ${fmt(first.std, 3)} at layer ${first.layer} -> ${fmt(last.std, 3)} at layer ${last.layer}`,
      measured: { firstStd: first.std, lastStd: last.std, ratio: r },
      why: grow
        ? "Each layer amplifies its input, so deep activations explode (and saturate any squashing nonlinearity)."
        : "Each layer attenuates its input, so deep activations fade towards zero and the network behaves as if shallower.",
      fix: `Initialise Linear weights with the Kaiming gain for the nonlinearity (5/3 for tanh, 1 for none): randn / sqrt(fan_in) * gain${grow ? " (yours is too large)" : " (yours is too small)"}; or add BatchNorm.`,
    });
  }
  const gradDrift = depthDrift(
    gradsStats,
    (first, last) => first.std / last.std,
    THRESHOLDS.gradShrinkRatio,
    THRESHOLDS.gradGrowRatio,
  );
  if (gradDrift) {
    const { first, last, r, grow } = gradDrift;
    findings.push({
      id: grow ? "gradients-exploding" : "gradients-vanishing",
      severity: "warning",
      title: `gradients ${grow ? "grow" : "shrink"} towards the input: std ${fmt(last.std, 6)} at layer ${last.layer} -> ${fmt(first.std, 6)} at layer ${first.layer}`,
      measured: { firstLayerStd: first.std, lastLayerStd: last.std, ratio: r },
      why: grow
        ? "Early layers receive much larger gradients than late ones and take steps out of proportion."
        : "Early layers receive almost no gradient and learn far more slowly than late ones.",
      fix: "Use the Kaiming gain for the nonlinearity (5/3 for tanh), or BatchNorm, so every layer passes gradients at a similar scale.",
    });
  }

  // 4. parameters that do not learn: zero weights, or a grad:data far from the rest
  const zeroWeights = model
    .diagnosticLayers()
    .filter((l): l is Linear => l instanceof Linear && meanStd(l.weight.storage).std === 0);
  if (zeroWeights.length > 0) {
    const names = model
      .namedParameters()
      .filter(([, p]) => zeroWeights.some((l) => l.weight === p))
      .map(([n]) => n);
    findings.push({
      id: "zero-init",
      severity: "error",
      title: `${names.length} weight matri${names.length === 1 ? "x is" : "ces are"} constant (${names.join(", ")}): the units are symmetric`,
      measured: { constantWeights: names.length },
      why: "With equal weights every unit in a layer computes the same thing and gets the same gradient; with zeros no gradient reaches the earlier layers at all, so only the last layer's bias learns.",
      fix: "Initialise weights randomly: randn / sqrt(fan_in) * gain (Kaiming). Zero init is fine only for biases.",
      where: names[0],
    });
  }
  const hidden = params.filter(
    (p) => isWeightMatrix(p.name, p.shape) && Number.isFinite(p.gradDataRatio) && p.gradDataRatio > 0,
  );
  const output = layers.filter((l) => l instanceof Linear).at(-1) as Linear | undefined;
  const outputName = model.namedParameters().find(([, p]) => p === output?.weight)?.[0];
  // an embedding table is excluded: each step updates only the rows of the batch's characters, so
  // its grad:data is not comparable with a dense layer's (the WaveNet's is ~30x below, healthily)
  const tables = new Set(
    model
      .modules()
      .filter((m) => m instanceof Embedding)
      .map((m) => (m as Embedding).weight),
  );
  const inner = hidden.filter(
    (p) => p.name !== outputName && !tables.has(model.namedParameters().find(([n]) => n === p.name)![1]),
  );
  if (inner.length >= 3) {
    const sorted = inner.map((p) => p.gradDataRatio).sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)];
    for (const p of inner) {
      const f = p.gradDataRatio / median;
      if (f > THRESHOLDS.gradDataOutlier || f < 1 / THRESHOLDS.gradDataOutlier) {
        findings.push({
          id: "grad-data-outlier",
          severity: "warning",
          title: `${p.name} ${shapeText(p.shape)}: grad:data ${p.gradDataRatio.toExponential(2)} is ${fmt(f > 1 ? f : 1 / f, 0)}x ${f > 1 ? "above" : "below"} the other weights' (${median.toExponential(2)})`,
          measured: { name: p.name, gradDataRatio: p.gradDataRatio, median, factor: f },
          why: "With one learning rate for all parameters, a layer whose gradients are out of scale with its weights trains much faster or slower than the rest.",
          fix: "Check that layer's initialisation scale (Kaiming gain); BatchNorm or an adaptive optimiser (Adam) equalises the rates.",
          where: p.name,
        });
      }
    }
  }

  // 5. structure: a stack of Linear layers without nonlinearities is one linear map
  const linears = layers.filter((l) => l instanceof Linear).length;
  const nonlinear = layers.some((l) => ["Tanh", "ReLU"].includes(l.constructor.name));
  if (linears >= 2 && !nonlinear) {
    findings.push({
      id: "no-nonlinearity",
      severity: "warning",
      title: `${linears} Linear layers with no nonlinearity between them`,
      measured: { linearLayers: linears },
      why: "A composition of linear maps is a single linear map: the extra layers add parameters but no expressive power.",
      fix: "Put a nonlinearity (tanh, with Kaiming gain 5/3) after every hidden Linear layer.",
    });
  }

  const perPosition = new Set<BatchNorm1d>();
  // 6. the lecture's "bug in batchnorm" (part 5): on (B, T, H) activations the statistics must be
  // taken over dims (0, 1); taken over dim 0 only, every position is normalised on its own (each
  // (t, c) gets batch mean exactly beta), from B rows instead of B*T
  layers.forEach((l, i) => {
    if (!(l instanceof BatchNorm1d) || !l.out || l.out.ndim !== 3) return;
    const [B, T, H] = l.out.shape;
    if (T < 2 || B < 2) return;
    const y = l.out.storage;
    let worst = 0; // the largest |batch mean at (t, c) - beta_c| / |gamma_c|
    for (let t = 0; t < T; t++) {
      for (let c = 0; c < H; c++) {
        let m = 0;
        for (let b = 0; b < B; b++) m += y[(b * T + t) * H + c];
        const gamma = Math.abs(l.gamma.storage[c]);
        worst = Math.max(worst, Math.abs(m / B - l.beta.storage[c]) / (gamma > 1e-6 ? gamma : 1));
      }
    }
    if (worst < THRESHOLDS.bnPerPosition) {
      perPosition.add(l);
      findings.push({
        id: "batchnorm-per-position",
        severity: "warning",
        title: `layer ${i} (BatchNorm1d) normalises each of its ${T} positions separately: statistics over dim 0 of (B, T, C) only`,
        measured: { layer: i, positions: T, worstPositionMeanOffset: worst },
        why: `Its input is (B, T, C): each of the ${T} positions of every example is a sample of the same C channels. Reducing over dim 0 alone keeps ${T} separate means and variances per channel (running_mean of shape (1, ${T}, C)), each estimated from ${B} rows instead of ${B * T} -- the lecture's "bug in batchnorm".`,
        fix: "Reduce over dims (0, 1) for 3-D input: x.mean((0, 1), keepdim=True), x.var((0, 1), keepdim=True).",
        where: `layer ${i}`,
      });
    }
  });

  // 7. BatchNorm layers must output mean beta and std |gamma| per unit in training mode
  layers.forEach((l, i) => {
    if (!(l instanceof BatchNorm1d) || !l.out || perPosition.has(l)) return;
    // (B, T, H) output: every position of every example is one sample of each channel
    const H = l.out.shape[l.out.ndim - 1];
    const N = l.out.numel() / H;
    const y = l.out.storage;
    let worstMean = 0;
    let worstStd = 0;
    for (let c = 0; c < H; c++) {
      const col = new Float32Array(N);
      for (let r = 0; r < N; r++) col[r] = y[r * H + c];
      const { mean, std } = meanStd(col);
      const gamma = Math.abs(l.gamma.storage[c]);
      const scale = gamma > 1e-6 ? gamma : 1;
      worstMean = Math.max(worstMean, Math.abs(mean - l.beta.storage[c]) / scale);
      if (gamma > 1e-6) worstStd = Math.max(worstStd, Math.abs(std / gamma - 1));
    }
    if (worstMean > THRESHOLDS.bnTolerance || worstStd > THRESHOLDS.bnTolerance) {
      findings.push({
        id: "batchnorm-not-normalising",
        severity: "error",
        title: `layer ${i} (BatchNorm1d) does not normalise: output mean off beta by ${fmt(worstMean)} gamma, std off gamma by ${fmt(worstStd * 100, 0)}%`,
        measured: { layer: i, meanOffset: worstMean, stdOffset: worstStd },
        why: "In training mode a BatchNorm's output must have, per unit, the batch mean beta and std |gamma|. It does not, so its formula is wrong.",
        fix: "Check the operator precedence: gamma * (x - mean) / std + beta, not gamma * (x - mean / std) + beta.",
        where: `layer ${i}`,
      });
    }
  });

  // 7. a BatchNorm without eps divides by the batch std: a batch column with zero spread is 0/0
  findings.push(...checkZeroSpread(model, train, B, opts.maxSteps ?? 200_000));

  // restore the model exactly
  restoreBuffers();
  model.parameters().forEach((p, k) => {
    p.grad = grads[k];
  });
  model.diagnosticLayers().forEach((l, k) => {
    l.retainOutGrad = retained[k];
  });
  model.train(wasTraining);
  return findings;
}

/**
 * The saturation fix for this model: what it does not already have. Kaiming init (randn /
 * sqrt(fan_in) * 5/3) is what the lecture's later nets use, so for them saturation that appears
 * during training points at the learning rate or the missing BatchNorm instead.
 */
function saturationFix(model: LanguageModel): string {
  if (!(model instanceof MLP))
    return "Shrink the pre-activations: a smaller init scale, a normalisation layer before the tanh, or a lower learning rate.";
  const s = model.spec;
  const kaiming =
    s.type !== "original" && s.type !== "fix-softmax" && s.type !== "fix-tanh" && s.gain <= GAIN_TANH + 1e-9;
  const hasBn = s.batchnorm !== "none";
  const fixes: string[] = [];
  if (!kaiming)
    fixes.push(
      s.gain > GAIN_TANH + 1e-9
        ? `a smaller gain (yours is ${fmt(s.gain)}; Kaiming's for tanh is 5/3)`
        : "Kaiming init (randn / sqrt(fan_in) * 5/3)",
    );
  if (!hasBn)
    fixes.push("BatchNorm before each tanh (--type deep-bn, or --batchnorm torch with --type custom)");
  fixes.push(
    kaiming
      ? "a lower learning rate: the init is already Kaiming (gain 5/3), so the pre-activations grew during training"
      : "a lower learning rate",
  );
  return `Shrink the pre-activations: ${fixes.join("; or ")}.`;
}

const GAIN_TANH = 5 / 3;

/**
 * The chance that training meets a batch whose rows are all the same example context, for each
 * BatchNorm with eps = 0 (the lecture's BN-MLP divides by the unbiased batch std, no eps): then
 * every column entering it has zero spread and (x - mean) / std is 0/0 = NaN. With contexts c
 * drawn with frequency p_c, a batch of B is all one context with probability q = sum_c p_c^B, and
 * a run of S steps meets one with probability 1 - (1 - q)^S.
 */
export function checkZeroSpread(
  model: LanguageModel,
  train: Examples,
  batchSize: number,
  maxSteps: number,
): Finding[] {
  const noEps = model
    .diagnosticLayers()
    .map((l, i) => [i, l] as const)
    .filter(([, l]) => l instanceof BatchNorm1d && l.eps === 0) as [number, BatchNorm1d][];
  const N = exampleCount(train);
  if (noEps.length === 0 || N === 0) return [];
  // count the distinct contexts row by row (the windows are not materialised for this)
  const T = exampleBlockSize(train);
  const row = new Float32Array(T);
  const counts = new Map<string, number>();
  for (let r = 0; r < N; r++) {
    if (train instanceof ContextWindows) train.context(r, row);
    else row.set(train.X.storage.subarray(r * T, (r + 1) * T));
    const key = row.join(",");
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  let q = 0;
  let top = 0;
  for (const c of counts.values()) {
    q += (c / N) ** batchSize;
    top = Math.max(top, c);
  }
  const pRun = -Math.expm1(maxSteps * Math.log1p(-Math.min(q, 1 - 1e-16)));
  if (pRun < 0.01) return [];
  const [i, bn] = noEps[0];
  return [
    {
      id: "batchnorm-zero-spread",
      severity: pRun >= 0.5 ? "error" : "warning",
      title: `layer ${i} (BatchNorm1d, ${bn.variant}, eps 0): ${fmt(pRun * 100, 0)}% chance of a batch with zero spread within ${maxSteps} steps (one context is ${fmt((top / N) * 100, 1)}% of the training set; batch ${batchSize})`,
      measured: { layer: i, perStep: q, perRun: pRun, topContextShare: top / N, batchSize },
      why: "This BatchNorm divides by the batch std with no eps. A batch whose rows are all the same context gives every column zero spread, and (x - mean) / std becomes 0/0 = NaN: training stops, whatever the learning rate.",
      fix: `${zeroSpreadFix(bn)}.`,
      where: `layer ${i}`,
    },
  ];
}

/** The fixes for a zero-spread batch: the lecture-std BatchNorm has no eps to add (it is the notebook's). */
function zeroSpreadFix(bn: BatchNorm1d): string {
  const eps =
    bn.variant === "lecture-std"
      ? "a BatchNorm with an eps (--type custom --batchnorm torch: biased var + 1e-5)"
      : "an eps (--bn-eps 1e-5)";
  return `Use a larger --batch-size, ${eps}, or train on more (and more varied) data`;
}

/**
 * Why the loss became NaN, when the cause is a BatchNorm without eps meeting a batch column with
 * zero spread (0/0): the layer, how many columns, and the fixes. null when that is not the cause.
 * Reads the layers' last outputs (`layer.out`, kept by every layer).
 */
export function explainNonFinite(model: LanguageModel): { cause: string; fix: string } | null {
  const layers = model.diagnosticLayers();
  for (let i = 0; i < layers.length; i++) {
    const bn = layers[i];
    if (!(bn instanceof BatchNorm1d) || bn.eps !== 0) continue;
    const input = i > 0 ? layers[i - 1].out : null;
    if (!input) continue;
    if (input.shape.length !== 2) continue;
    const [B, H] = input.shape;
    const x = input.storage;
    let flat = 0;
    for (let c = 0; c < H; c++) {
      let same = true;
      for (let r = 1; r < B && same; r++) same = x[r * H + c] === x[c];
      if (same && Number.isFinite(x[c])) flat++;
    }
    if (flat === 0) continue;
    return {
      cause: `${flat} of ${H} columns of the batch entering layer ${i} (BatchNorm1d, ${bn.variant}) had zero spread (all ${B} rows equal), and this BatchNorm divides by the batch std with no eps: (x - mean) / std = 0/0`,
      fix: `${zeroSpreadFix(bn)}; a lower learning rate does not help`,
    };
  }
  return null;
}

/** Copy the model's buffers (BatchNorm running statistics); the returned function puts them back. */
function saveBuffers(model: LanguageModel): () => void {
  const saved = model.buffers().map((b) => b.storage.slice());
  return () => {
    model.buffers().forEach((b, k) => {
      b.storage.set(saved[k]);
    });
  };
}

function shapeText(shape: readonly number[]): string {
  return `(${shape.join(", ")})`;
}

/**
 * Checks of a run's history: the update:data ratios of the 2-d weights over the most recent steps
 * (the lecture's plot; the output layer settles within the first hundreds of steps, so early steps
 * are left out), and the train/val gap of the periodic evaluations or final split losses.
 */
export function checkHistory(
  metrics: readonly MetricsLine[],
  final?: { train?: number; val?: number },
): Finding[] {
  const findings: Finding[] = [];
  const withUd = metrics.filter((m) => m.ud);
  if (withUd.length >= 200) {
    const recent = withUd.slice(-Math.min(1000, Math.floor(withUd.length / 2)));
    const names = Object.keys(recent[recent.length - 1].ud ?? {}).filter((n) => n.endsWith("weight"));
    const medians: Record<string, number> = {};
    for (const n of names) {
      const vals = recent.map((m) => m.ud?.[n]).filter((v): v is number => Number.isFinite(v));
      if (vals.length) medians[n] = vals.sort((a, b) => a - b)[Math.floor(vals.length / 2)];
    }
    const all = Object.values(medians);
    if (all.length) {
      const typical = all.sort((a, b) => a - b)[Math.floor(all.length / 2)];
      const steps = `${recent[0].step}-${recent[recent.length - 1].step}`;
      if (typical < THRESHOLDS.updateLow) {
        findings.push({
          id: "learning-rate-low",
          severity: "warning",
          title: `update:data ratios are about 10^${fmt(typical)} (steps ${steps}), far below 10^-3: the learning rate is too low`,
          measured: { medianLog10: typical },
          why: "Each step changes the weights by only a tiny fraction of their size, so training crawls.",
          fix: "Raise the learning rate (try 10x) until the update:data ratios sit near 1e-3 (log10 -3).",
        });
      } else if (typical > THRESHOLDS.updateHigh) {
        findings.push({
          id: "learning-rate-high",
          severity: "warning",
          title: `update:data ratios are about 10^${fmt(typical)} (steps ${steps}), far above 10^-3: the learning rate is too high`,
          measured: { medianLog10: typical },
          why: "Each step changes the weights by a large fraction of their size, so training is unstable.",
          fix: "Lower the learning rate (try 10x smaller) until the update:data ratios sit near 1e-3 (log10 -3).",
        });
      }
    }
  }
  const evals = metrics.filter((m) => m.train_loss !== undefined && m.val_loss !== undefined);
  const last =
    final?.train !== undefined && final.val !== undefined
      ? { train_loss: final.train, val_loss: final.val }
      : evals.at(-1);
  if (last && last.train_loss !== undefined && last.val_loss !== undefined) {
    const gap = last.val_loss - last.train_loss;
    const firstGap = evals.length >= 2 ? evals[0].val_loss! - evals[0].train_loss! : gap;
    if (gap > THRESHOLDS.gapMax) {
      findings.push({
        id: "overfitting",
        severity: "warning",
        title: `val loss ${fmt(last.val_loss, 4)} is ${fmt(gap, 3)} above train loss ${fmt(last.train_loss, 4)}${evals.length >= 2 ? ` (the gap was ${fmt(firstGap, 3)})` : ""}`,
        measured: { train: last.train_loss, val: last.val_loss, gap, firstGap },
        why: "The model fits the training words better than new ones: it is memorising rather than generalising.",
        fix: "Use a smaller model, more data, or stop earlier (watch val loss with --eval-every).",
      });
    }
  }
  return findings;
}

/**
 * BatchNorm running statistics against the training set's (meaningful after training: at
 * initialization they are still the defaults 0 and 1).
 */
export function checkBatchNormDrift(model: LanguageModel, train: Examples): Finding[] {
  if (!(model instanceof MLP)) return []; // calibration is defined for the MLP's BatchNorms
  const bns = model
    .diagnosticLayers()
    .map((l, i) => [i, l] as const)
    .filter(([, l]) => l instanceof BatchNorm1d) as [number, BatchNorm1d][];
  if (bns.length === 0) return [];
  const restoreBuffers = saveBuffers(model);
  const running = bns.map(([, l]) => ({
    mean: l.runningMean.storage.slice(),
    spread: l.runningSpread.storage.slice(),
  }));
  noGrad(() => calibrateBatchNorm(model, train));
  const findings: Finding[] = [];
  bns.forEach(([i, l], k) => {
    const std = (v: number) => (l.variant === "lecture-std" ? v : Math.sqrt(v));
    let worstMean = 0;
    let worstVar = 1;
    for (let c = 0; c < l.dim; c++) {
      const trueStd = std(l.runningSpread.storage[c]);
      if (trueStd <= 0) continue;
      worstMean = Math.max(worstMean, Math.abs(running[k].mean[c] - l.runningMean.storage[c]) / trueStd);
      const ratio = std(running[k].spread[c]) / trueStd;
      worstVar = Math.max(worstVar, ratio, 1 / ratio);
    }
    if (worstMean > THRESHOLDS.bnDriftStds || worstVar > THRESHOLDS.bnDriftVarFactor) {
      findings.push({
        id: "batchnorm-running-drift",
        severity: "warning",
        title: `layer ${i} (BatchNorm1d): running statistics differ from the training set's (mean off by ${fmt(worstMean)} std, std off by ${fmt(worstVar)}x)`,
        measured: { layer: i, meanOffsetStds: worstMean, stdFactor: worstVar },
        why: "In eval mode BatchNorm normalises with its running statistics; if they do not match the data, eval-mode outputs (split losses, samples) are off.",
        fix: "Calibrate the statistics over the training set (makemore eval --calibrate, or train --calibrate), or train longer / raise the momentum.",
        where: `layer ${i}`,
      });
    }
  });
  restoreBuffers();
  return findings;
}

/**
 * The neural bigram after training (part 1): it can reach the counting model's nll (its optimum,
 * softmax(W_i) = N_i / sum N_i); the notebook's 100 steps at lr 50 end 0.02 above it. Further off,
 * either the descent has not converged (the learning rate or the steps) or it has converged to an
 * optimum that the regularization moved away from the counts.
 */
export function checkBigramFit(model: LanguageModel, train: Examples, step: number): Finding[] {
  if (model instanceof BigramCounts) return checkBigramCounts(model, train); // counted, never stepped
  // a neural bigram before its first step is far from the counts by construction, not by mistake
  if (!(model instanceof Bigram) || step === 0 || exampleCount(train) === 0) return [];
  const f = bigramFit(model, train.X, train.Y);
  const gap = f.nll - f.optimum;
  if (!(gap > THRESHOLDS.bigramGap)) return [];
  const converged = f.gradRatio < 0.5;
  const reg = model.spec.regularization;
  return [
    {
      id: converged ? "bigram-over-regularized" : "bigram-not-converged",
      severity: "warning",
      title: `train nll ${fmt(f.nll, 4)} is ${fmt(gap, 3)} above the counting model's ${fmt(f.optimum, 4)}, the best this table can do${converged ? `: converged, held back by the regularization ${reg}` : ": still descending"}`,
      measured: { nll: f.nll, optimum: f.optimum, gap, gradRatio: f.gradRatio, regularization: reg },
      why: converged
        ? "The loss adds regularization * mean(W^2), which pulls every row of W towards uniform (like adding counts to every cell); this strong, it outweighs what the data says."
        : "Full-batch gradient descent on this table is a convex problem that ends at the counts; the loss is still falling, so the learning rate is too low (or the steps too few) to get there.",
      fix: converged
        ? "Lower --regularization (the notebook uses 0.01)."
        : "Raise --learning-rate (the notebook uses 50 for this full-batch descent) or train for more --max-steps.",
      where: "W",
    },
  ];
}

/**
 * The counting bigram (part 1): without smoothing a pair never seen in training (the lecture's
 * "jq") has probability 0, so any word containing it scores log 0 = -inf; with too much, P flattens
 * towards uniform and the train nll rises above the unsmoothed table's.
 */
function checkBigramCounts(model: BigramCounts, train: Examples): Finding[] {
  const s = model.spec.smoothing;
  const n = model.counts.storage;
  const V = model.spec.vocabSize;
  const findings: Finding[] = [];
  if (s === 0) {
    // rows never seen as a context are never asked for; count the zero cells of the others
    let zeros = 0;
    let example = "";
    for (let i = 0; i < V; i++) {
      let row = 0;
      for (let j = 0; j < V; j++) row += n[i * V + j];
      if (row === 0) continue;
      for (let j = 0; j < V; j++) {
        if (n[i * V + j] !== 0) continue;
        zeros++;
        example ||= `(${i}, ${j})`;
      }
    }
    if (zeros > 0) {
      findings.push({
        id: "bigram-zero-probability",
        severity: "error",
        title: `${zeros} of the pairs after a seen character never occur in training and get probability 0 (no smoothing): any word with one scores loss inf`,
        measured: { zeroPairs: zeros, smoothing: s, example },
        why: "P = N / rowsum gives an unseen pair exactly 0, and log 0 = -inf: a single such pair in a validation word makes its whole loss infinite (the lecture's 'jq').",
        fix: "Smooth the counts: --smoothing 1 (the notebook's N + 1).",
      });
    }
    return findings;
  }
  if (exampleCount(train) === 0) return findings;
  const nll = -model.logLikelihood(train.X, train.Y).logLikelihood64 / exampleCount(train);
  const optimum =
    -new BigramCounts(bigramSpec("bigram-counts", V, { smoothing: 0 }))
      .fit(train.X, train.Y)
      .logLikelihood(train.X, train.Y).logLikelihood64 / exampleCount(train);
  if (nll - optimum > THRESHOLDS.bigramGap) {
    findings.push({
      id: "bigram-over-smoothed",
      severity: "warning",
      title: `train nll ${fmt(nll, 4)} is ${fmt(nll - optimum, 3)} above the unsmoothed counts' ${fmt(optimum, 4)}: smoothing ${s} flattens P towards uniform (${fmt(Math.log(V), 4)})`,
      measured: { nll, optimum, smoothing: s },
      why: "Adding s to every count moves each row of P towards uniform; a small s only removes the zeros, a large one drowns the counts.",
      fix: "Use a small --smoothing (the notebook's 1).",
    });
  }
  return findings;
}

/** Order for display: errors first. */
export function sortFindings(findings: Finding[]): Finding[] {
  const rank = { error: 0, warning: 1, info: 2 } as const;
  return findings.slice().sort((a, b) => rank[a.severity] - rank[b.severity]);
}

/** One finding as text: the headline with its number, then why and fix. */
export function formatFinding(f: Finding): string {
  return `${f.severity.toUpperCase()} ${f.title}\n  why: ${f.why}\n  fix: ${f.fix}`;
}

/**
 * How the scale drifts through depth: `ratio(first, last)` of a series of 3 or more layers' stats,
 * when it leaves [lo, hi] (grow: above 1). Null when the series is short or the ratio is in range.
 */
function depthDrift<T extends { std: number; layer: number }>(
  series: readonly T[],
  ratio: (first: T, last: T) => number,
  lo: number,
  hi: number,
): { first: T; last: T; r: number; grow: boolean } | null {
  if (series.length < 3) return null;
  const first = series[0];
  const last = series[series.length - 1];
  const r = ratio(first, last);
  return r < lo || r > hi ? { first, last, r, grow: r > 1 } : null;
}

// ---------------------------------------------------------------- makemore.py's models

/**
 * How much gradient flows back through an RNN's recurrence: the loss of ONE prediction, the
 * character after position k (k = the median word length, so most words reach it), backpropagated
 * to every hidden state h_t, t = 0..k. norms[t] is the mean over a batch of such words of
 * ||dL_k/dh_t||; perStep = (norms[0] / norms[k])^(1/k) is the factor the gradient keeps per step
 * back (tanh' times the recurrent weights, in the lecture's terms). The model is left as it was.
 */
export function recurrentGradientFlow(
  model: RNN,
  train: Examples,
  g: Generator,
  batchSize = 64,
): { k: number; norms: number[]; perStep: number; saturated: number } | null {
  if (train instanceof ContextWindows) return null;
  const { X, Y } = train;
  const [N, T] = X.shape;
  // the word lengths: the position of the end token 0 in each target row
  const lengths: number[] = [];
  for (let r = 0; r < N; r++) {
    let t = 0;
    while (t < T && Y.storage[r * T + t] > 0) t++;
    lengths.push(t);
  }
  const k = Math.min(T - 1, [...lengths].sort((a, b) => a - b)[Math.floor(N / 2)]);
  const rows = lengths.flatMap((len, r) => (len >= k ? [r] : []));
  if (k < 2 || rows.length === 0) return null;
  const B = Math.min(batchSize, rows.length);
  const pick = new Float32Array(B);
  g.randintInto(pick, 0, rows.length);
  const ix = new Tensor(
    Float32Array.from(pick, (i) => rows[i]),
    [B],
    "int64",
  );
  const { Xb, Yb } = gatherBatch(train, ix, T);
  // only the prediction at position k counts: every other target is ignored (-1)
  const only = new Float32Array(B * T).fill(-1);
  for (let b = 0; b < B; b++) only[b * T + k] = Yb.storage[b * T + k];
  const grads = model.parameters().map((p) => p.grad);
  const wasTraining = model.training;
  model.train();
  model.retainHiddens = true;
  let norms: number[];
  let saturated = 0;
  try {
    const loss = model.loss(Xb, new Tensor(only, [B, T], "int64"));
    loss.backward();
    const C2 = model.spec.nEmbd2;
    // tanh units at |h| > 0.97 pass back almost nothing (tanh' = 1 - h^2 < 0.06)
    const hs = model.hiddens.slice(0, k + 1);
    saturated = hs.reduce((a, h) => a + saturatedPercent(h.storage), 0) / hs.length;
    norms = model.hiddens.slice(0, k + 1).map((h) => {
      const gh = h.grad?.storage;
      if (!gh) return 0;
      let sum = 0;
      for (let b = 0; b < B; b++) {
        let ss = 0;
        for (let c = 0; c < C2; c++) ss += gh[b * C2 + c] ** 2;
        sum += Math.sqrt(ss);
      }
      return sum / B;
    });
  } finally {
    model.retainHiddens = false;
    model.hiddens = [];
    model.parameters().forEach((p, i) => {
      p.grad = grads[i];
    });
    model.train(wasTraining);
  }
  const perStep = norms[k] > 0 ? (norms[0] / norms[k]) ** (1 / k) : Number.NaN;
  return { k, norms, perStep, saturated };
}

/** What the makemore.py checks read of a run besides the model. */
export interface MakemoreCheckOptions {
  /** steps trained so far (0: a fresh model) */
  step: number;
  train: { learningRate: number; warmupSteps?: number; optimizer?: string };
  /** the run's metrics (the first steps' update:data ratios, with --diagnostics) */
  metrics?: readonly MetricsLine[];
}

/**
 * The checks of makemore.py's models:
 *  - a Transformer trained with AdamW at a learning rate whose first steps move its weights by a
 *    large share of their spread, with no warm-up;
 *  - an RNN (after training) whose gradient vanishes over the sequence: the loss of one prediction
 *    k characters in, backpropagated through the recurrence, reaches the first hidden state with
 *    less than THRESHOLDS.rnnReach of its size (at init every RNN is there; training opens it up).
 */
export function checkMakemore(
  model: LanguageModel,
  train: Examples,
  g: Generator,
  opts: MakemoreCheckOptions,
): Finding[] {
  const findings: Finding[] = [];
  const t = opts.train;
  if (model instanceof Transformer && (t.optimizer ?? "sgd") === "adamw" && (t.warmupSteps ?? 0) === 0) {
    // measured: the first step's update:data ratios; without a history, AdamW's first step moves
    // each weight by lr (weight decay aside), so the ratio is lr / std(w)
    const first = opts.metrics?.find((m) => m.step === 0 && m.ud)?.ud;
    const ratios = first
      ? Object.values(first).filter((v) => Number.isFinite(v))
      : model
          .namedParameters()
          .filter(([n, p]) => isWeightMatrix(n, p.shape))
          .map(([, p]) => Math.log10(t.learningRate / meanStd(p.storage).std));
    const median = [...ratios].sort((a, b) => a - b)[Math.floor(ratios.length / 2)];
    if (median > THRESHOLDS.firstUpdateHigh) {
      findings.push({
        id: "transformer-no-warmup",
        severity: "warning",
        title: `AdamW's first step ${first ? "moved" : "moves"} the Transformer's weights by 10^${fmt(median)} (${fmt(10 ** median * 100, 0)}%) of their spread (lr ${t.learningRate}, no warm-up)`,
        measured: {
          firstUpdateLog10: median,
          learningRate: t.learningRate,
          from: first ? "step 0" : "lr / std(w)",
        },
        why: "Adam divides each update by the running size of its gradient, so its first steps move every weight by about the learning rate whatever the gradient says. In a Transformer, moves this large before the moments are estimated can blow up the attention logits (attention collapses onto one position) and make the loss spike; GPT-style training ramps the learning rate up for this reason.",
        fix: `Add --warmup-steps (100 to 1000), or use makemore.py's --learning-rate 5e-4.`,
        where: "transformer",
      });
    }
  }
  if (model instanceof RNN && model.spec.type === "rnn" && opts.step > 0) {
    const flow = recurrentGradientFlow(model, train, g);
    const reach = flow ? flow.norms[0] / flow.norms[flow.k] : Number.NaN;
    if (flow && reach < THRESHOLDS.rnnReach) {
      findings.push({
        id: "rnn-vanishing-gradients",
        severity: "warning",
        title: `gradients vanish through the RNN: the loss ${flow.k} characters in reaches the first hidden state at ${fmt(reach * 100, 1)}% of its size (x${fmt(flow.perStep)} per step back; ${fmt(flow.saturated, 1)}% of hidden units saturated)`,
        measured: { k: flow.k, reach, perStep: flow.perStep, saturated: flow.saturated },
        why: "Each step back multiplies the gradient by tanh'(h) times the recurrent weights; when that is well below 1 the early characters get almost no gradient and the model cannot learn what depends on them (the word's beginning).",
        fix: "Use --type gru (its update gate carries the gradient across steps); or lower the --learning-rate if the hidden units saturated.",
        where: "cell",
      });
    }
  }
  return findings;
}
