// `npm run bench`: makemore.ts against PyTorch on this CPU (see src/bench/bench.ts), then the
// browser playground against Node (scripts/bench-playground.ts; Chromium via playwright-core, a
// development dependency, so the row is here and not in `makemore bench`).
import { benchPlayground, formatPlaygroundBench } from "../scripts/bench-playground.ts";
import { runBench } from "../src/bench/bench.ts";
import { UserError } from "../src/errors.ts";

const argv = process.argv.slice(2);
try {
  process.exitCode = await runBench(argv);
  if (process.exitCode === 0) await playgroundRow(argv);
} catch (e) {
  if (!(e instanceof UserError)) throw e;
  console.error(`makemore: error: ${e.message}`); // as the CLI prints it
  process.exitCode = e.exitCode;
}

/** The row "playground (Chromium) vs Node, steps/s, ratio" (the lecture suite's runs: not with --suite scaling). */
async function playgroundRow(args: string[]): Promise<void> {
  const suite =
    args.find((_, i) => args[i - 1] === "--suite") ?? args.find((a) => a.startsWith("--suite="))?.slice(8);
  if (args.includes("--help") || args.includes("-h") || suite === "scaling") return;
  if (args.includes("--json")) {
    console.error(
      "playground row: not in --json output (node --import tsx scripts/bench-playground.ts --json)",
    );
    return;
  }
  try {
    console.log(
      `\n${formatPlaygroundBench(await benchPlayground({ steps: 10000, reps: 3, log: (l) => console.error(l) }))}`,
    );
  } catch (e) {
    console.log(`\nplayground (Chromium) vs Node: skipped (${(e as Error).message.split("\n")[0]})`);
  }
}
