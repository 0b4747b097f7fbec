/**
 * src/viz and src/diagnostics/format.ts: specs compile as Vega-Lite and carry the right numbers,
 * the lecture's print formats character for character, SVG/PNG rendering, and the HTML report of
 * a synthetic run directory (every section, nothing fetched from a network).
 */

import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { compile } from "vega-lite";
import { reportCommand } from "../src/cli/report.ts";
import {
  formatActivationLine,
  formatActivationTable,
  formatGradientLine,
  formatParameterLine,
  formatParameterTable,
  pyExp,
  pyFixed,
} from "../src/diagnostics/format.ts";
import type {
  DiagnosticsSnapshot,
  Finding,
  Histogram,
  MetricsLine,
  SaturationMap,
} from "../src/diagnostics/types.ts";
import { UserError } from "../src/errors.ts";
import { readRunData } from "../src/io/runfiles.ts";
import { buildModel, presetSpec } from "../src/models/mlp.ts";
import { Generator } from "../src/random/generator.ts";
import { inlineSvg } from "../src/viz/html.ts";
import { specToSvg, svgToPng } from "../src/viz/render.ts";
import { switchableSnapshots, writeComparisonReport, writeReport } from "../src/viz/report.ts";
import {
  activationHistSpec,
  blockMeans,
  type ChartSpec,
  chooseWindow,
  compareHistSpec,
  compareLossSpec,
  downsampleMinMax,
  gradientHistSpec,
  lossSpec,
  paramLabels,
  saturationSpec,
  UD_GUIDE,
  updateRatioSpec,
  weightGradHistSpec,
} from "../src/viz/specs.ts";

// ---------------------------------------------------------------- a synthetic run

/** Deterministic uniform numbers in [0, 1) (tests do not use Math.random). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function gaussian(u: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
}

/** torch.histogram(t, bins, density=True) of `xs`. */
function densityHist(xs: number[], bins = 50): Histogram {
  let lo = Math.min(...xs);
  let hi = Math.max(...xs);
  if (lo === hi) {
    lo -= 0.5;
    hi += 0.5;
  }
  const w = (hi - lo) / bins;
  const counts = new Array<number>(bins).fill(0);
  for (const x of xs) counts[Math.min(bins - 1, Math.floor((x - lo) / w))]!++;
  return {
    counts: counts.map((c) => c / (xs.length * w)),
    edges: Array.from({ length: bins + 1 }, (_, i) => lo + i * w),
  };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const std = (xs: number[]) => {
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1));
};

/** Some parameters of the lecture's 6-layer tanh net (the deep-tanh preset's names). */
const PARAMS: { name: string; shape: number[] }[] = [
  { name: "embedding.weight", shape: [27, 10] },
  { name: "layers.1.weight", shape: [30, 100] },
  { name: "layers.1.bias", shape: [100] },
  { name: "layers.3.weight", shape: [100, 100] },
  { name: "layers.5.weight", shape: [100, 100] },
  { name: "layers.11.weight", shape: [100, 27] },
];

/** A snapshot like the lecture's 6-layer tanh net: three Tanh layers (2, 5, 8), B = 32, H = 100. */
function syntheticSnapshot(step: number, spread: number): DiagnosticsSnapshot {
  const u = lcg(step + 1);
  const B = 32;
  const H = 100;
  const snap: DiagnosticsSnapshot = {
    step,
    loss: 3.3 - step / 1000,
    activations: [],
    gradients: [],
    params: [],
    saturation: [],
  };
  for (const [i, layer] of [2, 5, 8].entries()) {
    const h = Array.from({ length: B * H }, () => Math.tanh(gaussian(u) * spread * (1 - 0.15 * i)));
    const sat = (100 * h.filter((x) => Math.abs(x) > 0.97).length) / h.length;
    snap.activations.push({
      layer: layer - 1,
      kind: "Linear",
      mean: 0,
      std: 1,
      saturated: 0,
      hist: densityHist(h),
    });
    snap.activations.push({
      layer,
      kind: "Tanh",
      mean: mean(h),
      std: std(h),
      saturated: sat,
      hist: densityHist(h),
    });
    const g = Array.from({ length: B * H }, () => gaussian(u) * 0.003 * (1 + 0.3 * i));
    snap.gradients.push({ layer, kind: "Tanh", mean: mean(g), std: std(g), hist: densityHist(g) });
    const bits = h.map((x) => (Math.abs(x) > 0.99 ? "1" : "0")).join("");
    const dead: number[] = [];
    for (let c = 0; c < H; c++) {
      let all = true;
      for (let r = 0; r < B && all; r++) all = bits[r * H + c] === "1";
      if (all) dead.push(c);
    }
    snap.saturation.push({ layer, rows: B, cols: H, bits, deadUnits: dead } satisfies SaturationMap);
  }
  for (const [i, p] of PARAMS.entries()) {
    const g = Array.from({ length: 2000 }, () => gaussian(u) * 0.002 * (i + 1));
    snap.params.push({
      name: p.name,
      shape: p.shape,
      mean: mean(g),
      std: std(g),
      gradDataRatio: 0.001 * (i + 1),
      hist: densityHist(g),
    });
  }
  return snap;
}

/** metrics.jsonl lines of a run of `steps` steps with a decaying loss and update ratios near -3. */
function syntheticMetrics(steps: number): MetricsLine[] {
  const u = lcg(7);
  const out: MetricsLine[] = [];
  for (let step = 0; step < steps; step++) {
    const loss = 2.1 + 1.2 * Math.exp(-step / 300) + 0.25 * gaussian(u);
    const ud: Record<string, number> = {};
    for (const [i, p] of PARAMS.entries())
      ud[p.name] = -3 - 0.3 * i + 0.8 * Math.exp(-step / 200) + 0.1 * gaussian(u);
    out.push({ step, loss, lr: 0.1, ud });
    if ((step + 1) % 500 === 0) out.push({ step, train_loss: loss - 0.05, val_loss: loss + 0.02 });
  }
  return out;
}

const tmp = mkdtempSync(join(tmpdir(), "makemore-viz-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A run directory like `makemore train --diagnostics` leaves (config, state, metrics, diagnostics, samples). */
function syntheticRun(
  name: string,
  opts: { steps?: number; diagnostics?: boolean; finished?: boolean } = {},
): string {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  const steps = opts.steps ?? 1500;
  const config = {
    version: 1,
    model: {
      type: "deep-tanh",
      vocabSize: 27,
      blockSize: 3,
      nEmbd: 10,
      nHidden: 100,
      depth: 5,
      batchnorm: "none",
      outputBatchnorm: false,
      nonlinearity: "tanh",
      gain: 5 / 3,
      lastLayerScale: 0.1,
      zeroInit: false,
      bias: true,
    },
    train: { maxSteps: steps, batchSize: 32, learningRate: 0.1, lrDecayStep: 1000, lrDecayTo: 0.01 },
    seed: 2147483647,
    data: {
      inputFile: "/data/names.txt",
      numWords: 32033,
      vocab: [".", ..."abcdefghijklmnopqrstuvwxyz"],
      blockSize: 3,
      splitSeed: 42,
    },
    logEvery: 100,
    checkpointEvery: 1000,
    evalEvery: 500,
    calibrate: false,
  };
  writeFileSync(join(dir, "config.json"), JSON.stringify(config));
  const finished = opts.finished ?? true;
  writeFileSync(
    join(dir, "state.json"),
    JSON.stringify({
      step: steps,
      finished,
      ...(finished ? { splitLosses: { train: 2.05, val: 2.1, test: 2.11 } } : {}),
      // the parameter shapes every checkpoint records (src/io/run.ts saveCheckpoint)
      parameters: Object.fromEntries(
        buildModel(presetSpec("deep-tanh", 27, 3), new Generator())
          .namedParameters()
          .map(([n, t]) => [n, t.shape]),
      ),
    }),
  );
  writeFileSync(
    join(dir, "metrics.jsonl"),
    `${syntheticMetrics(steps)
      .map((m) => JSON.stringify(m))
      .join("\n")}\n`,
  );
  if (opts.diagnostics ?? true)
    writeFileSync(
      join(dir, "diagnostics.jsonl"),
      `${[0, 500, steps - 1].map((s, i) => JSON.stringify(syntheticSnapshot(s, 2.2 - 0.6 * i))).join("\n")}\n`,
    );
  writeFileSync(join(dir, "samples.txt"), "carmah.\namelle.\nkhi<b>\nmili.\n");
  return dir;
}

function compiles(spec: ChartSpec | null): ChartSpec {
  assert.ok(spec, "expected a spec");
  assert.doesNotThrow(() => compile(spec));
  return spec;
}

/** The value at a dotted path in a spec: `at(spec, "layer.1.mark.type")`. */
function at(spec: unknown, path: string): unknown {
  let o = spec;
  for (const k of path.split(".")) o = (o as Record<string, unknown> | undefined)?.[k];
  return o;
}

/** The inline data rows of a spec (top level or per layer). */
function rowsOf(spec: ChartSpec, layer?: number): Record<string, unknown>[] {
  return at(spec, layer === undefined ? "data.values" : `layer.${layer}.data.values`) as Record<
    string,
    unknown
  >[];
}

// ---------------------------------------------------------------- format.ts

describe("lecture print formats", () => {
  test("forward statistics line", () => {
    assert.equal(
      formatActivationLine({ layer: 2, kind: "Tanh", mean: -0.0012, std: 0.6312, saturated: 2.78 }),
      "layer 2 (      Tanh): mean -0.00, std 0.63, saturated: 2.78%",
    );
    assert.equal(
      formatActivationLine({ layer: 11, kind: "Tanh", mean: 0.0049, std: 0.65, saturated: 1.5625 }),
      "layer 11 (      Tanh): mean +0.00, std 0.65, saturated: 1.56%",
    );
  });
  test("gradient and parameter lines", () => {
    assert.equal(
      formatGradientLine({ layer: 2, kind: "Tanh", mean: 0, std: 0.003682954 }),
      "layer 2 (      Tanh): mean +0.000000, std 3.682954e-03",
    );
    assert.equal(
      formatParameterLine({ shape: [30, 100], mean: 0.000246, std: 0.009241077, gradDataRatio: 0.04881091 }),
      "weight  (30, 100) | mean +0.000246 | std 9.241077e-03 | grad:data ratio 4.881091e-02",
    );
    assert.equal(
      formatParameterLine({ shape: [27, 10], mean: -0.000031, std: 0.001365078, gradDataRatio: 0.00136409 }),
      "weight   (27, 10) | mean -0.000031 | std 1.365078e-03 | grad:data ratio 1.364090e-03",
    );
  });
  test("Python printf corner cases", () => {
    // checked against CPython: '%.2f' % 0.125, '%+f' % -0.0, '%e' % 1e100, '%e' % 9.9999995 ...
    assert.equal(pyFixed(0.125, 2), "0.12");
    assert.equal(pyFixed(1.5625, 2), "1.56");
    assert.equal(pyFixed(2.5, 0), "2");
    assert.equal(pyFixed(-0, 6, true), "-0.000000");
    assert.equal(pyFixed(Number.NaN, 2, true), "+nan");
    assert.equal(pyExp(1e100), "1.000000e+100");
    assert.equal(pyExp(9.9999995), "9.999999e+00");
    assert.equal(pyExp(2.5e-7), "2.500000e-07");
    assert.equal(pyExp(0), "0.000000e+00");
  });
  test("tables: the grad:data table keeps 2-D parameters, like the lecture", () => {
    const snap = syntheticSnapshot(0, 1);
    assert.equal(formatParameterTable(snap.params).split("\n").length, 5);
    assert.equal(formatParameterTable(snap.params, { all: true }).split("\n").length, 6);
    assert.match(formatActivationTable(snap.activations), /^layer 1 \( {4}Linear\)/);
  });
});

// ---------------------------------------------------------------- specs.ts

describe("chart specs", () => {
  test("block means are the lecture's view(-1, 1000).mean(1)", () => {
    const pts = Array.from({ length: 3000 }, (_, i) => ({ step: i, value: i % 7 }));
    const means = blockMeans(pts, 1000);
    assert.equal(means.length, 3);
    // block 0: steps 0..999, values i % 7; sum by hand = 142 full cycles (21 each) + 0..5 = 2982 + 15
    assert.equal(means[0]!.value, (142 * 21 + 15) / 1000);
    assert.equal(means[0]!.step, 499.5);
    assert.deepEqual(
      blockMeans(
        [
          { step: 0, value: 1 },
          { step: 1, value: 3 },
          { step: 2, value: 5 },
        ],
        2,
      ),
      [
        { step: 0.5, value: 2, n: 2 },
        { step: 2, value: 5, n: 1 },
      ],
    );
    assert.equal(chooseWindow(200_000), 1000);
    assert.equal(chooseWindow(1500), 10);
  });

  test("loss curve: log10 per step, downsampled, with the exact 1,000-step mean", () => {
    const metrics: MetricsLine[] = [];
    for (let step = 0; step < 10_000; step++) metrics.push({ step, loss: step < 1000 ? 10 : 100, lr: 0.1 });
    const spec = compiles(lossSpec(metrics, { window: 1000 }));
    const raw = rowsOf(spec, 0);
    const meanRows = rowsOf(spec, 1);
    assert.ok(raw.length <= 2000, `${raw.length} points`);
    assert.equal(meanRows.length, 10);
    assert.deepEqual(meanRows[0], { step: 499.5, value: 1, series: "mean of 1,000 steps" });
    assert.equal(meanRows[1]!.value, 2);
    const spiky = downsampleMinMax(
      Array.from({ length: 100_000 }, (_, i) => ({ step: i, value: i === 12_345 ? 9 : 0 })),
      2000,
    );
    assert.ok(spiky.length <= 2000 && spiky.some((p) => p.value === 9), "the band keeps its extremes");
    assert.equal(lossSpec([]), null);
  });

  test("histograms: points are the input's left edges and densities, legend 'layer 2 (Tanh)'", () => {
    const snap = syntheticSnapshot(0, 1);
    const spec = compiles(activationHistSpec(snap));
    const rows = rowsOf(spec);
    const layer2 = snap.activations.find((a) => a.layer === 2)!;
    const mine = rows.filter((r) => r.series === "layer 2 (Tanh)");
    assert.deepEqual(
      mine.map((r) => [r.x, r.y]),
      layer2.hist.counts.map((c, i) => [layer2.hist.edges[i], c]),
    );
    assert.ok(!rows.some((r) => String(r.series).includes("Linear")), "like the lecture: tanh layers only");
    compiles(gradientHistSpec(snap));
    const w = compiles(weightGradHistSpec(snap));
    const labels = new Set(rowsOf(w).map((r) => r.series));
    // shared shapes are told apart by name, and then every label in the legend has its name
    assert.ok(labels.has("(30, 100) layers.1.weight"), [...labels].join(", "));
    assert.ok(labels.has("(100, 100) layers.3.weight"), "shared shapes are told apart by name");
    assert.ok(![...labels].some((l) => String(l).endsWith(") weight")), "one style per legend");
    assert.ok(!labels.has("(100,) weight"), "1-D parameters are left out");
  });

  test("update:data ratio: 2-D parameters only, dashed guide at -3", () => {
    const shapes = Object.fromEntries(PARAMS.map((p) => [p.name, p.shape]));
    const spec = compiles(updateRatioSpec(syntheticMetrics(300), { shapes }));
    const lines = rowsOf(spec, 0);
    assert.equal(new Set(lines.map((r) => r.series)).size, 5);
    assert.equal(at(spec, "layer.1.mark.type"), "rule");
    assert.ok(at(spec, "layer.1.mark.strokeDash"), "dashed");
    assert.deepEqual(rowsOf(spec, 1), [{ guide: -3 }]);
    assert.equal(UD_GUIDE, -3);
    assert.equal(updateRatioSpec([{ step: 0, loss: 1 }]), null);
    assert.deepEqual([...paramLabels(PARAMS.slice(0, 2)).values()], ["(27, 10) weight", "(30, 100) weight"]);
  });

  test("saturation map: one white cell per saturated unit, rows top to bottom", () => {
    const map: SaturationMap = { layer: 2, rows: 2, cols: 3, bits: "100011", deadUnits: [] };
    const spec = compiles(saturationSpec(map));
    assert.deepEqual(
      rowsOf(spec).map((r) => [r.r, r.c]),
      [
        [0, 0],
        [1, 1],
        [1, 2],
      ],
    );
    assert.equal(at(spec, "encoding.y.scale.reverse"), true);
  });

  test("several runs: overlaid means and side-by-side panels", () => {
    const a = syntheticMetrics(2000);
    const b = a.map((m) => (m.loss === undefined ? m : { ...m, loss: m.loss * 1.1 }));
    const spec = compiles(
      compareLossSpec(
        [
          { label: "gain 1", metrics: a },
          { label: "gain 5/3", metrics: b },
        ],
        { window: 1000 },
      ),
    );
    const rows = rowsOf(spec);
    assert.deepEqual(
      rows.map((r) => r.run),
      ["gain 1", "gain 1", "gain 5/3", "gain 5/3"],
    );
    const panels = compiles(
      compareHistSpec(
        [
          { label: "gain 0.5", snapshot: syntheticSnapshot(0, 0.5) },
          { label: "gain 3", snapshot: syntheticSnapshot(0, 3) },
        ],
        "activations",
      ),
    );
    assert.equal(at(panels, "facet.field"), "run");
  });
});

// ---------------------------------------------------------------- render.ts

describe("rendering", () => {
  test("SVG with axis titles, PNG with its signature", async () => {
    const svg = await specToSvg(compiles(lossSpec(syntheticMetrics(400))));
    assert.match(svg, /^<svg/);
    assert.ok(svg.includes("log10(loss)") && svg.includes(">step<"), "axis titles are in the SVG");
    const png = svgToPng(svg);
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    assert.ok(png.length > 5000, `${png.length} bytes`);
    // the IHDR chunk: about 800×300 px
    const view = new DataView(png.buffer, png.byteOffset);
    const [w, h] = [view.getUint32(16), view.getUint32(20)];
    assert.ok(w > 600 && w < 1000 && h > 200 && h < 400, `${w}×${h}`);
  });

  test("inline SVGs get unique ids and no namespace URL", () => {
    const svg =
      '<svg xmlns="http://www.w3.org/2000/svg"><clipPath id="clip1"/><g clip-path="url(#clip1)"/></svg>';
    const a = inlineSvg(svg);
    const b = inlineSvg(svg);
    assert.ok(!a.includes("http"));
    assert.notEqual(a.match(/id="([^"]+)"/)![1], b.match(/id="([^"]+)"/)![1]);
    assert.ok(a.includes(`url(#${a.match(/id="([^"]+)"/)![1]})`));
  });
});

// ---------------------------------------------------------------- report.ts

describe("report", () => {
  const findings: Finding[] = [
    {
      id: "tanh-saturated",
      severity: "warning",
      title: "layer 2 (Tanh) is 21.3% saturated",
      measured: { saturated: 21.3 },
      why: "Saturated tanh units pass almost no gradient.",
      fix: "Scale the preceding Linear's weights by gain / sqrt(fan_in).",
      where: "layer 2",
    },
  ];

  test("a full run: every section, plots on disk, nothing from a network", async () => {
    const dir = syntheticRun("full");
    mkdirSync(join(dir, "plots"));
    writeFileSync(join(dir, "plots", "saturation-layer-99.png"), "stale chart of an earlier report");
    writeFileSync(join(dir, "plots", "mine.png"), "a user's file");
    const result = await writeReport(dir, { findings });
    const html = readFileSync(result.report, "utf8");
    for (const id of [
      "summary",
      "loss",
      "forward",
      "backward",
      "weights",
      "updates",
      "saturation",
      "findings",
      "samples",
    ])
      assert.ok(html.includes(`<section id="${id}">`), `section ${id}`);
    assert.ok(!/https?:\/\//.test(html), "no http(s) URL in the report");
    assert.ok(!/<script [^>]*src|<link|<img/.test(html), "no external resources");
    assert.ok(html.includes("layer 2 (      Tanh): mean"), "lecture-format statistics");
    assert.ok(html.includes("weight  (30, 100) | mean"), "grad:data table");
    assert.ok(html.includes("layer 2 (Tanh) is 21.3% saturated") && html.includes("Scale the preceding"));
    assert.ok(html.includes("khi&lt;b&gt;"), "samples are escaped");
    assert.ok(html.includes("2.1000"), "final split losses");
    assert.ok(html.includes("46,497"), "parameter count of the rebuilt model");
    // 1,500 steps with the drop at 1,000: the schedule as the start-up line says it
    assert.ok(html.includes("<th>optimisation</th><td>batch 32 | lr 0.1 -&gt; 0.01 at step 1000</td>"));
    // one button per snapshot (the views over time show all three), the last one pressed
    assert.deepEqual(
      [
        ...html.matchAll(/<button type="button" data-snapshot="(\d+)"[^>]* aria-pressed="(\w+)">([\d,]+)</g),
      ].map((m) => [m[1], m[2], m[3]]),
      [
        ["0", "false", "0"],
        ["1", "false", "500"],
        ["2", "true", "1,499"],
      ],
      "the last snapshot is shown by default (as --step takes it)",
    );
    // the other two wait in templates, one per snapshot section, for the page script
    for (const id of ["0", "1"])
      for (const panel of ["forward", "backward", "weights", "saturation"])
        assert.ok(
          html.includes(`<template data-snapshot="${id}" data-panel="${panel}">`),
          `${panel} of ${id}`,
        );
    const files = readdirSync(join(dir, "plots")).sort();
    for (const name of [
      "loss",
      "activations",
      "gradients",
      "weight-gradients",
      "update-ratios",
      "saturation-layer-2",
    ]) {
      assert.ok(files.includes(`${name}.svg`) && files.includes(`${name}.png`), name);
    }
    assert.ok(!files.includes("saturation-layer-99.png"), "stale report charts are removed");
    assert.ok(files.includes("mine.png"), "other files are left alone");
    assert.equal(result.plots.length, files.filter((f) => !f.startsWith(".") && f !== "mine.png").length);
  });

  test("missing pieces degrade to notes", async () => {
    const dir = syntheticRun("bare", { diagnostics: false, finished: false, steps: 50 });
    const result = await writeReport(dir);
    const html = readFileSync(result.report, "utf8");
    assert.ok(html.includes("no diagnostics.jsonl"));
    // 50 steps never reach the drop at 1,000: no "0.1 -> 0.01" for a rate that never dropped
    assert.ok(html.includes("lr 0.1 (its drop at step 1000 is past the last step)"));
    // each snapshot section says why it is empty; no snapshot bar, no script
    for (const id of ["forward", "backward", "weights", "saturation"])
      assert.match(
        html,
        new RegExp(
          `<section id="${id}">\\n<h2>[^<]*</h2>\\n<p class="note">No diagnostics for this run: train with --diagnostics`,
        ),
        id,
      );
    assert.ok(!html.includes(`class="snapbar"`) && !html.includes("<script"));
    assert.ok(html.includes("the run is unfinished"));
    assert.ok(html.includes("No health check was run"));
    assert.ok(result.plots.some((p) => p.endsWith("loss.svg")));
    // a diverged step wrote NaN, which is not JSON: read it as a gap, do not fail
    writeFileSync(
      join(dir, "metrics.jsonl"),
      '{"step":0,"loss":3.3,"lr":0.1}\n{"step":1,"loss":NaN,"lr":0.1}\n',
    );
    const losses: (number | undefined)[] = [];
    const run = readRunData(dir, (m) => losses.push(m.loss));
    assert.deepEqual(losses, [3.3, Number.NaN]);
    assert.ok(run.notes.some((n) => n.includes("NaN")));
    await writeReport(dir);
    // Infinity (std(data) = 0) is stored as null by JSON.stringify; malformed entries are dropped
    const snap = syntheticSnapshot(0, 1) as unknown as {
      params: Record<string, unknown>[];
      gradients: unknown[];
    };
    snap.params[0]!.gradDataRatio = null;
    snap.gradients.push({ layer: "x" });
    writeFileSync(join(dir, "diagnostics.jsonl"), `${JSON.stringify(snap)}\n`);
    const read = readRunData(dir, () => {}).snapshots[0]!;
    assert.equal(read.params[0]!.gradDataRatio, Number.POSITIVE_INFINITY);
    assert.equal(read.gradients.length, 3);
    assert.match(readFileSync((await writeReport(dir)).report, "utf8"), /grad:data ratio inf/);
  });

  test("the page holds the snapshots of the views over time, plus the one --step draws", () => {
    // 100 snapshots every 2,000 steps (a 200,000-step run's default): 24 of them, evenly spread
    const all = Array.from({ length: 100 }, (_, i) => ({ step: 2000 * i }) as DiagnosticsSnapshot);
    const steps = (ss: DiagnosticsSnapshot[]) => ss.map((s) => s.step);
    const last = switchableSnapshots(all, all[99]);
    assert.equal(last.length, 24);
    assert.deepEqual(steps(last).slice(0, 4), [0, 8000, 18000, 26000]); // round(k * 99 / 23) * 2,000
    assert.equal(last.at(-1), all[99]);
    // --step 2000 is not among them: it joins, in step order
    const picked = switchableSnapshots(all, all[1]);
    assert.equal(picked.length, 25);
    assert.deepEqual(steps(picked).slice(0, 3), [0, 2000, 8000]);
    // a short run keeps every snapshot; no diagnostics, nothing to switch
    assert.deepEqual(steps(switchableSnapshots(all.slice(0, 3), all[0])), [0, 2000, 4000]);
    assert.deepEqual(switchableSnapshots([], undefined), []);
  });

  test("not a run directory is a UserError", async () => {
    await assert.rejects(writeReport(join(tmp, "nope")), UserError);
    const empty = join(tmp, "empty");
    mkdirSync(empty, { recursive: true });
    await assert.rejects(writeReport(empty), /not a run directory/);
    await assert.rejects(
      writeReport(syntheticRun("steps"), { step: 7 }),
      /snapshots exist at steps 0, 500, 1499/,
    );
  });

  test("comparison report of several runs", async () => {
    const a = syntheticRun("cmp-a");
    const b = syntheticRun("cmp-b", { finished: false });
    const out = join(tmp, "compare.html");
    await writeComparisonReport([a, b], out);
    const html = readFileSync(out, "utf8");
    assert.ok(html.includes("cmp-a") && html.includes("cmp-b") && html.includes("(unfinished)"));
    assert.ok(!/https?:\/\//.test(html));
  });

  test("makemore report RUN_DIR prints the paths it wrote", async () => {
    const dir = syntheticRun("cli", { steps: 200 });
    const logged: string[] = [];
    const orig = console.log;
    console.log = (...a: unknown[]) => logged.push(a.join(" "));
    try {
      assert.equal(await reportCommand([dir, "-o", join(tmp, "cli.html"), "--step", "0"]), 0);
      assert.equal(await reportCommand(["--help"]), 0);
    } finally {
      console.log = orig;
    }
    assert.ok(logged.some((l) => l === `wrote ${join(tmp, "cli.html")}`));
    assert.ok(logged.some((l) => l.startsWith("usage: makemore report")));
    await assert.rejects(async () => reportCommand([]), /needs one run directory/);
  });
});
