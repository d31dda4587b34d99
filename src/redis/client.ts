/**
 * A small adapter over the user's Redis client, so the rest of `lockbox/redis` speaks one dialect
 * whether it was given an `ioredis` client or a node-redis (v4+) client.
 *
 * Neither driver is imported at run time: everything goes through the object the user passed in
 * (`ioredis`: `call`, `duplicate`, events `close`/`ready`; node-redis: `sendCommand`, `duplicate`,
 * `connect`, events `reconnecting`/`end`/`ready`). Only types are imported.
 *
 * @module
 */

import type { Redis as IoRedis } from "ioredis";
import type { RedisClientType } from "redis";
import { describe } from "../internal/validate.js";
import type { LuaScript } from "./scripts.js";

/** A Redis client lockbox accepts: an `ioredis` client or a node-redis (v4+) client. */
// biome-ignore lint/suspicious/noExplicitAny: node-redis client types are generic over modules/scripts
export type RedisClientLike = IoRedis | RedisClientType<any, any, any>;

/** What a reply from Redis can be, as both drivers decode it (strings, integers, arrays, nil). */
export type Reply = string | number | null | Reply[];

/** An event emitter as both drivers expose it (only what the adapter uses). */
interface Emitter {
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  off?(event: string, listener: (...args: unknown[]) => void): unknown;
  removeListener(event: string, listener: (...args: unknown[]) => void): unknown;
}

interface IoRedisLike extends Emitter {
  call(command: string, ...args: string[]): Promise<unknown>;
  duplicate(): IoRedisLike;
  subscribe(...channels: string[]): Promise<unknown>;
  unsubscribe(...channels: string[]): Promise<unknown>;
  disconnect(): void;
  status: string;
}

interface NodeRedisLike extends Emitter {
  sendCommand(args: string[]): Promise<unknown>;
  duplicate(): NodeRedisLike;
  connect(): Promise<unknown>;
  subscribe(channel: string, listener: (message: string, channel: string) => void): Promise<unknown>;
  unsubscribe(channel?: string): Promise<unknown>;
  disconnect(): Promise<unknown>;
  isOpen: boolean;
  isReady: boolean;
}

/** Which driver a client object belongs to, or `undefined` when it is neither. */
export function detectDriver(client: unknown): "ioredis" | "node-redis" | undefined {
  if (typeof client !== "object" || client === null) return undefined;
  const c = client as Record<string, unknown>;
  if (typeof c.duplicate !== "function" || typeof c.on !== "function") return undefined;
  if (typeof c.call === "function" && typeof c.status === "string") return "ioredis";
  if (typeof c.sendCommand === "function" && "isOpen" in c) return "node-redis";
  return undefined;
}

/** The Redis error text a reply error carries (both drivers use `message`). */
function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith("NOSCRIPT");
}

/** Why a connection was considered lost (what the guards' `LockLostError` cause says). */
export class ConnectionLostError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConnectionLostError";
  }
}

/**
 * One store's view of Redis: scripts on the user's client, pub/sub on a duplicate it owns.
 *
 * Connection loss (the user's client or the duplicate closing or starting to reconnect) is reported
 * through {@link RedisConnection.onLost}; a subscriber that comes back is reported through `onResubscribed`
 * (messages sent while it was away are lost, so waiters must look again).
 */
export class RedisConnection {
  readonly driver: "ioredis" | "node-redis";
  readonly #client: IoRedisLike | NodeRedisLike;
  #sub: IoRedisLike | NodeRedisLike | undefined;
  #subReady: Promise<void> | undefined;
  readonly #channels = new Map<string, (message: string) => void>();
  readonly #lostListeners = new Set<(reason: Error) => void>();
  readonly #backListeners = new Set<() => void>();
  readonly #detach: (() => void)[] = [];
  /** Commands sent and not yet answered (close() lets them finish: a release sent by close() itself). */
  readonly #inflight = new Set<Promise<unknown>>();
  /** SHA1 of each script, as `SCRIPT LOAD` answered. */
  readonly #shas = new Map<LuaScript, string>();
  #closed = false;

  constructor(client: unknown) {
    const driver = detectDriver(client);
    if (driver === undefined) {
      throw new TypeError(
        `Expected \`client\` to be an ioredis client or a node-redis (v4+) client, got ${describe(client)}`,
      );
    }
    this.driver = driver;
    this.#client = client as IoRedisLike | NodeRedisLike;
    this.#watch(this.#client, "client");
  }

  /** Sends one command on the user's client. */
  command(args: string[]): Promise<Reply> {
    let sent: Promise<Reply>;
    if (this.driver === "ioredis") {
      const [name, ...rest] = args;
      sent = (this.#client as IoRedisLike).call(name!, ...rest) as Promise<Reply>;
    } else {
      sent = (this.#client as NodeRedisLike).sendCommand(args) as Promise<Reply>;
    }
    this.#inflight.add(sent);
    const settled = () => this.#inflight.delete(sent);
    sent.then(settled, settled);
    return sent;
  }

  /**
   * Runs a script by its SHA1 (`EVALSHA`) once {@link RedisConnection.load} has learnt it; when the
   * server's script cache does not have it (a restart, `SCRIPT FLUSH`, a failover to a replica that
   * never saw it), or before `load`, falls back to `EVAL`, which also caches it on the server.
   */
  async eval(script: LuaScript, keys: readonly string[], args: readonly string[]): Promise<Reply> {
    const tail = [String(keys.length), ...keys, ...args];
    const sha = this.#shas.get(script);
    if (sha !== undefined) {
      try {
        return await this.command(["EVALSHA", sha, ...tail]);
      } catch (error) {
        if (!isNoScript(error)) throw error;
      }
    }
    return await this.command(["EVAL", script.source, ...tail]);
  }

  /** Loads scripts into the server's cache and learns their SHA1s (`SCRIPT LOAD`). */
  async load(scripts: readonly LuaScript[]): Promise<void> {
    await Promise.all(
      scripts.map(async (s) => {
        this.#shas.set(s, String(await this.command(["SCRIPT", "LOAD", s.source])));
      }),
    );
  }

  /** The SHA1 of a loaded script (undefined before {@link RedisConnection.load}). */
  shaOf(script: LuaScript): string | undefined {
    return this.#shas.get(script);
  }

  /** The server's clock in milliseconds (`TIME`). */
  async time(): Promise<number> {
    const reply = (await this.command(["TIME"])) as [string, string];
    return Number(reply[0]) * 1000 + Math.floor(Number(reply[1]) / 1000);
  }

  /** Whether the user's client currently has a usable connection. */
  get connected(): boolean {
    if (this.driver === "ioredis") return (this.#client as IoRedisLike).status === "ready";
    return (this.#client as NodeRedisLike).isReady;
  }

  /** Calls `listener` whenever the client or the subscriber loses its connection. Returns an unsubscribe. */
  onLost(listener: (reason: Error) => void): () => void {
    this.#lostListeners.add(listener);
    return () => this.#lostListeners.delete(listener);
  }

  /** Calls `listener` when the subscriber is subscribed again after a loss. Returns an unsubscribe. */
  onResubscribed(listener: () => void): () => void {
    this.#backListeners.add(listener);
    return () => this.#backListeners.delete(listener);
  }

  /**
   * Subscribes `onMessage` to `channel` on the duplicate connection (opened on first use).
   * One listener per channel.
   */
  async subscribe(channel: string, onMessage: (message: string) => void): Promise<void> {
    if (this.#closed) throw new ConnectionLostError("the store's Redis connection was closed");
    this.#channels.set(channel, onMessage);
    await this.#openSubscriber();
    const sub = this.#sub!;
    if (this.driver === "ioredis") await (sub as IoRedisLike).subscribe(channel);
    else await (sub as NodeRedisLike).subscribe(channel, (message) => this.#channels.get(channel)?.(message));
  }

  async unsubscribe(channel: string): Promise<void> {
    this.#channels.delete(channel);
    const sub = this.#sub;
    if (sub === undefined) return;
    if (this.driver === "ioredis") await (sub as IoRedisLike).unsubscribe(channel);
    else await (sub as NodeRedisLike).unsubscribe(channel);
  }

  #openSubscriber(): Promise<void> {
    if (this.#subReady !== undefined) return this.#subReady;
    const sub = this.#client.duplicate();
    this.#sub = sub;
    // Our own connection: its errors are reported as losses, never as unhandled 'error' events.
    const onError = () => {};
    sub.on("error", onError);
    this.#detach.push(() => sub.removeListener("error", onError));
    if (this.driver === "ioredis") {
      const onMessage = (channel: unknown, message: unknown) => this.#channels.get(String(channel))?.(String(message));
      sub.on("message", onMessage);
      this.#detach.push(() => sub.removeListener("message", onMessage));
      this.#subReady = Promise.resolve();
    } else {
      this.#subReady = (sub as NodeRedisLike).connect().then(() => undefined);
    }
    this.#watch(sub, "subscriber");
    return this.#subReady;
  }

  #watch(emitter: Emitter, which: "client" | "subscriber"): void {
    let down = false;
    const lost = (what: string) => () => {
      if (this.#closed || down) return;
      down = true;
      const error = new ConnectionLostError(`the store's Redis ${which} connection ${what}`);
      for (const listener of [...this.#lostListeners]) listener(error);
    };
    const back = () => {
      if (!down) return;
      down = false;
      if (which === "subscriber") for (const listener of [...this.#backListeners]) listener();
    };
    const events: [string, () => void][] =
      this.driver === "ioredis"
        ? [
            ["close", lost("closed")],
            ["end", lost("ended")],
            ["ready", back],
          ]
        : [
            ["reconnecting", lost("dropped")],
            ["end", lost("ended")],
            ["ready", back],
          ];
    for (const [event, listener] of events) {
      emitter.on(event, listener);
      this.#detach.push(() => emitter.removeListener(event, listener));
    }
  }

  /**
   * Lets the commands in flight finish (at most `waitMs`), then closes the duplicate connection and
   * detaches every listener from the user's client (never closes it).
   *
   * Waiting matters: a store's close() releases its guards in the background, and a user who then
   * ends the client while it is reconnecting would leave those commands unanswered forever (ioredis
   * drops its offline queue silently when `disconnect()` lands between reconnect attempts).
   */
  async close(waitMs = 0): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#inflight.size > 0 && waitMs > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.allSettled([...this.#inflight]),
        new Promise((resolve) => {
          timer = setTimeout(resolve, waitMs);
        }),
      ]);
      clearTimeout(timer);
    }
    for (const detach of this.#detach.splice(0)) detach();
    this.#channels.clear();
    this.#lostListeners.clear();
    this.#backListeners.clear();
    const sub = this.#sub;
    this.#sub = undefined;
    if (sub === undefined) return;
    // Keep swallowing errors from the closing socket.
    sub.on("error", () => {});
    if (this.driver === "ioredis") (sub as IoRedisLike).disconnect();
    else {
      await this.#subReady?.catch(() => {});
      if ((sub as NodeRedisLike).isOpen) await (sub as NodeRedisLike).disconnect().catch(() => {});
    }
  }
}
