/**
 * The store core against a scripted in-memory backend, with fake timers: renewal timing, the local
 * deadline, signal-once, connection loss, lost wake-ups, and a grant that arrives after its caller gave
 * up. Deterministic: no server, no wall clock.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { BackendError, LockLostError } from "../../src/errors.js";
import type {
  AcquireRequest,
  AcquireResult,
  LeaseRef,
  StoreBackend,
  TryAcquireResult,
  WakeHandlers,
} from "../../src/store/backend.js";
import { Store, type StoreOptions } from "../../src/store/index.js";
import { flush } from "../helpers/poll.js";

type Call = { op: string; args: unknown[] };

/** Every call is recorded; answers come from `respond` (default: grant at once, renew fine). */
class ScriptedBackend implements StoreBackend {
  readonly calls: Call[] = [];
  handlers: WakeHandlers | undefined;
  next = 1n;
  acquireAnswer: (request: AcquireRequest, id: bigint | undefined) => Promise<AcquireResult> = async () => ({
    status: "granted",
    id: this.next++,
    token: this.next,
    value: "0",
  });
  extendAnswer: () => Promise<boolean> = async () => true;

  async ready(): Promise<void> {}
  acquire(request: AcquireRequest, id: bigint | undefined): Promise<AcquireResult> {
    this.calls.push({ op: "acquire", args: [id] });
    return this.acquireAnswer(request, id);
  }
  async tryAcquire(request: AcquireRequest): Promise<TryAcquireResult> {
    this.calls.push({ op: "tryAcquire", args: [] });
    return (await this.acquireAnswer(request, undefined)) as TryAcquireResult;
  }
  async commit(): Promise<boolean> {
    this.calls.push({ op: "commit", args: [] });
    return true;
  }
  async release(lease: LeaseRef, value: string | undefined): Promise<boolean> {
    this.calls.push({ op: "release", args: [lease.id, value] });
    return true;
  }
  extend(lease: LeaseRef, ttl: number): Promise<boolean> {
    this.calls.push({ op: "extend", args: [lease.id, ttl] });
    return this.extendAnswer();
  }
  async leave(_name: string, id: bigint): Promise<void> {
    this.calls.push({ op: "leave", args: [id] });
  }
  subscribe(handlers: WakeHandlers): void {
    this.handlers = handlers;
  }
  async close(): Promise<void> {}

  count(op: string): number {
    return this.calls.filter((c) => c.op === op).length;
  }
}

class TestStore extends Store {
  constructor(
    readonly backend: ScriptedBackend,
    options?: StoreOptions,
  ) {
    super(backend, options);
  }
}

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance", "Date"] });
  unhandled.length = 0;
  process.on("unhandledRejection", onUnhandled);
});

afterEach(() => {
  vi.useRealTimers();
  process.off("unhandledRejection", onUnhandled);
});

describe("store core", () => {
  it("renews a held lease at about a third of its ttl, one call each time", async () => {
    const store = new TestStore(new ScriptedBackend(), { ttl: 3_000 });
    const guard = await store.mutex("m", { initial: 0 }).lock();
    expect(store.backend.count("extend")).toBe(0);
    await vi.advanceTimersByTimeAsync(999);
    expect(store.backend.count("extend")).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(store.backend.count("extend")).toBe(1);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(store.backend.count("extend")).toBe(2);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(guard.held).toBe(true);
    await guard.release();
    const renewals = store.backend.count("extend");
    await vi.advanceTimersByTimeAsync(10_000);
    expect(store.backend.count("extend")).toBe(renewals); // nothing outlives the guard
  });

  it("a failed renewal aborts the signal exactly once with LockLostError (cause: the BackendError), never unhandled", async () => {
    const store = new TestStore(new ScriptedBackend(), { ttl: 3_000 });
    const guard = await store.mutex("m", { initial: 0 }).lock();
    const aborts: unknown[] = [];
    guard.signal.addEventListener("abort", () => aborts.push(guard.signal.reason));
    store.backend.extendAnswer = () => Promise.reject(new Error("connection reset"));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(aborts).toHaveLength(1);
    const reason = aborts[0] as LockLostError;
    expect(reason).toBeInstanceOf(LockLostError);
    expect(reason.cause).toBeInstanceOf(BackendError);
    expect((reason.cause as BackendError).operation).toBe("renew");
    await vi.advanceTimersByTimeAsync(10_000);
    expect(aborts).toHaveLength(1);
    await expect(guard.commit()).rejects.toBeInstanceOf(LockLostError);
    expect(store.backend.count("commit")).toBe(0); // refused without sending
    await flush();
    expect(unhandled).toEqual([]);
  });

  it("without renewals the signal aborts at the local deadline (ttl minus the margin)", async () => {
    const store = new TestStore(new ScriptedBackend(), { ttl: 1_000, renew: false });
    const guard = await store.mutex("m", { initial: 0 }).lock();
    await vi.advanceTimersByTimeAsync(899);
    expect(guard.signal.aborted).toBe(false);
    expect(guard.held).toBe(true);
    await vi.advanceTimersByTimeAsync(1);
    expect(guard.signal.aborted).toBe(true);
    expect(guard.held).toBe(false);
  });

  it("a grant picked up with less than its ttl left counts its deadline and first renewal from what is left", async () => {
    const backend = new ScriptedBackend();
    const store = new TestStore(backend, { ttl: 3_000 });
    backend.acquireAnswer = async () => ({ status: "granted", id: 1n, token: 2n, value: "0", leaseMs: 1_800 });
    backend.extendAnswer = () => new Promise(() => {}); // the renewal never answers
    const guard = await store.mutex("m", { initial: 0 }).lock();
    await vi.advanceTimersByTimeAsync(599);
    expect(backend.count("extend")).toBe(0);
    await vi.advanceTimersByTimeAsync(1); // a third of the 1 800 ms left, not of the 3 000 ms ttl
    expect(backend.count("extend")).toBe(1);
    await vi.advanceTimersByTimeAsync(899);
    expect(guard.held).toBe(true);
    await vi.advanceTimersByTimeAsync(1); // 1 800 - 300 (margin: ttl/10) after the acquire was sent
    expect(guard.signal.aborted).toBe(true);
  });

  it("`held` and commit() notice a passed deadline before the timer has run", async () => {
    const store = new TestStore(new ScriptedBackend(), { ttl: 1_000, renew: false });
    const guard = await store.mutex("m", { initial: 0 }).lock();
    vi.setSystemTime(Date.now()); // keep Date; move only the monotonic clock below
    const start = performance.now();
    vi.spyOn(performance, "now").mockReturnValue(start + 5_000); // a pause: timers have not run yet
    expect(guard.held).toBe(false);
    await expect(guard.commit()).rejects.toBeInstanceOf(LockLostError);
    expect(guard.signal.aborted).toBe(true);
    vi.mocked(performance.now).mockRestore();
  });

  it("the loss of the store's connection aborts every guard of the store", async () => {
    const store = new TestStore(new ScriptedBackend());
    const a = await store.mutex("a", { initial: 0 }).lock();
    const b = await store.rwLock("b", { initial: 0 }).read();
    store.backend.handlers!.onDown(new Error("LISTEN connection ended"));
    expect(a.signal.aborted).toBe(true);
    expect(b.signal.reason).toBeInstanceOf(LockLostError);
  });

  it("a wake-up that arrives while an acquire call is in flight is not lost", async () => {
    const backend = new ScriptedBackend();
    const store = new TestStore(backend, { ttl: 60_000 });
    let answer: ((r: AcquireResult) => void) | undefined;
    backend.acquireAnswer = () => new Promise((resolve) => (answer = resolve));
    const pending = store.mutex("m", { initial: 0 }).lock();
    await flush();
    expect(backend.count("acquire")).toBe(1);
    backend.handlers!.onWake("m"); // the release's NOTIFY overtakes our queued answer
    answer!({ status: "queued", id: 7n, waitMs: 60_000 });
    await flush();
    expect(backend.count("acquire")).toBe(2); // asked again at once, not after 20 s
    expect(backend.calls.at(-1)!.args).toEqual([7n]);
    answer!({ status: "granted", id: 7n, token: 8n, value: "1" });
    const guard = await pending;
    expect(guard.value).toBe(1);
  });

  it("a waiter sleeps until the blocking lease ends when no wake-up comes (no polling loop)", async () => {
    const backend = new ScriptedBackend();
    const store = new TestStore(backend, { ttl: 60_000 });
    backend.acquireAnswer = async (_r, id) => ({ status: "queued", id: id ?? 3n, waitMs: 5_000 });
    const pending = store.mutex("m", { initial: 0 }).lock();
    await vi.advanceTimersByTimeAsync(4_000);
    expect(backend.count("acquire")).toBe(1);
    backend.acquireAnswer = async () => ({ status: "granted", id: 3n, token: 4n, value: "0" });
    await vi.advanceTimersByTimeAsync(1_100);
    expect(backend.count("acquire")).toBe(2);
    await (await pending).release();
  });

  it("a grant that arrives after commandTimeout rejected the acquire is given back (leave)", async () => {
    const backend = new ScriptedBackend();
    const store = new TestStore(backend, { ttl: 1_000, commandTimeout: 500 });
    let answer: ((r: AcquireResult) => void) | undefined;
    backend.acquireAnswer = () => new Promise((resolve) => (answer = resolve));
    const pending = store.mutex("m", { initial: 0 }).lock();
    const outcome = pending.catch((error) => error);
    await vi.advanceTimersByTimeAsync(500);
    const error = await outcome;
    expect(error).toBeInstanceOf(BackendError);
    expect(error.operation).toBe("acquire");
    answer!({ status: "granted", id: 11n, token: 12n, value: "0" });
    await flush();
    expect(backend.calls.filter((c) => c.op === "leave").map((c) => c.args[0])).toEqual([11n]);
  });
});
