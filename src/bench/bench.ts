/**
 * `npm run bench` (and `makemore bench`): makemore.ts against PyTorch on this CPU, same workloads,
 * one core each, interleaved in one run.
 *
 * Models: the lecture's BatchNorm MLP ("batchnorm", 12,097 parameters), the 6-layer BatchNorm net
 * ("deep-bn", 47,024) and the 6-layer tanh net ("deep-tanh", 46,497). Workloads, per model:
 *   train   steps/s of the lecture's loop at batch 32 (minibatch draw, forward, backward, SGD)
 *   eval    ms to evaluate the whole training split (182,625 rows) in eval mode (`split_loss`)
 *   sample  names/s of the lecture's sampling loop (softmax + torch.multinomial per character)
 * and the peak resident memory of each process.
 *
 * The PyTorch side is scripts/torch/bench_torch.py (the lecture's code, torch.set_num_threads(1)),
 * run by /usr/bin/python3 as a worker that answers one JSON command per line, so both sides take
 * turns on the same machine: every repetition runs each workload on both sides back to back
 * (alternating who goes first) and the figures are medians over repetitions. PyTorch runs with
 * Debian's OpenBLAS when it is installed (LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp,
 * OPENBLAS_NUM_THREADS=OMP_NUM_THREADS=1); the report names the BLAS library the process mapped and
 * the GFLOP/s of a 256x256 matmul, which tells OpenBLAS (~100) from the reference BLAS (~6) apart.
 * Our side runs on the Node main thread.
 *
 *   npm run bench                       # all models, 5 repetitions, with PyTorch when available
 *   npm run bench -- --reps 3 --models batchnorm --json
 */

import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { type LectureData, parseLines, prepareData } from "../data/dataset.ts";
import { updateRatios } from "../diagnostics/measure.ts";
import { UserError } from "../errors.ts";
import { setThreads } from "../io/threads.ts";
import { buildModel, type MLP, presetSpec } from "../models/mlp.ts";
import { Generator } from "../random/generator.ts";
import { fmaActive } from "../tensor/wasm/load.ts";
import { sampleWords, splitLoss } from "../train/evaluate.ts";
import { LECTURE_TRAIN, train } from "../train/train.ts";
import { blasWarning } from "./machine.ts";
import { formatModels, MODEL_ROWS, type ModelsResult, parseModelRows, runModels } from "./models.ts";
import { formatScaling, median, parseRows, runScaling, SCALING_ROWS, type ScalingResult } from "./scaling.ts";

export const BENCH_MODELS = ["batchnorm", "deep-bn", "deep-tanh"] as const;
type BenchModel = (typeof BENCH_MODELS)[number];
type Workload = "train" | "eval" | "sample";
type Side = "ours" | "torch";

const SEED = 2147483647;
const PYTHON = "/usr/bin/python3";
const OPENBLAS_DIR = "/usr/lib/x86_64-linux-gnu/openblas-openmp";

const HELP = `usage: makemore bench [options]

Training steps/s, full-split evaluation time, sampled names/s and peak memory of the lecture's
models, here and (when ${PYTHON} has torch) in PyTorch on one thread, interleaved in one run.

Then the scaling rows (src/bench/scaling.ts): training steps/s of the lecture models and of
depth-2 BatchNorm nets up to H 1024 / batch 256, ours against idiomatic PyTorch (torch.nn,
optim.SGD) at each thread count, GFLOP/s per row.

Then the model rows (src/bench/models.ts): training steps/s of the WaveNet against the part 5
notebook's code and of makemore.py's six models against makemore.py's own loop (AdamW, batch 32),
at each thread count on both sides.

Then the playground row (scripts/bench-playground.ts, in a checkout with Chromium): the lecture's
BatchNorm MLP trained by the browser playground in headless Chromium against the same session in
Node, steps/s on the wall clock and per CPU-second, and the page's main-thread long tasks.

options
  --suite LIST      comma-separated from lecture, scaling, models, playground; or all (default all)
  --reps N          repetitions; figures are medians (default 5; scaling: 3)
  --models LIST     lecture suite: comma-separated, from ${BENCH_MODELS.join(", ")} (default: all)
  --rows LIST       scaling suite: comma-separated, from ${SCALING_ROWS.map((r) => r.name).join(", ")}
                    (default: all)
  --model-rows LIST models suite: comma-separated, from ${MODEL_ROWS.join(", ")} (default: all)
  --threads LIST    scaling and models suites: thread counts, both sides (default 1,2)
  --seconds S       scaling and models suites: seconds per measurement (default 0.5; models 1)
  --steps N         training steps per repetition for the BatchNorm MLP (default 2000;
                    the 6-layer nets run half as many)
  --samples N       names sampled per repetition (default 100)
  --no-torch        skip PyTorch
  --json            print the results as JSON (one object) instead of tables`;

export interface BenchResult {
  meta: {
    node: string;
    cpu: string;
    reps: number;
    steps: Record<string, number>;
    samples: number;
    torch: null | { version: string; threads: number; blas: string; matmulGflops: number; reason?: string };
    torchSkipped?: string;
  };
  models: Record<
    string,
    {
      params: { ours: number; torch: number | null };
      train: Figures & { cpu: Figures };
      eval: Figures & { cpu: Figures };
      sample: Figures & { cpu: Figures; chars: { ours: number[]; torch: number[] } };
    }
  >;
  peakRss: { ours: number; torch: number | null };
  /**
   * The cost of watching: training steps/s without hooks and with the update:data ratios of every
   * step (what `train --diagnostics` adds each step), ours only, interleaved; `cost` = 1 - with/without.
   */
  watch: Record<string, { plain: number; withUpdateRatios: number; cost: number }>;
}

/** Medians of one metric per side; `ratio` = how many times faster ours is (> 1: ours faster). */
export interface Figures {
  unit: string;
  ours: number;
  torch: number | null;
  ratio: number | null;
  oursAll: number[];
  torchAll: number[];
}

// ---------------------------------------------------------------------------------------------
// The PyTorch worker

interface TorchAnswer {
  seconds?: number;
  loss?: number;
  chars?: number;
  maxrss?: number;
  error?: string;
  [k: string]: unknown;
}

class TorchWorker {
  private readonly proc;
  private readonly lines: AsyncIterator<string>;
  maxRss = 0;

  constructor(script: string) {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      OPENBLAS_NUM_THREADS: "1",
      OMP_NUM_THREADS: "1",
      MKL_NUM_THREADS: "1",
    };
    if (existsSync(OPENBLAS_DIR)) {
      env.LD_LIBRARY_PATH = [OPENBLAS_DIR, process.env.LD_LIBRARY_PATH].filter(Boolean).join(":");
    }
    this.proc = spawn(PYTHON, [script], { env, stdio: ["pipe", "pipe", "pipe"] });
    this.lines = createInterface({ input: this.proc.stdout })[Symbol.asyncIterator]();
    // keep the worker's last words (a missing torch shows up as an ImportError there)
    this.proc.stderr.on("data", (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-4000);
    });
    this.proc.stdin.on("error", () => {}); // a worker that died is reported by ask()
  }

  private stderr = "";

  async ask(cmd: Record<string, unknown>): Promise<TorchAnswer> {
    this.proc.stdin.write(`${JSON.stringify(cmd)}\n`);
    const next = await this.lines.next();
    if (next.done) {
      const last = this.stderr.trim().split("\n").pop() ?? "";
      throw new Error(`the PyTorch worker exited${last ? `: ${last}` : ""}`);
    }
    const answer = JSON.parse(next.value) as TorchAnswer;
    if (answer.error) throw new Error(`PyTorch worker: ${answer.error}`);
    if (typeof answer.maxrss === "number") this.maxRss = Math.max(this.maxRss, answer.maxrss);
    return answer;
  }

  close(): void {
    this.proc.stdin.end(`${JSON.stringify({ cmd: "quit" })}\n`);
  }
}

/** Why PyTorch cannot run here, or null when it can. */
function torchUnavailable(script: string): string | null {
  if (!existsSync(script)) return `${script} not found`;
  if (!existsSync(PYTHON)) return `${PYTHON} not found`;
  return null;
}

// ---------------------------------------------------------------------------------------------
// Our side

interface Ours {
  model: MLP;
  g: Generator;
  sampleGen: Generator;
}

function ourTrain(o: Ours, data: LectureData, steps: number): Timing {
  return timed(() => {
    train(o.model, data.train, { ...LECTURE_TRAIN, maxSteps: steps }, o.g);
    return undefined;
  });
}

/** Training with the lecture's per-step update:data ratios, as `train --diagnostics` records them. */
function ourTrainWatched(o: Ours, data: LectureData, steps: number): Timing {
  return timed(() => {
    train(o.model, data.train, { ...LECTURE_TRAIN, maxSteps: steps }, o.g, {
      readOnly: true,
      afterStep: ({ lr }) => {
        JSON.stringify(updateRatios(o.model, lr, { weightsOnly: true }));
      },
    });
    return undefined;
  });
}

function ourEval(o: Ours, data: LectureData): Timing {
  return timed(() => {
    splitLoss(o.model, data.train);
    return undefined;
  });
}

function ourSample(o: Ours, data: LectureData, count: number): Timing {
  return timed(() =>
    sampleWords(o.model, data.vocab, { count, generator: o.sampleGen }).reduce(
      (n, w) => n + [...w].length + 1,
      0,
    ),
  );
}

/** Wall and CPU seconds of one workload (and the characters it sampled, end tokens included). */
interface Timing {
  seconds: number;
  cpuSeconds: number;
  chars?: number;
}

function timed(run: () => number | undefined): Timing {
  const c0 = process.cpuUsage();
  const t = performance.now();
  const chars = run();
  const seconds = (performance.now() - t) / 1000;
  const c = process.cpuUsage(c0);
  return { seconds, cpuSeconds: (c.user + c.system) / 1e6, chars };
}

// ---------------------------------------------------------------------------------------------
// Run

function figures(unit: string, ours: number[], torch: number[], higherIsBetter: boolean): Figures {
  const o = median(ours);
  const t = torch.length ? median(torch) : null;
  return {
    unit,
    ours: o,
    torch: t,
    ratio: t === null ? null : higherIsBetter ? o / t : t / o,
    oursAll: ours,
    torchAll: torch,
  };
}

function parseList(v: string | undefined): BenchModel[] {
  if (v === undefined) return [...BENCH_MODELS];
  const names = v.split(",").map((s) => s.trim());
  for (const n of names) {
    if (!(BENCH_MODELS as readonly string[]).includes(n)) {
      throw new UserError(`--models: unknown model '${n}' (choose from ${BENCH_MODELS.join(", ")})`, 2);
    }
  }
  return names as BenchModel[];
}

function positiveInt(v: string | undefined, flag: string, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1)
    throw new UserError(`${flag} must be a positive whole number, got '${v}'`, 2);
  return n;
}

/** Run the benchmark with command-line arguments; returns the exit code. */
export async function runBench(argv: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        reps: { type: "string" },
        models: { type: "string" },
        suite: { type: "string" },
        rows: { type: "string" },
        "model-rows": { type: "string" },
        threads: { type: "string" },
        seconds: { type: "string" },
        steps: { type: "string" },
        samples: { type: "string" },
        "no-torch": { type: "boolean" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }));
  } catch (e) {
    throw new UserError(
      `makemore bench: ${(e as Error).message.split("\n")[0]} (see makemore bench --help)`,
      2,
    );
  }
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const SUITES = ["lecture", "scaling", "models", "playground"];
  const suiteArg = (values.suite as string | undefined) ?? "all";
  const suites = new Set(suiteArg === "all" ? SUITES : suiteArg.split(",").map((x) => x.trim()));
  for (const x of suites) {
    if (!SUITES.includes(x))
      throw new UserError(`--suite must be all or a list from ${SUITES.join(", ")}, got '${suiteArg}'`, 2);
  }
  const reps = positiveInt(values.reps as string | undefined, "--reps", 5);
  const models = parseList(values.models as string | undefined);
  const rows = parseRows(values.rows as string | undefined);
  const modelRows = parseModelRows(values["model-rows"] as string | undefined);
  const threads = ((values.threads as string | undefined) ?? "1,2")
    .split(",")
    .map((t) => positiveInt(t.trim(), "--threads", 1));
  const seconds = Number((values.seconds as string | undefined) ?? "0.5");
  const modelSeconds = values.seconds === undefined ? 1 : seconds;
  if (!(seconds > 0 && seconds <= 60))
    throw new UserError(`--seconds must be in (0, 60], got '${values.seconds}'`, 2);
  const baseSteps = positiveInt(values.steps as string | undefined, "--steps", 2000);
  const samples = positiveInt(values.samples as string | undefined, "--samples", 100);
  const json = values.json === true;
  const log = (s: string) => {
    if (!json) console.error(s);
  };
  const stepsOf = (m: BenchModel) => (m === "batchnorm" ? baseSteps : Math.max(1, baseSteps >> 1));

  const root = fileURLToPath(new URL("../..", import.meta.url));
  const words = parseLines(readFileSync(`${root}data/names.txt`, "utf8"));
  const torchOff = values["no-torch"] === true || !existsSync(PYTHON);
  const common = {
    threads,
    reps: values.reps === undefined ? 3 : reps,
    torch: !torchOff,
    python: PYTHON,
    openblasDir: OPENBLAS_DIR,
    root,
    words,
    setThreads: (n: number) => setThreads(n) === n,
    log,
  };
  const scaling: ScalingResult | null = suites.has("scaling")
    ? await runScaling({ ...common, rows, seconds })
    : null;
  const modelsResult: ModelsResult | null = suites.has("models")
    ? await runModels({ ...common, rows: modelRows, seconds: modelSeconds })
    : null;
  const playground = suites.has("playground") ? await playgroundRow(log) : null;
  const others = () => {
    const parts = [`${benchLoad()}; ${gemmBuild()}`];
    if (scaling) parts.push(formatScaling(scaling));
    if (modelsResult) parts.push(formatModels(modelsResult));
    if (playground) parts.push(playground.text);
    return parts.join("\n\n");
  };
  const extra = {
    ...(scaling ? { scaling } : {}),
    ...(modelsResult ? { models: modelsResult } : {}),
    ...(playground ? { playground: playground.result } : {}),
  };
  if (!suites.has("lecture")) {
    if (json) console.log(JSON.stringify(extra, null, 2));
    else console.log(others());
    return 0;
  }
  const data = prepareData(words);
  const script = `${root}scripts/torch/bench_torch.py`;

  let torch: TorchWorker | null = null;
  let torchMeta: BenchResult["meta"]["torch"] = null;
  let torchSkipped: string | undefined;
  let torchParams: Record<string, number> = {};
  if (values["no-torch"]) torchSkipped = "--no-torch";
  else {
    torchSkipped = torchUnavailable(script) ?? undefined;
    if (!torchSkipped) {
      try {
        log("starting PyTorch (scripts/torch/bench_torch.py) ...");
        torch = new TorchWorker(script);
        const info = await torch.ask({ cmd: "info" });
        torchParams = info.params as Record<string, number>;
        torchMeta = {
          version: String(info.torch),
          threads: Number(info.threads),
          blas: String(info.blas),
          matmulGflops: Number(info.matmul_gflops),
        };
      } catch (e) {
        torchSkipped = `PyTorch unavailable: ${(e as Error).message}`;
        torch?.close();
        torch = null;
      }
    }
  }
  if (torchSkipped) log(`PyTorch skipped: ${torchSkipped}`);

  const ours = new Map<BenchModel, Ours>();
  for (const m of models) {
    const g = new Generator().manualSeed(SEED);
    ours.set(m, {
      model: buildModel(presetSpec(m, data.vocab.size, 3), g),
      g,
      sampleGen: new Generator().manualSeed(SEED + 10),
    });
  }

  // warm up both sides (JIT, wasm tier-up, allocator) on every workload
  log("warming up ...");
  for (const m of models) {
    const o = ours.get(m)!;
    ourTrain(o, data, 300);
    ourEval(o, data);
    ourSample(o, data, 10);
    if (torch) {
      await torch.ask({ cmd: "train", model: m, steps: 300 });
      await torch.ask({ cmd: "eval", model: m });
      await torch.ask({ cmd: "sample", model: m, count: 10 });
    }
  }

  // raw[model][workload][side]: the metric per repetition, from wall time and from CPU time
  const raw: Record<
    string,
    Record<Workload, Record<Side, { wall: number[]; cpu: number[]; chars: number[] }>>
  > = {};
  const cell = () => ({ wall: [] as number[], cpu: [] as number[], chars: [] as number[] });
  for (const m of models) {
    raw[m] = {
      train: { ours: cell(), torch: cell() },
      eval: { ours: cell(), torch: cell() },
      sample: { ours: cell(), torch: cell() },
    };
  }
  const fromTorch = (a: TorchAnswer): Timing => ({
    seconds: a.seconds!,
    cpuSeconds: a.cpu_seconds as number,
    chars: a.chars,
  });
  for (let r = 0; r < reps; r++) {
    log(`repetition ${r + 1}/${reps}`);
    for (const m of models) {
      const o = ours.get(m)!;
      const steps = stepsOf(m);
      const jobs: [Workload, () => Timing, Record<string, unknown>, (s: number) => number][] = [
        ["train", () => ourTrain(o, data, steps), { cmd: "train", model: m, steps }, (s) => steps / s],
        ["eval", () => ourEval(o, data), { cmd: "eval", model: m }, (s) => s * 1000],
        [
          "sample",
          () => ourSample(o, data, samples),
          { cmd: "sample", model: m, count: samples },
          (s) => samples / s,
        ],
      ];
      for (const [w, mine, cmd, metric] of jobs) {
        const record = (side: Side, t: Timing) => {
          raw[m][w][side].wall.push(metric(t.seconds));
          raw[m][w][side].cpu.push(metric(t.cpuSeconds));
          if (t.chars !== undefined) raw[m][w][side].chars.push(t.chars);
        };
        // alternate who goes first, so slow drift of the machine does not favour one side
        const torchFirst = torch !== null && r % 2 === 1;
        if (torchFirst) record("torch", fromTorch(await torch!.ask(cmd)));
        record("ours", mine());
        if (torch && !torchFirst) record("torch", fromTorch(await torch.ask(cmd)));
      }
    }
  }
  torch?.close();

  // the cost of watching (issue: per-step diagnostics cost at most 15% of training throughput)
  log("measuring the cost of per-step update ratios ...");
  const watch: BenchResult["watch"] = {};
  for (const m of models) {
    const o = ours.get(m)!;
    const steps = stepsOf(m);
    ourTrainWatched(o, data, 300); // warm up the hook path
    const plain: number[] = [];
    const watched: number[] = [];
    for (let r = 0; r < reps; r++) {
      plain.push(steps / ourTrain(o, data, steps).seconds);
      watched.push(steps / ourTrainWatched(o, data, steps).seconds);
    }
    const p = median(plain);
    const w = median(watched);
    watch[m] = { plain: p, withUpdateRatios: w, cost: 1 - w / p };
  }

  const result: BenchResult = {
    meta: {
      node: process.version,
      cpu: cpus()[0]?.model ?? "unknown",
      reps,
      steps: Object.fromEntries(models.map((m) => [m, stepsOf(m)])),
      samples,
      torch: torchMeta,
      ...(torchSkipped ? { torchSkipped } : {}),
    },
    models: {},
    peakRss: { ours: process.resourceUsage().maxRSS * 1024, torch: torch ? torch.maxRss : null },
    watch,
  };
  for (const m of models) {
    const f = (w: Workload, unit: string, higher: boolean) => ({
      ...figures(unit, raw[m][w].ours.wall, raw[m][w].torch.wall, higher),
      cpu: figures(unit, raw[m][w].ours.cpu, raw[m][w].torch.cpu, higher),
    });
    result.models[m] = {
      params: { ours: ours.get(m)!.model.numParameters(), torch: torchParams[m] ?? null },
      train: f("train", "steps/s", true),
      eval: f("eval", "ms", false),
      sample: {
        ...f("sample", "names/s", true),
        chars: { ours: raw[m].sample.ours.chars, torch: raw[m].sample.torch.chars },
      },
    };
  }
  if (json) console.log(JSON.stringify({ ...result, ...extra }, null, 2));
  else console.log(`${formatBench(result)}\n\n${others()}`);
  return 0;
}

/**
 * The row "playground (Chromium) vs Node": scripts/bench-playground.ts drives the built page in
 * headless Chromium through playwright-core, a development dependency, so the row runs in a
 * checkout (`npm run bench`) and says why it was skipped elsewhere.
 */
async function playgroundRow(log: (s: string) => void): Promise<{ text: string; result: unknown }> {
  try {
    const mod = await import(new URL("../../scripts/bench-playground.ts", import.meta.url).href);
    const result = await mod.benchPlayground({ steps: 10000, reps: 3, log });
    return { text: mod.formatPlaygroundBench(result) as string, result };
  } catch (e) {
    const why = (e as Error)?.message?.split("\n")[0] ?? String(e);
    return { text: `playground (Chromium) vs Node: skipped (${why})`, result: null };
  }
}

// ---------------------------------------------------------------------------------------------
// Report

const fmt = (v: number | null, digits = 0) =>
  v === null
    ? "-"
    : v.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
const ratio = (v: number | null) => (v === null ? "-" : `${v.toFixed(2)}x`);
const mb = (bytes: number | null) => (bytes === null ? "-" : `${Math.round(bytes / 2 ** 20)} MB`);

/** The results as a Markdown table (the README's), with the setup above it. */
export function formatBench(r: BenchResult): string {
  const lines: string[] = [];
  const t = r.meta.torch;
  lines.push(
    `makemore.ts ${r.meta.node} vs ${t ? `PyTorch ${t.version} (${t.threads} thread, BLAS: ${blasName(t.blas)}, ${t.matmulGflops.toFixed(0)} GFLOP/s on a 256x256 matmul)` : `PyTorch skipped (${r.meta.torchSkipped})`}`,
  );
  lines.push(
    `CPU: ${r.meta.cpu}; medians of ${r.meta.reps} interleaved repetitions; ratio = how many times faster makemore.ts is`,
  );
  const warning = t ? blasWarning(t.blas, t.matmulGflops) : null;
  if (warning) lines.push(`WARNING: ${warning}`);
  lines.push("");
  lines.push(
    "| model | params | train steps/s: ours | PyTorch | ratio | eval ms (182,625 rows): ours | PyTorch | ratio | sample names/s: ours | PyTorch | ratio |",
  );
  lines.push("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
  for (const [m, f] of Object.entries(r.models)) {
    lines.push(
      `| ${m} | ${f.params.ours.toLocaleString("en-US")} | ${fmt(f.train.ours)} | ${fmt(f.train.torch)} | ${ratio(f.train.ratio)} | ${fmt(f.eval.ours)} | ${fmt(f.eval.torch)} | ${ratio(f.eval.ratio)} | ${fmt(f.sample.ours)} | ${fmt(f.sample.torch)} | ${ratio(f.sample.ratio)} |`,
    );
  }
  lines.push("");
  lines.push(
    `peak memory (resident, whole process): makemore.ts ${mb(r.peakRss.ours)}, PyTorch ${mb(r.peakRss.torch)}`,
  );
  if (t) {
    const cpuRatios = Object.entries(r.models)
      .map(
        ([m, f]) =>
          `${m} ${ratio(f.train.cpu.ratio)} / ${ratio(f.eval.cpu.ratio)} / ${ratio(f.sample.cpu.ratio)}`,
      )
      .join("; ");
    lines.push(
      `the same ratios from CPU time (train / eval / sample), less sensitive to a busy machine: ${cpuRatios}`,
    );
  }
  const watch = Object.entries(r.watch ?? {})
    .map(
      ([m, w]) =>
        `${m} ${(w.cost * 100).toFixed(1)}% (${fmt(w.plain)} -> ${fmt(w.withUpdateRatios)} steps/s)`,
    )
    .join("; ");
  if (watch) lines.push(`cost of per-step update:data ratios (train --diagnostics; limit 15%): ${watch}`);
  return lines.join("\n");
}

/** Which gemm build runs (src/tensor/wasm/load.ts): fused multiply-add or mul + add. */
function gemmBuild(): string {
  return fmaActive()
    ? "gemm: relaxed SIMD, fused multiply-add (MAKEMORE_FMA=1)"
    : "gemm: SIMD mul + add (the default; MAKEMORE_FMA=1 for fused multiply-add)";
}

/** The machine's load averages (the bench is only as quiet as the machine). */
function benchLoad(): string {
  const l = loadavg();
  return `load average ${l.map((x) => x.toFixed(2)).join(", ")} on ${cpus().length} CPUs`;
}

function blasName(blas: string): string {
  const libs = blas.split(", ");
  return libs.find((l) => /openblas/i.test(l)) ?? libs[0] ?? blas;
}
