/**
 * The raw reader-writer lock, part 2: reader slots, so that the read shares of a dead thread can be
 * taken back, and the steps that reap before they park (the ones `RwLock` runs).
 *
 * Each reading thread records its shares in a slot pair `[owner id, shares]` (words `i + 2 …`, see
 * ./rw-word.ts for the layout). A waiter that cannot get in calls {@link reapDeadReaders}, which takes
 * the shares of dead slot owners back out of COUNT. The plain steps of ./rw-word.ts do not touch the
 * slots: a lock can be used without them, and then a dead reader's share is simply never reclaimed.
 *
 * | words        | name    | meaning                                     | who may change it                    |
 * |--------------|---------|---------------------------------------------|--------------------------------------|
 * | i + 2 + 2k   | SLOT_ID | owner id of the thread using slot k, 0 free; `-r` while reaper `r` collects it | that thread (claim 0 → id, free id → 0); a reaper (dead id → −r → 0) |
 * | i + 3 + 2k   | SHARES  | read shares that thread holds               | that thread (± 1), the reaper holding the slot (exchange to 0) |
 *
 * Reaping reserves the slot, then collects: a reaper first swaps the dead owner's id for its own
 * negated id (`-r`), and only the reaper that won that swap zeroes SHARES and frees the slot. A second
 * reaper that read the same dead id fails the swap and takes nothing, so it can never collect the
 * share of a live reader that has re-claimed the freed slot in between (which would let a writer in
 * while that reader is inside). A reservation whose reaper died is taken over by the next reaper.
 *
 * Order (so that COUNT ≥ the sum of SHARES at every moment): acquire adds to COUNT, then to SHARES;
 * release takes from SHARES, then from COUNT; a reaper zeroes SHARES, then takes that many from COUNT.
 * A reader that dies between the two steps of an acquire or a release leaks (or keeps) one share, and
 * a reaper that dies between zeroing SHARES and taking them from COUNT leaks them; more than
 * {@link READER_SLOTS} reading threads at once leave the extra ones untracked.
 */
import type { AtomicsLike } from "./atomics-like.js";
import { isDead } from "./liveness-table.js";
import {
  COUNT_MASK,
  READER_SLOTS,
  readStep,
  reapIfUpgraderDead,
  SLOTS,
  tryWrite,
  UPGRADER_WAITING,
  WAITING,
  WRITE_LOCKED,
  wakeAllIfFree,
  wakeWriters,
  writeStep,
} from "./rw-word.js";
import type { Clock, RawWaiter } from "./waiter.js";

/**
 * Records one read share of `me` in its reader slot (claiming a free slot on its first share).
 * Call right after acquiring a read share. Returns `false` when every slot is taken by other threads
 * (the share is then untracked: do not call {@link unregisterReader} for it).
 */
export function registerReader(A: AtomicsLike, w: Int32Array, i: number, me: number): boolean {
  let free = -1;
  for (let k = 0; k < READER_SLOTS; k++) {
    const id = A.load(w, i + SLOTS + 2 * k);
    if (id === me) {
      A.add(w, i + SLOTS + 1 + 2 * k, 1);
      return true;
    }
    if (id === 0 && free < 0) free = k;
  }
  for (let k = free < 0 ? READER_SLOTS : free; k < READER_SLOTS; k++) {
    if (A.compareExchange(w, i + SLOTS + 2 * k, 0, me) === 0) {
      A.add(w, i + SLOTS + 1 + 2 * k, 1);
      return true;
    }
  }
  return false;
}

/** Removes one read share of `me` from its slot (freeing the slot at zero). Call before `readUnlock`. */
export function unregisterReader(A: AtomicsLike, w: Int32Array, i: number, me: number): void {
  for (let k = 0; k < READER_SLOTS; k++) {
    if (A.load(w, i + SLOTS + 2 * k) !== me) continue;
    if (A.sub(w, i + SLOTS + 1 + 2 * k, 1) === 1) A.compareExchange(w, i + SLOTS + 2 * k, me, 0);
    return;
  }
}

/**
 * Reaper `me` takes the shares of dead reader threads back out of COUNT (waking everyone if the lock
 * becomes free). Returns `true` if it reclaimed anything (the caller should re-run its step).
 */
export function reapDeadReaders(
  A: AtomicsLike,
  w: Int32Array,
  i: number,
  me: number,
  table: Int32Array | undefined,
): boolean {
  // A dead upgradable reader also gives up its role (its share is one of the slots below).
  const upgraderReaped = reapIfUpgraderDead(A, w, i, A.load(w, i), table);
  let reclaimed = 0;
  for (let k = 0; k < READER_SLOTS; k++) {
    const at = i + SLOTS + 2 * k;
    const id = A.load(w, at);
    if (id === 0 || id === -me) continue;
    // A live owner, or a live reaper collecting the slot: not ours to take.
    if (!isDead(A, table, id < 0 ? -id : id)) continue;
    // Reserve, then collect: only the reaper whose swap succeeds touches SHARES.
    if (A.compareExchange(w, at, id, -me) !== id) continue;
    reclaimed += A.exchange(w, at + 1, 0);
    A.compareExchange(w, at, -me, 0);
  }
  if (reclaimed === 0) return upgraderReaped;
  let s = A.load(w, i);
  for (;;) {
    const count = s & COUNT_MASK;
    // Only ever read-locked here: the dead thread's shares are still counted.
    if ((s & WRITE_LOCKED) !== 0 || count < reclaimed) return false;
    const prev = A.compareExchange(w, i, s, s - reclaimed);
    if (prev === s) break;
    s = prev;
  }
  const left = (s & COUNT_MASK) - reclaimed;
  if (left === 0 && (s & WAITING) !== 0) wakeAllIfFree(A, w, i);
  else if (left === 1 && (s & UPGRADER_WAITING) !== 0) wakeWriters(A, w, i);
  return true;
}

/**
 * The read step `RwLock` runs: when it would park, it first reclaims the shares of dead readers (a
 * stale "writer waiting" flag may hold it back behind a dead reader) and tries again.
 */
export function readStepReaping(
  A: AtomicsLike,
  w: Int32Array,
  i: number,
  me: number,
  table: Int32Array | undefined,
  waiter: RawWaiter,
  now: Clock,
): boolean {
  for (;;) {
    if (readStep(A, w, i, me, table, waiter, now)) return true;
    if (!reapDeadReaders(A, w, i, me, table)) return false;
  }
}

/** The write step `RwLock` runs, reaping dead readers before it parks. */
export function writeStepReaping(
  A: AtomicsLike,
  w: Int32Array,
  i: number,
  me: number,
  table: Int32Array | undefined,
  waiter: RawWaiter,
  now: Clock,
): boolean {
  for (;;) {
    if (writeStep(A, w, i, me, table, waiter, now)) return true;
    if (!reapDeadReaders(A, w, i, me, table)) return false;
  }
}

/** `tryWrite`, and once more after reaping dead readers. */
export function tryWriteReaping(
  A: AtomicsLike,
  w: Int32Array,
  i: number,
  me: number,
  table: Int32Array | undefined,
): boolean {
  if (tryWrite(A, w, i, me, table)) return true;
  return reapDeadReaders(A, w, i, me, table) && tryWrite(A, w, i, me, table);
}
