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
  appendLines,
  type LoadedRun,
  loadRun,
  loadRunData,
  type RunConfig,
  type RunState,
  saveCheckpoint,
} from "../io/run.ts";
import { createRunDir, readJsonLines, type runPaths, writeJsonFile } from "../io/rundir.ts";
import { readWordFile } from "../io/wordfile.ts";
import { buildFromSpec, type LanguageModel } from "../models/index.ts";
import { MLP } from "../models/mlp.ts";
import type { Module } from "../nn/modules.ts";
import { Generator, type GeneratorState } from "../random/generator.ts";
import { AnomalyError, setDetectAnomaly } from "../tensor/tensor.ts";
import { calibrateBatchNorm, provenance, sampleWords, splitLoss } from "../train/evaluate.ts";
import {
  firstNonFinite,
  type StopReason,
  type TrainHooks,
  train,
  validateTrainConfig,
} from "../train/train.ts";
import { invocation, num, parse } from "./args.ts";
import { configForWords, configFromFlags, modelHelp, TRAIN_OPTIONS } from "./flags.ts";
import { Progress } from "./progress.ts";

export const TRAIN_HELP = `usage: makemore train [options]

Train a character-level language model (the lecture "makemore part 3" MLPs by default) and save the run.
With no options: the lecture's BatchNorm MLP on the bundled names.txt, 200,000 steps, seed 2147483647.

data
  -i, --input-file FILE     word list, one item per line, UTF-8 (default: bundled names.txt)
run directory
  -o, --work-dir DIR        where the run is saved (default runs/<date>-<type>)
      --overwrite           replace the run files in an existing work dir
      --resume DIR          continue the run in DIR from its last checkpoint (exact)
model
${modelHelp()}
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

export async function trainCommand(argv: string[]): Promise<number> {
  const { values: v } = parse("train", argv, TRAIN_OPTIONS);
  if (v.help) {
    console.log(TRAIN_HELP);
    return 0;
  }
  const quiet = v.quiet === true;
  let config: RunConfig;
  let model: LanguageModel;
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
    config = configForWords(parsed, readWordFile(parsed.inputFile).words);
    const data0 = loadRunData(config);
    validateTrainConfig(config.train, data0.train.X.shape[0]);
    if (!existsSync(parsed.workDir)) createdDir = parsed.workDir;
    paths = createRunDir(parsed.workDir, { overwrite: v.overwrite === true });
    g = new Generator().manualSeed(config.seed);
    model = buildFromSpec(config.model, g);
    writeJsonFile(paths.config, config);
  }

  const data = loadRunData(config);
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

  if (config.calibrate && model instanceof MLP) calibrateBatchNorm(model, data.train);
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

function lastLossText(model: LanguageModel): string {
  const v = model.out?.storage.find((x) => !Number.isFinite(x));
  return v === undefined ? "not finite" : String(v);
}

/** The first layer (in forward order) whose output holds a NaN or an infinity. */
function firstNonFiniteLayer(model: LanguageModel): string {
  const named: [string, { out: { storage: Float32Array } | null }][] = [
    ...(model instanceof MLP ? [["embedding", model.embedding] as [string, Module]] : []),
    ...model.diagnosticLayers().map((l, i) => [`layer ${i} (${l.constructor.name})`, l] as [string, Module]),
  ];
  for (const [name, layer] of named) {
    const s = layer.out?.storage;
    if (s?.some((x) => !Number.isFinite(x))) return `; first non-finite values in the output of ${name}`;
  }
  return "";
}
