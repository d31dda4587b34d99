import { afterAll } from "vitest";
import { Condvar as LocalCondvar } from "../../src/sync/condvar.js";
import { Mutex as LocalMutex } from "../../src/sync/mutex.js";
import { Condvar as ThreadsCondvar, Mutex as ThreadsMutex } from "../../src/threads/index.js";
import { inProcess, stopWorkers, threadsAsync, threadsBlocking } from "./actors.js";
import { runCondvarContract } from "./condvar.contract.js";

afterAll(stopWorkers);

const threads = () => ({
  mutex: new ThreadsMutex(new Int32Array(new SharedArrayBuffer(4))),
  condvar: new ThreadsCondvar(),
});

runCondvarContract(inProcess, () => ({ mutex: new LocalMutex(Int32Array.of(0)), condvar: new LocalCondvar() }), {
  notifyOneWakesLongestWaiter: true,
});
runCondvarContract(threadsAsync, threads, { notifyOneWakesLongestWaiter: false });
runCondvarContract(threadsBlocking, threads, { notifyOneWakesLongestWaiter: false });
