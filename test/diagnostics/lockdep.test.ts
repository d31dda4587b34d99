/**
 * Lock-order inversions (Linux's lockdep, SPEC §7): reported the first time two locks are nested in
 * the opposite order of an earlier nesting, even though this run did not hang.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { disableDiagnostics, enableDiagnostics, type PotentialDeadlockReport } from "../../src/diagnostics/index.js";
import { DeadlockError, KeyedMutex, Mutex, RwLock, Semaphore } from "../../src/index.js";

afterEach(() => {
  disableDiagnostics();
  vi.restoreAllMocks();
});

function collect(strict = false): PotentialDeadlockReport[] {
  const reports: PotentialDeadlockReport[] = [];
  enableDiagnostics({ deadlocks: strict ? "strict" : true, onPotentialDeadlock: (r) => reports.push(r) });
  return reports;
}

describe("lock-order inversions", () => {
  it("reports A→B then B→A once, with both locks and both stacks", async () => {
    const reports = collect();
    const a = new Mutex(0, { name: "A" });
    const b = new Mutex(0, { name: "B" });
    await a.withLock(() => b.withLock(() => undefined)); // first order: A then B
    expect(reports).toEqual([]);
    await b.withLock(() => a.withLock(() => undefined)); // opposite order, sequentially: no hang
    expect(reports).toHaveLength(1);
    const [report] = reports as [PotentialDeadlockReport];
    expect(report.locks).toEqual(["B", "A"]);
    expect(report.stacks).toHaveLength(2);
    for (const stack of report.stacks) expect(stack).toContain("lockdep.test.ts");
    expect(report.message).toMatch(
      /^Potential deadlock \(lock-order inversion\): A is taken while holding B, but earlier B was taken while holding A\./,
    );
    expect(report.message).toContain("This order:");
    expect(report.message).toContain("Earlier order:");
    await b.withLock(() => a.withLock(() => undefined));
    expect(reports).toHaveLength(1); // once per pair
  });

  it("finds transitive inversions (A→B, B→C, then C→A)", async () => {
    const reports = collect();
    const [a, b, c] = ["A", "B", "C"].map((name) => new Mutex(0, { name })) as [
      Mutex<number>,
      Mutex<number>,
      Mutex<number>,
    ];
    await a.withLock(() => b.withLock(() => undefined));
    await b.withLock(() => c.withLock(() => undefined));
    expect(reports).toEqual([]);
    await c.withLock(() => a.withLock(() => undefined));
    expect(reports).toHaveLength(1);
    expect((reports[0] as PotentialDeadlockReport).locks).toEqual(["C", "A", "B"]);
    expect((reports[0] as PotentialDeadlockReport).stacks).toHaveLength(3);
  });

  it("covers RwLock writes, semaphore permits and KeyedMutex keys", async () => {
    const reports = collect();
    const rw = new RwLock(0, { name: "RW" });
    const s = new Semaphore(1, { name: "S" });
    const k = new KeyedMutex<string>({ name: "K" });
    await rw.withWrite(() => s.withPermit(() => undefined));
    await s.withPermit(() => rw.withRead(() => undefined));
    await k.withLock("x", () => k.withLock("y", () => undefined));
    await k.withLock("y", () => k.withLock("x", () => undefined));
    expect(reports.map((r) => r.locks)).toEqual([
      ["S", "RW"],
      ['K["y"]', 'K["x"]'],
    ]);
  });

  it("does not report read inside read in both orders (readers never wait for each other)", async () => {
    const reports = collect();
    const r1 = new RwLock(0);
    const r2 = new RwLock(0);
    await r1.withRead(() => r2.withRead(() => undefined));
    await r2.withRead(() => r1.withRead(() => undefined));
    expect(reports).toEqual([]);
  });

  it("does not report bare lock() guards, in any order", async () => {
    const reports = collect();
    const a = new Mutex(0);
    const b = new Mutex(0);
    await a.withLock(async () => {
      (await b.lock()).release();
    });
    await b.withLock(async () => {
      (await a.lock()).release();
    });
    const ga = await a.lock();
    await b.withLock(() => undefined);
    ga.release();
    expect(reports).toEqual([]);
  });

  it("uses console.warn by default", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    enableDiagnostics({ deadlocks: true });
    const a = new Mutex(0, { name: "first" });
    const b = new Mutex(0, { name: "second" });
    await a.withLock(() => b.withLock(() => undefined));
    await b.withLock(() => a.withLock(() => undefined));
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]?.[0])).toMatch(/^Potential deadlock \(lock-order inversion\): first is taken/);
  });

  it("strict: every acquire that takes an inverted order rejects with the report's text", async () => {
    const reports = collect(true);
    const a = new Mutex(0, { name: "A" });
    const b = new Mutex(0, { name: "B" });
    await a.withLock(() => b.withLock(() => undefined));
    for (let i = 0; i < 2; i++) {
      const error = await b.withLock(() => a.withLock(() => "no")).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DeadlockError);
      expect((error as Error).message).toMatch(/^Potential deadlock \(lock-order inversion\): A is taken/);
    }
    expect(reports).toEqual([]);
    expect(a.isLocked || b.isLocked).toBe(false);
    await a.withLock(() => b.withLock(() => undefined)); // the recorded order still works
  });

  it("a second enableDiagnostics keeps the history; disableDiagnostics forgets it", async () => {
    const first = collect();
    const a = new Mutex(0);
    const b = new Mutex(0);
    await a.withLock(() => b.withLock(() => undefined));
    const second = collect(); // replaces the options, keeps the order graph
    await b.withLock(() => a.withLock(() => undefined));
    expect(first).toEqual([]);
    expect(second).toHaveLength(1);
    disableDiagnostics();
    const third = collect();
    await b.withLock(() => a.withLock(() => undefined));
    expect(third).toEqual([]);
  });
});
