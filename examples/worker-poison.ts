/**
 * A worker dies while holding a lock. Because it was started with `spawn()` (which supervises it), the
 * lock is released and poisoned when the worker exits: the main thread's waiting `lock()` rejects with
 * PoisonError instead of hanging forever. The main thread then looks at the half-updated data with
 * `ignorePoison`, repairs it, and clears the poison.
 */
import { once } from "node:events";
import { Mutex, PoisonError, spawn, struct } from "lockbox/threads";

const AccountsLayout = struct({ alice: "i32", bob: "i32" });
export type Accounts = ReturnType<typeof AccountsLayout.create>;

export async function main(): Promise<void> {
  const accounts = new Mutex(AccountsLayout.create({ alice: 500, bob: 500 }));
  const worker = spawn(new URL("./workers/boot.mjs", import.meta.url), {
    workerData: { script: "./crash.ts", accounts: accounts.handle },
  });
  worker.on("error", (error) => console.log(`worker error: ${error.message}`));
  await once(worker, "message"); // the worker holds the lock now

  const started = performance.now();
  try {
    const guard = await accounts.lock({ timeout: 5_000 });
    guard.release();
    console.log("unexpected: got the lock");
  } catch (error) {
    if (!(error instanceof PoisonError)) throw error;
    console.log(`${error.name} after ${Math.round(performance.now() - started)} ms: ${error.message}`);
  }

  const inspect = await accounts.lock({ ignorePoison: true });
  console.log(
    `half-updated: alice ${inspect.value.alice}, bob ${inspect.value.bob} (total ${inspect.value.alice + inspect.value.bob})`,
  );
  inspect.value.alice += 100; // roll the debit back
  inspect.release();
  accounts.clearPoison();

  const guard = await accounts.lock();
  console.log(`after clearPoison: locked fine; alice ${guard.value.alice}, bob ${guard.value.bob}`);
  guard.release();
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
