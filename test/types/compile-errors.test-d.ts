/**
 * The seed's compile errors: what Rust rejects at compile time (E0596 "cannot borrow as mutable",
 * E0594 "cannot assign", E0308 "mismatched types", an unchecked `Option`) TypeScript rejects here too.
 * Each `@ts-expect-error` sits next to the line that does compile, so a directive cannot pass for a
 * typo: tsc reports an unused directive when the line below it compiles.
 */
import { describe, it } from "vitest";
import { Arc, Mutex, RefCell, RwLock } from "../../src/index.js";

describe("compile errors (the TypeScript side of Rust's borrow checker)", () => {
  it("pushing through an Arc<number[]> (E0596)", () => {
    const arc = new Arc([1, 2]);
    arc.value.length;
    // @ts-expect-error: Arc gives no mutable access
    arc.value.push(3);
    // @ts-expect-error: nor index assignment
    arc.value[0] = 3;
    // @ts-expect-error: nor replacing the value
    arc.value = [3];
    // The way through: sole ownership (Arc::get_mut) or an interior-mutable value.
    Arc.getMut(arc)?.push(3);
  });

  it("mutating through a Ref (E0596)", () => {
    const cell = new RefCell({ count: 0, items: [1] });
    const ref = cell.borrow();
    ref.value.count.toFixed();
    // @ts-expect-error: a Ref is a shared borrow
    ref.value.count = 1;
    // @ts-expect-error: all the way down
    ref.value.items.push(2);
    ref.release();
    const mut = cell.borrowMut();
    mut.value.count = 1;
    mut.value.items.push(2);
    mut.release();
  });

  it("replacing a Ref's value (E0594)", () => {
    const cell = new RefCell([1]);
    const ref = cell.borrow();
    // @ts-expect-error: `value` of a Ref has no setter
    ref.value = [2];
    ref.release();
    const mut = cell.borrowMut();
    mut.value = [2];
    mut.release();
  });

  it("assigning the wrong type through a MutexGuard or a RefMut (E0308)", async () => {
    const guard = await new Mutex(1).lock();
    guard.value = 2;
    // @ts-expect-error: number expected
    guard.value = "2";
    guard.release();
    const mut = new RefCell({ name: "a" }).borrowMut();
    mut.value = { name: "b" };
    // @ts-expect-error: wrong shape
    mut.value = { label: "b" };
    // @ts-expect-error: wrong property type
    mut.value.name = 1;
    mut.release();
  });

  it("using tryLock()'s result without checking it (an unchecked Option)", () => {
    const mutex = new Mutex([1]);
    // @ts-expect-error: tryLock() may return undefined
    mutex.tryLock().value.push(2);
    const guard = mutex.tryLock();
    if (guard !== undefined) {
      guard.value.push(2);
      guard.release();
    }
    // The same for every try-variant and for Weak::upgrade / Arc::get_mut.
    const cell = new RefCell(1);
    // @ts-expect-error: tryBorrow() may return undefined
    cell.tryBorrow().value;
    // @ts-expect-error: tryBorrowMut() may return undefined
    cell.tryBorrowMut().value = 2;
    const arc = new Arc([1]);
    // @ts-expect-error: upgrade() may return undefined
    arc.downgrade().upgrade().value;
    // @ts-expect-error: getMut() may return undefined
    Arc.getMut(arc).push(2);
    const lock = new RwLock([1]);
    // @ts-expect-error: tryRead() may return undefined
    lock.tryRead().value;
    // @ts-expect-error: tryWrite() may return undefined
    lock.tryWrite().value.push(1);
  });

  it("mutating through an RwLock read guard (E0596)", async () => {
    const lock = new RwLock({ items: [1], n: 0 });
    const read = await lock.read();
    read.value.items.length;
    // @ts-expect-error: a read guard is shared
    read.value.items.push(2);
    // @ts-expect-error: nor property assignment
    read.value.n = 1;
    // @ts-expect-error: nor replacing the value
    read.value = { items: [], n: 0 };
    read.release();
  });

  it("mutating through a downgraded guard (E0596)", async () => {
    const lock = new RwLock({ items: [1] });
    const write = await lock.write();
    write.value.items.push(2);
    const read = write.downgrade();
    // @ts-expect-error: the downgraded guard is a read guard
    read.value.items.push(3);
    // @ts-expect-error: nor replacing the value
    read.value = { items: [] };
    read.release();
  });

  it("mutating through an upgradable read guard before upgrade() (E0596)", async () => {
    const lock = new RwLock({ items: [1] });
    const upgradable = await lock.upgradableRead();
    // @ts-expect-error: shared until upgraded
    upgradable.value.items.push(2);
    // @ts-expect-error: nor replacing the value
    upgradable.value = { items: [] };
    const write = await upgradable.upgrade();
    write.value.items.push(2);
    const back = write.downgrade();
    // @ts-expect-error: read-only again once downgraded
    back.value.items.push(3);
    back.release();
  });
});
