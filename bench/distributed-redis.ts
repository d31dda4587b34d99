/**
 * lockbox/redis against the Redis locks people use today, side by side in one run, on one Redis:
 *
 * - `lockbox`: `RedisStore` mutex (FIFO queue in Redis, pub/sub wake-ups, value stored with the lock);
 * - `redlock`: `@sesamecare-oss/redlock` on a single instance (retry loop);
 * - `redis-semaphore`: its `Mutex` (SET NX PX, retry loop);
 * - `floor`: the least a correct lease lock can do, written here: `SET key id NX PX ttl` to acquire and
 *   a compare-and-delete script to release (retry loop).
 *
 * Three measurements per library:
 * 1. latency: one process, acquire + release in a loop, no contention (median and p99 of one pair);
 * 2. round trips: commands the library sends per uncontended acquire + release (counted on the
 *    ioredis instance, so a script miss and its fallback count twice);
 * 3. throughput: 4 processes contend for one lock for a fixed time, each holding it for an empty
 *    critical section, then for 2 ms (an await standing for real work); acquisitions per second
 *    across all processes, and the fairness spread (fewest / most acquisitions of one process).
 *
 * The polling peers and the floor retry every 10 ms (redis-semaphore's default retryInterval; redlock's
 * default is 200 ± 100 ms, which would only make it look worse). lockbox does not poll.
 *
 * Run: `npm run bench:redis` (env LOCKBOX_REDIS_URL, BENCH_REDIS_OPS, BENCH_REDIS_SECONDS, BENCH_REDIS_OUT).
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import { Redlock } from "@sesamecare-oss/redlock";
import { Redis } from "ioredis";
import { Mutex as SemaphoreMutex } from "redis-semaphore";
import { RedisStore } from "../src/redis/index.js";
import { describeCommit, gitCommit } from "./report.js";

const REDIS_URL = process.env.LOCKBOX_REDIS_URL ?? "redis://127.0.0.1:6379";
const OPS = Number(process.env.BENCH_REDIS_OPS ?? 1000);
const WARMUP = 300;
const SECONDS = Number(process.env.BENCH_REDIS_SECONDS ?? 3);
/** BENCH_REDIS_SKIP_CONTENDED=1 measures latency and round trips only. */
const CONTENDED = process.env.BENCH_REDIS_SKIP_CONTENDED !== "1";
const PROCESSES = 4;
const RETRY_MS = 10;
const HOLD_MS = 2;
const TTL = 10_000;
const ALL_LIBS = ["floor", "lockbox", "redlock", "redis-semaphore"] as const;
type Lib = (typeof ALL_LIBS)[number];
/** BENCH_REDIS_LIBS=floor,lockbox runs some libraries (the floor always runs: ratios need it). */
const LIBS: readonly Lib[] = process.env.BENCH_REDIS_LIBS
  ? ALL_LIBS.filter((lib) => lib === "floor" || process.env.BENCH_REDIS_LIBS!.split(",").includes(lib))
  : ALL_LIBS;

/** One library's lock: acquire resolves once held, and returns the release. */
interface Locker {
  acquire(): Promise<() => Promise<unknown>>;
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const FLOOR_RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

async function makeLocker(lib: Lib, client: Redis, key: string): Promise<Locker> {
  switch (lib) {
    case "floor": {
      // EVALSHA of a script loaded once: the cheapest compare-and-delete.
      const floorSha = String(await client.script("LOAD", FLOOR_RELEASE));
      return {
        async acquire() {
          const id = randomBytes(8).toString("hex");
          for (;;) {
            if ((await client.set(key, id, "PX", TTL, "NX")) === "OK") break;
            await sleep(RETRY_MS);
          }
          return () => client.evalsha(floorSha, 1, key, id);
        },
        async close() {},
      };
    }
    case "lockbox": {
      const store = new RedisStore({ client, prefix: key, ttl: TTL });
      await store.ready();
      const mutex = store.mutex<number>("m", { initial: 0 });
      return {
        async acquire() {
          const guard = await mutex.lock();
          return () => guard.discard();
        },
        close: () => store.close(),
      };
    }
    case "redlock": {
      const redlock = new Redlock([client], { retryCount: -1, retryDelay: RETRY_MS, retryJitter: 0 });
      return {
        async acquire() {
          const lock = await redlock.acquire([key], TTL);
          return () => lock.release();
        },
        async close() {},
      };
    }
    case "redis-semaphore":
      return {
        async acquire() {
          const mutex = new SemaphoreMutex(client, key, {
            lockTimeout: TTL,
            acquireTimeout: 60_000,
            retryInterval: RETRY_MS,
            refreshInterval: 0,
          });
          await mutex.acquire();
          return () => mutex.release();
        },
        async close() {},
      };
  }
}

/** An ioredis client whose commands are counted (every command goes through `sendCommand`). */
function countedClient(): { client: Redis; count: () => number } {
  const client = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  let n = 0;
  const send = client.sendCommand.bind(client);
  client.sendCommand = ((...args: Parameters<Redis["sendCommand"]>) => {
    n++;
    return send(...args);
  }) as Redis["sendCommand"];
  return { client, count: () => n };
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

async function latency(lib: Lib, key: string) {
  const { client, count } = countedClient();
  const locker = await makeLocker(lib, client, key);
  // warm up (connection, script cache, JIT: lockbox runs more JavaScript per call than the others,
  // so it needs more rounds before V8 has optimized it)
  for (let i = 0; i < WARMUP; i++) await (await locker.acquire())();
  const before = count();
  const samples: number[] = [];
  const cpuBefore = process.cpuUsage();
  for (let i = 0; i < OPS; i++) {
    const t = performance.now();
    const release = await locker.acquire();
    await release();
    samples.push((performance.now() - t) * 1000);
  }
  const cpu = process.cpuUsage(cpuBefore);
  const cpuUs = (cpu.user + cpu.system) / OPS;
  const trips = (count() - before) / OPS;
  await locker.close();
  client.disconnect();
  samples.sort((a, b) => a - b);
  return { medianUs: quantile(samples, 0.5), p99Us: quantile(samples, 0.99), trips, cpuUs };
}

/** Child: waits for "go" on stdin, contends for SECONDS (holding `holdMs` each time), prints its count. */
async function child(lib: Lib, key: string, holdMs: number) {
  const client = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  const locker = await makeLocker(lib, client, key);
  process.stdout.write("ready\n");
  await new Promise<void>((resolve) => process.stdin.once("data", () => resolve()));
  const end = performance.now() + SECONDS * 1000;
  let ops = 0;
  let inside = 0;
  while (performance.now() < end) {
    const release = await locker.acquire();
    inside++;
    ops++;
    if (holdMs > 0) await sleep(holdMs);
    await release();
    inside--;
  }
  await locker.close();
  client.disconnect();
  process.stdout.write(`${JSON.stringify({ ops, inside })}\n`);
  process.exit(0);
}

async function throughput(lib: Lib, key: string, holdMs: number) {
  const children = Array.from({ length: PROCESSES }, () =>
    spawn(
      process.execPath,
      ["--import", "tsx", new URL(import.meta.url).pathname, "--child", lib, key, String(holdMs)],
      {
        stdio: ["pipe", "pipe", "inherit"],
      },
    ),
  );
  const lines = children.map((c) => {
    let buffer = "";
    const waiters: ((line: string) => void)[] = [];
    c.stdout.on("data", (d: Buffer) => {
      buffer += d.toString();
      let i = buffer.indexOf("\n");
      while (i >= 0) {
        const line = buffer.slice(0, i);
        buffer = buffer.slice(i + 1);
        waiters.shift()?.(line);
        i = buffer.indexOf("\n");
      }
    });
    return () => new Promise<string>((resolve) => waiters.push(resolve));
  });
  const ready = lines.map((next) => next());
  await Promise.all(ready);
  const results = lines.map((next) => next());
  for (const c of children) c.stdin.write("go\n");
  const counts = (await Promise.all(results)).map((line) => (JSON.parse(line) as { ops: number }).ops);
  const total = counts.reduce((a, b) => a + b, 0);
  return { perSecond: total / SECONDS, min: Math.min(...counts), max: Math.max(...counts) };
}

async function main() {
  // Before anything is written: results are tracked files and would make the tree look dirty.
  const commit = gitCommit(new URL(".", import.meta.url).pathname);
  const rows: Record<
    string,
    {
      medianUs: number;
      p99Us: number;
      trips: number;
      cpuUs: number;
      perSecond: number;
      spread: string;
      held: number;
      heldSpread: string;
    }
  > = {};
  const run = randomBytes(4).toString("hex");
  const cleanup = new Redis(REDIS_URL);
  for (const lib of LIBS) {
    const key = `lbbench:${run}:${lib}`;
    process.stderr.write(`${lib}: latency…\n`);
    const l = await latency(lib, `${key}:lat`);
    process.stderr.write(`${lib}: throughput with ${PROCESSES} processes…\n`);
    const none = { perSecond: Number.NaN, min: 0, max: 0 };
    const t = CONTENDED ? await throughput(lib, `${key}:thr`, 0) : none;
    process.stderr.write(`${lib}: throughput with ${PROCESSES} processes, ${HOLD_MS} ms held…\n`);
    const h = CONTENDED ? await throughput(lib, `${key}:hold`, HOLD_MS) : none;
    rows[lib] = {
      ...l,
      perSecond: t.perSecond,
      spread: `${t.min} / ${t.max}`,
      held: h.perSecond,
      heldSpread: `${h.min} / ${h.max}`,
    };
    const keys = await cleanup.keys(`*lbbench:${run}:${lib}*`);
    if (keys.length > 0) await cleanup.del(...keys);
  }
  cleanup.disconnect();

  const floor = rows.floor!;
  const fmt = (n: number, d = 0) => n.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });
  const table = [
    `| library | acquire+release median (µs) | p99 (µs) | × floor | client CPU (µs) | round trips | 4 processes, empty: acquisitions/s | × floor | fewest / most | 4 processes, ${HOLD_MS} ms held: acquisitions/s | × floor | fewest / most |`,
    "| --- | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: |",
    ...LIBS.map((lib) => {
      const r = rows[lib]!;
      return `| ${lib} | ${fmt(r.medianUs)} | ${fmt(r.p99Us)} | ${fmt(r.medianUs / floor.medianUs, 2)} | ${fmt(r.cpuUs)} | ${fmt(r.trips, 1)} | ${fmt(r.perSecond)} | ${fmt(r.perSecond / floor.perSecond, 2)} | ${r.spread} | ${fmt(r.held)} | ${fmt(r.held / floor.held, 2)} | ${r.heldSpread} |`;
    }),
  ].join("\n");
  const md = `# lockbox/redis benchmark

\`npm run bench:redis\` — ${new Date().toISOString()}, Node ${process.version}, ${cpus().length} cores,
load ${loadavg()
    .map((x) => x.toFixed(1))
    .join(
      " / ",
    )}, Redis at ${REDIS_URL} (loopback). ${OPS} uncontended pairs per library; ${PROCESSES} processes × ${SECONDS} s contended.

Measured at ${describeCommit(commit)}.

${table}

- **latency**: one process, one lock, no contention; one sample is one \`acquire\` + \`release\`.
- **client CPU**: CPU time (user + system) the benchmark process spent per uncontended acquire +
  release: what the library costs its caller, and the figure least disturbed by a loaded machine.
- **round trips**: commands sent per uncontended acquire + release (counted on the ioredis instance).
- **4 processes**: each process loops acquire → release on one shared lock, with an empty critical
  section, then holding the lock ${HOLD_MS} ms (an \`await\` standing for work).
  floor, redlock and redis-semaphore retry every ${RETRY_MS} ms while the lock is taken (redis-semaphore's
  default; redlock configured \`retryDelay: ${RETRY_MS}, retryJitter: 0, retryCount: -1\`); lockbox queues
  in Redis and is woken by pub/sub. The spread column shows how evenly the processes were served.
- lockbox's release here is \`discard()\` (no write-back); with a changed value, \`release()\` writes it
  in the same round trip.
`;
  const out = process.env.BENCH_REDIS_OUT ?? new URL("results/redis.md", import.meta.url).pathname;
  writeFileSync(out, md);
  process.stdout.write(`${md}\nwritten to ${out}\n`);
}

if (process.argv[2] === "--child") {
  await child(process.argv[3] as Lib, process.argv[4]!, Number(process.argv[5] ?? 0));
} else {
  await main();
}
