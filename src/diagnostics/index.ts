/**
 * `lockbox/diagnostics`: deadlocks reported instead of hangs, lock-order inversions, long waits,
 * per-lock statistics and traces (guide: docs/debugging.md). Node only (it uses `AsyncLocalStorage` and
 * `diagnostics_channel`). Off by default: until `enableDiagnostics()` lockbox pays one check per acquire.
 *
 * @module lockbox/diagnostics
 */
export {
  type DiagnosticsOptions,
  type DurationSummary,
  detach,
  disableDiagnostics,
  enableDiagnostics,
  formatLockStats,
  type LockStats,
  type LongWaitHolder,
  type LongWaitReport,
  lockStats,
  type PotentialDeadlockReport,
  type Trace,
  type TraceEvent,
  takeTrace,
} from "./diagnostics.js";
