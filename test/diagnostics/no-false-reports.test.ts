/**
 * Above all, no false reports (SPEC §7): programs that cannot deadlock must never get a DeadlockError
 * or a potential-deadlock report, however their tasks interleave. Sizes from LOCKBOX_STRESS.
 */
import { afterEach, describe, expect, it } from "vitest";
import {
  detach,
  disableDiagnostics,
  enableDiagnostics,
  type LongWaitReport,
  type PotentialDeadlockReport,
} from "../../src/diagnostics/index.js";
import { KeyedMutex, Mutex, RwLock, Semaphore } from "../../src/index.js";
import { stress } from "../helpers/stress.js";

afterEach(() => {
  disableDiagnostics();
});

/** A small deterministic PRNG (mulberry32), so a failure can be replayed from its seed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const yieldSome = async (rand: () => number): Promise<void> => {
  const n = Math.floor(rand() * 3);
  for (let i = 0; i < n; i++) {
    if (rand() < 0.2) await new Promise((resolve) => setImmediate(resolve));
    else await null;
  }
};

describe("no false reports", () => {
  it(`thousands of contending tasks with consistent nesting, bare guards, detached tasks, early releases`, async () => {
    const reports: PotentialDeadlockReport[] = [];
    const longWaits: LongWaitReport[] = [];
    enableDiagnostics({
      deadlocks: "strict", // strict: any inversion would reject, so it cannot go unnoticed
      onPotentialDeadlock: (r) => reports.push(r),
      onLongWait: (r) => longWaits.push(r),
      stats: true,
      trace: true,
    });
    const tasks = Math.round(2000 * stress());
    const seed = 1234;
    const rand = random(seed);
    // A fixed global order: mutexes 0..3, then the RwLock, then the keys (sorted), then the semaphore.
    const mutexes = [0, 1, 2, 3].map((i) => new Mutex(0, { name: `m${i}` }));
    const rw = new RwLock(0, { name: "rw" });
    const keyed = new KeyedMutex<number>({ name: "keys" });
    const sem = new Semaphore(3, { name: "sem" });
    const counts = new Array<number>(mutexes.length).fill(0);
    const detached: Promise<unknown>[] = [];

    /** Takes the locks of `plan` in order, each as a scope, nesting the rest inside. */
    const nest = async (plan: (() => Promise<void>)[], i: number): Promise<void> => {
      if (i === plan.length) return;
      await (plan[i] as (next: () => Promise<void>) => Promise<void>).call(null, () => nest(plan, i + 1));
    };

    const one = async (t: number): Promise<void> => {
      const plan: ((next: () => Promise<void>) => Promise<void>)[] = [];
      for (let i = 0; i < mutexes.length; i++) {
        if (rand() < 0.4) {
          const m = mutexes[i] as Mutex<number>;
          plan.push((next) =>
            m.withLock(async (g) => {
              await yieldSome(rand);
              g.value++;
              counts[i] = (counts[i] as number) + 1;
              await next();
              if (rand() < 0.1) {
                // A nested scope that outlives this one (released out of order): it keeps going after
                // the parent released. It only takes locks later in the order.
                const later = sem.withPermit(() => yieldSome(rand));
                detached.push(later);
              }
            }),
          );
        }
      }
      if (rand() < 0.4) {
        plan.push((next) =>
          rand() < 0.7
            ? rw.withRead(async () => {
                await yieldSome(rand);
                await next();
              })
            : rw.withWrite(async (g) => {
                g.value++;
                await yieldSome(rand);
                await next();
              }),
        );
      }
      const keys = [...new Set([Math.floor(rand() * 8), Math.floor(rand() * 8)])].sort((x, y) => x - y);
      for (const key of keys) {
        if (rand() < 0.5) {
          plan.push((next) =>
            keyed.withLock(key, async () => {
              await yieldSome(rand);
              await next();
            }),
          );
        }
      }
      if (rand() < 0.3) {
        plan.push((next) =>
          sem.withPermit(async () => {
            await yieldSome(rand);
            await next();
          }),
        );
      }
      await nest(plan as unknown as (() => Promise<void>)[], 0);
      // Bare guards, in a random order: never tracked, so never reported (each is released before the
      // next is taken, so this part cannot deadlock either).
      if (t % 5 === 0) {
        const order = [...mutexes].sort(() => rand() - 0.5);
        for (const m of order) {
          const g = await m.lock();
          await yieldSome(rand);
          g.release();
        }
      }
      // A scope that releases its guard early and takes the same lock again: no self-deadlock.
      if (t % 7 === 0) {
        const m = mutexes[t % mutexes.length] as Mutex<number>;
        await m.withLock(async (g) => {
          g.release();
          await m.withLock(() => undefined);
        });
      }
      // A fire-and-forget task started inside a scope that takes that scope's lock: detached.
      if (t % 11 === 0) {
        const m = mutexes[0] as Mutex<number>;
        await m.withLock(() => {
          detached.push(detach(() => m.withLock(() => yieldSome(rand))));
        });
      }
    };

    const results = await Promise.allSettled(Array.from({ length: tasks }, (_, t) => one(t)));
    const failures = results.filter((r) => r.status === "rejected");
    expect(failures.map((r) => String((r as PromiseRejectedResult).reason)).slice(0, 3)).toEqual([]);
    await Promise.all(detached);
    expect(reports).toEqual([]);
    for (const m of mutexes) expect(m.isLocked).toBe(false);
    expect(mutexes.map((m) => (m.tryLock() as { value: number }).value)).toEqual(counts);
    expect(rw.isWriteLocked).toBe(false);
    expect(sem.available).toBe(3);
    expect(keyed.size).toBe(0);
  });

  it("two scopes waiting for each other's lock only through a bare guard: no report", async () => {
    const reports: PotentialDeadlockReport[] = [];
    enableDiagnostics({ deadlocks: true, onPotentialDeadlock: (r) => reports.push(r) });
    const a = new Mutex(0);
    const b = new Mutex(0);
    for (let i = 0; i < 50; i++) {
      const bare = await a.lock();
      const s1 = b.withLock(async () => {
        await null;
        return a.withLock(() => 1); // waits for the bare guard: not an edge
      });
      const s2 = a.withLock(() => 2);
      await null;
      bare.release();
      expect(await Promise.all([s1, s2])).toEqual([1, 2]);
    }
    expect(reports).toEqual([]);
  });
});
