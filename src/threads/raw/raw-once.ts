/**
 * A once-lock word: run an initializer exactly once across threads; others wait for it.
 *
 * Step functions (every shared access goes through `A`):
 * - {@link tryStart}`(A, w, i, me, table)` → {@link COMPLETE} | {@link START} (the caller must now run
 *   the initializer and then call {@link complete} or {@link fail}) | {@link RUNNING} (someone else is).
 * - {@link waitStep}`(A, w, i, me, table, waiter)` → `COMPLETE`, `START`, or `RUNNING` after preparing
 *   `waiter` to park.
 * - {@link complete}`(A, w, i)`, {@link fail}`(A, w, i)`.
 *
 * Word layout (`w[i]`, one `Int32`):
 *
 * | bits | name   | meaning                                                  | who may change it           |
 * |------|--------|----------------------------------------------------------|-----------------------------|
 * | 0–1  | STATE  | 0 incomplete, 1 running, 2 complete (final)               | see transitions             |
 * | 2    | QUEUED | a waiter is parked                                        | waiters set, complete/fail clear, start keeps it |
 * | 8–30 | RUNNER | owner id of the running initializer                       | the starter                 |
 *
 * Transitions: `0|Q? → 1|me|Q?` (start); `1|me|Q? → 2` (complete, notify all if QUEUED); `1|me|Q? → 0`
 * (fail: the next caller runs its own initializer; notify all if QUEUED); `1|dead|Q? → 0` (a waiter
 * finds the runner dead: reap, notify all). COMPLETE is final.
 */
import type { AtomicsLike } from "./atomics-like.js";
import { isDead } from "./liveness-table.js";
import { POLL_MS, type RawWaiter } from "./waiter.js";

export const INCOMPLETE = 0;
export const RUNNING = 1;
export const COMPLETE = 2;
export const START = 3;
export const STATE_MASK = 0b11;
export const QUEUED = 1 << 2;
export const RUNNER_SHIFT = 8;
/** Words a raw once-lock occupies. */
export const ONCE_WORDS = 1;

/** Tries to become the initializer. */
export function tryStart(
  A: AtomicsLike,
  w: Int32Array,
  i: number,
  me: number,
  table: Int32Array | undefined,
): typeof COMPLETE | typeof START | typeof RUNNING {
  let s = A.load(w, i);
  for (;;) {
    const state = s & STATE_MASK;
    if (state === COMPLETE) return COMPLETE;
    if (state === INCOMPLETE) {
      // Keep QUEUED: a `wait()`er may already be parked for the completion.
      const prev = A.compareExchange(w, i, s, (s & QUEUED) | RUNNING | (me << RUNNER_SHIFT));
      if (prev === s) return START;
      s = prev;
      continue;
    }
    const runner = s >>> RUNNER_SHIFT;
    if (!isDead(A, table, runner)) return RUNNING;
    // The runner died mid-initialization: reset so that a live caller runs its own initializer.
    const prev = A.compareExchange(w, i, s, INCOMPLETE | (s & QUEUED));
    if (prev === s) {
      A.notify(w, i);
      s = INCOMPLETE;
    } else {
      s = prev;
    }
  }
}

/** One wait attempt: like {@link tryStart}, but prepares `waiter` to park when someone else is running. */
export function waitStep(
  A: AtomicsLike,
  w: Int32Array,
  i: number,
  me: number,
  table: Int32Array | undefined,
  waiter: RawWaiter,
): typeof COMPLETE | typeof START | typeof RUNNING {
  for (;;) {
    const result = tryStart(A, w, i, me, table);
    if (result !== RUNNING) return result;
    const s = A.load(w, i);
    if ((s & STATE_MASK) !== RUNNING) continue;
    if ((s & QUEUED) === 0 && A.compareExchange(w, i, s, s | QUEUED) !== s) continue;
    waiter.parked = true;
    waiter.index = i;
    waiter.expected = s | QUEUED;
    waiter.parkTimeout = POLL_MS;
    return RUNNING;
  }
}

/** The initializer finished: the value is visible to everyone from now on. */
export function complete(A: AtomicsLike, w: Int32Array, i: number): void {
  if ((A.exchange(w, i, COMPLETE) & QUEUED) !== 0) A.notify(w, i);
}

/** The initializer failed: back to incomplete, so the next caller runs its own. */
export function fail(A: AtomicsLike, w: Int32Array, i: number): void {
  if ((A.exchange(w, i, INCOMPLETE) & QUEUED) !== 0) A.notify(w, i);
}

/** `true` once complete. */
export function isComplete(A: AtomicsLike, w: Int32Array, i: number): boolean {
  return (A.load(w, i) & STATE_MASK) === COMPLETE;
}
