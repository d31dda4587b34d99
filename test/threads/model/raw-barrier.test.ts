/**
 * Model checking src/threads/raw/raw-barrier.ts: exactly one leader per generation, nobody leaves a
 * generation before every party has arrived, the barrier is reusable (a party released from one
 * generation that arrives again at once counts in the next), and no lost wake-up (untimed parks).
 */

import { describe, expect, it } from "vitest";
import { arrive, arrivedOf, generationOf, waitBlocking, waitStep } from "../../../src/threads/raw/raw-barrier.js";
import { newWaiter } from "../../../src/threads/raw/waiter.js";
import { mutants, untimed, withMutant } from "./drivers.js";
import { budget, check, explore, type Program, sample, type ThreadContext } from "./explorer.js";

interface Shared {
  /** [0] GENERATION (high 16 bits) | ARRIVED (low 16 bits). */
  barrier: Int32Array;
  /** Arrivals per round, counted by the test before each party arrives. */
  arrivals: Int32Array;
}

/** Each party passes the barrier `rounds` times; returns, per round, whether it was the leader. */
function party(parties: number, rounds: number) {
  return (ctx: ThreadContext, s: Shared): boolean[] => {
    const A = ctx.atomics;
    const leaders: boolean[] = [];
    for (let r = 0; r < rounds; r++) {
      A.add(s.arrivals, r, 1);
      const { leader, generation } = arrive(A, s.barrier, 0, parties);
      // Production's wait (Barrier.waitSync), with untimed parks.
      if (!leader)
        expect(waitBlocking(untimed(A), s.barrier, 0, generation, ctx.now, Number.POSITIVE_INFINITY)).toBe(true);
      // Past the barrier: every party must have arrived in this round.
      const arrived = A.load(s.arrivals, r);
      if (arrived !== parties) throw new Error(`left round ${r} with ${arrived} of ${parties} parties arrived`);
      leaders.push(leader);
    }
    return leaders;
  };
}

function program(parties: number, rounds: number): Program<Shared> {
  return {
    setup: () => ({ barrier: new Int32Array(1), arrivals: new Int32Array(rounds) }),
    names: (s) => ({ barrier: s.barrier, arrivals: s.arrivals }),
    threads: Array.from({ length: parties }, () => party(parties, rounds)),
    final: (s, view) => {
      const results = view.results as boolean[][];
      for (let r = 0; r < rounds; r++) {
        const leaders = results.filter((leaders) => leaders[r]).length;
        expect(leaders, `leaders in round ${r}`).toBe(1);
      }
      expect(arrivedOf(s.barrier[0]!)).toBe(0);
      expect(generationOf(s.barrier[0]!)).toBe(rounds);
    },
  };
}

describe("raw barrier (model)", () => {
  it("2 parties × 3 rounds: one leader per generation, nobody leaves early, reusable", () => {
    expect(check(program(2, 3)).complete).toBe(true);
  });

  it("3 parties × 2 rounds", () => {
    expect(check(program(3, 2), budget({ preemptionBound: 1 })).complete).toBe(true);
  });
});

describe("raw barrier (model): the production loop waitBlocking", () => {
  /** One pass through a 2-party barrier with `waitBlocking`; "gave up" when it timed out and withdrew. */
  const blocking = (parties: number, timeout: number) => (ctx: ThreadContext, s: Shared) => {
    const A = ctx.atomics;
    A.add(s.arrivals, 0, 1);
    const { leader, generation } = arrive(A, s.barrier, 0, parties);
    if (!leader && !waitBlocking(A, s.barrier, 0, generation, ctx.now, ctx.now() + timeout)) {
      A.sub(s.arrivals, 0, 1);
      return "gave up";
    }
    return leader ? "leader" : "passed";
  };

  it("a party that times out before its generation completes withdraws: a later party completes it instead", () => {
    // Parties: 2. T0 may give up; T2 arrives later (a third caller): with T0 withdrawn, T1 and T2
    // form the generation; with T0 passed, T2 starts the next one and gives up.
    let withdrew = 0;
    const report = check(
      {
        setup: () => ({ barrier: new Int32Array(1), arrivals: new Int32Array(1) }),
        names: (s) => ({ barrier: s.barrier, arrivals: s.arrivals }),
        threads: [blocking(2, 1), blocking(2, 1), blocking(2, 1)],
        final: (s, view) => {
          const results = view.results as string[];
          if (results[0] === "gave up") withdrew++;
          const passed = results.filter((r) => r !== "gave up").length;
          // Whoever passed did so in complete generations: one leader per 2 parties, none short.
          expect(passed % 2, results.join(", ")).toBe(0);
          expect(results.filter((r) => r === "leader").length).toBe(passed / 2);
          expect(generationOf(s.barrier[0]!)).toBe(passed / 2);
          expect(arrivedOf(s.barrier[0]!)).toBe(0);
        },
      },
      budget({ preemptionBound: 1, timeouts: 3 }),
    );
    expect(report.complete).toBe(true);
    expect(withdrew).toBeGreaterThan(0);
  });

  it("parties + 1 callers: exactly one leader per generation, the extra caller waits for the next", () => {
    const report = check(
      {
        setup: () => ({ barrier: new Int32Array(1), arrivals: new Int32Array(1) }),
        names: (s) => ({ barrier: s.barrier, arrivals: s.arrivals }),
        threads: [blocking(2, 1), blocking(2, 1), blocking(2, 1)],
        final: (s, view) => {
          const results = view.results as string[];
          expect(results.filter((r) => r === "leader").length, results.join(", ")).toBe(
            results.filter((r) => r !== "gave up").length / 2,
          );
          expect(generationOf(s.barrier[0]!)).toBeLessThanOrEqual(1);
        },
      },
      budget({ preemptionBound: 2, timeouts: 1 }),
    );
    expect(report.complete).toBe(true);
  });
});

describe("raw barrier (random walks beyond the bound)", () => {
  it("4 parties × 3 rounds: 200 random walks", () => {
    const report = sample(program(4, 3), { runs: 200 });
    if (report.failure) throw new Error(report.failure.trace);
    expect(report.schedules).toBeGreaterThanOrEqual(200);
  });
});

describe("raw barrier mutants: these model tests can fail", () => {
  const mutated = (mutate: typeof mutants.dropNotify) => {
    const base = program(2, 2);
    return { ...base, threads: base.threads.map((body) => withMutant(body, mutate)) };
  };

  it("a leader whose notify wakes nobody: the others wait forever", () => {
    expect(explore(mutated(mutants.dropNotify)).failure?.kind).toBe("deadlock");
  });

  it("an arrival count with a lost update: nobody completes the generation", () => {
    const report = explore(mutated(mutants.splitAdd));
    expect(["deadlock", "thread-error", "final"]).toContain(report.failure?.kind);
  });

  it("the old arrival (add, then a separate reset by the leader): parties + 1 callers make two leaders", () => {
    // The pre-fix raw-barrier: ARRIVED counted with add, the leader stored 0 and bumped GENERATION apart.
    const oldArrive = (A: ThreadContext["atomics"], w: Int32Array, n: number) => {
      A.load(w, 1); // the generation it would wait for
      const arrived = A.add(w, 0, 1) + 1;
      if (arrived < n) return false;
      A.store(w, 0, 0);
      A.add(w, 1, 1);
      return true;
    };
    const report = explore({
      setup: () => new Int32Array(2),
      threads: [0, 1, 2].map(() => (ctx: ThreadContext, w: Int32Array) => oldArrive(ctx.atomics, w, 2)),
      final: (w, view) => {
        // Three callers of a 2-party barrier complete at most one generation.
        expect(view.results.filter(Boolean).length, "leaders").toBeLessThanOrEqual(1);
        expect(w[1]).toBeLessThanOrEqual(1);
      },
    });
    expect(report.failure?.kind).toBe("final");
  });

  it("a party that times out without withdrawing: the next generation is released one short", () => {
    const noWithdraw = (ctx: ThreadContext, s: Shared) => {
      const A = ctx.atomics;
      const { leader, generation } = arrive(A, s.barrier, 0, 2);
      if (leader) return "leader";
      const waiter = newWaiter(0);
      // Gives up at its first park, and (BUG, on purpose) keeps its arrival.
      if (!waitStep(A, s.barrier, 0, generation, waiter)) return "gave up";
      return "passed";
    };
    const report = explore({
      setup: () => ({ barrier: new Int32Array(1), arrivals: new Int32Array(1) }),
      threads: [noWithdraw, (ctx: ThreadContext, s: Shared) => arrive(ctx.atomics, s.barrier, 0, 2).leader],
      final: (s, view) => {
        // Only one party stayed: no generation may complete with one.
        if (view.results[0] === "gave up") expect(generationOf(s.barrier[0]!), "generations").toBe(0);
      },
    });
    expect(report.failure?.kind).toBe("final");
  });
});
