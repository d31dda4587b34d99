/**
 * The SPEC §6 contract suite (test/store/contract.ts) against `RedisStore` on a real Redis, once with
 * an ioredis client and once with a node-redis v4 client.
 */
import type { Redis } from "ioredis";
import { afterAll, beforeAll } from "vitest";
import { RedisStore } from "../../src/redis/index.js";
import { lockKeys } from "../../src/redis/scripts.js";
import { storeContract } from "../store/contract.js";
import { deleteKeys, ioredisClient, nodeRedisClient, uniquePrefix } from "./helpers.js";

const prefix = uniquePrefix("contract");
let inspector: Redis;

beforeAll(async () => {
  inspector = await ioredisClient();
});
afterAll(async () => {
  await deleteKeys(inspector, prefix);
  inspector.disconnect();
});

const queued = async (name: string) => {
  const qe = lockKeys(prefix, name)[5]!;
  const [seconds, micros] = (await inspector.call("TIME")) as [string, string];
  return inspector.zcount(qe, `(${Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)}`, "+inf");
};

for (const driver of ["ioredis", "node-redis"] as const) {
  const clients: { end(): Promise<void> }[] = [];
  storeContract(`RedisStore (${driver})`, {
    async open(options) {
      let client: unknown;
      if (driver === "ioredis") {
        const c = await ioredisClient();
        clients.push({ end: async () => c.disconnect() });
        client = c;
      } else {
        const c = await nodeRedisClient();
        clients.push({ end: async () => void (c.isOpen ? await c.disconnect() : undefined) });
        client = c;
      }
      const store = new RedisStore({ client: client as Redis, prefix, ...options });
      await store.ready();
      return store;
    },
    queued,
    async cleanup() {
      await Promise.allSettled(clients.splice(0).map((c) => c.end()));
    },
  });
}
