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
 * a switch at a block (park) or at a thread's end is free. Timeouts of timed waits and (opt-in) spurious
 * wake-ups are extra explored choices with their own per-schedule budgets.
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
  /** Marks entering `section` (a scheduling point). Exclusion is checked here. */
  enter(section: string, mode?: SectionMode, weight?: number): void;
  /** Marks leaving `section` (a scheduling point). */
  leave(section: string): void;
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
  /** Choices separated by spaces: `2` runs T2, `~2` times T2's wait out, `!2` wakes T2 spuriously. */
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
export function defaultOptions(): Required<Omit<ExploreOptions, "schedule" | "timeouts" | "onSchedule">> {
  const stress = envNumber("LOCKBOX_STRESS", 1) || 1;
  return {
    preemptionBound: Math.floor(envNumber("LOCKBOX_MODEL_BOUND", 2)),
    maxSchedules: Math.floor(envNumber("LOCKBOX_MODEL_SCHEDULES", 20_000 * stress)),
    maxSteps: 2_000,
    spuriousWakeups: 0,
  };
}

// ---------------------------------------------------------------------------------------------------
// Internals

/**
 * Thrown out of the stand-in to unwind a simulated thread. Not an `Error` (no stack capture: it is
 * thrown on every context switch) and private to this module, so code under test cannot recognise it.
 */
const PREEMPT: object = Object.freeze({ preempted: true });

type Choice = { readonly kind: "run" | "timeout" | "spurious"; readonly thread: number; readonly key: string };

function runChoice(thread: number): Choice {
  return { kind: "run", thread, key: String(thread) };
}

interface LogEntry {
  /** Canonical text of the call; replay compares it. */
  readonly sig: string;
  /** Result; for a wait that parked, filled in on wake-up. */
  result: unknown;
}

interface Parked {
  readonly address: string;
  readonly entry: LogEntry;
  readonly timed: boolean;
}

interface ThreadState {
  readonly id: number;
  readonly log: LogEntry[];
  status: "runnable" | "parked" | "done";
  parked: Parked | undefined;
  result: unknown;
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

/** One run of the program along one schedule. */
class Execution<S> {
  readonly threads: ThreadState[];
  readonly steps: Step[] = [];
  readonly choices: string[] = [];
  preemptions = 0;
  readonly #program: Program<S>;
  readonly #chooser: Chooser;
  readonly #bound: number;
  readonly #timeoutBudget: number;
  readonly #spuriousBudget: number;
  readonly #maxSteps: number;
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
  readonly #queues = new Map<string, ThreadState[]>();
  readonly #holders: HolderState[] = [];
  readonly #entries = new Map<string, number>();
  /** Named regions of each buffer, in int32 slots: a name applies to [start, end). */
  readonly #bufferNames = new Map<ArrayBufferLike, { name: string; start: number; end: number }[]>();
  readonly #view: ModelView;
  readonly atomics: AtomicsLike;

  constructor(program: Program<S>, chooser: Chooser, bound: number, options: Required<ExploreOptions>) {
    this.#program = program;
    this.#chooser = chooser;
    this.#bound = bound;
    this.#timeoutBudget = options.timeouts;
    this.#spuriousBudget = options.spuriousWakeups;
    this.#maxSteps = options.maxSteps;
    this.threads = program.threads.map((_, id) => ({
      id,
      log: [],
      status: "runnable",
      parked: undefined,
      result: undefined,
    }));
    const holders = this.#holders;
    const entries = this.#entries;
    const threads = this.threads;
    this.#view = {
      holders: (section) => holders.filter((h) => h.section === section),
      held: (section) => holders.reduce((sum, h) => (h.section === section ? sum + h.weight : sum), 0),
      entries: (section) => entries.get(section) ?? 0,
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
    if (currentRunnable) options.push(runChoice(current.id));
    const canSwitch = !currentRunnable || this.preemptions < this.#bound;
    let parkedUntimed = false;
    for (const t of this.threads) {
      if (t.status === "runnable" && t !== current && canSwitch) options.push(runChoice(t.id));
      if (t.status === "parked" && !t.parked!.timed) parkedUntimed = true;
    }
    for (const t of this.threads) {
      if (t.status === "parked" && t.parked!.timed && this.#timeoutsUsed < this.#timeoutBudget) {
        options.push({ kind: "timeout", thread: t.id, key: `~${t.id}` });
      }
    }
    const anyRunnable = this.threads.some((t) => t.status === "runnable");
    const anyTimed = this.threads.some((t) => t.status === "parked" && t.parked!.timed);
    // Nothing can run and nothing will time out: that is a deadlock, whatever spurious wake-ups could do.
    if (!anyRunnable && !anyTimed && parkedUntimed) return [];
    for (const t of this.threads) {
      if (t.status === "parked" && this.#spuriousUsed < this.#spuriousBudget) {
        options.push({ kind: "spurious", thread: t.id, key: `!${t.id}` });
      }
    }
    return options;
  }

  #choose(options: readonly Choice[]): Choice {
    if (this.steps.length >= this.#maxSteps) {
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
    this.#unpark(t);
    if (choice.kind === "timeout") {
      this.#timeoutsUsed++;
      parked.entry.result = "timed-out";
      this.#record(t.id, `wait(${parked.address}) times out`);
    } else {
      this.#spuriousUsed++;
      parked.entry.result = "ok";
      this.#record(t.id, `wait(${parked.address}) wakes spuriously`);
    }
    this.#checkInvariant();
  }

  #unpark(t: ThreadState): void {
    const queue = this.#queues.get(t.parked!.address)!;
    queue.splice(queue.indexOf(t), 1);
    t.parked = undefined;
    t.status = "runnable";
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
    if (unfinished.every((t) => !t.parked!.timed)) {
      const who = unfinished.map((t) => `T${t.id} parked on ${t.parked!.address}${t.parked!.timed ? " (timed)" : ""}`);
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
      enter: (section, mode = "exclusive", weight = 1) =>
        this.#marker(`enter(${section}, ${mode}, ${weight})`, () => this.#enter(t, section, mode, weight)),
      leave: (section) => this.#marker(`leave(${section})`, () => this.#leave(t, section)),
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
      this.#record(id, "returns");
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
   * The heart of re-execution. Called for every stand-in call and marker of the live thread:
   * replays logged calls, performs the one the scheduler picked, and at each later call asks the
   * scheduler whether this thread keeps running (then performs it inline, no re-run needed).
   */
  #call(sig: string, perform: () => unknown): unknown {
    const t = this.#live;
    if (this.#direct || t === undefined) return perform();
    if (this.#unwinding) throw PREEMPT;
    if (this.#cursor < t.log.length) {
      const entry = t.log[this.#cursor]!;
      if (entry.sig !== sig) {
        this.#stop = new Stop(
          "nondeterminism",
          `T${t.id} call #${this.#cursor + 1} replayed as ${sig} but was recorded as ${entry.sig}: code under test is not deterministic between AtomicsLike calls`,
        );
        return this.#preempt();
      }
      this.#cursor++;
      return entry.result;
    }
    if (!this.#mustPerform) {
      for (;;) {
        let choice: Choice;
        try {
          const options = this.#options();
          choice = this.#choose(options);
        } catch (error) {
          if (error instanceof Stop) this.#stop = error;
          return this.#preempt();
        }
        if (choice.kind === "run" && choice.thread === t.id) break;
        if (choice.kind === "run") {
          this.#pending = choice;
          return this.#preempt();
        }
        this.#applyEvent(choice);
        if (this.#stop) return this.#preempt();
      }
    }
    this.#mustPerform = false;
    const entry: LogEntry = { sig, result: undefined };
    t.log.push(entry);
    this.#cursor++;
    try {
      entry.result = perform();
    } catch (error) {
      if (error === PREEMPT) throw error;
      if (error instanceof Stop) {
        this.#stop = error;
        return this.#preempt();
      }
      entry.result = undefined;
      t.log.pop();
      this.#cursor--;
      throw error; // a RangeError from the real Atomics, say: the thread's own error
    }
    if (t.status === "parked") return this.#preempt();
    this.#checkInvariant();
    if (this.#stop) return this.#preempt();
    return entry.result;
  }

  #preempt(): never {
    this.#unwinding = true;
    throw PREEMPT;
  }

  #marker(sig: string, apply: () => void): void {
    if (this.#direct || this.#live === undefined) throw new Error(`${sig} called outside a simulated thread`);
    this.#call(sig, () => {
      this.#record(this.#live!.id, sig);
      apply();
      return undefined;
    });
  }

  #enter(t: ThreadState, section: string, mode: SectionMode, weight: number): void {
    const others = this.#holders.filter((h) => h.section === section);
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

  #leave(t: ThreadState, section: string): void {
    const i = this.#holders.findLastIndex((h) => h.thread === t.id && h.section === section);
    if (i < 0) throw new Stop("exclusion", `T${t.id} left "${section}" without entering it`);
    this.#holders.splice(i, 1);
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

  #record(thread: number, text: string): void {
    this.steps.push({ thread, text });
  }

  // --- the stand-in ----------------------------------------------------------------------------

  #address(array: Int32Array, index: number): string {
    const slot = array.byteOffset / INT32_BYTES + index;
    let regions = this.#bufferNames.get(array.buffer);
    if (regions === undefined) {
      regions = [{ name: `m${this.#bufferNames.size}`, start: 0, end: Number.POSITIVE_INFINITY }];
      this.#bufferNames.set(array.buffer, regions);
    }
    const region = regions.find((r) => slot >= r.start && slot < r.end);
    return region ? `${region.name}[${slot - region.start}]` : `${regions[0]!.name}+${slot - regions[0]!.start}`;
  }

  #makeAtomics(): AtomicsLike {
    const exec = this;
    const rmw =
      (name: "store" | "exchange" | "add" | "sub" | "and" | "or") =>
      (array: Int32Array, index: number, value: number): number => {
        const sig = `${name}(${exec.#address(array, index)}, ${value})`;
        return exec.#call(sig, () => exec.#perform(sig, () => Atomics[name](array, index, value))) as number;
      };
    return {
      load(array, index) {
        const sig = `load(${exec.#address(array, index)})`;
        return exec.#call(sig, () => exec.#perform(sig, () => Atomics.load(array, index))) as number;
      },
      store: rmw("store"),
      exchange: rmw("exchange"),
      add: rmw("add"),
      sub: rmw("sub"),
      and: rmw("and"),
      or: rmw("or"),
      compareExchange(array, index, expected, replacement) {
        const sig = `compareExchange(${exec.#address(array, index)}, ${expected}, ${replacement})`;
        return exec.#call(sig, () =>
          exec.#perform(sig, () => Atomics.compareExchange(array, index, expected, replacement)),
        ) as number;
      },
      wait(array, index, value, timeout) {
        const address = exec.#address(array, index);
        const sig = `wait(${address}, ${value}${timeout === undefined ? "" : `, ${timeout}`})`;
        return exec.#call(sig, () => exec.#wait(array, index, value, timeout, address, sig)) as
          | "ok"
          | "not-equal"
          | "timed-out";
      },
      notify(array, index, count) {
        const address = exec.#address(array, index);
        const sig = `notify(${address}${count === undefined ? "" : `, ${count}`})`;
        return exec.#call(sig, () => exec.#notify(address, count, sig)) as number;
      },
    };
  }

  #perform(sig: string, op: () => number): number {
    const result = op();
    if (!this.#direct && this.#live) this.#record(this.#live.id, `${sig} -> ${result}`);
    return result;
  }

  #wait(
    array: Int32Array,
    index: number,
    value: number,
    timeout: number | undefined,
    address: string,
    sig: string,
  ): "ok" | "not-equal" | "timed-out" | undefined {
    const t = this.#live;
    if (this.#direct || t === undefined) throw new Error(`${sig}: wait outside a simulated thread would block forever`);
    if (Atomics.load(array, index) !== (value | 0)) {
      this.#record(t.id, `${sig} -> not-equal`);
      return "not-equal";
    }
    const timed = timeout !== undefined && !Number.isNaN(timeout) && timeout !== Number.POSITIVE_INFINITY;
    if (timed && timeout <= 0) {
      this.#record(t.id, `${sig} -> timed-out`);
      return "timed-out";
    }
    const entry = t.log[t.log.length - 1]!;
    t.status = "parked";
    t.parked = { address, entry, timed };
    let queue = this.#queues.get(address);
    if (queue === undefined) this.#queues.set(address, (queue = []));
    queue.push(t);
    this.#record(t.id, `${sig} parks`);
    return undefined; // filled in on wake-up
  }

  #notify(address: string, count: number | undefined, sig: string): number {
    const queue = this.#queues.get(address) ?? [];
    const n = count === undefined ? Number.POSITIVE_INFINITY : Math.max(0, Math.trunc(count) || 0);
    const woken: ThreadState[] = [];
    while (woken.length < n && queue.length > 0) {
      const t = queue[0]!;
      t.parked!.entry.result = "ok";
      this.#unpark(t);
      woken.push(t);
    }
    if (!this.#direct && this.#live) {
      const who = woken.length > 0 ? ` (wakes ${woken.map((t) => `T${t.id}`).join(", ")})` : "";
      this.#record(this.#live.id, `${sig} -> ${woken.length}${who}`);
    }
    return woken.length;
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
    const keys = options.map((o) => o.key).join(" ");
    if (keys !== point.keys.join(" ")) {
      throw new Stop(
        "nondeterminism",
        `the program itself is not deterministic: at choice ${depth + 1} the options were [${point.keys.join(" ")}], now [${keys}]`,
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
  for (let bound = 0; bound <= opts.preemptionBound; bound++) {
    const chooser = new DfsChooser();
    for (;;) {
      if (runs >= opts.maxSchedules) {
        return { schedules, runs, complete: false, preemptionBound: opts.preemptionBound, longest, stuck };
      }
      const exec = new Execution(program, chooser, bound, opts);
      const outcome = exec.run();
      runs++;
      longest = Math.max(longest, exec.steps.length);
      // Schedules under a lower bound were checked in an earlier pass: count each schedule once.
      const fresh = exec.preemptions === bound;
      if (fresh) schedules++;
      if (outcome.kind === "failed") {
        const failure = formatFailure(outcome.failure, exec as Execution<unknown>);
        return { schedules, runs, complete: false, preemptionBound: opts.preemptionBound, longest, stuck, failure };
      }
      if (outcome.kind === "stuck" && fresh) stuck++;
      if (fresh) opts.onSchedule(exec.steps, exec.choices.join(" "));
      if (!chooser.advance(exec.choices.length)) break;
    }
  }
  return { schedules, runs, complete: true, preemptionBound: opts.preemptionBound, longest, stuck };
}

function replayReport<S>(program: Program<S>, opts: Required<ExploreOptions>): ModelReport {
  const keys = opts.schedule.split(/\s+/).filter((k) => k !== "");
  const exec = new Execution(program, new ReplayChooser(keys), Number.POSITIVE_INFINITY, opts);
  const outcome = exec.run();
  const base = { schedules: 1, runs: 1, complete: true, preemptionBound: exec.preemptions, longest: exec.steps.length };
  if (outcome.kind === "failed") {
    return { ...base, complete: false, stuck: 0, failure: formatFailure(outcome.failure, exec as Execution<unknown>) };
  }
  return { ...base, stuck: outcome.kind === "stuck" ? 1 : 0 };
}

/** Replays one schedule (a failure's `schedule` string) and returns its report. */
export function replay<S>(program: Program<S>, schedule: string, options: ExploreOptions = {}): ModelReport {
  return explore(program, { ...options, schedule });
}

/** Like {@link explore}, but throws a {@link ModelCheckError} (with the trace) on failure. */
export function check<S>(program: Program<S>, options: ExploreOptions = {}): ModelReport {
  const report = explore(program, options);
  if (report.failure) throw new ModelCheckError(report.failure, report);
  return report;
}

/** Renders the steps of a replayed schedule (for debugging a passing schedule). */
export function trace<S>(program: Program<S>, schedule: string, options: ExploreOptions = {}): string {
  const opts = resolve({ ...options, schedule }, program.threads.length);
  const keys = schedule.split(/\s+/).filter((k) => k !== "");
  const exec = new Execution(program, new ReplayChooser(keys), Number.POSITIVE_INFINITY, opts);
  const outcome = exec.run();
  const head =
    outcome.kind === "failed" ? `failed (${outcome.failure.kind}): ${outcome.failure.message}` : outcome.kind;
  return [head, ...exec.steps.map((s, i) => `  ${i + 1}. T${s.thread} ${s.text}`)].join("\n");
}
