/**
 * Every error lockbox throws on purpose extends {@link LockboxError}. Each cause has its own class and
 * its own `name`, so `instanceof` and `error.name` both work, across `lockbox` and `lockbox/threads`
 * (which re-exports these same classes).
 *
 * Bad arguments are not lockbox errors: they throw the built-in `TypeError` / `RangeError`, with a
 * message that names the argument and the accepted range.
 *
 * @module
 */

/** Base class of every lockbox error. */
export class LockboxError extends Error {
  constructor(message?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * A guard, permit or borrow was used after it was released (or an `Arc` handle after it was dropped).
 *
 * In Rust the borrow checker rejects this at compile time; in TypeScript the guard object outlives
 * the lock it held, so the check happens at run time.
 */
export class UseAfterReleaseError extends LockboxError {}

/** An acquire did not succeed within its `timeout` (milliseconds). */
export class TimeoutError extends LockboxError {}

/**
 * The lock is poisoned: a holder failed while it held the lock exclusively, so the protected value
 * may be half-updated. Acquire with `{ ignorePoison: true }` to look anyway, or call `clearPoison()`.
 *
 * The rejected call does not hold the lock: no guard is hidden inside this error.
 */
export class PoisonError extends LockboxError {}

/** The primitive was closed (`Semaphore.close()`), so the acquire can never succeed. */
export class ClosedError extends LockboxError {}

/** `RefCell.borrow()` while a mutable borrow (`RefMut`) is live. */
export class BorrowError extends LockboxError {}

/** `RefCell.borrowMut()` while any borrow (`Ref` or `RefMut`) is live. */
export class BorrowMutError extends LockboxError {}

/** A blocking (`*Sync`) wait was called where the runtime forbids blocking, such as a browser main thread. */
export class WouldBlockError extends LockboxError {}

/**
 * Waiting would never end: a thread's blocking re-acquire of a lock it holds exclusively, a blocking
 * wait that closes a cycle of blocking waits across threads, or (with `lockbox/diagnostics`) a cycle
 * or a lock-order inversion between tracked scopes. The message names the locks (and threads) involved.
 */
export class DeadlockError extends LockboxError {}

/**
 * A distributed guard can no longer be sure that it holds its lock (a renewal failed, the connection
 * was lost, or the local deadline passed), so a commit, a write-back or a fenced transaction was
 * refused. `guard.signal` aborts with one of these.
 */
export class LockLostError extends LockboxError {
  /** The name of the lock that was lost. */
  readonly lockName: string;
  /** The fencing token of the grant that was lost. */
  readonly token: bigint;
  constructor(message: string, lockName: string, token: bigint, options?: ErrorOptions) {
    super(message, options);
    this.lockName = lockName;
    this.token = token;
  }
}

/** The store operation during which a {@link BackendError} happened. */
export type BackendOperation = "ready" | "acquire" | "renew" | "commit" | "release" | "leave" | "transaction";

/**
 * A distributed store's driver or connection failed (or an operation exceeded its bound). The
 * driver's error is the `cause`; `operation` says what lockbox was doing.
 */
export class BackendError extends LockboxError {
  /** What the store was doing when the backend failed. */
  readonly operation: BackendOperation;
  constructor(message: string, operation: BackendOperation, options?: ErrorOptions) {
    super(message, options);
    this.operation = operation;
  }
}
