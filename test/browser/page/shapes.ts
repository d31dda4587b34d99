/**
 * The surface of SPEC.md the browser checks use, written down here rather than imported from src/:
 * the checks run against whatever the build exports (a primitive still in progress is skipped, not a
 * compile error), and a drift between SPEC and the build shows up as a failing check at run time.
 */

export interface AcquireOpts {
  signal?: AbortSignal;
  timeout?: number;
  ignorePoison?: boolean;
}

export interface Guard<T> {
  value: T;
  readonly released: boolean;
  release(): void;
  [Symbol.dispose](): void;
}

export interface MutexGuard<T> extends Guard<T> {
  poison(): void;
}

export interface Mutex<T> {
  lock(options?: AcquireOpts): Promise<MutexGuard<T>>;
  tryLock(): MutexGuard<T> | undefined;
  withLock<R>(fn: (guard: MutexGuard<T>) => R | Promise<R>, options?: AcquireOpts): Promise<Awaited<R>>;
  readonly isLocked: boolean;
  readonly isPoisoned: boolean;
  clearPoison(): void;
}
export type MutexClass = new <T>(value: T, options?: { poison?: boolean }) => Mutex<T>;

export interface RwLockWriteGuard<T> extends Guard<T> {
  downgrade(): Guard<T>;
}
export interface RwLock<T> {
  read(options?: AcquireOpts): Promise<Guard<T>>;
  tryRead(): Guard<T> | undefined;
  write(options?: AcquireOpts): Promise<RwLockWriteGuard<T>>;
  tryWrite(): RwLockWriteGuard<T> | undefined;
  readonly readers: number;
  readonly isWriteLocked: boolean;
}
export type RwLockClass = new <T>(value: T) => RwLock<T>;

export interface SemaphorePermit {
  readonly permits: number;
  release(): void;
  forget(): void;
}
export interface Semaphore {
  acquire(permits?: number, options?: AcquireOpts): Promise<SemaphorePermit>;
  tryAcquire(permits?: number): SemaphorePermit | undefined;
  addPermits(n: number): void;
  readonly available: number;
  close(): void;
  readonly closed: boolean;
}
export type SemaphoreClass = new (permits: number) => Semaphore;

export interface Notify {
  notified(options?: AcquireOpts): Promise<void>;
  notifyOne(): void;
  notifyWaiters(): void;
}
export type NotifyClass = new () => Notify;

export interface Condvar {
  wait<T>(guard: MutexGuard<T>, options?: AcquireOpts): Promise<MutexGuard<T>>;
  notifyOne(): void;
  notifyAll(): void;
}
export type CondvarClass = new () => Condvar;

export interface Barrier {
  wait(): Promise<{ isLeader: boolean }>;
}
export type BarrierClass = new (n: number) => Barrier;

export interface OnceCell<T> {
  get(): T | undefined;
  getOrInit(fn: () => T | Promise<T>): Promise<T>;
  set(value: T): boolean;
  readonly initialized: boolean;
}
export type OnceCellClass = new <T>() => OnceCell<T>;

export interface KeyedMutex<K> {
  lock(key: K, options?: AcquireOpts): Promise<Guard<K>>;
  tryLock(key: K): Guard<K> | undefined;
  lockMany(keys: K[], options?: AcquireOpts): Promise<Guard<unknown>>;
  isLocked(key: K): boolean;
  readonly size: number;
}
export type KeyedMutexClass = new <K>() => KeyedMutex<K>;

export interface Cell<T> {
  get(): T;
  set(value: T): void;
  replace(value: T): T;
  update(fn: (value: T) => T): T;
}
export type CellClass = new <T>(value: T) => Cell<T>;

export interface RefCell<T> {
  borrow(): Guard<T>;
  borrowMut(): Guard<T>;
  readonly borrowState: "unused" | "reading" | "writing";
}
export type RefCellClass = new <T>(value: T) => RefCell<T>;

export interface Weak<T> {
  upgrade(): Arc<T> | undefined;
}
export interface Arc<T> {
  readonly value: T;
  clone(): Arc<T>;
  readonly strongCount: number;
  downgrade(): Weak<T>;
  drop(): unknown;
}
export type ArcClass = new <T>(value: T) => Arc<T>;

/** `lockbox/threads` Mutex (SPEC §4): a lock over shared memory, rebuilt in a worker with `from`. */
export interface ThreadsMutex<T> extends Mutex<T> {
  lockSync(options?: { timeout?: number }): MutexGuard<T>;
  readonly handle: unknown;
}
export interface ThreadsMutexClass {
  new <T>(data: T, options?: { poison?: boolean }): ThreadsMutex<T>;
  from(received: unknown): ThreadsMutex<unknown>;
}

/** `lockbox/threads` RwLock (SPEC §4). */
export interface ThreadsRwLock<T> {
  read(options?: AcquireOpts): Promise<Guard<T>>;
  write(options?: AcquireOpts): Promise<Guard<T>>;
  readSync(options?: { timeout?: number }): Guard<T>;
  writeSync(options?: { timeout?: number }): Guard<T>;
  readonly readers: number;
  readonly isWriteLocked: boolean;
  readonly handle: unknown;
}
export interface ThreadsRwLockClass {
  new <T>(data: T, options?: { poison?: boolean }): ThreadsRwLock<T>;
  from(received: unknown): ThreadsRwLock<unknown>;
}

/** `lockbox/threads` Barrier (SPEC §4). */
export interface ThreadsBarrier {
  wait(options?: AcquireOpts): Promise<{ isLeader: boolean }>;
  waitSync(options?: { timeout?: number }): { isLeader: boolean };
  readonly handle: unknown;
}
export interface ThreadsBarrierClass {
  new (parties: number): ThreadsBarrier;
  from(received: unknown): ThreadsBarrier;
}

/** `struct(fields)` of `lockbox/threads`: a layout whose `create` allocates shared memory. */
export type StructFunction = (fields: Record<string, string>) => {
  create(init?: Record<string, unknown>): Record<string, number>;
};

export interface AtomicI32 {
  load(): number;
  store(value: number): void;
  fetchAdd(n: number): number;
  waitSync(expected: number, timeout?: number): "ok" | "not-equal" | "timed-out";
  waitAsync(expected: number, options?: { timeout?: number }): Promise<"ok" | "not-equal" | "timed-out">;
  notify(count?: number): number;
  readonly handle: unknown;
}
export interface AtomicI32Class {
  new (initial?: number): AtomicI32;
  from(received: unknown): AtomicI32;
}

export type ErrorClass = new (message?: string) => Error;

/** A module namespace, looked up by export name. */
export type Exports = Readonly<Record<string, unknown>>;
