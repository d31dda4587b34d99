/**
 * The one blocking wait loop: runs a raw step function (see waiter.ts) until it finishes, parking
 * through `A.wait` in between. Production's `*Sync` methods run it with the real `Atomics`
 * (src/threads/runtime/wait.ts `driveSync`, and the raw `*Blocking` functions they call); the model checker
 * (test/threads/model) runs the same function with its scheduling stand-in and virtual clock, so the
 * loop it checks is the loop that ships.
 *
 * The async form (`driveAsync` in src/threads/runtime/wait.ts) parks through `Atomics.waitAsync` and cannot
 * run in the model checker (it needs the event loop); it shares the step functions, which hold every
 * decision, and its loop mirrors this one (deadline, park time, `recordWait`).
 */
import type { AtomicsLike } from "./atomics-like.js";
import { type Clock, parkTime, type RawWaiter, recordWait } from "./waiter.js";

/** Returned by a step to ask the driver to park (on `waiter.index` / `waiter.expected`); also {@link driveBlocking}'s "timed out". */
export const PARK = -1;

/** One attempt of a wait: a result (anything but {@link PARK}), or {@link PARK} with `waiter` prepared. */
export type Step = (waiter: RawWaiter) => number;

/**
 * Runs `step(waiter)` until it returns something other than {@link PARK}, and returns that. In
 * between it parks on `w[waiter.index]` while it equals `waiter.expected`, for at most
 * `waiter.parkTimeout` ms and never past `deadline` (a `now()` reading, or `Infinity`), and reports each
 * park's outcome with `recordWait`. Returns {@link PARK} once the deadline has passed (the caller gives
 * up: undo what the steps registered). `woke`, if given, runs after each park (it may throw).
 */
export function driveBlocking(
  A: AtomicsLike,
  w: Int32Array,
  waiter: RawWaiter,
  step: Step,
  deadline: number,
  now: Clock,
  woke?: (waiter: RawWaiter) => void,
): number {
  for (;;) {
    const result = step(waiter);
    if (result !== PARK) return result;
    // No deadline: skip the clock reading (performance.now() costs ~100 ns in Node 20).
    const time = deadline === Number.POSITIVE_INFINITY ? waiter.parkTimeout : parkTime(waiter, deadline, now());
    if (time <= 0) return PARK;
    recordWait(waiter, A.wait(w, waiter.index, waiter.expected, time));
    if (woke !== undefined) woke(waiter);
  }
}
