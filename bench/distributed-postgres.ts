/**
 * `npm run bench:postgres`: lockbox/postgres against `advisory-lock` and a hand-written floor of the
 * same SQL statements (the store's own server-side functions called directly, with the least client
 * code that still waits correctly), side by side in one run, on the server at LOCKBOX_PG_URL (default:
 * the local PostgreSQL).
 *
 * - uncontended: lock, read-modify-write of the stored number, release, in one process; latency and
 *   round trips (statements sent and connections opened, counted on pg.Client for every library).
 * - contended: 4 processes increment one number for a fixed time; operations per second, counter checked.
 * - renewal: the cost of keeping a held lease alive (one statement per ttl/3).
 *
 * Sizes: LOCKBOX_BENCH_OPS (default 200 per uncontended sample), LOCKBOX_BENCH_SECONDS (default 4 per
 * contended run). Writes bench/results/postgres.md. One run takes about a minute.
 */
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import os from "node:os";
import advisoryLock from "advisory-lock";
import pg from "pg";
import { PostgresStore } from "../src/postgres/index.js";
import { sqlNames } from "../src/postgres/sql.js";
import { describeCommit, gitCommit } from "./report.js";
import { median } from "./util.js";

const URL_ = process.env.LOCKBOX_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const TABLE = "lockbox_bench";
const OPS = Number(process.env.LOCKBOX_BENCH_OPS ?? 200);
const SECONDS = Number(process.env.LOCKBOX_BENCH_SECONDS ?? 4);
const PROCESSES = 4;
const LIBS = ["floor", "lockbox", "advisory-lock"] as const;
type Lib = (typeof LIBS)[number];

/** Statements and connections sent by every pg client of this process (all libraries use pg.Client). */
const sent = { queries: 0, connects: 0 };
const clientProto = pg.Client.prototype as unknown as {
  query: (...a: unknown[]) => unknown;
  connect: (...a: unknown[]) => unknown;
};
const originalQuery = clientProto.query;
const originalConnect = clientProto.connect;
clientProto.query = function (this: unknown, ...args: unknown[]) {
  sent.queries++;
  return originalQuery.apply(this, args);
};
clientProto.connect = function (this: unknown, ...args: unknown[]) {
  sent.connects++;
  return originalConnect.apply(this, args);
};

interface AcquireRow {
  o_status: string;
  o_id: string;
  o_token: string;
  o_value: string;
  o_wait_ms: number;
}

/** One read-modify-write of a stored number under a lock. */
type Increment = () => Promise<void>;

interface Setup {
  increment: Increment;
  read: () => Promise<number>;
  close: () => Promise<void>;
}

/**
 * The floor: the store's own functions called by hand — acquire (loads the value), release (writes it
 * back) — and, when queued, a wait for the NOTIFY of the name or the lease's end. No guard object, no
 * renewal timer, no deadline, no validation.
 */
async function floor(name: string): Promise<Setup> {
  const n = sqlNames(TABLE);
  const pool = new pg.Pool({ connectionString: URL_, max: 2 });
  const listener = new pg.Client({ connectionString: URL_ });
  await listener.connect();
  let wakes = 0;
  let wake: (() => void) | undefined;
  listener.on("notification", (m) => {
    if (m.payload === name) {
      wakes++;
      wake?.();
    }
  });
  await listener.query(`LISTEN "${TABLE}"`);
  const acquire = `SELECT * FROM ${n.acquire}($1, 'mutex', 1, '0', 1, true, 30000, 30000, 'floor', $2, true)`;
  const release = `SELECT ${n.release}($1, $2, $3, $4)`;
  const increment = async () => {
    let id: string | null = null;
    for (;;) {
      const before = wakes;
      const result: pg.QueryResult<AcquireRow> = await pool.query<AcquireRow>(acquire, [name, id]);
      const row: AcquireRow = result.rows[0]!;
      if (row.o_status === "granted") {
        await pool.query(release, [name, row.o_id, row.o_token, String(Number(row.o_value) + 1)]);
        return;
      }
      id = row.o_id;
      if (wakes === before) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, row.o_wait_ms + 10);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = undefined;
      }
    }
  };
  return {
    increment,
    read: async () => Number((await pool.query(`SELECT value FROM ${n.locks} WHERE name = $1`, [name])).rows[0].value),
    close: async () => {
      await listener.end();
      await pool.end();
    },
  };
}

async function lockbox(name: string): Promise<Setup> {
  const pool = new pg.Pool({ connectionString: URL_, max: 2 });
  const store = new PostgresStore({ pool, table: TABLE });
  await store.ready();
  const mutex = store.mutex(name, { initial: 0 });
  return {
    increment: async () => {
      const guard = await mutex.lock();
      guard.value++;
      await guard.release();
    },
    read: () => mutex.withLock((g) => g.value),
    close: async () => {
      await store.close();
      await pool.end();
    },
  };
}

/** advisory-lock keeps no value: the number lives in a table, read and written under the lock. */
async function advisory(name: string): Promise<Setup> {
  const pool = new pg.Pool({ connectionString: URL_, max: 2 });
  await pool.query(`CREATE TABLE IF NOT EXISTS ${TABLE}_counters (name text PRIMARY KEY, v int NOT NULL)`);
  await pool.query(`INSERT INTO ${TABLE}_counters VALUES ($1, 0) ON CONFLICT DO NOTHING`, [name]);
  // A CommonJS module with `exports.default`: Node's ESM interop may hand over the exports object.
  type Create = (url: string) => (name: string) => { lock(): Promise<() => Promise<void>> };
  const create = ((advisoryLock as unknown as { default?: Create }).default ?? advisoryLock) as unknown as Create;
  const mutex = create(URL_)(name);
  return {
    increment: async () => {
      const unlock = await mutex.lock();
      try {
        const { rows } = await pool.query(`SELECT v FROM ${TABLE}_counters WHERE name = $1`, [name]);
        await pool.query(`UPDATE ${TABLE}_counters SET v = $2 WHERE name = $1`, [name, rows[0].v + 1]);
      } finally {
        await unlock();
      }
    },
    read: async () => (await pool.query(`SELECT v FROM ${TABLE}_counters WHERE name = $1`, [name])).rows[0].v,
    close: () => pool.end(),
  };
}

const setups: Record<Lib, (name: string) => Promise<Setup>> = { floor, lockbox, "advisory-lock": advisory };

/** Child mode: sets up, says "ready", then increments for the time the parent's "go" line gives. */
async function worker(lib: Lib, name: string): Promise<void> {
  const setup = await setups[lib](name);
  process.stdout.write("ready\n");
  const ms = await new Promise<number>((resolve) => {
    process.stdin.once("data", (data) => resolve(Number(String(data).trim().split(" ")[1])));
  });
  process.stdin.pause();
  const until = performance.now() + ms;
  let count = 0;
  while (performance.now() < until) {
    await setup.increment();
    count++;
  }
  await setup.close();
  process.stdout.write(`${JSON.stringify({ count })}\n`);
}

async function contended(lib: Lib): Promise<{ opsPerSecond: number; exact: boolean }> {
  const name = `contended-${lib}-${Date.now()}`;
  const children = Array.from({ length: PROCESSES }, () =>
    spawn(process.execPath, ["--import", "tsx", new URL(import.meta.url).pathname, "worker", lib, name], {
      stdio: ["pipe", "pipe", "inherit"],
    }),
  );
  const kill = setTimeout(() => {
    for (const child of children) child.kill("SIGKILL");
  }, 120_000);
  const lines = children.map((child) => {
    const queue: string[] = [];
    let wake: (() => void) | undefined;
    let buffer = "";
    child.stdout.on("data", (data) => {
      buffer += data;
      const parts = buffer.split("\n");
      buffer = parts.pop()!;
      queue.push(...parts);
      wake?.();
    });
    child.on("exit", () => wake?.());
    return async (): Promise<string> => {
      for (;;) {
        const line = queue.shift();
        if (line !== undefined) return line;
        if (child.exitCode !== null) throw new Error(`${lib} worker exited with ${child.exitCode}`);
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
    };
  });
  try {
    for (const next of lines) if ((await next()) !== "ready") throw new Error(`${lib} worker did not get ready`);
    for (const child of children) child.stdin.write(`go ${SECONDS * 1_000}\n`);
    const counts = await Promise.all(lines.map(async (next) => JSON.parse(await next()).count as number));
    const total = counts.reduce((a, b) => a + b, 0);
    const check = await setups[lib](name);
    const stored = await check.read();
    await check.close();
    return { opsPerSecond: total / SECONDS, exact: stored === total };
  } finally {
    clearTimeout(kill);
  }
}

/** Lock, increment, release for every library, interleaved in rounds (the machine's fsync time drifts). */
async function uncontendedAll(): Promise<Record<Lib, { ms: number; queries: number; connects: number }>> {
  const ROUNDS = 5;
  const per = Math.max(1, Math.round(OPS / ROUNDS));
  const state = {} as Record<Lib, { setup: Setup; samples: number[]; queries: number; connects: number }>;
  for (const lib of LIBS) {
    const setup = await setups[lib](`uncontended-${lib}-${Date.now()}`);
    for (let i = 0; i < 10; i++) await setup.increment();
    state[lib] = { setup, samples: [], queries: 0, connects: 0 };
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (const lib of LIBS) {
      const s = state[lib];
      const q0 = sent.queries;
      const c0 = sent.connects;
      for (let i = 0; i < per; i++) {
        const t = performance.now();
        await s.setup.increment();
        s.samples.push(performance.now() - t);
      }
      s.queries += sent.queries - q0;
      s.connects += sent.connects - c0;
    }
  }
  const out = {} as Record<Lib, { ms: number; queries: number; connects: number }>;
  for (const lib of LIBS) {
    const s = state[lib];
    out[lib] = {
      ms: median(s.samples),
      queries: s.queries / s.samples.length,
      connects: s.connects / s.samples.length,
    };
    await s.setup.close();
  }
  return out;
}

async function renewal(): Promise<{ lockbox: number; floor: number }> {
  const pool = new pg.Pool({ connectionString: URL_, max: 2 });
  const store = new PostgresStore({ pool, table: TABLE, renew: false });
  await store.ready();
  const guard = await store.mutex(`renewal-${Date.now()}`, { initial: 0 }).lock();
  const n = sqlNames(TABLE);
  const { rows } = await pool.query(`SELECT id FROM ${n.entries} WHERE name = $1 AND granted`, [guard.name]);
  const id = rows[0].id as string;
  const time = async (fn: () => Promise<unknown>) => {
    for (let i = 0; i < 10; i++) await fn();
    const samples: number[] = [];
    for (let i = 0; i < OPS; i++) {
      const t = performance.now();
      await fn();
      samples.push(performance.now() - t);
    }
    return median(samples);
  };
  const lb = await time(() => guard.extend());
  const fl = await time(() =>
    pool.query(
      `UPDATE ${n.entries} SET expires_at = now() + 30000 * interval '1 millisecond', ttl_ms = 30000 WHERE name = $1 AND id = $2 AND granted AND expires_at > now()`,
      [guard.name, id],
    ),
  );
  await guard.release();
  await store.close();
  await pool.end();
  return { lockbox: lb, floor: fl };
}

async function main(): Promise<void> {
  // Before anything is written: results are tracked files and would make the tree look dirty.
  const commit = gitCommit(new URL(".", import.meta.url).pathname);
  const started = performance.now();
  const admin = new pg.Client({ connectionString: URL_ });
  await admin.connect();
  const settings = (
    await admin.query<{ name: string; setting: string }>(
      "SELECT name, setting FROM pg_settings WHERE name IN ('server_version', 'synchronous_commit', 'fsync', 'wal_sync_method') ORDER BY name",
    )
  ).rows;
  // The floor calls the store's functions: create them first.
  const readyPool = new pg.Pool({ connectionString: URL_, max: 2 });
  const readyStore = new PostgresStore({ pool: readyPool, table: TABLE });
  await readyStore.ready();
  await readyStore.close();
  await readyPool.end();
  const load0 = os.loadavg()[0]!;
  const un = await uncontendedAll();
  console.error(`uncontended: ${JSON.stringify(un)}`);
  const con: Record<string, { opsPerSecond: number; exact: boolean }> = {};
  for (const lib of LIBS) {
    con[lib] = await contended(lib);
    console.error(`contended ${lib}: ${JSON.stringify(con[lib])}`);
  }
  const renew = await renewal();
  console.error(`renewal: ${JSON.stringify(renew)}`);
  const load1 = os.loadavg()[0]!;
  await admin.query(`DROP TABLE IF EXISTS ${TABLE}_counters`);
  await admin.end();

  const f = (x: number, d = 2) => x.toFixed(d);
  const lines = [
    "# lockbox/postgres benchmark",
    "",
    `Run: \`npm run bench:postgres\` (${new Date().toISOString()}, ${Math.round((performance.now() - started) / 1000)} s, ` +
      `load ${f(load0, 1)}→${f(load1, 1)} on ${os.cpus().length} cores; ` +
      `${settings.map((s) => `${s.name}=${s.setting}`).join(", ")}).`,
    "",
    `Measured at ${describeCommit(commit)}.`,
    "",
    "Every acquire and release is a write transaction, so on this machine each costs about one WAL flush",
    "(synchronous_commit on: fencing tokens must survive a crash). Ratios are to the floor of the same run.",
    "",
    `## Uncontended: lock, read-modify-write of the stored number, release (median of ${OPS}, libraries interleaved in 5 rounds)`,
    "",
    "| library | ms per operation | × floor | statements sent | connections opened |",
    "| --- | ---: | ---: | ---: | ---: |",
    ...LIBS.map(
      (lib) =>
        `| ${lib} | ${f(un[lib]!.ms)} | ${f(un[lib]!.ms / un.floor!.ms)} | ${f(un[lib]!.queries, 1)} | ${f(un[lib]!.connects, 1)} |`,
    ),
    "",
    `## Contended: ${PROCESSES} processes increment one number for ${SECONDS} s`,
    "",
    "| library | operations per second | × floor | final count exact |",
    "| --- | ---: | ---: | --- |",
    ...LIBS.map(
      (lib) =>
        `| ${lib} | ${f(con[lib]!.opsPerSecond, 0)} | ${f(con[lib]!.opsPerSecond / con.floor!.opsPerSecond)} | ${con[lib]!.exact ? "yes" : "NO"} |`,
    ),
    "",
    "## Renewal: keeping a held lease alive",
    "",
    "| | ms per renewal (median) | statements |",
    "| --- | ---: | --- |",
    `| lockbox \`guard.extend()\` | ${f(renew.lockbox)} | 1 per ttl/3 per held guard (default ttl 30 s: one every 10 s) |`,
    `| floor: the same UPDATE by hand | ${f(renew.floor)} | 1 |`,
    "| advisory-lock | n/a | none: it holds a dedicated connection for as long as the lock is held |",
    "",
    "Notes: `floor` calls the store's own server-side functions by hand (acquire, release; when queued,",
    "waits for the NOTIFY or the lease's end). advisory-lock stores no value, so its operation reads and",
    "writes the number in a table under the lock (two statements), and it opens a new connection per lock.",
    "",
  ];
  writeFileSync(new URL("./results/postgres.md", import.meta.url), lines.join("\n"));
  console.log(lines.join("\n"));
}

if (process.argv[2] === "worker") {
  const [, , , lib, name] = process.argv;
  await worker(lib as Lib, name!);
  process.exit(0);
} else {
  await main();
}
