/**
 * A reusable barrier for `n` parties over two words.
 *
 * Step functions (every shared access goes through `A`):
 * - {@link arrive}`(A, w, i, n)` → `{ leader, generation }`: `leader` when this call completed the
 *   generation (nothing to wait for), else wait for `generation` to pass.
 * - {@link waitStep}`(A, w, i, generation, waiter)` → `true` once the generation has passed, else park.
 * - {@link waitBlocking}: the `waitStep` + `A.wait` loop.
 *
 * Words:
 *
 * | word  | name       | meaning                                       | who may change it              |
 * |-------|------------|-----------------------------------------------|--------------------------------|
 * | i     | ARRIVED    | parties arrived in the current generation     | arrivals (`A.add`), leader resets to 0 |
 * | i + 1 | GENERATION | completed generations (wraps around)          | the leader (`A.add`) only      |
 *
 * Order matters: the leader resets ARRIVED *before* bumping GENERATION, so a party released from this
 * generation that arrives again at once counts in the next one. A generation cannot complete without
 * every party, so the GENERATION a party reads before arriving is the one its arrival belongs to.
 *
 * Not covered: a party that dies before arriving leaves the others waiting (until their timeout).
 */
import type { AtomicsLike } from "./atomics-like.js";
import { type Clock, newWaiter, POLL_MS, parkTime, type RawWaiter } from "./waiter.js";

/** Words a raw barrier occupies. */
export const BARRIER_WORDS = 2;

/** Result of {@link arrive}: `leader` is `true` for the party that completed the generation. */
export interface Arrival {
  leader: boolean;
  generation: number;
}

/** Arrives at the barrier. The last party of a generation releases the others and is the leader. */
export function arrive(A: AtomicsLike, w: Int32Array, i: number, n: number): Arrival {
  const generation = A.load(w, i + 1);
  const arrived = A.add(w, i, 1) + 1;
  if (arrived < n) return { leader: false, generation };
  A.store(w, i, 0);
  A.add(w, i + 1, 1);
  A.notify(w, i + 1);
  return { leader: true, generation };
}

/** `true` once `generation` has completed; otherwise prepares `waiter` to park on GENERATION. */
export function waitStep(A: AtomicsLike, w: Int32Array, i: number, generation: number, waiter: RawWaiter): boolean {
  if (A.load(w, i + 1) !== generation) return true;
  waiter.parked = true;
  waiter.index = i + 1;
  waiter.expected = generation;
  waiter.parkTimeout = POLL_MS;
  return false;
}

/** Waits for `generation` to complete, parking through `A.wait`. Returns `false` on timeout. */
export function waitBlocking(
  A: AtomicsLike,
  w: Int32Array,
  i: number,
  generation: number,
  now: Clock,
  timeout: number,
): boolean {
  const waiter = newWaiter(0);
  const deadline = now() + timeout;
  while (!waitStep(A, w, i, generation, waiter)) {
    const time = parkTime(waiter, deadline, now());
    if (time <= 0) return false;
    A.wait(w, waiter.index, waiter.expected, time);
  }
  return true;
}
