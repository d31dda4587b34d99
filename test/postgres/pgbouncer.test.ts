/**
 * The SPEC §6 contract suite (test/store/contract.ts) with every statement going through a PgBouncer in
 * **transaction** pooling mode, and `LISTEN` on a `listenClient` connected straight to PostgreSQL — the
 * setup docs/distributed.md recommends. A statement that relied on session state (a named prepared
 * statement, a session advisory lock, `SET`) would fail or misbehave here, because consecutive statements
 * of one pool client land on different server connections.
 *
 * The test starts its own throwaway PgBouncer (Debian package `pgbouncer`; `.ci/run` installs it) on a
 * free loopback port, in front of the machine's PostgreSQL; it never touches a shared PgBouncer.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PostgresStore } from "../../src/postgres/index.js";
import { storeContract } from "../store/contract.js";
import { PG_URL, PgFixture, requirePostgres, testTable } from "./helpers.js";

const PGBOUNCER = ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"].find((path) => existsSync(path));
const table = testTable("bouncer");
const direct = new URL(PG_URL);
const pools: pg.Pool[] = [];
const clients: pg.Client[] = [];
let bouncer: ChildProcess | undefined;
let dir: string | undefined;
let bouncerUrl = "";

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function waitForBouncer(url: string): Promise<void> {
  let last: unknown;
  for (let i = 0; i < 100; i++) {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
    try {
      await client.connect();
      await client.query("SELECT 1");
      return;
    } catch (error) {
      last = error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    } finally {
      await client.end().catch(() => {});
    }
  }
  throw new Error(`PgBouncer did not answer at ${url}: ${(last as Error | undefined)?.message}`);
}

beforeAll(async () => {
  await requirePostgres();
  if (PGBOUNCER === undefined) {
    throw new Error(
      "This suite needs the pgbouncer binary (Debian: apt-get install -y pgbouncer; .ci/run installs it).",
    );
  }
  const port = await freePort();
  dir = mkdtempSync(join(tmpdir(), "lockbox-pgbouncer-"));
  chmodSync(dir, 0o777);
  const database = direct.pathname.slice(1) || "postgres";
  const user = decodeURIComponent(direct.username || "postgres");
  writeFileSync(join(dir, "userlist.txt"), `"${user}" ""\n`, { mode: 0o644 });
  writeFileSync(
    join(dir, "pgbouncer.ini"),
    [
      "[databases]",
      `${database} = host=${direct.hostname} port=${direct.port || 5432} dbname=${database}`,
      "[pgbouncer]",
      "listen_addr = 127.0.0.1",
      `listen_port = ${port}`,
      "unix_socket_dir =",
      "auth_type = trust",
      `auth_file = ${join(dir, "userlist.txt")}`,
      "pool_mode = transaction",
      // Few server connections for many clients: consecutive statements of one client land on different
      // server sessions, which is what would break anything session-bound.
      "default_pool_size = 3",
      "max_client_conn = 200",
      `logfile = ${join(dir, "pgbouncer.log")}`,
      `pidfile = ${join(dir, "pgbouncer.pid")}`,
      "",
    ].join("\n"),
    { mode: 0o644 },
  );
  // PgBouncer refuses to run as root; -u switches to the given user after start-up.
  const asRoot = typeof process.getuid === "function" && process.getuid() === 0;
  const args = [...(asRoot ? ["-u", "postgres"] : []), join(dir, "pgbouncer.ini")];
  bouncer = spawn(PGBOUNCER, args, { stdio: "ignore" });
  bouncerUrl = `postgres://${encodeURIComponent(user)}@127.0.0.1:${port}/${database}`;
  await waitForBouncer(bouncerUrl);
}, 30_000);

afterAll(async () => {
  await Promise.allSettled(pools.splice(0).map((pool) => pool.end()));
  await Promise.allSettled(clients.splice(0).map((client) => client.end()));
  bouncer?.kill("SIGKILL");
  await new PgFixture(table).drop();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

async function openThroughBouncer(options?: object): Promise<PostgresStore> {
  const pool = new pg.Pool({ connectionString: bouncerUrl, max: 4 });
  pool.on("error", () => {});
  pools.push(pool);
  const listenClient = new pg.Client({ connectionString: PG_URL });
  listenClient.on("error", () => {});
  await listenClient.connect();
  clients.push(listenClient);
  const store = new PostgresStore({ pool, table, listenClient, ...options });
  await store.ready();
  return store;
}

describe("through PgBouncer (transaction pooling)", () => {
  it("consecutive statements of one client run on different server sessions", async () => {
    // The premise of this file. B's first statement uses the bouncer's one idle server connection; A then
    // pins that connection in a transaction; B's next statement must be served by another backend.
    const a = new pg.Client({ connectionString: bouncerUrl });
    const b = new pg.Client({ connectionString: bouncerUrl });
    clients.push(a, b);
    await a.connect();
    await b.connect();
    const pid = async (client: pg.Client) =>
      (await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]!.pid;
    const first = await pid(b);
    await a.query("BEGIN");
    const pinned = await pid(a);
    const second = await pid(b);
    await a.query("COMMIT");
    expect(pinned).toBe(first);
    expect(second).not.toBe(first);
  });
});

const inspector = new pg.Pool({ connectionString: PG_URL, max: 1 });
pools.push(inspector);

storeContract("PostgresStore through PgBouncer (transaction mode) with a direct listenClient", {
  open: (options) => openThroughBouncer(options),
  queued: async (name) => {
    const { rows } = await inspector.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM "${table}_entries" WHERE name = $1 AND NOT granted AND expires_at > now()`,
      [name],
    );
    return rows[0]!.n;
  },
  cleanup: async () => {
    // Stores are closed by the suite; their pools and listen clients end here.
    const keep = new Set<pg.Pool>([inspector]);
    await Promise.allSettled(pools.filter((pool) => !keep.has(pool)).map((pool) => pool.end()));
    pools.splice(0, pools.length, inspector);
    await Promise.allSettled(clients.splice(0).map((client) => client.end()));
  },
});
