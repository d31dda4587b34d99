import fc from "fast-check";
import { afterEach, describe, expect, it, vi } from "vitest";
import { TimeoutError } from "../../src/errors.js";
import { Barrier, type BarrierWaitResult } from "../../src/sync/barrier.js";
import { assertPending, assertReady, assertRejected, poll } from "../helpers/poll.js";
import { stress } from "../helpers/stress.js";

afterEach(() => {
  vi.useRealTimers();
});

describe("Barrier", () => {
  it("releases nobody until n tasks arrive; the last to arrive is the only leader", async () => {
    const barrier = new Barrier(3);
    const a = barrier.wait();
    const b = barrier.wait();
    await assertPending(a);
    await assertPending(b);
    expect(barrier.waiting).toBe(2);
    const c = barrier.wait();
    expect(await assertReady(c)).toEqual({ isLeader: true });
    expect(await assertReady(a)).toEqual({ isLeader: false });
    expect(await assertReady(b)).toEqual({ isLeader: false });
    expect(barrier.waiting).toBe(0);
  });

  it("is reusable: the next n arrivals form a new generation", async () => {
    const barrier = new Barrier(2);
    for (let generation = 0; generation < 3; generation++) {
      const first = barrier.wait();
      await assertPending(first);
      expect(await assertReady(barrier.wait())).toEqual({ isLeader: true });
      expect(await assertReady(first)).toEqual({ isLeader: false });
    }
  });

  it("a barrier of one makes every caller a leader at once", async () => {
    const barrier = new Barrier(1);
    expect(await assertReady(barrier.wait())).toEqual({ isLeader: true });
    expect(await assertReady(barrier.wait())).toEqual({ isLeader: true });
  });

  it("rejects a bad party count with TypeError / RangeError naming `n`", () => {
    expect(() => new Barrier(-1)).toThrow(RangeError);
    expect(() => new Barrier(1.5)).toThrow(/Expected `n` to be an integer from 0 to 2147483647, got 1.5/);
    expect(() => new Barrier("2" as never)).toThrow(TypeError);
    expect(new Barrier(4).parties).toBe(4);
  });

  it("an aborted waiter stops counting as arrived", async () => {
    const barrier = new Barrier(2);
    const controller = new AbortController();
    const leaver = barrier.wait({ signal: controller.signal });
    controller.abort("bye");
    expect(await assertRejected(leaver)).toBe("bye");
    expect(barrier.waiting).toBe(0);
    const a = barrier.wait();
    await assertPending(a);
    expect(await assertReady(barrier.wait())).toEqual({ isLeader: true });
    expect(await assertReady(a)).toEqual({ isLeader: false });
  });

  it("an abort after the generation completed is too late: the wait resolves", async () => {
    const barrier = new Barrier(2);
    const controller = new AbortController();
    const a = barrier.wait({ signal: controller.signal });
    const b = barrier.wait();
    controller.abort();
    expect(await assertReady(a)).toEqual({ isLeader: false });
    expect(await assertReady(b)).toEqual({ isLeader: true });
  });

  it("an already-aborted signal rejects without arriving", async () => {
    const barrier = new Barrier(2);
    await assertRejected(barrier.wait({ signal: AbortSignal.abort() }));
    expect(barrier.waiting).toBe(0);
    // One arrival is not enough, so the aborted call did not count.
    await assertPending(barrier.wait());
  });

  it("times out with TimeoutError, leaving the count and no timer behind", async () => {
    vi.useFakeTimers();
    const barrier = new Barrier(2);
    const a = barrier.wait({ timeout: 10 });
    vi.advanceTimersByTime(10);
    expect(await assertRejected(a)).toBeInstanceOf(TimeoutError);
    expect(vi.getTimerCount()).toBe(0);
    const b = barrier.wait({ timeout: 10 });
    expect(await assertReady(barrier.wait())).toEqual({ isLeader: true });
    await assertReady(b);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("cannot be structured-cloned", () => {
    expect(() => structuredClone(new Barrier(1))).toThrow();
  });

  it("property: random arrival orders and aborts give exactly one leader per complete generation", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.boolean(), { minLength: 1, maxLength: 25 }),
        async (s, n, abortable) => {
          const barrier = new Barrier(n);
          const controllers: AbortController[] = [];
          const results: Promise<BarrierWaitResult | "aborted">[] = [];
          let arrived = 0; // model: live arrivals in the current generation
          let generations = 0;
          let aborted = 0;
          const pendingAbortable = new Set<number>();
          for (const [i, canAbort] of abortable.entries()) {
            s.schedule(Promise.resolve(i)).then(() => {
              const controller = new AbortController();
              const index = results.length;
              results.push(barrier.wait(canAbort ? { signal: controller.signal } : undefined).catch(() => "aborted"));
              arrived++;
              if (arrived === n) {
                arrived = 0;
                generations++;
                pendingAbortable.clear();
              } else if (canAbort) {
                pendingAbortable.add(index);
                controllers[index] = controller;
              }
            });
            if (canAbort) {
              s.schedule(Promise.resolve(i)).then(() => {
                const index = [...pendingAbortable][0];
                if (index === undefined) return;
                pendingAbortable.delete(index);
                controllers[index]?.abort();
                arrived--;
                aborted++;
              });
            }
          }
          await s.waitIdle();
          const states = await Promise.all(results.map((r) => poll(r)));
          const values = states.flatMap((r) => (r.state === "fulfilled" ? [r.value] : []));
          const leaders = values.filter((v) => v !== "aborted" && v.isLeader).length;
          const followers = values.filter((v) => v !== "aborted" && !v.isLeader).length;
          expect(values.filter((v) => v === "aborted").length).toBe(aborted);
          expect(leaders).toBe(generations);
          expect(followers).toBe(generations * (n - 1));
          expect(states.filter((r) => r.state === "pending").length).toBe(arrived);
          expect(barrier.waiting).toBe(arrived);
        },
      ),
      { numRuns: 100 * stress() },
    );
  });
});
