/**
 * A counting semaphore over two words.
 *
 * Step functions (every shared access goes through `A`):
 * - {@link tryAcquire}`(A, w, i, n)` → {@link ACQUIRED} | {@link BUSY} | {@link CLOSED}
 * - {@link acquireStep}`(A, w, i, n, waiter)` → same codes, or {@link PARK} (park on `w[waiter.index]`
 *   while it equals `waiter.expected`); after the last step the caller calls {@link leave}.
 * - {@link release}`(A, w, i, n)`, {@link close}`(A, w, i)`, {@link acquireBlocking}.
 *
 * Words:
 *
 * | word  | bits  | name    | meaning                                 | who may change it                      |
 * |-------|-------|---------|-----------------------------------------|----------------------------------------|
 * | i     | 0–30  | PERMITS | free permits, 0 … 2^31 − 1               | acquirers (CAS down), releasers (CAS up) |
 * | i     | 31    | CLOSED  | set once by `close`, never cleared       | `close` (`A.or`)                       |
 * | i + 1 | 0–31  | PARKED  | acquires registered as waiting           | each waiter: +1 before parking, −1 on leaving |
 *
 * CLOSED lives in the PERMITS word so that closing changes the value waiters park on: a close between a
 * waiter's check and its park makes the park return at once.
 *
 * No lost wake-up (Dekker, all accesses sequentially consistent): a waiter increments PARKED and then
 * reads PERMITS; a releaser adds to PERMITS and then reads PARKED. Either the releaser sees the waiter
 * (and notifies all of PERMITS), or the waiter sees the new permits. Releases wake *all* waiters:
 * requests differ in size, and a wake-up swallowed by an abandoned `waitAsync` must not strand anyone.
 *
 * Fairness: none across threads (a large request can be overtaken by small ones); see the wrapper docs.
 */
import type { AtomicsLike } from "./atomics-like.js";
import { type Clock, newWaiter, POLL_MS, parkTime, type RawWaiter } from "./waiter.js";

export const ACQUIRED = 0;
export const BUSY = 1;
export const CLOSED = 2;
export const PARK = 3;
export type AcquireResult = typeof ACQUIRED | typeof BUSY | typeof CLOSED;
export const MAX_PERMITS = 2 ** 31 - 1;
/** Words a raw semaphore occupies. */
export const SEMAPHORE_WORDS = 2;
/** The CLOSED bit of the PERMITS word (the sign bit: a closed word reads negative). */
export const CLOSED_BIT = 1 << 31;

/** Free permits in a PERMITS word value. */
export function permitsOf(word: number): number {
  return word & MAX_PERMITS;
}

/** Takes `n` permits if available now. */
export function tryAcquire(A: AtomicsLike, w: Int32Array, i: number, n: number): AcquireResult {
  let c = A.load(w, i);
  if (c < 0) return CLOSED;
  while (c >= n) {
    const prev = A.compareExchange(w, i, c, c - n);
    if (prev === c) return ACQUIRED;
    c = prev;
  }
  return BUSY;
}

/** One acquire attempt; registers the waiter in PARKED before its first park. */
export function acquireStep(
  A: AtomicsLike,
  w: Int32Array,
  i: number,
  n: number,
  waiter: RawWaiter,
): typeof ACQUIRED | typeof CLOSED | typeof PARK {
  for (;;) {
    const c = A.load(w, i);
    if (c < 0) return CLOSED;
    if (c >= n) {
      if (A.compareExchange(w, i, c, c - n) === c) return ACQUIRED;
      continue;
    }
    if (!waiter.registered) {
      // Register, then re-read PERMITS (see the module docs).
      A.add(w, i + 1, 1);
      waiter.registered = true;
      continue;
    }
    waiter.parked = true;
    waiter.index = i;
    waiter.expected = c;
    waiter.parkTimeout = POLL_MS;
    return PARK;
  }
}

/** Unregisters a waiter (acquired, closed, timed out or aborted). */
export function leave(A: AtomicsLike, w: Int32Array, i: number, waiter: RawWaiter): void {
  if (!waiter.registered) return;
  waiter.registered = false;
  A.sub(w, i + 1, 1);
}

/**
 * Adds `n` permits. Returns `false` (and adds nothing) if that would pass {@link MAX_PERMITS}.
 * On a closed semaphore it does nothing and returns `true` (permits no longer matter).
 */
export function release(A: AtomicsLike, w: Int32Array, i: number, n: number): boolean {
  let c = A.load(w, i);
  for (;;) {
    if (c < 0) return true;
    if (c > MAX_PERMITS - n) return false;
    const prev = A.compareExchange(w, i, c, c + n);
    if (prev === c) break;
    c = prev;
  }
  if (A.load(w, i + 1) > 0) A.notify(w, i);
  return true;
}

/** Closes: pending and future acquires fail with CLOSED. */
export function close(A: AtomicsLike, w: Int32Array, i: number): void {
  A.or(w, i, CLOSED_BIT);
  A.notify(w, i);
}

/** Acquire, parking through `A.wait`. Returns ACQUIRED, CLOSED or BUSY (timed out). */
export function acquireBlocking(
  A: AtomicsLike,
  w: Int32Array,
  i: number,
  n: number,
  now: Clock,
  timeout: number,
): AcquireResult {
  const first = tryAcquire(A, w, i, n);
  if (first !== BUSY) return first;
  const waiter = newWaiter(0);
  const deadline = now() + timeout;
  try {
    for (;;) {
      const result = acquireStep(A, w, i, n, waiter);
      if (result !== PARK) return result;
      const time = parkTime(waiter, deadline, now());
      if (time <= 0) return BUSY;
      A.wait(w, waiter.index, waiter.expected, time);
    }
  } finally {
    leave(A, w, i, waiter);
  }
}
