// Random numbers that match PyTorch 1.13 (CPU) and CPython's `random` bit for bit.
export { DEFAULT_SEED, f32Bits, f32FromBits, fmaF32, Generator, type GeneratorState } from "./generator.ts";
export { PyRandom } from "./pyrandom.ts";
