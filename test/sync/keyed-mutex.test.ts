import fc from "fast-check";
import { afterEach, describe, expect, it, vi } from "vitest";
import { TimeoutError, UseAfterReleaseError } from "../../src/errors.js";
import { compareKeys, KeyedMutex, type KeyedMutexGuard } from "../../src/sync/keyed-mutex.js";
import { assertPending, assertReady, assertRejected, flush, poll } from "../helpers/poll.js";
import { stress } from "../helpers/stress.js";

afterEach(() => {
  vi.useRealTimers();
});

describe("KeyedMutex", () => {
  it("excludes per key, not across keys", async () => {
    const locks = new KeyedMutex<string>();
    const a = await assertReady(locks.lock("a"));
    const b = await assertReady(locks.lock("b"));
    expect(a.value).toBe("a");
    expect(locks.isLocked("a")).toBe(true);
    expect(locks.isLocked("c")).toBe(false);
    const a2 = locks.lock("a");
    await assertPending(a2);
    expect(locks.tryLock("a")).toBeUndefined();
    a.release();
    const a2Guard = await assertReady(a2);
    a2Guard.release();
    b.release();
    expect(locks.size).toBe(0);
  });

  it("is FIFO per key, and tryLock does not jump the queue", async () => {
    const locks = new KeyedMutex<number>();
    const order: number[] = [];
    const first = await locks.lock(1);
    const waiters = [0, 1, 2].map((i) =>
      locks.lock(1).then((g) => {
        order.push(i);
        return g;
      }),
    );
    await flush();
    first.release();
    expect(locks.tryLock(1)).toBeUndefined();
    for (const waiter of waiters) (await waiter).release();
    expect(order).toEqual([0, 1, 2]);
    expect(locks.size).toBe(0);
  });

  it("size counts keys with a holder or a waiter, and an idle key holds no entry", async () => {
    const locks = new KeyedMutex<string>();
    const a = await locks.lock("a");
    const waiter = locks.lock("a");
    const b = locks.tryLock("b")!;
    expect(locks.size).toBe(2);
    a.release();
    expect(locks.size).toBe(2); // "a" was handed to the waiter
    (await waiter).release();
    expect(locks.size).toBe(1);
    b.release();
    expect(locks.size).toBe(0);
  });

  it("an aborted waiter leaves the queue; the entry goes when the holder releases", async () => {
    const locks = new KeyedMutex<string>();
    const holder = await locks.lock("k");
    const controller = new AbortController();
    const waiter = locks.lock("k", { signal: controller.signal });
    controller.abort("gone");
    expect(await assertRejected(waiter)).toBe("gone");
    expect(locks.size).toBe(1);
    holder.release();
    expect(locks.size).toBe(0);
    expect(locks.isLocked("k")).toBe(false);
  });

  it("a grant that races with the abort is handed on to the next waiter", async () => {
    const locks = new KeyedMutex<string>();
    const holder = await locks.lock("k");
    const controller = new AbortController();
    const racing = locks.lock("k", { signal: controller.signal });
    const next = locks.lock("k");
    holder.release(); // grants to `racing`…
    controller.abort(new Error("late abort")); // …which aborts before it resumes
    expect(await assertRejected(racing)).toEqual(new Error("late abort"));
    (await assertReady(next)).release();
    expect(locks.size).toBe(0);
  });

  it("times out with TimeoutError and leaves no timer behind", async () => {
    vi.useFakeTimers();
    const locks = new KeyedMutex<string>();
    const holder = await locks.lock("k");
    const waiter = locks.lock("k", { timeout: 20 });
    vi.advanceTimersByTime(20);
    expect(await assertRejected(waiter)).toBeInstanceOf(TimeoutError);
    expect(vi.getTimerCount()).toBe(0);
    holder.release();
    expect(locks.size).toBe(0);
  });

  it("an already-aborted signal rejects even when the key is free", async () => {
    const locks = new KeyedMutex<string>();
    await assertRejected(locks.lock("k", { signal: AbortSignal.abort() }));
    await assertRejected(locks.lockMany(["k"], { signal: AbortSignal.abort() }));
    expect(locks.size).toBe(0);
  });

  it("guards are read-only, idempotent to release, and throw after release", async () => {
    const locks = new KeyedMutex<string>();
    const guard = await locks.lock("k");
    expect(() => {
      (guard as unknown as { value: string }).value = "x";
    }).toThrow(TypeError);
    guard.release();
    guard.release();
    expect(guard.released).toBe(true);
    expect(() => guard.value).toThrow(UseAfterReleaseError);
    expect(locks.size).toBe(0);
    {
      using scoped = locks.tryLock("k")!;
      expect(locks.isLocked(scoped.value)).toBe(true);
    }
    expect(locks.size).toBe(0);
  });

  it("withLock releases in every case", async () => {
    const locks = new KeyedMutex<string>();
    expect(await locks.withLock("k", (g) => g.value.toUpperCase())).toBe("K");
    const boom = new Error("boom");
    await expect(
      locks.withLock("k", () => {
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(locks.size).toBe(0);
    await expect(locks.withLock("k", 1 as never)).rejects.toThrow(TypeError);
  });

  it("compares keys like Map: 1 and '1' differ, NaN equals NaN, objects by identity", async () => {
    const locks = new KeyedMutex<unknown>();
    const one = locks.tryLock(1)!;
    expect(locks.tryLock("1")).toBeDefined();
    const nan = locks.tryLock(Number.NaN)!;
    expect(locks.tryLock(Number.NaN)).toBeUndefined();
    const object = {};
    const held = locks.tryLock(object)!;
    expect(locks.tryLock({})).toBeDefined();
    expect(locks.tryLock(object)).toBeUndefined();
    for (const g of [one, nan, held]) g.release();
  });

  it("lockMany takes every key (deduplicated, canonical order) under one guard", async () => {
    const locks = new KeyedMutex<string | number>();
    const guard = await assertReady(locks.lockMany(["b", 2, "a", "b", 1]));
    expect(guard.value).toEqual([1, 2, "a", "b"]);
    expect(Object.isFrozen(guard.value)).toBe(true);
    for (const key of [1, 2, "a", "b"]) expect(locks.isLocked(key)).toBe(true);
    expect(locks.size).toBe(4);
    guard.release();
    expect(locks.size).toBe(0);
    expect(await assertReady(locks.lockMany([]))).toBeDefined();
  });

  it("regression: two lockMany callers with overlapping keys in opposite orders both complete", async () => {
    const locks = new KeyedMutex<string>();
    // A third task holds the middle keys, so each caller stops part-way with some keys taken. Taken in
    // the order given, x would hold "a" and wait for "b"/"c" while y holds "d" and "c" and waits for
    // "b": a deadlock. In canonical order both go a → b → c → d.
    const blocker = await locks.lockMany(["b", "c"]);
    const x = locks.lockMany(["a", "b", "c", "d"]);
    const y = locks.lockMany(["d", "c", "b", "a"]);
    await assertPending(x);
    await assertPending(y);
    blocker.release();
    const xGuard = await assertReady(x);
    expect(xGuard.value).toEqual(["a", "b", "c", "d"]);
    await assertPending(y);
    xGuard.release();
    const yGuard = await assertReady(y);
    expect(yGuard.value).toEqual(["a", "b", "c", "d"]);
    yGuard.release();
    expect(locks.size).toBe(0);
  });

  it("lockMany with object keys in opposite orders also completes", async () => {
    const locks = new KeyedMutex<object>();
    const a = {};
    const b = {};
    const c = {};
    const held = await locks.lock(b); // both callers will have to wait part-way
    const x = locks.lockMany([a, b, c]);
    const y = locks.lockMany([c, b, a]);
    await assertPending(x);
    await assertPending(y);
    held.release();
    (await assertReady(x)).release();
    (await assertReady(y)).release();
    expect(locks.size).toBe(0);
  });

  it("a lockMany that is aborted part-way releases the keys it had taken", async () => {
    const locks = new KeyedMutex<number>();
    const blocker = await locks.lock(3);
    const controller = new AbortController();
    const many = locks.lockMany([1, 2, 3, 4], { signal: controller.signal });
    await flush();
    expect(locks.isLocked(1)).toBe(true);
    expect(locks.isLocked(2)).toBe(true);
    expect(locks.isLocked(4)).toBe(false);
    controller.abort("stop");
    expect(await assertRejected(many)).toBe("stop");
    expect(locks.isLocked(1)).toBe(false);
    expect(locks.isLocked(2)).toBe(false);
    expect(locks.size).toBe(1);
    blocker.release();
    expect(locks.size).toBe(0);
  });

  it("regression: lockMany honours an abort that lands while it resumes between two busy keys", async () => {
    const locks = new KeyedMutex<number>();
    const holder1 = await locks.lock(1);
    const holder2 = await locks.lock(2);
    const controller = new AbortController();
    const many = locks.lockMany([1, 2], { signal: controller.signal });
    await flush();
    holder1.release(); // grants key 1 to lockMany...
    controller.abort("stop"); // ...and aborts before it resumes to queue for key 2
    expect(await assertRejected(many)).toBe("stop");
    expect(locks.isLocked(1)).toBe(false);
    holder2.release();
    expect(locks.size).toBe(0);
  });

  it("lockMany's timeout bounds the whole call and clears its timer", async () => {
    vi.useFakeTimers();
    const locks = new KeyedMutex<number>();
    const g1 = await locks.lock(1);
    const g2 = await locks.lock(2);
    const many = locks.lockMany([1, 2], { timeout: 100 });
    vi.advanceTimersByTime(60);
    g1.release(); // lockMany takes key 1 and waits for key 2 within the same 100 ms
    await flush();
    expect(locks.isLocked(1)).toBe(true);
    vi.advanceTimersByTime(40);
    expect(await assertRejected(many)).toBeInstanceOf(TimeoutError);
    expect(locks.isLocked(1)).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
    g2.release();
    expect(locks.size).toBe(0);

    const fast = locks.lockMany([1, 2], { timeout: 100 });
    (await assertReady(fast)).release();
    expect(vi.getTimerCount()).toBe(0);
  });

  it("lockMany rejects a non-iterable with TypeError", async () => {
    const locks = new KeyedMutex<number>();
    await expect(locks.lockMany(5 as never)).rejects.toThrow(/Expected `keys` to be an iterable/);
    await expect(locks.lockMany(null as never)).rejects.toThrow(TypeError);
  });

  it("canonical order is total and type-ordered", () => {
    const a = {};
    const b = () => {};
    const keys: unknown[] = ["b", 2, 1n, Number.NaN, true, undefined, null, a, b, Symbol.for("z"), -1, "a", false];
    const sorted = [...keys].sort(compareKeys);
    expect(sorted.slice(0, 4)).toEqual([Number.NaN, -1, 2, 1n]);
    expect(sorted.slice(4, 9)).toEqual(["a", "b", false, true, null]);
    expect(sorted.slice(-2)).toEqual([Symbol.for("z"), undefined]);
    // Objects keep their relative order whatever the input order.
    expect([b, a].sort(compareKeys)).toEqual([a, b].sort(compareKeys));
  });

  it("unregistered symbols are valid keys with a stable order", async () => {
    const locks = new KeyedMutex<symbol>();
    const s1 = Symbol("one");
    const s2 = Symbol("two");
    const x = await assertReady(locks.lockMany([s2, s1]));
    const xOrder = x.value;
    const y = locks.lockMany([s1, s2]);
    await assertPending(y);
    x.release();
    const yGuard = await assertReady(y);
    // Both calls took the keys in the same order, whatever order they listed them in.
    expect(yGuard.value).toEqual(xOrder);
    expect(compareKeys(s1, s2)).toBe(-compareKeys(s2, s1));
    expect(compareKeys(s1, s2)).not.toBe(0);
    yGuard.release();
    expect(locks.size).toBe(0);
  });

  it("cannot be structured-cloned", async () => {
    const locks = new KeyedMutex<string>();
    expect(() => structuredClone(locks)).toThrow();
    const guard = await locks.lock("k");
    expect(() => structuredClone(guard)).toThrow();
    guard.release();
  });

  it(`stress: ${1_000_000 * stress()} distinct keys locked and released leave size 0`, async () => {
    const locks = new KeyedMutex<number>();
    const count = 1_000_000 * stress();
    for (let i = 0; i < count; i++) {
      const guard = await locks.lock(i);
      if (locks.size !== 1) throw new Error(`size ${locks.size} at key ${i}`);
      guard.release();
    }
    expect(locks.size).toBe(0);
  });

  it("property: each key grants its waiters in request order (FIFO), whatever the schedule and aborts", async () => {
    const op = fc.record({ key: fc.integer({ min: 0, max: 2 }), abort: fc.boolean(), hold: fc.boolean() });
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), fc.array(op, { minLength: 1, maxLength: 20 }), async (s, ops) => {
        const locks = new KeyedMutex<number>();
        const requested = new Map<number, number[]>();
        const granted = new Map<number, number[]>();
        const aborted = new Set<number>();
        const tasks = ops.map((task, id) => {
          const controller = new AbortController();
          if (task.abort) {
            s.schedule(Promise.resolve()).then(() => {
              controller.abort();
            });
          }
          return s.schedule(Promise.resolve()).then(async () => {
            const pending = locks.lock(task.key, task.abort ? { signal: controller.signal } : undefined);
            // The waiter is queued synchronously by lock(): this is its place.
            requested.set(task.key, [...(requested.get(task.key) ?? []), id]);
            let guard: KeyedMutexGuard<number>;
            try {
              guard = await pending;
            } catch {
              aborted.add(id);
              return;
            }
            granted.set(task.key, [...(granted.get(task.key) ?? []), id]);
            if (task.hold) await s.schedule(Promise.resolve());
            guard.release();
          });
        });
        await s.waitIdle();
        for (const task of tasks) expect((await poll(task)).state).toBe("fulfilled");
        for (const [key, order] of requested) {
          expect(granted.get(key) ?? []).toEqual(order.filter((id) => !aborted.has(id)));
        }
        expect(locks.size).toBe(0);
      }),
      { numRuns: 100 * stress() },
    );
  });

  it("property: mutual exclusion per key under random schedules, aborts and lockMany", async () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant("lock" as const), key: fc.integer({ min: 0, max: 3 }), abort: fc.boolean() }),
      fc.record({
        kind: fc.constant("many" as const),
        keys: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 4 }),
        abort: fc.boolean(),
      }),
    );
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), fc.array(op, { minLength: 1, maxLength: 15 }), async (s, ops) => {
        const locks = new KeyedMutex<number>();
        const holders = new Map<number, number>(); // key -> task id
        const tasks: Promise<unknown>[] = [];
        for (const [id, task] of ops.entries()) {
          const controller = new AbortController();
          tasks.push(
            s.schedule(Promise.resolve()).then(async () => {
              const options = task.abort ? { signal: controller.signal } : undefined;
              let guard: KeyedMutexGuard<unknown>;
              try {
                guard =
                  task.kind === "lock" ? await locks.lock(task.key, options) : await locks.lockMany(task.keys, options);
              } catch {
                return;
              }
              const keys = task.kind === "lock" ? [task.key] : [...new Set(task.keys)];
              for (const key of keys) {
                expect(holders.has(key)).toBe(false);
                holders.set(key, id);
              }
              await s.schedule(Promise.resolve());
              for (const key of keys) {
                expect(holders.get(key)).toBe(id);
                holders.delete(key);
              }
              guard.release();
            }),
          );
          if (task.abort) s.schedule(Promise.resolve()).then(() => controller.abort());
        }
        await s.waitIdle();
        for (const task of tasks) expect((await poll(task)).state).toBe("fulfilled");
        expect(locks.size).toBe(0);
        expect(holders.size).toBe(0);
      }),
      { numRuns: 100 * stress() },
    );
  });
});
