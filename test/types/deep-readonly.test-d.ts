import { describe, expectTypeOf, it } from "vitest";
import {
  Arc,
  type Barrier,
  Cell,
  type Condvar,
  type DeepReadonly,
  type KeyedMutex,
  Mutex,
  type Notify,
  type OnceCell,
  RefCell,
  RwLock,
  type Semaphore,
} from "../../src/index.js";
import type { AtomicI32 } from "../../src/threads/index.js";

/** A value of type `T` for type-level tests (never executed: test-d files are only type-checked). */
declare function any<T>(): T;

describe("DeepReadonly: plain data becomes read-only all the way down", () => {
  it("maps arrays, tuples, maps, sets and nested objects to their read-only forms", () => {
    type State = {
      list: number[];
      pair: [number, string[]];
      byName: Map<string, { hits: number[] }>;
      tags: Set<string[]>;
      nested: { deeper: { name: string } };
      maybe?: number[];
    };
    expectTypeOf<DeepReadonly<State>>().toEqualTypeOf<{
      readonly list: readonly number[];
      readonly pair: readonly [number, readonly string[]];
      readonly byName: ReadonlyMap<string, { readonly hits: readonly number[] }>;
      readonly tags: ReadonlySet<readonly string[]>;
      readonly nested: { readonly deeper: { readonly name: string } };
      readonly maybe?: readonly number[];
    }>();

    const view = any<DeepReadonly<State>>();
    // @ts-expect-error: ReadonlyArray has no push
    view.list.push(1);
    // @ts-expect-error: read-only index
    view.list[0] = 1;
    // @ts-expect-error: read-only tuple element
    view.pair[0] = 2;
    // @ts-expect-error: the array inside the tuple is read-only too
    view.pair[1].push("x");
    // @ts-expect-error: ReadonlyMap has no set
    view.byName.set("a", { hits: [] });
    // @ts-expect-error: the map's values are read-only too
    view.byName.get("a")?.hits.push(1);
    // @ts-expect-error: ReadonlySet has no add
    view.tags.add([]);
    // @ts-expect-error: read-only property, two levels down
    view.nested.deeper.name = "x";
    // @ts-expect-error: read-only property
    view.nested = { deeper: { name: "x" } };
    // @ts-expect-error: optional arrays too
    view.maybe?.push(1);

    // Reading stays fine (a fresh view: the failed writes above narrow `view`).
    const read = any<DeepReadonly<State>>();
    expectTypeOf(read.list[0]).toEqualTypeOf<number | undefined>();
    expectTypeOf(read.byName.get("a")?.hits.length).toEqualTypeOf<number | undefined>();
  });

  it("leaves primitives and functions alone, maps promises, distributes over unions", () => {
    expectTypeOf<DeepReadonly<number>>().toEqualTypeOf<number>();
    expectTypeOf<DeepReadonly<"a" | 1n | null | undefined>>().toEqualTypeOf<"a" | 1n | null | undefined>();
    type Fn = (items: number[]) => void;
    expectTypeOf<DeepReadonly<Fn>>().toEqualTypeOf<Fn>();
    expectTypeOf<DeepReadonly<Promise<number[]>>>().toEqualTypeOf<Promise<readonly number[]>>();
    expectTypeOf<DeepReadonly<number[] | null>>().toEqualTypeOf<readonly number[] | null>();
  });

  it("regression: DeepReadonly<unknown> stays unknown (it was {}, which dropped null and undefined)", () => {
    expectTypeOf<DeepReadonly<unknown>>().toEqualTypeOf<unknown>();
    // biome-ignore lint/suspicious/noExplicitAny: `any` is the case under test
    expectTypeOf<DeepReadonly<any>>().toEqualTypeOf<any>();
    // biome-ignore lint/complexity/noBannedTypes: `{}` is the case under test
    expectTypeOf<DeepReadonly<{}>>().toEqualTypeOf<{}>();
    const arc = new Arc<unknown>(null);
    const value: unknown = arc.value;
    expectTypeOf(arc.value).toEqualTypeOf<unknown>();
    expectTypeOf(value).toEqualTypeOf<unknown>();
  });
});

describe("DeepReadonly stops at interior-mutable types", () => {
  it("keeps every lockbox primitive exactly as it is", () => {
    expectTypeOf<DeepReadonly<Mutex<number[]>>>().toEqualTypeOf<Mutex<number[]>>();
    expectTypeOf<DeepReadonly<RwLock<number[]>>>().toEqualTypeOf<RwLock<number[]>>();
    expectTypeOf<DeepReadonly<Semaphore>>().toEqualTypeOf<Semaphore>();
    expectTypeOf<DeepReadonly<Cell<number[]>>>().toEqualTypeOf<Cell<number[]>>();
    expectTypeOf<DeepReadonly<RefCell<number[]>>>().toEqualTypeOf<RefCell<number[]>>();
    expectTypeOf<DeepReadonly<Notify>>().toEqualTypeOf<Notify>();
    expectTypeOf<DeepReadonly<Condvar>>().toEqualTypeOf<Condvar>();
    expectTypeOf<DeepReadonly<Barrier>>().toEqualTypeOf<Barrier>();
    expectTypeOf<DeepReadonly<OnceCell<number[]>>>().toEqualTypeOf<OnceCell<number[]>>();
    expectTypeOf<DeepReadonly<KeyedMutex<string>>>().toEqualTypeOf<KeyedMutex<string>>();
    expectTypeOf<DeepReadonly<AtomicI32>>().toEqualTypeOf<AtomicI32>();
  });

  it("through a read-only view, the primitives' mutating methods stay callable while plain data is frozen", () => {
    type Shared = {
      mutex: Mutex<number[]>;
      rw: RwLock<{ n: number }>;
      permits: Semaphore;
      counter: Cell<number>;
      cache: RefCell<Map<string, number>>;
      once: OnceCell<string>;
      arc: Arc<number[]>;
      plain: { list: number[] };
      mutexes: Mutex<number>[];
    };
    const view = any<DeepReadonly<Shared>>();

    expectTypeOf(view.mutex.lock()).resolves.toHaveProperty("value").toEqualTypeOf<number[]>();
    expectTypeOf(view.mutex.tryLock).returns.toEqualTypeOf<ReturnType<Mutex<number[]>["tryLock"]>>();
    expectTypeOf(view.rw.write).toBeFunction();
    expectTypeOf(view.rw.write()).resolves.toHaveProperty("value").toEqualTypeOf<{ n: number }>();
    expectTypeOf(view.permits.acquire).toBeCallableWith(2);
    view.permits.addPermits(1);
    view.counter.set(1);
    expectTypeOf(view.counter.update((n) => n + 1)).toEqualTypeOf<number>();
    expectTypeOf(view.cache.borrowMut().value).toEqualTypeOf<Map<string, number>>();
    view.cache.borrowMut().value.set("a", 1);
    expectTypeOf(view.once.set).toBeCallableWith("x");
    // An Arc is not interior-mutable: like Rust's &Arc<T>, a view can clone and downgrade it...
    expectTypeOf(view.arc.clone()).toEqualTypeOf<Arc<number[]>>();
    expectTypeOf(view.arc.downgrade().upgrade()).toEqualTypeOf<Arc<number[]> | undefined>();
    expectTypeOf(view.arc.value).toEqualTypeOf<readonly number[]>();
    view.mutexes[0]?.tryLock();

    // @ts-expect-error: the primitive itself cannot be replaced through the view
    view.counter = new Cell(1);
    // @ts-expect-error: plain data next to the primitives is read-only
    view.plain.list.push(1);
    // @ts-expect-error: the array of mutexes is read-only, its elements are not
    view.mutexes.push(new Mutex(1));
    // @ts-expect-error: an Arc's value stays read-only even inside a view
    view.arc.value.push(1);
    // @ts-expect-error: ...but not take mutable access, which needs an owned handle (Arc::get_mut)
    Arc.getMut(view.arc);
    // @ts-expect-error: ...nor move the value out (Arc::try_unwrap)
    Arc.tryUnwrap(view.arc);
  });

  it("a read guard or Ref over a struct with a primitive inside lets the primitive work", async () => {
    const lock = new RwLock({ hits: new Cell(0), log: [] as string[] });
    const guard = await lock.read();
    guard.value.hits.update((n) => n + 1);
    // @ts-expect-error: the plain array beside it is read-only
    guard.value.log.push("x");

    const cell = new RefCell({ inner: new Mutex([1]), names: ["a"] });
    const ref = cell.borrow();
    const inner = await ref.value.inner.lock();
    inner.value.push(2);
    // @ts-expect-error: read-only through the Ref
    ref.value.names.push("b");

    const shared = new Arc(new Mutex({ n: 1 }));
    const held = await shared.value.lock();
    held.value.n += 1;
    expectTypeOf(held.value).toEqualTypeOf<{ n: number }>();
  });
});
