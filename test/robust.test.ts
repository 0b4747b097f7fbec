/**
 * The adversarial pass of issue 15, row by row: each hostile input is built here, and each test
 * asserts the one-line error (non-zero exit, no stack trace, the run directory as it was) or, for
 * an input that should be accepted, a correct run. Row numbers refer to the table.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { buildDataset, ContextWindows, exampleCount, Vocabulary } from "../src/data/dataset.ts";
import { UserError } from "../src/errors.ts";
import { DEFAULT_MAX_WORDS, readWordFile } from "../src/io/wordfile.ts";
import { Generator } from "../src/random/generator.ts";
import { assertOneLineError, makemore } from "./support/cli-harness.ts";

const tmp = mkdtempSync(join(tmpdir(), "makemore-robust-"));
after(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const fresh = (name: string) => join(tmp, `${name}-${n++}`);

/** `count` distinct lowercase words (base-26 numerals of i, at least `len` letters). */
function words(count: number, len = 2): string[] {
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    let s = "";
    for (let v = i, k = 0; k < len || v > 0; k++, v = Math.floor(v / 26))
      s += String.fromCharCode(97 + (v % 26));
    out.push(s);
  }
  return out;
}

describe("word files (rows 1, 3, 16, 20; deliverable 2)", () => {
  test("#1: 125,000 short lines train and `info` describes them (no stack overflow)", () => {
    const file = fresh("short.txt");
    writeFileSync(file, `${words(125_000, 2).join("\n")}\n`);
    const info = makemore(["info", "-i", file]);
    assert.equal(info.code, 0, info.stderr);
    assert.match(info.stdout, /125000 items, vocabulary of 27 .*longest 4/);
    const dir = fresh("run");
    const r = makemore(["train", "-i", file, "-o", dir, "--max-steps", "3", "--num-samples", "2", "--quiet"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readFileSync(join(dir, "samples.txt"), "utf8").split("\n").length, 3);
  });

  test("#3: more words than the limit is refused before anything is written, naming the limit", () => {
    const file = fresh("one-letter.txt");
    // DEFAULT_MAX_WORDS + 1 one-letter lines (the 200 MB file has 100 million)
    writeFileSync(file, Buffer.alloc((DEFAULT_MAX_WORDS + 1) * 2, "a\n"));
    const dir = fresh("run");
    const r = makemore(["train", "-i", file, "-o", dir]);
    assertOneLineError(r, /has more than 10,000,000 words \(lines\), the limit for a word list/, 1);
    assert.equal(existsSync(dir), false);
    assertOneLineError(makemore(["info", "-i", file]), /more than 10,000,000 words/, 1);
  });

  test("#3: the word limit is exact: blank lines and lines of Unicode spaces do not count", () => {
    const file = fresh("limit.txt");
    writeFileSync(file, "ab\ncd\n\n \u3000\u00a0\nef\n");
    assert.deepEqual(readWordFile(file, { maxWords: 3 }).words, ["ab", "cd", "ef"]);
    assert.throws(
      () => readWordFile(file, { maxWords: 2 }),
      (e: unknown) => e instanceof UserError && /more than 2 words/.test(e.message),
    );
  });

  test("deliverable 2: context windows built per row equal the lecture's materialised windows", () => {
    const g = new Generator().manualSeed(15);
    const letters = "abcdefghijklmnopqrstuvwxyz";
    for (let trial = 0; trial < 20; trial++) {
      const ws = Array.from({ length: 1 + (g.nextU32() % 30) }, () =>
        Array.from({ length: 1 + (g.nextU32() % 9) }, () => letters[g.nextU32() % 26]).join(""),
      );
      const vocab = Vocabulary.fromWords(ws);
      const T = 1 + (trial % 6);
      // the lecture's build_dataset, written out: context = [0] * T; context = context[1:] + [ix]
      const wantX: number[][] = [];
      const wantY: number[] = [];
      for (const w of ws) {
        let context = new Array<number>(T).fill(0);
        for (const ch of [...w, "."]) {
          const ix = ch === "." ? 0 : vocab.stoi.get(ch)!;
          wantX.push(context);
          wantY.push(ix);
          context = [...context.slice(1), ix];
        }
      }
      const data = buildDataset(ws, vocab, T);
      assert.ok(data instanceof ContextWindows);
      assert.equal(exampleCount(data), wantY.length);
      // one byte a row for a vocabulary of at most 256: the stream, not the (N, T) matrix
      assert.equal(data.tokens.BYTES_PER_ELEMENT * data.tokens.length, wantY.length);
      assert.deepEqual(data.X.tolist(), wantX);
      assert.deepEqual(data.Y.tolist(), wantY);
    }
  });

  test("#16: more distinct characters than the vocabulary limit is refused, naming the limit", () => {
    const file = fresh("wide.txt");
    // 4,096 distinct CJK characters, 8 per line (the issue used 500,001 code points)
    const cps = Array.from({ length: 4096 }, (_, i) => String.fromCodePoint(0x4e00 + i));
    const lines: string[] = [];
    for (let i = 0; i < cps.length; i += 8) lines.push(cps.slice(i, i + 8).join(""));
    writeFileSync(file, `${lines.join("\n")}\n`);
    const dir = fresh("run");
    assertOneLineError(
      makemore(["train", "-i", file, "-o", dir]),
      /more than 4095 distinct characters \(the limit, with the boundary token, is a vocabulary of 4096\)/,
      1,
    );
    assert.equal(existsSync(dir), false);
    // one character fewer is accepted: a vocabulary of exactly 4,096
    assert.equal(Vocabulary.fromWords(lines.slice(0, -1).concat(cps.slice(4088, 4095).join(""))).size, 4096);
  });

  test("#20: -i /dev/stdin from a pipe is read once and trains", () => {
    const dir = fresh("run");
    const r = makemore(
      ["train", "-i", "/dev/stdin", "-o", dir, "--max-steps", "2", "--batch-size", "4", "--num-samples", "1"],
      { input: `${words(200, 3).join("\n")}\n` },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /200 items/);
    assert.ok(existsSync(join(dir, "samples.txt")));
  });
});
