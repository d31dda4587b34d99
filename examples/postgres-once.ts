/**
 * A job that must run once across replicas: three replica processes start at the same moment and each
 * tries to run today's report. A `lockbox/postgres` Mutex guards a record of the last run, stored next
 * to the lock; the first replica to get the lock runs the job and records it, the others see the record
 * and skip. The fencing token goes with the job's output, so a consumer could refuse a stale writer.
 *
 * Run: `npx tsx examples/postgres-once.ts` (LOCKBOX_PG_URL picks the server; default: local PostgreSQL).
 */
import { spawn } from "node:child_process";
import { PostgresStore } from "lockbox/postgres";
import pg from "pg";

/** The PostgreSQL this example uses. */
export const url = process.env.LOCKBOX_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface LastRun {
  day: string | null;
  by: string | null;
  token: string | null;
}

async function replica(id: string, job: string): Promise<void> {
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  const store = new PostgresStore({ pool, table: "lockbox_examples", ttl: 10_000 });
  await store.ready();
  // #region tour
  const empty: LastRun = { day: null, by: null, token: null };
  const lastRun = store.mutex(job, { initial: empty });
  const today = new Date().toISOString().slice(0, 10);
  const outcome = await lastRun.withLock(async (guard) => {
    const { day, by } = guard.value;
    if (day === today) return `skipped: already run today by replica ${by}`;
    await sleep(200); // the job itself
    // Saved when the callback returns; not at all if the job throws.
    guard.value = { day: today, by: id, token: String(guard.token) };
    return `ran the job (fencing token ${guard.token})`;
  });
  // #endregion tour
  console.log(`replica ${id}: ${outcome}`);
  await store.close();
  await pool.end();
}

export async function main(): Promise<void> {
  /** A name per run of the example, so that it runs again next time (a real job would use the date). */
  const job = `daily-report-${Date.now()}`;
  const replicas = ["1", "2", "3"].map(
    (id) =>
      new Promise<string>((resolve, reject) => {
        const child = spawn(process.execPath, ["--import", "tsx", import.meta.filename, id, job], {
          stdio: ["ignore", "pipe", "pipe"],
        });
        child.stderr.on("data", (chunk) => process.stderr.write(chunk));
        let out = "";
        child.stdout.on("data", (chunk) => {
          out += chunk;
        });
        child.on("exit", (code) =>
          code === 0 ? resolve(out) : reject(new Error(`replica ${id} exited with ${code}`)),
        );
      }),
  );
  const outputs = await Promise.all(replicas);
  process.stdout.write(outputs.join(""));
  const ran = outputs.filter((o) => o.includes("ran the job")).length;
  console.log(`the job ran ${ran} time(s) across ${replicas.length} replicas`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (process.argv[2] === undefined) await main();
  else await replica(process.argv[2], process.argv[3]!);
}
