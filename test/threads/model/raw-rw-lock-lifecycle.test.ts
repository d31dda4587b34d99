/**
 * Model checking the upgradable guard's lifecycle (src/threads/raw/rw-upgrade.ts), the protocol
 * `RwLockUpgradableReadGuard` runs, with two tasks of one thread.
 *
 * Tasks of one thread share one owner id: that is what let an orphaned upgrade take another task's
 * share (issue 9, finding 1). Here thread X's two tasks are two simulated threads with the same owner
 * id on one event loop (`loops`): the checker switches between them only where one parks, returns or
 * awaits (`ctx.yieldTask()`), as the event loop does, while thread Y preempts them anywhere.
 *
 * Start state (built by `setup`, so that the checker spends its budget on the interesting part):
 * task A (T0) holds an upgradable guard `g` of thread X (owner 1), and thread Y (T2, owner 3) holds a
 * read share, so an upgrade must wait for Y. Both shares are recorded in reader slots.
 */
import { describe, expect, it } from "vitest";
import {
  abandonUpgrade,
  beginUpgrade,
  COUNT_MASK,
  downgradeUpgradableGuard,
  GUARD_HELD,
  GUARD_UPGRADING,
  giveUpUpgrade,
  READER_SLOTS,
  RW_LOCK_WORDS,
  readUnlock,
  registerReader,
  releaseUpgradableGuard,
  SLOTS,
  tryUpgradableRead,
  tryUpgradeGuard,
  UPGRADABLE,
  UPGRADE_CANCELLED,
  UPGRADE_DONE,
  UPGRADER_WAITING,
  UPGRADER_WORD,
  unregisterReader,
  upgradableReadStepReaping,
  upgradableUnlock,
  upgradeGuardStep,
  upgradeStep,
  WRITE_LOCKED,
  WRITERS_WAITING,
  writeUnlock,
} from "../../../src/threads/raw/raw-rw-lock.js";
import { newWaiter, type RawWaiter } from "../../../src/threads/raw/waiter.js";
import { drive, PARK, smallLivenessTable, until } from "./drivers.js";
import { budget, check, explore, type ModelView, type Program, type ThreadContext } from "./explorer.js";

/** Owner ids: thread X runs tasks T0 and T1; thread Y is T2. */
const X = 1;
const Y = 3;
const OWNER = [X, X, Y];
const COUNTER = RW_LOCK_WORDS;
/** Guard words: `g` (task A's upgradable guard), `g2` (task B's own, if it takes one). */
const G = RW_LOCK_WORDS + 1;
const G2 = RW_LOCK_WORDS + 2;
/** A guard word that stays UPGRADING whatever happens to `g` (for the mutant step that ignores `g`). */
const BLIND = RW_LOCK_WORDS + 3;

interface Shared {
  mem: Int32Array;
  table: Int32Array;
  g: Int32Array;
  g2: Int32Array;
}

function setup(): Shared {
  const mem = new Int32Array(RW_LOCK_WORDS + 4);
  mem[BLIND] = GUARD_UPGRADING;
  mem[0] = 2 | UPGRADABLE; // X's upgradable share and Y's read share
  mem[UPGRADER_WORD] = X;
  mem.set([X, 1, Y, 1], SLOTS);
  return { mem, table: smallLivenessTable(), g: mem.subarray(G, G + 1), g2: mem.subarray(G2, G2 + 1) };
}

const names = (s: Shared) => ({ lock: s.mem, table: s.table });

function sharesInSlots(mem: Int32Array): number {
  let sum = 0;
  for (let k = 0; k < READER_SLOTS; k++) sum += mem[SLOTS + 1 + 2 * k]!;
  return sum;
}

/** The word agrees with who is inside: a write lock's owner id covers every thread inside. */
function invariant(s: Shared, view: ModelView): void {
  const word = s.mem[0]!;
  const holders = view.holders("rw");
  if (word & WRITE_LOCKED) {
    const owner = word & COUNT_MASK;
    for (const h of holders) {
      if (OWNER[h.thread] !== owner) throw new Error(`T${h.thread} inside while owner ${owner} holds the write lock`);
    }
    return;
  }
  if (holders.some((h) => h.mode === "exclusive")) throw new Error("a writer inside, the word is not write-locked");
  if (holders.length > (word & COUNT_MASK)) throw new Error(`${holders.length} inside, COUNT ${word & COUNT_MASK}`);
  if (sharesInSlots(s.mem) > (word & COUNT_MASK)) throw new Error("the slots hold more shares than COUNT");
}

/** Everything given back: free, no flags, no slot shares, no upgrader; one write per upgrade. */
function final(s: Shared, view: ModelView): void {
  expect(s.mem[0]).toBe(0);
  expect(sharesInSlots(s.mem)).toBe(0);
  expect(s.mem[UPGRADER_WORD]).toBe(0);
  const upgrades = view.results.filter((r) => r === "upgraded").length;
  expect(s.mem[COUNTER]).toBe(upgrades);
}

type Upgrade = (ctx: ThreadContext, s: Shared, waiter: RawWaiter) => number;

/** The shipped step (what `upgrade()` runs). */
const shippedStep: Upgrade = (ctx, s, waiter) => upgradeGuardStep(ctx.atomics, s.mem, 0, X, s.g, true, waiter);

/** Task A: `upgrade()` on `g`, parking untimed (a lost wake-up is a deadlock); writes once if it wins. */
function upgrader(step: Upgrade = shippedStep) {
  return (ctx: ThreadContext, s: Shared) => {
    const A = ctx.atomics;
    if (beginUpgrade(A, s.g) !== GUARD_HELD) return "refused";
    const waiter = newWaiter(0);
    const outcome = drive(
      A,
      s.mem,
      waiter,
      (w) => {
        const result = step(ctx, s, w);
        return result === UPGRADE_CANCELLED || result === UPGRADE_DONE ? result : PARK;
      },
      "untimed",
    );
    if (outcome === UPGRADE_CANCELLED) return "cancelled";
    ctx.enter("rw", "exclusive");
    A.store(s.mem, COUNTER, A.load(s.mem, COUNTER) + 1);
    ctx.leave("rw");
    expect(writeUnlock(A, s.mem, 0, X)).toBe(true);
    return "upgraded";
  };
}

/** Thread Y: inside with its share from the start, then leaves. */
function reader(ctx: ThreadContext, s: Shared): void {
  ctx.enter("rw", "shared");
  ctx.leave("rw");
  unregisterReader(ctx.atomics, s.mem, 0, Y);
  expect(readUnlock(ctx.atomics, s.mem, 0)).toBe(true);
}

/** Task B takes an upgradable read of its own (guard `g2`), reads, and releases it. */
function takeOwnUpgradable(ctx: ThreadContext, s: Shared): void {
  const A = ctx.atomics;
  if (!tryUpgradableRead(A, s.mem, 0, X, s.table)) {
    const waiter = newWaiter(0);
    drive(
      A,
      s.mem,
      waiter,
      until((waiter) => upgradableReadStepReaping(A, s.mem, 0, X, s.table, waiter, ctx.now)),
      "untimed",
    );
  }
  const tracked = registerReader(A, s.mem, 0, X);
  ctx.enter("rw", "shared");
  ctx.yieldTask(); // awaits something while it holds the guard
  ctx.leave("rw");
  expect(releaseUpgradableGuard(A, s.mem, 0, X, s.g2, tracked)).toBe(true);
}

type Release = (ctx: ThreadContext, s: Shared) => boolean;
const shippedRelease: Release = (ctx, s) => releaseUpgradableGuard(ctx.atomics, s.mem, 0, X, s.g, true);

/** Task B: `release()` of task A's guard (perhaps while its upgrade is pending), then an upgradable read of its own. */
function releaser(release: Release = shippedRelease) {
  return (ctx: ThreadContext, s: Shared) => {
    const released = release(ctx, s);
    ctx.yieldTask(); // await lock.upgradableRead()
    takeOwnUpgradable(ctx, s);
    return released ? "released" : "already done";
  };
}

/** Task B: `downgrade()` of task A's guard, then reads with the plain share it got. */
function downgrader(ctx: ThreadContext, s: Shared) {
  const A = ctx.atomics;
  if (!downgradeUpgradableGuard(A, s.mem, 0, X, s.g)) return "already done";
  ctx.enter("rw", "shared");
  ctx.leave("rw");
  unregisterReader(A, s.mem, 0, X);
  expect(readUnlock(A, s.mem, 0)).toBe(true);
  return "downgraded";
}

function program(threads: Program<Shared>["threads"]): Program<Shared> {
  return { setup, names, threads, invariant, final, loops: [0, 0, 1] };
}

describe("upgradable guard lifecycle (model, two tasks of one thread)", () => {
  it("release() while upgrade() is pending cancels it; the releasing task's own upgradable read is never taken", () => {
    const outcomes = new Set<string>();
    const report = check(
      {
        ...program([upgrader(), releaser(), reader]),
        final: (s, view) => {
          final(s, view);
          outcomes.add(`${view.results[0]}/${view.results[1]}`);
        },
      },
      budget({ preemptionBound: 2 }),
    );
    expect(report.complete).toBe(true);
    // Every order happens: released before upgrade() began (refused), while pending (cancelled), or
    // after it won (the release then does nothing).
    expect(outcomes).toEqual(new Set(["refused/released", "cancelled/released", "upgraded/already done"]));
  });

  it("downgrade() while upgrade() is pending cancels it; the plain share stays valid", () => {
    const outcomes = new Set<string>();
    const report = check(
      {
        ...program([upgrader(), downgrader, reader]),
        final: (s, view) => {
          final(s, view);
          outcomes.add(`${view.results[0]}/${view.results[1]}`);
        },
      },
      budget({ preemptionBound: 2 }),
    );
    expect(report.complete).toBe(true);
    expect(outcomes).toEqual(new Set(["refused/downgraded", "cancelled/downgraded", "upgraded/already done"]));
  });

  it("two upgrade() calls on one guard: one is refused, the other completes once the reader leaves", () => {
    const outcomes = new Set<string>();
    const report = check(
      {
        ...program([upgrader(), upgrader(), reader]),
        final: (s, view) => {
          final(s, view);
          outcomes.add([view.results[0], view.results[1]].sort().join("/"));
        },
      },
      budget({ preemptionBound: 2 }),
    );
    expect(report.complete).toBe(true);
    expect(outcomes).toEqual(new Set(["refused/upgraded"]));
  });

  it("tryUpgrade() while upgrade() is pending fails; the pending upgrade completes", () => {
    const tryUpgrader = (ctx: ThreadContext, s: Shared) => {
      // Task B calls tryUpgrade on task A's guard; only succeeds if no upgrade is pending.
      if (!tryUpgradeGuard(ctx.atomics, s.mem, 0, X, s.g, true)) return "not now";
      ctx.enter("rw", "exclusive");
      ctx.atomics.store(s.mem, COUNTER, ctx.atomics.load(s.mem, COUNTER) + 1);
      ctx.leave("rw");
      expect(writeUnlock(ctx.atomics, s.mem, 0, X)).toBe(true);
      return "upgraded";
    };
    const outcomes = new Set<string>();
    const report = check(
      {
        ...program([upgrader(), tryUpgrader, reader]),
        final: (s, view) => {
          final(s, view);
          outcomes.add(`${view.results[0]}/${view.results[1]}`);
        },
      },
      budget({ preemptionBound: 2 }),
    );
    expect(report.complete).toBe(true);
    // tryUpgrade wins only before upgrade() began (then upgrade() finds the guard done).
    expect(outcomes).toEqual(new Set(["upgraded/not now", "refused/upgraded"]));
  });
});

type GiveUp = (ctx: ThreadContext, s: Shared) => void;
const shippedGiveUp: GiveUp = (ctx, s) => giveUpUpgrade(ctx.atomics, s.mem, 0, s.g);

/**
 * Task A: `upgrade({ timeout })` that times out (timed parks, one timeout in the budget), then, as user
 * code catching the TimeoutError would, releases its guard.
 */
function quittingUpgrader(giveUp: GiveUp = shippedGiveUp) {
  return (ctx: ThreadContext, s: Shared) => {
    const A = ctx.atomics;
    if (beginUpgrade(A, s.g) !== GUARD_HELD) return "refused";
    const waiter = newWaiter(0);
    for (;;) {
      const outcome = shippedStep(ctx, s, waiter);
      if (outcome === UPGRADE_CANCELLED) return "cancelled";
      if (outcome === UPGRADE_DONE) break;
      if (A.wait(s.mem, waiter.index, waiter.expected, waiter.parkTimeout) === "timed-out") {
        giveUp(ctx, s);
        ctx.yieldTask(); // the rejection reaches the caller's catch
        releaseUpgradableGuard(A, s.mem, 0, X, s.g, true);
        return "gave up";
      }
    }
    ctx.enter("rw", "exclusive");
    A.store(s.mem, COUNTER, A.load(s.mem, COUNTER) + 1);
    ctx.leave("rw");
    expect(writeUnlock(A, s.mem, 0, X)).toBe(true);
    return "upgraded";
  };
}

describe("upgradable guard lifecycle: an upgrade that times out (model)", () => {
  it("giving up races with release() by another task: the guard is never taken twice", () => {
    const outcomes = new Set<string>();
    const report = check(
      {
        ...program([quittingUpgrader(), releaser(), reader]),
        final: (s, view) => {
          final(s, view);
          outcomes.add(String(view.results[0]));
        },
      },
      budget({ preemptionBound: 1, timeouts: 1 }),
    );
    expect(report.complete).toBe(true);
    expect(outcomes.has("gave up")).toBe(true);
  });

  it("mutant: a give-up that stores HELD over a release resurrects the guard, which then frees the other task's share", () => {
    const careless: GiveUp = (ctx, s) => {
      ctx.atomics.store(s.g, 0, GUARD_HELD);
      abandonUpgrade(ctx.atomics, s.mem, 0);
    };
    const report = explore(program([quittingUpgrader(careless), releaser(), reader]), {
      preemptionBound: 1,
      timeouts: 1,
    });
    expect(["invariant", "thread-error", "exclusion", "final"]).toContain(report.failure?.kind);
  });
});

describe("upgradable guard lifecycle mutants: these model tests can fail", () => {
  /** The code before the fix: upgrade loops on the word alone, release does not touch the upgrade. */
  const oldStep: Upgrade = (ctx, s, waiter) => (upgradeStep(ctx.atomics, s.mem, 0, X, waiter) ? UPGRADE_DONE : -1);
  const oldRelease: Release = (ctx, s) => {
    unregisterReader(ctx.atomics, s.mem, 0, X);
    return upgradableUnlock(ctx.atomics, s.mem, 0, X);
  };

  it("the old protocol: the orphaned upgrade re-parks on a stale value forever (the 100% CPU spin)", () => {
    const report = explore(program([upgrader(oldStep), releaser(oldRelease), reader]), { preemptionBound: 2 });
    expect(report.failure?.kind).toBe("livelock");
  });

  it("a step blind to the guard word: the orphaned upgrade takes the other task's upgradable share", () => {
    const blind: Upgrade = (ctx, s, waiter) =>
      upgradeGuardStep(ctx.atomics, s.mem, 0, X, s.mem.subarray(BLIND, BLIND + 1), true, waiter);
    const report = explore(program([upgrader(blind), releaser(), reader]), { preemptionBound: 2 });
    expect(report.failure?.kind).toBe("exclusion");
  });

  it("a release that withdraws the upgrade's flags without waking it: it sleeps forever", () => {
    const silent: Release = (ctx, s) => {
      const A = ctx.atomics;
      if (A.compareExchange(s.g, 0, GUARD_UPGRADING, 2) !== GUARD_UPGRADING) {
        return releaseUpgradableGuard(A, s.mem, 0, X, s.g, true);
      }
      A.and(s.mem, 0, ~(UPGRADER_WAITING | WRITERS_WAITING)); // abandonUpgrade without its wake-up
      unregisterReader(A, s.mem, 0, X);
      upgradableUnlock(A, s.mem, 0, X);
      return true;
    };
    const report = explore(program([upgrader(), releaser(silent), reader]), { preemptionBound: 2 });
    expect(report.failure?.kind).toBe("deadlock");
  });
});

describe("explorer loops: tasks of one event loop switch only at park, return or yieldTask()", () => {
  const counter = (yieldBetween: boolean) => (ctx: ThreadContext, s: { mem: Int32Array }) => {
    const v = ctx.atomics.load(s.mem, 0);
    if (yieldBetween) ctx.yieldTask();
    ctx.atomics.store(s.mem, 0, v + 1);
  };
  const toy = (yieldBetween: boolean, loops?: number[]): Program<{ mem: Int32Array }> => ({
    setup: () => ({ mem: new Int32Array(1) }),
    threads: [counter(yieldBetween), counter(yieldBetween)],
    final: (s) => expect(s.mem[0]).toBe(2),
    ...(loops === undefined ? {} : { loops }),
  });

  it("two tasks of one loop with no await between load and store never lose an update", () => {
    expect(check(toy(false, [0, 0])).complete).toBe(true);
  });

  it("an await between them, or two real threads, do lose one", () => {
    expect(explore(toy(true, [0, 0])).failure?.kind).toBe("final");
    expect(explore(toy(false)).failure?.kind).toBe("final");
    expect(explore(toy(false, [0, 1])).failure?.kind).toBe("final");
  });
});
