/**
 * Run files of any size (issue 15, row 17): metrics.jsonl is read line by line in slices, never as
 * one string. The old reader decoded the whole file into one string, which stops at V8's string
 * limit (buffer.constants.MAX_STRING_LENGTH, 2^29 - 24 characters on Node 20: about 512 MiB), so
 * a valid 604 MB file came back as "not valid UTF-8". A file that big is too slow for the suite;
 * instead the reader runs here with slices of a few bytes, so every line, and every multi-byte
 * character, crosses slice boundaries the way a huge file's do at 1 MiB.
 */
import assert from "node:assert/strict";
import { constants } from "node:buffer";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { LineTail } from "../src/dashboard/tail.ts";
import { checkHistory } from "../src/diagnostics/doctor.ts";
import type { MetricsLine } from "../src/diagnostics/types.ts";
import { UserError } from "../src/errors.ts";
import { type FileLine, forEachLine } from "../src/io/atomic.ts";
import { forEachJsonLine, readMetricsForChecks } from "../src/io/rundir.ts";
import { forEachJsonLineLenient, readRunData, toMetricsLine } from "../src/io/runfiles.ts";
import { MetricsHistory } from "../src/viz/series.ts";

const root = mkdtempSync(join(tmpdir(), "makemore-stream-"));
after(() => rmSync(root, { recursive: true, force: true }));
let k = 0;
function file(content: string | Uint8Array): string {
  const p = join(root, `f${k++}`);
  writeFileSync(p, content);
  return p;
}

function lines(path: string, chunkBytes: number, maxLineBytes?: number): FileLine[] {
  const out: FileLine[] = [];
  forEachLine(path, "metrics", (l) => out.push(l), { chunkBytes, maxLineBytes });
  return out;
}

describe("forEachLine: slices of any size give the file's lines", () => {
  test("the limit the old whole-file reader hit is V8's string length, about 512 MiB", () => {
    // a 604 MB file as one string is impossible: the decoder cannot make it
    assert.ok(constants.MAX_STRING_LENGTH < 604_000_000);
    assert.ok(constants.MAX_STRING_LENGTH >= 2 ** 28);
  });

  test("lines, multi-byte characters and an unterminated last line, for slices of 1 to 17 bytes", () => {
    // 2-, 3- and 4-byte UTF-8 characters, an empty line, a CR, a last line without "\n"
    const text = '{"step":0,"w":"é"}\n\n{"step":1,"w":"名前"}\r\n{"step":2,"w":"😀x"}\nlast';
    const expected = text.split("\n");
    const path = file(text);
    for (let chunk = 1; chunk <= 17; chunk++) {
      const got = lines(path, chunk);
      assert.deepEqual(
        got.map((l) => l.text),
        expected,
        `chunk ${chunk}`,
      );
      assert.deepEqual(
        got.map((l) => l.number),
        expected.map((_, i) => i + 1),
      );
      assert.deepEqual(
        got.map((l) => l.unterminated),
        expected.map((_, i) => i === expected.length - 1),
      );
    }
    // ending with "\n": no empty extra line, nothing unterminated
    const closed = lines(file("a\nb\n"), 1);
    assert.deepEqual(
      closed.map((l) => [l.text, l.unterminated]),
      [
        ["a", false],
        ["b", false],
      ],
    );
  });

  test("a line over the limit and a line of invalid UTF-8 come back as null, the rest intact", () => {
    const long = "x".repeat(100);
    const path = file(
      Buffer.concat([Buffer.from(`ok\n${long}\n`), Buffer.from([0xc3, 0x28, 10]), Buffer.from("end\n")]),
    );
    for (const chunk of [1, 7, 64, 4096]) {
      assert.deepEqual(
        lines(path, chunk, 50).map((l) => l.text),
        ["ok", null, null, "end"],
        `chunk ${chunk}`,
      );
    }
  });

  test("a FIFO-free refusal: a directory is one line, as for whole-file reads", () => {
    const d = join(root, "dir");
    mkdirSync(d);
    assert.throws(
      () => lines(d, 8),
      (e: unknown) => e instanceof UserError && /is a directory/.test(e.message),
    );
  });
});

describe("metrics.jsonl through the schema, streamed", () => {
  test("strict: a torn last line is dropped, a damaged middle line is named by its number", () => {
    const torn = file('{"step":1}\n{"step":2}\n{"st');
    const bad = file('{"step":1}\n{"step":2,"loss":"x"}\n{"step":3}\n');
    const notUtf8 = file(
      Buffer.concat([Buffer.from('{"step":1}\n{"step":2,"w":"'), Buffer.from([0xff]), Buffer.from('"}\n')]),
    );
    for (const chunk of [1, 3, 1 << 20]) {
      const got: unknown[] = [];
      assert.deepEqual(
        forEachJsonLine(torn, "metrics", (r) => got.push(r), { chunkBytes: chunk }),
        { count: 2, tornTail: true },
      );
      assert.deepEqual(got, [{ step: 1 }, { step: 2 }]);
      assert.throws(
        () => forEachJsonLine(bad, "metrics", () => {}, { chunkBytes: chunk }),
        /^UserError: metrics .* is damaged: line 2 has a non-numeric loss$/,
      );
      assert.throws(
        () => forEachJsonLine(notUtf8, "metrics", () => {}, { chunkBytes: chunk }),
        /is damaged: line 2 is not valid UTF-8/,
      );
    }
  });

  test("lenient (the report): bad lines skipped with a count, NaN read as a gap", () => {
    const path = file('{"step":0,"loss":3.3}\nnot json\n{"step":1,"loss":NaN}\n{"step":2,"loss":2.5}\n{"st');
    const notes: string[] = [];
    const got: (MetricsLine | null)[] = [];
    const n = forEachJsonLineLenient(path, "metrics.jsonl", notes, (r) => got.push(toMetricsLine(r)), {
      chunkBytes: 5,
    });
    assert.equal(n, 3);
    assert.deepEqual(
      got.map((m) => m?.loss),
      [3.3, Number.NaN, 2.5],
    );
    assert.deepEqual(notes, [
      "metrics.jsonl: the last line was cut off (a crash mid-write?) and was skipped.",
      "metrics.jsonl: 1 line is not valid JSON and was skipped; non-finite values (NaN, Infinity) are shown as gaps.",
    ]);
  });

  /** A training history: loss decaying with noise, ud every step, an eval line every 500 steps. */
  function history(steps: number, udLevel: number): string {
    const out: string[] = [];
    let s = 12345;
    const rand = () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < steps; i++) {
      const loss = 2 + Math.exp(-i / 800) + 0.3 * rand();
      const ud = {
        "layers.0.weight": udLevel + rand(),
        "layers.2.weight": udLevel - rand(),
        "layers.2.bias": -2,
      };
      out.push(JSON.stringify({ step: i, loss, lr: 0.1, ud }));
      if (i % 500 === 499)
        out.push(JSON.stringify({ step: i, train_loss: 2.1 - i * 1e-5, val_loss: 2.3 + i * 2e-5 }));
    }
    return `${out.join("\n")}\n`;
  }

  test("the doctor's bounded read gives checkHistory the same findings as the whole file", () => {
    for (const [steps, level, ids] of [
      [4200, -5.5, ["learning-rate-low", "overfitting"]], // a gap that grew past the threshold
      [1500, -0.5, ["learning-rate-high", "overfitting"]], // fewer ud lines than the kept tail
      [150, -3, []], // too few lines to judge, no eval line
    ] as const) {
      const text = history(steps, level);
      const path = file(text);
      const whole = text
        .split("\n")
        .filter((l) => l)
        .map((l) => JSON.parse(l) as MetricsLine);
      const bounded = readMetricsForChecks(path, { chunkBytes: 4096 });
      // the last 2,000 ud lines, the first and last eval lines and the step-0 ud line (checkMakemore's)
      assert.ok(bounded.length <= 2000 + 3, `${bounded.length}`);
      assert.deepEqual(bounded[0], whole[0]);
      const expected = checkHistory(whole, undefined);
      assert.deepEqual(checkHistory(bounded, undefined), expected);
      assert.deepEqual(
        expected.map((f) => f.id),
        ids,
      );
    }
  });

  test("the report's read: a run's history streamed in 7-byte slices charts like one parsed whole", () => {
    const dir = join(root, "run");
    mkdirSync(dir);
    const text = history(3000, -3);
    writeFileSync(join(dir, "metrics.jsonl"), text);
    const streamed = new MetricsHistory();
    const run = readRunData(dir, (m) => streamed.push(m), { chunkBytes: 7 });
    const parsed = new MetricsHistory();
    let count = 0;
    for (const l of text.split("\n"))
      if (l) {
        parsed.push(toMetricsLine(JSON.parse(l)));
        count++;
      }
    assert.equal(run.metricsCount, count);
    assert.equal(streamed.lastStep, 2999);
    assert.deepEqual(streamed.series(), parsed.series());
    assert.deepEqual(streamed.lossSpec(), parsed.lossSpec());
    // and the block means are the loss chart's exact means of 100 steps (3,000 steps / 100 >= 20)
    const means = streamed.series().lossMeans;
    assert.equal(means.length, 30);
    const first100 = text
      .split("\n")
      .slice(0, 110)
      .map((l) => (l ? JSON.parse(l) : {}))
      .filter((m) => typeof m.loss === "number" && m.step < 100);
    assert.equal(first100.length, 100);
    const mean = first100.reduce((a, m) => a + Math.log10(m.loss), 0) / 100;
    assert.ok(Math.abs(means[0]!.value - mean) < 1e-12);
  });
});

test("the dashboard's tailer reads a big history in slices: any budget gives the same lines", () => {
  const text = '{"step":0,"w":"é"}\n{"step":1,"w":"名前"}\n\n{"step":2,"w":"😀x"}\n{"step":3}';
  const path = file(text);
  const expected = ['{"step":0,"w":"é"}', '{"step":1,"w":"名前"}', '{"step":2,"w":"😀x"}', '{"step":3}'];
  for (const budget of [1, 2, 5, 13, 1 << 20]) {
    const tail = new LineTail(path);
    const got: string[] = [];
    let polls = 0;
    for (;;) {
      const r = tail.read(budget);
      got.push(...r.lines);
      polls++;
      if (!r.more) break;
    }
    // the unterminated last line is a whole object: taken on the next poll
    got.push(...tail.read(budget).lines);
    assert.deepEqual(got, expected, `budget ${budget}`);
    assert.ok(polls >= Math.ceil(text.length / budget) - 1);
  }
});
