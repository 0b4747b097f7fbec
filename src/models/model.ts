/**
 * The interface every language model implements, and what a model family declares about itself
 * (its --type names, its flags, how it reads data, how it is built). The registry of families is
 * src/models/index.ts; how to add one: docs in that file's header.
 *
 * Two ways to consume a word list (`ModelFamily.data`):
 *   "window"   X (N, T) the T previous tokens -> logits (N, V); Y (N,) the next token.
 *              The lecture MLPs, the WaveNet, the bigrams (T = 1). T = the spec's blockSize.
 *   "sequence" X (N, T) a word shifted right behind the boundary -> logits (N, T, V);
 *              Y (N, T) the word then the boundary, -1 (ignored) after it. T = longest word + 1.
 *              makemore.py's models (its CharDataset).
 */

import type { Examples, SplitKind, Vocabulary } from "../data/dataset.ts";
import type { Module } from "../nn/modules.ts";
import type { Generator } from "../random/generator.ts";
import { Tensor } from "../tensor/tensor.ts";

// ---------------------------------------------------------------- the interface

export type DataKind = "window" | "sequence";

/** What every spec holds (config.json's "model" section); a family adds its own fields. */
export interface ModelSpecBase {
  /** the --type it was made for (the registry key) */
  type: string;
  /** V: the vocabulary size, boundary included */
  vocabSize: number;
  /** T: the context length the model reads (window: --block-size; sequence: longest word + 1) */
  blockSize: number;
}

/**
 * A trained or trainable character-level language model. It is a `Module` (parameters, buffers,
 * train/eval, stateDict: the dotted names of `namedParameters`/`namedBuffers` ARE the checkpoint's
 * tensor names, so a makemore.py family names its children as makemore.py's state_dict does).
 */
export interface LanguageModel extends Module {
  readonly spec: ModelSpecBase;
  /**
   * Mean cross-entropy of the predictions, a scalar with a graph for `backward()`.
   * window: X (B, T), Y (B,). sequence: X (B, T), Y (B, T) with -1 where nothing is predicted.
   */
  loss(X: Tensor, Y: Tensor): Tensor;
  /**
   * The logits of the token after `context` (B, t) int64, t >= 1 the tokens so far (the first is
   * the boundary 0): (B, V). A window model reads the last T (left-padded with the boundary, see
   * `windowContext`); a sequence model the last blockSize tokens' last position. Eval-mode callers.
   */
  nextLogits(context: Tensor): Tensor;
  /**
   * The modules whose `.out` (and `.out.grad`) the lecture's diagnostics read, in forward order:
   * "layer i" in the tables and plots is this list's i. [] when the family has none to show.
   */
  diagnosticLayers(): Module[];
  /**
   * A sequence model whose logits at position t read only x[0..t] (a causal mask, a recurrence, or
   * only earlier tokens): then the columns after a minibatch's last predicted target change
   * neither its loss nor any gradient, and the training loop leaves them out (src/train/train.ts).
   */
  readonly causal?: boolean;
}

/** A flag a family reads: its CLI name, how it is checked, one line of help. */
export interface ModelFlag {
  /** the CLI name without dashes ("n-embd"); families that share a flag name mean the same thing */
  name: string;
  kind: "int" | "number" | "boolean" | "choice";
  /** for kind "choice" */
  choices?: readonly string[];
  min?: number;
  max?: number;
  /** min itself is not allowed */
  exclusiveMin?: boolean;
  /** --help's text after the flag, with the default: "embedding size per character (default 10)" */
  help: string;
}

/** A flag's value after the CLI (or the playground's form) has checked it against its ModelFlag. */
export type FlagValue = string | number | boolean;
export type FlagValues = Readonly<Record<string, FlagValue | undefined>>;

/** Facts of the word list a spec may depend on (the vocabulary size, a sequence model's T). */
export interface DataFacts {
  vocabSize: number;
  /** in code points */
  longestWord: number;
  /** how many words (makemore.py's split draws torch.randperm(len(words)) before its model) */
  numWords?: number;
}

/** What sampling needs (the same as `sampleWords`' options). */
export interface SampleRequest {
  count: number;
  generator: Generator;
  temperature?: number;
  maxLength?: number;
  /** keep only the k most likely tokens at each step (makemore.py's --top-k); absent: all */
  topK?: number;
}

export interface ModelFamily<S extends ModelSpecBase = ModelSpecBase> {
  /** the file's name, for messages: "mlp", "bigram", "makemore" */
  name: string;
  /** the --type values it builds, each with one line for --help and `info` */
  types: readonly { type: string; summary: string }[];
  data: DataKind;
  /** the flags it reads (beyond the common ones: data, run directory, optimisation, reporting) */
  flags: readonly ModelFlag[];
  /**
   * The spec for `type`: its defaults, overridden by the flags given (`undefined` = not given).
   * Throw UserError(msg, 2) for a flag that makes no sense for this type. Pure: no draws, no I/O.
   */
  spec(type: string, flags: FlagValues, data: DataFacts): S;
  /**
   * Check a spec read back from config.json (it may have been edited by hand): every field this
   * family reads, with UserError(`model.<field> ...`) naming the first bad one.
   */
  checkSpec(spec: Record<string, unknown>): S;
  /** The model with its initial weights, drawn from `g` in the reference's order. */
  build(spec: S, g: Generator): LanguageModel;
  /**
   * Training defaults that differ from the lecture's SGD (fields of TrainConfig, e.g.
   * makemore.py's { learningRate: 5e-4 }); flags still override them.
   */
  trainDefaults?: Readonly<Record<string, number | string | boolean>>;
  /**
   * How a run of this family is split, logged, evaluated and sampled when the flags do not say
   * (default the lecture's: random.seed(42) 80/10/10, a line every 10,000 steps, split losses at
   * the end). makemore.py's types: its randperm split, `step N | loss | step time` every 10 steps,
   * its evaluate() every 500 steps with the best checkpoint kept, 10 samples every 200 steps.
   */
  runDefaults?: {
    split?: SplitKind;
    logEvery?: number;
    evalEvery?: number;
    sampleEvery?: number;
    habits?: "makemore";
  };
  /** the --seed when none is given (default the lecture's 2147483647; makemore.py's 3407; the WaveNet notebook's 42) */
  defaultSeed?: number;
  /** Sampling in the reference's own draw order, when the generic one-word-at-a-time loop is not it. */
  sample?(model: LanguageModel, vocab: Vocabulary, opts: SampleRequest): string[];
  /**
   * Sample from the training generator, continued after the last step, as a notebook that seeds
   * torch's global generator once does (the WaveNet); otherwise from a fresh generator (seed + 10).
   */
  samplesContinueTraining?: boolean;
  /**
   * Train without minibatch steps: by counting (bigram-counts: no steps) or by the reference's
   * own loop (the neural bigram's full-batch descent, `cfg.maxSteps` steps at `cfg.learningRate`).
   * `onStep(step, loss)` after each step, for the log and metrics. Used instead of the SGD loop;
   * returns the number of steps taken.
   */
  fit?(
    model: LanguageModel,
    train: Examples,
    cfg: { maxSteps: number; learningRate: number },
    onStep: (step: number, loss: number) => void,
  ): number;
}

// ---------------------------------------------------------------- helpers for families

/**
 * The last T tokens of each context row, left-padded with the boundary 0: (B, t) -> (B, T).
 * A window model's `nextLogits` is `this.forward(windowContext(context, T))`; starting from the
 * single boundary token this reproduces the lecture's `context = [0] * block_size` sliding window.
 */
export function windowContext(context: Tensor, T: number): Tensor {
  const [B, t] = context.shape;
  if (t === T) return context;
  const out = new Float32Array(B * T);
  const keep = Math.min(t, T);
  for (let b = 0; b < B; b++) {
    for (let j = 0; j < keep; j++) out[b * T + T - keep + j] = context.storage[b * t + t - keep + j];
  }
  return new Tensor(out, [B, T], "int64");
}
