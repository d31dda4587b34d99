/**
 * The subset of `Atomics` the raw shared-memory algorithms use, as an interface, so that the same
 * algorithm code runs against the real `Atomics` in production and against a scheduling stand-in in
 * the model checker (test/threads/model), where every call is a preemption point.
 *
 * Rule for every raw algorithm: all access to shared memory goes through an `AtomicsLike`; between
 * two calls the code is deterministic and touches only its own locals. That lets the model checker
 * suspend a simulated thread at any call and re-execute it later from its recorded prefix.
 */
export interface AtomicsLike {
  load(array: Int32Array, index: number): number;
  store(array: Int32Array, index: number, value: number): number;
  compareExchange(array: Int32Array, index: number, expected: number, replacement: number): number;
  exchange(array: Int32Array, index: number, value: number): number;
  add(array: Int32Array, index: number, value: number): number;
  sub(array: Int32Array, index: number, value: number): number;
  and(array: Int32Array, index: number, value: number): number;
  or(array: Int32Array, index: number, value: number): number;
  wait(array: Int32Array, index: number, value: number, timeout?: number): "ok" | "not-equal" | "timed-out";
  notify(array: Int32Array, index: number, count?: number): number;
}

/** The real thing. */
export const realAtomics: AtomicsLike = Atomics as unknown as AtomicsLike;
