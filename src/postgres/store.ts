import type { Client, Pool, PoolClient } from "pg";
import { describe } from "../internal/validate.js";
import { Store, type StoreOptions } from "../store/store.js";
import { PostgresBackend } from "./backend.js";
import { MAX_TABLE_PART, parseTable } from "./sql.js";

/** Options of {@link PostgresStore}. */
export interface PostgresStoreOptions extends StoreOptions {
  /** A node-postgres pool: statements borrow a connection each; one is held for `LISTEN`. */
  pool: Pool;
  /**
   * The lock table, an identifier or `schema.table` (default `"lockbox_locks"`); every object the store
   * creates is named with it as a prefix (`<table>_entries`, `<table>_acquire`, …).
   */
  table?: string | undefined;
  /**
   * A connected `pg.Client` that does not go through PgBouncer (transaction pooling cannot carry
   * `LISTEN`): the store runs `LISTEN` on it instead of holding a pool connection, and never ends it.
   */
  listenClient?: Client | undefined;
}

/**
 * Distributed `Mutex<T>`, `RwLock<T>` and `Semaphore` on PostgreSQL (guide: docs/distributed.md): the value lives in a
 * table next to its lock; waiters queue in the table (FIFO across processes) and are woken by
 * `LISTEN/NOTIFY`; leases expire by the server's clock; every exclusive grant gets a fencing token.
 *
 * @example
 * ```ts
 * import pg from "pg";
 * import { PostgresStore } from "lockbox/postgres";
 *
 * const store = new PostgresStore({ pool: new pg.Pool(), ttl: 10_000 });
 * await store.ready();
 * const balance = store.mutex("balance", { initial: 0 });
 * await balance.withLock((guard) => {
 *   guard.value += 10;
 * });
 * await store.close();
 * ```
 *
 * **Fairness**: FIFO across processes; `try*` never jumps a queue with live waiters.
 *
 * **Cancel safety**: an aborted or timed-out acquire rejects once its queue entry has left the table; a
 * grant that raced with the abort is released.
 *
 * **Throws**: `TypeError`/`RangeError` for bad options (a `table` that is not an identifier or
 * `schema.table`, a bad `ttl`, …).
 */
export class PostgresStore extends Store<PoolClient> {
  /** The lock table as given (`table` or `schema.table`). */
  readonly table: string;

  constructor(options: PostgresStoreOptions) {
    if (options === null || typeof options !== "object") {
      throw new TypeError(`Expected \`options\` to be an object with a \`pool\`, got ${describe(options)}`);
    }
    const pool = options.pool;
    if (pool === null || typeof pool !== "object" || typeof (pool as Pool).query !== "function") {
      throw new TypeError(`Expected \`pool\` to be a pg.Pool, got ${describe(pool)}`);
    }
    const table = options.table ?? "lockbox_locks";
    if (typeof table !== "string") {
      throw new TypeError(`Expected \`table\` to be an identifier or schema.table, got ${describe(table)}`);
    }
    if (parseTable(table) === undefined) {
      throw new RangeError(
        `Expected \`table\` to be an identifier (letters, digits, _; at most ${MAX_TABLE_PART} characters), optionally schema.table, got ${describe(table)}`,
      );
    }
    const listenClient = options.listenClient;
    const max = (pool as { options?: { max?: unknown } }).options?.max;
    if (listenClient === undefined && typeof max === "number" && max < 2) {
      // One connection is held for LISTEN: with a single-connection pool every statement would wait
      // for a connection that never comes back.
      throw new RangeError(
        `Expected \`pool\` to allow at least 2 connections (one is held for LISTEN), got max ${max}; raise it or pass a \`listenClient\``,
      );
    }
    if (listenClient !== undefined && (listenClient === null || typeof listenClient.query !== "function")) {
      throw new TypeError(
        `Expected \`listenClient\` to be a connected pg.Client or undefined, got ${describe(listenClient)}`,
      );
    }
    const ttl = options.ttl ?? 30_000;
    const commandTimeout = options.commandTimeout ?? (typeof ttl === "number" ? ttl : 30_000);
    super(
      new PostgresBackend(pool, table, listenClient, typeof commandTimeout === "number" ? commandTimeout : 30_000),
      options,
    );
    this.table = table;
  }
}
