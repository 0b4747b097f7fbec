// The generic tensor ops' WebAssembly module: the shared gemm (assembly/gemm-kernel.ts, the same
// source as the arena module's) and nothing else, so it stays small enough for browsers to compile
// synchronously on the main thread. Compiled by `npm run build:wasm` (scripts/build-wasm.ts) into
// src/tensor/wasm/gemm.wasm.ts; src/tensor/wasm/kernels-wasm.ts copies operands in and out.

import { GEMM_WORK_BYTES, gemm as gemmKernel, maddProbe as maddProbeKernel } from "./gemm-kernel";

/** First byte the caller may use as scratch memory (everything below belongs to the module). */
export function heapBase(): usize {
  return __heap_base;
}

/** Bytes of workspace one gemm call needs. */
export function gemmWorkBytes(): i32 {
  return GEMM_WORK_BYTES;
}

/** C(m, n) (+)= op(A) @ op(B) (+ bias); see gemm-kernel.ts. */
export function gemm(
  transA: i32,
  transB: i32,
  m: i32,
  n: i32,
  k: i32,
  a: usize,
  lda: i32,
  b: usize,
  ldb: i32,
  c: usize,
  ldc: i32,
  acc: i32,
  bias: usize,
  work: usize,
): void {
  gemmKernel(transA, transB, m, n, k, a, lda, b, ldb, c, ldc, acc, bias, work);
}

/** a * b + c through the gemm's multiply-add (see gemm-kernel.ts): the loader's FMA probe. */
export function maddProbe(a: f32, b: f32, c: f32): f32 {
  return maddProbeKernel(a, b, c);
}
