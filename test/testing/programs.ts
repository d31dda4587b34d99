/**
 * Six classic concurrency bugs, each as a buggy program and its correct version, written as a user
 * would write them with lockbox. The explorer must find every bug on its own and pass every correct
 * version. Shared by test/testing/bugs.test.ts and scripts/explore-stats.ts (runs needed per seed).
 */
import { BorrowMutError, Condvar, Mutex, Notify, RefCell, Semaphore } from "../../src/index.js";
import type { ExploreContext } from "../../src/testing/index.js";

export interface Program {
  readonly name: string;
  readonly buggy: (t: ExploreContext) => Promise<void>;
  readonly correct: (t: ExploreContext) => Promise<void>;
  /** What the failing run's `cause` must look like. */
  readonly cause: { readonly name: string; readonly message: RegExp };
}

/** Lost update: the balance is checked under one `lock()` and debited under another. */
const lostUpdate: Program = {
  name: "lost update (check under one lock(), write under another)",
  async buggy(t) {
    const account = new Mutex({ balance: 100 }, { name: "account" });
    const withdraw = async (amount: number) => {
      const check = await account.lock();
      const enough = check.value.balance >= amount;
      check.release();
      if (!enough) return;
      const debit = await account.lock(); // another withdrawal may have run in between
      debit.value.balance -= amount;
      debit.release();
    };
    t.spawn(() => withdraw(70));
    t.spawn(() => withdraw(70));
    await t.join();
    const final = await account.lock();
    t.assert(final.value.balance >= 0, `overdraft: balance ${final.value.balance}`);
    final.release();
  },
  async correct(t) {
    const account = new Mutex({ balance: 100 }, { name: "account" });
    const withdraw = (amount: number) =>
      account.withLock((guard) => {
        if (guard.value.balance >= amount) guard.value.balance -= amount;
      });
    t.spawn(() => withdraw(70));
    t.spawn(() => withdraw(70));
    await t.join();
    const final = await account.lock();
    t.assert(final.value.balance === 30, `balance ${final.value.balance}`);
    final.release();
  },
  cause: { name: "AssertionError", message: /overdraft: balance -40/ },
};

/** ABBA: two tasks take the same two locks in opposite orders. */
const abba: Program = {
  name: "ABBA deadlock",
  async buggy(t) {
    const accounts = new Mutex(0, { name: "accounts" });
    const audit = new Mutex(0, { name: "audit" });
    t.spawn(async () => {
      const a = await accounts.lock();
      const b = await audit.lock();
      b.release();
      a.release();
    });
    t.spawn(async () => {
      const b = await audit.lock();
      const a = await accounts.lock();
      a.release();
      b.release();
    });
    await t.join();
  },
  async correct(t) {
    const accounts = new Mutex(0, { name: "accounts" });
    const audit = new Mutex(0, { name: "audit" });
    const both = async () => {
      // One global order: accounts, then audit.
      const a = await accounts.lock();
      const b = await audit.lock();
      b.release();
      a.release();
    };
    t.spawn(both);
    t.spawn(both);
    await t.join();
  },
  cause: { name: "DeadlockError", message: /cycle: task \d waits in lock\(\) (audit|accounts) held by task \d/ },
};

/**
 * Lost wake-up: the consumer checks the flag, then awaits something else (here: writing to a log)
 * before it waits; `notifyWaiters()` stores nothing, so a producer that runs during that await wakes
 * nobody and the consumer waits forever. (A check followed *directly* by `await notified()` is safe in
 * JavaScript: the check and the registration happen in one synchronous step.)
 */
const lostWakeup: Program = {
  name: "lost wake-up with Notify",
  async buggy(t) {
    let ready = false;
    const changed = new Notify({ name: "changed" });
    const log = new Mutex<string[]>([], { name: "log" });
    t.spawn(async () => {
      if (!ready) {
        await log.withLock((entries) => {
          entries.value.push("consumer: waiting for ready");
        });
        await changed.notified(); // the flag may have changed during the await above
      }
      t.assert(ready, "woken before ready");
    });
    t.spawn(() => {
      ready = true;
      changed.notifyWaiters(); // wakes only current waiters: a consumer about to wait misses it
    });
    await t.join();
  },
  async correct(t) {
    let ready = false;
    const changed = new Notify({ name: "changed" });
    const log = new Mutex<string[]>([], { name: "log" });
    t.spawn(async () => {
      if (!ready) {
        await log.withLock((entries) => {
          entries.value.push("consumer: waiting for ready");
        });
      }
      while (!ready) await changed.notified(); // re-checked right before each wait
    });
    t.spawn(() => {
      ready = true;
      changed.notifyWaiters();
    });
    await t.join();
  },
  cause: {
    name: "DeadlockError",
    message: /task 1 waits in notified\(\) changed and no task that can still run will notify it/,
  },
};

/**
 * Condvar without re-checking: `if` instead of `while`. A woken consumer re-acquires the mutex behind
 * a consumer that arrived meanwhile and took the only item.
 */
const condvarNoRecheck: Program = {
  name: "Condvar wait without re-checking its condition",
  async buggy(t) {
    const queue = new Mutex<string[]>([], { name: "queue" });
    const nonEmpty = new Condvar({ name: "nonEmpty" });
    const consume = async () => {
      let guard = await queue.lock();
      if (guard.value.length === 0) guard = await nonEmpty.wait(guard);
      const item = guard.value.shift();
      guard.release();
      t.assert(item !== undefined, "took an item from an empty queue");
    };
    const produce = async () => {
      const guard = await queue.lock();
      guard.value.push("job");
      guard.release();
      nonEmpty.notifyOne();
    };
    t.spawn(consume);
    t.spawn(consume);
    t.spawn(produce);
    t.spawn(produce);
    await t.join();
  },
  async correct(t) {
    const queue = new Mutex<string[]>([], { name: "queue" });
    const nonEmpty = new Condvar({ name: "nonEmpty" });
    const consume = async () => {
      let guard = await queue.lock();
      guard = await nonEmpty.waitWhile(guard, (items) => items.length === 0);
      const item = guard.value.shift();
      guard.release();
      t.assert(item !== undefined, "took an item from an empty queue");
    };
    const produce = async () => {
      const guard = await queue.lock();
      guard.value.push("job");
      guard.release();
      nonEmpty.notifyOne();
    };
    t.spawn(consume);
    t.spawn(consume);
    t.spawn(produce);
    t.spawn(produce);
    await t.join();
  },
  cause: { name: "AssertionError", message: /took an item from an empty queue/ },
};

/** A `RefCell` borrow held across an `await`: another task's `borrowMut()` throws. */
const refCellAcrossAwait: Program = {
  name: "RefCell borrow held across an await",
  async buggy(t) {
    const settings = new RefCell({ theme: "dark" }, { name: "settings" });
    const log = new Mutex<string[]>([], { name: "log" });
    t.spawn(async () => {
      const view = settings.borrow();
      const entry = await log.lock(); // the borrow is still live while this task waits
      entry.value.push(`render ${view.value.theme}`);
      entry.release();
      view.release();
    });
    t.spawn(async () => {
      const entry = await log.lock();
      entry.value.push("toggle");
      entry.release();
      const edit = settings.borrowMut();
      edit.value.theme = edit.value.theme === "dark" ? "light" : "dark";
      edit.release();
    });
    await t.join();
  },
  async correct(t) {
    const settings = new RefCell({ theme: "dark" }, { name: "settings" });
    const log = new Mutex<string[]>([], { name: "log" });
    t.spawn(async () => {
      const view = settings.borrow();
      const theme = view.value.theme; // copy, release, then await
      view.release();
      const entry = await log.lock();
      entry.value.push(`render ${theme}`);
      entry.release();
    });
    t.spawn(async () => {
      const entry = await log.lock();
      entry.value.push("toggle");
      entry.release();
      const edit = settings.borrowMut();
      edit.value.theme = edit.value.theme === "dark" ? "light" : "dark";
      edit.release();
    });
    await t.join();
  },
  cause: { name: BorrowMutError.name, message: /settings/ },
};

/**
 * A permit leaked on an error path: a job cancelled mid-way throws between `acquire()` and
 * `release()`, so the permit is never returned and the next acquire waits forever.
 */
const permitLeak: Program = {
  name: "Semaphore permit leak on an error path",
  async buggy(t) {
    const slots = new Semaphore(1, { name: "slots" });
    let cancelled = false;
    const job = async () => {
      if (cancelled) return;
      const permit = await slots.acquire();
      await t.yield(); // the work
      if (cancelled) throw new Error("cancelled"); // leaks the permit: no finally
      permit.release();
    };
    t.spawn(async () => {
      try {
        await job();
      } catch {
        // a cancelled job is fine
      }
    });
    t.spawn(async () => {
      await t.yield();
      cancelled = true;
    });
    await t.join();
    const permit = await slots.acquire(); // shutdown: wait for every slot
    permit.release();
  },
  async correct(t) {
    const slots = new Semaphore(1, { name: "slots" });
    let cancelled = false;
    const job = async () => {
      if (cancelled) return;
      await slots.withPermit(async () => {
        await t.yield();
        if (cancelled) throw new Error("cancelled");
      });
    };
    t.spawn(async () => {
      try {
        await job();
      } catch {
        // a cancelled job is fine
      }
    });
    t.spawn(async () => {
      await t.yield();
      cancelled = true;
    });
    await t.join();
    const permit = await slots.acquire();
    permit.release();
  },
  cause: {
    name: "DeadlockError",
    message: /main waits in acquire\(\) slots held by task 1 \(finished without releasing it\)/,
  },
};

export const programs: readonly Program[] = [
  lostUpdate,
  abba,
  lostWakeup,
  condvarNoRecheck,
  refCellAcrossAwait,
  permitLeak,
];
