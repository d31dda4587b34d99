import { checkFunction, readAcquireOptions, readTimeoutOptions } from "../internal/validate.js";
import { type AcquireOptions, interiorMutable, type NameOptions } from "../types.js";
import { type DataLockKind, type DataLockParts, LockData, receiveLock } from "./data-lock.js";
import type { HandleBase } from "./memory/handle.js";
import type { GuardValue } from "./memory/shared-data.js";
import { realAtomics as A } from "./raw/atomics-like.js";
import * as raw from "./raw/raw-once.js";
import { newWaiter, POLL_MS } from "./raw/waiter.js";
import { ownerId } from "./runtime/liveness.js";
import { assertCanBlock, checkSyncOptions, deadlineOf, driveAsync, driveSync, PARK, precheck } from "./runtime/wait.js";

const TAG = "lockbox.threads.OnceLock";

/** The structured-clone-safe form of a {@link OnceLock}. */
export interface OnceLockHandle extends HandleBase<typeof TAG>, DataLockParts {}

const KIND: DataLockKind = { kind: "OnceLock", tag: TAG, words: raw.ONCE_WORDS, poisonOption: false };

/** An initializer: fills `value` in place, or returns a replacement (stored through the data's layout). */
export type OnceInit<T> = (value: GuardValue<T>) => GuardValue<T> | undefined | void;

const STARTED = 1;

/**
 * Shared storage initialized exactly once across threads (Rust's `std::sync::OnceLock`). The storage
 * is given up front (shared memory cannot hold an arbitrary JS value): `getOrInit(init)` runs `init`
 * on it in exactly one thread at a time, and every caller gets the initialized storage.
 *
 * @example
 * ```ts
 * const table = new OnceLock(new Float64Array(new SharedArrayBuffer(8 * 256)), { name: "sines" });
 * // in any thread (OnceLock.from(received) in workers):
 * const sines = table.getOrInitSync((value) => {
 *   for (let i = 0; i < value.length; i++) value[i] = Math.sin(i / 256);
 * });
 * ```
 *
 * If `init` throws, the storage stays uninitialized, that caller gets the error, and the next waiter
 * runs its own `init`. If the initializing worker dies (and is supervised), the same happens.
 * Differences from Rust: there is no `set(value)` (initialize with `getOrInit`); `wait()` waits for
 * another thread's initialization.
 */
export class OnceLock<T = null> {
  declare readonly [interiorMutable]: true;
  /** The structured-clone-safe handle; see {@link OnceLock.from}. */
  readonly handle: OnceLockHandle;
  readonly #word: Int32Array;
  readonly #table: Int32Array;
  /** The data side (storage, handle, name). */
  readonly #data: LockData<T, OnceLockHandle>;

  /**
   * @param args - `[data, options]`: the storage (as for `Mutex`), `null` or nothing (`new OnceLock()`)
   *   for a bare "done once" flag; then `{ name }`, the once-lock's name in errors (default `OnceLock#n`).
   * @throws TypeError when `data` cannot be shared, or `options` has the wrong type.
   */
  constructor(...args: null extends T ? [data?: T, options?: NameOptions] : [data: T, options?: NameOptions]) {
    const data = (args.length === 0 || args[0] === undefined ? null : args[0]) as T;
    const options = args[1];
    const lockData = new LockData<T, OnceLockHandle>(this, KIND, data, options);
    this.#data = lockData;
    this.#word = lockData.word;
    this.#table = lockData.table;
    this.handle = lockData.handle;
  }

  /** The name given to the constructor (`{ name }`), or `OnceLock#n`; carried by the handle to every thread. */
  get name(): string {
    return this.#data.name;
  }

  /**
   * Rebuilds a once-lock from a received handle (or a posted once-lock).
   *
   * @example
   * ```ts
   * const table = OnceLock.from<Float64Array>(workerData);
   * ```
   *
   * @throws TypeError for anything but a current OnceLock handle over shared memory.
   */
  static from<T = unknown>(received: unknown): OnceLock<T> {
    return receiveLock(received, KIND, "OnceLock.from", (data) => new OnceLock<T>(data as T));
  }

  /** `true` once initialized. */
  get initialized(): boolean {
    return raw.isComplete(A, this.#word, 0);
  }

  /**
   * The storage if initialized, else `undefined`. Never waits.
   *
   * @example
   * ```ts
   * const ready = once.get();
   * if (ready !== undefined) use(ready);
   * ```
   */
  get(): GuardValue<T> | undefined {
    return raw.isComplete(A, this.#word, 0) ? this.#data.open() : undefined;
  }

  /**
   * Returns the storage, first running `init` on it if nobody has (waiting, without blocking the
   * thread, while another thread or task initializes).
   *
   * @example
   * ```ts
   * const value = await once.getOrInit(async (storage) => {
   *   storage[0] = await compute();
   * });
   * ```
   *
   * **Cancel safety**: `signal` / `timeout` bound the wait for another initializer; once this caller
   * runs `init`, it runs to the end.
   *
   * **Throws** (rejects): what `init` threw (the storage stays uninitialized), `TimeoutError`, the
   * signal's reason.
   */
  async getOrInit(
    init: (value: GuardValue<T>) => GuardValue<T> | undefined | void | PromiseLike<GuardValue<T> | undefined | void>,
    options?: AcquireOptions,
  ): Promise<GuardValue<T>> {
    options = readAcquireOptions(options);
    checkFunction("init", init);
    const early = precheck(options);
    if (early !== undefined) return early;
    if (!(await this.#claim(options, "getOrInit"))) return this.#data.open();
    try {
      let value = this.#data.open();
      const replacement = await init(value);
      if (replacement !== undefined) value = this.#data.replace(replacement);
      this.#data.close(value);
    } catch (error) {
      raw.fail(A, this.#word, 0);
      throw error;
    }
    raw.complete(A, this.#word, 0);
    return this.#data.open();
  }

  /**
   * Blocking form of {@link getOrInit}: `init` runs synchronously.
   *
   * @example
   * ```ts
   * const value = once.getOrInitSync((storage) => {
   *   storage[0] = 42;
   * });
   * ```
   *
   * **Throws**: `WouldBlockError` where blocking is forbidden (checked first),
   * `TimeoutError`, what `init` threw.
   */
  getOrInitSync(init: OnceInit<T>, options?: { timeout?: number | undefined }): GuardValue<T> {
    options = readTimeoutOptions(options);
    assertCanBlock("OnceLock.getOrInitSync", this.#data.name);
    checkFunction("init", init);
    checkSyncOptions(options);
    if (!this.#claimSync(options, "getOrInitSync")) return this.#data.open();
    try {
      let value = this.#data.open();
      const replacement = init(value);
      if (replacement !== undefined) value = this.#data.replace(replacement);
      this.#data.close(value);
    } catch (error) {
      raw.fail(A, this.#word, 0);
      throw error;
    }
    raw.complete(A, this.#word, 0);
    return this.#data.open();
  }

  /**
   * Waits (without blocking the thread) until another caller has initialized it.
   *
   * @example
   * ```ts
   * const value = await once.wait({ timeout: 1_000 });
   * ```
   */
  async wait(options?: AcquireOptions): Promise<GuardValue<T>> {
    options = readAcquireOptions(options);
    const early = precheck(options);
    if (early !== undefined) return early;
    const word = this.#word;
    if (!raw.isComplete(A, word, 0)) {
      const waiter = newWaiter(0);
      await driveAsync(
        word,
        waiter,
        () => (raw.isComplete(A, word, 0) ? 0 : this.#park(waiter)),
        deadlineOf(options?.timeout),
        options?.signal,
        () => {},
        "OnceLock.wait()",
        options?.timeout,
        this.#data.name,
      );
    }
    return this.#data.open();
  }

  /**
   * Blocking form of {@link wait}.
   *
   * @example
   * ```ts
   * const value = once.waitSync({ timeout: 1_000 });
   * ```
   */
  waitSync(options?: { timeout?: number | undefined }): GuardValue<T> {
    options = readTimeoutOptions(options);
    assertCanBlock("OnceLock.waitSync", this.#data.name);
    checkSyncOptions(options);
    const word = this.#word;
    if (!raw.isComplete(A, word, 0)) {
      const waiter = newWaiter(0);
      driveSync(
        word,
        waiter,
        () => (raw.isComplete(A, word, 0) ? 0 : this.#park(waiter)),
        deadlineOf(options?.timeout),
        () => {},
        "OnceLock.waitSync()",
        options?.timeout,
        this.#data.name,
      );
    }
    return this.#data.open();
  }

  /** Parks on the word as it is now, flagged QUEUED so that completion (or failure) notifies. */
  #park(waiter: ReturnType<typeof newWaiter>): number {
    const s = A.load(this.#word, 0);
    if ((s & raw.STATE_MASK) === raw.COMPLETE) return 0;
    if ((s & raw.QUEUED) === 0 && A.compareExchange(this.#word, 0, s, s | raw.QUEUED) !== s) {
      return this.#park(waiter);
    }
    waiter.parked = true;
    waiter.index = 0;
    waiter.expected = s | raw.QUEUED;
    waiter.parkTimeout = POLL_MS;
    return PARK;
  }

  /** `true` when this caller must run the initializer; `false` when it is complete. */
  async #claim(options: AcquireOptions | undefined, method: string): Promise<boolean> {
    const word = this.#word;
    const table = this.#table;
    const first = raw.tryStart(A, word, 0, ownerId, table);
    if (first !== raw.RUNNING) return first === raw.START;
    const waiter = newWaiter(0);
    const result = await driveAsync(
      word,
      waiter,
      () => {
        const step = raw.waitStep(A, word, 0, ownerId, table, waiter);
        return step === raw.RUNNING ? PARK : step === raw.START ? STARTED : 0;
      },
      deadlineOf(options?.timeout),
      options?.signal,
      () => {},
      `OnceLock.${method}()`,
      options?.timeout,
      this.#data.name,
    );
    return result === STARTED;
  }

  #claimSync(options: { timeout?: number | undefined } | undefined, method: string): boolean {
    const word = this.#word;
    const table = this.#table;
    const first = raw.tryStart(A, word, 0, ownerId, table);
    if (first !== raw.RUNNING) return first === raw.START;
    const waiter = newWaiter(0);
    const result = driveSync(
      word,
      waiter,
      () => {
        const step = raw.waitStep(A, word, 0, ownerId, table, waiter);
        return step === raw.RUNNING ? PARK : step === raw.START ? STARTED : 0;
      },
      deadlineOf(options?.timeout),
      () => {},
      `OnceLock.${method}()`,
      options?.timeout,
      this.#data.name,
    );
    return result === STARTED;
  }
}
