/**
 * Handles: the plain, structured-clone-safe description of a `lockbox/threads` object, which crosses
 * threads through `postMessage` / `workerData` and is rebuilt there with `Type.from(received)`.
 *
 * Every handle carries a type tag and a layout version, checked by `from`: anything else — a handle
 * of another type, a foreign buffer, memory too small, another version — throws `TypeError`.
 *
 * The tag is also written **in the shared memory itself** ({@link allocateTagged}): the posted object
 * is plain data that anyone can edit, so a handle re-tagged as another kind must not pass. The last
 * {@link TAG_WORDS} words of a primitive's buffer hold:
 *
 * | word      | meaning                                                   |
 * |-----------|-----------------------------------------------------------|
 * | end − 2   | `MAGIC` (high 16 bits) \| kind code (low 16 bits)         |
 * | end − 1   | `LAYOUT_VERSION`                                          |
 *
 * Written once by the creator before the buffer is shared, never changed. At the *end*, so that the
 * lock words keep their indices from 0 (the raw modules' layouts are unchanged) and so that any
 * kind's tag is found at the same place whatever the kind: `Mutex.from` handed an RwLock's memory can
 * say it got an RwLock.
 */
import { describe } from "../../internal/validate.js";
import { newSharedBuffer } from "./shared-memory.js";

/** Version of the shared-memory layouts. Bump on any change to a word's meaning or position (3: the RwLock starver words and the Semaphore STARVER/BEAT words, issue 10). */
export const LAYOUT_VERSION = 3;

/** The common part of every handle. */
export interface HandleBase<Tag extends string = string> {
  /** Type tag, such as `"lockbox.Mutex"`. */
  readonly type: Tag;
  /** The layout version of the lockbox copy that created it; `from` refuses any other. */
  readonly version: number;
}

/** Words the memory tag takes at the end of a primitive's buffer. */
export const TAG_WORDS = 2;
/** High half of a tag word: "LB". */
const MAGIC = 0x4c42 << 16;

/** Kind codes written in memory, by handle type tag. */
const KINDS: Readonly<Record<string, number>> = {
  "lockbox.threads.Mutex": 1,
  "lockbox.threads.RwLock": 2,
  "lockbox.threads.OnceLock": 3,
  "lockbox.threads.Condvar": 4,
  "lockbox.threads.Semaphore": 5,
  "lockbox.threads.Barrier": 6,
  "lockbox.threads.Json": 7,
};

function kindCode(tag: string): number {
  const code = KINDS[tag];
  if (code === undefined) throw new Error(`lockbox internal error: no memory kind for ${tag}`);
  return code;
}

function tagName(code: number): string | undefined {
  for (const [tag, value] of Object.entries(KINDS)) if (value === code) return tag;
  return undefined;
}

/** The word a buffer of kind `tag` carries (see the module docs). */
export function tagWord(tag: string): number {
  return MAGIC | kindCode(tag) | 0;
}

/**
 * A new `SharedArrayBuffer` for `words` lock words of kind `tag`, with the memory tag after them.
 * Returns the view of the lock words (indices 0 … words − 1).
 */
export function allocateTagged(tag: string, words: number): Int32Array {
  const all = new Int32Array(newSharedBuffer((words + TAG_WORDS) * 4));
  all[words] = tagWord(tag);
  all[words + 1] = LAYOUT_VERSION;
  return all.subarray(0, words);
}

/**
 * Checks the memory tag in the words `at` and `at + 1` of `view`: the kind must be `tag`, the version
 * `LAYOUT_VERSION`. `name` (such as `"Mutex.from"`) is used in the error.
 *
 * @throws TypeError naming the kind found and the kind expected.
 */
export function checkTagAt(view: Int32Array, at: number, tag: string, name: string): void {
  const word = Atomics.load(view, at);
  if ((word & 0xffff0000) !== MAGIC) {
    throw new TypeError(
      `Expected \`${name}\` argument's memory to hold a ${tag}, got memory without a lockbox.threads tag`,
    );
  }
  const found = tagName(word & 0xffff);
  if (found !== tag) {
    throw new TypeError(
      `Expected \`${name}\` argument's memory to hold a ${tag}, got the memory of a ${found ?? `kind ${word & 0xffff}`}`,
    );
  }
  const version = Atomics.load(view, at + 1);
  if (version !== LAYOUT_VERSION) {
    throw new TypeError(
      `Expected \`${name}\` argument's memory to have layout version ${LAYOUT_VERSION}, got version ${version}`,
    );
  }
}

/**
 * Checks a received primitive buffer: a `SharedArrayBuffer` whose memory tag (at its end) says `tag`
 * and whose size fits `words` lock words. `name` (such as `"Mutex.from"`) is used in errors.
 *
 * @throws TypeError for anything else, naming the kind the memory holds when it holds another one.
 */
export function checkTaggedBuffer(name: string, buffer: unknown, tag: string, words: number): SharedArrayBuffer {
  const shared = checkSharedBuffer("handle.buffer", buffer, TAG_WORDS * 4);
  if (shared.byteLength % 4 !== 0) {
    throw new TypeError(`Expected \`handle.buffer\` to be a lockbox.threads buffer, got ${shared.byteLength} bytes`);
  }
  const all = new Int32Array(shared);
  checkTagAt(all, all.length - TAG_WORDS, tag, name);
  if (all.length !== words + TAG_WORDS) {
    throw new TypeError(
      `Expected \`handle.buffer\` to hold ${(words + TAG_WORDS) * 4} bytes for a ${tag}, got ${shared.byteLength}`,
    );
  }
  return shared;
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
    const type = typeof handle === "object" && handle !== null ? (handle as { type?: unknown }).type : undefined;
    const got = typeof type === "string" && type.startsWith("lockbox.") ? `a ${type} handle` : describe(received);
    throw new TypeError(`Expected \`${name}\` argument to be a ${tag} handle, got ${got}`);
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
