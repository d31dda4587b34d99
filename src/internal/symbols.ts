/**
 * Guards are disposable (`using guard = await lock.lock()`), so `Symbol.dispose` and
 * `Symbol.asyncDispose` must exist. Runtimes that predate them (older browsers) get the registered
 * symbols that TypeScript's and esbuild's `using` helpers already fall back to
 * (`Symbol.for("Symbol.dispose")`), so lowered `using` code and lockbox agree on the key. Runtimes that
 * have them (Node 20, current browsers) are left untouched.
 */
for (const name of ["dispose", "asyncDispose"] as const) {
  if (typeof Symbol[name] !== "symbol") {
    Object.defineProperty(Symbol, name, { value: Symbol.for(`Symbol.${name}`) });
  }
}

declare global {
  // What lib.esnext.disposable declares, for projects whose `lib` leaves it out (TypeScript 5.2+ with
  // `lib: ["es2022"]`, say): without these, lockbox's declarations (`[Symbol.dispose](): void` on every
  // guard) would not type-check there. Identical to the lib's (and @types/node's) declarations, so they
  // merge with them where present. At run time this module defines the two symbols where missing.
  interface SymbolConstructor {
    /** The method `using` calls when leaving the block. */
    readonly dispose: unique symbol;
    /** The method `await using` calls when leaving the block. */
    readonly asyncDispose: unique symbol;
  }
  interface Disposable {
    [Symbol.dispose](): void;
  }
  interface AsyncDisposable {
    [Symbol.asyncDispose](): PromiseLike<void>;
  }
}

/** `Symbol.dispose` (present once this module has run). */
export const dispose: typeof Symbol.dispose = Symbol.dispose;

/** Passed by a lock to its guard's constructor: guards cannot be forged from outside. */
export const GUARD_TOKEN: unique symbol = Symbol("lockbox.guard");

/**
 * The type of the private token a guard's constructor takes. Exported (as a type only) so that guard
 * declarations can name it; no value of this type exists outside lockbox, so guards cannot be forged.
 */
export type GuardToken = typeof GUARD_TOKEN;

/** Throws the `TypeError` a guard constructor gives when called from outside lockbox. */
export function illegalConstructor(name: string): never {
  throw new TypeError(`${name} cannot be constructed directly; acquire it from its lock`);
}

/**
 * Marks a guard class as not thenable, for speed. Resolving a promise with an object looks up the
 * object's `then` (is it a thenable to adopt?); on a guard that lookup walks the whole prototype chain
 * and misses, which cost more than the rest of an uncontended acquire. A `then: undefined` on the
 * guard's prototype ends the lookup at the first step (uncontended lock + release: 83 -> 74 ns;
 * contended: 206 -> 185 ns per acquisition). Behaviour is unchanged: `undefined` is not callable, so
 * `await lock.lock()` resolves with the guard exactly as before.
 */
export function notThenable(prototype: object): void {
  // biome-ignore lint/suspicious/noThenProperty: an explicit non-callable `then` is the point: it marks the guard as NOT thenable.
  Object.defineProperty(prototype, "then", { value: undefined });
}
