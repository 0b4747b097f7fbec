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
import { isAnomalyEnabled, isGradEnabled, noGrad, Tensor } from "../tensor/tensor.ts";
import type { BlockOptimizer, Optimizer } from "./optim.ts";

/** The optimizer's state laid out in the plan's arena, when it can be (see BlockOptimizer). */
function blockOptimizer(opt: Optimizer | null | undefined): BlockOptimizer | null {
  return opt && "adoptState" in opt && "stateBuffers" in opt ? (opt as BlockOptimizer) : null;
}

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

const eagerOnly = new WeakSet<Module>();

/**
 * Keep `model` off captured plans (every step and evaluation eager), like `torch.compiler.disable`:
 * for code that breaks the capture rules in ways the checks cannot see, and for comparisons.
 */
export function runEagerly(model: Module, on = true): void {
  if (on) eagerOnly.add(model);
  else eagerOnly.delete(model);
}

/** The training plan of `model`'s last step (null: none, or that step ran eagerly). */
export function planOf(model: Module): TrainPlan | null {
  return cache.get(model)?.last?.plan ?? null;
}

/** The training plans `model` holds, one per input shape captured (null: that shape runs eagerly). */
export function plansOf(model: Module): Map<string, TrainPlan | null> {
  const m = new Map<string, TrainPlan | null>();
  for (const [shape, c] of cache.get(model)?.shapes ?? []) m.set(shape, c.plan);
  return m;
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

function structureKey(model: Module, inputs: Tensor[], opt: BlockOptimizer | null = null): unknown[] {
  const key: unknown[] = [];
  // the optimizer's state buffers (a loaded state dict replaces them: lay them out again)
  if (opt) for (const kind of opt.stateBuffers()) key.push(...kind);
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
    /** hand the optimizer this plan's gradients (plans of one model share the blocks) */
    readonly adoptOptimizer: () => void,
  ) {}

  /**
   * Run one eager step of `model.loss(X, Y)` + backward as a capture and seal it. Returns the plan
   * (null where it cannot be captured) and the step's loss value.
   */
  static capture(
    model: LossModel,
    X: Tensor,
    Y: Tensor,
    optimizer: BlockOptimizer | null = null,
    /** a plan of the same model at another input shape: seal into its arena where it fits */
    base: TrainPlan | null = null,
    /** bytes of room a new arena leaves for later plans, given its plan's own bytes */
    reserve: (bytes: number) => number = () => 0,
    /** whether a new arena may be sealed where base's has no room left */
    regrow = true,
  ): { plan: TrainPlan | null; loss: number; noRoom?: boolean } {
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
    // the optimizer's state (AdamW's moments) as blocks parallel to the parameters and gradients
    const state = optimizer
      ? optimizer.stateBuffers().map((kind) => kind.map((b) => new Tensor(b, [b.length])))
      : [];
    const adopt = [...params, ...model.buffers()];
    const groups = [params, grads, ...state];
    const into = base && Plan.sealInto(base.plan, captured.capture, adopt, groups);
    const noRoom = into === "no room";
    const plan =
      into && !noRoom
        ? into
        : noRoom && !regrow
          ? null
          : Plan.seal(captured.capture, adopt, groups, true, reserve);
    const lossValue = loss.item();
    if (!plan) return { plan: null, loss: lossValue, noRoom };
    const adoptOptimizer = () =>
      optimizer?.adoptState(
        state.map((kind) => kind.map((t) => t.storage)),
        plan.blocks.map((b) => plan.view(b.start, b.floats)),
        grads,
      );
    adoptOptimizer();
    const outs: [Module, Tensor | null, Tensor | null][] = model
      .modules()
      .map((m) => [m, m.out, m.out?.grad ?? null]);
    return {
      plan: new TrainPlan(plan, params, grads, inputs, loss, outs, adoptOptimizer),
      loss: lossValue,
      noRoom,
    };
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
    const memory = this.plan.arena.ex.memory.buffer;
    for (let i = 0; i < params.length; i++) {
      if (params[i].grad !== this.grads[i] || params[i].storage.buffer !== memory) return false;
    }
    // the two blocks' views, made again only when the arena's memory grew (no allocation a step)
    let v = this.sgdViews;
    if (!v || v[0].buffer !== memory) {
      const [p, g] = this.plan.blocks;
      v = this.sgdViews = [this.plan.view(p.start, p.floats), this.plan.view(g.start, g.floats)];
    }
    kernels().sgd(v[0], v[1], -lr);
    return true;
  }
  private sgdViews: [Float32Array, Float32Array] | null = null;
}

/** The plan of one input shape of a model. */
interface Cached {
  /** the model's structural key (without the input shapes) when this entry was last checked */
  key: unknown[];
  plan: TrainPlan | null;
  captures: number;
  /** the input shape arrays of the last checked call (an unchecked call must pass the same) */
  lastX: readonly number[];
  lastY: readonly number[];
  /** the plan's first replay was checked against an eager step on a new minibatch */
  verified: boolean;
}

/**
 * A model's plans, one per input shape (a training loop that crops its minibatches to their
 * longest word, src/train/train.ts, passes a few shapes). The plans of one model share one arena
 * where they fit (`Plan.sealInto`): the parameters, gradients, buffers and optimizer state are
 * laid out once and every plan computes on them, so switching shapes copies nothing.
 */
interface ModelPlans {
  shapes: Map<string, Cached>;
  /** the entry of the last call */
  last: Cached | null;
  /** the model's structural key as the last checked call (or capture) found it */
  key: unknown[] | null;
  /** the plan whose gradients the optimizer's blocks were last handed */
  adopted: TrainPlan | null;
  /** new arenas sealed because the model's had no room left for another shape's plan */
  regrown: number;
}

/**
 * The first replay after a capture, checked: an eager step on this (new) minibatch, then the
 * replay from the same state, and every loss, gradient and buffer bit compared. Code that reads
 * tensor values in JavaScript inside the step (data-dependent work the capture cannot see) gives
 * the capture's stale values on a new minibatch and fails the check: that model then trains
 * eagerly, with the eager step's results.
 */
function verifiedStep(
  model: LossModel,
  hit: Cached,
  X: Tensor,
  Y: Tensor,
): { loss: number; plan: TrainPlan | null } {
  const plan = hit.plan as TrainPlan;
  hit.verified = true;
  const buffers = model.buffers();
  const before = buffers.map((b) => b.storage.slice());
  const eagerLoss = eagerStep(model, X, Y);
  const params = model.parameters();
  const eagerGrads = params.map((p) => p.grad);
  const after = buffers.map((b) => b.storage.slice());
  buffers.forEach((b, i) => {
    b.storage.set(before[i]);
  });
  const loss = plan.step(X, Y);
  let same = Object.is(loss, eagerLoss);
  params.forEach((p, i) => {
    const a = p.grad?.storage;
    const e = eagerGrads[i]?.storage;
    if (!a || !e) same &&= !a && !e;
    else for (let j = 0; j < a.length && same; j++) same = Object.is(a[j], e[j]);
  });
  buffers.forEach((b, i) => {
    for (let j = 0; j < after[i].length && same; j++) same = Object.is(b.storage[j], after[i][j]);
  });
  if (same) return { loss, plan };
  // the plan computes something else than the model: keep the eager step and train eagerly
  hit.plan = null;
  params.forEach((p, i) => {
    p.grad = eagerGrads[i];
  });
  buffers.forEach((b, i) => {
    b.storage.set(after[i]);
  });
  return { loss: eagerLoss, plan: null };
}
const cache = new WeakMap<Module, ModelPlans>();

/** Captures of one input shape after which a model whose key keeps changing runs eagerly. */
const MAX_RECAPTURES = 20;
/** Input shapes a model gets plans for (more run eagerly): a cropped minibatch has at most T. */
const MAX_SHAPES = 64;
/**
 * Room a model's first arena leaves for its plans at other input shapes, in multiples of the
 * first plan's bytes. A cropped makemore.py minibatch on names.txt is 9 to 16 columns wide, so
 * the plans of the other widths take about 8-10x a 10-column plan; the room is zero pages until a
 * plan takes them. When a plan does not fit, a new arena is sealed (once: `MAX_REGROWN`) with room
 * for twice everything the old one held, and the old arena's plans are captured again as they are
 * needed; a shape that does not fit after that runs eagerly (the training loop then crops to a
 * wider shape that has a plan).
 */
let ROOM = 12;
const MAX_REGROWN = 1;

/** Set the room factor (`ROOM`; tests: 0 leaves no room, the fallbacks run). Returns the previous. */
export function setPlanRoom(factor: number): number {
  const prev = ROOM;
  ROOM = factor;
  return prev;
}

/** The cache key of an input shape. */
function shapeKey(X: Tensor, Y: Tensor): string {
  return `${X.shape.join(",")}:${X.dtype}|${Y.shape.join(",")}:${Y.dtype}`;
}

/** Run the plan of `hit` (or an eager step where it has none). */
function runCached(
  model: LossModel,
  mp: ModelPlans,
  hit: Cached,
  X: Tensor,
  Y: Tensor,
): { loss: number; plan: TrainPlan | null } {
  mp.last = hit;
  const plan = hit.plan;
  if (!plan) return { loss: eagerStep(model, X, Y), plan: null };
  if (mp.adopted !== plan) {
    plan.adoptOptimizer();
    mp.adopted = plan;
  }
  if (!hit.verified) return verifiedStep(model, hit, X, Y);
  return { loss: plan.step(X, Y), plan };
}

/**
 * One training step (forward, backward) of `model` on (X, Y): replayed when a plan fits, captured
 * when the structure changed, eager where capture does not apply. Leaves `p.grad` and `layer.out`
 * as the eager step does. Returns the loss and the plan that ran (null: eager).
 *
 * `recheck: false` skips the structural check when the caller knows nothing but this function has
 * touched the model since its last call (a training loop without hooks that write). `optimizer`:
 * the optimizer that will update the parameters; one that keeps per-parameter state (AdamW) gets
 * that state laid out in the plan's arena, so its step is one kernel call over the blocks.
 * `varying`: the caller passes inputs of several shapes (cropped minibatches); the model's first
 * arena then leaves room for the plans of the other shapes (`ROOM`). Every shape gets its own plan,
 * captured the first time it is seen and verified on its first replay.
 */
export function trainStep(
  model: LossModel,
  X: Tensor,
  Y: Tensor,
  recheck = true,
  optimizer: Optimizer | null = null,
  varying = false,
): { loss: number; plan: TrainPlan | null } {
  if (
    !captureEnabled ||
    !isGradEnabled() ||
    isAnomalyEnabled() ||
    !engineAvailable() ||
    eagerOnly.has(model)
  ) {
    return { loss: eagerStep(model, X, Y), plan: null };
  }
  let mp = cache.get(model);
  if (!mp) cache.set(model, (mp = { shapes: new Map(), last: null, key: null, adopted: null, regrown: 0 }));
  if (!recheck && mp.key) {
    // nothing else touched the model since the last call: the key that call saw still holds
    let hit = mp.last;
    if (!hit || hit.lastX !== X.shape || hit.lastY !== Y.shape) {
      hit = null;
      for (const c of mp.shapes.values()) if (c.lastX === X.shape && c.lastY === Y.shape) hit = c;
    }
    if (hit && hit.key === mp.key) return runCached(model, mp, hit, X, Y);
  }
  const opt = blockOptimizer(optimizer);
  const key = structureKey(model, [], opt);
  if (!mp.key || !sameKey(mp.key, key)) mp.key = key;
  const shape = shapeKey(X, Y);
  const hit = mp.shapes.get(shape);
  if (hit && (hit.key === mp.key || sameKey(hit.key, mp.key))) {
    hit.key = mp.key;
    hit.lastX = X.shape;
    hit.lastY = Y.shape;
    return runCached(model, mp, hit, X, Y);
  }
  const captures = (hit?.captures ?? 0) + 1;
  if (captures > MAX_RECAPTURES || (!hit && mp.shapes.size >= MAX_SHAPES)) {
    const c = { key: mp.key, plan: null, captures, lastX: X.shape, lastY: Y.shape, verified: true };
    mp.shapes.set(shape, c);
    return runCached(model, mp, c, X, Y);
  }
  // the model's arena (any of its plans: where one no longer describes the model, the capture
  // lays the parameters and state out in the same blocks again, and that plan's key stays stale)
  let base: TrainPlan | null = mp.last?.plan ?? null;
  for (const c of mp.shapes.values()) base ??= c.plan;
  const baseBytes = base ? base.plan.arena.bytes : 0;
  // (a new arena for a model whose arena ran out: room for its plans again, twice over)
  const reserve = (bytes: number) => (varying ? Math.max(ROOM * bytes, 2 * baseBytes) : 0);
  const { plan, loss, noRoom } = TrainPlan.capture(model, X, Y, opt, base, reserve, mp.regrown < MAX_REGROWN);
  if (noRoom && plan) mp.regrown++;
  // (no plan: the optimizer keeps the blocks of the plan it had, which still hold its state)
  if (plan) mp.adopted = plan;
  if (plan) {
    // plans on another arena read parameters that have moved out of it: capture them again
    for (const [s, c] of mp.shapes) if (c.plan && c.plan.plan.arena !== plan.plan.arena) mp.shapes.delete(s);
  }
  // the capture moved tensors into the arena: key them as they are now
  const after = structureKey(model, [], opt);
  if (!sameKey(mp.key, after)) mp.key = after;
  const c = { key: mp.key, plan, captures, lastX: X.shape, lastY: Y.shape, verified: false };
  mp.shapes.set(shape, c);
  mp.last = c;
  return { loss, plan };
}

/**
 * `body` captured once in eval mode with no graph, sealed over the model's parameters and buffers
 * (a plan with its own copies of them, no gradients or optimizer state): the plan and what `body`
 * returned, or null where the capture is not possible or `usable` rejects the result. The model's
 * training mode is restored.
 */
function captureEval<R>(
  model: Module,
  body: () => R,
  usable: (result: R) => boolean,
): { plan: Plan; result: R } | null {
  const wasTraining = model.training;
  model.eval();
  try {
    const { result, capture: c } = capture(() => noGrad(body));
    if (!usable(result)) return null;
    const plan = Plan.seal(c, [...model.parameters(), ...model.buffers()], [], false);
    return plan && { plan, result };
  } catch (e) {
    if (e instanceof CaptureError) return null;
    throw e;
  } finally {
    model.train(wasTraining);
  }
}

/**
 * A captured eval-mode forward `model.forward(X)` for X of a fixed shape (rows, T), no graph: split
 * losses and sampling. It keeps its own copies of the parameters and buffers, which `load()`
 * refreshes, so it never disturbs a training plan over the same tensors.
 */
export class ForwardPlan {
  private constructor(
    readonly plan: Plan,
    private readonly input: Tensor,
    private readonly output: Tensor,
  ) {}

  /** Rows per forward. */
  get rows(): number {
    return this.input.shape[0];
  }

  static capture(model: ForwardModel, rows: number, T: number): ForwardPlan | null {
    const c = captureEval(
      model,
      () => {
        const x = new Tensor(allocF32(rows * T), [rows, T], "int64");
        return { x, y: model.forward(x) };
      },
      ({ y }) => y.shape.length === 2 && y.shape[0] === rows,
    );
    return c && new ForwardPlan(c.plan, c.result.x, c.result.y);
  }

  /** Copy the current parameters and buffers in (call before a series of `run`s). */
  load(): void {
    this.plan.refresh();
  }

  /**
   * The outputs (rows, V) for `count` rows of token ids (count <= rows; the rest of the input is
   * zero-padded, eval mode being row-independent): a view, valid until the next run.
   */
  run(x: ArrayLike<number>, count: number): Float32Array {
    const s = this.input.storage;
    const n = count * this.input.shape[1];
    for (let i = 0; i < n; i++) s[i] = x[i];
    s.fill(0, n);
    this.plan.run();
    return this.output.storage;
  }
}

/** A model whose eval forward maps X (B, T) token ids to (B, V) logits. */
export interface ForwardModel extends Module {
  forward(X: Tensor): Tensor;
}

const forwardPlans = new WeakMap<Module, Map<string, { key: unknown[]; plan: ForwardPlan | null }>>();

/**
 * The captured eval forward of `model` for (rows, T) inputs, or null (capture off or not
 * possible: the caller runs the eager ops). Re-captured when the model's structure changes.
 */
export function forwardPlanFor(model: ForwardModel, rows: number, T: number): ForwardPlan | null {
  if (!captureEnabled || isAnomalyEnabled() || !engineAvailable() || eagerOnly.has(model)) return null;
  const shape = [rows, T];
  const key = structureKey(model, [{ shape, dtype: "int64" } as unknown as Tensor]);
  key.push("eval");
  let byShape = forwardPlans.get(model);
  if (!byShape) forwardPlans.set(model, (byShape = new Map()));
  const hit = byShape.get(shape.join(","));
  if (hit && sameKey(hit.key, key)) return hit.plan;
  const plan = ForwardPlan.capture(model, rows, T);
  byShape.set(shape.join(","), { key, plan });
  return plan;
}

/**
 * A captured eval-mode `model.loss(X, Y)` for inputs of fixed shapes, no graph: the split losses of
 * models whose loss is not a plain cross-entropy over window logits (makemore.py's sequence models
 * with their ignored targets, the WaveNet). Like `ForwardPlan` it keeps its own copies of the
 * parameters and buffers, which `load()` refreshes.
 */
export class LossPlan {
  /** A replay on other rows than the capture's was checked against the eager loss. */
  verified = false;
  private constructor(
    readonly plan: Plan,
    private readonly x: Tensor,
    private readonly y: Tensor,
    private readonly loss: Tensor,
  ) {}

  static capture(model: LossModel, X: Tensor, Y: Tensor): LossPlan | null {
    const c = captureEval(
      model,
      () => {
        const inputs = [X, Y].map((t) => {
          const s = allocF32(t.storage.length);
          s.set(t.storage);
          return new Tensor(s, t.shape, t.dtype);
        });
        return { x: inputs[0], y: inputs[1], loss: model.loss(inputs[0], inputs[1]) };
      },
      ({ loss }) => loss.numel() === 1,
    );
    return c && new LossPlan(c.plan, c.result.x, c.result.y, c.result.loss);
  }

  /** Copy the current parameters and buffers in (call before a series of `run`s). */
  load(): void {
    this.plan.refresh();
  }

  /** The loss of (X, Y), which must have the captured shapes. */
  run(X: Tensor, Y: Tensor): number {
    this.x.storage.set(X.storage);
    this.y.storage.set(Y.storage);
    this.plan.run();
    return this.loss.storage[0];
  }
}

const lossPlans = new WeakMap<Module, { key: unknown[]; plan: LossPlan | null }>();

/**
 * The captured eval-mode loss of `model` for inputs shaped like (X, Y), or null (capture off or not
 * possible: the caller runs the eager loss). One per model, re-captured when its structure or the
 * input shapes change.
 */
export function lossPlanFor(model: LossModel, X: Tensor, Y: Tensor): LossPlan | null {
  if (!captureEnabled || isAnomalyEnabled() || !engineAvailable() || eagerOnly.has(model)) return null;
  const key = structureKey(model, [X, Y]);
  key.push("eval loss");
  const hit = lossPlans.get(model);
  if (hit && sameKey(hit.key, key)) return hit.plan;
  const plan = LossPlan.capture(model, X, Y);
  lossPlans.set(model, { key, plan });
  return plan;
}

/**
 * The first replay of a loss plan on new rows, checked: the replayed and the eager loss must agree
 * bit for bit, else (JavaScript reading tensor values inside `loss`, which the capture cannot see)
 * the model's evaluation runs eagerly from then on. Returns the eager loss.
 */
export function verifiedLoss(model: LossModel, plan: LossPlan, X: Tensor, Y: Tensor): number {
  const replayed = plan.run(X, Y);
  const eager = model.loss(X, Y).item();
  if (Object.is(replayed, eager)) plan.verified = true;
  else {
    const hit = lossPlans.get(model);
    if (hit?.plan === plan) hit.plan = null;
  }
  return eager;
}

/** The reference step: `for p: p.grad = None; loss = model.loss(X, Y); loss.backward()`. */
export function eagerStep(model: LossModel, X: Tensor, Y: Tensor): number {
  const loss = model.loss(X, Y);
  for (const p of model.parameters()) p.grad = null;
  loss.backward();
  return loss.item();
}
