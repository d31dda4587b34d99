import { UseAfterReleaseError } from "../errors.js";
import { checkFunction, checkOptionsObject, describe, precheck } from "../internal/validate.js";
import { type AcquireOptions, interiorMutable } from "../types.js";
import { checkHandle, checkSharedBuffer, type HandleBase, LAYOUT_VERSION } from "./handle.js";
import { isMutexGuard, type Mutex, type MutexGuard, mutexOfGuard } from "./mutex.js";
import { realAtomics as A } from "./raw/atomics-like.js";
import * as raw from "./raw/raw-condvar.js";
import { POLL_MS } from "./raw/waiter.js";
import type { GuardValue } from "./shared-data.js";
import { assertCanBlock, checkSyncOptions, deadlineOf, now, parkAsync, timeoutError } from "./wait.js";

const TAG = "lockbox.threads.Condvar";

/** The structured-clone-safe form of a {@link Condvar}. */
export interface CondvarHandle extends HandleBase<typeof TAG> {
  /** The sequence word (see src/threads/raw/raw-condvar.ts). */
  readonly buffer: SharedArrayBuffer;
}

/** What {@link Condvar.waitTimeout} resolves with. */
export interface WaitTimeoutResult<T> {
  /** The re-acquired guard. */
  guard: MutexGuard<T>;
  /** `true` when the wait ended because the time ran out. */
  timedOut: boolean;
}

let restoring: CondvarHandle | undefined;

/** The mutex `guard` holds: TypeError for anything but a threads MutexGuard, UseAfterReleaseError once released. */
function guardedMutex<T>(guard: MutexGuard<T>, method: string): Mutex<T> {
  if (!isMutexGuard(guard)) {
    throw new TypeError(`Expected \`guard\` to be a MutexGuard of a lockbox/threads Mutex, got ${describe(guard)}`);
  }
  const mutex = mutexOfGuard(guard);
  if (mutex === undefined)
    throw new UseAfterReleaseError(`Condvar.${method}() needs a MutexGuard that is not released`);
  return mutex;
}

/**
 * A condition variable across threads (Rust's `std::sync::Condvar`): wait, with a threads `Mutex`
 * held, until another thread notifies. `wait` releases the mutex, parks, re-acquires it, and returns a
 * new guard (the old one is released).
 *
 * @example
 * ```ts
 * const ready = new Mutex(new Int32Array(new SharedArrayBuffer(4)));
 * const changed = new Condvar();
 * // consumer (any thread)
 * let guard = await ready.lock();
 * guard = await changed.waitWhile(guard, (value) => value[0] === 0);
 * guard.release();
 * // producer (any thread)
 * ready.withLockSync((g) => {
 *   g.value[0] = 1;
 * });
 * changed.notifyAll();
 * ```
 *
 * Wake-ups may be spurious (as with every condition variable): check the condition in a loop, or use
 * `waitWhile`. A notify between the waiter's unlock and its park is never lost.
 *
 * **Cancel safety**: on abort or timeout the mutex is re-acquired and released again before the
 * rejection, so nothing leaks and the caller holds nothing.
 */
export class Condvar {
  declare readonly [interiorMutable]: true;
  /** The structured-clone-safe handle; see {@link Condvar.from}. */
  readonly handle: CondvarHandle;
  readonly #word: Int32Array;

  constructor() {
    const handle = restoring;
    restoring = undefined;
    if (handle !== undefined) {
      this.#word = new Int32Array(handle.buffer, 0, raw.CONDVAR_WORDS);
      this.handle = handle;
      return;
    }
    this.#word = new Int32Array(new SharedArrayBuffer(raw.CONDVAR_WORDS * 4));
    this.handle = { type: TAG, version: LAYOUT_VERSION, buffer: this.#word.buffer as SharedArrayBuffer };
  }

  /**
   * Rebuilds a condvar from a received handle (or a posted condvar).
   *
   * @example
   * ```ts
   * const changed = Condvar.from(workerData.changed);
   * ```
   *
   * @throws TypeError for anything but a current Condvar handle over shared memory.
   */
  static from(received: unknown): Condvar {
    const handle = checkHandle<CondvarHandle>(received, TAG, "Condvar.from");
    checkSharedBuffer("handle.buffer", handle.buffer, raw.CONDVAR_WORDS * 4);
    restoring = handle;
    try {
      return new Condvar();
    } finally {
      restoring = undefined;
    }
  }

  /**
   * Releases `guard`'s mutex, waits for a notification (without blocking the thread), re-acquires
   * the mutex and resolves with the new guard.
   *
   * @example
   * ```ts
   * guard = await condvar.wait(guard, { timeout: 1_000 });
   * ```
   *
   * **Throws** (rejects): `UseAfterReleaseError` if `guard` is released, `TimeoutError`, the signal's
   * reason, `PoisonError` if the mutex was poisoned meanwhile. In each case the caller holds nothing.
   */
  async wait<T>(guard: MutexGuard<T>, options?: AcquireOptions): Promise<MutexGuard<T>> {
    const { guard: next, timedOut } = await this.#wait(guard, options, "wait");
    if (timedOut) {
      next.release();
      throw timeoutError("Condvar.wait()", options?.timeout);
    }
    return next;
  }

  /**
   * Like {@link wait}, but resolves `{ guard, timedOut }` after `ms` milliseconds instead of rejecting.
   *
   * @example
   * ```ts
   * const { guard: next, timedOut } = await condvar.waitTimeout(guard, 50);
   * ```
   */
  waitTimeout<T>(guard: MutexGuard<T>, ms: number): Promise<WaitTimeoutResult<T>> {
    return this.#wait(guard, { timeout: ms }, "waitTimeout");
  }

  /**
   * Waits while `condition(value)` is `true`, re-checking after every wake-up; resolves with the guard
   * once it is `false`. `timeout` bounds the whole wait.
   *
   * @example
   * ```ts
   * guard = await condvar.waitWhile(guard, (queue) => queue[0] === 0);
   * ```
   */
  async waitWhile<T>(
    guard: MutexGuard<T>,
    condition: (value: GuardValue<T>) => boolean,
    options?: AcquireOptions,
  ): Promise<MutexGuard<T>> {
    checkFunction("condition", condition);
    const early = precheck(options);
    if (early !== undefined) return early;
    const deadline = deadlineOf(options?.timeout);
    let current = guard;
    while (condition(current.value)) {
      const remaining = deadline === Number.POSITIVE_INFINITY ? undefined : Math.max(0, deadline - now());
      current = await this.wait(current, { signal: options?.signal, timeout: remaining });
    }
    return current;
  }

  /**
   * Blocking form of {@link wait}.
   *
   * @example
   * ```ts
   * guard = condvar.waitSync(guard, { timeout: 100 });
   * ```
   *
   * **Throws**: `WouldBlockError` where blocking is forbidden (before releasing anything),
   * `TimeoutError` (after re-acquiring and releasing), `PoisonError`, `UseAfterReleaseError`.
   */
  waitSync<T>(guard: MutexGuard<T>, options?: { timeout?: number | undefined }): MutexGuard<T> {
    const { guard: next, timedOut } = this.#waitSync(guard, options?.timeout, options, "waitSync");
    if (timedOut) {
      next.release();
      throw timeoutError("Condvar.waitSync()", options?.timeout);
    }
    return next;
  }

  /**
   * Blocking form of {@link waitTimeout}.
   *
   * @example
   * ```ts
   * const { guard: next, timedOut } = condvar.waitTimeoutSync(guard, 50);
   * ```
   */
  waitTimeoutSync<T>(guard: MutexGuard<T>, ms: number): WaitTimeoutResult<T> {
    return this.#waitSync(guard, ms, { timeout: ms }, "waitTimeoutSync");
  }

  /**
   * Blocking form of {@link waitWhile}.
   *
   * @example
   * ```ts
   * guard = condvar.waitWhileSync(guard, (value) => value[0] === 0, { timeout: 1_000 });
   * ```
   */
  waitWhileSync<T>(
    guard: MutexGuard<T>,
    condition: (value: GuardValue<T>) => boolean,
    options?: { timeout?: number | undefined },
  ): MutexGuard<T> {
    checkFunction("condition", condition);
    checkSyncOptions(options);
    const deadline = deadlineOf(options?.timeout);
    let current = guard;
    while (condition(current.value)) {
      const remaining = deadline === Number.POSITIVE_INFINITY ? undefined : Math.max(0, deadline - now());
      current = this.waitSync(current, { timeout: remaining });
    }
    return current;
  }

  /**
   * Wakes one waiting thread (or task), if any. Call it after changing the condition under the mutex.
   *
   * @example
   * ```ts
   * mutex.withLockSync((guard) => {
   *   guard.value[0] = 1;
   * });
   * condvar.notifyOne();
   * ```
   *
   * **Fairness**: which waiter wakes is up to the platform (`Atomics.notify` order); with several
   * waiters for different conditions, prefer {@link notifyAll}.
   */
  notifyOne(): void {
    raw.notifyOne(A, this.#word, 0);
  }

  /**
   * Wakes every waiting thread (and task).
   *
   * @example
   * ```ts
   * condvar.notifyAll();
   * ```
   */
  notifyAll(): void {
    raw.notifyAll(A, this.#word, 0);
  }

  async #wait<T>(
    guard: MutexGuard<T>,
    options: AcquireOptions | undefined,
    method: string,
  ): Promise<WaitTimeoutResult<T>> {
    const early = precheck(options);
    if (early !== undefined) return early;
    const mutex = guardedMutex(guard, method);
    const seq = raw.prepareWait(A, this.#word, 0);
    guard.release();
    const timeout = options?.timeout;
    let timedOut = false;
    let failure: { error: unknown } | undefined;
    try {
      const deadline = deadlineOf(timeout);
      // Park until the sequence moves (a notify) or the time runs out; a wake-up that changed nothing
      // (the polling fallback) parks again.
      for (;;) {
        const remaining = deadline - now();
        if (remaining <= 0) {
          timedOut = true;
          break;
        }
        // Each park is bounded by the poll period, so the waitAsync an abort leaves behind (it cannot
        // be cancelled) expires within POLL_MS instead of staying registered until a notify lands on it.
        const parked = parkAsync(this.#word, 0, seq, Math.min(remaining, POLL_MS), options?.signal);
        if (parked === undefined) {
          timedOut = A.load(this.#word, 0) === seq;
          break;
        }
        if ((await parked) === "timed-out" && A.load(this.#word, 0) === seq && deadline - now() <= 0) {
          timedOut = true;
          break;
        }
        if (A.load(this.#word, 0) !== seq) break;
      }
    } catch (error) {
      failure = { error };
    }
    // Re-acquire in every case: the caller gave a held guard and gets back a held guard, or nothing.
    const next = await mutex.lock();
    if (failure !== undefined) {
      next.release();
      throw failure.error;
    }
    return { guard: next, timedOut };
  }

  #waitSync<T>(
    guard: MutexGuard<T>,
    timeout: number | undefined,
    options: { timeout?: number | undefined } | undefined,
    method: string,
  ): WaitTimeoutResult<T> {
    assertCanBlock(`Condvar.${method}`);
    checkOptionsObject("options", options);
    checkSyncOptions(options);
    const mutex = guardedMutex(guard, method);
    const seq = raw.prepareWait(A, this.#word, 0);
    guard.release();
    const outcome = Atomics.wait(this.#word, 0, seq, timeout ?? Number.POSITIVE_INFINITY);
    return { guard: mutex.lockSync(), timedOut: outcome === "timed-out" };
  }
}
