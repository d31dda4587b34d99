import { afterAll } from "vitest";
import { Semaphore as LocalSemaphore } from "../../src/sync/semaphore.js";
import { Semaphore as ThreadsSemaphore } from "../../src/threads/index.js";
import { inProcess, stopWorkers, threadsAsync, threadsBlocking } from "./actors.js";
import { runSemaphoreContract } from "./semaphore.contract.js";

afterAll(stopWorkers);

runSemaphoreContract(inProcess, (permits) => new LocalSemaphore(permits), {
  largeRequestBlocksLater: true,
  forgetAfterRelease: "throws",
});
runSemaphoreContract(threadsAsync, (permits) => new ThreadsSemaphore(permits), {
  largeRequestBlocksLater: false,
  forgetAfterRelease: "ignored",
});
runSemaphoreContract(threadsBlocking, (permits) => new ThreadsSemaphore(permits), {
  largeRequestBlocksLater: false,
  forgetAfterRelease: "ignored",
});
