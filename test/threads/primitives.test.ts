/** The threads RwLock, Condvar, Semaphore, Barrier and OnceLock in one thread (async and blocking forms). */
import { afterEach, describe, expect, expectTypeOf, it } from "vitest";
import {
  Barrier,
  ClosedError,
  Condvar,
  type DeepReadonly,
  Mutex,
  OnceLock,
  PoisonError,
  RwLock,
  Semaphore,
  TimeoutError,
  UseAfterReleaseError,
  WouldBlockError,
} from "../../src/threads/index.js";
import { LAYOUT_VERSION } from "../../src/threads/memory/handle.js";
import { parkedWaiters } from "../../src/threads/runtime/keep-alive.js";
import { setBlockingProbe } from "../../src/threads/runtime/wait.js";
import { assertPending, assertReady } from "../helpers/poll.js";

function shared(length: number): Int32Array {
  return new Int32Array(new SharedArrayBuffer(4 * length));
}

const tick = (ms = 2) => new Promise((resolve) => setTimeout(resolve, ms));

afterEach(() => {
  setBlockingProbe(undefined);
  expect(parkedWaiters()).toBe(0);
});

describe("threads RwLock", () => {
  it("readers share, a writer excludes, guards follow §1", async () => {
    const lock = new RwLock(shared(1));
    const a = await lock.read();
    const b = lock.readSync();
    expect(lock.readers).toBe(2);
    expect(lock.tryWrite()).toBeUndefined();
    const writing = lock.write({ timeout: 1_000 });
    await assertPending(writing);
    a.release();
    b.release();
    b.release();
    expect(() => b.value).toThrow(UseAfterReleaseError);
    const w = await writing;
    expect(lock.isWriteLocked).toBe(true);
    w.value[0] = 9;
    expect(lock.tryRead()).toBeUndefined();
    const r = w.downgrade();
    expect(w.released).toBe(true);
    expect(lock.readers).toBe(1);
    expect(r.value[0]).toBe(9);
    expect(lock.tryRead()).toBeDefined();
  });

  it("write waits time out; poison from withWrite rejects reads and writes until cleared", async () => {
    const lock = new RwLock(shared(1));
    const reader = lock.tryRead()!;
    await expect(lock.write({ timeout: 5 })).rejects.toBeInstanceOf(TimeoutError);
    expect(() => lock.writeSync({ timeout: 5 })).toThrow(TimeoutError);
    reader.release();
    expect(() =>
      lock.withWriteSync(() => {
        throw new Error("half-written");
      }),
    ).toThrow("half-written");
    expect(lock.isPoisoned).toBe(true);
    await expect(lock.read()).rejects.toBeInstanceOf(PoisonError);
    await expect(lock.write()).rejects.toBeInstanceOf(PoisonError);
    expect(() => lock.tryRead()).toThrow(PoisonError);
    expect(lock.readers).toBe(0);
    expect(await lock.withRead((g) => g.value[0], { ignorePoison: true })).toBe(0);
    lock.clearPoison();
    expect(await lock.withWrite((g) => (g.value[0] = 4))).toBe(4);
    expect(lock.withReadSync((g) => g.value[0])).toBe(4);
  });

  it("abort while waiting for a write rejects with the reason", async () => {
    const lock = new RwLock(null);
    const reader = lock.tryRead()!;
    const controller = new AbortController();
    const writing = lock.write({ signal: controller.signal });
    await tick();
    controller.abort(new Error("no longer needed"));
    await expect(writing).rejects.toThrow("no longer needed");
    reader.release();
    lock.tryWrite()!.release();
  });

  it("upgradableRead: shares with readers, one at a time, upgrades when alone, downgrades", async () => {
    const lock = new RwLock(shared(1));
    const up = await lock.upgradableRead();
    const reader = lock.tryRead()!;
    expect(lock.tryUpgradableRead()).toBeUndefined();
    expect(up.tryUpgrade()).toBeUndefined();
    const upgrading = up.upgrade({ timeout: 1_000 });
    await assertPending(upgrading);
    expect(lock.tryRead()).toBeUndefined(); // new readers wait for the upgrade
    reader.release();
    const writer = await upgrading;
    expect(up.released).toBe(true);
    expect(() => up.value).toThrow(UseAfterReleaseError);
    writer.value[0] = 7;
    writer.release();
    const again = lock.upgradableReadSync();
    expect(again.value[0]).toBe(7);
    const plain = again.downgrade();
    const other = lock.tryUpgradableRead()!; // the role is free again
    other.release();
    plain.release();
    expect(lock.readers).toBe(0);
    const sole = lock.tryUpgradableRead()!;
    const w = sole.upgradeSync({ timeout: 100 });
    expect(lock.isWriteLocked).toBe(true);
    w.release();
  });

  it("an upgrade that times out keeps the upgradable share; poison applies to upgradableRead", async () => {
    const lock = new RwLock(shared(1));
    const up = lock.tryUpgradableRead()!;
    const reader = lock.tryRead()!;
    await expect(up.upgrade({ timeout: 5 })).rejects.toBeInstanceOf(TimeoutError);
    expect(() => up.upgradeSync({ timeout: 5 })).toThrow(TimeoutError);
    expect(up.released).toBe(false);
    expect(lock.readers).toBe(2);
    reader.release();
    up.release();
    expect(lock.readers).toBe(0);
    expect(() =>
      lock.withWriteSync(() => {
        throw new Error("poison it");
      }),
    ).toThrow("poison it");
    await expect(lock.upgradableRead()).rejects.toBeInstanceOf(PoisonError);
    expect(() => lock.tryUpgradableRead()).toThrow(PoisonError);
    lock.tryUpgradableRead({ ignorePoison: true })!.release();
    expect(lock.readers).toBe(0);
  });

  it("crosses by structured clone; from() rejects other handles", () => {
    const lock = new RwLock(shared(1));
    const copy = RwLock.from<Int32Array>(structuredClone(lock));
    const w = copy.tryWrite()!;
    expect(lock.isWriteLocked).toBe(true);
    w.release();
    expect(() => RwLock.from(new Mutex(null))).toThrow(/RwLock handle/);
  });
});

describe("threads guard types (checked by tsc)", () => {
  it("read guards show DeepReadonly data; write guards and mutex guards show it writable", () => {
    const lock = new RwLock(shared(1));
    const mutex = new Mutex(shared(1));
    const bare = new Mutex(null);
    expectTypeOf(lock.tryRead()!.value).toEqualTypeOf<DeepReadonly<Int32Array>>();
    expectTypeOf(lock.tryWrite).returns.toEqualTypeOf<
      import("../../src/threads/index.js").RwLockWriteGuard<Int32Array> | undefined
    >();
    expectTypeOf(mutex.tryLock()!.value).toEqualTypeOf<Int32Array>();
    expectTypeOf(bare.lockSync().value).toEqualTypeOf<null>();
    // Compile-time only: never called.
    const neverCalled = (read: import("../../src/threads/index.js").RwLockReadGuard<Int32Array>) => {
      // @ts-expect-error: a read guard's data is read-only (Rust: E0596)
      read.value[0] = 1;
      // @ts-expect-error: and cannot be replaced
      read.value = shared(1);
    };
    expect(typeof neverCalled).toBe("function");
  });
});

describe("threads Condvar", () => {
  it("wait releases the mutex, wakes on notifyOne, and returns a new held guard", async () => {
    const mutex = new Mutex(shared(1));
    const condvar = new Condvar();
    const guard = await mutex.lock();
    const waiting = condvar.wait(guard, { timeout: 1_000 });
    expect(guard.released).toBe(true);
    await tick();
    expect(mutex.isLocked).toBe(false);
    mutex.withLockSync((g) => {
      g.value[0] = 1;
    });
    condvar.notifyOne();
    const next = await waiting;
    expect(next.value[0]).toBe(1);
    expect(mutex.isLocked).toBe(true);
    next.release();
  });

  it("waitTimeout reports timedOut; wait rejects TimeoutError holding nothing; released guards are refused", async () => {
    const mutex = new Mutex(null);
    const condvar = new Condvar();
    const { guard, timedOut } = await condvar.waitTimeout(await mutex.lock(), 5);
    expect(timedOut).toBe(true);
    expect(guard.released).toBe(false);
    await expect(condvar.wait(guard, { timeout: 5 })).rejects.toBeInstanceOf(TimeoutError);
    expect(mutex.isLocked).toBe(false);
    await expect(condvar.wait(guard)).rejects.toBeInstanceOf(UseAfterReleaseError);
    // Regression: a guard of another kind is a TypeError naming `guard`, not a private-field crash.
    await expect(condvar.wait({} as never)).rejects.toThrow(/`guard`/);
    expect(() => condvar.waitSync(new RwLock(null).tryWrite() as never)).toThrow(/`guard`/);
    const sync = condvar.waitTimeoutSync(mutex.lockSync(), 5);
    expect(sync.timedOut).toBe(true);
    expect(() => condvar.waitSync(sync.guard, { timeout: 5 })).toThrow(TimeoutError);
    expect(mutex.isLocked).toBe(false);
  });

  it("abort re-acquires and releases the mutex before rejecting (nothing leaks)", async () => {
    const mutex = new Mutex(null);
    const condvar = new Condvar();
    const controller = new AbortController();
    const waiting = condvar.wait(await mutex.lock(), { signal: controller.signal });
    await tick();
    const holder = mutex.tryLock()!;
    controller.abort(new Error("bye"));
    await assertPending(waiting); // it must re-acquire first
    holder.release();
    await expect(waiting).rejects.toThrow("bye");
    expect(mutex.isLocked).toBe(false);
  });

  it("waitWhile re-checks after every wake-up; a notify between unlock and park is not lost", async () => {
    const mutex = new Mutex(shared(1));
    const condvar = new Condvar();
    const waiting = condvar.waitWhile(await mutex.lock(), (v) => v[0]! < 2, { timeout: 2_000 });
    for (let i = 0; i < 2; i++) {
      await tick();
      await mutex.withLock((g) => {
        g.value[0]! += 1;
      });
      condvar.notifyAll();
    }
    const guard = await waiting;
    expect(guard.value[0]).toBe(2);
    guard.release();
  });
});

describe("threads Semaphore", () => {
  it("acquire / tryAcquire / release / forget / addPermits keep the count", async () => {
    const semaphore = new Semaphore(3);
    const two = await semaphore.acquire(2);
    expect(semaphore.available).toBe(1);
    expect(semaphore.tryAcquire(2)).toBeUndefined();
    const waiting = semaphore.acquire(2, { timeout: 1_000 });
    await assertPending(waiting);
    two.release();
    two.release();
    const next = await waiting;
    next.forget();
    expect(next.released).toBe(true);
    expect(semaphore.available).toBe(1);
    semaphore.addPermits(4);
    expect(semaphore.withPermitSync((p) => p.permits, { permits: 5 })).toBe(5);
    expect(semaphore.available).toBe(5);
    expect(() => semaphore.addPermits(Semaphore.MAX_PERMITS)).toThrow(RangeError);
    expect(semaphore.available).toBe(5);
  });

  it("timeouts and aborts take nothing; close rejects waiters and future acquires", async () => {
    const semaphore = new Semaphore(0);
    await expect(semaphore.acquire(1, { timeout: 5 })).rejects.toBeInstanceOf(TimeoutError);
    expect(() => semaphore.acquireSync(1, { timeout: 5 })).toThrow(TimeoutError);
    const controller = new AbortController();
    const aborted = semaphore.acquire(1, { signal: controller.signal });
    await tick();
    controller.abort(new Error("abort"));
    await expect(aborted).rejects.toThrow("abort");
    const waiting = semaphore.acquire(1);
    await tick();
    semaphore.close();
    await expect(waiting).rejects.toBeInstanceOf(ClosedError);
    expect(semaphore.closed).toBe(true);
    expect(() => semaphore.tryAcquire()).toThrow(ClosedError);
    expect(() => semaphore.acquireSync()).toThrow(ClosedError);
    semaphore.addPermits(1); // no effect once closed, no error
  });

  it("validates permits", async () => {
    expect(() => new Semaphore(-1)).toThrow(/`permits`/);
    expect(() => new Semaphore(1.5)).toThrow(RangeError);
    await expect(new Semaphore(1).acquire(0)).rejects.toThrow(/from 1 to 2147483647/);
    expect(() => new Semaphore(1).tryAcquire("1" as never)).toThrow(TypeError);
  });
});

describe("threads Barrier", () => {
  it("releases every party of a generation together, one leader, reusable", async () => {
    const barrier = new Barrier(3);
    for (let round = 0; round < 3; round++) {
      const a = barrier.wait({ timeout: 1_000 });
      const b = Barrier.from(barrier.handle).wait({ timeout: 1_000 });
      await assertPending(a);
      const c = await assertReady(barrier.wait());
      expect(c.isLeader).toBe(true);
      const results = await Promise.all([a, b]);
      expect(results.map((r) => r.isLeader)).toEqual([false, false]);
    }
    expect(new Barrier(1).waitSync().isLeader).toBe(true);
    await expect(new Barrier(2).wait({ timeout: 5 })).rejects.toBeInstanceOf(TimeoutError);
    expect(new Barrier(0).waitSync().isLeader).toBe(true); // a barrier of 1, as in Rust (finding 15)
    expect(() => new Barrier(-1)).toThrow(/`parties`/);
  });
});

describe("threads OnceLock", () => {
  it("runs one initializer; concurrent callers share it; a failure lets the next run", async () => {
    const once = new OnceLock(shared(1));
    expect(once.get()).toBeUndefined();
    await expect(
      once.getOrInit(() => {
        throw new Error("first failed");
      }),
    ).rejects.toThrow("first failed");
    expect(once.initialized).toBe(false);
    let calls = 0;
    const slow = once.getOrInit(async (v) => {
      calls++;
      await tick(5);
      v[0] = 11;
    });
    const other = once.getOrInit(() => {
      calls++;
    });
    const waited = once.wait({ timeout: 1_000 });
    expect((await slow)[0]).toBe(11);
    expect((await other)[0]).toBe(11);
    expect((await waited)[0]).toBe(11);
    expect(calls).toBe(1);
    expect(once.getOrInitSync(() => {})[0]).toBe(11);
    expect(OnceLock.from<Int32Array>(structuredClone(once)).get()![0]).toBe(11);
  });

  it("wait times out while nobody initializes", async () => {
    const once = new OnceLock(null);
    await expect(once.wait({ timeout: 5 })).rejects.toBeInstanceOf(TimeoutError);
    expect(() => once.waitSync({ timeout: 5 })).toThrow(TimeoutError);
  });
});

describe("from(): bad handles are TypeErrors", () => {
  const cases: Array<[string, { handle: object }, (received: unknown) => unknown]> = [
    ["Mutex", new Mutex(null), (x) => Mutex.from(x)],
    ["RwLock", new RwLock(null), (x) => RwLock.from(x)],
    ["Condvar", new Condvar(), (x) => Condvar.from(x)],
    ["Semaphore", new Semaphore(1), (x) => Semaphore.from(x)],
    ["Barrier", new Barrier(2), (x) => Barrier.from(x)],
    ["OnceLock", new OnceLock(null), (x) => OnceLock.from(x)],
  ];
  it.each(cases)("%s.from rejects other types, versions, foreign and small buffers", (name, instance, from) => {
    const handle = instance.handle;
    expect(from(structuredClone(handle))).toBeDefined();
    for (const bad of [
      null,
      42,
      "handle",
      {},
      { ...handle, type: "lockbox.threads.Other" },
      { ...handle, version: LAYOUT_VERSION + 1 },
      { ...handle, buffer: new ArrayBuffer(64) },
      { ...handle, buffer: new SharedArrayBuffer(1) },
    ]) {
      expect(() => from(bad), `${name} ${JSON.stringify(bad)}`).toThrow(TypeError);
    }
    // A handle of one primitive is not a handle of another.
    const other = cases.find(([n]) => n !== name)![1];
    expect(() => from(other.handle)).toThrow(new RegExp(`lockbox.threads.${name} handle`));
  });
});

describe("WouldBlockError where blocking is forbidden", () => {
  it("every *Sync method throws it first", () => {
    setBlockingProbe(() => false);
    const mutex = new Mutex(null);
    const guard = mutex.tryLock()!;
    const condvar = new Condvar();
    const calls: Array<() => unknown> = [
      () => new RwLock(null).readSync(),
      () => new RwLock(null).writeSync(),
      () => new Semaphore(1).acquireSync(),
      () => new Barrier(1).waitSync(),
      () => new OnceLock(null).getOrInitSync(() => {}),
      () => new OnceLock(null).waitSync(),
      () => condvar.waitSync(guard),
      () => mutex.lockSync(),
    ];
    for (const call of calls) expect(call).toThrow(WouldBlockError);
    expect(guard.released).toBe(false);
    guard.release();
  });
});

describe("runtimes without Atomics.waitAsync (polling fallback)", () => {
  it("async lock, condvar wait and semaphore acquire still wake, time out and abort", async () => {
    const { useNativeWaitAsync } = await import("../../src/threads/runtime/wait.js");
    useNativeWaitAsync(false);
    try {
      const mutex = new Mutex(shared(1));
      const guard = mutex.tryLock()!;
      const waiting = mutex.lock({ timeout: 1_000 });
      await assertPending(waiting);
      guard.release();
      (await waiting).release();
      const held = mutex.tryLock()!;
      await expect(mutex.lock({ timeout: 10 })).rejects.toBeInstanceOf(TimeoutError);
      const controller = new AbortController();
      const aborted = mutex.lock({ signal: controller.signal });
      controller.abort(new Error("stop"));
      await expect(aborted).rejects.toThrow("stop");
      const condvar = new Condvar();
      const { timedOut, guard: back } = await condvar.waitTimeout(held, 10);
      expect(timedOut).toBe(true);
      const woken = condvar.wait(back, { timeout: 1_000 });
      await tick();
      condvar.notifyOne();
      (await woken).release();
      const semaphore = new Semaphore(0);
      const permit = semaphore.acquire(1, { timeout: 1_000 });
      semaphore.addPermits(1);
      (await permit).release();
    } finally {
      useNativeWaitAsync(true);
    }
  });
});
