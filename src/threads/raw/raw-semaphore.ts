/**
 * A counting semaphore over two words.
 *
 * Step functions (every shared access goes through `A`):
 * - {@link tryAcquire}`(A, w, i, n)` → {@link ACQUIRED} | {@link BUSY} | {@link CLOSED}
 * - {@link acquireStep}`(A, w, i, n, waiter)` → same codes, or {@link PARK} (park on `w[waiter.index]`
 *   while it equals `waiter.expected`); after the last step the caller calls {@link leave}.
 * - {@link release}`(A, w, i, n)`, {@link close}`(A, w, i)`, {@link acquireBlocking}.
 *
 * Words:
 *
 * | word  | bits  | name    | meaning                                 | who may change it                      |
 * |-------|-------|---------|-----------------------------------------|----------------------------------------|
 * | i     | 0–30  | PERMITS | free permits, 0 … 2^31 − 1               | acquirers (CAS down), releasers (CAS up) |
 * | i     | 31    | CLOSED  | set once by `close`, never cleared       | `close` (`A.or`)                       |
 * | i + 1 | 0–31  | PARKED  | acquires registered as waiting           | each waiter: +1 before parking, −1 on leaving |
 * | i + 2 | 0–31  | TOTAL   | permits in existence: free + held (not forgotten) | `addTotal` (CAS, ≤ MAX_PERMITS), `forget` (−) |
 * | i + 3 + 2k | 0–31 | HOLDER k | owner id holding permits through this slot; 0 free; RESERVED while reaped | the owner (claims 0 → id), a reaper (id → RESERVED → 0) |
 * | i + 4 + 2k | 0–31 | HELD k   | permits held through slot k               | the owner (±), a reaper (exchange to 0) |
 *
 * CLOSED lives in the PERMITS word so that closing changes the value waiters park on: a close between a
 * waiter's check and its park makes the park return at once.
 *
 * No lost wake-up (Dekker, all accesses sequentially consistent): a waiter increments PARKED and then
 * reads PERMITS; a releaser adds to PERMITS and then reads PARKED. Either the releaser sees the waiter
 * (and notifies all of PERMITS), or the waiter sees the new permits. Releases wake *all* waiters:
 * requests differ in size, and a wake-up swallowed by an abandoned `waitAsync` must not strand anyone.
 *
 * Fairness: none across threads (a large request can be overtaken by small ones); see the wrapper docs.
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
import { type Clock, newWaiter, POLL_MS, type RawWaiter } from "./waiter.js";

export const ACQUIRED = 0;
export const BUSY = 1;
export const CLOSED = 2;
export const PARK = 3;
export type AcquireResult = typeof ACQUIRED | typeof BUSY | typeof CLOSED;
export const MAX_PERMITS = 2 ** 31 - 1;
/** HOLDER / HELD slot pairs of a raw semaphore. */
export const HOLDER_SLOTS = 32;
/** Words a raw semaphore occupies. */
export const SEMAPHORE_WORDS = 3 + 2 * HOLDER_SLOTS;
/** A HOLDER word while a reaper collects the slot (no owner id is negative). */
export const RESERVED = -1;
const TOTAL = 2;
const SLOTS = 3;
/** The CLOSED bit of the PERMITS word (the sign bit: a closed word reads negative). */
export const CLOSED_BIT = 1 << 31;

/** Free permits in a PERMITS word value. */
export function permitsOf(word: number): number {
  return word & MAX_PERMITS;
}

/** Takes `n` permits if available now. */
export function tryAcquire(A: AtomicsLike, w: Int32Array, i: number, n: number): AcquireResult {
  let c = A.load(w, i);
  if (c < 0) return CLOSED;
  while (c >= n) {
    const prev = A.compareExchange(w, i, c, c - n);
    if (prev === c) return ACQUIRED;
    c = prev;
  }
  return BUSY;
}

/** One acquire attempt; registers the waiter in PARKED before its first park. */
export function acquireStep(
  A: AtomicsLike,
  w: Int32Array,
  i: number,
  n: number,
  waiter: RawWaiter,
): typeof ACQUIRED | typeof CLOSED | typeof PARK {
  for (;;) {
    const c = A.load(w, i);
    if (c < 0) return CLOSED;
    if (c >= n) {
      if (A.compareExchange(w, i, c, c - n) === c) return ACQUIRED;
      continue;
    }
    if (!waiter.registered) {
      // Register, then re-read PERMITS (see the module docs).
      A.add(w, i + 1, 1);
      waiter.registered = true;
      continue;
    }
    waiter.parked = true;
    waiter.index = i;
    waiter.expected = c;
    waiter.parkTimeout = POLL_MS;
    return PARK;
  }
}

/** Unregisters a waiter (acquired, closed, timed out or aborted). */
export function leave(A: AtomicsLike, w: Int32Array, i: number, waiter: RawWaiter): void {
  if (!waiter.registered) return;
  waiter.registered = false;
  A.sub(w, i + 1, 1);
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

/** Closes: pending and future acquires fail with CLOSED. */
export function close(A: AtomicsLike, w: Int32Array, i: number): void {
  A.or(w, i, CLOSED_BIT);
  A.notify(w, i);
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
  table: Int32Array | undefined,
  waiter: RawWaiter,
): number {
  for (;;) {
    const result = acquireStep(A, w, i, n, waiter);
    if (result !== PARK) return result;
    if (reap(A, w, i, table) === 0) return DRIVER_PARK;
  }
}

/**
 * Acquire, parking through the shared driver (drive.ts) until `deadline` (a `now()` reading, or
 * `Infinity`). Returns ACQUIRED, CLOSED or BUSY (timed out). This is `Semaphore.acquireSync`'s wait.
 */
export function acquireBlocking(
  A: AtomicsLike,
  w: Int32Array,
  i: number,
  n: number,
  table: Int32Array | undefined,
  now: Clock,
  deadline: number,
): AcquireResult {
  const first = tryAcquire(A, w, i, n);
  if (first !== BUSY) return first;
  const waiter = newWaiter(0);
  try {
    const result = driveBlocking(A, w, waiter, (wt) => acquireOrReapStep(A, w, i, n, table, wt), deadline, now);
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
