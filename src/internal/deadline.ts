import { TimeoutError } from "../errors.js";
import { clearLongTimeout, type LongTimer, setLongTimeout } from "./timer.js";

/**
 * One timer for a whole multi-step wait (`waitWhile`, `KeyedMutex.lockMany`): aborts `signal` with a
 * `TimeoutError` when the time is up, and follows the caller's own signal. `dispose()` clears the
 * timer and the listener, so nothing outlives the call.
 *
 * @internal Shared by lockbox's own primitives; belongs in `src/internal/` (integrator: move it there).
 */
export class Deadline {
  readonly #controller = new AbortController();
  #timer: LongTimer | undefined;
  readonly #outer: AbortSignal | undefined;
  readonly #onOuterAbort: (() => void) | undefined;

  /** @param what - what is waited for, in the `TimeoutError` message (a primitive's name). */
  constructor(timeout: number, outer: AbortSignal | undefined, what?: string) {
    const controller = this.#controller;
    this.#timer = setLongTimeout(() => {
      this.#timer = undefined;
      controller.abort(
        new TimeoutError(`Timed out after ${timeout} ms${what === undefined ? "" : ` waiting for ${what}`}`),
      );
    }, timeout);
    if (outer !== undefined) {
      this.#outer = outer;
      this.#onOuterAbort = () => controller.abort(outer.reason);
      outer.addEventListener("abort", this.#onOuterAbort, { once: true });
    }
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  dispose(): void {
    if (this.#timer !== undefined) {
      clearLongTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#outer !== undefined) this.#outer.removeEventListener("abort", this.#onOuterAbort as () => void);
  }
}
