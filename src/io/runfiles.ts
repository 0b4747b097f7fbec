/**
 * The run files' schema: what each file of a run directory holds, the one writer of each (the
 * training session's `RunStore` on disk) and the one reader (validated once, on read), which
 * the report, the dashboard, `doctor` and `info` go through. The shapes are the types of
 * src/train/session.ts (config, state, live, samples) and src/diagnostics/types.ts (metrics,
 * snapshots, findings).
 *
 *   config.json         RunConfig, "version": 1 (checkConfig in run.ts)
 *   checkpoint.safetensors + state.json   weights + RunState (run.ts)
 *   metrics.jsonl       MetricsLine per line: {"step","loss","lr"[,"ud"]} or {"step","train_loss","val_loss"}
 *   diagnostics.jsonl   DiagnosticsSnapshot per line
 *   samples.txt         one sampled word per line; samples.json {"version","seed","samples":[{word,source}]}
 *   findings.json       Finding[]
 *   live.json           LiveStatus, rewritten every ~2 s while a dashboard watches
 *
 * A tampered field is one UserError line naming the file and the field.
 */

import { readFileSync } from "node:fs";
import type { DiagnosticsSnapshot, Finding, MetricsLine } from "../diagnostics/types.ts";
import { UserError } from "../errors.ts";
import type { Module } from "../nn/modules.ts";
import type { LiveStatus, RunState, RunStore, SampleRecord } from "../train/session.ts";
import { writeFileAtomic } from "./atomic.ts";
import { appendLines, saveCheckpoint } from "./run.ts";
import { type RunPaths, readJsonLines, writeJsonFile } from "./rundir.ts";

export const SAMPLES_VERSION = 1;

// ---------------------------------------------------------------- writing: the session's store on disk

/** A run directory as the training session's store (src/train/session.ts `RunStore`). */
export class FileRunStore implements RunStore {
  constructor(readonly paths: RunPaths) {}
  get location(): string {
    return this.paths.dir;
  }
  saveCheckpoint(model: Module, state: RunState): void {
    saveCheckpoint(this.paths, model, state);
  }
  appendMetrics(lines: readonly MetricsLine[]): void {
    appendLines(
      this.paths.metrics,
      lines.map((l) => JSON.stringify(l)),
    );
  }
  appendDiagnostics(snapshot: DiagnosticsSnapshot): void {
    appendLines(this.paths.diagnostics, [JSON.stringify(snapshot)]);
  }
  truncateFrom(step: number): void {
    truncateJsonLines(this.paths.metrics, step);
    truncateJsonLines(this.paths.diagnostics, step);
  }
  readMetrics(): MetricsLine[] {
    try {
      return readJsonLines(this.paths.metrics, "metrics").records as MetricsLine[];
    } catch {
      return [];
    }
  }
  writeLive(live: LiveStatus): void {
    writeJsonFile(this.paths.live, live);
  }
  writeSamples(samples: readonly SampleRecord[], seed: number | string): void {
    writeFileAtomic(this.paths.samples, samples.map((s) => `${s.word}\n`).join(""));
    writeJsonFile(this.paths.samplesJson, { version: SAMPLES_VERSION, seed, samples });
  }
  writeFindings(findings: readonly Finding[]): void {
    writeJsonFile(this.paths.findings, findings);
  }
}

/** Keep the JSONL lines logged before `step` (a resumed run re-logs the rest); a torn line goes. */
function truncateJsonLines(path: string, step: number): void {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return;
  }
  const keep = text.split("\n").filter((line) => {
    if (!line) return false;
    try {
      return JSON.parse(line).step < step;
    } catch {
      return false; // a torn last line from a crash
    }
  });
  writeFileAtomic(path, keep.length ? `${keep.join("\n")}\n` : "");
}

// ---------------------------------------------------------------- reading: validated once

/** A UserError naming the file and the field: `live.json: samples[2].word must be a string`. */
export function badField(file: string, field: string, what: string): UserError {
  return new UserError(`${file}: ${field} ${what}`);
}
