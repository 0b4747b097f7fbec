/**
 * The safetensors format (https://github.com/huggingface/safetensors), F32 tensors only.
 *
 *   [8 bytes] N, unsigned little-endian 64-bit: the header length
 *   [N bytes] UTF-8 JSON object, padded with spaces (0x20) to a multiple of 8:
 *             {"__metadata__": {str: str},                      (optional, first)
 *              name: {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...}
 *   [rest]    the byte buffer; offsets are relative to its start, little-endian, C order
 *
 * The encoder writes what the reference implementation (Rust `safetensors::serialize`) writes:
 * compact JSON, `__metadata__` first, tensors sorted by name (for a single dtype the reference
 * sorts by dtype, then name), data packed in that order, header padded with spaces. Its output
 * is byte-identical to the reference's test vectors (test/io.test.ts) and PyTorch reads it
 * (scripts/torch/check_safetensors.py).
 *
 * The decoder treats the file as hostile: every problem is a UserError naming the file and the
 * problem, found before any allocation larger than the file itself. It is stricter than the
 * reference where the format's README says MUST (header starts with '{', data section fully
 * covered without holes or overlaps) and rejects duplicate tensor names, which the reference's
 * JSON reader would silently collapse. Only F32 tensors are accepted; anything else (F16, F64,
 * I64, ...) is reported by name rather than converted, since makemore only ever writes F32.
 */

import { UserError } from "../errors.ts";
import { readRegularFile, writeFileAtomic } from "./atomic.ts";
import { showName, showPath } from "./describe.ts";

export interface SafetensorInput {
  shape: number[];
  data: Float32Array;
  dtype?: "F32";
}

export interface DecodedTensor {
  shape: number[];
  data: Float32Array;
}

export interface DecodedSafetensors {
  tensors: Record<string, DecodedTensor>;
  metadata: Record<string, string>;
}

export interface DecodeOptions {
  /** Largest header accepted, in bytes (default 100,000,000, the reference's limit). */
  maxHeaderBytes?: number;
  /** What to call the bytes in error messages, usually the file path (default "input"). */
  source?: string;
}

/** The reference implementation's header limit. */
export const DEFAULT_MAX_HEADER_BYTES = 100_000_000;
/** Largest element count of one tensor we accept (2^31). */
export const MAX_NUMEL = 2 ** 31;
/** Largest rank accepted (PyTorch's own limit is lower). */
export const MAX_RANK = 64;
/** Deepest JSON nesting a valid header needs is 3 (root > tensor > shape); allow some slack. */
const MAX_JSON_DEPTH = 8;

/** Element sizes of the dtypes the format defines, so a foreign dtype gets a precise message. */
const KNOWN_DTYPES: Record<string, number> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  F8_E8M0: 1,
  F4: 1,
  F6_E2M3: 1,
  F6_E3M2: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
  C64: 8,
};

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// ---------------------------------------------------------------------------------------------
// Encoding

/** Compare strings by Unicode code point, which is the UTF-8 byte order Rust sorts by. */
function byCodePoint(a: string, b: string): number {
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next();
    const y = ib.next();
    if (x.done || y.done) return x.done && y.done ? 0 : x.done ? -1 : 1;
    const d = x.value.codePointAt(0)! - y.value.codePointAt(0)!;
    if (d !== 0) return d;
  }
}

function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * Serialize F32 tensors (and optional string metadata) to safetensors bytes.
 * `encodeSafetensors({ W: { shape: [2], data: new Float32Array([1, 2]) } })`.
 * Throws RangeError for inputs that are programming errors (shape/data mismatch, bad names).
 */
export function encodeSafetensors(
  tensors: Record<string, SafetensorInput>,
  metadata?: Record<string, string>,
): Uint8Array {
  const names = Object.keys(tensors).sort(byCodePoint);
  const parts: string[] = [];
  if (metadata !== undefined) {
    const keys = Object.keys(metadata).sort(byCodePoint);
    const entries = keys.map((k) => {
      const v = metadata[k];
      if (typeof v !== "string") throw new RangeError(`safetensors metadata ${showName(k)} must be a string`);
      return `${JSON.stringify(k)}:${JSON.stringify(v)}`;
    });
    parts.push(`"__metadata__":{${entries.join(",")}}`);
  }
  let offset = 0;
  for (const name of names) {
    if (name === "__metadata__") throw new RangeError(`"__metadata__" cannot be a tensor name`);
    const t = tensors[name]!;
    if ((t.dtype ?? "F32") !== "F32")
      throw new RangeError(`tensor ${showName(name)}: only F32 is supported, got ${String(t.dtype)}`);
    if (!(t.data instanceof Float32Array))
      throw new RangeError(`tensor ${showName(name)}: data must be a Float32Array`);
    for (const d of t.shape)
      if (!Number.isSafeInteger(d) || d < 0)
        throw new RangeError(`tensor ${showName(name)}: bad shape [${t.shape.join(", ")}]`);
    const numel = numelOf(t.shape);
    if (numel !== t.data.length)
      throw new RangeError(
        `tensor ${showName(name)}: shape [${t.shape.join(", ")}] has ${numel} elements but data has ${t.data.length}`,
      );
    const end = offset + 4 * numel;
    parts.push(
      `${JSON.stringify(name)}:{"dtype":"F32","shape":[${t.shape.join(",")}],"data_offsets":[${offset},${end}]}`,
    );
    offset = end;
  }
  const json = new TextEncoder().encode(`{${parts.join(",")}}`);
  const headerLen = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLen + offset);
  const view = new DataView(out.buffer);
  view.setUint32(0, headerLen % 2 ** 32, true);
  view.setUint32(4, Math.floor(headerLen / 2 ** 32), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLen);
  let at = 8 + headerLen;
  for (const name of names) {
    const data = tensors[name]!.data;
    if (LITTLE_ENDIAN) {
      out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), at);
    } else {
      for (let i = 0; i < data.length; i++) view.setFloat32(at + 4 * i, data[i]!, true);
    }
    at += data.byteLength;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// A strict little JSON reader: reports duplicate keys, keeps integers exact as text, bounded depth.

type JsonValue = null | boolean | string | JsonNumber | JsonValue[] | JsonObject;
/** A number kept as its literal text, so 1e2, 2.0 and 2^64 are told apart from plain integers. */
class JsonNumber {
  constructor(readonly text: string) {}
}
/** Object entries in file order; `duplicate` is the first key seen twice, if any. */
class JsonObject {
  readonly entries: [string, JsonValue][] = [];
  duplicate: string | undefined;
}

class JsonSyntaxError extends Error {}

function parseJson(text: string): JsonValue {
  let i = 0;
  const n = text.length;
  const fail = (what: string): never => {
    throw new JsonSyntaxError(`${what} at character ${i}`);
  };
  const ws = () => {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
      else break;
    }
  };
  const str = (): string => {
    i++; // opening quote
    let out = "";
    let start = i;
    for (;;) {
      if (i >= n) fail("unterminated string");
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        out += text.slice(start, i);
        i++;
        return out;
      }
      if (c < 0x20) fail("control character in string");
      if (c !== 0x5c) {
        i++;
        continue;
      }
      out += text.slice(start, i);
      const e = text[i + 1];
      i += 2;
      switch (e) {
        case '"':
          out += '"';
          break;
        case "\\":
          out += "\\";
          break;
        case "/":
          out += "/";
          break;
        case "b":
          out += "\b";
          break;
        case "f":
          out += "\f";
          break;
        case "n":
          out += "\n";
          break;
        case "r":
          out += "\r";
          break;
        case "t":
          out += "\t";
          break;
        case "u": {
          const hex = text.slice(i, i + 4);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail("bad \\u escape");
          out += String.fromCharCode(Number.parseInt(hex, 16));
          i += 4;
          break;
        }
        default:
          i -= 2;
          fail("bad escape in string");
      }
      start = i;
    }
  };
  const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
  /** The comma-separated items after an opening bracket, through its `close`. */
  const items = (close: "}" | "]", item: () => void): void => {
    ws();
    if (text[i] === close) {
      i++;
      return;
    }
    for (;;) {
      item();
      ws();
      if (text[i] === ",") {
        i++;
        continue;
      }
      if (text[i] === close) {
        i++;
        return;
      }
      fail(`expected ',' or '${close}'`);
    }
  };
  const value = (depth: number): JsonValue => {
    if (depth > MAX_JSON_DEPTH) fail("nesting too deep");
    ws();
    if (i >= n) fail("unexpected end");
    const c = text[i];
    if (c === "{") {
      i++;
      const obj = new JsonObject();
      const seen = new Set<string>();
      items("}", () => {
        ws();
        if (text[i] !== '"') fail("expected a string key");
        const key = str();
        ws();
        if (text[i] !== ":") fail("expected ':'");
        i++;
        const v = value(depth + 1);
        if (seen.has(key)) obj.duplicate ??= key;
        seen.add(key);
        obj.entries.push([key, v]);
      });
      return obj;
    }
    if (c === "[") {
      i++;
      const arr: JsonValue[] = [];
      items("]", () => arr.push(value(depth + 1)));
      return arr;
    }
    if (c === '"') return str();
    if (text.startsWith("true", i)) {
      i += 4;
      return true;
    }
    if (text.startsWith("false", i)) {
      i += 5;
      return false;
    }
    if (text.startsWith("null", i)) {
      i += 4;
      return null;
    }
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (m === null) return fail("unexpected character");
    i += m[0].length;
    return new JsonNumber(m[0]);
  };
  const v = value(0);
  ws();
  if (i < n) fail("unexpected text after the JSON object");
  return v;
}

function describeJson(v: JsonValue): string {
  if (v === null) return "null";
  if (typeof v === "boolean") return String(v);
  if (typeof v === "string") return `the string ${showName(v)}`;
  if (v instanceof JsonNumber) return v.text.length > 30 ? `the number ${v.text.slice(0, 30)}…` : v.text;
  if (Array.isArray(v)) return v.length === 0 ? "an empty array" : `an array of ${v.length}`;
  return "an object";
}

/** A non-negative integer literal as a number; numbers beyond 2^53 come back as Infinity. */
function asCount(v: JsonValue): number | undefined {
  if (!(v instanceof JsonNumber) || !/^(0|[1-9][0-9]*)$/.test(v.text)) return undefined;
  const x = Number(v.text);
  return Number.isSafeInteger(x) ? x : Number.POSITIVE_INFINITY;
}

// ---------------------------------------------------------------------------------------------
// Decoding

interface Entry {
  name: string;
  shape: number[];
  begin: number;
  end: number;
  numel: number;
}

/**
 * Parse safetensors bytes into F32 tensors and metadata, validating everything first.
 * Throws UserError("<source> is not a valid safetensors file: <problem>") for any bad input.
 */
export function decodeSafetensors(bytes: Uint8Array, opts: DecodeOptions = {}): DecodedSafetensors {
  const maxHeader = opts.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
  const source = showPath(opts.source ?? "input");
  const bad = (problem: string) => new UserError(`${source} is not a valid safetensors file: ${problem}`);

  if (bytes.length < 8)
    throw bad(`it is only ${bytes.length} bytes long, shorter than the 8-byte header length field`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lo = view.getUint32(0, true);
  const hi = view.getUint32(4, true);
  const available = bytes.length - 8;
  const headerLen = hi * 2 ** 32 + lo; // exact below 2^53; only printed above that
  const shownLen = hi === 0 ? String(lo) : view.getBigUint64(0, true).toString();
  if (hi !== 0 || headerLen > available)
    throw bad(`the header length field says ${shownLen} bytes but only ${available} bytes follow it`);
  if (headerLen > maxHeader) throw bad(`the header is ${headerLen} bytes, over the ${maxHeader}-byte limit`);
  if (headerLen === 0) throw bad("the header is empty");
  const headerBytes = bytes.subarray(8, 8 + headerLen);
  if (headerBytes[0] !== 0x7b) throw bad("the header does not start with '{'");

  let headerText: string;
  try {
    headerText = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(headerBytes);
  } catch {
    throw bad("the header is not valid UTF-8");
  }
  let root: JsonValue;
  try {
    root = parseJson(headerText);
  } catch (e) {
    if (e instanceof JsonSyntaxError) throw bad(`the header is not valid JSON (${e.message})`);
    throw e;
  }
  if (!(root instanceof JsonObject)) throw bad("the header is not a JSON object");
  if (root.duplicate !== undefined) throw bad(`the header names ${showName(root.duplicate)} twice`);

  const dataStart = 8 + headerLen;
  const dataLen = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const entries: Entry[] = [];

  for (const [name, info] of root.entries) {
    if (name === "__metadata__") {
      if (!(info instanceof JsonObject)) throw bad(`"__metadata__" is ${describeJson(info)}, not an object`);
      if (info.duplicate !== undefined)
        throw bad(`"__metadata__" has the key ${showName(info.duplicate)} twice`);
      for (const [k, v] of info.entries) {
        if (typeof v !== "string")
          throw bad(`"__metadata__" value for ${showName(k)} is ${describeJson(v)}, not a string`);
        define(metadata, k, v);
      }
      continue;
    }
    const t = `tensor ${showName(name)}`;
    if (!(info instanceof JsonObject)) throw bad(`${t} is described by ${describeJson(info)}, not an object`);
    if (info.duplicate !== undefined) throw bad(`${t} has the field ${showName(info.duplicate)} twice`);
    const field = (key: string): JsonValue => {
      const found = info.entries.find(([k]) => k === key);
      if (found === undefined) throw bad(`${t} has no "${key}"`);
      return found[1];
    };

    const dtype = field("dtype");
    if (typeof dtype !== "string") throw bad(`${t} has dtype ${describeJson(dtype)}, not a dtype name`);
    if (dtype !== "F32") {
      if (Object.hasOwn(KNOWN_DTYPES, dtype))
        throw bad(`${t} has dtype ${dtype}; only F32 is supported (save it as float32)`);
      throw bad(`${t} has unknown dtype ${showName(dtype)}`);
    }

    const shapeV = field("shape");
    if (!Array.isArray(shapeV)) throw bad(`${t} has shape ${describeJson(shapeV)}, not an array`);
    if (shapeV.length > MAX_RANK) throw bad(`${t} has ${shapeV.length} dimensions (at most ${MAX_RANK})`);
    const shape: number[] = [];
    for (const d of shapeV) {
      const x = asCount(d);
      if (x === undefined) throw bad(`${t} has a shape entry ${describeJson(d)}, not a non-negative integer`);
      if (x > MAX_NUMEL) throw bad(`${t} has an absurd dimension ${(d as JsonNumber).text}`);
      shape.push(x);
    }
    let numel = shape.includes(0) ? 0 : 1;
    if (numel !== 0)
      for (const x of shape) {
        numel *= x;
        if (numel > MAX_NUMEL) throw bad(`${t} has an absurd shape [${shape.join(", ")}] (over 2^31 values)`);
      }

    const offV = field("data_offsets");
    if (!Array.isArray(offV) || offV.length !== 2)
      throw bad(`${t} has data_offsets that are ${describeJson(offV)}, not a [begin, end] pair`);
    const begin = asCount(offV[0]!);
    const end = asCount(offV[1]!);
    if (begin === undefined || end === undefined)
      throw bad(`${t} has data_offsets that are not non-negative integers`);
    const shownOffsets = `[${(offV[0] as JsonNumber).text}, ${(offV[1] as JsonNumber).text}]`;
    if (end < begin) throw bad(`${t} has data_offsets ${shownOffsets} that end before they begin`);
    if (end > dataLen)
      throw bad(`${t} has data_offsets ${shownOffsets} past the end of the ${dataLen}-byte data section`);
    if (end - begin !== numel * 4)
      throw bad(
        `${t} has shape [${shape.join(", ")}] (${numel * 4} bytes of F32) but data_offsets ${shownOffsets} span ${end - begin} bytes`,
      );
    entries.push({ name, shape, begin, end, numel });
  }

  // The data section must be covered exactly: no overlaps, no holes, nothing left over.
  const byOffset = entries.slice().sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  let prev: Entry | undefined;
  for (const e of byOffset) {
    if (e.begin < pos)
      throw bad(`tensors ${showName(prev!.name)} and ${showName(e.name)} overlap in the data section`);
    if (e.begin > pos) throw bad(`bytes ${pos}..${e.begin} of the data section belong to no tensor`);
    pos = e.end;
    prev = e;
  }
  if (pos !== dataLen)
    throw bad(`the data section has ${dataLen} bytes but the tensors cover only the first ${pos}`);

  // Only now allocate: the total is bounded by the file's own length.
  const tensors: Record<string, DecodedTensor> = {};
  for (const e of entries) {
    const data = new Float32Array(e.numel);
    const src = bytes.subarray(dataStart + e.begin, dataStart + e.end);
    if (LITTLE_ENDIAN) new Uint8Array(data.buffer).set(src);
    else {
      const dv = new DataView(src.buffer, src.byteOffset, src.byteLength);
      for (let i = 0; i < e.numel; i++) data[i] = dv.getFloat32(4 * i, true);
    }
    define(tensors, e.name, { shape: e.shape, data });
  }
  return { tensors, metadata };
}

/** obj[key] = value, also for keys like "__proto__" that plain assignment would misroute. */
function define<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

// ---------------------------------------------------------------------------------------------
// Files

/** Largest safetensors file read (2 GiB - 1, Node's readFileSync limit). */
export const DEFAULT_MAX_FILE_BYTES = 2 ** 31 - 1;

/**
 * Read and decode a safetensors file; `what` names it in messages ("checkpoint").
 * Missing, unreadable, oversized or damaged files become one-line UserErrors.
 */
export function readSafetensorsFile(
  path: string,
  opts: { what?: string; maxBytes?: number; maxHeaderBytes?: number } = {},
): DecodedSafetensors {
  const what = opts.what ?? "safetensors file";
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_FILE_BYTES;
  // a regular file only: a checkpoint that is a FIFO or a link to /dev/zero is refused unread
  const bytes = readRegularFile(path, what, maxBytes);
  return decodeSafetensors(bytes, { maxHeaderBytes: opts.maxHeaderBytes, source: `${what} ${path}` });
}

/** Encode and write atomically: the target is either the old file or the complete new one. */
export function writeSafetensorsFile(
  path: string,
  tensors: Record<string, SafetensorInput>,
  metadata?: Record<string, string>,
): void {
  writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}
