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

import { newSharedBuffer, requireSharedMemory } from "../memory/shared-memory.js";
import { realAtomics } from "../raw/atomics-like.js";
import {
  childrenOf,
  initTable,
  isDead,
  LIVENESS_WORDS,
  linkChild,
  MAX_TRACKED_ID,
  markDead,
  tableUid,
  unlinkChild,
} from "../raw/liveness-table.js";
import { MAX_OWNER } from "../raw/raw-mutex.js";
import { ensureWaitsFor } from "./waits-for.js";

/** The subset of `node:worker_threads` used here; absent outside Node. */
interface WorkerThreadsModule {
  threadId: number;
  isMainThread: boolean;
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

/**
 * Whether owner death can be detected here: it needs `node:worker_threads` through
 * `process.getBuiltinModule` (Node 20.16+ / 22.3+) to learn thread ids and share the liveness table
 * with workers. `undefined` when it can; otherwise the reason, for {@link supervise}'s error.
 */
export function ownerDeathUnsupported(): string | undefined {
  if (workerThreads !== undefined) return undefined;
  const proc = (globalThis as { process?: { versions?: { node?: unknown } } }).process;
  const node = proc?.versions?.node;
  return typeof node === "string"
    ? `this is Node ${node}, which lacks process.getBuiltinModule (added in Node 20.16 and 22.3)`
    : "this runtime has no node:worker_threads (reachable through process.getBuiltinModule)";
}

/**
 * The owner id of the thread with `threadId` (`threadId + 1`). Owner ids never wrap: a thread created
 * after `MAX_OWNER − 1` others in one process (about 8.4 million) would share an id with an older
 * thread, which could make a live thread's lock look like a dead one's; such a thread gets a
 * `RangeError` from lockbox/threads instead.
 */
export function ownerIdOf(threadId: number): number {
  if (!(threadId >= 0 && threadId < MAX_OWNER)) {
    throw new RangeError(
      `lockbox/threads supports threads with \`threadId\` from 0 to ${MAX_OWNER - 1} (owner ids in a lock word do not wrap), got ${threadId}: create fewer threads over the process's life`,
    );
  }
  return threadId + 1;
}

/** This thread's owner id (non-zero). */
export const ownerId: number =
  workerThreads !== undefined
    ? ownerIdOf(workerThreads.threadId)
    : MAX_TRACKED_ID + 1 + Math.floor(Math.random() * (MAX_OWNER - MAX_TRACKED_ID));

/** Tables this thread knows, by uid. */
const known = new Map<number, Int32Array>();
let own: Int32Array | undefined;

/** This thread's liveness table, created (and published to future workers) on first use. */
export function processTable(): Int32Array {
  if (own !== undefined) return own;
  requireSharedMemory();
  // The waits-for table (deadlock detection) is shared with workers the same way, from the same moment.
  ensureWaitsFor(ownerId, (id) => own !== undefined && isDead(realAtomics, own, id));
  const inherited = workerThreads?.getEnvironmentData(ENV_KEY);
  if (inherited instanceof SharedArrayBuffer && inherited.byteLength >= LIVENESS_WORDS * 4) {
    own = adoptTable(inherited);
    return own;
  }
  const table = new Int32Array(newSharedBuffer(LIVENESS_WORDS * 4));
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

/**
 * Marks the thread with `threadId` dead in every known table, and with it every worker it supervised
 * (Node terminates a worker's workers when it exits, and nobody else observes their exit).
 */
export function markThreadDead(threadId: number): void {
  const pending = [threadId + 1];
  const seen = new Set<number>();
  while (pending.length > 0) {
    const id = pending.pop() as number;
    if (seen.has(id)) continue;
    seen.add(id);
    for (const table of known.values()) {
      markDead(realAtomics, table, id);
      for (const child of childrenOf(realAtomics, table, id)) pending.push(child);
      unlinkChild(realAtomics, table, id);
    }
  }
}

/**
 * Called by `supervise(child)` in this thread: when this thread is itself a worker, records the link
 * so that this thread's own supervisor can report `child` dead if this thread dies first.
 */
export function linkSupervised(childThreadId: number): void {
  if (workerThreads === undefined || workerThreads.isMainThread) return;
  linkChild(realAtomics, processTable(), childThreadId + 1, ownerId);
}
