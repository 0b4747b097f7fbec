/**
 * makemore-ts: train character-level language models and look inside their training.
 * Everything in `makemore-ts/core`, plus the Node-only parts: run directories and checkpoints
 * (safetensors), word files, plots and reports.
 *
 *   import { Generator, randn, crossEntropy, noGrad } from "makemore-ts";
 */
export * from "./core.ts";
export * from "./io/atomic.ts";
export * from "./io/run.ts";
export * from "./io/rundir.ts";
export * from "./io/runfiles.ts";
export * from "./io/safetensors.ts";
export { setThreads } from "./io/threads.ts";
export * from "./io/wordfile.ts";
export * from "./viz/render.ts";
export * from "./viz/report.ts";
export * from "./viz/specs.ts";
