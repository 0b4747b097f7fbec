/**
 * The run report: plots/*.svg + plots/*.png for every chart that has data, and one self-contained
 * report.html (inline SVG and CSS, no external URL, works offline) that reads top to bottom like
 * the lecture: summary, loss, forward pass, backward pass, weight gradients, update:data ratios,
 * saturation, health findings, samples.
 *
 * Missing pieces (no diagnostics.jsonl, an unfinished run, a torn metrics line) leave a note in
 * the report instead of failing; only a directory that is not a run at all is a UserError.
 *
 *   const { report, plots } = await writeReport("runs/bn", { findings: doctor(run) });
 */

import { existsSync, readdirSync, readFileSync, statSync, unlinkSync } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";
import { formatActivationLine, formatGradientLine, formatParameterLine } from "../diagnostics/format.ts";
import type { DiagnosticsSnapshot, Finding, MetricsLine } from "../diagnostics/types.ts";
import { UserError } from "../errors.ts";
import { ensureWritableDir, writeFileAtomic } from "../io/atomic.ts";
import { showPath } from "../io/describe.ts";
import { readJsonFile, readJsonLines, runPaths } from "../io/rundir.ts";
import { buildFromSpec, type ModelSpecBase } from "../models/index.ts";
import { Generator } from "../random/generator.ts";
import { specToSvg, svgToPng } from "./render.ts";
import {
  activationHistSpec,
  type ChartSpec,
  compareHistSpec,
  compareLossSpec,
  gradientHistSpec,
  histHistorySpec,
  lossSpec,
  plottedLayers,
  saturationSpec,
  updateRatioSpec,
  weightGradHistSpec,
  weightParams,
} from "./specs.ts";

// ---------------------------------------------------------------- reading a run

/** Everything the report shows about one run, read leniently: what is missing becomes a note. */
export interface RunData {
  dir: string;
  config?: Record<string, unknown>;
  state?: Record<string, unknown>;
  metrics: MetricsLine[];
  snapshots: DiagnosticsSnapshot[];
  samples?: string[];
  /** parameter shapes by name (from the diagnostics snapshots and the model the config describes) */
  shapes: Record<string, number[]>;
  numParameters?: number;
  /** what was missing or damaged, one sentence each */
  notes: string[];
}

/** diagnostics.jsonl beside metrics.jsonl (see src/diagnostics/types.ts). */
export function diagnosticsPath(dir: string): string {
  return join(dir, "diagnostics.jsonl");
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** JSONL read that survives `NaN`/`Infinity` written by a diverged run and skips bad lines. */
function readLenient(path: string, what: string, notes: string[]): unknown[] {
  try {
    const { records, tornTail } = readJsonLines(path, what);
    if (tornTail) notes.push(`${what}: the last line was cut off (a crash mid-write?) and was skipped.`);
    return records;
  } catch (e) {
    if (!(e instanceof UserError) || !/damaged/.test(e.message)) throw e;
  }
  const out: unknown[] = [];
  let bad = 0;
  for (const line of readFileSync(path, "utf8").split("\n")) {
    if (line.trim() === "") continue;
    try {
      out.push(JSON.parse(line));
    } catch {
      try {
        // a diverged step may log NaN or Infinity, which JSON cannot hold: read them as null
        out.push(JSON.parse(line.replace(/-?\bInfinity\b|\bNaN\b/g, "null")));
      } catch {
        bad++;
      }
    }
  }
  notes.push(
    `${what}: some lines are not valid JSON${bad ? ` (${bad} skipped)` : ""}; non-finite values (NaN, Infinity) are shown as gaps.`,
  );
  return out;
}

function toMetrics(records: unknown[]): MetricsLine[] {
  const out: MetricsLine[] = [];
  for (const r of records) {
    if (!isObject(r) || typeof r.step !== "number" || !Number.isFinite(r.step)) continue;
    const m: MetricsLine = { step: r.step };
    if (typeof r.loss === "number") m.loss = r.loss;
    else if (r.loss === null) m.loss = Number.NaN;
    if (typeof r.lr === "number") m.lr = r.lr;
    if (isObject(r.ud)) m.ud = r.ud as Record<string, number>;
    if (typeof r.train_loss === "number") m.train_loss = r.train_loss;
    if (typeof r.val_loss === "number") m.val_loss = r.val_loss;
    out.push(m);
  }
  return out;
}

/** A number field; JSON turns Infinity and NaN into null, read back as `ifNull`. */
function numField(o: Record<string, unknown>, key: string, ifNull = Number.NaN): void {
  if (typeof o[key] !== "number") o[key] = ifNull;
}

function isHistogram(h: unknown): boolean {
  return isObject(h) && Array.isArray(h.counts) && Array.isArray(h.edges);
}

/** Entries of a snapshot list that have the fields the report reads (numbers made numeric). */
function entries<T>(v: unknown, fields: string[], extra: (o: Record<string, unknown>) => boolean): T[] {
  if (!Array.isArray(v)) return [];
  const out: T[] = [];
  for (const o of v) {
    if (!isObject(o) || !extra(o)) continue;
    for (const f of fields) numField(o, f);
    out.push(o as T);
  }
  return out;
}

function toSnapshots(records: unknown[]): DiagnosticsSnapshot[] {
  const out: DiagnosticsSnapshot[] = [];
  const layer = (o: Record<string, unknown>) =>
    typeof o.layer === "number" && typeof o.kind === "string" && isHistogram(o.hist);
  for (const r of records) {
    if (!isObject(r) || typeof r.step !== "number") continue;
    out.push({
      step: r.step,
      loss: typeof r.loss === "number" ? r.loss : Number.NaN,
      activations: entries(r.activations, ["mean", "std", "saturated"], layer),
      gradients: entries(r.gradients, ["mean", "std"], layer),
      params: entries(r.params, ["mean", "std"], (o) => {
        if (typeof o.name !== "string" || !Array.isArray(o.shape) || !isHistogram(o.hist)) return false;
        // std(grad) / std(data) with data of zero spread is Infinity, stored as null
        numField(o, "gradDataRatio", Number.POSITIVE_INFINITY);
        return true;
      }),
      saturation: entries(r.saturation, ["rows", "cols"], (o) => {
        if (typeof o.layer !== "number" || typeof o.bits !== "string") return false;
        if (!Array.isArray(o.deadUnits)) o.deadUnits = [];
        return true;
      }),
    });
  }
  return out;
}

/**
 * Read a run directory for the report. UserError when `dir` does not exist, is not a directory
 * or holds neither config.json nor metrics.jsonl; every other gap becomes a note.
 */
export function readRunData(dir: string): RunData {
  const shown = showPath(dir);
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    throw new UserError(`run directory ${shown} does not exist`);
  }
  if (!isDir) throw new UserError(`run directory ${shown} is not a directory`);
  const paths = runPaths(dir);
  const hasConfig = existsSync(paths.config);
  const hasMetrics = existsSync(paths.metrics);
  if (!hasConfig && !hasMetrics)
    throw new UserError(`${shown} is not a run directory (no config.json or metrics.jsonl)`);

  const notes: string[] = [];
  const data: RunData = { dir, metrics: [], snapshots: [], shapes: {}, notes };

  if (hasConfig) {
    try {
      const c = readJsonFile(paths.config, "run config");
      if (isObject(c)) data.config = c;
      else notes.push("config.json is not a JSON object; the summary is incomplete.");
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      notes.push(`${e.message}; the summary is incomplete.`);
    }
  } else notes.push("no config.json: the model and training settings are unknown.");

  if (existsSync(paths.state)) {
    try {
      const s = readJsonFile(paths.state, "training state");
      if (isObject(s)) data.state = s;
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      notes.push(`${e.message}.`);
    }
  }

  if (hasMetrics) data.metrics = toMetrics(readLenient(paths.metrics, "metrics.jsonl", notes));
  else notes.push("no metrics.jsonl: the run has not logged a step yet.");

  const diag = diagnosticsPath(dir);
  if (existsSync(diag)) {
    data.snapshots = toSnapshots(readLenient(diag, "diagnostics.jsonl", notes));
    if (data.snapshots.length === 0) notes.push("diagnostics.jsonl holds no snapshot.");
  } else
    notes.push(
      "no diagnostics.jsonl: train with --diagnostics to record activations, gradients and update ratios.",
    );

  if (existsSync(paths.samples)) {
    try {
      data.samples = readFileSync(paths.samples, "utf8")
        .split("\n")
        .filter((s) => s.length > 0);
    } catch {
      notes.push("samples.txt cannot be read.");
    }
  }

  // parameter shapes and count: rebuild the architecture the config names (cheap)
  const model = data.config?.model;
  const size = (k: string) => (isObject(model) && typeof model[k] === "number" ? (model[k] as number) : 0);
  // (H, max(H, T*C)) per hidden layer: skip the rebuild for models too big to build in a blink
  const weights =
    size("nHidden") * Math.max(size("nHidden"), size("nEmbd") * size("blockSize")) * size("depth");
  if (isObject(model) && weights <= 5e6) {
    try {
      const m = buildFromSpec(model as unknown as ModelSpecBase, new Generator());
      for (const [name, t] of m.namedParameters()) data.shapes[name] = t.shape.slice();
      data.numParameters = m.numParameters();
    } catch {
      notes.push("the model in config.json cannot be rebuilt, so its parameter count is unknown.");
    }
  }
  // the snapshots were written by the same code as the update ratios: their names win
  for (const s of data.snapshots) for (const p of s.params) data.shapes[p.name] = p.shape.slice();

  const st = data.state;
  const maxSteps = isObject(data.config?.train)
    ? (data.config.train as Record<string, unknown>).maxSteps
    : undefined;
  if (st && st.finished !== true)
    notes.push(
      `the run is unfinished: ${typeof st.step === "number" ? st.step : "?"} of ${typeof maxSteps === "number" ? maxSteps : "?"} steps; split losses are measured at the end.`,
    );
  else if (!st && hasConfig) notes.push("no state.json: the run has not saved a checkpoint yet.");
  return data;
}

// ---------------------------------------------------------------- HTML pieces

function esc(s: unknown): string {
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
.chart svg { max-width: 100%; height: auto; display: block; margin: 8px 0; }
.chart.wide svg { width: 100%; }
.note { background: #fff8e1; border-left: 4px solid #f0b400; padding: 6px 10px; margin: 8px 0; font-size: 14px; }
.notes { margin: 8px 0; padding-left: 20px; font-size: 14px; color: #444; }
.finding { border: 1px solid #ddd; border-left-width: 5px; padding: 6px 12px; margin: 10px 0; }
.finding.error { border-left-color: #d62728; }
.finding.warning { border-left-color: #ff7f0e; }
.finding.info { border-left-color: #1f77b4; }
.finding h3 { margin: 4px 0; }
.finding .sev { font-size: 12px; text-transform: uppercase; letter-spacing: .05em; color: #666; margin-right: 6px; }
.finding p { margin: 4px 0; }
.steps { font-size: 13px; color: #555; }
.steps span + span::before { content: ", "; color: #999; }
.steps span.chosen { font-weight: bold; color: #1f77b4; }
ol.samples { columns: 4 140px; font-family: "DejaVu Sans Mono", ui-monospace, monospace; font-size: 14px; }
footer { margin-top: 40px; font-size: 12px; color: #888; }
`;

function page(title: string, nav: [string, string][], body: string): string {
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

function section(id: string, heading: string, body: string): string {
  return `<section id="${esc(id)}">\n<h2>${esc(heading)}</h2>\n${body}\n</section>\n`;
}

function note(text: string): string {
  return `<p class="note">${esc(text)}</p>`;
}

function pre(lines: string[]): string {
  return lines.length ? `<pre>${esc(lines.join("\n"))}</pre>` : "";
}

function fmtLoss(v: unknown): string {
  return typeof v === "number" && Number.isFinite(v) ? v.toFixed(4) : "–";
}

function fmtNum(v: unknown): string {
  if (typeof v !== "number") return v === undefined ? "–" : String(v);
  return Number.isInteger(v) ? v.toLocaleString("en-US") : String(v);
}

function rows(pairs: [string, string][]): string {
  return `<table>${pairs.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join("")}</table>`;
}

// ---------------------------------------------------------------- charts to files

interface Chart {
  /** file stem in plots/ */
  name: string;
  spec: ChartSpec;
}

async function renderCharts(charts: Chart[], plotsDir: string | null): Promise<Map<string, string>> {
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
function removeStalePlots(plotsDir: string, written: string[]): void {
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

function figure(svgs: Map<string, string>, name: string): string {
  const svg = svgs.get(name);
  // line charts and histograms fill the card; a saturation map keeps its cells square and small
  const wide = name.startsWith("saturation-") ? "" : " wide";
  return svg ? `<div class="chart${wide}">${inlineSvg(svg)}</div>` : "";
}

// ---------------------------------------------------------------- the run report

export interface ReportOptions {
  /** health findings to show (from `doctor`); omitted: the section says none were given */
  findings?: Finding[];
  /** the diagnostics snapshot to show, by step (default: the last one) */
  step?: number;
  /** where to write the HTML (default RUN_DIR/report.html); plots always go to RUN_DIR/plots */
  outFile?: string;
}

export interface ReportResult {
  /** the HTML file written */
  report: string;
  /** the plot files written (svg and png) */
  plots: string[];
  /** the gaps the report mentions */
  notes: string[];
}

/** Pick the snapshot for `step` (UserError listing the steps when absent), else the last one. */
export function chooseSnapshot(
  snapshots: DiagnosticsSnapshot[],
  step?: number,
): DiagnosticsSnapshot | undefined {
  if (step === undefined) return snapshots.at(-1);
  const hit = snapshots.find((s) => s.step === step);
  if (!hit)
    throw new UserError(
      snapshots.length
        ? `no diagnostics snapshot at step ${step}; snapshots exist at steps ${snapshots.map((s) => s.step).join(", ")}`
        : `no diagnostics snapshot at step ${step}: the run has no diagnostics.jsonl`,
      2,
    );
  return hit;
}

/**
 * Write RUN_DIR/plots/*.svg|png and RUN_DIR/report.html (atomically) for the run in `runDir`.
 * Returns the paths written. UserError when `runDir` is not a run directory.
 */
export async function writeReport(runDir: string, opts: ReportOptions = {}): Promise<ReportResult> {
  const run = readRunData(runDir);
  const paths = runPaths(runDir);
  const snap = chooseSnapshot(run.snapshots, opts.step);
  const kindOf = new Map<number, string>();
  for (const a of snap?.activations ?? []) kindOf.set(a.layer, a.kind);

  // the charts that have data
  const charts: Chart[] = [];
  const add = (name: string, spec: ChartSpec | null) => {
    if (spec) charts.push({ name, spec });
  };
  add("loss", lossSpec(run.metrics));
  if (snap) {
    add("activations", activationHistSpec(snap));
    add("gradients", gradientHistSpec(snap));
    add("weight-gradients", weightGradHistSpec(snap));
    add("activations-history", histHistorySpec(run.snapshots, "activations"));
    add("gradients-history", histHistorySpec(run.snapshots, "gradients"));
  }
  const shapes = Object.keys(run.shapes).length ? run.shapes : undefined;
  add("update-ratios", updateRatioSpec(run.metrics, { shapes }));
  for (const map of snap?.saturation ?? [])
    add(
      `saturation-layer-${map.layer}`,
      saturationSpec(map, { kind: kindOf.get(map.layer), step: snap!.step }),
    );

  const svgs = await renderCharts(charts, paths.plots);
  const plots = charts.flatMap((c) => [
    join(paths.plots, `${c.name}.svg`),
    join(paths.plots, `${c.name}.png`),
  ]);
  removeStalePlots(paths.plots, plots);

  const html = runReportHtml(run, snap, svgs, opts.findings);
  const out = opts.outFile ?? paths.report;
  ensureWritableDir(dirname(resolve(out)));
  writeFileAtomic(out, html);
  return { report: out, plots, notes: run.notes };
}

function summaryHtml(run: RunData): string {
  const c = run.config ?? {};
  const model = isObject(c.model) ? c.model : {};
  const train = isObject(c.train) ? c.train : {};
  const data = isObject(c.data) ? c.data : {};
  const st = run.state ?? {};
  const losses = run.metrics.filter((m) => typeof m.loss === "number");
  const lastStep = run.metrics.at(-1)?.step;
  const pairs: [string, string][] = [];
  if (model.type !== undefined) pairs.push(["model", String(model.type)]);
  if (run.numParameters !== undefined) pairs.push(["parameters", fmtNum(run.numParameters)]);
  if (model.nEmbd !== undefined)
    pairs.push([
      "architecture",
      `n_embd ${model.nEmbd}, n_hidden ${model.nHidden}, depth ${model.depth}, block size ${model.blockSize}, vocabulary ${model.vocabSize}, BatchNorm ${model.batchnorm}, ${model.nonlinearity}`,
    ]);
  if (c.seed !== undefined) pairs.push(["seed", String(c.seed)]); // an identifier: 2147483647, not 2,147,483,647
  const done = typeof st.step === "number" ? st.step : lastStep !== undefined ? lastStep + 1 : undefined;
  if (done !== undefined || train.maxSteps !== undefined)
    pairs.push([
      "steps",
      `${fmtNum(done)} of ${fmtNum(train.maxSteps)}${st.finished === true ? " (finished)" : run.state ? " (unfinished)" : ""}`,
    ]);
  if (train.batchSize !== undefined)
    pairs.push([
      "optimisation",
      `batch ${train.batchSize}, learning rate ${train.learningRate} -> ${train.lrDecayTo} at step ${fmtNum(train.lrDecayStep)}`,
    ]);
  if (data.inputFile !== undefined)
    pairs.push(["data", `${data.inputFile} (${fmtNum(data.numWords)} words)`]);
  if (losses.length) pairs.push(["last minibatch loss", fmtLoss(losses.at(-1)!.loss)]);

  const split = isObject(st.splitLosses) ? st.splitLosses : undefined;
  const splitHtml = split
    ? `<h3>final split losses</h3><table><tr><th>train</th><th>val</th><th>test</th></tr><tr><td class="num">${splitText(split.train)}</td><td class="num">${splitText(split.val)}</td><td class="num">${splitText(split.test)}</td></tr></table>`
    : note("no final split losses yet: they are measured when training finishes.");
  const notesHtml = run.notes.length
    ? `<h3>notes</h3><ul class="notes">${run.notes.map((n) => `<li>${esc(n)}</li>`).join("")}</ul>`
    : "";
  return `${rows(pairs)}${splitHtml}${notesHtml}`;
}

/** A final split loss: null (NaN in JSON) is a split with no examples, said as the CLI says it. */
function splitText(v: unknown): string {
  return v === null ? "empty" : fmtLoss(v as number);
}

function snapshotStepsHtml(run: RunData, snap: DiagnosticsSnapshot | undefined): string {
  if (!snap) return "";
  const list = run.snapshots
    .map((s) => `<span${s === snap ? ' class="chosen"' : ""}>${s.step}</span>`)
    .join("");
  return `<p class="lead">Diagnostics snapshot shown: step ${esc(fmtNum(snap.step))} (minibatch loss ${esc(fmtLoss(snap.loss))}). The views over time below show every snapshot; to draw another one here, <code>makemore report --step N</code> with N among:</p><p class="steps">${list}</p>`;
}

function findingsHtml(findings: Finding[] | undefined): string {
  if (findings === undefined)
    return note("No health check was run for this report (makemore doctor RUN_DIR runs one).");
  if (findings.length === 0) return "<p>No problems found.</p>";
  const order = { error: 0, warning: 1, info: 2 } as const;
  return [...findings]
    .sort((a, b) => (order[a.severity] ?? 3) - (order[b.severity] ?? 3))
    .map((f) => {
      const measured = Object.entries(f.measured ?? {})
        .map(([k, v]) => `${k} = ${typeof v === "number" ? Number(v.toPrecision(4)) : v}`)
        .join(", ");
      return `<div class="finding ${esc(f.severity)}"><h3><span class="sev">${esc(f.severity)}</span>${esc(f.title)}</h3>${
        f.where ? `<p><b>where:</b> ${esc(f.where)}</p>` : ""
      }${measured ? `<p><b>measured:</b> ${esc(measured)}</p>` : ""}<p><b>why:</b> ${esc(f.why)}</p><p><b>fix:</b> ${esc(f.fix)}</p></div>`;
    })
    .join("\n");
}

function runReportHtml(
  run: RunData,
  snap: DiagnosticsSnapshot | undefined,
  svgs: Map<string, string>,
  findings: Finding[] | undefined,
): string {
  const noDiag = note(
    run.snapshots.length === 0
      ? "No diagnostics for this run: train with --diagnostics to record them."
      : "This snapshot holds no data for this section.",
  );
  const body: string[] = [];
  body.push(section("summary", "Run", summaryHtml(run)));

  body.push(
    section(
      "loss",
      "Loss",
      svgs.has("loss")
        ? `<p class="lead">log10 of each step's minibatch loss (light) and its block mean (dark), as the lecture plots <code>torch.tensor(lossi).view(-1, 1000).mean(1)</code>.</p>${figure(svgs, "loss")}`
        : note("No loss has been logged yet."),
    ),
  );

  const acts = snap ? plottedLayers(snap.activations) : [];
  body.push(
    section(
      "forward",
      "Forward pass: activations",
      `${snapshotStepsHtml(run, snap)}${
        acts.length
          ? `<p class="lead">Each layer's output distribution. Tanh outputs piled up at ±1 are saturated: they pass (almost) no gradient back.</p>${figure(svgs, "activations")}${pre(acts.map(formatActivationLine))}${svgs.has("activations-history") ? figure(svgs, "activations-history") : ""}`
          : noDiag
      }`,
    ),
  );

  const grads = snap ? plottedLayers(snap.gradients) : [];
  body.push(
    section(
      "backward",
      "Backward pass: gradients",
      grads.length
        ? `<p class="lead">The gradient at each layer's output. Similar spreads across layers mean no layer's gradient vanishes or explodes.</p>${figure(svgs, "gradients")}${pre(grads.map(formatGradientLine))}${svgs.has("gradients-history") ? figure(svgs, "gradients-history") : ""}`
        : noDiag,
    ),
  );

  const weights = snap ? weightParams(snap.params) : [];
  body.push(
    section(
      "weights",
      "Weight gradients",
      weights.length
        ? `<p class="lead">Gradient of each 2-D parameter and its grad:data ratio (std of the gradient over std of the values).</p>${figure(svgs, "weight-gradients")}${pre(weights.map(formatParameterLine))}`
        : noDiag,
    ),
  );

  body.push(
    section(
      "updates",
      "Update:data ratio over time",
      svgs.has("update-ratios")
        ? `<p class="lead">How large each step's update is against the values it changes, log10(std(lr·grad) / std(data)). The lecture aims for about -3: far below, the parameter learns too slowly; far above, too fast.</p>${figure(svgs, "update-ratios")}`
        : note("No update ratios in metrics.jsonl: train with --diagnostics to record them every step."),
    ),
  );

  const maps = snap?.saturation ?? [];
  body.push(
    section(
      "saturation",
      "Saturation",
      maps.length
        ? `<p class="lead">For each tanh layer, the examples of the batch (rows) against the units (columns); white where |h| > 0.99. A column white all the way down is a dead unit: it never learns.</p>${maps
            .map((m) => {
              const dead = m.deadUnits.length ? `<p>dead units: ${esc(m.deadUnits.join(", "))}</p>` : "";
              return `${figure(svgs, `saturation-layer-${m.layer}`)}${dead}`;
            })
            .join("")}`
        : snap
          ? note("This snapshot has no saturation map (the model has no tanh layer).")
          : noDiag,
    ),
  );

  body.push(section("findings", "Health findings", findingsHtml(findings)));

  body.push(
    section(
      "samples",
      "Samples",
      run.samples?.length
        ? `<ol class="samples">${run.samples.map((s) => `<li>${esc(s)}</li>`).join("")}</ol>`
        : note("No samples yet: they are written when training finishes (or with makemore sample)."),
    ),
  );

  const type = isObject(run.config?.model) ? String(run.config.model.type) : "run";
  const title = `makemore report: ${basename(resolve(run.dir))} (${type})`;
  return page(
    title,
    [
      ["summary", "run"],
      ["loss", "loss"],
      ["forward", "activations"],
      ["backward", "gradients"],
      ["weights", "weight gradients"],
      ["updates", "update:data"],
      ["saturation", "saturation"],
      ["findings", "findings"],
      ["samples", "samples"],
    ],
    body.join(""),
  );
}

// ---------------------------------------------------------------- several runs

/** Labels for runs: their directory names, or their paths relative to the common parent when names repeat. */
export function runLabels(dirs: readonly string[]): string[] {
  const names = dirs.map((d) => basename(resolve(d)));
  if (new Set(names).size === names.length) return names;
  return dirs.map((d) => relative(process.cwd(), resolve(d)) || ".");
}

/**
 * Compare several runs in one self-contained HTML file: overlaid loss curves, a table of final
 * split losses, and (when the runs have diagnostics) their last snapshots' histograms side by side.
 */
export async function writeComparisonReport(
  runDirs: readonly string[],
  outFile: string,
  opts: { labels?: string[]; title?: string } = {},
): Promise<{ report: string; notes: string[] }> {
  if (runDirs.length === 0) throw new UserError("no run directories to compare", 2);
  const runs = runDirs.map(readRunData);
  const labels = opts.labels ?? runLabels(runDirs);
  const charts: Chart[] = [];
  const add = (name: string, spec: ChartSpec | null) => {
    if (spec) charts.push({ name, spec });
  };
  add("loss", compareLossSpec(runs.map((r, i) => ({ label: labels[i]!, metrics: r.metrics }))));
  const withSnap = runs.flatMap((r, i) =>
    r.snapshots.length ? [{ label: labels[i]!, snapshot: r.snapshots.at(-1)! }] : [],
  );
  const missing = labels.filter((_, i) => !runs[i]!.snapshots.length);
  add("activations", compareHistSpec(withSnap, "activations", { missing }));
  add("gradients", compareHistSpec(withSnap, "gradients", { missing }));
  const svgs = await renderCharts(charts, null);

  const table = `<table><tr><th>run</th><th>model</th><th>steps</th><th>train</th><th>val</th><th>test</th><th>last minibatch</th></tr>${runs
    .map((r, i) => {
      const split = isObject(r.state?.splitLosses) ? r.state.splitLosses : {};
      const model = isObject(r.config?.model) ? String(r.config.model.type) : "–";
      const steps =
        typeof r.state?.step === "number" ? r.state.step : r.metrics.length ? r.metrics.at(-1)!.step + 1 : 0;
      const last = [...r.metrics].reverse().find((m) => typeof m.loss === "number")?.loss;
      return `<tr><td>${esc(labels[i])}</td><td>${esc(model)}</td><td class="num">${esc(fmtNum(steps))}${
        r.state?.finished === true ? "" : " (unfinished)"
      }</td><td class="num">${splitText(split.train)}</td><td class="num">${splitText(split.val)}</td><td class="num">${splitText(split.test)}</td><td class="num">${fmtLoss(last)}</td></tr>`;
    })
    .join("")}</table>`;
  const notes = runs.flatMap((r, i) => r.notes.map((n) => `${labels[i]}: ${n}`));
  const body = [
    section(
      "runs",
      "Runs",
      `${table}${notes.length ? `<ul class="notes">${notes.map((n) => `<li>${esc(n)}</li>`).join("")}</ul>` : ""}`,
    ),
    section(
      "loss",
      "Loss",
      svgs.has("loss") ? figure(svgs, "loss") : note("None of these runs has logged a loss."),
    ),
  ];
  if (svgs.has("activations") || svgs.has("gradients"))
    body.push(
      section(
        "histograms",
        "Activations and gradients (last snapshot of each run)",
        `${figure(svgs, "activations")}${figure(svgs, "gradients")}`,
      ),
    );
  const html = page(
    opts.title ?? `makemore comparison: ${labels.join(", ")}`,
    [
      ["runs", "runs"],
      ["loss", "loss"],
      ...(body.length > 2 ? ([["histograms", "histograms"]] as [string, string][]) : []),
    ],
    body.join(""),
  );
  ensureWritableDir(dirname(resolve(outFile)));
  writeFileAtomic(outFile, html);
  return { report: outFile, notes };
}
