/**
 * The driver adapter, with both drivers against the real Redis: detection, EVALSHA with the EVAL
 * fallback, TIME, pub/sub on a duplicate, connection-loss events (CLIENT KILL of our own connections
 * only), and close() leaving the user's client open.
 */
import { createHash } from "node:crypto";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { detectDriver, RedisConnection } from "../../src/redis/client.js";
import type { LuaScript } from "../../src/redis/scripts.js";
import { ioredisClient, nodeRedisClient, REDIS_URL, uniquePrefix } from "./helpers.js";
import { waitFor } from "./processes.js";

let admin: Redis;
beforeAll(async () => {
  admin = await ioredisClient();
});
afterAll(() => {
  admin.disconnect();
});

const sha1 = (text: string) => createHash("sha1").update(text).digest("hex");
const ECHO: LuaScript = (() => {
  const source = `return {ARGV[1], #KEYS, ${Date.now()}}`;
  return { name: "echo", source };
})();

/** Kills (on the shared Redis) exactly the connections whose name is `name`. Returns how many. */
async function killNamed(name: string, filter: (line: string) => boolean = () => true): Promise<number> {
  const list = (await admin.call("CLIENT", "LIST")) as string;
  const ids = list
    .split("\n")
    .filter((line) => line.includes(` name=${name} `) && filter(line))
    .map((line) => /\bid=(\d+)/.exec(line)![1]!);
  for (const id of ids) await admin.call("CLIENT", "KILL", "ID", id);
  return ids.length;
}

it("detects the driver, and refuses anything else with a TypeError naming `client`", async () => {
  const io = await ioredisClient();
  const nr = await nodeRedisClient();
  try {
    expect(detectDriver(io)).toBe("ioredis");
    expect(detectDriver(nr)).toBe("node-redis");
    expect(detectDriver({})).toBeUndefined();
    expect(() => new RedisConnection({ get() {} })).toThrow(
      new TypeError("Expected `client` to be an ioredis client or a node-redis (v4+) client, got an object"),
    );
    expect(() => new RedisConnection(undefined)).toThrow(TypeError);
  } finally {
    io.disconnect();
    await nr.disconnect();
  }
});

for (const driver of ["ioredis", "node-redis"] as const) {
  describe(`with ${driver}`, () => {
    async function open(name?: string) {
      if (driver === "ioredis") {
        const { Redis } = await import("ioredis");
        const c = new Redis(REDIS_URL, { connectionName: name, maxRetriesPerRequest: 1 });
        c.on("error", () => {});
        return { client: c as unknown, end: async () => c.disconnect(), isOpen: () => c.status === "ready" };
      }
      const { createClient } = await import("redis");
      const c = createClient({ url: REDIS_URL, name, socket: { reconnectStrategy: () => 50 } });
      c.on("error", () => {});
      await c.connect();
      return {
        client: c as unknown,
        end: async () => {
          if (c.isOpen) await c.disconnect();
        },
        isOpen: () => c.isReady,
      };
    }

    it("runs a script by SHA once loaded, with EVAL before that and after the cache was flushed; reads TIME", async () => {
      const { client, end } = await open();
      const conn = new RedisConnection(client);
      const sent: string[] = [];
      const command = conn.command.bind(conn);
      conn.command = (args) => {
        sent.push(args[0]!);
        return command(args);
      };
      try {
        expect(await conn.eval(ECHO, ["k1", "k2"], ["hi"])).toEqual(["hi", 2, expect.any(Number)]);
        await conn.load([ECHO]);
        expect(conn.shaOf(ECHO)).toBe(sha1(ECHO.source));
        expect(await conn.eval(ECHO, [], ["again"])).toEqual(["again", 0, expect.any(Number)]);
        await admin.call("SCRIPT", "FLUSH");
        expect(await conn.eval(ECHO, [], ["after flush"])).toEqual(["after flush", 0, expect.any(Number)]);
        expect(await admin.call("SCRIPT", "EXISTS", sha1(ECHO.source))).toEqual([1]);
        expect(sent).toEqual(["EVAL", "SCRIPT", "EVALSHA", "EVALSHA", "EVAL"]);
        const serverNow = await conn.time();
        expect(Math.abs(serverNow - Date.now())).toBeLessThan(60_000);
      } finally {
        await conn.close();
        await end();
      }
    });

    it("subscribes on a duplicate connection; close() ends it and leaves the user's client open", async () => {
      const name = `lbconn-${uniquePrefix("sub").replaceAll(":", "-")}`;
      const { client, end, isOpen } = await open(name);
      const conn = new RedisConnection(client);
      const channel = `${name}:ch`;
      const got: string[] = [];
      try {
        await conn.subscribe(channel, (m) => got.push(m));
        await admin.publish(channel, "hello");
        expect(await waitFor(() => got.length === 1, 5000)).toBe(true);
        expect(got).toEqual(["hello"]);
        const before = ((await admin.call("CLIENT", "LIST")) as string).split(`name=${name} `).length - 1;
        expect(before).toBe(2);
        await conn.close();
        expect(
          await waitFor(
            async () => ((await admin.call("CLIENT", "LIST")) as string).split(`name=${name} `).length - 1 === 1,
            5000,
          ),
        ).toBe(true);
        expect(isOpen()).toBe(true);
      } finally {
        await conn.close();
        await end();
      }
    });

    it("reports the loss of the client connection and of the subscriber connection", async () => {
      const name = `lbconn-${uniquePrefix("lost").replaceAll(":", "-")}`;
      const { client, end } = await open(name);
      const conn = new RedisConnection(client);
      const lost: Error[] = [];
      let back = 0;
      conn.onLost((e) => lost.push(e));
      conn.onResubscribed(() => back++);
      try {
        await conn.subscribe(`${name}:ch`, () => {});
        expect(await killNamed(name, (line) => !line.includes("cmd=subscribe"))).toBe(1);
        expect(await waitFor(() => lost.length === 1, 5000)).toBe(true);
        expect(lost[0]!.message).toMatch(/client connection/);
        expect(await killNamed(name, (line) => line.includes("cmd=subscribe"))).toBe(1);
        expect(await waitFor(() => lost.length === 2, 5000)).toBe(true);
        expect(lost[1]!.message).toMatch(/subscriber connection/);
        // both drivers reconnect and resubscribe on their own
        expect(await waitFor(() => back === 1, 10_000)).toBe(true);
      } finally {
        await conn.close();
        await end();
      }
    });
  });
}
