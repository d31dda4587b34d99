/**
 * A worker stepped by messages: each request `{ id, op, ...args }` runs one operation on threads
 * primitives rebuilt with `X.from(received)`, and is answered `{ id, ok: true, value }` or
 * `{ id, ok: false, name, message }`. Guards a request keeps are stored by `key` for a later
 * `release`. `die` ends the worker in the way asked (uncaught throw or `process.exit`).
 */
import { parentPort, workerData } from "node:worker_threads";
import {
  Barrier,
  Condvar,
  type JsonCell,
  Mutex,
  type MutexGuard,
  OnceLock,
  RwLock,
  Semaphore,
  spawn,
} from "../../src/threads/index.js";

type Request = { id: number; op: string } & Record<string, unknown>;
type Held = { release(): void };

const port = parentPort!;
const held = new Map<string, Held>();

function counterOf(value: unknown): Int32Array {
  return value as Int32Array;
}

/**
 * Start line: each worker checks in (start[1] += 1) and waits for the go (start[0] = 1), so that the
 * workers' loops overlap instead of running one after another while the others are still booting.
 */
function startLine(start: unknown): void {
  if (!(start instanceof Int32Array)) return;
  Atomics.add(start, 1, 1);
  const deadline = performance.now() + 10_000;
  while (Atomics.load(start, 0) === 0 && performance.now() < deadline) Atomics.wait(start, 0, 0, 10);
}

/** A read-modify-write that loses updates unless the caller holds the lock exclusively. */
function bump(array: Int32Array): void {
  // Atomic accesses, so the JIT cannot shrink the window between the read and the write: without
  // mutual exclusion, updates are lost.
  const v = Atomics.load(array, 0);
  for (let spin = 0; spin < 20; spin++) Atomics.load(array, 1);
  Atomics.store(array, 0, v + 1);
}

const ops: Record<string, (r: Request) => unknown> = {
  async mutexCount(r) {
    const mutex = Mutex.from<Int32Array>(r.mutex);
    const n = r.n as number;
    startLine(r.start);
    for (let i = 0; i < n; i++) {
      // Alternate the option-less fast path and the path with options.
      if (r.mode === "sync") {
        const guard = i % 2 === 0 ? mutex.lockSync() : mutex.lockSync({ timeout: 10_000 });
        bump(counterOf(guard.value));
        guard.release();
      } else {
        const guard = i % 2 === 0 ? await mutex.lock() : await mutex.lock({ timeout: 10_000 });
        bump(counterOf(guard.value));
        guard.release();
      }
    }
    return n;
  },
  async mutexTasks(r) {
    // `tasks` async tasks of this one thread, each taking the lock `n` times (issue 10: they queue in
    // this thread's local FIFO, and only its head competes for the shared word).
    const mutex = Mutex.from<Int32Array>(r.mutex);
    const n = r.n as number;
    const tasks = r.tasks as number;
    startLine(r.start);
    const one = async (): Promise<void> => {
      for (let i = 0; i < n; i++) {
        const guard = await mutex.lock({ timeout: 30_000 });
        bump(counterOf(guard.value));
        guard.release();
      }
    };
    await Promise.all(Array.from({ length: tasks }, one));
    return n * tasks;
  },
  async mutexLockFlag(r) {
    // Takes the lock once, and says so in flag[0] while holding it (for fairness tests).
    const mutex = Mutex.from<Int32Array>(r.mutex);
    const flag = r.flag as Int32Array;
    const timeout = (r.timeout as number | undefined) ?? 10_000;
    const guard = r.mode === "sync" ? mutex.lockSync({ timeout }) : await mutex.lock({ timeout });
    Atomics.store(flag, 0, 1);
    guard.release();
    return "ok";
  },
  mutexChurn(r) {
    // Re-takes the lock in a tight loop (a running thread barging) until flag[0] is set or `limit`
    // passes; a fair lock still lets a parked waiter in.
    const mutex = Mutex.from<Int32Array>(r.mutex);
    const flag = r.flag as Int32Array;
    const limit = r.limit as number;
    // Re-reads of the flag while holding (default 0): a longer hold leaves the lock free only for the
    // instant between a release and the next lockSync.
    const holdSpin = (r.holdSpin as number | undefined) ?? 0;
    const start = performance.now();
    let iterations = 0;
    Atomics.store(flag, 1, 1); // started
    while (Atomics.load(flag, 0) === 0 && performance.now() - start < limit) {
      const guard = mutex.lockSync();
      bump(guard.value);
      for (let spin = 0; spin < holdSpin; spin++) Atomics.load(flag, 0);
      guard.release();
      iterations++;
    }
    return { iterations, stopped: Atomics.load(flag, 0) === 1 };
  },
  rwChurn(r) {
    // Re-takes the RwLock (`mode`: "write", "read" or "upgradable", blocking) in a tight loop until
    // flag[0] is set or `limit` ms pass: a running thread barging. flag[1] counts the hogs started.
    const lock = RwLock.from<Int32Array>(r.lock);
    const flag = r.flag as Int32Array;
    const limit = r.limit as number;
    const start = performance.now();
    let iterations = 0;
    Atomics.add(flag, 1, 1);
    while (Atomics.load(flag, 0) === 0 && performance.now() - start < limit) {
      const guard =
        r.mode === "write" ? lock.writeSync() : r.mode === "read" ? lock.readSync() : lock.upgradableReadSync();
      guard.release();
      iterations++;
    }
    return { iterations, stopped: Atomics.load(flag, 0) === 1 };
  },
  async mutexHold(r) {
    const mutex = Mutex.from<Int32Array>(r.mutex);
    const guard = r.mode === "sync" ? mutex.lockSync({ timeout: 10_000 }) : await mutex.lock({ timeout: 10_000 });
    held.set(r.key as string, guard);
    return "held";
  },
  async mutexLock(r) {
    const mutex = Mutex.from<Int32Array>(r.mutex);
    const timeout = (r.timeout as number | undefined) ?? 10_000;
    const guard = r.mode === "sync" ? mutex.lockSync({ timeout }) : await mutex.lock({ timeout });
    const value = counterOf(guard.value)[0];
    guard.release();
    return value;
  },
  async rwCount(r) {
    const lock = RwLock.from<Int32Array>(r.lock);
    const n = r.n as number;
    startLine(r.start);
    let consistent = true;
    for (let i = 0; i < n; i++) {
      if (i % 3 === 0) {
        const guard = r.mode === "sync" ? lock.writeSync({ timeout: 10_000 }) : await lock.write({ timeout: 10_000 });
        bump(guard.value);
        guard.value[2] = guard.value[0]!;
        guard.release();
      } else {
        const guard = r.mode === "sync" ? lock.readSync({ timeout: 10_000 }) : await lock.read({ timeout: 10_000 });
        // Under a read lock nobody writes: the two copies agree.
        if (guard.value[0] !== guard.value[2]) consistent = false;
        guard.release();
      }
    }
    return consistent;
  },
  async rwHold(r) {
    const lock = RwLock.from<Int32Array>(r.lock);
    const guard =
      r.kind === "write"
        ? r.mode === "sync"
          ? lock.writeSync({ timeout: 10_000 })
          : await lock.write({ timeout: 10_000 })
        : r.mode === "sync"
          ? lock.readSync({ timeout: 10_000 })
          : await lock.read({ timeout: 10_000 });
    held.set(r.key as string, guard);
    return "held";
  },
  async rwUpgrade(r) {
    // Upgradable read, then upgrade (waits for the other readers), write, release.
    const lock = RwLock.from<Int32Array>(r.lock);
    const up =
      r.mode === "sync" ? lock.upgradableReadSync({ timeout: 10_000 }) : await lock.upgradableRead({ timeout: 10_000 });
    const seen = up.value[0];
    const writer = r.mode === "sync" ? up.upgradeSync({ timeout: 10_000 }) : await up.upgrade({ timeout: 10_000 });
    writer.value[0] = (seen ?? 0) + 10;
    writer.release();
    return "upgraded";
  },
  async rwWrite(r) {
    const lock = RwLock.from<Int32Array>(r.lock);
    const timeout = (r.timeout as number | undefined) ?? 10_000;
    const guard = r.mode === "sync" ? lock.writeSync({ timeout }) : await lock.write({ timeout });
    guard.value[0] = (guard.value[0] ?? 0) + 1;
    guard.release();
    return "written";
  },
  async condvarConsume(r) {
    // Waits until the producer has set value[0] to the expected number, then acknowledges in value[1].
    const mutex = Mutex.from<Int32Array>(r.mutex);
    const condvar = Condvar.from(r.condvar);
    const target = r.target as number;
    let guard: MutexGuard<Int32Array> = r.mode === "sync" ? mutex.lockSync() : await mutex.lock();
    guard =
      r.mode === "sync"
        ? condvar.waitWhileSync(guard, (value) => value[0]! < target, { timeout: 10_000 })
        : await condvar.waitWhile(guard, (value) => value[0]! < target, { timeout: 10_000 });
    guard.value[1] = (guard.value[1] ?? 0) + 1;
    const seen = guard.value[0];
    guard.release();
    condvar.notifyAll();
    return seen;
  },
  async semaphoreWork(r) {
    // Takes a permit n times; value[0] counts current holders, value[1] records the maximum seen.
    const semaphore = Semaphore.from(r.semaphore);
    const counts = r.counts as Int32Array;
    const n = r.n as number;
    startLine(r.start);
    for (let i = 0; i < n; i++) {
      const permit =
        r.mode === "sync"
          ? semaphore.acquireSync(1, { timeout: 10_000 })
          : await semaphore.acquire(1, { timeout: 10_000 });
      const now = Atomics.add(counts, 0, 1) + 1;
      Atomics.store(counts, 1, Math.max(Atomics.load(counts, 1), now));
      for (let spin = 0; spin < 50; spin++) Atomics.load(counts, 2);
      Atomics.sub(counts, 0, 1);
      permit.release();
    }
    return n;
  },
  async semaphoreTasks(r) {
    // `tasks` async tasks of this thread, each taking `permits` permits `n` times; counts[0] holds the
    // permits held right now, counts[1] the most seen (issue 10: the tasks queue locally).
    const semaphore = Semaphore.from(r.semaphore);
    const counts = r.counts as Int32Array;
    const n = r.n as number;
    const permits = (r.permits as number | undefined) ?? 1;
    startLine(r.start);
    const one = async (): Promise<void> => {
      for (let i = 0; i < n; i++) {
        const permit = await semaphore.acquire(permits, { timeout: 30_000 });
        const now = Atomics.add(counts, 0, permits) + permits;
        Atomics.store(counts, 1, Math.max(Atomics.load(counts, 1), now));
        for (let spin = 0; spin < 50; spin++) Atomics.load(counts, 2);
        Atomics.sub(counts, 0, permits);
        permit.release();
      }
    };
    await Promise.all(Array.from({ length: r.tasks as number }, one));
    return n;
  },
  async semaphoreAcquire(r) {
    const semaphore = Semaphore.from(r.semaphore);
    const permits = (r.permits as number | undefined) ?? 1;
    const permit =
      r.mode === "sync"
        ? semaphore.acquireSync(permits, { timeout: 10_000 })
        : await semaphore.acquire(permits, { timeout: 10_000 });
    permit.forget();
    return permits;
  },
  async barrierRounds(r) {
    // Each round: record this party's arrival in slot[round], then wait; after the barrier every
    // party of the round must have written its slot.
    const barrier = Barrier.from(r.barrier);
    const log = r.log as Int32Array;
    const rounds = r.rounds as number;
    let leaders = 0;
    let complete = true;
    for (let round = 0; round < rounds; round++) {
      Atomics.add(log, round, 1);
      const { isLeader } =
        r.mode === "sync" ? barrier.waitSync({ timeout: 10_000 }) : await barrier.wait({ timeout: 10_000 });
      if (isLeader) leaders++;
      if (Atomics.load(log, round) !== barrier.parties) complete = false;
    }
    return { leaders, complete };
  },
  async onceInit(r) {
    const once = OnceLock.from<Int32Array>(r.once);
    const calls = r.calls as Int32Array;
    const init = (value: Int32Array) => {
      Atomics.add(calls, 0, 1);
      if (r.fail === true) throw new Error("init failed on purpose");
      value[0] = r.value as number;
    };
    const value =
      r.mode === "sync"
        ? once.getOrInitSync(init, { timeout: 10_000 })
        : await once.getOrInit(init, { timeout: 10_000 });
    return value[0];
  },
  async onceHang(r) {
    // Starts the initializer and never finishes it (the test then kills this worker).
    const once = OnceLock.from<Int32Array>(r.once);
    void once.getOrInit(() => new Promise<undefined>(() => {}));
    return "running";
  },
  deadlockCycle(r) {
    // Holds `first` (blocking), waits until all `parties` hold theirs, then blocks on `second`: with
    // the locks passed around a ring, that closes a cycle of blocking waits (diagnostics tests).
    const first = Mutex.from(r.first);
    const second = Mutex.from(r.second);
    const step = r.step as Int32Array;
    const guard = first.lockSync();
    Atomics.add(step, 0, 1);
    Atomics.notify(step, 0);
    for (let seen = Atomics.load(step, 0); seen < (r.parties as number); seen = Atomics.load(step, 0)) {
      Atomics.wait(step, 0, seen, 100);
    }
    try {
      second.lockSync().release();
      return "acquired";
    } catch (error) {
      return `${(error as Error).name}: ${(error as Error).message}`;
    } finally {
      guard.release();
    }
  },
  selfDeadlock(r) {
    // A blocking re-acquire of a lock this thread holds, in a worker (diagnostics tests).
    const mutex = Mutex.from(r.mutex);
    const guard = mutex.lockSync();
    try {
      mutex.lockSync();
      return "acquired twice";
    } catch (error) {
      return `${(error as Error).name}: ${(error as Error).message}`;
    } finally {
      guard.release();
    }
  },
  async namesAndTimeouts(r) {
    // Names of received primitives and of ones made here, and the TimeoutErrors of each (names tests).
    const semaphore = Semaphore.from(r.semaphore);
    const barrier = Barrier.from(r.barrier);
    const once = OnceLock.from(r.once);
    const condvar = Condvar.from(r.condvar);
    const mutex = Mutex.from(r.mutex);
    const messages: string[] = [];
    const attempt = (fn: () => unknown): void => {
      try {
        fn();
        messages.push("no error");
      } catch (error) {
        messages.push(`${(error as Error).name}: ${(error as Error).message}`);
      }
    };
    attempt(() => semaphore.acquireSync(1, { timeout: 0 }));
    attempt(() => barrier.waitSync({ timeout: 0 }));
    attempt(() => once.waitSync({ timeout: 0 }));
    attempt(() => condvar.waitSync(mutex.lockSync(), { timeout: 0 }));
    return {
      names: [semaphore.name, barrier.name, once.name, condvar.name],
      local: [new Semaphore(1).name, new Barrier(1).name, new OnceLock().name, new Condvar().name],
      messages,
    };
  },
  async semaphoreHold(r) {
    // Takes permits and keeps them (stored by key) until `release` or the worker's death.
    const semaphore = Semaphore.from(r.semaphore);
    const permits = (r.permits as number | undefined) ?? 1;
    const permit =
      r.mode === "sync"
        ? semaphore.acquireSync(permits, { timeout: 10_000 })
        : await semaphore.acquire(permits, { timeout: 10_000 });
    held.set(r.key as string, permit);
    return permits;
  },
  async condvarNotifyLater(r) {
    // After `ms`, sets value[0] = 1 under the mutex and notifies every waiter (answers at once).
    const mutex = Mutex.from<Int32Array>(r.mutex);
    const condvar = Condvar.from(r.condvar);
    setTimeout(() => {
      mutex.withLockSync((guard) => {
        guard.value[0] = 1;
      });
      condvar.notifyAll();
    }, r.ms as number);
    return "scheduled";
  },
  async barrierCount(r) {
    // Passes the barrier while tickets remain in counts[2] (taken before each pass, so that callers
    // beyond the parties always find partners); counts leaderships in counts[0], passes in counts[1].
    const barrier = Barrier.from(r.barrier);
    const counts = r.counts as Int32Array;
    startLine(r.start);
    while (Atomics.sub(counts, 2, 1) > 0) {
      const { isLeader } =
        r.mode === "sync" ? barrier.waitSync({ timeout: 10_000 }) : await barrier.wait({ timeout: 10_000 });
      if (isLeader) Atomics.add(counts, 0, 1);
      Atomics.add(counts, 1, 1);
    }
    return "done";
  },
  async jsonWriteLoop(r) {
    // Rewrites a large JSON value under the lock forever (until the worker is killed); flag[0] = 1 once started.
    const mutex = Mutex.from(r.mutex) as Mutex<JsonCell<{ n: number; pad: string }>>;
    const flag = r.flag as Int32Array;
    for (let i = 0; ; i++) {
      const guard = mutex.lockSync({ timeout: 10_000, ignorePoison: true });
      guard.value = { n: i, pad: String.fromCharCode(97 + (i % 26)).repeat(r.size as number) };
      guard.release();
      Atomics.store(flag, 0, 1);
    }
  },
  async spawnChildHold(r) {
    // Starts a nested worker (supervised by this one) that takes the mutex and keeps it.
    const child = spawn(new URL("./lock-boot.mjs", import.meta.url), { workerData: null });
    child.on("error", () => {});
    const replies = new Map<number, (message: { ok: boolean; message?: string }) => void>();
    await new Promise<void>((resolve) => {
      child.on("message", (message: { id?: number; ready?: boolean; ok: boolean; message?: string }) => {
        if (message.ready) return resolve();
        replies.get(message.id!)?.(message);
      });
    });
    const reply = await new Promise<{ ok: boolean; message?: string }>((resolve) => {
      replies.set(1, resolve);
      child.postMessage({ id: 1, op: "mutexHold", mutex: r.mutex, key: "g", mode: "sync" });
    });
    if (!reply.ok) throw new Error(`child failed: ${reply.message}`);
    return child.threadId;
  },
  release(r) {
    const guard = held.get(r.key as string);
    held.delete(r.key as string);
    guard?.release();
    return "released";
  },
  die(r) {
    if (r.how === "exit") process.exit(7);
    setTimeout(() => {
      throw new Error("worker crashed on purpose");
    });
    return "dying";
  },
  block(r) {
    // Blocks this worker's thread (for terminate() while blocked).
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, r.ms as number);
    return "unblocked";
  },
};

port.on("message", async (request: Request) => {
  try {
    const op = ops[request.op];
    if (op === undefined) throw new Error(`unknown op ${request.op}`);
    const value = await op(request);
    port.postMessage({ id: request.id, ok: true, value });
  } catch (error) {
    const e = error as Error;
    port.postMessage({ id: request.id, ok: false, name: e?.name, message: e?.message });
  }
});

port.postMessage({ ready: true, workerData: workerData === undefined ? null : "set" });
