/**
 * One run of an exploration: its tasks, the scheduler loop that lets exactly one of them proceed per
 * step, virtual time, the trace, and deadlock detection.
 *
 * ## How a task is seen
 *
 * Every task runs inside an `AsyncLocalStorage` context that names it, so whatever code reaches a
 * scheduling point (a lockbox operation through the observer, `t.yield()`, …) is attributed to the
 * right task even when several promise chains are in flight. A task is, at the end of every step:
 *
 * - `parked`: stopped at a scheduling point, waiting for the scheduler to pick it (it is *enabled*);
 * - `blocked`: it called a lockbox operation whose promise has not settled within the step (a
 *   contended acquire, a `notified()`, a condvar wait). It cannot run until some other task releases
 *   or notifies, or a virtual timeout fires. When the promise settles, the task parks at the point
 *   after the operation (`after lock`), so the scheduler also decides *when* a woken task resumes;
 * - `sleeping` (`t.sleep`) or `joining` (`t.join`): waiting for a virtual timer or for other tasks;
 * - `waiting`: awaiting something that is not a lockbox operation (another task's promise, a plain
 *   promise). It resumes by itself when that promise settles and then runs to its next point;
 * - `done`.
 *
 * A step resumes the chosen task, then drains the microtask queue (one macrotask turn): everything the
 * task does up to its next await of a point runs in that step, so operations between points are atomic,
 * exactly as they are between awaits in real JavaScript.
 *
 * ## Deadlock
 *
 * When no task is parked and no virtual timer is pending, nothing can ever run again: if some task is
 * unfinished, that is a deadlock. The report follows the wait-for graph (a blocked task → the tasks
 * holding the lock it waits for; a joining task → the tasks it joins) to print the cycle.
 *
 * @internal
 */

import { AssertionError } from "node:assert";
import { AsyncLocalStorage } from "node:async_hooks";
import { DeadlockError } from "../errors.js";
import type { Deviation } from "./schedule.js";

/** The task whose code is running, for every lockbox operation and `t.*` call. */
export const taskContext: AsyncLocalStorage<Task> = new AsyncLocalStorage<Task>();

// Captured at load: a test that installs fake timers must not stop the explorer's own clock.
const realSetImmediate = globalThis.setImmediate;

/** Lets every queued microtask (and the ones they queue) run. */
function drain(): Promise<void> {
  return new Promise((resolve) => realSetImmediate(resolve));
}

/** A fresh promise that never settles: a task of a run that is over stops where it is (and is collected). */
function never(): Promise<never> {
  return new Promise(() => {});
}

export type TaskState = "parked" | "running" | "blocked" | "sleeping" | "joining" | "waiting" | "done";

/** What a lock is called in traces and reports. */
export interface LockLabel {
  /** The primitive's name (`Mutex#3` unless the user named it). */
  readonly name: string;
  /** Its kind (`Mutex`, `Notify`, …): the part of a label that is the same in every run. */
  readonly kind: string;
}

export interface TraceEvent {
  /** Step number for a scheduled event; `undefined` for what happened inside a step (sync operations). */
  readonly step: number | undefined;
  readonly task: string;
  readonly op: string;
  readonly lock: LockLabel | undefined;
  readonly detail: string | undefined;
}

interface Operation {
  readonly op: string;
  readonly lock: object | undefined;
  readonly detail?: string | undefined;
}

export class Task {
  state: TaskState = "running";
  resume: (() => void) | undefined = undefined;
  /** Where the task is parked (the operation it performs when resumed). */
  at: Operation | undefined = undefined;
  /** Lockbox operations the task is inside, innermost last (a condvar wait re-acquiring its mutex). */
  readonly inside: Operation[] = [];
  /** Resolves a `t.join()` in progress. */
  joinWake: (() => void) | undefined = undefined;
  /** Scheduler bookkeeping (PCT priority). */
  priority = 0;

  constructor(
    readonly run: Run,
    readonly id: number,
    readonly name: string,
    readonly parent: Task | undefined,
  ) {}

  /** `true` when `this` was spawned, directly or not, by `ancestor`. */
  descendsFrom(ancestor: Task): boolean {
    for (let task = this.parent; task !== undefined; task = task.parent) if (task === ancestor) return true;
    return false;
  }
}

/** Picks the task that takes the next step, among at least two enabled ones. */
export interface Chooser {
  /**
   * @param enabled - parked tasks, by id.
   * @param fallback - the default choice: the task that ran last if it is enabled, else the first.
   */
  choose(enabled: readonly Task[], fallback: Task, run: Run): Task;
  /** Called when a task is created (PCT gives it a priority). */
  onSpawn?(task: Task): void;
}

export interface Failure {
  readonly error: unknown;
  /** The task that threw, if a task did. */
  readonly task: Task | undefined;
}

interface Timer {
  readonly at: number;
  readonly seq: number;
  readonly fire: () => void;
  readonly label: string;
  cancelled: boolean;
}

/** Describes a lock for traces; set by the observer adapter. */
export type Describe = (lock: object) => LockLabel;

/** A step taken with more than one task enabled (the exhaustive search walks these). */
export interface Decision {
  /** Enabled task ids, by id. */
  readonly enabled: readonly number[];
  readonly chosen: number;
  /** The default choice at that step. */
  readonly fallback: number;
  /** Whether the task that ran last could continue (choosing another one is then a preemption). */
  readonly currentEnabled: boolean;
}

export class Run {
  readonly tasks: Task[] = [];
  readonly trace: TraceEvent[] = [];
  /** Steps where the choice differed from the default rule: the replayable schedule. */
  readonly deviations: Deviation[] = [];
  readonly decisions: Decision[] = [];
  /** Switches away from a task that could have continued. */
  preemptions = 0;
  step = 0;
  /** Virtual time in milliseconds. */
  now = 0;
  current: Task | undefined = undefined;
  failure: Failure | undefined = undefined;
  ended = false;
  readonly #timers: Timer[] = [];
  #timerSeq = 0;
  /** Live guards: who holds which lock (for the deadlock report). */
  readonly #holders = new Map<object, { task: Task; lock: object }>();
  /** The lock each guard was granted on, from grant notifications. */
  readonly #guardLocks = new WeakMap<object, object>();

  constructor(
    readonly chooser: Chooser,
    readonly maxSteps: number,
    readonly describe: Describe,
  ) {}

  /** Runs `body` as task 0 (`main`) and steps until every task is done or the run fails. */
  async execute(body: () => unknown): Promise<void> {
    try {
      await this.#loop(body);
    } finally {
      // Also when a chooser throws (a divergence): tasks still in flight stop at their next point.
      this.ended = true;
    }
  }

  async #loop(body: () => unknown): Promise<void> {
    this.spawn(undefined, body, "main");
    await drain();
    for (;;) {
      if (this.failure !== undefined) break;
      this.#settle();
      const enabled = this.tasks.filter((task) => task.state === "parked");
      if (enabled.length === 0) {
        if (this.tasks.every((task) => task.state === "done")) break;
        if (this.#fireTimer()) {
          await drain();
          continue;
        }
        this.fail(this.#deadlock(), undefined);
        break;
      }
      if (this.step >= this.maxSteps) {
        this.fail(
          new Error(
            `The run took more than maxSteps (${this.maxSteps}) steps: a livelock (tasks that yield to each other forever), or raise \`maxSteps\``,
          ),
          undefined,
        );
        break;
      }
      const current = this.current;
      const fallback = current !== undefined && current.state === "parked" ? current : (enabled[0] as Task);
      const chosen = enabled.length === 1 ? fallback : this.chooser.choose(enabled, fallback, this);
      this.step++;
      if (enabled.length > 1) {
        this.decisions.push({
          enabled: enabled.map((task) => task.id),
          chosen: chosen.id,
          fallback: fallback.id,
          currentEnabled: fallback === current,
        });
      }
      if (chosen !== fallback) {
        this.deviations.push({ step: this.step, task: chosen.id });
        if (fallback === current) this.preemptions++;
      }
      this.current = chosen;
      const at = chosen.at as Operation;
      this.#record(this.step, chosen, at.op, at.lock, at.detail);
      chosen.state = "running";
      chosen.at = undefined;
      const resume = chosen.resume as () => void;
      chosen.resume = undefined;
      resume();
      await drain();
    }
  }

  /** Creates a task that parks at its start point; its promise settles when it has passed its end point. */
  spawn<T>(parent: Task | undefined, fn: () => T | PromiseLike<T>, name?: string): Promise<Awaited<T>> {
    const id = this.tasks.length;
    const task = new Task(this, id, name ?? `task ${id}`, parent);
    this.tasks.push(task);
    this.chooser.onSpawn?.(task);
    if (parent !== undefined) this.#record(undefined, parent, "spawn", undefined, task.name);
    const promise = taskContext.run(task, () => this.#taskBody(task, fn));
    // A task that throws fails the run; its promise must not also be an unhandled rejection.
    promise.catch(() => {});
    return promise;
  }

  async #taskBody<T>(task: Task, fn: () => T | PromiseLike<T>): Promise<Awaited<T>> {
    await this.point(task, "start");
    let value: Awaited<T>;
    try {
      value = await fn();
    } catch (error) {
      this.fail(error, task);
      return never();
    }
    await this.point(task, "end");
    this.#finish(task);
    return value;
  }

  /** Parks `task` at a scheduling point; resolves when the scheduler picks it. */
  point(task: Task, op: string, lock?: object, detail?: string): Promise<void> {
    if (this.ended || this.failure !== undefined) return never();
    task.state = "parked";
    task.at = { op, lock, detail };
    return new Promise((resolve) => {
      task.resume = resolve;
    });
  }

  /** `t.join()`: waits until every task spawned by `task` (directly or not) is done, then a point. */
  async join(task: Task): Promise<void> {
    this.syncOp(task, "join", undefined);
    if (!this.#joined(task)) {
      task.state = "joining";
      await new Promise<void>((resolve) => {
        task.joinWake = resolve;
      });
    }
    await this.point(task, "after join");
  }

  /** `t.sleep(ms)`: a virtual timer, then a point. */
  async sleep(task: Task, ms: number): Promise<void> {
    this.syncOp(task, "sleep", undefined, `${ms} ms`);
    task.state = "sleeping";
    await new Promise<void>((resolve) => this.addTimer(ms, resolve, `${task.name} wakes`));
    await this.point(task, "wake");
  }

  /** `t.assert`: a failed assertion fails the run even if the caller catches the error. */
  assert(task: Task | undefined, condition: unknown, message: string | undefined): void {
    if (condition) return;
    const error = new AssertionError({ message: message ?? "assertion failed" });
    this.fail(error, task);
    throw error;
  }

  /** A virtual timer `ms` from now; fires only when no task can run. */
  addTimer(ms: number, fire: () => void, label: string): { cancel(): void } {
    const timer: Timer = { at: this.now + ms, seq: this.#timerSeq++, fire, label, cancelled: false };
    const timers = this.#timers;
    let i = timers.length;
    while (i > 0 && (timers[i - 1] as Timer).at > timer.at) i--;
    timers.splice(i, 0, timer);
    return {
      cancel: () => {
        timer.cancelled = true;
      },
    };
  }

  fail(error: unknown, task: Task | undefined): void {
    if (this.failure !== undefined || this.ended) return;
    this.failure = { error, task };
    const text = error instanceof Error ? `${error.name}: ${firstLine(error.message)}` : String(error);
    this.#record(
      undefined,
      task,
      error instanceof DeadlockError && task === undefined ? "deadlock" : "fails",
      undefined,
      text,
    );
  }

  /** A synchronous operation (release, try-acquire, notify, borrow, …): traced, never a switch. */
  syncOp(task: Task, op: string, lock: object | undefined, detail?: string): void {
    if (this.ended) return;
    this.#record(undefined, task, op, lock, detail);
  }

  /** Grant notification: `guard` now holds `lock`. */
  granted(lock: object, guard: object, task: Task | undefined): void {
    this.#guardLocks.set(guard, lock);
    if (task !== undefined) this.#holders.set(guard, { task, lock });
  }

  /** The acquire of `task` resolved with `value`: if it is a guard, `task` holds it. */
  acquired(task: Task, lock: object, value: unknown): void {
    if (typeof value !== "object" || value === null || typeof (value as { release?: unknown }).release !== "function") {
      return;
    }
    this.#holders.set(value, { task, lock: this.#guardLocks.get(value) ?? lock });
  }

  released(guard: object): void {
    this.#holders.delete(guard);
  }

  /** Label of a lock for the trace. */
  label(lock: object): LockLabel {
    return this.describe(lock);
  }

  // ---------------------------------------------------------------------------------------------

  #record(step: number | undefined, task: Task | undefined, op: string, lock: object | undefined, detail?: string) {
    this.trace.push({
      step,
      task: task === undefined ? "-" : task.name,
      op,
      lock: lock === undefined ? undefined : this.describe(lock),
      detail,
    });
  }

  /** After a drain, a task still `running` is inside a lockbox operation, or awaiting something else. */
  #settle(): void {
    for (const task of this.tasks) {
      if (task.state !== "running") continue;
      const inner = task.inside[task.inside.length - 1];
      if (inner === undefined) {
        task.state = "waiting";
      } else {
        task.state = "blocked";
        this.#record(undefined, task, "blocks", inner.lock, `in ${inner.op}`);
      }
    }
  }

  #finish(task: Task): void {
    task.state = "done";
    for (const other of this.tasks) {
      if (other.state === "joining" && other.joinWake !== undefined && this.#joined(other)) {
        const wake = other.joinWake;
        other.joinWake = undefined;
        wake();
      }
    }
  }

  #joined(task: Task): boolean {
    return this.tasks.every((other) => other.state === "done" || !other.descendsFrom(task));
  }

  #fireTimer(): boolean {
    const timers = this.#timers;
    while (timers.length > 0) {
      const timer = timers.shift() as Timer;
      if (timer.cancelled) continue;
      this.now = Math.max(this.now, timer.at);
      this.#record(undefined, undefined, "time", undefined, `${this.now} ms: ${timer.label}`);
      timer.fire();
      return true;
    }
    return false;
  }

  /** What `task` is stuck on, and which tasks could unstick it. */
  #waitsFor(task: Task): { what: string; on: Task[] } {
    if (task.state === "joining") {
      const on = this.tasks.filter((other) => other.state !== "done" && other.descendsFrom(task));
      return { what: `waits in join() for ${on.map((t) => t.name).join(", ")}`, on };
    }
    if (task.state === "blocked") {
      const inner = task.inside[task.inside.length - 1] as Operation;
      const lock = inner.lock;
      const on: Task[] = [];
      if (lock !== undefined) {
        for (const holder of this.#holders.values()) {
          if (holder.lock === lock && holder.task !== task && !on.includes(holder.task)) on.push(holder.task);
        }
      }
      const name = lock === undefined ? "" : ` ${this.describe(lock).name}`;
      const held =
        on.length > 0
          ? ` held by ${on.map((t) => (t.state === "done" ? `${t.name} (finished without releasing it)` : t.name)).join(", ")}`
          : lock === undefined
            ? ""
            : nobodyHolds(this.describe(lock).kind);
      const mine = lock !== undefined && [...this.#holders.values()].some((h) => h.lock === lock && h.task === task);
      return {
        what: `waits in ${inner.op}()${name}${held}${mine ? `; ${task.name} itself holds it` : ""}`,
        on,
      };
    }
    return {
      what: "awaits something that is not a lockbox operation (another task's promise, or a promise nothing will settle)",
      on: [],
    };
  }

  #deadlock(): DeadlockError {
    const stuck = this.tasks.filter((task) => task.state !== "done");
    const edges = new Map(stuck.map((task) => [task, this.#waitsFor(task)] as const));
    // A cycle in the wait-for graph, if there is one (depth-first, by task id: deterministic).
    let cycle: Task[] | undefined;
    const visit = (task: Task, path: Task[]): void => {
      if (cycle !== undefined) return;
      const at = path.indexOf(task);
      if (at >= 0) {
        cycle = path.slice(at);
        return;
      }
      for (const next of edges.get(task)?.on ?? []) visit(next, [...path, task]);
    };
    for (const task of stuck) visit(task, []);
    const lines = [
      "Deadlock: every unfinished task is blocked and no virtual timer is pending.",
      ...(cycle === undefined
        ? []
        : [`cycle: ${cycle.map((task) => `${task.name} ${edges.get(task)?.what}`).join("\n    -> ")}`]),
      "tasks:",
      ...stuck.map((task) => `  ${task.name} ${edges.get(task)?.what}`),
    ];
    return new DeadlockError(lines.join("\n"));
  }
}

/** Why a wait with no holder to wait for never ends, by kind of primitive. */
function nobodyHolds(kind: string): string {
  if (kind === "Notify" || kind === "Condvar") return " and no task that can still run will notify it";
  if (kind === "Barrier") return " and not enough tasks are left to arrive";
  return " (no task holds it)";
}

function firstLine(text: string): string {
  const end = text.indexOf("\n");
  return end < 0 ? text : `${text.slice(0, end)} …`;
}
