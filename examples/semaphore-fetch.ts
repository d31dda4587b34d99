/**
 * A Semaphore limiting concurrent fetches to 2, each waiting at most 50 ms for a slot. The fetch here is
 * simulated with a timer so the example runs offline.
 */
import { Semaphore, TimeoutError } from "lockbox";

export async function main(): Promise<void> {
  const slots = new Semaphore(2);
  let inFlight = 0;
  let maxInFlight = 0;
  const fakeFetch = async (url: string, ms: number) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    await new Promise((resolve) => setTimeout(resolve, ms));
    inFlight--;
    return `${url}: 200`;
  };

  // #region tour
  const jobs = [
    ["/a", 30],
    ["/b", 30],
    ["/c", 200], // /c and /d take both slots at 30 ms, for 200 ms,
    ["/d", 200], // so /e, still waiting at 50 ms, gives up
    ["/e", 10],
  ] as const;
  const fetchWhenFree = ([url, ms]: (typeof jobs)[number]) => {
    return slots.withPermit(() => fakeFetch(url, ms), { timeout: 50 });
  };
  const results = await Promise.allSettled(jobs.map(fetchWhenFree));
  // #endregion tour
  for (const [i, result] of results.entries()) {
    const url = jobs[i]?.[0];
    if (result.status === "fulfilled") console.log(`${url} -> ${result.value}`);
    else
      console.log(`${url} -> ${result.reason instanceof TimeoutError ? "gave up waiting for a slot" : result.reason}`);
  }
  console.log(`at most ${maxInFlight} in flight; ${slots.available} permits free at the end`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
