/**
 * The Semaphore contract (multi-permit acquires, forget, addPermits, close), one body for every
 * scope. Intended differences are the named parameters, each a line in docs/decisions.md.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { expectPending, type Ref, type Scope } from "./actors.js";

export interface SemaphoreLike {
  readonly available: number;
  readonly closed: boolean;
  addPermits(permits: number): void;
  close(): void;
}

export interface SemaphoreContractParams {
  /**
   * A large request waiting at the head holds back later smaller ones that would fit (lockbox: strict
   * FIFO, as tokio; threads: once it has waited about a millisecond, across threads too).
   */
  readonly largeRequestBlocksLater: boolean;
  /** `forget()` after `release()`: `"throws"` UseAfterReleaseError (lockbox) or is `"ignored"` (threads). */
  readonly forgetAfterRelease: "throws" | "ignored";
  /**
   * A release that grants a waiter's permits in the same tick as that waiter's signal aborts: the
   * abort wins and the permits go on to the next waiter (`"abort"`), or the waiter keeps them (`"grant"`).
   */
  readonly grantRaceOutcome: "abort" | "grant";
}

export type SemaphoreFactory = (permits: number) => SemaphoreLike;

const MAX_PERMITS = 2 ** 31 - 1;
const T = { timeout: 5_000 };

export function runSemaphoreContract(scope: Scope, factory: SemaphoreFactory, params: SemaphoreContractParams): void {
  const setup = async (count: number, permits: number) => {
    const semaphore = factory(permits);
    const actors = await scope.actors(count);
    return { semaphore, refs: actors.map((a) => a.adopt(semaphore)) };
  };

  describe(`Semaphore contract: ${scope.name}`, () => {
    it("acquire takes permits, release gives them back once, try-variants never wait", async () => {
      const { semaphore, refs } = await setup(2, 3);
      const [a, b] = refs as [Ref, Ref];
      const p2: Ref = await a.call("acquire", 2);
      expect(await p2.prop("permits")).toBe(2);
      expect(semaphore.available).toBe(1);
      expect(await b.call("tryAcquire", 2)).toBeUndefined();
      const p1: Ref = await b.call("tryAcquire");
      expect(semaphore.available).toBe(0);
      expect(await a.call("tryAcquire")).toBeUndefined();
      await p2.call("release");
      await p2.call("release");
      expect(await p2.prop("released")).toBe(true);
      expect(semaphore.available).toBe(2);
      await p1.call("release");
      expect(semaphore.available).toBe(3);
    });

    it("a multi-permit acquire waits until all its permits are free at once", async () => {
      const { semaphore, refs } = await setup(3, 3);
      const [a, b, c] = refs as [Ref, Ref, Ref];
      const p1: Ref = await a.call("acquire", 1);
      const p2: Ref = await b.call("acquire", 2);
      const waiting = c.call("acquire", 3, T) as Promise<Ref>;
      await expectPending(scope, waiting, "acquire(3) with none free");
      await p1.call("release");
      await expectPending(scope, waiting, "acquire(3) with 1 free");
      await p2.call("release");
      const p3 = await waiting;
      expect(await p3.prop("permits")).toBe(3);
      expect(semaphore.available).toBe(0);
      await p3.call("release");
      expect(semaphore.available).toBe(3);
    });

    it(`a large request at the head ${params.largeRequestBlocksLater ? "holds back" : "does not hold back"} a later small one`, async () => {
      const { semaphore, refs } = await setup(3, 2);
      const [a, b, c] = refs as [Ref, Ref, Ref];
      const p: Ref = await a.call("acquire", 1);
      const large = b.call("acquire", 2, T) as Promise<Ref>;
      await expectPending(scope, large, "acquire(2) with 1 free");
      const small = c.call("acquire", 1, T) as Promise<Ref>;
      if (params.largeRequestBlocksLater) {
        await expectPending(scope, small, "acquire(1) behind acquire(2)");
        await p.call("release");
        const l = await large;
        await expectPending(scope, small, "acquire(1) while acquire(2) holds both");
        await l.call("release");
        await (await small).call("release");
      } else {
        const s = await small;
        await s.call("release");
        await p.call("release");
        await (await large).call("release");
      }
      expect(semaphore.available).toBe(2);
    });

    it("a timed-out acquire takes nothing and leaves no place behind", async () => {
      const { semaphore, refs } = await setup(2, 2);
      const [a, b] = refs as [Ref, Ref];
      const p: Ref = await a.call("acquire", 1);
      await expect(b.call("acquire", 2, { timeout: 10 })).rejects.toMatchObject({ name: "TimeoutError" });
      expect(semaphore.available).toBe(1);
      const q: Ref = await b.call("tryAcquire", 1);
      expect(q).toBeDefined();
      await q.call("release");
      await p.call("release");
      expect(semaphore.available).toBe(2);
    });

    it.skipIf(scope.blocking)(
      "an aborted acquire takes nothing; an already-aborted signal does not queue",
      async () => {
        // The blocking twins take `{ timeout }` only.
        const { semaphore, refs } = await setup(2, 1);
        const [a, b] = refs as [Ref, Ref];
        const p: Ref = await a.call("acquire");
        const controller = new AbortController();
        const waiting = b.call("acquire", 1, { signal: controller.signal });
        await expectPending(scope, waiting, "acquire() with none free");
        controller.abort(new Error("stop"));
        await expect(waiting).rejects.toThrow("stop");
        await p.call("release");
        expect(semaphore.available).toBe(1);
        await expect(b.call("acquire", 1, { signal: AbortSignal.abort(new Error("before")) })).rejects.toThrow(
          "before",
        );
        expect(semaphore.available).toBe(1);
      },
    );

    it.skipIf(scope.blocking)(
      `a grant and an abort in the same tick: the acquire ${params.grantRaceOutcome === "abort" ? "rejects and the permit goes on" : "keeps the permit"}, nothing leaks`,
      // The race needs the release and the abort in one synchronous step, which only a caller in this
      // thread can make (and the blocking twins take no signal).
      async () => {
        const { semaphore, refs } = await setup(3, 1);
        const [a, b, c] = refs as [Ref, Ref, Ref];
        const p: Ref = await a.call("acquire");
        const controller = new AbortController();
        const racing = b.call("acquire", 1, { signal: controller.signal }) as Promise<Ref>;
        await expectPending(scope, racing, "acquire() with none free");
        const next = c.call("acquire", 1, T) as Promise<Ref>;
        await expectPending(scope, next, "a second waiter");
        // A local actor's call runs the method synchronously: release, then abort, in one step.
        const released = p.call("release");
        controller.abort(new Error("stop"));
        await released;
        if (params.grantRaceOutcome === "abort") {
          await expect(racing).rejects.toThrow("stop");
          await (await next).call("release");
        } else {
          await (await racing).call("release");
          await (await next).call("release");
        }
        expect(semaphore.available).toBe(1);
      },
    );

    it("addPermits wakes waiters; forget consumes permits for good", async () => {
      const { semaphore, refs } = await setup(2, 1);
      const [a, b] = refs as [Ref, Ref];
      const p: Ref = await a.call("acquire");
      const waiting = b.call("acquire", 2, T) as Promise<Ref>;
      await expectPending(scope, waiting, "acquire(2) with none free");
      semaphore.addPermits(1);
      await expectPending(scope, waiting, "acquire(2) with 1 free");
      semaphore.addPermits(1);
      const q = await waiting;
      await p.call("forget");
      expect(await p.prop("released")).toBe(true);
      expect(semaphore.available).toBe(0);
      await q.call("release");
      expect(semaphore.available).toBe(2);
      semaphore.addPermits(0);
      expect(semaphore.available).toBe(2);
    });

    it(`forget() after release() ${params.forgetAfterRelease === "throws" ? "throws UseAfterReleaseError" : "does nothing"}; release() after forget() does nothing`, async () => {
      const { semaphore, refs } = await setup(1, 2);
      const [a] = refs as [Ref];
      const p: Ref = await a.call("acquire", 1);
      await p.call("release");
      if (params.forgetAfterRelease === "throws") {
        await expect(p.call("forget")).rejects.toMatchObject({ name: "UseAfterReleaseError" });
      } else {
        await p.call("forget");
      }
      expect(semaphore.available).toBe(2);
      const q: Ref = await a.call("acquire", 1);
      await q.call("forget");
      await q.call("release");
      expect(semaphore.available).toBe(1);
    });

    // Issue 9 finding 13 (fixed in both scopes): MAX_PERMITS counts held permits too, so releasing
    // them can never push the pool past the maximum.
    it("MAX_PERMITS bounds the permits in existence: addPermits past it throws RangeError and adds nothing", async () => {
      const { semaphore, refs } = await setup(1, MAX_PERMITS - 1);
      const [a] = refs as [Ref];
      expect(() => semaphore.addPermits(2)).toThrow(RangeError);
      expect(semaphore.available).toBe(MAX_PERMITS - 1);
      const p: Ref = await a.call("acquire", 10);
      // Held permits still exist: adding 2 would let the pool pass the maximum once they come back.
      expect(() => semaphore.addPermits(2)).toThrow(RangeError);
      semaphore.addPermits(1);
      await p.call("release");
      expect(semaphore.available).toBe(MAX_PERMITS);
      expect(() => semaphore.addPermits(1)).toThrow(RangeError);
    });

    it("close rejects waiting and later acquires with ClosedError; held permits stay valid", async () => {
      const { semaphore, refs } = await setup(2, 1);
      const [a, b] = refs as [Ref, Ref];
      const p: Ref = await a.call("acquire");
      const waiting = b.call("acquire", 1, T);
      await expectPending(scope, waiting, "acquire() with none free");
      semaphore.close();
      semaphore.close();
      expect(semaphore.closed).toBe(true);
      await expect(waiting).rejects.toMatchObject({ name: "ClosedError" });
      await expect(b.call("acquire")).rejects.toMatchObject({ name: "ClosedError" });
      await expect(b.call("tryAcquire")).rejects.toMatchObject({ name: "ClosedError" });
      await p.call("release");
      expect(await p.prop("released")).toBe(true);
    });

    it("withPermit holds the permits for the callback and releases them when it throws", async () => {
      const { semaphore, refs } = await setup(1, 3);
      const [a] = refs as [Ref];
      await expect(a.call("withPermit", { fn: "throw", message: "inside" }, { permits: 2 })).rejects.toThrow("inside");
      expect(semaphore.available).toBe(3);
      // `withPermit` hands the callback its permit; the "permits" recipe returns `permit.permits`.
      expect(await a.call("withPermit", { fn: "permits" }, { permits: 2 })).toBe(2);
      expect(semaphore.available).toBe(3);
    });

    it("bad permits are a RangeError naming the argument", async () => {
      const { semaphore, refs } = await setup(1, 1);
      const [a] = refs as [Ref];
      await expect(a.call("acquire", 0)).rejects.toThrow(/permits/);
      await expect(a.call("tryAcquire", 1.5)).rejects.toThrow(/permits/);
      expect(() => semaphore.addPermits(-1)).toThrow(/permits/);
      expect(semaphore.available).toBe(1);
    });

    it("property: try-acquires, releases, forgets and addPermits by several actors conserve permits", async () => {
      type Op =
        | { kind: "take"; actor: number; n: number }
        | { kind: "release" | "forget"; actor: number }
        | { kind: "add"; n: number };
      const op: fc.Arbitrary<Op> = fc.oneof(
        fc.record({
          kind: fc.constant("take" as const),
          actor: fc.integer({ min: 0, max: 2 }),
          n: fc.integer({ min: 1, max: 4 }),
        }),
        fc.record({
          kind: fc.constantFrom("release" as const, "forget" as const),
          actor: fc.integer({ min: 0, max: 2 }),
        }),
        fc.record({ kind: fc.constant("add" as const), n: fc.integer({ min: 0, max: 3 }) }),
      );
      const actors = await scope.actors(3);
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 0, max: 5 }),
          fc.array(op, { minLength: 1, maxLength: 14 }),
          async (initial, ops) => {
            const semaphore = factory(initial);
            const refs = actors.map((actor) => actor.adopt(semaphore));
            const held: Array<Array<{ ref: Ref; n: number }>> = [[], [], []];
            let free = initial;
            for (const o of ops) {
              if (o.kind === "add") {
                semaphore.addPermits(o.n);
                free += o.n;
              } else if (o.kind === "take") {
                const got: Ref | undefined = await refs[o.actor]!.call("tryAcquire", o.n);
                expect(got !== undefined).toBe(free >= o.n);
                if (got) {
                  held[o.actor]!.push({ ref: got, n: o.n });
                  free -= o.n;
                }
              } else {
                const h = held[o.actor]!.pop();
                if (h) {
                  await h.ref.call(o.kind);
                  if (o.kind === "release") free += h.n;
                }
              }
              expect(semaphore.available).toBe(free);
            }
            for (const h of held.flat()) await h.ref.call("release");
          },
        ),
        { numRuns: scope.blocking ? 15 : 40 },
      );
    });
  });
}
