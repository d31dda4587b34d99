/**
 * A browser page that is not cross-origin isolated has no `SharedArrayBuffer`. Constructing a
 * lockbox/threads object there must say what is missing and which headers provide it, not fail with
 * a bare `ReferenceError: SharedArrayBuffer is not defined`. Simulated by removing the global for the
 * duration of each check (the modules were loaded with it, as a page loads them before the first use).
 */
import { afterEach, describe, expect, it } from "vitest";
import {
  AtomicBool,
  AtomicI32,
  Barrier,
  Condvar,
  json,
  Mutex,
  OnceLock,
  RwLock,
  Semaphore,
  struct,
} from "../../src/threads/index.js";

const global = globalThis as { SharedArrayBuffer?: unknown };
const original = global.SharedArrayBuffer;
afterEach(() => {
  global.SharedArrayBuffer = original;
});

const HEADERS = /Cross-Origin-Opener-Policy: same-origin.*Cross-Origin-Embedder-Policy: require-corp/s;

describe("lockbox/threads without SharedArrayBuffer", () => {
  const constructors: [string, () => unknown][] = [
    ["new Mutex(null)", () => new Mutex(null)],
    ["new RwLock(null)", () => new RwLock(null)],
    ["new Semaphore(1)", () => new Semaphore(1)],
    ["new Condvar()", () => new Condvar()],
    ["new Barrier(2)", () => new Barrier(2)],
    ["new OnceLock()", () => new OnceLock()],
    ["new AtomicI32()", () => new AtomicI32()],
    ["new AtomicBool()", () => new AtomicBool()],
    ["struct(...).create()", () => struct({ x: "i32" }).create()],
    ["json(...)", () => json({ a: 1 })],
  ];
  for (const [name, construct] of constructors) {
    it(`${name} throws an Error naming SharedArrayBuffer and the COOP/COEP headers`, () => {
      delete global.SharedArrayBuffer;
      let thrown: unknown;
      try {
        construct();
      } catch (error) {
        thrown = error;
      }
      global.SharedArrayBuffer = original;
      expect(thrown).toBeInstanceOf(Error);
      expect(thrown).not.toBeInstanceOf(ReferenceError);
      expect((thrown as Error).message).toMatch(/needs SharedArrayBuffer/);
      expect((thrown as Error).message).toMatch(HEADERS);
    });
  }

  it("the same constructors work once SharedArrayBuffer is back", () => {
    for (const [name, construct] of constructors) expect(construct, name).not.toThrow();
  });
});
