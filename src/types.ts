/**
 * Types shared by every lockbox primitive.
 *
 * @module
 */

/**
 * Type-level brand carried by every interior-mutable lockbox type (`Mutex`, `RwLock`, `Cell`,
 * `RefCell`, `Semaphore`, atomics, …). {@link DeepReadonly} stops at a branded type, so a read-only
 * view still lets you call `lock()` on a `Mutex` inside it — exactly as `&Mutex<T>` allows `lock()`
 * in Rust. Classes declare the property (`declare readonly [interiorMutable]: true`) without storing it.
 */
export const interiorMutable: unique symbol = Symbol("lockbox.interiorMutable");

/** A type that is mutable through a shared reference (Rust's `UnsafeCell` family). */
export interface InteriorMutable {
  readonly [interiorMutable]: true;
}

type Primitive = string | number | bigint | boolean | symbol | null | undefined;

/**
 * A recursive read-only view of `T`: arrays become `ReadonlyArray`, `Map` becomes `ReadonlyMap`,
 * `Set` becomes `ReadonlySet`, object properties become `readonly`, functions stay as they are.
 * It stops at interior-mutable types ({@link InteriorMutable}), which keep all their methods.
 *
 * This is what a read guard, a `Ref` and an `Arc` give you: the TypeScript counterpart of Rust's
 * E0596 ("cannot borrow as mutable"). It is a compile-time check only: at run time the value is the
 * same mutable object, so a cast or untyped code can still mutate it.
 *
 * @example
 * ```ts
 * const config: DeepReadonly<{ hosts: string[] }> = { hosts: ["a"] };
 * // @ts-expect-error: read-only
 * config.hosts.push("b");
 * ```
 */
export type DeepReadonly<T> = T extends Primitive
  ? T
  : T extends InteriorMutable
    ? T
    : T extends (...args: never[]) => unknown
      ? T
      : T extends Promise<infer U>
        ? Promise<DeepReadonly<U>>
        : T extends ReadonlyMap<infer K, infer V>
          ? ReadonlyMap<DeepReadonly<K>, DeepReadonly<V>>
          : T extends ReadonlySet<infer V>
            ? ReadonlySet<DeepReadonly<V>>
            : T extends WeakMap<infer K, infer V>
              ? Omit<WeakMap<K, DeepReadonly<V>>, "set" | "delete">
              : T extends WeakSet<infer K>
                ? Omit<WeakSet<K>, "add" | "delete">
                : T extends object
                  ? { readonly [P in keyof T]: DeepReadonly<T[P]> }
                  : T; // `unknown`: a mapped type would turn it into `{}`, losing null and undefined

/**
 * Options accepted by every waiting method.
 *
 * - `signal`: aborting it makes the wait reject with `signal.reason`; an already-aborted signal
 *   rejects without queueing.
 * - `timeout`: milliseconds (any finite number ≥ 0; 30 days works); the wait rejects with `TimeoutError`.
 *
 * Either way the waiter leaves the queue at once and nothing leaks: no permit, no place, no timer.
 */
export interface AcquireOptions {
  /** Cancels the wait; the promise rejects with `signal.reason`. */
  signal?: AbortSignal | undefined;
  /** Gives up after this many milliseconds with `TimeoutError`. */
  timeout?: number | undefined;
}

/** {@link AcquireOptions} for lock acquires that may be poisoned. */
export interface LockOptions extends AcquireOptions {
  /** Acquire even if the lock is poisoned (Rust: `PoisonError::into_inner`). */
  ignorePoison?: boolean | undefined;
}

/** The option every constructor of every scope accepts. */
export interface NameOptions {
  /**
   * The primitive's name in errors, diagnostics reports, statistics and traces. Default: its kind and
   * creation number, such as `Mutex#3`.
   */
  name?: string | undefined;
}

/** Options of a lock constructor. */
export interface PoisonOptions extends NameOptions {
  /**
   * Poison the lock when a `withLock` / `withWrite` callback throws or rejects while holding it
   * exclusively. Off by default in `lockbox` (as in tokio), on by default in `lockbox/threads` (as in std).
   */
  poison?: boolean | undefined;
}

/** What every guard, permit and borrow has in common. */
export interface Releasable extends Disposable {
  /** Gives the lock back. Idempotent: a second call does nothing. */
  release(): void;
  /** `true` once released. */
  readonly released: boolean;
}
