/**
 * Every contract suite in the threads-blocking scope: each actor is a worker thread calling the
 * blocking twins. One file, so that all suites share the same three workers (a worker's start, with
 * its TypeScript loader, costs far more than the tests it runs).
 */
import { afterAll } from "vitest";
import { Barrier, Condvar, Mutex, OnceLock, RwLock, Semaphore } from "../../src/threads/index.js";
import { stopWorkers, threadsBlocking } from "./actors.js";
import { runBarrierContract } from "./barrier.contract.js";
import { runCondvarContract } from "./condvar.contract.js";
import { runMutexContract } from "./mutex.contract.js";
import { runOnceContract } from "./once.contract.js";
import * as params from "./params.js";
import { runRwLockContract } from "./rw-lock.contract.js";
import { runSemaphoreContract } from "./semaphore.contract.js";

afterAll(stopWorkers);

const shared = (initial = 0) => {
  const array = new Int32Array(new SharedArrayBuffer(4));
  array[0] = initial;
  return array;
};

runMutexContract(threadsBlocking, (initial, options) => new Mutex(shared(initial), options), params.mutex.threads);
runRwLockContract(threadsBlocking, (initial, options) => new RwLock(shared(initial), options), params.rwLock.threads);
runSemaphoreContract(threadsBlocking, (permits) => new Semaphore(permits), params.semaphore.threadsAcrossThreads);
runCondvarContract(
  threadsBlocking,
  () => ({ mutex: new Mutex(shared()), condvar: new Condvar() }),
  params.condvar.threads,
);
runBarrierContract(threadsBlocking, (parties) => new Barrier(parties), params.barrier.threads);
runOnceContract(threadsBlocking, () => new OnceLock(shared()), params.once.threads);
