import { abortWins, BatchSemaphore } from "../internal/batch-semaphore.js";
import { GUARD_TOKEN, type GuardToken, illegalConstructor } from "../internal/symbols.js";
import {
  checkFunction,
  checkOptionalBoolean,
  readLockOptions,
  readSyncLockOptions,
  readTryOptions,
} from "../internal/validate.js";
import { interiorMutable, type LockOptions, type PoisonOptions } from "../types.js";
import { type DataLockKind, type DataLockParts, LockData, receiveLock } from "./data-lock.js";
import { type ExclusiveGuard, inheritExclusive, initExclusive, lockDataOf, poisonError } from "./guard.js";
import type { HandleBase } from "./memory/handle.js";
import type { GuardValue } from "./memory/shared-data.js";
import { realAtomics as A } from "./raw/atomics-like.js";
import type { Step } from "./raw/drive.js";
import * as raw from "./raw/raw-mutex.js";
import { ASYNC_SPIN_LIMIT, newWaiter, type RawWaiter, SPIN_LIMIT } from "./raw/waiter.js";
import { KickablePark, parkedWaiters } from "./runtime/keep-alive.js";
import { ownerId } from "./runtime/liveness.js";
import {
  assertCanBlock,
  blockingAllowed,
  checkSyncOptions,
  deadlineOf,
  now,
  parkCompetitor,
  precheck,
  timeoutError,
} from "./runtime/wait.js";
import { type BlockingWait, beginWait, endWait, selfDeadlock, wakeWait } from "./runtime/waits-for.js";

const TAG = "lockbox.threads.Mutex";

/** The structured-clone-safe form of a {@link Mutex}: post it (or the mutex) and call `Mutex.from` there. */
export interface MutexHandle extends HandleBase<typeof TAG>, DataLockParts {
  /** Whether a failing `withLock` callback poisons the lock. */
  readonly poison: boolean;
}

const KIND: DataLockKind = {
  kind: "Mutex",
  tag: TAG,
  words: raw.MUTEX_WORDS,
  poisonOption: true,
  exclusiveGuard: "MutexGuard",
};

/** Options of the blocking acquires: `timeout` (ms) and `ignorePoison`. */
export interface SyncLockOptions {
  /** Gives up after this many milliseconds with `TimeoutError`. */
  timeout?: number | undefined;
  /** Acquire even if the lock is poisoned. */
  ignorePoison?: boolean | undefined;
}

/** The word value of "locked by this thread, nobody waiting, not poisoned": the unlock fast path. */
const MINE = raw.LOCKED | (ownerId << raw.OWNER_SHIFT);

/** Tag bit of a queued `lock()` that acquires even when the lock is poisoned. */
const IGNORE_POISON = 1;

/** Forwards a wake-up that landed on a `waitAsync` the competitor abandoned (it may have been meant for another waiter). */
function forwardWakeUp(word: Int32Array): (outcome: "ok" | "timed-out") => void {
  return (outcome) => {
    if (outcome === "ok") Atomics.notify(word, 0, 1);
  };
}

/**
 * The mutex a live guard holds, or `undefined` once released (for `Condvar`).
 * @internal
 */
export function mutexOfGuard<T>(guard: MutexGuard<T>): Mutex<T> | undefined {
  return guard.released ? undefined : (lockDataOf(guard)?.lock as Mutex<T>);
}

/**
 * `true` for a threads `MutexGuard` (released or not), `false` for anything else.
 * @internal
 */
export function isMutexGuard(value: unknown): value is MutexGuard<unknown> {
  return lockDataOf(value)?.kind === KIND;
}

/**
 * A mutual-exclusion lock over shared memory, shared between worker threads (Rust's `std::sync::Mutex`).
 * It owns its data (a `SharedArrayBuffer`, typed array, struct or JSON layout, or `null` for a bare
 * lock): the data is reached through the {@link MutexGuard} that an acquire returns.
 *
 * Every waiting method comes twice: async (`lock`, parks with `Atomics.waitAsync`, keeps the process
 * alive while pending) and blocking (`lockSync`, parks with `Atomics.wait`; `WouldBlockError` where
 * blocking is forbidden).
 *
 * Crossing threads: post the mutex itself (its only enumerable property is `handle`) or `mutex.handle`
 * with `postMessage` / `workerData`, and call `Mutex.from(received)` on the other side: the result works
 * over the same memory.
 *
 * @example
 * ```ts
 * // main.ts
 * const counter = new Mutex(new Int32Array(new SharedArrayBuffer(4)));
 * const worker = spawn(new URL("./worker.js", import.meta.url), { workerData: counter });
 * await counter.withLock((guard) => {
 *   guard.value[0]++;
 * });
 *
 * // worker.ts
 * const counter = Mutex.from<Int32Array>(workerData);
 * using guard = counter.lockSync({ timeout: 1_000 });
 * guard.value[0]++;
 * ```
 *
 * **Fairness** (across threads): not FIFO. A running thread may re-take a free lock (no lock
 * convoy), but a waiter that has waited about a millisecond gets the lock handed to it on the next
 * release, so no waiter starves. Within one thread (one `Mutex` instance), async `lock()` calls are
 * FIFO: they queue locally, a release hands the lock straight to the next of them (unless a waiter of
 * another thread has waited about a millisecond), and `lock()` / `tryLock()` do not jump ahead of
 * them; only the queue's head competes for the shared lock word. A blocking `lockSync` is not queued.
 *
 * **Poisoning** (on by default; `{ poison: false }` stops a failing `withLock` from poisoning): a
 * holder whose `withLock` callback throws, that calls `guard.poison()`, or whose worker dies while
 * holding the lock (see `supervise`) poisons it. While poisoned, acquires reject / throw `PoisonError`
 * and do not hold the lock, unless called with `{ ignorePoison: true }`.
 *
 * **Owner death**: when a supervised worker dies holding the lock, the lock is released and
 * poisoned, and its waiters (in any thread) wake with `PoisonError` within about 50 ms.
 */
export class Mutex<T = null> {
  declare readonly [interiorMutable]: true;
  /** The structured-clone-safe handle; see {@link Mutex.from}. */
  readonly handle: MutexHandle;
  /** The data side (data, handle, name, poison option), shared with every guard. */
  readonly #data: LockData<T, MutexHandle>;
  /** The lock words (`#data.word`, kept here for the hot paths). */
  readonly #word: Int32Array;
  readonly #table: Int32Array;
  /** The last pending hand-off `tryLock` saw (see raw-mutex `revertOrphanedHandoff`). */
  readonly #sighting: raw.HandoffSighting = { word: 0, since: 0 };
  /** `lockSync`'s wait step (raw.lockStepper), made by the first `lockSync` that has to wait. */
  #syncStep: Step | undefined = undefined;
  /** `lockSync`'s after-park hook ({@link #wokeSync}), made once. */
  #syncWoke: (() => void) | undefined = undefined;
  /** The waits-for entry of the running untimed `lockSync`, from its first wake-up on. */
  #blocking: BlockingWait | undefined = undefined;

  /**
   * This thread's queue of async `lock()` calls (the in-process FIFO core, with zero free permits at
   * rest). A "permit" is this thread's hold on the shared word: a release with tasks queued here hands
   * the word straight to the head (it stays locked, owner unchanged) unless a waiter in another thread
   * is starving; only the queue's head competes for the word (`#compete`), so the word sees one waiter
   * per thread and a drain of N local waiters costs O(N).
   */
  readonly #local: BatchSemaphore = this.#newQueue();
  /** `true` while this instance holds the word: a guard (async or blocking) is out, or is being handed on. */
  #holding = false;
  /** `true` while `#compete` runs (at most one per instance). */
  #competing = false;
  /** The competitor's park, kicked when the queue empties or the word was taken here. */
  readonly #park = new KickablePark();

  /**
   * @param data - the protected data: a `SharedArrayBuffer`, a typed array or `DataView` over one, a
   *   struct or JSON layout, or `null` for a bare lock.
   * @param options - `poison`: poison the lock when a `withLock` callback throws (default `true`).
   * @throws TypeError when `data` cannot be shared or the options have the wrong type.
   */
  constructor(data: T, options?: PoisonOptions) {
    const lockData = new LockData<T, MutexHandle>(this, KIND, data, options, {
      unlock: () => this.#unlockHeld(),
      poison: () => raw.poisonLock(A, this.#word, 0),
    });
    this.#data = lockData;
    this.#word = lockData.word;
    this.#table = lockData.table;
    this.handle = lockData.handle;
  }

  /** The name given to the constructor (`{ name }`), or `Mutex#n`; carried by the handle to every thread. */
  get name(): string {
    return this.#data.name;
  }

  /**
   * Rebuilds a mutex from a received handle (or a posted mutex): a working instance over the same memory.
   *
   * @example
   * ```ts
   * parentPort.on("message", (message) => {
   *   const mutex = Mutex.from<Int32Array>(message);
   * });
   * ```
   *
   * @throws TypeError when `received` is not a Mutex handle, has another layout version, or its
   *   buffers are not `SharedArrayBuffer`s of the right size.
   */
  static from<T = unknown>(received: unknown): Mutex<T> {
    return receiveLock(received, KIND, "Mutex.from", (data) => new Mutex<T>(data as T));
  }

  /** `true` while some thread holds the lock. */
  get isLocked(): boolean {
    return raw.isLocked(A, this.#word, 0);
  }

  /** `true` while poisoned (see the class docs). */
  get isPoisoned(): boolean {
    return raw.isPoisoned(A, this.#word, 0);
  }

  /**
   * Clears the poison flag: the caller has checked (or repaired) the data.
   *
   * @example
   * ```ts
   * const guard = await mutex.lock({ ignorePoison: true });
   * guard.value[0] = 0; // repair
   * mutex.clearPoison();
   * guard.release();
   * ```
   */
  clearPoison(): void {
    raw.clearPoison(A, this.#word, 0);
  }

  /**
   * Waits (without blocking the thread) for the lock and resolves with its guard.
   *
   * @example
   * ```ts
   * const guard = await mutex.lock({ timeout: 1_000 });
   * try {
   *   guard.value[0] += 1;
   * } finally {
   *   guard.release();
   * }
   * ```
   *
   * **Cancel safety**: on abort (rejects with `signal.reason`) or timeout (`TimeoutError`) the waiter
   * stops waiting at once and holds nothing; a hand-off that raced with it is passed to another waiter.
   *
   * **Throws** (rejects): `PoisonError` while poisoned (unless `ignorePoison`; the caller does not hold
   * the lock), `TypeError` / `RangeError` for bad options.
   */
  lock(options?: LockOptions): Promise<MutexGuard<T>> {
    try {
      options = readLockOptions(options);
    } catch (error) {
      return Promise.reject(error);
    }
    if (options !== undefined) {
      const early = precheck(options);
      if (early !== undefined) return early;
    }
    // Fast path: nobody of this thread queued (FIFO: no barging past them), and the word is 0 (free,
    // not poisoned).
    if (this.#local.waiters === 0 && Atomics.compareExchange(this.#word, 0, 0, MINE) === 0) {
      this.#holding = true;
      try {
        return Promise.resolve(this.#guard());
      } catch (error) {
        // JSON data that cannot be decoded (#guard has undone the acquire): reject, do not throw.
        return Promise.reject(error);
      }
    }
    return this.#lockSlow(options);
  }

  #lockSlow(options: LockOptions | undefined): Promise<MutexGuard<T>> {
    const ignorePoison = options?.ignorePoison === true;
    if (!ignorePoison && raw.isPoisoned(A, this.#word, 0)) return Promise.reject(poisonError(this.#data.name, "lock"));
    // Queue behind this thread's other waiters (timeout and abort are the core's: the waiter leaves
    // the queue at once). The head gets the word from a local release, or from the competitor.
    const queued = this.#local.acquire(1, ignorePoison ? IGNORE_POISON : 0, options) as Promise<MutexGuard<T>>;
    if (!this.#holding && !this.#competing && this.#local.waiters !== 0) void this.#compete();
    // A grant that races with an abort: the abort wins, the guard is released (handed on).
    return abortWins(queued, options?.signal);
  }

  /** The local queue, with the threads timeout message and a competitor that stops when it empties. */
  #newQueue(): BatchSemaphore {
    const local = new BatchSemaphore(0, (tag) => this.#onGrant(tag));
    local.timeoutError = (timeout) => timeoutError("Mutex.lock()", timeout, this.#data.name);
    local.onCancel = () => {
      if (local.waiters === 0) this.#park.kick();
    };
    return local;
  }

  /**
   * The local queue's head competing for the shared word on behalf of every task queued here. It runs
   * while the queue is not empty and this instance does not hold the word; once it takes the word it
   * grants the head. It is one waiter for the raw protocol (spin, park, STARVING after
   * `FAIR_AFTER_MS`, claim a hand-off), whichever task is the head: a head that leaves (abort,
   * timeout, a poisoned grant) passes headship on without the thread losing its place.
   */
  async #compete(): Promise<void> {
    this.#competing = true;
    const word = this.#word;
    const table = this.#table;
    const local = this.#local;
    // A long spin for this thread's first parked waiter only (see ASYNC_SPIN_LIMIT).
    const waiter: RawWaiter = newWaiter(parkedWaiters() === 0 ? ASYNC_SPIN_LIMIT : SPIN_LIMIT);
    try {
      for (;;) {
        if (local.waiters === 0 || this.#holding) {
          // Nobody left to compete for, or the word was taken in this thread (lockSync) and will be
          // handed on locally: pass on a hand-off that may have been meant for this waiter.
          if (waiter.parked) raw.abandonLock(A, word, 0);
          return;
        }
        if (raw.lockStep(A, word, 0, ownerId, table, waiter, now)) {
          this.#holding = true;
          this.#grantLocal();
          return;
        }
        // A kicked park leaves its waitAsync behind: it forwards the wake-up it may swallow.
        const parked = parkCompetitor(this.#park, word, waiter, (abandoned) => abandoned.then(forwardWakeUp(word)));
        if (parked !== undefined) await parked;
      }
    } finally {
      this.#competing = false;
    }
  }

  /** Called holding the word with tasks queued here: grant the head, or give the word back if nobody takes it. */
  #grantLocal(): void {
    const local = this.#local;
    local.release(1);
    if (local.available === 0) return;
    // Every queued waiter left or failed its grant (poisoned): the word goes back.
    local.forget(1);
    this.#holding = false;
    unlockWord(this.#word);
  }

  /** Builds a queued waiter's guard once it is granted the word (throws to fail just that waiter). */
  #onGrant(tag: number): MutexGuard<T> {
    if ((tag & IGNORE_POISON) === 0 && raw.isPoisoned(A, this.#word, 0)) throw poisonError(this.#data.name, "lock");
    const data = this.#data;
    return new MutexGuard<T>(GUARD_TOKEN, data, data.open());
  }

  /**
   * Gives back the word this instance holds: to the next task queued here when that is fair (no waiter
   * of another thread has set STARVING), else to the shared word (handing it to the starving waiter),
   * and then this thread's queue, if any, competes again.
   */
  #unlockHeld(): void {
    const local = this.#local;
    const word = this.#word;
    if (local.waiters !== 0 && raw.mayHandOnLocally(A, word, 0)) {
      local.release(1);
      if (local.available === 0) return;
      local.forget(1);
    }
    this.#holding = false;
    unlockWord(word);
    if (local.waiters !== 0 && !this.#competing) void this.#compete();
  }

  /**
   * Blocks the thread until the lock is free, and returns its guard.
   *
   * @example
   * ```ts
   * using guard = mutex.lockSync({ timeout: 100 });
   * guard.value[0] += 1;
   * ```
   *
   * **Throws**: `WouldBlockError` where this thread may not block (checked first, even when the lock
   *   is free, so that the failure does not depend on timing),
   * `TimeoutError`, `PoisonError` (unless `ignorePoison`), `TypeError` / `RangeError` for bad options.
   * `DeadlockError` when this thread already holds the lock and no `timeout` is given (it could never
   * be granted), or when this wait closes a cycle of blocking waits across threads (see
   * `docs/debugging.md`); with a `timeout`, a re-acquire by the holder ends with `TimeoutError`.
   */
  lockSync(options?: SyncLockOptions): MutexGuard<T> {
    options = readSyncLockOptions(options);
    // Fast path, small enough to inline: no options, blocking known to be allowed, the word is 0.
    if (options === undefined && blockingAllowed === true && Atomics.compareExchange(this.#word, 0, 0, MINE) === 0) {
      this.#took();
      return this.#guard();
    }
    return this.#lockSyncSlow(options);
  }

  #lockSyncSlow(options: SyncLockOptions | undefined): MutexGuard<T> {
    if (!blockingAllowed) assertCanBlock("Mutex.lockSync", this.#data.name);
    if (options !== undefined) {
      checkSyncOptions(options);
      checkOptionalBoolean("ignorePoison", options.ignorePoison);
    }
    const word = this.#word;
    // With options the fast path did not run: try it here. Without, it has just failed: no second
    // compare-exchange on a word that another thread holds (each one pulls its cache line away from
    // the holder, whose unlock then has to take it back); lockStep reads first and swaps only a free word.
    if (options !== undefined && Atomics.compareExchange(word, 0, 0, MINE) === 0) {
      this.#took();
      return this.#guard();
    }
    const ignorePoison = options?.ignorePoison === true;
    const table = this.#table;
    if (!ignorePoison && raw.isPoisoned(A, word, 0)) throw poisonError(this.#data.name, "lockSync");
    // An untimed blocking wait by the holder's own thread would hang forever: refuse it. A
    // timed one still ends with its TimeoutError.
    const seen = Atomics.load(word, 0);
    if (options?.timeout === undefined && (seen & raw.STATE_MASK) !== raw.UNLOCKED && raw.ownerOf(seen) === ownerId) {
      throw selfDeadlock(this.#data.name, "Mutex.lockSync()");
    }
    // The shared blocking driver (raw/drive.ts, the loop the model checker runs) with this mutex's
    // step and after-park hook, each made once per instance (no closure per acquire). No raw.tryLock
    // first: the first lockStep is the same attempt (take a free word, reap a dead owner's), made by a
    // load before any swap. No clock reading per park when there is no timeout.
    const timeout = options?.timeout;
    // #blocking is undefined here: only #wokeSync sets it, and every exit path clears it.
    const step = (this.#syncStep ??= raw.lockStepper(A, word, 0, ownerId, table, now));
    // An untimed wait is published in the waits-for table from its first wake-up on (waits-for.ts).
    const woke = timeout === undefined ? (this.#syncWoke ??= () => this.#wokeSync()) : undefined;
    if (!raw.lockWait(A, word, 0, step, newWaiter(), deadlineOf(timeout), now, woke)) {
      throw timeoutError("Mutex.lockSync()", timeout, this.#data.name);
    }
    const blocking = this.#blocking;
    if (blocking !== undefined) {
      this.#blocking = undefined;
      endWait(blocking);
    }
    this.#took();
    return this.#acquired(ignorePoison, "lockSync");
  }

  /**
   * After each park of an untimed `lockSync`: publishes the wait in the waits-for table and throws
   * `DeadlockError` (lock wait abandoned) when it closes a cycle. Its state is `#blocking`: a
   * `lockSync` blocks its thread, so at most one runs per instance.
   */
  #wokeSync(): void {
    const word = this.#word;
    const holder = raw.ownerOf(Atomics.load(word, 0));
    const blocking = (this.#blocking ??= beginWait(this.#data.name, holder, ownerId));
    const deadlock = blocking === undefined ? undefined : wakeWait(blocking, holder, now());
    if (deadlock !== undefined) {
      raw.abandonLock(A, word, 0);
      this.#blocking = undefined;
      endWait(blocking as BlockingWait);
      throw deadlock;
    }
  }

  /**
   * Takes the lock if it is free now, else returns `undefined`. Never waits.
   *
   * @throws PoisonError while poisoned, unless `{ ignorePoison: true }` (the caller does not hold the lock).
   */
  tryLock(options?: { ignorePoison?: boolean | undefined }): MutexGuard<T> | undefined {
    const ignorePoison = readTryOptions(options); // validated before anything is taken
    // FIFO in this thread: no barging past tasks of this thread already queued.
    if (this.#local.waiters !== 0) return undefined;
    if (!raw.tryLock(A, this.#word, 0, ownerId, this.#table)) {
      // A hand-off whose starving waiter died is taken back after a while (raw-mutex, issue 9).
      if (!raw.revertOrphanedHandoff(A, this.#word, 0, this.#sighting, now)) return undefined;
      if (!raw.tryLock(A, this.#word, 0, ownerId, this.#table)) return undefined;
    }
    this.#took();
    return this.#acquired(ignorePoison, "tryLock");
  }

  /**
   * Acquires, calls `fn(guard)`, awaits its result, releases in every case, and returns (or rethrows)
   * what `fn` did. A throw or rejection while the guard is held poisons the lock (unless made with
   * `{ poison: false }`).
   *
   * @example
   * ```ts
   * const total = await mutex.withLock((guard) => (guard.value[0] += 5));
   * ```
   */
  async withLock<R>(fn: (guard: MutexGuard<T>) => R | PromiseLike<R>, options?: LockOptions): Promise<Awaited<R>> {
    checkFunction("fn", fn);
    const guard = await this.lock(options);
    try {
      return await fn(guard);
    } catch (error) {
      if (this.#data.poisonOnError && !guard.released) raw.poisonLock(A, this.#word, 0);
      throw error;
    } finally {
      guard.release();
    }
  }

  /**
   * Blocking form of {@link withLock}: `fn` runs synchronously while the lock is held.
   *
   * @example
   * ```ts
   * mutex.withLockSync((guard) => {
   *   guard.value[0]++;
   * });
   * ```
   */
  withLockSync<R>(fn: (guard: MutexGuard<T>) => R, options?: SyncLockOptions): R {
    checkFunction("fn", fn);
    const guard = this.lockSync(options);
    try {
      return fn(guard);
    } catch (error) {
      if (this.#data.poisonOnError && !guard.released) raw.poisonLock(A, this.#word, 0);
      throw error;
    } finally {
      guard.release();
    }
  }

  /** A blocking or try acquire has just taken the word: a competitor parked for this thread's queue stops (the release hands on locally). */
  #took(): void {
    this.#holding = true;
    this.#park.kick();
  }

  /** Called holding the lock: a guard for it. */
  #guard(): MutexGuard<T> {
    const data = this.#data;
    let value: GuardValue<T>;
    try {
      value = data.open();
    } catch (error) {
      // JSON that cannot be decoded: undo the acquire, so that the error leaves nothing held.
      this.#unlockHeld();
      throw error;
    }
    return new MutexGuard<T>(GUARD_TOKEN, data, value);
  }

  /** Called holding the lock: the guard, or (poisoned, not ignored) unlock and throw. */
  #acquired(ignorePoison: boolean, method: string): MutexGuard<T> {
    if (!ignorePoison && raw.isPoisoned(A, this.#word, 0)) {
      this.#unlockHeld();
      throw poisonError(this.#data.name, method);
    }
    return this.#guard();
  }
}

/** Releases a lock this thread holds: the fast path inline (nobody waiting, not poisoned), `raw.unlockSlow` from what it saw otherwise. */
function unlockWord(word: Int32Array): void {
  const seen = Atomics.compareExchange(word, 0, MINE, 0);
  if (seen !== MINE) raw.unlockSlow(A, word, 0, ownerId, seen);
}

/**
 * Exclusive access to a {@link Mutex}'s data (Rust's `MutexGuard`): an {@link ExclusiveGuard}.
 *
 * `guard.value` is the data (assigning replaces it, through the data's layout); `release()` or the end
 * of a `using` block gives the lock back; a second `release()` does nothing; `value` then throws
 * `UseAfterReleaseError`. A guard belongs to the thread that acquired it and cannot be posted.
 */
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: the interface below declares what the prototype inherits from ExclusiveGuard (inheritExclusive): a flat class constructs faster than `extends` (guard.ts).
export class MutexGuard<T> {
  static {
    inheritExclusive(MutexGuard);
  }

  /** @internal Guards come from `Mutex.lock()`; this constructor throws for anyone else. */
  constructor(token: GuardToken, data: LockData<T>, value: GuardValue<T>) {
    if (token !== GUARD_TOKEN) illegalConstructor("MutexGuard");
    initExclusive(this, data, value);
  }
}

/** What a {@link MutexGuard} inherits from {@link ExclusiveGuard}: `value`, `release()`, `released`, `poison()`. */
export interface MutexGuard<T> extends ExclusiveGuard<T> {}
