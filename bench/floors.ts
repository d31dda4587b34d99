/**
 * Floors: the least a correct implementation of each primitive can do, written here so every row of the
 * bench is a ratio to "what the platform costs" measured in the same run. They are deliberately bare —
 * no guards, no options, no validation, no cancellation — but they are correct and FIFO, and their queues
 * are O(1), so a library slower than its floor pays for something other than the job itself.
 */

import { Fifo } from "./util.js";

type Wake = (value: undefined) => void;

const RESOLVED: Promise<undefined> = Promise.resolve(undefined);

/** A FIFO promise-queue mutex: a flag and a queue of resolvers; `unlock` hands off to the head. */
export class FloorMutex {
  #locked = false;
  readonly #queue = new Fifo<Wake>();

  get locked(): boolean {
    return this.#locked;
  }

  get waiters(): number {
    return this.#queue.size;
  }

  lock(): Promise<undefined> {
    if (!this.#locked) {
      this.#locked = true;
      return RESOLVED;
    }
    return new Promise<undefined>((resolve) => this.#queue.push(resolve));
  }

  tryLock(): boolean {
    if (this.#locked) return false;
    this.#locked = true;
    return true;
  }

  unlock(): void {
    // Hand-off: the flag stays set and ownership passes to the head, so nobody can barge in between.
    if (this.#queue.size > 0) this.#queue.shift()(undefined);
    else this.#locked = false;
  }
}

/**
 * The floor for a guard-returning API: {@link FloorMutex}, except that every acquire resolves with a
 * fresh guard object (one private field, an idempotent `release()`). Not a floor for ratios — a
 * reference row that shows what allocating a guard and resolving a promise with an object cost by
 * themselves, i.e. the least any lock shaped like lockbox's `lock(): Promise<Guard>` can do.
 */
export class FloorGuardMutex {
  #locked = false;
  readonly #queue = new Fifo<(guard: FloorGuard) => void>();

  lock(): Promise<FloorGuard> {
    if (!this.#locked) {
      this.#locked = true;
      return Promise.resolve(new FloorGuard(this));
    }
    return new Promise<FloorGuard>((resolve) => this.#queue.push(resolve));
  }

  tryLock(): FloorGuard | undefined {
    if (this.#locked) return undefined;
    this.#locked = true;
    return new FloorGuard(this);
  }

  unlock(): void {
    if (this.#queue.size > 0) this.#queue.shift()(new FloorGuard(this));
    else this.#locked = false;
  }
}

export class FloorGuard {
  #mutex: FloorGuardMutex | undefined;

  constructor(mutex: FloorGuardMutex) {
    this.#mutex = mutex;
  }

  release(): void {
    const mutex = this.#mutex;
    if (mutex === undefined) return;
    this.#mutex = undefined;
    mutex.unlock();
  }
}

/**
 * A FIFO read-write lock: one queue of readers and writers in arrival order. Consecutive readers at the
 * head are admitted together; a queued writer blocks readers behind it (no writer starvation).
 */
export class FloorRwLock {
  /** Shared holders; -1 while a writer holds the lock. */
  #holders = 0;
  readonly #queue = new Fifo<{ write: boolean; wake: Wake }>();

  read(): Promise<undefined> {
    if (this.#holders >= 0 && this.#queue.size === 0) {
      this.#holders++;
      return RESOLVED;
    }
    return new Promise<undefined>((wake) => this.#queue.push({ write: false, wake }));
  }

  write(): Promise<undefined> {
    if (this.#holders === 0 && this.#queue.size === 0) {
      this.#holders = -1;
      return RESOLVED;
    }
    return new Promise<undefined>((wake) => this.#queue.push({ write: true, wake }));
  }

  unlockRead(): void {
    if (--this.#holders === 0) this.#drain();
  }

  unlockWrite(): void {
    this.#holders = 0;
    this.#drain();
  }

  #drain(): void {
    const queue = this.#queue;
    while (queue.size > 0) {
      const head = queue.peek() as { write: boolean; wake: Wake };
      if (head.write) {
        if (this.#holders !== 0) return;
        this.#holders = -1;
        queue.shift().wake(undefined);
        return;
      }
      if (this.#holders < 0) return;
      this.#holders++;
      queue.shift().wake(undefined);
    }
  }
}

/** A FIFO counting semaphore (single-permit acquires): a counter and a queue; release hands off. */
export class FloorSemaphore {
  #permits: number;
  readonly #queue = new Fifo<Wake>();

  constructor(permits: number) {
    this.#permits = permits;
  }

  acquire(): Promise<undefined> {
    if (this.#permits > 0 && this.#queue.size === 0) {
      this.#permits--;
      return RESOLVED;
    }
    return new Promise<undefined>((resolve) => this.#queue.push(resolve));
  }

  release(): void {
    if (this.#queue.size > 0) this.#queue.shift()(undefined);
    else this.#permits++;
  }
}

/**
 * The classic three-state futex mutex (Drepper, "Futexes Are Tricky", mutex #2) over one Int32 word:
 * 0 = unlocked, 1 = locked with no waiters, 2 = locked and somebody may be sleeping. Unfair (a running
 * thread re-takes a free lock), which is what makes it fast between threads.
 */
export class FutexMutex {
  readonly #word: Int32Array;
  readonly #index: number;

  constructor(word: Int32Array, index: number) {
    this.#word = word;
    this.#index = index;
  }

  lockSync(): void {
    const word = this.#word;
    const i = this.#index;
    let c = Atomics.compareExchange(word, i, 0, 1);
    if (c === 0) return;
    // Announce a sleeper (state 2) before sleeping, so the unlocker knows to wake somebody.
    if (c !== 2) c = Atomics.exchange(word, i, 2);
    while (c !== 0) {
      Atomics.wait(word, i, 2);
      c = Atomics.exchange(word, i, 2);
    }
  }

  /**
   * The same protocol with `Atomics.waitAsync`. Every wait is awaited to completion (none is abandoned),
   * so a notify can never land on a dead waiter. The caller keeps its thread alive while it runs: a
   * pending `waitAsync` alone does not.
   */
  async lockAsync(): Promise<void> {
    const word = this.#word;
    const i = this.#index;
    let c = Atomics.compareExchange(word, i, 0, 1);
    if (c === 0) return;
    if (c !== 2) c = Atomics.exchange(word, i, 2);
    while (c !== 0) {
      const wait = Atomics.waitAsync(word, i, 2);
      if (wait.async) await wait.value;
      c = Atomics.exchange(word, i, 2);
    }
  }

  unlock(): void {
    // 1 -> 0: nobody waits. 2 -> 1 means someone may sleep: clear the word and wake one.
    if (Atomics.sub(this.#word, this.#index, 1) !== 1) {
      Atomics.store(this.#word, this.#index, 0);
      Atomics.notify(this.#word, this.#index, 1);
    }
  }
}
