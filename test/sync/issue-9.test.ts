/**
 * Regression tests for issue 9, in-process findings (scope `lockbox`). Each test goes through the public
 * API and fails on the code before its fix.
 *
 * | finding | test (describe › it) |
 * |---|---|
 * | 4  | finding 4 › an aborted upgrade released in the same tick leaves the queued writer alone |
 * | 4  | finding 4 › an aborted upgrade downgraded in the same tick leaves the queued writer alone |
 * | 4  | finding 4 › a timed-out upgrade released in the same tick leaves the queued writer alone |
 * | 4  | finding 4 › a new upgrade() right after an aborted one is not refused as "already pending" |
 * | 11 | finding 11 › an abort in the same tick as the last grant rejects and hands every key on |
 * | 11 | finding 11 › an abort right after the call, with every key free, rejects like lock() |
 * | 12 | finding 12 › <primitive.method> reads each option once and leaves no ghost waiter (one test each) |
 * | 12 | finding 12 › constructors read each option once |
 * | 12 | finding 12 (threads) › threads <primitive.method> reads each option once (one test each) |
 * | 12 | finding 12 (threads) › threads constructors and blocking methods read each option once |
 * | 13 | finding 13 › try-variants validate their options and take nothing when they are bad |
 * | 13 | finding 13 › null is not "no option": maxReaders and withPermit's permits reject it |
 * | 13 | finding 13 › addPermits cannot push the permits in existence past MAX_PERMITS |
 * | 13 | finding 13 › forget() takes permits out of existence, making room for addPermits |
 * | 13 | finding 13 › threads try-variants and withPermit reject null and bad options too |
 * | 15 | finding 15 › a 30-day { timeout } fires at 30 days and not before (<primitive.method>, one test each) |
 * | 15 | finding 15 › Condvar.waitTimeout(guard, 30 days) times out at 30 days and not before |
 * | 15 | finding 15 › a cleared 30-day timeout leaves no timer behind |
 * | 15 | finding 15 › Infinity, NaN and negative timeouts are still RangeError |
 * | 15 | finding 15 › new Barrier(0) is a barrier of 1 |
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  Barrier,
  Condvar,
  KeyedMutex,
  Mutex,
  Notify,
  OnceCell,
  RefCell,
  RwLock,
  Semaphore,
  TimeoutError,
} from "../../src/index.js";
import * as threads from "../../src/threads/index.js";
import { assertPending, assertReady, assertRejected, poll } from "../helpers/poll.js";

afterEach(() => {
  vi.useRealTimers();
});

/** An upgradable guard whose upgrade() waits for a second reader, with a writer queued behind it. */
async function upgradeScene() {
  const lock = new RwLock({ n: 0 });
  const upgradable = await lock.upgradableRead();
  const reader = await lock.read();
  const controller = new AbortController();
  const upgrade = upgradable.upgrade({ signal: controller.signal });
  const writer = lock.write();
  await assertPending(upgrade);
  await assertPending(writer);
  return { lock, upgradable, reader, controller, upgrade, writer };
}

describe("finding 4: in-process RwLock cancels an upgrade by identity, never by queue position", () => {
  it("an aborted upgrade released in the same tick leaves the queued writer alone", async () => {
    const { lock, upgradable, reader, controller, upgrade, writer } = await upgradeScene();
    const reason = new Error("stop");
    controller.abort(reason);
    upgradable.release(); // same tick: the upgrade's waiter has already left the queue
    expect(await assertRejected(upgrade)).toBe(reason);
    await assertPending(writer); // still waits for `reader`
    reader.release();
    const w = await assertReady(writer);
    expect(lock.isWriteLocked).toBe(true);
    w.value.n = 1;
    w.release();
    expect(lock.tryWrite()?.value.n).toBe(1);
  });

  it("an aborted upgrade downgraded in the same tick leaves the queued writer alone", async () => {
    const { lock, upgradable, reader, controller, upgrade, writer } = await upgradeScene();
    controller.abort(new Error("stop"));
    const plain = upgradable.downgrade();
    await assertRejected(upgrade);
    await assertPending(writer);
    expect(lock.readers).toBe(2);
    reader.release();
    plain.release();
    (await assertReady(writer)).release();
  });

  it("a timed-out upgrade released in the same tick leaves the queued writer alone", async () => {
    vi.useFakeTimers();
    const lock = new RwLock(0);
    const upgradable = await lock.upgradableRead();
    const reader = await lock.read();
    const upgrade = upgradable.upgrade({ timeout: 100 });
    const writer = lock.write();
    await assertPending(writer);
    vi.advanceTimersByTime(100); // the upgrade times out and leaves the queue ...
    upgradable.release(); // ... and its guard goes before any microtask runs
    await assertRejected(upgrade);
    await assertPending(writer);
    reader.release();
    (await assertReady(writer)).release();
  });

  it('a new upgrade() right after an aborted one is not refused as "already pending"', async () => {
    const lock = new RwLock(0);
    const upgradable = await lock.upgradableRead();
    const reader = await lock.read();
    const controller = new AbortController();
    const first = upgradable.upgrade({ signal: controller.signal });
    controller.abort(new Error("stop"));
    const second = upgradable.upgrade(); // same tick: the first one is no longer pending
    await assertRejected(first);
    await assertPending(second);
    reader.release();
    const w = await assertReady(second);
    expect(lock.isWriteLocked).toBe(true);
    w.release();
  });
});

describe("finding 11: KeyedMutex.lockMany lets an abort win over an unseen grant, as lock() does", () => {
  it("an abort in the same tick as the last grant rejects and hands every key on", async () => {
    const locks = new KeyedMutex<string>();
    const holder = await locks.lock("b");
    const controller = new AbortController();
    const many = locks.lockMany(["b", "a"], { signal: controller.signal });
    const next = locks.lock("b"); // queued behind lockMany on "b"
    await assertPending(many);
    expect(locks.isLocked("a")).toBe(true); // taken first, while waiting for "b"
    const reason = new Error("stop");
    holder.release(); // grants "b" to lockMany ...
    controller.abort(reason); // ... and the abort lands before lockMany's caller resumes
    expect(await assertRejected(many)).toBe(reason);
    expect(locks.isLocked("a")).toBe(false);
    const g = await assertReady(next); // "b" was handed on, not kept
    expect(g.value).toBe("b");
    g.release();
    expect(locks.size).toBe(0);

    // The single-key acquire behaves the same way (the reference behaviour).
    const holder2 = await locks.lock("c");
    const controller2 = new AbortController();
    const one = locks.lock("c", { signal: controller2.signal });
    holder2.release();
    controller2.abort(reason);
    expect(await assertRejected(one)).toBe(reason);
    expect(locks.size).toBe(0);
  });

  it("an abort right after the call, with every key free, rejects like lock()", async () => {
    const locks = new KeyedMutex<number>();
    const controller = new AbortController();
    const many = locks.lockMany([2, 1], { signal: controller.signal });
    const one = locks.lock(3, { signal: controller.signal });
    controller.abort(new Error("stop"));
    await assertRejected(one);
    await assertRejected(many);
    expect(locks.size).toBe(0);
    expect(locks.tryLock(1)?.release()).toBeUndefined();
  });
});

/**
 * Options whose getters answer validly on the first read and with a broken signal (no
 * addEventListener) on every later read: code that validates one read and uses another queues a waiter
 * and then throws, leaving that waiter queued with nobody to release what it is granted.
 */
function twoFacedOptions(extra: Record<string, unknown> = {}) {
  const reads = { signal: 0, timeout: 0, ignorePoison: 0 };
  const broken = { aborted: false } as unknown as AbortSignal;
  const options = {
    get signal() {
      return ++reads.signal === 1 ? undefined : broken;
    },
    get timeout() {
      return ++reads.timeout === 1 ? undefined : 10;
    },
    get ignorePoison() {
      return ++reads.ignorePoison === 1 ? undefined : true;
    },
    ...extra,
  };
  return { options, reads };
}

/** Calls `start`, turning a synchronous throw into a rejection (the old code threw). */
function attempt<T>(start: () => Promise<T>): Promise<T> {
  try {
    return start();
  } catch (error) {
    return Promise.reject(error);
  }
}

/** Lets the attempt finish: releases what it got (a guard or a permit), if anything. */
async function finish(pending: Promise<unknown>): Promise<void> {
  const result = await poll(pending);
  expect(result.state).toBe("fulfilled");
  const value = (result as { value?: unknown }).value;
  if (value !== null && typeof value === "object" && "release" in value) (value as { release(): void }).release();
}

interface GhostCase {
  name: string;
  /** Sets up a busy primitive; returns the call under test, the unblocking step and the final check. */
  scene(): Promise<{
    call(options: object): Promise<unknown>;
    unblock(): void;
    /** Resolves once the primitive is usable again (fails the test if a ghost holds it). */
    usable(): Promise<unknown>;
  }>;
}

const ghostCases: GhostCase[] = [
  {
    name: "Mutex.lock",
    async scene() {
      const m = new Mutex(0);
      const held = await m.lock();
      return { call: (o) => m.lock(o), unblock: () => held.release(), usable: () => m.lock() };
    },
  },
  {
    name: "Mutex.withLock",
    async scene() {
      const m = new Mutex(0);
      const held = await m.lock();
      return { call: (o) => m.withLock(() => 1, o), unblock: () => held.release(), usable: () => m.lock() };
    },
  },
  {
    name: "RwLock.write",
    async scene() {
      const l = new RwLock(0);
      const held = await l.read();
      return { call: (o) => l.write(o), unblock: () => held.release(), usable: () => l.write() };
    },
  },
  {
    name: "RwLock.read",
    async scene() {
      const l = new RwLock(0);
      const held = await l.write();
      return { call: (o) => l.read(o), unblock: () => held.release(), usable: () => l.write() };
    },
  },
  {
    name: "RwLock.upgradableRead",
    async scene() {
      const l = new RwLock(0);
      const held = await l.write();
      return { call: (o) => l.upgradableRead(o), unblock: () => held.release(), usable: () => l.write() };
    },
  },
  {
    name: "RwLockUpgradableReadGuard.upgrade",
    async scene() {
      const l = new RwLock(0);
      const up = await l.upgradableRead();
      const held = await l.read();
      return { call: (o) => up.upgrade(o), unblock: () => held.release(), usable: () => l.write() };
    },
  },
  {
    name: "RwLock.withWrite",
    async scene() {
      const l = new RwLock(0);
      const held = await l.read();
      return { call: (o) => l.withWrite(() => 1, o), unblock: () => held.release(), usable: () => l.write() };
    },
  },
  {
    name: "Semaphore.acquire",
    async scene() {
      const s = new Semaphore(1);
      const held = await s.acquire();
      return { call: (o) => s.acquire(1, o), unblock: () => held.release(), usable: () => s.acquire() };
    },
  },
  {
    name: "Semaphore.withPermit",
    async scene() {
      const s = new Semaphore(1);
      const held = await s.acquire();
      return { call: (o) => s.withPermit(() => 1, o), unblock: () => held.release(), usable: () => s.acquire() };
    },
  },
  {
    name: "KeyedMutex.lock",
    async scene() {
      const k = new KeyedMutex<string>();
      const held = await k.lock("a");
      return { call: (o) => k.lock("a", o), unblock: () => held.release(), usable: () => k.lock("a") };
    },
  },
  {
    name: "KeyedMutex.lockMany",
    async scene() {
      const k = new KeyedMutex<string>();
      const held = await k.lock("a");
      return {
        call: (o) => k.lockMany(["a", "b"], o),
        unblock: () => held.release(),
        usable: () => k.lockMany(["a", "b"]),
      };
    },
  },
  {
    name: "Notify.notified",
    async scene() {
      const n = new Notify();
      return {
        call: (o) => n.notified(o),
        unblock: () => n.notifyOne(),
        usable: () => {
          n.notifyOne(); // stored for the next caller: no ghost waiter takes it
          return n.notified();
        },
      };
    },
  },
  {
    name: "Barrier.wait",
    async scene() {
      const b = new Barrier(2);
      let other: Promise<unknown> = Promise.resolve();
      return {
        call: (o) => b.wait(o),
        unblock: () => {
          other = b.wait();
        },
        usable: async () => {
          await other;
          return Promise.all([b.wait(), b.wait()]);
        },
      };
    },
  },
  {
    name: "OnceCell.getOrInit",
    async scene() {
      const c = new OnceCell<number>();
      let fail!: (error: Error) => void;
      const first = c.getOrInit(() => new Promise<number>((_, reject) => (fail = reject)));
      first.catch(() => {});
      return {
        call: (o) => c.getOrInit(() => 2, o),
        unblock: () => fail(new Error("first init fails")),
        usable: async () => expect(c.get()).toBe(2),
      };
    },
  },
  {
    name: "Condvar.waitWhile",
    async scene() {
      const m = new Mutex(false);
      const cv = new Condvar();
      const guard = await m.lock();
      return {
        call: (o) => cv.waitWhile(guard, (ready) => !ready, o),
        unblock: () => {
          const g = m.tryLock();
          if (g === undefined) throw new Error("the mutex should be free while waitWhile waits");
          g.value = true;
          g.release();
          cv.notifyOne();
        },
        usable: () => m.lock(),
      };
    },
  },
  {
    name: "Condvar.wait",
    async scene() {
      const m = new Mutex(0);
      const cv = new Condvar();
      const guard = await m.lock();
      return {
        call: (o) => cv.wait(guard, o),
        unblock: () => cv.notifyOne(),
        usable: () => m.lock(),
      };
    },
  },
];

describe("finding 12: options are read once, so getters cannot leave a ghost waiter", () => {
  for (const c of ghostCases) {
    it(`${c.name} reads each option once and leaves no ghost waiter`, async () => {
      const { call, unblock, usable } = await c.scene();
      const { options, reads } = twoFacedOptions();
      const pending = attempt(() => call(options));
      unblock();
      await finish(pending);
      expect(reads.signal).toBe(1);
      expect(reads.timeout).toBeLessThanOrEqual(1);
      expect(reads.ignorePoison).toBeLessThanOrEqual(1);
      await finish(Promise.resolve().then(usable));
    });
  }

  it("constructors read each option once", () => {
    const counted = (fields: Record<string, unknown>) => {
      const reads: Record<string, number> = {};
      const options = {};
      for (const [key, value] of Object.entries(fields)) {
        reads[key] = 0;
        Object.defineProperty(options, key, {
          get: () => {
            reads[key] = (reads[key] ?? 0) + 1;
            // Valid the first time, invalid after: a second read would store garbage.
            return reads[key] === 1 ? value : "garbage";
          },
        });
      }
      return { options, reads };
    };
    const m = counted({ poison: true, name: "m" });
    new Mutex(0, m.options);
    expect(m.reads).toEqual({ poison: 1, name: 1 });
    const r = counted({ poison: true, name: "r", maxReaders: 3 });
    new RwLock(0, r.options);
    expect(r.reads).toEqual({ poison: 1, name: 1, maxReaders: 1 });
    const c = counted({ track: true, name: "c" });
    new RefCell(0, c.options);
    expect(c.reads).toEqual({ track: 1, name: 1 });
    const o = counted({ name: "o" });
    expect(OnceCell.empty(o.options).name).toBe("o");
    expect(o.reads).toEqual({ name: 1 });
  });
});

interface ThreadsCase {
  name: string;
  /** A busy primitive: the call under test, the step that unblocks it, and a check that it is usable. */
  scene(): {
    call(options: object): Promise<unknown>;
    unblock(): void;
    usable(): Promise<unknown>;
  };
}

const threadsCases: ThreadsCase[] = [
  {
    name: "Mutex.lock",
    scene() {
      const m = new threads.Mutex(null);
      const held = m.tryLock() as threads.MutexGuard<null>;
      return { call: (o) => m.lock(o), unblock: () => held.release(), usable: () => m.lock() };
    },
  },
  {
    name: "RwLock.write",
    scene() {
      const l = new threads.RwLock(null);
      const held = l.tryRead() as { release(): void };
      return { call: (o) => l.write(o), unblock: () => held.release(), usable: () => l.write() };
    },
  },
  {
    name: "RwLock.read",
    scene() {
      const l = new threads.RwLock(null);
      const held = l.tryWrite() as { release(): void };
      return { call: (o) => l.read(o), unblock: () => held.release(), usable: () => l.write() };
    },
  },
  {
    name: "RwLock.upgradableRead",
    scene() {
      const l = new threads.RwLock(null);
      const held = l.tryWrite() as { release(): void };
      return { call: (o) => l.upgradableRead(o), unblock: () => held.release(), usable: () => l.write() };
    },
  },
  {
    name: "Semaphore.acquire",
    scene() {
      const s = new threads.Semaphore(1);
      const held = s.tryAcquire() as { release(): void };
      return { call: (o) => s.acquire(1, o), unblock: () => held.release(), usable: () => s.acquire() };
    },
  },
  {
    name: "Barrier.wait",
    scene() {
      const b = new threads.Barrier(2);
      let other: Promise<unknown> = Promise.resolve();
      return {
        call: (o) => b.wait(o),
        unblock: () => {
          other = b.wait();
        },
        usable: async () => {
          await other;
          return Promise.all([b.wait(), b.wait()]);
        },
      };
    },
  },
  {
    name: "OnceLock.wait",
    scene() {
      const cell = new threads.OnceLock(); // a bare done-once flag
      return {
        call: (o) => cell.wait(o),
        unblock: () => cell.getOrInitSync(() => {}),
        usable: () => cell.wait(),
      };
    },
  },
];

/** Awaits `pending` (a real wait: threads waiters poll), then releases what it got, if anything. */
async function settleThreads(pending: Promise<unknown>): Promise<void> {
  const value = await pending;
  for (const item of Array.isArray(value) ? value : [value]) {
    if (item !== null && typeof item === "object" && "release" in item) (item as { release(): void }).release();
  }
}

describe("finding 12 (threads): threads methods read each option once", () => {
  for (const c of threadsCases) {
    it(`threads ${c.name} reads each option once`, async () => {
      const { call, unblock, usable } = c.scene();
      const { options, reads } = twoFacedOptions();
      const pending = attempt(() => call(options));
      unblock();
      await settleThreads(pending);
      expect(reads.signal).toBe(1);
      expect(reads.timeout).toBeLessThanOrEqual(1);
      expect(reads.ignorePoison).toBeLessThanOrEqual(1);
      await settleThreads(usable());
    });
  }

  it("threads constructors and blocking methods read each option once", () => {
    let poisonReads = 0;
    let nameReads = 0;
    const ctor = {
      get poison() {
        return ++poisonReads === 1 ? false : "garbage";
      },
      get name() {
        return ++nameReads === 1 ? "shared" : 42;
      },
    };
    const m = new threads.Mutex(null, ctor as unknown as { poison: boolean; name: string });
    expect([poisonReads, nameReads, m.name]).toEqual([1, 1, "shared"]);
    let timeoutReads = 0;
    const sync = {
      get timeout() {
        return ++timeoutReads === 1 ? 1_000 : Number.NaN;
      },
    };
    m.lockSync(sync).release();
    expect(timeoutReads).toBe(1);
  });
});

describe("finding 13: try-variant options, null, and MAX_PERMITS accounting", () => {
  it("threads try-variants and withPermit reject null and bad options too", async () => {
    const m = new threads.Mutex(null);
    const rw = new threads.RwLock(null);
    for (const options of [null, 5, { ignorePoison: "yes" }, { ignorePoison: null }]) {
      const o = options as { ignorePoison?: boolean };
      expect(() => m.tryLock(o)).toThrow(TypeError);
      expect(() => rw.tryRead(o)).toThrow(TypeError);
      expect(() => rw.tryWrite(o)).toThrow(TypeError);
      expect(() => rw.tryUpgradableRead(o)).toThrow(TypeError);
    }
    // Nothing was taken by a rejected call.
    m.tryLock()?.release();
    const w = rw.tryWrite();
    expect(w).toBeDefined();
    w?.release();
    const s = new threads.Semaphore(2);
    await expect(s.withPermit(() => 1, { permits: null as never })).rejects.toThrow(/`permits`/);
    expect(() => s.withPermitSync(() => 1, { permits: null as never })).toThrow(/`permits`/);
    expect(() => s.withPermitSync(() => 1, null as never)).toThrow(/`options`/);
    expect(s.available).toBe(2);
  });

  it("try-variants validate their options and take nothing when they are bad", () => {
    const m = new Mutex(0);
    const rw = new RwLock(0);
    const bad: unknown[] = [null, 5, "x", { ignorePoison: "yes" }, { ignorePoison: null }, { ignorePoison: 1 }];
    for (const options of bad) {
      const o = options as { ignorePoison?: boolean };
      expect(() => m.tryLock(o)).toThrow(TypeError);
      expect(() => rw.tryRead(o)).toThrow(TypeError);
      expect(() => rw.tryWrite(o)).toThrow(TypeError);
      expect(() => rw.tryUpgradableRead(o)).toThrow(TypeError);
    }
    expect(() => m.tryLock(null as never)).toThrow(/`options`/);
    expect(() => m.tryLock({ ignorePoison: "yes" } as never)).toThrow(/`ignorePoison` to be a boolean/);
    expect(m.isLocked).toBe(false);
    expect(rw.readers).toBe(0);
    expect(rw.isWriteLocked).toBe(false);
    // Good options still work.
    m.tryLock({ ignorePoison: true })?.release();
    rw.tryUpgradableRead({})?.release();
    expect(rw.tryWrite(undefined)).toBeDefined();
  });

  it('null is not "no option": maxReaders and withPermit\'s permits reject it', async () => {
    expect(() => new RwLock(0, { maxReaders: null as never })).toThrow(TypeError);
    expect(() => new RwLock(0, { maxReaders: null as never })).toThrow(/`maxReaders`/);
    expect(new RwLock(0, { maxReaders: undefined }).tryRead()).toBeDefined();
    const s = new Semaphore(2);
    let ran = false;
    const rejected = s.withPermit(
      () => {
        ran = true;
      },
      { permits: null as never },
    );
    const reason = await assertRejected(rejected);
    expect(reason).toBeInstanceOf(TypeError);
    expect(String(reason)).toMatch(/`permits`/);
    expect(ran).toBe(false);
    expect(s.available).toBe(2);
  });

  it("addPermits cannot push the permits in existence past MAX_PERMITS", async () => {
    const max = Semaphore.MAX_PERMITS;
    const s = new Semaphore(max);
    const held = await s.acquire(10);
    expect(s.available).toBe(max - 10);
    // The pool has room for 10 more, but 10 permits are held: adding any would overflow on release.
    expect(() => s.addPermits(1)).toThrow(RangeError);
    expect(() => s.addPermits(10)).toThrow(/`permits` to be an integer from 0 to 0/);
    expect(s.available).toBe(max - 10); // nothing changed
    s.addPermits(0);
    held.release();
    expect(s.available).toBe(max);

    // Held by a waiter's partial grant counts too.
    const t = new Semaphore(max - 5);
    const first = await t.acquire(max - 5);
    const big = t.acquire(max - 5); // queued
    first.release(); // ... and collects everything at once
    (await big).release();
    expect(() => t.addPermits(6)).toThrow(RangeError);
    t.addPermits(5);
    expect(t.available).toBe(max);
  });

  it("forget() takes permits out of existence, making room for addPermits", async () => {
    const max = Semaphore.MAX_PERMITS;
    const s = new Semaphore(max);
    const p = await s.acquire(3);
    expect(() => s.addPermits(3)).toThrow(RangeError);
    p.forget();
    s.addPermits(3);
    expect(s.available).toBe(max);
    expect(() => s.addPermits(1)).toThrow(RangeError);
  });
});

const DAY = 24 * 60 * 60 * 1000;
const THIRTY_DAYS = 30 * DAY; // 2_592_000_000 ms, above the 2 ** 31 - 1 ms a single timer holds

interface LongTimeoutCase {
  name: string;
  /** A busy primitive and a call that waits on it with `options`. */
  scene(): Promise<(options: { timeout: number }) => Promise<unknown>>;
}

const longTimeoutCases: LongTimeoutCase[] = [
  {
    name: "Mutex.lock",
    async scene() {
      const m = new Mutex(0);
      await m.lock();
      return (o) => m.lock(o);
    },
  },
  {
    name: "RwLock.write",
    async scene() {
      const l = new RwLock(0);
      await l.read();
      return (o) => l.write(o);
    },
  },
  {
    name: "Semaphore.acquire",
    async scene() {
      const s = new Semaphore(0);
      return (o) => s.acquire(1, o);
    },
  },
  {
    name: "KeyedMutex.lockMany",
    async scene() {
      const k = new KeyedMutex<string>();
      await k.lock("b");
      return (o) => k.lockMany(["a", "b"], o);
    },
  },
  {
    name: "Notify.notified",
    async scene() {
      const n = new Notify();
      return (o) => n.notified(o);
    },
  },
  {
    name: "Barrier.wait",
    async scene() {
      const b = new Barrier(2);
      return (o) => b.wait(o);
    },
  },
  {
    name: "OnceCell.getOrInit",
    async scene() {
      const c = new OnceCell<number>();
      void c.getOrInit(() => new Promise<number>(() => {}));
      return (o) => c.getOrInit(() => 1, o);
    },
  },
  {
    name: "Condvar.waitWhile",
    async scene() {
      const m = new Mutex(0);
      const cv = new Condvar();
      return async (o) => cv.waitWhile(await m.lock(), () => true, o);
    },
  },
];

describe("finding 15: any finite timeout works (chained timers), and Barrier(0) is a barrier of 1", () => {
  for (const c of longTimeoutCases) {
    it(`a 30-day { timeout } fires at 30 days and not before (${c.name})`, async () => {
      vi.useFakeTimers();
      const call = await c.scene();
      const pending = call({ timeout: THIRTY_DAYS });
      await assertPending(pending);
      vi.advanceTimersByTime(THIRTY_DAYS - 1);
      await assertPending(pending);
      vi.advanceTimersByTime(1);
      expect(await assertRejected(pending)).toBeInstanceOf(TimeoutError);
      expect(vi.getTimerCount()).toBe(0);
    });
  }

  it("Condvar.waitTimeout(guard, 30 days) times out at 30 days and not before", async () => {
    vi.useFakeTimers();
    const m = new Mutex(0);
    const cv = new Condvar();
    const pending = cv.waitTimeout(await m.lock(), THIRTY_DAYS);
    await assertPending(pending);
    expect(m.isLocked).toBe(false); // released while waiting
    vi.advanceTimersByTime(THIRTY_DAYS - 1);
    await assertPending(pending);
    vi.advanceTimersByTime(1);
    const { guard, timedOut } = await assertReady(pending);
    expect(timedOut).toBe(true);
    expect(guard.released).toBe(false);
    guard.release();
  });

  it("a cleared 30-day timeout leaves no timer behind", async () => {
    vi.useFakeTimers();
    const m = new Mutex(0);
    const held = await m.lock();
    const pending = m.lock({ timeout: 3 * THIRTY_DAYS });
    vi.advanceTimersByTime(THIRTY_DAYS); // into the second link of the chain
    await assertPending(pending);
    held.release();
    (await assertReady(pending)).release();
    expect(vi.getTimerCount()).toBe(0);
  });

  it("Infinity, NaN and negative timeouts are still RangeError", async () => {
    const m = new Mutex(0);
    for (const timeout of [Number.POSITIVE_INFINITY, Number.NaN, -1]) {
      const reason = await assertRejected(m.lock({ timeout }));
      expect(reason).toBeInstanceOf(RangeError);
      expect(String(reason)).toMatch(/`timeout` to be a finite number of milliseconds/);
    }
    const cv = new Condvar();
    const guard = await m.lock();
    await expect(cv.waitTimeout(guard, Number.POSITIVE_INFINITY)).rejects.toThrow(/`ms`/);
    expect(guard.released).toBe(false);
    guard.release();
  });

  it("new Barrier(0) is a barrier of 1", async () => {
    const b = new Barrier(0);
    expect(b.parties).toBe(1);
    expect(await assertReady(b.wait())).toEqual({ isLeader: true });
    expect(await assertReady(b.wait())).toEqual({ isLeader: true });
    expect(() => new Barrier(-1)).toThrow(RangeError);
  });
});
