/**
 * A condition variable as a sequence word plus a waiter ledger, so that `notifyOne` wakes exactly one
 * waiter even though every park is bounded (a waiter polls) and a wake-up can land on an abandoned
 * `waitAsync`.
 *
 * Step functions (every shared access goes through `A`):
 * - {@link register}`(A, w, i)` — while still holding the mutex: count this caller as an unwoken waiter.
 * - then the caller unlocks, and loops on {@link waitStep}`(A, w, i, waiter)`: {@link WOKEN} when it
 *   claimed a wake-up, else {@link PARK} (park on `w[waiter.index]` while it equals `waiter.expected`,
 *   at most `waiter.parkTimeout` ms, then step again).
 * - a waiter that gives up (timeout, abort) calls {@link leave}: it withdraws as an unwoken waiter if
 *   there is one left, else it takes a wake-up that was issued to the waiters it belongs to.
 * - {@link notifyOne}`(A, w, i)` / {@link notifyAll}`(A, w, i)` — turn one / every unwoken waiter
 *   into a pending wake-up, bump the sequence, then notify.
 * - {@link waitBlocking}: the `waitStep` + `A.wait` + `leave` loop `Condvar.waitSync` runs;
 *   {@link waitWhileLoop}: the predicate loop of `Condvar.waitWhileSync`.
 *
 * Words:
 *
 * | word  | bits  | name    | meaning                                          | who may change it |
 * |-------|-------|---------|--------------------------------------------------|-------------------|
 * | i     | 0–31  | SEQ     | notifications so far (wraps around)              | notifiers (`A.add`) |
 * | i + 1 | 0–15  | UNWOKEN | registered waiters no notify has been issued for | waiters (+1 register, −1 leave), notifiers (−1) |
 * | i + 1 | 16–31 | PENDING | wake-ups issued and not yet claimed              | notifiers (+1), waiters (−1 claim or leave) |
 *
 * UNWOKEN + PENDING is the number of waiters present. Both halves change together in one
 * compare-exchange. Waiters are not tied to wake-ups: any present waiter may claim a pending one, so
 * `notifyOne` wakes exactly one of the waiters present, not necessarily the oldest.
 *
 * No lost wake-up: a waiter reads SEQ, then looks for a pending wake-up, then parks on the SEQ it
 * read; a notifier publishes the wake-up, then bumps SEQ, then notifies. Either the waiter sees the
 * wake-up, or its park returns "not-equal". A wake-up swallowed by an abandoned `waitAsync` is not
 * lost either: the wake-up stays PENDING, and the waiter it was meant for claims it at its next poll.
 */
import type { AtomicsLike } from "./atomics-like.js";
import { type Clock, newWaiter, POLL_MS, parkTime, type RawWaiter, recordWait } from "./waiter.js";

/** Words a raw condvar occupies. */
export const CONDVAR_WORDS = 2;
/** Most waiters one condvar can have at once (UNWOKEN + PENDING fit 16 bits each). */
export const MAX_WAITERS = 0xffff;

/** {@link waitStep}: this waiter claimed a wake-up. */
export const WOKEN = 0;
/** {@link waitStep}: park, then step again. */
export const PARK = 1;
/** {@link leave}: withdrew before any wake-up was issued for it. */
export const LEFT = 2;

const UNWOKEN_MASK = 0xffff;

function pack(unwoken: number, pending: number): number {
  return unwoken | (pending << 16) | 0;
}

/** Unwoken waiters in a ledger word. */
export function unwokenOf(ledger: number): number {
  return ledger & UNWOKEN_MASK;
}

/** Pending wake-ups in a ledger word. */
export function pendingOf(ledger: number): number {
  return ledger >>> 16;
}

/**
 * Counts the caller as a waiter; call it holding the mutex, before unlocking. Returns `false` (and
 * registers nothing) when {@link MAX_WAITERS} waiters are present already.
 */
export function register(A: AtomicsLike, w: Int32Array, i: number): boolean {
  let c = A.load(w, i + 1);
  for (;;) {
    const unwoken = unwokenOf(c);
    if (unwoken + pendingOf(c) >= MAX_WAITERS) return false;
    const prev = A.compareExchange(w, i + 1, c, pack(unwoken + 1, pendingOf(c)));
    if (prev === c) return true;
    c = prev;
  }
}

/** Claims a pending wake-up ({@link WOKEN}), or prepares `waiter` to park on SEQ ({@link PARK}). */
export function waitStep(A: AtomicsLike, w: Int32Array, i: number, waiter: RawWaiter): typeof WOKEN | typeof PARK {
  const seq = A.load(w, i);
  let c = A.load(w, i + 1);
  while (pendingOf(c) > 0) {
    const prev = A.compareExchange(w, i + 1, c, pack(unwokenOf(c), pendingOf(c) - 1));
    if (prev === c) return WOKEN;
    c = prev;
  }
  waiter.parked = true;
  waiter.index = i;
  waiter.expected = seq;
  waiter.parkTimeout = POLL_MS;
  return PARK;
}

/**
 * A registered waiter gives up: {@link LEFT} when it withdrew as unwoken (a later notify goes to
 * someone else), {@link WOKEN} when every waiter left has been notified, so it took one of their
 * wake-ups (the caller may treat it as a wake-up, or drop it: it was issued to the waiters present,
 * and each of the others has its own).
 */
export function leave(A: AtomicsLike, w: Int32Array, i: number): typeof LEFT | typeof WOKEN {
  let c = A.load(w, i + 1);
  for (;;) {
    const unwoken = unwokenOf(c);
    const next = unwoken > 0 ? pack(unwoken - 1, pendingOf(c)) : pack(0, pendingOf(c) - 1);
    const prev = A.compareExchange(w, i + 1, c, next);
    if (prev === c) return unwoken > 0 ? LEFT : WOKEN;
    c = prev;
  }
}

/** Wakes one unwoken waiter, if there is one (nothing is stored when nobody waits). */
export function notifyOne(A: AtomicsLike, w: Int32Array, i: number): void {
  let c = A.load(w, i + 1);
  for (;;) {
    const unwoken = unwokenOf(c);
    if (unwoken === 0) return;
    const prev = A.compareExchange(w, i + 1, c, pack(unwoken - 1, pendingOf(c) + 1));
    if (prev === c) break;
    c = prev;
  }
  A.add(w, i, 1);
  A.notify(w, i, 1);
}

/** Wakes every unwoken waiter. */
export function notifyAll(A: AtomicsLike, w: Int32Array, i: number): void {
  let c = A.load(w, i + 1);
  for (;;) {
    const unwoken = unwokenOf(c);
    if (unwoken === 0) return;
    const prev = A.compareExchange(w, i + 1, c, pack(0, pendingOf(c) + unwoken));
    if (prev === c) break;
    c = prev;
  }
  A.add(w, i, 1);
  A.notify(w, i);
}

/**
 * A registered waiter's blocking wait (after it has unlocked the mutex): claims a wake-up, parking in
 * bounded steps, until `deadline` (a `now()` reading, or `Infinity`). Returns `true` when woken,
 * `false` when the time ran out (it has left the ledger). This is `Condvar.#waitSync`'s loop.
 */
export function waitBlocking(A: AtomicsLike, w: Int32Array, i: number, now: Clock, deadline: number): boolean {
  const waiter = newWaiter(0);
  while (waitStep(A, w, i, waiter) === PARK) {
    const time = parkTime(waiter, deadline, now());
    if (time <= 0) return leave(A, w, i) !== LEFT;
    recordWait(waiter, A.wait(w, waiter.index, waiter.expected, time));
  }
  return true;
}

/**
 * The predicate loop of `waitWhile`: while `condition(current)` holds, `current = wait(current)`.
 * If `condition` throws, `current` (held) is released with `release` before the error propagates, so
 * the caller holds nothing. `wait` consumes its argument and returns the next held guard (or throws,
 * holding nothing).
 */
export function waitWhileLoop<G>(
  current: G,
  condition: (guard: G) => boolean,
  wait: (guard: G) => G,
  release: (guard: G) => void,
): G {
  for (;;) {
    let again: boolean;
    try {
      again = condition(current);
    } catch (error) {
      release(current);
      throw error;
    }
    if (!again) return current;
    current = wait(current);
  }
}
