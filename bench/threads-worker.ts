/**
 * A bench worker thread: waits for a round (a message carrying `n`), increments the shared counter `n`
 * times under the lock, answers "done". The increment is a plain read and write, so broken exclusion
 * loses updates and the main thread's exact-total check fails.
 */

import { parentPort, workerData } from "node:worker_threads";
import { FutexMutex } from "./floors.js";
import type { ThreadsWorkerData } from "./threads-main.js";
import { loadThreadsMutex } from "./threads-types.js";

const { lib, mode, shared, handle, gate, workers } = workerData as ThreadsWorkerData;
const gateWord = new Int32Array(gate);
const port = parentPort;
if (port === null) throw new Error("threads-worker.ts runs as a worker thread");

type Round = (n: number) => void | Promise<void>;
let round: Round;

if (lib === "floor") {
  const words = new Int32Array(shared as SharedArrayBuffer);
  const futex = new FutexMutex(words, 0);
  round =
    mode === "sync"
      ? (n) => {
          for (let i = 0; i < n; i++) {
            futex.lockSync();
            words[1] = (words[1] as number) + 1;
            futex.unlock();
          }
        }
      : async (n) => {
          for (let i = 0; i < n; i++) {
            await futex.lockAsync();
            words[1] = (words[1] as number) + 1;
            futex.unlock();
          }
        };
} else {
  const Mutex = await loadThreadsMutex();
  if (typeof Mutex === "string") throw new Error(Mutex);
  const mutex = Mutex.from(handle);
  round =
    mode === "sync"
      ? (n) => {
          for (let i = 0; i < n; i++) {
            const guard = mutex.lockSync();
            const value = guard.value;
            value[0] = (value[0] as number) + 1;
            guard.release();
          }
        }
      : async (n) => {
          for (let i = 0; i < n; i++) {
            const guard = await mutex.lock();
            const value = guard.value;
            value[0] = (value[0] as number) + 1;
            guard.release();
          }
        };
}

// The port's message listener keeps this thread alive while a `waitAsync` is pending.
port.on("message", async (n: number) => {
  // Start gate: wait (spinning: both workers are already running) until every worker has its round.
  Atomics.add(gateWord, 0, 1);
  while (Atomics.load(gateWord, 0) < workers) {}
  await round(n);
  port.postMessage("done");
});
port.postMessage("ready");
