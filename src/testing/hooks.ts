/**
 * What the explorer does when a lockbox primitive reports an operation: the scheduling point before
 * every asynchronous operation, virtual-time timeouts, the trace of synchronous operations, and who
 * holds what (for deadlock reports). Outside a task of an exploration every hook passes straight
 * through.
 *
 * @internal
 */

import { TimeoutError } from "../errors.js";
import { type LockLabel, taskContext } from "./run.js";

const MAX_TIMEOUT = 2 ** 31 - 1;

/**
 * Operations that are not scheduling points themselves: the callback forms, whose inner acquire is
 * one, and `waitWhile`, which first evaluates its predicate under a lock the task already holds, then
 * waits through `wait` (a point). A point here would only double the schedules. Their `timeout` is
 * still made virtual (it spans the whole call).
 */
const NOT_A_POINT: ReadonlySet<string> = new Set(["withLock", "withRead", "withWrite", "withPermit", "waitWhile"]);

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
 * An asynchronous operation (`lock`, `acquire`, `notified`, `wait`, …): a scheduling point first, then
 * the operation itself. A `timeout` is replaced by a signal that a virtual timer aborts with a
 * `TimeoutError`, so timeouts fire in virtual time, deterministically, only when no task can run.
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
  const isPoint = !NOT_A_POINT.has(op);
  if (isPoint) await exploration.point(task, op, lock);

  let effective = options;
  let timer: { cancel(): void } | undefined;
  let unfollow: (() => void) | undefined;
  const timed = options as TimedOptions | undefined;
  const ms = timed?.timeout;
  // Only a valid timeout is virtualized; a bad one goes through, so the primitive reports it.
  if (typeof ms === "number" && ms >= 0 && ms <= MAX_TIMEOUT && typeof options === "object") {
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

  if (!isPoint) {
    try {
      return await run(effective);
    } finally {
      timer?.cancel();
      unfollow?.();
    }
  }

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
  // Blocked at the end of an earlier step: the grant (or the failure) came from another task or a
  // timer. Park, so that the scheduler also decides when this task resumes.
  if (task.state === "blocked") {
    const why = failed ? `${op} failed: ${error instanceof Error ? error.name : String(error)}` : `after ${op}`;
    await exploration.point(task, "resume", lock, why);
  }
  if (failed) throw error;
  exploration.acquired(task, lock, value);
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
