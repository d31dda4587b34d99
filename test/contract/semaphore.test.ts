// The threads-blocking scope (workers) of this suite runs in threads-blocking.test.ts, which shares its workers.
import { Semaphore as LocalSemaphore } from "../../src/sync/semaphore.js";
import { Semaphore as ThreadsSemaphore } from "../../src/threads/index.js";
import { inProcess, threadsAsync } from "./actors.js";
import * as params from "./params.js";
import { runSemaphoreContract } from "./semaphore.contract.js";

runSemaphoreContract(inProcess, (permits) => new LocalSemaphore(permits), params.semaphore.lockbox);
runSemaphoreContract(threadsAsync, (permits) => new ThreadsSemaphore(permits), params.semaphore.threads);
