/**
 * The model checker must be able to fail: deliberately broken toy algorithms (test fixtures, not
 * library code), each next to its correct twin. The checker must find every bug, with a schedule that
 * replays to the same failure, and must pass every correct twin over the whole bounded space.
 */

import { describe, expect, it } from "vitest";
import type { AtomicsLike } from "../../../src/threads/raw/atomics-like.js";
import { check, explore, type Program, replay, sample } from "./explorer.js";

type Lock = { lock(a: AtomicsLike): void; unlock(a: AtomicsLike): void };

// Word states of the futex mutex in Drepper's "Futexes are tricky": 0 free, 1 locked, 2 locked with waiters.
function futexMutex(word: Int32Array, options: { forgetNotify?: boolean } = {}): Lock {
  return {
    lock(a) {
      let c = a.compareExchange(word, 0, 0, 1);
      if (c === 0) return;
      if (c !== 2) c = a.exchange(word, 0, 2);
      while (c !== 0) {
        a.wait(word, 0, 2);
        c = a.exchange(word, 0, 2);
      }
    },
    unlock(a) {
      if (a.sub(word, 0, 1) !== 1) {
        a.store(word, 0, 0);
        // BUG (toy): the waiter that set state 2 is never woken.
        if (!options.forgetNotify) a.notify(word, 0, 1);
      }
    },
  };
}

/** BUG (toy): test-then-set. Two threads can both see 0 before either stores 1. */
function loadThenStoreMutex(word: Int32Array): Lock {
  return {
    lock(a) {
      while (a.load(word, 0) !== 0) a.wait(word, 0, 1);
      a.store(word, 0, 1);
    },
    unlock(a) {
      a.store(word, 0, 0);
      a.notify(word, 0, 1);
    },
  };
}

/** Mutual exclusion plus an exact non-atomic counter: the critical section is load; store(+1). */
function mutexProgram(
  make: (word: Int32Array) => Lock,
  threads: number,
  rounds = 1,
): Program<{ m: Lock; mem: Int32Array }> {
  const body = (
    ctx: Parameters<Program<{ m: Lock; mem: Int32Array }>["threads"][number]>[0],
    s: { m: Lock; mem: Int32Array },
  ) => {
    for (let r = 0; r < rounds; r++) {
      s.m.lock(ctx.atomics);
      ctx.enter("cs");
      const v = ctx.atomics.load(s.mem, 1);
      ctx.atomics.store(s.mem, 1, v + 1);
      ctx.leave("cs");
      s.m.unlock(ctx.atomics);
    }
  };
  return {
    setup() {
      const mem = new Int32Array(new SharedArrayBuffer(8));
      return { mem, m: make(mem.subarray(0, 1)) };
    },
    names: (s) => ({ mem: s.mem }),
    threads: Array.from({ length: threads }, () => body),
    final(s) {
      if (s.mem[1] !== threads * rounds) throw new Error(`counter is ${s.mem[1]}, expected ${threads * rounds}`);
      if (s.mem[0] !== 0) throw new Error(`lock word is ${s.mem[0]} after every thread unlocked`);
    },
  };
}

// A condvar as a sequence counter, over the futex mutex above. Words: 0 mutex, 1 condvar seq, 2 flag.
interface CondvarShared {
  mem: Int32Array;
  m: Lock;
}

function condvarProgram(waitsOnWrongValue: boolean, notifiers = 1): Program<CondvarShared> {
  const waiter = (ctx: { atomics: AtomicsLike }, s: CondvarShared) => {
    const a = ctx.atomics;
    s.m.lock(a);
    while (a.load(s.mem, 2) === 0) {
      // Correct: read the sequence while still holding the mutex, so a notify after the unlock changes it.
      let seq = waitsOnWrongValue ? 0 : a.load(s.mem, 1);
      s.m.unlock(a);
      // BUG (toy): the sequence is read after the unlock, so it already includes a notify that happened
      // in between, and the wait sleeps through it.
      if (waitsOnWrongValue) seq = a.load(s.mem, 1);
      a.wait(s.mem, 1, seq);
      s.m.lock(a);
    }
    s.m.unlock(a);
  };
  const notifier = (ctx: { atomics: AtomicsLike }, s: CondvarShared) => {
    const a = ctx.atomics;
    s.m.lock(a);
    a.store(s.mem, 2, 1);
    a.add(s.mem, 1, 1);
    a.notify(s.mem, 1, 1);
    s.m.unlock(a);
  };
  return {
    setup() {
      const mem = new Int32Array(new SharedArrayBuffer(12));
      return { mem, m: futexMutex(mem.subarray(0, 1)) };
    },
    names: (s) => ({ mem: s.mem }),
    threads: [waiter, ...Array.from({ length: notifiers }, () => notifier)],
  };
}

describe("broken toys are caught", () => {
  it("a mutex whose lock is load-then-store instead of compareExchange: exclusion violated", () => {
    const program = mutexProgram(loadThenStoreMutex, 2);
    const report = explore(program);
    expect(report.failure?.kind).toBe("exclusion");
    expect(report.failure?.message).toMatch(/entered "cs" \(exclusive\) while T\d holds it/);
    // T0 loads 0, T1 preempts it and gets in, T0 preempts T1 inside: iterative bounding finds the
    // minimal counterexample, with exactly two preemptions.
    expect(report.failure?.preemptions).toBe(2);
    expect(report.failure?.trace).toContain("load(mem[0]) -> 0");
    // The schedule replays to the same failure.
    const again = replay(program, report.failure!.schedule);
    expect(again.failure?.message).toBe(report.failure?.message);
    expect(again.failure?.trace).toBe(report.failure?.trace);
  });

  it("the same toy without section markers: the counter check catches the lost increment", () => {
    const base = mutexProgram(loadThenStoreMutex, 2);
    const program: typeof base = {
      ...base,
      threads: base.threads.map(() => (ctx, s) => {
        s.m.lock(ctx.atomics);
        const v = ctx.atomics.load(s.mem, 1);
        ctx.atomics.store(s.mem, 1, v + 1);
        s.m.unlock(ctx.atomics);
      }),
    };
    const report = explore(program);
    expect(report.failure?.kind).toBe("final");
    expect(report.failure?.message).toMatch(/counter is 1, expected 2/);
  });

  it("a condvar that waits on the wrong value (read after unlocking): lost wake-up, reported as deadlock", () => {
    const program = condvarProgram(true);
    const report = explore(program);
    expect(report.failure?.kind).toBe("deadlock");
    expect(report.failure?.message).toMatch(/T0 parked on mem\[1\]/);
    // The notify landed between the waiter's unlock and its wait, and woke nobody.
    const steps = report.failure!.steps.map((s) => `T${s.thread} ${s.text}`);
    const lastUnlock = steps.findLastIndex((s) => s.startsWith("T0 sub(mem[0]"));
    const notify = steps.findIndex((s) => s.startsWith("T1 notify(mem[1]"));
    const park = steps.findIndex((s) => s.startsWith("T0 wait(mem[1]") && s.endsWith("parks"));
    expect(lastUnlock).toBeGreaterThanOrEqual(0);
    expect(notify).toBeGreaterThan(lastUnlock);
    expect(park).toBeGreaterThan(notify);
    expect(steps[notify]).toMatch(/-> 0$/);
    expect(replay(program, report.failure!.schedule).failure?.kind).toBe("deadlock");
  });

  it("an unlock that forgets to notify: the waiter sleeps forever", () => {
    const program = mutexProgram((w) => futexMutex(w, { forgetNotify: true }), 2);
    const report = explore(program);
    expect(report.failure?.kind).toBe("deadlock");
    expect(report.failure?.message).toMatch(/parked on mem\[0\]/);
    expect(report.failure?.trace).toMatch(/replay with \{ schedule: "[0-9 ~!]+" \}/);
    expect(() => check(program)).toThrow(/model check failed \(deadlock\)/);
  });
});

describe("random walks (sample) catch them too, reproducibly", () => {
  it("the load-then-store mutex, 3 threads × 2 rounds: found, and replayable from its schedule", () => {
    const program = mutexProgram(loadThenStoreMutex, 3, 2);
    const report = sample(program, { runs: 500, seed: 7 });
    expect(report.failure?.kind).toBe("exclusion");
    expect(replay(program, report.failure!.schedule).failure?.message).toBe(report.failure?.message);
    // Same seed, same walk.
    expect(sample(program, { runs: 500, seed: 7 }).failure?.schedule).toBe(report.failure?.schedule);
  });

  it("the correct futex mutex survives 300 random walks of 3 threads × 3 rounds", () => {
    const report = sample(
      mutexProgram((w) => futexMutex(w), 3, 3),
      { runs: 300 },
    );
    expect(report.failure).toBeUndefined();
    expect(report.schedules).toBeGreaterThanOrEqual(300);
  });
});

describe("correct twins pass the whole bounded space", () => {
  it("futex mutex, 2 threads × 2 rounds", () => {
    const report = check(mutexProgram((w) => futexMutex(w), 2, 2));
    expect(report.complete).toBe(true);
    expect(report.schedules).toBeGreaterThan(100);
  });

  it("futex mutex, 3 threads", () => {
    const report = check(mutexProgram((w) => futexMutex(w), 3));
    expect(report.complete).toBe(true);
    expect(report.schedules).toBeGreaterThan(100);
  });

  it("condvar reading the sequence under the mutex: no lost wake-up, even with two notifiers", () => {
    for (const notifiers of [1, 2]) {
      const report = check(condvarProgram(false, notifiers));
      expect(report.complete).toBe(true);
    }
  });

  it("condvar: a notify issued after the waiter released the mutex but before it parked still wakes it", () => {
    let covered = 0;
    const report = check(condvarProgram(false), {
      onSchedule(steps) {
        const lines = steps.map((s) => `T${s.thread} ${s.text}`);
        const unlock = lines.findIndex((s) => s.startsWith("T0 sub(mem[0]"));
        const notify = lines.findIndex((s) => s.startsWith("T1 notify(mem[1]"));
        const wait = lines.findIndex((s) => s.startsWith("T0 wait(mem[1]"));
        if (unlock >= 0 && unlock < notify && notify < wait) {
          // The wait saw the bumped sequence and did not sleep.
          expect(lines[wait]).toMatch(/-> not-equal$/);
          covered++;
        }
      },
    });
    expect(report.complete).toBe(true);
    expect(covered).toBeGreaterThan(0);
  });
});
