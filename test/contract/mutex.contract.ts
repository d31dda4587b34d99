/**
 * The Mutex contract, one body for every scope (it replaces the first Mutex suite, which ran the
 * blocking form in the main thread only where it did not have to wait; here blocking callers are
 * worker threads). Intended differences are the named parameters, each a line in docs/decisions.md.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { expectPending, type Ref, type Scope } from "./actors.js";

export interface MutexLike {
  readonly isLocked: boolean;
  readonly isPoisoned: boolean;
  clearPoison(): void;
}

export interface MutexContractParams {
  /** A failing `withLock` on a mutex made without options poisons it (threads: yes, as std; lockbox: opt-in, as tokio). */
  readonly poisonByDefault: boolean;
  /**
   * Waiters get the lock in arrival order (lockbox: strict FIFO hand-off). Threads: a running thread
   * may re-take a free lock; fairness is eventual (a waiter parked about 1 ms gets a direct hand-off).
   */
  readonly fifo: boolean;
  /** A release that grants a waiter in the same tick as its signal aborts: `"abort"` wins (the lock goes on) or `"grant"` is kept. */
  readonly grantRaceOutcome: "abort" | "grant";
}

/** Creates a mutex over an `Int32Array` of 1 holding `value[0] = initial`. */
export type MutexFactory = (initial: number, options?: { poison?: boolean }) => MutexLike;

const T = { timeout: 5_000 };

export function runMutexContract(scope: Scope, factory: MutexFactory, params: MutexContractParams): void {
  const setup = async (count: number, initial = 0, options?: { poison?: boolean }) => {
    const mutex = factory(initial, options);
    const actors = await scope.actors(count);
    return { mutex, refs: actors.map((a) => a.adopt(mutex)) };
  };

  describe(`Mutex contract: ${scope.name}`, () => {
    it("a guard gives the value, releases once, and refuses use after release", async () => {
      const { mutex, refs } = await setup(2, 2);
      const [a, b] = refs as [Ref, Ref];
      const g: Ref = await a.call("lock");
      expect(await g.get()).toBe(2);
      await g.set(3);
      expect(mutex.isLocked).toBe(true);
      expect(await b.call("tryLock")).toBeUndefined();
      await g.call("release");
      await g.call("release");
      expect(await g.prop("released")).toBe(true);
      expect(mutex.isLocked).toBe(false);
      await expect(g.get()).rejects.toMatchObject({ name: "UseAfterReleaseError" });
      const again: Ref = await b.call("tryLock");
      expect(await again.get()).toBe(3);
      await again.call("release");
    });

    it("a waiter gets the lock when the holder releases it", async () => {
      const { mutex, refs } = await setup(2);
      const [a, b] = refs as [Ref, Ref];
      const g: Ref = await a.call("lock");
      const waiting = b.call("lock", T) as Promise<Ref>;
      await expectPending(scope, waiting, "lock() while held");
      await g.set(4);
      await g.call("release");
      const h = await waiting;
      expect(await h.get()).toBe(4);
      expect(mutex.isLocked).toBe(true);
      await h.call("release");
      expect(mutex.isLocked).toBe(false);
    });

    it(`waiters are served ${params.fifo ? "in arrival order" : "one at a time (order across threads not promised)"}`, async () => {
      const { mutex, refs } = await setup(3);
      const [a, b, c] = refs as [Ref, Ref, Ref];
      const g: Ref = await a.call("lock");
      const first = b.call("lock", T) as Promise<Ref>;
      await expectPending(scope, first, "the first waiter");
      const second = c.call("lock", T) as Promise<Ref>;
      await expectPending(scope, second, "the second waiter");
      await g.call("release");
      const which = await Promise.race([first.then(() => 0), second.then(() => 1)]);
      if (params.fifo) expect(which).toBe(0);
      const [winner, loser] = which === 0 ? [first, second] : [second, first];
      await expectPending(scope, loser, "the other waiter while the first holds");
      await (await winner).call("release");
      await (await loser).call("release");
      expect(mutex.isLocked).toBe(false);
    });

    it("a timed-out lock rejects with TimeoutError and holds nothing", async () => {
      const { mutex, refs } = await setup(2);
      const [a, b] = refs as [Ref, Ref];
      const g: Ref = await a.call("lock");
      await expect(b.call("lock", { timeout: 10 })).rejects.toMatchObject({ name: "TimeoutError" });
      await g.call("release");
      expect(mutex.isLocked).toBe(false);
      const h: Ref = await b.call("tryLock");
      expect(h).toBeDefined();
      await h.call("release");
    });

    it.skipIf(scope.blocking)(
      `an abort leaves the queue; a grant and an abort in the same tick: ${params.grantRaceOutcome === "abort" ? "the abort wins and the lock goes on" : "the grant is kept"}`,
      // The blocking twins take `{ timeout }` only; the race needs one synchronous step in this thread.
      async () => {
        const { mutex, refs } = await setup(3);
        const [a, b, c] = refs as [Ref, Ref, Ref];
        await expect(b.call("lock", { signal: AbortSignal.abort(new Error("before")) })).rejects.toThrow("before");
        expect(mutex.isLocked).toBe(false);
        const g: Ref = await a.call("lock");
        const controller = new AbortController();
        const aborted = b.call("lock", { signal: controller.signal });
        await expectPending(scope, aborted, "lock() while held");
        controller.abort(new Error("stop"));
        await expect(aborted).rejects.toThrow("stop");
        const race = new AbortController();
        const racing = b.call("lock", { signal: race.signal }) as Promise<Ref>;
        await expectPending(scope, racing, "lock() while held");
        const next = c.call("lock", T) as Promise<Ref>;
        await expectPending(scope, next, "a second waiter");
        const released = g.call("release");
        race.abort(new Error("stop"));
        await released;
        if (params.grantRaceOutcome === "abort") await expect(racing).rejects.toThrow("stop");
        else await (await racing).call("release");
        await (await next).call("release");
        expect(mutex.isLocked).toBe(false);
      },
    );

    it(`withLock returns the result, releases on throw and ${params.poisonByDefault ? "poisons" : "does not poison"} by default`, async () => {
      const { mutex, refs } = await setup(1);
      const [a] = refs as [Ref];
      expect(await a.call("withLock", { fn: "set", to: 8 })).toBe(8);
      await expect(a.call("withLock", { fn: "throw", message: "inside" })).rejects.toThrow("inside");
      expect(mutex.isLocked).toBe(false);
      expect(mutex.isPoisoned).toBe(params.poisonByDefault);
    });

    it("poisoned: lock rejects with PoisonError and holds nothing; ignorePoison and clearPoison recover; guard.poison() poisons", async () => {
      const { mutex, refs } = await setup(2, 0, { poison: true });
      const [a, b] = refs as [Ref, Ref];
      await expect(a.call("withLock", { fn: "throw", message: "inside", to: 5 })).rejects.toThrow("inside");
      expect(mutex.isPoisoned).toBe(true);
      await expect(b.call("lock")).rejects.toMatchObject({ name: "PoisonError" });
      await expect(b.call("tryLock")).rejects.toMatchObject({ name: "PoisonError" });
      expect(mutex.isLocked).toBe(false);
      const g: Ref = await b.call("lock", { ignorePoison: true });
      expect(await g.get()).toBe(5);
      await g.call("release");
      mutex.clearPoison();
      const h: Ref = await a.call("lock");
      await h.call("poison");
      await h.call("release");
      expect(mutex.isPoisoned).toBe(true);
    });

    it("property: actors incrementing under the lock, interleaved at random, never lose an update", async () => {
      const most = 3;
      const actors = await scope.actors(most);
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: most }),
          fc.scheduler(),
          async (counts, s) => {
            const mutex = factory(0);
            const refs = actors.map((actor) => actor.adopt(mutex));
            // In this thread the scheduler decides which caller goes next, and the increment yields
            // between its read and its write; workers interleave as the threads run.
            const run = async (ref: Ref, n: number) => {
              for (let i = 0; i < n; i++) {
                if (!scope.blocking) await s.schedule(Promise.resolve(), "before lock");
                await ref.call("withLock", { fn: "add", by: 1, yield: true }, T);
              }
            };
            const all = Promise.all(counts.map((n, i) => run(refs[i]!, n)));
            if (scope.blocking) await all;
            else await s.waitFor(all);
            const total = counts.reduce((x, y) => x + y, 0);
            const g: Ref = await refs[0]!.call("tryLock");
            expect(await g.get()).toBe(total);
            await g.call("release");
          },
        ),
        { numRuns: scope.blocking ? 10 : 25 },
      );
    });
  });
}
