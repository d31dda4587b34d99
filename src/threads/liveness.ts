/**
 * Thread identity and the process-wide liveness table (see raw/liveness-table.ts for its layout).
 *
 * - {@link ownerId}: this thread's owner id, `worker_threads.threadId + 1` in Node (never reused
 *   within a process), a random id above the tracked range elsewhere (no owner-death detection there).
 * - {@link processTable}: the table this thread puts in the handles it creates. In Node it travels to
 *   new workers through `worker_threads.setEnvironmentData`, so every worker created after the first
 *   lockbox/threads object (or `spawn` / `supervise` call) shares the creator's table.
 * - {@link adoptTable}: the table of a received handle, deduplicated by uid (the same memory arrives as
 *   a new `SharedArrayBuffer` object on every post).
 * - {@link markThreadDead}: what `supervise` calls on a worker's `'exit'`: marks it dead in every
 *   table this thread knows, so waiters on its locks reap them within one poll.
 *
 * @internal
 */
import { realAtomics } from "./raw/atomics-like.js";
import { initTable, isDead, LIVENESS_WORDS, MAX_TRACKED_ID, markDead, tableUid } from "./raw/liveness-table.js";
import { MAX_OWNER } from "./raw/raw-mutex.js";
import { ensureWaitsFor } from "./waits-for.js";

/** The subset of `node:worker_threads` used here; absent outside Node. */
interface WorkerThreadsModule {
  threadId: number;
  getEnvironmentData(key: string): unknown;
  setEnvironmentData(key: string, value: unknown): void;
}

const ENV_KEY = "lockbox.threads.liveness";

function loadWorkerThreads(): WorkerThreadsModule | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  try {
    return proc?.getBuiltinModule?.("node:worker_threads") as WorkerThreadsModule | undefined;
  } catch {
    return undefined;
  }
}

const workerThreads = loadWorkerThreads();

/** This thread's owner id (non-zero). */
export const ownerId: number =
  workerThreads !== undefined
    ? (workerThreads.threadId % MAX_OWNER) + 1
    : MAX_TRACKED_ID + 1 + Math.floor(Math.random() * (MAX_OWNER - MAX_TRACKED_ID));

/** Tables this thread knows, by uid. */
const known = new Map<number, Int32Array>();
let own: Int32Array | undefined;

/** This thread's liveness table, created (and published to future workers) on first use. */
export function processTable(): Int32Array {
  if (own !== undefined) return own;
  // The waits-for table (deadlock detection) is shared with workers the same way, from the same moment.
  ensureWaitsFor(ownerId, (id) => own !== undefined && isDead(realAtomics, own, id));
  const inherited = workerThreads?.getEnvironmentData(ENV_KEY);
  if (inherited instanceof SharedArrayBuffer && inherited.byteLength >= LIVENESS_WORDS * 4) {
    own = adoptTable(inherited);
    return own;
  }
  const table = new Int32Array(new SharedArrayBuffer(LIVENESS_WORDS * 4));
  initTable(realAtomics, table, (Math.random() * 2 ** 31) | 0);
  known.set(tableUid(realAtomics, table), table);
  workerThreads?.setEnvironmentData(ENV_KEY, table.buffer);
  own = table;
  return own;
}

/** The table over `buffer`, reusing the view this thread already has for the same memory. */
export function adoptTable(buffer: SharedArrayBuffer): Int32Array {
  const view = new Int32Array(buffer, 0, LIVENESS_WORDS);
  const uid = tableUid(realAtomics, view);
  const existing = known.get(uid);
  if (existing !== undefined) return existing;
  known.set(uid, view);
  return view;
}

/** Marks the thread with `threadId` dead in every known table. */
export function markThreadDead(threadId: number): void {
  const id = (threadId % MAX_OWNER) + 1;
  for (const table of known.values()) markDead(realAtomics, table, id);
}
