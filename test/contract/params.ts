/**
 * The intended differences between scopes, in one place: each contract suite's parameters for the
 * in-process `lockbox` primitive and for the `lockbox/threads` one (the same for its async and its
 * blocking callers). Each entry is a line in docs/decisions.md ("Contract suite parameters"); a
 * difference that is not here is a bug.
 */
import type { BarrierContractParams } from "./barrier.contract.js";
import type { CondvarContractParams } from "./condvar.contract.js";
import type { MutexContractParams } from "./mutex.contract.js";
import type { OnceContractParams } from "./once.contract.js";
import type { RwLockContractParams } from "./rw-lock.contract.js";
import type { SemaphoreContractParams } from "./semaphore.contract.js";

export const mutex: Record<"lockbox" | "threads", MutexContractParams> = {
  lockbox: { poisonByDefault: false, fifo: true, grantRaceOutcome: "abort" },
  threads: { poisonByDefault: true, fifo: false, grantRaceOutcome: "abort" },
};

export const rwLock: Record<"lockbox" | "threads", RwLockContractParams> = {
  lockbox: {
    poisonByDefault: false,
    writerFirstWhenReadersLeave: true,
    grantRaceOutcome: "abort",
    upgradeGrantRaceOutcome: "grant",
  },
  threads: {
    poisonByDefault: true,
    writerFirstWhenReadersLeave: false,
    grantRaceOutcome: "abort",
    upgradeGrantRaceOutcome: "abort",
  },
};

export const semaphore: Record<"lockbox" | "threads" | "threadsAcrossThreads", SemaphoreContractParams> = {
  lockbox: { largeRequestBlocksLater: true, forgetAfterRelease: "throws", grantRaceOutcome: "abort" },
  // Actors that are tasks of one thread (threads-async) queue in that thread's local FIFO (issue 10).
  threads: { largeRequestBlocksLater: true, forgetAfterRelease: "throws", grantRaceOutcome: "abort" },
  // Actors in different threads (threads-blocking): no queue across threads, but a request that has
  // waited ~1 ms becomes the starving one and holds the others back (issue 10).
  threadsAcrossThreads: {
    largeRequestBlocksLater: "onceStarving",
    forgetAfterRelease: "throws",
    grantRaceOutcome: "abort",
  },
};

export const condvar: Record<"lockbox" | "threads", CondvarContractParams> = {
  lockbox: { notifyOneWakesLongestWaiter: true },
  threads: { notifyOneWakesLongestWaiter: false },
};

export const barrier: Record<"lockbox" | "threads", BarrierContractParams> = {
  lockbox: { maxParties: 2 ** 31 - 1 },
  threads: { maxParties: 65_535 },
};

export const once: Record<"lockbox" | "threads", OnceContractParams> = {
  lockbox: { hasSet: true, hasWait: false },
  threads: { hasSet: false, hasWait: true },
};
