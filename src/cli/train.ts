/**
 * `makemore train`: the lecture's training run from the command line.
 * With no flags: the BatchNorm MLP on the bundled names.txt, 200,000 steps, seed 2147483647.
 */

import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { type Dashboard, startDashboardWorker } from "../dashboard/server.ts";
import {
  checkBatchNormDrift,
  checkHistory,
  checkModel,
  formatFinding,
  sortFindings,
} from "../diagnostics/doctor.ts";
import { formatActivationTable, formatGradientTable, formatParameterTable } from "../diagnostics/format.ts";
import { retainLayerGrads, snapshot, updateRatios } from "../diagnostics/measure.ts";
import type { DiagnosticsSnapshot, MetricsLine } from "../diagnostics/types.ts";
import { UserError } from "../errors.ts";
import { writeFileAtomic } from "../io/atomic.ts";
import {
  absolutePath,
  appendLines,
  BUNDLED_NAMES,
  CONFIG_VERSION,
  type LoadedRun,
  loadData,
  loadRun,
  type RunConfig,
  type RunState,
  saveCheckpoint,
} from "../io/run.ts";
import { createRunDir, readJsonLines, type runPaths, writeJsonFile } from "../io/rundir.ts";
import { buildModel, type MLP, type ModelSpec, type ModelType, PRESETS, presetSpec } from "../models/mlp.ts";
import { Generator, type GeneratorState } from "../random/generator.ts";
import { AnomalyError, setDetectAnomaly } from "../tensor/tensor.ts";
import { calibrateBatchNorm, provenance, sampleWords, splitLoss } from "../train/evaluate.ts";
import {
  firstNonFinite,
  LECTURE_TRAIN,
  type StopReason,
  type TrainConfig,
  type TrainHooks,
  train,
  validateTrainConfig,
} from "../train/train.ts";
import { choice, invocation, num, parse } from "./args.ts";
import { Progress } from "./progress.ts";

export const TRAIN_HELP = `usage: makemore train [options]

Train a character-level MLP (the lecture "makemore part 3") and save the run.
With no options: the lecture's BatchNorm MLP on the bundled names.txt, 200,000 steps, seed 2147483647.

data
  -i, --input-file FILE     word list, one item per line, UTF-8 (default: bundled names.txt)
      --block-size N        context length in characters (default 3)
run directory
  -o, --work-dir DIR        where the run is saved (default runs/<date>-<type>)
      --overwrite           replace the run files in an existing work dir
      --resume DIR          continue the run in DIR from its last checkpoint (exact)
model
      --type NAME           ${PRESETS.join(" | ")} (default batchnorm)
      --n-embd N            embedding size per character (default 10)
      --n-hidden N          hidden width (default 200, 100 for deep-*)
      --depth N             hidden layers (custom only; default 5)
      --batchnorm KIND      none | torch | lecture | lecture-std (custom only; default none)
      --nonlinearity KIND   tanh | relu | none (custom only; default tanh)
      --gain X              hidden weight gain (custom only; default 5/3)
      --last-layer-scale X  scale of the output layer at init (custom only; default 0.1)
      --zero-init           all Linear weights start at zero (custom only)
optimisation
      --seed N              generator seed for init and minibatches (default 2147483647)
      --max-steps N         SGD steps (default 200000)
      --batch-size N        examples per step (default 32)
      --learning-rate X     learning rate before the decay (default 0.1)
      --lr-decay-step N     step where the learning rate drops (default 100000)
      --lr-decay-to X       learning rate after the drop (default 0.01)
diagnostics
      --diagnostics         record the lecture's diagnostics: update:data ratios every step,
                            activation/gradient/weight statistics and histograms at chosen steps;
                            print the lecture's tables and the doctor's findings at the end
      --diagnostics-every N snapshot interval (default: max(1000, max-steps / 100))
dashboard
      --dashboard           watch the run live in the browser (implies --diagnostics); the page
                            stays up after training until Ctrl-C
      --port N              dashboard port (default: a free one)
      --host ADDR           dashboard address (default 127.0.0.1; anything else is reachable
                            from other machines)
reporting
      --log-every N         print a line every N steps (default 10000)
      --checkpoint-every N  save a checkpoint every N steps (default 10000)
      --eval-every N        also measure train/val loss every N steps (default 0: only at the end)
      --calibrate           after training, set BatchNorm statistics from the whole training set
      --num-samples N       words to sample at the end (default 20)
      --quiet               no progress bar or log lines, only the summary
      --detect-anomaly      check every op for NaN/inf and name the first one that makes them
                            (slow: for debugging a run that diverges)
  -h, --help                this help`;

export const TRAIN_OPTIONS = {
  "input-file": { type: "string", short: "i" },
  "block-size": { type: "string" },
  "work-dir": { type: "string", short: "o" },
  overwrite: { type: "boolean" },
  resume: { type: "string" },
  type: { type: "string" },
  "n-embd": { type: "string" },
  "n-hidden": { type: "string" },
  depth: { type: "string" },
  batchnorm: { type: "string" },
  nonlinearity: { type: "string" },
  gain: { type: "string" },
  "last-layer-scale": { type: "string" },
  "zero-init": { type: "boolean" },
  seed: { type: "string" },
  "max-steps": { type: "string" },
  "batch-size": { type: "string" },
  "learning-rate": { type: "string" },
  "lr-decay-step": { type: "string" },
  "lr-decay-to": { type: "string" },
  "log-every": { type: "string" },
  "checkpoint-every": { type: "string" },
  "eval-every": { type: "string" },
  calibrate: { type: "boolean" },
  diagnostics: { type: "boolean" },
  "diagnostics-every": { type: "string" },
  dashboard: { type: "boolean" },
  port: { type: "string" },
  host: { type: "string" },
  "num-samples": { type: "string" },
  quiet: { type: "boolean" },
  "detect-anomaly": { type: "boolean" },
} as const;

const BUILDER_FLAGS = [
  "depth",
  "batchnorm",
  "nonlinearity",
  "gain",
  "last-layer-scale",
  "zero-init",
] as const;

function defaultWorkDir(type: string): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, "0");
  return `runs/${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}-${type}`;
}

/** Build the run config from flags (everything validated before any file is touched). */
export function configFromFlags(v: Record<string, string | boolean | undefined>): {
  config: Omit<RunConfig, "data">;
  inputFile: string;
  workDir: string;
} {
  const type = choice(v.type, "--type", PRESETS, "batchnorm") as ModelType;
  if (type !== "custom") {
    for (const f of BUILDER_FLAGS) {
      if (v[f] !== undefined)
        throw new UserError(`--${f} only applies to --type custom (the presets fix it)`, 2);
    }
  }
  const blockSize = num(v["block-size"], "--block-size", 3, { integer: true, min: 1, max: 64 });
  const base = presetSpec(type, 0, blockSize);
  const model: ModelSpec = {
    ...base,
    nEmbd: num(v["n-embd"], "--n-embd", base.nEmbd, { integer: true, min: 1, max: 4096 }),
    nHidden: num(v["n-hidden"], "--n-hidden", base.nHidden, { integer: true, min: 1, max: 65536 }),
    depth: num(v.depth, "--depth", base.depth, { integer: true, min: 0, max: 100 }),
    batchnorm: choice(
      v.batchnorm,
      "--batchnorm",
      ["none", "torch", "lecture", "lecture-std"] as const,
      base.batchnorm,
    ),
    nonlinearity: choice(
      v.nonlinearity,
      "--nonlinearity",
      ["tanh", "relu", "none"] as const,
      base.nonlinearity,
    ),
    gain: num(v.gain, "--gain", base.gain, {}),
    lastLayerScale: num(v["last-layer-scale"], "--last-layer-scale", base.lastLayerScale, {}),
    zeroInit: v["zero-init"] === true,
  };
  if (type === "custom") {
    model.bias = model.batchnorm === "none";
    model.outputBatchnorm = model.batchnorm !== "none";
  }
  const trainCfg: TrainConfig = {
    maxSteps: num(v["max-steps"], "--max-steps", LECTURE_TRAIN.maxSteps, { integer: true, min: 0, max: 1e9 }),
    batchSize: num(v["batch-size"], "--batch-size", LECTURE_TRAIN.batchSize, {
      integer: true,
      min: 1,
      max: 1e7,
    }),
    learningRate: num(v["learning-rate"], "--learning-rate", LECTURE_TRAIN.learningRate, {
      min: 0,
      exclusiveMin: true,
      max: 100,
    }),
    lrDecayStep: num(v["lr-decay-step"], "--lr-decay-step", LECTURE_TRAIN.lrDecayStep, {
      integer: true,
      min: 0,
    }),
    lrDecayTo: num(v["lr-decay-to"], "--lr-decay-to", LECTURE_TRAIN.lrDecayTo, {
      min: 0,
      exclusiveMin: true,
      max: 100,
    }),
  };
  const seed = num(v.seed, "--seed", 2147483647, { integer: true, min: 0, max: Number.MAX_SAFE_INTEGER });
  return {
    config: {
      version: CONFIG_VERSION,
      model,
      train: trainCfg,
      seed,
      logEvery: num(v["log-every"], "--log-every", 10000, { integer: true, min: 1 }),
      checkpointEvery: num(v["checkpoint-every"], "--checkpoint-every", 10000, { integer: true, min: 1 }),
      evalEvery: num(v["eval-every"], "--eval-every", 0, { integer: true, min: 0 }),
      calibrate: v.calibrate === true,
      numSamples: num(v["num-samples"], "--num-samples", 20, { integer: true, min: 0, max: 100000 }),
      diagnostics:
        v.diagnostics === true || v["diagnostics-every"] !== undefined || v.dashboard === true
          ? {
              every: num(v["diagnostics-every"], "--diagnostics-every", 0, { integer: true, min: 1 }),
              updateRatios: true,
            }
          : undefined,
    },
    inputFile: absolutePath(typeof v["input-file"] === "string" ? v["input-file"] : BUNDLED_NAMES),
    workDir: typeof v["work-dir"] === "string" ? v["work-dir"] : defaultWorkDir(type),
  };
}

export async function trainCommand(argv: string[]): Promise<number> {
  const { values: v } = parse("train", argv, TRAIN_OPTIONS);
  if (v.help) {
    console.log(TRAIN_HELP);
    return 0;
  }
  const quiet = v.quiet === true;
  let config: RunConfig;
  let model: MLP;
  let g: Generator;
  let startStep = 0;
  let paths: ReturnType<typeof runPaths>;
  let resumed: LoadedRun | null = null;

  // dashboard flags are checked before any file is touched
  if ((v.port !== undefined || v.host !== undefined) && v.dashboard !== true) {
    throw new UserError("--port and --host apply to the dashboard: add --dashboard", 2);
  }
  const dashboardPort = num(v.port, "--port", 0, { integer: true, min: 0, max: 65535 });
  const dashboardHost = typeof v.host === "string" ? v.host : undefined;
  let createdDir: string | null = null;

  if (typeof v.resume === "string") {
    // Resume: everything comes from the run directory; flags that would change the run are refused.
    const other = Object.keys(v).filter(
      (k) =>
        !["resume", "quiet", "help", "dashboard", "port", "host", "detect-anomaly"].includes(k) &&
        v[k] !== undefined,
    );
    if (other.length)
      throw new UserError(`--resume continues a run exactly as configured; drop --${other.join(", --")}`, 2);
    resumed = loadRun(v.resume);
    ({ config, model, paths } = resumed);
    if (resumed.state.finished)
      throw new UserError(`run ${v.resume} already finished (${resumed.state.step} steps)`);
    g = new Generator();
    try {
      g.setState(resumed.state.generator as GeneratorState);
    } catch {
      throw new UserError(
        `checkpoint ${paths.checkpoint} holds a corrupt generator state; the run cannot be resumed exactly`,
      );
    }
    startStep = resumed.state.step;
  } else {
    const parsed = configFromFlags(v);
    const data0 = loadData(parsed.inputFile, parsed.config.model.blockSize);
    const spec = { ...parsed.config.model, vocabSize: data0.vocab.size };
    config = {
      ...parsed.config,
      model: spec,
      data: {
        inputFile: parsed.inputFile,
        numWords: data0.words.length,
        vocab: data0.vocab.itos,
        blockSize: spec.blockSize,
        splitSeed: 42,
      },
    };
    validateTrainConfig(config.train, data0.train.X.shape[0]);
    if (!existsSync(parsed.workDir)) createdDir = parsed.workDir;
    paths = createRunDir(parsed.workDir, { overwrite: v.overwrite === true });
    g = new Generator().manualSeed(config.seed);
    model = buildModel(spec, g);
    writeJsonFile(paths.config, config);
  }

  const data = loadData(config.data.inputFile, config.data.blockSize, config.data.splitSeed);
  if (resumed) {
    // a resumed config comes from disk: check it as strictly as flags
    validateTrainConfig(config.train, data.train.X.shape[0]);
    if (data.words.length !== config.data.numWords) {
      throw new UserError(
        `${config.data.inputFile} has changed since the run started (${data.words.length} items, the run had ${config.data.numWords})`,
      );
    }
  }
  if (data.vocab.itos.join("") !== config.data.vocab.join("")) {
    throw new UserError(
      `${config.data.inputFile} has changed since the run started (its vocabulary differs)`,
    );
  }
  const log = new Progress({ total: config.train.maxSteps, startStep, quiet });
  const facts = [
    `data: ${config.data.inputFile} | ${data.words.length} items | vocabulary ${data.vocab.size} (boundary '${data.vocab.boundary}') | longest ${Math.max(...data.words.map((w) => Array.from(w).length))}`,
    `split (random.seed(${config.data.splitSeed})): train ${data.train.X.shape[0]} | val ${data.val.X.shape[0]} | test ${data.test.X.shape[0]} examples (block size ${config.data.blockSize})`,
    `model: ${config.model.type} | ${model.numParameters()} parameters | seed ${config.seed}`,
    `train: ${config.train.maxSteps} steps | batch ${config.train.batchSize} | lr ${config.train.lrDecayStep < config.train.maxSteps ? `${config.train.learningRate} -> ${config.train.lrDecayTo} at step ${config.train.lrDecayStep}` : `${config.train.learningRate} (its drop at step ${config.train.lrDecayStep} is past the last step)`}`,
    `run: ${paths.dir}${resumed ? ` (resuming at step ${startStep})` : ""}`,
  ];
  if (config.data.vocab[0] !== ".")
    facts.push(`note: the data contains '.', so '${config.data.vocab[0]}' marks word boundaries`);
  for (const f of facts) log.line(f);

  // Metrics: truncate anything logged after the checkpoint we resume from, then append in batches.
  if (resumed) truncateMetrics(paths.metrics, startStep);
  let pending: string[] = [];
  const flushMetrics = () => {
    appendLines(paths.metrics, pending);
    pending = [];
  };

  const diag = config.diagnostics;
  const snapEvery = diag ? diag.every || Math.max(1000, Math.floor(config.train.maxSteps / 100)) : 0;
  const diagPath = join(paths.dir, "diagnostics.jsonl");
  let lastSnapshot: DiagnosticsSnapshot | null = null;
  if (diag) {
    retainLayerGrads(model);
    if (resumed) truncateMetrics(diagPath, startStep);
  }

  // The dashboard serves the run directory from a worker thread (the loop below is synchronous);
  // the trainer only keeps the files fresh: metrics every 0.5 s, live.json every 2 s.
  let dashboard: Dashboard | null = null;
  if (v.dashboard === true) {
    try {
      dashboard = await startDashboardWorker({
        runDirs: [paths.dir],
        host: dashboardHost,
        port: dashboardPort,
      });
    } catch (e) {
      // leave no half-made run behind: remove what this command created
      if (createdDir) rmSync(createdDir, { recursive: true, force: true });
      throw new UserError(
        `cannot start the dashboard on port ${dashboardPort}: ${(e as Error).message.split("\n")[0]}`,
      );
    }
    console.log(`dashboard: ${dashboard.url}`);
  }
  const sets = {
    train: new Set(data.split.train),
    val: new Set(data.split.val),
    test: new Set(data.split.test),
  };
  const recent: MetricsLine[] = [];
  let lastFlush = performance.now();
  let lastLive = 0;
  const writeLive = (step: number) => {
    const words = sampleWords(model, data.vocab, {
      count: 10,
      generator: new Generator().manualSeed(config.seed + 10 + step),
    });
    const findings = sortFindings([
      ...checkModel(model, data.train, new Generator().manualSeed(config.seed)),
      ...checkHistory(recent),
    ]);
    writeJsonFile(join(paths.dir, "live.json"), {
      step,
      samples: words.map((word) => ({ word, source: provenance(word, sets) })),
      findings,
      stepsPerSecond: log.rate(step).perSecond,
      maxSteps: config.train.maxSteps,
      updatedAt: new Date().toISOString(),
    });
  };

  let stopRequested = false;
  const onSignal = () => {
    stopRequested = true;
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  let lastLoss = Number.NaN;
  const checkpoint = (step: number, finished: boolean, extra: Partial<RunState> = {}) => {
    flushMetrics();
    // never replace a good checkpoint by weights that have overflowed
    const bad = firstNonFinite(model);
    if (bad) {
      badParam = { name: bad, step };
      return;
    }
    saveCheckpoint(paths, model, { step, generator: g.getState(), finished, lastLoss, ...extra });
    lastGoodStep = step;
  };
  let badParam: { name: string; step: number } | null = null;
  let lastGoodStep = startStep;
  // a new run checkpoints its initial state at once: every run directory can be resumed
  if (!resumed) checkpoint(0, false);

  // The loop runs in time slices of ~50 ms and yields to the event loop in between, so that
  // Ctrl-C / SIGTERM handlers run promptly (a synchronous loop would never let them in).
  let sliceEnd = 0;
  const hooks: TrainHooks = {
    // logging, metrics, diagnostics, checkpoints and live samples only read the model
    readOnly: true,
    afterStep: ({ step, loss, lr }) => {
      lastLoss = loss;
      const done = step + 1;
      stepsDone = done;
      if (anomaly) {
        const bad = firstNonFinite(model);
        if (bad) throw new AnomalyError("sgd", "backward", `the SGD update made ${bad} non-finite`);
      }
      if (diag) {
        // the lecture's ud, after the update: log10(std(lr * grad) / std(data)) of the 2-d weights
        const ratios = updateRatios(model, lr, { weightsOnly: true });
        pending.push(`{"step":${step},"loss":${loss},"lr":${lr},"ud":${JSON.stringify(ratios)}}`);
        if (dashboard) {
          recent.push({ step, loss, lr, ud: ratios });
          if (recent.length > 1200) recent.splice(0, recent.length - 1000);
        }
        if (step % snapEvery === 0 || done === config.train.maxSteps) {
          lastSnapshot = snapshot(model, step, loss);
          appendLines(diagPath, [JSON.stringify(lastSnapshot)]);
        }
      } else pending.push(`{"step":${step},"loss":${loss},"lr":${lr}}`);
      if (step % config.logEvery === 0 || done === config.train.maxSteps) {
        const msPerStep = log.intervalMs(done);
        log.line(
          `step ${String(step).padStart(7)}/${config.train.maxSteps} | loss ${loss.toFixed(4)} | lr ${lr} | ${msPerStep.toFixed(2)} ms/step`,
        );
      }
      if (config.evalEvery > 0 && done % config.evalEvery === 0) {
        const tr = splitLoss(model, data.train);
        const va = splitLoss(model, data.val);
        pending.push(JSON.stringify({ step, train_loss: tr, val_loss: va }));
        log.line(`step ${String(step).padStart(7)} | train ${tr.toFixed(4)} | val ${va.toFixed(4)}`);
      }
      if (done % config.checkpointEvery === 0 && done < config.train.maxSteps) checkpoint(done, false);
      if (dashboard) {
        const now = performance.now();
        if (now - lastFlush > 500) {
          flushMetrics();
          lastFlush = now;
        }
        if (now - lastLive > 2000) {
          writeLive(done);
          lastLive = performance.now();
        }
      }
      log.tick(done, loss);
    },
    shouldStop: () => stopRequested || badParam !== null || performance.now() > sliceEnd,
  };
  let result: { step: number; reason: StopReason } = { step: startStep, reason: "done" };
  const anomaly = v["detect-anomaly"] === true;
  const prevAnomaly = setDetectAnomaly(anomaly);
  let stepsDone = startStep;
  try {
    for (;;) {
      sliceEnd = performance.now() + 50;
      result = train(model, data.train, config.train, g, hooks, result.step);
      if (result.reason !== "stopped" || stopRequested || badParam) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
  } catch (e) {
    if (!(e instanceof AnomalyError)) throw e;
    flushMetrics();
    await dashboard?.close();
    console.error(
      `makemore: error: anomaly at step ${stepsDone}: ${e.message}; training stopped and the last good checkpoint (step ${lastGoodStep}) was kept.`,
    );
    return 1;
  } finally {
    setDetectAnomaly(prevAnomaly);
  }
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  log.clear();

  const overflow = badParam as { name: string; step: number } | null; // set inside the hooks
  if (overflow) {
    flushMetrics();
    console.error(
      `makemore: error: the weights became non-finite (${overflow.name}) by step ${overflow.step}; training stopped and the last good checkpoint (step ${lastGoodStep}) was kept. Try a lower --learning-rate.`,
    );
    return 1;
  }
  if (result.reason === "stopped") {
    checkpoint(result.step, false);
    await dashboard?.close();
    console.error(
      `interrupted at step ${result.step}; checkpoint saved. Continue with: ${invocation()} train --resume ${paths.dir}`,
    );
    return 130;
  }
  if (result.reason === "nonfinite") {
    flushMetrics();
    const where = firstNonFiniteLayer(model);
    const param = firstNonFinite(model);
    console.error(
      `makemore: error: the loss became ${lastLossText(model)} at step ${result.step}${where}${param ? ` (${param} is not finite)` : ""}; training stopped and the last good checkpoint (step ${lastGoodStep}) was kept. Try a lower --learning-rate.`,
    );
    return 1;
  }

  if (config.calibrate) calibrateBatchNorm(model, data.train);
  const splitLosses = {
    train: splitLoss(model, data.train),
    val: splitLoss(model, data.val),
    test: splitLoss(model, data.test),
  };
  checkpoint(result.step, true, { splitLosses });
  const sampleCount = config.numSamples ?? 20;
  const samples = sampleWords(model, data.vocab, {
    count: sampleCount,
    generator: new Generator().manualSeed(config.seed + 10),
  });
  writeFileAtomic(paths.samples, samples.map((s) => `${s}\n`).join(""));
  const { perSecond } = log.rate(result.step);
  console.log(
    `train ${splitLosses.train.toFixed(4)} | val ${splitLosses.val.toFixed(4)} | test ${splitLosses.test.toFixed(4)}${config.calibrate ? " (BatchNorm calibrated)" : ""}`,
  );
  if (!quiet && samples.length) {
    console.log(
      `samples (seed ${config.seed + 10}; ${samples.filter((s) => provenance(s, sets) === "new").length} new):`,
    );
    for (const s of samples)
      console.log(
        `  ${s.padEnd(20)} ${provenance(s, sets) === "new" ? "" : `(in ${provenance(s, sets)})`}`.trimEnd(),
      );
  }
  if (diag) {
    const findings = sortFindings([
      ...checkModel(model, data.train, new Generator().manualSeed(config.seed)),
      ...checkHistory(readMetrics(paths.metrics), splitLosses),
      ...checkBatchNormDrift(model, data.train),
    ]);
    writeJsonFile(join(paths.dir, "findings.json"), findings);
    const snap = lastSnapshot as DiagnosticsSnapshot | null;
    if (!quiet && snap) {
      console.log(`\ndiagnostics at step ${snap.step} (forward: layer outputs)`);
      console.log(formatActivationTable(snap.activations));
      console.log("backward: gradients of layer outputs");
      console.log(formatGradientTable(snap.gradients));
      console.log("weights: gradient statistics and grad:data");
      console.log(formatParameterTable(snap.params));
      console.log(findings.length ? `doctor: ${findings.length} finding(s)` : "doctor: no problems found");
      for (const f of findings) console.log(formatFinding(f));
      console.log(`see the plots: ${invocation()} report ${paths.dir}`);
    }
  }
  console.log(`saved ${paths.dir} (${result.step - startStep} steps at ${perSecond.toFixed(0)} steps/s)`);
  if (dashboard) {
    writeLive(result.step);
    console.log(`training finished; the dashboard is still at ${dashboard.url} (Ctrl-C to exit)`);
    await new Promise<void>((resolve) => {
      process.once("SIGINT", () => resolve());
      process.once("SIGTERM", () => resolve());
    });
    await dashboard.close();
  }
  return 0;
}

function readMetrics(path: string): MetricsLine[] {
  try {
    return readJsonLines(path, "metrics").records as MetricsLine[];
  } catch {
    return [];
  }
}

function truncateMetrics(path: string, step: number): void {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return;
  }
  const keep = text.split("\n").filter((line) => {
    if (!line) return false;
    try {
      return JSON.parse(line).step < step;
    } catch {
      return false; // a torn last line from a crash
    }
  });
  writeFileAtomic(path, keep.length ? `${keep.join("\n")}\n` : "");
}

function lastLossText(model: MLP): string {
  const v = model.out?.storage.find((x) => !Number.isFinite(x));
  return v === undefined ? "not finite" : String(v);
}

/** The first layer (in forward order) whose output holds a NaN or an infinity. */
function firstNonFiniteLayer(model: MLP): string {
  const named: [string, { out: { storage: Float32Array } | null }][] = [
    ["embedding", model.embedding],
    ...model.layers.layers.map((l, i) => [`layer ${i} (${l.constructor.name})`, l] as [string, typeof l]),
  ];
  for (const [name, layer] of named) {
    const s = layer.out?.storage;
    if (s?.some((x) => !Number.isFinite(x))) return `; first non-finite values in the output of ${name}`;
  }
  return "";
}
