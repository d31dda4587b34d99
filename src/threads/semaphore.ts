import { ClosedError } from "../errors.js";
import { markNotSend } from "../internal/not-send.js";
import { GUARD_TOKEN, type GuardToken, illegalConstructor, notThenable } from "../internal/symbols.js";
import { checkFunction, checkInteger, precheck } from "../internal/validate.js";
import { type AcquireOptions, interiorMutable, type Releasable } from "../types.js";
import { checkHandle, checkSharedBuffer, type HandleBase, LAYOUT_VERSION } from "./handle.js";
import { realAtomics as A } from "./raw/atomics-like.js";
import * as raw from "./raw/raw-semaphore.js";
import { newWaiter } from "./raw/waiter.js";
import { assertCanBlock, checkSyncOptions, deadlineOf, driveAsync, driveSync, PARK } from "./wait.js";

const TAG = "lockbox.threads.Semaphore";

/** The structured-clone-safe form of a {@link Semaphore}. */
export interface SemaphoreHandle extends HandleBase<typeof TAG> {
  /** The permit and waiter words (see src/threads/raw/raw-semaphore.ts). */
  readonly buffer: SharedArrayBuffer;
}

let restoring: SemaphoreHandle | undefined;
let giveBack: (semaphore: Semaphore, permits: number) => void;

/**
 * A counting semaphore across threads: `acquire(n)` takes `n` permits (waiting until they are free),
 * the returned {@link SemaphorePermit} gives them back.
 *
 * @example
 * ```ts
 * const slots = new Semaphore(4);
 * worker.postMessage(slots); // there: Semaphore.from(message)
 * await slots.withPermit(async () => {
 *   await fetch(url);
 * });
 * using permit = slots.acquireSync(1, { timeout: 100 });
 * ```
 *
 * **Fairness**: none across threads — unlike the in-process `Semaphore`, a large request can be
 * overtaken by smaller ones while it waits for enough permits.
 *
 * **Cancel safety**: an abort or timeout stops the wait at once; no permit is taken.
 */
export class Semaphore {
  declare readonly [interiorMutable]: true;
  /** Most permits a semaphore can hold (2^31 − 1). */
  static readonly MAX_PERMITS = raw.MAX_PERMITS;
  /** The structured-clone-safe handle; see {@link Semaphore.from}. */
  readonly handle: SemaphoreHandle;
  readonly #word: Int32Array;

  /**
   * @param permits - initial permits, an integer from 0 to {@link Semaphore.MAX_PERMITS}.
   * @throws TypeError / RangeError for anything else.
   */
  constructor(permits: number) {
    const handle = restoring;
    restoring = undefined;
    if (handle !== undefined) {
      this.#word = new Int32Array(handle.buffer, 0, raw.SEMAPHORE_WORDS);
      this.handle = handle;
      return;
    }
    checkInteger("permits", permits, 0, raw.MAX_PERMITS);
    this.#word = new Int32Array(new SharedArrayBuffer(raw.SEMAPHORE_WORDS * 4));
    this.#word[0] = permits;
    this.handle = { type: TAG, version: LAYOUT_VERSION, buffer: this.#word.buffer as SharedArrayBuffer };
  }

  /**
   * Rebuilds a semaphore from a received handle (or a posted semaphore).
   *
   * @example
   * ```ts
   * const slots = Semaphore.from(workerData);
   * ```
   *
   * @throws TypeError for anything but a current Semaphore handle over shared memory.
   */
  static from(received: unknown): Semaphore {
    const handle = checkHandle<SemaphoreHandle>(received, TAG, "Semaphore.from");
    checkSharedBuffer("handle.buffer", handle.buffer, raw.SEMAPHORE_WORDS * 4);
    restoring = handle;
    try {
      return new Semaphore(0);
    } finally {
      restoring = undefined;
    }
  }

  /** Free permits now. */
  get available(): number {
    return raw.permitsOf(A.load(this.#word, 0));
  }

  /** `true` once closed. */
  get closed(): boolean {
    return A.load(this.#word, 0) < 0;
  }

  /**
   * Waits (without blocking the thread) for `permits` permits.
   *
   * @example
   * ```ts
   * using permit = await slots.acquire(2, { timeout: 1_000 });
   * ```
   *
   * **Throws** (rejects): `ClosedError` once closed, `TimeoutError`, the signal's reason,
   * `TypeError` / `RangeError` for bad arguments.
   */
  acquire(permits = 1, options?: AcquireOptions): Promise<SemaphorePermit> {
    try {
      checkInteger("permits", permits, 1, raw.MAX_PERMITS);
    } catch (error) {
      return Promise.reject(error);
    }
    const early = precheck(options);
    if (early !== undefined) return early;
    const word = this.#word;
    const first = raw.tryAcquire(A, word, 0, permits);
    if (first === raw.ACQUIRED) return Promise.resolve(new SemaphorePermit(GUARD_TOKEN, this, permits));
    if (first === raw.CLOSED) return Promise.reject(closedError());
    const waiter = newWaiter(0);
    return driveAsync(
      word,
      waiter,
      () => {
        const result = raw.acquireStep(A, word, 0, permits, waiter);
        if (result !== raw.PARK) raw.leave(A, word, 0, waiter);
        return result === raw.PARK ? PARK : result;
      },
      deadlineOf(options?.timeout),
      options?.signal,
      () => raw.leave(A, word, 0, waiter),
      "Semaphore.acquire()",
      options?.timeout,
    ).then((result) => {
      if (result === raw.CLOSED) throw closedError();
      return new SemaphorePermit(GUARD_TOKEN, this, permits);
    });
  }

  /**
   * Blocks the thread until `permits` permits are free.
   *
   * @example
   * ```ts
   * using permit = slots.acquireSync(1, { timeout: 100 });
   * ```
   *
   * **Throws**: `WouldBlockError` where blocking is forbidden, `ClosedError`, `TimeoutError`.
   */
  acquireSync(permits = 1, options?: { timeout?: number | undefined }): SemaphorePermit {
    assertCanBlock("Semaphore.acquireSync");
    checkInteger("permits", permits, 1, raw.MAX_PERMITS);
    checkSyncOptions(options);
    const word = this.#word;
    let result: number = raw.tryAcquire(A, word, 0, permits);
    if (result === raw.BUSY) {
      const waiter = newWaiter(0);
      try {
        result = driveSync(
          word,
          waiter,
          () => {
            const step = raw.acquireStep(A, word, 0, permits, waiter);
            return step === raw.PARK ? PARK : step;
          },
          deadlineOf(options?.timeout),
          () => {},
          "Semaphore.acquireSync()",
          options?.timeout,
        );
      } finally {
        raw.leave(A, word, 0, waiter);
      }
    }
    if (result === raw.CLOSED) throw closedError();
    return new SemaphorePermit(GUARD_TOKEN, this, permits);
  }

  /**
   * Takes `permits` permits if they are free now, else returns `undefined`.
   *
   * @throws ClosedError once closed; TypeError / RangeError for a bad `permits`.
   */
  tryAcquire(permits = 1): SemaphorePermit | undefined {
    checkInteger("permits", permits, 1, raw.MAX_PERMITS);
    const result = raw.tryAcquire(A, this.#word, 0, permits);
    if (result === raw.CLOSED) throw closedError();
    return result === raw.ACQUIRED ? new SemaphorePermit(GUARD_TOKEN, this, permits) : undefined;
  }

  /**
   * Acquires (`options.permits`, default 1), runs `fn`, releases in every case.
   *
   * @example
   * ```ts
   * const body = await slots.withPermit(() => download(url), { timeout: 5_000 });
   * ```
   */
  async withPermit<R>(
    fn: (permit: SemaphorePermit) => R | PromiseLike<R>,
    options?: AcquireOptions & { permits?: number | undefined },
  ): Promise<Awaited<R>> {
    checkFunction("fn", fn);
    const permit = await this.acquire(options?.permits ?? 1, options);
    try {
      return await fn(permit);
    } finally {
      permit.release();
    }
  }

  /**
   * Blocking form of {@link withPermit}.
   *
   * @example
   * ```ts
   * slots.withPermitSync(() => work());
   * ```
   */
  withPermitSync<R>(
    fn: (permit: SemaphorePermit) => R,
    options?: { timeout?: number | undefined; permits?: number | undefined },
  ): R {
    checkFunction("fn", fn);
    const permit = this.acquireSync(options?.permits ?? 1, { timeout: options?.timeout });
    try {
      return fn(permit);
    } finally {
      permit.release();
    }
  }

  /**
   * Adds `permits` permits (waking waiters).
   *
   * @example
   * ```ts
   * slots.addPermits(2);
   * ```
   *
   * @throws RangeError when the total would pass {@link Semaphore.MAX_PERMITS} (nothing is added).
   */
  addPermits(permits: number): void {
    checkInteger("permits", permits, 0, raw.MAX_PERMITS);
    if (permits === 0) return;
    if (!raw.release(A, this.#word, 0, permits)) {
      throw new RangeError(
        `Expected \`permits\` to keep the total at most ${raw.MAX_PERMITS}, got ${permits} more than ${this.available}`,
      );
    }
  }

  /**
   * Closes the semaphore: pending and future acquires fail with `ClosedError`, in every thread.
   * Idempotent.
   *
   * @example
   * ```ts
   * slots.close();
   * await slots.acquire(); // rejects with ClosedError
   * ```
   */
  close(): void {
    raw.close(A, this.#word, 0);
  }

  static {
    giveBack = (semaphore, permits) => {
      raw.release(A, semaphore.#word, 0, permits);
    };
  }
}

function closedError(): ClosedError {
  return new ClosedError("Semaphore is closed");
}

/** Permits taken from a threads {@link Semaphore}; `release()` (or `using`) gives them back. */
export class SemaphorePermit implements Releasable {
  static {
    notThenable(SemaphorePermit.prototype);
  }

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

  /** Gives the permits back. Idempotent. */
  release(): void {
    const semaphore = this.#semaphore;
    if (semaphore === undefined) return;
    this.#semaphore = undefined;
    giveBack(semaphore, this.permits);
  }

  /** Consumes the permits without giving them back. */
  forget(): void {
    this.#semaphore = undefined;
  }

  /** Same as {@link release}, for `using`. */
  [Symbol.dispose](): void {
    this.release();
  }
}
