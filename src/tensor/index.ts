export { type Kernels, kernels, referenceKernels, setKernels } from "./kernels.ts";
export * from "./nnops.ts";
export * from "./random.ts";
export * from "./tensor.ts";
