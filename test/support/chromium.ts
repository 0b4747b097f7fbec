/**
 * The headless Chromium of the browser tests: Debian's chromium (or CHROMIUM_PATH) driven by
 * playwright-core, launched once per test file and closed after it. Chromium missing is a
 * failure, not a skip: CI installs it (apt-get install chromium).
 */
import { existsSync } from "node:fs";
import { after } from "node:test";
import { type Browser, chromium, type Page } from "playwright-core";

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

/**
 * A new page of the file's browser that collects console errors, page errors, failed requests
 * and HTTP errors into `problems` (a test asserts it empty). Leaving a dashboard page cuts its
 * event stream (/api/events, net::ERR_ABORTED): that is by design, not a problem.
 */
export async function watchedPage(
  options: Parameters<Browser["newPage"]>[0],
): Promise<{ page: Page; problems: string[] }> {
  const page = await (await browser()).newPage(options);
  const problems: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console error: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("requestfailed", (r) => {
    if (r.url().endsWith("/api/events") && r.failure()?.errorText === "net::ERR_ABORTED") return;
    problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`);
  });
  page.on("response", (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`);
  });
  return { page, problems };
}
