// Regenerates the WebAssembly modules from their AssemblyScript sources with the AssemblyScript
// compiler (devDependency `assemblyscript`, pure JS + binaryen.js: no native toolchain):
//
//   assembly/gemm.ts   -> src/tensor/wasm/gemm.wasm.ts    the gemm behind the generic tensor ops
//   assembly/arena.ts  -> src/tensor/wasm/arena.wasm.ts   the arena kernels of src/tensor/engine.ts
//
// Both import the one gemm, assembly/gemm-kernel.ts. (assembly/ceiling.ts is bench-only:
// src/bench/ceiling.ts compiles it itself, for the bench and scripts/bench-gemm.ts.)
//
//   npm run build:wasm             rewrite the generated files
//   npm run build:wasm -- --check  exit 1 if a committed file differs from a fresh build
//
// The modules are committed as base64 so that runtime (Node and browsers) needs no compiler.
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import asc from "assemblyscript/asc";

const root = fileURLToPath(new URL("..", import.meta.url));
process.chdir(root); // asc resolves the source against the working directory
const flags = ["--enable", "simd", "-O3", "--runtime", "stub", "--noAssert"];
/** Shared-memory build: initial 16 pages (src/tensor/wasm/arena-wasm.ts creates the memory), 2 GB max. */
const SHARED_FLAGS = [
  "--enable",
  "threads",
  "--sharedMemory",
  "--importMemory",
  "--initialMemory",
  "16",
  "--maximumMemory",
  "32768",
];

interface Target {
  source: string;
  target: string;
  constant: string;
  /**
   * Chrome refuses synchronous `new WebAssembly.Module` of more than 4 KB on the main thread. The
   * gemm module must stay below (its wrapper compiles synchronously everywhere); the arena module
   * is larger and is only used where synchronous compilation succeeds (Node, workers).
   */
  maxSyncBytes: number | null;
  /** extra asc flags */
  extra?: string[];
}
const targets: Target[] = [
  {
    source: "assembly/gemm.ts",
    target: "src/tensor/wasm/gemm.wasm.ts",
    constant: "GEMM_WASM_BASE64",
    maxSyncBytes: 4096,
  },
  {
    source: "assembly/arena.ts",
    target: "src/tensor/wasm/arena.wasm.ts",
    constant: "ARENA_WASM_BASE64",
    maxSyncBytes: null,
  },
  {
    // the same source over an imported shared memory, for worker threads (src/tensor/wasm/threads.ts)
    source: "assembly/arena.ts",
    target: "src/tensor/wasm/arena-shared.wasm.ts",
    constant: "ARENA_SHARED_WASM_BASE64",
    maxSyncBytes: null,
    extra: SHARED_FLAGS,
  },
];

async function compile(source: string, extra: string[]): Promise<Uint8Array> {
  let wasm: Uint8Array | null = null;
  const { error, stderr } = await asc.main([source, ...flags, ...extra, "--outFile", "out.wasm"], {
    writeFile(name, contents) {
      if (name.endsWith(".wasm") && typeof contents !== "string") wasm = contents;
    },
    readFile(name, baseDir) {
      try {
        return readFileSync(`${baseDir}/${name}`, "utf8");
      } catch {
        return null;
      }
    },
  });
  // Assigned inside the callback, so TypeScript cannot see it: re-read it with its declared type.
  const bytes = wasm as Uint8Array | null;
  if (error || !bytes) {
    process.stderr.write(stderr.toString());
    throw error ?? new Error(`asc produced no .wasm output for ${source}`);
  }
  return bytes;
}

/**
 * Every module in two builds, one file: the plain one (SIMD) and one with relaxed SIMD, whose gemm
 * multiply-adds are fused (f32x4.relaxed_madd; assembly/gemm-kernel.ts `madd`). The loader
 * (src/tensor/wasm/load.ts) uses the plain one unless MAKEMORE_FMA=1 asks for the relaxed one
 * (and it validates and fuses there).
 */
const VARIANTS: { suffix: string; extra: string[]; what: string }[] = [
  { suffix: "", extra: [], what: "SIMD" },
  { suffix: "_FMA", extra: ["--enable", "relaxed-simd"], what: "relaxed SIMD: fused multiply-add" },
];

let stale = false;
for (const t of targets) {
  const parts: string[] = [];
  const sizes: number[] = [];
  for (const v of VARIANTS) {
    const extra = [...(t.extra ?? []), ...v.extra];
    const bytes = await compile(t.source, extra);
    if (t.maxSyncBytes !== null && bytes.length > t.maxSyncBytes) {
      console.warn(
        `warning: ${t.source}${v.suffix}: ${bytes.length} bytes > ${t.maxSyncBytes}: browsers will refuse to compile it synchronously`,
      );
    }
    sizes.push(bytes.length);
    const b64 = Buffer.from(bytes).toString("base64");
    parts.push(`/** asc ${[...flags, ...extra].join(" ")}: ${bytes.length} bytes (${v.what}). */
export const ${t.constant.replace(/_WASM_BASE64$/, `${v.suffix}_WASM_BASE64`)} =
  "${b64}";
`);
  }
  const text = `// GENERATED FILE, do not edit: \`npm run build:wasm\` (scripts/build-wasm.ts) compiles
// ${t.source} with assemblyscript, twice: plain SIMD and relaxed SIMD (fused multiply-add).
// WebAssembly, base64-encoded.

${parts.join("\n")}`;
  const path = `${root}${t.target}`;
  if (process.argv.includes("--check")) {
    let current = "";
    try {
      current = readFileSync(path, "utf8");
    } catch {}
    if (current !== text) {
      console.error(`${t.target} is stale: run npm run build:wasm`);
      stale = true;
    } else console.log(`${t.target} is up to date (${sizes.join(" + ")} bytes)`);
  } else {
    writeFileSync(path, text);
    console.log(`wrote ${t.target} (${sizes.join(" + ")} bytes of wasm)`);
  }
}
if (stale) process.exit(1);
