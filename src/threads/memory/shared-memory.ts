/**
 * Allocation of shared memory, with the error a page gets when it has none: browsers define
 * `SharedArrayBuffer` only on cross-origin isolated pages, so on any other page every lockbox/threads
 * constructor would otherwise fail with a bare `ReferenceError: SharedArrayBuffer is not defined`.
 *
 * @module
 */

/** The message of the error thrown where `SharedArrayBuffer` does not exist. */
export const NO_SHARED_MEMORY =
  "lockbox/threads needs SharedArrayBuffer, which this context does not have. Browsers provide it only " +
  "to cross-origin isolated pages: serve the page (and its workers) with the headers " +
  "`Cross-Origin-Opener-Policy: same-origin` and `Cross-Origin-Embedder-Policy: require-corp` (or " +
  "`credentialless`); `globalThis.crossOriginIsolated` tells whether they took effect";

/** Throws the error above unless `SharedArrayBuffer` exists (looked up on every call). */
export function requireSharedMemory(): void {
  if (typeof SharedArrayBuffer === "undefined") throw new Error(NO_SHARED_MEMORY);
}

/** `new SharedArrayBuffer(bytes, options)`, or the error above where there is none. */
export function newSharedBuffer(bytes: number, options?: { maxByteLength: number }): SharedArrayBuffer {
  requireSharedMemory();
  return options === undefined ? new SharedArrayBuffer(bytes) : new SharedArrayBuffer(bytes, options);
}
