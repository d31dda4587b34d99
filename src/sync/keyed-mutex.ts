import { UseAfterReleaseError } from "../errors.js";
import { abortWins, BatchSemaphore } from "../internal/batch-semaphore.js";
import { Deadline } from "../internal/deadline.js";
import { Guard } from "../internal/guard.js";
import { markNotSend } from "../internal/not-send.js";
import { nameFor, observer } from "../internal/observer.js";
import { GUARD_TOKEN, type GuardToken } from "../internal/symbols.js";
import {
  checkAcquireOptions,
  checkFunction,
  checkOptionsObject,
  describe,
  precheck,
  readAcquireOptions,
} from "../internal/validate.js";
import { type AcquireOptions, interiorMutable, type NameOptions } from "../types.js";

/**
 * The lock of one key: a one-permit core. It exists only while the key has a holder or a waiter: the
 * release that leaves it with neither deletes it. (A waiter that gives up never leaves it idle: while
 * a key has a waiter it has a holder, because a release hands the lock straight to the head.)
 */
class Entry<K> {
  readonly key: K;
  readonly sem: BatchSemaphore;

  constructor(key: K, owner: KeyedMutex<K>) {
    this.key = key;
    // A `lock()` waiter's grant builds its guard right away (no extra promise per waiter); a
    // `lockMany()` step (tag RAW) gets the entry, to put in its one guard for all keys.
    this.sem = new BatchSemaphore(1, (tag) => (tag === RAW ? this : newGuard(owner, this)));
    this.sem.owner = owner;
    this.sem.key = key;
  }

  get idle(): boolean {
    return this.sem.available === 1 && this.sem.waiters === 0;
  }
}

/** Tag of a `lockMany` step: its grant resolves with the entry rather than a guard. */
const RAW = 1;

/** A one-key guard; the observer, if any, hears of it. */
function newGuard<K>(owner: KeyedMutex<K>, entry: Entry<K>): KeyedMutexGuard<K> {
  const guard = new KeyedMutexGuard<K>(GUARD_TOKEN, owner as KeyedMutex<unknown>, entry);
  if (observer !== undefined) observer.acquired(owner, guard, "exclusive", entry.key);
  return guard;
}

/** Privileged access of `KeyedMutexGuard` to its `KeyedMutex`; set once by the `KeyedMutex` class. */
let releaseEntry: (owner: KeyedMutex<unknown>, entry: Entry<unknown>) => void;

/**
 * A lock per key (the keyed lock that `async-lock` and friends provide, done the lockbox way): tasks
 * that lock the same key exclude each other, tasks with different keys do not. Keys compare like
 * `Map` keys (SameValueZero: `1` and `"1"` differ, `NaN` equals `NaN`, objects by identity).
 *
 * Memory follows use: a key with no holder and no waiter has no entry (`size` counts the others).
 *
 * @example
 * ```ts
 * const accounts = new KeyedMutex<string>();
 * await accounts.withLock("alice", async () => {
 *   await debit("alice", 10); // no other task holds "alice" meanwhile
 * });
 * // A transfer takes both keys, in a canonical order, so opposite transfers cannot deadlock.
 * using both = await accounts.lockMany(["bob", "alice"]);
 * ```
 *
 * **Fairness**: strict FIFO per key; `tryLock` never jumps ahead of a key's queue.
 *
 * **Cancel safety**: an aborted or timed-out `lock()` leaves its key's queue at once and holds no
 * memory there (the key's entry goes when its holder releases it). As with `Mutex`, a grant whose
 * signal aborts before the caller resumes is handed on to the next waiter and the call rejects.
 * `lockMany()` releases every key it had already taken before it rejects.
 */
export class KeyedMutex<K> {
  declare readonly [interiorMutable]: true;
  readonly #entries = new Map<K, Entry<K>>();
  readonly #name: string;

  static {
    releaseEntry = (owner, entry) => owner.#release(entry);
  }

  /**
   * @param options - `name`: its name in errors and diagnostics (default `KeyedMutex#n`); a key is
   *   shown as `name[key]`.
   */
  constructor(options?: NameOptions) {
    markNotSend(this);
    checkOptionsObject("options", options);
    this.#name = nameFor("KeyedMutex", options);
  }

  /** The name given to the constructor, or `KeyedMutex#n` (the n-th KeyedMutex created). */
  get name(): string {
    return this.#name;
  }

  /** Number of keys that have a holder or a waiter. */
  get size(): number {
    return this.#entries.size;
  }

  /** `true` while some guard holds `key`. */
  isLocked(key: K): boolean {
    const entry = this.#entries.get(key);
    return entry !== undefined && entry.sem.available === 0;
  }

  /**
   * Waits for `key`'s lock and resolves with a guard whose `value` is the key.
   *
   * @example
   * ```ts
   * using guard = await locks.lock(userId, { timeout: 1_000 });
   * await updateUser(guard.value);
   * ```
   *
   * **Cancel safety**: on abort (rejects with `signal.reason`) or timeout (rejects with
   * `TimeoutError`) the waiter leaves the key's queue at once; no timer or listener stays behind.
   *
   * **Throws** (rejects): `TypeError` / `RangeError` for bad options.
   */
  lock(key: K, given?: AcquireOptions): Promise<KeyedMutexGuard<K>> {
    let options: AcquireOptions | undefined;
    try {
      options = readAcquireOptions(given);
    } catch (error) {
      return Promise.reject(error);
    }
    if (observer !== undefined) return observer.around(this, "lock", options, (o) => this.#lock(key, o), key);
    return this.#lock(key, options);
  }

  #lock(key: K, options: AcquireOptions | undefined): Promise<KeyedMutexGuard<K>> {
    if (options !== undefined) {
      const early = precheck(options);
      if (early !== undefined) return early;
    }
    const entry = this.#entries.get(key);
    const pending =
      entry === undefined
        ? Promise.resolve(newGuard(this, this.#create(key)))
        : (entry.sem.acquire(1, 0, options) as Promise<KeyedMutexGuard<K>>);
    return abortWins(pending, options?.signal);
  }

  /**
   * Takes `key`'s lock if nobody holds or waits for it; otherwise returns `undefined`. Never waits.
   */
  tryLock(key: K): KeyedMutexGuard<K> | undefined {
    // An existing entry always has a holder or a waiter (idle entries are deleted), so it is busy.
    if (observer !== undefined) observer.sync(this, "tryLock");
    if (this.#entries.has(key)) return undefined;
    return newGuard(this, this.#create(key));
  }

  /**
   * Locks `key`, calls `fn(guard)`, awaits its result, releases in every case, and returns (or
   * rethrows) what `fn` did.
   *
   * @example
   * ```ts
   * const balance = await locks.withLock("alice", () => readBalance("alice"));
   * ```
   */
  withLock<R>(
    key: K,
    fn: (guard: KeyedMutexGuard<K>) => R | PromiseLike<R>,
    given?: AcquireOptions,
  ): Promise<Awaited<R>> {
    let options: AcquireOptions | undefined;
    try {
      options = readAcquireOptions(given);
    } catch (error) {
      return Promise.reject(error);
    }
    if (observer !== undefined) {
      return observer.around(this, "withLock", options, (o) => this.#withLock(key, fn, o), key);
    }
    return this.#withLock(key, fn, options);
  }

  async #withLock<R>(
    key: K,
    fn: (guard: KeyedMutexGuard<K>) => R | PromiseLike<R>,
    options?: AcquireOptions,
  ): Promise<Awaited<R>> {
    checkFunction("fn", fn);
    const guard = await this.lock(key, options);
    try {
      return await fn(guard);
    } finally {
      guard.release();
    }
  }

  /**
   * Locks every key of `keys` (duplicates count once) and resolves with one guard that holds them all;
   * its `value` lists the keys in the order they were taken.
   *
   * Keys are always taken in one canonical order — numbers (`NaN` first), then bigints, then strings
   * (each by value), then `false`, `true`, `null`, then objects, functions and symbols by the order in
   * which this process first compared them, then symbols from `Symbol.for` (by their key), and
   * `undefined` last — so two callers whose key sets overlap cannot deadlock, whatever order they
   * list them in.
   *
   * @example
   * ```ts
   * using both = await accounts.lockMany([from, to], { timeout: 5_000 });
   * ```
   *
   * **Cancel safety**: `timeout` bounds the whole call. On abort or timeout part-way, the keys already
   * taken are released (to their next waiters) before the promise rejects. As with `lock()`, the abort
   * wins over a grant the caller has not seen yet: a signal that aborts after the last key was granted,
   * but before the caller resumes, releases every key and rejects with `signal.reason`.
   *
   * **Fairness**: FIFO per key; a caller holding some keys keeps them while it waits for the next.
   *
   * **Throws** (rejects): `TypeError` when `keys` is not iterable, `TypeError` / `RangeError` for bad
   * options.
   */
  lockMany(keys: Iterable<K>, given?: AcquireOptions): Promise<KeyedMutexGuard<readonly K[]>> {
    let options: AcquireOptions | undefined;
    try {
      options = readAcquireOptions(given);
    } catch (error) {
      return Promise.reject(error);
    }
    if (observer !== undefined) return observer.around(this, "lockMany", options, (o) => this.#lockMany(keys, o), keys);
    return this.#lockMany(keys, options);
  }

  #lockMany(keys: Iterable<K>, options: AcquireOptions | undefined): Promise<KeyedMutexGuard<readonly K[]>> {
    try {
      if (keys === null || typeof (keys as Partial<Iterable<K>>)?.[Symbol.iterator] !== "function") {
        throw new TypeError(`Expected \`keys\` to be an iterable of keys, got ${describe(keys)}`);
      }
      checkAcquireOptions(options);
    } catch (error) {
      return Promise.reject(error);
    }
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    // Abort wins over an unseen grant, as in lock(): a signal that aborts after the last key was granted
    // (or after every key was free) but before the caller resumes releases every key and rejects.
    return abortWins(this.#takeAll(keys, options, signal), signal);
  }

  /** Takes every key in canonical order; on failure part-way gives back what it took. */
  async #takeAll(
    keys: Iterable<K>,
    options: AcquireOptions | undefined,
    signal: AbortSignal | undefined,
  ): Promise<KeyedMutexGuard<readonly K[]>> {
    const ordered = [...new Set(keys)].sort(compareKeys);
    const taken: Entry<K>[] = [];
    let deadline: Deadline | undefined;
    let stepOptions: AcquireOptions | undefined = signal === undefined ? undefined : { signal };
    try {
      for (const key of ordered) {
        const entry = this.#entries.get(key);
        if (entry === undefined) {
          taken.push(this.#create(key));
          continue;
        }
        // One timer for the whole call, started only if some key makes us wait.
        if (options?.timeout !== undefined && deadline === undefined) {
          deadline = new Deadline(options.timeout, signal, this.#name);
          stepOptions = { signal: deadline.signal };
        }
        // The signal may have fired while we resumed from the previous key (a grant and an abort in the
        // same run). The core never hears an abort that happened before it queued us, so check here.
        const stepSignal = stepOptions?.signal;
        if (stepSignal?.aborted) throw stepSignal.reason;
        taken.push((await entry.sem.acquire(1, RAW, stepOptions)) as Entry<K>);
      }
    } catch (error) {
      // Reverse order: the last key taken is released first (any order is safe; this mirrors nesting).
      for (let i = taken.length - 1; i >= 0; i--) this.#release(taken[i] as Entry<K>);
      throw error;
    } finally {
      deadline?.dispose();
    }
    const guard = new KeyedMutexGuard<readonly K[]>(GUARD_TOKEN, this as KeyedMutex<unknown>, taken, ordered);
    if (observer !== undefined) observer.acquired(this, guard, "exclusive", ordered);
    return guard;
  }

  #create(key: K): Entry<K> {
    const entry = new Entry(key, this);
    entry.sem.tryAcquire(1);
    this.#entries.set(key, entry);
    return entry;
  }

  #release(entry: Entry<unknown>): void {
    entry.sem.release(1);
    // With a waiter queued, the release handed the lock to it; otherwise the key is idle: forget it.
    if (entry.idle) this.#entries.delete(entry.key as K);
  }
}

/**
 * The lock of one key (from `lock`, `tryLock`, `withLock`) or of several (from `lockMany`).
 * `value` is the key (or the keys) and is read-only: a key is what is locked, not data to replace.
 *
 * `release()` (or leaving a `using` block) gives every key back; a second `release()` does nothing;
 * `value` then throws {@link UseAfterReleaseError}.
 */
export class KeyedMutexGuard<V> extends Guard<KeyedMutex<unknown>> {
  readonly #entries: Entry<unknown> | Entry<unknown>[];
  readonly #value: V;

  /** @internal Guards come from `KeyedMutex`; this constructor throws for anyone else. */
  constructor(token: GuardToken, owner: KeyedMutex<unknown>, entry: Entry<V>);
  constructor(token: GuardToken, owner: KeyedMutex<unknown>, entries: Entry<unknown>[], keys: V);
  constructor(token: GuardToken, owner: KeyedMutex<unknown>, entries: Entry<unknown> | Entry<unknown>[], keys?: V) {
    super(token, owner);
    this.#entries = entries;
    this.#value = Array.isArray(entries) ? (Object.freeze(keys) as V) : (entries.key as V);
  }

  /** The locked key (or, from `lockMany`, the locked keys in the order they were taken). */
  get value(): V {
    this.live("read `value` of");
    return this.#value;
  }

  protected get kind(): string {
    return "KeyedMutexGuard";
  }

  /** Gives the key (or every key, last taken first) back, to its next waiter if any. */
  protected unlock(owner: KeyedMutex<unknown>): void {
    if (observer !== undefined) observer.released(owner, this);
    const entries = this.#entries;
    if (!Array.isArray(entries)) {
      releaseEntry(owner, entries);
      return;
    }
    for (let i = entries.length - 1; i >= 0; i--) releaseEntry(owner, entries[i] as Entry<unknown>);
  }
}

// ---- canonical key order -------------------------------------------------------------------------

/** Per-object (and per-symbol) ids for the canonical order; weak, so ordering holds no memory. */
const objectIds = new WeakMap<WeakKey, number>();
let nextId = 1;

/**
 * Unregistered symbols on engines that do not accept symbols as weak keys (older browsers): kept
 * strongly, a small leak for a rare key type, rather than no order at all.
 */
const strongIds = new Map<unknown, number>();

function idOf(value: WeakKey): number {
  let id = objectIds.get(value) ?? strongIds.get(value);
  if (id === undefined) {
    id = nextId++;
    try {
      objectIds.set(value, id);
    } catch {
      strongIds.set(value, id);
    }
  }
  return id;
}

function rank(value: unknown): number {
  switch (typeof value) {
    case "number":
      return 0;
    case "bigint":
      return 1;
    case "string":
      return 2;
    case "boolean":
      return 3;
    case "undefined":
      // Last: `Array.prototype.sort` puts `undefined` after everything without asking the comparator.
      return 8;
    case "object":
      return value === null ? 5 : 6;
    case "function":
      return 6;
    default:
      // Registered symbols (`Symbol.for`) cannot be weak keys: they sort last, by their registry key.
      return Symbol.keyFor(value as symbol) === undefined ? 6 : 7;
  }
}

/**
 * A total order on keys that never changes for two given keys: values by value within their type,
 * objects and unregistered symbols by a lazily assigned id, registered symbols by their registry key.
 * @internal
 */
export function compareKeys(a: unknown, b: unknown): number {
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra - rb;
  switch (ra) {
    case 0: {
      const x = a as number;
      const y = b as number;
      if (Number.isNaN(x)) return Number.isNaN(y) ? 0 : -1;
      if (Number.isNaN(y)) return 1;
      return x < y ? -1 : x > y ? 1 : 0;
    }
    case 1:
    case 2: {
      const x = a as bigint | string;
      const y = b as bigint | string;
      return x < y ? -1 : x > y ? 1 : 0;
    }
    case 3:
      return Number(a) - Number(b);
    case 6:
      return idOf(a as WeakKey) - idOf(b as WeakKey);
    case 7: {
      const x = Symbol.keyFor(a as symbol) as string;
      const y = Symbol.keyFor(b as symbol) as string;
      return x < y ? -1 : x > y ? 1 : 0;
    }
    default:
      return 0;
  }
}
