import { BackendError, type BackendOperation, LockLostError, UseAfterReleaseError } from "../errors.js";
import { NOT_SEND_KEY } from "../internal/not-send.js";
// symbols.js also defines Symbol.asyncDispose on runtimes that predate it (used below).
import { GUARD_TOKEN, type GuardToken, illegalConstructor, notThenable } from "../internal/symbols.js";
import type { JsonText, LeaseRef, StoreBackend } from "./backend.js";
import { checkTtl, serialize } from "./validate.js";

const NOT_SEND: unique symbol = Symbol(
  "lockbox: distributed locks and guards cannot be copied; open the lock by name in the other process or thread",
);

/**
 * Makes `structuredClone`/`postMessage` of a distributed lock or guard throw `DataCloneError` instead of
 * silently copying its public fields (the copy would hold nothing). Same key as the in-process marker.
 */
export function markNotCopyable(target: object): void {
  (target as Record<string, unknown>)[NOT_SEND_KEY] = NOT_SEND;
}

/** Monotonic milliseconds (never jumps with the wall clock). */
export const now: () => number = () => performance.now();

/**
 * How much earlier than the server's lease end the local deadline falls: a tenth of the ttl, at most
 * 2 s. The local deadline is measured from the moment the request was SENT, and the server starts the
 * lease when it RUNS the statement (later), so the local deadline is always ahead of the server's; the
 * margin also covers clock-rate drift and the time between a `held` check and the caller's next step.
 */
export function safetyMargin(ttl: number): number {
  return Math.min(ttl / 10, 2_000);
}

/** What a guard needs from its store. @internal */
export interface GuardHost {
  readonly backend: StoreBackend;
  /** Whether held leases renew themselves at about a third of their ttl. */
  readonly renew: boolean;
  /** Runs a backend call bounded by the store's `commandTimeout`, wrapping failures in `BackendError`. */
  bounded<R>(operation: BackendOperation, call: () => Promise<R>): Promise<R>;
  /** The guard is released: stop tracking it. */
  forget(guard: StoreGuard): void;
}

/** Marks an error thrown by the user's own transaction callback, so it passes through unwrapped. */
export class UserFailure {
  constructor(readonly error: unknown) {}
}

/** What an acquire hands its guard. @internal */
export interface GrantInit {
  readonly host: GuardHost;
  readonly lease: LeaseRef;
  /** The stored value as JSON text (`null` for permits). */
  readonly text: JsonText | null;
  /** When (monotonic ms) the request that granted the lease was sent. */
  readonly sentAt: number;
  /** Lease length in ms. */
  readonly ttl: number;
  /** Ms left on the lease when the store says it is shorter than `ttl` (a grant picked up late). */
  readonly leaseMs?: number | undefined;
  /** Permits held (semaphores). */
  readonly permits: number;
}

/**
 * What every distributed guard shares: a lease on a lock in a store, kept alive by renewals
 * at about a third of its ttl, with a local monotonic deadline; `signal` aborts exactly once with a
 * {@link LockLostError} when the guard can no longer be sure it holds the lock; `release()` is one round
 * trip (with the write-back when the value changed); `discard()` releases without writing.
 *
 * Invariant: `#released` is set before any round trip of release/discard, so a second call never sends;
 * `#lose` aborts the controller at most once and clears every timer, so nothing outlives the guard.
 */
export abstract class StoreGuard {
  readonly #host: GuardHost;
  readonly #lease: LeaseRef;
  readonly #controller = new AbortController();
  #ttl: number;
  #deadline: number;
  #deadlineTimer: ReturnType<typeof setTimeout> | undefined;
  #renewTimer: ReturnType<typeof setTimeout> | undefined;
  #released = false;
  #releasing: Promise<void> | undefined;
  /** The value as last loaded or written (JSON text); `null` for guards without a value. */
  #text: JsonText | null;
  /** The parsed local copy (exclusive guards may replace it). */
  #value: unknown;
  readonly #permits: number;

  static {
    notThenable(StoreGuard.prototype);
  }

  /** @internal Guards come from their lock; this constructor throws for anyone else. */
  constructor(token: GuardToken, init: GrantInit) {
    if (token !== GUARD_TOKEN) illegalConstructor(new.target.name);
    markNotCopyable(this);
    this.#host = init.host;
    this.#lease = init.lease;
    this.#text = init.text;
    this.#value = init.text === null ? undefined : JSON.parse(init.text);
    this.#permits = init.permits;
    this.#ttl = init.ttl;
    const length = init.leaseMs === undefined ? init.ttl : Math.min(init.ttl, init.leaseMs);
    this.#deadline = init.sentAt + length - safetyMargin(init.ttl);
    this.#schedule(init.sentAt, length);
  }

  /** The lock's name. */
  get name(): string {
    return this.#lease.name;
  }

  /**
   * The fencing token: exclusive guards get a token strictly larger than every earlier exclusive grant
   * of this name (across processes and restarts of the store); read guards and permits carry the token
   * of the last exclusive grant. Pass it to systems that can refuse a stale holder.
   */
  get token(): bigint {
    return this.#lease.token;
  }

  /**
   * Aborts exactly once, with a {@link LockLostError}, as soon as this guard can no longer be sure that it
   * holds the lock: a renewal failed, the store's connection was lost, or the local deadline passed
   * without a confirmed renewal. It does not abort on `release()`/`discard()`.
   */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /**
   * `true` while the guard is not released, its signal has not aborted and the local monotonic deadline
   * has not passed: a synchronous check (an `AbortSignal` cannot fire while the event loop is still
   * catching up after a pause; this can).
   */
  get held(): boolean {
    return !this.#released && !this.#controller.signal.aborted && now() < this.#deadline;
  }

  /**
   * `held`, and when the deadline has passed without the timer having run yet (the event loop is
   * catching up after a pause), aborts the signal now, so that a refused call and `signal` agree.
   */
  #stillHeld(): boolean {
    if (this.held) return true;
    if (!this.#released && !this.#controller.signal.aborted) this.#lose("its local deadline passed");
    return false;
  }

  /** `true` once `release()` or `discard()` was called (or the store was closed). */
  get released(): boolean {
    return this.#released;
  }

  /** Permits held (1 for locks). */
  protected get permitCount(): number {
    return this.#permits;
  }

  /**
   * Renews the lease now, for `ttl` ms (default: this guard's current ttl), and uses `ttl` for later
   * renewals. One round trip.
   *
   * **Throws** (rejects) `LockLostError` without sending when the lock is already lost (or the guard
   * released), or when the store says it is no longer held; `RangeError`/`TypeError` for a bad `ttl`.
   */
  async extend(ttl?: number): Promise<void> {
    if (ttl !== undefined) checkTtl("ttl", ttl);
    const lease = this.#lease;
    if (!this.#stillHeld()) throw this.#lostError("extend");
    const length = ttl ?? this.#ttl;
    const sentAt = now();
    let ok: boolean;
    try {
      ok = await this.#host.bounded("renew", () => this.#host.backend.extend(lease, length));
    } catch (error) {
      this.#lose("a renewal failed", error);
      throw error;
    }
    if (!ok) {
      this.#lose("the store no longer holds its lease");
      throw this.#lostError("extend");
    }
    if (this.#released || this.#controller.signal.aborted) return;
    this.#ttl = length;
    this.#deadline = sentAt + length - safetyMargin(length);
    this.#schedule(sentAt);
  }

  /**
   * Gives the lock back in one round trip, first writing the value back when it changed (conditioned
   * on the token). Idempotent: later calls return the first call's promise.
   *
   * **Throws** (rejects): `LockLostError` when the lock was lost and there was a change to write
   * (nothing is written: a lost update is never silent); `TypeError` when the value no longer survives
   * `JSON.stringify` — then the guard still holds the lock (fix the value, or `discard()`);
   * `BackendError` when the store failed (the guard counts as released; its lease runs out).
   */
  release(): Promise<void> {
    if (this.#releasing !== undefined) return this.#releasing;
    let text: JsonText | undefined;
    if (this.#lease.exclusive && this.#text !== null) {
      let current: JsonText;
      try {
        current = serialize(`the value of "${this.#lease.name}"`, this.#value);
      } catch (error) {
        return Promise.reject(error); // still held: the caller fixes the value or discards
      }
      if (current !== this.#text) text = current;
    }
    return (this.#releasing = this.#finish(text));
  }

  /** Releases without writing the value back. Idempotent (shares a pending `release()`). */
  discard(): Promise<void> {
    if (this.#releasing !== undefined) return this.#releasing;
    return (this.#releasing = this.#finish(undefined));
  }

  /** `release()`, so that `await using guard = await lock.lock()` releases at the end of the block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }

  /** The local copy of the value, or `UseAfterReleaseError`. */
  protected readValue(): unknown {
    if (this.#released) throw new UseAfterReleaseError(`Cannot read the value of a released guard of "${this.name}"`);
    return this.#value;
  }

  /** Replaces the local copy (written by `commit()` or `release()`). */
  protected writeValue(value: unknown): void {
    if (this.#released) throw new UseAfterReleaseError(`Cannot write the value of a released guard of "${this.name}"`);
    this.#value = value;
  }

  /** Writes the value to the store, keeping the lock. */
  protected async commitValue(): Promise<void> {
    if (!this.#stillHeld()) throw this.#lostError("commit");
    const text = serialize(`the value of "${this.name}"`, this.#value);
    let ok: boolean;
    try {
      ok = await this.#host.bounded("commit", () => this.#host.backend.commit(this.#lease, text));
    } catch (error) {
      this.#lose("a commit failed", error);
      throw error;
    }
    if (!ok) {
      this.#lose("the store no longer holds its lease");
      throw this.#lostError("commit");
    }
    this.#text = text;
  }

  /** The fenced transaction (backends that support it). */
  protected async runTransaction<R>(fn: (client: never) => Promise<R>): Promise<R> {
    const backend = this.#host.backend;
    if (backend.transaction === undefined) {
      throw new TypeError(`guard.transaction() is not supported by this store`);
    }
    if (typeof fn !== "function") throw new TypeError(`Expected \`fn\` to be a function, got ${typeof fn}`);
    if (!this.#stillHeld()) throw this.#lostError("run a transaction");
    let outcome: { held: true; result: R } | { held: false };
    try {
      outcome = await backend.transaction(this.#lease, async (client) => {
        try {
          return await fn(client as never);
        } catch (error) {
          throw new UserFailure(error);
        }
      });
    } catch (error) {
      if (error instanceof UserFailure) throw error.error;
      const failure =
        error instanceof BackendError
          ? error
          : new BackendError(`transaction failed: ${(error as Error)?.message}`, "transaction", { cause: error });
      this.#lose("a transaction failed", failure);
      throw failure;
    }
    if (!outcome.held) {
      this.#lose("the store no longer holds its lease");
      throw this.#lostError("run a transaction");
    }
    return outcome.result;
  }

  /** Called by the store: the wake-up connection dropped, or the store is closing. @internal */
  lose(why: string, cause?: unknown): void {
    this.#lose(why, cause);
  }

  async #finish(text: JsonText | undefined): Promise<void> {
    const wasHeld = this.#stillHeld();
    this.#released = true;
    this.#clearTimers();
    this.#host.forget(this);
    const host = this.#host;
    const lease = this.#lease;
    if (!wasHeld) {
      // Lost (or past the deadline): write nothing. The lease may still be ours in the store (a
      // renewal that failed in transit); deleting it, conditioned on the lease, frees the lock sooner.
      host.bounded("release", () => host.backend.release(lease, undefined)).catch(() => {});
      if (text !== undefined) throw this.#lostError("write back");
      return;
    }
    const ok = await host.bounded("release", () => host.backend.release(lease, text));
    if (!ok && text !== undefined) {
      this.#lose("the store no longer held its lease");
      throw this.#lostError("write back");
    }
  }

  #lostError(action: string): LockLostError {
    const reason = this.#controller.signal.reason;
    if (reason instanceof LockLostError && action === "") return reason;
    const why = this.#released
      ? "the guard was released"
      : this.#controller.signal.aborted
        ? (reason as Error).message
        : "its local deadline passed";
    return new LockLostError(
      `Cannot ${action} "${this.#lease.name}" (token ${this.#lease.token}): ${why}`,
      this.#lease.name,
      this.#lease.token,
      reason instanceof Error ? { cause: reason } : undefined,
    );
  }

  #lose(why: string, cause?: unknown): void {
    this.#clearTimers();
    if (this.#controller.signal.aborted || this.#released) return;
    const lease = this.#lease;
    this.#controller.abort(
      new LockLostError(
        `Lost the lock "${lease.name}" (token ${lease.token}): ${why}`,
        lease.name,
        lease.token,
        cause === undefined ? undefined : { cause },
      ),
    );
  }

  #clearTimers(): void {
    if (this.#renewTimer !== undefined) clearTimeout(this.#renewTimer);
    if (this.#deadlineTimer !== undefined) clearTimeout(this.#deadlineTimer);
    this.#renewTimer = this.#deadlineTimer = undefined;
  }

  /**
   * (Re)arms the deadline and the next renewal, a third of the lease `length` after `from` (when the
   * lease was last confirmed: the acquire or renewal was sent).
   */
  #schedule(from: number, length = this.#ttl): void {
    this.#clearTimers();
    const t = now();
    this.#deadlineTimer = setTimeout(() => this.#lose("its local deadline passed"), Math.max(0, this.#deadline - t));
    unref(this.#deadlineTimer);
    if (this.#host.renew) {
      this.#renewTimer = setTimeout(() => this.#renew(), Math.max(0, from + length / 3 - t));
      unref(this.#renewTimer);
    }
  }

  #renew(): void {
    this.#renewTimer = undefined;
    if (this.#released || this.#controller.signal.aborted) return;
    // After a pause (SIGSTOP, a long GC, a blocked event loop) the deadline may have passed before this
    // timer ran: then the lock is lost whatever the store would say.
    if (now() >= this.#deadline) {
      this.#lose("its local deadline passed");
      return;
    }
    const sentAt = now();
    const ttl = this.#ttl;
    this.#host
      .bounded("renew", () => this.#host.backend.extend(this.#lease, ttl))
      .then(
        (ok) => {
          if (this.#released || this.#controller.signal.aborted) return;
          if (!ok) return this.#lose("the store no longer holds its lease");
          this.#deadline = sentAt + ttl - safetyMargin(ttl);
          this.#schedule(sentAt);
        },
        (error) => this.#lose("a renewal failed", error),
      );
  }
}

function unref(timer: ReturnType<typeof setTimeout>): void {
  (timer as { unref?: () => void }).unref?.();
}
