import { describe } from "../internal/validate.js";
import { Store, type StoreOptions } from "../store/store.js";
import { RedisBackend } from "./backend.js";
import { detectDriver, type RedisClientLike } from "./client.js";

/** Options of {@link RedisStore}. */
export interface RedisStoreOptions extends StoreOptions {
  /**
   * An `ioredis` client (`new Redis(…)`) or a connected node-redis v4+ client (`createClient(…)`). The
   * store sends its scripts on it and opens one duplicate (`client.duplicate()`) for pub/sub; it never
   * closes `client` itself.
   */
  client: RedisClientLike;
  /**
   * The start of every key (`{<prefix>:<name>}:…`) and of the wake-up channel (`<prefix>:wake`), default
   * `"lockbox"`. Stores with different prefixes never see each other's locks.
   */
  prefix?: string | undefined;
}

/** Longest accepted `prefix`, in characters. */
const MAX_PREFIX = 200;

/**
 * Distributed `Mutex<T>`, `RwLock<T>` and `Semaphore` on Redis (guide: docs/redis.md): the value lives in Redis next
 * to its lock; waiters queue in Redis (FIFO across processes) and are woken by pub/sub; leases expire
 * by the server's clock (`TIME` inside the scripts); every exclusive grant gets a fencing token from a
 * counter that never expires. Every operation is one Lua script (one round trip); all keys of a lock
 * share the hash tag `{prefix:name}`, so it works on one shard of a Redis Cluster.
 *
 * Tokens stay strictly increasing across a Redis restart only when Redis runs with `appendonly yes`
 * and `appendfsync always` (see docs/redis.md).
 *
 * @example
 * ```ts
 * import { Redis } from "ioredis";
 * import { RedisStore } from "lockbox/redis";
 *
 * const store = new RedisStore({ client: new Redis(), ttl: 10_000 });
 * await store.ready();
 * const balance = store.mutex("balance", { initial: 0 });
 * await balance.withLock((guard) => {
 *   guard.value += 10; // written back by the release, in the same round trip
 * });
 * await store.close();
 * ```
 *
 * **Fairness**: FIFO across processes; a queued writer blocks later readers; a semaphore request for
 * many permits at the head blocks later small ones; `try*` never jumps a queue with live waiters.
 *
 * **Cancel safety**: an aborted or timed-out acquire rejects once its queue entry has left Redis; a
 * grant that raced with the abort is released.
 *
 * **Throws**: `TypeError` when `client` is neither an ioredis nor a node-redis client, or `prefix` is
 * not a string; `RangeError` for an empty or over-long `prefix`, a bad `ttl`, ….
 */
export class RedisStore extends Store {
  /** The key prefix of this store. */
  readonly prefix: string;
  /** Which driver `client` belongs to. */
  readonly driver: "ioredis" | "node-redis";

  constructor(options: RedisStoreOptions) {
    if (options === null || typeof options !== "object") {
      throw new TypeError(`Expected \`options\` to be an object with a \`client\`, got ${describe(options)}`);
    }
    const driver = detectDriver(options.client);
    if (driver === undefined) {
      throw new TypeError(
        `Expected \`client\` to be an ioredis client or a node-redis (v4+) client, got ${describe(options.client)}`,
      );
    }
    const prefix = options.prefix ?? "lockbox";
    if (typeof prefix !== "string") {
      throw new TypeError(
        `Expected \`prefix\` to be a string of 1 to ${MAX_PREFIX} characters without "{" or "}", got ${describe(prefix)}`,
      );
    }
    if (prefix.length === 0 || prefix.length > MAX_PREFIX || /[{}]/.test(prefix)) {
      throw new RangeError(
        `Expected \`prefix\` to be a string of 1 to ${MAX_PREFIX} characters without "{" or "}", got ${describe(prefix)}`,
      );
    }
    // The same bound the core puts on every operation (checked by the core): close() waits at most
    // this long for the releases it started.
    const bound = options.commandTimeout ?? options.ttl ?? 30_000;
    super(new RedisBackend(options.client, prefix, typeof bound === "number" ? bound : 0), options);
    this.prefix = prefix;
    this.driver = driver;
  }
}
