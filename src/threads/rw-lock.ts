import { UseAfterReleaseError } from "../errors.js";
import { abortWins, BatchSemaphore } from "../internal/batch-semaphore.js";
import { markNotSend } from "../internal/not-send.js";
import { GUARD_TOKEN, type GuardToken, illegalConstructor, notThenable } from "../internal/symbols.js";
import {
  checkFunction,
  checkOptionalBoolean,
  readAcquireOptions,
  readLockOptions,
  readSyncLockOptions,
  readTimeoutOptions,
  readTryOptions,
} from "../internal/validate.js";
import {
  type AcquireOptions,
  type DeepReadonly,
  interiorMutable,
  type LockOptions,
  type PoisonOptions,
  type Releasable,
} from "../types.js";
import { type DataLockKind, type DataLockParts, LockData, receiveLock } from "./data-lock.js";
import {
  type ExclusiveGuard,
  heldParts,
  inheritExclusive,
  initExclusive,
  markReleased,
  poisonError,
  releasedError,
} from "./guard.js";
import type { HandleBase } from "./memory/handle.js";
import type { GuardValue } from "./memory/shared-data.js";
import type { SyncLockOptions } from "./mutex.js";
import { realAtomics as A } from "./raw/atomics-like.js";
import * as raw from "./raw/raw-rw-lock.js";
import { ASYNC_SPIN_LIMIT, newWaiter, type RawWaiter, SPIN_LIMIT } from "./raw/waiter.js";
import { KickablePark, parkedWaiters } from "./runtime/keep-alive.js";
import { ownerId } from "./runtime/liveness.js";
import {
  assertCanBlock,
  checkSyncOptions,
  deadlineOf,
  driveAsync,
  driveSync,
  now,
  PARK,
  parkCompetitor,
  precheck,
  timeoutError,
  waitAsync,
} from "./runtime/wait.js";
import { selfDeadlock } from "./runtime/waits-for.js";

const TAG = "lockbox.threads.RwLock";

/** The structured-clone-safe form of an {@link RwLock}: post it (or the lock) and call `RwLock.from` there. */
export interface RwLockHandle extends HandleBase<typeof TAG>, DataLockParts {
  /** Whether a failing `withWrite` callback poisons the lock. */
  readonly poison: boolean;
}

const KIND: DataLockKind = {
  kind: "RwLock",
  tag: TAG,
  words: raw.RW_LOCK_WORDS,
  poisonOption: true,
  exclusiveGuard: "RwLockWriteGuard",
};

/*
 * The kinds of a queued async acquire, as the number of local-queue permits it asks for: the head's
 * `headRemaining` tells the competitor which kind to take from the shared word (the pool never holds
 * a partial grant: a release always brings exactly what the head asks for, see `#serve`).
 */
/** A queued `read()`: one read share. */
const READ = 1;
/** A queued `upgradableRead()`: the upgradable share. */
const UPGRADABLE_READ = 2;
/** A queued `write()`: the write lock. */
const WRITE = 3;
/** The method of each kind, for errors. */
const METHODS = ["", "read", "upgradableRead", "write"] as const;
/** Tag bit of a queued acquire that takes the lock even when it is poisoned. */
const IGNORE_POISON = 1;
/**
 * How long (ms) the competitor stands back after this thread gave the word back because a waiter of
 * another thread waits: long enough for that woken waiter to take the word first (it is not
 * notified when the word is taken, so the pause is this timeout).
 */
const YIELD_MS = 1;

/** The local queue's timeout (its owner renames it after the kind that timed out, see `#enqueue`). */
interface LocalTimeout {
  readonly localTimeout: number;
}

/** The two-level rule (raw `othersWaiting`): a release must go to the word, not to a task queued here. */
function othersWaiting(word: Int32Array): boolean {
  return raw.othersWaiting(A, word, 0, ownerId);
}

/** Privileged access of the guards to their lock; set once by the `RwLock` class. */
interface Internals {
  open<T>(lock: RwLock<T>): GuardValue<T>;
  /**
   * The write guard of the write lock this instance has just taken; for data that cannot be shown
   * (undecodable JSON) it gives the write lock straight back (no local hand-off) and throws.
   */
  writeGuard<T>(lock: RwLock<T>): RwLockWriteGuard<T>;
  readUnlock(lock: RwLock<unknown>, tracked: boolean): void;
  /** A share (the upgradable one) was given back or downgraded: the competitor may get in now. */
  shareLeft(lock: RwLock<unknown>): void;
  /** Writes the write guard's value back (JSON), then turns the write lock into a read share. */
  downgrade<T>(lock: RwLock<T>, value: GuardValue<T>): void;
  word(lock: RwLock<unknown>): Int32Array;
}
let internals: Internals;

/**
 * A reader-writer lock over shared memory, shared between worker threads (Rust's `std::sync::RwLock`):
 * many readers or one writer. Readers get a {@link RwLockReadGuard} (`value` typed read-only), the
 * writer a {@link RwLockWriteGuard}. Every waiting method has an async form (`read`, `write`) and a
 * blocking one (`readSync`, `writeSync`).
 *
 * @example
 * ```ts
 * const table = new RwLock(new Float64Array(new SharedArrayBuffer(8 * 16)));
 * worker.postMessage(table); // there: RwLock.from<Float64Array>(message)
 * const total = await table.withRead((guard) => guard.value.reduce((a, b) => a + b, 0));
 * table.withWriteSync((guard) => {
 *   guard.value[0] = total;
 * });
 * ```
 *
 * **Fairness**: writer-preferring, and no waiter starves. While a writer waits, new readers wait too,
 * so a stream of readers cannot starve writers; consecutive readers share the lock. A running thread
 * may re-take a free lock (no queue, no convoy), but a waiter that has waited about a millisecond is
 * registered as the lock's one starving waiter: until it gets in, other threads' writers and
 * upgradable readers do not take the free lock (nor readers, when it waits to write), and
 * `tryWrite` / `tryUpgradableRead` (`tryRead`, for a starving writer) return `undefined`. A starving
 * waiter that dies or stops running is passed over after about 200 ms.
 * Within one thread (one `RwLock` instance), async `read()`, `write()` and `upgradableRead()` calls
 * are FIFO: they queue locally in one queue, and only its head competes for the shared lock word;
 * consecutive queued readers each take a share as they reach the head (sharing the lock with each
 * other). A write release hands the lock straight to the next queued task of this thread (a writer
 * keeps it, a reader gets it downgraded to a share) unless a waiter of another thread is waiting or
 * starving, and `tryRead()` / `tryWrite()` / `tryUpgradableRead()` do not jump ahead of queued tasks.
 * Blocking `readSync` / `writeSync` are not queued.
 *
 * **Poisoning** (on by default): a failing `withWrite` callback, `writeGuard.poison()`, or the death
 * of a supervised worker holding the write lock poisons it; read holders never poison. While poisoned,
 * `read` and `write` reject with `PoisonError` unless `{ ignorePoison: true }`.
 *
 * **Owner death**: a supervised worker that dies holding the write lock leaves it released and
 * poisoned; one that dies holding read shares has them released (not poisoned: readers never poison)
 * once a waiter notices, within about 50 ms. Read shares are tracked for up to 8 reading threads at a
 * time; shares of further threads are not recovered.
 *
 * `upgradableRead` (parking_lot) gives a share that can later become the write lock with
 * `upgrade()`, without another writer getting in between; one upgradable reader at a time.
 */
export class RwLock<T = null> {
  declare readonly [interiorMutable]: true;
  /** The structured-clone-safe handle; see {@link RwLock.from}. */
  readonly handle: RwLockHandle;
  /** The data side (data, handle, name, poison option), shared with every write guard. */
  readonly #data: LockData<T, RwLockHandle>;
  /** The lock words (`#data.word`, kept here for the hot paths). */
  readonly #word: Int32Array;
  readonly #table: Int32Array;

  /**
   * This thread's queue of async `read()`, `write()` and `upgradableRead()` calls (issue 10; the
   * in-process FIFO core, zero permits at rest). A waiter asks for its kind in permits ({@link READ},
   * {@link UPGRADABLE_READ}, {@link WRITE}); a "grant" hands it what this instance has just taken from
   * the shared word for it ({@link #inHand}). Only the head competes for the word (`#compete`), so the
   * word sees one async waiter per thread and a drain of N local waiters costs O(N).
   */
  readonly #local: BatchSemaphore = this.#newQueue();
  /**
   * What this instance has taken from the word for the queue's head and not yet put in a guard (a
   * kind, or 0): set and consumed within one synchronous `#serve`.
   */
  #inHand = 0;
  /** `true` while this instance holds the write lock: a write guard (of any acquire) is out, or in hand. */
  #writing = false;
  /** `true` while `#compete` runs (at most one per instance). */
  #competing = false;
  /** The kind the competitor is taking (the head's kind when it last looked), 0 when none. */
  #competingFor = 0;
  /** `true` while `#serve` runs: nothing may start the competitor under it (it is inside a grant). */
  #serving = false;
  /** Set when this thread gave the word back for another thread's waiter: the competitor stands back first. */
  #standBack = false;
  /** The competitor's park, kicked when the head's kind changes, the queue empties or this thread writes. */
  readonly #park = new KickablePark();

  static {
    internals = {
      open: (lock) => lock.#data.open(),
      writeGuard: (lock) => lock.#writeGuard(),
      readUnlock: (lock, tracked) => {
        if (tracked) raw.unregisterReader(A, lock.#word, 0, ownerId);
        raw.readUnlock(A, lock.#word, 0);
        if (lock.#competing) lock.#shareLeft();
      },
      shareLeft: (lock) => {
        if (lock.#competing) lock.#shareLeft();
      },
      downgrade: (lock, value) => {
        // A write-back that throws (JSON past maxBytes) leaves everything as it was: the write lock
        // held, the stored value unchanged.
        lock.#data.close(value);
        raw.downgrade(A, lock.#word, 0, ownerId);
        lock.#writing = false;
        // Queued readers of this thread may share the lock now.
        lock.#wake();
      },
      word: (lock) => lock.#word,
    };
  }

  /**
   * @param data - the protected data (as for `Mutex`).
   * @param options - `poison`: poison the lock when a `withWrite` callback throws (default `true`).
   * @throws TypeError when `data` cannot be shared or the options have the wrong type.
   */
  constructor(data: T, options?: PoisonOptions) {
    const lockData = new LockData<T, RwLockHandle>(this, KIND, data, options, {
      unlock: () => this.#releaseWrite(),
      poison: () => raw.poisonRwLock(A, this.#word, 0),
    });
    this.#data = lockData;
    this.#word = lockData.word;
    this.#table = lockData.table;
    this.handle = lockData.handle;
  }

  /** See `Internals.writeGuard`. */
  #writeGuard(): RwLockWriteGuard<T> {
    this.#writing = true;
    // A parked competitor stops: the write release hands on locally (or restarts it).
    this.#park.kick();
    const data = this.#data;
    let value: GuardValue<T>;
    try {
      value = data.open();
    } catch (error) {
      this.#writing = false;
      raw.writeUnlock(A, this.#word, 0, ownerId);
      if (!this.#serving) this.#wake();
      throw error;
    }
    return new RwLockWriteGuard(GUARD_TOKEN, data, value);
  }

  /** The name given to the constructor (`{ name }`), or `RwLock#n`; carried by the handle to every thread. */
  get name(): string {
    return this.#data.name;
  }

  /**
   * Self-deadlock: an untimed blocking acquire that waits for this very thread would hang forever (a timed
   * one still ends with its TimeoutError). `exclusive` (a write) also waits for this thread's own read
   * shares.
   */
  #refuseSelfDeadlock(method: string, exclusive: boolean, options: SyncLockOptions | undefined): void {
    if (options?.timeout !== undefined) return;
    const s = Atomics.load(this.#word, 0);
    if ((s & raw.WRITE_LOCKED) !== 0 && (s & raw.COUNT_MASK) === ownerId) throw selfDeadlock(this.#data.name, method);
    if (!exclusive) return;
    for (let k = 0; k < raw.READER_SLOTS; k++) {
      if (
        Atomics.load(this.#word, raw.SLOTS + 2 * k) === ownerId &&
        Atomics.load(this.#word, raw.SLOTS + 1 + 2 * k) > 0
      ) {
        throw selfDeadlock(this.#data.name, method, "as a reader (a writer waits for every reader)");
      }
    }
  }

  /**
   * Rebuilds an RwLock from a received handle (or a posted lock), over the same memory.
   *
   * @example
   * ```ts
   * const table = RwLock.from<Float64Array>(workerData);
   * ```
   *
   * @throws TypeError for anything but a current RwLock handle over shared memory of the right size.
   */
  static from<T = unknown>(received: unknown): RwLock<T> {
    return receiveLock(received, KIND, "RwLock.from", (data) => new RwLock<T>(data as T));
  }

  /** Number of read shares held now (0 while write-locked). */
  get readers(): number {
    const s = A.load(this.#word, 0);
    return (s & raw.WRITE_LOCKED) !== 0 ? 0 : s & raw.COUNT_MASK;
  }

  /** `true` while a writer holds the lock. */
  get isWriteLocked(): boolean {
    return (A.load(this.#word, 0) & raw.WRITE_LOCKED) !== 0;
  }

  /** `true` while poisoned. */
  get isPoisoned(): boolean {
    return (A.load(this.#word, 0) & raw.POISONED) !== 0;
  }

  /**
   * Clears the poison flag.
   *
   * @example
   * ```ts
   * lock.withWriteSync((guard) => guard.value.fill(0), { ignorePoison: true });
   * lock.clearPoison();
   * ```
   */
  clearPoison(): void {
    raw.clearRwPoison(A, this.#word, 0);
  }

  /**
   * Waits (without blocking the thread) for a read share.
   *
   * @example
   * ```ts
   * using guard = await lock.read();
   * console.log(guard.value[0]);
   * ```
   *
   * **Cancel safety**: an abort or timeout stops the wait at once; nothing is held.
   *
   * **Throws** (rejects): `PoisonError` while poisoned (unless `ignorePoison`), `TimeoutError`, the
   * signal's reason, `TypeError` / `RangeError` for bad options.
   */
  read(options?: LockOptions): Promise<RwLockReadGuard<T>> {
    return this.#acquire(READ, options) as Promise<RwLockReadGuard<T>>;
  }

  /**
   * Blocks the thread until a read share is available.
   *
   * @example
   * ```ts
   * using guard = lock.readSync({ timeout: 100 });
   * ```
   *
   * **Throws**: `WouldBlockError` where blocking is forbidden, `TimeoutError`, `PoisonError`.
   */
  readSync(options?: SyncLockOptions): RwLockReadGuard<T> {
    options = readSyncLockOptions(options);
    assertCanBlock("RwLock.readSync", this.#data.name);
    checkSync(options);
    const ignorePoison = options?.ignorePoison === true;
    const word = this.#word;
    const table = this.#table;
    if (!ignorePoison && this.isPoisoned) throw poisonError(this.#data.name, "readSync");
    if (!raw.tryRead(A, word, 0, table)) {
      this.#refuseSelfDeadlock("RwLock.readSync()", false, options);
      const waiter = newWaiter();
      driveSync(
        word,
        waiter,
        () => (raw.readStepReaping(A, word, 0, ownerId, table, waiter, now) ? 0 : PARK),
        deadlineOf(options?.timeout),
        () => raw.abandonRead(A, word, 0, waiter),
        "RwLock.readSync()",
        options?.timeout,
        this.#data.name,
      );
    }
    return this.#readAcquired(ignorePoison, "readSync");
  }

  /**
   * A read share if one is available now (no writer holds or waits, and no other thread's writer is
   * registered as starving: see **Fairness** on {@link RwLock}), else `undefined`.
   *
   * @throws PoisonError while poisoned, unless `{ ignorePoison: true }`.
   */
  tryRead(options?: { ignorePoison?: boolean | undefined }): RwLockReadGuard<T> | undefined {
    const ignorePoison = readTryOptions(options); // validated before anything is taken
    // FIFO in this thread: no barging past tasks of this thread already queued.
    if (this.#local.waiters !== 0 || !raw.tryRead(A, this.#word, 0, this.#table)) return undefined;
    return this.#readAcquired(ignorePoison, "tryRead");
  }

  /**
   * Waits (without blocking the thread) for the write lock.
   *
   * @example
   * ```ts
   * using guard = await lock.write({ timeout: 1_000 });
   * guard.value[0] = 1;
   * ```
   *
   * **Cancel safety**: an abort or timeout stops the wait at once; nothing is held, and the "writer
   * waiting" flag it set is withdrawn (other waiting writers set theirs again), so readers are not held
   * back by a writer that left.
   *
   * **Throws** (rejects): `PoisonError` (unless `ignorePoison`), `TimeoutError`, the signal's reason.
   */
  write(options?: LockOptions): Promise<RwLockWriteGuard<T>> {
    return this.#acquire(WRITE, options) as Promise<RwLockWriteGuard<T>>;
  }

  /**
   * Blocks the thread until the write lock is free.
   *
   * @example
   * ```ts
   * using guard = lock.writeSync();
   * guard.value[0] = 2;
   * ```
   *
   * **Throws**: `WouldBlockError` where blocking is forbidden, `TimeoutError`, `PoisonError`.
   */
  writeSync(options?: SyncLockOptions): RwLockWriteGuard<T> {
    options = readSyncLockOptions(options);
    assertCanBlock("RwLock.writeSync", this.#data.name);
    checkSync(options);
    const ignorePoison = options?.ignorePoison === true;
    const word = this.#word;
    const table = this.#table;
    if (!ignorePoison && this.isPoisoned) throw poisonError(this.#data.name, "writeSync");
    if (!raw.tryWriteReaping(A, word, 0, ownerId, table)) {
      this.#refuseSelfDeadlock("RwLock.writeSync()", true, options);
      const waiter = newWaiter();
      driveSync(
        word,
        waiter,
        () => (raw.writeStepReaping(A, word, 0, ownerId, table, waiter, now) ? 0 : PARK),
        deadlineOf(options?.timeout),
        () => raw.abandonWrite(A, word, 0, waiter),
        "RwLock.writeSync()",
        options?.timeout,
        this.#data.name,
      );
    }
    return this.#writeAcquired(ignorePoison, "writeSync");
  }

  /**
   * The write lock if it is free now and no other thread's waiter is registered as starving (see
   * **Fairness** on {@link RwLock}), else `undefined`.
   *
   * @throws PoisonError while poisoned, unless `{ ignorePoison: true }`.
   */
  tryWrite(options?: { ignorePoison?: boolean | undefined }): RwLockWriteGuard<T> | undefined {
    const ignorePoison = readTryOptions(options); // validated before anything is taken
    // FIFO in this thread: no barging past tasks of this thread already queued.
    if (this.#local.waiters !== 0 || !raw.tryWriteReaping(A, this.#word, 0, ownerId, this.#table)) return undefined;
    return this.#writeAcquired(ignorePoison, "tryWrite");
  }

  /**
   * Reads under a shared lock: acquire, `fn(guard)`, release in every case.
   *
   * @example
   * ```ts
   * const first = await lock.withRead((guard) => guard.value[0]);
   * ```
   */
  async withRead<R>(fn: (guard: RwLockReadGuard<T>) => R | PromiseLike<R>, options?: LockOptions): Promise<Awaited<R>> {
    checkFunction("fn", fn);
    const guard = await this.read(options);
    try {
      return await fn(guard);
    } finally {
      guard.release();
    }
  }

  /**
   * Blocking form of {@link withRead}.
   *
   * @example
   * ```ts
   * const first = lock.withReadSync((guard) => guard.value[0]);
   * ```
   */
  withReadSync<R>(fn: (guard: RwLockReadGuard<T>) => R, options?: SyncLockOptions): R {
    checkFunction("fn", fn);
    const guard = this.readSync(options);
    try {
      return fn(guard);
    } finally {
      guard.release();
    }
  }

  /**
   * Writes under the exclusive lock: acquire, `fn(guard)`, release in every case. A throw while the
   * guard is held poisons the lock (unless made with `{ poison: false }`).
   *
   * @example
   * ```ts
   * await lock.withWrite((guard) => {
   *   guard.value[0] = 3;
   * });
   * ```
   */
  async withWrite<R>(
    fn: (guard: RwLockWriteGuard<T>) => R | PromiseLike<R>,
    options?: LockOptions,
  ): Promise<Awaited<R>> {
    checkFunction("fn", fn);
    const guard = await this.write(options);
    try {
      return await fn(guard);
    } catch (error) {
      if (this.#data.poisonOnError && !guard.released) raw.poisonRwLock(A, this.#word, 0);
      throw error;
    } finally {
      guard.release();
    }
  }

  /**
   * Blocking form of {@link withWrite}.
   *
   * @example
   * ```ts
   * lock.withWriteSync((guard) => {
   *   guard.value[0] = 4;
   * });
   * ```
   */
  withWriteSync<R>(fn: (guard: RwLockWriteGuard<T>) => R, options?: SyncLockOptions): R {
    checkFunction("fn", fn);
    const guard = this.writeSync(options);
    try {
      return fn(guard);
    } catch (error) {
      if (this.#data.poisonOnError && !guard.released) raw.poisonRwLock(A, this.#word, 0);
      throw error;
    } finally {
      guard.release();
    }
  }

  /**
   * Waits (without blocking the thread) for an upgradable read share: shared with plain readers,
   * exclusive among upgradable readers, and able to {@link RwLockUpgradableReadGuard.upgrade} to the
   * write lock without letting another writer in between (parking_lot's upgradable read).
   *
   * @example
   * ```ts
   * const guard = await cache.upgradableRead();
   * if (guard.value[0] === 0) {
   *   using writer = await guard.upgrade();
   *   writer.value[0] = compute();
   * } else {
   *   guard.release();
   * }
   * ```
   *
   * **Cancel safety**: an abort or timeout stops the wait at once; nothing is held.
   *
   * **Throws** (rejects): `PoisonError` (unless `ignorePoison`), `TimeoutError`, the signal's reason.
   */
  upgradableRead(options?: LockOptions): Promise<RwLockUpgradableReadGuard<T>> {
    return this.#acquire(UPGRADABLE_READ, options) as Promise<RwLockUpgradableReadGuard<T>>;
  }

  /**
   * Blocking form of {@link upgradableRead}.
   *
   * @example
   * ```ts
   * const guard = cache.upgradableReadSync({ timeout: 100 });
   * ```
   *
   * **Throws**: `WouldBlockError` where blocking is forbidden, `TimeoutError`, `PoisonError`.
   */
  upgradableReadSync(options?: SyncLockOptions): RwLockUpgradableReadGuard<T> {
    options = readSyncLockOptions(options);
    assertCanBlock("RwLock.upgradableReadSync", this.#data.name);
    checkSync(options);
    const ignorePoison = options?.ignorePoison === true;
    const word = this.#word;
    const table = this.#table;
    if (!ignorePoison && this.isPoisoned) throw poisonError(this.#data.name, "upgradableReadSync");
    if (!raw.tryUpgradableRead(A, word, 0, ownerId, table)) {
      this.#refuseSelfDeadlock("RwLock.upgradableReadSync()", false, options);
      const waiter = newWaiter();
      driveSync(
        word,
        waiter,
        () => (raw.upgradableReadStepReaping(A, word, 0, ownerId, table, waiter, now) ? 0 : PARK),
        deadlineOf(options?.timeout),
        () => raw.abandonRead(A, word, 0, waiter),
        "RwLock.upgradableReadSync()",
        options?.timeout,
        this.#data.name,
      );
    }
    return this.#upgradableAcquired(ignorePoison, "upgradableReadSync");
  }

  /**
   * An upgradable read share if one is available now (and no other thread's waiter is registered as
   * starving), else `undefined`.
   *
   * @throws PoisonError while poisoned, unless `{ ignorePoison: true }`.
   */
  tryUpgradableRead(options?: { ignorePoison?: boolean | undefined }): RwLockUpgradableReadGuard<T> | undefined {
    const ignorePoison = readTryOptions(options); // validated before anything is taken
    // FIFO in this thread: no barging past tasks of this thread already queued.
    if (this.#local.waiters !== 0 || !raw.tryUpgradableRead(A, this.#word, 0, ownerId, this.#table)) return undefined;
    return this.#upgradableAcquired(ignorePoison, "tryUpgradableRead");
  }

  /**
   * `read()`, `write()`, `upgradableRead()`: the guard at once when nobody of this thread is queued
   * and the word lets `kind` in, else a place in this thread's queue.
   */
  #acquire(kind: number, options: LockOptions | undefined): Promise<Releasable> {
    try {
      options = readLockOptions(options);
    } catch (error) {
      return Promise.reject(error);
    }
    const early = precheck(options);
    if (early !== undefined) return early;
    const ignorePoison = options?.ignorePoison === true;
    const method = METHODS[kind] as string;
    if (!ignorePoison && this.isPoisoned) return Promise.reject(poisonError(this.#data.name, method));
    // FIFO in this thread: no barging past tasks of this thread already queued.
    if (this.#local.waiters === 0 && this.#try(kind)) {
      // A guard that cannot be made (poisoned meanwhile, undecodable data) rejects, never throws.
      try {
        return Promise.resolve(
          kind === READ
            ? this.#readAcquired(ignorePoison, method)
            : kind === WRITE
              ? this.#writeAcquired(ignorePoison, method)
              : this.#upgradableAcquired(ignorePoison, method),
        );
      } catch (error) {
        return Promise.reject(error);
      }
    }
    return this.#enqueue(kind, options);
  }

  /** Queues an async acquire of `kind` in this thread's FIFO; the head competes for the word. */
  #enqueue<G extends Releasable>(kind: number, options: LockOptions | undefined): Promise<G> {
    const local = this.#local;
    let queued = local.acquire(kind, options?.ignorePoison === true ? IGNORE_POISON : 0, options) as Promise<G>;
    // The head competes, unless this thread writes (its release hands on) or a grant is under way.
    if (!this.#competing && !this.#serving && !this.#writing && local.waiters !== 0) void this.#compete();
    if (options?.timeout !== undefined) {
      // The queue's timeout names the kind that timed out (one queue serves the three methods).
      const name = this.#data.name;
      queued = queued.catch((error: unknown) => {
        const timedOut = (error as Partial<LocalTimeout> | undefined)?.localTimeout;
        throw timedOut === undefined ? error : timeoutError(`RwLock.${METHODS[kind]}()`, timedOut, name);
      });
    }
    // A grant that races with an abort: the abort wins, the guard is released (handed on).
    return abortWins(queued, options?.signal);
  }

  /** The local queue: one FIFO for the three kinds, its guards made by {@link #onGrant}. */
  #newQueue(): BatchSemaphore {
    const local = new BatchSemaphore(0, (tag, kind) => this.#onGrant(tag, kind));
    local.timeoutError = (timeout) => ({ localTimeout: timeout }) as LocalTimeout as unknown as Error;
    local.onCancel = () => {
      // The head left: the competitor re-reads the head's kind (withdrawing what it set for the old
      // one), or stops when the queue is empty.
      if (this.#competing && local.headRemaining !== this.#competingFor) this.#park.kick();
    };
    return local;
  }

  /**
   * Builds the guard of a queued waiter of `kind` from what is in hand (the same kind: see `#serve`).
   * A poisoned lock fails just this waiter and keeps what is in hand for the next one; the
   * `forget` stops the queue's drain there, since the next waiter may want another kind.
   */
  #onGrant(tag: number, kind: number): Releasable {
    if ((tag & IGNORE_POISON) === 0 && this.isPoisoned) {
      this.#local.forget(kind);
      throw poisonError(this.#data.name, METHODS[kind] as string);
    }
    this.#inHand = 0;
    try {
      if (kind === WRITE) return writeGuardOf(this);
      const tracked = raw.registerReader(A, this.#word, 0, ownerId);
      if (kind === READ) return new RwLockReadGuard<T>(GUARD_TOKEN, this, tracked);
      return new RwLockUpgradableReadGuard<T>(GUARD_TOKEN, this, tracked);
    } catch (error) {
      // Undecodable data: the guard gave back what it held.
      this.#local.forget(kind);
      throw error;
    }
  }

  /** One raw step of the competitor for `kind` (the reaping steps, as the blocking acquires run). */
  #step(kind: number, waiter: RawWaiter): boolean {
    const word = this.#word;
    const table = this.#table;
    if (kind === READ) return raw.readStepReaping(A, word, 0, ownerId, table, waiter, now);
    if (kind === WRITE) return raw.writeStepReaping(A, word, 0, ownerId, table, waiter, now);
    return raw.upgradableReadStepReaping(A, word, 0, ownerId, table, waiter, now);
  }

  /** Takes `kind` from the word now if it lets us (writer preference and all: the raw try decides). */
  #try(kind: number): boolean {
    const word = this.#word;
    const table = this.#table;
    return kind === READ
      ? raw.tryRead(A, word, 0, table)
      : kind === WRITE
        ? raw.tryWriteReaping(A, word, 0, ownerId, table)
        : raw.tryUpgradableRead(A, word, 0, ownerId, table);
  }

  /**
   * Called with something in hand ({@link #inHand}): grants it to the queue's head if it asks for that
   * kind; a write in hand goes to a head reader as a downgrade (when no other thread waits); then
   * each following head reader (or upgradable reader) takes its own share at once if the word lets
   * it. What nobody here takes goes back to the word, and the competitor carries on for the head.
   */
  #serve(): void {
    const local = this.#local;
    this.#serving = true;
    try {
      for (;;) {
        const held = this.#inHand;
        const need = local.headRemaining;
        if (held === 0) {
          // Granted: consecutive readers each take a share (counted, and recorded in this thread's slot by the grant).
          if (need === 0 || this.#writing || !this.#try(need)) break;
          if (need === WRITE) this.#writing = true;
          this.#inHand = need;
          continue;
        }
        if (need === held) {
          // Grants the head, or (poisoned) fails it and keeps what is in hand: the loop goes on.
          local.release(need);
          continue;
        }
        if (held === WRITE && need === READ && !othersWaiting(this.#word)) {
          raw.downgrade(A, this.#word, 0, ownerId);
          this.#writing = false;
          this.#inHand = READ;
          continue;
        }
        this.#giveBack(held, held === WRITE && need !== 0);
        break;
      }
    } finally {
      this.#serving = false;
    }
    this.#wake();
  }

  /** Gives what is in hand back to the word; `yieldFirst`: the competitor lets another thread's waiter in first. */
  #giveBack(held: number, yieldFirst: boolean): void {
    const word = this.#word;
    this.#inHand = 0;
    if (held === WRITE) {
      // Read before the unlock, which clears the WAITING bits.
      if (yieldFirst && othersWaiting(word)) this.#standBack = true;
      this.#writing = false;
      raw.writeUnlock(A, word, 0, ownerId);
    } else if (held === READ) raw.readUnlock(A, word, 0);
    else raw.upgradableUnlock(A, word, 0, ownerId);
  }

  /**
   * The write lock this instance holds is released (a write guard, after its write-back): to the next
   * task queued here when no other thread waits (a writer keeps it, a reader gets it downgraded),
   * else to the word, and this thread's queue competes again, after standing back.
   */
  #releaseWrite(): void {
    const local = this.#local;
    if (local.waiters === 0) {
      this.#writing = false;
      raw.writeUnlock(A, this.#word, 0, ownerId);
      return;
    }
    if (othersWaiting(this.#word)) {
      this.#giveBack(WRITE, true);
      this.#wake();
      return;
    }
    this.#inHand = WRITE;
    this.#serve();
  }

  /**
   * A share of this thread was given back while the competitor runs: if that let the head's kind in
   * (a write head and the lock is free now, an upgradable head and the upgradable share is free), the
   * competitor re-steps at once instead of waiting for its parked `waitAsync` to wake (a macrotask).
   */
  #shareLeft(): void {
    const s = Atomics.load(this.#word, 0);
    const kind = this.#competingFor;
    if (
      (kind === WRITE && (s & (raw.WRITE_LOCKED | raw.COUNT_MASK)) === 0) ||
      (kind === UPGRADABLE_READ && (s & (raw.UPGRADABLE | raw.WRITE_LOCKED)) === 0)
    ) {
      this.#park.kick();
    }
  }

  /** After the word or the queue changed: start the competitor, or make a parked one re-read the head. */
  #wake(): void {
    const local = this.#local;
    if (!this.#competing) {
      if (local.waiters !== 0 && !this.#writing) void this.#compete();
    } else if (this.#writing || local.headRemaining !== this.#competingFor) {
      this.#park.kick();
    }
  }

  /**
   * The local queue's head competing for the shared word on behalf of every task queued here: it
   * runs while the queue is not empty and this instance does not hold the write lock, takes the
   * head's kind with the raw reaping steps (one waiter for the raw protocol: it spins, parks, sets
   * READERS_WAITING / WRITERS_WAITING like any waiter), and on success serves the queue. When the
   * head's kind changes (a head left) it withdraws a parked writer's flag (`abandonWrite`) first.
   */
  async #compete(): Promise<void> {
    this.#competing = true;
    const word = this.#word;
    const local = this.#local;
    let waiter: RawWaiter = newWaiter(0);
    let kind = 0;
    try {
      for (;;) {
        if (this.#standBack) {
          // This thread just gave the word back for another thread's waiter: let it in first.
          this.#standBack = false;
          const result = waitAsync(word, 0, Atomics.load(word, 0), YIELD_MS);
          if (result.async) await this.#park.park(result.value);
          continue;
        }
        const need = this.#writing ? 0 : local.headRemaining;
        if (need !== kind || need === 0) {
          // A parked writer withdraws its WRITERS_WAITING (other parked writers set it again); any
          // head that leaves withdraws its starver registration.
          if (kind === WRITE) raw.abandonWrite(A, word, 0, waiter);
          else if (kind !== 0) raw.abandonRead(A, word, 0, waiter);
          if (need === 0) return;
          kind = this.#competingFor = need;
          // A long spin for this thread's first parked waiter only (see ASYNC_SPIN_LIMIT).
          waiter = newWaiter(parkedWaiters() === 0 ? ASYNC_SPIN_LIMIT : SPIN_LIMIT);
        }
        if (this.#step(kind, waiter)) {
          if (kind === WRITE) {
            this.#writing = true;
            // A writer that parked takes the lock with WRITERS_WAITING set (others may be parked): it
            // withdraws it (they wake and set it again), so that a set bit at its release means
            // another thread waits, not this thread's own earlier park.
            raw.abandonWrite(A, word, 0, waiter);
          }
          this.#inHand = kind;
          kind = this.#competingFor = 0;
          this.#serve();
          continue;
        }
        // Every wake-up of the raw RwLock notifies all, so a kicked park swallows nobody's wake-up.
        const parked = parkCompetitor(this.#park, word, waiter);
        if (parked !== undefined) await parked;
      }
    } finally {
      this.#competing = false;
      this.#competingFor = 0;
    }
  }

  #upgradableAcquired(ignorePoison: boolean, method: string): RwLockUpgradableReadGuard<T> {
    if (!ignorePoison && this.isPoisoned) {
      raw.upgradableUnlock(A, this.#word, 0, ownerId);
      throw poisonError(this.#data.name, method);
    }
    return new RwLockUpgradableReadGuard<T>(GUARD_TOKEN, this, raw.registerReader(A, this.#word, 0, ownerId));
  }

  #readAcquired(ignorePoison: boolean, method: string): RwLockReadGuard<T> {
    if (!ignorePoison && this.isPoisoned) {
      raw.readUnlock(A, this.#word, 0);
      throw poisonError(this.#data.name, method);
    }
    return new RwLockReadGuard<T>(GUARD_TOKEN, this, raw.registerReader(A, this.#word, 0, ownerId));
  }

  #writeAcquired(ignorePoison: boolean, method: string): RwLockWriteGuard<T> {
    if (!ignorePoison && this.isPoisoned) {
      raw.writeUnlock(A, this.#word, 0, ownerId);
      throw poisonError(this.#data.name, method);
    }
    return writeGuardOf(this);
  }
}

function checkSync(options: SyncLockOptions | undefined): void {
  if (options === undefined) return;
  checkSyncOptions(options);
  checkOptionalBoolean("ignorePoison", options.ignorePoison);
}

/**
 * A read share of an {@link RwLock} (Rust's `RwLockReadGuard`): `value` is typed read-only. Release
 * with `release()` or `using`; `value` then throws `UseAfterReleaseError`.
 */
export class RwLockReadGuard<T> implements Releasable {
  static {
    notThenable(RwLockReadGuard.prototype);
  }

  #lock: RwLock<T> | undefined;
  readonly #value: GuardValue<T>;
  /** Whether this share is recorded in a reader slot (owner-death recovery). */
  readonly #tracked: boolean;

  /** @internal Guards come from `RwLock.read()`; this constructor throws for anyone else. */
  constructor(token: GuardToken, lock: RwLock<T>, tracked: boolean) {
    if (token !== GUARD_TOKEN) illegalConstructor("RwLockReadGuard");
    markNotSend(this);
    this.#lock = lock;
    this.#tracked = tracked;
    try {
      this.#value = internals.open(lock);
    } catch (error) {
      // The data cannot be shown (undecodable JSON): give the share back rather than leak it.
      this.#lock = undefined;
      internals.readUnlock(lock as RwLock<unknown>, tracked);
      throw error;
    }
  }

  /** The protected data, read-only. */
  get value(): DeepReadonly<GuardValue<T>> {
    if (this.#lock === undefined) throw releasedError("RwLockReadGuard", "read `value` of");
    return this.#value as DeepReadonly<GuardValue<T>>;
  }

  /** `true` once released. */
  get released(): boolean {
    return this.#lock === undefined;
  }

  /** Gives the share back. Idempotent. */
  release(): void {
    const lock = this.#lock;
    if (lock === undefined) return;
    this.#lock = undefined;
    internals.readUnlock(lock as RwLock<unknown>, this.#tracked);
  }

  /** Same as {@link release}, for `using`. */
  [Symbol.dispose](): void {
    this.release();
  }
}

/**
 * The write lock of an {@link RwLock} (Rust's `RwLockWriteGuard`): an {@link ExclusiveGuard} (`value`
 * reads and writes the data, `release()`, `poison()`) that can also {@link downgrade}.
 */
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: the interface below declares what the prototype inherits from ExclusiveGuard (inheritExclusive): a flat class constructs faster than `extends` (guard.ts).
export class RwLockWriteGuard<T> {
  static {
    inheritExclusive(RwLockWriteGuard);
  }

  /** @internal Guards come from `RwLock.write()`; this constructor throws for anyone else. */
  constructor(token: GuardToken, data: LockData<T>, value: GuardValue<T>) {
    if (token !== GUARD_TOKEN) illegalConstructor("RwLockWriteGuard");
    initExclusive(this, data, value);
  }

  /**
   * Atomically turns the write lock into a read share: no writer can get in between, and waiting
   * readers are let in. This guard becomes released.
   *
   * @example
   * ```ts
   * const writer = await lock.write();
   * writer.value[0] = 5;
   * using reader = writer.downgrade();
   * ```
   *
   * **Throws**: `UseAfterReleaseError` after release. Over `json()` data the value is written back
   * first; when that throws (`RangeError` past `maxBytes`, `TypeError` for a value without JSON form)
   * nothing has changed: this guard still holds the write lock and its value, and the stored value is
   * the old one. Fix the value and downgrade again, or release.
   */
  downgrade(): RwLockReadGuard<T> {
    const { data, value } = heldParts(this, "downgrade");
    const lock = data.lock as RwLock<T>;
    internals.downgrade(lock, value);
    markReleased(this);
    return new RwLockReadGuard<T>(GUARD_TOKEN, lock, raw.registerReader(A, data.word, 0, ownerId));
  }
}

/** What a {@link RwLockWriteGuard} inherits from {@link ExclusiveGuard}: `value`, `release()`, `released`, `poison()`. */
export interface RwLockWriteGuard<T> extends ExclusiveGuard<T> {}

/** The error a pending upgrade rejects with when its guard is released or downgraded under it. */
function cancelledUpgrade(state: number): UseAfterReleaseError {
  const how = state === raw.GUARD_DOWNGRADED ? "downgraded" : "released";
  return new UseAfterReleaseError(`The upgradable guard was ${how} while upgrade() was pending`);
}

/**
 * An upgradable read share of an {@link RwLock} (parking_lot's `RwLockUpgradableReadGuard`): reads like
 * a read guard (`value` typed read-only), excludes other upgradable readers and writers, and can turn
 * into the write lock with {@link upgrade} without another writer getting in between.
 *
 * One `upgrade()` at a time: a second call while one is pending rejects, and `tryUpgrade()` returns
 * `undefined`. Releasing or downgrading the guard while its `upgrade()` is pending cancels that
 * upgrade: it rejects with `UseAfterReleaseError` and never turns anyone's share into the write lock.
 */
export class RwLockUpgradableReadGuard<T> implements Releasable {
  static {
    notThenable(RwLockUpgradableReadGuard.prototype);
  }

  #lock: RwLock<T> | undefined;
  readonly #value: GuardValue<T>;
  readonly #tracked: boolean;
  /**
   * The guard's lifecycle word (see src/threads/raw/rw-upgrade.ts), made by the first `upgrade()`:
   * until then the guard is HELD and its own methods (synchronous) are the only ones that change that,
   * so they take the word-free paths (the same steps the lifecycle functions run from HELD).
   */
  #state: Int32Array | undefined = undefined;

  /** @internal Guards come from `RwLock.upgradableRead()`; this constructor throws for anyone else. */
  constructor(token: GuardToken, lock: RwLock<T>, tracked: boolean) {
    if (token !== GUARD_TOKEN) illegalConstructor("RwLockUpgradableReadGuard");
    markNotSend(this);
    this.#lock = lock;
    this.#tracked = tracked;
    try {
      this.#value = internals.open(lock);
    } catch (error) {
      // The data cannot be shown (undecodable JSON): give the share back rather than leak it.
      this.release();
      throw error;
    }
  }

  /** The protected data, read-only. */
  get value(): DeepReadonly<GuardValue<T>> {
    if (this.#lock === undefined) throw releasedError("RwLockUpgradableReadGuard", "read `value` of");
    return this.#value as DeepReadonly<GuardValue<T>>;
  }

  /** `true` once released, upgraded or downgraded. */
  get released(): boolean {
    return this.#lock === undefined;
  }

  /** Gives the share back, cancelling a pending {@link upgrade} first. Idempotent. */
  release(): void {
    const lock = this.#lock;
    if (lock === undefined) return;
    this.#lock = undefined;
    const word = internals.word(lock as RwLock<unknown>);
    const state = this.#state;
    if (state === undefined) raw.releaseUpgradableShare(A, word, 0, ownerId, this.#tracked);
    else raw.releaseUpgradableGuard(A, word, 0, ownerId, state, this.#tracked);
    internals.shareLeft(lock as RwLock<unknown>);
  }

  /** Same as {@link release}, for `using`. */
  [Symbol.dispose](): void {
    this.release();
  }

  /**
   * Waits (without blocking the thread) until the other readers have left, then turns this share
   * into the write lock. New readers wait meanwhile. This guard becomes released on success (at the
   * moment of the grant: a `release()` after it does nothing).
   *
   * @example
   * ```ts
   * using writer = await upgradable.upgrade({ timeout: 1_000 });
   * writer.value[0] += 1;
   * ```
   *
   * **Cancel safety**: on abort or timeout this guard still holds its upgradable share, and the
   * "writer waiting" flag the upgrade set is withdrawn. Releasing or downgrading this guard while the
   * upgrade is pending cancels it (it rejects with `UseAfterReleaseError`).
   *
   * **Throws** (rejects): `UseAfterReleaseError` after release, while another `upgrade()` of this
   * guard is pending, or when the guard is released or downgraded before the upgrade completes;
   * `TimeoutError`; the signal's reason.
   */
  async upgrade(options?: AcquireOptions): Promise<RwLockWriteGuard<T>> {
    options = readAcquireOptions(options);
    const lock = this.#live("upgrade");
    const early = precheck(options);
    if (early !== undefined) return early;
    const word = internals.word(lock as RwLock<unknown>);
    const state = (this.#state ??= new Int32Array(1));
    if (raw.beginUpgrade(A, state) !== raw.GUARD_HELD) {
      throw new UseAfterReleaseError("upgrade() is already pending on this guard");
    }
    const tracked = this.#tracked;
    const waiter = newWaiter(0);
    const outcome = await driveAsync(
      word,
      waiter,
      () => this.#upgradeStep(word, tracked, waiter),
      deadlineOf(options?.timeout),
      options?.signal,
      () => raw.giveUpUpgrade(A, word, 0, state),
      "RwLockUpgradableReadGuard.upgrade()",
      options?.timeout,
      lock.name,
    );
    if (outcome !== raw.UPGRADE_DONE) throw cancelledUpgrade(A.load(state, 0));
    return writeGuardOf(lock);
  }

  /**
   * Blocking form of {@link upgrade}.
   *
   * @example
   * ```ts
   * using writer = upgradable.upgradeSync({ timeout: 100 });
   * ```
   *
   * **Throws**: `WouldBlockError` where blocking is forbidden, `TimeoutError` (the share is kept),
   * `UseAfterReleaseError` after release or while an async `upgrade()` of this guard is pending.
   */
  upgradeSync(options?: { timeout?: number | undefined }): RwLockWriteGuard<T> {
    options = readTimeoutOptions(options);
    assertCanBlock("RwLockUpgradableReadGuard.upgradeSync", this.#lock?.name);
    checkSyncOptions(options);
    const lock = this.#live("upgrade");
    const word = internals.word(lock as RwLock<unknown>);
    const state = (this.#state ??= new Int32Array(1));
    if (raw.beginUpgrade(A, state) !== raw.GUARD_HELD) {
      throw new UseAfterReleaseError("upgrade() is already pending on this guard");
    }
    const tracked = this.#tracked;
    const waiter = newWaiter(0);
    const outcome = driveSync(
      word,
      waiter,
      () => this.#upgradeStep(word, tracked, waiter),
      deadlineOf(options?.timeout),
      () => raw.giveUpUpgrade(A, word, 0, state),
      "RwLockUpgradableReadGuard.upgradeSync()",
      options?.timeout,
      lock.name,
    );
    if (outcome !== raw.UPGRADE_DONE) throw cancelledUpgrade(A.load(state, 0));
    return writeGuardOf(lock);
  }

  /** One step of a pending upgrade, for the drivers; on success this guard is released at once. */
  #upgradeStep(word: Int32Array, tracked: boolean, waiter: RawWaiter): number {
    const outcome = raw.upgradeGuardStep(A, word, 0, ownerId, this.#state as Int32Array, tracked, waiter);
    if (outcome === raw.UPGRADE_PARK) return PARK;
    if (outcome === raw.UPGRADE_DONE) this.#lock = undefined;
    return outcome;
  }

  /**
   * The write lock if this is the only share now and no upgrade is pending, else `undefined` (this
   * guard stays held).
   *
   * @throws UseAfterReleaseError after release.
   */
  tryUpgrade(): RwLockWriteGuard<T> | undefined {
    const lock = this.#live("upgrade");
    const word = internals.word(lock as RwLock<unknown>);
    const state = this.#state;
    const upgraded =
      state === undefined
        ? raw.tryUpgradeShare(A, word, 0, ownerId, this.#tracked)
        : raw.tryUpgradeGuard(A, word, 0, ownerId, state, this.#tracked);
    if (!upgraded) return undefined;
    this.#lock = undefined;
    return writeGuardOf(lock);
  }

  /**
   * Turns this share into a plain read share (another upgradable reader may then enter), cancelling a
   * pending {@link upgrade} first. This guard becomes released.
   *
   * @example
   * ```ts
   * using reader = upgradable.downgrade();
   * ```
   *
   * @throws UseAfterReleaseError after release.
   */
  downgrade(): RwLockReadGuard<T> {
    const lock = this.#live("downgrade");
    this.#lock = undefined;
    const word = internals.word(lock as RwLock<unknown>);
    const state = this.#state;
    if (state === undefined) raw.downgradeUpgradable(A, word, 0, ownerId);
    else raw.downgradeUpgradableGuard(A, word, 0, ownerId, state);
    internals.shareLeft(lock as RwLock<unknown>);
    return new RwLockReadGuard<T>(GUARD_TOKEN, lock, this.#tracked);
  }

  #live(action: string): RwLock<T> {
    const lock = this.#lock;
    if (lock === undefined) throw releasedError("RwLockUpgradableReadGuard", action);
    return lock;
  }
}

/** The write guard of the write lock that `lock` (an acquire, a grant, an upgrade) has just taken. */
function writeGuardOf<T>(lock: RwLock<T>): RwLockWriteGuard<T> {
  return internals.writeGuard(lock);
}
