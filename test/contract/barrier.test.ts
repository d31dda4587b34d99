// The threads-blocking scope (workers) of this suite runs in threads-blocking.test.ts, which shares its workers.
import { Barrier as LocalBarrier } from "../../src/sync/barrier.js";
import { Barrier as ThreadsBarrier } from "../../src/threads/index.js";
import { inProcess, threadsAsync } from "./actors.js";
import { runBarrierContract } from "./barrier.contract.js";
import * as params from "./params.js";

runBarrierContract(inProcess, (parties) => new LocalBarrier(parties), params.barrier.lockbox);
runBarrierContract(threadsAsync, (parties) => new ThreadsBarrier(parties), params.barrier.threads);
