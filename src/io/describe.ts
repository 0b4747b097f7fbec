/**
 * Small helpers that keep UserError messages to one readable line: quoting untrusted names and
 * paths (which may hold newlines or be megabytes long) and turning OS error codes into words.
 */

/** Longest quoted snippet of untrusted text that goes into a message. */
const MAX_SHOWN = 80;

/** True when `s` holds a control character (a newline would break the one-line promise). */
function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (isControl(s.charCodeAt(i))) return true;
  return false;
}

/** C0 controls, DEL and the two Unicode line/paragraph separators. */
function isControl(c: number): boolean {
  return c < 0x20 || c === 0x7f || c === 0x2028 || c === 0x2029;
}

/** Cut to `max` UTF-16 units without splitting a surrogate pair, marking the cut with "…". */
function cut(s: string, max: number): string {
  if (s.length <= max) return s;
  let end = max;
  const c = s.charCodeAt(end - 1);
  if (c >= 0xd800 && c <= 0xdbff) end--;
  return `${s.slice(0, end)}…`;
}

/**
 * A name from a file (tensor name, JSON key) for a message: JSON-quoted, so control characters
 * are escaped, and cut to 80 characters. `showName("W1")` -> `"W1"`.
 */
export function showName(name: string): string {
  const q = JSON.stringify(cut(name, MAX_SHOWN));
  return q.replace(/[\u2028\u2029]/g, (c) => (c === "\u2028" ? "\\u2028" : "\\u2029"));
}

/** A path for a message: as is when printable, JSON-quoted when it holds control characters. */
export function showPath(path: string): string {
  return hasControl(path) ? showName(path) : path;
}

/**
 * Text from data or a path for the terminal: control characters (C0, DEL, C1), the line and
 * paragraph separators and the bidirectional overrides become visible escapes (`\x1b`,
 * `\u202e`), so a word list cannot move the cursor, recolour, clear or reorder the screen.
 * `printable("a\x1b[2Jb")` -> `a\x1b[2Jb` with a literal backslash.
 */
export function printable(text: string): string {
  return text.replace(
    // biome-ignore lint/suspicious/noControlCharactersInRegex: these are what it escapes
    /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g,
    (c) => {
      const code = c.charCodeAt(0);
      return code < 0x100 ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16)}`;
    },
  );
}

/** Free text (an exception message from a parser) squeezed to one line of at most `max` chars. */
export function oneLine(text: string, max = 160): string {
  let flat = "";
  for (const ch of text) flat += isControl(ch.charCodeAt(0)) ? " " : ch;
  return cut(flat.replace(/ {2,}/g, " ").trim(), max);
}

/** The errno-style code of a Node fs error (`"ENOENT"`), or undefined for anything else. */
export function errorCode(err: unknown): string | undefined {
  if (typeof err === "object" && err !== null && "code" in err) {
    const code = (err as { code: unknown }).code;
    if (typeof code === "string") return code;
  }
  return undefined;
}

/** Human words for an fs error: `osReason(enospc)` -> "disk full (ENOSPC)". */
export function osReason(err: unknown): string {
  const code = errorCode(err);
  switch (code) {
    case "ENOSPC":
      return "disk full (ENOSPC)";
    case "EDQUOT":
      return "disk quota exceeded (EDQUOT)";
    case "EACCES":
    case "EPERM":
      return `not writable: permission denied (${code})`;
    case "EROFS":
      return "not writable: read-only file system (EROFS)";
    case "ENOENT":
      return "no such file or directory (ENOENT)";
    case "ENOTDIR":
      return "a parent path is not a directory (ENOTDIR)";
    case "EISDIR":
      return "it is a directory (EISDIR)";
    case "EEXIST":
      return "it already exists (EEXIST)";
    case "EMFILE":
    case "ENFILE":
      return `too many open files (${code})`;
    case "ENAMETOOLONG":
      return "file name too long (ENAMETOOLONG)";
    case "EIO":
      return "input/output error (EIO)";
    case "EFBIG":
      return "file too large for the file system (EFBIG)";
    case undefined:
      return oneLine(err instanceof Error ? err.message : String(err));
    default: {
      // Node's messages look like "EBUSY: resource busy or locked, rename 'a' -> 'b'"; keep the
      // part before the comma (the paths are already in our own message).
      const msg = err instanceof Error ? err.message : "";
      const head = msg.split(",")[0] ?? "";
      return oneLine(head.startsWith(code) ? head : `${code}`);
    }
  }
}

/** True for errors that Node's fs raises (they carry an errno code), false for bugs. */
export function isFsError(err: unknown): boolean {
  return err instanceof Error && errorCode(err) !== undefined;
}
