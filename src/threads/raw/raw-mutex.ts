/**
 * A futex-style mutex word with an owner slot, poisoning, owner-death recovery and eventual fairness.
 *
 * Step functions (every shared access goes through `A`; between two calls only locals change):
 * - {@link tryLock}`(A, w, i, me, table)` — one `compareExchange` when free; never waits.
 * - {@link lockStep}`(A, w, i, me, table, waiter, now)` — one attempt; `true` = acquired, `false` = park on
 *   `w[waiter.index]` while it still equals `waiter.expected`, for at most `waiter.parkTimeout` ms.
 * - {@link lockWait} — `lockStep` through the shared blocking driver (drive.ts), as `Mutex.lockSync`
 *   runs it; {@link lockBlocking}`(A, w, i, me, table, now, timeout)` — `tryLock`, then `lockWait`.
 * - {@link abandonLock}`(A, w, i)` — a waiter that gives up (timeout, abort) passes on a pending hand-off.
 * - {@link unlock}`(A, w, i, me)` — one `compareExchange` when nobody waits; {@link unlockSlow} is the
 *   rest, for a caller that made that first swap itself.
 * - {@link poisonLock} / {@link clearPoison} — set / clear the sticky POISONED bit.
 *
 * Word layout (`w[i]`, one `Int32`):
 *
 * | bits  | name       | meaning                                                    | who may change it |
 * |-------|------------|------------------------------------------------------------|-------------------|
 * | 0–1   | STATE      | 0 unlocked, 1 locked, 2 locked and waiters may be parked   | see transitions   |
 * | 2     | POISONED   | a holder failed or died; sticky                            | holder sets, reaper sets, anyone clears |
 * | 3     | STARVING   | a parked waiter has waited ≥ {@link FAIR_AFTER_MS}         | waiters set, unlock clears |
 * | 4     | HANDOFF    | locked on behalf of the parked waiters, owner 0            | unlock sets, a waiter that slept clears |
 * | 8–30  | OWNER      | owner id of the holder (`threadId + 1`), 0 when unlocked   | acquirer sets, unlock clears |
 *
 * Invariants: STATE = 0 ⇒ OWNER = 0, STARVING = 0, HANDOFF = 0 (only POISONED survives an unlock).
 * HANDOFF = 1 ⇒ STATE = 2 and OWNER = 0. Bit 31 is never set.
 *
 * Transitions:
 * - acquire: `0|P → 1|P|me` (newcomer) or `2|P|me` (a waiter: others may be parked too);
 *   `2|HANDOFF|P → 2|P|me` (only an acquire that has really slept may claim a hand-off: see
 *   `hasSlept` in waiter.ts — drivers report each park's outcome with `recordWait`).
 * - park: `1|… → 2|…` (+ STARVING once the waiter has waited long enough), then `A.wait` on that value.
 * - unlock by the owner: `1|me → 0` (fast path); `…|me → P` and notify one if STATE was 2; or, when
 *   STARVING was set, `2|STARVING|P|me → 2|HANDOFF|P` and notify all (the hand-off: a running thread
 *   cannot barge, a parked waiter gets the lock).
 * - reap (owner found dead in the liveness table): `…|dead → POISONED`, notify all.
 *
 * Fairness: a running thread may re-take a free lock (no convoy). A parked waiter first parks for
 * {@link FAIR_AFTER_MS}; when it wakes still waiting it sets STARVING, and the next unlock hands the lock
 * to the parked waiters instead of freeing it.
 *
 * Spinning: before its first park, an acquire re-reads a LOCKED word held by another thread up to its
 * spin budget (`SPIN_LIMIT` / `ASYNC_SPIN_LIMIT` in waiter.ts), since a holder's critical section is
 * usually far shorter than a park and wake-up. A CONTENDED word parks at once. (Spinning again after each wake-up, as parking_lot
 * does, measured no faster here in an interleaved A/B; see the commit that removed it.)
 *
 * Hazard: a `waitAsync` cannot be cancelled, so a `notify(…, 1)` may land on an abandoned wait; the
 * async driver forwards such a wake-up, and every park is bounded by `POLL_MS`, so a stolen wake-up costs
 * latency, never liveness.
 */
import type { AtomicsLike } from "./atomics-like.js";
import { driveBlocking, PARK, type Step } from "./drive.js";
import { isDead } from "./liveness-table.js";
import { type Clock, hasSlept, newWaiter, POLL_MS, type RawWaiter } from "./waiter.js";

export const STATE_MASK = 0b11;
export const UNLOCKED = 0;
export const LOCKED = 1;
export const CONTENDED = 2;
export const POISONED = 1 << 2;
export const STARVING = 1 << 3;
export const HANDOFF = 1 << 4;
export const OWNER_SHIFT = 8;
/** Largest owner id the word can hold. */
export const MAX_OWNER = (1 << 23) - 1;
/** A parked waiter that has waited this long (ms) gets the lock handed to it on the next unlock. */
export const FAIR_AFTER_MS = 1;
/** Words a raw mutex occupies. */
export const MUTEX_WORDS = 1;

/** The owner id held in a word (0: none). */
export function ownerOf(word: number): number {
  return word >>> OWNER_SHIFT;
}

/**
 * If the word `s` names an owner that the liveness table says is dead, releases the lock on its behalf
 * (poisoned, all waiting flags cleared) and wakes every waiter. Returns `true` when the word changed
 * (reaped here, or by someone else in the meantime): the caller must re-read it.
 */
function reapIfOwnerDead(A: AtomicsLike, w: Int32Array, i: number, s: number, table: Int32Array | undefined): boolean {
  const owner = s >>> OWNER_SHIFT;
  if (owner === 0 || !isDead(A, table, owner)) return false;
  if (A.compareExchange(w, i, s, POISONED) === s) A.notify(w, i);
  return true;
}

/** Takes the lock if it is free now. Also reaps a lock whose owner died (the caller then holds it, poisoned). */
export function tryLock(A: AtomicsLike, w: Int32Array, i: number, me: number, table: Int32Array | undefined): boolean {
  const mine = LOCKED | (me << OWNER_SHIFT);
  let s = A.compareExchange(w, i, UNLOCKED, mine);
  if (s === UNLOCKED) return true;
  for (;;) {
    if ((s & STATE_MASK) === UNLOCKED) {
      // Unlocked but poisoned: keep the POISONED bit.
      const prev = A.compareExchange(w, i, s, (s & POISONED) | mine);
      if (prev === s) return true;
      s = prev;
      continue;
    }
    if ((s & HANDOFF) !== 0 || !reapIfOwnerDead(A, w, i, s, table)) return false;
    s = A.load(w, i);
  }
}

/**
 * One acquire attempt. Returns `true` when the caller now holds the lock; otherwise it has prepared
 * `waiter` to park (`waiter.index`, `waiter.expected`, `waiter.parkTimeout`) and returns `false`.
 */
export function lockStep(
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
    const state = s & STATE_MASK;
    if (state === UNLOCKED) {
      // A waiter that has parked takes CONTENDED: others may still be parked, and only a CONTENDED
      // unlock notifies.
      const next = (s & POISONED) | (waiter.parked ? CONTENDED : LOCKED) | (me << OWNER_SHIFT);
      if (A.compareExchange(w, i, s, next) === s) return true;
      continue;
    }
    if ((s & HANDOFF) !== 0) {
      // Only a waiter that has really slept may claim: one whose park returned "not-equal" at once
      // (it decided to park, then the hand-off happened) would otherwise take the lock from the
      // starving waiter it was meant for (found by the model checker, test/threads/model).
      if (hasSlept(waiter)) {
        if (A.compareExchange(w, i, s, (s & POISONED) | CONTENDED | (me << OWNER_SHIFT)) === s) return true;
        continue;
      }
      // A newcomer may not claim a hand-off: fall through and park like everyone else.
    } else {
      // Spin first (a newcomer, a plain LOCKED word held by another thread), then look for a dead
      // owner: the spin re-reads only the lock word, and the liveness table is read once, before
      // parking. A CONTENDED word (others parked, or STARVING / HANDOFF set) parks at once, and so does
      // an acquire in the holder's own thread: that holder cannot run while this thread spins.
      if (waiter.spins > 0 && state === LOCKED && !waiter.parked && s >>> OWNER_SHIFT !== me) {
        waiter.spins--;
        continue;
      }
      if (reapIfOwnerDead(A, w, i, s, table)) continue;
    }
    const elapsed = waiter.parked ? now() - waiter.since : 0;
    let want = (s & ~STATE_MASK) | CONTENDED;
    // Only a waiter that has really slept may ask for a hand-off, because only such a waiter may claim
    // one: a STARVING set by a waiter whose parks all returned "not-equal" turned into a HANDOFF nobody
    // could take, and the free lock waited for a POLL_MS poll (found by the model checker).
    if (elapsed >= FAIR_AFTER_MS && hasSlept(waiter)) want |= STARVING;
    if (want !== s && A.compareExchange(w, i, s, want) !== s) continue;
    if (!waiter.parked) {
      waiter.parked = true;
      waiter.since = now();
    }
    waiter.index = i;
    waiter.expected = want;
    // Until STARVING is set (by anyone), wake after FAIR_AFTER_MS to set it; after that, poll slowly
    // (owner death, stolen wake-ups).
    waiter.parkTimeout = (want & STARVING) !== 0 ? POLL_MS : FAIR_AFTER_MS;
    return false;
  }
}

/**
 * The two-level rule of `Mutex` (issue 10): may a thread that holds the lock and has tasks of its own
 * queued hand it straight to the next of them (the word stays locked, owner unchanged)? Yes unless a
 * waiter of another thread has set STARVING (it has waited about a millisecond): then the release goes
 * through the word, which hands it to that waiter.
 */
export function mayHandOnLocally(A: AtomicsLike, w: Int32Array, i: number): boolean {
  return (A.load(w, i) & STARVING) === 0;
}

/**
 * A waiter gives up (timeout, abort). If a hand-off is pending it may have been meant for this waiter:
 * turn it back into a plain unlock and wake the others, so the grant is passed on, never lost. It also
 * clears STARVING (it may have set it; a waiter still starving sets it again when it next wakes), so an
 * unlock does not hand off to nobody.
 */
export function abandonLock(A: AtomicsLike, w: Int32Array, i: number): void {
  let s = A.load(w, i);
  for (;;) {
    let next: number;
    if ((s & HANDOFF) !== 0) next = s & POISONED;
    else if ((s & STARVING) !== 0) next = s & ~STARVING;
    else return;
    const prev = A.compareExchange(w, i, s, next);
    if (prev === s) {
      if ((s & HANDOFF) !== 0) A.notify(w, i);
      return;
    }
    s = prev;
  }
}

/** {@link lockStep} as a driver step (drive.ts): 0 acquired, else `PARK`. Make it once and reuse it. */
export function lockStepper(
  A: AtomicsLike,
  w: Int32Array,
  i: number,
  me: number,
  table: Int32Array | undefined,
  now: Clock,
): Step {
  return (waiter) => (lockStep(A, w, i, me, table, waiter, now) ? 0 : PARK);
}

/**
 * The wait of an acquire (after its first attempt failed, or instead of it): runs `step` (from
 * {@link lockStepper}) through the shared driver until `deadline` (a `now()` reading, or `Infinity`).
 * Returns `true` when acquired; `false` when the time ran out (a pending hand-off is passed on,
 * {@link abandonLock}). `woke` runs after each park and may throw (after undoing with `abandonLock`).
 * This is `Mutex.lockSync`'s wait.
 */
export function lockWait(
  A: AtomicsLike,
  w: Int32Array,
  i: number,
  step: Step,
  waiter: RawWaiter,
  deadline: number,
  now: Clock,
  woke?: (waiter: RawWaiter) => void,
): boolean {
  if (driveBlocking(A, w, waiter, step, deadline, now, woke) !== PARK) return true;
  abandonLock(A, w, i);
  return false;
}

/**
 * Acquires: {@link tryLock}, then {@link lockWait} (`timeout` in ms, `Infinity`: no limit). Returns
 * `false` on timeout.
 */
export function lockBlocking(
  A: AtomicsLike,
  w: Int32Array,
  i: number,
  me: number,
  table: Int32Array | undefined,
  now: Clock,
  timeout: number,
  spins?: number,
): boolean {
  if (tryLock(A, w, i, me, table)) return true;
  const deadline = timeout === Number.POSITIVE_INFINITY ? timeout : now() + timeout;
  return lockWait(A, w, i, lockStepper(A, w, i, me, table, now), newWaiter(spins), deadline, now);
}

/**
 * Releases a lock held by `me`. Returns `false` (and changes nothing) if `me` does not hold it — misuse
 * is defined behaviour, never corruption.
 */
export function unlock(A: AtomicsLike, w: Int32Array, i: number, me: number): boolean {
  const mine = LOCKED | (me << OWNER_SHIFT);
  const s = A.compareExchange(w, i, mine, UNLOCKED);
  return s === mine || unlockSlow(A, w, i, me, s);
}

/**
 * {@link unlock} past its fast path: `seen` is what the failed `compareExchange(w, i, mine, UNLOCKED)`
 * returned. A wrapper with its own inline fast path calls this directly, so that a contended unlock
 * does not repeat that swap (each failed swap on a shared word costs a cache-line transfer).
 */
export function unlockSlow(A: AtomicsLike, w: Int32Array, i: number, me: number, seen: number): boolean {
  let s = seen;
  for (;;) {
    if ((s & STATE_MASK) === UNLOCKED || (s & HANDOFF) !== 0 || s >>> OWNER_SHIFT !== me) return false;
    const contended = (s & STATE_MASK) === CONTENDED;
    const handOff = contended && (s & STARVING) !== 0;
    const next = handOff ? (s & POISONED) | CONTENDED | HANDOFF : s & POISONED;
    const prev = A.compareExchange(w, i, s, next);
    if (prev !== s) {
      s = prev;
      continue;
    }
    // A hand-off wakes every waiter: any parked one may claim it, and a notify(1) could be swallowed by
    // an abandoned waitAsync. A plain unlock wakes one; a stolen wake-up is recovered by POLL_MS.
    if (handOff) A.notify(w, i);
    else if (contended) A.notify(w, i, 1);
    return true;
  }
}

/** What a try-acquirer remembers of a hand-off it could not take (see {@link revertOrphanedHandoff}). */
export interface HandoffSighting {
  /** The HANDOFF word last seen (0: none). */
  word: number;
  /** Clock reading when it was first seen. */
  since: number;
}

/**
 * A pending hand-off that stays unchanged this long (ms) has nobody left to claim it: every parked
 * waiter is woken by the hand-off's notify and re-checks within its poll period anyway.
 */
export const ORPHANED_AFTER_MS = 4 * POLL_MS;

/**
 * For `tryLock`, which never parks and so can never claim a hand-off: when the same HANDOFF word has
 * been seen for {@link ORPHANED_AFTER_MS} (the starving waiter it was made for died, or gave up
 * without seeing it), turns it back into a plain unlock and wakes everyone, as {@link abandonLock}
 * does. Returns `true` when it did (the caller may try again). At worst a slow live waiter loses its
 * hand-off and competes normally: fairness is delayed, nothing is lost.
 */
export function revertOrphanedHandoff(
  A: AtomicsLike,
  w: Int32Array,
  i: number,
  sighting: HandoffSighting,
  now: Clock,
): boolean {
  const s = A.load(w, i);
  if ((s & HANDOFF) === 0) {
    sighting.word = 0;
    return false;
  }
  const t = now();
  if (sighting.word !== s) {
    sighting.word = s;
    sighting.since = t;
    return false;
  }
  if (t - sighting.since < ORPHANED_AFTER_MS) return false;
  sighting.word = 0;
  if (A.compareExchange(w, i, s, s & POISONED) !== s) return false;
  A.notify(w, i);
  return true;
}

/** Sets POISONED (the holder failed). */
export function poisonLock(A: AtomicsLike, w: Int32Array, i: number): void {
  A.or(w, i, POISONED);
}

/** Clears POISONED. */
export function clearPoison(A: AtomicsLike, w: Int32Array, i: number): void {
  A.and(w, i, ~POISONED);
}

/** `true` while the word is locked (held, or being handed off). */
export function isLocked(A: AtomicsLike, w: Int32Array, i: number): boolean {
  return (A.load(w, i) & STATE_MASK) !== UNLOCKED;
}

/** `true` while POISONED is set. */
export function isPoisoned(A: AtomicsLike, w: Int32Array, i: number): boolean {
  return (A.load(w, i) & POISONED) !== 0;
}
