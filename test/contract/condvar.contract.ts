/**
 * The Condvar contract (wait, notifyOne, notifyAll, waitWhile, waitTimeout, timeouts, aborts,
 * poisoning), one body for every scope. Intended differences are the named parameters, each a line
 * in docs/decisions.md.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { expectPending, type Ref, type Scope, until } from "./actors.js";

export interface CondvarPair {
  /** A mutex over an `Int32Array` of 1 (value 0). */
  readonly mutex: { readonly isLocked: boolean; readonly isPoisoned: boolean };
  readonly condvar: object;
}

export interface CondvarContractParams {
  /**
   * `notifyOne` wakes the longest waiter (lockbox: FIFO, as tokio) rather than any one waiter
   * (threads: whichever parked waiter claims the wake-up first).
   */
  readonly notifyOneWakesLongestWaiter: boolean;
}

export type CondvarFactory = () => CondvarPair;

const T = { timeout: 5_000 };

interface Side {
  mutex: Ref;
  condvar: Ref;
}

export function runCondvarContract(scope: Scope, factory: CondvarFactory, params: CondvarContractParams): void {
  const setup = async (count: number) => {
    const pair = factory();
    const actors = await scope.actors(count);
    const sides: Side[] = actors.map((actor) => ({
      mutex: actor.adopt(pair.mutex),
      condvar: actor.adopt(pair.condvar),
    }));
    return { pair, sides };
  };
  /** The waiter has released the mutex, so it is registered (a notify from now on reaches it). */
  const released = (pair: CondvarPair) => until(() => !pair.mutex.isLocked, "the waiter released the mutex");
  /** Locks, sets value[0] (when given), notifies, unlocks. */
  const signal = async (side: Side, how: "notifyOne" | "notifyAll", to?: number) => {
    const g: Ref = await side.mutex.call("lock", T);
    if (to !== undefined) await g.set(to);
    await side.condvar.call(how);
    await g.call("release");
  };

  describe(`Condvar contract: ${scope.name}`, () => {
    it("wait releases the mutex, and after a notify re-acquires it before resolving with a new guard", async () => {
      const { pair, sides } = await setup(2);
      const [a, b] = sides as [Side, Side];
      const g: Ref = await a.mutex.call("lock");
      const waiting = a.condvar.call("wait", g, T) as Promise<Ref>;
      await released(pair);
      const h: Ref = await b.mutex.call("lock");
      await h.set(1);
      await b.condvar.call("notifyOne");
      await expectPending(scope, waiting, "wait() while the notifier still holds the mutex");
      await h.call("release");
      const g2 = await waiting;
      // (Asked only now: a worker blocked in waitSync answers nothing until it returns.)
      expect(await g.prop("released")).toBe(true);
      expect(await g2.get()).toBe(1);
      expect(pair.mutex.isLocked).toBe(true);
      await g2.call("release");
      expect(pair.mutex.isLocked).toBe(false);
    });

    it("a notify with nobody waiting is not stored: a later waitTimeout times out holding the lock", async () => {
      const { pair, sides } = await setup(1);
      const [a] = sides as [Side];
      await a.condvar.call("notifyOne");
      await a.condvar.call("notifyAll");
      const g: Ref = await a.mutex.call("lock");
      const { guard, timedOut } = (await a.condvar.call("waitTimeout", g, 15)) as { guard: Ref; timedOut: boolean };
      expect(timedOut).toBe(true);
      expect(pair.mutex.isLocked).toBe(true);
      expect(await guard.get()).toBe(0);
      await guard.call("release");
      expect(pair.mutex.isLocked).toBe(false);
    });

    it("waitTimeout that is notified in time reports timedOut: false", async () => {
      const { pair, sides } = await setup(2);
      const [a, b] = sides as [Side, Side];
      const g: Ref = await a.mutex.call("lock");
      const waiting = a.condvar.call("waitTimeout", g, 5_000) as Promise<{ guard: Ref; timedOut: boolean }>;
      await released(pair);
      await signal(b, "notifyOne", 2);
      const { guard, timedOut } = await waiting;
      expect(timedOut).toBe(false);
      expect(await guard.get()).toBe(2);
      await guard.call("release");
    });

    it(`notifyOne wakes exactly one waiter (${params.notifyOneWakesLongestWaiter ? "the longest" : "any"}); notifyAll wakes the rest`, async () => {
      const { pair, sides } = await setup(3);
      const [a, b, c] = sides as [Side, Side, Side];
      const ga: Ref = await a.mutex.call("lock");
      const first = a.condvar.call("wait", ga, T) as Promise<Ref>;
      await released(pair);
      const gb: Ref = await b.mutex.call("lock");
      const second = b.condvar.call("wait", gb, T) as Promise<Ref>;
      await released(pair);
      await signal(c, "notifyOne");
      const woken = await Promise.race([first.then(() => "a" as const), second.then(() => "b" as const)]);
      if (params.notifyOneWakesLongestWaiter) expect(woken).toBe("a");
      const [won, other] = woken === "a" ? [first, second] : [second, first];
      await (await won).call("release");
      await expectPending(scope, other, "the second waiter after one notifyOne");
      await signal(c, "notifyAll");
      await (await other).call("release");
      expect(pair.mutex.isLocked).toBe(false);
    });

    it("notifyAll wakes every waiter, each in turn holding the mutex", async () => {
      const { pair, sides } = await setup(3);
      const [a, b, c] = sides as [Side, Side, Side];
      const waits: Promise<Ref>[] = [];
      for (const side of [a, b]) {
        const g: Ref = await side.mutex.call("lock");
        waits.push(side.condvar.call("wait", g, T));
        await released(pair);
      }
      await signal(c, "notifyAll", 5);
      // Both are woken; each resolves once it holds the mutex, so release each one as it comes.
      const left = new Set(waits);
      while (left.size > 0) {
        const [which, g] = await Promise.race([...left].map((p) => p.then((ref) => [p, ref] as const)));
        expect(await g.get()).toBe(5);
        await g.call("release");
        left.delete(which);
      }
      expect(pair.mutex.isLocked).toBe(false);
    });

    it("wait with a timeout rejects with TimeoutError and holds nothing", async () => {
      const { pair, sides } = await setup(1);
      const [a] = sides as [Side];
      const g: Ref = await a.mutex.call("lock");
      await expect(a.condvar.call("wait", g, { timeout: 10 })).rejects.toMatchObject({ name: "TimeoutError" });
      expect(await g.prop("released")).toBe(true);
      expect(pair.mutex.isLocked).toBe(false);
    });

    it("waitWhile re-checks after every wake-up and resolves, holding the lock, once the condition is false", async () => {
      const { pair, sides } = await setup(2);
      const [a, b] = sides as [Side, Side];
      const g0: Ref = await a.mutex.call("lock");
      const at0: Ref = await a.condvar.call("waitWhile", g0, { fn: "lessThan", n: 0 });
      expect(await at0.get()).toBe(0);
      const waiting = a.condvar.call("waitWhile", at0, { fn: "lessThan", n: 3 }, T) as Promise<Ref>;
      await released(pair);
      await signal(b, "notifyAll", 1);
      await signal(b, "notifyAll", 2);
      await expectPending(scope, waiting, "waitWhile(value < 3) at value 2");
      await signal(b, "notifyOne", 3);
      const done = await waiting;
      expect(await done.get()).toBe(3);
      expect(pair.mutex.isLocked).toBe(true);
      await done.call("release");
    });

    it("waitWhile: a condition that throws releases the lock and rejects, without poisoning", async () => {
      const { pair, sides } = await setup(2);
      const [a, b] = sides as [Side, Side];
      const g: Ref = await a.mutex.call("lock");
      const waiting = a.condvar.call("waitWhile", g, { fn: "throwAtLeast", n: 1, message: "condition" }, T);
      await released(pair);
      await signal(b, "notifyAll", 1);
      await expect(waiting).rejects.toThrow("condition");
      expect(pair.mutex.isLocked).toBe(false);
      expect(pair.mutex.isPoisoned).toBe(false);
      await (await b.mutex.call("lock")).call("release");
    });

    it("waitWhile's timeout bounds the whole call", async () => {
      const { pair, sides } = await setup(1);
      const [a] = sides as [Side];
      const g: Ref = await a.mutex.call("lock");
      await expect(a.condvar.call("waitWhile", g, { fn: "lessThan", n: 1 }, { timeout: 15 })).rejects.toMatchObject({
        name: "TimeoutError",
      });
      expect(pair.mutex.isLocked).toBe(false);
    });

    it("a released guard is refused with UseAfterReleaseError and nothing changes", async () => {
      const { pair, sides } = await setup(1);
      const [a] = sides as [Side];
      const g: Ref = await a.mutex.call("lock");
      await g.call("release");
      await expect(a.condvar.call("wait", g, T)).rejects.toMatchObject({ name: "UseAfterReleaseError" });
      expect(pair.mutex.isLocked).toBe(false);
    });

    it("a mutex poisoned while waiting: the wait rejects with PoisonError and holds nothing", async () => {
      const { pair, sides } = await setup(2);
      const [a, b] = sides as [Side, Side];
      const g: Ref = await a.mutex.call("lock");
      const waiting = a.condvar.call("wait", g, T);
      await released(pair);
      const h: Ref = await b.mutex.call("lock");
      await h.call("poison");
      await b.condvar.call("notifyAll");
      await h.call("release");
      await expect(waiting).rejects.toMatchObject({ name: "PoisonError" });
      expect(pair.mutex.isLocked).toBe(false);
      expect(pair.mutex.isPoisoned).toBe(true);
    });

    it.skipIf(scope.blocking)(
      "abort: an already-aborted signal releases the guard without waiting; a later abort re-acquires and releases",
      async () => {
        // The blocking twins take `{ timeout }` only.
        const { pair, sides } = await setup(1);
        const [a] = sides as [Side];
        const g: Ref = await a.mutex.call("lock");
        await expect(a.condvar.call("wait", g, { signal: AbortSignal.abort(new Error("before")) })).rejects.toThrow(
          "before",
        );
        expect(await g.prop("released")).toBe(true);
        expect(pair.mutex.isLocked).toBe(false);
        const g2: Ref = await a.mutex.call("lock");
        const controller = new AbortController();
        const waiting = a.condvar.call("wait", g2, { signal: controller.signal });
        await released(pair);
        controller.abort(new Error("stop"));
        await expect(waiting).rejects.toThrow("stop");
        expect(pair.mutex.isLocked).toBe(false);
      },
    );

    it("property: consumers waiting for targets all finish, whatever the targets and the notify kinds (no lost wake-up)", async () => {
      const actors = await scope.actors(3);
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 2 }),
          fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }),
          fc.scheduler(),
          async (targets, notifyAll, s) => {
            const pair = factory();
            const sides = actors.map((actor) => ({
              mutex: actor.adopt(pair.mutex),
              condvar: actor.adopt(pair.condvar),
            }));
            // In this thread the scheduler interleaves the consumers' waits with the producer's steps;
            // workers interleave as the threads run.
            const tick = () => (scope.blocking ? Promise.resolve() : s.schedule(Promise.resolve()));
            const producerSide = sides[targets.length]!;
            const consumers = targets.map(async (target, i) => {
              const side = sides[i]!;
              await tick();
              const g: Ref = await side.mutex.call("lock", T);
              const done: Ref = await side.condvar.call("waitWhile", g, { fn: "lessThan", n: target }, T);
              const seen = await done.get();
              await done.call("release");
              return seen;
            });
            // notifyOne only where one consumer can be waiting; otherwise notifyAll (a notifyOne may
            // legitimately wake a consumer whose condition still holds).
            const producer = (async () => {
              for (let v = 1; v <= 4; v++) {
                await tick();
                await signal(producerSide, targets.length === 1 && !notifyAll[v - 1] ? "notifyOne" : "notifyAll", v);
              }
            })();
            const all = Promise.all([Promise.all(consumers), producer]);
            if (!scope.blocking) await s.waitFor(all);
            const [seen] = await all;
            for (const [i, value] of seen.entries()) expect(value).toBeGreaterThanOrEqual(targets[i]!);
            expect(pair.mutex.isLocked).toBe(false);
          },
        ),
        { numRuns: scope.blocking ? 10 : 30 },
      );
    });
  });
}
