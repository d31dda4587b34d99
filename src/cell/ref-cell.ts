import { BorrowError, BorrowMutError, UseAfterReleaseError } from "../errors.js";
import { Guard } from "../internal/guard.js";
import { markNotSend } from "../internal/not-send.js";
import { nameFor, observer } from "../internal/observer.js";
import { GUARD_TOKEN, type GuardToken } from "../internal/symbols.js";
import { checkOptionalBoolean, checkOptionsObject } from "../internal/validate.js";
import { type DeepReadonly, interiorMutable, type NameOptions } from "../types.js";

/** What a {@link RefCell} is doing right now: no borrow, one or more `Ref`s, or one `RefMut`. */
export type BorrowState = "unused" | "reading" | "writing";

/** Options of the {@link RefCell} constructor. */
export interface RefCellOptions extends NameOptions {
  /**
   * Record the stack of every live borrow (a stack capture per borrow, like `new Error().stack`), so
   * that a `BorrowError` / `BorrowMutError` names where the conflicting borrow was taken. The capture
   * is formatted only when a conflict is reported, but still costs several microseconds per borrow:
   * meant for development and tests. Default `false`.
   */
  track?: boolean | undefined;
}

/**
 * Borrow counter of a RefCell: `0` unused, `n > 0` that many live `Ref`s, `WRITING` one live `RefMut`.
 */
const WRITING = -1;

/** Most borrow sites a conflict message lists; the rest are counted. */
const MAX_SITES_SHOWN = 3;

/**
 * A live borrow's record while tracking: which kind and where it was taken.
 * @internal
 */
export interface BorrowSite {
  readonly kind: "Ref" | "RefMut";
  /** Holds the captured stack; on V8 its `stack` is formatted lazily, on first read. */
  readonly trace: { readonly stack?: string | undefined };
}

/** Privileged access of `Ref` / `RefMut` to their `RefCell`; set once by the `RefCell` class. */
let cellValue: <T>(cell: RefCell<T>) => T;
let setCellValue: <T>(cell: RefCell<T>, value: T) => void;
let endBorrow: (cell: RefCell<unknown>, site: BorrowSite | undefined) => void;

/**
 * A mutable slot with borrow checking at run time (Rust's `std::cell::RefCell<T>`): any number of
 * shared borrows ({@link Ref}, read-only) or exactly one mutable borrow ({@link RefMut}), never both.
 * A conflicting borrow throws at once instead of waiting: a `RefCell` is for one task that must not
 * trip over itself, not for tasks that take turns (use a `Mutex` for that).
 *
 * @example
 * ```ts
 * const list = new RefCell<number[]>([]);
 * {
 *   using items = list.borrowMut();
 *   items.value.push(1);
 * }
 * using view = list.borrow();
 * console.log(view.value.length); // 1
 * ```
 *
 * The classic mistake is a `Ref` held across an `await`: while this task is suspended another task's
 * `borrowMut()` throws {@link BorrowMutError}. Create the cell with `{ track: true }` while you hunt for
 * it, and the error names the file and line where the conflicting borrow was taken.
 *
 * **Fairness**: not applicable (nothing ever waits; a conflict throws).
 *
 * **Cancel safety**: not applicable (every method is synchronous).
 *
 * **Throws**: `borrow()` throws {@link BorrowError} while a `RefMut` is live; `borrowMut()` and
 * `replace()` throw {@link BorrowMutError} while any borrow is live.
 */
export class RefCell<T> {
  declare readonly [interiorMutable]: true;
  #value: T;
  /** `0` unused, `n > 0` live `Ref`s, `WRITING` one live `RefMut`. */
  #borrows = 0;
  /** Live borrows in the order they were taken; `undefined` unless tracking. */
  readonly #sites: Set<BorrowSite> | undefined;
  readonly #name: string;

  static {
    cellValue = (cell) => cell.#value;
    setCellValue = (cell, value) => {
      cell.#value = value;
    };
    endBorrow = (cell, site) => {
      // Invariant: a guard calls this exactly once (its own release is idempotent), so the counter
      // cannot go below zero or skip from WRITING to a reader count.
      cell.#borrows = cell.#borrows === WRITING ? 0 : cell.#borrows - 1;
      if (site !== undefined) cell.#sites?.delete(site);
    };
  }

  /**
   * @param value - the initial value; from now on reach it through `borrow()` / `borrowMut()`.
   * @param options - `track`: record where each live borrow was taken, for error messages (default `false`).
   * @throws TypeError when `options` or `options.track` has the wrong type.
   */
  constructor(value: T, options?: RefCellOptions) {
    markNotSend(this);
    checkOptionsObject("options", options);
    const track = options?.track;
    checkOptionalBoolean("track", track);
    this.#name = nameFor("RefCell", options);
    this.#value = value;
    this.#sites = track === true ? new Set() : undefined;
  }

  /** `"unused"`, `"reading"` (one or more live `Ref`s) or `"writing"` (a live `RefMut`). */
  get borrowState(): BorrowState {
    const borrows = this.#borrows;
    return borrows === 0 ? "unused" : borrows === WRITING ? "writing" : "reading";
  }

  /**
   * Borrows the value read-only. Any number of `Ref`s may be live at once.
   *
   * @example
   * ```ts
   * using ref = cell.borrow();
   * console.log(ref.value);
   * ```
   *
   * **Throws**: {@link BorrowError} while a `RefMut` is live.
   */
  /** The name given to the constructor, or `RefCell#n` (the n-th RefCell created). */
  get name(): string {
    return this.#name;
  }

  borrow(): Ref<T> {
    if (observer !== undefined) observer.sync(this, "borrow");
    if (this.#borrows === WRITING) throw this.#conflict(BorrowError, `borrow ${this.#name}: it is mutably borrowed`);
    return this.#borrowShared(RefCell.prototype.borrow);
  }

  /**
   * Borrows the value read-only, or returns `undefined` while a `RefMut` is live.
   *
   * @example
   * ```ts
   * const ref = cell.tryBorrow();
   * if (ref !== undefined) ref.release();
   * ```
   */
  tryBorrow(): Ref<T> | undefined {
    if (observer !== undefined) observer.sync(this, "tryBorrow");
    if (this.#borrows === WRITING) return undefined;
    return this.#borrowShared(RefCell.prototype.tryBorrow);
  }

  /**
   * Borrows the value mutably. Only one `RefMut` may be live, and no `Ref` beside it.
   *
   * @example
   * ```ts
   * using ref = cell.borrowMut();
   * ref.value = { ...ref.value, done: true };
   * ```
   *
   * **Throws**: {@link BorrowMutError} while any borrow is live.
   */
  borrowMut(): RefMut<T> {
    if (observer !== undefined) observer.sync(this, "borrowMut");
    if (this.#borrows !== 0) {
      throw this.#conflict(BorrowMutError, `borrow ${this.#name} mutably: it is already borrowed`);
    }
    return this.#borrowExclusive(RefCell.prototype.borrowMut);
  }

  /**
   * Borrows the value mutably, or returns `undefined` while any borrow is live.
   *
   * @example
   * ```ts
   * const ref = cell.tryBorrowMut();
   * if (ref !== undefined) {
   *   ref.value += 1;
   *   ref.release();
   * }
   * ```
   */
  tryBorrowMut(): RefMut<T> | undefined {
    if (observer !== undefined) observer.sync(this, "tryBorrowMut");
    if (this.#borrows !== 0) return undefined;
    return this.#borrowExclusive(RefCell.prototype.tryBorrowMut);
  }

  /**
   * Puts `value` in and returns the value it replaced (a short mutable borrow).
   *
   * @example
   * ```ts
   * const old = cell.replace([]);
   * ```
   *
   * **Throws**: {@link BorrowMutError} while any borrow is live.
   */
  replace(value: T): T {
    if (observer !== undefined) observer.sync(this, "replace");
    if (this.#borrows !== 0) throw this.#conflict(BorrowMutError, `replace the value of ${this.#name}: it is borrowed`);
    const previous = this.#value;
    this.#value = value;
    return previous;
  }

  #borrowShared(caller: (...args: never[]) => unknown): Ref<T> {
    this.#borrows++;
    const ref = new Ref<T>(GUARD_TOKEN, this, this.#record("Ref", caller));
    if (observer !== undefined) observer.acquired(this, ref, "shared");
    return ref;
  }

  #borrowExclusive(caller: (...args: never[]) => unknown): RefMut<T> {
    this.#borrows = WRITING;
    const ref = new RefMut<T>(GUARD_TOKEN, this, this.#record("RefMut", caller));
    if (observer !== undefined) observer.acquired(this, ref, "exclusive");
    return ref;
  }

  /** While tracking, records where the borrow was taken (frames inside lockbox are left out). */
  #record(kind: BorrowSite["kind"], caller: (...args: never[]) => unknown): BorrowSite | undefined {
    const sites = this.#sites;
    if (sites === undefined) return undefined;
    const site: BorrowSite = { kind, trace: captureTrace(caller) };
    sites.add(site);
    return site;
  }

  #conflict(ErrorClass: typeof BorrowError | typeof BorrowMutError, what: string): BorrowError | BorrowMutError {
    const borrows = this.#borrows;
    const live = borrows === WRITING ? "a live RefMut" : `${borrows} live Ref${borrows === 1 ? "" : "s"}`;
    let message = `Cannot ${what} (${live})`;
    const sites = this.#sites;
    if (sites === undefined) {
      message += "; create the RefCell with { track: true } to see where each borrow was taken";
    } else {
      let shown = 0;
      for (const site of sites) {
        if (shown === MAX_SITES_SHOWN) break;
        message += `\nThe conflicting ${site.kind} was taken at:\n${framesOf(site.trace)}`;
        shown++;
      }
      if (sites.size > shown) message += `\n…and ${sites.size - shown} more`;
    }
    return new ErrorClass(message);
  }
}

/**
 * Captures the stack of the code that called `caller`. V8's `Error.captureStackTrace` cuts lockbox's
 * own frames off and defers formatting (the expensive part, more so under source-map support) until
 * `stack` is read, which only a conflict does. Elsewhere, a plain `new Error()`.
 */
function captureTrace(caller: (...args: never[]) => unknown): { readonly stack?: string | undefined } {
  const capture = (Error as { captureStackTrace?: (target: object, fn?: unknown) => void }).captureStackTrace;
  if (typeof capture !== "function") return new Error();
  const holder = {};
  capture(holder, caller);
  return holder;
}

/** The frames of a captured trace, without the `Error` header line V8 puts first. */
function framesOf(trace: { readonly stack?: string | undefined }): string {
  const stack = trace.stack ?? "(stack unavailable)";
  return stack.startsWith("Error") ? stack.slice(stack.indexOf("\n") + 1) : stack;
}

/**
 * A shared, read-only borrow of a {@link RefCell}'s value (Rust's `Ref<'_, T>`).
 *
 * `ref.value` is a {@link DeepReadonly} view: TypeScript rejects mutation through it, while
 * interior-mutable values inside (a `Mutex`, a `Cell`) keep their methods. `release()` (or leaving a
 * `using` block) ends the borrow; a second `release()` does nothing; `value` then throws
 * {@link UseAfterReleaseError}.
 *
 * @example
 * ```ts
 * const cell = new RefCell({ name: "a" });
 * using ref = cell.borrow();
 * console.log(ref.value.name);
 * ```
 */
export class Ref<T> extends Guard<RefCell<T>> {
  readonly #site: BorrowSite | undefined;

  /** @internal Borrows come from `RefCell.borrow()`; this constructor throws for anyone else. */
  constructor(token: GuardToken, cell: RefCell<T>, site: BorrowSite | undefined) {
    super(token, cell);
    this.#site = site;
  }

  /**
   * The borrowed value, read-only.
   *
   * @throws UseAfterReleaseError after release.
   */
  get value(): DeepReadonly<T> {
    return cellValue(this.live("read `value` of")) as DeepReadonly<T>;
  }

  protected get kind(): string {
    return "Ref";
  }

  /** Ends the borrow. */
  protected unlock(cell: RefCell<T>): void {
    if (observer !== undefined) observer.released(cell, this);
    endBorrow(cell as RefCell<unknown>, this.#site);
  }
}

/**
 * The one mutable borrow of a {@link RefCell}'s value (Rust's `RefMut<'_, T>`).
 *
 * `ref.value` reads and writes the value; assigning replaces it. `release()` (or leaving a `using`
 * block) ends the borrow; a second `release()` does nothing; `value` then throws
 * {@link UseAfterReleaseError}.
 *
 * @example
 * ```ts
 * const cell = new RefCell(1);
 * using ref = cell.borrowMut();
 * ref.value += 1;
 * ```
 */
export class RefMut<T> extends Guard<RefCell<T>> {
  readonly #site: BorrowSite | undefined;

  /** @internal Borrows come from `RefCell.borrowMut()`; this constructor throws for anyone else. */
  constructor(token: GuardToken, cell: RefCell<T>, site: BorrowSite | undefined) {
    super(token, cell);
    this.#site = site;
  }

  /**
   * The borrowed value. Assigning replaces it.
   *
   * @throws UseAfterReleaseError after release.
   */
  get value(): T {
    return cellValue(this.live("read `value` of"));
  }

  set value(value: T) {
    setCellValue(this.live("write `value` of"), value);
  }

  protected get kind(): string {
    return "RefMut";
  }

  /** Ends the borrow. */
  protected unlock(cell: RefCell<T>): void {
    if (observer !== undefined) observer.released(cell, this);
    endBorrow(cell as RefCell<unknown>, this.#site);
  }
}
