import { afterAll } from "vitest";
import { RwLock as LocalRwLock } from "../../src/sync/rw-lock.js";
import { RwLock as ThreadsRwLock } from "../../src/threads/index.js";
import { inProcess, stopWorkers, threadsAsync, threadsBlocking } from "./actors.js";
import { runRwLockContract } from "./rw-lock.contract.js";

const data = (initial: number) => Int32Array.of(initial);
const shared = (initial: number) => {
  const array = new Int32Array(new SharedArrayBuffer(4));
  array[0] = initial;
  return array;
};

afterAll(stopWorkers);

runRwLockContract(inProcess, (initial, options) => new LocalRwLock(data(initial), options), {
  poisonByDefault: false,
});
runRwLockContract(threadsAsync, (initial, options) => new ThreadsRwLock(shared(initial), options), {
  poisonByDefault: true,
});
runRwLockContract(threadsBlocking, (initial, options) => new ThreadsRwLock(shared(initial), options), {
  poisonByDefault: true,
});
