/**
 * Model checking src/threads/raw/raw-mutex.ts: every interleaving of 2–3 simulated threads within the
 * preemption bound. Checks mutual exclusion, exact counters, the word's documented invariants, no lost
 * wake-up (untimed parks: a lost wake-up is a deadlock), the STARVING/HANDOFF path under the production
 * timed parks, abandoning a wait, and owner-death recovery.
 */

import { describe, expect, it } from "vitest";
import type { AtomicsLike } from "../../../src/threads/raw/atomics-like.js";
import { markDead } from "../../../src/threads/raw/liveness-table.js";
import {
  CONTENDED,
  clearPoison,
  HANDOFF,
  isPoisoned,
  LOCKED,
  lockBlocking,
  lockStepper,
  lockWait,
  OWNER_SHIFT,
  ownerOf,
  POISONED,
  poisonLock,
  STATE_MASK,
  tryLock,
  UNLOCKED,
  unlock,
  unlockSlow,
} from "../../../src/threads/raw/raw-mutex.js";
import { newWaiter } from "../../../src/threads/raw/waiter.js";
import { mutants, ownerId, type ParkMode, parking, smallLivenessTable, withMutant } from "./drivers.js";
import {
  budget,
  check,
  explore,
  type ModelView,
  type Program,
  replay,
  sample,
  type ThreadContext,
  trace,
} from "./explorer.js";

interface Shared {
  /** [0] the mutex word, [1] a counter only touched inside the critical section, [2] test flag. */
  mem: Int32Array;
  table: Int32Array;
}

function setup(): Shared {
  // A plain Int32Array: the stand-in never blocks for real, and a SharedArrayBuffer per schedule is slow.
  return { mem: new Int32Array(3), table: smallLivenessTable() };
}

const names = (s: Shared) => ({ mem: s.mem, table: s.table });

/** Acquires: `tryLock`, then production's wait (`lockWait`, as `Mutex.lockSync`), parking as `mode` says. */
function lock(ctx: ThreadContext, s: Shared, mode: ParkMode): void {
  const A = parking(ctx.atomics, mode);
  if (tryLock(A, s.mem, 0, ownerId(ctx), s.table)) return;
  const step = lockStepper(A, s.mem, 0, ownerId(ctx), s.table, ctx.now);
  expect(lockWait(A, s.mem, 0, step, newWaiter(0), Number.POSITIVE_INFINITY, ctx.now)).toBe(true);
}

/** The critical section: a non-atomic increment (load, then store) that a second holder would break. */
function critical(ctx: ThreadContext, s: Shared): void {
  ctx.enter("cs");
  const v = ctx.atomics.load(s.mem, 1);
  ctx.atomics.store(s.mem, 1, v + 1);
  ctx.leave("cs");
}

/** The word invariants documented in raw-mutex.ts, plus: while a thread is inside, the word names it. */
function wordInvariant(onHandOff?: () => void) {
  return (s: Shared, view: ModelView) => {
    const word = s.mem[0]!;
    if ((word & STATE_MASK) === UNLOCKED && (word & ~POISONED) !== 0) {
      throw new Error(`unlocked word 0x${word.toString(16)} keeps more than POISONED`);
    }
    if ((word & HANDOFF) !== 0) {
      onHandOff?.();
      if ((word & STATE_MASK) !== CONTENDED || ownerOf(word) !== 0) {
        throw new Error(`HANDOFF word 0x${word.toString(16)} is not CONTENDED with owner 0`);
      }
    }
    if (word < 0) throw new Error("bit 31 set");
    if ((word & STATE_MASK) === 3) throw new Error("STATE 3 does not exist");
    for (const h of view.holders("cs")) {
      if (ownerOf(word) !== h.thread + 1) {
        throw new Error(`T${h.thread} is inside but the word names owner ${ownerOf(word)} (0x${word.toString(16)})`);
      }
    }
  };
}

function counterIs(expected: (view: ModelView) => number) {
  return (s: Shared, view: ModelView) => {
    expect(s.mem[1]).toBe(expected(view));
    expect(s.mem[0]! & ~POISONED).toBe(0);
  };
}

function lockers(threads: number, rounds: number, mode: ParkMode): Program<Shared> {
  return {
    setup,
    names,
    threads: Array.from({ length: threads }, () => (ctx: ThreadContext, s: Shared) => {
      for (let r = 0; r < rounds; r++) {
        lock(ctx, s, mode);
        critical(ctx, s);
        expect(unlock(ctx.atomics, s.mem, 0, ownerId(ctx))).toBe(true);
      }
    }),
    invariant: wordInvariant(),
    final: counterIs((view) => view.results.length * rounds),
  };
}

/**
 * The production loop (lockBlocking: timed parks, virtual clock) for 3 threads, checked after every
 * step for the word invariants and for eventual fairness: a hand-off is claimed only by a thread that
 * has actually slept (a newcomer may not claim one, raw-mutex.ts).
 */
function production(counts = { handOffs: 0, claimed: 0 }): Program<Shared> {
  let last = 0; // the word after the previous step of the current schedule
  return {
    ...lockers(3, 1, "timed"),
    setup: () => {
      last = 0;
      return setup();
    },
    threads: Array.from({ length: 3 }, () => (ctx: ThreadContext, s: Shared) => {
      expect(lockBlocking(ctx.atomics, s.mem, 0, ownerId(ctx), s.table, ctx.now, Number.POSITIVE_INFINITY, 0)).toBe(
        true,
      );
      critical(ctx, s);
      expect(unlock(ctx.atomics, s.mem, 0, ownerId(ctx))).toBe(true);
    }),
    invariant: (s, view) => {
      wordInvariant(() => counts.handOffs++)(s, view);
      const word = s.mem[0]!;
      if ((last & HANDOFF) !== 0 && (word & HANDOFF) === 0 && (word & STATE_MASK) !== UNLOCKED) {
        const owner = ownerOf(word) - 1;
        if (view.parks(owner) === 0) throw new Error(`T${owner} claimed a hand-off without having slept`);
        counts.claimed++;
      }
      last = word;
    },
  };
}

describe("raw mutex (model)", () => {
  it("2 threads × 2 rounds, untimed parks: exclusion, exact counter, word invariants, no lost wake-up", () => {
    const report = check(lockers(2, 2, "untimed"));
    expect(report.complete).toBe(true);
  });

  it("the guard's split unlock (its own inline swap, then unlockSlow with the value it saw)", () => {
    const split = (ctx: ThreadContext, s: Shared) => {
      for (let r = 0; r < 2; r++) {
        lock(ctx, s, "untimed");
        critical(ctx, s);
        const mine = LOCKED | (ownerId(ctx) << OWNER_SHIFT);
        const seen = ctx.atomics.compareExchange(s.mem, 0, mine, UNLOCKED);
        if (seen !== mine) expect(unlockSlow(ctx.atomics, s.mem, 0, ownerId(ctx), seen)).toBe(true);
      }
    };
    expect(check({ ...lockers(2, 2, "untimed"), threads: [split, split] }).complete).toBe(true);
  });

  it("3 threads, untimed parks", () => {
    const report = check(lockers(3, 1, "untimed"));
    expect(report.complete).toBe(true);
  });

  it("production timed parks and clock: STARVING and HANDOFF are exercised, hand-offs go to parked waiters, no lost wake-up", () => {
    const counts = { handOffs: 0, claimed: 0 };
    const program = production(counts);
    // The timed parks are FAIR_AFTER_MS (to set STARVING) and POLL_MS (a backstop): a state where every
    // thread is parked means a wake-up was lost, whatever the timeout would do later.
    // Bound 1 keeps 3 threads affordable for CI; at bound 2 (LOCKBOX_MODEL_BOUND=2) this found the
    // hand-off bug of the next test, and passes since its fix (about 40 000 schedules).
    const report = check(program, budget({ allParkedIsDeadlock: true, timeouts: 1, preemptionBound: 1 }));
    expect(report.complete).toBe(true);
    expect(counts.handOffs).toBeGreaterThan(0);
    expect(counts.claimed).toBeGreaterThan(0);
    counts.handOffs = 0;
    const two = check(
      { ...program, threads: program.threads.slice(0, 2) },
      budget({ allParkedIsDeadlock: true, timeouts: 2 }),
    );
    expect(two.complete).toBe(true);
    expect(counts.handOffs).toBeGreaterThan(0);
  });

  it("regression: a thread whose park returned not-equal cannot claim a hand-off meant for a starving waiter", () => {
    // Found by this checker at bound 2 (one timeout), fixed in raw-mutex.ts (hasSlept). T1 waits 1 ms
    // and sets STARVING. T2 arrives after that and decides to park. T0's unlock hands the lock off and
    // wakes T1. T2's wait then returns "not-equal". Before the fix, T2 counted as a waiter and claimed
    // the hand-off, and the starving T1 lost it. Now T2 parks on the HANDOFF word, and T1 gets the lock.
    const schedule = "0 0 0 0 0 1 1 1 1 1 1 ~1 1 1 1 1 2 2 2 2 0 0 0 2 2 2";
    const report = replay(production(), schedule, { timeouts: 1 });
    expect(report.failure).toBeUndefined();
    const steps = trace(production(), schedule, { timeouts: 1 }).split("\n");
    const notEqual = steps.findIndex((l) => /T2 wait\(mem\[0\], 266, 50\) -> not-equal/.test(l));
    expect(notEqual).toBeGreaterThan(0);
    expect(steps[notEqual + 2]).toMatch(/T2 wait\(mem\[0\], 18, \d+\) parks/);
    expect(steps.find((l) => /compareExchange\(mem\[0\], 18, /.test(l))).toMatch(/^ +\d+\. T1 /);
  });

  it("the spin phase (a few re-reads before parking) keeps exclusion and loses no wake-up", () => {
    const spinner = (ctx: ThreadContext, s: Shared) => {
      lockBlocking(ctx.atomics, s.mem, 0, ownerId(ctx), s.table, ctx.now, Number.POSITIVE_INFINITY, 2);
      critical(ctx, s);
      unlock(ctx.atomics, s.mem, 0, ownerId(ctx));
    };
    // Two threads at bound 2: a preemption can land inside the spin (at bound 1 it never does, since
    // the spinner only runs once the holder was preempted).
    let spun = 0;
    const report = check(
      { ...lockers(2, 1, "timed"), threads: [spinner, spinner] },
      {
        ...budget({ allParkedIsDeadlock: true, timeouts: 1 }),
        onSchedule: (steps) => {
          if (steps.filter((s) => s.text.startsWith("load(mem[0])")).length > 2) spun++;
        },
      },
    );
    expect(report.complete).toBe(true);
    expect(spun).toBeGreaterThan(0);
  });

  it("a waiter that gives up (timeout) passes a pending hand-off on: the others still get the lock", () => {
    const program: Program<Shared> = {
      setup,
      names,
      threads: [
        (ctx, s) => {
          lock(ctx, s, "timed");
          critical(ctx, s);
          unlock(ctx.atomics, s.mem, 0, ownerId(ctx));
        },
        (ctx, s) => {
          const A = ctx.atomics;
          // Gives up after 1 ms: its first park (FAIR_AFTER_MS) times out at the deadline.
          if (!lockBlocking(A, s.mem, 0, ownerId(ctx), s.table, ctx.now, 1, 0)) return "timed out";
          critical(ctx, s);
          unlock(A, s.mem, 0, ownerId(ctx));
          return "locked";
        },
        (ctx, s) => {
          lockBlocking(ctx.atomics, s.mem, 0, ownerId(ctx), s.table, ctx.now, Number.POSITIVE_INFINITY, 0);
          critical(ctx, s);
          unlock(ctx.atomics, s.mem, 0, ownerId(ctx));
        },
      ],
      invariant: wordInvariant(),
      final: counterIs((view) => (view.results[1] === "locked" ? 3 : 2)),
    };
    let gaveUp = 0;
    const report = check(program, {
      ...budget({ allParkedIsDeadlock: true, timeouts: 1, preemptionBound: 1 }),
      onSchedule: (steps) => {
        if (steps.some((s) => s.thread === 1 && s.text.startsWith("returns"))) gaveUp++;
      },
    });
    expect(report.complete).toBe(true);
    expect(gaveUp).toBeGreaterThan(0);
  });

  it("a wake-up stolen by an abandoned waitAsync costs a poll (POLL_MS), never the lock", () => {
    // unlock() wakes one waiter; SPEC §4: that notify may land on an abandoned waitAsync. The production
    // parks are timed, so the waiter polls and finds the lock free. (With untimed parks the same schedule
    // is a deadlock: the poll is what recovers a stolen wake-up.)
    let recovered = 0;
    const report = check(lockers(2, 1, "timed"), {
      ...budget({ stolenWakeups: 1, timeouts: 1 }),
      onSchedule: (steps) => {
        const stolen = steps.findIndex((s) => s.text.includes("(wakes an abandoned waitAsync)"));
        if (stolen >= 0 && steps.some((s, i) => i > stolen && s.text.includes("times out"))) recovered++;
      },
    });
    expect(report.complete).toBe(true);
    expect(recovered).toBeGreaterThan(0);
  });

  it("poison is sticky across unlocks, seen by the next holder, and cleared only by clearPoison", () => {
    const program: Program<Shared> = {
      setup,
      names,
      threads: [
        (ctx, s) => {
          lock(ctx, s, "untimed");
          critical(ctx, s);
          ctx.atomics.store(s.mem, 2, 1); // "the poisoner held the lock"
          poisonLock(ctx.atomics, s.mem, 0);
          unlock(ctx.atomics, s.mem, 0, ownerId(ctx));
        },
        (ctx, s) => {
          lock(ctx, s, "untimed");
          const poisoned = isPoisoned(ctx.atomics, s.mem, 0);
          expect(poisoned).toBe(ctx.atomics.load(s.mem, 2) === 1);
          critical(ctx, s);
          if (poisoned) clearPoison(ctx.atomics, s.mem, 0);
          unlock(ctx.atomics, s.mem, 0, ownerId(ctx));
          return poisoned;
        },
        (ctx, s) => {
          lock(ctx, s, "untimed");
          critical(ctx, s);
          unlock(ctx.atomics, s.mem, 0, ownerId(ctx));
        },
      ],
      invariant: wordInvariant(),
      final: (s, view) => {
        expect(s.mem[1]).toBe(3);
        expect(s.mem[0]).toBe(view.results[1] ? 0 : POISONED);
      },
    };
    expect(check(program, budget({ preemptionBound: 1 })).complete).toBe(true);
  });

  it("unlock by a thread that does not hold the lock changes nothing", () => {
    const program: Program<Shared> = {
      setup,
      names,
      threads: [
        (ctx, s) => {
          lock(ctx, s, "untimed");
          critical(ctx, s);
          unlock(ctx.atomics, s.mem, 0, ownerId(ctx));
        },
        (ctx, s) => {
          expect(unlock(ctx.atomics, s.mem, 0, ownerId(ctx))).toBe(false);
          lock(ctx, s, "untimed");
          critical(ctx, s);
          expect(unlock(ctx.atomics, s.mem, 0, ownerId(ctx))).toBe(true);
          expect(unlock(ctx.atomics, s.mem, 0, ownerId(ctx))).toBe(false);
        },
      ],
      invariant: wordInvariant(),
      final: counterIs(() => 2),
    };
    expect(check(program).complete).toBe(true);
  });

  it("owner death: the lock is reaped, poisoned, and every waiter gets it in turn", () => {
    const dying = (ctx: ThreadContext, s: Shared) => {
      lock(ctx, s, "timed");
      critical(ctx, s);
      ctx.atomics.store(s.mem, 2, 1); // "the owner that will die got the lock
      // Dies holding the lock; its supervisor records the death.
      markDead(ctx.atomics, s.table, ownerId(ctx));
    };
    const waiter = (ctx: ThreadContext, s: Shared) => {
      const A: AtomicsLike = ctx.atomics;
      expect(lockBlocking(A, s.mem, 0, ownerId(ctx), s.table, ctx.now, Number.POSITIVE_INFINITY, 0)).toBe(true);
      // Poisoned exactly when the dying owner had the lock before us (then we got it by reaping).
      expect(isPoisoned(A, s.mem, 0)).toBe(A.load(s.mem, 2) === 1);
      critical(ctx, s);
      unlock(A, s.mem, 0, ownerId(ctx));
    };
    const program: Program<Shared> = {
      setup,
      names,
      threads: [dying, waiter, waiter],
      invariant: (s, view) => {
        const word = s.mem[0]!;
        if ((word & STATE_MASK) === UNLOCKED && (word & ~POISONED) !== 0) throw new Error("unlocked word keeps flags");
        for (const h of view.holders("cs")) {
          if (ownerOf(word) !== h.thread + 1) throw new Error(`T${h.thread} inside, word names ${ownerOf(word)}`);
        }
      },
      final: (s) => {
        expect(s.mem[1]).toBe(3);
        // Either a waiter came after the death and reaped the lock (released, POISONED sticky), or both
        // waiters were done before the owner took it, and it stays held by the dead owner.
        const reaped = s.mem[0] === POISONED;
        const heldByDead = ownerOf(s.mem[0]!) === 1 && (s.mem[0]! & STATE_MASK) !== UNLOCKED;
        expect(reaped || heldByDead).toBe(true);
      },
    };
    // Death is noticed by polling (a parked waiter wakes on POLL_MS): timeouts are needed here.
    const report = check(program, budget({ timeouts: 1, preemptionBound: 1 }));
    expect(report.complete).toBe(true);
  });
});

describe("raw mutex (random walks beyond the bound)", () => {
  // With a small spin budget: a newcomer spins before its first park, a waiter again after each wake-up.
  const twice = (ctx: ThreadContext, s: Shared) => {
    for (let r = 0; r < 2; r++) {
      lockBlocking(ctx.atomics, s.mem, 0, ownerId(ctx), s.table, ctx.now, Number.POSITIVE_INFINITY, 2);
      critical(ctx, s);
      unlock(ctx.atomics, s.mem, 0, ownerId(ctx));
    }
  };

  it("4 threads × 2 rounds through the production loop: 200 random walks, exclusion, fairness, no lost lock", () => {
    const program: Program<Shared> = {
      ...production(),
      threads: [twice, twice, twice, twice],
      final: counterIs(() => 8),
    };
    // "Everyone parked" counts as a deadlock: a free lock must never wait for a poll.
    const report = sample(program, { runs: 200, timeouts: 4, allParkedIsDeadlock: true });
    if (report.failure) throw new Error(report.failure.trace);
    expect(report.schedules).toBeGreaterThanOrEqual(200);
  });

  it("regression: a waiter that never slept sets no STARVING, so no hand-off stalls until a poll", () => {
    // Found by random walks after the hand-off fix. T2 decided to park while T0 held the lock, but its
    // park returned "not-equal". After 1 ms (T1's FAIR_AFTER_MS timeout) T1 held the lock, and T2 —
    // counted as a waiter with 1 ms elapsed — set STARVING without ever having slept. T1's unlock turned
    // it into HANDOFF, which T2 could not claim (hasSlept was false): the lock sat free and reserved for
    // up to POLL_MS (word 2|STARVING|HANDOFF = 26). Now only a waiter that slept sets STARVING. The same
    // seeded search that found the stall finds nothing.
    const report = sample(production(), { runs: 3_000, seed: 1, timeouts: 3, allParkedIsDeadlock: true });
    if (report.failure) throw new Error(report.failure.trace);
    expect(report.schedules).toBeGreaterThanOrEqual(3_000);
  });
});

describe("raw mutex mutants: these model tests can fail", () => {
  const mutated = (mutate: typeof mutants.dropNotify) => {
    const base = lockers(2, 1, "untimed");
    return { ...base, threads: base.threads.map((body) => withMutant(body, mutate)) };
  };

  it("an unlock whose notify wakes nobody: the waiter sleeps forever", () => {
    const report = explore(mutated(mutants.dropNotify));
    expect(report.failure?.kind).toBe("deadlock");
    expect(replay(mutated(mutants.dropNotify), report.failure!.schedule).failure?.kind).toBe("deadlock");
  });

  it("a compareExchange split into load and store: two owners at once", () => {
    // With waiting, the mutant first loses a wake-up (a deadlock, found with fewer preemptions).
    expect(explore(mutated(mutants.splitCompareExchange)).failure?.kind).toBe("deadlock");
    // With tryLock only, nobody parks, and the two owners show up.
    const tryOnly = (ctx: ThreadContext, s: Shared) => {
      if (!tryLock(ctx.atomics, s.mem, 0, ownerId(ctx), s.table)) return;
      critical(ctx, s);
      unlock(ctx.atomics, s.mem, 0, ownerId(ctx));
    };
    const report = explore({
      setup,
      names,
      threads: [tryOnly, tryOnly].map((b) => withMutant(b, mutants.splitCompareExchange)),
    });
    expect(report.failure?.kind).toBe("exclusion");
    expect(check({ setup, names, threads: [tryOnly, tryOnly] }).complete).toBe(true); // the unmutated twin passes
  });
});
