// The generic tensor ops' WebAssembly module: the shared gemm (assembly/gemm-kernel.ts, the same
// source as the arena module's) and nothing else, so it stays small enough for browsers to compile
// synchronously on the main thread. Compiled by `npm run build:wasm` (scripts/build-wasm.ts) into
// src/tensor/wasm/gemm.wasm.ts; src/tensor/wasm/kernels-wasm.ts copies operands in and out.

/** First byte the caller may use as scratch memory (everything below belongs to the module). */
export function heapBase(): usize {
  return __heap_base;
}

// gemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc, acc, bias, work): C(m, n) (+)= op(A) @ op(B)
// (+ bias), the shared kernel as it is (see gemm-kernel.ts); the caller passes its own workspace.
// maddProbe(a, b, c): a * b + c through the gemm's multiply-add, the loader's FMA probe.
export { gemm, gemmWorkBytes, maddProbe } from "./gemm-kernel";
