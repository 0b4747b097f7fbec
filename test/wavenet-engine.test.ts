/**
 * The WaveNet's fast paths on the engine (issue 11 item 7), each against the plain path it
 * replaces: a Linear or a tanh whose input rows repeat (the padded contexts "......ab") computes
 * each distinct row once on a plan's arena and must give the plain kernel's bits; a view hands its
 * gradient buffer down instead of copying it, and must leave every gradient as the copy did.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Generator } from "../src/random/generator.ts";
import { allocF32, capture, Plan, repeatedRows, repeatsPay } from "../src/tensor/engine.ts";
import { linear } from "../src/tensor/fused.ts";
import { randn } from "../src/tensor/random.ts";
import { Tensor, tensor } from "../src/tensor/tensor.ts";

/** x (m, k) from `distinct` random rows, row r a copy of row pattern[r]. */
function rowsFrom(g: Generator, distinct: number, k: number, pattern: number[]): Float32Array {
  const rows = randn([distinct, k], { generator: g }).storage;
  const x = new Float32Array(pattern.length * k);
  pattern.forEach((d, r) => x.set(rows.subarray(d * k, d * k + k), r * k));
  return x;
}

function sameBits(what: string, got: Float32Array, want: Float32Array): void {
  assert.equal(got.length, want.length, what);
  for (let i = 0; i < want.length; i++) {
    if (!Object.is(got[i], want[i])) assert.fail(`${what}[${i}]: ${got[i]}, plain path ${want[i]}`);
  }
}

test("a Linear over repeated rows: replayed on the arena (distinct rows once) == the plain gemm, bit for bit", () => {
  const g = new Generator().manualSeed(7);
  const [m, k, n] = [64, 48, 128];
  // the first level of the WaveNet's batch: most rows are ".." (pattern 0), a few repeat others
  const pattern = Array.from({ length: m }, (_, r) => (r % 3 === 0 ? r : r % 5 === 0 ? 1 : 0));
  const W = randn([k, n], { generator: g });
  const b = randn([n], { generator: g });
  const x0 = rowsFrom(g, m, k, pattern);
  assert.ok(repeatsPay(repeatedRows(x0, m, k), m, k, n), "these rows repeat enough to take the path");
  const plain = (x: Float32Array) => linear(new Tensor(x.slice(), [m, k]), W, b).storage.slice();
  const { result, capture: c } = capture(() => {
    const xs = allocF32(m * k);
    xs.set(x0);
    const x = new Tensor(xs, [m, k]);
    return { x, y: linear(x, W, b) };
  });
  const plan = Plan.seal(c, [W, b]);
  assert.ok(plan, "the arena module runs here");
  // the replay on the capture's rows, then on rows that repeat differently, then on rows that
  // do not repeat at all (the plain gemm inside the same kernel call), and with signed zeros
  const cases: [string, Float32Array][] = [
    ["capture rows", x0],
    [
      "other repeats",
      rowsFrom(
        g,
        m,
        k,
        pattern.map((d, r) => (r < 40 ? d % 7 : 3)),
      ),
    ],
    [
      "no repeats",
      rowsFrom(
        g,
        m,
        k,
        pattern.map((_, r) => r),
      ),
    ],
  ];
  const signed = rowsFrom(g, m, k, pattern);
  for (let r = 0; r < m; r += 2) signed[r * k] = r % 4 === 0 ? 0 : -0;
  cases.push(["+0 / -0 rows", signed]);
  for (const [what, x] of cases) {
    result.x.storage.set(x);
    result.y.storage.fill(Number.NaN);
    plan!.run();
    sameBits(what, result.y.storage, plain(x));
  }
});

test("repeated rows: counted bit for bit, taken only where skipping them pays for the copies", () => {
  const g = new Generator().manualSeed(8);
  const half = rowsFrom(
    g,
    32,
    48,
    Array.from({ length: 32 }, (_, r) => (r < 16 ? 0 : r)),
  );
  assert.equal(repeatedRows(half, 32, 48), 15);
  assert.ok(repeatsPay(15, 32, 48, 128));
  // 3 repeats in 32 rows of 30 inputs (the lecture MLP's contexts): the copies would cost more
  const few = rowsFrom(
    g,
    32,
    30,
    Array.from({ length: 32 }, (_, r) => (r < 4 ? 0 : r)),
  );
  assert.equal(repeatedRows(few, 32, 30), 3);
  assert.ok(!repeatsPay(3, 32, 30, 200));
  // tanh: worth it from one row in six
  assert.ok(repeatsPay(6, 36, 128, 0) && !repeatsPay(5, 36, 128, 0));
  // -0 and +0 differ in their bits: distinct rows
  const signed = new Float32Array(32 * 4).fill(1);
  for (let r = 0; r < 32; r++) signed[r * 4] = r % 2 ? 0 : -0;
  assert.equal(repeatedRows(signed, 32, 4), 30);
  // an evaluation plan's capture on zeros: every row equal says nothing about real rows
  assert.equal(repeatedRows(new Float32Array(32 * 48), 32, 48), 0);
});

test("tanh over repeated rows: replayed on the arena (distinct rows once) == the eager tanh, bit for bit", () => {
  const g = new Generator().manualSeed(9);
  const [m, c] = [96, 128];
  const pattern = Array.from({ length: m }, (_, r) => (r % 4 === 0 ? r : r % 3));
  const x0 = rowsFrom(g, m, c, pattern);
  const { result, capture: cap } = capture(() => {
    const xs = allocF32(m * c);
    xs.set(x0);
    const x = new Tensor(xs, [m / 2, 2, c]);
    return { x, y: x.tanh() };
  });
  const plan = Plan.seal(cap, []);
  assert.ok(plan, "the arena module runs here");
  for (const [what, x] of [
    ["capture rows", x0],
    [
      "other repeats",
      rowsFrom(
        g,
        m,
        c,
        pattern.map((d) => d % 5),
      ),
    ],
    [
      "no repeats",
      rowsFrom(
        g,
        m,
        c,
        pattern.map((_, r) => r),
      ),
    ],
  ] as [string, Float32Array][]) {
    result.x.storage.set(x);
    result.y.storage.fill(Number.NaN);
    plan!.run();
    sameBits(what, result.y.storage, new Tensor(x.slice(), [m, c]).tanh().storage);
  }
});

test("a view hands its gradient down: every gradient as the copying rule gave, retained ones untouched", () => {
  // y = x * x (interior), used through a view v and directly: y.grad = v.grad (reshaped) + c2
  for (const retain of [false, true]) {
    const x = tensor([0.5, -1.5, 2, -0.25, 3, 1], { shape: [2, 3] }).requiresGrad_();
    const c1 = tensor([1, 2, 3, 4, 5, 6], { shape: [3, 2] });
    const c2 = tensor([0.5, 0.25, -1, 2, -3, 0.125], { shape: [2, 3] });
    const y = x.mul(x);
    const v = y.view(3, 2);
    if (retain) v.retainGrad();
    y.retainGrad();
    v.mul(c1).sum().add(y.mul(c2).sum()).backward();
    // d/dy = c1 (as (2, 3)) + c2; d/dx = 2 x (c1 + c2): exact in float32 for these values
    const dy = [1.5, 2.25, 2, 6, 2, 6.125];
    assert.deepEqual(Array.from(y.grad!.storage), dy);
    assert.deepEqual(
      Array.from(x.grad!.storage),
      dy.map((d, i) => 2 * [0.5, -1.5, 2, -0.25, 3, 1][i] * d),
    );
    if (retain) assert.deepEqual(Array.from(v.grad!.storage), [1, 2, 3, 4, 5, 6]);
    else assert.equal(v.grad, null);
  }
  // a leaf's view still accumulates into the leaf's own gradient buffer
  const p = tensor([1, 2, 3, 4], { shape: [2, 2] }).requiresGrad_();
  p.view(4)
    .mul(tensor([1, -1, 2, -2], { shape: [4] }))
    .sum()
    .backward();
  p.view(4).sum().backward();
  assert.deepEqual(Array.from(p.grad!.storage), [2, 0, 3, -1]);
});
