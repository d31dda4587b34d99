/**
 * Model checking src/threads/raw/raw-rw-lock.ts: a writer never overlaps anyone, readers may share,
 * the state word agrees with who is inside, no lost wake-up on either park word (untimed parks), the
 * lock ends free and clean, downgrade admits no writer in between, and a writer that gives up strands
 * nobody. Reaping with two reapers, giving up, and several tasks of one thread: raw-rw-lock-reaping.test.ts;
 * the upgradable guard's lifecycle: raw-rw-lock-lifecycle.test.ts.
 */

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { markDead } from "../../../src/threads/raw/liveness-table.js";
import {
  COUNT_MASK,
  downgrade,
  POISONED,
  RW_LOCK_WORDS,
  readBlocking,
  readStep,
  readUnlock,
  tryRead,
  tryWrite,
  WRITE_LOCKED,
  writeBlocking,
  writeStep,
  writeUnlock,
} from "../../../src/threads/raw/raw-rw-lock.js";
import { newWaiter } from "../../../src/threads/raw/waiter.js";
import { drive, mutants, ownerId, type ParkMode, smallLivenessTable, until, withMutant } from "./drivers.js";
import { budget, check, explore, type ModelView, type Program, type ThreadContext } from "./explorer.js";

interface Shared {
  /**
   * [0] state word, [1] writers' wake-up sequence, [2] counter written only by writers inside (the
   * first reader slot: the plain steps never touch the slots), the starver words at the end.
   */
  mem: Int32Array;
  table: Int32Array;
}

const setup = (): Shared => ({ mem: new Int32Array(RW_LOCK_WORDS), table: smallLivenessTable() });
const names = (s: Shared) => ({ mem: s.mem, table: s.table });

function read(ctx: ThreadContext, s: Shared, mode: ParkMode): void {
  const A = ctx.atomics;
  if (tryRead(A, s.mem, 0, s.table)) return;
  const waiter = newWaiter(0);
  drive(
    A,
    s.mem,
    waiter,
    until((waiter) => readStep(A, s.mem, 0, ownerId(ctx), s.table, waiter, ctx.now)),
    mode,
  );
}

function write(ctx: ThreadContext, s: Shared, mode: ParkMode): void {
  const A = ctx.atomics;
  if (tryWrite(A, s.mem, 0, ownerId(ctx), s.table)) return;
  const waiter = newWaiter(0);
  drive(
    A,
    s.mem,
    waiter,
    until((waiter) => writeStep(A, s.mem, 0, ownerId(ctx), s.table, waiter, ctx.now)),
    mode,
  );
}

function reader(mode: ParkMode = "untimed") {
  return (ctx: ThreadContext, s: Shared) => {
    read(ctx, s, mode);
    ctx.enter("rw", "shared");
    ctx.atomics.load(s.mem, 2);
    ctx.leave("rw");
    expect(readUnlock(ctx.atomics, s.mem, 0)).toBe(true);
  };
}

function writer(mode: ParkMode = "untimed") {
  return (ctx: ThreadContext, s: Shared) => {
    write(ctx, s, mode);
    ctx.enter("rw", "exclusive");
    const v = ctx.atomics.load(s.mem, 2);
    ctx.atomics.store(s.mem, 2, v + 1);
    ctx.leave("rw");
    expect(writeUnlock(ctx.atomics, s.mem, 0, ownerId(ctx))).toBe(true);
  };
}

/** While a thread is inside, the word agrees: a writer's id in COUNT, or at least as many readers. */
function wordInvariant(s: Shared, view: ModelView): void {
  const word = s.mem[0]!;
  const holders = view.holders("rw");
  const writers = holders.filter((h) => h.mode === "exclusive");
  if (word & WRITE_LOCKED) {
    const owner = (word & COUNT_MASK) - 1;
    for (const h of holders) {
      if (h.thread !== owner) throw new Error(`T${h.thread} inside while T${owner} holds the write lock`);
    }
  } else {
    if (writers.length > 0) throw new Error(`writer T${writers[0]!.thread} inside but the word is not write-locked`);
    if (holders.length > (word & COUNT_MASK)) {
      throw new Error(`${holders.length} readers inside, the word counts ${word & COUNT_MASK}`);
    }
  }
}

function program(threads: Program<Shared>["threads"], writes: number): Program<Shared> {
  return {
    setup,
    names,
    threads,
    invariant: wordInvariant,
    final: (s) => {
      // Free, and "last one out" cleared both WAITING bits.
      expect(s.mem[0]).toBe(0);
      expect(s.mem[2]).toBe(writes);
    },
  };
}

describe("raw rwlock (model)", () => {
  it("2 readers and 1 writer, untimed parks: readers do share", () => {
    let shared = 0;
    const base = program([reader(), reader(), writer()], 1);
    const report = check({
      ...base,
      invariant: (s, view) => {
        wordInvariant(s, view);
        if (view.holders("rw").length === 2) shared++;
      },
    });
    expect(report.complete).toBe(true);
    expect(shared).toBeGreaterThan(0);
  });

  it("1 reader and 2 writers, untimed parks", () => {
    expect(check(program([writer(), reader(), writer()], 2)).complete).toBe(true);
  });

  it("2 writers × 2 rounds, untimed parks", () => {
    const twice = (ctx: ThreadContext, s: Shared) => {
      writer()(ctx, s);
      writer()(ctx, s);
    };
    expect(check(program([twice, twice], 4)).complete).toBe(true);
  });

  it("production timed parks: every thread parked is still a lost wake-up", () => {
    const report = check(
      program([reader("timed"), writer("timed"), writer("timed")], 2),
      budget({ allParkedIsDeadlock: true, timeouts: 1, preemptionBound: 1 }),
    );
    expect(report.complete).toBe(true);
  });

  it("every wake-up is a notify-all: a wake-up stolen by an abandoned waitAsync strands nobody", () => {
    const report = check(program([reader(), writer(), writer()], 2), budget({ preemptionBound: 1, stolenWakeups: 1 }));
    expect(report.complete).toBe(true);
  });

  it("the production loops readBlocking / writeBlocking", () => {
    const A = (ctx: ThreadContext) => ctx.atomics;
    const blockingReader = (ctx: ThreadContext, s: Shared) => {
      expect(readBlocking(A(ctx), s.mem, 0, ownerId(ctx), s.table, ctx.now, Number.POSITIVE_INFINITY, 0)).toBe(true);
      ctx.enter("rw", "shared");
      ctx.leave("rw");
      readUnlock(A(ctx), s.mem, 0);
    };
    const blockingWriter = (ctx: ThreadContext, s: Shared) => {
      expect(writeBlocking(A(ctx), s.mem, 0, ownerId(ctx), s.table, ctx.now, Number.POSITIVE_INFINITY, 0)).toBe(true);
      ctx.enter("rw", "exclusive");
      const v = A(ctx).load(s.mem, 2);
      A(ctx).store(s.mem, 2, v + 1);
      ctx.leave("rw");
      writeUnlock(A(ctx), s.mem, 0, ownerId(ctx));
    };
    const report = check(
      program([blockingReader, blockingWriter, blockingReader], 1),
      budget({ allParkedIsDeadlock: true, timeouts: 1, preemptionBound: 1 }),
    );
    expect(report.complete).toBe(true);
  });

  it("downgrade: no writer gets in between, and waiting readers are admitted", () => {
    const downgrader = (ctx: ThreadContext, s: Shared) => {
      write(ctx, s, "untimed");
      ctx.enter("rw", "exclusive");
      const v = ctx.atomics.load(s.mem, 2);
      ctx.atomics.store(s.mem, 2, v + 1);
      // Still write-locked here, so holding "shared" too is conservative: nobody may enter at all.
      ctx.enter("rw", "shared");
      ctx.leave("rw", "exclusive");
      expect(downgrade(ctx.atomics, s.mem, 0, ownerId(ctx))).toBe(true);
      ctx.atomics.load(s.mem, 2);
      ctx.leave("rw", "shared");
      expect(readUnlock(ctx.atomics, s.mem, 0)).toBe(true);
    };
    expect(check(program([downgrader, reader(), writer()], 2)).complete).toBe(true);
  });

  it("a writer that gives up withdraws WRITERS_WAITING (and wakes both sides); nobody is stranded", () => {
    const quitter = (ctx: ThreadContext, s: Shared) => {
      if (!writeBlocking(ctx.atomics, s.mem, 0, ownerId(ctx), s.table, ctx.now, 1, 0)) return "gave up";
      ctx.enter("rw", "exclusive");
      ctx.leave("rw");
      writeUnlock(ctx.atomics, s.mem, 0, ownerId(ctx));
      return "wrote";
    };
    let gaveUp = 0;
    const report = check(
      {
        setup,
        names,
        threads: [reader(), quitter, reader()],
        invariant: wordInvariant,
        final: (s, view) => {
          if (view.results[1] === "gave up") gaveUp++;
          expect(s.mem[0]).toBe(0);
        },
      },
      budget({ timeouts: 1, preemptionBound: 1 }),
    );
    expect(report.complete).toBe(true);
    expect(gaveUp).toBeGreaterThan(0);
  });

  it("a writer that dies holding the lock is reaped: poisoned, and the others get in", () => {
    const dying = (ctx: ThreadContext, s: Shared) => {
      write(ctx, s, "timed");
      ctx.enter("rw", "exclusive");
      ctx.atomics.store(s.mem, 2, 1);
      ctx.leave("rw");
      markDead(ctx.atomics, s.table, ownerId(ctx));
    };
    const report = check(
      {
        setup,
        names,
        threads: [dying, reader("timed"), writer("timed")],
        invariant: wordInvariant,
        final: (s) => {
          const word = s.mem[0]!;
          // Reaped (free and poisoned), or still held by the dead writer if nobody came after it.
          const reaped = (word & ~POISONED) === 0 && (word & POISONED) !== 0;
          const heldByDead = (word & WRITE_LOCKED) !== 0 && (word & COUNT_MASK) === 1;
          expect(reaped || heldByDead).toBe(true);
        },
      },
      budget({ timeouts: 1, preemptionBound: 1 }),
    );
    expect(report.complete).toBe(true);
  });
});

describe("raw rwlock (model, property)", () => {
  it("any mix of 2–3 readers and writers: exclusion, word agreement, no lost wake-up, ends free", () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { minLength: 2, maxLength: 3 }), (writes) => {
        const threads = writes.map((w) => (w ? writer() : reader()));
        const report = check(program(threads, writes.filter((w) => w).length), budget({ preemptionBound: 1 }));
        expect(report.complete).toBe(true);
      }),
      { numRuns: 6 },
    );
  });
});

describe("raw rwlock mutants: these model tests can fail", () => {
  const mutated = (mutate: typeof mutants.dropNotify) =>
    program(
      [reader(), writer(), writer()].map((body) => withMutant(body, mutate)),
      2,
    );

  it("wake-ups that wake nobody: a parked reader or writer sleeps forever", () => {
    expect(explore(mutated(mutants.dropNotify)).failure?.kind).toBe("deadlock");
  });

  it("a compareExchange split into load and store: a writer overlaps someone", () => {
    // With waiting, the mutant first loses a wake-up; with try-only acquires nobody parks, and the
    // overlap shows up.
    expect(explore(mutated(mutants.splitCompareExchange)).failure?.kind).toBe("deadlock");
    const tryReader = (ctx: ThreadContext, s: Shared) => {
      if (!tryRead(ctx.atomics, s.mem, 0, s.table)) return;
      ctx.enter("rw", "shared");
      ctx.leave("rw");
      readUnlock(ctx.atomics, s.mem, 0);
    };
    const tryWriter = (ctx: ThreadContext, s: Shared) => {
      if (!tryWrite(ctx.atomics, s.mem, 0, ownerId(ctx), s.table)) return;
      ctx.enter("rw", "exclusive");
      ctx.leave("rw");
      writeUnlock(ctx.atomics, s.mem, 0, ownerId(ctx));
    };
    const tryOnly = (threads: Program<Shared>["threads"]): Program<Shared> => ({
      setup,
      names,
      threads,
      invariant: wordInvariant,
    });
    const report = explore(tryOnly([tryReader, tryWriter].map((b) => withMutant(b, mutants.splitCompareExchange))));
    expect(["exclusion", "invariant"]).toContain(report.failure?.kind);
    expect(check(tryOnly([tryReader, tryWriter])).complete).toBe(true); // the unmutated twin passes
  });
});
