/**
 * `lockbox/threads`: locks, atomics and shared data across worker threads (std::sync), over
 * `SharedArrayBuffer` memory. Errors are the same classes as in `lockbox`.
 *
 * @module lockbox/threads
 */

export {
  BackendError,
  type BackendOperation,
  BorrowError,
  BorrowMutError,
  ClosedError,
  DeadlockError,
  LockboxError,
  LockLostError,
  PoisonError,
  TimeoutError,
  UseAfterReleaseError,
  WouldBlockError,
} from "../errors.js";
export type { GuardToken } from "../internal/symbols.js";
// locks (std::sync)
export type { DeepReadonly } from "../types.js";
// shared data and atomics
export {
  AtomicBool,
  type AtomicHandle,
  AtomicI32,
  AtomicI64,
  AtomicU32,
  AtomicU64,
  type WaitResult,
} from "./atomics.js";
export { Barrier, type BarrierHandle, type BarrierWaitResult } from "./barrier.js";
export { Condvar, type CondvarHandle, type WaitTimeoutResult } from "./condvar.js";
export { ExclusiveGuard } from "./guard.js";
export { JsonCell, type JsonHandle, type JsonOptions, json } from "./memory/json.js";
export type { SharedData } from "./memory/shared-data.js";
export {
  type AnyStruct,
  type ArrayDescription,
  type ArrayType,
  array,
  type ElementType,
  type Fields,
  type FieldType,
  type FieldValue,
  type Infer,
  type ScalarType,
  type StringType,
  type Struct,
  type StructDescription,
  type StructHandle,
  type StructInit,
  StructLayout,
  string,
  struct,
} from "./memory/struct.js";
export { Mutex, MutexGuard, type MutexHandle, type SyncLockOptions } from "./mutex.js";
export { type OnceInit, OnceLock, type OnceLockHandle } from "./once-lock.js";
export {
  type SpawnedWorker,
  type SpawnOptions,
  type SupervisableWorker,
  spawn,
  supervise,
} from "./runtime/supervise.js";
export {
  RwLock,
  type RwLockHandle,
  RwLockReadGuard,
  RwLockUpgradableReadGuard,
  RwLockWriteGuard,
} from "./rw-lock.js";
export { Semaphore, type SemaphoreHandle, SemaphorePermit } from "./semaphore.js";
