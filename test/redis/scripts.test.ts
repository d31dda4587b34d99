/**
 * The Redis backend (one Lua script per operation), called directly against the real Redis: grants,
 * FIFO hand-off, head blocking, tokens, write-back, expiry by server time, the EVALSHA → EVAL fallback.
 */
import { createHash } from "node:crypto";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { RedisBackend } from "../../src/redis/backend.js";
import { ACQUIRE, lockKeys } from "../../src/redis/scripts.js";
import { type AcquireRequest, type LeaseRef, RWLOCK_CAPACITY } from "../../src/store/backend.js";
import { deleteKeys, ioredisClient, REDIS_URL, uniquePrefix } from "./helpers.js";

let client: Redis;
let backend: RedisBackend;
let prefix: string;
const wakes: string[] = [];

beforeAll(async () => {
  client = await ioredisClient();
});
afterAll(async () => {
  client.disconnect();
});
beforeEach(async (ctx) => {
  prefix = uniquePrefix("scripts");
  backend = new RedisBackend(client, prefix);
  wakes.length = 0;
  backend.subscribe({ onWake: (name) => wakes.push(name), onDown: () => {} });
  await backend.ready();
  ctx.onTestFinished(async () => {
    await backend.close();
    await deleteKeys(client, prefix);
  });
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function req(name: string, o: Partial<AcquireRequest> = {}): AcquireRequest {
  const kind = o.kind ?? "mutex";
  return {
    name,
    kind,
    capacity: kind === "mutex" ? 1 : kind === "rwlock" ? RWLOCK_CAPACITY : 3,
    initial: kind === "semaphore" ? null : "0",
    permits: 1,
    exclusive: kind === "mutex",
    ttl: 10_000,
    queueTtl: 10_000,
    clientId: "test",
    ...o,
  };
}
const write = (name: string, o: Partial<AcquireRequest> = {}) => req(name, { kind: "rwlock", exclusive: true, ...o });
const read = (name: string, o: Partial<AcquireRequest> = {}) => req(name, { kind: "rwlock", exclusive: false, ...o });
const sem = (name: string, permits: number, o: Partial<AcquireRequest> = {}) =>
  req(name, { kind: "semaphore", permits, ...o });

async function granted(r: AcquireRequest, queued?: bigint): Promise<LeaseRef> {
  const result = await backend.acquire(r, queued);
  if (result.status !== "granted")
    throw new Error(
      `expected a grant, got ${JSON.stringify(result, (_, v) => (typeof v === "bigint" ? String(v) : v))}`,
    );
  return { name: r.name, id: result.id, token: result.token, exclusive: r.exclusive };
}
async function queued(r: AcquireRequest, id?: bigint): Promise<bigint> {
  const result = await backend.acquire(r, id);
  if (result.status !== "queued") throw new Error(`expected queued, got ${result.status}`);
  return result.id;
}

describe("acquire", () => {
  it("grants an uncontended mutex in one call with a token and the initial value, stored once", async () => {
    const a = await backend.acquire(req("a", { initial: '{"n":1}' }), undefined);
    expect(a).toMatchObject({ status: "granted", value: '{"n":1}' });
    const first = await granted(req("b"));
    expect(await backend.release(first, undefined)).toBe(true);
    const again = await backend.acquire(req("b", { initial: '"other"' }), undefined);
    expect(again).toMatchObject({ status: "granted", value: "0" });
    expect((again as { token: bigint }).token).toBeGreaterThan(first.token);
  });

  it("queues contenders and grants them in arrival order on release; the poll picks the grant up", async () => {
    const x = await granted(req("a"));
    const y = await queued(req("a"));
    const z = await queued(req("a"));
    expect(await backend.release(x, '"v"')).toBe(true);
    // z polls first, but y is ahead: y was granted by the release, z still waits
    expect((await backend.acquire(req("a"), z)).status).toBe("queued");
    const gy = await granted(req("a"), y);
    expect(gy.token).toBeGreaterThan(x.token);
    expect((await backend.acquire(req("a"), y)) as { value: string }).toMatchObject({ value: '"v"' });
    for (let i = 0; i < 100 && wakes.length === 0; i++) await sleep(10);
    expect(wakes).toContain("a");
  });

  it("a wake-up names the granted entries: only the process that owns one is woken", async () => {
    const other = new RedisBackend(client, prefix);
    const otherWakes: string[] = [];
    other.subscribe({ onWake: (name) => otherWakes.push(name), onDown: () => {} });
    await other.ready();
    try {
      const x = await granted(req("a"));
      const y = await queued(req("a")); // this process's waiter
      const z = await other.acquire(req("a"), undefined); // the other process's, behind it
      expect(z.status).toBe("queued");
      await backend.release(x, undefined); // grants y
      for (let i = 0; i < 100 && wakes.length === 0; i++) await sleep(10);
      expect(wakes).toEqual(["a"]);
      // The same message reached the other process's subscriber; give it time to (wrongly) react.
      await sleep(200);
      expect(otherWakes).toEqual([]);
      const gy = await granted(req("a"), y);
      await backend.release(gy, undefined); // grants z
      for (let i = 0; i < 100 && otherWakes.length === 0; i++) await sleep(10);
      expect(otherWakes).toEqual(["a"]); // once: y's grant did not wake the other process
      expect(wakes).toEqual(["a"]);
    } finally {
      await other.close();
    }
  });

  it("a try never waits and never jumps a queue with live waiters", async () => {
    const x = await granted(req("a"));
    expect(await backend.tryAcquire(req("a"))).toEqual({ status: "busy" });
    await queued(req("a"));
    await backend.release(x, undefined); // grants the waiter
    expect(await backend.tryAcquire(req("a"))).toEqual({ status: "busy" });
  });

  it("refuses another kind, and more permits than the stored capacity", async () => {
    await granted(req("a"));
    expect(await backend.acquire(sem("a", 1), undefined)).toEqual({ status: "mismatch", kind: "mutex", capacity: 1 });
    await granted(sem("s", 1, { capacity: 2 }));
    expect(await backend.tryAcquire(sem("s", 3, { capacity: 5 }))).toEqual({
      status: "mismatch",
      kind: "semaphore",
      capacity: 2,
    });
  });

  it("an RwLock admits readers together; a queued writer blocks later readers; readers carry the last writer's token", async () => {
    const r1 = await granted(read("rw"));
    const r2 = await granted(read("rw"));
    expect(r1.token).toBe(0n);
    const w = await queued(write("rw"));
    const r3 = await queued(read("rw"));
    await backend.release(r1, undefined);
    expect((await backend.acquire(write("rw"), w)).status).toBe("queued");
    await backend.release(r2, undefined);
    const gw = await granted(write("rw"), w);
    expect(gw.token).toBeGreaterThan(0n);
    await backend.release(gw, undefined);
    const g3 = await granted(read("rw"), r3);
    expect(g3.token).toBe(gw.token);
  });

  it("a semaphore request for many at the head blocks a later small one; leaving hands on", async () => {
    await granted(sem("s", 2));
    const big = await queued(sem("s", 3));
    const small = await queued(sem("s", 1));
    expect((await backend.acquire(sem("s", 1), small)).status).toBe("queued");
    await backend.leave("s", big);
    await granted(sem("s", 1), small);
  });

  it("expiry is by server time: a dead holder is replaced after its ttl; a dead waiter leaves the queue", async () => {
    const dead = await granted(req("a", { ttl: 50 }));
    const ghost = await backend.acquire(req("a", { queueTtl: 50 }), undefined);
    expect(ghost.status).toBe("queued");
    expect((ghost as { waitMs: number }).waitMs).toBeLessThanOrEqual(50);
    await sleep(80);
    const live = await granted(req("a"));
    expect(live.token).toBeGreaterThan(dead.token);
    // the ghost's poll after its entry ended enqueues it anew, behind the live holder
    const back = await backend.acquire(req("a"), (ghost as { id: bigint }).id);
    expect(back.status).toBe("queued");
    expect((back as { id: bigint }).id).not.toBe((ghost as { id: bigint }).id);
  });
});

describe("crowds", () => {
  it("purges 9,000 dead waiters in one call (beyond Lua's unpack limit of ~8,000) and grants the next", async () => {
    const holder = await granted(req("a", { ttl: 60_000 }));
    // 9,000 waiters of a process that died long ago, written as the acquire script writes them
    // (through the script they would be purged a few at a time as they expire).
    const [, , , q, qi, qe] = lockKeys(prefix, "a") as [string, string, string, string, string, string];
    const multi = client.multi();
    for (let i = 0; i < 9000; i++) {
      const id = String(1_000_000 + i);
      multi.zadd(q, id, id).hset(qi, id, "1|1|10000|dead").zadd(qe, 1, id);
    }
    await multi.exec();
    const live = await queued(req("a"));
    expect(await client.zcard(q)).toBe(1);
    await backend.release(holder, undefined);
    await granted(req("a"), live);
  }, 30_000);
});

describe("commit, extend, release, leave", () => {
  it("commit writes only for the live holder with its token", async () => {
    const x = await granted(req("a"));
    expect(await backend.commit(x, "5")).toBe(true);
    expect(await backend.commit({ ...x, token: x.token + 1n }, "6")).toBe(false);
    expect(await backend.commit({ ...x, id: x.id + 100n }, "7")).toBe(false);
    expect(await client.hget(lockKeys(prefix, "a")[0]!, "value")).toBe("5");
  });

  it("a holder whose lease ended can neither commit, extend nor write back; the next holder's write stands", async () => {
    const x = await granted(req("a", { ttl: 30 }));
    await sleep(50);
    const y = await granted(req("a"));
    expect(await backend.commit(y, "42")).toBe(true);
    expect(await backend.commit(x, "1")).toBe(false);
    expect(await backend.extend(x, 1000)).toBe(false);
    expect(await backend.release(x, "1")).toBe(false);
    expect(await client.hget(lockKeys(prefix, "a")[0]!, "value")).toBe("42");
    expect(await backend.extend(y, 1000)).toBe(true);
  });

  it("extend keeps a lease alive past its first ttl", async () => {
    // 3 × 400 ms > the 1,000 ms ttl; a 600 ms margin per step for a loaded machine
    const x = await granted(req("a", { ttl: 1000 }));
    for (let i = 0; i < 3; i++) {
      await sleep(400);
      expect(await backend.extend(x, 1000)).toBe(true);
    }
    expect((await backend.tryAcquire(req("a"))).status).toBe("busy");
  });

  it("leave gives back a grant that raced with the abort; the next waiter gets it", async () => {
    const x = await granted(req("a"));
    const y = await queued(req("a"));
    const z = await queued(req("a"));
    await backend.release(x, undefined); // grants y
    await backend.leave("a", y); // y aborted: its grant goes to z
    await granted(req("a"), z);
    await backend.leave("a", y); // idempotent
  });

  it("a read grant or a permit cannot write the value", async () => {
    const r = await granted(read("rw"));
    expect(await backend.commit(r, '"x"')).toBe(false);
    expect(await backend.release(r, '"x"')).toBe(true);
    expect(await client.hget(lockKeys(prefix, "rw")[0]!, "value")).toBe("0");
  });
});

describe("Redis specifics", () => {
  it("after its pub/sub connection comes back, wakes the names it had waiters on (messages were lost)", async () => {
    const name = `lbconn-${prefix.replaceAll(":", "-")}`;
    const { Redis } = await import("ioredis");
    const own = new Redis(REDIS_URL, { connectionName: name, maxRetriesPerRequest: 1 });
    own.on("error", () => {});
    const b = new RedisBackend(own, prefix);
    const seen: string[] = [];
    const down: Error[] = [];
    b.subscribe({ onWake: (n) => seen.push(n), onDown: (e) => down.push(e) });
    try {
      await b.ready();
      await granted(req("held"));
      expect((await b.acquire(req("held"), undefined)).status).toBe("queued");
      const list = (await client.call("CLIENT", "LIST")) as string;
      const sub = list.split("\n").find((line) => line.includes(` name=${name} `) && line.includes("cmd=subscribe"));
      await client.call("CLIENT", "KILL", "ID", /\bid=(\d+)/.exec(sub!)![1]!);
      for (let i = 0; i < 500 && !seen.includes("held"); i++) await sleep(20);
      expect(down.length).toBe(1);
      expect(seen).toEqual(["held"]);
    } finally {
      await b.close();
      own.disconnect();
    }
  });

  it("falls back to EVAL after SCRIPT FLUSH (NOSCRIPT)", async () => {
    // Flushing the shared server's script cache is harmless: every caller falls back the same way.
    await client.call("SCRIPT", "FLUSH");
    await granted(req("a"));
    expect(await client.call("SCRIPT", "EXISTS", createHash("sha1").update(ACQUIRE.source).digest("hex"))).toEqual([1]);
  });

  it("keeps every key of a lock under one hash tag (one cluster slot)", async () => {
    // Redis Cluster hashes only what lies between the first "{" and the next "}": the same text for
    // every key of a lock, even when the name itself contains braces.
    const keys = lockKeys(prefix, "we{i}rd");
    const tags = keys.map((k) => k.slice(k.indexOf("{") + 1, k.indexOf("}")));
    expect(new Set(tags)).toEqual(new Set([`${prefix}:we{i`]));
    expect(new Set(keys).size).toBe(keys.length);
  });
});
