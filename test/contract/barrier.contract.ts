/**
 * The Barrier contract (leader, generations, more callers than parties, timeouts and aborts that
 * withdraw), one body for every scope. Intended differences are the named parameters, each a line in
 * docs/decisions.md.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { expectPending, type Ref, type Scope } from "./actors.js";

export interface BarrierLike {
  readonly parties: number;
}

export interface BarrierContractParams {
  /** Largest `parties` (lockbox: 2³¹ − 1; threads: 65535, the arrivals share one word with the generation). */
  readonly maxParties: number;
}

export type BarrierFactory = (parties: number) => BarrierLike;

type Result = { isLeader: boolean };
const T = { timeout: 5_000 };

export function runBarrierContract(scope: Scope, factory: BarrierFactory, params: BarrierContractParams): void {
  const setup = async (count: number, parties: number) => {
    const barrier = factory(parties);
    const actors = await scope.actors(count);
    return { barrier, refs: actors.map((a) => a.adopt(barrier)) };
  };

  describe(`Barrier contract: ${scope.name}`, () => {
    it("the first n - 1 parties wait; the n-th releases them all and is the only leader; the barrier is reusable", async () => {
      const { barrier, refs } = await setup(3, 3);
      expect(barrier.parties).toBe(3);
      for (let generation = 0; generation < 2; generation++) {
        const first = refs[0]!.call("wait", T) as Promise<Result>;
        await expectPending(scope, first, "the first of 3 parties");
        const second = refs[1]!.call("wait", T) as Promise<Result>;
        await expectPending(scope, second, "the second of 3 parties");
        const third = (await refs[2]!.call("wait", T)) as Result;
        expect(third.isLeader).toBe(true);
        expect((await first).isLeader).toBe(false);
        expect((await second).isLeader).toBe(false);
      }
    });

    it("a barrier of 1 passes every wait at once, as the leader", async () => {
      const { refs } = await setup(1, 1);
      expect(await refs[0]!.call("wait")).toEqual({ isLeader: true });
      expect(await refs[0]!.call("wait")).toEqual({ isLeader: true });
    });

    // Issue 9 finding 15 (fixed in both scopes): tokio and std make `Barrier::new(0)` a barrier of 1.
    it("new Barrier(0) is a barrier of 1, as in Rust", async () => {
      const { barrier, refs } = await setup(1, 0);
      expect(barrier.parties).toBe(1);
      expect(await refs[0]!.call("wait")).toEqual({ isLeader: true });
    });

    it(`parties outside 0 to ${params.maxParties} are a RangeError`, () => {
      expect(() => factory(-1)).toThrow(RangeError);
      expect(() => factory(params.maxParties + 1)).toThrow(RangeError);
      expect(() => factory(1.5)).toThrow(RangeError);
      expect(factory(params.maxParties).parties).toBe(params.maxParties);
    });

    it("a party that times out withdraws its arrival: the generation still needs n live parties", async () => {
      const { refs } = await setup(3, 3);
      const [a, b, c] = refs as [Ref, Ref, Ref];
      await expect(a.call("wait", { timeout: 10 })).rejects.toMatchObject({ name: "TimeoutError" });
      const bw = b.call("wait", T) as Promise<Result>;
      const cw = c.call("wait", T) as Promise<Result>;
      await expectPending(scope, bw, "2 live parties of 3 (the third timed out)");
      await expectPending(scope, cw, "2 live parties of 3 (the third timed out)");
      const aw = (await a.call("wait", T)) as Result;
      const results = [aw, await bw, await cw];
      expect(results.filter((r) => r.isLeader)).toHaveLength(1);
    });

    it.skipIf(scope.blocking)(
      "an aborted party withdraws its arrival; an already-aborted signal never arrives",
      async () => {
        // The blocking twins take `{ timeout }` only.
        const { refs } = await setup(3, 2);
        const [a, b, c] = refs as [Ref, Ref, Ref];
        const controller = new AbortController();
        const aborted = a.call("wait", { signal: controller.signal });
        await expectPending(scope, aborted, "1 party of 2");
        controller.abort(new Error("stop"));
        await expect(aborted).rejects.toThrow("stop");
        await expect(c.call("wait", { signal: AbortSignal.abort(new Error("before")) })).rejects.toThrow("before");
        const bw = b.call("wait", T) as Promise<Result>;
        await expectPending(scope, bw, "1 live party of 2");
        const cw = (await c.call("wait", T)) as Result;
        expect(cw.isLeader).toBe(true);
        expect((await bw).isLeader).toBe(false);
      },
    );

    it("more callers than parties: each n callers form one generation with one leader, the extra one waits", async () => {
      const { refs } = await setup(3, 2);
      const waits = refs.map((ref) => ref.call("wait", T) as Promise<Result>);
      const settled = new Map<number, Result>();
      for (const [i, p] of waits.entries()) void p.then((r) => settled.set(i, r));
      // Two of the three complete a generation (which two depends on arrival order across threads).
      while (settled.size < 2) await Promise.race(waits.filter((_, i) => !settled.has(i)));
      const left = [0, 1, 2].find((i) => !settled.has(i))!;
      await expectPending(scope, waits[left]!, "the third caller of a 2-party barrier");
      expect(settled.size).toBe(2);
      expect([...settled.values()].filter((r) => r.isLeader)).toHaveLength(1);
      const again = refs[[...settled.keys()][0]!]!.call("wait", T) as Promise<Result>;
      const pair = [await waits[left]!, await again];
      expect(pair.filter((r) => r.isLeader)).toHaveLength(1);
    });

    it("property: k callers of a p-party barrier complete floor(k / p) generations, each with one leader", async () => {
      const most = scope.blocking ? 3 : 6;
      const actors = await scope.actors(most);
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 1, max: 3 }),
          fc.integer({ min: 1, max: most }),
          fc.scheduler(),
          async (parties, callers, s) => {
            const barrier = factory(parties);
            const refs = actors.slice(0, callers).map((actor) => actor.adopt(barrier));
            // In this thread the scheduler picks the arrival order; workers arrive as they run.
            const waits = refs.map((ref) =>
              scope.blocking
                ? (ref.call("wait", T) as Promise<Result>)
                : s.schedule(Promise.resolve()).then(() => ref.call("wait", T) as Promise<Result>),
            );
            const done = new Map<number, Result>();
            for (const [i, p] of waits.entries()) void p.then((r) => done.set(i, r));
            if (!scope.blocking) await s.waitAll();
            const generations = Math.floor(callers / parties);
            while (done.size < generations * parties) await Promise.race(waits.filter((_, i) => !done.has(i)));
            const left = waits.filter((_, i) => !done.has(i));
            for (const p of left) await expectPending(scope, p, "a caller beyond the last whole generation");
            expect(done.size).toBe(generations * parties);
            expect([...done.values()].filter((r) => r.isLeader)).toHaveLength(generations);
            // The callers left over complete the next generation with free actors (so no worker
            // stays blocked): exactly one leader among them.
            if (left.length > 0) {
              const free = actors.filter((_, i) => i >= callers || done.has(i)).slice(0, parties - left.length);
              expect(free).toHaveLength(parties - left.length);
              const last = await Promise.all([...left, ...free.map((actor) => actor.adopt(barrier).call("wait", T))]);
              expect(last.filter((r) => r.isLeader)).toHaveLength(1);
            }
          },
        ),
        { numRuns: scope.blocking ? 10 : 30 },
      );
    });
  });
}
