// `npm run bench`: makemore.ts against PyTorch on this CPU (see src/bench/bench.ts).
import { runBench } from "../src/bench/bench.ts";
import { UserError } from "../src/errors.ts";

try {
  process.exitCode = await runBench(process.argv.slice(2));
} catch (e) {
  if (!(e instanceof UserError)) throw e;
  console.error(`makemore: error: ${e.message}`); // as the CLI prints it
  process.exitCode = e.exitCode;
}
