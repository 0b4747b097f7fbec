/**
 * The CLI fuzz (issue 15, deliverable 7) for the commands that serve or run long: dashboard and
 * playground listen on --port 0, answer a few requests (each must be below 500) and are stopped
 * through the SIGINT listeners they add (a real SIGINT would stop the test runner too); bench and
 * experiment run with a step or two. Flags and run directories are fuzzed as in
 * test/fuzz-cli.test.ts; each case must end with an exit code or a one-line UserError, and has a
 * 30 s guard, so a hang is a failure, not a stuck suite.
 */
import assert from "node:assert/strict";
import { get } from "node:http";
import { join } from "node:path";
import { test } from "node:test";
import { runBench } from "../src/bench/bench.ts";
import { dashboardCommand } from "../src/cli/dashboard.ts";
import { experimentCommand } from "../src/cli/experiment.ts";
import { playgroundCommand } from "../src/cli/playground.ts";
import { trainCommand } from "../src/cli/train.ts";
import { base, int, mutatedRun, pick, record, run, seed, tmp, wordFile } from "./support/fuzz.ts";

seed(16);

/**
 * A few requests a browser (or a hostile page) would send; the server must answer each below 500.
 * One connection per request (agent: false), so no pooled socket outlives the server.
 */
async function poke(url: string): Promise<void> {
  for (const path of pick([
    ["/", "/api/info"],
    ["/api/info?x=1", "/%2e%2e/%2e%2e/etc/passwd"], // (the SSE stream: test/dashboard.test.ts)
    ["/api/runs/0/charts/loss", "/api/runs/99/charts/nope", "/api/compare/charts"],
    ["/app.js", "/index.html?autostart=1", "/%00"],
  ])) {
    const status = await new Promise<number>((resolve, reject) => {
      const req = get(new URL(path, url), { agent: false }, (res) => {
        res.resume().on("end", () => resolve(res.statusCode ?? 0));
      });
      req.on("error", reject);
      req.setTimeout(5000, () => req.destroy(new Error(`${path}: no answer in 5 s`)));
    });
    assert.ok(status > 0 && status < 500, `${path}: ${status}`);
  }
}

const SERVING_CASES = 40;

test(`fuzz the serving and long-running commands: ${SERVING_CASES} seeded cases`, async () => {
  const t = await run(trainCommand, [
    "-i",
    wordFile,
    "-o",
    base,
    "--max-steps",
    "20",
    "--batch-size",
    "8",
    "--diagnostics",
    "--num-samples",
    "2",
    "--quiet",
    "--overwrite",
  ]);
  assert.equal(t.code, 0, `${t.error} ${t.internal}`);
  const small = ["0", "1", "2", "-1", "x", "", "1.5", "NaN", "1e-40", "😀"];
  const internal: string[] = [];
  const counts: Record<string, number> = {};
  for (let k = 0; k < SERVING_CASES; k++) {
    const name = pick(["dashboard", "dashboard", "dashboard", "playground", "bench", "experiment"]);
    const argv: string[] = [];
    let cmd: (argv: string[]) => number | Promise<number>;
    let serve: Parameters<typeof run>[2];
    const flags = (table: Record<string, readonly string[]>) => {
      for (let f = int(3); f > 0; f--) {
        const flag = pick(Object.keys(table));
        argv.push(flag);
        if (table[flag]!.length) argv.push(pick(table[flag]!));
      }
    };
    if (name === "dashboard") {
      cmd = dashboardCommand;
      // one run, several, a folder of runs, a missing or mutated one
      for (let r = 1 + int(3); r > 0; r--)
        argv.push(pick([base, tmp, join(tmp, "missing"), mutatedRun(k * 10 + r, "serve"), wordFile]));
      argv.push("--port", "0");
      flags({
        "--port": ["0", "-1", "65536", "x", ""],
        "--host": ["127.0.0.1", "", " ", "localhost"],
        "--bogus": [],
      });
      serve = { serving: /dashboard for .*: (http:\/\/\S+)/, whileServing: poke };
    } else if (name === "playground") {
      cmd = playgroundCommand;
      argv.push("--port", "0");
      flags({ "--port": ["0", "-1", "x"], "--host": ["127.0.0.1", "localhost"], "--bogus": [] });
      serve = { serving: /playground: (http:\/\/\S+)/, whileServing: poke };
    } else if (name === "bench") {
      cmd = runBench;
      // our side only, one repetition of a step or two: the speed is not the point here
      argv.push("--suite", "lecture", "--no-torch", "--reps", "1", "--steps", "2", "--samples", "2");
      argv.push("--models", pick(["batchnorm", "deep-tanh", "batchnorm,deep-bn"]));
      flags({
        "--models": ["x", "", "batchnorm,,", "deep-bn"],
        "--reps": small,
        "--steps": small,
        "--samples": small,
        "--suite": ["x", "", "lecture"],
        "--seconds": small,
        "--threads": ["0", "x", "1,", "1"],
        "--rows": ["x", ""],
        "--json": [],
        "--bogus": [],
      });
    } else {
      cmd = experimentCommand;
      argv.push(pick(["gain-sweep", "zero-init", "lecture-init", "wavenet", "nope", ""]));
      argv.push("-i", int(6) === 0 ? pick(["/dev/null", join(tmp, "missing")]) : wordFile);
      argv.push("-o", int(4) === 0 ? mutatedRun(k, "exp") : join(tmp, `exp-${k}`), "--max-steps", "1");
      flags({
        "--max-steps": ["0", "-1", "x", "1.5", "2"],
        "--overwrite": [],
        "-i": [wordFile, ""],
        "--bogus": [],
      });
    }
    const r = await run(cmd, argv, serve);
    record(k, name, argv, r, counts, internal);
  }
  assert.deepEqual(internal, [], internal.join("\n\n"));
  // each command both served or finished (exit 0) and refused something
  for (const name of ["dashboard", "bench", "experiment"])
    assert.ok(counts[`${name}:0`], `${name} never ran to the end: ${JSON.stringify(counts)}`);
  assert.ok(Object.keys(counts).length >= 7, JSON.stringify(counts));
});
