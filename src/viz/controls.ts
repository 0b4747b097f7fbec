/**
 * TensorBoard's chart controls over the report's specs (src/viz/specs.ts), as a page applies them
 * before drawing: smoothing of the loss curve, a log or linear loss axis, and zoom (an explicit
 * domain for x and y). Pure functions from a spec to a spec, so the picture is still the report's
 * chart, only seen differently. The playground's chart worker (src/web/charts.ts) and the
 * dashboard's page (src/dashboard/static/dashboard.js, which the dashboard serves this module to
 * as /static/controls.js) use them: this module imports nothing at run time, so a page can load it as it is.
 *
 *   const shown = zoomSpec(lossControls(spec, { smoothing: 0.6, logScale: false }), { x: [0, 500] });
 *   const wide = fitWidth(shown, 540);
 */

import type { ChartSpec } from "./specs.ts";

export interface LossControls {
  /** TensorBoard's smoothing weight w in [0, 1): 0 draws the raw curve */
  smoothing: number;
  /** the specs' log10(loss) axis (true) or the loss itself (false) */
  logScale: boolean;
}

/** An explicit domain per axis (absent: the chart's own). */
export interface Zoom {
  x?: [number, number];
  y?: [number, number];
}

type Row = { step: number; value: number } & Record<string, unknown>;
type Unit = {
  data?: { values?: Row[] };
  layer?: Unit[];
  spec?: Unit;
  params?: { bind?: unknown }[];
  encoding?: Record<string, { title?: unknown; scale?: Record<string, unknown> } | undefined>;
};

/** Walk a spec and its layers / facet spec. */
function eachUnit(spec: Unit, f: (u: Unit) => void): void {
  f(spec);
  for (const l of spec.layer ?? []) eachUnit(l, f);
  if (spec.spec) eachUnit(spec.spec, f);
}

/**
 * TensorBoard's smoothing: an exponential moving average with weight w, debiased at the start
 * (divided by 1 - w^n) so the curve does not start at zero. Per series (`field`), in step order.
 *
 *   s_n = w s_{n-1} + (1 - w) v_n,  s_0 = 0;  shown: s_n / (1 - w^n)
 */
export function smooth<R extends Row>(rows: readonly R[], w: number, field: string): R[] {
  if (!(w > 0)) return rows.slice();
  const groups = new Map<unknown, R[]>();
  for (const r of rows) {
    const g = groups.get(r[field]);
    if (g) g.push(r);
    else groups.set(r[field], [r]);
  }
  const out: R[] = [];
  for (const g of groups.values()) {
    g.sort((a, b) => a.step - b.step);
    let last = 0;
    let n = 0;
    for (const r of g) {
      last = last * w + (1 - w) * r.value;
      n++;
      out.push({ ...r, value: last / (1 - w ** n) });
    }
  }
  return out;
}

/**
 * The loss chart (lossSpec) with the controls: the per-step curve smoothed (the block means and
 * split losses are left as measured), and with logScale false every value as the loss itself.
 * `compare`: the comparison chart (compareLossSpec), whose every curve, one per run, is smoothed.
 * Returns a new spec; the input is not changed.
 */
export function lossControls(spec: ChartSpec, c: LossControls, compare = false): ChartSpec {
  const out = structuredClone(spec) as Unit;
  eachUnit(out, (u) => {
    const rows = u.data?.values;
    if (!Array.isArray(rows) || !u.data) return;
    let v = rows;
    if (compare) v = smooth(rows, c.smoothing, "run");
    else if (rows.some((r) => r.series === "loss per step")) v = smooth(rows, c.smoothing, "series");
    if (!c.logScale) v = v.map((r) => ({ ...r, value: 10 ** r.value }));
    u.data.values = v;
  });
  if (!c.logScale)
    eachUnit(out, (u) => {
      const y = u.encoding?.y;
      if (y?.title === "log10(loss)") y.title = "loss";
    });
  return out as ChartSpec;
}

/**
 * The chart with its x and y domains fixed to `zoom` (what the report's interval-bound zoom shows
 * after a wheel or a drag). The interactive zoom params go: a fixed picture has no events.
 */
export function zoomSpec(spec: ChartSpec, zoom: Zoom): ChartSpec {
  const out = structuredClone(spec) as Unit;
  eachUnit(out, (u) => {
    if (u.params) u.params = u.params.filter((p) => p.bind !== "scales");
    for (const axis of ["x", "y"] as const) {
      const enc = u.encoding?.[axis];
      const d = zoom[axis];
      if (enc && d) enc.scale = { ...enc.scale, domain: d, zero: false, nice: false };
    }
  });
  return out as ChartSpec;
}

/**
 * The chart as wide as `room` CSS pixels (a page's card), as the dashboard lays its charts out: the
 * cells of a faceted chart share the room, a single view fits it with its axes and legend
 * (vega-lite's autosize fit-x; the report's pictures have a fixed width). Never narrower than 240.
 */
export function fitWidth(spec: ChartSpec, room: number): ChartSpec {
  const out = structuredClone(spec) as Unit & {
    width?: unknown;
    columns?: number;
    facet?: unknown;
    autosize?: unknown;
  };
  const r = Math.max(240, Math.floor(room));
  if (out.facet && out.spec) {
    const cols = out.columns ?? 1;
    (out.spec as { width?: number }).width = Math.max(140, Math.floor(r / cols) - 70);
  } else if (typeof out.width === "number") {
    out.width = r;
    out.autosize = { type: "fit-x", contains: "padding" };
  }
  return out as ChartSpec;
}

/** New domain after a wheel step at data point `at`: `factor` > 1 zooms out, < 1 in. */
export function zoomAt(domain: readonly [number, number], at: number, factor: number): [number, number] {
  return [at + (domain[0] - at) * factor, at + (domain[1] - at) * factor];
}
