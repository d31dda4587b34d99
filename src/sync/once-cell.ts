import { BatchSemaphore } from "../internal/batch-semaphore.js";
import { markNotSend } from "../internal/not-send.js";
import { checkName, nameFor, observer } from "../internal/observer.js";
import { checkFunction, checkOptionsObject, precheck, readAcquireOptions } from "../internal/validate.js";
import { type AcquireOptions, interiorMutable, type NameOptions } from "../types.js";

/**
 * Rejection reason the core hands to queued callers when the cell becomes initialized. It never
 * escapes: `getOrInit` turns it into the value. One shared instance, since nobody outside sees it.
 */
const INITIALIZED = new Error("lockbox: OnceCell initialized");
const initialized = (): Error => INITIALIZED;
const noValue = (): undefined => undefined;

/**
 * A cell written at most once, whose initialization may be async (tokio's `OnceCell`).
 *
 * Built as tokio builds it, on the batch-semaphore core with one permit: the permit is the right to
 * run an initializer. Callers of `getOrInit` queue for it in FIFO order; when one succeeds the core is
 * closed, which wakes every queued caller with the value.
 *
 * @example
 * ```ts
 * const config = new OnceCell<Config>();
 * const a = config.getOrInit(loadConfig); // runs loadConfig once
 * const b = config.getOrInit(loadConfig); // waits for the first call, shares its value
 * (await a) === (await b); // true
 * ```
 *
 * **Fairness**: initializers run one at a time, in the order their callers arrived.
 *
 * **Cancel safety**: a `getOrInit(fn, { signal, timeout })` that is aborted or times out while
 * *waiting* leaves the queue at once (its `fn` never runs). Once its own `fn` is running, the options
 * no longer apply: `fn` is not interrupted, and the caller gets its outcome.
 */
export class OnceCell<T> {
  declare readonly [interiorMutable]: true;
  #value: T | undefined = undefined;
  #initialized = false;
  /** One permit = the right to initialize; closed once initialized. */
  readonly #sem = new BatchSemaphore(1, noValue);
  #name: string;

  /**
   * @param args - optional initial value; when given (even `undefined`), the cell starts initialized;
   *   then optional options: `name`, its name in errors and diagnostics (default `OnceCell#n`). An
   *   empty cell with a name: {@link OnceCell.empty}.
   */
  constructor(...args: [] | [value: T] | [value: T, options: NameOptions | undefined]) {
    markNotSend(this);
    const options = args[1];
    checkOptionsObject("options", options);
    this.#name = nameFor("OnceCell", options);
    this.#sem.owner = this;
    this.#sem.modeOf = () => "event";
    if (args.length > 0) this.#complete(args[0] as T);
  }

  /**
   * An empty (uninitialized) cell with options, since `new OnceCell(value, options)` takes a value.
   *
   * @example
   * ```ts
   * const config = OnceCell.empty<Config>({ name: "config" });
   * ```
   */
  static empty<T>(options?: NameOptions): OnceCell<T> {
    checkOptionsObject("options", options);
    const cell = new OnceCell<T>();
    const name = options?.name;
    if (name !== undefined) cell.#name = checkName(name);
    return cell;
  }

  /** The name given at creation, or `OnceCell#n` (the n-th OnceCell created). */
  get name(): string {
    return this.#name;
  }

  /** `true` once a value is set. */
  get initialized(): boolean {
    return this.#initialized;
  }

  /** The value, or `undefined` while not initialized. */
  get(): T | undefined {
    if (observer !== undefined) observer.sync(this, "get");
    return this.#value;
  }

  /**
   * Sets the value if the cell is empty and nobody is initializing it.
   *
   * @returns `true` if this call set the value; `false` if the cell is already initialized or a
   * `getOrInit` initializer is running (or queued): the value is then the initializer's business, and
   * `set` never waits.
   */
  set(value: T): boolean {
    if (observer !== undefined) observer.sync(this, "set");
    if (!this.#sem.tryAcquire(1)) return false;
    this.#complete(value);
    return true;
  }

  /**
   * Returns the value, initializing it with `fn` first if the cell is empty. Concurrent callers share
   * one initialization: the first runs its `fn`, the others wait. If that `fn` throws or rejects, its
   * caller gets the error and the next waiting caller runs its own `fn`.
   *
   * @example
   * ```ts
   * const client = await clientCell.getOrInit(() => connect(url));
   * ```
   *
   * **Cancel safety**: see the class docs (the options cover the wait, not a running `fn`).
   *
   * **Throws** (rejects): what `fn` threw; `signal.reason` on abort, `TimeoutError` on timeout (both
   * only while waiting); `TypeError` when `fn` is not a function, `TypeError` / `RangeError` for bad
   * options. Calling `getOrInit` on the same cell from inside `fn` waits forever (as in Rust).
   */
  getOrInit(fn: () => T | PromiseLike<T>, given?: AcquireOptions): Promise<T> {
    let options: AcquireOptions | undefined;
    try {
      options = readAcquireOptions(given);
    } catch (error) {
      return Promise.reject(error);
    }
    if (observer !== undefined) return observer.around(this, "getOrInit", options, (o) => this.#getOrInit(fn, o));
    return this.#getOrInit(fn, options);
  }

  #getOrInit(fn: () => T | PromiseLike<T>, options: AcquireOptions | undefined): Promise<T> {
    if (this.#initialized) return Promise.resolve(this.#value as T);
    try {
      checkFunction("fn", fn);
    } catch (error) {
      return Promise.reject(error);
    }
    if (options !== undefined) {
      const early = precheck(options);
      if (early !== undefined) return early;
    }
    if (this.#sem.tryAcquire(1)) return this.#run(fn);
    return this.#waitThenRun(fn, options);
  }

  async #waitThenRun(fn: () => T | PromiseLike<T>, options: AcquireOptions | undefined): Promise<T> {
    try {
      await this.#sem.acquire(1, 0, options);
    } catch (error) {
      if (error === INITIALIZED) return this.#value as T;
      throw error;
    }
    return this.#run(fn);
  }

  /** Runs `fn` while holding the permit: on success the cell closes, on failure the permit moves on. */
  async #run(fn: () => T | PromiseLike<T>): Promise<T> {
    let value: T;
    try {
      value = await fn();
    } catch (error) {
      this.#sem.release(1);
      throw error;
    }
    this.#complete(value);
    return value;
  }

  #complete(value: T): void {
    this.#value = value;
    this.#initialized = true;
    this.#sem.close(initialized);
  }
}
