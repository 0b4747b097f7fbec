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

async function nodeRate(): Promise<number> {
  const request = runRequest({ type: "batchnorm", "max-steps": String(steps) }, diagnostics);
  const data = loadData(BUNDLED_NAMES, 3);
  const config = configForWords(request, data.words);
  const session = new TrainingSession({
    config,
    data,
    store: new MemoryRunStore(),
    yieldToHost: () => new Promise((r) => setImmediate(r)),
  });
  const outcome = await session.run();
  if (outcome.kind !== "finished") throw new Error(`node run ${outcome.kind}`);
  return outcome.stepsPerSecond;
}

const dir = mkdtempSync(join(tmpdir(), "makemore-bench-web-"));
await buildWeb(dir);
const site = await startPlayground({ dir, port: 0 });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
});

async function browserRate(): Promise<number> {
  const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
  await page.goto(
    `${site.url}?type=batchnorm&steps=${steps}${diagnostics ? "" : "&diagnostics=0"}&autostart=1`,
  );
  await page.waitForFunction(() => ["finished", "failed"].includes(document.body.dataset.state ?? ""), null, {
    timeout: 600_000,
  });
  await page.waitForFunction(() => Number(document.body.dataset.rate) > 0);
  const rate = await page.evaluate(() => Number(document.body.dataset.rate));
  await page.close();
  return rate;
}

const node: number[] = [];
const web: number[] = [];
try {
  for (let r = 0; r < reps; r++) {
    node.push(await nodeRate());
    web.push(await browserRate());
    console.log(
      `rep ${r + 1}: node ${node.at(-1)!.toFixed(0)} steps/s | chromium ${web.at(-1)!.toFixed(0)} steps/s`,
    );
  }
} finally {
  await browser.close();
  await site.close();
  rmSync(dir, { recursive: true, force: true });
}
const n = median(node);
const w = median(web);
console.log(
  `batchnorm, ${steps} steps${diagnostics ? ", diagnostics" : ""}, median of ${reps}: node ${n.toFixed(0)} steps/s | chromium ${w.toFixed(0)} steps/s | chromium/node ${(w / n).toFixed(2)}`,
);
