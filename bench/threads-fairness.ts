/**
 * Worst-case waits of lockbox/threads waiters against hogs (issue 10, SPEC: no waiter starves).
 *
 * ```sh
 * npx tsx bench/threads-fairness.ts                      # every case, 20 tries each
 * FAIR_CASES=mutex-local FAIR_TRIES=50 npx tsx bench/threads-fairness.ts
 * ```
 *
 * Cases (a "try" is one timed acquire by the measured waiter while the hogs run):
 * - `mutex-local`: a worker's `lockSync()` against 8 async tasks of the main thread that re-take a
 *   threads `Mutex` back to back (the local queue hands on while nobody else starves).
 * - `semaphore-2`: the main thread's `acquire(2)` on a `Semaphore(2)` against 2 workers each re-taking
 *   1 permit back to back (overlapping holders).
 * - `semaphore-2-turns`: the same against 2 workers that hold 1 permit each *in turn*, always
 *   overlapping: a worker lets go only once the other holds again (or has been inside `acquireSync`
 *   for 5,000,000 re-reads: blocked), so 2 permits are free together only when a worker is blocked
 *   (test/threads/semaphore-fairness.test.ts uses the same pair).
 * - `rwlock-writer`: the main thread's `write()` against a worker re-taking the write lock back to back.
 * - `rwlock-reader`: the main thread's `read()` against 2 workers re-taking the write lock back to back.
 * - `rwlock-upgradable`: the main thread's `upgradableRead()` against a worker re-taking the write lock
 *   and one re-taking an upgradable read share, back to back.
 *
 * `FAIR_HOLD_SPIN` sets how long a hog holds (re-reads of a word; default 200, about a microsecond):
 * longer holds make the semaphore's 1-permit holders overlap.
 *
 * Reported per case: median and worst wait (ms) and how many tries hit `FAIR_TIMEOUT_MS` (default
 * 2000): a timeout means the waiter starved for that long.
 */

import { Worker } from "node:worker_threads";
import { Mutex, RwLock, Semaphore } from "../src/threads/index.js";

const tries = Number(process.env.FAIR_TRIES ?? 20);
const timeout = Number(process.env.FAIR_TIMEOUT_MS ?? 2_000);
const holdSpin = Number(process.env.FAIR_HOLD_SPIN ?? 200);
const allCases = "mutex-local,semaphore-2,semaphore-2-turns,rwlock-writer,rwlock-reader,rwlock-upgradable";
const cases = (process.env.FAIR_CASES ?? allCases).split(",");

interface HogData {
  kind: "mutex" | "semaphore" | "semaphore-turns" | "rwlock" | "rwlock-upgradable" | "mutex-waiter";
  handle: unknown;
  /** Re-reads a hog makes while holding (`FAIR_HOLD_SPIN`, default 200: about a microsecond). */
  holdSpin: number;
  stop: SharedArrayBuffer;
  tries?: number;
  timeout?: number;
  /** The worker's index among the hogs of a case. */
  me?: number;
}

/** Worker body: hog (or, for `mutex-waiter`, the measured waiter) until stop[0] is set. */
async function workerMain(data: HogData): Promise<void> {
  const { parentPort } = await import("node:worker_threads");
  const stop = new Int32Array(data.stop);
  const spin = (): void => {
    for (let i = 0; i < data.holdSpin; i++) Atomics.load(stop, 1);
  };
  parentPort?.postMessage("ready");
  if (data.kind === "mutex") {
    const m = Mutex.from(data.handle);
    while (Atomics.load(stop, 0) === 0) {
      const g = m.lockSync();
      spin();
      g.release();
    }
  } else if (data.kind === "semaphore") {
    const s = Semaphore.from(data.handle);
    while (Atomics.load(stop, 0) === 0) {
      const p = s.acquireSync(1);
      spin();
      p.release();
    }
  } else if (data.kind === "semaphore-turns") {
    // stop[2 + me]: 1 while holding, 2 while about to acquire or inside acquireSync; stop[4]: whose turn.
    const s = Semaphore.from(data.handle);
    const me = data.me as number;
    const other = 3 - me;
    while (Atomics.load(stop, 0) === 0) {
      Atomics.store(stop, 2 + me, 2);
      const p = s.acquireSync(1);
      Atomics.store(stop, 2 + me, 1);
      let trying = 0;
      while (Atomics.load(stop, 0) === 0) {
        if (Atomics.load(stop, 4) !== me) continue;
        const state = Atomics.load(stop, other);
        if (state === 1 || (state === 2 && ++trying >= 5_000_000)) break;
        if (state !== 2) trying = 0;
      }
      Atomics.store(stop, 2 + me, 2);
      Atomics.store(stop, 4, 1 - me);
      p.release();
    }
  } else if (data.kind === "rwlock") {
    const l = RwLock.from(data.handle);
    while (Atomics.load(stop, 0) === 0) {
      const g = l.writeSync();
      spin();
      g.release();
    }
  } else if (data.kind === "rwlock-upgradable") {
    const l = RwLock.from(data.handle);
    while (Atomics.load(stop, 0) === 0) {
      const g = l.upgradableReadSync();
      spin();
      g.release();
    }
  } else {
    const m = Mutex.from(data.handle);
    const waits: number[] = [];
    let timeouts = 0;
    for (let i = 0; i < (data.tries as number); i++) {
      const t0 = performance.now();
      try {
        m.lockSync({ timeout: data.timeout }).release();
        waits.push(performance.now() - t0);
      } catch {
        timeouts++;
        waits.push(performance.now() - t0);
      }
      Atomics.wait(stop, 1, 0, 2);
    }
    parentPort?.postMessage({ waits, timeouts });
  }
  parentPort?.postMessage("done");
}

function startWorker(data: HogData): Worker {
  const self = import.meta.url;
  if (!self.endsWith(".ts")) return new Worker(new URL(self), { workerData: data });
  const tsx = JSON.stringify(import.meta.resolve("tsx/esm/api"));
  const bootstrap = `import(${tsx}).then((api) => { api.register(); return import(${JSON.stringify(self)}); })`;
  return new Worker(bootstrap, { eval: true, workerData: data });
}

function ready(w: Worker): Promise<void> {
  return new Promise((resolve) => {
    const on = (m: unknown): void => {
      if (m === "ready") {
        w.off("message", on);
        resolve();
      }
    };
    w.on("message", on);
  });
}

function summary(name: string, waits: number[], timeouts: number): void {
  const sorted = [...waits].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
  const worst = sorted[sorted.length - 1] ?? Number.NaN;
  console.log(
    `${name.padEnd(18)} tries ${String(waits.length).padStart(3)}  median ${median.toFixed(2).padStart(8)} ms` +
      `  worst ${worst.toFixed(2).padStart(8)} ms  timeouts (${timeout} ms) ${timeouts}`,
  );
}

async function mutexLocal(): Promise<void> {
  const m = new Mutex(null);
  const stop = new SharedArrayBuffer(8);
  const flag = new Int32Array(stop);
  const w = startWorker({ kind: "mutex-waiter", handle: m.handle, stop, tries, timeout, holdSpin });
  const result = new Promise<{ waits: number[]; timeouts: number }>((resolve) => {
    w.on("message", (msg) => {
      if (typeof msg === "object") resolve(msg as { waits: number[]; timeouts: number });
    });
  });
  let done = false;
  result.then(() => {
    done = true;
  });
  // Eight tasks of this thread re-take the lock back to back; they yield to the event loop every
  // 1,000 rounds each so that the worker's result can arrive.
  const hogs = Array.from({ length: 8 }, async () => {
    let rounds = 0;
    while (!done) {
      const g = await m.lock();
      g.release();
      if (++rounds % 1000 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
  });
  const { waits, timeouts } = await result;
  Atomics.store(flag, 0, 1);
  await Promise.all(hogs);
  await w.terminate();
  summary("mutex-local", waits, timeouts);
}

async function measuredHere(
  name: string,
  kinds: HogData["kind"][],
  make: () => { handle: unknown; acquire: () => Promise<{ release(): void }> },
): Promise<void> {
  const lock = make();
  const stop = new SharedArrayBuffer(20);
  const ws = kinds.map((kind, me) => startWorker({ kind, handle: lock.handle, stop, holdSpin, me }));
  await Promise.all(ws.map(ready));
  await new Promise((resolve) => setTimeout(resolve, 20));
  const waits: number[] = [];
  let timeouts = 0;
  for (let i = 0; i < tries; i++) {
    const t0 = performance.now();
    try {
      (await lock.acquire()).release();
    } catch {
      timeouts++;
    }
    waits.push(performance.now() - t0);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  Atomics.store(new Int32Array(stop), 0, 1);
  await Promise.all(ws.map((w) => w.terminate()));
  summary(name, waits, timeouts);
}

async function main(): Promise<void> {
  for (const name of cases) {
    if (name === "mutex-local") await mutexLocal();
    else if (name === "semaphore-2") {
      await measuredHere(name, ["semaphore", "semaphore"], () => {
        const s = new Semaphore(2);
        return { handle: s.handle, acquire: () => s.acquire(2, { timeout }) };
      });
    } else if (name === "semaphore-2-turns") {
      await measuredHere(name, ["semaphore-turns", "semaphore-turns"], () => {
        const s = new Semaphore(2);
        return { handle: s.handle, acquire: () => s.acquire(2, { timeout }) };
      });
    } else if (name === "rwlock-writer") {
      await measuredHere(name, ["rwlock"], () => {
        const l = new RwLock(null);
        return { handle: l.handle, acquire: () => l.write({ timeout }) };
      });
    } else if (name === "rwlock-reader") {
      await measuredHere(name, ["rwlock", "rwlock"], () => {
        const l = new RwLock(null);
        return { handle: l.handle, acquire: () => l.read({ timeout }) };
      });
    } else if (name === "rwlock-upgradable") {
      await measuredHere(name, ["rwlock", "rwlock-upgradable"], () => {
        const l = new RwLock(null);
        return { handle: l.handle, acquire: () => l.upgradableRead({ timeout }) };
      });
    } else throw new RangeError(`Expected FAIR_CASES from ${allCases}, got ${name}`);
  }
}

const { isMainThread, workerData } = await import("node:worker_threads");
if (isMainThread) await main();
else await workerMain(workerData as HogData);
