/**
 * How the explorer picks the next task: random walk, PCT, exhaustive depth-first search, and replay.
 *
 * @internal
 */

import { Rng } from "./random.js";
import type { Chooser, Decision, Run, Task } from "./run.js";
import type { Deviation } from "./schedule.js";

/** Uniform choice among the enabled tasks at every step. */
export class RandomChooser implements Chooser {
  readonly #rng: Rng;

  constructor(seed: number) {
    this.#rng = new Rng(seed);
  }

  choose(enabled: readonly Task[]): Task {
    return enabled[this.#rng.below(enabled.length)] as Task;
  }
}

/**
 * Probabilistic concurrency testing (Burckhardt, Kothari, Musuvathi, Nagarakatte, ASPLOS 2010).
 *
 * Every task gets a random priority when it is created, above `depth`; the highest-priority enabled
 * task always runs. At `depth - 1` change points, chosen at random among the decisions the run is
 * expected to make (steps with more than one enabled task), the task about to run drops to priority
 * `depth - i` (below every initial priority) and the choice is made again. A bug that needs `d`
 * ordering constraints is found by one run with probability at least `1 / (n · k^(d-1))` for `n`
 * tasks and `k` decisions, whatever the program, where a random walk can be exponentially worse.
 */
export class PctChooser implements Chooser {
  readonly #rng: Rng;
  readonly #changes: Map<number, number>;
  readonly #depth: number;
  #decision = 0;

  /**
   * @param depth - the bug depth aimed at.
   * @param decisions - how many decisions a run is expected to make (the most made by a run so far).
   */
  constructor(seed: number, depth: number, decisions: number) {
    this.#rng = new Rng(seed);
    this.#depth = depth;
    this.#changes = new Map();
    for (let i = 1; i < depth; i++) this.#changes.set(1 + this.#rng.below(Math.max(1, decisions)), depth - i);
  }

  onSpawn(task: Task): void {
    // Initial priorities sit above every change-point priority (1 … depth-1); a random fraction
    // makes them distinct.
    task.priority = this.#depth + this.#rng.nextU32() / 2 ** 32;
  }

  choose(enabled: readonly Task[]): Task {
    const change = this.#changes.get(++this.#decision);
    let best = highest(enabled);
    if (change !== undefined) {
      best.priority = change;
      best = highest(enabled);
    }
    return best;
  }
}

function highest(enabled: readonly Task[]): Task {
  let best = enabled[0] as Task;
  for (const task of enabled) if (task.priority > best.priority) best = task;
  return best;
}

/** The schedule of a run was not the one being followed: the body is not deterministic. */
export class Divergence extends Error {}

/**
 * Follows a list of deviations from the default rule. Lenient (shrinking): a deviation to a task that
 * is not enabled is skipped. Strict (replay): the run is checked afterwards against the schedule.
 */
export class ReplayChooser implements Chooser {
  readonly #byStep: Map<number, number>;

  constructor(deviations: readonly Deviation[]) {
    this.#byStep = new Map(deviations.map((d) => [d.step, d.task]));
  }

  choose(enabled: readonly Task[], fallback: Task, run: Run): Task {
    const want = this.#byStep.get(run.step + 1);
    if (want === undefined) return fallback;
    return enabled.find((task) => task.id === want) ?? fallback;
  }
}

/**
 * Depth-first search over the decisions of a run (steps with more than one enabled task), bounded by
 * the number of preemptions (iterative context bounding, Musuvathi & Qadeer, PLDI 2007: most
 * concurrency bugs need very few). Stateless: each run re-executes the body from the start, follows the
 * forced prefix, then takes default choices; afterwards {@link DfsSearch.next} moves to the next
 * unexplored alternative of the deepest decision that has one.
 */
export class DfsSearch {
  /** Choices forced on the next run: enabled set (to check determinism) and the task to pick. */
  #prefix: { enabled: readonly number[]; chosen: number }[] = [];
  readonly #bound: number;

  constructor(preemptionBound: number) {
    this.#bound = preemptionBound;
  }

  chooser(): Chooser {
    const prefix = this.#prefix;
    let index = 0;
    return {
      choose(enabled, fallback) {
        const forced = prefix[index++];
        if (forced === undefined) return fallback;
        const ids = enabled.map((task) => task.id);
        if (ids.length !== forced.enabled.length || ids.some((id, i) => id !== forced.enabled[i])) {
          throw new Divergence(
            `at decision ${index} the enabled tasks were [${ids.join(", ")}], in an earlier run with the same choices [${forced.enabled.join(", ")}]`,
          );
        }
        return enabled.find((task) => task.id === forced.chosen) as Task;
      },
    };
  }

  /**
   * Sets up the next run from the decisions of the run just finished; `false` when the search is
   * complete (every schedule within the bound was run).
   */
  next(decisions: readonly Decision[]): boolean {
    // Preemptions used before each decision.
    const before: number[] = [];
    let used = 0;
    for (const d of decisions) {
      before.push(used);
      if (d.chosen !== d.fallback && d.currentEnabled) used++;
    }
    for (let k = decisions.length - 1; k >= 0; k--) {
      const d = decisions[k] as Decision;
      // Alternatives in order: the default first, then the other enabled tasks by id.
      const order = [d.fallback, ...d.enabled.filter((id) => id !== d.fallback)];
      const cost = (before[k] as number) + (d.currentEnabled ? 1 : 0);
      const at = order.indexOf(d.chosen);
      if (at + 1 < order.length && cost <= this.#bound) {
        this.#prefix = decisions.slice(0, k).map((x) => ({ enabled: x.enabled, chosen: x.chosen }));
        this.#prefix.push({ enabled: d.enabled, chosen: order[at + 1] as number });
        return true;
      }
    }
    return false;
  }
}
