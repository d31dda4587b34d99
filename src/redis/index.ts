/**
 * `lockbox/redis`: the same `Mutex<T>`, `RwLock<T>` and `Semaphore` across processes and machines,
 * fenced, on Redis (`ioredis` or node-redis v4+, both optional peer dependencies).
 *
 * @module lockbox/redis
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
export type { RedisClientLike } from "./client.js";
export { RedisStore, type RedisStoreOptions } from "./store.js";
