/**
 * The one loader of makemore.ts's WebAssembly modules: it decodes the bytes embedded by
 * `npm run build:wasm`, picks the build, compiles each module once and caches it.
 *
 *   const mod = wasmModule("arena");     // WebAssembly.Module, or null where it cannot run
 *   fmaActive();                         // true (MAKEMORE_FMA=1): every gemm multiply-add is fused
 *
 * Two builds of every module (scripts/build-wasm.ts): plain SIMD, and relaxed SIMD, whose gemm
 * computes each step s = fma(a, b, s) with one rounding instead of round(s + round(a * b))
 * (f32x4.relaxed_madd; assembly/gemm-kernel.ts). The plain build is the default: it is the one
 * the lecture's printed numbers were reproduced with (with FMA, the whole 200,000-step lecture run
 * prints 2.0198 at step 180,000 where PyTorch prints 2.0199: test/lecture.test.ts), and on this
 * project's CPU (AMD Zen 5: separate add pipes) FMA is no faster. The relaxed build is used when
 *   - it is asked for: MAKEMORE_FMA=1 in the environment (Node);
 *   - the engine validates it: Chromium has relaxed SIMD on; Node 20 (V8 11.3) needs the V8 flag
 *     --experimental-wasm-relaxed-simd, which this loader sets before compiling (through
 *     `process.getBuiltinModule`, so the file has no `node:` import and stays isomorphic);
 *   - and a probe shows the CPU fuses: relaxed_madd may also be a multiply then an add, and then the
 *     results would not be the fused ones the tests' float32 FMA twin assumes (test/kernels.test.ts).
 * All modules of a process use the same build (the generic gemm, the arena kernels, the worker
 * threads' shared-memory build), so the eager path and a replayed plan run the same arithmetic.
 * Worker threads receive the compiled module and only instantiate it (src/io/threads.ts).
 */

import { ARENA_FMA_WASM_BASE64, ARENA_WASM_BASE64 } from "./arena.wasm.ts";
import { ARENA_SHARED_FMA_WASM_BASE64, ARENA_SHARED_WASM_BASE64 } from "./arena-shared.wasm.ts";
import { GEMM_FMA_WASM_BASE64, GEMM_WASM_BASE64 } from "./gemm.wasm.ts";

/**
 * gemm: the generic tensor ops' gemm (assembly/gemm.ts, small enough for a browser's synchronous
 * compile); arena: the arena kernels (assembly/arena.ts); arenaShared: the same over an imported
 * shared memory, for worker threads.
 */
export type ModuleKind = "gemm" | "arena" | "arenaShared";

/** [plain, relaxed SIMD] bytes of each module, base64. */
const SOURCES: Record<ModuleKind, [string, string]> = {
  gemm: [GEMM_WASM_BASE64, GEMM_FMA_WASM_BASE64],
  arena: [ARENA_WASM_BASE64, ARENA_FMA_WASM_BASE64],
  arenaShared: [ARENA_SHARED_WASM_BASE64, ARENA_SHARED_FMA_WASM_BASE64],
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

const wantFma = nodeProcess?.env?.MAKEMORE_FMA === "1";
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
 * The relaxed SIMD build of `kind` where it validates here and the CPU fuses (1 + 2^-12 squared is
 * 1 + 2^-11 + 2^-24, whose last bit a separate float32 multiply drops: a tie, rounded to even),
 * else null. Whatever the build in effect: for tests and the gemm bench.
 */
export function fmaModule(kind: ModuleKind): WebAssembly.Module | null {
  enableRelaxedSimd();
  if (kind === "arenaShared" && typeof SharedArrayBuffer === "undefined") return null;
  const probe = compileBytes(decodeBase64(GEMM_FMA_WASM_BASE64));
  if (!probe) return null;
  try {
    const ex = new WebAssembly.Instance(probe, {}).exports as {
      maddProbe(a: number, b: number, c: number): number;
    };
    const a = Math.fround(1 + 2 ** -12);
    if (ex.maddProbe(a, a, -1) !== 2 ** -11 + 2 ** -24) return null;
  } catch {
    return null;
  }
  return kind === "gemm" ? probe : compileBytes(decodeBase64(SOURCES[kind][1]));
}

/** True when the modules of this process use the fused multiply-add build (decided at first use). */
export function fmaActive(): boolean {
  if (fma === undefined) fma = wantFma && fmaModule("gemm") !== null;
  return fma;
}

/** The compiled module of `kind` in this process's build, or null where it cannot be used. */
export function wasmModule(kind: ModuleKind): WebAssembly.Module | null {
  let mod = modules.get(kind);
  if (mod === undefined) {
    if (kind === "arenaShared" && typeof SharedArrayBuffer === "undefined") mod = null;
    else mod = compileBytes(decodeBase64(SOURCES[kind][fmaActive() ? 1 : 0]));
    modules.set(kind, mod);
  }
  return mod;
}

/** The plain (non-FMA) build of `kind`, whatever is in effect: for tests of the fallback. */
export function plainModule(kind: ModuleKind): WebAssembly.Module | null {
  return compileBytes(decodeBase64(SOURCES[kind][0]));
}
