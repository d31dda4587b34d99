import { UseAfterReleaseError } from "../errors.js";
import {
  checkFunction,
  checkOptionsObject,
  describe,
  readAcquireOptions,
  readTimeoutOptions,
} from "../internal/validate.js";
import { type AcquireOptions, interiorMutable, type NameOptions } from "../types.js";
import { allocateTagged, checkHandle, checkTaggedBuffer, type HandleBase, LAYOUT_VERSION } from "./memory/handle.js";
import type { GuardValue } from "./memory/shared-data.js";
import { isMutexGuard, type Mutex, type MutexGuard, mutexOfGuard } from "./mutex.js";
import { realAtomics as A } from "./raw/atomics-like.js";
import * as raw from "./raw/raw-condvar.js";
import { newWaiter, parkTime, recordWait } from "./raw/waiter.js";
import { ownerId } from "./runtime/liveness.js";
import {
  assertCanBlock,
  checkLockOptions,
  checkSyncOptions,
  checkTimeout,
  deadlineOf,
  now,
  parkAsync,
  timeoutError,
} from "./runtime/wait.js";
import { threadsName } from "./runtime/waits-for.js";

const TAG = "lockbox.threads.Condvar";

/** The structured-clone-safe form of a {@link Condvar}. */
export interface CondvarHandle extends HandleBase<typeof TAG> {
  /** The sequence and ledger words (see src/threads/raw/raw-condvar.ts), then the memory tag (see handle.ts). */
  readonly buffer: SharedArrayBuffer;
  /** The condvar's name, the same in every thread. */
  readonly name: string;
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
function guardedMutex<T>(guard: MutexGuard<T>, method: string, name: string): Mutex<T> {
  if (!isMutexGuard(guard)) {
    throw new TypeError(
      `Expected \`guard\` of Condvar.${method}() on ${name} to be a MutexGuard of a lockbox/threads Mutex, got ${describe(guard)}`,
    );
  }
  const mutex = mutexOfGuard(guard);
  if (mutex === undefined)
    throw new UseAfterReleaseError(`Condvar.${method}() on ${name} needs a MutexGuard that is not released`);
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
 * const changed = new Condvar({ name: "changed" });
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
 * `waitWhile`. A notify between the waiter's unlock and its park is never lost. `notifyOne` wakes
 * exactly one of the waiters present (async or blocking, in any thread); `notifyAll` wakes them all.
 * At most {@link Condvar.MAX_WAITERS} waiters can wait at once (a further `wait` throws `RangeError`
 * before releasing anything).
 *
 * **Cancel safety**: on abort or timeout the mutex is re-acquired and released again before the
 * rejection, so nothing leaks and the caller holds nothing. An already-aborted signal releases the
 * guard and rejects without waiting. A `notifyOne` that raced with the abort is passed on to another
 * waiter when one is still waiting unwoken.
 */
export class Condvar {
  declare readonly [interiorMutable]: true;
  /** Most waiters one condvar can have at once (65535). */
  static readonly MAX_WAITERS = raw.MAX_WAITERS;
  /** The structured-clone-safe handle; see {@link Condvar.from}. */
  readonly handle: CondvarHandle;
  readonly #word: Int32Array;
  readonly #name: string;

  /**
   * @param options - `name`: the condvar's name in errors (default `Condvar#n`).
   * @throws TypeError when `options` or its `name` has the wrong type.
   */
  constructor(options?: NameOptions) {
    const handle = restoring;
    restoring = undefined;
    if (handle !== undefined) {
      this.#word = new Int32Array(handle.buffer, 0, raw.CONDVAR_WORDS);
      this.#name = typeof handle.name === "string" ? handle.name : threadsName("Condvar", undefined, ownerId);
      this.handle = handle;
      return;
    }
    checkOptionsObject("options", options);
    this.#name = threadsName("Condvar", options, ownerId);
    this.#word = allocateTagged(TAG, raw.CONDVAR_WORDS);
    this.handle = {
      type: TAG,
      version: LAYOUT_VERSION,
      buffer: this.#word.buffer as SharedArrayBuffer,
      name: this.#name,
    };
  }

  /** The name given to the constructor (`{ name }`), or `Condvar#n`; carried by the handle to every thread. */
  get name(): string {
    return this.#name;
  }

  /**
   * Rebuilds a condvar from a received handle (or a posted condvar).
   *
   * @example
   * ```ts
   * const changed = Condvar.from(workerData.changed);
   * ```
   *
   * @throws TypeError for anything but a current Condvar handle over a Condvar's shared memory.
   */
  static from(received: unknown): Condvar {
    const handle = checkHandle<CondvarHandle>(received, TAG, "Condvar.from");
    checkTaggedBuffer("Condvar.from", handle.buffer, TAG, raw.CONDVAR_WORDS);
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
   * **Cancel safety**: see the class docs; the caller holds nothing after a rejection.
   *
   * **Throws** (rejects): `UseAfterReleaseError` if `guard` is released, `TimeoutError`, the signal's
   * reason, `PoisonError` if the mutex was poisoned meanwhile; in each case `guard` is released and
   * the caller holds nothing. `TypeError` / `RangeError` for bad arguments (then `guard` is untouched).
   */
  async wait<T>(guard: MutexGuard<T>, options?: AcquireOptions): Promise<MutexGuard<T>> {
    options = readAcquireOptions(options);
    const { guard: next, timedOut } = await this.#wait(guard, options, "wait");
    if (timedOut) {
      next.release();
      throw timeoutError("Condvar.wait()", options?.timeout, this.#name);
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
   *
   * **Throws** (rejects): as {@link wait}; `ms` may be any finite number of milliseconds ≥ 0.
   */
  async waitTimeout<T>(guard: MutexGuard<T>, ms: number): Promise<WaitTimeoutResult<T>> {
    checkTimeout(ms, "ms");
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
   *
   * **Cancel safety**: as {@link wait}. If `condition` throws, the current guard is released and the
   * call rejects with what it threw (the mutex is not poisoned): the caller holds nothing.
   */
  async waitWhile<T>(
    guard: MutexGuard<T>,
    condition: (value: GuardValue<T>) => boolean,
    options?: AcquireOptions,
  ): Promise<MutexGuard<T>> {
    options = readAcquireOptions(options);
    checkLockOptions(options);
    guardedMutex(guard, "waitWhile", this.#name);
    checkFunction("condition", condition);
    const signal = options?.signal;
    if (signal?.aborted) {
      guard.release();
      throw signal.reason;
    }
    const deadline = deadlineOf(options?.timeout);
    let current = guard;
    for (;;) {
      let again: boolean;
      try {
        again = condition(current.value);
      } catch (error) {
        current.release();
        throw error;
      }
      if (!again) return current;
      const remaining = deadline === Number.POSITIVE_INFINITY ? undefined : Math.max(0, deadline - now());
      current = await this.wait(current, { signal, timeout: remaining });
    }
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
    options = readTimeoutOptions(options);
    checkSyncOptions(options);
    const { guard: next, timedOut } = this.#waitSync(guard, options?.timeout, "waitSync");
    if (timedOut) {
      next.release();
      throw timeoutError("Condvar.waitSync()", options?.timeout, this.#name);
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
    checkTimeout(ms, "ms");
    return this.#waitSync(guard, ms, "waitTimeoutSync");
  }

  /**
   * Blocking form of {@link waitWhile}.
   *
   * @example
   * ```ts
   * guard = condvar.waitWhileSync(guard, (value) => value[0] === 0, { timeout: 1_000 });
   * ```
   *
   * **Throws**: as {@link waitSync}; if `condition` throws, the current guard is released and the
   * error propagates (the caller holds nothing).
   */
  waitWhileSync<T>(
    guard: MutexGuard<T>,
    condition: (value: GuardValue<T>) => boolean,
    options?: { timeout?: number | undefined },
  ): MutexGuard<T> {
    options = readTimeoutOptions(options);
    checkSyncOptions(options);
    guardedMutex(guard, "waitWhileSync", this.#name);
    checkFunction("condition", condition);
    const deadline = deadlineOf(options?.timeout);
    return raw.waitWhileLoop(
      guard,
      (current) => condition(current.value),
      (current) =>
        this.waitSync(current, {
          timeout: deadline === Number.POSITIVE_INFINITY ? undefined : Math.max(0, deadline - now()),
        }),
      (current) => current.release(),
    );
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
   * **Fairness**: exactly one of the waiters present wakes, not necessarily the one that waited
   * longest; with several waiters for different conditions, prefer {@link notifyAll}. Nothing is
   * stored when nobody waits.
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

  /** Registers as a waiter and releases `guard` (validated), or throws having changed nothing. */
  #enter<T>(guard: MutexGuard<T>, method: string): Mutex<T> {
    const mutex = guardedMutex(guard, method, this.#name);
    if (!raw.register(A, this.#word, 0)) {
      throw new RangeError(
        `Expected at most ${raw.MAX_WAITERS} waiters on one Condvar; Condvar.${method}() on ${this.#name} would be one more`,
      );
    }
    guard.release();
    return mutex;
  }

  async #wait<T>(
    guard: MutexGuard<T>,
    options: AcquireOptions | undefined,
    method: string,
  ): Promise<WaitTimeoutResult<T>> {
    checkLockOptions(options);
    const signal = options?.signal;
    if (signal?.aborted) {
      // Nothing released yet, so nothing to re-acquire: giving the guard back is the whole cleanup.
      guardedMutex(guard, method, this.#name);
      guard.release();
      throw signal.reason;
    }
    const mutex = this.#enter(guard, method);
    const word = this.#word;
    const timeout = options?.timeout;
    const deadline = deadlineOf(timeout);
    const waiter = newWaiter(0);
    let timedOut = false;
    let failure: { error: unknown } | undefined;
    // Claim a wake-up, or park (each park bounded by the poll period: a wake-up that landed on an
    // abandoned waitAsync stays pending in the ledger and is claimed at the next poll).
    while (raw.waitStep(A, word, 0, waiter) === raw.PARK) {
      const time = parkTime(waiter, deadline, now());
      if (time <= 0) {
        timedOut = raw.leave(A, word, 0) === raw.LEFT;
        break;
      }
      if (signal?.aborted) {
        raw.leave(A, word, 0);
        failure = { error: signal.reason };
        break;
      }
      const parked = parkAsync(word, waiter.index, waiter.expected, time, signal);
      if (parked === undefined) continue;
      try {
        recordWait(waiter, await parked);
      } catch (error) {
        raw.leave(A, word, 0);
        failure = { error };
        break;
      }
    }
    // Re-acquire in every case: the caller gave a held guard and gets back a held guard, or nothing.
    const next = await mutex.lock();
    if (failure !== undefined) {
      next.release();
      throw failure.error;
    }
    return { guard: next, timedOut };
  }

  #waitSync<T>(guard: MutexGuard<T>, timeout: number | undefined, method: string): WaitTimeoutResult<T> {
    assertCanBlock(`Condvar.${method}`, this.#name);
    const mutex = this.#enter(guard, method);
    // Bounded parks (POLL_MS each), as in the async form: no park of a Condvar is unbounded.
    const woken = raw.waitBlocking(A, this.#word, 0, now, deadlineOf(timeout));
    return { guard: mutex.lockSync(), timedOut: !woken };
  }
}
