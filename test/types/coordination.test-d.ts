import { describe, expectTypeOf, it } from "vitest";
import {
  Barrier,
  type BarrierWaitResult,
  Condvar,
  type CondvarWaitTimeoutResult,
  type DeepReadonly,
  KeyedMutex,
  type KeyedMutexGuard,
  Mutex,
  type MutexGuard,
  Notify,
  OnceCell,
} from "../../src/index.js";

describe("coordination primitive typings", () => {
  it("Notify", () => {
    const notify = new Notify();
    expectTypeOf(notify.notified()).toEqualTypeOf<Promise<void>>();
    expectTypeOf(notify.notified({ signal: new AbortController().signal, timeout: 1 })).toEqualTypeOf<Promise<void>>();
    expectTypeOf(notify.notifyOne()).toEqualTypeOf<void>();
    expectTypeOf(notify.notifyWaiters()).toEqualTypeOf<void>();
    // @ts-expect-error: Notify has no ignorePoison option
    void notify.notified({ ignorePoison: true });
  });

  it("Condvar keeps the mutex's value type through every wait", async () => {
    const mutex = new Mutex({ ready: false });
    const cv = new Condvar();
    const guard = await mutex.lock();
    expectTypeOf(cv.wait(guard)).toEqualTypeOf<Promise<MutexGuard<{ ready: boolean }>>>();
    expectTypeOf(cv.waitWhile(guard, (state) => !state.ready)).toEqualTypeOf<Promise<MutexGuard<{ ready: boolean }>>>();
    expectTypeOf(cv.waitTimeout(guard, 10)).toEqualTypeOf<Promise<CondvarWaitTimeoutResult<{ ready: boolean }>>>();
    const { guard: next, timedOut } = await cv.waitTimeout(guard, 10);
    expectTypeOf(next.value).toEqualTypeOf<{ ready: boolean }>();
    expectTypeOf(timedOut).toEqualTypeOf<boolean>();
    void cv.wait(guard, { ignorePoison: true, timeout: 5 });
    // @ts-expect-error: the predicate gets the value, typed
    void cv.waitWhile(guard, (state: number) => state > 0);
    // @ts-expect-error: wait needs a MutexGuard
    void cv.wait({ value: 1 });
  });

  it("Barrier", () => {
    const barrier = new Barrier(2);
    expectTypeOf(barrier.wait()).toEqualTypeOf<Promise<BarrierWaitResult>>();
    expectTypeOf<BarrierWaitResult["isLeader"]>().toEqualTypeOf<boolean>();
    const result = {} as BarrierWaitResult;
    // @ts-expect-error: the result is read-only
    result.isLeader = true;
  });

  it("OnceCell", async () => {
    const cell = new OnceCell<number>();
    expectTypeOf(cell.get()).toEqualTypeOf<number | undefined>();
    expectTypeOf(cell.getOrInit(() => 1)).toEqualTypeOf<Promise<number>>();
    expectTypeOf(cell.getOrInit(async () => 1)).toEqualTypeOf<Promise<number>>();
    expectTypeOf(cell.set(1)).toEqualTypeOf<boolean>();
    expectTypeOf(cell.initialized).toEqualTypeOf<boolean>();
    // @ts-expect-error: the initializer must produce the cell's type
    void cell.getOrInit(() => "one");
    // @ts-expect-error: `initialized` is read-only
    cell.initialized = true;
    const preset = new OnceCell("x");
    expectTypeOf(preset.get()).toEqualTypeOf<string | undefined>();
  });

  it("KeyedMutex guards expose the key read-only", async () => {
    const locks = new KeyedMutex<string>();
    const guard = await locks.lock("a");
    expectTypeOf(guard).toEqualTypeOf<KeyedMutexGuard<string>>();
    expectTypeOf(guard.value).toEqualTypeOf<string>();
    // @ts-expect-error: the key is read-only
    guard.value = "b";
    expectTypeOf(locks.tryLock("a")).toEqualTypeOf<KeyedMutexGuard<string> | undefined>();
    const many = await locks.lockMany(["a", "b"]);
    expectTypeOf(many.value).toEqualTypeOf<readonly string[]>();
    // @ts-expect-error: the key list is read-only
    many.value.push("c");
    expectTypeOf(await locks.withLock("a", (g) => g.value.length)).toEqualTypeOf<number>();
    // @ts-expect-error: keys have the mutex's key type
    void locks.lock(1);
    using scoped = locks.tryLock("z");
    expectTypeOf(scoped).toEqualTypeOf<KeyedMutexGuard<string> | undefined>();
  });

  it("every coordination primitive is interior-mutable: DeepReadonly keeps its methods", () => {
    type View = DeepReadonly<{
      notify: Notify;
      cv: Condvar;
      barrier: Barrier;
      cell: OnceCell<number[]>;
      keyed: KeyedMutex<string>;
    }>;
    const view = {} as View;
    expectTypeOf(view.notify).toEqualTypeOf<Notify>();
    expectTypeOf(view.cv).toEqualTypeOf<Condvar>();
    expectTypeOf(view.barrier).toEqualTypeOf<Barrier>();
    expectTypeOf(view.cell).toEqualTypeOf<OnceCell<number[]>>();
    expectTypeOf(view.keyed).toEqualTypeOf<KeyedMutex<string>>();
  });
});
