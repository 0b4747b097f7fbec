/**
 * src/io: safetensors layout and rejection of hostile files, atomic writes, word files, run dirs.
 *
 * Byte-exact layout is checked two ways: against the reference implementation's own test vectors
 * (Rust `safetensors::serialize`, hex copied below as expected bytes) and against
 * fixtures/safetensors-tiny.safetensors, written by scripts/torch/check_safetensors.py with torch.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs, {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { createRequire, syncBuiltinESMExports } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, describe, mock, test } from "node:test";
import { fileURLToPath } from "node:url";
import { parseLines } from "../src/data/dataset.ts";
import { UserError } from "../src/errors.ts";
import {
  appendLine,
  ensureWritableDir,
  removeStaleTemps,
  staleTemps,
  writeFileAtomic,
} from "../src/io/atomic.ts";
import { osReason, showName } from "../src/io/describe.ts";
import { createRunDir, readJsonFile, readJsonLines, runPaths, writeJsonFile } from "../src/io/rundir.ts";
import {
  decodeSafetensors,
  encodeSafetensors,
  readSafetensorsFile,
  writeSafetensorsFile,
} from "../src/io/safetensors.ts";
import { firstInvalidUtf8, readWordFile } from "../src/io/wordfile.ts";

const root = mkdtempSync(join(tmpdir(), "makemore-io-"));
after(() => rmSync(root, { recursive: true, force: true }));
let dirCount = 0;
function freshDir(): string {
  const d = join(root, `d${dirCount++}`);
  mkdirSync(d);
  return d;
}
const isRoot = typeof process.getuid === "function" && process.getuid() === 0;

let bundled: string | null = null;
/**
 * The probe and the library code it runs, bundled into one plain .mjs file in a directory nobody
 * can read: the checkout itself (and its node_modules, tsx included) may sit below a directory
 * only root may enter, as /root is in most containers. esbuild is tsx's own compiler.
 */
function probeBundle(): string {
  if (bundled) return bundled;
  const dir = mkdtempSync(join(tmpdir(), "makemore-probe-"));
  chmodSync(dir, 0o755);
  const out = join(dir, "permission-probe.mjs");
  const esbuild = createRequire(createRequire(import.meta.url).resolve("tsx"))("esbuild") as {
    buildSync(o: object): unknown;
  };
  esbuild.buildSync({
    entryPoints: [fileURLToPath(new URL("./support/permission-probe.ts", import.meta.url))],
    bundle: true,
    platform: "node",
    format: "esm",
    outfile: out,
    logLevel: "silent",
  });
  chmodSync(out, 0o644);
  bundled = out;
  return out;
}

/**
 * Run a file operation where permissions apply: in this process normally, or, as root (whom chmod
 * does not stop), in a child process running as the unprivileged user nobody (65534).
 */
function permissionError(
  op: "write" | "ensure" | "read",
  path: string,
  direct: () => unknown,
): string | null {
  if (!isRoot) {
    try {
      direct();
      return null;
    } catch (e) {
      assert.ok(e instanceof UserError, String(e));
      return e.message;
    }
  }
  // nobody must be able to reach the path: open up the temporary directories above it
  for (let d = dirname(path); d.startsWith(tmpdir()) && d !== tmpdir(); d = dirname(d))
    chmodSync(d, statSync(d).mode | 0o005);
  const probe = probeBundle();
  const r = spawnSync(process.execPath, [probe, op, path], {
    cwd: dirname(probe),
    encoding: "utf8",
    uid: 65534,
    gid: 65534,
    env: { ...process.env, HOME: tmpdir() },
  });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
  if (out.message !== null) assert.equal(out.name, "UserError");
  return out.message;
}

/** Assert `fn` throws a one-line UserError whose message matches `re`; returns the message. */
function rejects(fn: () => unknown, re: RegExp): string {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof UserError, `expected a UserError, got ${String(caught)}`);
  const msg = caught.message;
  assert.ok(!/[\n\r]/.test(msg), `message is not one line: ${JSON.stringify(msg)}`);
  assert.match(msg, re);
  return msg;
}

const enc = new TextEncoder();
const f32 = (...xs: number[]) => new Float32Array(xs);
const f32Bytes = (...xs: number[]) => new Uint8Array(f32(...xs).buffer);

/** A safetensors file from a header string (padded unless `pad` is false) and data bytes. */
function craft(header: string | object, data: Uint8Array = new Uint8Array(0), pad = true): Uint8Array {
  let h = enc.encode(typeof header === "string" ? header : JSON.stringify(header));
  if (pad && h.length % 8 !== 0) {
    const p = new Uint8Array(Math.ceil(h.length / 8) * 8).fill(0x20);
    p.set(h);
    h = p;
  }
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setUint32(0, h.length, true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}
const info = (shape: number[], begin: number, end: number, dtype = "F32") => ({
  dtype,
  shape,
  data_offsets: [begin, end],
});

// ---------------------------------------------------------------------------------------------
describe("safetensors layout", () => {
  // The reference implementation's own test vectors (safetensors/src/tensor.rs, tests module).
  const data0to5 = f32(0, 1, 2, 3, 4, 5);
  const dataBytes = [0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64];

  test("matches the reference serializer: attn.0 [1,2,3], header exactly 64 bytes, no padding", () => {
    const out = encodeSafetensors({ "attn.0": { shape: [1, 2, 3], data: data0to5 } });
    const header = '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}';
    assert.equal(header.length, 64);
    assert.deepEqual(Array.from(out), [64, 0, 0, 0, 0, 0, 0, 0, ...enc.encode(header), ...dataBytes]);
  });

  test("matches the reference serializer: attn0 [1,1,2,3], header padded with 7 spaces to 72", () => {
    const out = encodeSafetensors({ attn0: { shape: [1, 1, 2, 3], data: data0to5 } });
    const header = `{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}${" ".repeat(7)}`;
    assert.equal(header.length, 72);
    assert.deepEqual(Array.from(out), [72, 0, 0, 0, 0, 0, 0, 0, ...enc.encode(header), ...dataBytes]);
  });

  test("matches the reference serializer: no tensors, with and without metadata", () => {
    assert.deepEqual(
      Array.from(encodeSafetensors({})),
      [8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32],
    );
    const header = `{"__metadata__":{"framework":"pt"}}${" ".repeat(5)}`;
    assert.deepEqual(Array.from(encodeSafetensors({}, { framework: "pt" })), [
      40,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      ...enc.encode(header),
    ]);
    assert.deepEqual(decodeSafetensors(encodeSafetensors({}, { framework: "pt" })), {
      tensors: {},
      metadata: { framework: "pt" },
    });
  });

  const fixture = new Uint8Array(
    readFileSync(new URL("../fixtures/safetensors-tiny.safetensors", import.meta.url)),
  );
  const tiny = {
    zoë: { shape: [1, 1], data: f32(1 / 3) },
    scalar: { shape: [], data: f32(-7) },
    b: { shape: [3], data: f32(1.5, -2.0, 3.0e-8) },
    empty: { shape: [0, 3], data: f32() },
    W: { shape: [2, 3], data: f32(-0.5, -0.25, 0, 0.25, 0.5, 0.75) },
  };
  const tinyMeta = { note: "makemore.ts layout fixture", format: "pt" };

  test("byte-identical to the fixture written with torch by scripts/torch/check_safetensors.py", () => {
    assert.deepEqual(encodeSafetensors(tiny, tinyMeta), fixture);
  });

  test("decodes the fixture: shapes, exact float32 values, metadata", () => {
    const { tensors, metadata } = decodeSafetensors(fixture);
    assert.deepEqual(metadata, { format: "pt", note: "makemore.ts layout fixture" });
    assert.deepEqual(Object.keys(tensors).sort(), ["W", "b", "empty", "scalar", "zoë"]);
    for (const [name, t] of Object.entries(tiny)) {
      assert.deepEqual(tensors[name]!.shape, t.shape, name);
      assert.deepEqual(tensors[name]!.data, t.data, name);
    }
  });

  test("round trip: empty, scalar, NaN/-0/inf bits, awkward names, sorted by code point", () => {
    const nan = new Float32Array(new Uint32Array([0x7fc00001, 0xffc00000, 0x7f800001]).buffer);
    const input = {
      "0": { shape: [2], data: f32(1, 2) },
      "10": { shape: [1], data: f32(3) },
      "2": { shape: [], data: f32(4) },
      ["__proto__"]: { shape: [1], data: f32(5) },
      'line\nbreak "q"': { shape: [3], data: nan },
      "\u{1F600}": { shape: [1], data: f32(-0) }, // astral: sorts after U+FFFD by code point
      "\uFFFD": { shape: [2, 0, 5], data: f32() },
      big: { shape: [3, 4, 5], data: Float32Array.from({ length: 60 }, (_, i) => i * 1.5 - 7) },
      inf: { shape: [2], data: f32(Infinity, -Infinity) },
    };
    const bytes = encodeSafetensors(input, { "k\u0000": "v\n", "": "" });
    const header = new TextDecoder().decode(
      bytes.subarray(8, 8 + new DataView(bytes.buffer).getUint32(0, true)),
    );
    const order = [...header.matchAll(/"((?:[^"\\]|\\.)*)":\{"dtype"/g)].map((m) => JSON.parse(`"${m[1]}"`));
    assert.deepEqual(order, [
      "0",
      "10",
      "2",
      "__proto__",
      "big",
      "inf",
      'line\nbreak "q"',
      "\uFFFD",
      "\u{1F600}",
    ]);
    const back = decodeSafetensors(bytes);
    assert.deepEqual(back.metadata, { "": "", "k\u0000": "v\n" });
    assert.equal(Object.getPrototypeOf(back.tensors), Object.prototype);
    for (const [name, t] of Object.entries(input)) {
      assert.ok(Object.hasOwn(back.tensors, name), name);
      const got = back.tensors[name]!;
      assert.deepEqual(got.shape, t.shape, name);
      assert.deepEqual(new Uint8Array(got.data.buffer), new Uint8Array(t.data.buffer), name); // bit exact
    }
  });

  test("decodes from an unaligned view (odd byteOffset) into aligned Float32Arrays", () => {
    const bytes = encodeSafetensors({ w: { shape: [2, 2], data: f32(1, 2, 3, 4) } });
    const shifted = new Uint8Array(bytes.length + 3);
    shifted.set(bytes, 3);
    const view = shifted.subarray(3);
    const { tensors } = decodeSafetensors(view);
    assert.deepEqual(tensors.w!.data, f32(1, 2, 3, 4));
    assert.equal(tensors.w!.data.byteOffset, 0);
    // Hostile but valid: a 1-byte header pad that leaves the data at an odd file offset.
    let h = '{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}';
    while ((8 + h.length) % 4 !== 1) h += " ";
    const odd = craft(h, f32Bytes(2.5), false);
    assert.deepEqual(decodeSafetensors(odd).tensors.w!.data, f32(2.5));
  });

  test("encoder refuses programming errors with RangeError", () => {
    assert.throws(() => encodeSafetensors({ a: { shape: [3], data: f32(1, 2) } }), RangeError);
    assert.throws(() => encodeSafetensors({ a: { shape: [-1], data: f32() } }), RangeError);
    assert.throws(() => encodeSafetensors({ __metadata__: { shape: [], data: f32(1) } }), RangeError);
  });

  test("file helpers: writeSafetensorsFile / readSafetensorsFile, missing and damaged files", () => {
    const d = freshDir();
    const p = join(d, "checkpoint.safetensors");
    writeSafetensorsFile(p, { w: { shape: [2], data: f32(1, 2) } }, { step: "3" });
    assert.deepEqual(readSafetensorsFile(p, { what: "checkpoint" }).metadata, { step: "3" });
    assert.deepEqual(readdirSync(d), ["checkpoint.safetensors"]);
    rejects(
      () => readSafetensorsFile(join(d, "nope"), { what: "checkpoint" }),
      /^checkpoint .*nope does not exist$/,
    );
    rejects(() => readSafetensorsFile(d), /is a directory/);
    writeFileSync(p, readFileSync(p).subarray(0, 50));
    rejects(
      () => readSafetensorsFile(p, { what: "checkpoint" }),
      /^checkpoint .*checkpoint\.safetensors is not a valid safetensors file: the header length field says \d+ bytes but only 42 bytes follow it$/,
    );
  });
});

// ---------------------------------------------------------------------------------------------
describe("safetensors rejects hostile files with one-line UserErrors", () => {
  const ok1 = { a: info([2], 0, 8) };
  const data8 = f32Bytes(1, 2);
  const cases: [string, Uint8Array, RegExp, { maxHeaderBytes?: number }?][] = [
    ["empty file", new Uint8Array(0), /only 0 bytes long/],
    ["7 bytes", new Uint8Array(7), /only 7 bytes long, shorter than the 8-byte header length field/],
    [
      "header length past the end",
      (() => {
        const b = craft(ok1, data8);
        new DataView(b.buffer).setUint32(0, 1000, true);
        return b;
      })(),
      /header length field says 1000 bytes but only \d+ bytes follow it/,
    ],
    [
      "header length 2^64-1",
      (() => {
        const b = craft(ok1, data8);
        b.fill(0xff, 0, 8);
        return b;
      })(),
      /header length field says 18446744073709551615 bytes/,
    ],
    [
      "header over the limit",
      craft(ok1, data8),
      /the header is 56 bytes, over the 16-byte limit/,
      { maxHeaderBytes: 16 },
    ],
    ["header length 0", craft("", new Uint8Array(4), false), /the header is empty/],
    ["header not starting with {", craft(" {}"), /does not start with '\{'/],
    ["header array", craft("[1]"), /does not start with '\{'/],
    [
      "header invalid UTF-8 bytes",
      (() => {
        const b = craft('{"a":1}x');
        b[8 + 2] = 0xc3; // lead byte followed by ':' — invalid
        b[8 + 3] = 0x28;
        return b;
      })(),
      /the header is not valid UTF-8/,
    ],
    ["header not JSON", craft('{"a":'), /the header is not valid JSON \(unexpected end at character 8\)/],
    ["trailing garbage", craft('{"a":1}x'), /not valid JSON \(unexpected text after the JSON object/],
    [
      "NUL padding",
      craft("{}\u0000\u0000\u0000\u0000\u0000\u0000", undefined, false),
      /unexpected text after/,
    ],
    ["deep nesting", craft(`{"a":${"[".repeat(50)}${"]".repeat(50)}}`), /nesting too deep/],
    [
      "duplicate tensor",
      craft(
        '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}',
        data8,
      ),
      /the header names "a" twice/,
    ],
    [
      "duplicate field",
      craft('{"a":{"dtype":"F32","shape":[2],"shape":[2],"data_offsets":[0,8]}}', data8),
      /tensor "a" has the field "shape" twice/,
    ],
    [
      "metadata not an object",
      craft({ __metadata__: [1], ...ok1 }, data8),
      /"__metadata__" is an array of 1, not an object/,
    ],
    [
      "metadata value not a string",
      craft({ __metadata__: { step: 3 }, ...ok1 }, data8),
      /"__metadata__" value for "step" is 3, not a string/,
    ],
    [
      "tensor entry not an object",
      craft({ a: "x" }),
      /tensor "a" is described by the string "x", not an object/,
    ],
    ["missing dtype", craft({ a: { shape: [2], data_offsets: [0, 8] } }, data8), /tensor "a" has no "dtype"/],
    [
      "missing shape",
      craft({ a: { dtype: "F32", data_offsets: [0, 8] } }, data8),
      /tensor "a" has no "shape"/,
    ],
    [
      "missing offsets",
      craft({ a: { dtype: "F32", shape: [2] } }, data8),
      /tensor "a" has no "data_offsets"/,
    ],
    [
      "dtype F16",
      craft({ a: info([4], 0, 8, "F16") }, data8),
      /tensor "a" has dtype F16; only F32 is supported/,
    ],
    ["dtype F64", craft({ a: info([1], 0, 8, "F64") }, data8), /has dtype F64; only F32 is supported/],
    ["dtype I64", craft({ a: info([1], 0, 8, "I64") }, data8), /has dtype I64; only F32/],
    ["unknown dtype", craft({ a: info([2], 0, 8, "Q99") }, data8), /tensor "a" has unknown dtype "Q99"/],
    ["lowercase dtype", craft({ a: info([2], 0, 8, "f32") }, data8), /unknown dtype "f32"/],
    [
      "dtype number",
      craft({ a: { dtype: 5, shape: [2], data_offsets: [0, 8] } }, data8),
      /has dtype 5, not a dtype name/,
    ],
    [
      "shape not array",
      craft({ a: { dtype: "F32", shape: 2, data_offsets: [0, 8] } }, data8),
      /has shape 2, not an array/,
    ],
    ["negative dim", craft({ a: info([-2], 0, 8) }, data8), /shape entry -2, not a non-negative integer/],
    [
      "fractional dim",
      craft({ a: info([1.5], 0, 8) }, data8),
      /shape entry 1\.5, not a non-negative integer/,
    ],
    [
      "exponent dim",
      craft('{"a":{"dtype":"F32","shape":[2e0],"data_offsets":[0,8]}}', data8),
      /shape entry 2e0/,
    ],
    ["string dim", craft({ a: info(["2" as unknown as number], 0, 8) }, data8), /shape entry the string "2"/],
    ["null dim", craft({ a: info([null as unknown as number], 0, 8) }, data8), /shape entry null/],
    [
      "dim beyond 2^53",
      craft('{"a":{"dtype":"F32","shape":[9007199254740993],"data_offsets":[0,8]}}', data8),
      /absurd dimension 9007199254740993/,
    ],
    [
      "absurd numel",
      craft({ a: info([65536, 65536], 0, 8) }, data8),
      /absurd shape \[65536, 65536\] \(over 2\^31 values\)/,
    ],
    ["too many dims", craft({ a: info(new Array(65).fill(1), 0, 4) }, f32Bytes(1)), /has 65 dimensions/],
    [
      "size mismatch",
      craft({ a: info([3], 0, 8) }, data8),
      /tensor "a" has shape \[3\] \(12 bytes of F32\) but data_offsets \[0, 8\] span 8 bytes/,
    ],
    [
      "offsets not a pair",
      craft({ a: { dtype: "F32", shape: [2], data_offsets: [0, 8, 8] } }, data8),
      /not a \[begin, end\] pair/,
    ],
    [
      "offsets fractional",
      craft({ a: info([2], 0, 8.5) }, data8),
      /data_offsets that are not non-negative integers/,
    ],
    [
      "offsets negative",
      craft({ a: info([0], -4, -4) }, data8),
      /data_offsets that are not non-negative integers/,
    ],
    [
      "offsets strings",
      craft({ a: info([2], "0" as unknown as number, 8) }, data8),
      /not non-negative integers/,
    ],
    [
      "end before begin",
      craft({ a: info([0], 8, 4) }, data8),
      /data_offsets \[8, 4\] that end before they begin/,
    ],
    [
      "past data section",
      craft({ a: info([4], 0, 16) }, data8),
      /data_offsets \[0, 16\] past the end of the 8-byte data section/,
    ],
    [
      "offset 2^64",
      craft('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,18446744073709551616]}}', data8),
      /past the end of the 8-byte data section/,
    ],
    [
      "overlap",
      craft({ a: info([2], 0, 8), b: info([1], 4, 8) }, data8),
      /tensors "a" and "b" overlap in the data section/,
    ],
    [
      "hole",
      craft({ a: info([1], 0, 4), b: info([1], 8, 12) }, f32Bytes(1, 2, 3)),
      /bytes 4\.\.8 of the data section belong to no tensor/,
    ],
    [
      "hole at start",
      craft({ a: info([1], 4, 8) }, data8),
      /bytes 0\.\.4 of the data section belong to no tensor/,
    ],
    [
      "trailing bytes",
      craft({ a: info([1], 0, 4) }, data8),
      /the data section has 8 bytes but the tensors cover only the first 4/,
    ],
    ["empty tensor inside another", craft({ a: info([2], 0, 8), z: info([0], 4, 4) }, data8), /overlap/],
    ["hostile name", craft({ [`x\n${"y".repeat(500)}`]: "bad" }), /tensor "x\\nyyyy.*…" is described by/],
  ];
  for (const [name, bytes, re, opts] of cases) {
    test(name, () => {
      const msg = rejects(
        () => decodeSafetensors(bytes, { ...opts, source: "runs/a/checkpoint.safetensors" }),
        re,
      );
      assert.ok(msg.startsWith("runs/a/checkpoint.safetensors is not a valid safetensors file: "), msg);
      assert.ok(msg.length < 400, `message too long (${msg.length})`);
    });
  }

  test("accepts what the reference accepts: unpadded headers, zero-size tensors, any key order", () => {
    const b = craft(
      '{"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"e":{"dtype":"F32","shape":[0],"data_offsets":[8,8]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"z":{"dtype":"F32","shape":[0,7],"data_offsets":[0,0]}}',
      data8,
      false,
    );
    const { tensors } = decodeSafetensors(b);
    assert.deepEqual(tensors.a!.data, f32(1));
    assert.deepEqual(tensors.b!.data, f32(2));
    assert.deepEqual(tensors.z!.shape, [0, 7]);
    // unknown extra fields are ignored, as serde does
    assert.deepEqual(
      decodeSafetensors(craft({ a: { ...info([2], 0, 8), extra: [1] } }, data8)).tensors.a!.data,
      f32(1, 2),
    );
  });

  test("a claimed 8 GiB tensor in a small file is refused without allocating it", () => {
    const before = process.memoryUsage().arrayBuffers;
    rejects(() => decodeSafetensors(craft({ a: info([2 ** 31], 0, 2 ** 33) }, data8)), /past the end/);
    rejects(() => decodeSafetensors(craft({ a: info([2 ** 31 + 1], 0, 8) }, data8)), /absurd dimension/);
    assert.ok(process.memoryUsage().arrayBuffers - before < 64 * 1024 * 1024);
  });
});

// ---------------------------------------------------------------------------------------------
describe("atomic writes", () => {
  test("writeFileAtomic writes and replaces, leaving no temp file", () => {
    const d = freshDir();
    const p = join(d, "state.json");
    writeFileAtomic(p, "one");
    writeFileAtomic(p, new Uint8Array([0x74, 0x77, 0x6f]));
    assert.equal(readFileSync(p, "utf8"), "two");
    assert.deepEqual(readdirSync(d), ["state.json"]);
    assert.deepEqual(staleTemps(d), []);
  });

  test("target is a directory: UserError, directory untouched, no temp file", () => {
    const d = freshDir();
    const target = join(d, "checkpoint.safetensors");
    mkdirSync(target);
    writeFileSync(join(target, "inner"), "keep");
    rejects(
      () => writeFileAtomic(target, "x"),
      /^cannot write .*checkpoint\.safetensors: it is a directory; writes only replace regular files$/,
    );
    assert.deepEqual(readdirSync(d), ["checkpoint.safetensors"]);
    assert.equal(readFileSync(join(target, "inner"), "utf8"), "keep");
  });

  test("parent missing or a file: UserError naming the path", () => {
    const d = freshDir();
    rejects(
      () => writeFileAtomic(join(d, "no", "x.json"), "x"),
      /^cannot write .*x\.json: no such file or directory/,
    );
    writeFileSync(join(d, "f"), "");
    rejects(() => writeFileAtomic(join(d, "f", "x.json"), "x"), /a parent path is not a directory/);
  });

  test("read-only directory: refused, old file intact", () => {
    const d = freshDir();
    const p = join(d, "config.json");
    writeFileSync(p, "old");
    chmodSync(p, 0o644);
    chmodSync(d, 0o555);
    try {
      assert.match(
        permissionError("write", p, () => writeFileAtomic(p, "new")) ?? "no error",
        /^cannot write .*config\.json: not writable: permission denied/,
      );
    } finally {
      chmodSync(d, 0o755);
    }
    assert.equal(readFileSync(p, "utf8"), "old");
    assert.deepEqual(readdirSync(d), ["config.json"]);
  });

  test("disk full mid-write (simulated ENOSPC): old target intact, temp file removed", () => {
    const d = freshDir();
    const p = join(d, "checkpoint.safetensors");
    writeFileSync(p, "old contents");
    const real = fs.writeSync;
    let calls = 0;
    mock.method(fs, "writeSync", (...args: Parameters<typeof fs.writeSync>) => {
      if (calls++ === 0) return (real as (...a: unknown[]) => number)(args[0], args[1], args[2], 3); // partial write
      throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
    });
    syncBuiltinESMExports();
    try {
      rejects(
        () => writeFileAtomic(p, new Uint8Array(1000)),
        /^cannot write .*checkpoint\.safetensors: disk full \(ENOSPC\)$/,
      );
    } finally {
      mock.restoreAll();
      syncBuiltinESMExports();
    }
    assert.equal(calls, 2);
    assert.equal(readFileSync(p, "utf8"), "old contents");
    assert.deepEqual(readdirSync(d), ["checkpoint.safetensors"]);
  });

  test("osReason words", () => {
    assert.equal(osReason({ code: "ENOSPC" }), "disk full (ENOSPC)");
    assert.match(osReason({ code: "EROFS" }), /not writable: read-only file system/);
    assert.match(osReason({ code: "EACCES" }), /not writable: permission denied/);
    assert.equal(showName("a\nb"), '"a\\nb"');
  });

  test("appendLine appends JSONL lines; refuses embedded newlines; errors are UserErrors", () => {
    const d = freshDir();
    const p = join(d, "metrics.jsonl");
    appendLine(p, JSON.stringify({ step: 1 }));
    appendLine(p, JSON.stringify({ step: 2 }), { fsync: true });
    assert.equal(readFileSync(p, "utf8"), '{"step":1}\n{"step":2}\n');
    assert.throws(() => appendLine(p, "a\nb"), RangeError);
    rejects(() => appendLine(d, "x"), /^cannot append to .*: it is a directory/);
  });

  test("ensureWritableDir creates nested dirs, leaves no probe, refuses files", () => {
    const d = freshDir();
    const nested = join(d, "a", "b");
    ensureWritableDir(nested);
    assert.ok(statSync(nested).isDirectory());
    assert.deepEqual(readdirSync(nested), []);
    writeFileSync(join(d, "file"), "x");
    rejects(
      () => ensureWritableDir(join(d, "file")),
      /^output directory .*file exists but is not a directory$/,
    );
    rejects(() => ensureWritableDir(join(d, "file", "sub")), /cannot be created: a parent path is a file/);
    assert.equal(readFileSync(join(d, "file"), "utf8"), "x");
  });

  test("ensureWritableDir on a read-only directory", () => {
    const d = freshDir();
    chmodSync(d, 0o555);
    try {
      assert.match(
        permissionError("ensure", d, () => ensureWritableDir(d)) ?? "no error",
        /output directory .* is not writable: permission denied \(EACCES\)$/,
      );
    } finally {
      chmodSync(d, 0o755);
    }
  });

  test("removeStaleTemps clears temps of dead processes only", () => {
    const d = freshDir();
    writeFileSync(join(d, ".x.json.tmp-999999999-0"), "dead");
    writeFileSync(join(d, `.x.json.tmp-${process.pid}-7`), "live");
    writeFileSync(join(d, "x.json"), "keep");
    removeStaleTemps(d);
    assert.deepEqual(readdirSync(d).sort(), [`.x.json.tmp-${process.pid}-7`, "x.json"]);
  });
});

// ---------------------------------------------------------------------------------------------
describe("word files", () => {
  const d = freshDir();
  let n = 0;
  const file = (content: string | Uint8Array) => {
    const p = join(d, `w${n++}.txt`);
    writeFileSync(p, content);
    return p;
  };

  test("LF, CRLF, CR, BOM, surrounding spaces and blank lines", () => {
    const r = readWordFile(file("\uFEFFemma\r\n  olivia \r\n\r\n\tava\rzoë\n\n"));
    assert.deepEqual(r.words, ["emma", "olivia", "ava", "zoë"]);
    assert.equal(r.skippedBlank, 2);
    assert.equal(r.bytes, Buffer.byteLength("\uFEFFemma\r\n  olivia \r\n\r\n\tava\rzoë\n\n"));
    assert.deepEqual(readWordFile(file("a")).words, ["a"]);
    assert.equal(readWordFile(file("a\n")).skippedBlank, 0);
  });

  test("agrees with parseLines on LF and CRLF text", () => {
    for (const text of ["emma\nolivia\n", " a \r\n\r\nb c\n  \nd", "x\n\n\ny\r\n"]) {
      assert.deepEqual(readWordFile(file(text)).words, parseLines(text));
    }
  });

  test("names.txt reads as 32,033 words", () => {
    const r = readWordFile(new URL("../data/names.txt", import.meta.url).pathname);
    assert.equal(r.words.length, 32033);
    assert.equal(r.words[0], "emma");
  });

  test("missing file", () => {
    rejects(() => readWordFile(join(d, "nope.txt")), /^word file .*nope\.txt does not exist$/);
    rejects(() => readWordFile(join(d, "nope", "x.txt")), /does not exist/);
  });
  test("a directory", () => {
    rejects(
      () => readWordFile(d),
      /^word file .* is a directory; expected a text file with one word per line$/,
    );
  });
  test("unreadable", () => {
    const p = file("a\n");
    chmodSync(p, 0o000);
    try {
      assert.match(
        permissionError("read", p, () => readWordFile(p)) ?? "no error",
        /cannot be read: permission denied/,
      );
    } finally {
      chmodSync(p, 0o644);
    }
  });
  test("empty file", () => {
    rejects(() => readWordFile(file("")), /^word file .*\.txt is empty; expected one word per line$/);
  });
  test("blank-only file", () => {
    rejects(() => readWordFile(file(" \n\r\n\t\n")), /has no words, only blank lines$/);
    rejects(() => readWordFile(file("\uFEFF")), /has no words/);
  });
  test("binary (NUL bytes)", () => {
    rejects(
      () => readWordFile(file(new Uint8Array([0x61, 0x0a, 0x00, 0x01]))),
      /looks binary \(NUL byte at offset 2\)/,
    );
  });
  test("UTF-16", () => {
    rejects(
      () => readWordFile(file(new Uint8Array([0xff, 0xfe, 0x61, 0x00]))),
      /is UTF-16 encoded; save it as UTF-8/,
    );
  });
  test("invalid UTF-8 with byte offset and line", () => {
    // "emma\nzo\xeb\n": Latin-1 ë
    rejects(
      () => readWordFile(file(new Uint8Array([0x65, 0x6d, 0x6d, 0x61, 0x0a, 0x7a, 0x6f, 0xeb, 0x0a]))),
      /is not valid UTF-8 \(bad byte 0xeb at offset 7, line 2\); save it as UTF-8$/,
    );
    // with a BOM the offset still counts from the start of the file
    rejects(
      () => readWordFile(file(new Uint8Array([0xef, 0xbb, 0xbf, 0x61, 0xc0, 0x80]))),
      /bad byte 0xc0 at offset 4, line 1/,
    );
    rejects(() => readWordFile(file(new Uint8Array([0x61, 0x0d, 0xed, 0xa0, 0x80]))), /offset 2, line 2/); // surrogate
    rejects(() => readWordFile(file(new Uint8Array([0x61, 0xf0, 0x9f, 0x98]))), /offset 1/); // truncated
  });
  test("firstInvalidUtf8 agrees with TextDecoder on lead/continuation byte combinations", () => {
    const td = new TextDecoder("utf-8", { fatal: true });
    const b = new Uint8Array(5);
    b[0] = 0x61; // so a bad sequence is at offset 1, not 0
    let checked = 0;
    // Multi-byte leads C0..F7 with every second byte; stray leads with one; then the third and
    // fourth bytes valid or not. (TextDecoder's throw is slow, so this is kept to ~30k cases.)
    for (let lead = 0x80; lead <= 0xff; lead++)
      for (let b1 = 0; b1 <= 0xff; b1 += lead >= 0xc0 && lead <= 0xf7 ? 1 : 0x40)
        for (const b2 of [0x80, 0xc0])
          for (const b3 of [0x80]) {
            b[1] = lead;
            b[2] = b1;
            b[3] = b2;
            b[4] = b3;
            let firstBad = -1;
            try {
              td.decode(b);
            } catch {
              firstBad = 1; // only bytes 1.. can be bad; any failure must be reported at offset 1..4
            }
            const got = firstInvalidUtf8(b);
            if (firstBad === -1 ? got !== -1 : got < 1)
              assert.fail(`${Array.from(b, (x) => x.toString(16)).join(" ")}: got ${got}`);
            checked++;
          }
    assert.equal(checked, (56 * 256 + 72 * 4) * 2);
  });
  test("file over maxBytes is refused from its size alone (sparse 300 MiB file)", () => {
    const p = file("a\n");
    truncateSync(p, 300 * 1024 * 1024);
    // refused from its size alone: nothing near its 300 MiB is read into memory
    const before = process.memoryUsage().arrayBuffers;
    rejects(() => readWordFile(p), /is 314572800 bytes, over the 268435456-byte limit for a word list$/);
    assert.ok(process.memoryUsage().arrayBuffers - before < 64 * 1024 * 1024);
    rejects(() => readWordFile(file("abcdef\n"), { maxBytes: 4 }), /is 7 bytes, over the 4-byte limit/);
  });
  test("character devices are read with a cap", { skip: !existsSync("/dev/zero") }, () => {
    rejects(() => readWordFile("/dev/zero", { maxBytes: 1 << 16 }), /over the 65536-byte limit/);
  });
  test("line over maxLineChars, counted in code points after trimming", () => {
    rejects(
      () => readWordFile(file(`a\nb\n${"x".repeat(1001)}\n`)),
      /line 3 is 1001 characters long \(limit 1000\)/,
    );
    rejects(
      () => readWordFile(file(`a\r\n${"é".repeat(11)}`), { maxLineChars: 10 }),
      /line 2 is 11 characters/,
    );
    assert.equal(readWordFile(file(`${" ".repeat(2000)}ok${"\u{1F600}".repeat(998)}\n`)).words.length, 1);
  });
});

// ---------------------------------------------------------------------------------------------
describe("run directories", () => {
  /** Every entry under `dir` with its bytes and mtime, for byte-identical comparisons. */
  function snapshot(dir: string): string {
    const out: string[] = [];
    const walk = (p: string) => {
      for (const name of readdirSync(p).sort()) {
        const q = join(p, name);
        const st = statSync(q);
        out.push(
          `${q} ${st.mode} ${st.mtimeMs} ${st.isDirectory() ? "<dir>" : readFileSync(q).toString("hex")}`,
        );
        if (st.isDirectory()) walk(q);
      }
    };
    walk(dir);
    return out.join("\n");
  }

  test("runPaths names the run files", () => {
    const p = runPaths("runs/x");
    assert.equal(p.config, join("runs/x", "config.json"));
    assert.equal(p.checkpoint, join("runs/x", "checkpoint.safetensors"));
    assert.equal(p.metrics, join("runs/x", "metrics.jsonl"));
    assert.equal(p.plots, join("runs/x", "plots"));
    assert.equal(p.report, join("runs/x", "report.html"));
  });

  test("creates a new (nested) run dir, without an empty plots/ (report makes it)", () => {
    const d = join(freshDir(), "runs", "one");
    const p = createRunDir(d);
    assert.deepEqual(readdirSync(d), []);
    assert.equal(p.dir, d);
    createRunDir(join(freshDir())); // an existing empty directory is fine
  });

  test("refuses a dir holding a run and leaves it byte-identical", () => {
    const d = freshDir();
    writeFileSync(join(d, "config.json"), '{"a":1}');
    writeFileSync(join(d, "metrics.jsonl"), '{"step":1}\n');
    writeFileSync(join(d, "notes.txt"), "mine");
    mkdirSync(join(d, "plots"));
    writeFileSync(join(d, "plots", "loss.svg"), "<svg/>");
    const before = snapshot(d);
    rejects(
      () => createRunDir(d),
      /^run directory .* already holds a run \(config\.json, metrics\.jsonl, plots\); choose another directory or pass --overwrite$/,
    );
    assert.equal(snapshot(d), before);
  });

  test("overwrite removes only the run files", () => {
    const d = freshDir();
    writeFileSync(join(d, "checkpoint.safetensors"), "x");
    writeFileSync(join(d, "notes.txt"), "mine");
    mkdirSync(join(d, "plots"));
    writeFileSync(join(d, "plots", "old.svg"), "<svg/>");
    createRunDir(d, { overwrite: true });
    assert.deepEqual(readdirSync(d).sort(), ["notes.txt"]);
  });

  test("a file where the run dir should be: refused, untouched", () => {
    const d = freshDir();
    const f = join(d, "run");
    writeFileSync(f, "data");
    rejects(() => createRunDir(f), /^run directory .*run exists but is not a directory$/);
    rejects(() => createRunDir(join(f, "sub")), /a parent path is a file/);
    assert.equal(readFileSync(f, "utf8"), "data");
  });

  test("readJsonFile: valid, missing, empty, corrupt, directory, not UTF-8", () => {
    const d = freshDir();
    const p = join(d, "config.json");
    writeJsonFile(p, { lr: 0.1, steps: [1, 2] });
    assert.deepEqual(readJsonFile(p, "run config"), { lr: 0.1, steps: [1, 2] });
    rejects(
      () => readJsonFile(join(d, "state.json"), "training state"),
      /^training state .*state\.json does not exist$/,
    );
    writeFileSync(p, " \n");
    rejects(() => readJsonFile(p, "run config"), /^run config .*config\.json is empty$/);
    writeFileSync(p, '{"lr": 0.1,\n"steps": [1, 2');
    rejects(() => readJsonFile(p, "run config"), /^run config .*config\.json is not valid JSON \(.+\)$/);
    rejects(() => readJsonFile(d, "run config"), /is a directory, not a file/);
    writeFileSync(p, new Uint8Array([0x7b, 0xff, 0x7d]));
    rejects(() => readJsonFile(p, "run config"), /is damaged: not valid UTF-8/);
  });

  test("readJsonLines drops a torn last line, refuses a damaged middle line", () => {
    const d = freshDir();
    const p = join(d, "metrics.jsonl");
    writeFileSync(p, '{"step":1}\n{"step":2}\n{"st');
    assert.deepEqual(readJsonLines(p, "metrics"), { records: [{ step: 1 }, { step: 2 }], tornTail: true });
    writeFileSync(p, '{"step":1}\n{"st\n{"step":3}\n');
    rejects(
      () => readJsonLines(p, "metrics"),
      /^metrics .*metrics\.jsonl is damaged: line 2 is not valid JSON$/,
    );
  });
});
