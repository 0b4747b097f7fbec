/**
 * The model registry (src/models/index.ts) and the LanguageModel interface: every registered type
 * builds from its spec, survives config.json, names its tensors uniquely and predicts through
 * `nextLogits`; the data shapes of "window" and "sequence" families; the generic evaluation
 * counts only real targets. Each new family is covered here by being registered.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { buildSequenceDataset, prepareData, prepareDataFor, Vocabulary } from "../src/data/dataset.ts";
import { UserError } from "../src/errors.ts";
import {
  buildFromSpec,
  checkModelSpec,
  DEFAULT_TYPE,
  FAMILIES,
  familyOf,
  type LanguageModel,
  modelTypes,
  specFor,
  windowContext,
} from "../src/models/index.ts";
import { Module } from "../src/nn/modules.ts";
import { Generator } from "../src/random/generator.ts";
import { crossEntropy, noGrad, Tensor } from "../src/tensor/tensor.ts";
import { sampleWords, splitLoss } from "../src/train/evaluate.ts";

const WORDS = ["emma", "olivia", "ava", "isabella", "sophia", "mia", "amelia", "harper", "evelyn", "abigail"];
const facts = { vocabSize: Vocabulary.fromWords(WORDS).size, longestWord: 8 };

for (const type of modelTypes()) {
  test(`--type ${type}: builds from its spec, survives config.json, predicts the next token`, () => {
    const family = familyOf(type);
    const spec = specFor(type, {}, facts);
    assert.equal(spec.type, type);
    assert.equal(spec.vocabSize, facts.vocabSize);
    if (family.data === "sequence") assert.equal(spec.blockSize, facts.longestWord + 1);
    const fromDisk = checkModelSpec(JSON.parse(JSON.stringify(spec)));
    assert.deepEqual(fromDisk, spec);
    const model = buildFromSpec(fromDisk, new Generator().manualSeed(1));
    const names = [...model.namedParameters(), ...model.namedBuffers()].map(([n]) => n);
    assert.equal(new Set(names).size, names.length, "checkpoint names are unique");
    // a counted model (bigram-counts) has no parameters, only its table of counts
    assert.ok(model.numParameters() > 0 || model.buffers().length > 0);
    // the same seed draws the same weights
    const again = buildFromSpec(spec, new Generator().manualSeed(1));
    assert.deepEqual(
      again.parameters().map((p) => Array.from(p.storage)),
      model.parameters().map((p) => Array.from(p.storage)),
    );
    model.eval();
    const logits = noGrad(() => model.nextLogits(new Tensor(new Float32Array([0, 5, 13]), [1, 3], "int64")));
    assert.deepEqual(logits.shape, [1, facts.vocabSize]);
    assert.ok(Array.from(logits.storage).every(Number.isFinite));
  });
}

test("the lecture's BatchNorm MLP through the registry: 12,097 parameters, the default type", () => {
  assert.equal(DEFAULT_TYPE, "batchnorm");
  const model = buildFromSpec(specFor("batchnorm", {}, { vocabSize: 27, longestWord: 15 }), new Generator(0));
  assert.equal(model.numParameters(), 12097);
  assert.equal(FAMILIES.filter((f) => f.types.some((t) => t.type === "batchnorm")).length, 1);
});

test("a window model's nextLogits from the boundary is its forward on the boundary-padded window", () => {
  const spec = specFor("kaiming", {}, { vocabSize: 27, longestWord: 15 });
  const model = buildFromSpec(spec, new Generator().manualSeed(2147483647));
  model.eval();
  const a = model.nextLogits(new Tensor(new Float32Array([0]), [1, 1], "int64"));
  const b = model.forward(new Tensor(new Float32Array([0, 0, 0]), [1, 3], "int64"));
  assert.deepEqual(Array.from(a.storage), Array.from(b.storage));
  // a long history: only the last 3 tokens count
  const c = model.nextLogits(new Tensor(new Float32Array([0, 9, 1, 2, 3]), [1, 5], "int64"));
  const d = model.forward(new Tensor(new Float32Array([1, 2, 3]), [1, 3], "int64"));
  assert.deepEqual(Array.from(c.storage), Array.from(d.storage));
});

test("windowContext crops and left-pads with the boundary", () => {
  const x = new Tensor(new Float32Array([7, 8, 4, 5]), [2, 2], "int64");
  assert.deepEqual(Array.from(windowContext(x, 3).storage), [0, 7, 8, 0, 4, 5]);
  assert.deepEqual(Array.from(windowContext(x, 1).storage), [8, 5]);
});

test("flags a family does not read, and tampered specs, are one clear line naming them", () => {
  assert.throws(
    () => specFor("batchnorm", { "no-such-flag": 3 }, facts),
    /--no-such-flag does not apply to --type batchnorm/,
  );
  assert.throws(() => specFor("batchnorm", { depth: 3 }, facts), /only applies to --type custom/);
  assert.throws(
    () => familyOf("nope"),
    (e: Error) => e instanceof UserError && /unknown model type "nope"/.test(e.message),
  );
  const spec = specFor("deep-bn", {}, facts) as unknown as Record<string, unknown>;
  for (const [field, value] of [
    ["nHidden", -1],
    ["batchnorm", "sometimes"],
    ["gain", "big"],
    ["zeroInit", 1],
    ["blockSize", 0],
  ] as const) {
    assert.throws(
      () => checkModelSpec({ ...spec, [field]: value }),
      (e: Error) =>
        e instanceof UserError && e.message.startsWith(`model.${field} `) && !e.message.includes("\n"),
      field,
    );
  }
});

test("sequence data is makemore.py's CharDataset: x = [boundary, word], y = [word, boundary, -1...]", () => {
  const vocab = Vocabulary.fromWords(["emma", "ava"]); // . a e m v
  const { X, Y } = buildSequenceDataset(["emma", "ava"], vocab, 5);
  assert.deepEqual(X.shape, [2, 5]);
  assert.deepEqual(Y.shape, [2, 5]);
  assert.deepEqual(Array.from(X.storage), [0, 2, 3, 3, 1, 0, 1, 4, 1, 0]);
  assert.deepEqual(Array.from(Y.storage), [2, 3, 3, 1, 0, 1, 4, 1, 0, -1]);
  // the same words and split as the window data
  const seq = prepareDataFor("sequence", WORDS, 9);
  const win = prepareData(WORDS, 3);
  assert.deepEqual(seq.split, win.split);
  assert.equal(seq.train.X.shape[0], seq.split.train.length);
});

/**
 * A "sequence" model with fixed logits b at every position: the loss of target y is
 * lse(b) - b[y], so the split's mean over the real targets is known in closed form.
 */
class FixedLogits extends Module implements LanguageModel {
  readonly spec = { type: "fixed", vocabSize: 5, blockSize: 5 };
  constructor(readonly b: Float32Array) {
    super();
  }
  forward(X: Tensor): Tensor {
    const [B, T] = X.shape;
    const out = new Float32Array(B * T * 5);
    for (let i = 0; i < B * T; i++) out.set(this.b, i * 5);
    return new Tensor(out, [B, T, 5]);
  }
  loss(X: Tensor, Y: Tensor): Tensor {
    // mean over the targets that are not -1
    const logits = this.forward(X);
    const keep: number[] = [];
    Y.storage.forEach((y, i) => {
      if (y !== -1) keep.push(i);
    });
    const rows = new Float32Array(keep.length * 5);
    keep.forEach((i, k) => rows.set(logits.storage.subarray(i * 5, i * 5 + 5), k * 5));
    const ys = Float32Array.from(keep.map((i) => Y.storage[i]));
    return crossEntropy(new Tensor(rows, [keep.length, 5]), new Tensor(ys, [keep.length], "int64"));
  }
  nextLogits(context: Tensor): Tensor {
    return new Tensor(this.b.slice(), [context.shape[0], 5]);
  }
  diagnosticLayers(): Module[] {
    return [];
  }
}

test("splitLoss of a sequence model is the mean over real targets only (the -1 are not counted)", () => {
  const vocab = Vocabulary.fromWords(["emma", "ava"]);
  const data = buildSequenceDataset(["emma", "ava", "ma"], vocab, 5);
  const b = new Float32Array([0.5, -1, 2, 0.25, 1]);
  let lse = 0;
  for (const v of b) lse += Math.exp(v);
  lse = Math.log(lse);
  // targets: emma. -> e m m a . ; ava. -> a v a . ; ma. -> m a .   (12 real targets)
  const targets = [2, 3, 3, 1, 0, 1, 4, 1, 0, 3, 1, 0];
  const expected = targets.reduce((s, y) => s + (lse - b[y]), 0) / targets.length;
  assert.ok(Math.abs(splitLoss(new FixedLogits(b), data) - expected) < 1e-6);
});

test("sampling any model goes through nextLogits: a model certain of 'a' then the boundary", () => {
  const vocab = Vocabulary.fromWords(["emma", "ava"]);
  // logits that put all the mass on token 1 ('a') for a one-token context, on the boundary after
  class Certain extends FixedLogits {
    override nextLogits(context: Tensor): Tensor {
      const out = new Float32Array(5).fill(-1e4);
      out[context.shape[1] < 3 ? 1 : 0] = 0;
      return new Tensor(out, [1, 5]);
    }
  }
  const words = sampleWords(new Certain(new Float32Array(5)), vocab, {
    count: 2,
    generator: new Generator(0),
  });
  assert.deepEqual(words, ["aa", "aa"]);
});
