/**
 * Model checking the eventual fairness of src/threads/raw/rw-word.ts (issue 10): a waiter that has
 * waited FAIR_AFTER_MS registers as the starver (STARVER_WORD), and from then on a hog gets the lock
 * at most once more (the acquire it may already be in the middle of) before the waiter does: a writer
 * against a writer hog, a reader against two writer hogs, a writer against reader hogs, an upgradable
 * reader against a writer hog. A starver that gives up, dies, or stops stepping never strands the
 * others. Ends with mutants: a hog that ignores STARVER, a starver that never clears it, and a refused
 * hog that parks on the state word instead of the writers' sequence.
 *
 * The virtual clock only moves when a timed wait times out, so a waiter registers only in schedules
 * where one of its parks times out; the tests assert that such schedules were explored.
 */

import { describe, expect, it } from "vitest";
import type { AtomicsLike } from "../../../src/threads/raw/atomics-like.js";
import { driveBlocking, PARK } from "../../../src/threads/raw/drive.js";
import { markDead } from "../../../src/threads/raw/liveness-table.js";
import {
  RW_LOCK_WORDS,
  readBlocking,
  readUnlock,
  STARVER_ID,
  STARVER_READS,
  STARVER_WORD,
  tryUpgradableRead,
  tryWrite,
  upgradableReadStep,
  upgradableUnlock,
  writeBlocking,
  writeStep,
  writeUnlock,
} from "../../../src/threads/raw/raw-rw-lock.js";
import { newWaiter, type RawWaiter } from "../../../src/threads/raw/waiter.js";
import { drive, ownerId, type ParkMode, patched, smallLivenessTable, until, withMutant } from "./drivers.js";
import { budget, check, explore, type Program, sample, type ThreadContext } from "./explorer.js";

/** Past the lock's words: rounds the hogs have completed (counted inside the section). */
const ROUNDS = RW_LOCK_WORDS;
/** Set (inside the section) once the measured waiter got in: the hogs stop. */
const DONE = RW_LOCK_WORDS + 1;
/** Most rounds a hog runs (it stops earlier once the waiter is done). */
const CAP = 4;

interface Shared {
  mem: Int32Array;
  table: Int32Array;
  /** Checker-side bookkeeping (written by the invariant only, never by a thread). */
  watch: { registeredAt: number; registrations: number };
}

const setup = (): Shared => ({
  mem: new Int32Array(RW_LOCK_WORDS + 2),
  table: smallLivenessTable(),
  watch: { registeredAt: -1, registrations: 0 },
});
const names = (s: Shared) => ({ lock: s.mem, table: s.table });

type Kind = "read" | "write" | "upgradable";

function section(kind: Kind): [string, "shared" | "exclusive"] {
  return ["rw", kind === "write" ? "exclusive" : "shared"];
}

/** The shipped write path (`tryWrite`, then `writeStep` through the production loop), untimed or timed parks. */
function write(ctx: ThreadContext, s: Shared, mode: ParkMode): void {
  const A = ctx.atomics;
  if (tryWrite(A, s.mem, 0, ownerId(ctx), s.table)) return;
  drive(
    A,
    s.mem,
    newWaiter(0),
    until((waiter) => writeStep(A, s.mem, 0, ownerId(ctx), s.table, waiter, ctx.now)),
    mode,
  );
}

/** A hog: re-takes the lock (`kind`) back to back until the waiter is done, at most CAP rounds. */
function hog(kind: "read" | "write", mode: ParkMode = "timed", cap = CAP) {
  return (ctx: ThreadContext, s: Shared) => {
    const A = ctx.atomics;
    for (let round = 0; round < cap && A.load(s.mem, DONE) === 0; round++) {
      if (kind === "write") write(ctx, s, mode);
      else expect(readBlocking(A, s.mem, 0, ownerId(ctx), s.table, ctx.now, Number.POSITIVE_INFINITY, 0)).toBe(true);
      ctx.enter(...section(kind));
      A.add(s.mem, ROUNDS, 1);
      ctx.leave("rw");
      if (kind === "write") writeUnlock(A, s.mem, 0, ownerId(ctx));
      else readUnlock(A, s.mem, 0);
    }
  };
}

/** The measured waiter: acquires (`kind`, production blocking loops, timed parks, no deadline), marks DONE. */
function waiter(kind: Kind) {
  return (ctx: ThreadContext, s: Shared) => {
    const A = ctx.atomics;
    const me = ownerId(ctx);
    if (kind === "write")
      expect(writeBlocking(A, s.mem, 0, me, s.table, ctx.now, Number.POSITIVE_INFINITY, 0)).toBe(true);
    else if (kind === "read") {
      expect(readBlocking(A, s.mem, 0, me, s.table, ctx.now, Number.POSITIVE_INFINITY, 0)).toBe(true);
    } else if (!tryUpgradableRead(A, s.mem, 0, me, s.table)) {
      const step = (w: RawWaiter) => (upgradableReadStep(A, s.mem, 0, me, s.table, w, ctx.now) ? 0 : PARK);
      driveBlocking(A, s.mem, newWaiter(0), step, Number.POSITIVE_INFINITY, ctx.now);
    }
    ctx.enter(...section(kind));
    A.store(s.mem, DONE, 1);
    ctx.leave("rw");
    if (kind === "write") writeUnlock(A, s.mem, 0, me);
    else if (kind === "read") readUnlock(A, s.mem, 0);
    else upgradableUnlock(A, s.mem, 0, me);
  };
}

/** The STARVER value of the waiter T0 (owner id 1). */
function starverValue(kind: Kind): number {
  return kind === "write" ? 1 : 1 | STARVER_READS;
}

/**
 * Fairness: from the moment T0 is registered until it is in, the hogs complete at most `slack` more
 * rounds (each hog may be in the middle of an acquire that read STARVER before T0 registered).
 */
function fairness(kind: Kind, slack: number) {
  return (s: Shared): void => {
    const { mem, watch } = s;
    if (mem[DONE] !== 0) return;
    if (watch.registeredAt < 0 && mem[STARVER_WORD] === starverValue(kind)) {
      watch.registeredAt = mem[ROUNDS]!;
      watch.registrations++;
    }
    if (watch.registeredAt >= 0 && mem[ROUNDS]! - watch.registeredAt > slack) {
      throw new Error(`the hogs took the lock ${mem[ROUNDS]! - watch.registeredAt} times after T0 registered`);
    }
  };
}

function fairProgram(kind: Kind, hogs: ThreadBodyList, slack: number): Program<Shared> {
  return {
    setup,
    names,
    threads: [waiter(kind), ...hogs],
    invariant: fairness(kind, slack),
    final: (s) => {
      expect(s.mem[DONE]).toBe(1);
      expect(s.mem[0]).toBe(0); // free, WAITING bits cleared
      expect(s.mem[STARVER_WORD]).toBe(0); // nobody left registered
    },
  };
}

type ThreadBodyList = Program<Shared>["threads"];

/** Runs `program` and counts the schedules in which T0 registered (the property was really exercised). */
function checkFair(program: Program<Shared>, options: Parameters<typeof check>[1]): number {
  let registered = 0;
  const counted: Program<Shared> = {
    ...program,
    final: (s, view) => {
      program.final?.(s, view);
      if (s.watch.registrations > 0) registered++;
    },
  };
  expect(check(counted, options).complete).toBe(true);
  return registered;
}

describe("raw rwlock eventual fairness (model)", () => {
  it("a writer against a writer hog: once registered, the hog gets the lock at most once more", () => {
    const registered = checkFair(fairProgram("write", [hog("write")], 1), budget({ preemptionBound: 2, timeouts: 2 }));
    expect(registered).toBeGreaterThan(0);
  });

  it("a reader against two writer hogs: once registered, the hogs get in at most once each", () => {
    const registered = checkFair(
      fairProgram("read", [hog("write", "timed", 2), hog("write", "timed", 2)], 2),
      budget({ preemptionBound: 1, timeouts: 1 }),
    );
    expect(registered).toBeGreaterThan(0);
  });

  it("a reader against two writer hogs, 4 rounds each: random walks", () => {
    let registered = 0;
    const program = fairProgram("read", [hog("write"), hog("write")], 2);
    const report = sample(
      {
        ...program,
        final: (s, view) => {
          program.final?.(s, view);
          if (s.watch.registrations > 0) registered++;
        },
      },
      { runs: 3000, timeouts: 4 },
    );
    expect(report.failure?.trace).toBeUndefined();
    expect(registered).toBeGreaterThan(0);
  });

  it("a writer against a reader hog: new readers wait for the starving writer", () => {
    const registered = checkFair(
      fairProgram("write", [hog("read", "timed", 3)], 1),
      budget({ preemptionBound: 2, timeouts: 2 }),
    );
    expect(registered).toBeGreaterThan(0);
  });

  it("an upgradable reader against a writer hog", () => {
    const registered = checkFair(
      fairProgram("upgradable", [hog("write")], 1),
      budget({ preemptionBound: 2, timeouts: 2 }),
    );
    expect(registered).toBeGreaterThan(0);
  });
});

/** A writer that registers, then gives up at its deadline (2 ms: it registers at 1 ms). */
function quitter(ctx: ThreadContext, s: Shared): string {
  const A = ctx.atomics;
  if (!writeBlocking(A, s.mem, 0, ownerId(ctx), s.table, ctx.now, 2, 0)) return "gave up";
  ctx.enter("rw", "exclusive");
  ctx.leave("rw");
  writeUnlock(A, s.mem, 0, ownerId(ctx));
  return "wrote";
}

/**
 * A writer that registers and then stops stepping without withdrawing: `dies` marks it dead in the
 * liveness table (a supervised worker that died); otherwise it just stops (an unsupervised thread that
 * was terminated, or an event loop blocked for long): only its heartbeat stands still.
 */
function vanisher(dies: boolean) {
  return (ctx: ThreadContext, s: Shared): string => {
    const A = ctx.atomics;
    const me = ownerId(ctx);
    if (tryWrite(A, s.mem, 0, me, s.table)) {
      writeUnlock(A, s.mem, 0, me);
      return "wrote";
    }
    const waiter = newWaiter(0);
    const step = (w: RawWaiter) => (writeStep(A, s.mem, 0, me, s.table, w, ctx.now) ? 0 : PARK);
    if (driveBlocking(A, s.mem, waiter, step, ctx.now() + 2, ctx.now) !== PARK) {
      writeUnlock(A, s.mem, 0, me);
      return "wrote";
    }
    if (dies) markDead(A, s.table, me);
    return A.load(s.mem, STARVER_WORD) === me ? "vanished registered" : "vanished";
  };
}

function survivors(first: Program<Shared>["threads"][number], hogMode: ParkMode): Program<Shared> {
  return {
    setup,
    names,
    threads: [first, hog("write", hogMode)],
    final: (s, view) => {
      // The hog ran all its rounds (the first thread never set DONE).
      expect(s.mem[ROUNDS]).toBe(CAP);
      if (view.results[0] !== "vanished registered") expect(s.mem[STARVER_WORD]).toBe(0);
    },
  };
}

describe("raw rwlock starver that leaves (model)", () => {
  it("a starver that gives up withdraws and wakes the refused (untimed hog: a lost wake-up is a deadlock)", () => {
    let gaveUpRegistered = 0;
    const program = survivors(quitter, "untimed");
    const report = check(
      {
        ...program,
        invariant: (s) => {
          if (s.mem[STARVER_WORD] === 1) s.watch.registrations++;
        },
        final: (s, view) => {
          program.final?.(s, view);
          if (view.results[0] === "gave up" && s.watch.registrations > 0) gaveUpRegistered++;
        },
      },
      budget({ preemptionBound: 2, timeouts: 3 }),
    );
    expect(report.complete).toBe(true);
    expect(gaveUpRegistered).toBeGreaterThan(0);
  });

  it("a starver that dies registered is cleared through the liveness table; the hog proceeds", () => {
    let vanished = 0;
    const program = survivors(vanisher(true), "timed");
    const report = check(
      {
        ...program,
        final: (s, view) => {
          program.final?.(s, view);
          if (view.results[0] === "vanished registered") vanished++;
        },
      },
      budget({ preemptionBound: 1, timeouts: 4 }),
    );
    expect(report.complete).toBe(true);
    expect(vanished).toBeGreaterThan(0);
  });

  it("a starver that stops stepping (alive) is cleared once its heartbeat stood still long enough", () => {
    let vanished = 0;
    const program = survivors(vanisher(false), "timed");
    const report = check(
      {
        ...program,
        final: (s, view) => {
          program.final?.(s, view);
          if (view.results[0] === "vanished registered") vanished++;
        },
      },
      budget({ preemptionBound: 1, timeouts: 9 }),
    );
    expect(report.complete).toBe(true);
    expect(vanished).toBeGreaterThan(0);
  });
});

// --- mutants ---------------------------------------------------------------------------------------

/** Thread `id` never sees another thread's registered starver (it reads 0): the old barging writer. */
const ignoresStarver = (id: number) => (A: AtomicsLike) =>
  patched(A, {
    load: (a, i) => {
      const v = A.load(a, i);
      return i === STARVER_WORD && (v & STARVER_ID) !== id ? 0 : v;
    },
  });

/** A starver whose clear (CAS of its value back to 0) does nothing (and reports success). */
const neverClears = (A: AtomicsLike) =>
  patched(A, {
    compareExchange: (a, i, e, r) => (i === STARVER_WORD && r === 0 && e !== 0 ? e : A.compareExchange(a, i, e, r)),
  });

/** A refused thread that parks on the state word (as it sees it then) instead of the writers' sequence. */
const parksOnState = (A: AtomicsLike) =>
  patched(A, { wait: (a, i, v, t) => (i === 1 ? A.wait(a, 0, A.load(a, 0), t) : A.wait(a, i, v, t)) });

describe("raw rwlock fairness mutants: these model tests can fail", () => {
  it("a writer hog that ignores STARVER barges past the registered writer", () => {
    const base = fairProgram("write", [hog("write")], 1);
    const report = explore(
      { ...base, threads: [base.threads[0]!, withMutant(base.threads[1]!, ignoresStarver(2))] },
      budget({ preemptionBound: 2, timeouts: 2 }),
    );
    expect(report.failure?.kind, report.failure?.trace).toBe("invariant");
  });

  it("writer hogs that ignore STARVER keep a registered reader out", () => {
    const base = fairProgram("read", [hog("write", "timed", 2), hog("write", "timed", 2)], 2);
    const report = explore(
      {
        ...base,
        threads: [base.threads[0]!, ...base.threads.slice(1).map((t, k) => withMutant(t, ignoresStarver(k + 2)))],
      },
      budget({ preemptionBound: 1, timeouts: 2 }),
    );
    expect(report.failure?.kind, report.failure?.trace).toBe("invariant");
  });

  it("a reader hog that ignores STARVER keeps a registered writer out", () => {
    const base = fairProgram("write", [hog("read", "timed", 3)], 1);
    const report = explore(
      { ...base, threads: [base.threads[0]!, withMutant(base.threads[1]!, ignoresStarver(2))] },
      budget({ preemptionBound: 2, timeouts: 2 }),
    );
    expect(report.failure?.kind, report.failure?.trace).toBe("invariant");
  });

  it("an upgradable reader is kept out by a writer hog that ignores STARVER", () => {
    const base = fairProgram("upgradable", [hog("write")], 1);
    const report = explore(
      { ...base, threads: [base.threads[0]!, withMutant(base.threads[1]!, ignoresStarver(2))] },
      budget({ preemptionBound: 2, timeouts: 2 }),
    );
    expect(report.failure?.kind, report.failure?.trace).toBe("invariant");
  });

  it("a starver that never clears its registration strands the untimed hog (or is left registered)", () => {
    const base = survivors(quitter, "untimed");
    const report = explore(
      { ...base, threads: [withMutant(base.threads[0]!, neverClears), base.threads[1]!] },
      budget({ preemptionBound: 2, timeouts: 3 }),
    );
    // Either the hog is refused forever (deadlock), or it had finished and the final check finds the
    // registration left behind.
    expect(["deadlock", "final"], report.failure?.trace).toContain(report.failure?.kind);
    // Without the final check of the STARVER word, the stranded hog still shows: a deadlock.
    const late = explore(
      {
        ...base,
        threads: [withMutant(base.threads[0]!, neverClears), base.threads[1]!],
        final: (s) => expect(s.mem[ROUNDS]).toBe(CAP),
      },
      budget({ preemptionBound: 2, timeouts: 3 }),
    );
    expect(late.failure?.kind, late.failure?.trace).toBe("deadlock");
  });

  it("a refused hog that parks on the state word misses the clear of a starver that gives up", () => {
    const base = survivors(quitter, "untimed");
    const report = explore(
      { ...base, threads: [base.threads[0]!, withMutant(base.threads[1]!, parksOnState)] },
      budget({ preemptionBound: 2, timeouts: 3 }),
    );
    expect(report.failure?.kind, report.failure?.trace).toBe("deadlock");
  });
});
