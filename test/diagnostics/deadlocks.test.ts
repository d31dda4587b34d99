/**
 * `deadlocks: true`: real deadlocks are refused with DeadlockError instead of hanging (SPEC §7).
 * Deterministic: tasks are stepped with flush()/poll(), no clocks.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  detach,
  disableDiagnostics,
  enableDiagnostics,
  type PotentialDeadlockReport,
} from "../../src/diagnostics/index.js";
import { DeadlockError, KeyedMutex, Mutex, Notify, RwLock, Semaphore, TimeoutError } from "../../src/index.js";
import { assertPending, flush, poll } from "../helpers/poll.js";

let potential: PotentialDeadlockReport[];

beforeEach(() => {
  potential = [];
  enableDiagnostics({ deadlocks: true, onPotentialDeadlock: (r) => potential.push(r) });
});
afterEach(() => {
  disableDiagnostics();
});

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection");
}

describe("self-deadlock inside a scope", () => {
  it("lock() of the mutex the scope holds rejects at once, naming the lock and where it was taken", async () => {
    const m = new Mutex(0, { name: "accounts" });
    const error = await rejection(m.withLock(() => m.lock()));
    expect(error).toBeInstanceOf(DeadlockError);
    expect((error as Error).message).toMatch(/^Deadlock: this task already holds accounts exclusively/);
    expect((error as Error).message).toContain("accounts was taken at:");
    expect((error as Error).message).toContain("deadlocks.test.ts");
    expect(m.isLocked).toBe(false); // the scope ended and released
  });

  it("a nested withLock of the same mutex rejects too, and the scope can go on", async () => {
    const m = new Mutex(1);
    const result = await m.withLock(async (g) => {
      const inner = await rejection(m.withLock(() => 0));
      expect(inner).toBeInstanceOf(DeadlockError);
      return g.value + 1;
    });
    expect(result).toBe(2);
    expect(m.isLocked).toBe(false);
  });

  it("write() under the scope's own read guard rejects", async () => {
    const rw = new RwLock(0, { name: "cfg" });
    const error = await rejection(rw.withRead(() => rw.write()));
    expect(error).toBeInstanceOf(DeadlockError);
    expect((error as Error).message).toContain("holds a read guard of cfg and now waits to write it");
    expect(rw.readers).toBe(0);
    expect(rw.isWriteLocked).toBe(false);
  });

  it("read() under the scope's own read guard waits normally, and rejects only behind a queued writer", async () => {
    const rw = new RwLock(0, { name: "cfg" });
    // No writer queued: the second read is granted at once.
    await rw.withRead(async () => {
      (await rw.read()).release();
    });
    const go = new Notify();
    const scope = rw.withRead(async () => {
      await go.notified();
      return rw.read();
    });
    await flush();
    const writer = rw.write().then((g) => g.release()); // another task, outside the scope
    await flush();
    go.notifyOne();
    const error = await rejection(scope);
    expect(error).toBeInstanceOf(DeadlockError);
    expect((error as Error).message).toContain("behind a queued writer");
    await writer;
    expect(rw.isWriteLocked).toBe(false);
  });

  it("KeyedMutex.withLock of a key the scope holds rejects; another key does not", async () => {
    const k = new KeyedMutex<string>({ name: "users" });
    const error = await rejection(k.withLock("alice", () => k.lock("alice")));
    expect(error).toBeInstanceOf(DeadlockError);
    expect((error as Error).message).toContain('users["alice"]');
    await k.withLock("alice", () => k.withLock("bob", () => undefined));
    expect(k.size).toBe(0);
  });

  it("is not reported for a semaphore (another task may add permits), nor for try-acquires", async () => {
    const s = new Semaphore(1);
    await s.withPermit(async () => {
      const more = s.acquire();
      await assertPending(more);
      s.addPermits(1);
      (await more).release();
    });
    const m = new Mutex(0);
    await m.withLock(() => {
      expect(m.tryLock()).toBeUndefined();
    });
  });

  it("an acquire with a timeout that would deadlock rejects with DeadlockError, not TimeoutError", async () => {
    const m = new Mutex(0);
    const error = await rejection(m.withLock(() => m.lock({ timeout: 60_000 })));
    expect(error).toBeInstanceOf(DeadlockError);
  });
});

describe("wait cycles between scopes", () => {
  it("refuses the wait that closes a cycle of two; the other scope completes", async () => {
    const a = new Mutex("a", { name: "A" });
    const b = new Mutex("b", { name: "B" });
    const go = new Notify();
    const t1 = a.withLock(async () => {
      await go.notified();
      return b.withLock(() => "t1 done");
    });
    const t2 = b.withLock(async () => {
      await go.notified();
      return a.withLock(() => "t2 done");
    });
    await flush();
    go.notifyOne(); // t1 now waits for B (held by t2): no cycle yet
    await flush();
    await assertPending(t1);
    go.notifyOne(); // t2 waits for A (held by t1, which waits for B held by t2): a cycle
    const r2 = await poll(t2);
    expect(r2.state).toBe("rejected");
    const error = (r2 as { reason: Error }).reason;
    expect(error).toBeInstanceOf(DeadlockError);
    expect(error.message).toContain("cycle of 2 waits");
    expect(error.message).toContain("A was taken at:");
    expect(error.message).toContain("B was taken at:");
    expect(await t1).toBe("t1 done");
    expect(a.isLocked || b.isLocked).toBe(false);
    // The same program also nested the two locks in both orders: that is reported as well.
    expect(potential.map((r) => r.locks.sort().join())).toEqual(["A,B"]);
  });

  it("refuses the wait that closes a cycle of three", async () => {
    const locks = [new Mutex(0, { name: "L0" }), new Mutex(0, { name: "L1" }), new Mutex(0, { name: "L2" })];
    const go = new Notify();
    const tasks = locks.map((lock, i) =>
      lock.withLock(async () => {
        await go.notified();
        return (locks[(i + 1) % 3] as Mutex<number>).withLock(() => i);
      }),
    );
    await flush();
    go.notifyOne();
    await flush();
    go.notifyOne();
    await flush();
    for (const t of tasks) await assertPending(t);
    go.notifyOne();
    const results = await Promise.allSettled(tasks);
    const rejected = results.filter((r) => r.status === "rejected");
    expect(rejected).toHaveLength(1);
    const reason = (rejected[0] as PromiseRejectedResult).reason as Error;
    expect(reason).toBeInstanceOf(DeadlockError);
    expect(reason.message).toContain("cycle of 3 waits");
    for (const name of ["L0", "L1", "L2"]) expect(reason.message).toContain(`${name} was taken at:`);
  });

  it("the refused waiter leaves the queue as on abort: the next waiter gets the lock", async () => {
    const a = new Mutex(0, { name: "A" });
    const b = new Mutex(0, { name: "B" });
    const go = new Notify();
    const t1 = a.withLock(async () => {
      await go.notified();
      return b.withLock(() => 1);
    });
    const t2 = b.withLock(async () => {
      await go.notified();
      return a.withLock(() => 2);
    });
    await flush();
    const bystander = a.lock(); // queued on A, before t2's wait
    go.notifyOne();
    await flush();
    go.notifyOne();
    await expect(t2).rejects.toBeInstanceOf(DeadlockError);
    expect(await t1).toBe(1);
    (await bystander).release();
    expect(a.isLocked).toBe(false);
  });

  it("a write waiting for a scope's read guard is an edge of the cycle", async () => {
    const rw = new RwLock(0, { name: "RW" });
    const m = new Mutex(0, { name: "M" });
    const go = new Notify();
    const reader = rw.withRead(async () => {
      await go.notified();
      return m.withLock(() => "reader done");
    });
    const writer = m.withLock(async () => {
      await go.notified();
      return rw.withWrite(() => "writer done");
    });
    await flush();
    go.notifyOne();
    await flush();
    go.notifyOne();
    const results = await Promise.allSettled([reader, writer]);
    expect(results.filter((r) => r.status === "rejected")).toHaveLength(1);
    expect(results.map((r) => (r.status === "rejected" ? (r.reason as Error).constructor : r.value))).toContain(
      DeadlockError,
    );
  });

  it("bare lock() guards are not tracked: no report, the waits just wait", async () => {
    const a = new Mutex(0);
    const b = new Mutex(0);
    const ga = await a.lock();
    const gb = await b.lock();
    const w1 = a.withLock(() => b.lock({ timeout: 1 }));
    const w2 = b.withLock(() => 0);
    await flush();
    await assertPending(w1);
    await assertPending(w2);
    ga.release();
    await expect(w1).rejects.toBeInstanceOf(TimeoutError);
    gb.release();
    await w2;
  });
});

describe("tasks started inside a scope", () => {
  it("a task that outlives its scope no longer holds the scope's lock", async () => {
    const m = new Mutex(0);
    let later: Promise<number> | undefined;
    await m.withLock(() => {
      later = (async () => {
        await new Promise((resolve) => setTimeout(resolve, 1));
        return m.withLock((g) => ++g.value);
      })();
    });
    expect(await later).toBe(1);
  });

  it("detach() runs a fire-and-forget task outside the scope, so it may wait for the scope's lock", async () => {
    const m = new Mutex(0);
    let background: Promise<number> | undefined;
    await m.withLock((g) => {
      background = detach(() => m.withLock((h) => ++h.value));
      g.value = 10;
    });
    expect(await background).toBe(11);
    expect(potential).toEqual([]);
  });
});

describe("off", () => {
  it("without deadlocks: true, a self-deadlock just waits (here until its timeout)", async () => {
    enableDiagnostics({ stats: true });
    const m = new Mutex(0);
    await expect(m.withLock(() => m.lock({ timeout: 1 }))).rejects.toBeInstanceOf(TimeoutError);
    disableDiagnostics();
    await expect(m.withLock(() => m.lock({ timeout: 1 }))).rejects.toBeInstanceOf(TimeoutError);
  });
});
