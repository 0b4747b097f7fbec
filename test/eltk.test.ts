// The arena module's BatchNorm training kernels (assembly/arena.ts bnTrainFwd, bnTrainBwd) bit for
// bit against their plain TypeScript twin (src/tensor/kernels.ts referenceKernels, the PyTorch-exact
// float64 statistics), over every column count that reaches a different path of the kernels:
// whole groups of eight columns (statistics, normalisation, the column sums and dx of a group run
// back to back while its rows are in L1), then the pair (two columns) and single-column tails.
// Each group keeps every element's operations and each column's row order, so nothing may move
// by a bit: the tests compare with Object.is (signed zeros, NaN where the reference has one).
//
// The inputs carry what the paths treat specially: a constant column inside a group and one in
// the tail (sigma = 0 for lecture-std without eps: no dx there), signed zeros in the upstream
// gradient and in xhat (the fresh dx is 0 + v: -0 becomes +0), and both accumulate and fresh dx.

import assert from "node:assert/strict";
import { test } from "node:test";
import { Generator } from "../src/random/generator.ts";
import { referenceKernels } from "../src/tensor/kernels.ts";
import { Arena } from "../src/tensor/wasm/arena-wasm.ts";

const arena = Arena.create();
if (arena) {
  arena.seal();
  arena.ex.memory.grow(64); // 4 MB of room past the sealed size for the test's buffers
  arena.f32 = new Float32Array(arena.ex.memory.buffer);
}

let top = 0;
/** Copy arrays into the arena after the previous ones (unaligned to 4 KB: no aliasing games). */
function place(...arrays: Float32Array[]): number[] {
  const a = arena!;
  return arrays.map((arr) => {
    const ptr = top;
    top += ((arr.length + 8 + 3) & ~3) * 4;
    assert.ok(top < a.f32.length * 4, "test arena too small");
    a.f32.set(arr, ptr >> 2);
    // poison the padding: the kernels may read it but must not let it into results
    a.f32.fill(Number.NaN, (ptr >> 2) + arr.length, (ptr >> 2) + arr.length + 8);
    return ptr;
  });
}
const out = (ptr: number, n: number) => arena!.f32.slice(ptr >> 2, (ptr >> 2) + n);

function exactly(what: string, got: Float32Array, want: Float32Array): void {
  assert.equal(got.length, want.length);
  for (let i = 0; i < want.length; i++) {
    if (!Object.is(got[i], want[i])) assert.fail(`${what}[${i}]: ${got[i]}, reference ${want[i]}`);
  }
}

const VARIANTS = [
  ["lecture-std", 0],
  ["lecture", 1],
  ["torch", 2],
] as const;
// 1..19 (no group, one group and tails of 0..7 columns), 24 + 3 (the makemore output layer),
// 30 (three groups + a pair + ...), 33, 64, 100 and 200 (the lecture's hidden layers)
const WIDTHS = [...Array.from({ length: 19 }, (_, i) => i + 1), 24, 27, 30, 33, 64, 100, 200];

test("arena bnTrainFwd / bnTrainBwd == the reference bit for bit over every group / tail width", () => {
  assert.ok(arena, "assembly/arena.ts did not instantiate");
  const g = new Generator().manualSeed(2026);
  const randn = (n: number) => {
    const v = new Float32Array(n);
    g.randnInto(v);
    return v;
  };
  for (const [variant, code] of VARIANTS) {
    for (const eps of variant === "lecture-std" ? [0, 1e-5] : [1e-5]) {
      for (const N of [2, 5, 32]) {
        for (const H of WIDTHS) {
          top = arena!.bytes + 4 * ((N * H) % 61); // a different alignment from shape to shape
          const what = `${variant} eps=${eps} N=${N} H=${H}`;
          const x = randn(N * H).map((v, i) => v * (1 + (i % 5)) + (i % 3) - 1);
          // constant columns: column 3 (in the first group once H >= 8) and the last one
          for (let r = 0; r < N; r++) {
            if (H > 3) x[r * H + 3] = 0.75;
            if (H > 9) x[r * H + H - 1] = -2;
          }
          const gamma = randn(H);
          const beta = randn(H);
          const ref = {
            mean: new Float32Array(H),
            spread: new Float32Array(H),
            sigma: new Float32Array(H),
            xhat: new Float32Array(N * H),
            y: new Float32Array(N * H),
          };
          referenceKernels.batchNormTrainForward(
            x,
            N,
            H,
            gamma,
            beta,
            variant,
            eps,
            ref.mean,
            ref.spread,
            ref.sigma,
            ref.xhat,
            ref.y,
          );
          const nan = (n: number) => new Float32Array(n).fill(Number.NaN);
          const [px, pg, pb, pm, ps, psg, pxh, py] = place(
            x,
            gamma,
            beta,
            nan(H),
            nan(H),
            nan(H),
            nan(N * H),
            nan(N * H),
          );
          arena!.ex.bnTrainFwd(px, N, H, pg, pb, code, eps, pm, ps, psg, pxh, py);
          exactly(`mean ${what}`, out(pm, H), ref.mean);
          exactly(`spread ${what}`, out(ps, H), ref.spread);
          exactly(`sigma ${what}`, out(psg, H), ref.sigma);
          exactly(`xhat ${what}`, out(pxh, N * H), ref.xhat);
          exactly(`y ${what}`, out(py, N * H), ref.y);

          // backward on the reference's xhat and sigma, with signed zeros in g and xhat
          const xhat = ref.xhat.map((v, i) => (i % 13 === 5 ? -0 : v));
          const gr = randn(N * H).map((v, i) => (i % 11 === 2 ? -0 : i % 17 === 4 ? 0 : v));
          const D = variant === "torch" ? N : N - 1;
          const dg0 = randn(H);
          const db0 = randn(H);
          const dx0 = randn(N * H);
          const want = { dg: dg0.slice(), db: db0.slice(), dx: dx0.slice() };
          referenceKernels.batchNormTrainBackward(
            gr,
            xhat,
            ref.sigma,
            gamma,
            N,
            H,
            D,
            want.dg,
            want.db,
            want.dx,
          );
          const [pgr, pxh2, psg2, pg2, pdg, pdb, pdx, sums] = place(
            gr,
            xhat,
            ref.sigma,
            gamma,
            dg0,
            db0,
            dx0,
            nan(8 * H + 8),
          );
          arena!.ex.bnTrainBwd(pgr, pxh2, psg2, pg2, N, H, D, pdg, pdb, pdx, 1, sums);
          exactly(`dgamma ${what}`, out(pdg, H), want.dg);
          exactly(`dbeta ${what}`, out(pdb, H), want.db);
          exactly(`dx (accumulated) ${what}`, out(pdx, N * H), want.dx);

          // fresh dx over a stale (NaN) buffer: 0 + v, as the reference's accX = false writes it
          const fresh = nan(N * H);
          const dg1 = randn(H);
          const db1 = randn(H);
          const want1 = { dg: dg1.slice(), db: db1.slice() };
          referenceKernels.batchNormTrainBackward(
            gr,
            xhat,
            ref.sigma,
            gamma,
            N,
            H,
            D,
            want1.dg,
            want1.db,
            fresh,
            false,
          );
          const [pdg1, pdb1, pdx1] = place(dg1, db1, nan(N * H));
          arena!.ex.bnTrainBwd(pgr, pxh2, psg2, pg2, N, H, D, pdg1, pdb1, pdx1, 0, sums);
          exactly(`dgamma (fresh dx) ${what}`, out(pdg1, H), want1.dg);
          exactly(`dbeta (fresh dx) ${what}`, out(pdb1, H), want1.db);
          exactly(`dx (fresh) ${what}`, out(pdx1, N * H), fresh);
        }
      }
    }
  }
});
