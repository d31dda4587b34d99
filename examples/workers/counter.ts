/** Worker side of worker-pool.ts: increments the shared counter under a blocking lock. */
import { workerData } from "node:worker_threads";
import { Mutex } from "lockbox/threads";
import type { Counter } from "../worker-pool.js";

const counter = Mutex.from<Counter>(workerData.counter); // same memory as the main thread's Mutex
for (let i = 0; i < workerData.increments; i++) {
  const guard = counter.lockSync({ timeout: 10_000 }); // a worker may block its own thread
  guard.value.count++;
  guard.value.lastWriter = workerData.id;
  guard.release();
}
