/**
 * Model-checker drivers for the raw step functions of src/threads/raw: the `step` + `A.wait` loop of
 * each blocking driver, with the park either untimed (so a lost wake-up is a deadlock the checker sees)
 * or timed with the waiter's own `parkTimeout` (the production behaviour, polling included).
 */

import type { AtomicsLike } from "../../../src/threads/raw/atomics-like.js";
import type { RawWaiter } from "../../../src/threads/raw/waiter.js";
import type { ThreadContext } from "./explorer.js";

/** How a driver parks: `untimed` hides nothing; `timed` uses `waiter.parkTimeout` as production does. */
export type ParkMode = "untimed" | "timed";

/** Parks where the last step said to. */
export function park(A: AtomicsLike, w: Int32Array, waiter: RawWaiter, mode: ParkMode): void {
  A.wait(w, waiter.index, waiter.expected, mode === "timed" ? waiter.parkTimeout : undefined);
}

/** The owner id of a simulated thread (`threadId + 1`, as in production: 0 means "no owner"). */
export function ownerId(ctx: ThreadContext): number {
  return ctx.id + 1;
}

/**
 * A liveness table big enough for the owner ids of the model's threads (ids below 32 live in word 2):
 * the production table is 128 KiB, far too much to allocate once per schedule.
 */
export function smallLivenessTable(): Int32Array {
  return Int32Array.of(1, 0, 0);
}
