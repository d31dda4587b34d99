/**
 * Owner death (SPEC §4): a supervised worker that exits while holding a lock — terminate(), an
 * uncaught throw, process.exit — leaves the lock released and poisoned, and its waiters, blocking or
 * async, in any thread, wake with PoisonError. Waiters here give up after 3 s: a missed death fails
 * the test with TimeoutError instead of hanging it (detection takes about one 50 ms poll).
 */
import { afterEach, describe, expect, it } from "vitest";
import { Mutex, OnceLock, PoisonError, RwLock } from "../../src/threads/index.js";
import { okValue, startWorker, terminateAll } from "./worker-helper.js";

afterEach(terminateAll);

const BOUND = 3_000;

function counter(): Mutex<Int32Array> {
  return new Mutex(new Int32Array(new SharedArrayBuffer(8)));
}

describe.each([
  ["terminate()", "terminate"],
  ["an uncaught throw", "throw"],
  ["process.exit()", "exit"],
])("owner death by %s", (_label, how) => {
  it("wakes a blocked worker and an async waiter here with PoisonError; the lock is free and poisoned", async () => {
    const mutex = counter();
    const [owner, waiter] = await Promise.all([startWorker(), startWorker()]);
    okValue(await owner.call("mutexHold", { mutex, key: "g", mode: "sync" }));
    const blocked = waiter.call("mutexLock", { mutex, mode: "sync", timeout: BOUND });
    const here = mutex.lock({ timeout: BOUND });
    here.catch(() => {});
    if (how === "terminate") await owner.worker.terminate();
    else void owner.call("die", { how }).catch(() => {});
    await owner.exited;
    await expect(here).rejects.toBeInstanceOf(PoisonError);
    expect(await blocked).toMatchObject({ ok: false, name: "PoisonError" });
    expect(mutex.isPoisoned).toBe(true);
    expect(mutex.isLocked).toBe(false);
    // Recovery: ignorePoison acquires; clearPoison makes it a plain lock again.
    const guard = mutex.lockSync({ ignorePoison: true, timeout: BOUND });
    mutex.clearPoison();
    guard.release();
    expect(okValue(await waiter.call("mutexLock", { mutex, mode: "async", timeout: BOUND }))).toBe(0);
  });
});

describe("owner death", () => {
  it("is detected for a worker terminated while blocked in Atomics.wait", async () => {
    const mutex = counter();
    const owner = await startWorker();
    okValue(await owner.call("mutexHold", { mutex, key: "g", mode: "async" }));
    void owner.call("block", { ms: 60_000 }).catch(() => {});
    const here = mutex.lock({ timeout: BOUND });
    here.catch(() => {});
    await owner.worker.terminate();
    await expect(here).rejects.toBeInstanceOf(PoisonError);
  });

  it("tryLock after the owner died reaps the lock: PoisonError, then ignorePoison gets it", async () => {
    const mutex = counter();
    const owner = await startWorker();
    okValue(await owner.call("mutexHold", { mutex, key: "g", mode: "sync" }));
    expect(mutex.tryLock()).toBeUndefined();
    await owner.worker.terminate();
    expect(() => mutex.tryLock()).toThrow(PoisonError);
    const guard = mutex.tryLock({ ignorePoison: true });
    expect(guard).toBeDefined();
    guard!.release();
  });

  it("never steals a lock from a live worker: waiters time out while it holds the lock", async () => {
    const mutex = counter();
    const owner = await startWorker();
    okValue(await owner.call("mutexHold", { mutex, key: "g", mode: "sync" }));
    // Several poll periods pass while we wait: the live owner is never mistaken for a dead one.
    await expect(mutex.lock({ timeout: 200 })).rejects.toMatchObject({ name: "TimeoutError" });
    expect(mutex.isLocked).toBe(true);
    expect(mutex.isPoisoned).toBe(false);
    okValue(await owner.call("release", { key: "g" }));
    const guard = await mutex.lock({ timeout: BOUND });
    expect(mutex.isPoisoned).toBe(false);
    guard.release();
  });

  it("a writer dying with an RwLock wakes readers and writers with PoisonError", async () => {
    const lock = new RwLock(new Int32Array(new SharedArrayBuffer(12)));
    const [owner, waiter] = await Promise.all([startWorker(), startWorker()]);
    okValue(await owner.call("rwHold", { lock, key: "w", kind: "write", mode: "sync" }));
    const blockedWriter = waiter.call("rwWrite", { lock, mode: "sync", timeout: BOUND });
    const reader = lock.read({ timeout: BOUND });
    reader.catch(() => {});
    await owner.worker.terminate();
    await expect(reader).rejects.toBeInstanceOf(PoisonError);
    expect(await blockedWriter).toMatchObject({ ok: false, name: "PoisonError" });
    expect(lock.isPoisoned).toBe(true);
    expect(lock.isWriteLocked).toBe(false);
  });

  it("a reader dying with RwLock read shares has them released (not poisoned): writers get in", async () => {
    const lock = new RwLock(new Int32Array(new SharedArrayBuffer(12)));
    const [owner, waiter] = await Promise.all([startWorker(), startWorker()]);
    okValue(await owner.call("rwHold", { lock, key: "r1", kind: "read", mode: "sync" }));
    okValue(await owner.call("rwHold", { lock, key: "r2", kind: "read", mode: "async" }));
    const here = lock.read(); // a live reader here too: only the dead thread's shares go
    const mine = await here;
    expect(lock.readers).toBe(3);
    const blockedWriter = waiter.call("rwWrite", { lock, mode: "sync", timeout: BOUND });
    const asyncWriter = lock.write({ timeout: BOUND });
    asyncWriter.catch(() => {});
    await owner.worker.terminate();
    // The dead worker's two shares are reclaimed by a waiting writer (bounded by the test timeout) …
    while (lock.readers > 1) await new Promise((resolve) => setTimeout(resolve, 5));
    // … but our own share still holds the writers back: nothing is taken from a live reader.
    expect(lock.readers).toBe(1);
    expect(lock.isWriteLocked).toBe(false);
    mine.release();
    // Both writers get in, in either order (release ours before waiting for the worker's).
    const guard = await asyncWriter;
    expect(lock.isPoisoned).toBe(false);
    guard.release();
    expect(okValue(await blockedWriter)).toBe("written");
  });

  it("an initializer dying in OnceLock lets the next caller run its own", async () => {
    const once = new OnceLock(new Int32Array(new SharedArrayBuffer(4)));
    const calls = new Int32Array(new SharedArrayBuffer(4));
    const [runner, other] = await Promise.all([startWorker(), startWorker()]);
    okValue(await runner.call("onceHang", { once }));
    const waiting = other.call("onceInit", { once, calls, value: 9, mode: "sync" });
    await runner.worker.terminate();
    expect(okValue(await waiting)).toBe(9);
    expect(calls[0]).toBe(1);
    expect(once.get()?.[0]).toBe(9);
  });
});
