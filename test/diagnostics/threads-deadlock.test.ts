/**
 * lockbox/threads (SPEC §7, always on): a blocking acquire that can never end throws DeadlockError —
 * a re-acquire by the holding thread, and a wait that closes a cycle of blocking waits across real
 * worker threads. An async acquire by the holding thread still waits.
 */
import { afterEach, describe, expect, it } from "vitest";
import { DeadlockError, TimeoutError } from "../../src/index.js";
import { Mutex, RwLock } from "../../src/threads/index.js";
import { assertPending } from "../helpers/poll.js";
import { okValue, startWorker, terminateAll } from "../threads/worker-helper.js";

afterEach(terminateAll);

describe("threads: names", () => {
  it("default to Kind#n, take { name }, and travel in the handle", () => {
    const a = new Mutex(null);
    expect(a.name).toMatch(/^Mutex#\d+$/);
    const m = new Mutex(null, { name: "jobs" });
    expect(m.name).toBe("jobs");
    expect(m.handle.name).toBe("jobs");
    expect(Mutex.from(m.handle).name).toBe("jobs");
    expect(Mutex.from(structuredClone(m.handle)).name).toBe("jobs");
    const rw = new RwLock(null, { name: "table" });
    expect(RwLock.from(structuredClone(rw.handle)).name).toBe("table");
    expect(() => new Mutex(null, { name: 1 as unknown as string })).toThrow("Expected `name` to be a string");
  });
});

describe("threads: blocking re-acquire by the holding thread", () => {
  it("Mutex.lockSync() throws DeadlockError naming the lock; an async lock() waits instead", async () => {
    const m = new Mutex(null, { name: "jobs" });
    const guard = m.lockSync();
    expect(() => m.lockSync()).toThrow(DeadlockError);
    expect(() => m.lockSync()).toThrow(/Mutex\.lockSync\(\) on jobs, which this thread .* already holds exclusively/);
    expect(() => m.lockSync({ timeout: 1 })).toThrow(TimeoutError); // a timed wait ends by itself
    const later = m.lock({ timeout: 10_000 });
    await assertPending(later); // another task of this thread may release: it waits
    guard.release();
    (await later).release();
    expect(m.isLocked).toBe(false);
  });

  it("RwLock: readSync or writeSync under the thread's own write lock, writeSync under its own read", async () => {
    const rw = new RwLock(null, { name: "table" });
    const w = rw.writeSync();
    expect(() => rw.readSync()).toThrow(DeadlockError);
    expect(() => rw.writeSync()).toThrow(DeadlockError);
    expect(() => rw.upgradableReadSync()).toThrow(DeadlockError);
    w.release();
    const r = await rw.read(); // an async read share of this thread counts: the thread would block
    expect(() => rw.writeSync()).toThrow(/as a reader/);
    const r2 = rw.readSync(); // a second read share is fine
    r2.release();
    r.release();
    rw.writeSync().release();
  });

  it("in a worker, too", async () => {
    const w = await startWorker();
    const m = new Mutex(null, { name: "worker-lock" });
    const reply = okValue(await w.call("selfDeadlock", { mutex: m.handle })) as string;
    expect(reply).toMatch(/^DeadlockError: Deadlock: Mutex\.lockSync\(\) on worker-lock/);
    expect(m.isLocked).toBe(false);
  });
});

describe("threads: a cycle of blocking waits", () => {
  for (const parties of [2, 3]) {
    it(`across ${parties} workers: exactly one gets DeadlockError naming the locks and threads, the others proceed`, async () => {
      const locks = Array.from({ length: parties }, (_, i) => new Mutex(null, { name: `ring${i}` }));
      const workers = await Promise.all(locks.map(() => startWorker()));
      const step = new Int32Array(new SharedArrayBuffer(4));
      const replies = await Promise.all(
        workers.map((w, i) =>
          w.call(
            "deadlockCycle",
            { first: locks[i]?.handle, second: locks[(i + 1) % parties]?.handle, step, parties },
            20_000,
          ),
        ),
      );
      const values = replies.map((r) => okValue(r) as string);
      const failed = values.filter((v) => v.startsWith("DeadlockError"));
      expect(failed).toHaveLength(1);
      expect(values.filter((v) => v === "acquired")).toHaveLength(parties - 1);
      const message = failed[0] as string;
      expect(message).toContain(`closes a cycle of ${parties} threads`);
      for (const lock of locks) expect(message).toContain(lock.name);
      for (const w of workers) expect(message).toContain(`thread ${w.worker.threadId}`);
      for (const lock of locks) expect(lock.isLocked).toBe(false);
    });
  }
});
