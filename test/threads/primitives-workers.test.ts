import { afterEach, describe, expect, it } from "vitest";
import { Barrier, Condvar, Mutex, OnceLock, RwLock, Semaphore } from "../../src/threads/index.js";
import { okValue, STRESS, startLine, startWorker, terminateAll } from "./worker-helper.js";

afterEach(terminateAll);

function shared(length: number): Int32Array {
  return new Int32Array(new SharedArrayBuffer(4 * length));
}

describe("threads primitives across real workers", () => {
  it("RwLock: writers count exactly and readers never see a half-done write (sync and async)", async () => {
    const lock = new RwLock(shared(3));
    const n = 900 * STRESS;
    const workers = await Promise.all([startWorker(), startWorker(), startWorker()]);
    const modes = ["sync", "async", "sync"];
    const line = startLine(3);
    const work = workers.map((w, i) => w.call("rwCount", { lock, n, mode: modes[i], start: line.start }));
    await line.go();
    const replies = await Promise.all(work);
    for (const reply of replies) expect(okValue(reply)).toBe(true);
    const guard = lock.tryRead()!;
    // Every third iteration of each worker writes once.
    expect(guard.value[0]).toBe(3 * Math.ceil(n / 3));
    guard.release();
  });

  it("RwLock: a waiting writer holds back new readers (writer preference)", async () => {
    const lock = new RwLock(shared(3));
    const w = await startWorker();
    const reader = await lock.read();
    const writer = w.call("rwWrite", { lock, mode: "sync", timeout: 5_000 });
    // Wait until the worker's writer is parked: new readers are then refused.
    for (;;) {
      const probe = lock.tryRead();
      if (probe === undefined) break;
      probe.release();
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    expect(lock.tryRead()).toBeUndefined();
    reader.release();
    expect(okValue(await writer)).toBe("written");
    const after = lock.tryRead()!;
    expect(after.value[0]).toBe(1);
    after.release();
  });

  it("RwLock: a worker's upgrade waits for this thread's read share, with no writer in between", async () => {
    const lock = new RwLock(shared(3));
    const [upgrader, writer] = await Promise.all([startWorker(), startWorker()]);
    const reader = await lock.read();
    const upgraded = upgrader.call("rwUpgrade", { lock, mode: "sync" });
    // Wait until the worker is upgrading (new readers refused), then start a competing writer.
    for (;;) {
      const probe = lock.tryRead();
      if (probe === undefined) break;
      probe.release();
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    const competing = writer.call("rwWrite", { lock, mode: "async", timeout: 5_000 });
    reader.release();
    expect(okValue(await upgraded)).toBe("upgraded");
    expect(okValue(await competing)).toBe("written");
    // The upgrade wrote 0 + 10 (what it read, with nobody in between), the writer then added 1.
    const guard = lock.tryRead()!;
    expect(guard.value[0]).toBe(11);
    guard.release();
  });

  it("Condvar: consumers in workers (blocking and async) wake on notifyAll and see the produced value", async () => {
    const mutex = new Mutex(shared(2));
    const condvar = new Condvar();
    const [a, b] = await Promise.all([startWorker(), startWorker()]);
    const consumers = [
      a.call("condvarConsume", { mutex, condvar, target: 3, mode: "sync" }),
      b.call("condvarConsume", { mutex, condvar, target: 3, mode: "async" }),
    ];
    for (let i = 0; i < 3; i++) {
      await mutex.withLock((guard) => {
        guard.value[0]! += 1;
      });
      condvar.notifyAll();
    }
    expect((await Promise.all(consumers)).map(okValue)).toEqual([3, 3]);
    let guard = await mutex.lock();
    guard = await condvar.waitWhile(guard, (value) => value[1]! < 2, { timeout: 5_000 });
    expect(guard.value[1]).toBe(2);
    guard.release();
  });

  it("Semaphore: never more holders than permits, across workers", async () => {
    const semaphore = new Semaphore(2);
    const counts = shared(3);
    const n = 300 * STRESS;
    const workers = await Promise.all([startWorker(), startWorker(), startWorker()]);
    const modes = ["sync", "async", "sync"];
    const line = startLine(3);
    const work = workers.map((w, i) =>
      w.call("semaphoreWork", { semaphore, counts, n, mode: modes[i], start: line.start }),
    );
    await line.go();
    const replies = await Promise.all(work);
    for (const reply of replies) expect(okValue(reply)).toBe(n);
    expect(counts[1]).toBeGreaterThanOrEqual(1);
    expect(counts[1]).toBeLessThanOrEqual(2);
    expect(semaphore.available).toBe(2);
  });

  it("Semaphore: close() wakes a blocked worker with ClosedError; addPermits wakes a waiter", async () => {
    const semaphore = new Semaphore(0);
    const [a, b] = await Promise.all([startWorker(), startWorker()]);
    const granted = a.call("semaphoreAcquire", { semaphore, permits: 2, mode: "sync" });
    semaphore.addPermits(2);
    expect(okValue(await granted)).toBe(2);
    const closed = b.call("semaphoreAcquire", { semaphore, mode: "sync" });
    const here = semaphore.acquire(1, { timeout: 5_000 });
    here.catch(() => {});
    semaphore.close();
    expect(await closed).toMatchObject({ ok: false, name: "ClosedError" });
    await expect(here).rejects.toMatchObject({ name: "ClosedError" });
  });

  it("Barrier: three workers and this thread pass rounds together, one leader per round", async () => {
    const barrier = new Barrier(4);
    const rounds = 20 * STRESS;
    const log = shared(rounds);
    const workers = await Promise.all([startWorker(), startWorker(), startWorker()]);
    const modes = ["sync", "async", "sync"];
    const work = workers.map((w, i) => w.call("barrierRounds", { barrier, log, rounds, mode: modes[i] }));
    let leaders = 0;
    for (let round = 0; round < rounds; round++) {
      Atomics.add(log, round, 1);
      if ((await barrier.wait({ timeout: 5_000 })).isLeader) leaders++;
      expect(Atomics.load(log, round)).toBe(4);
    }
    for (const reply of await Promise.all(work)) {
      const { leaders: theirs, complete } = okValue(reply) as { leaders: number; complete: boolean };
      expect(complete).toBe(true);
      leaders += theirs;
    }
    expect(leaders).toBe(rounds);
  });

  it("OnceLock: racing workers run the initializer once; a failing one lets the next run", async () => {
    const once = new OnceLock(shared(1));
    const calls = shared(1);
    const workers = await Promise.all([startWorker(), startWorker(), startWorker()]);
    const failed = await workers[0]!.call("onceInit", { once, calls, value: 1, fail: true, mode: "sync" });
    expect(failed).toMatchObject({ ok: false, message: "init failed on purpose" });
    expect(once.initialized).toBe(false);
    const replies = await Promise.all(
      workers.map((w, i) => w.call("onceInit", { once, calls, value: 10 + i, mode: i === 1 ? "async" : "sync" })),
    );
    const values = replies.map(okValue);
    expect(new Set(values).size).toBe(1);
    expect(calls[0]).toBe(2);
    expect(once.get()![0]).toBe(values[0]);
  });
});
