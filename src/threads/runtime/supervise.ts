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
import { describe } from "../../internal/validate.js";
import { MAX_TRACKED_ID } from "../raw/liveness-table.js";
import { linkSupervised, markThreadDead, ownerDeathUnsupported, processTable } from "./liveness.js";

/** What `supervise` needs of a worker: its `threadId` and the `'exit'` event. */
export interface SupervisableWorker {
  readonly threadId: number;
  once(event: "exit", listener: (exitCode: number) => void): unknown;
}

/**
 * The options {@link spawn} passes to `new Worker(url, options)`: Node's `WorkerOptions`, declared here
 * by name only so that lockbox/threads type-checks without `@types/node` (a browser project with
 * `skipLibCheck: false`). Any `WorkerOptions` value is accepted; Node checks the values.
 *
 * @example
 * ```ts
 * const worker = spawn(new URL("../worker.js", import.meta.url), { workerData: { mutex }, name: "writer" });
 * ```
 */
export interface SpawnOptions {
  argv?: readonly unknown[] | undefined;
  env?: unknown;
  eval?: boolean | undefined;
  execArgv?: readonly string[] | undefined;
  name?: string | undefined;
  resourceLimits?: object | undefined;
  stderr?: boolean | undefined;
  stdin?: boolean | undefined;
  stdout?: boolean | undefined;
  trackUnmanagedFds?: boolean | undefined;
  transferList?: readonly unknown[] | undefined;
  workerData?: unknown;
}

// biome-ignore lint/suspicious/noExplicitAny: an event's arguments are whatever its emitter passes.
type Listener = (...args: any[]) => void;

/**
 * The worker {@link spawn} returns: at run time a `worker_threads` `Worker`. Declared structurally, so
 * that lockbox/threads type-checks without `@types/node` (a browser project with `skipLibCheck: false`),
 * yet it is a Node `EventEmitter` as far as `events.once(worker, "exit")` and the like are concerned.
 * Cast it (`as Worker`) for the rest of that class.
 *
 * @example
 * ```ts
 * import { once } from "node:events";
 * const worker = spawn(new URL("../worker.js", import.meta.url), { workerData: { mutex } });
 * worker.on("error", (error) => console.error(error));
 * const [exitCode] = await once(worker, "exit");
 * ```
 */
export interface SpawnedWorker extends SupervisableWorker {
  /** Sends `value` to the worker (structured clone; `transferList` as in `postMessage`). */
  postMessage(value: unknown, transferList?: readonly unknown[]): void;
  /** Stops the worker; resolves with its exit code. */
  terminate(): Promise<number>;
  /** Lets the process exit while the worker runs (`unref`) or not (`ref`). */
  ref(): void;
  unref(): void;
  on(event: "exit", listener: (exitCode: number) => void): this;
  on(event: "error", listener: (error: Error) => void): this;
  on(event: string | symbol, listener: Listener): this;
  once(event: "exit", listener: (exitCode: number) => void): this;
  once(event: "error", listener: (error: Error) => void): this;
  once(event: string | symbol, listener: Listener): this;
  off(event: string | symbol, listener: Listener): this;
  addListener(event: string | symbol, listener: Listener): this;
  prependListener(event: string | symbol, listener: Listener): this;
  prependOnceListener(event: string | symbol, listener: Listener): this;
  removeListener(event: string | symbol, listener: Listener): this;
  removeAllListeners(event?: string | symbol): this;
  setMaxListeners(n: number): this;
  getMaxListeners(): number;
  listeners(event: string | symbol): Listener[];
  rawListeners(event: string | symbol): Listener[];
  listenerCount(event: string | symbol, listener?: Listener): number;
  emit(event: string | symbol, ...args: unknown[]): boolean;
  eventNames(): (string | symbol)[];
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
 * const worker = supervise(new Worker(new URL("../worker.js", import.meta.url), { workerData: mutex }));
 * ```
 *
 * Death detection covers workers with a `threadId` up to 1,048,574 (the liveness table has a bit per
 * thread, 128 KiB): past that, `supervise` throws rather than watch a worker whose death it could not
 * report.
 *
 * Needs Node 20.16 or later (22.3 on Node 22): older versions lack `process.getBuiltinModule`, through
 * which lockbox/threads learns thread ids and shares the liveness table, so `supervise` throws there
 * rather than watch nothing.
 *
 * @throws TypeError when `worker` is not a worker (no `threadId` / `once`); Error on Node before 20.16
 *   (owner death cannot be detected there); RangeError when its `threadId` is past 1,048,574 (nothing
 *   is watched; `spawn` terminates the worker it created).
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
  const unsupported = ownerDeathUnsupported();
  if (unsupported !== undefined) {
    // Watching nothing while the caller believes the worker's deaths are handled would be worse.
    throw new Error(
      `supervise() cannot detect owner death here: it needs Node 20.16 or later (22.3 on Node 22); ${unsupported}`,
    );
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
 * const worker = spawn(new URL("../worker.js", import.meta.url), { workerData: { counter: mutex } });
 * worker.on("exit", (code) => console.log("worker done", code));
 * ```
 *
 * @throws Error outside Node (no `worker_threads`); whatever `new Worker` throws.
 */
export function spawn(url: string | URL, options?: SpawnOptions): SpawnedWorker {
  processTable();
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const threads = proc?.getBuiltinModule?.("node:worker_threads") as
    | { Worker: new (url: string | URL, options?: SpawnOptions) => SpawnedWorker }
    | undefined;
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
