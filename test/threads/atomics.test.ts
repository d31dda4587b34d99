import fc from "fast-check";
import { afterEach, describe, expect, it, vi } from "vitest";
import { WouldBlockError } from "../../src/errors.js";
import { AtomicBool, AtomicI32, AtomicI64, AtomicU32, AtomicU64 } from "../../src/threads/atomics.js";
import { LAYOUT_VERSION } from "../../src/threads/memory/handle.js";
import { StructLayout, struct } from "../../src/threads/memory/struct.js";
import { keepsAlive, parkedWaiters } from "../../src/threads/runtime/keep-alive.js";
import { setBlockingProbe } from "../../src/threads/runtime/wait.js";
import { assertPending, assertReady, poll } from "../helpers/poll.js";

const I32_MIN = -(2 ** 31);
const I32_MAX = 2 ** 31 - 1;
const U32_MAX = 2 ** 32 - 1;
const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;
const U64_MAX = 2n ** 64n - 1n;

/** Wrap-around reference semantics, independent of the implementation. */
const wrapI32 = (x: number) => x | 0;
const wrapU32 = (x: number) => x >>> 0;

describe("AtomicI32", () => {
  it("starts at 0 or at the initial value, and load/store round-trip", () => {
    expect(new AtomicI32().load()).toBe(0);
    const a = new AtomicI32(-5);
    expect(a.load()).toBe(-5);
    a.store(I32_MAX);
    expect(a.load()).toBe(I32_MAX);
    a.store(I32_MIN);
    expect(a.load()).toBe(I32_MIN);
  });

  it("swap and compareExchange return the previous value", () => {
    const a = new AtomicI32(1);
    expect(a.swap(2)).toBe(1);
    expect(a.load()).toBe(2);
    expect(a.compareExchange(1, 9)).toBe(2); // failed: value unchanged
    expect(a.load()).toBe(2);
    expect(a.compareExchange(2, 9)).toBe(2); // succeeded
    expect(a.load()).toBe(9);
  });

  it("fetchAdd / fetchSub wrap around like Rust", () => {
    const a = new AtomicI32(I32_MAX);
    expect(a.fetchAdd(1)).toBe(I32_MAX);
    expect(a.load()).toBe(I32_MIN);
    expect(a.fetchSub(1)).toBe(I32_MIN);
    expect(a.load()).toBe(I32_MAX);
    a.store(0);
    expect(a.fetchSub(I32_MIN)).toBe(0);
    expect(a.load()).toBe(I32_MIN);
  });

  it("bitwise operations", () => {
    const a = new AtomicI32(0b1100);
    expect(a.fetchAnd(0b1010)).toBe(0b1100);
    expect(a.load()).toBe(0b1000);
    expect(a.fetchOr(0b0001)).toBe(0b1000);
    expect(a.load()).toBe(0b1001);
    expect(a.fetchXor(0b1111)).toBe(0b1001);
    expect(a.load()).toBe(0b0110);
    expect(a.fetchNand(0b0100)).toBe(0b0110);
    expect(a.load()).toBe(~0b0100);
  });

  it("fetchMax / fetchMin compare as signed", () => {
    const a = new AtomicI32(-3);
    expect(a.fetchMax(-7)).toBe(-3);
    expect(a.load()).toBe(-3);
    expect(a.fetchMax(5)).toBe(-3);
    expect(a.load()).toBe(5);
    expect(a.fetchMin(I32_MIN)).toBe(5);
    expect(a.load()).toBe(I32_MIN);
  });

  it("fetchUpdate returns the previous value, or undefined (nothing written) when fn aborts", () => {
    const a = new AtomicI32(8);
    expect(a.fetchUpdate((n) => (n < 10 ? n + 1 : undefined))).toBe(8);
    expect(a.fetchUpdate((n) => (n < 10 ? n + 1 : undefined))).toBe(9);
    expect(a.fetchUpdate((n) => (n < 10 ? n + 1 : undefined))).toBeUndefined();
    expect(a.load()).toBe(10);
  });

  it("fetchUpdate retries when the value changes between fn and the exchange", () => {
    const a = new AtomicI32(0);
    const seen: number[] = [];
    const previous = a.fetchUpdate((n) => {
      seen.push(n);
      if (seen.length === 1) a.store(100); // another "thread" writes in between
      return n + 1;
    });
    expect(seen).toEqual([0, 100]);
    expect(previous).toBe(100);
    expect(a.load()).toBe(101);
  });

  it("fetchUpdate rejects a bad result without writing, and a non-function", () => {
    const a = new AtomicI32(1);
    expect(() => a.fetchUpdate(() => 2 ** 31)).toThrow(RangeError);
    expect(() => a.fetchUpdate(() => 1.5)).toThrow(/`fn result`/);
    expect(a.load()).toBe(1);
    expect(() => a.fetchUpdate(42 as never)).toThrow(TypeError);
  });

  it("rejects values outside int32 with RangeError and non-numbers with TypeError, value unchanged", () => {
    const a = new AtomicI32(7);
    for (const bad of [I32_MAX + 1, I32_MIN - 1, 0.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => a.store(bad)).toThrow(RangeError);
      expect(() => a.fetchAdd(bad)).toThrow(RangeError);
    }
    expect(() => a.store("1" as never)).toThrow(TypeError);
    expect(() => a.store(1n as never)).toThrow(TypeError);
    expect(() => a.compareExchange(7, 2 ** 40)).toThrow(
      /`replacement` to be an integer from -2147483648 to 2147483647/,
    );
    expect(() => new AtomicI32(2 ** 31)).toThrow(/`initial`/);
    expect(a.load()).toBe(7);
  });

  it("crosses structuredClone (the instance or its handle) over the same memory", () => {
    const a = new AtomicI32(3);
    const copy = AtomicI32.from(structuredClone(a));
    copy.fetchAdd(1);
    expect(a.load()).toBe(4);
    const viaHandle = AtomicI32.from(structuredClone(a.handle));
    viaHandle.store(10);
    expect(a.load()).toBe(10);
    expect(a.handle.type).toBe("lockbox.threads.AtomicI32");
    expect(a.handle.version).toBe(LAYOUT_VERSION);
  });

  it("matches a reference model for random operation sequences (property)", () => {
    const op = fc.oneof(
      fc.record({
        op: fc.constantFrom("add", "sub", "and", "or", "xor", "max", "min", "swap", "nand"),
        v: fc.integer({ min: I32_MIN, max: I32_MAX }),
      }),
    );
    fc.assert(
      fc.property(fc.integer({ min: I32_MIN, max: I32_MAX }), fc.array(op, { maxLength: 30 }), (start, ops) => {
        const a = new AtomicI32(start);
        let model = start;
        for (const { op, v } of ops) {
          let previous: number;
          switch (op) {
            case "add":
              previous = a.fetchAdd(v);
              expect(previous).toBe(model);
              model = wrapI32(model + v);
              break;
            case "sub":
              previous = a.fetchSub(v);
              expect(previous).toBe(model);
              model = wrapI32(model - v);
              break;
            case "and":
              expect(a.fetchAnd(v)).toBe(model);
              model &= v;
              break;
            case "or":
              expect(a.fetchOr(v)).toBe(model);
              model |= v;
              break;
            case "xor":
              expect(a.fetchXor(v)).toBe(model);
              model ^= v;
              break;
            case "nand":
              expect(a.fetchNand(v)).toBe(model);
              model = ~(model & v);
              break;
            case "max":
              expect(a.fetchMax(v)).toBe(model);
              model = Math.max(model, v);
              break;
            case "min":
              expect(a.fetchMin(v)).toBe(model);
              model = Math.min(model, v);
              break;
            default:
              expect(a.swap(v)).toBe(model);
              model = v;
          }
          expect(a.load()).toBe(model);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe("AtomicU32", () => {
  it("wraps around at 0 and 2 ** 32 - 1", () => {
    const a = new AtomicU32();
    expect(a.fetchSub(1)).toBe(0);
    expect(a.load()).toBe(U32_MAX);
    expect(a.fetchAdd(2)).toBe(U32_MAX);
    expect(a.load()).toBe(1);
  });

  it("compares unsigned in fetchMax / fetchMin and keeps nand unsigned", () => {
    const a = new AtomicU32(2 ** 31);
    expect(a.fetchMax(5)).toBe(2 ** 31); // would be negative as i32
    expect(a.load()).toBe(2 ** 31);
    expect(a.fetchMin(5)).toBe(2 ** 31);
    expect(a.load()).toBe(5);
    a.fetchNand(0xffff);
    expect(a.load()).toBe(wrapU32(~5));
  });

  it("accepts 0 … 2 ** 32 - 1 only", () => {
    const a = new AtomicU32(U32_MAX);
    expect(a.load()).toBe(U32_MAX);
    expect(() => a.store(-1)).toThrow(/`value` to be an integer from 0 to 4294967295, got -1/);
    expect(() => a.store(2 ** 32)).toThrow(RangeError);
    expect(() => new AtomicU32(-1)).toThrow(RangeError);
    expect(a.compareExchange(U32_MAX, 0)).toBe(U32_MAX);
    expect(a.load()).toBe(0);
    expect(a.fetchUpdate((n) => n + 7)).toBe(0);
    expect(a.load()).toBe(7);
  });
});

describe("AtomicI64 / AtomicU64", () => {
  it("work with bigints and wrap around", () => {
    const a = new AtomicI64(I64_MAX);
    expect(a.fetchAdd(1n)).toBe(I64_MAX);
    expect(a.load()).toBe(I64_MIN);
    const u = new AtomicU64();
    expect(u.fetchSub(1n)).toBe(0n);
    expect(u.load()).toBe(U64_MAX);
    expect(u.fetchAdd(1n)).toBe(U64_MAX);
    expect(u.load()).toBe(0n);
  });

  it("every operation on bigints", () => {
    const a = new AtomicI64(12n);
    expect(a.swap(-4n)).toBe(12n);
    expect(a.compareExchange(-4n, 6n)).toBe(-4n);
    expect(a.compareExchange(-4n, 0n)).toBe(6n);
    expect(a.fetchAnd(3n)).toBe(6n);
    expect(a.load()).toBe(2n);
    expect(a.fetchOr(8n)).toBe(2n);
    expect(a.fetchXor(1n)).toBe(10n);
    expect(a.load()).toBe(11n);
    expect(a.fetchMax(-100n)).toBe(11n);
    expect(a.fetchMin(-100n)).toBe(11n);
    expect(a.load()).toBe(-100n);
    expect(a.fetchNand(-1n)).toBe(-100n);
    expect(a.load()).toBe(99n);
    expect(a.fetchUpdate((n) => n * 2n)).toBe(99n);
    expect(a.fetchUpdate(() => undefined)).toBeUndefined();
    expect(a.load()).toBe(198n);
    const u = new AtomicU64(2n ** 63n);
    expect(u.fetchMax(1n)).toBe(2n ** 63n); // unsigned comparison
    expect(u.load()).toBe(2n ** 63n);
    u.fetchNand(0n);
    expect(u.load()).toBe(U64_MAX);
  });

  it("refuse numbers with TypeError and out-of-range bigints with RangeError", () => {
    const a = new AtomicI64();
    expect(() => a.store(1 as never)).toThrow(TypeError);
    expect(() => a.store(1 as never)).toThrow(
      /`value` to be a bigint from -9223372036854775808n to 9223372036854775807n, got 1/,
    );
    expect(() => a.store(I64_MAX + 1n)).toThrow(RangeError);
    expect(() => new AtomicI64(5 as never)).toThrow(TypeError);
    const u = new AtomicU64();
    expect(() => u.fetchAdd(-1n)).toThrow(RangeError);
    expect(() => u.store(U64_MAX + 1n)).toThrow(RangeError);
    expect(() => u.fetchUpdate(() => -1n)).toThrow(RangeError);
    expect(u.load()).toBe(0n);
  });

  it("matches a reference model (property)", () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: U64_MAX }),
        fc.array(fc.tuple(fc.constantFrom("add", "sub", "max", "min"), fc.bigInt({ min: 0n, max: U64_MAX })), {
          maxLength: 20,
        }),
        (start, ops) => {
          const a = new AtomicU64(start);
          let model = start;
          for (const [op, v] of ops) {
            if (op === "add") {
              expect(a.fetchAdd(v)).toBe(model);
              model = BigInt.asUintN(64, model + v);
            } else if (op === "sub") {
              expect(a.fetchSub(v)).toBe(model);
              model = BigInt.asUintN(64, model - v);
            } else if (op === "max") {
              expect(a.fetchMax(v)).toBe(model);
              if (v > model) model = v;
            } else {
              expect(a.fetchMin(v)).toBe(model);
              if (v < model) model = v;
            }
            expect(a.load()).toBe(model);
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe("AtomicBool", () => {
  it("logical operations return the previous value", () => {
    const b = new AtomicBool();
    expect(b.load()).toBe(false);
    expect(b.swap(true)).toBe(false);
    expect(b.fetchAnd(false)).toBe(true);
    expect(b.load()).toBe(false);
    expect(b.fetchOr(true)).toBe(false);
    expect(b.fetchXor(true)).toBe(true);
    expect(b.load()).toBe(false);
    expect(b.fetchNot()).toBe(false);
    expect(b.load()).toBe(true);
    expect(b.fetchNand(true)).toBe(true);
    expect(b.load()).toBe(false);
    expect(b.compareExchange(true, false)).toBe(false);
    expect(b.compareExchange(false, true)).toBe(false);
    expect(b.load()).toBe(true);
    expect(b.fetchUpdate((v) => (v ? undefined : true))).toBeUndefined();
    expect(b.fetchUpdate((v) => !v)).toBe(true);
    expect(b.load()).toBe(false);
  });

  it("reads any non-zero byte as true, and compareExchange(true, …) matches it", () => {
    const buffer = new SharedArrayBuffer(4);
    new Uint8Array(buffer)[2] = 7;
    const b = AtomicBool.at(buffer, 2);
    expect(b.load()).toBe(true);
    expect(b.compareExchange(true, false)).toBe(true);
    expect(b.load()).toBe(false);
    new Uint8Array(buffer)[2] = 2;
    expect(b.fetchXor(true)).toBe(true);
    expect(b.load()).toBe(false);
  });

  it("refuses non-booleans with TypeError", () => {
    const b = new AtomicBool(true);
    expect(() => b.store(1 as never)).toThrow(/`value` to be a boolean, got 1/);
    expect(() => new AtomicBool(0 as never)).toThrow(TypeError);
    expect(() => b.fetchUpdate(() => 1 as never)).toThrow(TypeError);
    expect(b.load()).toBe(true);
  });
});

describe("inspection", () => {
  it("console.log shows the type and the current value", async () => {
    const { inspect } = await import("node:util");
    const a = new AtomicI32(-3);
    expect(inspect(a)).toBe("AtomicI32(-3)");
    a.store(4);
    expect(inspect(a)).toBe("AtomicI32(4)");
    expect(inspect(new AtomicU64(5n))).toBe("AtomicU64(5n)");
    expect(inspect(new AtomicBool(true))).toBe("AtomicBool(true)");
  });
});

describe("from / at / handles", () => {
  const cases = [
    ["AtomicI32", () => new AtomicI32(1), AtomicI32],
    ["AtomicU32", () => new AtomicU32(1), AtomicU32],
    ["AtomicI64", () => new AtomicI64(1n), AtomicI64],
    ["AtomicU64", () => new AtomicU64(1n), AtomicU64],
    ["AtomicBool", () => new AtomicBool(true), AtomicBool],
  ] as const;

  for (const [name, make, Class] of cases) {
    it(`${name}.from rebuilds over the same memory and rejects everything else`, () => {
      const atomic = make();
      const again = Class.from(atomic.handle) as { load(): unknown };
      expect(again.load()).toEqual(atomic.load());
      expect(atomic.handle.type).toBe(`lockbox.threads.${name}`);
      expect(() => Class.from({})).toThrow(TypeError);
      expect(() => Class.from(null)).toThrow(TypeError);
      expect(() => Class.from(42)).toThrow(TypeError);
      expect(() => Class.from({ ...atomic.handle, type: "lockbox.threads.Other" })).toThrow(TypeError);
      expect(() => Class.from({ ...atomic.handle, version: LAYOUT_VERSION + 1 })).toThrow(/layout version/);
      expect(() => Class.from({ ...atomic.handle, buffer: new ArrayBuffer(8) })).toThrow(/SharedArrayBuffer/);
      expect(() => Class.from({ ...atomic.handle, buffer: new SharedArrayBuffer(0) })).toThrow(/at least/);
      expect(() => Class.from({ ...atomic.handle, byteOffset: -1 })).toThrow(TypeError);
      expect(() => Class.from({ ...atomic.handle, byteOffset: "0" })).toThrow(/handle.byteOffset/);
    });
  }

  it("a misaligned offset in a handle is a malformed handle (TypeError)", () => {
    const buffer = new SharedArrayBuffer(16);
    const handle = { type: "lockbox.threads.AtomicI32", version: LAYOUT_VERSION, buffer, byteOffset: 2 };
    expect(() => AtomicI32.from(handle)).toThrow(TypeError);
    expect(AtomicI32.from({ ...handle, byteOffset: 12 }).load()).toBe(0);
    expect(() => AtomicI32.from({ ...handle, byteOffset: 16 })).toThrow(/at least 20 bytes/);
  });

  it("handles of one type are refused by another", () => {
    expect(() => AtomicU32.from(new AtomicI32())).toThrow(/lockbox.threads.AtomicU32 handle/);
    expect(() => AtomicI64.from(new AtomicU64().handle)).toThrow(TypeError);
  });

  it("at() views existing memory without changing it, and checks alignment and size", () => {
    const buffer = new SharedArrayBuffer(16);
    new Int32Array(buffer)[1] = 42;
    const a = AtomicI32.at(buffer, 4);
    expect(a.load()).toBe(42);
    a.fetchAdd(1);
    expect(new Int32Array(buffer)[1]).toBe(43);
    expect(a.handle.byteOffset).toBe(4);
    expect(() => AtomicI32.at(buffer, 2)).toThrow(/multiple of 4/);
    expect(() => AtomicI32.at(buffer, 16)).toThrow(TypeError);
    expect(() => AtomicI64.at(buffer, 4)).toThrow(/multiple of 8/);
    expect(() => AtomicI32.at(new ArrayBuffer(4) as never, 0)).toThrow(TypeError);
    expect(AtomicU64.at(buffer, 8).load()).toBe(0n);
  });

  it("at() over a struct field shares it with the accessor", () => {
    const Stats = struct({ flag: "bool", hits: "u32", total: "i64" });
    const stats = Stats.create({ hits: 5 });
    const { buffer, byteOffset } = stats.handle;
    const hits = AtomicU32.at(buffer, byteOffset + Stats.offsetOf("hits"));
    hits.fetchAdd(2);
    expect(stats.hits).toBe(7);
    AtomicI64.at(buffer, byteOffset + Stats.offsetOf("total")).fetchSub(3n);
    expect(stats.total).toBe(-3n);
    AtomicBool.at(buffer, byteOffset + Stats.offsetOf("flag")).store(true);
    expect(StructLayout.fromHandle(stats.handle).flag).toBe(true);
  });
});

describe("AtomicI32 wait / notify (one thread)", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("waitSync returns not-equal at once, and timed-out after its timeout", () => {
    const a = new AtomicI32(1);
    expect(a.waitSync(0)).toBe("not-equal");
    expect(a.waitSync(1, 0)).toBe("timed-out");
  });

  it("waitSync turns the runtime's refusal to block into WouldBlockError", () => {
    const a = new AtomicI32(0);
    const spy = vi.spyOn(Atomics, "wait").mockImplementation(() => {
      throw new TypeError("Atomics.wait cannot be called in this context");
    });
    try {
      expect(() => a.waitSync(0)).toThrow(WouldBlockError);
    } finally {
      spy.mockRestore();
    }
  });

  it("waitSync throws WouldBlockError where blocking is forbidden, even when the value differs", () => {
    const a = new AtomicI32(1);
    setBlockingProbe(() => false);
    try {
      expect(() => a.waitSync(0)).toThrow(WouldBlockError);
      expect(() => a.waitSync(1, 0)).toThrow(/AtomicI32.waitSync/);
    } finally {
      setBlockingProbe(undefined);
    }
    expect(a.waitSync(0)).toBe("not-equal");
  });

  it("validates arguments", () => {
    const a = new AtomicI32();
    expect(() => a.waitSync(0.5)).toThrow(RangeError);
    expect(() => a.waitSync(0, -1)).toThrow(/`timeout`/);
    expect(() => a.notify(-1)).toThrow(/`count`/);
    expect(() => a.notify(1.5)).toThrow(RangeError);
  });

  it("waitAsync resolves not-equal at once and ok on notify, keeping the loop alive meanwhile", async () => {
    const a = new AtomicI32(0);
    expect(await assertReady(a.waitAsync(1))).toBe("not-equal");
    // The handle itself, not a count of the process's timers (other tests' timers come and go).
    expect(parkedWaiters()).toBe(0);
    const first = a.waitAsync(0);
    const second = a.waitAsync(0);
    await assertPending(first);
    // The thread's one shared keep-alive handle is ref'd while any wait is pending.
    expect(parkedWaiters()).toBe(2);
    expect(keepsAlive()).toBe(true);
    expect(a.notify(1)).toBe(1);
    expect(await first).toBe("ok");
    await assertPending(second);
    expect(parkedWaiters()).toBe(1);
    expect(keepsAlive()).toBe(true);
    expect(a.notify()).toBe(1);
    expect(await second).toBe("ok");
    await poll(second);
    expect(parkedWaiters()).toBe(0);
    expect(keepsAlive()).toBe(false);
  });

  it("waitAsync times out", async () => {
    const a = new AtomicI32(0);
    expect(await a.waitAsync(0, { timeout: 1 })).toBe("timed-out");
    expect(await a.waitAsync(0, { timeout: 0 })).toBe("timed-out");
  });

  it("waitAsync rejects bad arguments instead of throwing", async () => {
    const a = new AtomicI32();
    await expect(a.waitAsync(2 ** 31)).rejects.toThrow(RangeError);
    await expect(a.waitAsync(0, { timeout: Number.NaN })).rejects.toThrow(RangeError);
    await expect(a.waitAsync(0, 5 as never)).rejects.toThrow(TypeError);
  });
});
