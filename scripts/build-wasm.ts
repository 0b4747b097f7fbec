// Regenerates src/tensor/wasm/gemm.wasm.ts from assembly/gemm.ts with the AssemblyScript compiler
// (devDependency `assemblyscript`, pure JS + binaryen.js: no native toolchain).
//
//   npm run build:wasm             rewrite the generated file
//   npm run build:wasm -- --check  exit 1 if the committed file differs from a fresh build
//
// The module is committed as base64 so that runtime (Node and browsers) needs no compiler.
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import asc from "assemblyscript/asc";

const root = fileURLToPath(new URL("..", import.meta.url));
process.chdir(root); // asc resolves the source against the working directory
const source = "assembly/gemm.ts";
const target = "src/tensor/wasm/gemm.wasm.ts";
const flags = ["--enable", "simd", "-O3", "--runtime", "stub", "--noAssert"];

let wasm: Uint8Array | null = null;
const { error, stderr } = await asc.main([source, ...flags, "--outFile", "gemm.wasm"], {
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
  throw error ?? new Error("asc produced no .wasm output");
}

// Chrome refuses synchronous `new WebAssembly.Module` of more than 4 KB on the main thread, and the
// wrapper (src/tensor/wasm/kernels-wasm.ts) compiles synchronously.
if (bytes.length > 4096) {
  console.warn(`warning: ${bytes.length} bytes > 4096: browsers will refuse to compile it synchronously`);
}

const b64 = Buffer.from(bytes).toString("base64");
const text = `// GENERATED FILE, do not edit: \`npm run build:wasm\` (scripts/build-wasm.ts) compiles
// ${source} with assemblyscript (asc ${flags.join(" ")}).
// ${bytes.length} bytes of WebAssembly (SIMD), base64-encoded.

export const GEMM_WASM_BASE64 =
  "${b64}";
`;

const path = `${root}${target}`;
if (process.argv.includes("--check")) {
  let current = "";
  try {
    current = readFileSync(path, "utf8");
  } catch {}
  if (current !== text) {
    console.error(`${target} is stale: run npm run build:wasm`);
    process.exit(1);
  }
  console.log(`${target} is up to date (${bytes.length} bytes)`);
} else {
  writeFileSync(path, text);
  console.log(`wrote ${target} (${bytes.length} bytes of wasm)`);
}
