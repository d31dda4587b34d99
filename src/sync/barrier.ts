import { BatchSemaphore } from "../internal/batch-semaphore.js";
import { markNotSend } from "../internal/not-send.js";
import { nameFor, observer } from "../internal/observer.js";
import { checkInteger, checkOptionsObject, precheck, readAcquireOptions } from "../internal/validate.js";
import { type AcquireOptions, interiorMutable, type NameOptions } from "../types.js";

/** What {@link Barrier.wait} resolves with. */
export interface BarrierWaitResult {
  /** `true` for exactly one task per generation: the last to arrive. */
  readonly isLeader: boolean;
}

const follower = (): BarrierWaitResult => ({ isLeader: false });

/**
 * Lets `n` tasks wait until all of them have arrived (tokio's `Barrier`). Reusable: once `n` tasks
 * have met, the next `n` form a new generation.
 *
 * Built on the batch-semaphore core with zero permits: the first `n - 1` arrivals queue for one
 * permit each; the `n`-th arrival releases exactly `n - 1` permits, which wakes precisely that
 * generation (later arrivals queue behind, in the next one).
 *
 * @example
 * ```ts
 * const barrier = new Barrier(3);
 * const results = await Promise.all([barrier.wait(), barrier.wait(), barrier.wait()]);
 * results.filter((r) => r.isLeader).length; // 1
 * ```
 *
 * **Fairness**: arrivals are counted in order; the last arrival of each generation is its leader
 * (as in tokio), and it resolves at once.
 *
 * **Cancel safety**: `wait({ signal, timeout })` is an extension over tokio. A waiter that is aborted
 * or times out before its generation is complete leaves it: it no longer counts as arrived, so the
 * generation still needs `n` live arrivals. Once a generation is complete, an abort is too late and
 * the wait resolves normally.
 */
export class Barrier {
  declare readonly [interiorMutable]: true;
  readonly #n: number;
  readonly #sem = new BatchSemaphore(0, follower);
  readonly #name: string;

  /**
   * @param n - how many tasks meet at the barrier, an integer from 0 to 2147483647; `0` makes a barrier
   *   of 1, as in tokio and std (every `wait()` is a generation of its own; `parties` reads 1).
   * @param options - `name`: its name in errors and diagnostics (default `Barrier#n`).
   * @throws TypeError / RangeError when `n` is not such an integer.
   */
  constructor(n: number, options?: NameOptions) {
    markNotSend(this);
    this.#n = Math.max(1, checkInteger("n", n, 0, 2 ** 31 - 1));
    checkOptionsObject("options", options);
    this.#name = nameFor("Barrier", options);
    this.#sem.owner = this;
    this.#sem.modeOf = () => "event";
  }

  /** The name given to the constructor, or `Barrier#n` (the n-th barrier created). */
  get name(): string {
    return this.#name;
  }

  /** How many tasks each generation needs. */
  get parties(): number {
    return this.#n;
  }

  /** How many tasks of the current generation are waiting now. */
  get waiting(): number {
    return this.#sem.waiters;
  }

  /**
   * Waits until `n` tasks (this one included) have called `wait()` in this generation.
   *
   * @example
   * ```ts
   * const { isLeader } = await barrier.wait();
   * if (isLeader) console.log("everybody is here");
   * ```
   *
   * **Cancel safety**: see the class docs: an aborted or timed-out waiter stops counting as arrived.
   *
   * **Throws** (rejects): `signal.reason` on abort, `TimeoutError` on timeout, `TypeError` /
   * `RangeError` for bad options.
   */
  wait(given?: AcquireOptions): Promise<BarrierWaitResult> {
    let options: AcquireOptions | undefined;
    try {
      options = readAcquireOptions(given);
    } catch (error) {
      return Promise.reject(error);
    }
    if (observer !== undefined) return observer.around(this, "wait", options, (o) => this.#wait(o));
    return this.#wait(options);
  }

  #wait(options: AcquireOptions | undefined): Promise<BarrierWaitResult> {
    if (options !== undefined) {
      const early = precheck(options);
      if (early !== undefined) return early;
    }
    const queued = this.#sem.waiters;
    if (queued + 1 < this.#n) return this.#sem.acquire(1, 0, options) as Promise<BarrierWaitResult>;
    // The queue holds exactly the n - 1 other members of this generation (an aborted member has
    // left it), and each asks for one permit: this release wakes them all and leaves the pool at 0.
    if (queued > 0) this.#sem.release(queued);
    return Promise.resolve({ isLeader: true });
  }
}
