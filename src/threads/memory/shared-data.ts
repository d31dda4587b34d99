/**
 * The seam between the threads locks (which own data) and the shared-data layouts (which describe
 * it). A lock asks `bindData(data)` once; its guards then call `open` on acquire, `replace` for
 * `guard.value = x`, and `close` on release. The locks know nothing about layouts: everything
 * kind-specific is here.
 *
 * | data | `open()` shows | `replace(next)` | `close(current)` | handle |
 * |---|---|---|---|---|
 * | `null` (a bare lock) | `null` | throws `TypeError` | nothing | `null` |
 * | `SharedArrayBuffer` | the buffer | copies `next`'s bytes (same byte length) | nothing | the buffer |
 * | typed array / `DataView` over one | the view | copies `next` in (same length) | nothing | the view |
 * | struct instance | the instance | writes every field (`Layout.replace`) | nothing | `instance.handle` |
 * | JSON cell | a decoded plain value | keeps `next` | writes back if its JSON changed | `cell.handle` |
 *
 * Everything but JSON is shown in place: what a guard writes is in shared memory at once. Replacing
 * copies into the same memory, so every thread keeps seeing the one shared value.
 */

import { describe } from "../../internal/validate.js";
import { bindJson, JsonCell } from "./json.js";
import { type AnyStruct, type Fields, type Struct, StructLayout } from "./struct.js";

/**
 * Structured-clone-safe description of a lock's data, carried inside the lock's handle: `null`, the
 * `SharedArrayBuffer` or view itself (they clone as views of the same memory), or a struct / JSON
 * handle.
 */
export type DataHandle = unknown;

/** How a guard reaches a lock's data. */
export interface DataBinding<V> {
  /** On acquire: the value the guard exposes (the view itself, or a decoded JSON value). */
  open(): V;
  /** On `guard.value = next`: store `next` and return what `value` shows from now on. */
  replace(next: V): V;
  /** On release, with what `value` showed last: JSON writes back here (RangeError past maxBytes, value unchanged). */
  close(current: V): void;
}

/** What `guard.value` is for a lock that owns `T`: a JSON cell shows its decoded value, the rest themselves. */
export type GuardValue<T> = T extends JsonCell<infer V> ? V : T;

/** Data a threads lock can own (see the module docs). */
export type SharedData = null | SharedArrayBuffer | ArrayBufferView | JsonCell<unknown> | AnyStruct;

type Kind = "null" | "buffer" | "view" | "struct" | "json";

function isSharedView(value: unknown): value is ArrayBufferView {
  return (
    ArrayBuffer.isView(value) && typeof SharedArrayBuffer !== "undefined" && value.buffer instanceof SharedArrayBuffer
  );
}

function kindOf(data: unknown, name: string): Kind {
  if (data === null) return "null";
  if (typeof SharedArrayBuffer !== "undefined" && data instanceof SharedArrayBuffer) return "buffer";
  if (isSharedView(data)) return "view";
  if (data instanceof JsonCell) return "json";
  if (StructLayout.layoutOf(data) !== undefined) return "struct";
  const hint = ArrayBuffer.isView(data) ? " (this view is over a plain ArrayBuffer, which threads cannot share)" : "";
  throw new TypeError(
    `Expected \`${name}\` to be shareable data (a SharedArrayBuffer, a typed array or DataView over one, null, a struct instance or a json() cell), got ${describe(data)}${hint}`,
  );
}

/** The bytes of a buffer or view, for byte-wise copies. */
function bytesOf(value: unknown): Uint8Array | undefined {
  if (
    value instanceof ArrayBuffer ||
    (typeof SharedArrayBuffer !== "undefined" && value instanceof SharedArrayBuffer)
  ) {
    return new Uint8Array(value);
  }
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  return undefined;
}

function copyBytes(target: Uint8Array, next: unknown): void {
  const source = bytesOf(next);
  if (source === undefined) {
    throw new TypeError(`Expected \`value\` to be an ArrayBuffer, SharedArrayBuffer or view, got ${describe(next)}`);
  }
  if (source.length !== target.length) {
    throw new RangeError(`Expected \`value\` to be ${target.length} bytes long, got ${source.length}`);
  }
  target.set(source);
}

/**
 * Checks that `data` can be shared between threads and returns how a guard reaches it.
 *
 * @example
 * ```ts
 * const binding = bindData(Point.create());
 * const value = binding.open(); // on acquire
 * binding.close(value); // on release
 * ```
 *
 * **Throws**: `TypeError` for data threads cannot share: a plain object or array, a typed array over
 * a plain `ArrayBuffer`, a primitive, `undefined`. The binding's `replace` throws `TypeError` /
 * `RangeError` for a value of the wrong kind or size (the data is unchanged); JSON's `close` throws
 * `RangeError` past `maxBytes` and `TypeError` for a value without JSON form (stored value unchanged).
 */
export function bindData<T>(data: T): DataBinding<GuardValue<T>> {
  const kind = kindOf(data, "data");
  type V = GuardValue<T>;
  switch (kind) {
    case "null":
      return {
        open: () => null as V,
        replace() {
          throw new TypeError("Cannot assign `value` of a lock without data (null): it holds no value");
        },
        close() {},
      };
    case "buffer":
    case "view": {
      const view = data as unknown as ArrayBufferView | SharedArrayBuffer;
      const isTyped = kind === "view" && !(view instanceof DataView);
      return {
        open: () => data as V,
        replace(next) {
          if ((next as unknown) === data) return data as V;
          if (isTyped) {
            const target = view as unknown as { length: number; set(source: ArrayLike<unknown>): void };
            const source = next as unknown as ArrayLike<unknown> | null;
            if (typeof source !== "object" || source === null || typeof source.length !== "number") {
              throw new TypeError(`Expected \`value\` to be an array or typed array, got ${describe(next)}`);
            }
            if (source.length !== target.length) {
              throw new RangeError(`Expected \`value\` to have ${target.length} elements, got ${source.length}`);
            }
            target.set(source);
          } else {
            // A growable buffer's current length, read now: it may have grown since the lock was made.
            const target = bytesOf(view) as Uint8Array;
            copyBytes(target, next);
          }
          return data as V;
        },
        close() {},
      };
    }
    case "struct": {
      const layout = StructLayout.layoutOf(data) as StructLayout<Fields>;
      return {
        open: () => data as V,
        replace(next) {
          if ((next as unknown) !== data) layout.replace(data as Struct<Fields>, next as Struct<Fields>);
          return data as V;
        },
        close() {},
      };
    }
    case "json":
      return bindJson(data as JsonCell<unknown>) as DataBinding<V>;
  }
}

/**
 * The handle that lets another thread rebuild `data` (see the module docs for each kind). Put it in
 * the lock's handle; {@link dataFromHandle} turns the received copy back into working data.
 *
 * @example
 * ```ts
 * worker.postMessage({ data: dataHandle(point) });
 * ```
 *
 * **Throws**: `TypeError` for data threads cannot share, as {@link bindData}.
 */
export function dataHandle(data: unknown): DataHandle {
  const kind = kindOf(data, "data");
  if (kind === "struct" || kind === "json") return (data as { handle: unknown }).handle;
  return data;
}

/**
 * Rebuilds data from {@link dataHandle}'s result (after a structured clone), in any thread: the same
 * kind of object over the same memory.
 *
 * @example
 * ```ts
 * const point = dataFromHandle(message.data) as Infer<typeof Point>;
 * ```
 *
 * **Throws**: `TypeError` for anything that is not such a handle: another type's handle, another
 * layout version, a view over a plain `ArrayBuffer`, a foreign or too small buffer.
 */
export function dataFromHandle(handle: DataHandle): unknown {
  if (handle === null) return null;
  if (typeof SharedArrayBuffer !== "undefined" && handle instanceof SharedArrayBuffer) return handle;
  if (isSharedView(handle)) return handle;
  if (typeof handle === "object" && !ArrayBuffer.isView(handle)) {
    const inner = "handle" in handle ? (handle as { handle: unknown }).handle : handle;
    const type = typeof inner === "object" && inner !== null ? (inner as { type?: unknown }).type : undefined;
    if (type === "lockbox.threads.Struct") return StructLayout.fromHandle(handle);
    if (type === "lockbox.threads.Json") return JsonCell.from(handle);
  }
  throw new TypeError(
    `Expected \`handle\` to be a shared-data handle (null, a SharedArrayBuffer or a view over one, a struct or json handle), got ${describe(handle)}`,
  );
}
