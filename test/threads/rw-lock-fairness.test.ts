/**
 * Eventual fairness of the threads RwLock across real workers (issue 10): a waiter of this thread
 * gets in while workers re-take the lock back to back. No timing assertion beyond the generous
 * timeout: a starved waiter fails with TimeoutError. The protocol itself (the registered starver) is
 * model checked step by step in test/threads/model/raw-rw-lock-fairness.test.ts.
 */
import { afterEach, describe, expect, it } from "vitest";
import { RwLock } from "../../src/threads/index.js";
import { okValue, startWorker, terminateAll } from "./worker-helper.js";

afterEach(terminateAll);

/** Starts `modes.length` hog workers on `lock`; returns the stop flag and their pending results. */
async function hogs(lock: RwLock<Int32Array>, modes: string[]) {
  const flag = new Int32Array(new SharedArrayBuffer(8));
  const workers = await Promise.all(modes.map(() => startWorker()));
  const churns = workers.map((w, k) => w.call("rwChurn", { lock, flag, mode: modes[k], limit: 20_000 }, 30_000));
  while (Atomics.load(flag, 1) < modes.length) await new Promise((resolve) => setTimeout(resolve, 1));
  // Let the hogs settle into their loop.
  await new Promise((resolve) => setTimeout(resolve, 20));
  return {
    async stop() {
      Atomics.store(flag, 0, 1);
      for (const churn of churns) expect((okValue(await churn) as { stopped: boolean }).stopped).toBe(true);
    },
  };
}

const rounds = 5;

describe("threads RwLock fairness across real workers", () => {
  it("write() gets in against a worker re-taking the write lock back to back", async () => {
    const lock = new RwLock(new Int32Array(new SharedArrayBuffer(4)));
    const h = await hogs(lock, ["write"]);
    for (let k = 0; k < rounds; k++) (await lock.write({ timeout: 5_000 })).release();
    await h.stop();
  });

  it("read() gets in against two workers re-taking the write lock back to back", async () => {
    const lock = new RwLock(new Int32Array(new SharedArrayBuffer(4)));
    const h = await hogs(lock, ["write", "write"]);
    for (let k = 0; k < rounds; k++) (await lock.read({ timeout: 5_000 })).release();
    await h.stop();
  });

  it("write() gets in against two workers re-taking read shares back to back", async () => {
    const lock = new RwLock(new Int32Array(new SharedArrayBuffer(4)));
    const h = await hogs(lock, ["read", "read"]);
    for (let k = 0; k < rounds; k++) (await lock.write({ timeout: 5_000 })).release();
    await h.stop();
  });

  it("upgradableRead() gets in against a writer hog and an upgradable-reader hog", async () => {
    const lock = new RwLock(new Int32Array(new SharedArrayBuffer(4)));
    const h = await hogs(lock, ["write", "upgradable"]);
    for (let k = 0; k < rounds; k++) (await lock.upgradableRead({ timeout: 5_000 })).release();
    await h.stop();
  });
});
