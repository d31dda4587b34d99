/**
 * Two transfers lock two accounts in opposite orders: the textbook deadlock. Without diagnostics
 * the program would just stop; with `enableDiagnostics({ deadlocks: true })` the wait that closes
 * the cycle is refused with a DeadlockError that names both locks and where each was taken, the other
 * transfer completes, and the lock-order inversion is reported as well (it is a bug even in runs that
 * happen not to hang). Then a long wait and the statistics.
 *
 * Run: npx tsx examples/deadlock.ts
 */
import { DeadlockError, Mutex } from "lockbox";
import { disableDiagnostics, enableDiagnostics, formatLockStats } from "lockbox/diagnostics";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
type Account = Mutex<{ balance: number }>;

export async function main(): Promise<void> {
  const print = (kind: string) => (report: { message: string }) =>
    console.log(`[${kind}] ${report.message.split("\n")[0]}`);
  // #region tour
  enableDiagnostics({
    deadlocks: true,
    onPotentialDeadlock: print("potential deadlock"),
    longWait: 50,
    onLongWait: print("long wait"),
    stats: true,
  });
  const alice = new Mutex({ balance: 100 }, { name: "alice" });
  const bob = new Mutex({ balance: 100 }, { name: "bob" });

  async function transfer(from: Account, to: Account, amount: number) {
    await from.withLock(async (source) => {
      await sleep(10); // both transfers now hold their first account…
      await to.withLock((target) => {
        // …and each waits for the other's: a cycle.
        source.value.balance -= amount;
        target.value.balance += amount;
      });
    });
  }

  const aliceToBob = transfer(alice, bob, 30);
  const bobToAlice = transfer(bob, alice, 20); // the opposite order
  const results = await Promise.allSettled([aliceToBob, bobToAlice]);
  // #endregion tour
  for (const result of results) {
    if (result.status === "fulfilled") console.log("transfer: done");
    else if (result.reason instanceof DeadlockError) console.log(`transfer: ${result.reason.message}`);
    else throw result.reason;
  }
  const a = alice.tryLock();
  const b = bob.tryLock();
  console.log(
    `balances: alice ${a?.value.balance}, bob ${b?.value.balance} (total ${(a?.value.balance ?? 0) + (b?.value.balance ?? 0)})`,
  );
  a?.release();
  b?.release();

  // A guard held too long: every waiter is reported after 50 ms, with where the holder took it.
  const guard = await alice.lock();
  setTimeout(() => guard.release(), 80);
  await alice.withLock(() => undefined);

  console.log(formatLockStats());
  disableDiagnostics();
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
