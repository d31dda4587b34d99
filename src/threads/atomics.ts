/**
 * Atomic integers and booleans in shared memory (Rust's `std::sync::atomic`), usable from every thread
 * that holds the same `SharedArrayBuffer`.
 *
 * Each atomic is a view of one element of a `SharedArrayBuffer`: `new AtomicI32()` allocates its own
 * 4 bytes, `AtomicI32.at(buffer, byteOffset)` works over memory that already exists (a struct field),
 * and `AtomicI32.from(received)` rebuilds one in another thread from the instance or its `handle`.
 *
 * JS atomics are sequentially consistent, so unlike Rust there is no `Ordering` parameter anywhere.
 * Arithmetic wraps around on overflow, exactly like Rust's `fetch_add` / `fetch_sub`.
 *
 * @module
 */

import { WouldBlockError } from "../errors.js";
import { checkFunction, checkInteger, checkOptionsObject, describe, readTimeoutOptions } from "../internal/validate.js";
import { interiorMutable } from "../types.js";
import { checkHandle, checkSharedBuffer, type HandleBase, LAYOUT_VERSION } from "./memory/handle.js";
import { newSharedBuffer } from "./memory/shared-memory.js";
import { hold, release } from "./runtime/keep-alive.js";
import { assertCanBlock, checkTimeout } from "./runtime/wait.js";

/** The structured-clone-safe description of an atomic: its memory and where in it the value lives. */
export interface AtomicHandle<Tag extends string = string> extends HandleBase<Tag> {
  /** The shared memory. */
  readonly buffer: SharedArrayBuffer;
  /** Where the value starts in `buffer`; a multiple of the value's size. */
  readonly byteOffset: number;
}

/** Result of {@link AtomicI32.waitSync} and {@link AtomicI32.waitAsync}, as `Atomics.wait` reports it. */
export type WaitResult = "ok" | "not-equal" | "timed-out";

type IntView = Int32Array | Uint32Array | BigInt64Array | BigUint64Array;

/**
 * `Atomics` with one signature for every integer view: the classes below check each value's type and
 * range before it reaches these calls, so the `number | bigint` union is always the right one.
 */
interface UniformAtomics {
  load(view: IntView, index: number): number | bigint;
  store(view: IntView, index: number, value: number | bigint): number | bigint;
  exchange(view: IntView, index: number, value: number | bigint): number | bigint;
  compareExchange(
    view: IntView,
    index: number,
    expected: number | bigint,
    replacement: number | bigint,
  ): number | bigint;
  add(view: IntView, index: number, value: number | bigint): number | bigint;
  sub(view: IntView, index: number, value: number | bigint): number | bigint;
  and(view: IntView, index: number, value: number | bigint): number | bigint;
  or(view: IntView, index: number, value: number | bigint): number | bigint;
  xor(view: IntView, index: number, value: number | bigint): number | bigint;
}
const A = Atomics as unknown as UniformAtomics;

/** What distinguishes one integer atomic from another. */
interface IntKind<V extends number | bigint> {
  readonly name: string;
  readonly tag: string;
  readonly bytes: 4 | 8;
  readonly View: new (buffer: SharedArrayBuffer, byteOffset: number, length: number) => IntView;
  readonly zero: V;
  /** Throws `TypeError` / `RangeError` naming `arg` unless `value` is a `V` in range. */
  check(arg: string, value: unknown): V;
}

function numberKind(name: string, View: IntKind<number>["View"], min: number, max: number): IntKind<number> {
  return {
    name,
    tag: `lockbox.threads.${name}`,
    bytes: 4,
    View,
    zero: 0,
    check: (arg, value) => checkInteger(arg, value, min, max),
  };
}

function bigintKind(name: string, View: IntKind<bigint>["View"], min: bigint, max: bigint): IntKind<bigint> {
  return {
    name,
    tag: `lockbox.threads.${name}`,
    bytes: 8,
    View,
    zero: 0n,
    check(arg, value) {
      if (typeof value !== "bigint") {
        throw new TypeError(`Expected \`${arg}\` to be a bigint from ${min}n to ${max}n, got ${describe(value)}`);
      }
      if (value < min || value > max) {
        throw new RangeError(`Expected \`${arg}\` to be a bigint from ${min}n to ${max}n, got ${describe(value)}`);
      }
      return value;
    },
  };
}

const I32 = numberKind("AtomicI32", Int32Array, -(2 ** 31), 2 ** 31 - 1);
const U32 = numberKind("AtomicU32", Uint32Array, 0, 2 ** 32 - 1);
const I64 = bigintKind("AtomicI64", BigInt64Array, -(2n ** 63n), 2n ** 63n - 1n);
const U64 = bigintKind("AtomicU64", BigUint64Array, 0n, 2n ** 64n - 1n);
const BOOL_TAG = "lockbox.threads.AtomicBool";

/**
 * Set by {@link adopt} for the duration of one `new`: the constructor then wraps this view instead of
 * allocating. Module-private, so nobody outside can make an atomic over unchecked memory.
 */
let adopted: { buffer: SharedArrayBuffer; byteOffset: number } | undefined;

function adopt<C>(Class: new () => C, buffer: SharedArrayBuffer, byteOffset: number): C {
  adopted = { buffer, byteOffset };
  try {
    return new Class();
  } finally {
    adopted = undefined;
  }
}

/** Checks a place in shared memory for an atomic of `bytes` bytes (`name` is the calling method). */
function checkPlace(name: string, buffer: unknown, byteOffset: unknown, bytes: number): SharedArrayBuffer {
  checkInteger(`${name} byteOffset`, byteOffset, 0, Number.MAX_SAFE_INTEGER);
  if ((byteOffset as number) % bytes !== 0) {
    throw new RangeError(
      `Expected \`${name} byteOffset\` to be a multiple of ${bytes} (natural alignment), got ${byteOffset}`,
    );
  }
  return checkSharedBuffer(`${name} buffer`, buffer, (byteOffset as number) + bytes);
}

function checkFromHandle(received: unknown, tag: string, name: string, bytes: number): AtomicHandle {
  const handle = checkHandle<AtomicHandle>(received, tag, `${name}.from`);
  // A bad offset here is a malformed handle, not a bad argument: TypeError like every other `from` check.
  const byteOffset: unknown = handle.byteOffset;
  if (
    typeof byteOffset !== "number" ||
    !Number.isSafeInteger(byteOffset) ||
    byteOffset < 0 ||
    byteOffset % bytes !== 0
  ) {
    throw new TypeError(
      `Expected \`handle.byteOffset\` to be a non-negative multiple of ${bytes}, got ${describe(byteOffset)}`,
    );
  }
  checkSharedBuffer("handle.buffer", handle.buffer, byteOffset + bytes);
  return handle;
}

function makeHandle(tag: string, buffer: SharedArrayBuffer, byteOffset: number): AtomicHandle {
  return Object.freeze({ type: tag, version: LAYOUT_VERSION, buffer, byteOffset });
}

/**
 * The shared part of the integer atomics. Not exported: use {@link AtomicI32}, {@link AtomicU32},
 * {@link AtomicI64}, {@link AtomicU64}.
 */
abstract class AtomicInteger<V extends number | bigint> {
  declare readonly [interiorMutable]: true;
  /**
   * Plain, structured-clone-safe description of this atomic. It is an own enumerable property, so
   * posting the atomic itself (`worker.postMessage(atomic)`) carries it too; rebuild with `from`.
   */
  readonly handle: AtomicHandle;
  /** A one-element view: every operation uses index 0. */
  readonly #view: IntView;
  readonly #kind: IntKind<V>;

  protected constructor(kind: IntKind<V>, initial: unknown) {
    const place = adopted;
    adopted = undefined;
    let buffer: SharedArrayBuffer;
    let byteOffset = 0;
    if (place !== undefined) {
      buffer = place.buffer;
      byteOffset = place.byteOffset;
    } else {
      const value = initial === undefined ? kind.zero : kind.check("initial", initial);
      buffer = newSharedBuffer(kind.bytes);
      A.store(new kind.View(buffer, 0, 1), 0, value);
    }
    this.handle = makeHandle(kind.tag, buffer, byteOffset);
    this.#view = new kind.View(buffer, byteOffset, 1);
    this.#kind = kind;
  }

  /** `console.log(atomic)` shows the type and value, such as `AtomicU64(5n)`. */
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return `${this.#kind.name}(${describe(this.load())})`;
  }

  /** The view, for {@link AtomicI32}'s wait methods. */
  protected get view(): IntView {
    return this.#view;
  }

  /**
   * Reads the value.
   *
   * @example
   * ```ts
   * const hits = new AtomicU32(3);
   * hits.load(); // 3
   * ```
   */
  load(): V {
    return A.load(this.#view, 0) as V;
  }

  /**
   * Writes the value.
   *
   * @example
   * ```ts
   * flag.store(1);
   * ```
   *
   * **Throws**: `TypeError` / `RangeError` when `value` is not a value of this type.
   */
  store(value: V): void {
    A.store(this.#view, 0, this.#kind.check("value", value));
  }

  /**
   * Writes `value` and returns the previous value (Rust: `swap`).
   *
   * @example
   * ```ts
   * const previous = state.swap(2);
   * ```
   *
   * **Throws**: `TypeError` / `RangeError` when `value` is not a value of this type.
   */
  swap(value: V): V {
    return A.exchange(this.#view, 0, this.#kind.check("value", value)) as V;
  }

  /**
   * Writes `replacement` if the value is `expected`, and returns the value it found either way: the
   * exchange happened exactly when the result equals `expected` (Rust returns this as `Ok` / `Err`).
   *
   * @example
   * ```ts
   * if (state.compareExchange(IDLE, RUNNING) === IDLE) {
   *   // this thread moved the state from IDLE to RUNNING
   * }
   * ```
   *
   * **Throws**: `TypeError` / `RangeError` when `expected` or `replacement` is not a value of this type.
   */
  compareExchange(expected: V, replacement: V): V {
    const kind = this.#kind;
    return A.compareExchange(
      this.#view,
      0,
      kind.check("expected", expected),
      kind.check("replacement", replacement),
    ) as V;
  }

  /**
   * Adds `value`, wrapping around on overflow, and returns the previous value.
   *
   * @example
   * ```ts
   * const ticket = next.fetchAdd(1);
   * ```
   *
   * **Throws**: `TypeError` / `RangeError` when `value` is not a value of this type.
   */
  fetchAdd(value: V): V {
    return A.add(this.#view, 0, this.#kind.check("value", value)) as V;
  }

  /**
   * Subtracts `value`, wrapping around on overflow, and returns the previous value.
   *
   * @example
   * ```ts
   * const before = remaining.fetchSub(1);
   * ```
   *
   * **Throws**: `TypeError` / `RangeError` when `value` is not a value of this type.
   */
  fetchSub(value: V): V {
    return A.sub(this.#view, 0, this.#kind.check("value", value)) as V;
  }

  /**
   * Bitwise and with `value`; returns the previous value.
   *
   * @example
   * ```ts
   * flags.fetchAnd(~DIRTY);
   * ```
   *
   * **Throws**: `TypeError` / `RangeError` when `value` is not a value of this type.
   */
  fetchAnd(value: V): V {
    return A.and(this.#view, 0, this.#kind.check("value", value)) as V;
  }

  /**
   * Bitwise or with `value`; returns the previous value.
   *
   * @example
   * ```ts
   * const before = flags.fetchOr(DIRTY);
   * ```
   *
   * **Throws**: `TypeError` / `RangeError` when `value` is not a value of this type.
   */
  fetchOr(value: V): V {
    return A.or(this.#view, 0, this.#kind.check("value", value)) as V;
  }

  /**
   * Bitwise exclusive or with `value`; returns the previous value.
   *
   * @example
   * ```ts
   * flags.fetchXor(TOGGLE);
   * ```
   *
   * **Throws**: `TypeError` / `RangeError` when `value` is not a value of this type.
   */
  fetchXor(value: V): V {
    return A.xor(this.#view, 0, this.#kind.check("value", value)) as V;
  }

  /**
   * Bitwise not-and (`~(current & value)`); returns the previous value. A compare-exchange loop: JS
   * has no single instruction for it.
   *
   * @example
   * ```ts
   * flags.fetchNand(MASK);
   * ```
   *
   * **Throws**: `TypeError` / `RangeError` when `value` is not a value of this type.
   */
  fetchNand(value: V): V {
    const operand = this.#kind.check("value", value);
    return this.#update((current) => ~((current as number) & (operand as number)) as V as V);
  }

  /**
   * Stores the larger of the value and `value`; returns the previous value. A compare-exchange loop.
   *
   * @example
   * ```ts
   * highWater.fetchMax(queueLength);
   * ```
   *
   * **Throws**: `TypeError` / `RangeError` when `value` is not a value of this type.
   */
  fetchMax(value: V): V {
    const operand = this.#kind.check("value", value);
    // biome-ignore lint/complexity/useMathMinMax: V may be a bigint, which Math.max rejects
    return this.#update((current) => (operand > current ? operand : current));
  }

  /**
   * Stores the smaller of the value and `value`; returns the previous value. A compare-exchange loop.
   *
   * @example
   * ```ts
   * fastest.fetchMin(elapsed);
   * ```
   *
   * **Throws**: `TypeError` / `RangeError` when `value` is not a value of this type.
   */
  fetchMin(value: V): V {
    const operand = this.#kind.check("value", value);
    // biome-ignore lint/complexity/useMathMinMax: V may be a bigint, which Math.min rejects
    return this.#update((current) => (operand < current ? operand : current));
  }

  /**
   * Applies `fn` to the value in a compare-exchange loop until it sticks, and returns the value `fn`
   * last saw (the previous value). If `fn` returns `undefined`, nothing is written and the result is
   * `undefined` (Rust returns `Err(previous)` there; `load()` gives the value if you need it).
   *
   * `fn` may run several times when other threads write in between, so it must be pure.
   *
   * @example
   * ```ts
   * // increment, but never past 10
   * const before = slots.fetchUpdate((n) => (n < 10 ? n + 1 : undefined));
   * if (before === undefined) console.log("full");
   * ```
   *
   * **Throws**: `TypeError` when `fn` is not a function, `TypeError` / `RangeError` when it returns a
   * value that is neither `undefined` nor a value of this type (nothing is written then); whatever
   * `fn` throws.
   */
  fetchUpdate(fn: (current: V) => V | undefined): V | undefined {
    checkFunction("fn", fn);
    const view = this.#view;
    const kind = this.#kind;
    let current = A.load(view, 0) as V;
    for (;;) {
      const next = fn(current);
      if (next === undefined) return undefined;
      kind.check("fn result", next);
      const found = A.compareExchange(view, 0, current, next) as V;
      if (found === current) return current;
      current = found;
    }
  }

  /** Compare-exchange loop for operations `Atomics` lacks; `next` is total and in range. */
  #update(next: (current: V) => V): V {
    const view = this.#view;
    let current = A.load(view, 0) as V;
    for (;;) {
      // `next` may produce a value outside the view's range (`~` on a uint32, say); storing it
      // through the typed array wraps it to the same bits, which is what the operation means.
      const found = A.compareExchange(view, 0, current, next(current)) as V;
      if (found === current) return current;
      current = found;
    }
  }
}

/**
 * An `i32` in shared memory (Rust: `AtomicI32`), and the one atomic you can wait on: `waitSync`,
 * `waitAsync` and `notify` are the futex operations of `Atomics.wait` / `Atomics.notify`.
 *
 * @example
 * ```ts
 * // main thread
 * const ready = new AtomicI32(0);
 * worker.postMessage(ready); // or ready.handle
 * await ready.waitAsync(0); // until the worker stores and notifies
 *
 * // worker
 * const ready = AtomicI32.from(message);
 * ready.store(1);
 * ready.notify();
 * ```
 *
 * Values are integers from -2147483648 to 2147483647; arithmetic wraps around.
 */
export class AtomicI32 extends AtomicInteger<number> {
  /**
   * @param initial - the starting value (default 0).
   * @throws TypeError / RangeError when `initial` is not an integer from -2147483648 to 2147483647.
   */
  constructor(initial?: number) {
    super(I32, initial);
  }

  /**
   * Rebuilds an atomic over the same memory from an instance or its `handle` (in any thread).
   *
   * @example
   * ```ts
   * // worker: the parent posted `{ counter }` (the AtomicI32 itself, or its handle)
   * const counter = AtomicI32.from(workerData.counter);
   * ```
   *
   * @throws TypeError for anything else: another type's handle, another layout version, a buffer that
   * is not a `SharedArrayBuffer` or is too small, a misaligned `byteOffset`.
   */
  static from(received: unknown): AtomicI32 {
    const handle = checkFromHandle(received, I32.tag, I32.name, 4);
    return adopt(AtomicI32, handle.buffer, handle.byteOffset);
  }

  /**
   * An atomic over 4 bytes of existing shared memory (a struct field, say), without changing them.
   *
   * @example
   * ```ts
   * const counter = AtomicI32.at(stats.handle.buffer, stats.handle.byteOffset + Stats.offsetOf("count"));
   * ```
   *
   * @throws TypeError unless `buffer` is a `SharedArrayBuffer` that holds 4 bytes at `byteOffset`;
   * RangeError unless `byteOffset` is a non-negative multiple of 4.
   */
  static at(buffer: SharedArrayBuffer, byteOffset = 0): AtomicI32 {
    checkPlace("AtomicI32.at", buffer, byteOffset, 4);
    return adopt(AtomicI32, buffer, byteOffset);
  }

  /**
   * Blocks this thread while the value is `expected`, until a `notify` or `timeout` milliseconds
   * (default: forever). Returns `"not-equal"` at once if the value differs, `"ok"` when woken,
   * `"timed-out"` otherwise. Wake-ups can be spurious from the caller's point of view (a notify meant
   * for another state): re-check the value in a loop.
   *
   * @example
   * ```ts
   * while (ready.load() === 0) ready.waitSync(0);
   * ```
   *
   * **Throws**: `WouldBlockError` where the runtime forbids blocking (a browser main thread);
   * `TypeError` / `RangeError` for a bad `expected` or `timeout`.
   */
  waitSync(expected: number, timeout?: number): WaitResult {
    I32.check("expected", expected);
    checkTimeout(timeout);
    // Refuse before looking at the value, so a forbidden call fails the same way whatever the timing.
    assertCanBlock("AtomicI32.waitSync");
    try {
      return Atomics.wait(this.view as Int32Array, 0, expected, timeout);
    } catch (error) {
      // The view is always a valid Int32Array over shared memory, so the only TypeError left is the
      // runtime's refusal to block this thread.
      if (error instanceof TypeError) {
        throw new WouldBlockError("AtomicI32.waitSync cannot block here (the runtime forbids Atomics.wait)", {
          cause: error,
        });
      }
      throw error;
    }
  }

  /**
   * Waits without blocking while the value is `expected`, until a `notify` or `timeout` milliseconds
   * (default: forever). Resolves `"not-equal"` at once if the value differs, `"ok"` when woken,
   * `"timed-out"` otherwise. Keeps the Node process (or worker) alive while pending.
   *
   * @example
   * ```ts
   * while (ready.load() === 0) await ready.waitAsync(0, { timeout: 1_000 });
   * ```
   *
   * **Cancel safety**: a pending `Atomics.waitAsync` cannot be cancelled; there is no `signal`. Use
   * `timeout`. An abandoned wait stays registered until it resolves and can absorb a
   * `notify(1)` meant for someone else: when you notify one waiter, prefer a protocol that re-checks a
   * value (or use `notify()` for all).
   *
   * **Throws** (rejects): `TypeError` / `RangeError` for a bad `expected` or options.
   */
  waitAsync(expected: number, options?: { timeout?: number | undefined }): Promise<WaitResult> {
    try {
      options = readTimeoutOptions(options);
      I32.check("expected", expected);
      checkOptionsObject("options", options);
      checkTimeout(options?.timeout);
    } catch (error) {
      return Promise.reject(error);
    }
    const result = Atomics.waitAsync(this.view as Int32Array, 0, expected, options?.timeout);
    if (!result.async) return Promise.resolve(result.value);
    // A pending Atomics.waitAsync keeps neither the process nor a worker alive: hold the thread's
    // shared keep-alive handle until it settles.
    hold();
    return result.value.finally(release);
  }

  /**
   * Wakes up to `count` threads waiting on this atomic (default: all) and returns how many woke.
   *
   * @example
   * ```ts
   * ready.store(1);
   * ready.notify();
   * ```
   *
   * **Throws**: `TypeError` / `RangeError` unless `count` is an integer from 0 to 2147483647.
   */
  notify(count?: number): number {
    if (count !== undefined) checkInteger("count", count, 0, 2 ** 31 - 1);
    return Atomics.notify(this.view as Int32Array, 0, count);
  }
}

/**
 * A `u32` in shared memory (Rust: `AtomicU32`). Values are integers from 0 to 4294967295; arithmetic
 * wraps around (`new AtomicU32(0).fetchSub(1)` leaves 4294967295).
 *
 * @example
 * ```ts
 * const requests = new AtomicU32();
 * requests.fetchAdd(1);
 * ```
 */
export class AtomicU32 extends AtomicInteger<number> {
  /**
   * @param initial - the starting value (default 0).
   * @throws TypeError / RangeError when `initial` is not an integer from 0 to 4294967295.
   */
  constructor(initial?: number) {
    super(U32, initial);
  }

  /**
   * Rebuilds an atomic over the same memory from an instance or its `handle`.
   *
   * @example
   * ```ts
   * // worker: the parent posted `{ counter }` (the AtomicU32 itself, or its handle)
   * const counter = AtomicU32.from(workerData.counter);
   * ```
   *
   * @throws TypeError for anything else (another type or version, a foreign or too small buffer).
   */
  static from(received: unknown): AtomicU32 {
    const handle = checkFromHandle(received, U32.tag, U32.name, 4);
    return adopt(AtomicU32, handle.buffer, handle.byteOffset);
  }

  /**
   * An atomic over 4 bytes of existing shared memory, without changing them.
   *
   * @example
   * ```ts
   * const hits = AtomicU32.at(buffer, 8);
   * ```
   *
   * @throws TypeError / RangeError as {@link AtomicI32.at}.
   */
  static at(buffer: SharedArrayBuffer, byteOffset = 0): AtomicU32 {
    checkPlace("AtomicU32.at", buffer, byteOffset, 4);
    return adopt(AtomicU32, buffer, byteOffset);
  }
}

/**
 * An `i64` in shared memory (Rust: `AtomicI64`), as a `bigint` from -9223372036854775808n to
 * 9223372036854775807n. Numbers are refused (`TypeError`): mixing them silently loses precision.
 *
 * @example
 * ```ts
 * const balance = new AtomicI64(100n);
 * balance.fetchSub(30n); // 100n
 * ```
 */
export class AtomicI64 extends AtomicInteger<bigint> {
  /**
   * @param initial - the starting value (default 0n).
   * @throws TypeError unless `initial` is a bigint; RangeError when it is out of range.
   */
  constructor(initial?: bigint) {
    super(I64, initial);
  }

  /**
   * Rebuilds an atomic over the same memory from an instance or its `handle`.
   *
   * @example
   * ```ts
   * // worker: the parent posted `{ counter }` (the AtomicI64 itself, or its handle)
   * const counter = AtomicI64.from(workerData.counter);
   * ```
   *
   * @throws TypeError for anything else (another type or version, a foreign or too small buffer).
   */
  static from(received: unknown): AtomicI64 {
    const handle = checkFromHandle(received, I64.tag, I64.name, 8);
    return adopt(AtomicI64, handle.buffer, handle.byteOffset);
  }

  /**
   * An atomic over 8 bytes of existing shared memory, without changing them.
   *
   * @example
   * ```ts
   * const total = AtomicI64.at(buffer, 16);
   * ```
   *
   * @throws TypeError unless `buffer` is a `SharedArrayBuffer` that holds 8 bytes at `byteOffset`;
   * RangeError unless `byteOffset` is a non-negative multiple of 8.
   */
  static at(buffer: SharedArrayBuffer, byteOffset = 0): AtomicI64 {
    checkPlace("AtomicI64.at", buffer, byteOffset, 8);
    return adopt(AtomicI64, buffer, byteOffset);
  }
}

/**
 * A `u64` in shared memory (Rust: `AtomicU64`), as a `bigint` from 0n to 18446744073709551615n;
 * arithmetic wraps around.
 *
 * @example
 * ```ts
 * const bytes = new AtomicU64();
 * bytes.fetchAdd(BigInt(chunk.length));
 * ```
 */
export class AtomicU64 extends AtomicInteger<bigint> {
  /**
   * @param initial - the starting value (default 0n).
   * @throws TypeError unless `initial` is a bigint; RangeError when it is out of range.
   */
  constructor(initial?: bigint) {
    super(U64, initial);
  }

  /**
   * Rebuilds an atomic over the same memory from an instance or its `handle`.
   *
   * @example
   * ```ts
   * // worker: the parent posted `{ counter }` (the AtomicU64 itself, or its handle)
   * const counter = AtomicU64.from(workerData.counter);
   * ```
   *
   * @throws TypeError for anything else (another type or version, a foreign or too small buffer).
   */
  static from(received: unknown): AtomicU64 {
    const handle = checkFromHandle(received, U64.tag, U64.name, 8);
    return adopt(AtomicU64, handle.buffer, handle.byteOffset);
  }

  /**
   * An atomic over 8 bytes of existing shared memory, without changing them.
   *
   * @example
   * ```ts
   * const total = AtomicU64.at(buffer, 16);
   * ```
   *
   * @throws TypeError / RangeError as {@link AtomicI64.at}.
   */
  static at(buffer: SharedArrayBuffer, byteOffset = 0): AtomicU64 {
    checkPlace("AtomicU64.at", buffer, byteOffset, 8);
    return adopt(AtomicU64, buffer, byteOffset);
  }
}

function checkBool(arg: string, value: unknown): number {
  if (typeof value !== "boolean") throw new TypeError(`Expected \`${arg}\` to be a boolean, got ${describe(value)}`);
  return value ? 1 : 0;
}

/**
 * A `bool` in one byte of shared memory (Rust: `AtomicBool`). Like Rust's, it has the logical
 * operations (`fetchAnd`, `fetchOr`, `fetchXor`, `fetchNand`, `fetchNot`) and no arithmetic.
 * Any non-zero byte reads as `true`.
 *
 * @example
 * ```ts
 * const stop = new AtomicBool(false);
 * worker.postMessage(stop);
 * // worker: const stop = AtomicBool.from(message); while (!stop.load()) work();
 * stop.store(true);
 * ```
 */
export class AtomicBool {
  declare readonly [interiorMutable]: true;
  /** Plain, structured-clone-safe description of this atomic (an own property, so posting the atomic works). */
  readonly handle: AtomicHandle;
  readonly #view: Uint8Array;

  /**
   * @param initial - the starting value (default `false`).
   * @throws TypeError when `initial` is not a boolean.
   */
  constructor(initial?: boolean) {
    const place = adopted;
    adopted = undefined;
    if (place !== undefined) {
      this.handle = makeHandle(BOOL_TAG, place.buffer, place.byteOffset);
      this.#view = new Uint8Array(place.buffer, place.byteOffset, 1);
    } else {
      const value = initial === undefined ? 0 : checkBool("initial", initial);
      const buffer = newSharedBuffer(1);
      this.handle = makeHandle(BOOL_TAG, buffer, 0);
      this.#view = new Uint8Array(buffer, 0, 1);
      Atomics.store(this.#view, 0, value);
    }
  }

  /** `console.log(atomic)` shows the type and value, such as `AtomicBool(true)`. */
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return `AtomicBool(${this.load()})`;
  }

  /**
   * Rebuilds an atomic over the same memory from an instance or its `handle`.
   *
   * @example
   * ```ts
   * // worker: the parent posted `{ counter }` (the AtomicBool itself, or its handle)
   * const counter = AtomicBool.from(workerData.counter);
   * ```
   *
   * @throws TypeError for anything else (another type or version, a foreign or too small buffer).
   */
  static from(received: unknown): AtomicBool {
    const handle = checkFromHandle(received, BOOL_TAG, "AtomicBool", 1);
    return adopt(AtomicBool, handle.buffer, handle.byteOffset);
  }

  /**
   * An atomic over one byte of existing shared memory (a `bool` struct field), without changing it.
   *
   * @example
   * ```ts
   * const done = AtomicBool.at(job.handle.buffer, job.handle.byteOffset + Job.offsetOf("done"));
   * ```
   *
   * @throws TypeError unless `buffer` is a `SharedArrayBuffer` that holds a byte at `byteOffset`;
   * RangeError unless `byteOffset` is a non-negative integer.
   */
  static at(buffer: SharedArrayBuffer, byteOffset = 0): AtomicBool {
    checkPlace("AtomicBool.at", buffer, byteOffset, 1);
    return adopt(AtomicBool, buffer, byteOffset);
  }

  /**
   * Reads the value.
   *
   * @example
   * ```ts
   * if (stop.load()) return;
   * ```
   */
  load(): boolean {
    return Atomics.load(this.#view, 0) !== 0;
  }

  /**
   * Writes the value.
   *
   * @example
   * ```ts
   * stop.store(true);
   * ```
   *
   * **Throws**: `TypeError` when `value` is not a boolean.
   */
  store(value: boolean): void {
    Atomics.store(this.#view, 0, checkBool("value", value));
  }

  /**
   * Writes `value` and returns the previous value.
   *
   * @example
   * ```ts
   * const wasSet = once.swap(true);
   * ```
   *
   * **Throws**: `TypeError` when `value` is not a boolean.
   */
  swap(value: boolean): boolean {
    return Atomics.exchange(this.#view, 0, checkBool("value", value)) !== 0;
  }

  /**
   * Writes `replacement` if the value is `expected`; returns the value found (the exchange happened
   * exactly when the result equals `expected`).
   *
   * @example
   * ```ts
   * if (claimed.compareExchange(false, true) === false) {
   *   // this thread claimed it
   * }
   * ```
   *
   * **Throws**: `TypeError` when `expected` or `replacement` is not a boolean.
   */
  compareExchange(expected: boolean, replacement: boolean): boolean {
    const want = checkBool("expected", expected);
    const next = checkBool("replacement", replacement);
    const view = this.#view;
    // A foreign writer may have left a non-zero byte other than 1, which still means `true`: compare
    // the meaning, not the byte, so `compareExchange(true, …)` succeeds on it.
    let found = Atomics.load(view, 0);
    for (;;) {
      if ((found !== 0 ? 1 : 0) !== want) return found !== 0;
      const seen = Atomics.compareExchange(view, 0, found, next);
      if (seen === found) return want === 1;
      found = seen;
    }
  }

  /**
   * Logical and with `value`; returns the previous value.
   *
   * @example
   * ```ts
   * healthy.fetchAnd(checkPassed);
   * ```
   *
   * **Throws**: `TypeError` when `value` is not a boolean.
   */
  fetchAnd(value: boolean): boolean {
    const operand = checkBool("value", value);
    return this.#update((current) => current & operand);
  }

  /**
   * Logical or with `value`; returns the previous value.
   *
   * @example
   * ```ts
   * const alreadyDirty = dirty.fetchOr(true);
   * ```
   *
   * **Throws**: `TypeError` when `value` is not a boolean.
   */
  fetchOr(value: boolean): boolean {
    const operand = checkBool("value", value);
    return this.#update((current) => current | operand);
  }

  /**
   * Logical exclusive or with `value`; returns the previous value.
   *
   * @example
   * ```ts
   * parity.fetchXor(true);
   * ```
   *
   * **Throws**: `TypeError` when `value` is not a boolean.
   */
  fetchXor(value: boolean): boolean {
    const operand = checkBool("value", value);
    return this.#update((current) => current ^ operand);
  }

  /**
   * Logical not-and (`!(current && value)`); returns the previous value.
   *
   * @example
   * ```ts
   * flag.fetchNand(true); // same as fetchNot()
   * ```
   *
   * **Throws**: `TypeError` when `value` is not a boolean.
   */
  fetchNand(value: boolean): boolean {
    const operand = checkBool("value", value);
    return this.#update((current) => (current & operand) ^ 1);
  }

  /**
   * Logical not; returns the previous value.
   *
   * @example
   * ```ts
   * const wasOn = light.fetchNot();
   * ```
   */
  fetchNot(): boolean {
    return this.#update((current) => current ^ 1);
  }

  /**
   * Applies `fn` in a compare-exchange loop until it sticks; returns the previous value, or
   * `undefined` (nothing written) when `fn` returns `undefined`. `fn` may run several times.
   *
   * @example
   * ```ts
   * const before = flag.fetchUpdate((on) => (on ? undefined : true));
   * ```
   *
   * **Throws**: `TypeError` when `fn` is not a function or returns neither a boolean nor `undefined`
   * (nothing is written then); whatever `fn` throws.
   */
  fetchUpdate(fn: (current: boolean) => boolean | undefined): boolean | undefined {
    checkFunction("fn", fn);
    const view = this.#view;
    let found = Atomics.load(view, 0);
    for (;;) {
      const next = fn(found !== 0);
      if (next === undefined) return undefined;
      const seen = Atomics.compareExchange(view, 0, found, checkBool("fn result", next));
      if (seen === found) return found !== 0;
      found = seen;
    }
  }

  /** Compare-exchange loop over the normalized bit (0 or 1); returns the previous value. */
  #update(next: (current: number) => number): boolean {
    const view = this.#view;
    let found = Atomics.load(view, 0);
    for (;;) {
      const bit = found !== 0 ? 1 : 0;
      const seen = Atomics.compareExchange(view, 0, found, next(bit));
      if (seen === found) return bit === 1;
      found = seen;
    }
  }
}
