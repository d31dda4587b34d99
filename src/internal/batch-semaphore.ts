/**
 * The one fair core under `Mutex`, `RwLock`, `Semaphore`, `OnceCell`, `Condvar` and `KeyedMutex`
 * (tokio's `batch_semaphore`, in TypeScript).
 *
 * State: a pool of free permits and a FIFO queue of waiters. Invariants:
 *
 * 1. **No barging.** While any waiter is queued, `tryAcquire` fails, whatever the pool holds. A new
 *    acquire always goes to the tail, so a release hands ownership straight to the head.
 * 2. **Partial grants.** Released permits go to the head waiter first, even if they do not cover its
 *    whole request; it keeps them (`acquired`) while it waits for the rest. Only the head ever holds a
 *    partial grant, so a large request at the head blocks later small ones (no starvation of large
 *    requests), and a writer at the head of an RwLock collects permits as readers leave.
 * 3. **Cancellation hands back.** A waiter that leaves (abort, timeout, close) returns its partial grant
 *    to the pool and the queue is drained again, so the next waiter gets what it could not.
 * 4. **O(1) everything.** The queue is an intrusive doubly linked list: the waiter *is* the node, so
 *    enqueue, grant and removal on abort are constant-time; draining n waiters costs O(n).
 *
 * The semaphore knows nothing about guards. Each waiter carries a small integer `tag` chosen by the
 * owner; on grant the owner's `onGrant(tag, permits)` builds the value the acquire promise resolves
 * with (a guard). If `onGrant` throws (a poisoned lock), the permits go back to the pool and the
 * acquire rejects with what it threw.
 *
 * @internal
 */

import { TimeoutError } from "../errors.js";
import type { AcquireOptions } from "../types.js";
import { type HoldMode, type Observable, observer } from "./observer.js";
import { clearLongTimeout, type LongTimer, setLongTimeout } from "./timer.js";
import { describe } from "./validate.js";

/** Builds the value an acquire resolves with, once its permits are granted. */
export type OnGrant = (tag: number, permits: number) => unknown;

/**
 * Timer and abort listener of a waiter that asked for them, and whether an observer saw it queue;
 * absent for plain acquires.
 */
interface CancelHooks {
  timer: LongTimer | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  observed: boolean;
}

/**
 * A queued acquire and its own list node.
 *
 * Memory matters here (100,000 queued waiters must stay under 250 bytes each, promise included), so a
 * waiter keeps only the promise's `resolve` function. Rejection goes through `resolve` too, with a
 * rejected promise: the reject function is never retained.
 */
class Waiter {
  prev: Waiter | undefined = undefined;
  next: Waiter | undefined = undefined;
  /** Resolves the acquire promise; `undefined` once settled (granted, cancelled or closed). */
  settle: ((value: unknown) => void) | undefined;
  hooks: CancelHooks | undefined = undefined;
  /** Permits still missing. */
  remaining: number;
  /** Permits already handed to this waiter by a partial grant (only ever non-zero at the head). */
  acquired = 0;
  readonly tag: number;

  constructor(permits: number, tag: number, settle: (value: unknown) => void) {
    this.remaining = permits;
    this.tag = tag;
    this.settle = settle;
  }
}

// One shared executor: capturing `resolve` through a module variable avoids allocating an executor
// closure for every waiter.
let captured: ((value: unknown) => void) | undefined;
const capture = (resolve: (value: unknown) => void): void => {
  captured = resolve;
};

/** A FIFO counting semaphore with batch acquires, partial grants, cancellation and close. */
export class BatchSemaphore {
  #permits: number;
  #head: Waiter | undefined = undefined;
  #tail: Waiter | undefined = undefined;
  #length = 0;
  #closed = false;
  readonly #onGrant: OnGrant;
  /**
   * Who owns this semaphore, for messages and the observer (`observer.ts`): the primitive, the key
   * (`KeyedMutex`) and what kind of hold a waiter with a given tag asks for. Absent for private
   * semaphores nobody observes.
   */
  owner: Observable | undefined = undefined;
  key: unknown = undefined;
  modeOf: ((tag: number) => HoldMode) | undefined = undefined;
  /** Builds the error a timed-out waiter rejects with (default: `TimeoutError` naming {@link what}). */
  timeoutError: ((timeout: number) => Error) | undefined = undefined;
  /**
   * Called after a waiter has left the queue by cancellation (abort, timeout, observer refusal), not
   * by a grant or `close` (lockbox/threads: the head of a thread's queue stops competing for the shared
   * word when the queue empties).
   */
  onCancel: (() => void) | undefined = undefined;

  constructor(permits: number, onGrant: OnGrant) {
    this.#permits = permits;
    this.#onGrant = onGrant;
  }

  /** The owner's name (and key) for messages. */
  get what(): string {
    const owner = this.owner;
    if (owner === undefined) return "the lock";
    return this.key === undefined ? owner.name : `${owner.name}[${describe(this.key)}]`;
  }

  /** Free permits in the pool (a partial grant held by the head waiter is not free). */
  get available(): number {
    return this.#permits;
  }

  /** Number of queued waiters. */
  get waiters(): number {
    return this.#length;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Permits the head waiter still misses (0 with nobody queued). */
  get headRemaining(): number {
    return this.#head === undefined ? 0 : this.#head.remaining;
  }

  /**
   * Takes `n` permits now if nobody is queued and the pool has them. Never waits, never allocates.
   * Fails when closed.
   */
  tryAcquire(n: number): boolean {
    if (this.#head === undefined && this.#permits >= n && !this.#closed) {
      this.#permits -= n;
      return true;
    }
    return false;
  }

  /**
   * Queues an acquire of `n` permits at the tail. The caller has validated `options`, checked that the
   * signal is not aborted and that the semaphore is open, and tried the fast path (`tryAcquire`).
   */
  acquire(n: number, tag: number, options?: AcquireOptions): Promise<unknown> {
    const promise = new Promise(capture);
    const waiter = new Waiter(n, tag, captured as (value: unknown) => void);
    captured = undefined;
    const tail = this.#tail;
    if (tail === undefined) {
      this.#head = waiter;
    } else {
      tail.next = waiter;
      waiter.prev = tail;
    }
    this.#tail = waiter;
    this.#length++;
    if (options !== undefined) this.#hook(waiter, options);
    if (observer !== undefined && this.#observeWait(waiter, tag)) return promise;
    // A new head may take a partial grant from what is free now.
    if (this.#head === waiter && this.#permits > 0) this.#drain();
    return promise;
  }

  /**
   * Takes `n` permits ahead of every queued waiter (an upgradable read upgrading: it already holds part
   * of the lock, so queueing behind a writer that waits for that part would deadlock). A partial grant
   * held by the current head is reclaimed first; it is not yet anybody's lock.
   */
  tryAcquireFront(n: number): boolean {
    if (this.#closed) return false;
    const head = this.#head;
    const reclaimable = head === undefined ? 0 : head.acquired;
    if (this.#permits + reclaimable < n) return false;
    if (head !== undefined && reclaimable > 0) this.#reclaim(head);
    this.#permits -= n;
    if (this.#permits > 0) this.#drain();
    return true;
  }

  /**
   * Queues an acquire of `n` permits at the head (see {@link tryAcquireFront}). `ticket` receives the
   * waiter itself, the handle {@link cancel} and {@link isQueued} take: a waiter is cancelled by
   * identity, never by its place in the queue (another waiter may be at the head by then).
   */
  acquireFront(n: number, tag: number, options?: AcquireOptions, ticket?: { waiter?: object }): Promise<unknown> {
    const head = this.#head;
    if (head !== undefined && head.acquired > 0) this.#reclaim(head);
    const promise = new Promise(capture);
    const waiter = new Waiter(n, tag, captured as (value: unknown) => void);
    captured = undefined;
    if (head === undefined) {
      this.#tail = waiter;
    } else {
      head.prev = waiter;
      waiter.next = head;
    }
    this.#head = waiter;
    this.#length++;
    if (ticket !== undefined) ticket.waiter = waiter;
    if (options !== undefined) this.#hook(waiter, options);
    if (observer !== undefined && this.#observeWait(waiter, tag)) return promise;
    if (this.#permits > 0) this.#drain();
    return promise;
  }

  /**
   * `true` while the waiter `ticket` (from {@link acquireFront}) is still queued here: not yet granted,
   * cancelled, timed out, aborted or closed.
   */
  isQueued(ticket: object): boolean {
    return ticket instanceof Waiter && ticket.settle !== undefined;
  }

  /**
   * Cancels the waiter `ticket` (from {@link acquireFront} on this semaphore) with `reason`, if it is
   * still queued; otherwise does nothing (it was granted or has already left, and whoever is queued
   * now is somebody else's waiter). An upgrade whose guard is released while it waits uses this.
   */
  cancel(ticket: object, reason: unknown): void {
    if (ticket instanceof Waiter) this.#cancel(ticket, reason);
  }

  /** Returns `n` permits to the pool and grants queued waiters in order. */
  release(n: number): void {
    this.#permits += n;
    if (this.#head !== undefined) this.#drain();
  }

  /** Takes `n` permits out of circulation without waiting (`Semaphore.forget`, downgrade bookkeeping). */
  forget(n: number): void {
    this.#permits -= n;
  }

  /**
   * Closes the semaphore: every queued waiter rejects with `makeError()`, and `tryAcquire` fails from
   * now on. Partial grants go back to the pool. Idempotent.
   */
  close(makeError: () => Error): void {
    if (this.#closed) return;
    this.#closed = true;
    let waiter = this.#head;
    this.#head = this.#tail = undefined;
    this.#length = 0;
    while (waiter !== undefined) {
      const next = waiter.next;
      waiter.prev = waiter.next = undefined;
      this.#permits += waiter.acquired;
      waiter.acquired = 0;
      this.#fail(waiter, makeError());
      waiter = next;
    }
  }

  /** Grants the head while the pool covers it; gives a partial grant to a head it cannot cover. */
  #drain(): void {
    let waiter = this.#head;
    while (waiter !== undefined && this.#permits > 0) {
      const take = Math.min(waiter.remaining, this.#permits);
      this.#permits -= take;
      waiter.remaining -= take;
      waiter.acquired += take;
      if (waiter.remaining > 0) return; // FIFO: nobody passes an incomplete head.
      // Unlink before building the guard: `onGrant` may fail, and then its permits re-enter the pool
      // and flow to the next waiter in this same loop.
      const next = waiter.next;
      this.#head = next;
      if (next === undefined) this.#tail = undefined;
      else next.prev = undefined;
      waiter.next = undefined;
      this.#length--;
      this.#grant(waiter);
      waiter = next;
    }
  }

  #grant(waiter: Waiter): void {
    const settle = waiter.settle as (value: unknown) => void;
    waiter.settle = undefined;
    const hooks = waiter.hooks;
    if (hooks !== undefined) {
      unhook(hooks);
      if (hooks.observed) observer?.waitEnded(waiter, undefined);
    }
    const permits = waiter.acquired;
    let value: unknown;
    try {
      value = this.#onGrant(waiter.tag, permits);
    } catch (error) {
      this.#permits += permits;
      settle(Promise.reject(error));
      return;
    }
    settle(value);
  }

  #fail(waiter: Waiter, reason: unknown): void {
    const settle = waiter.settle;
    if (settle === undefined) return;
    waiter.settle = undefined;
    const hooks = waiter.hooks;
    if (hooks !== undefined) {
      unhook(hooks);
      if (hooks.observed) observer?.waitEnded(waiter, reason);
    }
    settle(Promise.reject(reason));
  }

  /** Removes a waiter that gave up; hands its partial grant (and its turn) to whoever is next. */
  #cancel(waiter: Waiter, reason: unknown): void {
    if (waiter.settle === undefined) return; // Already granted or failed: the race is lost, not the grant.
    const wasHead = this.#head === waiter;
    const { prev, next } = waiter;
    if (prev === undefined) this.#head = next;
    else prev.next = next;
    if (next === undefined) this.#tail = prev;
    else next.prev = prev;
    waiter.prev = waiter.next = undefined;
    this.#length--;
    this.#permits += waiter.acquired;
    waiter.acquired = 0;
    this.#fail(waiter, reason);
    // The next waiter may fit in what the head was holding or blocking.
    if (wasHead && this.#permits > 0) this.#drain();
    this.onCancel?.();
  }

  /** Tells the observer a waiter queued; `true` if it refused the wait (the waiter has left). */
  #observeWait(waiter: Waiter, tag: number): boolean {
    const owner = this.owner;
    if (owner === undefined || waiter.settle === undefined) return false;
    const mode = this.modeOf === undefined ? "exclusive" : this.modeOf(tag);
    if (waiter.hooks === undefined) {
      waiter.hooks = { timer: undefined, signal: undefined, onAbort: undefined, observed: true };
    } else waiter.hooks.observed = true;
    const refusal = (observer as NonNullable<typeof observer>).waiting(owner, mode, this.#length, this.key, waiter);
    if (refusal === undefined) return false;
    this.#cancel(waiter, refusal);
    return true;
  }

  #reclaim(head: Waiter): void {
    this.#permits += head.acquired;
    head.remaining += head.acquired;
    head.acquired = 0;
  }

  #hook(waiter: Waiter, options: AcquireOptions): void {
    const { signal, timeout } = options;
    if (signal === undefined && timeout === undefined) return;
    const hooks: CancelHooks = { timer: undefined, signal: undefined, onAbort: undefined, observed: false };
    waiter.hooks = hooks;
    if (timeout !== undefined) {
      const fire = (): void => {
        hooks.timer = undefined;
        const makeError = this.timeoutError;
        this.#cancel(
          waiter,
          makeError === undefined
            ? new TimeoutError(`Timed out after ${timeout} ms waiting for ${this.what}`)
            : makeError(timeout),
        );
      };
      // Any finite timeout (SPEC §1: 30 days must work): past what one timer holds, timer.ts chains.
      hooks.timer = setLongTimeout(fire, timeout);
    }
    if (signal !== undefined) {
      // A signal that aborted before this wait began (between two waits of one call) never fires.
      if (signal.aborted) {
        this.#cancel(waiter, signal.reason);
        return;
      }
      const onAbort = (): void => this.#cancel(waiter, signal.reason);
      hooks.signal = signal;
      hooks.onAbort = onAbort;
      signal.addEventListener("abort", onAbort, { once: true });
    }
  }
}

function unhook(hooks: CancelHooks): void {
  if (hooks.timer !== undefined) {
    clearLongTimeout(hooks.timer);
    hooks.timer = undefined;
  }
  if (hooks.signal !== undefined) {
    hooks.signal.removeEventListener("abort", hooks.onAbort as () => void);
    hooks.signal = undefined;
    hooks.onAbort = undefined;
  }
}

/**
 * A grant that races with the abort is handed on to the next waiter, never lost (docs/decisions.md). An
 * acquire can be granted (at once, or later by a release) and then see its signal abort before its
 * caller resumes; the caller asked to stop, so the abort wins: the guard is released at once — which
 * hands the lock on to the next waiter — and the acquire rejects with `signal.reason`. The rule holds
 * for fast and slow paths alike; only acquires with a signal pay for it (one microtask).
 */
export function abortWins<G extends { release(): void }>(
  pending: Promise<G>,
  signal: AbortSignal | undefined,
): Promise<G> {
  if (signal === undefined) return pending;
  return pending.then((guard) => {
    if (!signal.aborted) return guard;
    guard.release();
    throw signal.reason;
  });
}
