import { describe, expectTypeOf, it } from "vitest";
import {
  Arc,
  type ArcDropResult,
  type BorrowState,
  Cell,
  type DeepReadonly,
  Rc,
  Ref,
  RefCell,
  RefMut,
  type Releasable,
  Weak,
} from "../../src/index.js";

declare function any<T>(): T;

describe("Cell types", () => {
  it("has the std::cell::Cell surface", () => {
    const cell = new Cell(1);
    expectTypeOf(cell).toEqualTypeOf<Cell<number>>();
    expectTypeOf(cell.get()).toEqualTypeOf<number>();
    expectTypeOf(cell.set(2)).toEqualTypeOf<void>();
    expectTypeOf(cell.replace(3)).toEqualTypeOf<number>();
    expectTypeOf(cell.update((n) => n + 1)).toEqualTypeOf<number>();
    expectTypeOf(cell.swap).parameter(0).toEqualTypeOf<Cell<number>>();
    // @ts-expect-error: wrong value type
    cell.set("x");
    // @ts-expect-error: update must return the same type
    cell.update((n) => String(n));
    // @ts-expect-error: swap needs a Cell of the same type
    cell.swap(new Cell("x"));
  });
});

describe("RefCell types", () => {
  it("borrow gives a read-only Ref, borrowMut a read-write RefMut", () => {
    const cell = new RefCell({ list: [1] });
    expectTypeOf(cell.borrow()).toEqualTypeOf<Ref<{ list: number[] }>>();
    expectTypeOf(cell.borrow().value).toEqualTypeOf<DeepReadonly<{ list: number[] }>>();
    expectTypeOf(cell.borrow().value.list).toEqualTypeOf<readonly number[]>();
    expectTypeOf(cell.borrowMut()).toEqualTypeOf<RefMut<{ list: number[] }>>();
    expectTypeOf(cell.borrowMut().value).toEqualTypeOf<{ list: number[] }>();
    cell.borrowMut().value.list.push(2);
    cell.borrowMut().value = { list: [] };
  });

  it("try-variants may return undefined; replace returns the old value; borrowState is a union", () => {
    const cell = new RefCell("a");
    expectTypeOf(cell.tryBorrow()).toEqualTypeOf<Ref<string> | undefined>();
    expectTypeOf(cell.tryBorrowMut()).toEqualTypeOf<RefMut<string> | undefined>();
    expectTypeOf(cell.replace("b")).toEqualTypeOf<string>();
    expectTypeOf(cell.borrowState).toEqualTypeOf<BorrowState>();
    expectTypeOf<BorrowState>().toEqualTypeOf<"unused" | "reading" | "writing">();
    // @ts-expect-error: borrowState is read-only
    cell.borrowState = "unused";
  });

  it("Ref and RefMut are Releasable and Disposable", () => {
    expectTypeOf<Ref<number>>().toExtend<Releasable>();
    expectTypeOf<RefMut<number>>().toExtend<Releasable>();
    expectTypeOf<Ref<number>>().toExtend<Disposable>();
    expectTypeOf<Ref<number>["released"]>().toEqualTypeOf<boolean>();
  });

  it("borrows cannot be constructed without lockbox's private token", () => {
    const cell = new RefCell(1);
    // @ts-expect-error: the token type is not exported
    new Ref(Symbol("guard"), cell, undefined);
    // @ts-expect-error: the token type is not exported
    new RefMut(Symbol("guard"), cell, undefined);
  });

  it("options take track: boolean", () => {
    new RefCell(1, { track: true });
    // @ts-expect-error: track is a boolean
    new RefCell(1, { track: "yes" });
  });
});

describe("Arc / Weak types", () => {
  it("gives read-only access to the value and typed handles", () => {
    const arc = new Arc({ list: [1] });
    expectTypeOf(arc.value).toEqualTypeOf<DeepReadonly<{ list: number[] }>>();
    expectTypeOf(arc.clone()).toEqualTypeOf<Arc<{ list: number[] }>>();
    expectTypeOf(arc.downgrade()).toEqualTypeOf<Weak<{ list: number[] }>>();
    expectTypeOf(arc.downgrade().upgrade()).toEqualTypeOf<Arc<{ list: number[] }> | undefined>();
    expectTypeOf(arc.strongCount).toEqualTypeOf<number>();
    expectTypeOf(arc.weakCount).toEqualTypeOf<number>();
    expectTypeOf(Arc.getMut(arc)).toEqualTypeOf<{ list: number[] } | undefined>();
    expectTypeOf(Arc.tryUnwrap(arc)).toEqualTypeOf<{ list: number[] } | undefined>();
    expectTypeOf(Arc.ptrEq(arc, arc.clone())).toEqualTypeOf<boolean>();
    Arc.getMut(arc)?.list.push(2);
    // @ts-expect-error: ptrEq compares handles of the same type
    Arc.ptrEq(arc, new Arc("x"));
    // @ts-expect-error: strongCount is read-only
    arc.strongCount = 2;
  });

  it("drop() returns a promise exactly when the value may be AsyncDisposable", () => {
    class Res implements Disposable {
      [Symbol.dispose](): void {}
    }
    class AsyncRes implements AsyncDisposable {
      async [Symbol.asyncDispose](): Promise<void> {}
    }
    expectTypeOf(new Arc(1).drop()).toEqualTypeOf<undefined>();
    expectTypeOf(new Arc(new Res()).drop()).toEqualTypeOf<undefined>();
    expectTypeOf(new Arc(new AsyncRes()).drop()).toEqualTypeOf<Promise<void>>();
    expectTypeOf(any<Arc<Res | AsyncRes>>().drop()).toEqualTypeOf<Promise<void> | undefined>();
    expectTypeOf(any<Arc<unknown>>().drop()).toEqualTypeOf<Promise<void> | undefined>();
    expectTypeOf(any<Arc<object>>().drop()).toEqualTypeOf<Promise<void> | undefined>();
    // biome-ignore lint/suspicious/noExplicitAny: `any` is the case under test
    expectTypeOf<ArcDropResult<any>>().toEqualTypeOf<Promise<void> | undefined>();
    expectTypeOf(any<Arc<string[]>>().drop()).toEqualTypeOf<undefined>();
    expectTypeOf(any<Weak<AsyncRes>>().drop()).toEqualTypeOf<void>();
    expectTypeOf<Arc<AsyncRes>>().toExtend<AsyncDisposable>();
    expectTypeOf<Arc<Res>>().toExtend<Disposable>();
  });

  it("Rc is Arc, as a value and as a type", () => {
    expectTypeOf(Rc).toEqualTypeOf<typeof Arc>();
    expectTypeOf<Rc<number>>().toEqualTypeOf<Arc<number>>();
    expectTypeOf(new Rc("x")).toEqualTypeOf<Arc<string>>();
  });

  it("weak handles cannot be constructed from outside", () => {
    // @ts-expect-error: the token type is not exported
    new Weak(Symbol("guard"), { value: 1, strong: 1, weak: 0 });
  });
});
