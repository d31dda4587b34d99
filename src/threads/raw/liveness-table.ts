/**
 * The liveness table: which threads are known to be dead. Owner death detection reads it (a waiter
 * that finds a lock held by a dead thread releases it on the dead thread's behalf, poisoned), and
 * `supervise` writes it when a worker exits.
 *
 * Thread ids: a thread's *owner id* is `worker_threads.threadId + 1` (so 0 means "no owner"). Node never
 * reuses a `threadId` within a process, so a bit, once set, stays true forever and needs no cleanup, and
 * a lock word that names a dead owner can never be confused with a live thread that reused its id.
 *
 * Layout (`Int32Array` over a `SharedArrayBuffer`, {@link LIVENESS_WORDS} words):
 *
 * | word      | meaning                                  | who writes it                         |
 * |-----------|------------------------------------------|---------------------------------------|
 * | 0         | table uid (random, non-zero)             | its creator, once, before sharing it  |
 * | 1         | deaths recorded so far                   | supervisors (`A.add`)                 |
 * | 2 + k     | bit b set ⇔ owner id `32k + b` is dead   | supervisors (`A.or`), never cleared   |
 * | LINKS + 2j     | CHILD: owner id of a worker supervised by a worker (0: free) | its supervisor (claims, frees) |
 * | LINKS + 2j + 1 | PARENT: owner id of that supervising worker               | its supervisor                  |
 *
 * Links: a worker that supervises workers of its own records each child here, so that when *it* dies
 * (and Node terminates its children with it, unobserved by anyone), the thread that supervised it marks
 * the children dead too ({@link childrenOf}). {@link CHILD_LINKS} links at a time; past that a nested
 * child's death is not detected when its supervisor dies first.
 *
 * Ids above {@link MAX_TRACKED_ID} are never reported dead (their death is not detected).
 *
 * Step functions: {@link isDead} (one `A.load`), {@link markDead} (one `A.or`, one `A.add`).
 */
import type { AtomicsLike } from "./atomics-like.js";

/** Owner ids from 1 to this value are tracked. */
export const MAX_TRACKED_ID = (1 << 20) - 1;
/** Child links a table holds (see the module docs). */
export const CHILD_LINKS = 1024;
const LINKS = 2 + ((MAX_TRACKED_ID + 1) >>> 5);
/** Size of a liveness table in 32-bit words (128 KiB + 8 KiB + 8 bytes). */
export const LIVENESS_WORDS = LINKS + 2 * CHILD_LINKS;

const UID = 0;
const DEATHS = 1;
const BITS = 2;

/** `true` when `id` is known dead. `table` may be `undefined` (nothing is ever dead then). */
export function isDead(A: AtomicsLike, table: Int32Array | undefined, id: number): boolean {
  if (table === undefined || id <= 0 || id > MAX_TRACKED_ID) return false;
  return (A.load(table, BITS + (id >>> 5)) & (1 << (id & 31))) !== 0;
}

/** Records that owner `id` is dead. Idempotent. */
export function markDead(A: AtomicsLike, table: Int32Array, id: number): void {
  if (id <= 0 || id > MAX_TRACKED_ID) return;
  const bit = 1 << (id & 31);
  const previous = A.or(table, BITS + (id >>> 5), bit);
  if ((previous & bit) === 0) A.add(table, DEATHS, 1);
}

/** The table's uid (word 0). */
export function tableUid(A: AtomicsLike, table: Int32Array): number {
  return A.load(table, UID);
}

/** Writes a fresh table's uid. Call once, before the table is shared. */
export function initTable(A: AtomicsLike, table: Int32Array, uid: number): void {
  A.store(table, UID, uid === 0 ? 1 : uid);
}

/** Records that worker `child` is supervised by worker `parent`. Returns `false` when every link is taken. */
export function linkChild(A: AtomicsLike, table: Int32Array, child: number, parent: number): boolean {
  for (let j = 0; j < CHILD_LINKS; j++) {
    if (A.compareExchange(table, LINKS + 2 * j, 0, child) === 0) {
      A.store(table, LINKS + 2 * j + 1, parent);
      return true;
    }
  }
  return false;
}

/** Frees the link of `child` (it exited, and its supervisor saw it). */
export function unlinkChild(A: AtomicsLike, table: Int32Array, child: number): void {
  for (let j = 0; j < CHILD_LINKS; j++) {
    if (A.load(table, LINKS + 2 * j) !== child) continue;
    A.store(table, LINKS + 2 * j + 1, 0);
    A.store(table, LINKS + 2 * j, 0);
  }
}

/** Owner ids of the workers that worker `parent` supervises. */
export function childrenOf(A: AtomicsLike, table: Int32Array, parent: number): number[] {
  const children: number[] = [];
  for (let j = 0; j < CHILD_LINKS; j++) {
    const child = A.load(table, LINKS + 2 * j);
    if (child !== 0 && A.load(table, LINKS + 2 * j + 1) === parent) children.push(child);
  }
  return children;
}
