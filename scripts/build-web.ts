/**
 * `npm run build:web`: the browser playground as a self-contained static site.
 *
 *   node --import tsx scripts/build-web.ts [OUT_DIR]      (default dist/playground)
 *
 * OUT_DIR/
 *   index.html, playground.css      the page (src/web/static)
 *   dashboard.css                   the dashboard's styles, which the page shares
 *   app.js                          the page's code (src/web/app.ts, bundled)
 *   worker.js                       the training worker (src/web/worker.ts: the isomorphic core,
 *                                   its WebAssembly SIMD modules embedded, bundled)
 *   charts.js                       the chart worker (src/web/charts.ts: vega and vega-lite, bundled,
 *                                   drawing on OffscreenCanvas: src/web/vega-canvas.ts)
 *   data/names.txt                  the bundled word list
 *
 * No CDN and no server logic: any static host serves it (or `makemore playground`).
 *
 * The page reuses pure functions of modules that also hold Node-only code (the word-file checks of
 * src/io/wordfile.ts, the safetensors codec of src/io/safetensors.ts): their `node:` imports resolve
 * to a stub that tree shaking must remove. If anything in the bundle really uses a Node module, the
 * stub survives and the build fails naming it, so the page never ships a call that cannot work.
 */

import { cpSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build, type Plugin } from "esbuild";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const STUB_MARK = "__makemore_node_stub__";

/** `node:*` -> an empty CommonJS module without side effects (gone after tree shaking). */
const noNode: Plugin = {
  name: "no-node",
  setup(b) {
    b.onResolve({ filter: /^node:/ }, (a) => ({ path: a.path, namespace: "no-node", sideEffects: false }));
    b.onLoad({ filter: /.*/, namespace: "no-node" }, (a) => ({
      contents: `module.exports = { ${STUB_MARK}: ${JSON.stringify(a.path)} };`,
      loader: "js",
    }));
  },
};

/** Build the site into `outDir` (replacing it). Returns the files written, relative to it. */
export async function buildWeb(outDir = join(ROOT, "dist/playground")): Promise<string[]> {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(join(outDir, "data"), { recursive: true });
  const result = await build({
    entryPoints: {
      app: join(ROOT, "src/web/app.ts"),
      worker: join(ROOT, "src/web/worker.ts"),
      charts: join(ROOT, "src/web/charts.ts"),
    },
    outdir: outDir,
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify: true,
    // the diagnostics name layers by class ("Tanh", "BatchNorm1d"): keep the names through minifying
    keepNames: true,
    sourcemap: "linked",
    legalComments: "none",
    plugins: [noNode],
    // vega draws headless views on a canvas it gets from vega-canvas: an OffscreenCanvas in a worker
    alias: { "vega-canvas": join(ROOT, "src/web/vega-canvas.ts") },
    write: false,
    logLevel: "silent",
  });
  const written: string[] = [];
  for (const f of result.outputFiles) {
    if (f.path.endsWith(".js") && f.text.includes(STUB_MARK)) {
      const m = new RegExp(`${STUB_MARK}:\\s*"([^"]+)"`).exec(f.text);
      throw new Error(
        `build:web: ${f.path} still uses ${m?.[1] ?? "a node: module"} after tree shaking; the page must not call Node-only code`,
      );
    }
    writeFileSync(f.path, f.contents);
    written.push(f.path.slice(outDir.length + 1));
  }
  cpSync(join(ROOT, "src/web/static"), outDir, { recursive: true });
  // the dashboard's look (cards, findings, samples); playground.css adds the form and the layout
  cpSync(join(ROOT, "src/dashboard/static/dashboard.css"), join(outDir, "dashboard.css"));
  written.push("index.html", "playground.css", "dashboard.css");
  cpSync(join(ROOT, "data/names.txt"), join(outDir, "data/names.txt"));
  written.push("data/names.txt");
  return written;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = resolve(process.argv[2] ?? join(ROOT, "dist/playground"));
  const t0 = performance.now();
  const files = await buildWeb(out);
  console.log(`build:web: ${files.length} files in ${out} (${(performance.now() - t0).toFixed(0)} ms)`);
}
