/**
 * Regression tests for issue 9, in-process findings (scope `lockbox`). Each test goes through the public
 * API and fails on the code before its fix.
 *
 * | finding | test (describe › it) |
 * |---|---|
 * | 4  | finding 4 › an aborted upgrade released in the same tick leaves the queued writer alone |
 * | 4  | finding 4 › an aborted upgrade downgraded in the same tick leaves the queued writer alone |
 * | 4  | finding 4 › a timed-out upgrade released in the same tick leaves the queued writer alone |
 * | 4  | finding 4 › a new upgrade() right after an aborted one is not refused as "already pending" |
 * | 11 | finding 11 › an abort in the same tick as the last grant rejects and hands every key on |
 * | 11 | finding 11 › an abort right after the call, with every key free, rejects like lock() |
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { KeyedMutex, RwLock } from "../../src/index.js";
import { assertPending, assertReady, assertRejected } from "../helpers/poll.js";

afterEach(() => {
  vi.useRealTimers();
});

/** An upgradable guard whose upgrade() waits for a second reader, with a writer queued behind it. */
async function upgradeScene() {
  const lock = new RwLock({ n: 0 });
  const upgradable = await lock.upgradableRead();
  const reader = await lock.read();
  const controller = new AbortController();
  const upgrade = upgradable.upgrade({ signal: controller.signal });
  const writer = lock.write();
  await assertPending(upgrade);
  await assertPending(writer);
  return { lock, upgradable, reader, controller, upgrade, writer };
}

describe("finding 4: in-process RwLock cancels an upgrade by identity, never by queue position", () => {
  it("an aborted upgrade released in the same tick leaves the queued writer alone", async () => {
    const { lock, upgradable, reader, controller, upgrade, writer } = await upgradeScene();
    const reason = new Error("stop");
    controller.abort(reason);
    upgradable.release(); // same tick: the upgrade's waiter has already left the queue
    expect(await assertRejected(upgrade)).toBe(reason);
    await assertPending(writer); // still waits for `reader`
    reader.release();
    const w = await assertReady(writer);
    expect(lock.isWriteLocked).toBe(true);
    w.value.n = 1;
    w.release();
    expect(lock.tryWrite()?.value.n).toBe(1);
  });

  it("an aborted upgrade downgraded in the same tick leaves the queued writer alone", async () => {
    const { lock, upgradable, reader, controller, upgrade, writer } = await upgradeScene();
    controller.abort(new Error("stop"));
    const plain = upgradable.downgrade();
    await assertRejected(upgrade);
    await assertPending(writer);
    expect(lock.readers).toBe(2);
    reader.release();
    plain.release();
    (await assertReady(writer)).release();
  });

  it("a timed-out upgrade released in the same tick leaves the queued writer alone", async () => {
    vi.useFakeTimers();
    const lock = new RwLock(0);
    const upgradable = await lock.upgradableRead();
    const reader = await lock.read();
    const upgrade = upgradable.upgrade({ timeout: 100 });
    const writer = lock.write();
    await assertPending(writer);
    vi.advanceTimersByTime(100); // the upgrade times out and leaves the queue ...
    upgradable.release(); // ... and its guard goes before any microtask runs
    await assertRejected(upgrade);
    await assertPending(writer);
    reader.release();
    (await assertReady(writer)).release();
  });

  it('a new upgrade() right after an aborted one is not refused as "already pending"', async () => {
    const lock = new RwLock(0);
    const upgradable = await lock.upgradableRead();
    const reader = await lock.read();
    const controller = new AbortController();
    const first = upgradable.upgrade({ signal: controller.signal });
    controller.abort(new Error("stop"));
    const second = upgradable.upgrade(); // same tick: the first one is no longer pending
    await assertRejected(first);
    await assertPending(second);
    reader.release();
    const w = await assertReady(second);
    expect(lock.isWriteLocked).toBe(true);
    w.release();
  });
});

describe("finding 11: KeyedMutex.lockMany lets an abort win over an unseen grant, as lock() does", () => {
  it("an abort in the same tick as the last grant rejects and hands every key on", async () => {
    const locks = new KeyedMutex<string>();
    const holder = await locks.lock("b");
    const controller = new AbortController();
    const many = locks.lockMany(["b", "a"], { signal: controller.signal });
    const next = locks.lock("b"); // queued behind lockMany on "b"
    await assertPending(many);
    expect(locks.isLocked("a")).toBe(true); // taken first, while waiting for "b"
    const reason = new Error("stop");
    holder.release(); // grants "b" to lockMany ...
    controller.abort(reason); // ... and the abort lands before lockMany's caller resumes
    expect(await assertRejected(many)).toBe(reason);
    expect(locks.isLocked("a")).toBe(false);
    const g = await assertReady(next); // "b" was handed on, not kept
    expect(g.value).toBe("b");
    g.release();
    expect(locks.size).toBe(0);

    // The single-key acquire behaves the same way (the reference behaviour).
    const holder2 = await locks.lock("c");
    const controller2 = new AbortController();
    const one = locks.lock("c", { signal: controller2.signal });
    holder2.release();
    controller2.abort(reason);
    expect(await assertRejected(one)).toBe(reason);
    expect(locks.size).toBe(0);
  });

  it("an abort right after the call, with every key free, rejects like lock()", async () => {
    const locks = new KeyedMutex<number>();
    const controller = new AbortController();
    const many = locks.lockMany([2, 1], { signal: controller.signal });
    const one = locks.lock(3, { signal: controller.signal });
    controller.abort(new Error("stop"));
    await assertRejected(one);
    await assertRejected(many);
    expect(locks.size).toBe(0);
    expect(locks.tryLock(1)?.release()).toBeUndefined();
  });
});
