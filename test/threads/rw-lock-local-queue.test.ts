/**
 * Issue 10: the async read() / write() / upgradableRead() calls of one thread queue in one local FIFO
 * per RwLock instance; only the queue's head competes for the shared word, consecutive queued readers
 * each take a share, and a write release hands on locally (writer: keeps the word; reader: downgrade)
 * unless a waiter of another thread waits on the word.
 *
 * Deterministic: the local hand-offs and grants happen synchronously or in microtasks, so the tests
 * flush microtasks (poll helpers) and assert states; the few waits that need a real wake-up (a worker,
 * the competitor standing back for another thread) poll for an outcome with a bound against hangs.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { PoisonError, RwLock, TimeoutError } from "../../src/threads/index.js";
import * as raw from "../../src/threads/raw/raw-rw-lock.js";
import { parkedWaiters } from "../../src/threads/runtime/keep-alive.js";
import { assertPending, assertReady, assertRejected, flush } from "../helpers/poll.js";
import { okValue, startWorker, terminateAll } from "./worker-helper.js";

const tick = (ms = 2) => new Promise((resolve) => setTimeout(resolve, ms));

afterEach(async () => {
  await terminateAll();
  // Every competitor stopped: no park (and no keep-alive) is left behind. Kicked waitAsync calls end
  // within one poll period (50 ms).
  for (let i = 0; i < 50 && parkedWaiters() > 0; i++) await tick(10);
  expect(parkedWaiters()).toBe(0);
});

function counter(): RwLock<Int32Array> {
  return new RwLock(new Int32Array(new SharedArrayBuffer(8)));
}

/** The lock's shared words: the state word, the writers' sequence, the reader slots. */
function wordsOf(lock: RwLock<unknown>): Int32Array {
  return new Int32Array(lock.handle.buffer, 0, raw.RW_LOCK_WORDS);
}

/** Read shares recorded in the reader slots (all threads). */
function slotShares(lock: RwLock<unknown>): number {
  const words = wordsOf(lock);
  let shares = 0;
  for (let k = 0; k < raw.READER_SLOTS; k++) shares += Atomics.load(words, raw.SLOTS + 1 + 2 * k);
  return shares;
}

/** Nothing held, no flag left, no share leaked (COUNT and the reader slots back to 0). */
function expectIdle(lock: RwLock<unknown>, poisoned = false): void {
  const words = wordsOf(lock);
  expect(Atomics.load(words, 0)).toBe(poisoned ? raw.POISONED : 0);
  expect(slotShares(lock)).toBe(0);
  expect(lock.readers).toBe(0);
  expect(lock.isWriteLocked).toBe(false);
}

/**
 * Runs `fn` while watching every compare-exchange on the lock's state word (the raw RwLock's way to
 * free it on these paths): returns whether one of them left the word free (0).
 */
function leftFree(lock: RwLock<unknown>, fn: () => void): boolean {
  const words = wordsOf(lock);
  const original = Atomics.compareExchange;
  let free = false;
  const spy = vi.spyOn(Atomics, "compareExchange").mockImplementation(((
    array: Int32Array,
    index: number,
    expected: number,
    replacement: number,
  ) => {
    const seen = original(array, index, expected, replacement);
    if (array.buffer === words.buffer && index === 0 && seen === expected && replacement === 0) free = true;
    return seen;
  }) as typeof Atomics.compareExchange);
  try {
    fn();
  } finally {
    spy.mockRestore();
  }
  return free;
}

/** Polls `condition` until it holds (a bound against hangs only, not a timing assertion). */
async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = performance.now() + 10_000;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`never happened: ${what}`);
    await tick(1);
  }
}

/** `pending`, recording `name` in `log` when it is granted. */
function logged<G>(pending: Promise<G>, name: string, log: string[]): Promise<G> {
  return pending.then((guard) => {
    log.push(name);
    return guard;
  });
}

describe("threads RwLock: same-thread async waiters queue in one local FIFO", () => {
  it("grants mixed queued readers, writers and upgradable readers in call order; consecutive readers share", async () => {
    const lock = counter();
    const holder = await lock.write();
    const log: string[] = [];
    const r1 = logged(lock.read(), "r1", log);
    const r2 = logged(lock.read(), "r2", log);
    const w3 = logged(lock.write(), "w3", log);
    const r4 = logged(lock.read(), "r4", log);
    const u5 = logged(lock.upgradableRead(), "u5", log);
    const r6 = logged(lock.read(), "r6", log);
    const w7 = logged(lock.write(), "w7", log);
    await flush();
    expect(log).toEqual([]);

    holder.release(); // downgraded to the first reader; the second takes its own share
    const g1 = await assertReady(r1);
    const g2 = await assertReady(r2);
    expect(lock.readers).toBe(2);
    expect(slotShares(lock)).toBe(2);
    await assertPending(w3);
    // FIFO: r4 does not pass the queued writer even though readers hold the lock.
    await assertPending(r4);
    g1.release();
    await assertPending(w3);
    g2.release();
    const g3 = await assertReady(w3);
    g3.value[0] = 7;
    await assertPending(r4);
    g3.release(); // downgraded to r4; u5 and r6 share with it; w7 waits for all three
    const g4 = await assertReady(r4);
    const g5 = await assertReady(u5);
    const g6 = await assertReady(r6);
    expect(g4.value[0]).toBe(7);
    expect(lock.readers).toBe(3);
    await assertPending(w7);
    g5.release();
    g4.release();
    await assertPending(w7);
    g6.release();
    const g7 = await assertReady(w7);
    expect(log).toEqual(["r1", "r2", "w3", "r4", "u5", "r6", "w7"]);
    g7.release();
    expectIdle(lock);
  });

  it("a later tryRead() / tryWrite() / tryUpgradableRead() does not jump ahead of queued waiters", async () => {
    const lock = counter();
    const reader = await lock.read();
    const writer = lock.write(); // waits for the reader
    const second = lock.read(); // FIFO: behind the writer
    await flush();
    expect(lock.tryRead()).toBeUndefined();
    expect(lock.tryWrite()).toBeUndefined();
    expect(lock.tryUpgradableRead()).toBeUndefined();
    reader.release();
    const w = await assertReady(writer);
    await assertPending(second);
    w.release();
    (await assertReady(second)).release();
    expectIdle(lock);
  });

  it("read() and tryRead() queue behind a queued upgradable reader though a share is free", async () => {
    const lock = counter();
    const first = await lock.upgradableRead();
    const second = lock.upgradableRead(); // waits for the upgradable role
    const reader = lock.read(); // FIFO: behind it, though a plain share is free on the word
    await flush();
    expect(lock.tryRead()).toBeUndefined();
    await assertPending(reader);
    expect(lock.readers).toBe(1);
    first.release();
    const g2 = await assertReady(second);
    const g3 = await assertReady(reader);
    expect(lock.readers).toBe(2);
    g2.release();
    g3.release();
    expectIdle(lock);
  });
});

describe("threads RwLock: a write release hands on locally", () => {
  it("write → queued write: the word stays write-locked by this thread across the release", async () => {
    const lock = counter();
    const words = wordsOf(lock);
    const holder = await lock.write();
    const owner = Atomics.load(words, 0);
    const next = lock.write();
    // Handed on, not released and re-taken: never free, so nobody else could get in.
    expect(leftFree(lock, () => holder.release())).toBe(false);
    // Still write-locked by this thread (same owner id).
    expect(Atomics.load(words, 0)).toBe(owner);
    const guard = await assertReady(next);
    expect(Atomics.load(words, 0)).toBe(owner);
    guard.release();
    expectIdle(lock);
  });

  it("write → queued read: the release downgrades the word to the reader's share", async () => {
    const lock = counter();
    const holder = await lock.write();
    holder.value[0] = 5;
    const next = lock.read();
    // Downgraded at once: one share, never free in between.
    expect(leftFree(lock, () => holder.release())).toBe(false);
    expect(lock.isWriteLocked).toBe(false);
    expect(lock.readers).toBe(1);
    const guard = await assertReady(next);
    expect(guard.value[0]).toBe(5);
    expect(slotShares(lock)).toBe(1);
    guard.release();
    expectIdle(lock);
  });

  it("is refused when another thread's writer waits (WRITERS_WAITING): the release goes to the word", async () => {
    const lock = counter();
    const words = wordsOf(lock);
    const holder = await lock.write();
    const next = lock.write();
    // What a parked writer of another thread leaves on the word.
    Atomics.or(words, 0, raw.WRITERS_WAITING);
    expect(leftFree(lock, () => holder.release())).toBe(true);
    expect(lock.isWriteLocked).toBe(false);
    expect(Atomics.load(words, 0)).toBe(0);
    await assertPending(next);
    // Nobody else takes it: the queue's competitor takes it back after standing back.
    const guard = await next;
    guard.release();
    expectIdle(lock);
  });

  it("is refused when another thread's reader waits (READERS_WAITING): no downgrade, the word goes free", async () => {
    const lock = counter();
    const words = wordsOf(lock);
    const holder = await lock.write();
    const next = lock.read();
    Atomics.or(words, 0, raw.READERS_WAITING);
    holder.release();
    expect(lock.readers).toBe(0);
    expect(Atomics.load(words, 0)).toBe(0);
    await assertPending(next);
    (await next).release();
    expectIdle(lock);
  });

  it("lets a writer of another thread in before the queued writers of this thread (real worker)", async () => {
    const lock = counter();
    const words = wordsOf(lock);
    const w = await startWorker();
    const holder = await lock.write();
    const seen: number[] = [];
    const queued = Array.from({ length: 3 }, () =>
      lock.write().then((g) => {
        seen.push(g.value[0]!);
        g.value[0]!++;
        g.release();
      }),
    );
    const worker = w.call("rwWrite", { lock: lock.handle, mode: "sync" });
    await until(() => (Atomics.load(words, 0) & raw.WRITERS_WAITING) !== 0, "the worker waits");
    holder.release();
    // Not handed on: the queued writers wait (the worker may or may not have the word yet).
    await assertPending(queued[0]!);
    expect(okValue(await worker)).toBe("written");
    await Promise.all(queued);
    // Every write counted once (the worker's first or between two queued ones).
    expect(seen.length).toBe(3);
    const check = lock.tryRead()!;
    expect(check.value[0]).toBe(4);
    check.release();
    expectIdle(lock);
  });
});

describe("threads RwLock local queue: cancel safety", () => {
  it("an aborted head passes headship: the readers behind it get in (and its writer flag is withdrawn)", async () => {
    const lock = counter();
    const words = wordsOf(lock);
    const reader = await lock.read();
    const controller = new AbortController();
    const writer = lock.write({ signal: controller.signal });
    const r2 = lock.read();
    const r3 = lock.read();
    await flush();
    await assertPending(r2); // FIFO behind the waiting writer
    controller.abort(new Error("stop"));
    expect(((await assertRejected(writer)) as Error).message).toBe("stop");
    const g2 = await assertReady(r2);
    const g3 = await assertReady(r3);
    expect(lock.readers).toBe(3);
    expect(Atomics.load(words, 0) & raw.WRITERS_WAITING).toBe(0);
    for (const g of [reader, g2, g3]) g.release();
    expectIdle(lock);
  });

  it("a timed-out head passes headship and names the method that timed out", async () => {
    const lock = counter();
    const holder = await lock.write();
    const w1 = lock.write({ timeout: 0 });
    const r2 = lock.read();
    const u3 = lock.upgradableRead({ timeout: 0 });
    const error = await w1.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as Error).message).toMatch(/^RwLock\.write\(\) on RwLock#\d+.* timed out after 0 ms$/);
    const error3 = await u3.catch((e: unknown) => e);
    expect((error3 as Error).message).toMatch(/^RwLock\.upgradableRead\(\) on .* timed out after 0 ms$/);
    holder.release();
    (await assertReady(r2)).release();
    expectIdle(lock);
  });

  it("a grant that races with an abort is handed on to the next waiter", async () => {
    const lock = counter();
    const holder = await lock.write();
    const controller = new AbortController();
    const first = lock.write({ signal: controller.signal });
    const second = lock.write();
    holder.release(); // granted to `first` synchronously...
    controller.abort(new Error("late")); // ...which aborts before its caller resumes
    expect(((await assertRejected(first)) as Error).message).toBe("late");
    (await assertReady(second)).release();
    expectIdle(lock);
  });

  it("a poisoned grant fails only that waiter; what it would have held goes to the next or back", async () => {
    const lock = counter();
    const holder = await lock.write();
    const w1 = lock.write();
    const w2 = lock.write({ ignorePoison: true });
    const r3 = lock.read();
    const r4 = lock.read({ ignorePoison: true });
    const w5 = lock.write();
    holder.poison();
    holder.release();
    expect(await assertRejected(w1)).toBeInstanceOf(PoisonError);
    const g2 = await assertReady(w2);
    g2.release();
    expect(await assertRejected(r3)).toBeInstanceOf(PoisonError);
    const g4 = await assertReady(r4);
    expect(lock.readers).toBe(1);
    g4.release();
    expect(await assertRejected(w5)).toBeInstanceOf(PoisonError);
    expectIdle(lock, true);
  });

  it("a write that a poisoned writer could not take goes to the reader behind it as a downgrade", async () => {
    const lock = counter();
    const holder = await lock.write();
    const w1 = lock.write();
    const r2 = lock.read({ ignorePoison: true });
    const w3 = lock.write({ ignorePoison: true });
    holder.poison();
    holder.release();
    expect(await assertRejected(w1)).toBeInstanceOf(PoisonError);
    const g2 = await assertReady(r2);
    // A real share, not a read guard over a write-locked word.
    expect(lock.isWriteLocked).toBe(false);
    expect(lock.readers).toBe(1);
    expect(slotShares(lock)).toBe(1);
    await assertPending(w3);
    g2.release();
    (await assertReady(w3)).release();
    expectIdle(lock, true);
  });

  it("a blocking acquire of the same thread with async waiters queued times out instead of hanging", async () => {
    const lock = counter();
    const reader = await lock.read();
    const writer = lock.write(); // the competitor parks, flagging a waiting writer
    await flush();
    // This thread's own reader holds: a timed blocking write ends with its TimeoutError.
    expect(() => lock.writeSync({ timeout: 5 })).toThrow(TimeoutError);
    reader.release();
    (await assertReady(writer)).release();
    const sync = lock.writeSync({ timeout: 1_000 });
    const after = lock.read();
    sync.release(); // a blocking acquire's guard hands on locally too
    (await assertReady(after)).release();
    expectIdle(lock);
  });
});

describe("threads RwLock local queue: drains", () => {
  it("drains 5,000 queued write() and read() waiters: every write counted, every reader consistent", async () => {
    const lock = counter();
    const n = 5_000;
    const holder = await lock.write();
    let reads = 0;
    let consistent = true;
    const all: Promise<void>[] = [];
    for (let i = 0; i < n; i++) {
      if (i % 2 === 0) {
        all.push(
          lock.write().then((g) => {
            g.value[0]!++;
            g.value[1] = g.value[0]!;
            g.release();
          }),
        );
      } else {
        all.push(
          lock.read().then((g) => {
            reads++;
            if (g.value[0] !== g.value[1]) consistent = false;
            g.release();
          }),
        );
      }
    }
    holder.release();
    await Promise.all(all);
    expect(reads).toBe(n / 2);
    expect(consistent).toBe(true);
    expectIdle(lock);
    expect(lock.tryRead()!.value[0]).toBe(n / 2);
  });
});
