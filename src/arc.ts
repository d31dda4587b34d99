import { UseAfterReleaseError } from "./errors.js";
import { markNotSend } from "./internal/not-send.js";
import { GUARD_TOKEN, type GuardToken } from "./internal/symbols.js";
import { describe } from "./internal/validate.js";
import type { DeepReadonly } from "./types.js";

/**
 * What {@link Arc.drop} returns for a `T`: a promise when `T` is `AsyncDisposable` (the last drop's
 * promise is the value's `[Symbol.asyncDispose]()`; earlier drops return a resolved one), `undefined`
 * when `T` cannot be `AsyncDisposable`, and either when `T` is too wide to tell (`unknown`, `object`, a
 * union with an async-disposable member, `any`).
 */
export type ArcDropResult<T> = 0 extends 1 & T
  ? Promise<void> | undefined
  : [T] extends [AsyncDisposable]
    ? Promise<void>
    : [Extract<T, AsyncDisposable>] extends [never]
      ? [AsyncDisposable] extends [T]
        ? Promise<void> | undefined
        : undefined
      : Promise<void> | undefined;

/**
 * The shared allocation behind every `Arc` and `Weak` handle of one value.
 *
 * Invariants: `strong` counts live `Arc` handles, `weak` counts live `Weak` handles. Once `strong`
 * reaches 0 it never rises again (`upgrade()` checks it), and `value` has been cleared so that weak
 * handles do not keep the value alive.
 * @internal
 */
export interface ArcBox<T> {
  value: T | undefined;
  strong: number;
  weak: number;
}

/** Privileged access of `Weak` and the statics to `Arc` handles; set once by the `Arc` class. */
let arcFromBox: <T>(box: ArcBox<T>) => Arc<T>;
let liveBox: <T>(arc: Arc<T>, name: string) => ArcBox<T>;

/**
 * A reference-counted shared owner of a value (Rust's `Arc<T>` / `Rc<T>`): `clone()` gives another
 * handle to the same value, and when the last handle is dropped, a value that is `Disposable` (or
 * `AsyncDisposable`) is disposed — deterministic cleanup of a shared resource without a garbage
 * collector's timing.
 *
 * `arc.value` is {@link DeepReadonly}: shared ownership gives no mutable access. Mutate through an
 * interior-mutable value, exactly as in Rust: `new Arc(new Mutex(state))`, then `arc.value.lock()`.
 *
 * @example
 * ```ts
 * const pool = new Arc(openPool()); // a Disposable
 * const forWorker = pool.clone();
 * pool.drop(); // strongCount 1: the pool stays open
 * forWorker.drop(); // last handle: pool[Symbol.dispose]() runs
 * ```
 *
 * `Arc` is not interior-mutable: inside a {@link DeepReadonly} view (a read guard over a struct that
 * holds an `Arc`) it becomes a read-only view too. `clone()` and `downgrade()` still work there, as on
 * Rust's `&Arc<T>`, while `Arc.getMut` and `Arc.tryUnwrap`, which need ownership, do not type-check.
 *
 * A handle that is never dropped keeps its value from being disposed (as `mem::forget` would in Rust):
 * drop every handle, or hold them with `using` / `await using`.
 *
 * **Fairness**, **Cancel safety**: not applicable (nothing ever waits).
 */
export class Arc<T> {
  #box: ArcBox<T> | undefined;
  /** Whether this handle's drop returned a promise: a repeated `drop()` returns the same kind. */
  #droppedAsync = false;

  static {
    arcFromBox = <T>(box: ArcBox<T>) => {
      const arc = new Arc<T>(undefined as T);
      arc.#box = box;
      return arc;
    };
  }

  /**
   * @param value - the shared value. It is disposed when the last strong handle drops, if it is
   * `Disposable` or `AsyncDisposable` (`[Symbol.asyncDispose]` is preferred when it has both).
   */
  constructor(value: T) {
    markNotSend(this);
    this.#box = { value, strong: 1, weak: 0 };
  }

  /**
   * `true` when `a` and `b` are handles to the same value (Rust: `Arc::ptr_eq`).
   *
   * @example
   * ```ts
   * const a = new Arc({});
   * Arc.ptrEq(a, a.clone()); // true
   * ```
   *
   * **Throws**: `TypeError` for a non-`Arc`; {@link UseAfterReleaseError} for a dropped handle.
   */
  static ptrEq<T>(a: Arc<T>, b: Arc<T>): boolean {
    return liveBox(a, "a") === liveBox(b, "b");
  }

  /**
   * Mutable access to the value when `arc` is its only handle (one strong, no weak), else `undefined`
   * (Rust: `Arc::get_mut`).
   *
   * @example
   * ```ts
   * const arc = new Arc([1]);
   * Arc.getMut(arc)?.push(2);
   * ```
   *
   * **Throws**: `TypeError` for a non-`Arc`; {@link UseAfterReleaseError} for a dropped handle.
   */
  static getMut<T>(arc: Arc<T>): T | undefined {
    const box = liveBox(arc, "arc");
    return box.strong === 1 && box.weak === 0 ? (box.value as T) : undefined;
  }

  /**
   * Takes the value out when `arc` is its only strong handle: the handle is dropped without disposing
   * the value (the caller owns it now) and weak handles stop upgrading. Otherwise returns `undefined`
   * and leaves `arc` as it was (Rust: `Arc::try_unwrap`). For an `Arc<T>` whose `T` includes
   * `undefined`, check `strongCount` first to tell the cases apart.
   *
   * @example
   * ```ts
   * const arc = new Arc(new Map());
   * const map = Arc.tryUnwrap(arc); // the Map; arc is dropped
   * ```
   *
   * **Throws**: `TypeError` for a non-`Arc`; {@link UseAfterReleaseError} for a dropped handle.
   */
  static tryUnwrap<T>(arc: Arc<T>): T | undefined {
    const box = liveBox(arc, "arc");
    if (box.strong !== 1) return undefined;
    const value = box.value as T;
    box.value = undefined;
    box.strong = 0;
    arc.#box = undefined;
    // A later `drop()` of this handle must still return what its type promises.
    arc.#droppedAsync = methodOf(value, Symbol.asyncDispose) !== undefined;
    return value;
  }

  /**
   * The shared value, read-only.
   *
   * @throws UseAfterReleaseError when this handle was dropped.
   */
  get value(): DeepReadonly<T> {
    return this.#live("read `value` of").value as DeepReadonly<T>;
  }

  /**
   * Live strong handles of this value.
   *
   * @throws UseAfterReleaseError when this handle was dropped.
   */
  get strongCount(): number {
    return this.#live("read `strongCount` of").strong;
  }

  /**
   * Live `Weak` handles of this value.
   *
   * @throws UseAfterReleaseError when this handle was dropped.
   */
  get weakCount(): number {
    return this.#live("read `weakCount` of").weak;
  }

  /** `true` once this handle was dropped (or unwrapped). */
  get dropped(): boolean {
    return this.#box === undefined;
  }

  /**
   * Another strong handle to the same value.
   *
   * @example
   * ```ts
   * const shared = new Arc(new Mutex(0));
   * const forTask = shared.clone();
   * ```
   *
   * @throws UseAfterReleaseError when this handle was dropped.
   */
  clone(): Arc<T> {
    const box = this.#live("clone");
    box.strong++;
    return arcFromBox(box);
  }

  /**
   * A weak handle: it does not keep the value alive, and `upgrade()` gives a strong handle back while
   * one still exists.
   *
   * @example
   * ```ts
   * const parent = new Arc({ name: "root" });
   * const back = parent.downgrade();
   * back.upgrade()?.value.name; // "root"
   * ```
   *
   * @throws UseAfterReleaseError when this handle was dropped.
   */
  downgrade(): Weak<T> {
    const box = this.#live("downgrade");
    box.weak++;
    return new Weak<T>(GUARD_TOKEN, box);
  }

  /**
   * Drops this handle. Idempotent: a second call does nothing. When it was the last strong handle the
   * value is released: weak handles stop upgrading, and a `Disposable` value is disposed (its error, if
   * any, is thrown from here) or an `AsyncDisposable` one is, and its promise returned.
   *
   * @example
   * ```ts
   * const conn = new Arc(await connect()); // an AsyncDisposable
   * await conn.drop(); // closes the connection
   * ```
   *
   * **Throws**: what the value's `[Symbol.dispose]()` throws (the handle is dropped regardless).
   */
  drop(): ArcDropResult<T> {
    const box = this.#box;
    if (box === undefined) return (this.#droppedAsync ? Promise.resolve() : undefined) as ArcDropResult<T>;
    this.#box = undefined;
    const value = box.value;
    const asyncDisposer = methodOf(value, Symbol.asyncDispose);
    this.#droppedAsync = asyncDisposer !== undefined;
    if (--box.strong > 0) return (asyncDisposer !== undefined ? Promise.resolve() : undefined) as ArcDropResult<T>;
    // Last strong handle: clear the slot before running user code, so a re-entrant `upgrade()` from
    // inside the disposer already sees the value as gone.
    box.value = undefined;
    if (asyncDisposer !== undefined) {
      try {
        return Promise.resolve(asyncDisposer.call(value)).then(noop) as ArcDropResult<T>;
      } catch (error) {
        return Promise.reject(error) as ArcDropResult<T>;
      }
    }
    methodOf(value, Symbol.dispose)?.call(value);
    return undefined as ArcDropResult<T>;
  }

  /** Same as {@link drop}, for `using`. For an `AsyncDisposable` value prefer `await using`. */
  [Symbol.dispose](): void {
    this.drop();
  }

  /** Same as {@link drop}, awaited, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.drop();
  }

  #live(action: string): ArcBox<T> {
    const box = this.#box;
    if (box === undefined) throw new UseAfterReleaseError(`Cannot ${action} an Arc after drop()`);
    return box;
  }

  static {
    liveBox = (arc, name) => {
      if (typeof arc !== "object" || arc === null || !(#box in arc)) {
        throw new TypeError(`Expected \`${name}\` to be an Arc, got ${describe(arc)}`);
      }
      return arc.#live("use");
    };
  }
}

/**
 * A non-owning handle to an {@link Arc}'s value (Rust's `Weak<T>`): it does not keep the value alive
 * or delay its disposal, and `upgrade()` returns a strong handle only while one still exists. Use it
 * for back-references (child to parent) that would otherwise form a cycle of strong handles.
 *
 * @example
 * ```ts
 * const arc = new Arc(resource);
 * const weak = arc.downgrade();
 * arc.drop(); // last strong handle: resource disposed
 * weak.upgrade(); // undefined
 * ```
 */
export class Weak<T> {
  #box: ArcBox<T> | undefined;

  /** @internal Weak handles come from `Arc.downgrade()`; this constructor throws for anyone else. */
  constructor(token: GuardToken, box: ArcBox<T>) {
    if (token !== GUARD_TOKEN) throw new TypeError("Weak cannot be constructed directly; use arc.downgrade()");
    markNotSend(this);
    this.#box = box;
  }

  /**
   * A new strong handle, or `undefined` once the last strong handle has dropped.
   *
   * @example
   * ```ts
   * using strong = weak.upgrade();
   * ```
   *
   * @throws UseAfterReleaseError when this weak handle was dropped.
   */
  upgrade(): Arc<T> | undefined {
    const box = this.#live("upgrade");
    if (box.strong === 0) return undefined;
    box.strong++;
    return arcFromBox(box);
  }

  /**
   * Live strong handles of the value (0 once it is gone).
   *
   * @throws UseAfterReleaseError when this weak handle was dropped.
   */
  get strongCount(): number {
    return this.#live("read `strongCount` of").strong;
  }

  /**
   * Live weak handles of the value, this one included; 0 once no strong handle remains (as in Rust).
   *
   * @throws UseAfterReleaseError when this weak handle was dropped.
   */
  get weakCount(): number {
    const box = this.#live("read `weakCount` of");
    return box.strong === 0 ? 0 : box.weak;
  }

  /** `true` once this weak handle was dropped. */
  get dropped(): boolean {
    return this.#box === undefined;
  }

  /**
   * Another weak handle to the same value.
   *
   * @throws UseAfterReleaseError when this weak handle was dropped.
   */
  clone(): Weak<T> {
    const box = this.#live("clone");
    box.weak++;
    return new Weak<T>(GUARD_TOKEN, box);
  }

  /** Drops this weak handle. Idempotent. Never disposes anything. */
  drop(): void {
    const box = this.#box;
    if (box === undefined) return;
    this.#box = undefined;
    box.weak--;
  }

  /** Same as {@link drop}, for `using`. */
  [Symbol.dispose](): void {
    this.drop();
  }

  #live(action: string): ArcBox<T> {
    const box = this.#box;
    if (box === undefined) throw new UseAfterReleaseError(`Cannot ${action} a Weak after drop()`);
    return box;
  }
}

/** The function at `value[key]`, or `undefined` (for any value, primitives included). */
function methodOf(value: unknown, key: symbol): ((this: unknown) => unknown) | undefined {
  if (value === null || value === undefined) return undefined;
  const method = (value as Record<symbol, unknown>)[key];
  return typeof method === "function" ? (method as (this: unknown) => unknown) : undefined;
}

function noop(): void {}

export { Arc as Rc };
