/**
 * The playground page (main thread): the settings form, the worker's messages, the charts.
 *
 * Everything heavy happens in two workers: training (src/web/worker.ts) and drawing (src/web/charts.ts:
 * Vega-Lite specs to pictures). This file builds the form from the training worker's catalog (every --type
 * with its flags), turns the URL into flags and back, shows what the workers send and puts each
 * chart's bitmap on a canvas, so the page stays responsive while a run trains.
 *
 * For tests and scripts the page mirrors its state on <body>: data-state, data-step, data-loss (the
 * last minibatch loss as a JavaScript number prints it: every bit of the float32 value).
 */

import type { Finding } from "../diagnostics/types.ts";

import type {
  Catalog,
  ChartDrawn,
  DroppedFile,
  FlagInfo,
  Flags,
  FromWorker,
  PageRequest,
  PageState,
  SampleRow,
  ToWorker,
} from "./protocol.ts";
import { ZOOMABLE } from "./protocol.ts";

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

function el(
  tag: string,
  attrs: Record<string, string> = {},
  ...children: (Node | string | null)[]
): HTMLElement {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c !== null) node.append(c);
  return node;
}

const fmtInt = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "–");
const fmtLoss = (v: number | null | undefined) =>
  typeof v === "number" && Number.isFinite(v) ? v.toFixed(4) : "–";

// ---------------------------------------------------------------- charts

/** Charts drawn so far (a chart is a bitmap from the chart worker, shown on a canvas). */
const drawn = new Set<HTMLElement>();

function clearChart(holder: HTMLElement): void {
  drawn.delete(holder);
  holder.replaceChildren();
}

/** The chart worker's picture into its holder: the only chart work the main thread does. */
function showChart(m: ChartDrawn): void {
  const holder = holderFor(m.name);
  if (!m.bitmap) {
    clearChart(holder);
    return;
  }
  let canvas = holder.querySelector("canvas");
  if (!canvas) {
    canvas = document.createElement("canvas");
    canvas.setAttribute("role", "img");
    holder.replaceChildren(canvas);
  }
  canvas.setAttribute("aria-label", m.title);
  canvas.width = m.bitmap.width;
  canvas.height = m.bitmap.height;
  canvas.style.width = `${m.bitmap.width / m.scale}px`;
  canvas.getContext("bitmaprenderer")!.transferFromImageBitmap(m.bitmap);
  drawn.add(holder);
}

function holderFor(name: string): HTMLElement {
  if (!name.startsWith("saturation-")) return $(`chart-${name}`);
  let h = document.getElementById(`chart-${name}`);
  if (!h) {
    h = el("div", { class: "chart", id: `chart-${name}` });
    const box = $("saturation-charts");
    const layer = (id: string) => Number(id.replace(/\D+/g, ""));
    const after = [...box.children].find((c) => layer(c.id) > layer(h!.id));
    box.insertBefore(h, after ?? null);
  }
  return h;
}

/** Drop charts the run no longer has; show each card's placeholder while it has none. */
function syncChartList(names: string[], diagnostics: boolean): void {
  const have = new Set(names);
  for (const h of [...document.querySelectorAll<HTMLElement>(".chart")]) {
    const name = h.id.replace(/^chart-/, "");
    if (!have.has(name) && drawn.has(h)) {
      clearChart(h);
      if (name.startsWith("saturation-")) h.remove();
    }
  }
  for (const card of document.querySelectorAll<HTMLElement>("main [data-chart]")) {
    const which = card.dataset.chart!;
    const present = which === "saturation" ? names.some((n) => n.startsWith("saturation-")) : have.has(which);
    const empty = card.querySelector<HTMLElement>(".empty")!;
    empty.hidden = present;
    if (!present && empty.dataset.diag)
      empty.textContent = diagnostics
        ? `${empty.dataset.diag}: waiting for the first diagnostics snapshot…`
        : `${empty.dataset.diag}: turn on live diagnostics to see it.`;
  }
}

// ---------------------------------------------------------------- findings and samples

function renderFindings(findings: Finding[] | undefined, final: boolean): void {
  if (!findings) return;
  $("findings-count").textContent = findings.length ? `(${findings.length})` : "";
  if (findings.length === 0) {
    $("findings").replaceChildren(
      el("p", { class: "ok", text: final ? "No problems found." : "No problems found so far." }),
    );
    return;
  }
  const measured = (f: Finding) =>
    Object.entries(f.measured ?? {})
      .map(([k, v]) => `${k} = ${typeof v === "number" ? Number(v.toPrecision(4)) : v}`)
      .join(", ");
  $("findings").replaceChildren(
    ...findings.map((f) =>
      el(
        "div",
        { class: `finding ${f.severity}` },
        el("h3", {}, el("span", { class: "sev", text: f.severity }), f.title),
        measured(f) ? el("p", {}, el("span", { class: "k", text: "measured " }), measured(f)) : null,
        el("p", {}, el("span", { class: "k", text: "why " }), f.why),
        el("p", {}, el("span", { class: "k", text: "fix " }), f.fix),
      ),
    ),
  );
}

function renderSamples(rows: SampleRow[], note: string): void {
  $("samples-empty").hidden = rows.length > 0;
  const known = rows.some((r) => r.source !== "unknown");
  const fresh = rows.filter((r) => r.source === "new").length;
  $("samples-note").textContent = rows.length ? `(${note}${known ? `; ${fresh} new` : ""})` : "";
  $("samples").replaceChildren(
    ...rows.map((r) =>
      el(
        "li",
        { "data-word": r.word, "data-source": r.source },
        el("span", { class: "word", text: r.word || "(empty)" }),
        r.source === "unknown"
          ? null
          : el("span", { class: `tag ${r.source}`, text: r.source === "new" ? "new" : `in ${r.source}` }),
      ),
    ),
  );
}

// ---------------------------------------------------------------- the URL

/** The URL's short names -> the CLI's (`steps` is --max-steps). */
const ALIASES: Record<string, string> = { steps: "max-steps" };

/** The flags in a query string (page-only keys such as autostart are not flags). */
function flagsFromQuery(query: URLSearchParams, c: Catalog): Flags {
  const kinds = new Map([...c.modelFlags, ...c.trainFlags].map((f) => [f.name, f.kind]));
  kinds.set("type", "choice");
  const out: Flags = {};
  for (const [k, v] of query) {
    const name = ALIASES[k] ?? k;
    const kind = kinds.get(name);
    if (kind === undefined) continue;
    out[name] = kind === "boolean" ? v !== "0" && v !== "false" : v;
  }
  return out;
}

/** The query string of a run's flags, for a link that reproduces it. */
function queryFromFlags(flags: Flags): URLSearchParams {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(flags)) {
    if (v === undefined || v === false || v === "") continue;
    q.set(k === "max-steps" ? "steps" : k, v === true ? "1" : v);
  }
  return q;
}

// ---------------------------------------------------------------- the form

let catalog: Catalog | null = null;
/** a word file dropped on the page (the dataset select's "file" entry) */
let droppedWords: DroppedFile | null = null;

function flagRow(f: FlagInfo, group: string): HTMLElement {
  const id = `flag-${f.name}`;
  let input: HTMLElement;
  if (f.kind === "choice") {
    input = el(
      "select",
      { id, name: f.name },
      el("option", { value: "", text: `(${f.placeholder || "default"})` }),
    );
    for (const c of f.choices ?? []) input.append(el("option", { value: c, text: c }));
  } else if (f.kind === "boolean") input = el("input", { id, name: f.name, type: "checkbox" });
  else
    input = el("input", {
      id,
      name: f.name,
      type: "text",
      inputmode: f.kind === "int" ? "numeric" : "decimal",
      placeholder: f.placeholder,
    });
  return el(
    "label",
    { class: "row", "data-flag": f.name, "data-group": group, title: f.help },
    el("span", { text: `--${f.name}` }),
    input,
  );
}

function buildForm(c: Catalog): void {
  const type = $<HTMLSelectElement>("type");
  // one group per model family, in registry order
  for (const t of c.types) {
    let group = type.querySelector<HTMLOptGroupElement>(`optgroup[label="${t.family}"]`);
    if (!group) type.append((group = el("optgroup", { label: t.family }) as HTMLOptGroupElement));
    group.append(el("option", { value: t.type, text: t.type }));
  }
  type.value = c.defaultType;
  $("model-flags").replaceChildren(...c.modelFlags.map((f) => flagRow(f, "model")));
  $("train-flags").replaceChildren(...c.trainFlags.map((f) => flagRow(f, "train")));
  const ds = $<HTMLSelectElement>("dataset");
  for (const d of c.datasets) ds.append(el("option", { value: `bundled:${d}`, text: `${d} (bundled)` }));
  type.addEventListener("change", showTypeFlags);
  $("settings").addEventListener("input", updateLinks);
  showTypeFlags();
}

/** Show the flags the chosen --type reads; clear the others (the CLI refuses them). */
function showTypeFlags(): void {
  const type = $<HTMLSelectElement>("type").value;
  const t = catalog!.types.find((x) => x.type === type);
  $("type-summary").textContent = t?.summary ?? "";
  for (const row of document.querySelectorAll<HTMLElement>('[data-group="model"]')) {
    const reads = t?.flags.includes(row.dataset.flag!) ?? false;
    row.hidden = !reads;
    if (!reads) setFlag(row.dataset.flag!, undefined);
  }
  // each field shows what the type uses when it is left empty
  for (const row of document.querySelectorAll<HTMLElement>("[data-flag]")) {
    const input = flagInput(row.dataset.flag!);
    const fallback = t?.defaults[row.dataset.flag!];
    if (input instanceof HTMLInputElement && input.type !== "checkbox") input.placeholder = fallback ?? "";
    else if (input instanceof HTMLSelectElement) input.options[0]!.textContent = `(${fallback ?? "default"})`;
  }
  updateLinks();
}

function flagInput(name: string): HTMLInputElement | HTMLSelectElement | null {
  return document.getElementById(`flag-${name}`) as HTMLInputElement | HTMLSelectElement | null;
}

function setFlag(name: string, v: string | boolean | undefined): void {
  if (name === "type") {
    if (typeof v === "string") $<HTMLSelectElement>("type").value = v;
    return;
  }
  const input = flagInput(name);
  if (!input) return;
  if (input instanceof HTMLInputElement && input.type === "checkbox") input.checked = v === true;
  else input.value = typeof v === "string" ? v : "";
}

/** The flags the form says, as the CLI would be given them (empty fields are not given). */
function formFlags(): Flags {
  const flags: Flags = { type: $<HTMLSelectElement>("type").value };
  for (const row of document.querySelectorAll<HTMLElement>("[data-flag]")) {
    if (row.hidden) continue;
    const input = flagInput(row.dataset.flag!)!;
    if (input instanceof HTMLInputElement && input.type === "checkbox") {
      if (input.checked) flags[row.dataset.flag!] = true;
    } else if (input.value.trim() !== "") flags[row.dataset.flag!] = input.value.trim();
  }
  return flags;
}

function dataChoice(): { bundled: string } | { file: DroppedFile } {
  const v = $<HTMLSelectElement>("dataset").value;
  if (v === "file" && droppedWords) return { file: droppedWords };
  return { bundled: v.replace(/^bundled:/, "") };
}

/** The share link and the equivalent command line. */
function updateLinks(): void {
  const flags = formFlags();
  if (flags.type === catalog?.defaultType) delete flags.type;
  const q = queryFromFlags(flags);
  if (!$<HTMLInputElement>("diagnostics").checked) q.set("diagnostics", "0");
  $<HTMLAnchorElement>("share").href = `?${q}`;
  const cli = ["makemore train"];
  const data = dataChoice();
  if ("file" in data) cli.push(`-i ${data.file.name}`);
  for (const [k, v] of Object.entries(flags)) cli.push(v === true ? `--${k}` : `--${k} ${v}`);
  if ($<HTMLInputElement>("diagnostics").checked) cli.push("--diagnostics");
  $("cli").textContent = cli.join(" ");
}

// ---------------------------------------------------------------- state

let state: PageState = "idle";
let diagnosticsOn = true;
/** the dropped run has steps left to train (`train --resume` would continue it) */
let resumable = false;
let droppedDiagnostics = false;

function setState(s: PageState, step?: number, maxSteps?: number): void {
  const was = state === "training" || state === "paused";
  const now = s === "training" || s === "paused";
  if (now && !was) Object.assign(activeSpan, { from: performance.now(), until: Number.POSITIVE_INFINITY });
  else if (was && !now) activeSpan.until = performance.now();
  state = s;
  document.body.dataset.state = s;
  const badge = $("status");
  badge.className = `badge ${s}`;
  badge.textContent = s;
  const active = s === "training" || s === "paused";
  $<HTMLButtonElement>("pause").disabled = !active;
  $<HTMLButtonElement>("pause").textContent = s === "paused" ? "Resume" : "Pause";
  $<HTMLButtonElement>("stop").disabled = !active;
  $<HTMLButtonElement>("train").textContent = active ? "Restart" : "Train";
  $("continue").hidden = !(s === "loaded" && resumable);
  const has = s !== "idle" && s !== "failed";
  $<HTMLButtonElement>("sample").disabled = !has;
  for (const id of ["dl-checkpoint", "dl-config"]) $<HTMLButtonElement>(id).disabled = !has;
  // a dropped run brings no logs
  for (const id of ["dl-metrics", "dl-diagnostics"])
    $<HTMLButtonElement>(id).disabled = !has || s === "loaded";
  if (step !== undefined) setStep(step, maxSteps ?? 0);
}

function setStep(step: number, maxSteps: number): void {
  $("step").textContent = fmtInt(step);
  // --max-steps -1 (makemore.py's types' default): no end but the Stop button
  $("max-steps").textContent = maxSteps > 0 ? ` / ${fmtInt(maxSteps)}` : maxSteps < 0 ? " (until Stop)" : "";
  $("progress-bar").style.width = `${(100 * (maxSteps > 0 ? Math.min(1, step / maxSteps) : 0)).toFixed(1)}%`;
  document.body.dataset.step = String(step);
}

function showError(message: string | null): void {
  $("error").hidden = message === null;
  $("error").textContent = message ?? "";
  if (message === null) delete document.body.dataset.error;
  else document.body.dataset.error = message;
}

// ---------------------------------------------------------------- responsiveness

/**
 * The page's own record of main-thread tasks over 50 ms (the browser's Long Tasks API: wall-clock,
 * so on a busy machine it includes time the thread waited for a core) while a run trains: how many,
 * how many over 100 ms, the longest. Shown in the footer and mirrored on <body> for the tests and
 * the bench (data-long-tasks, data-long-tasks-over-100, data-longest-task in ms).
 */
const longTasks = { count: 0, over100: 0, longest: 0 };
/** when the run began training and (once it ended) stopped: the entries arrive after their tasks */
const activeSpan = { from: Number.POSITIVE_INFINITY, until: Number.POSITIVE_INFINITY };

function showLongTasks(): void {
  const b = document.body.dataset;
  b.longTasks = String(longTasks.count);
  b.longTasksOver100 = String(longTasks.over100);
  b.longestTask = String(Math.round(longTasks.longest));
  $("longtasks").textContent = longTasks.count
    ? `Main thread while training: ${longTasks.count} task${longTasks.count === 1 ? "" : "s"} over 50 ms (${longTasks.over100} over 100 ms), the longest ${Math.round(longTasks.longest)} ms.`
    : "Main thread while training: no task over 50 ms.";
}

if (PerformanceObserver.supportedEntryTypes?.includes("longtask"))
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if (e.startTime < activeSpan.from || e.startTime > activeSpan.until) continue;
      longTasks.count++;
      if (e.duration > 100) longTasks.over100++;
      longTasks.longest = Math.max(longTasks.longest, e.duration);
    }
    showLongTasks();
  }).observe({ type: "longtask" });

// ---------------------------------------------------------------- the worker

const worker = new Worker(new URL("worker.js", import.meta.url), { type: "module" });
const send = (m: ToWorker, transfer: Transferable[] = []) => worker.postMessage(m, transfer);
// the training worker sends chart specs straight to the chart worker, which sends the page SVG
const chartWorker = new Worker(new URL("charts.js", import.meta.url), { type: "module" });
{
  const channel = new MessageChannel();
  send({ type: "charts", port: channel.port1 }, [channel.port1]);
  chartWorker.postMessage({ port: channel.port2, scale: devicePixelRatio }, [channel.port2]);
}
chartWorker.onmessage = (e: MessageEvent<ChartDrawn>) => showChart(e.data);
const toCharts = (m: PageRequest) => chartWorker.postMessage(m);

// ---------------------------------------------------------------- TensorBoard's habits

/** The loss chart's smoothing and log/linear axis: the chart worker redraws from the last spec. */
function sendControls(): void {
  const smoothing = Number($<HTMLInputElement>("smoothing").value);
  $("smoothing-value").textContent = String(smoothing);
  toCharts({ controls: { smoothing, logScale: $<HTMLInputElement>("log-scale").checked } });
}
/**
 * Each chart's room (its card's content width), so the chart worker draws it as wide as its card,
 * as the dashboard does; sent again when the layout changes. Saturation maps keep their size.
 */
let lastWidths = "";
function sendWidths(): void {
  const widths: Record<string, number> = {};
  for (const card of document.querySelectorAll<HTMLElement>("main .card[data-chart]")) {
    const name = card.dataset.chart!;
    if (name === "saturation") continue;
    const cs = getComputedStyle(card);
    widths[name] = card.clientWidth - Number.parseFloat(cs.paddingLeft) - Number.parseFloat(cs.paddingRight);
  }
  const key = JSON.stringify(widths);
  if (key === lastWidths) return;
  lastWidths = key;
  toCharts({ widths });
}
let resizing = 0;
new ResizeObserver(() => {
  clearTimeout(resizing);
  resizing = window.setTimeout(sendWidths, 150);
}).observe(document.querySelector("main")!);
sendWidths();
$("smoothing").addEventListener("input", sendControls);
$("log-scale").addEventListener("change", sendControls);

/**
 * Zoom and pan on a chart's picture, as on the dashboard: wheel zooms about the pointer, drag pans,
 * double-click resets. The gestures go to the chart worker, which owns the view and its scales;
 * drags are sent at most once per frame.
 */
for (const name of ZOOMABLE) {
  const holder = $(`chart-${name}`);
  /** CSS pixels of the picture per CSS pixel on screen (a narrow card shrinks the canvas) */
  const unit = (c: HTMLCanvasElement) => c.width / devicePixelRatio / Math.max(1, c.clientWidth);
  const at = (e: MouseEvent) => {
    const c = holder.querySelector("canvas");
    if (!c) return null;
    const r = c.getBoundingClientRect();
    const k = unit(c);
    return { x: (e.clientX - r.left) * k, y: (e.clientY - r.top) * k, k };
  };
  holder.addEventListener(
    "wheel",
    (e) => {
      const p = at(e);
      if (!p) return;
      e.preventDefault();
      toCharts({ zoom: { name, kind: "wheel", x: p.x, y: p.y, deltaY: e.deltaY } });
    },
    { passive: false },
  );
  let drag: { x: number; y: number; dx: number; dy: number; frame: number } | null = null;
  holder.addEventListener("pointerdown", (e) => {
    if (!holder.querySelector("canvas") || e.button !== 0) return;
    holder.setPointerCapture(e.pointerId);
    drag = { x: e.clientX, y: e.clientY, dx: 0, dy: 0, frame: 0 };
  });
  holder.addEventListener("pointermove", (e) => {
    const p = at(e);
    if (!drag || !p) return;
    drag.dx += (e.clientX - drag.x) * p.k;
    drag.dy += (e.clientY - drag.y) * p.k;
    drag.x = e.clientX;
    drag.y = e.clientY;
    drag.frame ||= requestAnimationFrame(() => {
      if (!drag) return;
      toCharts({ zoom: { name, kind: "drag", dx: drag.dx, dy: drag.dy } });
      Object.assign(drag, { dx: 0, dy: 0, frame: 0 });
    });
  });
  const end = () => {
    if (drag && (drag.dx || drag.dy)) toCharts({ zoom: { name, kind: "drag", dx: drag.dx, dy: drag.dy } });
    drag = null;
  };
  holder.addEventListener("pointerup", end);
  holder.addEventListener("pointercancel", end);
  holder.addEventListener("dblclick", () => toCharts({ zoom: { name, kind: "reset" } }));
}
chartWorker.onerror = (e) => console.error(`the chart worker failed: ${e.message}`);
type Download = "checkpoint" | "config" | "metrics" | "diagnostics";
const FILE_NAMES: Record<Download, string> = {
  checkpoint: "checkpoint.safetensors",
  config: "config.json",
  metrics: "metrics.jsonl",
  diagnostics: "diagnostics.jsonl",
};
let exported: Extract<FromWorker, { type: "exported" }> | null = null;
let wantDownload: Download | null = null;

worker.onmessage = (e: MessageEvent<FromWorker>) => {
  const m = e.data;
  switch (m.type) {
    case "catalog":
      catalog = m.catalog;
      buildForm(m.catalog);
      document.body.dataset.ready = "1";
      applyUrl();
      return;
    case "status":
      setState(m.state, m.step, m.maxSteps);
      return;
    case "line":
      $("startup").textContent += `${$("startup").textContent ? "\n" : ""}${m.text}`;
      return;
    case "facts":
      resumable = m.resumable === true;
      droppedDiagnostics = Boolean((m.config as { diagnostics?: unknown })?.diagnostics);
      $("startup").textContent = m.lines.join("\n");
      $("startup").classList.remove("muted");
      $("model").textContent = (m.config as { model?: { type?: string } })?.model?.type ?? "";
      return;
    case "view": {
      setStep(m.step, m.maxSteps);
      $("rate").textContent = m.stepsPerSecond > 0 ? fmtInt(m.stepsPerSecond) : "–";
      document.body.dataset.rate = String(m.stepsPerSecond);
      $("last-loss").textContent = fmtLoss(m.lastLoss);
      if (m.lastLoss !== null) document.body.dataset.loss = String(m.lastLoss);
      $("split-fact").hidden = !m.splitLosses;
      if (m.splitLosses) {
        const parts: (Node | string)[] = [];
        for (const k of ["train", "val", "test"] as const)
          parts.push(el("b", { text: k }), fmtLoss(m.splitLosses[k]));
        $("split").replaceChildren(...parts);
        for (const k of ["train", "val", "test"] as const)
          document.body.dataset[`${k}Loss`] = String(m.splitLosses[k]);
      }
      renderFindings(m.findings, m.splitLosses !== undefined);
      if (m.samples)
        renderSamples(
          m.samples.rows,
          `${m.samples.rows.length}, drawn at step ${fmtInt(m.samples.step)}, seed ${m.samples.seed}`,
        );
      syncChartList(m.chartNames, diagnosticsOn);
      return;
    }
    case "samples":
      renderSamples(
        m.rows,
        `${m.rows.length}, seed ${m.seed}${m.temperature !== 1 ? `, temperature ${m.temperature}` : ""}${m.topK > 0 ? `, top-k ${m.topK}` : ""}`,
      );
      return;
    case "exported":
      exported = m;
      if (wantDownload) download(wantDownload);
      wantDownload = null;
      return;
    case "checked":
      $("startup").textContent = m.line;
      $("startup").classList.remove("muted");
      return;
    case "error":
      showError(m.message);
      return;
  }
};
worker.onerror = (e) => showError(`the training worker failed: ${e.message}`);

function download(which: Download): void {
  if (!exported) return;
  const body = which === "checkpoint" ? exported.checkpoint : exported[which];
  if (body === null) {
    showError(
      `this run has no ${FILE_NAMES[which]} to download (diagnostics.jsonl needs live diagnostics; a dropped run continued here keeps its logs only when its metrics.jsonl and diagnostics.jsonl were dropped with it; logs over 128 MB are not kept)`,
    );
    return;
  }
  const type = which === "checkpoint" ? "application/octet-stream" : "application/json";
  const a = el("a", {
    href: URL.createObjectURL(new Blob([body], { type })),
    download: FILE_NAMES[which],
  }) as HTMLAnchorElement;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

/** Clear what the last run showed, before a new one (or a continued one) starts. */
function resetView(): void {
  showError(null);
  Object.assign(longTasks, { count: 0, over100: 0, longest: 0 });
  showLongTasks();
  for (const h of [...drawn]) clearChart(h);
  $("saturation-charts").replaceChildren();
  renderSamples([], "");
  $("findings").replaceChildren(
    el("p", { class: "muted", text: "The doctor checks the model every 2 seconds while it trains." }),
  );
  $("findings-count").textContent = "";
  $("split-fact").hidden = true;
  for (const k of ["loss", "trainLoss", "valLoss", "testLoss"]) delete document.body.dataset[k];
}

function startTraining(): void {
  diagnosticsOn = $<HTMLInputElement>("diagnostics").checked;
  resetView();
  updateLinks();
  // the address bar holds the run's settings, so reloading or sharing it reproduces the run
  history.replaceState(null, "", $<HTMLAnchorElement>("share").href);
  send({ type: "train", flags: formFlags(), data: dataChoice(), diagnostics: diagnosticsOn });
}

/** The URL's settings into the form; `autostart=1` trains at once. */
function applyUrl(): void {
  const q = new URLSearchParams(location.search);
  const flags = flagsFromQuery(q, catalog!);
  if (typeof flags.type === "string") setFlag("type", flags.type);
  showTypeFlags();
  for (const [k, v] of Object.entries(flags)) if (k !== "type") setFlag(k, v);
  if (q.get("diagnostics") === "0") $<HTMLInputElement>("diagnostics").checked = false;
  updateLinks();
  if (q.get("autostart") === "1") startTraining();
}

// ---------------------------------------------------------------- files

async function takeFiles(list: FileList | File[]): Promise<void> {
  showError(null);
  const files: DroppedFile[] = await Promise.all(
    [...list].map(async (f) => ({ name: f.name, bytes: await f.arrayBuffer() })),
  );
  if (files.length === 0) return;
  if (files.some((f) => f.name.endsWith(".safetensors") || f.name.endsWith(".json"))) {
    send(
      { type: "load", files },
      files.map((f) => f.bytes),
    );
    return;
  }
  if (files.length > 1)
    return showError("drop one word file at a time (or a run's config.json + checkpoint.safetensors)");
  droppedWords = files[0]!;
  const ds = $<HTMLSelectElement>("dataset");
  ds.querySelector('option[value="file"]')?.remove();
  ds.append(el("option", { value: "file", text: `${droppedWords.name} (your file)` }));
  ds.value = "file";
  updateLinks();
  send({ type: "check", file: { name: droppedWords.name, bytes: droppedWords.bytes.slice(0) } });
}

const drop = $("drop");
for (const ev of ["dragenter", "dragover"])
  drop.addEventListener(ev, (e) => {
    e.preventDefault();
    drop.classList.add("over");
  });
for (const ev of ["dragleave", "drop"]) drop.addEventListener(ev, () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  if (e.dataTransfer?.files.length) void takeFiles(e.dataTransfer.files);
});
$<HTMLInputElement>("files").addEventListener("change", (e) => {
  const input = e.target as HTMLInputElement;
  if (input.files) void takeFiles(input.files).then(() => (input.value = ""));
});

// ---------------------------------------------------------------- buttons

$("settings").addEventListener("submit", (e) => {
  e.preventDefault();
  startTraining();
});
$("pause").addEventListener("click", () => send({ type: state === "paused" ? "resume" : "pause" }));
$("stop").addEventListener("click", () => send({ type: "stop" }));
$("continue").addEventListener("click", () => {
  // a dropped run continues with the diagnostics it was configured with
  diagnosticsOn = droppedDiagnostics;
  resetView();
  send({ type: "continue" });
});
$("sample-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const seedText = $<HTMLInputElement>("sample-seed").value.trim();
  send({
    type: "sample",
    count: Number($<HTMLInputElement>("sample-count").value) || 20,
    temperature: Number($<HTMLInputElement>("sample-temperature").value) || 1,
    topK: $<HTMLInputElement>("sample-top-k").value,
    seed: seedText === "" ? null : Number(seedText),
  });
});
for (const which of ["checkpoint", "config", "metrics", "diagnostics"] as const)
  $(`dl-${which}`).addEventListener("click", () => {
    wantDownload = which;
    send({ type: "export" });
  });

setState("idle");
syncChartList([], true);
