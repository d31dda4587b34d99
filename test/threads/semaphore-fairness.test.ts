/**
 * Issue 10, SPEC §4 "no waiter starves", for the threads Semaphore: a request for 2 permits of a
 * Semaphore(2) gets through while 2 workers re-take 1 permit each back to back with overlapping
 * holds (2 permits are never free together while both hogs run). Outcomes only: the 10 s timeout is
 * a bound against hangs, not a speed assertion. On the code before the starver protocol (fe1c56b)
 * both tests fail with TimeoutError.
 */
import { Worker } from "node:worker_threads";
import { afterEach, describe, expect, it } from "vitest";
import { Semaphore, TimeoutError } from "../../src/threads/index.js";
import { okValue, startWorker, terminateAll } from "./worker-helper.js";

const hogs: Worker[] = [];

afterEach(async () => {
  await Promise.all(hogs.splice(0).map((w) => w.terminate()));
  await terminateAll();
});

/**
 * Hog `me` (0 or 1) of a pair that hold 1 permit each, in turn, always overlapping: `stop[2 + me]` is
 * 1 while it holds, 2 while it is about to re-acquire or inside `acquireSync(1)`. It lets go only on
 * its turn (`stop[4]`) and once the other hog holds again — or has been trying to acquire for `spin`
 * re-reads (it is then blocked: without that escape the pair would wait for each other) — passes the
 * turn, and at once acquires again; until `stop[0]` is set. It counts its rounds in `stop[1]`. So at
 * most 1 permit is free whenever a hog can take one: 2 are free together only while a hog waits in
 * `acquireSync`, which happens when a 2-permit waiter has been let through first.
 */
function startHog(semaphore: Semaphore, stop: Int32Array, me: number, spin: number): Promise<void> {
  const tsx = JSON.stringify(import.meta.resolve("tsx/esm/api"));
  const lib = JSON.stringify(new URL("../../src/threads/index.ts", import.meta.url).href);
  const code = `
    const { workerData, parentPort } = require("node:worker_threads");
    import(${tsx}).then((api) => { api.register(); return import(${lib}); }).then(({ Semaphore }) => {
      const semaphore = Semaphore.from(workerData.handle);
      const { stop, me, spin } = workerData;
      const other = 3 - me;
      parentPort.postMessage("ready");
      while (Atomics.load(stop, 0) === 0) {
        Atomics.store(stop, 2 + me, 2);
        const permit = semaphore.acquireSync(1);
        Atomics.store(stop, 2 + me, 1);
        let trying = 0;
        while (Atomics.load(stop, 0) === 0) {
          if (Atomics.load(stop, 4) !== me) continue;
          const state = Atomics.load(stop, other);
          if (state === 1 || (state === 2 && ++trying >= spin)) break;
          if (state !== 2) trying = 0;
        }
        Atomics.store(stop, 2 + me, 2);
        Atomics.store(stop, 4, 1 - me);
        permit.release();
        Atomics.add(stop, 1, 1);
      }
    });`;
  const worker = new Worker(code, { eval: true, workerData: { handle: semaphore.handle, stop, me, spin } });
  hogs.push(worker);
  return new Promise((resolve, reject) => {
    worker.once("message", () => resolve());
    worker.once("error", reject);
  });
}

async function hogging(spin: number): Promise<{ semaphore: Semaphore; stop: Int32Array }> {
  const semaphore = new Semaphore(2);
  const stop = new Int32Array(new SharedArrayBuffer(20));
  await Promise.all([startHog(semaphore, stop, 0, spin), startHog(semaphore, stop, 1, spin)]);
  // Let both hogs get going (a round count, not a time).
  while (Atomics.load(stop, 1) < 1000) await new Promise((resolve) => setTimeout(resolve, 1));
  return { semaphore, stop };
}

async function outcome<T>(attempt: Promise<T>): Promise<T | TimeoutError> {
  try {
    return await attempt;
  } catch (error) {
    if (error instanceof TimeoutError) return error;
    throw error;
  }
}

describe("threads Semaphore: a multi-permit request does not starve against overlapping holders", () => {
  it("the main thread's acquire(2) gets through 2 workers re-taking acquireSync(1) back to back", async () => {
    const { semaphore, stop } = await hogging(5_000_000);
    const result = await outcome(semaphore.acquire(2, { timeout: 10_000 }));
    Atomics.store(stop, 0, 1);
    expect(result).not.toBeInstanceOf(TimeoutError);
    (result as { release(): void }).release();
  }, 30_000);

  it("a worker's acquireSync(2) gets through the same hogs", async () => {
    const { semaphore, stop } = await hogging(5_000_000);
    const waiter = await startWorker();
    const reply = await waiter.call(
      "semaphoreAcquire",
      { semaphore: semaphore.handle, permits: 2, mode: "sync" },
      20_000,
    );
    Atomics.store(stop, 0, 1);
    // The fixture forgets the permits it took: 2 of them (a TimeoutError reply if it starved).
    expect(okValue(reply)).toBe(2);
  }, 30_000);
});
