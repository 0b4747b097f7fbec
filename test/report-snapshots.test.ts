/**
 * The report's snapshot bar in a real browser (Debian's chromium driven by playwright-core, as
 * test/dashboard.test.ts does): a short real `--diagnostics` run of the lecture's 6-layer tanh net
 * with snapshots at steps 0, 100 and 199, its report.html opened from disk. Choosing a snapshot
 * (by mouse, by Tab + Space/Enter, by the arrow keys) must switch the histogram, weight-gradient
 * and saturation panels to that snapshot's numbers, which the test reads from the run's own
 * diagnostics.jsonl; the chosen button is the one pressed. Screenshots at 420 and 1400 px are
 * written under the temp folder (see the test's diagnostics).
 *
 * Chromium missing is a failure, not a skip: CI installs it (apt-get install chromium).
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { pathToFileURL } from "node:url";
import type { Page } from "playwright-core";
import { browser } from "./support/chromium.ts";
import { makemore } from "./support/cli-harness.ts";

const tmp = mkdtempSync(join(tmpdir(), "makemore-report-snapshots-"));
const RUN = join(tmp, "deep-tanh");
browser().catch(() => {}); // launch now; the test awaits (and reports) it

/** The run (200 steps, snapshots at 0, 100 and 199) and its report. */
function makeRun(): void {
  const train = makemore([
    "train",
    "--type",
    "deep-tanh",
    "--max-steps",
    "200",
    "--diagnostics-every",
    "100",
    "--num-samples",
    "5",
    "--quiet",
    "-o",
    RUN,
  ]);
  assert.equal(train.code, 0, train.stdout + train.stderr);
  const report = makemore(["report", RUN]);
  assert.equal(report.code, 0, report.stdout + report.stderr);
}

// ---------------------------------------------------------------- what a snapshot must show

/** One line of diagnostics.jsonl, as the trainer wrote it (the fields this test reads). */
interface StoredSnapshot {
  step: number;
  loss: number;
  gradients: { layer: number; std: number }[];
  params: { name: string; shape: number[]; std: number }[];
  saturation: { layer: number; rows: number; cols: number; bits: string }[];
}

/** "%e"'s digits before the exponent (C prints e-04 where JS prints e-4). */
const mantissa = (v: number) => v.toExponential(6).split("e")[0]!;

/**
 * The texts each panel must hold for snapshot `s`, from the stored numbers: the histogram titles'
 * step, the first tanh layer's output-gradient std (`std %e` in the backward table), the first
 * 2-D weight's gradient std (the weight table) and each saturation map's share of white cells.
 */
function expected(s: StoredSnapshot): Record<"forward" | "backward" | "weights" | "saturation", string[]> {
  const step = s.step.toLocaleString("en-US");
  const weight = s.params.find((p) => p.shape.length === 2 && p.name !== "embedding.weight")!;
  return {
    forward: [`forward pass, step ${step}:`],
    backward: [`backward pass, step ${step}:`, `std ${mantissa(s.gradients[0]!.std)}e`],
    weights: [`step ${step}: density of each 2-D parameter`, `std ${mantissa(weight.std)}e`],
    saturation: s.saturation.map((m) => {
      let on = 0;
      for (const b of m.bits) if (b === "1") on++;
      return `step ${step}: white = saturated (${((100 * on) / (m.rows * m.cols)).toFixed(2)}% of ${m.rows}×${m.cols})`;
    }),
  };
}

/** The panel texts, the pressed buttons and the bar's label as the page shows them now. */
async function shown(page: Page) {
  // (no named functions inside: tsx would wrap them in a helper the page does not have)
  const now = await page.evaluate(() => ({
    panels: ["forward", "backward", "weights", "saturation"].map(
      (p) => document.querySelector(`.snapshot-view[data-panel="${p}"]`)?.textContent ?? "",
    ),
    pressed: [...document.querySelectorAll('.snapbar button[aria-pressed="true"]')].map((b) => b.textContent),
    label: document.querySelector(".snapbar-shown")?.textContent ?? "",
    focused: document.activeElement?.textContent ?? "",
    ids: [...document.querySelectorAll("[id]")].map((e) => e.id),
  }));
  const [forward, backward, weights, saturation] = now.panels as [string, string, string, string];
  return {
    forward,
    backward,
    weights,
    saturation,
    pressed: now.pressed,
    label: now.label,
    focused: now.focused,
    duplicateIds: now.ids.filter((id, i) => now.ids.indexOf(id) !== i),
  };
}

async function assertShows(page: Page, s: StoredSnapshot, others: StoredSnapshot[], how: string) {
  const now = await shown(page);
  assert.deepEqual(now.pressed, [s.step.toLocaleString("en-US")], `${how}: the one pressed button`);
  assert.equal(now.label, `step ${s.step.toLocaleString("en-US")}, minibatch loss ${s.loss.toFixed(4)}`, how);
  assert.deepEqual(now.duplicateIds, [], `${how}: every SVG id is unique in the page`);
  const want = expected(s);
  for (const [panel, texts] of Object.entries(want))
    for (const t of texts)
      assert.ok(now[panel as keyof typeof want].includes(t), `${how}: #${panel} shows "${t}"`);
  // and none of the other snapshots' numbers
  for (const o of others)
    for (const [panel, texts] of Object.entries(expected(o)))
      for (const t of texts)
        assert.ok(
          !now[panel as keyof typeof want].includes(t),
          `${how}: #${panel} still shows step ${o.step}'s "${t}"`,
        );
}

test("report.html: the snapshot buttons switch the histogram, weight and saturation panels", async (t) => {
  makeRun();
  const stored = readFileSync(join(RUN, "diagnostics.jsonl"), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as StoredSnapshot);
  assert.deepEqual(
    stored.map((s) => s.step),
    [0, 100, 199],
  );
  const [first, middle, last] = stored as [StoredSnapshot, StoredSnapshot, StoredSnapshot];
  // the numbers the test looks for differ between the snapshots, so a panel left behind fails
  for (const [panel, texts] of Object.entries(expected(first)))
    for (const [i, text] of texts.entries())
      for (const o of [middle, last])
        assert.notEqual(text, expected(o)[panel as "forward"][i], `${panel} differs at step ${o.step}`);

  const page = await (await browser()).newPage({ viewport: { width: 1400, height: 900 } });
  const problems: string[] = [];
  page.on("console", (m) => m.type() === "error" && problems.push(`console error: ${m.text()}`));
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  try {
    await page.goto(pathToFileURL(join(RUN, "report.html")).href);
    const button = (s: StoredSnapshot) =>
      page.locator(".snapbar button", { hasText: new RegExp(`^${s.step}$`) });
    assert.equal(await page.locator(".snapbar button").count(), 3, "one button per snapshot");

    // the default is the last snapshot, as `makemore report` without --step draws it
    await assertShows(page, last, [first, middle], "on load");

    await button(first).click();
    await assertShows(page, first, [middle, last], "after clicking step 0");

    // Tab moves to the next button; Space presses it
    await page.keyboard.press("Tab");
    assert.equal((await shown(page)).focused, "100", "Tab reaches the next snapshot button");
    await page.keyboard.press("Space");
    await assertShows(page, middle, [first, last], "after Space on step 100");

    // the arrows move along the bar and show what they land on; back to a snapshot shown before
    await page.keyboard.press("ArrowRight");
    await assertShows(page, last, [first, middle], "after ArrowRight");
    await page.keyboard.press("Home");
    await assertShows(page, first, [middle, last], "after Home");
    await button(middle).focus();
    await page.keyboard.press("Enter");
    await assertShows(page, middle, [first, last], "after Enter on step 100");

    // the bar stays in view while the saturation maps are read
    await page.locator("#saturation").scrollIntoViewIfNeeded();
    const bar = await page.locator(".snapbar").boundingBox();
    assert.ok(bar && bar.y >= 0 && bar.y < 5, `the snapshot bar sticks to the top (at y = ${bar?.y})`);

    for (const width of [1400, 420]) {
      await page.setViewportSize({ width, height: 900 });
      await page.locator("#forward").scrollIntoViewIfNeeded();
      const shot = join(tmp, `report-snapshots-${width}.png`);
      await page.screenshot({ path: shot });
      t.diagnostic(`screenshot: ${shot}`);
      // at 420 px the bar is one row of buttons that scrolls sideways, not a page-wide wrap
      const rows = await page.$$eval(
        ".snapbar button",
        (bs) => new Set(bs.map((b) => b.getBoundingClientRect().top)).size,
      );
      assert.equal(rows, 1, `${width} px: the buttons sit in one row`);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `${width} px: the page itself does not scroll sideways (by ${overflow} px)`);
    }
    assert.deepEqual(problems, []);
  } finally {
    await page.close();
  }
});
