/**
 * One writer per run directory. `lockRunDir` creates `DIR/.lock` atomically (O_CREAT | O_EXCL:
 * of two processes racing, exactly one creates it) holding the owner's host name, pid, start time
 * and the command; a second writer gets one line naming the holder. A lock whose owner is dead
 * (no such pid, or the pid now belongs to a process that started later: pids are reused) is
 * taken over; a live owner's lock never is. A lock taken on another host (a run directory on a
 * shared file system) is never taken over: this host cannot see whether its owner lives.
 *
 *   const lock = lockRunDir(dir, "train");   // throws UserError if another writer holds it
 *   try { ... } finally { lock.release(); }   // also released when the process exits
 *
 * The lock is advisory: it guards makemore against itself (two `train --resume DIR`, two
 * `train -o DIR --overwrite`), not against other programs writing into the directory.
 */

import { closeSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { UserError } from "../errors.ts";
import { errorCode, isFsError, osReason, printable } from "./describe.ts";

export const LOCK_NAME = ".lock";

interface LockInfo {
  /** os.hostname() of the owner (absent in locks written before it was recorded: this host's) */
  host?: string;
  pid: number;
  /** the owner's start time (ms since the epoch, from /proc where there is one) */
  started: number;
  command: string;
  since: string;
}

export interface RunLock {
  readonly path: string;
  /** Remove the lock (only if it is still ours); idempotent. */
  release(): void;
}

/** Start time of process `pid` in ms since the epoch, or null where /proc cannot tell. */
function processStart(pid: number): number | null {
  try {
    // /proc/PID/stat field 22 is the start time in clock ticks after boot (the name in field 2
    // may hold spaces, so count from the closing parenthesis)
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[19]);
    const uptime = Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]);
    if (!Number.isFinite(ticks) || !Number.isFinite(uptime)) return null;
    // USER_HZ is 100 on every Linux ABI Node supports
    return Math.round(Date.now() - uptime * 1000 + (ticks / 100) * 1000);
  } catch {
    return null;
  }
}

/** This process's start time, as `processStart` computes it for others (computed once, lazily:
 * no work at import, so bundles that never lock shake this module out). */
let ownStartCache: number | null = null;
function ownStart(): number {
  ownStartCache ??= processStart(process.pid) ?? Math.round(Date.now() - process.uptime() * 1000);
  return ownStartCache;
}

/** True when the lock was taken on another host, whose processes this one cannot see. */
function otherHost(info: LockInfo): boolean {
  return typeof info.host === "string" && info.host !== hostname();
}

/** True when the lock's owner is still running (the same process, not a reused pid). */
function ownerAlive(info: LockInfo): boolean {
  if (otherHost(info)) return true; // unknowable from here: assume it lives
  if (info.pid === process.pid) return info.started === ownStart();
  try {
    process.kill(info.pid, 0);
  } catch (e) {
    if (errorCode(e) !== "EPERM") return false; // ESRCH: no such process
  }
  const start = processStart(info.pid);
  // a pid that started more than 2 s after the lock's owner is another process (a reused pid)
  return start === null || Math.abs(start - info.started) < 2000;
}

function readLock(path: string): LockInfo | null {
  try {
    const raw = JSON.parse(readFileSync(path, "utf8"));
    if (Number.isInteger(raw?.pid) && typeof raw.started === "number") return raw as LockInfo;
  } catch {
    // unreadable or half-written: treated below
  }
  return null;
}

const held = new Set<string>();
let exitHook = false;

/**
 * Take the writer's lock of `dir` (which must exist) for `command` ("train", "train --resume",
 * "fold"); UserError naming the holder when another live process has it.
 */
export function lockRunDir(dir: string, command: string): RunLock {
  const path = join(dir, LOCK_NAME);
  const info: LockInfo = {
    host: hostname(),
    pid: process.pid,
    started: ownStart(),
    command,
    since: new Date().toISOString(),
  };
  const body = `${JSON.stringify(info)}\n`;
  for (let attempt = 0; attempt < 5; attempt++) {
    let fd: number | undefined;
    try {
      fd = openSync(path, "wx", 0o644);
      writeSync(fd, body);
      closeSync(fd);
      fd = undefined;
      held.add(path);
      if (!exitHook) {
        exitHook = true;
        process.on("exit", () => {
          for (const p of held) releasePath(p);
        });
      }
      return { path, release: () => releasePath(path) };
    } catch (e) {
      if (fd !== undefined) closeSync(fd);
      if (errorCode(e) !== "EEXIST") {
        if (isFsError(e)) throw new UserError(`cannot lock run directory ${printable(dir)}: ${osReason(e)}`);
        throw e;
      }
    }
    const other = readLock(path);
    if (other === null) {
      // just created by another writer that has not written its pid yet, or damaged: a damaged
      // lock older than a second is stale
      if (attempt < 4) {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
        continue;
      }
    } else if (otherHost(other)) {
      throw new UserError(
        `run directory ${printable(dir)} is locked by makemore on host ${printable(String(other.host))} (pid ${other.pid}, ${printable(String(other.command))} since ${printable(String(other.since))}); a lock from another host is never taken over: if that process is gone, remove ${printable(path)}`,
      );
    } else if (ownerAlive(other)) {
      throw new UserError(
        `run directory ${printable(dir)} is in use by another makemore (pid ${other.pid}, ${printable(String(other.command))} since ${printable(String(other.since))}); wait for it to finish or stop it`,
      );
    }
    // the owner is dead: move its lock aside (one of several racing takers wins the rename),
    // check it is the one we judged, and try to create ours again
    const aside = `${path}.stale-${process.pid}`;
    try {
      renameSync(path, aside);
    } catch {
      continue; // another taker moved it first
    }
    const moved = readLock(aside);
    if (other && moved && (moved.pid !== other.pid || moved.started !== other.started)) {
      // a live writer's fresh lock: put it back
      try {
        renameSync(aside, path);
      } catch {
        // it was replaced meanwhile; the next attempt sees the current state
      }
      continue;
    }
    try {
      unlinkSync(aside);
    } catch {
      // gone already
    }
  }
  throw new UserError(`cannot lock run directory ${printable(dir)}: another writer keeps taking it`);
}

function releasePath(path: string): void {
  if (!held.delete(path)) return;
  const now = readLock(path);
  if (now && !otherHost(now) && now.pid === process.pid && now.started === ownStart()) {
    try {
      unlinkSync(path);
    } catch {
      // already removed
    }
  }
}
