/**
 * Shared by the robustness tests: run the CLI as a user would (a child process), fingerprint a
 * run directory, and check the one-line error contract (one `makemore: error:` line, a non-zero
 * exit, no stack trace).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface CliResult {
  code: number;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** `makemore ...args` in a child process (cwd: the checkout). */
export function makemore(
  args: string[],
  opts: { input?: string | Uint8Array; timeout?: number; env?: NodeJS.ProcessEnv } = {},
): CliResult {
  const r = spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "src/cli/main.ts"), ...args], {
    cwd: ROOT,
    encoding: "utf8",
    input: opts.input,
    timeout: opts.timeout ?? 120_000,
    env: opts.env ?? process.env,
    maxBuffer: 64 * 1024 * 1024,
  });
  return { code: r.status ?? -1, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** Every entry under `dir` with its size, mtime and contents: equal strings mean nothing changed. */
export function fingerprint(dir: string): string {
  let names: string[];
  try {
    names = readdirSync(dir, { recursive: true }).map(String).sort();
  } catch {
    return "<absent>";
  }
  return names
    .map((f) => {
      const s = statSync(join(dir, f));
      return `${f}:${s.size}:${s.mtimeMs}:${s.isFile() ? readFileSync(join(dir, f)).toString("base64") : "d"}`;
    })
    .join("\n");
}

/**
 * The error contract: exit `code` (default: any non-zero), stderr is exactly one line
 * `makemore: error: ...` matching `re`, nothing that looks like a stack trace. Returns the line.
 */
export function assertOneLineError(r: CliResult, re: RegExp, code?: number): string {
  const detail = `exit ${r.code} signal ${r.signal}\nstderr: ${r.stderr}\nstdout: ${r.stdout.slice(-2000)}`;
  if (code === undefined) assert.ok(r.code > 0 && r.code !== 70, detail);
  else assert.equal(r.code, code, detail);
  const lines = r.stderr.split("\n").filter((l) => l.length > 0);
  assert.equal(lines.length, 1, detail);
  assert.match(lines[0], /^makemore: error: /, detail);
  assert.doesNotMatch(r.stderr, /internal error|\n\s+at |Error: .*\n/, detail);
  assert.match(lines[0], re, detail);
  return lines[0];
}
