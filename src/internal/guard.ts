import { UseAfterReleaseError } from "../errors.js";
import type { Releasable } from "../types.js";
import { markNotSend } from "./not-send.js";
import { GUARD_TOKEN, type GuardToken, illegalConstructor, notThenable } from "./symbols.js";

/** Marks `guard` released without unlocking: its hold has moved to another guard. */
export let detachGuard: (guard: Guard<unknown>) => void;
/** The owner of a live guard, or `undefined` once released (for primitives that take a guard). */
export let guardOwner: <O>(guard: Guard<O>) => O | undefined;

/**
 * The guard surface that every lockbox guard shares: `released`, an idempotent `release()`,
 * `[Symbol.dispose]` for `using`, not-Send, unforgeable construction, and the use-after-release check.
 *
 * A guard holds its owner (the lock, cell or semaphore it came from) until released. Invariant: the
 * owner is cleared *before* `unlock` runs, so a re-entrant or second `release()` can never give the
 * same hold back twice. Subclasses add `value` and say how to give the hold back (`unlock`).
 *
 * @typeParam O - what the guard holds: its lock, cell or semaphore.
 */
export abstract class Guard<O> implements Releasable {
  #owner: O | undefined;

  static {
    detachGuard = (guard) => {
      guard.#owner = undefined;
    };
    guardOwner = (guard) => guard.#owner;
    notThenable(Guard.prototype);
  }

  /** @internal Guards come from their lock; this constructor throws for anyone else. */
  constructor(token: GuardToken, owner: O) {
    if (token !== GUARD_TOKEN) illegalConstructor(new.target.name);
    markNotSend(this);
    this.#owner = owner;
  }

  /** `true` once released (or moved into another guard by a downgrade or an upgrade). */
  get released(): boolean {
    return this.#owner === undefined;
  }

  /** Gives the hold back (to the next waiter, if any). Idempotent: a second call does nothing. */
  release(): void {
    const owner = this.#owner;
    if (owner === undefined) return;
    this.#owner = undefined;
    this.unlock(owner);
  }

  /** Same as `release()`, so that `using guard = await lock.lock()` releases at block end. */
  [Symbol.dispose](): void {
    this.release();
  }

  /** The owner, or {@link UseAfterReleaseError} naming `action` once released. */
  protected live(action: string): O {
    const owner = this.#owner;
    if (owner === undefined) throw new UseAfterReleaseError(`Cannot ${action} a ${this.kind} after release()`);
    return owner;
  }

  /** Ends this guard without unlocking, returning its owner: the hold moves to a new guard. */
  protected take(action: string): O {
    const owner = this.live(action);
    this.#owner = undefined;
    return owner;
  }

  /** The guard's name in error messages. */
  protected abstract get kind(): string;

  /** Gives the hold back to `owner`. Called exactly once per guard. */
  protected abstract unlock(owner: O): void;
}
