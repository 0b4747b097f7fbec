/**
 * Functional forms, like torch.nn.functional: `F.crossEntropy(logits, Yb)`.
 */
export { batchNormEval, batchNormTrain, linear } from "../tensor/fused.ts";
export { crossEntropy } from "../tensor/tensor.ts";

import type { Tensor } from "../tensor/tensor.ts";

/** softmax over `dim` (default last). */
export function softmax(x: Tensor, dim = -1): Tensor {
  return x.softmax(dim);
}
/** log-softmax over `dim` (default last). */
export function logSoftmax(x: Tensor, dim = -1): Tensor {
  return x.logSoftmax(dim);
}
