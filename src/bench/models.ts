/**
 * The model rows of `npm run bench`: training steps/s of the models beyond the lecture's MLPs,
 * each against its reference's own PyTorch code, at each thread count on both sides, interleaved.
 *
 *   row               ours (as `makemore train --type ROW` runs it)   PyTorch
 *   wavenet           makemore part 5's WaveNet, SGD, batch 32         the notebook's code
 *   makemore-bigram   makemore.py's six models at its defaults:        makemore.py itself
 *   mlp, rnn, gru,    AdamW (lr 5e-4, weight decay 0.01), batch 32     (its training loop)
 *   bow, transformer
 *
 * The PyTorch side is scripts/torch/bench_torch_models.py (a worker per thread count answering
 * one JSON command per line). Each repetition runs every row on every side back to back, rotating
 * who goes first; figures are medians of wall-clock steps/s, and the same from CPU time (all
 * threads), which a busy machine distorts less at one thread.
 */

import { prepareDataFor, Vocabulary } from "../data/dataset.ts";
import { UserError } from "../errors.ts";
import { familyOf, type LanguageModel, specFor } from "../models/index.ts";
import { Generator } from "../random/generator.ts";
import { makeOptimizer, type Optimizer } from "../train/optim.ts";
import { plansOf } from "../train/plan.ts";
import { LECTURE_TRAIN, type TrainConfig, train } from "../train/train.ts";
import { blasWarning } from "./machine.ts";
import { median, num, type ScalingOptions, Worker } from "./scaling.ts";

/** Row names: our --type names (the PyTorch worker knows the same). */
export const MODEL_ROWS = ["wavenet", "makemore-bigram", "mlp", "rnn", "gru", "bow", "transformer"] as const;
export type ModelRow = (typeof MODEL_ROWS)[number];

/** The scaling suite's options (machine, PyTorch, data, threads), with this suite's rows. */
export type ModelsOptions = Omit<ScalingOptions, "rows"> & { rows: readonly ModelRow[] };

export interface ModelsCell {
  /** steps/s, median over repetitions (wall time) */
  stepsPerSec: number;
  all: number[];
  /** steps per CPU second (all threads), median */
  cpuStepsPerSec: number;
}

export interface ModelsResult {
  threads: number[];
  torchSkipped?: string;
  /** the BLAS PyTorch's workers mapped (scripts/torch/bench_worker.py), when they say */
  torchBlas?: { blas: string; matmulGflops?: number };
  rows: {
    name: ModelRow;
    params: number;
    torchParams: number | null;
    steps: number;
    ours: Record<string, ModelsCell | null>;
    torch: Record<string, ModelsCell | null>;
  }[];
}

/** One of our models with everything a run keeps across measurements. */
export interface OurRow {
  model: LanguageModel;
  g: Generator;
  data: ReturnType<typeof prepareDataFor>;
  cfg: TrainConfig;
  optimizer: Optimizer | null;
  step: number;
}

/** The row's model, data and training config exactly as `makemore train --type row` sets them up. */
export function ourRow(row: ModelRow, words: string[]): OurRow {
  const family = familyOf(row);
  const longestWord = words.reduce((n, w) => Math.max(n, [...w].length), 0);
  const vocabSize = Vocabulary.fromWords(words).size;
  const spec = specFor(row, {}, { vocabSize, longestWord, numWords: words.length });
  const seed = family.defaultSeed ?? 2147483647;
  // makemore.py splits with torch.randperm under its seed; the notebooks with random.seed(42)
  const makemorePy = family.data === "sequence";
  const data = prepareDataFor(
    family.data,
    words,
    spec.blockSize,
    makemorePy ? seed : 42,
    makemorePy ? "makemore" : "lecture",
  );
  const g = new Generator().manualSeed(seed);
  const model = family.build(spec, g);
  const cfg = { ...LECTURE_TRAIN, ...(family.trainDefaults as Partial<TrainConfig>) };
  return { model, g, data, cfg, optimizer: makeOptimizer(cfg, model.parameters()), step: 0 };
}

type Rate = [wall: number, cpu: number];

/** A causal row's warm-up ends after this many steps without a new plan (see `settle`)... */
const SETTLE_QUIET = 1000;
/** ...or after this many measurement lengths (--seconds) of warm-up. */
const SETTLE_SECONDS = 3;

export async function runModels(o: ModelsOptions): Promise<ModelsResult> {
  let torchSkipped: string | undefined;
  let torchBlas: ModelsResult["torchBlas"];
  const workers = new Map<number, Worker>();
  if (o.torch) {
    try {
      for (const t of o.threads) {
        const w = new Worker(
          o.python,
          [`${o.root}scripts/torch/bench_torch_models.py`, "--threads", String(t)],
          t,
          o.openblasDir,
        );
        workers.set(t, w);
        const info = await w.ask({ cmd: "info" });
        if (typeof info.blas === "string" && !torchBlas) {
          torchBlas = {
            blas: info.blas,
            ...(typeof info.matmul_gflops === "number" ? { matmulGflops: info.matmul_gflops } : {}),
          };
        }
      }
    } catch (e) {
      torchSkipped = `PyTorch unavailable: ${(e as Error).message}`;
      for (const w of workers.values()) w.close();
      workers.clear();
    }
  }
  // one model per row and thread count: an arena's threads are fixed when its plan is captured
  const byThreads = new Map(o.threads.map((t) => [t, o.rows.map((r) => ourRow(r, o.words))]));
  const ourRun = (i: number, steps: number, threads: number): Rate => {
    const m = byThreads.get(threads)![i];
    o.setThreads(threads);
    const c0 = process.cpuUsage();
    const t = performance.now();
    const to = m.step + steps;
    train(m.model, m.data.train, { ...m.cfg, maxSteps: to }, m.g, {}, m.step, m.optimizer);
    m.step = to;
    const c = process.cpuUsage(c0);
    return [steps / ((performance.now() - t) / 1000), steps / ((c.user + c.system) / 1e6)];
  };
  const torchParams = new Map<string, number>();
  const torchRun = async (w: Worker, row: ModelRow, steps: number): Promise<Rate> => {
    const a = await w.ask({ cmd: "train", row, steps, max_seconds: 3 * o.seconds });
    torchParams.set(row, a.params as number);
    const n = a.steps as number;
    return [n / a.seconds!, n / a.cpu_seconds!];
  };

  // A causal model trains each minibatch cropped to its longest word (src/train/train.ts
  // croppedWidth), with a plan per width, captured the first time that width comes up and checked
  // against an eager step the second time. On names.txt (16 columns, batch 32) widths 9-12 are 93%
  // of the batches, 13-14 about 3% each, 8 and 15 under 1%, 16 0.2% (bow: 16 first came up at
  // step 680, 8 at 290): the old warm-up of ~100 steps left those captures to the timed
  // repetitions. So such a row warms up until no new width has come up for SETTLE_QUIET steps (and
  // twice its repetition), within SETTLE_SECONDS x --seconds; a width still unseen then is rare
  // enough to touch at most one repetition, which the median discards.
  const settle = (i: number, n: number, threads: number): void => {
    const m = byThreads.get(threads)![i];
    if (m.model.causal !== true) return;
    const quiet = Math.max(SETTLE_QUIET, 2 * n);
    const chunk = Math.max(10, n >> 2);
    const until = performance.now() + SETTLE_SECONDS * o.seconds * 1000;
    let shapes = plansOf(m.model).size;
    for (let since = 0; since < quiet && performance.now() < until; ) {
      ourRun(i, chunk, threads);
      const now = plansOf(m.model).size;
      since = now === shapes ? since + chunk : 0;
      shapes = now;
    }
  };
  o.log("models: warming up and sizing the rows ...");
  const steps = o.rows.map((_, i) => {
    ourRun(i, 3, o.threads[0]); // the capture
    const [rate] = ourRun(i, 10, o.threads[0]);
    const n = Math.max(5, Math.round(rate * o.seconds));
    ourRun(i, n, o.threads[0]); // the JIT's optimised tiers
    settle(i, n, o.threads[0]);
    return n;
  });
  for (const [i, row] of o.rows.entries()) {
    for (const t of o.threads.slice(1)) {
      if (!o.setThreads(t)) continue;
      ourRun(i, Math.max(3, steps[i] >> 3), t);
      settle(i, steps[i], t);
    }
    for (const w of workers.values()) await torchRun(w, row, Math.max(3, steps[i] >> 3));
  }
  o.setThreads(1);

  const raw = o.rows.map(() => new Map<string, Rate[]>());
  for (let r = 0; r < o.reps; r++) {
    o.log(`models: repetition ${r + 1}/${o.reps}`);
    for (const [i, row] of o.rows.entries()) {
      const jobs: [string, () => Promise<Rate>][] = [];
      for (const t of o.threads) {
        if (o.setThreads(t)) jobs.push([`ours@${t}`, async () => ourRun(i, steps[i], t)]);
        const w = workers.get(t);
        if (w) jobs.push([`torch@${t}`, () => torchRun(w, row, steps[i])]);
      }
      // rotate the order every repetition, so slow drift of the machine favours no column
      for (let j = 0; j < jobs.length; j++) {
        const [col, run] = jobs[(j + r) % jobs.length];
        const v = await run();
        raw[i].set(col, [...(raw[i].get(col) ?? []), v]);
      }
    }
  }
  o.setThreads(1);
  for (const w of workers.values()) w.close();

  const cell = (i: number, col: string): ModelsCell | null => {
    const rates = raw[i].get(col);
    if (!rates?.length) return null;
    const all = rates.map((x) => x[0]);
    return { stepsPerSec: median(all), all, cpuStepsPerSec: median(rates.map((x) => x[1])) };
  };
  return {
    threads: o.threads,
    ...(torchSkipped ? { torchSkipped } : {}),
    ...(torchBlas ? { torchBlas } : {}),
    rows: o.rows.map((name, i) => ({
      name,
      params: byThreads.get(o.threads[0])![i].model.numParameters(),
      torchParams: torchParams.get(name) ?? null,
      steps: steps[i],
      ours: Object.fromEntries(o.threads.map((t) => [String(t), cell(i, `ours@${t}`)])),
      torch: Object.fromEntries(o.threads.map((t) => [String(t), cell(i, `torch@${t}`)])),
    })),
  };
}

/** The model rows as a Markdown table: per thread count, ours / PyTorch / ratio. */
export function formatModels(r: ModelsResult): string {
  const head = ["model", "params", "PyTorch params"];
  const align = ["---", "---:", "---:"];
  for (const t of r.threads) {
    head.push(`ours ${t}T`, `PyTorch ${t}T`, `ratio ${t}T`);
    align.push("---:", "---:", "---:");
  }
  head.push("ratio 1T from CPU time");
  align.push("---:");
  const lines = [
    "training steps/s of the models against their reference's own PyTorch code (wall, medians; ratio > 1: ours faster)",
    "wavenet: the part 5 notebook's classes and loop; the others: makemore.py's model and training loop (AdamW, batch 32)",
  ];
  if (r.torchSkipped) lines.push(`PyTorch skipped: ${r.torchSkipped}`);
  const warning = blasWarning(r.torchBlas?.blas, r.torchBlas?.matmulGflops);
  if (warning) lines.push(`WARNING: ${warning}`);
  lines.push("", `| ${head.join(" | ")} |`, `|${align.join("|")}|`);
  for (const row of r.rows) {
    const cells = [row.name, row.params.toLocaleString("en-US"), num(row.torchParams)];
    for (const t of r.threads) {
      const o = row.ours[String(t)];
      const p = row.torch[String(t)];
      const digits = (o?.stepsPerSec ?? 100) < 100 ? 1 : 0;
      cells.push(
        num(o?.stepsPerSec, digits),
        num(p?.stepsPerSec, digits),
        o && p ? `${(o.stepsPerSec / p.stepsPerSec).toFixed(2)}x` : "-",
      );
    }
    const o1 = row.ours["1"];
    const p1 = row.torch["1"];
    cells.push(o1 && p1 ? `${(o1.cpuStepsPerSec / p1.cpuStepsPerSec).toFixed(2)}x` : "-");
    lines.push(`| ${cells.join(" | ")} |`);
  }
  return lines.join("\n");
}

/** Parse --model-rows (comma-separated --type names from MODEL_ROWS). */
export function parseModelRows(v: string | undefined): ModelRow[] {
  if (v === undefined) return [...MODEL_ROWS];
  return v.split(",").map((s) => {
    const name = s.trim();
    if (!(MODEL_ROWS as readonly string[]).includes(name)) {
      throw new UserError(`--model-rows: unknown row '${name}' (choose from ${MODEL_ROWS.join(", ")})`, 2);
    }
    return name as ModelRow;
  });
}
