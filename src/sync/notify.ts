import { BatchSemaphore } from "../internal/batch-semaphore.js";
import { markNotSend } from "../internal/not-send.js";
import { precheck } from "../internal/validate.js";
import { type AcquireOptions, interiorMutable } from "../types.js";

/** Tag of a waiter with a signal: its grant says how it was woken, so an abort can hand it on. */
const ABORTABLE = 1;
/** What an abortable waiter's grant resolves with: woken by `notifyOne` (hand on) or by `notifyWaiters`. */
const BY_ONE = 1;
const BY_ALL = 2;

/**
 * Wakes tasks that wait for an event (tokio's `Notify`). It carries no data: pair it with state that
 * the notified task re-checks.
 *
 * Built on the batch-semaphore core with zero permits: a waiter is an acquire of one permit,
 * `notifyOne()` releases one, `notifyWaiters()` releases exactly as many as are queued.
 * Invariant: a stored permit (at most one) exists only while nobody waits, because a waiter that
 * arrives takes it at once.
 *
 * @example
 * ```ts
 * const ready = new Notify();
 * const consumer = (async () => {
 *   await ready.notified();
 *   console.log("woken");
 * })();
 * ready.notifyOne();
 * await consumer;
 * ```
 *
 * **Fairness**: strict FIFO: `notifyOne()` wakes the longest waiter.
 *
 * **Cancel safety**: a `notified({ signal, timeout })` that is aborted or times out leaves the queue at
 * once, so a later `notifyOne()` goes to the next waiter (or is stored); no timer or listener stays
 * behind. A wake that races with the abort — the signal is aborted before the woken caller resumes —
 * is handed on: the call rejects with `signal.reason` and a `notifyOne()` notification passes to the
 * next waiter (or is stored), as tokio does for a dropped `Notified`. A `notifyWaiters()` wake is not
 * handed on (it is for the tasks waiting at that moment only). So a `notifyOne()` notification is
 * always either seen by exactly one caller or still available — never lost.
 */
export class Notify {
  declare readonly [interiorMutable]: true;
  /** How the grants being made right now were caused; read by the core's grant callback. */
  #wakeKind = BY_ONE;
  readonly #sem = new BatchSemaphore(0, (tag) => (tag === ABORTABLE ? this.#wakeKind : undefined));

  constructor() {
    markNotSend(this);
  }

  /** Number of tasks waiting in `notified()` right now. */
  get waiters(): number {
    return this.#sem.waiters;
  }

  /**
   * Waits for a notification. Resolves at once when `notifyOne()` stored one (and consumes it).
   *
   * @example
   * ```ts
   * await notify.notified({ timeout: 1_000 });
   * ```
   *
   * **Cancel safety**: on abort (rejects with `signal.reason`) or timeout (rejects with `TimeoutError`)
   * the waiter leaves the queue at once and consumes nothing; an already-aborted signal rejects
   * without consuming a stored notification. A `notifyOne()` wake that races with the abort is handed
   * on (see the class docs).
   *
   * **Throws** (rejects): `TypeError` / `RangeError` for bad options.
   */
  notified(options?: AcquireOptions): Promise<void> {
    if (options !== undefined) {
      const early = precheck(options);
      if (early !== undefined) return early;
    }
    if (this.#sem.tryAcquire(1)) return Promise.resolve();
    const signal = options?.signal;
    if (signal === undefined) return this.#sem.acquire(1, 0, options) as Promise<void>;
    return this.#sem.acquire(1, ABORTABLE, options).then((wakeKind) => {
      // Woken, but aborted before the caller could see it (the abort came in the same synchronous run
      // as the wake, or an earlier abort listener sent the notification): the abort wins, and a
      // `notifyOne` notification goes on to the next waiter (or is stored) instead of being lost.
      if (!signal.aborted) return;
      if (wakeKind === BY_ONE) this.notifyOne();
      throw signal.reason;
    });
  }

  /**
   * Wakes the longest waiter; if nobody waits, stores one notification for the next `notified()`
   * (several calls with nobody waiting still store only one).
   */
  notifyOne(): void {
    // With waiters queued the pool is empty, so this hands one permit to the head; with nobody queued
    // it stores a permit unless one is already stored.
    if (this.#sem.available === 0) this.#sem.release(1);
  }

  /** Wakes every task waiting now; stores nothing for tasks that call `notified()` later. */
  notifyWaiters(): void {
    const waiters = this.#sem.waiters;
    // Each waiter asks for exactly one permit, so `waiters` permits drain the whole queue to 0 left.
    if (waiters === 0) return;
    this.#wakeKind = BY_ALL;
    try {
      this.#sem.release(waiters);
    } finally {
      this.#wakeKind = BY_ONE;
    }
  }
}
