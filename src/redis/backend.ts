/**
 * The Redis implementation of the store backend interface (`src/store/backend.ts`): each operation is
 * one script call on the user's client; wake-ups arrive on one pub/sub channel per store, on a
 * duplicate connection.
 *
 * This file knows nothing of guards, timers or deadlines (the backend-neutral core does); it turns the
 * core's few operations into Lua and decodes the replies.
 *
 * @module
 */

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
import { RedisConnection, type Reply } from "./client.js";
import { ACQUIRE, ALL_SCRIPTS, COMMIT, EXTEND, LEAVE, lockKeys, RELEASE } from "./scripts.js";

/** The Redis operations of one store. */
export class RedisBackend implements StoreBackend {
  readonly connection: RedisConnection;
  readonly prefix: string;
  /** The store's wake channel: scripts PUBLISH a lock's name here when they grant a waiter of it. */
  readonly channel: string;
  #handlers: WakeHandlers | undefined;
  #detach: (() => void) | undefined;
  /**
   * This process's queued entries (id → lock name): a wake-up names the entries it granted, and only
   * a process that owns one of them needs to look (the others would spend a round trip for nothing).
   */
  readonly #queued = new Map<string, string>();

  /** Longest time close() waits for commands in flight (the store's commandTimeout). */
  readonly #closeWaitMs: number;

  constructor(client: unknown, prefix: string, closeWaitMs = 0) {
    this.connection = new RedisConnection(client);
    this.prefix = prefix;
    this.#closeWaitMs = closeWaitMs;
    this.channel = `${prefix}:wake`;
  }

  /** The six keys of lock `name`, all under the hash tag `{prefix:name}`. */
  keys(name: string): string[] {
    return lockKeys(this.prefix, name);
  }

  subscribe(handlers: WakeHandlers): void {
    this.#handlers = handlers;
    const offLost = this.connection.onLost((error) => handlers.onDown(error));
    // Messages published while the subscriber was away are lost: wake every waiter to look again.
    const offBack = this.connection.onResubscribed(() => {
      for (const name of new Set(this.#queued.values())) handlers.onWake(name);
    });
    this.#detach = () => {
      offLost();
      offBack();
    };
  }

  async ready(): Promise<void> {
    await this.connection.load(ALL_SCRIPTS);
    const handlers = this.#handlers;
    await this.connection.subscribe(this.channel, (message) => {
      const cut = message.indexOf("\n");
      if (cut < 0) return void handlers?.onWake(message);
      const name = message.slice(cut + 1);
      for (const id of message.slice(0, cut).split(" ")) {
        if (this.#queued.get(id) === name) return void handlers?.onWake(name);
      }
    });
  }

  #acquire(request: AcquireRequest, queuedId: bigint | undefined, tryOnly: boolean): Promise<Reply> {
    return this.connection.eval(ACQUIRE, this.keys(request.name), [
      request.kind,
      String(request.capacity),
      request.initial === null ? "0" : "1",
      request.initial ?? "",
      String(request.permits),
      request.exclusive ? "1" : "0",
      String(Math.ceil(request.ttl)),
      String(Math.ceil(request.queueTtl)),
      request.clientId,
      queuedId === undefined ? "" : String(queuedId),
      tryOnly ? "1" : "0",
      this.channel,
      request.name,
    ]);
  }

  async acquire(request: AcquireRequest, queuedId: bigint | undefined): Promise<AcquireResult> {
    const result = decode(await this.#acquire(request, queuedId, false)) as AcquireResult;
    if (queuedId !== undefined) this.#queued.delete(String(queuedId));
    if (result.status === "queued") this.#queued.set(String(result.id), request.name);
    return result;
  }

  async tryAcquire(request: AcquireRequest): Promise<TryAcquireResult> {
    return decode(await this.#acquire(request, undefined, true)) as TryAcquireResult;
  }

  async commit(lease: LeaseRef, value: JsonText): Promise<boolean> {
    const reply = await this.connection.eval(COMMIT, this.keys(lease.name), [
      String(lease.id),
      String(lease.token),
      value,
    ]);
    return Number(reply) === 1;
  }

  async release(lease: LeaseRef, value: JsonText | undefined): Promise<boolean> {
    const reply = await this.connection.eval(RELEASE, this.keys(lease.name), [
      String(lease.id),
      String(lease.token),
      value === undefined ? "0" : "1",
      value ?? "",
      this.channel,
      lease.name,
    ]);
    return Number(reply) === 1;
  }

  async extend(lease: LeaseRef, ttl: number): Promise<boolean> {
    const reply = await this.connection.eval(EXTEND, this.keys(lease.name), [
      String(lease.id),
      String(lease.token),
      String(Math.ceil(ttl)),
    ]);
    return Number(reply) === 1;
  }

  async leave(name: string, id: bigint): Promise<void> {
    this.#queued.delete(String(id));
    await this.connection.eval(LEAVE, this.keys(name), [String(id), this.channel, name]);
  }

  async close(): Promise<void> {
    this.#detach?.();
    // The core has just sent the releases of its guards (a lost guard's release is not awaited): let
    // those commands finish while the client is still ours to use.
    await this.connection.close(this.#closeWaitMs);
  }
}

function decode(reply: Reply): AcquireResult | TryAcquireResult {
  const r = reply as Reply[];
  switch (r[0]) {
    case "granted":
      return {
        status: "granted",
        id: BigInt(String(r[1])),
        token: BigInt(String(r[2])),
        value: r[3] == null ? null : String(r[3]),
      };
    case "queued":
      return { status: "queued", id: BigInt(String(r[1])), waitMs: Number(r[2]) };
    case "busy":
      return { status: "busy" };
    case "mismatch":
      return { status: "mismatch", kind: String(r[1]) as LockKind, capacity: Number(r[2]) };
    default:
      throw new Error(`lockbox/redis: unexpected reply from the acquire script: ${JSON.stringify(reply)}`);
  }
}
