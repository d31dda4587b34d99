import type { Client, Pool, PoolClient, QueryConfig, QueryResult } from "pg";
import type {
  AcquireRequest,
  AcquireResult,
  JsonText,
  LeaseRef,
  LockKind,
  StoreBackend,
  TryAcquireResult,
  WakeHandlers,
} from "../store/backend.js";
import { UserFailure } from "../store/guard.js";
import { type SqlNames, schemaSql, sqlNames } from "./sql.js";

/** The connection a store LISTENs on: a pool client it checked out, or the user's `listenClient`. */
type ListenConnection = { client: PoolClient; owned: true } | { client: Client; owned: false };

interface AcquireRow {
  o_status: "granted" | "queued" | "busy" | "mismatch";
  o_id: string | null;
  o_token: string | null;
  o_value: string | null;
  o_wait_ms: number | null;
  o_kind: LockKind | null;
  o_capacity: number | null;
}

/** Delay before the store re-opens a LISTEN connection it owns that was lost (doubles up to 10 s). */
const RELISTEN_FIRST_MS = 250;
const RELISTEN_MAX_MS = 10_000;

/**
 * The PostgreSQL backend: each operation is one statement (a call of a server-side function created by
 * `ready()`); wake-ups come from `LISTEN` on one held connection.
 *
 * @internal
 */
export class PostgresBackend implements StoreBackend {
  readonly #pool: Pool;
  readonly #names: SqlNames;
  readonly #userListenClient: Client | undefined;
  readonly #timeout: number;
  readonly #acquireText: string;
  #handlers: WakeHandlers | undefined;
  #listen: ListenConnection | undefined;
  #listening: Promise<void> | undefined;
  #relistenTimer: ReturnType<typeof setTimeout> | undefined;
  #relistenDelay = RELISTEN_FIRST_MS;
  #closed = false;
  #created = false;

  constructor(pool: Pool, table: string, listenClient: Client | undefined, commandTimeout: number) {
    this.#pool = pool;
    this.#names = sqlNames(table);
    this.#userListenClient = listenClient;
    this.#timeout = commandTimeout;
    this.#acquireText = `SELECT * FROM ${this.#names.acquire}($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`;
  }

  /** The quoted names of the store's objects (tests and the benchmark's hand-written floor use them). */
  get names(): SqlNames {
    return this.#names;
  }

  subscribe(handlers: WakeHandlers): void {
    this.#handlers = handlers;
  }

  async ready(): Promise<void> {
    if (!this.#created) {
      const client = await this.#pool.connect();
      let failed: unknown;
      try {
        await client.query("BEGIN");
        // Serializes concurrent ready() calls of every process on this table: CREATE OR REPLACE
        // FUNCTION run concurrently fails with "tuple concurrently updated".
        await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`lockbox:${this.#names.locks}`]);
        await client.query(schemaSql(this.#names));
        await client.query("COMMIT");
        this.#created = true;
      } catch (error) {
        failed = error;
        await client.query("ROLLBACK").catch(() => {});
        throw error;
      } finally {
        client.release(failed instanceof Error ? failed : undefined);
      }
    }
    await this.#startListening();
  }

  acquire(request: AcquireRequest, queuedId: bigint | undefined): Promise<AcquireResult> {
    return this.#acquire(request, queuedId, true) as Promise<AcquireResult>;
  }

  tryAcquire(request: AcquireRequest): Promise<TryAcquireResult> {
    return this.#acquire(request, undefined, false) as Promise<TryAcquireResult>;
  }

  async commit(lease: LeaseRef, value: JsonText): Promise<boolean> {
    const result = await this.#query<{ ok: boolean }>(`SELECT ${this.#names.commit}($1, $2, $3, $4) AS ok`, [
      lease.name,
      lease.id.toString(),
      lease.token.toString(),
      value,
    ]);
    return result.rows[0]?.ok === true;
  }

  async release(lease: LeaseRef, value: JsonText | undefined): Promise<boolean> {
    const result = await this.#query<{ ok: boolean }>(`SELECT ${this.#names.release}($1, $2, $3, $4) AS ok`, [
      lease.name,
      lease.id.toString(),
      lease.token.toString(),
      value ?? null,
    ]);
    return result.rows[0]?.ok === true;
  }

  async extend(lease: LeaseRef, ttl: number): Promise<boolean> {
    // Only the lease's own entry row: a renewal never waits behind a fenced transaction's row lock.
    const result = await this.#query(
      `UPDATE ${this.#names.entries} SET expires_at = now() + $3 * interval '1 millisecond', ttl_ms = $3
        WHERE name = $1 AND id = $2 AND granted AND expires_at > now()`,
      [lease.name, lease.id.toString(), ttl],
    );
    return result.rowCount === 1;
  }

  async leave(name: string, id: bigint): Promise<void> {
    await this.#query(`SELECT ${this.#names.leave}($1, $2)`, [name, id.toString()]);
  }

  async transaction<R>(
    lease: LeaseRef,
    fn: (client: unknown) => Promise<R>,
  ): Promise<{ held: true; result: R } | { held: false }> {
    const client = await this.#pool.connect();
    let broken: Error | undefined;
    try {
      await client.query({ text: "BEGIN", query_timeout: this.#timeout } as QueryConfig);
      const check = await client.query<{ ok: boolean }>({
        text: `SELECT ${this.#names.fence}($1, $2, $3) AS ok`,
        values: [lease.name, lease.id.toString(), lease.token.toString()],
        query_timeout: this.#timeout,
      } as QueryConfig);
      if (check.rows[0]?.ok !== true) {
        await client.query("ROLLBACK");
        return { held: false };
      }
      let result: R;
      try {
        result = await fn(client);
      } catch (error) {
        await client.query("ROLLBACK").catch((rollbackError: Error) => {
          broken = rollbackError;
        });
        throw error;
      }
      await client.query({ text: "COMMIT", query_timeout: this.#timeout } as QueryConfig);
      return { held: true, result };
    } catch (error) {
      if (broken === undefined && !(error instanceof UserFailure)) {
        broken = error as Error;
        await client.query("ROLLBACK").catch(() => {});
      }
      throw error;
    } finally {
      // A connection whose transaction state is unknown is not handed back to the pool.
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#relistenTimer !== undefined) clearTimeout(this.#relistenTimer);
    const listen = this.#listen;
    this.#listen = undefined;
    if (listen === undefined) return;
    listen.client.removeListener("notification", this.#onNotification);
    listen.client.removeListener("error", this.#onListenError);
    listen.client.removeListener("end", this.#onListenEnd);
    if (listen.owned) {
      // The LISTEN lives on the connection: destroy it rather than hand a listening session back.
      listen.client.release(true);
    } else {
      await listen.client.query(`UNLISTEN ${this.#names.channelIdentifier}`).catch(() => {});
    }
  }

  async #acquire(
    request: AcquireRequest,
    queuedId: bigint | undefined,
    wait: boolean,
  ): Promise<AcquireResult | TryAcquireResult> {
    const result = await this.#query<AcquireRow>(this.#acquireText, [
      request.name,
      request.kind,
      request.capacity,
      request.initial,
      request.permits,
      request.exclusive,
      request.ttl,
      request.queueTtl,
      request.clientId,
      queuedId === undefined ? null : queuedId.toString(),
      wait,
    ]);
    const row = result.rows[0];
    if (row === undefined) throw new Error("the acquire function returned no row");
    switch (row.o_status) {
      case "granted":
        return row.o_wait_ms === null
          ? { status: "granted", id: BigInt(row.o_id!), token: BigInt(row.o_token!), value: row.o_value }
          : {
              status: "granted",
              id: BigInt(row.o_id!),
              token: BigInt(row.o_token!),
              value: row.o_value,
              leaseMs: row.o_wait_ms,
            };
      case "queued":
        return { status: "queued", id: BigInt(row.o_id!), waitMs: row.o_wait_ms ?? request.queueTtl };
      case "busy":
        return { status: "busy" };
      default:
        return { status: "mismatch", kind: row.o_kind!, capacity: row.o_capacity! };
    }
  }

  #query<R extends object = object>(text: string, values: unknown[]): Promise<QueryResult<R>> {
    // query_timeout makes pg drop a connection stuck on a half-open socket instead of reusing it.
    return this.#pool.query<R>({ text, values, query_timeout: this.#timeout } as QueryConfig);
  }

  #startListening(): Promise<void> {
    if (this.#listen !== undefined || this.#closed) return Promise.resolve();
    if (this.#listening !== undefined) return this.#listening;
    const listening = (async () => {
      let listen: ListenConnection;
      if (this.#userListenClient !== undefined) listen = { client: this.#userListenClient, owned: false };
      else listen = { client: await this.#pool.connect(), owned: true };
      listen.client.on("notification", this.#onNotification);
      listen.client.on("error", this.#onListenError);
      listen.client.on("end", this.#onListenEnd);
      try {
        await listen.client.query(`LISTEN ${this.#names.channelIdentifier}`);
      } catch (error) {
        listen.client.removeListener("notification", this.#onNotification);
        listen.client.removeListener("error", this.#onListenError);
        listen.client.removeListener("end", this.#onListenEnd);
        if (listen.owned) listen.client.release(error as Error);
        throw error;
      }
      if (this.#closed) {
        if (listen.owned) listen.client.release(true);
        return;
      }
      this.#listen = listen;
      this.#relistenDelay = RELISTEN_FIRST_MS;
    })();
    this.#listening = listening;
    const done = () => {
      if (this.#listening === listening) this.#listening = undefined;
    };
    listening.then(done, done);
    return listening;
  }

  readonly #onNotification = (message: { channel: string; payload?: string | undefined }): void => {
    if (message.channel === this.#names.channel && message.payload !== undefined) {
      this.#handlers?.onWake(message.payload);
    }
  };

  readonly #onListenError = (error: Error): void => {
    this.#listenLost(error);
  };

  readonly #onListenEnd = (): void => {
    this.#listenLost(new Error("the LISTEN connection ended"));
  };

  #listenLost(error: Error): void {
    const listen = this.#listen;
    if (listen === undefined) return;
    this.#listen = undefined;
    listen.client.removeListener("notification", this.#onNotification);
    listen.client.removeListener("error", this.#onListenError);
    listen.client.removeListener("end", this.#onListenEnd);
    // Keep a no-op error listener: a dead client may still emit, and an unhandled 'error' would crash.
    listen.client.on("error", () => {});
    if (listen.owned) listen.client.release(error);
    this.#handlers?.onDown(error);
    // A connection the store owns is re-opened (waiters meanwhile wake at lease expiry); the user's
    // listenClient is theirs to replace.
    if (listen.owned && !this.#closed) this.#scheduleRelisten();
  }

  #scheduleRelisten(): void {
    if (this.#relistenTimer !== undefined || this.#closed) return;
    const delay = this.#relistenDelay;
    this.#relistenDelay = Math.min(delay * 2, RELISTEN_MAX_MS);
    this.#relistenTimer = setTimeout(() => {
      this.#relistenTimer = undefined;
      this.#startListening().catch(() => this.#scheduleRelisten());
    }, delay);
    (this.#relistenTimer as { unref?: () => void }).unref?.();
  }
}
