import { afterEach, describe, expect, it, vi } from "vitest";
import { Mutex, MutexGuard, PoisonError, TimeoutError, UseAfterReleaseError } from "../../src/index.js";
import type { GUARD_TOKEN } from "../../src/internal/symbols.js";
import { assertPending, assertReady, assertRejected, flush, poll } from "../helpers/poll.js";

afterEach(() => {
  vi.useRealTimers();
});

describe("Mutex", () => {
  it("gives exclusive access through the guard and hands over on release", async () => {
    const mutex = new Mutex([1, 2]);
    const first = await assertReady(mutex.lock());
    expect(mutex.isLocked).toBe(true);
    first.value.push(3);
    const second = mutex.lock();
    await assertPending(second);
    first.release();
    const guard = await assertReady(second);
    expect(guard.value).toEqual([1, 2, 3]);
    guard.value = [9];
    guard.release();
    expect(mutex.isLocked).toBe(false);
    expect((await mutex.lock()).value).toEqual([9]);
  });

  it("grants waiters in FIFO order", async () => {
    const mutex = new Mutex(0);
    const holder = mutex.tryLock()!;
    const order: number[] = [];
    const waits = [0, 1, 2, 3, 4].map((i) =>
      mutex.lock().then((guard) => {
        order.push(i);
        guard.release();
      }),
    );
    await flush();
    expect(order).toEqual([]);
    holder.release();
    await Promise.all(waits);
    expect(order).toEqual([0, 1, 2, 3, 4]);
  });

  it("tryLock never jumps ahead of a queued waiter", async () => {
    const mutex = new Mutex("x");
    const holder = mutex.tryLock()!;
    const waiting = mutex.lock();
    holder.release();
    // The lock is now owned by the queued waiter, even before its continuation runs.
    expect(mutex.tryLock()).toBeUndefined();
    expect(mutex.isLocked).toBe(true);
    (await assertReady(waiting)).release();
    expect(mutex.tryLock()).toBeInstanceOf(MutexGuard);
  });

  it("tryLock returns undefined while locked and a guard when free", () => {
    const mutex = new Mutex(1);
    const guard = mutex.tryLock();
    expect(guard?.value).toBe(1);
    expect(mutex.tryLock()).toBeUndefined();
    guard?.release();
    expect(mutex.tryLock()).toBeDefined();
  });

  it("release is idempotent and the guard is unusable afterwards", async () => {
    const mutex = new Mutex({ n: 1 });
    const guard = await mutex.lock();
    const next = mutex.lock();
    guard.release();
    guard.release();
    expect(guard.released).toBe(true);
    expect(() => guard.value).toThrow(UseAfterReleaseError);
    expect(() => {
      guard.value = { n: 2 };
    }).toThrow(UseAfterReleaseError);
    expect(() => guard.poison()).toThrow(UseAfterReleaseError);
    const second = await assertReady(next);
    // The double release did not free the lock under the second holder.
    expect(mutex.isLocked).toBe(true);
    expect(mutex.tryLock()).toBeUndefined();
    second.release();
  });

  it("releases at the end of a using block", async () => {
    const mutex = new Mutex(0);
    {
      using guard = await mutex.lock();
      guard.value++;
      expect(mutex.isLocked).toBe(true);
    }
    expect(mutex.isLocked).toBe(false);
    expect(mutex.tryLock()?.value).toBe(1);
  });

  it("withLock releases after success and after failure, returning or rethrowing", async () => {
    const mutex = new Mutex(1);
    await expect(mutex.withLock(async (g) => g.value + 1)).resolves.toBe(2);
    expect(mutex.isLocked).toBe(false);
    await expect(
      mutex.withLock(() => {
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    expect(mutex.isLocked).toBe(false);
    expect(mutex.isPoisoned).toBe(false); // poisoning is opt-in
  });

  it("withLock validates fn", async () => {
    const mutex = new Mutex(1);
    await expect(mutex.withLock(42 as never)).rejects.toThrow(new TypeError("Expected `fn` to be a function, got 42"));
    expect(mutex.isLocked).toBe(false);
  });

  describe("abort and timeout", () => {
    it("an already-aborted signal rejects without queueing, even when free", async () => {
      const mutex = new Mutex(0);
      const controller = new AbortController();
      controller.abort(new Error("stop"));
      const reason = await assertRejected(mutex.lock({ signal: controller.signal }));
      expect(reason).toEqual(new Error("stop"));
      expect(mutex.isLocked).toBe(false);
    });

    it("abort removes the waiter at once; the next waiter gets the lock", async () => {
      const mutex = new Mutex(0);
      const holder = mutex.tryLock()!;
      const controller = new AbortController();
      const aborted = mutex.lock({ signal: controller.signal });
      const next = mutex.lock();
      controller.abort();
      const reason = await assertRejected(aborted);
      expect((reason as Error).name).toBe("AbortError");
      holder.release();
      (await assertReady(next)).release();
      expect(mutex.isLocked).toBe(false);
    });

    it("a grant that races with the abort is handed on to the next waiter, never lost", async () => {
      const mutex = new Mutex(0);
      const holder = mutex.tryLock()!;
      const controller = new AbortController();
      const waiting = mutex.lock({ signal: controller.signal });
      const next = mutex.lock();
      holder.release(); // grants to `waiting` synchronously…
      controller.abort(new Error("gave up")); // …which aborts before it resumes: the abort wins
      expect(await assertRejected(waiting)).toEqual(new Error("gave up"));
      const guard = await assertReady(next);
      guard.release();
      expect(mutex.isLocked).toBe(false);
    });

    it("an uncontended grant whose signal aborts before the caller resumes is given back too", async () => {
      const mutex = new Mutex(0);
      const controller = new AbortController();
      const acquiring = mutex.lock({ signal: controller.signal });
      controller.abort(new Error("changed my mind"));
      expect(await assertRejected(acquiring)).toEqual(new Error("changed my mind"));
      expect(mutex.isLocked).toBe(false);
    });

    it("a grant the caller has already seen is kept when the signal aborts later", async () => {
      const mutex = new Mutex(0);
      const holder = mutex.tryLock()!;
      const controller = new AbortController();
      const waiting = mutex.lock({ signal: controller.signal });
      holder.release();
      const guard = await assertReady(waiting);
      controller.abort();
      expect(guard.released).toBe(false);
      expect(mutex.isLocked).toBe(true);
      guard.release();
    });

    it("timeout rejects with TimeoutError, leaves no timer, and frees the place", async () => {
      vi.useFakeTimers();
      const mutex = new Mutex(0);
      const holder = mutex.tryLock()!;
      const timed = mutex.lock({ timeout: 50 });
      const after = mutex.lock();
      expect(vi.getTimerCount()).toBe(1);
      await vi.advanceTimersByTimeAsync(49);
      await assertPending(timed);
      await vi.advanceTimersByTimeAsync(1);
      expect(await assertRejected(timed)).toBeInstanceOf(TimeoutError);
      expect(vi.getTimerCount()).toBe(0);
      holder.release();
      (await assertReady(after)).release();
    });

    it("a grant clears the timeout timer and the abort listener", async () => {
      vi.useFakeTimers();
      const mutex = new Mutex(0);
      const holder = mutex.tryLock()!;
      const controller = new AbortController();
      const remove = vi.spyOn(controller.signal, "removeEventListener");
      const waiting = mutex.lock({ timeout: 1000, signal: controller.signal });
      expect(vi.getTimerCount()).toBe(1);
      holder.release();
      expect(vi.getTimerCount()).toBe(0);
      expect(remove).toHaveBeenCalledTimes(1);
      (await assertReady(waiting)).release();
    });

    it("timeout 0 succeeds when free and times out when held", async () => {
      vi.useFakeTimers();
      const mutex = new Mutex(0);
      const guard = await mutex.lock({ timeout: 0 });
      const late = expect(mutex.lock({ timeout: 0 })).rejects.toBeInstanceOf(TimeoutError);
      await vi.advanceTimersByTimeAsync(0);
      await late;
      guard.release();
    });

    it("release after abort is harmless (regression: double hand-off)", async () => {
      const mutex = new Mutex(0);
      const holder = mutex.tryLock()!;
      const controller = new AbortController();
      const aborted = mutex.lock({ signal: controller.signal });
      controller.abort();
      await assertRejected(aborted);
      holder.release();
      holder.release();
      const a = mutex.tryLock();
      expect(a).toBeDefined();
      expect(mutex.tryLock()).toBeUndefined();
      a?.release();
    });
  });

  describe("poisoning", () => {
    it("withLock poisons an opted-in mutex; acquires reject without holding", async () => {
      const mutex = new Mutex(1, { poison: true });
      await expect(
        mutex.withLock((g) => {
          g.value = 2;
          throw new Error("half-updated");
        }),
      ).rejects.toThrow("half-updated");
      expect(mutex.isPoisoned).toBe(true);
      expect(mutex.isLocked).toBe(false);
      expect(await assertRejected(mutex.lock())).toBeInstanceOf(PoisonError);
      expect(() => mutex.tryLock()).toThrow(PoisonError);
      expect(mutex.isLocked).toBe(false);
      const guard = await mutex.lock({ ignorePoison: true });
      expect(guard.value).toBe(2);
      guard.release();
      mutex.clearPoison();
      expect((await mutex.lock()).value).toBe(2);
    });

    it("queued waiters reject with PoisonError in order; an ignorePoison waiter gets the lock", async () => {
      const mutex = new Mutex(0, { poison: true });
      const holder = await mutex.lock();
      const a = mutex.lock();
      const b = mutex.lock({ ignorePoison: true });
      const c = mutex.lock();
      holder.poison();
      holder.release();
      expect(await assertRejected(a)).toBeInstanceOf(PoisonError);
      const guard = await assertReady(b);
      await assertPending(c);
      guard.release();
      expect(await assertRejected(c)).toBeInstanceOf(PoisonError);
      expect(mutex.isLocked).toBe(false);
    });

    it("guard.poison() poisons even without the option", async () => {
      const mutex = new Mutex(0);
      const guard = await mutex.lock();
      guard.poison();
      guard.release();
      expect(mutex.isPoisoned).toBe(true);
      expect(() => mutex.tryLock({ ignorePoison: true })?.release()).not.toThrow();
    });

    it("a callback that released its guard before throwing does not poison", async () => {
      const mutex = new Mutex(0, { poison: true });
      await expect(
        mutex.withLock((g) => {
          g.release();
          throw new Error("after release");
        }),
      ).rejects.toThrow();
      expect(mutex.isPoisoned).toBe(false);
    });
  });

  describe("bad arguments", () => {
    it.each([
      [{ timeout: -1 }, RangeError, "Expected `timeout` to be a finite number of milliseconds (0 or more), got -1"],
      [{ timeout: Number.NaN }, RangeError, "got NaN"],
      [{ timeout: Number.POSITIVE_INFINITY }, RangeError, "got Infinity"],
      [{ timeout: "5" }, TypeError, 'got "5"'],
      [{ signal: {} }, TypeError, "Expected `signal` to be an AbortSignal or undefined, got an object"],
      [{ ignorePoison: 1 }, TypeError, "Expected `ignorePoison` to be a boolean or undefined, got 1"],
    ])("lock(%o) rejects and leaves the lock free", async (options, type, message) => {
      const mutex = new Mutex(0);
      const reason = await assertRejected(mutex.lock(options as never));
      expect(reason).toBeInstanceOf(type);
      expect((reason as Error).message).toContain(message);
      expect(mutex.isLocked).toBe(false);
    });

    it("rejects bad constructor options", () => {
      expect(() => new Mutex(0, { poison: "yes" as never })).toThrow(TypeError);
      expect(() => new Mutex(0, 5 as never)).toThrow("Expected `options` to be an object or undefined, got 5");
    });

    it("guards cannot be forged", () => {
      const mutex = new Mutex(0);
      expect(() => new MutexGuard(Symbol() as typeof GUARD_TOKEN, mutex)).toThrow(TypeError);
      expect(mutex.isLocked).toBe(false);
    });
  });

  it("a guard is not a thenable: resolving a promise with it yields the guard itself", async () => {
    const mutex = new Mutex(0);
    const guard = mutex.tryLock()!;
    expect((guard as unknown as { then?: unknown }).then).toBeUndefined();
    expect(await Promise.resolve(guard)).toBe(guard);
    expect(Object.keys(guard)).not.toContain("then");
    guard.release();
  });

  it("tryLock allocates no promise", () => {
    const mutex = new Mutex(0);
    const original = globalThis.Promise;
    let created = 0;
    const Counting = class extends original<unknown> {
      constructor(executor: ConstructorParameters<typeof Promise<unknown>>[0]) {
        created++;
        super(executor);
      }
    };
    globalThis.Promise = Counting as unknown as PromiseConstructor;
    try {
      for (let i = 0; i < 10; i++) mutex.tryLock()?.release();
    } finally {
      globalThis.Promise = original;
    }
    expect(created).toBe(0);
    expect(mutex.isLocked).toBe(false);
  });

  it("is not structured-cloneable, nor are its guards", async () => {
    const mutex = new Mutex(0);
    expect(() => structuredClone(mutex)).toThrow(expect.objectContaining({ name: "DataCloneError" }));
    const guard = await mutex.lock();
    expect(() => structuredClone(guard)).toThrow(expect.objectContaining({ name: "DataCloneError" }));
    guard.release();
  });

  it("poll reports a pending lock as pending (the helper itself can fail)", async () => {
    const mutex = new Mutex(0);
    const held = mutex.tryLock()!;
    expect((await poll(mutex.lock())).state).toBe("pending");
    held.release();
  });
});
