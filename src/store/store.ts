import { BackendError, type BackendOperation, ClosedError, TimeoutError } from "../errors.js";
import { type HoldMode, type Observable, observer } from "../internal/observer.js";
import { GUARD_TOKEN } from "../internal/symbols.js";
import { clearLongTimeout, type LongTimer, setLongTimeout } from "../internal/timer.js";
import { checkInteger, checkOptionalBoolean, checkOptionsObject, describe } from "../internal/validate.js";
import type { AcquireRequest, AcquireResult, LockKind, StoreBackend, TryAcquireResult } from "./backend.js";
import { type GrantInit, type GuardHost, now, type StoreGuard } from "./guard.js";
import { DistributedMutex, DistributedRwLock, DistributedSemaphore } from "./primitives.js";
import { checkName, checkStoreOptions, checkTtl, type StoreAcquireOptions, serialize } from "./validate.js";

/** Options shared by every store. */
export interface StoreOptions {
  /** Lease length in ms (default 30 000): of every grant, and of every waiter's queue entry. */
  ttl?: number | undefined;
  /** Renew held leases at about a third of their ttl (default `true`). */
  renew?: boolean | undefined;
  /** Who this process is, stored with its entries for operators (default: a random id). */
  clientId?: string | undefined;
  /** Bound of every store operation in ms (default: the ttl); then it rejects with `BackendError`. */
  commandTimeout?: number | undefined;
}

/** Extra sleep after the time the store said the blocking lease ends, for the server's own timing. */
const EXPIRY_MARGIN_MS = 10;

/** A pending acquire: its wake-ups, its cancellation (abort, timeout, close) and its sleep. */
class Waiter {
  woken = false;
  cancelled = false;
  reason: unknown;
  #resolve: (() => void) | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timeout: LongTimer | undefined;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort: (() => void) | undefined;

  /** @param name - the lock's name, for the `TimeoutError`. */
  constructor(options: StoreAcquireOptions | undefined, name: string) {
    const signal = options?.signal;
    if (signal !== undefined) {
      this.#signal = signal;
      this.#onAbort = () => this.cancel(signal.reason);
      signal.addEventListener("abort", this.#onAbort, { once: true });
    }
    const timeout = options?.timeout;
    if (timeout !== undefined) {
      this.#timeout = setLongTimeout(
        () => this.cancel(new TimeoutError(`Timed out after ${timeout} ms waiting for ${name}`)),
        timeout,
      );
    }
  }

  wake(): void {
    this.woken = true;
    this.#resolve?.();
  }

  cancel(reason: unknown): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.reason = reason;
    this.#resolve?.();
  }

  /** Sleeps until a wake-up, a cancellation or `ms`; a wake-up that came meanwhile returns at once. */
  async sleep(ms: number): Promise<void> {
    if (!this.woken && !this.cancelled) {
      await new Promise<void>((resolve) => {
        this.#resolve = resolve;
        this.#timer = setTimeout(resolve, ms);
      });
      clearTimeout(this.#timer);
      this.#resolve = this.#timer = undefined;
    }
    this.woken = false;
  }

  dispose(): void {
    if (this.#timeout !== undefined) clearLongTimeout(this.#timeout);
    if (this.#onAbort !== undefined) this.#signal?.removeEventListener("abort", this.#onAbort);
  }
}

/** What a lock object needs from its store. @internal */
export interface LockHost {
  acquire<G extends StoreGuard>(
    request: AcquireRequest,
    options: StoreAcquireOptions | undefined,
    wait: boolean,
    make: (init: GrantInit) => G,
    target: Observable,
  ): Promise<G | undefined>;
  readonly ttl: number;
  readonly clientId: string;
}

/**
 * The backend-neutral distributed store (`PostgresStore`, `RedisStore` extend it): opens distributed
 * `Mutex`, `RwLock` and `Semaphore` objects by name, runs their acquires (one round trip uncontended;
 * otherwise a FIFO queue kept in the store, woken by the backend's wake-ups and, failing those, by the
 * blocking lease's expiry), tracks the held guards and closes everything.
 *
 * @typeParam Tx - the client a fenced `guard.transaction(fn)` hands to `fn` (`never`: not supported).
 */
export class Store<Tx = never> {
  /** Lease length in ms of grants and queue entries. */
  readonly ttl: number;
  /** Whether held leases renew themselves. */
  readonly renew: boolean;
  /** This process's id in the store. */
  readonly clientId: string;
  /** Bound of every store operation in ms. */
  readonly commandTimeout: number;
  readonly #backend: StoreBackend;
  readonly #kinds = new Map<string, LockKind>();
  readonly #waiters = new Map<string, Set<Waiter>>();
  /** Held guards, each with the lock it holds (for the diagnostics observer's `released`). */
  readonly #guards = new Map<StoreGuard, Observable>();
  /**
   * Pending acquires, by a key of their own: each removes itself in its own `finally`, so its promise has
   * no reaction but the caller's `await` (V8's async stack traces then reach the caller's frames, which
   * diagnostics reports show).
   */
  readonly #inflight = new Map<{ done: boolean }, Promise<unknown>>();
  readonly #host: GuardHost & LockHost;
  #ready: Promise<void> | undefined;
  #isReady = false;
  #closed: Promise<void> | undefined;

  /** @internal Subclasses pass their backend. */
  constructor(backend: StoreBackend, options: StoreOptions | undefined) {
    checkOptionsObject("options", options);
    const ttl = options?.ttl === undefined ? 30_000 : checkTtl("ttl", options.ttl);
    checkOptionalBoolean("renew", options?.renew);
    const clientId = options?.clientId;
    if (clientId !== undefined && (typeof clientId !== "string" || clientId.length === 0 || clientId.length > 200)) {
      const message = `Expected \`clientId\` to be a non-empty string of at most 200 characters, got ${describe(clientId)}`;
      throw typeof clientId === "string" ? new RangeError(message) : new TypeError(message);
    }
    this.ttl = ttl;
    this.renew = options?.renew ?? true;
    this.clientId = clientId ?? `${globalThis.process?.pid ?? "js"}-${globalThis.crypto.randomUUID().slice(0, 8)}`;
    this.commandTimeout =
      options?.commandTimeout === undefined
        ? ttl
        : checkInteger("commandTimeout", options.commandTimeout, 1, 2 ** 31 - 1);
    this.#backend = backend;
    this.#host = {
      backend,
      renew: this.renew,
      ttl,
      clientId: this.clientId,
      bounded: (operation, call) => this.#bounded(operation, call),
      forget: (guard) => {
        const target = this.#guards.get(guard);
        this.#guards.delete(guard);
        if (observer !== undefined && target !== undefined) observer.released(target, guard);
      },
      acquire: (request, opts, wait, make, target) => this.#acquire(request, opts, wait, make, target),
    };
    backend.subscribe({
      onWake: (name) => {
        const waiters = this.#waiters.get(name);
        if (waiters !== undefined) for (const waiter of waiters) waiter.wake();
      },
      onDown: (error) => {
        for (const guard of [...this.#guards.keys()]) guard.lose("the store's connection was lost", error);
        // Waiters may have missed a wake-up: let them ask again (they fall back to lease expiry).
        for (const waiters of this.#waiters.values()) for (const waiter of waiters) waiter.wake();
      },
    });
  }

  /**
   * Creates what the store needs when it is missing (idempotent; safe when many processes call it at
   * once) and starts listening for wake-ups. Acquires call it themselves the first time.
   *
   * **Throws** (rejects) `BackendError` (`operation: "ready"`), `ClosedError` after `close()`.
   */
  ready(): Promise<void> {
    if (this.#closed !== undefined) return Promise.reject(new ClosedError("The store is closed"));
    if (this.#ready === undefined) {
      this.#ready = this.#bounded("ready", () => this.#backend.ready()).then(
        () => {
          this.#isReady = true;
        },
        (error) => {
          this.#ready = undefined; // let a later call try again
          throw error;
        },
      );
    }
    return this.#ready;
  }

  /**
   * Opens the distributed mutex `name`, whose value starts as `initial` (stored by the first acquire of
   * the name in any process; later `initial`s are ignored). No round trip.
   *
   * **Throws** `TypeError` for a non-string name, an `initial` that does not survive `JSON.stringify`,
   * or a name this store opened as another kind; `RangeError` for an empty name or one over 200 bytes.
   */
  mutex<T>(name: string, options: { initial: T }): DistributedMutex<T, Tx> {
    checkName(name);
    checkOptionsObject("options", options);
    const initial = serialize("`initial`", options?.initial);
    this.#claim(name, "mutex");
    return new DistributedMutex<T, Tx>(GUARD_TOKEN, this.#host, name, initial);
  }

  /** Opens the distributed RwLock `name` (arguments and errors as for `mutex`). */
  rwLock<T>(name: string, options: { initial: T }): DistributedRwLock<T, Tx> {
    checkName(name);
    checkOptionsObject("options", options);
    const initial = serialize("`initial`", options?.initial);
    this.#claim(name, "rwlock");
    return new DistributedRwLock<T, Tx>(GUARD_TOKEN, this.#host, name, initial);
  }

  /**
   * Opens the distributed semaphore `name` with `permits` permits (stored by the first acquire of the
   * name in any process; the first count wins).
   *
   * **Throws** `TypeError`/`RangeError` for a bad name, or `permits` not an integer from 1 to 2147483647.
   */
  semaphore(name: string, permits: number): DistributedSemaphore {
    checkName(name);
    checkInteger("permits", permits, 1, 2 ** 31 - 1);
    this.#claim(name, "semaphore");
    return new DistributedSemaphore(GUARD_TOKEN, this.#host, name, permits);
  }

  /**
   * Closes the store. Idempotent. Pending and later acquires reject with `ClosedError` (pending ones once
   * they have left the queue); held guards are released without writing (as `discard()`); renewals and
   * listeners stop; the connections the store opened itself are returned. The caller's own pool, client
   * or listen client is never ended.
   */
  close(): Promise<void> {
    if (this.#closed !== undefined) return this.#closed;
    for (const [name, waiters] of this.#waiters) {
      const closed = new ClosedError(`The store was closed while waiting for ${name}`);
      for (const waiter of waiters) waiter.cancel(closed);
    }
    return (this.#closed = (async () => {
      await Promise.allSettled([...this.#inflight.values()]);
      await Promise.allSettled([...this.#guards.keys()].map((guard) => guard.discard()));
      await this.#backend.close();
    })());
  }

  /** One namespace per store: a name keeps the kind it was first opened as. */
  #claim(name: string, kind: LockKind): void {
    const known = this.#kinds.get(name);
    if (known !== undefined && known !== kind) {
      throw new TypeError(`Expected "${name}" to be opened as a ${known}, as it was first, got a ${kind}`);
    }
    this.#kinds.set(name, kind);
  }

  /**
   * Runs `call` bounded by `commandTimeout`. When the bound fires first, a later success of the call
   * is handed to `late` (an acquire that was granted after its caller gave up must be given back).
   */
  #bounded<R>(operation: BackendOperation, call: () => Promise<R>, late?: (value: R) => void): Promise<R> {
    const ms = this.commandTimeout;
    let timedOut = false;
    return new Promise<R>((resolve, reject) => {
      const timer = setTimeout(() => {
        timedOut = true;
        reject(new BackendError(`The store's ${operation} took longer than ${ms} ms`, operation));
      }, ms);
      let pending: Promise<R>;
      try {
        pending = call();
      } catch (error) {
        pending = Promise.reject(error);
      }
      pending.then(
        (value) => {
          clearTimeout(timer);
          if (timedOut) late?.(value);
          else resolve(value);
        },
        (error) => {
          clearTimeout(timer);
          reject(
            error instanceof BackendError
              ? error
              : new BackendError(`The store's ${operation} failed: ${(error as Error)?.message ?? error}`, operation, {
                  cause: error,
                }),
          );
        },
      );
    });
  }

  #acquire<G extends StoreGuard>(
    request: AcquireRequest,
    options: StoreAcquireOptions | undefined,
    wait: boolean,
    make: (init: GrantInit) => G,
    target: Observable,
  ): Promise<G | undefined> {
    try {
      checkStoreOptions(options);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#closed !== undefined) return Promise.reject(closedError(request.name));
    if (options?.signal?.aborted) return Promise.reject(options.signal.reason);
    if (!wait && observer !== undefined) observer.sync(target, tryOpOf(request));
    const key = { done: false };
    const pending = this.#acquireSlow(request, options, wait, make, target, key);
    if (!key.done) this.#inflight.set(key, pending);
    return pending;
  }

  async #acquireSlow<G extends StoreGuard>(
    request: AcquireRequest,
    options: StoreAcquireOptions | undefined,
    wait: boolean,
    make: (init: GrantInit) => G,
    target: Observable,
    key: { done: boolean },
  ): Promise<G | undefined> {
    const name = request.name;
    const ttl = request.ttl;
    // Registered before the first round trip: a wake-up that arrives while a call is in flight must not
    // be lost (it makes the next sleep return at once).
    const waiter = new Waiter(options, name);
    let waiters = this.#waiters.get(name);
    if (waiters === undefined) this.#waiters.set(name, (waiters = new Set()));
    waiters.add(waiter);
    if (this.#closed !== undefined) waiter.cancel(closedError(name));
    let id: bigint | undefined;
    /** This wait as the diagnostics observer knows it (set once the store queued it, if one is installed). */
    let ticket: object | undefined;
    try {
      if (!this.#isReady) await this.ready();
      for (;;) {
        if (waiter.cancelled) throw waiter.reason;
        const sentAt = now();
        const result: AcquireResult | TryAcquireResult = await this.#bounded(
          "acquire",
          (): Promise<AcquireResult | TryAcquireResult> =>
            wait ? this.#backend.acquire(request, id) : this.#backend.tryAcquire(request),
          (late) => {
            // The caller already rejected: give back what the store granted or queued meanwhile.
            if (late.status === "granted" || late.status === "queued") {
              this.#bounded("leave", () => this.#backend.leave(name, late.id)).catch(() => {});
            }
          },
        );
        if (result.status === "mismatch") {
          if (result.kind !== request.kind) {
            throw new TypeError(
              `Expected "${name}" to be opened as a ${result.kind}, as it was first, got a ${request.kind}`,
            );
          }
          throw new RangeError(
            `Expected \`permits\` to be an integer from 1 to ${result.capacity} (the stored permits of "${name}"), got ${request.permits}`,
          );
        }
        if (result.status === "busy") return undefined;
        id = result.id;
        if (waiter.cancelled) throw waiter.reason; // a grant that raced with the abort is left below
        if (result.status === "granted") {
          id = undefined;
          const guard = make({
            host: this.#host,
            lease: { name, id: result.id, token: result.token, exclusive: request.exclusive },
            text: result.value,
            sentAt,
            ttl,
            leaseMs: result.leaseMs,
            permits: request.permits,
          });
          this.#guards.set(guard, target);
          if (observer !== undefined) {
            if (ticket !== undefined) observer.waitEnded(ticket, undefined);
            observer.acquired(target, guard, modeOf(request));
          }
          return guard;
        }
        if (ticket === undefined && observer !== undefined) {
          // Queued for the first time: the wait begins (the observer sees this process's waiters of
          // the name as the queue). A refusal makes it leave the queue, as an abort does.
          ticket = {};
          const refusal = observer.waiting(target, modeOf(request), waiters.size, undefined, ticket);
          if (refusal !== undefined) {
            waiter.cancel(refusal);
            throw refusal;
          }
        }
        // Queued: sleep until a wake-up, the blocking lease's end, or the time to refresh our entry.
        await waiter.sleep(Math.min(result.waitMs + EXPIRY_MARGIN_MS, this.ttl / 3));
      }
    } catch (error) {
      if (ticket !== undefined && observer !== undefined) observer.waitEnded(ticket, error);
      if (id !== undefined) {
        const entry = id;
        const leave = this.#bounded("leave", () => this.#backend.leave(name, entry));
        if (waiter.cancelled && !(error instanceof BackendError)) {
          // Cancel safety: reject once the entry has left the queue (or the grant was given back).
          await leave;
        } else {
          leave.catch(() => {});
        }
      }
      throw error;
    } finally {
      key.done = true;
      this.#inflight.delete(key);
      waiter.dispose();
      waiters.delete(waiter);
      if (waiters.size === 0 && this.#waiters.get(name) === waiters) this.#waiters.delete(name);
    }
  }
}

function closedError(name: string): ClosedError {
  return new ClosedError(`The store is closed: cannot acquire ${name}`);
}

/** What kind of hold a request asks for, as the diagnostics observer names it. */
function modeOf(request: AcquireRequest): HoldMode {
  return request.kind === "semaphore" ? "permits" : request.exclusive ? "exclusive" : "shared";
}

/** The public method a try-acquire of `request` came from. */
function tryOpOf(request: AcquireRequest): string {
  return request.kind === "semaphore"
    ? "tryAcquire"
    : request.kind === "mutex"
      ? "tryLock"
      : request.exclusive
        ? "tryWrite"
        : "tryRead";
}
