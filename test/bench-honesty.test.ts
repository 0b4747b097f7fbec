// The bench judges its own ratios only against a fair anchor (src/bench/machine.ts): PyTorch on
// an optimised BLAS, and the CPU's own native peak stated per vendor and family rather than
// assumed. On 2026-12-02 a fresh machine's python3-torch ran on Debian's reference BLAS and the
// scaling suite printed "met" for all six targets; against OpenBLAS a minute later, four missed.
import assert from "node:assert/strict";
import { test } from "node:test";
import { blasWarning, nativePeak } from "../src/bench/machine.ts";
import { formatScaling, type ScalingResult, verdict } from "../src/bench/scaling.ts";
import { scalingRow } from "./support/scaling-row.ts";

const REFERENCE = "/usr/lib/x86_64-linux-gnu/blas/libblas.so.3";
const OPENBLAS =
  "/usr/lib/x86_64-linux-gnu/libblas.so.3, /usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblasp-r0.3.21.so";

test("blasWarning: the reference BLAS is named with its fix; OpenBLAS and MKL pass", () => {
  const w = blasWarning(REFERENCE, 3.4);
  assert.ok(w);
  assert.match(w, /reference BLAS, \/usr\/lib\/x86_64-linux-gnu\/blas\/libblas\.so\.3 \(3\.4 GFLOP\/s/);
  assert.match(w, /apt-get install libopenblas0-openmp/);
  assert.match(w, /no target is judged/);
  assert.equal(blasWarning(OPENBLAS, 90), null);
  assert.equal(blasWarning("/opt/intel/lib/libmkl_rt.so", 120), null);
  assert.match(blasWarning("none mapped") ?? "", /reference BLAS, none mapped/);
  // a worker that does not say which BLAS (older scripts): nothing to judge by, no warning
  assert.equal(blasWarning(undefined), null);
});

/** A /proc/cpuinfo processor block with the fields nativePeak reads. */
const cpuinfo = (vendor: string, family: number, flags: string) =>
  `processor\t: 0\nvendor_id\t: ${vendor}\ncpu family\t: ${family}\nmodel\t\t: 17\nflags\t\t: fpu sse2 ${flags}\n\n`;

test("nativePeak: float32 flops per cycle by vendor, family and flags", () => {
  // this workplace's Zen 4 (AMD EPYC family 25 model 17): AVX-512 runs on two 256-bit FMA pipes
  const zen4 = nativePeak(cpuinfo("AuthenticAMD", 25, "fma avx2 avx512f avx512bw"));
  assert.deepEqual(zen4, { flopsPerCycle: 32, why: "AMD Zen 3/4: two 256-bit FMA pipes" });
  assert.equal(nativePeak(cpuinfo("AuthenticAMD", 26, "fma avx2 avx512f"))?.flopsPerCycle, 64);
  assert.equal(nativePeak(cpuinfo("GenuineIntel", 6, "fma avx2 avx512f"))?.flopsPerCycle, 64);
  assert.equal(nativePeak(cpuinfo("GenuineIntel", 6, "fma avx2"))?.flopsPerCycle, 32);
  // no FMA, or a vendor it does not know: not guessed
  assert.equal(nativePeak(cpuinfo("GenuineIntel", 6, "avx")), null);
  assert.equal(nativePeak(cpuinfo("HygonGenuine", 24, "fma avx2")), null);
});

const row = scalingRow;

test("verdict: an arithmetic-bound target is placed against the CPU's own peak too", () => {
  // 6x needs 60 GFLOP/s of matmul: over 16 flops/cycle at 3.5 GHz (56); the native 32 flops/cycle
  // give 112, so only wider vectors than WebAssembly's reach it
  assert.match(
    verdict(row(6, 20, 0.04), 50, 56, { gflops: 112, flopsPerCycle: 32 }),
    /over the 56\.0 of 16 flops\/cycle, 128-bit SIMD's bound at this clock; under this CPU's own 112\.0 \(32 flops\/cycle\): only wider vectors than WebAssembly's reach it\)/,
  );
  // 12x needs 120 GFLOP/s: over the core's own 112
  assert.match(
    verdict(row(12, 20, 0.04), 50, 56, { gflops: 112, flopsPerCycle: 32 }),
    /over this CPU's own 112\.0 \(32 flops\/cycle\) too: no code on this core reaches it/,
  );
});

test("formatScaling: against the reference BLAS it warns and judges no target", () => {
  const base: ScalingResult = {
    threads: [1],
    ceiling: 50,
    clock: { ghz: 3.5, flopsPerCycle: 14.3 },
    native: { flopsPerCycle: 32, why: "AMD Zen 3/4: two 256-bit FMA pipes" },
    rows: [row(2, 20, 0.04)], // 2x: met against a fair anchor
  };
  const ref = formatScaling({ ...base, torchBlas: { blas: REFERENCE, matmulGflops: 3.4 } });
  assert.match(ref, /PyTorch's BLAS: \/usr\/lib\/x86_64-linux-gnu\/blas\/libblas\.so\.3 \(3\.4 GFLOP\/s/);
  assert.match(ref, /WARNING: PyTorch is on the reference BLAS/);
  assert.match(ref, /- r: not judged \(PyTorch is on the reference BLAS\)/);
  assert.doesNotMatch(ref, /: met/);
  const fair = formatScaling({ ...base, torchBlas: { blas: OPENBLAS, matmulGflops: 90 } });
  assert.doesNotMatch(fair, /WARNING/);
  assert.match(fair, /- r: target 2x = 20\.0 steps\/CPU-s, now 2\.00x: met/);
  // the native peak at the measured clock: 32 x 3.5 = 112 GFLOP/s
  assert.match(fair, /retires at most 32 flops\/cycle \(AMD Zen 3\/4: two 256-bit FMA pipes\), 112 GFLOP\/s/);
});
