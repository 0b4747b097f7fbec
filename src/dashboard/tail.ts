/**
 * Following files that another process writes: an append-only JSONL file read incrementally
 * (only the bytes appended since the last poll; a torn last line held back until its newline),
 * and small JSON / text files re-read when their size, mtime or inode change.
 */

import { closeSync, openSync, readFileSync, readSync, type Stats, statSync } from "node:fs";
import { isObject, parseJsonLine } from "../io/runfiles.ts";

/** Bytes read from one file per poll, so a huge history loads in slices and the server stays responsive. */
const READ_BUDGET = 8 * 1024 * 1024;
/** A "line" longer than this without a newline is not a metrics line: it is dropped. */
const MAX_LINE_BYTES = 64 * 1024 * 1024;

function statOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

/** Follows an append-only JSONL file: each read returns the lines completed since the last one. */
export class LineTail {
  private offset = 0;
  private ino = -1;
  private rest: Buffer = Buffer.alloc(0);
  private decoder = new TextDecoder("utf-8");

  constructor(readonly path: string) {}

  /**
   * New complete lines (at most about `budget` bytes of them). `reset` says the file was replaced,
   * truncated or removed, so everything read before is void; `more` that bytes are still unread.
   */
  read(budget = READ_BUDGET): { lines: string[]; reset: boolean; more: boolean } {
    const st = statOrNull(this.path);
    let reset = false;
    if (!st?.isFile()) {
      const had = this.ino !== -1 || this.offset > 0;
      if (had) this.restart(-1);
      return { lines: [], reset: had, more: false };
    }
    if (st.ino !== this.ino || st.size < this.offset) {
      reset = this.ino !== -1 || this.offset > 0;
      this.restart(st.ino);
    }
    const lines: string[] = [];
    if (st.size <= this.offset) {
      // a last line without its newline that is a whole JSON object is complete (a prefix of
      // an object line never parses): take it, so a run that ended without "\n" shows fully
      if (this.rest.length > 0) {
        const text = this.decoder.decode(this.rest);
        if (isObject(parseJsonLine(text))) {
          lines.push(text);
          this.rest = Buffer.alloc(0);
        }
      }
      return { lines, reset, more: false };
    }
    const want = Math.min(st.size - this.offset, budget);
    const chunk = Buffer.alloc(want);
    let got = 0;
    const fd = openSync(this.path, "r");
    try {
      while (got < want) {
        const n = readSync(fd, chunk, got, want - got, this.offset + got);
        if (n === 0) break;
        got += n;
      }
    } finally {
      closeSync(fd);
    }
    this.offset += got;
    const data = this.rest.length
      ? Buffer.concat([this.rest, chunk.subarray(0, got)])
      : chunk.subarray(0, got);
    const nl = data.lastIndexOf(10);
    if (nl < 0) {
      this.rest = data.length > MAX_LINE_BYTES ? Buffer.alloc(0) : Buffer.from(data);
    } else {
      for (const line of this.decoder.decode(data.subarray(0, nl)).split("\n"))
        if (line.trim().length) lines.push(line);
      this.rest = Buffer.from(data.subarray(nl + 1));
    }
    return { lines, reset, more: this.offset < st.size };
  }

  private restart(ino: number): void {
    this.ino = ino;
    this.offset = 0;
    this.rest = Buffer.alloc(0);
  }
}

/**
 * A small file re-read when its size, mtime or inode changes; `parse` failing (a non-atomic
 * writer mid-write, a damaged file) keeps the old value and retries at the next poll.
 */
class FileWatch<T> {
  value: T | undefined = undefined;
  mtimeMs = 0;
  private sig = "";

  constructor(
    readonly path: string,
    private readonly parse: (text: string) => T,
    private readonly maxBytes = 16 * 1024 * 1024,
  ) {}

  /** true when the value changed */
  poll(): boolean {
    const st = statOrNull(this.path);
    if (!st?.isFile()) {
      if (this.sig === "") return false;
      this.sig = "";
      this.value = undefined;
      return true;
    }
    const sig = `${st.ino}:${st.size}:${st.mtimeMs}`;
    if (sig === this.sig || st.size > this.maxBytes) return false;
    try {
      this.value = this.parse(readFileSync(this.path, "utf8"));
    } catch {
      return false;
    }
    this.sig = sig;
    this.mtimeMs = st.mtimeMs;
    return true;
  }
}

/** A small JSON file (config.json, state.json, live.json, ...), parsed. */
export class JsonWatch extends FileWatch<unknown> {
  constructor(path: string) {
    super(path, (text) => JSON.parse(text), Number.POSITIVE_INFINITY);
  }
}

/** A small text file (samples.txt), as text. */
export class TextWatch extends FileWatch<string> {
  constructor(path: string) {
    super(path, (text) => text);
  }
  get text(): string | undefined {
    return this.value;
  }
}
