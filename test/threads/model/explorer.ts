/**
 * A loom-style model checker for the raw shared-memory algorithms of `lockbox/threads`, in one thread,
 * with no real workers.
 *
 * Simulated threads are plain synchronous functions that reach shared memory only through an injected
 * {@link AtomicsLike} stand-in. Every stand-in call (and every `ctx.enter` / `ctx.leave` marker) is a
 * scheduling point. Synchronous JS cannot be suspended mid-call, so a thread is suspended by throwing a
 * private signal out of the stand-in and resumed by re-running its function from the start: the first
 * `k` calls are answered from the thread's log without touching memory, call `k + 1` is performed for
 * real. A replayed call that differs from the logged one means the code under test broke the
 * determinism rule of `src/threads/raw/atomics-like.ts`, and is reported as such.
 *
 * Exploration is stateless and depth-first (each schedule re-runs `setup` and the threads from
 * scratch) with iterative preemption bounding (CHESS): every schedule with 0 preemptions, then with
 * exactly 1, …, up to the bound. A switch away from a thread that could still run is a preemption;
 * a switch at a block (park) or at a thread's end is free. Timeouts of timed waits, (opt-in) spurious
 * wake-ups and (opt-in) wake-ups stolen by an abandoned `waitAsync` are extra explored choices with their
 * own per-schedule budgets. `ctx.now()` is a virtual clock that only moves when a timed wait times out.
 *
 * For programs too big for bounded search, {@link sample} runs seeded random walks with no bound.
 *
 * Checks: section exclusion (`exclusive` excludes everyone, `shared` holders coexist, optional weighted
 * capacity), deadlock (nothing can run and some thread is parked with no timeout: a lost wake-up ends
 * here), thread errors, a user invariant after every step and a final check when every thread is done.
 * On failure the report carries the exact schedule (a string of choices that {@link replay} and the
 * `schedule` option accept) and a step-by-step trace.
 */

import type { AtomicsLike } from "../../../src/threads/raw/atomics-like.js";

/** How a thread holds a section: `exclusive` excludes everyone, `shared` coexists with `shared`. */
export type SectionMode = "exclusive" | "shared";

/** What a simulated thread sees. */
export interface ThreadContext {
  /** 0-based thread id (its position in `Program.threads`). */
  readonly id: number;
  /** The scheduling stand-in (the same object `setup` received). */
  readonly atomics: AtomicsLike;
  /**
   * Marks entering `section` (a scheduling point). Exclusion against the other threads is checked here;
   * a thread never conflicts with itself (a downgrade enters `shared` while still `exclusive`).
   */
  enter(section: string, mode?: SectionMode, weight?: number): void;
  /** Marks leaving `section` (a scheduling point): the latest holding of it, or of it in `mode`. */
  leave(section: string, mode?: SectionMode): void;
  /**
   * The virtual clock, in ms: starts at 0 and only moves when a timed wait times out (to that wait's
   * deadline). Logged and replayed like a stand-in call, but not a scheduling point.
   */
  now(): number;
  /**
   * Marks an `await` of a task (a scheduling point): with {@link Program.loops}, the other tasks of
   * this thread's event loop may run from here on, as they may while it is parked. Without `loops`
   * it is only a scheduling point.
   */
  yieldTask(): void;
}

/** A simulated thread: runs synchronously; its return value is passed to `Program.final`. */
export type ThreadBody<S> = (ctx: ThreadContext, shared: S) => unknown;

/** A section holder, as seen by invariants. */
export interface Holder {
  readonly thread: number;
  readonly mode: SectionMode;
  readonly weight: number;
}

/** Model state visible to `invariant` and `final`. */
export interface ModelView {
  /** Current holders of `section`. */
  holders(section: string): readonly Holder[];
  /** Sum of the weights of the current holders of `section`. */
  held(section: string): number;
  /** How many times `section` was entered so far in this schedule. */
  entries(section: string): number;
  /** How many times `thread` has parked so far in this schedule. */
  parks(thread: number): number;
  /** Return values of finished threads (undefined for unfinished ones). */
  readonly results: readonly unknown[];
}

/** A test program: fresh shared state per schedule, 1 to a few threads, checks. */
export interface Program<S> {
  /** Builds fresh shared state. Memory may be read/written directly here; stand-in calls go straight through. */
  setup(atomics: AtomicsLike): S;
  readonly threads: ReadonlyArray<ThreadBody<S>>;
  /** Weighted sections: the summed weight of holders must never exceed the capacity. */
  readonly capacity?: Readonly<Record<string, number>>;
  /** Checked after every step; throw to report a violation. Stand-in calls here go straight to memory. */
  invariant?(shared: S, view: ModelView): void;
  /** Checked when every thread has finished; throw to report a violation. */
  final?(shared: S, view: ModelView): void;
  /** Names for memory in traces (`lock[0]` instead of `m0[0]`). */
  names?(shared: S): Readonly<Record<string, Int32Array | SharedArrayBuffer | ArrayBuffer>>;
  /**
   * The event loop of each thread (default: each thread its own). Simulated threads with the same
   * loop are tasks of one real thread: they share nothing the model does not show them, but they never
   * run at the same time: a switch from one to another happens only where the running one parks,
   * returns or calls `ctx.yieldTask()` (an `await`). Threads of other loops still preempt anywhere.
   */
  readonly loops?: readonly number[];
}

/** Exploration options. Unset fields fall back to the env (see {@link defaultOptions}). */
export interface ExploreOptions {
  /** Maximum preemptions per schedule. */
  preemptionBound?: number;
  /** Stop after this many schedule runs (the report then says `complete: false`). */
  maxSchedules?: number;
  /** A schedule longer than this many steps fails as a livelock. */
  maxSteps?: number;
  /** Timeout events per schedule (a timed wait may wake with "timed-out"). Default: one per thread. */
  timeouts?: number;
  /** Spurious wake-ups per schedule (a parked wait returns "ok" with no notify). Default 0. */
  spuriousWakeups?: number;
  /**
   * Stolen wake-ups per schedule (default 0): an abandoned `Atomics.waitAsync` (which cannot be
   * cancelled, SPEC §4) sits in a parked thread's queue ahead of it and swallows one wake-up of a
   * `notify(…, count)`. Explored as the choice `?k`: a phantom is registered just ahead of Tk.
   */
  stolenWakeups?: number;
  /**
   * Treat "every unfinished thread parked" as a deadlock even when their waits have timeouts. For
   * protocols whose timeouts are only a liveness backstop (polling for owner death or stolen wake-ups):
   * reaching that state means a wake-up was lost and only the poll would recover it. Default false.
   */
  allParkedIsDeadlock?: boolean;
  /** Replay exactly this schedule (from a failure report) instead of exploring. */
  schedule?: string;
  /** Called with the steps of every schedule that passed (to assert that an interleaving was covered). */
  onSchedule?: (steps: readonly Step[], schedule: string) => void;
}

export type FailureKind =
  | "exclusion"
  | "deadlock"
  | "invariant"
  | "final"
  | "thread-error"
  | "nondeterminism"
  | "swallowed-preemption"
  | "livelock"
  | "infeasible-schedule";

/** One step of a schedule, for traces. */
export interface Step {
  readonly thread: number;
  readonly text: string;
}

export interface Failure {
  readonly kind: FailureKind;
  readonly message: string;
  /**
   * Choices separated by spaces: `2` runs T2, `~2` times T2's wait out, `!2` wakes T2 spuriously,
   * `?2` registers an abandoned waitAsync just ahead of T2 in its queue.
   */
  readonly schedule: string;
  readonly steps: readonly Step[];
  /** The failure, the schedule and the numbered steps, ready to print. */
  readonly trace: string;
  /** Preemptions the failing schedule used. */
  readonly preemptions: number;
}

export interface ModelReport {
  /** Distinct schedules checked. */
  readonly schedules: number;
  /** Schedule runs, including re-runs of lower preemption bounds. */
  readonly runs: number;
  /** True when every schedule within the bound was explored (no cap hit, no failure). */
  readonly complete: boolean;
  readonly preemptionBound: number;
  /** Longest schedule, in steps. */
  readonly longest: number;
  /** Schedules that ended with every live thread in a timed wait and no timeout budget left. */
  readonly stuck: number;
  readonly failure?: Failure;
}

/** Thrown by {@link check} when the model checker finds a failure. */
export class ModelCheckError extends Error {
  override readonly name = "ModelCheckError";
  constructor(
    readonly failure: Failure,
    readonly report: ModelReport,
  ) {
    super(`${failure.trace}\n(after ${report.schedules} schedules)`);
  }
}

function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new RangeError(`Expected env ${name} to be a number >= 0, got ${raw}`);
  return n;
}

/**
 * Defaults, raised from the environment: `LOCKBOX_MODEL_BOUND` (preemption bound, default 2),
 * `LOCKBOX_MODEL_SCHEDULES` (schedule cap; default 20 000 × `LOCKBOX_STRESS`, which defaults to 1).
 */
export function defaultOptions(): Required<
  Omit<ExploreOptions, "schedule" | "timeouts" | "onSchedule" | "allParkedIsDeadlock">
> {
  const stress = envNumber("LOCKBOX_STRESS", 1) || 1;
  return {
    preemptionBound: Math.floor(envNumber("LOCKBOX_MODEL_BOUND", 2)),
    maxSchedules: Math.floor(envNumber("LOCKBOX_MODEL_SCHEDULES", 20_000 * stress)),
    maxSteps: 2_000,
    spuriousWakeups: 0,
    stolenWakeups: 0,
  };
}

/**
 * A test's default budget, which the environment overrides: `LOCKBOX_MODEL_BOUND` replaces the
 * preemption bound and `LOCKBOX_MODEL_TIMEOUTS` the timeout budget, so a long run can raise every test
 * at once (`LOCKBOX_MODEL_BOUND=3 LOCKBOX_MODEL_SCHEDULES=1000000 npx vitest run test/threads/model`).
 */
export function budget(options: ExploreOptions): ExploreOptions {
  const result = { ...options };
  if (process.env.LOCKBOX_MODEL_BOUND) delete result.preemptionBound;
  if (process.env.LOCKBOX_MODEL_TIMEOUTS) result.timeouts = Math.floor(envNumber("LOCKBOX_MODEL_TIMEOUTS", 0));
  return result;
}

// ---------------------------------------------------------------------------------------------------
// Internals

/**
 * Thrown out of the stand-in to unwind a simulated thread. Not an `Error` (no stack capture: it is
 * thrown on every context switch) and private to this module, so code under test cannot recognise it.
 */
const PREEMPT: object = Object.freeze({ preempted: true });

type Choice = {
  readonly kind: "run" | "timeout" | "spurious" | "steal";
  readonly thread: number;
  readonly key: string;
};

/** A queue entry: a parked thread, or `undefined` for an abandoned waitAsync (a phantom). */
type Waiter = ThreadState | undefined;

const RUN_CHOICES: Choice[] = [];
function runChoice(thread: number): Choice {
  let choice = RUN_CHOICES[thread];
  if (choice === undefined) RUN_CHOICES[thread] = choice = { kind: "run", thread, key: String(thread) };
  return choice;
}

type Op =
  | "load"
  | "store"
  | "exchange"
  | "add"
  | "sub"
  | "and"
  | "or"
  | "compareExchange"
  | "wait"
  | "notify"
  | "enter"
  | "leave"
  | "now"
  | "yield";

/**
 * One call of a thread, as replay compares it: the operation, the address (buffer and int32 slot, so
 * two views of one buffer agree) and the arguments. Stored as fields, not as text: a call is compared
 * on every re-execution, and formatted only for a trace.
 */
interface LogEntry {
  readonly op: Op;
  readonly buffer: ArrayBufferLike | undefined;
  readonly slot: number;
  readonly a: number | undefined;
  readonly b: number | undefined;
  /** Markers: the section. */
  readonly label: string;
  /** Result; for a wait that parked, filled in on wake-up. */
  result: unknown;
}

interface Parked {
  readonly entry: LogEntry;
  readonly timed: boolean;
  /** Virtual time at which the wait times out (Infinity when untimed). */
  readonly deadline: number;
}

interface ThreadState {
  readonly id: number;
  readonly log: LogEntry[];
  status: "runnable" | "parked" | "done";
  parked: Parked | undefined;
  parks: number;
  result: unknown;
  /** Between two tasks of its event loop: not started yet, woken from a park, or at `yieldTask()`. */
  boundary: boolean;
}

interface HolderState extends Holder {
  readonly section: string;
}

interface Chooser {
  choose(options: readonly Choice[], depth: number): Choice;
}

/** Internal: stops the current schedule. Never thrown through code under test (PREEMPT is). */
class Stop {
  constructor(
    readonly kind: FailureKind,
    readonly message: string,
  ) {}
}

type Outcome = { kind: "done" } | { kind: "stuck" } | { kind: "failed"; failure: Stop };

const INT32_BYTES = 4;
const MODES: readonly SectionMode[] = ["exclusive", "shared"];

/** A step of a trace, formatted only when read. */
class StepRecord implements Step {
  constructor(
    readonly thread: number,
    readonly format: (record: StepRecord) => string,
    readonly entry: LogEntry | undefined,
    readonly outcome: string | number | undefined,
  ) {}

  get text(): string {
    return this.format(this);
  }
}

/** One run of the program along one schedule. */
class Execution<S> {
  readonly threads: ThreadState[];
  /** The trace, when recorded (exploration records only if `onSchedule` needs it; a failure is replayed to record it). */
  readonly steps: StepRecord[] = [];
  stepCount = 0;
  readonly #recording: boolean;
  readonly choices: string[] = [];
  preemptions = 0;
  readonly #program: Program<S>;
  readonly #chooser: Chooser;
  readonly #bound: number;
  readonly #timeoutBudget: number;
  readonly #spuriousBudget: number;
  readonly #stealBudget: number;
  #stealsUsed = 0;
  readonly #maxSteps: number;
  readonly #allParkedIsDeadlock: boolean;
  #time = 0;
  #timeoutsUsed = 0;
  #spuriousUsed = 0;
  #current = -1;
  #shared!: S;
  #direct = true;
  #live: ThreadState | undefined;
  #cursor = 0;
  #mustPerform = false;
  #unwinding = false;
  #pending: Choice | undefined;
  #stop: Stop | undefined;
  /** Parked threads per buffer and int32 slot, in the order they parked. */
  readonly #queues = new Map<ArrayBufferLike, Map<number, Waiter[]>>();
  readonly #holders: HolderState[] = [];
  readonly #entries = new Map<string, number>();
  /** Named regions of each buffer, in int32 slots: a name applies to [start, end). */
  readonly #bufferNames = new Map<ArrayBufferLike, { name: string; start: number; end: number }[]>();
  readonly #view: ModelView;
  readonly #format = (record: StepRecord) => this.#describe(record);
  readonly atomics: AtomicsLike;

  constructor(
    program: Program<S>,
    chooser: Chooser,
    bound: number,
    options: Required<ExploreOptions>,
    recording: boolean,
  ) {
    this.#recording = recording;
    this.#program = program;
    this.#chooser = chooser;
    this.#bound = bound;
    this.#timeoutBudget = options.timeouts;
    this.#spuriousBudget = options.spuriousWakeups;
    this.#stealBudget = options.stolenWakeups;
    this.#maxSteps = options.maxSteps;
    this.#allParkedIsDeadlock = options.allParkedIsDeadlock;
    this.threads = program.threads.map((_, id) => ({
      id,
      log: [],
      status: "runnable",
      parked: undefined,
      parks: 0,
      result: undefined,
      boundary: true,
    }));
    const holders = this.#holders;
    const entries = this.#entries;
    const threads = this.threads;
    this.#view = {
      holders: (section) => holders.filter((h) => h.section === section),
      held: (section) => holders.reduce((sum, h) => (h.section === section ? sum + h.weight : sum), 0),
      entries: (section) => entries.get(section) ?? 0,
      parks: (thread) => threads[thread]?.parks ?? 0,
      get results() {
        return threads.map((t) => t.result);
      },
    };
    this.atomics = this.#makeAtomics();
  }

  run(): Outcome {
    try {
      this.#shared = this.#program.setup(this.atomics);
      const names = this.#program.names?.(this.#shared) ?? {};
      for (const [name, memory] of Object.entries(names)) {
        const buffer = ArrayBuffer.isView(memory) ? memory.buffer : memory;
        const start = ArrayBuffer.isView(memory) ? memory.byteOffset / INT32_BYTES : 0;
        const end = start + memory.byteLength / INT32_BYTES;
        let regions = this.#bufferNames.get(buffer);
        if (regions === undefined) this.#bufferNames.set(buffer, (regions = []));
        regions.push({ name, start, end });
      }
      this.#direct = false;
      for (;;) {
        let choice = this.#pending;
        this.#pending = undefined;
        if (choice === undefined) {
          const options = this.#options();
          if (options.length === 0) return this.#end();
          choice = this.#choose(options);
        }
        if (choice.kind === "run") this.#runThread(choice.thread);
        else this.#applyEvent(choice);
        if (this.#stop) return { kind: "failed", failure: this.#stop };
      }
    } catch (error) {
      if (error instanceof Stop) return { kind: "failed", failure: error };
      throw error;
    }
  }

  // --- scheduling ------------------------------------------------------------------------------

  /** Enabled choices, cheapest first: keep running the current thread, then switches, then events. */
  #options(): Choice[] {
    const options: Choice[] = [];
    const current = this.threads[this.#current];
    const currentRunnable = current !== undefined && current.status === "runnable";
    if (currentRunnable && this.#mayRun(current)) options.push(runChoice(current.id));
    const canSwitch = !currentRunnable || this.preemptions < this.#bound;
    let anyRunnable = currentRunnable;
    let anyParked = false;
    let anyTimed = false;
    for (const t of this.threads) {
      if (t.status === "runnable") {
        anyRunnable = true;
        if (t !== current && canSwitch && this.#mayRun(t)) options.push(runChoice(t.id));
      } else if (t.status === "parked") {
        anyParked = true;
        if (t.parked!.timed) anyTimed = true;
      }
    }
    if (!anyParked) return options;
    // Nothing can run and nothing will time out: a deadlock, whatever a spurious wake-up could do.
    if (!anyRunnable && (!anyTimed || this.#allParkedIsDeadlock)) return [];
    if (this.#timeoutsUsed < this.#timeoutBudget) {
      for (const t of this.threads) {
        if (t.status === "parked" && t.parked!.timed) options.push({ kind: "timeout", thread: t.id, key: `~${t.id}` });
      }
    }
    if (this.#spuriousUsed < this.#spuriousBudget) {
      for (const t of this.threads) {
        if (t.status === "parked") options.push({ kind: "spurious", thread: t.id, key: `!${t.id}` });
      }
    }
    // A phantom only matters to a later notify, which only a runnable thread can make.
    if (anyRunnable && this.#stealsUsed < this.#stealBudget) {
      for (const t of this.threads) {
        if (t.status === "parked") options.push({ kind: "steal", thread: t.id, key: `?${t.id}` });
      }
    }
    return options;
  }

  /** With `loops`: a task may run unless another task of its event loop is in the middle of running. */
  #mayRun(t: ThreadState): boolean {
    const loops = this.#program.loops;
    if (loops === undefined) return true;
    const loop = loops[t.id] ?? -1 - t.id;
    for (const u of this.threads) {
      if (u !== t && u.status === "runnable" && !u.boundary && (loops[u.id] ?? -1 - u.id) === loop) return false;
    }
    return true;
  }

  #choose(options: readonly Choice[]): Choice {
    if (this.stepCount >= this.#maxSteps) {
      throw new Stop("livelock", `schedule exceeded ${this.#maxSteps} steps (livelock or unbounded spinning)`);
    }
    const choice = this.#chooser.choose(options, this.choices.length);
    this.choices.push(choice.key);
    if (choice.kind === "run") {
      const current = this.threads[this.#current];
      if (current !== undefined && current.status === "runnable" && choice.thread !== current.id) this.preemptions++;
      this.#current = choice.thread;
    }
    return choice;
  }

  #applyEvent(choice: Choice): void {
    const t = this.threads[choice.thread]!;
    const parked = t.parked!;
    if (choice.kind === "steal") {
      this.#stealsUsed++;
      const queue = this.#queue(parked.entry);
      queue.splice(queue.indexOf(t), 0, undefined);
      this.#record(t.id, parked.entry, "gets an abandoned waitAsync queued ahead of it");
      return;
    }
    this.#unpark(t);
    if (choice.kind === "timeout") {
      this.#timeoutsUsed++;
      this.#time = Math.max(this.#time, parked.deadline);
      parked.entry.result = "timed-out";
      this.#record(t.id, parked.entry, `times out at ${this.#time} ms`);
    } else {
      this.#spuriousUsed++;
      parked.entry.result = "ok";
      this.#record(t.id, parked.entry, "wakes spuriously");
    }
    this.#checkInvariant();
  }

  #queue(entry: LogEntry): Waiter[] {
    let slots = this.#queues.get(entry.buffer!);
    if (slots === undefined) this.#queues.set(entry.buffer!, (slots = new Map()));
    let queue = slots.get(entry.slot);
    if (queue === undefined) slots.set(entry.slot, (queue = []));
    return queue;
  }

  #unpark(t: ThreadState): void {
    const queue = this.#queue(t.parked!.entry);
    queue.splice(queue.indexOf(t), 1);
    t.parked = undefined;
    t.status = "runnable";
    t.boundary = true; // a wake-up resumes the task as a new event-loop task
  }

  #end(): Outcome {
    const unfinished = this.threads.filter((t) => t.status !== "done");
    if (unfinished.length === 0) {
      this.#direct = true;
      try {
        this.#program.final?.(this.#shared, this.#view);
      } catch (error) {
        throw new Stop("final", `final check failed: ${message(error)}`);
      }
      return { kind: "done" };
    }
    // Only when no timed wait remains: a thread that times out later might still wake the others.
    if (this.#allParkedIsDeadlock || unfinished.every((t) => !t.parked!.timed)) {
      const who = unfinished.map((t) => {
        const p = t.parked!;
        return `T${t.id} parked on ${this.#address(p.entry)} (value ${p.entry.a}${p.timed ? ", timed" : ""})`;
      });
      throw new Stop("deadlock", `deadlock (or lost wake-up): ${who.join(", ")}, nothing left to run`);
    }
    return { kind: "stuck" };
  }

  /** Re-runs thread `id` from its start; its next unlogged call is performed, then it runs until the scheduler switches. */
  #runThread(id: number): void {
    const t = this.threads[id]!;
    const ctx: ThreadContext = {
      id,
      atomics: this.atomics,
      enter: (section, mode = "exclusive", weight = 1) => {
        this.#call("enter", undefined, 0, MODES.indexOf(mode), weight, section);
      },
      leave: (section, mode) => {
        this.#call("leave", undefined, 0, mode === undefined ? -1 : MODES.indexOf(mode), 0, section);
      },
      now: () => this.#call("now", undefined, 0, undefined, undefined, "") as number,
      yieldTask: () => {
        this.#call("yield", undefined, 0, undefined, undefined, "");
      },
    };
    this.#live = t;
    this.#cursor = 0;
    this.#mustPerform = true;
    this.#unwinding = false;
    try {
      const result = this.#program.threads[id]!(ctx, this.#shared);
      if (this.#unwinding) {
        this.#stop ??= new Stop(
          "swallowed-preemption",
          `T${id} returned after catching the model checker's preemption signal: the code under test swallows exceptions around AtomicsLike calls`,
        );
        return;
      }
      if (this.#cursor < t.log.length) {
        throw new Stop(
          "nondeterminism",
          `T${id} returned after ${this.#cursor} calls on replay, but its log has ${t.log.length}: code under test is not deterministic between AtomicsLike calls`,
        );
      }
      t.status = "done";
      t.result = result;
      this.#record(id, undefined, "returns");
      const held = this.#holders.filter((h) => h.thread === id);
      if (held.length > 0) {
        throw new Stop(
          "exclusion",
          `T${id} finished while still inside ${held.map((h) => `"${h.section}"`).join(", ")}`,
        );
      }
    } catch (error) {
      if (error instanceof Stop) throw error;
      if (this.#unwinding) return; // PREEMPT, or whatever a finally block threw while it unwound
      throw new Stop("thread-error", `T${id} threw: ${message(error)}`);
    } finally {
      this.#live = undefined;
    }
  }

  /**
   * The heart of re-execution, called for every stand-in call, marker and clock read. Outside a
   * thread (setup, invariant, final) it acts at once. In a thread it replays logged calls; at the
   * first new call of a step it performs the call the scheduler picked; at each later one it asks the
   * scheduler whether this thread keeps running (then performs it inline: no re-run needed) or throws
   * the preemption signal. The clock is replayed like a call but is not a scheduling point.
   */
  #call(
    op: Op,
    array: Int32Array | undefined,
    index: number,
    a: number | undefined,
    b: number | undefined,
    label: string,
  ): unknown {
    const t = this.#live;
    const buffer = array?.buffer;
    const slot = array === undefined ? 0 : array.byteOffset / INT32_BYTES + index;
    if (this.#direct || t === undefined) {
      if (op === "enter" || op === "leave" || op === "yield") {
        throw new Error(`ctx.${op}("${label}") called outside a simulated thread`);
      }
      return this.#perform({ op, buffer, slot, a, b, label, result: undefined }, array, index);
    }
    if (this.#unwinding) throw PREEMPT;
    if (this.#cursor < t.log.length) {
      const entry = t.log[this.#cursor]!;
      if (
        entry.op !== op ||
        entry.buffer !== buffer ||
        entry.slot !== slot ||
        !Object.is(entry.a, a) ||
        !Object.is(entry.b, b) ||
        entry.label !== label
      ) {
        const now = this.#signature({ op, buffer, slot, a, b, label, result: undefined });
        this.#stop = new Stop(
          "nondeterminism",
          `T${t.id} call #${this.#cursor + 1} replayed as ${now} but was recorded as ${this.#signature(entry)}: code under test is not deterministic between AtomicsLike calls`,
        );
        return this.#preempt();
      }
      this.#cursor++;
      return entry.result;
    }
    if (op !== "now") {
      if (!this.#mustPerform && !this.#keepRunning(t)) return this.#preempt();
      this.#mustPerform = false;
    }
    const entry: LogEntry = { op, buffer, slot, a, b, label, result: undefined };
    t.log.push(entry);
    this.#cursor++;
    try {
      entry.result = this.#perform(entry, array, index);
    } catch (error) {
      if (error instanceof Stop) {
        this.#stop = error;
        return this.#preempt();
      }
      t.log.pop();
      this.#cursor--;
      throw error; // a RangeError from the real Atomics, say: the thread's own error
    }
    if (op === "now") return entry.result;
    if (t.status !== "parked") t.boundary = op === "yield";
    if (t.status === "parked") return this.#preempt();
    this.#checkInvariant();
    if (this.#stop) return this.#preempt();
    return entry.result;
  }

  /** Asks the scheduler at a scheduling point of the live thread; applies events on the way. */
  #keepRunning(t: ThreadState): boolean {
    for (;;) {
      let choice: Choice;
      try {
        choice = this.#choose(this.#options());
      } catch (error) {
        if (error instanceof Stop) this.#stop = error;
        return false;
      }
      if (choice.kind === "run") {
        if (choice.thread === t.id) return true;
        this.#pending = choice;
        return false;
      }
      this.#applyEvent(choice);
      if (this.#stop) return false;
    }
  }

  #preempt(): never {
    this.#unwinding = true;
    throw PREEMPT;
  }

  /** Performs one call on memory / the model, and records it in the trace when a thread made it. */
  #perform(entry: LogEntry, array: Int32Array | undefined, index: number): unknown {
    const a = entry.a!;
    let result: number | string | undefined;
    switch (entry.op) {
      case "load":
        result = Atomics.load(array!, index);
        break;
      case "store":
        result = Atomics.store(array!, index, a);
        break;
      case "exchange":
        result = Atomics.exchange(array!, index, a);
        break;
      case "add":
        result = Atomics.add(array!, index, a);
        break;
      case "sub":
        result = Atomics.sub(array!, index, a);
        break;
      case "and":
        result = Atomics.and(array!, index, a);
        break;
      case "or":
        result = Atomics.or(array!, index, a);
        break;
      case "compareExchange":
        result = Atomics.compareExchange(array!, index, a, entry.b!);
        break;
      case "wait":
        return this.#wait(entry, array!, index);
      case "notify":
        return this.#notify(entry);
      case "now":
        return this.#time;
      case "enter":
        this.#record(this.#live!.id, entry, undefined);
        this.#enter(this.#live!, entry.label, MODES[a]!, entry.b!);
        return undefined;
      case "leave":
        this.#record(this.#live!.id, entry, undefined);
        this.#leave(this.#live!, entry.label, MODES[a]);
        return undefined;
      case "yield":
        this.#record(this.#live!.id, entry, undefined);
        return undefined;
    }
    if (!this.#direct && this.#live) this.#record(this.#live.id, entry, result);
    return result;
  }

  #enter(t: ThreadState, section: string, mode: SectionMode, weight: number): void {
    const others = this.#holders.filter((h) => h.section === section && h.thread !== t.id);
    this.#entries.set(section, (this.#entries.get(section) ?? 0) + 1);
    this.#holders.push({ section, thread: t.id, mode, weight });
    const conflict = others.find((h) => mode === "exclusive" || h.mode === "exclusive");
    if (conflict) {
      throw new Stop(
        "exclusion",
        `T${t.id} entered "${section}" (${mode}) while T${conflict.thread} holds it (${conflict.mode})`,
      );
    }
    const capacity = this.#program.capacity?.[section];
    const held = others.reduce((sum, h) => sum + h.weight, 0) + weight;
    if (capacity !== undefined && held > capacity) {
      throw new Stop(
        "exclusion",
        `T${t.id} entered "${section}" with weight ${weight}: ${held} held, capacity ${capacity}`,
      );
    }
  }

  #leave(t: ThreadState, section: string, mode: SectionMode | undefined): void {
    const i = this.#holders.findLastIndex(
      (h) => h.thread === t.id && h.section === section && (mode === undefined || h.mode === mode),
    );
    if (i < 0) {
      throw new Stop("exclusion", `T${t.id} left "${section}"${mode ? ` (${mode})` : ""} without entering it`);
    }
    this.#holders.splice(i, 1);
  }

  #wait(entry: LogEntry, array: Int32Array, index: number): "ok" | "not-equal" | "timed-out" | undefined {
    const t = this.#live;
    if (this.#direct || t === undefined) {
      throw new Error(`${this.#signature(entry)}: a wait outside a simulated thread would block forever`);
    }
    if (Atomics.load(array, index) !== (entry.a! | 0)) {
      this.#record(t.id, entry, "not-equal");
      return "not-equal";
    }
    const timeout = entry.b;
    const timed = timeout !== undefined && !Number.isNaN(timeout) && timeout !== Number.POSITIVE_INFINITY;
    if (timed && timeout <= 0) {
      this.#record(t.id, entry, "timed-out");
      return "timed-out";
    }
    t.status = "parked";
    t.parks++;
    t.parked = { entry, timed, deadline: timed ? this.#time + timeout : Number.POSITIVE_INFINITY };
    this.#queue(entry).push(t);
    this.#record(t.id, entry, "parks");
    return undefined; // filled in on wake-up
  }

  #notify(entry: LogEntry): number {
    const queue = this.#queue(entry);
    const count = entry.a;
    const n = count === undefined ? Number.POSITIVE_INFINITY : Math.max(0, Math.trunc(count) || 0);
    let woken = "";
    let wakes = 0;
    while (wakes < n && queue.length > 0) {
      const t = queue[0];
      wakes++;
      if (t === undefined) {
        queue.shift(); // the wake-up lands on an abandoned waitAsync: nobody runs
        woken += woken === "" ? "an abandoned waitAsync" : ", an abandoned waitAsync";
        continue;
      }
      t.parked!.entry.result = "ok";
      this.#unpark(t);
      woken += woken === "" ? `T${t.id}` : `, T${t.id}`;
    }
    if (!this.#direct && this.#live) this.#record(this.#live.id, entry, wakes > 0 ? `${wakes} (wakes ${woken})` : 0);
    return wakes;
  }

  #checkInvariant(): void {
    if (!this.#program.invariant) return;
    this.#direct = true;
    try {
      this.#program.invariant(this.#shared, this.#view);
    } catch (error) {
      this.#stop ??= new Stop("invariant", `invariant violated: ${message(error)}`);
    } finally {
      this.#direct = false;
    }
  }

  #record(thread: number, entry: LogEntry | undefined, outcome: string | number | undefined): void {
    this.stepCount++;
    if (this.#recording) this.steps.push(new StepRecord(thread, this.#format, entry, outcome));
  }

  // --- formatting (traces only) ----------------------------------------------------------------

  #address(entry: LogEntry): string {
    const buffer = entry.buffer!;
    let regions = this.#bufferNames.get(buffer);
    if (regions === undefined) {
      regions = [{ name: `m${this.#bufferNames.size}`, start: 0, end: Number.POSITIVE_INFINITY }];
      this.#bufferNames.set(buffer, regions);
    }
    const slot = entry.slot;
    const region = regions.find((r) => slot >= r.start && slot < r.end);
    return region ? `${region.name}[${slot - region.start}]` : `${regions[0]!.name}+${slot - regions[0]!.start}`;
  }

  #signature(entry: LogEntry): string {
    switch (entry.op) {
      case "now":
        return "now()";
      case "yield":
        return "yieldTask()";
      case "enter":
        return `enter(${entry.label}, ${MODES[entry.a!]}, ${entry.b})`;
      case "leave":
        return `leave(${entry.label}${entry.a! >= 0 ? `, ${MODES[entry.a!]}` : ""})`;
      case "load":
        return `load(${this.#address(entry)})`;
      case "compareExchange":
        return `compareExchange(${this.#address(entry)}, ${entry.a}, ${entry.b})`;
      case "wait":
        return `wait(${this.#address(entry)}, ${entry.a}${entry.b === undefined ? "" : `, ${entry.b}`})`;
      case "notify":
        return `notify(${this.#address(entry)}${entry.a === undefined ? "" : `, ${entry.a}`})`;
      default:
        return `${entry.op}(${this.#address(entry)}, ${entry.a})`;
    }
  }

  #describe(record: StepRecord): string {
    if (record.entry === undefined) return String(record.outcome);
    const sig = this.#signature(record.entry);
    if (record.outcome === undefined) return sig;
    if (record.entry.op === "wait" && typeof record.outcome === "string" && record.outcome.includes(" ")) {
      return `${sig} ${record.outcome}`; // "times out at …", "wakes spuriously"
    }
    if (record.outcome === "parks") return `${sig} parks`;
    return `${sig} -> ${record.outcome}`;
  }

  #makeAtomics(): AtomicsLike {
    const call = (op: Op, array: Int32Array, index: number, a: number | undefined, b: number | undefined): unknown =>
      this.#call(op, array, index, a, b, "");
    return {
      load: (array, index) => call("load", array, index, undefined, undefined) as number,
      store: (array, index, value) => call("store", array, index, value, undefined) as number,
      exchange: (array, index, value) => call("exchange", array, index, value, undefined) as number,
      add: (array, index, value) => call("add", array, index, value, undefined) as number,
      sub: (array, index, value) => call("sub", array, index, value, undefined) as number,
      and: (array, index, value) => call("and", array, index, value, undefined) as number,
      or: (array, index, value) => call("or", array, index, value, undefined) as number,
      compareExchange: (array, index, expected, replacement) =>
        call("compareExchange", array, index, expected, replacement) as number,
      wait: (array, index, value, timeout) =>
        call("wait", array, index, value, timeout) as "ok" | "not-equal" | "timed-out",
      notify: (array, index, count) => call("notify", array, index, count, undefined) as number,
    };
  }
}

function message(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

function formatFailure(stop: Stop, exec: Execution<unknown>): Failure {
  const schedule = exec.choices.join(" ");
  const width = String(exec.steps.length).length;
  const lines = exec.steps.map((s, i) => `  ${String(i + 1).padStart(width)}. T${s.thread} ${s.text}`);
  const trace = [
    `model check failed (${stop.kind}): ${stop.message}`,
    `schedule (${exec.preemptions} preemption${exec.preemptions === 1 ? "" : "s"}; replay with { schedule: "${schedule}" }):`,
    ...lines,
  ].join("\n");
  return { kind: stop.kind, message: stop.message, schedule, steps: exec.steps, trace, preemptions: exec.preemptions };
}

/** Depth-first over the choice tree: replays the recorded prefix, takes the first option at new points. */
class DfsChooser implements Chooser {
  readonly stack: { keys: string[]; index: number }[] = [];

  choose(options: readonly Choice[], depth: number): Choice {
    const point = this.stack[depth];
    if (point === undefined) {
      this.stack.push({ keys: options.map((o) => o.key), index: 0 });
      return options[0]!;
    }
    // Replaying the prefix must offer the same options: otherwise setup, a check or a thread depends
    // on something outside the model (a global, a clock, Math.random).
    let same = options.length === point.keys.length;
    for (let i = 0; same && i < options.length; i++) same = options[i]!.key === point.keys[i];
    if (!same) {
      throw new Stop(
        "nondeterminism",
        `the program itself is not deterministic: at choice ${depth + 1} the options were [${point.keys.join(" ")}], now [${options.map((o) => o.key).join(" ")}]`,
      );
    }
    return options[point.index]!;
  }

  /** Moves to the next unexplored schedule; false when the tree is exhausted. */
  advance(depth: number): boolean {
    this.stack.length = Math.min(this.stack.length, depth);
    while (this.stack.length > 0) {
      const top = this.stack[this.stack.length - 1]!;
      if (top.index + 1 < top.keys.length) {
        top.index++;
        return true;
      }
      this.stack.pop();
    }
    return false;
  }
}

/**
 * Picks uniformly at random among the options (a seeded xorshift, so a run is reproducible). No
 * preemption bound: a random walk reaches interleavings with many switches that bounded search skips.
 */
class RandomChooser implements Chooser {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0 || 0x9e3779b9;
  }

  choose(options: readonly Choice[]): Choice {
    let x = this.#state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#state = x >>> 0;
    return options[this.#state % options.length]!;
  }
}

/** Follows a given schedule, then the first option (no preemption) once it runs out. */
class ReplayChooser implements Chooser {
  constructor(readonly keys: readonly string[]) {}

  choose(options: readonly Choice[], depth: number): Choice {
    const key = this.keys[depth];
    if (key === undefined) return options[0]!;
    const found = options.find((o) => o.key === key);
    if (found === undefined) {
      throw new Stop(
        "infeasible-schedule",
        `schedule choice ${depth + 1} ("${key}") is not possible here; options were [${options.map((o) => o.key).join(" ")}]`,
      );
    }
    return found;
  }
}

function resolve(options: ExploreOptions, threads: number): Required<ExploreOptions> {
  const defaults = defaultOptions();
  return {
    preemptionBound: options.preemptionBound ?? defaults.preemptionBound,
    maxSchedules: options.maxSchedules ?? defaults.maxSchedules,
    maxSteps: options.maxSteps ?? defaults.maxSteps,
    timeouts: options.timeouts ?? threads,
    spuriousWakeups: options.spuriousWakeups ?? defaults.spuriousWakeups,
    stolenWakeups: options.stolenWakeups ?? defaults.stolenWakeups,
    allParkedIsDeadlock: options.allParkedIsDeadlock ?? false,
    schedule: options.schedule ?? "",
    onSchedule: options.onSchedule ?? (() => {}),
  };
}

/**
 * Explores the schedules of `program` and reports what it found. Never throws for a failure of the
 * program: the report's `failure` carries it (use {@link check} to throw).
 */
export function explore<S>(program: Program<S>, options: ExploreOptions = {}): ModelReport {
  const opts = resolve(options, program.threads.length);
  if (options.schedule !== undefined) return replayReport(program, opts);
  let schedules = 0;
  let runs = 0;
  let longest = 0;
  let stuck = 0;
  // Traces cost an object per step: record them only when a caller looks at passing schedules.
  const recording = options.onSchedule !== undefined;
  for (let bound = 0; bound <= opts.preemptionBound; bound++) {
    const chooser = new DfsChooser();
    for (;;) {
      if (runs >= opts.maxSchedules) {
        return { schedules, runs, complete: false, preemptionBound: opts.preemptionBound, longest, stuck };
      }
      const exec = new Execution(program, chooser, bound, opts, recording);
      const outcome = exec.run();
      runs++;
      longest = Math.max(longest, exec.stepCount);
      // Schedules under a lower bound were checked in an earlier pass: count each schedule once.
      const fresh = exec.preemptions === bound;
      if (fresh) schedules++;
      if (outcome.kind === "failed") {
        const failure = recorded(program, opts, outcome.failure, exec);
        return { schedules, runs, complete: false, preemptionBound: opts.preemptionBound, longest, stuck, failure };
      }
      if (outcome.kind === "stuck" && fresh) stuck++;
      if (fresh) opts.onSchedule(exec.steps, exec.choices.join(" "));
      if (!chooser.advance(exec.choices.length)) break;
    }
  }
  return { schedules, runs, complete: true, preemptionBound: opts.preemptionBound, longest, stuck };
}

/**
 * The failure with its trace: exploration does not record steps, so the failing schedule is replayed
 * once with recording on. (A program whose replay differs is itself nondeterministic: the failure is
 * then reported with the steps it has.)
 */
function recorded<S>(program: Program<S>, opts: Required<ExploreOptions>, stop: Stop, exec: Execution<S>): Failure {
  if (exec.steps.length === exec.stepCount) return formatFailure(stop, exec as Execution<unknown>);
  const again = new Execution(program, new ReplayChooser(exec.choices), Number.POSITIVE_INFINITY, opts, true);
  const outcome = again.run();
  if (outcome.kind === "failed" && outcome.failure.message === stop.message) {
    return formatFailure(stop, again as Execution<unknown>);
  }
  return formatFailure(stop, exec as Execution<unknown>);
}

function replayReport<S>(program: Program<S>, opts: Required<ExploreOptions>): ModelReport {
  const keys = opts.schedule.split(/\s+/).filter((k) => k !== "");
  const exec = new Execution(program, new ReplayChooser(keys), Number.POSITIVE_INFINITY, opts, true);
  const outcome = exec.run();
  const base = { schedules: 1, runs: 1, complete: true, preemptionBound: exec.preemptions, longest: exec.steps.length };
  if (outcome.kind === "failed") {
    return { ...base, complete: false, stuck: 0, failure: formatFailure(outcome.failure, exec as Execution<unknown>) };
  }
  return { ...base, stuck: outcome.kind === "stuck" ? 1 : 0 };
}

/**
 * Random exploration for programs too big for bounded search: `runs` random walks (no preemption
 * bound), from `seed` (default `LOCKBOX_MODEL_SEED`, else 1). Runs scale with `LOCKBOX_STRESS`. A
 * failure carries its schedule, which {@link replay} reproduces; `complete` is always false.
 */
export function sample<S>(program: Program<S>, options: ExploreOptions & { runs: number; seed?: number }): ModelReport {
  const opts = resolve(options, program.threads.length);
  const runs = Math.floor(options.runs * (envNumber("LOCKBOX_STRESS", 1) || 1));
  let seed = options.seed ?? Math.floor(envNumber("LOCKBOX_MODEL_SEED", 1));
  let longest = 0;
  let stuck = 0;
  for (let run = 0; run < runs; run++) {
    const exec = new Execution(program, new RandomChooser(seed++), Number.POSITIVE_INFINITY, opts, false);
    const outcome = exec.run();
    longest = Math.max(longest, exec.stepCount);
    const base = { schedules: run + 1, runs: run + 1, complete: false, preemptionBound: Number.POSITIVE_INFINITY };
    if (outcome.kind === "failed") {
      return { ...base, longest, stuck, failure: recorded(program, opts, outcome.failure, exec) };
    }
    if (outcome.kind === "stuck") stuck++;
  }
  return { schedules: runs, runs, complete: false, preemptionBound: Number.POSITIVE_INFINITY, longest, stuck };
}

/** Replays one schedule (a failure's `schedule` string) and returns its report. */
export function replay<S>(program: Program<S>, schedule: string, options: ExploreOptions = {}): ModelReport {
  return explore(program, { ...options, schedule });
}

/** Like {@link explore}, but throws a {@link ModelCheckError} (with the trace) on failure. */
export function check<S>(program: Program<S>, options: ExploreOptions = {}): ModelReport {
  const started = performance.now();
  const cpu = process.cpuUsage();
  const report = explore(program, options);
  if (process.env.LOCKBOX_MODEL_VERBOSE) {
    const ms = `${Math.round(performance.now() - started)} ms (${Math.round(process.cpuUsage(cpu).user / 1000)} ms cpu)`;
    console.log(
      `[model] ${report.schedules} schedules (${report.runs} runs), complete=${report.complete}, longest=${report.longest} steps, stuck=${report.stuck}, ${ms}`,
    );
  }
  if (report.failure) throw new ModelCheckError(report.failure, report);
  return report;
}

/** Renders the steps of a replayed schedule (for debugging a passing schedule). */
export function trace<S>(program: Program<S>, schedule: string, options: ExploreOptions = {}): string {
  const opts = resolve({ ...options, schedule }, program.threads.length);
  const keys = schedule.split(/\s+/).filter((k) => k !== "");
  const exec = new Execution(program, new ReplayChooser(keys), Number.POSITIVE_INFINITY, opts, true);
  const outcome = exec.run();
  const head =
    outcome.kind === "failed" ? `failed (${outcome.failure.kind}): ${outcome.failure.message}` : outcome.kind;
  return [head, ...exec.steps.map((s, i) => `  ${i + 1}. T${s.thread} ${s.text}`)].join("\n");
}
