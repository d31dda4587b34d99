/**
 * The Lua scripts, called directly against the real Redis: grants, FIFO hand-off, head blocking,
 * tokens, write-back, expiry by server time, the EVALSHA → EVAL fallback.
 */
import type { Redis } from "ioredis";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { RedisConnection } from "../../src/redis/client.js";
import { ACQUIRE, COMMIT, EXTEND, LEAVE, lockKeys, RELEASE, RWLOCK_CAP } from "../../src/redis/scripts.js";
import { deleteKeys, ioredisClient, uniquePrefix } from "./helpers.js";

let client: Redis;
let conn: RedisConnection;
let prefix: string;
const CH = "lbtest:wake";

beforeAll(async () => {
  client = await ioredisClient();
  conn = new RedisConnection(client);
});
afterAll(async () => {
  await conn.close();
  client.disconnect();
});
beforeEach(async (ctx) => {
  prefix = uniquePrefix("scripts");
  ctx.onTestFinished(() => deleteKeys(client, prefix));
});

type Kind = "mutex" | "rwlock" | "semaphore";
const caps: Record<Kind, number> = { mutex: 1, rwlock: RWLOCK_CAP, semaphore: 3 };

function acquire(
  name: string,
  id: string,
  o: { kind?: Kind; n?: number; ttl?: number; qttl?: number; initial?: string; cap?: number } = {},
) {
  const kind = o.kind ?? "mutex";
  return conn.eval(ACQUIRE, lockKeys(prefix, name), [
    id,
    kind,
    String(o.cap ?? caps[kind]),
    String(o.n ?? 1),
    String(o.ttl ?? 10_000),
    String(o.qttl ?? 10_000),
    o.initial === undefined ? "0" : "1",
    o.initial ?? "",
    CH,
    name,
  ]) as Promise<[number, string | number | null, string | null]>;
}
const release = (name: string, id: string, tok: string, value?: string) =>
  conn.eval(RELEASE, lockKeys(prefix, name), [id, tok, value === undefined ? "0" : "1", value ?? "", CH, name]);
const leave = (name: string, id: string) => conn.eval(LEAVE, lockKeys(prefix, name), [id, CH, name]);

describe("acquire script", () => {
  it("grants an uncontended mutex with a token and the initial value, stored once", async () => {
    expect(await acquire("a", "x", { initial: '{"n":1}' })).toEqual([1, "1", '{"n":1}']);
    expect(await release("a", "x", "1")).toBe(1);
    expect(await acquire("a", "y", { initial: '{"n":2}' })).toEqual([1, "2", '{"n":1}']);
  });

  it("queues a contender, grants it on release (FIFO), then the acquire call returns the grant", async () => {
    await acquire("a", "x");
    expect((await acquire("a", "y"))[0]).toBe(0);
    expect((await acquire("a", "z"))[0]).toBe(0);
    expect(await release("a", "x", "1", '"v"')).toBe(1);
    // z polls first but y is ahead: y was granted by the release, z still waits.
    expect((await acquire("a", "z"))[0]).toBe(0);
    expect(await acquire("a", "y")).toEqual([1, "2", '"v"']);
  });

  it("a try never jumps a queue with live waiters", async () => {
    await acquire("a", "x");
    await acquire("a", "y");
    await release("a", "x", "1");
    // y was granted on release; a try from z fails while y holds
    expect((await acquire("a", "z", { qttl: 0 }))[0]).toBe(0);
  });

  it("refuses another kind and too many permits", async () => {
    await acquire("a", "x", { kind: "mutex" });
    expect(await acquire("a", "y", { kind: "semaphore" })).toEqual([-1, "mutex"]);
    await acquire("s", "x", { kind: "semaphore", cap: 2 });
    expect(await acquire("s", "y", { kind: "semaphore", cap: 5, n: 3 })).toEqual([-2, 2]);
  });

  it("an RwLock admits readers together; a queued writer blocks later readers", async () => {
    expect((await acquire("rw", "r1", { kind: "rwlock" }))[0]).toBe(1);
    expect((await acquire("rw", "r2", { kind: "rwlock" }))[0]).toBe(1);
    expect((await acquire("rw", "w", { kind: "rwlock", n: 0 }))[0]).toBe(0);
    expect((await acquire("rw", "r3", { kind: "rwlock" }))[0]).toBe(0);
    await release("rw", "r1", "0");
    expect((await acquire("rw", "w", { kind: "rwlock", n: 0 }))[0]).toBe(0);
    await release("rw", "r2", "0");
    const w = await acquire("rw", "w", { kind: "rwlock", n: 0 });
    expect(w[0]).toBe(1);
    expect(w[1]).toBe("1");
    await release("rw", "w", "1");
    // r3 was granted on the writer's release, carrying the writer's token
    expect((await acquire("rw", "r3", { kind: "rwlock" })).slice(0, 2)).toEqual([1, "1"]);
  });

  it("a semaphore head asking for many blocks a later small request", async () => {
    await acquire("s", "a", { kind: "semaphore", n: 2 });
    expect((await acquire("s", "big", { kind: "semaphore", n: 3 }))[0]).toBe(0);
    expect((await acquire("s", "small", { kind: "semaphore", n: 1 }))[0]).toBe(0);
    await leave("s", "big");
    // leaving the head hands on to the small one
    expect((await acquire("s", "small", { kind: "semaphore", n: 1 }))[0]).toBe(1);
  });

  it("expiry is by server time: a dead holder is replaced after its ttl; a dead waiter leaves", async () => {
    await acquire("a", "dead", { ttl: 50 });
    const r = await acquire("a", "ghost", { qttl: 50 });
    expect(r[0]).toBe(0);
    expect(Number(r[1])).toBeLessThanOrEqual(50);
    await new Promise((res) => setTimeout(res, 80));
    const got = await acquire("a", "live");
    // both leases ended: the dead holder and the ghost waiter are gone, "live" gets the next token
    expect(got.slice(0, 2)).toEqual([1, "2"]);
  });
});

describe("commit, extend, release", () => {
  it("commit writes only for the live holder with its token", async () => {
    await acquire("a", "x", { initial: "0" });
    expect(await conn.eval(COMMIT, lockKeys(prefix, "a"), ["x", "1", "5"])).toBe(1);
    expect(await conn.eval(COMMIT, lockKeys(prefix, "a"), ["x", "2", "6"])).toBe(0);
    expect(await conn.eval(COMMIT, lockKeys(prefix, "a"), ["y", "1", "7"])).toBe(0);
    expect(await client.hget(lockKeys(prefix, "a")[0]!, "value")).toBe("5");
  });

  it("a holder whose lease ended can neither commit, extend nor write back; the next holder's write stands", async () => {
    await acquire("a", "x", { ttl: 30, initial: "0" });
    await new Promise((res) => setTimeout(res, 50));
    expect((await acquire("a", "y", { initial: "0" })).slice(0, 2)).toEqual([1, "2"]);
    expect(await conn.eval(COMMIT, lockKeys(prefix, "a"), ["y", "2", "42"])).toBe(1);
    expect(await conn.eval(COMMIT, lockKeys(prefix, "a"), ["x", "1", "1"])).toBe(0);
    expect(await conn.eval(EXTEND, lockKeys(prefix, "a"), ["x", "1", "1000"])).toBe(0);
    expect(await release("a", "x", "1", "1")).toBe(0);
    expect(await client.hget(lockKeys(prefix, "a")[0]!, "value")).toBe("42");
    // y still holds
    expect(await conn.eval(EXTEND, lockKeys(prefix, "a"), ["y", "2", "1000"])).toBe(1);
  });

  it("extend keeps a lease alive past its first ttl", async () => {
    await acquire("a", "x", { ttl: 60 });
    for (let i = 0; i < 4; i++) {
      await new Promise((res) => setTimeout(res, 30));
      expect(await conn.eval(EXTEND, lockKeys(prefix, "a"), ["x", "1", "60"])).toBe(1);
    }
    expect((await acquire("a", "y", { qttl: 0 }))[0]).toBe(0);
  });

  it("leave gives back a grant that raced with the abort, and the next waiter gets it", async () => {
    await acquire("a", "x");
    await acquire("a", "y");
    await acquire("a", "z");
    await release("a", "x", "1"); // grants y
    expect(await leave("a", "y")).toBe(1); // y aborted: its grant goes to z
    expect((await acquire("a", "z")).slice(0, 2)).toEqual([1, "3"]);
  });

  it("publishes the lock's name on the wake channel when a release grants a waiter", async () => {
    const messages: string[] = [];
    const channel = `${prefix}:wake`;
    await conn.subscribe(channel, (m) => messages.push(m));
    const keys = lockKeys(prefix, "a");
    const args = (id: string) => [id, "mutex", "1", "1", "10000", "10000", "0", "", channel, "a"];
    await conn.eval(ACQUIRE, keys, args("x"));
    await conn.eval(ACQUIRE, keys, args("y"));
    await conn.eval(RELEASE, keys, ["x", "1", "0", "", channel, "a"]);
    for (let i = 0; i < 100 && messages.length === 0; i++) await new Promise((res) => setTimeout(res, 10));
    expect(messages).toEqual(["a"]);
    await conn.unsubscribe(channel);
  });
});

describe("script cache", () => {
  it("falls back to EVAL after SCRIPT FLUSH (NOSCRIPT)", async () => {
    // Flushing the shared server's cache is harmless: every lockbox caller falls back the same way.
    await client.call("SCRIPT", "FLUSH");
    expect((await acquire("a", "x"))[0]).toBe(1);
    expect(await client.call("SCRIPT", "EXISTS", ACQUIRE.sha)).toEqual([1]);
  });
});
