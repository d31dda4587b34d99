/**
 * Worker threads sharing one counter: a `lockbox/threads` Mutex over a struct in SharedArrayBuffer
 * memory. Three workers increment it under blocking `lockSync()`, while the main thread increments it
 * under async `lock()` (it must not block its event loop). The Mutex crosses to each worker inside
 * `workerData` and is rebuilt there with `Mutex.from()` over the same memory, layout included.
 */
import { once } from "node:events";
import { Mutex, spawn, struct } from "lockbox/threads";

const CounterLayout = struct({ count: "u32", lastWriter: "u8" });
/** The shared data type: `{ count: number; lastWriter: number }`, backed by shared memory. */
export type Counter = ReturnType<typeof CounterLayout.create>;

export async function main(): Promise<void> {
  // #region tour
  const counter = new Mutex(CounterLayout.create());
  const increments = 10_000;
  const boot = new URL("./workers/boot.mjs", import.meta.url);
  const script = "./counter.ts"; // loaded in each worker by boot.mjs
  const workers = [1, 2, 3].map((id) => {
    const workerData = { script, counter: counter.handle, id, increments };
    return spawn(boot, { workerData });
  });

  for (let i = 0; i < increments; i++) {
    const guard = await counter.lock({ timeout: 10_000 });
    guard.value.count++;
    guard.value.lastWriter = 0;
    guard.release();
  }
  await Promise.all(workers.map((worker) => once(worker, "exit")));
  // #endregion tour

  const guard = await counter.lock();
  console.log(`counter: ${guard.value.count} (expected ${4 * increments})`);
  console.log(`last writer: ${guard.value.lastWriter === 0 ? "main thread" : `worker ${guard.value.lastWriter}`}`);
  guard.release();
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
