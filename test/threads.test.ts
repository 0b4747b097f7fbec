// Worker threads (src/tensor/wasm/threads.ts, src/io/threads.ts): a gemm split across threads
// gives the same bits as one thread (each element is computed by one thread in the kernel's one
// fixed order), and so does a whole training run; without a way to start workers everything stays
// on one thread.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { parseLines, prepareData } from "../src/data/dataset.ts";
import { setThreads } from "../src/io/threads.ts";
import { buildModel, presetSpec } from "../src/models/mlp.ts";
import { Generator } from "../src/random/generator.ts";
import { Arena } from "../src/tensor/wasm/arena-wasm.ts";
import { setThreads as setArenaThreads, setWorkerFactory } from "../src/tensor/wasm/threads.ts";
import { planOf } from "../src/train/plan.ts";
import { LECTURE_TRAIN, train } from "../src/train/train.ts";

function sameBits(what: string, got: Float32Array, want: Float32Array): void {
  assert.equal(got.length, want.length, what);
  for (let i = 0; i < want.length; i++) {
    if (!Object.is(got[i], want[i])) assert.fail(`${what}[${i}]: ${got[i]} vs ${want[i]} (1 thread)`);
  }
}

test("without a worker factory, setThreads falls back to one thread", () => {
  setWorkerFactory(null);
  assert.equal(setArenaThreads(2), 1);
  assert.equal(Arena.create()!.threadCount, 1);
});

test("gemm split over 2 and 3 threads: bit-identical to one thread (rows and columns, acc, bias, transposes)", () => {
  const floats = 300 * 520 + 64;
  const make = (threads: number) => {
    assert.equal(setThreads(threads), threads);
    const a = Arena.create()!;
    const ptrs = [a.alloc(floats), a.alloc(floats), a.alloc(floats), a.alloc(1024)];
    a.seal();
    return { a, ptrs };
  };
  const arenas = [make(1), make(2), make(3)];
  setThreads(1);
  assert.deepEqual(
    arenas.map((x) => x.a.threadCount),
    [1, 2, 3],
  );
  const g = new Generator().manualSeed(5);
  const inputs = [
    new Float32Array(floats),
    new Float32Array(floats),
    new Float32Array(floats),
    new Float32Array(1024),
  ];
  for (const x of inputs) g.randnInto(x);
  // [transA, transB, m, n, k, acc, bias]: tall (split by rows), wide (split by columns), odd edges
  const cases: [number, number, number, number, number, number, boolean][] = [
    [0, 0, 256, 200, 192, 0, true],
    [0, 1, 128, 512, 300, 0, false],
    [1, 0, 517, 27, 128, 1, false],
    [0, 0, 13, 515, 301, 1, true],
    [1, 1, 97, 131, 257, 0, true],
  ];
  for (const [tA, tB, m, n, k, acc, withBias] of cases) {
    const results = arenas.map(({ a, ptrs: [pa, pb, pc, pbias] }) => {
      for (let i = 0; i < 4; i++) a.f32.set(inputs[i], [pa, pb, pc, pbias][i] >> 2);
      a.ex.gemm(tA, tB, m, n, k, pa, tA ? m : k, pb, tB ? k : n, pc, n, acc, withBias ? pbias : 0, 0);
      return a.f32.slice(pc >> 2, (pc >> 2) + m * n);
    });
    for (let t = 1; t < results.length; t++) {
      sameBits(
        `gemm(${tA}, ${tB}) ${m}x${n}x${k} acc=${acc} bias=${withBias}, ${t + 1} threads`,
        results[t],
        results[0],
      );
    }
  }
  for (const { a } of arenas) a.close();
});

test("a training run on 2 threads: the same losses and parameters, bit for bit, as on 1", () => {
  const data = prepareData(
    parseLines(readFileSync(new URL("../data/names.txt", import.meta.url), "utf8")),
    8,
  );
  const spec = {
    ...presetSpec("custom", 27, 8),
    nEmbd: 24,
    nHidden: 160,
    depth: 2,
    batchnorm: "torch" as const,
    bias: false,
    outputBatchnorm: true,
  };
  const run = (threads: number) => {
    assert.equal(setThreads(threads), threads);
    const g = new Generator().manualSeed(2147483647);
    const model = buildModel(spec, g);
    const losses: number[] = [];
    train(model, data.train, { ...LECTURE_TRAIN, batchSize: 128, maxSteps: 15 }, g, {
      afterStep: ({ loss }) => {
        losses.push(loss);
      },
    });
    setThreads(1);
    return {
      losses,
      params: model.parameters().map((p) => p.storage.slice()),
      threads: planOf(model)!.plan.arena.threadCount,
    };
  };
  const one = run(1);
  const two = run(2);
  // its largest gemm, 128 x 160 x 192 (7.9 MFLOP), is split: the plan's arena has the pool
  assert.deepEqual([one.threads, two.threads], [1, 2]);
  assert.equal(one.losses.length, 15);
  assert.deepEqual(two.losses, one.losses);
  one.params.forEach((p, i) => sameBits(`parameter ${i}`, two.params[i], p));
});

test("a model whose gemms are all too small to split trains on a one-thread arena at 2 threads", () => {
  // the lecture's BatchNorm MLP at batch 32: its largest gemm is 32 x 200 x 30 (0.38 MFLOP), far
  // below MIN_PARALLEL_FLOPS, so no worker would ever take a share; its plan gets the unshared memory
  const data = prepareData(
    parseLines(readFileSync(new URL("../data/names.txt", import.meta.url), "utf8")).slice(0, 500),
    3,
  );
  const run = (threads: number) => {
    assert.equal(setThreads(threads), threads);
    const g = new Generator().manualSeed(2147483647);
    const model = buildModel(presetSpec("batchnorm", 27, 3), g);
    const losses: number[] = [];
    train(model, data.train, { ...LECTURE_TRAIN, batchSize: 32, maxSteps: 5 }, g, {
      afterStep: ({ loss }) => {
        losses.push(loss);
      },
    });
    setThreads(1);
    const arena = planOf(model)!.plan.arena;
    return { losses, threads: arena.threadCount, shared: arena.f32.buffer instanceof SharedArrayBuffer };
  };
  const one = run(1);
  const two = run(2);
  assert.deepEqual(two, one);
  assert.deepEqual([two.threads, two.shared], [1, false]);
});
