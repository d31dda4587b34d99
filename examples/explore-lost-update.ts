/**
 * `lockbox/testing` finds a lost update that a plain test misses. Two withdrawals check the balance
 * under one `lock()` and debit it under another; run once, the program looks fine. `explore` runs it
 * under many schedules, finds the one that overdraws the account, shrinks it to a single task switch,
 * and hands back a replay string that reproduces the failure every time.
 */
import { Mutex } from "lockbox";
import { ExplorationError, type ExploreContext, explore } from "lockbox/testing";

// #region tour
async function twoWithdrawals(t: ExploreContext): Promise<void> {
  const account = new Mutex({ balance: 100 }, { name: "account" });
  const withdraw = async (amount: number) => {
    const check = await account.lock();
    const enough = check.value.balance >= amount;
    check.release();
    if (!enough) return;
    // The bug: the other withdrawal can run between the two locks.
    const debit = await account.lock();
    debit.value.balance -= amount;
    debit.release();
  };
  t.spawn(() => withdraw(70));
  t.spawn(() => withdraw(70));
  await t.join();
  const final = await account.lock();
  const { balance } = final.value;
  final.release();
  t.assert(balance >= 0, `overdraft: balance ${balance}`);
}
// #endregion tour

export async function main(): Promise<void> {
  try {
    // #region tour
    await explore(twoWithdrawals, { strategy: "random", runs: 1000, seed: 1 });
    // #endregion tour
    console.log("no failing schedule found");
  } catch (error) {
    if (!(error instanceof ExplorationError)) throw error;
    console.log(
      `found: ${(error.cause as Error).message} in run ${error.run}, ${error.preemptions} preemption(s) after shrinking`,
    );
    console.log(`replay string: ${error.schedule}`);
    console.log(error.message.slice(error.message.indexOf("trace")));
    // The replay string reruns exactly that schedule: the same failure, every time.
    const again = await explore(twoWithdrawals, { replay: error.schedule }).catch((e: unknown) => e);
    const same = again instanceof ExplorationError && again.schedule === error.schedule;
    console.log(`replayed: ${same ? "same failure" : "different outcome"}`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
