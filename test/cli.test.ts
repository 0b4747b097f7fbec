/**
 * The command line end to end: train a small model in a temporary directory, sample, eval, fold;
 * and every bad input gets one clear line, a non-zero exit, no stack trace, and leaves an
 * existing run directory untouched.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), "makemore-cli-"));

function makemore(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "src/cli/main.ts"), ...args], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 120_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Every file under dir with its size and mtime: a fingerprint to prove nothing changed. */
function fingerprint(dir: string): string {
  return readdirSync(dir, { recursive: true })
    .map(String)
    .sort()
    .map((f) => {
      const s = statSync(join(dir, f));
      return `${f}:${s.size}:${s.mtimeMs}:${s.isFile() ? readFileSync(join(dir, f)).toString("base64").length : "d"}`;
    })
    .join("\n");
}

const run = join(tmp, "run");
const folded = join(tmp, "folded");

test("train a small BatchNorm MLP, then sample, eval and fold it", () => {
  const t = makemore("train", "-o", run, "--max-steps", "300", "--log-every", "100", "--num-samples", "5");
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stdout, /32033 items \| vocabulary 27/);
  assert.match(t.stdout, /train 182625 \| val 22655 \| test 22866/);
  assert.match(t.stdout, /12097 parameters/);
  // PyTorch's step-0 loss for seed 2147483647 (the lecture's 3.3239)
  assert.match(t.stdout, /step {7}0\/300 \| loss 3\.3239/);
  for (const f of ["config.json", "checkpoint.safetensors", "state.json", "metrics.jsonl", "samples.txt"]) {
    assert.ok(statSync(join(run, f)).size > 0, f);
  }
  const metrics = readFileSync(join(run, "metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.equal(metrics.filter((m) => m.loss !== undefined).length, 300);
  assert.equal(metrics[0].loss.toFixed(4), "3.3239");

  const s = makemore("sample", run, "-n", "5", "--json");
  assert.equal(s.code, 0, s.stderr);
  const samples = JSON.parse(s.stdout).samples;
  assert.equal(samples.length, 5);
  for (const { word, source } of samples) {
    assert.match(word, /^[a-z]*$/);
    assert.ok(["train", "val", "test", "new"].includes(source));
  }
  // the same seed gives the same words, and they are the ones train wrote
  assert.deepEqual(
    samples.map((x: { word: string }) => x.word),
    readFileSync(join(run, "samples.txt"), "utf8").trim().split("\n"),
  );

  const e = makemore("eval", run, "--json");
  assert.equal(e.code, 0, e.stderr);
  const losses = JSON.parse(e.stdout).losses;
  const state = JSON.parse(readFileSync(join(run, "state.json"), "utf8"));
  for (const k of ["train", "val", "test"]) {
    assert.ok(losses[k] > 2 && losses[k] < 3.3, `${k} ${losses[k]}`);
    assert.equal(losses[k], state.splitLosses[k]);
  }

  const f = makemore("fold", run, "-o", folded, "--json");
  assert.equal(f.code, 0, f.stderr);
  const fr = JSON.parse(f.stdout);
  assert.equal(fr.parameters, 12097 - 400 + 200); // gamma, beta gone; W1 gains a bias
  assert.ok(fr.maxDiff < 1e-5, `folded split losses differ by ${fr.maxDiff}`);
  const fe = makemore("eval", folded, "--json");
  assert.equal(fe.code, 0, fe.stderr);
  assert.ok(Math.abs(JSON.parse(fe.stdout).losses.val - losses.val) < 1e-5);
});

test("--help works for every command", () => {
  for (const cmd of [
    "train",
    "sample",
    "eval",
    "fold",
    "info",
    "doctor",
    "report",
    "experiment",
    "dashboard",
    "bench",
  ]) {
    const r = makemore(cmd, "--help");
    assert.equal(r.code, 0, cmd);
    assert.match(r.stdout, new RegExp(`usage: makemore ${cmd}`));
  }
  assert.match(makemore("--help").stdout, /commands/);
});

/** A bad input: exit non-zero, one line on stderr that mentions `pattern`, no stack trace. */
function rejects(args: string[], pattern: RegExp) {
  const r = makemore(...args);
  assert.notEqual(r.code, 0, `expected failure for ${args.join(" ")}`);
  const lines = r.stderr.trim().split("\n");
  assert.equal(lines.length, 1, `one line expected, got:\n${r.stderr}`);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(r.stderr, /\n\s+at |Error:|node:internal/);
}

test("bad input files: one clear line each", () => {
  const empty = join(tmp, "empty.txt");
  writeFileSync(empty, "");
  const blank = join(tmp, "blank.txt");
  writeFileSync(blank, "\n  \n\t\n");
  const binary = join(tmp, "binary.bin");
  writeFileSync(binary, Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 1, 2, 0, 0, 9]));
  const huge = join(tmp, "huge.txt");
  writeFileSync(huge, "");
  truncateSync(huge, 300 * 1024 * 1024); // sparse: 300 MiB on paper, no disk used
  const dir = join(tmp, "adir");
  mkdirSync(dir, { recursive: true });
  const o = join(tmp, "never");
  rejects(["train", "-i", join(tmp, "missing.txt"), "-o", o], /does not exist/);
  rejects(["train", "-i", empty, "-o", o], /is empty/);
  rejects(["train", "-i", blank, "-o", o], /no words, only blank lines/);
  rejects(["train", "-i", binary, "-o", o], /binary/);
  rejects(["train", "-i", dir, "-o", o], /is a directory/);
  rejects(["train", "-i", huge, "-o", o], /over the \d+-byte limit/);
  assert.throws(() => statSync(o), "no run directory was created for rejected input");
});

test("bad flags: one clear line each", () => {
  const o = join(tmp, "never2");
  rejects(["train", "--block-size", "0", "-o", o], /--block-size must be at least 1/);
  rejects(["train", "--learning-rate", "-0.1", "-o", o], /--learning-rate must be greater than 0/);
  rejects(["train", "--learning-rate", "fast", "-o", o], /--learning-rate must be a number/);
  rejects(["train", "--type", "lstm", "-o", o], /--type must be one of/);
  rejects(["train", "--max-steps", "1e12", "-o", o], /--max-steps must be at most/);
  rejects(["train", "--no-such-flag"], /unknown option --no-such-flag \(see makemore train --help\)/);
  rejects(["train", "--depth", "3", "-o", o], /only applies to --type custom/);
  rejects(["sample", join(tmp, "nope")], /does not exist/);
  rejects(["frobnicate"], /unknown command/);
  assert.throws(() => statSync(o));
});

test("a batch larger than the training set is refused before anything is written", () => {
  const small = join(tmp, "small.txt");
  writeFileSync(small, "ab\ncd\nef\ngh\nij\nkl\nmn\nop\nqr\nst\n");
  const o = join(tmp, "never3");
  rejects(
    ["train", "-i", small, "--batch-size", "64", "-o", o],
    /--batch-size 64 is larger than the training set \(24 examples\)/,
  );
  assert.throws(() => statSync(o));
});

test("an existing run directory is never overwritten", () => {
  const before = fingerprint(run);
  rejects(["train", "-o", run, "--max-steps", "10"], /already holds a run/);
  assert.equal(fingerprint(run), before);
});

test("a corrupt checkpoint is one clear line", () => {
  const broken = join(tmp, "broken");
  mkdirSync(broken);
  writeFileSync(join(broken, "config.json"), readFileSync(join(run, "config.json")));
  writeFileSync(
    join(broken, "checkpoint.safetensors"),
    readFileSync(join(run, "checkpoint.safetensors")).subarray(0, 100),
  );
  rejects(["sample", broken], /checkpoint .* is not a valid safetensors file/);
  writeFileSync(join(broken, "config.json"), "{ not json");
  rejects(["eval", broken], /not valid JSON/);
});

test("words with non-ASCII letters and a '.' in the data work", () => {
  const intl = join(tmp, "intl.txt");
  const words = ["zoë", "søren", "ñandú", "jean.luc", "émile", "åsa", "björn", "chloé", "renée", "josé"];
  writeFileSync(
    intl,
    `\uFEFF${Array.from({ length: 30 }, (_, i) => words[i % words.length]).join("\r\n")}\r\n`,
  );
  const o = join(tmp, "intl-run");
  const r = makemore(
    "train",
    "-i",
    intl,
    "-o",
    o,
    "--max-steps",
    "50",
    "--batch-size",
    "8",
    "--num-samples",
    "3",
    "--type",
    "deep-bn",
  );
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /boundary '\|'/);
  assert.match(r.stdout, /note: the data contains '\.', so '\|' marks word boundaries/);
  const cfg = JSON.parse(readFileSync(join(o, "config.json"), "utf8"));
  assert.ok(cfg.data.vocab.includes("ë") && cfg.data.vocab.includes("ñ"));
});

test("train --diagnostics, then report and doctor on the run", () => {
  const d = join(tmp, "diag");
  const t = makemore(
    "train",
    "-o",
    d,
    "--type",
    "deep-bn",
    "--diagnostics",
    "--max-steps",
    "120",
    "--diagnostics-every",
    "50",
    "--num-samples",
    "2",
  );
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stdout, /layer 2 \( {6}Tanh\): mean [+-]\d\.\d\d, std \d\.\d\d, saturated: \d+\.\d\d%/);
  assert.match(
    t.stdout,
    /weight {2}\(30, 100\) \| mean [+-]\d\.\d{6} \| std \d\.\d{6}e-\d\d \| grad:data ratio/,
  );
  const snaps = readFileSync(join(d, "diagnostics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.deepEqual(
    snaps.map((s) => s.step),
    [0, 50, 100, 119],
  );
  assert.equal(snaps[0].activations.length, 5); // five Tanh layers
  const first = JSON.parse(readFileSync(join(d, "metrics.jsonl"), "utf8").split("\n")[0]);
  assert.deepEqual(Object.keys(first.ud).length, 7); // C and the six Linear weights
  const r = makemore("report", d);
  assert.equal(r.code, 0, r.stderr);
  const html = readFileSync(join(d, "report.html"), "utf8");
  for (const section of ["loss", "update:data", "saturat", "grad:data"])
    assert.match(html, new RegExp(section, "i"));
  assert.doesNotMatch(html, /https?:\/\/(?!www\.w3\.org)/);
  assert.ok(statSync(join(d, "plots", "activations.png")).size > 5000);
  const doc = makemore("doctor", d, "--json");
  assert.equal(doc.code, 0, doc.stderr);
  const { findings } = JSON.parse(doc.stdout);
  // 120 steps with BatchNorm momentum 0.1: running statistics may still lag; whatever is found has a number, why and fix
  assert.ok(Array.isArray(findings));
  for (const f of findings) assert.ok(f.title && f.why && f.fix, JSON.stringify(f));
  // and on a known-bad model, the finding with its number
  const bad = makemore("doctor", "--type", "original", "--json");
  assert.equal(bad.code, 0, bad.stderr);
  const badFindings = JSON.parse(bad.stdout).findings;
  assert.ok(
    badFindings.some(
      (f: { id: string; measured: { loss: number } }) => f.id === "init-loss-high" && f.measured.loss > 27,
    ),
  );
  // --overwrite replaces the whole run, diagnostics included
  const o = makemore(
    "train",
    "-o",
    d,
    "--type",
    "deep-bn",
    "--max-steps",
    "20",
    "--overwrite",
    "--num-samples",
    "0",
  );
  assert.equal(o.code, 0, o.stderr);
  for (const f of ["diagnostics.jsonl", "findings.json"]) assert.throws(() => statSync(join(d, f)), f);
});

test("more refusals: experiments never write into a run, dashboard flags are checked first, data using every boundary symbol", () => {
  const before = fingerprint(run);
  rejects(["experiment", "zero-init", "-o", run, "--max-steps", "5"], /already holds a run or an experiment/);
  assert.equal(fingerprint(run), before);
  const o = join(tmp, "never4");
  rejects(["train", "-o", o, "--dashboard", "--port", "99999"], /--port must be at most 65535/);
  rejects(["train", "-o", o, "--port", "8000"], /--port and --host apply to the dashboard/);
  rejects(
    ["doctor", run, "--type", "original"],
    /--type does not apply to makemore doctor \(a run directory describes its own model\)/,
  );
  assert.throws(() => statSync(o));
  const all = join(tmp, "allboundary.txt");
  writeFileSync(
    all,
    ". | # ~ ^ $ _ · ¶ ␀"
      .split(" ")
      .map((c) => `a${c}b`)
      .join("\n"),
  );
  rejects(["train", "-i", all, "-o", o], /uses every candidate boundary symbol/);
});
