/**
 * The live dashboard's HTTP server (node:http, loopback by default, no CDN: vega, vega-lite and
 * vega-embed are served from node_modules). Routes are fixed; nothing is looked up by path.
 *
 *   GET /                       the page: one run, or a comparison when several runs are open
 *   GET /run/N                  the page for run N
 *   GET /static/dashboard.js|css, /static/controls.js (src/viz/controls.ts), /lib/vega.min.js,
 *       /lib/vega-lite.min.js, /lib/vega-embed.min.js
 *   GET /api/info               the runs: [{ index, name }]
 *   GET /api/events             server-sent events: "run" with a RunSummary whenever a run changes
 *   GET /api/run/N/summary      header facts, findings, samples, the chart list with versions
 *   GET /api/run/N/charts?names=loss,update-ratios   Vega-Lite specs (src/viz/specs.ts)
 *   GET /api/run/N/metrics|snapshot|findings|samples|state   the data, downsampled
 *   GET /api/compare/charts     overlaid loss curves and side-by-side histograms of all runs
 *
 * Run files are polled every ~500 ms (fs.stat, then only the appended bytes are read; see
 * watch.ts). `startDashboardWorker` runs the same server in a worker thread, so a synchronous
 * training loop on the main thread does not stall it.
 *
 *   const d = await startDashboard({ runDirs: ["runs/bn"], port: 0 });
 *   console.log(d.url); // http://127.0.0.1:41234/
 *   await d.close();
 */

import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createRequire } from "node:module";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { UserError } from "../errors.ts";
import { isRunDir } from "../io/runfiles.ts";
import { compareCharts, type RunSummary, RunWatcher, runLabels } from "./watch.ts";

export const DEFAULT_HOST = "127.0.0.1";
export const DEFAULT_PORT = 8000;

export interface DashboardOptions {
  /** run directories to show; several give a comparison page */
  runDirs: string[];
  /** address to bind (default 127.0.0.1: this machine only) */
  host?: string;
  /** port (default 8000; 0 picks a free one) */
  port?: number;
  /** how often the run files are polled, in ms (default 500) */
  pollMs?: number;
  /** how often an idle event stream gets a keep-alive comment, in ms (default 15,000) */
  heartbeatMs?: number;
  /**
   * folders whose runs are shown (`makemore dashboard runs/`): rescanned every `rescanMs` (default
   * 2,000), so a run created after the start appears, as in TensorBoard; the page reloads itself
   */
  folders?: string[];
  rescanMs?: number;
}

/**
 * The run directories below `folder` (up to 4 levels, in name order): a folder holds a run when it
 * has config.json or metrics.jsonl (`isRunDir`). A folder that is itself a run is not searched.
 */
export function runsBelow(folder: string): string[] {
  const found: string[] = [];
  const walk = (d: string, depth: number) => {
    let names: string[];
    try {
      names = readdirSync(d).sort();
    } catch {
      return;
    }
    for (const n of names) {
      const sub = join(d, n);
      try {
        if (!statSync(sub).isDirectory()) continue;
      } catch {
        continue;
      }
      if (isRunDir(sub)) found.push(sub);
      else if (depth < 4) walk(sub, depth + 1);
    }
  };
  walk(folder, 1);
  return found;
}

export interface Dashboard {
  /** where the page is: http://127.0.0.1:PORT/ */
  url: string;
  close(): Promise<void>;
}

// ---------------------------------------------------------------- hosts

/** 127.0.0.0/8, ::1 and "localhost" only reach this machine. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  return (
    h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || h === "::ffff:127.0.0.1"
  );
}

/**
 * For a server bound to loopback: the request names this machine in its Host header. Other names
 * are refused, so a web page cannot reach the server through DNS rebinding (a name of its own that
 * resolves to 127.0.0.1).
 */
export function loopbackHostHeader(req: IncomingMessage): boolean {
  const h = (req.headers.host ?? "").toLowerCase();
  const name = h.startsWith("[") ? h.slice(0, h.indexOf("]") + 1) : h.split(":")[0]!;
  return name === "localhost" || name === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}

function urlHost(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

/** The one-line warning for a dashboard reachable from other machines. */
function exposedWarning(host: string): string {
  return `makemore: warning: the dashboard listens on ${host}, so other machines can reach it and read the runs it shows (it has no password); use --host 127.0.0.1 unless you mean it`;
}

// ---------------------------------------------------------------- static files

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

/** The page files: next to this module (built), or in src/dashboard/static (a checkout). */
function staticDir(): string {
  for (const rel of ["./static/", "../../src/dashboard/static/"]) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(join(dir, "index.html"))) return dir;
  }
  throw new Error("the dashboard page files (src/dashboard/static) are missing from this install");
}

/** A file of an installed package's build/ directory (where its main entry lives). */
function packageFile(pkg: string, file: string): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve(pkg)), file);
}

const JS = "text/javascript; charset=utf-8";

/**
 * The page's chart controls, src/viz/controls.ts (the playground's too): its compiled module next
 * to this one (built), or in a checkout its source, served with the types stripped (`ts`).
 */
function controlsModule(): { path: string; type: string; ts?: boolean } {
  const built = fileURLToPath(new URL("../viz/controls.js", import.meta.url));
  if (existsSync(built)) return { path: built, type: JS };
  return { path: fileURLToPath(new URL("../viz/controls.ts", import.meta.url)), type: JS, ts: true };
}

/** TypeScript as JavaScript, by esbuild (a checkout's devDependency; a built install never needs it). */
function stripTypes(source: string): string {
  const esbuild = createRequire(import.meta.url)("esbuild") as typeof import("esbuild");
  return esbuild.transformSync(source, { loader: "ts", format: "esm" }).code;
}

/** Fixed routes to files: the only files this server ever reads for a request. */
function assetFiles(): Record<string, { path: string; type: string; ts?: boolean }> {
  const dir = staticDir();
  return {
    "/": { path: join(dir, "index.html"), type: "text/html; charset=utf-8" },
    "/static/dashboard.js": { path: join(dir, "dashboard.js"), type: JS },
    "/static/controls.js": controlsModule(),
    "/static/dashboard.css": { path: join(dir, "dashboard.css"), type: "text/css; charset=utf-8" },
    "/lib/vega.min.js": { path: packageFile("vega", "vega.min.js"), type: JS },
    "/lib/vega-lite.min.js": { path: packageFile("vega-lite", "vega-lite.min.js"), type: JS },
    "/lib/vega-embed.min.js": { path: packageFile("vega-embed", "vega-embed.min.js"), type: JS },
  };
}

// vega compiles its expressions with Function(): 'unsafe-eval'; vega-embed adds a <style>
const CSP =
  "default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

// ---------------------------------------------------------------- the server

interface Client {
  res: ServerResponse;
}

/** Start the dashboard in this thread. Resolves once it listens. */
export function startDashboard(opts: DashboardOptions): Promise<Dashboard> {
  return listen(opts, true);
}

async function listen(opts: DashboardOptions, warn: boolean): Promise<Dashboard> {
  if (opts.runDirs.length === 0) throw new UserError("the dashboard needs at least one run directory", 2);
  const host = opts.host ?? DEFAULT_HOST;
  const port = opts.port ?? DEFAULT_PORT;
  const pollMs = opts.pollMs ?? 500;
  const heartbeatMs = opts.heartbeatMs ?? 15_000;
  const loopback = isLoopback(host);
  const files = assetFiles();
  const assets = new Map<string, Asset>();
  const labels = runLabels(opts.runDirs);
  const runs = opts.runDirs.map((dir, i) => new RunWatcher(dir, i, labels[i]));
  const clients = new Set<Client>();
  const lastStatus = runs.map(() => "");
  // runs created below a watched folder after the start join the page (TensorBoard's habit)
  const shown = new Set(opts.runDirs.map((d) => resolve(d)));
  const rescanMs = opts.rescanMs ?? 2000;
  let lastScan = Date.now();
  const rescan = (now: number) => {
    if (!opts.folders?.length || now - lastScan < rescanMs) return;
    lastScan = now;
    const added: string[] = [];
    for (const folder of opts.folders)
      for (const dir of runsBelow(folder)) {
        const key = resolve(dir);
        if (shown.has(key) || runs.length >= 10_000) continue;
        shown.add(key);
        const taken = new Set(runs.map((w) => w.name));
        const name = taken.has(basename(key)) ? dir : basename(key);
        runs.push(new RunWatcher(dir, runs.length, name));
        lastStatus.push("");
        added.push(name);
      }
    if (added.length && clients.size)
      for (const c of clients)
        send(c, event("runs", { runs: runs.map((w) => ({ index: w.index, name: w.name })), added }));
  };
  let compareCache: { key: string; charts: unknown } | null = null;
  let closed = false;

  const asset = (route: string): Asset => {
    let a = assets.get(route);
    if (!a) {
      const f = files[route]!;
      const body = f.ts ? Buffer.from(stripTypes(readFileSync(f.path, "utf8"))) : readFileSync(f.path);
      a = { body, type: f.type, etag: `"${createHash("sha1").update(body).digest("base64url")}"` };
      assets.set(route, a);
    }
    return a;
  };

  // ------------------------------------------------------------ events

  const send = (c: Client, text: string) => {
    const { res } = c;
    if (res.destroyed || res.writableEnded) {
      clients.delete(c);
      return;
    }
    // a client that stopped reading: drop it (its EventSource reconnects and resyncs)
    if (res.writableLength > 8 * 1024 * 1024) {
      clients.delete(c);
      res.destroy();
      return;
    }
    res.write(text);
  };
  const event = (name: string, data: unknown) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
  const broadcast = (s: RunSummary) => {
    if (clients.size === 0) return;
    const text = event("run", s);
    for (const c of clients) send(c, text);
  };

  const openEvents = (req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(200, {
      "Content-Type": "text/event-stream; charset=utf-8",
      "Cache-Control": "no-cache, no-transform",
      Connection: "keep-alive",
      "X-Accel-Buffering": "no",
    });
    const c: Client = { res };
    clients.add(c);
    const drop = () => clients.delete(c);
    req.on("close", drop);
    res.on("close", drop);
    res.on("error", drop);
    // reconnect after 2 s; then the current state of every run, so a reconnect resyncs
    send(c, `retry: 2000\n\n`);
    for (const w of runs) send(c, event("run", w.summary()));
  };

  // ------------------------------------------------------------ polling

  let timer: NodeJS.Timeout | undefined;
  let immediate: NodeJS.Immediate | undefined;
  const tick = () => {
    timer = undefined;
    immediate = undefined;
    if (closed) return;
    let behind = false;
    const now = Date.now();
    rescan(now);
    for (let i = 0; i < runs.length; i++) {
      const w = runs[i]!;
      let changed = false;
      try {
        changed = w.poll(now);
      } catch {
        // a file vanished or became unreadable mid-read: keep serving, try again next time
      }
      const status = w.status(now);
      if (changed || status !== lastStatus[i]) {
        lastStatus[i] = status;
        broadcast(w.summary(now));
      }
      behind ||= w.behind;
    }
    if (behind) immediate = setImmediate(tick);
    else timer = setTimeout(tick, pollMs);
  };
  const heartbeat = setInterval(() => {
    for (const c of clients) send(c, ": ping\n\n");
  }, heartbeatMs);

  // ------------------------------------------------------------ requests

  const headers = (type: string, extra: Record<string, string> = {}) => ({
    "Content-Type": type,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    ...extra,
  });
  const sendText = (res: ServerResponse, status: number, text: string) => {
    res.writeHead(status, headers("text/plain; charset=utf-8", { "Cache-Control": "no-store" }));
    res.end(res.req.method === "HEAD" ? undefined : `${text}\n`);
  };
  // chart data at 7 significant digits: the same picture, a third fewer bytes per update
  const round = (_k: string, v: unknown) =>
    typeof v === "number" && !Number.isInteger(v) && Number.isFinite(v) ? Number(v.toPrecision(7)) : v;
  const sendJson = (res: ServerResponse, value: unknown, rounded = false) => {
    const body = JSON.stringify(value ?? null, rounded ? round : undefined);
    res.writeHead(200, headers("application/json; charset=utf-8", { "Cache-Control": "no-store" }));
    res.end(res.req.method === "HEAD" ? undefined : body);
  };
  const sendAsset = (req: IncomingMessage, res: ServerResponse, route: string) => {
    const a = asset(route);
    const extra: Record<string, string> = { "Cache-Control": "no-cache", ETag: a.etag };
    if (route === "/") extra["Content-Security-Policy"] = CSP;
    if (req.headers["if-none-match"] === a.etag) {
      res.writeHead(304, headers(a.type, extra));
      res.end();
      return;
    }
    res.writeHead(200, headers(a.type, { ...extra, "Content-Length": String(a.body.length) }));
    res.end(req.method === "HEAD" ? undefined : a.body);
  };

  const hostAllowed = (req: IncomingMessage): boolean => !loopback || loopbackHostHeader(req);

  const runApi = (res: ServerResponse, w: RunWatcher, what: string, query: URLSearchParams) => {
    switch (what) {
      case "summary":
        return sendJson(res, w.summary());
      case "charts": {
        const wanted = query.get("names");
        const names = wanted === null ? w.chartList().map((c) => c.name) : wanted.split(",");
        const charts: Record<string, unknown> = {};
        for (const n of names.slice(0, 64)) {
          const c = w.chart(n);
          if (c) charts[n] = c;
        }
        return sendJson(res, { charts }, true);
      }
      case "metrics":
        return sendJson(res, w.series(), true);
      case "snapshot":
        return sendJson(res, w.latestSnapshot ?? null);
      case "findings":
        return sendJson(res, w.findings());
      case "samples":
        return sendJson(res, w.samples());
      case "state":
        return sendJson(res, w.stateView());
    }
  };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    res.on("error", () => {}); // a client that went away mid-response is not our problem
    const raw = req.url ?? "";
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.setHeader("Allow", "GET, HEAD");
      return sendText(res, 405, "method not allowed");
    }
    if (!hostAllowed(req)) return sendText(res, 403, "forbidden: unexpected Host header");
    const q = raw.indexOf("?");
    const path = q < 0 ? raw : raw.slice(0, q);
    const query = new URLSearchParams(q < 0 ? "" : raw.slice(q + 1));
    // fixed routes only; anything that looks like a path trick is not found
    if (!path.startsWith("/") || path.length > 200 || /\.\.|%|\\|\/\/|\0/.test(path))
      return sendText(res, 404, "not found");
    if (path === "/" || path === "/index.html") return sendAsset(req, res, "/");
    const page = /^\/run\/(\d{1,4})$/.exec(path);
    if (page && Number(page[1]) < runs.length) return sendAsset(req, res, "/");
    if (Object.hasOwn(files, path) && path !== "/") return sendAsset(req, res, path);
    if (path === "/api/events") return openEvents(req, res);
    if (path === "/api/info")
      return sendJson(res, { runs: runs.map((w) => ({ index: w.index, name: w.name })) });
    const api = /^\/api\/run\/(\d{1,4})\/(summary|charts|metrics|snapshot|findings|samples|state)$/.exec(
      path,
    );
    if (api) {
      const w = runs[Number(api[1])];
      if (w) return runApi(res, w, api[2]!, query);
    }
    if (path === "/api/compare/charts") {
      const key = runs.map((w) => w.version).join(",");
      if (compareCache?.key !== key) compareCache = { key, charts: compareCharts(runs) };
      return sendJson(res, { version: key, charts: compareCache.charts }, true);
    }
    return sendText(res, 404, "not found");
  };

  const server = createServer((req, res) => {
    try {
      handle(req, res);
    } catch (e) {
      if (!res.headersSent) sendText(res, 500, `internal error: ${(e as Error).message}`);
      else res.destroy();
    }
  });
  server.on("clientError", (_e, socket) => {
    if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
    else socket.destroy();
  });

  let url: string;
  try {
    url = await listenOn(server, host, port);
  } catch (e) {
    clearInterval(heartbeat);
    throw e;
  }
  if (warn && !loopback) process.stderr.write(`${exposedWarning(host)}\n`);
  tick();

  return {
    url,
    close: async () => {
      if (closed) return;
      closed = true;
      if (timer) clearTimeout(timer);
      if (immediate) clearImmediate(immediate);
      clearInterval(heartbeat);
      for (const c of clients) c.res.end();
      clients.clear();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/**
 * Listen on host:port; resolves with the URL. A port in use, a privileged port or an address this
 * machine does not have is a one-line UserError.
 */
export async function listenOn(server: Server, host: string, port: number): Promise<string> {
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EADDRINUSE")
      throw new UserError(
        `port ${port} on ${host} is in use; choose another with --port (0 picks a free one)`,
      );
    if (code === "EACCES")
      throw new UserError(`port ${port} needs more privileges; choose one above 1023 with --port`);
    if (code === "EADDRNOTAVAIL" || code === "ENOTFOUND" || code === "EAI_AGAIN")
      throw new UserError(`cannot listen on ${host}: not an address of this machine`);
    throw e;
  }
  const address = server.address();
  const actualPort = typeof address === "object" && address ? address.port : port;
  return `http://${urlHost(host)}:${actualPort}/`;
}

// ---------------------------------------------------------------- in a worker thread

const WORKER_KIND = "makemore-dashboard";

interface WorkerMessage {
  type: "listening" | "error" | "closed";
  url?: string;
  message?: string;
  user?: boolean;
  exitCode?: number;
}

/**
 * The same server in a worker thread: a synchronous training loop on the main thread cannot
 * stall it. Resolves with the URL once it listens; close() stops it and ends the thread.
 */
export function startDashboardWorker(opts: DashboardOptions): Promise<Dashboard> {
  // the warning is printed here: a worker's output waits for the main thread's event loop
  if (!isLoopback(opts.host ?? DEFAULT_HOST)) process.stderr.write(`${exposedWarning(opts.host!)}\n`);
  const data = { workerData: { kind: WORKER_KIND, opts: { ...opts, runDirs: [...opts.runDirs] } } };
  const self = import.meta.url;
  // run from TypeScript source (tsx): a worker does not inherit tsx's loader, so register it first
  const worker = self.endsWith(".ts")
    ? new Worker(
        `import(${JSON.stringify(import.meta.resolve("tsx/esm/api"))}).then((tsx) => { tsx.register(); return import(${JSON.stringify(self)}); });`,
        { ...data, eval: true },
      )
    : new Worker(new URL(self), data);
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    worker.once("exit", () => {
      exited = true;
      resolve();
    }),
  );
  const close = async () => {
    if (exited) return;
    worker.postMessage({ type: "close" });
    let timeout: NodeJS.Timeout | undefined;
    await Promise.race([exit, new Promise((r) => (timeout = setTimeout(r, 2000)))]);
    clearTimeout(timeout);
    if (!exited) await worker.terminate();
  };
  return new Promise<Dashboard>((resolve, reject) => {
    let listening = false;
    worker.on("message", (m: WorkerMessage) => {
      if (m?.type === "listening" && m.url) {
        listening = true;
        resolve({ url: m.url, close });
      } else if (m?.type === "error") {
        reject(m.user ? new UserError(m.message ?? "dashboard failed", m.exitCode) : new Error(m.message));
        void worker.terminate();
      }
    });
    worker.on("error", (e) => {
      if (!listening) reject(e);
      else process.stderr.write(`makemore: the dashboard stopped: ${e.message}\n`);
    });
    void exit.then(() => {
      if (!listening) reject(new Error("the dashboard worker exited before it listened"));
    });
  });
}

if (!isMainThread && parentPort && (workerData as { kind?: string } | null)?.kind === WORKER_KIND) {
  const port = parentPort;
  listen((workerData as { opts: DashboardOptions }).opts, false).then(
    (d) => {
      port.on("message", (m: { type?: string }) => {
        if (m?.type !== "close") return;
        void d.close().then(() => port.close());
      });
      port.postMessage({ type: "listening", url: d.url } satisfies WorkerMessage);
    },
    (e: unknown) => {
      port.postMessage({
        type: "error",
        message: e instanceof Error ? e.message : String(e),
        user: e instanceof UserError,
        exitCode: e instanceof UserError ? e.exitCode : undefined,
      } satisfies WorkerMessage);
    },
  );
}
