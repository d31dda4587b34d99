/**
 * The explorer's engine on programs without locks: tasks, scheduling points, virtual time, the three
 * strategies, exhaustive counts checked by hand, replay, non-determinism, shrinking, bad arguments.
 */

import { describe, expect, it } from "vitest";
import { LockboxError } from "../../src/errors.js";
import { ExplorationError, type ExploreContext, explore } from "../../src/testing/index.js";

/** Two tasks that read a shared variable, yield, and write it back: the lost update without locks. */
async function racyIncrements(t: ExploreContext): Promise<void> {
  let x = 0;
  const increment = async () => {
    const seen = x;
    await t.yield();
    x = seen + 1;
  };
  t.spawn(increment);
  t.spawn(increment);
  await t.join();
  t.assert(x === 2, `x is ${x}, expected 2`);
}

async function failure(promise: Promise<unknown>): Promise<ExplorationError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ExplorationError);
  return error as ExplorationError;
}

describe("explore: engine", () => {
  it("finds the racy increment with every strategy, and reports seed, schedule and trace", async () => {
    for (const strategy of ["random", "pct", "exhaustive"] as const) {
      const error = await failure(explore(racyIncrements, { strategy, seed: 7 }));
      expect(error).toBeInstanceOf(LockboxError);
      expect(error.name).toBe("ExplorationError");
      expect(error.cause).toBeInstanceOf(Error);
      expect((error.cause as Error).message).toBe("x is 1, expected 2");
      expect(error.seed).toBe(strategy === "exhaustive" ? undefined : 7);
      expect(error.message).toContain("x is 1, expected 2");
      expect(error.message).toContain(`schedule: ${error.schedule}`);
      expect(error.message).toMatch(/trace \(step, task, operation, lock\):\n\s+1 {2}main\s+start/);
      expect(error.message).toMatch(/task 1\s+yield/);
      // The minimal failing schedule needs one preemption; shrinking gets every strategy there.
      expect(error.preemptions).toBe(1);
    }
  });

  it("passes a correct program on every run and counts distinct schedules", async () => {
    const result = await explore(
      async (t) => {
        let x = 0;
        t.spawn(async () => {
          await t.yield();
          x++;
        });
        t.spawn(() => {
          x++;
        });
        await t.join();
        t.assert(x === 2);
      },
      { seed: 3, runs: 200 },
    );
    expect(result.runs).toBe(200);
    expect(result.exhaustive).toBe(false);
    expect(result.schedulesExplored).toBeGreaterThan(1);
    expect(result.schedulesExplored).toBeLessThanOrEqual(200);
  });

  it("exhaustive count, by hand: one empty task, a yield, a join", async () => {
    // Step 1 (main start) is forced: main spawns task 1 and parks at its yield (Y). Then main has the
    // points Y, "after join" (J: main blocks in join() until task 1 is done) and end (E); task 1 has
    // start (S) and end (Et), and Et must come before J. Orders, with main the current task:
    //   Y S Et J E  (0 preemptions: main blocks in join, task 1 runs)
    //   S Et Y J E  (1: task 1 instead of main at Y)
    //   S Y Et J E  (2: and back to main while task 1 could end)
    // So 1 schedule with bound 0, 2 with bound 1, 3 with bound 2 or more.
    const body = async (t: ExploreContext) => {
      t.spawn(() => {});
      await t.yield();
      await t.join();
    };
    const counts = [];
    for (const preemptionBound of [0, 1, 2, 5]) {
      const result = await explore(body, { strategy: "exhaustive", preemptionBound });
      expect(result.exhaustive).toBe(true);
      expect(result.runs).toBe(result.schedulesExplored);
      counts.push(result.schedulesExplored);
    }
    expect(counts).toEqual([1, 2, 3, 3]);
  });

  it("exhaustive count, by hand: two empty tasks, not joined (M, A A, B B interleaved)", async () => {
    // After main's start step, main has one point left (`end`), each task two (`start`, `end`), and
    // nothing ever blocks. A schedule is a word with one M, two A, two B: 5! / (1! 2! 2!) = 30 words,
    // all reachable once the bound allows (at most 4 preemptions: A B A B M).
    // Bound 0 (never switch away from a task that can continue; choose freely when it cannot):
    //   M A A B B, M B B A A -> 2.
    // Bound 1: those two, plus one switch away from a task with a point left:
    //   M A B B A, M B A A B (after M, leave A or B once), A A M B B, A A B B M, B B M A A, B B A A M
    //   (leave M at once, then never again) -> 2 + 6 = 8.
    const body = (t: ExploreContext) => {
      t.spawn(() => {});
      t.spawn(() => {});
    };
    const count = async (preemptionBound: number) =>
      (await explore(body, { strategy: "exhaustive", preemptionBound })).schedulesExplored;
    expect(await count(0)).toBe(2);
    expect(await count(1)).toBe(8);
    expect(await count(4)).toBe(30);
    expect(await count(10)).toBe(30);
  });

  it("runs caps an exhaustive search and says it was not complete", async () => {
    const body = (t: ExploreContext) => {
      t.spawn(() => {});
      t.spawn(() => {});
    };
    expect(await explore(body, { strategy: "exhaustive", preemptionBound: 10, runs: 7 })).toEqual({
      runs: 7,
      schedulesExplored: 7,
      exhaustive: false,
    });
  });

  it("is deterministic for a seed: same failing run, same schedule", async () => {
    for (const strategy of ["random", "pct"] as const) {
      const a = await failure(explore(racyIncrements, { strategy, seed: 42, shrink: false }));
      const b = await failure(explore(racyIncrements, { strategy, seed: 42, shrink: false }));
      expect(b.run).toBe(a.run);
      expect(b.schedule).toBe(a.schedule);
      expect(b.message).toBe(a.message);
    }
  });

  it("replay reruns exactly the failing schedule", async () => {
    const error = await failure(explore(racyIncrements, { seed: 5 }));
    for (let i = 0; i < 3; i++) {
      const again = await failure(explore(racyIncrements, { replay: error.schedule }));
      expect(again.schedule).toBe(error.schedule);
      expect(again.seed).toBeUndefined();
      expect((again.cause as Error).message).toBe("x is 1, expected 2");
      expect(again.message).not.toContain("not deterministic");
    }
  });

  it("replay of a passing schedule resolves", async () => {
    // The default order runs each increment to completion: it passes.
    const ok = await explore(racyIncrements, { strategy: "exhaustive", preemptionBound: 0 });
    expect(ok.exhaustive).toBe(true);
    expect(await explore(racyIncrements, { replay: "" })).toEqual({ runs: 1, schedulesExplored: 1, exhaustive: false });
  });

  it("replay says 'not deterministic' when the body behaves differently under the same schedule", async () => {
    const error = await failure(explore(racyIncrements, { seed: 5 }));
    // Same failure, but one more scheduling point: the trace differs.
    const different = async (t: ExploreContext) => {
      await t.yield();
      await racyIncrements(t);
    };
    const replayed = await failure(explore(different, { replay: error.schedule }));
    expect(replayed.message).toContain("not deterministic");
    // A body that passes where it failed is not deterministic either.
    const passes = async (t: ExploreContext) => {
      t.spawn(() => t.yield());
      t.spawn(() => t.yield());
      await t.join();
    };
    expect((await failure(explore(passes, { replay: error.schedule }))).message).toContain("not deterministic");
  });

  it("exhaustive search says 'not deterministic' when a body depends on something outside it", async () => {
    let calls = 0;
    const error = await failure(
      explore(
        async (t) => {
          calls++;
          t.spawn(() => t.yield());
          t.spawn(() => t.yield());
          if (calls % 3 === 0) t.spawn(() => {});
          await t.join();
        },
        { strategy: "exhaustive" },
      ),
    );
    expect(error.message).toContain("not deterministic");
  });

  it("shrinking reduces preemptions", async () => {
    // Three tasks that each yield twice, and a bug that needs only task 2 to read before task 1 writes.
    const body = async (t: ExploreContext) => {
      let x = 0;
      const noise = async () => {
        await t.yield();
        await t.yield();
      };
      t.spawn(async () => {
        await t.yield();
        x = 1;
      });
      t.spawn(async () => {
        t.assert(x === 1, "task 2 read x before task 1 wrote it");
      });
      t.spawn(noise);
      t.spawn(noise);
    };
    for (let seed = 1; seed <= 5; seed++) {
      const raw = await failure(explore(body, { seed, shrink: false }));
      const shrunk = await failure(explore(body, { seed }));
      expect(shrunk.run).toBe(raw.run);
      expect(shrunk.preemptions).toBeLessThanOrEqual(raw.preemptions);
      // The minimum: task 2 must start before task 1 gets past its yield; one preemption suffices.
      expect(shrunk.preemptions).toBeLessThanOrEqual(1);
      const switches = (s: string) => (s.split("/")[0] === "" ? 0 : (s.split("/")[0] as string).split(",").length);
      expect(switches(shrunk.schedule)).toBeLessThanOrEqual(switches(raw.schedule));
      if (seed === 1) expect(raw.preemptions).toBeGreaterThan(shrunk.preemptions);
      expect(shrunk.message).toMatch(/shrunk from|\(0 preemptions|\(1 preemption/);
    }
  });

  it("t.sleep runs on virtual time: ordered by wake-up time, instantly", async () => {
    const order: string[] = [];
    await explore(
      async (t) => {
        order.length = 0;
        t.spawn(async () => {
          await t.sleep(2_000_000_000);
          order.push(`late@${t.now}`);
        });
        t.spawn(async () => {
          await t.sleep(5);
          order.push(`early@${t.now}`);
        });
        await t.join();
        t.assert(t.now === 2_000_000_000);
      },
      { seed: 1, runs: 20 },
    );
    expect(order).toEqual(["early@5", "late@2000000000"]);
    // No wall-clock assertion: a real wait this long would exceed the test timeout by far.
  });

  it("a task that throws fails the run; the error is the cause", async () => {
    const boom = new Error("boom");
    const error = await failure(
      explore(
        async (t) => {
          t.spawn(async () => {
            await t.yield();
            throw boom;
          });
        },
        { seed: 1, runs: 5 },
      ),
    );
    expect(error.cause).toBe(boom);
    expect(error.run).toBe(1);
    expect(error.message).toMatch(/in task 1: Error: boom/);
  });

  it("t.assert fails the run even when the assertion error is caught", async () => {
    const error = await failure(
      explore(
        (t) => {
          try {
            t.assert(false, "caught but still a failure");
          } catch {}
        },
        { seed: 1, runs: 3 },
      ),
    );
    expect((error.cause as Error).message).toBe("caught but still a failure");
  });

  it("a task that waits for nothing that can happen is a deadlock", async () => {
    const error = await failure(
      explore(
        async (t) => {
          t.spawn(() => new Promise<void>(() => {}));
          await t.join();
        },
        { seed: 1, runs: 3 },
      ),
    );
    expect((error.cause as Error).name).toBe("DeadlockError");
    expect(error.message).toMatch(/main waits in join\(\) for task 1/);
    expect(error.message).toMatch(/task 1 awaits something that is not a lockbox operation/);
  });

  it("a livelock hits maxSteps", async () => {
    const error = await failure(
      explore(
        async (t) => {
          for (;;) await t.yield();
        },
        { seed: 1, runs: 2, maxSteps: 50 },
      ),
    );
    expect((error.cause as Error).message).toContain("maxSteps (50)");
  });

  it("named tasks appear by name in the trace and the report", async () => {
    const error = await failure(
      explore(
        async (t) => {
          t.spawn(
            async () => {
              await t.yield();
              throw new Error("flush failed");
            },
            { name: "flusher" },
          );
        },
        { seed: 1, runs: 2 },
      ),
    );
    expect(error.message).toMatch(/in flusher: Error: flush failed/);
    expect(error.message).toMatch(/main\s+spawn flusher/);
    expect(error.message).toMatch(/\d+ {2}flusher\s+yield/);
  });

  it("t.* outside a task of the run throws", async () => {
    let saved: ExploreContext | undefined;
    await explore(
      (t) => {
        saved = t;
      },
      { runs: 1 },
    );
    expect(() => saved?.yield()).toThrow(/must be called by a task of this run/);
  });

  it("rejects bad arguments with the project's message pattern", async () => {
    await expect(explore("nope" as never)).rejects.toThrow(TypeError);
    await expect(explore(() => {}, { runs: 0 })).rejects.toThrow(
      "Expected `runs` to be an integer from 1 to 2147483647, got 0",
    );
    await expect(explore(() => {}, { strategy: "dfs" as never })).rejects.toThrow(TypeError);
    await expect(explore(() => {}, { depth: 1.5 })).rejects.toThrow(RangeError);
    await expect(explore(() => {}, { preemptionBound: -1 })).rejects.toThrow(RangeError);
    await expect(explore(() => {}, { seed: "1" as never })).rejects.toThrow(TypeError);
    await expect(explore(() => {}, { replay: "garbage" })).rejects.toThrow(/Expected `replay` to be a schedule/);
    await expect(
      explore(
        async (t) => {
          await t.sleep(-1);
        },
        { runs: 1 },
      ),
    ).rejects.toThrow(/Expected `ms` to be a number of milliseconds from 0 to 2147483647, got -1/);
  });
});
