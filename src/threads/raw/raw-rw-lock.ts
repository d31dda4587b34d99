/**
 * A writer-preferring reader-writer lock over two words, with writer-owner recovery and poisoning.
 *
 * Step functions (every shared access goes through `A`; between two calls only locals change):
 * - {@link tryRead}`(A, w, i, table)`, {@link readStep}`(A, w, i, table, waiter)`, {@link readUnlock}`(A, w, i)`
 * - {@link tryWrite}`(A, w, i, me, table)`, {@link writeStep}`(A, w, i, me, table, waiter)`,
 *   {@link writeUnlock}`(A, w, i, me)`, {@link downgrade}`(A, w, i, me)`
 * - {@link readBlocking} / {@link writeBlocking}: the step + `A.wait` loops.
 * A step returns `true` when acquired, else prepares `waiter` (`index`, `expected`, `parkTimeout`) to park.
 *
 * Words: `w[i]` is the state, `w[i + 1]` the writers' wake-up sequence (writers park on it, so a
 * reader leaving does not wake writers one by one, and a wake-up between a writer's check and its park
 * is never lost: it reads the sequence before the state).
 *
 * State word layout:
 *
 * | bits  | name             | meaning                                                  | who may change it |
 * |-------|------------------|----------------------------------------------------------|-------------------|
 * | 0–22  | COUNT            | readers holding it; when WRITE_LOCKED: the writer's id    | acquirers, unlockers |
 * | 23    | WRITE_LOCKED     | held exclusively                                         | writer sets, writer / reaper clears |
 * | 24    | READERS_WAITING  | a reader is parked on `w[i]`                             | readers set, "last one out" clears |
 * | 25    | WRITERS_WAITING  | a writer is parked on `w[i+1]`; new readers must wait    | writers set, "last one out" clears |
 * | 26    | POISONED         | a writer failed or died; sticky                          | writer / reaper set, anyone clears |
 * | 27    | UPGRADABLE       | the (single) upgradable reader holds a share             | it sets and clears; a reaper clears |
 * | 28    | UPGRADER_WAITING | the upgradable reader waits to upgrade (on `w[i+1]`)     | it sets and clears; a reaper clears |
 *
 * Invariant: when the lock is free (COUNT = 0, not WRITE_LOCKED) both WAITING bits are clear — every
 * transition to free clears them and wakes both sides ("last one out wakes everyone").
 *
 * Writer preference (no writer starvation): while WRITERS_WAITING is set, new readers wait even though
 * readers hold the lock; the readers drain and the last one wakes the writers. A writer that gives up
 * may leave WRITERS_WAITING behind; it is cleared when the lock next becomes free.
 *
 * Reader slots (optional, words `i + 2 …`, see {@link registerReader}): so that a reader's death can be
 * detected, each reading thread also records its shares in a slot pair `[owner id, shares]`. A writer
 * that cannot get in calls {@link reapDeadReaders}, which takes the shares of dead slot owners back out
 * of COUNT. The raw steps above do not touch the slots: a lock can be used without them (the model
 * checker does), and then a dead reader's share is simply never reclaimed.
 *
 * | words                 | name   | meaning                                   | who may change it                    |
 * |-----------------------|--------|-------------------------------------------|--------------------------------------|
 * | i + 2 + 2k            | SLOT_ID | owner id of the thread using slot k, 0 free | that thread (claim 0 → id, free id → 0), a reaper (dead id → 0) |
 * | i + 3 + 2k            | SHARES  | read shares that thread holds             | that thread (± 1), a reaper (exchange to 0) |
 *
 * Order (so that COUNT ≥ the sum of SHARES at every moment): acquire adds to COUNT, then to SHARES;
 * release takes from SHARES, then from COUNT; a reaper zeroes SHARES, then takes that many from COUNT.
 * A reader that dies between the two steps of an acquire or a release leaks (or keeps) one share;
 * more than {@link READER_SLOTS} reading threads at once leave the extra ones untracked.
 */
import type { AtomicsLike } from "./atomics-like.js";
import { isDead } from "./liveness-table.js";
import { type Clock, newWaiter, POLL_MS, parkTime, type RawWaiter } from "./waiter.js";

export const COUNT_MASK = (1 << 23) - 1;
export const WRITE_LOCKED = 1 << 23;
export const READERS_WAITING = 1 << 24;
export const WRITERS_WAITING = 1 << 25;
export const POISONED = 1 << 26;
/** An upgradable reader holds the lock (it is also counted in COUNT); at most one at a time. */
export const UPGRADABLE = 1 << 27;
/** The upgradable reader is waiting for the other readers to leave (it parks on `w[i + 1]`). */
export const UPGRADER_WAITING = 1 << 28;
export const WAITING = READERS_WAITING | WRITERS_WAITING;
/** Most readers at once. */
export const MAX_READERS = COUNT_MASK;
/** Reading threads whose shares are tracked for owner-death recovery. */
export const READER_SLOTS = 8;
/** Offset (from `i`) of the word naming the upgradable reader (owner id, 0 when none or unknown). */
export const UPGRADER_WORD = 2 + 2 * READER_SLOTS;
/** Words a raw rwlock occupies, reader slots and the upgrader word included (2 for plain read/write). */
export const RW_LOCK_WORDS = UPGRADER_WORD + 1;

/** Clears both WAITING bits if the lock is free, then wakes both sides. */
function wakeAllIfFree(A: AtomicsLike, w: Int32Array, i: number): void {
  let s = A.load(w, i);
  for (;;) {
    // Held again: its holder's unlock will wake them (the bits stay set).
    if ((s & (WRITE_LOCKED | COUNT_MASK)) !== 0 || (s & WAITING) === 0) return;
    const prev = A.compareExchange(w, i, s, s & ~WAITING);
    if (prev === s) break;
    s = prev;
  }
  wakeBoth(A, w, i);
}

function wakeBoth(A: AtomicsLike, w: Int32Array, i: number): void {
  A.add(w, i + 1, 1);
  A.notify(w, i + 1);
  A.notify(w, i);
}

/** Releases a write lock whose owner died: free, poisoned, everyone woken. Returns `true` if the word changed. */
function reapIfWriterDead(A: AtomicsLike, w: Int32Array, i: number, s: number, table: Int32Array | undefined): boolean {
  if ((s & WRITE_LOCKED) === 0 || !isDead(A, table, s & COUNT_MASK)) return false;
  if (A.compareExchange(w, i, s, POISONED) === s) wakeBoth(A, w, i);
  return true;
}

/** Takes a read share if no writer holds or waits. */
export function tryRead(A: AtomicsLike, w: Int32Array, i: number, table: Int32Array | undefined): boolean {
  let s = A.load(w, i);
  for (;;) {
    if ((s & WRITE_LOCKED) !== 0) {
      if (!reapIfWriterDead(A, w, i, s, table)) return false;
      s = A.load(w, i);
      continue;
    }
    if ((s & WRITERS_WAITING) !== 0 || (s & COUNT_MASK) === MAX_READERS) return false;
    const prev = A.compareExchange(w, i, s, s + 1);
    if (prev === s) return true;
    s = prev;
  }
}

/** One read attempt (see the module docs). */
export function readStep(
  A: AtomicsLike,
  w: Int32Array,
  i: number,
  table: Int32Array | undefined,
  waiter: RawWaiter,
): boolean {
  for (;;) {
    const s = A.load(w, i);
    if ((s & (WRITE_LOCKED | WRITERS_WAITING)) === 0 && (s & COUNT_MASK) < MAX_READERS) {
      if (A.compareExchange(w, i, s, s + 1) === s) return true;
      continue;
    }
    if (reapIfWriterDead(A, w, i, s, table)) continue;
    if (waiter.spins > 0 && !waiter.parked && (s & WAITING) === 0) {
      waiter.spins--;
      continue;
    }
    const want = s | READERS_WAITING;
    if (want !== s && A.compareExchange(w, i, s, want) !== s) continue;
    waiter.parked = true;
    waiter.index = i;
    waiter.expected = want;
    waiter.parkTimeout = POLL_MS;
    return false;
  }
}

/** Gives back a read share. The last reader out wakes the waiters. Returns `false` if no reader held it. */
export function readUnlock(A: AtomicsLike, w: Int32Array, i: number): boolean {
  let s = A.load(w, i);
  for (;;) {
    if ((s & WRITE_LOCKED) !== 0 || (s & COUNT_MASK) === 0) return false;
    const prev = A.compareExchange(w, i, s, s - 1);
    if (prev === s) break;
    s = prev;
  }
  if ((s & COUNT_MASK) === 1 && (s & WAITING) !== 0) wakeAllIfFree(A, w, i);
  else if ((s & COUNT_MASK) === 2 && (s & UPGRADER_WAITING) !== 0) wakeWriters(A, w, i);
  return true;
}

/** Wakes whoever parks on the writers' sequence (writers, and an upgradable reader waiting to upgrade). */
function wakeWriters(A: AtomicsLike, w: Int32Array, i: number): void {
  A.add(w, i + 1, 1);
  A.notify(w, i + 1);
}

/** Takes the write lock if it is free. */
export function tryWrite(A: AtomicsLike, w: Int32Array, i: number, me: number, table: Int32Array | undefined): boolean {
  let s = A.compareExchange(w, i, 0, WRITE_LOCKED | me);
  if (s === 0) return true;
  for (;;) {
    if ((s & (WRITE_LOCKED | COUNT_MASK)) === 0) {
      const prev = A.compareExchange(w, i, s, s | WRITE_LOCKED | me);
      if (prev === s) return true;
      s = prev;
      continue;
    }
    if (!reapIfWriterDead(A, w, i, s, table)) return false;
    s = A.load(w, i);
  }
}

/** One write attempt (see the module docs). Parks on `w[i + 1]`. */
export function writeStep(
  A: AtomicsLike,
  w: Int32Array,
  i: number,
  me: number,
  table: Int32Array | undefined,
  waiter: RawWaiter,
): boolean {
  for (;;) {
    // Read the sequence first: a wake-up after this read changes it, so the park returns at once.
    const seq = A.load(w, i + 1);
    const s = A.load(w, i);
    if ((s & (WRITE_LOCKED | COUNT_MASK)) === 0) {
      // A writer that has parked keeps WRITERS_WAITING set: other writers may still be parked, and its
      // unlock must wake them.
      const next = s | WRITE_LOCKED | me | (waiter.parked ? WRITERS_WAITING : 0);
      if (A.compareExchange(w, i, s, next) === s) return true;
      continue;
    }
    if (reapIfWriterDead(A, w, i, s, table)) continue;
    if (waiter.spins > 0 && !waiter.parked) {
      waiter.spins--;
      continue;
    }
    if ((s & WRITERS_WAITING) === 0 && A.compareExchange(w, i, s, s | WRITERS_WAITING) !== s) continue;
    waiter.parked = true;
    waiter.index = i + 1;
    waiter.expected = seq;
    waiter.parkTimeout = POLL_MS;
    return false;
  }
}

/** Releases the write lock held by `me`, waking every waiter if any. Returns `false` if `me` does not hold it. */
export function writeUnlock(A: AtomicsLike, w: Int32Array, i: number, me: number): boolean {
  let s = A.compareExchange(w, i, WRITE_LOCKED | me, 0);
  if (s === (WRITE_LOCKED | me)) return true;
  for (;;) {
    if ((s & WRITE_LOCKED) === 0 || (s & COUNT_MASK) !== me) return false;
    const prev = A.compareExchange(w, i, s, s & POISONED);
    if (prev === s) break;
    s = prev;
  }
  if ((s & WAITING) !== 0) wakeBoth(A, w, i);
  return true;
}

/**
 * Turns the write lock held by `me` into one read share, atomically: no writer can get in between.
 * Waiting readers are woken (and admitted: WRITERS_WAITING is cleared; waiting writers re-set it).
 */
export function downgrade(A: AtomicsLike, w: Int32Array, i: number, me: number): boolean {
  let s = A.load(w, i);
  for (;;) {
    if ((s & WRITE_LOCKED) === 0 || (s & COUNT_MASK) !== me) return false;
    const prev = A.compareExchange(w, i, s, (s & POISONED) | 1);
    if (prev === s) break;
    s = prev;
  }
  if ((s & WAITING) !== 0) wakeBoth(A, w, i);
  return true;
}

/** Read lock, parking through `A.wait`. Returns `false` on timeout. */
export function readBlocking(
  A: AtomicsLike,
  w: Int32Array,
  i: number,
  table: Int32Array | undefined,
  now: Clock,
  timeout: number,
  spins?: number,
): boolean {
  if (tryRead(A, w, i, table)) return true;
  const waiter = newWaiter(spins);
  const deadline = now() + timeout;
  while (!readStep(A, w, i, table, waiter)) {
    const time = parkTime(waiter, deadline, now());
    if (time <= 0) return false;
    A.wait(w, waiter.index, waiter.expected, time);
  }
  return true;
}

/** Write lock, parking through `A.wait`. Returns `false` on timeout. */
export function writeBlocking(
  A: AtomicsLike,
  w: Int32Array,
  i: number,
  me: number,
  table: Int32Array | undefined,
  now: Clock,
  timeout: number,
  spins?: number,
): boolean {
  if (tryWrite(A, w, i, me, table)) return true;
  const waiter = newWaiter(spins);
  const deadline = now() + timeout;
  while (!writeStep(A, w, i, me, table, waiter)) {
    const time = parkTime(waiter, deadline, now());
    if (time <= 0) return false;
    A.wait(w, waiter.index, waiter.expected, time);
  }
  return true;
}

/** Sets POISONED. */
export function poisonRwLock(A: AtomicsLike, w: Int32Array, i: number): void {
  A.or(w, i, POISONED);
}

/** Clears POISONED. */
export function clearRwPoison(A: AtomicsLike, w: Int32Array, i: number): void {
  A.and(w, i, ~POISONED);
}

/**
 * Records one read share of `me` in its reader slot (claiming a free slot on its first share).
 * Call right after acquiring a read share. Returns `false` when every slot is taken by other threads
 * (the share is then untracked: do not call {@link unregisterReader} for it).
 */
export function registerReader(A: AtomicsLike, w: Int32Array, i: number, me: number): boolean {
  let free = -1;
  for (let k = 0; k < READER_SLOTS; k++) {
    const id = A.load(w, i + 2 + 2 * k);
    if (id === me) {
      A.add(w, i + 3 + 2 * k, 1);
      return true;
    }
    if (id === 0 && free < 0) free = k;
  }
  for (let k = free < 0 ? READER_SLOTS : free; k < READER_SLOTS; k++) {
    if (A.compareExchange(w, i + 2 + 2 * k, 0, me) === 0) {
      A.add(w, i + 3 + 2 * k, 1);
      return true;
    }
  }
  return false;
}

/** Removes one read share of `me` from its slot (freeing the slot at zero). Call before {@link readUnlock}. */
export function unregisterReader(A: AtomicsLike, w: Int32Array, i: number, me: number): void {
  for (let k = 0; k < READER_SLOTS; k++) {
    if (A.load(w, i + 2 + 2 * k) !== me) continue;
    if (A.sub(w, i + 3 + 2 * k, 1) === 1) A.compareExchange(w, i + 2 + 2 * k, me, 0);
    return;
  }
}

/**
 * Takes the shares of dead reader threads back out of COUNT (waking everyone if the lock becomes free).
 * Returns `true` if it reclaimed anything (the caller should re-run its step).
 */
export function reapDeadReaders(A: AtomicsLike, w: Int32Array, i: number, table: Int32Array | undefined): boolean {
  // A dead upgradable reader also gives up its role (its share is one of the slots below).
  const upgraderReaped = reapIfUpgraderDead(A, w, i, A.load(w, i), table);
  let reclaimed = 0;
  for (let k = 0; k < READER_SLOTS; k++) {
    const id = A.load(w, i + 2 + 2 * k);
    if (id === 0 || !isDead(A, table, id)) continue;
    reclaimed += A.exchange(w, i + 3 + 2 * k, 0);
    A.compareExchange(w, i + 2 + 2 * k, id, 0);
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

// --- upgradable reads (parking_lot's upgradable read) ----------------------------------------------
//
// An upgradable reader is a reader (counted in COUNT, blocked by WRITE_LOCKED / WRITERS_WAITING like
// any reader) that also holds UPGRADABLE, which excludes other upgradable readers. Its owner id is in
// `w[i + UPGRADER_WORD]` for owner-death recovery (written just after the bit is set, cleared just
// before it is cleared: a death inside those windows leaves the role unrecoverable). To upgrade, it
// sets UPGRADER_WAITING and WRITERS_WAITING (new readers then wait), parks on the writers' sequence
// until it is the only reader (the reader whose unlock leaves COUNT = 1 wakes it), and turns its share
// into the write lock with one CAS.

/** If the upgradable role is held by a dead thread, releases the role (its share is reclaimed through its slot). */
function reapIfUpgraderDead(
  A: AtomicsLike,
  w: Int32Array,
  i: number,
  s: number,
  table: Int32Array | undefined,
): boolean {
  if ((s & UPGRADABLE) === 0) return false;
  const id = A.load(w, i + UPGRADER_WORD);
  if (id === 0 || !isDead(A, table, id)) return false;
  if (A.compareExchange(w, i, s, s & ~(UPGRADABLE | UPGRADER_WAITING)) === s) {
    A.compareExchange(w, i + UPGRADER_WORD, id, 0);
    A.notify(w, i);
  }
  return true;
}

/** Takes an upgradable read share if no writer holds or waits and no other upgradable reader holds. */
export function tryUpgradableRead(
  A: AtomicsLike,
  w: Int32Array,
  i: number,
  me: number,
  table: Int32Array | undefined,
): boolean {
  let s = A.load(w, i);
  for (;;) {
    if (reapIfWriterDead(A, w, i, s, table) || reapIfUpgraderDead(A, w, i, s, table)) {
      s = A.load(w, i);
      continue;
    }
    if ((s & (WRITE_LOCKED | WRITERS_WAITING | UPGRADABLE)) !== 0 || (s & COUNT_MASK) === MAX_READERS) return false;
    const prev = A.compareExchange(w, i, s, (s + 1) | UPGRADABLE);
    if (prev === s) {
      A.store(w, i + UPGRADER_WORD, me);
      return true;
    }
    s = prev;
  }
}

/** One upgradable-read attempt; parks on `w[i]` (READERS_WAITING) when it cannot get in. */
export function upgradableReadStep(
  A: AtomicsLike,
  w: Int32Array,
  i: number,
  me: number,
  table: Int32Array | undefined,
  waiter: RawWaiter,
): boolean {
  for (;;) {
    if (tryUpgradableRead(A, w, i, me, table)) return true;
    const s = A.load(w, i);
    if ((s & (WRITE_LOCKED | WRITERS_WAITING | UPGRADABLE)) === 0 && (s & COUNT_MASK) < MAX_READERS) continue;
    const want = s | READERS_WAITING;
    if (want !== s && A.compareExchange(w, i, s, want) !== s) continue;
    waiter.parked = true;
    waiter.index = i;
    waiter.expected = want;
    waiter.parkTimeout = POLL_MS;
    return false;
  }
}

/** Wakes parked readers so that a waiting upgradable reader retries (plain readers re-check and re-park). */
function wakeReaders(A: AtomicsLike, w: Int32Array, i: number, s: number): void {
  if ((s & READERS_WAITING) !== 0) A.notify(w, i);
}

/** Gives back the upgradable share held by `me`. Returns `false` if it does not hold one. */
export function upgradableUnlock(A: AtomicsLike, w: Int32Array, i: number, me: number): boolean {
  A.compareExchange(w, i + UPGRADER_WORD, me, 0);
  let s = A.load(w, i);
  for (;;) {
    if ((s & UPGRADABLE) === 0 || (s & COUNT_MASK) === 0) return false;
    const prev = A.compareExchange(w, i, s, (s - 1) & ~(UPGRADABLE | UPGRADER_WAITING));
    if (prev === s) break;
    s = prev;
  }
  if ((s & COUNT_MASK) === 1 && (s & WAITING) !== 0) wakeAllIfFree(A, w, i);
  else wakeReaders(A, w, i, s);
  return true;
}

/** Turns the upgradable share of `me` into a plain read share (another upgradable reader may then enter). */
export function downgradeUpgradable(A: AtomicsLike, w: Int32Array, i: number, me: number): boolean {
  A.compareExchange(w, i + UPGRADER_WORD, me, 0);
  let s = A.load(w, i);
  for (;;) {
    if ((s & UPGRADABLE) === 0) return false;
    const prev = A.compareExchange(w, i, s, s & ~(UPGRADABLE | UPGRADER_WAITING));
    if (prev === s) break;
    s = prev;
  }
  wakeReaders(A, w, i, s);
  return true;
}

/** Upgrades now if `me`'s upgradable share is the only share. */
export function tryUpgrade(A: AtomicsLike, w: Int32Array, i: number, me: number): boolean {
  let s = A.load(w, i);
  for (;;) {
    if ((s & UPGRADABLE) === 0 || (s & COUNT_MASK) !== 1) return false;
    // Keep the WAITING bits: the write unlock must wake whoever set them.
    const prev = A.compareExchange(w, i, s, (s & (POISONED | WAITING)) | WRITE_LOCKED | me);
    if (prev === s) {
      A.compareExchange(w, i + UPGRADER_WORD, me, 0);
      return true;
    }
    s = prev;
  }
}

/**
 * One upgrade attempt by the upgradable reader `me`: `true` once it holds the write lock; otherwise it
 * has flagged UPGRADER_WAITING (and WRITERS_WAITING, so that new readers wait) and prepared `waiter`
 * to park on the writers' sequence.
 */
export function upgradeStep(A: AtomicsLike, w: Int32Array, i: number, me: number, waiter: RawWaiter): boolean {
  for (;;) {
    const seq = A.load(w, i + 1);
    if (tryUpgrade(A, w, i, me)) return true;
    const s = A.load(w, i);
    if ((s & UPGRADABLE) === 0) return false; // not an upgradable holder: misuse, nothing to wait for
    if ((s & COUNT_MASK) === 1) continue;
    const want = s | UPGRADER_WAITING | WRITERS_WAITING;
    if (want !== s && A.compareExchange(w, i, s, want) !== s) continue;
    waiter.parked = true;
    waiter.index = i + 1;
    waiter.expected = seq;
    waiter.parkTimeout = POLL_MS;
    return false;
  }
}

/** An upgrade that gives up (timeout, abort) clears UPGRADER_WAITING; the share stays held. */
export function abandonUpgrade(A: AtomicsLike, w: Int32Array, i: number): void {
  let s = A.load(w, i);
  while ((s & UPGRADER_WAITING) !== 0) {
    const prev = A.compareExchange(w, i, s, s & ~UPGRADER_WAITING);
    if (prev === s) return;
    s = prev;
  }
}
