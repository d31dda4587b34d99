/**
 * The raw reader-writer lock, part 1: the layout and the state word (plain reads, writes, downgrade,
 * poisoning, writer-owner recovery). Reader slots and reaping are in ./rw-reader-slots.ts, upgradable
 * reads and the upgrade lifecycle in ./rw-upgrade.ts; ./raw-rw-lock.ts re-exports all three.
 *
 * Step functions (every shared access goes through `A`; between two calls only locals change):
 * - {@link tryRead}`(A, w, i, table)`, {@link readStep}`(A, w, i, me, table, waiter, now)`,
 *   {@link abandonRead}`(A, w, i, waiter)`, {@link readUnlock}`(A, w, i)`
 * - {@link tryWrite}`(A, w, i, me, table)`, {@link writeStep}`(A, w, i, me, table, waiter, now)`,
 *   {@link abandonWrite}`(A, w, i, waiter)`, {@link writeUnlock}`(A, w, i, me)`, {@link downgrade}`(A, w, i, me)`
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
 * | 25    | WRITERS_WAITING  | a writer is parked on `w[i+1]`; new readers must wait    | writers set; "last one out" and a writer that gives up clear |
 * | 26    | POISONED         | a writer failed or died; sticky                          | writer / reaper set, anyone clears |
 * | 27    | UPGRADABLE       | the (single) upgradable reader holds a share             | it sets and clears; a reaper clears |
 * | 28    | UPGRADER_WAITING | the upgradable reader waits to upgrade (on `w[i+1]`)     | it sets and clears; a reaper clears |
 *
 * Invariant: when the lock is free (COUNT = 0, not WRITE_LOCKED) both WAITING bits are clear — every
 * transition to free clears them and wakes both sides ("last one out wakes everyone").
 *
 * Writer preference (no writer starvation): while WRITERS_WAITING is set, new readers wait even though
 * readers hold the lock; the readers drain and the last one wakes the writers. WRITERS_WAITING is one
 * bit for any number of writers, so a writer (or an upgrade) that gives up cannot tell whether it was
 * the last one: it clears the bit and wakes both sides ({@link abandonWrite}); every writer still
 * parked wakes and sets the bit again before it parks again. Until then a reader may slip in: a
 * moment of lost preference, never a reader refused while no writer waits.
 *
 * ## Eventual fairness: one registered starver
 *
 * Writer preference alone lets writers barge each other (a running writer re-takes the lock before a
 * woken one runs) and lets a stream of writers starve readers. So a waiter that has waited
 * {@link FAIR_AFTER_MS} since its first park registers as *the* starver (one at a time) in two words
 * after the upgrader word:
 *
 * | word             | meaning                                                         | who may change it |
 * |------------------|-----------------------------------------------------------------|-------------------|
 * | i + STARVER_WORD | 0, or the starver: its owner id (bits 0–22), + {@link STARVER_READS} (bit 24) when it waits for a read or upgradable-read share | a waiter that has waited ≥ FAIR_AFTER_MS sets it (CAS 0 → value); the starver clears it when it acquires or gives up; anyone clears it when its owner is dead or its BEAT stood still for {@link STALE_STARVER_MS} (CAS value → 0) |
 * | i + BEAT_WORD    | heartbeat: the registered starver adds 1 at each of its parks    | the registered starver (add) |
 *
 * While a starver of another thread is registered (ids compare: the tasks of one thread share an id):
 * - writers and upgradable readers do not take a free lock (they park on the writers' sequence);
 * - when the starver waits to write (no STARVER_READS), new readers do not enter either (same park).
 * A starving reader needs no other privilege: WRITERS_WAITING holds it back only while readers hold
 * the lock or an upgrade is pending; they drain, the transition to free clears the WAITING bits, and
 * then no writer may take the free lock before it. (Letting it past WRITERS_WAITING would let readers
 * in ahead of a pending upgrade, which the contract forbids.)
 * Upgrades (a held upgradable share becoming the write lock) ignore the starver: they hold a share a
 * writer starver waits for, so refusing them would deadlock.
 *
 * Wake-ups: every waiter refused because of the starver parks on the writers' sequence `w[i + 1]`,
 * having read the sequence before STARVER; clearing STARVER (acquired, gave up, stale) bumps the
 * sequence and wakes it ({@link wakeWriters}), so a clear between the check and the park cannot be
 * lost (parking on the state word would lose it: clearing STARVER does not change the state word). A
 * starver parks with its WAITING bit set like any waiter, so the release that frees the lock wakes it.
 *
 * Staleness: a starver that died (liveness table) or whose BEAT stands still (a thread that stopped
 * stepping: terminated unsupervised, or an event loop blocked for long) is cleared by the next waiter
 * it refuses, so a dead or stuck starver costs a bounded delay ({@link STALE_STARVER_MS} plus a poll),
 * never a hang. Clearing a live starver only delays its fairness: it registers again.
 *
 * The try paths ({@link tryRead}, {@link tryWrite}, `tryUpgradableRead`) never wait, so they can never
 * be the starver: they refuse while another thread's starver is registered (tryRead: a writer starver
 * of any thread), as a waiting acquire would.
 */
import type { AtomicsLike } from "./atomics-like.js";
import { driveBlocking, PARK } from "./drive.js";
import { isDead } from "./liveness-table.js";
import { FAIR_AFTER_MS } from "./raw-mutex.js";
import { type Clock, newWaiter, POLL_MS, type RawWaiter } from "./waiter.js";

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
/** Reading threads whose shares are tracked for owner-death recovery (see ./rw-reader-slots.ts). */
export const READER_SLOTS = 8;
/** Offset (from `i`) of the first reader slot: `[owner id, shares]` pairs. */
export const SLOTS = 2;
/** Offset (from `i`) of the word naming the upgradable reader (owner id, 0 when none or unknown). */
export const UPGRADER_WORD = SLOTS + 2 * READER_SLOTS;
/** Offset (from `i`) of the word naming the registered starving waiter (see the module docs). */
export const STARVER_WORD = UPGRADER_WORD + 1;
/** Offset (from `i`) of the registered starver's heartbeat. */
export const BEAT_WORD = UPGRADER_WORD + 2;
/** Words a raw rwlock occupies: state, sequence, reader slots, upgrader, starver and its heartbeat. */
export const RW_LOCK_WORDS = UPGRADER_WORD + 3;
/** In the STARVER word: the starver waits for a read (or upgradable-read) share. */
export const STARVER_READS = 1 << 24;
/** In the STARVER word: the owner id. */
export const STARVER_ID = COUNT_MASK;
/** A registered starver whose BEAT has not moved for this long (ms) is taken for stuck and cleared. */
export const STALE_STARVER_MS = 4 * POLL_MS;

/** What a waiter keeps about the starver protocol (local, like the rest of its {@link RawWaiter}). */
interface FairWaiter extends RawWaiter {
  /** The STARVER value this waiter registered (0 or absent: none). */
  mine?: number;
  /** A foreign STARVER value seen while refused, the BEAT seen with it, and since when (staleness). */
  seen?: number;
  seenBeat?: number;
  seenAt?: number;
}

/** The STARVER value `waiter` registered (0: none). */
export function starverOf(waiter: RawWaiter): number {
  return (waiter as FairWaiter).mine ?? 0;
}

/**
 * At park time: marks the waiter parked (first park: starts its clock), keeps its registration alive
 * (BEAT), or registers it as the starver once it has waited {@link FAIR_AFTER_MS}. Sets
 * `waiter.parkTimeout`. Returns `true` when it has just registered: the caller re-runs its step, which
 * finds the word as it is now (the lock may have been freed meanwhile).
 */
export function registerStarver(
  A: AtomicsLike,
  w: Int32Array,
  i: number,
  value: number,
  waiter: RawWaiter,
  now: Clock,
): boolean {
  const fw = waiter as FairWaiter;
  if (!waiter.parked) {
    waiter.parked = true;
    waiter.since = now();
    // Wake after FAIR_AFTER_MS to register if still waiting.
    waiter.parkTimeout = FAIR_AFTER_MS;
    return false;
  }
  const mine = fw.mine ?? 0;
  if (mine !== 0) {
    if (A.load(w, i + STARVER_WORD) === mine) {
      A.add(w, i + BEAT_WORD, 1);
      waiter.parkTimeout = POLL_MS;
      return false;
    }
    // Cleared as stale by another waiter: register again.
    fw.mine = 0;
  }
  if (now() - waiter.since < FAIR_AFTER_MS) {
    waiter.parkTimeout = FAIR_AFTER_MS;
    return false;
  }
  waiter.parkTimeout = POLL_MS;
  if (A.compareExchange(w, i + STARVER_WORD, 0, value) !== 0) return false;
  fw.mine = value;
  return true;
}

/**
 * The two-level rule of `RwLock` (issue 10): must a release by thread `self`, which has tasks of its own
 * queued, go to the word rather than to them? Yes when a waiter waits on the word (a WAITING bit) or
 * another thread's waiter is the registered starver (only it may take the word then). A WAITING bit may
 * be `self`'s own (set by its competitor on an earlier park): then the release goes through the word
 * once and the competitor takes it back.
 */
export function othersWaiting(A: AtomicsLike, w: Int32Array, i: number, self: number): boolean {
  if ((A.load(w, i) & WAITING) !== 0) return true;
  const starver = A.load(w, i + STARVER_WORD);
  return starver !== 0 && (starver & STARVER_ID) !== self;
}

/** The waiter has acquired: if it was the registered starver, clear the registration and wake the refused. */
export function settleStarver(A: AtomicsLike, w: Int32Array, i: number, waiter: RawWaiter): void {
  const mine = starverOf(waiter);
  if (mine === 0) return;
  (waiter as FairWaiter).mine = 0;
  if (A.compareExchange(w, i + STARVER_WORD, mine, 0) === mine) wakeWriters(A, w, i);
}

/**
 * A waiter that gives up (timeout, abort) withdraws its starver registration, if any, and wakes the
 * waiters it refused. Call it from every give-up path of a read, upgradable read or write wait.
 */
export function abandonRead(A: AtomicsLike, w: Int32Array, i: number, waiter: RawWaiter): void {
  settleStarver(A, w, i, waiter);
}

/**
 * Refused by the foreign starver `st`: clears it if its owner is dead or its BEAT has stood still for
 * {@link STALE_STARVER_MS} (this waiter's own clock). Returns `true` when it cleared (re-run the step).
 */
function clearIfStale(
  A: AtomicsLike,
  w: Int32Array,
  i: number,
  st: number,
  table: Int32Array | undefined,
  waiter: RawWaiter,
  now: Clock,
): boolean {
  const fw = waiter as FairWaiter;
  if (!isDead(A, table, st & STARVER_ID)) {
    const beat = A.load(w, i + BEAT_WORD);
    const t = now();
    if (fw.seen !== st || fw.seenBeat !== beat) {
      fw.seen = st;
      fw.seenBeat = beat;
      fw.seenAt = t;
      return false;
    }
    if (t - (fw.seenAt as number) < STALE_STARVER_MS) return false;
  }
  fw.seen = 0;
  if (A.compareExchange(w, i + STARVER_WORD, st, 0) === st) wakeWriters(A, w, i);
  return true;
}

/**
 * Refused because of the foreign starver `st`: unless it is stale, prepares `waiter` to park on the
 * writers' sequence `seq` (read before `st`, so that the clear's wake-up is not lost). Returns `false`
 * to park, `true` to re-run the step.
 */
export function refusedByStarver(
  A: AtomicsLike,
  w: Int32Array,
  i: number,
  st: number,
  seq: number,
  table: Int32Array | undefined,
  waiter: RawWaiter,
  now: Clock,
): boolean {
  if (clearIfStale(A, w, i, st, table, waiter, now)) return true;
  if (!waiter.parked) {
    waiter.parked = true;
    waiter.since = now();
  }
  waiter.index = i + 1;
  waiter.expected = seq;
  waiter.parkTimeout = POLL_MS;
  return false;
}

/**
 * A reader (or upgradable reader) refused by the foreign starver `st`, which it saw without the sequence: reads the sequence,
 * then confirms `st` is still registered (a clear after the sequence read moves the sequence).
 * Returns `false` to park, `true` to re-run the step.
 */
export function refusedReader(
  A: AtomicsLike,
  w: Int32Array,
  i: number,
  st: number,
  table: Int32Array | undefined,
  waiter: RawWaiter,
  now: Clock,
): boolean {
  const seq = A.load(w, i + 1);
  if (A.load(w, i + STARVER_WORD) !== st) return true;
  return refusedByStarver(A, w, i, st, seq, table, waiter, now);
}

/** Clears both WAITING bits if the lock is free, then wakes both sides. */
export function wakeAllIfFree(A: AtomicsLike, w: Int32Array, i: number): void {
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

export function wakeBoth(A: AtomicsLike, w: Int32Array, i: number): void {
  A.add(w, i + 1, 1);
  A.notify(w, i + 1);
  A.notify(w, i);
}

/** Wakes whoever parks on the writers' sequence (writers, and an upgradable reader waiting to upgrade). */
export function wakeWriters(A: AtomicsLike, w: Int32Array, i: number): void {
  A.add(w, i + 1, 1);
  A.notify(w, i + 1);
}

/** Releases a write lock whose owner died: free, poisoned, everyone woken. Returns `true` if the word changed. */
export function reapIfWriterDead(
  A: AtomicsLike,
  w: Int32Array,
  i: number,
  s: number,
  table: Int32Array | undefined,
): boolean {
  if ((s & WRITE_LOCKED) === 0 || !isDead(A, table, s & COUNT_MASK)) return false;
  if (A.compareExchange(w, i, s, POISONED) === s) wakeBoth(A, w, i);
  return true;
}

/** If the upgradable role is held by a dead thread, releases the role (its share is reclaimed through its slot). */
export function reapIfUpgraderDead(
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

/** Takes a read share if no writer holds or waits and no writer starver is registered. */
export function tryRead(A: AtomicsLike, w: Int32Array, i: number, table: Int32Array | undefined): boolean {
  let s = A.load(w, i);
  for (;;) {
    if ((s & WRITE_LOCKED) !== 0) {
      if (!reapIfWriterDead(A, w, i, s, table)) return false;
      s = A.load(w, i);
      continue;
    }
    if ((s & WRITERS_WAITING) !== 0 || (s & COUNT_MASK) === MAX_READERS) return false;
    // A starving writer (of any thread: a try has no registration of its own) is owed the lock.
    const st = A.load(w, i + STARVER_WORD);
    if (st !== 0 && (st & STARVER_READS) === 0) return false;
    const prev = A.compareExchange(w, i, s, s + 1);
    if (prev === s) return true;
    s = prev;
  }
}

/**
 * One read attempt by `me` (see the module docs). Parks on `w[i]` (READERS_WAITING) behind a writer,
 * or on the writers' sequence when refused because of a starving writer.
 */
export function readStep(
  A: AtomicsLike,
  w: Int32Array,
  i: number,
  me: number,
  table: Int32Array | undefined,
  waiter: RawWaiter,
  now: Clock,
): boolean {
  for (;;) {
    const s = A.load(w, i);
    if ((s & (WRITE_LOCKED | WRITERS_WAITING)) === 0 && (s & COUNT_MASK) < MAX_READERS) {
      // A starving writer (never this reader: its own registration has STARVER_READS) is owed the lock.
      const st = A.load(w, i + STARVER_WORD);
      if (st !== 0 && (st & STARVER_READS) === 0) {
        if (refusedReader(A, w, i, st, table, waiter, now)) continue;
        return false;
      }
      if (A.compareExchange(w, i, s, s + 1) === s) {
        settleStarver(A, w, i, waiter);
        return true;
      }
      continue;
    }
    if (reapIfWriterDead(A, w, i, s, table)) continue;
    if (waiter.spins > 0 && !waiter.parked && (s & WAITING) === 0) {
      waiter.spins--;
      continue;
    }
    const want = s | READERS_WAITING;
    if (want !== s && A.compareExchange(w, i, s, want) !== s) continue;
    if (registerStarver(A, w, i, me | STARVER_READS, waiter, now)) continue;
    waiter.index = i;
    waiter.expected = want;
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

/** Takes the write lock if it is free and no starver of another thread is registered. */
export function tryWrite(A: AtomicsLike, w: Int32Array, i: number, me: number, table: Int32Array | undefined): boolean {
  const st = A.load(w, i + STARVER_WORD);
  if (st !== 0 && (st & STARVER_ID) !== me) return false;
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
  now: Clock,
): boolean {
  for (;;) {
    // Read the sequence first: a wake-up after this read changes it, so the park returns at once.
    const seq = A.load(w, i + 1);
    const s = A.load(w, i);
    if ((s & (WRITE_LOCKED | COUNT_MASK)) === 0) {
      const st = A.load(w, i + STARVER_WORD);
      if (st !== 0 && (st & STARVER_ID) !== me) {
        if (refusedByStarver(A, w, i, st, seq, table, waiter, now)) continue;
        return false;
      }
      // A writer that has parked keeps WRITERS_WAITING set: other writers may still be parked, and its
      // unlock must wake them.
      const next = s | WRITE_LOCKED | me | (waiter.parked ? WRITERS_WAITING : 0);
      if (A.compareExchange(w, i, s, next) === s) {
        settleStarver(A, w, i, waiter);
        return true;
      }
      continue;
    }
    if (reapIfWriterDead(A, w, i, s, table)) continue;
    if (waiter.spins > 0 && !waiter.parked) {
      waiter.spins--;
      continue;
    }
    if ((s & WRITERS_WAITING) === 0 && A.compareExchange(w, i, s, s | WRITERS_WAITING) !== s) continue;
    if (registerStarver(A, w, i, me, waiter, now)) continue;
    waiter.index = i + 1;
    waiter.expected = seq;
    return false;
  }
}

/**
 * A writer whose {@link writeStep}s parked gives up (timeout, abort): it withdraws its starver
 * registration ({@link abandonRead}), clears WRITERS_WAITING (it may have set it, and cannot know
 * whether other writers still wait) and wakes both sides. Writers still waiting set the bit again on
 * their next step; readers held back only by the bit get in. A waiter that never parked set nothing
 * and changes nothing.
 */
export function abandonWrite(A: AtomicsLike, w: Int32Array, i: number, waiter: RawWaiter): void {
  if (!waiter.parked) return;
  settleStarver(A, w, i, waiter);
  clearWritersWaiting(A, w, i, 0);
}

/** Clears WRITERS_WAITING and the bits in `also`, then wakes both sides (see {@link abandonWrite}). */
export function clearWritersWaiting(A: AtomicsLike, w: Int32Array, i: number, also: number): void {
  const bits = WRITERS_WAITING | also;
  let s = A.load(w, i);
  for (;;) {
    // Already clear: whoever cleared it (the last one out, another writer giving up) woke everyone.
    if ((s & bits) === 0) return;
    const prev = A.compareExchange(w, i, s, s & ~bits);
    if (prev === s) break;
    s = prev;
  }
  wakeBoth(A, w, i);
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

/** Read lock (no reaping: the model tests' plain reader), through the shared driver (drive.ts). Returns `false` on timeout (having withdrawn what it set). */
export function readBlocking(
  A: AtomicsLike,
  w: Int32Array,
  i: number,
  me: number,
  table: Int32Array | undefined,
  now: Clock,
  timeout: number,
  spins?: number,
): boolean {
  if (tryRead(A, w, i, table)) return true;
  const waiter = newWaiter(spins);
  const step = (wt: RawWaiter) => (readStep(A, w, i, me, table, wt, now) ? 0 : PARK);
  if (driveBlocking(A, w, waiter, step, now() + timeout, now) !== PARK) return true;
  abandonRead(A, w, i, waiter);
  return false;
}

/** Write lock (no reaping), through the shared driver (drive.ts). Returns `false` on timeout (having cleared what it set). */
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
  const step = (wt: RawWaiter) => (writeStep(A, w, i, me, table, wt, now) ? 0 : PARK);
  if (driveBlocking(A, w, waiter, step, now() + timeout, now) !== PARK) return true;
  abandonWrite(A, w, i, waiter);
  return false;
}

/** Sets POISONED. */
export function poisonRwLock(A: AtomicsLike, w: Int32Array, i: number): void {
  A.or(w, i, POISONED);
}

/** Clears POISONED. */
export function clearRwPoison(A: AtomicsLike, w: Int32Array, i: number): void {
  A.and(w, i, ~POISONED);
}
