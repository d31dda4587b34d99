/**
 * Owner-death detection needs process.getBuiltinModule (Node 20.16+ / 22.3+). On an older Node,
 * `supervise()` must refuse with a clear error rather than return as if the worker were watched.
 * Simulated by loading lockbox/threads afresh while `process.getBuiltinModule` is missing and
 * `process.versions.node` says 20.15.1.
 */
import { afterEach, describe, expect, it, vi } from "vitest";

type Proc = { getBuiltinModule?: unknown; versions: NodeJS.ProcessVersions };
const proc = process as unknown as Proc;
const saved = {
  getBuiltinModule: Object.getOwnPropertyDescriptor(proc, "getBuiltinModule"),
  versions: Object.getOwnPropertyDescriptor(proc, "versions"),
};

afterEach(() => {
  if (saved.getBuiltinModule) Object.defineProperty(proc, "getBuiltinModule", saved.getBuiltinModule);
  if (saved.versions) Object.defineProperty(proc, "versions", saved.versions);
  vi.resetModules();
});

async function freshSupervise() {
  vi.resetModules();
  return (await import("../../src/threads/runtime/supervise.js")).supervise;
}

/** A worker-shaped object with a thread id no real thread of this process has. */
function fakeWorker() {
  return { threadId: 900_000, once: vi.fn() };
}

describe("supervise() and the Node version", () => {
  it("on Node before 20.16 (no process.getBuiltinModule) it throws, naming the version needed and found", async () => {
    Object.defineProperty(proc, "getBuiltinModule", { value: undefined, configurable: true, writable: true });
    Object.defineProperty(proc, "versions", { value: { ...process.versions, node: "20.15.1" }, configurable: true });
    const supervise = await freshSupervise();
    const worker = fakeWorker();
    expect(() => supervise(worker)).toThrow(/needs Node 20\.16 or later.*this is Node 20\.15\.1/);
    expect(worker.once).not.toHaveBeenCalled(); // nothing half-watched
  });

  it("a bad argument is still a TypeError there", async () => {
    Object.defineProperty(proc, "getBuiltinModule", { value: undefined, configurable: true, writable: true });
    const supervise = await freshSupervise();
    expect(() => supervise({} as never)).toThrow(TypeError);
  });

  it("where process.getBuiltinModule exists, the same call watches the worker's exit", async () => {
    const supervise = await freshSupervise();
    const worker = fakeWorker();
    expect(supervise(worker)).toBe(worker);
    expect(worker.once).toHaveBeenCalledWith("exit", expect.any(Function));
  });
});
