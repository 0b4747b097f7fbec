/**
 * The messages between the playground page (src/web/app.ts, main thread) and its training worker
 * (src/web/worker.ts). The worker owns the run: data, model, generator, the bounded chart series;
 * the page only draws what it is sent, so the main thread never does more than render.
 *
 *   page -> worker   charts (a port to the chart worker) | train | pause | resume | stop | sample | export | load (a run) | continue (it) | check (a word file)
 *   worker -> page   catalog (once), status, facts, line, view (every ~0.5 s while training), samples,
 *                    exported, checked, error (one line, the CLI's words)
 */

import type { Finding } from "../diagnostics/types.ts";
import type { LossControls } from "../viz/controls.ts";

/** A flag as the CLI spells it ("max-steps") with the value a user typed (or true for a switch). */
export type Flags = Record<string, string | boolean | undefined>;

/** A file the user dropped onto the page. */
export interface DroppedFile {
  name: string;
  bytes: ArrayBuffer;
}

/** The data to train on: a bundled word list by name, or a dropped file. */
export type DataChoice = { bundled: string } | { file: DroppedFile };

export type ToWorker =
  /** once, first: the channel to the chart worker (src/web/charts.ts), which draws the specs */
  | { type: "charts"; port: MessagePort }
  | { type: "train"; flags: Flags; data: DataChoice; diagnostics: boolean }
  | { type: "pause" }
  | { type: "resume" }
  | { type: "stop" }
  /** `makemore sample`'s flags as typed (topK: "" or -1 for every character) */
  | { type: "sample"; count: number; temperature: number; topK: string; seed: number | null }
  | { type: "export" }
  | { type: "load"; files: DroppedFile[] }
  /** continue the dropped run from its checkpoint (`makemore train --resume`) */
  | { type: "continue" }
  | { type: "check"; file: DroppedFile };

/** A flag of the page's form: what the CLI's --help says about it. */
export interface FlagInfo {
  name: string;
  kind: "int" | "number" | "boolean" | "choice";
  choices?: readonly string[];
  help: string;
  /** the value when the flag is not given ("" when it depends on the type) */
  placeholder: string;
}

/** What the page offers: every --type with its flags, the common flags, the bundled data sets. */
export interface Catalog {
  /** every --type in registry order: its family, the model flags it reads, the defaults it shows */
  types: {
    type: string;
    summary: string;
    family: string;
    flags: string[];
    defaults: Record<string, string>;
  }[];
  defaultType: string;
  /** model flags (by name; each type lists the ones it reads) */
  modelFlags: FlagInfo[];
  /** data, optimisation flags every type reads */
  trainFlags: FlagInfo[];
  datasets: string[];
}

export type PageState = "idle" | "training" | "paused" | "stopped" | "finished" | "loaded" | "failed";

export type Source = "train" | "val" | "test" | "new" | "unknown";

export interface SampleRow {
  word: string;
  source: Source;
}

export type FromWorker =
  | { type: "catalog"; catalog: Catalog }
  | { type: "status"; state: PageState; step: number; maxSteps: number }
  /** resumable: a dropped run that has not reached its --max-steps (the page offers to continue it) */
  | { type: "facts"; lines: string[]; config: unknown; resumable?: boolean }
  /** a line the CLI would print: the start-up facts, every --log-every steps */
  | { type: "line"; text: string }
  | { type: "checked"; name: string; line: string }
  | {
      type: "view";
      step: number;
      maxSteps: number;
      stepsPerSecond: number;
      /** the last minibatch loss, exactly as training computed it (a float32 value) */
      lastLoss: number | null;
      /** every chart the run has now, in page order (their specs go to the chart worker) */
      chartNames: string[];
      findings?: Finding[];
      samples?: { rows: SampleRow[]; step: number; seed: number };
      splitLosses?: { train: number; val: number; test: number };
    }
  /** topK -1: every character */
  | { type: "samples"; rows: SampleRow[]; seed: number; temperature: number; topK: number }
  | {
      type: "exported";
      config: string;
      checkpoint: ArrayBuffer;
      /** metrics.jsonl and diagnostics.jsonl as the CLI writes them (null: none, or too big to keep) */
      metrics: string | null;
      diagnostics: string | null;
      name: string;
    }
  | { type: "error"; message: string };

// ---------------------------------------------------------------- the page and the chart worker (src/web/charts.ts)

/** From the page: set up (once), the loss chart's controls, or a zoom gesture on a chart. */
export type PageRequest =
  | { port: MessagePort; scale: number }
  | { controls: LossControls }
  /** each chart's room on the page (CSS pixels), on load and when the layout changes */
  | { widths: Record<string, number> }
  | {
      zoom: {
        name: string;
        /** wheel at (x, y) by deltaY; drag by (dx, dy); reset (double-click) */
        kind: "wheel" | "drag" | "reset";
        /** CSS pixels from the picture's top left */
        x?: number;
        y?: number;
        deltaY?: number;
        dx?: number;
        dy?: number;
      };
    };

/** The charts the page zooms (the report's specs give them the interval-bound zoom). */
export const ZOOMABLE = ["loss", "update-ratios"];

/** To the page: one chart's picture (null to clear it) at `scale` device pixels per CSS pixel. */
export interface ChartDrawn {
  name: string;
  bitmap: ImageBitmap | null;
  scale: number;
  /** the chart's title, for the page's alt text */
  title: string;
}
