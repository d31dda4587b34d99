/**
 * A read-mostly cache on an RwLock: readers share, a refresh takes the write lock, fills the entry,
 * then `downgrade()`s to a read guard so no other writer can slip in before it reads its own result.
 */
import { RwLock } from "lockbox";

export async function main(): Promise<void> {
  const cache = new RwLock(new Map<string, string>());
  let loads = 0;
  const load = async (key: string) => {
    loads++;
    await new Promise((resolve) => setTimeout(resolve, 5));
    return `value of ${key}`;
  };

  // #region tour
  async function get(key: string): Promise<string> {
    const hit = await cache.withRead((guard) => guard.value.get(key));
    if (hit !== undefined) return hit;
    const writer = await cache.write();
    // Another task may have filled it while we waited for the write lock.
    if (!writer.value.has(key)) writer.value.set(key, await load(key));
    // Atomically exclusive -> shared: no writer can get in between.
    const reader = writer.downgrade();
    try {
      return reader.value.get(key) as string;
    } finally {
      reader.release();
    }
  }
  // #endregion tour

  const values = await Promise.all(["a", "b", "a", "a", "b"].map(get));
  console.log(values.join(", "));
  console.log(`loads: ${loads} (one per key, though five tasks asked)`);
  console.log(`readers now: ${cache.readers}, write-locked: ${cache.isWriteLocked}`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
