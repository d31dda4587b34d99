/**
 * Pieces shared by the threads guards.
 *
 * @internal
 */
import { PoisonError, UseAfterReleaseError } from "../errors.js";

/** The error a released guard throws. */
export function releasedError(guard: string, action: string): UseAfterReleaseError {
  return new UseAfterReleaseError(`Cannot ${action} a ${guard} after release()`);
}

/** The error a poisoned threads lock gives; the caller does not hold the lock. */
export function poisonError(lock: string, method: string): PoisonError {
  return new PoisonError(
    `${lock} is poisoned: a holder failed or its thread died while holding it; ` +
      `${method}({ ignorePoison: true }) or clearPoison() to recover`,
  );
}
