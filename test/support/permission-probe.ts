/**
 * Runs one file operation and prints its error message as JSON. test/io.test.ts starts it as an
 * unprivileged user when the tests run as root (where chmod does not stop root), so permission
 * errors are tested everywhere instead of skipped.
 *   node --import tsx test/support/permission-probe.ts write|ensure|read PATH
 */
import { ensureWritableDir, writeFileAtomic } from "../../src/io/atomic.ts";
import { readWordFile } from "../../src/io/wordfile.ts";

const [op, path] = process.argv.slice(2);
try {
  if (op === "write") writeFileAtomic(path, "new");
  else if (op === "ensure") ensureWritableDir(path);
  else if (op === "read") readWordFile(path);
  else throw new Error(`unknown op ${op}`);
  console.log(JSON.stringify({ message: null }));
} catch (e) {
  console.log(JSON.stringify({ message: (e as Error).message, name: (e as Error).name }));
}
