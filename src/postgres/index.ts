/**
 * `lockbox/postgres`: the same `Mutex<T>`, `RwLock<T>` and `Semaphore` across processes and machines,
 * fenced, on PostgreSQL (node-postgres `pg` is an optional peer dependency).
 *
 * @module lockbox/postgres
 */
export {
  BackendError,
  type BackendOperation,
  ClosedError,
  LockboxError,
  LockLostError,
  TimeoutError,
  UseAfterReleaseError,
} from "../errors.js";
export {
  DistributedMutex,
  DistributedMutexGuard,
  DistributedPermit,
  DistributedReadGuard,
  DistributedRwLock,
  DistributedSemaphore,
  DistributedWriteGuard,
  type StoreAcquireOptions,
  StoreGuard,
  type StoreOptions,
} from "../store/index.js";
export { PostgresStore, type PostgresStoreOptions } from "./store.js";
