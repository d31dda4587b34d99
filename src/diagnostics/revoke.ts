/**
 * `revokeOnRelease`: a guard's object `value` is handed out through a revocable view, deep (nested
 * plain objects, arrays, `Map`s, `Set`s), so that a reference kept after `release()` throws
 * `UseAfterReleaseError` when used instead of silently reading or writing unprotected data.
 *
 * - One view per (guard, object): identity is stable while the guard is held (`g.value === g.value`,
 *   `g.value.items === g.value.items`).
 * - Views never reach the underlying value: what is stored through a view is the raw object
 *   (`unwrap`), so the protected value never contains views of itself.
 * - After release every trap throws before touching the target: the value is unchanged.
 * - Class instances (other than `Map`/`Set`) are handed out as they are: their methods and `#private`
 *   fields do not work through a proxy.
 *
 * The view is installed as an own `value` accessor on the guard object, so the core's guard classes
 * do not change and pay nothing when diagnostics are off.
 *
 * @internal
 */

import { UseAfterReleaseError } from "../errors.js";

/** The views handed out by one guard, and whether that guard still holds. */
export class Revocation {
  live = true;
  readonly #views = new WeakMap<object, object>();
  readonly #what: string;

  constructor(what: string) {
    this.#what = what;
  }

  check(): void {
    if (!this.live) {
      throw new UseAfterReleaseError(
        `Cannot use a value of ${this.#what} after its guard was released (revokeOnRelease: a reference kept past release())`,
      );
    }
  }

  view(value: unknown): unknown {
    if (typeof value !== "object" || value === null) return value;
    const raw = rawOf.get(value) ?? value;
    if (!viewable(raw)) return raw;
    let view = this.#views.get(raw);
    if (view === undefined) {
      view = makeView(raw, this);
      this.#views.set(raw, view);
      rawOf.set(view, raw);
    }
    return view;
  }
}

/** View → the object it shows. */
const rawOf = new WeakMap<object, object>();

/**
 * What to store when `value` goes into the protected value: a view becomes its raw object, and a new
 * object built from views (`{ ...guard.value }`, `[view]`) has the views inside it replaced by their
 * raw objects, in place. Raw objects already in the protected value never contain views (this
 * function is the only way in), so only new objects are walked.
 */
export function unwrap<T>(value: T, seen?: Set<object>): T {
  if (typeof value !== "object" || value === null) return value;
  const raw = rawOf.get(value);
  if (raw !== undefined) return raw as T;
  if (!viewable(value)) return value;
  const visited = seen ?? new Set<object>();
  if (visited.has(value)) return value;
  visited.add(value);
  if (value instanceof Map) {
    for (const [k, v] of [...value]) {
      const k2 = unwrap(k, visited);
      const v2 = unwrap(v, visited);
      if (k2 !== k) value.delete(k);
      if (k2 !== k || v2 !== v) value.set(k2, v2);
    }
  } else if (value instanceof Set) {
    for (const v of [...value]) {
      const v2 = unwrap(v, visited);
      if (v2 !== v) {
        value.delete(v);
        value.add(v2);
      }
    }
  } else {
    const record = value as Record<PropertyKey, unknown>;
    for (const key of Reflect.ownKeys(record)) {
      const descriptor = Reflect.getOwnPropertyDescriptor(record, key);
      if (descriptor === undefined || !("value" in descriptor)) continue;
      const v2 = unwrap(descriptor.value, visited);
      if (v2 !== descriptor.value && descriptor.writable === true) record[key] = v2;
    }
  }
  return value;
}

function viewable(value: object): boolean {
  if (Array.isArray(value)) return true;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null || proto === Map.prototype || proto === Set.prototype;
}

function makeView(raw: object, rev: Revocation): object {
  if (raw instanceof Map) return collectionView(raw, rev, true);
  if (raw instanceof Set) return collectionView(raw, rev, false);
  return new Proxy(raw, {
    get(target, property) {
      rev.check();
      return rev.view(Reflect.get(target, property, target));
    },
    set(target, property, value) {
      rev.check();
      return Reflect.set(target, property, unwrap(value), target);
    },
    has(target, property) {
      rev.check();
      return Reflect.has(target, property);
    },
    ownKeys(target) {
      rev.check();
      return Reflect.ownKeys(target);
    },
    getOwnPropertyDescriptor(target, property) {
      rev.check();
      return Reflect.getOwnPropertyDescriptor(target, property);
    },
    defineProperty(target, property, descriptor) {
      rev.check();
      if ("value" in descriptor) descriptor = { ...descriptor, value: unwrap(descriptor.value) };
      return Reflect.defineProperty(target, property, descriptor);
    },
    deleteProperty(target, property) {
      rev.check();
      return Reflect.deleteProperty(target, property);
    },
    getPrototypeOf(target) {
      rev.check();
      return Reflect.getPrototypeOf(target);
    },
    setPrototypeOf(target, proto) {
      rev.check();
      return Reflect.setPrototypeOf(target, proto);
    },
    preventExtensions(target) {
      rev.check();
      return Reflect.preventExtensions(target);
    },
    isExtensible(target) {
      rev.check();
      return Reflect.isExtensible(target);
    },
  });
}

/** A `Map` or `Set` view: its methods run on the raw collection, and what they hand out is viewed. */
function collectionView(raw: Map<unknown, unknown> | Set<unknown>, rev: Revocation, isMap: boolean): object {
  const methods = new Map<PropertyKey, unknown>();
  let self: object;
  const wrapIterator = (inner: Iterator<unknown>, map: (item: unknown) => unknown): IterableIterator<unknown> => ({
    next() {
      rev.check();
      const step = inner.next();
      return step.done ? step : { done: false, value: map(step.value) };
    },
    [Symbol.iterator]() {
      return this;
    },
  });
  const v = (x: unknown): unknown => rev.view(x);
  const pair = (entry: unknown): unknown => {
    const [a, b] = entry as [unknown, unknown];
    return [v(a), v(b)];
  };
  // Every method checks the revocation first, before it touches the collection.
  const live =
    <A extends unknown[], R>(fn: (...args: A) => R) =>
    (...args: A): R => {
      rev.check();
      return fn(...args);
    };
  const make = (name: PropertyKey): unknown => {
    const m = raw as Map<unknown, unknown>;
    const s = raw as Set<unknown>;
    switch (name) {
      case "get":
        return live((key: unknown) => v(m.get(unwrap(key))));
      case "set":
        return live((key: unknown, value: unknown) => {
          m.set(unwrap(key), unwrap(value));
          return self;
        });
      case "add":
        return live((value: unknown) => {
          s.add(unwrap(value));
          return self;
        });
      case "has":
        return live((key: unknown) => raw.has(unwrap(key)));
      case "delete":
        return live((key: unknown) => raw.delete(unwrap(key)));
      case "clear":
        return live(() => raw.clear());
      case "forEach":
        return (fn: (a: unknown, b: unknown, c: unknown) => void, thisArg?: unknown) => {
          rev.check();
          raw.forEach((value: unknown, key: unknown) => {
            fn.call(thisArg, v(value), v(key), self);
          });
        };
      case "keys":
        return live(() => wrapIterator(raw.keys(), v));
      case "values":
        return live(() => wrapIterator(raw.values(), v));
      case "entries":
        return live(() => wrapIterator(raw.entries(), pair));
      case Symbol.iterator:
        return live(() => wrapIterator(raw[Symbol.iterator](), isMap ? pair : v));
      default:
        return undefined;
    }
  };
  self = new Proxy(raw, {
    get(target, property) {
      rev.check();
      if (property === "size") return target.size;
      let method = methods.get(property);
      if (method === undefined) {
        method = make(property);
        if (method !== undefined) methods.set(property, method);
      }
      return method ?? Reflect.get(target, property, target);
    },
    set(target, property, value) {
      rev.check();
      return Reflect.set(target, property, value, target);
    },
    has(target, property) {
      rev.check();
      return Reflect.has(target, property);
    },
    ownKeys(target) {
      rev.check();
      return Reflect.ownKeys(target);
    },
    getOwnPropertyDescriptor(target, property) {
      rev.check();
      return Reflect.getOwnPropertyDescriptor(target, property);
    },
    getPrototypeOf(target) {
      rev.check();
      return Reflect.getPrototypeOf(target);
    },
  });
  return self;
}

const accessors = new Map<object, PropertyDescriptor | undefined>();

/** The `value` accessor of a guard's class (found once per class). */
function valueAccessor(guard: object): PropertyDescriptor | undefined {
  const proto = Object.getPrototypeOf(guard) as object;
  if (accessors.has(proto)) return accessors.get(proto);
  let found: PropertyDescriptor | undefined;
  for (let p: object | null = proto; p !== null && found === undefined; p = Object.getPrototypeOf(p)) {
    found = Object.getOwnPropertyDescriptor(p, "value");
  }
  const accessor = found?.get === undefined ? undefined : found;
  accessors.set(proto, accessor);
  return accessor;
}

/**
 * Makes `guard.value` hand out views revoked by `rev`. Assigning `guard.value` (write guards) stores
 * the raw value.
 */
export function installView(guard: object, rev: Revocation): void {
  const accessor = valueAccessor(guard);
  if (accessor === undefined) return;
  const get = accessor.get as () => unknown;
  const set = accessor.set;
  Object.defineProperty(guard, "value", {
    configurable: true,
    enumerable: false,
    get(this: object) {
      return rev.view(get.call(this));
    },
    set:
      set === undefined
        ? undefined
        : function (this: object, value: unknown) {
            set.call(this, unwrap(value));
          },
  });
}
