/**
 * lockbox/threads against minimal floors, in one file:
 *
 * 1. blocking, contended: 2 workers × n increments under `lockSync()` vs a minimal three-state futex
 *    mutex written here (Drepper's "mutex2": CAS 0→1, else exchange to 2 and `Atomics.wait`).
 * 2. async, contended: 2 workers × n increments under `await lock()` vs the same protocol parking with
 *    `Atomics.waitAsync`.
 * 3. uncontended, one thread: `lockSync()` + `release()` vs a bare `compareExchange` + `store`.
 *
 * Each also runs a reference side, *floor+guard*: the same floor returning a minimal guard object (what
 * any lock with lockbox's `lock(): Guard` shape must at least do), so a ratio to the floor can be split
 * into "the API shape" (floor+guard / floor) and "lockbox itself" (lockbox / floor+guard).
 *
 * Run: `npx tsx bench/threads-floor.ts [n = 100000] [rounds = 5] [scenarios = sync,async,uncontended]`.
 * Each round measures the three sides back to back (rotating which goes first) and gives one ratio per
 * pair; the report is the median ratio over the rounds with its min–max, the median ns per increment
 * of each side, the best-of ratio, and the load average before and after (the machine may be shared).
 * Contended rounds start both workers together (a spinning barrier): without it a round on a busy
 * 2-core machine often runs the workers one after the other and measures an uncontended lock.
 * `LOCKBOX_BENCH_VERBOSE=1` also prints every sample.
 * Targets (SPEC §4 work item): blocking ≤ 1.1×, async ≤ 1.3×, uncontended ≤ 1.3×.
 */
import os from "node:os";
import { isMainThread, parentPort, Worker } from "node:worker_threads";
import { Mutex } from "../src/threads/index.js";

type Side = "floor" | "guard" | "lockbox";
type Mode = "sync" | "async";
type Kind = `${Side}-${Mode}`;

interface Job {
  kind: Kind;
  n: number;
  /** floor and guard: [0] futex word, [1] counter. */
  words: Int32Array;
  /** [0]: workers that have arrived (the start barrier). */
  barrier: Int32Array;
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

/**
 * The reference "floor + guard": the same futex protocol, but every acquire returns a minimal guard
 * object (a `value` getter that checks release, an idempotent `release()`), as a lock with lockbox's
 * API shape must. Not a target — it shows what the API shape itself costs: the guard's allocation (V8
 * does not scalar-replace it, since it is live across the Atomics call in `release`) and, for the
 * async form, resolving a promise with an object (the spec's `then` lookup) instead of `undefined`.
 */
class FloorGuard {
  #word: Int32Array | undefined;
  readonly #value: Int32Array;

  constructor(word: Int32Array, value: Int32Array) {
    this.#word = word;
    this.#value = value;
  }

  get value(): Int32Array {
    if (this.#word === undefined) throw new Error("released");
    return this.#value;
  }

  release(): void {
    const word = this.#word;
    if (word === undefined) return;
    this.#word = undefined;
    floorUnlock(word);
  }
}

function guardLockSync(w: Int32Array, value: Int32Array): FloorGuard {
  floorLockSync(w);
  return new FloorGuard(w, value);
}

/** One promise per acquire, as lockbox's `lock()`: resolved at once when free, else after the waits. */
function guardLockAsync(w: Int32Array, value: Int32Array): Promise<FloorGuard> {
  if (Atomics.compareExchange(w, 0, 0, 1) === 0) return Promise.resolve(new FloorGuard(w, value));
  return guardLockAsyncSlow(w, value);
}

async function guardLockAsyncSlow(w: Int32Array, value: Int32Array): Promise<FloorGuard> {
  let c = Atomics.exchange(w, 0, 2);
  while (c !== 0) {
    const wait = Atomics.waitAsync(w, 0, 2);
    if (wait.async) await wait.value;
    c = Atomics.exchange(w, 0, 2);
  }
  return new FloorGuard(w, value);
}

// --- worker side -----------------------------------------------------------------------------------

/**
 * Both workers wait here until both have arrived, so that a round really runs them side by side: without
 * it the second worker often starts (message latency, a busy core) after the first has done most of its
 * increments, and the round measures an uncontended lock. Spins (a few tens of microseconds) rather
 * than parks, so that neither worker starts with a wake-up.
 */
function startBarrier(barrier: Int32Array): void {
  Atomics.add(barrier, 0, 1);
  const give = performance.now() + 100;
  while (Atomics.load(barrier, 0) < 2 && performance.now() < give) {}
}

// One function per side and mode: each loop is optimized on its own, with monomorphic call sites
// (one function with every loop in it mixed the sides' feedback and on-stack replacements).

function floorSync(words: Int32Array, n: number): void {
  for (let i = 0; i < n; i++) {
    floorLockSync(words);
    words[1] = words[1]! + 1;
    floorUnlock(words);
  }
}

async function floorAsync(words: Int32Array, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    await floorLockAsync(words);
    words[1] = words[1]! + 1;
    floorUnlock(words);
  }
}

function guardSync(words: Int32Array, counter: Int32Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const guard = guardLockSync(words, counter);
    guard.value[0] = guard.value[0]! + 1;
    guard.release();
  }
}

async function guardAsync(words: Int32Array, counter: Int32Array, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const guard = await guardLockAsync(words, counter);
    guard.value[0] = guard.value[0]! + 1;
    guard.release();
  }
}

function lockboxSync(mutex: Mutex<Int32Array>, n: number): void {
  for (let i = 0; i < n; i++) {
    const guard = mutex.lockSync();
    guard.value[0] = guard.value[0]! + 1;
    guard.release();
  }
}

async function lockboxAsync(mutex: Mutex<Int32Array>, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const guard = await mutex.lock();
    guard.value[0] = guard.value[0]! + 1;
    guard.release();
  }
}

async function runJob(job: Job): Promise<void> {
  const { kind, n, words } = job;
  const counter = words.subarray(1, 2);
  const mutex = kind.startsWith("lockbox") ? Mutex.from<Int32Array>(job.mutex) : undefined;
  startBarrier(job.barrier);
  if (kind === "floor-sync") floorSync(words, n);
  else if (kind === "floor-async") await floorAsync(words, n);
  else if (kind === "guard-sync") guardSync(words, counter, n);
  else if (kind === "guard-async") await guardAsync(words, counter, n);
  else if (kind === "lockbox-sync") lockboxSync(mutex!, n);
  else await lockboxAsync(mutex!, n);
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
  const barrier = new Int32Array(new SharedArrayBuffer(4));
  const data = new Int32Array(new SharedArrayBuffer(4));
  const mutex = kind.startsWith("lockbox") ? new Mutex(data) : undefined;
  const start = process.hrtime.bigint();
  await Promise.all(workers.map((w) => once(w, { kind, n, words, barrier, mutex })));
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

/** The floor with a minimal guard: CAS, allocate the guard, increment through it, CAS back in release. */
class UncontendedGuard {
  #word: Int32Array | undefined;
  readonly #value: Int32Array;

  constructor(word: Int32Array, value: Int32Array) {
    this.#word = word;
    this.#value = value;
  }

  get value(): Int32Array {
    if (this.#word === undefined) throw new Error("released");
    return this.#value;
  }

  release(): void {
    const word = this.#word;
    if (word === undefined) return;
    this.#word = undefined;
    if (Atomics.compareExchange(word, 0, 1, 0) !== 1) throw new Error("guard: not held");
  }
}

function uncontendedGuard(words: Int32Array, n: number): number {
  const counter = words.subarray(1, 2);
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    if (Atomics.compareExchange(words, 0, 0, 1) !== 0) throw new Error("guard: not free");
    const guard = new UncontendedGuard(words, counter);
    guard.value[0] = guard.value[0]! + 1;
    guard.release();
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
function uncontended(side: Side, n: number): number {
  const words = new Int32Array(new SharedArrayBuffer(8));
  if (side === "floor") return uncontendedFloor(words, n);
  if (side === "guard") return uncontendedGuard(words, n);
  return uncontendedLockbox(new Mutex(new Int32Array(new SharedArrayBuffer(4))), n);
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

type Scenario = Mode | "uncontended";
const SIDES: readonly Side[] = ["floor", "guard", "lockbox"];

/**
 * Every round measures the three sides back to back, rotating which goes first (so a drift in machine
 * load does not always fall on the same side), and gives one ratio lockbox / floor and one lockbox /
 * guard. The report is the median ratio with its min–max, the median times, and the best-of ratio
 * (fastest lockbox round over fastest floor round) for comparison with older runs.
 */
async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 100_000);
  const rounds = Number(process.argv[3] ?? 5);
  const only = (process.argv[4] ?? "sync,async,uncontended").split(",") as Scenario[];
  const loadBefore = loadAverage();
  const workers = [await startWorker(), await startWorker()];
  type Samples = Record<Side, number[]>;
  const samples: Record<Scenario, Samples> = {
    sync: { floor: [], guard: [], lockbox: [] },
    async: { floor: [], guard: [], lockbox: [] },
    uncontended: { floor: [], guard: [], lockbox: [] },
  };
  // Warm-up (JIT of every side in the workers and in this thread), then the measured rounds.
  for (const side of SIDES) {
    for (const mode of ["sync", "async"] as const) {
      if (only.includes(mode)) await contended(workers, `${side}-${mode}`, n / 10);
    }
    if (only.includes("uncontended")) uncontended(side, n);
  }
  for (let round = 0; round < rounds; round++) {
    const order = SIDES.map((_, k) => SIDES[(k + round) % SIDES.length]!);
    for (const mode of ["sync", "async"] as const) {
      if (!only.includes(mode)) continue;
      for (const side of order) samples[mode][side].push(await contended(workers, `${side}-${mode}`, n));
    }
    if (only.includes("uncontended")) {
      for (const side of order) samples.uncontended[side].push(uncontended(side, n * 10));
    }
  }
  await Promise.all(workers.map((w) => w.terminate()));
  const ratios = (key: Scenario, base: Side) => samples[key].lockbox.map((x, k) => x / samples[key][base][k]!);
  const range = (values: number[]) =>
    `${median(values).toFixed(2)}× [${Math.min(...values).toFixed(2)}–${Math.max(...values).toFixed(2)}]`;
  const row = (label: string, key: Scenario, target: number) => {
    const { floor, guard, lockbox } = samples[key];
    if (lockbox.length === 0) return;
    const toFloor = ratios(key, "floor");
    const med = median(toFloor);
    const best = Math.min(...lockbox) / Math.min(...floor);
    console.log(
      `${label.padEnd(34)} floor ${median(floor).toFixed(1).padStart(6)} ns  floor+guard ${median(guard).toFixed(1).padStart(6)} ns  ` +
        `lockbox ${median(lockbox).toFixed(1).padStart(6)} ns\n${"".padEnd(34)} lockbox/floor ${range(toFloor)} ` +
        `best-of ${best.toFixed(2)}× (target ≤ ${target}×: ${med <= target ? "met" : "NOT met"})  ` +
        `floor+guard/floor ${range(guard.map((x, k) => x / floor[k]!))}  lockbox/(floor+guard) ${range(ratios(key, "guard"))}`,
    );
  };
  console.log(
    `2 workers × ${n} increments (started together); uncontended: ${n * 10} in one thread; ${rounds} interleaved rounds; ` +
      `load average ${loadBefore} → ${loadAverage()}`,
  );
  row("blocking, contended (lockSync)", "sync", 1.1);
  row("async, contended (await lock)", "async", 1.3);
  row("uncontended (lockSync + release)", "uncontended", 1.3);
  if (process.env.LOCKBOX_BENCH_VERBOSE !== undefined) console.log(JSON.stringify(samples));
}

if (isMainThread) await main();
