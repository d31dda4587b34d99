/**
 * Compile-time promises of the threads shared data: struct field types follow their layout, views
 * cannot be reassigned, atomics take their own value type, and a JSON cell's guard value is the
 * decoded type. Each `@ts-expect-error` sits next to a line that compiles.
 */
import { describe, expectTypeOf, it } from "vitest";
import {
  type AtomicBool,
  AtomicI32,
  AtomicI64,
  AtomicU32,
  AtomicU64,
  type WaitResult,
} from "../../src/threads/atomics.js";
import { JsonCell, json } from "../../src/threads/memory/json.js";
import { bindData, type GuardValue } from "../../src/threads/memory/shared-data.js";
import {
  type AnyStruct,
  array,
  type Infer,
  type StructHandle,
  StructLayout,
  string,
  struct,
} from "../../src/threads/memory/struct.js";
import type { DeepReadonly } from "../../src/types.js";

const Vec2 = struct({ x: "f32", y: "f32" });
const Player = struct({
  id: "u64",
  hp: "i16",
  alive: "bool",
  name: string(16),
  scores: array("i32", 4),
  big: array("i64", 2),
  pos: Vec2,
});
type Player = Infer<typeof Player>;

describe("struct typing", () => {
  it("maps every field type to its JavaScript type", () => {
    const p = Player.create();
    expectTypeOf(p.id).toEqualTypeOf<bigint>();
    expectTypeOf(p.hp).toEqualTypeOf<number>();
    expectTypeOf(p.alive).toEqualTypeOf<boolean>();
    expectTypeOf(p.name).toEqualTypeOf<string>();
    expectTypeOf(p.scores).toEqualTypeOf<Int32Array>();
    expectTypeOf(p.big).toEqualTypeOf<BigInt64Array>();
    expectTypeOf(p.pos.x).toEqualTypeOf<number>();
    expectTypeOf(p.handle).toEqualTypeOf<StructHandle>();
    expectTypeOf(p).toEqualTypeOf<Player>();
    expectTypeOf(Player.from(p.handle)).toEqualTypeOf<Player>();
    expectTypeOf(Player.size).toEqualTypeOf<number>();
  });

  it("checks writes against the field type", () => {
    const p = Player.create();
    p.hp = 5;
    p.id = 5n;
    p.alive = true;
    p.name = "x";
    p.pos.y = 1;
    p.scores[0] = 1;
    // @ts-expect-error: u64 is a bigint
    p.id = 5;
    // @ts-expect-error: i16 is a number
    p.hp = 5n;
    // @ts-expect-error: bool is a boolean
    p.alive = 1;
    // @ts-expect-error: string field
    p.name = 1;
    // @ts-expect-error: array fields are views, not reassignable
    p.scores = new Int32Array(4);
    // @ts-expect-error: nested structs are views too
    p.pos = Vec2.create();
    // @ts-expect-error: no such field
    p.missing;
  });

  it("types create()'s init", () => {
    Player.create({ id: 1n, scores: [1, 2], big: [1n], pos: { x: 1 } });
    Player.create({ pos: Vec2.create() });
    // @ts-expect-error: wrong type in init
    Player.create({ id: 1 });
    // @ts-expect-error: bigint array takes bigints
    Player.create({ big: [1] });
    // @ts-expect-error: unknown field
    Player.create({ nope: 1 });
    // @ts-expect-error: offsetOf takes a field name
    Player.offsetOf("nope");
    expectTypeOf(Player.offsetOf("hp")).toEqualTypeOf<number>();
  });

  it("a read-only view of a struct (a read guard's value) refuses writes but reads every field", () => {
    const view = Player.create() as DeepReadonly<Player>;
    expectTypeOf(view.id).toEqualTypeOf<bigint>();
    expectTypeOf(view.pos.x).toEqualTypeOf<number>();
    expectTypeOf(view.scores[0]).toEqualTypeOf<number | undefined>();
    // @ts-expect-error: read-only field
    view.hp = 1;
    // @ts-expect-error: read-only nested field
    view.pos.x = 1;
    // @ts-expect-error: read-only array element
    view.scores[0] = 1;
  });

  it("an array of structs is a read-only array of instances", () => {
    const Table = struct({ slots: array(Vec2, 3) });
    const t = Table.create({ slots: [{ x: 1 }, Vec2.create()] });
    expectTypeOf(t.slots).toEqualTypeOf<ReadonlyArray<Infer<typeof Vec2>>>();
    t.slots[0]!.x = 2;
    // @ts-expect-error: the array itself is a view
    t.slots[0] = Vec2.create();
    // @ts-expect-error: element init is checked
    Table.create({ slots: [{ x: "1" }] });
  });

  it("fromHandle gives an AnyStruct that narrows with a cast", () => {
    const any = StructLayout.fromHandle(Player.create().handle);
    expectTypeOf(any).toEqualTypeOf<AnyStruct>();
    expectTypeOf(any.whatever).toEqualTypeOf<unknown>();
    const p = any as Player;
    expectTypeOf(p.id).toEqualTypeOf<bigint>();
  });

  it("array() and string() refuse bad element types", () => {
    // @ts-expect-error: bool arrays are not typed arrays
    array("bool", 2);
    // @ts-expect-error: not a type
    struct({ x: "i128" });
    struct({ x: "i8" });
  });
});

describe("atomics typing", () => {
  it("takes and returns its own value type", () => {
    const a = new AtomicI32();
    expectTypeOf(a.load()).toEqualTypeOf<number>();
    expectTypeOf(a.fetchUpdate((n) => n + 1)).toEqualTypeOf<number | undefined>();
    expectTypeOf(a.waitSync(0)).toEqualTypeOf<WaitResult>();
    expectTypeOf(a.waitAsync(0)).toEqualTypeOf<Promise<WaitResult>>();
    expectTypeOf(AtomicI32.from(a.handle)).toEqualTypeOf<AtomicI32>();
    expectTypeOf(new AtomicU64().load()).toEqualTypeOf<bigint>();
    expectTypeOf(AtomicI64.from(new AtomicI64())).toEqualTypeOf<AtomicI64>();
    // @ts-expect-error: 64-bit atomics take bigints
    new AtomicI64().store(1);
    // @ts-expect-error: 32-bit atomics take numbers
    new AtomicU32().store(1n);
    // @ts-expect-error: only AtomicI32 can wait
    new AtomicU32().waitSync(0);
  });

  it("stays fully usable through DeepReadonly (interior mutability)", () => {
    const shared = { counter: new AtomicI32(), flag: null as unknown as AtomicBool };
    const view: DeepReadonly<typeof shared> = shared;
    view.counter.fetchAdd(1);
    view.flag.store(true);
    expectTypeOf(view.counter).toEqualTypeOf<AtomicI32>();
  });
});

describe("json and guard values", () => {
  it("a JSON cell's guard value is its decoded type; other data shows itself", () => {
    const cell = json({ users: [] as string[] });
    expectTypeOf(cell).toEqualTypeOf<JsonCell<{ users: string[] }>>();
    expectTypeOf(cell.get()).toEqualTypeOf<{ users: string[] }>();
    expectTypeOf<GuardValue<typeof cell>>().toEqualTypeOf<{ users: string[] }>();
    expectTypeOf(bindData(cell).open()).toEqualTypeOf<{ users: string[] }>();
    expectTypeOf<GuardValue<Player>>().toEqualTypeOf<Player>();
    expectTypeOf<GuardValue<null>>().toEqualTypeOf<null>();
    expectTypeOf(JsonCell.from<number>(cell.handle).get()).toEqualTypeOf<number>();
    // @ts-expect-error: set takes the cell's type
    cell.set({ users: [1] });
  });
});
