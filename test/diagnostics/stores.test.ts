/**
 * Distributed locks (src/store, behind lockbox/postgres and lockbox/redis) and lockbox/diagnostics
 * (SPEC §7): names in their errors; waits, grants and releases reported to the observer, so that
 * statistics, traces, `diagnostics_channel` events and long-wait reports cover them. No deadlock or
 * lock-order reports: a distributed lock's holder may be another process (documented as out of scope).
 *
 * Most tests run the store core over a small FIFO backend in memory (deterministic, no server); the
 * last one runs `RedisStore` on the real Redis of the test setup.
 */
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { afterEach, describe, expect, it } from "vitest";
import {
  disableDiagnostics,
  enableDiagnostics,
  formatLockStats,
  type LongWaitReport,
  lockStats,
  takeTrace,
} from "../../src/diagnostics/index.js";
import { ClosedError, LockLostError, Mutex, TimeoutError } from "../../src/index.js";
import { installObserver, type Observer } from "../../src/internal/observer.js";
import { RedisStore } from "../../src/redis/index.js";
import type {
  AcquireRequest,
  AcquireResult,
  LeaseRef,
  StoreBackend,
  TryAcquireResult,
  WakeHandlers,
} from "../../src/store/backend.js";
import { Store } from "../../src/store/index.js";
import { flush } from "../helpers/poll.js";
import { deleteKeys, ioredisClient, uniquePrefix } from "../redis/helpers.js";

interface Entry {
  id: bigint;
  permits: number;
  exclusive: boolean;
  granted: boolean;
}

interface Lock {
  capacity: number;
  token: bigint;
  value: string | null;
  /** Grants and waiters in order of arrival. */
  entries: Entry[];
}

/**
 * A FIFO store in memory with the backend contract's semantics, without leases running out (nothing
 * here expires): a grant pass grants queued entries in order while they fit and stops at the first
 * that does not; releases and leaves wake the name's waiters.
 */
class MemoryBackend implements StoreBackend {
  /** One per store over this backend (two stores over one backend: two processes). */
  readonly #handlers: WakeHandlers[] = [];
  #seq = 0n;
  readonly locks = new Map<string, Lock>();
  leaves = 0;
  renewOk = true;

  async ready(): Promise<void> {}
  subscribe(handlers: WakeHandlers): void {
    this.#handlers.push(handlers);
  }
  async close(): Promise<void> {}

  #lock(request: AcquireRequest): Lock {
    let lock = this.locks.get(request.name);
    if (lock === undefined) {
      lock = { capacity: request.capacity, token: 0n, value: request.initial, entries: [] };
      this.locks.set(request.name, lock);
    }
    return lock;
  }

  #grantPass(lock: Lock): void {
    let used = 0;
    let exclusiveHeld = false;
    for (const e of lock.entries) if (e.granted) e.exclusive ? (exclusiveHeld = true) : (used += e.permits);
    for (const e of lock.entries) {
      if (e.granted) continue;
      const fits = e.exclusive ? !exclusiveHeld && used === 0 : !exclusiveHeld && used + e.permits <= lock.capacity;
      if (!fits) return;
      e.granted = true;
      if (e.exclusive) {
        exclusiveHeld = true;
        lock.token++;
      } else used += e.permits;
    }
  }

  #answer(lock: Lock, entry: Entry): AcquireResult {
    return entry.granted
      ? { status: "granted", id: entry.id, token: lock.token, value: lock.value }
      : { status: "queued", id: entry.id, waitMs: 60_000 };
  }

  async acquire(request: AcquireRequest, queuedId: bigint | undefined): Promise<AcquireResult> {
    const lock = this.#lock(request);
    let entry = lock.entries.find((e) => e.id === queuedId);
    if (entry === undefined) {
      entry = { id: ++this.#seq, permits: request.permits, exclusive: request.exclusive, granted: false };
      lock.entries.push(entry);
      this.#grantPass(lock);
    }
    return this.#answer(lock, entry);
  }

  async tryAcquire(request: AcquireRequest): Promise<TryAcquireResult> {
    const lock = this.#lock(request);
    if (lock.entries.some((e) => !e.granted)) return { status: "busy" };
    const entry = { id: ++this.#seq, permits: request.permits, exclusive: request.exclusive, granted: false };
    lock.entries.push(entry);
    this.#grantPass(lock);
    if (entry.granted) return this.#answer(lock, entry) as TryAcquireResult;
    lock.entries.pop();
    return { status: "busy" };
  }

  async commit(lease: LeaseRef, value: string): Promise<boolean> {
    const lock = this.locks.get(lease.name);
    if (lock === undefined || !lock.entries.some((e) => e.id === lease.id && e.granted)) return false;
    lock.value = value;
    return true;
  }

  async release(lease: LeaseRef, value: string | undefined): Promise<boolean> {
    const lock = this.locks.get(lease.name);
    const at = lock?.entries.findIndex((e) => e.id === lease.id && e.granted) ?? -1;
    if (lock === undefined || at < 0) return false;
    if (value !== undefined) lock.value = value;
    lock.entries.splice(at, 1);
    this.#grantPass(lock);
    for (const h of this.#handlers) h.onWake(lease.name);
    return true;
  }

  async extend(): Promise<boolean> {
    return this.renewOk;
  }

  async leave(name: string, id: bigint): Promise<void> {
    this.leaves++;
    const lock = this.locks.get(name);
    if (lock === undefined) return;
    lock.entries = lock.entries.filter((e) => e.id !== id);
    this.#grantPass(lock);
    for (const h of this.#handlers) h.onWake(name);
  }
}

class MemoryStore extends Store {
  constructor(readonly backend = new MemoryBackend()) {
    super(backend, { ttl: 30_000 });
  }
}

const stores: Store[] = [];
function openStore(backend?: MemoryBackend): MemoryStore {
  const store = new MemoryStore(backend);
  stores.push(store);
  return store;
}

afterEach(async () => {
  disableDiagnostics();
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

/** Polls (letting timers and I/O run) until `check` holds; fails after about 5 s. */
async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (check()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`timed out waiting until ${what}`);
}

describe("distributed locks: names in errors", () => {
  it("TimeoutError and ClosedError name the lock; LockLostError carries lockName", async () => {
    const store = openStore();
    const orders = store.mutex("orders", { initial: 0 });
    const guard = await orders.lock();
    const timedOut = await orders.lock({ timeout: 20 }).catch((error: unknown) => error);
    expect(timedOut).toBeInstanceOf(TimeoutError);
    expect((timedOut as Error).message).toBe("Timed out after 20 ms waiting for orders");

    const pending = orders.lock().catch((error: unknown) => error);
    await flush();
    await store.close();
    const closedWhileWaiting = await pending;
    expect(closedWhileWaiting).toBeInstanceOf(ClosedError);
    expect((closedWhileWaiting as Error).message).toBe("The store was closed while waiting for orders");
    const closed = await orders.lock().catch((error: unknown) => error);
    expect(closed).toBeInstanceOf(ClosedError);
    expect((closed as Error).message).toBe("The store is closed: cannot acquire orders");
    expect(guard.released).toBe(true); // close() discarded it

    const other = openStore();
    other.backend.renewOk = false;
    const held = await other.semaphore("slots", 2).acquire();
    const lost = await held.extend().catch((error: unknown) => error);
    expect(lost).toBeInstanceOf(LockLostError);
    expect((lost as LockLostError).lockName).toBe("slots");
    expect((lost as Error).message).toContain('"slots"');
  });
});

describe("distributed locks: statistics", () => {
  it("count acquisitions, contended waits, timeouts and the local queue, per lock and kind", async () => {
    enableDiagnostics({ stats: true });
    const store = openStore();
    const orders = store.mutex("orders", { initial: 0 });
    const config = store.rwLock("config", { initial: { mode: "a" } });
    const slots = store.semaphore("slots", 2);

    await orders.withLock((g) => {
      g.value += 1;
    });
    const holder = await orders.lock();
    const w1 = orders.lock();
    const w2 = orders.lock();
    await until(() => store.backend.locks.get("orders")?.entries.length === 3, "both waiters queued");
    await flush(); // the store hears that they queued
    expect(await orders.tryLock()).toBeUndefined(); // busy: not an acquisition
    await expect(orders.lock({ timeout: 10 })).rejects.toThrow(TimeoutError);
    await holder.release();
    const g1 = await w1;
    await g1.release();
    await (await w2).release();

    const reads = [await config.read(), await config.read()];
    for (const r of reads) await r.release();
    await (await config.write()).release();
    const p = await slots.acquire(2);
    const waiting = slots.acquire(1);
    await until(() => store.backend.locks.get("slots")?.entries.length === 2, "the permit waiter queued");
    await flush();
    await p.release();
    await (await waiting).release();

    const stats = lockStats();
    const byName = new Map(stats.map((s) => [s.name, s]));
    expect(byName.get("orders")).toMatchObject({
      kind: "DistributedMutex",
      acquisitions: 4,
      contended: 2,
      timeouts: 1,
      aborts: 0,
      maxQueue: 3, // w1, w2 and the one that timed out, all in this process
    });
    expect(byName.get("config")).toMatchObject({ kind: "DistributedRwLock", acquisitions: 3, contended: 0 });
    expect(byName.get("slots")).toMatchObject({ kind: "DistributedSemaphore", acquisitions: 2, contended: 1 });
    const orderStats = byName.get("orders");
    expect(orderStats?.holdMs.max).toBeGreaterThanOrEqual(0);
    expect(orderStats?.waitMs.max).toBeGreaterThan(0);
    expect(formatLockStats()).toMatch(/orders\s+DistributedMutex\s+4\s+2\s+1\s+0\s+3/);
  });

  it("a guard acquired before diagnostics were enabled is ignored; a second release() is not counted", async () => {
    const store = openStore();
    const orders = store.mutex("orders", { initial: 0 });
    const early = await orders.lock();
    enableDiagnostics({ stats: true });
    await early.release(); // never seen acquired: ignored
    const g = await orders.lock();
    await g.release();
    await g.release(); // idempotent: one release
    expect(lockStats()).toMatchObject([{ name: "orders", acquisitions: 1 }]);
  });
});

describe("distributed locks: traces and diagnostics_channel", () => {
  it("wait and hold spans name the lock; lockbox:wait/acquire/release events carry it", async () => {
    const events: { channel: string; lock: string; kind: string }[] = [];
    const listeners = ["lockbox:wait", "lockbox:acquire", "lockbox:release"].map((channel) => {
      const listener = (message: unknown) => {
        const { lock, kind } = message as { lock: string; kind: string };
        events.push({ channel, lock, kind });
      };
      subscribe(channel, listener);
      return [channel, listener] as const;
    });
    try {
      enableDiagnostics({ trace: true });
      const store = openStore();
      const orders = store.mutex("orders", { initial: 0 });
      const holder = await orders.lock();
      const waiter = orders.lock();
      await until(() => store.backend.locks.get("orders")?.entries.length === 2, "the waiter queued");
      await flush(); // the store hears that it queued (no I/O here: promise hops and timers only)
      await holder.release();
      await (await waiter).release();
      const { traceEvents } = takeTrace();
      const spans = traceEvents.filter((e) => e.args?.lock === "orders").map((e) => e.name);
      expect(spans.filter((n) => n === "hold orders")).toHaveLength(2);
      expect(spans.filter((n) => n === "wait orders")).toHaveLength(1);
      const wait = traceEvents.find((e) => e.name === "wait orders");
      expect(wait?.args).toMatchObject({ lock: "orders", mode: "exclusive", outcome: "granted" });
      expect(wait?.ph).toBe("X");
      expect(events).toEqual([
        { channel: "lockbox:acquire", lock: "orders", kind: "DistributedMutex" },
        { channel: "lockbox:wait", lock: "orders", kind: "DistributedMutex" },
        { channel: "lockbox:release", lock: "orders", kind: "DistributedMutex" },
        { channel: "lockbox:acquire", lock: "orders", kind: "DistributedMutex" },
        { channel: "lockbox:release", lock: "orders", kind: "DistributedMutex" },
      ]);
    } finally {
      for (const [channel, listener] of listeners) unsubscribe(channel, listener);
    }
  });
});

describe("distributed locks: long waits", () => {
  it("report the waiter and this process's holders of the lock", async () => {
    const reports: LongWaitReport[] = [];
    enableDiagnostics({ longWait: 30, onLongWait: (r) => reports.push(r) });
    const store = openStore();
    const orders = store.mutex("orders", { initial: 0 });
    const holder = await orders.lock();
    const waiter = orders.lock();
    await until(() => reports.length > 0, "a long-wait report");
    const [report] = reports as [LongWaitReport];
    expect(report.lock).toBe("orders");
    expect(report.message).toMatch(/^Long wait: waiting for orders for \d+ ms \(longWait: 30 ms\)/);
    expect(report.holders).toHaveLength(1);
    expect(report.holders[0]?.stack).toContain("stores.test.ts");
    await holder.release();
    await (await waiter).release();
    expect(reports).toHaveLength(1);
  });

  it("a holder in another process is not known here, and the report says so", async () => {
    const reports: LongWaitReport[] = [];
    enableDiagnostics({ longWait: 30, onLongWait: (r) => reports.push(r) });
    const other = openStore(); // another process, on the same store
    const here = openStore(other.backend);
    const holder = await other.mutex("orders", { initial: 0 }).lock();
    const waiter = here.mutex("orders", { initial: 0 }).lock();
    await until(() => reports.length > 0, "a long-wait report");
    expect(reports[0]?.holders).toEqual([]);
    expect(reports[0]?.message).toContain("no holder in this process (another process holds the lock");
    await holder.release();
    await (await waiter).release();
  });
});

describe("distributed locks and deadlock checks", () => {
  it("never cause deadlock or lock-order reports (their holders may be other processes)", async () => {
    const potential: unknown[] = [];
    enableDiagnostics({ deadlocks: "strict", onPotentialDeadlock: (r) => potential.push(r) });
    const store = openStore();
    const a = new Mutex(0, { name: "local" });
    const d = store.mutex("remote", { initial: 0 });
    // Both orders, one after the other: an inversion lockdep would report for two in-process locks.
    await a.withLock(() => d.withLock(() => {}));
    await d.withLock(() => a.withLock(() => {}));
    expect(potential).toEqual([]);
  });

  it("an observer that refuses a distributed wait: the acquire rejects with its error and leaves the queue", async () => {
    const refusal = new Error("refused by the observer");
    const seen: string[] = [];
    const observer: Observer = {
      around: (_t, _op, options, run) => run(options),
      sync: (target, op) => seen.push(`sync ${target.name} ${op}`),
      acquired: (target, _guard, mode) => seen.push(`acquired ${target.name} ${mode}`),
      released: (target) => seen.push(`released ${target.name}`),
      waiting: (target, mode, queued) => {
        seen.push(`waiting ${target.name} ${mode} ${queued}`);
        return refusal;
      },
      waitEnded: (_ticket, reason) => seen.push(`waitEnded ${reason === refusal ? "refusal" : String(reason)}`),
    };
    const uninstall = installObserver(observer);
    try {
      const store = openStore();
      const config = store.rwLock("config", { initial: 0 });
      const writer = await config.write();
      await expect(config.read()).rejects.toBe(refusal);
      expect(store.backend.leaves).toBe(1);
      expect(store.backend.locks.get("config")?.entries).toHaveLength(1); // only the writer's grant
      expect(await config.tryRead()).toBeUndefined();
      await writer.release();
      expect(seen).toEqual([
        "acquired config exclusive",
        "waiting config shared 1",
        "waitEnded refusal",
        "sync config tryRead",
        "released config",
      ]);
    } finally {
      uninstall();
    }
  });
});

describe("RedisStore (real Redis) and diagnostics", () => {
  it("two stores on one name: the waiting one's statistics and trace name the lock", async () => {
    const prefix = uniquePrefix("diag");
    const clients = [await ioredisClient(), await ioredisClient()];
    const [one, two] = clients.map((client) => new RedisStore({ client, prefix, ttl: 5_000 })) as [
      RedisStore,
      RedisStore,
    ];
    try {
      enableDiagnostics({ stats: true, trace: true });
      const a = one.mutex("jobs", { initial: 0 });
      const b = two.mutex("jobs", { initial: 0 });
      const holder = await a.lock();
      const waiter = b.lock({ timeout: 5_000 });
      await until(waitingSeen, "the second store's wait");
      await holder.release();
      await (await waiter).release();
      const jobs = lockStats().filter((s) => s.name === "jobs");
      // One entry per lock object (one per store): the second store's acquisition waited.
      expect(jobs.map((s) => [s.kind, s.acquisitions, s.contended]).sort()).toEqual([
        ["DistributedMutex", 1, 0],
        ["DistributedMutex", 1, 1],
      ]);
      const names = takeTrace().traceEvents.map((e) => e.name);
      expect(names).toContain("wait jobs");
      expect(names.filter((n) => n === "hold jobs")).toHaveLength(2);
    } finally {
      await one.close();
      await two.close();
      await deleteKeys(clients[0] as never, prefix);
      for (const c of clients) c.disconnect();
    }
  });
});

/** Whether the waiting store has queued (seen through maxQueue, without consuming the trace). */
function waitingSeen(): boolean {
  return lockStats().some((s) => s.name === "jobs" && s.maxQueue > 0);
}
