/**
 * makemore.py's data handling: its train/test split and its CharDataset encoding.
 *
 *   const g = new Generator().manualSeed(3407);        // torch.manual_seed(args.seed)
 *   const { train, test } = randpermSplit(words, g);   // rp = torch.randperm(len(words))
 *
 * The split draws `torch.randperm(n)` from the same generator that then initialises the model,
 * which is why makemore.py's seeded weights depend on it.
 */

import type { Generator } from "../random/generator.ts";

/**
 * `test_set_size = min(1000, int(len(words) * 0.1))`; `rp = torch.randperm(len(words))`;
 * train = words[rp[:-test_set_size]], test = words[rp[-test_set_size:]]. With fewer than 10 words
 * the test set is empty (makemore.py's `rp[:-0]` would make the training set empty instead).
 */
export function randpermSplit(words: readonly string[], g: Generator): { train: string[]; test: string[] } {
  const n = words.length;
  const testSize = Math.min(1000, Math.floor(n * 0.1));
  const rp = g.randperm(n);
  const order = Array.from(rp, (i) => words[i]);
  return { train: order.slice(0, n - testSize), test: order.slice(n - testSize) };
}
