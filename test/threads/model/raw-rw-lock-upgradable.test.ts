/**
 * Model checking the later additions to src/threads/raw/raw-rw-lock.ts: upgradable reads (one
 * upgradable reader at a time, shared with plain readers, upgrading once it is the only reader) and
 * reader slots (a waiting writer reclaims the shares of a dead reader, without poisoning). The threads
 * run the steps src/threads/rw-lock.ts runs: the reaping steps of rw-reader-slots.ts and the guard
 * lifecycle of rw-upgrade.ts.
 */

import { describe, expect, it } from "vitest";
import { markDead } from "../../../src/threads/raw/liveness-table.js";
import {
  beginUpgrade,
  COUNT_MASK,
  downgradeUpgradable,
  GUARD_HELD,
  READER_SLOTS,
  RW_LOCK_WORDS,
  readStepReaping,
  readUnlock,
  registerReader,
  tryRead,
  tryUpgradableRead,
  tryWriteReaping,
  UPGRADE_DONE,
  UPGRADE_PARK,
  UPGRADER_WORD,
  unregisterReader,
  upgradableReadStepReaping,
  upgradeGuardStep,
  WRITE_LOCKED,
  writeStepReaping,
  writeUnlock,
} from "../../../src/threads/raw/raw-rw-lock.js";
import { newWaiter, type RawWaiter } from "../../../src/threads/raw/waiter.js";
import {
  mutants,
  ownerId,
  PARK,
  type ParkMode,
  drive as runDriver,
  smallLivenessTable,
  until,
  withMutant,
} from "./drivers.js";
import { budget, check, explore, type ModelView, type Program, sample, type ThreadContext } from "./explorer.js";

/** Past the lock's words: a counter only writers touch. */
const COUNTER = RW_LOCK_WORDS;
/** Past the counter: the guard-state words of the upgradable guards (one per thread). */
const GUARDS = RW_LOCK_WORDS + 1;

interface Shared {
  mem: Int32Array;
  table: Int32Array;
}

const setup = (): Shared => ({ mem: new Int32Array(GUARDS + 3), table: smallLivenessTable() });
const names = (s: Shared) => ({ mem: s.mem, table: s.table });

/** Runs one of the shipped reaping steps until it succeeds, parking in between. */
function drive(ctx: ThreadContext, s: Shared, mode: ParkMode, step: (waiter: RawWaiter) => boolean): void {
  const waiter = newWaiter(0);
  runDriver(
    ctx.atomics,
    s.mem,
    waiter,
    until((waiter) => step(waiter)),
    mode,
  );
}

function reader(mode: ParkMode = "untimed", dies = false) {
  return (ctx: ThreadContext, s: Shared) => {
    const A = ctx.atomics;
    if (!tryRead(A, s.mem, 0, s.table)) {
      drive(ctx, s, mode, (w) => readStepReaping(A, s.mem, 0, ownerId(ctx), s.table, w, ctx.now));
    }
    const tracked = registerReader(A, s.mem, 0, ownerId(ctx));
    ctx.enter("rw", "shared");
    const writes = A.load(s.mem, COUNTER);
    ctx.leave("rw");
    if (dies) {
      markDead(A, s.table, ownerId(ctx)); // dies holding its share; its supervisor records the death
      return writes;
    }
    if (tracked) unregisterReader(A, s.mem, 0, ownerId(ctx));
    expect(readUnlock(A, s.mem, 0)).toBe(true);
    return undefined;
  };
}

function write(ctx: ThreadContext, s: Shared, mode: ParkMode): void {
  const A = ctx.atomics;
  const me = ownerId(ctx);
  if (tryWriteReaping(A, s.mem, 0, me, s.table)) return;
  drive(ctx, s, mode, (w) => writeStepReaping(A, s.mem, 0, me, s.table, w, ctx.now));
}

function increment(ctx: ThreadContext, s: Shared): void {
  const v = ctx.atomics.load(s.mem, COUNTER);
  ctx.atomics.store(s.mem, COUNTER, v + 1);
}

function writer(mode: ParkMode = "untimed") {
  return (ctx: ThreadContext, s: Shared) => {
    write(ctx, s, mode);
    ctx.enter("rw", "exclusive");
    increment(ctx, s);
    ctx.leave("rw");
    expect(writeUnlock(ctx.atomics, s.mem, 0, ownerId(ctx))).toBe(true);
  };
}

/** The guard-state word of thread `ctx`'s upgradable guard (a fresh guard starts HELD = 0). */
function guardOf(ctx: ThreadContext, s: Shared): Int32Array {
  return s.mem.subarray(GUARDS + ctx.id, GUARDS + ctx.id + 1);
}

/** Takes an upgradable read, then upgrades to write (parking until it is the only reader), as the guard does. */
function upgrader(mode: ParkMode = "untimed") {
  return (ctx: ThreadContext, s: Shared) => {
    const A = ctx.atomics;
    const me = ownerId(ctx);
    if (!tryUpgradableRead(A, s.mem, 0, me, s.table)) {
      drive(ctx, s, mode, (w) => upgradableReadStepReaping(A, s.mem, 0, me, s.table, w, ctx.now));
    }
    const tracked = registerReader(A, s.mem, 0, me);
    ctx.enter("rw", "shared");
    ctx.enter("upgradable", "exclusive");
    A.load(s.mem, COUNTER);
    const g = guardOf(ctx, s);
    expect(beginUpgrade(A, g)).toBe(GUARD_HELD);
    const waiter = newWaiter(0);
    runDriver(
      A,
      s.mem,
      waiter,
      (w) => {
        const outcome = upgradeGuardStep(A, s.mem, 0, me, g, tracked, w);
        if (outcome === UPGRADE_DONE) return outcome;
        expect(outcome).toBe(UPGRADE_PARK);
        return PARK;
      },
      mode,
    );
    // Now the write lock: the read share became it in one CAS (and left its slot).
    ctx.enter("rw", "exclusive");
    ctx.leave("rw", "shared");
    ctx.leave("upgradable");
    increment(ctx, s);
    ctx.leave("rw");
    expect(writeUnlock(A, s.mem, 0, me)).toBe(true);
  };
}

function sharesInSlots(mem: Int32Array): number {
  let sum = 0;
  for (let k = 0; k < READER_SLOTS; k++) sum += mem[3 + 2 * k]!;
  return sum;
}

/** The word agrees with who is inside, and (documented order) COUNT never drops below the slots' shares. */
function invariant(s: Shared, view: ModelView): void {
  const word = s.mem[0]!;
  const inside = new Set(view.holders("rw").map((h) => h.thread));
  if (word & WRITE_LOCKED) {
    const owner = (word & COUNT_MASK) - 1;
    for (const t of inside) if (t !== owner) throw new Error(`T${t} inside while T${owner} holds the write lock`);
  } else {
    if (view.holders("rw").some((h) => h.mode === "exclusive")) throw new Error("a writer inside, not write-locked");
    if (inside.size > (word & COUNT_MASK)) throw new Error(`${inside.size} inside, COUNT ${word & COUNT_MASK}`);
    if (sharesInSlots(s.mem) > (word & COUNT_MASK)) {
      throw new Error(`slots hold ${sharesInSlots(s.mem)} shares, COUNT is ${word & COUNT_MASK}`);
    }
  }
}

function program(threads: Program<Shared>["threads"], writes: number): Program<Shared> {
  return {
    setup,
    names,
    threads,
    invariant,
    final: (s) => {
      expect(s.mem[0]).toBe(0); // free, clean, not poisoned
      expect(s.mem[COUNTER]).toBe(writes);
      expect(sharesInSlots(s.mem)).toBe(0);
      expect(s.mem[UPGRADER_WORD]).toBe(0);
    },
  };
}

describe("raw rwlock upgradable reads (model)", () => {
  it("an upgradable reader, a reader and a writer: exclusion, upgrade waits for the reader, no lost wake-up", () => {
    const report = check(program([upgrader(), reader(), writer()], 2), budget({ preemptionBound: 1 }));
    expect(report.complete).toBe(true);
  });

  it("two upgradable readers exclude each other, share with a plain reader, and both upgrade", () => {
    const report = check(program([upgrader(), upgrader(), reader()], 2), budget({ preemptionBound: 1 }));
    expect(report.complete).toBe(true);
  });

  it("2 threads, bound 2: upgrader and reader", () => {
    expect(check(program([upgrader(), reader()], 1)).complete).toBe(true);
  });

  it("downgrading the upgradable share lets the next upgradable reader in", () => {
    const downgrader = (ctx: ThreadContext, s: Shared) => {
      const A = ctx.atomics;
      const me = ownerId(ctx);
      if (!tryUpgradableRead(A, s.mem, 0, me, s.table)) {
        drive(ctx, s, "untimed", (w) => upgradableReadStepReaping(A, s.mem, 0, me, s.table, w, ctx.now));
      }
      ctx.enter("rw", "shared");
      ctx.enter("upgradable", "exclusive");
      ctx.leave("upgradable"); // before the CAS that gives the role up
      expect(downgradeUpgradable(A, s.mem, 0, me)).toBe(true);
      A.load(s.mem, COUNTER);
      ctx.leave("rw");
      expect(readUnlock(A, s.mem, 0)).toBe(true);
    };
    const report = check(program([downgrader, upgrader(), reader()], 1), budget({ preemptionBound: 1 }));
    expect(report.complete).toBe(true);
  });

  it("mutant: wake-ups that wake nobody strand the upgrader", () => {
    const base = program([upgrader(), reader()], 1);
    const report = explore({ ...base, threads: base.threads.map((b) => withMutant(b, mutants.dropNotify)) });
    expect(report.failure?.kind).toBe("deadlock");
  });
});

describe("raw rwlock (random walks beyond the bound)", () => {
  it("an upgrader, two readers and a writer: 200 random walks, every check holds", () => {
    const report = sample(program([upgrader(), reader(), reader(), writer()], 2), { runs: 200 });
    if (report.failure) throw new Error(report.failure.trace);
    expect(report.schedules).toBeGreaterThanOrEqual(200);
  });
});

describe("raw rwlock reader slots (model)", () => {
  it("a reader that dies holding its share: a waiting writer reclaims it (not poisoned), nobody is stranded", () => {
    let reclaimed = 0;
    const report = check(
      {
        ...program([reader("timed", true), writer("timed"), reader("timed")], 1),
        final: (s, view) => {
          expect(s.mem[COUNTER]).toBe(1);
          if (view.results[0] === 1) {
            // The writer was done before the reader died: nobody came after, so the share stays leaked.
            expect(s.mem[0]).toBe(1);
            return;
          }
          // The writer got in after the death, so it reclaimed the dead reader's share; not poisoned.
          expect(s.mem[0]).toBe(0);
          expect(sharesInSlots(s.mem)).toBe(0);
          reclaimed++;
        },
      },
      budget({ preemptionBound: 1, timeouts: 1 }),
    );
    expect(report.complete).toBe(true);
    expect(reclaimed).toBeGreaterThan(0);
  });
});
