/**
 * Model checking src/threads/raw/raw-once.ts: the initializer runs exactly once (never two at a time),
 * every caller that returns sees the initialized value, a failed initializer lets the next caller run
 * its own, a runner that dies is reaped, and no lost wake-up (untimed parks).
 */

import { describe, expect, it } from "vitest";
import { markDead } from "../../../src/threads/raw/liveness-table.js";
import { COMPLETE, complete, fail, RUNNING, START, tryStart, waitStep } from "../../../src/threads/raw/raw-once.js";
import { newWaiter } from "../../../src/threads/raw/waiter.js";
import { drive, mutants, ownerId, PARK, type ParkMode, smallLivenessTable, withMutant } from "./drivers.js";
import { budget, check, explore, type Program, sample, type ThreadContext } from "./explorer.js";

interface Shared {
  /** [0] the once word, [1] the value the initializer publishes. */
  mem: Int32Array;
  table: Int32Array;
}

const VALUE = 42;

/** Returns COMPLETE or START (then the caller must run the initializer). */
function begin(ctx: ThreadContext, s: Shared, mode: ParkMode): number {
  const A = ctx.atomics;
  const first = tryStart(A, s.mem, 0, ownerId(ctx), s.table);
  if (first !== RUNNING) return first;
  const waiter = newWaiter(0);
  return drive(
    A,
    s.mem,
    waiter,
    (w) => {
      const result = waitStep(A, s.mem, 0, ownerId(ctx), s.table, w);
      return result === RUNNING ? PARK : result;
    },
    mode,
  );
}

/** getOrInit; `failing`: this caller's initializer throws (it calls `fail` instead of `complete`). */
function caller(options: { failing?: boolean; mode?: ParkMode } = {}) {
  return (ctx: ThreadContext, s: Shared): string => {
    const A = ctx.atomics;
    const result = begin(ctx, s, options.mode ?? "untimed");
    if (result === COMPLETE) {
      expect(A.load(s.mem, 1)).toBe(VALUE);
      return "saw";
    }
    expect(result).toBe(START);
    ctx.enter("init");
    if (options.failing) {
      ctx.leave("init");
      fail(A, s.mem, 0);
      return "failed";
    }
    A.store(s.mem, 1, VALUE);
    ctx.leave("init");
    complete(A, s.mem, 0);
    return "ran";
  };
}

function program(threads: Program<Shared>["threads"], inits: (results: readonly unknown[]) => number): Program<Shared> {
  return {
    setup: () => ({ mem: new Int32Array(2), table: smallLivenessTable() }),
    names: (s) => ({ mem: s.mem, table: s.table }),
    threads,
    final: (s, view) => {
      expect(view.entries("init")).toBe(inits(view.results));
      expect(view.results.filter((r) => r === "ran")).toHaveLength(1);
      expect(s.mem[0]).toBe(COMPLETE);
    },
  };
}

describe("raw once-lock (model)", () => {
  it("3 callers: the initializer runs exactly once and everyone sees its value", () => {
    const report = check(
      program([caller(), caller(), caller()], () => 1),
      budget({ preemptionBound: 1 }),
    );
    expect(report.complete).toBe(true);
  });

  it("2 callers, bound 2", () => {
    expect(check(program([caller(), caller()], () => 1)).complete).toBe(true);
  });

  it("a failed initializer lets the next caller run its own", () => {
    const report = check(
      program([caller({ failing: true }), caller(), caller()], (results) => (results[0] === "failed" ? 2 : 1)),
      budget({ preemptionBound: 1 }),
    );
    expect(report.complete).toBe(true);
  });

  it("a runner that dies mid-initialization is reaped and a live caller initializes", () => {
    const dying = (ctx: ThreadContext, s: Shared) => {
      const A = ctx.atomics;
      if (begin(ctx, s, "timed") !== START) return "saw";
      ctx.enter("init");
      ctx.leave("init");
      markDead(A, s.table, ownerId(ctx)); // dies before complete()
      return "died";
    };
    const report = check(
      {
        setup: () => ({ mem: new Int32Array(2), table: smallLivenessTable() }),
        names: (s) => ({ mem: s.mem, table: s.table }),
        threads: [dying, caller({ mode: "timed" }), caller({ mode: "timed" })],
        final: (s, view) => {
          // Whether or not the dying thread got to start, exactly one live caller completed the init
          // (a caller never returns while the word is RUNNING), and every other one saw its value.
          expect(view.results.filter((r) => r === "ran")).toHaveLength(1);
          expect(s.mem[0]).toBe(COMPLETE);
        },
      },
      budget({ preemptionBound: 1, timeouts: 1 }),
    );
    expect(report.complete).toBe(true);
  });
});

describe("raw once-lock (random walks beyond the bound)", () => {
  it("4 callers, the first one's initializer failing: 300 random walks", () => {
    const report = sample(
      program([caller({ failing: true }), caller(), caller(), caller()], (results) =>
        results[0] === "failed" ? 2 : 1,
      ),
      { runs: 300 },
    );
    if (report.failure) throw new Error(report.failure.trace);
    expect(report.schedules).toBeGreaterThanOrEqual(300);
  });
});

describe("raw once-lock mutants: these model tests can fail", () => {
  const mutated = (mutate: typeof mutants.dropNotify) =>
    program(
      [caller(), caller()].map((body) => withMutant(body, mutate)),
      () => 1,
    );

  it("a complete() whose notify wakes nobody: the waiter sleeps forever", () => {
    expect(explore(mutated(mutants.dropNotify)).failure?.kind).toBe("deadlock");
  });

  it("a compareExchange split into load and store: two initializers", () => {
    expect(["exclusion", "final"]).toContain(explore(mutated(mutants.splitCompareExchange)).failure?.kind);
  });
});
