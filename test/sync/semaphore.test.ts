import { afterEach, describe, expect, it, vi } from "vitest";
import { ClosedError, Semaphore, SemaphorePermit, TimeoutError, UseAfterReleaseError } from "../../src/index.js";
import { assertPending, assertReady, assertRejected } from "../helpers/poll.js";

afterEach(() => {
  vi.useRealTimers();
});

describe("Semaphore", () => {
  it("hands out permits until empty, then queues", async () => {
    const sem = new Semaphore(2);
    const a = await assertReady(sem.acquire());
    const b = await assertReady(sem.acquire());
    expect(sem.available).toBe(0);
    const c = sem.acquire();
    await assertPending(c);
    a.release();
    const granted = await assertReady(c);
    expect(granted.permits).toBe(1);
    b.release();
    granted.release();
    expect(sem.available).toBe(2);
  });

  it("a large request at the head blocks later small ones and collects permits as they return", async () => {
    const sem = new Semaphore(3);
    const held = await sem.acquire(3);
    const big = sem.acquire(2);
    const small = sem.acquire(1);
    expect(sem.tryAcquire()).toBeUndefined();
    held.release();
    const bigPermit = await assertReady(big);
    expect(bigPermit.permits).toBe(2);
    const smallPermit = await assertReady(small);
    expect(sem.available).toBe(0);
    bigPermit.release();
    smallPermit.release();
    expect(sem.available).toBe(3);
  });

  it("a partial grant goes back to the pool when the waiter aborts", async () => {
    const sem = new Semaphore(2);
    const one = await sem.acquire(1);
    const controller = new AbortController();
    const big = sem.acquire(2, { signal: controller.signal }); // gets 1 of 2 at once
    expect(sem.available).toBe(0);
    const small = sem.acquire(1);
    await assertPending(small);
    controller.abort();
    await assertRejected(big);
    // The permit the big request had collected goes to the next waiter.
    const smallPermit = await assertReady(small);
    one.release();
    smallPermit.release();
    expect(sem.available).toBe(2);
  });

  it("timeout rejects with TimeoutError and leaves no timer", async () => {
    vi.useFakeTimers();
    const sem = new Semaphore(0);
    const timed = expect(sem.acquire(1, { timeout: 5 })).rejects.toBeInstanceOf(TimeoutError);
    await vi.advanceTimersByTimeAsync(5);
    await timed;
    expect(vi.getTimerCount()).toBe(0);
    sem.addPermits(1);
    expect(sem.available).toBe(1);
  });

  it("forget consumes the permits; release after forget does nothing", async () => {
    const sem = new Semaphore(2);
    const permit = await sem.acquire(2);
    permit.forget();
    expect(permit.released).toBe(true);
    permit.release();
    expect(sem.available).toBe(0);
    expect(() => permit.forget()).toThrow(UseAfterReleaseError);
  });

  it("release and dispose are idempotent", async () => {
    const sem = new Semaphore(1);
    {
      using permit = await sem.acquire();
      expect(sem.available).toBe(0);
      permit.release();
    }
    expect(sem.available).toBe(1);
  });

  it("addPermits wakes waiters in order and respects MAX_PERMITS", async () => {
    const sem = new Semaphore(0);
    const a = sem.acquire(2);
    const b = sem.acquire(1);
    sem.addPermits(1);
    await assertPending(a);
    await assertPending(b);
    sem.addPermits(2);
    (await assertReady(a)).release();
    (await assertReady(b)).release();
    expect(sem.available).toBe(3);
    expect(() => sem.addPermits(Semaphore.MAX_PERMITS)).toThrow(RangeError);
    expect(sem.available).toBe(3);
  });

  it("close rejects pending and future acquires; held permits stay valid", async () => {
    const sem = new Semaphore(1);
    const held = await sem.acquire();
    const pending = sem.acquire();
    sem.close();
    sem.close();
    expect(sem.closed).toBe(true);
    expect(await assertRejected(pending)).toBeInstanceOf(ClosedError);
    expect(await assertRejected(sem.acquire())).toBeInstanceOf(ClosedError);
    expect(() => sem.tryAcquire()).toThrow(ClosedError);
    await expect(sem.withPermit(() => 1)).rejects.toBeInstanceOf(ClosedError);
    held.release();
    expect(sem.available).toBe(1);
  });

  it("withPermit takes options.permits and releases in every case", async () => {
    const sem = new Semaphore(3);
    await expect(
      sem.withPermit(
        (permit) => {
          expect(sem.available).toBe(1);
          return permit.permits;
        },
        { permits: 2 },
      ),
    ).resolves.toBe(2);
    await expect(
      sem.withPermit(() => {
        throw new Error("x");
      }),
    ).rejects.toThrow("x");
    expect(sem.available).toBe(3);
  });

  describe("bad arguments", () => {
    it.each([
      [0, RangeError],
      [1.5, RangeError],
      [-1, RangeError],
      [2 ** 31, RangeError],
      [Number.NaN, RangeError],
      ["1", TypeError],
    ])("acquire(%o) rejects; tryAcquire throws", async (permits, type) => {
      const sem = new Semaphore(1);
      const reason = await assertRejected(sem.acquire(permits as number));
      expect(reason).toBeInstanceOf(type);
      expect((reason as Error).message).toMatch(/^Expected `permits` to be an integer from 1 to 2147483647, got /);
      expect(() => sem.tryAcquire(permits as number)).toThrow(type);
      expect(sem.available).toBe(1);
    });

    it("rejects bad constructor permits with the accepted range", () => {
      expect(() => new Semaphore(-1)).toThrow("Expected `permits` to be an integer from 0 to 2147483647, got -1");
      expect(() => new Semaphore(2 ** 31)).toThrow(RangeError);
      expect(() => new Semaphore(undefined as never)).toThrow(TypeError);
    });

    it("rejects a non-AbortSignal signal and a negative timeout without taking permits", async () => {
      const sem = new Semaphore(1);
      expect(await assertRejected(sem.acquire(1, { signal: "x" as never }))).toBeInstanceOf(TypeError);
      expect(await assertRejected(sem.acquire(1, { timeout: -5 }))).toBeInstanceOf(RangeError);
      expect(sem.available).toBe(1);
    });

    it("permits cannot be forged", () => {
      const sem = new Semaphore(0);
      expect(() => new SemaphorePermit(Symbol() as never, sem, 5)).toThrow(TypeError);
      expect(sem.available).toBe(0);
    });
  });
});
