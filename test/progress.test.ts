/**
 * The training progress display (issue 16, point 5): it fits the terminal (no wrapping at 50 or
 * 120 columns, checked through a real pseudo-terminal), shows the running mean of the loss and
 * the elapsed and remaining time, prints a line every few seconds when piped, and the sample
 * lines carry no trailing spaces.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { Progress, type ProgressState, statusLine } from "../src/cli/progress.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), "makemore-progress-"));

const STATE: ProgressState = {
  step: 52000,
  total: 200000,
  loss: 2.18234,
  mean: 2.24101,
  stepsPerSecond: 4312.4,
  elapsedSeconds: 12.06,
};

test("the status line fits the width and keeps what matters", () => {
  // 148,000 steps left at 4,312.4 steps/s: 34.3 s
  assert.equal(
    statusLine(STATE, 120),
    "████████░░░░░░░░░░░░░░░░░░░░░░  52000/200000 | loss 2.1823 | mean 2.2410 | 4,312 steps/s | 0:12 elapsed, 0:34 left",
  );
  assert.equal(
    statusLine(STATE, 80), // the rate gives way to the bar (11 cells, 26% done: 3 filled)
    "███░░░░░░░░  52000/200000 | loss 2.1823 | mean 2.2410 | 0:12 elapsed, 0:34 left",
  );
  assert.equal(statusLine(STATE, 56), " 52000/200000 | loss 2.1823 | mean 2.2410 | 0:12<0:34");
  assert.equal(statusLine(STATE, 50), "52000/200000 loss 2.1823 mean 2.2410 0:12<0:34");
  assert.equal(
    statusLine({ ...STATE, step: 1200, total: 6000 }, 50),
    "1200/6000 | loss 2.1823 | mean 2.2410 | 0:12<0:01",
  );
  assert.equal(statusLine(STATE, 30), "52000/200000 loss 2.1823");
  for (let columns = 10; columns <= 200; columns++) {
    assert.ok(statusLine(STATE, columns).length <= Math.max(10, columns - 1), `${columns} columns`);
  }
  // before any rate is known the time left is unknown, not NaN
  assert.match(
    statusLine({ ...STATE, stepsPerSecond: 0, mean: Number.NaN }, 120),
    /mean – \| 0 steps\/s \| 0:12 elapsed, --:-- left$/,
  );
});

/** A fake terminal or pipe and a fake clock: 1 ms per step. */
function fake(isTTY: boolean, columns = 80) {
  let t = 0;
  const writes: string[] = [];
  const printed: string[] = [];
  const p = new Progress({
    total: 20000,
    status: { write: (s) => writes.push(s), isTTY, columns },
    print: (s) => printed.push(s),
    now: () => t,
  });
  return {
    p,
    writes,
    printed,
    advance(ms: number) {
      t += ms;
    },
  };
}

test("the running mean is the mean of the last 1,000 minibatch losses", () => {
  const f = fake(true);
  const losses: number[] = [];
  for (let i = 0; i < 2500; i++) {
    const loss = 3 - i / 1000 + (i % 7) * 0.01;
    losses.push(loss);
    f.p.tick(i + 1, loss);
    if (i === 499 || i === 999 || i === 2499) {
      const last = losses.slice(-1000);
      assert.ok(Math.abs(f.p.mean - last.reduce((a, b) => a + b, 0) / last.length) < 1e-12, `step ${i}`);
    }
  }
  // NaN losses (a diverging run) do not poison the mean
  f.p.tick(2501, Number.NaN);
  assert.ok(Number.isFinite(f.p.mean));
});

test("on a terminal: redrawn in place at most every 100 ms; piped: a plain line every 5 s", () => {
  const tty = fake(true, 50);
  for (let step = 1; step <= 20000; step++) {
    tty.advance(1);
    tty.p.tick(step, 2.5);
    if (step === 10000) tty.p.line("step 10000");
  }
  // 20 s at one redraw per 100 ms, plus the final one
  assert.equal(tty.writes.filter((w) => w.startsWith("\r") && w.length > 4).length, 201);
  for (const w of tty.writes) {
    assert.ok(w.startsWith("\r") && w.endsWith("\x1b[K") && !w.includes("\n"), JSON.stringify(w));
    assert.ok(w.length - 4 <= 49, JSON.stringify(w));
  }
  assert.deepEqual(tty.printed, ["step 10000"]);

  const pipe = fake(false);
  for (let step = 1; step <= 20000; step++) {
    pipe.advance(1);
    pipe.p.tick(step, 2.5);
    if (step === 7000) pipe.p.line("step 7000"); // a log line restarts the 5 s
  }
  assert.deepEqual(
    pipe.writes.map((w) => w.split(" | ")[0]),
    [" 5000/20000", "12000/20000", "17000/20000"],
  );
  for (const w of pipe.writes) {
    assert.match(
      w,
      /^ ?\d+\/20000 \| loss 2\.5000 \| mean 2\.5000 \| 1,000 steps\/s \| \d:\d\d elapsed, 0:\d\d left\n$/,
    );
  }
});

/** Run `makemore train` on a pseudo-terminal of the given width (util-linux `script`). */
function onTerminal(columns: number): string {
  const cmd = [
    `stty cols ${columns} rows 20;`,
    `exec ${process.execPath} --import tsx src/cli/main.ts train -o ${join(tmp, `pty${columns}`)}`,
    "--max-steps 3000 --log-every 1000 --num-samples 8",
  ].join(" ");
  const r = spawnSync("script", ["-q", "-e", "-c", cmd, "/dev/null"], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 120_000,
  });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

for (const columns of [50, 120]) {
  test(`through a pseudo-terminal at ${columns} columns: no redraw wraps`, () => {
    const raw = onTerminal(columns);
    // what the terminal shows between carriage returns and newlines, escapes removed
    // biome-ignore lint/suspicious/noControlCharactersInRegex: terminal escapes
    const segments = raw.split(/[\r\n]/).map((s) => s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, ""));
    const status = segments.filter((s) => /^[█░]*\s*\d+\/3000 \| loss/.test(s));
    assert.ok(status.length >= 1, raw);
    for (const s of status) assert.ok(s.length <= columns - 1, `${s.length} > ${columns - 1}: ${s}`);
    assert.ok(
      status.some((s) => s.includes("3000/3000")),
      "the final redraw",
    );
    if (columns === 120) {
      for (const s of status)
        assert.match(
          s,
          /^[█░]{10,30} +\d+\/3000 \| loss \d\.\d{4} \| mean \d\.\d{4} \| [\d,]+ steps\/s \| [\d:]+ elapsed, [\d:-]+ left$/,
        );
    } else {
      for (const s of status)
        assert.match(s, /^ *\d+\/3000 \| loss \d\.\d{4} \| mean \d\.\d{4} \| [\d:]+<[\d:-]+$/);
    }
    // the permanent lines are untouched by the bar
    assert.match(raw, /step {7}0\/3000 \| loss 3\.3239 \| lr 0\.1 \|/);
    const samples = raw.split("\n").filter((l) => /^ {2}\S/.test(l));
    assert.equal(samples.length, 8);
    for (const l of samples) assert.doesNotMatch(l, /[ \t]\r?$/);
  });
}

test("piped: no carriage returns, and no trailing spaces on sample lines", () => {
  const r = spawnSync(
    process.execPath,
    [
      "--import",
      "tsx",
      "src/cli/main.ts",
      "train",
      "-o",
      join(tmp, "piped"),
      "--max-steps",
      "300",
      "--num-samples",
      "10",
    ],
    { cwd: ROOT, encoding: "utf8", timeout: 120_000 },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.ok(!r.stdout.includes("\r") && !r.stderr.includes("\r"));
  const samples = r.stdout.split("\n").filter((l) => l.startsWith("  "));
  assert.equal(samples.length, 10);
  for (const l of samples) assert.equal(l, l.trimEnd());
});
