/**
 * Issue 10: the async waiters of one thread queue in a local FIFO in front of the shared word; only the
 * queue's head competes for the word, and a release hands on locally unless a waiter of another thread
 * is starving.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { Mutex, PoisonError, TimeoutError } from "../../src/threads/index.js";
import { parkedWaiters } from "../../src/threads/runtime/keep-alive.js";
import { assertPending, assertRejected, flush } from "../helpers/poll.js";
import { okValue, STRESS, startLine, startWorker, terminateAll } from "./worker-helper.js";

afterEach(async () => {
  vi.useRealTimers();
  await terminateAll();
});

function counter(): Mutex<Int32Array> {
  return new Mutex(new Int32Array(new SharedArrayBuffer(8)));
}

/** The same read-modify-write as the fixture's: loses updates without mutual exclusion. */
function bump(array: Int32Array): void {
  const v = Atomics.load(array, 0);
  for (let spin = 0; spin < 20; spin++) Atomics.load(array, 1);
  Atomics.store(array, 0, v + 1);
}

/** Polls `condition` every millisecond until it holds (a bound only against hangs, not a timing assertion). */
async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = performance.now() + 10_000;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`never happened: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

describe("threads Mutex: same-thread waiters queue in a local FIFO", () => {
  it("grants same-thread waiters in the order they called lock(), with or without options", async () => {
    const mutex = counter();
    const holder = await mutex.lock();
    const order: number[] = [];
    const all: Promise<void>[] = [];
    for (let i = 0; i < 60; i++) {
      const options =
        i % 3 === 0 ? undefined : i % 3 === 1 ? { timeout: 60_000 } : { signal: new AbortController().signal };
      all.push(
        mutex.lock(options).then((guard) => {
          order.push(i);
          guard.value[0]!++;
          guard.release();
        }),
      );
    }
    await flush();
    expect(order).toEqual([]);
    holder.release();
    await Promise.all(all);
    expect(order).toEqual(Array.from({ length: 60 }, (_, i) => i));
    expect(mutex.isLocked).toBe(false);
    expect(mutex.tryLock()!.value[0]).toBe(60);
  });

  it("a later lock() or tryLock() does not jump ahead of queued same-thread waiters", async () => {
    const mutex = counter();
    const holder = await mutex.lock();
    const order: string[] = [];
    const first = mutex.lock().then((guard) => {
      order.push("first");
      return guard;
    });
    holder.release();
    // The lock went to `first` (handed on locally): tryLock fails, a new lock() queues behind.
    expect(mutex.tryLock()).toBeUndefined();
    const second = mutex.lock().then((guard) => {
      order.push("second");
      guard.release();
    });
    (await first).release();
    await second;
    expect(order).toEqual(["first", "second"]);
  });

  it("hands on locally: waiters behind this thread's own guard never park on the shared word", async () => {
    const mutex = counter();
    const holder = await mutex.lock();
    const waiters = Array.from({ length: 20 }, () => mutex.lock().then((guard) => guard.release()));
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(parkedWaiters()).toBe(0);
    holder.release();
    await Promise.all(waiters);
    expect(mutex.isLocked).toBe(false);
  });

  it("a queued waiter that times out leaves the queue; the others keep their order (fake timers)", async () => {
    vi.useFakeTimers();
    const mutex = counter();
    const holder = await mutex.lock();
    const order: string[] = [];
    const a = mutex.lock().then((guard) => {
      order.push("a");
      guard.release();
    });
    const b = mutex.lock({ timeout: 10 });
    const c = mutex.lock({ timeout: 1_000 }).then((guard) => {
      order.push("c");
      guard.release();
    });
    await assertPending(b);
    await vi.advanceTimersByTimeAsync(10);
    expect(await assertRejected(b)).toBeInstanceOf(TimeoutError);
    expect(order).toEqual([]);
    holder.release();
    await a;
    await c;
    expect(order).toEqual(["a", "c"]);
    expect(mutex.isLocked).toBe(false);
  });

  it("an aborted queued waiter rejects at once with the reason and holds nothing", async () => {
    const mutex = counter();
    const holder = await mutex.lock();
    const controller = new AbortController();
    const aborted = mutex.lock({ signal: controller.signal });
    const next = mutex.lock();
    const reason = new Error("stop");
    controller.abort(reason);
    expect(await assertRejected(aborted)).toBe(reason);
    await assertPending(next);
    holder.release();
    (await next).release();
    expect(mutex.isLocked).toBe(false);
  });

  it("abort wins over a local grant that raced with it: the lock goes on to the next waiter", async () => {
    const mutex = counter();
    const holder = await mutex.lock();
    const controller = new AbortController();
    const first = mutex.lock({ signal: controller.signal });
    const second = mutex.lock();
    // Grant `first` (synchronously, by the release), then abort before it resumes.
    holder.release();
    controller.abort(new Error("late"));
    await expect(first).rejects.toThrow("late");
    const guard = await second;
    expect(guard.released).toBe(false);
    guard.release();
    expect(mutex.isLocked).toBe(false);
  });

  it("poison: a queued waiter fails its grant with PoisonError and the next (ignorePoison) gets the lock", async () => {
    const mutex = counter();
    const holder = await mutex.lock();
    const plain = mutex.lock();
    const ignoring = mutex.lock({ ignorePoison: true });
    const after = mutex.lock();
    holder.poison();
    holder.release();
    expect(await assertRejected(plain)).toBeInstanceOf(PoisonError);
    const guard = await ignoring;
    expect(mutex.isLocked).toBe(true);
    mutex.clearPoison();
    guard.release();
    (await after).release();
    expect(mutex.isLocked).toBe(false);
  });

  it("every queued waiter failing its grant gives the word back", async () => {
    const mutex = counter();
    const holder = await mutex.lock();
    const waiters = [mutex.lock(), mutex.lock()];
    holder.poison();
    holder.release();
    for (const w of waiters) expect(await assertRejected(w)).toBeInstanceOf(PoisonError);
    expect(mutex.isLocked).toBe(false);
    expect(mutex.isPoisoned).toBe(true);
  });

  it("a blocking lockSync of this thread barges past parked local waiters, then hands on to them", async () => {
    const mutex = counter();
    const w = await startWorker();
    expect(okValue(await w.call("mutexHold", { mutex, key: "g", mode: "sync" }))).toBe("held");
    const waiting = [mutex.lock({ timeout: 10_000 }), mutex.lock({ timeout: 10_000 })];
    await until(() => parkedWaiters() > 0, "the local head parks on the word");
    // Not awaited: this thread blocks in lockSync at once (its competitor cannot run meanwhile), and
    // the worker's release wakes it.
    const released = w.call("release", { key: "g" });
    const sync = mutex.lockSync({ timeout: 10_000 });
    sync.value[0] = 5;
    sync.release();
    okValue(await released);
    for (const p of waiting) {
      const guard = await p;
      expect(guard.value[0]).toBe(5);
      guard.release();
    }
    expect(mutex.isLocked).toBe(false);
    await until(() => parkedWaiters() === 0, "the competitor stops");
  });
});

describe("threads Mutex: the local queue's head competes for the word", () => {
  it("the head aborting passes headship on; the last waiter leaving stops the competitor", async () => {
    const mutex = counter();
    const w = await startWorker();
    expect(okValue(await w.call("mutexHold", { mutex, key: "g", mode: "sync" }))).toBe("held");
    const c1 = new AbortController();
    const c2 = new AbortController();
    const head = mutex.lock({ signal: c1.signal });
    const next = mutex.lock({ signal: c2.signal });
    await until(() => parkedWaiters() > 0, "the head parks on the word");
    c1.abort(new Error("head left"));
    await expect(head).rejects.toThrow("head left");
    // Still competing for `next`.
    expect(parkedWaiters()).toBeGreaterThan(0);
    okValue(await w.call("release", { key: "g" }));
    const guard = await next;
    expect(guard.released).toBe(false);
    guard.release();

    // The queue emptying (abort of its only waiter) stops the competitor: nothing stays parked.
    expect(okValue(await w.call("mutexHold", { mutex, key: "h", mode: "sync" }))).toBe("held");
    const lone = mutex.lock({ signal: c2.signal });
    await until(() => parkedWaiters() > 0, "the lone waiter parks");
    c2.abort(new Error("gone"));
    await expect(lone).rejects.toThrow("gone");
    await until(() => parkedWaiters() === 0, "the competitor stops");
    okValue(await w.call("release", { key: "h" }));
    (await mutex.lock({ timeout: 10_000 })).release();
  });

  it("a head timing out while parked passes headship on", async () => {
    const mutex = counter();
    const w = await startWorker();
    expect(okValue(await w.call("mutexHold", { mutex, key: "g", mode: "sync" }))).toBe("held");
    const head = mutex.lock({ timeout: 20 });
    const next = mutex.lock({ timeout: 10_000 });
    expect(await head.catch((error) => error)).toBeInstanceOf(TimeoutError);
    await assertPending(next);
    okValue(await w.call("release", { key: "g" }));
    (await next).release();
    expect(mutex.isLocked).toBe(false);
  });

  it("counts exactly: 2 workers × several async tasks each, and tasks of this thread, contending", async () => {
    const mutex = counter();
    const n = 500 * STRESS;
    const tasks = 8;
    const [a, b] = await Promise.all([startWorker(), startWorker()]);
    const line = startLine(2);
    const work = [
      a.call("mutexTasks", { mutex, n, tasks, start: line.start }, 60_000),
      b.call("mutexTasks", { mutex: mutex.handle, n, tasks, start: line.start }, 60_000),
    ];
    await line.go();
    const mine = Array.from({ length: 4 }, async () => {
      for (let i = 0; i < n; i++) {
        const guard = await mutex.lock({ timeout: 30_000 });
        bump(guard.value);
        guard.release();
      }
    });
    await Promise.all(mine);
    for (const reply of await Promise.all(work)) expect(okValue(reply)).toBe(n * tasks);
    expect(mutex.tryLock()!.value[0]).toBe(2 * n * tasks + 4 * n);
  });

  for (const mode of ["sync", "async"] as const) {
    it(`fairness: a ${mode} waiter of another thread is not starved by a busy local queue`, async () => {
      const mutex = counter();
      const word = new Int32Array(mutex.handle.buffer, 0, 1);
      const flag = new Int32Array(new SharedArrayBuffer(8));
      const w = await startWorker();
      const holder = await mutex.lock();
      const taken = w.call("mutexLockFlag", { mutex, flag, mode, timeout: 20_000 }, 30_000);
      // The worker waits on the word (CONTENDED) before this thread's queue gets busy.
      await until(() => (Atomics.load(word, 0) & 0b11) === 2, "the worker parks");
      // Eight tasks of this thread keep the local queue busy: every release finds a local waiter, and
      // the loop yields to the event loop only when it must park on the word. It runs until the
      // worker has had the lock, or for a bounded number of rounds (a lock that always hands on
      // locally ends here, with the flag unset, instead of hanging).
      const maxRounds = 1_000_000;
      let rounds = 0;
      const busy = Array.from({ length: 8 }, async () => {
        while (rounds < maxRounds && Atomics.load(flag, 0) === 0) {
          const guard = await mutex.lock();
          bump(guard.value);
          rounds++;
          guard.release();
        }
      });
      holder.release();
      await Promise.all(busy);
      // The worker's wait ended inside the busy loop (the flag stopped it), with the lock.
      expect(Atomics.load(flag, 0)).toBe(1);
      expect(rounds).toBeLessThan(maxRounds);
      expect(okValue(await taken)).toBe("ok");
    });
  }
});
