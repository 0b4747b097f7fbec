/**
 * The `vega-canvas` package as the chart worker needs it: vega asks it for a canvas to draw a
 * headless view on (`view.toCanvas()`) and to measure text; in a worker there is no document, so
 * the canvas is an OffscreenCanvas. scripts/build-web.ts aliases the package to this file.
 */

export function canvas(w: number, h: number): OffscreenCanvas | null {
  return typeof OffscreenCanvas === "undefined" ? null : new OffscreenCanvas(w, h);
}

export const domCanvas = canvas;

/** No image marks in makemore's charts: no image loader. */
export function image(): null {
  return null;
}
