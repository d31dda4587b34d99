import { once } from "node:events";
import { Worker } from "node:worker_threads";
import { afterEach, describe, expect, it } from "vitest";
import { AtomicI32, AtomicU64 } from "../../src/threads/atomics.js";
import { json } from "../../src/threads/memory/json.js";
import { array, string, struct } from "../../src/threads/memory/struct.js";
import { Mutex } from "../../src/threads/mutex.js";

const BOOT = new URL("../workers/data-boot.mjs", import.meta.url);
const STRESS = Math.max(1, Number(process.env.LOCKBOX_STRESS ?? 1) || 1);

const workers = new Set<Worker>();

afterEach(async () => {
  await Promise.all([...workers].map((worker) => worker.terminate()));
  workers.clear();
});

/** Starts the data fixture in `mode`; collects its messages in order. */
function start(mode: string, data: Record<string, unknown> = {}) {
  const worker = new Worker(BOOT, { workerData: { fixture: "./data-fixture.ts", mode, ...data } });
  workers.add(worker);
  const messages: unknown[] = [];
  const waiting: Array<(value: unknown) => void> = [];
  worker.on("message", (message) => {
    const next = waiting.shift();
    if (next) next(message);
    else messages.push(message);
  });
  const failed = new Promise<never>((_, reject) => {
    worker.on("error", reject);
    worker.on("exit", (code) => reject(new Error(`worker exited (code ${code}) with no message pending`)));
  });
  failed.catch(() => {});
  return {
    worker,
    /** The next message, or the worker's error. */
    next(): Promise<unknown> {
      if (messages.length > 0) return Promise.resolve(messages.shift());
      return Promise.race([new Promise((resolve) => waiting.push(resolve)), failed]);
    },
    exited: once(worker, "exit").then(([code]) => code as number),
  };
}

describe("shared data across real workers", () => {
  it("atomics: increments (fetchAdd and fetchUpdate) from two workers and this thread add up exactly", async () => {
    const counter = new AtomicI32();
    const wide = new AtomicU64();
    const times = 20_000 * STRESS;
    const ready = new AtomicI32();
    const go = new AtomicI32();
    const a = start("count", { counter, wide, times, ready, go }); // the instances themselves cross
    const b = start("count", { counter: counter.handle, wide: wide.handle, times, ready, go });
    for (let seen = ready.load(); seen < 2; seen = ready.load()) await ready.waitAsync(seen);
    go.store(1);
    go.notify();
    for (let i = 0; i < times; i++) counter.fetchUpdate((n) => n + 1);
    expect(await a.next()).toBe("done");
    expect(await b.next()).toBe("done");
    expect(counter.load()).toBe(3 * times);
    expect(wide.load()).toBe(BigInt(2 * times));
  });

  it("waitSync in a worker is woken by notify from this thread", async () => {
    const flag = new AtomicI32(0);
    const w = start("wait-sync", { flag: flag.handle });
    expect(await w.next()).toBe("waiting");
    // The worker posts before it blocks: notify until it has actually parked (deterministic, no sleep).
    while (flag.notify(1) === 0) await new Promise((resolve) => setImmediate(resolve));
    expect(await w.next()).toBe("ok");
  });

  it("waitAsync in this thread is woken by a worker's notify", async () => {
    const flag = new AtomicI32(0);
    const result = flag.waitAsync(0);
    const w = start("notify", { flag });
    expect(await w.next()).toBe(1); // it woke exactly our waiter
    expect(await result).toBe("ok");
    expect(flag.load()).toBe(1);
  });

  it("a pending waitAsync keeps a worker alive (no other handle) until it settles", async () => {
    const flag = new AtomicI32(0);
    const timedOut = start("wait-async-timeout", { flag });
    expect(await timedOut.next()).toBe("timed-out");
    expect(await timedOut.exited).toBe(0);

    const notified = start("wait-async-notify", { flag });
    expect(await notified.next()).toBe("waiting");
    flag.notify();
    expect(await notified.next()).toBe("ok");
    expect(await notified.exited).toBe(0);
  });

  it("struct: the worker rebuilds it from the handle alone, and writes on both sides are shared", async () => {
    const Inner = struct({ x: "i16" });
    const Rec = struct({
      ok: "bool",
      id: "u64",
      name: string(16),
      inner: Inner,
      xs: array("f64", 3),
      slots: array(Inner, 2),
    });
    const rec = Rec.create({ id: 41n, name: "main ✓", inner: { x: 3 } });
    const w = start("struct", { struct: rec }); // posting the instance carries its handle
    expect(await w.next()).toEqual({ id: 41n, name: "main ✓", inner: 3 });
    expect(Rec.toObject(rec)).toEqual({
      ok: true,
      id: 42n,
      name: "wörker 😀",
      inner: { x: -7 },
      xs: [0, 2.5, 0],
      slots: [{ x: 0 }, { x: 11 }],
    });
    rec.id = 100n;
    rec.name = "again ✓";
    rec.xs[2] = -1;
    w.worker.postMessage("read");
    expect(await w.next()).toEqual({ id: 100n, name: "again ✓", xs: [0, 2.5, -1] });
  });

  it("json: a worker's larger value grows the shared buffer and this thread reads it", async () => {
    const cell = json({ from: "main", items: [] as number[] }, { maxBytes: 8192 });
    const before = cell.handle.buffer.byteLength;
    const w = start("json", { cell: cell.handle });
    const grownTo = (await w.next()) as number;
    expect(grownTo).toBeGreaterThan(before);
    expect(cell.handle.buffer.byteLength).toBe(grownTo);
    expect(cell.get()).toEqual({ from: "worker", items: Array.from({ length: 200 }, (_, i) => i) });
  });

  it("every data kind under a threads Mutex: the worker rebuilds lock and data from the handle, no update is lost", async () => {
    const Counter = struct({ count: "u32", last: string(16) });
    const onStruct = new Mutex(Counter.create());
    const onJson = new Mutex(json({ n: 0, log: [] as string[] }, { maxBytes: 4096 }));
    const onView = new Mutex(new Int32Array(new SharedArrayBuffer(8)));
    const onBuffer = new Mutex(new SharedArrayBuffer(8));
    const times = 200 * STRESS;
    const ready = new AtomicI32();
    const go = new AtomicI32();
    const w = start("locked-updates", {
      struct: onStruct,
      json: onJson.handle,
      view: onView,
      buffer: onBuffer.handle,
      times,
      ready,
      go,
    });
    for (let seen = ready.load(); seen < 1; seen = ready.load()) await ready.waitAsync(seen);
    go.store(1);
    go.notify();
    for (let i = 0; i < times; i++) {
      await onStruct.withLock((guard) => {
        guard.value.count += 1;
      });
      await onJson.withLock((guard) => {
        guard.value.n += 1;
      });
      await onView.withLock((guard) => {
        guard.value[0]! += 1;
      });
      await onBuffer.withLock((guard) => {
        new Uint32Array(guard.value)[1]! += 1;
      });
    }
    expect(await w.next()).toBe("done");
    await onStruct.withLock((guard) => {
      expect(guard.value.count).toBe(2 * times);
      expect(guard.value.last).toBe("worker ✓");
    });
    await onJson.withLock((guard) => {
      expect(guard.value.n).toBe(2 * times);
      expect(guard.value.log).toEqual(Array.from({ length: Math.ceil(times / 50) }, (_, k) => `w${k * 50}`));
    });
    await onView.withLock((guard) => {
      expect([...guard.value]).toEqual([2 * times, 0]);
    });
    await onBuffer.withLock((guard) => {
      expect([...new Uint32Array(guard.value)]).toEqual([0, 2 * times]);
    });
  });
});
