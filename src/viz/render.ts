/**
 * Vega-Lite spec -> SVG (vega-lite compile, then a headless vega View) -> PNG (resvg).
 *
 * resvg draws text only with fonts it can find: it loads DejaVu Sans (Debian's fonts-dejavu-core)
 * when that file exists and the system fonts as a fallback, and maps the generic "sans-serif" that
 * vega writes to it. Without any font the PNG still renders, without its text.
 */

import { existsSync } from "node:fs";
import { Resvg } from "@resvg/resvg-js";
import * as vega from "vega";
import { compile } from "vega-lite";
import type { ChartSpec } from "./specs.ts";

/** The font file the PNGs use (Debian/Ubuntu: apt-get install fonts-dejavu-core). */
export const DEJAVU_SANS = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/**
 * Render a Vega-Lite spec to an SVG string, without a browser.
 *
 *   const svg = await specToSvg(lossSpec(metrics)!);   // "<svg ... >...</svg>"
 */
export async function specToSvg(spec: ChartSpec): Promise<string> {
  const vgSpec = compile(spec).spec;
  // renderer "none": no canvas needed; toSVG() builds the markup from the scenegraph
  const view = new vega.View(vega.parse(vgSpec), { renderer: "none", logLevel: vega.Error });
  try {
    return roundPaths(await view.toSVG());
  } finally {
    view.finalize();
  }
}

/**
 * Path coordinates to 1/100 px. vega writes them at full double precision
 * ("M0.00044527649879455566,0h2.229991227388382v9h-2.229991227388382Z"), which is two thirds of a
 * heat view's bytes; a hundredth of a pixel is below anything a screen or the PNG can show.
 */
function roundPaths(svg: string): string {
  return svg.replace(/\sd="([^"]*)"/g, (_, d: string) => {
    const short = d.replace(/-?\d*\.\d{3,}(e-?\d+)?/g, (n) => String(Math.round(Number(n) * 100) / 100));
    return ` d="${short}"`;
  });
}

/** Options for `svgToPng`. */
export interface PngOptions {
  /** output scale (2 = twice the SVG's pixel size, sharper on high-DPI screens); default 1 */
  scale?: number;
  /** font files to load before the system fonts (default: DejaVu Sans when installed) */
  fontFiles?: string[];
}

/**
 * Rasterise an SVG string to PNG bytes with resvg.
 *
 *   writeFileAtomic("loss.png", svgToPng(svg));
 */
export function svgToPng(svg: string, opts: PngOptions = {}): Uint8Array {
  const fontFiles = (opts.fontFiles ?? [DEJAVU_SANS]).filter((f) => existsSync(f));
  const scale = opts.scale ?? 1;
  // vega writes font-family="sans-serif": point the generic family at DejaVu Sans when it is
  // there, else leave resvg's defaults to match whatever the system fonts offer
  const dejavu = fontFiles.includes(DEJAVU_SANS);
  const resvg = new Resvg(svg, {
    background: "white",
    fitTo: scale === 1 ? { mode: "original" } : { mode: "zoom", value: scale },
    font: {
      fontFiles,
      loadSystemFonts: true,
      ...(dejavu ? { defaultFontFamily: "DejaVu Sans", sansSerifFamily: "DejaVu Sans" } : {}),
    },
  });
  return new Uint8Array(resvg.render().asPng());
}

/** Spec -> { svg, png } in one call. */
export async function renderSpec(
  spec: ChartSpec,
  opts: PngOptions = {},
): Promise<{ svg: string; png: Uint8Array }> {
  const svg = await specToSvg(spec);
  return { svg, png: svgToPng(svg, opts) };
}
