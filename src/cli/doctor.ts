import { checkMakemore, checkModel, formatFinding, sortFindings } from "../diagnostics/doctor.ts";
import type { Finding } from "../diagnostics/types.ts";
import { UserError } from "../errors.ts";
import { diagnoseRun, loadRunData } from "../io/run.ts";
import { readWordFile } from "../io/wordfile.ts";
import { buildFromSpec } from "../models/index.ts";
import { Generator } from "../random/generator.ts";
import { configForWords } from "../train/session.ts";
import { parse } from "./args.ts";
import { configFromFlags, MODEL_FLAGS, TRAIN_OPTIONS } from "./flags.ts";

export const DOCTOR_HELP = `usage: makemore doctor [RUN_DIR] [options]

Check a network's health the way the lecture teaches: the initial loss against -ln(1/V),
saturated tanh units, dead units, activations and gradients shrinking or growing with depth,
grad:data ratios, update:data ratios against 1e-3, BatchNorm behaviour and running statistics,
and the train/val gap. Every finding gives the measured number, why it matters and a fix.

  RUN_DIR            check a run: its current weights and its training history
  (no RUN_DIR)       check a freshly initialised model, described by the train flags:
                     --type, --n-embd, --n-hidden, --depth, --batchnorm, --nonlinearity,
                     --gain, --last-layer-scale, --zero-init, --bias, --bn-eps, --bn-momentum,
                     --seed, -i/--input-file, --block-size, --batch-size, --max-steps
      --strict       exit with status 1 when there is an ERROR finding (for CI)
      --json         print JSON for scripts
  -h, --help         this help

Exit status: 0 whether or not there are findings (read them, or use --json), or with --strict
1 when a finding is an ERROR; 2 for bad usage.`;

export function doctorCommand(argv: string[]): number {
  const { values: v, positionals } = parse(
    "doctor",
    argv,
    { ...TRAIN_OPTIONS, json: { type: "boolean" }, strict: { type: "boolean" } },
    true,
  );
  if (v.help) {
    console.log(DOCTOR_HELP);
    return 0;
  }
  if (positionals.length > 1) throw new UserError("makemore doctor takes at most one run directory", 2);
  // only the flags that describe a model (and --json) mean anything here: refuse the rest
  const allowed =
    positionals.length === 1
      ? ["json", "strict", "help"]
      : [
          ...MODEL_FLAGS,
          "batch-size",
          "max-steps",
          "learning-rate",
          "warmup-steps",
          "optimizer",
          "json",
          "strict",
          "help",
        ];
  const ignored = Object.keys(v).filter((k) => v[k] !== undefined && !allowed.includes(k));
  if (ignored.length) {
    const why =
      positionals.length === 1
        ? "a run directory describes its own model"
        : "doctor checks a model at initialization";
    throw new UserError(`--${ignored.join(", --")} does not apply to makemore doctor (${why})`, 2);
  }
  let findings: Finding[];
  let subject: string;
  let notes: string[] = [];
  if (positionals.length === 1) {
    ({ subject, findings, notes } = diagnoseRun(positionals[0]));
  } else {
    const request = configFromFlags(v);
    const file = readWordFile(request.inputFile);
    const config = configForWords(request, file.words);
    const data = loadRunData(config, file);
    const g = new Generator().manualSeed(config.seed);
    const model = buildFromSpec(config.model, g);
    findings = [
      ...checkModel(model, data.train, g, {
        batchSize: config.train.batchSize,
        maxSteps: config.train.maxSteps < 0 ? 1e9 : config.train.maxSteps,
      }),
      ...checkMakemore(model, data.train, g, { step: 0, train: config.train }),
    ];
    subject = `${config.model.type} at initialization (seed ${config.seed}, ${model.numParameters()} parameters)`;
  }
  findings = sortFindings(findings);
  // --strict: an exit status CI can use
  const code = v.strict === true && findings.some((f) => f.severity === "error") ? 1 : 0;
  if (v.json) {
    console.log(JSON.stringify({ subject, findings, notes }, null, 2));
    return code;
  }
  console.log(`doctor: ${subject}`);
  if (findings.length === 0)
    console.log(notes.length ? "no problems found in what could be checked" : "no problems found");
  for (const f of findings) console.log(formatFinding(f));
  for (const n of notes) console.log(`note: ${n}`);
  return code;
}
