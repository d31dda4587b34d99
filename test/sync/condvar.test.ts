import fc from "fast-check";
import { afterEach, describe, expect, it, vi } from "vitest";
import { PoisonError, TimeoutError, UseAfterReleaseError } from "../../src/errors.js";
import { Condvar } from "../../src/sync/condvar.js";
import { Mutex, type MutexGuard } from "../../src/sync/mutex.js";
import { assertPending, assertReady, assertRejected, flush, poll } from "../helpers/poll.js";
import { stress } from "../helpers/stress.js";

afterEach(() => {
  vi.useRealTimers();
});

describe("Condvar", () => {
  it("wait releases the mutex, and resolves with a new guard after a notify", async () => {
    const mutex = new Mutex(0);
    const cv = new Condvar();
    const guard = await mutex.lock();
    const waiting = cv.wait(guard);
    expect(guard.released).toBe(true);
    expect(mutex.isLocked).toBe(false);
    expect(cv.waiters).toBe(1);
    await assertPending(waiting);
    await mutex.withLock((g) => {
      g.value = 1;
    });
    cv.notifyOne();
    const next = await assertReady(waiting);
    expect(next).not.toBe(guard);
    expect(next.value).toBe(1);
    expect(mutex.isLocked).toBe(true);
    next.release();
  });

  it("regression: no lost wake-up when the notify comes right after the mutex is released", async () => {
    const mutex = new Mutex(false);
    const cv = new Condvar();
    const guard = await mutex.lock();
    // The notifier is already queued for the mutex: it runs as soon as wait() releases it, before the
    // waiter's own continuation has had a chance to run.
    const notifier = mutex.lock().then((g) => {
      g.value = true;
      cv.notifyOne();
      g.release();
    });
    const waiting = cv.waitWhile(guard, (ready) => !ready);
    await assertReady(notifier);
    const next = await assertReady(waiting);
    expect(next.value).toBe(true);
    next.release();
  });

  it("notifyOne with nobody waiting is not stored", async () => {
    const mutex = new Mutex(0);
    const cv = new Condvar();
    cv.notifyOne();
    cv.notifyAll();
    const waiting = cv.wait(await mutex.lock());
    await assertPending(waiting);
    cv.notifyOne();
    (await assertReady(waiting)).release();
  });

  it("notifyOne wakes waiters in FIFO order; notifyAll wakes all", async () => {
    const mutex = new Mutex<number[]>([]);
    const cv = new Condvar();
    const waiter = async (id: number): Promise<void> => {
      const guard = await cv.wait(await mutex.lock());
      guard.value.push(id);
      guard.release();
    };
    const tasks = [waiter(0), waiter(1), waiter(2), waiter(3)];
    await flush();
    expect(cv.waiters).toBe(4);
    cv.notifyOne();
    await flush();
    expect(await mutex.withLock((g) => [...g.value])).toEqual([0]);
    cv.notifyAll();
    await Promise.all(tasks);
    expect(await mutex.withLock((g) => [...g.value])).toEqual([0, 1, 2, 3]);
    expect(cv.waiters).toBe(0);
  });

  it("waitWhile re-checks the predicate after every wake-up", async () => {
    const mutex = new Mutex(0);
    const cv = new Condvar();
    const predicate = vi.fn((n: number) => n < 3);
    const waiting = cv.waitWhile(await mutex.lock(), predicate);
    for (let i = 1; i <= 3; i++) {
      await mutex.withLock((g) => {
        g.value = i;
      });
      cv.notifyAll();
      await flush();
    }
    const guard = await assertReady(waiting);
    expect(guard.value).toBe(3);
    expect(predicate.mock.calls.map(([n]) => n)).toEqual([0, 1, 2, 3]);
    guard.release();
  });

  it("waitWhile with a false predicate returns the same guard at once", async () => {
    const mutex = new Mutex(5);
    const cv = new Condvar();
    const guard = await mutex.lock();
    expect(await assertReady(cv.waitWhile(guard, (n) => n < 3))).toBe(guard);
    guard.release();
  });

  it("waitWhile releases the guard and rejects when the predicate throws", async () => {
    const mutex = new Mutex(0);
    const cv = new Condvar();
    const boom = new Error("boom");
    const guard = await mutex.lock();
    const result = cv.waitWhile(guard, () => {
      throw boom;
    });
    expect(await assertRejected(result)).toBe(boom);
    expect(mutex.isLocked).toBe(false);
    expect(mutex.isPoisoned).toBe(false);
  });

  it("waitTimeout resolves with timedOut: true and the guard re-acquired", async () => {
    vi.useFakeTimers();
    const mutex = new Mutex("v");
    const cv = new Condvar();
    const waiting = cv.waitTimeout(await mutex.lock(), 100);
    vi.advanceTimersByTime(99);
    await assertPending(waiting);
    vi.advanceTimersByTime(1);
    const { guard, timedOut } = await assertReady(waiting);
    expect(timedOut).toBe(true);
    expect(guard.value).toBe("v");
    expect(mutex.isLocked).toBe(true);
    expect(cv.waiters).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
    guard.release();
  });

  it("waitTimeout resolves with timedOut: false when notified in time, and clears its timer", async () => {
    vi.useFakeTimers();
    const mutex = new Mutex(0);
    const cv = new Condvar();
    const waiting = cv.waitTimeout(await mutex.lock(), 100);
    await flush();
    cv.notifyOne();
    const { guard, timedOut } = await assertReady(waiting);
    expect(timedOut).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
    guard.release();
  });

  it("waitTimeout honours a signal (rejects) and ignorePoison", async () => {
    const mutex = new Mutex(0, { poison: true });
    const cv = new Condvar();
    const controller = new AbortController();
    const aborted = cv.waitTimeout(await mutex.lock(), 1_000, { signal: controller.signal });
    await flush();
    controller.abort("stop");
    expect(await assertRejected(aborted)).toBe("stop");
    expect(mutex.isLocked).toBe(false);

    const guard = await mutex.lock();
    guard.poison();
    const plain = cv.waitTimeout(guard, 1_000);
    await flush();
    const tolerant = cv.waitTimeout(await mutex.lock({ ignorePoison: true }), 1_000, { ignorePoison: true });
    await flush();
    cv.notifyAll();
    expect(await assertRejected(plain)).toBeInstanceOf(PoisonError);
    const result = await assertReady(tolerant);
    expect(result.timedOut).toBe(false);
    result.guard.release();
    expect(mutex.isLocked).toBe(false);
  });

  it("waitTimeout checks `ms`", async () => {
    const mutex = new Mutex(0);
    const cv = new Condvar();
    const guard = await mutex.lock();
    await expect(cv.waitTimeout(guard, -1)).rejects.toThrow(/Expected `ms` to be a finite number of milliseconds/);
    await expect(cv.waitTimeout(guard, undefined as never)).rejects.toThrow(TypeError);
    // Bad arguments leave the caller's guard alone.
    expect(guard.released).toBe(false);
    guard.release();
  });

  it("a timed-out wait re-acquires the mutex and releases it again before rejecting", async () => {
    vi.useFakeTimers();
    const mutex = new Mutex(0);
    const cv = new Condvar();
    const waiting = cv.wait(await mutex.lock(), { timeout: 10 });
    const other = await mutex.lock();
    vi.advanceTimersByTime(10);
    // The timeout fired, but the mutex is held: the rejection waits for the re-acquire.
    await assertPending(waiting);
    expect(cv.waiters).toBe(0);
    other.release();
    expect(await assertRejected(waiting)).toBeInstanceOf(TimeoutError);
    expect(mutex.isLocked).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("an aborted wait re-acquires and releases the mutex, then rejects with the reason", async () => {
    const mutex = new Mutex(0);
    const cv = new Condvar();
    const controller = new AbortController();
    const waiting = cv.wait(await mutex.lock(), { signal: controller.signal });
    await assertPending(waiting);
    controller.abort("stop");
    expect(await assertRejected(waiting)).toBe("stop");
    expect(mutex.isLocked).toBe(false);
    expect(cv.waiters).toBe(0);
    // The abort removed the waiter: a later notify is not consumed by it.
    const next = cv.wait(await mutex.lock());
    cv.notifyOne();
    (await assertReady(next)).release();
  });

  it("regression: a notifyOne that races with an abort is handed on to the next waiter", async () => {
    const mutex = new Mutex(0);
    const cv = new Condvar();
    const controller = new AbortController();
    const first = cv.wait(await mutex.lock(), { signal: controller.signal });
    await flush();
    const second = cv.wait(await mutex.lock());
    await flush();
    cv.notifyOne();
    controller.abort("stop");
    expect(await assertRejected(first)).toBe("stop");
    const guard = await assertReady(second);
    guard.release();
    expect(mutex.isLocked).toBe(false);
    expect(cv.waiters).toBe(0);
  });

  it("a notifyAll wake that races with an abort is not handed on to later waiters", async () => {
    const mutex = new Mutex(0);
    const cv = new Condvar();
    const controller = new AbortController();
    const first = cv.wait(await mutex.lock(), { signal: controller.signal });
    await flush();
    const held = await mutex.lock();
    cv.notifyAll();
    controller.abort("stop");
    // Queued before `first` resumes: a hand-on would reach it.
    const later = cv.wait(held);
    expect(await assertRejected(first)).toBe("stop");
    await assertPending(later);
    cv.notifyOne();
    (await assertReady(later)).release();
  });

  it("an abort during the re-acquire (after the wait resumed) is ignored: the wait resolves", async () => {
    const mutex = new Mutex(0);
    const cv = new Condvar();
    const controller = new AbortController();
    const waiting = cv.wait(await mutex.lock(), { signal: controller.signal });
    const other = await mutex.lock();
    cv.notifyOne();
    await flush();
    controller.abort();
    other.release();
    const guard = await assertReady(waiting);
    expect(guard.released).toBe(false);
    guard.release();
  });

  it("an already-aborted signal releases the guard and rejects without waiting", async () => {
    const mutex = new Mutex(0);
    const cv = new Condvar();
    const guard = await mutex.lock();
    expect(await assertRejected(cv.wait(guard, { signal: AbortSignal.abort("early") }))).toBe("early");
    expect(guard.released).toBe(true);
    expect(mutex.isLocked).toBe(false);
    expect(cv.waiters).toBe(0);
  });

  it("a released guard rejects with UseAfterReleaseError; a non-guard with TypeError", async () => {
    const mutex = new Mutex(0);
    const cv = new Condvar();
    const guard = await mutex.lock();
    guard.release();
    expect(await assertRejected(cv.wait(guard))).toBeInstanceOf(UseAfterReleaseError);
    expect(await assertRejected(cv.waitWhile(guard, () => true))).toBeInstanceOf(UseAfterReleaseError);
    expect(await assertRejected(cv.waitTimeout(guard, 1))).toBeInstanceOf(UseAfterReleaseError);
    expect(await assertRejected(cv.wait({ value: 1 } as never))).toBeInstanceOf(TypeError);
    expect(cv.waiters).toBe(0);
  });

  it("bad options reject with TypeError / RangeError and leave the guard held", async () => {
    const mutex = new Mutex(0);
    const cv = new Condvar();
    const guard = await mutex.lock();
    expect(await assertRejected(cv.wait(guard, { timeout: -5 }))).toBeInstanceOf(RangeError);
    expect(await assertRejected(cv.waitWhile(guard, () => true, { signal: 1 as never }))).toBeInstanceOf(TypeError);
    expect(await assertRejected(cv.waitWhile(guard, 1 as never))).toBeInstanceOf(TypeError);
    expect(guard.released).toBe(false);
    guard.release();
  });

  it("poisoning: a poisoned mutex makes the wake-up reject with PoisonError (lock released), unless ignorePoison", async () => {
    const mutex = new Mutex(0, { poison: true });
    const cv = new Condvar();
    const plain = cv.wait(await mutex.lock());
    await flush();
    const tolerant = cv.wait(await mutex.lock(), { ignorePoison: true });
    await flush();
    await mutex
      .withLock(() => {
        throw new Error("holder failed");
      })
      .catch(() => {});
    expect(mutex.isPoisoned).toBe(true);
    cv.notifyAll();
    expect(await assertRejected(plain)).toBeInstanceOf(PoisonError);
    const guard = await assertReady(tolerant);
    expect(guard.value).toBe(0);
    guard.release();
    expect(mutex.isLocked).toBe(false);
  });

  it("waitWhile's timeout bounds the whole call, not each wait", async () => {
    vi.useFakeTimers();
    const mutex = new Mutex(0);
    const cv = new Condvar();
    const waiting = cv.waitWhile(await mutex.lock(), (n) => n < 100, { timeout: 100 });
    for (let i = 0; i < 3; i++) {
      vi.advanceTimersByTime(40);
      await flush();
      cv.notifyAll(); // spurious for the predicate: it re-waits
      await flush();
    }
    // 120 ms have passed in three waits of 40 ms: one deadline, not a fresh timer per wait.
    expect(await assertRejected(waiting)).toBeInstanceOf(TimeoutError);
    expect(mutex.isLocked).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("waitWhile's timeout timer is cleared when the predicate is satisfied", async () => {
    vi.useFakeTimers();
    const mutex = new Mutex(0);
    const cv = new Condvar();
    const controller = new AbortController();
    const waiting = cv.waitWhile(await mutex.lock(), (n) => n < 1, { timeout: 100, signal: controller.signal });
    await mutex.withLock((g) => {
      g.value = 1;
    });
    cv.notifyOne();
    (await assertReady(waiting)).release();
    expect(vi.getTimerCount()).toBe(0);
    // The caller's signal no longer has our listener: aborting it now changes nothing.
    controller.abort();
    expect(mutex.isLocked).toBe(false);
  });

  it("waitWhile forwards the caller's abort to the wait in progress", async () => {
    vi.useFakeTimers();
    const mutex = new Mutex(0);
    const cv = new Condvar();
    const controller = new AbortController();
    const waiting = cv.waitWhile(await mutex.lock(), (n) => n < 1, { timeout: 100, signal: controller.signal });
    await flush();
    controller.abort("cancelled");
    expect(await assertRejected(waiting)).toBe("cancelled");
    expect(vi.getTimerCount()).toBe(0);
    expect(mutex.isLocked).toBe(false);
  });

  it("cannot be structured-cloned", () => {
    expect(() => structuredClone(new Condvar())).toThrow();
  });

  it("property: no lost wake-ups — every consumer that does not abort gets a token", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.integer({ min: 1, max: 6 }),
        fc.array(fc.boolean(), { minLength: 0, maxLength: 6 }),
        fc.boolean(),
        async (s, producers, abortable, useNotifyAll) => {
          const mutex = new Mutex({ tokens: 0, consumed: 0 });
          const cv = new Condvar();
          const controllers: AbortController[] = [];
          // One token per consumer at least, so every consumer that stays must finish.
          const tokens = Math.max(producers, abortable.length);
          const consumers = abortable.map((canAbort) =>
            s.schedule(Promise.resolve()).then(async () => {
              const controller = new AbortController();
              if (canAbort) controllers.push(controller);
              let guard: MutexGuard<{ tokens: number; consumed: number }> = await mutex.lock();
              // Hold the lock across a scheduling point, so producers can queue behind it and get it the
              // moment wait() releases it.
              await s.schedule(Promise.resolve());
              try {
                guard = await cv.waitWhile(guard, (state) => state.tokens === 0, {
                  signal: canAbort ? controller.signal : undefined,
                });
              } catch {
                return "aborted" as const;
              }
              guard.value.tokens--;
              guard.value.consumed++;
              guard.release();
              return "consumed" as const;
            }),
          );
          const perProducer = Math.ceil(tokens / producers);
          for (let step = 0; step < perProducer * producers; step++) {
            s.schedule(Promise.resolve()).then(async () => {
              // The canonical pattern: change the state and notify while holding the lock.
              const g = await mutex.lock();
              g.value.tokens++;
              if (useNotifyAll) cv.notifyAll();
              else cv.notifyOne();
              g.release();
            });
          }
          for (const _ of abortable) {
            s.schedule(Promise.resolve()).then(() => controllers.shift()?.abort());
          }
          await s.waitIdle();
          const results = await Promise.all(consumers.map((c) => poll(c)));
          const state = await mutex.withLock((g) => ({ ...g.value }));
          for (const r of results) expect(r.state).toBe("fulfilled");
          const consumed = results.filter((r) => r.state === "fulfilled" && r.value === "consumed").length;
          expect(state.consumed).toBe(consumed);
          expect(state.tokens + state.consumed).toBe(perProducer * producers);
          expect(cv.waiters).toBe(0);
          expect(mutex.isLocked).toBe(false);
        },
      ),
      { numRuns: 100 * stress() },
    );
  });
});
