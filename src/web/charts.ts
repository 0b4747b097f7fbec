/**
 * The playground's chart worker: Vega-Lite specs in, pictures out, rendered as `makemore report`
 * renders them (vega-lite compile, a headless vega View: src/viz/render.ts) but onto an
 * OffscreenCanvas, off the main thread.
 *
 * The training worker sends it the specs (src/viz/specs.ts, the dashboard's and the report's
 * builders) over a MessageChannel; it sends the page one ImageBitmap per chart (transferred, not
 * copied), so the page's only work for a chart is to show a bitmap: no compiling, no dataflow, no
 * layout of thousands of marks on the main thread while a run trains. A chart that keeps its shape
 * (same spec apart from its data) reuses its View and gets its data through a changeset, as on the
 * dashboard. Only the newest spec of each chart is drawn, and while a run trains drawing pauses four
 * times as long as it drew: on a busy machine charts skip frames instead of taking time from
 * training. The page's chart controls (smoothing, log axis, zoom: src/viz/controls.ts) redraw a
 * chart from the last spec it was sent.
 */

import * as vega from "vega";
import { compile } from "vega-lite";
import { fitWidth, type LossControls, lossControls, type Zoom, zoomAt, zoomSpec } from "../viz/controls.ts";
import type { ChartSpec } from "../viz/specs.ts";
import type { ChartDrawn, PageRequest } from "./protocol.ts";

/** From the training worker: the charts that changed (null: the chart is gone). */
export interface ChartRequest {
  charts: Record<string, ChartSpec | null>;
  /** training is running (drawing then yields the machine to it) */
  training: boolean;
}

const post = (m: ChartDrawn) =>
  (self as unknown as { postMessage(m: unknown, t: Transferable[]): void }).postMessage(
    m,
    m.bitmap ? [m.bitmap] : [],
  );

/** device pixels per CSS pixel (the page says; 1 until it does) */
let scale = 1;

const views = new Map<string, { key: string; view: vega.View }>();
/** the newest spec of each chart as the training worker sent it (the controls redraw from it) */
const sent = new Map<string, ChartSpec>();
let controls: LossControls = { smoothing: 0, logScale: true };
/** each chart's room on the page, CSS pixels (its card's content width; absent: the spec's width) */
let widths: Record<string, number> = {};
/** the training worker is training (its last request said so) */
let training = false;
const zooms = new Map<string, Zoom>();

/** The chart as the page shows it: the loss with the controls, a zoomed chart with its domains. */
function shown(name: string, spec: ChartSpec): ChartSpec {
  let out = name === "loss" ? lossControls(spec, controls) : spec;
  const room = widths[name];
  if (room !== undefined) out = fitWidth(out, room);
  const z = zooms.get(name);
  if (z) out = zoomSpec(out, z);
  return out;
}

/**
 * A wheel or drag on a chart's picture, in data units of the view drawn now: wheel zooms both axes
 * about the pointer (TensorBoard's and vega-lite's interval zoom), drag pans, reset goes back to the
 * chart's own domains.
 */
function gesture(z: Extract<PageRequest, { zoom: unknown }>["zoom"]): void {
  if (z.kind === "reset") {
    zooms.delete(z.name);
    return;
  }
  const view = views.get(z.name)?.view;
  if (!view) return;
  const [ox, oy] = view.origin();
  const next: Zoom = {};
  for (const axis of ["x", "y"] as const) {
    const scale = view.scale(axis) as ((v: number) => number) & {
      domain(): number[];
      invert(px: number): number;
    };
    if (!scale?.invert) return;
    const [d0, d1] = scale.domain() as [number, number];
    const origin = axis === "x" ? ox : oy;
    if (z.kind === "wheel") {
      const at = scale.invert((axis === "x" ? z.x! : z.y!) - origin);
      next[axis] = zoomAt([d0, d1], at, Math.exp((z.deltaY ?? 0) * 0.002));
    } else {
      const shift = scale.invert(0) - scale.invert(axis === "x" ? z.dx! : z.dy!);
      next[axis] = [d0 + shift, d1 + shift];
    }
  }
  zooms.set(z.name, next);
}

/**
 * Move every inline `data.values` of the spec into named datasets (d0, d1, ...), so a View of the
 * same shape can take new data by name. Returns the shape key (the spec without its data).
 */
function splitData(spec: Record<string, unknown>): { key: string; datasets: Record<string, unknown[]> } {
  const datasets: Record<string, unknown[]> = {};
  let i = 0;
  const visit = (node: Record<string, unknown> | undefined) => {
    if (!node || typeof node !== "object") return;
    const data = node.data as { values?: unknown[] } | undefined;
    if (data && Array.isArray(data.values)) {
      const name = `d${i++}`;
      datasets[name] = data.values;
      node.data = { name };
    }
    for (const layer of (node.layer as Record<string, unknown>[] | undefined) ?? []) visit(layer);
    if (node.spec) visit(node.spec as Record<string, unknown>);
  };
  visit(spec);
  const key = JSON.stringify(spec);
  spec.datasets = datasets;
  return { key, datasets };
}

async function picture(view: vega.View): Promise<ImageBitmap> {
  const canvas = (await view.toCanvas(scale)) as unknown as OffscreenCanvas;
  return canvas.transferToImageBitmap();
}

async function render(name: string, spec: ChartSpec | null): Promise<ImageBitmap | null> {
  if (!spec) {
    views.get(name)?.view.finalize();
    views.delete(name);
    return null;
  }
  // splitData rewrites the spec it is given: a copy, since `sent` keeps the original
  const drawn = structuredClone(shown(name, spec)) as unknown as Record<string, unknown>;
  const { key, datasets } = splitData(drawn);
  const cur = views.get(name);
  if (cur && cur.key === key) {
    for (const [d, values] of Object.entries(datasets))
      cur.view.change(
        d,
        vega
          .changeset()
          .remove(() => true)
          .insert(values),
      );
    await cur.view.runAsync();
    return picture(cur.view);
  }
  cur?.view.finalize();
  // renderer "none": no DOM; toCanvas() draws the scenegraph on an OffscreenCanvas
  const view = new vega.View(vega.parse(compile(drawn as unknown as ChartSpec).spec), {
    renderer: "none",
    logLevel: vega.Error,
  });
  views.set(name, { key, view });
  return picture(view);
}

function titleOf(spec: ChartSpec | null): string {
  const t = (spec as { title?: string | { text?: string } } | null)?.title;
  return typeof t === "string" ? t : (t?.text ?? "");
}

const pending = new Map<string, ChartSpec | null>();
let busy = false;

async function drain(): Promise<void> {
  busy = true;
  try {
    while (pending.size) {
      const [name, spec] = pending.entries().next().value as [string, ChartSpec | null];
      pending.delete(name);
      const t0 = performance.now();
      try {
        const title = titleOf(spec);
        post({ name, bitmap: await render(name, spec), scale, title });
      } catch (e) {
        // a spec vega cannot draw is a bug: say which, keep drawing the others
        console.error(`chart ${name}: ${(e as Error)?.message ?? e}`);
      }
      // while a run trains, drawing shares the machine with it: at most a fifth of this thread's
      // time (once it holds, the last pictures come at once)
      const spent = performance.now() - t0;
      await new Promise((r) => setTimeout(r, training ? 4 * spent : 0));
    }
  } finally {
    busy = false;
  }
}

/** Draw `name` again from its last spec (the controls or its zoom changed). */
function redraw(name: string): void {
  const spec = sent.get(name);
  if (!spec) return;
  pending.set(name, spec);
  if (!busy) void drain();
}

self.onmessage = (e: MessageEvent<PageRequest>) => {
  const m = e.data;
  if ("port" in m) {
    // the page hands over one end of a channel whose other end the training worker holds
    scale = Math.min(3, Math.max(1, m.scale || 1));
    m.port.onmessage = (r: MessageEvent<ChartRequest>) => {
      training = r.data.training;
      for (const [name, spec] of Object.entries(r.data.charts)) {
        if (spec) sent.set(name, spec);
        else sent.delete(name);
        pending.set(name, spec);
      }
      if (!busy) void drain();
    };
  } else if ("widths" in m) {
    widths = m.widths;
    for (const name of sent.keys()) redraw(name);
  } else if ("controls" in m) {
    controls = m.controls;
    redraw("loss");
  } else {
    gesture(m.zoom);
    redraw(m.zoom.name);
  }
};
