/**
 * Model checking the fairness half of src/threads/raw/raw-semaphore.ts (issue 10): a waiter that has
 * waited FAIR_AFTER_MS registers as the starver (STARVER word), and while it is registered other
 * acquires take nothing, so its request is served however the others overlap. The hand-offs of the
 * registration: the starver clears it when it is served, when it times out, and on close; a dead
 * starver (liveness table) or a stale one (BEAT unmoved for STALE_AFTER_MS) is cleared by the acquires
 * it blocks, so it costs a bounded delay, never a hang.
 *
 * Every thread runs the production wait, `acquireBlocking` (`Semaphore.acquireSync`), with the virtual
 * clock; acquires that must not rely on polling park untimed (a lost wake-up is then a deadlock).
 */
import { describe, expect, it } from "vitest";
import type { AtomicsLike } from "../../../src/threads/raw/atomics-like.js";
import { markDead } from "../../../src/threads/raw/liveness-table.js";
import {
  ACQUIRED,
  acquireBlocking,
  BUSY,
  CLOSED,
  close,
  permitsOf,
  release,
  SLOTS,
  STALE_AFTER_MS,
  STARVER,
} from "../../../src/threads/raw/raw-semaphore.js";
import { POLL_MS } from "../../../src/threads/raw/waiter.js";
import { ownerId, patched, smallLivenessTable, untimed, withMutant } from "./drivers.js";
import { budget, check, explore, type ModelView, type Program, sample, type ThreadContext } from "./explorer.js";

interface Shared {
  /** [0] PERMITS, [1] PARKED, [2] TOTAL, [3] STARVER, [4] BEAT (no holder slots). */
  mem: Int32Array;
  table: Int32Array;
  /** Per hog: its entries when the big request registered as the starver (invariant bookkeeping). */
  snapshot: number[] | undefined;
}

/** Owner id of a starver that is not one of the model's threads (it died or stopped running). */
const GONE = 9;

function shared(permits: number, total: number): Shared {
  const mem = new Int32Array(SLOTS);
  mem[0] = permits;
  mem[2] = total;
  return { mem, table: smallLivenessTable(), snapshot: undefined };
}

type Mode = "timed" | "untimed";

/** `acquireBlocking(n)` (timed or untimed parks), then a section of weight `n`, then release. */
function take(ctx: ThreadContext, s: Shared, n: number, mode: Mode, deadline = Number.POSITIVE_INFINITY): number {
  const A = mode === "untimed" ? untimed(ctx.atomics) : ctx.atomics;
  const result = acquireBlocking(A, s.mem, 0, n, ownerId(ctx), s.table, ctx.now, deadline);
  if (result !== ACQUIRED) return result;
  ctx.enter("permits", "shared", n);
  ctx.enter(`T${ctx.id}`);
  ctx.leave(`T${ctx.id}`);
  ctx.leave("permits");
  release(ctx.atomics, s.mem, 0, n);
  return result;
}

function hog(rounds: number, mode: Mode) {
  return (ctx: ThreadContext, s: Shared) => {
    const results: number[] = [];
    for (let k = 0; k < rounds; k++) results.push(take(ctx, s, 1, mode));
    return { results, at: ctx.now() };
  };
}

function conserved(s: Shared, view: ModelView): void {
  const c = s.mem[0]!;
  if (c >= 0 && permitsOf(c) + view.held("permits") > s.mem[2]!) {
    throw new Error(`${permitsOf(c)} free + ${view.held("permits")} held > ${s.mem[2]}`);
  }
  if (s.mem[1]! < 0) throw new Error(`PARKED went negative: ${s.mem[1]}`);
}

/**
 * T0 asks for 2 permits of a Semaphore(2) while T1 and T2 each take 1 permit `rounds` times (their
 * holds overlap). Once T0 is the registered starver, each hog enters at most once more (the acquire
 * it had in flight when T0 registered) before T0 is served.
 */
function bigVersusHogs(rounds: number, hogBody = hog(rounds, "timed"), seen = { registered: 0 }): Program<Shared> {
  const big = ownerId({ id: 0 } as ThreadContext);
  return {
    setup: () => shared(2, 2),
    names: (s) => ({ sem: s.mem, table: s.table }),
    threads: [(ctx, s) => take(ctx, s, 2, "timed"), hogBody, hogBody],
    capacity: { permits: 2 },
    invariant: (s, view) => {
      conserved(s, view);
      if (s.mem[STARVER] !== big) {
        s.snapshot = undefined;
        return;
      }
      if (s.snapshot === undefined) {
        s.snapshot = [view.entries("T1"), view.entries("T2")];
        seen.registered++;
        return;
      }
      for (const [k, hogId] of [1, 2].entries()) {
        const more = view.entries(`T${hogId}`) - s.snapshot[k]!;
        if (more > 1) throw new Error(`T${hogId} took permits ${more} times while T0 was the registered starver`);
      }
    },
    final: (s, view) => {
      expect(view.results[0]).toBe(ACQUIRED);
      expect(s.mem[0]).toBe(2);
      expect(s.mem[1]).toBe(0);
      expect(s.mem[STARVER]).toBe(0);
    },
  };
}

/**
 * T0 asks for 2 permits with a deadline while one permit is held for good, and T1 asks for 1 with
 * untimed parks: T0 registers, times out, and its leave must clear STARVER and wake T1 (untimed: no
 * poll would rescue it).
 */
function starverTimesOut(bigBody?: (ctx: ThreadContext, s: Shared) => unknown): Program<Shared> {
  return {
    // One permit is held outside the model (PERMITS 1 of TOTAL 2): T0's 2 never come free.
    setup: () => shared(1, 2),
    names: (s) => ({ sem: s.mem, table: s.table }),
    threads: [bigBody ?? ((ctx, s) => take(ctx, s, 2, "timed", 2)), hog(1, "untimed")],
    capacity: { permits: 2 },
    invariant: conserved,
    final: (s, view) => {
      expect(view.results[0]).toBe(BUSY);
      expect((view.results[1] as { results: number[] }).results).toEqual([ACQUIRED]);
      expect(s.mem[0]).toBe(1);
      expect(s.mem[1]).toBe(0);
      expect(s.mem[STARVER]).toBe(0);
    },
  };
}

/**
 * STARVER names GONE (dead in the table, or alive but no longer beating); two acquires of 1 permit,
 * the first with parks of mode `first`, the second untimed (only a notify wakes it).
 */
function goneStarver(dead: boolean, first: Mode, mutate?: (A: AtomicsLike) => AtomicsLike): Program<Shared> {
  const bodies = [hog(1, first), hog(1, "untimed")];
  return {
    setup: (A: AtomicsLike) => {
      const s = shared(2, 2);
      s.mem[STARVER] = GONE;
      if (dead) markDead(A, s.table, GONE);
      return s;
    },
    names: (s) => ({ sem: s.mem, table: s.table }),
    threads: mutate === undefined ? bodies : bodies.map((body) => withMutant(body, mutate)),
    capacity: { permits: 2 },
    invariant: conserved,
    final: (s, view) => {
      for (const r of view.results as { results: number[]; at: number }[]) {
        expect(r.results).toEqual([ACQUIRED]);
        // Bounded delay: a dead starver costs nothing, a stale one STALE_AFTER_MS and at most a poll.
        expect(r.at).toBeLessThanOrEqual(dead ? 0 : STALE_AFTER_MS + POLL_MS);
      }
      expect(s.mem[0]).toBe(2);
      expect(s.mem[1]).toBe(0);
      expect(s.mem[STARVER]).toBe(0);
    },
  };
}

/** Mutant: loads of STARVER read 0 (an acquirer that ignores the registered starver). */
function ignoreStarver(A: AtomicsLike): AtomicsLike {
  return patched(A, { load: (a, i) => (i === STARVER ? 0 : A.load(a, i)) });
}

/** Mutant: the liveness table reads "nobody dead" (word 0, the uid, stays readable). */
function blindTable(A: AtomicsLike): AtomicsLike {
  return patched(A, { load: (a, i) => (a.length === 3 && i > 0 ? 0 : A.load(a, i)) });
}

/** Mutant: compare-exchanges of STARVER to 0 change nothing (nobody can clear a registration). */
function noClear(A: AtomicsLike): AtomicsLike {
  return patched(A, {
    compareExchange: (a, i, e, r) => (i === STARVER && r === 0 ? A.load(a, i) : A.compareExchange(a, i, e, r)),
  });
}

describe("raw semaphore fairness (model)", () => {
  it("2 permits wanted against two overlapping 1-permit hogs: once registered, served before any hog re-takes", () => {
    const seen = { registered: 0 };
    const report = check(
      bigVersusHogs(2, undefined, seen),
      budget({ preemptionBound: 1, timeouts: 1, allParkedIsDeadlock: true }),
    );
    expect(report.complete).toBe(true);
    expect(seen.registered).toBeGreaterThan(0);
  });

  it("a starver that times out clears its registration and wakes the acquires it blocked", () => {
    const report = check(starverTimesOut(), budget({ preemptionBound: 2, timeouts: 2 }));
    expect(report.complete).toBe(true);
  });

  it("a dead starver (liveness table) is cleared at once: the others proceed with no poll", () => {
    const report = check(goneStarver(true, "untimed"), budget({ preemptionBound: 2 }));
    expect(report.complete).toBe(true);
  });

  it("a stale starver (BEAT unmoved for STALE_AFTER_MS) is cleared: the others proceed after a bounded delay", () => {
    const report = check(goneStarver(false, "timed"), budget({ preemptionBound: 1, timeouts: 4 }));
    expect(report.complete).toBe(true);
    expect(report.stuck).toBe(0);
  });

  it("close while a starver is registered: every waiter returns, the registration is gone", () => {
    // One permit is held outside the model (PERMITS 1 of TOTAL 2): T0's 2 can never come free, so
    // T0 registers and waits; T1 is blocked by it (untimed), T2 closes.
    const program: Program<Shared> = {
      setup: () => shared(1, 2),
      names: (s) => ({ sem: s.mem, table: s.table }),
      threads: [
        (ctx, s) => take(ctx, s, 2, "timed"),
        hog(1, "untimed"),
        (ctx, s) => {
          close(ctx.atomics, s.mem, 0);
        },
      ],
      capacity: { permits: 2 },
      invariant: conserved,
      final: (s, view) => {
        expect(view.results[0]).toBe(CLOSED);
        expect([ACQUIRED, CLOSED]).toContain((view.results[1] as { results: number[] }).results[0]);
        expect(s.mem[1]).toBe(0);
        expect(s.mem[STARVER]).toBe(0);
      },
    };
    let registered = 0;
    const report = check(program, {
      ...budget({ preemptionBound: 2, timeouts: 1 }),
      onSchedule: (steps) => {
        if (steps.some((step) => /compareExchange\(sem\[3\], 0, 1\) -> 0/.test(step.text))) registered++;
      },
    });
    expect(report.complete).toBe(true);
    expect(registered).toBeGreaterThan(0);
  });

  it("a request larger than the permits in existence never registers: the others are not stalled", () => {
    const program: Program<Shared> = {
      setup: () => shared(1, 1),
      names: (s) => ({ sem: s.mem, table: s.table }),
      threads: [(ctx, s) => take(ctx, s, 2, "timed", 3), hog(1, "untimed")],
      capacity: { permits: 1 },
      invariant: (s, view) => {
        conserved(s, view);
        if (s.mem[STARVER] !== 0) throw new Error(`registered a request that can never be served`);
      },
      final: (_s, view) => {
        expect(view.results[0]).toBe(BUSY);
        expect((view.results[1] as { results: number[] }).results).toEqual([ACQUIRED]);
      },
    };
    expect(check(program, budget({ preemptionBound: 2, timeouts: 2 })).complete).toBe(true);
  });
});

describe("raw semaphore fairness (random walks beyond the bound)", () => {
  it("Semaphore(3), 4 threads asking 2, 1, 3 and 1 twice each, production parks and clock: 300 random walks", () => {
    const twice = (n: number) => (ctx: ThreadContext, s: Shared) => [
      take(ctx, s, n, "timed"),
      take(ctx, s, n, "timed"),
    ];
    let registered = 0;
    const report = sample(
      {
        setup: () => shared(3, 3),
        names: (s) => ({ sem: s.mem, table: s.table }),
        threads: [twice(2), twice(1), twice(3), twice(1)],
        capacity: { permits: 3 },
        invariant: (s, view) => {
          conserved(s, view);
          if (s.mem[STARVER] !== 0) s.snapshot = []; // marks "someone registered in this schedule"
        },
        final: (s, view) => {
          if (s.snapshot !== undefined) registered++;
          for (const r of view.results) expect(r).toEqual([ACQUIRED, ACQUIRED]);
          expect(s.mem[0]).toBe(3);
          expect(s.mem[1]).toBe(0);
          expect(s.mem[STARVER]).toBe(0);
        },
      },
      { runs: 300, timeouts: 6, allParkedIsDeadlock: true },
    );
    if (report.failure) throw new Error(report.failure.trace);
    expect(report.schedules).toBeGreaterThanOrEqual(300);
    expect(registered).toBeGreaterThan(0);
  });
});

describe("raw semaphore fairness mutants: these model tests can fail", () => {
  it("hogs that ignore STARVER: they keep taking permits while the 2-permit request is registered", () => {
    // The mutated hogs read no clock (it stays at 0): they never wait long enough to register
    // themselves, which with STARVER unreadable would spin on a compare-exchange that keeps failing.
    const frozen = (ctx: ThreadContext, s: Shared) => hog(2, "timed")({ ...ctx, now: () => 0 }, s);
    const report = explore(
      bigVersusHogs(2, withMutant(frozen, ignoreStarver)),
      budget({ preemptionBound: 1, timeouts: 1 }),
    );
    expect(report.failure?.kind).toBe("invariant");
    expect(report.failure?.message).toMatch(/while T0 was the registered starver/);
  });

  it("a starver that does not clear its registration on leave: the acquire it blocked sleeps forever", () => {
    const report = explore(
      starverTimesOut(withMutant((ctx, s: Shared) => take(ctx, s, 2, "timed", 2), noClear)),
      budget({ preemptionBound: 2, timeouts: 2 }),
    );
    // Deadlock (T1 parked untimed on STARVER) or, where T1 got its permit before T0 registered,
    // the final check (STARVER still set).
    expect(["deadlock", "final"]).toContain(report.failure?.kind);
  });

  it("the liveness table not consulted: a dead starver blocks the others forever (untimed)", () => {
    const report = explore(goneStarver(true, "untimed", blindTable));
    expect(report.failure?.kind).toBe("deadlock");
  });

  it("stale-starver clearing disabled: a stale starver blocks the others past any bound (timed)", () => {
    const report = explore(goneStarver(false, "timed", noClear), budget({ preemptionBound: 1, timeouts: 4 }));
    // With the clock budget spent the schedules end stuck (every hog still parked on STARVER).
    expect(report.failure === undefined && report.stuck > 0).toBe(true);
  });
});
