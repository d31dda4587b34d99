/**
 * The explorer finds six classic bugs in programs written with lockbox, on its own, with every
 * strategy; the correct versions pass every run. Runs needed per seed: scripts/explore-stats.ts.
 */
import { describe, expect, it } from "vitest";
import { ExplorationError, explore } from "../../src/testing/index.js";
import { programs } from "./programs.js";

const RUNS = Number(process.env.EXPLORE_RUNS ?? 300);

async function failure(promise: Promise<unknown>): Promise<ExplorationError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ExplorationError);
  return error as ExplorationError;
}

describe.each(programs)("explore finds: $name", (program) => {
  it.each(["random", "pct", "exhaustive"] as const)(
    "with strategy %s, and the replay reproduces it",
    async (strategy) => {
      const error = await failure(explore(program.buggy, { strategy, seed: 1, runs: 1000 }));
      const cause = error.cause as Error;
      expect(cause.name).toBe(program.cause.name);
      expect(cause.message).toMatch(program.cause.message);
      expect(error.message).toContain(cause.message.split("\n")[0]);
      // The trace names the locks the program named.
      expect(error.message).toMatch(/trace \(step, task, operation, lock\):/);
      const again = await failure(explore(program.buggy, { replay: error.schedule }));
      expect(again.schedule).toBe(error.schedule);
      expect((again.cause as Error).name).toBe(cause.name);
      expect(again.message).not.toContain("not deterministic");
    },
  );

  it("the correct version passes every run of every strategy", async () => {
    const random = await explore(program.correct, { strategy: "random", seed: 1, runs: RUNS });
    expect(random.runs).toBe(RUNS);
    const pct = await explore(program.correct, { strategy: "pct", seed: 1, runs: RUNS });
    expect(pct.runs).toBe(RUNS);
    const all = await explore(program.correct, { strategy: "exhaustive", runs: RUNS });
    expect(all.runs).toBeGreaterThan(1);
  });
});

describe("explore: what the reports say", () => {
  it("an ABBA deadlock is reported with its cycle, lock names and the trace", async () => {
    const abba = programs[1];
    const error = await failure(explore(abba?.buggy as never, { strategy: "exhaustive" }));
    expect(error.message).toMatch(
      /cycle: task 1 waits in lock\(\) audit held by task 2\n\s+-> task 2 waits in lock\(\) accounts held by task 1/,
    );
    expect(error.message).toMatch(/\n {9}task 1\s+lock accounts\n/);
    expect(error.message).toMatch(/\d+ {2}task 1\s+after lock accounts/);
    expect(error.message).toMatch(/task 2\s+blocks accounts \(in lock\)/);
    expect(error.preemptions).toBe(1);
  });

  it("an acquire timeout fires in virtual time, only when no task can run", async () => {
    const { Mutex, TimeoutError } = await import("../../src/index.js");
    const result = await explore(
      async (t) => {
        const m = new Mutex(0, { name: "m" });
        const held = await m.lock();
        const waiter = t.spawn(async () => {
          try {
            await m.lock({ timeout: 60_000 });
            return "acquired";
          } catch (error) {
            t.assert(error instanceof TimeoutError, "a TimeoutError");
            t.assert(t.now === 60_000, `timed out at ${t.now}`);
            return "timed out";
          }
        });
        // Holding the lock across a virtual sleep longer than the timeout: the waiter times out.
        await t.sleep(120_000);
        held.release();
        t.assert((await waiter) === "timed out", "the waiter timed out");
      },
      { seed: 2, runs: 50 },
    );
    expect(result.runs).toBe(50);
    // No wall-clock assertion: a real wait this long would exceed the test timeout by far.
  });

  it("a Condvar.waitTimeout times out in virtual time", async () => {
    const { Condvar, Mutex } = await import("../../src/index.js");
    await explore(
      async (t) => {
        const m = new Mutex(0);
        const cv = new Condvar();
        const guard = await m.lock();
        const { guard: again, timedOut } = await cv.waitTimeout(guard, 5_000);
        t.assert(timedOut && t.now === 5_000, `timedOut ${timedOut} at ${t.now}`);
        again.release();
      },
      { runs: 3, seed: 1 },
    );
  });

  it("costs nothing outside an exploration: the observer slot is empty again", async () => {
    const observer = await import("../../src/internal/observer.js");
    await explore(async () => {}, { runs: 2 });
    expect(observer.observer).toBeUndefined();
    await expect(explore(() => Promise.reject(new Error("x")), { runs: 1 })).rejects.toThrow(ExplorationError);
    expect(observer.observer).toBeUndefined();
  });
});
