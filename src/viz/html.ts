/**
 * The HTML kit of the reports: escaping, inline SVG, one page with its CSS, sections, notes,
 * tables; and charts rendered to plots/*.svg + *.png. No network: every page is self-contained.
 */

import { readdirSync, unlinkSync } from "node:fs";
import { basename, join } from "node:path";
import { ensureWritableDir, writeFileAtomic } from "../io/atomic.ts";
import { specToSvg, svgToPng } from "./render.ts";
import type { ChartSpec } from "./specs.ts";

// ---------------------------------------------------------------- HTML pieces

export function esc(s: unknown): string {
  return String(s)
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;");
}

let svgCounter = 0;

/**
 * An SVG ready to sit inline in HTML: the XML namespace declarations go (HTML5 knows inline SVG,
 * and the report keeps no URL) and ids get a prefix, so two charts' clip paths cannot collide.
 */
export function inlineSvg(svg: string): string {
  const prefix = `s${++svgCounter}-`;
  const ids = new Set<string>();
  for (const m of svg.matchAll(/\sid="([^"]+)"/g)) ids.add(m[1]!);
  let out = svg
    .replace(/<\?xml[^>]*>\s*/, "")
    .replace(/\sxmlns(:\w+)?="[^"]*"/g, "")
    .replace(/\sid="([^"]+)"/g, (_, id) => ` id="${prefix}${id}"`);
  out = out.replace(/url\(#([^)]+)\)/g, (m, id) => (ids.has(id) ? `url(#${prefix}${id})` : m));
  out = out.replace(/href="#([^"]+)"/g, (m, id) => (ids.has(id) ? `href="#${prefix}${id}"` : m));
  return out.replace(/<svg\b/, '<svg role="img"');
}

const CSS = `
:root { color-scheme: light; }
body { font: 15px/1.5 "DejaVu Sans", system-ui, sans-serif; color: #222; margin: 0; background: #fafafa; }
main { max-width: 960px; margin: 0 auto; padding: 16px 24px 48px; background: white; }
h1 { font-size: 24px; margin: 8px 0 4px; }
h2 { font-size: 19px; margin: 32px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
h3 { font-size: 16px; margin: 20px 0 6px; }
nav { font-size: 13px; color: #555; margin-bottom: 8px; }
nav a { margin-right: 10px; color: #1f77b4; text-decoration: none; }
p.lead { color: #555; margin: 0 0 8px; }
table { border-collapse: collapse; margin: 8px 0; font-size: 14px; }
td, th { padding: 3px 12px 3px 0; text-align: left; vertical-align: top; }
th { color: #555; font-weight: normal; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f4f4f4; padding: 8px 10px; overflow-x: auto; font: 13px/1.45 "DejaVu Sans Mono", ui-monospace, monospace; }
.chart { overflow-x: auto; }
.chart svg { max-width: 100%; height: auto; display: block; margin: 8px 0; }
/* wide charts fill the card, but not below 600 px, where their 11 px text would shrink to 6 px:
   on a phone the chart scrolls sideways instead */
.chart.wide svg { width: 100%; min-width: 600px; max-width: none; }
/* a saturation map keeps its square cells at their drawn size (2-16 px), scrolling if need be */
.chart:not(.wide) svg { max-width: none; }
.note { background: #fff8e1; border-left: 4px solid #f0b400; padding: 6px 10px; margin: 8px 0; font-size: 14px; }
.notes { margin: 8px 0; padding-left: 20px; font-size: 14px; color: #444; }
.finding { border: 1px solid #ddd; border-left-width: 5px; padding: 6px 12px; margin: 10px 0; }
.finding.error { border-left-color: #d62728; }
.finding.warning { border-left-color: #ff7f0e; }
.finding.info { border-left-color: #1f77b4; }
.finding h3 { margin: 4px 0; }
.finding .sev { font-size: 12px; text-transform: uppercase; letter-spacing: .05em; color: #666; margin-right: 6px; }
.finding p { margin: 4px 0; }
.snapbar { position: sticky; top: 0; z-index: 1; display: flex; flex-wrap: wrap; align-items: center; gap: 4px 10px; margin: 24px -24px 0; padding: 6px 24px; background: white; border-bottom: 1px solid #ddd; font-size: 13px; }
.snapbar-label { color: #555; }
/* the label and what is shown on one line, the buttons below it (wrapping; a phone: one scrolling row) */
.snapbar-steps { display: flex; flex-wrap: wrap; gap: 4px; flex: 1 1 100%; min-width: 0; }
.snapbar button { font: 13px/1.3 "DejaVu Sans", system-ui, sans-serif; font-variant-numeric: tabular-nums; padding: 2px 8px; border: 1px solid #bbb; border-radius: 3px; background: white; color: #222; cursor: pointer; }
.snapbar button:hover { border-color: #1f77b4; }
.snapbar button:focus-visible { outline: 2px solid #1f77b4; outline-offset: 1px; }
.snapbar button[aria-pressed="true"] { background: #1f77b4; border-color: #1f77b4; color: white; font-weight: bold; }
.snapbar-shown { color: #222; }
.snapshot-scope section { scroll-margin-top: 100px; } /* a link to a section lands below the bar */
@media (max-width: 600px) {
  main { padding: 12px 12px 40px; }
  .snapbar { margin: 24px -12px 0; padding: 6px 12px; }
  .snapbar-label { display: none; } /* the group's aria-label still names it; the status line says "step N" */
  /* one scrolling row, so the sticky bar covers one line of the page, not four */
  .snapbar-steps { flex-wrap: nowrap; overflow-x: auto; }
}
/* the gap holds the next column's numbers; a long (untrained) sample wraps inside its column */
ol.samples { columns: 4 140px; column-gap: 3em; font-family: "DejaVu Sans Mono", ui-monospace, monospace; font-size: 14px; }
ol.samples li { overflow-wrap: anywhere; }
footer { margin-top: 40px; font-size: 12px; color: #888; }
`;

export function page(title: string, nav: [string, string][], body: string): string {
  const links = nav.map(([id, text]) => `<a href="#${esc(id)}">${esc(text)}</a>`).join("");
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>${CSS}</style>
</head>
<body>
<main>
<h1>${esc(title)}</h1>
<nav>${links}</nav>
${body}
<footer>written by makemore-ts; self-contained: open it without a network.</footer>
</main>
</body>
</html>
`;
}

export function section(id: string, heading: string, body: string): string {
  return `<section id="${esc(id)}">\n<h2>${esc(heading)}</h2>\n${body}\n</section>\n`;
}

export function note(text: string): string {
  return `<p class="note">${esc(text)}</p>`;
}

export function pre(lines: string[]): string {
  return lines.length ? `<pre>${esc(lines.join("\n"))}</pre>` : "";
}

export function fmtLoss(v: unknown): string {
  return typeof v === "number" && Number.isFinite(v) ? v.toFixed(4) : "–";
}

export function fmtNum(v: unknown): string {
  if (typeof v !== "number") return v === undefined ? "–" : String(v);
  return Number.isInteger(v) ? v.toLocaleString("en-US") : String(v);
}

export function rows(pairs: [string, string][]): string {
  return `<table>${pairs.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join("")}</table>`;
}

// ---------------------------------------------------------------- charts to files

export interface Chart {
  /** file stem in plots/ */
  name: string;
  spec: ChartSpec;
}

export async function renderCharts(charts: Chart[], plotsDir: string | null): Promise<Map<string, string>> {
  const svgs = new Map<string, string>();
  if (plotsDir) ensureWritableDir(plotsDir);
  for (const c of charts) {
    const svg = await specToSvg(c.spec);
    svgs.set(c.name, svg);
    if (plotsDir) {
      writeFileAtomic(join(plotsDir, `${c.name}.svg`), svg);
      writeFileAtomic(join(plotsDir, `${c.name}.png`), svgToPng(svg));
    }
  }
  return svgs;
}

/** The chart files a report writes; only these are ever removed from plots/. */
const REPORT_PLOT =
  /^(loss|activations|gradients|weight-gradients|update-ratios|saturation-layer-\d+)\.(svg|png)$/;

/** Remove report charts an earlier report wrote that this one did not (a snapshot without them). */
export function removeStalePlots(plotsDir: string, written: string[]): void {
  const keep = new Set(written.map((p) => basename(p)));
  let entries: string[];
  try {
    entries = readdirSync(plotsDir);
  } catch {
    return;
  }
  for (const name of entries) {
    if (!REPORT_PLOT.test(name) || keep.has(name)) continue;
    try {
      unlinkSync(join(plotsDir, name));
    } catch {
      // a plot we cannot remove is only stale, not wrong
    }
  }
}

export function figure(svgs: Map<string, string>, name: string): string {
  const svg = svgs.get(name);
  // line charts and histograms fill the card; a saturation map keeps its cells square and small
  const wide = name.startsWith("saturation-") ? "" : " wide";
  return svg ? `<div class="chart${wide}">${inlineSvg(svg)}</div>` : "";
}

/** A final split loss: null (NaN in JSON) is a split with no examples, said as the CLI says it. */
export function splitText(v: unknown): string {
  return v === null ? "empty" : fmtLoss(v as number);
}
