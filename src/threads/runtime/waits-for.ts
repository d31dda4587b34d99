/**
 * Deadlock detection between threads (always on; docs/debugging.md): what each thread blocked in a `*Sync`
 * acquire waits for, published in shared memory where the other threads can read it.
 *
 * A thread's identity is exact and a mutex word names its owner, so a blocking wait is an edge
 * "thread T waits for thread O" (O: the owner named by the word T waits on). A cycle of such edges
 * that closes back on the thread looking is a deadlock — provided every edge is current at one same
 * instant. Edges are read from other threads' slots at different moments, so a cycle is only
 * reported once it is *confirmed*: seen again after every other member has woken up at least once
 * (each blocked waiter wakes every `POLL_MS` at the latest) and found the same owner, with no slot
 * changed in between. A member blocked for that whole interval cannot release what it holds, so at
 * the end every edge holds at once and nobody can move: a real deadlock, never a stale one.
 *
 * Only untimed blocking waits are edges (a timed one ends by itself), and async waits are not (the
 * thread runs on). Of the members of a cycle only the one whose wait began last (the wait that
 * closed the cycle) throws `DeadlockError`; the others go on waiting and get the lock once it leaves.
 *
 * Table layout (`Int32Array` over a `SharedArrayBuffer`, shared by every thread like the liveness
 * table: it travels to workers through `worker_threads.setEnvironmentData`):
 *
 * | word            | meaning                                                        | who writes it |
 * |-----------------|----------------------------------------------------------------|---------------|
 * | 0               | wait ticket counter (orders the waits: the last one closes)    | `A.add` by any |
 * | 1 + s·SLOT + 0  | slot owner id (0 free; a dead owner's slot may be taken over)  | claimer (CAS) |
 * | … + 1           | version: odd while the slot's thread rewrites the fields below | slot's thread |
 * | … + 2           | ticket of the current wait, 0 when not blocked                 | slot's thread |
 * | … + 3           | owner id the thread waits for (as its last wake-up read it)    | slot's thread |
 * | … + 4           | wake-ups so far (not versioned: only counts)                   | slot's thread |
 * | … + 5           | length of the lock's name                                      | slot's thread |
 * | … + 6 … + 21    | the lock's name, UTF-16, two code units per word (32 at most)  | slot's thread |
 *
 * A thread that finds no free slot (more than {@link SLOTS} threads blocked-waiting in the lifetime of
 * the process, minus the dead ones) is not published: fewer cycles found, never a false one.
 *
 * @internal
 */

import { DeadlockError } from "../../errors.js";
import { nameFor } from "../../internal/observer.js";
import { newSharedBuffer, requireSharedMemory } from "../memory/shared-memory.js";
import { POLL_MS } from "../raw/waiter.js";

export const SLOTS = 256;
const SLOT = 22;
const OWNER = 0;
const VERSION = 1;
const TICKET = 2;
const BLOCKER = 3;
const WAKES = 4;
const NAME_LENGTH = 5;
const NAME = 6;
const NAME_UNITS = 32;
/** Size of the table in 32-bit words. */
export const WAITS_FOR_WORDS = 1 + SLOTS * SLOT;
/** Longest cycle followed. */
const MAX_DEPTH = 64;

let table: Int32Array | undefined;
let mySlot = -1;
let me = 0;
let isDead: (id: number) => boolean = () => false;

const ENV_KEY = "lockbox.threads.waitsFor";

interface WorkerThreadsModule {
  getEnvironmentData(key: string): unknown;
  setEnvironmentData(key: string, value: unknown): void;
}

/**
 * This thread's table: inherited from the thread that created this worker, or created here and
 * published to the workers created from now on. liveness.ts calls it when the process table is set
 * up (before the first worker is spawned), and {@link beginWait} calls it in a thread that only ever
 * received handles.
 */
export function ensureWaitsFor(ownerId: number, dead: (id: number) => boolean): void {
  me = ownerId;
  isDead = dead;
  if (table !== undefined) return;
  requireSharedMemory();
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  let wt: WorkerThreadsModule | undefined;
  try {
    wt = proc?.getBuiltinModule?.("node:worker_threads") as WorkerThreadsModule | undefined;
  } catch {
    wt = undefined;
  }
  const inherited = wt?.getEnvironmentData(ENV_KEY);
  if (inherited instanceof SharedArrayBuffer && inherited.byteLength >= WAITS_FOR_WORDS * 4) {
    table = new Int32Array(inherited, 0, WAITS_FOR_WORDS);
    return;
  }
  table = new Int32Array(newSharedBuffer(WAITS_FOR_WORDS * 4));
  wt?.setEnvironmentData(ENV_KEY, table.buffer);
}

const base = (slot: number): number => 1 + slot * SLOT;

function home(id: number): number {
  return Math.imul(id, 0x9e3779b1) >>> 24; // SLOTS = 256: the top 8 bits
}

function claim(t: Int32Array): number {
  if (mySlot >= 0) return mySlot;
  for (let k = 0, s = home(me); k < SLOTS; k++, s = (s + 1) & (SLOTS - 1)) {
    const at = base(s) + OWNER;
    const owner = Atomics.load(t, at);
    if (owner === me) return (mySlot = s);
    if ((owner === 0 || isDead(owner)) && Atomics.compareExchange(t, at, owner, me) === owner) {
      Atomics.store(t, base(s) + TICKET, 0);
      return (mySlot = s);
    }
  }
  return -1;
}

function find(t: Int32Array, id: number): number {
  for (let k = 0, s = home(id); k < SLOTS; k++, s = (s + 1) & (SLOTS - 1)) {
    const owner = Atomics.load(t, base(s) + OWNER);
    if (owner === id) return s;
    if (owner === 0) return -1;
  }
  return -1;
}

/** One member of a cycle as read from its slot. */
interface Member {
  readonly slot: number;
  readonly owner: number;
  readonly version: number;
  readonly ticket: number;
  readonly wakes: number;
  readonly name: string;
}

/** A blocking wait in progress: created at the first wake-up of an untimed `*Sync` wait. */
export interface BlockingWait {
  readonly slot: number;
  readonly ticket: number;
  readonly lockName: string;
  blocker: number;
  /** The cycle seen at an earlier wake-up, waiting for confirmation. */
  candidate: Member[] | undefined;
  since: number;
}

/** Publishes that this thread now blocks on the lock `lockName`, held by `blocker`. */
export function beginWait(lockName: string, blocker: number, ownerId: number): BlockingWait | undefined {
  if (table === undefined) ensureWaitsFor(ownerId, isDead);
  const t = table;
  if (t === undefined) return undefined;
  const slot = claim(t);
  if (slot < 0) return undefined;
  const b = base(slot);
  const ticket = (Atomics.add(t, 0, 1) + 1) | 0 || 1;
  Atomics.add(t, b + VERSION, 1);
  Atomics.store(t, b + TICKET, ticket);
  Atomics.store(t, b + BLOCKER, blocker);
  const n = Math.min(lockName.length, NAME_UNITS);
  Atomics.store(t, b + NAME_LENGTH, n);
  for (let i = 0; i < n; i += 2) {
    Atomics.store(t, b + NAME + (i >> 1), lockName.charCodeAt(i) | ((lockName.charCodeAt(i + 1) || 0) << 16));
  }
  Atomics.add(t, b + VERSION, 1);
  return { slot, ticket, lockName, blocker, candidate: undefined, since: 0 };
}

/** The wait is over (acquired, or given up): this thread is no longer an edge. */
export function endWait(wait: BlockingWait): void {
  const t = table as Int32Array;
  const b = base(wait.slot);
  Atomics.add(t, b + VERSION, 1);
  Atomics.store(t, b + TICKET, 0);
  Atomics.add(t, b + VERSION, 1);
}

/**
 * Called after each wake-up of the wait with the owner the lock word names now. Returns the
 * `DeadlockError` to throw when this wait closed a confirmed cycle, else `undefined`.
 */
export function wakeWait(wait: BlockingWait, blocker: number, now: number): DeadlockError | undefined {
  const t = table as Int32Array;
  const b = base(wait.slot);
  if (blocker !== wait.blocker) {
    wait.blocker = blocker;
    wait.candidate = undefined;
    Atomics.add(t, b + VERSION, 1);
    Atomics.store(t, b + BLOCKER, blocker);
    Atomics.add(t, b + VERSION, 1);
  }
  Atomics.add(t, b + WAKES, 1);
  if (blocker === 0 || blocker === me) return undefined;
  const cycle = readCycle(t, blocker);
  if (cycle === undefined) {
    wait.candidate = undefined;
    return undefined;
  }
  const previous = wait.candidate;
  if (previous === undefined || !sameCycle(previous, cycle)) {
    wait.candidate = cycle;
    wait.since = now;
    return undefined;
  }
  // Confirmed when every other member has woken since (so it re-read its lock word and found the
  // same owner: its version is unchanged) and at least two poll periods have passed.
  if (now - wait.since < 2 * POLL_MS) return undefined;
  for (let i = 0; i < cycle.length; i++) {
    if ((cycle[i] as Member).wakes === (previous[i] as Member).wakes) return undefined;
  }
  // Only the wait that closed the cycle (the latest ticket) throws.
  for (const member of cycle) if (member.ticket > wait.ticket) return undefined;
  return cycleError(wait, cycle);
}

/** Follows blocker → its slot → its blocker … back to this thread; `undefined` if it does not close. */
function readCycle(t: Int32Array, first: number): Member[] | undefined {
  const members: Member[] = [];
  let owner = first;
  for (let depth = 0; depth < MAX_DEPTH; depth++) {
    if (owner === me) return members;
    if (owner === 0 || members.some((m) => m.owner === owner)) return undefined;
    const slot = find(t, owner);
    if (slot < 0) return undefined;
    const b = base(slot);
    const version = Atomics.load(t, b + VERSION);
    if ((version & 1) !== 0) return undefined;
    const ticket = Atomics.load(t, b + TICKET);
    const next = Atomics.load(t, b + BLOCKER);
    const wakes = Atomics.load(t, b + WAKES);
    const n = Math.min(Atomics.load(t, b + NAME_LENGTH), NAME_UNITS);
    let name = "";
    for (let i = 0; i < n; i++) {
      const word = Atomics.load(t, b + NAME + (i >> 1));
      name += String.fromCharCode((i & 1) === 0 ? word & 0xffff : word >>> 16);
    }
    if (Atomics.load(t, b + VERSION) !== version) return undefined;
    if (ticket === 0) return undefined; // not blocked
    members.push({ slot, owner, version, ticket, wakes, name });
    owner = next;
  }
  return undefined;
}

function sameCycle(a: Member[], b: Member[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as Member;
    const y = b[i] as Member;
    if (x.slot !== y.slot || x.owner !== y.owner || x.version !== y.version || x.ticket !== y.ticket) return false;
  }
  return true;
}

const thread = (owner: number): string => (owner === 1 ? "the main thread" : `thread ${owner - 1}`);

function cycleError(wait: BlockingWait, cycle: Member[]): DeadlockError {
  const lines = [
    `  ${thread(me)} (this thread) waits for ${wait.lockName}, held by ${thread((cycle[0] as Member).owner)}`,
  ];
  cycle.forEach((member, i) => {
    const holder = i + 1 < cycle.length ? thread((cycle[i + 1] as Member).owner) : `${thread(me)} (this thread)`;
    lines.push(`  ${thread(member.owner)} waits for ${member.name}, held by ${holder}`);
  });
  return new DeadlockError(
    `Deadlock: this blocking wait closes a cycle of ${cycle.length + 1} threads blocked on each other's locks:\n${lines.join("\n")}`,
  );
}

/** The `DeadlockError` of a blocking acquire by the thread that already holds the lock exclusively. */
export function selfDeadlock(lockName: string, method: string, how = "exclusively"): DeadlockError {
  return new DeadlockError(
    `Deadlock: ${method} on ${lockName}, which this thread (${thread(me)}) already holds ${how}: a blocking wait here could never end. Release the guard first, or use the async acquire (another task of this thread may release).`,
  );
}

/**
 * The name of a new threads primitive: `options.name`, else `Kind#n`, with `@thread<k>` appended when
 * created in a worker (creation numbers are counted per thread). It travels in the handle, so that
 * every thread calls the primitive by the same name.
 */
export function threadsName(kind: string, options: { name?: string | undefined } | undefined, ownerId: number): string {
  const given = options?.name; // read once (a getter must not answer twice)
  const name = nameFor(kind, given === undefined ? undefined : { name: given });
  return given !== undefined || ownerId === 1 ? name : `${name}@thread${ownerId - 1}`;
}
