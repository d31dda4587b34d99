/**
 * The Notify contract (tokio's `Notify`). Notify exists in-process only (`lockbox/threads` has
 * `Condvar` and atomics' `waitAsync` instead), so this suite runs against one scope; it takes a
 * scope and a factory like the others so that a later implementation (a store's) can join.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { expectPending, type Ref, type Scope } from "./actors.js";

export type NotifyFactory = () => { notifyOne(): void; notifyWaiters(): void };

export function runNotifyContract(scope: Scope, factory: NotifyFactory): void {
  const setup = async (count: number) => {
    const notify = factory();
    const actors = await scope.actors(count);
    return { notify, refs: actors.map((a) => a.adopt(notify)) };
  };

  const fulfilled = async (promise: Promise<unknown>) => expect((await scope.settle(promise)).state).toBe("fulfilled");

  describe(`Notify contract: ${scope.name}`, () => {
    it("notifyOne with nobody waiting stores one notification, however many calls; notified() consumes it", async () => {
      const { refs } = await setup(2);
      const [a, b] = refs as [Ref, Ref];
      await b.call("notifyOne");
      await b.call("notifyOne");
      await a.call("notified");
      const second = a.call("notified");
      await expectPending(scope, second, "notified() after the stored notification was consumed");
      await b.call("notifyOne");
      await second;
    });

    it("notifyOne wakes the longest waiter only", async () => {
      const { refs } = await setup(3);
      const [a, b, c] = refs as [Ref, Ref, Ref];
      const first = a.call("notified");
      await expectPending(scope, first, "the first waiter");
      const second = b.call("notified");
      await expectPending(scope, second, "the second waiter");
      await c.call("notifyOne");
      await first;
      await expectPending(scope, second, "the second waiter after one notifyOne");
      await c.call("notifyOne");
      await second;
    });

    it("notifyWaiters wakes every current waiter and stores nothing", async () => {
      const { refs } = await setup(3);
      const [a, b, c] = refs as [Ref, Ref, Ref];
      const waits = [a.call("notified"), b.call("notified")];
      await expectPending(scope, waits[1]!, "a waiter");
      await c.call("notifyWaiters");
      await Promise.all(waits);
      const later = a.call("notified");
      await expectPending(scope, later, "notified() after notifyWaiters with nobody waiting");
      await c.call("notifyOne");
      await later;
    });

    it("a timed-out or aborted waiter leaves and consumes nothing; an already-aborted signal keeps the stored notification", async () => {
      const { refs } = await setup(2);
      const [a, b] = refs as [Ref, Ref];
      await expect(a.call("notified", { timeout: 5 })).rejects.toMatchObject({ name: "TimeoutError" });
      const controller = new AbortController();
      const aborted = a.call("notified", { signal: controller.signal });
      await expectPending(scope, aborted, "a waiter");
      controller.abort(new Error("stop"));
      await expect(aborted).rejects.toThrow("stop");
      // Nobody is left waiting: the next notifyOne is stored, and an already-aborted signal leaves it.
      await b.call("notifyOne");
      await expect(a.call("notified", { signal: AbortSignal.abort(new Error("before")) })).rejects.toThrow("before");
      await a.call("notified");
    });

    it("a notifyOne wake that races with its waiter's abort is handed on; a notifyWaiters wake is not", async () => {
      // The race needs the wake and the abort in one synchronous step: the notifier is this thread.
      const { notify, refs } = await setup(2);
      const [a, b] = refs as [Ref, Ref];
      const controller = new AbortController();
      const first = a.call("notified", { signal: controller.signal });
      const second = b.call("notified");
      await expectPending(scope, second, "the second waiter");
      notify.notifyOne();
      controller.abort(new Error("stop"));
      await expect(first).rejects.toThrow("stop");
      await fulfilled(second);
      const again = new AbortController();
      const third = a.call("notified", { signal: again.signal });
      const fourth = b.call("notified");
      await expectPending(scope, fourth, "a waiter");
      notify.notifyWaiters();
      again.abort(new Error("stop"));
      await fulfilled(fourth);
      await expect(third).rejects.toThrow("stop");
      const later = b.call("notified");
      await expectPending(scope, later, "a waiter after notifyWaiters (its aborted wake was not stored)");
      notify.notifyOne();
      await fulfilled(later);
    });

    it("property: any sequence of notified / notifyOne / notifyWaiters matches the model (FIFO queue, at most one stored)", async () => {
      type Op = { kind: "wait" } | { kind: "one" } | { kind: "all" };
      const op: fc.Arbitrary<Op> = fc.oneof(
        fc.constant({ kind: "wait" as const }),
        fc.constant({ kind: "one" as const }),
        fc.constant({ kind: "all" as const }),
      );
      const [actor] = await scope.actors(1);
      await fc.assert(
        fc.asyncProperty(fc.array(op, { maxLength: 20 }), async (ops) => {
          const ref = actor!.adopt(factory());
          const waits: Promise<unknown>[] = [];
          const woken: boolean[] = [];
          let queue: number[] = [];
          let stored = false;
          for (const o of ops) {
            if (o.kind === "wait") {
              const i = waits.length;
              woken.push(false);
              waits.push(ref.call("notified").then(() => (woken[i] = true)));
              if (stored) {
                stored = false;
                await fulfilled(waits[i]!);
              } else {
                queue.push(i);
              }
            } else if (o.kind === "one") {
              await ref.call("notifyOne");
              if (queue.length > 0) await fulfilled(waits[queue.shift()!]!);
              else stored = true;
            } else {
              await ref.call("notifyWaiters");
              for (const i of queue) await fulfilled(waits[i]!);
              queue = [];
            }
            for (const i of queue) await expectPending(scope, waits[i]!, `waiter ${i}`);
          }
          expect(woken.filter((w) => !w)).toHaveLength(queue.length);
        }),
        { numRuns: 60 },
      );
    });
  });
}
