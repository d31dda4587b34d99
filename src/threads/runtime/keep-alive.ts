/**
 * Keeps the event loop alive while async waiters are parked: a pending `Atomics.waitAsync` keeps
 * neither the Node process nor a worker alive, so without this a program whose only pending work is
 * `await mutex.lock()` would exit (with code 13, "unsettled top-level await") before the lock came.
 *
 * One interval per thread, created when the first waiter parks and then kept: it is ref'd while any
 * waiter is parked and unref'd when the last one leaves (toggling a ref is much cheaper than creating
 * and clearing a timer on every park of a contended lock). Its callback never runs in practice (the
 * period is ~12 days). Outside Node (no `ref`/`unref`), the interval is created and cleared instead.
 *
 * @internal
 */

interface NodeTimer {
  ref(): unknown;
  unref(): unknown;
}

let parked = 0;
let timer: ReturnType<typeof setInterval> | undefined;

/** Called before a `waitAsync` is awaited. Pair with {@link release}. */
export function hold(): void {
  if (parked++ !== 0) return;
  if (timer === undefined) timer = setInterval(noop, 2 ** 30);
  else (timer as unknown as NodeTimer).ref();
}

/** Called when that wait settles or is abandoned. */
export function release(): void {
  if (--parked !== 0 || timer === undefined) return;
  const nodeTimer = timer as unknown as Partial<NodeTimer>;
  if (typeof nodeTimer.unref === "function") {
    nodeTimer.unref();
  } else {
    clearInterval(timer);
    timer = undefined;
  }
}

/** Number of async waiters parked in this thread (for tests). */
export function parkedWaiters(): number {
  return parked;
}

/** Whether the keep-alive handle currently holds the event loop open (for tests). */
export function keepsAlive(): boolean {
  const nodeTimer = timer as unknown as { hasRef?: () => boolean } | undefined;
  if (nodeTimer === undefined) return false;
  return typeof nodeTimer.hasRef === "function" ? nodeTimer.hasRef() : true;
}

/** What {@link KickablePark.park} resolves with when {@link KickablePark.kick} ended it. */
export const KICKED = "kicked";

/**
 * One competitor's park on a pending `Atomics.waitAsync` (the threads Mutex and Semaphore local queues):
 * holds the keep-alive while parked, and can be ended early by `kick()` when the queue no longer needs
 * it (the pending wait itself cannot be cancelled; its later result is ignored).
 */
export class KickablePark {
  #kick: ((outcome: typeof KICKED) => void) | undefined = undefined;

  /** Ends the current park, if there is one, with {@link KICKED}. */
  kick(): void {
    this.#kick?.(KICKED);
  }

  /** Awaits `pending` (a `waitAsync` result) or a `kick()`, whichever comes first. */
  async park(pending: Promise<"ok" | "timed-out">): Promise<"ok" | "timed-out" | typeof KICKED> {
    hold();
    try {
      return await new Promise<"ok" | "timed-out" | typeof KICKED>((resolve) => {
        this.#kick = resolve;
        pending.then(resolve);
      });
    } finally {
      this.#kick = undefined;
      release();
    }
  }
}

function noop(): void {}
