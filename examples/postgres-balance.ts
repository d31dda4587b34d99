/**
 * A balance updated from several processes: four processes each make 25 deposits into one account
 * whose balance lives in PostgreSQL next to its `lockbox/postgres` Mutex. Each deposit is a plain
 * read-modify-write of `guard.value` (loaded by the acquire, written back by the release, both
 * conditioned on the fencing token), and each is also recorded in a ledger table of our own inside a
 * fenced transaction: `guard.transaction()` confirms, inside the transaction, that the lock is still
 * held, so no stale holder can add a ledger row.
 *
 * Run: `npx tsx examples/postgres-balance.ts` (LOCKBOX_PG_URL picks the server; default: local PostgreSQL).
 */
import { spawn } from "node:child_process";
import { PostgresStore } from "lockbox/postgres";
import pg from "pg";

const url = process.env.LOCKBOX_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const PROCESSES = 4;
const DEPOSITS = 25;

async function depositor(account: string, id: string): Promise<void> {
  const pool = new pg.Pool({ connectionString: url, max: 3 });
  const store = new PostgresStore({ pool, table: "lockbox_examples", ttl: 10_000 });
  await store.ready();
  const balance = store.mutex(account, { initial: 0 });
  for (let i = 0; i < DEPOSITS; i++) {
    await balance.withLock(async (guard) => {
      const before = guard.value;
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 5)); // other work: no lost update
      guard.value = before + 1;
      await guard.transaction((client) =>
        client.query("INSERT INTO lockbox_examples_ledger (account, process, token, balance) VALUES ($1, $2, $3, $4)", [
          account,
          id,
          String(guard.token),
          guard.value,
        ]),
      );
    });
  }
  await store.close();
  await pool.end();
}

async function main(): Promise<void> {
  const account = `account-${Date.now()}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(
    "CREATE TABLE IF NOT EXISTS lockbox_examples_ledger (account text, process text, token bigint, balance int)",
  );
  await Promise.all(
    Array.from(
      { length: PROCESSES },
      (_, i) =>
        new Promise<void>((resolve, reject) => {
          const child = spawn(process.execPath, ["--import", "tsx", import.meta.filename, account, String(i + 1)], {
            stdio: "inherit",
          });
          child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`depositor exited with ${code}`))));
        }),
    ),
  );
  const { rows } = await admin.query<{ n: number; ordered: boolean }>(
    // Ledger rows ordered by token must show the balance rising by one each time.
    `SELECT count(*)::int AS n,
            bool_and(balance = rn) AS ordered
       FROM (SELECT balance, row_number() OVER (ORDER BY token) AS rn
               FROM lockbox_examples_ledger WHERE account = $1) t`,
    [account],
  );
  await admin.query("DELETE FROM lockbox_examples_ledger WHERE account = $1", [account]);
  await admin.end();
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  const store = new PostgresStore({ pool, table: "lockbox_examples" });
  const final = await store.mutex(account, { initial: 0 }).withLock((guard) => guard.value);
  await store.close();
  await pool.end();
  console.log(`balance: ${final} (expected ${PROCESSES * DEPOSITS})`);
  console.log(`ledger: ${rows[0]!.n} rows, in token order each one higher by 1: ${rows[0]!.ordered}`);
}

if (process.argv[2] === undefined) await main();
else await depositor(process.argv[2], process.argv[3]!);
