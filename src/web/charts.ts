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
 * dashboard. Only the newest spec of each chart is drawn, and drawing pauses four times as long as
 * it drew: on a busy machine charts skip frames instead of taking time from training.
 */

import * as vega from "vega";
import { compile } from "vega-lite";
import type { ChartSpec } from "../viz/specs.ts";

/** From the training worker: the charts that changed (null: the chart is gone). */
export interface ChartRequest {
  charts: Record<string, ChartSpec | null>;
}

/** To the page: one chart's picture (null to clear it) at `scale` device pixels per CSS pixel. */
export interface ChartDrawn {
  name: string;
  bitmap: ImageBitmap | null;
  scale: number;
  /** the chart's title, for the page's alt text */
  title: string;
}

const post = (m: ChartDrawn) =>
  (self as unknown as { postMessage(m: unknown, t: Transferable[]): void }).postMessage(
    m,
    m.bitmap ? [m.bitmap] : [],
  );

/** device pixels per CSS pixel (the page says; 1 until it does) */
let scale = 1;

const views = new Map<string, { key: string; view: vega.View }>();

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
  const { key, datasets } = splitData(spec as unknown as Record<string, unknown>);
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
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: "none", logLevel: vega.Error });
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
      // drawing shares the machine with training: at most a fifth of this thread's time
      const spent = performance.now() - t0;
      await new Promise((r) => setTimeout(r, 4 * spent));
    }
  } finally {
    busy = false;
  }
}

self.onmessage = (e: MessageEvent<{ port: MessagePort; scale: number }>) => {
  // the page hands over one end of a channel whose other end the training worker holds
  scale = Math.min(3, Math.max(1, e.data.scale || 1));
  e.data.port.onmessage = (m: MessageEvent<ChartRequest>) => {
    for (const [name, spec] of Object.entries(m.data.charts)) pending.set(name, spec);
    if (!busy) void drain();
  };
};
