/**
 * lockbox/threads names (SPEC §7, always on): `{ name }` on every waiting primitive (Mutex, RwLock,
 * Semaphore, Condvar, Barrier, OnceLock), `Kind#n` for unnamed ones, carried by the handle to other
 * threads, and shown in the errors an acquire or wait gives (TimeoutError, PoisonError, ClosedError).
 */
import { afterEach, describe, expect, it } from "vitest";
import { ClosedError, PoisonError, TimeoutError } from "../../src/index.js";
import { Barrier, Condvar, Mutex, OnceLock, RwLock, Semaphore } from "../../src/threads/index.js";
import { setBlockingProbe } from "../../src/threads/runtime/wait.js";
import { okValue, startWorker, terminateAll } from "../threads/worker-helper.js";

afterEach(async () => {
  setBlockingProbe(undefined);
  await terminateAll();
});

/** The error `fn` throws (or the rejection of the promise it returns). */
async function errorOf(fn: () => unknown): Promise<Error> {
  try {
    await fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected an error");
}

describe("threads: { name } on Semaphore, Condvar, Barrier, OnceLock", () => {
  const kinds = [
    ["Semaphore", (name?: string) => new Semaphore(1, name === undefined ? undefined : { name })],
    ["Condvar", (name?: string) => new Condvar(name === undefined ? undefined : { name })],
    ["Barrier", (name?: string) => new Barrier(2, name === undefined ? undefined : { name })],
    ["OnceLock", (name?: string) => new OnceLock(null, name === undefined ? undefined : { name })],
  ] as const;

  for (const [kind, make] of kinds) {
    it(`${kind}: Kind#n by default, { name } otherwise, carried by the handle through a structured clone`, () => {
      const first = make();
      const second = make();
      expect(first.name).toMatch(new RegExp(`^${kind}#\\d+$`));
      const n = Number(first.name.slice(kind.length + 1));
      expect(second.name).toBe(`${kind}#${n + 1}`);
      const named = make("jobs");
      expect(named.name).toBe("jobs");
      expect(named.handle.name).toBe("jobs");
      const from = (named.constructor as unknown as { from(x: unknown): { name: string } }).from;
      expect(from(structuredClone(named.handle)).name).toBe("jobs");
      expect(from(structuredClone(first)).name).toBe(first.name);
      expect(() => make(1 as unknown as string)).toThrow("Expected `name` to be a string, got 1");
    });
  }

  it("bad options objects are refused, naming the argument", () => {
    expect(() => new Semaphore(1, 5 as never)).toThrow(/`options`/);
    expect(() => new Condvar("x" as never)).toThrow(/`options`/);
    expect(() => new Barrier(1, 5 as never)).toThrow(/`options`/);
    expect(() => new OnceLock(null, 5 as never)).toThrow(/`options`/);
  });
});

describe("threads: names in errors", () => {
  it("Semaphore: TimeoutError (async and blocking) and ClosedError name it", async () => {
    const pool = new Semaphore(0, { name: "db-pool" });
    const timedOut = await errorOf(() => pool.acquire(1, { timeout: 0 }));
    expect(timedOut).toBeInstanceOf(TimeoutError);
    expect(timedOut.message).toBe("Semaphore.acquire() on db-pool timed out after 0 ms");
    expect(() => pool.acquireSync(1, { timeout: 0 })).toThrow("Semaphore.acquireSync() on db-pool timed out");
    pool.close();
    const closed = await errorOf(() => pool.acquire());
    expect(closed).toBeInstanceOf(ClosedError);
    expect(closed.message).toBe("db-pool is closed");
    expect(() => pool.tryAcquire()).toThrow("db-pool is closed");
    expect(() => new Semaphore(0).close()).not.toThrow();
    const unnamed = new Semaphore(0);
    unnamed.close();
    expect(() => unnamed.acquireSync()).toThrow(`${unnamed.name} is closed`);
  });

  it("Condvar, Barrier, OnceLock: TimeoutError names them", async () => {
    const mutex = new Mutex(null, { name: "state" });
    const changed = new Condvar({ name: "changed" });
    const condvarTimeout = await errorOf(async () => changed.wait(await mutex.lock(), { timeout: 0 }));
    expect(condvarTimeout).toBeInstanceOf(TimeoutError);
    expect(condvarTimeout.message).toBe("Condvar.wait() on changed timed out after 0 ms");
    expect(() => changed.waitSync(mutex.lockSync(), { timeout: 0 })).toThrow("Condvar.waitSync() on changed timed out");
    expect(mutex.isLocked).toBe(false);

    const start = new Barrier(2, { name: "start" });
    expect((await errorOf(() => start.wait({ timeout: 0 }))).message).toBe(
      "Barrier.wait() on start timed out after 0 ms",
    );
    expect(() => start.waitSync({ timeout: 0 })).toThrow("Barrier.waitSync() on start timed out");

    const config = new OnceLock(null, { name: "config" });
    expect((await errorOf(() => config.wait({ timeout: 0 }))).message).toBe(
      "OnceLock.wait() on config timed out after 0 ms",
    );
    expect(() => config.waitSync({ timeout: 0 })).toThrow("OnceLock.waitSync() on config timed out");
  });

  it("Condvar: a wrong or released guard is refused naming the condvar", async () => {
    const mutex = new Mutex(null, { name: "state" });
    const changed = new Condvar({ name: "changed" });
    const guard = mutex.lockSync();
    guard.release();
    expect(() => changed.waitSync(guard)).toThrow(
      "Condvar.waitSync() on changed needs a MutexGuard that is not released",
    );
    expect((await errorOf(() => changed.wait(guard))).message).toBe(
      "Condvar.wait() on changed needs a MutexGuard that is not released",
    );
    expect(() => changed.waitWhileSync({} as never, () => false)).toThrow(
      /^Expected `guard` of Condvar\.waitWhileSync\(\) on changed to be a MutexGuard/,
    );
  });

  it("WouldBlockError names the primitive where blocking is forbidden", () => {
    setBlockingProbe(() => false);
    const mutex = new Mutex(null, { name: "state" });
    const cases: [() => unknown, string][] = [
      [() => mutex.lockSync(), "Mutex.lockSync() on state would block"],
      [() => new RwLock(null, { name: "table" }).readSync(), "RwLock.readSync() on table would block"],
      [() => new RwLock(null, { name: "table" }).writeSync(), "RwLock.writeSync() on table would block"],
      [
        () => new RwLock(null, { name: "table" }).upgradableReadSync(),
        "RwLock.upgradableReadSync() on table would block",
      ],
      [() => new Semaphore(1, { name: "pool" }).acquireSync(), "Semaphore.acquireSync() on pool would block"],
      [() => new Barrier(2, { name: "start" }).waitSync(), "Barrier.waitSync() on start would block"],
      [() => new OnceLock(null, { name: "config" }).waitSync(), "OnceLock.waitSync() on config would block"],
      [
        () => new OnceLock(null, { name: "config" }).getOrInitSync(() => {}),
        "OnceLock.getOrInitSync() on config would block",
      ],
    ];
    for (const [call, message] of cases) expect(call).toThrow(message);
    setBlockingProbe(undefined);
    const guard = mutex.lockSync();
    setBlockingProbe(() => false);
    expect(() => new Condvar({ name: "changed" }).waitSync(guard)).toThrow("Condvar.waitSync() on changed would block");
    guard.release();
  });

  it("OnceLock: a waiter behind another initializer times out naming it", async () => {
    const config = new OnceLock(null, { name: "config" });
    let finish = (): void => {};
    const first = config.getOrInit(() => new Promise<void>((resolve) => (finish = resolve)));
    const second = await errorOf(() => config.getOrInit(() => {}, { timeout: 0 }));
    expect(second.message).toBe("OnceLock.getOrInit() on config timed out after 0 ms");
    finish();
    await first;
    expect(config.initialized).toBe(true);
  });

  it("Mutex and RwLock: TimeoutError and PoisonError name them", async () => {
    const jobs = new Mutex(null, { name: "jobs" });
    const guard = jobs.lockSync();
    expect((await errorOf(() => jobs.lock({ timeout: 0 }))).message).toBe("Mutex.lock() on jobs timed out after 0 ms");
    expect(() => jobs.lockSync({ timeout: 0 })).toThrow("Mutex.lockSync() on jobs timed out after 0 ms");
    guard.poison();
    guard.release();
    const poisoned = await errorOf(() => jobs.lock());
    expect(poisoned).toBeInstanceOf(PoisonError);
    expect(poisoned.message).toMatch(/^jobs is poisoned: .*lock\(\{ ignorePoison: true \}\)/);
    expect(() => jobs.lockSync()).toThrow(/^jobs is poisoned/);

    const table = new RwLock(null, { name: "table" });
    const w = table.writeSync();
    expect((await errorOf(() => table.read({ timeout: 0 }))).message).toBe(
      "RwLock.read() on table timed out after 0 ms",
    );
    expect(() => table.readSync({ timeout: 0 })).toThrow("RwLock.readSync() on table timed out");
    expect(() => table.writeSync({ timeout: 0 })).toThrow("RwLock.writeSync() on table timed out");
    w.poison();
    w.release();
    expect(() => table.readSync()).toThrow(/^table is poisoned/);
    const u = table.upgradableReadSync({ ignorePoison: true });
    const r = table.readSync({ ignorePoison: true });
    expect(() => u.upgradeSync({ timeout: 0 })).toThrow("RwLockUpgradableReadGuard.upgradeSync() on table timed out");
    r.release();
    u.release();
  });
});

describe("threads: names across a worker", () => {
  it("a received primitive keeps its name in the worker's errors; one made there is Kind#n@threadK", async () => {
    const w = await startWorker();
    const mutex = new Mutex(null, { name: "state" });
    const reply = okValue(
      await w.call("namesAndTimeouts", {
        semaphore: new Semaphore(0, { name: "pool" }).handle,
        barrier: new Barrier(2, { name: "start" }).handle,
        once: new OnceLock(null, { name: "config" }).handle,
        condvar: new Condvar({ name: "changed" }).handle,
        mutex: mutex.handle,
      }),
    ) as { names: string[]; local: string[]; messages: string[] };
    expect(reply.names).toEqual(["pool", "start", "config", "changed"]);
    expect(reply.messages).toEqual([
      "TimeoutError: Semaphore.acquireSync() on pool timed out after 0 ms",
      "TimeoutError: Barrier.waitSync() on start timed out after 0 ms",
      "TimeoutError: OnceLock.waitSync() on config timed out after 0 ms",
      "TimeoutError: Condvar.waitSync() on changed timed out after 0 ms",
    ]);
    const kinds = ["Semaphore", "Barrier", "OnceLock", "Condvar"];
    reply.local.forEach((name, i) => {
      expect(name).toMatch(new RegExp(`^${kinds[i]}#\\d+@thread\\d+$`));
    });
    expect(mutex.isLocked).toBe(false);
  });
});
