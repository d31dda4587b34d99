import { describe, expect, it } from "vitest";
import { LAYOUT_VERSION } from "../../src/threads/memory/handle.js";
import { JsonCell, json } from "../../src/threads/memory/json.js";
import { bindData, dataFromHandle, dataHandle } from "../../src/threads/memory/shared-data.js";
import { array, StructLayout, string, struct } from "../../src/threads/memory/struct.js";

const Point = struct({ x: "i32", y: "i32", name: string(8), tags: array("u8", 2) });

describe("bindData", () => {
  it("null: open gives null, replace throws TypeError, close does nothing", () => {
    const binding = bindData(null);
    expect(binding.open()).toBeNull();
    expect(() => binding.replace(null)).toThrow(/without data/);
    expect(() => binding.close(null)).not.toThrow();
  });

  it("SharedArrayBuffer: open gives the buffer, replace copies bytes of the same length into it", () => {
    const buffer = new SharedArrayBuffer(4);
    const binding = bindData(buffer);
    expect(binding.open()).toBe(buffer);
    expect(binding.replace(new Uint8Array([1, 2, 3, 4]).buffer as never)).toBe(buffer);
    expect([...new Uint8Array(buffer)]).toEqual([1, 2, 3, 4]);
    expect(binding.replace(new Uint16Array([0x0505, 0x0606]) as never)).toBe(buffer);
    expect([...new Uint8Array(buffer)]).toEqual([5, 5, 6, 6]);
    expect(() => binding.replace(new SharedArrayBuffer(3))).toThrow(/4 bytes long, got 3/);
    expect(() => binding.replace({} as never)).toThrow(TypeError);
    expect([...new Uint8Array(buffer)]).toEqual([5, 5, 6, 6]);
    expect(binding.replace(buffer)).toBe(buffer);
  });

  it("typed array: open gives the view, replace sets the same number of elements", () => {
    const view = new Int32Array(new SharedArrayBuffer(16), 4, 2);
    const binding = bindData(view);
    expect(binding.open()).toBe(view);
    expect(binding.replace(new Int32Array([7, -8]) as never)).toBe(view);
    expect([...view]).toEqual([7, -8]);
    expect(binding.replace([1, 2] as never)).toBe(view);
    expect([...view]).toEqual([1, 2]);
    expect(() => binding.replace(new Int32Array(3) as never)).toThrow(/2 elements, got 3/);
    expect(() => binding.replace(5 as never)).toThrow(TypeError);
    expect([...new Int32Array(view.buffer)]).toEqual([0, 1, 2, 0]); // only its own window changed
  });

  it("DataView: replace copies bytes", () => {
    const view = new DataView(new SharedArrayBuffer(8), 2, 2);
    const binding = bindData(view);
    expect(binding.replace(new DataView(new Uint8Array([9, 8]).buffer) as never)).toBe(view);
    expect([...new Uint8Array(view.buffer)]).toEqual([0, 0, 9, 8, 0, 0, 0, 0]);
    expect(() => binding.replace(new DataView(new ArrayBuffer(3)) as never)).toThrow(RangeError);
  });

  it("struct: open gives the instance, replace writes its fields in place", () => {
    const p = Point.create({ x: 1, name: "p" });
    const binding = bindData(p);
    expect(binding.open()).toBe(p);
    const q = Point.create({ y: 5, tags: [1, 2] });
    expect(binding.replace(q)).toBe(p);
    expect(Point.toObject(p)).toEqual({ x: 0, y: 5, name: "", tags: [1, 2] });
    expect(binding.replace({ x: 3 } as never)).toBe(p);
    expect(Point.toObject(p)).toEqual({ x: 3, y: 0, name: "", tags: [0, 0] });
    expect(() => binding.replace({ name: "much too long" } as never)).toThrow(RangeError);
    expect(p.x).toBe(3);
    expect(binding.replace(p)).toBe(p);
    expect(p.x).toBe(3);
  });

  it("json: open decodes, replace keeps the plain value, close writes back when changed", () => {
    const cell = json({ n: 1 }, { maxBytes: 32 });
    const binding = bindData(cell);
    const value = binding.open();
    expect(value).toEqual({ n: 1 });
    value.n = 2;
    binding.close(value);
    expect(cell.get()).toEqual({ n: 2 });
    const next = binding.replace({ n: 3 });
    binding.close(next);
    expect(cell.get()).toEqual({ n: 3 });
    const big = binding.open();
    (big as Record<string, unknown>).pad = "x".repeat(64);
    expect(() => binding.close(big)).toThrow(RangeError);
    expect(cell.get()).toEqual({ n: 3 });
  });

  it("refuses data threads cannot share with TypeError", () => {
    for (const bad of [
      {},
      [1, 2],
      new Int32Array(4),
      new DataView(new ArrayBuffer(4)),
      new ArrayBuffer(4),
      undefined,
      1,
      "s",
      new Map(),
      { handle: Point.create().handle },
    ]) {
      expect(() => bindData(bad), String(bad)).toThrow(TypeError);
      expect(() => dataHandle(bad)).toThrow(TypeError);
    }
    expect(() => bindData(new Int32Array(4))).toThrow(/plain ArrayBuffer/);
  });
});

describe("dataHandle / dataFromHandle", () => {
  it("rebuild every kind over the same memory after a structured clone", () => {
    expect(dataFromHandle(structuredClone(dataHandle(null)))).toBeNull();

    const buffer = new SharedArrayBuffer(4);
    const buffer2 = dataFromHandle(structuredClone(dataHandle(buffer))) as SharedArrayBuffer;
    new Uint8Array(buffer2)[0] = 1;
    expect(new Uint8Array(buffer)[0]).toBe(1);

    const view = new Float64Array(new SharedArrayBuffer(24), 8, 2);
    const view2 = dataFromHandle(structuredClone(dataHandle(view))) as Float64Array;
    expect(view2).toBeInstanceOf(Float64Array);
    expect([view2.byteOffset, view2.length]).toEqual([8, 2]);
    view2[1] = 0.25;
    expect(view[1]).toBe(0.25);

    const p = Point.create({ x: 4 });
    const p2 = dataFromHandle(structuredClone(dataHandle(p))) as typeof p;
    expect(StructLayout.layoutOf(p2)).toBeDefined();
    p2.y = 9;
    expect(Point.toObject(p)).toMatchObject({ x: 4, y: 9 });
    // A posted instance (which clones as { handle }) works as well as its handle.
    expect((dataFromHandle(structuredClone(p)) as typeof p).x).toBe(4);

    const cell = json(["a"]);
    const cell2 = dataFromHandle(structuredClone(dataHandle(cell))) as JsonCell<string[]>;
    expect(cell2).toBeInstanceOf(JsonCell);
    cell2.set(["b"]);
    expect(cell.get()).toEqual(["b"]);
  });

  it("rejects what is not a shared-data handle: wrong tag, other version, foreign or small buffer", () => {
    const p = Point.create();
    expect(() => dataFromHandle({ ...p.handle, type: "lockbox.threads.Mutex" })).toThrow(TypeError);
    expect(() => dataFromHandle({ ...p.handle, version: LAYOUT_VERSION + 1 })).toThrow(/layout version/);
    expect(() => dataFromHandle({ ...p.handle, buffer: new SharedArrayBuffer(1) })).toThrow(/at least/);
    const h = json(1).handle;
    expect(() => dataFromHandle({ ...h, buffer: new ArrayBuffer(8) })).toThrow(/SharedArrayBuffer/);
    expect(() => dataFromHandle(new Uint8Array(4))).toThrow(TypeError);
    expect(() => dataFromHandle(undefined)).toThrow(TypeError);
    expect(() => dataFromHandle({})).toThrow(TypeError);
    expect(() => dataFromHandle("x")).toThrow(TypeError);
  });
});
