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
  constants,
  fstatSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  type Stats,
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

/** What a non-regular file is, for messages. */
function kindOf(st: Stats): string {
  if (st.isSymbolicLink()) return "a symbolic link";
  if (st.isDirectory()) return "a directory";
  if (st.isFIFO()) return "a named pipe (FIFO)";
  if (st.isCharacterDevice() || st.isBlockDevice()) return "a device";
  if (st.isSocket()) return "a socket";
  return "not a regular file";
}

/**
 * Writes only ever replace regular files: renaming over a device node, a FIFO or a symbolic link
 * would replace the node or the link itself (as root, /dev/null would become a regular file).
 */
export function checkReplaceable(path: string): void {
  let st: Stats;
  try {
    st = lstatSync(path);
  } catch (e) {
    if (errorCode(e) === "ENOENT") return;
    if (isFsError(e)) throw new UserError(`cannot write ${showPath(path)}: ${osReason(e)}`);
    throw e;
  }
  if (!st.isFile())
    throw new UserError(
      `cannot write ${showPath(path)}: it is ${kindOf(st)}; writes only replace regular files`,
    );
}

/**
 * Read a whole regular file, refusing anything else before reading a byte: a FIFO would block, a
 * device such as /dev/zero never ends. Opened non-blocking and checked with fstat on the same
 * descriptor, so a path swapped in between cannot slip through. `what` names it in messages.
 */
export function readRegularFile(path: string, what: string, maxBytes: number): Uint8Array {
  return withRegularFile(path, what, (fd, size) => {
    if (size > maxBytes)
      throw new UserError(`${what} ${showPath(path)} is ${size} bytes, over the ${maxBytes}-byte limit`);
    const buf = Buffer.allocUnsafe(size);
    let off = 0;
    while (off < size) {
      const n = readSync(fd, buf, off, size - off, off);
      if (n === 0) break;
      off += n;
    }
    return buf.subarray(0, off);
  });
}

/** Open `path` as a regular file (checked as readRegularFile does) and run `use` on it. */
function withRegularFile<T>(path: string, what: string, use: (fd: number, size: number) => T): T {
  const shown = showPath(path);
  let fd: number | undefined;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    const st = fstatSync(fd);
    if (st.isDirectory()) throw new UserError(`${what} ${shown} is a directory, not a file`);
    if (!st.isFile()) throw new UserError(`${what} ${shown} is ${kindOf(st)}, not a regular file`);
    return use(fd, st.size);
  } catch (e) {
    if (e instanceof UserError) throw e;
    const code = errorCode(e);
    if (code === "ENOENT" || code === "ENOTDIR") throw new UserError(`${what} ${shown} does not exist`);
    if (code === "EISDIR") throw new UserError(`${what} ${shown} is a directory, not a file`);
    if (code === "EACCES" || code === "EPERM")
      throw new UserError(`${what} ${shown} cannot be read: permission denied`);
    if (isFsError(e)) throw new UserError(`${what} ${shown} cannot be read: ${osReason(e)}`);
    throw e;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Bytes read per slice by `forEachLine` (a 604 MB metrics file is read 1 MiB at a time). */
export const LINE_CHUNK_BYTES = 1024 * 1024;
/** A line longer than this is not a run-file line (a snapshot is ~50 KB): it is reported, not held. */
export const MAX_LINE_BYTES = 64 * 1024 * 1024;

/** One line of a file read by `forEachLine`. */
export interface FileLine {
  /** the line without its "\n", or null when it is not valid UTF-8 or longer than maxLineBytes */
  text: string | null;
  /** 1-based */
  number: number;
  /** the file's last line, and it has no newline after it (a write torn by a crash, perhaps) */
  unterminated: boolean;
}

/**
 * Read a regular file line by line in slices of `chunkBytes`, so memory stays bounded by one
 * slice plus one line however big the file is (a whole file as one string stops at V8's string
 * limit, about 512 MiB, and TextDecoder then fails). Lines split at the byte 0x0A, which never
 * occurs inside a multi-byte UTF-8 sequence, so a character cut by a slice boundary is rejoined
 * before decoding. Returns the number of lines seen. Same refusals as readRegularFile.
 *
 *   forEachLine("runs/bn/metrics.jsonl", "metrics", (l) => l.text && count++);
 */
export function forEachLine(
  path: string,
  what: string,
  onLine: (line: FileLine) => void,
  opts: { chunkBytes?: number; maxLineBytes?: number } = {},
): number {
  const chunkBytes = opts.chunkBytes ?? LINE_CHUNK_BYTES;
  const maxLine = opts.maxLineBytes ?? MAX_LINE_BYTES;
  const decoder = new TextDecoder("utf-8", { fatal: true });
  return withRegularFile(path, what, (fd) => {
    const chunk = Buffer.allocUnsafe(chunkBytes);
    let pending: Buffer[] = []; // the start of the current line, from earlier slices
    let pendingBytes = 0;
    let tooLong = false; // the current line passed maxLine: its bytes are dropped as they come
    let number = 0;
    let pos = 0;
    const emit = (tail: Buffer, unterminated: boolean) => {
      number++;
      let text: string | null = null;
      if (!tooLong && pendingBytes + tail.length <= maxLine) {
        const bytes = pending.length ? Buffer.concat([...pending, tail]) : tail;
        try {
          text = decoder.decode(bytes);
        } catch {
          text = null;
        }
      }
      pending = [];
      pendingBytes = 0;
      tooLong = false;
      onLine({ text, number, unterminated });
    };
    for (;;) {
      const n = readSync(fd, chunk, 0, chunkBytes, pos);
      if (n === 0) break;
      pos += n;
      let start = 0;
      for (;;) {
        const nl = chunk.indexOf(10, start);
        if (nl < 0 || nl >= n) break;
        emit(chunk.subarray(start, nl), false);
        start = nl + 1;
      }
      if (start < n) {
        const rest = n - start;
        if (tooLong || pendingBytes + rest > maxLine) {
          tooLong = true;
          pending = [];
        } else pending.push(Buffer.from(chunk.subarray(start, n))); // copied: the slice buffer is reused
        pendingBytes += rest;
      }
    }
    if (pendingBytes > 0) emit(Buffer.alloc(0), true);
    return number;
  });
}

/**
 * Replace `path` with `data` atomically (UTF-8 for strings). On failure the target is untouched,
 * the temp file is removed, and a UserError says `cannot write <path>: <reason>`.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  checkReplaceable(path);
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
    // osReason already says "not writable: ..." for permissions
    if (isFsError(e)) {
      const why = osReason(e);
      throw new UserError(
        `output directory ${shown} ${why.startsWith("not writable") ? "is " : "is not writable: "}${why}`,
      );
    }
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
