import { basename, dirname, join, resolve } from "node:path";
import { formatActivationLine, formatGradientLine, formatParameterLine } from "../diagnostics/format.ts";
import type { DiagnosticsSnapshot, Finding } from "../diagnostics/types.ts";
import { UserError } from "../errors.ts";
import { ensureWritableDir, writeFileAtomic } from "../io/atomic.ts";
import { runPaths } from "../io/rundir.ts";
import { isObject, type RunData, readRunData } from "../io/runfiles.ts";
import { optimizationText } from "../train/session.ts";
import type { TrainConfig } from "../train/train.ts";
import {
  type Chart,
  esc,
  figure,
  fmtLoss,
  fmtNum,
  note,
  page,
  pre,
  removeStalePlots,
  renderCharts,
  rows,
  section,
  splitText,
} from "./html.ts";
import { MetricsHistory } from "./series.ts";
import {
  activationHistSpec,
  type ChartSpec,
  gradientHistSpec,
  histHistorySpec,
  MAX_HISTORY,
  plottedLayers,
  saturationSpec,
  spreadPick,
  weightGradHistSpec,
  weightParams,
} from "./specs.ts";

export { writeComparisonReport } from "./compare.ts";

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
  const history = new MetricsHistory();
  const run = readRunData(runDir, (m) => history.push(m));
  const paths = runPaths(runDir);
  const snap = chooseSnapshot(run.snapshots, opts.step);

  // the charts that have data
  const charts: Chart[] = [];
  const add = (name: string, spec: ChartSpec | null) => {
    if (spec) charts.push({ name, spec });
  };
  add("loss", history.lossSpec());
  if (snap) {
    charts.push(...snapshotCharts(snap));
    add("activations-history", histHistorySpec(run.snapshots, "activations"));
    add("gradients-history", histHistorySpec(run.snapshots, "gradients"));
  }
  const shapes = Object.keys(run.shapes).length ? run.shapes : undefined;
  add("update-ratios", history.updateRatioSpec(shapes));

  const svgs = await renderCharts(charts, paths.plots);
  const plots = charts.flatMap((c) => [
    join(paths.plots, `${c.name}.svg`),
    join(paths.plots, `${c.name}.png`),
  ]);
  removeStalePlots(paths.plots, plots);

  // the other snapshots the page can switch to: drawn the same way, kept in the page, not in plots/
  const others = new Map<DiagnosticsSnapshot, Map<string, string>>();
  for (const s of switchableSnapshots(run.snapshots, snap))
    if (s !== snap) others.set(s, await renderCharts(snapshotCharts(s), null));

  const html = runReportHtml(run, history, snap, svgs, others, opts.findings);
  const out = opts.outFile ?? paths.report;
  ensureWritableDir(dirname(resolve(out)));
  writeFileAtomic(out, html);
  return { report: out, plots, notes: run.notes };
}

function summaryHtml(run: RunData, history: MetricsHistory): string {
  const c = run.config ?? {};
  const model = isObject(c.model) ? c.model : {};
  const train = isObject(c.train) ? c.train : {};
  const data = isObject(c.data) ? c.data : {};
  const st = run.state ?? {};
  const lastStep = history.lastStep >= 0 ? history.lastStep : undefined;
  const pairs: [string, string][] = [];
  if (model.type !== undefined) pairs.push(["model", String(model.type)]);
  if (run.numParameters !== undefined) pairs.push(["parameters", fmtNum(run.numParameters)]);
  // the fields this model family's spec has (an MLP's depth, a WaveNet's group size, a
  // Transformer's layers and heads, a bigram's smoothing or regularization), in one order
  const arch = (
    [
      ["n_embd", model.nEmbd],
      ["n_hidden", model.nHidden],
      ["n_embd2", model.nEmbd2],
      ["depth", model.depth],
      ["n_layer", model.nLayer],
      ["n_head", model.nHead],
      ["group size", model.groupSize],
      ["block size", model.blockSize],
      ["vocabulary", model.vocabSize],
      ["BatchNorm", model.batchnorm],
      ["per position", model.bnPerPosition === true ? "(the lecture's bug)" : undefined],
      ["smoothing", model.smoothing],
      ["regularization", model.regularization],
    ] as [string, unknown][]
  )
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k} ${v}`);
  if (model.nonlinearity !== undefined) arch.push(String(model.nonlinearity));
  if (arch.length) pairs.push(["architecture", arch.join(", ")]);
  if (c.seed !== undefined) pairs.push(["seed", String(c.seed)]); // an identifier: 2147483647, not 2,147,483,647
  const done = typeof st.step === "number" ? st.step : lastStep !== undefined ? lastStep + 1 : undefined;
  if (done !== undefined || train.maxSteps !== undefined)
    pairs.push([
      "steps",
      `${fmtNum(done)} of ${fmtNum(train.maxSteps)}${st.finished === true ? " (finished)" : run.state ? " (unfinished)" : ""}`,
    ]);
  // the optimizer and schedule as the start-up line says them (a constant or cosine rate, a drop
  // past the last step), not "0.1 -> 0.01 at step 100,000" for every run
  if (train.batchSize !== undefined && typeof train.learningRate === "number")
    pairs.push([
      "optimisation",
      `batch ${train.batchSize} | ${optimizationText(train as unknown as TrainConfig)}`,
    ]);
  if (data.inputFile !== undefined)
    pairs.push(["data", `${data.inputFile} (${fmtNum(data.numWords)} words)`]);
  if (history.lastLoss !== undefined) pairs.push(["last minibatch loss", fmtLoss(history.lastLoss)]);

  const split = isObject(st.splitLosses) ? st.splitLosses : undefined;
  const splitHtml = split
    ? `<h3>final split losses</h3><table><tr><th>train</th><th>val</th><th>test</th></tr><tr><td class="num">${splitText(split.train)}</td><td class="num">${splitText(split.val)}</td><td class="num">${splitText(split.test)}</td></tr></table>`
    : note("no final split losses yet: they are measured when training finishes.");
  const notesHtml = run.notes.length
    ? `<h3>notes</h3><ul class="notes">${run.notes.map((n) => `<li>${esc(n)}</li>`).join("")}</ul>`
    : "";
  return `${rows(pairs)}${splitHtml}${notesHtml}`;
}

// ---------------------------------------------------------------- the snapshot panels

/**
 * The sections that draw one diagnostics snapshot. The page's snapshot bar switches them
 * together; everything else (loss, update ratios, the views over time) spans the whole run.
 */
const PANELS = ["forward", "backward", "weights", "saturation"] as const;
type Panel = (typeof PANELS)[number];

/** The charts of one snapshot: its histograms and one saturation map per tanh layer. */
function snapshotCharts(snap: DiagnosticsSnapshot): Chart[] {
  const kindOf = new Map<number, string>();
  for (const a of snap.activations) kindOf.set(a.layer, a.kind);
  const charts: Chart[] = [];
  const add = (name: string, spec: ChartSpec | null) => {
    if (spec) charts.push({ name, spec });
  };
  add("activations", activationHistSpec(snap));
  add("gradients", gradientHistSpec(snap));
  add("weight-gradients", weightGradHistSpec(snap));
  for (const map of snap.saturation)
    add(
      `saturation-layer-${map.layer}`,
      saturationSpec(map, { kind: kindOf.get(map.layer), step: snap.step }),
    );
  return charts;
}

/**
 * The snapshots the page can switch between: the rows of the views over time (at most
 * MAX_HISTORY, evenly spread, first and last kept) plus the one drawn. Each costs its charts'
 * SVG in the page (about 60 KB for the BatchNorm MLP, 250 KB for the 6-layer nets), so a
 * 200,000-step run's hundred snapshots are not all in it: `--step N` draws any other.
 */
export function switchableSnapshots(
  all: readonly DiagnosticsSnapshot[],
  shown: DiagnosticsSnapshot | undefined,
): DiagnosticsSnapshot[] {
  if (!shown) return [];
  const picked = spreadPick(all, MAX_HISTORY);
  if (!picked.includes(shown)) picked.push(shown);
  return picked.sort((a, b) => all.indexOf(a) - all.indexOf(b));
}

/** Each panel's content for one snapshot (a note where the snapshot has nothing for it). */
function panelsHtml(snap: DiagnosticsSnapshot, svgs: Map<string, string>): Record<Panel, string> {
  const empty = note("This snapshot holds no data for this section.");
  const acts = plottedLayers(snap.activations);
  const grads = plottedLayers(snap.gradients);
  const weights = weightParams(snap.params);
  return {
    forward: acts.length
      ? `<p class="lead">Each layer's output distribution. Tanh outputs piled up at ±1 are saturated: they pass (almost) no gradient back.</p>${figure(svgs, "activations")}${pre(acts.map(formatActivationLine))}`
      : empty,
    backward: grads.length
      ? `<p class="lead">The gradient at each layer's output. Similar spreads across layers mean no layer's gradient vanishes or explodes.</p>${figure(svgs, "gradients")}${pre(grads.map(formatGradientLine))}`
      : empty,
    weights: weights.length
      ? `<p class="lead">Gradient of each 2-D parameter and its grad:data ratio (std of the gradient over std of the values).</p>${figure(svgs, "weight-gradients")}${pre(weights.map(formatParameterLine))}`
      : empty,
    saturation: snap.saturation.length
      ? `<p class="lead">For each tanh layer, the examples of the batch (rows) against the units (columns); white where |h| > 0.99. A column white all the way down is a dead unit: it never learns.</p>${snap.saturation
          .map((m) => {
            const dead = m.deadUnits.length ? `<p>dead units: ${esc(m.deadUnits.join(", "))}</p>` : "";
            return `${figure(svgs, `saturation-layer-${m.layer}`)}${dead}`;
          })
          .join("")}`
      : note("This snapshot has no saturation map (the model has no tanh layer)."),
  };
}

/** "step 1,499, minibatch loss 2.1234": what the snapshot bar says of the snapshot shown. */
function snapshotLabel(s: DiagnosticsSnapshot): string {
  return `step ${fmtNum(s.step)}, minibatch loss ${fmtLoss(s.loss)}`;
}

/**
 * The bar of snapshot buttons (one per switchable snapshot, the one shown pressed), sticky above
 * the snapshot sections. Without a script (a viewer that runs none) it still says which one is
 * drawn, and how to draw another.
 */
function snapshotBarHtml(
  run: RunData,
  shown: DiagnosticsSnapshot,
  switchable: DiagnosticsSnapshot[],
): string {
  const buttons = switchable
    .map(
      (s) =>
        `<button type="button" data-snapshot="${run.snapshots.indexOf(s)}" data-label="${esc(snapshotLabel(s))}" aria-pressed="${s === shown}">${esc(fmtNum(s.step))}</button>`,
    )
    .join("");
  const rest = run.snapshots.filter((s) => !switchable.includes(s));
  const more = rest.length
    ? ` ${switchable.length} of the run's ${run.snapshots.length} snapshots are in this page (the rows of the views over time); <code>makemore report --step N</code> draws any other (N one of ${esc(rest.map((s) => s.step).join(", "))}).`
    : "";
  return `<div class="snapbar" role="group" aria-label="diagnostics snapshot"><span class="snapbar-label">diagnostics snapshot:</span><output class="snapbar-shown" aria-live="polite">${esc(snapshotLabel(shown))}</output><span class="snapbar-steps">${buttons}</span></div><p class="lead">The four sections below draw one diagnostics snapshot; choose it above (or with the arrow keys).${more}</p>`;
}

/**
 * The page script of the snapshot bar: a button shows its snapshot in every panel. The other
 * snapshots' panels wait in inert <template>s; the first visit moves a template's nodes into
 * the page and later visits move them back and forth, so every SVG id stays unique.
 */
const SNAPSHOT_SCRIPT = `
(() => {
  const bar = document.querySelector(".snapbar");
  if (!bar) return;
  const buttons = [...bar.querySelectorAll("button[data-snapshot]")];
  const views = [...document.querySelectorAll(".snapshot-view[data-panel]")];
  const shownLabel = bar.querySelector(".snapbar-shown");
  const parked = new Map(); // snapshot -> panel -> its nodes while another snapshot is shown
  let current = buttons.find((b) => b.getAttribute("aria-pressed") === "true")?.dataset.snapshot;
  // on a narrow screen the buttons are one row that scrolls sideways: keep the pressed one in it
  // (offsetLeft is from the sticky bar, the buttons' offset parent, as the row's is)
  function reveal(b) {
    const row = b.parentElement;
    if (row.scrollWidth <= row.clientWidth) return;
    row.scrollLeft = b.offsetLeft - row.offsetLeft - (row.clientWidth - b.offsetWidth) / 2;
  }
  const pressed = buttons.find((b) => b.dataset.snapshot === current);
  if (pressed) reveal(pressed);
  function show(id) {
    if (id === current) return;
    const away = new Map();
    for (const v of views) {
      const f = document.createDocumentFragment();
      f.append(...v.childNodes);
      away.set(v.dataset.panel, f);
    }
    parked.set(current, away);
    const back = parked.get(id);
    for (const v of views) {
      const saved = back?.get(v.dataset.panel);
      const tpl = document.querySelector('template[data-snapshot="' + id + '"][data-panel="' + v.dataset.panel + '"]');
      v.append(saved ?? tpl.content);
    }
    parked.delete(id);
    current = id;
    for (const b of buttons) b.setAttribute("aria-pressed", String(b.dataset.snapshot === id));
    const chosen = buttons.find((b) => b.dataset.snapshot === id);
    shownLabel.textContent = chosen.dataset.label;
    reveal(chosen);
  }
  bar.addEventListener("click", (e) => {
    const b = e.target.closest("button[data-snapshot]");
    if (b) show(b.dataset.snapshot);
  });
  // arrows, Home and End move along the bar and show what they land on (Enter and Space click)
  bar.addEventListener("keydown", (e) => {
    const i = buttons.indexOf(document.activeElement);
    if (i < 0) return;
    const j = { ArrowLeft: i - 1, ArrowRight: i + 1, Home: 0, End: buttons.length - 1 }[e.key];
    if (j === undefined || j < 0 || j >= buttons.length) return;
    e.preventDefault();
    buttons[j].focus();
    show(buttons[j].dataset.snapshot);
  });
})();
`;

/** The snapshot sections' panels, each a switchable view, and the other snapshots' templates. */
function snapshotViews(
  run: RunData,
  shown: DiagnosticsSnapshot,
  svgs: Map<string, string>,
  others: Map<DiagnosticsSnapshot, Map<string, string>>,
): { views: Record<Panel, string>; templates: string } {
  const mine = panelsHtml(shown, svgs);
  const views = Object.fromEntries(
    PANELS.map((p) => [p, `<div class="snapshot-view" data-panel="${p}">${mine[p]}</div>`]),
  ) as Record<Panel, string>;
  const templates = [...others]
    .map(([s, sv]) => {
      const html = panelsHtml(s, sv);
      const id = run.snapshots.indexOf(s);
      return PANELS.map(
        (p) => `<template data-snapshot="${id}" data-panel="${p}">${html[p]}</template>`,
      ).join("");
    })
    .join("\n");
  return { views, templates };
}

// ---------------------------------------------------------------- the page

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
  history: MetricsHistory,
  snap: DiagnosticsSnapshot | undefined,
  svgs: Map<string, string>,
  others: Map<DiagnosticsSnapshot, Map<string, string>>,
  findings: Finding[] | undefined,
): string {
  const body: string[] = [];
  body.push(section("summary", "Run", summaryHtml(run, history)));

  body.push(
    section(
      "loss",
      "Loss",
      svgs.has("loss")
        ? `<p class="lead">log10 of each step's minibatch loss (light) and its block mean (dark), as the lecture plots <code>torch.tensor(lossi).view(-1, 1000).mean(1)</code>.${evalLead(history)}</p>${figure(svgs, "loss")}`
        : note("No loss has been logged yet."),
    ),
  );

  // the snapshot sections: one switchable view each, under one sticky bar of snapshot buttons
  const noDiag = note("No diagnostics for this run: train with --diagnostics to record them.");
  const { views, templates } = snap
    ? snapshotViews(run, snap, svgs, others)
    : { views: { forward: noDiag, backward: noDiag, weights: noDiag, saturation: noDiag }, templates: "" };
  const overTime = (name: string) => (svgs.has(name) ? figure(svgs, name) : "");
  const scope: string[] = [];
  if (snap) scope.push(snapshotBarHtml(run, snap, switchableSnapshots(run.snapshots, snap)));
  scope.push(
    section("forward", "Forward pass: activations", `${views.forward}${overTime("activations-history")}`),
  );
  scope.push(
    section("backward", "Backward pass: gradients", `${views.backward}${overTime("gradients-history")}`),
  );
  scope.push(section("weights", "Weight gradients", views.weights));
  scope.push(
    section(
      "updates",
      "Update:data ratio over time",
      svgs.has("update-ratios")
        ? `<p class="lead">How large each step's update is against the values it changes, log10(std(lr·grad) / std(data)). The lecture aims for about -3: far below, the parameter learns too slowly; far above, too fast.</p>${figure(svgs, "update-ratios")}`
        : note("No update ratios in metrics.jsonl: train with --diagnostics to record them every step."),
    ),
  );
  scope.push(section("saturation", "Saturation", views.saturation));
  body.push(`<div class="snapshot-scope">${scope.join("")}${templates}</div>\n`);
  if (templates) body.push(`<script>${SNAPSHOT_SCRIPT}</script>\n`);

  body.push(section("findings", "Health findings", findingsHtml(findings)));

  body.push(
    section(
      "samples",
      "Samples",
      run.samples?.length
        ? `<ol class="samples">${run.samples.map((s) => `<li>${esc(s.word)}${s.source && s.source !== "new" ? ` <small>(in ${esc(s.source)})</small>` : ""}</li>`).join("")}</ol>`
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

/** What the loss chart's evaluation points are, when the run logged any. */
function evalLead(history: MetricsHistory): string {
  const evals = history.series().evals;
  if (evals.some((e) => e.test_loss !== undefined))
    return " The points are makemore.py's <code>evaluate()</code> on the train and test splits (TensorBoard's <code>Loss/train</code> and <code>Loss/test</code>).";
  if (evals.some((e) => e.val_loss !== undefined))
    return " The points are the train and val split losses in eval mode (<code>--eval-every</code>).";
  return "";
}
