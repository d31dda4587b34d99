/**
 * Owner death: when a supervised worker exits for any reason (an uncaught throw, `process.exit`,
 * `worker.terminate()`, the end of its script), every threads lock it held is released and poisoned,
 * and the lock's waiters — blocking or async, in any thread — wake with `PoisonError` within about
 * 50 ms (one poll period of a parked waiter).
 *
 * How (Linux's robust futexes, adapted): a lock word names its holder (`threadId + 1`); on the
 * worker's `'exit'` the supervising thread marks that id dead in the process's liveness table; a
 * waiter (whose every park is bounded) or a `try*` call that finds a dead holder releases the lock on
 * its behalf with the POISONED bit set. A lock held by a live worker is never taken away.
 *
 * @module
 */
import type { Worker, WorkerOptions } from "node:worker_threads";
import { describe } from "../internal/validate.js";
import { linkSupervised, markThreadDead, processTable } from "./liveness.js";
import { MAX_TRACKED_ID } from "./raw/liveness-table.js";

/** What `supervise` needs of a worker: its `threadId` and the `'exit'` event. */
export interface SupervisableWorker {
  readonly threadId: number;
  once(event: "exit", listener: (exitCode: number) => void): unknown;
}

/**
 * Watches `worker`: if it exits while holding threads locks, they are released and poisoned, and
 * their waiters wake with `PoisonError`. Returns `worker`.
 *
 * Call it in the thread that created the worker (where `'exit'` is observed), right after creating
 * it. The supervising thread must wait **asynchronously** (`await lock.lock()`, not `lockSync`):
 * while it is blocked in a `*Sync` call its event loop cannot observe `'exit'`, so a death is only
 * handled once it returns to the event loop.
 *
 * A worker shares this thread's liveness table only if the table existed when it was created: create
 * workers with {@link spawn}, or after the first lockbox/threads object (or a `supervise` call).
 *
 * @example
 * ```ts
 * const worker = supervise(new Worker(new URL("./worker.js", import.meta.url), { workerData: mutex }));
 * ```
 *
 * Death detection covers workers with a `threadId` up to 1,048,574 (the liveness table has a bit per
 * thread, 128 KiB): past that, `supervise` throws rather than watch a worker whose death it could not
 * report.
 *
 * @throws TypeError when `worker` is not a worker (no `threadId` / `once`); RangeError when its
 *   `threadId` is past 1,048,574 (nothing is watched; `spawn` terminates the worker it created).
 */
export function supervise<W extends SupervisableWorker>(worker: W): W {
  if (
    typeof worker !== "object" ||
    worker === null ||
    typeof worker.threadId !== "number" ||
    typeof worker.once !== "function"
  ) {
    throw new TypeError(`Expected \`worker\` to be a worker_threads Worker, got ${describe(worker)}`);
  }
  processTable();
  // threadId reads -1 once the worker has exited: capture it now.
  const id = worker.threadId;
  if (id > MAX_SUPERVISED_THREAD_ID) {
    throw new RangeError(
      `Expected \`worker.threadId\` to be at most ${MAX_SUPERVISED_THREAD_ID} (deaths of later threads cannot be detected), got ${id}`,
    );
  }
  if (id >= 0) {
    linkSupervised(id);
    worker.once("exit", () => markThreadDead(id));
  }
  return worker;
}

/** Largest `threadId` whose death `supervise` can detect (1,048,574). */
const MAX_SUPERVISED_THREAD_ID = MAX_TRACKED_ID - 1;

/**
 * Creates a `worker_threads` `Worker` (same arguments) and {@link supervise}s it. The liveness table
 * is created first, so the worker shares it.
 *
 * @example
 * ```ts
 * const worker = spawn(new URL("./worker.js", import.meta.url), { workerData: { counter: mutex } });
 * worker.on("exit", (code) => console.log("worker done", code));
 * ```
 *
 * @throws Error outside Node (no `worker_threads`); whatever `new Worker` throws.
 */
export function spawn(url: string | URL, options?: WorkerOptions): Worker {
  processTable();
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const threads = proc?.getBuiltinModule?.("node:worker_threads") as typeof import("node:worker_threads") | undefined;
  if (threads === undefined) throw new Error("spawn() needs Node's worker_threads (Node 20.16 or later)");
  const worker = new threads.Worker(url, options);
  try {
    return supervise(worker);
  } catch (error) {
    // Not watched: do not leave a worker running that the caller never got.
    void worker.terminate();
    throw error;
  }
}
