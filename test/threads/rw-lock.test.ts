/**
 * threads RwLock regressions through the public API, in one thread (issue 9):
 * - finding 7: a write() or upgrade() that gives up (timeout, abort) no longer leaves the
 *   writers-waiting flag behind, so readers are not refused while only readers hold;
 * - finding 9: a downgrade() whose JSON write-back throws leaves the write guard held and leaks nothing;
 * - a guard whose data cannot be decoded (torn JSON) is never leaked by the acquire that fails.
 * The upgrade lifecycle (finding 1) is in rw-lock-upgrade.test.ts: its old failure spins a thread.
 */
import { afterEach, describe, expect, it } from "vitest";
import { json, RwLock, TimeoutError, UseAfterReleaseError } from "../../src/threads/index.js";
import { parkedWaiters } from "../../src/threads/runtime/keep-alive.js";

function shared(length: number): Int32Array {
  return new Int32Array(new SharedArrayBuffer(4 * length));
}

const tick = (ms = 2) => new Promise((resolve) => setTimeout(resolve, ms));

/** Keeps trying `tryRead` until it is refused (a waiting writer has flagged itself), for up to 2 s. */
async function readersHeldBack(lock: RwLock<Int32Array>): Promise<boolean> {
  for (let i = 0; i < 200; i++) {
    const guard = lock.tryRead();
    if (guard === undefined) return true;
    guard.release();
    await tick(10);
  }
  return false;
}

afterEach(async () => {
  // Abandoned waitAsync parks end within one poll period (50 ms).
  for (let i = 0; i < 50 && parkedWaiters() > 0; i++) await tick(10);
  expect(parkedWaiters()).toBe(0);
});

describe("threads RwLock: a writer that gives up withdraws its writers-waiting flag (issue 9, finding 7)", () => {
  it("write({ timeout }) times out while a reader holds: new readers get in, a nested read does not deadlock", async () => {
    const lock = new RwLock(shared(1));
    const outer = await lock.read();
    await expect(lock.write({ timeout: 30 })).rejects.toBeInstanceOf(TimeoutError);
    const nested = lock.tryRead();
    expect(nested).toBeDefined();
    nested?.release();
    const awaited = await lock.read({ timeout: 1_000 });
    awaited.release();
    outer.release();
    expect(lock.readers).toBe(0);
    lock.tryWrite()?.release();
  });

  it("write({ signal }) aborted while parked: new readers get in", async () => {
    const lock = new RwLock(shared(1));
    const outer = await lock.read();
    const controller = new AbortController();
    const pending = lock.write({ signal: controller.signal });
    await tick(20); // parked, flag set
    expect(lock.tryRead()).toBeUndefined(); // writer preference while it waits
    controller.abort(new Error("gave up"));
    await expect(pending).rejects.toThrow("gave up");
    const nested = lock.tryRead();
    expect(nested).toBeDefined();
    nested?.release();
    outer.release();
  });

  it("writeSync({ timeout }) times out while a reader holds: new readers get in", async () => {
    const lock = new RwLock(shared(1));
    const outer = lock.readSync();
    expect(() => lock.writeSync({ timeout: 20 })).toThrow(TimeoutError);
    const nested = lock.tryRead();
    expect(nested).toBeDefined();
    nested?.release();
    outer.release();
  });

  it("upgrade({ timeout }) times out while a reader holds: the share is kept, new readers get in", async () => {
    const lock = new RwLock(shared(1));
    const other = await lock.read();
    const upgradable = await lock.upgradableRead();
    await expect(upgradable.upgrade({ timeout: 30 })).rejects.toBeInstanceOf(TimeoutError);
    expect(upgradable.released).toBe(false);
    const nested = lock.tryRead();
    expect(nested).toBeDefined();
    nested?.release();
    other.release();
    // The kept share can still upgrade.
    const writer = await upgradable.upgrade({ timeout: 1_000 });
    writer.release();
    expect(lock.readers).toBe(0);
    expect(lock.isWriteLocked).toBe(false);
  });

  it("upgradeSync({ timeout }) times out while a reader holds: new readers get in", async () => {
    const lock = new RwLock(shared(1));
    const other = lock.readSync();
    const upgradable = lock.upgradableReadSync();
    expect(() => upgradable.upgradeSync({ timeout: 20 })).toThrow(TimeoutError);
    const nested = lock.tryRead();
    expect(nested).toBeDefined();
    nested?.release();
    other.release();
    upgradable.upgradeSync({ timeout: 1_000 }).release();
    expect(lock.readers).toBe(0);
  });

  it("a writer that still waits keeps writer preference after another writer gives up", async () => {
    const lock = new RwLock(shared(1));
    const outer = await lock.read();
    const staying = lock.write({ timeout: 5_000 });
    await expect(lock.write({ timeout: 30 })).rejects.toBeInstanceOf(TimeoutError);
    // The staying writer was woken and flags itself again: readers are held back (again).
    expect(await readersHeldBack(lock)).toBe(true);
    outer.release();
    const writer = await staying;
    writer.release();
    expect(lock.readers).toBe(0);
  });
});

describe("threads RwLockUpgradableReadGuard: upgradeSync() while an async upgrade() is pending (issue 9, finding 1)", () => {
  it("throws UseAfterReleaseError at once and leaves the pending upgrade alone", async () => {
    const lock = new RwLock(shared(1));
    const other = await lock.read();
    const upgradable = await lock.upgradableRead();
    const pending = upgradable.upgrade({ timeout: 5_000 });
    expect(() => upgradable.upgradeSync({ timeout: 50 })).toThrow(UseAfterReleaseError);
    expect(upgradable.released).toBe(false);
    other.release();
    const writer = await pending;
    expect(upgradable.released).toBe(true);
    writer.release();
    expect(lock.readers).toBe(0);
    expect(lock.isWriteLocked).toBe(false);
  });
});

describe("threads RwLock over json(): a downgrade whose write-back throws (issue 9, finding 9)", () => {
  it("throws RangeError and leaves the write guard held: nothing leaks, writers are not locked out", async () => {
    const lock = new RwLock(json({ n: 1 } as { n: number; pad?: string }, { maxBytes: 64 }));
    const writer = await lock.write();
    writer.value = { n: 2, pad: "x".repeat(200) };
    expect(() => writer.downgrade()).toThrow(RangeError);
    // Defined state: still the write guard, still write-locked, no read share taken.
    expect(writer.released).toBe(false);
    expect(lock.isWriteLocked).toBe(true);
    expect(lock.readers).toBe(0);
    expect(writer.value.n).toBe(2);
    // Fixed, it downgrades.
    writer.value = { n: 3 };
    const reader = writer.downgrade();
    expect(reader.value).toEqual({ n: 3 });
    expect(lock.readers).toBe(1);
    reader.release();
    const next = lock.tryWrite();
    expect(next?.value).toEqual({ n: 3 });
    next?.release();
  });

  it("after the failed downgrade, release gives the lock back (the stored value is the old one)", async () => {
    const lock = new RwLock(json({ n: 1 } as { n: number; pad?: string }, { maxBytes: 64 }));
    const writer = await lock.write();
    writer.value = { n: 2, pad: "x".repeat(200) };
    expect(() => writer.downgrade()).toThrow(RangeError);
    expect(() => writer.release()).toThrow(RangeError); // the write-back fails again, but it releases
    expect(writer.released).toBe(true);
    expect(lock.isWriteLocked).toBe(false);
    expect(lock.readers).toBe(0);
    const next = await lock.write({ timeout: 1_000 });
    expect(next.value).toEqual({ n: 1 });
    next.release();
  });
});

describe("threads RwLock over json(): an acquire whose data cannot be decoded leaks nothing", () => {
  it("read, write and upgradableRead over undecodable JSON reject or throw, and leave nothing held", async () => {
    const cell = json({ a: 1 }, { maxBytes: 64 });
    const lock = new RwLock(cell);
    // Memory written outside lockbox: the published text is no longer JSON (as in issue9.test.ts).
    new Uint8Array(cell.handle.buffer).fill(0x7b, 16, 16 + cell.byteLength);
    const syncAttempts = [
      () => lock.tryRead(),
      () => lock.tryWrite(),
      () => lock.tryUpgradableRead(),
      () => lock.readSync(),
      () => lock.writeSync(),
      () => lock.upgradableReadSync(),
    ];
    for (const attempt of syncAttempts) {
      expect(attempt).toThrow(SyntaxError);
      expect(lock.readers).toBe(0);
      expect(lock.isWriteLocked).toBe(false);
    }
    for (const attempt of [() => lock.read(), () => lock.write(), () => lock.upgradableRead()]) {
      await expect(attempt()).rejects.toThrow(/Cannot decode the JSON value/);
      expect(lock.readers).toBe(0);
      expect(lock.isWriteLocked).toBe(false);
    }
    // The documented repair works, and the lock was never left held.
    cell.set({ a: 2 });
    expect(await lock.withWrite((guard) => guard.value.a, { timeout: 1_000 })).toBe(2);
  });
});
