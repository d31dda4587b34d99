import { PoisonError, TimeoutError, UseAfterReleaseError } from "../errors.js";
import { Deadline } from "../internal/deadline.js";
import { markNotSend } from "../internal/not-send.js";
import { nameFor, observer } from "../internal/observer.js";
import {
  checkFunction,
  checkLockOptions,
  checkOptionsObject,
  checkTimeout,
  describe,
  readLockOptions,
} from "../internal/validate.js";
import { WaitQueue } from "../internal/wait-queue.js";
import { interiorMutable, type LockOptions, type NameOptions } from "../types.js";
import { MutexGuard, mutexOfGuard } from "./mutex.js";

const REACQUIRE: LockOptions = { ignorePoison: true };

/** What {@link Condvar.waitTimeout} resolves with. */
export interface CondvarWaitTimeoutResult<T> {
  /** The re-acquired lock: always held, whether or not the wait timed out. */
  guard: MutexGuard<T>;
  /** `true` when the time ran out before a notification arrived. */
  timedOut: boolean;
}

/**
 * A condition variable for {@link Mutex} (Rust's `std::sync::Condvar`, async): a task holding a mutex
 * waits, with the mutex released, until another task notifies it, then holds the mutex again.
 *
 * Always wait in a loop that re-checks the condition (or use {@link Condvar.waitWhile}): a woken task
 * re-acquires the mutex behind everybody already queued for it, and one of them may have changed the
 * state first.
 *
 * @example
 * ```ts
 * const queue = new Mutex<string[]>([]);
 * const nonEmpty = new Condvar();
 *
 * // consumer
 * let guard = await queue.lock();
 * guard = await nonEmpty.waitWhile(guard, (items) => items.length === 0);
 * const item = guard.value.shift();
 * guard.release();
 *
 * // producer
 * await queue.withLock((g) => g.value.push("job"));
 * nonEmpty.notifyOne();
 * ```
 *
 * Wait with a guard from `lock()`, not inside `withLock`: `wait` releases the guard it is given and
 * returns a new one, which `withLock` would not release for you. One condvar may serve several
 * mutexes (each waiter re-acquires its own); Rust forbids that, here it is merely unusual.
 *
 * **No lost wake-ups**: `wait()` registers as a waiter *before* it releases the mutex, so a
 * notification sent by anyone who takes the mutex after that release reaches it.
 *
 * **Fairness**: waiters are notified in FIFO order; a notified waiter then queues for the mutex (FIFO
 * too). A notification with nobody waiting is not stored (unlike {@link Notify}).
 *
 * **Cancel safety**: a wait that is aborted or times out before it is notified leaves the waiter queue
 * at once, re-acquires the mutex, releases it again, then rejects: the caller holds nothing
 * afterwards. A wake that races with the abort (the signal is aborted before the woken wait resumes)
 * is handed on: the wait rejects the same way and a `notifyOne()` wake passes to the next waiter, so
 * it is never lost. An abort that comes later, while the mutex is being re-acquired, is ignored: the
 * wait resolves with the guard. The re-acquire itself is not cancellable (it is what makes a rejected
 * wait leave the lock as it found it).
 *
 * **Poisoning**: the mutex is always re-acquired (as with `ignorePoison: true`). If it is then
 * poisoned and the call did not pass `{ ignorePoison: true }`, the lock is released again and the
 * wait rejects with {@link PoisonError} — the `Mutex.lock()` rule; like it, no guard hides in the error.
 */
export class Condvar {
  declare readonly [interiorMutable]: true;
  /** Waiting tasks; a notify with nobody waiting stores nothing. */
  readonly #queue: WaitQueue;
  readonly #name: string;

  /** @param options - `name`: its name in errors and diagnostics (default `Condvar#n`). */
  constructor(options?: NameOptions) {
    markNotSend(this);
    checkOptionsObject("options", options);
    this.#name = nameFor("Condvar", options);
    this.#queue = new WaitQueue(false, this);
  }

  /** The name given to the constructor, or `Condvar#n` (the n-th Condvar created). */
  get name(): string {
    return this.#name;
  }

  /** Number of tasks waiting for a notification right now (not counting those re-acquiring the mutex). */
  get waiters(): number {
    return this.#queue.waiters;
  }

  /**
   * Releases `guard`'s mutex, waits for a notification, re-acquires the mutex and resolves with a new
   * guard. `guard` is released whatever happens (except when the arguments are invalid).
   *
   * @example
   * ```ts
   * let guard = await mutex.lock();
   * while (!guard.value.ready) guard = await condvar.wait(guard);
   * ```
   *
   * **Cancel safety**: see the class docs: on abort (`signal.reason`) or timeout (`TimeoutError`) the
   * mutex is re-acquired and released before the rejection; an already-aborted signal releases `guard`
   * and rejects without waiting.
   *
   * **Throws** (rejects): `UseAfterReleaseError` when `guard` is already released; `PoisonError` (see
   * the class docs); `TypeError` when `guard` is not a `MutexGuard`, `TypeError` / `RangeError` for
   * bad options.
   */
  async wait<T>(guard: MutexGuard<T>, given?: LockOptions): Promise<MutexGuard<T>> {
    const options = readLockOptions(given);
    if (observer !== undefined) {
      return (await observer.around(this, "wait", options, (o) => this.#wait(guard, o, false))).guard;
    }
    return (await this.#wait(guard, options, false)).guard;
  }

  /**
   * Waits while `predicate(guard.value)` is `true`: checks it first (holding the lock), and after every
   * wake-up. Resolves with the guard under which the predicate returned `false`.
   *
   * `timeout` bounds the whole call, not each wait.
   *
   * @example
   * ```ts
   * guard = await condvar.waitWhile(guard, (state) => state.pending > 0, { timeout: 5_000 });
   * ```
   *
   * **Cancel safety**: as {@link Condvar.wait}. If `predicate` throws, the current guard is released
   * and the call rejects with what it threw (the mutex is not poisoned).
   *
   * **Throws** (rejects): as {@link Condvar.wait}; `TypeError` when `predicate` is not a function.
   */
  waitWhile<T>(guard: MutexGuard<T>, predicate: (value: T) => boolean, given?: LockOptions): Promise<MutexGuard<T>> {
    let options: LockOptions | undefined;
    try {
      options = readLockOptions(given);
    } catch (error) {
      return Promise.reject(error);
    }
    if (observer !== undefined) {
      return observer.around(this, "waitWhile", options, (o) => this.#waitWhile(guard, predicate, o));
    }
    return this.#waitWhile(guard, predicate, options);
  }

  async #waitWhile<T>(
    guard: MutexGuard<T>,
    predicate: (value: T) => boolean,
    options?: LockOptions,
  ): Promise<MutexGuard<T>> {
    checkGuard(guard);
    if (guard.released) throw releasedGuard();
    checkFunction("predicate", predicate);
    checkLockOptions(options);
    if (options?.signal?.aborted) {
      guard.release();
      throw options.signal.reason;
    }
    let current = guard;
    const deadline =
      options?.timeout === undefined ? undefined : new Deadline(options.timeout, options.signal, this.#name);
    const waitOptions: LockOptions | undefined =
      deadline === undefined
        ? options
        : { signal: deadline.signal, ignorePoison: options?.ignorePoison === true, timeout: undefined };
    try {
      for (;;) {
        let again: boolean;
        try {
          again = predicate(current.value);
        } catch (error) {
          current.release();
          throw error;
        }
        if (!again) return current;
        current = await this.wait(current, waitOptions);
      }
    } finally {
      deadline?.dispose();
    }
  }

  /**
   * Like {@link Condvar.wait} with a timeout in milliseconds, but a timeout is not an error: it
   * resolves with the re-acquired guard and `timedOut: true` (Rust's `wait_timeout`).
   *
   * @example
   * ```ts
   * const { guard: next, timedOut } = await condvar.waitTimeout(guard, 100);
   * ```
   *
   * **Cancel safety**: as {@link Condvar.wait}; only the wait for a notification is timed, not the
   * re-acquire. `options.signal` still aborts (rejecting, as in `wait`).
   *
   * **Throws** (rejects): as {@link Condvar.wait}; `TypeError` / `RangeError` when `ms` is not a number
   * of milliseconds (any finite number ≥ 0).
   */
  async waitTimeout<T>(
    guard: MutexGuard<T>,
    ms: number,
    given?: Omit<LockOptions, "timeout">,
  ): Promise<CondvarWaitTimeoutResult<T>> {
    checkGuard(guard);
    const options = readLockOptions(given as LockOptions | undefined);
    // Required: `undefined` is not "no timeout" here.
    if (ms === undefined)
      throw new TypeError("Expected `ms` to be a finite number of milliseconds (0 or more), got undefined");
    checkTimeout(ms, "ms");
    checkLockOptions(options);
    const waitOptions: LockOptions = {
      signal: options?.signal,
      ignorePoison: options?.ignorePoison === true,
      timeout: ms,
    };
    if (observer !== undefined)
      return observer.around(this, "waitTimeout", waitOptions, (o) => this.#wait(guard, o, true));
    return this.#wait(guard, waitOptions, true);
  }

  /** Wakes the longest waiter, if any. Nothing is stored when nobody waits. */
  notifyOne(): void {
    if (observer !== undefined) observer.sync(this, "notifyOne");
    this.#queue.wakeOne();
  }

  /** Wakes every task waiting now. */
  notifyAll(): void {
    if (observer !== undefined) observer.sync(this, "notifyAll");
    this.#queue.wakeAll();
  }

  /**
   * The shared wait: a timeout resolves with `timedOut: true` (the caller decides whether that is an
   * error); an abort rejects after the lock has been re-taken and released.
   */
  async #wait<T>(
    guard: MutexGuard<T>,
    options: LockOptions | undefined,
    timeoutIsResult: boolean,
  ): Promise<CondvarWaitTimeoutResult<T>> {
    checkGuard(guard);
    const mutex = mutexOfGuard(guard);
    if (mutex === undefined) throw releasedGuard();
    checkLockOptions(options);
    if (options?.signal?.aborted) {
      // Nothing was released yet, so there is nothing to re-acquire: giving the guard back is the
      // whole cleanup.
      guard.release();
      throw options.signal.reason;
    }
    // Register first, release second: a notify from whoever takes the mutex next must find us queued.
    const notified = this.#queue.wait(options);
    guard.release();
    let outcome: unknown;
    let failed = false;
    try {
      // A wake that raced with an abort throws here, and a notifyOne wake passes on to the next waiter.
      this.#queue.afterWake(await notified, options?.signal);
    } catch (error) {
      failed = true;
      outcome = error;
    }
    const next = (await mutex.lock(REACQUIRE)) as MutexGuard<T>;
    const timedOut = failed && timeoutIsResult && outcome instanceof TimeoutError;
    if (failed && !timedOut) {
      next.release();
      throw outcome;
    }
    if (mutex.isPoisoned && options?.ignorePoison !== true) {
      next.release();
      throw new PoisonError(
        `${mutex.name} is poisoned: a holder failed while holding it; wait with { ignorePoison: true } or clearPoison() to recover`,
      );
    }
    return { guard: next, timedOut };
  }
}

function releasedGuard(): UseAfterReleaseError {
  return new UseAfterReleaseError("Cannot wait on a Condvar with a MutexGuard after release()");
}

function checkGuard(guard: unknown): void {
  if (!(guard instanceof MutexGuard)) {
    throw new TypeError(`Expected \`guard\` to be a MutexGuard, got ${describe(guard)}`);
  }
}
