/**
 * `makemore playground`: serve the browser playground (the static site `npm run build:web` writes)
 * on this machine. Training runs in the browser tab; this server only hands out the site's files,
 * with the dashboard's hardening: a fixed list of routes read once at start (nothing is looked up
 * by path), GET/HEAD only, and on loopback a Host check against DNS rebinding.
 */

import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { DEFAULT_HOST, isLoopback, listenOn, loopbackHostHeader } from "../dashboard/server.ts";
import { UserError } from "../errors.ts";
import { num, parse } from "./args.ts";

export const DEFAULT_PLAYGROUND_PORT = 8080;

const HELP = `usage: makemore playground [options]

Serve the browser playground: pick a model and a data set, train it in the tab (a Web Worker
running the same WebAssembly training loop as makemore train, to the bit), watch the loss,
update:data ratios, histograms, saturation maps and the doctor's findings live, sample names,
and download the run (checkpoint.safetensors + config.json) for makemore sample/eval/report.
The page is a static site: nothing is sent anywhere, and any static host can serve it
(npm run build:web writes it to dist/playground). Ctrl-C stops the server.

options
      --port N      port to listen on (default ${DEFAULT_PLAYGROUND_PORT}; 0 picks a free one)
      --host HOST   address to listen on (default ${DEFAULT_HOST}: this machine only)
  -h, --help        this help

example
  makemore playground
  # then open http://127.0.0.1:${DEFAULT_PLAYGROUND_PORT}/?type=batchnorm&steps=2000&autostart=1`;

/** The built site: next to the compiled CLI (dist/playground), or dist/playground of a checkout. */
export function siteDir(): string {
  for (const rel of ["../playground/", "../../dist/playground/"]) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(join(dir, "index.html"))) return dir;
  }
  throw new UserError("the playground is not built: run npm run build:web (or npm run build) first");
}

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  txt: "text/plain; charset=utf-8",
  map: "application/json; charset=utf-8",
};

/** Every file of the site by its route ("/app.js"), read once: requests never touch the disk. */
function siteFiles(dir: string): Map<string, { body: Buffer; type: string }> {
  const out = new Map<string, { body: Buffer; type: string }>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else {
        const type = TYPES[name.split(".").pop() ?? ""];
        if (type) out.set(`/${relative(dir, path).split(sep).join("/")}`, { body: readFileSync(path), type });
      }
    }
  };
  walk(dir);
  return out;
}

// the page's own CSP (index.html carries it too, for static hosts); the workers' vega compiles
// expressions with Function(), which a worker's own (header-less) policy allows
const CSP =
  "default-src 'self'; script-src 'self'; worker-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export interface Playground {
  url: string;
  close(): Promise<void>;
}

/** Serve `dir` (default: the built site). Resolves once it listens. */
export async function startPlayground(
  opts: { host?: string; port?: number; dir?: string } = {},
): Promise<Playground> {
  const host = opts.host ?? DEFAULT_HOST;
  const port = opts.port ?? DEFAULT_PLAYGROUND_PORT;
  const files = siteFiles(opts.dir ?? siteDir());
  const loopback = isLoopback(host);
  const reply = (res: ServerResponse, status: number, type: string, body: Buffer | string, extra = {}) => {
    res.writeHead(status, {
      "Content-Type": type,
      "X-Content-Type-Options": "nosniff",
      "Referrer-Policy": "no-referrer",
      "X-Frame-Options": "DENY",
      "Cache-Control": "no-cache",
      ...extra,
    });
    res.end(res.req.method === "HEAD" ? undefined : body);
  };
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const text = "text/plain; charset=utf-8";
    if (req.method !== "GET" && req.method !== "HEAD")
      return reply(res, 405, text, "method not allowed\n", { Allow: "GET, HEAD" });
    if (loopback && !loopbackHostHeader(req))
      return reply(res, 403, text, "forbidden: unexpected Host header\n");
    const raw = req.url ?? "";
    const q = raw.indexOf("?");
    const path = q < 0 ? raw : raw.slice(0, q);
    const f = files.get(path === "/" ? "/index.html" : path);
    if (!f) return reply(res, 404, text, "not found\n");
    reply(res, 200, f.type, f.body, f.type.startsWith("text/html") ? { "Content-Security-Policy": CSP } : {});
  };
  const server = createServer((req, res) => {
    res.on("error", () => {});
    handle(req, res);
  });
  server.on("clientError", (_e, socket) => socket.destroy());
  const url = await listenOn(server, host, port);
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export async function playgroundCommand(argv: string[]): Promise<number> {
  const { values: v } = parse("playground", argv, { port: { type: "string" }, host: { type: "string" } });
  if (v.help) {
    console.log(HELP);
    return 0;
  }
  const port = num(v.port, "--port", DEFAULT_PLAYGROUND_PORT, { integer: true, min: 0, max: 65535 });
  const host = typeof v.host === "string" ? v.host : DEFAULT_HOST;
  const p = await startPlayground({ host, port });
  if (!isLoopback(host))
    console.error(
      `makemore: warning: the playground listens on ${host}, so other machines can load it (it serves only the static page; training stays in each visitor's tab)`,
    );
  console.log(`playground: ${p.url}`);
  console.log(`  a lecture run: ${p.url}?type=batchnorm&seed=2147483647&steps=2000&autostart=1`);
  await new Promise<void>((resolve) => {
    process.once("SIGINT", () => resolve());
    process.once("SIGTERM", () => resolve());
  });
  await p.close();
  return 0;
}
