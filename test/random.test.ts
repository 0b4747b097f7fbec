// Replays every vector in fixtures/torch-rng-vectors.json (torch 1.13 AVX2 + CPython 3.11,
// see docs/torch-rng.md §11) against Generator and PyRandom.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { f32Bits, fmaF32, Generator, PyRandom } from "../src/random/index.ts";
import { cosCR, logCR, sinCR } from "../src/random/libm.ts";

// ---------------------------------------------------------------------------------------------
// Fixture types (only the fields we read)

interface F32Record {
  numel: number;
  size: number[];
  sha256_hex: string;
  hex?: string[];
  values?: number[];
  head_hex?: string[];
  tail_hex?: string[];
  head_values?: number[];
  tail_values?: number[];
}
interface Call extends Partial<F32Record> {
  op: "randn" | "rand" | "randint" | "multinomial" | "exponential_" | "randperm";
  dtype?: "float32" | "float64" | "int64";
  hex64?: string[];
  values?: number[];
  low?: number;
  high?: number;
  probs?: string;
  probs_shape?: number[];
  num_samples?: number;
  replacement?: boolean;
  lambd?: number;
  n?: number;
  name?: string;
}
interface Fixture {
  prob_vectors: Record<string, { values: number[]; hex: string[] }>;
  torch_raw_u32: Record<string, number[]>;
  torch_sequences: { seed: number; calls: Call[] }[];
  lecture_part3_init: { seed: number; calls: Call[] };
  lecture_part2_style_init: { seed: number; calls: Call[] };
  multinomial_sampling_loop: {
    seed: number;
    probs: string;
    probs_shape: number[];
    num_samples: number;
    replacement: boolean;
    draws: number;
    values: number[];
  };
  python_random: {
    shuffle_range_32033_seed42: {
      n: number;
      first50: number[];
      last50: number[];
      sha256_comma_decimal: string;
      random_after_shuffle: number;
    };
    shuffle_range_20_seed42: number[];
    names_txt_shuffle_seed42: {
      num_words: number;
      first10: string[];
      last10: string[];
      n1: number;
      n2: number;
      sha256_newline_joined: string;
    };
    seeded_sequences: Record<string, { random: number[]; random_hex64: string[]; getrandbits32: number[] }>;
  };
  torch_default_capability_randn: { seed: number; calls: Call[] };
}

const fx: Fixture = JSON.parse(
  readFileSync(new URL("../fixtures/torch-rng-vectors.json", import.meta.url), "utf8"),
);

// Number of individual values compared against the fixture (reported at the end).
let checked = 0;

// ---------------------------------------------------------------------------------------------
// Helpers

const hex8 = (x: number): string => f32Bits(x).toString(16).padStart(8, "0");
const f64Buf = new DataView(new ArrayBuffer(8));
function hex16(x: number): string {
  f64Buf.setFloat64(0, x);
  return f64Buf.getBigUint64(0).toString(16).padStart(16, "0");
}
const sha256 = (s: string): string => createHash("sha256").update(s).digest("hex");

/** Compare a float32 tensor bit-for-bit with a fixture record (full hex, or head/tail + sha256). */
function assertF32Record(out: Float32Array, rec: F32Record, label: string): void {
  assert.equal(out.length, rec.numel, `${label}: numel`);
  const hex = Array.from(out, hex8);
  if (rec.hex) {
    assert.deepEqual(hex, rec.hex, `${label}: hex`);
    assert.deepEqual(Array.from(out), rec.values, `${label}: values`);
    checked += rec.hex.length;
  }
  if (rec.head_hex) {
    assert.deepEqual(hex.slice(0, rec.head_hex.length), rec.head_hex, `${label}: head_hex`);
    checked += rec.head_hex.length;
  }
  if (rec.head_values) assert.deepEqual(Array.from(out.subarray(0, rec.head_values.length)), rec.head_values);
  if (rec.tail_hex) {
    assert.deepEqual(hex.slice(hex.length - rec.tail_hex.length), rec.tail_hex, `${label}: tail_hex`);
    checked += rec.tail_hex.length;
  }
  if (rec.tail_values)
    assert.deepEqual(Array.from(out.subarray(out.length - rec.tail_values.length)), rec.tail_values);
  // The hash covers every element, so hash-only records are still checked in full.
  assert.equal(sha256(hex.join(",")), rec.sha256_hex, `${label}: sha256 of comma-joined hex`);
  if (!rec.hex) checked += rec.numel - (rec.head_hex?.length ?? 0) - (rec.tail_hex?.length ?? 0);
}

function probsOf(name: string): Float32Array {
  const pv = fx.prob_vectors[name]!;
  const p = Float32Array.from(pv.values);
  assert.deepEqual(Array.from(p, hex8), pv.hex, `prob vector ${name} round-trips through float32`);
  return p;
}

/** Run one fixture call on g and assert its output. */
function replay(g: Generator, c: Call, label: string): void {
  switch (c.op) {
    case "randn":
    case "rand": {
      if (c.dtype === "float64") {
        const out = new Float64Array(c.numel!);
        if (c.op === "randn") g.randnF64Into(out);
        else for (let i = 0; i < out.length; i++) out[i] = g.uniformF64();
        assert.deepEqual(Array.from(out, hex16), c.hex64, `${label}: hex64`);
        assert.deepEqual(Array.from(out), c.values, `${label}: values`);
        checked += out.length;
      } else {
        const out = new Float32Array(c.numel!);
        if (c.op === "randn") g.randnInto(out);
        else g.randInto(out);
        assertF32Record(out, c as F32Record, label);
      }
      return;
    }
    case "randint": {
      const out = new Int32Array(c.size!.reduce((a, b) => a * b, 1));
      g.randintInto(out, c.low!, c.high!);
      assert.deepEqual(Array.from(out), c.values, label);
      checked += out.length;
      return;
    }
    case "exponential_": {
      const out = new Float32Array(c.numel!);
      g.exponentialInto(out, c.lambd);
      assertF32Record(out, c as F32Record, label);
      return;
    }
    case "multinomial": {
      const shape = c.probs_shape!;
      const rows = shape.length === 2 ? shape[0]! : 1;
      const k = shape[shape.length - 1]!;
      const out = g.multinomial(probsOf(c.probs!), rows, k, c.num_samples!, c.replacement);
      assert.deepEqual(Array.from(out), c.values!.flat(), label);
      checked += out.length;
      return;
    }
    case "randperm": {
      const out = g.randperm(c.n!);
      assert.deepEqual(Array.from(out), c.values, label);
      checked += out.length;
      return;
    }
  }
}

/** Ordered-integer distance between two float32 bit patterns (0 = identical, 1 = adjacent). */
function ulpDistance(a: number, b: number): number {
  const ord = (bits: number) => (bits & 0x80000000 ? -(bits & 0x7fffffff) : bits);
  return Math.abs(ord(f32Bits(a)) - ord(f32Bits(b)));
}

// ---------------------------------------------------------------------------------------------
// torch.Generator

test("spec check values (§1, §2, §3.5, §4)", () => {
  const g = new Generator(2147483647);
  assert.deepEqual([g.nextU32(), g.nextU32(), g.nextU32()], [1689602031, 3831148394, 2820341149]);

  g.manualSeed(2147483647);
  const r = new Float32Array(3);
  g.randInto(r);
  assert.deepEqual(Array.from(r), [0.7081288695335388, 0.3542391061782837, 0.10543233156204224]);

  g.manualSeed(2147483647);
  const n1 = new Float32Array(1);
  g.randnInto(n1);
  assert.equal(n1[0], -0.9800073504447937);
  assert.equal(g.getState().nextDoubleNormal, -1.6578479083048836);

  g.manualSeed(2147483647);
  const ix = new Int32Array(5);
  g.randintInto(ix, 0, 182625);
  assert.deepEqual(Array.from(ix), [138156, 41144, 63274, 75447, 70028]);
  // Float outputs hold the same integers from the same draws.
  g.manualSeed(2147483647);
  const fx64 = new Float64Array(5);
  g.randintInto(fx64, 0, 182625);
  assert.deepEqual(Array.from(fx64), [138156, 41144, 63274, 75447, 70028]);
});

test("seeding: default seed, low 32 bits only, cache cleared, negative seeds wrap mod 2^64", () => {
  assert.equal(new Generator().initialSeed(), 67280421310721n);
  const a = new Generator(5);
  const b = new Generator(2n ** 32n + 5n);
  assert.equal(b.initialSeed(), 2n ** 32n + 5n);
  for (let i = 0; i < 1000; i++) assert.equal(a.nextU32(), b.nextU32());
  assert.equal(new Generator(-1).initialSeed(), 2n ** 64n - 1n);

  // manual_seed clears the Box–Muller cache: randn(1) after reseeding repeats the first value.
  const g = new Generator(2147483647);
  const x = new Float32Array(1);
  g.randnInto(x);
  const first = x[0];
  g.manualSeed(2147483647);
  g.randnInto(x);
  assert.equal(x[0], first);
  assert.equal(g.manualSeed(7), g, "manualSeed returns this");
});

test("torch_raw_u32: first 10 raw draws for every seed", () => {
  const seeds = Object.keys(fx.torch_raw_u32);
  assert.ok(seeds.length >= 4);
  for (const seed of seeds) {
    const g = new Generator(BigInt(seed));
    const got = Array.from({ length: fx.torch_raw_u32[seed]!.length }, () => g.nextU32());
    assert.deepEqual(got, fx.torch_raw_u32[seed], `seed ${seed}`);
    checked += got.length;
  }
});

for (const seq of fx.torch_sequences) {
  test(`torch_sequences seed ${seq.seed}: all ${seq.calls.length} calls in order`, () => {
    const g = new Generator(seq.seed);
    seq.calls.forEach((c, i) => {
      replay(g, c, `seed ${seq.seed} call ${i} ${c.op}${JSON.stringify(c.size ?? c.probs_shape ?? [c.n])}`);
    });
  });
}

test("lecture_part3_init: full C, W1, W2, b2 and three randint minibatches", () => {
  const { seed, calls } = fx.lecture_part3_init;
  assert.deepEqual(
    calls.map((c) => c.name ?? c.op),
    ["C", "W1", "W2", "b2", "randint", "randint", "randint"],
  );
  const g = new Generator(seed);
  for (const c of calls) replay(g, c, `lecture ${c.name ?? c.op}`);
});

test("lecture_part2_style_init: C, W1, b1, W2, b2 hashes", () => {
  const { seed, calls } = fx.lecture_part2_style_init;
  const g = new Generator(seed);
  for (const c of calls) replay(g, c, `part2 ${c.name}`);
});

test("multinomial_sampling_loop: 20 draws from the (1,27) softmax row, seed 2147483657", () => {
  const m = fx.multinomial_sampling_loop;
  const g = new Generator(m.seed);
  const probs = probsOf(m.probs);
  const got: number[] = [];
  for (let i = 0; i < m.draws; i++) {
    got.push(g.multinomial(probs, m.probs_shape[0]!, m.probs_shape[1]!, m.num_samples, m.replacement)[0]!);
  }
  assert.deepEqual(got, m.values);
  checked += got.length;
});

test("multinomial: rows are independent rows of one exponential draw; draw counts", () => {
  const p = probsOf("softmax27");
  // (3, 27) without replacement == three (27,) calls on a generator in the same state, because
  // q = exponential_ is drawn over the whole tensor in row-major order.
  const probs3 = new Float32Array(81);
  for (let r = 0; r < 3; r++) probs3.set(p, r * 27);
  const a = new Generator(42).multinomial(probs3, 3, 27, 1);
  const g = new Generator(42);
  const b = [0, 1, 2].map(() => g.multinomial(p, 1, 27, 1)[0]);
  assert.deepEqual(Array.from(a), b);
  // Exponential path: 27 uniform_f64 = 54 raw draws; cumulative path: 2 raw draws per sample.
  const g1 = new Generator(3);
  const g2 = new Generator(3);
  g1.multinomial(p, 1, 27, 1);
  for (let i = 0; i < 54; i++) g2.nextU32();
  assert.equal(g1.nextU32(), g2.nextU32());
  g1.multinomial(p, 1, 27, 5, true);
  for (let i = 0; i < 10; i++) g2.nextU32();
  assert.equal(g1.nextU32(), g2.nextU32());
  assert.throws(() => new Generator(1).multinomial(new Float32Array(3), 1, 3, 1), /positive sum/);
  assert.throws(() => new Generator(1).multinomial(Float32Array.of(1, -1), 1, 2, 1), />= 0/);
});

test("randn draw counts (§3.2) and the Box–Muller cache across calls (§3.5)", () => {
  // (27,10) uses 270 + 16 draws; (30,200) exactly 6000.
  for (const [n, draws] of [
    [270, 286],
    [6000, 6000],
    [5400, 5416],
    [27, 43],
    [16, 16],
  ] as const) {
    const g1 = new Generator(9);
    const g2 = new Generator(9);
    g1.randnInto(new Float32Array(n));
    for (let i = 0; i < draws; i++) g2.nextU32();
    assert.equal(g1.nextU32(), g2.nextU32(), `randn(${n}) uses ${draws} draws`);
  }
  // randn(1) -> randn(20) -> randn(1): the third call returns the first call's cached sin value.
  const g = new Generator(2147483647);
  const one = new Float32Array(1);
  g.randnInto(one);
  const cached = g.getState().nextDoubleNormal!;
  g.randnInto(new Float32Array(20));
  assert.equal(g.getState().nextDoubleNormal, cached, "block path leaves the cache alone");
  g.randnInto(one);
  assert.equal(one[0], Math.fround(cached));
  assert.equal(g.getState().nextDoubleNormal, null);
});

test("getState/setState round-trip (JSON) reproduces the continuation including the cache", () => {
  const g = new Generator(2147483647);
  g.randnInto(new Float32Array(3)); // 3 per-element normals: leaves a cached sin value
  g.randintInto(new Int32Array(700), 0, 182625); // cross a twist boundary
  const snap = JSON.parse(JSON.stringify(g.getState()));
  assert.notEqual(snap.nextDoubleNormal, null);
  assert.equal(snap.initialSeed, "2147483647");

  const run = (h: Generator) => {
    const a = new Float32Array(1);
    const b = new Float32Array(20);
    const c = new Int32Array(32);
    h.randnInto(a); // must come from the cache
    h.randnInto(b);
    h.randintInto(c, 0, 182625);
    return [...Array.from(a), ...Array.from(b), ...Array.from(c), h.uniformF64()];
  };
  const expected = run(g);
  const h = new Generator(123).setState(snap);
  assert.equal(h.initialSeed(), 2147483647n);
  assert.deepEqual(run(h), expected);
  // The cached value is what the restored generator returns first.
  const h2 = new Generator().setState(snap);
  const x = new Float32Array(1);
  h2.randnInto(x);
  assert.equal(x[0], Math.fround(snap.nextDoubleNormal));
});

test("randint with range >= 2^32 uses random64 for float outputs", () => {
  const g1 = new Generator(5);
  const g2 = new Generator(5);
  const out = new Float64Array(4);
  g1.randintInto(out, -(2 ** 40), 2 ** 40);
  for (let i = 0; i < 4; i++) {
    const v = (BigInt(g2.nextU32()) << 32n) | BigInt(g2.nextU32());
    assert.equal(out[i], Number((v % 2n ** 41n) - 2n ** 40n));
  }
  assert.throws(() => g1.randintInto(new Int32Array(1), 3, 3), /low < high/);
});

test("torch_default_capability_randn: scalar kernel within 3 ulp", (t) => {
  const { seed, calls } = fx.torch_default_capability_randn;
  const g = new Generator(seed);
  let total = 0;
  let exact = 0;
  let worst = 0;
  for (const c of calls) {
    const out = new Float32Array(c.numel!);
    g.randnScalarKernelInto(out);
    c.hex!.forEach((h, i) => {
      const want = Number.parseInt(h, 16);
      const d = ulpDistance(out[i]!, new Float32Array(new Uint32Array([want]).buffer)[0]!);
      worst = Math.max(worst, d);
      if (d === 0) exact++;
      total++;
    });
  }
  t.diagnostic(`default-capability randn: ${exact}/${total} bit-exact, worst ${worst} ulp`);
  assert.ok(worst <= 3, `worst ulp distance ${worst}`);
  checked += total;
});

// ---------------------------------------------------------------------------------------------
// Exact fma

/** Exact float32 rounding of a*b + c (float32 inputs, normal range) via BigInt arithmetic. */
function fmaRef(a: number, b: number, c: number): number {
  // Decompose a float32 as M * 2^E with an integer M.
  const dec = (x: number): [bigint, number] => {
    if (x === 0) return [0n, 0];
    const bits = f32Bits(x);
    const e = (bits >>> 23) & 0xff;
    let m = BigInt((bits & 0x7fffff) | (e ? 0x800000 : 0));
    if (bits >>> 31) m = -m;
    return [m, (e || 1) - 150];
  };
  const [ma, ea] = dec(a);
  const [mb, eb] = dec(b);
  const [mc, ec] = dec(c);
  const ep = ea + eb;
  const E = Math.min(ep, ec);
  const S = ((ma * mb) << BigInt(ep - E)) + (mc << BigInt(ec - E));
  if (S === 0n) return a * b + c; // signed zero as IEEE defines it
  const neg = S < 0n;
  const A = neg ? -S : S;
  const len = A.toString(2).length;
  let q = A;
  let exp = E;
  if (len > 24) {
    const shift = len - 24;
    q = A >> BigInt(shift);
    const rem = A - (q << BigInt(shift));
    const half = 1n << BigInt(shift - 1);
    if (rem > half || (rem === half && (q & 1n) === 1n)) q += 1n;
    exp += shift;
  }
  const v = Number(q) * 2 ** exp;
  return neg ? -v : v;
}

test("fmaF32 is exact, including float32-midpoint cases where fround(a*b+c) is wrong", () => {
  // a*b + c = 1 + 3*2^-24 - 2^-70: the double sum rounds onto the float32 midpoint 1 + 3*2^-24,
  // which then ties to even (1 + 2^-22); the true value is below it, so fma gives 1 + 2^-23.
  const a = Math.fround(2 ** -24 * (1 - 2 ** -23));
  const b = Math.fround(1 + 2 ** -23);
  const c = Math.fround(1 + 2 ** -23);
  assert.equal(Math.fround(a * b + c), 1 + 2 ** -22, "naive double rounding errs here");
  assert.equal(fmaF32(a, b, c), 1 + 2 ** -23);
  assert.equal(fmaF32(-a, b, -c), -(1 + 2 ** -23));
  assert.equal(fmaRef(a, b, c), 1 + 2 ** -23);
  // Mirror case: true value just above a midpoint that ties down.
  const a2 = Math.fround(2 ** -24 * (1 + 2 ** -23));
  const b2 = Math.fround(1 + 2 ** -22);
  assert.equal(fmaF32(a2, b2, 1), fmaRef(a2, b2, 1));
  assert.equal(fmaF32(a2, b2, 1), 1 + 2 ** -23);

  // Randomised comparison against the BigInt reference, biased towards cancellation and midpoints.
  const g = new Generator(2024);
  const rnd = (lo: number, hi: number) => {
    const sign = g.nextU32() & 1 ? -1 : 1;
    const m = 1 + (g.nextU32() & 0x7fffff) * 2 ** -23;
    return Math.fround(sign * m * 2 ** (lo + (g.nextU32() % (hi - lo + 1))));
  };
  for (let i = 0; i < 100_000; i++) {
    const x = rnd(-20, 20);
    const y = rnd(-20, 20);
    let z: number;
    switch (i % 3) {
      case 0:
        z = rnd(-40, 40);
        break;
      case 1:
        z = Math.fround(-x * y); // heavy cancellation
        break;
      default: {
        // c near a float32 midpoint relative to the product
        const p = Math.fround(x * y);
        z = Math.fround(p * (1 + 2 ** -(1 + (g.nextU32() % 30))));
      }
    }
    const got = fmaF32(x, y, z);
    const want = fmaRef(x, y, z);
    if (!Object.is(got, want)) assert.fail(`fmaF32(${x}, ${y}, ${z}) = ${got}, exact ${want}`);
  }
});

// ---------------------------------------------------------------------------------------------
// Correctly rounded double log/sin/cos (the float64 Box–Muller and exponential_ paths)

test("logCR/sinCR/cosCR: correctly rounded where V8's Math.* is not (reference: mpmath, 250 bits)", () => {
  // Inputs from the samplers' domains (1 - u and 2*pi*u) on which V8's fdlibm-based Math.log,
  // Math.sin or Math.cos is off by one ulp; glibc (what torch uses) rounds these correctly.
  const logCases = [
    [0.8033053777498558, -0.2190203412525694],
    [0.4033926870398773, -0.9078447819360199],
    [0.39973233405042785, -0.9169601207388297],
    [0.5757025277703872, -0.552164196532894],
    [0.610453633957601, -0.49355293596894395],
    [0.3430453475376477, -1.0698926319904085],
    [0.8590771929479428, -0.15189649730087665],
    [0.34802075936488264, -1.055493147639489],
  ];
  const sinCases = [
    [0.1076015408638152, 0.10739402428321294],
    [2.4475920035828023, 0.6396175654208165],
    [5.435527762702568, -0.7497323642153486],
    [2.545697287030539, 0.5612500261969563],
    [1.9416775296705941, 0.9320083271040344],
    [5.444926237452208, -0.7434799858723512],
  ];
  const cosCases = [
    [3.568017779418068, -0.9104501990051225],
    [0.7401744020456251, 0.7383509503083988],
    [0.5845631860064024, 0.833953214757998],
    [3.541564124135693, -0.9210721035207667],
    [5.740954715362209, 0.8565597209978579],
    [5.180151916519758, 0.4508906586180021],
  ];
  for (const [x, y] of logCases) assert.equal(logCR(x!), y, `log(${x})`);
  for (const [x, y] of sinCases) assert.equal(sinCR(x!), y, `sin(${x})`);
  for (const [x, y] of cosCases) assert.equal(cosCR(x!), y, `cos(${x})`);
  // Exact and special values.
  assert.equal(logCR(1), 0);
  assert.equal(logCR(0.5), -Math.LN2);
  assert.equal(logCR(2 ** -1074), -744.4400719213812);
  assert.equal(logCR(0), -Infinity);
  assert.ok(Number.isNaN(logCR(-1)));
  assert.equal(cosCR(0), 1);
  assert.ok(Object.is(sinCR(-0), -0));
  // Never more than one ulp from V8's (faithful) versions on a sweep of the sampler domains.
  const g = new Generator(11);
  for (let i = 0; i < 20_000; i++) {
    const u = g.uniformF64();
    const t = 2 * Math.PI * u;
    for (const [a, b] of [
      [logCR(1 - u), Math.log(1 - u)],
      [sinCR(t), Math.sin(t)],
      [cosCR(t), Math.cos(t)],
    ] as const) {
      if (a !== b) assert.ok(Math.abs(a - b) <= Math.abs(a) * 2 ** -52 + 2 ** -1074, `${a} vs ${b}`);
    }
  }
});

// ---------------------------------------------------------------------------------------------
// CPython random

test("python_random: seeded random()/getrandbits(32) sequences", () => {
  for (const [seed, s] of Object.entries(fx.python_random.seeded_sequences)) {
    const r = new PyRandom(BigInt(seed));
    const got = s.random.map(() => r.random());
    assert.deepEqual(got, s.random, `seed ${seed} random()`);
    assert.deepEqual(got.map(hex16), s.random_hex64, `seed ${seed} random() hex64`);
    const r2 = new PyRandom(BigInt(seed));
    assert.deepEqual(
      s.getrandbits32.map(() => r2.getrandbits(32)),
      s.getrandbits32,
      `seed ${seed} getrandbits(32)`,
    );
    checked += s.random.length + s.getrandbits32.length;
  }
  const r = new PyRandom(42);
  assert.deepEqual(
    [r.random(), r.random(), r.random()],
    [0.6394267984578837, 0.025010755222666936, 0.27502931836911926],
  );
});

test("python_random: shuffle(range(32033)) and shuffle(range(20)) with seed 42", () => {
  const f = fx.python_random.shuffle_range_32033_seed42;
  const r = new PyRandom(42);
  const x = Array.from({ length: f.n }, (_, i) => i);
  r.shuffle(x);
  assert.deepEqual(x.slice(0, 5), [26785, 23366, 20900, 29382, 25333]);
  assert.deepEqual(x.slice(0, 50), f.first50);
  assert.deepEqual(x.slice(-50), f.last50);
  assert.equal(sha256(x.join(",")), f.sha256_comma_decimal);
  assert.equal(r.random(), f.random_after_shuffle);
  checked += f.n + 1;

  const r20 = new PyRandom(42);
  const y = Array.from({ length: 20 }, (_, i) => i);
  r20.shuffle(y);
  assert.deepEqual(y, fx.python_random.shuffle_range_20_seed42);
  checked += 20;
});

test("python_random: the lecture's names.txt shuffle and 80/10/10 split points", () => {
  const f = fx.python_random.names_txt_shuffle_seed42;
  // Python: open('names.txt', 'r').read().splitlines()
  const words = readFileSync(new URL("../data/names.txt", import.meta.url), "utf8").split(/\r?\n/);
  if (words[words.length - 1] === "") words.pop();
  assert.equal(words.length, f.num_words);
  new PyRandom(42).shuffle(words);
  assert.deepEqual(words.slice(0, 10), f.first10);
  assert.deepEqual(words.slice(0, 4), ["yuheng", "diondre", "xavien", "jori"]);
  assert.deepEqual(words.slice(-10), f.last10);
  assert.equal(sha256(words.join("\n")), f.sha256_newline_joined);
  assert.equal(Math.trunc(0.8 * words.length), f.n1);
  assert.equal(Math.trunc(0.9 * words.length), f.n2);
  checked += words.length;
});

test("PyRandom: big-int seeds, getrandbits(k > 32), randbelow, state (values from CPython 3.11)", () => {
  const big = new PyRandom(2n ** 100n + 7n);
  assert.deepEqual(
    [big.random(), big.random(), big.random()],
    [0.41604161323913513, 0.32676498245430574, 0.5566705938449678],
  );
  assert.equal(new PyRandom(-42).random(), 0.6394267984578837, "seed(-42) == seed(42)");
  assert.equal(new PyRandom(2 ** 32 + 5).random(), 0.15727238718789782);

  const r = new PyRandom(42);
  assert.equal(r.getrandbits(70), 20500439928067422621n);
  assert.equal(r.getrandbits(64), 5073395517033431291n);
  assert.equal(r.getrandbits(7), 31);

  const s = new PyRandom(42);
  assert.deepEqual(
    [s.randbelow(10 ** 12 + 39), s.randbelow(10 ** 12 + 39), s.randbelow(10 ** 12 + 39)],
    [123005401501, 811856239313, 267469214295],
  );
  assert.deepEqual([s.randbelow(1), s.randbelow(1)], [0, 0]);
  assert.equal(s.randbelow(2 ** 32), 3163119785);

  const x = Array.from({ length: 10 }, (_, i) => i);
  new PyRandom(7).shuffle(x);
  assert.deepEqual(x, [8, 3, 1, 4, 7, 0, 9, 6, 2, 5]);

  const a = new PyRandom(3);
  a.random();
  const snap = JSON.parse(JSON.stringify(a.getState()));
  const want = [a.random(), a.random()];
  const b = new PyRandom(99);
  b.setState(snap);
  assert.deepEqual([b.random(), b.random()], want);
});

test("summary", (t) => {
  t.diagnostic(`fixture values checked: ${checked}`);
  assert.ok(checked > 50_000);
});
