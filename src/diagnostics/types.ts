/**
 * The diagnostics data model: what the measurements produce, what the run directory stores, and
 * what the plots, the report, `doctor` and the dashboard read. Plain JSON-serialisable objects.
 *
 * Storage in a run directory:
 *   metrics.jsonl      {"step", "loss", "lr"} every step; with diagnostics also "ud": UpdateRatios
 *   diagnostics.jsonl  one DiagnosticsSnapshot per line, at the chosen steps
 */

/** A histogram like torch.histogram(t, bins, density=True): `counts.length + 1 === edges.length`. */
export interface Histogram {
  /** densities (integrate to 1 over the edges), as the lecture plots them */
  counts: number[];
  edges: number[];
}

/** Forward statistics of one layer's output (`layer.out`). */
export interface ActivationStats {
  /** index in the model's layer list (the lecture's "layer 2") */
  layer: number;
  /** "Tanh", "Linear", "BatchNorm1d", ... */
  kind: string;
  mean: number;
  std: number;
  /** share of units with |t| > 0.97, in percent (tanh layers; 0 for others) */
  saturated: number;
  /**
   * attention layers (their `.out` is the weights (B, nh, T, T)): the mean entropy of a row's
   * distribution over the positions it may attend to, in nats, and that mean as a share of the
   * uniform's ln(t + 1) (1 = attends evenly, 0 = each row on one position: collapsed)
   */
  entropy?: number;
  entropyShare?: number;
  hist: Histogram;
}

/** Backward statistics of one layer's output gradient (`layer.out.grad`). */
export interface GradientStats {
  layer: number;
  kind: string;
  mean: number;
  std: number;
  hist: Histogram;
}

/** One parameter's gradient against its data. */
export interface ParameterStats {
  /** "layers.1.weight", "embedding.weight", ... */
  name: string;
  shape: number[];
  /** gradient mean and std */
  mean: number;
  std: number;
  /** std(grad) / std(data) */
  gradDataRatio: number;
  hist: Histogram;
}

/** Which units of a tanh layer are saturated (|h| > 0.99) for each example of the batch. */
export interface SaturationMap {
  layer: number;
  /** batch size B */
  rows: number;
  /** units H */
  cols: number;
  /** row-major B*H booleans as a "0"/"1" string (compact in JSON) */
  bits: string;
  /** units saturated for every example of the batch ("dead": they pass no gradient) */
  deadUnits: number[];
}

/** Everything measured at one step. */
export interface DiagnosticsSnapshot {
  step: number;
  /** the minibatch loss at this step */
  loss: number;
  activations: ActivationStats[];
  gradients: GradientStats[];
  params: ParameterStats[];
  saturation: SaturationMap[];
}

/** log10(std(lr * grad) / std(data)) per parameter name, measured every step (the lecture's `ud`). */
export type UpdateRatios = Record<string, number>;

/** One line of metrics.jsonl. */
export interface MetricsLine {
  step: number;
  loss?: number;
  lr?: number;
  ud?: UpdateRatios;
  train_loss?: number;
  val_loss?: number;
  /** makemore.py's evaluate() on the test split (its types' runs have no val split) */
  test_loss?: number;
}

/** A health finding from `doctor`: the number, why it matters, and what to do. */
export interface Finding {
  /** stable identifier, e.g. "init-loss-high", "tanh-saturated" */
  id: string;
  severity: "error" | "warning" | "info";
  /** one-line statement with the measured number */
  title: string;
  /** the measured value(s) */
  measured: Record<string, number | string>;
  /** why it matters (one or two sentences) */
  why: string;
  /** the suggested fix */
  fix: string;
  /** the layer or parameter concerned, when there is one */
  where?: string;
}
