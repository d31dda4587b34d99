/**
 * Timers for any finite delay. `setTimeout` honours delays up to 2^31 − 1 ms (about 24.8 days); a
 * larger one fires at once in Node (with a warning) and in browsers. SPEC §1 allows any finite
 * timeout ≥ 0, so a longer delay is chained: one timer per 2^31 − 1 ms step, then the rest. The steps
 * count the delay off (no clock reads), so a 30-day timeout fires 30 days of timer time after it was
 * set, and fake timers advance it exactly.
 *
 * Delays within the limit cost nothing extra: the native handle is returned as it is.
 *
 * @internal
 */

/** The largest delay one `setTimeout` honours. */
export const MAX_TIMER_DELAY = 2 ** 31 - 1;

type NativeTimer = ReturnType<typeof setTimeout>;

/** A delay longer than one timer can hold: the current step's timer, re-armed until the rest fits. */
class ChainedTimer {
  #handle: NativeTimer | undefined;

  constructor(fire: () => void, ms: number) {
    this.#arm(fire, ms);
  }

  #arm(fire: () => void, ms: number): void {
    if (ms > MAX_TIMER_DELAY) {
      this.#handle = setTimeout(() => this.#arm(fire, ms - MAX_TIMER_DELAY), MAX_TIMER_DELAY);
    } else {
      this.#handle = setTimeout(fire, ms);
    }
  }

  clear(): void {
    if (this.#handle !== undefined) clearTimeout(this.#handle);
    this.#handle = undefined;
  }
}

/** What {@link setLongTimeout} returns, for {@link clearLongTimeout}. */
export type LongTimer = NativeTimer | ChainedTimer;

/** Calls `fire` once after `ms` milliseconds (any finite number ≥ 0). */
export function setLongTimeout(fire: () => void, ms: number): LongTimer {
  return ms > MAX_TIMER_DELAY ? new ChainedTimer(fire, ms) : setTimeout(fire, ms);
}

/** Cancels a timer from {@link setLongTimeout}. */
export function clearLongTimeout(timer: LongTimer): void {
  if (timer instanceof ChainedTimer) timer.clear();
  else clearTimeout(timer);
}
