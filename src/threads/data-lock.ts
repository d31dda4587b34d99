/**
 * What the locks that own data and detect owner death (`Mutex`, `RwLock`, `OnceLock`) share about
 * their handles: the lock words in their own `SharedArrayBuffer`, the creating thread's liveness
 * table, and the data's own handle — allocated one way, and checked one way when received.
 *
 * @internal
 */

import { allocateTagged, checkHandle, checkSharedBuffer, checkTaggedBuffer, type HandleBase } from "./memory/handle.js";
import { type DataHandle, dataFromHandle, dataHandle } from "./memory/shared-data.js";
import { LIVENESS_WORDS } from "./raw/liveness-table.js";
import { processTable } from "./runtime/liveness.js";

/** The handle fields a data-owning lock adds to {@link HandleBase}. */
export interface DataLockParts {
  /** The lock words (each lock's raw module documents its layout). */
  readonly buffer: SharedArrayBuffer;
  /** The liveness table of the creating thread (owner-death detection). */
  readonly liveness: SharedArrayBuffer;
  /** The protected data's own handle. */
  readonly data: DataHandle;
}

/**
 * A new lock's `words` lock words (tagged in memory as `tag`, see handle.ts) and this thread's
 * liveness table, described with `data`.
 */
export function createDataLock(
  words: number,
  data: unknown,
  tag: string,
): { word: Int32Array; table: Int32Array; parts: DataLockParts } {
  const word = allocateTagged(tag, words);
  const table = processTable();
  const parts: DataLockParts = {
    buffer: word.buffer as SharedArrayBuffer,
    liveness: table.buffer as SharedArrayBuffer,
    data: dataHandle(data),
  };
  return { word, table, parts };
}

/**
 * Checks a received handle (or posted lock) of type `tag` — version, and buffers that are shared and
 * large enough — and rebuilds its data. `name` (such as `"Mutex.from"`) is used in error messages.
 *
 * @throws TypeError for anything else.
 */
export function receiveDataLock<H extends HandleBase & DataLockParts>(
  received: unknown,
  tag: H["type"],
  name: string,
  words: number,
): { handle: H; data: unknown } {
  const handle = checkHandle<H>(received, tag, name);
  checkTaggedBuffer(name, handle.buffer, tag, words);
  checkSharedBuffer("handle.liveness", handle.liveness, LIVENESS_WORDS * 4);
  return { handle, data: dataFromHandle(handle.data) };
}
