/**
 * The adversarial pass of issue 15, row by row: each hostile input is built here, and each test
 * asserts the one-line error (non-zero exit, no stack trace, the run directory as it was) or, for
 * an input that should be accepted, a correct run. Row numbers refer to the issue's table.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import {
  cpSync,
  existsSync,
  lstatSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { buildDataset, ContextWindows, exampleCount, Vocabulary } from "../src/data/dataset.ts";
import { UserError } from "../src/errors.ts";
import { LOCK_NAME, lockRunDir } from "../src/io/lock.ts";
import { decodeSafetensors, encodeSafetensors } from "../src/io/safetensors.ts";
import { DEFAULT_MAX_WORDS, readWordFile } from "../src/io/wordfile.ts";
import { Generator } from "../src/random/generator.ts";
import { assertOneLineError, fingerprint, makemore, ROOT } from "./support/cli-harness.ts";

const tmp = mkdtempSync(join(tmpdir(), "makemore-robust-"));
after(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const fresh = (name: string) => join(tmp, `${name}-${n++}`);

/** `makemore ...args` in a child process without blocking this one (to race two, or hold a port). */
function makemoreAsync(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "src/cli/main.ts"), ...args], {
      cwd: ROOT,
    });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (code) => resolve({ code, stderr }));
  });
}

/**
 * `makemore ...args` with `env` added, SIGKILLed as soon as its stderr matches `ready` (a test
 * hold point); resolves with how it ended. Rejects if it ends before reaching the point.
 */
function makemoreHeld(
  args: string[],
  env: Record<string, string>,
  ready: RegExp,
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "src/cli/main.ts"), ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
    });
    let stderr = "";
    let sent = false;
    child.stderr.on("data", (d) => {
      stderr += d;
      if (!sent && ready.test(stderr)) {
        sent = true;
        child.kill("SIGKILL");
      }
    });
    child.on("close", (code, signal) =>
      sent ? resolve({ code, signal }) : reject(new Error(`ended before the hold point: ${stderr}`)),
    );
  });
}

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
    // DEFAULT_MAX_WORDS + 1 one-letter lines (the issue's 200 MB file has 100 million)
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

// ------------------------------------------------------------------ a trained run to tamper with

let baseRun: string | null = null;
/** A copy of one small trained run (trained once per file), for a test to damage. */
function runCopy(): string {
  if (!baseRun) {
    baseRun = fresh("base");
    const r = makemore(["train", "-o", baseRun, "--max-steps", "40", "--num-samples", "3", "--quiet"]);
    assert.equal(r.code, 0, r.stderr);
  }
  const dir = fresh("copy");
  cpSync(baseRun, dir, { recursive: true });
  return dir;
}

/** Rewrite a run's checkpoint with `edit` applied to its tensors (resume state kept). */
function editCheckpoint(
  dir: string,
  edit: (t: Record<string, { shape: number[]; data: Float32Array }>) => void,
) {
  const path = join(dir, "checkpoint.safetensors");
  const ck = decodeSafetensors(new Uint8Array(readFileSync(path)));
  const tensors = Object.fromEntries(
    Object.entries(ck.tensors).map(([k, t]) => [k, { shape: t.shape, data: new Float32Array(t.data) }]),
  );
  edit(tensors);
  writeFileSync(path, encodeSafetensors(tensors, ck.metadata));
}

function editConfig(dir: string, edit: (c: Record<string, any>) => void) {
  const path = join(dir, "config.json");
  const c = JSON.parse(readFileSync(path, "utf8"));
  edit(c);
  writeFileSync(path, JSON.stringify(c));
}

describe("outputs and checkpoints that are not regular files (rows 2, 14)", () => {
  test("#2: report -o a device, a FIFO, a symlink or a run file is refused; nothing is replaced", () => {
    const dir = runCopy();
    const before = fingerprint(dir);
    const fifo = fresh("fifo");
    execFileSync("mkfifo", [fifo]);
    const target = fresh("target.html");
    writeFileSync(target, "keep");
    const link = fresh("link.html");
    symlinkSync(target, link);
    for (const [out, re] of [
      ["/dev/null", /cannot write \/dev\/null: it is a device; writes only replace regular files/],
      [fifo, /it is a named pipe \(FIFO\)/],
      [link, /it is a symbolic link/],
      [join(dir, "checkpoint.safetensors"), /is a run file; choose another path/],
      [join(dir, "config.json"), /is a run file/],
    ] as const) {
      assertOneLineError(makemore(["report", dir, "-o", out]), re);
      assert.equal(fingerprint(dir), before, out);
    }
    assert.ok(statSync("/dev/null").isCharacterDevice());
    assert.ok(lstatSync(fifo).isFIFO());
    assert.ok(lstatSync(link).isSymbolicLink());
    assert.equal(readFileSync(target, "utf8"), "keep");
  });

  test("#14: a checkpoint that is a link to /dev/zero or a FIFO is refused without reading it", () => {
    const zero = runCopy();
    rmSync(join(zero, "checkpoint.safetensors"));
    symlinkSync("/dev/zero", join(zero, "checkpoint.safetensors"));
    const fifo = runCopy();
    rmSync(join(fifo, "checkpoint.safetensors"));
    execFileSync("mkfifo", [join(fifo, "checkpoint.safetensors")]);
    for (const [dir, re] of [
      [zero, /checkpoint .* is a device, not a regular file/],
      [fifo, /checkpoint .* is a named pipe \(FIFO\), not a regular file/],
    ] as const) {
      const before = fingerprint(dir);
      for (const cmd of ["info", "sample", "eval"])
        assertOneLineError(makemore([cmd, dir], { timeout: 120_000 }), re);
      assert.equal(fingerprint(dir), before);
    }
  });
});

describe("numbers that are not numbers (row 9)", () => {
  test("#9: sample --temperature 1e-40 is one line", () => {
    const dir = runCopy();
    assertOneLineError(
      makemore(["sample", dir, "--temperature", "1e-40"]),
      /cannot sample at --temperature 1e-40: the logits divided by it are not finite numbers; use a larger --temperature/,
      1,
    );
  });

  test("#9: one NaN in a checkpoint is one line naming the tensor, for every command that loads it", () => {
    const dir = runCopy();
    editCheckpoint(dir, (t) => {
      t["layers.0.weight"].data[7] = Number.NaN;
    });
    const before = fingerprint(dir);
    for (const cmd of [
      ["info"],
      ["sample"],
      ["eval"],
      ["doctor"],
      ["fold", "-o", fresh("f")],
      ["train", "--resume"],
    ]) {
      const [c, ...rest] = cmd;
      assertOneLineError(
        makemore([c, ...(c === "train" ? [...rest, dir] : [dir, ...rest])]),
        /checkpoint .* holds a non-finite value \(NaN\) in "layers.0.weight" at index 7; its weights cannot be used/,
        1,
      );
    }
    assert.equal(fingerprint(dir), before);
  });

  test("#9: finite weights whose loss overflows: eval is an error, not NaN with exit 0", () => {
    const dir = runCopy();
    editCheckpoint(dir, (t) => {
      // the output layer's weights at the float32 maximum: every logit overflows to infinity
      t["layers.3.weight"].data.fill(3e38);
    });
    assertOneLineError(
      makemore(["eval", dir]),
      /the train loss of run .* is NaN: the model's outputs are not finite numbers/,
      1,
    );
  });
});

describe("tampered run files (rows 10, 15, 17)", () => {
  const cases: [string, (c: Record<string, any>) => void, RegExp][] = [
    ["model.blockSize 1000", (c) => (c.model.blockSize = 1000), /blockSize/],
    ['model.blockSize "3"', (c) => (c.model.blockSize = "3"), /blockSize/],
    [
      'data.splitSeed "x"',
      (c) => (c.data.splitSeed = "x"),
      /data\.splitSeed must be a whole number .* got "x"/,
    ],
    [
      "seed 1e300",
      (c) => (c.seed = 1e300),
      /seed must be a whole number from 0 to 9007199254740991, got 1e\+300/,
    ],
    [
      "numSamples 1e12 (#15)",
      (c) => (c.numSamples = 1e12),
      /numSamples must be a whole number from 0 to 100000/,
    ],
    ["train.maxSteps -2", (c) => (c.train.maxSteps = -2), /train\.maxSteps must be a whole number/],
    ["data.blockSize 1000", (c) => (c.data.blockSize = 1000), /data\.blockSize/],
  ];
  for (const [name, edit, re] of cases) {
    test(`#10: config.json with ${name}: one line naming the field from every reader`, () => {
      const dir = runCopy();
      editConfig(dir, edit);
      const before = fingerprint(dir);
      for (const args of [
        ["sample", dir],
        ["eval", dir],
        ["info", dir],
        ["doctor", dir],
        ["train", "--resume", dir],
      ])
        assertOneLineError(makemore(args), re, 1);
      assert.equal(fingerprint(dir), before);
    });
  }

  test("#17: a null line in metrics.jsonl: report and doctor say which line", () => {
    const dir = runCopy();
    writeFileSync(join(dir, "metrics.jsonl"), `${readFileSync(join(dir, "metrics.jsonl"), "utf8")}null\n`);
    for (const args of [
      ["report", dir, "-o", fresh("r.html")],
      ["doctor", dir],
    ])
      assertOneLineError(makemore(args), /metrics .* line \d+/, 1);
  });
});

describe("leftovers and the terminal (row 21)", () => {
  test("#21: temp files of a killed writer are removed when the run directory is next opened", () => {
    const dir = runCopy();
    // pid 2^22 + 1 is above Linux's pid_max limit: no such process can be alive
    const stale = join(dir, `.checkpoint.safetensors.tmp-${2 ** 22 + 1}-0`);
    const live = join(dir, `.state.json.tmp-${process.pid}-0`);
    writeFileSync(stale, "partial");
    writeFileSync(live, "in use");
    const r = makemore([
      "train",
      "-o",
      dir,
      "--overwrite",
      "--max-steps",
      "1",
      "--num-samples",
      "1",
      "--quiet",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(existsSync(stale), false);
    assert.equal(existsSync(live), true, "a live process's temp file is kept");
  });

  test("#21: control characters from the data or a path reach the terminal escaped", () => {
    const file = fresh("ansi.txt");
    writeFileSync(file, `${words(300, 3).join("\n")}\nred\u001b[31m\nclear\u001b[2J\nrtl\u202eabc\n`);
    const info = makemore(["info", "-i", file]);
    assert.equal(info.code, 0, info.stderr);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the test looks for the raw escape character itself
    assert.doesNotMatch(info.stdout, /[\u001b\u202e]/);
    assert.match(info.stdout, /\\x1b/);
    const dir = join(tmp, `run\u001b[2J-${n++}`);
    const r = makemore(["train", "-i", file, "-o", dir, "--max-steps", "2", "--num-samples", "5"]);
    assert.equal(r.code, 0, r.stderr);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the test looks for the raw escape character itself
    assert.doesNotMatch(r.stdout + r.stderr, /[\u001b\u202e]/);
    assert.match(r.stdout, /saved .*run\\x1b\[2J/);
  });
});

describe("one writer per run directory (rows 5, 6, 13; deliverable 3)", () => {
  test("#5: train --resume of a run another process is writing is refused, naming the holder", () => {
    const dir = runCopy();
    // hold its lock from this process, as a live writer would
    const lock = lockRunDir(dir, "train --resume");
    try {
      const before = fingerprint(dir);
      assertOneLineError(
        makemore(["train", "--resume", dir]),
        new RegExp(
          `is in use by another makemore \\(pid ${process.pid}, train --resume since .*\\); wait for it to finish or stop it`,
        ),
        1,
      );
      assertOneLineError(
        makemore(["train", "-o", dir, "--overwrite", "--max-steps", "1"]),
        /is in use by another makemore/,
        1,
      );
      assert.equal(fingerprint(dir), before, "#6: nothing removed or written");
    } finally {
      lock.release();
    }
    assert.equal(existsSync(join(dir, LOCK_NAME)), false);
  });

  test("a dead owner's lock is taken over; a live one never is", () => {
    const dir = runCopy();
    // pid 2^22 + 1 is above Linux's pid_max: its owner cannot be alive
    writeFileSync(
      join(dir, LOCK_NAME),
      JSON.stringify({ pid: 2 ** 22 + 1, started: 0, command: "train", since: "x" }),
    );
    const r = makemore([
      "train",
      "-o",
      dir,
      "--overwrite",
      "--max-steps",
      "2",
      "--num-samples",
      "1",
      "--quiet",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(existsSync(join(dir, LOCK_NAME)), false, "released at exit");
    const held = lockRunDir(dir, "train");
    try {
      assert.throws(() => lockRunDir(dir, "train"), /in use by another makemore/);
    } finally {
      held.release();
    }
  });

  test("a lock taken on another host is never taken over, even when its pid means nothing here", () => {
    const dir = runCopy();
    // pid 2^22 + 1 cannot be alive on this host; on the other host it may well be
    const body = JSON.stringify({
      host: "gpu-box-7",
      pid: 2 ** 22 + 1,
      started: 0,
      command: "train --resume",
      since: "2026-12-01T21:00:00.000Z",
    });
    writeFileSync(join(dir, LOCK_NAME), body);
    const before = fingerprint(dir);
    for (const args of [
      ["train", "--resume", dir],
      ["train", "-o", dir, "--overwrite", "--max-steps", "1"],
      ["fold", runCopy(), "-o", dir, "--overwrite"],
    ])
      assertOneLineError(
        makemore(args),
        /is locked by makemore on host gpu-box-7 \(pid 4194305, train --resume since 2026-12-01T21:00:00\.000Z\); a lock from another host is never taken over: if that process is gone, remove .*\.lock$/,
        1,
      );
    assert.equal(fingerprint(dir), before);
    assert.equal(readFileSync(join(dir, LOCK_NAME), "utf8"), body, "the other host's lock is left as it was");
  });

  test("fold -o takes the output's lock: refused while another writer holds it, released after", () => {
    const source = runCopy();
    const out = runCopy();
    const lock = lockRunDir(out, "train");
    try {
      const before = fingerprint(out);
      assertOneLineError(
        makemore(["fold", source, "-o", out, "--overwrite"]),
        new RegExp(`is in use by another makemore \\(pid ${process.pid}, train since `),
        1,
      );
      assert.equal(fingerprint(out), before, "nothing removed");
    } finally {
      lock.release();
    }
    const r = makemore(["fold", source, "-o", out, "--overwrite"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(existsSync(join(out, LOCK_NAME)), false, "released when fold is done");
    assert.equal(JSON.parse(readFileSync(join(out, "config.json"), "utf8")).model.batchnorm, "none");
  });

  test("#6: two train -o SAME --overwrite at once: the directory ends as one consistent run", async () => {
    const dir = runCopy();
    const start = (type: string) =>
      makemoreAsync([
        "train",
        "-o",
        dir,
        "--overwrite",
        "--type",
        type,
        "--max-steps",
        "300",
        "--num-samples",
        "1",
        "--quiet",
      ]);
    const results = await Promise.all([start("batchnorm"), start("deep-tanh")]);
    assert.ok(
      results.some((x) => x.code === 0),
      JSON.stringify(results),
    );
    for (const x of results)
      if (x.code !== 0)
        assert.match(
          x.stderr.trim(),
          /^makemore: error: run directory .* is in use by another makemore \(pid \d+/,
        );
    // whichever won, its checkpoint fits its config
    const ev = makemore(["eval", dir]);
    assert.equal(ev.code, 0, ev.stderr);
  });

  test("#13: --overwrite --dashboard on a busy port: refused before the old run is deleted", async () => {
    const dir = runCopy();
    const before = fingerprint(dir);
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const r = await makemoreAsync([
        "train",
        "-o",
        dir,
        "--overwrite",
        "--dashboard",
        "--port",
        String(port),
      ]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(
        r.stderr,
        new RegExp(`^makemore: error: cannot start the dashboard on port ${port}: the port is in use\\n$`),
      );
    } finally {
      server.close();
    }
    assert.equal(fingerprint(dir), before);
  });

  test("#19: --host '' is refused (it would bind every interface)", () => {
    assertOneLineError(makemore(["train", "--dashboard", "--host", ""]), /--host needs an address/, 2);
  });
});

describe("the training flow (rows 7, 8, 18)", () => {
  test("#8: a seed near 2^53 trains, samples with seed + 10 exactly, and `sample` works", () => {
    const dir = fresh("run");
    const r = makemore([
      "train",
      "-o",
      dir,
      "--seed",
      "9007199254740991",
      "--max-steps",
      "3",
      "--num-samples",
      "2",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /samples \(seed 9007199254741001;/);
    const s = makemore(["sample", dir, "-n", "2"]);
    assert.equal(s.code, 0, s.stderr);
    assert.match(s.stdout, /\(seed 9007199254741001\)/);
  });

  test("#18, #7: initial weights that are not finite: says no checkpoint exists, leaves no run, exits even with --dashboard", () => {
    const dir = fresh("run");
    const r = makemore(
      ["train", "-o", dir, "--type", "custom", "--gain", "1e308", "--dashboard", "--max-steps", "5"],
      {
        timeout: 180_000,
      },
    );
    assert.equal(r.signal, null, "the process ended by itself");
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /no checkpoint was saved \(the initial weights are not finite/);
    assert.doesNotMatch(r.stderr, /last good checkpoint/);
    assert.equal(existsSync(dir), false);
  });
});

describe("a word file that changed under its run (rows 11, 12)", () => {
  const trainOn = (file: string) => {
    const dir = fresh("run");
    const r = makemore([
      "train",
      "-i",
      file,
      "-o",
      dir,
      "--max-steps",
      "20",
      "--batch-size",
      "8",
      "--num-samples",
      "1",
      "--quiet",
    ]);
    assert.equal(r.code, 0, r.stderr);
    return dir;
  };

  test("#11: new characters in the word file: every reader says it changed, in one line", () => {
    const file = fresh("words.txt");
    writeFileSync(file, `${words(300, 3).join("\n")}\n`);
    const dir = trainOn(file);
    writeFileSync(file, `${readFileSync(file, "utf8")}zoë\nstraße\n`);
    const before = fingerprint(dir);
    for (const args of [
      ["eval", dir],
      ["sample", dir],
      ["doctor", dir],
      ["fold", dir, "-o", fresh("f")],
      ["report", dir, "-o", fresh("r.html")],
      ["train", "--resume", dir],
    ])
      assertOneLineError(makemore(args), /has changed since the run (was trained|started)/, 1);
    assert.equal(fingerprint(dir), before);
  });

  test("#12: two lines swapped (same size, same words): resume says the SHA-256 differs", () => {
    const file = fresh("words.txt");
    const ws = words(300, 3);
    writeFileSync(file, `${ws.join("\n")}\n`);
    const dir = trainOn(file);
    [ws[3], ws[200]] = [ws[200], ws[3]];
    writeFileSync(file, `${ws.join("\n")}\n`);
    const before = fingerprint(dir);
    assertOneLineError(
      makemore(["train", "--resume", dir]),
      /has changed since the run started \(its SHA-256 differs from the one in config\.json\); resuming needs the same word file/,
      1,
    );
    assert.equal(fingerprint(dir), before);
  });
});

describe("finishing is resumable (row 4)", () => {
  test("#4: a run SIGKILLed just after its final checkpoint resumes to the same files, byte for byte", async () => {
    const file = fresh("words.txt");
    writeFileSync(file, `${words(400, 3).join("\n")}\n`);
    const whole = fresh("whole");
    const args = [
      "--max-steps",
      "30",
      "--batch-size",
      "8",
      "--diagnostics",
      "--calibrate",
      "--num-samples",
      "4",
      "--quiet",
    ];
    const r = makemore(["train", "-i", file, "-o", whole, ...args]);
    assert.equal(r.code, 0, r.stderr);
    // the same run, sent a real SIGKILL at the moment just after its final checkpoint: the
    // test hook makes the process say when it is there and wait (src/io/runfiles.ts)
    const killed = fresh("killed");
    const held = await makemoreHeld(
      ["train", "-i", file, "-o", killed, ...args],
      { MAKEMORE_TEST_HOLD: "final-checkpoint" },
      /test hold: \d+ is waiting after the final checkpoint/,
    );
    assert.equal(held.signal, "SIGKILL");
    const state = JSON.parse(readFileSync(join(killed, "state.json"), "utf8"));
    assert.equal(state.finished, false, "killed before the run was marked finished");
    assert.equal(typeof state.splitLosses.val, "number", "after the evaluation was saved");
    for (const f of ["samples.txt", "samples.json", "findings.json"])
      assert.equal(existsSync(join(killed, f)), false, `${f} not written yet`);
    const again = makemore(["train", "--resume", killed, "--quiet"]);
    assert.equal(again.code, 0, again.stderr);
    for (const f of [
      "checkpoint.safetensors",
      "state.json",
      "metrics.jsonl",
      "diagnostics.jsonl",
      "samples.txt",
      "samples.json",
      "findings.json",
    ])
      assert.ok(readFileSync(join(killed, f)).equals(readFileSync(join(whole, f))), f);
    assertOneLineError(makemore(["train", "--resume", killed]), /already finished/, 1);
  });
});
