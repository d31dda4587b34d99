/**
 * The OnceCell / OnceLock contract (initialize once, concurrent callers share one initialization, a
 * failed initializer lets the next caller retry, waits bounded by timeouts and aborts), one body for
 * every scope. The in-process `OnceCell<number>` holds the value itself; the threads
 * `OnceLock<Int32Array>` holds storage that the initializer fills: the adapter below reads a value as
 * the number in the cell or `storage[0]`. Intended differences are the named parameters, each a line
 * in docs/decisions.md.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { expectPending, type Ref, type Scope } from "./actors.js";
import { gate, type Recipe } from "./recipes.js";

export interface OnceLike {
  readonly initialized: boolean;
}

export interface OnceContractParams {
  /** Has `set(value)` (lockbox `OnceCell`; the threads `OnceLock` is initialized only through `getOrInit`). */
  readonly hasSet: boolean;
  /** Has `wait()` for another caller's initialization (threads `OnceLock`; `OnceCell` has none, as in tokio). */
  readonly hasWait: boolean;
}

export type OnceFactory = () => OnceLike;

const T = { timeout: 5_000 };
const counter = () => new Int32Array(new SharedArrayBuffer(4));
const init = (to: number, runs: Int32Array, extra: Partial<Extract<Recipe, { fn: "init" }>> = {}): Recipe => ({
  fn: "init",
  to,
  runs,
  ...extra,
});

/** The number a once-cell holds: the value itself (OnceCell) or `storage[0]` (OnceLock); `undefined` when empty. */
function numberOf(result: unknown): number | undefined {
  if (result === undefined || typeof result === "number") return result;
  return (result as Int32Array)[0];
}

export function runOnceContract(scope: Scope, factory: OnceFactory, params: OnceContractParams): void {
  const setup = async (count: number) => {
    const once = factory();
    const actors = await scope.actors(count);
    return { once, refs: actors.map((a) => a.adopt(once)) };
  };
  const getOrInit = async (ref: Ref, recipe: Recipe, options?: object) =>
    numberOf(await ref.call("getOrInit", recipe, ...(options ? [options] : [])));

  describe(`OnceCell/OnceLock contract: ${scope.name}`, () => {
    it("getOrInit runs the initializer once; get() is empty before and the value after", async () => {
      const { once, refs } = await setup(2);
      const [a, b] = refs as [Ref, Ref];
      expect(numberOf(await a.call("get"))).toBeUndefined();
      expect(once.initialized).toBe(false);
      const runsA = counter();
      const runsB = counter();
      expect(await getOrInit(a, init(5, runsA))).toBe(5);
      expect(once.initialized).toBe(true);
      expect(await getOrInit(b, init(6, runsB))).toBe(5);
      expect(await getOrInit(a, init(7, runsA))).toBe(5);
      expect(numberOf(await b.call("get"))).toBe(5);
      expect([runsA[0], runsB[0]]).toEqual([1, 0]);
    });

    it("concurrent callers share one initialization: the second waits and never runs its own", async () => {
      const { once, refs } = await setup(2);
      const [a, b] = refs as [Ref, Ref];
      const g = gate();
      const runsA = counter();
      const runsB = counter();
      const first = getOrInit(a, init(1, runsA, { gate: g }), T);
      await expectPending(scope, first, "an initializer held at its gate");
      const second = getOrInit(b, init(2, runsB), T);
      await expectPending(scope, second, "getOrInit while another initializer runs");
      expect(once.initialized).toBe(false);
      g.open();
      expect(await first).toBe(1);
      expect(await second).toBe(1);
      expect([runsA[0], runsB[0]]).toEqual([1, 0]);
    });

    it("an initializer that throws: its caller gets the error, the cell stays empty, and the waiting caller runs its own", async () => {
      const { once, refs } = await setup(2);
      const [a, b] = refs as [Ref, Ref];
      const g = gate();
      const runsA = counter();
      const runsB = counter();
      const failing = getOrInit(a, init(1, runsA, { gate: g, fail: "init failed" }), T);
      await expectPending(scope, failing, "an initializer held at its gate");
      const next = getOrInit(b, init(2, runsB), T);
      await expectPending(scope, next, "getOrInit while another initializer runs");
      g.open();
      await expect(failing).rejects.toThrow("init failed");
      expect(await next).toBe(2);
      expect([runsA[0], runsB[0]]).toEqual([1, 1]);
      expect(once.initialized).toBe(true);
      // Sequentially as well: a failure leaves it empty for the next caller.
      const { once: again, refs: refs2 } = await setup(1);
      await expect(getOrInit(refs2[0]!, init(3, counter(), { fail: "again" }))).rejects.toThrow("again");
      expect(again.initialized).toBe(false);
      expect(numberOf(await refs2[0]!.call("get"))).toBeUndefined();
      expect(await getOrInit(refs2[0]!, init(4, counter()))).toBe(4);
    });

    it("a caller that times out waiting for another initializer leaves without running its own", async () => {
      const { refs } = await setup(2);
      const [a, b] = refs as [Ref, Ref];
      const g = gate();
      const runsB = counter();
      const first = getOrInit(a, init(1, counter(), { gate: g }), T);
      await expectPending(scope, first, "an initializer held at its gate");
      await expect(getOrInit(b, init(2, runsB), { timeout: 10 })).rejects.toMatchObject({ name: "TimeoutError" });
      expect(runsB[0]).toBe(0);
      g.open();
      expect(await first).toBe(1);
      expect(await getOrInit(b, init(2, runsB))).toBe(1);
      expect(runsB[0]).toBe(0);
    });

    it.skipIf(scope.blocking)(
      "an aborted wait leaves without running its initializer; the options never interrupt a running one",
      async () => {
        // The blocking twins take `{ timeout }` only.
        const { refs } = await setup(2);
        const [a, b] = refs as [Ref, Ref];
        const g = gate();
        const controller = new AbortController();
        const first = getOrInit(a, init(1, counter(), { gate: g }), { signal: controller.signal });
        await expectPending(scope, first, "an initializer held at its gate");
        const runsB = counter();
        const other = new AbortController();
        const second = getOrInit(b, init(2, runsB), { signal: other.signal });
        await expectPending(scope, second, "getOrInit while another initializer runs");
        other.abort(new Error("stop"));
        await expect(second).rejects.toThrow("stop");
        controller.abort(new Error("too late"));
        g.open();
        expect(await first).toBe(1);
        expect(runsB[0]).toBe(0);
      },
    );

    it.runIf(params.hasSet)("set() fills an empty cell once, and refuses while an initializer runs", async () => {
      const { refs } = await setup(2);
      const [a, b] = refs as [Ref, Ref];
      const g = gate();
      const running = getOrInit(a, init(1, counter(), { gate: g }), T);
      await expectPending(scope, running, "an initializer held at its gate");
      expect(await b.call("set", 9)).toBe(false);
      g.open();
      expect(await running).toBe(1);
      expect(await b.call("set", 9)).toBe(false);
      const fresh = await setup(1);
      expect(await fresh.refs[0]!.call("set", 3)).toBe(true);
      expect(fresh.once.initialized).toBe(true);
      expect(await getOrInit(fresh.refs[0]!, init(4, counter()))).toBe(3);
    });

    it.runIf(params.hasWait)(
      "wait() resolves once another caller has initialized, and times out otherwise",
      async () => {
        const { refs } = await setup(2);
        const [a, b] = refs as [Ref, Ref];
        await expect(b.call("wait", { timeout: 10 })).rejects.toMatchObject({ name: "TimeoutError" });
        const waiting = b.call("wait", T);
        await expectPending(scope, waiting, "wait() before initialization");
        expect(await getOrInit(a, init(8, counter()))).toBe(8);
        expect(numberOf(await waiting)).toBe(8);
      },
    );

    it("property: callers with failing and succeeding initializers all agree on one value", async () => {
      const most = scope.blocking ? 3 : 5;
      const actors = await scope.actors(most);
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.boolean(), { minLength: 1, maxLength: most }),
          fc.scheduler(),
          async (fails, s) => {
            const once = factory();
            const runs = fails.map(() => counter());
            // In this thread the scheduler picks the callers' order; workers run as the threads do.
            const calls = Promise.allSettled(
              fails.map(async (fail, i) => {
                if (!scope.blocking) await s.schedule(Promise.resolve());
                return getOrInit(actors[i]!.adopt(once), init(10 + i, runs[i]!, fail ? { fail: `fail ${i}` } : {}), T);
              }),
            );
            if (!scope.blocking) await s.waitFor(calls);
            const outcomes = await calls;
            const values = new Set<number | undefined>();
            for (const [i, outcome] of outcomes.entries()) {
              if (outcome.status === "rejected") {
                // Only a caller whose own initializer failed sees an error, and it ran exactly once.
                expect(fails[i]).toBe(true);
                expect(runs[i]![0]).toBe(1);
                expect(String(outcome.reason)).toContain(`fail ${i}`);
              } else {
                values.add(outcome.value);
              }
              expect(runs[i]![0]).toBeLessThanOrEqual(1);
            }
            const succeeding = fails.filter((f) => !f).length;
            const successfulRuns = fails.filter((f, i) => !f && runs[i]![0] === 1).length;
            expect(successfulRuns).toBe(succeeding > 0 ? 1 : 0);
            expect(values.size).toBe(succeeding > 0 ? 1 : 0);
            expect(once.initialized).toBe(succeeding > 0);
          },
        ),
        { numRuns: scope.blocking ? 10 : 30 },
      );
    });
  });
}
