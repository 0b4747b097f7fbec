/**
 * The lecture's diagnostic print-outs, character for character, so a run's log reads like the
 * notebook (pure: also used by the report and the dashboard).
 *
 *   layer 2 (      Tanh): mean -0.00, std 0.63, saturated: 2.78%
 *   layer 2 (      Tanh): mean +0.000000, std 3.682954e-03
 *   weight  (30, 100) | mean +0.000246 | std 9.241077e-03 | grad:data ratio 4.881091e-02
 *
 * They reproduce Python's printf formats (`%+.2f`, `%+f`, `%e`, `%10s`), including `-0.00` for a
 * small negative mean and two-digit exponents.
 */

import type { ActivationStats, GradientStats, ParameterStats } from "./types.ts";

// ---------------------------------------------------------------- Python printf pieces

/**
 * Round half to even where the decimal value is exactly halfway, as Python does (JavaScript's
 * toFixed/toExponential round such ties up): `exact` is the value written with one more digit
 * (exact for a tie), `rounded` is JavaScript's result.
 */
function halfEven(exact: string, rounded: string): string {
  if (!exact.endsWith("5")) return rounded;
  let kept = exact.slice(0, -1);
  if (kept.endsWith(".")) kept = kept.slice(0, -1);
  return Number(kept.at(-1)) % 2 === 0 ? kept : rounded;
}

/** True when |x| written exactly has digit `5` at fractional position d+1 and nothing after. */
function isFixedTie(a: number, digits: number): boolean {
  if (a >= 1e21) return false;
  // toFixed(100) is exact for every double that can sit on a tie at <= 99 digits
  const frac = a.toFixed(100).split(".")[1]!;
  return frac[digits] === "5" && /^0*$/.test(frac.slice(digits + 1));
}

/** True when |x| written exactly has significant digit `5` right after the kept ones and nothing after. */
function isExpTie(a: number, digits: number): boolean {
  const sig = a.toPrecision(100).split("e")[0]!.replace(".", "").replace(/^0+/, "");
  return sig[digits + 1] === "5" && /^0*$/.test(sig.slice(digits + 2));
}

/** Python's `%.Nf` / `%+.Nf`: fixed point, `-0.00` for small negatives, `nan`/`inf` spelled out. */
export function pyFixed(x: number, digits: number, sign = false): string {
  if (Number.isNaN(x)) return sign ? "+nan" : "nan";
  if (!Number.isFinite(x)) return x > 0 ? (sign ? "+inf" : "inf") : "-inf";
  const negative = x < 0 || Object.is(x, -0);
  const a = Math.abs(x);
  const rounded = a.toFixed(digits);
  const body = isFixedTie(a, digits) ? halfEven(a.toFixed(digits + 1), rounded) : rounded;
  return negative ? `-${body}` : sign ? `+${body}` : body;
}

/** Python's `%e` (`%.6e`): `3.682954e-03`, exponent with a sign and at least two digits. */
export function pyExp(x: number, digits = 6, sign = false): string {
  if (Number.isNaN(x)) return sign ? "+nan" : "nan";
  if (!Number.isFinite(x)) return x > 0 ? (sign ? "+inf" : "inf") : "-inf";
  const negative = x < 0 || Object.is(x, -0);
  const a = Math.abs(x);
  let mantissa: string;
  let exponent: string;
  if (isExpTie(a, digits)) {
    // the exact value has one more digit; keep its exponent when rounding down to even
    const [m1, e1] = a.toExponential(digits + 1).split("e") as [string, string];
    const [m0, e0] = a.toExponential(digits).split("e") as [string, string];
    const kept = halfEven(m1, m0);
    [mantissa, exponent] = kept === m0 ? [m0, e0] : [kept, e1];
  } else {
    [mantissa, exponent] = a.toExponential(digits).split("e") as [string, string];
  }
  const e = Number(exponent);
  const body = `${mantissa}e${e < 0 ? "-" : "+"}${String(Math.abs(e)).padStart(2, "0")}`;
  return negative ? `-${body}` : sign ? `+${body}` : body;
}

/** Python's `str(tuple(shape))`: `(30, 100)`, `(100,)`, `()`. */
export function pyShape(shape: readonly number[]): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
}

// ---------------------------------------------------------------- the lecture's lines

/**
 * Forward statistics of one layer, as the lecture prints them:
 * `'layer %d (%10s): mean %+.2f, std %.2f, saturated: %.2f%%'`.
 *
 *   formatActivationLine({ layer: 2, kind: "Tanh", mean: -0.001, std: 0.63, saturated: 2.78, ... })
 *   // "layer 2 (      Tanh): mean -0.00, std 0.63, saturated: 2.78%"
 */
export function formatActivationLine(
  s: Pick<ActivationStats, "layer" | "kind" | "mean" | "std" | "saturated" | "entropy" | "entropyShare">,
) {
  // attention weights: their entropy instead of tanh saturation (which they cannot have)
  const tail =
    s.entropy !== undefined
      ? `entropy ${pyFixed(s.entropy, 2)} nats (${pyFixed((s.entropyShare ?? 0) * 100, 0)}% of uniform)`
      : `saturated: ${pyFixed(s.saturated, 2)}%`;
  return `layer ${s.layer} (${s.kind.padStart(10)}): mean ${pyFixed(s.mean, 2, true)}, std ${pyFixed(s.std, 2)}, ${tail}`;
}

/**
 * Backward statistics of one layer's output gradient: `'layer %d (%10s): mean %+f, std %e'`.
 *
 *   formatGradientLine({ layer: 2, kind: "Tanh", mean: 0, std: 0.003682954 })
 *   // "layer 2 (      Tanh): mean +0.000000, std 3.682954e-03"
 */
export function formatGradientLine(s: Pick<GradientStats, "layer" | "kind" | "mean" | "std">): string {
  return `layer ${s.layer} (${s.kind.padStart(10)}): mean ${pyFixed(s.mean, 6, true)}, std ${pyExp(s.std)}`;
}

/**
 * One parameter's gradient against its data:
 * `'weight %10s | mean %+f | std %e | grad:data ratio %e' % (tuple(p.shape), ...)`.
 *
 *   formatParameterLine({ shape: [30, 100], mean: 0.000246, std: 0.009241077, gradDataRatio: 0.04881091 })
 *   // "weight  (30, 100) | mean +0.000246 | std 9.241077e-03 | grad:data ratio 4.881091e-02"
 */
export function formatParameterLine(s: Pick<ParameterStats, "shape" | "mean" | "std" | "gradDataRatio">) {
  return `weight ${pyShape(s.shape).padStart(10)} | mean ${pyFixed(s.mean, 6, true)} | std ${pyExp(s.std)} | grad:data ratio ${pyExp(s.gradDataRatio)}`;
}

// ---------------------------------------------------------------- tables

/** The lecture's forward table: one `formatActivationLine` per layer, newline-separated. */
export function formatActivationTable(stats: readonly ActivationStats[]): string {
  return stats.map(formatActivationLine).join("\n");
}

/** The lecture's backward table: one `formatGradientLine` per layer. */
export function formatGradientTable(stats: readonly GradientStats[]): string {
  return stats.map(formatGradientLine).join("\n");
}

/**
 * The lecture's grad:data table. Like the lecture (`if p.ndim == 2`) it lists only 2-D parameters
 * (the weights) unless `all` is set.
 */
export function formatParameterTable(
  params: readonly ParameterStats[],
  opts: { all?: boolean } = {},
): string {
  return params
    .filter((p) => opts.all || p.shape.length === 2)
    .map(formatParameterLine)
    .join("\n");
}
