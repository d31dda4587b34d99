/**
 * Tests of the model checker itself: it explores exactly the schedules it claims (checked against an
 * independent brute-force enumeration), models wait/notify/timeouts/spurious wake-ups as documented,
 * and reports every kind of failure with a schedule that replays.
 */

import fc from "fast-check";
import { afterEach, describe, expect, it, vi } from "vitest";
import { check, defaultOptions, explore, ModelCheckError, type Program, replay, trace } from "./explorer.js";

/** Each thread loads its own word `ops[i]` times: no blocking, so every interleaving is a schedule. */
function independent(ops: readonly number[]): Program<Int32Array> {
  return {
    setup: () => new Int32Array(ops.length),
    threads: ops.map((n, i) => (ctx, mem) => {
      for (let k = 0; k < n; k++) ctx.atomics.load(mem, i);
    }),
  };
}

/**
 * Brute force, independent of the explorer: every sequence of thread ids with thread i appearing
 * ops[i] times, counting a switch away from a thread with operations left as a preemption. A thread
 * with no operation still takes one step (it is scheduled, and returns).
 */
function bruteForce(ops: readonly number[], bound: number): number {
  let count = 0;
  const left = ops.map((n) => Math.max(n, 1));
  const total = left.reduce((a, b) => a + b, 0);
  const go = (depth: number, last: number, preemptions: number) => {
    if (preemptions > bound) return;
    if (depth === total) {
      count++;
      return;
    }
    for (let t = 0; t < left.length; t++) {
      if (left[t] === 0) continue;
      const switched = last >= 0 && t !== last && left[last]! > 0;
      left[t]!--;
      go(depth + 1, t, preemptions + (switched ? 1 : 0));
      left[t]!++;
    }
  };
  go(0, -1, 0);
  return count;
}

describe("schedule enumeration", () => {
  it("explores exactly the interleavings within the preemption bound (brute force agrees)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 3 }),
        fc.integer({ min: 0, max: 3 }),
        (ops, bound) => {
          const report = explore(independent(ops), { preemptionBound: bound, maxSchedules: 1e6 });
          expect(report.failure).toBeUndefined();
          expect(report.complete).toBe(true);
          expect(report.schedules).toBe(bruteForce(ops, bound));
        },
      ),
      { numRuns: 60 },
    );
  });

  it("visits every schedule once: no duplicate across the iterative bounding passes", () => {
    const seen = new Set<string>();
    const report = explore(independent([3, 2, 2]), {
      preemptionBound: 2,
      onSchedule(_steps, schedule) {
        expect(seen.has(schedule)).toBe(false);
        seen.add(schedule);
      },
    });
    expect(seen.size).toBe(report.schedules);
    expect(report.runs).toBeGreaterThan(report.schedules); // lower bounds were re-run, not re-counted
  });

  it("stops at maxSchedules and says it is incomplete", () => {
    const report = explore(independent([4, 4, 4]), { preemptionBound: 2, maxSchedules: 10 });
    expect(report.complete).toBe(false);
    expect(report.runs).toBe(10);
  });

  it("a switch at a block is free: a parked thread is not preempted", () => {
    // T0 parks at once; T1 must run to wake it; with bound 0 that switch is still allowed.
    const program: Program<Int32Array> = {
      setup: () => new Int32Array(1),
      threads: [
        (ctx, mem) => {
          while (ctx.atomics.load(mem, 0) === 0) ctx.atomics.wait(mem, 0, 0);
        },
        (ctx, mem) => {
          ctx.atomics.store(mem, 0, 1);
          ctx.atomics.notify(mem, 0);
        },
      ],
    };
    const report = check(program, { preemptionBound: 0 });
    expect(report.complete).toBe(true);
    expect(report.schedules).toBe(2); // T0 first (parks, T1 wakes it) or T1 first
  });

  it("defaults come from LOCKBOX_MODEL_BOUND, LOCKBOX_MODEL_SCHEDULES and LOCKBOX_STRESS", () => {
    vi.stubEnv("LOCKBOX_MODEL_BOUND", "3");
    vi.stubEnv("LOCKBOX_MODEL_SCHEDULES", "");
    vi.stubEnv("LOCKBOX_STRESS", "5");
    const raised = defaultOptions();
    expect(raised.preemptionBound).toBe(3);
    vi.stubEnv("LOCKBOX_STRESS", "1");
    expect(raised.maxSchedules).toBe(5 * defaultOptions().maxSchedules);
    vi.stubEnv("LOCKBOX_MODEL_SCHEDULES", "77");
    expect(defaultOptions().maxSchedules).toBe(77);
    vi.stubEnv("LOCKBOX_MODEL_BOUND", "-1");
    expect(() => defaultOptions()).toThrow(RangeError);
  });

  afterEach(() => {
    vi.unstubAllEnvs();
  });
});

describe("wait and notify", () => {
  it("notify wakes parked threads in the order they parked and returns the count", () => {
    const program: Program<Int32Array> = {
      setup: () => new Int32Array(2),
      threads: [
        (ctx, mem) => ctx.atomics.wait(mem, 0, 0),
        (ctx, mem) => ctx.atomics.wait(mem, 0, 0),
        (ctx, mem) => {
          const first = ctx.atomics.notify(mem, 0, 1);
          const rest = ctx.atomics.notify(mem, 0);
          return [first, rest];
        },
      ],
    };
    // T1 parks, then T0 parks, then T2 notifies one (T1 must wake first), then all.
    const report = replay(program, "1 0 2 2 1 0");
    expect(report.failure).toBeUndefined();
    const text = trace(program, "1 0 2 2 1 0");
    expect(text).toMatch(/T2 notify\(m0\[0\], 1\) -> 1 \(wakes T1\)/);
    expect(text).toMatch(/T2 notify\(m0\[0\]\) -> 1 \(wakes T0\)/);
  });

  it("a wait whose value does not match returns not-equal without parking", () => {
    const program: Program<Int32Array> = {
      setup: () => Int32Array.of(5),
      threads: [(ctx, mem) => ctx.atomics.wait(mem, 0, 4)],
      final: (_s, view) => expect(view.results).toEqual(["not-equal"]),
    };
    expect(check(program).schedules).toBe(1);
  });

  it("an untimed wait nobody notifies is a deadlock; a timed one times out instead", () => {
    const make = (timeout?: number): Program<Int32Array> => ({
      setup: () => new Int32Array(1),
      threads: [(ctx, mem) => ctx.atomics.wait(mem, 0, 0, timeout)],
      final: (_s, view) => expect(view.results).toEqual(["timed-out"]),
    });
    expect(explore(make()).failure?.kind).toBe("deadlock");
    expect(explore(make(Number.POSITIVE_INFINITY)).failure?.kind).toBe("deadlock");
    expect(check(make(10)).schedules).toBe(1);
    expect(check(make(0)).schedules).toBe(1); // timeout 0 never parks
    // With no timeout budget a timed wait cannot end: the schedule is counted as stuck, not failed.
    const stuck = explore(make(10), { timeouts: 0 });
    expect(stuck.failure).toBeUndefined();
    expect(stuck.stuck).toBe(1);
  });

  it("a timeout races a notify: both outcomes are explored", () => {
    const outcomes = new Set<unknown>();
    const program: Program<Int32Array> = {
      setup: () => new Int32Array(1),
      threads: [(ctx, mem) => ctx.atomics.wait(mem, 0, 0, 50), (ctx, mem) => ctx.atomics.notify(mem, 0)],
      final: (_s, view) => {
        outcomes.add(`${view.results[0]} ${view.results[1]}`);
      },
    };
    check(program);
    // Parked and notified; parked, timed out, then a notify that finds nobody; notified before parking.
    expect([...outcomes].sort()).toEqual(["ok 1", "timed-out 0"]);
  });

  it("spurious wake-ups are explored only when asked for", () => {
    // A wait outside a loop assumes the wake-up means the store happened: wrong under spurious wake-ups.
    const program: Program<Int32Array> = {
      setup: () => new Int32Array(1),
      threads: [
        (ctx, mem) => {
          ctx.atomics.wait(mem, 0, 0);
          if (ctx.atomics.load(mem, 0) !== 1) throw new Error("woke before the store");
        },
        (ctx, mem) => {
          ctx.atomics.store(mem, 0, 1);
          ctx.atomics.notify(mem, 0);
        },
      ],
    };
    expect(check(program).complete).toBe(true);
    const report = explore(program, { spuriousWakeups: 1 });
    expect(report.failure?.kind).toBe("thread-error");
    expect(report.failure?.schedule).toMatch(/!0/);
    expect(report.failure?.trace).toMatch(/wakes spuriously/);
  });
});

describe("stolen wake-ups (an abandoned waitAsync in the queue)", () => {
  const program = (count: number | undefined): Program<Int32Array> => ({
    setup: () => new Int32Array(1),
    threads: [
      (ctx, mem) => {
        while (ctx.atomics.load(mem, 0) === 0) ctx.atomics.wait(mem, 0, 0);
      },
      (ctx, mem) => {
        ctx.atomics.store(mem, 0, 1);
        return ctx.atomics.notify(mem, 0, count);
      },
    ],
  });

  it("a notify(…, 1) can land on the phantom and wake nobody: explored as `?k`", () => {
    expect(check(program(1)).complete).toBe(true);
    const report = explore(program(1), { stolenWakeups: 1 });
    expect(report.failure?.kind).toBe("deadlock");
    expect(report.failure?.schedule).toMatch(/\?0/);
    expect(report.failure?.trace).toMatch(/notify\(m0\[0\], 1\) -> 1 \(wakes an abandoned waitAsync\)/);
  });

  it("a notify of everyone still reaches the real waiter", () => {
    expect(check(program(undefined), { stolenWakeups: 2 }).complete).toBe(true);
  });
});

describe("failure reports", () => {
  it("an invariant is checked after every step", () => {
    const program: Program<Int32Array> = {
      setup: () => new Int32Array(1),
      threads: [(ctx, mem) => ctx.atomics.add(mem, 0, 1), (ctx, mem) => ctx.atomics.add(mem, 0, 1)],
      invariant: (mem) => {
        if (mem[0]! > 1) throw new Error(`word is ${mem[0]}`);
      },
    };
    const report = explore(program);
    expect(report.failure?.kind).toBe("invariant");
    expect(report.failure?.message).toMatch(/word is 2/);
    expect(() => check(program)).toThrow(ModelCheckError);
  });

  it("shared holders coexist, an exclusive one conflicts, a weighted section respects its capacity", () => {
    const enterTwice = (mode: "shared" | "exclusive"): Program<null> => ({
      setup: () => null,
      threads: [0, 1].map(() => (ctx) => {
        ctx.enter("s", mode);
        ctx.leave("s");
      }),
    });
    expect(check(enterTwice("shared")).complete).toBe(true);
    expect(explore(enterTwice("exclusive")).failure?.kind).toBe("exclusion");
    const weighted = (capacity: number): Program<null> => ({
      setup: () => null,
      capacity: { permits: capacity },
      threads: [2, 3].map((w) => (ctx) => {
        ctx.enter("permits", "shared", w);
        ctx.leave("permits");
      }),
    });
    expect(check(weighted(5)).complete).toBe(true);
    expect(explore(weighted(4)).failure?.message).toMatch(/capacity 4/);
  });

  it("a thread that finishes inside a section, or leaves one it never entered, fails", () => {
    const program = (body: (ctx: Parameters<Program<null>["threads"][number]>[0]) => void): Program<null> => ({
      setup: () => null,
      threads: [body],
    });
    expect(explore(program((ctx) => ctx.enter("cs"))).failure?.message).toMatch(/finished while still inside "cs"/);
    expect(explore(program((ctx) => ctx.leave("cs"))).failure?.message).toMatch(/left "cs" without entering/);
  });

  it("a thread that throws is reported with its error", () => {
    const program: Program<Int32Array> = {
      setup: () => new Int32Array(1),
      threads: [
        (ctx, mem) => {
          if (ctx.atomics.load(mem, 0) === 0) throw new TypeError("boom");
        },
      ],
    };
    expect(explore(program).failure?.message).toBe("T0 threw: TypeError: boom");
  });

  it("code that is not deterministic between calls is caught on replay", () => {
    let runs = 0; // state outside the thread: different on every re-execution
    const program: Program<Int32Array> = {
      setup: () => new Int32Array(4),
      threads: [
        (ctx, mem) => {
          ctx.atomics.load(mem, runs++ % 4);
          ctx.atomics.load(mem, 0);
        },
        (ctx, mem) => ctx.atomics.load(mem, 3),
      ],
    };
    const report = explore(program);
    expect(report.failure?.kind).toBe("nondeterminism");
    expect(report.failure?.message).toMatch(/replayed as load\(m0\[\d\]\) but was recorded as load\(m0\[\d\]\)/);
  });

  it("code that swallows the preemption signal is caught", () => {
    const program: Program<Int32Array> = {
      setup: () => new Int32Array(1),
      threads: [0, 1].map(() => (ctx, mem) => {
        for (let i = 0; i < 2; i++) {
          try {
            ctx.atomics.add(mem, 0, 1);
          } catch {
            // swallowing everything, including the checker's signal
          }
        }
      }),
    };
    expect(explore(program).failure?.kind).toBe("swallowed-preemption");
  });

  it("a finally block that unlocks while a thread is being unwound does not touch memory", () => {
    const program: Program<Int32Array> = {
      setup: () => new Int32Array(2),
      threads: [0, 1].map(() => (ctx, mem) => {
        ctx.atomics.add(mem, 0, 1);
        try {
          ctx.atomics.load(mem, 1);
        } finally {
          ctx.atomics.sub(mem, 0, 1);
        }
      }),
      invariant: (mem) => {
        if (mem[0]! < 0 || mem[0]! > 2) throw new Error(`count ${mem[0]}`);
      },
      final: (mem) => expect(mem[0]).toBe(0),
    };
    expect(check(program).complete).toBe(true);
  });

  it("an unbounded spin is reported as a livelock", () => {
    const program: Program<Int32Array> = {
      setup: () => new Int32Array(1),
      threads: [
        (ctx, mem) => {
          while (ctx.atomics.load(mem, 0) === 0) {}
        },
      ],
    };
    expect(explore(program, { maxSteps: 50 }).failure?.kind).toBe("livelock");
  });

  it("a schedule that is not possible is reported, not silently changed", () => {
    const report = replay(independent([1, 1]), "0 5");
    expect(report.failure?.kind).toBe("infeasible-schedule");
  });

  it("memory is named in traces", () => {
    const program: Program<{ lock: Int32Array; data: Int32Array }> = {
      setup: () => {
        const buffer = new SharedArrayBuffer(16);
        return { lock: new Int32Array(buffer, 0, 1), data: new Int32Array(buffer, 8, 2) };
      },
      names: (s) => ({ lock: s.lock, data: s.data }),
      threads: [
        (ctx, s) => {
          ctx.atomics.store(s.data, 1, 7);
          ctx.atomics.load(s.lock, 0);
        },
      ],
    };
    const text = trace(program, "0");
    expect(text).toContain("T0 store(data[1], 7) -> 7");
    expect(text).toContain("T0 load(lock[0]) -> 0");
  });
});
