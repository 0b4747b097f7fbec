/**
 * The headless Chromium of the browser tests: Debian's chromium (or CHROMIUM_PATH) driven by
 * playwright-core, launched once per test file and closed after it. Chromium missing is a
 * failure, not a skip: CI installs it (apt-get install chromium).
 */
import { existsSync } from "node:fs";
import { after } from "node:test";
import { type Browser, chromium } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

let browserP: Promise<Browser> | undefined;

/** The file's browser; the first call launches it (call it early, so tests don't wait for it). */
export function browser(): Promise<Browser> {
  if (!existsSync(CHROMIUM))
    return Promise.reject(
      new Error(
        `the browser tests need Chromium at ${CHROMIUM}: install it (Debian/Ubuntu: apt-get install -y chromium) or set CHROMIUM_PATH`,
      ),
    );
  browserP ??= chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  return browserP;
}

after(async () => {
  if (browserP) await (await browserP).close();
});
