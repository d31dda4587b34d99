import type { DeepReadonly } from "../types.js";
import { StoreGuard } from "./guard.js";

/**
 * The guard of a distributed `Mutex` (and, as {@link DistributedWriteGuard}, of an RwLock's write lock):
 * exclusive access to the stored value through a local copy loaded by the acquire itself.
 *
 * @example
 * ```ts
 * await using guard = await balance.lock();
 * guard.value += 10;
 * await guard.commit(); // written, still held
 * guard.value -= 5;
 * // released at the end of the block, writing the change back (conditioned on guard.token)
 * ```
 *
 * @typeParam Tx - the client a fenced `transaction(fn)` hands to `fn` (PostgreSQL: a `pg.PoolClient`).
 */
export class DistributedMutexGuard<T, Tx = never> extends StoreGuard {
  /**
   * The local copy of the value (loaded by the acquire). Replace it or change it in place; `commit()`
   * and `release()` write it back.
   *
   * **Throws** `UseAfterReleaseError` after release.
   */
  get value(): T {
    return this.readValue() as T;
  }

  set value(value: T) {
    this.writeValue(value);
  }

  /**
   * Writes the value to the store while keeping the lock: one statement conditioned on `token`.
   *
   * **Throws** (rejects): `LockLostError` when the lock was lost (the stored value is untouched; the
   * local deadline or an aborted signal rejects without sending); `TypeError` when the value does not
   * survive `JSON.stringify`; `BackendError` when the store failed (the guard's signal then aborts).
   */
  commit(): Promise<void> {
    return this.commitValue();
  }

  /**
   * Runs `fn(client)` in a transaction on one connection that first confirms, inside the transaction,
   * that this lease is still held with this token and locks the lock's row, so that no new holder can be
   * granted before it commits: writes made through `client` are fenced by the lock. Once the check has
   * passed, the transaction commits even if the local deadline passes meanwhile.
   *
   * **Throws** (rejects): `LockLostError` when the lock was lost (rolled back, `fn` not called);
   * whatever `fn` throws (rolled back); `BackendError` for a driver failure; `TypeError` on a store
   * without transactions.
   */
  transaction<R>(fn: (client: Tx) => Promise<R>): Promise<R> {
    return this.runTransaction(fn as (client: never) => Promise<R>);
  }
}

/** The guard of a distributed RwLock's write lock: the same surface as {@link DistributedMutexGuard}. */
export class DistributedWriteGuard<T, Tx = never> extends DistributedMutexGuard<T, Tx> {}

/**
 * The guard of a distributed RwLock's read lock: a read-only local copy of the value. `token` is the
 * token of the last exclusive grant.
 */
export class DistributedReadGuard<T> extends StoreGuard {
  /** The local copy of the value, read-only. **Throws** `UseAfterReleaseError` after release. */
  get value(): DeepReadonly<T> {
    return this.readValue() as DeepReadonly<T>;
  }
}

/** Permits of a distributed Semaphore. `token` is the token of the last exclusive grant (`0n`). */
export class DistributedPermit extends StoreGuard {
  /** How many permits this guard holds. */
  get permits(): number {
    return this.permitCount;
  }
}
