/**
 * The Vitest example of docs/testing.md, verbatim apart from the imports (the docs import from
 * `lockbox` and `lockbox/testing`): a docs example that cannot drift.
 */
import { describe, expect, it } from "vitest";
import { Mutex } from "../../src/index.js";
import { ExplorationError, type ExploreContext, explore } from "../../src/testing/index.js";

// --- from docs/testing.md ---------------------------------------------------------------------------
function transfers(atomic: boolean) {
  return async (t: ExploreContext) => {
    const account = new Mutex({ balance: 100 }, { name: "account" });
    const withdraw = async (amount: number) => {
      if (atomic) {
        await account.withLock((guard) => {
          if (guard.value.balance >= amount) guard.value.balance -= amount;
        });
        return;
      }
      const check = await account.lock(); // the bug: check under one lock() …
      const enough = check.value.balance >= amount;
      check.release();
      if (!enough) return;
      const debit = await account.lock(); // … debit under another
      debit.value.balance -= amount;
      debit.release();
    };
    t.spawn(() => withdraw(70));
    t.spawn(() => withdraw(70));
    await t.join();
    const final = await account.lock();
    t.assert(final.value.balance >= 0, `overdraft: ${final.value.balance}`);
    final.release();
  };
}

describe("withdrawals", () => {
  it("never overdraw the account", async () => {
    const result = await explore(transfers(true), { strategy: "exhaustive" });
    expect(result.exhaustive).toBe(true); // every schedule with at most 2 preemptions passed
  });

  it("the two-lock version is caught", async () => {
    const error = await explore(transfers(false), { seed: 1 }).catch((e) => e);
    expect(error).toBeInstanceOf(ExplorationError);
    expect(error.cause.message).toBe("overdraft: -40");
    // The schedule replays the failure, every time:
    await expect(explore(transfers(false), { replay: error.schedule })).rejects.toThrow("overdraft: -40");
  });
});
// ------------------------------------------------------------------------------------------------------
