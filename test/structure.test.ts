/**
 * The house's rules, read from the sources (issue 14): thin commands, no command calling another,
 * and imports that run only downward through the layers of the design (README, "Finding your way")
 * (random → tensor → nn → data → models → train, diagnostics → io → viz → dashboard → cli),
 * with the layers below io isomorphic (no `node:` imports, so they also run in a browser).
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "node:test";

const SRC = resolve(import.meta.dirname, "../src");
const CLI = join(SRC, "cli");

/** Every .ts file below a folder, as paths relative to src/. */
function sources(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[])
    .filter((f) => f.endsWith(".ts"))
    .map((f) => relative(SRC, join(dir, f)));
}

/** The module specifiers a file imports or re-exports (static and dynamic). */
function imports(file: string): string[] {
  const text = readFileSync(join(SRC, file), "utf8");
  const found = [...text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+"([^"]+)"/gms)].map((m) => m[1]);
  for (const m of text.matchAll(/\bimport\(\s*"([^"]+)"\s*\)/g)) found.push(m[1]);
  return found;
}

/** A relative specifier resolved to a path relative to src/. */
const target = (file: string, spec: string) => relative(SRC, resolve(SRC, dirname(file), spec));

test("every CLI file is under 300 lines", () => {
  const sizes = readdirSync(CLI)
    .filter((f) => f.endsWith(".ts"))
    .map((f) => [f, readFileSync(join(CLI, f), "utf8").split("\n").length - 1] as const);
  assert.ok(sizes.length >= 10, `found only ${sizes.length} files in src/cli`);
  const long = sizes.filter(([, n]) => n >= 300);
  assert.deepEqual(
    long,
    [],
    `CLI files of 300 lines or more: ${long.map(([f, n]) => `${f} (${n})`).join(", ")}`,
  );
});

test("no CLI command imports another command; main.ts dispatches to each", () => {
  // the commands are what main.ts imports a `...Command` function from
  const main = readFileSync(join(CLI, "main.ts"), "utf8");
  const commands = new Set(
    [...main.matchAll(/import \{ (\w+Command) \} from "\.\/(\w+)\.ts"/g)].map((m) => `cli/${m[2]}.ts`),
  );
  // a list that lost a command would make the check below vacuous
  for (const c of [
    "train",
    "sample",
    "eval",
    "fold",
    "info",
    "export",
    "doctor",
    "report",
    "experiment",
    "dashboard",
  ])
    assert.ok(commands.has(`cli/${c}.ts`), `main.ts does not import cli/${c}.ts`);
  const offences: string[] = [];
  for (const file of commands) {
    for (const spec of imports(file)) {
      if (!spec.startsWith(".")) continue;
      const t = target(file, spec);
      if (commands.has(t)) offences.push(`${file} imports ${t}`);
    }
  }
  assert.deepEqual(offences, []);
});

// bottom to top; a folder may import its own layer and the ones below. bench/ measures the
// library (cli's `bench` calls it); web/ is the browser playground, an app beside the CLI that
// reuses its flag parsing. errors.ts is the floor; index.ts/core.ts are the package's roofs.
const LAYER: Record<string, number> = {
  "errors.ts": 0,
  random: 1,
  tensor: 2,
  nn: 3,
  data: 4,
  models: 5,
  train: 6,
  diagnostics: 6,
  io: 7,
  viz: 8,
  dashboard: 9,
  bench: 9,
  "core.ts": 10,
  "index.ts": 10,
  cli: 10,
  web: 11,
};
const ISOMORPHIC = ["random", "tensor", "nn", "data", "models", "train", "diagnostics"];

test("imports run only downward through the layers, and the lower ones import nothing from Node", () => {
  const files = sources(SRC);
  assert.ok(files.length > 50, `found only ${files.length} sources`);
  const upward: string[] = [];
  const node: string[] = [];
  for (const file of files) {
    const top = file.split("/")[0];
    const own = LAYER[top];
    assert.ok(own !== undefined, `src/${top} is in no layer: add it to LAYER in test/structure.test.ts`);
    for (const spec of imports(file)) {
      if (spec.startsWith("node:") && ISOMORPHIC.includes(top)) node.push(`${file} imports ${spec}`);
      if (!spec.startsWith(".")) continue;
      const to = target(file, spec).split("/")[0];
      const theirs = LAYER[to];
      assert.ok(theirs !== undefined, `${file} imports ${spec}, outside src/`);
      if (theirs > own) upward.push(`${file} (${top}) imports ${spec} (${to})`);
    }
  }
  assert.deepEqual(upward, []);
  assert.deepEqual(node, []);
});

test("every repository path that a comment, test or the README names exists", () => {
  const ROOT = resolve(SRC, "..");
  const folders = ["src", "test", "scripts", "assembly", "bench", "examples"].filter((d) =>
    existsSync(join(ROOT, d)),
  );
  const read = folders.flatMap((d) =>
    (readdirSync(join(ROOT, d), { recursive: true }) as string[])
      .filter((f) => /\.(ts|js|py|md|html)$/.test(f))
      .map((f) => join(d, f)),
  );
  read.push("README.md", ".ci/run");
  assert.ok(read.length > 100, `found only ${read.length} files`);
  // a path starting at the repository root ("src/io/runfiles.ts", "docs/"; a glob is skipped);
  // not one inside another path ("../src/x.ts" is an import, "/work/shared/data/..." is outside)
  const PATH =
    /(?<![\w./@-])((?:src|test|scripts|assembly|bench|examples|fixtures|docs)\/[\w./*{},-]*[\w*}])/g;
  const missing = new Set<string>();
  for (const file of read) {
    const text = readFileSync(join(ROOT, file), "utf8");
    for (const m of text.matchAll(PATH)) {
      const path = m[1];
      if (/[*{]/.test(path) || existsSync(join(ROOT, path))) continue;
      missing.add(`${file} names ${path}`);
    }
  }
  assert.deepEqual([...missing], []);
});
