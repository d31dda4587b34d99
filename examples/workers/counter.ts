/** Worker side of worker-pool.ts: increments the shared counter under a blocking lock. */
import { workerData } from "node:worker_threads";
import { Mutex } from "lockbox/threads";
import type { Counter } from "../worker-pool.js";

// #region tour
// Rebuilt over the same memory as the main thread's Mutex:
const counter = Mutex.from<Counter>(workerData.counter);
for (let i = 0; i < workerData.increments; i++) {
  // A worker may block its own thread: lockSync().
  const guard = counter.lockSync({ timeout: 10_000 });
  guard.value.count++;
  guard.value.lastWriter = workerData.id;
  guard.release();
}
// #endregion tour
