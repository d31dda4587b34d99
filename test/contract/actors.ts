/**
 * Scopes and actors for the contract suites (ARCHITECTURE: contract suites run against the
 * in-process, threads-async and threads-blocking implementations).
 *
 * A contract test talks to a primitive through *actors*. An actor is someone calling the API: a task
 * in this thread (in-process and threads-async scopes), or a worker thread calling the blocking twins
 * (threads-blocking: `read` runs as `readSync` in the worker, which is blocked until it returns). Every
 * call is a promise in the test, whatever the scope; objects an actor gets back (guards, permits) stay
 * with that actor and are reached through a {@link Ref}. Callbacks are named {@link Recipe}s, since a
 * function cannot be posted to a worker.
 */
import { type SpawnedWorker, spawn } from "../../src/threads/index.js";
import { type PollResult, poll } from "../helpers/poll.js";
import { build as buildRecipe, isRecipe } from "./recipes.js";

const BOOT = new URL("../workers/lock-boot.mjs", import.meta.url);

/** An error reported by a worker, rebuilt here with the same `name` and `message`. */
export class RemoteError extends Error {}

/** An object (a primitive, guard, permit) that lives with one actor. */
export interface Ref {
  readonly actor: Actor;
  /** Calls `method` with `args` (Refs and recipes are translated); object results come back as Refs. */
  // biome-ignore lint/suspicious/noExplicitAny: results are per method; the suites know their shapes
  call(method: string, ...args: unknown[]): Promise<any>;
  /** `value[0]` of a guard over an `Int32Array`. */
  get(): Promise<number>;
  /** `value[0] = to` through a guard over an `Int32Array`. */
  set(to: number): Promise<void>;
  /** A property of the object (`released`, `permits`, …). */
  prop(name: string): Promise<unknown>;
}

export interface Actor {
  readonly name: string;
  /** Makes `primitive` (created in this thread) reachable for this actor. */
  adopt(primitive: object): Ref;
}

/** The implementation under test, as the suites see it. */
export interface Scope {
  readonly name: "lockbox" | "threads-async" | "threads-blocking";
  /** `true` when actors call the blocking twins (they take `{ timeout }`, no `signal`). */
  readonly blocking: boolean;
  /** `count` distinct actors (for threads-blocking: distinct worker threads, reused between tests). */
  actors(count: number): Promise<Actor[]>;
  /**
   * Reports whether `promise` settles: in-process, after flushing microtasks (deterministic); for
   * threads, after waiting a little longer than one park poll (a pending report can only be wrong the
   * other way: a call that would settle later, never one that settled).
   */
  settle<T>(promise: Promise<T>): Promise<PollResult<T>>;
}

/**
 * Marks a call's promise as handled: a test often starts a call, acts, and only then awaits the
 * rejection it expects; the rejection must not count as unhandled in between. Awaiting it still throws.
 */
function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

// ---------------------------------------------------------------------------------------------
// Actors in this thread

class LocalRef implements Ref {
  constructor(
    readonly actor: Actor,
    readonly target: object,
  ) {}

  call(method: string, ...args: unknown[]): Promise<unknown> {
    return handled(this.#call(method, args));
  }

  async #call(method: string, args: unknown[]): Promise<unknown> {
    const fn = (this.target as Record<string, unknown>)[method];
    if (typeof fn !== "function") throw new TypeError(`${this.actor.name}: no method ${method}`);
    const decoded = args.map((arg) =>
      arg instanceof LocalRef ? arg.target : isRecipe(arg) ? buildRecipe(arg, false) : arg,
    );
    const result = await (fn as (...a: unknown[]) => unknown).apply(this.target, decoded);
    return wrapLocal(this.actor, result);
  }

  async get(): Promise<number> {
    return (this.target as { value: Int32Array }).value[0]!;
  }

  async set(to: number): Promise<void> {
    (this.target as { value: Int32Array }).value[0] = to;
  }

  async prop(name: string): Promise<unknown> {
    return (this.target as Record<string, unknown>)[name];
  }
}

function wrapLocal(actor: Actor, result: unknown): unknown {
  if (typeof result === "object" && result !== null && !ArrayBuffer.isView(result)) {
    if (typeof (result as { release?: unknown }).release === "function") return new LocalRef(actor, result);
    if ("guard" in result) {
      const r = result as { guard: object };
      return { ...r, guard: new LocalRef(actor, r.guard) };
    }
  }
  return result;
}

function localActor(name: string): Actor {
  const actor: Actor = { name, adopt: (primitive) => new LocalRef(actor, primitive) };
  return actor;
}

// ---------------------------------------------------------------------------------------------
// Actors in workers

interface Reply {
  id: number;
  started?: boolean;
  ok: boolean;
  value?: unknown;
  name?: string;
  message?: string;
  ready?: boolean;
}

class WorkerActor implements Actor {
  #nextId = 1;
  #nextKey = 1;
  readonly #pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  readonly #started = new Map<number, () => void>();
  readonly #adopted = new WeakMap<object, number>();
  readonly ready: Promise<void>;
  exited = false;

  constructor(
    readonly name: string,
    readonly worker: SpawnedWorker,
  ) {
    this.ready = new Promise<void>((resolve, reject) => {
      worker.on("message", (reply: Reply) => {
        if (reply.ready) return resolve();
        if (reply.started) {
          this.#started.get(reply.id)?.();
          this.#started.delete(reply.id);
          return;
        }
        const settle = this.#pending.get(reply.id);
        this.#pending.delete(reply.id);
        if (settle === undefined) return;
        if (reply.ok) settle.resolve(reply.value);
        else {
          const error = new RemoteError(reply.message);
          error.name = reply.name ?? "Error";
          settle.reject(error);
        }
      });
      worker.once("error", reject);
    });
    worker.on("error", () => {});
    worker.once("exit", (code) => {
      this.exited = true;
      for (const { reject } of this.#pending.values()) reject(new Error(`${name} exited (code ${code})`));
      this.#pending.clear();
    });
  }

  /**
   * Sends one request. `onStart` runs when the worker reports that it is about to run a `call` (the
   * blocking method may then wait).
   */
  request(op: string, fields: Record<string, unknown>, timeout = 10_000, onStart?: () => void): Promise<unknown> {
    if (this.exited) return Promise.reject(new Error(`${this.name} has exited`));
    const id = this.#nextId++;
    if (onStart !== undefined) this.#started.set(id, onStart);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        // A worker stuck in a blocking call cannot serve the next test: end it (a new one replaces it).
        void this.worker.terminate();
        reject(new Error(`${this.name}: ${op} ${String(fields.method ?? "")} did not return within ${timeout} ms`));
      }, timeout);
      this.#pending.set(id, {
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.worker.postMessage({ id, op, ...fields });
    });
  }

  key(): number {
    return this.#nextKey++;
  }

  adopt(primitive: object): Ref {
    let key = this.#adopted.get(primitive);
    let adopted: Promise<unknown> = Promise.resolve();
    if (key === undefined) {
      key = this.key();
      this.#adopted.set(primitive, key);
      adopted = this.request("adopt", {
        key,
        kind: primitive.constructor.name,
        handle: (primitive as { handle: unknown }).handle,
      });
    }
    return new WorkerRef(this, key, adopted);
  }
}

/** For each worker call's promise: resolves once the worker has started running the call. */
const startedCalls = new WeakMap<Promise<unknown>, Promise<unknown>>();

class WorkerRef implements Ref {
  constructor(
    readonly actor: WorkerActor,
    readonly key: number,
    readonly adopted: Promise<unknown> = Promise.resolve(),
  ) {}

  call(method: string, ...args: unknown[]): Promise<unknown> {
    let markStarted!: () => void;
    const started = new Promise<void>((resolve) => {
      markStarted = resolve;
    });
    const promise = handled(this.#call(method, args, markStarted));
    // Settled calls count as started too (an error before the worker ran it).
    startedCalls.set(
      promise,
      Promise.race([
        started,
        promise.then(
          () => {},
          () => {},
        ),
      ]),
    );
    return promise;
  }

  async #call(method: string, args: unknown[], onStart: () => void): Promise<unknown> {
    await this.adopted;
    const encoded = args.map((arg) => {
      if (arg instanceof WorkerRef) {
        if (arg.actor !== this.actor) throw new Error("contract: a worker's object cannot be used by another actor");
        return { $ref: arg.key };
      }
      if (isRecipe(arg) && "gate" in arg && arg.gate !== undefined) return { ...arg, gate: { $gate: arg.gate.$gate } };
      return arg;
    });
    const keep = this.actor.key();
    const result = await this.actor.request("call", { key: this.key, method, args: encoded, keep }, 10_000, onStart);
    if (typeof result === "object" && result !== null && !ArrayBuffer.isView(result)) {
      if ("$ref" in result) return new WorkerRef(this.actor, (result as { $ref: number }).$ref);
      if ("guard" in result) {
        const r = result as { guard: { $ref: number } };
        return { ...r, guard: new WorkerRef(this.actor, r.guard.$ref) };
      }
    }
    return result;
  }

  async get(): Promise<number> {
    return (await this.actor.request("get", { key: this.key })) as number;
  }

  async set(to: number): Promise<void> {
    await this.actor.request("set", { key: this.key, to });
  }

  async prop(name: string): Promise<unknown> {
    return this.actor.request("prop", { key: this.key, name });
  }
}

// ---------------------------------------------------------------------------------------------
// Scopes

/** How long a threads call must stay unsettled to count as pending: more than one 50 ms park poll. */
const PENDING_MS = 60;

/** Settles by flushing microtasks, then (threads) waiting {@link PENDING_MS} unless it settles first. */
async function settleWithin<T>(promise: Promise<T>, ms: number): Promise<PollResult<T>> {
  const first = await poll(promise);
  if (first.state !== "pending" || ms === 0) return first;
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    promise.catch(() => {}),
    new Promise((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  clearTimeout(timer);
  return poll(promise);
}

const localScope = (name: "lockbox" | "threads-async"): Scope => ({
  name,
  blocking: false,
  async actors(count) {
    return Array.from({ length: count }, (_, i) => localActor(`${name} task ${i}`));
  },
  // In-process waiters are woken by promises: a microtask flush is exact. Threads waiters, even in
  // this thread, are woken by Atomics.waitAsync or their 50 ms poll, which a flush does not cover.
  settle: (promise) => settleWithin(promise, name === "lockbox" ? 0 : PENDING_MS),
});

/** The in-process `lockbox` primitives, actors are tasks in this thread. */
export const inProcess: Scope = localScope("lockbox");
/** `lockbox/threads` primitives through their async methods, actors are tasks in this thread. */
export const threadsAsync: Scope = localScope("threads-async");

const pool: WorkerActor[] = [];

async function startActor(index: number): Promise<WorkerActor> {
  const worker = spawn(BOOT, { workerData: { fixture: "./contract-fixture.ts" } });
  const actor = new WorkerActor(`worker ${index}`, worker);
  await actor.ready;
  return actor;
}

/**
 * `lockbox/threads` primitives through their blocking twins, each actor a worker thread. Workers are
 * started on first use and reused by every later test in the file (call {@link stopWorkers} in
 * `afterAll`); a worker whose call timed out is replaced.
 */
export const threadsBlocking: Scope = {
  name: "threads-blocking",
  blocking: true,
  async actors(count) {
    const started: Promise<WorkerActor>[] = [];
    for (let i = 0; i < count; i++) {
      const existing = pool[i];
      if (existing === undefined || existing.exited) {
        const next = startActor(i);
        started.push(
          next.then((actor) => {
            pool[i] = actor;
            return actor;
          }),
        );
      } else {
        started.push(Promise.resolve(existing));
      }
    }
    const actors = await Promise.all(started);
    // Forget the objects of earlier tests, so their guards do not pile up.
    await Promise.all(actors.map((actor) => actor.request("drop", {})));
    return actors;
  },
  async settle(promise) {
    // Count the pending window from the moment the worker runs the call, not from when it was sent:
    // a busy machine may take a while to deliver the message.
    await startedCalls.get(promise);
    return settleWithin(promise, PENDING_MS);
  },
};

/** Terminates the workers of {@link threadsBlocking} (`afterAll`). */
export async function stopWorkers(): Promise<void> {
  await Promise.all(pool.map((actor) => actor.worker.terminate()));
  pool.length = 0;
}

/** Waits (polling every millisecond, at most `ms`) until `condition()` holds; throws otherwise. */
export async function until(
  condition: () => boolean | Promise<boolean>,
  what = "condition",
  ms = 5_000,
): Promise<void> {
  const deadline = performance.now() + ms;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`${what} did not hold within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** Asserts `promise` is still pending (see {@link Scope.settle}). */
export async function expectPending(scope: Scope, promise: Promise<unknown>, what = "call"): Promise<void> {
  const result = await scope.settle(promise);
  if (result.state !== "pending") {
    const detail = result.state === "rejected" ? `: ${String(result.reason)}` : "";
    throw new Error(`expected ${what} to be pending, but it ${result.state}${detail}`);
  }
}
