import { PoisonError, UseAfterReleaseError } from "../errors.js";
import { abortWins, BatchSemaphore } from "../internal/batch-semaphore.js";
import { detachGuard, Guard } from "../internal/guard.js";
import { markNotSend } from "../internal/not-send.js";
import { type AsyncOp, type HoldMode, nameFor, observer } from "../internal/observer.js";
import { GUARD_TOKEN, type GuardToken, illegalConstructor, notThenable } from "../internal/symbols.js";
import {
  checkFunction,
  checkInteger,
  checkOptionalBoolean,
  checkOptionsObject,
  precheck,
  readLockOptions,
  readTryOptions,
} from "../internal/validate.js";
import { type DeepReadonly, interiorMutable, type LockOptions, type PoisonOptions, type Releasable } from "../types.js";

const MAX_READERS = 2 ** 31 - 1;

// Waiter tags: the kind of guard to build on grant, plus the ignore-poison bit.
const READ = 0;
const WRITE = 1;
const UPGRADABLE = 2;
/** An upgradable reader's upgrade; never poisoned (it already holds the lock shared). */
const UPGRADE = 3;
const KIND = 3;
const IGNORE_POISON = 4;
/** What a waiter of the main semaphore asks for, by kind (for the observer). */
const MODES: readonly HoldMode[] = ["shared", "exclusive", "shared", "exclusive"];
const OPS: readonly AsyncOp[] = ["read", "write", "upgradableRead"];

/** Options of {@link RwLock}'s constructor. */
export interface RwLockOptions extends PoisonOptions {
  // `name` comes from PoisonOptions (NameOptions): default `RwLock#n`.
  /** Most readers that may hold the lock at once, an integer from 1 to `2 ** 31 - 1` (the default). */
  maxReaders?: number | undefined;
}

// Privileged access of the guards to their lock; set once by the RwLock class.
let lockValue: <T>(lock: RwLock<T>) => T;
let setLockValue: <T>(lock: RwLock<T>, value: T) => void;
let releaseRead: (lock: RwLock<unknown>) => void;
let releaseWrite: (lock: RwLock<unknown>) => void;
let downgradeWrite: <T>(lock: RwLock<T>) => RwLockReadGuard<T>;
let releaseUpgradable: (lock: RwLock<unknown>) => void;
let upgradeUpgradable: <T>(lock: RwLock<T>, options: LockOptions | undefined) => Promise<RwLockWriteGuard<T>>;
let tryUpgradeUpgradable: <T>(lock: RwLock<T>) => RwLockWriteGuard<T> | undefined;
let downgradeUpgradable: <T>(lock: RwLock<T>) => RwLockReadGuard<T>;
let poisonLock: (lock: RwLock<unknown>) => void;

/**
 * An async reader-writer lock that owns its value (tokio's `RwLock<T>`, plus parking_lot's upgradable
 * reads): many readers at once, or one writer.
 *
 * Built on the batch-semaphore core with `maxReaders` permits: a read takes one, a write takes all of
 * them. An upgradable read takes one main permit plus the single permit of a second semaphore, which
 * makes upgradable readers exclusive among themselves while they share with plain readers.
 *
 * @example
 * ```ts
 * const cache = new RwLock(new Map<string, string>());
 * const hit = await cache.withRead((guard) => guard.value.get("k"));
 * await cache.withWrite((guard) => {
 *   guard.value.set("k", "v");
 * });
 * ```
 *
 * **Fairness**: strict FIFO, writer-preferring. A queued writer blocks readers that arrive after it (no
 * writer starvation); consecutive readers at the head of the queue are admitted together.
 *
 * **Cancel safety**: an aborted or timed-out acquire leaves the queue at once; a writer that had
 * collected some permits (waiting for readers to leave) hands them on.
 *
 * **Poisoning** (opt-in, `{ poison: true }`): a `withWrite` callback that throws poisons the lock; read
 * holders never poison. While poisoned every acquire rejects with {@link PoisonError} unless
 * `{ ignorePoison: true }`.
 */
export class RwLock<T> {
  declare readonly [interiorMutable]: true;
  #value: T;
  readonly #maxReaders: number;
  readonly #sem: BatchSemaphore;
  /** One permit: held by the upgradable reader, if any. */
  readonly #upgradable: BatchSemaphore;
  readonly #poisonOnError: boolean;
  readonly #name: string;
  #poisoned = false;
  #readers = 0;
  #writeLocked = false;
  /**
   * The waiter of the upgradable reader's `upgrade()` in `#sem` (queued at the head), if one was
   * queued. It may have left the queue already (aborted or timed out in this very tick): ask
   * `#upgradePending()`, and cancel it by this identity, never by queue position.
   */
  #upgrading: object | undefined = undefined;
  /** The live upgradable guard, if any (at most one: the upgradable slot has one permit). */
  #upgradableHolder: RwLockUpgradableReadGuard<T> | undefined = undefined;

  static {
    lockValue = (lock) => lock.#value;
    setLockValue = (lock, value) => {
      lock.#value = value;
    };
    releaseRead = (lock) => {
      lock.#readers--;
      lock.#sem.release(1);
    };
    releaseWrite = (lock) => {
      lock.#writeLocked = false;
      lock.#sem.release(lock.#maxReaders);
    };
    downgradeWrite = (lock) => {
      // Keep one permit (now a read) and give back the rest in the same step: no writer can get in
      // between, and readers queued at the head are admitted by this very release.
      lock.#writeLocked = false;
      lock.#readers++;
      const guard = new RwLockReadGuard(GUARD_TOKEN, lock);
      if (observer !== undefined) observer.acquired(lock, guard, "shared");
      lock.#sem.release(lock.#maxReaders - 1);
      return guard;
    };
    releaseUpgradable = (lock) => {
      lock.#abandonUpgrade();
      lock.#upgradableHolder = undefined;
      lock.#readers--;
      lock.#sem.release(1);
      lock.#upgradable.release(1);
    };
    upgradeUpgradable = (lock, options) => lock.#upgrade(options);
    tryUpgradeUpgradable = (lock) => {
      if (observer !== undefined) observer.sync(lock, "tryUpgrade");
      if (lock.#upgradePending() || !lock.#sem.tryAcquireFront(lock.#maxReaders - 1)) return undefined;
      return lock.#finishUpgrade();
    };
    downgradeUpgradable = (lock) => {
      lock.#abandonUpgrade();
      lock.#upgradableHolder = undefined;
      const guard = new RwLockReadGuard(GUARD_TOKEN, lock);
      if (observer !== undefined) observer.acquired(lock, guard, "shared");
      lock.#upgradable.release(1);
      return guard;
    };
    poisonLock = (lock) => {
      lock.#poisoned = true;
    };
  }

  /**
   * @param value - the protected value; from now on reach it through a guard.
   * @param options - `maxReaders` (default `2 ** 31 - 1`), `poison` (default `false`), `name`
   *   (default `RwLock#n`).
   * @throws TypeError / RangeError for bad options.
   */
  constructor(value: T, options?: RwLockOptions) {
    markNotSend(this);
    checkOptionsObject("options", options);
    const poison = options?.poison;
    checkOptionalBoolean("poison", poison);
    this.#name = nameFor("RwLock", options);
    const given = options?.maxReaders;
    // `undefined` means the default; `null` is a TypeError like any other non-integer.
    const maxReaders = given === undefined ? MAX_READERS : checkInteger("maxReaders", given, 1, MAX_READERS);
    this.#value = value;
    this.#maxReaders = maxReaders;
    this.#poisonOnError = poison === true;
    this.#sem = new BatchSemaphore(maxReaders, (tag) => this.#onGrant(tag));
    this.#upgradable = new BatchSemaphore(1, () => true);
    this.#sem.owner = this;
    this.#sem.modeOf = (tag) => MODES[tag & KIND] as HoldMode;
    this.#upgradable.owner = this;
    this.#upgradable.modeOf = () => "upgradable";
  }

  /** The name given to the constructor, or `RwLock#n` (the n-th RwLock created). */
  get name(): string {
    return this.#name;
  }

  /** How many guards hold the lock shared right now (read and upgradable-read guards). */
  get readers(): number {
    return this.#readers;
  }

  /** `true` while a write guard is held. */
  get isWriteLocked(): boolean {
    return this.#writeLocked;
  }

  /** `true` while the lock is poisoned. */
  get isPoisoned(): boolean {
    return this.#poisoned;
  }

  /** Clears the poison flag. */
  clearPoison(): void {
    this.#poisoned = false;
  }

  /**
   * Waits for shared access; resolves with a read guard whose `value` is `DeepReadonly<T>`.
   *
   * **Fairness**: queues behind any waiting writer. **Cancel safety**: as the class docs.
   * **Throws** (rejects): `PoisonError` while poisoned (unless `ignorePoison`), bad options.
   */
  read(options?: LockOptions): Promise<RwLockReadGuard<T>> {
    // Fast path, small enough to inline: no options, not poisoned, nobody queued.
    if (options === undefined && observer === undefined && !this.#poisoned && this.#sem.tryAcquire(1)) {
      return Promise.resolve(this.#readGuard());
    }
    return this.#acquire(READ, 1, options) as Promise<RwLockReadGuard<T>>;
  }

  /**
   * Takes shared access now if no writer holds or waits; otherwise `undefined`.
   *
   * @throws PoisonError while poisoned (unless `{ ignorePoison: true }`); `TypeError` when `options` is
   * not `undefined` or an object (`null` included) or `ignorePoison` is not a boolean.
   */
  tryRead(options?: { ignorePoison?: boolean }): RwLockReadGuard<T> | undefined {
    const ignorePoison = readTryOptions(options);
    if (observer !== undefined) observer.sync(this, "tryRead");
    if (this.#poisoned && !ignorePoison) throw this.#poisonError();
    return this.#sem.tryAcquire(1) ? this.#readGuard() : undefined;
  }

  /**
   * Acquires shared access, calls `fn(guard)`, awaits it, releases in every case. Never poisons.
   *
   * @example
   * ```ts
   * const size = await lock.withRead((guard) => guard.value.size);
   * ```
   */
  withRead<R>(fn: (guard: RwLockReadGuard<T>) => R | PromiseLike<R>, given?: LockOptions): Promise<Awaited<R>> {
    let options: LockOptions | undefined;
    try {
      options = readLockOptions(given);
    } catch (error) {
      return Promise.reject(error);
    }
    if (observer !== undefined) return observer.around(this, "withRead", options, (o) => this.#withRead(fn, o));
    return this.#withRead(fn, options);
  }

  async #withRead<R>(
    fn: (guard: RwLockReadGuard<T>) => R | PromiseLike<R>,
    options?: LockOptions,
  ): Promise<Awaited<R>> {
    checkFunction("fn", fn);
    const guard = await this.read(options);
    try {
      return await fn(guard);
    } finally {
      guard.release();
    }
  }

  /**
   * Waits for exclusive access; resolves with a write guard (`value` readable and assignable).
   *
   * **Fairness**: FIFO; once at the head, collects permits as readers leave, while later readers wait.
   * **Cancel safety**: as the class docs. **Throws** (rejects): `PoisonError`, bad options.
   */
  write(options?: LockOptions): Promise<RwLockWriteGuard<T>> {
    if (options === undefined && observer === undefined && !this.#poisoned && this.#sem.tryAcquire(this.#maxReaders)) {
      return Promise.resolve(this.#writeGuard());
    }
    return this.#acquire(WRITE, this.#maxReaders, options) as Promise<RwLockWriteGuard<T>>;
  }

  /**
   * Takes exclusive access now if nobody holds or waits; otherwise `undefined`.
   *
   * @throws PoisonError while poisoned (unless `{ ignorePoison: true }`); `TypeError` when `options` is
   * not `undefined` or an object (`null` included) or `ignorePoison` is not a boolean.
   */
  tryWrite(options?: { ignorePoison?: boolean }): RwLockWriteGuard<T> | undefined {
    const ignorePoison = readTryOptions(options);
    if (observer !== undefined) observer.sync(this, "tryWrite");
    if (this.#poisoned && !ignorePoison) throw this.#poisonError();
    return this.#sem.tryAcquire(this.#maxReaders) ? this.#writeGuard() : undefined;
  }

  /**
   * Acquires exclusive access, calls `fn(guard)`, awaits it, releases in every case. If `fn` throws
   * while holding the guard and the lock was made with `{ poison: true }`, the lock is poisoned.
   *
   * @example
   * ```ts
   * await lock.withWrite((guard) => {
   *   guard.value.set("k", "v");
   * });
   * ```
   */
  withWrite<R>(fn: (guard: RwLockWriteGuard<T>) => R | PromiseLike<R>, given?: LockOptions): Promise<Awaited<R>> {
    let options: LockOptions | undefined;
    try {
      options = readLockOptions(given);
    } catch (error) {
      return Promise.reject(error);
    }
    if (observer !== undefined) return observer.around(this, "withWrite", options, (o) => this.#withWrite(fn, o));
    return this.#withWrite(fn, options);
  }

  async #withWrite<R>(
    fn: (guard: RwLockWriteGuard<T>) => R | PromiseLike<R>,
    options?: LockOptions,
  ): Promise<Awaited<R>> {
    checkFunction("fn", fn);
    const guard = await this.write(options);
    try {
      return await fn(guard);
    } catch (error) {
      if (this.#poisonOnError && !guard.released) this.#poisoned = true;
      throw error;
    } finally {
      guard.release();
    }
  }

  /**
   * Waits for upgradable shared access (parking_lot): shared with plain readers, exclusive among
   * upgradable readers, and upgradable to a write guard without letting a writer in between.
   *
   * @example
   * ```ts
   * const guard = await lock.upgradableRead();
   * if (!guard.value.has(key)) {
   *   const writer = await guard.upgrade();
   *   writer.value.set(key, await load(key));
   *   writer.release();
   * } else guard.release();
   * ```
   *
   * **Fairness**: waits first for the upgradable slot (FIFO among upgradable readers), then for a
   * shared permit (FIFO with everyone). **Cancel safety**: an abort or timeout at either step gives back
   * whatever was taken. **Throws** (rejects): `PoisonError`, bad options.
   */
  upgradableRead(options?: LockOptions): Promise<RwLockUpgradableReadGuard<T>> {
    return this.#acquire(UPGRADABLE, 1, options) as Promise<RwLockUpgradableReadGuard<T>>;
  }

  /**
   * Takes upgradable shared access now if possible; otherwise `undefined`.
   *
   * @throws PoisonError while poisoned (unless `{ ignorePoison: true }`); `TypeError` when `options` is
   * not `undefined` or an object (`null` included) or `ignorePoison` is not a boolean.
   */
  tryUpgradableRead(options?: { ignorePoison?: boolean }): RwLockUpgradableReadGuard<T> | undefined {
    const ignorePoison = readTryOptions(options);
    if (observer !== undefined) observer.sync(this, "tryUpgradableRead");
    if (this.#poisoned && !ignorePoison) throw this.#poisonError();
    if (!this.#upgradable.tryAcquire(1)) return undefined;
    if (this.#sem.tryAcquire(1)) return this.#upgradableGuard();
    this.#upgradable.release(1);
    return undefined;
  }

  /**
   * The one acquire path of `read`, `write` and `upgradableRead`: check options and poison, take the
   * fast path when nobody is queued, else queue (an upgradable read first waits for its slot).
   */
  #acquire(kind: number, permits: number, given: LockOptions | undefined): Promise<Releasable> {
    let options: LockOptions | undefined;
    try {
      options = readLockOptions(given);
    } catch (error) {
      return Promise.reject(error);
    }
    if (observer !== undefined) {
      return observer.around(this, OPS[kind] as AsyncOp, options, (o) => this.#acquireQueued(kind, permits, o));
    }
    return this.#acquireQueued(kind, permits, options);
  }

  #acquireQueued(kind: number, permits: number, options: LockOptions | undefined): Promise<Releasable> {
    let tag = kind;
    if (options !== undefined) {
      const early = precheck(options);
      if (early !== undefined) return early;
      if (options.ignorePoison === true) tag |= IGNORE_POISON;
    }
    if (this.#poisoned && (tag & IGNORE_POISON) === 0) return Promise.reject(this.#poisonError());
    if (kind === UPGRADABLE) {
      return this.#upgradable.tryAcquire(1) ? this.#waitShared(tag, options) : this.#upgradableSlow(tag, options);
    }
    const pending = this.#sem.tryAcquire(permits)
      ? Promise.resolve(kind === READ ? this.#readGuard() : this.#writeGuard())
      : (this.#sem.acquire(permits, tag, options) as Promise<Releasable>);
    return abortWins(pending, options?.signal);
  }

  /** Waits for the upgradable slot, then for a shared permit, within one shared timeout. */
  async #upgradableSlow(tag: number, options: LockOptions | undefined): Promise<RwLockUpgradableReadGuard<T>> {
    // The monotonic clock: a wall-clock jump must neither cut the wait short nor stretch it.
    const started = options?.timeout === undefined ? 0 : performance.now();
    await this.#upgradable.acquire(1, 0, options);
    let rest = options;
    if (options?.timeout !== undefined) {
      rest = { ...options, timeout: Math.max(0, options.timeout - (performance.now() - started)) };
    }
    return this.#waitShared(tag, rest);
  }

  /** Holding the upgradable slot, takes a shared permit; gives the slot back if that fails. */
  #waitShared(tag: number, options: LockOptions | undefined): Promise<RwLockUpgradableReadGuard<T>> {
    if (this.#sem.tryAcquire(1)) {
      if (this.#poisoned && (tag & IGNORE_POISON) === 0) {
        this.#sem.release(1);
        this.#upgradable.release(1);
        return Promise.reject(this.#poisonError());
      }
      return abortWins(Promise.resolve(this.#upgradableGuard()), options?.signal);
    }
    const pending = this.#sem.acquire(1, tag, options) as Promise<RwLockUpgradableReadGuard<T>>;
    // A failed wait gives the upgradable slot back; a granted guard releases both itself (abortWins).
    return abortWins(
      pending.catch((error: unknown) => {
        this.#upgradable.release(1);
        throw error;
      }),
      options?.signal,
    );
  }

  #upgrade(given: LockOptions | undefined): Promise<RwLockWriteGuard<T>> {
    let options: LockOptions | undefined;
    try {
      options = readLockOptions(given);
    } catch (error) {
      return Promise.reject(error);
    }
    if (observer !== undefined) return observer.around(this, "upgrade", options, (o) => this.#upgradeQueued(o));
    return this.#upgradeQueued(options);
  }

  #upgradeQueued(options: LockOptions | undefined): Promise<RwLockWriteGuard<T>> {
    if (this.#upgradePending()) {
      return Promise.reject(new UseAfterReleaseError("upgrade() is already pending on this guard"));
    }
    if (options !== undefined) {
      const early = precheck(options);
      if (early !== undefined) return early;
    }
    if (this.#sem.tryAcquireFront(this.#maxReaders - 1)) return Promise.resolve(this.#finishUpgrade());
    // Waits at the head of the queue: a writer queued there waits for our read permit, so queueing
    // behind it would deadlock (the head's partial grant is reclaimed by acquireFront).
    const ticket: { waiter?: object } = {};
    const pending = this.#sem.acquireFront(this.#maxReaders - 1, UPGRADE, options, ticket) as Promise<
      RwLockWriteGuard<T>
    >;
    const waiter = ticket.waiter as object;
    // Granted at once, or refused at once (an observer): then nothing is pending.
    if (this.#sem.isQueued(waiter)) {
      this.#upgrading = waiter;
      const clear = (): void => {
        if (this.#upgrading === waiter) this.#upgrading = undefined;
      };
      pending.then(clear, clear);
    }
    return pending;
  }

  /** `true` while an `upgrade()` of the upgradable guard waits in the queue. */
  #upgradePending(): boolean {
    const waiter = this.#upgrading;
    return waiter !== undefined && this.#sem.isQueued(waiter);
  }

  /** The upgrader now holds every permit: its read becomes a write, and the upgradable slot frees up. */
  #finishUpgrade(): RwLockWriteGuard<T> {
    this.#upgrading = undefined;
    // The upgradable guard's read permit is now part of the write guard: detach it at once, so that a
    // release() on it before the upgrade promise settles cannot hand that permit back a second time.
    const upgradable = this.#upgradableHolder;
    this.#upgradableHolder = undefined;
    if (upgradable !== undefined) detachGuard(upgradable as Guard<unknown>);
    this.#readers--;
    this.#writeLocked = true;
    const guard = new RwLockWriteGuard(GUARD_TOKEN, this);
    if (observer !== undefined) {
      if (upgradable !== undefined) observer.released(this, upgradable);
      observer.acquired(this, guard, "exclusive");
    }
    this.#upgradable.release(1);
    return guard;
  }

  /**
   * A pending upgrade whose guard is released or downgraded is cancelled first: by identity, so an
   * upgrade that already left (aborted or timed out in this tick) cancels nothing, and the writer that
   * is now at the head keeps its place.
   */
  #abandonUpgrade(): void {
    const waiter = this.#upgrading;
    if (waiter === undefined) return;
    this.#upgrading = undefined;
    this.#sem.cancel(waiter, new UseAfterReleaseError("The upgradable guard was released while upgrade() was pending"));
  }

  #onGrant(tag: number): unknown {
    const kind = tag & KIND;
    if (kind === UPGRADE) return this.#finishUpgrade();
    if (this.#poisoned && (tag & IGNORE_POISON) === 0) throw this.#poisonError();
    if (kind === READ) return this.#readGuard();
    if (kind === WRITE) return this.#writeGuard();
    return this.#upgradableGuard();
  }

  #readGuard(): RwLockReadGuard<T> {
    this.#readers++;
    const guard = new RwLockReadGuard(GUARD_TOKEN, this);
    if (observer !== undefined) observer.acquired(this, guard, "shared");
    return guard;
  }

  #writeGuard(): RwLockWriteGuard<T> {
    this.#writeLocked = true;
    const guard = new RwLockWriteGuard(GUARD_TOKEN, this);
    if (observer !== undefined) observer.acquired(this, guard, "exclusive");
    return guard;
  }

  #upgradableGuard(): RwLockUpgradableReadGuard<T> {
    this.#readers++;
    const guard = new RwLockUpgradableReadGuard(GUARD_TOKEN, this);
    this.#upgradableHolder = guard;
    if (observer !== undefined) observer.acquired(this, guard, "upgradable");
    return guard;
  }

  #poisonError(): PoisonError {
    return new PoisonError(
      `${this.#name} is poisoned: a writer failed while holding it; pass { ignorePoison: true } or call clearPoison() to recover`,
    );
  }
}

// RwLockReadGuard and RwLockWriteGuard are flat classes rather than extensions of the shared Guard
// base: they sit on every acquire's path, and V8 (Node 20) does not inline a base-class constructor
// there (MutexGuard measured 103 -> 86 ns per uncontended lock+release when flattened).

/** Shared access to an {@link RwLock}'s value: `value` is read-only to the type checker (`DeepReadonly<T>`). */
export class RwLockReadGuard<T> implements Releasable {
  static {
    notThenable(RwLockReadGuard.prototype);
  }

  #lock: RwLock<T> | undefined;

  /** @internal Guards come from their lock; this constructor throws for anyone else. */
  constructor(token: GuardToken, lock: RwLock<T>) {
    if (token !== GUARD_TOKEN) illegalConstructor("RwLockReadGuard");
    markNotSend(this);
    this.#lock = lock;
  }

  /** The protected value, read-only. */
  get value(): DeepReadonly<T> {
    const lock = this.#lock;
    if (lock === undefined) throw released("RwLockReadGuard", "read `value` of");
    return lockValue(lock) as DeepReadonly<T>;
  }

  /** `true` once released. */
  get released(): boolean {
    return this.#lock === undefined;
  }

  /** Gives the shared access back. Idempotent. */
  release(): void {
    const lock = this.#lock;
    if (lock === undefined) return;
    this.#lock = undefined;
    if (observer !== undefined) observer.released(lock, this);
    releaseRead(lock as RwLock<unknown>);
  }

  /** Same as {@link release}, for `using`. */
  [Symbol.dispose](): void {
    this.release();
  }
}

/** Exclusive access to an {@link RwLock}'s value: `value` readable and assignable. */
export class RwLockWriteGuard<T> implements Releasable {
  static {
    notThenable(RwLockWriteGuard.prototype);
  }

  #lock: RwLock<T> | undefined;

  /** @internal Guards come from their lock; this constructor throws for anyone else. */
  constructor(token: GuardToken, lock: RwLock<T>) {
    if (token !== GUARD_TOKEN) illegalConstructor("RwLockWriteGuard");
    markNotSend(this);
    this.#lock = lock;
  }

  /** The protected value. Assigning replaces it. */
  get value(): T {
    const lock = this.#lock;
    if (lock === undefined) throw released("RwLockWriteGuard", "read `value` of");
    return lockValue(lock);
  }

  set value(value: T) {
    const lock = this.#lock;
    if (lock === undefined) throw released("RwLockWriteGuard", "write `value` of");
    setLockValue(lock, value);
  }

  /** `true` once released. */
  get released(): boolean {
    return this.#lock === undefined;
  }

  /** Gives the exclusive access back. Idempotent. */
  release(): void {
    const lock = this.#lock;
    if (lock === undefined) return;
    this.#lock = undefined;
    if (observer !== undefined) observer.released(lock, this);
    releaseWrite(lock as RwLock<unknown>);
  }

  /** Same as {@link release}, for `using`. */
  [Symbol.dispose](): void {
    this.release();
  }

  /**
   * Atomically turns this exclusive access into shared access: no writer can get in between, and
   * readers queued at the head are admitted at once. This guard becomes released.
   *
   * @example
   * ```ts
   * const writer = await cache.write();
   * writer.value.set(key, fresh);
   * const reader = writer.downgrade(); // others may read now; no writer can slip in first
   * ```
   *
   * @throws UseAfterReleaseError when already released.
   */
  downgrade(): RwLockReadGuard<T> {
    const lock = this.#lock;
    if (lock === undefined) throw released("RwLockWriteGuard", "downgrade");
    this.#lock = undefined;
    if (observer !== undefined) {
      observer.sync(lock, "downgrade");
      observer.released(lock, this);
    }
    return downgradeWrite(lock);
  }

  /** Poisons the lock (for `using` blocks, which cannot see a throw). Does not release. */
  poison(): void {
    const lock = this.#lock;
    if (lock === undefined) throw released("RwLockWriteGuard", "poison through");
    poisonLock(lock as RwLock<unknown>);
  }
}

function released(guard: string, action: string): UseAfterReleaseError {
  return new UseAfterReleaseError(`Cannot ${action} a ${guard} after release()`);
}

/**
 * Upgradable shared access (parking_lot's `RwLockUpgradableReadGuard`): reads like a read guard, and can
 * become a write guard with {@link upgrade} without any writer getting in between.
 */
export class RwLockUpgradableReadGuard<T> extends Guard<RwLock<T>> {
  /** The protected value, read-only. */
  get value(): DeepReadonly<T> {
    return lockValue(this.live("read `value` of")) as DeepReadonly<T>;
  }

  /**
   * Waits for the other readers to leave and resolves with a write guard; this guard becomes
   * released once the upgrade succeeds. Goes ahead of queued writers (they wait for this guard anyway).
   *
   * **Cancel safety**: on abort or timeout this guard stays valid (still shared) and the permits
   * collected so far go back. Unlike the acquires, an upgrade granted just before its signal aborts is
   * kept (the promise resolves with the write guard): undoing it could not give the upgradable guard back.
   *
   * **Throws** (rejects): `UseAfterReleaseError` when released or when an upgrade is already pending.
   */
  upgrade(options?: Omit<LockOptions, "ignorePoison">): Promise<RwLockWriteGuard<T>> {
    let lock: RwLock<T>;
    try {
      lock = this.live("upgrade");
    } catch (error) {
      return Promise.reject(error);
    }
    // On success the lock detaches this guard itself, synchronously, at the moment of the grant.
    return upgradeUpgradable(lock, options);
  }

  /**
   * Upgrades now if no other reader holds the lock; otherwise `undefined` (this guard stays valid).
   *
   * @throws UseAfterReleaseError when released.
   */
  tryUpgrade(): RwLockWriteGuard<T> | undefined {
    return tryUpgradeUpgradable(this.live("upgrade"));
  }

  /**
   * Gives up the upgradable slot and keeps plain shared access. This guard becomes released.
   *
   * @throws UseAfterReleaseError when released.
   */
  downgrade(): RwLockReadGuard<T> {
    const lock = this.take("downgrade");
    if (observer !== undefined) {
      observer.sync(lock, "downgrade");
      observer.released(lock, this);
    }
    return downgradeUpgradable(lock);
  }

  protected get kind(): string {
    return "RwLockUpgradableReadGuard";
  }

  /** Gives the access back, cancelling a pending upgrade first. */
  protected unlock(lock: RwLock<T>): void {
    if (observer !== undefined) observer.released(lock, this);
    releaseUpgradable(lock as RwLock<unknown>);
  }
}
