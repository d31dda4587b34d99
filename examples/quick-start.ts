/**
 * Quick start: a value that lives inside its lock. Ten tasks increment a counter with an `await` in the
 * middle of each update; the mutex makes the read-modify-write atomic.
 */
import { Mutex } from "lockbox";

export async function main(): Promise<void> {
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  // #region tour
  const counter = new Mutex({ hits: 0 });
  await Promise.all(
    Array.from({ length: 10 }, (_, i) =>
      counter.withLock(async (guard) => {
        const seen = guard.value.hits;
        await sleep(i % 3); // other tasks run here; none can touch hits
        guard.value.hits = seen + 1;
      }),
    ),
  );

  // `using` releases the guard at block end, like Rust's scope-based drop.
  {
    using guard = await counter.lock();
    const { hits } = guard.value;
    console.log(`hits after 10 concurrent read-modify-writes: ${hits}`);
  }
  console.log(`locked after the block? ${counter.isLocked}`);
  // #endregion tour
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
