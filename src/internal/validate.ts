/**
 * Argument validation with one wording pattern: ``Expected `name` to be …, got …``.
 * Bad arguments throw the built-in `TypeError` (wrong kind) or `RangeError` (right kind, out of range).
 */

import type { AcquireOptions, LockOptions } from "../types.js";

/**
 * Largest timer delay the platform honours; larger `setTimeout` delays fire at once in Node. Timeouts
 * are not limited by it (`timer.ts` chains longer ones); lease lengths (`lockbox/postgres`, `redis`) are.
 */
export const MAX_TIMEOUT = 2 ** 31 - 1;

/** Renders a received value for an error message. */
export function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "function") return "a function";
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") {
    const name = (value as object).constructor?.name;
    return name && name !== "Object" ? `an instance of ${name}` : "an object";
  }
  return String(value);
}

/** Throws unless `value` is an integer in `[min, max]`. */
export function checkInteger(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== "number") {
    throw new TypeError(`Expected \`${name}\` to be an integer from ${min} to ${max}, got ${describe(value)}`);
  }
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`Expected \`${name}\` to be an integer from ${min} to ${max}, got ${describe(value)}`);
  }
  return value;
}

/** Throws unless `value` is a function. */
export function checkFunction(name: string, value: unknown): void {
  if (typeof value !== "function") {
    throw new TypeError(`Expected \`${name}\` to be a function, got ${describe(value)}`);
  }
}

/** Throws unless `value` is `undefined` or a plain options object. */
export function checkOptionsObject(name: string, value: unknown): void {
  if (value !== undefined && (typeof value !== "object" || value === null)) {
    throw new TypeError(`Expected \`${name}\` to be an object or undefined, got ${describe(value)}`);
  }
}

/** Throws unless `value` is `undefined` or a boolean. */
export function checkOptionalBoolean(name: string, value: unknown): void {
  if (value !== undefined && typeof value !== "boolean") {
    throw new TypeError(`Expected \`${name}\` to be a boolean or undefined, got ${describe(value)}`);
  }
}

/**
 * Throws unless `value` (named `name`) is `undefined` or a finite number of milliseconds ≥ 0 (SPEC §1:
 * any finite timeout; 30 days must work). Timers longer than one `setTimeout` can hold are chained
 * (`timer.ts`); `lockbox/threads` waits never hand a timeout to a timer (they park at most one poll
 * period at a time against a deadline), so the same rule holds there.
 */
export function checkTimeout(value: unknown, name = "timeout"): void {
  if (value === undefined) return;
  if (typeof value !== "number") {
    throw new TypeError(
      `Expected \`${name}\` to be a finite number of milliseconds (0 or more), got ${describe(value)}`,
    );
  }
  if (!(value >= 0 && value !== Number.POSITIVE_INFINITY)) {
    throw new RangeError(
      `Expected \`${name}\` to be a finite number of milliseconds (0 or more), got ${describe(value)}`,
    );
  }
}

/** Throws unless `signal` is `undefined` or an `AbortSignal`. */
export function checkSignal(value: unknown): void {
  if (value === undefined) return;
  if (typeof AbortSignal === "undefined" || !(value instanceof AbortSignal)) {
    throw new TypeError(`Expected \`signal\` to be an AbortSignal or undefined, got ${describe(value)}`);
  }
}

// ---- reading options once ---------------------------------------------------------------------------
//
// An options object is read exactly once, at the public entry: each field is copied into a fresh plain
// object, and from then on only that copy is validated and used. An object whose getters answer
// differently on each read (valid when checked, something else when used) therefore cannot slip past
// validation, and a getter runs once per call. A value that is not an object is passed on as it is, for
// validation to reject. A getter that throws makes the call fail with what it threw.

/** `{ signal, timeout }`, each read once (see above). */
export function readAcquireOptions<O extends AcquireOptions>(options: O | undefined): AcquireOptions | undefined {
  if (typeof options !== "object" || options === null) return options;
  const { signal, timeout } = options;
  return { signal, timeout };
}

/** `{ signal, timeout, ignorePoison }`, each read once (see above). */
export function readLockOptions<O extends LockOptions>(options: O | undefined): LockOptions | undefined {
  if (typeof options !== "object" || options === null) return options;
  const { signal, timeout, ignorePoison } = options;
  return { signal, timeout, ignorePoison };
}

/** `{ timeout }` of a blocking method, read once (see above). */
export function readTimeoutOptions<O extends { timeout?: number | undefined }>(
  options: O | undefined,
): { timeout?: number | undefined } | undefined {
  if (typeof options !== "object" || options === null) return options;
  const { timeout } = options;
  return { timeout };
}

/** `{ timeout, ignorePoison }` of a blocking lock method, read once (see above). */
export function readSyncLockOptions<O extends { timeout?: number | undefined; ignorePoison?: boolean | undefined }>(
  options: O | undefined,
): { timeout?: number | undefined; ignorePoison?: boolean | undefined } | undefined {
  if (typeof options !== "object" || options === null) return options;
  const { timeout, ignorePoison } = options;
  return { timeout, ignorePoison };
}

/**
 * The options of a try-variant (`tryLock`, `tryRead`, …): `undefined` or `{ ignorePoison?: boolean }`,
 * read once. Returns whether to ignore poison.
 *
 * @throws TypeError for anything else (`null` included).
 */
export function readTryOptions(options: unknown): boolean {
  if (options === undefined) return false;
  checkOptionsObject("options", options);
  const ignorePoison = (options as { ignorePoison?: unknown }).ignorePoison;
  checkOptionalBoolean("ignorePoison", ignorePoison);
  return ignorePoison === true;
}

/** Validates `{ signal?, timeout? }` (and the object itself). */
export function checkAcquireOptions(options: AcquireOptions | undefined): void {
  if (options === undefined) return;
  checkOptionsObject("options", options);
  checkSignal(options.signal);
  checkTimeout(options.timeout);
}

/** Validates `{ signal?, timeout?, ignorePoison? }`. */
export function checkLockOptions(options: LockOptions | undefined): void {
  if (options === undefined) return;
  checkAcquireOptions(options);
  checkOptionalBoolean("ignorePoison", options.ignorePoison);
}

/**
 * The checks every waiting method makes before it may take the fast path: valid options, and a
 * signal that is not already aborted (which rejects without queueing, even if the lock is free).
 * Returns the rejected promise to hand back, or `undefined` to go on.
 */
export function precheck(options: LockOptions | undefined): Promise<never> | undefined {
  if (options === undefined) return undefined;
  try {
    checkLockOptions(options);
  } catch (error) {
    return Promise.reject(error);
  }
  const signal = options.signal;
  if (signal?.aborted) return Promise.reject(signal.reason);
  return undefined;
}
