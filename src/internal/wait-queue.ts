import type { AcquireOptions } from "../types.js";
import { BatchSemaphore } from "./batch-semaphore.js";
import type { Observable } from "./observer.js";

/** Tag of a waiter with a signal: its grant says how it was woken, so an abort can hand it on. */
const ABORTABLE = 1;
/** What an abortable waiter's grant resolves with: woken by `wakeOne` (hand on) or by `wakeAll`. */
const BY_ONE = 1;
const BY_ALL = 2;

/**
 * A FIFO queue of tasks waiting to be woken: the part `Notify` and `Condvar` share, on the
 * batch-semaphore core with zero permits (a waiter is an acquire of one permit; a wake releases exactly
 * as many permits as it wakes).
 *
 * Invariant: a stored wake-up (at most one, and only when `store` is on) exists only while nobody
 * waits, because a waiter that arrives takes it at once.
 *
 * Cancel safety: a wait whose signal aborts *after* it was woken but before its caller resumed rejects
 * with `signal.reason`, and a `wakeOne` wake passes on to the next waiter (or is stored), so it is never
 * lost; a `wakeAll` wake does not pass on (it was for the tasks waiting at that moment).
 */
export class WaitQueue {
  /** How the grants being made right now were caused; read by the core's grant callback. */
  #wakeKind = BY_ONE;
  readonly #sem = new BatchSemaphore(0, (tag) => (tag === ABORTABLE ? this.#wakeKind : undefined));
  readonly #store: boolean;

  /**
   * @param store - keep one wake-up for the next waiter when `wakeOne` finds nobody (Notify).
   * @param owner - the primitive, for messages and the observer.
   */
  constructor(store: boolean, owner?: Observable) {
    this.#store = store;
    this.#sem.owner = owner;
    this.#sem.modeOf = () => "event";
  }

  /** Tasks waiting right now. */
  get waiters(): number {
    return this.#sem.waiters;
  }

  /** Consumes a stored wake-up, if there is one. */
  tryTake(): boolean {
    return this.#sem.tryAcquire(1);
  }

  /**
   * Queues the caller (synchronously: a wake that comes after this call finds it) and resolves, when it
   * is woken, with how it was woken; pass that to {@link afterWake} once the caller resumes. The caller
   * has validated `options` and checked that the signal is not already aborted.
   */
  wait(options?: AcquireOptions): Promise<unknown> {
    return this.#sem.acquire(1, options?.signal === undefined ? 0 : ABORTABLE, options);
  }

  /**
   * Called as the woken caller resumes: if its signal aborted after the wake, the abort wins — a
   * `wakeOne` wake passes on to the next waiter (or is stored) — and this throws `signal.reason`.
   */
  afterWake(wakeKind: unknown, signal: AbortSignal | undefined): void {
    if (signal === undefined || !signal.aborted) return;
    if (wakeKind === BY_ONE) this.wakeOne();
    throw signal.reason;
  }

  /** Wakes the longest waiter; with nobody waiting, stores one wake-up if `store` is on. */
  wakeOne(): void {
    // With waiters queued the pool is empty, so one permit goes to the head; with nobody queued a
    // permit is stored unless one already is.
    if (this.#sem.waiters > 0 || (this.#store && this.#sem.available === 0)) this.#sem.release(1);
  }

  /** Wakes every task waiting now; stores nothing. */
  wakeAll(): void {
    const waiters = this.#sem.waiters;
    if (waiters === 0) return;
    this.#wakeKind = BY_ALL;
    try {
      this.#sem.release(waiters);
    } finally {
      this.#wakeKind = BY_ONE;
    }
  }
}
