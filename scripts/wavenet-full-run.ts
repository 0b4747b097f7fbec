/**
 * The full WaveNet run against the notebook (makemore part 5, makemore_part5_cnn1.ipynb) and PyTorch
 * running its code (fixtures/torch-wavenet.json, "full"): a fresh `makemore train --type wavenet`
 * with no other flags (200,000 steps; about 20 min on an idle 2-core machine, an hour under load),
 * then its 20 printed losses, its eval-mode train/val losses and its 20 samples side by side with
 * the notebook's and PyTorch's. Too long for the test suite, which checks the first steps instead
 * (test/wavenet.test.ts); this is the one-off check, and its output is committed as
 * fixtures/wavenet-full-run.txt.
 *
 *   node --import tsx scripts/wavenet-full-run.ts                 # train (into a temp dir), compare
 *   node --import tsx scripts/wavenet-full-run.ts --log FILE --run DIR   # compare a saved log of that
 *                                                                 # command (DIR: its run, for the
 *                                                                 # split losses' full precision)
 *   ... [--out fixtures/wavenet-full-run.txt]                     # also write the comparison there
 *
 * Exit status 1 when a figure differs from the notebook's beyond what PyTorch itself differs by.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

// The notebook's printed output (lectures/makemore/makemore_part5_cnn1.ipynb, the last training
// cell with the hierarchical net, then "train 1.769... / val 1.993..." and the sampling cell).
const NOTEBOOK = {
  params: 76579,
  printed: [
    "3.3167",
    "2.0576",
    "2.0723",
    "2.5134",
    "2.1476",
    "1.7836",
    "2.2592",
    "1.9331",
    "1.6875",
    "2.0395",
    "1.7736",
    "1.9570",
    "1.7465",
    "1.8126",
    "1.7406",
    "1.7466",
    "1.8806",
    "1.6266",
    "1.6476",
    "1.8555",
  ],
  train: 1.7690284252166748,
  val: 1.9936515092849731,
  samples: [
    "arlij",
    "chetta",
    "heago",
    "rocklei",
    "hendrix",
    "jamylie",
    "broxin",
    "denish",
    "anslibt",
    "marianah",
    "astavia",
    "annayve",
    "aniah",
    "jayce",
    "nodiel",
    "remita",
    "niyelle",
    "jaylene",
    "aiyan",
    "aubreana",
  ],
};

interface Parsed {
  params: number;
  printed: string[];
  train: number;
  val: number;
  samples: string[];
}

/** The figures in the output of `makemore train --type wavenet` (its log lines and summary). */
function parseLog(log: string): Parsed {
  const params = Number(/model: wavenet \| (\d+) parameters/.exec(log)?.[1]);
  // "step  10000/200000 | loss 2.0576 | lr 0.1 | ..." every --log-every (10,000) steps
  const printed = [...log.matchAll(/^step\s+(\d+)\/200000 \| loss (\d+\.\d{4})/gm)]
    .filter((m) => Number(m[1]) % 10000 === 0)
    .map((m) => m[2]);
  const split = /^train (\S+) \| val (\S+)/m.exec(log);
  const after = log.slice(log.search(/^samples /m));
  const samples = [...after.matchAll(/^ {2}(\S+)/gm)].map((m) => m[1]).slice(0, 20);
  return { params, printed, train: Number(split?.[1]), val: Number(split?.[2]), samples };
}

function compare(ours: Parsed): { text: string; ok: boolean } {
  const torch = JSON.parse(readFileSync(join(ROOT, "fixtures/torch-wavenet.json"), "utf8")).full;
  const torchPrinted: string[] = torch.printed.map((p: { loss: number }) => p.loss.toFixed(4));
  const lines: string[] = [];
  let ok = ours.params === NOTEBOOK.params;
  lines.push(`parameters: ${ours.params} (notebook ${NOTEBOOK.params})`);
  lines.push("", "  step | notebook | PyTorch 1.13 | makemore.ts");
  let sameNb = 0;
  let sameTorch = 0;
  NOTEBOOK.printed.forEach((nb, i) => {
    const o = ours.printed[i] ?? "-";
    const t = torchPrinted[i];
    if (o === nb) sameNb++;
    if (o === t) sameTorch++;
    // a last-digit difference is acceptable where PyTorch itself differs from the notebook there
    if (o !== nb && !(t !== nb && Math.abs(Number(o) - Number(nb)) <= 1.5e-4)) ok = false;
    const mark = o === nb ? "" : o === t ? "   (= PyTorch)" : "   (differs)";
    lines.push(`${String(i * 10000).padStart(6)} | ${nb}   | ${t}       | ${o}${mark}`);
  });
  lines.push(
    "",
    `printed losses equal to the notebook's: ${sameNb} of 20; to PyTorch's: ${sameTorch} of 20 (PyTorch's to the notebook's: ${torchPrinted.filter((t, i) => t === NOTEBOOK.printed[i]).length} of 20)`,
  );
  const four = (x: number) => x.toFixed(4);
  ok &&= four(ours.train) === four(NOTEBOOK.train) && four(ours.val) === four(NOTEBOOK.val);
  lines.push(
    `train (eval mode): notebook ${NOTEBOOK.train.toFixed(7)} | PyTorch ${torch.split_loss.train.toFixed(7)} | makemore.ts ${ours.train.toFixed(7)}`,
    `val   (eval mode): notebook ${NOTEBOOK.val.toFixed(7)} | PyTorch ${torch.split_loss.val.toFixed(7)} | makemore.ts ${ours.val.toFixed(7)}`,
  );
  const sameSamples = NOTEBOOK.samples.filter((s, i) => ours.samples[i] === s).length;
  ok &&= sameSamples === 20;
  lines.push(`samples equal to the notebook's: ${sameSamples} of 20: ${ours.samples.join(" ")}`);
  return { text: lines.join("\n"), ok };
}

/** The split losses to float32 precision from the run's state.json (the log prints 4 decimals). */
function splitLosses(dir: string): { train: number; val: number } {
  return JSON.parse(readFileSync(join(dir, "state.json"), "utf8")).splitLosses;
}

async function train(dir: string): Promise<string> {
  const args = ["--import", "tsx", join(ROOT, "src/cli/main.ts"), "train", "--type", "wavenet", "-o", dir];
  console.log(`makemore ${args.slice(3).join(" ")}`);
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.on("data", (b) => {
    out += b;
    process.stdout.write(b);
  });
  const code = await new Promise<number | null>((r) => child.on("close", r));
  if (code !== 0) throw new Error(`makemore train exited with ${code}`);
  return out;
}

const { values } = parseArgs({
  options: { log: { type: "string" }, run: { type: "string" }, out: { type: "string" } },
});
const dir = values.run ?? join(mkdtempSync(join(tmpdir(), "makemore-wavenet-")), "run");
const log = values.log ? readFileSync(values.log, "utf8") : await train(dir);
const { text, ok } = compare({ ...parseLog(log), ...splitLosses(dir) });
console.log(`\n${text}`);
if (values.out) {
  // the comparison, then the command's own step lines and summary (not its progress lines)
  const kept = log
    .split("\n")
    .filter((l) => !/steps\/s \| .* elapsed/.test(l))
    .join("\n");
  writeFileSync(values.out, `${text}\n\n--- makemore train --type wavenet ---\n${kept}`);
}
process.exitCode = ok ? 0 : 1;
