/**
 * Model checking src/threads/raw/json-slots.ts, the write-back protocol of a JSON cell: a reader
 * that runs at any point of a write — which is also what memory looks like after a writer killed at
 * that point — sees the old text or the new one, never a mix.
 *
 * The text is modelled as TEXT words per slot, copied with one store each (each a scheduling point):
 * value `v` is the text [v, v, …]. Slot s starts at word HEADER + s · TEXT.
 */
import { describe, expect, it } from "vitest";
import { lengthOf, publishedState, slotOf, stateOf, writeSlot } from "../../../src/threads/raw/json-slots.js";
import { budget, check, explore, type Program, type ThreadContext } from "./explorer.js";

const HEADER = 4;
const TEXT = 3;
const OLD = 7;
const NEW = 9;

/** What a reader sees: the published slot's words. */
function read(ctx: ThreadContext, mem: Int32Array): number[] {
  const state = publishedState(ctx.atomics, mem);
  const start = HEADER + slotOf(state) * TEXT;
  return Array.from({ length: lengthOf(state) }, (_, k) => ctx.atomics.load(mem, start + k));
}

type Write = (ctx: ThreadContext, mem: Int32Array, value: number) => void;

/** The shipped write: copy into the unpublished slot, then publish. */
const shipped: Write = (ctx, mem, value) =>
  writeSlot(ctx.atomics, mem, TEXT, (slot) => {
    for (let k = 0; k < TEXT; k++) ctx.atomics.store(mem, HEADER + slot * TEXT + k, value);
  });

function program(write: Write, writes: number[], seen: number[] = []): Program<Int32Array> {
  return {
    setup: () => {
      const mem = new Int32Array(HEADER + 2 * TEXT);
      mem[2] = stateOf(0, TEXT);
      mem.fill(OLD, HEADER, HEADER + TEXT);
      return mem;
    },
    names: (mem) => ({ mem }),
    threads: [
      (ctx, mem) => {
        for (const value of writes) write(ctx, mem, value);
      },
      (ctx, mem) => {
        const text = read(ctx, mem);
        const values = new Set(text);
        if (values.size !== 1) throw new Error(`torn text: [${text.join(", ")}]`);
        return text[0];
      },
    ],
    final: (mem, view) => {
      expect([OLD, ...writes]).toContain(view.results[1]);
      seen.push(view.results[1] as number);
      expect(read({ atomics: { load: (a: Int32Array, i: number) => a[i]! } } as ThreadContext, mem)).toEqual(
        Array(TEXT).fill(writes.at(-1)),
      );
    },
  };
}

describe("raw JSON slots (model)", () => {
  it("a reader at any point of a write (or after the writer died there) sees the old or the new text", () => {
    const seen: number[] = [];
    const report = check(program(shipped, [NEW], seen), budget({ preemptionBound: 2 }));
    expect(report.complete).toBe(true);
    // Both outcomes occur: the old text until the publishing store, the new one after it.
    expect(new Set(seen)).toEqual(new Set([OLD, NEW]));
  });

  it("write-backs alternate slots: the second goes back to the first slot", () => {
    const mem = new Int32Array(HEADER + 2 * TEXT);
    mem[2] = stateOf(0, TEXT);
    const direct = {
      load: (a: Int32Array, i: number) => a[i]!,
      store: (a: Int32Array, i: number, v: number) => (a[i] = v),
    };
    const ctx = { atomics: direct } as unknown as ThreadContext;
    shipped(ctx, mem, NEW);
    expect(slotOf(mem[2]!)).toBe(1);
    shipped(ctx, mem, 11);
    expect(slotOf(mem[2]!)).toBe(0);
    expect(read(ctx, mem)).toEqual([11, 11, 11]);
  });
});

describe("raw JSON slots mutants: these model tests can fail", () => {
  it("the pre-fix write (text over the published slot, then the length): a torn text is visible", () => {
    const inPlace: Write = (ctx, mem, value) => {
      const slot = slotOf(publishedState(ctx.atomics, mem));
      for (let k = 0; k < TEXT; k++) ctx.atomics.store(mem, HEADER + slot * TEXT + k, value);
      ctx.atomics.store(mem, 2, stateOf(slot, TEXT));
    };
    const report = explore(program(inPlace, [NEW]));
    expect(report.failure?.kind).toBe("thread-error");
    expect(report.failure?.message).toMatch(/torn text/);
  });

  it("publishing before copying: a torn (or stale) text is visible", () => {
    const early: Write = (ctx, mem, value) => {
      const slot = 1 - slotOf(publishedState(ctx.atomics, mem));
      ctx.atomics.store(mem, 2, stateOf(slot, TEXT));
      for (let k = 0; k < TEXT; k++) ctx.atomics.store(mem, HEADER + slot * TEXT + k, value);
    };
    const report = explore(program(early, [NEW]));
    expect(report.failure?.kind).toBe("thread-error");
  });
});
