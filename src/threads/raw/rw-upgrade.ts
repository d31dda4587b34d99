/**
 * The raw reader-writer lock, part 3: upgradable reads (parking_lot's upgradable read) and the
 * lifecycle of an upgradable guard (upgrade pending, cancelled by release or downgrade, given up).
 *
 * An upgradable reader is a reader (counted in COUNT, blocked by WRITE_LOCKED / WRITERS_WAITING like
 * any reader, and by another thread's registered starver like a writer: see ./rw-word.ts) that also holds UPGRADABLE, which excludes other upgradable readers. Its owner id is in
 * `w[i + UPGRADER_WORD]` for owner-death recovery (written just after the bit is set, cleared just
 * before it is cleared: a death inside those windows leaves the role unrecoverable). To upgrade, it
 * sets UPGRADER_WAITING and WRITERS_WAITING (new readers then wait), parks on the writers' sequence
 * until it is the only reader (the reader whose unlock leaves COUNT = 1 wakes it), and turns its share
 * into the write lock with one CAS.
 *
 * ## The guard lifecycle
 *
 * The tasks of one thread share one owner id, so the lock word cannot tell whose share an upgrade
 * turns into the write lock. The guard therefore keeps its own state in a word `g[0]` (a plain,
 * unshared `Int32Array` in production; model memory in the checker), and every guard operation goes
 * through it:
 *
 * | g[0]        | meaning                               | left by                                          |
 * |-------------|---------------------------------------|--------------------------------------------------|
 * | HELD        | holds the upgradable share            | {@link beginUpgrade} → UPGRADING, release / downgrade / tryUpgrade → done |
 * | UPGRADING   | an `upgrade()` is pending             | its step → UPGRADED, {@link giveUpUpgrade} → HELD, release / downgrade → done (cancelling it) |
 * | RELEASED, DOWNGRADED, UPGRADED | done                   | never                                            |
 *
 * - A second `upgrade()` while one is pending finds UPGRADING and is refused; `tryUpgrade` then fails.
 * - Release or downgrade during a pending upgrade takes the guard first (g → done), then withdraws the
 *   upgrade's flags and wakes it ({@link abandonUpgrade}); the upgrade's next step sees the guard is
 *   done and reports {@link UPGRADE_CANCELLED}, whoever holds the upgradable role by then.
 * - A step that won the lock word decides with one CAS on `g` (UPGRADING → UPGRADED). In one thread
 *   nothing runs between the two; when the model checker runs the tasks of a thread as preemptible
 *   threads, a release or downgrade may take the guard in between, and the step then undoes its win
 *   (write unlock, or downgrade to the share the downgraded guard keeps).
 */
import type { AtomicsLike } from "./atomics-like.js";
import { reapDeadReaders, unregisterReader } from "./rw-reader-slots.js";
import {
  COUNT_MASK,
  clearWritersWaiting,
  downgrade,
  MAX_READERS,
  POISONED,
  READERS_WAITING,
  reapIfUpgraderDead,
  reapIfWriterDead,
  refusedReader,
  registerStarver,
  STARVER_ID,
  STARVER_READS,
  STARVER_WORD,
  settleStarver,
  UPGRADABLE,
  UPGRADER_WAITING,
  UPGRADER_WORD,
  WAITING,
  WRITE_LOCKED,
  WRITERS_WAITING,
  wakeAllIfFree,
  writeUnlock,
} from "./rw-word.js";
import { type Clock, POLL_MS, type RawWaiter } from "./waiter.js";

/**
 * Takes an upgradable read share if no writer holds or waits, no other upgradable reader holds, and no
 * starver of another thread is registered.
 */
export function tryUpgradableRead(
  A: AtomicsLike,
  w: Int32Array,
  i: number,
  me: number,
  table: Int32Array | undefined,
): boolean {
  const st = A.load(w, i + STARVER_WORD);
  if (st !== 0 && (st & STARVER_ID) !== me) return false;
  return takeUpgradable(A, w, i, me, table);
}

/** Takes the upgradable share if the state word allows it (the starver check is the caller's). */
function takeUpgradable(A: AtomicsLike, w: Int32Array, i: number, me: number, table: Int32Array | undefined): boolean {
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

/**
 * One upgradable-read attempt; parks on `w[i]` (READERS_WAITING) when it cannot get in, or on the
 * writers' sequence when refused because of another thread's starver (see ./rw-word.ts).
 */
export function upgradableReadStep(
  A: AtomicsLike,
  w: Int32Array,
  i: number,
  me: number,
  table: Int32Array | undefined,
  waiter: RawWaiter,
  now: Clock,
): boolean {
  for (;;) {
    const st = A.load(w, i + STARVER_WORD);
    if (st !== 0 && (st & STARVER_ID) !== me) {
      if (refusedReader(A, w, i, st, table, waiter, now)) continue;
      return false;
    }
    if (takeUpgradable(A, w, i, me, table)) {
      settleStarver(A, w, i, waiter);
      return true;
    }
    const s = A.load(w, i);
    if ((s & (WRITE_LOCKED | WRITERS_WAITING | UPGRADABLE)) === 0 && (s & COUNT_MASK) < MAX_READERS) continue;
    const want = s | READERS_WAITING;
    if (want !== s && A.compareExchange(w, i, s, want) !== s) continue;
    if (registerStarver(A, w, i, me | STARVER_READS, waiter, now)) continue;
    waiter.index = i;
    waiter.expected = want;
    return false;
  }
}

/** The upgradable-read step `RwLock` runs, reaping dead readers before it parks. */
export function upgradableReadStepReaping(
  A: AtomicsLike,
  w: Int32Array,
  i: number,
  me: number,
  table: Int32Array | undefined,
  waiter: RawWaiter,
  now: Clock,
): boolean {
  for (;;) {
    if (upgradableReadStep(A, w, i, me, table, waiter, now)) return true;
    if (!reapDeadReaders(A, w, i, me, table)) return false;
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

/** {@link upgradeAttempt}: the write lock is now held. */
const ATTEMPT_UPGRADED = 1;
/** {@link upgradeAttempt}: parked state prepared in the waiter. */
const ATTEMPT_PARK = 0;
/** {@link upgradeAttempt}: the word holds no upgradable share (released, or reaped): nothing to wait for. */
const ATTEMPT_NOT_UPGRADABLE = 2;

function upgradeAttempt(A: AtomicsLike, w: Int32Array, i: number, me: number, waiter: RawWaiter): number {
  for (;;) {
    const seq = A.load(w, i + 1);
    if (tryUpgrade(A, w, i, me)) return ATTEMPT_UPGRADED;
    const s = A.load(w, i);
    if ((s & UPGRADABLE) === 0) return ATTEMPT_NOT_UPGRADABLE;
    if ((s & COUNT_MASK) === 1) continue;
    const want = s | UPGRADER_WAITING | WRITERS_WAITING;
    if (want !== s && A.compareExchange(w, i, s, want) !== s) continue;
    waiter.parked = true;
    waiter.index = i + 1;
    waiter.expected = seq;
    waiter.parkTimeout = POLL_MS;
    return ATTEMPT_PARK;
  }
}

/**
 * One upgrade attempt by the upgradable reader `me` on the word alone: `true` once it holds the write
 * lock; otherwise it has flagged UPGRADER_WAITING (and WRITERS_WAITING, so that new readers wait) and
 * prepared `waiter` to park on the writers' sequence. Only for callers that know they hold the
 * upgradable share (the guard protocol below checks that); for anyone else it returns `false` with
 * `waiter` untouched.
 */
export function upgradeStep(A: AtomicsLike, w: Int32Array, i: number, me: number, waiter: RawWaiter): boolean {
  return upgradeAttempt(A, w, i, me, waiter) === ATTEMPT_UPGRADED;
}

/**
 * An upgrade that gives up (timeout, abort, cancelled) withdraws what it set: UPGRADER_WAITING and
 * WRITERS_WAITING, waking both sides (writers still waiting set theirs again); the share stays held.
 */
export function abandonUpgrade(A: AtomicsLike, w: Int32Array, i: number): void {
  clearWritersWaiting(A, w, i, UPGRADER_WAITING);
}

// --- the guard lifecycle (see the module docs) -----------------------------------------------------

/** `g[0]`: the guard holds its upgradable share. */
export const GUARD_HELD = 0;
/** `g[0]`: an `upgrade()` of the guard is pending. */
export const GUARD_UPGRADING = 1;
/** `g[0]`: released (the share is given back). */
export const GUARD_RELEASED = 2;
/** `g[0]`: downgraded (the share is a plain read share now, owned by another guard). */
export const GUARD_DOWNGRADED = 3;
/** `g[0]`: upgraded (the share became the write lock). */
export const GUARD_UPGRADED = 4;

/** {@link upgradeGuardStep}: the write lock is held and the guard is UPGRADED. */
export const UPGRADE_DONE = 0;
/** {@link upgradeGuardStep}: park where `waiter` says, then step again. */
export const UPGRADE_PARK = 1;
/** {@link upgradeGuardStep}: the guard was released or downgraded meanwhile; nothing is held for the upgrade. */
export const UPGRADE_CANCELLED = 2;

/**
 * Starts an upgrade of the guard `g`: HELD → UPGRADING. Returns the state it found: {@link GUARD_HELD}
 * (started), {@link GUARD_UPGRADING} (one is already pending: refuse), or a done state.
 */
export function beginUpgrade(A: AtomicsLike, g: Int32Array): number {
  return A.compareExchange(g, 0, GUARD_HELD, GUARD_UPGRADING);
}

/** The guard that `me`'s share belongs to was taken while we won the word: undo the win. */
function undoUpgrade(A: AtomicsLike, w: Int32Array, i: number, me: number, state: number): void {
  // Downgraded: its read guard keeps the share (still in the slot). Released: its share is gone.
  if (state === GUARD_DOWNGRADED) downgrade(A, w, i, me);
  else writeUnlock(A, w, i, me);
}

/** The word is write-locked by `me` for the guard `g` in state `from`: claim it, or undo. */
function finishUpgrade(
  A: AtomicsLike,
  w: Int32Array,
  i: number,
  me: number,
  g: Int32Array,
  from: number,
  tracked: boolean,
): boolean {
  const state = A.compareExchange(g, 0, from, GUARD_UPGRADED);
  if (state !== from) {
    undoUpgrade(A, w, i, me, state);
    return false;
  }
  // The share is the write lock now, no longer a read share in the slots.
  if (tracked) unregisterReader(A, w, i, me);
  return true;
}

/**
 * One step of the pending upgrade of guard `g` (after {@link beginUpgrade}): {@link UPGRADE_DONE},
 * {@link UPGRADE_PARK} (park on `waiter`, then step again), or {@link UPGRADE_CANCELLED}.
 */
export function upgradeGuardStep(
  A: AtomicsLike,
  w: Int32Array,
  i: number,
  me: number,
  g: Int32Array,
  tracked: boolean,
  waiter: RawWaiter,
): number {
  if (A.load(g, 0) !== GUARD_UPGRADING) return UPGRADE_CANCELLED;
  const attempt = upgradeAttempt(A, w, i, me, waiter);
  if (attempt === ATTEMPT_PARK) return UPGRADE_PARK;
  if (attempt === ATTEMPT_UPGRADED)
    return finishUpgrade(A, w, i, me, g, GUARD_UPGRADING, tracked) ? UPGRADE_DONE : UPGRADE_CANCELLED;
  // The word holds no upgradable share although the guard does: it was reaped (this thread was taken
  // for dead). The guard is done; there is nothing to give back.
  if (A.compareExchange(g, 0, GUARD_UPGRADING, GUARD_RELEASED) === GUARD_UPGRADING) abandonUpgrade(A, w, i);
  return UPGRADE_CANCELLED;
}

/** A pending upgrade of `g` gives up (timeout, abort): the guard holds its share again, flags withdrawn. */
export function giveUpUpgrade(A: AtomicsLike, w: Int32Array, i: number, g: Int32Array): void {
  // A release or downgrade that took the guard meanwhile has withdrawn them already.
  if (A.compareExchange(g, 0, GUARD_UPGRADING, GUARD_HELD) === GUARD_UPGRADING) abandonUpgrade(A, w, i);
}

/** The guard `g` becomes `to` (a done state); returns the state it left, or a done state if it was done. */
function takeGuard(A: AtomicsLike, g: Int32Array, to: number): number {
  let s = A.load(g, 0);
  for (;;) {
    if (s !== GUARD_HELD && s !== GUARD_UPGRADING) return s;
    const prev = A.compareExchange(g, 0, s, to);
    if (prev === s) return s;
    s = prev;
  }
}

/**
 * Releases the upgradable guard `g` of `me` (cancelling its pending upgrade, if any). Returns `false`
 * if the guard was already done.
 */
export function releaseUpgradableGuard(
  A: AtomicsLike,
  w: Int32Array,
  i: number,
  me: number,
  g: Int32Array,
  tracked: boolean,
): boolean {
  const was = takeGuard(A, g, GUARD_RELEASED);
  if (was !== GUARD_HELD && was !== GUARD_UPGRADING) return false;
  if (was === GUARD_UPGRADING) abandonUpgrade(A, w, i);
  releaseUpgradableShare(A, w, i, me, tracked);
  return true;
}

/** Gives back `me`'s upgradable share (and its slot record): what releasing a HELD guard does after taking it. */
export function releaseUpgradableShare(A: AtomicsLike, w: Int32Array, i: number, me: number, tracked: boolean): void {
  if (tracked) unregisterReader(A, w, i, me);
  upgradableUnlock(A, w, i, me);
}

/**
 * Upgrades `me`'s upgradable share now if it is the only share (and takes it out of its slot): what
 * {@link tryUpgradeGuard} does for a HELD guard that no other task can reach meanwhile.
 */
export function tryUpgradeShare(A: AtomicsLike, w: Int32Array, i: number, me: number, tracked: boolean): boolean {
  if (!tryUpgrade(A, w, i, me)) return false;
  if (tracked) unregisterReader(A, w, i, me);
  return true;
}

/**
 * Turns the upgradable guard `g` of `me` into a plain read share (cancelling its pending upgrade, if
 * any); the share stays recorded in the slot as it was. Returns `false` if the guard was already done.
 */
export function downgradeUpgradableGuard(A: AtomicsLike, w: Int32Array, i: number, me: number, g: Int32Array): boolean {
  const was = takeGuard(A, g, GUARD_DOWNGRADED);
  if (was !== GUARD_HELD && was !== GUARD_UPGRADING) return false;
  if (was === GUARD_UPGRADING) abandonUpgrade(A, w, i);
  downgradeUpgradable(A, w, i, me);
  return true;
}

/**
 * Upgrades the guard `g` now if its share is the only share and no upgrade is pending; the guard is
 * then UPGRADED. Otherwise `false` and nothing changes.
 */
export function tryUpgradeGuard(
  A: AtomicsLike,
  w: Int32Array,
  i: number,
  me: number,
  g: Int32Array,
  tracked: boolean,
): boolean {
  // Marked as upgrading for the moment of the attempt (a concurrent upgrade() is refused meanwhile:
  // possible only when the model checker runs one thread's tasks as preemptible threads).
  if (beginUpgrade(A, g) !== GUARD_HELD) return false;
  if (tryUpgrade(A, w, i, me)) return finishUpgrade(A, w, i, me, g, GUARD_UPGRADING, tracked);
  // A release or downgrade that took the guard meanwhile has done its part already.
  A.compareExchange(g, 0, GUARD_UPGRADING, GUARD_HELD);
  return false;
}
