/**
 * The `lockbox/threads` Mutex surface the thread scenarios use (SPEC §4), typed here so the bench
 * compiles and reports "skipped" before that module lands.
 */

export interface ThreadsGuard {
  value: Int32Array;
  release(): void;
}

export interface ThreadsMutex {
  readonly handle: unknown;
  lockSync(): ThreadsGuard;
  lock(): Promise<ThreadsGuard>;
}

export interface ThreadsMutexCtor {
  new (data: Int32Array): ThreadsMutex;
  from(handle: unknown): ThreadsMutex;
}

/** The lockbox/threads Mutex class, or a reason it cannot be used yet. */
export async function loadThreadsMutex(): Promise<ThreadsMutexCtor | string> {
  let threads: Record<string, unknown>;
  try {
    threads = (await import("../src/threads/index.js")) as Record<string, unknown>;
  } catch (error) {
    return `lockbox/threads does not load: ${(error as Error).message}`;
  }
  const Mutex = threads.Mutex as ThreadsMutexCtor | undefined;
  if (typeof Mutex !== "function") return "lockbox/threads exports no Mutex yet (src/threads/index.ts)";
  if (typeof Mutex.from !== "function") return "lockbox/threads Mutex has no static from() yet";
  for (const method of ["lock", "lockSync"] as const) {
    if (typeof Mutex.prototype[method] !== "function") return `lockbox/threads Mutex has no ${method}() yet`;
  }
  return Mutex;
}
