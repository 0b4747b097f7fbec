// The dashboard page: listens to /api/events (server-sent events) and keeps the header, the
// charts, the findings and the samples up to date in place. Charts are the Vega-Lite specs the
// server builds with src/viz/specs.ts (the report's own builders); this file only draws them.
//
// A chart whose spec keeps its shape (same title, scales, layers) gets its new data through a
// Vega changeset, without re-rendering; one that changes shape is rendered off-page and swapped
// in, so nothing flickers. Plain ES module, served as-is (no build step); ./controls.js is
// src/viz/controls.ts, served by the dashboard (src/dashboard/server.ts).

import { fitWidth, lossControls } from "./controls.js";

const { vega, vegaEmbed } = globalThis;

const EMBED_OPTIONS = {
  renderer: "svg",
  actions: { export: true, source: false, compiled: false, editor: false },
  logLevel: vega.Warn,
};

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

const fmtInt = (n) =>
  typeof n === "number" && Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "–";
const fmtLoss = (v) => (typeof v === "number" && Number.isFinite(v) ? v.toFixed(4) : "–");
// a final split loss of null is a split with no examples (the CLI says "empty" too)
const fmtSplit = (v) => (v === null ? "empty" : fmtLoss(v));

async function getJson(url) {
  const res = await fetch(url, { cache: "no-store" });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return res.json();
}

// ---------------------------------------------------------------- drawing charts

/** holder element -> { key, view } */
const views = new Map();
/** holder element -> the promise of its last draw (draws of one chart run one after another) */
const queue = new Map();

/**
 * Move every inline `data.values` of the spec into top-level named `datasets` (d0, d1, ...), so
 * the compiled Vega view has data sets of those names to change. Returns the spec's shape key
 * (the spec without its data) and the data sets.
 */
function splitData(spec) {
  const datasets = {};
  let i = 0;
  const visit = (node) => {
    if (!node || typeof node !== "object") return;
    if (node.data && Array.isArray(node.data.values)) {
      const name = `d${i++}`;
      datasets[name] = node.data.values;
      node.data = { name };
    }
    for (const layer of node.layer ?? []) visit(layer);
    if (node.spec) visit(node.spec);
  };
  visit(spec);
  const key = JSON.stringify(spec);
  spec.datasets = datasets;
  return { key, datasets };
}

function clearChart(holder) {
  serverSpecs.delete(holder);
  const cur = views.get(holder);
  if (cur) cur.view.finalize();
  views.delete(holder);
  holder.replaceChildren();
  delete holder.dataset.rows;
  delete holder.dataset.version;
}

// ---------------------------------------------------------------- TensorBoard's habits

/** The page's chart controls: smoothing of the loss curves, log or linear loss axis. */
const controls = { smoothing: 0, logScale: true };
/** holder element -> the last spec the server sent (the controls redraw from it) */
const serverSpecs = new Map();
const LOSS_CHARTS = new Set(["chart-loss", "chart-compare-loss"]);

/**
 * The spec as this page shows it: as wide as its card (the report's pictures have a fixed
 * width; a saturation map keeps its own), and for the loss charts the smoothing and the
 * log/linear axis of the controls (src/viz/controls.ts, as the playground applies them).
 */
function adapt(holder, spec) {
  const card = holder.closest(".card");
  const room = (card?.clientWidth ?? 800) - 40;
  const fixed = holder.id.startsWith("chart-saturation") && !spec.facet;
  const sized = fixed ? spec : fitWidth(spec, room);
  return LOSS_CHARTS.has(holder.id)
    ? lossControls(sized, controls, holder.id === "chart-compare-loss")
    : sized;
}

function setupControls() {
  for (const box of document.querySelectorAll(".controls")) {
    const range = box.querySelector("input[type=range]");
    const out = box.querySelector("output");
    const log = box.querySelector("input[type=checkbox]");
    range.addEventListener("input", () => {
      controls.smoothing = Number(range.value);
      for (const o of document.querySelectorAll(".controls output")) o.textContent = range.value;
      redrawLoss();
    });
    log.addEventListener("change", () => {
      controls.logScale = log.checked;
      redrawLoss();
    });
    out.textContent = range.value;
  }
}

function redrawLoss() {
  for (const [holder, spec] of serverSpecs)
    if (LOSS_CHARTS.has(holder.id)) void draw(holder, structuredClone(spec), holder.dataset.version);
}

async function drawNow(holder, spec, version) {
  if (!spec) return clearChart(holder);
  serverSpecs.set(holder, structuredClone(spec));
  spec = adapt(holder, spec);
  const { key, datasets } = splitData(spec);
  const rows = Object.values(datasets).reduce((n, v) => n + v.length, 0);
  const cur = views.get(holder);
  if (cur && cur.key === key) {
    for (const [name, values] of Object.entries(datasets))
      cur.view.change(name, vega.changeset().remove(vega.truthy).insert(values));
    await cur.view.runAsync();
  } else {
    const fresh = el("div");
    const { view } = await vegaEmbed(fresh, spec, EMBED_OPTIONS);
    holder.replaceChildren(fresh);
    if (cur) cur.view.finalize();
    views.set(holder, { key, view });
  }
  holder.dataset.rows = String(rows);
  holder.dataset.version = String(version);
}

function draw(holder, spec, version) {
  const next = (queue.get(holder) ?? Promise.resolve()).then(() =>
    drawNow(holder, spec, version).catch((e) => {
      console.error(`chart ${holder.id}: ${e?.message ?? e}`);
    }),
  );
  queue.set(holder, next);
  return next;
}

/** Run `task` now, or once more after the running one ends (never two at once, never a backlog). */
function serialized(task) {
  let running = false;
  let again = false;
  return async function run() {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      do {
        again = false;
        await task();
      } while (again);
    } catch (e) {
      // the server went away (training ended and it closed): the event stream says so
      console.warn(`dashboard: ${e?.message ?? e}`);
    } finally {
      running = false;
    }
  };
}

// ---------------------------------------------------------------- header

function setStatus(status) {
  const badge = $("status");
  badge.className = `badge ${status}`;
  badge.textContent = status;
}

function renderHeader(s) {
  $("title").textContent = s.name;
  document.title = `${s.name} · makemore`;
  $("model").textContent = s.model ? `${s.model}` : "";
  setStatus(s.status);
  $("facts").hidden = false;
  $("step").textContent = fmtInt(s.step);
  // --max-steps -1 (makemore.py's types' default): no end but Ctrl-C
  $("max-steps").textContent =
    s.maxSteps > 0 ? ` / ${fmtInt(s.maxSteps)}` : s.maxSteps < 0 ? " (until interrupted)" : "";
  const share = s.maxSteps > 0 ? Math.min(1, s.step / s.maxSteps) : 0;
  $("progress-bar").style.width = `${(100 * share).toFixed(1)}%`;
  $("rate").textContent = typeof s.stepsPerSecond === "number" ? fmtInt(s.stepsPerSecond) : "–";
  $("last-loss").textContent = fmtLoss(s.lastLoss);
  const split = s.splitLosses;
  $("split-fact").hidden = !split;
  if (split) {
    const parts = [];
    for (const k of ["train", "val", "test"]) parts.push(el("b", { text: k }), fmtSplit(split[k]));
    $("split").replaceChildren(...parts);
  }
}

// ---------------------------------------------------------------- findings and samples

function renderFindings(s) {
  const findings = s.findings ?? [];
  $("findings-count").textContent = findings.length ? `(${findings.length})` : "";
  if (findings.length === 0) {
    $("findings").replaceChildren(
      s.checked
        ? el("p", {
            class: "ok",
            text: s.status === "finished" ? "No problems found." : "No problems found so far.",
          })
        : el("p", {
            class: "muted",
            text: "No health check for this run yet: train with --diagnostics, or run makemore doctor on it.",
          }),
    );
    return;
  }
  const order = { error: 0, warning: 1, info: 2 };
  const sorted = [...findings].sort((a, b) => (order[a.severity] ?? 3) - (order[b.severity] ?? 3));
  // the same problem in several layers ("layer 1 (Tanh): 55% saturated", "layer 3 ...") shares
  // its why and fix: one box, one title line per layer
  const groups = [];
  for (const f of sorted) {
    const last = groups.at(-1);
    if (last && last[0].id === f.id && last[0].why === f.why && last[0].fix === f.fix) last.push(f);
    else groups.push([f]);
  }
  const measuredText = (f) =>
    Object.entries(f.measured ?? {})
      .map(([k, v]) => `${k} = ${typeof v === "number" ? Number(v.toPrecision(4)) : v}`)
      .join(", ");
  $("findings").replaceChildren(
    ...groups.map((g) => {
      const f = g[0];
      const one = g.length === 1;
      return el(
        "div",
        { class: `finding ${f.severity}` },
        ...g.map((x) => el("h3", {}, el("span", { class: "sev", text: x.severity }), x.title)),
        one && f.where ? el("p", {}, el("span", { class: "k", text: "where " }), f.where) : null,
        one && measuredText(f)
          ? el("p", {}, el("span", { class: "k", text: "measured " }), measuredText(f))
          : null,
        el("p", {}, el("span", { class: "k", text: "why " }), f.why ?? ""),
        el("p", {}, el("span", { class: "k", text: "fix " }), f.fix ?? ""),
      );
    }),
  );
}

function renderSamples(s) {
  const samples = s.samples ?? [];
  $("samples-empty").hidden = samples.length > 0;
  const fresh = samples.filter((x) => x.source === "new").length;
  const known = samples.some((x) => x.source);
  const when =
    s.samplesFrom === "live"
      ? `drawn at step ${fmtInt(s.samplesStep)}`
      : s.samplesFrom === "final"
        ? "drawn at the end (samples.txt)"
        : "";
  $("samples-note").textContent = samples.length
    ? `(${samples.length}, ${when}${known ? `; ${fresh} new` : ""})`
    : "";
  $("samples").replaceChildren(
    ...samples.map((x) =>
      el(
        "li",
        {},
        el("span", { class: "word", text: x.word }),
        x.source
          ? el("span", { class: `tag ${x.source}`, text: x.source === "new" ? "new" : `in ${x.source}` })
          : null,
      ),
    ),
  );
}

// ---------------------------------------------------------------- one run

function runView(index) {
  $("run-view").hidden = false;
  let summary = null;
  const have = new Map(); // chart name -> version drawn

  const holderFor = (name) => {
    if (!name.startsWith("saturation-")) return $(`chart-${name}`);
    let h = $(`chart-${name}`);
    if (!h) {
      h = el("div", { class: "chart", id: `chart-${name}` });
      // keep the layers in order
      const box = $("saturation-charts");
      const layer = (id) => Number(id.replace(/\D+/g, ""));
      const after = [...box.children].find((c) => layer(c.id) > layer(h.id));
      box.insertBefore(h, after ?? null);
    }
    return h;
  };

  const placeholders = () => {
    const names = new Set(summary.charts.map((c) => c.name));
    const noDiag = summary.notes.some((n) => n.startsWith("no diagnostics"));
    const noLayers = summary.notes.some((n) => n.startsWith("no layer statistics"));
    const noSaturation = summary.notes.some((n) => n.startsWith("no saturation map"));
    for (const card of document.querySelectorAll("#run-view [data-chart]")) {
      const which = card.dataset.chart;
      const present =
        which === "saturation" ? [...names].some((n) => n.startsWith("saturation-")) : names.has(which);
      const empty = card.querySelector(".empty");
      empty.hidden = present;
      // a snapshot without this kind of data: the model has no Tanh layer (a bigram has no
      // layers at all; makemore.py's models measure every layer but have no saturation map)
      const noTanh =
        which === "saturation"
          ? noSaturation
          : noLayers && which !== "weight-gradients" && which !== "update-ratios";
      if (!present && empty.dataset.diag)
        empty.textContent = noDiag
          ? `${empty.dataset.diag}: this run has no diagnostics (train with --diagnostics).`
          : noTanh
            ? `${empty.dataset.diag}: this model has no Tanh layer to measure.`
            : `${empty.dataset.diag}: waiting for the first diagnostics snapshot…`;
    }
  };

  const sync = serialized(async () => {
    const list = summary.charts;
    const names = new Set(list.map((c) => c.name));
    for (const name of [...have.keys()])
      if (!names.has(name)) {
        const h = holderFor(name);
        clearChart(h);
        if (name.startsWith("saturation-")) h.remove();
        have.delete(name);
      }
    const stale = list.filter((c) => have.get(c.name) !== c.version).map((c) => c.name);
    placeholders();
    if (stale.length === 0) return;
    const { charts } = await getJson(`/api/run/${index}/charts?names=${stale.join(",")}`);
    await Promise.all(
      stale.map(async (name) => {
        const c = charts[name];
        if (!c) return;
        await draw(holderFor(name), c.spec, c.version);
        have.set(name, c.version);
      }),
    );
  });

  return (s) => {
    if (s.index !== index) return;
    summary = s;
    renderHeader(s);
    renderFindings(s);
    renderSamples(s);
    document.body.dataset.step = String(s.step);
    void sync();
  };
}

// ---------------------------------------------------------------- several runs

function compareView(runs) {
  $("compare-view").hidden = false;
  $("title").textContent = `comparison: ${runs.map((r) => r.name).join(", ")}`;
  document.title = `comparison · makemore`;
  $("model").textContent = `${runs.length} runs`;
  const summaries = new Map();
  let drawnKey = "";

  const renderTable = () => {
    const rows = runs.map((r) => {
      const s = summaries.get(r.index);
      const split = s?.splitLosses ?? {};
      return el(
        "tr",
        {},
        el("td", {}, el("a", { href: `/run/${r.index}`, text: r.name })),
        el("td", { text: s?.model ?? "–" }),
        el("td", { text: s?.status ?? "…" }),
        el("td", {
          class: "num",
          text: s ? `${fmtInt(s.step)}${s.maxSteps ? ` / ${fmtInt(s.maxSteps)}` : ""}` : "–",
        }),
        el("td", { class: "num", text: fmtSplit(split.train) }),
        el("td", { class: "num val", text: fmtSplit(split.val) }),
        el("td", { class: "num", text: fmtSplit(split.test) }),
        el("td", { class: "num", text: fmtLoss(s?.lastLoss) }),
      );
    });
    $("runs-table").replaceChildren(...rows);
    const all = [...summaries.values()];
    setStatus(
      all.some((s) => s.status === "training")
        ? "training"
        : all.every((s) => s.status === "finished")
          ? "finished"
          : "idle",
    );
  };

  const sync = serialized(async () => {
    const key = runs.map((r) => summaries.get(r.index)?.version ?? -1).join(",");
    if (key === drawnKey) return;
    const { charts } = await getJson("/api/compare/charts");
    for (const [name, spec] of Object.entries(charts)) {
      const holder = $(`chart-${name}`);
      if (!holder) continue;
      holder.parentElement.querySelector(".empty").hidden = Boolean(spec);
      await draw(holder, spec, key);
    }
    drawnKey = key;
  });

  return (s) => {
    summaries.set(s.index, s);
    renderTable();
    void sync();
  };
}

// ---------------------------------------------------------------- start

function connect(onRun) {
  const conn = $("conn");
  let source = null;
  const open = () => {
    source = new EventSource("/api/events");
    source.addEventListener("open", () => {
      conn.className = "conn live";
      conn.textContent = "● live";
    });
    source.addEventListener("run", (e) => onRun(JSON.parse(e.data)));
    // a run was created below a watched folder: draw the page again with it (one run becomes a comparison)
    source.addEventListener("runs", () => location.reload());
    source.addEventListener("error", () => {
      conn.className = "conn lost";
      conn.textContent = "reconnecting…";
      // the browser retries by itself unless the stream was refused outright
      if (source.readyState === EventSource.CLOSED) setTimeout(open, 3000);
    });
  };
  open();
}

async function start() {
  setupControls();
  const { runs } = await getJson("/api/info");
  const page = /^\/run\/(\d+)$/.exec(location.pathname);
  let onRun;
  if (page || runs.length === 1) {
    const index = page ? Number(page[1]) : 0;
    $("back").hidden = runs.length === 1;
    onRun = runView(index);
  } else onRun = compareView(runs);
  connect(onRun);
}

start().catch((e) => console.error(`dashboard: ${e?.message ?? e}`));
