// The threads-blocking scope (workers) of this suite runs in threads-blocking.test.ts, which shares its workers.
import { RwLock as LocalRwLock } from "../../src/sync/rw-lock.js";
import { RwLock as ThreadsRwLock } from "../../src/threads/index.js";
import { inProcess, threadsAsync } from "./actors.js";
import * as params from "./params.js";
import { runRwLockContract } from "./rw-lock.contract.js";

const data = (initial: number) => Int32Array.of(initial);
const shared = (initial: number) => {
  const array = new Int32Array(new SharedArrayBuffer(4));
  array[0] = initial;
  return array;
};

runRwLockContract(inProcess, (initial, options) => new LocalRwLock(data(initial), options), params.rwLock.lockbox);
runRwLockContract(
  threadsAsync,
  (initial, options) => new ThreadsRwLock(shared(initial), options),
  params.rwLock.threads,
);
