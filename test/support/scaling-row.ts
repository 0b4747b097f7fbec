// A scaling-suite row (src/bench/scaling.ts ScalingResult's rows) for the verdict tests: F = 1 GFLOP
// a step, PyTorch at 10 steps per CPU second, ours at `ours`, `gemmSeconds` of each step in gemm.
export const scalingRow = (target: number, ours: number, gemmSeconds: number) => ({
  name: "r",
  command: "",
  params: 0,
  flopsPerStep: 1e9,
  steps: 1,
  target,
  profile: { calls: 1, gemmSeconds, share: gemmSeconds * ours, gemmGflops: 1 / gemmSeconds },
  ours: { "1": { stepsPerSec: ours, all: [], cpuStepsPerSec: ours, gflops: ours } },
  torchNn: { "1": { stepsPerSec: 10, all: [], cpuStepsPerSec: 10, gflops: 10 } },
  torchLecture: null,
});
