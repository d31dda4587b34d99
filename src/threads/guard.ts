/**
 * The threads guards' shared parts: the one exclusive guard ({@link ExclusiveGuard}, which `MutexGuard`
 * and `RwLockWriteGuard` extend) and their errors.
 */
import { PoisonError, UseAfterReleaseError } from "../errors.js";
import { markNotSend } from "../internal/not-send.js";
import { GUARD_TOKEN, type GuardToken, illegalConstructor, notThenable } from "../internal/symbols.js";
import type { Releasable } from "../types.js";
import type { LockData } from "./data-lock.js";
import type { GuardValue } from "./memory/shared-data.js";

/** The error a released guard throws. */
export function releasedError(guard: string, action: string): UseAfterReleaseError {
  return new UseAfterReleaseError(`Cannot ${action} a ${guard} after release()`);
}

/** The error a poisoned threads lock gives; the caller does not hold the lock. */
export function poisonError(lock: string, method: string): PoisonError {
  return new PoisonError(
    `${lock} is poisoned: a holder failed or its thread died while holding it; ` +
      `${method}({ ignorePoison: true }) or clearPoison() to recover`,
  );
}

/** The value slot of a released exclusive guard (no data a lock shows is this object). */
const RELEASED: unique symbol = Symbol("released");

/*
 * The exclusive guards are flat classes (`MutexGuard`, `RwLockWriteGuard`) whose prototypes inherit
 * `ExclusiveGuard.prototype`: one implementation of the shared methods, but no `extends`, and slots
 * keyed by module-private symbols rather than `#private` fields. Measured in Node 20: constructing
 * through `extends ExclusiveGuard` with private fields in the base made threads `lockSync()` +
 * `release()` 38 ns instead of 26 (the subclass construction is not inlined). The slots are not
 * enumerable by string keys, not structured-cloned, and reachable only through reflection.
 */
const DATA: unique symbol = Symbol("lockbox.guard.data");
const VALUE: unique symbol = Symbol("lockbox.guard.value");

/** The slots of an {@link ExclusiveGuard}: its lock's data side, and the value it shows (RELEASED once released). */
interface Slots<T> {
  [DATA]: LockData<T>;
  [VALUE]: GuardValue<T> | typeof RELEASED;
}

function slots<T>(guard: ExclusiveGuard<T>): Slots<T> {
  return guard as unknown as Slots<T>;
}

function releasedGuardError(data: LockData<unknown>, action: string): UseAfterReleaseError {
  return releasedError(data.kind.exclusiveGuard ?? "guard", action);
}

/**
 * `guard`'s lock data and value for a method of a subclass (`RwLockWriteGuard.downgrade`): throws
 * `UseAfterReleaseError` once released.
 * @internal
 */
export function heldParts<T>(guard: ExclusiveGuard<T>, action: string): { data: LockData<T>; value: GuardValue<T> } {
  const { [DATA]: data, [VALUE]: value } = slots(guard);
  if (value === RELEASED) throw releasedGuardError(data as LockData<unknown>, action);
  return { data, value };
}

/**
 * Marks `guard` released without giving anything back (its lock was handed on another way).
 * @internal
 */
export function markReleased(guard: ExclusiveGuard<unknown>): void {
  slots(guard)[VALUE] = RELEASED;
}

/**
 * The lock data of an exclusive guard (released or not), or `undefined` for anything else.
 * @internal
 */
export function lockDataOf(value: unknown): LockData<unknown> | undefined {
  return typeof value === "object" && value !== null && DATA in value ? (value as Slots<unknown>)[DATA] : undefined;
}

/**
 * A new exclusive guard's slots, from the constructor of `MutexGuard` / `RwLockWriteGuard`.
 * @internal
 */
export function initExclusive<T>(guard: object, data: LockData<T>, value: GuardValue<T>): void {
  markNotSend(guard);
  const own = guard as Slots<T>;
  own[DATA] = data;
  own[VALUE] = value;
}

/**
 * Makes `Guard` (a flat class that calls {@link initExclusive}) an {@link ExclusiveGuard}: its
 * prototype inherits the shared methods, and `instanceof ExclusiveGuard` holds.
 * @internal
 */
export function inheritExclusive(Guard: abstract new (...args: never[]) => object): void {
  Object.setPrototypeOf(Guard.prototype, ExclusiveGuard.prototype);
}

/**
 * Exclusive access to a threads lock's data: what {@link MutexGuard} and {@link RwLockWriteGuard} are
 * (lock_api's one guard over any raw lock). `guard.value` is the data (assigning replaces it, through
 * the data's layout); `release()` or the end of a `using` block gives the lock back; a second
 * `release()` does nothing; `value` then throws `UseAfterReleaseError`. A guard belongs to the thread
 * that acquired it and cannot be posted.
 *
 * Accept it where either guard will do:
 *
 * @example
 * ```ts
 * function bump(guard: ExclusiveGuard<Int32Array>): void {
 *   guard.value[0]++;
 * }
 * bump(mutex.lockSync());
 * bump(rwLock.writeSync());
 * ```
 */
export class ExclusiveGuard<T> implements Releasable {
  static {
    notThenable(ExclusiveGuard.prototype);
  }

  // Every acquire allocates a guard (V8 cannot scalar-replace it: it is live across the Atomics call
  // in release), so it stays small: the not-Send marker and two slots (see DATA above). The data slot
  // is kept after release (for the guard's name in errors, and for Condvar's check).

  /** @internal Guards come from the locks' acquires; this constructor throws for anyone else. */
  constructor(token: GuardToken, data: LockData<T>, value: GuardValue<T>) {
    if (token !== GUARD_TOKEN) illegalConstructor("ExclusiveGuard");
    initExclusive(this, data, value);
  }

  /** The protected data. Assigning replaces it. */
  get value(): GuardValue<T> {
    const own = slots(this);
    const value = own[VALUE];
    if (value === RELEASED) throw releasedGuardError(own[DATA] as LockData<unknown>, "read `value` of");
    return value;
  }

  set value(value: GuardValue<T>) {
    const own = slots(this);
    if (own[VALUE] === RELEASED) throw releasedGuardError(own[DATA] as LockData<unknown>, "write `value` of");
    own[VALUE] = own[DATA].replace(value);
  }

  /** `true` once released (or, for a write guard, downgraded). */
  get released(): boolean {
    return slots(this)[VALUE] === RELEASED;
  }

  /** Gives the lock back. Idempotent. */
  release(): void {
    const own = slots(this);
    const value = own[VALUE];
    if (value === RELEASED) return;
    own[VALUE] = RELEASED;
    own[DATA].releaseExclusive(value);
  }

  /** Same as {@link release}, for `using`. */
  [Symbol.dispose](): void {
    this.release();
  }

  /**
   * Poisons the lock (for `using` blocks, which cannot see a throw). Does not release.
   *
   * @throws UseAfterReleaseError after release.
   */
  poison(): void {
    const own = slots(this);
    if (own[VALUE] === RELEASED) throw releasedGuardError(own[DATA] as LockData<unknown>, "poison through");
    own[DATA].poison();
  }
}
