import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LAYOUT_VERSION } from "../../src/threads/memory/handle.js";
import { array, type ScalarType, StructLayout, string, struct } from "../../src/threads/memory/struct.js";

describe("struct layout", () => {
  it("lays fields out in order with natural alignment, size rounded to the struct alignment", () => {
    const L = struct({ a: "u8", b: "i32", c: "u8", d: "f64", e: "i16" });
    expect([L.offsetOf("a"), L.offsetOf("b"), L.offsetOf("c"), L.offsetOf("d"), L.offsetOf("e")]).toEqual([
      0, 4, 8, 16, 24,
    ]);
    expect(L.align).toBe(8);
    expect(L.size).toBe(32);
  });

  it("gives every scalar its size and alignment", () => {
    for (const [type, size] of Object.entries(SIZES)) {
      const L = struct({ pad: "u8", x: type as ScalarType });
      expect(L.offsetOf("x"), type).toBe(size);
      expect(L.size, type).toBe(2 * size);
      expect(L.align, type).toBe(size);
    }
  });

  it("sizes arrays, strings and nested structs", () => {
    const Inner = struct({ x: "u8", y: "f64" }); // size 16, align 8
    const L = struct({ flag: "bool", name: string(5), nums: array("u16", 3), inner: Inner, last: "u8" });
    expect(L.offsetOf("name")).toBe(4); // u32 length word: align 4
    expect(L.offsetOf("nums")).toBe(14); // 4 + 4 + 5 = 13 → align 2
    expect(L.offsetOf("inner")).toBe(24); // 20 → align 8
    expect(L.offsetOf("last")).toBe(40);
    expect(L.size).toBe(48);
    expect(struct({}).size).toBe(0);
    expect(struct({}).align).toBe(1);
  });

  it("rejects bad field types, reserved names and bad array / string parameters", () => {
    expect(() => struct({ x: "i128" as never })).toThrow(/`fields.x` to be a field type/);
    expect(() => struct({ x: {} as never })).toThrow(TypeError);
    expect(() => struct({ handle: "i32" })).toThrow(/"handle"/);
    expect(() => struct(null as never)).toThrow(TypeError);
    expect(() => array("bool" as never, 2)).toThrow(TypeError);
    expect(() => array("i32", 0)).toThrow(RangeError);
    expect(() => array("i32", 1.5)).toThrow(RangeError);
    expect(() => string(0)).toThrow(/`maxBytes` to be an integer from 1/);
    expect(() => struct({ big: array("u8", 2 ** 30), more: "u8" })).toThrow(RangeError);
  });
});

describe("struct instances", () => {
  const Vec2 = struct({ x: "f32", y: "f32" });
  const Player = struct({
    id: "u64",
    pos: Vec2,
    name: string(12),
    scores: array("i32", 4),
    alive: "bool",
    hp: "i16",
  });

  it("create() zeroes the memory and applies init, including nested and array fields", () => {
    const blank = Player.create();
    expect(Player.toObject(blank)).toEqual({
      id: 0n,
      pos: { x: 0, y: 0 },
      name: "",
      scores: [0, 0, 0, 0],
      alive: false,
      hp: 0,
    });
    const p = Player.create({ id: 7n, pos: { y: 2.5 }, name: "ada", scores: [1, -2], alive: true, hp: -300 });
    expect(Player.toObject(p)).toEqual({
      id: 7n,
      pos: { x: 0, y: 2.5 },
      name: "ada",
      scores: [1, -2, 0, 0],
      alive: true,
      hp: -300,
    });
    expect(p.handle.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(p.handle.buffer.byteLength).toBe(Player.size);
  });

  it("accessors write to the shared memory, arrays and nested structs are views of it", () => {
    const p = Player.create();
    p.hp = 12;
    p.pos.x = 1.5;
    p.scores[2] = 99;
    const bytes = new DataView(p.handle.buffer);
    expect(bytes.getInt16(Player.offsetOf("hp"), true)).toBe(12);
    expect(bytes.getFloat32(Player.offsetOf("pos") + Vec2.offsetOf("x"), true)).toBe(1.5);
    expect(bytes.getInt32(Player.offsetOf("scores") + 8, true)).toBe(99);
    expect(p.scores).toBeInstanceOf(Int32Array);
    expect(p.scores).toBe(p.scores); // the same view each time
    expect(() => {
      (p as unknown as { scores: unknown }).scores = [1];
    }).toThrow(TypeError);
  });

  it("validates every written value; a rejected write leaves the field unchanged", () => {
    const L = struct({ a: "i8", b: "u16", c: "u32", d: "i64", e: "bool", f: "f64", g: "u64" });
    const s = L.create({ a: 1, b: 2, c: 3, d: 4n, e: true, f: 0.5, g: 6n });
    expect(() => {
      s.a = 128;
    }).toThrow(/`a` to be an integer from -128 to 127, got 128/);
    expect(() => {
      s.b = -1;
    }).toThrow(RangeError);
    expect(() => {
      s.c = 1.5;
    }).toThrow(RangeError);
    expect(() => {
      s.d = 1 as never;
    }).toThrow(TypeError);
    expect(() => {
      s.e = 1 as never;
    }).toThrow(TypeError);
    expect(() => {
      s.f = "1" as never;
    }).toThrow(TypeError);
    expect(() => {
      s.g = -1n;
    }).toThrow(RangeError);
    expect(L.toObject(s)).toEqual({ a: 1, b: 2, c: 3, d: 4n, e: true, f: 0.5, g: 6n });
    expect(() => L.create({ zz: 1 } as never)).toThrow(/only fields of this struct \(a, b, c, d, e, f, g\), got "zz"/);
    expect(() => Player.create({ scores: [1, 2, 3, 4, 5] })).toThrow(/at most 4 elements/);
    expect(() => Player.create({ scores: [2 ** 31] })).toThrow(/`init.scores\[0\]`/);
    expect(() => Player.create({ pos: 5 as never })).toThrow(/`init.pos`/);
  });

  it("stores multi-byte UTF-8 strings up to maxBytes bytes, and refuses longer ones unchanged", () => {
    const L = struct({ s: string(8) });
    const v = L.create();
    v.s = "é😀"; // 2 + 4 bytes
    expect(v.s).toBe("é😀");
    v.s = "12345678";
    expect(v.s).toBe("12345678");
    v.s = "😀😀"; // exactly 8 bytes
    expect(v.s).toBe("😀😀");
    expect(() => {
      v.s = "😀😀a"; // 9 bytes, though only 5 UTF-16 units
    }).toThrow(/at most 8 UTF-8 bytes, got 9 bytes/);
    expect(v.s).toBe("😀😀");
    v.s = "";
    expect(v.s).toBe("");
    expect(() => {
      v.s = 5 as never;
    }).toThrow(TypeError);
  });

  it("strings round-trip on both sides of the short-ASCII fast path and past the encode scratch size", () => {
    const L = struct({ s: string(100), huge: string(5000) });
    const v = L.create();
    for (const text of ["a".repeat(64), "b".repeat(65), `${"c".repeat(63)}é`, `é${"d".repeat(80)}`, "\u0000\u007f"]) {
      v.s = text;
      expect(v.s).toBe(text);
    }
    expect(() => {
      v.s = "x".repeat(101);
    }).toThrow(/got 101 bytes/);
    expect(v.s).toBe("\u0000\u007f");
    v.huge = "é".repeat(100); // short non-ASCII in a large capacity: encoded in the scratch
    expect(v.huge).toBe("é".repeat(100));
    const long = "ü".repeat(2500); // 5000 bytes: beyond the 4096-byte scratch
    v.huge = long;
    expect(v.huge).toBe(long);
    expect(() => {
      v.huge = `${long}!`;
    }).toThrow(/at most 5000 UTF-8 bytes, got 5001 bytes/);
    expect(v.huge).toBe(long);
  });

  it("never reads a string past its capacity, whatever the length word says", () => {
    const L = struct({ s: string(4), after: "u8" });
    const v = L.create({ s: "abcd", after: 65 });
    new DataView(v.handle.buffer).setUint32(0, 1000, true);
    expect(v.s).toBe("abcd");
  });

  it("replace() writes every field (omitted ones become zero) and is all-or-nothing", () => {
    const p = Player.create({ id: 1n, name: "ada", hp: 5 });
    Player.replace(p, { id: 2n, scores: [9] });
    expect(Player.toObject(p)).toEqual({
      id: 2n,
      pos: { x: 0, y: 0 },
      name: "",
      scores: [9, 0, 0, 0],
      alive: false,
      hp: 0,
    });
    expect(() => Player.replace(p, { id: 3n, name: "far too long a name" })).toThrow(RangeError);
    expect(p.id).toBe(2n);
    const other = Player.create({ name: "bob", alive: true });
    Player.replace(p, other);
    expect(Player.toObject(p)).toEqual(Player.toObject(other));
    expect(() => Player.replace(Vec2.create() as never, {})).toThrow(TypeError);
  });

  it("nested init accepts an instance of the nested layout (bytes copied) but not another layout", () => {
    const v = Vec2.create({ x: 1, y: 2 });
    const p = Player.create({ pos: v });
    expect(Player.toObject(p).pos).toEqual({ x: 1, y: 2 });
    v.x = 5;
    expect(p.pos.x).toBe(1); // a copy, not an alias
    const Other = struct({ a: "f32", b: "f32" });
    expect(() => Player.create({ pos: Other.create() as never })).toThrow(/same struct layout/);
  });

  it("arrays of structs: laid out back to back, frozen, built once, written through", () => {
    const Slot = struct({ busy: "bool", jobId: "u32" }); // size 8, align 4
    const Table = struct({ n: "u8", slots: array(Slot, 3), tail: "u16" });
    expect(Table.offsetOf("slots")).toBe(4);
    expect(Table.offsetOf("tail")).toBe(28);
    expect(Table.size).toBe(32);
    const t = Table.create({ slots: [{ jobId: 5 }, Slot.create({ busy: true, jobId: 6 })] });
    expect(t.slots).toBe(t.slots);
    expect(Object.isFrozen(t.slots)).toBe(true);
    expect(t.slots).toHaveLength(3);
    t.slots[2]!.jobId = 9;
    expect(new DataView(t.handle.buffer).getUint32(4 + 2 * 8 + 4, true)).toBe(9);
    expect(t.slots[1]!.handle.byteOffset).toBe(12);
    expect(Table.toObject(t).slots).toEqual([
      { busy: false, jobId: 5 },
      { busy: true, jobId: 6 },
      { busy: false, jobId: 9 },
    ]);
    const again = StructLayout.fromHandle(structuredClone(t.handle)) as typeof t;
    expect(Table.toObject(again)).toEqual(Table.toObject(t));
    expect(() => Table.create({ slots: [{}, {}, {}, {}] })).toThrow(/at most 3 elements/);
    expect(() => Table.create({ slots: [{ jobId: -1 }] })).toThrow(RangeError);
    expect(() => Table.create({ slots: [5 as never] })).toThrow(/`init.slots\[0\]`/);
    Table.replace(t, { n: 1 });
    expect(Table.toObject(t).slots).toEqual([
      { busy: false, jobId: 0 },
      { busy: false, jobId: 0 },
      { busy: false, jobId: 0 },
    ]);
    expect(() => array(Slot, 0)).toThrow(RangeError);
  });

  it("refuse unknown fields: a TypeError naming the field, nothing added, known fields still written", () => {
    const Inner = struct({ x: "i32" });
    const L = struct({ a: "u32", inner: Inner, items: array(Inner, 2) });
    const instance = L.create({ a: 1 }) as unknown as Record<string, unknown>;
    const targets: [string, Record<string, unknown>][] = [
      ["instance", instance],
      ["nested", instance.inner as Record<string, unknown>],
      ["array element", (instance.items as Record<string, unknown>[])[0]!],
      ["from()", L.from(L.create().handle) as unknown as Record<string, unknown>],
    ];
    for (const [where, target] of targets) {
      expect(() => {
        target.typo = 5; // this file is a module: strict mode, where a refused write throws
      }, where).toThrow(new TypeError("Cannot add property typo, object is not extensible"));
      expect("typo" in target, where).toBe(false);
      expect(() => Object.defineProperty(target, "other", { value: 1 }), where).toThrow(TypeError);
    }
    instance.a = 7;
    (instance.inner as Record<string, unknown>).x = -3;
    expect(L.toObject(instance as never)).toMatchObject({ a: 7, inner: { x: -3 } });
  });

  it("instances of a layout share one prototype with the accessors", () => {
    const a = Player.create();
    const b = Player.create();
    expect(Object.getPrototypeOf(a)).toBe(Object.getPrototypeOf(b));
    expect(Object.keys(a)).toEqual(["handle"]);
    expect(Object.getOwnPropertyDescriptor(Object.getPrototypeOf(a), "hp")?.get).toBeTypeOf("function");
  });
});

describe("struct handles", () => {
  const L = struct({ n: "u32", label: string(8), inner: struct({ v: "i64" }) });

  it("from() and fromHandle() rebuild over the same memory after a structured clone", () => {
    const s = L.create({ n: 1, label: "x", inner: { v: 5n } });
    const viaLayout = L.from(structuredClone(s));
    const viaHandle = StructLayout.fromHandle(structuredClone(s.handle)) as typeof s;
    viaLayout.n = 2;
    viaHandle.inner.v = 6n;
    expect(s.n).toBe(2);
    expect(s.inner.v).toBe(6n);
    expect(L.toObject(viaHandle)).toEqual(L.toObject(s));
    expect(s.handle).toMatchObject({ type: "lockbox.threads.Struct", version: LAYOUT_VERSION, byteOffset: 0 });
    // The nested instance has its own handle, at its offset in the same buffer.
    expect(s.inner.handle.buffer).toBe(s.handle.buffer);
    expect(s.inner.handle.byteOffset).toBe(L.offsetOf("inner"));
    expect(StructLayout.fromHandle(s.inner.handle).v).toBe(6n);
  });

  it("rejects handles of another layout, type or version, and foreign or too small buffers", () => {
    const s = L.create();
    const h = s.handle;
    expect(() => struct({ n: "i32" }).from(s)).toThrow(/another layout/);
    expect(() => L.from({ ...h, type: "lockbox.threads.Json" })).toThrow(TypeError);
    expect(() => L.from({ ...h, version: 99 })).toThrow(/layout version/);
    expect(() => L.from({ ...h, buffer: new ArrayBuffer(64) })).toThrow(/SharedArrayBuffer/);
    expect(() => L.from({ ...h, buffer: new SharedArrayBuffer(L.size - 1) })).toThrow(/at least/);
    expect(() => L.from({ ...h, byteOffset: 4 })).toThrow(/multiple of 8/);
    expect(() => L.from({ ...h, byteOffset: 4 })).toThrow(TypeError);
    expect(() => L.from({ ...h, byteOffset: 8 })).toThrow(/at least/);
    expect(() => StructLayout.fromHandle({ ...h, layout: { kind: "struct", fields: [["x", "i99"]] } })).toThrow(
      TypeError,
    );
    expect(() => StructLayout.fromHandle({ ...h, layout: { kind: "struct", fields: "nope" } })).toThrow(TypeError);
    expect(() =>
      StructLayout.fromHandle({
        ...h,
        layout: {
          kind: "struct",
          fields: [
            ["x", "u8"],
            ["x", "u8"],
          ],
        },
      }),
    ).toThrow(/unique, got "x" twice/);
    expect(() => StructLayout.fromHandle({ ...h, layout: { kind: "struct", fields: [["handle", "u8"]] } })).toThrow(
      /"handle"/,
    );
    expect(() => StructLayout.fromHandle({})).toThrow(TypeError);
  });

  it("an instance at a non-zero offset of a larger buffer", () => {
    const buffer = new SharedArrayBuffer(64);
    const s = L.from({
      type: "lockbox.threads.Struct",
      version: LAYOUT_VERSION,
      buffer,
      byteOffset: 16,
      layout: L.description,
    });
    s.n = 77;
    expect(new Uint32Array(buffer)[4]).toBe(77);
  });
});

const SIZES: Record<ScalarType, number> = {
  i8: 1,
  u8: 1,
  bool: 1,
  i16: 2,
  u16: 2,
  i32: 4,
  u32: 4,
  f32: 4,
  f64: 8,
  i64: 8,
  u64: 8,
};

describe("struct field round-trips (property)", () => {
  const arbitraries: Record<ScalarType, fc.Arbitrary<unknown>> = {
    i8: fc.integer({ min: -128, max: 127 }),
    u8: fc.integer({ min: 0, max: 255 }),
    i16: fc.integer({ min: -32768, max: 32767 }),
    u16: fc.integer({ min: 0, max: 65535 }),
    i32: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
    u32: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
    f32: fc.float({ noNaN: false }).map((x) => Math.fround(x)),
    f64: fc.double(),
    i64: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
    u64: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    bool: fc.boolean(),
  };
  const types = Object.keys(arbitraries) as ScalarType[];

  it("any layout of scalars and strings follows the C layout rules and stores exactly what was written", () => {
    const field = fc.oneof(
      fc
        .constantFrom(...types)
        .map((type) => ({ type: type as ScalarType | ReturnType<typeof string>, value: arbitraries[type] })),
      fc.integer({ min: 1, max: 16 }).map((max) => ({
        type: string(max),
        value: fc.string({ unit: "grapheme", maxLength: 16 }).filter((s) => new TextEncoder().encode(s).length <= max),
      })),
    );
    fc.assert(
      fc.property(
        fc
          .array(field, { minLength: 1, maxLength: 8 })
          .chain((fields) => fc.tuple(fc.constant(fields), fc.tuple(...fields.map((f) => f.value)))),
        ([fields, values]) => {
          const spec = Object.fromEntries(fields.map((f, i) => [`f${i}`, f.type]));
          const L = struct(spec);
          const init = Object.fromEntries(values.map((v, i) => [`f${i}`, v]));
          const s = L.create(init as never) as unknown as Record<string, unknown>;
          const rebuilt = StructLayout.fromHandle(structuredClone(L.create(init as never).handle)) as Record<
            string,
            unknown
          >;
          values.forEach((v, i) => {
            expect(s[`f${i}`]).toEqual(v);
            expect(rebuilt[`f${i}`]).toEqual(v);
          });
          // Writing in the other order into fresh memory: overlapping fields would clobber each other.
          const fresh = L.create() as unknown as Record<string, unknown>;
          for (let i = values.length - 1; i >= 0; i--) fresh[`f${i}`] = values[i];
          values.forEach((v, i) => {
            expect(fresh[`f${i}`]).toEqual(v);
          });
          // The C layout rules, from a reference model: aligned offsets, in order, no overlap, padded size.
          let end = 0;
          let maxAlign = 1;
          fields.forEach((f, i) => {
            const [size, align] =
              typeof f.type === "string" ? [SIZES[f.type], SIZES[f.type]] : [4 + f.type.maxBytes, 4];
            const offset = L.offsetOf(`f${i}`);
            expect(offset % align).toBe(0);
            expect(offset).toBeGreaterThanOrEqual(end);
            expect(offset - end).toBeLessThan(align); // no more padding than needed
            end = offset + size;
            maxAlign = Math.max(maxAlign, align);
          });
          expect(L.align).toBe(maxAlign);
          expect(L.size).toBe(Math.ceil(end / maxAlign) * maxAlign);
        },
      ),
      { numRuns: 150 },
    );
  });

  it("array fields round-trip through init and the typed array view", () => {
    const elements = types.filter((t) => t !== "bool") as Exclude<ScalarType, "bool">[];
    fc.assert(
      fc.property(
        fc
          .constantFrom(...elements)
          .chain((element) =>
            fc.tuple(fc.constant(element), fc.array(arbitraries[element], { minLength: 1, maxLength: 6 })),
          ),
        ([element, values]) => {
          const L = struct({ pad: "u8", xs: array(element, values.length) });
          const s = L.create({ xs: values as never });
          expect(Array.from(s.xs as ArrayLike<unknown>)).toEqual(values);
          expect(Array.from(L.from(s.handle).xs as ArrayLike<unknown>)).toEqual(values);
        },
      ),
      { numRuns: 100 },
    );
  });
});
