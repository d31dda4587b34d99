/**
 * trace: Chrome trace-event JSON (what Perfetto and chrome://tracing open) and the
 * node:diagnostics_channel events (SPEC §7).
 */
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { afterEach, describe, expect, it } from "vitest";
import { disableDiagnostics, enableDiagnostics, type Trace, takeTrace } from "../../src/diagnostics/index.js";
import { Mutex, RwLock } from "../../src/index.js";

afterEach(() => {
  disableDiagnostics();
});

/**
 * Checks `json` against the trace-event format (the JSON object form): the fields and phases we emit,
 * integer pid/tid, timestamps in microseconds on performance.now()'s clock, and spans that nest on
 * each track (a viewer drops spans that overlap without nesting). Returns the parsed trace.
 */
function validate(json: string, startedMs: number, endedMs: number): Trace {
  const trace = JSON.parse(json) as Trace;
  expect(Object.keys(trace).sort()).toEqual(["displayTimeUnit", "traceEvents"]);
  expect(Array.isArray(trace.traceEvents)).toBe(true);
  const byTid = new Map<number, [number, number][]>();
  const named = new Set<number>();
  for (const e of trace.traceEvents) {
    expect(typeof e.name).toBe("string");
    expect(["X", "M", "i"]).toContain(e.ph);
    expect(Number.isInteger(e.pid)).toBe(true);
    expect(Number.isInteger(e.tid)).toBe(true);
    expect(Number.isInteger(e.ts)).toBe(true);
    if (e.ph === "M") {
      expect(["process_name", "thread_name"]).toContain(e.name);
      expect(typeof e.args?.name).toBe("string");
      if (e.name === "thread_name") named.add(e.tid);
      continue;
    }
    if (e.ph === "X") {
      expect(Number.isInteger(e.dur)).toBe(true);
      expect(e.dur).toBeGreaterThan(0);
      // Microseconds on the performance.now() clock: inside the test's own window.
      expect(e.ts).toBeGreaterThanOrEqual(Math.floor(startedMs * 1000) - 1);
      expect(e.ts + (e.dur as number)).toBeLessThanOrEqual(Math.ceil(endedMs * 1000) + 1);
      const spans = byTid.get(e.tid) ?? [];
      spans.push([e.ts, e.ts + (e.dur as number)]);
      byTid.set(e.tid, spans);
    }
  }
  for (const [tid, spans] of byTid) {
    expect(named.has(tid)).toBe(true); // every track has a name
    for (const [s1, e1] of spans) {
      for (const [s2, e2] of spans) {
        const partial = s1 < s2 && s2 < e1 && e1 < e2;
        expect(partial, `spans on tid ${tid} overlap without nesting`).toBe(false);
      }
    }
  }
  return trace;
}

describe("takeTrace", () => {
  it("records wait and hold spans named after the lock, a track per scope, in trace-event JSON", async () => {
    const started = performance.now();
    enableDiagnostics({ trace: true });
    const m = new Mutex(0, { name: "ledger" });
    const rw = new RwLock(0, { name: "config" });
    const tasks = Array.from({ length: 5 }, (_, i) =>
      m.withLock(async (g) => {
        await null;
        g.value += i;
        await rw.withRead(() => undefined);
      }),
    );
    const bare = m.lock().then((g) => g.release()); // outside any scope
    await Promise.all([...tasks, bare]);
    const json = JSON.stringify(takeTrace());
    const ended = performance.now();
    const trace = validate(json, started, ended);
    const spans = trace.traceEvents.filter((e) => e.ph === "X");
    const names = new Set(spans.map((e) => e.name));
    expect(names).toEqual(new Set(["hold ledger", "wait ledger", "hold config"]));
    expect(spans.filter((e) => e.name === "hold ledger")).toHaveLength(6);
    expect(spans.filter((e) => e.name === "wait ledger")).toHaveLength(5); // all but the first waited
    const threadNames = trace.traceEvents.filter((e) => e.name === "thread_name").map((e) => e.args?.name);
    expect(threadNames.some((n) => String(n).startsWith("scope "))).toBe(true);
    expect(threadNames).toContain("ledger (outside scopes)");
    // A scope's nested hold lies inside its outer hold, on the same track.
    for (const inner of spans.filter((e) => e.name === "hold config")) {
      const outer = spans.find(
        (e) =>
          e.name === "hold ledger" &&
          e.tid === inner.tid &&
          e.ts <= inner.ts &&
          inner.ts + (inner.dur as number) <= e.ts + (e.dur as number),
      );
      expect(outer).toBeDefined();
    }
    // Each wait ends where the next hold begins: the grant.
    const waits = spans.filter((e) => e.name === "wait ledger");
    for (const w of waits) {
      expect(spans.some((h) => h.name === "hold ledger" && Math.abs(h.ts - (w.ts + (w.dur as number))) <= 1)).toBe(
        true,
      );
      expect(w.args?.outcome).toBe("granted");
    }
    // takeTrace clears.
    expect(takeTrace().traceEvents.filter((e) => e.ph === "X")).toEqual([]);
  });

  it("marks a timed-out wait with its outcome", async () => {
    enableDiagnostics({ trace: true });
    const m = new Mutex(0, { name: "t" });
    const g = await m.lock();
    await expect(m.lock({ timeout: 1 })).rejects.toThrow();
    g.release();
    const wait = takeTrace().traceEvents.find((e) => e.name === "wait t");
    expect(wait?.args?.outcome).toBe("timeout");
  });

  it("records nothing when trace is off", async () => {
    enableDiagnostics({ stats: true });
    await new Mutex(0).withLock(() => undefined);
    expect(takeTrace().traceEvents.filter((e) => e.ph !== "M")).toEqual([]);
  });
});

describe("diagnostics_channel", () => {
  it("publishes lockbox:wait, lockbox:acquire and lockbox:release while trace is on", async () => {
    const seen: string[] = [];
    const onWait = (m: unknown): void => {
      seen.push(`wait ${(m as { lock: string }).lock} ${(m as { queued: number }).queued}`);
    };
    const onAcquire = (m: unknown): void => {
      seen.push(`acquire ${(m as { lock: string }).lock}`);
    };
    const onRelease = (m: unknown): void => {
      seen.push(`release ${(m as { lock: string }).lock}`);
    };
    subscribe("lockbox:wait", onWait);
    subscribe("lockbox:acquire", onAcquire);
    subscribe("lockbox:release", onRelease);
    try {
      const m = new Mutex(0, { name: "ch" });
      (await m.lock()).release();
      expect(seen).toEqual([]); // diagnostics off: nothing
      enableDiagnostics({ trace: true });
      const g = await m.lock();
      const w = m.lock();
      g.release();
      (await w).release();
      expect(seen).toEqual(["acquire ch", "wait ch 1", "release ch", "acquire ch", "release ch"]);
    } finally {
      unsubscribe("lockbox:wait", onWait);
      unsubscribe("lockbox:acquire", onAcquire);
      unsubscribe("lockbox:release", onRelease);
    }
  });
});
