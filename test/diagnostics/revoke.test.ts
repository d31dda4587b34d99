/**
 * revokeOnRelease (SPEC §7): a reference to a guard's value kept after release() throws
 * UseAfterReleaseError when used, deep, and leaves the value unchanged.
 */
import { types } from "node:util";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { disableDiagnostics, enableDiagnostics } from "../../src/diagnostics/index.js";
import { Mutex, RefCell, RwLock, UseAfterReleaseError } from "../../src/index.js";

beforeEach(() => {
  enableDiagnostics({ revokeOnRelease: true });
});
afterEach(() => {
  disableDiagnostics();
});

interface State {
  user: { name: string; tags: string[] };
  list: { id: number }[];
  map: Map<string, { hits: number }>;
  set: Set<{ id: number }>;
}

const fresh = (): State => ({
  user: { name: "ada", tags: ["admin"] },
  list: [{ id: 1 }, { id: 2 }],
  map: new Map([["home", { hits: 1 }]]),
  set: new Set([{ id: 7 }]),
});

describe("revokeOnRelease", () => {
  it("works like the plain value while held (objects, arrays, Maps, Sets), and writes reach the value", async () => {
    const m = new Mutex(fresh());
    await m.withLock((g) => {
      g.value.user.name = "grace";
      g.value.user.tags.push("ops");
      g.value.list[0] = { id: 10 };
      g.value.map.get("home")!.hits++;
      g.value.map.set("about", { hits: 0 });
      g.value.set.add({ id: 8 });
      expect(g.value.list.map((x) => x.id)).toEqual([10, 2]);
      expect([...g.value.map.keys()]).toEqual(["home", "about"]);
      expect([...g.value.set].map((x) => x.id)).toEqual([7, 8]);
      expect(g.value.map.size).toBe(2);
      expect(Array.isArray(g.value.list)).toBe(true);
      expect(JSON.stringify(g.value.user)).toBe('{"name":"grace","tags":["admin","ops"]}');
    });
    disableDiagnostics(); // a guard taken now shows the raw value
    const bare = m.tryLock();
    const raw = bare!.value;
    expect(types.isProxy(raw.user)).toBe(false);
    expect(raw.user).toEqual({ name: "grace", tags: ["admin", "ops"] });
    expect(raw.map.get("home")).toEqual({ hits: 2 });
    expect(raw.map.get("about")).toEqual({ hits: 0 });
    expect(raw.set.size).toBe(2);
    expect(raw.list[0]).toEqual({ id: 10 });
    bare!.release();
  });

  it("keeps the identity of views stable while held", async () => {
    const m = new Mutex(fresh());
    const g = await m.lock();
    expect(g.value).toBe(g.value);
    expect(g.value.user).toBe(g.value.user);
    expect(g.value.list[1]).toBe(g.value.list[1]);
    expect(g.value.map.get("home")).toBe(g.value.map.get("home"));
    expect([...g.value.set][0]).toBe([...g.value.set][0]);
    g.release();
  });

  it("throws UseAfterReleaseError on any use after release, deep, and leaves the value unchanged", async () => {
    const m = new Mutex(fresh(), { name: "state" });
    const g = await m.lock();
    const kept = g.value;
    const user = g.value.user;
    const tags = g.value.user.tags;
    const list = g.value.list;
    const map = g.value.map;
    const hit = g.value.map.get("home")!;
    const set = g.value.set;
    const iterator = g.value.map.values();
    g.release();
    const uses: (() => unknown)[] = [
      () => kept.user,
      () => {
        user.name = "mallory";
      },
      () => tags.push("root"),
      () => list.length,
      () => {
        list[0] = { id: 666 };
      },
      () => map.get("home"),
      () => map.set("evil", { hits: 1 }),
      () => map.size,
      () => map.clear(),
      () => {
        hit.hits = 999;
      },
      () => set.add({ id: 666 }),
      () => set.has({ id: 7 }),
      () => iterator.next(),
      () => Object.keys(user),
      () => "name" in user,
      () => {
        delete (user as Partial<typeof user>).name;
      },
    ];
    for (const use of uses) {
      expect(use).toThrow(UseAfterReleaseError);
    }
    expect(use0(uses)).toThrow(/Cannot use a value of state after its guard was released/);
    disableDiagnostics();
    const again = m.tryLock()!;
    expect(again.value).toEqual(fresh());
    again.release();
  });

  it("gives every guard its own views: a view kept from an earlier guard stays revoked", async () => {
    const m = new Mutex({ n: 1 });
    const g1 = await m.lock();
    const old = g1.value;
    g1.release();
    const g2 = await m.lock();
    expect(g2.value.n).toBe(1);
    expect(() => old.n).toThrow(UseAfterReleaseError);
    g2.value.n = 2;
    expect(g2.value.n).toBe(2);
    g2.release();
  });

  it("stores raw objects, never views, when a view is assigned into the value", async () => {
    const m = new Mutex<{ a: { x: number }; b?: { x: number } }>({ a: { x: 1 } });
    await m.withLock((g) => {
      g.value.b = g.value.a; // a view assigned into the value
      g.value = { ...g.value }; // and the whole value replaced through the setter
    });
    disableDiagnostics();
    const g = m.tryLock()!;
    expect(types.isProxy(g.value.b)).toBe(false);
    expect(types.isProxy(g.value)).toBe(false);
    expect(g.value.b).toBe(g.value.a); // both raw: the same object
    g.release();
    expect(() => g.value).toThrow(UseAfterReleaseError);
  });

  it("covers RwLock read and write guards and RefCell borrows; primitives pass through", async () => {
    const rw = new RwLock({ list: [1, 2] });
    const r = await rw.read();
    const list = r.value.list;
    expect(list[1]).toBe(2);
    r.release();
    expect(() => list[0]).toThrow(UseAfterReleaseError);
    const w = await rw.write();
    const wl = w.value.list;
    w.release();
    expect(() => wl.push(3)).toThrow(UseAfterReleaseError);
    const cell = new RefCell({ deep: { v: 1 } });
    const b = cell.borrowMut();
    const deep = b.value.deep;
    b.release();
    expect(() => deep.v).toThrow(UseAfterReleaseError);
    const n = new Mutex(5);
    await n.withLock((g) => {
      g.value++;
      expect(g.value).toBe(6);
    });
  });

  it("hands class instances out as they are (their #private fields would not work through a view)", async () => {
    class Counter {
      #n = 0;
      inc(): number {
        return ++this.#n;
      }
    }
    const m = new Mutex({ c: new Counter(), d: new Date(0) });
    await m.withLock((g) => {
      expect(g.value.c.inc()).toBe(1);
      expect(g.value.d.getTime()).toBe(0);
    });
  });
});

function use0(uses: (() => unknown)[]): () => unknown {
  return uses[0] as () => unknown;
}
