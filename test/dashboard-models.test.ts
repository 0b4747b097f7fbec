/**
 * The dashboard and the report on the models beyond the lecture's MLPs, in a real browser (Debian's
 * chromium driven by playwright-core, as test/dashboard.test.ts does): short `--diagnostics` runs
 * of the WaveNet (its Tanh layers see (B, T, C) activations from the 3-D BatchNorm), the neural
 * bigram (one (V, V) table, no layers) and makemore.py's Transformer. Each page draws its charts
 * under the model's own layer and parameter names, with no console error, page error or failed
 * request; the screenshots are written next to the runs (see the test's diagnostics).
 *
 * Chromium missing is a failure, not a skip: CI installs it (apt-get install chromium).
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { Page } from "playwright-core";
import { browser, watchedPage } from "./support/chromium.ts";
import { until } from "./support/until.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const MAIN = join(ROOT, "src/cli/main.ts");
const tmp = mkdtempSync(join(tmpdir(), "makemore-dashboard-models-"));

interface Spawned {
  child: ChildProcess;
  output: () => string;
  done: Promise<{ code: number | null; out: string }>;
}

function makemore(args: string[]): Spawned {
  const child = spawn(process.execPath, ["--import", "tsx", MAIN, ...args], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (b) => (out += b));
  child.stderr!.on("data", (b) => (out += b));
  const done = new Promise<{ code: number | null; out: string }>((resolve) =>
    child.on("close", (code) => resolve({ code, out })),
  );
  return { child, output: () => out, done };
}

// ---------------------------------------------------------------- three short real runs

const RUNS = {
  wavenet: ["--type", "wavenet", "--max-steps", "40", "--diagnostics-every", "20"],
  bigram: ["--type", "bigram", "--max-steps", "30", "--diagnostics-every", "10"],
  // a small Transformer (the type's code path, not its default size)
  transformer: [
    "--type",
    "transformer",
    "--n-layer",
    "2",
    "--n-embd",
    "16",
    "--n-head",
    "2",
    "--max-steps",
    "20",
    "--diagnostics-every",
    "10",
  ],
} as const;
type RunName = keyof typeof RUNS;
const dir = (name: RunName) => join(tmp, name);

let made: Promise<void> | undefined;
/** The three runs with --diagnostics and their reports (made once, in parallel). */
function runsMade(): Promise<void> {
  made ??= (async () => {
    const names = Object.keys(RUNS) as RunName[];
    const trained = await Promise.all(
      names.map(
        (n) =>
          makemore(["train", ...RUNS[n], "--diagnostics", "--quiet", "--num-samples", "5", "-o", dir(n)])
            .done,
      ),
    );
    trained.forEach((r, i) => assert.equal(r.code, 0, `${names[i]}: ${r.out}`));
    const reports = await Promise.all(names.map((n) => makemore(["report", dir(n)]).done));
    reports.forEach((r, i) => assert.equal(r.code, 0, `report ${names[i]}: ${r.out}`));
  })();
  return made;
}
runsMade().catch(() => {}); // start now; the tests await (and report) it

// ---------------------------------------------------------------- the browser

browser().catch(() => {}); // launch now; each browser test awaits (and reports) it

/** A page that collects console errors, page errors, failed requests and HTTP errors. */
const newPage = () => watchedPage({ viewport: { width: 1640, height: 1000 } });

const text = async (page: Page, selector: string) => (await page.textContent(selector)) ?? "";

/**
 * What each model's pages must show. The WaveNet's Tanh layers are model.layers[4], [8], [12] (the
 * notebook's indices) on (B, T, C) = (32, 4, 128), (32, 2, 128), (32, 128) activations; saturation
 * maps fold (B, T) into rows. The bigram has no layers: its one (V, V) table W is the weight chart
 * and the update:data line. The Transformer has no Tanh: its weights by their makemore.py names.
 * `charts` are the dashboard's chart holders, `sections` the report's; `texts` hold in both (the
 * dashboard's `#chart-x` is the report's section `#x`).
 */
interface Expect {
  charts: string[];
  sections: string[];
  empty: string[];
  texts: Record<string, RegExp[]>;
}
const EXPECT: Record<RunName, Expect> = {
  wavenet: {
    charts: [
      "chart-loss",
      "chart-update-ratios",
      "chart-activations",
      "chart-gradients",
      "chart-weight-gradients",
      "chart-saturation-layer-4",
      "chart-saturation-layer-8",
      "chart-saturation-layer-12",
    ],
    sections: ["loss", "forward", "backward", "weights", "updates", "saturation"],
    empty: [],
    texts: {
      activations: [/layer 4 \(Tanh\)/, /layer 8 \(Tanh\)/, /layer 12 \(Tanh\)/],
      gradients: [/layer 4 \(Tanh\)/, /layer 12 \(Tanh\)/],
      // the embedding and the four Linear weights, named because two share the shape (256, 128)
      "weight-gradients": [
        /\(27, 24\) embedding\.weight/,
        /\(48, 128\) layers\.1\.weight/,
        /\(128, 27\) layers\.12\.weight/,
      ],
    },
  },
  bigram: {
    charts: ["chart-loss", "chart-update-ratios", "chart-weight-gradients"],
    sections: ["loss", "weights", "updates"],
    empty: ["forward", "backward", "saturation"],
    texts: { "weight-gradients": [/\(27, 27\) weight/], "update-ratios": [/\(27, 27\) weight/] },
  },
  transformer: {
    charts: [
      "chart-loss",
      "chart-update-ratios",
      "chart-activations",
      "chart-gradients",
      "chart-weight-gradients",
      "chart-activations-history",
      "chart-gradients-history",
    ],
    sections: ["loss", "forward", "backward", "weights", "updates"],
    empty: ["saturation"],
    // no Tanh: every layer is measured, by its makemore.py class
    texts: {
      activations: [/layer 1 \(LayerNorm\)/, /layer 2 \(CausalSelfAttention\)/, /layer 4 \(GELU\)/],
      "weight-gradients": [/transformer\.h\.0\.attn\.c_attn\.weight/, /lm_head\.weight/],
    },
  },
};
/** The dashboard's cards for a report section that has no chart. */
const DASH_CARDS: Record<string, string[]> = {
  forward: ["activations", "activations-history"],
  backward: ["gradients", "gradients-history"],
  saturation: ["saturation"],
};
/** The report's section for a dashboard chart's texts. */
const SECTION: Record<string, string> = {
  activations: "forward",
  gradients: "backward",
  "weight-gradients": "weights",
  "update-ratios": "updates",
};

/** Ids of the elements matching `selector` that hold a drawn chart (a non-empty SVG or a canvas). */
function drawn(page: Page, selector: string): Promise<string[]> {
  return page.$$eval(selector, (els) =>
    els
      .filter((e) => {
        const svg = e.querySelector("svg");
        return (svg && svg.querySelectorAll("path, rect, line").length > 3) || e.querySelector("canvas");
      })
      .map((e) => e.id),
  );
}

async function checkDashboard(page: Page, name: RunName): Promise<void> {
  const want = EXPECT[name];
  await until(`${name}: charts ${want.charts.join(", ")}`, async () => {
    const got = await drawn(page, ".chart");
    return want.charts.every((id) => got.includes(id));
  });
  for (const [id, res] of Object.entries(want.texts)) {
    const t = await text(page, `#chart-${id}`);
    for (const re of res) assert.match(t, re, `${name} #chart-${id}`);
  }
  // a model without Tanh layers: those cards say so (not "waiting for the first snapshot")
  const cards = want.empty.flatMap((id) => DASH_CARDS[id]);
  for (const card of cards) {
    const p = await page.$eval(`[data-chart="${card}"] .empty`, (e) => ({
      hidden: (e as HTMLElement).hidden,
      text: e.textContent,
    }));
    assert.ok(!p.hidden && /has no Tanh layer/.test(p.text ?? ""), `${name} ${card}: ${JSON.stringify(p)}`);
  }
}

async function checkReport(page: Page, name: RunName): Promise<void> {
  const want = EXPECT[name];
  const got = await drawn(page, "section");
  for (const id of want.sections) assert.ok(got.includes(id), `${name}: report section #${id} has no chart`);
  for (const id of want.empty) {
    assert.ok(!got.includes(id), `${name}: report section #${id}`);
    assert.match(await text(page, `#${id}`), /no data for this section|no tanh layer/, `${name} #${id}`);
  }
  for (const [id, res] of Object.entries(want.texts)) {
    const t = await text(page, `#${SECTION[id]}`);
    for (const re of res) assert.match(t, re, `${name} report #${SECTION[id]}`);
  }
}

test("report.html of a WaveNet, a bigram and a Transformer run: every chart drawn under its layer names", async (t) => {
  await runsMade();
  for (const name of Object.keys(RUNS) as RunName[]) {
    const { page, problems } = await newPage();
    try {
      await page.goto(pathToFileURL(join(dir(name), "report.html")).href);
      await checkReport(page, name);
      const shot = join(tmp, `report-${name}.png`);
      await page.screenshot({ path: shot, fullPage: true });
      t.diagnostic(`screenshot: ${shot}`);
      assert.deepEqual(problems, [], name);
    } finally {
      await page.close();
    }
  }
});

test("makemore dashboard on the three runs: each run's page draws its charts, no console errors", async (t) => {
  await runsMade();
  await browser();
  const names = Object.keys(RUNS) as RunName[];
  const p = makemore(["dashboard", ...names.map(dir), "--port", "0"]);
  try {
    const url = await until(
      "the dashboard's address",
      () => /http:\/\/127\.0\.0\.1:\d+\//.exec(p.output())?.[0],
    );
    for (const [i, name] of names.entries()) {
      const { page, problems } = await newPage();
      try {
        await page.goto(`${url}run/${i}`);
        await checkDashboard(page, name);
        const shot = join(tmp, `dashboard-${name}.png`);
        await page.screenshot({ path: shot, fullPage: true });
        t.diagnostic(`screenshot: ${shot}`);
        assert.deepEqual(problems, [], name);
      } finally {
        await page.close();
      }
    }
    // the run files the pages were drawn from: the WaveNet's snapshots hold its three Tanh layers,
    // the bigram's update:data history its table W at every step
    const snaps = readFileSync(join(dir("wavenet"), "diagnostics.jsonl"), "utf8")
      .trim()
      .split("\n");
    assert.deepEqual(
      JSON.parse(snaps[0]).activations.map((a: { layer: number }) => a.layer),
      [4, 8, 12],
    );
    const metrics = readFileSync(join(dir("bigram"), "metrics.jsonl"), "utf8")
      .trim()
      .split("\n");
    assert.equal(metrics.length, 30);
    for (const l of metrics) assert.ok(Number.isFinite(JSON.parse(l).ud.W), l);
  } finally {
    if (p.child.exitCode === null) p.child.kill("SIGTERM");
    await p.done;
  }
});

// ---------------------------------------------------------------- makemore.py's evaluate() curve

/** A run's logged evaluations, makemore.py's {"step","train_loss","test_loss"} lines. */
function loggedEvals(run: string): { step: number; train_loss: number; test_loss: number }[] {
  return readFileSync(join(run, "metrics.jsonl"), "utf8")
    .split("\n")
    .filter((l) => l.includes('"test_loss"'))
    .map((l) => JSON.parse(l));
}

/**
 * The evaluation points a drawn loss chart holds, from its SVG marks' aria labels (vega writes
 * "step: 20; log10(loss): 0.52…; series: test split" on each point, to 12 digits in the report's
 * SVG, fewer in the dashboard's: 1e-6 tells train from test, which differ by 1e-3 and more): series -> step -> loss.
 */
async function chartEvals(page: Page, selector: string): Promise<Map<string, Map<number, number>>> {
  const labels = await page.$$eval(`${selector} svg [aria-label]`, (els) =>
    els.map((e) => e.getAttribute("aria-label") ?? ""),
  );
  const out = new Map<string, Map<number, number>>();
  for (const l of labels) {
    const m = /^step: (\d+); log10\(loss\): (\S+); series: (\w+ split)$/.exec(l);
    if (!m) continue;
    if (!out.has(m[3])) out.set(m[3], new Map());
    out.get(m[3])!.set(Number(m[1]), 10 ** Number(m[2]));
  }
  return out;
}

test("a makemore.py type's loss chart draws its evaluate() losses on train and test (report and dashboard)", async (t) => {
  // makemore.py evaluates every 500 steps; --eval-every 20 gives the same lines in 60 steps
  const run = join(tmp, "bow-evals");
  const trained = await makemore([
    "train",
    "--type",
    "bow",
    "--max-steps",
    "60",
    "--eval-every",
    "20",
    "--quiet",
    "-o",
    run,
  ]).done;
  assert.equal(trained.code, 0, trained.out);
  const report = await makemore(["report", run]).done;
  assert.equal(report.code, 0, report.out);
  // what the run logged: {"step","train_loss","test_loss"} after steps 20 and 40
  const logged = loggedEvals(run);
  assert.deepEqual(
    logged.map((m) => m.step),
    [20, 40],
  );
  /**
   * The chart draws the logged evaluations, train and test, in a legend: all `want` of them, or
   * (a live run, still logging) at least `want`, each one logged (the log is read after the chart).
   */
  const check = async (
    page: Page,
    selector: string,
    where: string,
    run: string,
    want: number,
    live: boolean,
  ) => {
    const drawn = await chartEvals(page, selector);
    const evals = loggedEvals(run);
    assert.deepEqual([...drawn.keys()].sort(), ["test split", "train split"], where);
    for (const [series, field] of [
      ["train split", "train_loss"],
      ["test split", "test_loss"],
    ] as const) {
      const pts = drawn.get(series)!;
      assert.ok(live ? pts.size >= want : pts.size === want, `${where} ${series}: ${pts.size} points`);
      const shown = evals.slice(0, pts.size);
      assert.deepEqual(
        [...pts.keys()],
        shown.map((m) => m.step),
        `${where} ${series}`,
      );
      for (const m of shown) {
        const got = pts.get(m.step)!;
        assert.ok(
          Math.abs(got - m[field]) < 1e-6 * m[field],
          `${where} ${series} step ${m.step}: ${got} vs ${m[field]}`,
        );
      }
    }
    // the legend names both curves beside the minibatch loss
    const legend = await page.$eval(`${selector} svg [aria-label^="Symbol legend"]`, (e) =>
      e.getAttribute("aria-label"),
    );
    assert.match(legend ?? "", /loss per step, .*, train split, test split$/, where);
  };

  const { page, problems } = await newPage();
  try {
    await page.goto(pathToFileURL(join(run, "report.html")).href);
    await check(page, "#loss", "report", run, 2, false);
    // and its optimiser as the run's start-up line says it (makemore.py's AdamW, not the lecture's decay)
    assert.match(
      await text(page, "#summary"),
      /batch 32 \| adamw \(betas 0\.9, 0\.99, weight decay 0\.01\) \| lr 0\.0005 constant/,
    );
    assert.match(
      await text(page, "#loss"),
      /The points are makemore\.py's evaluate\(\) on the train and test splits/,
    );
    const shot = join(tmp, "report-bow-evals.png");
    await page.locator("#loss").screenshot({ path: shot });
    t.diagnostic(`screenshot: ${shot}`);
    assert.deepEqual(problems, [], "report");
  } finally {
    await page.close();
  }

  // the live dashboard on a run at makemore.py's default --max-steps -1, while it trains (every 100
  // steps: the chart marks its points while it has at most 50 evaluations, time for the page to come)
  const live = join(tmp, "bow-live");
  const training = makemore(["train", "--type", "bow", "--eval-every", "100", "--quiet", "-o", live]);
  let d: Spawned | undefined;
  const { page: dash, problems: dashProblems } = await newPage();
  try {
    await until("the run's config.json", () => existsSync(join(live, "config.json")), 240_000);
    d = makemore(["dashboard", live, "--port", "0"]);
    const url = await until(
      "the dashboard's address",
      () => /http:\/\/127\.0\.0\.1:\d+\//.exec(d!.output())?.[0],
    );
    await dash.goto(`${url}run/0`);
    const drawn = await until(
      "two evaluations on the live loss chart",
      async () => {
        const n = (await chartEvals(dash, "#chart-loss")).get("test split")?.size ?? 0;
        return n >= 2 ? n : 0;
      },
      240_000,
    );
    assert.equal(await text(dash, "#max-steps"), " (until interrupted)");
    await check(dash, "#chart-loss", "dashboard", live, drawn, true);
    const shot = join(tmp, "dashboard-bow-evals.png");
    await dash.locator("#chart-loss").screenshot({ path: shot });
    t.diagnostic(`screenshot: ${shot}`);
    assert.deepEqual(dashProblems, [], "dashboard");
  } finally {
    await dash.close();
    if (d && d.child.exitCode === null) d.child.kill("SIGTERM");
    if (training.child.exitCode === null) training.child.kill("SIGINT");
    await Promise.all([d?.done, training.done]);
  }
});
