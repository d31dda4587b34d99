import { LockboxError } from "../errors.js";

/**
 * What `explore` rejects with when a run fails (or when a replayed body turns out not to be
 * deterministic apart from scheduling).
 *
 * The message shows the original error, the seed, the schedule (a short replay string) and a
 * step-by-step trace of the failing run: step, task, operation, lock name.
 *
 * @example
 * ```ts
 * try {
 *   await explore(body, { seed: 1 });
 * } catch (error) {
 *   if (error instanceof ExplorationError) {
 *     console.log(error.schedule); // e.g. "4>1/19/1x0qk2"
 *     await explore(body, { replay: error.schedule }); // fails the same way, every time
 *   }
 * }
 * ```
 */
export class ExplorationError extends LockboxError {
  /** @internal The kind that marks instances of this class in every copy of lockbox (see errors.ts). */
  static override readonly "lockbox.kind": string = "ExplorationError";
  /** The `seed` of the exploration; `undefined` for exhaustive and replay runs. */
  readonly seed: number | undefined;
  /** The failing schedule, shrunk: pass it as `explore(body, { replay })` to run it again. */
  readonly schedule: string;
  /** Which run failed (1-based; shrinking runs not counted). */
  readonly run: number;
  /** Preemptions in the reported schedule (after shrinking). */
  readonly preemptions: number;

  /** @internal Thrown by `explore`. */
  constructor(
    message: string,
    details: { cause: unknown; seed: number | undefined; schedule: string; run: number; preemptions: number },
  ) {
    super(message, { cause: details.cause });
    this.seed = details.seed;
    this.schedule = details.schedule;
    this.run = details.run;
    this.preemptions = details.preemptions;
  }
}
