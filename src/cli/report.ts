/**
 * `makemore report RUN_DIR`: plots (SVG + PNG) and one self-contained HTML report of a run.
 */

import { existsSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { Finding } from "../diagnostics/types.ts";
import { UserError } from "../errors.ts";
import { checkReplaceable } from "../io/atomic.ts";
import { printable } from "../io/describe.ts";
import { diagnoseRun } from "../io/run.ts";
import { RUN_FILE_NAMES, readJsonFile } from "../io/rundir.ts";
import { checkFindings } from "../io/runfiles.ts";
import { writeReport } from "../viz/report.ts";
import { num, onePositional, parse } from "./args.ts";

/** A file of a run directory (a name `createRunDir` owns, beside a config.json), report.html aside. */
function isRunFile(path: string): boolean {
  const name = basename(path);
  return (
    name !== "report.html" &&
    (RUN_FILE_NAMES as readonly string[]).includes(name) &&
    existsSync(join(dirname(path), "config.json"))
  );
}

export const REPORT_HELP = `usage: makemore report RUN_DIR [options]

Write the run's plots (RUN_DIR/plots/*.svg and *.png) and one self-contained HTML report
(RUN_DIR/report.html: inline charts, no network needed): loss curve, activation and gradient
histograms with the lecture's statistics, weight gradients and grad:data ratios, update:data
ratios over time, tanh saturation maps, health findings and samples. Charts need a run trained
with --diagnostics; what is missing is noted in the report.

options
  -o, --output FILE   write the HTML here instead of RUN_DIR/report.html
      --step N        show the diagnostics snapshot taken at step N (default: the last one)
  -h, --help          this help`;

const OPTIONS = {
  output: { type: "string", short: "o" },
  step: { type: "string" },
} as const;

export async function reportCommand(argv: string[]): Promise<number> {
  const { values: v, positionals } = parse("report", argv, OPTIONS, true);
  if (v.help) {
    console.log(REPORT_HELP);
    return 0;
  }
  const dir = onePositional("report", positionals, "run directory");
  const step = v.step === undefined ? undefined : num(v.step, "--step", 0, { integer: true, min: 0 });
  const out = typeof v.output === "string" ? v.output : undefined;
  // the report never replaces a run's own files (devices, FIFOs and links the writer refuses)
  if (out !== undefined && isRunFile(out))
    throw new UserError(`report --output ${printable(out)} is a run file; choose another path`, 2);
  // checked before the plots are drawn, so a refused output leaves the run as it was
  if (out !== undefined) checkReplaceable(out);
  // the doctor's findings: those training wrote (with --diagnostics), else a fresh check
  const findingsFile = join(dir, "findings.json");
  let findings: Finding[] | undefined;
  if (existsSync(findingsFile))
    findings = checkFindings(readJsonFile(findingsFile, "findings"), findingsFile);
  else if (existsSync(join(dir, "checkpoint.safetensors"))) findings = diagnoseRun(dir).findings;
  const result = await writeReport(dir, { step, outFile: out, findings });
  for (const n of result.notes) console.log(`note: ${n}`);
  for (const p of result.plots) console.log(`wrote ${p}`);
  console.log(`wrote ${result.report}`);
  return 0;
}
