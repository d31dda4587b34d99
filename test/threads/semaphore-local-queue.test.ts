/**
 * Issue 10: the async acquires of one thread queue in a local FIFO in front of the shared semaphore
 * word; only the queue's head competes for the word, and a release hands permits on locally unless
 * another thread's request is starving.
 */
import { afterEach, describe, expect, it } from "vitest";
import { ClosedError, Semaphore, TimeoutError } from "../../src/threads/index.js";
import * as raw from "../../src/threads/raw/raw-semaphore.js";
import { parkedWaiters } from "../../src/threads/runtime/keep-alive.js";
import { assertPending, assertReady, assertRejected, flush } from "../helpers/poll.js";
import { okValue, STRESS, startLine, startWorker, terminateAll } from "./worker-helper.js";

afterEach(terminateAll);

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = performance.now() + 10_000;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`never happened: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

describe("threads Semaphore: same-thread acquires queue in a local FIFO", () => {
  it("grants in call order; a large request at the head is not overtaken by later small ones", async () => {
    const sem = new Semaphore(2);
    const held = sem.tryAcquire(2)!;
    const order: string[] = [];
    const take = (name: string, n: number) =>
      sem.acquire(n).then((permit) => {
        order.push(name);
        return permit;
      });
    const a = take("a", 1);
    const b = take("b", 2);
    const c = take("c", 1);
    await flush();
    expect(order).toEqual([]);
    held.release();
    const pa = await a;
    await flush();
    // b needs 2, only 1 is free: c (1) must not pass it.
    expect(order).toEqual(["a"]);
    expect(sem.tryAcquire(1)).toBeUndefined();
    pa.release();
    const pb = await b;
    expect(order).toEqual(["a", "b"]);
    pb.release();
    (await c).release();
    expect(order).toEqual(["a", "b", "c"]);
    expect(sem.available).toBe(2);
  });

  it("waiters behind this thread's own permits never park on the shared word", async () => {
    const sem = new Semaphore(1);
    const held = sem.tryAcquire()!;
    const all = Array.from({ length: 20 }, () => sem.acquire().then((p) => p.release()));
    await new Promise((resolve) => setTimeout(resolve, 5));
    // The competitor parks for the head (nothing free on the word) — once, for the whole queue.
    expect(parkedWaiters()).toBeLessThanOrEqual(1);
    held.release();
    await Promise.all(all);
    expect(sem.available).toBe(1);
    await until(() => parkedWaiters() === 0, "the competitor stops");
  });

  it("a waiter registration leaked by a killed worker does not stop local hand-offs", async () => {
    const sem = new Semaphore(1);
    const word = new Int32Array(sem.handle.buffer);
    // A worker killed while parked in acquire() never leaves PARKED: simulate its registration.
    Atomics.add(word, 1, 1);
    const held = sem.tryAcquire()!;
    const a = sem.acquire();
    const b = sem.acquire();
    await flush();
    held.release();
    // Handed on within the same turn (microtasks only): no trip through the shared word, which would
    // need a waitAsync wake-up (a macrotask) per grant.
    (await assertReady(a)).release();
    (await assertReady(b)).release();
    Atomics.sub(word, 1, 1);
    expect(sem.available).toBe(1);
  });

  it("a release goes to the shared word while another thread's request is starving", async () => {
    const sem = new Semaphore(1);
    const word = new Int32Array(sem.handle.buffer);
    const held = sem.tryAcquire()!;
    const a = sem.acquire();
    await flush();
    // Another thread's request has waited long enough and registered (owner id not of this thread).
    Atomics.store(word, raw.STARVER, 0x7abcd);
    held.release();
    await assertPending(a);
    expect(sem.available).toBe(1); // saved for the starving request
    Atomics.store(word, raw.STARVER, 0);
    Atomics.notify(word, raw.STARVER);
    (await a).release();
    expect(sem.available).toBe(1);
  });

  it("an aborted head hands its partial grant on; no permit is lost or created", async () => {
    const sem = new Semaphore(3);
    const p1 = sem.tryAcquire()!;
    const p2 = sem.tryAcquire()!;
    const p3 = sem.tryAcquire()!;
    const controller = new AbortController();
    const big = sem.acquire(3, { signal: controller.signal });
    const small = sem.acquire(1);
    p1.release(); // a partial grant of 1 to `big`
    await assertPending(big);
    await assertPending(small);
    controller.abort(new Error("stop"));
    expect(await assertRejected(big)).toBeInstanceOf(Error);
    const ps = await small;
    ps.release();
    p2.release();
    p3.release();
    await until(() => sem.available === 3, "all permits back");
    expect(sem.tryAcquire(3)).toBeDefined();
  });

  it("a queued acquire times out with TimeoutError and leaves the queue", async () => {
    const sem = new Semaphore(1);
    const held = sem.tryAcquire()!;
    const timed = sem.acquire(1, { timeout: 10 });
    const next = sem.acquire(1);
    expect(await timed.catch((e) => e)).toBeInstanceOf(TimeoutError);
    held.release();
    (await next).release();
    expect(sem.available).toBe(1);
  });

  it("close rejects this thread's queued acquires with ClosedError", async () => {
    const sem = new Semaphore(1);
    sem.tryAcquire()!;
    const a = sem.acquire();
    const b = sem.acquire(1, { timeout: 10_000 });
    sem.close();
    expect(await assertRejected(a)).toBeInstanceOf(ClosedError);
    expect(await assertRejected(b)).toBeInstanceOf(ClosedError);
    await until(() => parkedWaiters() === 0, "the competitor stops");
  });

  it("never exceeds its permits: 2 workers × 6 tasks and tasks here, mixing 1- and 2-permit acquires", async () => {
    const sem = new Semaphore(3);
    const counts = new Int32Array(new SharedArrayBuffer(12));
    const n = 200 * STRESS;
    const [a, b] = await Promise.all([startWorker(), startWorker()]);
    const line = startLine(2);
    const work = [
      a.call("semaphoreTasks", { semaphore: sem, counts, n, tasks: 6, permits: 1, start: line.start }, 60_000),
      b.call("semaphoreTasks", { semaphore: sem.handle, counts, n, tasks: 6, permits: 2, start: line.start }, 60_000),
    ];
    await line.go();
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let i = 0; i < n; i++) {
          const permit = await sem.acquire(1, { timeout: 30_000 });
          const now = Atomics.add(counts, 0, 1) + 1;
          Atomics.store(counts, 1, Math.max(Atomics.load(counts, 1), now));
          await Promise.resolve();
          Atomics.sub(counts, 0, 1);
          permit.release();
        }
      }),
    );
    for (const reply of await Promise.all(work)) expect(okValue(reply)).toBe(n);
    expect(Atomics.load(counts, 1)).toBeLessThanOrEqual(3);
    expect(Atomics.load(counts, 1)).toBeGreaterThan(1);
    expect(sem.available).toBe(3);
  });
});
