import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  BorrowError,
  BorrowMutError,
  LockboxError,
  Ref,
  RefCell,
  RefMut,
  UseAfterReleaseError,
} from "../../src/index.js";
import type { GUARD_TOKEN } from "../../src/internal/symbols.js";
import { assertPending, assertReady, assertRejected } from "../helpers/poll.js";

const STRESS = Math.max(1, Number(process.env.LOCKBOX_STRESS ?? 1) || 1);

const thisFile = fileURLToPath(import.meta.url);
const sourceLines = readFileSync(thisFile, "utf8").split("\n");

/** 1-based line of the only source line matching `pattern` (fails the test if not exactly one). */
function lineOf(pattern: RegExp): number {
  const hits = sourceLines.flatMap((line, index) => (pattern.test(line) ? [index + 1] : []));
  expect(hits).toHaveLength(1);
  return hits[0]!;
}

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected a throw");
}

describe("RefCell", () => {
  it("allows many Refs at once and reports reading", () => {
    const cell = new RefCell({ n: 1 });
    expect(cell.borrowState).toBe("unused");
    const a = cell.borrow();
    const b = cell.borrow();
    expect(cell.borrowState).toBe("reading");
    expect(a.value.n + b.value.n).toBe(2);
    a.release();
    expect(cell.borrowState).toBe("reading");
    b.release();
    expect(cell.borrowState).toBe("unused");
  });

  it("allows one RefMut, through which the value is read, mutated and replaced", () => {
    const cell = new RefCell([1]);
    const m = cell.borrowMut();
    expect(cell.borrowState).toBe("writing");
    m.value.push(2);
    expect(m.value).toEqual([1, 2]);
    m.value = [7];
    m.release();
    expect(cell.borrowState).toBe("unused");
    const r = cell.borrow();
    expect(r.value).toEqual([7]);
    r.release();
  });

  it("borrow() while a RefMut is live throws BorrowError", () => {
    const cell = new RefCell(0);
    const m = cell.borrowMut();
    const error = thrown(() => cell.borrow());
    expect(error).toBeInstanceOf(BorrowError);
    expect(error).toBeInstanceOf(LockboxError);
    expect(error.name).toBe("BorrowError");
    expect(error.message).toContain("mutably borrowed");
    expect(cell.borrowState).toBe("writing");
    m.release();
    cell.borrow().release();
  });

  it("borrowMut() while a Ref is live throws BorrowMutError", () => {
    const cell = new RefCell(0);
    const r = cell.borrow();
    const error = thrown(() => cell.borrowMut());
    expect(error).toBeInstanceOf(BorrowMutError);
    expect(error.name).toBe("BorrowMutError");
    expect(error.message).toContain("1 live Ref");
    expect(cell.borrowState).toBe("reading");
    r.release();
    cell.borrowMut().release();
  });

  it("borrowMut() while a RefMut is live throws BorrowMutError", () => {
    const cell = new RefCell(0);
    const m = cell.borrowMut();
    expect(() => cell.borrowMut()).toThrow(BorrowMutError);
    expect(() => cell.borrowMut()).toThrow("a live RefMut");
    m.release();
  });

  it("tryBorrow / tryBorrowMut return undefined instead of throwing", () => {
    const cell = new RefCell("v");
    const m = cell.tryBorrowMut()!;
    expect(m).toBeInstanceOf(RefMut);
    expect(cell.tryBorrow()).toBeUndefined();
    expect(cell.tryBorrowMut()).toBeUndefined();
    m.release();
    const r = cell.tryBorrow()!;
    expect(r).toBeInstanceOf(Ref);
    expect(r.value).toBe("v");
    expect(cell.tryBorrowMut()).toBeUndefined();
    const r2 = cell.tryBorrow()!;
    expect(cell.borrowState).toBe("reading");
    r.release();
    r2.release();
    expect(cell.tryBorrowMut()).toBeInstanceOf(RefMut);
  });

  it("replace swaps the value when unborrowed and throws BorrowMutError while borrowed", () => {
    const cell = new RefCell(1);
    expect(cell.replace(2)).toBe(1);
    const r = cell.borrow();
    expect(() => cell.replace(3)).toThrow(BorrowMutError);
    r.release();
    const m = cell.borrowMut();
    expect(() => cell.replace(3)).toThrow(BorrowMutError);
    expect(m.value).toBe(2);
    m.release();
    expect(cell.replace(4)).toBe(2);
  });

  it("release is idempotent and value throws UseAfterReleaseError afterwards", () => {
    const cell = new RefCell({ n: 1 });
    const r = cell.borrow();
    expect(r.released).toBe(false);
    r.release();
    r.release();
    expect(r.released).toBe(true);
    expect(() => r.value).toThrow(UseAfterReleaseError);
    expect(() => r.value).toThrow("Cannot read `value` of a Ref after release()");
    const m = cell.borrowMut();
    m.release();
    m.release();
    expect(m.released).toBe(true);
    expect(() => m.value).toThrow(UseAfterReleaseError);
    expect(() => {
      m.value = { n: 2 };
    }).toThrow("Cannot write `value` of a RefMut after release()");
    expect(cell.borrow().value).toEqual({ n: 1 });
  });

  it("regression: a double release of a Ref does not end another Ref's borrow", () => {
    const cell = new RefCell(0);
    const first = cell.borrow();
    const second = cell.borrow();
    first.release();
    first.release();
    first[Symbol.dispose]();
    expect(cell.borrowState).toBe("reading");
    expect(() => cell.borrowMut()).toThrow(BorrowMutError);
    second.release();
    expect(cell.borrowState).toBe("unused");
  });

  it("regression: a double release of a RefMut does not end a later borrow", () => {
    const cell = new RefCell(0);
    const m = cell.borrowMut();
    m.release();
    const r = cell.borrow();
    m.release();
    expect(cell.borrowState).toBe("reading");
    expect(() => cell.borrowMut()).toThrow(BorrowMutError);
    r.release();
  });

  it("using releases at the end of the block", () => {
    const cell = new RefCell([0]);
    {
      using m = cell.borrowMut();
      m.value.push(1);
      expect(cell.borrowState).toBe("writing");
    }
    expect(cell.borrowState).toBe("unused");
    {
      using r = cell.borrow();
      expect(r.value).toEqual([0, 1]);
    }
    expect(cell.borrowState).toBe("unused");
  });

  it("borrows cannot be forged from outside", () => {
    const cell = new RefCell(0);
    expect(() => new Ref(Symbol("fake") as typeof GUARD_TOKEN, cell, undefined)).toThrow(TypeError);
    expect(() => new RefMut(Symbol("fake") as typeof GUARD_TOKEN, cell, undefined)).toThrow(
      "RefMut cannot be constructed directly",
    );
    expect(() => new (Ref as unknown as new () => unknown)()).toThrow(TypeError);
    expect(cell.borrowState).toBe("unused");
  });

  it("rejects bad options with a TypeError naming the argument", () => {
    expect(() => new RefCell(0, 5 as never)).toThrow("Expected `options` to be an object or undefined, got 5");
    expect(() => new RefCell(0, { track: "yes" as never })).toThrow(
      'Expected `track` to be a boolean or undefined, got "yes"',
    );
    expect(() => new RefCell(0, { track: "yes" as never })).toThrow(TypeError);
  });

  it("without tracking, the error says how to turn it on", () => {
    const cell = new RefCell(0);
    const r = cell.borrow();
    expect(() => cell.borrowMut()).toThrow("{ track: true }");
    r.release();
  });

  it("a Ref held across an await makes another task's borrowMut() throw, naming the Ref's file and line", async () => {
    const cell = new RefCell({ items: [1, 2] }, { track: true });
    let resume!: () => void;
    const gate = new Promise<void>((resolve) => {
      resume = resolve;
    });

    async function sumTask(): Promise<number> {
      const held = cell.borrow();
      await gate; // the mistake: the Ref stays live while this task is suspended
      const sum = held.value.items.reduce((a, b) => a + b, 0);
      held.release();
      return sum;
    }
    async function appendTask(): Promise<void> {
      await Promise.resolve();
      using items = cell.borrowMut();
      items.value.items.push(3);
    }

    const sum = sumTask();
    const append = appendTask();
    const error = (await assertRejected(append)) as Error;
    expect(error).toBeInstanceOf(BorrowMutError);
    const line = lineOf(/^\s*const held = cell\.borrow\(\);/);
    expect(error.message).toContain(`${basename(thisFile)}:${line}:`);
    expect(error.message).toContain("The conflicting Ref was taken at:");
    // lockbox's own frames are cut off: the first frame shown is the caller's.
    const firstFrame = error.message.split("taken at:\n")[1]!.split("\n")[0]!;
    expect(firstFrame).toContain(`${basename(thisFile)}:${line}:`);

    await assertPending(sum);
    resume();
    expect(await assertReady(sum)).toBe(3);
    expect(cell.borrowState).toBe("unused");
  });

  it("with tracking, BorrowError names where the live RefMut was taken", () => {
    const cell = new RefCell(0, { track: true });
    const writer = cell.borrowMut();
    const line = lineOf(/^\s*const writer = cell\.borrowMut\(\);/);
    const error = thrown(() => cell.borrow());
    expect(error).toBeInstanceOf(BorrowError);
    expect(error.message).toContain("The conflicting RefMut was taken at:");
    expect(error.message).toContain(`${basename(thisFile)}:${line}:`);
    writer.release();
  });

  it("with tracking, a released borrow is no longer named, and long lists are cut short", () => {
    const cell = new RefCell(0, { track: true });
    const refs = Array.from({ length: 5 }, () => cell.borrow());
    const message = thrown(() => cell.borrowMut()).message;
    expect(message).toContain("5 live Refs");
    expect(message.split("The conflicting Ref was taken at:")).toHaveLength(3 + 1);
    expect(message).toContain("…and 2 more");
    for (const ref of refs.slice(0, 4)) ref.release();
    const after = thrown(() => cell.borrowMut()).message;
    expect(after).toContain("1 live Ref)");
    expect(after.split("The conflicting Ref was taken at:")).toHaveLength(2);
    expect(after).not.toContain("more");
    refs[4]!.release();
    cell.borrowMut().release();
  });

  it("a tryBorrow's site is tracked too", () => {
    const cell = new RefCell(0, { track: true });
    const tried = cell.tryBorrow()!;
    const line = lineOf(/^\s*const tried = cell\.tryBorrow\(\)!;/);
    expect(() => cell.borrowMut()).toThrow(`${basename(thisFile)}:${line}:`);
    tried.release();
  });

  it("matches a borrow-counting model under random operation sequences", () => {
    type Op =
      | { kind: "borrow" | "borrowMut" | "tryBorrow" | "tryBorrowMut" | "replace" }
      | { kind: "release"; index: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.constantFrom("borrow", "borrowMut", "tryBorrow", "tryBorrowMut", "replace").map((kind) => ({ kind })),
      fc.nat({ max: 20 }).map((index) => ({ kind: "release" as const, index })),
    );
    fc.assert(
      fc.property(fc.boolean(), fc.array(op, { maxLength: 60 }), (track, ops) => {
        const cell = new RefCell(0, { track });
        // Every borrow ever taken (released ones stay, so releases can repeat) and the model's view.
        const taken: { guard: Ref<number> | RefMut<number>; mutable: boolean; live: boolean }[] = [];
        let value = 0;
        let writes = 0;
        const liveReaders = () => taken.filter((t) => t.live && !t.mutable).length;
        const liveWriter = () => taken.some((t) => t.live && t.mutable);
        for (const o of ops) {
          const readers = liveReaders();
          const writing = liveWriter();
          switch (o.kind) {
            case "borrow":
            case "tryBorrow": {
              if (writing) {
                if (o.kind === "borrow") expect(() => cell.borrow()).toThrow(BorrowError);
                else expect(cell.tryBorrow()).toBeUndefined();
              } else {
                const guard = o.kind === "borrow" ? cell.borrow() : cell.tryBorrow()!;
                expect(guard.value).toBe(value);
                taken.push({ guard, mutable: false, live: true });
              }
              break;
            }
            case "borrowMut":
            case "tryBorrowMut": {
              if (writing || readers > 0) {
                if (o.kind === "borrowMut") expect(() => cell.borrowMut()).toThrow(BorrowMutError);
                else expect(cell.tryBorrowMut()).toBeUndefined();
              } else {
                const guard = o.kind === "borrowMut" ? cell.borrowMut() : cell.tryBorrowMut()!;
                expect(guard.value).toBe(value);
                guard.value = value = ++writes;
                taken.push({ guard, mutable: true, live: true });
              }
              break;
            }
            case "replace": {
              if (writing || readers > 0) {
                expect(() => cell.replace(-1)).toThrow(BorrowMutError);
              } else {
                const previous = value;
                value = ++writes;
                expect(cell.replace(value)).toBe(previous);
              }
              break;
            }
            case "release": {
              const entry = taken[o.index];
              if (entry !== undefined) {
                entry.guard.release();
                entry.live = false;
              }
              break;
            }
          }
          const state = liveWriter() ? "writing" : liveReaders() > 0 ? "reading" : "unused";
          expect(cell.borrowState).toBe(state);
          for (const t of taken) expect(t.guard.released).toBe(!t.live);
        }
        for (const t of taken) t.guard.release();
        expect(cell.borrowState).toBe("unused");
      }),
      { numRuns: 200 * STRESS },
    );
  });

  it("no interleaving of tasks that hold borrows across awaits ever shares a RefMut", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.array(fc.constantFrom("read", "write"), { minLength: 1, maxLength: 6 }),
        async (s, kinds) => {
          const cell = new RefCell(0);
          let liveWriters = 0;
          let liveReaders = 0;
          let writesDone = 0;
          const tasks = kinds.map(async (kind, i) => {
            await s.schedule(Promise.resolve(), `start ${i}`);
            try {
              if (kind === "write") {
                using m = cell.borrowMut();
                expect(liveWriters + liveReaders).toBe(0);
                liveWriters++;
                await s.schedule(Promise.resolve(), `hold ${i}`);
                m.value++;
                writesDone++;
                liveWriters--;
              } else {
                using r = cell.borrow();
                expect(liveWriters).toBe(0);
                liveReaders++;
                await s.schedule(Promise.resolve(), `hold ${i}`);
                expect(r.value).toBeGreaterThanOrEqual(0);
                liveReaders--;
              }
            } catch (error) {
              if (!(error instanceof BorrowError || error instanceof BorrowMutError)) throw error;
              expect(error.message).toContain("Cannot borrow RefCell");
            }
          });
          await s.waitFor(Promise.all(tasks));
          expect(cell.borrowState).toBe("unused");
          expect(cell.replace(0)).toBe(writesDone);
        },
      ),
      { numRuns: 100 * STRESS },
    );
  });
});
