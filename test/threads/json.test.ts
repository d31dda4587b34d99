import fc from "fast-check";
import { describe, expect, it, vi } from "vitest";
import { LAYOUT_VERSION } from "../../src/threads/memory/handle.js";
import { bindJson, JsonCell, json } from "../../src/threads/memory/json.js";

const utf8 = (text: string) => new TextEncoder().encode(text).length;

describe("json cells", () => {
  it("round-trips JSON values", () => {
    const value = { a: [1, 2, { b: "é😀" }], n: null, t: true, x: 1.5 };
    const cell = json(value);
    expect(cell.get()).toEqual(value);
    expect(cell.get()).not.toBe(cell.get()); // a fresh copy each time
    expect(cell.byteLength).toBe(utf8(JSON.stringify(value)));
    cell.set({ a: [], n: null, t: false, x: 0 });
    expect(cell.get()).toEqual({ a: [], n: null, t: false, x: 0 });
    for (const scalar of [0, "s", null, false, [] as unknown[]]) expect(json(scalar).get()).toEqual(scalar);
  });

  it("lives in a growable SharedArrayBuffer that starts small and grows up to 16 + 2 × maxBytes", () => {
    const cell = json("", { maxBytes: 1000 });
    const buffer = cell.handle.buffer;
    expect(buffer.growable).toBe(true);
    expect(buffer.maxByteLength).toBe(2016);
    expect(buffer.byteLength).toBe(16 + 2);
    cell.set("x".repeat(100)); // into the second slot
    expect(buffer.byteLength).toBeGreaterThanOrEqual(16 + 1000 + 102);
    expect(cell.get()).toBe("x".repeat(100));
    cell.set("y".repeat(998)); // exactly 1000 bytes with the quotes
    expect(buffer.byteLength).toBeLessThanOrEqual(2016);
    expect(cell.get()).toBe("y".repeat(998));
    cell.set("short"); // shrinking the text does not shrink the buffer
    expect(cell.get()).toBe("short");
  });

  it("refuses a value past maxBytes with RangeError, leaving the stored value unchanged", () => {
    const cell = json({ k: "v" }, { maxBytes: 16 });
    expect(() => cell.set({ k: "0123456789abc" })).toThrow(/at most 16 bytes of JSON \(maxBytes\), got 21 bytes/);
    expect(cell.get()).toEqual({ k: "v" });
    // Counted in UTF-8 bytes, not UTF-16 units.
    expect(() => cell.set({ k: "😀😀😀" })).toThrow(RangeError);
    expect(cell.get()).toEqual({ k: "v" });
    expect(() => json("x".repeat(20), { maxBytes: 16 })).toThrow(/`initial`/);
  });

  it("encodes values of every size class (reused scratch, grown scratch, one-off memory past 1 MiB)", () => {
    const cell = json<string>("", { maxBytes: 3 << 20 });
    for (const length of [10, 5_000, 100_000, 1_500_000]) {
      const text = "é".repeat(length / 2) + "x".repeat(length / 2);
      cell.set(text);
      expect(cell.get()).toBe(text);
      expect(cell.byteLength).toBe(utf8(JSON.stringify(text)));
    }
    expect(() => cell.set("😀".repeat(1 << 20))).toThrow(/got 4194306 bytes/);
    expect(cell.get().length).toBe(1_500_000);
  });

  it("refuses values without a JSON form with TypeError, leaving the stored value unchanged", () => {
    const cell = json<unknown>(1);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => cell.set(undefined)).toThrow(TypeError);
    expect(() => cell.set(() => 1)).toThrow(TypeError);
    expect(() => cell.set(1n)).toThrow(TypeError);
    expect(() => cell.set(cyclic)).toThrow(/JSON-serializable/);
    expect(cell.get()).toBe(1);
    expect(() => json(undefined)).toThrow(TypeError);
  });

  it("validates options", () => {
    expect(() => json(1, { maxBytes: 0 })).toThrow(/`maxBytes` to be an integer from 1 to 1073741824/);
    expect(() => json(1, { maxBytes: 1.5 })).toThrow(RangeError);
    expect(() => json(1, { maxBytes: "8" as never })).toThrow(TypeError);
    expect(() => json(1, 5 as never)).toThrow(TypeError);
    expect(json(1).maxBytes).toBe(65536);
  });

  it("from() rebuilds over the same memory; growth by one side is seen by the other", () => {
    const cell = json({ n: 1 }, { maxBytes: 4096 });
    const other = JsonCell.from<{ n: number; pad?: string }>(structuredClone(cell));
    other.set({ n: 2, pad: "p".repeat(1000) });
    expect(cell.get()).toEqual({ n: 2, pad: "p".repeat(1000) });
    expect(JsonCell.from(structuredClone(cell.handle)).get()).toEqual({ n: 2, pad: "p".repeat(1000) });
    expect(cell.handle).toMatchObject({ type: "lockbox.threads.Json", version: LAYOUT_VERSION, maxBytes: 4096 });
  });

  it("from() rejects bad handles", () => {
    const h = json(1, { maxBytes: 64 }).handle;
    expect(() => JsonCell.from({ ...h, type: "lockbox.threads.Struct" })).toThrow(TypeError);
    expect(() => JsonCell.from({ ...h, version: LAYOUT_VERSION + 1 })).toThrow(/layout version/);
    expect(() => JsonCell.from({ ...h, buffer: new ArrayBuffer(68) })).toThrow(/SharedArrayBuffer/);
    expect(() => JsonCell.from({ ...h, buffer: new SharedArrayBuffer(2) })).toThrow(/at least 16/);
    expect(() => JsonCell.from({ ...h, buffer: new SharedArrayBuffer(30) })).toThrow(/without a lockbox.threads tag/);
    const small = new SharedArrayBuffer(30);
    new Int32Array(small, 0, 2).set(new Int32Array(h.buffer, 0, 2));
    expect(() => JsonCell.from({ ...h, buffer: small })).toThrow(/at least 144/);
    expect(() => JsonCell.from({ ...h, maxBytes: -1 })).toThrow(TypeError);
    expect(() => JsonCell.from("cell")).toThrow(TypeError);
  });

  it("works over a fixed-size (non-growable) buffer too", () => {
    const buffer = new SharedArrayBuffer(16 + 2 * 32);
    // The memory tag and version of a JSON cell (see src/threads/memory/json.ts).
    new Int32Array(buffer).set(new Int32Array(json(0).handle.buffer, 0, 2));
    const cell = JsonCell.from<string[]>({
      type: "lockbox.threads.Json",
      version: LAYOUT_VERSION,
      buffer,
      maxBytes: 32,
    });
    cell.set(["a", "b"]);
    expect(cell.get()).toEqual(["a", "b"]);
    expect(() => cell.set(["x".repeat(40)])).toThrow(RangeError);
    expect(cell.get()).toEqual(["a", "b"]);
  });

  it("falls back to a fixed 16 + 2 × maxBytes buffer where SharedArrayBuffer cannot grow", async () => {
    const proto = SharedArrayBuffer.prototype as unknown as Record<string, unknown>;
    const grow = Object.getOwnPropertyDescriptor(proto, "grow")!;
    delete proto.grow;
    vi.resetModules();
    try {
      const fresh = await import("../../src/threads/memory/json.js");
      const cell = fresh.json<{ a: number | string }>({ a: 1 }, { maxBytes: 100 });
      expect(cell.handle.buffer.growable).toBe(false);
      expect(cell.handle.buffer.byteLength).toBe(216);
      cell.set({ a: "x".repeat(80) });
      expect(cell.get()).toEqual({ a: "x".repeat(80) });
      expect(() => cell.set({ a: "x".repeat(100) })).toThrow(RangeError);
      expect(JsonCell.from(cell.handle).get()).toEqual({ a: "x".repeat(80) });
    } finally {
      Object.defineProperty(proto, "grow", grow);
      vi.resetModules();
    }
  });

  it("copies out of shared memory before decoding where TextDecoder refuses shared views (the web)", async () => {
    const original = TextDecoder.prototype.decode;
    const spy = vi.spyOn(TextDecoder.prototype, "decode").mockImplementation(function (this: TextDecoder, input) {
      if (input && ArrayBuffer.isView(input) && input.buffer instanceof SharedArrayBuffer) {
        throw new TypeError("shared views are not allowed");
      }
      return original.call(this, input);
    });
    vi.resetModules();
    try {
      const fresh = await import("../../src/threads/memory/json.js");
      const cell = fresh.json({ s: "zoë" });
      expect(cell.get()).toEqual({ s: "zoë" });
      const structs = await import("../../src/threads/memory/struct.js");
      const L = structs.struct({ s: structs.string(200) });
      const long = "ü".repeat(90);
      expect(L.create({ s: long }).s).toBe(long);
    } finally {
      spy.mockRestore();
      vi.resetModules();
    }
  });

  it("never reads past the buffer, whatever the length word says", () => {
    const cell = json("ok", { maxBytes: 64 });
    expect(cell.handle.buffer.byteLength).toBe(16 + 4);
    new Int32Array(cell.handle.buffer)[2] = 2 ** 31 - 1; // STATE: slot 0, an absurd length
    expect(cell.byteLength).toBe(4); // clamped to what the buffer holds
    expect(cell.get()).toBe("ok");
  });

  it("round-trips any JSON value (property)", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = JSON.stringify(value);
        const cell = json(value, { maxBytes: Math.max(1, utf8(text)) });
        expect(JSON.stringify(cell.get())).toBe(text);
        expect(JSON.stringify(JsonCell.from(cell.handle).get())).toBe(text);
      }),
      { numRuns: 100 },
    );
  });
});

describe("bindJson", () => {
  it("decodes on open and writes back on close only when the JSON changed", () => {
    const cell = json({ n: 1, tags: ["a"] });
    const binding = bindJson(cell);
    const value = binding.open();
    value.tags.push("b");
    const before = cell.handle.buffer.byteLength;
    binding.close(value);
    expect(cell.get()).toEqual({ n: 1, tags: ["a", "b"] });
    expect(cell.handle.buffer.byteLength).toBeGreaterThanOrEqual(before);

    // Unchanged value: memory is not written (a foreign byte planted in unused space survives).
    const same = binding.open();
    const bytes = new Uint8Array(cell.handle.buffer);
    const length = new Uint32Array(cell.handle.buffer, 0, 1)[0]!;
    const spare = bytes.length > 4 + length ? 4 + length : undefined;
    if (spare !== undefined) bytes[spare] = 0x7a;
    new Uint32Array(cell.handle.buffer, 0, 1)[0] = length;
    const writesBefore = Atomics.load(new Uint32Array(cell.handle.buffer, 0, 1), 0);
    binding.close(same);
    expect(Atomics.load(new Uint32Array(cell.handle.buffer, 0, 1), 0)).toBe(writesBefore);
    if (spare !== undefined) expect(bytes[spare]).toBe(0x7a);
  });

  it("replace keeps the new plain value, which close writes", () => {
    const cell = json<{ n: number } | number[]>({ n: 1 });
    const binding = bindJson(cell);
    binding.open();
    const next = binding.replace([1, 2, 3]);
    expect(next).toEqual([1, 2, 3]);
    expect(cell.get()).toEqual({ n: 1 }); // not yet
    binding.close(next);
    expect(cell.get()).toEqual([1, 2, 3]);
  });

  it("close past maxBytes throws RangeError and leaves the stored value unchanged", () => {
    const cell = json({ s: "" }, { maxBytes: 20 });
    const binding = bindJson(cell);
    const value = binding.open();
    value.s = "x".repeat(50);
    expect(() => binding.close(value)).toThrow(RangeError);
    expect(cell.get()).toEqual({ s: "" });
  });

  it("two bindings over the same memory agree with a model, including refused oversized values (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ side: fc.constantFrom(0, 1), next: fc.option(fc.jsonValue({ maxDepth: 2 })) }), {
          maxLength: 20,
        }),
        (steps) => {
          const MAX = 64;
          const first = json<unknown>(0, { maxBytes: MAX });
          const sides = [bindJson(first), bindJson(JsonCell.from(structuredClone(first.handle)))];
          let model = "0";
          for (const { side, next } of steps) {
            const binding = sides[side]!;
            let value = binding.open();
            expect(JSON.stringify(value)).toBe(model);
            if (next !== null) value = binding.replace(next);
            const text = JSON.stringify(value);
            if (utf8(text) > MAX) {
              expect(() => binding.close(value)).toThrow(RangeError);
            } else {
              binding.close(value);
              model = text;
            }
            expect(JSON.stringify(first.get())).toBe(model);
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});
