/**
 * Deterministic fuzzing of the two readers of untrusted files: decodeSafetensors and
 * readWordFile. Thousands of mutations of a valid input (bit flips, byte overwrites,
 * truncations, header-length edits, structured JSON header edits, line-level edits) must each
 * either succeed with a consistent result or throw a UserError with a one-line message — never
 * another exception — and finish quickly. Randomness comes from our seeded Generator, so a
 * failure names its seed and case and reproduces exactly.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { UserError } from "../src/errors.ts";
import { decodeSafetensors, encodeSafetensors } from "../src/io/safetensors.ts";
import { firstInvalidUtf8, parseWordBytes, readWordFile } from "../src/io/wordfile.ts";
import { Generator } from "../src/random/generator.ts";

/**
 * A hang guard, not a speed check: a decoder that allocates before validating (a header claiming
 * terabytes) or loops on a cycle takes far longer than this, while a normal call on a loaded
 * machine takes milliseconds. 500 ms flaked at load 28 on 2 cores (617 ms), so the guard is wide.
 */
const MAX_CALL_MS = 20_000;

class Rand {
  private readonly g: Generator;
  constructor(seed: number) {
    this.g = new Generator().manualSeed(seed);
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.g.uniformF32() * n) % n;
  }
  u32(): number {
    return this.g.nextU32();
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  chance(p: number): boolean {
    return this.g.uniformF32() < p;
  }
}

/** Run `fn`; it must return normally or throw a one-line UserError, within MAX_CALL_MS. */
function expectSafe<T>(label: string, fn: () => T): { ok: true; value: T } | { ok: false } {
  const t0 = performance.now();
  let result: { ok: true; value: T } | { ok: false };
  try {
    result = { ok: true, value: fn() };
  } catch (e) {
    if (!(e instanceof UserError)) {
      assert.fail(`${label}: threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
    }
    assert.ok(!/[\n\r]/.test(e.message), `${label}: message is not one line: ${JSON.stringify(e.message)}`);
    assert.ok(e.message.length < 600, `${label}: message is ${e.message.length} characters`);
    result = { ok: false };
  }
  const ms = performance.now() - t0;
  assert.ok(ms < MAX_CALL_MS, `${label}: took ${ms.toFixed(1)} ms`);
  return result;
}

// ---------------------------------------------------------------------------------------------
// safetensors

const base = encodeSafetensors(
  {
    C: { shape: [27, 10], data: Float32Array.from({ length: 270 }, (_, i) => Math.sin(i)) },
    W1: { shape: [30, 20], data: Float32Array.from({ length: 600 }, (_, i) => Math.cos(i) / 7) },
    b1: { shape: [20], data: new Float32Array(20).fill(0.5) },
    "bn.running_mean": { shape: [1, 20], data: new Float32Array(20) },
    empty: { shape: [0, 4], data: new Float32Array(0) },
    scalar: { shape: [], data: new Float32Array([3]) },
  },
  { step: "200", format: "pt" },
);
const headerLen = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(0, true);
const baseHeader = JSON.parse(new TextDecoder().decode(base.subarray(8, 8 + headerLen(base)))) as Record<
  string,
  Record<string, unknown>
>;
const baseData = base.subarray(8 + headerLen(base));

/** Rebuild a file from a header text (with a correct length field) and data bytes. */
function assemble(header: string, data: Uint8Array): Uint8Array {
  const h = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setUint32(0, h.length, true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

const WEIRD_NUMBERS = [
  -1,
  0,
  1,
  3,
  4,
  7,
  8,
  2 ** 31,
  2 ** 31 + 1,
  2 ** 32,
  2 ** 53,
  2 ** 53 + 2,
  1e300,
  1.5,
  -0,
  65536,
  4294967296,
  2 ** 64,
];
const WEIRD_VALUES: unknown[] = [null, true, "F32", "3", [], {}, [1, 2, 3], [[1]], { a: 1 }, "", "\u0000"];

/** A structured edit of the JSON header (kept as valid JSON), so validation past parsing runs. */
function mutateHeader(r: Rand): string {
  const h = structuredClone(baseHeader) as Record<string, Record<string, unknown>>;
  const names = Object.keys(h).filter((k) => k !== "__metadata__");
  const edits = 1 + r.int(3);
  for (let k = 0; k < edits; k++) {
    const name = r.pick(names);
    let t = h[name]!;
    if (typeof t !== "object" || t === null || Array.isArray(t)) t = h[name] = { ...baseHeader[name] };
    const weird = () => (r.chance(0.7) ? r.pick(WEIRD_NUMBERS) : r.pick(WEIRD_VALUES));
    switch (r.int(12)) {
      case 0: // a shape entry
        if (Array.isArray(t.shape) && t.shape.length > 0)
          (t.shape as unknown[])[r.int(t.shape.length)] = weird();
        else t.shape = [weird()];
        break;
      case 1: // an offset
        if (Array.isArray(t.data_offsets)) (t.data_offsets as unknown[])[r.int(2)] = weird();
        break;
      case 2: // shift both offsets
        if (Array.isArray(t.data_offsets)) {
          const d = r.pick([-8, -4, -1, 1, 4, 8, 4096]);
          t.data_offsets = (t.data_offsets as number[]).map((x) => x + d);
        }
        break;
      case 3:
        t.dtype = r.pick(["F16", "F64", "I64", "I32", "BF16", "f32", "", "F32 ", "U8", "BOOL", 4]);
        break;
      case 4:
        delete t[r.pick(["dtype", "shape", "data_offsets"])];
        break;
      case 5: // swap two tensors' offsets
        {
          const other = h[r.pick(names)]!;
          if (typeof other === "object" && other !== null && !Array.isArray(other))
            [t.data_offsets, other.data_offsets] = [other.data_offsets, t.data_offsets];
        }
        break;
      case 6: // big shapes
        t.shape = r.pick([
          [2 ** 31],
          [65536, 65536],
          [2 ** 20, 2 ** 20, 0],
          new Array(70).fill(1),
          [1e20],
          [-5],
        ]);
        break;
      case 7: // replace a whole entry
        h[name] = weird() as Record<string, unknown>;
        break;
      case 8: // add a tensor
        h[`extra${r.int(5)}`] = {
          dtype: "F32",
          shape: [r.int(4)],
          data_offsets: [r.pick([0, 4, baseData.length]), r.pick([0, 4, 8, baseData.length + 4])],
        };
        break;
      case 9: // metadata
        h.__metadata__ = r.pick([{ a: 1 }, [], "x", null, { a: "b" }, { "": "" }]) as Record<string, unknown>;
        break;
      case 10: // reshape without changing size
        t.shape = r.pick([[], [1], [2, 3], [0]]);
        break;
      default: // an extra field
        t[r.pick(["extra", "dtype2", "__proto__"])] = weird();
    }
  }
  let text = JSON.stringify(h);
  if (r.chance(0.15)) {
    // duplicate a key textually (JSON.stringify cannot)
    const name = r.pick(names);
    text = text.replace("{", `{${JSON.stringify(name)}:${JSON.stringify(baseHeader[name])},`);
  }
  if (r.chance(0.5)) text += " ".repeat((8 - (text.length % 8)) % 8);
  return text;
}

/** One random mutation of the base file. */
function mutateSafetensors(r: Rand): Uint8Array {
  const b = base.slice();
  const hl = headerLen(base);
  switch (r.int(9)) {
    case 0: {
      // bit flips, biased toward the header where they matter most
      const flips = 1 + r.int(8);
      for (let k = 0; k < flips; k++) {
        const i = r.chance(0.8) ? r.int(8 + hl) : r.int(b.length);
        b[i]! ^= 1 << r.int(8);
      }
      return b;
    }
    case 1: {
      const n = 1 + r.int(4);
      for (let k = 0; k < n; k++) {
        const i = r.chance(0.8) ? r.int(8 + hl) : r.int(b.length);
        b[i] = r.pick([0x00, 0xff, r.u32() & 0xff, 0x22, 0x7b, 0x7d, 0x5b, 0x2c, 0x30, 0x39, 0x2d]);
      }
      return b;
    }
    case 2:
      return b.subarray(0, r.int(b.length)); // truncation
    case 3: {
      // header length edits
      const v = new DataView(b.buffer);
      switch (r.int(5)) {
        case 0:
          v.setUint32(0, hl + r.pick([-9, -8, -1, 1, 7, 8, 1000]), true);
          break;
        case 1:
          v.setUint32(0, r.u32(), true);
          break;
        case 2:
          v.setUint32(4, 1 + r.int(0xffffffff), true);
          break;
        case 3:
          v.setUint32(0, r.int(16), true);
          break;
        default:
          v.setUint32(0, b.length - 8 - r.int(64), true);
      }
      return b;
    }
    case 4: {
      // append or insert random bytes
      const extra = new Uint8Array(1 + r.int(16)).map(() => r.u32() & 0xff);
      const at = r.int(b.length + 1);
      const out = new Uint8Array(b.length + extra.length);
      out.set(b.subarray(0, at));
      out.set(extra, at);
      out.set(b.subarray(at), at + extra.length);
      return out;
    }
    case 5: {
      // text-level header edits, length field kept right
      let text = new TextDecoder().decode(base.subarray(8, 8 + hl));
      const i = r.int(text.length);
      const ins = r.pick([
        "9",
        "99999999999",
        "-",
        ".5",
        "e9",
        '"',
        "\\",
        ",",
        "]",
        "}",
        "[",
        "{",
        "\u00ff",
        "\ud800",
        "",
      ]);
      text = r.chance(0.5)
        ? text.slice(0, i) + ins + text.slice(i + 1)
        : text.slice(0, i) + ins + text.slice(i);
      return assemble(text, baseData);
    }
    case 6:
    case 7:
      return assemble(
        mutateHeader(r),
        r.chance(0.85) ? baseData : baseData.subarray(0, r.int(baseData.length)),
      );
    default: {
      // random bytes with a plausible header length
      const n = 8 + r.int(200);
      const out = new Uint8Array(n).map(() => r.u32() & 0xff);
      new DataView(out.buffer).setUint32(0, r.int(n), true);
      new DataView(out.buffer).setUint32(4, 0, true);
      if (r.chance(0.5) && n > 8) out[8] = 0x7b;
      return out;
    }
  }
}

test("safetensors: 6,000 mutated files either decode consistently or give a one-line UserError", () => {
  const seed = 20240601;
  const r = new Rand(seed);
  let decoded = 0;
  let rejected = 0;
  for (let c = 0; c < 6000; c++) {
    const bytes = mutateSafetensors(r);
    const label = `seed ${seed} case ${c}`;
    const res = expectSafe(label, () => decodeSafetensors(bytes, { source: "fuzz.safetensors" }));
    if (!res.ok) {
      rejected++;
      continue;
    }
    decoded++;
    // Consistency: every tensor's data matches its shape and the tensors tile the data section.
    const hl = headerLen(bytes);
    let total = 0;
    for (const [name, t] of Object.entries(res.value.tensors)) {
      assert.ok(t.data instanceof Float32Array, `${label}: ${name}`);
      assert.ok(
        t.shape.every((d) => Number.isSafeInteger(d) && d >= 0),
        `${label}: ${name} shape`,
      );
      assert.equal(
        t.data.length,
        t.shape.reduce((a, d) => a * d, 1),
        `${label}: ${name}`,
      );
      total += t.data.byteLength;
    }
    assert.equal(total, bytes.length - 8 - hl, `${label}: tensors do not cover the data section`);
    for (const v of Object.values(res.value.metadata)) assert.equal(typeof v, "string", label);
  }
  // The mix must exercise both outcomes, or the fuzzer is not testing anything.
  assert.ok(decoded > 100, `only ${decoded} decoded`);
  assert.ok(rejected > 3000, `only ${rejected} rejected`);
});

// ---------------------------------------------------------------------------------------------
// word files

const dir = mkdtempSync(join(tmpdir(), "makemore-fuzz-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const baseWords = new TextEncoder().encode(
  "\uFEFFemma\nolivia\r\nava\n\n  isabella  \nzoë\rsophia\nmia\n\u00e9lodie\n\u4e2d\u6587\n\u{1F600}\nx\n",
);

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function mutateWords(r: Rand): Uint8Array {
  const b = baseWords.slice();
  switch (r.int(7)) {
    case 0: {
      const flips = 1 + r.int(6);
      for (let k = 0; k < flips; k++) b[r.int(b.length)]! ^= 1 << r.int(8);
      return b;
    }
    case 1: {
      const n = 1 + r.int(4);
      for (let k = 0; k < n; k++)
        b[r.int(b.length)] = r.pick([0x00, 0xff, 0x0a, 0x0d, 0x20, 0x80, 0xc3, 0xef, r.u32() & 0xff]);
      return b;
    }
    case 2:
      return b.subarray(0, r.int(b.length + 1));
    case 3: {
      // insert a run of one byte (maybe a long line, maybe only whitespace)
      const run = new Uint8Array(r.pick([1, 10, 999, 1000, 1001, 3000])).fill(
        r.pick([0x61, 0x20, 0x0a, 0x0d, 0x09]),
      );
      const at = r.int(b.length + 1);
      const out = new Uint8Array(b.length + run.length);
      out.set(b.subarray(0, at));
      out.set(run, at);
      out.set(b.subarray(at), at + run.length);
      return out;
    }
    case 4:
      return new Uint8Array(r.int(64)).map(() => r.u32() & 0xff);
    case 5: {
      const prefix = r.pick([
        [0xff, 0xfe],
        [0xfe, 0xff],
        [0xef, 0xbb],
        [0xef, 0xbb, 0xbf, 0xef, 0xbb, 0xbf],
        [0x0a, 0x0a],
      ]);
      const out = new Uint8Array(prefix.length + b.length);
      out.set(prefix);
      out.set(b, prefix.length);
      return out;
    }
    default:
      return new Uint8Array(r.int(20)).map(() => r.pick([0x20, 0x09, 0x0a, 0x0d, 0x61]));
  }
}

test("word files: 4,000 mutated files either read consistently or give a one-line UserError", () => {
  const seed = 7;
  const r = new Rand(seed);
  const path = join(dir, "words.txt");
  let read = 0;
  let rejected = 0;
  for (let c = 0; c < 4000; c++) {
    const bytes = mutateWords(r);
    const label = `seed ${seed} case ${c}`;
    // Every 10th case goes through a real file (open/stat/read); the rest parse the same bytes in
    // memory, which is the same code after the read, so disk speed does not limit the count.
    const viaFile = c % 10 === 0;
    if (viaFile) writeFileSync(path, bytes);
    const res = expectSafe(label, () => (viaFile ? readWordFile(path) : parseWordBytes(bytes, path)));
    // The offset finder behind the "invalid UTF-8 at offset N" message agrees with TextDecoder.
    let valid = true;
    try {
      utf8.decode(bytes);
    } catch {
      valid = false;
    }
    assert.equal(firstInvalidUtf8(bytes) === -1, valid, `${label}: firstInvalidUtf8 disagrees`);
    if (!res.ok) {
      rejected++;
      continue;
    }
    read++;
    const { words, bytes: n } = res.value;
    assert.equal(n, bytes.length, label);
    assert.ok(words.length > 0, label);
    for (const w of words) {
      assert.equal(w, w.trim(), `${label}: untrimmed word`);
      assert.ok(
        w.length > 0 && !w.includes("\n") && !w.includes("\r") && !w.includes("\0"),
        `${label}: bad word ${JSON.stringify(w)}`,
      );
      assert.ok(Array.from(w).length <= 1000, `${label}: long word`);
    }
  }
  assert.ok(read > 200, `only ${read} read`);
  assert.ok(rejected > 200, `only ${rejected} rejected`);
});
