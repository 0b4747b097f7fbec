/**
 * The fused paths of training, evaluation and sampling: the same forward, backward and update as
 * `model.loss` / `backward()` / `sgdStep`, run by src/tensor/chain.ts on one WebAssembly memory
 * (no graph, no allocation) whenever the model is the plain MLP of known layers. Anything else --
 * a subclassed layer or model, an overridden forward, a frozen parameter, a BatchNorm switched to
 * eval mode during training, an engine without WebAssembly SIMD -- takes the generic tensor ops.
 *
 * One compiled chain is cached per model and rebuilt when its modules, parameter tensors or shapes
 * change.
 */

import { MLP } from "../models/mlp.ts";
import { BatchNorm1d, chainSpecOf, Linear, type Module, Sequential } from "../nn/modules.ts";
import { type ChainSpec, EvalChain, TrainChain } from "../tensor/chain.ts";
import type { Tensor } from "../tensor/tensor.ts";

interface Cached<C> {
  key: unknown[];
  chain: C | null;
}
const trainChains = new WeakMap<MLP, Cached<TrainChain>>();
const evalChains = new WeakMap<MLP, Cached<EvalChain>>();

/** What a compiled chain depends on: the modules, their parameter tensors and shapes. */
function structureKey(model: MLP, extra: unknown[]): unknown[] {
  const key: unknown[] = [...extra, model.embedding, model.layers, model.layers.layers.length];
  for (const m of model.layers.layers) key.push(m);
  for (const p of model.parameters()) key.push(p, p.shape.join(","), p.requiresGrad);
  return key;
}

function cached<C>(
  cache: WeakMap<MLP, Cached<C>>,
  model: MLP,
  extra: unknown[],
  build: (spec: ChainSpec) => C | null,
): C | null {
  const key = structureKey(model, extra);
  const hit = cache.get(model);
  if (hit && hit.key.length === key.length && hit.key.every((k, i) => k === key[i])) return hit.chain;
  let chain: C | null = null;
  if (
    Object.getPrototypeOf(model) === MLP.prototype &&
    Object.getPrototypeOf(model.layers) === Sequential.prototype &&
    model.layers.layers.length > 0
  ) {
    const spec = chainSpecOf(model.embedding, model.layers.layers, model.spec.blockSize);
    if (spec) chain = build(spec);
  }
  cache.set(model, { key, chain });
  return chain;
}

/**
 * Whether `chain` still describes `model` (the same modules and parameter tensors): a hook may
 * swap a layer or a parameter tensor between steps. Cheap enough to ask at every step.
 */
export function chainMatches(model: MLP, chain: TrainChain): boolean {
  const layers = model.layers.layers;
  const built = builtFrom.get(chain);
  if (!built || built.modules.length !== layers.length) return false;
  for (let i = 0; i < layers.length; i++) if (layers[i] !== built.modules[i]) return false;
  if (model.embedding !== built.embedding || model.embedding.weight !== chain.params[0]) return false;
  let k = 1;
  for (const l of layers) {
    for (const p of ownParams(l)) if (p !== chain.params[k++]) return false;
  }
  return k === chain.params.length;
}

const builtFrom = new WeakMap<TrainChain, { embedding: Module; modules: Module[] }>();

/** The parameters a chain layer module holds, in chain order. */
function ownParams(m: Module): Tensor[] {
  if (m instanceof Linear) return m.bias ? [m.weight, m.bias] : [m.weight];
  if (m instanceof BatchNorm1d) return [m.gamma, m.beta];
  return [];
}

/** The fused training step for batches of `batchSize` rows of T tokens, or null. */
export function trainChainFor(model: MLP, batchSize: number, T: number): TrainChain | null {
  if (T !== model.spec.blockSize) return null;
  return cached(trainChains, model, [batchSize, T], (spec) => {
    if (!model.parameters().every((p) => p.requiresGrad)) return null;
    const chain = TrainChain.create(spec, batchSize);
    if (chain) builtFrom.set(chain, { embedding: model.embedding, modules: model.layers.layers.slice() });
    return chain;
  });
}

/** The fused eval-mode forward (split losses, sampling), or null. */
export function evalChainFor(model: MLP): EvalChain | null {
  return cached(evalChains, model, [], (spec) => EvalChain.create(spec));
}

/**
 * Make a fused step visible the way the generic path leaves it: `layer.out` on every module (the
 * logits tensor shared by the last layer, the Sequential and the MLP), `layer.out.grad` where
 * `retainOutGrad` asks for it, and `p.grad` on every parameter.
 */
export function exposeStep(model: MLP, chain: TrainChain): void {
  const layers = model.layers.layers;
  const keep = (m: Module, out: Tensor, grad: Tensor, retain: boolean) => {
    m.out = out;
    out.grad = retain ? grad : null;
  };
  keep(model.embedding, chain.embOut, chain.embGrad, model.embedding.retainOutGrad);
  for (let i = 0; i < layers.length; i++) {
    let retain = layers[i].retainOutGrad;
    if (i === layers.length - 1) retain ||= model.layers.retainOutGrad || model.retainOutGrad;
    keep(layers[i], chain.outs[i], chain.outGrads[i], retain);
  }
  const logits = chain.outs[layers.length - 1];
  model.layers.out = logits;
  model.out = logits;
  chain.params.forEach((p, i) => {
    p.grad = chain.paramGrads[i];
  });
}
