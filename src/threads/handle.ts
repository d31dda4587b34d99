/**
 * Handles: the plain, structured-clone-safe description of a `lockbox/threads` object, which crosses
 * threads through `postMessage` / `workerData` and is rebuilt there with `Type.from(received)`.
 *
 * Every handle carries a type tag and a layout version, checked by `from`: anything else — a handle
 * of another type, a foreign buffer, memory too small, another version — throws `TypeError`.
 */
import { describe } from "../internal/validate.js";

/** Version of the shared-memory layouts. Bump on any change to a word's meaning or position. */
export const LAYOUT_VERSION = 1;

/** The common part of every handle. */
export interface HandleBase<Tag extends string = string> {
  /** Type tag, such as `"lockbox.Mutex"`. */
  readonly type: Tag;
  /** {@link LAYOUT_VERSION} of the thread that created it. */
  readonly version: number;
}

/**
 * Accepts either a handle or an instance that has one (`x.handle`), checks its tag and version, and
 * returns the handle. `name` is used in error messages (for example `"Mutex.from"`).
 */
export function checkHandle<H extends HandleBase>(received: unknown, tag: H["type"], name: string): H {
  let handle: unknown = received;
  if (typeof received === "object" && received !== null && "handle" in received) {
    handle = (received as { handle: unknown }).handle;
  }
  if (typeof handle !== "object" || handle === null || (handle as HandleBase).type !== tag) {
    throw new TypeError(`Expected \`${name}\` argument to be a ${tag} handle, got ${describe(received)}`);
  }
  const version = (handle as HandleBase).version;
  if (version !== LAYOUT_VERSION) {
    throw new TypeError(
      `Expected \`${name}\` argument to have layout version ${LAYOUT_VERSION}, got version ${describe(version)}`,
    );
  }
  return handle as H;
}

/** Throws unless `buffer` is a `SharedArrayBuffer` of at least `bytes` bytes. */
export function checkSharedBuffer(name: string, buffer: unknown, bytes: number): SharedArrayBuffer {
  if (typeof SharedArrayBuffer === "undefined" || !(buffer instanceof SharedArrayBuffer)) {
    throw new TypeError(`Expected \`${name}\` to be a SharedArrayBuffer, got ${describe(buffer)}`);
  }
  if (buffer.byteLength < bytes) {
    throw new TypeError(`Expected \`${name}\` to hold at least ${bytes} bytes, got ${buffer.byteLength}`);
  }
  return buffer;
}
