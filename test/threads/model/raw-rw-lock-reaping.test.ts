/**
 * Model checking reader-slot reaping (src/threads/raw/rw-reader-slots.ts) with two reapers, the
 * giving up of writers (rw-word.ts `abandonWrite`), and read shares of several tasks of one thread,
 * through the steps `RwLock` runs (`tryWriteReaping`, `writeStepReaping`, `readStepReaping`).
 *
 * Issue 9, finding 2: two writers both find a dead reader's slot; the first collects the share and
 * frees the slot, a live reader re-claims it, and the second collects the live reader's share: a
 * writer then enters while that reader is inside (3 threads, 2 preemptions). Fixed by reserving the
 * slot (dead id → −reaper) before collecting.
 */
import { describe, expect, it } from "vitest";
import type { AtomicsLike } from "../../../src/threads/raw/atomics-like.js";
import { isDead, markDead } from "../../../src/threads/raw/liveness-table.js";
import {
  COUNT_MASK,
  READER_SLOTS,
  RW_LOCK_WORDS,
  readStepReaping,
  readUnlock,
  registerReader,
  SLOTS,
  tryRead,
  tryWriteReaping,
  UPGRADER_WAITING,
  unregisterReader,
  WAITING,
  WRITE_LOCKED,
  WRITERS_WAITING,
  wakeAllIfFree,
  writeBlocking,
  writeStep,
  writeStepReaping,
  writeUnlock,
} from "../../../src/threads/raw/raw-rw-lock.js";
import { newWaiter, type RawWaiter } from "../../../src/threads/raw/waiter.js";
import { drive, mutants, ownerId, smallLivenessTable, until, withMutant } from "./drivers.js";
import { budget, check, explore, type ModelView, type Program, type ThreadContext } from "./explorer.js";

/** The owner id of a reader thread that died holding one read share (recorded in slot 0). */
const DEAD = 9;
const COUNTER = RW_LOCK_WORDS;
/** Set (and notified) once a reader holds its share. */
const HOLDING = RW_LOCK_WORDS + 1;

interface Shared {
  mem: Int32Array;
  table: Int32Array;
}

/** Fresh lock; with `deadShare`, a dead reader's share is counted and recorded in slot 0. */
function setupWith(deadShare: boolean) {
  return (A: AtomicsLike): Shared => {
    const mem = new Int32Array(RW_LOCK_WORDS + 2);
    const table = smallLivenessTable();
    if (deadShare) {
      mem[0] = 1;
      mem.set([DEAD, 1], SLOTS);
      markDead(A, table, DEAD);
    }
    return { mem, table };
  };
}

const names = (s: Shared) => ({ lock: s.mem, table: s.table });

function sharesInSlots(mem: Int32Array): number {
  let sum = 0;
  for (let k = 0; k < READER_SLOTS; k++) sum += mem[SLOTS + 1 + 2 * k]!;
  return sum;
}

/** Shares recorded in the slot of owner `id`. */
function sharesOf(mem: Int32Array, id: number): number {
  for (let k = 0; k < READER_SLOTS; k++) if (mem[SLOTS + 2 * k] === id) return mem[SLOTS + 1 + 2 * k]!;
  return 0;
}

/**
 * The word agrees with who is inside; COUNT never drops below the shares the slots record; and a
 * reader's shares stay in its slot while it is inside (readers enter "rw" after registerReader and
 * leave before unregisterReader): nobody else may take them.
 */
function invariantWith(owners: readonly number[] = []) {
  return (s: Shared, view: ModelView): void => invariantOf(owners, s, view);
}

const invariant = invariantWith();

function invariantOf(owners: readonly number[], s: Shared, view: ModelView): void {
  const registered = new Map<number, number>();
  for (const h of view.holders("rw")) {
    if (h.mode !== "shared") continue;
    const id = owners[h.thread] ?? h.thread + 1;
    registered.set(id, (registered.get(id) ?? 0) + 1);
  }
  for (const [id, n] of registered) {
    if (sharesOf(s.mem, id) < n)
      throw new Error(`owner ${id} holds ${n} registered share(s), its slot records ${sharesOf(s.mem, id)}`);
  }
  wordInvariant(s, view);
}

/** The word agrees with who is inside, and COUNT never drops below the shares the slots record. */
function wordInvariant(s: Shared, view: ModelView): void {
  const word = s.mem[0]!;
  const holders = view.holders("rw");
  if (word & WRITE_LOCKED) {
    const owner = (word & COUNT_MASK) - 1;
    for (const h of holders) if (h.thread !== owner) throw new Error(`T${h.thread} inside while T${owner} writes`);
    return;
  }
  if (holders.some((h) => h.mode === "exclusive")) throw new Error("a writer inside, the word is not write-locked");
  if (holders.length > (word & COUNT_MASK)) throw new Error(`${holders.length} inside, COUNT ${word & COUNT_MASK}`);
  if (sharesInSlots(s.mem) > (word & COUNT_MASK)) {
    throw new Error(`the slots hold ${sharesInSlots(s.mem)} shares, COUNT is ${word & COUNT_MASK}`);
  }
}

function final(writes: number) {
  return (s: Shared): void => {
    expect(s.mem[0]).toBe(0); // free, flags clear, not poisoned (readers never poison)
    expect(s.mem[COUNTER]).toBe(writes);
    expect(Array.from(s.mem.subarray(SLOTS, SLOTS + 2 * READER_SLOTS)).every((x) => x === 0)).toBe(true);
  };
}

/** The shipped write path: `tryWriteReaping`, then `writeStepReaping` + park (as `RwLock.write()`). */
function shippedWrite(ctx: ThreadContext, s: Shared, waiter: RawWaiter): boolean {
  return writeStepReaping(ctx.atomics, s.mem, 0, ownerId(ctx), s.table, waiter, ctx.now);
}

type WriteStep = typeof shippedWrite;

function writer(step: WriteStep = shippedWrite) {
  return (ctx: ThreadContext, s: Shared) => {
    const A = ctx.atomics;
    const me = ownerId(ctx);
    if (step !== shippedWrite || !tryWriteReaping(A, s.mem, 0, me, s.table)) {
      const waiter = newWaiter(0);
      drive(
        A,
        s.mem,
        waiter,
        until((waiter) => step(ctx, s, waiter)),
        "untimed",
      );
    }
    ctx.enter("rw", "exclusive");
    A.store(s.mem, COUNTER, A.load(s.mem, COUNTER) + 1);
    ctx.leave("rw");
    expect(writeUnlock(A, s.mem, 0, me)).toBe(true);
  };
}

/** The shipped read path with slot tracking, as `RwLock.read()` and the read guard do. */
function reader(me?: number) {
  return (ctx: ThreadContext, s: Shared) => {
    const A = ctx.atomics;
    const id = me ?? ownerId(ctx);
    if (!tryRead(A, s.mem, 0, s.table)) {
      const waiter = newWaiter(0);
      drive(
        A,
        s.mem,
        waiter,
        until((waiter) => readStepReaping(A, s.mem, 0, id, s.table, waiter, ctx.now)),
        "untimed",
      );
    }
    expect(registerReader(A, s.mem, 0, id)).toBe(true);
    ctx.enter("rw", "shared"); // inside from registering to unregistering its share
    ctx.leave("rw");
    unregisterReader(A, s.mem, 0, id);
    if (!readUnlock(A, s.mem, 0)) throw new Error(`T${ctx.id}'s share was taken while it held it`);
  };
}

/**
 * The reaper before the fix: collect the dead slot's shares, then free it. A second reaper that read
 * the same dead id collects whatever is in SHARES by then, a live reader's share included.
 */
function oldReap(A: AtomicsLike, w: Int32Array, table: Int32Array): boolean {
  let reclaimed = 0;
  for (let k = 0; k < READER_SLOTS; k++) {
    const id = A.load(w, SLOTS + 2 * k);
    if (id === 0 || !isDead(A, table, id)) continue;
    reclaimed += A.exchange(w, SLOTS + 1 + 2 * k, 0);
    A.compareExchange(w, SLOTS + 2 * k, id, 0);
  }
  if (reclaimed === 0) return false;
  let s = A.load(w, 0);
  for (;;) {
    if ((s & WRITE_LOCKED) !== 0 || (s & COUNT_MASK) < reclaimed) return false;
    const prev = A.compareExchange(w, 0, s, s - reclaimed);
    if (prev === s) break;
    s = prev;
  }
  if ((s & COUNT_MASK) === reclaimed && (s & WAITING) !== 0) wakeAllIfFree(A, w, 0);
  return true;
}

const oldWrite: WriteStep = (ctx, s, waiter) => {
  for (;;) {
    if (writeStep(ctx.atomics, s.mem, 0, ownerId(ctx), s.table, waiter, ctx.now)) return true;
    if (!oldReap(ctx.atomics, s.mem, s.table)) return false;
  }
};

describe("reader-slot reaping (model, issue 9 finding 2)", () => {
  it("two reapers and a live reader that re-claims the freed slot: no writer enters while it reads", () => {
    const report = check(
      {
        setup: setupWith(true),
        names,
        threads: [writer(), writer(), reader()],
        invariant,
        final: final(2),
      },
      // About 32 000 schedules: the complete bound-2 search takes 5–25 s.
      budget({ preemptionBound: 2, maxSchedules: 100_000 }),
    );
    expect(report.complete).toBe(true);
  }, 180_000);

  it("mutant: the old reaper (collect, then free) lets a writer in while the reader is inside", () => {
    const report = explore(
      { setup: setupWith(true), names, threads: [writer(oldWrite), writer(oldWrite), reader()], invariant },
      { preemptionBound: 2 },
    );
    // The second reaper takes the live reader's share out of its slot and out of COUNT: a writer gets
    // in while the reader is inside, or the reader finds its share gone when it leaves (whichever
    // schedule the search reaches first).
    expect(["invariant", "thread-error", "exclusion"]).toContain(report.failure?.kind);
    expect(report.failure?.message).toMatch(/registered share|share was taken|entered "rw"/);
    expect(report.failure?.preemptions).toBeLessThanOrEqual(2);
  });

  it("a reservation left by a reaper that died is taken over by the next reaper", () => {
    // Slot 0 reserved by reaper 5 (dead) while it collected the dead reader's share.
    const setup = (A: AtomicsLike): Shared => {
      const s = setupWith(true)(A);
      s.mem[SLOTS] = -5;
      markDead(A, s.table, 5);
      return s;
    };
    const report = check({ setup, names, threads: [writer(), reader()], invariant, final: final(1) });
    expect(report.complete).toBe(true);
  });
});

describe("several tasks of one thread share its reader slot (model)", () => {
  it("two read tasks of thread 1 and a reaping writer: the slot counts both shares, exclusion holds", () => {
    const report = check(
      {
        setup: setupWith(true),
        names,
        threads: [reader(1), reader(1), writer()],
        invariant: invariantWith([1, 1, 3]),
        final: final(1),
        loops: [0, 0, 1],
      },
      budget({ preemptionBound: 2 }),
    );
    expect(report.complete).toBe(true);
  });

  it("mutant: a slot count updated by load and store loses a task's share (the final check sees it)", () => {
    const base = [reader(1), reader(1), writer()];
    const report = explore(
      {
        setup: setupWith(false),
        names,
        threads: base.map((body, i) => (i < 2 ? withMutant(body, mutants.splitAdd) : body)),
        invariant: invariantWith([1, 1, 3]),
        final: final(1),
        // Two real threads with one owner id (what a reused id would look like): the split add races.
      },
      { preemptionBound: 2 },
    );
    expect(["invariant", "final", "thread-error", "exclusion"]).toContain(report.failure?.kind);
  });
});

describe("a writer that gives up (model, issue 9 finding 7)", () => {
  /** A reader that holds its share until the quitter has given up, then reads again (nested). */
  const nestedReader = (ctx: ThreadContext, s: Shared) => {
    const A = ctx.atomics;
    expect(tryRead(A, s.mem, 0, s.table)).toBe(true);
    ctx.enter("rw", "shared");
    A.store(s.mem, HOLDING, 1);
    A.notify(s.mem, HOLDING);
    while (A.load(s.mem, COUNTER) === 0) A.wait(s.mem, COUNTER, 0);
    // Only readers hold and nobody waits to write: a new read share must be granted now.
    const nested = tryRead(A, s.mem, 0, s.table);
    ctx.leave("rw");
    if (nested) readUnlock(A, s.mem, 0);
    readUnlock(A, s.mem, 0);
    return nested;
  };
  const quitter = (abandon: boolean) => (ctx: ThreadContext, s: Shared) => {
    const A = ctx.atomics;
    const me = ownerId(ctx);
    while (A.load(s.mem, HOLDING) === 0) A.wait(s.mem, HOLDING, 0);
    if (abandon) {
      expect(writeBlocking(A, s.mem, 0, me, s.table, ctx.now, 1, 0)).toBe(false);
    } else {
      // The code before the fix: give up without withdrawing WRITERS_WAITING.
      const waiter = newWaiter(0);
      while (!writeStep(A, s.mem, 0, me, s.table, waiter, ctx.now)) {
        if (A.wait(s.mem, waiter.index, waiter.expected, 1) === "timed-out") break;
      }
    }
    A.store(s.mem, COUNTER, 1);
    A.notify(s.mem, COUNTER);
    return "gave up";
  };
  const program = (abandon: boolean, more: Program<Shared>["threads"] = []): Program<Shared> => ({
    setup: setupWith(false),
    names,
    threads: [nestedReader, quitter(abandon), ...more],
    final: (s, view) => {
      expect(view.results[0]).toBe(true); // the nested read got in
      expect(s.mem[0]! & (COUNT_MASK | WRITE_LOCKED)).toBe(0);
    },
  });

  it("a timed-out writer withdraws WRITERS_WAITING: the nested read gets in", () => {
    const report = check(program(true), budget({ preemptionBound: 2, timeouts: 2 }));
    expect(report.complete).toBe(true);
  });

  it("mutant: giving up without withdrawing it refuses the nested read", () => {
    expect(explore(program(false), { preemptionBound: 2, timeouts: 2 }).failure?.kind).toBe("final");
  });

  it("another writer still waiting is woken and flags itself again; nobody is stranded", () => {
    let flagged = 0;
    const staying = (ctx: ThreadContext, s: Shared) => {
      const A = ctx.atomics;
      // Starts once the reader holds; parks untimed, so a lost wake-up is a deadlock.
      while (A.load(s.mem, HOLDING) === 0) A.wait(s.mem, HOLDING, 0);
      const waiter = newWaiter(0);
      drive(
        A,
        s.mem,
        waiter,
        until((waiter) => writeStep(A, s.mem, 0, ownerId(ctx), s.table, waiter, ctx.now)),
        "untimed",
      );
      ctx.enter("rw", "exclusive");
      ctx.leave("rw");
      writeUnlock(A, s.mem, 0, ownerId(ctx));
    };
    const report = check(
      {
        setup: setupWith(false),
        names,
        threads: [nestedReader, quitter(true), staying],
        invariant: (s, view) => {
          wordInvariant(s, view);
          if (view.results[1] !== undefined && (s.mem[0]! & WRITERS_WAITING) !== 0) flagged++;
        },
        final: (s) => expect(s.mem[0]! & ~UPGRADER_WAITING).toBe(0),
      },
      budget({ preemptionBound: 1, timeouts: 1 }),
    );
    expect(report.complete).toBe(true);
    expect(flagged).toBeGreaterThan(0);
  });
});
