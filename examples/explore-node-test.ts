/**
 * `lockbox/testing` under Node's own test runner (`node:test`): run it with
 * `node --import tsx --test examples/explore-node-test.ts` (or plainly, `tsx examples/explore-node-test.ts`:
 * a `node:test` file runs its tests when executed). One test proves a buffer correct in every
 * schedule with at most one preemption; the other shows that the same buffer with an `if` instead of a
 * `while` around `Condvar.wait` fails, and that the failure replays.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Condvar, Mutex } from "lockbox";
import { ExplorationError, type ExploreContext, explore } from "lockbox/testing";

function buffer(recheck: boolean) {
  return async (t: ExploreContext) => {
    const items = new Mutex<number[]>([], { name: "items" });
    const nonEmpty = new Condvar({ name: "nonEmpty" });
    const take = async () => {
      let guard = await items.lock();
      if (recheck) guard = await nonEmpty.waitWhile(guard, (list) => list.length === 0);
      else if (guard.value.length === 0) guard = await nonEmpty.wait(guard);
      const item = guard.value.shift();
      guard.release();
      t.assert(item !== undefined, "took from an empty buffer");
    };
    const put = async (n: number) => {
      await items.withLock((guard) => {
        guard.value.push(n);
      });
      nonEmpty.notifyOne();
    };
    t.spawn(take);
    t.spawn(take);
    t.spawn(() => put(1));
    t.spawn(() => put(2));
    await t.join();
  };
}

test("the buffer is correct in every schedule with at most one preemption", async () => {
  const result = await explore(buffer(true), { strategy: "exhaustive", preemptionBound: 1, runs: 5_000 });
  assert.equal(result.exhaustive, true);
  console.log(`exhaustive: ${result.schedulesExplored} schedules, all passed`);
});

test("an if instead of a while around Condvar.wait is found, and replays", async () => {
  const error = await explore(buffer(false), { strategy: "random", seed: 1 }).catch((e: unknown) => e);
  assert.ok(error instanceof ExplorationError);
  assert.match((error.cause as Error).message, /took from an empty buffer/);
  await assert.rejects(explore(buffer(false), { replay: error.schedule }), ExplorationError);
  console.log(`found with replay string ${error.schedule}`);
});
