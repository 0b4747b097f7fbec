/**
 * Worker threads in Node for the arena kernels (src/tensor/wasm/threads.ts holds the isomorphic
 * part: the pool, the protocol and the exactness argument). This file starts the workers with
 * `node:worker_threads`; each instantiates the shared-memory build of the arena module on the
 * arena's memory and then serves gemm shares until told to quit.
 *
 *   import { setThreads } from "makemore-ts";
 *   setThreads(2);      // arenas built from now on (training, evaluation chains) use 2 threads
 *
 * The worker's code is plain JavaScript evaluated in the worker (`eval: true`), so it runs the same
 * from TypeScript sources under tsx (workers do not inherit tsx's loader) and from dist/.
 */

import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import {
  ARGS,
  DONE,
  GEN,
  QUIT,
  READY,
  SLOT_WORDS,
  setThreads as setArenaThreads,
  setWorkerFactory,
  type WorkerInit,
} from "../tensor/wasm/threads.ts";

/** The worker: instantiate, say ready, then wait for job generations and run this slot's share. */
function workerSource(): string {
  return `
const { workerData } = require("node:worker_threads");
const { module, memory, ctrl, slot } = workerData;
const ex = new WebAssembly.Instance(module, { env: { memory } }).exports;
const c = new Int32Array(memory.buffer, ctrl, ${ARGS + 16 * SLOT_WORDS});
const o = ${ARGS} + slot * ${SLOT_WORDS};
// read the generation before saying ready: the first job may be posted the moment we are
let gen = Atomics.load(c, ${GEN});
Atomics.store(c, ${READY} + slot, 1);
Atomics.notify(c, ${READY} + slot);
for (;;) {
  Atomics.wait(c, ${GEN}, gen);
  gen = Atomics.load(c, ${GEN});
  if (Atomics.load(c, ${QUIT}) !== 0) break;
  if (c[o] >= 0) {
    ex.gemm(c[o], c[o + 1], c[o + 2], c[o + 3], c[o + 4], c[o + 5], c[o + 6], c[o + 7], c[o + 8],
      c[o + 9], c[o + 10], c[o + 11], c[o + 12], c[o + 13]);
  }
  Atomics.add(c, ${DONE}, 1);
  Atomics.notify(c, ${DONE});
}
`;
}

function startWorker(init: WorkerInit): { terminate(): void } {
  // no inherited flags (tsx, the test runner): the worker is plain JavaScript
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT; // a worker under the test runner would otherwise act as a test child
  const w = new Worker(workerSource(), { eval: true, workerData: init, execArgv: [], env });
  w.unref(); // an idle pool never keeps the process alive
  return { terminate: () => void w.terminate() };
}

/**
 * The CLI's default thread count (`train --threads`): 2 where there are 2 CPUs. Measured on a
 * 2-core machine: the depth-2 nets train 1.4x faster on 2 threads than on 1 even with 10 other
 * processes running (see /work/coord/kernels.md); models whose gemms are all below
 * MIN_PARALLEL_FLOPS (the lecture's) never start a worker, so they pay nothing.
 */
export const DEFAULT_THREADS = Math.min(2, availableParallelism());

/**
 * Use n threads (>= 1) for the arenas built from now on; returns the count in effect (1 where
 * shared WebAssembly memory is unavailable).
 */
export function setThreads(n: number): number {
  setWorkerFactory(startWorker);
  return setArenaThreads(n);
}
