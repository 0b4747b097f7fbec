/**
 * The live dashboard. Server: fixed routes, 404 for path tricks, the event stream (an append
 * reaches the browser, a torn line waits for its newline, clients may vanish), bounded memory on
 * a 200,000-step history. Page, in a real browser (Debian's chromium driven by playwright-core):
 * a live `makemore train --dashboard`, a replayed run whose files grow under the test's control,
 * and `makemore dashboard A B` comparing two finished runs.
 *
 * Chromium missing is a failure, not a skip: CI installs it (apt-get install chromium).
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import {
  appendFileSync,
  copyFileSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { get, type IncomingMessage, request } from "node:http";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import type { Page } from "playwright-core";
import { startDashboard, startDashboardWorker } from "../src/dashboard/server.ts";
import { BlockMeans, envelope, meanBuckets, RAW_BUCKETS, UD_BUCKETS } from "../src/viz/series.ts";
import { browser, watchedPage } from "./support/chromium.ts";
import { sleep, until } from "./support/until.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const MAIN = join(ROOT, "src/cli/main.ts");
const tmp = mkdtempSync(join(tmpdir(), "makemore-dashboard-"));

// ---------------------------------------------------------------- helpers

interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** `makemore ARGS` as a child process; `output()` has what it printed so far. */
function makemore(args: string[]): Spawned {
  return node([MAIN, ...args]);
}

type Spawned = { child: ChildProcess; output: () => string; done: Promise<Finished> };

function node(args: string[]): Spawned {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", ...(args[0] === "-e" ? ["--input-type=module"] : []), ...args],
    {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (b) => (stdout += b));
  child.stderr!.on("data", (b) => (stderr += b));
  const done = new Promise<Finished>((resolve) =>
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return { child, output: () => stdout + stderr, done };
}

/** The first match of `re` in the child's output, or a failure with everything it printed. */
async function waitForOutput(p: Spawned, re: RegExp, ms = 180_000): Promise<string> {
  const t0 = Date.now();
  for (;;) {
    const m = re.exec(p.output());
    if (m) return m[0];
    if (p.child.exitCode !== null || Date.now() - t0 > ms)
      assert.fail(`no ${re} in the output of makemore (exit ${p.child.exitCode}):\n${p.output()}`);
    await sleep(50);
  }
}

async function stop(p: Spawned): Promise<Finished> {
  if (p.child.exitCode === null) p.child.kill("SIGTERM");
  const timer = setTimeout(() => p.child.kill("SIGKILL"), 10_000);
  const r = await p.done;
  clearTimeout(timer);
  return r;
}

/** A raw HTTP request: the path goes out exactly as given (no URL normalisation). */
function raw(
  url: string,
  path: string,
  opts: { method?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; type: string; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: u.hostname, port: u.port, path, method: opts.method ?? "GET", headers: opts.headers },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c) => (body += c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"] ?? ""), body }),
        );
      },
    );
    req.on("error", reject);
    req.end();
  });
}

async function json<T = Record<string, unknown>>(url: string): Promise<T> {
  const res = await fetch(url);
  assert.equal(res.status, 200, url);
  return (await res.json()) as T;
}

interface SseEvent {
  event: string;
  data: string;
}

/** A minimal EventSource: collects events, `next(pred)` waits for a matching one. */
function events(url: string) {
  const got: SseEvent[] = [];
  let res: IncomingMessage | undefined;
  let buf = "";
  const req = get(new URL("api/events", url), (r) => {
    res = r;
    r.setEncoding("utf8");
    r.on("data", (chunk: string) => {
      buf += chunk;
      let i = buf.indexOf("\n\n");
      while (i >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const ev: SseEvent = { event: "message", data: "" };
        for (const line of block.split("\n")) {
          if (line.startsWith("event: ")) ev.event = line.slice(7);
          else if (line.startsWith("data: ")) ev.data += line.slice(6);
          else if (line.startsWith("retry: ")) ev.event = "retry";
        }
        got.push(ev);
        i = buf.indexOf("\n\n");
      }
    });
  });
  req.on("error", () => {});
  return {
    got,
    headers: () => res?.headers,
    next: (pred: (e: SseEvent) => boolean, what: string, from = 0) =>
      until(what, () => got.slice(from).find(pred), 120_000),
    close: () => req.destroy(),
  };
}

const runEvent = (e: SseEvent) => (e.event === "run" ? JSON.parse(e.data) : null);

// ---------------------------------------------------------------- two real finished runs

const runA = join(tmp, "bn-a");
const runB = join(tmp, "bn-b");
let runsMade: Promise<void> | undefined;

/** Two short real training runs with diagnostics (made once, in parallel). */
function finishedRuns(): Promise<void> {
  runsMade ??= (async () => {
    const common = ["--type", "batchnorm", "--diagnostics", "--quiet", "--num-samples", "12"];
    const [a, b] = await Promise.all([
      makemore(["train", ...common, "--max-steps", "1200", "--diagnostics-every", "400", "-o", runA]).done,
      makemore(["train", ...common, "--max-steps", "600", "--seed", "42", "-o", runB]).done,
    ]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
  })();
  return runsMade;
}

finishedRuns().catch(() => {}); // start now; the tests that need the runs await (and report) it

function lines(path: string): string[] {
  return readFileSync(path, "utf8").split("\n").filter(Boolean);
}

// ---------------------------------------------------------------- the browser

// the shared headless Chromium (test/support/chromium.ts), launched when the file loads so tests
// don't wait for it; a missing Chromium is reported by each browser test
browser().catch(() => {});

/** A page at `url` that collects console errors, page errors, failed requests and HTTP errors. */
async function openPage(url: string): Promise<{ page: Page; problems: string[] }> {
  const p = await newPage();
  await p.page.goto(url);
  return p;
}

async function newPage(): Promise<{ page: Page; problems: string[] }> {
  const { page, problems } = await watchedPage({ viewport: { width: 1640, height: 1000 } });
  await page.addInitScript(() => {
    // every step the header showed, in order (set by the page on document.body.dataset.step)
    const w = window as unknown as { __steps: number[] };
    w.__steps = [];
    document.addEventListener("DOMContentLoaded", () => {
      new MutationObserver(() => w.__steps.push(Number(document.body.dataset.step))).observe(document.body, {
        attributes: true,
        attributeFilter: ["data-step"],
      });
    });
  });
  return { page, problems };
}

const text = async (page: Page, selector: string) => (await page.textContent(selector)) ?? "";

/** Chart container ids whose chart has drawn marks (a non-empty SVG or a canvas). */
function drawnCharts(page: Page): Promise<string[]> {
  return page.$$eval(".chart", (els) =>
    els
      .filter((e) => {
        const svg = e.querySelector("svg");
        return (svg && svg.querySelectorAll("path, rect, line").length > 3) || e.querySelector("canvas");
      })
      .map((e) => e.id),
  );
}

const RUN_CHARTS = [
  "chart-loss",
  "chart-update-ratios",
  "chart-activations",
  "chart-gradients",
  "chart-weight-gradients",
  "chart-saturation-layer-2",
];

async function allChartsDrawn(page: Page, ids: string[]): Promise<void> {
  await until(`charts ${ids.join(", ")}`, async () => {
    const drawn = await drawnCharts(page);
    return ids.every((id) => drawn.includes(id));
  });
}

// ---------------------------------------------------------------- (a) the server

test("bounded series: envelope, bucket means and block means stay small on a long run", () => {
  const env = envelope();
  const ud = meanBuckets();
  const means = new BlockMeans();
  for (let s = 0; s < 1_000_000; s++) {
    env.push(s, 2 + Math.sin(s));
    ud.push(s, -3 + Math.cos(s));
    means.push(s, Math.sin(s));
  }
  assert.ok(env.size <= RAW_BUCKETS && env.size > RAW_BUCKETS / 2, `${env.size}`);
  assert.ok(ud.size <= UD_BUCKETS && ud.size > UD_BUCKETS / 2, `${ud.size}`);
  assert.equal(means.window, 1000);
  const pts = means.points();
  assert.equal(pts.length, 1000);
  // the block [0, 1000): mean of sin(0..999), placed at step 499.5
  let sum = 0;
  for (let s = 0; s < 1000; s++) sum += Math.sin(s);
  assert.equal(pts[0]!.step, 499.5);
  assert.ok(Math.abs(pts[0]!.value - sum / 1000) < 1e-12);
});

test("events: an appended line reaches the stream; a torn line waits for its newline", async () => {
  const dir = join(tmp, "sse");
  mkdirSync(dir);
  const metrics = join(dir, "metrics.jsonl");
  writeFileSync(metrics, '{"step":0,"loss":3.3,"lr":0.1}\n');
  const d = await startDashboard({ runDirs: [dir], port: 0, pollMs: 50, heartbeatMs: 200 });
  const es = events(d.url);
  try {
    await es.next((e) => e.event === "retry", "the retry hint");
    await es.next((e) => runEvent(e)?.step === 1, "the first state");
    assert.match(String(es.headers()?.["content-type"]), /text\/event-stream/);
    let from = es.got.length;
    appendFileSync(metrics, '{"step":1,"loss":3.2,"lr":0.1}\n');
    const e = runEvent(await es.next((e) => runEvent(e)?.step === 2, "the appended step", from));
    assert.deepEqual(
      e.charts.map((c: { name: string }) => c.name),
      ["loss"],
    );
    assert.equal(e.lastLoss, 3.2);
    await es.next((e) => e.data === "" && e.event === "message", "a heartbeat comment", from);

    // half a line: nothing happens until the rest arrives
    from = es.got.length;
    appendFileSync(metrics, '{"step":2,"loss":3.1');
    await sleep(400);
    assert.equal(
      es.got.slice(from).filter((e) => runEvent(e)?.step === 3).length,
      0,
      "a torn line is not read",
    );
    assert.equal((await json(`${d.url}api/run/0/summary`)).step, 2);
    appendFileSync(metrics, ',"lr":0.1}\n');
    const done = runEvent(await es.next((e) => runEvent(e)?.step === 3, "the completed line", from));
    assert.equal(done.lastLoss, 3.1);
  } finally {
    es.close();
    await d.close();
  }
});

test("events: clients that disconnect, abruptly or mid-request, do not hurt the server", async () => {
  const dir = join(tmp, "disconnect");
  mkdirSync(dir);
  const metrics = join(dir, "metrics.jsonl");
  writeFileSync(metrics, '{"step":0,"loss":3.3,"lr":0.1}\n');
  const d = await startDashboard({ runDirs: [dir], port: 0, pollMs: 20, heartbeatMs: 30 });
  try {
    const u = new URL(d.url);
    for (let i = 0; i < 30; i++) {
      const es = events(d.url);
      if (i % 3 === 0)
        es.close(); // before the answer
      else {
        await until("the stream", () => es.got.length > 0);
        es.close(); // after it
      }
      // and a request cut off half-way through its headers
      const net = await import("node:net");
      const s = net.connect(Number(u.port), u.hostname, () => {
        s.write("GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        s.destroy();
      });
      s.on("error", () => {});
    }
    // broadcasts and heartbeats to the departed clients happen meanwhile
    for (let s = 1; s < 50; s++) appendFileSync(metrics, `{"step":${s},"loss":3,"lr":0.1}\n`);
    await sleep(300);
    const es = events(d.url);
    try {
      await es.next((e) => runEvent(e)?.step === 50, "a fresh client's state");
      appendFileSync(metrics, '{"step":50,"loss":3,"lr":0.1}\n');
      await es.next((e) => runEvent(e)?.step === 51, "a later append");
    } finally {
      es.close();
    }
    assert.equal((await raw(d.url, "/api/info")).status, 200);
  } finally {
    await d.close();
  }
});

test("bounded: 200,000 metric lines give a small payload with the exact 1,000-step means", async () => {
  const dir = join(tmp, "long");
  mkdirSync(dir);
  const N = 200_000;
  const out: string[] = [];
  const blockSums = new Float64Array(N / 1000);
  for (let s = 0; s < N; s++) {
    // a decaying, noisy loss (deterministic)
    const loss = 2 + Math.exp(-s / 20_000) + 0.3 * Math.abs(Math.sin(s * 12.9898));
    blockSums[Math.floor(s / 1000)]! += Math.log10(loss);
    out.push(
      `{"step":${s},"loss":${loss},"lr":0.1,"ud":{"embedding.weight":${-3 + 0.1 * Math.sin(s)},"layers.0.weight":${-2.5 + 0.1 * Math.cos(s)}}}`,
    );
  }
  writeFileSync(join(dir, "metrics.jsonl"), `${out.join("\n")}\n`);
  const d = await startDashboard({ runDirs: [dir], port: 0, pollMs: 50 });
  try {
    await until(
      "200,000 steps read",
      async () => (await json(`${d.url}api/run/0/summary`)).step === N,
      30_000,
    );
    const res = await fetch(`${d.url}api/run/0/charts`);
    const text = await res.text();
    assert.ok(text.length < 600_000, `charts payload ${text.length} bytes`);
    const { charts } = JSON.parse(text);
    const loss = charts.loss.spec.layer;
    assert.ok(loss[0].data.values.length <= 2000, `${loss[0].data.values.length} per-step points`);
    const means = loss[1].data.values;
    assert.equal(means.length, 200);
    assert.equal(means[0].series, "mean of 1,000 steps");
    for (let b = 0; b < 200; b++) {
      assert.ok(Math.abs(means[b].value - blockSums[b]! / 1000) < 1e-6, `block ${b}`);
      assert.ok(Math.abs(means[b].step - (b * 1000 + 499.5)) < 1e-3, `block ${b} step`);
    }
    const ud = charts["update-ratios"].spec;
    assert.ok(ud.layer[0].data.values.length <= 2 * 2000);
    assert.match(ud.title.subtitle, /bucket means/);

    const metrics = await (await fetch(`${d.url}api/run/0/metrics`)).text();
    assert.ok(metrics.length < 400_000, `metrics payload ${metrics.length} bytes`);
    const m = JSON.parse(metrics);
    assert.ok(m.loss.length <= 2000);
    assert.equal(m.lossMeans.length, 200);
    assert.equal(m.window, 1000);
    for (const pts of Object.values(m.updateRatios) as unknown[][]) assert.ok(pts.length <= 2000);

    // and it keeps following: 1,000 more steps
    appendFileSync(
      join(dir, "metrics.jsonl"),
      Array.from({ length: 1000 }, (_, i) => `{"step":${N + i},"loss":2.5,"lr":0.1}\n`).join(""),
    );
    await until("201,000 steps", async () => (await json(`${d.url}api/run/0/summary`)).step === N + 1000);
    const after = await (await fetch(`${d.url}api/run/0/charts?names=loss`)).json();
    assert.equal(after.charts.loss.spec.layer[1].data.values.length, 201);
    assert.ok(after.charts.loss.spec.layer[0].data.values.length <= 2000);
  } finally {
    await d.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("server: fixed routes, JSON endpoints, 404 for path tricks, loopback Host only", async () => {
  await finishedRuns();
  const d = await startDashboard({ runDirs: [runA], port: 0 });
  try {
    assert.match(d.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    await until("the first read", async () => (await json(`${d.url}api/run/0/summary`)).step === 1200);
    const ok: [string, RegExp][] = [
      ["/", /text\/html/],
      ["/run/0", /text\/html/],
      ["/static/dashboard.js", /javascript/],
      ["/static/dashboard.css", /text\/css/],
      ["/lib/vega.min.js", /javascript/],
      ["/lib/vega-lite.min.js", /javascript/],
      ["/lib/vega-embed.min.js", /javascript/],
      ["/api/info", /json/],
      ["/api/run/0/summary", /json/],
      ["/api/run/0/charts", /json/],
      ["/api/run/0/metrics", /json/],
      ["/api/run/0/snapshot", /json/],
      ["/api/run/0/findings", /json/],
      ["/api/run/0/samples", /json/],
      ["/api/run/0/state", /json/],
      ["/api/compare/charts", /json/],
    ];
    for (const [path, type] of ok) {
      const r = await raw(d.url, path);
      assert.equal(r.status, 200, path);
      assert.match(r.type, type, path);
    }
    const page = await raw(d.url, "/");
    assert.match(page.body, /<script src="\/lib\/vega-embed\.min\.js">/);
    assert.doesNotMatch(page.body, /https?:\/\/(?!127)/, "no external URL in the page");

    const summary = await json(`${d.url}api/run/0/summary`);
    assert.equal(summary.status, "finished");
    assert.equal(summary.maxSteps, 1200);
    const state = JSON.parse(readFileSync(join(runA, "state.json"), "utf8"));
    assert.deepEqual(summary.splitLosses, state.splitLosses);
    assert.equal((summary.samples as unknown[]).length, 12);
    const charts = (summary.charts as { name: string }[]).map((c) => c.name);
    // runA has four snapshots (steps 0, 400, 800, 1199): the histograms over time are there too
    assert.deepEqual(charts, [
      ...RUN_CHARTS.slice(0, 5).map((c) => c.slice(6)),
      "activations-history",
      "gradients-history",
      "saturation-layer-2",
    ]);
    const stateView = await json(`${d.url}api/run/0/state`);
    assert.equal(stateView.generator, undefined, "the generator state is not served");

    const tricks = [
      "/../package.json",
      "/%2e%2e/package.json",
      "/%2e%2e%2fpackage.json",
      "/static/../../package.json",
      "/static/..%2f..%2fpackage.json",
      "/static/%2e%2e/server.ts",
      "/lib/../../../package.json",
      "/lib/vega.min.js/../../package.json",
      "//etc/passwd",
      "/etc/passwd",
      `/${ROOT}package.json`,
      `${ROOT}package.json`,
      "/static/server.ts",
      "/static/",
      "/static/index.html",
      "/lib/",
      "/node_modules/vega/package.json",
      "/..\\package.json",
      "/api/run/1/summary",
      "/api/run/0/../../package.json",
      "/api/run/0/config",
      "/run/1",
      "http://127.0.0.1/../package.json",
    ];
    for (const path of tricks) {
      const r = await raw(d.url, path);
      assert.equal(r.status, 404, path);
      assert.doesNotMatch(r.body, /makemore-ts|"dependencies"/, path);
    }
    assert.equal((await raw(d.url, "/", { method: "POST" })).status, 405);
    assert.equal((await raw(d.url, "/api/info", { method: "DELETE" })).status, 405);
    const head = await raw(d.url, "/api/info", { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.body, "");
    // DNS rebinding: a loopback server answers loopback names only
    assert.equal((await raw(d.url, "/api/info", { headers: { Host: "evil.example:80" } })).status, 403);
    assert.equal((await raw(d.url, "/api/info", { headers: { Host: "localhost" } })).status, 200);
  } finally {
    await d.close();
  }
});

test("worker: the server answers while the main thread is blocked, and closes", async () => {
  await finishedRuns();
  const d = await startDashboardWorker({ runDirs: [runA], port: 0 });
  try {
    assert.match(d.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    // execFileSync blocks this thread until the child got its answer from the worker
    const body = execFileSync(
      process.execPath,
      [
        "-e",
        `fetch(${JSON.stringify(`${d.url}api/info`)}).then((r) => r.text()).then((t) => process.stdout.write(t))`,
      ],
      { encoding: "utf8", timeout: 120_000 },
    );
    assert.deepEqual(JSON.parse(body), { runs: [{ index: 0, name: basename(runA) }] });
  } finally {
    await d.close();
  }
  await assert.rejects(fetch(`${d.url}api/info`));
});

test("cli: makemore dashboard checks its arguments and warns about a non-loopback host", async () => {
  await finishedRuns();
  const help = await makemore(["dashboard", "--help"]).done;
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--port N/);
  const none = await makemore(["dashboard"]).done;
  assert.equal(none.code, 2);
  assert.match(none.stderr, /needs at least one run directory/);
  const missing = await makemore(["dashboard", join(tmp, "nope")]).done;
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /does not exist/);
  const badPort = await makemore(["dashboard", runA, "--port", "70000"]).done;
  assert.equal(badPort.code, 2);

  const p = makemore(["dashboard", runA, "--host", "0.0.0.0", "--port", "0"]);
  const url = await waitForOutput(p, /http:\/\/0\.0\.0\.0:\d+\//);
  await waitForOutput(p, /warning: the dashboard listens on 0\.0\.0\.0/);
  const port = new URL(url).port;
  const r = await raw(`http://127.0.0.1:${port}/`, "/api/info");
  assert.equal(r.status, 200);
  const end = await stop(p);
  assert.equal(end.code, 0, end.stderr);
  assert.equal(end.stderr.trim().split("\n").length, 1, "one warning line and nothing else");
});

// ---------------------------------------------------------------- (b) the page, live

test("browser: makemore train --dashboard, live", async (t) => {
  // the page is ready before the trainer starts: it only has to load once the URL is printed
  const { page, problems } = await newPage();
  const dir = join(tmp, "live");
  const p = makemore([
    "train",
    "--type",
    "batchnorm",
    "--max-steps",
    "3000",
    "--dashboard",
    "--port",
    "0",
    "-o",
    dir,
    "--diagnostics",
  ]);
  try {
    const url = await waitForOutput(p, /http:\/\/127\.0\.0\.1:\d+\/?/);
    await page.goto(url);
    await until(
      "the end of the run",
      () => page.evaluate(() => document.body.dataset.step === "3000"),
      60_000,
    );
    // the curve moved: the header showed a step before the last one, then larger ones
    const steps = await page.evaluate(() => (window as unknown as { __steps: number[] }).__steps);
    assert.ok(
      steps.length >= 2 && steps[0]! < 3000,
      `the page did not see the run move: steps shown ${steps}`,
    );
    for (let i = 1; i < steps.length; i++) assert.ok(steps[i]! >= steps[i - 1]!, `steps shown ${steps}`);
    await allChartsDrawn(page, RUN_CHARTS);
    await until("the final split losses", () => page.isVisible("#split-fact"), 120_000);
    await until("samples", () => page.$$eval("#samples li", (l) => l.length > 0));
    assert.match(await text(page, "#status"), /training|finished/);
    await page.screenshot({ path: join(tmp, "live.png"), fullPage: true });
    t.diagnostic(`screenshot: ${join(tmp, "live.png")}`);
    assert.deepEqual(problems, []);
  } finally {
    await page.close();
    await stop(p);
  }
});

// ---------------------------------------------------------------- (b') the page, replayed

test("browser: a run whose files grow is followed in place (replay of a real run)", async (t) => {
  await finishedRuns();
  await browser();
  const dir = join(tmp, "replay");
  mkdirSync(dir);
  copyFileSync(join(runA, "config.json"), join(dir, "config.json"));
  const metrics = lines(join(runA, "metrics.jsonl"));
  const snaps = lines(join(runA, "diagnostics.jsonl"));
  assert.equal(metrics.length, 1200);
  const snapStep = (l: string) => JSON.parse(l).step as number;
  const words = lines(join(runA, "samples.txt"));
  const live = (step: number, findings: unknown[] = []) =>
    writeFileSync(
      join(dir, "live.json"),
      JSON.stringify({
        step,
        samples: words.map((word, i) => ({ word, source: i % 4 === 0 ? "train" : "new" })),
        findings,
        stepsPerSecond: 987,
        maxSteps: 1200,
        updatedAt: new Date().toISOString(),
      }),
    );
  writeFileSync(join(dir, "metrics.jsonl"), `${metrics.slice(0, 600).join("\n")}\n`);
  writeFileSync(join(dir, "diagnostics.jsonl"), `${snaps.filter((l) => snapStep(l) < 600).join("\n")}\n`);
  live(600);

  const d = await startDashboard({ runDirs: [dir], port: 0, pollMs: 100 });
  const { page, problems } = await openPage(d.url);
  try {
    await until("step 600", () => page.evaluate(() => document.body.dataset.step === "600"));
    await allChartsDrawn(page, RUN_CHARTS);
    assert.equal(await text(page, "#rate"), "987");
    assert.match(await text(page, "#max-steps"), /1,200/);
    assert.match(await text(page, "#status"), /training/);
    assert.match(await text(page, "#chart-activations"), /step 400/);
    assert.equal(await page.$$eval("#samples li", (l) => l.length), 12);
    assert.equal(await page.$$eval("#samples .tag.new", (l) => l.length), 9);
    const rowsBefore = Number(await page.getAttribute("#chart-loss", "data-rows"));
    // mark the loss chart's SVG: an in-place update keeps this very element
    await page.$eval("#chart-loss svg", (s) => s.setAttribute("data-marker", "kept"));

    // the trainer goes on: the rest of the metrics (written with a torn line in between), the
    // later snapshots, and live.json with a finding
    const rest = `${metrics.slice(600).join("\n")}\n`;
    appendFileSync(join(dir, "metrics.jsonl"), rest.slice(0, 1001));
    await sleep(250);
    appendFileSync(join(dir, "metrics.jsonl"), rest.slice(1001));
    appendFileSync(join(dir, "diagnostics.jsonl"), `${snaps.filter((l) => snapStep(l) >= 600).join("\n")}\n`);
    const finding = {
      id: "tanh-saturated",
      severity: "warning",
      title: "layer 2 (Tanh): 12.34% of units saturated (|t| > 0.97)",
      measured: { saturated: 12.34 },
      why: "a saturated tanh passes almost no gradient",
      fix: "scale the weights before the tanh down (gain 5/3 / sqrt(fan_in)) or add BatchNorm",
      where: "layer 2",
    };
    live(1200, [finding]);
    await until("step 1,200", () => page.evaluate(() => document.body.dataset.step === "1200"), 120_000);
    await until("the last snapshot", async () => /step 1,199/.test(await text(page, "#chart-activations")));
    await until(
      "the loss data to grow",
      async () => Number(await page.getAttribute("#chart-loss", "data-rows")) > rowsBefore,
    );
    assert.equal(
      await page.$$eval("#chart-loss svg[data-marker=kept]", (l) => l.length),
      1,
      "updated in place",
    );
    await until("the finding", async () => /12\.34% of units saturated/.test(await text(page, "#findings")));
    const findings = await text(page, "#findings");
    assert.match(findings, /a saturated tanh passes almost no gradient/);
    assert.match(findings, /gain 5\/3/);
    assert.match(await text(page, "#findings-count"), /\(1\)/);

    // the end: state.json says finished, with the split losses
    copyFileSync(join(runA, "state.json"), join(dir, "state.json"));
    await until("finished", async () => (await text(page, "#status")) === "finished");
    const split = JSON.parse(readFileSync(join(runA, "state.json"), "utf8")).splitLosses;
    await until("the split losses", () => page.isVisible("#split-fact"));
    assert.match(await text(page, "#split"), new RegExp(split.val.toFixed(4)));
    await allChartsDrawn(page, RUN_CHARTS);
    await page.screenshot({ path: join(tmp, "replay.png"), fullPage: true });
    t.diagnostic(`screenshot: ${join(tmp, "replay.png")}`);
    assert.deepEqual(problems, []);
  } finally {
    await page.close();
    await d.close();
  }
});

// ---------------------------------------------------------------- (c) comparison

test("browser: makemore dashboard A B compares two finished runs", async (t) => {
  await finishedRuns();
  await browser();
  const p = makemore(["dashboard", runA, runB, "--port", "0"]);
  try {
    const url = await waitForOutput(p, /http:\/\/127\.0\.0\.1:\d+\//);
    const { page, problems } = await openPage(url);
    try {
      await allChartsDrawn(page, [
        "chart-compare-loss",
        "chart-compare-activations",
        "chart-compare-gradients",
      ]);
      // one line per run, labelled with the run directories' names
      assert.equal(await page.$$eval("#chart-compare-loss g.mark-line path", (l) => l.length), 2);
      const legend = await text(page, "#chart-compare-loss");
      assert.match(legend, /bn-a/);
      assert.match(legend, /bn-b/);
      const rows = await until("the table", async () => {
        const r = await page.$$eval("#runs-table tr", (trs) =>
          trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent)),
        );
        return r.length === 2 && r.every((row) => row[2] === "finished") ? r : null;
      });
      for (const [i, dir] of [runA, runB].entries()) {
        const split = JSON.parse(readFileSync(join(dir, "state.json"), "utf8")).splitLosses;
        assert.deepEqual(rows[i]!.slice(0, 1), [basename(dir)]);
        assert.deepEqual(
          rows[i]!.slice(4, 7),
          [split.train, split.val, split.test].map((v) => v.toFixed(4)),
        );
      }
      await page.screenshot({ path: join(tmp, "compare.png"), fullPage: true });
      t.diagnostic(`screenshot: ${join(tmp, "compare.png")}`);
      // a run's own page from the table
      await page.click("#runs-table a >> nth=1");
      await page.waitForURL(/\/run\/1$/);
      await allChartsDrawn(page, ["chart-loss", "chart-update-ratios", "chart-activations"]);
      assert.equal(await page.isVisible("#back"), true);
      assert.deepEqual(problems, []);
    } finally {
      await page.close();
    }
  } finally {
    const end = await stop(p);
    assert.equal(end.code, 0, `makemore dashboard exits 0 on SIGTERM:\n${end.stderr}`);
  }
});

test("browser: TensorBoard's habits: a folder of runs, smoothing, log scale, runs on/off, zoom, histograms over time", async (t) => {
  await finishedRuns();
  await browser();
  // a folder holding the two runs and one trained without --diagnostics
  const folder = join(tmp, "tb");
  cpSync(runA, join(folder, "a"), { recursive: true });
  cpSync(runB, join(folder, "b"), { recursive: true });
  const plain = await makemore([
    "train",
    "--max-steps",
    "300",
    "--quiet",
    "--num-samples",
    "0",
    "-o",
    join(folder, "c"),
  ]).done;
  assert.equal(plain.code, 0, plain.stderr);
  const p = makemore(["dashboard", folder, "--port", "0"]);
  try {
    const url = await waitForOutput(p, /dashboard for 3 runs: (http:\/\/127\.0\.0\.1:\d+\/)/);
    const { page, problems } = await openPage(url.match(/http:\/\/127\.0\.0\.1:\d+\//)![0]);
    try {
      await allChartsDrawn(page, [
        "chart-compare-loss",
        "chart-compare-activations",
        "chart-compare-gradients",
      ]);
      // the run without diagnostics is named, and every panel has its own legend
      assert.match(await text(page, "#chart-compare-activations"), /no diagnostics: c/);
      assert.equal(await page.$$eval("#chart-compare-activations .role-legend", (l) => l.length), 2);
      // charts fill their cards
      const fill = await page.$eval("#chart-compare-loss", (h) => {
        const card = h.closest(".card")!.getBoundingClientRect().width;
        return h.querySelector("svg")!.getBoundingClientRect().width / card;
      });
      assert.ok(fill > 0.9, `the loss chart fills ${Math.round(fill * 100)}% of its card`);
      const paths = () =>
        page.$$eval("#chart-compare-loss g.mark-line path", (ps) =>
          ps.map((x) => ({ d: x.getAttribute("d"), opacity: Number(x.getAttribute("opacity") ?? 1) })),
        );
      const before = await paths();
      assert.equal(before.length, 3);
      // smoothing changes the curves; the linear axis is titled "loss"
      await page.$eval("#compare-controls input[type=range]", (r: HTMLInputElement) => {
        r.value = "0.9";
        r.dispatchEvent(new Event("input"));
      });
      await until("smoothed curves", async () => (await paths()).some((x, i) => x.d !== before[i]!.d));
      assert.equal(await text(page, "#compare-controls output"), "0.9");
      await page.uncheck("#compare-controls input[type=checkbox]");
      const axisTitles = () =>
        page.$$eval("#chart-compare-loss .role-axis-title", (ts) => ts.map((x) => x.textContent).join(" | "));
      await until("a linear loss axis", async () => (await axisTitles()) === "step | loss");
      // a click on a run in the legend shows it alone
      await page.click("#chart-compare-loss .role-legend .role-legend-symbol path >> nth=0", { force: true });
      await until("one run shown", async () => (await paths()).filter((x) => x.opacity < 0.5).length === 2);
      await page.screenshot({ path: join(tmp, "tensorboard-compare.png"), fullPage: true });
      t.diagnostic(`screenshot: ${join(tmp, "tensorboard-compare.png")}`);
      // a run's page: the histograms over time, one row per snapshot
      await page.goto(`${url.match(/http:\/\/127\.0\.0\.1:\d+/)![0]}/run/0`);
      await allChartsDrawn(page, ["chart-loss", "chart-activations-history", "chart-gradients-history"]);
      assert.match(await text(page, "#chart-activations-history"), /activation distribution over time/);
      const steps = JSON.parse(readFileSync(join(runA, "diagnostics.jsonl"), "utf8").split("\n")[0]!).step;
      assert.equal(steps, 0);
      await page.screenshot({ path: join(tmp, "tensorboard-run.png"), fullPage: true });
      t.diagnostic(`screenshot: ${join(tmp, "tensorboard-run.png")}`);
      assert.deepEqual(problems, []);
    } finally {
      await page.close();
    }
  } finally {
    const end = await stop(p);
    assert.equal(end.code, 0, end.stderr);
  }
});

test("dashboard FOLDER: a run created below the folder after the start joins (info, its API, an event)", async () => {
  const folder = join(tmp, "rescan");
  const first = join(folder, "first");
  mkdirSync(first, { recursive: true });
  writeFileSync(join(first, "metrics.jsonl"), '{"step":0,"loss":3.3,"lr":0.1}\n');
  const d = await startDashboard({ runDirs: [first], folders: [folder], port: 0, pollMs: 50, rescanMs: 100 });
  const es = events(d.url);
  const { page, problems } = await openPage(d.url);
  try {
    await es.next((e) => e.event === "retry", "the retry hint");
    assert.deepEqual((await json(`${d.url}api/info`)).runs, [{ index: 0, name: "first" }]);
    // one run: the run page
    await until("the run view", () => page.evaluate(() => !document.getElementById("run-view")!.hidden));
    assert.equal(await page.evaluate(() => document.getElementById("compare-view")!.hidden), true);
    const from = es.got.length;
    // a new run directory appears (an unrelated folder does not count)
    mkdirSync(join(folder, "notes"));
    const later = join(folder, "later", "seed-2");
    mkdirSync(later, { recursive: true });
    writeFileSync(
      join(later, "metrics.jsonl"),
      '{"step":0,"loss":3.1,"lr":0.1}\n{"step":1,"loss":2.9,"lr":0.1}\n',
    );
    const e = await es.next((e) => e.event === "runs", "the runs event", from);
    assert.deepEqual(JSON.parse(e.data).added, ["seed-2"]);
    assert.deepEqual((await json(`${d.url}api/info`)).runs, [
      { index: 0, name: "first" },
      { index: 1, name: "seed-2" },
    ]);
    const s = await until("the new run's summary", async () => {
      const r = await json<{ step: number; lastLoss?: number }>(`${d.url}api/run/1/summary`);
      return r.step === 2 ? r : null;
    });
    assert.equal(s.lastLoss, 2.9);
    // the page drew itself again: now a comparison of the two runs
    // the page reloads itself on the event: while the new document loads, the element may not exist yet
    await until("the comparison view", () =>
      page.evaluate(() => document.getElementById("compare-view")?.hidden === false).catch(() => false),
    );
    await until("both runs in the comparison", async () => {
      const t = await text(page, "#compare-view").catch(() => "");
      return /seed-2/.test(t) && /first/.test(t);
    });
    await page.screenshot({ path: join(tmp, "rescan-compare.png") });
    console.log(`# screenshot: ${join(tmp, "rescan-compare.png")}`);
    assert.deepEqual(problems, []);
  } finally {
    es.close();
    await page.close();
    await d.close();
  }
});
