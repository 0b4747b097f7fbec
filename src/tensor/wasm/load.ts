/**
 * The one loader of makemore.ts's WebAssembly modules: it decodes the bytes embedded by
 * `npm run build:wasm`, picks the build, compiles each module once and caches it.
 *
 *   const mod = wasmModule("fused");     // WebAssembly.Module, or null where it cannot run
 *   fmaActive();                         // true: every gemm multiply-add is fused (one rounding)
 *
 * Two builds of every module (scripts/build-wasm.ts): plain SIMD, and relaxed SIMD, whose gemm
 * computes each step s = fma(a, b, s) with one rounding instead of round(s + round(a * b))
 * (f32x4.relaxed_madd; assembly/gemm-kernel.ts). On an x86-64 CPU with FMA3 that halves the gemm's
 * arithmetic instructions. The relaxed build is used when
 *   - the engine validates it: Chromium has relaxed SIMD on; Node 20 (V8 11.3) needs the V8 flag
 *     --experimental-wasm-relaxed-simd, which this loader sets before compiling (through
 *     `process.getBuiltinModule`, so the file has no `node:` import and stays isomorphic);
 *   - and a probe shows the CPU fuses: relaxed_madd may also be a multiply then an add, and then the
 *     results would not be the fused ones the tests' float32 FMA twin assumes (test/kernels.test.ts);
 *   - and it is not turned off with MAKEMORE_FMA=0 in the environment (the bench's before/after).
 * All modules of a process use the same build (the generic gemm, the arena kernels, the worker
 * threads' shared-memory build), so the eager path and a replayed plan run the same arithmetic.
 * Worker threads receive the compiled module and only instantiate it (src/io/threads.ts).
 */

import { FUSED_FMA_WASM_BASE64, FUSED_WASM_BASE64 } from "./fused.wasm.ts";
import { FUSED_SHARED_FMA_WASM_BASE64, FUSED_SHARED_WASM_BASE64 } from "./fused-shared.wasm.ts";
import { GEMM_FMA_WASM_BASE64, GEMM_WASM_BASE64 } from "./gemm.wasm.ts";

/**
 * gemm: the generic tensor ops' gemm (assembly/gemm.ts, small enough for a browser's synchronous
 * compile); fused: the arena kernels (assembly/fused.ts); fusedShared: the same over an imported
 * shared memory, for worker threads.
 */
export type ModuleKind = "gemm" | "fused" | "fusedShared";

/** [plain, relaxed SIMD] bytes of each module, base64. */
const SOURCES: Record<ModuleKind, [string, string]> = {
  gemm: [GEMM_WASM_BASE64, GEMM_FMA_WASM_BASE64],
  fused: [FUSED_WASM_BASE64, FUSED_FMA_WASM_BASE64],
  fusedShared: [FUSED_SHARED_WASM_BASE64, FUSED_SHARED_FMA_WASM_BASE64],
};

/** Base64 to bytes (atob: Node and browsers). */
export function decodeBase64(b64: string): Uint8Array<ArrayBuffer> {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Compile bytes synchronously; null where they do not validate or compilation is refused. */
export function compileBytes(bytes: Uint8Array<ArrayBuffer>): WebAssembly.Module | null {
  try {
    return typeof WebAssembly !== "undefined" && WebAssembly.validate(bytes)
      ? new WebAssembly.Module(bytes)
      : null;
  } catch {
    return null;
  }
}

interface NodeProcess {
  env?: Record<string, string | undefined>;
  getBuiltinModule?: (id: string) => unknown;
}
const nodeProcess = (globalThis as { process?: NodeProcess }).process;

const wantFma = nodeProcess?.env?.MAKEMORE_FMA !== "0";
let fma: boolean | undefined;
const modules = new Map<ModuleKind, WebAssembly.Module | null>();

/** Node 20's V8 validates relaxed SIMD only behind a flag; set it (once) before compiling. */
function enableRelaxedSimd(): void {
  try {
    const v8 = nodeProcess?.getBuiltinModule?.("node:v8") as
      | { setFlagsFromString(flags: string): void }
      | undefined;
    v8?.setFlagsFromString("--experimental-wasm-relaxed-simd");
  } catch {
    // not Node, or flags locked: the plain build serves
  }
}

/**
 * True when the relaxed SIMD gemm validates here and fuses: 1 + 2^-12 squared is
 * 1 + 2^-11 + 2^-24, whose last bit a separate float32 multiply drops (a tie, rounded to even).
 */
function probeFma(): boolean {
  enableRelaxedSimd();
  const mod = compileBytes(decodeBase64(GEMM_FMA_WASM_BASE64));
  if (!mod) return false;
  try {
    const ex = new WebAssembly.Instance(mod, {}).exports as {
      maddProbe(a: number, b: number, c: number): number;
    };
    const a = Math.fround(1 + 2 ** -12);
    return ex.maddProbe(a, a, -1) === 2 ** -11 + 2 ** -24;
  } catch {
    return false;
  }
}

/** True when the modules of this process use the fused multiply-add build (decided at first use). */
export function fmaActive(): boolean {
  if (fma === undefined) fma = wantFma && probeFma();
  return fma;
}

/** The compiled module of `kind` in this process's build, or null where it cannot be used. */
export function wasmModule(kind: ModuleKind): WebAssembly.Module | null {
  let mod = modules.get(kind);
  if (mod === undefined) {
    if (kind === "fusedShared" && typeof SharedArrayBuffer === "undefined") mod = null;
    else mod = compileBytes(decodeBase64(SOURCES[kind][fmaActive() ? 1 : 0]));
    modules.set(kind, mod);
  }
  return mod;
}

/** The plain (non-FMA) build of `kind`, whatever is in effect: for tests of the fallback. */
export function plainModule(kind: ModuleKind): WebAssembly.Module | null {
  return compileBytes(decodeBase64(SOURCES[kind][0]));
}
