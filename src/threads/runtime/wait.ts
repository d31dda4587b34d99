/**
 * The drivers that turn a raw step function (src/threads/raw) into a wait: async through
 * `Atomics.waitAsync`, blocking through `Atomics.wait`, and the "may this thread block?" probe.
 *
 * @internal
 */
import { TimeoutError, WouldBlockError } from "../../errors.js";
import { checkOptionsObject, checkTimeout, describe } from "../../internal/validate.js";
import { realAtomics } from "../raw/atomics-like.js";
import { driveBlocking, PARK } from "../raw/drive.js";
import { parkTime, type RawWaiter, recordWait } from "../raw/waiter.js";
import { hold, KICKED, type KickablePark, release } from "./keep-alive.js";

/** What `Atomics.waitAsync` returns. */
export type WaitAsyncResult =
  | { async: false; value: "not-equal" | "timed-out" }
  | { async: true; value: Promise<"ok" | "timed-out"> };

type NativeWaitAsync = (word: Int32Array, index: number, expected: number, time?: number) => WaitAsyncResult;

const realWaitAsync = (Atomics as { waitAsync?: NativeWaitAsync }).waitAsync;
let nativeWaitAsync = realWaitAsync;

/**
 * Tests: `false` simulates a runtime without `Atomics.waitAsync` (the polling fallback); `true`
 * restores the real one.
 * @internal
 */
export function useNativeWaitAsync(native: boolean): void {
  nativeWaitAsync = native ? realWaitAsync : undefined;
}

/** Longest sleep of the polling fallback (runtimes without `Atomics.waitAsync`). */
const FALLBACK_POLL_MS = 4;

/**
 * `Atomics.waitAsync`, or where a runtime lacks it (older Firefox and Safari), a polling stand-in
 * that re-reads the word every few milliseconds. The stand-in may wake spuriously (it reports "ok"
 * for an early wake), which every caller tolerates: they re-run their step after any wake-up.
 */
export function waitAsync(word: Int32Array, index: number, expected: number, time: number): WaitAsyncResult {
  if (nativeWaitAsync !== undefined) return nativeWaitAsync(word, index, expected, time);
  if (Atomics.load(word, index) !== expected) return { async: false, value: "not-equal" };
  if (time <= 0) return { async: false, value: "timed-out" };
  const sleep = Math.min(time, FALLBACK_POLL_MS);
  return {
    async: true,
    value: new Promise((resolve) => setTimeout(() => resolve(sleep >= time ? "timed-out" : "ok"), sleep)),
  };
}

/** Monotonic milliseconds. */
export const now = (): number => performance.now();

/** Returned by a step to ask the driver to park (on `waiter.index` / `waiter.expected`). */
export { PARK };

let blockingProbe: () => boolean = probeBlocking;
let canBlockCache: boolean | undefined;
/**
 * `true` once the probe has said this thread may block: the `*Sync` fast paths test this live binding
 * and call {@link assertCanBlock} only while it is `false`.
 */
export let blockingAllowed = false;

function probeBlocking(): boolean {
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
    return true;
  } catch {
    return false;
  }
}

/** `true` if this thread may block in `Atomics.wait` (probed once, then cached). */
export function canBlock(): boolean {
  if (canBlockCache === undefined) {
    canBlockCache = blockingProbe();
    blockingAllowed = canBlockCache;
  }
  return canBlockCache;
}

/**
 * Replaces the probe (tests simulate a runtime that forbids blocking, such as a browser main thread).
 * Pass `undefined` to restore the real probe. Clears the cache.
 * @internal
 */
export function setBlockingProbe(probe: (() => boolean) | undefined): void {
  blockingProbe = probe ?? probeBlocking;
  canBlockCache = undefined;
  blockingAllowed = false;
}

/**
 * Throws `WouldBlockError` where blocking is forbidden. Every `*Sync` method calls it first, even when
 * it would not need to wait, so that a forbidden call fails the same way whatever the timing.
 */
export function assertCanBlock(method: string, name?: string): void {
  if (!canBlock()) {
    const on = name === undefined ? "" : ` on ${name}`;
    throw new WouldBlockError(
      `${method}()${on} would block, and this thread may not block (Atomics.wait is not allowed here); use the async form`,
    );
  }
}

// The options checks of the async waits are the in-process ones (the same timeout rule: see
// `checkTimeout` in src/internal/validate.ts).
export { checkLockOptions, checkTimeout, precheck } from "../../internal/validate.js";

/** Validates `{ timeout? }` (plus `ignorePoison?` where the method takes it) of a blocking method. */
export function checkSyncOptions(options: { timeout?: number | undefined } | undefined): void {
  if (options === undefined) return;
  checkOptionsObject("options", options);
  checkTimeout(options.timeout);
}

/** Deadline (a {@link now} reading) for `timeout` ms, or `Infinity`. */
export function deadlineOf(timeout: number | undefined): number {
  return timeout === undefined ? Number.POSITIVE_INFINITY : now() + timeout;
}

/**
 * The error a timed-out wait rejects or throws with: `Semaphore.acquire() on db-pool timed out after
 * 50 ms` (`name`: the primitive's name).
 */
export function timeoutError(what: string, timeout: number | undefined, name?: string): TimeoutError {
  const on = name === undefined ? "" : ` on ${name}`;
  return new TimeoutError(`${what}${on} timed out after ${describe(timeout)} ms`);
}

/**
 * Parks on `word[index]` while it equals `expected`, for at most `time` ms, without blocking the thread.
 * Resolves with the outcome on any wake-up (`"ok"`: notified, `"timed-out"`), or `undefined` at once
 * (no promise) when the word already differs; rejects with `signal.reason` on abort.
 *
 * A `waitAsync` cannot be cancelled: after an abort it stays registered until it times out (at most
 * one poll period, as every park is bounded) and may swallow a `notify(…, 1)` meant for a live waiter.
 * It therefore forwards such a wake-up to the next waiter when it lands.
 */
export function parkAsync(
  word: Int32Array,
  index: number,
  expected: number,
  time: number,
  signal: AbortSignal | undefined,
): Promise<"ok" | "timed-out"> | undefined {
  const result = waitAsync(word, index, expected, time);
  if (!result.async) return undefined;
  const pending = result.value;
  hold();
  if (signal === undefined) {
    return pending.then((outcome) => {
      release();
      return outcome;
    });
  }
  return new Promise((resolve, reject) => {
    let done = false;
    const onAbort = (): void => {
      if (done) return;
      done = true;
      release();
      pending.then((outcome) => {
        if (outcome === "ok") Atomics.notify(word, index, 1);
      });
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    pending.then((outcome) => {
      if (done) return;
      done = true;
      signal.removeEventListener("abort", onAbort);
      release();
      resolve(outcome);
    });
  });
}

/**
 * Runs `step` until it returns something other than {@link PARK}, parking asynchronously in between.
 * `giveUp` runs (once) before a timeout or abort rejection, to undo what the steps registered.
 */
export async function driveAsync(
  word: Int32Array,
  waiter: RawWaiter,
  step: () => number,
  deadline: number,
  signal: AbortSignal | undefined,
  giveUp: () => void,
  what: string,
  timeout: number | undefined,
  name?: string,
): Promise<number> {
  for (;;) {
    const result = step();
    if (result !== PARK) return result;
    // No deadline: skip the clock reading (performance.now() costs ~100 ns in Node 20).
    const time = deadline === Number.POSITIVE_INFINITY ? waiter.parkTimeout : parkTime(waiter, deadline, now());
    if (time <= 0) {
      giveUp();
      throw timeoutError(what, timeout, name);
    }
    if (signal?.aborted) {
      giveUp();
      throw signal.reason;
    }
    if (signal === undefined) {
      // No abort to race with: await the waitAsync promise itself (one promise hop fewer).
      const result = waitAsync(word, waiter.index, waiter.expected, time);
      if (!result.async) {
        recordWait(waiter, result.value);
        continue;
      }
      hold();
      try {
        recordWait(waiter, await result.value);
      } finally {
        release();
      }
      continue;
    }
    const parked = parkAsync(word, waiter.index, waiter.expected, time, signal);
    if (parked === undefined) {
      recordWait(waiter, "not-equal");
      continue;
    }
    try {
      recordWait(waiter, await parked);
    } catch (error) {
      giveUp();
      throw error;
    }
  }
}

/**
 * Runs `step` until it returns something other than {@link PARK}, blocking in `Atomics.wait` in between:
 * the raw driver `driveBlocking` (the loop the model checker runs) with the real `Atomics`. On timeout
 * it calls `giveUp`, then throws `TimeoutError`.
 */
export function driveSync(
  word: Int32Array,
  waiter: RawWaiter,
  step: () => number,
  deadline: number,
  giveUp: () => void,
  what: string,
  timeout: number | undefined,
  name?: string,
): number {
  const result = driveBlocking(realAtomics, word, waiter, step, deadline, now);
  if (result !== PARK) return result;
  giveUp();
  throw timeoutError(what, timeout, name);
}

/**
 * One park of a local queue's competitor (the threads Mutex, RwLock and Semaphore): parks `waiter` where
 * its last step said to, through `park` so that a kick ends it early, and records the outcome. Returns
 * `undefined` without parking when the word already differs (recorded as "not-equal"). `onKicked` gets
 * the abandoned `waitAsync` when a kick ended the park.
 */
export function parkCompetitor(
  park: KickablePark,
  word: Int32Array,
  waiter: RawWaiter,
  onKicked?: (abandoned: Promise<"ok" | "timed-out">) => void,
): Promise<void> | undefined {
  const result = waitAsync(word, waiter.index, waiter.expected, waiter.parkTimeout);
  if (!result.async) {
    recordWait(waiter, result.value);
    return undefined;
  }
  return park.park(result.value).then((outcome) => {
    if (outcome !== KICKED) recordWait(waiter, outcome);
    else onKicked?.(result.value);
  });
}
