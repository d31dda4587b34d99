/**
 * threads RwLock, the upgrade lifecycle through the public API (issue 9, finding 1): releasing,
 * downgrading or tryUpgrade-ing an upgradable guard while its own upgrade() is pending, and a second
 * concurrent upgrade(), behave as in the in-process RwLock: the pending upgrade is cancelled (rejects
 * with UseAfterReleaseError), a second upgrade() rejects, tryUpgrade() returns undefined. Before the
 * fix these spun the event loop forever, and an orphaned upgrade could turn another task's upgradable
 * share into the write lock. Each scenario runs in its own worker (rw-lock-scenarios.ts) so that a
 * spinning thread fails the test by timing out instead of hanging the test runner.
 */
import { Worker } from "node:worker_threads";
import { afterAll, describe, expect, it } from "vitest";

const BOOT = new URL("../workers/lock-boot.mjs", import.meta.url);
const live = new Set<Worker>();

/** Runs `scenario` in a fresh worker; rejects if it does not report within `timeout` ms (a spin). */
function run(scenario: string, timeout = 10_000): Promise<Record<string, unknown>> {
  const worker = new Worker(BOOT, { workerData: { fixture: "../threads/rw-lock-scenarios.ts", scenario } });
  live.add(worker);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`${scenario}: no report within ${timeout} ms (the worker's event loop is stuck)`));
      void worker.terminate();
    }, timeout);
    worker.once("message", (message: { ok: boolean; value?: Record<string, unknown>; error?: string }) => {
      clearTimeout(timer);
      void worker.terminate();
      if (message.ok) resolve(message.value!);
      else reject(new Error(`${scenario}: ${message.error}`));
    });
    worker.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

afterAll(async () => {
  await Promise.all([...live].map((worker) => worker.terminate()));
});

describe("threads RwLockUpgradableReadGuard: one upgrade at a time, cancelled by release or downgrade", () => {
  it("release() while upgrade() is pending: the upgrade rejects with UseAfterReleaseError; the lock ends free", async () => {
    expect(await run("releaseWhilePending")).toEqual({
      afterRelease: "rejected UseAfterReleaseError",
      final: "rejected UseAfterReleaseError",
      free: true,
    });
  });

  it("downgrade() while upgrade() is pending: the upgrade rejects; the read guard works; the lock ends free", async () => {
    expect(await run("downgradeWhilePending")).toEqual({
      afterDowngrade: "rejected UseAfterReleaseError",
      final: "rejected UseAfterReleaseError",
      readers: 2,
      value: 0,
      free: true,
    });
  });

  it("tryUpgrade() while upgrade() is pending returns undefined; the pending upgrade then completes", async () => {
    expect(await run("tryUpgradeWhilePending")).toEqual({ tried: "undefined", final: "upgraded", free: true });
  });

  it("a second upgrade() while one is pending rejects at once; the first completes", async () => {
    expect(await run("twoUpgrades")).toEqual({
      secondEarly: "rejected UseAfterReleaseError",
      final: "upgraded",
      free: true,
    });
  });

  it("an upgrade orphaned by release() never takes another task's upgradable share as a write lock", async () => {
    expect(await run("orphanAndNewUpgradable")).toEqual({
      orphan: "rejected UseAfterReleaseError",
      writeLocked: false,
      readers: 1,
      free: true,
    });
  });
});
