/**
 * The worker behind the contract suites' "threads, blocking" scope (test/contract/actors.ts): one
 * worker is one actor. It keeps a table of objects by key (primitives rebuilt with `X.from(handle)`,
 * and the guards, permits and values its calls returned) and answers each request
 * `{ id, op, key, ... }` with `{ id, ok: true, value }` or `{ id, ok: false, name, message }`.
 * Waiting methods run as their blocking twins (`read` → `readSync`, …), so the worker is blocked
 * while it waits, as a thread using the blocking API is.
 */
import { parentPort } from "node:worker_threads";
import { Barrier, Condvar, Mutex, OnceLock, RwLock, Semaphore } from "../../src/threads/index.js";
import { build, isRecipe, type Recipe } from "../contract/recipes.js";

type Request = { id: number; op: string; key: number } & Record<string, unknown>;

const port = parentPort!;
const table = new Map<number, unknown>();
const classes: Record<string, { from(received: unknown): unknown }> = {
  Barrier,
  Condvar,
  Mutex,
  OnceLock,
  RwLock,
  Semaphore,
};

/** Methods that wait, and so run as their `*Sync` twin here. */
const BLOCKING = new Set([
  "lock",
  "read",
  "write",
  "upgradableRead",
  "upgrade",
  "acquire",
  "wait",
  "waitTimeout",
  "waitWhile",
  "getOrInit",
  "withLock",
  "withRead",
  "withWrite",
  "withPermit",
]);

function decode(arg: unknown): unknown {
  if (typeof arg === "object" && arg !== null && "$ref" in arg) {
    const key = (arg as { $ref: number }).$ref;
    if (!table.has(key)) throw new Error(`contract fixture: no object under key ${key}`);
    return table.get(key);
  }
  if (isRecipe(arg)) return build(arg as Recipe, true);
  return arg;
}

/** Keeps an object result (a guard, permit, …) under `keep`; a `{ guard, … }` result keeps its guard. */
function encode(result: unknown, keep: number): unknown {
  if (typeof result === "object" && result !== null && !ArrayBuffer.isView(result)) {
    if (typeof (result as { release?: unknown }).release === "function") {
      table.set(keep, result);
      return { $ref: keep };
    }
    if ("guard" in result) {
      const { guard, ...rest } = result as { guard: unknown };
      table.set(keep, guard);
      return { ...rest, guard: { $ref: keep } };
    }
  }
  return result;
}

const ops: Record<string, (r: Request) => unknown> = {
  adopt(r) {
    table.set(r.key, classes[r.kind as string]!.from(r.handle));
  },
  call(r) {
    const target = table.get(r.key) as Record<string, (...args: unknown[]) => unknown>;
    const name = r.method as string;
    const method = BLOCKING.has(name) ? `${name}Sync` : name;
    if (typeof target[method] !== "function") throw new TypeError(`contract fixture: no method ${method}`);
    // Tell the test the call is under way: a blocking call may not answer for a while, and the test
    // must know it has started (and so is about to park) before it counts it as pending.
    port.postMessage({ id: r.id, started: true });
    const result = target[method]!(...(r.args as unknown[]).map(decode));
    return encode(result, r.keep as number);
  },
  get(r) {
    return (table.get(r.key) as { value: Int32Array }).value[0];
  },
  set(r) {
    (table.get(r.key) as { value: Int32Array }).value[0] = r.to as number;
  },
  prop(r) {
    return (table.get(r.key) as Record<string, unknown>)[r.name as string];
  },
  drop() {
    table.clear();
  },
};

port.on("message", (r: Request) => {
  try {
    const value = ops[r.op]!(r);
    port.postMessage({ id: r.id, ok: true, value });
  } catch (error) {
    const e = error as Error;
    port.postMessage({ id: r.id, ok: false, name: e?.name, message: e?.message ?? String(error) });
  }
});
port.postMessage({ ready: true });
