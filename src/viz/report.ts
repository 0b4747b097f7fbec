import { basename, dirname, join, resolve } from "node:path";
import { formatActivationLine, formatGradientLine, formatParameterLine } from "../diagnostics/format.ts";
import type { DiagnosticsSnapshot, Finding } from "../diagnostics/types.ts";
import { UserError } from "../errors.ts";
import { ensureWritableDir, writeFileAtomic } from "../io/atomic.ts";
import { runPaths } from "../io/rundir.ts";
import { isObject, type RunData, readRunData } from "../io/runfiles.ts";
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
  plottedLayers,
  saturationSpec,
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
  const kindOf = new Map<number, string>();
  for (const a of snap?.activations ?? []) kindOf.set(a.layer, a.kind);

  // the charts that have data
  const charts: Chart[] = [];
  const add = (name: string, spec: ChartSpec | null) => {
    if (spec) charts.push({ name, spec });
  };
  add("loss", history.lossSpec());
  if (snap) {
    add("activations", activationHistSpec(snap));
    add("gradients", gradientHistSpec(snap));
    add("weight-gradients", weightGradHistSpec(snap));
    add("activations-history", histHistorySpec(run.snapshots, "activations"));
    add("gradients-history", histHistorySpec(run.snapshots, "gradients"));
  }
  const shapes = Object.keys(run.shapes).length ? run.shapes : undefined;
  add("update-ratios", history.updateRatioSpec(shapes));
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

  const html = runReportHtml(run, history, snap, svgs, opts.findings);
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
  if (train.batchSize !== undefined)
    pairs.push([
      "optimisation",
      `batch ${train.batchSize}, learning rate ${train.learningRate} -> ${train.lrDecayTo} at step ${fmtNum(train.lrDecayStep)}`,
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
  history: MetricsHistory,
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
  body.push(section("summary", "Run", summaryHtml(run, history)));

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
