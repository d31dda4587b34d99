/**
 * Model checking the owner-death half of src/threads/raw/raw-semaphore.ts: two reapers collecting a
 * dead holder's slot while a live thread takes, records and gives back permits (claiming a slot of its
 * own, possibly the one being freed). Permits are never created (free ≤ TOTAL at every step) and all
 * come back.
 */
import { describe, expect, it } from "vitest";
import { realAtomics } from "../../../src/threads/raw/atomics-like.js";
import { markDead } from "../../../src/threads/raw/liveness-table.js";
import {
  ACQUIRED,
  claimSlot,
  initTotal,
  permitsOf,
  reap,
  recordHeld,
  recordReleased,
  release,
  SLOTS,
  tryAcquire,
} from "../../../src/threads/raw/raw-semaphore.js";
import { smallLivenessTable } from "./drivers.js";
import { budget, check, explore, type Program, type ThreadContext } from "./explorer.js";

interface Shared {
  mem: Int32Array;
  table: Int32Array;
}

const TOTAL = 3;
const DEAD = 5;
const LIVE = 2;
/** Two holder slots (the raw functions use the slots that fit the array): the dead one's and one free. */
const HOLDER_SLOTS = 2;
const WORDS = SLOTS + 2 * HOLDER_SLOTS;

type Reap = typeof reap;

function program(reapWith: Reap): Program<Shared> {
  return {
    setup: () => {
      const mem = new Int32Array(WORDS);
      initTotal(realAtomics, mem, 0, TOTAL);
      // The dead owner holds 2 permits through slot 0; 1 is free.
      mem[0] = 1;
      mem[SLOTS] = DEAD;
      mem[SLOTS + 1] = 2;
      const table = smallLivenessTable();
      markDead(realAtomics, table, DEAD);
      return { mem, table };
    },
    names: (s) => ({ sem: s.mem, table: s.table }),
    threads: [
      (ctx: ThreadContext, s: Shared) => reapWith(ctx.atomics, s.mem, 0, s.table),
      (ctx: ThreadContext, s: Shared) => reapWith(ctx.atomics, s.mem, 0, s.table),
      (ctx: ThreadContext, s: Shared) => {
        const A = ctx.atomics;
        if (tryAcquire(A, s.mem, 0, 1) !== ACQUIRED) return "busy";
        const slot = claimSlot(A, s.mem, 0, LIVE);
        if (slot >= 0) recordHeld(A, s.mem, 0, slot, 1);
        if (slot >= 0) recordReleased(A, s.mem, 0, slot, 1);
        release(A, s.mem, 0, 1);
        return "used";
      },
    ],
    invariant: (s) => {
      const free = permitsOf(s.mem[0]!);
      if (free > TOTAL) throw new Error(`permits created: ${free} free of ${TOTAL}`);
    },
    final: (s) => {
      expect(permitsOf(s.mem[0]!), "free permits at the end").toBe(TOTAL);
      for (let k = 0; k < HOLDER_SLOTS; k++) {
        const holder = s.mem[SLOTS + 2 * k]!;
        expect([0, LIVE]).toContain(holder);
        expect(s.mem[SLOTS + 2 * k + 1]).toBe(0);
      }
    },
  };
}

describe("raw semaphore reaping (model)", () => {
  it("two reapers and a live holder: the dead holder's permits come back exactly once", () => {
    expect(check(program(reap), budget({ preemptionBound: 2 })).complete).toBe(true);
  });
});

describe("raw semaphore reaping mutants: these model tests can fail", () => {
  it("collecting without reserving the slot first: two reapers both return the permits", () => {
    const unreserved: Reap = (A, w, i, table) => {
      let returned = 0;
      for (let k = 0; k < HOLDER_SLOTS; k++) {
        const at = i + SLOTS + 2 * k;
        const holder = A.load(w, at);
        if (holder <= 0 || table === undefined || (A.load(table, 2) & (1 << holder)) === 0) continue;
        const held = A.load(w, at + 1);
        A.store(w, at + 1, 0);
        A.store(w, at, 0);
        if (held > 0) {
          release(A, w, i, held);
          returned += held;
        }
      }
      return returned;
    };
    const report = explore(program(unreserved));
    expect(report.failure?.kind).toBe("invariant");
    expect(report.failure?.message).toMatch(/permits created/);
  });
});
