/**
 * Seeded pseudo-random numbers for the explorer: the same seed gives the same schedules on every
 * machine (no `Math.random`).
 *
 * @internal
 */

/** A 32-bit generator (mulberry32): fast, small state, good enough to pick among a few tasks. */
export class Rng {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** A uniform 32-bit unsigned integer. */
  nextU32(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let z = this.#state;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return (z ^ (z >>> 14)) >>> 0;
  }

  /** A uniform integer in `[0, n)`, `n >= 1`. */
  below(n: number): number {
    return Math.floor((this.nextU32() / 2 ** 32) * n);
  }
}

/** Mixes a base seed and a run index into the seed of that run (runs are independent of each other). */
export function runSeed(seed: number, run: number): number {
  let h = (seed ^ Math.imul(run + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** FNV-1a over a string, 32 bits, rendered in base 36: the fingerprint of a run's trace. */
export function fingerprint(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(36);
}
