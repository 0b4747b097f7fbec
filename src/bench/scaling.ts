/**
 * The scaling rows of `npm run bench`: training steps/s of the lecture's three models at batch 32
 * and of depth-2 BatchNorm nets that grow until the matmuls dominate, here and in PyTorch, at one
 * and at two threads on both sides, interleaved in one run (issue 10's table).
 *
 *   row          model                                                     batch
 *   batchnorm    the lecture's BatchNorm MLP (block 3, n-embd 10, H 200)     32
 *   deep-bn      the lecture's 6-layer BatchNorm net (H 100)                 32
 *   deep-tanh    the same with tanh only                                     32
 *   d2-h200      custom --depth 2 --n-hidden 200 --block-size 8 --n-embd 24 --batchnorm torch, 32
 *   d2-h512      the same at H 512                                          128
 *   d2-h1024     the same at H 1024                                         256
 *
 * Columns: ours (the `train` loop, as `makemore train` runs it) at each thread count; PyTorch
 * written idiomatically (scripts/torch/bench_torch_nn.py: nn.Sequential of nn.Embedding,
 * nn.Linear, nn.BatchNorm1d, nn.Tanh, torch.optim.SGD, zero_grad(set_to_none=True)), one worker
 * per thread count (torch.set_num_threads, OMP/OpenBLAS threads to match); and, for the lecture
 * models, the lecture's own code (scripts/torch/bench_torch.py, one thread) as a second column.
 * Each repetition runs every row on every side back to back, rotating who goes first; figures are
 * medians. GFLOP/s counts the matmul flops of forward + backward (3 products of 2 B in out flops
 * per Linear: Y = X W, dX = G W^T, dW = X^T G), so it is comparable across rows and sides.
 *
 * After the timed repetitions, a profiling pass per row (one thread, outside the timed runs) records
 * the gemm calls of a few training steps (src/tensor/engine.ts `setGemmLog`) and replays exactly
 * those calls, same shapes, same arena, same pointers, in CPU time: the gemm's CPU time a step, so
 * its share of the step's CPU time (replays paired with training steps run right before them) and
 * the GFLOP/s the gemm reaches at the row's shapes. (Clocking each call inside the step would cost more than a small gemm: the process
 * CPU clock takes ~1-3 us to read, and wall clocks are meaningless on a loaded machine.) With the gemm's measured ceiling (the microkernel on
 * L1-resident data, src/bench/ceiling.ts) that decides, per row, whether its target ratio can be
 * reached at all: see `verdict`.
 */

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createInterface } from "node:readline";
import { type LectureData, prepareData } from "../data/dataset.ts";
import { UserError } from "../errors.ts";
import { buildModel, type MLP, type ModelSpec, presetSpec } from "../models/mlp.ts";
import { Linear } from "../nn/modules.ts";
import { Generator } from "../random/generator.ts";
import { type GemmCall, setGemmLog } from "../tensor/engine.ts";
import { LECTURE_TRAIN, train } from "../train/train.ts";
import { cpuMs, measureCeiling, SIMD128_FLOPS_PER_CYCLE } from "./ceiling.ts";
import { blasWarning, type NativePeak, nativePeak } from "./machine.ts";

export interface ScalingRow {
  name: string;
  /** how it is made with the CLI */
  command: string;
  batch: number;
  spec: ModelSpec;
  /** the lecture-style PyTorch script has this model (bench_torch.py's name) */
  lecture: string | null;
  /** issue 10's target: ours / idiomatic PyTorch at the same thread count */
  target: number;
}

function depth2(h: number, batch: number): ScalingRow {
  const base = presetSpec("custom", 27, 8);
  return {
    name: `d2-h${h}`,
    command: `custom --depth 2 --n-hidden ${h} --batch-size ${batch} --block-size 8 --n-embd 24 --batchnorm torch`,
    batch,
    spec: {
      ...base,
      nEmbd: 24,
      nHidden: h,
      depth: 2,
      batchnorm: "torch",
      bias: false,
      outputBatchnorm: true,
    },
    lecture: null,
    target: h >= 1024 ? 1 : 1.5,
  };
}

export const SCALING_ROWS: ScalingRow[] = [
  ...(["batchnorm", "deep-bn", "deep-tanh"] as const).map((m) => ({
    name: m,
    command: `${m} (batch 32)`,
    batch: 32,
    spec: presetSpec(m, 27, 3),
    lecture: m,
    target: 3,
  })),
  depth2(200, 32),
  depth2(512, 128),
  depth2(1024, 256),
];

/** Matmul flops of one training step: 3 products (forward, dX, dW) of 2 B in out per Linear. */
export function stepFlops(model: MLP, batch: number): number {
  let f = 0;
  for (const l of model.layers.layers) if (l instanceof Linear) f += 6 * batch * l.fanIn * l.fanOut;
  return f;
}

/** The spec in bench_torch_nn.py's terms. */
function torchSpec(r: ScalingRow): Record<string, unknown> {
  const s = r.spec;
  return {
    vocab: s.vocabSize,
    block: s.blockSize,
    n_embd: s.nEmbd,
    n_hidden: s.nHidden,
    depth: s.depth,
    batchnorm: s.batchnorm !== "none",
    output_batchnorm: s.outputBatchnorm,
    batch: r.batch,
  };
}

// ---------------------------------------------------------------------------------------------
// PyTorch workers (one JSON command per line, one answer per line)

interface Answer {
  seconds?: number;
  cpu_seconds?: number;
  error?: string;
  [k: string]: unknown;
}

export class Worker {
  private readonly proc;
  private readonly lines: AsyncIterator<string>;
  private stderr = "";

  constructor(python: string, args: string[], threads: number, openblasDir: string) {
    const n = String(threads);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      OPENBLAS_NUM_THREADS: n,
      OMP_NUM_THREADS: n,
      MKL_NUM_THREADS: n,
    };
    if (existsSync(openblasDir)) {
      env.LD_LIBRARY_PATH = [openblasDir, process.env.LD_LIBRARY_PATH].filter(Boolean).join(":");
    }
    this.proc = spawn(python, args, { env, stdio: ["pipe", "pipe", "pipe"] });
    this.lines = createInterface({ input: this.proc.stdout })[Symbol.asyncIterator]();
    this.proc.stderr.on("data", (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-4000);
    });
    this.proc.stdin.on("error", () => {});
  }

  async ask(cmd: Record<string, unknown>): Promise<Answer> {
    this.proc.stdin.write(`${JSON.stringify(cmd)}\n`);
    const next = await this.lines.next();
    if (next.done) {
      const last = this.stderr.trim().split("\n").pop() ?? "";
      throw new Error(`the PyTorch worker exited${last ? `: ${last}` : ""}`);
    }
    const a = JSON.parse(next.value) as Answer;
    if (a.error) throw new Error(`PyTorch worker: ${a.error}`);
    return a;
  }

  close(): void {
    this.proc.stdin.end(`${JSON.stringify({ cmd: "quit" })}\n`);
  }
}

// ---------------------------------------------------------------------------------------------
// Run

export interface ScalingOptions {
  rows: ScalingRow[];
  threads: number[];
  reps: number;
  /** seconds of work per measurement (steps are sized from a first timing) */
  seconds: number;
  torch: boolean;
  python: string;
  openblasDir: string;
  root: string;
  words: string[];
  /** make arenas built from now on use n threads; false when n threads cannot run here */
  setThreads: (n: number) => boolean;
  log: (s: string) => void;
}

/** steps/s from wall time and from the process's CPU time */
type Rate = [number, number];

export interface ScalingCell {
  /** steps/s, median over repetitions (wall time) */
  stepsPerSec: number;
  all: number[];
  /** steps per CPU second (all threads), median: what a busy machine distorts least at 1 thread */
  cpuStepsPerSec: number;
  gflops: number;
}

/** One thread's profiling pass of a row: where its step's time goes. */
export interface GemmProfile {
  /** gemm calls per step */
  calls: number;
  /** CPU seconds of gemm a step (the recorded calls replayed) */
  gemmSeconds: number;
  /** fraction of a step's CPU time in gemm (median over pairs of steps and replays, one thread) */
  share: number;
  /** GFLOP/s of the gemm calls themselves (their 2 m n k flops over their CPU time) */
  gemmGflops: number;
}

export interface ScalingResult {
  threads: number[];
  torchSkipped?: string;
  /** the BLAS PyTorch's workers mapped (scripts/torch/bench_worker.py), when they say */
  torchBlas?: { blas: string; matmulGflops?: number };
  /** this CPU's native float32 peak (src/bench/machine.ts), when known */
  native?: NativePeak | null;
  /** GFLOP/s of the gemm microkernel on L1-resident data (one thread), or null if not measured */
  ceiling: number | null;
  /** the core's clock measured beside the ceiling (src/bench/ceiling.ts measureCeiling) */
  clock?: { ghz: number; flopsPerCycle: number } | null;
  rows: {
    target: number;
    profile: GemmProfile | null;
    name: string;
    command: string;
    params: number;
    flopsPerStep: number;
    steps: number;
    ours: Record<string, ScalingCell | null>;
    torchNn: Record<string, ScalingCell | null>;
    torchLecture: ScalingCell | null;
  }[];
}

/** The median (mean of the middle two for an even count). */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export async function runScaling(o: ScalingOptions): Promise<ScalingResult> {
  const data = new Map<number, LectureData>();
  const dataFor = (T: number) => {
    if (!data.has(T)) data.set(T, prepareData(o.words, T));
    return data.get(T)!;
  };
  let torchSkipped: string | undefined;
  let torchBlas: ScalingResult["torchBlas"];
  const nn = new Map<number, Worker>();
  let lecture: Worker | null = null;
  if (o.torch) {
    try {
      for (const t of o.threads) {
        const w = new Worker(
          o.python,
          [`${o.root}scripts/torch/bench_torch_nn.py`, "--threads", String(t)],
          t,
          o.openblasDir,
        );
        nn.set(t, w);
        const info = await w.ask({ cmd: "info" });
        if (typeof info.blas === "string" && !torchBlas) {
          torchBlas = {
            blas: info.blas,
            ...(typeof info.matmul_gflops === "number" ? { matmulGflops: info.matmul_gflops } : {}),
          };
        }
      }
      if (o.rows.some((r) => r.lecture)) {
        lecture = new Worker(o.python, [`${o.root}scripts/torch/bench_torch.py`], 1, o.openblasDir);
        await lecture.ask({ cmd: "info" });
      }
    } catch (e) {
      torchSkipped = `PyTorch unavailable: ${(e as Error).message}`;
      for (const w of nn.values()) w.close();
      nn.clear();
      lecture?.close();
      lecture = null;
    }
  }

  // one model per row and thread count: an arena's threads are fixed when its chain is built
  const build = (r: ScalingRow) => {
    const g = new Generator().manualSeed(2147483647);
    return { row: r, model: buildModel(r.spec, g) as MLP, g, data: dataFor(r.spec.blockSize) };
  };
  const byThreads = new Map(o.threads.map((t) => [t, o.rows.map(build)]));
  const models = byThreads.get(o.threads[0])!;
  /** [wall, CPU] steps/s of `steps` training steps at `threads` threads. */
  const ourRun = (i: number, steps: number, threads: number): Rate => {
    const m = byThreads.get(threads)![i];
    o.setThreads(threads);
    const c0 = process.cpuUsage();
    const t = performance.now();
    train(m.model, m.data.train, { ...LECTURE_TRAIN, batchSize: m.row.batch, maxSteps: steps }, m.g);
    const c = process.cpuUsage(c0);
    return [steps / ((performance.now() - t) / 1000), steps / ((c.user + c.system) / 1e6)];
  };
  /** The same from a PyTorch worker, its work capped at 3x the measurement's seconds. */
  const torchRun = async (w: Worker, cmd: Record<string, unknown>): Promise<Rate> => {
    const a = await w.ask({ ...cmd, max_seconds: 3 * o.seconds });
    const n = a.steps as number;
    return [n / a.seconds!, n / a.cpu_seconds!];
  };
  // size every row's measurement from a warm-up run at one thread
  o.log("warming up and sizing the rows ...");
  const steps = models.map((m, i) => {
    ourRun(i, 5, o.threads[0]);
    const [rate] = ourRun(
      i,
      Math.max(5, Math.round(2e9 / stepFlops(m.model, m.row.batch) / 10)),
      o.threads[0],
    );
    return Math.max(10, Math.round(rate * o.seconds));
  });
  for (const [i, m] of models.entries()) {
    for (const t of o.threads.slice(1)) if (o.setThreads(t)) ourRun(i, Math.max(3, steps[i] >> 3), t);
    for (const w of nn.values()) {
      await torchRun(w, {
        cmd: "train",
        row: m.row.name,
        spec: torchSpec(m.row),
        steps: Math.max(3, steps[i] >> 3),
      });
    }
    if (lecture && m.row.lecture) await lecture.ask({ cmd: "train", model: m.row.lecture, steps: 50 });
  }
  o.setThreads(1);

  // raw[row][column] = [wall, CPU] steps/s per repetition
  const raw = models.map(() => new Map<string, Rate[]>());
  const push = (i: number, col: string, v: Rate) => {
    const a = raw[i].get(col) ?? [];
    a.push(v);
    raw[i].set(col, a);
  };
  for (let r = 0; r < o.reps; r++) {
    o.log(`scaling: repetition ${r + 1}/${o.reps}`);
    for (const [i, m] of models.entries()) {
      const n = steps[i];
      const jobs: [string, () => Promise<Rate>][] = [];
      for (const t of o.threads) {
        if (o.setThreads(t)) jobs.push([`ours@${t}`, async () => ourRun(i, n, t)]);
        const w = nn.get(t);
        if (w) {
          jobs.push([
            `nn@${t}`,
            () => torchRun(w, { cmd: "train", row: m.row.name, spec: torchSpec(m.row), steps: n }),
          ]);
        }
      }
      const lw = lecture;
      if (lw && m.row.lecture) {
        const name = m.row.lecture;
        jobs.push([
          "lecture@1",
          async (): Promise<Rate> => {
            const a = await lw.ask({ cmd: "train", model: name, steps: n });
            return [n / a.seconds!, n / a.cpu_seconds!];
          },
        ]);
      }
      // rotate the order every repetition, so slow drift of the machine favours no column
      for (let j = 0; j < jobs.length; j++) {
        const [col, run] = jobs[(j + r) % jobs.length];
        push(i, col, await run());
      }
    }
  }
  o.setThreads(1);
  for (const w of nn.values()) w.close();
  lecture?.close();

  // the profiling pass (one thread): record the gemm calls of a few steps, then replay them
  const profiles = models.map((m, i): GemmProfile | null => {
    const mine = byThreads.get(1)?.[i];
    const cpuRate = median((raw[i].get("ours@1") ?? []).map((r) => r[1]));
    if (!mine || !(cpuRate > 0)) return null;
    const n = 3;
    const log: GemmCall[] = [];
    setGemmLog(log);
    try {
      train(mine.model, mine.data.train, { ...LECTURE_TRAIN, batchSize: m.row.batch, maxSteps: n }, mine.g);
    } finally {
      setGemmLog(null);
    }
    if (!log.length) return { calls: 0, gemmSeconds: 0, share: 0, gemmGflops: 0 };
    let flops = 0;
    for (const { shape: a } of log) flops += 2 * a[2] * a[3] * a[4];
    const replay = () => {
      for (const call of log) call.run();
    };
    replay(); // warm
    // Pairs, back to back: training steps, then the replay, each ~1/10 of a measurement's seconds.
    // The share is the median of each pair's ratio: a busy machine slows both sides of a pair
    // alike, where a share against the repetitions' earlier median could pass 100%.
    const budget = 100 * Math.min(0.5, o.seconds);
    const pairSteps = Math.max(n, Math.round((budget / 1000) * cpuRate));
    const gemmSecs: number[] = [];
    const shares: number[] = [];
    for (let r = 0; r < 5; r++) {
      let t = cpuMs();
      train(
        mine.model,
        mine.data.train,
        { ...LECTURE_TRAIN, batchSize: m.row.batch, maxSteps: pairSteps },
        mine.g,
      );
      const stepSeconds = (cpuMs() - t) / 1000 / pairSteps;
      let reps = 0;
      t = cpuMs();
      while (cpuMs() - t < budget) {
        replay();
        reps++;
      }
      const g = (cpuMs() - t) / 1000 / (reps * n);
      gemmSecs.push(g);
      shares.push(g / stepSeconds);
    }
    const gemmSeconds = median(gemmSecs);
    return {
      calls: log.length / n,
      gemmSeconds,
      share: median(shares),
      gemmGflops: flops / n / gemmSeconds / 1e9,
    };
  });
  let ceiling: number | null = null;
  let clock: ScalingResult["clock"] = null;
  try {
    o.log("measuring the gemm microkernel's ceiling and the clock ...");
    const m = measureCeiling(o.root);
    ceiling = m.gflops;
    clock = { ghz: m.ghz, flopsPerCycle: m.flopsPerCycle };
  } catch (e) {
    o.log(`no ceiling measured: ${(e as Error).message.split("\n")[0]}`);
  }

  const cell = (i: number, col: string): ScalingCell | null => {
    const rates = raw[i].get(col);
    if (!rates?.length) return null;
    const all = rates.map((r) => r[0]);
    const s = median(all);
    return {
      stepsPerSec: s,
      all,
      cpuStepsPerSec: median(rates.map((r) => r[1])),
      gflops: (s * stepFlops(models[i].model, models[i].row.batch)) / 1e9,
    };
  };
  return {
    threads: o.threads,
    ...(torchSkipped ? { torchSkipped } : {}),
    ...(torchBlas ? { torchBlas } : {}),
    native: nativePeak(),
    ceiling,
    clock,
    rows: models.map((m, i) => ({
      target: m.row.target,
      profile: profiles[i],
      name: m.row.name,
      command: m.row.command,
      params: m.model.numParameters(),
      flopsPerStep: stepFlops(m.model, m.row.batch),
      steps: steps[i],
      ours: Object.fromEntries(o.threads.map((t) => [String(t), cell(i, `ours@${t}`)])),
      torchNn: Object.fromEntries(o.threads.map((t) => [String(t), cell(i, `nn@${t}`)])),
      torchLecture: cell(i, "lecture@1"),
    })),
  };
}

/** A figure with thousands separators and d decimals, or "-". */
export const num = (v: number | undefined | null, d = 0) =>
  v === undefined || v === null
    ? "-"
    : v.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });

/** The scaling table (Markdown): per thread count, ours / idiomatic PyTorch / ratio / GFLOP/s. */
export function formatScaling(r: ScalingResult): string {
  const lines: string[] = [];
  const head = ["row", "params", "MFLOP/step"];
  const align = ["---", "---:", "---:"];
  for (const t of r.threads) {
    head.push(`ours ${t}T`, `PyTorch nn ${t}T`, `ratio ${t}T`, `GFLOP/s ours/PyTorch ${t}T`);
    align.push("---:", "---:", "---:", "---:");
  }
  head.push(
    "PyTorch lecture-style 1T",
    "ratio",
    "ratio 1T from CPU time",
    "gemm share 1T",
    "gemm GFLOP/s 1T",
  );
  align.push("---:", "---:", "---:", "---:", "---:");
  lines.push(`training steps/s (wall, medians); ratio = ours / PyTorch (> 1: ours faster)`);
  if (r.torchSkipped) lines.push(`PyTorch skipped: ${r.torchSkipped}`);
  const warning = blasWarning(r.torchBlas?.blas, r.torchBlas?.matmulGflops);
  if (r.torchBlas) {
    const g = r.torchBlas.matmulGflops;
    lines.push(
      `PyTorch's BLAS: ${r.torchBlas.blas}${g === undefined ? "" : ` (${g.toFixed(1)} GFLOP/s on a 256x256 matmul, one thread)`}`,
    );
  }
  if (warning) lines.push(`WARNING: ${warning}`);
  lines.push("");
  lines.push(`| ${head.join(" | ")} |`);
  lines.push(`|${align.join("|")}|`);
  for (const row of r.rows) {
    const cells = [row.name, row.params.toLocaleString("en-US"), num(row.flopsPerStep / 1e6, 1)];
    for (const t of r.threads) {
      const o = row.ours[String(t)];
      const p = row.torchNn[String(t)];
      const digits = (o?.stepsPerSec ?? 100) < 100 ? 1 : 0;
      cells.push(
        num(o?.stepsPerSec, digits),
        num(p?.stepsPerSec, digits),
        o && p ? `${(o.stepsPerSec / p.stepsPerSec).toFixed(2)}x` : "-",
        `${num(o?.gflops, 1)} / ${num(p?.gflops, 1)}`,
      );
    }
    const l = row.torchLecture;
    const o1 = row.ours["1"];
    cells.push(num(l?.stepsPerSec), l && o1 ? `${(o1.stepsPerSec / l.stepsPerSec).toFixed(2)}x` : "-");
    const p1 = row.torchNn["1"];
    cells.push(o1 && p1 ? `${(o1.cpuStepsPerSec / p1.cpuStepsPerSec).toFixed(2)}x` : "-");
    const pr = row.profile;
    cells.push(pr ? `${(100 * pr.share).toFixed(0)}%` : "-", num(pr?.gemmGflops, 1));
    lines.push(`| ${cells.join(" | ")} |`);
  }
  lines.push("");
  for (const row of r.rows) lines.push(`- ${row.name}: ${row.command}`);
  lines.push("");
  lines.push(
    "gemm share: the fraction of a step's CPU time (one thread) in gemm, from a separate profiling " +
      "pass that records a step's gemm calls and replays them in CPU time; gemm GFLOP/s: their flops " +
      "over that time.",
  );
  if (r.ceiling !== null) {
    const c = r.clock;
    const ghz = c ? c.ghz : r.ceiling / SIMD128_FLOPS_PER_CYCLE;
    const of16 = `of the ${SIMD128_FLOPS_PER_CYCLE} that 128-bit SIMD can retire (2 multiply + 2 add pipes x 4 lanes)`;
    lines.push(
      `ceiling: the gemm's 4x8 microkernel on L1-resident data runs at ${r.ceiling.toFixed(1)} GFLOP/s ` +
        (c
          ? `(one thread); the core's clock, measured beside it, ${ghz.toFixed(2)} GHz: ` +
            `${c.flopsPerCycle.toFixed(1)} flops/cycle ${of16}`
          : `(one thread), taken as the ${SIMD128_FLOPS_PER_CYCLE} flops/cycle ${of16}: an effective ${ghz.toFixed(2)} GHz`) +
        (r.native
          ? `; this CPU's own widest FMA code (what OpenBLAS runs) retires at most ${r.native.flopsPerCycle} ` +
            `flops/cycle (${r.native.why}), ${((r.native.flopsPerCycle * ghz) | 0).toLocaleString("en-US")} GFLOP/s at that clock.`
          : "."),
    );
    lines.push("");
    lines.push("verdicts at one thread (from the CPU-time medians above, the gemm share and the ceiling):");
    const peak = c ? SIMD128_FLOPS_PER_CYCLE * c.ghz : undefined;
    const native =
      c && r.native
        ? { gflops: r.native.flopsPerCycle * c.ghz, flopsPerCycle: r.native.flopsPerCycle }
        : undefined;
    for (const row of r.rows) {
      lines.push(
        `- ${row.name}: ${warning ? "not judged (PyTorch is on the reference BLAS)" : verdict(row, r.ceiling, peak, native)}`,
      );
    }
  }
  return lines.join("\n");
}

/**
 * Can a row reach its target ratio at one thread? With ours at S steps per CPU second, a gemm share
 * s, F matmul flops a step, PyTorch at P steps per CPU second and the target R: the step must take
 * at most 1 / (R P). Its gemm cannot take less than F / ceiling, so
 *   - if F R P > ceiling, no step can reach it, however little else it does (arithmetic-bound);
 *   - else if F / ceiling + (1 - s) / S > 1 / (R P), it is out of reach while the rest of the step
 *     (everything but gemm, now (1 - s) / S) stays as it is;
 *   - else it needs the gemm at F / (1 / (R P) - (1 - s) / S) GFLOP/s inside the step.
 * peak: 128-bit SIMD's own bound at the measured clock (16 flops/cycle), when known: an
 * arithmetic-bound row says whether even a perfect 128-bit kernel would fall short.
 * native: the CPU's own bound for any code (src/bench/machine.ts nativePeak) at that clock, when
 * known: whether the target needs more matmul than the core itself can do, or only more than
 * WebAssembly's 128-bit vectors can.
 */
export function verdict(
  row: ScalingResult["rows"][number],
  ceiling: number,
  peak?: number,
  native?: { gflops: number; flopsPerCycle: number },
): string {
  const o = row.ours["1"];
  const p = row.torchNn["1"];
  const pr = row.profile;
  if (!o || !p || !pr) return "not measured (needs ours and PyTorch at one thread)";
  const R = row.target;
  const S = o.cpuStepsPerSec;
  const need = R * p.cpuStepsPerSec; // steps per CPU second
  const F = row.flopsPerStep;
  const us = (sec: number) => `${(sec * 1e6).toFixed(0)} us`;
  const ratio = S / p.cpuStepsPerSec;
  const head = `target ${R}x = ${num(need, need < 100 ? 1 : 0)} steps/CPU-s, now ${ratio.toFixed(2)}x`;
  if (ratio >= R) return `${head}: met`;
  const allowed = 1 / need; // seconds a step
  const gemmMin = F / (ceiling * 1e9);
  // the step's split from the profile's paired share, applied to the repetitions' step time
  const rest = Math.max(0, (1 - pr.share) / S);
  const gemmNow = pr.share / S;
  if (gemmMin > allowed) {
    const needG = (F * need) / 1e9;
    const nativeNote =
      native === undefined
        ? ""
        : needG > native.gflops
          ? `; over this CPU's own ${native.gflops.toFixed(1)} (${native.flopsPerCycle} flops/cycle) too: no code on this core reaches it`
          : `; under this CPU's own ${native.gflops.toFixed(1)} (${native.flopsPerCycle} flops/cycle): only wider vectors than WebAssembly's reach it`;
    return (
      `${head}: arithmetic-bound: it needs ${num(needG, 1)} GFLOP/s of matmul, over the ` +
      `ceiling's ${ceiling.toFixed(1)}, even with nothing else in the step` +
      (peak === undefined
        ? ""
        : needG > peak
          ? ` (and over the ${peak.toFixed(1)} of 16 flops/cycle, 128-bit SIMD's bound at this clock${nativeNote})`
          : ` (under the ${peak.toFixed(1)} of 16 flops/cycle at this clock: a kernel nearer that bound could reach it)`)
    );
  }
  if (gemmMin + rest > allowed) {
    return (
      `${head}: out of reach with the rest of the step as it is: the gemm at the ceiling takes ${us(gemmMin)} ` +
      `and the rest ${us(rest)}, over the ${us(allowed)} allowed; the rest must shrink below ${us(allowed - gemmMin)}`
    );
  }
  const g = F / ((allowed - rest) * 1e9);
  return (
    `${head}: reachable: the step may take ${us(allowed)}; with the rest at ${us(rest)} the gemm ` +
    `(now ${us(gemmNow)}, ${num(pr.gemmGflops, 1)} GFLOP/s) needs ${num(g, 1)} GFLOP/s ` +
    `(${((100 * g) / ceiling).toFixed(0)}% of the ceiling)`
  );
}

/** Parse --rows (comma-separated row names). */
export function parseRows(v: string | undefined): ScalingRow[] {
  if (v === undefined) return SCALING_ROWS;
  return v.split(",").map((s) => {
    const r = SCALING_ROWS.find((x) => x.name === s.trim());
    if (!r) {
      throw new UserError(
        `--rows: unknown row '${s.trim()}' (choose from ${SCALING_ROWS.map((x) => x.name).join(", ")})`,
        2,
      );
    }
    return r;
  });
}
