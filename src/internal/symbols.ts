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
