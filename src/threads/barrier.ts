import { checkInteger, precheck } from "../internal/validate.js";
import { type AcquireOptions, interiorMutable } from "../types.js";
import { checkHandle, checkSharedBuffer, type HandleBase, LAYOUT_VERSION } from "./handle.js";
import { realAtomics as A } from "./raw/atomics-like.js";
import * as raw from "./raw/raw-barrier.js";
import { newWaiter } from "./raw/waiter.js";
import { assertCanBlock, checkSyncOptions, deadlineOf, driveAsync, driveSync, PARK } from "./wait.js";

const TAG = "lockbox.threads.Barrier";

/** The structured-clone-safe form of a {@link Barrier}. */
export interface BarrierHandle extends HandleBase<typeof TAG> {
  /** The arrival and generation words (see src/threads/raw/raw-barrier.ts). */
  readonly buffer: SharedArrayBuffer;
  /** Number of parties. */
  readonly parties: number;
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
 * const start = new Barrier(3); // main + 2 workers
 * for (let i = 0; i < 2; i++) spawn(workerUrl, { workerData: start });
 * await start.wait(); // in a worker: Barrier.from(workerData).waitSync()
 * ```
 *
 * **Cancel safety**: a wait that times out or is aborted has still *arrived*: the generation completes
 * when the other parties arrive, without this caller. Use timeouts to fail fast, not to retry.
 */
export class Barrier {
  declare readonly [interiorMutable]: true;
  /** The structured-clone-safe handle; see {@link Barrier.from}. */
  readonly handle: BarrierHandle;
  readonly #word: Int32Array;
  readonly #parties: number;

  /**
   * @param parties - number of parties, an integer from 1 to 2147483647.
   * @throws TypeError / RangeError for anything else.
   */
  constructor(parties: number) {
    const handle = restoring;
    restoring = undefined;
    if (handle !== undefined) {
      this.#word = new Int32Array(handle.buffer, 0, raw.BARRIER_WORDS);
      this.#parties = handle.parties;
      this.handle = handle;
      return;
    }
    checkInteger("parties", parties, 1, 2 ** 31 - 1);
    this.#parties = parties;
    this.#word = new Int32Array(new SharedArrayBuffer(raw.BARRIER_WORDS * 4));
    this.handle = { type: TAG, version: LAYOUT_VERSION, buffer: this.#word.buffer as SharedArrayBuffer, parties };
  }

  /**
   * Rebuilds a barrier from a received handle (or a posted barrier).
   *
   * @example
   * ```ts
   * const start = Barrier.from(workerData);
   * ```
   *
   * @throws TypeError for anything but a current Barrier handle over shared memory.
   */
  static from(received: unknown): Barrier {
    const handle = checkHandle<BarrierHandle>(received, TAG, "Barrier.from");
    checkSharedBuffer("handle.buffer", handle.buffer, raw.BARRIER_WORDS * 4);
    checkInteger("handle.parties", handle.parties, 1, 2 ** 31 - 1);
    restoring = handle;
    try {
      return new Barrier(handle.parties);
    } finally {
      restoring = undefined;
    }
  }

  /** Number of parties. */
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
   * **Throws** (rejects): `TimeoutError`, the signal's reason (see the class docs: the arrival counts).
   */
  async wait(options?: AcquireOptions): Promise<BarrierWaitResult> {
    const early = precheck(options);
    if (early !== undefined) return early;
    const word = this.#word;
    const { leader, generation } = raw.arrive(A, word, 0, this.#parties);
    if (leader) return { isLeader: true };
    const waiter = newWaiter(0);
    await driveAsync(
      word,
      waiter,
      () => (raw.waitStep(A, word, 0, generation, waiter) ? 0 : PARK),
      deadlineOf(options?.timeout),
      options?.signal,
      () => {},
      "Barrier.wait()",
      options?.timeout,
    );
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
   * **Throws**: `WouldBlockError` where blocking is forbidden (before arriving), `TimeoutError`.
   */
  waitSync(options?: { timeout?: number | undefined }): BarrierWaitResult {
    checkSyncOptions(options);
    assertCanBlock("Barrier.waitSync");
    const word = this.#word;
    const { leader, generation } = raw.arrive(A, word, 0, this.#parties);
    if (leader) return { isLeader: true };
    const waiter = newWaiter(0);
    driveSync(
      word,
      waiter,
      () => (raw.waitStep(A, word, 0, generation, waiter) ? 0 : PARK),
      deadlineOf(options?.timeout),
      () => {},
      "Barrier.waitSync()",
      options?.timeout,
    );
    return { isLeader: false };
  }
}
