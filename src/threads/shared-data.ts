/**
 * The seam between the threads locks (which own data) and the shared-data layouts (which describe
 * it). A lock asks `bindData(data)` once; its guards then call `open` on acquire, `replace` for
 * `guard.value = x`, and `close` on release.
 *
 * OWNED BY THE SHARED-DATA WORK (struct / json / typed arrays). The signatures below are the contract
 * the locks build on; the bodies are placeholders until that work lands.
 */

/** Structured-clone-safe description of a lock's data, carried inside the lock's handle. */
export type DataHandle = unknown;

/** How a guard reaches a lock's data. */
export interface DataBinding<V> {
  /** On acquire: the value the guard exposes (the view itself, or a decoded JSON value). */
  open(): V;
  /** On `guard.value = next`: store `next` and return what `value` shows from now on. */
  replace(next: V): V;
  /** On release, with what `value` showed last: JSON writes back here (RangeError past maxBytes, value unchanged). */
  close(current: V): void;
}

/** What `guard.value` is for a lock that owns `T` (a JSON cell shows its decoded value). */
export type GuardValue<T> = T;

/** Checks that `data` can be shared (TypeError otherwise) and returns its binding. */
export function bindData<T>(data: T): DataBinding<GuardValue<T>> {
  return {
    open: () => data as GuardValue<T>,
    replace: (next) => next,
    close: () => {},
  };
}

/** The handle that lets another thread rebuild `data`. */
export function dataHandle(data: unknown): DataHandle {
  return data;
}

/** Rebuilds data from {@link dataHandle}'s result, in any thread. */
export function dataFromHandle(handle: DataHandle): unknown {
  return handle;
}
