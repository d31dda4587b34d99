/**
 * One adapter per library and primitive, each written in that library's own idiom (a release function,
 * a guard, an `unlock()` method, a callback). Scenarios drive every library through the same small
 * surface; because each bench process loads exactly one library, the adapter's call sites stay
 * monomorphic and add the same few nanoseconds to every row, floor included.
 *
 * Callback-only APIs (async-lock, rwlock) are wrapped in a promise, as their users must do to `await`
 * them; that wrapping is counted as their cost.
 *
 * Each library is imported on demand, so a bench process loads only the one it measures.
 * `lockbox/threads` is loaded by feature detection (threads-types.ts): its scenarios report "skipped"
 * until its Mutex exists.
 */

import { type FloorGuard, FloorGuardMutex, FloorMutex, FloorRwLock, FloorSemaphore } from "./floors.js";
import { loadThreadsMutex, type ThreadsGuard } from "./threads-types.js";

/** Thrown when a library (or this lockbox build) lacks what a scenario needs: reported as skipped. */
export class Skipped extends Error {
  override readonly name = "Skipped";
}

/**
 * A mutex guarding a number. `get`/`set` reach the number through the handle: for lockbox that is
 * `guard.value` (the value lives in the lock); for peers a plain field beside the lock.
 */
export interface MutexAdapter<H = unknown> {
  lock(): Promise<H>;
  unlock(handle: H): void;
  /** Synchronous try-lock, when the library has one. */
  tryLock: (() => H | undefined) | undefined;
  get(handle: H): number;
  set(handle: H, value: number): void;
}

/** The state the RwLock scenario protects: writers bump `a`, yield, bump `b`; readers check a === b. */
export interface RwState {
  a: number;
  b: number;
}

export interface RwLockAdapter<R = unknown, W = unknown> {
  read(): Promise<R>;
  write(): Promise<W>;
  unlockRead(handle: R): void;
  unlockWrite(handle: W): void;
  /** The protected state, as a reader sees it. */
  readData(handle: R): Readonly<RwState>;
  /** The protected state, as the writer holding `handle` sees it. */
  writeData(handle: W): RwState;
}

export interface SemaphoreAdapter<H = unknown> {
  acquire(): Promise<H>;
  release(handle: H): void;
}

export const MUTEX_LIBS = [
  "lockbox",
  "async-mutex",
  "async-lock",
  "await-lock",
  "p-mutex",
  "mutexify",
  "@esfx/async-mutex",
] as const;
export const RWLOCK_LIBS = ["lockbox", "rwlock", "async-rwlock"] as const;
export const SEMAPHORE_LIBS = ["lockbox", "async-mutex", "async-sema", "@shopify/semaphore"] as const;
/** Libraries with a synchronous try-lock (a semaphore of one counts). */
export const TRYLOCK_LIBS = ["lockbox", "await-lock", "@esfx/async-mutex", "async-sema"] as const;

const TOKEN = true;

// ---------------------------------------------------------------------------------------------------
// Mutexes

/** A mutex whose number lives beside it (every peer: the lock does not own data). */
function withField<H>(lock: () => Promise<H>, unlock: (h: H) => void, tryLock?: () => H | undefined): MutexAdapter<H> {
  let field = 0;
  return {
    lock,
    unlock,
    tryLock,
    get: () => field,
    set: (_h, value) => {
      field = value;
    },
  };
}

/**
 * A lockbox/threads Mutex used from one thread (the `threads-waiters` scenario, issue 10: a thread's
 * async waiters queue locally in front of the shared word).
 */
export async function createThreadsMutex(): Promise<MutexAdapter> {
  const Mutex = await loadThreadsMutex();
  if (typeof Mutex === "string") throw new Skipped(Mutex);
  const m = new Mutex(new Int32Array(new SharedArrayBuffer(4)));
  const adapter: MutexAdapter<ThreadsGuard> = {
    lock: () => m.lock(),
    unlock: (g) => g.release(),
    tryLock: undefined,
    get: (g) => g.value[0] as number,
    set: (g, value) => {
      g.value[0] = value;
    },
  };
  return adapter as MutexAdapter;
}

export async function createMutex(lib: string): Promise<MutexAdapter> {
  switch (lib) {
    case "floor": {
      const m = new FloorMutex();
      return withField(
        () => m.lock(),
        () => m.unlock(),
        () => (m.tryLock() ? TOKEN : undefined),
      ) as MutexAdapter;
    }
    case "floor+guard": {
      const m = new FloorGuardMutex();
      return withField<FloorGuard>(
        () => m.lock(),
        (g) => g.release(),
        () => m.tryLock(),
      ) as MutexAdapter;
    }
    case "lockbox": {
      const { Mutex } = await import("../src/index.js");
      type Guard = import("../src/index.js").MutexGuard<number>;
      const m = new Mutex(0);
      const adapter: MutexAdapter<Guard> = {
        lock: () => m.lock(),
        unlock: (g) => g.release(),
        tryLock: () => m.tryLock(),
        get: (g) => g.value,
        set: (g, value) => {
          g.value = value;
        },
      };
      return adapter as MutexAdapter;
    }
    case "async-mutex": {
      const { Mutex } = await import("async-mutex");
      const m = new Mutex();
      return withField(
        () => m.acquire(),
        (release) => release(),
      ) as MutexAdapter;
    }
    case "async-lock": {
      const { default: AsyncLock } = await import("async-lock");
      // The default maxPending (1000) rejects the 1001st waiter; the waiters scenario needs 100,000.
      const lock = new AsyncLock({ maxPending: Number.POSITIVE_INFINITY });
      type Done = () => void;
      return withField(
        () =>
          new Promise<Done>((resolve) => {
            void lock.acquire("k", (done: Done) => resolve(done));
          }),
        (done) => done(),
      ) as MutexAdapter;
    }
    case "await-lock": {
      const { default: AwaitLock } = await import("await-lock");
      const m = new AwaitLock();
      return withField<unknown>(
        () => m.acquireAsync(),
        () => m.release(),
        () => (m.tryAcquire() ? TOKEN : undefined),
      ) as MutexAdapter;
    }
    case "p-mutex": {
      const { default: PMutex } = await import("p-mutex");
      const m = new PMutex();
      return withField(
        () => m.lock(),
        () => m.unlock(),
      ) as MutexAdapter;
    }
    case "mutexify": {
      const { default: mutexify } = await import("mutexify/promise.js");
      const acquire = mutexify();
      return withField(acquire, (release) => release()) as MutexAdapter;
    }
    case "@esfx/async-mutex": {
      const { AsyncMutex } = await import("@esfx/async-mutex");
      const m = new AsyncMutex();
      return withField<unknown>(
        () => m.lock(),
        () => {
          m.unlock();
        },
        () => (m.tryLock() ? TOKEN : undefined),
      ) as MutexAdapter;
    }
    case "async-sema": {
      const { Sema } = await import("async-sema");
      const s = new Sema(1);
      return withField(
        () => s.acquire() as Promise<unknown>,
        (token) => s.release(token),
        () => s.tryAcquire() as unknown,
      ) as MutexAdapter;
    }
    default:
      throw new Skipped(`${lib} has no mutex`);
  }
}

// ---------------------------------------------------------------------------------------------------
// Read-write locks

export async function createRwLock(lib: string): Promise<RwLockAdapter> {
  const state: RwState = { a: 0, b: 0 };
  const data = () => state;
  switch (lib) {
    case "floor": {
      const rw = new FloorRwLock();
      return {
        read: () => rw.read(),
        write: () => rw.write(),
        unlockRead: () => rw.unlockRead(),
        unlockWrite: () => rw.unlockWrite(),
        readData: data,
        writeData: data,
      };
    }
    case "lockbox": {
      const { RwLock } = await import("../src/index.js");
      const rw = new RwLock(state);
      type R = import("../src/index.js").RwLockReadGuard<RwState>;
      type W = import("../src/index.js").RwLockWriteGuard<RwState>;
      const adapter: RwLockAdapter<R, W> = {
        read: () => rw.read(),
        write: () => rw.write(),
        unlockRead: (g) => g.release(),
        unlockWrite: (g) => g.release(),
        readData: (g) => g.value,
        writeData: (g) => g.value,
      };
      return adapter as RwLockAdapter;
    }
    case "rwlock": {
      const { default: ReadWriteLock } = await import("rwlock");
      const rw = new ReadWriteLock();
      type Release = () => void;
      const adapter: RwLockAdapter<Release, Release> = {
        read: () => new Promise<Release>((resolve) => rw.readLock(resolve)),
        write: () => new Promise<Release>((resolve) => rw.writeLock(resolve)),
        unlockRead: (release) => release(),
        unlockWrite: (release) => release(),
        readData: data,
        writeData: data,
      };
      return adapter as RwLockAdapter;
    }
    case "async-rwlock": {
      const { RWLock } = await import("async-rwlock");
      const rw = new RWLock();
      return {
        read: () => rw.readLock(),
        write: () => rw.writeLock(),
        unlockRead: () => rw.unlock(),
        unlockWrite: () => rw.unlock(),
        readData: data,
        writeData: data,
      };
    }
    default:
      throw new Skipped(`${lib} has no read-write lock`);
  }
}

// ---------------------------------------------------------------------------------------------------
// Semaphores

export async function createSemaphore(lib: string, permits: number): Promise<SemaphoreAdapter> {
  switch (lib) {
    case "floor": {
      const s = new FloorSemaphore(permits);
      return { acquire: () => s.acquire(), release: () => s.release() };
    }
    case "lockbox": {
      const { Semaphore } = await import("../src/index.js");
      const s = new Semaphore(permits);
      type P = import("../src/index.js").SemaphorePermit;
      const adapter: SemaphoreAdapter<P> = { acquire: () => s.acquire(), release: (p) => p.release() };
      return adapter as SemaphoreAdapter;
    }
    case "async-mutex": {
      const { Semaphore } = await import("async-mutex");
      const s = new Semaphore(permits);
      type Entry = [number, () => void];
      const adapter: SemaphoreAdapter<Entry> = { acquire: () => s.acquire(), release: (entry) => entry[1]() };
      return adapter as SemaphoreAdapter;
    }
    case "async-sema": {
      const { Sema } = await import("async-sema");
      const s = new Sema(permits);
      return { acquire: () => s.acquire() as Promise<unknown>, release: (token) => s.release(token) };
    }
    case "@shopify/semaphore": {
      const { Semaphore } = await import("@shopify/semaphore");
      const s = new Semaphore(permits);
      type Permit = import("@shopify/semaphore").Permit;
      // Permit.release() is async (it awaits the next holder's grant); users fire and forget it.
      const adapter: SemaphoreAdapter<Permit> = {
        acquire: () => s.acquire(),
        release: (permit) => {
          void permit.release();
        },
      };
      return adapter as SemaphoreAdapter;
    }
    default:
      throw new Skipped(`${lib} has no semaphore`);
  }
}
