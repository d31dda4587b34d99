/**
 * Web Worker for the `lockbox/threads` browser checks. One task per message; answers `{ ok: true }`
 * or `{ ok: false, error }`. Loads the built `lockbox/threads` entry, as an application would.
 */
import type {
  AtomicI32Class,
  Exports,
  ThreadsBarrierClass,
  ThreadsMutex,
  ThreadsMutexClass,
  ThreadsRwLock,
  ThreadsRwLockClass,
} from "./shapes.js";

export type WorkerTask =
  | { task: "probe"; counter: Int32Array }
  | { task: "mutex-increment"; mutex: unknown; iterations: number; gate: Int32Array }
  | { task: "atomic-add"; atomic: unknown; iterations: number; gate: Int32Array }
  | { task: "atomic-store-notify"; atomic: unknown }
  | { task: "rwlock-pair"; lock: unknown; iterations: number; gate: Int32Array }
  | { task: "barrier"; barrier: unknown; generations: number };

/** `value`: the task's result, when it has one (the barrier task: how often this worker led). */
export type WorkerReply = { ok: true; isolated: boolean; value: number } | { ok: false; error: string };

const threadsUrl = "/dist/threads/index.js";

async function run(message: WorkerTask): Promise<number> {
  const threads = (await import(threadsUrl)) as Exports;
  if (message.task === "probe") {
    // The worker shares the page's memory: its add is visible to the page without a reply.
    Atomics.add(message.counter, 0, 1);
    return 0;
  }
  if (message.task === "mutex-increment") {
    // Rebuilt from what was posted: the lock and its Int32Array view over the same shared memory.
    const mutex = (threads.Mutex as ThreadsMutexClass).from(message.mutex) as ThreadsMutex<Int32Array>;
    passGate(message.gate);
    for (let i = 0; i < message.iterations; i++) {
      // lockSync blocks this worker (Atomics.wait), which a worker may do.
      const guard = mutex.lockSync();
      try {
        // Read, pause, write: without mutual exclusion, concurrent increments would overwrite each other.
        const seen = guard.value[0]!;
        for (let spin = 0; spin < 100; spin++) Atomics.load(guard.value, 0);
        guard.value[0] = seen + 1;
      } finally {
        guard.release();
      }
    }
    return 0;
  }
  if (message.task === "barrier") {
    const barrier = (threads.Barrier as ThreadsBarrierClass).from(message.barrier);
    let led = 0;
    for (let generation = 0; generation < message.generations; generation++) {
      if (barrier.waitSync({ timeout: 10_000 }).isLeader) led++;
    }
    return led;
  }
  if (message.task === "rwlock-pair") {
    // The struct layout travels inside the lock's handle: this worker never declares it.
    const lock = (threads.RwLock as ThreadsRwLockClass).from(message.lock) as ThreadsRwLock<{ a: number; b: number }>;
    passGate(message.gate);
    for (let i = 0; i < message.iterations; i++) {
      const guard = lock.writeSync();
      try {
        // a and b differ only inside the write lock; a reader that ever sees them differ saw a torn write.
        guard.value.a += 1;
        for (let spin = 0; spin < 500; spin++) Atomics.load(message.gate, 0);
        guard.value.b += 1;
      } finally {
        guard.release();
      }
    }
    return 0;
  }
  const atomic = (threads.AtomicI32 as AtomicI32Class).from(message.atomic);
  if (message.task === "atomic-store-notify") {
    atomic.store(1);
    atomic.notify();
    return 0;
  }
  passGate(message.gate);
  for (let i = 0; i < message.iterations; i++) atomic.fetchAdd(1);
  return 0;
}

/**
 * Start gate, so the workers really run at the same time (module loading staggers them by
 * milliseconds, longer than their whole loop): word 0 counts ready workers, word 1 turns 1 on "go".
 */
function passGate(gate: Int32Array): void {
  Atomics.add(gate, 0, 1);
  Atomics.notify(gate, 0);
  Atomics.wait(gate, 1, 0);
}

self.onmessage = (event: MessageEvent<WorkerTask>) => {
  run(event.data).then(
    (value) => self.postMessage({ ok: true, isolated: self.crossOriginIsolated, value } satisfies WorkerReply),
    (error: unknown) =>
      self.postMessage({
        ok: false,
        error: error instanceof Error ? `${error.name}: ${error.message}\n${error.stack}` : String(error),
      } satisfies WorkerReply),
  );
};
