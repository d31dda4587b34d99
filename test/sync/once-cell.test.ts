import fc from "fast-check";
import { afterEach, describe, expect, it, vi } from "vitest";
import { TimeoutError } from "../../src/errors.js";
import { OnceCell } from "../../src/sync/once-cell.js";
import { assertPending, assertReady, assertRejected, flush, poll } from "../helpers/poll.js";
import { stress } from "../helpers/stress.js";

afterEach(() => {
  vi.useRealTimers();
});

/** A promise with its resolvers outside, to step an initializer by hand. */
function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (reason: unknown) => void } {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe("OnceCell", () => {
  it("starts empty; getOrInit initializes once and get() then returns the value", async () => {
    const cell = new OnceCell<number>();
    expect(cell.get()).toBeUndefined();
    expect(cell.initialized).toBe(false);
    const fn = vi.fn(() => 42);
    expect(await assertReady(cell.getOrInit(fn))).toBe(42);
    expect(await assertReady(cell.getOrInit(fn))).toBe(42);
    expect(fn).toHaveBeenCalledTimes(1);
    expect(cell.get()).toBe(42);
    expect(cell.initialized).toBe(true);
  });

  it("can start initialized, even with undefined", () => {
    const cell = new OnceCell<string | undefined>(undefined);
    expect(cell.initialized).toBe(true);
    expect(cell.set("x")).toBe(false);
  });

  it("concurrent callers share one async initialization", async () => {
    const cell = new OnceCell<string>();
    const init = deferred<string>();
    const first = vi.fn(() => init.promise);
    const second = vi.fn(() => "other");
    const a = cell.getOrInit(first);
    const b = cell.getOrInit(second);
    await assertPending(a);
    await assertPending(b);
    expect(cell.initialized).toBe(false);
    init.resolve("value");
    expect(await assertReady(a)).toBe("value");
    expect(await assertReady(b)).toBe("value");
    expect(first).toHaveBeenCalledTimes(1);
    expect(second).not.toHaveBeenCalled();
  });

  it("if the initializer fails, its caller gets the error and the next waiter runs its own fn", async () => {
    const cell = new OnceCell<string>();
    const init = deferred<string>();
    const boom = new Error("boom");
    const a = cell.getOrInit(() => init.promise);
    const b = cell.getOrInit(() => "from b");
    const c = cell.getOrInit(() => "from c");
    init.reject(boom);
    expect(await assertRejected(a)).toBe(boom);
    expect(await assertReady(b)).toBe("from b");
    expect(await assertReady(c)).toBe("from b");
    expect(cell.get()).toBe("from b");
  });

  it("a synchronous throw in fn is a rejection, and the cell stays usable", async () => {
    const cell = new OnceCell<number>();
    await assertRejected(
      cell.getOrInit(() => {
        throw new Error("sync");
      }),
    );
    expect(cell.initialized).toBe(false);
    expect(await assertReady(cell.getOrInit(() => 7))).toBe(7);
  });

  it("set() succeeds once, and fails while an initializer runs", async () => {
    const cell = new OnceCell<number>();
    const init = deferred<number>();
    const running = cell.getOrInit(() => init.promise);
    expect(cell.set(1)).toBe(false);
    init.resolve(2);
    expect(await assertReady(running)).toBe(2);
    expect(cell.set(3)).toBe(false);
    expect(cell.get()).toBe(2);

    const other = new OnceCell<number>();
    expect(other.set(5)).toBe(true);
    expect(other.set(6)).toBe(false);
    expect(await assertReady(other.getOrInit(() => 9))).toBe(5);
  });

  it("set() is refused while initializers are queued, also after the running one fails", async () => {
    const cell = new OnceCell<number>();
    const init = deferred<number>();
    const running = cell.getOrInit(() => init.promise);
    const waiting = cell.getOrInit(() => 0);
    expect(cell.set(1)).toBe(false);
    init.reject(new Error("failed"));
    await assertRejected(running);
    // The permit went to the queued caller, whose fn ran; set still loses.
    expect(await assertReady(waiting)).toBe(0);
    expect(cell.set(1)).toBe(false);
  });

  it("a waiting caller can be aborted; its fn never runs and the queue moves on", async () => {
    const cell = new OnceCell<number>();
    const init = deferred<number>();
    const controller = new AbortController();
    const running = cell.getOrInit(() => init.promise);
    const abortedFn = vi.fn(() => 1);
    const aborted = cell.getOrInit(abortedFn, { signal: controller.signal });
    const last = cell.getOrInit(() => 3);
    controller.abort("stop");
    expect(await assertRejected(aborted)).toBe("stop");
    init.reject(new Error("x"));
    await assertRejected(running);
    expect(await assertReady(last)).toBe(3);
    expect(abortedFn).not.toHaveBeenCalled();
  });

  it("a waiting caller times out with TimeoutError and leaves no timer", async () => {
    vi.useFakeTimers();
    const cell = new OnceCell<number>();
    const init = deferred<number>();
    void cell.getOrInit(() => init.promise);
    const waiting = cell.getOrInit(() => 1, { timeout: 100 });
    vi.advanceTimersByTime(100);
    expect(await assertRejected(waiting)).toBeInstanceOf(TimeoutError);
    expect(vi.getTimerCount()).toBe(0);
    init.resolve(5);
    await flush();
    expect(cell.get()).toBe(5);
  });

  it("the options do not interrupt the caller's own running fn", async () => {
    vi.useFakeTimers();
    const cell = new OnceCell<number>();
    const init = deferred<number>();
    const controller = new AbortController();
    const own = cell.getOrInit(() => init.promise, { signal: controller.signal, timeout: 10 });
    controller.abort();
    vi.advanceTimersByTime(10);
    await assertPending(own);
    init.resolve(4);
    expect(await assertReady(own)).toBe(4);
  });

  it("rejects a non-function fn with TypeError, and bad options", async () => {
    const cell = new OnceCell<number>();
    expect(await assertRejected(cell.getOrInit(1 as never))).toBeInstanceOf(TypeError);
    expect(await assertRejected(cell.getOrInit(() => 1, { timeout: Number.NaN }))).toBeInstanceOf(RangeError);
    expect(cell.initialized).toBe(false);
  });

  it("cannot be structured-cloned", () => {
    expect(() => structuredClone(new OnceCell())).toThrow();
  });

  it("property: under any completion order, exactly one successful fn sets the value, failures go to their callers", async () => {
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), fc.array(fc.boolean(), { minLength: 1, maxLength: 12 }), async (s, fails) => {
        const cell = new OnceCell<number>();
        let running = 0;
        let maxRunning = 0;
        const ran: number[] = [];
        const calls = fails.map((fail, i) =>
          s
            .schedule(Promise.resolve(i))
            .then(() =>
              cell.getOrInit(async () => {
                running++;
                maxRunning = Math.max(maxRunning, running);
                ran.push(i);
                try {
                  await s.schedule(Promise.resolve());
                  if (fail) throw new Error(`fail ${i}`);
                  return i;
                } finally {
                  running--;
                }
              }),
            )
            .then(
              (value) => ({ ok: true as const, value }),
              (error: unknown) => ({ ok: false as const, error }),
            ),
        );
        await s.waitIdle();
        const results = await Promise.all(calls.map((c) => poll(c)));
        expect(maxRunning).toBeLessThanOrEqual(1);
        const settled = results.map((r) => {
          if (r.state !== "fulfilled") throw new Error("a caller is stuck");
          return r.value;
        });
        const winners = ran.filter((i) => !fails[i]);
        // The first initializer to succeed is the only one; every fn that ran before it failed.
        if (winners.length === 0) {
          expect(cell.initialized).toBe(false);
          expect(settled.every((r) => !r.ok)).toBe(true);
        } else {
          const winner = winners[0]!;
          expect(winners).toEqual([winner]);
          expect(ran[ran.length - 1]).toBe(winner);
          expect(cell.get()).toBe(winner);
          for (const [i, r] of settled.entries()) {
            if (ran.includes(i) && fails[i]) expect(r.ok).toBe(false);
            else expect(r).toEqual({ ok: true, value: winner });
          }
        }
      }),
      { numRuns: 100 * stress() },
    );
  });
});
