/**
 * Model checking src/threads/raw/raw-barrier.ts: exactly one leader per generation, nobody leaves a
 * generation before every party has arrived, the barrier is reusable (a party released from one
 * generation that arrives again at once counts in the next), and no lost wake-up (untimed parks).
 */

import { describe, expect, it } from "vitest";
import { arrive, waitBlocking, waitStep } from "../../../src/threads/raw/raw-barrier.js";
import { newWaiter } from "../../../src/threads/raw/waiter.js";
import { mutants, park, withMutant } from "./drivers.js";
import { budget, check, explore, type Program, sample, type ThreadContext } from "./explorer.js";

interface Shared {
  /** [0] ARRIVED, [1] GENERATION. */
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
      if (!leader) {
        const waiter = newWaiter(0);
        while (!waitStep(A, s.barrier, 0, generation, waiter)) park(A, s.barrier, waiter, "untimed");
      }
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
    setup: () => ({ barrier: new Int32Array(2), arrivals: new Int32Array(rounds) }),
    names: (s) => ({ barrier: s.barrier, arrivals: s.arrivals }),
    threads: Array.from({ length: parties }, () => party(parties, rounds)),
    final: (s, view) => {
      const results = view.results as boolean[][];
      for (let r = 0; r < rounds; r++) {
        const leaders = results.filter((leaders) => leaders[r]).length;
        expect(leaders, `leaders in round ${r}`).toBe(1);
      }
      expect(s.barrier[0]).toBe(0);
      expect(s.barrier[1]).toBe(rounds);
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
  it("timed parks: nobody is left behind, and a party that gives up does not block the others", () => {
    const blocking = (timeout: number) => (ctx: ThreadContext, s: Shared) => {
      const A = ctx.atomics;
      A.add(s.arrivals, 0, 1);
      const { leader, generation } = arrive(A, s.barrier, 0, 3);
      if (!leader && !waitBlocking(A, s.barrier, 0, generation, ctx.now, timeout)) return "gave up";
      expect(A.load(s.arrivals, 0)).toBe(3);
      return leader ? "leader" : "passed";
    };
    let gaveUp = 0;
    const report = check(
      {
        setup: () => ({ barrier: new Int32Array(2), arrivals: new Int32Array(1) }),
        names: (s) => ({ barrier: s.barrier, arrivals: s.arrivals }),
        threads: [blocking(Number.POSITIVE_INFINITY), blocking(1), blocking(Number.POSITIVE_INFINITY)],
        // The infinite waiters park with POLL_MS too: bound 0 keeps the timeout choices affordable.
        final: (s, view) => {
          if (view.results.includes("gave up")) gaveUp++;
          expect(view.results.filter((r) => r === "leader")).toHaveLength(1);
          expect(s.barrier[1]).toBe(1);
        },
      },
      budget({ preemptionBound: 0, timeouts: 1 }),
    );
    expect(report.complete).toBe(true);
    expect(gaveUp).toBeGreaterThan(0);
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
});
