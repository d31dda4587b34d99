/**
 * Model checking src/threads/raw/liveness-table.ts: concurrent supervisors recording deaths in the same
 * word lose no bit, and the deaths counter counts each owner once (markDead is idempotent).
 */

import { describe, expect, it } from "vitest";
import { realAtomics } from "../../../src/threads/raw/atomics-like.js";
import { isDead, markDead } from "../../../src/threads/raw/liveness-table.js";
import { mutants, smallLivenessTable, withMutant } from "./drivers.js";
import { check, explore, type Program } from "./explorer.js";

const DEATHS = 1;

/** Threads mark owner ids dead (ids 1–31 share one word); each checks its own mark at once. */
function program(ids: readonly number[]): Program<Int32Array> {
  return {
    setup: smallLivenessTable,
    names: (table) => ({ table }),
    threads: ids.map((id) => (ctx, table) => {
      markDead(ctx.atomics, table, id);
      expect(isDead(ctx.atomics, table, id)).toBe(true);
    }),
    final: (table) => {
      const distinct = new Set(ids);
      for (const id of distinct) expect(isDead(realAtomics, table, id)).toBe(true);
      expect(isDead(realAtomics, table, 30)).toBe(false);
      expect(table[DEATHS]).toBe(distinct.size);
    },
  };
}

describe("liveness table (model)", () => {
  it("two supervisors mark two owners in the same word: both bits, two deaths", () => {
    expect(check(program([1, 2])).complete).toBe(true);
  });

  it("the same death reported twice (and a third owner) is counted once", () => {
    expect(check(program([3, 3, 4])).complete).toBe(true);
  });

  it("mutant: an `or` split into load and store loses a death", () => {
    const base = program([1, 2]);
    const report = explore({ ...base, threads: base.threads.map((body) => withMutant(body, mutants.splitOr)) });
    expect(["final", "thread-error"]).toContain(report.failure?.kind);
  });
});
