// The threads-blocking scope (workers) of this suite runs in threads-blocking.test.ts, which shares its workers.
import { Condvar as LocalCondvar } from "../../src/sync/condvar.js";
import { Mutex as LocalMutex } from "../../src/sync/mutex.js";
import { Condvar as ThreadsCondvar, Mutex as ThreadsMutex } from "../../src/threads/index.js";
import { inProcess, threadsAsync } from "./actors.js";
import { runCondvarContract } from "./condvar.contract.js";
import * as params from "./params.js";

const threads = () => ({
  mutex: new ThreadsMutex(new Int32Array(new SharedArrayBuffer(4))),
  condvar: new ThreadsCondvar(),
});

runCondvarContract(
  inProcess,
  () => ({ mutex: new LocalMutex(Int32Array.of(0)), condvar: new LocalCondvar() }),
  params.condvar.lockbox,
);
runCondvarContract(threadsAsync, threads, params.condvar.threads);
