/**
 * Shared helpers of the Redis tests: where the Redis under test is, unique key prefixes, cleanup.
 *
 * The tests run against a real Redis (default `redis://127.0.0.1:6379`, or `LOCKBOX_REDIS_URL`). When
 * none answers they FAIL with a message saying how to point them at one; they never skip silently.
 */
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { createClient } from "redis";

export const REDIS_URL = process.env.LOCKBOX_REDIS_URL ?? "redis://127.0.0.1:6379";

const HOW =
  `lockbox/redis tests need a Redis server; none answered at ${REDIS_URL}. Start one ` +
  "(`redis-server --port 6379`) or point the tests at one with LOCKBOX_REDIS_URL=redis://host:port.";

/** A unique key prefix per test, so tests never share state and can delete exactly their keys. */
export function uniquePrefix(label = "t"): string {
  return `lbtest:${label}:${process.pid}:${randomBytes(4).toString("hex")}`;
}

/** An ioredis client that fails fast (no endless offline queue) when Redis is missing. */
export async function ioredisClient(url = REDIS_URL): Promise<Redis> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 2000 });
  client.on("error", () => {});
  try {
    await client.connect();
  } catch (error) {
    client.disconnect();
    throw new Error(HOW, { cause: error });
  }
  return client;
}

/** A connected node-redis v4 client. */
export async function nodeRedisClient(url = REDIS_URL) {
  const client = createClient({
    url,
    socket: { connectTimeout: 2000, reconnectStrategy: (n) => (n > 50 ? false : 50) },
  });
  client.on("error", () => {});
  try {
    await client.connect();
  } catch (error) {
    await client.disconnect().catch(() => {});
    throw new Error(HOW, { cause: error });
  }
  return client;
}

/** Deletes every key that starts with `{prefix` or `prefix` (SCAN, bounded). */
export async function deleteKeys(client: Redis, prefix: string): Promise<void> {
  for (const pattern of [`{${prefix}*`, `${prefix}*`]) {
    let cursor = "0";
    for (let round = 0; round < 10_000; round++) {
      const [next, keys] = await client.scan(cursor, "MATCH", pattern, "COUNT", 1000);
      if (keys.length > 0) await client.del(...keys);
      cursor = next;
      if (cursor === "0") break;
    }
  }
}
