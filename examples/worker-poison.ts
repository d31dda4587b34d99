/**
 * A worker dies while holding a lock. Because it was started with `spawn()` (which supervises it), the
 * lock is released and poisoned when the worker exits: the main thread's waiting `lock()` rejects with
 * PoisonError instead of hanging forever. The main thread then looks at the half-updated data with
 * `ignorePoison`, repairs it, and clears the poison.
 */
import { Mutex, PoisonError, spawn, struct } from "lockbox/threads";

const AccountsLayout = struct({ alice: "i32", bob: "i32" });
export type Accounts = ReturnType<typeof AccountsLayout.create>;

export async function main(): Promise<void> {
  const accounts = new Mutex(AccountsLayout.create({ alice: 500, bob: 500 }));
  const worker = spawn(new URL("./workers/boot.mjs", import.meta.url), {
    workerData: { script: "./crash.ts", accounts: accounts.handle },
  });
  // The crash is what this example shows: say so, rather than print it like a failure.
  worker.on("error", (error) => console.log(`worker died (intended): ${error.message}`));
  // Wait until the worker holds the lock. Not events.once(worker, "message"): that rejects if the
  // worker's "error" event happens to be delivered first.
  await new Promise((resolve) => {
    worker.once("message", resolve);
    worker.once("error", resolve);
  });

  // #region tour
  const started = performance.now();
  try {
    const guard = await accounts.lock({ timeout: 5_000 });
    guard.release();
    console.log("unexpected: got the lock");
  } catch (error) {
    if (!(error instanceof PoisonError)) throw error;
    const ms = Math.round(performance.now() - started);
    console.log(`${error.name} after ${ms} ms: ${error.message}`);
  }

  const inspect = await accounts.lock({ ignorePoison: true });
  const { alice, bob } = inspect.value;
  const total = alice + bob;
  console.log(`half-updated: alice ${alice}, bob ${bob} (total ${total})`);
  inspect.value.alice += 100; // roll the debit back
  inspect.release();
  accounts.clearPoison();
  // #endregion tour

  const guard = await accounts.lock();
  console.log(`after clearPoison: locked fine; alice ${guard.value.alice}, bob ${guard.value.bob}`);
  guard.release();
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
