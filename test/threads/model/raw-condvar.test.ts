/**
 * Model checking src/threads/raw/raw-condvar.ts over the raw mutex: no lost wake-up (untimed parks:
 * a lost notify is a deadlock), a notify that lands after the waiter released the mutex but before it
 * parked still wakes it, items are handed over exactly once, `notifyOne` wakes exactly one waiter
 * even with polling parks and wake-ups swallowed by abandoned `waitAsync`s, and a waiter that gives up
 * leaves the ledger balanced.
 */

import { describe, expect, it } from "vitest";
import {
  LEFT,
  leave,
  notifyAll,
  notifyOne,
  PARK,
  register,
  WOKEN,
  waitBlocking,
  waitStep,
  waitWhileLoop,
} from "../../../src/threads/raw/raw-condvar.js";
import { lockStep, tryLock, unlock } from "../../../src/threads/raw/raw-mutex.js";
import { newWaiter, parkTime } from "../../../src/threads/raw/waiter.js";
import { drive, mutants, ownerId, type ParkMode, parking, until, untimed, withMutant } from "./drivers.js";
import { budget, check, explore, type Program, sample, type ThreadContext } from "./explorer.js";

const MUTEX = 0;
/** SEQ at 1, LEDGER at 2. */
const CONDVAR = 1;
const LEDGER = 2;
const ITEMS = 3;

/** `mem`: [0] mutex word, [1] condvar sequence, [2] condvar ledger, [3] items (guarded by the mutex). */
type Shared = Int32Array;

/** The mutex parks untimed (a lost wake-up is a deadlock), or timed as in production (it polls). */
function lock(ctx: ThreadContext, mem: Shared, mode: ParkMode = "untimed"): void {
  const A = ctx.atomics;
  if (tryLock(A, mem, MUTEX, ownerId(ctx), undefined)) return;
  const waiter = newWaiter(0);
  drive(
    A,
    mem,
    waiter,
    until((waiter) => lockStep(A, mem, MUTEX, ownerId(ctx), undefined, waiter, ctx.now)),
    mode,
  );
}

function release(ctx: ThreadContext, mem: Shared): void {
  expect(unlock(ctx.atomics, mem, MUTEX, ownerId(ctx))).toBe(true);
}

/** Condvar wait as Condvar.wait runs it: register under the mutex, unlock, step/park until woken, re-lock. */
function wait(ctx: ThreadContext, mem: Shared, parks: ParkMode): void {
  const A = ctx.atomics;
  expect(register(A, mem, CONDVAR)).toBe(true);
  release(ctx, mem);
  const _waiter = newWaiter(0);
  expect(waitBlocking(parking(A, parks), mem, CONDVAR, ctx.now, Number.POSITIVE_INFINITY)).toBe(true);
  lock(ctx, mem, parks);
}

/** Takes one item, waiting while there is none. */
function consumerWith(parks: ParkMode) {
  return (ctx: ThreadContext, mem: Shared): void => {
    lock(ctx, mem, parks);
    ctx.enter("guarded");
    ctx.leave("guarded");
    while (ctx.atomics.load(mem, ITEMS) === 0) wait(ctx, mem, parks);
    ctx.atomics.sub(mem, ITEMS, 1);
    release(ctx, mem);
  };
}

const consumer = consumerWith("untimed");

function producer(items: number, wake: "one" | "all", parks: ParkMode = "untimed") {
  return (ctx: ThreadContext, mem: Shared) => {
    for (let k = 0; k < items; k++) {
      lock(ctx, mem, parks);
      ctx.atomics.add(mem, ITEMS, 1);
      if (wake === "one") notifyOne(ctx.atomics, mem, CONDVAR);
      else notifyAll(ctx.atomics, mem, CONDVAR);
      release(ctx, mem);
    }
  };
}

function program(threads: Program<Shared>["threads"]): Program<Shared> {
  return {
    setup: () => new Int32Array(4),
    names: (mem) => ({ mem }),
    threads,
    invariant: (mem) => {
      if (mem[ITEMS]! < 0) throw new Error(`items went negative: ${mem[ITEMS]}`);
    },
    final: (mem) => {
      expect(mem[ITEMS]).toBe(0);
      expect(mem[MUTEX]).toBe(0);
      // Every waiter that registered has claimed its wake-up or left.
      expect(mem[LEDGER]).toBe(0);
    },
  };
}

/**
 * One timed wait, as the production loop runs it (Condvar.#wait / #waitSync): claim or park (bounded
 * by the poll period) until `timeout`, then leave. Returns "woken" or "timed out".
 */
function timedWaiter(timeout: number, claim = waitStep) {
  return (ctx: ThreadContext, mem: Shared): string => {
    const A = ctx.atomics;
    lock(ctx, mem);
    expect(register(A, mem, CONDVAR)).toBe(true);
    release(ctx, mem);
    const waiter = newWaiter(0);
    const deadline = ctx.now() + timeout;
    let outcome = "woken";
    while (claim(A, mem, CONDVAR, waiter) === PARK) {
      const time = parkTime(waiter, deadline, ctx.now());
      if (time <= 0) {
        outcome = leave(A, mem, CONDVAR) === LEFT ? "timed out" : "woken";
        break;
      }
      A.wait(mem, waiter.index, waiter.expected, time);
    }
    lock(ctx, mem);
    release(ctx, mem);
    return outcome;
  };
}

/** notifyOne under the mutex, once. */
function notifier(ctx: ThreadContext, mem: Shared): void {
  lock(ctx, mem);
  notifyOne(ctx.atomics, mem, CONDVAR);
  release(ctx, mem);
}

/** Two timed waiters and one notifyOne: at most one wakes, and the ledger ends balanced. */
function exactlyOne(claim = waitStep): Program<Shared> {
  return {
    setup: () => new Int32Array(4),
    names: (mem) => ({ mem }),
    threads: [timedWaiter(60, claim), timedWaiter(60, claim), notifier],
    final: (mem, view) => {
      const woken = view.results.filter((r) => r === "woken").length;
      expect(woken, `waiters woken by one notifyOne: ${view.results.join(", ")}`).toBeLessThanOrEqual(1);
      expect(mem[LEDGER]).toBe(0);
    },
  };
}

describe("raw condvar (model)", () => {
  it("1 consumer, 1 producer: no lost wake-up", () => {
    expect(check(program([consumer, producer(1, "one")])).complete).toBe(true);
  });

  it("2 consumers, 1 producer of 2 items with notifyOne: every consumer is woken", () => {
    expect(check(program([consumer, consumer, producer(2, "one")]), budget({ preemptionBound: 1 })).complete).toBe(
      true,
    );
  });

  it("2 consumers, 1 producer of 2 items with notifyAll", () => {
    expect(check(program([consumer, consumer, producer(2, "all")]), budget({ preemptionBound: 1 })).complete).toBe(
      true,
    );
  });

  it("a notify issued after the waiter released the mutex but before it parked still wakes it", () => {
    let covered = 0;
    const report = check(program([consumer, producer(1, "one")]), {
      onSchedule(steps) {
        const lines = steps.map((s) => `T${s.thread} ${s.text}`);
        for (let w = 0; w < lines.length; w++) {
          if (!lines[w]!.startsWith("T0 wait(mem[1]")) continue;
          const unlocked = lines.findLastIndex((l, i) => i < w && l.startsWith("T0 compareExchange(mem[0]"));
          const notified = lines.findIndex((l, i) => i > unlocked && i < w && l.startsWith("T1 notify(mem[1]"));
          if (unlocked >= 0 && notified > unlocked) {
            const stepped = lines.findLastIndex((l, i) => i < notified && l.startsWith("T0 load(mem[1])"));
            if (stepped > unlocked) {
              // The sequence moved on after the step read it: the park returns at once.
              expect(lines[w]).toMatch(/-> not-equal$/);
              covered++;
            }
          }
        }
      },
    });
    expect(report.complete).toBe(true);
    expect(covered).toBeGreaterThan(0);
  });

  it("stolen wake-ups: notifyOne's single wake-up may land on a phantom; the bounded park recovers it", () => {
    // SPEC §4: an abandoned waitAsync can swallow a notify(…, 1). The wake-up stays PENDING in the
    // ledger, so the real waiter claims it at its next poll.
    const report = check(program([consumerWith("timed"), producer(1, "one", "timed")]), {
      ...budget({ timeouts: 1, preemptionBound: 1 }),
      stolenWakeups: 1,
    });
    expect(report.complete).toBe(true);
    // With untimed parks the stolen wake-up is a deadlock: the poll is what recovers it.
    const untimed = explore(program([consumer, producer(1, "one")]), { stolenWakeups: 1 });
    expect(untimed.failure?.kind).toBe("deadlock");
    expect(untimed.failure?.trace).toContain("wakes an abandoned waitAsync");
  });

  it("notifyOne wakes exactly one of two polling waiters, and a waiter that times out leaves the ledger balanced", () => {
    let bothWaited = 0;
    const report = check(exactlyOne(), {
      ...budget({ preemptionBound: 0, timeouts: 2 }),
      onSchedule: (steps) => {
        if (steps.filter((s) => s.text.startsWith("wait(mem[1]")).length >= 2) bothWaited++;
      },
    });
    expect(report.complete).toBe(true);
    expect(bothWaited).toBeGreaterThan(0);
  });

  it("waiters re-check their condition: spurious wake-ups cost nothing", () => {
    const report = check(program([consumer, producer(1, "one")]), { ...budget({}), spuriousWakeups: 1 });
    expect(report.complete).toBe(true);
  });
});

describe("raw condvar (random walks beyond the bound)", () => {
  it("2 consumers and 2 producers with notifyOne: 300 random walks", () => {
    const report = sample(program([consumer, consumer, producer(1, "one"), producer(1, "one")]), { runs: 300 });
    if (report.failure) throw new Error(report.failure.trace);
    expect(report.schedules).toBeGreaterThanOrEqual(300);
  });
});

describe("raw condvar mutants: these model tests can fail", () => {
  it("a condvar notify that wakes nobody: the consumer sleeps forever", () => {
    // Only the condvar's own notify is dropped; the mutex still wakes its waiters.
    const dropCondvarNotify = (A: Parameters<typeof mutants.dropNotify>[0]) => ({
      ...mutants.dropNotify(A),
      notify: (array: Int32Array, index: number, count?: number) =>
        index === CONDVAR ? 0 : A.notify(array, index, count),
    });
    const report = explore(program([consumer, withMutant(producer(1, "one"), dropCondvarNotify)]));
    expect(report.failure?.kind).toBe("deadlock");
    expect(report.failure?.message).toMatch(/T0 parked on mem\[1\]/);
  });

  it("a consumer that registers after unlocking: the notify in between finds nobody and is lost", () => {
    const late = (ctx: ThreadContext, mem: Shared) => {
      lock(ctx, mem);
      while (ctx.atomics.load(mem, ITEMS) === 0) {
        release(ctx, mem);
        register(ctx.atomics, mem, CONDVAR); // BUG (on purpose): after the unlock
        const _waiter = newWaiter(0);
        waitBlocking(untimed(ctx.atomics), mem, CONDVAR, ctx.now, Number.POSITIVE_INFINITY);
        lock(ctx, mem);
      }
      ctx.atomics.sub(mem, ITEMS, 1);
      release(ctx, mem);
    };
    expect(explore(program([late, producer(1, "one")])).failure?.kind).toBe("deadlock");
  });

  it("the old wake-up rule (return once the sequence moved) wakes both waiters on one notifyOne", () => {
    // The pre-ledger Condvar: a polling waiter returned as soon as SEQ differed from what it read.
    const seqOnly: typeof waitStep = (A, w, i, waiter) => {
      if (waiter.parked && A.load(w, i) !== waiter.expected) {
        // Claims nothing, but keeps the ledger balanced so that only the wake-up count is wrong.
        leave(A, w, i);
        return WOKEN;
      }
      waiter.parked = true;
      waiter.index = i;
      waiter.expected = A.load(w, i);
      waiter.parkTimeout = 50;
      return PARK;
    };
    const report = explore(exactlyOne(seqOnly), { preemptionBound: 0, timeouts: 2 });
    expect(report.failure?.kind).toBe("final");
    expect(report.failure?.message).toMatch(/waiters woken by one notifyOne/);
  });
});

describe("the shipped waitWhileSync loop (waitWhileLoop over waitBlocking), with a condition that throws", () => {
  /**
   * A consumer in `Condvar.waitWhileSync`: the loop and the wait are the production functions; the
   * guard is modelled as the mutex word held by this thread. The condition waits while ITEMS is 0 and
   * throws when it reads 2 (a condition that fails after a wake-up).
   */
  const consumerOf =
    (loop: typeof waitWhileLoop) =>
    (ctx: ThreadContext, mem: Shared): string => {
      const A = ctx.atomics;
      lock(ctx, mem, "timed");
      try {
        loop(
          "held",
          () => {
            const items = A.load(mem, ITEMS);
            if (items === 2) throw new Error("condition failed");
            return items === 0;
          },
          (guard) => {
            expect(register(A, mem, CONDVAR)).toBe(true);
            release(ctx, mem);
            waitBlocking(A, mem, CONDVAR, ctx.now, Number.POSITIVE_INFINITY);
            lock(ctx, mem, "timed");
            return guard;
          },
          () => release(ctx, mem),
        );
      } catch (error) {
        // Only the condition's own error: the checker's preemption signal must pass through.
        if (!(error instanceof Error && error.message === "condition failed")) throw error;
        return "threw";
      }
      release(ctx, mem);
      return "done";
    };

  const setTo = (value: number) => (ctx: ThreadContext, mem: Shared) => {
    lock(ctx, mem, "timed");
    ctx.atomics.store(mem, ITEMS, value);
    notifyOne(ctx.atomics, mem, CONDVAR);
    release(ctx, mem);
  };

  const programOf = (loop: typeof waitWhileLoop): Program<Shared> => ({
    setup: () => new Int32Array(4),
    names: (mem) => ({ mem }),
    threads: [consumerOf(loop), setTo(2)],
    final: (mem, view) => {
      expect(view.results[0]).toBe("threw");
      // Whatever the interleaving, the consumer holds nothing afterwards and left the ledger balanced.
      expect(mem[MUTEX], "mutex word after the condition threw").toBe(0);
      expect(mem[LEDGER]).toBe(0);
    },
  });

  it("the mutex is free and the ledger balanced after the condition throws, in every interleaving", () => {
    let afterWakeUp = 0;
    const report = check(programOf(waitWhileLoop), {
      ...budget({ preemptionBound: 2, timeouts: 1 }),
      onSchedule: (steps) => {
        if (steps.some((s) => s.thread === 0 && s.text.startsWith("wait(mem[1]"))) afterWakeUp++;
      },
    });
    expect(report.complete).toBe(true);
    expect(afterWakeUp).toBeGreaterThan(0);
  });

  it("mutant: the pre-fix loop (no release when the condition throws) leaves the mutex locked", () => {
    const leaky: typeof waitWhileLoop = (current, condition, wait) => {
      while (condition(current)) current = wait(current);
      return current;
    };
    const report = explore(programOf(leaky), { preemptionBound: 1, timeouts: 1 });
    expect(report.failure?.kind).toBe("final");
    expect(report.failure?.message).toMatch(/mutex word after the condition threw/);
  });
});
