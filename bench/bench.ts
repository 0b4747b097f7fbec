// `npm run bench`: makemore.ts against PyTorch on this CPU (see src/bench/bench.ts).
import { runBench } from "../src/bench/bench.ts";
import { UserError } from "../src/errors.ts";

try {
  process.exitCode = await runBench(process.argv.slice(2));
} catch (e) {
  if (!(e instanceof UserError)) throw e;
  console.error(e.message);
  process.exitCode = e.exitCode;
}
