import fc from "fast-check";
import { describe, expect, expectTypeOf, it } from "vitest";
import { Arc, Mutex, Rc, UseAfterReleaseError, Weak } from "../src/index.js";
import type { GUARD_TOKEN } from "../src/internal/symbols.js";
import { assertPending, assertReady, assertRejected } from "./helpers/poll.js";

const STRESS = Math.max(1, Number(process.env.LOCKBOX_STRESS ?? 1) || 1);

/** A Disposable that counts its disposals. */
class Resource implements Disposable {
  disposed = 0;
  [Symbol.dispose](): void {
    this.disposed++;
  }
}

/** An AsyncDisposable whose disposal finishes when the test says so. */
class AsyncResource implements AsyncDisposable {
  started = 0;
  finish!: (error?: Error) => void;
  [Symbol.asyncDispose](): Promise<void> {
    this.started++;
    return new Promise((resolve, reject) => {
      this.finish = (error) => (error ? reject(error) : resolve());
    });
  }
}

describe("Arc", () => {
  it("starts with one strong handle and no weak ones", () => {
    const value = { n: 1 };
    const arc = new Arc(value);
    expect(arc.strongCount).toBe(1);
    expect(arc.weakCount).toBe(0);
    expect(arc.value).toBe(value);
    expect(arc.dropped).toBe(false);
  });

  it("clone shares the value and counts strong handles", () => {
    const items = [1];
    const arc = new Arc(items);
    const other = arc.clone();
    expect(other).not.toBe(arc);
    expect(other.value).toBe(arc.value);
    expect(arc.strongCount).toBe(2);
    expect(other.strongCount).toBe(2);
    expect(Arc.ptrEq(arc, other)).toBe(true);
    expect(Arc.ptrEq(arc, new Arc(items))).toBe(false);
    other.drop();
    expect(arc.strongCount).toBe(1);
  });

  it("disposes a Disposable value exactly once, when the last strong handle drops", () => {
    const resource = new Resource();
    const a = new Arc(resource);
    const b = a.clone();
    const c = b.clone();
    expect(a.drop()).toBeUndefined();
    c.drop();
    expect(resource.disposed).toBe(0);
    b.drop();
    expect(resource.disposed).toBe(1);
    b.drop();
    a.drop();
    expect(resource.disposed).toBe(1);
  });

  it("regression: dropping one handle twice does not drop another handle's count", () => {
    const resource = new Resource();
    const a = new Arc(resource);
    const b = a.clone();
    a.drop();
    a.drop();
    a[Symbol.dispose]();
    expect(b.strongCount).toBe(1);
    expect(resource.disposed).toBe(0);
    b.drop();
    expect(resource.disposed).toBe(1);
  });

  it("a dropped handle throws UseAfterReleaseError on every use but drop", () => {
    const arc = new Arc({ n: 1 });
    const keep = arc.clone();
    arc.drop();
    expect(arc.dropped).toBe(true);
    expect(() => arc.value).toThrow(UseAfterReleaseError);
    expect(() => arc.value).toThrow("Cannot read `value` of an Arc after drop()");
    expect(() => arc.clone()).toThrow(UseAfterReleaseError);
    expect(() => arc.downgrade()).toThrow(UseAfterReleaseError);
    expect(() => arc.strongCount).toThrow(UseAfterReleaseError);
    expect(() => arc.weakCount).toThrow(UseAfterReleaseError);
    expect(() => Arc.ptrEq(arc, keep)).toThrow(UseAfterReleaseError);
    expect(() => Arc.getMut(arc)).toThrow(UseAfterReleaseError);
    expect(() => Arc.tryUnwrap(arc)).toThrow(UseAfterReleaseError);
    expect(keep.value).toEqual({ n: 1 });
    expect(keep.strongCount).toBe(1);
  });

  it("returns the AsyncDisposable's disposal promise from the last drop", async () => {
    const resource = new AsyncResource();
    const a = new Arc(resource);
    const b = a.clone();
    const first = a.drop();
    expect(first).toBeInstanceOf(Promise);
    await assertReady(first);
    expect(resource.started).toBe(0);
    const last = b.drop();
    expect(resource.started).toBe(1);
    await assertPending(last);
    resource.finish();
    await assertReady(last);
    // A repeated drop of an async handle still returns a promise, already settled, and disposes nothing.
    await assertReady(b.drop());
    expect(resource.started).toBe(1);
  });

  it("a failed async disposal rejects the last drop's promise", async () => {
    const resource = new AsyncResource();
    const arc = new Arc(resource);
    const last = arc.drop();
    resource.finish(new Error("close failed"));
    expect(await assertRejected(last)).toEqual(new Error("close failed"));
  });

  it("an asyncDispose that throws synchronously becomes a rejection", async () => {
    const arc = new Arc({
      [Symbol.asyncDispose](): Promise<void> {
        throw new Error("sync throw");
      },
    });
    const last = arc.drop();
    expect(await assertRejected(last)).toEqual(new Error("sync throw"));
    expect(arc.dropped).toBe(true);
  });

  it("prefers [Symbol.asyncDispose] when the value has both", async () => {
    const calls: string[] = [];
    const arc = new Arc({
      [Symbol.dispose]: () => calls.push("sync"),
      [Symbol.asyncDispose]: async () => {
        calls.push("async");
      },
    });
    await arc.drop();
    expect(calls).toEqual(["async"]);
  });

  it("a Disposable that throws: the error comes out of drop(), and the value is still gone", () => {
    const arc = new Arc({
      [Symbol.dispose](): void {
        throw new Error("dispose failed");
      },
    });
    const weak = arc.downgrade();
    expect(() => arc.drop()).toThrow("dispose failed");
    expect(arc.dropped).toBe(true);
    expect(weak.upgrade()).toBeUndefined();
    expect(weak.strongCount).toBe(0);
  });

  it("values that are not disposable are just released", () => {
    for (const value of [1, "s", null, undefined, { a: 1 }, [1], () => 1]) {
      const arc = new Arc<unknown>(value);
      expect(arc.drop()).toBeUndefined();
    }
  });

  it("an Arc of an interior-mutable value is mutated through it", async () => {
    const shared = new Arc(new Mutex([1]));
    const forTask = shared.clone();
    await forTask.value.withLock((guard) => {
      guard.value.push(2);
    });
    forTask.drop();
    const guard = await shared.value.lock();
    expect(guard.value).toEqual([1, 2]);
    guard.release();
  });

  it("using and await using drop the handle at the end of the block", async () => {
    const resource = new Resource();
    const outer = new Arc(resource);
    {
      using inner = outer.clone();
      expect(inner.strongCount).toBe(2);
    }
    expect(outer.strongCount).toBe(1);
    const asyncResource = new AsyncResource();
    const block = (async () => {
      await using handle = new Arc(asyncResource);
      expect(handle.strongCount).toBe(1);
    })();
    await assertPending(block);
    expect(asyncResource.started).toBe(1);
    asyncResource.finish();
    await assertReady(block);
    outer[Symbol.dispose]();
    expect(resource.disposed).toBe(1);
  });

  it("Rc is the same class as Arc", () => {
    expect(Rc).toBe(Arc);
    const rc: Rc<number> = new Rc(1);
    expectTypeOf(rc).toEqualTypeOf<Arc<number>>();
    expect(rc).toBeInstanceOf(Arc);
  });

  describe("Weak", () => {
    it("counts weak handles and upgrades while a strong one lives", () => {
      const arc = new Arc({ name: "root" });
      const weak = arc.downgrade();
      const weak2 = weak.clone();
      expect(weak).toBeInstanceOf(Weak);
      expect(arc.weakCount).toBe(2);
      expect(weak.weakCount).toBe(2);
      expect(weak.strongCount).toBe(1);
      const strong = weak.upgrade()!;
      expect(strong.value.name).toBe("root");
      expect(Arc.ptrEq(strong, arc)).toBe(true);
      expect(arc.strongCount).toBe(2);
      strong.drop();
      weak2.drop();
      weak2.drop();
      expect(arc.weakCount).toBe(1);
    });

    it("does not keep the value alive: upgrade returns undefined after the last strong drop", () => {
      const resource = new Resource();
      const arc = new Arc(resource);
      const weak = arc.downgrade();
      arc.drop();
      expect(resource.disposed).toBe(1);
      expect(weak.upgrade()).toBeUndefined();
      expect(weak.strongCount).toBe(0);
      expect(weak.weakCount).toBe(0);
      expect(weak.upgrade()).toBeUndefined();
    });

    it("a disposer that upgrades re-entrantly already sees the value as gone", () => {
      let seen: unknown = "not called";
      let weak!: Weak<Disposable>;
      const arc = new Arc<Disposable>({
        [Symbol.dispose]: () => {
          seen = weak.upgrade();
        },
      });
      weak = arc.downgrade();
      arc.drop();
      expect(seen).toBeUndefined();
    });

    it("a dropped weak handle throws UseAfterReleaseError; its drop is idempotent", () => {
      const arc = new Arc(1);
      const weak = arc.downgrade();
      weak.drop();
      weak[Symbol.dispose]();
      expect(weak.dropped).toBe(true);
      expect(arc.weakCount).toBe(0);
      expect(() => weak.upgrade()).toThrow(UseAfterReleaseError);
      expect(() => weak.upgrade()).toThrow("Cannot upgrade a Weak after drop()");
      expect(() => weak.clone()).toThrow(UseAfterReleaseError);
      expect(() => weak.strongCount).toThrow(UseAfterReleaseError);
      expect(() => weak.weakCount).toThrow(UseAfterReleaseError);
    });

    it("cannot be forged from outside", () => {
      expect(() => new Weak(Symbol("fake") as typeof GUARD_TOKEN, { value: 1, strong: 1, weak: 0 })).toThrow(
        "Weak cannot be constructed directly",
      );
    });
  });

  describe("statics", () => {
    it("getMut gives the value only to a sole owner with no weak handles", () => {
      const items = [1];
      const arc = new Arc(items);
      expect(Arc.getMut(arc)).toBe(items);
      Arc.getMut(arc)!.push(2);
      expect(arc.value).toEqual([1, 2]);
      const other = arc.clone();
      expect(Arc.getMut(arc)).toBeUndefined();
      other.drop();
      const weak = arc.downgrade();
      expect(Arc.getMut(arc)).toBeUndefined();
      weak.drop();
      expect(Arc.getMut(arc)).toBe(items);
    });

    it("tryUnwrap takes the value from a sole owner without disposing it", () => {
      const resource = new Resource();
      const arc = new Arc(resource);
      const weak = arc.downgrade();
      const other = arc.clone();
      expect(Arc.tryUnwrap(arc)).toBeUndefined();
      expect(arc.dropped).toBe(false);
      expect(arc.strongCount).toBe(2);
      other.drop();
      expect(Arc.tryUnwrap(arc)).toBe(resource);
      expect(arc.dropped).toBe(true);
      expect(resource.disposed).toBe(0);
      expect(weak.upgrade()).toBeUndefined();
      arc.drop();
      expect(resource.disposed).toBe(0);
    });

    it("regression: drop() after tryUnwrap of an AsyncDisposable still returns a promise, and disposes nothing", async () => {
      const resource = new AsyncResource();
      const arc = new Arc(resource);
      expect(Arc.tryUnwrap(arc)).toBe(resource);
      const dropped = arc.drop();
      expect(dropped).toBeInstanceOf(Promise);
      await assertReady(dropped);
      expect(resource.started).toBe(0);
    });

    it("reject non-Arcs with a TypeError naming the argument", () => {
      const arc = new Arc(1);
      expect(() => Arc.ptrEq(arc, {} as never)).toThrow("Expected `b` to be an Arc, got an object");
      expect(() => Arc.ptrEq(null as never, arc)).toThrow("Expected `a` to be an Arc, got null");
      expect(() => Arc.getMut(5 as never)).toThrow(TypeError);
      expect(() => Arc.tryUnwrap(arc.downgrade() as never)).toThrow(
        "Expected `arc` to be an Arc, got an instance of Weak",
      );
    });
  });

  it("matches a reference-counting model under random handle operations", () => {
    type Op =
      | { kind: "clone" | "drop" | "downgrade" | "tryUnwrap" | "getMut"; i: number }
      | { kind: "upgrade" | "dropWeak"; i: number };
    const op: fc.Arbitrary<Op> = fc.record({
      kind: fc.constantFrom("clone", "drop", "downgrade", "tryUnwrap", "getMut", "upgrade", "dropWeak"),
      i: fc.nat({ max: 12 }),
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const resource = new Resource();
        const strong: { arc: Arc<Resource>; live: boolean }[] = [{ arc: new Arc(resource), live: true }];
        const weak: { weak: Weak<Resource>; live: boolean }[] = [];
        let gone = false; // the value was disposed or unwrapped
        let unwrapped = false;
        const liveStrong = () => strong.filter((s) => s.live).length;
        const liveWeak = () => weak.filter((w) => w.live).length;
        for (const o of ops) {
          if (o.kind === "upgrade" || o.kind === "dropWeak") {
            const w = weak[o.i];
            if (w === undefined) continue;
            if (o.kind === "dropWeak") {
              w.weak.drop();
              w.live = false;
            } else if (!w.live) {
              expect(() => w.weak.upgrade()).toThrow(UseAfterReleaseError);
            } else {
              const up = w.weak.upgrade();
              if (gone) expect(up).toBeUndefined();
              else strong.push({ arc: up!, live: true });
            }
            continue;
          }
          const s = strong[o.i];
          if (s === undefined) continue;
          if (!s.live) {
            if (o.kind === "drop") s.arc.drop();
            else expect(() => s.arc.value).toThrow(UseAfterReleaseError);
            continue;
          }
          switch (o.kind) {
            case "clone":
              strong.push({ arc: s.arc.clone(), live: true });
              break;
            case "downgrade":
              weak.push({ weak: s.arc.downgrade(), live: true });
              break;
            case "drop":
              s.arc.drop();
              s.live = false;
              if (liveStrong() === 0) gone = true;
              break;
            case "getMut":
              expect(Arc.getMut(s.arc)).toBe(liveStrong() === 1 && liveWeak() === 0 ? resource : undefined);
              break;
            case "tryUnwrap": {
              const sole = liveStrong() === 1;
              expect(Arc.tryUnwrap(s.arc)).toBe(sole ? resource : undefined);
              if (sole) {
                s.live = false;
                gone = true;
                unwrapped = true;
              }
              break;
            }
          }
          for (const h of strong) {
            if (!h.live) continue;
            expect(h.arc.strongCount).toBe(liveStrong());
            expect(h.arc.weakCount).toBe(liveWeak());
          }
          for (const w of weak) {
            if (!w.live) continue;
            expect(w.weak.strongCount).toBe(liveStrong());
            expect(w.weak.weakCount).toBe(gone ? 0 : liveWeak());
          }
          expect(resource.disposed).toBe(gone && !unwrapped ? 1 : 0);
        }
        for (const h of strong) h.arc.drop();
        expect(resource.disposed).toBe(unwrapped ? 0 : 1);
      }),
      { numRuns: 200 * STRESS },
    );
  });
});
