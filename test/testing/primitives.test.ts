/**
 * Every lockbox primitive works under the explorer (its operations are points, blocked waits are
 * recognised, grants resume the right task), with invariants checked in every schedule.
 */
import { describe, expect, it } from "vitest";
import {
  Barrier,
  Cell,
  KeyedMutex,
  Mutex,
  Notify,
  OnceCell,
  RwLock,
  Semaphore,
  TimeoutError,
} from "../../src/index.js";
import { type ExploreContext, explore } from "../../src/testing/index.js";
import { programs } from "./programs.js";

const RUNS = Number(process.env.EXPLORE_RUNS ?? 200);

async function passesEverywhere(body: (t: ExploreContext) => Promise<void>): Promise<void> {
  const random = await explore(body, { strategy: "random", seed: 11, runs: RUNS });
  expect(random.schedulesExplored).toBeGreaterThan(1);
  await explore(body, { strategy: "pct", seed: 11, runs: RUNS });
  const exhaustive = await explore(body, { strategy: "exhaustive", preemptionBound: 1, runs: 5_000 });
  expect(exhaustive.runs).toBeGreaterThan(1);
}

describe("explore drives every primitive", () => {
  it("RwLock: readers share, writers exclude, upgrade and downgrade", async () => {
    await passesEverywhere(async (t) => {
      const lock = new RwLock({ n: 0 }, { name: "rw" });
      const inside = { readers: 0, writers: 0 };
      const reader = async () => {
        const g = await lock.read();
        inside.readers++;
        t.assert(inside.writers === 0, "a reader saw a writer inside");
        await t.yield();
        inside.readers--;
        g.release();
      };
      const writer = async () => {
        const g = await lock.write();
        inside.writers++;
        t.assert(inside.writers === 1 && inside.readers === 0, "writer not alone");
        await t.yield();
        g.value.n++;
        inside.writers--;
        const r = g.downgrade();
        r.release();
      };
      const upgrader = async () => {
        const u = await lock.upgradableRead();
        const w = await u.upgrade();
        w.value.n++;
        w.release();
      };
      t.spawn(reader);
      t.spawn(writer);
      t.spawn(upgrader);
      await t.join();
      t.assert((await lock.read()).value.n === 2, "both increments landed");
    });
  });

  it("KeyedMutex, Semaphore with several permits, Barrier, OnceCell, Notify, Cell", async () => {
    await passesEverywhere(async (t) => {
      const keyed = new KeyedMutex<string>({ name: "keys" });
      const pool = new Semaphore(3, { name: "pool" });
      const barrier = new Barrier(2, { name: "barrier" });
      const once = OnceCell.empty<number>({ name: "once" });
      const done = new Notify({ name: "done" });
      const counter = new Cell(0, { name: "counter" });
      let inits = 0;
      t.spawn(async () => {
        const g = await keyed.lockMany(["a", "b"]);
        const p = await pool.acquire(2);
        counter.set(counter.get() + 1);
        p.release();
        g.release();
        await barrier.wait();
        t.assert((await once.getOrInit(() => ++inits)) === 1, "one initialization");
        done.notifyOne();
      });
      t.spawn(async () => {
        await keyed.withLock("b", async () => {
          const p = await pool.acquire(2);
          counter.set(counter.get() + 1);
          p.release();
        });
        await barrier.wait();
        t.assert((await once.getOrInit(() => ++inits)) === 1, "one initialization");
      });
      await done.notified();
      await t.join();
      t.assert(counter.get() === 2 && inits === 1 && pool.available === 3, "all accounted for");
    });
  });

  it("an abort from another task wakes a blocked acquire", async () => {
    await passesEverywhere(async (t) => {
      const m = new Mutex(0, { name: "m" });
      const held = await m.lock();
      const controller = new AbortController();
      const waiter = t.spawn(() =>
        m.lock({ signal: controller.signal }).then(
          () => "acquired",
          () => "aborted",
        ),
      );
      t.spawn(() => controller.abort());
      await t.join();
      held.release();
      const outcome = await waiter;
      t.assert(outcome === "aborted", outcome);
      t.assert(!m.isLocked, "nothing leaked");
    });
  });

  it("a body may await its tasks with Promise.all instead of t.join", async () => {
    await passesEverywhere(async (t) => {
      const m = new Mutex(0);
      const add = () => m.withLock((g) => ++g.value);
      const results = await Promise.all([t.spawn(add), t.spawn(add)]);
      t.assert(results.sort().join() === "1,2", results.join());
    });
  });

  it("exhaustive count, by hand, with a blocked acquire", async () => {
    // main: lock() (free: granted at once), spawn task T, yield (Y), release, end (E). T: start (S,
    // which calls lock()), "after lock" (AL, then release), end (Et). Steps 1-2 (main start, main after
    // lock) are forced. If S comes before Y, T blocks in lock() until Y's release hands m over; either
    // way AL comes after Y. Orders of Y E among S AL Et with Y before AL: Y first -> E in any of 4
    // places, Y after S -> E in any of 3 places: 7 orders. Preemptions (switching away from a task
    // that could continue; none while T is blocked), with main the current task:
    //   Y E S AL Et 0, Y S E AL Et 2, Y S AL E Et 2, Y S AL Et E 1,
    //   S Y E AL Et 1, S Y AL E Et 3, S Y AL Et E 2.
    // Schedules with at most b preemptions: b=0: 1, b=1: 3, b=2: 6, b>=3: all 7.
    const body = async (t: ExploreContext) => {
      const m = new Mutex(0);
      const g = await m.lock();
      t.spawn(async () => {
        (await m.lock()).release();
      });
      await t.yield();
      g.release();
    };
    const counts: number[] = [];
    for (const preemptionBound of [0, 1, 2, 3, 8]) {
      const result = await explore(body, { strategy: "exhaustive", preemptionBound });
      expect(result.exhaustive).toBe(true);
      counts.push(result.schedulesExplored);
    }
    expect(counts).toEqual([1, 3, 6, 7, 7]);
  });

  it("two explorations at once (test.concurrent) keep their tasks apart", async () => {
    const [abba, ok] = await Promise.allSettled([
      explore(programs[1]?.buggy as never, { seed: 3 }),
      explore(programs[1]?.correct as never, { seed: 3, runs: RUNS }),
    ]);
    expect(abba.status).toBe("rejected");
    expect(((abba as PromiseRejectedResult).reason as Error).message).toMatch(/cycle: task \d waits in lock\(\)/);
    expect(ok).toEqual({ status: "fulfilled", value: expect.objectContaining({ runs: RUNS }) });
  });

  it("a woken task resumes when the scheduler picks it, not inside the releaser's step", async () => {
    // Task 2 can observe the window between the hand-over of the lock to task 1 (blocked in lock())
    // and task 1 running again only if that resumption is a scheduling point of its own.
    let windowSeen = false;
    let resumeTraced = false;
    const result = await explore(
      async (t) => {
        const m = new Mutex(0, { name: "m" });
        let released = false;
        let resumed = false;
        const g = await m.lock();
        t.spawn(async () => {
          const h = await m.lock();
          resumed = true;
          h.release();
        });
        t.spawn(async () => {
          await t.yield();
          await t.yield();
          if (released && !resumed && m.isLocked) windowSeen = true;
        });
        await t.yield();
        released = true;
        g.release();
        await t.join();
      },
      { strategy: "exhaustive", preemptionBound: 3 },
    );
    expect(result.exhaustive).toBe(true);
    expect(windowSeen).toBe(true);
    // And the trace shows it: a failing replay of such a schedule lists `resume m (after lock)`.
    const error = await explore(
      async (t) => {
        const m = new Mutex(0, { name: "m" });
        const g = await m.lock();
        t.spawn(async () => {
          (await m.lock()).release();
        });
        await t.yield();
        g.release();
        await t.join();
        t.assert(false, "show the trace");
      },
      // A hand-written schedule: at step 3 (main at its yield, task 1 at its start) run task 1, which
      // then blocks in lock() until main releases.
      { replay: "3>1" },
    ).catch((e: Error) => e);
    resumeTraced = /task 1\s+blocks m \(in lock\)[\s\S]*\d+ {2}task 1\s+after lock m\n/.test((error as Error).message);
    expect(resumeTraced).toBe(true);
  });

  it("a timeout that races with a release: either outcome, never a leak", async () => {
    const outcomes = new Set<string>();
    await explore(
      async (t) => {
        const m = new Mutex(0, { name: "m" });
        const held = await m.lock();
        const waiter = t.spawn(async () => {
          try {
            (await m.lock({ timeout: 10 })).release();
            return "acquired";
          } catch (error) {
            t.assert(error instanceof TimeoutError, String(error));
            return "timed out";
          }
        });
        t.spawn(async () => {
          await t.sleep(10);
          held.release();
        });
        outcomes.add(await waiter);
        await t.join();
        t.assert(!m.isLocked, "the lock is free at the end");
      },
      { strategy: "exhaustive", preemptionBound: 3 },
    );
    // Both timers are due at 10 ms and fire in the order they were set, which the schedule decides
    // (who reached `lock({ timeout })` / `sleep` first): so both outcomes occur, and neither leaks.
    expect([...outcomes].sort()).toEqual(["acquired", "timed out"]);
  });
});
