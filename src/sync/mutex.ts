import { PoisonError, UseAfterReleaseError } from "../errors.js";
import { abortWins, BatchSemaphore } from "../internal/batch-semaphore.js";
import { markNotSend } from "../internal/not-send.js";
import { nameFor, observer } from "../internal/observer.js";
import { GUARD_TOKEN, type GuardToken, illegalConstructor, notThenable } from "../internal/symbols.js";
import {
  checkFunction,
  checkOptionalBoolean,
  checkOptionsObject,
  precheck,
  readLockOptions,
  readTryOptions,
} from "../internal/validate.js";
import { interiorMutable, type LockOptions, type PoisonOptions, type Releasable } from "../types.js";

/** Tag bit of a waiter that acquires even when the lock is poisoned. */
const IGNORE_POISON = 1;

/** Privileged access of `MutexGuard` to its `Mutex`; set once by the `Mutex` class. */
let mutexValue: <T>(mutex: Mutex<T>) => T;
let setMutexValue: <T>(mutex: Mutex<T>, value: T) => void;
let unlockMutex: (mutex: Mutex<unknown>) => void;
let poisonMutex: (mutex: Mutex<unknown>) => void;

/**
 * The mutex a live guard holds, or `undefined` once it is released: for lockbox's own primitives that
 * take a guard (`Condvar.wait`). Not exported from the package.
 * @internal
 */
export let mutexOfGuard: <T>(guard: MutexGuard<T>) => Mutex<T> | undefined;

/**
 * An async mutual-exclusion lock that owns its value (tokio's `Mutex<T>`): the Mutex hands the value
 * out only through the {@link MutexGuard} that `lock()` gives. A reference taken from `guard.value`
 * still works after `release()` (`revokeOnRelease` in `lockbox/diagnostics` makes it throw), and so
 * does any other reference to the value passed to the constructor.
 *
 * @example
 * ```ts
 * const balance = new Mutex(100);
 * await balance.withLock((guard) => {
 *   guard.value -= 30;
 * });
 * using guard = await balance.lock(); // released at the end of the block
 * console.log(guard.value); // 70
 * ```
 *
 * **Fairness**: strict FIFO. A release hands the lock straight to the longest waiter; `lock()` and
 * `tryLock()` never jump ahead of queued waiters.
 *
 * **Cancel safety**: a `lock({ signal, timeout })` that is aborted or times out leaves the queue at
 * once and holds nothing. If the lock was granted but the signal aborts before the caller resumes, the
 * abort wins: the lock is handed on to the next waiter and the call rejects.
 *
 * **Poisoning** (opt-in, `{ poison: true }`): a `withLock` callback that throws poisons the lock;
 * later acquires reject with {@link PoisonError} until `clearPoison()`, unless they pass
 * `{ ignorePoison: true }`. `guard.poison()` poisons explicitly, whatever the option.
 */
export class Mutex<T> {
  declare readonly [interiorMutable]: true;
  #value: T;
  readonly #sem: BatchSemaphore;
  readonly #poisonOnError: boolean;
  readonly #name: string;
  #poisoned = false;

  static {
    mutexValue = (mutex) => mutex.#value;
    setMutexValue = (mutex, value) => {
      mutex.#value = value;
    };
    unlockMutex = (mutex) => mutex.#sem.release(1);
    poisonMutex = (mutex) => {
      mutex.#poisoned = true;
    };
  }

  /**
   * @param value - the protected value; from now on reach it through a guard.
   * @param options - `poison`: poison the lock when a `withLock` callback throws (default `false`);
   *   `name`: its name in errors and diagnostics (default `Mutex#n`).
   * @throws TypeError when `options`, `options.poison` or `options.name` has the wrong type.
   */
  constructor(value: T, options?: PoisonOptions) {
    markNotSend(this);
    checkOptionsObject("options", options);
    const poison = options?.poison;
    checkOptionalBoolean("poison", poison);
    this.#name = nameFor("Mutex", options);
    this.#value = value;
    this.#poisonOnError = poison === true;
    this.#sem = new BatchSemaphore(1, (tag) => this.#onGrant(tag));
    this.#sem.owner = this;
  }

  /** The name given to the constructor, or `Mutex#n` (the n-th mutex created). */
  get name(): string {
    return this.#name;
  }

  /** `true` while a guard is held. */
  get isLocked(): boolean {
    return this.#sem.available === 0;
  }

  /** `true` while the lock is poisoned (see the class docs). */
  get isPoisoned(): boolean {
    return this.#poisoned;
  }

  /** Clears the poison flag: the holder has checked (or repaired) the value. */
  clearPoison(): void {
    this.#poisoned = false;
  }

  /**
   * Waits for the lock and resolves with its guard.
   *
   * @example
   * ```ts
   * const guard = await mutex.lock({ timeout: 1_000 });
   * try {
   *   guard.value.push(1);
   * } finally {
   *   guard.release();
   * }
   * ```
   *
   * **Cancel safety**: on abort (rejects with `signal.reason`) or timeout (rejects with
   * `TimeoutError`) the waiter leaves the queue at once; no timer or listener stays behind.
   *
   * **Throws** (rejects): `PoisonError` while poisoned (unless `ignorePoison`), `TypeError` /
   * `RangeError` for bad options.
   */
  lock(options?: LockOptions): Promise<MutexGuard<T>> {
    // Fast path, small enough to inline at every call site: no options, not poisoned, free.
    if (options === undefined && observer === undefined && !this.#poisoned && this.#sem.tryAcquire(1)) {
      return Promise.resolve(new MutexGuard<T>(GUARD_TOKEN, this));
    }
    return this.#lockSlow(options);
  }

  #lockSlow(given: LockOptions | undefined): Promise<MutexGuard<T>> {
    let options: LockOptions | undefined;
    try {
      options = readLockOptions(given);
    } catch (error) {
      return Promise.reject(error);
    }
    if (observer !== undefined) return observer.around(this, "lock", options, (o) => this.#lockQueued(o));
    return this.#lockQueued(options);
  }

  #lockQueued(options: LockOptions | undefined): Promise<MutexGuard<T>> {
    let ignorePoison = false;
    if (options !== undefined) {
      const early = precheck(options);
      if (early !== undefined) return early;
      ignorePoison = options.ignorePoison === true;
    }
    if (this.#poisoned && !ignorePoison) return Promise.reject(this.#poisonError());
    const pending = this.#sem.tryAcquire(1)
      ? Promise.resolve(this.#newGuard())
      : (this.#sem.acquire(1, ignorePoison ? IGNORE_POISON : 0, options) as Promise<MutexGuard<T>>);
    return abortWins(pending, options?.signal);
  }

  /**
   * Takes the lock if it is free and nobody is queued; otherwise returns `undefined`. Never waits,
   * allocates no promise.
   *
   * @throws PoisonError while poisoned, unless `{ ignorePoison: true }`; `TypeError` when `options` is
   * not `undefined` or an object (`null` included) or `ignorePoison` is not a boolean.
   */
  tryLock(options?: { ignorePoison?: boolean }): MutexGuard<T> | undefined {
    const ignorePoison = readTryOptions(options);
    if (observer !== undefined) observer.sync(this, "tryLock");
    if (this.#poisoned && !ignorePoison) throw this.#poisonError();
    return this.#sem.tryAcquire(1) ? this.#newGuard() : undefined;
  }

  /**
   * Acquires, calls `fn(guard)`, awaits its result, releases in every case, and returns (or rethrows)
   * what `fn` did. If `fn` throws while still holding the guard and the mutex was made with
   * `{ poison: true }`, the mutex is poisoned.
   *
   * @example
   * ```ts
   * const next = await counter.withLock((guard) => ++guard.value);
   * ```
   */
  withLock<R>(fn: (guard: MutexGuard<T>) => R | PromiseLike<R>, given?: LockOptions): Promise<Awaited<R>> {
    let options: LockOptions | undefined;
    try {
      options = readLockOptions(given);
    } catch (error) {
      return Promise.reject(error);
    }
    if (observer !== undefined) return observer.around(this, "withLock", options, (o) => this.#withLock(fn, o));
    return this.#withLock(fn, options);
  }

  async #withLock<R>(fn: (guard: MutexGuard<T>) => R | PromiseLike<R>, options?: LockOptions): Promise<Awaited<R>> {
    checkFunction("fn", fn);
    const guard = await this.lock(options);
    try {
      return await fn(guard);
    } catch (error) {
      if (this.#poisonOnError && !guard.released) this.#poisoned = true;
      throw error;
    } finally {
      guard.release();
    }
  }

  #onGrant(tag: number): MutexGuard<T> {
    if (this.#poisoned && (tag & IGNORE_POISON) === 0) throw this.#poisonError();
    return this.#newGuard();
  }

  /** A guard off the inlined fast path: the observer, if any, hears of it. */
  #newGuard(): MutexGuard<T> {
    const guard = new MutexGuard<T>(GUARD_TOKEN, this);
    if (observer !== undefined) observer.acquired(this, guard, "exclusive");
    return guard;
  }

  #poisonError(): PoisonError {
    return new PoisonError(
      `${this.#name} is poisoned: a holder failed while holding it; lock({ ignorePoison: true }) or clearPoison() to recover`,
    );
  }
}

/**
 * Exclusive access to a {@link Mutex}'s value (Rust: `MutexGuard`, `Deref` + `DerefMut`).
 *
 * `guard.value` reads and writes the protected value; assigning replaces it. `release()` (or leaving
 * a `using` block) gives the lock back; a second `release()` does nothing; `value` then throws
 * {@link UseAfterReleaseError}.
 */
export class MutexGuard<T> implements Releasable {
  // Flat rather than extending the shared Guard base: this is the hottest guard, and V8 (Node 20)
  // does not inline a base-class constructor here — the flat class is markedly cheaper per acquire.
  #mutex: Mutex<T> | undefined;

  static {
    mutexOfGuard = (guard) => guard.#mutex;
    notThenable(MutexGuard.prototype);
  }

  /** @internal Guards come from `Mutex.lock()`; this constructor throws for anyone else. */
  constructor(token: GuardToken, mutex: Mutex<T>) {
    if (token !== GUARD_TOKEN) illegalConstructor("MutexGuard");
    markNotSend(this);
    this.#mutex = mutex;
  }

  /** The protected value. Assigning replaces it. */
  get value(): T {
    const mutex = this.#mutex;
    if (mutex === undefined) throw released("read `value` of");
    return mutexValue(mutex);
  }

  set value(value: T) {
    const mutex = this.#mutex;
    if (mutex === undefined) throw released("write `value` of");
    setMutexValue(mutex, value);
  }

  /** `true` once released. */
  get released(): boolean {
    return this.#mutex === undefined;
  }

  /** Gives the lock back (to the next waiter, if any). Idempotent: a second call does nothing. */
  release(): void {
    const mutex = this.#mutex;
    if (mutex === undefined) return;
    this.#mutex = undefined;
    if (observer !== undefined) observer.released(mutex, this);
    unlockMutex(mutex as Mutex<unknown>);
  }

  /** Same as {@link release}, for `using`. */
  [Symbol.dispose](): void {
    this.release();
  }

  /**
   * Poisons the mutex (for `using` blocks, which cannot see a throw). Does not release.
   *
   * @throws UseAfterReleaseError after release.
   */
  poison(): void {
    const mutex = this.#mutex;
    if (mutex === undefined) throw released("poison through");
    poisonMutex(mutex as Mutex<unknown>);
  }
}

function released(action: string): UseAfterReleaseError {
  return new UseAfterReleaseError(`Cannot ${action} a MutexGuard after release()`);
}
