/**
 * What the explorer does when a lockbox primitive reports an operation: the scheduling point at the
 * `await` of every asynchronous operation, virtual-time timeouts, the trace of synchronous operations,
 * and who holds what (for deadlock reports). Outside a task of an exploration every hook passes
 * straight through.
 *
 * ## Where the point is
 *
 * In JavaScript, `await m.lock()` *calls* `lock()` synchronously — the acquire is queued (or granted)
 * atomically with the code before it — and only then suspends the task; other tasks run while it is
 * suspended, even when the lock was free (its continuation is a microtask like any other). So the
 * point is *after* the operation has taken effect and before the task continues: the operation is
 * traced in the step that called it, and the task parks once the operation's promise settles — at
 * once for a free lock, later for a contended one (the task is then blocked until a release, notify,
 * abort or virtual timeout settles it). A point *before* the call would invent interleavings that
 * cannot happen (another task slipping between a condition check and the `wait()` that follows it
 * synchronously, and reports of lost wake-ups that cannot occur) and miss real ones (another task
 * running while this one holds a lock it has just been granted).
 *
 * @internal
 */

import { TimeoutError } from "../errors.js";
import { type LockLabel, taskContext } from "./run.js";

/** How a lock appears in traces: its `name` (`Mutex#3` unless named) and its kind. */
export function describeLock(lock: object): LockLabel {
  const kind = (lock as { constructor?: { name?: unknown } }).constructor?.name;
  const name = (lock as { name?: unknown }).name;
  const kindText = typeof kind === "string" && kind !== "" ? kind : "lock";
  return { name: typeof name === "string" ? name : kindText, kind: kindText };
}

interface TimedOptions {
  timeout?: unknown;
  signal?: AbortSignal | undefined;
}

/**
 * An asynchronous operation (`lock`, `acquire`, `notified`, `wait`, `withLock`, …): it takes effect
 * now, and the task parks at a scheduling point once its promise settles. A `timeout` is replaced by a
 * signal that a virtual timer aborts with a `TimeoutError`, so timeouts fire in virtual time,
 * deterministically, only when no task can run.
 */
export async function aroundOp<R>(
  lock: object,
  op: string,
  options: unknown,
  run: (options: unknown) => Promise<R>,
): Promise<R> {
  const task = taskContext.getStore();
  if (task === undefined) return run(options);
  const exploration = task.run;

  let effective = options;
  let timer: { cancel(): void } | undefined;
  let unfollow: (() => void) | undefined;
  const timed = options as TimedOptions | undefined;
  const ms = timed?.timeout;
  // Only a valid timeout is virtualized; a bad one goes through, so the primitive reports it.
  if (typeof ms === "number" && ms >= 0 && ms !== Number.POSITIVE_INFINITY && typeof options === "object") {
    const controller = new AbortController();
    const outer = timed?.signal;
    if (outer?.aborted) controller.abort(outer.reason);
    else if (outer !== undefined) {
      const follow = (): void => controller.abort(outer.reason);
      outer.addEventListener("abort", follow, { once: true });
      unfollow = () => outer.removeEventListener("abort", follow);
    }
    const label = describeLock(lock).name;
    timer = exploration.addTimer(
      ms,
      () => controller.abort(new TimeoutError(`Timed out after ${ms} ms waiting to ${op} ${label}`)),
      `${op} on ${label} by ${task.name} times out`,
    );
    effective = { ...(options as object), timeout: undefined, signal: controller.signal };
  }

  exploration.syncOp(task, op, lock);
  const inside = { op, lock };
  task.inside.push(inside);
  let value: R | undefined;
  let error: unknown;
  let failed = false;
  try {
    value = await run(effective);
  } catch (caught) {
    error = caught;
    failed = true;
  }
  const at = task.inside.lastIndexOf(inside);
  if (at >= 0) task.inside.splice(at, 1);
  timer?.cancel();
  unfollow?.();
  if (!failed) exploration.acquired(task, lock, value);
  // The `await` of the operation: another task may run before this one continues.
  const failure = failed ? `failed: ${error instanceof Error ? error.name : String(error)}` : undefined;
  await exploration.point(task, `after ${op}`, lock, failure);
  if (failed) throw error;
  return value as R;
}

/** A synchronous operation: traced in the current step, never a task switch. */
export function syncOp(lock: object, op: string, detail?: string): void {
  const task = taskContext.getStore();
  if (task !== undefined) task.run.syncOp(task, op, lock, detail);
}

/** `guard` was granted on `lock` (possibly while another task was running: a release hands over). */
export function grantOp(lock: object, guard: object): void {
  const task = taskContext.getStore();
  if (task !== undefined) task.run.granted(lock, guard, undefined);
}

/** `guard` was released: traced, and no longer held. */
export function releaseOp(lock: object, guard: object): void {
  const task = taskContext.getStore();
  if (task === undefined) return;
  task.run.released(guard);
  task.run.syncOp(task, "release", lock);
}
