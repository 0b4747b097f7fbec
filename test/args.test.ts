/**
 * Argument habits a new user brings from other tools (issue 16, point 4): `-o=DIR`, negative
 * numbers after short flags, "did you mean" for misspelt flags and commands, one `makemore:`
 * prefix per error, and makemore.py's form without a subcommand.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { invocation, parse, suggest } from "../src/cli/args.ts";
import { expandRunDirs } from "../src/cli/dashboard.ts";
import { UserError } from "../src/errors.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), "makemore-args-"));

function makemore(...args: string[]) {
  const r = spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "src/cli/main.ts"), ...args], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 120_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const OPTIONS = {
  "work-dir": { type: "string", short: "o" },
  "num-samples": { type: "string", short: "n" },
  "n-hidden": { type: "string" },
  "n-embd": { type: "string" },
  "max-steps": { type: "string" },
  quiet: { type: "boolean" },
} as const;

function usageError(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof UserError, String(e));
    assert.equal(e.exitCode, 2);
    return e.message;
  }
  assert.fail("expected a UserError");
}

test("-o=DIR means -o DIR, and negative numbers are values of short and long flags", () => {
  assert.equal(parse("train", ["-o=/tmp/x"], OPTIONS).values["work-dir"], "/tmp/x");
  assert.equal(parse("train", ["-o", "=x"], OPTIONS).values["work-dir"], "=x");
  assert.equal(parse("sample", ["-n", "-1"], OPTIONS).values["num-samples"], "-1");
  assert.equal(parse("sample", ["--num-samples", "-1"], OPTIONS).values["num-samples"], "-1");
  assert.equal(parse("train", ["--max-steps", "-.5"], OPTIONS).values["max-steps"], "-.5");
  // after `--` everything is positional, as in every getopt-style parser
  assert.deepEqual(parse("x", ["--", "-o=y"], OPTIONS, true).positionals, ["-o=y"]);
});

test("a misspelt flag gets the nearest name; errors carry no doubled prefix", () => {
  assert.equal(
    usageError(() => parse("train", ["--n-hiden", "5"], OPTIONS)),
    "unknown option --n-hiden; did you mean --n-hidden? (see makemore train --help)",
  );
  assert.match(
    usageError(() => parse("train", ["--max-step=5"], OPTIONS)),
    /did you mean --max-steps\?/,
  );
  assert.match(
    usageError(() => parse("train", ["--nembd", "5"], OPTIONS)),
    /did you mean --n-embd\?/,
  );
  // nothing close: no guess
  assert.equal(
    usageError(() => parse("train", ["--frobnicate"], OPTIONS)),
    "unknown option --frobnicate (see makemore train --help)",
  );
  assert.equal(
    usageError(() => parse("train", ["--max-steps"], OPTIONS)),
    "--max-steps needs a value (see makemore train --help)",
  );
  assert.equal(suggest("trian", ["train", "sample", "eval"]), "train");
  assert.equal(suggest("xyz", ["train", "sample", "eval"]), null);
  assert.equal(suggest("samp", ["train", "sample", "eval"]), "sample");
});

test("the hint's command is the invocation the user typed", () => {
  const cwd = process.cwd();
  assert.equal(invocation(`${cwd}/dist/cli/main.js`, {}, []), "node dist/cli/main.js");
  assert.equal(
    invocation("/usr/lib/node_modules/makemore-ts/dist/cli/main.js", {}, []),
    "node /usr/lib/node_modules/makemore-ts/dist/cli/main.js",
  );
  assert.equal(invocation("/usr/local/bin/makemore", {}, []), "makemore");
  assert.equal(invocation(`${cwd}/node_modules/.bin/makemore`, { npm_command: "exec" }, []), "npx makemore");
  assert.equal(
    invocation(`${cwd}/src/cli/main.ts`, {}, ["--import", "tsx", "--no-warnings"]),
    "node --import tsx src/cli/main.ts",
  );
});

test("command line: one prefix, did-you-mean, makemore.py's form runs train", () => {
  let r = makemore("train", "--n-hiden", "5");
  assert.equal(r.code, 2);
  assert.equal(
    r.stderr.trim(),
    "makemore: error: unknown option --n-hiden; did you mean --n-hidden? (see makemore train --help)",
  );
  r = makemore("trian");
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^makemore: error: unknown command 'trian'; did you mean 'train'\?/);
  r = makemore("sample", "-n", "-1", "no-such-run");
  assert.equal(r.code, 2);
  assert.equal(r.stderr.trim(), "makemore: error: --num-samples must be at least 1, got -1");

  // makemore.py's `-i FILE -o DIR` with no command: trains, and says so
  const out = join(tmp, "out");
  r = makemore("-i", "data/names.txt", `-o=${out}`, "--max-steps", "3", "--num-samples", "0");
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stderr.split("\n")[0],
    `makemore: no command given; running 'node --import tsx src/cli/main.ts train -i data/names.txt -o=${out} --max-steps 3 --num-samples 0'`,
  );
  assert.match(r.stdout, new RegExp(`run: ${out}\n`));
  assert.ok(existsSync(join(out, "checkpoint.safetensors")));
  // and `-o=DIR` made DIR, not a folder named `=DIR`
  assert.ok(!readdirSync(ROOT).some((f) => f.startsWith("=")));
});

test("dashboard FOLDER: every run below a folder, in name order (TensorBoard's logdir habit)", () => {
  const root = join(tmp, "runs");
  for (const d of ["b", "a", "group/c", "group/deeper/d", "notes"])
    mkdirSync(join(root, d), { recursive: true });
  for (const d of ["b", "a", "group/c"]) writeFileSync(join(root, d, "config.json"), "{}");
  writeFileSync(join(root, "group/deeper/d", "metrics.jsonl"), "");
  assert.deepEqual(
    expandRunDirs([root]),
    ["a", "b", "group/c", "group/deeper/d"].map((d) => join(root, d)),
  );
  // a run directory stands for itself; a folder without runs is one clear line
  assert.deepEqual(expandRunDirs([join(root, "a")]), [join(root, "a")]);
  assert.throws(() => expandRunDirs([join(root, "notes")]), /notes holds no runs/);
});
