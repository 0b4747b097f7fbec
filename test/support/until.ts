/**
 * Polling waits for the tests that drive a child process or a page: `until` returns f's first
 * truthy value, checking every 50 ms, and fails with "timed out waiting for <what>" after `ms`.
 * The limit bounds a hang; it asserts no speed (a loaded machine may take minutes).
 */
import assert from "node:assert/strict";

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function until<T>(what: string, f: () => T | Promise<T>, ms = 120_000): Promise<NonNullable<T>> {
  const t0 = Date.now();
  for (;;) {
    const v = await f();
    if (v) return v as NonNullable<T>;
    if (Date.now() - t0 > ms) assert.fail(`timed out waiting for ${what}`);
    await sleep(50);
  }
}
