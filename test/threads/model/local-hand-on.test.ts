/**
 * Model checking the two-level hand-on of the threads locks (issue 10): a thread whose async tasks are
 * queued locally may pass the lock straight to its next task ("hand on locally") instead of releasing
 * it to the shared word, unless a waiter of another thread is starving. The rule is in the raw layer:
 * `mayHandOnLocally` (raw-mutex: no STARVING bit), `mayHandOnLocally` (raw-semaphore: no registered
 * STARVER of another thread, not closed) and `othersWaiting` (rw-word: no WAITING bit, no starver of
 * another thread). This file drives those functions the way `Mutex#unlockHeld`, `Semaphore#giveBack`
 * and `RwLock#releaseWrite` call them, with the shipped release and acquire steps.
 *
 * The "hog" (T0) holds the lock and has tasks queued forever (a local queue length in a memory cell,
 * counted down by each grant; `CAP` rounds in all). Each round it runs one task's section, then
 * releases with the shipped rule: hand on locally if it allows, else release to the word and compete
 * again as its queue's competitor does (the raw step through the shipped loop, `driveBlocking`, with
 * the competitor's timed parks). The other thread (T1) waits with production's blocking wait and timed
 * parks: on the virtual clock it becomes the starver once one of its parks has timed out.
 *
 * 1. Bounded hog: once T1 is starving, the hog completes at most one more round (the one it may have
 *    been granted locally just before) before T1 gets the lock / its permits / the write lock.
 * 2. A dying waiter: T1 starves and then dies (stops stepping, marked dead in the liveness table)
 *    while registered or while a hand-off to it is pending. The hog must finish its rounds through the
 *    shipped recovery (mutex: a pending HANDOFF claimed by the competitor after it slept, and
 *    `revertOrphanedHandoff` for `Mutex.tryLock`; semaphore: `clearStaleStarver` in the competitor's
 *    step; rwlock: the dead-starver clearing of `writeStep`), and then hand on locally again.
 * 3. Mutants: a rule that always hands on locally (the bound fails, all three primitives), the
 *    semaphore's old PARKED rule (fixed in 53181b3: no local hand-on ever again after a waiter died),
 *    and the recoveries disabled: `revertOrphanedHandoff`, a mutex competitor that may not claim a
 *    hand-off, the hog's clear of a dead STARVER (semaphore, rwlock): the hog is stuck.
 *
 * Modelled, not literal: the hog's competitor is async in production (`parkCompetitor` over
 * `waitAsync`); here it runs the same step through `driveBlocking`, which parks for the same
 * `parkTimeout` and records the outcome the same way. The local queue is reduced to its length. The
 * semaphore has no holder slots (its permits are untracked, as with every slot taken).
 */

import { describe, expect, it } from "vitest";
import type { AtomicsLike } from "../../../src/threads/raw/atomics-like.js";
import { driveBlocking, PARK } from "../../../src/threads/raw/drive.js";
import { markDead } from "../../../src/threads/raw/liveness-table.js";
import * as mutex from "../../../src/threads/raw/raw-mutex.js";
import * as rw from "../../../src/threads/raw/raw-rw-lock.js";
import * as sem from "../../../src/threads/raw/raw-semaphore.js";
import { newWaiter, type RawWaiter } from "../../../src/threads/raw/waiter.js";
import { drive, patched, smallLivenessTable, until, withMutant } from "./drivers.js";
import {
  budget,
  check,
  type ExploreOptions,
  explore,
  type ModelReport,
  type ModelView,
  type Program,
  type ThreadContext,
} from "./explorer.js";

// --- the model's own cells (a separate array: the semaphore reads holder slots past its words) -------

/** The hog thread's local queue length (`local.waiters`): tasks queued behind the running one. */
const LOCAL = 0;
/** Hog rounds completed (counted inside the section). */
const ROUNDS = 1;
/** Set by T1 inside its section. */
const DONE = 2;
/** Releases the rule sent to the word while tasks were queued (refused local hand-ons). */
const VIA_WORD = 3;
/** Set by T1 when it dies. */
const DIED = 4;
/** Nobody notifies it: a timed wait here is a sleep (a `setTimeout` between two `tryLock` calls). */
const SLEEP = 5;
/** Set (and notified) when T1 has died or finished: what "later" means for the hog thread. */
const GONE = 6;
const CELLS = 7;

/** Rounds of the hog (its first task plus CAP − 1 queued). */
const CAP = 3;
/** Owner ids (`ownerId(ctx)`, thread id + 1): the hog is T0, the other thread T1. */
const HOG = 1;
const OTHER = 2;

interface Shared {
  mem: Int32Array;
  cells: Int32Array;
  table: Int32Array;
  /** Checker-side bookkeeping, written by the invariant only (never by a thread). */
  watch: {
    /** Rounds when the current starving episode began (-1: none), and episodes seen. */
    at: number;
    episodes: number;
    /** VIA_WORD when the dead waiter's state was cleared (-1: not yet). */
    clearedAt: number;
    /** Mutex: the word at the previous step, and how a hand-off pending after T1 died ended. */
    prev: number;
    claimed: boolean;
    reverted: boolean;
  };
}

/** Fresh state over the lock's words `mem`; the hog runs `rounds` tasks (its first and `rounds − 1` queued). */
function shared(mem: Int32Array, rounds = CAP): Shared {
  const cells = new Int32Array(CELLS);
  cells[LOCAL] = rounds - 1;
  return {
    mem,
    cells,
    table: smallLivenessTable(),
    watch: { at: -1, episodes: 0, clearedAt: -1, prev: 0, claimed: false, reverted: false },
  };
}

const names = (s: Shared) => ({ lock: s.mem, cells: s.cells, table: s.table });

/**
 * The bound: while `starving(s)` holds (and T1 is not in yet), the hog completes at most one more
 * round than when it began (an episode ends when the starving state is gone, e.g. a mutex hand-off
 * claimed). Counts the episodes, so a test can assert that the property was really exercised.
 */
function bounded(starving: (s: Shared) => boolean) {
  return (s: Shared): void => {
    const { cells, watch } = s;
    if (cells[DONE] !== 0) return;
    if (!starving(s)) {
      watch.at = -1;
      return;
    }
    if (watch.at < 0) {
      watch.at = cells[ROUNDS]!;
      watch.episodes++;
    }
    const more = cells[ROUNDS]! - watch.at;
    if (more > 1) throw new Error(`the hog ran ${more} more rounds while the other thread was starving`);
  };
}

/** `check`, counting the schedules in which `seen(s)` held at the end (the property was exercised). */
function checkCounting(program: Program<Shared>, seen: (s: Shared) => boolean, options: object): number {
  let count = 0;
  const counted: Program<Shared> = {
    ...program,
    final: (s, view) => {
      program.final?.(s, view);
      if (seen(s)) count++;
    },
  };
  const report = check(counted, options);
  expect(report.complete).toBe(true);
  return count;
}

/**
 * Explores `program` and counts the finished schedules whose end `recovered` accepts (the hog got past
 * the dead waiter by the recovery under test). A dying-waiter test needs such schedules; its mutant
 * (recovery disabled) has none, and instead schedules that fail or end stuck with the hog parked.
 *
 * Stuck schedules (every live thread parked on a timed wait, no timeout left in the budget) are not
 * failures here: the checker has no fairness, so it may spend the budget on polls of the hog while the
 * other thread, alive and runnable, is simply not scheduled before it dies.
 */
function countRecovered(
  program: Program<Shared>,
  recovered: (s: Shared, view: ModelView) => boolean,
  options: ExploreOptions,
): { report: ModelReport; recovered: number } {
  let count = 0;
  const report = explore(
    {
      ...program,
      final: (s, view) => {
        program.final?.(s, view);
        if (recovered(s, view)) count++;
      },
    },
    options,
  );
  return { report, recovered: count };
}

/** A sleep of `ms` on the virtual clock (a timed wait nobody ends early). */
function sleep(ctx: ThreadContext, s: Shared, ms: number): void {
  ctx.atomics.wait(s.cells, SLEEP, 0, ms);
}

// --- Mutex -----------------------------------------------------------------------------------------

type MutexRule = typeof mutex.mayHandOnLocally;

/** The word held by the hog (`LOCKED | HOG`): its first task runs. */
const mutexSetup = (): Shared => shared(Int32Array.of(mutex.LOCKED | (HOG << mutex.OWNER_SHIFT)));

/**
 * The hog's rounds: a section, then `Mutex#unlockHeld`: with tasks queued and `rule` allowing, the
 * next task gets the word as it is; else `unlock` (production's `unlockWord`: the MINE → 0 swap, then
 * `unlockSlow`), and the queue's competitor (`#compete`: `lockStep` until acquired, timed parks)
 * takes it again for the next task. After its queue drains, `later` runs (the thread's later calls).
 */
function mutexHog(rule: MutexRule = mutex.mayHandOnLocally, later?: (ctx: ThreadContext, s: Shared) => unknown) {
  return (ctx: ThreadContext, s: Shared) => {
    const A = ctx.atomics;
    for (;;) {
      ctx.enter("lock");
      A.add(s.cells, ROUNDS, 1);
      ctx.leave("lock");
      const queued = A.load(s.cells, LOCAL) !== 0;
      if (queued && rule(A, s.mem, 0)) {
        A.sub(s.cells, LOCAL, 1); // local.release(1): the head is granted
        continue;
      }
      if (queued) A.add(s.cells, VIA_WORD, 1);
      expect(mutex.unlock(A, s.mem, 0, HOG)).toBe(true);
      if (!queued) break;
      drive(A, s.mem, newWaiter(0), mutex.lockStepper(A, s.mem, 0, HOG, s.table, ctx.now), "timed");
      A.sub(s.cells, LOCAL, 1); // #grantLocal
    }
    return later?.(ctx, s);
  };
}

/** T1: `Mutex.lockSync` (`lockWait` with the instance's `lockStepper`, no deadline), a section, unlock. */
function mutexWaiter(ctx: ThreadContext, s: Shared): void {
  const A = ctx.atomics;
  const step = mutex.lockStepper(A, s.mem, 0, OTHER, s.table, ctx.now);
  expect(mutex.lockWait(A, s.mem, 0, step, newWaiter(0), Number.POSITIVE_INFINITY, ctx.now)).toBe(true);
  ctx.enter("lock");
  A.store(s.cells, DONE, 1);
  ctx.leave("lock");
  expect(mutex.unlock(A, s.mem, 0, OTHER)).toBe(true);
}

/** STARVING set by a waiter, or the hand-off an unlock made of it, still pending. */
const mutexStarving = (s: Shared) => (s.mem[0]! & (mutex.STARVING | mutex.HANDOFF)) !== 0;

function mutexFair(rule?: MutexRule): Program<Shared> {
  return {
    setup: mutexSetup,
    names,
    threads: [mutexHog(rule), mutexWaiter],
    invariant: bounded(mutexStarving),
    final: (s) => {
      expect(s.cells[DONE]).toBe(1);
      expect(s.cells[ROUNDS]).toBe(CAP);
      expect(s.mem[0]).toBe(0);
    },
  };
}

/**
 * T1 dies waiting: `lockWait`'s loop with a deadline (2 ms: it sets STARVING at 1 ms), and when the
 * deadline passes it stops without `abandonLock` (killed: no cleanup) and is marked dead. It may have
 * left STARVING set, and the hog's next unlock then makes a HANDOFF for it that it never claims.
 */
function mutexDier(ctx: ThreadContext, s: Shared): string {
  const A = ctx.atomics;
  const step = mutex.lockStepper(A, s.mem, 0, OTHER, s.table, ctx.now);
  if (driveBlocking(A, s.mem, newWaiter(0), step, ctx.now() + 2, ctx.now) !== PARK) {
    ctx.enter("lock");
    A.store(s.cells, DONE, 1);
    ctx.leave("lock");
    expect(mutex.unlock(A, s.mem, 0, OTHER)).toBe(true);
    return gone(ctx, s, "locked");
  }
  markDead(A, s.table, OTHER);
  A.store(s.cells, DIED, 1);
  return gone(ctx, s, "died");
}

/** T1 has finished or died (its supervisor has seen it): wakes the hog's {@link afterGone}. */
function gone<R>(ctx: ThreadContext, s: Shared, result: R): R {
  ctx.atomics.store(s.cells, GONE, 1);
  ctx.atomics.notify(s.cells, GONE);
  return result;
}

/** The hog thread waits (untimed) until T1 is gone. */
function afterGone(ctx: ThreadContext, s: Shared): void {
  while (ctx.atomics.load(s.cells, GONE) === 0) ctx.atomics.wait(s.cells, GONE, 0);
}

type Revert = typeof mutex.revertOrphanedHandoff;

/**
 * The hog thread later, its queue drained and T1 gone: `Mutex.tryLock` (`tryLock`; on failure
 * `revertOrphanedHandoff` with the instance's sighting, and `tryLock` again), retried after a sleep of
 * ORPHANED_AFTER_MS, at most 3 times. Returns whether it got the lock (then it unlocks).
 */
function tryLockLater(revert: Revert) {
  return (ctx: ThreadContext, s: Shared): boolean => {
    const A = ctx.atomics;
    const sighting: mutex.HandoffSighting = { word: 0, since: 0 };
    afterGone(ctx, s);
    for (let attempt = 0; attempt < 3; attempt++) {
      if (attempt > 0) sleep(ctx, s, mutex.ORPHANED_AFTER_MS);
      const took =
        mutex.tryLock(A, s.mem, 0, HOG, s.table) ||
        (revert(A, s.mem, 0, sighting, ctx.now) && mutex.tryLock(A, s.mem, 0, HOG, s.table));
      if (!took) continue;
      ctx.enter("lock");
      ctx.leave("lock");
      expect(mutex.unlock(A, s.mem, 0, HOG)).toBe(true);
      return true;
    }
    return false;
  };
}

/**
 * After T1 died: how a pending hand-off ended (claimed by the hog's competitor, or taken back by its
 * tryLock), and the hog hands on locally again once STARVING and HANDOFF are gone.
 */
function mutexRecovery(s: Shared): void {
  const { watch } = s;
  const word = s.mem[0]!;
  if (s.cells[DIED] !== 0 && (watch.prev & mutex.HANDOFF) !== 0 && (word & mutex.HANDOFF) === 0) {
    if (mutex.ownerOf(word) === HOG) watch.claimed = true;
    else if (word === 0) watch.reverted = true;
  }
  watch.prev = word;
  handsOnAgain((t) => (t.mem[0]! & (mutex.STARVING | mutex.HANDOFF)) === 0)(s);
}

function mutexDying(revert: Revert = mutex.revertOrphanedHandoff): Program<Shared> {
  return {
    setup: mutexSetup,
    names,
    threads: [mutexHog(mutex.mayHandOnLocally, tryLockLater(revert)), mutexDier],
    invariant: mutexRecovery,
    final: (s, view) => {
      // The hog finished its rounds whatever T1 did, and its tryLock after T1 was gone got the lock
      // (when T1 died starving: an orphaned hand-off taken back).
      expect(s.cells[ROUNDS]).toBe(CAP);
      expect(view.results[0]).toBe(true);
      expect(s.mem[0]).toBe(0);
      afterClear(s);
    },
  };
}

/** A competitor whose parks never count as sleeping (`not-equal`, so it may never claim a hand-off). */
const neverSleeps = (A: AtomicsLike) =>
  patched(A, {
    wait: (a, i, v, t) => {
      const outcome = A.wait(a, i, v, t);
      return a.length === 1 ? "not-equal" : outcome;
    },
  });

describe("Mutex local hand-on (model): mayHandOnLocally in #unlockHeld", () => {
  it("a hog with tasks queued forever: once the other thread starves, it gets the lock within one more round", () => {
    const episodes = checkCounting(
      mutexFair(),
      (s) => s.watch.episodes > 0,
      budget({ preemptionBound: 2, timeouts: 1 }),
    );
    expect(episodes).toBeGreaterThan(0);
  });

  it("with a second timeout (the hog's competitor may claim a hand-off once it slept): at most one more round per starving episode", () => {
    const episodes = checkCounting(
      mutexFair(),
      (s) => s.watch.episodes > 0,
      budget({ preemptionBound: 1, timeouts: 2 }),
    );
    expect(episodes).toBeGreaterThan(0);
  });

  it("a starving waiter that dies: the hog's competitor claims the hand-off left for it, a later tryLock takes an orphaned one back", () => {
    let reverted = 0;
    const { report, recovered } = countRecovered(
      mutexDying(),
      (s) => {
        if (s.watch.reverted) reverted++;
        return s.watch.claimed;
      },
      budget({ preemptionBound: 1, timeouts: 4 }),
    );
    expect(report.failure?.trace).toBeUndefined();
    expect(report.complete).toBe(true);
    // Here no schedule ends stuck: the hog never waits for a dead thread's poll.
    expect(report.stuck).toBe(0);
    expect(recovered).toBeGreaterThan(0);
    expect(reverted).toBeGreaterThan(0);
  });
});

describe("Mutex local hand-on mutants: these model tests can fail", () => {
  it("a rule that always hands on locally starves the other thread (the bound fails)", () => {
    const report = explore(
      mutexFair(() => true),
      budget({ preemptionBound: 2, timeouts: 1 }),
    );
    expect(report.failure?.kind, report.failure?.trace).toBe("invariant");
    expect(report.failure?.message).toMatch(/more rounds while the other thread was starving/);
  });

  it("revertOrphanedHandoff disabled: the hand-off to the dead waiter is never taken back (tryLock fails for good)", () => {
    const report = explore(
      mutexDying(() => false),
      budget({ preemptionBound: 1, timeouts: 4 }),
    );
    expect(report.failure?.kind, report.failure?.trace).toBe("final");
    expect(report.failure?.message).toMatch(/expected false to be true/);
  });

  it("a competitor that may not claim a pending hand-off: the hog is stuck behind the dead waiter", () => {
    const base = mutexDying();
    const { report, recovered } = countRecovered(
      { ...base, threads: [withMutant(base.threads[0]!, neverSleeps), base.threads[1]!] },
      (s) => s.watch.claimed,
      budget({ preemptionBound: 1, timeouts: 4 }),
    );
    expect(recovered).toBe(0);
    expect(stuckOrFailed(report), report.failure?.trace).toBe(true);
  });
});

/**
 * A hog stuck: a schedule failed (livelock: with its clear disabled, the hog's step retries it forever;
 * deadlock; the final check), or ended with the hog still parked.
 */
function stuckOrFailed(report: ModelReport): boolean {
  return report.failure !== undefined || report.stuck > 0;
}

// --- Semaphore -------------------------------------------------------------------------------------

type SemaphoreRule = typeof sem.mayHandOnLocally;

/**
 * A Semaphore(2) (no holder slots: the model's memory is the five words) whose hog holds 1 permit
 * (PERMITS 1 of TOTAL 2): its first task runs.
 */
function semaphoreSetup(rounds = CAP): Shared {
  const mem = new Int32Array(sem.SLOTS);
  mem[0] = 1;
  mem[2] = 2;
  return shared(mem, rounds);
}

/**
 * The hog's rounds: a 1-permit section, then `Semaphore#giveBack(1)`: with tasks queued and `rule`
 * allowing, the next task gets the permit; else `release` to the word, and the queue's competitor
 * (`#compete`: `acquireStep` and `reap`, i.e. `acquireOrReapStep`, parking as the step says; `leave`
 * when done) takes 1 permit again for the next task.
 */
function semaphoreHog(rule: SemaphoreRule = sem.mayHandOnLocally) {
  return (ctx: ThreadContext, s: Shared) => {
    const A = ctx.atomics;
    for (;;) {
      ctx.enter("permits", "shared", 1);
      A.add(s.cells, ROUNDS, 1);
      ctx.leave("permits");
      const queued = A.load(s.cells, LOCAL) !== 0;
      if (queued && rule(A, s.mem, 0, HOG)) {
        A.sub(s.cells, LOCAL, 1);
        continue;
      }
      if (queued) A.add(s.cells, VIA_WORD, 1);
      expect(sem.release(A, s.mem, 0, 1)).toBe(true);
      if (!queued) return ctx.now();
      const waiter = sem.newSemaphoreWaiter();
      try {
        const step = () => sem.acquireOrReapStep(A, s.mem, 0, 1, HOG, s.table, waiter, ctx.now);
        expect(drive(A, s.mem, waiter, step, "timed")).toBe(sem.ACQUIRED);
      } finally {
        sem.leave(A, s.mem, 0, waiter);
      }
      A.sub(s.cells, LOCAL, 1);
    }
  };
}

/** T1: `Semaphore.acquireSync(2)` (`acquireBlocking`, no deadline), a section of weight 2, release. */
function semaphoreWaiter(ctx: ThreadContext, s: Shared): void {
  const A = ctx.atomics;
  const result = sem.acquireBlocking(A, s.mem, 0, 2, OTHER, s.table, ctx.now, Number.POSITIVE_INFINITY);
  expect(result).toBe(sem.ACQUIRED);
  ctx.enter("permits", "shared", 2);
  A.store(s.cells, DONE, 1);
  ctx.leave("permits");
  expect(sem.release(A, s.mem, 0, 2)).toBe(true);
}

const semaphoreStarving = (s: Shared) => s.mem[sem.STARVER] === OTHER;

function semaphoreFair(rule?: SemaphoreRule): Program<Shared> {
  return {
    setup: () => semaphoreSetup(),
    names,
    threads: [semaphoreHog(rule), semaphoreWaiter],
    capacity: { permits: 2 },
    invariant: bounded(semaphoreStarving),
    final: (s) => {
      expect(s.cells[DONE]).toBe(1);
      expect(s.cells[ROUNDS]).toBe(CAP);
      expect(s.mem[0]).toBe(2);
      expect(s.mem[1]).toBe(0); // PARKED
      expect(s.mem[sem.STARVER]).toBe(0);
    },
  };
}

/**
 * T1 dies waiting for 2 permits: `acquireBlocking`'s calls (`tryAcquire`, then `acquireOrReapStep`
 * through the loop) with a deadline (2 ms: it registers as the starver at 1 ms), and when the deadline
 * passes it stops without `leave` (killed: STARVER and PARKED stay as it left them) and is marked dead.
 */
function semaphoreDier(ctx: ThreadContext, s: Shared): string {
  const A = ctx.atomics;
  let result: number = sem.tryAcquire(A, s.mem, 0, 2);
  const waiter = sem.newSemaphoreWaiter();
  if (result === sem.BUSY) {
    const step = () => sem.acquireOrReapStep(A, s.mem, 0, 2, OTHER, s.table, waiter, ctx.now);
    result = driveBlocking(A, s.mem, waiter, step, ctx.now() + 2, ctx.now);
  }
  if (result === sem.ACQUIRED) {
    sem.leave(A, s.mem, 0, waiter);
    ctx.enter("permits", "shared", 2);
    A.store(s.cells, DONE, 1);
    ctx.leave("permits");
    expect(sem.release(A, s.mem, 0, 2)).toBe(true);
    return "acquired";
  }
  markDead(A, s.table, OTHER);
  A.store(s.cells, DIED, 1);
  return A.load(s.mem, sem.STARVER) === OTHER ? "died registered" : "died";
}

/**
 * After T1 died and its registration is gone, the hog hands on locally again: at most one more
 * release through the word (one it may have decided just before the clear).
 */
function handsOnAgain(starverGone: (s: Shared) => boolean) {
  return (s: Shared): void => {
    const { cells, watch } = s;
    if (watch.clearedAt < 0 && cells[DIED] !== 0 && starverGone(s)) watch.clearedAt = cells[VIA_WORD]!;
  };
}

function afterClear(s: Shared): void {
  if (s.watch.clearedAt < 0) return;
  const more = s.cells[VIA_WORD]! - s.watch.clearedAt;
  if (more > 1) throw new Error(`${more} releases went through the word after the dead waiter was cleared`);
}

/** Rounds of the hog in the dying-waiter tests: enough for two local hand-ons after a clear. */
const DYING_ROUNDS = CAP + 1;

function semaphoreDying(rule?: SemaphoreRule): Program<Shared> {
  return {
    setup: () => semaphoreSetup(DYING_ROUNDS),
    names,
    threads: [semaphoreHog(rule), semaphoreDier],
    capacity: { permits: 2 },
    invariant: handsOnAgain((s) => s.mem[sem.STARVER] === 0),
    final: (s) => {
      expect(s.cells[ROUNDS]).toBe(DYING_ROUNDS);
      expect(s.mem[0]).toBe(2);
      afterClear(s);
    },
  };
}

/** T1 died registered as the starver, and the hog cleared it and finished. */
const semaphoreRecovered = (s: Shared, view: ModelView) =>
  view.results[1] === "died registered" && s.mem[sem.STARVER] === 0;

/** The old rule (before 53181b3): hand on locally only while nobody is registered in PARKED. */
const parkedRule: SemaphoreRule = (A, w, i) => A.load(w, i + 1) === 0 && A.load(w, i) >= 0;

/** The hog's compare-exchanges of STARVER to 0 do nothing: it cannot clear a dead or stale starver. */
const cannotClearSemaphore = (A: AtomicsLike) =>
  patched(A, {
    compareExchange: (a, i, e, r) =>
      a.length === sem.SLOTS && i === sem.STARVER && r === 0 ? A.load(a, i) : A.compareExchange(a, i, e, r),
  });

describe("Semaphore local hand-on (model): mayHandOnLocally in #giveBack", () => {
  it("a 2-permit request against 1-permit local hand-ons: once it is the starver, served within one more round", () => {
    const episodes = checkCounting(
      semaphoreFair(),
      (s) => s.watch.episodes > 0,
      budget({ preemptionBound: 2, timeouts: 1 }),
    );
    expect(episodes).toBeGreaterThan(0);
  });

  it("a starver that dies registered: the hog clears it (liveness table), finishes, and hands on locally again", () => {
    const { report, recovered } = countRecovered(
      semaphoreDying(),
      semaphoreRecovered,
      budget({ preemptionBound: 1, timeouts: 3 }),
    );
    expect(report.failure?.trace).toBeUndefined();
    expect(report.complete).toBe(true);
    expect(recovered).toBeGreaterThan(0);
  });
});

describe("Semaphore local hand-on mutants: these model tests can fail", () => {
  it("a rule that always hands on locally: the registered 2-permit request waits past the bound", () => {
    const report = explore(
      semaphoreFair(() => true),
      budget({ preemptionBound: 2, timeouts: 1 }),
    );
    expect(report.failure?.kind, report.failure?.trace).toBe("invariant");
    expect(report.failure?.message).toMatch(/more rounds while the other thread was starving/);
  });

  it("the old PARKED rule (53181b3): after a waiter died, every release goes through the word for good", () => {
    const report = explore(semaphoreDying(parkedRule), budget({ preemptionBound: 1, timeouts: 3 }));
    expect(report.failure?.kind, report.failure?.trace).toBe("final");
    expect(report.failure?.message).toMatch(/went through the word after the dead waiter was cleared/);
  });

  it("clearing disabled in the hog: the dead starver is never cleared (the hog retries the clear forever: livelock)", () => {
    const base = semaphoreDying();
    const { report, recovered } = countRecovered(
      { ...base, threads: [withMutant(base.threads[0]!, cannotClearSemaphore), base.threads[1]!] },
      semaphoreRecovered,
      budget({ preemptionBound: 1, timeouts: 3 }),
    );
    expect(recovered).toBe(0);
    expect(stuckOrFailed(report), report.failure?.trace).toBe(true);
  });
});

// --- RwLock ----------------------------------------------------------------------------------------

type RwRule = typeof rw.othersWaiting;

/**
 * How long the competitor stands back after this thread gave the word back for another thread's
 * waiter (`YIELD_MS` in src/threads/rw-lock.ts, not exported).
 */
const STAND_BACK_MS = 1;

/** The write lock held by the hog (`WRITE_LOCKED | HOG`): its first task runs. */
function rwSetup(rounds = CAP): Shared {
  const mem = new Int32Array(rw.RW_LOCK_WORDS);
  mem[0] = rw.WRITE_LOCKED | HOG;
  return shared(mem, rounds);
}

/**
 * The hog's rounds, a queue of writers: a section, then `RwLock#releaseWrite`: with tasks queued and
 * `othersWaiting` false, `#serve` hands the write lock in hand to the next writer; else `#giveBack`
 * (stand back if others still wait, read before the unlock; `writeUnlock`), and the queue's
 * competitor (`#compete`: a stand-back park of STAND_BACK_MS on the state word, then
 * `writeStepReaping` until acquired, then `abandonWrite` to withdraw its own WRITERS_WAITING) takes
 * the write lock again for the next writer.
 */
function rwHog(rule: RwRule = rw.othersWaiting) {
  return (ctx: ThreadContext, s: Shared) => {
    const A = ctx.atomics;
    for (;;) {
      ctx.enter("rw");
      A.add(s.cells, ROUNDS, 1);
      ctx.leave("rw");
      if (A.load(s.cells, LOCAL) === 0) {
        expect(rw.writeUnlock(A, s.mem, 0, HOG)).toBe(true);
        return ctx.now();
      }
      if (!rule(A, s.mem, 0, HOG)) {
        A.sub(s.cells, LOCAL, 1);
        continue;
      }
      A.add(s.cells, VIA_WORD, 1);
      const standBack = rule(A, s.mem, 0, HOG);
      expect(rw.writeUnlock(A, s.mem, 0, HOG)).toBe(true);
      if (standBack) A.wait(s.mem, 0, A.load(s.mem, 0), STAND_BACK_MS);
      const waiter = newWaiter(0);
      drive(
        A,
        s.mem,
        waiter,
        until((w) => rw.writeStepReaping(A, s.mem, 0, HOG, s.table, w, ctx.now)),
        "timed",
      );
      rw.abandonWrite(A, s.mem, 0, waiter);
      A.sub(s.cells, LOCAL, 1);
    }
  };
}

type RwKind = "write" | "read";

/**
 * T1: `RwLock.writeSync` (`tryWriteReaping`, then `writeStepReaping` through the loop) or `readSync`
 * (`tryRead`, then `readStepReaping`), no deadline, timed parks; a section; unlock.
 */
function rwWaiter(kind: RwKind) {
  return (ctx: ThreadContext, s: Shared): void => {
    const A = ctx.atomics;
    const { mem, table } = s;
    const step =
      kind === "write"
        ? (w: RawWaiter) => rw.writeStepReaping(A, mem, 0, OTHER, table, w, ctx.now)
        : (w: RawWaiter) => rw.readStepReaping(A, mem, 0, OTHER, table, w, ctx.now);
    const took = kind === "write" ? rw.tryWriteReaping(A, mem, 0, OTHER, table) : rw.tryRead(A, mem, 0, table);
    if (!took) drive(A, mem, newWaiter(0), until(step), "timed");
    ctx.enter("rw", kind === "write" ? "exclusive" : "shared");
    A.store(s.cells, DONE, 1);
    ctx.leave("rw");
    if (kind === "write") expect(rw.writeUnlock(A, mem, 0, OTHER)).toBe(true);
    else expect(rw.readUnlock(A, mem, 0)).toBe(true);
  };
}

/** T1 registered as the starver (its STARVER value). */
const rwStarving = (kind: RwKind) => (s: Shared) =>
  s.mem[rw.STARVER_WORD] === (kind === "write" ? OTHER : OTHER | rw.STARVER_READS);

function rwFair(kind: RwKind, rule?: RwRule): Program<Shared> {
  return {
    setup: () => rwSetup(),
    names,
    threads: [rwHog(rule), rwWaiter(kind)],
    invariant: bounded(rwStarving(kind)),
    final: (s) => {
      expect(s.cells[DONE]).toBe(1);
      expect(s.cells[ROUNDS]).toBe(CAP);
      expect(s.mem[0]).toBe(0);
      expect(s.mem[rw.STARVER_WORD]).toBe(0);
    },
  };
}

/**
 * T1 dies waiting to write: `writeSync`'s calls with a deadline (2 ms: it registers at 1 ms), and when
 * the deadline passes it stops without `abandonWrite` (killed: its STARVER registration and its
 * WRITERS_WAITING bit stay) and is marked dead.
 */
function rwDier(ctx: ThreadContext, s: Shared): string {
  const A = ctx.atomics;
  const { mem, table } = s;
  const step = (w: RawWaiter) => (rw.writeStepReaping(A, mem, 0, OTHER, table, w, ctx.now) ? 0 : PARK);
  if (
    rw.tryWriteReaping(A, mem, 0, OTHER, table) ||
    driveBlocking(A, mem, newWaiter(0), step, ctx.now() + 2, ctx.now) !== PARK
  ) {
    ctx.enter("rw");
    A.store(s.cells, DONE, 1);
    ctx.leave("rw");
    expect(rw.writeUnlock(A, mem, 0, OTHER)).toBe(true);
    return "wrote";
  }
  markDead(A, table, OTHER);
  A.store(s.cells, DIED, 1);
  return A.load(mem, rw.STARVER_WORD) === OTHER ? "died registered" : "died";
}

function rwDying(rule?: RwRule): Program<Shared> {
  return {
    setup: () => rwSetup(),
    names,
    threads: [rwHog(rule), rwDier],
    invariant: handsOnAgain((s) => s.mem[rw.STARVER_WORD] === 0 && (s.mem[0]! & rw.WAITING) === 0),
    final: (s) => {
      expect(s.cells[ROUNDS]).toBe(CAP);
      afterClear(s);
    },
  };
}

/** T1 died registered as the starver, and the hog cleared it and finished. */
const rwRecovered = (s: Shared, view: ModelView) =>
  view.results[1] === "died registered" && s.mem[rw.STARVER_WORD] === 0;

/** The hog's compare-exchanges of the STARVER word to 0 do nothing: it cannot clear a dead or stale starver. */
const cannotClearRw = (A: AtomicsLike) =>
  patched(A, {
    compareExchange: (a, i, e, r) =>
      a.length === rw.RW_LOCK_WORDS && i === rw.STARVER_WORD && r === 0 ? A.load(a, i) : A.compareExchange(a, i, e, r),
  });

describe("RwLock local hand-on (model): othersWaiting in #releaseWrite", () => {
  it("a writer against a hog's local writers: once it is the starver, in within one more round", () => {
    const episodes = checkCounting(
      rwFair("write"),
      (s) => s.watch.episodes > 0,
      budget({ preemptionBound: 1, timeouts: 2 }),
    );
    expect(episodes).toBeGreaterThan(0);
  });

  it("a reader against a hog's local writers: once it is the starver, in within one more round", () => {
    const episodes = checkCounting(
      rwFair("read"),
      (s) => s.watch.episodes > 0,
      budget({ preemptionBound: 1, timeouts: 2 }),
    );
    expect(episodes).toBeGreaterThan(0);
  });

  it("a writer starver that dies registered: the hog clears it (liveness table), finishes, and hands on locally again", () => {
    const { report, recovered } = countRecovered(rwDying(), rwRecovered, budget({ preemptionBound: 1, timeouts: 3 }));
    expect(report.failure?.trace).toBeUndefined();
    expect(report.complete).toBe(true);
    expect(recovered).toBeGreaterThan(0);
  });
});

describe("RwLock local hand-on mutants: these model tests can fail", () => {
  it("othersWaiting always false (always hand on locally): the registered writer waits past the bound", () => {
    const report = explore(
      rwFair("write", () => false),
      budget({ preemptionBound: 1, timeouts: 2 }),
    );
    expect(report.failure?.kind, report.failure?.trace).toBe("invariant");
    expect(report.failure?.message).toMatch(/more rounds while the other thread was starving/);
  });

  it("othersWaiting always false: the registered reader waits past the bound", () => {
    const report = explore(
      rwFair("read", () => false),
      budget({ preemptionBound: 1, timeouts: 2 }),
    );
    expect(report.failure?.kind, report.failure?.trace).toBe("invariant");
    expect(report.failure?.message).toMatch(/more rounds while the other thread was starving/);
  });

  it("clearing disabled in the hog: the dead starver is never cleared (the hog retries the clear forever: livelock)", () => {
    const base = rwDying();
    const { report, recovered } = countRecovered(
      { ...base, threads: [withMutant(base.threads[0]!, cannotClearRw), base.threads[1]!] },
      rwRecovered,
      budget({ preemptionBound: 1, timeouts: 3 }),
    );
    expect(recovered).toBe(0);
    expect(stuckOrFailed(report), report.failure?.trace).toBe(true);
  });
});
