import { afterEach, describe, expect, it, vi } from "vitest";
import { PoisonError, RwLock, TimeoutError, UseAfterReleaseError } from "../../src/index.js";
import { assertPending, assertReady, assertRejected, flush } from "../helpers/poll.js";

afterEach(() => {
  vi.useRealTimers();
});

describe("RwLock", () => {
  it("admits many readers at once and one writer alone", async () => {
    const lock = new RwLock({ n: 1 });
    const r1 = await assertReady(lock.read());
    const r2 = await assertReady(lock.read());
    expect(lock.readers).toBe(2);
    expect(r1.value.n + r2.value.n).toBe(2);
    const writer = lock.write();
    await assertPending(writer);
    r1.release();
    await assertPending(writer);
    r2.release();
    const w = await assertReady(writer);
    expect(lock.isWriteLocked).toBe(true);
    expect(lock.readers).toBe(0);
    w.value.n = 5;
    expect(lock.tryRead()).toBeUndefined();
    w.release();
    expect(lock.isWriteLocked).toBe(false);
    expect(lock.tryRead()?.value.n).toBe(5);
  });

  it("a queued writer blocks readers that arrive after it (no writer starvation)", async () => {
    const lock = new RwLock(0);
    const reader = await lock.read();
    const writer = lock.write();
    const lateReader = lock.read();
    expect(lock.tryRead()).toBeUndefined();
    await assertPending(lateReader);
    reader.release();
    const w = await assertReady(writer);
    await assertPending(lateReader);
    w.release();
    (await assertReady(lateReader)).release();
  });

  it("consecutive readers at the head are admitted together, up to the next writer", async () => {
    const lock = new RwLock(0);
    const w = await lock.write();
    const r1 = lock.read();
    const r2 = lock.read();
    const w2 = lock.write();
    const r3 = lock.read();
    w.release();
    const g1 = await assertReady(r1);
    const g2 = await assertReady(r2);
    await assertPending(w2);
    await assertPending(r3);
    expect(lock.readers).toBe(2);
    g1.release();
    g2.release();
    (await assertReady(w2)).release();
    (await assertReady(r3)).release();
  });

  it("downgrade keeps the lock shared with no writer in between and admits head readers", async () => {
    const lock = new RwLock([1]);
    const writer = await lock.write();
    const r1 = lock.read();
    const w2 = lock.write();
    const r2 = lock.read();
    writer.value.push(2);
    const reader = writer.downgrade();
    expect(writer.released).toBe(true);
    expect(() => writer.value).toThrow(UseAfterReleaseError);
    expect(reader.value).toEqual([1, 2]);
    const g1 = await assertReady(r1);
    await assertPending(w2);
    await assertPending(r2);
    expect(lock.readers).toBe(2);
    reader.release();
    g1.release();
    (await assertReady(w2)).release();
    (await assertReady(r2)).release();
    expect(lock.readers).toBe(0);
  });

  it("a writer that times out while collecting permits hands them on", async () => {
    vi.useFakeTimers();
    const lock = new RwLock(0, { maxReaders: 4 });
    const reader = await lock.read();
    const writer = lock.write({ timeout: 10 });
    const lateReader = lock.read();
    await assertPending(writer);
    await assertPending(lateReader);
    const rejected = expect(writer).rejects.toBeInstanceOf(TimeoutError);
    await vi.advanceTimersByTimeAsync(10);
    await rejected;
    // The late reader was only blocked by the writer.
    (await assertReady(lateReader)).release();
    reader.release();
    const w = lock.tryWrite();
    expect(w).toBeDefined();
    w?.release();
    expect(vi.getTimerCount()).toBe(0);
  });

  it("maxReaders bounds concurrent readers", async () => {
    const lock = new RwLock(0, { maxReaders: 2 });
    const a = await lock.read();
    const b = await lock.read();
    expect(lock.tryRead()).toBeUndefined();
    const c = lock.read();
    await assertPending(c);
    a.release();
    (await assertReady(c)).release();
    b.release();
    expect(() => new RwLock(0, { maxReaders: 0 })).toThrow(RangeError);
    expect(() => new RwLock(0, { maxReaders: 1.5 })).toThrow(
      "Expected `maxReaders` to be an integer from 1 to 2147483647, got 1.5",
    );
  });

  it("withRead / withWrite release in every case; withWrite poisons when opted in", async () => {
    const lock = new RwLock(1, { poison: true });
    await expect(lock.withRead((g) => g.value * 2)).resolves.toBe(2);
    await expect(
      lock.withRead(() => {
        throw new Error("reader");
      }),
    ).rejects.toThrow("reader");
    expect(lock.isPoisoned).toBe(false); // readers never poison
    await expect(
      lock.withWrite((g) => {
        g.value = 2;
        throw new Error("writer");
      }),
    ).rejects.toThrow("writer");
    expect(lock.isPoisoned).toBe(true);
    expect(lock.readers).toBe(0);
    expect(lock.isWriteLocked).toBe(false);
    expect(await assertRejected(lock.read())).toBeInstanceOf(PoisonError);
    expect(await assertRejected(lock.write())).toBeInstanceOf(PoisonError);
    expect(await assertRejected(lock.upgradableRead())).toBeInstanceOf(PoisonError);
    expect(() => lock.tryRead()).toThrow(PoisonError);
    expect(() => lock.tryWrite()).toThrow(PoisonError);
    const r = await lock.read({ ignorePoison: true });
    expect(r.value).toBe(2);
    r.release();
    lock.clearPoison();
    expect(lock.tryWrite()).toBeDefined();
  });

  it("write guards can poison explicitly; queued readers then reject", async () => {
    const lock = new RwLock(0);
    const w = await lock.write();
    const r = lock.read();
    w.poison();
    w.release();
    expect(await assertRejected(r)).toBeInstanceOf(PoisonError);
    expect(lock.readers).toBe(0);
  });

  describe("upgradable reads", () => {
    it("share with readers, exclude each other, and upgrade when readers leave", async () => {
      const lock = new RwLock(new Map<string, number>());
      const up = await assertReady(lock.upgradableRead());
      const reader = await assertReady(lock.read());
      const up2 = lock.upgradableRead();
      await assertPending(up2);
      expect(lock.tryUpgradableRead()).toBeUndefined();
      expect(up.tryUpgrade()).toBeUndefined(); // the plain reader is still there
      const upgrading = up.upgrade();
      await assertPending(upgrading);
      reader.release();
      const writer = await assertReady(upgrading);
      expect(up.released).toBe(true);
      expect(lock.isWriteLocked).toBe(true);
      writer.value.set("k", 1);
      // The upgradable slot was freed by the upgrade; the second upgradable reader waits for the writer.
      await assertPending(up2);
      writer.release();
      const second = await assertReady(up2);
      expect(second.value.get("k")).toBe(1);
      second.release();
      expect(lock.readers).toBe(0);
    });

    it("upgrade goes ahead of a queued writer instead of deadlocking behind it", async () => {
      const lock = new RwLock(0, { maxReaders: 8 });
      const up = await lock.upgradableRead();
      const reader = await lock.read();
      const writer = lock.write(); // queued, collects free permits while it waits
      await assertPending(writer);
      const upgrading = up.upgrade();
      reader.release();
      const w = await assertReady(upgrading);
      await assertPending(writer);
      w.value = 1;
      w.release();
      const w2 = await assertReady(writer);
      expect(w2.value).toBe(1);
      w2.release();
    });

    it("tryUpgrade succeeds when it is the only reader", async () => {
      const lock = new RwLock(0);
      const up = await lock.upgradableRead();
      const w = up.tryUpgrade();
      expect(w).toBeDefined();
      expect(up.released).toBe(true);
      expect(() => up.tryUpgrade()).toThrow(UseAfterReleaseError);
      w?.release();
      expect(lock.tryWrite()).toBeDefined();
    });

    it("downgrade keeps shared access and frees the upgradable slot", async () => {
      const lock = new RwLock(0);
      const up = await lock.upgradableRead();
      const reader = up.downgrade();
      expect(up.released).toBe(true);
      const up2 = await assertReady(lock.upgradableRead());
      expect(lock.readers).toBe(2);
      up2.release();
      reader.release();
      expect(lock.readers).toBe(0);
      expect(lock.tryWrite()).toBeDefined();
    });

    it("an aborted upgrade leaves the guard valid and hands back what it collected", async () => {
      const lock = new RwLock(0, { maxReaders: 4 });
      const up = await lock.upgradableRead();
      const reader = await lock.read();
      const controller = new AbortController();
      const upgrading = up.upgrade({ signal: controller.signal });
      controller.abort();
      await assertRejected(upgrading);
      expect(up.released).toBe(false);
      expect(up.value).toBe(0);
      // A second reader still gets in: the aborted upgrade holds nothing.
      const reader2 = lock.tryRead();
      expect(reader2).toBeDefined();
      reader2?.release();
      reader.release();
      up.release();
      expect(lock.tryWrite()).toBeDefined();
    });

    it("releasing the guard while an upgrade is pending cancels the upgrade (regression: double release of the read permit)", async () => {
      const lock = new RwLock(0, { maxReaders: 4 });
      const up = await lock.upgradableRead();
      const reader = await lock.read();
      const upgrading = up.upgrade();
      up.release();
      expect(await assertRejected(upgrading)).toBeInstanceOf(UseAfterReleaseError);
      reader.release();
      expect(lock.readers).toBe(0);
      const w = lock.tryWrite();
      expect(w).toBeDefined();
      expect(lock.tryRead()).toBeUndefined();
      w?.release();
    });

    it("a release right after the upgrade is granted does not give the permit back twice", async () => {
      const lock = new RwLock(0, { maxReaders: 4 });
      const up = await lock.upgradableRead();
      const reader = await lock.read();
      const upgrading = up.upgrade();
      reader.release(); // grants the upgrade synchronously
      up.release(); // before the upgrade promise settles: must be a no-op now
      const w = await assertReady(upgrading);
      expect(lock.tryRead()).toBeUndefined();
      w.release();
      expect(lock.readers).toBe(0);
    });

    it("a second concurrent upgrade rejects", async () => {
      const lock = new RwLock(0);
      const up = await lock.upgradableRead();
      const reader = await lock.read();
      const first = up.upgrade();
      expect(await assertRejected(up.upgrade())).toBeInstanceOf(UseAfterReleaseError);
      reader.release();
      (await assertReady(first)).release();
    });

    it("a timeout is shared between waiting for the slot and for a permit", async () => {
      vi.useFakeTimers();
      const lock = new RwLock(0);
      const up = await lock.upgradableRead();
      const second = lock.upgradableRead({ timeout: 100 });
      await vi.advanceTimersByTimeAsync(60);
      await assertPending(second);
      const w = lock.write(); // queued, so the second upgradable reader must wait for a permit too
      await flush();
      up.release();
      const writer = await assertReady(w);
      await vi.advanceTimersByTimeAsync(39);
      await assertPending(second);
      const rejected = expect(second).rejects.toBeInstanceOf(TimeoutError);
      await vi.advanceTimersByTimeAsync(1);
      await rejected;
      writer.release();
      expect(lock.tryUpgradableRead()).toBeDefined();
      expect(vi.getTimerCount()).toBe(0);
    });
  });

  it("read guards and the lock are not structured-cloneable", async () => {
    const lock = new RwLock(0);
    const r = await lock.read();
    expect(() => structuredClone(lock)).toThrow(expect.objectContaining({ name: "DataCloneError" }));
    expect(() => structuredClone(r)).toThrow(expect.objectContaining({ name: "DataCloneError" }));
    r.release();
    r.release();
    expect(lock.readers).toBe(0);
  });
});
