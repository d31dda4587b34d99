/**
 * A condition variable as a sequence counter (the futex condvar of Rust's std).
 *
 * Step functions (every shared access goes through `A`):
 * - {@link prepareWait}`(A, w, i)` — read the sequence *before* unlocking the mutex.
 * - then the caller unlocks, and parks on `w[i]` with the value it read (`A.wait` / `waitAsync`).
 * - {@link notifyOne}`(A, w, i)` / {@link notifyAll}`(A, w, i)` — bump the sequence, then notify.
 *
 * Word layout (`w[i]`, one `Int32`):
 *
 * | bits | name | meaning                                   | who may change it             |
 * |------|------|-------------------------------------------|-------------------------------|
 * | 0–31 | SEQ  | notifications so far (wraps around)       | notifiers (`A.add`), nobody else |
 *
 * No lost wake-up: a notify between the waiter's unlock and its park changes SEQ, so the park returns
 * "not-equal" at once. Wake-ups may be spurious (a wrap-around after 2^32 notifies, a `notifyOne`
 * whose wake-up was swallowed by an abandoned `waitAsync` and forwarded): callers re-check their
 * condition, as with every condition variable.
 */
import type { AtomicsLike } from "./atomics-like.js";

/** Words a raw condvar occupies. */
export const CONDVAR_WORDS = 1;

/** The sequence to park on; read it while still holding the mutex. */
export function prepareWait(A: AtomicsLike, w: Int32Array, i: number): number {
  return A.load(w, i);
}

/** Wakes one waiter. */
export function notifyOne(A: AtomicsLike, w: Int32Array, i: number): void {
  A.add(w, i, 1);
  A.notify(w, i, 1);
}

/** Wakes every waiter. */
export function notifyAll(A: AtomicsLike, w: Int32Array, i: number): void {
  A.add(w, i, 1);
  A.notify(w, i);
}
