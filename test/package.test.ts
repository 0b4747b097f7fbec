/**
 * The published package: `makemore-ts/core`'s type declarations compile for a user with no
 * @types/node and no DOM (plain ES2022), the tarball carries the LICENSE package.json names,
 * and README's library example runs as written. Needs `npm run build` (CI builds first).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const tsc = join(root, "node_modules", "typescript", "bin", "tsc");

test("makemore-ts/core's .d.ts need nothing from Node (no @types/node, no DOM lib)", () => {
  const dir = mkdtempSync(join(tmpdir(), "mm-core-types-"));
  try {
    writeFileSync(
      join(dir, "use.ts"),
      `import { Generator, randn, buildFromSpec, specFor, TrainingSession, MemoryRunStore } from ${JSON.stringify(join(root, "dist", "core.js"))};
const g = new Generator().manualSeed(1);
const shape: number[] = randn([2], { generator: g }).shape;
const model = buildFromSpec(specFor("batchnorm", {}, { vocabSize: 27, longestWord: 15 }), g);
export const facts = [shape, model.numParameters(), TrainingSession.name, new MemoryRunStore().location];
`,
    );
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "es2022",
          module: "nodenext",
          moduleResolution: "nodenext",
          strict: true,
          noEmit: true,
          types: [],
          lib: ["es2022"],
          skipLibCheck: false,
        },
        files: ["use.ts"],
      }),
    );
    let out = "";
    try {
      execFileSync(process.execPath, [tsc, "-p", dir], { encoding: "utf8" });
    } catch (e) {
      out = String((e as { stdout?: string }).stdout ?? e);
    }
    assert.equal(out, "", out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the tarball holds LICENSE (MIT, as package.json says), dist and the names", () => {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  assert.equal(pkg.license, "MIT");
  assert.match(readFileSync(join(root, "LICENSE"), "utf8"), /^MIT License/);
  const packed = JSON.parse(
    execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: root, encoding: "utf8" }),
  );
  const files = new Set((packed[0].files as { path: string }[]).map((f) => f.path));
  for (const f of [
    "LICENSE",
    "README.md",
    "package.json",
    "data/names.txt",
    "dist/core.js",
    "dist/core.d.ts",
  ])
    assert.ok(files.has(f), f);
});

test("README's complete program runs as written and prints what README says", () => {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const at = readme.indexOf("<!-- readme-example");
  assert.ok(at >= 0, "the marked example");
  const block = /```js\n([\s\S]*?)```/.exec(readme.slice(at));
  assert.ok(block);
  // inside the package, so that `import ... from "makemore-ts"` resolves to this checkout's build
  const dir = mkdtempSync(join(root, ".readme-example-"));
  try {
    writeFileSync(join(dir, "first.mjs"), block[1]);
    const out = execFileSync(process.execPath, [join(dir, "first.mjs")], { cwd: root, encoding: "utf8" });
    const lines = out.trim().split("\n");
    assert.equal(lines[0], "train [ 182625, 3 ] [ 182625 ]");
    assert.equal(lines[1], "step 0 3.3239");
    assert.deepEqual(
      lines.slice(1, 5).map((l) => l.split(" ")[1]),
      ["0", "250", "500", "750"],
    );
    assert.equal(lines[5], "val 2.4548");
    assert.equal(lines[6], "[ 'carpahxqtelllelikimrixhth', 'lahnanden', 'jazhnnn' ]");
    assert.match(readme, /prints `train \[ 182625, 3 \] \[ 182625 \]`, then `step 0 3\.3239`/);
    assert.match(readme, /`val 2\.4548`\nand `\[ 'carpahxqtelllelikimrixhth', 'lahnanden', 'jazhnnn' \]`/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
