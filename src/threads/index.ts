/**
 * `lockbox/threads`: locks, atomics and shared data across worker threads (std::sync), over
 * `SharedArrayBuffer` memory. Errors are the same classes as in `lockbox`.
 *
 * @module lockbox/threads
 */

export {
  BorrowError,
  BorrowMutError,
  ClosedError,
  LockboxError,
  PoisonError,
  TimeoutError,
  UseAfterReleaseError,
  WouldBlockError,
} from "../errors.js";
