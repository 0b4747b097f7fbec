/**
 * Several runs in one self-contained HTML file: overlaid loss curves, a table of final split
 * losses, their last snapshots' histograms side by side (`makemore experiment` writes one).
 */

import { basename, dirname, relative, resolve } from "node:path";
import { UserError } from "../errors.ts";
import { ensureWritableDir, writeFileAtomic } from "../io/atomic.ts";
import { isObject, readRunData } from "../io/runfiles.ts";
import {
  type Chart,
  esc,
  figure,
  fmtLoss,
  fmtNum,
  note,
  page,
  renderCharts,
  section,
  splitText,
} from "./html.ts";
import { MetricsHistory } from "./series.ts";
import { type ChartSpec, chooseWindow, compareHistSpec, compareLossSpec } from "./specs.ts";

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
  const histories = runDirs.map(() => new MetricsHistory());
  const runs = runDirs.map((dir, i) => readRunData(dir, (m) => histories[i]!.push(m)));
  const labels = opts.labels ?? runLabels(runDirs);
  const charts: Chart[] = [];
  const add = (name: string, spec: ChartSpec | null) => {
    if (spec) charts.push({ name, spec });
  };
  // each run's exact block means at the longest run's window, as the dashboard compares them
  const window = chooseWindow(Math.max(0, ...histories.map((h) => h.lossCount)));
  add(
    "loss",
    compareLossSpec(
      histories.map((h, i) => ({ label: labels[i]!, metrics: h.meanMetrics(window) })),
      { window },
    ),
  );
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
      const steps = typeof r.state?.step === "number" ? r.state.step : histories[i]!.lastStep + 1;
      const last = histories[i]!.lastLoss;
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
