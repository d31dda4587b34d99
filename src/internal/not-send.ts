/**
 * In-process primitives are not `Send`: copying one into another thread would silently split it in
 * two (the copy would guard nothing). The structured-clone algorithm (`structuredClone`,
 * `postMessage`, `workerData`) serializes an object's own enumerable string-keyed properties and throws
 * `DataCloneError` on a symbol value, so one such property makes every clone attempt fail loudly,
 * with this symbol's description as the message.
 */
const NOT_SEND: unique symbol = Symbol(
  "lockbox: in-process primitives and guards cannot cross threads; use lockbox/threads",
);

/** The property that carries the marker: visible, but named to explain itself. */
export const NOT_SEND_KEY = "lockbox:notSend";

/** Marks `target` as not structured-cloneable. Call in the constructor, before other fields are added. */
export function markNotSend(target: object): void {
  (target as Record<string, unknown>)[NOT_SEND_KEY] = NOT_SEND;
}
