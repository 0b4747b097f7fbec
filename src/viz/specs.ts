/**
 * Chart specs: pure functions from the diagnostics data model to Vega-Lite specs. One spec serves
 * the files (render.ts turns it into SVG/PNG) and the browser dashboard, so nothing here touches
 * `node:` modules. Each chart is one of the lecture's plots ("makemore part 3"):
 *
 *   lossSpec              plt.plot(torch.tensor(lossi).view(-1, 1000).mean(1))   (lossi = log10 loss)
 *   activationHistSpec    for each Tanh layer: hy, hx = torch.histogram(t, density=True); plt.plot(hx[:-1], hy)
 *   gradientHistSpec      the same for t.grad
 *   weightGradHistSpec    the same for p.grad of every 2-D parameter, legend "(30, 100) weight"
 *   updateRatioSpec       plt.plot([ud[j][i] for j in range(len(ud))]) per 2-D parameter, guide at -3
 *   saturationSpec        plt.imshow(h.abs() > 0.99, cmap='gray', interpolation='nearest')
 *   compareLossSpec       several runs' 1,000-step mean curves, one color per run
 *   compareHistSpec       several runs' histograms side by side (the gain sweep)
 *   histHistorySpec       TensorBoard's histograms over time: a heat view across the snapshots
 *
 * Every builder returns null when there is nothing to draw, so callers can skip a chart.
 */

import type { TopLevelSpec } from "vega-lite";
import type {
  ActivationStats,
  DiagnosticsSnapshot,
  GradientStats,
  Histogram,
  MetricsLine,
  ParameterStats,
  SaturationMap,
} from "../diagnostics/types.ts";

export type ChartSpec = TopLevelSpec;

// ---------------------------------------------------------------- shared look

/** Plot area of one chart; with axes, title and legend the picture is about 800×300 px. */
export const CHART_WIDTH = 560;
export const CHART_HEIGHT = 220;
/** The lecture's reference update:data ratio, 1e-3, as log10. */
export const UD_GUIDE = -3;
/** At most this many points per plotted series (long runs are downsampled). */
export const MAX_POINTS = 2000;

const SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json";

// matplotlib's default color cycle (tab10), so the charts look like the lecture's
const TAB10 = [
  "#1f77b4",
  "#ff7f0e",
  "#2ca02c",
  "#d62728",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#7f7f7f",
  "#bcbd22",
  "#17becf",
];

const CONFIG = {
  background: "white",
  padding: 8,
  // labelFlush off: flushed end labels collide with their neighbours ("20,00022,000")
  axis: {
    labelFontSize: 11,
    titleFontSize: 12,
    titleFontWeight: "normal",
    grid: true,
    gridOpacity: 0.5,
    labelFlush: false,
  },
  legend: {
    labelFontSize: 11,
    titleFontSize: 11,
    labelLimit: 400,
    symbolStrokeWidth: 2.5,
    symbolType: "stroke",
  },
  // step axes run to 200,000: keep a label's width of room between labels, drop the ones that
  // would touch ("20,00022,000"), and ask for few ticks
  axisX: { labelOverlap: "greedy", labelSeparation: 8, tickCount: 6 },
  title: { fontSize: 14, anchor: "start", fontWeight: "bold", subtitleFontSize: 11, subtitleColor: "#555" },
  view: { stroke: "#ccc" },
} as const;

/**
 * TensorBoard's zoom: drag to pan, wheel to zoom, double-click to reset (a no-op in the static
 * report pictures). Goes on one unit layer of a chart.
 */
export const ZOOM: { name: string; select: "interval"; bind: "scales" }[] = [
  { name: "zoom", select: "interval", bind: "scales" },
];

function colorScale(domain: string[]) {
  return { domain, range: domain.map((_, i) => TAB10[i % TAB10.length]!) };
}

function title(text: string, subtitle?: string) {
  return subtitle ? { text, subtitle } : { text };
}

// ---------------------------------------------------------------- series helpers

export interface Point {
  step: number;
  value: number;
}

/**
 * Means of consecutive `window`-step blocks, the lecture's `torch.tensor(lossi).view(-1, window).mean(1)`.
 * A block is the steps with the same `floor(step / window)`; it is placed at the mean of its
 * steps (so 0..999 -> 499.5) and a trailing partial block is kept (`n` says how many steps).
 *
 *   blockMeans([{ step: 0, value: 1 }, { step: 1, value: 3 }, { step: 2, value: 5 }], 2)
 *   // [{ step: 0.5, value: 2, n: 2 }, { step: 2, value: 5, n: 1 }]
 */
export function blockMeans(points: readonly Point[], window: number): (Point & { n: number })[] {
  const out: (Point & { n: number })[] = [];
  let block = Number.NaN;
  let sum = 0;
  let stepSum = 0;
  let n = 0;
  const flush = () => {
    if (n > 0) out.push({ step: stepSum / n, value: sum / n, n });
  };
  for (const p of points) {
    const b = Math.floor(p.step / window);
    if (b !== block) {
      flush();
      block = b;
      sum = 0;
      stepSum = 0;
      n = 0;
    }
    sum += p.value;
    stepSum += p.step;
    n++;
  }
  flush();
  return out;
}

/**
 * Thin a noisy series to at most `maxPoints` points and keep its look: each bucket of
 * consecutive points contributes its minimum and its maximum, in step order, so the plotted band
 * spans the same range as the full series. Short series are returned unchanged.
 */
export function downsampleMinMax(points: readonly Point[], maxPoints = MAX_POINTS): Point[] {
  if (points.length <= maxPoints) return points.slice();
  const buckets = Math.max(1, Math.floor(maxPoints / 2));
  const size = Math.ceil(points.length / buckets);
  const out: Point[] = [];
  for (let start = 0; start < points.length; start += size) {
    const end = Math.min(points.length, start + size);
    let lo = start;
    let hi = start;
    for (let i = start + 1; i < end; i++) {
      if (points[i]!.value < points[lo]!.value) lo = i;
      if (points[i]!.value > points[hi]!.value) hi = i;
    }
    const first = Math.min(lo, hi);
    const second = Math.max(lo, hi);
    out.push(points[first]!);
    if (second !== first) out.push(points[second]!);
  }
  return out;
}

/** Thin a series to at most `maxPoints` bucket means (for smooth curves such as update ratios). */
export function downsampleMean(points: readonly Point[], maxPoints = MAX_POINTS): Point[] {
  if (points.length <= maxPoints) return points.slice();
  const size = Math.ceil(points.length / maxPoints);
  const out: Point[] = [];
  for (let start = 0; start < points.length; start += size) {
    const end = Math.min(points.length, start + size);
    let s = 0;
    let v = 0;
    for (let i = start; i < end; i++) {
      s += points[i]!.step;
      v += points[i]!.value;
    }
    out.push({ step: s / (end - start), value: v / (end - start) });
  }
  return out;
}

/**
 * The averaging window for a run of `steps` steps: the lecture's 1,000 when that gives at least
 * 20 points, else 100, 10 or 1 (a short run would otherwise show one or two points).
 */
export function chooseWindow(steps: number): number {
  for (const w of [1000, 100, 10]) if (steps / w >= 20) return w;
  return 1;
}

/** log10 of the per-step minibatch loss, in step order (non-finite and non-positive losses skipped). */
export function log10Losses(metrics: readonly MetricsLine[]): Point[] {
  const out: Point[] = [];
  for (const m of metrics)
    if (typeof m.loss === "number" && Number.isFinite(m.loss) && m.loss > 0)
      out.push({ step: m.step, value: Math.log10(m.loss) });
  return out;
}

/** The x axis of a value histogram: the layer outputs' values or their gradients'. */
function valueAxis(which: "activations" | "gradients") {
  return {
    field: "x",
    type: "quantitative",
    title: which === "activations" ? "activation value" : "gradient value",
    scale: { zero: false },
  } as const;
}

function fmtInt(n: number): string {
  return Math.round(n)
    .toString()
    .replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

// ---------------------------------------------------------------- (a) loss curve

export interface LossOptions {
  /** steps per mean (default: chooseWindow(number of steps), i.e. 1,000 for long runs) */
  window?: number;
  /** at most this many per-step points (default 2,000) */
  maxPoints?: number;
  title?: string;
}

/** The evaluation fields of a metrics line and their legend names, in legend order. */
const EVAL_SERIES = [
  ["train_loss", "train split"],
  ["val_loss", "val split"],
  ["test_loss", "test split"],
] as const;
/** One colour per split, whichever of them a run logs. */
const EVAL_COLOR: Record<(typeof EVAL_SERIES)[number][0], string> = {
  train_loss: "#2ca02c",
  val_loss: "#d62728",
  test_loss: "#ff7f0e",
};

/**
 * The loss curve: log10 of every step's minibatch loss (thin, light, downsampled) and its
 * `window`-step mean (exact), plus the evaluated train/val/test losses when the run logged them.
 */
export function lossSpec(metrics: readonly MetricsLine[], opts: LossOptions = {}): ChartSpec | null {
  const losses = log10Losses(metrics);
  if (losses.length === 0) return null;
  const window = opts.window ?? chooseWindow(losses.length);
  const perStep = "loss per step";
  const mean = window === 1 ? "loss per step (mean of 1)" : `mean of ${fmtInt(window)} steps`;
  const rows: { step: number; value: number; series: string }[] = [];
  for (const p of downsampleMinMax(losses, opts.maxPoints ?? MAX_POINTS))
    rows.push({ ...p, series: perStep });
  const meanRows = blockMeans(losses, window).map((p) => ({ step: p.step, value: p.value, series: mean }));
  // the evaluation points: the lectures' full-split train/val losses, makemore.py's evaluate() on
  // train and test every 500 steps (TensorBoard's "Loss/train" and "Loss/test")
  const evalRows: { step: number; value: number; series: string }[] = [];
  for (const m of metrics)
    for (const [field, series] of EVAL_SERIES) {
      const v = m[field];
      if (typeof v === "number" && v > 0) evalRows.push({ step: m.step, value: Math.log10(v), series });
    }
  const evalNames = new Set(evalRows.map((r) => r.series));
  const evals = EVAL_SERIES.filter(([, name]) => evalNames.has(name));
  const domain = [perStep, mean, ...evals.map(([, name]) => name)];
  const range = ["#a6c8e6", "#1f77b4", ...evals.map(([field]) => EVAL_COLOR[field])];
  const color = {
    field: "series",
    type: "nominal" as const,
    title: null,
    scale: { domain, range },
  };
  const x = { field: "step", type: "quantitative" as const, title: "step" };
  const y = {
    field: "value",
    type: "quantitative" as const,
    title: "log10(loss)",
    scale: { zero: false },
  };
  const layers: ChartSpec[] = [
    {
      data: { values: rows },
      params: ZOOM,
      mark: { type: "line", strokeWidth: 0.6, clip: true },
      encoding: { x, y, color },
    } as ChartSpec,
    {
      data: { values: meanRows },
      mark: { type: "line", strokeWidth: 2.2, clip: true, point: meanRows.length === 1 },
      encoding: { x, y, color },
    } as ChartSpec,
  ];
  if (evalRows.length > 0)
    layers.push({
      data: { values: evalRows },
      mark: { type: "line", strokeWidth: 1.5, point: evalRows.length <= 100 },
      encoding: { x, y, color },
    } as ChartSpec);
  return {
    $schema: SCHEMA,
    title: title(
      opts.title ?? "loss",
      `log10 of the minibatch loss; mean over ${fmtInt(window)}-step blocks`,
    ),
    width: CHART_WIDTH,
    height: CHART_HEIGHT,
    config: CONFIG,
    layer: layers,
  } as ChartSpec;
}

// ---------------------------------------------------------------- (b)(c)(d) histograms

/** Histogram points as the lecture plots them: x = left bin edges (`hx[:-1]`), y = density. */
export function histPoints(h: Histogram): { x: number; y: number }[] {
  const n = Math.min(h.counts.length, h.edges.length - 1);
  const out: { x: number; y: number }[] = [];
  for (let i = 0; i < n; i++) {
    const x = h.edges[i]!;
    const y = h.counts[i]!;
    if (Number.isFinite(x) && Number.isFinite(y)) out.push({ x, y });
  }
  return out;
}

/** The legend label of a layer: "layer 2 (Tanh)". */
export function layerLabel(s: { layer: number; kind: string }): string {
  return `layer ${s.layer} (${s.kind})`;
}

/**
 * Legend labels for parameters: "(30, 100) weight", as the lecture's shapes; when some parameters
 * share a shape (the 6-layer net's four (100, 100) weights) every label carries its name, so one
 * legend uses one style: "(30, 100) layers.0.weight", "(100, 100) layers.4.weight".
 */
export function paramLabels(
  params: readonly { name: string; shape: readonly number[] }[],
): Map<string, string> {
  const shapeText = (s: readonly number[]) => (s.length === 1 ? `(${s[0]},)` : `(${s.join(", ")})`);
  const count = new Map<string, number>();
  for (const p of params) count.set(shapeText(p.shape), (count.get(shapeText(p.shape)) ?? 0) + 1);
  const shared = [...count.values()].some((n) => n > 1);
  const out = new Map<string, string>();
  for (const p of params) {
    const s = shapeText(p.shape);
    out.set(p.name, shared ? `${s} ${p.name}` : `${s} weight`);
  }
  return out;
}

/**
 * The layers the lecture plots: those of the nonlinearity (Tanh, or ReLU) when the model has
 * any, else every layer given.
 */
export function plottedLayers<T extends { kind: string }>(
  stats: readonly T[],
  kinds?: readonly string[],
): T[] {
  if (kinds) return stats.filter((s) => kinds.includes(s.kind));
  for (const k of ["Tanh", "ReLU"]) {
    const hit = stats.filter((s) => s.kind === k);
    if (hit.length > 0) return hit;
  }
  return stats.slice();
}

interface Series {
  label: string;
  hist: Histogram;
}

function histogramChart(
  series: readonly Series[],
  text: string,
  subtitle: string,
  xTitle: string,
): ChartSpec | null {
  const rows: { series: string; x: number; y: number }[] = [];
  for (const s of series) for (const p of histPoints(s.hist)) rows.push({ series: s.label, ...p });
  if (rows.length === 0) return null;
  const labels = series.map((s) => s.label);
  return {
    $schema: SCHEMA,
    title: title(text, subtitle),
    width: CHART_WIDTH,
    height: CHART_HEIGHT,
    config: CONFIG,
    data: { values: rows },
    mark: { type: "line", strokeWidth: 1.5 },
    encoding: {
      x: { field: "x", type: "quantitative", title: xTitle, scale: { zero: false } },
      y: { field: "y", type: "quantitative", title: "density" },
      color: { field: "series", type: "nominal", title: null, scale: colorScale(labels), sort: labels },
      detail: { field: "series", type: "nominal" },
    },
  } as ChartSpec;
}

export interface HistOptions {
  /** layer kinds to plot (default: the nonlinearity's, like the lecture) */
  kinds?: readonly string[];
}

/** Forward pass: density of each (Tanh) layer's output, "activation distribution". */
export function activationHistSpec(snapshot: DiagnosticsSnapshot, opts: HistOptions = {}): ChartSpec | null {
  const layers: ActivationStats[] = plottedLayers(snapshot.activations ?? [], opts.kinds);
  return histogramChart(
    layers.map((s) => ({ label: layerLabel(s), hist: s.hist })),
    "activation distribution",
    `forward pass, step ${fmtInt(snapshot.step)}: density of each layer's output`,
    "activation value",
  );
}

/** Backward pass: density of each (Tanh) layer's output gradient, "gradient distribution". */
export function gradientHistSpec(snapshot: DiagnosticsSnapshot, opts: HistOptions = {}): ChartSpec | null {
  const layers: GradientStats[] = plottedLayers(snapshot.gradients ?? [], opts.kinds);
  return histogramChart(
    layers.map((s) => ({ label: layerLabel(s), hist: s.hist })),
    "gradient distribution",
    `backward pass, step ${fmtInt(snapshot.step)}: density of each layer's output gradient`,
    "gradient value",
  );
}

/** The 2-D parameters (weights and the embedding table), as the lecture's `if p.ndim == 2`. */
export function weightParams(params: readonly ParameterStats[]): ParameterStats[] {
  return params.filter((p) => p.shape.length === 2);
}

/** Density of each 2-D parameter's gradient, "weights gradient distribution". */
export function weightGradHistSpec(snapshot: DiagnosticsSnapshot): ChartSpec | null {
  const params = weightParams(snapshot.params ?? []);
  const labels = paramLabels(params);
  return histogramChart(
    params.map((p) => ({ label: labels.get(p.name)!, hist: p.hist })),
    "weights gradient distribution",
    `step ${fmtInt(snapshot.step)}: density of each 2-D parameter's gradient`,
    "gradient value",
  );
}

// ---------------------------------------------------------------- (e) update:data ratio

export interface UpdateRatioOptions {
  /**
   * parameter shapes by name, to keep only 2-D ones and label them "(30, 100) weight"; names it
   * does not know are drawn under their own name
   */
  shapes?: Readonly<Record<string, readonly number[]>>;
  maxPoints?: number;
}

/**
 * log10(std(lr·grad) / std(data)) over the steps, one line per 2-D parameter, with the lecture's
 * guide at -3 (updates about a thousandth of the data) as a dashed line. Long runs are shown as
 * bucket means of at most `maxPoints` points per parameter.
 */
export function updateRatioSpec(
  metrics: readonly MetricsLine[],
  opts: UpdateRatioOptions = {},
): ChartSpec | null {
  const series = new Map<string, Point[]>();
  for (const m of metrics) {
    if (!m.ud) continue;
    for (const [name, v] of Object.entries(m.ud)) {
      if (typeof v !== "number" || !Number.isFinite(v)) continue;
      const shape = opts.shapes?.[name];
      if (shape && shape.length !== 2) continue;
      let s = series.get(name);
      if (!s) series.set(name, (s = []));
      s.push({ step: m.step, value: v });
    }
  }
  if (series.size === 0) return null;
  const names = [...series.keys()];
  const known = names.filter((n) => opts.shapes?.[n]);
  const labels = paramLabels(known.map((name) => ({ name, shape: opts.shapes![name]! })));
  for (const n of names) if (!labels.has(n)) labels.set(n, n);
  const maxPoints = opts.maxPoints ?? MAX_POINTS;
  let thinned = false;
  const rows: { series: string; step: number; value: number }[] = [];
  for (const [name, pts] of series) {
    if (pts.length > maxPoints) thinned = true;
    for (const p of downsampleMean(pts, maxPoints)) rows.push({ series: labels.get(name)!, ...p });
  }
  const domain = names.map((n) => labels.get(n)!);
  return {
    $schema: SCHEMA,
    title: title(
      "update:data ratio",
      `log10(std(lr·grad) / std(data)) per step${thinned ? " (bucket means)" : ""}; dashed: 1e-3, the lecture's rough target`,
    ),
    width: CHART_WIDTH,
    height: CHART_HEIGHT,
    config: CONFIG,
    layer: [
      {
        data: { values: rows },
        params: ZOOM,
        mark: { type: "line", strokeWidth: 1.2, clip: true },
        encoding: {
          x: { field: "step", type: "quantitative", title: "step" },
          y: { field: "value", type: "quantitative", title: "log10(update / data)", scale: { zero: false } },
          color: { field: "series", type: "nominal", title: null, scale: colorScale(domain), sort: domain },
        },
      },
      {
        data: { values: [{ guide: UD_GUIDE }] },
        mark: { type: "rule", color: "black", strokeDash: [6, 4], strokeWidth: 1.2 },
        encoding: { y: { field: "guide", type: "quantitative" } },
      },
    ],
  } as ChartSpec;
}

// ---------------------------------------------------------------- (f) saturation map

/** Share of saturated cells in a map, in percent. */
export function saturationMapPercent(map: SaturationMap): number {
  let on = 0;
  for (let i = 0; i < map.bits.length; i++) if (map.bits.charCodeAt(i) === 49) on++;
  return map.bits.length ? (100 * on) / map.bits.length : 0;
}

/**
 * The B×H image of |h| > 0.99 for one tanh layer: white = saturated, black = active, examples
 * down, units across (`plt.imshow(h.abs() > 0.99, cmap='gray')`). Only white cells are drawn,
 * on a black plot area.
 */
export function saturationSpec(
  map: SaturationMap,
  opts: { kind?: string; step?: number } = {},
): ChartSpec | null {
  if (map.rows <= 0 || map.cols <= 0) return null;
  const rows: { r: number; c: number }[] = [];
  const n = Math.min(map.bits.length, map.rows * map.cols);
  for (let i = 0; i < n; i++)
    if (map.bits.charCodeAt(i) === 49) rows.push({ r: Math.floor(i / map.cols), c: i % map.cols });
  // square cells of 2..16 px, at most about 640 px across: 200 units -> 3 px, 100 units -> 6 px
  const cell = Math.max(2, Math.min(16, Math.floor(640 / map.cols)));
  const dead = map.deadUnits.length;
  const label = layerLabel({ layer: map.layer, kind: opts.kind ?? "Tanh" });
  return {
    $schema: SCHEMA,
    title: title(
      `${label}: |h| > 0.99`,
      `${opts.step === undefined ? "" : `step ${fmtInt(opts.step)}: `}white = saturated (${saturationMapPercent(map).toFixed(2)}% of ${map.rows}×${map.cols}); ${dead} dead unit${dead === 1 ? "" : "s"} (white in every row)`,
    ),
    width: map.cols * cell,
    height: map.rows * cell,
    config: { ...CONFIG, view: { fill: "black", stroke: "#888" } },
    data: { values: rows },
    transform: [
      { calculate: "datum.c + 1", as: "c1" },
      { calculate: "datum.r + 1", as: "r1" },
    ],
    // aria: false drops vega's per-cell aria-label ("unit (H = 100): 2; example (B = 32): 0; …"),
    // 170 of the 200 bytes each white cell costs in the SVG, and no help read cell by cell
    mark: { type: "rect", color: "white", strokeWidth: 0, aria: false },
    encoding: {
      x: {
        field: "c",
        type: "quantitative",
        title: `unit (H = ${map.cols})`,
        scale: { domain: [0, map.cols], nice: false, zero: true },
        axis: { grid: false },
      },
      x2: { field: "c1" },
      y: {
        field: "r",
        type: "quantitative",
        title: `example (B = ${map.rows})`,
        scale: { domain: [0, map.rows], nice: false, zero: true, reverse: true },
        axis: { grid: false },
      },
      y2: { field: "r1" },
    },
  } as ChartSpec;
}

// ---------------------------------------------------------------- histograms over time

/** At most this many snapshots in a histogram-over-time view (evenly spread, the last kept). */
export const MAX_HISTORY = 24;

/** `n` evenly spread items of `items`, always with the first and the last. */
export function spreadPick<T>(items: readonly T[], n: number): T[] {
  if (items.length <= n) return items.slice();
  const out: T[] = [];
  for (let k = 0; k < n; k++) out.push(items[Math.round((k * (items.length - 1)) / (n - 1))]!);
  return out;
}

/**
 * TensorBoard's histogram dashboard as a heat view: for each plotted layer one panel, a row per
 * diagnostics snapshot (step, top to bottom), each bin a cell coloured by its density. How the
 * tanh outputs pile up at ±1, or the gradients narrow, over training reads top to bottom.
 */
export function histHistorySpec(
  snapshots: readonly DiagnosticsSnapshot[],
  which: "activations" | "gradients",
  opts: HistOptions = {},
): ChartSpec | null {
  const picked = spreadPick(snapshots, MAX_HISTORY);
  if (picked.length < 2) return null;
  const rows: { series: string; step: number; x: number; x2: number; density: number }[] = [];
  const layerNames: string[] = [];
  for (const snap of picked) {
    const stats = plottedLayers<ActivationStats | GradientStats>(snap[which] ?? [], opts.kinds);
    for (const st of stats) {
      const label = layerLabel(st);
      if (!layerNames.includes(label)) layerNames.push(label);
      const { counts, edges } = st.hist;
      for (let i = 0; i < counts.length && i + 1 < edges.length; i++)
        rows.push({ series: label, step: snap.step, x: edges[i]!, x2: edges[i + 1]!, density: counts[i]! });
    }
  }
  if (rows.length === 0) return null;
  const columns = Math.min(layerNames.length, 3);
  return {
    $schema: SCHEMA,
    title: title(
      which === "activations" ? "activation distribution over time" : "gradient distribution over time",
      `one row per diagnostics snapshot (${picked.length}${picked.length < snapshots.length ? ` of ${snapshots.length}` : ""}), colour = density (sqrt scale)`,
    ),
    config: CONFIG,
    data: { values: rows },
    columns,
    facet: { field: "series", type: "nominal", sort: layerNames, title: null, header: { labelFontSize: 12 } },
    resolve: { scale: { x: "independent" } },
    spec: {
      width: Math.max(160, Math.floor(760 / columns) - 30),
      height: Math.max(80, picked.length * 9),
      mark: { type: "rect", strokeWidth: 0.6, aria: false }, // no per-cell aria-label: see saturationSpec
      encoding: {
        x: valueAxis(which),
        x2: { field: "x2" },
        // no grid: an ordinal grid line would cross each row's middle, over its cells; rows are
        // 9 px and the labels 11 px, so of 24 rows every other one is labelled (vega's "parity")
        y: {
          field: "step",
          type: "ordinal",
          title: "step",
          sort: "ascending",
          scale: { paddingInner: 0 },
          axis: { grid: false, labelOverlap: "parity", labelSeparation: 2 },
        },
        color: {
          field: "density",
          type: "quantitative",
          title: "density",
          scale: { type: "sqrt", scheme: "viridis" },
        },
        // each cell's outline in its own colour: no hairline gaps between neighbouring bins
        stroke: {
          field: "density",
          type: "quantitative",
          scale: { type: "sqrt", scheme: "viridis" },
          legend: null,
        },
      },
    },
  } as ChartSpec;
}

// ---------------------------------------------------------------- (g)(h) several runs

export interface RunMetrics {
  /** the run's label in the legend ("gain 5/3", "runs/bn") */
  label: string;
  metrics: readonly MetricsLine[];
}

/** Overlaid loss curves of several runs: each run's `window`-step mean of log10 loss, one color per run. */
export function compareLossSpec(
  runs: readonly RunMetrics[],
  opts: { window?: number; title?: string } = {},
): ChartSpec | null {
  const curves = runs.map((r) => ({ label: r.label, losses: log10Losses(r.metrics) }));
  const longest = Math.max(0, ...curves.map((c) => c.losses.length));
  if (longest === 0) return null;
  const window = opts.window ?? chooseWindow(longest);
  const rows: { run: string; step: number; value: number }[] = [];
  for (const c of curves)
    for (const p of blockMeans(c.losses, window)) rows.push({ run: c.label, step: p.step, value: p.value });
  const labels = curves.map((c) => c.label);
  return {
    $schema: SCHEMA,
    title: title(
      opts.title ?? "loss, several runs",
      `log10 of the minibatch loss, mean over ${fmtInt(window)}-step blocks`,
    ),
    width: CHART_WIDTH,
    height: CHART_HEIGHT,
    config: CONFIG,
    data: { values: rows },
    // click a run in the legend to show it alone (shift-click for several), as in TensorBoard
    params: [...ZOOM, { name: "runs", select: { type: "point", fields: ["run"] }, bind: "legend" }],
    mark: { type: "line", strokeWidth: 1.8, clip: true, point: window === 1 ? false : rows.length <= 60 },
    encoding: {
      x: { field: "step", type: "quantitative", title: "step" },
      y: { field: "value", type: "quantitative", title: "log10(loss)", scale: { zero: false } },
      color: { field: "run", type: "nominal", title: null, scale: colorScale(labels), sort: labels },
      opacity: { condition: { param: "runs", value: 1 }, value: 0.12 },
    },
  } as ChartSpec;
}

export interface RunSnapshot {
  label: string;
  snapshot: DiagnosticsSnapshot;
}

/**
 * The same histogram for several runs side by side, one panel per run (the gain sweep: how the
 * tanh activations or their gradients spread for gain 0.5, 1, 5/3, 3). The x scale is shared,
 * so the spreads compare directly; each panel has its own y scale, so one spiky run does not
 * flatten the others.
 */
export function compareHistSpec(
  runs: readonly RunSnapshot[],
  which: "activations" | "gradients",
  opts: HistOptions & { title?: string; missing?: readonly string[] } = {},
): ChartSpec | null {
  const rows: { run: string; series: string; x: number; y: number }[] = [];
  const layerNames: string[] = [];
  for (const r of runs) {
    const stats = plottedLayers<ActivationStats | GradientStats>(r.snapshot[which] ?? [], opts.kinds);
    for (const s of stats) {
      const label = layerLabel(s);
      if (!layerNames.includes(label)) layerNames.push(label);
      for (const p of histPoints(s.hist)) rows.push({ run: r.label, series: label, ...p });
    }
  }
  if (rows.length === 0) return null;
  const labels = runs.map((r) => r.label);
  const columns = Math.min(labels.length, 4);
  const width = Math.max(150, Math.floor(720 / columns) - 20);
  // runs without a snapshot are named, not dropped silently
  const missing = opts.missing?.length ? `; no diagnostics: ${opts.missing.join(", ")}` : "";
  return {
    $schema: SCHEMA,
    title: title(
      opts.title ?? (which === "activations" ? "activation distribution" : "gradient distribution"),
      `${which === "activations" ? "forward pass" : "backward pass"}, one panel and legend per run${missing}`,
    ),
    config: CONFIG,
    data: { values: rows },
    columns,
    // "layer 5 (Tanh)" of a 3-layer run is not layer 5 of a 6-layer one: one legend per panel
    resolve: { scale: { y: "independent", color: "independent" }, legend: { color: "independent" } },
    facet: { field: "run", type: "nominal", sort: labels, title: null, header: { labelFontSize: 12 } },
    spec: {
      width,
      height: 180,
      mark: { type: "line", strokeWidth: 1.3 },
      encoding: {
        x: valueAxis(which),
        y: { field: "y", type: "quantitative", title: "density" },
        color: { field: "series", type: "nominal", title: null, sort: layerNames },
        detail: { field: "series", type: "nominal" },
      },
    },
  } as ChartSpec;
}

// ---------------------------------------------------------------------------------------------
// A live run's diagnostics charts by name (the dashboard's RunWatcher and the playground's worker)

/**
 * Append `snap`'s histograms (its params and saturation maps dropped) to a live view's history,
 * thinned evenly to at most 16 MAX_HISTORY entries (histHistorySpec draws MAX_HISTORY of them).
 * Returns the history to keep (the same array, or a thinned copy).
 */
export function keepHistory(
  history: DiagnosticsSnapshot[],
  snap: DiagnosticsSnapshot,
): DiagnosticsSnapshot[] {
  history.push({ ...snap, params: [], saturation: [] });
  return history.length > 2 * MAX_HISTORY * 8 ? history.filter((_, k) => k % 2 === 0) : history;
}

/**
 * The charts the newest snapshot and the history give, in page order: activations, gradients,
 * weight-gradients, their histories (two snapshots or more), saturation-layer-N. Only what the
 * snapshot holds: a model without Tanh layers (a bigram, makemore.py's Transformer) has weights but
 * no layer statistics.
 */
export function snapshotChartNames(
  snap: DiagnosticsSnapshot | null | undefined,
  historyLength: number,
): string[] {
  if (!snap) return [];
  const has = {
    activations: snap.activations.length > 0,
    gradients: snap.gradients.length > 0,
    "weight-gradients": snap.params.some((p) => p.shape.length === 2),
  };
  const out: string[] = (["activations", "gradients", "weight-gradients"] as const).filter((n) => has[n]);
  if (historyLength >= 2)
    for (const name of ["activations", "gradients"] as const) if (has[name]) out.push(`${name}-history`);
  for (const map of snap.saturation) out.push(`saturation-layer-${map.layer}`);
  return out;
}

/** The snapshot chart `name` (see snapshotChartNames); undefined for a name that is not one. */
export function snapshotChart(
  name: string,
  snap: DiagnosticsSnapshot | null | undefined,
  history: readonly DiagnosticsSnapshot[],
): ChartSpec | null | undefined {
  switch (name) {
    case "activations":
      return snap ? activationHistSpec(snap) : null;
    case "gradients":
      return snap ? gradientHistSpec(snap) : null;
    case "weight-gradients":
      return snap ? weightGradHistSpec(snap) : null;
    case "activations-history":
      return histHistorySpec(history, "activations");
    case "gradients-history":
      return histHistorySpec(history, "gradients");
  }
  const layer = /^saturation-layer-(\d+)$/.exec(name);
  if (!layer) return undefined;
  const map = snap?.saturation.find((s) => s.layer === Number(layer[1]));
  const kind = snap?.activations.find((a) => a.layer === Number(layer[1]))?.kind;
  return snap && map ? saturationSpec(map, { kind, step: snap.step }) : null;
}
