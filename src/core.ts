/**
 * makemore-ts, the isomorphic core (runs in Node and in browsers): random numbers, tensors and
 * autograd, layers, data, models, training, diagnostics.
 *
 *   import { Generator, randn, noGrad, F } from "makemore-ts/core";
 */
export * from "./data/dataset.ts";
export * from "./diagnostics/doctor.ts";
export * from "./diagnostics/format.ts";
export * from "./diagnostics/measure.ts";
export type * from "./diagnostics/types.ts";
export { UserError } from "./errors.ts";
export * from "./models/index.ts";
export * from "./models/mlp.ts";
export * from "./nn/index.ts";
export * from "./random/index.ts";
export * from "./tensor/index.ts";
export * from "./train/evaluate.ts";
export * from "./train/session.ts";
export * from "./train/train.ts";
