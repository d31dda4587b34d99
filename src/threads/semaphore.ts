import { ClosedError, UseAfterReleaseError } from "../errors.js";
import { abortWins, BatchSemaphore } from "../internal/batch-semaphore.js";
import { markNotSend } from "../internal/not-send.js";
import { GUARD_TOKEN, type GuardToken, illegalConstructor, notThenable } from "../internal/symbols.js";
import {
  checkFunction,
  checkInteger,
  checkOptionsObject,
  readAcquireOptions,
  readTimeoutOptions,
} from "../internal/validate.js";
import { type AcquireOptions, interiorMutable, type NameOptions, type Releasable } from "../types.js";
import {
  allocateTagged,
  checkHandle,
  checkSharedBuffer,
  checkTaggedBuffer,
  type HandleBase,
  LAYOUT_VERSION,
} from "./memory/handle.js";
import { realAtomics as A } from "./raw/atomics-like.js";
import { LIVENESS_WORDS } from "./raw/liveness-table.js";
import * as raw from "./raw/raw-semaphore.js";
import { KickablePark } from "./runtime/keep-alive.js";
import { adoptTable, ownerId, processTable } from "./runtime/liveness.js";
import {
  assertCanBlock,
  checkSyncOptions,
  deadlineOf,
  now,
  parkCompetitor,
  precheck,
  timeoutError,
} from "./runtime/wait.js";
import { threadsName } from "./runtime/waits-for.js";

const TAG = "lockbox.threads.Semaphore";

/** The structured-clone-safe form of a {@link Semaphore}. */
export interface SemaphoreHandle extends HandleBase<typeof TAG> {
  /** The permit, waiter, total and holder words (see src/threads/raw/raw-semaphore.ts), then the memory tag. */
  readonly buffer: SharedArrayBuffer;
  /** The liveness table of the creating thread (permits of a dead supervised worker are returned). */
  readonly liveness: SharedArrayBuffer;
  /** The semaphore's name, the same in every thread. */
  readonly name: string;
}

let restoring: SemaphoreHandle | undefined;

let giveBack: (semaphore: Semaphore, permits: number, slot: number) => void;
let forgetPermits: (semaphore: Semaphore, permits: number, slot: number) => void;
let slotOf: (semaphore: Semaphore) => number;

/**
 * A counting semaphore across threads: `acquire(n)` takes `n` permits (waiting until they are free),
 * the returned {@link SemaphorePermit} gives them back.
 *
 * @example
 * ```ts
 * const slots = new Semaphore(4, { name: "slots" });
 * worker.postMessage(slots); // there: Semaphore.from(message)
 * await slots.withPermit(async () => {
 *   await fetch(url);
 * });
 * using permit = slots.acquireSync(1, { timeout: 100 });
 * ```
 *
 * **Fairness**: eventual across threads (SPEC §4: no waiter starves). A running thread may take free
 * permits (no convoy), but a request that has waited about a millisecond (`FAIR_AFTER_MS`) registers
 * as the semaphore's *starving* request (one at a time): until it is served, other threads' acquires
 * take no permits — `tryAcquire` returns `undefined` even when permits are free — so releases
 * accumulate until it fits, however the other threads' holds overlap. Then the next long waiter gets
 * its turn. A starving request that gives up (timeout, abort, close) lets the others go at once; one
 * whose thread died (supervised) or stopped running its wait (e.g. its event loop blocked) is skipped
 * after at most about 200 ms (`4 × POLL_MS`). A request that could never be served — more permits
 * than exist, counting those its own thread holds as not coming back — never blocks the others.
 * Hazard (as with the in-process FIFO semaphore): a thread that holds permits and waits for more can
 * deadlock with a starving request that needs the permits it holds (until one of them times out).
 * Within one thread (one `Semaphore` instance), async `acquire()` calls are FIFO as in-process: they
 * queue locally (a large request at the head is not overtaken by later small ones of the same thread,
 * and `tryAcquire` does not pass them), and a release hands its permits to them unless a request of
 * another thread is starving (has waited about a millisecond), as the threads `Mutex` does.
 *
 * **Cancel safety**: an abort or timeout stops the wait at once; no permit is taken.
 *
 * **Owner death**: permits held by a supervised worker (see `supervise`) that exits are returned:
 * the next acquire that would wait (or a `tryAcquire` that finds too few) collects them. Each
 * semaphore tracks the permits of up to 32 threads at once; a thread beyond that holds untracked
 * permits (not returned if it dies).
 *
 * **Limits**: at most {@link Semaphore.MAX_PERMITS} permits exist at once, free and held together:
 * `addPermits` throws `RangeError` rather than pass it, so a release never overflows.
 */
export class Semaphore {
  declare readonly [interiorMutable]: true;
  /** Most permits a semaphore can hold (2^31 − 1). */
  static readonly MAX_PERMITS = raw.MAX_PERMITS;
  /** The structured-clone-safe handle; see {@link Semaphore.from}. */
  readonly handle: SemaphoreHandle;
  readonly #word: Int32Array;
  readonly #table: Int32Array;
  /** This thread's holder slot (claimed on first acquire), or -1. */
  #slot = -1;
  readonly #name: string;
  /**
   * This thread's queue of async `acquire()` calls (issue 10; the in-process FIFO core, zero permits
   * at rest): its pool holds permits this thread has taken from the shared word (recorded in its
   * holder slot) and not yet granted. A release with tasks queued here hands the permits to them
   * unless another thread's request is starving; only the queue's head competes for the shared word
   * (`#compete`).
   */
  readonly #local: BatchSemaphore = this.#newQueue();
  /** `true` while `#compete` runs; it runs whenever tasks are queued here. */
  #competing = false;
  /** The competitor's park, kicked when the queue no longer needs it. */
  readonly #park = new KickablePark();
  /** The registered starver `tryAcquire` last found blocking it (to clear a stale one; raw-semaphore.ts). */
  readonly #sighting: raw.StarverSighting = { starver: 0, beat: 0, since: 0 };

  /**
   * @param permits - initial permits, an integer from 0 to {@link Semaphore.MAX_PERMITS}.
   * @param options - `name`: the semaphore's name in errors (default `Semaphore#n`).
   * @throws TypeError / RangeError for anything else.
   */
  constructor(permits: number, options?: NameOptions) {
    const handle = restoring;
    restoring = undefined;
    if (handle !== undefined) {
      this.#word = new Int32Array(handle.buffer, 0, raw.SEMAPHORE_WORDS);
      this.#table = adoptTable(handle.liveness);
      this.#name = typeof handle.name === "string" ? handle.name : threadsName("Semaphore", undefined, ownerId);
      this.handle = handle;
      return;
    }
    checkInteger("permits", permits, 0, raw.MAX_PERMITS);
    checkOptionsObject("options", options);
    this.#name = threadsName("Semaphore", options, ownerId);
    this.#word = allocateTagged(TAG, raw.SEMAPHORE_WORDS);
    this.#word[0] = permits;
    raw.initTotal(A, this.#word, 0, permits);
    this.#table = processTable();
    this.handle = {
      type: TAG,
      version: LAYOUT_VERSION,
      buffer: this.#word.buffer as SharedArrayBuffer,
      liveness: this.#table.buffer as SharedArrayBuffer,
      name: this.#name,
    };
  }

  /** The name given to the constructor (`{ name }`), or `Semaphore#n`; carried by the handle to every thread. */
  get name(): string {
    return this.#name;
  }

  /**
   * Rebuilds a semaphore from a received handle (or a posted semaphore).
   *
   * @example
   * ```ts
   * const slots = Semaphore.from(workerData);
   * ```
   *
   * @throws TypeError for anything but a current Semaphore handle over shared memory.
   */
  static from(received: unknown): Semaphore {
    const handle = checkHandle<SemaphoreHandle>(received, TAG, "Semaphore.from");
    checkTaggedBuffer("Semaphore.from", handle.buffer, TAG, raw.SEMAPHORE_WORDS);
    checkSharedBuffer("handle.liveness", handle.liveness, LIVENESS_WORDS * 4);
    restoring = handle;
    try {
      return new Semaphore(0);
    } finally {
      restoring = undefined;
    }
  }

  /** Free permits now. */
  get available(): number {
    return raw.permitsOf(A.load(this.#word, 0));
  }

  /** `true` once closed. */
  get closed(): boolean {
    return A.load(this.#word, 0) < 0;
  }

  /**
   * Waits (without blocking the thread) for `permits` permits.
   *
   * @example
   * ```ts
   * using permit = await slots.acquire(2, { timeout: 1_000 });
   * ```
   *
   * **Throws** (rejects): `ClosedError` once closed, `TimeoutError`, the signal's reason,
   * `TypeError` / `RangeError` for bad arguments.
   */
  acquire(permits = 1, options?: AcquireOptions): Promise<SemaphorePermit> {
    try {
      options = readAcquireOptions(options);
    } catch (error) {
      return Promise.reject(error);
    }
    try {
      checkInteger("permits", permits, 1, raw.MAX_PERMITS);
    } catch (error) {
      return Promise.reject(error);
    }
    const early = precheck(options);
    if (early !== undefined) return early;
    const word = this.#word;
    const local = this.#local;
    // FIFO in this thread: no barging past tasks of this thread already queued.
    if (local.waiters === 0) {
      const first = raw.tryAcquire(A, word, 0, permits);
      if (first === raw.ACQUIRED) return Promise.resolve(this.#permit(permits));
      if (first === raw.CLOSED) return Promise.reject(closedError(this.#name));
    } else if (A.load(word, 0) < 0) return Promise.reject(closedError(this.#name));
    const queued = local.acquire(permits, 0, options) as Promise<SemaphorePermit>;
    if (!this.#competing && local.waiters !== 0) void this.#compete();
    // A grant that races with an abort: the abort wins, the permits are released (handed on).
    return abortWins(queued, options?.signal);
  }

  /** The local queue: threads timeout message; a cancel hands back what it freed and may stop the competitor. */
  #newQueue(): BatchSemaphore {
    const local = new BatchSemaphore(0, (_tag, permits) => new SemaphorePermit(GUARD_TOKEN, this, permits));
    local.timeoutError = (timeout) => timeoutError("Semaphore.acquire()", timeout, this.#name);
    local.onCancel = () => {
      this.#flush();
      this.#park.kick();
    };
    return local;
  }

  /** Gives the local pool's permits (nobody queued here can use them) back to the shared word. */
  #flush(): void {
    const local = this.#local;
    const spare = local.available;
    if (spare === 0 || local.waiters !== 0) return;
    local.forget(spare);
    if (this.#slot >= 0) raw.recordReleased(A, this.#word, 0, this.#slot, spare);
    raw.release(A, this.#word, 0, spare);
  }

  /**
   * The local queue's head competing for the shared word, for as long as tasks are queued here: it
   * takes the permits the head still misses, records them as this thread's, and grants them locally
   * (a head that left meanwhile: they flow to the next, or back to the word).
   */
  async #compete(): Promise<void> {
    this.#competing = true;
    const word = this.#word;
    const table = this.#table;
    const local = this.#local;
    let waiter = raw.newSemaphoreWaiter();
    try {
      for (;;) {
        const need = local.headRemaining;
        if (need === 0) return;
        const step = raw.acquireStep(A, word, 0, need, ownerId, table, waiter, now);
        if (step === raw.PARK && raw.reap(A, word, 0, table) > 0) continue;
        if (step === raw.CLOSED) {
          local.close(() => closedError(this.#name));
          this.#flush();
          return;
        }
        if (step === raw.ACQUIRED) {
          raw.leave(A, word, 0, waiter);
          waiter = raw.newSemaphoreWaiter();
          this.#record(need);
          local.release(need);
          this.#flush();
          continue;
        }
        const parked = parkCompetitor(this.#park, word, waiter);
        if (parked !== undefined) await parked;
      }
    } finally {
      raw.leave(A, word, 0, waiter);
      this.#competing = false;
    }
  }

  /** Records `permits` just taken from the word in this thread's holder slot. */
  #record(permits: number): void {
    let slot = this.#slot;
    if (slot < 0) slot = this.#slot = raw.claimSlot(A, this.#word, 0, ownerId);
    if (slot >= 0) raw.recordHeld(A, this.#word, 0, slot, permits);
  }

  /**
   * Gives back `permits` held by this thread: to the tasks queued here unless another thread's request
   * is starving (registered in STARVER: it has waited about a millisecond), else to the shared word —
   * the Mutex's rule, `raw.mayHandOnLocally` (model-checked in test/threads/model/local-hand-on.test.ts).
   */
  #giveBack(permits: number): void {
    const local = this.#local;
    const word = this.#word;
    if (local.waiters !== 0 && raw.mayHandOnLocally(A, word, 0, ownerId)) {
      local.release(permits);
      this.#flush();
      // A parked competitor stays parked while tasks are queued (it re-reads what the head needs when
      // the word changes; a stale, larger need only takes permits that flow on or back). With the
      // queue drained it stops, so that it does not keep the thread alive.
      if (local.waiters === 0) this.#park.kick();
      return;
    }
    if (this.#slot >= 0) raw.recordReleased(A, word, 0, this.#slot, permits);
    raw.release(A, word, 0, permits);
  }

  /**
   * Blocks the thread until `permits` permits are free.
   *
   * @example
   * ```ts
   * using permit = slots.acquireSync(1, { timeout: 100 });
   * ```
   *
   * **Throws**: `WouldBlockError` where blocking is forbidden, `ClosedError`, `TimeoutError`.
   */
  acquireSync(permits = 1, options?: { timeout?: number | undefined }): SemaphorePermit {
    options = readTimeoutOptions(options);
    assertCanBlock("Semaphore.acquireSync", this.#name);
    checkInteger("permits", permits, 1, raw.MAX_PERMITS);
    checkSyncOptions(options);
    const word = this.#word;
    const timeout = options?.timeout;
    const result = raw.acquireBlocking(A, word, 0, permits, ownerId, this.#table, now, deadlineOf(timeout));
    if (result === raw.BUSY) throw timeoutError("Semaphore.acquireSync()", timeout, this.#name);
    if (result === raw.CLOSED) throw closedError(this.#name);
    return this.#permit(permits);
  }

  /**
   * Takes `permits` permits if they are free now, else returns `undefined`. Also `undefined` while
   * another thread's request is starving (see **Fairness**): the free permits are saved for it.
   *
   * @throws ClosedError once closed; TypeError / RangeError for a bad `permits`.
   */
  tryAcquire(permits = 1): SemaphorePermit | undefined {
    checkInteger("permits", permits, 1, raw.MAX_PERMITS);
    // FIFO in this thread: no barging past tasks of this thread already queued.
    if (this.#local.waiters !== 0) {
      if (A.load(this.#word, 0) < 0) throw closedError(this.#name);
      return undefined;
    }
    const word = this.#word;
    let result = raw.tryAcquire(A, word, 0, permits);
    if (
      result === raw.BUSY &&
      (raw.reap(A, word, 0, this.#table) > 0 || raw.clearStaleStarver(A, word, 0, this.#table, this.#sighting, now))
    ) {
      result = raw.tryAcquire(A, word, 0, permits);
    }
    if (result === raw.CLOSED) throw closedError(this.#name);
    return result === raw.ACQUIRED ? this.#permit(permits) : undefined;
  }

  /**
   * Acquires (`options.permits`, default 1), runs `fn`, releases in every case.
   *
   * @example
   * ```ts
   * const body = await slots.withPermit(() => download(url), { timeout: 5_000 });
   * ```
   */
  async withPermit<R>(
    fn: (permit: SemaphorePermit) => R | PromiseLike<R>,
    options?: AcquireOptions & { permits?: number | undefined },
  ): Promise<Awaited<R>> {
    checkFunction("fn", fn);
    const permits = options?.permits; // `undefined` means 1; `null` is rejected like any non-integer
    const permit = await this.acquire(permits === undefined ? 1 : permits, options);
    try {
      return await fn(permit);
    } finally {
      permit.release();
    }
  }

  /**
   * Blocking form of {@link withPermit}.
   *
   * @example
   * ```ts
   * slots.withPermitSync(() => work());
   * ```
   */
  withPermitSync<R>(
    fn: (permit: SemaphorePermit) => R,
    options?: { timeout?: number | undefined; permits?: number | undefined },
  ): R {
    checkFunction("fn", fn);
    checkOptionsObject("options", options); // `null` is not "no options"
    const permits = options?.permits; // `undefined` means 1; `null` is rejected like any non-integer
    const permit = this.acquireSync(permits === undefined ? 1 : permits, { timeout: options?.timeout });
    try {
      return fn(permit);
    } finally {
      permit.release();
    }
  }

  /**
   * Adds `permits` permits (waking waiters).
   *
   * @example
   * ```ts
   * slots.addPermits(2);
   * ```
   *
   * @throws RangeError when the permits in existence (free and held) would pass
   *   {@link Semaphore.MAX_PERMITS} (nothing is added).
   */
  addPermits(permits: number): void {
    checkInteger("permits", permits, 0, raw.MAX_PERMITS);
    if (permits === 0) return;
    if (!raw.addTotal(A, this.#word, 0, permits)) {
      throw new RangeError(
        `Expected \`permits\` to keep the permits in existence (free and held) at most ${raw.MAX_PERMITS}, got ${permits} more than ${raw.totalOf(A, this.#word, 0)}`,
      );
    }
    raw.release(A, this.#word, 0, permits);
  }

  /**
   * Closes the semaphore: pending and future acquires fail with `ClosedError`, in every thread.
   * Idempotent.
   *
   * @example
   * ```ts
   * slots.close();
   * await slots.acquire(); // rejects with ClosedError
   * ```
   */
  close(): void {
    raw.close(A, this.#word, 0);
    // This thread's queued tasks fail now (other threads' see CLOSED on their next step).
    this.#local.close(() => closedError(this.#name));
    this.#flush();
    this.#park.kick();
  }

  /** A permit for `permits` just taken, recorded in this thread's holder slot. */
  #permit(permits: number): SemaphorePermit {
    this.#record(permits);
    return new SemaphorePermit(GUARD_TOKEN, this, permits);
  }

  static {
    slotOf = (semaphore) => semaphore.#slot;
    giveBack = (semaphore, permits) => semaphore.#giveBack(permits);
    forgetPermits = (semaphore, permits, slot) => {
      if (slot >= 0) raw.recordReleased(A, semaphore.#word, 0, slot, permits);
      raw.subTotal(A, semaphore.#word, 0, permits);
    };
  }
}

function closedError(name: string): ClosedError {
  return new ClosedError(`${name} is closed`);
}

/** Permits taken from a threads {@link Semaphore}; `release()` (or `using`) gives them back. */
export class SemaphorePermit implements Releasable {
  static {
    notThenable(SemaphorePermit.prototype);
  }

  #semaphore: Semaphore | undefined;
  /** The holder slot the permits are recorded in (-1: untracked). */
  readonly #slot: number;
  /** How many permits this holds. */
  readonly permits: number;

  /** @internal Permits come from `Semaphore.acquire()`; this constructor throws for anyone else. */
  constructor(token: GuardToken, semaphore: Semaphore, permits: number) {
    if (token !== GUARD_TOKEN) illegalConstructor("SemaphorePermit");
    markNotSend(this);
    this.#semaphore = semaphore;
    this.#slot = slotOf(semaphore);
    this.permits = permits;
  }

  /** `true` once released or forgotten. */
  get released(): boolean {
    return this.#semaphore === undefined;
  }

  /** Gives the permits back. Idempotent. */
  release(): void {
    const semaphore = this.#semaphore;
    if (semaphore === undefined) return;
    this.#semaphore = undefined;
    giveBack(semaphore, this.permits, this.#slot);
  }

  /**
   * Consumes the permits without giving them back (they leave existence), as in-process.
   *
   * @throws UseAfterReleaseError when already released or forgotten (as the in-process permit).
   */
  forget(): void {
    const semaphore = this.#semaphore;
    if (semaphore === undefined) throw new UseAfterReleaseError("Cannot forget a SemaphorePermit after release()");
    this.#semaphore = undefined;
    forgetPermits(semaphore, this.permits, this.#slot);
  }

  /** Same as {@link release}, for `using`. */
  [Symbol.dispose](): void {
    this.release();
  }
}
