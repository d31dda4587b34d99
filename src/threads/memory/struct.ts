/**
 * Struct layouts: fixed-size records in a `SharedArrayBuffer`, read and written through typed field
 * accessors (Rust: a `#[repr(C)]` struct behind a lock).
 *
 * ```ts
 * const Point = struct({ x: "f64", y: "f64", hits: "u32", label: string(16) });
 * const p = Point.create({ x: 1, label: "origin" });
 * worker.postMessage(p); // the worker: const p = Point.from(message), or StructLayout.fromHandle(message)
 * ```
 *
 * **Layout**: fields are laid out in declaration order (as JavaScript enumerates the object's keys:
 * integer-like keys first), each at the next offset that is a multiple of its alignment; the struct's
 * alignment is its largest field alignment and its size is rounded up to it — C's rules, so a
 * layout can be matched from C, Rust or WebAssembly. Multi-byte values use the platform's byte order,
 * the same as typed arrays and `Atomics`.
 *
 * | type | bytes | align | JS value |
 * |---|---|---|---|
 * | `"i8"` `"u8"` `"bool"` | 1 | 1 | `number` (`boolean`) |
 * | `"i16"` `"u16"` | 2 | 2 | `number` |
 * | `"i32"` `"u32"` `"f32"` | 4 | 4 | `number` |
 * | `"f64"` | 8 | 8 | `number` |
 * | `"i64"` `"u64"` | 8 | 8 | `bigint` |
 * | `array(t, n)` | n × size of t | align of t | typed array view (`Int32Array`, …) |
 * | `array(Layout, n)` | n × its size | its align | frozen array of instances |
 * | `string(max)` | 4 + max | 4 | `string` (a u32 byte length, then UTF-8) |
 * | nested struct | its size | its align | nested instance |
 *
 * Field accessors are plain (non-atomic) memory access: use a struct as the data of a threads lock,
 * or reach a single field atomically with `AtomicI32.at(buffer, byteOffset + Layout.offsetOf(name))`.
 *
 * @module
 */

import { checkInteger, describe } from "../../internal/validate.js";
import { checkHandle, checkSharedBuffer, type HandleBase, LAYOUT_VERSION } from "./handle.js";
import { newSharedBuffer } from "./shared-memory.js";
import { decodeRange, encoder } from "./utf8.js";

/** Scalar field types. */
export type ScalarType = "i8" | "u8" | "i16" | "u16" | "i32" | "u32" | "f32" | "f64" | "i64" | "u64" | "bool";

/** Element types of {@link array}: every scalar except `"bool"`. */
export type ElementType = Exclude<ScalarType, "bool">;

/** The typed array that views an {@link array} field of each element type. */
export interface TypedArrayOf {
  i8: Int8Array;
  u8: Uint8Array;
  i16: Int16Array;
  u16: Uint16Array;
  i32: Int32Array;
  u32: Uint32Array;
  f32: Float32Array;
  f64: Float64Array;
  i64: BigInt64Array;
  u64: BigUint64Array;
}

/** A fixed-length array field, made by {@link array}: of a scalar type, or of a struct layout. */
// biome-ignore lint/suspicious/noExplicitAny: any layout may be an element type
export interface ArrayType<E extends ElementType | StructLayout<any> = ElementType | StructLayout<any>> {
  readonly kind: "array";
  readonly element: E;
  readonly length: number;
}

/** Plain description of an array field, as carried in a handle. */
export interface ArrayDescription {
  readonly kind: "array";
  readonly element: ElementType | StructDescription;
  readonly length: number;
}

/** A fixed-capacity UTF-8 string field, made by {@link string}. */
export interface StringType {
  readonly kind: "string";
  readonly maxBytes: number;
}

/** Anything a struct field can be. */
// biome-ignore lint/suspicious/noExplicitAny: any layout may be nested; its own fields are checked where it was made
export type FieldType = ScalarType | ArrayType | StringType | StructLayout<any>;

/** A struct's field list: `{ name: type, … }`. */
export type Fields = { readonly [name: string]: FieldType };

/** The JavaScript value of a field of type `F`. */
export type FieldValue<F> = F extends "i64" | "u64"
  ? bigint
  : F extends "bool"
    ? boolean
    : F extends ScalarType
      ? number
      : F extends StringType
        ? string
        : F extends ArrayType<infer E>
          ? E extends ElementType
            ? TypedArrayOf[E]
            : E extends StructLayout<infer S>
              ? ReadonlyArray<Struct<S>>
              : never
          : F extends StructLayout<infer S>
            ? Struct<S>
            : never;

/** What a field accepts in {@link StructLayout.create}'s `init`. */
export type FieldInit<F> =
  F extends ArrayType<infer E>
    ? E extends StructLayout<infer S>
      ? ArrayLike<StructInit<S> | Struct<S>>
      : ArrayLike<E extends "i64" | "u64" ? bigint : number>
    : F extends StructLayout<infer S>
      ? StructInit<S> | Struct<S>
      : FieldValue<F>;

/** The `init` argument of {@link StructLayout.create}: any subset of the fields (the rest are zero). */
export type StructInit<S extends Fields> = { [K in keyof S]?: FieldInit<S[K]> };

/** Array and nested-struct fields are views into the struct's memory: they cannot be reassigned. */
type IsView<F> = F extends ArrayType | StructLayout<infer _> ? true : false;

/**
 * An instance of a struct with fields `S`: an accessor per field (array and nested-struct fields are
 * read-only views; write through them), plus its {@link StructHandle}.
 */
export type Struct<S extends Fields> = {
  -readonly [K in keyof S as IsView<S[K]> extends true ? never : K]: FieldValue<S[K]>;
} & {
  readonly [K in keyof S as IsView<S[K]> extends true ? K : never]: FieldValue<S[K]>;
} & {
  /** Structured-clone-safe description: memory, offset and layout. */
  readonly handle: StructHandle;
};

/**
 * An instance of some layout not known statically (what {@link StructLayout.fromHandle} returns):
 * narrow it with `as Infer<typeof Layout>`.
 */
export type AnyStruct = { readonly handle: StructHandle; [field: string]: unknown };

/** The instance type of a layout: `Infer<typeof Point>`. */
export type Infer<L> = L extends StructLayout<infer S> ? Struct<S> : never;

/** Plain description of one field type, as carried in a handle. */
export type FieldDescription = ScalarType | ArrayDescription | StringType | StructDescription;

/** Plain description of a layout, as carried in a handle: enough to rebuild it anywhere. */
export interface StructDescription {
  readonly kind: "struct";
  /** `[name, type]` pairs in layout order. */
  readonly fields: ReadonlyArray<readonly [string, FieldDescription]>;
}

/** The handle of a struct instance: `StructLayout.fromHandle(handle)` rebuilds it in any thread. */
export interface StructHandle extends HandleBase<"lockbox.threads.Struct"> {
  /** The shared memory. */
  readonly buffer: SharedArrayBuffer;
  /** Where the struct starts in `buffer`; a multiple of its alignment. */
  readonly byteOffset: number;
  /** The layout, so the receiving side need not declare it. */
  readonly layout: StructDescription;
}

const STRUCT_TAG = "lockbox.threads.Struct";
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const MAX_BYTES = 2 ** 30;

interface ScalarInfo {
  readonly size: 1 | 2 | 4 | 8;
  readonly Array: new (
    buffer: ArrayBufferLike,
    byteOffset: number,
    length: number,
  ) => ArrayLike<unknown> & {
    set(values: ArrayLike<unknown>): void;
  };
  readonly get: (view: DataView, offset: number) => unknown;
  readonly set: (view: DataView, offset: number, value: never) => void;
  /** Validates a value for this type (naming `arg`) and returns what to store. */
  readonly check: (arg: string, value: unknown) => unknown;
}

function intCheck(min: number, max: number) {
  return (arg: string, value: unknown) => checkInteger(arg, value, min, max);
}

function bigCheck(min: bigint, max: bigint) {
  return (arg: string, value: unknown): bigint => {
    if (typeof value !== "bigint") {
      throw new TypeError(`Expected \`${arg}\` to be a bigint from ${min}n to ${max}n, got ${describe(value)}`);
    }
    if (value < min || value > max) {
      throw new RangeError(`Expected \`${arg}\` to be a bigint from ${min}n to ${max}n, got ${describe(value)}`);
    }
    return value;
  };
}

function floatCheck(arg: string, value: unknown): number {
  if (typeof value !== "number") throw new TypeError(`Expected \`${arg}\` to be a number, got ${describe(value)}`);
  return value;
}

function boolCheck(arg: string, value: unknown): boolean {
  if (typeof value !== "boolean") throw new TypeError(`Expected \`${arg}\` to be a boolean, got ${describe(value)}`);
  return value;
}

const LE = LITTLE_ENDIAN;
const SCALARS: { readonly [T in ScalarType]: ScalarInfo } = {
  i8: {
    size: 1,
    Array: Int8Array,
    get: (v, o) => v.getInt8(o),
    set: (v, o, x: number) => v.setInt8(o, x),
    check: intCheck(-128, 127),
  },
  u8: {
    size: 1,
    Array: Uint8Array,
    get: (v, o) => v.getUint8(o),
    set: (v, o, x: number) => v.setUint8(o, x),
    check: intCheck(0, 255),
  },
  i16: {
    size: 2,
    Array: Int16Array,
    get: (v, o) => v.getInt16(o, LE),
    set: (v, o, x: number) => v.setInt16(o, x, LE),
    check: intCheck(-32768, 32767),
  },
  u16: {
    size: 2,
    Array: Uint16Array,
    get: (v, o) => v.getUint16(o, LE),
    set: (v, o, x: number) => v.setUint16(o, x, LE),
    check: intCheck(0, 65535),
  },
  i32: {
    size: 4,
    Array: Int32Array,
    get: (v, o) => v.getInt32(o, LE),
    set: (v, o, x: number) => v.setInt32(o, x, LE),
    check: intCheck(-(2 ** 31), 2 ** 31 - 1),
  },
  u32: {
    size: 4,
    Array: Uint32Array,
    get: (v, o) => v.getUint32(o, LE),
    set: (v, o, x: number) => v.setUint32(o, x, LE),
    check: intCheck(0, 2 ** 32 - 1),
  },
  f32: {
    size: 4,
    Array: Float32Array,
    get: (v, o) => v.getFloat32(o, LE),
    set: (v, o, x: number) => v.setFloat32(o, x, LE),
    check: floatCheck,
  },
  f64: {
    size: 8,
    Array: Float64Array,
    get: (v, o) => v.getFloat64(o, LE),
    set: (v, o, x: number) => v.setFloat64(o, x, LE),
    check: floatCheck,
  },
  i64: {
    size: 8,
    Array: BigInt64Array,
    get: (v, o) => v.getBigInt64(o, LE),
    set: (v, o, x: bigint) => v.setBigInt64(o, x, LE),
    check: bigCheck(-(2n ** 63n), 2n ** 63n - 1n),
  },
  u64: {
    size: 8,
    Array: BigUint64Array,
    get: (v, o) => v.getBigUint64(o, LE),
    set: (v, o, x: bigint) => v.setBigUint64(o, x, LE),
    check: bigCheck(0n, 2n ** 64n - 1n),
  },
  bool: {
    size: 1,
    Array: Uint8Array,
    get: (v, o) => v.getUint8(o) !== 0,
    set: (v, o, x: boolean) => v.setUint8(o, x ? 1 : 0),
    check: boolCheck,
  },
};

function isScalar(type: unknown): type is ScalarType {
  return typeof type === "string" && Object.hasOwn(SCALARS, type);
}

/**
 * A fixed-length array field of `length` elements of `element` type. The instance shows an array of
 * a scalar type as the matching typed array (`Int32Array` for `"i32"`, `BigInt64Array` for `"i64"`,
 * …) over the struct's memory, and an array of a struct layout as a frozen array of instances (made
 * on first access), laid out back to back like C's `T items[n]`.
 *
 * @example
 * ```ts
 * const Histogram = struct({ buckets: array("u32", 16) });
 * const h = Histogram.create();
 * h.buckets[3]++;
 *
 * const Slot = struct({ busy: "bool", jobId: "u32" });
 * const Table = struct({ slots: array(Slot, 8) });
 * Table.create().slots[2].jobId = 7;
 * ```
 *
 * @throws TypeError unless `element` is a scalar type other than `"bool"` or a struct layout;
 * RangeError unless `length` is an integer from 1 to 2 ** 30 / element size.
 */
// biome-ignore lint/suspicious/noExplicitAny: any layout may be an element type
export function array<const E extends ElementType | StructLayout<any>>(element: E, length: number): ArrayType<E> {
  if (element instanceof StructLayout) {
    checkInteger("length", length, 1, Math.floor(MAX_BYTES / Math.max(element.size, 1)));
    return Object.freeze({ kind: "array", element, length });
  }
  if (!isScalar(element) || (element as ScalarType) === "bool") {
    throw new TypeError(
      `Expected \`element\` to be a struct layout or one of "i8" "u8" "i16" "u16" "i32" "u32" "f32" "f64" "i64" "u64", got ${describe(element)}`,
    );
  }
  checkInteger("length", length, 1, MAX_BYTES / SCALARS[element as ElementType].size);
  return Object.freeze({ kind: "array", element, length });
}

/**
 * A UTF-8 string field that holds up to `maxBytes` bytes (not characters: "é" takes 2, "😀" 4).
 * Writing a longer string throws `RangeError` and leaves the field unchanged. Lone surrogates are
 * stored as U+FFFD, as `TextEncoder` does.
 *
 * @example
 * ```ts
 * const User = struct({ name: string(32) });
 * User.create({ name: "Zoë" }).name; // "Zoë"
 * ```
 *
 * @throws RangeError unless `maxBytes` is an integer from 1 to 2 ** 30.
 */
export function string(maxBytes: number): StringType {
  checkInteger("maxBytes", maxBytes, 1, MAX_BYTES);
  return Object.freeze({ kind: "string", maxBytes });
}

/** Symbol-keyed slots of an instance: structured clone skips symbol keys, so only `handle` crosses. */
const VIEW: unique symbol = Symbol("lockbox.struct.view");
const BYTES: unique symbol = Symbol("lockbox.struct.bytes");
const SUBS: unique symbol = Symbol("lockbox.struct.subs");
const LAYOUT: unique symbol = Symbol("lockbox.struct.layout");

/** What every instance of every layout is; the per-layout accessors live on a subclass's prototype. */
class StructBase {
  readonly handle: StructHandle;
  /** DataView over exactly this struct's bytes: field offsets are relative to it. */
  readonly [VIEW]: DataView;
  /** The same bytes, for strings and copies. */
  readonly [BYTES]: Uint8Array;
  /** Array views and nested instances, by field index (undefined for other fields). */
  readonly [SUBS]: unknown[];
  declare readonly [LAYOUT]: StructLayout<Fields>;

  constructor(handle: StructHandle, buffer: ArrayBufferLike, byteOffset: number, size: number, subs: unknown[]) {
    this.handle = handle;
    this[VIEW] = new DataView(buffer, byteOffset, size);
    this[BYTES] = new Uint8Array(buffer, byteOffset, size);
    this[SUBS] = subs;
    // An instance has exactly its layout's fields: `point.z = 1` on an { x, y } layout would otherwise
    // add a plain property that lives in this thread only and silently never reaches shared memory.
    // Non-extensible, it throws a TypeError naming the property (in strict code, such as any module).
    Object.preventExtensions(this);
  }

  /** `console.log(instance)` shows the fields, not the memory. */
  [Symbol.for("nodejs.util.inspect.custom")](): unknown {
    return this[LAYOUT].toObject(this as unknown as Struct<Fields>);
  }
}

/** A laid-out field. */
interface Field {
  readonly name: string;
  readonly index: number;
  readonly offset: number;
  readonly type: FieldDescription;
  /** Set for nested structs. */
  readonly layout: StructLayout<Fields> | undefined;
  /** Set for arrays of structs. */
  readonly elementLayout: StructLayout<Fields> | undefined;
}

/** Privileged access of the accessors to `StructLayout`; set once by the class. */
let instantiateAt: (layout: StructLayout<Fields>, buffer: ArrayBufferLike, byteOffset: number) => StructBase;

/** Passed by {@link struct}: layouts cannot be constructed from outside. */
const LAYOUT_TOKEN: unique symbol = Symbol("lockbox.struct.layout-token");

/** Scratch memory for encoding string fields up to this capacity (one per thread, reused). */
const MAX_SCRATCH = 4096;
let encodeScratch: Uint8Array | undefined;

function isShortAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) >= 0x80) return false;
  return true;
}

/**
 * Decodes `length` UTF-8 bytes at `start`. Short ASCII (the common case for names and keys) is built
 * directly; anything else goes through TextDecoder (after a copy out of shared memory on the web).
 */
function decodeUtf8(bytes: Uint8Array, start: number, length: number): string {
  if (length <= 64) {
    let text = "";
    let i = 0;
    for (; i < length; i++) {
      const byte = bytes[start + i]!;
      if (byte >= 0x80) break;
      text += String.fromCharCode(byte);
    }
    if (i === length) return text;
  }
  return decodeRange(bytes, start, start + length);
}

/** Layouts rebuilt from handles, by their description's JSON: one prototype per distinct layout. */
const rebuilt = new Map<string, StructLayout<Fields>>();

/**
 * A struct layout, made by {@link struct}: allocates instances (`create`), rebuilds them from handles
 * (`from`), and can itself be a field type of another struct.
 *
 * @example
 * ```ts
 * const Stats = struct({ hits: "u32", bytes: "u64" });
 * const stats = Stats.create();
 * const lock = new Mutex(stats); // lockbox/threads: the worker gets a working guard.value
 * Stats.size; // 16
 * ```
 *
 * Accessors are defined once per layout on a prototype, so instances are cheap and monomorphic.
 */
export class StructLayout<S extends Fields> {
  /** Bytes an instance takes (a multiple of {@link align}). */
  readonly size: number;
  /** Alignment in bytes: the largest field alignment (1 for an empty struct). */
  readonly align: number;
  /** Plain description, as carried in handles. */
  readonly description: StructDescription;
  readonly #fields: readonly Field[];
  readonly #byName: ReadonlyMap<string, Field>;
  /** `JSON.stringify(description)`: two layouts are the same layout exactly when their keys are equal. */
  readonly #key: string;
  readonly #Instance: new (
    handle: StructHandle,
    buffer: ArrayBufferLike,
    byteOffset: number,
    size: number,
    subs: unknown[],
  ) => StructBase;

  static {
    instantiateAt = (layout, buffer, byteOffset) => layout.#instantiate(buffer, byteOffset);
  }

  /** @internal Use {@link struct}. */
  constructor(token: typeof LAYOUT_TOKEN, description: StructDescription) {
    if (token !== LAYOUT_TOKEN) throw new TypeError("StructLayout cannot be constructed directly; use struct()");
    const fields: Field[] = [];
    let offset = 0;
    let align = 1;
    for (const [name, type] of description.fields) {
      const layout = typeof type === "object" && type.kind === "struct" ? layoutOfDescription(type) : undefined;
      const elementLayout =
        typeof type === "object" && type.kind === "array" && typeof type.element === "object"
          ? layoutOfDescription(type.element)
          : undefined;
      const [size, fieldAlign] = sizeAndAlign(type, layout ?? elementLayout);
      offset = roundUp(offset, fieldAlign);
      fields.push({ name, index: fields.length, offset, type, layout, elementLayout });
      offset += size;
      align = Math.max(align, fieldAlign);
    }
    this.size = roundUp(offset, align);
    if (this.size > MAX_BYTES) {
      throw new RangeError(`Expected a struct of at most ${MAX_BYTES} bytes, got ${this.size}`);
    }
    this.align = align;
    this.description = description;
    this.#fields = fields;
    this.#byName = new Map(fields.map((field) => [field.name, field]));
    this.#key = JSON.stringify(description);
    this.#Instance = class extends StructBase {};
    Object.defineProperty(this.#Instance.prototype, LAYOUT, { value: this });
    for (const field of fields) defineAccessor(this.#Instance.prototype, field);
  }

  /**
   * Allocates a zeroed `SharedArrayBuffer` of {@link size} bytes and returns an instance over it with
   * `init`'s fields written (the others stay zero, `false` or `""`).
   *
   * @example
   * ```ts
   * const Job = struct({ id: "u32", progress: "f64", done: "bool" });
   * const job = Job.create({ id: 7 });
   * job.progress = 0.5;
   * ```
   *
   * **Throws**: `TypeError` for an unknown field name or a value of the wrong kind, `RangeError` for
   * an out-of-range number, a too-long string or array.
   */
  create(init?: StructInit<S>): Struct<S> {
    const instance = this.#instantiate(newSharedBuffer(this.size), 0);
    if (init !== undefined) this.#assign(instance, init, "init");
    return instance as unknown as Struct<S>;
  }

  /**
   * Rebuilds an instance over the same memory from an instance of this layout or its `handle` (in any
   * thread).
   *
   * @example
   * ```ts
   * // worker
   * const job = Job.from(workerData.job);
   * ```
   *
   * **Throws**: `TypeError` for anything else: another type's handle, another layout (compared field by
   * field), another layout version, a buffer that is not a `SharedArrayBuffer` or too small, a
   * misaligned `byteOffset`.
   */
  from(received: unknown): Struct<S> {
    const handle = checkHandle<StructHandle>(received, STRUCT_TAG, "StructLayout.from");
    let key: string | undefined;
    try {
      key = JSON.stringify(handle.layout);
    } catch {}
    if (key !== this.#key) {
      throw new TypeError("Expected `StructLayout.from` argument to be a handle of this layout, got another layout");
    }
    return this.#fromHandle(handle) as unknown as Struct<S>;
  }

  /**
   * Rebuilds an instance of whatever layout a handle (or an instance) carries, without declaring the
   * layout: the receiving side of a `postMessage` needs no import of it.
   *
   * @example
   * ```ts
   * // worker
   * const job = StructLayout.fromHandle(workerData.job) as Infer<typeof Job>;
   * ```
   *
   * **Throws**: `TypeError` for anything but a struct handle of this layout version over a large
   * enough `SharedArrayBuffer`, or a malformed layout description.
   */
  static fromHandle(received: unknown): AnyStruct {
    const handle = checkHandle<StructHandle>(received, STRUCT_TAG, "StructLayout.fromHandle");
    const layout = layoutOfDescription(handle.layout);
    return layout.#fromHandle(handle) as unknown as AnyStruct;
  }

  /** The layout of a struct instance, or `undefined` for anything else. @internal */
  static layoutOf(value: unknown): StructLayout<Fields> | undefined {
    return value instanceof StructBase ? value[LAYOUT] : undefined;
  }

  /**
   * Byte offset of a field from the start of the struct (for `AtomicI32.at` and friends).
   *
   * @example
   * ```ts
   * const hits = AtomicU32.at(s.handle.buffer, s.handle.byteOffset + Stats.offsetOf("hits"));
   * ```
   *
   * **Throws**: `TypeError` when the struct has no field `name`.
   */
  offsetOf(name: keyof S & string): number {
    const field = this.#byName.get(name);
    if (field === undefined)
      throw new TypeError(`Expected \`name\` to be a field of this struct, got ${describe(name)}`);
    return field.offset;
  }

  /**
   * Writes every field of `next` into `instance`, as `create(next)` would have them: fields `next`
   * omits become zero. `next` is checked completely first, so on error `instance` is unchanged.
   * `next` may be a plain object or an instance of this layout (whose bytes are copied).
   *
   * @example
   * ```ts
   * Point.replace(p, { x: 1, y: 2 });
   * ```
   *
   * **Throws**: as {@link create}; `TypeError` when `instance` is not an instance of this layout.
   */
  replace(instance: Struct<S>, next: StructInit<S> | Struct<S>): void {
    const target = this.#check(instance, "instance");
    let source: StructBase;
    if (next instanceof StructBase && next[LAYOUT].#key === this.#key) {
      source = next;
    } else {
      // Stage the whole value in private memory: a bad field throws before shared memory is touched.
      source = this.#instantiate(new ArrayBuffer(this.size), 0);
      this.#assign(source, next, "value");
    }
    target[BYTES].set(source[BYTES]);
  }

  /**
   * A plain-object snapshot of an instance: numbers, bigints, booleans, strings, arrays (plain
   * arrays, copied) and nested plain objects. Handy for logging, `JSON`-like comparisons and tests.
   *
   * @example
   * ```ts
   * Point.toObject(p); // { x: 1, y: 2 }
   * ```
   *
   * **Throws**: `TypeError` when `instance` is not an instance of this layout.
   */
  toObject(instance: Struct<S>): Record<string, unknown> {
    const target = this.#check(instance, "instance") as unknown as Record<string, unknown>;
    const result: Record<string, unknown> = {};
    for (const field of this.#fields) {
      const value = target[field.name];
      const elementLayout = field.elementLayout;
      if (field.layout !== undefined) result[field.name] = field.layout.toObject(value as Struct<Fields>);
      else if (elementLayout !== undefined) {
        result[field.name] = Array.from(value as ArrayLike<Struct<Fields>>, (item) => elementLayout.toObject(item));
      } else if (typeof field.type === "object" && field.type.kind === "array") {
        result[field.name] = Array.from(value as ArrayLike<unknown>);
      } else result[field.name] = value;
    }
    return result;
  }

  #check(instance: unknown, arg: string): StructBase {
    if (!(instance instanceof StructBase) || instance[LAYOUT].#key !== this.#key) {
      throw new TypeError(`Expected \`${arg}\` to be an instance of this struct layout, got ${describe(instance)}`);
    }
    return instance;
  }

  #fromHandle(handle: StructHandle): StructBase {
    // A bad offset is a malformed handle, not a bad argument: TypeError like every other `from` check.
    const byteOffset: unknown = handle.byteOffset;
    if (
      typeof byteOffset !== "number" ||
      !Number.isSafeInteger(byteOffset) ||
      byteOffset < 0 ||
      byteOffset % this.align !== 0
    ) {
      throw new TypeError(
        `Expected \`handle.byteOffset\` to be a non-negative multiple of ${this.align} (the struct's alignment), got ${describe(byteOffset)}`,
      );
    }
    const buffer = checkSharedBuffer("handle.buffer", handle.buffer, byteOffset + this.size);
    return this.#instantiate(buffer, byteOffset);
  }

  #instantiate(buffer: ArrayBufferLike, byteOffset: number): StructBase {
    const subs: unknown[] = [];
    for (const field of this.#fields) {
      const at = byteOffset + field.offset;
      if (field.layout !== undefined) subs[field.index] = field.layout.#instantiate(buffer, at);
      else if (field.elementLayout === undefined && typeof field.type === "object" && field.type.kind === "array") {
        subs[field.index] = new SCALARS[field.type.element as ElementType].Array(buffer, at, field.type.length);
      }
      // Arrays of structs are built on first access (see defineAccessor): n instances can be many.
    }
    const handle: StructHandle = Object.freeze({
      type: STRUCT_TAG,
      version: LAYOUT_VERSION,
      buffer: buffer as SharedArrayBuffer,
      byteOffset,
      layout: this.description,
    });
    return new this.#Instance(handle, buffer, byteOffset, this.size, subs);
  }

  /** Writes `init`'s fields into `target`; `path` names the argument in errors (`init.pos.x`). */
  #assign(target: StructBase, init: unknown, path: string): void {
    if (init instanceof StructBase) {
      if (init[LAYOUT].#key !== this.#key) {
        throw new TypeError(`Expected \`${path}\` to be an instance of the same struct layout, got another layout`);
      }
      target[BYTES].set(init[BYTES]);
      return;
    }
    if (typeof init !== "object" || init === null || Array.isArray(init)) {
      throw new TypeError(`Expected \`${path}\` to be an object of field values, got ${describe(init)}`);
    }
    const fields = target as unknown as Record<string, unknown>;
    for (const name of Object.keys(init)) {
      const value = (init as Record<string, unknown>)[name];
      const field = this.#byName.get(name);
      if (field === undefined) {
        throw new TypeError(
          `Expected \`${path}\` to have only fields of this struct (${[...this.#byName.keys()].join(", ")}), got ${describe(name)}`,
        );
      }
      if (value === undefined) continue;
      const type = field.type;
      if (field.layout !== undefined) {
        field.layout.#assign(target[SUBS][field.index] as StructBase, value, `${path}.${name}`);
      } else if (field.elementLayout !== undefined && typeof type === "object" && type.kind === "array") {
        const source = checkArrayLike(value, type.length, `${path}.${name}`);
        const items = fields[name] as readonly StructBase[];
        for (let i = 0; i < source.length; i++) {
          field.elementLayout.#assign(items[i]!, source[i], `${path}.${name}[${i}]`);
        }
      } else if (typeof type === "object" && type.kind === "array") {
        writeArray(
          target[SUBS][field.index] as ArrayLike<unknown> & { set(v: ArrayLike<unknown>): void },
          type,
          value,
          `${path}.${name}`,
        );
      } else {
        fields[name] = value;
      }
    }
  }
}

function checkArrayLike(value: unknown, length: number, path: string): ArrayLike<unknown> {
  if (typeof value !== "object" || value === null || typeof (value as ArrayLike<unknown>).length !== "number") {
    throw new TypeError(`Expected \`${path}\` to be an array or typed array, got ${describe(value)}`);
  }
  const source = value as ArrayLike<unknown>;
  if (source.length > length) {
    throw new RangeError(`Expected \`${path}\` to have at most ${length} elements, got ${source.length}`);
  }
  return source;
}

function writeArray(
  view: ArrayLike<unknown> & { set(values: ArrayLike<unknown>): void },
  type: ArrayDescription,
  value: unknown,
  path: string,
): void {
  const source = checkArrayLike(value, type.length, path);
  const check = SCALARS[type.element as ElementType].check;
  const values: unknown[] = [];
  for (let i = 0; i < source.length; i++) values.push(check(`${path}[${i}]`, source[i]));
  view.set(values);
}

function roundUp(value: number, align: number): number {
  return Math.ceil(value / align) * align;
}

function sizeAndAlign(type: FieldDescription, layout: StructLayout<Fields> | undefined): [number, number] {
  if (layout !== undefined && typeof type === "object" && type.kind === "struct") return [layout.size, layout.align];
  if (typeof type === "string") return [SCALARS[type].size, SCALARS[type].size];
  if (type.kind === "array") {
    // An array of structs: `layout` is the element's layout, whose size is a multiple of its alignment.
    if (layout !== undefined) return [layout.size * type.length, layout.align];
    const size = SCALARS[type.element as ElementType].size;
    return [size * type.length, size];
  }
  if (type.kind === "string") return [4 + type.maxBytes, 4];
  throw new TypeError(`Unknown field type ${describe(type)}`);
}

/** Defines the accessor of `field` on a layout's prototype. */
function defineAccessor(proto: object, field: Field): void {
  const { name, offset, type, index } = field;
  let descriptor: PropertyDescriptor;
  if (typeof type === "string") {
    const { get, set, check } = SCALARS[type];
    descriptor = {
      get(this: StructBase) {
        return get(this[VIEW], offset);
      },
      set(this: StructBase, value: unknown) {
        set(this[VIEW], offset, check(name, value) as never);
      },
    };
  } else if (type.kind === "string") {
    const maxBytes = type.maxBytes;
    descriptor = {
      get(this: StructBase) {
        // A foreign writer could leave any length: never read past the capacity.
        const length = Math.min(this[VIEW].getUint32(offset, LE), maxBytes);
        return decodeUtf8(this[BYTES], offset + 4, length);
      },
      set(this: StructBase, value: unknown) {
        if (typeof value !== "string") {
          throw new TypeError(`Expected \`${name}\` to be a string, got ${describe(value)}`);
        }
        const bytes = this[BYTES];
        const length = value.length;
        if (length <= maxBytes && length <= 64 && isShortAscii(value)) {
          for (let i = 0; i < length; i++) bytes[offset + 4 + i] = value.charCodeAt(i);
          this[VIEW].setUint32(offset, length, LE);
          return;
        }
        // Encode into private scratch memory first, so shared memory is only written once the whole
        // value is known to fit. A UTF-16 unit takes at most 3 bytes, so `room` holds any string that
        // fits the capacity, and encodeInto stops early (read < length) exactly when it does not.
        const room = Math.min(maxBytes, length * 3);
        const scratch = (encodeScratch ??= new Uint8Array(MAX_SCRATCH));
        const target = room <= MAX_SCRATCH ? scratch.subarray(0, room) : new Uint8Array(room);
        const { read, written } = encoder.encodeInto(value, target);
        if (read < value.length) {
          throw new RangeError(
            `Expected \`${name}\` to be a string of at most ${maxBytes} UTF-8 bytes, got ${encoder.encode(value).length} bytes`,
          );
        }
        bytes.set(target.subarray(0, written), offset + 4);
        this[VIEW].setUint32(offset, written, LE);
      },
    };
  } else if (field.elementLayout !== undefined && type.kind === "array") {
    const elementLayout = field.elementLayout;
    const { length } = type;
    descriptor = {
      get(this: StructBase) {
        const subs = this[SUBS];
        let items = subs[index];
        if (items === undefined) {
          const view = this[VIEW];
          const start = view.byteOffset + offset;
          const list: StructBase[] = [];
          for (let i = 0; i < length; i++) {
            list.push(instantiateAt(elementLayout, view.buffer, start + i * elementLayout.size));
          }
          subs[index] = items = Object.freeze(list);
        }
        return items;
      },
    };
  } else {
    descriptor = {
      get(this: StructBase) {
        return this[SUBS][index];
      },
    };
  }
  Object.defineProperty(proto, name, { ...descriptor, enumerable: true, configurable: false });
}

const RESERVED = new Set(["handle", "__proto__", "constructor"]);

/** Checks a field list (from `struct()` or a received description) and normalizes it to a description. */
function describeFields(entries: ReadonlyArray<readonly [string, unknown]>, path: string): StructDescription {
  const fields: [string, FieldDescription][] = [];
  const seen = new Set<string>();
  for (const [name, type] of entries) {
    // Only a received description can repeat a name (object keys are unique).
    if (seen.has(name))
      throw new TypeError(`Expected \`${path}\` field names to be unique, got ${describe(name)} twice`);
    seen.add(name);
    if (RESERVED.has(name)) {
      throw new TypeError(
        `Expected \`${path}\` field names other than "handle", "__proto__" and "constructor", got ${describe(name)}`,
      );
    }
    fields.push([name, describeType(type, `${path}.${name}`)]);
  }
  return Object.freeze({ kind: "struct", fields: Object.freeze(fields.map((pair) => Object.freeze(pair))) });
}

function describeType(type: unknown, path: string): FieldDescription {
  if (isScalar(type)) return type;
  if (type instanceof StructLayout) return type.description;
  if (typeof type === "object" && type !== null) {
    const kind = (type as { kind?: unknown }).kind;
    if (kind === "array") {
      const { element, length } = type as { element: unknown; length: unknown };
      if (typeof element === "object" && element !== null) {
        const description = describeType(element, `${path}[]`);
        if (typeof description !== "object" || description.kind !== "struct") {
          throw new TypeError(
            `Expected \`${path}\` elements to be a scalar type or a struct, got ${describe(element)}`,
          );
        }
        checkInteger("length", length, 1, MAX_BYTES);
        return Object.freeze({ kind: "array", element: description, length: length as number });
      }
      return array(element as ElementType, length as number);
    }
    if (kind === "string") return string((type as StringType).maxBytes);
    if (kind === "struct") {
      const fields = (type as StructDescription).fields;
      if (!Array.isArray(fields) || !fields.every((pair) => Array.isArray(pair) && typeof pair[0] === "string")) {
        throw new TypeError(`Expected \`${path}\` to be a struct description, got ${describe(type)}`);
      }
      return describeFields(fields as [string, unknown][], path);
    }
  }
  throw new TypeError(
    `Expected \`${path}\` to be a field type ("i8" … "u64", "bool", array(), string() or a struct), got ${describe(type)}`,
  );
}

/** The layout of a checked description, shared by every handle that carries the same one. */
function layoutOfDescription(description: StructDescription): StructLayout<Fields> {
  const checked = describeType(description, "handle.layout");
  if (typeof checked !== "object" || checked.kind !== "struct") {
    throw new TypeError(`Expected \`handle.layout\` to be a struct description, got ${describe(description)}`);
  }
  const key = JSON.stringify(checked);
  let layout = rebuilt.get(key);
  if (layout === undefined) {
    layout = new StructLayout(LAYOUT_TOKEN, checked);
    rebuilt.set(key, layout);
  }
  return layout;
}

/**
 * Declares a struct layout: `{ field: type, … }` with scalar types (`"i8"` … `"u64"`, `"f32"`,
 * `"f64"`, `"bool"`), {@link array}, {@link string} or another layout (nested by value).
 *
 * @example
 * ```ts
 * const Vec2 = struct({ x: "f32", y: "f32" });
 * const Player = struct({ id: "u64", pos: Vec2, name: string(24), scores: array("i32", 8), alive: "bool" });
 * type Player = Infer<typeof Player>;
 *
 * const p = Player.create({ id: 1n, pos: { x: 3 }, name: "ada" });
 * p.pos.y = 4;
 * p.scores[0] = 10;
 * worker.postMessage(p); // worker: Player.from(message), or StructLayout.fromHandle(message)
 * ```
 *
 * **Throws**: `TypeError` for an unknown field type or a reserved field name (`handle`,
 * `constructor`, `__proto__`); `RangeError` when the struct would exceed 2 ** 30 bytes.
 */
export function struct<const S extends Fields>(fields: S): StructLayout<S> {
  if (typeof fields !== "object" || fields === null || Array.isArray(fields)) {
    throw new TypeError(`Expected \`fields\` to be an object of field types, got ${describe(fields)}`);
  }
  const description = describeFields(Object.entries(fields), "fields");
  return new StructLayout<S>(LAYOUT_TOKEN, description);
}
