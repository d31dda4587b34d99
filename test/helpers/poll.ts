/**
 * Deterministic promise inspection (tokio's `assert_pending!` / `assert_ready!`): flush the microtask
 * queue, then report whether `promise` is still pending, fulfilled or rejected. No sleeps, no clocks.
 */
export type PollResult<T> =
  | { state: "pending" }
  | { state: "fulfilled"; value: T }
  | { state: "rejected"; reason: unknown };

const tracked = new WeakMap<Promise<unknown>, PollResult<unknown>>();

function track<T>(promise: Promise<T>): PollResult<T> {
  let result = tracked.get(promise) as PollResult<T> | undefined;
  if (result === undefined) {
    result = { state: "pending" };
    tracked.set(promise, result);
    promise.then(
      (value) => tracked.set(promise, { state: "fulfilled", value }),
      (reason) => tracked.set(promise, { state: "rejected", reason }),
    );
  }
  return result;
}

/** Runs every queued microtask (and the ones they queue), a bounded number of rounds. */
export async function flush(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await Promise.resolve();
}

/** Flushes microtasks, then reports the state of `promise`. */
export async function poll<T>(promise: Promise<T>): Promise<PollResult<T>> {
  track(promise);
  await flush();
  return tracked.get(promise) as PollResult<T>;
}

/** Asserts `promise` is still pending after the microtask queue is flushed. */
export async function assertPending(promise: Promise<unknown>): Promise<void> {
  const result = await poll(promise);
  if (result.state !== "pending") throw new Error(`expected pending, got ${result.state}`);
}

/** Asserts `promise` fulfilled once microtasks are flushed, and returns its value. */
export async function assertReady<T>(promise: Promise<T>): Promise<T> {
  const result = await poll(promise);
  if (result.state === "fulfilled") return result.value;
  if (result.state === "rejected") throw new Error(`expected fulfilled, got rejected: ${String(result.reason)}`);
  throw new Error("expected fulfilled, got pending");
}

/** Asserts `promise` rejected once microtasks are flushed, and returns the reason. */
export async function assertRejected(promise: Promise<unknown>): Promise<unknown> {
  const result = await poll(promise);
  if (result.state === "rejected") return result.reason;
  throw new Error(`expected rejected, got ${result.state}`);
}
