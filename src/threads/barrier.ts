import {
  checkInteger,
  checkOptionsObject,
  describe,
  readAcquireOptions,
  readTimeoutOptions,
} from "../internal/validate.js";
import { type AcquireOptions, interiorMutable, type NameOptions } from "../types.js";
import { allocateTagged, checkHandle, checkTaggedBuffer, type HandleBase, LAYOUT_VERSION } from "./memory/handle.js";
import { realAtomics as A } from "./raw/atomics-like.js";
import * as raw from "./raw/raw-barrier.js";
import { newWaiter, parkTime, recordWait } from "./raw/waiter.js";
import { ownerId } from "./runtime/liveness.js";
import {
  assertCanBlock,
  checkSyncOptions,
  deadlineOf,
  now,
  parkAsync,
  precheck,
  timeoutError,
} from "./runtime/wait.js";
import { threadsName } from "./runtime/waits-for.js";

const TAG = "lockbox.threads.Barrier";

/** The structured-clone-safe form of a {@link Barrier}. */
export interface BarrierHandle extends HandleBase<typeof TAG> {
  /** The barrier word (see src/threads/raw/raw-barrier.ts), then the memory tag (see handle.ts). */
  readonly buffer: SharedArrayBuffer;
  /** Number of parties. */
  readonly parties: number;
  /** The barrier's name, the same in every thread. */
  readonly name: string;
}

/** What a barrier wait resolves with. */
export interface BarrierWaitResult {
  /** `true` for exactly one party per generation (the one that arrived last). */
  isLeader: boolean;
}

let restoring: BarrierHandle | undefined;

/**
 * A reusable barrier for `n` parties across threads (Rust's `std::sync::Barrier`): each `wait` blocks
 * until `n` parties have called it, then all go on, one of them as the leader.
 *
 * @example
 * ```ts
 * const start = new Barrier(3, { name: "start" }); // main + 2 workers
 * for (let i = 0; i < 2; i++) spawn(workerUrl, { workerData: start });
 * await start.wait(); // in a worker: Barrier.from(workerData).waitSync()
 * ```
 *
 * Every `n` calls form one generation with exactly one leader, however many callers there are: with
 * more callers than parties, the extra ones wait for the next generation.
 *
 * **Cancel safety**: a wait that times out or is aborted before its generation completes takes its
 * arrival back (the generation then needs another party), and rejects. If the generation completed
 * first, the arrival counted and the wait resolves as passed (`isLeader: false`), even when the time
 * ran out or the signal fired in the same instant: the other parties were released counting it.
 */
export class Barrier {
  declare readonly [interiorMutable]: true;
  /** Most parties a barrier can have (65535). */
  static readonly MAX_PARTIES = raw.MAX_PARTIES;
  /** The structured-clone-safe handle; see {@link Barrier.from}. */
  readonly handle: BarrierHandle;
  readonly #word: Int32Array;
  readonly #parties: number;
  readonly #name: string;

  /**
   * @param parties - number of parties, an integer from 0 to {@link Barrier.MAX_PARTIES}; 0 makes a
   *   barrier of 1 (as in Rust's std and tokio: every `wait` passes at once, as the leader).
   * @param options - `name`: the barrier's name in errors (default `Barrier#n`).
   * @throws TypeError / RangeError for anything else.
   */
  constructor(parties: number, options?: NameOptions) {
    const handle = restoring;
    restoring = undefined;
    if (handle !== undefined) {
      this.#word = new Int32Array(handle.buffer, 0, raw.BARRIER_WORDS);
      this.#parties = handle.parties;
      this.#name = typeof handle.name === "string" ? handle.name : threadsName("Barrier", undefined, ownerId);
      this.handle = handle;
      return;
    }
    checkInteger("parties", parties, 0, raw.MAX_PARTIES);
    checkOptionsObject("options", options);
    this.#name = threadsName("Barrier", options, ownerId);
    this.#parties = Math.max(1, parties);
    this.#word = allocateTagged(TAG, raw.BARRIER_WORDS);
    this.handle = {
      type: TAG,
      version: LAYOUT_VERSION,
      buffer: this.#word.buffer as SharedArrayBuffer,
      parties: this.#parties,
      name: this.#name,
    };
  }

  /** The name given to the constructor (`{ name }`), or `Barrier#n`; carried by the handle to every thread. */
  get name(): string {
    return this.#name;
  }

  /**
   * Rebuilds a barrier from a received handle (or a posted barrier).
   *
   * @example
   * ```ts
   * const start = Barrier.from(workerData);
   * ```
   *
   * @throws TypeError for anything but a current Barrier handle over a Barrier's shared memory.
   */
  static from(received: unknown): Barrier {
    const handle = checkHandle<BarrierHandle>(received, TAG, "Barrier.from");
    checkTaggedBuffer("Barrier.from", handle.buffer, TAG, raw.BARRIER_WORDS);
    const parties = handle.parties;
    if (typeof parties !== "number" || !Number.isInteger(parties) || parties < 1 || parties > raw.MAX_PARTIES) {
      throw new TypeError(
        `Expected \`handle.parties\` to be an integer from 1 to ${raw.MAX_PARTIES}, got ${describe(parties)}`,
      );
    }
    restoring = handle;
    try {
      return new Barrier(parties);
    } finally {
      restoring = undefined;
    }
  }

  /** Number of parties (1 for `new Barrier(0)`). */
  get parties(): number {
    return this.#parties;
  }

  /**
   * Arrives and waits (without blocking the thread) for the other parties.
   *
   * @example
   * ```ts
   * const { isLeader } = await barrier.wait({ timeout: 5_000 });
   * ```
   *
   * **Cancel safety**: see the class docs: a rejected wait has taken its arrival back.
   *
   * **Throws** (rejects): `TimeoutError`, the signal's reason (an already-aborted signal rejects
   * without arriving), `TypeError` / `RangeError` for bad options.
   */
  async wait(options?: AcquireOptions): Promise<BarrierWaitResult> {
    options = readAcquireOptions(options);
    const early = precheck(options);
    if (early !== undefined) return early;
    const word = this.#word;
    const { leader, generation } = raw.arrive(A, word, 0, this.#parties);
    if (leader) return { isLeader: true };
    const signal = options?.signal;
    const timeout = options?.timeout;
    const deadline = deadlineOf(timeout);
    const waiter = newWaiter(0);
    while (!raw.waitStep(A, word, 0, generation, waiter)) {
      const time = parkTime(waiter, deadline, now());
      if (time <= 0) {
        if (raw.withdraw(A, word, 0, generation)) throw timeoutError("Barrier.wait()", timeout, this.#name);
        break;
      }
      if (signal?.aborted) {
        if (raw.withdraw(A, word, 0, generation)) throw signal.reason;
        break;
      }
      const parked = parkAsync(word, waiter.index, waiter.expected, time, signal);
      if (parked === undefined) continue;
      try {
        recordWait(waiter, await parked);
      } catch (error) {
        if (raw.withdraw(A, word, 0, generation)) throw error;
        break;
      }
    }
    return { isLeader: false };
  }

  /**
   * Blocking form of {@link wait}.
   *
   * @example
   * ```ts
   * const { isLeader } = barrier.waitSync({ timeout: 5_000 });
   * ```
   *
   * **Throws**: `WouldBlockError` where blocking is forbidden (before arriving), `TimeoutError` (the
   * arrival taken back, see the class docs).
   */
  waitSync(options?: { timeout?: number | undefined }): BarrierWaitResult {
    options = readTimeoutOptions(options);
    checkSyncOptions(options);
    assertCanBlock("Barrier.waitSync", this.#name);
    const word = this.#word;
    const { leader, generation } = raw.arrive(A, word, 0, this.#parties);
    if (leader) return { isLeader: true };
    const timeout = options?.timeout;
    // Withdrawn on timeout: throw. A release that raced with the timeout counts as released.
    if (!raw.waitBlocking(A, word, 0, generation, now, deadlineOf(timeout))) {
      throw timeoutError("Barrier.waitSync()", timeout, this.#name);
    }
    return { isLeader: false };
  }
}
