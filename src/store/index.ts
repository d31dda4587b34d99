/**
 * The backend-neutral core of `lockbox/postgres` and `lockbox/redis`.
 *
 * @internal
 * @module
 */
export * from "./backend.js";
export { StoreGuard, safetyMargin } from "./guard.js";
export { DistributedMutexGuard, DistributedPermit, DistributedReadGuard, DistributedWriteGuard } from "./guards.js";
export { DistributedMutex, DistributedRwLock, DistributedSemaphore } from "./primitives.js";
export { Store, type StoreOptions } from "./store.js";
export { checkName, type StoreAcquireOptions } from "./validate.js";
