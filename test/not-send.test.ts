/**
 * The run-time half of "not Send": every in-process primitive and guard refuses to be structured-cloned,
 * so `structuredClone`, `port.postMessage` and `worker.postMessage` throw `DataCloneError` instead of
 * silently splitting a lock in two. The table below must cover every class `lockbox` exports (a test
 * checks that), so a new primitive cannot be forgotten.
 */
import { Worker } from "node:worker_threads";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as lockbox from "../src/index.js";
import {
  Arc,
  Barrier,
  Cell,
  Condvar,
  KeyedMutex,
  LockboxError,
  Mutex,
  Notify,
  OnceCell,
  RefCell,
  RwLock,
  Semaphore,
} from "../src/index.js";

/** Builds a fresh live instance of each exported class, keyed by export name. */
const factories: Record<string, () => object> = {
  Arc: () => new Arc([1]),
  Weak: () => new Arc([1]).downgrade(),
  Cell: () => new Cell(1),
  RefCell: () => new RefCell([1]),
  Ref: () => new RefCell([1]).borrow(),
  RefMut: () => new RefCell([1]).borrowMut(),
  Mutex: () => new Mutex([1]),
  MutexGuard: () => new Mutex([1]).tryLock()!,
  RwLock: () => new RwLock([1]),
  RwLockReadGuard: () => new RwLock([1]).tryRead()!,
  RwLockWriteGuard: () => new RwLock([1]).tryWrite()!,
  RwLockUpgradableReadGuard: () => new RwLock([1]).tryUpgradableRead()!,
  Semaphore: () => new Semaphore(2),
  SemaphorePermit: () => new Semaphore(2).tryAcquire()!,
  Notify: () => new Notify(),
  Condvar: () => new Condvar(),
  Barrier: () => new Barrier(2),
  OnceCell: () => new OnceCell([1]),
  KeyedMutex: () => new KeyedMutex<string>(),
  KeyedMutexGuard: () => new KeyedMutex<string>().tryLock("k")!,
};

/** Guards and handles: a released one must not become cloneable either. */
const releasers: Record<string, (x: never) => void> = {
  Weak: (x: lockbox.Weak<number[]>) => x.drop(),
  Arc: (x: lockbox.Arc<number[]>) => x.drop(),
  Ref: (x: lockbox.Ref<number[]>) => x.release(),
  RefMut: (x: lockbox.RefMut<number[]>) => x.release(),
  MutexGuard: (x: lockbox.MutexGuard<number[]>) => x.release(),
  RwLockReadGuard: (x: lockbox.RwLockReadGuard<number[]>) => x.release(),
  RwLockWriteGuard: (x: lockbox.RwLockWriteGuard<number[]>) => x.release(),
  RwLockUpgradableReadGuard: (x: lockbox.RwLockUpgradableReadGuard<number[]>) => x.release(),
  SemaphorePermit: (x: lockbox.SemaphorePermit) => x.release(),
  KeyedMutexGuard: (x: lockbox.KeyedMutexGuard<string>) => x.release(),
};

/** Exported classes that are not primitives or guards (errors), and export aliases. */
function exportedPrimitiveNames(): string[] {
  return Object.entries(lockbox)
    .filter(([name, value]) => typeof value === "function" && name !== "Rc")
    .filter(([, value]) => !(value === LockboxError || (value as { prototype: unknown }).prototype instanceof Error))
    .map(([name]) => name)
    .sort();
}

function expectDataCloneError(fn: () => void): void {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught, "expected a DataCloneError").toBeInstanceOf(Error);
  expect((caught as Error).name).toBe("DataCloneError");
  expect((caught as Error).message).toContain("lockbox");
}

const cases = Object.keys(factories).sort();

describe("not Send: in-process primitives and guards refuse to cross threads", () => {
  it("the table covers every class lockbox exports", () => {
    expect(cases).toEqual(exportedPrimitiveNames());
    expect(lockbox.Rc).toBe(lockbox.Arc);
  });

  it.each(cases)("structuredClone(%s) throws DataCloneError, live and released", (name) => {
    const instance = factories[name]!();
    expectDataCloneError(() => structuredClone(instance));
    // Nested inside plain data, too.
    expectDataCloneError(() => structuredClone({ inner: [instance] }));
    const release = releasers[name];
    if (release !== undefined) {
      release(instance as never);
      expectDataCloneError(() => structuredClone(instance));
    }
  });

  it.each(cases)("port.postMessage(%s) throws DataCloneError and delivers nothing", async (name) => {
    const { port1, port2 } = new MessageChannel();
    const received: unknown[] = [];
    const done = new Promise<void>((resolve) => {
      port2.onmessage = (event) => {
        received.push(event.data);
        if (event.data === "after") resolve();
      };
    });
    try {
      expectDataCloneError(() => port1.postMessage(factories[name]!()));
      // The failed post queued nothing: the next message is the first (and only) one to arrive.
      port1.postMessage("after");
      await done;
      expect(received).toEqual(["after"]);
    } finally {
      port1.close();
      port2.close();
    }
  });

  describe("worker.postMessage", () => {
    let worker: Worker;
    beforeAll(() => {
      worker = new Worker(
        "require('node:worker_threads').parentPort.on('message', (m) => require('node:worker_threads').parentPort.postMessage(m));",
        {
          eval: true,
        },
      );
    });
    afterAll(async () => {
      await worker.terminate();
    });

    it("throws DataCloneError for every primitive and guard, and the worker still works", async () => {
      for (const name of cases) {
        expectDataCloneError(() => worker.postMessage(factories[name]!()));
      }
      const echoed = new Promise((resolve) => worker.once("message", resolve));
      worker.postMessage({ plain: [1, 2] });
      expect(await echoed).toEqual({ plain: [1, 2] });
    });
  });
});
