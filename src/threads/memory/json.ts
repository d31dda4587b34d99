/**
 * JSON cells: a JSON value in shared memory, for data whose shape is not fixed (a config, a small
 * map). Meant as the data of a threads lock, whose guard shows the decoded value and writes it back
 * on release when it changed.
 *
 * **Memory** (one `SharedArrayBuffer`, two text slots of `maxBytes` bytes each):
 *
 * | bytes | meaning | written by |
 * |---|---|---|
 * | 0–3 | memory tag: kind "Json" (see handle.ts) | the creator, once |
 * | 4–7 | layout version | the creator, once |
 * | 8–11 | STATE: bit 31 the published slot `s`, bits 0–30 its byte length `n` (`Atomics.store`) | the writer |
 * | 12–15 | reserved (0) | — |
 * | 16 + s·maxBytes … + n | `JSON.stringify(value)` as UTF-8 | the writer |
 *
 * **Crash-safe write-back**: a write goes into the slot that is *not* published, then publishes it
 * with one atomic store of STATE. A writer killed mid-write (a worker terminated during a large
 * write-back) leaves STATE naming the old, complete text: a torn text is never visible.
 *
 * The buffer is growable (`maxByteLength = 16 + 2 · maxBytes`) where the runtime supports it, so a
 * small value takes little memory (the second slot's address space is reserved, and memory is only
 * touched as far as the text goes); elsewhere it is allocated at `16 + 2 · maxBytes` bytes up front.
 *
 * @module
 */

import { checkInteger, checkOptionsObject, describe } from "../../internal/validate.js";
import { interiorMutable } from "../../types.js";
import { realAtomics } from "../raw/atomics-like.js";
import * as slots from "../raw/json-slots.js";
import { checkHandle, checkSharedBuffer, checkTagAt, type HandleBase, LAYOUT_VERSION, tagWord } from "./handle.js";
import type { DataBinding } from "./shared-data.js";
import { newSharedBuffer } from "./shared-memory.js";
import { decodeRange, encoder } from "./utf8.js";

/** The handle of a JSON cell: `JsonCell.from(handle)` rebuilds it in any thread. */
export interface JsonHandle extends HandleBase<"lockbox.threads.Json"> {
  /** Memory tag, state word, then two text slots (see the module docs); growable where supported. */
  readonly buffer: SharedArrayBuffer;
  /** Capacity of the text in bytes. */
  readonly maxBytes: number;
}

/** Options of {@link json}. */
export interface JsonOptions {
  /**
   * Largest encoded size, in UTF-8 bytes, the cell accepts (default 65536, at most 2 ** 30). A
   * growable buffer reserves address space (not memory) for this much up front: keep it realistic.
   */
  maxBytes?: number | undefined;
}

const JSON_TAG = "lockbox.threads.Json";
const HEADER = slots.HEADER_BYTES;
const DEFAULT_MAX_BYTES = 65_536;
const MAX_BYTES = 2 ** 30;
const GROWABLE = typeof SharedArrayBuffer !== "undefined" && "grow" in SharedArrayBuffer.prototype;

/** Privileged access for the lock binding; set once by the class. */
let storedEquals: (cell: JsonCell<unknown>, bytes: Uint8Array) => boolean;
let writeEncoded: (cell: JsonCell<unknown>, bytes: Uint8Array) => void;

/** Passed by {@link json}: cells cannot be constructed from outside. */
const CELL_TOKEN: unique symbol = Symbol("lockbox.json.cell");

/** Set by {@link JsonCell.from} for one `new`: wrap this buffer instead of allocating. */
let adopted: { buffer: SharedArrayBuffer; maxBytes: number } | undefined;

/**
 * A JSON value in shared memory (see the module docs for its layout). Make one with {@link json}.
 *
 * `get()` and `set()` read and write the memory directly, without any lock: use them only before the
 * cell is shared or while holding the lock that owns it. A reader racing a writer can see a torn
 * text (and `get()` then throws `SyntaxError`).
 *
 * @example
 * ```ts
 * const settings = json({ theme: "dark", retries: 3 }, { maxBytes: 4096 });
 * const lock = new Mutex(settings); // lockbox/threads
 * await lock.withLock((guard) => {
 *   guard.value.retries += 1; // written back on release
 * });
 * ```
 */
export class JsonCell<T> {
  declare readonly [interiorMutable]: true;
  /** Structured-clone-safe description (an own property, so posting the cell itself works too). */
  readonly handle: JsonHandle;
  readonly #buffer: SharedArrayBuffer;
  readonly #maxBytes: number;
  /** Length-tracking over a growable buffer: sees growth done by any thread. */
  readonly #bytes: Uint8Array;
  readonly #header: Int32Array;

  static {
    storedEquals = (cell, bytes) => cell.#storedEquals(bytes);
    writeEncoded = (cell, bytes) => cell.#write(bytes);
  }

  /** @internal Use {@link json} or {@link JsonCell.from}. */
  constructor(token: typeof CELL_TOKEN, initial?: T, maxBytes?: number) {
    if (token !== CELL_TOKEN) throw new TypeError("JsonCell cannot be constructed directly; use json()");
    const place = adopted;
    adopted = undefined;
    let bytes: Uint8Array | undefined;
    if (place !== undefined) {
      this.#buffer = place.buffer;
      this.#maxBytes = place.maxBytes;
    } else {
      const max = maxBytes ?? DEFAULT_MAX_BYTES;
      bytes = encode(initial, "initial", max);
      this.#buffer = GROWABLE
        ? newSharedBuffer(HEADER + bytes.length, { maxByteLength: HEADER + 2 * max })
        : newSharedBuffer(HEADER + 2 * max);
      this.#maxBytes = max;
    }
    this.#bytes = new Uint8Array(this.#buffer);
    this.#header = new Int32Array(this.#buffer, 0, HEADER / 4);
    if (place === undefined) {
      this.#header[0] = tagWord(JSON_TAG);
      this.#header[1] = LAYOUT_VERSION;
      // Slot 1 "published" with length 0, so that the initial write goes to slot 0.
      this.#header[slots.STATE] = slots.stateOf(1, 0);
    }
    this.handle = Object.freeze({
      type: JSON_TAG,
      version: LAYOUT_VERSION,
      buffer: this.#buffer,
      maxBytes: this.#maxBytes,
    });
    if (bytes !== undefined) this.#write(bytes);
  }

  /**
   * Rebuilds a cell over the same memory from a cell or its `handle` (in any thread).
   *
   * @example
   * ```ts
   * const settings = JsonCell.from<Settings>(workerData.settings);
   * ```
   *
   * **Throws**: `TypeError` for anything else: another type's handle, another layout version, a
   * buffer that is not a `SharedArrayBuffer` or cannot hold `maxBytes`.
   */
  static from<T = unknown>(received: unknown): JsonCell<T> {
    const handle = checkHandle<JsonHandle>(received, JSON_TAG, "JsonCell.from");
    const maxBytes = handle.maxBytes;
    if (typeof maxBytes !== "number" || !Number.isInteger(maxBytes) || maxBytes < 1 || maxBytes > MAX_BYTES) {
      throw new TypeError(
        `Expected \`handle.maxBytes\` to be an integer from 1 to ${MAX_BYTES}, got ${describe(maxBytes)}`,
      );
    }
    const buffer = checkSharedBuffer("handle.buffer", handle.buffer, HEADER);
    checkTagAt(new Int32Array(buffer, 0, 2), 0, JSON_TAG, "JsonCell.from");
    const capacity = buffer.growable ? buffer.maxByteLength : buffer.byteLength;
    if (capacity < HEADER + 2 * maxBytes) {
      throw new TypeError(
        `Expected \`handle.buffer\` to hold at least ${HEADER + 2 * maxBytes} bytes, got ${capacity}`,
      );
    }
    adopted = { buffer, maxBytes };
    try {
      return new JsonCell<T>(CELL_TOKEN);
    } finally {
      adopted = undefined;
    }
  }

  /** Capacity of the encoded text, in UTF-8 bytes. */
  get maxBytes(): number {
    return this.#maxBytes;
  }

  /** Size of the stored text, in UTF-8 bytes. */
  get byteLength(): number {
    return this.#storedLength();
  }

  /**
   * Decodes the stored value (a fresh copy each call). Not synchronized: see the class docs.
   *
   * @example
   * ```ts
   * const { theme } = settings.get();
   * ```
   *
   * **Throws**: `SyntaxError` if the memory holds no valid JSON (a torn read of a concurrent write).
   */
  get(): T {
    const [start, length] = this.#published();
    return JSON.parse(decodeRange(this.#bytes, start, start + length)) as T;
  }

  /**
   * Encodes and stores `value`. Not synchronized: see the class docs.
   *
   * @example
   * ```ts
   * settings.set({ theme: "light", retries: 3 });
   * ```
   *
   * **Throws**: `RangeError` when the text exceeds {@link maxBytes}, `TypeError` when `value` has no
   * JSON form (`undefined`, a function, a bigint, a cycle); the stored value is unchanged either way.
   */
  set(value: T): void {
    this.#write(encode(value, "value", this.#maxBytes));
  }

  /** Start (byte offset) and length of the published text. */
  #published(): [number, number] {
    const state = slots.publishedState(realAtomics, this.#header);
    const start = HEADER + slots.slotOf(state) * this.#maxBytes;
    // A foreign writer could leave any length: never read past the slot or what exists.
    const length = Math.max(0, Math.min(slots.lengthOf(state), this.#maxBytes, this.#bytes.length - start));
    return [start, length];
  }

  #storedLength(): number {
    return this.#published()[1];
  }

  #storedEquals(bytes: Uint8Array): boolean {
    const stored = this.#bytes;
    const [start, length] = this.#published();
    if (length !== bytes.length) return false;
    for (let i = 0; i < bytes.length; i++) if (stored[start + i] !== bytes[i]) return false;
    return true;
  }

  /** `bytes` is already checked against maxBytes. Writes the unpublished slot, then publishes it. */
  #write(bytes: Uint8Array): void {
    slots.writeSlot(realAtomics, this.#header, bytes.length, (slot) => {
      const buffer = this.#buffer;
      const start = HEADER + slot * this.#maxBytes;
      const needed = start + bytes.length;
      if (buffer.growable && buffer.byteLength < needed) {
        // Grow geometrically (a value that keeps growing costs O(1) amortized grows), capped at the max.
        try {
          buffer.grow(Math.min(buffer.maxByteLength, Math.max(needed, buffer.byteLength * 2)));
        } catch (error) {
          // Another thread grew it past our target in between (grow cannot shrink): fine if it fits.
          if (buffer.byteLength < needed) throw error;
        }
      }
      this.#bytes.set(bytes, start);
    });
  }
}

/** Reused encoding memory (per thread); kept only while it stays small. */
const KEEP_SCRATCH = 1 << 20;
let scratch = new Uint8Array(1024);

/**
 * `JSON.stringify(value)` as UTF-8, checked against `maxBytes`. The result is a view of scratch
 * memory, valid until the next call: use it (compare, copy into the cell) at once.
 */
function encode(value: unknown, arg: string, maxBytes: number): Uint8Array {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    throw new TypeError(`Expected \`${arg}\` to be a JSON-serializable value: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (text === undefined) {
    throw new TypeError(`Expected \`${arg}\` to be a JSON-serializable value, got ${describe(value)}`);
  }
  // A UTF-16 unit takes at most 3 UTF-8 bytes, so this much room holds any text that fits maxBytes;
  // encodeInto stops early (read < length) exactly when the text needs more than `room` bytes.
  const room = Math.min(maxBytes, text.length * 3);
  let target: Uint8Array;
  if (room <= scratch.length) target = scratch.subarray(0, room);
  else if (room <= KEEP_SCRATCH) {
    scratch = new Uint8Array(2 ** Math.ceil(Math.log2(room)));
    target = scratch.subarray(0, room);
  } else target = new Uint8Array(room);
  const { read, written } = encoder.encodeInto(text, target);
  if (read < text.length) {
    throw new RangeError(
      `Expected \`${arg}\` to encode to at most ${maxBytes} bytes of JSON (maxBytes), got ${encoder.encode(text).length} bytes`,
    );
  }
  return target.subarray(0, written);
}

/**
 * A JSON value in shared memory, to be owned by a threads lock: `new Mutex(json(initial))`. The
 * lock's guard then shows a plain decoded value (decoded on acquire), and release writes it back when
 * its JSON text changed.
 *
 * @example
 * ```ts
 * const state = new RwLock(json({ users: [] as string[] }, { maxBytes: 1 << 20 }));
 * await state.withWrite((guard) => {
 *   guard.value.users.push("ada");
 * });
 * ```
 *
 * @param initial - the starting value; anything `JSON.stringify` accepts.
 * @param options - `maxBytes`: capacity of the UTF-8 text (default 65536).
 *
 * **Throws**: `TypeError` when `initial` has no JSON form, `RangeError` when it exceeds `maxBytes` or
 * `maxBytes` is not an integer from 1 to 2 ** 30.
 */
export function json<T>(initial: T, options?: JsonOptions): JsonCell<T> {
  checkOptionsObject("options", options);
  const maxBytes = options?.maxBytes;
  if (maxBytes !== undefined) checkInteger("maxBytes", maxBytes, 1, MAX_BYTES);
  return new JsonCell<T>(CELL_TOKEN, initial, maxBytes);
}

/**
 * The lock binding of a JSON cell (see `bindData`): `open` decodes, `replace` keeps the new plain
 * value, `close` writes back when the encoded text differs from what is stored.
 * @internal
 */
export function bindJson<T>(cell: JsonCell<T>): DataBinding<T> {
  return {
    open() {
      try {
        return cell.get();
      } catch (error) {
        throw decodeError(error);
      }
    },
    replace: (next) => next,
    close(current) {
      const bytes = encode(current, "value", cell.maxBytes);
      // Comparing with memory rather than with what `open` saw keeps the binding stateless, so
      // several read guards may share it; under the lock the memory is what `open` decoded.
      if (!storedEquals(cell as JsonCell<unknown>, bytes)) writeEncoded(cell as JsonCell<unknown>, bytes);
    },
  };
}

/** What an acquire throws when the stored text is not JSON (the lock then releases before throwing). */
function decodeError(cause: unknown): SyntaxError {
  return new SyntaxError(
    `Cannot decode the JSON value in shared memory (${(cause as Error)?.message ?? String(cause)}); the acquire was undone and the lock is not held. The memory was written outside lockbox: repair it with JsonCell.set()`,
    { cause },
  );
}
