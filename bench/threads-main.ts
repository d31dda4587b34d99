/**
 * The thread scenarios, main side: two workers increment one shared Int32 under a lock, in rounds
 * (a warm-up round, then the measured one). The main thread only starts rounds and checks the total.
 */

import { once } from "node:events";
import { Worker } from "node:worker_threads";
import { Skipped } from "./adapters.js";
import type { ScenarioResult } from "./scenarios.js";
import { loadThreadsMutex } from "./threads-types.js";
import { expect, nowNs } from "./util.js";

export type ThreadMode = "sync" | "async";

/** What a bench worker receives as `workerData`. */
export interface ThreadsWorkerData {
  lib: string;
  mode: ThreadMode;
  /** floor: [0] = futex word, [1] = counter. lockbox: the counter lives in the lock's data. */
  shared: SharedArrayBuffer | undefined;
  /** lockbox: the Mutex handle (rebuilt with `Mutex.from`). */
  handle: unknown;
  /**
   * Start gate, one Int32: each worker adds 1 on receiving a round, then spins until all have, so that
   * both really contend from the first increment. Without it the second worker often started after
   * the first was nearly done, and the fastest round measured an uncontended lock.
   */
  gate: SharedArrayBuffer;
  /** How many workers the gate waits for. */
  workers: number;
}

const WORKERS = 2;

/**
 * How to start a bench worker. The runner normally runs transpiled JavaScript (compile.ts), which a worker
 * loads as is. Under `--tsx` this module is TypeScript, and in Node 20 a worker does not get its parent's
 * `--import tsx` hooks (a `.ts` entry fails with ERR_UNKNOWN_FILE_EXTENSION), so the worker is started
 * from a small eval'd bootstrap that registers tsx and then imports the TypeScript entry.
 */
function startWorker(data: ThreadsWorkerData): Worker {
  if (!import.meta.url.endsWith(".ts")) {
    return new Worker(new URL("./threads-worker.js", import.meta.url), { workerData: data });
  }
  const tsx = JSON.stringify(import.meta.resolve("tsx/esm/api"));
  const entry = JSON.stringify(new URL("./threads-worker.ts", import.meta.url).href);
  const bootstrap = `import(${tsx}).then((api) => { api.register(); return import(${entry}); })`;
  return new Worker(bootstrap, { eval: true, workerData: data });
}

/** Runs a warm-up round, then `passes` measured rounds; reports the fastest (see `bestOf` in scenarios.ts). */
export async function runThreads(
  lib: string,
  mode: ThreadMode,
  perWorker: number,
  passes: number,
): Promise<ScenarioResult> {
  let data: ThreadsWorkerData;
  let counter: Int32Array;
  const gate = new SharedArrayBuffer(4);
  if (lib === "floor") {
    const shared = new SharedArrayBuffer(8);
    counter = new Int32Array(shared, 4, 1);
    data = { lib, mode, shared, handle: undefined, gate, workers: WORKERS };
  } else if (lib === "lockbox") {
    const Mutex = await loadThreadsMutex();
    if (typeof Mutex === "string") throw new Skipped(Mutex);
    counter = new Int32Array(new SharedArrayBuffer(4));
    const mutex = new Mutex(counter);
    data = { lib, mode, shared: undefined, handle: mutex.handle, gate, workers: WORKERS };
  } else {
    throw new Skipped(`${lib} has no thread lock`);
  }

  const workers: Worker[] = [];
  try {
    for (let i = 0; i < WORKERS; i++) {
      workers.push(startWorker(data));
    }
    await Promise.all(workers.map((w) => once(w, "message")));
    const round = async (n: number): Promise<number> => {
      Atomics.store(counter, 0, 0);
      Atomics.store(new Int32Array(gate), 0, 0);
      const done = Promise.all(workers.map((w) => once(w, "message")));
      const t0 = nowNs();
      for (const w of workers) w.postMessage(n);
      await done;
      const t1 = nowNs();
      const total = Atomics.load(counter, 0);
      expect(total === WORKERS * n, `counter is ${total}, expected ${WORKERS * n} (lost updates)`);
      return t1 - t0;
    };
    await round(Math.max(1000, perWorker / 10));
    let best = Number.POSITIVE_INFINITY;
    for (let i = 0; i < passes; i++) best = Math.min(best, await round(perWorker));
    return { value: best / (WORKERS * perWorker), extra: {} };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
