/**
 * SPEC §6 guarantees under faults, with real child processes (fixtures/holder.ts): kill -9 of a holder,
 * SIGSTOP past the ttl, pg_terminate_backend of the holder's connections, a proxy that goes silent
 * (half-open), a restart of a throwaway PostgreSQL cluster (`pg_ctl restart -m immediate`, never the
 * shared server), and N processes × M read-modify-write increments. Tokens of one name are recorded
 * through every scenario and must strictly increase.
 *
 * Sizes: LOCKBOX_FAULT_PROCESSES (default 4) × LOCKBOX_FAULT_INCREMENTS (default 25). Ports 17300-17399.
 * Every wait is bounded; every child is killed in afterAll.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PostgresStore } from "../../src/postgres/index.js";
import { PG_URL, PgFixture, requirePostgres, testTable } from "./helpers.js";

const TTL = 2_000;
/** Slack over the ttl for "replaced within ttl + margin": generous, the machine is shared and noisy. */
const MARGIN = 4_000;
const PROCESSES = Number(process.env.LOCKBOX_FAULT_PROCESSES ?? 4);
const INCREMENTS = Number(process.env.LOCKBOX_FAULT_INCREMENTS ?? 25);
const PROXY_PORT = 17_310;
const CLUSTER_PORT = 17_311;
const FIXTURE = new URL("./fixtures/holder.ts", import.meta.url).pathname;
const ROOT = new URL("../..", import.meta.url).pathname;

const fixture = new PgFixture(testTable("faults"));
const children = new Set<ChildProcess>();
/** Every token granted for NAME, in the order the grants happened. */
const tokens: bigint[] = [];
const NAME = `fault-${process.pid}`;
/** Figures reported at the end (and in the closing note). */
const figures = {
  killReplacedMs: 0,
  kills: 0,
  pauses: 0,
  terminations: 0,
  silentProxies: 0,
  restarts: 0,
  increments: 0,
  lostUpdates: -1,
};

interface Event {
  event: string;
  [key: string]: unknown;
}

/** A fixture process: its JSON events, awaited one by one with a bound. */
class Child {
  readonly process: ChildProcess;
  readonly #events: Event[] = [];
  readonly #waiting: (() => void)[] = [];
  #exited = false;

  constructor(config: Record<string, unknown>) {
    this.process = spawn(process.execPath, ["--import", "tsx", FIXTURE], {
      cwd: ROOT,
      env: {
        ...process.env,
        LOCKBOX_FIXTURE: JSON.stringify({ url: PG_URL, table: fixture.table, ttl: TTL, ...config }),
      },
      stdio: ["pipe", "pipe", "inherit"],
    });
    children.add(this.process);
    createInterface({ input: this.process.stdout! }).on("line", (line) => {
      try {
        this.#events.push(JSON.parse(line) as Event);
      } catch {
        return; // not ours (a warning printed by a dependency)
      }
      for (const wake of this.#waiting.splice(0)) wake();
    });
    this.process.on("exit", () => {
      this.#exited = true;
      children.delete(this.process);
      for (const wake of this.#waiting.splice(0)) wake();
    });
  }

  /** The next event named `name` (earlier other events are kept), or an error after `ms`. */
  async next(name: string, ms = 20_000): Promise<Event> {
    const deadline = Date.now() + ms;
    for (;;) {
      const index = this.#events.findIndex((e) => e.event === name);
      if (index >= 0) return this.#events.splice(index, 1)[0]!;
      if (this.#exited) throw new Error(`the child exited before "${name}" (${JSON.stringify(this.#events)})`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no "${name}" from the child within ${ms} ms (${JSON.stringify(this.#events)})`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiting.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Events seen so far named `name`. */
  seen(name: string): Event[] {
    return this.#events.filter((e) => e.event === name);
  }

  send(line: string): void {
    this.process.stdin!.write(`${line}\n`);
  }

  kill(signal: NodeJS.Signals): void {
    this.process.kill(signal);
  }

  exited(): Promise<void> {
    if (this.#exited) return Promise.resolve();
    return new Promise((resolve) => this.process.once("exit", () => resolve()));
  }
}

const stores: PostgresStore[] = [];
async function contender(options?: { url?: string; table?: string }): Promise<PostgresStore> {
  const pool = new pg.Pool({ connectionString: options?.url ?? PG_URL, max: 3 });
  pool.on("error", () => {});
  fixture.pools.push(pool);
  const store = new PostgresStore({ pool, table: options?.table ?? fixture.table, ttl: TTL });
  await store.ready();
  stores.push(store);
  return store;
}

/** Starts a holder of NAME (through `url`) and records its token. */
async function holder(app: string, url = PG_URL): Promise<{ child: Child; token: bigint }> {
  const child = new Child({ mode: "hold", name: NAME, app, url });
  const acquired = await child.next("acquired");
  const token = BigInt(acquired.token as string);
  tokens.push(token);
  return { child, token };
}

beforeAll(async () => {
  await requirePostgres();
});

afterAll(async () => {
  for (const child of children) {
    child.kill("SIGCONT");
    child.kill("SIGKILL");
  }
  await Promise.allSettled(stores.splice(0).map((store) => store.close()));
  await fixture.endPools();
  await fixture.drop().catch(() => {});
  console.log(`fault suite figures: ${JSON.stringify(figures)}; tokens of ${NAME}: ${tokens.join(" < ")}`);
});

describe("PostgresStore under faults", () => {
  it("kill -9 of a holder: a waiter is granted within ttl + margin, with a larger token", async () => {
    const { child, token } = await holder(`lockbox-kill-${process.pid}`);
    const store = await contender();
    const waiting = store.mutex<string>(NAME, { initial: "x" }).lock({ timeout: TTL + MARGIN });
    const killedAt = performance.now();
    child.kill("SIGKILL");
    await child.exited();
    const guard = await waiting;
    const replacedAfter = performance.now() - killedAt;
    tokens.push(guard.token);
    expect(guard.token > token).toBe(true);
    expect(replacedAfter).toBeLessThan(TTL + MARGIN);
    figures.killReplacedMs = Math.round(replacedAfter);
    await guard.release();
    figures.kills++;
  });

  it("SIGSTOP past the ttl: the contender commits; after SIGCONT the holder's signal has aborted and its commit is refused", async () => {
    const { child, token } = await holder(`lockbox-stop-${process.pid}`);
    child.kill("SIGSTOP");
    const store = await contender();
    const guard = await store.mutex<string>(NAME, { initial: "x" }).lock({ timeout: TTL + MARGIN });
    tokens.push(guard.token);
    expect(guard.token > token).toBe(true);
    guard.value = "contender's write";
    await guard.commit();
    child.kill("SIGCONT");
    const lost = await child.next("lost");
    expect(lost.error).toBe("LockLostError");
    child.send("commit stale");
    const commit = await child.next("commit");
    expect(commit).toMatchObject({ ok: false, error: "LockLostError", aborted: true, held: false });
    child.send("release stale-again");
    const release = await child.next("release");
    expect(release).toMatchObject({ ok: false, error: "LockLostError" });
    await guard.release();
    const check = await store.mutex<string>(NAME, { initial: "x" }).lock();
    tokens.push(check.token);
    expect(check.value).toBe("contender's write");
    await check.release();
    expect(child.seen("unhandledRejection")).toEqual([]);
    child.kill("SIGKILL");
    figures.pauses++;
  });

  it("pg_terminate_backend of the holder's connections aborts its signal", async () => {
    const app = `lockbox-term-${process.pid}`;
    const { child } = await holder(app);
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    try {
      const { rows } = await admin.query<{ n: number }>(
        "SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = $1",
        [app],
      );
      expect(rows[0]!.n).toBeGreaterThan(0);
    } finally {
      await admin.end();
    }
    const lost = await child.next("lost");
    expect(lost.error).toBe("LockLostError");
    expect(String(lost.message)).toMatch(/connection was lost/);
    child.send("commit after-terminate");
    expect(await child.next("commit")).toMatchObject({ ok: false, error: "LockLostError" });
    expect(child.seen("unhandledRejection")).toEqual([]);
    child.kill("SIGKILL");
    // The lease it held ends by the server's clock; the next holder gets a larger token.
    const store = await contender();
    const guard = await store.mutex(NAME, { initial: "x" }).lock({ timeout: TTL + MARGIN });
    tokens.push(guard.token);
    await guard.release();
    figures.terminations++;
  });

  it("a connection that goes silent (half-open proxy) is caught by the local deadline", async () => {
    const proxy = await silentProxy(PROXY_PORT, new URL(PG_URL));
    try {
      const url = new URL(PG_URL);
      url.hostname = "127.0.0.1";
      url.port = String(PROXY_PORT);
      const { child, token } = await holder(`lockbox-proxy-${process.pid}`, url.toString());
      proxy.silence();
      const lost = await child.next("lost", TTL + MARGIN);
      expect(lost.error).toBe("LockLostError");
      expect(String(lost.message)).toMatch(/local deadline/);
      child.send("commit through-silence");
      expect(await child.next("commit")).toMatchObject({ ok: false, error: "LockLostError" });
      const store = await contender();
      const guard = await store.mutex(NAME, { initial: "x" }).lock({ timeout: TTL + MARGIN });
      tokens.push(guard.token);
      expect(guard.token > token).toBe(true);
      await guard.release();
      expect(child.seen("unhandledRejection")).toEqual([]);
      child.kill("SIGKILL");
      figures.silentProxies++;
    } finally {
      proxy.close();
    }
  });

  it(`${PROCESSES} processes × ${INCREMENTS} read-modify-write increments with random pauses end exact`, async () => {
    const name = `${NAME}-counter`;
    const workers = Array.from(
      { length: PROCESSES },
      (_, i) =>
        new Child({ mode: "increment", name, app: `lockbox-inc-${process.pid}-${i}`, m: INCREMENTS, pauseMs: 10 }),
    );
    const done = await Promise.all(workers.map((w) => w.next("done", 90_000)));
    const records = done.flatMap((d) => d.records as [string, number][]).map(([t, v]) => [BigInt(t), v] as const);
    records.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    // Ordered by token, each increment read exactly what the previous one wrote: tokens are the order
    // of the grants, no two holders overlapped, and no update was lost.
    expect(records.map(([, seen]) => seen)).toEqual(Array.from({ length: PROCESSES * INCREMENTS }, (_, i) => i));
    for (let i = 1; i < records.length; i++) expect(records[i]![0] > records[i - 1]![0]).toBe(true);
    const store = await contender();
    const total = await store.mutex<number>(name, { initial: 0 }).withLock((g) => g.value);
    expect(total).toBe(PROCESSES * INCREMENTS);
    figures.increments = PROCESSES * INCREMENTS;
    figures.lostUpdates = PROCESSES * INCREMENTS - total;
  }, 120_000);

  it("a server restart (throwaway cluster, restart -m immediate) aborts the holder; tokens keep increasing", async () => {
    const cluster = await throwawayCluster(CLUSTER_PORT);
    try {
      const url = `postgres://postgres@127.0.0.1:${CLUSTER_PORT}/postgres`;
      const table = "lockbox_restart";
      const child = new Child({ mode: "hold", name: NAME, app: "lockbox-restart", url, table });
      const before = BigInt((await child.next("acquired")).token as string);
      cluster.restart();
      const lost = await child.next("lost");
      expect(lost.error).toBe("LockLostError");
      child.send("commit after-restart");
      expect(await child.next("commit")).toMatchObject({ ok: false, error: "LockLostError" });
      const store = await contender({ url, table });
      const after: bigint[] = [];
      for (let i = 0; i < 3; i++) {
        const guard = await store.mutex(NAME, { initial: "x" }).lock({ timeout: TTL + MARGIN });
        after.push(guard.token);
        await guard.release();
      }
      expect(after[0]! > before).toBe(true);
      expect(after[1]! > after[0]! && after[2]! > after[1]!).toBe(true);
      child.kill("SIGKILL");
      await store.close();
      figures.restarts++;
    } finally {
      cluster.stop();
    }
  }, 60_000);

  it("tokens of one name strictly increased through every scenario", () => {
    expect(tokens.length).toBeGreaterThanOrEqual(8);
    for (let i = 1; i < tokens.length; i++) expect(tokens[i]! > tokens[i - 1]!).toBe(true);
  });
});

/** A TCP proxy to `target` that can stop forwarding in both directions while keeping every socket open. */
function silentProxy(port: number, target: URL): Promise<{ silence(): void; close(): void }> {
  let silent = false;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port || 5432), target.hostname);
    sockets.add(client).add(upstream);
    client.on("data", (data) => {
      if (!silent) upstream.write(data);
    });
    upstream.on("data", (data) => {
      if (!silent) client.write(data);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () =>
      resolve({
        silence: () => {
          silent = true;
        },
        close: () => {
          for (const socket of sockets) socket.destroy();
          server.close();
        },
      }),
    );
  });
}

/** A PostgreSQL cluster of our own (initdb as the postgres user), on a port of this suite's range. */
async function throwawayCluster(port: number): Promise<{ restart(): void; stop(): void }> {
  const bin = postgresBin();
  const dir = mkdtempSync(join(tmpdir(), "lockbox-pg-"));
  const asPostgres = (command: string, args: string[]) => {
    const root = process.getuid?.() === 0;
    return execFileSync(root ? "runuser" : command, root ? ["-u", "postgres", "--", command, ...args] : args, {
      stdio: "pipe",
      timeout: 60_000,
    });
  };
  if (process.getuid?.() === 0) execFileSync("chown", ["postgres", dir]);
  asPostgres(join(bin, "initdb"), ["-D", join(dir, "data"), "-U", "postgres", "--auth=trust", "--no-sync"]);
  const ctl = (...args: string[]) =>
    asPostgres(join(bin, "pg_ctl"), [
      "-D",
      join(dir, "data"),
      "-l",
      join(dir, "log"),
      "-w",
      "-t",
      "30",
      "-o",
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`,
      ...args,
    ]);
  ctl("start");
  return {
    restart: () => ctl("restart", "-m", "immediate"),
    stop: () => {
      try {
        ctl("stop", "-m", "immediate");
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

function postgresBin(): string {
  if (process.env.LOCKBOX_PG_BIN) return process.env.LOCKBOX_PG_BIN;
  const base = "/usr/lib/postgresql";
  const versions = existsSync(base) ? readdirSync(base).sort() : [];
  const found = versions.map((v) => join(base, v, "bin")).find((dir) => existsSync(join(dir, "pg_ctl")));
  if (found === undefined) {
    throw new Error(
      "The restart test needs PostgreSQL's server binaries (initdb, pg_ctl) to start a throwaway cluster; " +
        "set LOCKBOX_PG_BIN to the directory that holds them.",
    );
  }
  return found;
}
