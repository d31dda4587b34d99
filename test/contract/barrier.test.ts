import { afterAll } from "vitest";
import { Barrier as LocalBarrier } from "../../src/sync/barrier.js";
import { Barrier as ThreadsBarrier } from "../../src/threads/index.js";
import { inProcess, stopWorkers, threadsAsync, threadsBlocking } from "./actors.js";
import { runBarrierContract } from "./barrier.contract.js";

afterAll(stopWorkers);

runBarrierContract(inProcess, (parties) => new LocalBarrier(parties), { maxParties: 2 ** 31 - 1 });
runBarrierContract(threadsAsync, (parties) => new ThreadsBarrier(parties), { maxParties: ThreadsBarrier.MAX_PARTIES });
runBarrierContract(threadsBlocking, (parties) => new ThreadsBarrier(parties), {
  maxParties: ThreadsBarrier.MAX_PARTIES,
});
