/**
 * UTF-8 over shared memory, for `string(n)` struct fields and `json()` cells.
 *
 * @internal
 */

/** The one encoder (`encodeInto` writes straight into shared memory). */
export const encoder = new TextEncoder();

const decoder = new TextDecoder();

/** Whether TextDecoder reads views of shared memory (Node does; the web refuses, so copy there). */
const DECODES_SHARED = ((): boolean => {
  try {
    decoder.decode(new Uint8Array(new SharedArrayBuffer(1)));
    return true;
  } catch {
    return false;
  }
})();

/** The text in `bytes[start, end)`: decoded in place where the platform allows it, else from a copy. */
export function decodeRange(bytes: Uint8Array, start: number, end: number): string {
  return decoder.decode(DECODES_SHARED ? bytes.subarray(start, end) : bytes.slice(start, end));
}
