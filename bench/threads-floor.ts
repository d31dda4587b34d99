/**
 * lockbox/threads against minimal floors, in one file:
 *
 * 1. blocking, contended: 2 workers × n increments under `lockSync()` vs a minimal three-state futex
 *    mutex written here (Drepper's "mutex2": CAS 0→1, else exchange to 2 and `Atomics.wait`).
 * 2. async, contended: 2 workers × n increments under `await lock()` vs the same protocol parking with
 *    `Atomics.waitAsync`.
 * 3. uncontended, one thread: `lockSync()` + `release()` vs a bare `compareExchange` + `store`.
 *
 * Run: `npx tsx bench/threads-floor.ts [n = 100000] [rounds = 5] [scenarios = sync,async,uncontended]`.
 * Each round measures the floor and lockbox back to back (alternating which goes first) and gives one
 * ratio; the report is the median ratio over the rounds with its min–max, the median ns per increment
 * of each side, the best-of ratio, and the load average before and after (the machine may be shared).
 * `LOCKBOX_BENCH_VERBOSE=1` also prints every sample.
 * Targets (SPEC §4 work item): blocking ≤ 1.1×, async ≤ 1.3×, uncontended ≤ 1.3×.
 */
import os from "node:os";
import { isMainThread, parentPort, Worker } from "node:worker_threads";
import { Mutex } from "../src/threads/index.js";

type Kind = "floor-sync" | "floor-async" | "lockbox-sync" | "lockbox-async";

interface Job {
  kind: Kind;
  n: number;
  /** floor: [0] futex word, [1] counter; lockbox: [0] start flag. */
  words: Int32Array;
  mutex: unknown;
}

// --- the floor: a three-state futex mutex (0 free, 1 locked, 2 locked with sleepers) ---------------

function floorLockSync(w: Int32Array): void {
  let c = Atomics.compareExchange(w, 0, 0, 1);
  if (c === 0) return;
  if (c !== 2) c = Atomics.exchange(w, 0, 2);
  while (c !== 0) {
    Atomics.wait(w, 0, 2);
    c = Atomics.exchange(w, 0, 2);
  }
}

async function floorLockAsync(w: Int32Array): Promise<void> {
  let c = Atomics.compareExchange(w, 0, 0, 1);
  if (c === 0) return;
  if (c !== 2) c = Atomics.exchange(w, 0, 2);
  while (c !== 0) {
    const wait = Atomics.waitAsync(w, 0, 2);
    if (wait.async) await wait.value;
    c = Atomics.exchange(w, 0, 2);
  }
}

function floorUnlock(w: Int32Array): void {
  if (Atomics.sub(w, 0, 1) !== 1) {
    Atomics.store(w, 0, 0);
    Atomics.notify(w, 0, 1);
  }
}

// --- worker side -----------------------------------------------------------------------------------

async function runJob(job: Job): Promise<void> {
  const { kind, n, words } = job;
  if (kind === "floor-sync") {
    for (let i = 0; i < n; i++) {
      floorLockSync(words);
      words[1] = words[1]! + 1;
      floorUnlock(words);
    }
  } else if (kind === "floor-async") {
    for (let i = 0; i < n; i++) {
      await floorLockAsync(words);
      words[1] = words[1]! + 1;
      floorUnlock(words);
    }
  } else {
    const mutex = Mutex.from<Int32Array>(job.mutex);
    if (kind === "lockbox-sync") {
      for (let i = 0; i < n; i++) {
        const guard = mutex.lockSync();
        guard.value[0] = guard.value[0]! + 1;
        guard.release();
      }
    } else {
      for (let i = 0; i < n; i++) {
        const guard = await mutex.lock();
        guard.value[0] = guard.value[0]! + 1;
        guard.release();
      }
    }
  }
}

if (!isMainThread) {
  const port = parentPort!;
  port.on("message", async (job: Job) => {
    await runJob(job);
    port.postMessage("done");
  });
  port.postMessage("ready");
}

// --- main side -------------------------------------------------------------------------------------

const BOOT = `import(${JSON.stringify(import.meta.resolve("tsx/esm/api"))}).then((tsx) => { tsx.register(); return import(${JSON.stringify(import.meta.url)}); })`;

function startWorker(): Promise<Worker> {
  const worker = new Worker(BOOT, { eval: true });
  return new Promise((resolve, reject) => {
    worker.once("message", () => resolve(worker));
    worker.once("error", reject);
  });
}

function once(worker: Worker, job: Job): Promise<void> {
  return new Promise((resolve) => {
    worker.once("message", () => resolve());
    worker.postMessage(job);
  });
}

/** One contended round: both workers run `kind` n times; returns ns per increment and checks the total. */
async function contended(workers: Worker[], kind: Kind, n: number): Promise<number> {
  const words = new Int32Array(new SharedArrayBuffer(8));
  const data = new Int32Array(new SharedArrayBuffer(4));
  const mutex = kind.startsWith("lockbox") ? new Mutex(data) : undefined;
  const start = process.hrtime.bigint();
  await Promise.all(workers.map((w) => once(w, { kind, n, words, mutex })));
  const ns = Number(process.hrtime.bigint() - start);
  const total = kind.startsWith("lockbox") ? data[0] : words[1];
  if (total !== n * workers.length) throw new Error(`${kind}: lost updates (${total} of ${n * workers.length})`);
  return ns / (n * workers.length);
}

function uncontendedFloor(words: Int32Array, n: number): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    if (Atomics.compareExchange(words, 0, 0, 1) !== 0) throw new Error("floor: not free");
    words[1] = words[1]! + 1;
    Atomics.store(words, 0, 0);
  }
  return Number(process.hrtime.bigint() - start) / n;
}

function uncontendedLockbox(mutex: Mutex<Int32Array>, n: number): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const guard = mutex.lockSync();
    guard.value[0] = guard.value[0]! + 1;
    guard.release();
  }
  return Number(process.hrtime.bigint() - start) / n;
}

/** Separate functions, so each loop is optimized on its own. */
function uncontended(n: number): { floor: number; lockbox: number } {
  const words = new Int32Array(new SharedArrayBuffer(8));
  const mutex = new Mutex(new Int32Array(new SharedArrayBuffer(4)));
  return { floor: uncontendedFloor(words, n), lockbox: uncontendedLockbox(mutex, n) };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function loadAverage(): string {
  return os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(" ");
}

type Scenario = "sync" | "async" | "uncontended";

/**
 * Rounds alternate the two sides and, from round to round, which side goes first (so a drift in machine
 * load does not always fall on the same side). Each round gives one ratio lockbox / floor; the report
 * is the median ratio with its min–max, the median times, and the best-of ratio (fastest lockbox round
 * over fastest floor round) for comparison with older runs.
 */
async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 100_000);
  const rounds = Number(process.argv[3] ?? 5);
  const only = (process.argv[4] ?? "sync,async,uncontended").split(",") as Scenario[];
  const loadBefore = loadAverage();
  const workers = [await startWorker(), await startWorker()];
  const samples: Record<Scenario, { floor: number[]; lockbox: number[]; ratio: number[] }> = {
    sync: { floor: [], lockbox: [], ratio: [] },
    async: { floor: [], lockbox: [], ratio: [] },
    uncontended: { floor: [], lockbox: [], ratio: [] },
  };
  const add = (key: Scenario, floor: number, lockbox: number) => {
    samples[key].floor.push(floor);
    samples[key].lockbox.push(lockbox);
    samples[key].ratio.push(lockbox / floor);
  };
  // Warm-up (JIT of both sides in the workers and in this thread), then the measured rounds.
  for (const mode of ["sync", "async"] as const) {
    if (!only.includes(mode)) continue;
    await contended(workers, `floor-${mode}`, n / 10);
    await contended(workers, `lockbox-${mode}`, n / 10);
  }
  if (only.includes("uncontended")) uncontended(n);
  for (let round = 0; round < rounds; round++) {
    const floorFirst = round % 2 === 0;
    for (const mode of ["sync", "async"] as const) {
      if (!only.includes(mode)) continue;
      let floor: number;
      let lockbox: number;
      if (floorFirst) {
        floor = await contended(workers, `floor-${mode}`, n);
        lockbox = await contended(workers, `lockbox-${mode}`, n);
      } else {
        lockbox = await contended(workers, `lockbox-${mode}`, n);
        floor = await contended(workers, `floor-${mode}`, n);
      }
      add(mode, floor, lockbox);
    }
    if (only.includes("uncontended")) {
      const u = uncontended(n * 10);
      add("uncontended", u.floor, u.lockbox);
    }
  }
  await Promise.all(workers.map((w) => w.terminate()));
  const row = (label: string, key: Scenario, target: number) => {
    const { floor, lockbox, ratio } = samples[key];
    if (ratio.length === 0) return;
    const med = median(ratio);
    const best = Math.min(...lockbox) / Math.min(...floor);
    console.log(
      `${label.padEnd(34)} floor ${median(floor).toFixed(1).padStart(6)} ns  lockbox ${median(lockbox).toFixed(1).padStart(6)} ns  ` +
        `ratio median ${med.toFixed(2)}× [${Math.min(...ratio).toFixed(2)}–${Math.max(...ratio).toFixed(2)}]  ` +
        `best-of ${best.toFixed(2)}×  (target ≤ ${target}×: ${med <= target ? "met" : "NOT met"})`,
    );
  };
  console.log(
    `2 workers × ${n} increments; uncontended: ${n * 10} in one thread; ${rounds} interleaved rounds; ` +
      `load average ${loadBefore} → ${loadAverage()}`,
  );
  row("blocking, contended (lockSync)", "sync", 1.1);
  row("async, contended (await lock)", "async", 1.3);
  row("uncontended (lockSync + release)", "uncontended", 1.3);
  if (process.env.LOCKBOX_BENCH_VERBOSE !== undefined) console.log(JSON.stringify(samples));
}

if (isMainThread) await main();
