/**
 * The browser checks: the built package (dist/, loaded as the page's own ES modules) exercised in a
 * real, cross-origin isolated Chromium page, with real timers, real AbortSignals, real structured
 * clone and real Web Workers over SharedArrayBuffer. Run by test/browser/run.ts through `runAll`.
 *
 * A check whose export is not in this build is skipped with that reason (primitives land one by one);
 * the runner prints every skip, so a missing export never passes silently.
 */
import {
  assert,
  assertEqual,
  type CheckResult,
  check,
  flush,
  rejection,
  runChecks,
  Skip,
  settled,
  thrown,
} from "./harness.js";
import type * as S from "./shapes.js";
import type { WorkerReply, WorkerTask } from "./worker.js";

/** Options from the runner (query string of the page). */
export interface SuiteOptions {
  /** LOCKBOX_STRESS multiplier for iteration counts (default 1: small and fast). */
  stress: number;
}

// Variables, so that TypeScript does not try to resolve the URLs: the page loads the built files.
const libUrl = "/dist/index.js";
const threadsUrl = "/dist/threads/index.js";
const workerUrl = "/page/worker.js";

/** Loads the built entries, registers every check and runs them in order. */
export async function runAll(options: SuiteOptions): Promise<CheckResult[]> {
  const lib = (await import(libUrl)) as S.Exports;
  const threads = (await import(threadsUrl)) as S.Exports;
  registerInProcess(lib);
  registerThreads(lib, threads, options);
  return runChecks();
}

/** The export `name` of `entry`, or a skip when this build does not have it yet. */
function need<T>(mod: S.Exports, name: string, entry = "lockbox"): T {
  const value = mod[name];
  if (value === undefined) throw new Skip(`${entry} does not export ${name} in this build`);
  return value as T;
}

function isDataCloneError(error: unknown): boolean {
  return error instanceof DOMException && error.name === "DataCloneError";
}

function registerInProcess(lib: S.Exports): void {
  const error = (name: string) => need<S.ErrorClass>(lib, name);

  check("page is cross-origin isolated (COOP/COEP) and has SharedArrayBuffer", () => {
    assert(globalThis.crossOriginIsolated === true, `crossOriginIsolated is ${String(globalThis.crossOriginIsolated)}`);
    assert(typeof SharedArrayBuffer === "function", "SharedArrayBuffer is not defined");
  });

  check("errors: every exported *Error extends LockboxError and Error and has its own name", () => {
    const LockboxError = error("LockboxError");
    const names = Object.keys(lib).filter((name) => name.endsWith("Error"));
    assert(names.length >= 8, `expected at least the 8 SPEC errors, found ${names.join(", ")}`);
    for (const name of names) {
      const instance = new (lib[name] as S.ErrorClass)("message");
      assert(instance instanceof LockboxError && instance instanceof Error, `${name} extends LockboxError`);
      assertEqual(instance.name, name, `${name}'s name`);
    }
  });

  check("Mutex: strict FIFO hand-off; tryLock never jumps queued waiters", async () => {
    const Mutex = need<S.MutexClass>(lib, "Mutex");
    const mutex = new Mutex<number[]>([]);
    const first = await mutex.lock();
    const order: number[] = [];
    const waiters = [1, 2, 3].map((id) =>
      mutex.lock().then((guard) => {
        order.push(id);
        guard.value.push(id);
        return guard;
      }),
    );
    assert(mutex.tryLock() === undefined, "tryLock while held returns undefined");
    first.release();
    await flush();
    assertEqual(order, [1], "the release hands the lock to the head waiter only");
    assert(mutex.tryLock() === undefined, "tryLock must not barge ahead of waiters 2 and 3");
    for (const waiter of waiters) (await waiter).release();
    assertEqual(order, [1, 2, 3], "grant order");
    const last = mutex.tryLock();
    assert(last !== undefined, "tryLock succeeds once everyone released");
    assertEqual(last.value, [1, 2, 3], "each holder saw and extended the same value");
    last.release();
  });

  check("Mutex guard: value get/set, Symbol.dispose, idempotent release, UseAfterReleaseError", async () => {
    const Mutex = need<S.MutexClass>(lib, "Mutex");
    const UseAfterReleaseError = error("UseAfterReleaseError");
    const mutex = new Mutex({ n: 1 });
    const guard = await mutex.lock();
    guard.value = { n: 2 };
    guard[Symbol.dispose]();
    assert(guard.released && !mutex.isLocked, "dispose releases");
    const next = await mutex.lock();
    guard.release();
    assert(mutex.isLocked, "a second release of an old guard must not release the next holder's lock");
    assertEqual(next.value, { n: 2 }, "the replaced value is kept");
    next.release();
    assert(
      thrown(() => guard.value, "read after release") instanceof UseAfterReleaseError,
      "read → UseAfterReleaseError",
    );
    const write = thrown(() => {
      guard.value = { n: 3 };
    }, "write after release");
    assert(write instanceof UseAfterReleaseError, "write after release → UseAfterReleaseError");
  });

  check("Mutex: an uncontended lock() settles within microtasks (no timer, no macrotask)", async () => {
    const Mutex = need<S.MutexClass>(lib, "Mutex");
    const pending = new Mutex(0).lock();
    assert(await settled(pending), "lock() on a free mutex is ready after a microtask flush");
    (await pending).release();
  });

  check("Mutex.withLock: releases on throw; poisons only when opted in; ignorePoison, clearPoison", async () => {
    const Mutex = need<S.MutexClass>(lib, "Mutex");
    const PoisonError = error("PoisonError");
    const boom = new Error("boom");
    const plain = new Mutex(0);
    const thrownByPlain = await rejection(
      plain.withLock(() => {
        throw boom;
      }),
      "withLock rethrows",
    );
    assert(thrownByPlain === boom, "withLock rethrows the callback's error");
    assert(!plain.isLocked && !plain.isPoisoned, "released, and not poisoned by default");
    const opted = new Mutex(0, { poison: true });
    await rejection(
      opted.withLock(async () => {
        await null;
        throw boom;
      }),
      "async callback rejects",
    );
    assert(opted.isPoisoned, "a rejected callback poisons a { poison: true } mutex");
    assert((await rejection(opted.lock(), "lock() on a poisoned mutex")) instanceof PoisonError, "PoisonError");
    assert(!opted.isLocked, "the rejected lock() holds nothing");
    (await opted.lock({ ignorePoison: true })).release();
    opted.clearPoison();
    (await opted.lock()).release();
  });

  check("Mutex: timeout rejects with TimeoutError and leaves the queue (browser timers)", async () => {
    const Mutex = need<S.MutexClass>(lib, "Mutex");
    const TimeoutError = error("TimeoutError");
    const mutex = new Mutex(0);
    const held = await mutex.lock();
    const timedOut = mutex.lock({ timeout: 5 });
    const behind = mutex.lock();
    assert((await rejection(timedOut, "lock({ timeout })")) instanceof TimeoutError, "TimeoutError");
    held.release();
    const next = await behind;
    assert(mutex.isLocked, "the waiter behind the timed-out one got the lock");
    next.release();
    assert(!mutex.isLocked, "nothing left queued");
  });

  check("Mutex: AbortSignal rejects with signal.reason (AbortController, AbortSignal.abort/timeout)", async () => {
    const Mutex = need<S.MutexClass>(lib, "Mutex");
    const mutex = new Mutex(0);
    const held = await mutex.lock();
    const controller = new AbortController();
    const pending = mutex.lock({ signal: controller.signal });
    const reason = new Error("stop");
    controller.abort(reason);
    assert((await rejection(pending, "aborted lock()")) === reason, "rejects with the abort reason");
    const early = new Error("already");
    const pre = await rejection(mutex.lock({ signal: AbortSignal.abort(early) }), "pre-aborted lock()");
    assert(pre === early, "an already-aborted signal rejects with its reason");
    const timed = await rejection(mutex.lock({ signal: AbortSignal.timeout(5) }), "AbortSignal.timeout");
    assert(timed instanceof DOMException && timed.name === "TimeoutError", `got ${String(timed)}`);
    held.release();
    assert(!mutex.isLocked, "no aborted waiter was handed the lock");
  });

  check("Not Send: structuredClone and postMessage (MessagePort, Worker) throw DataCloneError", () => {
    const samples = notSendSamples(lib);
    assert(samples.length >= 2, "at least a Mutex and its guard");
    const channel = new MessageChannel();
    const worker = new Worker(workerUrl, { type: "module" });
    const ways: [string, (value: unknown) => unknown][] = [
      ["structuredClone", (value) => structuredClone(value)],
      ["MessagePort.postMessage", (value) => channel.port1.postMessage(value)],
      ["Worker.postMessage", (value) => worker.postMessage(value)],
    ];
    try {
      for (const [name, value] of samples) {
        for (const [how, send] of ways) {
          const failure = thrown(() => send(value), `${how}(${name})`);
          assert(isDataCloneError(failure), `${how}(${name}) threw ${String(failure)}`);
          // Wrapped in a plain object, as an application would send it: still refused.
          assert(isDataCloneError(thrown(() => send({ nested: value }), `${how}({ ${name} })`)), `nested ${name}`);
        }
      }
    } finally {
      worker.terminate();
      channel.port1.close();
      channel.port2.close();
    }
  });

  check("RwLock: readers share; a queued writer blocks later readers; downgrade admits them", async () => {
    const RwLock = need<S.RwLockClass>(lib, "RwLock");
    const lock = new RwLock({ n: 0 });
    const r1 = await lock.read();
    const r2 = lock.tryRead();
    assert(r2 !== undefined && lock.readers === 2, "two readers at once");
    const writing = lock.write();
    assert(!(await settled(writing)), "the writer waits for the readers");
    assert(lock.tryRead() === undefined, "a queued writer blocks new readers");
    const reading = lock.read();
    r1.release();
    r2.release();
    const writer = await writing;
    assert(lock.isWriteLocked, "write-locked");
    writer.value = { n: 1 };
    assert(!(await settled(reading)), "the reader waits for the writer");
    const downgraded = writer.downgrade();
    assert(writer.released, "downgrade releases the write guard");
    const reader = await reading;
    assertEqual(reader.value, { n: 1 }, "readers see the write");
    assert(lock.readers === 2 && !lock.isWriteLocked, "downgraded guard and queued reader share the lock");
    downgraded.release();
    reader.release();
    assertEqual(lock.readers, 0, "readers after every release");
  });

  check("Semaphore: a large request at the head blocks later small ones; close() → ClosedError", async () => {
    const Semaphore = need<S.SemaphoreClass>(lib, "Semaphore");
    const ClosedError = error("ClosedError");
    const sem = new Semaphore(2);
    const one = await sem.acquire();
    const big = sem.acquire(2);
    const small = sem.acquire(1);
    assert(sem.tryAcquire() === undefined, "tryAcquire does not pass the queued request for 2");
    assert(!(await settled(small)), "the small request waits behind the big one");
    one.release();
    const bigPermit = await big;
    assert(bigPermit.permits === 2, "the big request got both permits");
    bigPermit.release();
    (await small).release();
    assertEqual(sem.available, 2, "permits conserved");
    const waiting = sem.acquire(3);
    sem.close();
    assert((await rejection(waiting, "pending acquire on close")) instanceof ClosedError, "pending → ClosedError");
    assert(thrown(() => sem.tryAcquire(), "tryAcquire after close") instanceof ClosedError, "tryAcquire throws");
  });

  check("Notify: notifyOne stores one permit; notifyWaiters wakes current waiters and stores none", async () => {
    const Notify = need<S.NotifyClass>(lib, "Notify");
    const notify = new Notify();
    notify.notifyOne();
    assert(await settled(notify.notified()), "a stored permit completes the next notified()");
    const a = notify.notified();
    const b = notify.notified();
    notify.notifyWaiters();
    await Promise.all([a, b]);
    const later = notify.notified();
    assert(!(await settled(later)), "notifyWaiters stored no permit");
    notify.notifyOne();
    await later;
  });

  check("Condvar: wait releases the mutex and returns a new guard after notify", async () => {
    const Mutex = need<S.MutexClass>(lib, "Mutex");
    const Condvar = need<S.CondvarClass>(lib, "Condvar");
    const mutex = new Mutex({ ready: false });
    const condvar = new Condvar();
    const waiter = (async () => {
      let guard = await mutex.lock();
      while (!guard.value.ready) guard = await condvar.wait(guard);
      guard.release();
      return true;
    })();
    await flush();
    assert(!mutex.isLocked, "the waiter gave the mutex back while waiting");
    const guard = await mutex.lock();
    guard.value = { ready: true };
    condvar.notifyOne();
    guard.release();
    assert(await waiter, "the waiter woke");
    assert(!mutex.isLocked, "and released");
  });

  check("Barrier: one leader per generation, reusable", async () => {
    const Barrier = need<S.BarrierClass>(lib, "Barrier");
    const barrier = new Barrier(3);
    for (let generation = 0; generation < 2; generation++) {
      const first = barrier.wait();
      const second = barrier.wait();
      assert(!(await settled(first)), "waits for the third party");
      const results = await Promise.all([first, second, barrier.wait()]);
      assertEqual(results.filter((result) => result.isLeader).length, 1, `leaders in generation ${generation}`);
    }
  });

  check("OnceCell: concurrent getOrInit share one initialization", async () => {
    const OnceCell = need<S.OnceCellClass>(lib, "OnceCell");
    const cell = new OnceCell<number>();
    let calls = 0;
    const init = async () => {
      calls++;
      await null;
      return 42;
    };
    assertEqual(await Promise.all([cell.getOrInit(init), cell.getOrInit(init)]), [42, 42], "both get the value");
    assertEqual(calls, 1, "one initialization");
    assert(cell.initialized && cell.get() === 42 && cell.set(1) === false, "set after init refuses");
  });

  check("KeyedMutex: per-key exclusion, lockMany in any order does not deadlock, empty keys freed", async () => {
    const KeyedMutex = need<S.KeyedMutexClass>(lib, "KeyedMutex");
    const keyed = new KeyedMutex<string>();
    const a = await keyed.lock("a");
    const b = keyed.tryLock("b");
    assert(b !== undefined, "another key is independent");
    assert(keyed.tryLock("a") === undefined && keyed.isLocked("a"), "the same key is exclusive");
    const aAgain = keyed.lock("a");
    assert(!(await settled(aAgain)), "waits for key a");
    a.release();
    (await aAgain).release();
    b.release();
    // Overlapping key sets in opposite orders: taken in one canonical order, so both complete.
    const xy = keyed.lockMany(["x", "y"]);
    const yx = keyed.lockMany(["y", "x"]);
    const first = await xy;
    assert(!(await settled(yx)), "the overlapping lockMany waits");
    first.release();
    (await yx).release();
    assertEqual(keyed.size, 0, "no key holds memory once released");
  });

  check("Cell and RefCell: get/set/replace; BorrowError and BorrowMutError on conflicting borrows", () => {
    const Cell = need<S.CellClass>(lib, "Cell");
    const RefCell = need<S.RefCellClass>(lib, "RefCell");
    const BorrowError = error("BorrowError");
    const BorrowMutError = error("BorrowMutError");
    const cell = new Cell(1);
    cell.set(2);
    assertEqual(cell.replace(3), 2, "replace returns the old value");
    cell.update((value) => value + 1);
    assertEqual(cell.get(), 4, "update");
    const refCell = new RefCell({ n: 1 });
    const reading = refCell.borrow();
    assertEqual(refCell.borrowState, "reading", "borrowState while a Ref is live");
    assert(thrown(() => refCell.borrowMut(), "borrowMut while reading") instanceof BorrowMutError, "BorrowMutError");
    reading.release();
    const writing = refCell.borrowMut();
    assert(thrown(() => refCell.borrow(), "borrow while writing") instanceof BorrowError, "BorrowError");
    writing.value = { n: 2 };
    writing.release();
    assertEqual(refCell.borrowState, "unused", "borrowState after release");
  });

  check("Arc: the last strong drop disposes the value; Weak.upgrade then returns undefined", () => {
    const Arc = need<S.ArcClass>(lib, "Arc");
    const UseAfterReleaseError = error("UseAfterReleaseError");
    let disposed = 0;
    const arc = new Arc({
      [Symbol.dispose]() {
        disposed++;
      },
    });
    const clone = arc.clone();
    assertEqual(arc.strongCount, 2, "strongCount after clone");
    const weak = arc.downgrade();
    arc.drop();
    const upgraded = weak.upgrade();
    assert(upgraded !== undefined, "alive while a strong handle remains");
    upgraded.drop();
    assertEqual(disposed, 0, "not disposed while a strong handle remains");
    clone.drop();
    assertEqual(disposed, 1, "disposed once by the last drop");
    assert(weak.upgrade() === undefined, "upgrade after the last drop");
    assert(thrown(() => clone.value, "value after drop") instanceof UseAfterReleaseError, "UseAfterReleaseError");
  });
}

/** One instance of every in-process primitive this build exports, and of their guards. */
function notSendSamples(lib: S.Exports): [string, unknown][] {
  const samples: [string, unknown][] = [];
  const make = (name: string, ...args: unknown[]): unknown => {
    const Class = lib[name] as (new (...a: unknown[]) => unknown) | undefined;
    if (Class === undefined) return undefined;
    const instance = new Class(...args);
    samples.push([name, instance]);
    return instance;
  };
  const mutex = make("Mutex", { n: 1 }) as S.Mutex<unknown> | undefined;
  if (mutex) samples.push(["MutexGuard", mutex.tryLock()]);
  const rwLock = make("RwLock", { n: 1 }) as S.RwLock<unknown> | undefined;
  if (rwLock) samples.push(["RwLockReadGuard", rwLock.tryRead()]);
  const writable = make("RwLock", { n: 1 }) as S.RwLock<unknown> | undefined;
  if (writable) samples.push(["RwLockWriteGuard", writable.tryWrite()]);
  const semaphore = make("Semaphore", 1) as S.Semaphore | undefined;
  if (semaphore) samples.push(["SemaphorePermit", semaphore.tryAcquire()]);
  for (const name of ["Notify", "Condvar", "OnceCell", "KeyedMutex"]) make(name);
  make("Barrier", 2);
  make("Cell", 1);
  const refCell = make("RefCell", { n: 1 }) as S.RefCell<unknown> | undefined;
  if (refCell) samples.push(["Ref", refCell.borrow()]);
  make("Arc", { n: 1 });
  return samples;
}

/** Posts `task` to `worker` and settles with its reply; a worker that fails to load rejects. */
function runTask(worker: Worker, task: WorkerTask): Promise<{ isolated: boolean; value: number }> {
  return new Promise((resolve, reject) => {
    worker.onmessage = (event: MessageEvent<WorkerReply>) => {
      if (event.data.ok) resolve(event.data);
      else reject(new Error(`worker: ${event.data.error}`));
    };
    worker.onerror = (event) => reject(new Error(`worker failed: ${event.message || "module did not load"}`));
    worker.onmessageerror = () => reject(new Error("worker could not deserialize its reply"));
    worker.postMessage(task);
  });
}

/** A start gate for `workers` workers (see worker.ts): opens it once they are all ready. */
function startGate(workers: number): { gate: Int32Array; open(): Promise<void> } {
  const gate = new Int32Array(new SharedArrayBuffer(8));
  return {
    gate,
    async open() {
      for (let ready = Atomics.load(gate, 0); ready < workers; ready = Atomics.load(gate, 0)) {
        const wait = Atomics.waitAsync(gate, 0, ready);
        if (wait.async) await wait.value;
      }
      Atomics.store(gate, 1, 1);
      Atomics.notify(gate, 1);
    },
  };
}

/** Yields to the event loop (a macrotask, without setTimeout's clamping), so workers' messages and wake-ups run. */
function yieldTask(): Promise<void> {
  const { port1, port2 } = new MessageChannel();
  return new Promise((resolve) => {
    port1.onmessage = () => {
      port1.close();
      resolve();
    };
    port2.postMessage(null);
  });
}

function registerThreads(lib: S.Exports, threads: S.Exports, options: SuiteOptions): void {
  const perWorker = Math.round(1000 * options.stress);
  const onPage = Math.round(200 * options.stress);
  const workerTimeout = 20_000 * options.stress;

  check("lockbox/threads: re-exports the very same error classes as lockbox", () => {
    const names = Object.keys(lib).filter((name) => name.endsWith("Error"));
    for (const name of names) assert(threads[name] === lib[name], `lockbox/threads ${name} is lockbox's ${name}`);
  });

  check("Web Workers: module workers load lockbox/threads, are isolated and share the page's memory", async () => {
    const counter = new Int32Array(new SharedArrayBuffer(4));
    const workers = [new Worker(workerUrl, { type: "module" }), new Worker(workerUrl, { type: "module" })];
    try {
      const replies = await Promise.all(workers.map((worker) => runTask(worker, { task: "probe", counter })));
      assert(
        replies.every((reply) => reply.isolated),
        "every worker is cross-origin isolated",
      );
    } finally {
      for (const worker of workers) worker.terminate();
    }
    assertEqual(Atomics.load(counter, 0), 2, "both workers' adds landed in the page's SharedArrayBuffer");
  });

  check(
    `lockbox/threads Mutex: 2 Web Workers (lockSync, ${perWorker} each) and the page (lock(), ${onPage}) lose no update`,
    async () => {
      const Mutex = need<S.ThreadsMutexClass>(threads, "Mutex", "lockbox/threads");
      const mutex = new Mutex(new Int32Array(new SharedArrayBuffer(4)));
      const workers = [new Worker(workerUrl, { type: "module" }), new Worker(workerUrl, { type: "module" })];
      try {
        const { gate, open } = startGate(2);
        // One worker receives the lock itself, the other its `.handle`: SPEC §4 says both cross.
        const done = Promise.all([
          runTask(workers[0]!, { task: "mutex-increment", mutex, iterations: perWorker, gate }),
          runTask(workers[1]!, { task: "mutex-increment", mutex: mutex.handle, iterations: perWorker, gate }),
        ]);
        await Promise.race([open(), done]);
        for (let i = 0; i < onPage; i++) {
          await yieldTask(); // spread the page's turns over the workers' run
          const guard = await mutex.lock();
          try {
            const seen = guard.value[0]!;
            await Promise.resolve(); // hold the lock across a yield, as async code does
            guard.value[0] = seen + 1;
          } finally {
            guard.release();
          }
        }
        await done;
      } finally {
        for (const worker of workers) worker.terminate();
      }
      const guard = await mutex.lock();
      assertEqual(guard.value[0], 2 * perWorker + onPage, "increments under the lock");
      guard.release();
      assert(!mutex.isLocked, "released at the end");
    },
    workerTimeout,
  );

  check(
    "lockbox/threads Mutex: lockSync on the page throws WouldBlockError instead of blocking, and takes nothing",
    async () => {
      const Mutex = need<S.ThreadsMutexClass>(threads, "Mutex", "lockbox/threads");
      const WouldBlockError = need<S.ErrorClass>(threads, "WouldBlockError", "lockbox/threads");
      const mutex = new Mutex(new Int32Array(new SharedArrayBuffer(4)));
      const held = await mutex.lock();
      // Held, so lockSync would have to wait: the main thread may not, so it must refuse at once.
      const blocked = thrown(() => mutex.lockSync({ timeout: 10_000 }), "lockSync on a held lock");
      assert(blocked instanceof WouldBlockError, `got ${String(blocked)}`);
      assert(blocked instanceof (lib.LockboxError as S.ErrorClass), "a LockboxError of the lockbox entry too");
      held.release();
      assert(!mutex.isLocked, "the refused lockSync left the page's own guard in charge, now released");
      // Free: SPEC §4 only says "before waiting", so either outcome is allowed, but never a hang and
      // never a half-taken lock.
      let free: ReturnType<typeof mutex.lockSync> | undefined;
      const refused = (() => {
        try {
          free = mutex.lockSync();
          return undefined;
        } catch (error) {
          return error;
        }
      })();
      if (free === undefined) {
        assert(refused instanceof WouldBlockError, `free lock: got ${String(refused)}`);
        assert(!mutex.isLocked, "a refused lockSync takes nothing");
      } else {
        assert(mutex.isLocked, "a successful lockSync holds the lock");
        free.release();
      }
      (await mutex.lock()).release();
    },
  );

  check("lockbox/threads AtomicI32 on the page: waitSync → WouldBlockError; waitAsync woken by a worker", async () => {
    const AtomicI32 = need<S.AtomicI32Class>(threads, "AtomicI32", "lockbox/threads");
    const WouldBlockError = need<S.ErrorClass>(threads, "WouldBlockError", "lockbox/threads");
    const flag = new AtomicI32(0);
    assert(thrown(() => flag.waitSync(0, 10_000), "waitSync on the page") instanceof WouldBlockError, "refused");
    const woken = flag.waitAsync(0); // registered before the worker can store
    const worker = new Worker(workerUrl, { type: "module" });
    try {
      await runTask(worker, { task: "atomic-store-notify", atomic: flag.handle });
      assertEqual(await woken, "ok", "waitAsync result");
      assertEqual(flag.load(), 1, "the worker's store is visible");
    } finally {
      worker.terminate();
    }
  });

  check(
    `lockbox/threads RwLock over a struct: 2 Web Workers writeSync (${perWorker} each), the page read()s no torn pair`,
    async () => {
      const RwLock = need<S.ThreadsRwLockClass>(threads, "RwLock", "lockbox/threads");
      const struct = need<S.StructFunction>(threads, "struct", "lockbox/threads");
      const lock = new RwLock(struct({ a: "i32", b: "i32" }).create({ a: 0, b: 0 }));
      const workers = [new Worker(workerUrl, { type: "module" }), new Worker(workerUrl, { type: "module" })];
      let reads = 0;
      let torn = 0;
      try {
        const { gate, open } = startGate(2);
        const done = Promise.all(
          workers.map((worker) =>
            runTask(worker, { task: "rwlock-pair", lock: lock.handle, iterations: perWorker, gate }),
          ),
        );
        await Promise.race([open(), done]);
        let finished = false;
        done.then(
          () => {
            finished = true;
          },
          () => {},
        );
        while (!finished || reads === 0) {
          await yieldTask();
          const guard = await lock.read();
          try {
            reads++;
            if (guard.value.a !== guard.value.b) torn++;
          } finally {
            guard.release();
          }
        }
        await done;
      } finally {
        for (const worker of workers) worker.terminate();
      }
      assertEqual(torn, 0, `torn pairs seen in ${reads} reads`);
      const guard = await lock.read();
      assertEqual([guard.value.a, guard.value.b], [2 * perWorker, 2 * perWorker], "every write counted");
      guard.release();
    },
    workerTimeout,
  );

  check(
    "lockbox/threads Barrier(3): the page (wait) and 2 Web Workers (waitSync), one leader per generation",
    async () => {
      const Barrier = need<S.ThreadsBarrierClass>(threads, "Barrier", "lockbox/threads");
      const WouldBlockError = need<S.ErrorClass>(threads, "WouldBlockError", "lockbox/threads");
      const generations = 20;
      const barrier = new Barrier(3);
      // Refused before arriving: had it counted, the first generation would trip with two real parties.
      assert(thrown(() => barrier.waitSync(), "waitSync on the page") instanceof WouldBlockError, "refused");
      const workers = [new Worker(workerUrl, { type: "module" }), new Worker(workerUrl, { type: "module" })];
      try {
        const done = Promise.all(
          workers.map((worker) => runTask(worker, { task: "barrier", barrier: barrier.handle, generations })),
        );
        let led = 0;
        for (let generation = 0; generation < generations; generation++) {
          if ((await barrier.wait({ timeout: 10_000 })).isLeader) led++;
        }
        const replies = await done;
        assertEqual(led + replies[0]!.value + replies[1]!.value, generations, "leaders over all generations");
      } finally {
        for (const worker of workers) worker.terminate();
      }
    },
  );

  check("lockbox/threads Mutex.from: a foreign object → TypeError", () => {
    const Mutex = need<S.ThreadsMutexClass>(threads, "Mutex", "lockbox/threads");
    assert(thrown(() => Mutex.from({ type: "nope" }), "Mutex.from(foreign)") instanceof TypeError, "TypeError");
  });

  check(
    `lockbox/threads AtomicI32: fetchAdd from 2 Web Workers (${perWorker} each)`,
    async () => {
      const AtomicI32 = need<S.AtomicI32Class>(threads, "AtomicI32", "lockbox/threads");
      const atomic = new AtomicI32(0);
      const workers = [new Worker(workerUrl, { type: "module" }), new Worker(workerUrl, { type: "module" })];
      try {
        const { gate, open } = startGate(2);
        const done = Promise.all(
          workers.map((worker) =>
            runTask(worker, { task: "atomic-add", atomic: atomic.handle, iterations: perWorker, gate }),
          ),
        );
        await Promise.race([open(), done]);
        await done;
      } finally {
        for (const worker of workers) worker.terminate();
      }
      assertEqual(atomic.load(), 2 * perWorker, "every fetchAdd counted");
    },
    workerTimeout,
  );
}
