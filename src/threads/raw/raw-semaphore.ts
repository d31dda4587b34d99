/**
 * A counting semaphore over two words.
 *
 * Step functions (every shared access goes through `A`):
 * - {@link tryAcquire}`(A, w, i, n)` → {@link ACQUIRED} | {@link BUSY} | {@link CLOSED}
 * - {@link acquireStep}`(A, w, i, n, me, table, waiter, now)` → same codes, or {@link PARK} (park on
 *   `w[waiter.index]` while it equals `waiter.expected`); after the last step the caller calls
 *   {@link leave}. `waiter` comes from {@link newSemaphoreWaiter}.
 * - {@link release}`(A, w, i, n)`, {@link close}`(A, w, i)`, {@link acquireBlocking}.
 * - {@link clearStaleStarver} (for `Semaphore.tryAcquire`, which never parks).
 *
 * Words:
 *
 * | word  | bits  | name    | meaning                                 | who may change it                      |
 * |-------|-------|---------|-----------------------------------------|----------------------------------------|
 * | i     | 0–30  | PERMITS | free permits, 0 … 2^31 − 1               | acquirers (CAS down), releasers (CAS up) |
 * | i     | 31    | CLOSED  | set once by `close`, never cleared       | `close` (`A.or`)                       |
 * | i + 1 | 0–31  | PARKED  | acquires registered as waiting           | each waiter: +1 before parking, −1 on leaving |
 * | i + 2 | 0–31  | TOTAL   | permits in existence: free + held (not forgotten) | `addTotal` (CAS, ≤ MAX_PERMITS), `forget` (−) |
 * | i + 3 | 0–31  | STARVER | owner id of the one registered starving acquire; 0 none | a waiter (CAS 0 → its id), that waiter on leaving (CAS id → 0), anyone finding it dead or stale (CAS id → 0), `close` (exchange to 0) |
 * | i + 4 | 0–31  | BEAT    | heartbeat of the registered starver (wraps) | the starver (`A.add` 1 at each of its parks) |
 * | i + 5 + 2k | 0–31 | HOLDER k | owner id holding permits through this slot; 0 free; RESERVED while reaped | the owner (claims 0 → id), a reaper (id → RESERVED → 0) |
 * | i + 6 + 2k | 0–31 | HELD k   | permits held through slot k               | the owner (±), a reaper (exchange to 0) |
 *
 * CLOSED lives in the PERMITS word so that closing changes the value waiters park on: a close between a
 * waiter's check and its park makes the park return at once.
 *
 * No lost wake-up (Dekker, all accesses sequentially consistent): a waiter increments PARKED and then
 * reads PERMITS; a releaser adds to PERMITS and then reads PARKED. Either the releaser sees the waiter
 * (and notifies all of PERMITS), or the waiter sees the new permits. Releases wake *all* waiters:
 * requests differ in size, and a wake-up swallowed by an abandoned `waitAsync` must not strand anyone.
 *
 * Fairness (eventual, as raw-mutex's STARVING; issue 10): a running thread may take free permits
 * (no convoy), until some waiter has waited ≥ {@link FAIR_AFTER_MS} and really slept (`hasSlept`,
 * waiter.ts). That waiter registers as the *starver* (CAS STARVER 0 → its owner id; one at a time).
 * While another's starver is registered, every acquire (`tryAcquire` included) takes nothing: releases
 * accumulate in PERMITS until the starver's request fits, the starver takes it, clears STARVER and
 * wakes everyone. Then the next waiter that has waited long enough may register. So once a request
 * is registered, other threads take at most the permits they were already taking (an acquire that
 * read STARVER = 0 just before the registration completes its compare-exchange).
 *
 * - Where a blocked acquire parks: on STARVER (expecting the id it saw), not on PERMITS. Clearing
 *   STARVER changes that word and then notifies it, so the Dekker argument above holds for it too: a
 *   blocked waiter either sees STARVER changed or is parked when the notify comes. (Parked on PERMITS,
 *   it could miss a starver that gives up: that changes no permit.) The starver parks on PERMITS and is
 *   woken by every release (it is registered in PARKED).
 * - Leaving: a starver that stops waiting (acquired, timed out, aborted, closed) clears STARVER in
 *   {@link leave} and notifies. A starver whose request can no longer be served without its own
 *   thread's release (`n` > TOTAL − the permits its thread holds through its HOLDER slot: permits
 *   forgotten, or a thread waiting for more while it holds some) does not register, and unregisters if
 *   that becomes true while registered: no global stall on an impossible request.
 * - A dead or stuck starver: each blocked waiter checks, at each step, the liveness table (a dead
 *   owner: CAS STARVER id → 0 at once) and BEAT: the starver bumps BEAT before each of its parks (at
 *   most {@link POLL_MS} long), so a STARVER whose BEAT has not moved for {@link STALE_AFTER_MS} belongs
 *   to a thread that stopped running its steps (killed unsupervised, or its event loop blocked); it is
 *   cleared by CAS. A dead or stuck starver costs a bounded delay, never a hang. A starver whose
 *   registration was cleared notices (STARVER ≠ its id) and competes as a plain waiter again.
 * - `close` sets CLOSED, then exchanges STARVER to 0 and notifies both words.
 * - Hazard: the starver is named by owner id, so two requests of one thread (two instances over the
 *   same memory) cannot be told apart: the second is blocked by the first like any other acquire.
 * - Hazard (hold and wait, as the in-process FIFO semaphore): a thread that holds permits and waits
 *   for more in another thread's turn stalls while a starver waits for the permits it holds.
 *
 * TOTAL makes `MAX_PERMITS` exact: `addPermits` refuses to pass it counting the permits held, so a
 * release can never overflow PERMITS (no permit is ever dropped).
 *
 * Owner death (as raw-rw-lock's reader slots): a thread records the permits it holds in a HOLDER slot
 * of its own ({@link claimSlot}, {@link recordHeld}, {@link recordReleased}); {@link reap} finds slots
 * whose owner the liveness table reports dead, reserves each (one compare-exchange, so two reapers
 * never both collect it, and a live thread cannot claim it meanwhile), collects HELD, frees the slot
 * and releases what it collected. Permits move to the slot *after* they are taken and leave it
 * *before* they are given back, so a thread killed in between leaks them rather than creating any.
 * With every slot taken, a thread's permits are untracked (not returned if it dies).
 */
import type { AtomicsLike } from "./atomics-like.js";
import { PARK as DRIVER_PARK, driveBlocking } from "./drive.js";
import { isDead } from "./liveness-table.js";
import { FAIR_AFTER_MS } from "./raw-mutex.js";
import { type Clock, hasSlept, newWaiter, POLL_MS, type RawWaiter } from "./waiter.js";

export { FAIR_AFTER_MS };

export const ACQUIRED = 0;
export const BUSY = 1;
export const CLOSED = 2;
export const PARK = 3;
export type AcquireResult = typeof ACQUIRED | typeof BUSY | typeof CLOSED;
export const MAX_PERMITS = 2 ** 31 - 1;
/** HOLDER / HELD slot pairs of a raw semaphore. */
export const HOLDER_SLOTS = 32;
/** Index (from `i`) of the STARVER word. */
export const STARVER = 3;
/** Index (from `i`) of the BEAT word. */
export const BEAT = 4;
/** Index (from `i`) of the first HOLDER slot. */
export const SLOTS = 5;
/** Words a raw semaphore occupies. */
export const SEMAPHORE_WORDS = SLOTS + 2 * HOLDER_SLOTS;
/** A HOLDER word while a reaper collects the slot (no owner id is negative). */
export const RESERVED = -1;
/**
 * A registered starver whose BEAT has not moved for this long (ms) is stale: cleared by the waiters
 * it blocks. The starver bumps BEAT at least every {@link POLL_MS} while it runs.
 */
export const STALE_AFTER_MS = 4 * POLL_MS;
const TOTAL = 2;
/** The CLOSED bit of the PERMITS word (the sign bit: a closed word reads negative). */
export const CLOSED_BIT = 1 << 31;

/** Free permits in a PERMITS word value. */
export function permitsOf(word: number): number {
  return word & MAX_PERMITS;
}

/**
 * Takes `n` permits if available now. BUSY while a starver is registered (see the module docs), even
 * if `n` permits are free.
 */
export function tryAcquire(A: AtomicsLike, w: Int32Array, i: number, n: number): AcquireResult {
  let c = A.load(w, i);
  if (c < 0) return CLOSED;
  if (c >= n && A.load(w, i + STARVER) !== 0) return BUSY;
  while (c >= n) {
    const prev = A.compareExchange(w, i, c, c - n);
    if (prev === c) return ACQUIRED;
    c = prev;
  }
  return BUSY;
}

/** What an acquire remembers of a starver that blocks it (for {@link clearStaleStarver}). */
export interface StarverSighting {
  /** The STARVER id last seen (0: none). */
  starver: number;
  /** Its BEAT then. */
  beat: number;
  /** Clock reading when this STARVER / BEAT pair was first seen. */
  since: number;
}

/** The local state of one semaphore acquire: a {@link RawWaiter} plus its part in the fairness protocol. */
export interface SemaphoreWaiter extends RawWaiter {
  /** `true` while this acquire is the registered starver (STARVER = its id, set by it). */
  starving: boolean;
  /** Its owner id while `starving` (what {@link leave} clears). */
  starver: number;
  /** The starver that blocked it last. */
  sighting: StarverSighting;
}

/** A fresh semaphore waiter (no spinning: a semaphore acquire parks at once). */
export function newSemaphoreWaiter(): SemaphoreWaiter {
  return { ...newWaiter(0), starving: false, starver: 0, sighting: { starver: 0, beat: 0, since: 0 } };
}

/** Permits the HOLDER slot of `owner` records (0 without one). */
function heldBy(A: AtomicsLike, w: Int32Array, i: number, owner: number): number {
  const slots = slotCount(w, i);
  for (let k = 0; k < slots; k++) {
    if (A.load(w, i + SLOTS + 2 * k) === owner) return A.load(w, i + SLOTS + 2 * k + 1);
  }
  return 0;
}

/** Whether `n` permits could come free without a release by `owner`'s thread (see the module docs). */
function servable(A: AtomicsLike, w: Int32Array, i: number, n: number, owner: number): boolean {
  return n <= A.load(w, i + TOTAL) - heldBy(A, w, i, owner);
}

/**
 * Clears a registered starver that is dead (liveness `table`) or stale (BEAT unchanged for
 * {@link STALE_AFTER_MS} across this caller's sightings), and wakes those it blocked. Returns `true`
 * when STARVER changed (the caller re-reads). A caller that never parks (`Semaphore.tryAcquire`) keeps
 * one `sighting` per instance.
 */
export function clearStaleStarver(
  A: AtomicsLike,
  w: Int32Array,
  i: number,
  table: Int32Array | undefined,
  sighting: StarverSighting,
  now: Clock,
): boolean {
  const starver = A.load(w, i + STARVER);
  if (starver === 0) {
    sighting.starver = 0;
    return false;
  }
  if (!isDead(A, table, starver)) {
    const beat = A.load(w, i + BEAT);
    const t = now();
    if (sighting.starver !== starver || sighting.beat !== beat) {
      sighting.starver = starver;
      sighting.beat = beat;
      sighting.since = t;
      return false;
    }
    if (t - sighting.since < STALE_AFTER_MS) return false;
  }
  sighting.starver = 0;
  if (A.compareExchange(w, i + STARVER, starver, 0) === starver) A.notify(w, i + STARVER);
  return true;
}

/**
 * One acquire attempt by `me` (owner id); registers the waiter in PARKED before its first park, and as
 * the starver once it has waited long enough (see the module docs).
 */
export function acquireStep(
  A: AtomicsLike,
  w: Int32Array,
  i: number,
  n: number,
  me: number,
  table: Int32Array | undefined,
  waiter: SemaphoreWaiter,
  now: Clock,
): typeof ACQUIRED | typeof CLOSED | typeof PARK {
  for (;;) {
    const c = A.load(w, i);
    if (c < 0) return CLOSED;
    const starver = A.load(w, i + STARVER);
    // Cleared as stale (or by close) while it waited: a plain waiter again.
    if (waiter.starving && starver !== me) waiter.starving = false;
    const blocked = starver !== 0 && !waiter.starving;
    if (c >= n && !blocked) {
      if (A.compareExchange(w, i, c, c - n) === c) return ACQUIRED;
      continue;
    }
    if (!waiter.registered) {
      // Register, then re-read PERMITS (see the module docs).
      A.add(w, i + 1, 1);
      waiter.registered = true;
      continue;
    }
    if (!waiter.parked) {
      waiter.parked = true;
      waiter.since = now();
    }
    if (blocked) {
      if (clearStaleStarver(A, w, i, table, waiter.sighting, now)) continue;
      // Park on STARVER: clearing it changes that word (see the module docs).
      waiter.index = i + STARVER;
      waiter.expected = starver;
      waiter.parkTimeout = POLL_MS;
      return PARK;
    }
    let parkTimeout = POLL_MS;
    if (waiter.starving) {
      if (!servable(A, w, i, n, me)) {
        unregisterStarver(A, w, i, waiter);
        continue;
      }
      A.add(w, i + BEAT, 1);
    } else if (now() - waiter.since >= FAIR_AFTER_MS && hasSlept(waiter)) {
      // Only a waiter that really slept registers (as raw-mutex's STARVING: one whose parks all
      // returned "not-equal" at once has not waited), and only a request that can be served.
      if (servable(A, w, i, n, me)) {
        if (A.compareExchange(w, i + STARVER, 0, me) === 0) {
          waiter.starving = true;
          waiter.starver = me;
        }
        continue;
      }
    } else {
      // Not yet: wake after FAIR_AFTER_MS to register.
      parkTimeout = FAIR_AFTER_MS;
    }
    waiter.index = i;
    waiter.expected = c;
    waiter.parkTimeout = parkTimeout;
    return PARK;
  }
}

/** The starver gives up its registration (if it still holds it) and wakes the acquires it blocked. */
function unregisterStarver(A: AtomicsLike, w: Int32Array, i: number, waiter: SemaphoreWaiter): void {
  waiter.starving = false;
  if (A.compareExchange(w, i + STARVER, waiter.starver, 0) === waiter.starver) A.notify(w, i + STARVER);
}

/**
 * Unregisters a waiter (acquired, closed, timed out or aborted): from PARKED, and as the starver.
 * Idempotent.
 */
export function leave(A: AtomicsLike, w: Int32Array, i: number, waiter: SemaphoreWaiter): void {
  if (waiter.starving) unregisterStarver(A, w, i, waiter);
  if (!waiter.registered) return;
  waiter.registered = false;
  A.sub(w, i + 1, 1);
}

/**
 * The two-level rule of `Semaphore` (issue 10): may thread `self`, giving back permits while tasks of
 * its own are queued, hand them straight to those tasks? Yes unless the semaphore is closed or another
 * thread's request is the registered starver (it has waited about a millisecond): then the permits go
 * to the word, where they are saved for it. Not "unless PARKED shows anyone else": a worker killed while
 * waiting leaves PARKED one too high for good.
 */
export function mayHandOnLocally(A: AtomicsLike, w: Int32Array, i: number, self: number): boolean {
  const starver = A.load(w, i + STARVER);
  return (starver === 0 || starver === self) && A.load(w, i) >= 0;
}

/**
 * Adds `n` permits. Returns `false` (and adds nothing) if that would pass {@link MAX_PERMITS}.
 * On a closed semaphore it does nothing and returns `true` (permits no longer matter).
 */
export function release(A: AtomicsLike, w: Int32Array, i: number, n: number): boolean {
  let c = A.load(w, i);
  for (;;) {
    if (c < 0) return true;
    if (c > MAX_PERMITS - n) return false;
    const prev = A.compareExchange(w, i, c, c + n);
    if (prev === c) break;
    c = prev;
  }
  if (A.load(w, i + 1) > 0) A.notify(w, i);
  return true;
}

/**
 * Closes: pending and future acquires fail with CLOSED. It clears STARVER too (changing the word that
 * blocked acquires park on, so that none misses the close).
 */
export function close(A: AtomicsLike, w: Int32Array, i: number): void {
  A.or(w, i, CLOSED_BIT);
  A.notify(w, i);
  A.exchange(w, i + STARVER, 0);
  A.notify(w, i + STARVER);
}

/**
 * The wait step of an acquire that has missed its {@link tryAcquire}: {@link acquireStep}, and before
 * parking, the permits of dead holders come back ({@link reap}, then step again). Returns ACQUIRED or
 * CLOSED, or the driver's `PARK` (drive.ts). The caller calls {@link leave} when the wait ends.
 * {@link acquireBlocking} runs it (the async competitor in semaphore.ts makes the same two calls).
 */
export function acquireOrReapStep(
  A: AtomicsLike,
  w: Int32Array,
  i: number,
  n: number,
  me: number,
  table: Int32Array | undefined,
  waiter: SemaphoreWaiter,
  now: Clock,
): number {
  for (;;) {
    const result = acquireStep(A, w, i, n, me, table, waiter, now);
    if (result !== PARK) return result;
    if (reap(A, w, i, table) === 0) return DRIVER_PARK;
  }
}

/**
 * Acquire by `me` (owner id), parking through the shared driver (drive.ts) until `deadline` (a `now()`
 * reading, or `Infinity`). Returns ACQUIRED, CLOSED or BUSY (timed out). This is `Semaphore.acquireSync`'s wait.
 */
export function acquireBlocking(
  A: AtomicsLike,
  w: Int32Array,
  i: number,
  n: number,
  me: number,
  table: Int32Array | undefined,
  now: Clock,
  deadline: number,
): AcquireResult {
  const first = tryAcquire(A, w, i, n);
  if (first !== BUSY) return first;
  const waiter = newSemaphoreWaiter();
  try {
    const step = () => acquireOrReapStep(A, w, i, n, me, table, waiter, now);
    const result = driveBlocking(A, w, waiter, step, deadline, now);
    return result === DRIVER_PARK ? BUSY : (result as AcquireResult);
  } finally {
    leave(A, w, i, waiter);
  }
}

/** Permits in existence (free + held, not forgotten). */
export function totalOf(A: AtomicsLike, w: Int32Array, i: number): number {
  return A.load(w, i + TOTAL);
}

/** Sets TOTAL of a new semaphore (before it is shared). */
export function initTotal(A: AtomicsLike, w: Int32Array, i: number, n: number): void {
  A.store(w, i + TOTAL, n);
}

/** Counts `n` more permits in existence; `false` (nothing counted) if that passes {@link MAX_PERMITS}. */
export function addTotal(A: AtomicsLike, w: Int32Array, i: number, n: number): boolean {
  let t = A.load(w, i + TOTAL);
  for (;;) {
    if (t > MAX_PERMITS - n) return false;
    const prev = A.compareExchange(w, i + TOTAL, t, t + n);
    if (prev === t) return true;
    t = prev;
  }
}

/** `n` held permits leave existence (`forget`). */
export function subTotal(A: AtomicsLike, w: Int32Array, i: number, n: number): void {
  A.sub(w, i + TOTAL, n);
}

/** Holder slots in `w` from `i`: {@link HOLDER_SLOTS}, or fewer in a shorter array (the model checker's). */
function slotCount(w: Int32Array, i: number): number {
  return Math.min(HOLDER_SLOTS, (w.length - i - SLOTS) >> 1);
}

/**
 * The HOLDER slot of `owner`: the one it already has, or a free one it claims. `-1` when every slot
 * is taken (its permits are then untracked).
 */
export function claimSlot(A: AtomicsLike, w: Int32Array, i: number, owner: number): number {
  const slots = slotCount(w, i);
  let free = -1;
  for (let k = 0; k < slots; k++) {
    const holder = A.load(w, i + SLOTS + 2 * k);
    if (holder === owner) return k;
    if (holder === 0 && free < 0) free = k;
  }
  for (let k = free < 0 ? slots : free; k < slots; k++) {
    if (A.compareExchange(w, i + SLOTS + 2 * k, 0, owner) === 0) return k;
  }
  return -1;
}

/** `n` permits just taken are now held through `slot` (the caller's own). */
export function recordHeld(A: AtomicsLike, w: Int32Array, i: number, slot: number, n: number): void {
  A.add(w, i + SLOTS + 2 * slot + 1, n);
}

/** `n` permits held through `slot` are about to be given back (or forgotten). */
export function recordReleased(A: AtomicsLike, w: Int32Array, i: number, slot: number, n: number): void {
  A.sub(w, i + SLOTS + 2 * slot + 1, n);
}

/**
 * Returns the permits held through slots whose owner `table` reports dead, and frees those slots.
 * Returns how many permits it gave back.
 */
export function reap(A: AtomicsLike, w: Int32Array, i: number, table: Int32Array | undefined): number {
  if (table === undefined) return 0;
  let returned = 0;
  const slots = slotCount(w, i);
  for (let k = 0; k < slots; k++) {
    const at = i + SLOTS + 2 * k;
    const holder = A.load(w, at);
    if (holder <= 0 || !isDead(A, table, holder)) continue;
    // Reserve first: only the reaper whose compare-exchange wins collects this slot.
    if (A.compareExchange(w, at, holder, RESERVED) !== holder) continue;
    const held = A.exchange(w, at + 1, 0);
    A.store(w, at, 0);
    if (held > 0) {
      release(A, w, i, held);
      returned += held;
    }
  }
  return returned;
}
