/**
 * The core's observer slot (src/internal/observer.ts): what every primitive tells an installed
 * observer, and that names are always on.
 */
import { afterEach, describe, expect, it } from "vitest";
import {
  Barrier,
  Cell,
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
import { type AsyncOp, installObserver, type Observable, type Observer } from "../../src/internal/observer.js";
import type { AcquireOptions } from "../../src/types.js";
import { flush, poll } from "../helpers/poll.js";

type Event = string;

/** Records every call as a short string; optionally intercepts `around` and `waiting`. */
function recorder(overrides: Partial<Observer> = {}): Observer & { events: Event[]; guards: Map<object, string> } {
  const events: Event[] = [];
  const guards = new Map<object, string>();
  let n = 0;
  const label = (guard: object): string => {
    let id = guards.get(guard);
    if (id === undefined) {
      id = `g${++n}`;
      guards.set(guard, id);
    }
    return id;
  };
  return {
    events,
    guards,
    around<R>(
      target: Observable,
      op: AsyncOp,
      options: AcquireOptions | undefined,
      run: (o: AcquireOptions | undefined) => Promise<R>,
      key?: unknown,
    ): Promise<R> {
      events.push(`around ${target.name} ${op}${key === undefined ? "" : ` ${String(key)}`}`);
      return run(options);
    },
    sync(target, op) {
      events.push(`sync ${target.name} ${op}`);
    },
    acquired(target, guard, mode, key) {
      events.push(`acquired ${target.name} ${label(guard)} ${mode}${key === undefined ? "" : ` ${String(key)}`}`);
    },
    released(target, guard) {
      events.push(`released ${target.name} ${label(guard)}`);
    },
    waiting(target, mode, queued, key) {
      events.push(`waiting ${target.name} ${mode} ${queued}${key === undefined ? "" : ` ${String(key)}`}`);
      return undefined;
    },
    waitEnded(_ticket, reason) {
      events.push(reason === undefined ? "granted" : `gave up: ${(reason as Error).message}`);
    },
    ...overrides,
  };
}

let uninstall: (() => void) | undefined;
afterEach(() => {
  uninstall?.();
  uninstall = undefined;
});

describe("names", () => {
  it("default to Kind#n, counted per kind, and take { name } on every constructor", () => {
    const a = new Mutex(0);
    const b = new Mutex(0);
    const na = Number(a.name.split("#")[1]);
    expect(a.name).toMatch(/^Mutex#\d+$/);
    expect(b.name).toBe(`Mutex#${na + 1}`);
    expect(new RwLock(0).name).toMatch(/^RwLock#\d+$/);
    expect(new Semaphore(1).name).toMatch(/^Semaphore#\d+$/);
    expect(new Notify().name).toMatch(/^Notify#\d+$/);
    expect(new Condvar().name).toMatch(/^Condvar#\d+$/);
    expect(new Barrier(2).name).toMatch(/^Barrier#\d+$/);
    expect(new OnceCell().name).toMatch(/^OnceCell#\d+$/);
    expect(new KeyedMutex().name).toMatch(/^KeyedMutex#\d+$/);
    expect(new Cell(0).name).toMatch(/^Cell#\d+$/);
    expect(new RefCell(0).name).toMatch(/^RefCell#\d+$/);

    expect(new Mutex(0, { name: "m" }).name).toBe("m");
    expect(new RwLock(0, { name: "r", maxReaders: 2 }).name).toBe("r");
    expect(new Semaphore(1, { name: "s" }).name).toBe("s");
    expect(new Notify({ name: "n" }).name).toBe("n");
    expect(new Condvar({ name: "c" }).name).toBe("c");
    expect(new Barrier(2, { name: "b" }).name).toBe("b");
    expect(new OnceCell(1, { name: "o" }).name).toBe("o");
    expect(OnceCell.empty<number>({ name: "e" }).name).toBe("e");
    expect(OnceCell.empty<number>({ name: "e" }).initialized).toBe(false);
    expect(new KeyedMutex({ name: "k" }).name).toBe("k");
    expect(new Cell(0, { name: "cell" }).name).toBe("cell");
    expect(new RefCell(0, { name: "rc", track: true }).name).toBe("rc");
  });

  it("is read-only", () => {
    const m = new Mutex(0, { name: "fixed" });
    expect(() => {
      (m as { name: string }).name = "other";
    }).toThrow(TypeError);
    expect(m.name).toBe("fixed");
  });

  it("rejects a name that is not a string with a TypeError naming the argument", () => {
    expect(() => new Mutex(0, { name: 3 as unknown as string })).toThrow(
      new TypeError("Expected `name` to be a string, got 3"),
    );
    expect(() => new Semaphore(1, { name: null as unknown as string })).toThrow(/Expected `name` to be a string/);
    expect(() => OnceCell.empty({ name: {} as unknown as string })).toThrow(/Expected `name` to be a string/);
  });

  it("appears in timeout, poison, closed and borrow messages", async () => {
    const m = new Mutex(0, { name: "accounts" });
    const held = await m.lock();
    await expect(m.lock({ timeout: 1 })).rejects.toThrow(new TimeoutError("Timed out after 1 ms waiting for accounts"));
    held.release();
    const p = new Mutex(0, { name: "p", poison: true });
    await expect(
      p.withLock(() => {
        throw new Error("x");
      }),
    ).rejects.toThrow("x");
    await expect(p.lock()).rejects.toThrow(/^p is poisoned/);
    const s = new Semaphore(0, { name: "pool" });
    s.close();
    expect(() => s.tryAcquire()).toThrow("pool is closed");
    const k = new KeyedMutex({ name: "users" });
    const alice = await k.lock("alice");
    await expect(k.lock("alice", { timeout: 1 })).rejects.toThrow('waiting for users["alice"]');
    alice.release();
    const rc = new RefCell(0, { name: "cfg" });
    const w = rc.borrowMut();
    expect(() => rc.borrow()).toThrow(/Cannot borrow cfg/);
    w.release();
    const n = new Notify({ name: "ready" });
    await expect(n.notified({ timeout: 1 })).rejects.toThrow("waiting for ready");
  });
});

describe("observer slot", () => {
  it("sees around, acquired, waiting and released for a contended Mutex, in order", async () => {
    const rec = recorder();
    uninstall = installObserver(rec);
    const m = new Mutex(0, { name: "m" });
    const first = await m.lock();
    const second = m.lock();
    expect(rec.events).toEqual(["around m lock", "acquired m g1 exclusive", "around m lock", "waiting m exclusive 1"]);
    first.release();
    const g2 = await second;
    expect(rec.events.slice(4)).toEqual(["released m g1", "granted", "acquired m g2 exclusive"]);
    expect(rec.guards.get(g2)).toBe("g2");
    g2.release();
    g2.release(); // idempotent: announced once
    expect(rec.events.slice(7)).toEqual(["released m g2"]);
    const g3 = await m.lock();
    await expect(m.lock({ timeout: 1 })).rejects.toThrow(TimeoutError);
    g3.release();
    expect(rec.events.slice(-3)).toEqual([
      "waiting m exclusive 1",
      "gave up: Timed out after 1 ms waiting for m",
      "released m g3",
    ]);
  });

  it("wraps with* forms around their inner acquire, and announces sync operations", async () => {
    const rec = recorder();
    uninstall = installObserver(rec);
    const m = new Mutex(0, { name: "m" });
    await m.withLock(() => undefined);
    expect(rec.events).toEqual(["around m withLock", "around m lock", "acquired m g1 exclusive", "released m g1"]);
    rec.events.length = 0;
    m.tryLock()?.release();
    const cell = new Cell(1, { name: "c" });
    cell.set(cell.get() + 1);
    const notify = new Notify({ name: "n" });
    notify.notifyOne();
    const sem = new Semaphore(0, { name: "s" });
    sem.addPermits(1);
    expect(rec.events).toEqual([
      "sync m tryLock",
      "acquired m g2 exclusive",
      "released m g2",
      "sync c get",
      "sync c set",
      "sync n notifyOne",
      "sync s addPermits",
    ]);
  });

  it("covers RwLock reads, writes, upgrades and downgrades", async () => {
    const rec = recorder();
    uninstall = installObserver(rec);
    const rw = new RwLock(0, { name: "rw" });
    const up = await rw.upgradableRead();
    const reader = await rw.read();
    const upgrading = up.upgrade();
    await flush();
    reader.release();
    const writer = await upgrading;
    const back = writer.downgrade();
    back.release();
    expect(rec.events).toEqual([
      "around rw upgradableRead",
      "acquired rw g1 upgradable",
      "around rw read",
      "acquired rw g2 shared",
      "around rw upgrade",
      "waiting rw exclusive 1",
      "released rw g2",
      "granted",
      "released rw g1",
      "acquired rw g3 exclusive",
      "sync rw downgrade",
      "released rw g3",
      "acquired rw g4 shared",
      "released rw g4",
    ]);
  });

  it("covers KeyedMutex keys, Semaphore permits, Condvar, Barrier, Notify and OnceCell", async () => {
    const rec = recorder();
    uninstall = installObserver(rec);
    const k = new KeyedMutex<string>({ name: "k" });
    (await k.lock("a")).release();
    const sem = new Semaphore(2, { name: "s" });
    (await sem.acquire(2)).release();
    const m = new Mutex(false, { name: "m" });
    const cv = new Condvar({ name: "cv" });
    const waiter = m.withLock((g) => cv.waitWhile(g, (v) => !v).then((g2) => g2.release()));
    await flush();
    await m.withLock((g) => {
      g.value = true;
      cv.notifyAll();
    });
    await waiter;
    const barrier = new Barrier(1, { name: "b" });
    await barrier.wait();
    const once = OnceCell.empty<number>({ name: "o" });
    await once.getOrInit(() => 1);
    expect(rec.events.filter((e) => e.startsWith("around"))).toEqual([
      "around k lock a",
      "around s acquire",
      "around m withLock",
      "around m lock",
      "around cv waitWhile",
      "around cv wait",
      "around m withLock",
      "around m lock",
      "around m lock", // the Condvar re-acquires the mutex
      "around b wait",
      "around o getOrInit",
    ]);
    expect(rec.events).toContain("acquired k g1 exclusive a");
    expect(rec.events).toContain("acquired s g2 permits");
    expect(rec.events).toContain("waiting cv event 1");
    expect(rec.events).toContain("sync cv notifyAll");
  });

  it("lets around rewrite the options (a signal of its own in place of a timeout)", async () => {
    const controller = new AbortController();
    const rec = recorder({
      around(_target, _op, options, run) {
        return run({ ...options, timeout: undefined, signal: controller.signal });
      },
    });
    uninstall = installObserver(rec);
    const m = new Mutex(0);
    const held = await m.lock();
    const waiting = m.lock({ timeout: 1 });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect((await poll(waiting)).state).toBe("pending"); // the timeout was replaced
    controller.abort(new Error("virtual timeout"));
    await expect(waiting).rejects.toThrow("virtual timeout");
    expect(m.isLocked).toBe(true);
    held.release();
    expect(m.isLocked).toBe(false);
  });

  it("lets waiting refuse a wait: the waiter leaves the queue as on abort", async () => {
    const refusal = new Error("refused");
    const rec = recorder({ waiting: () => refusal });
    const ended: unknown[] = [];
    rec.waitEnded = (_ticket, reason) => ended.push(reason);
    uninstall = installObserver(rec);
    const m = new Mutex(0);
    const held = await m.lock();
    await expect(m.lock()).rejects.toBe(refusal);
    held.release();
    expect(m.isLocked).toBe(false);
    const sem = new Semaphore(1);
    const permit = await sem.acquire();
    await expect(sem.acquire(1, { timeout: 10_000 })).rejects.toBe(refusal);
    permit.release();
    expect(sem.available).toBe(1);
    expect(ended).toEqual([refusal, refusal]);
  });

  it("composes two observers, the first installed outermost, and uninstalls cleanly", async () => {
    const order: string[] = [];
    const make = (id: string): Observer =>
      recorder({
        around(_t, _op, options, run) {
          order.push(`${id} before`);
          return run(options).finally(() => order.push(`${id} after`));
        },
      });
    const a = make("a");
    const b = make("b");
    const offA = installObserver(a);
    const offB = installObserver(b);
    expect(() => installObserver(a)).toThrow(/already installed/);
    await new Mutex(0).lock().then((g) => g.release());
    expect(order).toEqual(["a before", "b before", "b after", "a after"]);
    offA();
    offA();
    order.length = 0;
    await new Mutex(0).lock().then((g) => g.release());
    expect(order).toEqual(["b before", "b after"]);
    offB();
    order.length = 0;
    await new Mutex(0).lock().then((g) => g.release());
    expect(order).toEqual([]);
  });
});
