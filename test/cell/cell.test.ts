import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Cell } from "../../src/index.js";

const STRESS = Math.max(1, Number(process.env.LOCKBOX_STRESS ?? 1) || 1);

describe("Cell", () => {
  it("get returns what set stored", () => {
    const cell = new Cell(1);
    expect(cell.get()).toBe(1);
    cell.set(2);
    expect(cell.get()).toBe(2);
  });

  it("get returns the stored object itself, not a copy", () => {
    const inner = { n: 1 };
    const cell = new Cell(inner);
    expect(cell.get()).toBe(inner);
  });

  it("replace stores the new value and returns the old one", () => {
    const cell = new Cell("a");
    expect(cell.replace("b")).toBe("a");
    expect(cell.replace("c")).toBe("b");
    expect(cell.get()).toBe("c");
  });

  it("update stores fn(current) and returns the new value", () => {
    const cell = new Cell(3);
    const seen: number[] = [];
    expect(
      cell.update((n) => {
        seen.push(n);
        return n * 2;
      }),
    ).toBe(6);
    expect(seen).toEqual([3]);
    expect(cell.get()).toBe(6);
  });

  it("update keeps the old value when fn throws", () => {
    const cell = new Cell(3);
    expect(() =>
      cell.update(() => {
        throw new Error("boom");
      }),
    ).toThrow("boom");
    expect(cell.get()).toBe(3);
  });

  it("update's result wins over a re-entrant set from inside fn", () => {
    const cell = new Cell(1);
    const result = cell.update((n) => {
      cell.set(100);
      return n + 1;
    });
    expect(result).toBe(2);
    expect(cell.get()).toBe(2);
  });

  it("update rejects a non-function with a TypeError naming `fn`", () => {
    const cell = new Cell(1);
    expect(() => cell.update(42 as never)).toThrow(TypeError);
    expect(() => cell.update(42 as never)).toThrow("Expected `fn` to be a function, got 42");
    expect(cell.get()).toBe(1);
  });

  it("swap exchanges the values of two cells", () => {
    const a = new Cell([1]);
    const b = new Cell([2]);
    const [va, vb] = [a.get(), b.get()];
    a.swap(b);
    expect(a.get()).toBe(vb);
    expect(b.get()).toBe(va);
  });

  it("swap with itself does nothing", () => {
    const a = new Cell("x");
    a.swap(a);
    expect(a.get()).toBe("x");
  });

  it("swap rejects anything but a Cell with a TypeError naming `other`", () => {
    const a = new Cell(1);
    expect(() => a.swap({ get: () => 2 } as never)).toThrow("Expected `other` to be a Cell, got an object");
    expect(() => a.swap(null as never)).toThrow(TypeError);
    expect(() => a.swap(undefined as never)).toThrow("got undefined");
    expect(a.get()).toBe(1);
  });

  it("matches a plain variable under random operation sequences", () => {
    type Op =
      | { kind: "set"; v: number }
      | { kind: "replace"; v: number }
      | { kind: "update"; d: number }
      | { kind: "swap" };
    const op = fc.oneof(
      fc.record({ kind: fc.constant("set" as const), v: fc.integer() }),
      fc.record({ kind: fc.constant("replace" as const), v: fc.integer() }),
      fc.record({ kind: fc.constant("update" as const), d: fc.integer({ min: -5, max: 5 }) }),
      fc.record({ kind: fc.constant("swap" as const) }),
    );
    fc.assert(
      fc.property(fc.integer(), fc.integer(), fc.array(op as fc.Arbitrary<Op>, { maxLength: 40 }), (x, y, ops) => {
        const a = new Cell(x);
        const b = new Cell(y);
        let ma = x;
        let mb = y;
        for (const o of ops) {
          switch (o.kind) {
            case "set":
              a.set(o.v);
              ma = o.v;
              break;
            case "replace":
              expect(a.replace(o.v)).toBe(ma);
              ma = o.v;
              break;
            case "update":
              ma += o.d;
              expect(a.update((n) => n + o.d)).toBe(ma);
              break;
            case "swap":
              a.swap(b);
              [ma, mb] = [mb, ma];
              break;
          }
          expect(a.get()).toBe(ma);
          expect(b.get()).toBe(mb);
        }
      }),
      { numRuns: 100 * STRESS },
    );
  });
});
