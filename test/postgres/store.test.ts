/**
 * What only PostgresStore has: round trips counted per operation, ready() under concurrency, the
 * `table` option, fenced transactions, `listenClient`, and the connections close() gives back.
 */
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { LockLostError, PostgresStore } from "../../src/postgres/index.js";
import { until } from "../store/contract.js";
import { PG_URL, PgFixture, requirePostgres, testTable } from "./helpers.js";

const fixture = new PgFixture(testTable("store"));
const extraTables: PgFixture[] = [];
const stores: PostgresStore[] = [];

beforeAll(async () => {
  await requirePostgres();
});

afterEach(async () => {
  await Promise.allSettled(stores.splice(0).map((store) => store.close()));
  await fixture.endPools();
  for (const extra of extraTables) await extra.endPools();
});

afterAll(async () => {
  await fixture.drop().catch(() => {});
  for (const extra of extraTables) await extra.drop().catch(() => {});
});

async function open(options?: Partial<ConstructorParameters<typeof PostgresStore>[0]>): Promise<PostgresStore> {
  const store = await fixture.store(options);
  stores.push(store);
  return store;
}

/** Counts the statements a pool runs (pool.query) and the connections it lends (pool.connect). */
function counted(pool: pg.Pool): { queries: string[]; connects: () => number } {
  const queries: string[] = [];
  let connects = 0;
  const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
  (pool as unknown as { query: unknown }).query = (...args: unknown[]) => {
    const config = args[0];
    queries.push(typeof config === "string" ? config : (config as { text: string }).text);
    return query(...args);
  };
  const connect = pool.connect.bind(pool) as (...args: unknown[]) => unknown;
  (pool as unknown as { connect: unknown }).connect = (...args: unknown[]) => {
    connects++;
    return connect(...args);
  };
  return { queries, connects: () => connects };
}

describe("PostgresStore round trips", () => {
  it("an uncontended acquire is one statement, and so are release, commit, extend and tryLock", async () => {
    const pool = fixture.pool();
    const store = new PostgresStore({ pool, table: fixture.table });
    stores.push(store);
    await store.ready();
    const count = counted(pool);
    const lock = store.mutex(`count-${Math.random()}`, { initial: { n: 0 } });

    const guard = await lock.lock();
    expect(count.queries).toHaveLength(1);
    guard.value.n = 1;
    await guard.commit();
    expect(count.queries).toHaveLength(2);
    await guard.extend();
    expect(count.queries).toHaveLength(3);
    guard.value.n = 2;
    await guard.release(); // with the write-back
    expect(count.queries).toHaveLength(4);

    const again = await lock.tryLock();
    expect(again?.value).toEqual({ n: 2 });
    expect(count.queries).toHaveLength(5);
    await again!.release(); // nothing changed: still one statement
    expect(count.queries).toHaveLength(6);
    // Every statement went through pool.query (one borrowed connection each), no BEGIN/COMMIT.
    expect(count.connects()).toBe(6);
    expect(count.queries.some((q) => /BEGIN|COMMIT/.test(q))).toBe(false);
  });

  it("renews a held lease with one statement per ttl/3", async () => {
    const pool = fixture.pool();
    const store = new PostgresStore({ pool, table: fixture.table, ttl: 600, commandTimeout: 10_000 });
    stores.push(store);
    await store.ready();
    const count = counted(pool);
    const guard = await store.mutex(`renew-${Math.random()}`, { initial: 0 }).lock();
    await until(() => count.queries.length >= 3, "two renewals ran");
    expect(count.queries.slice(1, 3).every((q) => /^UPDATE .*_entries" SET expires_at/.test(q.trim()))).toBe(true);
    expect(guard.held).toBe(true);
    await guard.release();
  });
});

describe("PostgresStore entries", () => {
  it("stores the clientId with each entry, for operators", async () => {
    const store = await open({ clientId: "worker-7" });
    const name = `client-${Math.random()}`;
    const guard = await store.mutex(name, { initial: 0 }).lock();
    const { rows } = await fixture.pools
      .at(-1)!
      .query(`SELECT client_id FROM "${fixture.table}_entries" WHERE name = $1`, [name]);
    expect(rows).toEqual([{ client_id: "worker-7" }]);
    await guard.release();
  });
});

describe("PostgresStore SQL", () => {
  it("a waiter picking up a grant made on its behalf writes nothing (no transaction id, so no WAL flush)", async () => {
    await open(); // creates the table and the functions
    const pool = fixture.pools.at(-1)!;
    const name = `pickup-${Math.random()}`;
    const acquire = `SELECT * FROM "${fixture.table}_acquire"($1, 'mutex', 1, '0', 1, true, 30000, 30000, 'test', $2, true)`;
    const holder = (await pool.query(acquire, [name, null])).rows[0];
    const waiter = (await pool.query(acquire, [name, null])).rows[0];
    expect([holder.o_status, waiter.o_status]).toEqual(["granted", "queued"]);
    await pool.query(`SELECT "${fixture.table}_release"($1, $2, $3, NULL)`, [name, holder.o_id, holder.o_token]);
    const client = await pool.connect();
    try {
      await client.query("BEGIN");
      const pickup = (await client.query(acquire, [name, waiter.o_id])).rows[0];
      const xid = (await client.query("SELECT txid_current_if_assigned() AS xid")).rows[0].xid;
      await client.query("COMMIT");
      expect(pickup.o_status).toBe("granted");
      expect(pickup.o_wait_ms).toBeGreaterThan(15_000); // ms left on the lease, reported to the core
      expect(xid).toBeNull();
    } finally {
      client.release();
    }
  });
});

describe("PostgresStore.ready()", () => {
  it("is idempotent and safe when many processes call it at once on a fresh table", async () => {
    const fresh = new PgFixture(testTable("ready"));
    extraTables.push(fresh);
    const many = Array.from(
      { length: 6 },
      () => new PostgresStore({ pool: fresh.pool({ max: 2 }), table: fresh.table }),
    );
    stores.push(...many);
    await Promise.all(many.map((store) => store.ready()));
    await Promise.all(many.map((store) => store.ready()));
    const guard = await many[0]!.mutex("m", { initial: 1 }).lock();
    expect(guard.value).toBe(1);
    await guard.release();
  });

  it("accepts schema.table and names everything with the table as a prefix", async () => {
    const schema = `lockbox_s_${process.pid}`;
    const pool = fixture.pool();
    const store = new PostgresStore({ pool, table: `${schema}.locks` });
    stores.push(store);
    try {
      await store.ready();
      await store.mutex("x", { initial: 1 }).withLock(() => {});
      const { rows } = await pool.query<{ relname: string }>(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r' ORDER BY 1",
        [schema],
      );
      expect(rows.map((r) => r.relname)).toEqual(["locks", "locks_entries"]);
    } finally {
      await store.close();
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    }
  });

  it("validates its options", () => {
    const pool = fixture.pool();
    for (const table of ["a-b", "x.y.z", "", "1abc", `a${"b".repeat(60)}`, 'a"b']) {
      expect(() => new PostgresStore({ pool, table })).toThrow(RangeError);
    }
    // @ts-expect-error: table is a string
    expect(() => new PostgresStore({ pool, table: 5 })).toThrow(TypeError);
    // @ts-expect-error: pool is required
    expect(() => new PostgresStore({})).toThrow(/Expected `pool` to be a pg.Pool/);
    expect(() => new PostgresStore({ pool, ttl: 0 })).toThrow(RangeError);
    expect(() => new PostgresStore({ pool: fixture.pool({ max: 1 }) })).toThrow(/at least 2 connections/);
    expect(() => new PostgresStore({ pool, commandTimeout: 1.5 })).toThrow(RangeError);
    // @ts-expect-error: renew is a boolean
    expect(() => new PostgresStore({ pool, renew: "yes" })).toThrow(TypeError);
  });
});

describe("guard.transaction()", () => {
  const setup = async (pool: pg.Pool, table: string) => {
    await pool.query(`CREATE TABLE IF NOT EXISTS "${table}" (k text PRIMARY KEY, v int)`);
  };

  it("commits the user's writes when the lock is held, rolls back and rethrows when fn throws", async () => {
    const store = await open();
    const pool = fixture.pools.at(-1)!;
    const table = `${fixture.table}_user`;
    await setup(pool, table);
    const guard = await store.mutex(`tx-${Math.random()}`, { initial: 0 }).lock();
    const out = await guard.transaction(async (client) => {
      await client.query(`INSERT INTO "${table}" VALUES ('a', 1)`);
      return "done";
    });
    expect(out).toBe("done");
    const boom = new Error("boom");
    await expect(
      guard.transaction(async (client) => {
        await client.query(`INSERT INTO "${table}" VALUES ('b', 2)`);
        throw boom;
      }),
    ).rejects.toBe(boom);
    await guard.release();
    const { rows } = await pool.query(`SELECT k FROM "${table}" ORDER BY k`);
    expect(rows.map((r) => r.k)).toEqual(["a"]);
    await pool.query(`DROP TABLE "${table}"`);
  });

  it("rejects with LockLostError without calling fn once the lock is lost", async () => {
    const store = await open({ ttl: 200, renew: false, commandTimeout: 10_000 });
    const guard = await store.mutex(`tx-lost-${Math.random()}`, { initial: 0 }).lock();
    await until(() => guard.signal.aborted, "the lease is lost");
    let called = false;
    await expect(
      guard.transaction(async () => {
        called = true;
      }),
    ).rejects.toBeInstanceOf(LockLostError);
    expect(called).toBe(false);
  });

  it("is a fence: once its check passed, no new holder is granted before it commits", async () => {
    const [a, b] = [await open({ ttl: 300, renew: false, commandTimeout: 10_000 }), await open()];
    const name = `fence-${Math.random()}`;
    const guard = await a.mutex(name, { initial: 0 }).lock();
    const events: string[] = [];
    let contender: Promise<unknown> | undefined;
    const tx = guard.transaction(async (client) => {
      events.push("checked");
      contender = b
        .mutex(name, { initial: 0 })
        .lock()
        .then((g) => {
          events.push("contender granted");
          return g.release();
        });
      // Outlive the lease (server time) and the local deadline while the row stays locked.
      await client.query("SELECT pg_sleep(0.6)");
      events.push("committing");
    });
    await tx;
    events.push("committed");
    await contender;
    expect(guard.signal.aborted).toBe(true);
    expect(events).toEqual(["checked", "committing", "committed", "contender granted"]);
  });
});

describe("listenClient and close()", () => {
  it("LISTENs on the given client, never ends it, and wake-ups still arrive", async () => {
    const listenClient = new pg.Client({ connectionString: PG_URL });
    await listenClient.connect();
    try {
      const pool = fixture.pool();
      const a = new PostgresStore({ pool, table: fixture.table, listenClient, ttl: 60_000 });
      stores.push(a);
      await a.ready();
      expect(pool.totalCount - pool.idleCount).toBe(0); // no pool connection held for LISTEN
      const b = await open();
      const name = `listen-${Math.random()}`;
      const held = await b.mutex(name, { initial: 0 }).lock();
      const waiting = a.mutex(name, { initial: 0 }).lock();
      await until(async () => {
        const { rows } = await pool.query(`SELECT 1 FROM "${fixture.table}_entries" WHERE name = $1 AND NOT granted`, [
          name,
        ]);
        return rows.length === 1;
      }, "a waits");
      await held.release();
      await (await waiting).release(); // woken by NOTIFY: the expiry fallback would take 20 s
      await a.close();
      const { rows } = await listenClient.query("SELECT 1 AS one");
      expect(rows[0].one).toBe(1);
    } finally {
      await listenClient.end();
    }
  }, 10_000);

  it("re-opens its own LISTEN connection after it was killed; held guards abort, later waiters get wake-ups", async () => {
    const app = `lockbox-relisten-${process.pid}`;
    const pool = fixture.pool({ application_name: app });
    const a = new PostgresStore({ pool, table: fixture.table, ttl: 60_000 });
    stores.push(a);
    await a.ready();
    const held = await a.mutex(`relisten-held-${Math.random()}`, { initial: 0 }).lock();
    const listening = `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN%'`;
    const admin = fixture.pool();
    const before = (await admin.query(listening, [app])).rows.map((r) => r.pid);
    expect(before).toHaveLength(1);
    await admin.query("SELECT pg_terminate_backend($1)", [before[0]]);
    await until(() => held.signal.aborted, "the held guard aborts");
    await until(async () => {
      const now = (await admin.query(listening, [app])).rows.map((r) => r.pid);
      return now.length === 1 && now[0] !== before[0];
    }, "the store listens again");
    const b = await open();
    const name = `relisten-${Math.random()}`;
    const holder = await b.mutex(name, { initial: 0 }).lock();
    const waiting = a.mutex(name, { initial: 0 }).lock();
    await until(async () => {
      const { rows } = await admin.query(`SELECT 1 FROM "${fixture.table}_entries" WHERE name = $1 AND NOT granted`, [
        name,
      ]);
      return rows.length === 1;
    }, "a waits");
    await holder.release();
    await (await waiting).release(); // by NOTIFY: the expiry fallback would take 20 s
  }, 15_000);

  it("gives back the LISTEN connection it took from the pool", async () => {
    const pool = fixture.pool();
    const store = new PostgresStore({ pool, table: fixture.table });
    await store.ready();
    expect(pool.totalCount - pool.idleCount).toBe(1);
    await store.close();
    expect(pool.totalCount - pool.idleCount).toBe(0);
    await store.close();
  });
});
