/**
 * Regression tests for the threads findings of issue 9 that one thread can show (the worker ones are
 * in issue9-workers.test.ts). Each test names its finding; each failed before its fix.
 */
import { afterEach, describe, expect, expectTypeOf, it, vi } from "vitest";
import {
  AtomicI32,
  Barrier,
  Condvar,
  JsonCell,
  json,
  Mutex,
  OnceLock,
  RwLock,
  Semaphore,
  TimeoutError,
} from "../../src/threads/index.js";
import { parkedWaiters } from "../../src/threads/runtime/keep-alive.js";
import { assertPending, assertReady } from "../helpers/poll.js";

function shared(length: number): Int32Array {
  return new Int32Array(new SharedArrayBuffer(4 * length));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const THIRTY_DAYS = 30 * 24 * 3600 * 1000;

afterEach(() => {
  expect(parkedWaiters()).toBe(0);
});

describe("finding 3: Condvar waits leave nothing held", () => {
  it("waitWhile: a condition that throws after a wake-up releases the re-acquired lock", async () => {
    const mutex = new Mutex(shared(1));
    const condvar = new Condvar();
    let calls = 0;
    const waiting = condvar.waitWhile(await mutex.lock(), () => {
      calls++;
      if (calls > 1) throw new Error("condition failed");
      return true;
    });
    await sleep(5);
    expect(mutex.isLocked).toBe(false);
    condvar.notifyAll();
    await expect(waiting).rejects.toThrow("condition failed");
    expect(calls).toBe(2);
    expect(mutex.isLocked).toBe(false);
    mutex.tryLock()!.release();
  });

  it("waitWhileSync: a condition that throws releases the guard it was checked under", () => {
    const mutex = new Mutex(shared(1));
    const condvar = new Condvar();
    expect(() =>
      condvar.waitWhileSync(mutex.lockSync(), () => {
        throw new Error("condition failed");
      }),
    ).toThrow("condition failed");
    expect(mutex.isLocked).toBe(false);
  });

  it("wait() with an already-aborted signal releases the caller's guard and rejects with the reason", async () => {
    const mutex = new Mutex(shared(1));
    const condvar = new Condvar();
    const guard = await mutex.lock();
    const reason = new Error("gone");
    await expect(condvar.wait(guard, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(guard.released).toBe(true);
    expect(mutex.isLocked).toBe(false);
    // waitWhile too, without calling the condition.
    const again = await mutex.lock();
    const condition = vi.fn(() => true);
    await expect(condvar.waitWhile(again, condition, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(condition).not.toHaveBeenCalled();
    expect(mutex.isLocked).toBe(false);
  });

  it("bad options reject without touching the guard", async () => {
    const mutex = new Mutex(shared(1));
    const condvar = new Condvar();
    const guard = await mutex.lock();
    await expect(condvar.wait(guard, { timeout: -1 })).rejects.toBeInstanceOf(RangeError);
    expect(guard.released).toBe(false);
    guard.release();
  });
});

describe("finding 6: Condvar.notifyOne wakes one waiter", () => {
  it("three parked async waiters, one notifyOne: one wakes, two stay parked past several poll periods", async () => {
    const mutex = new Mutex(shared(1));
    const condvar = new Condvar();
    const woken: number[] = [];
    const waits = [0, 1, 2].map(async (k) => {
      const { guard, timedOut } = await condvar.waitTimeout(await mutex.lock(), 60_000);
      guard.release();
      if (!timedOut) woken.push(k);
      return timedOut;
    });
    await sleep(5);
    condvar.notifyOne();
    // Several poll periods (50 ms each): the old condvar woke every waiter within one.
    await sleep(250);
    expect(woken).toHaveLength(1);
    condvar.notifyAll();
    expect(await Promise.all(waits)).toEqual([false, false, false]);
    expect(woken).toHaveLength(3);
  });

  it("a notifyOne with nobody waiting is not stored", async () => {
    const mutex = new Mutex(shared(1));
    const condvar = new Condvar();
    condvar.notifyOne();
    const { guard, timedOut } = await condvar.waitTimeout(await mutex.lock(), 20);
    expect(timedOut).toBe(true);
    guard.release();
  });

  it("an aborted waiter does not take a later notifyOne from a live one", async () => {
    const mutex = new Mutex(shared(1));
    const condvar = new Condvar();
    const controller = new AbortController();
    const aborted = condvar.wait(await mutex.lock(), { signal: controller.signal });
    const live = condvar.waitTimeout(await mutex.lock(), 60_000);
    await sleep(5);
    controller.abort(new Error("stop"));
    await expect(aborted).rejects.toThrow("stop");
    condvar.notifyOne();
    const { guard, timedOut } = await live;
    expect(timedOut).toBe(false);
    guard.release();
  });
});

describe("finding 5: Barrier withdraws a party that gave up", () => {
  it("a wait that timed out no longer counts: the next party waits instead of being released one short", async () => {
    const barrier = new Barrier(2);
    await expect(barrier.wait({ timeout: 5 })).rejects.toBeInstanceOf(TimeoutError);
    const first = barrier.wait({ timeout: 10_000 });
    await assertPending(first);
    await sleep(60); // past a poll period
    await assertPending(first);
    const second = await barrier.wait();
    expect(second.isLeader).toBe(true);
    expect((await first).isLeader).toBe(false);
  });

  it("an aborted wait withdraws too", async () => {
    const barrier = new Barrier(2);
    const controller = new AbortController();
    const aborted = barrier.wait({ signal: controller.signal });
    await sleep(2);
    controller.abort(new Error("cancelled"));
    await expect(aborted).rejects.toThrow("cancelled");
    await expect(barrier.wait({ timeout: 5 })).rejects.toBeInstanceOf(TimeoutError);
    expect(() => barrier.waitSync({ timeout: 5 })).toThrow(TimeoutError);
  });

  it("parties + 1 callers: one leader per generation, the extra one waits for the next generation", async () => {
    const barrier = new Barrier(2);
    const a = barrier.wait({ timeout: 10_000 });
    const b = barrier.wait({ timeout: 10_000 });
    const c = barrier.wait({ timeout: 10_000 });
    expect((await Promise.all([a, b])).filter((r) => r.isLeader)).toHaveLength(1);
    await assertPending(c);
    expect((await assertReady(barrier.wait())).isLeader).toBe(true);
    expect((await c).isLeader).toBe(false);
  });
});

describe("finding 8: json() decode failures and torn write-backs", () => {
  it("a lock whose JSON cannot be decoded rejects the acquire with a clear error and stays free", async () => {
    const cell = json({ n: 1 }, { maxBytes: 64 });
    const mutex = new Mutex(cell);
    // Memory written outside lockbox: the published text is no longer JSON.
    const bytes = new Uint8Array(cell.handle.buffer);
    bytes.fill(0x7b, 16, 16 + cell.byteLength); // "{{{{…"
    await expect(mutex.lock()).rejects.toThrow(/Cannot decode the JSON value.*not held/);
    expect(mutex.isLocked).toBe(false);
    expect(() => mutex.lockSync({ ignorePoison: true })).toThrow(SyntaxError);
    expect(mutex.isLocked).toBe(false);
    expect(() => mutex.tryLock()).toThrow(SyntaxError);
    expect(mutex.isLocked).toBe(false);
    // The documented repair works.
    cell.set({ n: 2 });
    expect(await mutex.withLock((guard) => guard.value.n)).toBe(2);
  });

  it("the same for an RwLock over json(): read, write and upgradable acquires leave nothing held", async () => {
    const cell = json({ n: 1 }, { maxBytes: 64 });
    const lock = new RwLock(cell);
    new Uint8Array(cell.handle.buffer).fill(0x7b, 16, 16 + cell.byteLength);
    await expect(lock.read()).rejects.toThrow(SyntaxError);
    await expect(lock.write()).rejects.toThrow(SyntaxError);
    await expect(lock.upgradableRead()).rejects.toThrow(SyntaxError);
    expect(lock.readers).toBe(0);
    expect(lock.isWriteLocked).toBe(false);
    cell.set({ n: 3 });
    expect(await lock.withWrite((guard) => guard.value.n)).toBe(3);
  });

  it("a write-back interrupted half-way (a worker killed mid-copy) leaves the old value readable", async () => {
    const cell = json({ items: ["a"] }, { maxBytes: 4096 });
    const mutex = new Mutex(cell);
    const guard = await mutex.lock();
    guard.value.items = Array.from({ length: 100 }, (_, i) => `item-${i}`);
    // Simulate the kill: the copy into shared memory stops half-way (and the thread never returns).
    const original = Uint8Array.prototype.set;
    const spy = vi.spyOn(Uint8Array.prototype, "set").mockImplementation(function (
      this: Uint8Array,
      source: ArrayLike<number>,
      offset?: number,
    ) {
      if (this.buffer === cell.handle.buffer && source.length > 100) {
        original.call(this, Array.prototype.slice.call(source, 0, source.length >> 1), offset);
        throw new Error("killed");
      }
      return original.call(this, source, offset);
    });
    try {
      expect(() => guard.release()).toThrow("killed");
    } finally {
      spy.mockRestore();
    }
    expect(cell.get()).toEqual({ items: ["a"] });
    expect(await mutex.withLock((g) => g.value.items)).toEqual(["a"]);
    // And a complete write-back is visible.
    await mutex.withLock((g) => {
      g.value.items.push("b");
    });
    expect(JsonCell.from<{ items: string[] }>(cell.handle).get()).toEqual({ items: ["a", "b"] });
  });
});

describe("finding 13: validation and construction gaps", () => {
  it("Barrier.from throws TypeError (not RangeError) for a bad handle", () => {
    const barrier = new Barrier(2);
    for (const parties of [0, -1, 1.5, 70_000, "2"]) {
      expect(() => Barrier.from({ ...barrier.handle, parties })).toThrow(TypeError);
    }
    expect(() => Barrier.from({ ...barrier.handle, parties: 0 })).toThrow(/`handle.parties`/);
  });

  it("new OnceLock() works with no arguments (a bare done-once flag)", async () => {
    const once = new OnceLock();
    expectTypeOf(once).toEqualTypeOf<OnceLock<null>>();
    expect(once.initialized).toBe(false);
    let runs = 0;
    await once.getOrInit(() => {
      runs++;
    });
    once.getOrInitSync(() => {
      runs++;
    });
    expect(runs).toBe(1);
    expect(OnceLock.from(once.handle).initialized).toBe(true);
    const typed = new OnceLock(shared(1));
    expectTypeOf(typed).toEqualTypeOf<OnceLock<Int32Array>>();
  });

  it("Semaphore: MAX_PERMITS counts held permits too, so a release is never dropped", () => {
    const semaphore = new Semaphore(Semaphore.MAX_PERMITS);
    const permit = semaphore.tryAcquire(5)!;
    expect(() => semaphore.addPermits(1)).toThrow(RangeError);
    expect(() => semaphore.addPermits(1)).toThrow(/permits in existence \(free and held\)/);
    permit.release();
    expect(semaphore.available).toBe(Semaphore.MAX_PERMITS);
    // forget() takes permits out of existence: room to add them again.
    semaphore.tryAcquire(3)!.forget();
    semaphore.addPermits(3);
    expect(semaphore.available).toBe(Semaphore.MAX_PERMITS);
  });
});

describe("finding 14: the kind tag lives in the shared memory", () => {
  it("a re-tagged RwLock handle is refused by Semaphore.from, and the RwLock is untouched", () => {
    const lock = new RwLock(shared(1));
    const guard = lock.tryRead()!;
    const forged = { ...lock.handle, type: "lockbox.threads.Semaphore" };
    expect(() => Semaphore.from(forged)).toThrow(TypeError);
    expect(() => Semaphore.from(forged)).toThrow(/memory of a lockbox\.threads\.RwLock/);
    expect(lock.readers).toBe(1);
    guard.release();
    expect(lock.tryWrite()).toBeDefined();
  });

  it("Mutex.from names the kind it got and the kind it expected", () => {
    const lock = new RwLock(null);
    expect(() => Mutex.from(lock.handle)).toThrow(
      "Expected `Mutex.from` argument to be a lockbox.threads.Mutex handle, got a lockbox.threads.RwLock handle",
    );
    expect(() => Mutex.from({ ...lock.handle, type: "lockbox.threads.Mutex" })).toThrow(
      "Expected `Mutex.from` argument's memory to hold a lockbox.threads.Mutex, got the memory of a lockbox.threads.RwLock",
    );
  });

  it("every from() checks the memory: Condvar, Barrier, OnceLock, RwLock, JsonCell", () => {
    const semaphore = new Semaphore(1);
    const foreign = semaphore.handle.buffer;
    expect(() => Condvar.from({ ...new Condvar().handle, buffer: foreign })).toThrow(/memory of a .*Semaphore/);
    expect(() => Barrier.from({ ...new Barrier(2).handle, buffer: foreign })).toThrow(/memory of a .*Semaphore/);
    expect(() => OnceLock.from({ ...new OnceLock().handle, buffer: foreign })).toThrow(/memory of a .*Semaphore/);
    expect(() => RwLock.from({ ...new RwLock(null).handle, buffer: foreign })).toThrow(/memory of a .*Semaphore/);
    expect(() => JsonCell.from({ ...json(1).handle, buffer: new Mutex(null).handle.buffer })).toThrow(TypeError);
    expect(() => Semaphore.from({ ...semaphore.handle, buffer: new SharedArrayBuffer(64) })).toThrow(
      /without a lockbox\.threads tag/,
    );
    // The genuine handles still work.
    expect(Semaphore.from(structuredClone(semaphore.handle)).available).toBe(1);
  });
});

describe("finding 15: timeouts past 2^31 − 1 ms, Barrier(0)", () => {
  it("every { timeout } and Condvar.waitTimeout(ms) accepts 30 days", async () => {
    const mutex = new Mutex(shared(1));
    const guard = await mutex.lock({ timeout: THIRTY_DAYS });
    guard.release();
    mutex.lockSync({ timeout: THIRTY_DAYS }).release();
    const lock = new RwLock(null);
    (await lock.write({ timeout: THIRTY_DAYS })).release();
    lock.readSync({ timeout: THIRTY_DAYS }).release();
    const semaphore = new Semaphore(1);
    (await semaphore.acquire(1, { timeout: THIRTY_DAYS })).release();
    const condvar = new Condvar();
    const waiting = condvar.waitTimeout(await mutex.lock(), THIRTY_DAYS);
    await sleep(5);
    condvar.notifyOne();
    const { guard: after, timedOut } = await waiting;
    expect(timedOut).toBe(false);
    after.release();
    expect((await new Barrier(1).wait({ timeout: 2 ** 40 })).isLeader).toBe(true);
    await new OnceLock().getOrInit(() => {}, { timeout: THIRTY_DAYS });
    const flag = new AtomicI32(1);
    expect(flag.waitSync(0, THIRTY_DAYS)).toBe("not-equal");
    expect(await flag.waitAsync(0, { timeout: THIRTY_DAYS })).toBe("not-equal");
    // Still refused: negative, NaN, Infinity.
    await expect(mutex.lock({ timeout: -1 })).rejects.toThrow(/finite number of milliseconds/);
    await expect(mutex.lock({ timeout: Number.NaN })).rejects.toBeInstanceOf(RangeError);
    const held = await mutex.lock();
    await expect(condvar.waitTimeout(held, Number.POSITIVE_INFINITY)).rejects.toThrow(/`ms`/);
    expect(held.released).toBe(false);
    held.release();
    expect(mutex.isLocked).toBe(false);
  });

  it("new Barrier(0) is a barrier of 1 (as in Rust's std and tokio)", async () => {
    const barrier = new Barrier(0);
    expect(barrier.parties).toBe(1);
    expect((await barrier.wait()).isLeader).toBe(true);
    expect(Barrier.from(barrier.handle).waitSync().isLeader).toBe(true);
  });
});

describe("finding 16: owner ids never wrap", () => {
  it("a thread id past the owner-id range is refused loudly instead of sharing an older thread's id", async () => {
    // Internal: no test can create 8.4 million threads. Before the fix the id wrapped ((id % MAX) + 1).
    const { ownerIdOf } = await import("../../src/threads/runtime/liveness.js");
    const { MAX_OWNER } = await import("../../src/threads/raw/raw-mutex.js");
    expect(ownerIdOf(0)).toBe(1);
    expect(ownerIdOf(MAX_OWNER - 1)).toBe(MAX_OWNER);
    expect(() => ownerIdOf(MAX_OWNER)).toThrow(RangeError);
    expect(() => ownerIdOf(MAX_OWNER)).toThrow(/do not wrap/);
  });
});
