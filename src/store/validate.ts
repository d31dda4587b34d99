/**
 * Argument checks of the distributed stores, in the project's one wording pattern.
 *
 * @internal
 * @module
 */

import { checkAcquireOptions, checkInteger, describe, MAX_TIMEOUT } from "../internal/validate.js";
import type { JsonText } from "./backend.js";

/** Longest lock name, in UTF-8 bytes. */
export const MAX_NAME_BYTES = 200;

const encoder = new TextEncoder();

/** Throws unless `name` is a non-empty string of at most 200 UTF-8 bytes. */
export function checkName(name: unknown): string {
  const expected = `Expected \`name\` to be a non-empty string of at most ${MAX_NAME_BYTES} UTF-8 bytes, got`;
  if (typeof name !== "string") throw new TypeError(`${expected} ${describe(name)}`);
  if (name.length === 0) throw new RangeError(`${expected} an empty string`);
  // A string of n UTF-16 units has at most 3n UTF-8 bytes: count only when it may be too long.
  if (name.length * 3 > MAX_NAME_BYTES) {
    const bytes = encoder.encode(name).length;
    if (bytes > MAX_NAME_BYTES) throw new RangeError(`${expected} a string of ${bytes} bytes`);
  }
  return name;
}

/** Throws unless `value` is a lease length in ms: an integer from 1 to 2147483647. */
export function checkTtl(name: string, value: unknown): number {
  return checkInteger(name, value, 1, MAX_TIMEOUT);
}

/** `JSON.stringify(value)`, or a `TypeError` when it throws or gives `undefined`. */
export function serialize(what: string, value: unknown): JsonText {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    throw new TypeError(`Expected ${what} to survive JSON.stringify, got ${describe(value)} (${String(error)})`, {
      cause: error,
    });
  }
  if (text === undefined) {
    throw new TypeError(`Expected ${what} to survive JSON.stringify, got ${describe(value)}`);
  }
  return text;
}

/** Options of a distributed acquire: `{ signal?, timeout?, ttl? }`. */
export interface StoreAcquireOptions {
  /** Cancels the wait; the promise rejects with `signal.reason` once the waiter has left the queue. */
  signal?: AbortSignal | undefined;
  /** Gives up after this many ms with `TimeoutError` (once the waiter has left the queue). */
  timeout?: number | undefined;
  /** Lease length of this guard in ms (default: the store's `ttl`). */
  ttl?: number | undefined;
}

/** Validates `{ signal?, timeout?, ttl? }`. */
export function checkStoreOptions(options: StoreAcquireOptions | undefined): void {
  if (options === undefined) return;
  checkAcquireOptions(options);
  if (options.ttl !== undefined) checkTtl("ttl", options.ttl);
}
