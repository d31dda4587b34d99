/**
 * One contract, three implementations of the Mutex surface (ARCHITECTURE: contract suites): the
 * in-process `lockbox` Mutex, the threads Mutex through its async acquires, and the threads Mutex
 * through its blocking acquires (in one thread the blocking form can only be tested where it does
 * not have to wait, or with a timeout).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PoisonError, TimeoutError, UseAfterReleaseError } from "../../src/errors.js";
import { Mutex as LocalMutex } from "../../src/sync/mutex.js";
import { Mutex as ThreadsMutex } from "../../src/threads/index.js";
import type { LockOptions } from "../../src/types.js";

interface Guard {
  value: Int32Array;
  readonly released: boolean;
  release(): void;
  poison(): void;
  [Symbol.dispose](): void;
}

interface Subject {
  /** Acquire (the blocking flavour wraps lockSync in a promise). */
  lock(options?: LockOptions): Promise<Guard>;
  tryLock(): Guard | undefined;
  withLock<R>(fn: (guard: Guard) => R | Promise<R>): Promise<R>;
  readonly isLocked: boolean;
  readonly isPoisoned: boolean;
  clearPoison(): void;
  /** Whether a second acquire may wait in this thread. */
  readonly canWait: boolean;
}

const data = () => new Int32Array(new SharedArrayBuffer(4));

const factories: Array<[string, () => Subject]> = [
  [
    "lockbox Mutex (in-process)",
    () => {
      const mutex = new LocalMutex(data(), { poison: true });
      return {
        lock: (options) => mutex.lock(options) as Promise<Guard>,
        tryLock: () => mutex.tryLock() as Guard | undefined,
        withLock: (fn) => mutex.withLock(fn as never) as Promise<never>,
        get isLocked() {
          return mutex.isLocked;
        },
        get isPoisoned() {
          return mutex.isPoisoned;
        },
        clearPoison: () => mutex.clearPoison(),
        canWait: true,
      };
    },
  ],
  [
    "threads Mutex, async",
    () => {
      const mutex = new ThreadsMutex(data());
      return {
        lock: (options) => mutex.lock(options),
        tryLock: () => mutex.tryLock(),
        withLock: (fn) => mutex.withLock(fn) as Promise<never>,
        get isLocked() {
          return mutex.isLocked;
        },
        get isPoisoned() {
          return mutex.isPoisoned;
        },
        clearPoison: () => mutex.clearPoison(),
        canWait: true,
      };
    },
  ],
  [
    "threads Mutex, blocking",
    () => {
      const mutex = new ThreadsMutex(data());
      return {
        lock: async (options) => mutex.lockSync({ timeout: options?.timeout, ignorePoison: options?.ignorePoison }),
        tryLock: () => mutex.tryLock(),
        withLock: async (fn) => mutex.withLockSync(fn as never) as never,
        get isLocked() {
          return mutex.isLocked;
        },
        get isPoisoned() {
          return mutex.isPoisoned;
        },
        clearPoison: () => mutex.clearPoison(),
        canWait: false,
      };
    },
  ],
];

describe.each(factories)("Mutex contract: %s", (_name, make) => {
  it("a guard gives the value, releases once, and refuses use after release", async () => {
    const subject = make();
    const guard = await subject.lock();
    guard.value[0] = 3;
    expect(subject.isLocked).toBe(true);
    expect(subject.tryLock()).toBeUndefined();
    guard.release();
    guard.release();
    expect(guard.released).toBe(true);
    expect(subject.isLocked).toBe(false);
    expect(() => guard.value).toThrow(UseAfterReleaseError);
    {
      using again = subject.tryLock()!;
      expect(again.value[0]).toBe(3);
    }
    expect(subject.isLocked).toBe(false);
  });

  it("a timed-out acquire rejects with TimeoutError and holds nothing", async () => {
    const subject = make();
    const guard = subject.tryLock()!;
    await expect(subject.lock({ timeout: 5 })).rejects.toBeInstanceOf(TimeoutError);
    guard.release();
    expect(subject.isLocked).toBe(false);
  });

  it("withLock returns fn's result, releases on throw, and poisons; ignorePoison and clearPoison recover", async () => {
    const subject = make();
    expect(await subject.withLock((g) => (g.value[0] = 8))).toBe(8);
    await expect(
      subject.withLock(() => {
        throw new Error("inside");
      }),
    ).rejects.toThrow("inside");
    expect(subject.isLocked).toBe(false);
    expect(subject.isPoisoned).toBe(true);
    await expect(subject.lock()).rejects.toBeInstanceOf(PoisonError);
    expect(subject.isLocked).toBe(false);
    const guard = await subject.lock({ ignorePoison: true });
    guard.release();
    subject.clearPoison();
    (await subject.lock()).release();
  });

  it("property: tasks interleaved in any order never overlap and never lose an update", async () => {
    // A blocking acquire cannot wait for a holder in its own thread (that would block forever), so
    // for it the tasks interleave before their critical sections instead of inside them.
    const holdAcrossAwait = make().canWait;
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), fc.integer({ min: 1, max: 6 }), async (s, tasks) => {
        const mutex = make();
        let inside = 0;
        let overlap = false;
        const run = async () => {
          if (!holdAcrossAwait) await s.schedule(Promise.resolve(), "before");
          const guard = await mutex.lock({ timeout: 5_000 });
          inside++;
          if (inside > 1) overlap = true;
          const v = guard.value[0]!;
          if (holdAcrossAwait) await s.schedule(Promise.resolve(), "critical section");
          guard.value[0] = v + 1;
          inside--;
          guard.release();
        };
        const all = Promise.all(Array.from({ length: tasks }, run));
        await s.waitFor(all);
        expect(overlap).toBe(false);
        expect(mutex.tryLock()!.value[0]).toBe(tasks);
      }),
      { numRuns: 25 },
    );
  });
});
