// MT19937 core shared by the torch `Generator` and CPython's `PyRandom` (spec: docs/torch-rng.md §1, §8).
// Both libraries use the reference Matsumoto–Nishimura generator with the same twist and tempering;
// they differ only in how the 624-word state is seeded.

/** Number of 32-bit words in the MT19937 state. */
export const MT_N = 624;
const MT_M = 397;
const MATRIX_A = 0x9908b0df;
const UPPER = 0x80000000;
const LOWER = 0x7fffffff;

/**
 * Reference `init_genrand(s)`: mt[i] = 1812433253 * (mt[i-1] ^ (mt[i-1] >>> 30)) + i (mod 2^32).
 * `Math.imul` gives the low 32 bits of the product, which is all a mod-2^32 recurrence needs.
 */
export function initGenrand(mt: Uint32Array, s: number): void {
  mt[0] = s >>> 0;
  for (let i = 1; i < MT_N; i++) {
    const prev = mt[i - 1]!;
    mt[i] = (Math.imul(1812433253, prev ^ (prev >>> 30)) + i) >>> 0;
  }
}

/**
 * Regenerate all 624 words in place. Split into three loops so that the (k + 1) and (k + 397)
 * indices never need a modulo in the hot part.
 */
export function twist(mt: Uint32Array): void {
  let k = 0;
  let y: number;
  // -(y & 1) is 0 or all-ones, selecting MATRIX_A without a branch.
  for (; k < MT_N - MT_M; k++) {
    y = (mt[k]! & UPPER) | (mt[k + 1]! & LOWER);
    mt[k] = mt[k + MT_M]! ^ (y >>> 1) ^ (-(y & 1) & MATRIX_A);
  }
  for (; k < MT_N - 1; k++) {
    y = (mt[k]! & UPPER) | (mt[k + 1]! & LOWER);
    mt[k] = mt[k + MT_M - MT_N]! ^ (y >>> 1) ^ (-(y & 1) & MATRIX_A);
  }
  y = (mt[MT_N - 1]! & UPPER) | (mt[0]! & LOWER);
  mt[MT_N - 1] = mt[MT_M - 1]! ^ (y >>> 1) ^ (-(y & 1) & MATRIX_A);
}

/** MT19937 output tempering of one state word; returns a u32 as a non-negative number. */
export function temper(y: number): number {
  y ^= y >>> 11;
  y ^= (y << 7) & 0x9d2c5680;
  y ^= (y << 15) & 0xefc60000;
  y ^= y >>> 18;
  return y >>> 0;
}
