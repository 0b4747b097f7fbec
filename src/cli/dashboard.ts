/**
 * `makemore dashboard RUN_DIR [RUN_DIR...]`: open runs in the browser. One run: its loss,
 * update ratios, histograms, saturation, findings and samples, live while it trains. Several:
 * a comparison page. Serves until Ctrl-C or SIGTERM.
 */

import { statSync } from "node:fs";
import { DEFAULT_HOST, DEFAULT_PORT, runsBelow, startDashboard } from "../dashboard/server.ts";
import { UserError } from "../errors.ts";
import { showPath } from "../io/describe.ts";
import { checkRunDir, isRunDir } from "../io/runfiles.ts";
import { num, parse } from "./args.ts";

const HELP = `usage: makemore dashboard RUN_DIR|FOLDER [...] [options]

Show runs in the browser, live while they train: loss, update:data ratios, activation and
gradient histograms, saturation maps, health findings and samples. With several run
directories, a comparison page: overlaid loss curves and a table of final split losses.
A FOLDER that is not a run stands for every run below it (makemore dashboard runs/), and
runs created below it later join the page within a few seconds.
Everything is served from this machine (no network needed). Ctrl-C stops it.

options
      --port N      port to listen on (default ${DEFAULT_PORT}; 0 picks a free one)
      --host HOST   address to listen on (default ${DEFAULT_HOST}: this machine only; another
                    address lets other machines read the runs, with no password)
  -h, --help        this help

example
  makemore train --diagnostics -o runs/bn &
  makemore dashboard runs/bn`;

/**
 * TensorBoard's habit, `dashboard runs/`: a folder that is not itself a run stands for every run
 * below it (up to 4 levels, in name order). A run directory stands for itself.
 */
export function expandRunDirs(dirs: readonly string[]): string[] {
  const isRun = isRunDir;
  const out: string[] = [];
  for (const dir of dirs) {
    let isDir = false;
    try {
      isDir = statSync(dir).isDirectory();
    } catch {}
    if (!isDir || isRun(dir)) {
      out.push(dir); // checkRunDir says what is wrong with it
      continue;
    }
    const found = runsBelow(dir);
    if (found.length === 0)
      throw new UserError(
        `${showPath(dir)} holds no runs (no folder below it has a config.json or metrics.jsonl)`,
      );
    out.push(...found);
  }
  return out;
}

/** Resolves on the first Ctrl-C or SIGTERM. */
function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (sig: NodeJS.Signals) => {
      process.off("SIGINT", on);
      process.off("SIGTERM", on);
      resolve(sig);
    };
    process.on("SIGINT", on);
    process.on("SIGTERM", on);
  });
}

export async function dashboardCommand(argv: string[]): Promise<number> {
  const { values: v, positionals } = parse(
    "dashboard",
    argv,
    { port: { type: "string" }, host: { type: "string" } },
    true,
  );
  if (v.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length === 0)
    throw new UserError("makemore dashboard needs at least one run directory (see --help)", 2);
  const port = num(v.port, "--port", DEFAULT_PORT, { integer: true, min: 0, max: 65535 });
  const host = v.host === undefined ? DEFAULT_HOST : String(v.host).trim();
  if (host === "") throw new UserError("--host must not be empty", 2);
  const runDirs = expandRunDirs(positionals);
  for (const dir of runDirs) checkRunDir(dir);

  // folders (not runs themselves) are rescanned: runs created below them later appear too
  const folders = positionals.filter((d) => !isRunDir(d));
  const dashboard = await startDashboard({ runDirs, host, port, folders });
  const what = runDirs.length === 1 ? showPath(runDirs[0]!) : `${runDirs.length} runs`;
  console.log(`dashboard for ${what}: ${dashboard.url}  (Ctrl-C to stop)`);
  await untilSignal();
  await dashboard.close();
  return 0;
}
