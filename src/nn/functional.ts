/**
 * Functional forms, like torch.nn.functional: `F.crossEntropy(logits, Yb)`.
 */
export { batchNormEval, batchNormTrain, linear } from "../tensor/fused.ts";
export { crossEntropy } from "../tensor/tensor.ts";

import { type Tensor, Tensor as TensorClass } from "../tensor/tensor.ts";

/** softmax over `dim` (default last). */
export function softmax(x: Tensor, dim = -1): Tensor {
  return x.softmax(dim);
}
/** log-softmax over `dim` (default last). */
export function logSoftmax(x: Tensor, dim = -1): Tensor {
  return x.logSoftmax(dim);
}

/**
 * One-hot rows, like `F.one_hot(x, num_classes)`: x (...) int64 -> (..., numClasses) int64; the
 * notebook's network input is `F.oneHot(xs, 27).float()`.
 */
export function oneHot(x: Tensor, numClasses: number): Tensor {
  if (x.dtype === "float32") throw new TypeError("oneHot needs an integer (int64) tensor");
  if (!Number.isInteger(numClasses) || numClasses < 1)
    throw new RangeError(`oneHot: numClasses must be a positive integer, got ${numClasses}`);
  const xs = x.storage;
  const y = new Float32Array(xs.length * numClasses);
  for (let i = 0; i < xs.length; i++) {
    const c = xs[i];
    if (!(c >= 0 && c < numClasses))
      throw new RangeError(`oneHot: class ${c} out of range for ${numClasses} classes`);
    y[i * numClasses + c] = 1;
  }
  return new TensorClass(y, [...x.shape, numClasses], "int64");
}
