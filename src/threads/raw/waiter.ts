/**
 * The local state of one acquire while it runs a raw algorithm's step function.
 *
 * Raw algorithms are written as small synchronous steps (`*Step(A, …, waiter)`): a step either
 * finishes (returns a result) or says where to park — it stores the word index and the value it saw in
 * `waiter.index` / `waiter.expected`, and the timeout to park with in `waiter.parkTimeout`. A driver then
 * parks there: the blocking driver through `A.wait`, the async driver (src/threads/runtime/wait.ts) through
 * `Atomics.waitAsync`, the model checker through its stand-in. After any wake-up (notify, timeout or
 * "not-equal") the driver calls the step again; steps re-read everything, so spurious wake-ups and
 * wake-ups stolen by an abandoned `waitAsync` cost time, never correctness.
 *
 * Only the acquiring thread touches a `RawWaiter`: it is a plain local, not shared memory.
 */
export interface RawWaiter {
  /** `true` once this acquire has parked at least once (it is then a *waiter*, not a newcomer). */
  parked: boolean;
  /** Clock reading when it first parked. */
  since: number;
  /** Remaining spin budget (re-reads of a locked word before parking). */
  spins: number;
  /** Index, in the primitive's `Int32Array`, of the word to park on. */
  index: number;
  /** The value the word held when the step decided to park (`A.wait(…, expected, …)`). */
  expected: number;
  /** Longest time to park before re-running the step, in milliseconds. */
  parkTimeout: number;
  /** Primitive-specific flag (semaphore: registered in the waiter count). */
  registered: boolean;
  /**
   * `true` once the driver has reported a park's outcome with {@link recordWait}. Drivers that report
   * let the steps tell a waiter that really slept from one whose park returned "not-equal" at once.
   */
  reported: boolean;
  /** `true` once a reported park actually slept ("ok" or "timed-out", not "not-equal"). */
  slept: boolean;
}

/** What `A.wait` / `waitAsync` said about one park. */
export type WaitOutcome = "ok" | "not-equal" | "timed-out";

/**
 * Drivers call this with the outcome of every park. A park that returned "not-equal" did not sleep:
 * the waiter does not count as having waited (raw-mutex: it may not claim a hand-off).
 */
export function recordWait(waiter: RawWaiter, outcome: WaitOutcome): void {
  waiter.reported = true;
  if (outcome !== "not-equal") waiter.slept = true;
}

/**
 * Whether `waiter` counts as a sleeper: it slept in a reported park, or (a driver that does not report
 * outcomes) it has parked at all.
 */
export function hasSlept(waiter: RawWaiter): boolean {
  return waiter.reported ? waiter.slept : waiter.parked;
}

/** Re-reads of a busy word before parking. Short: JS has no pause instruction, and parking is cheap. */
export const SPIN_LIMIT = 40;

/**
 * Re-reads of a busy mutex word before an async acquire parks (about 30 µs in Node 20 at ~10 ns per
 * re-read). A `waitAsync` park costs far more than an `Atomics.wait` one (a promise, a task posted to
 * the event loop, the keep-alive), about as much as this spin: spinning for about the cost of a park
 * (the classic competitive bound): 2 workers × 100k contended `await lock()` ran in ~0.8× the time of
 * a 40-spin park (median of interleaved A/B runs). The spin blocks the event loop, so only the first
 * waiter of a thread spins this long (see Mutex.lock), and never on a lock its own thread holds
 * (raw-mutex).
 */
export const ASYNC_SPIN_LIMIT = 3000;

/**
 * Longest a waiter parks before it re-checks the word on its own (owner death, a stolen wake-up).
 * This bounds how long a waiter can miss the death of the lock's owner: the supervisor marks the owner
 * dead, and every waiter sees it within one poll.
 */
export const POLL_MS = 50;

/** A clock in milliseconds (`performance.now` in production; the model checker passes its own). */
export type Clock = () => number;

/** A fresh waiter state. `spins`: spin budget (0 disables spinning, which the model checker may prefer). */
export function newWaiter(spins: number = SPIN_LIMIT): RawWaiter {
  return {
    parked: false,
    since: 0,
    spins,
    index: 0,
    expected: 0,
    parkTimeout: POLL_MS,
    registered: false,
    reported: false,
    slept: false,
  };
}

/**
 * Remaining time before `deadline` (a clock reading, or `Infinity`), capped by the waiter's park timeout.
 * Returns 0 or less once the deadline has passed.
 */
export function parkTime(waiter: RawWaiter, deadline: number, now: number): number {
  return Math.min(deadline - now, waiter.parkTimeout);
}
