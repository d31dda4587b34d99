/**
 * Drain of N async waiters queued in ONE thread on a lock held by that thread (issue 10): the cost per
 * waiter of a threads lock against the in-process one, and their ratio (target: within 2× at 100k).
 *
 * ```sh
 * npx tsx bench/threads-drain.ts                        # N = 1000, 10000, 100000
 * DRAIN_N=1000,3000 npx tsx bench/threads-drain.ts      # other sizes
 * DRAIN_LOCKS=threads-mutex npx tsx bench/threads-drain.ts
 * DRAIN_LOCKS=sync-mutex,threads-rwlock-write,threads-rwlock-read npx tsx bench/threads-drain.ts
 * ```
 *
 * Locks: `sync-*` / `threads-*` mutex, semaphore, `rwlock-write` (N `write()` behind a held write
 * lock) and `rwlock-read` (N `read()` behind a held write lock: released, they share the lock).
 *
 * One operation: `lock()` is called N times while the lock is held (enqueue), then the holder
 * releases and every waiter takes the guard and releases it at once (drain). Reported: ns per waiter
 * for the drain (and for the enqueue), best of `DRAIN_PASSES` (default 3) passes after a warm-up.
 * A drain that is O(N²) shows as a per-waiter cost that grows with N.
 */

import { Mutex as SyncMutex, RwLock as SyncRwLock, Semaphore as SyncSemaphore } from "../src/index.js";
import { Mutex, RwLock, Semaphore } from "../src/threads/index.js";

interface Drainable {
  /** Holds the lock; returns its release. */
  hold(): Promise<() => void>;
  /** One queued acquire that releases at once. */
  waiter(): Promise<void>;
}

const LOCKS: Record<string, () => Drainable> = {
  "sync-mutex": () => {
    const m = new SyncMutex(0);
    return {
      hold: async () => {
        const g = await m.lock();
        return () => g.release();
      },
      waiter: () => m.lock().then((g) => g.release()),
    };
  },
  "threads-mutex": () => {
    const m = new Mutex(null);
    return {
      hold: async () => {
        const g = await m.lock();
        return () => g.release();
      },
      waiter: () => m.lock().then((g) => g.release()),
    };
  },
  "sync-semaphore": () => {
    const s = new SyncSemaphore(1);
    return {
      hold: async () => {
        const p = await s.acquire();
        return () => p.release();
      },
      waiter: () => s.acquire().then((p) => p.release()),
    };
  },
  "threads-semaphore": () => {
    const s = new Semaphore(1);
    return {
      hold: async () => {
        const p = await s.acquire();
        return () => p.release();
      },
      waiter: () => s.acquire().then((p) => p.release()),
    };
  },
  "sync-rwlock-write": () => {
    const l = new SyncRwLock(0);
    return {
      hold: async () => {
        const g = await l.write();
        return () => g.release();
      },
      waiter: () => l.write().then((g) => g.release()),
    };
  },
  "threads-rwlock-write": () => {
    const l = new RwLock(null);
    return {
      hold: async () => {
        const g = await l.write();
        return () => g.release();
      },
      waiter: () => l.write().then((g) => g.release()),
    };
  },
  "sync-rwlock-read": () => {
    const l = new SyncRwLock(0);
    return {
      hold: async () => {
        const g = await l.write();
        return () => g.release();
      },
      waiter: () => l.read().then((g) => g.release()),
    };
  },
  "threads-rwlock-read": () => {
    const l = new RwLock(null);
    return {
      hold: async () => {
        const g = await l.write();
        return () => g.release();
      },
      waiter: () => l.read().then((g) => g.release()),
    };
  },
};

const sizes = (process.env.DRAIN_N ?? "1000,10000,100000").split(",").map(Number);
const passes = Number(process.env.DRAIN_PASSES ?? 3);
const names = (process.env.DRAIN_LOCKS ?? "sync-mutex,threads-mutex").split(",");
/** A drain slower than this (ms) is not repeated (the O(N²) drain of the old threads locks). */
const slowMs = Number(process.env.DRAIN_SLOW_MS ?? 5_000);

async function once(make: () => Drainable, n: number): Promise<{ enqueue: number; drain: number }> {
  const lock = make();
  const release = await lock.hold();
  const t0 = performance.now();
  const all: Promise<void>[] = new Array(n);
  for (let i = 0; i < n; i++) all[i] = lock.waiter();
  const t1 = performance.now();
  release();
  await Promise.all(all);
  const t2 = performance.now();
  return { enqueue: t1 - t0, drain: t2 - t1 };
}

async function main(): Promise<void> {
  const results: Record<string, Record<number, number>> = {};
  for (const n of sizes) {
    for (const name of names) {
      const make = LOCKS[name];
      if (make === undefined) throw new RangeError(`Expected DRAIN_LOCKS from ${Object.keys(LOCKS).join(", ")}`);
      const warm = await once(make, Math.min(n, 1000));
      let best = { enqueue: Number.POSITIVE_INFINITY, drain: Number.POSITIVE_INFINITY };
      for (let p = 0; p < passes; p++) {
        const r = await once(make, n);
        if (r.drain < best.drain) best = r;
        if (r.drain > slowMs) break;
      }
      void warm;
      const drainNs = (best.drain * 1e6) / n;
      (results[name] ??= {})[n] = drainNs;
      console.log(
        `${name.padEnd(22)} N=${String(n).padStart(6)}  drain ${drainNs.toFixed(0).padStart(8)} ns/waiter` +
          `  (${best.drain.toFixed(1)} ms)  enqueue ${((best.enqueue * 1e6) / n).toFixed(0).padStart(6)} ns/waiter`,
      );
    }
  }
  // Ratios threads/in-process for each pair measured.
  for (const name of names) {
    if (!name.startsWith("threads-")) continue;
    const base = results[name.replace("threads-", "sync-")];
    if (base === undefined) continue;
    for (const n of sizes) {
      const a = results[name]?.[n];
      const b = base[n];
      if (a !== undefined && b !== undefined) console.log(`ratio ${name} / in-process  N=${n}: ${(a / b).toFixed(2)}×`);
    }
  }
  // Every threads lock against the in-process Mutex of the same run (the issue 10 target: within 2×).
  const mutex = results["sync-mutex"];
  if (mutex === undefined) return;
  for (const name of names) {
    if (!name.startsWith("threads-")) continue;
    for (const n of sizes) {
      const a = results[name]?.[n];
      const b = mutex[n];
      if (a !== undefined && b !== undefined)
        console.log(`ratio ${name} / in-process Mutex  N=${n}: ${(a / b).toFixed(2)}×`);
    }
  }
}

await main();
