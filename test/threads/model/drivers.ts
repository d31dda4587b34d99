/**
 * Model-checker helpers around the production wait loop. The model tests do not write their own
 * `step` + `A.wait` loops: they run `driveBlocking` (src/threads/raw/drive.ts), the loop every
 * production `*Sync` method runs, or the raw `*Blocking` function production calls. A park is either
 * untimed ({@link untimed}: a lost wake-up is a deadlock the checker sees) or timed with the waiter's
 * own `parkTimeout` (the production behaviour, polling included).
 */

import type { AtomicsLike } from "../../../src/threads/raw/atomics-like.js";
import { driveBlocking, PARK, type Step } from "../../../src/threads/raw/drive.js";
import type { RawWaiter } from "../../../src/threads/raw/waiter.js";
import type { ThreadContext } from "./explorer.js";

export { PARK };

/** How a driver parks: `untimed` hides nothing; `timed` uses `waiter.parkTimeout` as production does. */
export type ParkMode = "untimed" | "timed";

/**
 * `A` with every `wait` untimed (the timeout argument dropped). With no deadline, production's parks
 * are bounded only by the poll period, so a lost wake-up is hidden by polling; without the timeout it
 * is a deadlock the checker reports.
 */
export function untimed(A: AtomicsLike): AtomicsLike {
  return { ...bind(A), wait: (a, i, v) => A.wait(a, i, v) };
}

/** `A` for a park mode. */
export function parking(A: AtomicsLike, mode: ParkMode): AtomicsLike {
  return mode === "untimed" ? untimed(A) : A;
}

/**
 * Runs the production loop `driveBlocking` with no deadline: `step(waiter)` until it returns something
 * other than `PARK`, parking on `mem` in between (untimed or timed per `mode`). Returns the step's result.
 */
export function drive(A: AtomicsLike, mem: Int32Array, waiter: RawWaiter, step: Step, mode: ParkMode): number {
  return driveBlocking(parking(A, mode), mem, waiter, step, Number.POSITIVE_INFINITY, () => 0);
}

/** A step function from a raw `*Step` that returns `true` when done: 1 done, else `PARK`. */
export function until(done: (waiter: RawWaiter) => boolean): Step {
  return (waiter) => (done(waiter) ? 1 : PARK);
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

/**
 * Mutants: the same AtomicsLike with one deliberate defect, to show that a model test of a real
 * algorithm fails when the algorithm is broken (a test that cannot fail proves nothing).
 */
export const mutants = {
  /** Every `notify` wakes nobody (an unlock that forgets to wake its waiters). */
  dropNotify(A: AtomicsLike): AtomicsLike {
    return { ...bind(A), notify: () => 0 };
  },
  /** `compareExchange` as a load and a separate store: two scheduling points, so another thread can slip in. */
  splitCompareExchange(A: AtomicsLike): AtomicsLike {
    return {
      ...bind(A),
      compareExchange(array, index, expected, replacement) {
        const seen = A.load(array, index);
        if (seen === expected) A.store(array, index, replacement);
        return seen;
      },
    };
  },
  /** `add` as a load and a separate store (a lost update under contention). */
  splitAdd(A: AtomicsLike): AtomicsLike {
    return {
      ...bind(A),
      add(array, index, value) {
        const seen = A.load(array, index);
        A.store(array, index, seen + value);
        return seen;
      },
    };
  },
  /** `or` as a load and a separate store (a lost bit under contention). */
  splitOr(A: AtomicsLike): AtomicsLike {
    return {
      ...bind(A),
      or(array, index, value) {
        const seen = A.load(array, index);
        A.store(array, index, seen | value);
        return seen;
      },
    };
  },
};

/** `A` with some methods replaced (the others bound to `A`): the base of every mutant. */
export function patched(A: AtomicsLike, parts: Partial<AtomicsLike>): AtomicsLike {
  return { ...bind(A), ...parts };
}

/** The methods of `A` as own properties (so a mutant can spread them and replace one). */
function bind(A: AtomicsLike): AtomicsLike {
  return {
    load: (a, i) => A.load(a, i),
    store: (a, i, v) => A.store(a, i, v),
    compareExchange: (a, i, e, r) => A.compareExchange(a, i, e, r),
    exchange: (a, i, v) => A.exchange(a, i, v),
    add: (a, i, v) => A.add(a, i, v),
    sub: (a, i, v) => A.sub(a, i, v),
    and: (a, i, v) => A.and(a, i, v),
    or: (a, i, v) => A.or(a, i, v),
    wait: (a, i, v, t) => A.wait(a, i, v, t),
    notify: (a, i, c) => A.notify(a, i, c),
  };
}

/** Runs `body` with a mutated AtomicsLike in place of the stand-in. */
export function withMutant<S, R>(
  body: (ctx: ThreadContext, shared: S) => R,
  mutate: (A: AtomicsLike) => AtomicsLike,
): (ctx: ThreadContext, shared: S) => R {
  return (ctx, shared) => body({ ...ctx, atomics: mutate(ctx.atomics) }, shared);
}
