import { GUARD_TOKEN, type GuardToken, illegalConstructor } from "../internal/symbols.js";
import { checkFunction, checkInteger } from "../internal/validate.js";
import { type AcquireRequest, type JsonText, type LockKind, RWLOCK_CAPACITY } from "./backend.js";
import { markNotCopyable, type StoreGuard } from "./guard.js";
import { DistributedMutexGuard, DistributedPermit, DistributedReadGuard, DistributedWriteGuard } from "./guards.js";
import type { LockHost } from "./store.js";
import type { StoreAcquireOptions } from "./validate.js";

function request(
  host: LockHost,
  name: string,
  kind: LockKind,
  capacity: number,
  initial: JsonText | null,
  permits: number,
  exclusive: boolean,
  options: StoreAcquireOptions | undefined,
): AcquireRequest {
  return {
    name,
    kind,
    capacity,
    initial,
    permits,
    exclusive,
    ttl: options?.ttl ?? host.ttl,
    queueTtl: host.ttl,
    clientId: host.clientId,
  };
}

/** Acquire, run `fn`, then release (writing back) on success or discard on failure. */
async function withGuard<G extends StoreGuard, R>(
  acquire: Promise<G>,
  fn: (guard: G) => R | PromiseLike<R>,
): Promise<Awaited<R>> {
  const guard = await acquire;
  let result: Awaited<R>;
  try {
    result = await fn(guard);
  } catch (error) {
    // The stored value never sees a half-done update. A failing discard must not hide `error`.
    await guard.discard().catch(() => {});
    throw error;
  }
  try {
    await guard.release();
  } catch (error) {
    // A value JSON refuses makes release() reject and keep the lock (so that a caller holding the guard
    // can fix it); here nobody holds the guard after we return, so give the lock back unwritten.
    if (!guard.released) await guard.discard().catch(() => {});
    throw error;
  }
  return result;
}

/**
 * A mutex shared by every process that opens the same name in the same store, whose value lives in the
 * store next to the lock. Get one from `store.mutex(name, { initial })`.
 *
 * @example
 * ```ts
 * const balance = store.mutex("balance", { initial: 0 });
 * await balance.withLock((guard) => {
 *   guard.value += 10; // committed when the callback returns; discarded if it throws
 * });
 * ```
 *
 * **Fairness**: FIFO across all processes (a queue kept in the store); `tryLock()` never jumps a queue
 * with live waiters.
 *
 * **Cancel safety**: an aborted or timed-out `lock()` rejects once its queue entry has left the store
 * (one round trip); a grant that raced with the abort is released, never left held.
 *
 * **Throws** (rejects): `TimeoutError`, the signal's reason, `ClosedError`, `BackendError`; `TypeError`
 * when the name is stored as another kind; bad options: `TypeError`/`RangeError`.
 */
export class DistributedMutex<T, Tx = never> {
  /** The lock's name in its store. */
  readonly name: string;
  readonly #host: LockHost;
  readonly #initial: JsonText;

  /** @internal Opened by `store.mutex()`. */
  constructor(token: GuardToken, host: LockHost, name: string, initial: JsonText) {
    if (token !== GUARD_TOKEN) illegalConstructor("DistributedMutex");
    markNotCopyable(this);
    this.#host = host;
    this.name = name;
    this.#initial = initial;
  }

  /** Waits for the lock (FIFO across processes); one round trip when it is free. */
  lock(options?: StoreAcquireOptions): Promise<DistributedMutexGuard<T, Tx>> {
    return this.#host.acquire(
      this.#request(options),
      options,
      true,
      (init) => new DistributedMutexGuard(GUARD_TOKEN, init),
      this,
    ) as Promise<DistributedMutexGuard<T, Tx>>;
  }

  /** The lock if it is free and nobody waits, else `undefined`: one round trip, never waits. */
  tryLock(options?: StoreAcquireOptions): Promise<DistributedMutexGuard<T, Tx> | undefined> {
    return this.#host.acquire(
      this.#request(options),
      options,
      false,
      (init) => new DistributedMutexGuard(GUARD_TOKEN, init),
      this,
    );
  }

  /**
   * Locks, calls `fn(guard)`, then releases writing the value back when `fn` succeeds, or discards (the
   * stored value stays as it was) when `fn` throws; returns or rethrows `fn`'s result.
   */
  withLock<R>(
    fn: (guard: DistributedMutexGuard<T, Tx>) => R | PromiseLike<R>,
    options?: StoreAcquireOptions,
  ): Promise<Awaited<R>> {
    try {
      checkFunction("fn", fn);
    } catch (error) {
      return Promise.reject(error);
    }
    return withGuard(this.lock(options), fn);
  }

  #request(options: StoreAcquireOptions | undefined): AcquireRequest {
    return request(this.#host, this.name, "mutex", 1, this.#initial, 1, true, options);
  }
}

/**
 * A readers-writer lock shared across processes, with its value in the store. Get one from
 * `store.rwLock(name, { initial })`.
 *
 * @example
 * ```ts
 * const config = store.rwLock("config", { initial: { mode: "a" } });
 * const mode = await config.withRead((guard) => guard.value.mode);
 * await config.withWrite((guard) => {
 *   guard.value = { mode: "b" };
 * });
 * ```
 *
 * **Fairness**: FIFO across processes; a queued writer blocks readers that arrive after it; readers at
 * the head of the queue are admitted together.
 *
 * **Cancel safety**: as {@link DistributedMutex}.
 */
export class DistributedRwLock<T, Tx = never> {
  /** The lock's name in its store. */
  readonly name: string;
  readonly #host: LockHost;
  readonly #initial: JsonText;

  /** @internal Opened by `store.rwLock()`. */
  constructor(token: GuardToken, host: LockHost, name: string, initial: JsonText) {
    if (token !== GUARD_TOKEN) illegalConstructor("DistributedRwLock");
    markNotCopyable(this);
    this.#host = host;
    this.name = name;
    this.#initial = initial;
  }

  /** Waits for shared read access. */
  read(options?: StoreAcquireOptions): Promise<DistributedReadGuard<T>> {
    return this.#host.acquire(
      this.#request(false, options),
      options,
      true,
      (init) => new DistributedReadGuard<T>(GUARD_TOKEN, init),
      this,
    ) as Promise<DistributedReadGuard<T>>;
  }

  /** Waits for exclusive write access. */
  write(options?: StoreAcquireOptions): Promise<DistributedWriteGuard<T, Tx>> {
    return this.#host.acquire(
      this.#request(true, options),
      options,
      true,
      (init) => new DistributedWriteGuard<T, Tx>(GUARD_TOKEN, init),
      this,
    ) as Promise<DistributedWriteGuard<T, Tx>>;
  }

  /** Read access now, or `undefined` (never waits, never jumps a queue). */
  tryRead(options?: StoreAcquireOptions): Promise<DistributedReadGuard<T> | undefined> {
    return this.#host.acquire(
      this.#request(false, options),
      options,
      false,
      (init) => new DistributedReadGuard<T>(GUARD_TOKEN, init),
      this,
    );
  }

  /** Write access now, or `undefined` (never waits, never jumps a queue). */
  tryWrite(options?: StoreAcquireOptions): Promise<DistributedWriteGuard<T, Tx> | undefined> {
    return this.#host.acquire(
      this.#request(true, options),
      options,
      false,
      (init) => new DistributedWriteGuard<T, Tx>(GUARD_TOKEN, init),
      this,
    );
  }

  /** Reads, calls `fn(guard)`, releases in every case. */
  withRead<R>(
    fn: (guard: DistributedReadGuard<T>) => R | PromiseLike<R>,
    options?: StoreAcquireOptions,
  ): Promise<Awaited<R>> {
    try {
      checkFunction("fn", fn);
    } catch (error) {
      return Promise.reject(error);
    }
    return withGuard(this.read(options), fn);
  }

  /** Writes: commit and release when `fn` succeeds, discard when it throws. */
  withWrite<R>(
    fn: (guard: DistributedWriteGuard<T, Tx>) => R | PromiseLike<R>,
    options?: StoreAcquireOptions,
  ): Promise<Awaited<R>> {
    try {
      checkFunction("fn", fn);
    } catch (error) {
      return Promise.reject(error);
    }
    return withGuard(this.write(options), fn);
  }

  #request(exclusive: boolean, options: StoreAcquireOptions | undefined): AcquireRequest {
    return request(this.#host, this.name, "rwlock", RWLOCK_CAPACITY, this.#initial, 1, exclusive, options);
  }
}

/**
 * A counting semaphore shared across processes. Get one from `store.semaphore(name, permits)`.
 *
 * @example
 * ```ts
 * const slots = store.semaphore("api-slots", 4);
 * await slots.withPermit(() => callRateLimitedApi());
 * ```
 *
 * **Fairness**: FIFO across processes; a large request at the head blocks later small ones.
 *
 * **Cancel safety**: as {@link DistributedMutex}.
 */
export class DistributedSemaphore {
  /** The semaphore's name in its store. */
  readonly name: string;
  /** The permit count this process opened it with (the stored count of the first acquire wins). */
  readonly permits: number;
  readonly #host: LockHost;

  /** @internal Opened by `store.semaphore()`. */
  constructor(token: GuardToken, host: LockHost, name: string, permits: number) {
    if (token !== GUARD_TOKEN) illegalConstructor("DistributedSemaphore");
    markNotCopyable(this);
    this.#host = host;
    this.name = name;
    this.permits = permits;
  }

  /**
   * Waits for `permits` permits (default 1).
   *
   * **Throws** (rejects) `RangeError` when `permits` is not an integer from 1 to the permit count.
   */
  acquire(permits = 1, options?: StoreAcquireOptions): Promise<DistributedPermit> {
    return this.#acquire(permits, options, true) as Promise<DistributedPermit>;
  }

  /** `permits` permits now, or `undefined` (never waits, never jumps a queue). */
  tryAcquire(permits = 1, options?: StoreAcquireOptions): Promise<DistributedPermit | undefined> {
    return this.#acquire(permits, options, false);
  }

  /** Acquires `options.permits` (default 1), calls `fn(permit)`, releases in every case. */
  withPermit<R>(
    fn: (permit: DistributedPermit) => R | PromiseLike<R>,
    options?: StoreAcquireOptions & { permits?: number | undefined },
  ): Promise<Awaited<R>> {
    try {
      checkFunction("fn", fn);
    } catch (error) {
      return Promise.reject(error);
    }
    return withGuard(this.acquire(options?.permits ?? 1, options), fn);
  }

  #acquire(
    permits: number,
    options: StoreAcquireOptions | undefined,
    wait: boolean,
  ): Promise<DistributedPermit | undefined> {
    try {
      checkInteger("permits", permits, 1, this.permits);
    } catch (error) {
      return Promise.reject(error);
    }
    const req = request(this.#host, this.name, "semaphore", this.permits, null, permits, false, options);
    return this.#host.acquire(req, options, wait, (init) => new DistributedPermit(GUARD_TOKEN, init), this);
  }
}
