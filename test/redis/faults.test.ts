/**
 * The fault suite of lockbox/redis, with real processes and real servers: kill -9 of a holder, SIGSTOP
 * past the ttl, CLIENT KILL of the holder's connections, a half-open connection through a proxy that
 * stops forwarding, a crash and restart of a throwaway redis-server under both persistence settings,
 * N processes × M read-modify-write increments, strictly increasing tokens.
 *
 * Ports 17400-17499 are this suite's (throwaway servers, proxies); the shared Redis on 6379 is never
 * killed or reconfigured. Every child and server is killed in afterAll. Figures (how long a dead
 * holder blocked, how fast a loss was noticed) are printed, not asserted: the machine is noisy.
 */
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LockLostError, RedisStore } from "../../src/redis/index.js";
import { deleteKeys, ioredisClient, REDIS_URL, uniquePrefix } from "./helpers.js";
import { Fixture, SilentProxy, stopAll, ThrowawayRedis, waitFor } from "./processes.js";

let admin: Redis;
const prefixes: string[] = [];
const figures: string[] = [];
function prefixFor(label: string): string {
  const p = uniquePrefix(label);
  prefixes.push(p);
  return p;
}

beforeAll(async () => {
  admin = await ioredisClient();
});
afterAll(async () => {
  await stopAll();
  for (const p of prefixes) await deleteKeys(admin, p);
  admin.disconnect();
  if (figures.length > 0) console.log(`lockbox/redis fault figures:\n  ${figures.join("\n  ")}`);
}, 30_000);

async function storeOn(client: Redis, prefix: string, ttl: number): Promise<RedisStore> {
  const store = new RedisStore({ client, prefix, ttl });
  await store.ready();
  return store;
}

describe("lockbox/redis under faults", () => {
  it("kill -9 of a holder: a waiting contender gets the lock after the holder's ttl", async () => {
    const prefix = prefixFor("kill9");
    const ttl = 1000;
    const holder = new Fixture("holder.ts", [REDIS_URL, prefix, "m", String(ttl), `lbholder-${prefix}`]);
    const locked = await holder.next("locked");
    const client = await ioredisClient();
    const store = await storeOn(client, prefix, ttl);
    try {
      const mutex = store.mutex<string>("m", { initial: "initial" });
      expect(await mutex.tryLock()).toBeUndefined();
      const waiting = mutex.lock({ timeout: 15_000 });
      const killedAt = performance.now();
      holder.proc.kill("SIGKILL");
      const guard = await waiting;
      figures.push(
        `kill -9: contender granted ${Math.round(performance.now() - killedAt)} ms after the kill (ttl ${ttl} ms)`,
      );
      expect(guard.token).toBeGreaterThan(BigInt(locked.token as string));
      await guard.release();
    } finally {
      await store.close();
      client.disconnect();
    }
  });

  it("SIGSTOP past the ttl: the contender acquires and commits; after SIGCONT the stopped holder's signal is aborted and its commit refused", async () => {
    const prefix = prefixFor("sigstop");
    const ttl = 600;
    const holder = new Fixture("holder.ts", [REDIS_URL, prefix, "m", String(ttl), `lbholder-${prefix}`]);
    const locked = await holder.next("locked");
    holder.proc.kill("SIGSTOP");
    const client = await ioredisClient();
    const store = await storeOn(client, prefix, 5000);
    try {
      const mutex = store.mutex<string>("m", { initial: "initial" });
      const guard = await mutex.lock({ timeout: 15_000 });
      expect(guard.token).toBeGreaterThan(BigInt(locked.token as string));
      guard.value = "contender";
      await guard.commit();
      holder.proc.kill("SIGCONT");
      holder.send('commit "stale"');
      const commit = await holder.next("commit");
      expect(commit).toMatchObject({ held: false, ok: false, error: "LockLostError" });
      const lost = await holder.next("lost");
      expect(lost.error).toBe("LockLostError");
      holder.send("release");
      expect(await holder.next("release")).toMatchObject({ ok: false, error: "LockLostError" });
      expect(guard.value).toBe("contender");
      await guard.release();
      const check = await mutex.lock();
      expect(check.value).toBe("contender");
      await check.release();
    } finally {
      await store.close();
      client.disconnect();
    }
  });

  it("CLIENT KILL of the holder's connections aborts its signal", async () => {
    const prefix = prefixFor("clientkill");
    const name = `lbholder-${prefix.replaceAll(":", "-")}`;
    const holder = new Fixture("holder.ts", [REDIS_URL, prefix, "m", "30000", name]);
    await holder.next("locked");
    // CLIENT KILL has no name filter: find the holder's connections (client and pub/sub duplicate
    // share the connection name) in CLIENT LIST and kill them by ID, touching nobody else's.
    const list = (await admin.call("CLIENT", "LIST")) as string;
    const ids = list
      .split("\n")
      .filter((line) => line.includes(` name=${name} `))
      .map((line) => /\bid=(\d+)/.exec(line)![1]!);
    expect(ids.length).toBeGreaterThanOrEqual(2);
    const startedAt = performance.now();
    for (const id of ids) expect(await admin.call("CLIENT", "KILL", "ID", id)).toBe(1);
    const lost = await holder.next("lost");
    figures.push(`CLIENT KILL: holder's signal aborted ${Math.round(performance.now() - startedAt)} ms after the kill`);
    expect(lost.error).toBe("LockLostError");
    holder.send("exit");
    expect(await holder.exited(10_000)).toBe(0); // ends by itself: the store left no timer or socket behind
  });

  it("a connection that goes silent (proxy stops forwarding) is caught by the local deadline", async () => {
    const prefix = prefixFor("halfopen");
    const proxy = new SilentProxy(17410, Number(new URL(REDIS_URL).port || 6379));
    await proxy.listen();
    const ttl = 900;
    const holder = new Fixture("holder.ts", [
      "redis://127.0.0.1:17410",
      prefix,
      "m",
      String(ttl),
      `lbholder-${prefix}`,
    ]);
    await holder.next("locked");
    const frozenAt = performance.now();
    proxy.freeze();
    const lost = await holder.next("lost", 10_000);
    const noticed = performance.now() - frozenAt;
    figures.push(
      `half-open: holder's signal aborted ${Math.round(noticed)} ms after the proxy went silent (ttl ${ttl} ms)`,
    );
    expect(lost.error).toBe("LockLostError");
    // The server-side lease ended too: a direct contender gets the lock.
    const client = await ioredisClient();
    const store = await storeOn(client, prefix, 5000);
    try {
      const guard = await store.mutex<string>("m", { initial: "initial" }).lock({ timeout: 10_000 });
      expect(guard.released).toBe(false);
      await guard.release();
    } finally {
      await store.close();
      client.disconnect();
      proxy.close();
    }
  });

  it("N processes × M read-modify-write increments with random pauses end exact; tokens strictly increase", async () => {
    const prefix = prefixFor("incr");
    const n = Number(process.env.LOCKBOX_REDIS_PROCS ?? 3);
    const m = Number(process.env.LOCKBOX_REDIS_INCREMENTS ?? 15);
    const children = Array.from(
      { length: n },
      (_, i) =>
        new Fixture("increment.ts", [
          REDIS_URL,
          prefix,
          "counter",
          String(m),
          "5000",
          i % 2 === 0 ? "ioredis" : "node-redis",
        ]),
    );
    const grants: [string, number][] = [];
    for (const child of children) {
      const done = await child.next("done", 60_000);
      grants.push(...(done.grants as [string, number][]));
    }
    // Every value 0 … n·m−1 was read exactly once (no lost update), and in the order the values were
    // read, which is the order of the grants, the tokens strictly increase.
    grants.sort((a, b) => a[1] - b[1]);
    expect(grants.map((g) => g[1])).toEqual(Array.from({ length: n * m }, (_, i) => i));
    for (let i = 1; i < grants.length; i++) expect(BigInt(grants[i]![0])).toBeGreaterThan(BigInt(grants[i - 1]![0]));
    const client = await ioredisClient();
    const store = await storeOn(client, prefix, 5000);
    try {
      const guard = await store.mutex<number>("counter", { initial: 0 }).lock();
      expect(guard.value).toBe(n * m);
      await guard.discard();
    } finally {
      await store.close();
      client.disconnect();
    }
  }, 90_000);

  for (const [persistence, port] of [
    ["none", 17420],
    ["aof-always", 17421],
  ] as const) {
    it(`a crash and restart of Redis (${persistence === "none" ? "appendonly no" : "appendonly yes + appendfsync always"}) aborts the holder's signal; tokens ${persistence === "none" ? "start over" : "continue"}`, async () => {
      const server = new ThrowawayRedis(port, persistence);
      await server.start();
      const client = await ioredisClient(server.url);
      const store = await storeOn(client, "lbrestart", 1000);
      try {
        const mutex = store.mutex<number>("m", { initial: 0 });
        const tokens: bigint[] = [];
        for (let i = 0; i < 3; i++) {
          await mutex.withLock((g) => {
            tokens.push(g.token);
            g.value += 1;
          });
        }
        const holder = await mutex.lock();
        tokens.push(holder.token);
        let lost: unknown;
        holder.signal.addEventListener("abort", () => {
          lost = holder.signal.reason;
        });
        await server.kill();
        expect(await waitFor(() => lost !== undefined, 10_000)).toBe(true);
        expect(lost).toBeInstanceOf(LockLostError);
        await server.start();
        expect(await waitFor(() => client.status === "ready", 10_000)).toBe(true);
        const after = await mutex.lock({ timeout: 10_000 });
        const setting = persistence === "none" ? "appendonly no" : "appendonly yes + appendfsync always";
        figures.push(
          `restart with ${setting}: tokens before the crash ${tokens.join(", ")}; first token after: ${after.token}; value after: ${after.value} (3 committed before)`,
        );
        if (persistence === "none") {
          // Everything was lost: the counter starts over, so a token after the crash repeats the first
          // one handed out before it: tokens are NOT monotonic across the crash.
          expect(after.token).toBe(tokens[0]);
          expect(after.value).toBe(0);
        } else {
          expect(after.token).toBeGreaterThan(tokens.at(-1)!);
          expect(after.value).toBe(3);
        }
        await after.release();
        await expect(holder.release()).resolves.toBeUndefined();
      } finally {
        await store.close();
        client.disconnect();
        await server.kill();
      }
    });
  }
});
