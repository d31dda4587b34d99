/** Worker side of worker-poison.ts: takes the lock, half-updates the data, then crashes. */
import { parentPort, workerData } from "node:worker_threads";
import { Mutex } from "lockbox/threads";
import type { Accounts } from "../worker-poison.js";

const accounts = Mutex.from<Accounts>(workerData.accounts);
// #region tour
const guard = accounts.lockSync({ timeout: 5_000 });
guard.value.alice -= 100; // debit done…
parentPort?.postMessage("holding");
setTimeout(() => {
  // …but the credit never happens, and the guard is never released.
  throw new Error("crashed on purpose, between the debit and the credit");
}, 20);
// #endregion tour
