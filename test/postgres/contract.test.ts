/** The SPEC §6 contract suite (test/store/contract.ts) against `PostgresStore` on a real server. */
import pg from "pg";
import { afterAll, beforeAll } from "vitest";
import { storeContract } from "../store/contract.js";
import { PG_URL, PgFixture, requirePostgres, testTable } from "./helpers.js";

const fixture = new PgFixture(testTable("contract"));
const inspector = new pg.Pool({ connectionString: PG_URL, max: 1 });

beforeAll(async () => {
  await requirePostgres();
});

afterAll(async () => {
  await inspector.end();
  await fixture.drop().catch(() => {});
});

storeContract("PostgresStore", {
  open: (options) => fixture.store(options),
  queued: async (name) => {
    const { rows } = await inspector.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM "${fixture.table}_entries" WHERE name = $1 AND NOT granted AND expires_at > now()`,
      [name],
    );
    return rows[0]!.n;
  },
  cleanup: () => fixture.endPools(),
});
