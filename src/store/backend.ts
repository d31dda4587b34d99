/**
 * The contract between the backend-neutral store core (`src/store/`) and a backend (`src/postgres/`,
 * `src/redis/`). A backend turns each operation below into ONE round trip (one SQL statement or
 * server-side function call, one Lua script) and keeps all ordering decisions in the store; the core
 * does everything else (guards, renewal timers, local deadlines, signals, waiting, cancel safety,
 * argument checks, JSON).
 *
 * ## The model every backend stores
 *
 * Every name has one **lock record** and a list of **entries**:
 *
 * - lock record: `kind` ({@link LockKind}, set by the first acquire of the name), `capacity` (permits;
 *   also set by the first acquire), `value` (JSON text or `null`, set to the request's `initial` by the
 *   first acquire), `seq` (a counter, never reset, that hands out entry ids AND fencing tokens), and
 *   `token` (the token of the last exclusive grant, `0` before the first).
 * - entry: `id` (from `seq`, so ids are strictly increasing per name), `permits`, `exclusive`, `ttl`,
 *   `granted` (a grant or a queued waiter), `expiresAt` (SERVER time: a backend never compares client
 *   clocks; the client's monotonic deadline is the core's business).
 *
 * An entry whose `expiresAt` has passed is dead: every operation on a name first deletes (or ignores)
 * the dead entries of that name. A grant's lease is `ttl` (the request's); a queued waiter's entry lives
 * for the store's queue ttl and is refreshed by each acquire call that passes its id, so a waiter whose
 * process died leaves the queue when its own short lease ends.
 *
 * ## Granting (FIFO, in the store)
 *
 * Live entries are ordered by id. A grant pass walks the un-granted live entries in id order and grants
 * each one while it fits, and STOPS at the first one that does not fit (so a large request or a queued
 * writer at the head blocks every later request, and consecutive readers at the head are admitted
 * together). An entry fits when: exclusive — no other granted live entry exists; shared — no granted
 * exclusive entry exists and the granted permits plus its own are at most `capacity`. Granting sets
 * `granted`, `expiresAt = now + entry.ttl` and, for an exclusive entry, `token = seq = seq + 1` (the
 * fencing token: strictly larger than every earlier token of the name, across processes and restarts of
 * the store, because `seq` is stored durably and never decreases).
 *
 * A backend runs a grant pass (and then publishes a wake-up for the name if anything was granted or
 * freed) in every operation that can change what fits: acquire (after enqueueing and after deleting dead
 * entries), release, leave. Grants made on behalf of another waiter are picked up by that waiter's next
 * acquire call, which the wake-up triggers.
 *
 * @internal Shared by `lockbox/postgres` and `lockbox/redis`; not part of the public API.
 * @module
 */

/** The three kinds of lock a name can be opened as; a name keeps the kind of its first acquire. */
export type LockKind = "mutex" | "rwlock" | "semaphore";

/** Capacity stored for an RwLock: readers are unlimited in practice; a writer is exclusive. */
export const RWLOCK_CAPACITY = 2_147_483_647;

/**
 * JSON text as stored: the result of `JSON.stringify` of a value the user wrote. Backends store and
 * return it verbatim; only the core parses and serializes. `null` means "no value" (semaphores).
 */
export type JsonText = string;

/** One acquire request, as the core sends it to the backend. */
export interface AcquireRequest {
  /** The lock's name (the core has checked it: a non-empty string of at most 200 UTF-8 bytes). */
  readonly name: string;
  /** The kind the caller opened the name as. A stored record of another kind: {@link AcquireMismatch}. */
  readonly kind: LockKind;
  /**
   * Permits of the lock: mutex `1`, rwlock {@link RWLOCK_CAPACITY}, semaphore its permit count. Stored
   * only when the record is created (the first acquire of the name in any process wins); later requests
   * use the stored capacity.
   */
  readonly capacity: number;
  /** JSON text stored as the value when the record is created; `null` for semaphores. */
  readonly initial: JsonText | null;
  /** Permits this grant takes (1 for mutex and reads, n for a semaphore; ignored when `exclusive`). */
  readonly permits: number;
  /**
   * Exclusive grants (mutex, rwlock write) wait until no other grant is live, take the whole lock and
   * get a new fencing token. Shared grants (rwlock read, semaphore permits) carry the current `token`.
   */
  readonly exclusive: boolean;
  /** Lease length of the grant in ms (server time). */
  readonly ttl: number;
  /** Lease length of a queued waiter's entry in ms (the store's ttl); refreshed by every acquire call. */
  readonly queueTtl: number;
  /** Who asks (the store's `clientId`): informational, stored with the entry for operators. */
  readonly clientId: string;
}

/** The lock is held: the grant's entry id (its lease), the fencing token, and the stored value. */
export interface AcquireGranted {
  readonly status: "granted";
  /** The entry id, which is the lease: release, commit, extend and leave name it. */
  readonly id: bigint;
  /** Exclusive: this grant's new token. Shared: the token of the last exclusive grant (`0n` if none). */
  readonly token: bigint;
  /** The stored value as JSON text (`null` for semaphores). */
  readonly value: JsonText | null;
  /**
   * Optional: ms left on the lease (server time) when it is shorter than the request's `ttl`, which
   * happens when a waiter picks up a grant made earlier on its behalf without renewing it (a read, so
   * no write is needed). The core then counts its local deadline from this instead of the ttl.
   */
  readonly leaseMs?: number | undefined;
}

/** The request waits in the store's queue (acquire only, never tryAcquire). */
export interface AcquireQueued {
  readonly status: "queued";
  /** The waiter's entry id: pass it to the next acquire call (which refreshes the entry) or to leave. */
  readonly id: bigint;
  /**
   * Milliseconds (server time) until the earliest lease that blocks this waiter expires (a grant, or a
   * waiter ahead of it); the core sleeps at most this long (plus a margin) when no wake-up comes.
   */
  readonly waitMs: number;
}

/** tryAcquire found the lock unavailable (held, or waiters queued): nothing was stored. */
export interface AcquireBusy {
  readonly status: "busy";
}

/**
 * The name is stored as another kind, or asks for more permits than its stored capacity. Nothing was
 * stored. The core throws `TypeError` (kind) or `RangeError` (permits).
 */
export interface AcquireMismatch {
  readonly status: "mismatch";
  /** The stored kind. */
  readonly kind: LockKind;
  /** The stored capacity. */
  readonly capacity: number;
}

/** What {@link StoreBackend.acquire} resolves with. */
export type AcquireResult = AcquireGranted | AcquireQueued | AcquireMismatch;
/** What {@link StoreBackend.tryAcquire} resolves with. */
export type TryAcquireResult = AcquireGranted | AcquireBusy | AcquireMismatch;

/** Names one grant: the lock, the lease (entry id) and the fencing token it was granted with. */
export interface LeaseRef {
  readonly name: string;
  readonly id: bigint;
  readonly token: bigint;
  /** Whether the grant is exclusive (only exclusive grants may write the value). */
  readonly exclusive: boolean;
}

/** Where a backend reports store-wide events; set once by the core before `ready()`. */
export interface WakeHandlers {
  /**
   * Something changed for `name` (released, left, granted on someone's behalf): local waiters on that
   * name should call acquire again. Spurious wake-ups are harmless; missing ones are covered by
   * {@link AcquireQueued.waitMs}.
   */
  onWake(name: string): void;
  /**
   * The wake-up channel (PostgreSQL's LISTEN connection; Redis's client or subscriber connection) was
   * lost: the core aborts every guard of the store. The backend may reconnect on its own; waiters fall
   * back to lease-expiry wake-ups meanwhile.
   */
  onDown(error: Error): void;
}

/**
 * A store backend. Every method is one round trip (except `ready` and `close`), must not keep state
 * that the store does not also have (a process may die at any point), and rejects with the driver's
 * own error: the core wraps it in `BackendError` with the operation and bounds every call by its
 * `commandTimeout` (a backend should also pass that bound to its driver when the driver supports one,
 * so that a stuck connection is dropped rather than reused).
 */
export interface StoreBackend {
  /**
   * Creates what the store needs (tables, functions, scripts) when missing, and starts the wake-up
   * subscription. Idempotent, and safe when many processes call it at once.
   */
  ready(): Promise<void>;

  /**
   * Acquire-or-enqueue, in one round trip and atomically: create the lock record if missing (kind,
   * capacity, initial); refuse a kind or capacity mismatch; delete dead entries; when `queuedId` is
   * given and still live, refresh that entry (`expiresAt = now + queueTtl`, or for a grant made on its
   * behalf, `now + ttl`) and use it; when it is given but gone (its lease ran out), enqueue anew; when
   * absent, enqueue a new entry (id = ++seq); run a grant pass; answer `granted` (with the value) when
   * the entry is granted, else `queued` with the wait bound. An uncontended acquire is therefore one
   * statement, granted immediately.
   */
  acquire(request: AcquireRequest, queuedId: bigint | undefined): Promise<AcquireResult>;

  /**
   * Try-acquire: like acquire, but never enqueues and never jumps live waiters: granted only when no
   * live un-granted entry exists and the request fits now; otherwise `busy`, with nothing stored
   * (except creating the lock record when missing).
   */
  tryAcquire(request: AcquireRequest): Promise<TryAcquireResult>;

  /**
   * Writes `value` when the lease is still held (entry live and granted, exclusive, record token equal
   * to `lease.token`), keeping the lock. Resolves `true` when written, `false` when not held (nothing
   * written).
   */
  commit(lease: LeaseRef, value: JsonText): Promise<boolean>;

  /**
   * Releases the lease (deletes its entry, runs a grant pass, publishes a wake-up), first writing
   * `value` when given, both only when the lease is still held (conditioned on the entry and token as in
   * `commit`). Resolves `true` when it was held (and released), `false` when it was not (nothing written).
   */
  release(lease: LeaseRef, value: JsonText | undefined): Promise<boolean>;

  /** Renews a held lease to `now + ttl` (server time). `true` when held, `false` when not (no change). */
  extend(lease: LeaseRef, ttl: number): Promise<boolean>;

  /**
   * Removes a waiter's entry, queued or granted: a grant made on its behalf that raced with the abort is
   * released here (grant pass and wake-up), never left held. Idempotent.
   */
  leave(name: string, id: bigint): Promise<void>;

  /**
   * Optional (PostgreSQL): runs `fn(client)` in a transaction on one connection that first checks,
   * inside the transaction, that the lease is held with its token, and locks the lock record so that no
   * new holder can be granted before the transaction ends. Resolves `{ held: false }` (rolled back,
   * `fn` not called) when the lease is not held; rethrows what `fn` throws (rolled back).
   */
  transaction?<R>(
    lease: LeaseRef,
    fn: (client: unknown) => Promise<R>,
  ): Promise<{ held: true; result: R } | { held: false }>;

  /** Sets where wake-ups and connection loss are reported (called once, before `ready`). */
  subscribe(handlers: WakeHandlers): void;

  /**
   * Stops the wake-up subscription and returns the connections the backend opened itself; never ends
   * connections the user passed in. Idempotent.
   */
  close(): Promise<void>;
}
