/**
 * Training speed in the browser playground against Node: the lecture's BatchNorm MLP, the same
 * session (src/train/session.ts) and the same settings, N steps each, interleaved, medians.
 *
 *   node --import tsx scripts/bench-playground.ts [--steps 20000] [--reps 3] [--diagnostics] [--json]
 *
 * `npm run bench` runs it too (src/bench/bench.ts, suite "playground": one row "playground (Chromium) vs Node").
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
 * training worker's thread time from /proc (Linux; not a Chrome trace, whose timeline recording
 * slowed the traced worker by a third here). And the page's own record of main-thread long tasks
 * while it trained (the Long Tasks API, wall-clock: src/web/app.ts).
 */

import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { type Browser, chromium } from "playwright-core";
import { startPlayground } from "../src/cli/playground.ts";
import { BUNDLED_NAMES, loadData } from "../src/io/run.ts";
import { configForWords, MemoryRunStore, TrainingSession } from "../src/train/session.ts";
import { runRequest } from "../src/web/settings.ts";
import { buildWeb } from "./build-web.ts";

export interface PlaygroundBenchOptions {
  /** training steps per run (default 20,000) */
  steps?: number;
  /** interleaved repetitions, medians reported (default 3) */
  reps?: number;
  /** record the update:data ratios and snapshots, as the page's live charts do */
  diagnostics?: boolean;
  /** progress lines */
  log?: (line: string) => void;
}

/** One side's figures: steps/s on the wall clock and per CPU-second of the training thread. */
interface Rate {
  wall: number;
  cpu: number;
}

/** The page's record of main-thread tasks over 50 ms while it trained (wall-clock). */
export interface LongTasks {
  count: number;
  over100: number;
  longestMs: number;
}

export interface PlaygroundBench {
  steps: number;
  reps: number;
  diagnostics: boolean;
  /** medians, steps/s */
  node: Rate;
  chromium: Rate;
  /** chromium / node on the wall clock (the target: >= 0.7) and per CPU-second */
  ratio: { wall: number; cpu: number };
  /** the worst repetition's long-task record */
  longTasks: LongTasks;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function nodeRate(steps: number, diagnostics: boolean): Promise<Rate> {
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

/**
 * CPU seconds of every thread of Chromium's renderer processes, by "pid/tid name", from /proc
 * (Linux). The training worker is the busiest "DedicatedWorker" thread. Read from the kernel, not
 * from a Chrome trace: tracing the timeline costs the traced threads a large share of their time.
 */
function rendererThreads(): Map<string, number> {
  const out = new Map<string, number>();
  // only the browser this process launched (other jobs on the machine may run Chromium too)
  const parent = new Map<string, string>();
  const pids = readdirSync("/proc").filter((d) => /^\d+$/.test(d));
  for (const pid of pids) {
    try {
      parent.set(pid, readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")[1]!);
    } catch {
      // ended
    }
  }
  const ours = (pid: string) => {
    for (let p: string | undefined = pid, n = 0; p && p !== "0" && n < 10; p = parent.get(p), n++)
      if (p === String(process.pid)) return true;
    return false;
  };
  for (const pid of pids) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      if (!cmd.includes("--type=renderer") || !ours(pid)) continue;
      for (const tid of readdirSync(`/proc/${pid}/task`)) {
        const comm = readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim();
        // fields after "(comm) ": state is 0, utime 11, stime 12 (clock ticks, 100 per second)
        const f = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8").split(") ")[1]!.split(" ");
        out.set(`${pid}/${tid} ${comm}`, (Number(f[11]) + Number(f[12])) / 100);
      }
    } catch {
      // a process or thread that ended while being read
    }
  }
  return out;
}

/** CPU seconds the busiest DedicatedWorker thread spent between two readings (the training worker). */
function workerCpuSeconds(before: Map<string, number>, after: Map<string, number>): number {
  let most = 0;
  for (const [k, v] of after) if (/DedicatedWorker/.test(k)) most = Math.max(most, v - (before.get(k) ?? 0));
  return most;
}

async function browserRate(
  browser: Browser,
  url: string,
  steps: number,
  diagnostics: boolean,
): Promise<Rate & { longTasks: LongTasks }> {
  const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
  const before = rendererThreads();
  await page.goto(`${url}?type=batchnorm&steps=${steps}${diagnostics ? "" : "&diagnostics=0"}&autostart=1`);
  await page.waitForFunction(() => ["finished", "failed"].includes(document.body.dataset.state ?? ""), null, {
    timeout: 600_000,
  });
  await page.waitForFunction(() => Number(document.body.dataset.rate) > 0);
  const { rate, longTasks } = await page.evaluate(() => {
    const b = document.body.dataset;
    return {
      rate: Number(b.rate),
      longTasks: {
        count: Number(b.longTasks ?? 0),
        over100: Number(b.longTasksOver100 ?? 0),
        longestMs: Number(b.longestTask ?? 0),
      },
    };
  });
  const after = rendererThreads();
  await page.close();
  // the training thread's time over the whole page (start-up, training, the final evaluation):
  // an upper bound on the training's own CPU time, so a lower bound on steps per CPU-second
  const cpu = workerCpuSeconds(before, after);
  return { wall: rate, cpu: cpu > 0 ? steps / cpu : Number.NaN, longTasks };
}

/** Node and Chromium, interleaved, `reps` times each; medians. Throws when Chromium is missing. */
export async function benchPlayground(opts: PlaygroundBenchOptions = {}): Promise<PlaygroundBench> {
  const steps = opts.steps ?? 20000;
  const reps = opts.reps ?? 3;
  const diagnostics = opts.diagnostics === true;
  const executablePath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
  if (!existsSync(executablePath))
    throw new Error(`no Chromium at ${executablePath} (apt-get install chromium, or set CHROMIUM_PATH)`);
  const dir = mkdtempSync(join(tmpdir(), "makemore-bench-web-"));
  await buildWeb(dir);
  const site = await startPlayground({ dir, port: 0 });
  const browser = await chromium.launch({
    executablePath,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
    ],
  });
  const node: Rate[] = [];
  const web: (Rate & { longTasks: LongTasks })[] = [];
  try {
    for (let r = 0; r < reps; r++) {
      // alternate who goes first, so a change in the machine's load hits both sides alike
      if (r % 2 === 0) {
        node.push(await nodeRate(steps, diagnostics));
        web.push(await browserRate(browser, site.url, steps, diagnostics));
      } else {
        web.push(await browserRate(browser, site.url, steps, diagnostics));
        node.push(await nodeRate(steps, diagnostics));
      }
      const [a, b] = [node.at(-1)!, web.at(-1)!];
      opts.log?.(
        `playground rep ${r + 1}: node ${a.wall.toFixed(0)} steps/s (${a.cpu.toFixed(0)} per CPU-s) | chromium ${b.wall.toFixed(0)} steps/s (${b.cpu.toFixed(0)} per CPU-s), longest main-thread task ${b.longTasks.longestMs} ms`,
      );
    }
  } finally {
    await browser.close();
    await site.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const n = { wall: median(node.map((x) => x.wall)), cpu: median(node.map((x) => x.cpu)) };
  const w = { wall: median(web.map((x) => x.wall)), cpu: median(web.map((x) => x.cpu)) };
  const worst = web.reduce((a, b) => (b.longTasks.longestMs > a.longTasks.longestMs ? b : a)).longTasks;
  return {
    steps,
    reps,
    diagnostics,
    node: n,
    chromium: w,
    ratio: { wall: w.wall / n.wall, cpu: w.cpu / n.cpu },
    longTasks: worst,
  };
}

/** The bench's row: "playground (Chromium) vs Node, steps/s, ratio" with the CPU-time ratio and long tasks. */
export function formatPlaygroundBench(r: PlaygroundBench): string {
  const lt = r.longTasks;
  return [
    "| playground (Chromium) vs Node, batchnorm | Node steps/s | Chromium steps/s | ratio (target >= 0.70) | ratio per CPU-second | main-thread long tasks while training |",
    "|---|---:|---:|---:|---:|---|",
    `| ${r.steps.toLocaleString("en-US")} steps${r.diagnostics ? ", live diagnostics" : ""}, median of ${r.reps} | ${r.node.wall.toFixed(0)} | ${r.chromium.wall.toFixed(0)} | ${r.ratio.wall.toFixed(2)} | ${r.ratio.cpu.toFixed(2)} | ${lt.count} over 50 ms, ${lt.over100} over 100 ms, longest ${lt.longestMs} ms (wall-clock) |`,
  ].join("\n");
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      steps: { type: "string" },
      reps: { type: "string" },
      diagnostics: { type: "boolean" },
      json: { type: "boolean" },
    },
  });
  const r = await benchPlayground({
    steps: values.steps === undefined ? undefined : Number(values.steps),
    reps: values.reps === undefined ? undefined : Number(values.reps),
    diagnostics: values.diagnostics === true,
    log: (l) => console.error(l),
  });
  console.log(values.json ? JSON.stringify(r, null, 2) : formatPlaygroundBench(r));
}
