/**
 * `Symbol.dispose`, or the registered symbol that TypeScript's and esbuild's `using` helpers fall back
 * to on runtimes that do not define it yet (older browsers). Guards are disposable on both.
 */
export const dispose: typeof Symbol.dispose =
  (Symbol as { dispose?: typeof Symbol.dispose }).dispose ?? (Symbol.for("Symbol.dispose") as typeof Symbol.dispose);

/** Passed by a lock to its guard's constructor: guards cannot be forged from outside. */
export const GUARD_TOKEN: unique symbol = Symbol("lockbox.guard");

/** Throws the `TypeError` a guard constructor gives when called from outside lockbox. */
export function illegalConstructor(name: string): never {
  throw new TypeError(`${name} cannot be constructed directly; acquire it from its lock`);
}
