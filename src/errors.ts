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

/**
 * Brands that make `instanceof` work across copies of lockbox in one program: the CommonJS and the ES
 * module builds are two copies of every class (an application that `require`s lockbox in one place
 * and `import`s it in another gets both), and so are two installed versions. Registered symbols
 * (`Symbol.for`) are the same in every copy, so each error carries the kinds of its class chain under
 * {@link KINDS}, and each lockbox error class answers `instanceof` for any error that carries its kind.
 */
const KINDS: unique symbol = Symbol.for("lockbox.error.kinds");
/**
 * @internal The static that names a lockbox error class's kind, read by the constructor. A string key:
 * a class with a computed (symbol) static key counts as a side effect for bundlers, which would then
 * keep every error class in every bundle.
 */
const KIND = "lockbox.kind";

/**
 * Base class of every lockbox error.
 *
 * `instanceof` works across the CommonJS and ES module copies of lockbox (and across versions): an
 * error thrown by the copy that `require` loaded is an `instanceof` the class that `import` loaded.
 *
 * @example
 * ```ts
 * try {
 *   await mutex.lock({ timeout: 100 });
 * } catch (error) {
 *   if (error instanceof TimeoutError) console.log("busy"); // TimeoutError extends LockboxError
 *   else throw error;
 * }
 * ```
 */
export class LockboxError extends Error {
  /** @internal The kind that marks instances of this class in every copy of lockbox. */
  static readonly "lockbox.kind": string = "LockboxError";

  /**
   * `value instanceof ThisClass`: the prototype chain as usual, or else (an error from another copy of
   * lockbox) the kind brand. A subclass declared outside lockbox has no kind of its own, so for it only
   * the prototype chain counts.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    // biome-ignore lint/complexity/noThisInStatic: `this` is the class on the right of `instanceof` (maybe a subclass).
    const tested = this as unknown as { [KIND]?: string };
    if (Function.prototype[Symbol.hasInstance].call(tested, value)) return true;
    if (typeof value !== "object" || value === null || !Object.hasOwn(tested, KIND)) return false;
    const kinds = (value as { [KINDS]?: unknown })[KINDS];
    return Array.isArray(kinds) && kinds.includes(tested[KIND]);
  }

  constructor(message?: string, options?: ErrorOptions) {
    super(message, options);
    // The kind, not the class's `name`: a minifier may rename the class (`class t extends …`), and the
    // kind is a string literal it keeps. A subclass declared outside lockbox has no kind of its own.
    this.name = Object.hasOwn(new.target, KIND) ? (new.target as unknown as { [KIND]: string })[KIND] : new.target.name;
    const kinds: string[] = [];
    for (let c: unknown = new.target; typeof c === "function" && c !== Error; c = Object.getPrototypeOf(c)) {
      if (Object.hasOwn(c, KIND)) kinds.push((c as unknown as { [KIND]: string })[KIND]);
    }
    Object.defineProperty(this, KINDS, { value: kinds });
  }
}

/**
 * A guard, permit or borrow was used after it was released (or an `Arc` handle after it was dropped).
 *
 * In Rust the borrow checker rejects this at compile time; in TypeScript the guard object outlives
 * the lock it held, so the check happens at run time.
 */
export class UseAfterReleaseError extends LockboxError {
  /** @internal */
  static override readonly "lockbox.kind": string = "UseAfterReleaseError";
}

/** An acquire did not succeed within its `timeout` (milliseconds). */
export class TimeoutError extends LockboxError {
  /** @internal */
  static override readonly "lockbox.kind": string = "TimeoutError";
}

/**
 * The lock is poisoned: a holder failed while it held the lock exclusively, so the protected value
 * may be half-updated. Acquire with `{ ignorePoison: true }` to look anyway, or call `clearPoison()`.
 *
 * The rejected call does not hold the lock: no guard is hidden inside this error.
 */
export class PoisonError extends LockboxError {
  /** @internal */
  static override readonly "lockbox.kind": string = "PoisonError";
}

/** The primitive was closed (`Semaphore.close()`), so the acquire can never succeed. */
export class ClosedError extends LockboxError {
  /** @internal */
  static override readonly "lockbox.kind": string = "ClosedError";
}

/** `RefCell.borrow()` while a mutable borrow (`RefMut`) is live. */
export class BorrowError extends LockboxError {
  /** @internal */
  static override readonly "lockbox.kind": string = "BorrowError";
}

/** `RefCell.borrowMut()` while any borrow (`Ref` or `RefMut`) is live. */
export class BorrowMutError extends LockboxError {
  /** @internal */
  static override readonly "lockbox.kind": string = "BorrowMutError";
}

/** A blocking (`*Sync`) wait was called where the runtime forbids blocking, such as a browser main thread. */
export class WouldBlockError extends LockboxError {
  /** @internal */
  static override readonly "lockbox.kind": string = "WouldBlockError";
}

/**
 * Waiting would never end: a thread's blocking re-acquire of a lock it holds exclusively, a blocking
 * wait that closes a cycle of blocking waits across threads, or (with `lockbox/diagnostics`) a cycle
 * or a lock-order inversion between tracked scopes. The message names the locks (and threads) involved.
 */
export class DeadlockError extends LockboxError {
  /** @internal */
  static override readonly "lockbox.kind": string = "DeadlockError";
}

/**
 * A distributed guard can no longer be sure that it holds its lock (a renewal failed, the connection
 * was lost, or the local deadline passed), so a commit, a write-back or a fenced transaction was
 * refused. `guard.signal` aborts with one of these.
 */
export class LockLostError extends LockboxError {
  /** @internal */
  static override readonly "lockbox.kind": string = "LockLostError";
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
  /** @internal */
  static override readonly "lockbox.kind": string = "BackendError";
  /** What the store was doing when the backend failed. */
  readonly operation: BackendOperation;
  constructor(message: string, operation: BackendOperation, options?: ErrorOptions) {
    super(message, options);
    this.operation = operation;
  }
}
