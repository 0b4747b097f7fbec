/**
 * Reading a word list (one word per line, UTF-8) with one-line UserErrors for every way the file
 * can be wrong: missing, a directory, unreadable, too big, empty, blank, binary, UTF-16, invalid
 * UTF-8, or a line too long to be a word.
 *
 * Parsing matches `parseLines` in src/data/dataset.ts (trim each line, drop empty ones) and also
 * accepts a UTF-8 byte order mark and old-Mac CR line endings.
 */

import { createHash } from "node:crypto";
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { UserError } from "../errors.ts";
import { errorCode, osReason, showPath } from "./describe.ts";

export interface WordFileOptions {
  /** Largest file accepted, in bytes (default 256 MiB); checked before reading. */
  maxBytes?: number;
  /** Longest line accepted, in code points after trimming (default 1000). */
  maxLineChars?: number;
  /** Most words (non-blank lines) accepted (default 10,000,000): with the byte limit, bounds memory. */
  maxWords?: number;
}

export interface WordFile {
  words: string[];
  /** Size of the file in bytes. */
  bytes: number;
  /** Blank (or whitespace-only) lines that were dropped. */
  skippedBlank: number;
  /** SHA-256 of the file's bytes (hex), from `readWordFile`: a resumed run checks it is the same file */
  sha256?: string;
}

export const DEFAULT_MAX_WORD_FILE_BYTES = 256 * 1024 * 1024;
export const DEFAULT_MAX_LINE_CHARS = 1000;
/**
 * 10 million words take about 1.3 GB resident to train (measured: README "What you can rely
 * on"); a 256 MiB file of one-letter lines would be 134 million.
 */
export const DEFAULT_MAX_WORDS = 10_000_000;

/**
 * Read `fd` to the end, at most `cap` bytes; returns undefined when the file holds more.
 * `sizeHint` (from fstat) sizes the first buffer; pipes and devices start small and grow.
 */
function readCapped(fd: number, sizeHint: number, cap: number): Uint8Array | undefined {
  let buf = Buffer.allocUnsafe(Math.max(1, Math.min(sizeHint > 0 ? sizeHint + 1 : 65536, cap + 1)));
  let len = 0;
  for (;;) {
    if (len === buf.length) {
      if (len > cap) return undefined;
      const bigger = Buffer.allocUnsafe(Math.min(buf.length * 2, cap + 1));
      buf.copy(bigger, 0, 0, len);
      buf = bigger;
    }
    let n: number;
    try {
      n = readSync(fd, buf, len, buf.length - len, null);
    } catch (e) {
      // a non-blocking stdin (a socket or a tty in raw mode) has no data yet: wait and retry
      if (errorCode(e) !== "EAGAIN") throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
      continue;
    }
    if (n === 0) break;
    len += n;
  }
  return len > cap ? undefined : buf.subarray(0, len);
}

/** Byte offset of the first invalid UTF-8 sequence in `b` (or -1). Matches WHATWG decoding. */
export function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  const n = b.length;
  while (i < n) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) need = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      if (c === 0xe0) lo = 0xa0; // no overlong forms
      if (c === 0xed) hi = 0x9f; // no surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      if (c === 0xf0) lo = 0x90;
      if (c === 0xf4) hi = 0x8f; // nothing above U+10FFFF
    } else return i;
    const b1 = b[i + 1];
    if (b1 === undefined || b1 < lo || b1 > hi) return i;
    for (let k = 2; k <= need; k++) {
      const bk = b[i + k];
      if (bk === undefined || bk < 0x80 || bk > 0xbf) return i;
    }
    i += need + 1;
  }
  return -1;
}

/** 1-based line number of byte `offset` in `b` (counting LF, CRLF and lone CR). */
function lineOfByte(b: Uint8Array, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset; i++) {
    if (b[i] === 0x0a) line++;
    else if (b[i] === 0x0d && b[i + 1] !== 0x0a) line++;
  }
  return line;
}

/**
 * Lines of `text` (split at LF, CRLF and lone CR) without building an array of them; a final
 * line terminator does not start another (empty) line.
 */
function forEachLine(text: string, fn: (line: string) => void): void {
  let start = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 10 || c === 13) {
      fn(text.slice(start, i));
      if (c === 13 && text.charCodeAt(i + 1) === 10) i++;
      start = i + 1;
    }
  }
  if (start < n || n === 0) fn(text.slice(start));
}

/** Lines holding a byte other than ASCII blanks: at least the number of words (for the limit). */
function maybeWordLines(b: Uint8Array): number {
  let lines = 0;
  let word = false;
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    if (c === 10 || c === 13) {
      if (word) lines++;
      word = false;
    } else if (c !== 32 && c !== 9 && c !== 11 && c !== 12) word = true;
  }
  return word ? lines + 1 : lines;
}

/** Number of code points in `s` (UTF-16 length minus surrogate pairs). */
function codePoints(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xdc00 || c > 0xdfff || i === 0 || s.charCodeAt(i - 1) < 0xd800 || s.charCodeAt(i - 1) > 0xdbff)
      n++;
  }
  return n;
}

/**
 * Read a word list: one word per line. Throws a one-line UserError naming the file for every
 * problem; `words` are the trimmed non-empty lines in file order.
 */
export function readWordFile(path: string, opts: WordFileOptions = {}): WordFile {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_WORD_FILE_BYTES;
  const shown = showPath(path);
  const fail = (problem: string) => new UserError(`word file ${shown} ${problem}`);

  let raw: Uint8Array | undefined;
  let fd: number | undefined;
  try {
    // standard input is read from fd 0: opening /dev/stdin fails when it is a socket (ENXIO),
    // as it is under some process managers
    fd = path === "/dev/stdin" ? 0 : openSync(path, "r");
    const st = fstatSync(fd);
    if (st.isDirectory()) throw fail("is a directory; expected a text file with one word per line");
    if (st.isFile() && st.size > maxBytes)
      throw fail(`is ${st.size} bytes, over the ${maxBytes}-byte limit for a word list`);
    raw = readCapped(fd, st.isFile() ? st.size : 0, maxBytes);
  } catch (e) {
    if (e instanceof UserError) throw e;
    const code = errorCode(e);
    if (code === "ENOENT") throw fail("does not exist");
    if (code === "EISDIR") throw fail("is a directory; expected a text file with one word per line");
    if (code === "EACCES" || code === "EPERM") throw fail("cannot be read: permission denied");
    if (code === "ENOTDIR") throw fail("does not exist (a parent path is not a directory)");
    if (code !== undefined) throw fail(`cannot be read: ${osReason(e)}`);
    throw e;
  } finally {
    if (fd !== undefined && fd !== 0) closeSync(fd);
  }
  if (raw === undefined) throw fail(`is over the ${maxBytes}-byte limit for a word list`);
  // the hash only here: parseWordBytes also runs in the browser, which has no node:crypto
  return { ...parseWordBytes(raw, path, opts), sha256: createHash("sha256").update(raw).digest("hex") };
}

/**
 * The parsing half of `readWordFile`, for bytes already in memory: `path` only names the file in
 * messages. Same checks except the size limit, which is the reader's.
 */
export function parseWordBytes(raw: Uint8Array, path: string, opts: WordFileOptions = {}): WordFile {
  const maxLineChars = opts.maxLineChars ?? DEFAULT_MAX_LINE_CHARS;
  const fail = (problem: string) => new UserError(`word file ${showPath(path)} ${problem}`);
  const bytes = raw.length;
  if (bytes === 0) throw fail("is empty; expected one word per line");
  if ((raw[0] === 0xff && raw[1] === 0xfe) || (raw[0] === 0xfe && raw[1] === 0xff))
    throw fail("is UTF-16 encoded; save it as UTF-8");
  const nul = raw.indexOf(0);
  if (nul >= 0)
    throw fail(`looks binary (NUL byte at offset ${nul}); expected UTF-8 text, one word per line`);

  let body = raw;
  if (raw[0] === 0xef && raw[1] === 0xbb && raw[2] === 0xbf) body = raw.subarray(3);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(body);
  } catch {
    const bad = firstInvalidUtf8(body);
    const offset = bad + (body === raw ? 0 : 3);
    throw fail(
      bad >= 0
        ? `is not valid UTF-8 (bad byte 0x${raw[offset]!.toString(16).padStart(2, "0")} at offset ${offset}, line ${lineOfByte(raw, offset)}); save it as UTF-8`
        : "is not valid UTF-8; save it as UTF-8",
    );
  }

  // one line at a time (no array of every line: a file of one-letter lines has millions)
  const maxWords = opts.maxWords ?? DEFAULT_MAX_WORDS;
  const overLimit = () =>
    fail(
      `has more than ${maxWords.toLocaleString("en-US")} words (lines), the limit for a word list (it bounds memory: see "What you can rely on" in the README)`,
    );
  if (maybeWordLines(body) > maxWords) {
    // the byte count is an upper bound (lines of Unicode spaces only are blank): count exactly
    let n = 0;
    forEachLine(text, (line) => {
      if (line.trim().length > 0) n++;
    });
    if (n > maxWords) throw overLimit();
  }
  const words: string[] = [];
  let skippedBlank = 0;
  let lineNo = 0;
  forEachLine(text, (line) => {
    lineNo++;
    const t = line.trim();
    if (t.length === 0) {
      skippedBlank++;
      return;
    }
    if (t.length > maxLineChars) {
      const n = codePoints(t);
      if (n > maxLineChars)
        throw fail(
          `line ${lineNo} is ${n} characters long (limit ${maxLineChars}); expected one word per line`,
        );
    }
    words.push(t);
  });
  if (words.length === 0) throw fail("has no words, only blank lines");
  return { words, bytes, skippedBlank };
}
