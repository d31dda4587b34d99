/**
 * Property tests of the three core primitives over thousands of random schedules: fast-check's
 * scheduler decides when each task arrives, how long it holds, and when aborts and timer ticks land.
 *
 * Invariants checked on every schedule: mutual exclusion (Mutex), no reader overlapping a writer
 * (RwLock), permits never over-committed and conserved (Semaphore), strict FIFO grant order, every
 * task settles (nobody left pending forever), and nothing is lost when an abort or timeout races with
 * a release (the lock ends free, the semaphore ends full).
 */
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Mutex, RwLock, Semaphore } from "../../src/index.js";
import { flush, poll } from "../helpers/poll.js";
import { stress } from "../helpers/stress.js";

const RUNS = Math.round(1000 * stress());

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

/** How a task gives up, if it does: an abort scheduled at a random point, or a timeout in ms. */
const cancelArb = fc.oneof(
  { weight: 3, arbitrary: fc.constant({ kind: "none" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "abort" as const }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 3 }).map((ms) => ({ kind: "timeout" as const, ms })) },
);
type Cancel = typeof cancelArb extends fc.Arbitrary<infer C> ? C : never;

interface Outcome {
  requested: number[];
  granted: number[];
  settled: boolean;
}

/**
 * Runs `count` tasks under the scheduler. Each task arrives when the scheduler says, requests, maybe
 * gets cancelled, and on grant holds for `hold` scheduler steps. Timer ticks (1 ms each) are scheduled
 * too, so timeouts fire at random points relative to everything else.
 */
async function runTasks<G extends { release(): void }>(
  s: fc.Scheduler,
  tasks: { cancel: Cancel; hold: number }[],
  request: (i: number, options: { signal?: AbortSignal; timeout?: number }) => Promise<G>,
  onGranted: (i: number) => void,
  onReleasing: (i: number) => void,
): Promise<Outcome> {
  const requested: number[] = [];
  const granted: number[] = [];
  const runs = tasks.map(async (task, i) => {
    await s.schedule(Promise.resolve(), `arrive ${i}`);
    // Every task carries a signal, aborted or not: a granted waiter with a signal resumes one microtask
    // later than one without (the abort-wins check), so mixing them would reorder continuations of
    // grants made in one release, and the FIFO check below reads grant order from continuations.
    const controller = new AbortController();
    const options: { signal?: AbortSignal; timeout?: number } = { signal: controller.signal };
    if (task.cancel.kind === "abort") {
      s.schedule(Promise.resolve(), `abort ${i}`).then(() => controller.abort());
    } else if (task.cancel.kind === "timeout") {
      options.timeout = task.cancel.ms;
    }
    requested.push(i);
    let guard: G;
    try {
      guard = await request(i, options);
    } catch {
      return;
    }
    granted.push(i);
    onGranted(i);
    for (let k = 0; k < task.hold; k++) await s.schedule(Promise.resolve(), `hold ${i}`);
    onReleasing(i);
    guard.release();
  });
  for (let t = 0; t < 4; t++) s.schedule(Promise.resolve(), `tick ${t}`).then(() => vi.advanceTimersByTime(1));
  // Run the schedule to the end: scheduled steps, then any armed timers (every timed wait must end),
  // until neither produces more work. A task still pending after that is pending forever.
  for (let round = 0; round < 100; round++) {
    await s.waitAll();
    await vi.runAllTimersAsync();
    await flush();
    if (s.count() === 0) break;
  }
  const states = await Promise.all(runs.map((run) => poll(run)));
  return { requested, granted, settled: states.every((state) => state.state === "fulfilled") };
}

/** Grants must follow request order: the granted tasks, in grant order, are a subsequence of requests. */
function expectFifo({ requested, granted }: Outcome): void {
  const grantedSet = new Set(granted);
  expect(granted).toEqual(requested.filter((i) => grantedSet.has(i)));
}

const taskArb = fc.record({ cancel: cancelArb, hold: fc.integer({ min: 0, max: 3 }) });

describe("properties", () => {
  it("Mutex: mutual exclusion, FIFO, every task settles, the lock ends free", async () => {
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), fc.array(taskArb, { minLength: 1, maxLength: 7 }), async (s, tasks) => {
        const mutex = new Mutex(0);
        let inside = 0;
        let maxInside = 0;
        const outcome = await runTasks(
          s,
          tasks,
          (_i, options) => mutex.lock(options),
          () => {
            inside++;
            maxInside = Math.max(maxInside, inside);
          },
          () => inside--,
        );
        expect(maxInside).toBeLessThanOrEqual(1);
        expect(outcome.settled).toBe(true);
        expectFifo(outcome);
        expect(mutex.isLocked).toBe(false);
        expect(vi.getTimerCount()).toBe(0);
        const guard = mutex.tryLock();
        expect(guard).toBeDefined();
        guard?.release();
      }),
      { numRuns: RUNS },
    );
  });

  it("RwLock: readers never overlap a writer, FIFO, the lock ends free", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.array(fc.record({ cancel: cancelArb, hold: fc.integer({ min: 0, max: 3 }), write: fc.boolean() }), {
          minLength: 1,
          maxLength: 7,
        }),
        fc.integer({ min: 1, max: 4 }),
        async (s, tasks, maxReaders) => {
          const lock = new RwLock(0, { maxReaders });
          let readers = 0;
          let writers = 0;
          let violations = 0;
          const outcome = await runTasks<{ release(): void }>(
            s,
            tasks,
            (i, options) => (tasks[i]!.write ? lock.write(options) : lock.read(options)),
            (i) => {
              if (tasks[i]!.write) writers++;
              else readers++;
              if (writers > 1 || (writers === 1 && readers > 0) || readers > maxReaders) violations++;
            },
            (i) => {
              if (tasks[i]!.write) writers--;
              else readers--;
            },
          );
          expect(violations).toBe(0);
          expect(outcome.settled).toBe(true);
          expectFifo(outcome);
          expect(lock.readers).toBe(0);
          expect(lock.isWriteLocked).toBe(false);
          expect(vi.getTimerCount()).toBe(0);
          const writer = lock.tryWrite();
          expect(writer).toBeDefined();
          writer?.release();
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("Semaphore: never over-committed, FIFO, permits conserved", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.record({ cancel: cancelArb, hold: fc.integer({ min: 0, max: 3 }), permits: fc.nat() }), {
          minLength: 1,
          maxLength: 7,
        }),
        async (s, capacity, raw) => {
          const tasks = raw.map((t) => ({ ...t, permits: 1 + (t.permits % capacity) }));
          const sem = new Semaphore(capacity);
          let held = 0;
          let maxHeld = 0;
          const outcome = await runTasks(
            s,
            tasks,
            (i, options) => sem.acquire(tasks[i]!.permits, options),
            (i) => {
              held += tasks[i]!.permits;
              maxHeld = Math.max(maxHeld, held);
            },
            (i) => {
              held -= tasks[i]!.permits;
            },
          );
          expect(maxHeld).toBeLessThanOrEqual(capacity);
          expect(outcome.settled).toBe(true);
          expectFifo(outcome);
          expect(sem.available).toBe(capacity);
          expect(vi.getTimerCount()).toBe(0);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("the FIFO check itself catches an out-of-order grant", () => {
    expect(() => expectFifo({ requested: [0, 1, 2], granted: [1, 0], settled: true })).toThrow();
    expect(() => expectFifo({ requested: [0, 1, 2], granted: [0, 2], settled: true })).not.toThrow();
  });
});
