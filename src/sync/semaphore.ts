import { ClosedError, UseAfterReleaseError } from "../errors.js";
import { abortWins, BatchSemaphore } from "../internal/batch-semaphore.js";
import { markNotSend } from "../internal/not-send.js";
import { nameFor, observer } from "../internal/observer.js";
import { GUARD_TOKEN, type GuardToken, illegalConstructor, notThenable } from "../internal/symbols.js";
import { checkFunction, checkInteger, checkOptionsObject, precheck, readAcquireOptions } from "../internal/validate.js";
import { type AcquireOptions, interiorMutable, type NameOptions, type Releasable } from "../types.js";

const MAX_PERMITS = 2 ** 31 - 1;

let returnPermits: (semaphore: Semaphore, permits: number) => void;
let forgetPermits: (semaphore: Semaphore, permits: number) => void;

/**
 * A counting semaphore (tokio's `Semaphore`): a pool of permits that tasks acquire and give back, for
 * limiting concurrency (at most N fetches in flight, at most N open files).
 *
 * @example
 * ```ts
 * const slots = new Semaphore(4);
 * const pages = await Promise.all(
 *   urls.map((url) => slots.withPermit(() => fetch(url).then((r) => r.text()), { timeout: 5_000 })),
 * );
 * ```
 *
 * **Fairness**: strict FIFO, by request. A request for many permits at the head of the queue collects
 * released permits until it has them all and blocks later small requests meanwhile (no starvation of
 * large requests). `acquire()` and `tryAcquire()` never jump ahead of queued waiters.
 *
 * **Cancel safety**: an aborted or timed-out `acquire` leaves the queue at once; permits it had
 * already collected go back to the pool and on to the next waiter.
 */
export class Semaphore {
  declare readonly [interiorMutable]: true;
  /** The largest number of permits a semaphore can hold (`2 ** 31 - 1`). */
  static readonly MAX_PERMITS: number = MAX_PERMITS;

  readonly #sem: BatchSemaphore;
  readonly #name: string;
  /**
   * Permits in existence: free, held by permits, and collected by a waiter at the head. Never above
   * `MAX_PERMITS`: `addPermits` refuses to pass it, so giving permits back can never overflow the pool.
   * `forget()` takes permits out of existence.
   */
  #total: number;

  static {
    returnPermits = (semaphore, permits) => semaphore.#sem.release(permits);
    forgetPermits = (semaphore, permits) => {
      semaphore.#total -= permits;
    };
  }

  /**
   * @param permits - initial permits, an integer from 0 to `Semaphore.MAX_PERMITS`.
   * @throws TypeError / RangeError for any other `permits`.
   */
  constructor(permits: number, options?: NameOptions) {
    markNotSend(this);
    checkInteger("permits", permits, 0, MAX_PERMITS);
    checkOptionsObject("options", options);
    this.#name = nameFor("Semaphore", options);
    this.#total = permits;
    this.#sem = new BatchSemaphore(permits, (_tag, granted) => this.#newPermit(granted));
    this.#sem.owner = this;
    this.#sem.modeOf = () => "permits";
  }

  /** The name given to the constructor, or `Semaphore#n` (the n-th semaphore created). */
  get name(): string {
    return this.#name;
  }

  /** A permit off the inlined fast path: the observer, if any, hears of it. */
  #newPermit(permits: number): SemaphorePermit {
    const permit = new SemaphorePermit(GUARD_TOKEN, this, permits);
    if (observer !== undefined) observer.acquired(this, permit, "permits");
    return permit;
  }

  /** Permits free right now. */
  get available(): number {
    return this.#sem.available;
  }

  /** `true` once {@link close} was called. */
  get closed(): boolean {
    return this.#sem.closed;
  }

  /**
   * Waits for `permits` permits (default 1) and resolves with a {@link SemaphorePermit} holding them.
   *
   * **Cancel safety**: on abort (`signal.reason`) or timeout (`TimeoutError`) the request leaves the
   * queue and returns what it had collected.
   *
   * **Throws** (rejects): `ClosedError` when closed (also for requests already waiting when `close()`
   * is called); `TypeError` / `RangeError` for `permits` outside 1 to `MAX_PERMITS` or bad options.
   */
  acquire(permits = 1, options?: AcquireOptions): Promise<SemaphorePermit> {
    // Fast path, small enough to inline: one permit, no options, free and nobody queued (tryAcquire
    // fails when closed).
    if (permits === 1 && options === undefined && observer === undefined && this.#sem.tryAcquire(1)) {
      return Promise.resolve(new SemaphorePermit(GUARD_TOKEN, this, 1));
    }
    return this.#acquireSlow(permits, options);
  }

  #acquireSlow(permits: number, given: AcquireOptions | undefined): Promise<SemaphorePermit> {
    let options: AcquireOptions | undefined;
    try {
      options = readAcquireOptions(given);
    } catch (error) {
      return Promise.reject(error);
    }
    if (observer !== undefined) {
      return observer.around(this, "acquire", options, (o) => this.#acquireQueued(permits, o));
    }
    return this.#acquireQueued(permits, options);
  }

  #acquireQueued(permits: number, options: AcquireOptions | undefined): Promise<SemaphorePermit> {
    try {
      checkInteger("permits", permits, 1, MAX_PERMITS);
    } catch (error) {
      return Promise.reject(error);
    }
    if (options !== undefined) {
      const early = precheck(options);
      if (early !== undefined) return early;
    }
    if (this.#sem.closed) return Promise.reject(closedError(this.#name));
    const pending = this.#sem.tryAcquire(permits)
      ? Promise.resolve(this.#newPermit(permits))
      : (this.#sem.acquire(permits, 0, options) as Promise<SemaphorePermit>);
    return abortWins(pending, options?.signal);
  }

  /**
   * Takes `permits` permits (default 1) if they are free and nobody is queued; otherwise `undefined`.
   *
   * **Throws**: `ClosedError` when closed; `TypeError` / `RangeError` for bad `permits`.
   */
  tryAcquire(permits = 1): SemaphorePermit | undefined {
    checkInteger("permits", permits, 1, MAX_PERMITS);
    if (observer !== undefined) observer.sync(this, "tryAcquire");
    if (this.#sem.closed) throw closedError(this.#name);
    return this.#sem.tryAcquire(permits) ? this.#newPermit(permits) : undefined;
  }

  /**
   * Acquires `options.permits` (default 1), calls `fn(permit)`, awaits it, releases in every case.
   *
   * @example
   * ```ts
   * const body = await slots.withPermit(() => download(url), { timeout: 10_000 });
   * ```
   */
  withPermit<R>(
    fn: (permit: SemaphorePermit) => R | PromiseLike<R>,
    given?: AcquireOptions & { permits?: number },
  ): Promise<Awaited<R>> {
    let options: (AcquireOptions & { permits?: number }) | undefined;
    try {
      options = readPermitOptions(given);
    } catch (error) {
      return Promise.reject(error);
    }
    if (observer !== undefined) {
      return observer.around(this, "withPermit", options, (o) => this.#withPermit(fn, o as typeof options));
    }
    return this.#withPermit(fn, options);
  }

  async #withPermit<R>(
    fn: (permit: SemaphorePermit) => R | PromiseLike<R>,
    options?: AcquireOptions & { permits?: number },
  ): Promise<Awaited<R>> {
    checkFunction("fn", fn);
    const permits = options?.permits;
    // `undefined` means 1; `null` is rejected by acquire like any other non-integer.
    const permit = await this.acquire(permits === undefined ? 1 : permits, options);
    try {
      return await fn(permit);
    } finally {
      permit.release();
    }
  }

  /**
   * Adds `permits` new permits (they go to queued waiters first, in order).
   *
   * The semaphore counts every permit in existence — free or held — and never lets that count pass
   * `MAX_PERMITS`, so releasing held permits later can never overflow the pool.
   *
   * @example
   * ```ts
   * const slots = new Semaphore(2);
   * slots.addPermits(2); // now 4 permits in existence
   * ```
   *
   * @throws TypeError / RangeError when `permits` is not an integer from 0 to `MAX_PERMITS` minus the
   * permits in existence (free and held); nothing changes then.
   */
  addPermits(permits: number): void {
    const room = MAX_PERMITS - this.#total;
    checkInteger("permits", permits, 0, MAX_PERMITS);
    if (permits > room) {
      throw new RangeError(
        `Expected \`permits\` to be an integer from 0 to ${room} (Semaphore.MAX_PERMITS minus the ${this.#total} permits in existence, free or held), got ${permits}`,
      );
    }
    if (observer !== undefined) observer.sync(this, "addPermits");
    this.#total += permits;
    this.#sem.release(permits);
  }

  /**
   * Closes the semaphore: waiting and future `acquire` calls reject with {@link ClosedError},
   * `tryAcquire` throws it. Permits already held stay valid and may be released. Idempotent.
   */
  close(): void {
    if (observer !== undefined) observer.sync(this, "close");
    this.#sem.close(() => closedError(this.#name));
  }
}

/** `withPermit`'s `{ signal, timeout, permits }`, each read once (a non-object is passed on for validation). */
function readPermitOptions(
  options: (AcquireOptions & { permits?: number }) | undefined,
): (AcquireOptions & { permits?: number }) | undefined {
  if (typeof options !== "object" || options === null) return options;
  const { signal, timeout, permits } = options;
  return { signal, timeout, permits };
}

function closedError(name: string): ClosedError {
  return new ClosedError(`${name} is closed`);
}

/**
 * Permits taken from a {@link Semaphore}. `release()` (or `using`) gives them back; `forget()` consumes
 * them for good (the semaphore shrinks). Either is idempotent, and the first one wins.
 */
export class SemaphorePermit implements Releasable {
  static {
    notThenable(SemaphorePermit.prototype);
  }

  // Flat rather than extending the shared Guard base: it is on every acquire's path (see MutexGuard).
  #semaphore: Semaphore | undefined;
  /** How many permits this holds. */
  readonly permits: number;

  /** @internal Permits come from `Semaphore.acquire()`; this constructor throws for anyone else. */
  constructor(token: GuardToken, semaphore: Semaphore, permits: number) {
    if (token !== GUARD_TOKEN) illegalConstructor("SemaphorePermit");
    markNotSend(this);
    this.#semaphore = semaphore;
    this.permits = permits;
  }

  /** `true` once released or forgotten. */
  get released(): boolean {
    return this.#semaphore === undefined;
  }

  /** Returns the permits to the semaphore. Idempotent. */
  release(): void {
    const semaphore = this.#semaphore;
    if (semaphore === undefined) return;
    this.#semaphore = undefined;
    if (observer !== undefined) observer.released(semaphore, this);
    returnPermits(semaphore, this.permits);
  }

  /** Same as {@link release}, for `using`. */
  [Symbol.dispose](): void {
    this.release();
  }

  /**
   * Consumes the permits without returning them (tokio's `forget`): the semaphore has that many fewer.
   *
   * @throws UseAfterReleaseError when already released.
   */
  forget(): void {
    if (this.#semaphore === undefined) {
      throw new UseAfterReleaseError("Cannot forget a SemaphorePermit after release()");
    }
    const semaphore = this.#semaphore;
    if (observer !== undefined) {
      observer.sync(semaphore, "forget");
      observer.released(semaphore, this);
    }
    this.#semaphore = undefined;
    forgetPermits(semaphore, this.permits);
  }
}
