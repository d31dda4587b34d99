/**
 * The RwLock contract (with upgradable reads), one body for every scope. Intended differences between
 * scopes are the named parameters below, each a line in docs/decisions.md ("Contract suite parameters").
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type Actor, expectPending, type Ref, type Scope } from "./actors.js";

/** The part of an RwLock this thread inspects directly (the same memory the actors use). */
export interface RwLockLike {
  readonly readers: number;
  readonly isWriteLocked: boolean;
  readonly isPoisoned: boolean;
  clearPoison(): void;
}

export interface RwLockContractParams {
  /** A failing `withWrite` on a lock made without options poisons it (threads: yes, as std; lockbox: opt-in, as tokio). */
  readonly poisonByDefault: boolean;
  /**
   * When the last reader leaves, the queued writer gets the lock before readers that queued after it
   * (lockbox: strict FIFO). Threads: while readers hold, the waiting writer keeps new readers out, but
   * the last one out frees the lock and wakes both sides, and whoever runs first gets in.
   */
  readonly writerFirstWhenReadersLeave: boolean;
  /** A release that grants a queued `write()` in the same tick as its signal aborts: `"abort"` wins (the lock goes on) or `"grant"` is kept. */
  readonly grantRaceOutcome: "abort" | "grant";
  /** The same race for `upgrade()` (lockbox keeps the grant: undoing it could not give the upgradable guard back). */
  readonly upgradeGrantRaceOutcome: "abort" | "grant";
}

/** Creates a lock over an `Int32Array` of 1 holding `value[0] = initial`. */
export type RwLockFactory = (initial: number, options?: { poison?: boolean }) => RwLockLike;

const T = { timeout: 5_000 };

export function runRwLockContract(scope: Scope, factory: RwLockFactory, params: RwLockContractParams): void {
  const setup = async (count: number, initial = 0, options?: { poison?: boolean }) => {
    const lock = factory(initial, options);
    const actors = await scope.actors(count);
    return { lock, actors, refs: actors.map((a: Actor) => a.adopt(lock)) };
  };

  describe(`RwLock contract: ${scope.name}`, () => {
    it("readers share, a writer excludes them, and try-variants report what is free now", async () => {
      const { lock, refs } = await setup(3, 7);
      const [a, b, c] = refs as [Ref, Ref, Ref];
      const r1: Ref = await a.call("read");
      const r2: Ref = await b.call("read");
      expect(await r1.get()).toBe(7);
      expect(await r2.get()).toBe(7);
      expect(lock.readers).toBe(2);
      expect(lock.isWriteLocked).toBe(false);
      expect(await c.call("tryWrite")).toBeUndefined();
      await r1.call("release");
      await r2.call("release");
      expect(lock.readers).toBe(0);
      const w: Ref = await c.call("tryWrite");
      expect(lock.isWriteLocked).toBe(true);
      expect(await a.call("tryRead")).toBeUndefined();
      expect(await b.call("tryUpgradableRead")).toBeUndefined();
      await w.set(8);
      await w.call("release");
      expect(lock.isWriteLocked).toBe(false);
      const r3: Ref = await a.call("tryRead");
      expect(await r3.get()).toBe(8);
      await r3.call("release");
    });

    it("release is idempotent and a released guard refuses its value", async () => {
      const { lock, refs } = await setup(1, 1);
      const [a] = refs as [Ref];
      const w: Ref = await a.call("write");
      await w.call("release");
      await w.call("release");
      expect(await w.prop("released")).toBe(true);
      await expect(w.get()).rejects.toMatchObject({ name: "UseAfterReleaseError" });
      const r: Ref = await a.call("read");
      await r.call("release");
      await r.call("release");
      expect(lock.readers).toBe(0);
      await expect(r.get()).rejects.toMatchObject({ name: "UseAfterReleaseError" });
    });

    it(`a writer waits for the readers; a queued writer holds back readers that come after it${params.writerFirstWhenReadersLeave ? ", and gets the lock before them" : ""}`, async () => {
      const { lock, refs } = await setup(3);
      const [a, b, c] = refs as [Ref, Ref, Ref];
      const r: Ref = await a.call("read");
      const writing = b.call("write", T) as Promise<Ref>;
      await expectPending(scope, writing, "write() while a reader holds");
      expect(await c.call("tryRead")).toBeUndefined();
      const reading = c.call("read", T) as Promise<Ref>;
      await expectPending(scope, reading, "read() behind a queued writer");
      await r.call("release");
      const first = params.writerFirstWhenReadersLeave
        ? "write"
        : await Promise.race([writing.then(() => "write"), reading.then(() => "read")]);
      if (first === "write") {
        const w = await writing;
        await w.set(5);
        await expectPending(scope, reading, "read() while the writer holds");
        await w.call("release");
        const r2 = await reading;
        expect(await r2.get()).toBe(5);
        await r2.call("release");
      } else {
        // Threads: the last reader out frees the lock and wakes both sides; the reader won this time.
        const r2 = await reading;
        await expectPending(scope, writing, "write() while the reader that got in first holds");
        await r2.call("release");
        await (await writing).call("release");
      }
      expect(lock.readers).toBe(0);
      expect(lock.isWriteLocked).toBe(false);
    });

    it("downgrade keeps the lock shared with no writer in between and admits waiting readers", async () => {
      const { lock, refs } = await setup(3);
      const [a, b, c] = refs as [Ref, Ref, Ref];
      const w: Ref = await a.call("write");
      const reading = b.call("read", T) as Promise<Ref>;
      await expectPending(scope, reading, "read() while a writer holds");
      await w.set(3);
      const r: Ref = await w.call("downgrade");
      expect(await w.prop("released")).toBe(true);
      expect(await r.get()).toBe(3);
      const r2 = await reading;
      expect(await r2.get()).toBe(3);
      expect(lock.readers).toBe(2);
      expect(await c.call("tryWrite")).toBeUndefined();
      await r.call("release");
      await r2.call("release");
      const w2: Ref = await c.call("tryWrite");
      await w2.call("release");
    });

    it("an upgradable read shares with plain readers but excludes other upgradable readers and writers", async () => {
      const { lock, refs } = await setup(3, 4);
      const [a, b, c] = refs as [Ref, Ref, Ref];
      const u: Ref = await a.call("upgradableRead");
      expect(await u.get()).toBe(4);
      const r: Ref = await b.call("read");
      expect(lock.readers).toBe(2);
      expect(await c.call("tryUpgradableRead")).toBeUndefined();
      expect(await c.call("tryWrite")).toBeUndefined();
      const second = c.call("upgradableRead", T) as Promise<Ref>;
      await expectPending(scope, second, "a second upgradableRead()");
      await r.call("release");
      await expectPending(scope, second, "a second upgradableRead() after the plain reader left");
      await u.call("release");
      const u2 = await second;
      await u2.call("release");
      expect(lock.readers).toBe(0);
    });

    it("upgrade waits for the other readers, goes ahead of queued writers, and releases the upgradable guard", async () => {
      const { lock, refs } = await setup(3);
      const [a, b, c] = refs as [Ref, Ref, Ref];
      const r: Ref = await b.call("read");
      const u: Ref = await a.call("upgradableRead");
      expect(await u.call("tryUpgrade")).toBeUndefined();
      expect(await u.prop("released")).toBe(false);
      const writing = c.call("write", T) as Promise<Ref>;
      await expectPending(scope, writing, "write() while readers hold");
      const upgrading = u.call("upgrade", T) as Promise<Ref>;
      await expectPending(scope, upgrading, "upgrade() while another reader holds");
      await r.call("release");
      const w = await upgrading;
      expect(await u.prop("released")).toBe(true);
      expect(lock.isWriteLocked).toBe(true);
      await w.set(9);
      await expectPending(scope, writing, "the queued writer while the upgraded writer holds");
      await w.call("release");
      const w2 = await writing;
      expect(await w2.get()).toBe(9);
      await w2.call("release");
    });

    it("a pending upgrade holds back new readers (no upgrade starvation)", async () => {
      const { lock, refs } = await setup(3, 1);
      const [a, b, c] = refs as [Ref, Ref, Ref];
      const r: Ref = await b.call("read");
      const u: Ref = await a.call("upgradableRead");
      const upgrading = u.call("upgrade", T) as Promise<Ref>;
      await expectPending(scope, upgrading, "upgrade() while another reader holds");
      expect(await c.call("tryRead")).toBeUndefined();
      const reading = c.call("read", T) as Promise<Ref>;
      await expectPending(scope, reading, "read() behind a pending upgrade");
      await r.call("release");
      const w = await upgrading;
      await w.set(2);
      await expectPending(scope, reading, "read() while the upgraded writer holds");
      await w.call("release");
      const r2 = await reading;
      expect(await r2.get()).toBe(2);
      await r2.call("release");
      expect(lock.readers).toBe(0);
    });

    it("tryUpgrade succeeds when alone; an upgradable downgrade frees the upgradable slot", async () => {
      const { lock, refs } = await setup(2, 2);
      const [a, b] = refs as [Ref, Ref];
      const u: Ref = await a.call("upgradableRead");
      const w: Ref = await u.call("tryUpgrade");
      expect(w).toBeDefined();
      expect(await u.prop("released")).toBe(true);
      await expect(u.get()).rejects.toMatchObject({ name: "UseAfterReleaseError" });
      const r: Ref = await w.call("downgrade");
      await r.call("release");
      const u2: Ref = await a.call("upgradableRead");
      const r2: Ref = await u2.call("downgrade");
      expect(await u2.prop("released")).toBe(true);
      expect(await r2.get()).toBe(2);
      const u3: Ref = await b.call("tryUpgradableRead");
      expect(u3).toBeDefined();
      expect(lock.readers).toBe(2);
      await u3.call("release");
      await r2.call("release");
      expect(lock.readers).toBe(0);
    });

    it("a timed-out write or upgrade leaves nothing behind: readers still enter, the upgradable guard stays held", async () => {
      const { lock, refs } = await setup(3);
      const [a, b, c] = refs as [Ref, Ref, Ref];
      const r: Ref = await a.call("read");
      await expect(b.call("write", { timeout: 10 })).rejects.toMatchObject({ name: "TimeoutError" });
      expect(lock.isWriteLocked).toBe(false);
      const r2: Ref = await c.call("tryRead");
      expect(r2).toBeDefined();
      await r2.call("release");
      const u: Ref = await b.call("upgradableRead");
      await expect(u.call("upgrade", { timeout: 10 })).rejects.toMatchObject({ name: "TimeoutError" });
      expect(await u.prop("released")).toBe(false);
      const r3: Ref = await c.call("tryRead");
      expect(r3).toBeDefined();
      await r3.call("release");
      await r.call("release");
      const w: Ref = await u.call("tryUpgrade");
      expect(w).toBeDefined();
      await w.call("release");
      expect(lock.readers).toBe(0);
      expect(lock.isWriteLocked).toBe(false);
    });

    it.skipIf(scope.blocking)(
      "releasing or downgrading an upgradable guard cancels its pending upgrade; a second upgrade() rejects",
      // A blocking upgradeSync() occupies its thread, so the same thread cannot release meanwhile.
      async () => {
        const { lock, refs } = await setup(2);
        const [a, b] = refs as [Ref, Ref];
        const r: Ref = await b.call("read");
        const u: Ref = await a.call("upgradableRead");
        const upgrading = u.call("upgrade", T) as Promise<Ref>;
        await expectPending(scope, upgrading, "upgrade() while another reader holds");
        await expect(u.call("upgrade", T)).rejects.toMatchObject({ name: "UseAfterReleaseError" });
        expect(await u.call("tryUpgrade")).toBeUndefined();
        await u.call("release");
        await expect(upgrading).rejects.toMatchObject({ name: "UseAfterReleaseError" });
        expect(lock.readers).toBe(1);
        const u2: Ref = await a.call("upgradableRead");
        const upgrading2 = u2.call("upgrade", T) as Promise<Ref>;
        await expectPending(scope, upgrading2, "upgrade() while another reader holds");
        const down: Ref = await u2.call("downgrade");
        await expect(upgrading2).rejects.toMatchObject({ name: "UseAfterReleaseError" });
        await down.call("release");
        await r.call("release");
        expect(lock.readers).toBe(0);
        expect(lock.isWriteLocked).toBe(false);
        // Nothing orphaned: a writer and then a new upgradable reader get in normally.
        const w: Ref = await b.call("tryWrite");
        expect(w).toBeDefined();
        await w.call("release");
        const u3: Ref = await a.call("tryUpgradableRead");
        await u3.call("release");
      },
    );

    it.skipIf(scope.blocking)(
      "an upgrade aborted and its guard released in the same tick leaves a queued writer alone",
      // Needs a signal and one synchronous step in this thread (the blocking twins have neither).
      async () => {
        const { lock, refs } = await setup(3);
        const [a, b, c] = refs as [Ref, Ref, Ref];
        const u: Ref = await a.call("upgradableRead");
        const r: Ref = await b.call("read");
        const controller = new AbortController();
        const upgrading = u.call("upgrade", { signal: controller.signal });
        await expectPending(scope, upgrading, "upgrade() while another reader holds");
        const writing = c.call("write", T) as Promise<Ref>;
        await expectPending(scope, writing, "write() while readers hold");
        controller.abort(new Error("stop"));
        const released = u.call("release");
        await released;
        await expect(upgrading).rejects.toThrow("stop");
        await expectPending(scope, writing, "write() while a reader still holds");
        await r.call("release");
        const w = await writing;
        await w.set(1);
        await w.call("release");
        expect(lock.isWriteLocked).toBe(false);
        expect(lock.readers).toBe(0);
      },
    );

    it.skipIf(scope.blocking)("an aborted write leaves the queue and nothing leaks", async () => {
      // The blocking twins take `{ timeout }` only.
      const { lock, refs } = await setup(3);
      const [a, b, c] = refs as [Ref, Ref, Ref];
      const r: Ref = await a.call("read");
      const controller = new AbortController();
      const writing = b.call("write", { signal: controller.signal });
      await expectPending(scope, writing, "write() while a reader holds");
      controller.abort(new Error("stop"));
      await expect(writing).rejects.toThrow("stop");
      const r2: Ref = await c.call("tryRead");
      expect(r2).toBeDefined();
      await r2.call("release");
      await r.call("release");
      expect(lock.readers).toBe(0);
      const already = AbortSignal.abort(new Error("before"));
      await expect(c.call("read", { signal: already })).rejects.toThrow("before");
      expect(lock.readers).toBe(0);
    });

    it.skipIf(scope.blocking)(
      `a grant and an abort in the same tick: a write ${params.grantRaceOutcome === "abort" ? "rejects and the lock goes on" : "keeps the lock"}; an upgrade ${params.upgradeGrantRaceOutcome === "abort" ? "rejects" : "keeps the write lock"}`,
      // The race needs the release and the abort in one synchronous step: local actors run a call's
      // method synchronously (and the blocking twins take no signal).
      async () => {
        const { lock, refs } = await setup(3);
        const [a, b, c] = refs as [Ref, Ref, Ref];
        const r: Ref = await a.call("read");
        const controller = new AbortController();
        const racing = b.call("write", { signal: controller.signal }) as Promise<Ref>;
        await expectPending(scope, racing, "write() while a reader holds");
        const next = c.call("write", T) as Promise<Ref>;
        await expectPending(scope, next, "a second writer");
        const released = r.call("release");
        controller.abort(new Error("stop"));
        await released;
        if (params.grantRaceOutcome === "abort") {
          await expect(racing).rejects.toThrow("stop");
        } else {
          await (await racing).call("release");
        }
        await (await next).call("release");
        expect(lock.isWriteLocked).toBe(false);
        expect(lock.readers).toBe(0);

        const u: Ref = await a.call("upgradableRead");
        const other: Ref = await c.call("read");
        const upgradeAbort = new AbortController();
        const upgrading = u.call("upgrade", { signal: upgradeAbort.signal }) as Promise<Ref>;
        await expectPending(scope, upgrading, "upgrade() while another reader holds");
        const left = other.call("release");
        upgradeAbort.abort(new Error("stop"));
        await left;
        if (params.upgradeGrantRaceOutcome === "abort") {
          await expect(upgrading).rejects.toThrow("stop");
          expect(await u.prop("released")).toBe(false);
          await u.call("release");
        } else {
          const w = await upgrading;
          expect(await u.prop("released")).toBe(true);
          await w.call("release");
        }
        expect(lock.isWriteLocked).toBe(false);
        expect(lock.readers).toBe(0);
      },
    );

    it(`withWrite returns the result, releases on throw and ${params.poisonByDefault ? "poisons" : "does not poison"} by default`, async () => {
      const { lock, refs } = await setup(1);
      const [a] = refs as [Ref];
      expect(await a.call("withWrite", { fn: "set", to: 6 })).toBe(6);
      expect(await a.call("withRead", { fn: "get" })).toBe(6);
      await expect(a.call("withWrite", { fn: "throw", message: "inside", to: 1 })).rejects.toThrow("inside");
      expect(lock.isWriteLocked).toBe(false);
      expect(lock.isPoisoned).toBe(params.poisonByDefault);
    });

    it("poisoned (withWrite threw): acquires reject with PoisonError and hold nothing; ignorePoison and clearPoison recover", async () => {
      const { lock, refs } = await setup(2, 0, { poison: true });
      const [a, b] = refs as [Ref, Ref];
      const reader: Ref = await b.call("read");
      await expect(a.call("withRead", { fn: "throw", message: "reader" })).rejects.toThrow("reader");
      await reader.call("release");
      expect(lock.isPoisoned).toBe(false);
      await expect(a.call("withWrite", { fn: "throw", message: "writer", to: 2 })).rejects.toThrow("writer");
      expect(lock.isPoisoned).toBe(true);
      await expect(a.call("write")).rejects.toMatchObject({ name: "PoisonError" });
      await expect(b.call("read")).rejects.toMatchObject({ name: "PoisonError" });
      await expect(b.call("upgradableRead")).rejects.toMatchObject({ name: "PoisonError" });
      await expect(b.call("tryRead")).rejects.toMatchObject({ name: "PoisonError" });
      expect(lock.readers).toBe(0);
      expect(lock.isWriteLocked).toBe(false);
      const r: Ref = await b.call("read", { ignorePoison: true });
      expect(await r.get()).toBe(2);
      await r.call("release");
      lock.clearPoison();
      const w: Ref = await a.call("write");
      await w.call("poison");
      await w.call("release");
      expect(lock.isPoisoned).toBe(true);
    });

    it("property: any sequence of try-acquires and releases by several actors matches the model", async () => {
      // Model: readers (plain + upgradable) share; one upgradable at a time; a writer alone.
      type Op = { actor: number; kind: "read" | "write" | "upgradable" | "release" | "upgrade" | "downgrade" };
      const op = fc.record({
        actor: fc.integer({ min: 0, max: 2 }),
        kind: fc.constantFrom("read", "write", "upgradable", "release", "upgrade", "downgrade") as fc.Arbitrary<
          Op["kind"]
        >,
      });
      const actors = await scope.actors(3);
      await fc.assert(
        fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 14 }), async (ops) => {
          const lock = factory(0);
          const refs = actors.map((actor) => actor.adopt(lock));
          const held: Array<Array<{ ref: Ref; mode: "r" | "w" | "u" }>> = [[], [], []];
          const all = () => held.flat();
          for (const { actor, kind } of ops) {
            const mine = held[actor]!;
            const readers = all().filter((h) => h.mode !== "w").length;
            const writer = all().some((h) => h.mode === "w");
            const upgradable = all().some((h) => h.mode === "u");
            if (kind === "read" || kind === "write" || kind === "upgradable") {
              const method = kind === "read" ? "tryRead" : kind === "write" ? "tryWrite" : "tryUpgradableRead";
              const got: Ref | undefined = await refs[actor]!.call(method);
              const expected =
                kind === "write" ? !writer && readers === 0 : kind === "read" ? !writer : !writer && !upgradable;
              expect(got !== undefined).toBe(expected);
              if (got) mine.push({ ref: got, mode: kind === "read" ? "r" : kind === "write" ? "w" : "u" });
            } else if (mine.length > 0) {
              const h = mine[mine.length - 1]!;
              if (kind === "release") {
                await h.ref.call("release");
                mine.pop();
              } else if (kind === "downgrade" && h.mode !== "r") {
                h.ref = await h.ref.call("downgrade");
                h.mode = "r";
              } else if (kind === "upgrade" && h.mode === "u") {
                const w: Ref | undefined = await h.ref.call("tryUpgrade");
                expect(w !== undefined).toBe(readers === 1);
                if (w) {
                  h.ref = w;
                  h.mode = "w";
                }
              }
            }
            expect(lock.readers).toBe(all().filter((h) => h.mode !== "w").length);
            expect(lock.isWriteLocked).toBe(all().some((h) => h.mode === "w"));
          }
          for (const h of all()) await h.ref.call("release");
          expect(lock.readers).toBe(0);
          expect(lock.isWriteLocked).toBe(false);
        }),
        { numRuns: scope.blocking ? 15 : 40 },
      );
    });
  });
}
