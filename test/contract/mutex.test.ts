// The threads-blocking scope (workers) of this suite runs in threads-blocking.test.ts, which shares its workers.
import { Mutex as LocalMutex } from "../../src/sync/mutex.js";
import { Mutex as ThreadsMutex } from "../../src/threads/index.js";
import { inProcess, threadsAsync } from "./actors.js";
import { runMutexContract } from "./mutex.contract.js";
import * as params from "./params.js";

const shared = (initial: number) => {
  const array = new Int32Array(new SharedArrayBuffer(4));
  array[0] = initial;
  return array;
};

runMutexContract(
  inProcess,
  (initial, options) => new LocalMutex(Int32Array.of(initial), options),
  params.mutex.lockbox,
);
runMutexContract(threadsAsync, (initial, options) => new ThreadsMutex(shared(initial), options), params.mutex.threads);
