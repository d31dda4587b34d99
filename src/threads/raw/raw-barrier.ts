/**
 * A reusable barrier for `n` parties over one word that holds both the generation and its arrivals,
 * so that every transition (arrive, complete, withdraw) is one compare-exchange.
 *
 * Step functions (every shared access goes through `A`):
 * - {@link arrive}`(A, w, i, n)` → `{ leader, generation }`: `leader` when this call completed the
 *   generation (nothing to wait for), else wait for `generation` to pass.
 * - {@link waitStep}`(A, w, i, generation, waiter)` → `true` once the generation has passed, else park.
 * - {@link withdraw}`(A, w, i, generation)`: a party that gives up (timeout, abort) takes its arrival
 *   back if its generation has not completed (`true`); if it has, the arrival counted (`false`).
 * - {@link waitBlocking}: the `waitStep` + `A.wait` loop, withdrawing on timeout.
 *
 * Word (`w[i]`, one `Int32`):
 *
 * | bits  | name       | meaning                                     | who may change it                   |
 * |-------|------------|---------------------------------------------|-------------------------------------|
 * | 0–15  | ARRIVED    | parties arrived in the current generation   | arrivals (+1), withdrawals (−1), the leader (reset to 0) |
 * | 16–31 | GENERATION | completed generations (wraps at 2^16)        | the leader (+1, in the same CAS as the reset) |
 *
 * Because the reset and the generation bump are one CAS, a caller beyond `n` (more callers than
 * parties) is counted either in the generation before or in the next one, never in between: exactly
 * one leader per `n` arrivals. A party waits until the word's GENERATION differs from the one it
 * arrived in; that can only be confused by 2^16 generations completing while it does not look (one
 * poll period), which needs more callers than parties and millions of generations per second.
 */
import type { AtomicsLike } from "./atomics-like.js";
import { driveBlocking, PARK } from "./drive.js";
import { type Clock, newWaiter, POLL_MS, type RawWaiter } from "./waiter.js";

/** Words a raw barrier occupies. */
export const BARRIER_WORDS = 1;
/** Most parties a barrier can have (ARRIVED is 16 bits). */
export const MAX_PARTIES = 0xffff;

const ARRIVED_MASK = 0xffff;

/** ARRIVED of a barrier word. */
export function arrivedOf(word: number): number {
  return word & ARRIVED_MASK;
}

/** GENERATION of a barrier word. */
export function generationOf(word: number): number {
  return word >>> 16;
}

function pack(generation: number, arrived: number): number {
  return ((generation & 0xffff) << 16) | arrived | 0;
}

/** Result of {@link arrive}: `leader` is `true` for the party that completed the generation. */
export interface Arrival {
  leader: boolean;
  generation: number;
}

/** Arrives at the barrier. The last party of a generation releases the others and is the leader. */
export function arrive(A: AtomicsLike, w: Int32Array, i: number, n: number): Arrival {
  let c = A.load(w, i);
  for (;;) {
    const generation = generationOf(c);
    const arrived = arrivedOf(c) + 1;
    const leader = arrived >= n;
    const prev = A.compareExchange(w, i, c, leader ? pack(generation + 1, 0) : pack(generation, arrived));
    if (prev === c) {
      if (leader) A.notify(w, i);
      return { leader, generation };
    }
    c = prev;
  }
}

/** `true` once `generation` has completed; otherwise prepares `waiter` to park on the word. */
export function waitStep(A: AtomicsLike, w: Int32Array, i: number, generation: number, waiter: RawWaiter): boolean {
  const c = A.load(w, i);
  if (generationOf(c) !== generation) return true;
  waiter.parked = true;
  waiter.index = i;
  waiter.expected = c;
  waiter.parkTimeout = POLL_MS;
  return false;
}

/**
 * A party of `generation` gives up. Returns `true` when it took its arrival back (the generation has
 * not completed; it now needs one more party), `false` when the generation completed first (the
 * arrival counted: the caller passed the barrier after all).
 */
export function withdraw(A: AtomicsLike, w: Int32Array, i: number, generation: number): boolean {
  let c = A.load(w, i);
  for (;;) {
    if (generationOf(c) !== generation) return false;
    const prev = A.compareExchange(w, i, c, pack(generation, arrivedOf(c) - 1));
    if (prev === c) return true;
    c = prev;
  }
}

/**
 * Waits for `generation` to complete, through the shared blocking driver (drive.ts), until `deadline`
 * (a `now()` reading, or `Infinity`). Returns `false` on timeout (the arrival withdrawn), `true` once
 * released (including a release that raced with the timeout). This is `Barrier.waitSync`'s wait.
 */
export function waitBlocking(
  A: AtomicsLike,
  w: Int32Array,
  i: number,
  generation: number,
  now: Clock,
  deadline: number,
): boolean {
  const step = (waiter: RawWaiter) => (waitStep(A, w, i, generation, waiter) ? 0 : PARK);
  if (driveBlocking(A, w, newWaiter(0), step, deadline, now) !== PARK) return true;
  return !withdraw(A, w, i, generation);
}
