import { ExplorationError } from "./exploration-error.js";
import { describeLock } from "./hooks.js";
import { installExplorer } from "./install.js";
import { fingerprint, runSeed } from "./random.js";
import { type Chooser, Run, type Task, taskContext } from "./run.js";
import { type Deviation, formatSchedule, parseSchedule } from "./schedule.js";
import { DfsSearch, Divergence, PctChooser, RandomChooser, ReplayChooser } from "./strategies.js";

/** The tools a body gets: spawn and join tasks, scheduling points, virtual time, assertions. */
export interface ExploreContext {
  /**
   * Starts a task running `fn` and returns its promise. The task first parks at its start point, so it
   * runs only when the scheduler picks it. A task that throws fails the run.
   */
  spawn<T>(fn: () => T | PromiseLike<T>, options?: { name?: string }): Promise<Awaited<T>>;
  /** Waits until every task spawned by the calling task (directly or not) has finished. */
  join(): Promise<void>;
  /** A scheduling point: another task may run here. Use it where the code awaits something else. */
  yield(): Promise<void>;
  /** Sleeps `ms` milliseconds of virtual time: the clock jumps when no task can run. */
  sleep(ms: number): Promise<void>;
  /**
   * Fails the run (even if the error is caught) when `condition` is falsy: throws an `AssertionError`
   * with `message`. (Not a TypeScript assertion signature: those would require an explicit type on
   * `t` in every body.)
   */
  assert(condition: unknown, message?: string): void;
  /** Virtual time, in milliseconds since the run began. */
  readonly now: number;
}

/** Options of {@link explore}. */
export interface ExploreOptions {
  /** `"random"` (default): a random walk; `"pct"`: probabilistic concurrency testing; `"exhaustive"`: every schedule up to `preemptionBound`. */
  strategy?: "random" | "pct" | "exhaustive";
  /** Runs to make (default 1000); for `"exhaustive"` a cap. */
  runs?: number;
  /** Seed of `"random"` and `"pct"` (an integer from 0 to 4294967295); default: a random one, shown on failure. */
  seed?: number;
  /** `"pct"` only: the bug depth aimed at, an integer from 1 to 100 (default 3). */
  depth?: number;
  /** `"exhaustive"` only: most preemptions per schedule, an integer from 0 to 100 (default 2). */
  preemptionBound?: number;
  /** Reruns exactly this schedule (an `ExplorationError`'s `schedule`). */
  replay?: string;
  /** Steps after which a run counts as a livelock (default 10000). */
  maxSteps?: number;
  /** Shrink a failing schedule before reporting it (default `true`). */
  shrink?: boolean;
}

/** What {@link explore} resolves with when every run passed. */
export interface ExploreResult {
  /** Runs made. */
  runs: number;
  /** Distinct schedules among them. */
  schedulesExplored: number;
  /** `true` when every schedule within the preemption bound was run (`"exhaustive"` only). */
  exhaustive: boolean;
}

type Body = (t: ExploreContext) => unknown;

const MAX_SHRINK_RUNS = 400;
const TRACE_LINES = 120;

/**
 * Runs `body` many times, each under a different schedule of its tasks, and rejects with an
 * {@link ExplorationError} (a replayable schedule and a step-by-step trace) when a run fails: the
 * body, a task or `t.assert` throws, or every unfinished task is blocked with no virtual timer pending
 * (a deadlock, reported with its cycle). Loom for JavaScript.
 *
 * Every asynchronous `lockbox` operation of the body's tasks is a scheduling point: the operation
 * takes effect when it is called (atomically with the code before it, as in JavaScript), and another
 * task may run before the caller continues — right away for a free lock, after a release for a
 * contended one. `t.yield()`, `t.sleep()`, `t.join()` and the start and end of every task are points
 * too. Synchronous operations (release, try-acquire, notify, borrow, `Cell` get/set) are traced but
 * atomic. A plain `await` of anything else is not a point.
 *
 * The body must be deterministic apart from scheduling: it builds its own locks and state on every
 * run, and uses no real timers or I/O (`t.sleep` and acquire timeouts run on virtual time).
 *
 * @example
 * ```ts
 * await explore(async (t) => {
 *   const account = new Mutex({ balance: 100 });
 *   const withdraw = async (n: number) => {
 *     const guard = await account.lock();
 *     if (guard.value.balance >= n) guard.value.balance -= n;
 *     guard.release();
 *   };
 *   t.spawn(() => withdraw(70));
 *   t.spawn(() => withdraw(70));
 *   await t.join();
 *   t.assert((await account.lock()).value.balance >= 0, "overdraft");
 * }, { strategy: "pct", runs: 500, seed: 1 });
 * ```
 *
 * **Throws** (rejects): {@link ExplorationError} when a run fails, or when a replayed (or exhaustively
 * searched) body behaves differently under the same choices ("not deterministic"); `TypeError` /
 * `RangeError` for bad arguments.
 */
export async function explore(body: Body, options?: ExploreOptions): Promise<ExploreResult> {
  const config = validate(body, options);
  if (taskContext.getStore() !== undefined) {
    throw new Error("explore() cannot be called from inside a body that is being explored");
  }
  const uninstall = installExplorer();
  try {
    if (config.replay !== undefined) return await replay(body, config);
    if (config.strategy === "exhaustive") return await exhaustive(body, config);
    return await sample(body, config);
  } finally {
    uninstall();
  }
}

interface Config {
  strategy: "random" | "pct" | "exhaustive";
  runs: number;
  seed: number;
  seedGiven: boolean;
  depth: number;
  preemptionBound: number;
  replay: { text: string; deviations: readonly Deviation[]; steps?: number; fingerprint?: string } | undefined;
  maxSteps: number;
  shrink: boolean;
}

/** Runs the body once under `chooser`. */
async function runOnce(body: Body, chooser: Chooser, config: Config): Promise<Run> {
  const run = new Run(chooser, config.maxSteps, describeLock);
  const t = context(run);
  await run.execute(() => body(t));
  return run;
}

function context(run: Run): ExploreContext {
  const taskOf = (method: string): Task => {
    const task = taskContext.getStore();
    if (task === undefined || task.run !== run) {
      throw new Error(`t.${method}() must be called by a task of this run (the body or a task it spawned)`);
    }
    return task;
  };
  return {
    spawn(fn, options) {
      const parent = taskOf("spawn");
      if (typeof fn !== "function") throw new TypeError(`Expected \`fn\` to be a function, got ${typeof fn}`);
      const name = options?.name;
      if (name !== undefined && typeof name !== "string") {
        throw new TypeError(`Expected \`name\` to be a string or undefined, got ${typeof name}`);
      }
      return run.spawn(parent, fn, name);
    },
    join: () => run.join(taskOf("join")),
    yield: () => {
      const task = taskOf("yield");
      return run.point(task, "yield");
    },
    sleep: (ms) => {
      const task = taskOf("sleep");
      if (typeof ms !== "number" || !(ms >= 0 && ms <= 2 ** 31 - 1)) {
        const error = typeof ms !== "number" ? TypeError : RangeError;
        throw new error(`Expected \`ms\` to be a number of milliseconds from 0 to 2147483647, got ${String(ms)}`);
      }
      return run.sleep(task, ms);
    },
    assert(condition, message) {
      const task = taskContext.getStore();
      run.assert(task?.run === run ? task : undefined, condition, message);
    },
    get now() {
      return run.now;
    },
  };
}

async function sample(body: Body, config: Config): Promise<ExploreResult> {
  const seen = new Set<string>();
  // PCT spreads its change points over the decisions a run makes: the most seen so far (a guess for
  // the first run).
  let expectedDecisions = 8;
  for (let i = 0; i < config.runs; i++) {
    const seed = runSeed(config.seed, i);
    const chooser =
      config.strategy === "pct" ? new PctChooser(seed, config.depth, expectedDecisions) : new RandomChooser(seed);
    const run = await runOnce(body, chooser, config);
    seen.add(run.decisions.map((d) => d.chosen).join(","));
    expectedDecisions = i === 0 ? run.decisions.length : Math.max(expectedDecisions, run.decisions.length);
    if (run.failure !== undefined) throw await report(body, run, config, i + 1, config.seed);
  }
  return { runs: config.runs, schedulesExplored: seen.size, exhaustive: false };
}

async function exhaustive(body: Body, config: Config): Promise<ExploreResult> {
  const search = new DfsSearch(config.preemptionBound);
  let runs = 0;
  for (;;) {
    let run: Run;
    try {
      run = await runOnce(body, search.chooser(), config);
    } catch (error) {
      if (error instanceof Divergence) throw notDeterministic(error.message, runs + 1);
      throw error;
    }
    runs++;
    if (run.failure !== undefined) throw await report(body, run, config, runs, undefined);
    const more = search.next(run.decisions);
    if (!more) return { runs, schedulesExplored: runs, exhaustive: true };
    if (runs >= config.runs) return { runs, schedulesExplored: runs, exhaustive: false };
  }
}

async function replay(body: Body, config: Config): Promise<ExploreResult> {
  const wanted = config.replay as NonNullable<Config["replay"]>;
  const run = await runOnce(body, new ReplayChooser(wanted.deviations), config);
  const got = formatSchedule({ deviations: run.deviations, steps: run.step, fingerprint: runFingerprint(run) });
  const same =
    sameDeviations(run.deviations, wanted.deviations) &&
    (wanted.steps === undefined || wanted.steps === run.step) &&
    (wanted.fingerprint === undefined || wanted.fingerprint === runFingerprint(run));
  if (!same) {
    const error = notDeterministic(
      `replaying "${wanted.text}" gave the schedule "${got}": the body did something different under the same choices`,
      1,
      run,
    );
    throw error;
  }
  if (run.failure !== undefined) throw failureError(run, config, 1, undefined, wanted.text, undefined);
  return { runs: 1, schedulesExplored: 1, exhaustive: false };
}

function sameDeviations(a: readonly Deviation[], b: readonly Deviation[]): boolean {
  return a.length === b.length && a.every((d, i) => d.step === b[i]?.step && d.task === b[i]?.task);
}

function notDeterministic(detail: string, runNumber: number, run?: Run): ExplorationError {
  const lines = [
    `explore: the body is not deterministic apart from scheduling: ${detail}.`,
    "Every run must build its own locks and state and use no real timers, I/O or randomness (use t.sleep for time).",
  ];
  if (run !== undefined) lines.push("trace of this run:", ...formatTrace(run));
  const cause = new Error(detail);
  return new ExplorationError(lines.join("\n"), {
    cause,
    seed: undefined,
    schedule: run === undefined ? "" : scheduleOf(run),
    run: runNumber,
    preemptions: run?.preemptions ?? 0,
  });
}

/** Shrinks the failing run, then builds the error. */
async function report(
  body: Body,
  failing: Run,
  config: Config,
  runNumber: number,
  seed: number | undefined,
): Promise<ExplorationError> {
  const originalPreemptions = failing.preemptions;
  const originalDeviations = failing.deviations.length;
  const best = config.shrink ? await shrink(body, failing, config) : failing;
  const shrunk =
    best === failing
      ? undefined
      : `shrunk from ${originalPreemptions} preemption${originalPreemptions === 1 ? "" : "s"} and ${originalDeviations} switch${originalDeviations === 1 ? "" : "es"}`;
  return failureError(best, config, runNumber, seed, scheduleOf(best), shrunk);
}

function failureError(
  run: Run,
  config: Config,
  runNumber: number,
  seed: number | undefined,
  schedule: string,
  shrunk: string | undefined,
): ExplorationError {
  const failure = run.failure as NonNullable<Run["failure"]>;
  const error = failure.error;
  const errorText = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  const [firstLine, ...moreLines] = errorText.split("\n");
  const how =
    config.replay !== undefined
      ? "replay"
      : `run ${runNumber} of ${config.runs}, strategy "${config.strategy}"${seed === undefined ? "" : `, seed ${seed}`}`;
  const switches = run.deviations.length;
  const lines = [
    `explore: a run failed (${how})${failure.task === undefined ? "" : ` in ${failure.task.name}`}: ${firstLine}`,
    `  seed:     ${seed === undefined ? "(none)" : config.seedGiven ? seed : `${seed} (drawn at random; pass { seed: ${seed} } to rerun this exploration)`}`,
    `  schedule: ${schedule}  (${run.preemptions} preemption${run.preemptions === 1 ? "" : "s"}, ${switches} switch${switches === 1 ? "" : "es"} from the default order${shrunk === undefined ? "" : `; ${shrunk}`})`,
    `  replay:   explore(body, { replay: ${JSON.stringify(schedule)} })`,
    ...moreLines.map((line) => `  ${line}`),
    "trace (step, task, operation, lock):",
    ...formatTrace(run),
  ];
  return new ExplorationError(lines.join("\n"), {
    cause: error,
    seed,
    schedule,
    run: runNumber,
    preemptions: run.preemptions,
  });
}

function scheduleOf(run: Run): string {
  return formatSchedule({ deviations: run.deviations, steps: run.step, fingerprint: runFingerprint(run) });
}

/** What a run did, independent of object identities and creation numbers: tasks, operations, lock kinds, outcome. */
function runFingerprint(run: Run): string {
  let text = "";
  for (const event of run.trace) {
    if (event.op === "fails" || event.op === "deadlock") continue;
    text += `${event.step ?? ""}|${event.task}|${event.op}|${event.lock?.kind ?? ""};`;
  }
  const failure = run.failure;
  text +=
    failure === undefined
      ? "pass"
      : `fail:${failure.task?.name ?? "-"}:${failure.error instanceof Error ? failure.error.name : typeof failure.error}`;
  return fingerprint(text);
}

function formatTrace(run: Run): string[] {
  const taskWidth = Math.max(4, ...run.tasks.map((task) => task.name.length));
  const lines = run.trace.map((event) => {
    const step = event.step === undefined ? "" : String(event.step);
    const lock = event.lock === undefined ? "" : ` ${event.lock.name}`;
    const detail =
      event.detail === undefined ? "" : event.lock === undefined ? ` ${event.detail}` : ` (${event.detail})`;
    return `  ${step.padStart(5)}  ${event.task.padEnd(taskWidth)}  ${event.op}${lock}${detail}`;
  });
  if (lines.length <= TRACE_LINES) return lines;
  return [`  … ${lines.length - TRACE_LINES} earlier events`, ...lines.slice(-TRACE_LINES)];
}

/**
 * Fewer preemptions first, then fewer switches. Two moves, while the run still fails the same way
 * (same error class, failing in a task or not) and within a budget of runs:
 * 1. remove deviations in chunks (halves, quarters, …, single ones), keeping any removal that fails;
 * 2. search every schedule with fewer preemptions than the best so far (bounded depth-first search,
 *    bound 0, 1, …): this finds a schedule the removals cannot reach, such as one switch at another
 *    step instead of two; then removal again;
 * 3. with the rest of the budget, search the schedules with as many preemptions for fewer switches.
 */
async function shrink(body: Body, failing: Run, config: Config): Promise<Run> {
  const budget = { runs: MAX_SHRINK_RUNS };
  const name = (e: unknown) => (e instanceof Error ? e.name : typeof e);
  const sameFailure = (run: Run): boolean => {
    const a = run.failure;
    const b = failing.failure;
    if (a === undefined || b === undefined) return false;
    return name(a.error) === name(b.error) && (a.task === undefined) === (b.task === undefined);
  };
  let best = await removeDeviations(body, failing, config, sameFailure, budget);
  for (let bound = 0; bound < best.preemptions && budget.runs > 0; bound++) {
    const search = new DfsSearch(bound);
    let found: Run | undefined;
    for (;;) {
      if (budget.runs-- <= 0) break;
      let run: Run;
      try {
        run = await runOnce(body, search.chooser(), config);
      } catch {
        break;
      }
      if (sameFailure(run) && run.preemptions < best.preemptions) {
        found = run;
        break;
      }
      if (!search.next(run.decisions)) break;
    }
    if (found !== undefined) {
      best = await removeDeviations(body, found, config, sameFailure, budget);
      break;
    }
  }
  // 3. Same preemptions, fewer switches: what is left of the budget goes to the schedules with exactly
  //    as many preemptions, keeping the failing one with the fewest switches (small programs: all).
  const search = new DfsSearch(best.preemptions);
  while (budget.runs-- > 0 && best.deviations.length > best.preemptions) {
    let run: Run;
    try {
      run = await runOnce(body, search.chooser(), config);
    } catch {
      break;
    }
    if (sameFailure(run) && run.preemptions <= best.preemptions && run.deviations.length < best.deviations.length) {
      best = run;
    }
    if (!search.next(run.decisions)) break;
  }
  return best;
}

async function removeDeviations(
  body: Body,
  start: Run,
  config: Config,
  sameFailure: (run: Run) => boolean,
  budget: { runs: number },
): Promise<Run> {
  let best = start;
  const better = (run: Run): boolean =>
    run.preemptions < best.preemptions ||
    (run.preemptions === best.preemptions && run.deviations.length < best.deviations.length);
  let improved = true;
  while (improved && budget.runs > 0) {
    improved = false;
    for (let size = Math.max(1, best.deviations.length >> 1); size >= 1 && budget.runs > 0; size >>= 1) {
      for (let at = 0; at < best.deviations.length && budget.runs > 0; at += size) {
        const deviations = best.deviations.filter((_, i) => i < at || i >= at + size);
        budget.runs--;
        let run: Run;
        try {
          run = await runOnce(body, new ReplayChooser(deviations), config);
        } catch {
          continue;
        }
        if (sameFailure(run) && better(run)) {
          best = run;
          improved = true;
          at -= size; // The list shifted: try the same position again.
        }
      }
      if (improved) break;
    }
  }
  return best;
}

function validate(body: unknown, options: ExploreOptions | undefined): Config {
  if (typeof body !== "function") throw new TypeError(`Expected \`body\` to be a function, got ${typeof body}`);
  if (options !== undefined && (typeof options !== "object" || options === null)) {
    throw new TypeError(`Expected \`options\` to be an object or undefined, got ${String(options)}`);
  }
  const strategy = options?.strategy ?? "random";
  if (strategy !== "random" && strategy !== "pct" && strategy !== "exhaustive") {
    throw new TypeError(`Expected \`strategy\` to be "random", "pct" or "exhaustive", got ${JSON.stringify(strategy)}`);
  }
  const int = (name: string, value: unknown, min: number, max: number, fallback: number): number => {
    if (value === undefined) return fallback;
    if (typeof value !== "number") {
      throw new TypeError(`Expected \`${name}\` to be an integer from ${min} to ${max}, got ${typeof value}`);
    }
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new RangeError(`Expected \`${name}\` to be an integer from ${min} to ${max}, got ${value}`);
    }
    return value;
  };
  const seedGiven = options?.seed !== undefined;
  const seed = int("seed", options?.seed, 0, 2 ** 32 - 1, Math.floor(Math.random() * 2 ** 32));
  const shrink = options?.shrink;
  if (shrink !== undefined && typeof shrink !== "boolean") {
    throw new TypeError(`Expected \`shrink\` to be a boolean or undefined, got ${typeof shrink}`);
  }
  let replay: Config["replay"];
  if (options?.replay !== undefined) {
    const text = options.replay;
    const parsed = typeof text === "string" ? parseSchedule(text) : undefined;
    if (parsed === undefined) {
      const Err = typeof text === "string" ? RangeError : TypeError;
      throw new Err(
        `Expected \`replay\` to be a schedule string from an ExplorationError (like "4>1/19/1x0qk2"), got ${JSON.stringify(text)}`,
      );
    }
    replay = { text, deviations: parsed.deviations };
    if (parsed.steps !== undefined) replay.steps = parsed.steps;
    if (parsed.fingerprint !== undefined) replay.fingerprint = parsed.fingerprint;
  }
  return {
    strategy,
    runs: int("runs", options?.runs, 1, 2 ** 31 - 1, 1000),
    seed,
    seedGiven,
    depth: int("depth", options?.depth, 1, 100, 3),
    preemptionBound: int("preemptionBound", options?.preemptionBound, 0, 100, 2),
    replay,
    maxSteps: int("maxSteps", options?.maxSteps, 1, 2 ** 31 - 1, 10_000),
    shrink: shrink ?? true,
  };
}
