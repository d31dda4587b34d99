import fc from "fast-check";
import { afterEach, describe, expect, it, vi } from "vitest";
import { TimeoutError } from "../../src/errors.js";
import { Notify } from "../../src/sync/notify.js";
import { assertPending, assertReady, assertRejected, flush, poll } from "../helpers/poll.js";
import { stress } from "../helpers/stress.js";

afterEach(() => {
  vi.useRealTimers();
});

describe("Notify", () => {
  it("notifyOne wakes one waiter, in FIFO order", async () => {
    const notify = new Notify();
    const order: number[] = [];
    const waits = [0, 1, 2].map((i) => notify.notified().then(() => order.push(i)));
    await assertPending(waits[0]!);
    expect(notify.waiters).toBe(3);
    notify.notifyOne();
    await flush();
    expect(order).toEqual([0]);
    notify.notifyOne();
    notify.notifyOne();
    await flush();
    expect(order).toEqual([0, 1, 2]);
    expect(notify.waiters).toBe(0);
  });

  it("notifyOne with nobody waiting stores exactly one notification", async () => {
    const notify = new Notify();
    notify.notifyOne();
    notify.notifyOne();
    notify.notifyOne();
    await assertReady(notify.notified());
    await assertPending(notify.notified());
  });

  it("notifyWaiters wakes every current waiter and stores nothing", async () => {
    const notify = new Notify();
    const a = notify.notified();
    const b = notify.notified();
    notify.notifyWaiters();
    await assertReady(a);
    await assertReady(b);
    await assertPending(notify.notified());
  });

  it("notifyWaiters does not wake a waiter that arrives after it", async () => {
    const notify = new Notify();
    notify.notifyWaiters();
    const late = notify.notified();
    await assertPending(late);
    notify.notifyOne();
    await assertReady(late);
  });

  it("an already-aborted signal rejects without consuming the stored notification", async () => {
    const notify = new Notify();
    notify.notifyOne();
    const reason = new Error("stop");
    expect(await assertRejected(notify.notified({ signal: AbortSignal.abort(reason) }))).toBe(reason);
    await assertReady(notify.notified());
  });

  it("an aborted waiter leaves the queue, so notifyOne goes to the next one", async () => {
    const notify = new Notify();
    const controller = new AbortController();
    const first = notify.notified({ signal: controller.signal });
    const second = notify.notified();
    controller.abort("gone");
    expect(await assertRejected(first)).toBe("gone");
    expect(notify.waiters).toBe(1);
    notify.notifyOne();
    await assertReady(second);
  });

  it("an aborted last waiter leaves no waiter behind, so notifyOne is stored", async () => {
    const notify = new Notify();
    const controller = new AbortController();
    const first = notify.notified({ signal: controller.signal });
    controller.abort();
    await assertRejected(first);
    notify.notifyOne();
    await assertReady(notify.notified());
  });

  it("regression: a notifyOne that races with an abort is handed on to the next waiter, not lost", async () => {
    const notify = new Notify();
    const controller = new AbortController();
    // An abort listener registered before the wait runs first and notifies: the wake lands on a
    // waiter whose signal is already aborted.
    controller.signal.addEventListener("abort", () => notify.notifyOne());
    const waiter = notify.notified({ signal: controller.signal });
    const next = notify.notified();
    controller.abort("stop");
    expect(await assertRejected(waiter)).toBe("stop");
    await assertReady(next);
    expect(notify.waiters).toBe(0);
  });

  it("a wake and an abort in the same synchronous run: the abort wins and the notification is stored", async () => {
    const notify = new Notify();
    const controller = new AbortController();
    const waiter = notify.notified({ signal: controller.signal });
    await flush();
    notify.notifyOne();
    controller.abort("stop");
    expect(await assertRejected(waiter)).toBe("stop");
    // Nobody else was waiting: the handed-on notification is stored for the next caller.
    await assertReady(notify.notified());
  });

  it("an abort after the woken caller resumed changes nothing", async () => {
    const notify = new Notify();
    const controller = new AbortController();
    const waiter = notify.notified({ signal: controller.signal });
    notify.notifyOne();
    await assertReady(waiter);
    controller.abort();
    await assertPending(notify.notified());
  });

  it("a notifyWaiters wake that races with an abort is not handed on", async () => {
    const notify = new Notify();
    const controller = new AbortController();
    const waiter = notify.notified({ signal: controller.signal });
    notify.notifyWaiters();
    controller.abort("stop");
    expect(await assertRejected(waiter)).toBe("stop");
    await assertPending(notify.notified());
  });

  it("times out with TimeoutError and leaves no timer or place behind", async () => {
    vi.useFakeTimers();
    const notify = new Notify();
    const waiter = notify.notified({ timeout: 50 });
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(49);
    await assertPending(waiter);
    vi.advanceTimersByTime(1);
    expect(await assertRejected(waiter)).toBeInstanceOf(TimeoutError);
    expect(notify.waiters).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("a notified waiter clears its timer", async () => {
    vi.useFakeTimers();
    const notify = new Notify();
    const waiter = notify.notified({ timeout: 50 });
    notify.notifyOne();
    await assertReady(waiter);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("rejects bad options with TypeError / RangeError", async () => {
    const notify = new Notify();
    expect(await assertRejected(notify.notified({ timeout: -1 }))).toBeInstanceOf(RangeError);
    expect(await assertRejected(notify.notified({ signal: "x" as never }))).toBeInstanceOf(TypeError);
    expect(notify.waiters).toBe(0);
  });

  it("cannot be structured-cloned", () => {
    expect(() => structuredClone(new Notify())).toThrow();
  });

  it("property: matches a FIFO model under random notify / wait / abort interleavings (no lost wake-up)", async () => {
    type Op = "wait" | "waitAbortable" | "notifyOne" | "notifyWaiters" | "abort";
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.array(fc.constantFrom<Op>("wait", "waitAbortable", "notifyOne", "notifyWaiters", "abort"), {
          minLength: 1,
          maxLength: 30,
        }),
        async (s, ops) => {
          const notify = new Notify();
          // The model: FIFO queue of waiter ids, at most one stored notification.
          const queue: number[] = [];
          let stored = false;
          const expected = new Map<number, "woken" | "aborted">();
          const controllers: { id: number; controller: AbortController }[] = [];
          const outcomes: Promise<"woken" | "aborted">[] = [];
          const start = (abortable: boolean): void => {
            const id = outcomes.length;
            const controller = new AbortController();
            if (abortable) controllers.push({ id, controller });
            const options = abortable ? { signal: controller.signal } : undefined;
            outcomes.push(
              notify.notified(options).then(
                () => "woken" as const,
                () => "aborted" as const,
              ),
            );
            if (stored) {
              stored = false;
              expected.set(id, "woken");
            } else queue.push(id);
          };
          for (const op of ops) {
            s.schedule(Promise.resolve(op)).then(() => {
              switch (op) {
                case "wait":
                case "waitAbortable":
                  start(op === "waitAbortable");
                  break;
                case "notifyOne": {
                  notify.notifyOne();
                  const head = queue.shift();
                  if (head === undefined) stored = true;
                  else expected.set(head, "woken");
                  break;
                }
                case "notifyWaiters":
                  notify.notifyWaiters();
                  for (const id of queue.splice(0)) expected.set(id, "woken");
                  break;
                case "abort": {
                  const target = controllers.shift();
                  if (target === undefined) break;
                  target.controller.abort();
                  const at = queue.indexOf(target.id);
                  if (at >= 0) {
                    queue.splice(at, 1);
                    expected.set(target.id, "aborted");
                  }
                  break;
                }
              }
            });
          }
          // One step at a time, settling what each step woke before the next one runs (the races of a
          // wake with an abort in the same synchronous run have their own tests above).
          while (s.count() > 0) {
            await s.waitNext(1);
            await flush();
          }
          for (const [id, outcome] of outcomes.entries()) {
            const result = await poll(outcome);
            const want = expected.get(id);
            if (want === undefined) expect(result.state).toBe("pending");
            else expect(result).toEqual({ state: "fulfilled", value: want });
          }
          expect(notify.waiters).toBe(queue.length);
          if (queue.length === 0) {
            const probe = notify.notified();
            expect((await poll(probe)).state).toBe(stored ? "fulfilled" : "pending");
          }
        },
      ),
      { numRuns: 100 * stress() },
    );
  });
});
