/**
 * A lecture MLP's weights as a PyTorch `state_dict` (what `makemore export RUN --format torch`
 * writes) that an idiomatic `nn.Sequential` loads, written in torch.save's own format (so `torch.load` reads it,
 * also with `weights_only=True`):
 *
 *   model = nn.Sequential(nn.Embedding(27, 10), nn.Flatten(), nn.Linear(30, 200, bias=False),
 *                         nn.BatchNorm1d(200, eps=0.0, momentum=0.001), nn.Tanh(), nn.Linear(200, 27))
 *   model.load_state_dict(torch.load("runs/x/state_dict.pt"))
 *
 * Sections: the mapping from our layers to torch.nn (names, layouts, what does not map 1:1),
 * the torch.save writer (a stored zip holding a protocol-2 pickle and one file per tensor).
 *
 * What maps exactly: Embedding weight (V, C) as is; Linear weight transposed from the lecture's
 * (fan_in, fan_out) to nn.Linear's (out, in); BatchNorm gamma/beta as weight/bias, running mean.
 * Eval mode (what a loaded model is for) gives our logits for every variant:
 *  - "torch": identical in both modes;
 *  - "lecture": eval divides by sqrt(running_var + eps) as torch does; in training mode the
 *    lecture normalises with the unbiased batch variance, torch with the biased one;
 *  - "lecture-std": the running std becomes running_var = std^2 with eps = 0, so
 *    sqrt(running_var + eps) = std (to float rounding, about 1e-7); in training mode the lecture
 *    divides by the unbiased std with no eps, and its running buffer tracks the std, not the var.
 */

import { UserError } from "../errors.ts";
import type { MLP } from "../models/mlp.ts";
import { BatchNorm1d, Linear, ReLU, Tanh } from "../nn/modules.ts";

// ----------------------------------------------------------------------------- the mapping

/** One tensor of the state_dict: float32 or int64 (num_batches_tracked), row-major. */
export interface TorchTensor {
  dtype: "float32" | "int64";
  shape: number[];
  data: Float32Array | BigInt64Array;
}

export interface TorchExport {
  /** state_dict entries in nn.Sequential order: "0.weight", "2.weight", "3.running_var", ... */
  tensors: [string, TorchTensor][];
  /** the Python expression that builds the matching nn.Sequential */
  python: string;
  /** what does not carry over 1:1 (one line each) */
  notes: string[];
}

const f32 = (shape: number[], data: Float32Array): TorchTensor => ({ dtype: "float32", shape, data });

/** nn.Linear stores (out, in): the transpose of the lecture's (fan_in, fan_out). */
function transposed(w: Float32Array, fanIn: number, fanOut: number): Float32Array {
  const t = new Float32Array(w.length);
  for (let i = 0; i < fanIn; i++) for (let o = 0; o < fanOut; o++) t[o * fanIn + i] = w[i * fanOut + o];
  return t;
}

/** Python's repr of a float, enough for eps and momentum (1e-05, 0.001, 0.0). */
function pyFloat(x: number): string {
  if (Number.isInteger(x)) return `${x}.0`;
  return x < 1e-4 ? x.toExponential().replace(/e-(\d)$/, "e-0$1") : String(x);
}

/** The state_dict and nn.Sequential of a model (module 0 the embedding, 1 the Flatten). */
export function torchStateDict(model: MLP): TorchExport {
  const V = model.embedding.weight.shape[0];
  const C = model.embedding.weight.shape[1];
  const tensors: [string, TorchTensor][] = [
    ["0.weight", f32([V, C], model.embedding.weight.storage.slice())],
  ];
  const modules = [`nn.Embedding(${V}, ${C})`, "nn.Flatten()"];
  const notes: string[] = [];
  for (const layer of model.layers.layers) {
    const k = modules.length;
    if (layer instanceof Linear) {
      const { fanIn, fanOut } = layer;
      tensors.push([`${k}.weight`, f32([fanOut, fanIn], transposed(layer.weight.storage, fanIn, fanOut))]);
      if (layer.bias) tensors.push([`${k}.bias`, f32([fanOut], layer.bias.storage.slice())]);
      modules.push(`nn.Linear(${fanIn}, ${fanOut}${layer.bias ? "" : ", bias=False"})`);
    } else if (layer instanceof BatchNorm1d) {
      const H = layer.dim;
      const std = layer.variant === "lecture-std";
      const running = layer.runningSpread.storage;
      // lecture-std keeps the running std: torch wants a variance, and eps 0 keeps sqrt(var) = std
      const runningVar = std ? running.map((s) => s * s) : running.slice();
      const eps = std ? 0 : layer.eps;
      tensors.push(
        [`${k}.weight`, f32([H], layer.gamma.storage.slice())],
        [`${k}.bias`, f32([H], layer.beta.storage.slice())],
        [`${k}.running_mean`, f32([H], layer.runningMean.storage.slice())],
        [`${k}.running_var`, f32([H], runningVar)],
        [`${k}.num_batches_tracked`, { dtype: "int64", shape: [], data: new BigInt64Array(1) }],
      );
      modules.push(`nn.BatchNorm1d(${H}, eps=${pyFloat(eps)}, momentum=${pyFloat(layer.momentum)})`);
      if (std)
        notes.push(
          `module ${k} (BatchNorm1d, lecture-std): the running std is saved as running_var = std^2 with eps=0.0, so eval mode matches; in training mode the lecture divides by the unbiased batch std (no eps) and tracks the std, torch the biased variance + eps`,
        );
      else if (layer.variant === "lecture")
        notes.push(
          `module ${k} (BatchNorm1d, lecture): eval mode matches; in training mode the lecture normalises with the unbiased batch variance, torch with the biased one`,
        );
    } else if (layer instanceof Tanh) modules.push("nn.Tanh()");
    else if (layer instanceof ReLU) modules.push("nn.ReLU()");
    else throw new UserError(`export: no torch.nn module for layer ${k - 2} (${layer.constructor.name})`);
  }
  return { tensors, python: `nn.Sequential(\n    ${modules.join(",\n    ")},\n)`, notes };
}

// ----------------------------------------------------------------------------- torch.save

/**
 * The bytes `torch.save(state_dict, f)` writes (the zip format of PyTorch >= 1.6): a zip archive,
 * entries stored uncompressed and 64-byte aligned as torch aligns them:
 *   archive/data.pkl   the pickle of an OrderedDict name -> torch._utils._rebuild_tensor_v2(...)
 *   archive/data/<i>   the raw little-endian bytes of storage i
 *   archive/version    "3"
 */
export function torchSave(tensors: [string, TorchTensor][]): Uint8Array {
  const files: [string, Uint8Array][] = [["archive/data.pkl", pickleStateDict(tensors)]];
  tensors.forEach(([, t], i) => {
    files.push([`archive/data/${i}`, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)]);
  });
  files.push(["archive/version", new TextEncoder().encode("3\n")]);
  return storedZip(files);
}

/** Protocol-2 pickle of the state_dict, the opcodes torch's own pickler emits for it. */
function pickleStateDict(tensors: [string, TorchTensor][]): Uint8Array {
  const out: number[] = [];
  const bytes = (...b: number[]) => out.push(...b);
  const text = (s: string) => out.push(...new TextEncoder().encode(s));
  const global = (mod: string, name: string) => {
    bytes(0x63); // GLOBAL
    text(`${mod}\n${name}\n`);
  };
  const str = (s: string) => {
    const b = new TextEncoder().encode(s);
    bytes(0x58, b.length & 255, (b.length >> 8) & 255, (b.length >> 16) & 255, b.length >>> 24); // BINUNICODE
    out.push(...b);
  };
  const int = (n: number) => {
    if (n >= 0 && n < 256)
      bytes(0x4b, n); // BININT1
    else if (n >= 0 && n < 65536)
      bytes(0x4d, n & 255, n >> 8); // BININT2
    else bytes(0x4a, n & 255, (n >> 8) & 255, (n >> 16) & 255, (n >>> 24) & 255); // BININT
  };
  const tuple = (items: number[]) => {
    if (items.length === 0) return bytes(0x29); // EMPTY_TUPLE
    bytes(0x28); // MARK
    for (const i of items) int(i);
    bytes(0x74); // TUPLE
  };
  const MARK = 0x28;
  const TUPLE = 0x74;
  const REDUCE = 0x52;
  bytes(0x80, 2); // PROTO 2
  global("collections", "OrderedDict");
  bytes(0x29, REDUCE, MARK); // OrderedDict(), then MARK for SETITEMS
  tensors.forEach(([name, t], i) => {
    str(name);
    global("torch._utils", "_rebuild_tensor_v2");
    bytes(MARK);
    // the storage, by persistent id: ('storage', torch.FloatStorage, key, 'cpu', numel)
    bytes(MARK);
    str("storage");
    global("torch", t.dtype === "float32" ? "FloatStorage" : "LongStorage");
    str(String(i));
    str("cpu");
    int(t.data.length);
    bytes(TUPLE, 0x51); // BINPERSID
    int(0); // storage offset
    tuple(t.shape);
    const stride = t.shape.map((_, d) => t.shape.slice(d + 1).reduce((a, b) => a * b, 1));
    tuple(stride);
    bytes(0x89); // requires_grad False
    global("collections", "OrderedDict");
    bytes(0x29, REDUCE); // backward hooks: OrderedDict()
    bytes(TUPLE, REDUCE);
  });
  bytes(0x75, 0x2e); // SETITEMS, STOP
  return Uint8Array.from(out);
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < b.length; i++) c = CRC_TABLE[(c ^ b[i]) & 255] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A zip archive with every entry stored (method 0), each entry's data 64-byte aligned. */
function storedZip(files: [string, Uint8Array][]): Uint8Array {
  const chunks: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const [name, data] of files) {
    const nameBytes = new TextEncoder().encode(name);
    // pad with an extra field (id 0xffff, as torch does) so that the data starts on 64 bytes
    let pad = (64 - ((offset + 30 + nameBytes.length + 4) % 64)) % 64;
    const extra = new Uint8Array(4 + pad);
    new DataView(extra.buffer).setUint16(0, 0xffff, true);
    new DataView(extra.buffer).setUint16(2, pad, true);
    pad += 4;
    const crc = crc32(data);
    const local = new Uint8Array(30 + nameBytes.length + extra.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, 20, true); // version needed
    lv.setUint32(14, crc, true);
    lv.setUint32(18, data.length, true);
    lv.setUint32(22, data.length, true);
    lv.setUint16(26, nameBytes.length, true);
    lv.setUint16(28, extra.length, true);
    local.set(nameBytes, 30);
    local.set(extra, 30 + nameBytes.length);
    const entry = new Uint8Array(46 + nameBytes.length);
    const cv = new DataView(entry.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, 20, true);
    cv.setUint16(6, 20, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, data.length, true);
    cv.setUint32(24, data.length, true);
    cv.setUint16(28, nameBytes.length, true);
    cv.setUint32(42, offset, true);
    entry.set(nameBytes, 46);
    central.push(entry);
    chunks.push(local, data);
    offset += local.length + data.length;
  }
  const cdSize = central.reduce((a, c) => a + c.length, 0);
  const end = new Uint8Array(22);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, files.length, true);
  ev.setUint16(10, files.length, true);
  ev.setUint32(12, cdSize, true);
  ev.setUint32(16, offset, true);
  const all = new Uint8Array(offset + cdSize + 22);
  let p = 0;
  for (const c of [...chunks, ...central, end]) {
    all.set(c, p);
    p += c.length;
  }
  return all;
}
