/**
 * The contract suite of SPEC §6, written once and run against every distributed store
 * (test/postgres/contract.test.ts, test/redis/contract.test.ts). Each store a test opens stands for one
 * process: it has its own connections, so "across two stores" means "across two processes".
 *
 * Names are unique per test (a random prefix), so runs never see each other's locks.
 */
import { afterEach, describe, expect, it } from "vitest";
import { ClosedError, LockLostError, TimeoutError, UseAfterReleaseError } from "../../src/errors.js";
import type { Store, StoreOptions } from "../../src/store/index.js";

/** What the suite needs from a backend. */
export interface ContractTarget {
  /** Opens a new store with its own connections (one "process"), already `ready()`. */
  open(options?: StoreOptions): Promise<Store<unknown>>;
  /** How many live waiters (not granted) the store keeps queued for `name`. */
  queued(name: string): Promise<number>;
  /** Ends what `open` created (called after each test, once the stores are closed). */
  cleanup(): Promise<void>;
}

const run = Math.random().toString(36).slice(2, 8);
let counter = 0;
/** A name no other test (or run) uses. */
export function uniqueName(label: string): string {
  return `contract-${run}-${++counter}-${label}`;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits (bounded) until `check()` is true; the loop is bounded by `tries`. */
export async function until(check: () => boolean | Promise<boolean>, what: string, tries = 200): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await check()) return;
    await sleep(25);
  }
  throw new Error(`timed out waiting until ${what}`);
}

/** Runs the SPEC §6 contract against `target`. */
export function storeContract(label: string, target: ContractTarget): void {
  const opened: Store<unknown>[] = [];
  const open = async (options?: StoreOptions) => {
    const store = await target.open(options);
    opened.push(store);
    return store;
  };
  /** Resolves once `name` has `n` live waiters: the order of arrival is then fixed in the store. */
  const queuedTo = (name: string, n: number) =>
    until(async () => (await target.queued(name)) >= n, `${n} waiters are queued on ${name}`);

  afterEach(async () => {
    await Promise.allSettled(opened.splice(0).map((store) => store.close()));
    await target.cleanup();
  });

  describe(`${label}: mutex`, () => {
    it("stores `initial` on first use, loads the value with the lock, and writes it back on release", async () => {
      const [a, b] = [await open(), await open()];
      const name = uniqueName("rw");
      const guard = await a.mutex(name, { initial: { n: 1 } }).lock();
      expect(guard.value).toEqual({ n: 1 });
      guard.value.n = 2;
      await guard.release();
      expect(guard.released).toBe(true);
      // Another process opens it with another initial: the stored value wins.
      const other = await b.mutex(name, { initial: { n: 100 } }).lock();
      expect(other.value).toEqual({ n: 2 });
      await other.release();
    });

    it("is exclusive across stores: tryLock gives undefined while it is held, a guard once released", async () => {
      const [a, b] = [await open(), await open()];
      const name = uniqueName("excl");
      const held = await a.mutex(name, { initial: 0 }).lock();
      const other = b.mutex(name, { initial: 0 });
      expect(await other.tryLock()).toBeUndefined();
      await held.release();
      const guard = await other.tryLock();
      expect(guard).toBeDefined();
      await guard!.release();
    });

    it("a waiter is woken by the release (not by the lease's expiry)", async () => {
      // ttl 60 s: without a wake-up the waiter would sleep for ttl/3 = 20 s, past this test's timeout.
      const [a, b] = [await open({ ttl: 60_000 }), await open({ ttl: 60_000 })];
      const name = uniqueName("wake");
      const held = await a.mutex(name, { initial: 0 }).lock();
      const waiting = b.mutex(name, { initial: 0 }).lock();
      await queuedTo(name, 1);
      held.value = 7;
      await held.release();
      const guard = await waiting;
      expect(guard.value).toBe(7);
      await guard.release();
    }, 10_000);

    it("grants waiters in order of arrival across stores", async () => {
      const stores = [await open(), await open(), await open()];
      const name = uniqueName("fifo");
      const holder = await stores[0]!.mutex(name, { initial: [] as number[] }).lock();
      const order: number[] = [];
      const waiters: Promise<void>[] = [];
      for (let i = 0; i < 5; i++) {
        const lock = stores[(i % 2) + 1]!.mutex(name, { initial: [] as number[] });
        waiters.push(
          lock.withLock((guard) => {
            order.push(i);
            guard.value.push(i);
          }),
        );
        await queuedTo(name, i + 1); // arrival order is fixed before the next one starts
      }
      await holder.release();
      await Promise.all(waiters);
      expect(order).toEqual([0, 1, 2, 3, 4]);
      const check = await stores[0]!.mutex(name, { initial: [] as number[] }).lock();
      expect(check.value).toEqual([0, 1, 2, 3, 4]);
      await check.release();
    });

    it("tokens strictly increase over grants from every store", async () => {
      const stores = [await open(), await open()];
      const name = uniqueName("tokens");
      const tokens: bigint[] = [];
      for (let i = 0; i < 8; i++) {
        const lock = stores[i % 2]!.mutex(name, { initial: 0 });
        const guard = i % 3 === 0 ? await lock.tryLock() : await lock.lock();
        tokens.push(guard!.token);
        await (i % 2 === 0 ? guard!.release() : guard!.discard());
      }
      for (let i = 1; i < tokens.length; i++) expect(tokens[i]! > tokens[i - 1]!).toBe(true);
    });

    it("commit writes while keeping the lock; discard writes nothing; release writes only a change", async () => {
      const [a, b] = [await open(), await open()];
      const name = uniqueName("commit");
      const lock = a.mutex(name, { initial: "v0" });
      const guard = await lock.lock();
      guard.value = "v1";
      await guard.commit();
      expect(guard.held).toBe(true);
      expect(await b.mutex(name, { initial: "x" }).tryLock()).toBeUndefined();
      guard.value = "v2";
      await guard.discard();
      expect(() => guard.value).toThrow(UseAfterReleaseError);
      const again = await lock.lock();
      expect(again.value).toBe("v1");
      again.value = "v3";
      await again.release();
      await again.release(); // idempotent
      await expect(again.commit()).rejects.toBeInstanceOf(LockLostError);
      await expect(again.extend()).rejects.toBeInstanceOf(LockLostError);
      const last = await b.mutex(name, { initial: "x" }).lock();
      expect(last.value).toBe("v3");
      await last.release();
    });

    it("withLock commits on success and discards when the callback throws", async () => {
      const store = await open();
      const lock = store.mutex(uniqueName("with"), { initial: { n: 0 } });
      expect(await lock.withLock((g) => ++g.value.n)).toBe(1);
      const boom = new Error("boom");
      await expect(
        lock.withLock((g) => {
          g.value.n = 99;
          throw boom;
        }),
      ).rejects.toBe(boom);
      expect(await lock.withLock((g) => g.value.n)).toBe(1);
      expect(await lock.tryLock().then((g) => g?.release())).toBeUndefined();
    });

    it("withLock whose callback leaves a value JSON refuses rejects with TypeError and frees the lock", async () => {
      const [a, b] = [await open(), await open()];
      const name = uniqueName("with-bad-value");
      await expect(
        a.mutex<unknown>(name, { initial: 1 }).withLock((g) => {
          g.value = () => 2;
        }),
      ).rejects.toBeInstanceOf(TypeError);
      const guard = await b.mutex(name, { initial: 0 }).tryLock();
      expect(guard?.value).toBe(1);
      await guard!.release();
    });

    it("locks and guards refuse to be copied (structuredClone throws DataCloneError)", async () => {
      const store = await open();
      const lock = store.mutex(uniqueName("clone"), { initial: 0 });
      expect(() => structuredClone(lock)).toThrow(/cannot be copied/);
      const guard = await lock.lock();
      expect(() => structuredClone(guard)).toThrow(/cannot be copied/);
      await guard.release();
    });

    it("await using releases with the write-back", async () => {
      const store = await open();
      const lock = store.mutex(uniqueName("using"), { initial: 1 });
      {
        await using guard = await lock.lock();
        guard.value = 2;
      }
      expect(await lock.withLock((g) => g.value)).toBe(2);
    });

    it("extend renews now and keeps the lease past its first ttl; renewals keep it without extend", async () => {
      // commandTimeout well above the ttl: on a loaded machine a statement may take longer than a short ttl.
      const [a, b] = [await open({ ttl: 1_200, commandTimeout: 10_000 }), await open()];
      const name = uniqueName("renew");
      const guard = await a.mutex(name, { initial: 0 }).lock();
      await guard.extend(1_500);
      await sleep(3_000); // several renewals at ttl/3
      expect(guard.held).toBe(true);
      expect(guard.signal.aborted).toBe(false);
      expect(await b.mutex(name, { initial: 0 }).tryLock()).toBeUndefined();
      await guard.release();
    });

    it("without renewals the lease is lost at the deadline: signal aborts once, commit and write-back refused", async () => {
      const [a, b] = [await open({ ttl: 300, renew: false, commandTimeout: 10_000 }), await open()];
      const name = uniqueName("lost");
      const guard = await a.mutex(name, { initial: "kept" }).lock();
      const reasons: unknown[] = [];
      guard.signal.addEventListener("abort", () => reasons.push(guard.signal.reason));
      await until(() => guard.signal.aborted, "the guard's signal aborts");
      expect(guard.held).toBe(false);
      expect(reasons).toHaveLength(1);
      expect(reasons[0]).toBeInstanceOf(LockLostError);
      expect((reasons[0] as LockLostError).lockName).toBe(name);
      expect((reasons[0] as LockLostError).token).toBe(guard.token);
      await expect(guard.commit()).rejects.toBeInstanceOf(LockLostError);
      const contender = await b.mutex(name, { initial: "x" }).lock({ timeout: 5_000 });
      expect(contender.token > guard.token).toBe(true);
      contender.value = "contender";
      await contender.release();
      guard.value = "stale";
      await expect(guard.release()).rejects.toBeInstanceOf(LockLostError);
      expect(await b.mutex(name, { initial: "x" }).withLock((g) => g.value)).toBe("contender");
      expect(reasons).toHaveLength(1);
    });

    it("a lost guard with nothing to write releases quietly", async () => {
      const store = await open({ ttl: 200, renew: false, commandTimeout: 10_000 });
      const guard = await store.mutex(uniqueName("quiet"), { initial: 0 }).lock();
      await until(() => guard.signal.aborted, "the guard's signal aborts");
      await expect(guard.release()).resolves.toBeUndefined();
    });
  });

  describe(`${label}: rwLock`, () => {
    it("admits readers together, a writer alone; read guards carry the last exclusive token", async () => {
      const [a, b] = [await open(), await open()];
      const name = uniqueName("rw");
      const lockA = a.rwLock(name, { initial: { v: 1 } });
      const lockB = b.rwLock(name, { initial: { v: 1 } });
      const w = await lockA.write();
      w.value = { v: 2 };
      const writeToken = w.token;
      await w.release();
      const r1 = await lockA.read();
      const r2 = await lockB.read();
      expect(r1.value).toEqual({ v: 2 });
      expect(r1.token).toBe(writeToken);
      expect(r2.token).toBe(writeToken);
      expect(await lockB.tryWrite()).toBeUndefined();
      await r1.release();
      await r2.release();
      const w2 = await lockB.tryWrite();
      expect(w2!.token > writeToken).toBe(true);
      await w2!.release();
    });

    it("a queued writer blocks readers that arrive after it; tryRead does not jump it", async () => {
      const [a, b, c] = [await open(), await open(), await open()];
      const name = uniqueName("writer-first");
      const reader = await a.rwLock(name, { initial: 0 }).read();
      const order: string[] = [];
      const writer = b.rwLock(name, { initial: 0 }).withWrite((g) => {
        order.push("writer");
        g.value = 1;
      });
      await queuedTo(name, 1);
      expect(await c.rwLock(name, { initial: 0 }).tryRead()).toBeUndefined();
      const late = c.rwLock(name, { initial: 0 }).withRead((g) => {
        order.push(`reader saw ${g.value}`);
      });
      await queuedTo(name, 2);
      await reader.release();
      await Promise.all([writer, late]);
      expect(order).toEqual(["writer", "reader saw 1"]);
    });

    it("read guards cannot write: the value is not written back", async () => {
      const store = await open();
      const lock = store.rwLock(uniqueName("ro"), { initial: { v: 1 } });
      const r = await lock.read();
      (r.value as { v: number }).v = 5; // a type error without the cast: DeepReadonly
      await r.release();
      expect(await lock.withRead((g) => g.value.v)).toBe(1);
    });
  });

  describe(`${label}: semaphore`, () => {
    it("hands out permits up to the stored count; the first count wins", async () => {
      const [a, b] = [await open(), await open()];
      const name = uniqueName("sem");
      const semA = a.semaphore(name, 3);
      const p2 = await semA.acquire(2);
      expect(p2.permits).toBe(2);
      const semB = b.semaphore(name, 10); // the stored count (3) wins
      expect(await semB.tryAcquire(2)).toBeUndefined();
      await expect(semB.acquire(4)).rejects.toBeInstanceOf(RangeError);
      const p1 = await semB.tryAcquire(1);
      expect(p1).toBeDefined();
      await p1!.release();
      await p2.release();
      const all = await semB.tryAcquire(3);
      expect(all?.permits).toBe(3);
      await all!.release();
    });

    it("a large request at the head blocks later small ones, and try never jumps it", async () => {
      const [a, b, c] = [await open(), await open(), await open()];
      const name = uniqueName("sem-head");
      const held = await a.semaphore(name, 2).acquire(1);
      const big = b.semaphore(name, 2).acquire(2);
      await queuedTo(name, 1);
      expect(await c.semaphore(name, 2).tryAcquire(1)).toBeUndefined(); // one permit is free, but queued
      const small = c.semaphore(name, 2).acquire(1);
      await queuedTo(name, 2);
      await held.release();
      const bigPermit = await big;
      expect(bigPermit.permits).toBe(2);
      await bigPermit.release();
      await (await small).release();
    });

    it("withPermit releases in every case", async () => {
      const store = await open();
      const sem = store.semaphore(uniqueName("with-permit"), 1);
      await expect(sem.withPermit(() => Promise.reject(new Error("x")))).rejects.toThrow("x");
      expect(await sem.withPermit((p) => p.permits, { permits: 1 })).toBe(1);
      const p = await sem.tryAcquire();
      expect(p).toBeDefined();
      await p!.release();
    });
  });

  describe(`${label}: cancel safety`, () => {
    it("a timed-out acquire leaves the queue, then a tryLock finds the lock free once released", async () => {
      const [a, b, c] = [await open(), await open(), await open()];
      const name = uniqueName("timeout");
      const held = await a.mutex(name, { initial: 0 }).lock();
      await expect(b.mutex(name, { initial: 0 }).lock({ timeout: 300 })).rejects.toBeInstanceOf(TimeoutError);
      expect(await target.queued(name)).toBe(0);
      await held.release();
      const guard = await c.mutex(name, { initial: 0 }).tryLock();
      expect(guard).toBeDefined();
      await guard!.release();
    });

    it("an aborted acquire rejects with the signal's reason and leaves the queue", async () => {
      const [a, b] = [await open(), await open()];
      const name = uniqueName("abort");
      const held = await a.mutex(name, { initial: 0 }).lock();
      const controller = new AbortController();
      const waiting = b.mutex(name, { initial: 0 }).lock({ signal: controller.signal });
      await queuedTo(name, 1);
      const reason = new Error("stop");
      controller.abort(reason);
      await expect(waiting).rejects.toBe(reason);
      expect(await target.queued(name)).toBe(0);
      await held.release();
    });

    it("an already-aborted signal rejects without queueing, even when the lock is free", async () => {
      const store = await open();
      const reason = new Error("already");
      const lock = store.mutex(uniqueName("pre-aborted"), { initial: 0 });
      await expect(lock.lock({ signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
      await expect(lock.tryLock({ signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
      const guard = await lock.tryLock();
      expect(guard).toBeDefined();
      await guard!.release();
    });

    it("a grant that races with the abort is handed on, never left held", async () => {
      const [a, b, c] = [await open(), await open(), await open()];
      for (let round = 0; round < 5; round++) {
        const name = uniqueName(`race-${round}`);
        const held = await a.mutex(name, { initial: 0 }).lock();
        const controller = new AbortController();
        const waiting = b.mutex(name, { initial: 0 }).lock({ signal: controller.signal });
        // Handled from the start, like any promise whose rejection is expected: the store itself adds no
        // reaction to it (so async stack traces reach the caller), and the abort may reject it before
        // `released` settles.
        const outcome = waiting.then(
          (guard) => guard.release(),
          () => undefined,
        );
        await queuedTo(name, 1);
        const released = held.release();
        if (round % 2 === 0) controller.abort(new Error("late"));
        else setTimeout(() => controller.abort(new Error("late")), round);
        await released;
        expect(await outcome).toBeUndefined();
        const guard = await c.mutex(name, { initial: 0 }).lock({ timeout: 5_000 });
        await guard.release();
      }
    });
  });

  describe(`${label}: values and arguments`, () => {
    it("refuses values JSON cannot carry; a refused write-back keeps the lock until fixed or discarded", async () => {
      const [a, b] = [await open(), await open()];
      expect(() => a.mutex(uniqueName("bad-initial"), { initial: () => 1 })).toThrow(TypeError);
      expect(() => a.mutex(uniqueName("bad-initial"), { initial: 1n })).toThrow(TypeError);
      expect(() => a.mutex(uniqueName("bad-initial"), { initial: undefined })).toThrow(TypeError);
      const name = uniqueName("bad-value");
      const guard = await a.mutex<unknown>(name, { initial: 1 }).lock();
      guard.value = Symbol("no");
      await expect(guard.commit()).rejects.toBeInstanceOf(TypeError);
      await expect(guard.release()).rejects.toBeInstanceOf(TypeError);
      expect(guard.released).toBe(false);
      expect(await b.mutex(name, { initial: 1 }).tryLock()).toBeUndefined();
      guard.value = { fixed: true, lossy: new Date(0) };
      await guard.release();
      expect(await b.mutex(name, { initial: 1 }).withLock((g) => g.value)).toEqual({
        fixed: true,
        lossy: "1970-01-01T00:00:00.000Z",
      });
    });

    it("checks names, permits, options and kinds", async () => {
      const store = await open();
      // @ts-expect-error: a name is a string
      expect(() => store.mutex(1, { initial: 0 })).toThrow(TypeError);
      expect(() => store.mutex("", { initial: 0 })).toThrow(RangeError);
      expect(() => store.mutex("é".repeat(101), { initial: 0 })).toThrow(
        /Expected `name` to be a non-empty string of at most 200 UTF-8 bytes, got a string of 202 bytes/,
      );
      expect(() => store.mutex("é".repeat(100), { initial: 0 })).not.toThrow();
      expect(() => store.semaphore(uniqueName("s"), 0)).toThrow(RangeError);
      expect(() => store.semaphore(uniqueName("s"), 1.5)).toThrow(/Expected `permits` to be an integer from 1 to/);
      const name = uniqueName("kind");
      store.mutex(name, { initial: 0 });
      expect(() => store.rwLock(name, { initial: 0 })).toThrow(TypeError);
      const sem = store.semaphore(uniqueName("s"), 2);
      await expect(sem.acquire(3)).rejects.toBeInstanceOf(RangeError);
      const lock = store.mutex(uniqueName("opts"), { initial: 0 });
      await expect(lock.lock({ timeout: -1 })).rejects.toBeInstanceOf(RangeError);
      await expect(lock.lock({ ttl: 0 })).rejects.toThrow(
        /Expected `ttl` to be an integer from 1 to 2147483647, got 0/,
      );
      // @ts-expect-error: a signal is an AbortSignal
      await expect(lock.lock({ signal: {} })).rejects.toBeInstanceOf(TypeError);
      // @ts-expect-error: fn is a function
      await expect(lock.withLock(5)).rejects.toBeInstanceOf(TypeError);
      const guard = await lock.lock();
      await expect(guard.extend(-5)).rejects.toBeInstanceOf(RangeError);
      await guard.release();
    });

    it("opening a name as another kind than its first use (in another store) rejects with TypeError", async () => {
      const [a, b, c] = [await open(), await open(), await open()];
      const name = uniqueName("kind-across");
      await a.mutex(name, { initial: 0 }).withLock(() => {});
      await expect(b.rwLock(name, { initial: 0 }).read()).rejects.toThrow(/opened as a mutex/);
      await expect(c.semaphore(name, 1).tryAcquire()).rejects.toBeInstanceOf(TypeError);
    });
  });

  describe(`${label}: close()`, () => {
    it("rejects pending and later acquires with ClosedError, discards held guards, and is idempotent", async () => {
      const [a, b] = [await open(), await open()];
      const name = uniqueName("close");
      const held = await a.mutex(name, { initial: "before" }).lock();
      held.value = "never written";
      const otherHeld = await a.mutex(uniqueName("close-2"), { initial: 0 }).lock();
      const pendingLock = b.mutex(name, { initial: "x" });
      const pending = pendingLock.lock();
      await queuedTo(name, 1);
      const bClosed = b.close();
      await expect(pending).rejects.toBeInstanceOf(ClosedError);
      await bClosed;
      expect(await target.queued(name)).toBe(0);
      await expect(pendingLock.lock()).rejects.toBeInstanceOf(ClosedError);
      await expect(pendingLock.tryLock()).rejects.toBeInstanceOf(ClosedError);
      await a.close();
      await a.close();
      expect(held.released).toBe(true);
      expect(otherHeld.released).toBe(true);
      const c = await open();
      const after = await c.mutex(name, { initial: "x" }).tryLock();
      expect(after?.value).toBe("before");
      await after!.release();
    });
  });
}
