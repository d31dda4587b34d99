/**
 * Worker fixture for rw-lock-upgrade.test.ts: runs one upgrade-lifecycle scenario (workerData.scenario)
 * against a threads RwLock made here, and posts what it observed. It runs in a worker because the bug
 * it guards against (issue 9, finding 1) spun the event loop forever: the test thread can then still
 * time the worker out and terminate it.
 */
import { parentPort, workerData } from "node:worker_threads";
import { RwLock, type RwLockWriteGuard, UseAfterReleaseError } from "../../src/threads/index.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type Outcome = "pending" | "upgraded" | `rejected ${string}`;

/** Tracks a pending upgrade's outcome without awaiting it. */
function watch(promise: Promise<RwLockWriteGuard<Int32Array>>) {
  const seen: { outcome: Outcome; writer?: RwLockWriteGuard<Int32Array> } = { outcome: "pending" };
  promise.then(
    (writer) => {
      seen.outcome = "upgraded";
      seen.writer = writer;
    },
    (error: unknown) => {
      const name = error instanceof UseAfterReleaseError ? "UseAfterReleaseError" : String(error);
      seen.outcome = `rejected ${name}`;
    },
  );
  return seen;
}

/** Whether the lock is entirely free now (a write lock can be taken and given back). */
function free(lock: RwLock<Int32Array>): boolean {
  const writer = lock.tryWrite();
  writer?.release();
  return writer !== undefined;
}

const newLock = () => new RwLock(new Int32Array(new SharedArrayBuffer(4)));

const scenarios: Record<string, () => Promise<unknown>> = {
  async releaseWhilePending() {
    const lock = newLock();
    const reader = await lock.read();
    const upgradable = await lock.upgradableRead();
    const upgrade = watch(upgradable.upgrade());
    await sleep(20); // parked, waiting for the reader
    upgradable.release();
    await sleep(20);
    const afterRelease = upgrade.outcome;
    reader.release(); // the last reader out wakes the writers' side (the old code then spun)
    await sleep(120);
    return { afterRelease, final: upgrade.outcome, free: free(lock) };
  },

  async downgradeWhilePending() {
    const lock = newLock();
    const reader = await lock.read();
    const upgradable = await lock.upgradableRead();
    const upgrade = watch(upgradable.upgrade());
    await sleep(20);
    const downgraded = upgradable.downgrade();
    await sleep(20);
    const afterDowngrade = upgrade.outcome;
    const readers = lock.readers;
    reader.release();
    await sleep(120);
    const value = downgraded.value[0];
    downgraded.release();
    return { afterDowngrade, final: upgrade.outcome, readers, value, free: free(lock) };
  },

  async tryUpgradeWhilePending() {
    const lock = newLock();
    const reader = await lock.read();
    const upgradable = await lock.upgradableRead();
    const upgrade = watch(upgradable.upgrade());
    await sleep(20);
    reader.release(); // the upgradable share is now the only one; the pending upgrade wakes later
    const tried = upgradable.tryUpgrade(); // refused: an upgrade is pending
    await sleep(120);
    const final = upgrade.outcome;
    upgrade.writer?.release();
    return { tried: tried === undefined ? "undefined" : "a write guard", final, free: free(lock) };
  },

  async twoUpgrades() {
    const lock = newLock();
    const reader = await lock.read();
    const upgradable = await lock.upgradableRead();
    const first = watch(upgradable.upgrade());
    const second = watch(upgradable.upgrade());
    await sleep(20);
    const secondEarly = second.outcome;
    reader.release();
    await sleep(120);
    const final = first.outcome;
    first.writer?.release();
    return { secondEarly, final, free: free(lock) };
  },

  async orphanAndNewUpgradable() {
    const lock = newLock();
    const reader = await lock.read();
    const upgradable = await lock.upgradableRead();
    const orphan = watch(upgradable.upgrade());
    await sleep(20);
    upgradable.release();
    // Another task of this thread takes the upgradable share; then the other reader leaves.
    const next = await lock.upgradableRead({ timeout: 1_000 });
    reader.release();
    await sleep(120);
    const during = { orphan: orphan.outcome, writeLocked: lock.isWriteLocked, readers: lock.readers };
    orphan.writer?.release();
    // The new guard is intact: it upgrades itself.
    const writer = await next.upgrade({ timeout: 1_000 });
    writer.release();
    return { ...during, free: free(lock) };
  },
};

const scenario = scenarios[(workerData as { scenario: string }).scenario];
try {
  parentPort?.postMessage({ ok: true, value: await scenario!() });
} catch (error) {
  parentPort?.postMessage({ ok: false, error: String(error) });
}
