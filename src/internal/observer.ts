/**
 * The one observer slot of the core (ARCHITECTURE.md, "Diagnostics and the explorer"): the primitives
 * know nothing about deadlock graphs, statistics, traces or schedulers; they call an observer when one
 * is installed, and `lockbox/diagnostics` and `lockbox/testing` install theirs.
 *
 * **Cost when off.** `observer` is `undefined` unless something is installed. Every acquire path checks
 * it once (`if (observer !== undefined)`), a module-level load and compare; guard releases check it
 * once too. Nothing else is paid: no allocation, no closure, no stack capture.
 *
 * **Contract** (what a primitive promises an observer):
 *
 * 1. Every *asynchronous* operation (`Mutex.lock`/`withLock`, `RwLock.read`/`write`/`upgradableRead`/
 *    `withRead`/`withWrite`, `RwLockUpgradableReadGuard.upgrade`, `Semaphore.acquire`/`withPermit`,
 *    `Notify.notified`, `Condvar.wait`/`waitWhile`/`waitTimeout`, `Barrier.wait`, `OnceCell.getOrInit`,
 *    `KeyedMutex.lock`/`withLock`/`lockMany`) calls {@link Observer.around} *instead of* doing its work,
 *    and returns what `around` returns. `run(options)` performs the real operation with `options` (the
 *    observer may pass rewritten options, e.g. a `signal` of its own in place of `timeout`); the
 *    observer may await before calling `run` (a scheduling point), and must call `run` at most once.
 *    `run` validates its options itself, as the unobserved call would. A `with*` form calls `around`
 *    once for itself, and its inner acquire calls `around` again (op `lock`, `read`, …) inside it.
 * 2. Every *synchronous* operation (`release` excepted, see 4; try-acquires, `notifyOne`, `addPermits`,
 *    `borrow`, `Cell.get`/`set`, …) calls {@link Observer.sync} with the primitive and the op name,
 *    before it takes effect.
 * 3. Every guard (or permit, borrow, key set) that comes into existence is announced by
 *    {@link Observer.acquired}, synchronously, at the moment the hold begins: in the acquiring task for
 *    a fast path or a try-acquire, in the releasing task for a waiter granted by a release.
 * 4. Every hold that ends is announced by {@link Observer.released} with the same guard object, once,
 *    when `release()` (or `[Symbol.dispose]`, or the end of a `with*` form) gives it back. A guard that
 *    becomes another (downgrade, upgrade) is announced released, and the new guard acquired.
 * 5. Every acquire that has to queue calls {@link Observer.waiting} synchronously, in the waiting task,
 *    right after it entered the queue. If `waiting` returns an error, the waiter leaves the queue at
 *    once, exactly as on abort, and the acquire rejects with that error (diagnostics' `DeadlockError`).
 *    Every such wait ends with exactly one {@link Observer.waitEnded}, synchronously, when it is
 *    granted (before the `acquired` of its guard) or given up.
 *
 * Guards acquired before an observer was installed are never announced; an observer must ignore a
 * release of a guard it never saw acquired.
 *
 * Several observers may be installed at once (diagnostics while an explorer runs): they are composed,
 * the first installed outermost.
 *
 * @internal
 */

import type { AcquireOptions } from "../types.js";
import { describe } from "./validate.js";

/** Anything an observer can see: every primitive of every scope has a read-only name. */
export interface Observable {
  readonly name: string;
}

/** Asynchronous operations, one name per public method. */
export type AsyncOp =
  | "lock"
  | "withLock"
  | "lockMany"
  | "read"
  | "write"
  | "upgradableRead"
  | "upgrade"
  | "withRead"
  | "withWrite"
  | "acquire"
  | "withPermit"
  | "notified"
  | "wait"
  | "waitWhile"
  | "waitTimeout"
  | "getOrInit";

/**
 * What kind of hold a guard is (or a waiter asks for), so that an observer can tell who holds what.
 * `event`: a wait that is not for a hold (Notify, Condvar, Barrier, OnceCell initialization).
 */
export type HoldMode = "exclusive" | "shared" | "upgradable" | "permits" | "event";

/** The observer interface. Every method is required: the core calls without further checks. */
export interface Observer {
  /**
   * Wraps one asynchronous operation. Must return what `run` returns (or a promise that settles the
   * same way, possibly later, or a rejection the observer decides on instead of calling `run`).
   *
   * @param target - the primitive.
   * @param op - the public method.
   * @param options - the caller's options, as given (not validated yet).
   * @param run - performs the operation; call it at most once.
   * @param key - `KeyedMutex`: the key (`lockMany`: the array of keys).
   */
  around<R>(
    target: Observable,
    op: AsyncOp,
    options: AcquireOptions | undefined,
    run: (options: AcquireOptions | undefined) => Promise<R>,
    key?: unknown,
  ): Promise<R>;

  /** A synchronous operation on `target` is about to take effect. */
  sync(target: Observable, op: string): void;

  /**
   * A hold began. `guard` is the object the caller receives (a guard, a permit, a borrow). `key` is
   * the `KeyedMutex` key (or array of keys).
   */
  acquired(target: Observable, guard: object, mode: HoldMode, key?: unknown): void;

  /** The hold of `guard` (announced by `acquired`) ended. */
  released(target: Observable, guard: object): void;

  /**
   * An acquire of `target` entered its queue. `permits`: how many it asks for (RwLock: 1 for a shared
   * request, more for a write or an upgrade; `mode` says which); `queued`: the queue's length, this
   * waiter included; `key`: the `KeyedMutex` key. Return an error to make this waiter leave the queue
   * and reject with it (`waitEnded` is still called). `ticket` identifies this wait in `waitEnded`.
   */
  waiting(target: Observable, mode: HoldMode, queued: number, key: unknown, ticket: object): Error | undefined;

  /**
   * The wait announced by `waiting` with this `ticket` ended: granted (`reason` undefined; for a hold,
   * `acquired` follows at once) or given up (`reason`: the abort reason, the `TimeoutError`, the
   * `ClosedError`, or the error `waiting` returned).
   */
  waitEnded(ticket: object, reason: unknown): void;
}

/**
 * The installed observer, or `undefined` (the default: nothing is paid). Read it once per path:
 * `if (observer !== undefined) …`. Assigned only by {@link installObserver}.
 */
export let observer: Observer | undefined;

/**
 * The slot is shared by every copy of this module in the realm (the ESM and the CJS build of the
 * package can both be loaded, the dual-package hazard): each copy registers its setter in one registry
 * on `globalThis`, and installing updates them all. The hot paths still read a plain module variable.
 */
interface Registry {
  installed: Observer[];
  setters: ((o: Observer | undefined) => void)[];
  /** Creation counts per kind, for `Kind#n` names (shared too, so that `n` is unique in the realm). */
  created: Map<string, number>;
}
const REGISTRY = Symbol.for("lockbox.observer");
const registry: Registry = ((globalThis as Record<symbol, Registry | undefined>)[REGISTRY] ??= {
  installed: [],
  setters: [],
  created: new Map(),
});
registry.setters.push((o) => {
  observer = o;
});
observer = compose(registry.installed);

function publish(): void {
  const composed = compose(registry.installed);
  for (const set of registry.setters) set(composed);
}

/**
 * Installs `o` (diagnostics, an explorer) and returns the function that uninstalls it. Installing the
 * same observer twice is an error; uninstalling twice does nothing.
 */
export function installObserver(o: Observer): () => void {
  const { installed } = registry;
  if (installed.includes(o)) throw new Error("lockbox: this observer is already installed");
  installed.push(o);
  publish();
  return () => {
    const i = installed.indexOf(o);
    if (i < 0) return;
    installed.splice(i, 1);
    publish();
  };
}

function compose(list: readonly Observer[]): Observer | undefined {
  if (list.length === 0) return undefined;
  if (list.length === 1) return list[0];
  const all = [...list];
  return {
    around(target, op, options, run, key) {
      // The first installed is outermost: it decides first, and its `run` is the next one's `around`.
      let next = run;
      for (let i = all.length - 1; i >= 1; i--) {
        const o = all[i] as Observer;
        const inner = next;
        next = (opts) => o.around(target, op, opts, inner, key);
      }
      return (all[0] as Observer).around(target, op, options, next, key);
    },
    sync(target, op) {
      for (const o of all) o.sync(target, op);
    },
    acquired(target, guard, mode, key) {
      for (const o of all) o.acquired(target, guard, mode, key);
    },
    released(target, guard) {
      for (const o of all) o.released(target, guard);
    },
    waiting(target, mode, queued, key, ticket) {
      // Every observer hears of the wait (each will hear it end), even after one refused it.
      let refusal: Error | undefined;
      for (const o of all) {
        const error = o.waiting(target, mode, queued, key, ticket);
        if (refusal === undefined) refusal = error;
      }
      return refusal;
    },
    waitEnded(ticket, reason) {
      for (const o of all) o.waitEnded(ticket, reason);
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// Names (always on; docs/debugging.md): `{ name?: string }` on every constructor, `Kind#n` for unnamed ones.

/**
 * The name of a new primitive of `kind`: `options.name` if given, else `Kind#n` where `n` counts the
 * primitives of that kind created so far in this realm (this one included, named or not).
 *
 * @throws TypeError when `options.name` is given and is not a string.
 */
export function nameFor(kind: string, options: { name?: string | undefined } | undefined): string {
  const { created } = registry;
  const n = (created.get(kind) ?? 0) + 1;
  created.set(kind, n);
  const name = options?.name;
  return name === undefined ? `${kind}#${n}` : checkName(name);
}

/** `name` if it is a string; else a TypeError naming the argument. */
export function checkName(name: unknown): string {
  if (typeof name !== "string") throw new TypeError(`Expected \`name\` to be a string, got ${describe(name)}`);
  return name;
}
