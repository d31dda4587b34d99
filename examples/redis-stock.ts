/**
 * lockbox/redis: a stock counter shared by several "processes" (here three stores, each with its own
 * Redis connection, exactly what three processes would have), with fencing tokens.
 *
 * Needs a Redis: REDIS_URL or LOCKBOX_REDIS_URL (default redis://127.0.0.1:6379).
 * Run: npx tsx examples/redis-stock.ts
 */
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { RedisStore } from "lockbox/redis";

/** The Redis this example uses. */
export const url = process.env.REDIS_URL ?? process.env.LOCKBOX_REDIS_URL ?? "redis://127.0.0.1:6379";

export async function main(): Promise<void> {
  const prefix = `lockbox-example-${randomBytes(4).toString("hex")}`; // a fresh namespace per run

  // Three independent stores = three processes' worth of connections.
  const clients = [new Redis(url), new Redis(url), new Redis(url)];
  const stores = clients.map((client) => new RedisStore({ client, prefix, ttl: 5_000 }));
  await Promise.all(stores.map((store) => store.ready()));

  let sold = 0;
  let refused = 0;
  const tokens: bigint[] = [];

  // #region tour
  // 12 buyers spread over the three stores, for 10 items.
  const initial = { left: 10 };
  await Promise.all(
    Array.from({ length: 12 }, async (_, buyer) => {
      const stock = stores[buyer % 3]!.mutex("stock:sku-42", { initial });
      try {
        await stock.withLock(async (guard) => {
          // A throw discards the update: nothing is written.
          if (guard.value.left === 0) throw new Error("sold out");
          tokens.push(guard.token); // fencing token: refuse stale holders
          guard.value = { left: guard.value.left - 1 }; // saved on release
        });
        sold++;
      } catch (error) {
        if ((error as Error).message !== "sold out") throw error;
        refused++;
      }
    }),
  );
  // #endregion tour

  const check = await stores[0]!.mutex<{ left: number }>("stock:sku-42", { initial: { left: 10 } }).lock();
  console.log(`sold: ${sold}, refused: ${refused}, left in Redis: ${check.value.left}`);
  await check.discard();

  const increasing = tokens.every((t, i) => i === 0 || t > tokens[i - 1]!);
  console.log(`fencing tokens strictly increasing in grant order: ${increasing} (${tokens.join(", ")})`);

  await Promise.all(stores.map((store) => store.close()));
  // Clean up the example's keys (the stored value and token counter never expire on their own).
  const keys = await clients[0]!.keys(`{${prefix}:*`);
  if (keys.length > 0) await clients[0]!.del(...keys);
  for (const client of clients) client.disconnect();
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
