/**
 * Where the PostgreSQL tests find their server, and the failure they give when there is none: they
 * never skip silently.
 */
import pg from "pg";
import { PostgresStore, type PostgresStoreOptions } from "../../src/postgres/index.js";

/** The server the tests use: `LOCKBOX_PG_URL`, or the machine's local PostgreSQL. */
export const PG_URL = process.env.LOCKBOX_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

/** Throws a message that says how to point the tests at a server when `PG_URL` is not reachable. */
export async function requirePostgres(url = PG_URL): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
    await client.query("SELECT 1");
  } catch (error) {
    throw new Error(
      `The lockbox/postgres tests need a PostgreSQL server and none answered at ${url} (${(error as Error).message}). ` +
        "Start one (.ci/run does: pg_ctlcluster <version> main start), or point the tests at yours with " +
        "LOCKBOX_PG_URL=postgres://user:password@host:5432/database npx vitest run test/postgres",
      { cause: error },
    );
  } finally {
    await client.end().catch(() => {});
  }
}

/** A table name no other run uses (tests drop it at the end). */
export function testTable(label: string): string {
  return `lockbox_t_${label}_${process.pid}_${Math.random().toString(36).slice(2, 6)}`;
}

/** Pools and stores opened by a test file, so that afterEach/afterAll can end them all. */
export class PgFixture {
  readonly pools: pg.Pool[] = [];
  constructor(readonly table: string) {}

  pool(options?: pg.PoolConfig): pg.Pool {
    const pool = new pg.Pool({ connectionString: PG_URL, max: 4, ...options });
    pool.on("error", () => {}); // idle connections killed by a test must not crash the run
    this.pools.push(pool);
    return pool;
  }

  async store(options?: Partial<PostgresStoreOptions>): Promise<PostgresStore> {
    const store = new PostgresStore({ pool: this.pool(), table: this.table, ...options });
    await store.ready();
    return store;
  }

  async endPools(): Promise<void> {
    await Promise.allSettled(this.pools.splice(0).map((pool) => pool.end()));
  }

  /** Drops everything the store created for this table. */
  async drop(): Promise<void> {
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    try {
      for (const suffix of ["_grant", "_acquire", "_release", "_commit", "_leave", "_fence"]) {
        await client.query(`DROP FUNCTION IF EXISTS "${this.table}${suffix}" CASCADE`);
      }
      await client.query(`DROP TABLE IF EXISTS "${this.table}_entries", "${this.table}"`);
    } finally {
      await client.end();
    }
  }
}
