import { markNotSend } from "../internal/not-send.js";
import { nameFor, observer } from "../internal/observer.js";
import { checkOptionsObject, precheck, readAcquireOptions } from "../internal/validate.js";
import { WaitQueue } from "../internal/wait-queue.js";
import { type AcquireOptions, interiorMutable, type NameOptions } from "../types.js";

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
  readonly #queue: WaitQueue;
  readonly #name: string;

  /** @param options - `name`: its name in errors and diagnostics (default `Notify#n`). */
  constructor(options?: NameOptions) {
    markNotSend(this);
    checkOptionsObject("options", options);
    this.#name = nameFor("Notify", options);
    this.#queue = new WaitQueue(true, this);
  }

  /** The name given to the constructor, or `Notify#n` (the n-th Notify created). */
  get name(): string {
    return this.#name;
  }

  /** Number of tasks waiting in `notified()` right now. */
  get waiters(): number {
    return this.#queue.waiters;
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
  notified(given?: AcquireOptions): Promise<void> {
    let options: AcquireOptions | undefined;
    try {
      options = readAcquireOptions(given);
    } catch (error) {
      return Promise.reject(error);
    }
    if (observer !== undefined) return observer.around(this, "notified", options, (o) => this.#notified(o));
    return this.#notified(options);
  }

  #notified(options: AcquireOptions | undefined): Promise<void> {
    if (options !== undefined) {
      const early = precheck(options);
      if (early !== undefined) return early;
    }
    if (this.#queue.tryTake()) return Promise.resolve();
    const signal = options?.signal;
    const woken = this.#queue.wait(options);
    if (signal === undefined) return woken as Promise<void>;
    return woken.then((wakeKind) => this.#queue.afterWake(wakeKind, signal));
  }

  /**
   * Wakes the longest waiter; if nobody waits, stores one notification for the next `notified()`
   * (several calls with nobody waiting still store only one).
   */
  notifyOne(): void {
    if (observer !== undefined) observer.sync(this, "notifyOne");
    this.#queue.wakeOne();
  }

  /** Wakes every task waiting now; stores nothing for tasks that call `notified()` later. */
  notifyWaiters(): void {
    if (observer !== undefined) observer.sync(this, "notifyWaiters");
    this.#queue.wakeAll();
  }
}
