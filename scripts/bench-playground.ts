/**
 * Training speed in the browser playground against Node: the lecture's BatchNorm MLP, the same
 * session (src/train/session.ts) and the same settings, N steps each, interleaved, medians.
 *
 *   node --import tsx scripts/bench-playground.ts [--steps 20000] [--reps 3] [--diagnostics]
 *
 * Browser: the built site (scripts/build-web.ts) in headless Chromium (/usr/bin/chromium or
 * CHROMIUM_PATH), `?type=batchnorm&steps=N&autostart=1`, the run's own steps/s (the session's
 * figure, as the CLI prints it). Node: a TrainingSession on a MemoryRunStore, yielding with
 * setImmediate as `makemore train` does. With --diagnostics both record the update:data ratios every
 * step and the snapshots, as `train --diagnostics` and the page's live charts do.
 *
 * Both figures are wall-clock steps/s, which on a shared machine says as much about the other jobs
 * as about the code (and a browser runs more threads than node: its page and chart worker). So the
 * bench also reports steps per CPU-second of the training thread: node's process CPU time, and the
 * training worker's thread time from a Chrome trace.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { chromium } from "playwright-core";
import { startPlayground } from "../src/cli/playground.ts";
import { BUNDLED_NAMES, loadData } from "../src/io/run.ts";
import { configForWords, MemoryRunStore, TrainingSession } from "../src/train/session.ts";
import { runRequest } from "../src/web/settings.ts";
import { buildWeb } from "./build-web.ts";

const { values } = parseArgs({
  options: { steps: { type: "string" }, reps: { type: "string" }, diagnostics: { type: "boolean" } },
});
const steps = Number(values.steps ?? 20000);
const reps = Number(values.reps ?? 3);
const diagnostics = values.diagnostics === true;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function nodeRate(): Promise<{ wall: number; cpu: number }> {
  const request = runRequest({ type: "batchnorm", "max-steps": String(steps) }, diagnostics);
  const data = loadData(BUNDLED_NAMES, 3);
  const config = configForWords(request, data.words);
  const session = new TrainingSession({
    config,
    data,
    store: new MemoryRunStore(),
    yieldToHost: () => new Promise((r) => setImmediate(r)),
  });
  const cpu0 = process.cpuUsage();
  const outcome = await session.run();
  const cpu = process.cpuUsage(cpu0);
  if (outcome.kind !== "finished") throw new Error(`node run ${outcome.kind}`);
  // like the browser's figure, this CPU time includes the final evaluation and samples
  return { wall: outcome.stepsPerSecond, cpu: steps / ((cpu.user + cpu.system) / 1e6) };
}

const dir = mkdtempSync(join(tmpdir(), "makemore-bench-web-"));
await buildWeb(dir);
const site = await startPlayground({ dir, port: 0 });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
});

/** The busiest dedicated worker thread's CPU time in a Chrome trace, in seconds (the training worker). */
function workerCpuSeconds(trace: Buffer, from: number, to: number): number {
  type Ev = {
    name: string;
    ph: string;
    pid: number;
    tid: number;
    ts: number;
    tdur?: number;
    args?: { name?: string };
  };
  const events = (JSON.parse(trace.toString("utf8")) as { traceEvents: Ev[] }).traceEvents;
  const workers = new Set(
    events
      .filter((e) => e.name === "thread_name" && e.args?.name === "DedicatedWorker thread")
      .map((e) => `${e.pid}:${e.tid}`),
  );
  const sums = new Map<string, number>();
  for (const e of events) {
    const k = `${e.pid}:${e.tid}`;
    if (e.ph === "X" && e.name === "RunTask" && workers.has(k) && e.ts >= from && e.ts <= to)
      sums.set(k, (sums.get(k) ?? 0) + (e.tdur ?? 0));
  }
  return Math.max(0, ...sums.values()) / 1e6;
}

async function browserRate(): Promise<{ wall: number; cpu: number }> {
  const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
  await browser.startTracing(page, {
    categories: ["devtools.timeline", "disabled-by-default-devtools.timeline"],
  });
  await page.goto(
    `${site.url}?type=batchnorm&steps=${steps}${diagnostics ? "" : "&diagnostics=0"}&autostart=1`,
  );
  await page.waitForFunction(() => ["finished", "failed"].includes(document.body.dataset.state ?? ""), null, {
    timeout: 600_000,
  });
  await page.waitForFunction(() => Number(document.body.dataset.rate) > 0);
  const rate = await page.evaluate(() => Number(document.body.dataset.rate));
  const trace = await browser.stopTracing();
  await page.close();
  // the training thread's time over the whole page (start-up, training, the final evaluation):
  // an upper bound on the training's own CPU time, so a lower bound on steps per CPU-second
  return { wall: rate, cpu: steps / workerCpuSeconds(trace, 0, Number.POSITIVE_INFINITY) };
}

const node: { wall: number; cpu: number }[] = [];
const web: { wall: number; cpu: number }[] = [];
try {
  for (let r = 0; r < reps; r++) {
    node.push(await nodeRate());
    web.push(await browserRate());
    const [a, b] = [node.at(-1)!, web.at(-1)!];
    console.log(
      `rep ${r + 1}: node ${a.wall.toFixed(0)} steps/s (${a.cpu.toFixed(0)} per CPU-s) | chromium ${b.wall.toFixed(0)} steps/s (${b.cpu.toFixed(0)} per CPU-s)`,
    );
  }
} finally {
  await browser.close();
  await site.close();
  rmSync(dir, { recursive: true, force: true });
}
const n = median(node.map((x) => x.wall));
const w = median(web.map((x) => x.wall));
const nc = median(node.map((x) => x.cpu));
const wc = median(web.map((x) => x.cpu));
console.log(
  `batchnorm, ${steps} steps${diagnostics ? ", diagnostics" : ""}, median of ${reps}: wall node ${n.toFixed(0)} | chromium ${w.toFixed(0)} steps/s (chromium/node ${(w / n).toFixed(2)}); per CPU-second of the training thread node ${nc.toFixed(0)} | chromium >= ${wc.toFixed(0)} (${(wc / nc).toFixed(2)})`,
);
