/**
 * Gradient checks as makemore part 4 ("becoming a backprop ninja") writes them: compare a
 * gradient computed by hand with the one autograd left in `t.grad`.
 *
 *   cmp("logprobs", dlogprobs, logprobs);
 *   // logprobs        | exact: True  | approximate: True  | maxdiff: 0.0
 *
 * `exact` is torch.all(dt == t.grad), `approximate` torch.allclose(dt, t.grad) (rtol 1e-5,
 * atol 1e-8: |dt - g| <= atol + rtol |g|), `maxdiff` (dt - t.grad).abs().max() in float32.
 */

import type { Tensor } from "../tensor/tensor.ts";

export interface GradComparison {
  name: string;
  exact: boolean;
  approximate: boolean;
  maxdiff: number;
  /** the lecture's line: `{name:15s} | exact: {ex:5s} | approximate: {app:5s} | maxdiff: {maxdiff}` */
  line: string;
}

/** The comparison as a value (what `cmp` prints). `t.grad` must exist and match dt's shape. */
export function compareGrad(name: string, dt: Tensor, t: Tensor): GradComparison {
  const g = t.grad;
  if (!g) throw new Error(`${name}: no .grad (call retainGrad() before backward() for an intermediate)`);
  if (dt.shape.join(",") !== g.shape.join(",") && dt.numel() !== g.numel())
    throw new RangeError(`${name}: shapes (${dt.shape}) and (${g.shape}) differ`);
  const a = dt.storage;
  const b = g.storage;
  let exact = true;
  let approximate = true;
  let maxdiff = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) exact = false;
    const d = Math.abs(Math.fround(a[i] - b[i])); // (dt - t.grad) is a float32 tensor
    if (!(d <= 1e-8 + 1e-5 * Math.abs(b[i]))) approximate = false;
    if (d > maxdiff || Number.isNaN(d)) maxdiff = d;
  }
  const py = (v: boolean) => (v ? "True" : "False").padEnd(5);
  const line = `${name.padEnd(15)} | exact: ${py(exact)} | approximate: ${py(approximate)} | maxdiff: ${pyFloat(maxdiff)}`;
  return { name, exact, approximate, maxdiff, line };
}

/** The lecture's `cmp`: prints the comparison line and returns it. */
export function cmp(name: string, dt: Tensor, t: Tensor): GradComparison {
  const r = compareGrad(name, dt, t);
  console.log(r.line);
  return r;
}

/**
 * Python's repr of a float (what an f-string prints): the shortest round-trip digits, positional
 * for 1e-4 <= |x| < 1e16 with at least one decimal ("0.0", "2.5"), otherwise scientific with a
 * signed two-digit exponent ("9.313225746154785e-10", "1e-05", "1e+16").
 */
export function pyFloat(x: number): string {
  if (Number.isNaN(x)) return "nan";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  const [mant, expStr] = x.toExponential().split("e");
  const exp = Number(expStr);
  if (exp < -4 || exp >= 16) {
    const sign = exp < 0 ? "-" : "+";
    return `${mant}e${sign}${String(Math.abs(exp)).padStart(2, "0")}`;
  }
  const neg = mant.startsWith("-");
  const digits = mant.replace("-", "").replace(".", "");
  let s: string;
  if (exp >= 0) {
    const intPart = digits.slice(0, exp + 1).padEnd(exp + 1, "0");
    const frac = digits.slice(exp + 1);
    s = `${intPart}.${frac || "0"}`;
  } else {
    s = `0.${"0".repeat(-exp - 1)}${digits}`;
  }
  return neg ? `-${s}` : s;
}
