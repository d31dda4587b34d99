/**
 * The crash-safe publication protocol of a JSON cell (src/threads/memory/json.ts): two text slots and one
 * STATE word that names the published slot and its length.
 *
 * Step functions (every shared access goes through `A`):
 * - {@link publishedState}`(A, header)` — the STATE word: {@link slotOf} and {@link lengthOf} it.
 * - {@link writeSlot}`(A, header, length, copy)` — copies the new text into the slot that is *not*
 *   published (`copy(slot)`), then publishes it with one store.
 *
 * Header words (`Int32Array` at the start of the cell's buffer):
 *
 * | word | name    | meaning                                                      | who may change it |
 * |------|---------|--------------------------------------------------------------|-------------------|
 * | 0    | TAG     | memory kind tag (handle.ts)                                  | the creator, once |
 * | 1    | VERSION | layout version                                               | the creator, once |
 * | 2    | STATE   | bit 31: published slot; bits 0–30: its length in bytes       | the writer (holding the lock) |
 * | 3    | —       | reserved                                                     | nobody            |
 *
 * Crash safety: a writer killed at any point before its STATE store leaves STATE naming the old slot,
 * whose text it never touched; after the store the new text is complete. A reader therefore sees the
 * old text or the new one, never a mix (model-checked in test/threads/model/raw-json-slots.test.ts).
 * Writers must be serialized (the lock that owns the cell does that): two concurrent writers would
 * write the same unpublished slot.
 */
import type { AtomicsLike } from "./atomics-like.js";

/** Int32 index of STATE in the header. */
export const STATE = 2;
/** Header size in bytes. */
export const HEADER_BYTES = 16;
const SLOT_BIT = 1 << 31;
const LENGTH_MASK = 0x7fffffff;

/** The STATE word. */
export function publishedState(A: AtomicsLike, header: Int32Array): number {
  return A.load(header, STATE);
}

/** The published slot (0 or 1) of a STATE word. */
export function slotOf(state: number): number {
  return state < 0 ? 1 : 0;
}

/** The published length of a STATE word. */
export function lengthOf(state: number): number {
  return state & LENGTH_MASK;
}

/** A STATE word publishing `slot` with `length` bytes. */
export function stateOf(slot: number, length: number): number {
  return (slot === 1 ? SLOT_BIT : 0) | length;
}

/** Copies a text of `length` bytes into the unpublished slot (`copy(slot)`), then publishes it. */
export function writeSlot(A: AtomicsLike, header: Int32Array, length: number, copy: (slot: number) => void): void {
  const slot = 1 - slotOf(A.load(header, STATE));
  copy(slot);
  // Last, and one store: a reader that sees it sees the whole text; a writer killed before it changed
  // nothing a reader can see.
  A.store(header, STATE, stateOf(slot, length));
}
