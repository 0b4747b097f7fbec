import { join } from "node:path";
/**
 * `makemore train`: parse the flags, open the run directory (src/io/run.ts), run the training
 * session (src/train/session.ts) and print what it reports.
 * With no flags: the BatchNorm MLP on the bundled names.txt, 200,000 steps, seed 2147483647.
 */

import { rmSync } from "node:fs";
import { createServer } from "node:net";
import { type Dashboard, startDashboardWorker } from "../dashboard/server.ts";
import { formatFinding } from "../diagnostics/doctor.ts";
import { formatActivationTable, formatGradientTable, formatParameterTable } from "../diagnostics/format.ts";
import { UserError } from "../errors.ts";
import { osReason, printable } from "../io/describe.ts";
import { createRun, type OpenedRun } from "../io/run.ts";
import { existingRunFiles } from "../io/rundir.ts";
import { FileRunStore } from "../io/runfiles.ts";
import { DEFAULT_THREADS, setThreads } from "../io/threads.ts";
import { familyOf } from "../models/index.ts";
import { lossText, type SessionOutcome, TrainingSession } from "../train/session.ts";
import { invocation, num, parse } from "./args.ts";
import { configFromFlags, modelHelp, TRAIN_OPTIONS } from "./flags.ts";
import { Progress } from "./progress.ts";
import { bareResume, openResumeWithFlags, sampleOnly } from "./resume.ts";

export const TRAIN_HELP = `usage: makemore train [options]

Train a character-level language model (the lecture "makemore part 3" MLPs by default) and save the run.
With no options: the lecture's BatchNorm MLP on the bundled names.txt, 200,000 steps, seed 2147483647.

data
  -i, --input-file FILE     word list, one item per line, UTF-8 (default: bundled names.txt)
run directory
  -o, --work-dir DIR        where the run is saved (default runs/<date>-<type>)
      --overwrite           replace the run files in an existing work dir
      --resume DIR          continue the run in DIR from its last checkpoint (exact); a finished
                            run continues with a larger --max-steps. Also takes the learning-rate,
                            logging, diagnostics and dashboard flags (it says what changed); flags
                            that change the model are refused. makemore.py's --resume -o DIR works
      --sample-only         sample 50 words from the run in -o DIR (its best weights) and exit
model
${modelHelp()}
optimisation
      --seed N              generator seed for init and minibatches (default 2147483647; wavenet 42)
      --split KIND          lecture (random.seed(42), 80/10/10) | makemore (makemore.py's torch.randperm
                            under --seed, test min(1000, 10%), no val) | none (every word in train)
                            (default lecture; makemore.py's types: makemore)
      --max-steps N         SGD steps (default 200000; makemore.py's types: -1, until Ctrl-C,
                            which saves a checkpoint and prints the command that continues)
      --batch-size N        examples per step (default 32)
      --learning-rate X     learning rate before the decay (default 0.1)
      --lr-decay-step N     step where the learning rate drops (default 100000)
      --lr-decay-to X       learning rate after the drop (default 0.01; cosine: its floor)
      --optimizer KIND      sgd | adamw (default sgd; makemore.py's types: adamw, lr 5e-4,
                            betas (0.9, 0.99), eps 1e-8, batch 32)
  -w, --weight-decay X      AdamW's decoupled decay (default 0.01) or SGD's L2 term (default 0)
      --momentum X          SGD momentum (default 0: the lecture's plain update)
      --lr-schedule KIND    step | constant | cosine (default step; makemore.py's types: constant)
      --warmup-steps N      linear learning-rate warm-up from 0 (default 0)
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
      --log-every N         print a line every N steps (default 10000; makemore.py's types: 10, as
                            "step N | loss X | step time Yms")
      --checkpoint-every N  save a checkpoint every N steps (default 10000)
      --eval-every N        also measure train/val loss every N steps (default 0: only at the end;
                            makemore.py's types: 500, train and test as its evaluate(), keeping
                            the best weights by test loss in DIR/best.safetensors)
      --top-k K             sample among the K most likely characters (makemore.py's --top-k;
                            default -1: all)
      --sample-every N      print 10 samples (in train / in test / new) every N steps (default 0;
                            makemore.py's types: 200)
      --calibrate           after training, set BatchNorm statistics from the whole training set
      --num-samples N       words to sample at the end (default 20)
      --quiet               no progress bar or log lines, only the summary
      --detect-anomaly      check every op for NaN/inf and name the first one that makes them
                            (slow: for debugging a run that diverges)
speed
      --threads N           threads for the large matrix products (default ${DEFAULT_THREADS});
                            the results are bit-identical for every N
  -h, --help                this help`;

export async function trainCommand(argv: string[]): Promise<number> {
  const { values: v } = parse("train", bareResume(argv), TRAIN_OPTIONS);
  if (v.help) {
    console.log(TRAIN_HELP);
    return 0;
  }
  if (v["sample-only"] === true) return sampleOnly(v);
  const quiet = v.quiet === true;
  setThreads(num(v.threads, "--threads", DEFAULT_THREADS, { integer: true, min: 1, max: 16 }));
  // dashboard flags are checked before any file is touched
  if ((v.port !== undefined || v.host !== undefined) && v.dashboard !== true) {
    throw new UserError("--port and --host apply to the dashboard: add --dashboard", 2);
  }
  const port = num(v.port, "--port", 0, { integer: true, min: 0, max: 65535 });
  const host = typeof v.host === "string" ? v.host : undefined;
  // an empty address would bind every interface (and print http://:PORT/)
  if (host !== undefined && host.trim() === "")
    throw new UserError('--host needs an address (127.0.0.1, ::1, 0.0.0.0 for every interface), got ""', 2);
  // a busy port is found before anything is created or, with --overwrite, deleted
  if (v.dashboard === true && port !== 0) await checkPortFree(host ?? "127.0.0.1", port);

  let run: OpenedRun;
  if (typeof v.resume === "string") {
    // the model, data and optimizer come from the run directory; flags that would change them are
    // refused before anything is opened, the others (steps, learning rate, logging, diagnostics,
    // dashboard) are applied to its config and said
    run = openResumeWithFlags(v, quiet);
  } else {
    const request = configFromFlags(v);
    run = createRun(request, request.workDir, { overwrite: v.overwrite === true });
  }
  try {
    return await trainRun(run, v, { host, port, quiet });
  } finally {
    run.lock.release();
  }
}

/** Try to listen on host:port and close again: UserError if the dashboard could not bind it. */
async function checkPortFree(host: string, port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const server = createServer();
    server.once("error", (e: NodeJS.ErrnoException) =>
      reject(
        new UserError(
          `cannot start the dashboard on port ${port}: ${e.code === "EADDRINUSE" ? "the port is in use" : e.code === "EADDRNOTAVAIL" || e.code === "ENOTFOUND" ? `no such address ${printable(host)}` : osReason(e)}`,
        ),
      ),
    );
    server.listen(port, host, () => server.close(() => resolve()));
  });
}

async function trainRun(
  run: OpenedRun,
  v: Record<string, string | boolean | undefined>,
  { host, port, quiet }: { host: string | undefined; port: number; quiet: boolean },
): Promise<number> {
  const { config, paths } = run;

  // The dashboard serves the run directory from a worker thread (the loop is synchronous); the
  // session only keeps the files fresh: metrics every 0.5 s, live.json every 2 s.
  let dashboard: Dashboard | null = null;
  if (v.dashboard === true) {
    try {
      dashboard = await startDashboardWorker({ runDirs: [paths.dir], host, port });
    } catch (e) {
      // leave no half-made run behind: remove what this command created
      if (run.createdDir) rmSync(run.createdDir, { recursive: true, force: true });
      throw new UserError(
        `cannot start the dashboard on port ${port}: ${(e as Error).message.split("\n")[0]}`,
      );
    }
    console.log(`dashboard: ${dashboard.url}`);
  }

  // the progress display hears the session's events (it needs the start step the session knows)
  let log: Progress | null = null;
  const session = new TrainingSession({
    config,
    data: run.data,
    store: new FileRunStore(paths),
    resume: run.resume,
    events: { line: (text) => log?.line(printable(text)), step: (done, loss) => log?.tick(done, loss) },
    detectAnomaly: v["detect-anomaly"] === true,
    liveEveryMs: dashboard ? 2000 : 0,
    // metrics.jsonl at most 5 s stale, so `makemore dashboard RUN` follows a run started without
    // --dashboard, as TensorBoard follows a SummaryWriter (a resume cuts the log back to its checkpoint)
    flushEveryMs: dashboard ? 500 : 5000,
    yieldToHost: () => new Promise((resolve) => setImmediate(resolve)),
  });
  log = new Progress({ total: config.train.maxSteps, startStep: session.startStep, quiet });
  const stop = () => session.stop();
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  let outcome: SessionOutcome;
  try {
    outcome = await session.run();
  } catch (e) {
    // a failure stops everything: the dashboard's worker would keep the process alive
    await dashboard?.close();
    throw e;
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
    log.clear();
  }
  if (outcome.kind === "failed" && outcome.lastGoodStep === null && !run.resume) {
    // nothing resumable was made: leave no half-made run (config.json without a checkpoint)
    if (run.createdDir) rmSync(run.createdDir, { recursive: true, force: true });
    else
      for (const f of existingRunFiles(paths.dir))
        rmSync(join(paths.dir, f), { recursive: true, force: true });
  }
  const code = report(outcome, session, paths.dir, quiet);
  if (dashboard) {
    if (outcome.kind === "finished") {
      console.log(`training finished; the dashboard is still at ${dashboard.url} (Ctrl-C to exit)`);
      await new Promise<void>((resolve) => {
        process.once("SIGINT", () => resolve());
        process.once("SIGTERM", () => resolve());
      });
    }
    await dashboard.close();
  }
  return code;
}

/** Print how the session ended (makemore's summary); the exit code. */
function report(outcome: SessionOutcome, session: TrainingSession, dir: string, quiet: boolean): number {
  if (outcome.kind === "failed") {
    console.error(`makemore: error: ${outcome.message}`);
    return 1;
  }
  if (outcome.kind === "stopped") {
    console.error(
      `interrupted at step ${outcome.step}; checkpoint saved. Continue with: ${invocation()} train --resume ${dir}`,
    );
    return 130;
  }
  const { splitLosses: l, samples, findings, snapshot: snap } = outcome;
  const c = session.config;
  // makemore.py's split has no val set; its habits measure the losses as its evaluate() does
  const val = (c.data.split ?? "lecture") === "lecture" ? ` | val ${lossText(l.val)}` : "";
  console.log(
    `train ${lossText(l.train)}${val} | test ${lossText(l.test)}${c.calibrate ? " (BatchNorm calibrated)" : ""}${c.habits === "makemore" ? " (makemore.py's evaluate: up to 11 batches of 100 words)" : ""}`,
  );
  if (!quiet && samples.length) {
    console.log(
      `samples (seed ${outcome.sampleSeed}${familyOf(session.config.model.type).samplesContinueTraining ? ", continuing the training generator" : ""}; ${samples.filter((s) => s.source === "new").length} new):`,
    );
    for (const s of samples)
      console.log(
        `  ${printable(s.word).padEnd(20)} ${s.source === "new" ? "" : `(in ${s.source})`}`.trimEnd(),
      );
  }
  if (findings && !quiet) {
    // a counted model (bigram-counts) takes no steps: no snapshot, only the doctor
    if (snap) {
      console.log(`\ndiagnostics at step ${snap.step} (forward: layer outputs)`);
      console.log(formatActivationTable(snap.activations));
      console.log("backward: gradients of layer outputs");
      console.log(formatGradientTable(snap.gradients));
      console.log("weights: gradient statistics and grad:data");
      console.log(formatParameterTable(snap.params));
    }
    console.log(findings.length ? `doctor: ${findings.length} finding(s)` : "doctor: no problems found");
    for (const f of findings) console.log(formatFinding(f));
    console.log(`see the plots: ${invocation()} report ${printable(dir)}`);
  }
  console.log(
    `saved ${printable(dir)} (${outcome.step - session.startStep} steps at ${outcome.stepsPerSecond.toFixed(0)} steps/s)`,
  );
  return 0;
}
