/**
 * What the CLI fuzz files share (test/fuzz-cli.test.ts, test/fuzz-serve.test.ts): a seeded draw,
 * running a command in this process with its output captured, a small run to mutate and the
 * mutations. Each fuzz file is its own process: a command's captured stdout must never swallow
 * another test's report, so each file holds one test.
 */
import assert from "node:assert/strict";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { UserError } from "../../src/errors.ts";
import { Generator } from "../../src/random/generator.ts";

export const tmp = mkdtempSync(join(tmpdir(), "makemore-fuzz-cli-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

let g = new Generator().manualSeed(15);
/** Reseed the draw (each file has its seed; a failure names its case, the seed reproduces it). */
export function seed(s: number): void {
  g = new Generator().manualSeed(s);
}
export const int = (n: number) => g.nextU32() % n;
export const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;

/**
 * Run a command in this process with its output captured; what main() would make of it. A command
 * that prints `serving` (a URL it listens on) gets `whileServing(url)` run against it, then the
 * SIGINT it waits for; one that neither ends nor serves within 30 s is an internal error (a hang).
 */
export async function run(
  cmd: (argv: string[]) => number | Promise<number>,
  argv: string[],
  serve?: { serving: RegExp; whileServing: (url: string) => Promise<void> },
): Promise<{ code: number; out: string; error: string | null; internal: unknown }> {
  const saved = {
    log: console.log,
    error: console.error,
    out: process.stdout.write,
    err: process.stderr.write,
  };
  let out = "";
  const sink = (...a: unknown[]) => {
    out += `${a.join(" ")}\n`;
  };
  console.log = sink;
  console.error = sink;
  process.stdout.write = ((s: string) => ((out += s), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => ((out += s), true)) as typeof process.stderr.write;
  let timer: NodeJS.Timeout | undefined;
  try {
    const before = process.listeners("SIGINT");
    const running = Promise.resolve().then(() => cmd(argv));
    const hang = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no exit and nothing served within 30 s: ${out}`)), 30_000);
    });
    if (serve) {
      // wait for the URL line (or the command's end), then use the server and stop it as Ctrl-C does
      let ended = false;
      const url = await Promise.race([
        running.then(() => null),
        hang,
        (async () => {
          while (!ended) {
            const m = serve.serving.exec(out);
            if (m) return m[1]!;
            await new Promise((r) => setTimeout(r, 20));
          }
          return null;
        })(),
      ]).finally(() => {
        ended = true; // stop looking for the URL line (a poll left running keeps the process alive)
      });
      if (url !== null) {
        await serve.whileServing(url);
        // Ctrl-C for the command alone: its own SIGINT listeners (the test runner has one too)
        for (const l of process.listeners("SIGINT")) if (!before.includes(l)) l("SIGINT");
      }
    }
    return { code: await Promise.race([running, hang]), out, error: null, internal: null };
  } catch (e) {
    if (e instanceof UserError) return { code: e.exitCode, out, error: e.message, internal: null };
    return { code: 70, out, error: null, internal: e };
  } finally {
    clearTimeout(timer);
    console.log = saved.log;
    console.error = saved.error;
    process.stdout.write = saved.out;
    process.stderr.write = saved.err;
  }
}

// ------------------------------------------------------------------ a small run to mutate

const words = Array.from(
  { length: 300 },
  (_, i) => `${"abcdefghij"[i % 10]}${"klmnopqrst"[(i * 7) % 10]}${"uvwxyz"[i % 6]}`,
);
export const wordFile = join(tmp, "words.txt");
writeFileSync(wordFile, `${words.join("\n")}\n`);
export const base = join(tmp, "base");

const junk: unknown[] = [null, "x", -1, 1e300, 1.5, [], {}, true, 0, "", "3", [1, 2], { a: 1 }];

/** A copy of the base run with 0-2 of its files damaged at random. */
export function mutatedRun(k: number, prefix = "case"): string {
  const dir = join(tmp, `${prefix}-${k}`);
  cpSync(base, dir, { recursive: true });
  for (let m = int(3); m > 0; m--) {
    const what = int(6);
    if (what === 0) {
      // a random field of config.json set to a junk value (unless an earlier mutation broke it)
      let c: any;
      try {
        c = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
      } catch {
        continue;
      }
      const paths: string[][] = [];
      const walk = (o: unknown, p: string[]) => {
        if (o && typeof o === "object")
          for (const [key, v] of Object.entries(o)) {
            paths.push([...p, key]);
            walk(v, [...p, key]);
          }
      };
      walk(c, []);
      const p = pick(paths);
      let o = c;
      for (const key of p.slice(0, -1)) o = o[key];
      o[p.at(-1)!] = pick(junk);
      writeFileSync(join(dir, "config.json"), JSON.stringify(c));
    } else if (what === 1) {
      const line = pick([
        "null",
        '{"step":"x"}',
        '{"step":1,"loss":"y"}',
        "[]",
        '{"step":-1}',
        '{"step":2,"ud":3}',
        "{",
      ]);
      writeFileSync(
        join(dir, "metrics.jsonl"),
        `${readFileSync(join(dir, "metrics.jsonl"), "utf8")}${line}\n`,
      );
    } else if (what === 2) {
      const f = join(dir, "checkpoint.safetensors");
      if (!existsSync(f)) continue; // removed by an earlier mutation
      const b = readFileSync(f);
      b[int(b.length)] ^= 1 << int(8);
      writeFileSync(f, b);
    } else if (what === 3) {
      const f = join(dir, pick(["checkpoint.safetensors", "config.json", "metrics.jsonl", "state.json"]));
      if (existsSync(f)) truncateSync(f, int(200));
    } else if (what === 4) {
      rmSync(join(dir, pick(["checkpoint.safetensors", "config.json", "metrics.jsonl", "samples.txt"])), {
        force: true,
      });
    } else {
      writeFileSync(join(dir, "findings.json"), pick(["null", "[1]", '[{"severity":"x"}]', "{}", "[]"]));
    }
  }
  return dir;
}

/**
 * Count a case's exit code; an internal error is collected (with its case number and argv, so the
 * seed reproduces it), a UserError must be one line and exit non-zero.
 */
export function record(
  k: number,
  name: string,
  argv: string[],
  r: { code: number; error: string | null; internal: unknown },
  counts: Record<string, number>,
  internal: string[],
): void {
  counts[`${name}:${r.code}`] = (counts[`${name}:${r.code}`] ?? 0) + 1;
  if (r.internal !== null)
    internal.push(
      `case ${k}: makemore ${name} ${JSON.stringify(argv)}: ${(r.internal as Error)?.stack ?? r.internal}`,
    );
  else if (r.error !== null) {
    assert.ok(
      !/[\n\r]/.test(r.error),
      `case ${k}: ${name} ${JSON.stringify(argv)}: not one line: ${r.error}`,
    );
    assert.ok(r.code > 0, `case ${k}: a UserError exits non-zero`);
  }
}
