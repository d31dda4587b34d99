/**
 * The one exclusive guard family (issue 10, lock_api's split): `MutexGuard` and `RwLockWriteGuard` are
 * both `ExclusiveGuard`s over their lock's `LockData`, so everything they share is checked here once
 * for each lock, at the level users call.
 */
import { describe, expect, it } from "vitest";
import {
  Condvar,
  ExclusiveGuard,
  json,
  Mutex,
  MutexGuard,
  OnceLock,
  PoisonError,
  RwLock,
  RwLockWriteGuard,
  UseAfterReleaseError,
} from "../../src/threads/index.js";

type Shared = Int32Array;

interface Lock {
  name: string;
  guardName: string;
  make(): { exclusive(): Promise<ExclusiveGuard<Shared>>; isLocked(): boolean; isPoisoned(): boolean };
  makeJson(maxBytes: number): {
    exclusive(): Promise<ExclusiveGuard<{ n: string }>>;
    exclusiveSync(): ExclusiveGuard<{ n: string }>;
  };
}

const locks: Lock[] = [
  {
    name: "Mutex",
    guardName: "MutexGuard",
    make() {
      const mutex = new Mutex(new Int32Array(new SharedArrayBuffer(8)));
      return { exclusive: () => mutex.lock(), isLocked: () => mutex.isLocked, isPoisoned: () => mutex.isPoisoned };
    },
    makeJson(maxBytes) {
      const mutex = new Mutex(json({ n: "a" }, { maxBytes }));
      return { exclusive: () => mutex.lock(), exclusiveSync: () => mutex.lockSync() };
    },
  },
  {
    name: "RwLock",
    guardName: "RwLockWriteGuard",
    make() {
      const lock = new RwLock(new Int32Array(new SharedArrayBuffer(8)));
      return {
        exclusive: () => lock.write(),
        isLocked: () => lock.isWriteLocked,
        isPoisoned: () => lock.isPoisoned,
      };
    },
    makeJson(maxBytes) {
      const lock = new RwLock(json({ n: "a" }, { maxBytes }));
      return { exclusive: () => lock.write(), exclusiveSync: () => lock.writeSync() };
    },
  },
];

/** A user's helper written once for both guards. */
function bump(guard: ExclusiveGuard<Shared>): number {
  return ++guard.value[0]!;
}

describe.each(locks)("$guardName is an ExclusiveGuard", ({ guardName, make, makeJson }) => {
  it("works through the shared type: value, release, released, idempotent release", async () => {
    const lock = make();
    const guard = await lock.exclusive();
    expect(guard).toBeInstanceOf(ExclusiveGuard);
    expect(bump(guard)).toBe(1);
    expect(lock.isLocked()).toBe(true);
    guard.release();
    guard.release();
    expect(guard.released).toBe(true);
    expect(lock.isLocked()).toBe(false);
    const again = await lock.exclusive();
    expect(bump(again)).toBe(2);
    again[Symbol.dispose]();
    expect(lock.isLocked()).toBe(false);
  });

  it("names its own class in use-after-release errors", async () => {
    const guard = await make().exclusive();
    guard.release();
    expect(() => guard.value).toThrow(
      new UseAfterReleaseError(`Cannot read \`value\` of a ${guardName} after release()`),
    );
    expect(() => {
      guard.value = new Int32Array(new SharedArrayBuffer(8));
    }).toThrow(`Cannot write \`value\` of a ${guardName} after release()`);
    expect(() => guard.poison()).toThrow(`Cannot poison through a ${guardName} after release()`);
  });

  it("poison() poisons its own lock and does not release", async () => {
    const lock = make();
    const guard = await lock.exclusive();
    guard.poison();
    expect(lock.isPoisoned()).toBe(true);
    expect(lock.isLocked()).toBe(true);
    guard.release();
    await expect(lock.exclusive()).rejects.toBeInstanceOf(PoisonError);
  });

  it("writes JSON back on release; a write-back past maxBytes still releases and keeps the old value", async () => {
    const lock = makeJson(32);
    const guard = await lock.exclusive();
    guard.value = { n: "b" };
    guard.release();
    const big = lock.exclusiveSync();
    expect(big.value).toEqual({ n: "b" });
    big.value = { n: "x".repeat(100) };
    expect(() => big.release()).toThrow(RangeError);
    expect(big.released).toBe(true);
    // Released despite the throw: the next acquire does not wait, and sees the old value.
    const next = lock.exclusiveSync();
    expect(next.value).toEqual({ n: "b" });
    next.release();
  });
});

describe("the guard family's edges", () => {
  it("ExclusiveGuard and both subclasses refuse to be constructed by users", () => {
    const mutex = new Mutex(null);
    for (const Guard of [ExclusiveGuard, MutexGuard, RwLockWriteGuard]) {
      expect(() => new Guard(Symbol() as never, null as never, null as never)).toThrow(
        /cannot be constructed directly/,
      );
    }
    expect(mutex.isLocked).toBe(false);
  });

  it("a write guard is not a MutexGuard: Condvar refuses it with TypeError and leaves it held", async () => {
    const lock = new RwLock(null);
    const condvar = new Condvar();
    const writer = await lock.write();
    expect(writer).not.toBeInstanceOf(MutexGuard);
    await expect(condvar.wait(writer as never)).rejects.toThrow(TypeError);
    // Even dressed up as one (its prototype swapped), it is told apart by its lock.
    Object.setPrototypeOf(writer, MutexGuard.prototype);
    await expect(condvar.wait(writer as never)).rejects.toThrow(TypeError);
    expect(lock.isWriteLocked).toBe(true);
    Object.setPrototypeOf(writer, RwLockWriteGuard.prototype);
    writer.release();
    expect(lock.isWriteLocked).toBe(false);
  });

  it("downgrade() releases the write guard as an ExclusiveGuard (value throws) and keeps a read share", async () => {
    const lock = new RwLock(new Int32Array(new SharedArrayBuffer(4)));
    const writer = await lock.write();
    writer.value[0] = 9;
    const reader = writer.downgrade();
    expect(writer.released).toBe(true);
    expect(() => writer.value).toThrow(UseAfterReleaseError);
    expect(() => writer.downgrade()).toThrow("Cannot downgrade a RwLockWriteGuard after release()");
    writer.release(); // does nothing: the share stays
    expect(lock.readers).toBe(1);
    expect(reader.value[0]).toBe(9);
    reader.release();
    expect(lock.readers).toBe(0);
  });

  it("Mutex.from, RwLock.from and OnceLock.from keep name and poison option through the one data side", () => {
    const mutex = new Mutex(null, { name: "m", poison: false });
    const rw = new RwLock(null, { name: "r" });
    const once = new OnceLock(null, { name: "o" });
    const m2 = Mutex.from(structuredClone(mutex.handle));
    const r2 = RwLock.from(structuredClone(rw));
    const o2 = OnceLock.from(structuredClone(once.handle));
    expect([m2.name, r2.name, o2.name]).toEqual(["m", "r", "o"]);
    expect(m2.handle.poison).toBe(false);
    expect(r2.handle.poison).toBe(true);
    expect("poison" in o2.handle).toBe(false);
    expect(() => new OnceLock(null, 5 as never)).toThrow(/`options`/);
    expect(() => new Mutex(null, { poison: 1 as never })).toThrow(/`poison`/);
  });
});
