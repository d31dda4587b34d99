/**
 * Keeps the event loop alive while async waiters are parked: a pending `Atomics.waitAsync` keeps
 * neither the Node process nor a worker alive, so without this a program whose only pending work is
 * `await mutex.lock()` would exit (with code 13, "unsettled top-level await") before the lock came.
 *
 * One ref'd interval per thread, created when the first waiter parks and cleared when the last one
 * leaves; its callback never runs in practice (the period is ~12 days).
 *
 * @internal
 */

let parked = 0;
let timer: ReturnType<typeof setInterval> | undefined;

/** Called before a `waitAsync` is awaited. Pair with {@link release}. */
export function hold(): void {
  if (parked++ === 0) timer = setInterval(noop, 2 ** 30);
}

/** Called when that wait settles or is abandoned. */
export function release(): void {
  if (--parked === 0 && timer !== undefined) {
    clearInterval(timer);
    timer = undefined;
  }
}

/** Number of async waiters parked in this thread (for tests). */
export function parkedWaiters(): number {
  return parked;
}

function noop(): void {}
