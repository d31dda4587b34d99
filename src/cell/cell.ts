import { markNotSend } from "../internal/not-send.js";
import { nameFor, observer } from "../internal/observer.js";
import { checkFunction, checkOptionsObject, describe } from "../internal/validate.js";
import { interiorMutable, type NameOptions } from "../types.js";

/**
 * A mutable slot that is changed by swapping whole values in and out (Rust's `std::cell::Cell<T>`).
 * There are no guards and no borrows: `get()` reads the current value, `set()` / `replace()` /
 * `update()` / `swap()` put a new one in. Because it is interior-mutable, a `Cell` seen through a
 * {@link DeepReadonly} view (a `Ref`, a read guard, an `Arc`) can still be set.
 *
 * Unlike Rust, `get()` does not copy: for an object `T` it returns the object itself, and mutating that
 * object changes what the cell holds. Use `Cell` for values you replace (numbers, strings, immutable
 * records); use {@link RefCell} when you need to mutate a value in place with borrow checking.
 *
 * @example
 * ```ts
 * const hits = new Cell(0);
 * hits.update((n) => n + 1); // 1
 * const previous = hits.replace(10); // 1
 * console.log(hits.get()); // 10
 * ```
 *
 * **Fairness**: not applicable (nothing ever waits).
 *
 * **Cancel safety**: not applicable (every method is synchronous).
 */
export class Cell<T> {
  declare readonly [interiorMutable]: true;
  #value: T;
  readonly #name: string;

  /** @param value - the initial value. */
  constructor(value: T, options?: NameOptions) {
    markNotSend(this);
    checkOptionsObject("options", options);
    this.#name = nameFor("Cell", options);
    this.#value = value;
  }

  /** The name given to the constructor, or `Cell#n` (the n-th Cell created). */
  get name(): string {
    return this.#name;
  }

  /**
   * Returns the current value (the value itself, not a copy).
   *
   * @example
   * ```ts
   * new Cell("a").get(); // "a"
   * ```
   */
  get(): T {
    if (observer !== undefined) observer.sync(this, "get");
    return this.#value;
  }

  /**
   * Replaces the value, dropping the old one.
   *
   * @example
   * ```ts
   * const flag = new Cell(false);
   * flag.set(true);
   * ```
   */
  set(value: T): void {
    if (observer !== undefined) observer.sync(this, "set");
    this.#value = value;
  }

  /**
   * Puts `value` in and returns the value it replaced.
   *
   * @example
   * ```ts
   * const slot = new Cell(1);
   * slot.replace(2); // 1
   * ```
   */
  replace(value: T): T {
    if (observer !== undefined) observer.sync(this, "replace");
    const previous = this.#value;
    this.#value = value;
    return previous;
  }

  /**
   * Stores `fn(current)` and returns it (the new value).
   *
   * `fn` runs before anything is stored, so if it throws the cell keeps its old value. If `fn` itself
   * sets this cell, that write is overwritten by `fn`'s result (as in Rust, where `update` is
   * `set(f(get()))`).
   *
   * @example
   * ```ts
   * const count = new Cell(1);
   * count.update((n) => n * 10); // 10
   * ```
   *
   * **Throws**: `TypeError` when `fn` is not a function; whatever `fn` throws.
   */
  update(fn: (value: T) => T): T {
    checkFunction("fn", fn);
    if (observer !== undefined) observer.sync(this, "update");
    const next = fn(this.#value);
    this.#value = next;
    return next;
  }

  /**
   * Exchanges the values of this cell and `other`. Swapping a cell with itself does nothing.
   *
   * @example
   * ```ts
   * const a = new Cell(1);
   * const b = new Cell(2);
   * a.swap(b); // a holds 2, b holds 1
   * ```
   *
   * **Throws**: `TypeError` when `other` is not a `Cell`.
   */
  swap(other: Cell<T>): void {
    if (typeof other !== "object" || other === null || !(#value in other)) {
      throw new TypeError(`Expected \`other\` to be a Cell, got ${describe(other)}`);
    }
    if (observer !== undefined) observer.sync(this, "swap");
    const mine = this.#value;
    this.#value = other.#value;
    other.#value = mine;
  }
}
