import { afterEach, describe, expect, it } from "vitest";
import {
  Mutex,
  MutexGuard,
  PoisonError,
  TimeoutError,
  UseAfterReleaseError,
  WouldBlockError,
} from "../../src/threads/index.js";
import { LAYOUT_VERSION } from "../../src/threads/memory/handle.js";
import { parkedWaiters } from "../../src/threads/runtime/keep-alive.js";
import { setBlockingProbe } from "../../src/threads/runtime/wait.js";
import { assertPending, assertRejected, flush } from "../helpers/poll.js";

function counter(): Mutex<Int32Array> {
  return new Mutex(new Int32Array(new SharedArrayBuffer(8)));
}

afterEach(() => setBlockingProbe(undefined));

describe("threads Mutex in one thread", () => {
  it("guards its data: value, release, released, idempotent release, use after release", async () => {
    const mutex = counter();
    const guard = await mutex.lock();
    expect(mutex.isLocked).toBe(true);
    guard.value[0] = 7;
    expect(guard.released).toBe(false);
    guard.release();
    guard.release();
    expect(guard.released).toBe(true);
    expect(mutex.isLocked).toBe(false);
    expect(() => guard.value).toThrow(UseAfterReleaseError);
    expect(() => {
      guard.value = new Int32Array(new SharedArrayBuffer(8));
    }).toThrow(UseAfterReleaseError);
    expect(() => guard.poison()).toThrow(UseAfterReleaseError);
    expect(mutex.tryLock()!.value[0]).toBe(7);
  });

  it("assigning guard.value copies into the shared memory", () => {
    const mutex = counter();
    const guard = mutex.tryLock()!;
    const next = new Int32Array(new SharedArrayBuffer(8));
    next[0] = 5;
    guard.value = next;
    guard.release();
    expect(mutex.tryLock()!.value[0]).toBe(5);
  });

  it("[Symbol.dispose] releases", () => {
    const mutex = counter();
    {
      using guard = mutex.lockSync();
      expect(guard.released).toBe(false);
      expect(mutex.isLocked).toBe(true);
    }
    expect(mutex.isLocked).toBe(false);
  });

  it("tryLock returns undefined while held; guards cannot be forged", () => {
    const mutex = counter();
    const guard = mutex.tryLock()!;
    expect(mutex.tryLock()).toBeUndefined();
    guard.release();
    expect(() => new MutexGuard(Symbol() as never, null as never, null as never)).toThrow(TypeError);
  });

  it("lock waits for release, in this thread (async waiter woken by the release)", async () => {
    const mutex = counter();
    const guard = mutex.tryLock()!;
    const waiting = mutex.lock();
    await assertPending(waiting);
    guard.release();
    const next = await waiting;
    expect(next.released).toBe(false);
    next.release();
  });

  it("times out with TimeoutError, holding nothing and leaving no parked waiter", async () => {
    const mutex = counter();
    const guard = mutex.tryLock()!;
    await expect(mutex.lock({ timeout: 5 })).rejects.toBeInstanceOf(TimeoutError);
    expect(() => mutex.lockSync({ timeout: 5 })).toThrow(TimeoutError);
    expect(parkedWaiters()).toBe(0);
    guard.release();
    expect(mutex.isLocked).toBe(false);
  });

  it("an already-aborted signal rejects with its reason without taking the lock, even when free", async () => {
    const mutex = counter();
    const reason = new Error("stop");
    const reasonOf = await assertRejected(mutex.lock({ signal: AbortSignal.abort(reason) }));
    expect(reasonOf).toBe(reason);
    expect(mutex.isLocked).toBe(false);
  });

  it("abort while waiting rejects at once with the reason; behind this thread's own guard it never parks on the word", async () => {
    const mutex = counter();
    const guard = mutex.tryLock()!;
    const controller = new AbortController();
    const waiting = mutex.lock({ signal: controller.signal });
    await assertPending(waiting);
    await new Promise((resolve) => setTimeout(resolve, 5));
    // Issue 10: a task waiting for a guard of its own thread waits in the thread's local queue (the
    // release hands the lock on locally); nothing competes for the shared word. (A waiter parked on
    // the word, behind another thread: test/threads/mutex-local-queue.test.ts.)
    expect(parkedWaiters()).toBe(0);
    controller.abort(new Error("cancelled"));
    await expect(waiting).rejects.toThrow("cancelled");
    expect(parkedWaiters()).toBe(0);
    guard.release();
    const again = await mutex.lock({ timeout: 1_000 });
    again.release();
  });

  it("poisons when withLock's callback throws; rejected calls do not hold the lock", async () => {
    const mutex = counter();
    await expect(
      mutex.withLock(() => {
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    expect(mutex.isPoisoned).toBe(true);
    expect(mutex.isLocked).toBe(false);
    await expect(mutex.lock()).rejects.toBeInstanceOf(PoisonError);
    expect(() => mutex.lockSync()).toThrow(PoisonError);
    expect(() => mutex.tryLock()).toThrow(PoisonError);
    expect(mutex.isLocked).toBe(false);
    const guard = await mutex.lock({ ignorePoison: true });
    guard.release();
    mutex.clearPoison();
    expect(mutex.isPoisoned).toBe(false);
    expect(mutex.withLockSync((g) => ++g.value[0]!)).toBe(1);
  });

  it("withLockSync poisons on throw; { poison: false } does not; guard.poison() always does", () => {
    const mutex = counter();
    expect(() =>
      mutex.withLockSync(() => {
        throw new Error("sync boom");
      }),
    ).toThrow("sync boom");
    expect(mutex.isPoisoned).toBe(true);
    const relaxed = new Mutex(null, { poison: false });
    expect(() =>
      relaxed.withLockSync(() => {
        throw new Error("ignored");
      }),
    ).toThrow("ignored");
    expect(relaxed.isPoisoned).toBe(false);
    const guard = relaxed.tryLock()!;
    guard.poison();
    guard.release();
    expect(relaxed.isPoisoned).toBe(true);
  });

  it("a waiter woken after the holder poisons gets PoisonError, and the lock is left free", async () => {
    const mutex = counter();
    const guard = mutex.tryLock()!;
    const waiting = mutex.lock({ timeout: 1_000 });
    await flush();
    guard.poison();
    guard.release();
    await expect(waiting).rejects.toBeInstanceOf(PoisonError);
    expect(mutex.isLocked).toBe(false);
  });

  it("rejects bad arguments with TypeError / RangeError naming them", async () => {
    expect(() => new Mutex(null, { poison: "yes" as never })).toThrow(/`poison`/);
    expect(() => new Mutex([1, 2] as never)).toThrow(TypeError);
    expect(() => new Mutex(new Int32Array(4) as never)).toThrow(TypeError);
    const mutex = counter();
    await expect(mutex.lock({ timeout: -1 })).rejects.toBeInstanceOf(RangeError);
    await expect(mutex.lock({ timeout: "1" as never })).rejects.toBeInstanceOf(TypeError);
    await expect(mutex.lock({ signal: {} as never })).rejects.toThrow(/`signal`/);
    expect(() => mutex.lockSync({ timeout: Number.NaN })).toThrow(/`timeout`/);
    expect(() => mutex.lockSync({ ignorePoison: 1 as never })).toThrow(/`ignorePoison`/);
    await expect(mutex.withLock(undefined as never)).rejects.toThrow(/`fn`/);
  });

  it("crosses by structured clone (the instance or its handle) and rebuilds over the same memory", () => {
    const mutex = counter();
    for (const received of [structuredClone(mutex), structuredClone(mutex.handle), mutex]) {
      const copy = Mutex.from<Int32Array>(received);
      const guard = copy.tryLock()!;
      expect(mutex.isLocked).toBe(true);
      guard.value[0]! += 1;
      guard.release();
    }
    expect(mutex.tryLock()!.value[0]).toBe(3);
  });

  it("guards are not Send: structuredClone(guard) throws DataCloneError", () => {
    const guard = counter().tryLock()!;
    expect(() => structuredClone(guard)).toThrow(/lockbox/);
  });

  it("from() rejects the wrong type, a foreign or small buffer, and another layout version", () => {
    const mutex = counter();
    const handle = mutex.handle;
    expect(() => Mutex.from({})).toThrow(TypeError);
    expect(() => Mutex.from({ ...handle, type: "lockbox.threads.RwLock" })).toThrow(/Mutex handle/);
    expect(() => Mutex.from({ ...handle, version: LAYOUT_VERSION + 1 })).toThrow(/layout version/);
    expect(() => Mutex.from({ ...handle, buffer: new ArrayBuffer(4) })).toThrow(/SharedArrayBuffer/);
    expect(() => Mutex.from({ ...handle, buffer: new SharedArrayBuffer(0) })).toThrow(/at least 8 bytes/);
    expect(() => Mutex.from({ ...handle, liveness: new SharedArrayBuffer(8) })).toThrow(/at least/);
  });

  it("throws WouldBlockError from every blocking method where blocking is forbidden, before touching the lock", () => {
    setBlockingProbe(() => false);
    const mutex = counter();
    expect(() => mutex.lockSync()).toThrow(WouldBlockError);
    expect(() => mutex.withLockSync(() => 1)).toThrow(WouldBlockError);
    expect(mutex.isLocked).toBe(false);
    // The async forms and try-forms still work.
    const guard = mutex.tryLock()!;
    guard.release();
  });

  it("the probe detects a runtime that forbids Atomics.wait (it throws there)", async () => {
    const { canBlock } = await import("../../src/threads/runtime/wait.js");
    setBlockingProbe(undefined);
    expect(canBlock()).toBe(true); // Node's main thread may block
  });
});
