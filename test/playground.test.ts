/**
 * The browser playground, built (`buildWeb`, as `npm run build:web` does) and served by
 * `makemore playground`'s server, driven in a real browser (Debian's chromium via playwright-core):
 * a run from the URL gives the library's loss to the bit with the charts drawn and no main-thread
 * task over 100 ms; pause, resume and stop; the downloaded run is one the CLI samples and
 * evaluates to the page's numbers; a CLI run dropped on the page samples the CLI's names; a bad word
 * file gets the CLI's one-line error.
 *
 * Chromium missing is a failure, not a skip: CI installs it (apt-get install chromium).
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import type { Browser, Page } from "playwright-core";
import { buildWeb } from "../scripts/build-web.ts";
import { configFromFlags } from "../src/cli/flags.ts";
import { type Playground, startPlayground } from "../src/cli/playground.ts";
import { BUNDLED_NAMES, createRun, loadData, loadRun } from "../src/io/run.ts";
import { FileRunStore } from "../src/io/runfiles.ts";
import { decodeSafetensors } from "../src/io/safetensors.ts";
import { modelTypes } from "../src/models/index.ts";
import { buildModel, presetSpec } from "../src/models/mlp.ts";
import { Generator } from "../src/random/generator.ts";
import { sampleWords as librarySample, splitLoss } from "../src/train/evaluate.ts";
import { TrainingSession } from "../src/train/session.ts";
import { LECTURE_TRAIN, train } from "../src/train/train.ts";
import { fitWidth, lossControls, smooth, zoomAt, zoomSpec } from "../src/viz/controls.ts";
import { type ChartSpec, compareLossSpec, lossSpec } from "../src/viz/specs.ts";
import { browser as launchBrowser, watchedPage } from "./support/chromium.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const MAIN = join(ROOT, "src/cli/main.ts");
const tmp = mkdtempSync(join(tmpdir(), "makemore-playground-"));
const SITE = join(tmp, "site");

/** tsx by URL, so `makemore` runs from source in any working directory */
const TSX = import.meta.resolve("tsx");

/** `makemore ARGS` (from source), its stdout; throws with stderr on a non-zero exit. */
function makemore(args: string[], cwd = ROOT): string {
  return execFileSync(process.execPath, ["--import", TSX, MAIN, ...args], {
    cwd,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
}

// ---------------------------------------------------------------- the browser and the server

let browser: Browser;
let site: Playground;

before(async () => {
  // the shared headless Chromium (test/support/chromium.ts, closed after the file), while the site builds
  [browser] = await Promise.all([launchBrowser(), buildWeb(SITE)]);
  site = await startPlayground({ dir: SITE, port: 0 });
});

after(async () => {
  await site?.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** A page that collects console errors, page errors, failed requests and HTTP errors. */
async function newPage(width = 1500): Promise<{ page: Page; problems: string[] }> {
  const { page, problems } = await watchedPage({ viewport: { width, height: 1000 }, acceptDownloads: true });
  await page.addInitScript(() => {
    // a chart's pixels (a bitmaprenderer canvas cannot be read back: copy it onto a 2d canvas)
    window.__picture = (id: string) => {
      const c = document.querySelector<HTMLCanvasElement>(`#${id} canvas`);
      if (!c) return "";
      const copy = document.createElement("canvas");
      copy.width = c.width;
      copy.height = c.height;
      copy.getContext("2d")!.drawImage(c, 0, 0);
      return copy.toDataURL();
    };
  });
  return { page, problems };
}

/** The renderer main thread's tasks in a Chrome trace: wall and thread (CPU) time in ms. */
function mainThreadTasks(trace: Buffer): { wallMs: number; cpuMs: number }[] {
  type Ev = {
    name: string;
    ph: string;
    pid: number;
    tid: number;
    dur?: number;
    tdur?: number;
    args?: { name?: string };
  };
  const events = (JSON.parse(trace.toString("utf8")) as { traceEvents: Ev[] }).traceEvents;
  const main = new Set(
    events
      .filter((e) => e.name === "thread_name" && e.args?.name === "CrRendererMain")
      .map((e) => `${e.pid}:${e.tid}`),
  );
  return events
    .filter((e) => e.ph === "X" && e.name === "RunTask" && main.has(`${e.pid}:${e.tid}`))
    .map((e) => ({ wallMs: (e.dur ?? 0) / 1000, cpuMs: (e.tdur ?? 0) / 1000 }));
}

const state = (page: Page) => page.evaluate(() => document.body.dataset.state ?? "");

async function waitForState(page: Page, states: string[], ms = 240_000): Promise<string> {
  await page.waitForFunction((s) => s.includes(document.body.dataset.state ?? ""), states, { timeout: ms });
  return state(page);
}

/**
 * Chart container ids whose canvas holds a drawn chart: a picture the size of a chart with ink in it
 * (more than 1% of its pixels not white).
 */
function drawnCharts(page: Page): Promise<string[]> {
  return page.$$eval(".chart", (els) =>
    els
      .filter((e) => {
        const c = e.querySelector("canvas");
        if (!c || c.width < 200 || c.height < 100) return false;
        const copy = new OffscreenCanvas(c.width, c.height);
        const g = copy.getContext("2d")!;
        g.drawImage(c, 0, 0);
        const px = g.getImageData(0, 0, c.width, c.height).data;
        let ink = 0;
        for (let i = 0; i < px.length; i += 4)
          if (px[i]! < 250 || px[i + 1]! < 250 || px[i + 2]! < 250) ink++;
        return ink > 0.01 * c.width * c.height;
      })
      .map((e) => e.id),
  );
}

/** A chart's picture as a data: URL (equal strings: the same pixels). */
const picture = (page: Page, id: string) => page.evaluate((i) => window.__picture(i), id);

declare global {
  interface Window {
    __picture(id: string): string;
  }
}

const sampleWords = (page: Page) =>
  page.$$eval("#samples li", (lis) =>
    lis.map((li) => ({ word: li.dataset.word!, source: li.dataset.source! })),
  );

/** Click a download button and save the file at `path`. */
async function download(page: Page, button: string, path: string): Promise<string> {
  const [d] = await Promise.all([page.waitForEvent("download"), page.click(button)]);
  await d.saveAs(path);
  return path;
}

/** Two checkpoints hold the same tensors, every bit. */
function assertSameCheckpoint(got: string, want: string): void {
  const a = decodeSafetensors(readFileSync(got)).tensors;
  const b = decodeSafetensors(readFileSync(want)).tensors;
  assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort());
  for (const [name, t] of Object.entries(b)) assert.deepEqual(a[name]!.data, t.data, name);
}

// ---------------------------------------------------------------- the chart controls (pure)

test("chart controls: TensorBoard's debiased smoothing, the linear loss axis, zoom as fixed domains, the card's width", () => {
  // values 1, 2, 3 at w = 0.5: s = 0.5, 1.25, 2.125 over 1 - 0.5^n = 0.5, 0.75, 0.875
  const rows = [3, 1, 2].map((v) => ({ step: v, value: v, series: "loss per step" }));
  const sm = smooth(rows, 0.5, "series");
  assert.deepEqual(
    sm.map((r) => r.step),
    [1, 2, 3],
  );
  for (const [i, want] of [1, 1.25 / 0.75, 2.125 / 0.875].entries())
    assert.ok(Math.abs(sm[i]!.value - want) < 1e-12, `${sm[i]!.value} vs ${want}`);
  // each series on its own; weight 0 is the raw curve
  const two = smooth([...rows, { step: 1, value: 10, series: "other" }], 0.5, "series");
  assert.equal(two.find((r) => r.series === "other")!.value, 10);
  assert.deepEqual(smooth(rows, 0, "series"), rows);

  const metrics = Array.from({ length: 40 }, (_, i) => ({ step: i, loss: 3 - i / 20 }));
  const spec = lossSpec(metrics)!;
  const linear = lossControls(spec, { smoothing: 0, logScale: false }) as unknown as {
    layer: { data: { values: { step: number; value: number }[] }; encoding: { y: { title: string } } }[];
  };
  // the loss itself: 10^log10(loss), the axis says so; the spec given is untouched
  assert.ok(Math.abs(linear.layer[0]!.data.values.find((r) => r.step === 0)!.value - 3) < 1e-12);
  assert.equal(linear.layer[0]!.encoding.y.title, "loss");
  assert.equal((spec as unknown as typeof linear).layer[0]!.encoding.y.title, "log10(loss)");
  const zoomed = zoomSpec(spec, { x: [10, 20], y: [0.3, 0.4] }) as unknown as {
    layer: { params?: unknown[]; encoding: { x: { scale: { domain: number[] } } } }[];
  };
  assert.deepEqual(zoomed.layer[0]!.encoding.x.scale.domain, [10, 20]);
  assert.deepEqual(zoomed.layer[0]!.params, []);
  // a wheel step about a point keeps that point where it is
  assert.deepEqual(zoomAt([0, 100], 25, 0.5), [12.5, 62.5]);
  // as wide as the card: the whole picture (fit-x), never under 240; a facet's cells share it
  const wide = fitWidth(spec, 900) as unknown as { width: number; autosize: unknown };
  assert.equal(wide.width, 900);
  assert.deepEqual(wide.autosize, { type: "fit-x", contains: "padding" });
  assert.equal((fitWidth(spec, 100) as unknown as { width: number }).width, 240);
  const facet = { facet: { field: "series" }, columns: 3, spec: { width: 230 } } as unknown as ChartSpec;
  assert.equal((fitWidth(facet, 900) as unknown as { spec: { width: number } }).spec.width, 230);
  assert.equal((fitWidth(facet, 600) as unknown as { spec: { width: number } }).spec.width, 140);
  // the comparison chart (the dashboard's): every run's curve smoothed on its own
  const runs = [
    { label: "a", metrics: [1, 10, 100].map((loss, step) => ({ step, loss })) },
    { label: "b", metrics: [{ step: 0, loss: 1000 }] },
  ];
  const cmp = lossControls(compareLossSpec(runs, { window: 1 })!, { smoothing: 0.5, logScale: true }, true);
  const values = (cmp as unknown as { data: { values: { run: string; value: number }[] } }).data.values;
  // log10 losses 0, 1, 2 at w = 0.5: s = 0, 0.5, 1.25 over 0.5, 0.75, 0.875; run b: 1.5 / 0.5
  const want: [string, number][] = [
    ["a", 0],
    ["a", 0.5 / 0.75],
    ["a", 1.25 / 0.875],
    ["b", 3],
  ];
  assert.equal(values.length, want.length);
  for (const [i, [run, v]] of want.entries()) {
    assert.equal(values[i]!.run, run);
    assert.ok(Math.abs(values[i]!.value - v) < 1e-12, `${run}: ${values[i]!.value} vs ${v}`);
  }
});

// ---------------------------------------------------------------- (a) the server

function raw(path: string, opts: { method?: string; host?: string } = {}) {
  const u = new URL(site.url);
  return new Promise<{ status: number; headers: Record<string, unknown>; body: string }>(
    (resolve, reject) => {
      const req = request(
        {
          host: u.hostname,
          port: u.port,
          path,
          method: opts.method ?? "GET",
          headers: opts.host ? { Host: opts.host } : {},
        },
        (res) => {
          let body = "";
          res.on("data", (c) => (body += c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        },
      );
      req.on("error", reject);
      req.end();
    },
  );
}

test("server: the site's files on fixed routes, nothing else; other Host names and methods refused", async () => {
  const index = await raw("/?type=batchnorm&autostart=1");
  assert.equal(index.status, 200);
  assert.match(String(index.headers["content-type"]), /^text\/html/);
  assert.match(String(index.headers["content-security-policy"]), /worker-src 'self'/);
  assert.match(index.body, /makemore playground/);
  for (const path of ["/app.js", "/worker.js", "/charts.js", "/data/names.txt", "/dashboard.css"])
    assert.equal((await raw(path)).status, 200, path);
  for (const path of ["/../package.json", "/%2e%2e/package.json", "/data/../app.js", "//etc/passwd", "/nope"])
    assert.equal((await raw(path)).status, 404, path);
  assert.equal((await raw("/", { host: "evil.example:80" })).status, 403);
  assert.equal((await raw("/", { host: `localhost:${new URL(site.url).port}` })).status, 200);
  assert.equal((await raw("/", { method: "POST" })).status, 405);
});

// ---------------------------------------------------------------- (b) a run from the URL

/** The lecture's BatchNorm MLP trained by the library, as `makemore train --max-steps N` trains it. */
function nodeRun(steps: number) {
  const data = loadData(BUNDLED_NAMES, 3);
  const g = new Generator().manualSeed(2147483647);
  const model = buildModel(presetSpec("batchnorm", data.vocab.size, 3), g);
  let last = Number.NaN;
  train(model, data.train, { ...LECTURE_TRAIN, maxSteps: steps }, g, {
    readOnly: true,
    afterStep: ({ loss }) => {
      last = loss;
    },
  });
  return { last, train: splitLoss(model, data.train), val: splitLoss(model, data.val) };
}

test("a run from the URL: the library's loss at step 2,000 to the bit, every chart drawn, training and drawing off the main thread; the download is a run the CLI samples and evaluates", async (t) => {
  const { page, problems } = await newPage();
  await browser.startTracing(page, {
    categories: ["devtools.timeline", "disabled-by-default-devtools.timeline"],
  });
  await page.goto(`${site.url}?type=batchnorm&seed=2147483647&steps=2000&autostart=1`);
  const expected = nodeRun(2000);
  assert.equal(await waitForState(page, ["finished", "failed", "stopped"]), "finished");
  const body = await page.evaluate(() => ({ ...document.body.dataset }));
  assert.equal(body.step, "2000");
  // the last minibatch loss (step 1,999) and the split losses, every bit
  assert.equal(Number(body.loss), expected.last);
  assert.equal(Number(body.trainLoss), expected.train);
  assert.equal(Number(body.valLoss), expected.val);

  const charts = [
    "chart-loss",
    "chart-update-ratios",
    "chart-activations",
    "chart-gradients",
    "chart-weight-gradients",
    "chart-activations-history",
    "chart-gradients-history",
    "chart-saturation-layer-2",
  ];
  const t0 = Date.now();
  while ((await drawnCharts(page)).length < charts.length && Date.now() - t0 < 120_000)
    await page.waitForTimeout(200);
  assert.deepEqual((await drawnCharts(page)).sort(), [...charts].sort());
  assert.match(
    (await page.textContent("#startup")) ?? "",
    /model: batchnorm \| 12097 parameters \| seed 2147483647/,
  );

  // the dashboard's controls: the linear axis and a wheel change the loss picture; double-click
  // gives back the chart exactly as it was drawn first
  const before = await picture(page, "chart-loss");
  await page.uncheck("#log-scale");
  await page.waitForFunction((b) => window.__picture("chart-loss") !== b, before);
  await page.check("#log-scale");
  await page.waitForFunction((b) => window.__picture("chart-loss") === b, before);
  const box = (await page.locator("#chart-loss canvas").boundingBox())!;
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.wheel(0, -400);
  await page.waitForFunction((b) => window.__picture("chart-loss") !== b, before);
  await page.dblclick("#chart-loss canvas");
  await page.waitForFunction((b) => window.__picture("chart-loss") === b, before);
  assert.match((await page.textContent("#findings")) ?? "", /No problems found|WARNING|INFO/i);

  // responsiveness, by construction rather than by a stopwatch: the page's own code (app.js) holds
  // no engine, no WebAssembly and no chart library, so training and drawing cannot run on the main
  // thread; it only posts messages and copies bitmaps. How long its tasks take is a measurement,
  // not a test (a shared machine stretches any task): `npm run bench` reports it in the playground
  // row, and the page shows its long-task record, which is checked here for being there and sane.
  const app = readFileSync(join(SITE, "app.js"), "utf8");
  for (const marker of ["WebAssembly", "Float32Array.from", "vega", "backward"])
    assert.ok(!app.includes(marker), `app.js (the main thread's code) contains ${marker}`);
  assert.ok(Buffer.byteLength(app) < 64 * 1024, `app.js is ${Buffer.byteLength(app)} bytes`);
  // the markers are real: the workers' bundles carry them
  const worker = readFileSync(join(SITE, "worker.js"), "utf8");
  for (const marker of ["WebAssembly", "backward"])
    assert.ok(worker.includes(marker), `worker.js lacks ${marker}`);
  assert.ok(readFileSync(join(SITE, "charts.js"), "utf8").includes("vega"), "charts.js lacks vega");
  const wall = await page.evaluate(() => ({
    count: Number(document.body.dataset.longTasks),
    over100: Number(document.body.dataset.longTasksOver100),
    longestMs: Number(document.body.dataset.longestTask),
  }));
  assert.ok(
    Number.isInteger(wall.count) && wall.over100 <= wall.count && wall.longestMs >= 0,
    JSON.stringify(wall),
  );
  assert.match((await page.textContent("#longtasks")) ?? "", /^Main thread while training: /);
  const tasks = mainThreadTasks(await browser.stopTracing());
  assert.ok(tasks.length > 50, `${tasks.length} main-thread tasks traced`);
  const longest = tasks.reduce((m, t) => (t.cpuMs > m.cpuMs ? t : m), { wallMs: 0, cpuMs: 0 });
  t.diagnostic(
    `main thread: ${tasks.length} tasks, the longest ${longest.cpuMs.toFixed(1)} ms CPU (${longest.wallMs.toFixed(1)} ms wall); long tasks ${JSON.stringify(wall)}`,
  );

  // the final samples: the CLI's 20 of seed + 10, marked against the split
  const pageSamples = await sampleWords(page);
  assert.equal(pageSamples.length, 20);

  // download the run; the CLI reads it: the same samples, the same split losses
  const dir = join(tmp, "from-page");
  mkdirSync(dir);
  for (const [button, file] of [
    ["#dl-checkpoint", "checkpoint.safetensors"],
    ["#dl-config", "config.json"],
    ["#dl-metrics", "metrics.jsonl"],
    ["#dl-diagnostics", "diagnostics.jsonl"],
  ] as const) {
    const [download] = await Promise.all([page.waitForEvent("download"), page.click(button)]);
    assert.equal(download.suggestedFilename(), file);
    await download.saveAs(join(dir, file));
  }
  const cliSample = JSON.parse(makemore(["sample", dir, "--json"])) as {
    samples: { word: string; source: string }[];
  };
  assert.deepEqual(cliSample.samples, pageSamples);
  const cliEval = JSON.parse(makemore(["eval", dir, "--json", "--split", "train,val"])) as {
    step: number;
    losses: Record<string, number>;
  };
  assert.equal(cliEval.step, 2000);
  assert.equal(cliEval.losses.train, expected.train);
  assert.equal(cliEval.losses.val, expected.val);
  // the logs as the CLI writes them: one line per step (the page's losses), the snapshots
  const metrics = readFileSync(join(dir, "metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.equal(metrics.length, 2000);
  assert.equal(metrics.at(-1).loss, expected.last);
  const report = makemore(["report", dir]);
  for (const plot of ["loss", "update-ratios", "activations", "gradients"])
    assert.match(report, new RegExp(`wrote .*plots/${plot}[^/]*\\.svg`), report);
  assert.match(report, /wrote .*report\.html/);
  assert.deepEqual(problems, []);
  await page.close();
});

// ---------------------------------------------------------------- (c) controls

test("pause stops the steps, resume continues, stop ends the run; every --type is offered", async () => {
  const { page, problems } = await newPage();
  await page.goto(`${site.url}?type=deep-tanh&steps=200000&autostart=1`);
  await page.waitForFunction(() => document.body.dataset.ready === "1");
  const types = await page.$$eval("#type option", (os) => os.map((o) => (o as HTMLOptionElement).value));
  assert.deepEqual(types, modelTypes());
  await page.waitForFunction(() => Number(document.body.dataset.step) > 0, null, { timeout: 120_000 });
  await page.click("#pause");
  await waitForState(page, ["paused"]);
  const held = await page.evaluate(() => Number(document.body.dataset.step));
  await page.waitForTimeout(600);
  assert.equal(await page.evaluate(() => Number(document.body.dataset.step)), held);
  await page.click("#pause"); // now "Resume"
  await page.waitForFunction((s) => Number(document.body.dataset.step) > s, held, { timeout: 120_000 });
  await page.click("#stop");
  assert.equal(await waitForState(page, ["stopped"]), "stopped");
  const stoppedAt = await page.evaluate(() => Number(document.body.dataset.step));
  assert.ok(stoppedAt > held && stoppedAt < 200_000, `${stoppedAt}`);
  // a stopped run still samples
  await page.click("#sample");
  await page.waitForFunction(() => document.querySelectorAll("#samples li").length === 20);
  assert.deepEqual(problems, []);
  await page.close();
});

test("a makemore.py type on the page has the CLI's defaults: its randperm split, its evaluate() every 500 steps, no end but Stop; the page's run is the CLI's to the bit", async () => {
  // no flags but the type: makemore.py's seed 3407, --max-steps -1, its split, AdamW at 5e-4
  const { page, problems } = await newPage();
  await page.goto(`${site.url}?type=bow&diagnostics=0&autostart=1`);
  await page.waitForFunction(() => Number(document.body.dataset.step) > 0, null, { timeout: 120_000 });
  assert.equal(await page.textContent("#max-steps"), " (until Stop)");
  // past makemore.py's first evaluation (step 500), then Stop
  await page.waitForFunction(() => Number(document.body.dataset.step) > 520, null, { timeout: 240_000 });
  await page.click("#stop");
  assert.equal(await waitForState(page, ["stopped"]), "stopped");
  const body = await page.evaluate(() => ({ ...document.body.dataset }));
  const steps = Number(body.step);
  const startup = (await page.textContent("#startup")) ?? "";
  // the page has no Ctrl-C: its start-up line names its own way to stop
  assert.match(
    startup,
    /^train: until interrupted \(--max-steps -1; Stop keeps a checkpoint\) \| batch 32 \| adamw/m,
  );

  // the CLI's run of as many steps, with its defaults for the type
  const dir = join(tmp, "bow-cli");
  const out = makemore(["train", "--type", "bow", "--max-steps", String(steps), "-o", dir]);
  const splitLine = /^split \(.*$/m.exec(out)?.[0];
  assert.match(
    splitLine ?? "",
    /^split \(makemore.py's torch\.randperm under manual_seed\(3407\).*\): train 31033 \| val 0 \| test 1000 examples/,
    out,
  );
  assert.ok(
    startup.includes(splitLine!),
    `the page's start-up lines:\n${startup}\nthe CLI's split line: ${splitLine}`,
  );
  assert.match(startup, /^step 500 train loss: \S+ test loss: \S+$/m);
  // the weights at the stop: the CLI's after as many steps, every bit
  const cliState = JSON.parse(readFileSync(join(dir, "state.json"), "utf8"));
  assert.equal(cliState.step, steps);
  assertSameCheckpoint(
    await download(page, "#dl-checkpoint", join(tmp, "bow-page.safetensors")),
    join(dir, "checkpoint.safetensors"),
  );
  // the log: the CLI's metrics.jsonl line for line, from the first minibatch's loss to the
  // evaluation at step 500 ({"step":500,"train_loss":…,"test_loss":…})
  const pageLog = await download(page, "#dl-metrics", join(tmp, "bow-page-metrics.jsonl"));
  const cliLog = readFileSync(join(dir, "metrics.jsonl"), "utf8");
  assert.match(cliLog, /^\{"step":500,"train_loss":[\d.]+,"test_loss":[\d.]+\}$/m);
  assert.equal(readFileSync(pageLog, "utf8"), cliLog);
  assert.deepEqual(problems, []);
  await page.close();
});

// ---------------------------------------------------------------- (d) files

test("a CLI run dropped on the page samples the CLI's names", async () => {
  const dir = join(tmp, "cli-run");
  makemore(["train", "--max-steps", "300", "--type", "fix-tanh", "-o", dir, "--quiet", "--num-samples", "0"]);
  const cli = JSON.parse(makemore(["sample", dir, "--json"])) as {
    samples: { word: string; source: string }[];
  };
  const { page, problems } = await newPage();
  await page.goto(site.url);
  await page.setInputFiles("#files", [join(dir, "config.json"), join(dir, "checkpoint.safetensors")]);
  assert.equal(await waitForState(page, ["loaded"]), "loaded");
  await page.waitForFunction(() => document.querySelectorAll("#samples li").length === 20);
  // the CLI's run names its word file by absolute path: the page marks provenance only for the
  // bundled names.txt, which this run used
  assert.deepEqual(await sampleWords(page), cli.samples);

  // the sample form is `makemore sample`'s flags: temperature, top-k, seed give the CLI's names
  const flags = ["--temperature", "0.8", "--top-k", "3", "--seed", "7", "-n", "30"];
  const cliTopK = JSON.parse(makemore(["sample", dir, "--json", ...flags])) as {
    samples: { word: string; source: string }[];
  };
  // the same draw without top-k gives other names: the control changes the draw
  const loaded = loadRun(dir);
  const all = librarySample(loaded.model, loaded.vocab, {
    count: 30,
    temperature: 0.8,
    generator: new Generator().manualSeed(7),
  });
  assert.notDeepEqual(
    cliTopK.samples.map((s) => s.word),
    all,
  );
  await page.fill("#sample-count", "30");
  await page.fill("#sample-temperature", "0.8");
  await page.fill("#sample-top-k", "3");
  await page.fill("#sample-seed", "7");
  await page.click("#sample");
  await page.waitForFunction(() =>
    /top-k 3/.test(document.getElementById("samples-note")?.textContent ?? ""),
  );
  assert.deepEqual(await sampleWords(page), cliTopK.samples);
  // top-k 0: the CLI's one line
  const zero = spawnSync(process.execPath, ["--import", TSX, MAIN, "sample", dir, "--top-k", "0"], {
    encoding: "utf8",
  });
  assert.equal(zero.status, 2);
  await page.fill("#sample-top-k", "0");
  await page.click("#sample");
  await page.waitForFunction(() => document.body.dataset.error);
  assert.equal(
    `makemore: error: ${await page.evaluate(() => document.body.dataset.error)}`,
    zero.stderr.trim(),
  );
  assert.deepEqual(problems, []);
  await page.close();
});

test("an unfinished CLI run dropped on the page continues as `makemore train --resume` does: the same bits", async () => {
  // a run stopped at step 120 of 300, as Ctrl-C leaves it (the session saves a checkpoint at the
  // stop), with AdamW so that the optimizer's moments must travel too
  const dir = join(tmp, "unfinished");
  const flags = {
    type: "batchnorm",
    "max-steps": "300",
    optimizer: "adamw",
    "num-samples": "10",
    "work-dir": dir,
  };
  const opened = createRun(configFromFlags(flags), dir);
  let session: TrainingSession | null = null;
  session = new TrainingSession({
    config: opened.config,
    data: opened.data,
    store: new FileRunStore(opened.paths),
    events: { step: (done) => done === 120 && session?.stop() },
  });
  assert.deepEqual(await session.run(), { kind: "stopped", step: 120 });
  opened.lock.release();
  // the CLI continues a copy
  const cliDir = join(tmp, "unfinished-cli");
  cpSync(dir, cliDir, { recursive: true });
  makemore(["train", "--resume", cliDir, "--quiet"]);
  const cliState = JSON.parse(readFileSync(join(cliDir, "state.json"), "utf8"));
  const cliSamples = JSON.parse(readFileSync(join(cliDir, "samples.json"), "utf8")).samples;
  assert.equal(cliState.step, 300);

  const { page, problems } = await newPage();
  await page.goto(site.url);
  // the checkpoint names its optimizer state, a file beside it: without it the run cannot continue
  const optimizer = readdirSync(dir).filter((f) => /^optimizer-\d+\.safetensors$/.test(f));
  assert.deepEqual(optimizer, ["optimizer-120.safetensors"]);
  const run = [join(dir, "config.json"), join(dir, "checkpoint.safetensors"), join(dir, "metrics.jsonl")];
  await page.setInputFiles("#files", run);
  assert.equal(await waitForState(page, ["loaded"]), "loaded");
  await page.click("#continue");
  await page.waitForFunction(() => document.body.dataset.error);
  assert.equal(
    await page.evaluate(() => document.body.dataset.error),
    "continuing needs the run's optimizer state: drop optimizer-120.safetensors together with config.json and checkpoint.safetensors",
  );
  // with it, and with its metrics.jsonl, so the continued run's log is the whole run's
  await page.setInputFiles("#files", [...run, join(dir, optimizer[0]!)]);
  await page.waitForFunction(() => !document.body.dataset.error);
  assert.equal(await waitForState(page, ["loaded"]), "loaded");
  assert.equal(await page.isVisible("#continue"), true);
  await page.click("#continue");
  assert.equal(await waitForState(page, ["finished", "failed", "stopped"]), "finished");
  assert.match((await page.textContent("#startup")) ?? "", /\(resuming at step 120\)/);
  const body = await page.evaluate(() => ({ ...document.body.dataset }));
  assert.equal(body.step, "300");
  assert.equal(Number(body.loss), cliState.lastLoss);
  for (const k of ["train", "val", "test"] as const)
    assert.equal(Number(body[`${k}Loss`]), cliState.splitLosses[k], k);
  assert.deepEqual(await sampleWords(page), cliSamples);
  // the weights and buffers, every bit
  assertSameCheckpoint(
    await download(page, "#dl-checkpoint", join(tmp, "continued.safetensors")),
    join(cliDir, "checkpoint.safetensors"),
  );
  // the log: the CLI's metrics.jsonl line for line (steps 0-119 as dropped, 120-299 trained here)
  const pageLog = await download(page, "#dl-metrics", join(tmp, "continued-metrics.jsonl"));
  const cliLog = readFileSync(join(cliDir, "metrics.jsonl"), "utf8");
  assert.equal(cliLog.trim().split("\n").length, 300);
  assert.equal(readFileSync(pageLog, "utf8"), cliLog);
  // a finished run is not offered to continue
  assert.equal(await page.isVisible("#continue"), false);
  assert.deepEqual(problems, []);
  await page.close();
});

test("a page run paused and downloaded is resumable: `train --resume` of the download, the page's own run and the download dropped back and continued end on the same bits", async () => {
  const { page, problems } = await newPage();
  await page.goto(`${site.url}?type=deep-bn&steps=4000&optimizer=adamw&diagnostics=0&autostart=1`);
  await waitForState(page, ["training"]);
  await page.click("#pause");
  assert.equal(await waitForState(page, ["paused", "finished"]), "paused");
  const pausedAt = Number(await page.evaluate(() => document.body.dataset.step));
  assert.ok(pausedAt > 0 && pausedAt < 4000, `paused at ${pausedAt}`);
  const dir = join(tmp, "paused");
  mkdirSync(dir);
  for (const [button, file] of [
    ["#dl-checkpoint", "checkpoint.safetensors"],
    ["#dl-config", "config.json"],
  ] as const) {
    const [download] = await Promise.all([page.waitForEvent("download"), page.click(button)]);
    await download.saveAs(join(dir, file));
  }
  const weights = async () => {
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("#dl-checkpoint")]);
    const path = join(tmp, `w-${Date.now()}.safetensors`);
    await download.saveAs(path);
    return decodeSafetensors(readFileSync(path)).tensors;
  };
  const finalOf = async () => ({
    body: await page.evaluate(() => ({ ...document.body.dataset })),
    samples: await sampleWords(page),
    tensors: await weights(),
  });
  await page.click("#pause"); // Resume
  assert.equal(await waitForState(page, ["finished", "failed"]), "finished");
  const own = await finalOf();

  // the download, continued by the CLI (its config names the bundled names.txt)
  const cliDir = join(tmp, "paused-cli");
  cpSync(dir, cliDir, { recursive: true });
  makemore(["train", "--resume", cliDir, "--quiet"]);
  const cliState = JSON.parse(readFileSync(join(cliDir, "state.json"), "utf8"));
  const cliTensors = decodeSafetensors(readFileSync(join(cliDir, "checkpoint.safetensors"))).tensors;
  assert.match(readFileSync(join(cliDir, "metrics.jsonl"), "utf8"), new RegExp(`^\\{"step":${pausedAt},`));
  assert.equal(cliState.step, 4000);
  const same = (run: Awaited<ReturnType<typeof finalOf>>, what: string) => {
    assert.equal(Number(run.body.loss), cliState.lastLoss, what);
    for (const k of ["train", "val", "test"] as const)
      assert.equal(Number(run.body[`${k}Loss`]), cliState.splitLosses[k], `${what}: ${k}`);
    for (const [name, t] of Object.entries(cliTensors))
      assert.deepEqual(run.tensors[name]!.data, t.data, `${what}: ${name}`);
  };
  same(own, "the page's own run");

  // the download dropped back on the page and continued there
  await page.goto(site.url);
  await page.setInputFiles("#files", [join(dir, "config.json"), join(dir, "checkpoint.safetensors")]);
  assert.equal(await waitForState(page, ["loaded"]), "loaded");
  await page.click("#continue");
  assert.equal(await waitForState(page, ["finished", "failed"]), "finished");
  const again = await finalOf();
  same(again, "the download continued on the page");
  assert.deepEqual(again.samples, own.samples);
  assert.deepEqual(problems, []);
  await page.close();
});

test("a bad word file and a bad flag in the URL get the CLI's one-line errors; a good file trains", async () => {
  const files = join(tmp, "words");
  mkdirSync(files);
  const bad = join(files, "utf16.txt");
  writeFileSync(bad, Buffer.from("\ufeffanna\nbob\n", "utf16le"));
  const cli = spawnSync(
    process.execPath,
    ["--import", TSX, MAIN, "train", "-i", "utf16.txt", "--max-steps", "1"],
    {
      cwd: files,
      encoding: "utf8",
    },
  );
  assert.equal(cli.status, 1);
  // the CLI names the file by its absolute path, the page by the name it was dropped with
  const cliLine = cli.stderr.trim().replace(bad, "utf16.txt");
  assert.match(cliLine, /^makemore: error: word file utf16\.txt is UTF-16 encoded; save it as UTF-8$/);

  const { page, problems } = await newPage(420);
  await page.goto(site.url);
  await page.setInputFiles("#files", bad);
  await page.waitForFunction(() => document.body.dataset.error);
  assert.equal(`makemore: error: ${await page.evaluate(() => document.body.dataset.error)}`, cliLine);
  assert.equal((await page.textContent("#error"))?.includes("\n"), false);

  // a bad flag in the URL: the CLI's line for the same flag
  const flagCli = spawnSync(process.execPath, ["--import", TSX, MAIN, "train", "--momentum", "2"], {
    cwd: files,
    encoding: "utf8",
  });
  assert.equal(flagCli.status, 2);
  await page.goto(`${site.url}?momentum=2&autostart=1`);
  await page.waitForFunction(() => document.body.dataset.error);
  assert.equal(
    `makemore: error: ${await page.evaluate(() => document.body.dataset.error)}`,
    flagCli.stderr.trim(),
  );

  // the run's --top-k (the training form's field) is checked as `makemore train --top-k` checks it
  const topKCli = spawnSync(process.execPath, ["--import", TSX, MAIN, "train", "--top-k", "0"], {
    cwd: files,
    encoding: "utf8",
  });
  assert.equal(topKCli.status, 2);
  await page.goto(`${site.url}?top-k=0&autostart=1`);
  await page.waitForFunction(() => document.body.dataset.error);
  assert.equal(
    `makemore: error: ${await page.evaluate(() => document.body.dataset.error)}`,
    topKCli.stderr.trim(),
  );

  await page.waitForLoadState("networkidle"); // the workers' scripts are in, before leaving the page
  await page.goto(site.url);
  const good = join(files, "pets.txt");
  writeFileSync(good, "rex\nfido\nluna\nmax\nbella\ncharlie\nlucy\ncooper\ndaisy\nmilo\n");
  await page.setInputFiles("#files", good);
  await page.waitForFunction(() => !document.body.dataset.error);
  await page.fill("#flag-max-steps", "50");
  await page.fill("#flag-batch-size", "4");
  await page.click("#train");
  assert.equal(await waitForState(page, ["finished", "failed"]), "finished");
  const vocab = new Set([...readFileSync(good, "utf8").replaceAll("\n", "")]).size + 1;
  assert.match(
    (await page.textContent("#startup")) ?? "",
    new RegExp(`^data: pets\\.txt \\| 10 items \\| vocabulary ${vocab} `),
  );
  assert.match(
    (await page.textContent("#cli")) ?? "",
    /makemore train -i pets\.txt --max-steps 50 --batch-size 4/,
  );
  assert.deepEqual(problems, []);
  await page.close();
});
