/**
 * longWait, stats and option validation (SPEC §7). Fake timers for the long waits: no wall clock.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  disableDiagnostics,
  enableDiagnostics,
  formatLockStats,
  type LongWaitReport,
  lockStats,
} from "../../src/diagnostics/index.js";
import { KeyedMutex, Mutex, Notify, RwLock, Semaphore, TimeoutError } from "../../src/index.js";
import { flush } from "../helpers/poll.js";

afterEach(() => {
  disableDiagnostics();
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe("longWait", () => {
  it("reports a wait longer than longWait with the waiter's and each holder's stack", async () => {
    vi.useFakeTimers();
    const reports: LongWaitReport[] = [];
    enableDiagnostics({ longWait: 100, onLongWait: (r) => reports.push(r) });
    const m = new Mutex(0, { name: "slow" });
    const holder = await m.lock(); // a bare guard: long waits cover every acquire
    const waiter = m.lock();
    await vi.advanceTimersByTimeAsync(99);
    expect(reports).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(reports).toHaveLength(1);
    const [report] = reports as [LongWaitReport];
    expect(report.lock).toBe("slow");
    expect(report.waitedMs).toBe(100);
    expect(report.waiterStack).toContain("reports.test.ts");
    expect(report.holders).toHaveLength(1);
    expect(report.holders[0]?.heldMs).toBe(100);
    expect(report.holders[0]?.stack).toContain("reports.test.ts");
    expect(report.message).toMatch(/^Long wait: waiting for slow for 100 ms \(longWait: 100 ms\)/);
    holder.release();
    (await waiter).release();
    await vi.advanceTimersByTimeAsync(1000);
    expect(reports).toHaveLength(1); // once per wait, and never after the wait ended
  });

  it("lists every reader holding an RwLock a writer waits for; waits that end in time are silent", async () => {
    vi.useFakeTimers();
    const reports: LongWaitReport[] = [];
    enableDiagnostics({ longWait: 50, onLongWait: (r) => reports.push(r) });
    const rw = new RwLock(0);
    const r1 = await rw.read();
    await vi.advanceTimersByTimeAsync(10);
    const r2 = await rw.read();
    const quick = rw.write();
    await vi.advanceTimersByTimeAsync(20);
    r1.release();
    r2.release();
    (await quick).release();
    expect(reports).toEqual([]);
    const r3 = await rw.read();
    const slow = rw.write();
    await vi.advanceTimersByTimeAsync(50);
    expect(reports.map((r) => r.holders.length)).toEqual([1]);
    r3.release();
    (await slow).release();
  });

  it("defaults to console.warn", async () => {
    vi.useFakeTimers();
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    enableDiagnostics({ longWait: 5 });
    const n = new Notify({ name: "ready" });
    const waiting = n.notified();
    await vi.advanceTimersByTimeAsync(5);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]?.[0])).toMatch(/^Long wait: waiting for ready for 5 ms/);
    n.notifyOne();
    await waiting;
  });
});

describe("stats", () => {
  it("counts acquisitions, contended, timeouts, aborts and maxQueue as SPEC §7 defines them", async () => {
    enableDiagnostics({ stats: true });
    const m = new Mutex(0, { name: "counted" });
    const g1 = await m.lock(); // uncontended
    const w1 = m.lock(); // contended, queue 1
    const w2 = m.lock(); // contended, queue 2
    const timedOut = m.lock({ timeout: 1 }); // queue 3, then times out
    const controller = new AbortController();
    const aborted = m.lock({ signal: controller.signal }); // queue 4 (3 after the timeout? no: queued now)
    controller.abort(new Error("stop"));
    await expect(aborted).rejects.toThrow("stop");
    await expect(timedOut).rejects.toBeInstanceOf(TimeoutError);
    g1.release();
    (await w1).release();
    (await w2).release();
    m.tryLock()?.release(); // try-acquires count as acquisitions too
    const [s] = lockStats();
    expect(s).toMatchObject({
      name: "counted",
      kind: "Mutex",
      acquisitions: 4,
      contended: 2,
      timeouts: 1,
      aborts: 1,
      maxQueue: 4,
    });
    expect(s?.waitMs.max).toBeGreaterThanOrEqual(0);
    expect(s?.holdMs.p50).toBeGreaterThanOrEqual(0);
    expect(s?.waitMs.p50).toBeLessThanOrEqual(s?.waitMs.p99 as number);
    expect(s?.waitMs.p99).toBeLessThanOrEqual(s?.waitMs.max as number);
  });

  it("measures wait and hold durations (fake clock)", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
    enableDiagnostics({ stats: true });
    const m = new Mutex(0);
    const g = await m.lock();
    const w = m.lock();
    await vi.advanceTimersByTimeAsync(40);
    g.release();
    const g2 = await w;
    await vi.advanceTimersByTimeAsync(10);
    g2.release();
    const [s] = lockStats();
    expect(s?.waitMs.max).toBe(40);
    expect(s?.holdMs.max).toBe(40);
    expect(s?.holdMs.p50).toBe(10);
  });

  it("has one entry per lock used (KeyedMutex keys together, RwLock, Semaphore), busiest first", async () => {
    enableDiagnostics({ stats: true });
    const k = new KeyedMutex<string>({ name: "k" });
    (await k.lock("a")).release();
    (await k.lock("b")).release();
    const rw = new RwLock(0, { name: "rw" });
    const r = await rw.read();
    const w = rw.write();
    r.release();
    (await w).release();
    const s = new Semaphore(1, { name: "s" });
    await s.withPermit(() => undefined);
    new Mutex(0, { name: "unused" });
    const stats = lockStats();
    expect(stats.map((x) => [x.name, x.kind, x.acquisitions, x.contended])).toEqual([
      ["rw", "RwLock", 2, 1],
      ["k", "KeyedMutex", 2, 0],
      ["s", "Semaphore", 1, 0],
    ]);
    const table = formatLockStats();
    expect(table.split("\n")[0]).toMatch(/^lock\s+kind\s+acq\s+contended\s+timeouts\s+aborts\s+maxQueue\s+wait p50/);
    expect(table).toContain("rw");
    expect(table.split("\n")).toHaveLength(2 + 3);
  });

  it("is kept by a second enableDiagnostics and cleared by disableDiagnostics", async () => {
    enableDiagnostics({ stats: true });
    const m = new Mutex(0);
    (await m.lock()).release();
    enableDiagnostics({ stats: true, longWait: 1000 });
    (await m.lock()).release();
    expect(lockStats()[0]?.acquisitions).toBe(2);
    disableDiagnostics();
    expect(lockStats()).toEqual([]);
    expect(formatLockStats()).toContain("no lock used");
  });
});

describe("options", () => {
  it("are validated, with messages that name the option", () => {
    expect(() => enableDiagnostics({ deadlocks: "yes" as unknown as boolean })).toThrow(
      new TypeError('Expected `deadlocks` to be a boolean or "strict", got "yes"'),
    );
    expect(() => enableDiagnostics({ longWait: -1 })).toThrow(
      new RangeError("Expected `longWait` to be a number of milliseconds from 0 to 2147483647, got -1"),
    );
    expect(() => enableDiagnostics({ longWait: "1" as unknown as number })).toThrow(TypeError);
    expect(() => enableDiagnostics({ onLongWait: 1 as unknown as () => void })).toThrow(
      "Expected `onLongWait` to be a function, got 1",
    );
    expect(() => enableDiagnostics({ stats: 1 as unknown as boolean })).toThrow("Expected `stats` to be a boolean");
    expect(() => enableDiagnostics(null as unknown as object)).toThrow("Expected `options` to be an object");
  });

  it("off again, the primitives pay nothing and keep working (guards taken while on released while off)", async () => {
    enableDiagnostics({ deadlocks: true, stats: true, trace: true, longWait: 10, revokeOnRelease: true });
    const m = new Mutex({ n: 1 });
    const g = await m.lock();
    const waiter = m.lock();
    disableDiagnostics();
    g.release();
    const g2 = await waiter;
    g2.value.n++;
    g2.release();
    await flush();
    expect(m.isLocked).toBe(false);
    enableDiagnostics({ deadlocks: true });
    await m.withLock(() => undefined); // nothing stale from the first session
  });
});
