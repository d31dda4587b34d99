/**
 * `lockbox`: Rust's interior mutability and synchronization for async tasks in one thread
 * (tokio::sync, std::cell, Arc). Values live inside their locks and are reached through guards.
 *
 * @module lockbox
 */

export { Arc, type ArcDropResult, Rc, Weak } from "./arc.js";
export { Cell } from "./cell/cell.js";
export { type BorrowState, Ref, RefCell, type RefCellOptions, RefMut } from "./cell/ref-cell.js";
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
} from "./errors.js";
export type { GuardToken } from "./internal/symbols.js";
// sync/ — async locks on the batch-semaphore core
export { Barrier, type BarrierWaitResult } from "./sync/barrier.js";
export { Condvar, type CondvarWaitTimeoutResult } from "./sync/condvar.js";
export { KeyedMutex, KeyedMutexGuard } from "./sync/keyed-mutex.js";
export { Mutex, MutexGuard } from "./sync/mutex.js";
export { Notify } from "./sync/notify.js";
export { OnceCell } from "./sync/once-cell.js";
export {
  RwLock,
  type RwLockOptions,
  RwLockReadGuard,
  RwLockUpgradableReadGuard,
  RwLockWriteGuard,
} from "./sync/rw-lock.js";
export { Semaphore, SemaphorePermit } from "./sync/semaphore.js";
export type {
  AcquireOptions,
  DeepReadonly,
  InteriorMutable,
  LockOptions,
  PoisonOptions,
  Releasable,
} from "./types.js";
export { interiorMutable } from "./types.js";
