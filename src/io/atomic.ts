/**
 * Crash-safe file writes. `writeFileAtomic` puts the new bytes in a temporary file beside the
 * target, fsyncs it, renames it over the target and fsyncs the directory, so after a crash or
 * power loss the target holds either the old contents or the complete new ones, never a mix.
 * A crash between create and rename can leave a `.name.tmp-<pid>-<n>` file behind; it never
 * replaces anything and `removeStaleTemps` can clear it.
 *
 * Every OS failure becomes a UserError naming the path and the reason ("disk full", "not
 * writable: permission denied", ...); other exceptions (bugs) propagate unchanged.
 */

import {
  appendFileSync,
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import { UserError } from "../errors.ts";
import { errorCode, isFsError, osReason, showPath } from "./describe.ts";

let counter = 0;

/** The temp name used for `path`: `.<name>.tmp-<pid>-<counter>` in the same directory. */
function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${counter++}`);
}

/** fsync a directory so a rename in it is durable; platforms that cannot do this are skipped. */
function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, "r");
    fsyncSync(fd);
  } catch (e) {
    const code = errorCode(e);
    // Windows cannot open directories (EISDIR/EPERM), some file systems refuse fsync (EINVAL,
    // ENOTSUP) and a write-only directory cannot be opened for reading (EACCES): the file is
    // already in place, so these only weaken durability, they do not lose data.
    if (!["EINVAL", "EISDIR", "EPERM", "EACCES", "ENOTSUP", "EBADF"].includes(code ?? "")) throw e;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Write all of `bytes` to `fd` (writeSync may write less than asked). */
function writeAll(fd: number, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
}

/**
 * Replace `path` with `data` atomically (UTF-8 for strings). On failure the target is untouched,
 * the temp file is removed, and a UserError says `cannot write <path>: <reason>`.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const tmp = tempPathFor(path);
  let fd: number | undefined;
  let created = false;
  try {
    fd = openSync(tmp, "wx", 0o666);
    created = true;
    writeAll(fd, bytes);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
    created = false;
    fsyncDir(dirname(path));
  } catch (e) {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        // already failing; the original error is the one to report
      }
    }
    if (created) {
      try {
        unlinkSync(tmp);
      } catch {
        // nothing more we can do; the temp name never shadows the target
      }
    }
    if (isFsError(e)) throw new UserError(`cannot write ${showPath(path)}: ${osReason(e)}`);
    throw e;
  }
}

/**
 * Append one line (a newline is added) to `path`, creating it if needed; for JSONL metrics.
 * The line must not contain a newline itself. With `fsync`, the append is made durable.
 * A crash mid-append can at worst leave a torn last line, which readers should skip.
 */
export function appendLine(path: string, line: string, opts: { fsync?: boolean } = {}): void {
  if (/[\n\r]/.test(line)) throw new RangeError("appendLine: the line must not contain a newline");
  let fd: number | undefined;
  try {
    if (opts.fsync) {
      fd = openSync(path, "a");
      writeAll(fd, new TextEncoder().encode(`${line}\n`));
      fsyncSync(fd);
    } else {
      appendFileSync(path, `${line}\n`);
    }
  } catch (e) {
    if (isFsError(e)) throw new UserError(`cannot append to ${showPath(path)}: ${osReason(e)}`);
    throw e;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Create `dir` (and parents) if needed and prove it is writable by creating and removing a probe
 * file. Throws UserError(`output directory <dir> ...`) when it is a file or cannot be written.
 */
export function ensureWritableDir(dir: string): void {
  const shown = showPath(dir);
  try {
    const st = statSync(dir);
    if (!st.isDirectory()) throw new UserError(`output directory ${shown} exists but is not a directory`);
  } catch (e) {
    if (e instanceof UserError) throw e;
    const code = errorCode(e);
    if (code === "ENOTDIR")
      throw new UserError(`output directory ${shown} cannot be created: a parent path is a file`);
    if (code !== "ENOENT") {
      if (isFsError(e)) throw new UserError(`output directory ${shown} cannot be used: ${osReason(e)}`);
      throw e;
    }
    try {
      mkdirSync(dir, { recursive: true });
    } catch (e2) {
      const code2 = errorCode(e2);
      if (code2 === "ENOTDIR" || code2 === "EEXIST")
        throw new UserError(`output directory ${shown} cannot be created: a parent path is a file`);
      if (isFsError(e2)) throw new UserError(`output directory ${shown} cannot be created: ${osReason(e2)}`);
      throw e2;
    }
  }
  const probe = join(dir, `.probe-${process.pid}-${counter++}`);
  let fd: number | undefined;
  try {
    fd = openSync(probe, "wx");
    writeAll(fd, new Uint8Array([0x2e]));
    closeSync(fd);
    fd = undefined;
    unlinkSync(probe);
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(probe);
    } catch {
      // the probe may never have been created
    }
    if (isFsError(e)) throw new UserError(`output directory ${shown} is not writable: ${osReason(e)}`);
    throw e;
  }
}

/** Temp files a crashed `writeFileAtomic` left in `dir` for `name` (or any name), oldest first. */
export function staleTemps(dir: string, name?: string): string[] {
  const prefix = name === undefined ? "." : `.${name}.tmp-`;
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  return entries.filter((e) => e.startsWith(prefix) && /\.tmp-\d+-\d+$/.test(e)).sort();
}

/** True when a process with this id exists (so its temp files may still be in use). */
function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errorCode(e) === "EPERM";
  }
}

/** Remove temp files left in `dir` by crashed writers; temps of live processes are kept. */
export function removeStaleTemps(dir: string): void {
  for (const name of staleTemps(dir)) {
    const pid = Number(/\.tmp-(\d+)-\d+$/.exec(name)![1]);
    if (processAlive(pid)) continue;
    try {
      unlinkSync(join(dir, name));
    } catch {
      // another process may have removed it first
    }
  }
}
