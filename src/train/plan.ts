/**
 * Captured training steps: the forward and backward of `model.loss(Xb, Yb)` for ANY model built
 * from the library's modules and ops, recorded once and replayed every step (src/tensor/engine.ts),
 * and the SGD update on the plan's parameter block.
 *
 *   step 0:    an eager step inside `capture()`: the loss, the gradients, and a tape of kernels
 *   seal:      parameters, their gradients, buffers and every intermediate move into one arena
 *   step 1..:  copy Xb, Yb into the plan's inputs, run the tape, expose what eager would leave:
 *              `p.grad`, `layer.out`, `layer.out.grad` where retained
 *
 * A plan is tied to a structural key (the module tree, every module's own settings -- training,
 * momentum, eps, retainOutGrad, ... -- its tensors' identities, storages, shapes and requiresGrad,
 * and the input shapes), cheap enough to check at every step; when it changes the next step
 * captures again. A step that cannot be captured (a random draw or an op computing outside a
 * kernel: a `CaptureError`) runs eagerly, and so does everything while anomaly detection is on,
 * gradients are off, capture is switched off (`setCaptureEnabled(false)`) or the engine has no
 * WebAssembly SIMD. Capture keeps parameters in the arena: `p.storage` becomes a view of it
 * (tensors made from a parameter earlier, like an old `p.data`, keep the old storage).
 */

import type { Module } from "../nn/modules.ts";
import { allocF32, CaptureError, capture, engineAvailable, Plan } from "../tensor/engine.ts";
import { kernels } from "../tensor/kernels.ts";
import { isAnomalyEnabled, isGradEnabled, Tensor } from "../tensor/tensor.ts";

/** A model the step can train: a module with a loss of a minibatch. */
export interface LossModel extends Module {
  loss(X: Tensor, Y: Tensor): Tensor;
}

let captureEnabled = true;

/** Switch captured plans on or off (off: every step eager). Returns the previous setting. */
export function setCaptureEnabled(on: boolean): boolean {
  const prev = captureEnabled;
  captureEnabled = on;
  return prev;
}

/** The parts of a module a plan depends on: its own settings and tensors (not `.out`). */
function pushModuleKey(m: Module, key: unknown[]): void {
  key.push(m);
  const rec = m as unknown as Record<string, unknown>;
  for (const name of Object.keys(rec)) {
    if (name === "out") continue;
    const v = rec[name];
    const t = typeof v;
    if (t === "number" || t === "boolean" || t === "string") key.push(name, v);
    else if (v !== null && t === "object" && "storage" in (v as object) && "shape" in (v as object)) {
      const x = v as Tensor;
      key.push(name, x, x.storage, x.shape.join(","), x.requiresGrad, x.dtype);
    }
  }
}

function structureKey(model: Module, inputs: Tensor[]): unknown[] {
  const key: unknown[] = [];
  for (const x of inputs) key.push(x.shape.join(","), x.dtype);
  const modules = model.modules();
  key.push(modules.length);
  for (const m of modules) pushModuleKey(m, key);
  // (buffers are module fields, keyed above; parameters too, but a module may hold them elsewhere)
  for (const p of model.parameters()) key.push(p, p.storage, p.requiresGrad);
  return key;
}

function sameKey(a: unknown[], b: unknown[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A captured training step of one model. */
export class TrainPlan {
  private constructor(
    readonly plan: Plan,
    readonly params: Tensor[],
    /** each parameter's gradient tensor as the capture left it (null: no gradient) */
    readonly grads: (Tensor | null)[],
    private readonly inputs: Tensor[],
    private readonly loss: Tensor,
    /** every module's `.out` (and its retained `.grad`) after the captured step */
    private readonly outs: [Module, Tensor | null, Tensor | null][],
  ) {}

  /**
   * Run one eager step of `model.loss(X, Y)` + backward as a capture and seal it. Returns the plan
   * (null where it cannot be captured) and the step's loss value.
   */
  static capture(model: LossModel, X: Tensor, Y: Tensor): { plan: TrainPlan | null; loss: number } {
    const params = model.parameters();
    for (const p of params) p.grad = null;
    let captured: ReturnType<typeof capture<{ loss: Tensor; inputs: Tensor[] }>>;
    try {
      captured = capture(() => {
        // the plan's input buffers: filled by `step` before every replay, not by a kernel
        const inputs = [X, Y].map((t) => {
          const s = allocF32(t.storage.length);
          s.set(t.storage);
          return new Tensor(s, t.shape, t.dtype);
        });
        const loss = model.loss(inputs[0], inputs[1]);
        loss.backward();
        return { loss, inputs };
      });
    } catch (e) {
      if (!(e instanceof CaptureError)) throw e;
      // the step computed nothing it could not redo: run it eagerly instead
      for (const p of params) p.grad = null;
      const loss = model.loss(X, Y);
      loss.backward();
      return { plan: null, loss: loss.item() };
    }
    const { loss, inputs } = captured.result;
    const grads = params.map((p) => p.grad);
    const plan = Plan.seal(captured.capture, [...params, ...model.buffers()], [params, grads]);
    const lossValue = loss.item();
    if (!plan) return { plan: null, loss: lossValue };
    const outs: [Module, Tensor | null, Tensor | null][] = model
      .modules()
      .map((m) => [m, m.out, m.out?.grad ?? null]);
    return { plan: new TrainPlan(plan, params, grads, inputs, loss, outs), loss: lossValue };
  }

  /** Replay on a new minibatch (same shapes); returns the loss. */
  step(X: Tensor, Y: Tensor): number {
    this.inputs[0].storage.set(X.storage);
    this.inputs[1].storage.set(Y.storage);
    this.plan.run();
    this.params.forEach((p, i) => {
      p.grad = this.grads[i];
    });
    for (const [m, out, grad] of this.outs) {
      m.out = out;
      if (out) out.grad = grad;
    }
    return this.loss.storage[0];
  }

  /**
   * SGD, `p.data += -lr * p.grad` in float32 for every parameter with a gradient: one kernel call
   * over the whole parameter block when every `.grad` is still the plan's (a hook may have
   * replaced or dropped one), else parameter by parameter.
   */
  sgd(lr: number): boolean {
    const params = this.params;
    for (let i = 0; i < params.length; i++) {
      if (params[i].grad !== this.grads[i] || params[i].storage.buffer !== this.plan.arena.ex.memory.buffer)
        return false;
    }
    const [p, g] = this.plan.blocks;
    kernels().sgd(this.plan.view(p.start, p.floats), this.plan.view(g.start, g.floats), -lr);
    return true;
  }
}

interface Cached {
  key: unknown[];
  plan: TrainPlan | null;
  captures: number;
  /** the input shape arrays of the last checked call (an unchecked call must pass the same) */
  lastX: readonly number[];
  lastY: readonly number[];
}
const cache = new WeakMap<Module, Cached>();

/** Captures after which a model whose key keeps changing runs eagerly (a plan never pays). */
const MAX_RECAPTURES = 20;

/**
 * One training step (forward, backward) of `model` on (X, Y): replayed when a plan fits, captured
 * when the structure changed, eager where capture does not apply. Leaves `p.grad` and `layer.out`
 * as the eager step does. Returns the loss and the plan that ran (null: eager).
 *
 * `recheck: false` skips the structural check when the caller knows nothing but this function has
 * touched the model since its last call (a training loop without hooks that write).
 */
export function trainStep(
  model: LossModel,
  X: Tensor,
  Y: Tensor,
  recheck = true,
): { loss: number; plan: TrainPlan | null } {
  if (!captureEnabled || !isGradEnabled() || isAnomalyEnabled() || !engineAvailable()) {
    return { loss: eagerStep(model, X, Y), plan: null };
  }
  const hit = cache.get(model);
  if (hit && !recheck && hit.lastX === X.shape && hit.lastY === Y.shape) {
    if (hit.plan) return { loss: hit.plan.step(X, Y), plan: hit.plan };
    return { loss: eagerStep(model, X, Y), plan: null };
  }
  const key = structureKey(model, [X, Y]);
  if (hit && sameKey(hit.key, key)) {
    hit.lastX = X.shape;
    hit.lastY = Y.shape;
    if (hit.plan) return { loss: hit.plan.step(X, Y), plan: hit.plan };
    return { loss: eagerStep(model, X, Y), plan: null };
  }
  const captures = (hit?.captures ?? 0) + 1;
  if (captures > MAX_RECAPTURES) {
    cache.set(model, { key, plan: null, captures, lastX: X.shape, lastY: Y.shape });
    return { loss: eagerStep(model, X, Y), plan: null };
  }
  const { plan, loss } = TrainPlan.capture(model, X, Y);
  // the capture moved tensors into the arena: key them as they are now
  cache.set(model, { key: structureKey(model, [X, Y]), plan, captures, lastX: X.shape, lastY: Y.shape });
  return { loss, plan };
}

/** The reference step: `for p: p.grad = None; loss = model.loss(X, Y); loss.backward()`. */
export function eagerStep(model: LossModel, X: Tensor, Y: Tensor): number {
  const loss = model.loss(X, Y);
  for (const p of model.parameters()) p.grad = null;
  loss.backward();
  return loss.item();
}
