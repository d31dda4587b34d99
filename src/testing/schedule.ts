/**
 * The replay string of a schedule.
 *
 * A schedule is stored as its *deviations* from the default rule "keep running the task that ran
 * last; when it cannot run, run the enabled task with the smallest id". Most steps follow the rule,
 * so a schedule is a handful of `step>task` pairs: `4>1,9>0` means "at step 4 switch to task 1, at
 * step 9 switch to task 0", and every other step follows the rule. Shrinking removes deviations.
 *
 * The string ends with the number of steps and a fingerprint of the run's trace (tasks, operations,
 * lock kinds, outcome), so that a replay can tell a body that behaves differently apart from one that
 * merely follows the schedule: `4>1,9>0/23/1k9x2f`.
 *
 * @internal
 */

/** One deviation: at `step` (1-based), run task `task` instead of the default. */
export interface Deviation {
  readonly step: number;
  readonly task: number;
}

export interface Schedule {
  readonly deviations: readonly Deviation[];
  /** Steps the recorded run took; `undefined` when unknown (a hand-written schedule). */
  readonly steps: number | undefined;
  /** Fingerprint of the recorded run's trace; `undefined` when unknown. */
  readonly fingerprint: string | undefined;
}

export function formatSchedule(schedule: Schedule): string {
  const head = schedule.deviations.map((d) => `${d.step}>${d.task}`).join(",");
  if (schedule.steps === undefined) return head;
  return `${head}/${schedule.steps}/${schedule.fingerprint ?? ""}`;
}

const SCHEDULE = /^((?:\d+>\d+)(?:,\d+>\d+)*)?(?:\/(\d+)\/([0-9a-z]*))?$/;

/** Parses a replay string; `undefined` when it is not one. */
export function parseSchedule(text: string): Schedule | undefined {
  const match = SCHEDULE.exec(text.trim());
  if (match === null) return undefined;
  const deviations: Deviation[] = [];
  let last = 0;
  for (const part of match[1] === undefined ? [] : match[1].split(",")) {
    const [step, task] = part.split(">").map(Number) as [number, number];
    // Steps strictly increase: anything else was not produced by explore.
    if (step <= last || !Number.isSafeInteger(task)) return undefined;
    last = step;
    deviations.push({ step, task });
  }
  return {
    deviations,
    steps: match[2] === undefined ? undefined : Number(match[2]),
    fingerprint: match[3] === "" ? undefined : match[3],
  };
}
