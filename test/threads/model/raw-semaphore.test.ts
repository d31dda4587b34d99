/**
 * Model checking src/threads/raw/raw-semaphore.ts: permits are conserved (free + held never exceeds
 * the total, and all come back), held permits never exceed the capacity, the Dekker handshake between
 * PARKED and PERMITS loses no wake-up (untimed parks), close releases every waiter, and a waiter that
 * times out unregisters.
 */

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  ACQUIRED,
  acquireBlocking,
  BUSY,
  CLOSED,
  close,
  permitsOf,
  release,
} from "../../../src/threads/raw/raw-semaphore.js";
import { mutants, ownerId, untimed, withMutant } from "./drivers.js";
import { budget, check, explore, type ModelView, type Program, sample, type ThreadContext } from "./explorer.js";

/** `mem`: [0] PERMITS (+ CLOSED bit), [1] PARKED, [2] TOTAL, [3] STARVER, [4] BEAT (no holder slots). */
type Shared = Int32Array;

/** Acquire through the production wait (`acquireBlocking`, as `Semaphore.acquireSync`), with untimed parks. */
function acquire(ctx: ThreadContext, mem: Shared, n: number): number {
  return acquireBlocking(untimed(ctx.atomics), mem, 0, n, ownerId(ctx), undefined, ctx.now, Number.POSITIVE_INFINITY);
}

function user(n: number) {
  return (ctx: ThreadContext, mem: Shared) => {
    const result = acquire(ctx, mem, n);
    if (result !== ACQUIRED) return result;
    ctx.enter("permits", "shared", n);
    ctx.leave("permits");
    expect(release(ctx.atomics, mem, 0, n)).toBe(true);
    return result;
  };
}

function program(total: number, threads: Program<Shared>["threads"]): Program<Shared> {
  return {
    setup: () => Int32Array.of(total, 0, total, 0, 0),
    names: (mem) => ({ mem }),
    threads,
    capacity: { permits: total },
    invariant: (mem: Shared, view: ModelView) => {
      // A permit is taken from the word before its holder enters and given back after it leaves.
      if (mem[0]! >= 0 && permitsOf(mem[0]!) + view.held("permits") > total) {
        throw new Error(`${permitsOf(mem[0]!)} free + ${view.held("permits")} held > ${total}`);
      }
      if (mem[1]! < 0) throw new Error(`PARKED went negative: ${mem[1]}`);
    },
    final: (mem) => {
      if (mem[0]! >= 0) expect(mem[0]).toBe(total);
      expect(mem[1]).toBe(0);
    },
  };
}

describe("raw semaphore (model)", () => {
  it("2 permits, requests of 1, 2 and 1: conserved, within capacity, no lost wake-up, small ones share", () => {
    let together = 0;
    const base = program(2, [user(1), user(2), user(1)]);
    const report = check(
      {
        ...base,
        invariant: (mem, view) => {
          base.invariant!(mem, view);
          if (view.holders("permits").length === 2) together++;
        },
      },
      budget({ preemptionBound: 1 }),
    );
    expect(report.complete).toBe(true);
    expect(together).toBeGreaterThan(0);
  });

  it("1 permit, 2 threads × 2 rounds", () => {
    const twice = (ctx: ThreadContext, mem: Shared) => {
      user(1)(ctx, mem);
      user(1)(ctx, mem);
    };
    expect(check(program(1, [twice, twice])).complete).toBe(true);
  });

  it("releases notify everyone: a wake-up stolen by an abandoned waitAsync strands nobody", () => {
    const report = check(program(2, [user(1), user(2), user(1)]), budget({ preemptionBound: 1, stolenWakeups: 1 }));
    expect(report.complete).toBe(true);
  });

  it("close wakes every waiter with CLOSED, and a closed semaphore never hands out permits", () => {
    const closer = (ctx: ThreadContext, mem: Shared) => {
      close(ctx.atomics, mem, 0);
    };
    const report = check(
      {
        ...program(1, [user(1), user(1), closer]),
        final: (mem, view) => {
          expect(mem[0]! < 0).toBe(true);
          expect(mem[1]).toBe(0);
          for (const r of view.results.slice(0, 2)) expect([ACQUIRED, CLOSED]).toContain(r);
        },
      },
      budget({ preemptionBound: 1 }),
    );
    expect(report.complete).toBe(true);
  });

  it("acquireBlocking: a waiter that times out unregisters, and the others still get permits", () => {
    const impatient = (ctx: ThreadContext, mem: Shared) => {
      const result = acquireBlocking(ctx.atomics, mem, 0, 1, ownerId(ctx), undefined, ctx.now, ctx.now() + 1);
      if (result !== ACQUIRED) return result;
      ctx.enter("permits", "shared", 1);
      ctx.leave("permits");
      release(ctx.atomics, mem, 0, 1);
      return result;
    };
    let timedOut = 0;
    const report = check(
      {
        ...program(1, [user(1), impatient, user(1)]),
        final: (mem, view) => {
          if (view.results[1] === BUSY) timedOut++;
          expect(mem[0]).toBe(1);
          expect(mem[1]).toBe(0);
        },
      },
      budget({ preemptionBound: 1, timeouts: 1 }),
    );
    expect(report.complete).toBe(true);
    expect(timedOut).toBeGreaterThan(0);
  });
});

describe("raw semaphore (model, property)", () => {
  it("any small configuration of permits and request sizes: conserved, within capacity, no lost wake-up", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3 }).chain((total) =>
          fc.record({
            total: fc.constant(total),
            requests: fc.array(fc.integer({ min: 1, max: total }), { minLength: 2, maxLength: 3 }),
          }),
        ),
        ({ total, requests }) => {
          const report = check(program(total, requests.map(user)), budget({ preemptionBound: 1 }));
          expect(report.complete).toBe(true);
        },
      ),
      { numRuns: 6 },
    );
  });
});

describe("raw semaphore (random walks beyond the bound)", () => {
  it("3 permits, 4 threads asking 1, 2, 3 and 1: 300 random walks", () => {
    const report = sample(program(3, [user(1), user(2), user(3), user(1)]), { runs: 300 });
    if (report.failure) throw new Error(report.failure.trace);
    expect(report.schedules).toBeGreaterThanOrEqual(300);
  });
});

describe("raw semaphore mutants: these model tests can fail", () => {
  const mutated = (mutate: typeof mutants.dropNotify) =>
    program(
      1,
      [user(1), user(1)].map((body) => withMutant(body, mutate)),
    );

  it("a release whose notify wakes nobody: the waiter sleeps forever", () => {
    expect(explore(mutated(mutants.dropNotify)).failure?.kind).toBe("deadlock");
  });

  it("a compareExchange split into load and store: more permits held than exist", () => {
    expect(["exclusion", "invariant", "final"]).toContain(explore(mutated(mutants.splitCompareExchange)).failure?.kind);
  });
});
