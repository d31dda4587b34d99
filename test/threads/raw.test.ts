/**
 * The raw words, one thread, real Atomics, a fake clock: each documented transition, then a
 * model-based property test per word (random operation sequences against a plain model).
 * Interleavings across threads are the model checker's job (test/threads/model).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { realAtomics as A } from "../../src/threads/raw/atomics-like.js";
import { isDead, LIVENESS_WORDS, markDead } from "../../src/threads/raw/liveness-table.js";
import * as barrier from "../../src/threads/raw/raw-barrier.js";
import * as cv from "../../src/threads/raw/raw-condvar.js";
import * as m from "../../src/threads/raw/raw-mutex.js";
import * as once from "../../src/threads/raw/raw-once.js";
import * as rw from "../../src/threads/raw/raw-rw-lock.js";
import * as sem from "../../src/threads/raw/raw-semaphore.js";
import { newWaiter, recordWait } from "../../src/threads/raw/waiter.js";

function words(n: number): Int32Array {
  return new Int32Array(new SharedArrayBuffer(4 * n));
}

function table(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(4 * LIVENESS_WORDS));
}

/** A clock the test moves by hand. */
function fakeClock() {
  let t = 1_000;
  const now = () => t;
  return { now, advance: (ms: number) => (t += ms) };
}

describe("raw mutex word", () => {
  it("uncontended: one compareExchange each way; the word names the owner", () => {
    const w = words(1);
    expect(m.tryLock(A, w, 0, 5, undefined)).toBe(true);
    expect(w[0]).toBe(m.LOCKED | (5 << m.OWNER_SHIFT));
    expect(m.ownerOf(w[0]!)).toBe(5);
    expect(m.tryLock(A, w, 0, 6, undefined)).toBe(false);
    expect(m.unlock(A, w, 0, 6)).toBe(false); // not the owner: nothing changes
    expect(m.unlock(A, w, 0, 5)).toBe(true);
    expect(w[0]).toBe(0);
    expect(m.unlock(A, w, 0, 5)).toBe(false); // double unlock is a no-op
  });

  it("a waiter marks the word CONTENDED and parks on that value", () => {
    const w = words(1);
    const clock = fakeClock();
    m.tryLock(A, w, 0, 1, undefined);
    const waiter = newWaiter(0);
    expect(m.lockStep(A, w, 0, 2, undefined, waiter, clock.now)).toBe(false);
    expect(w[0]! & m.STATE_MASK).toBe(m.CONTENDED);
    expect(waiter.expected).toBe(w[0]);
    expect(waiter.parkTimeout).toBe(m.FAIR_AFTER_MS);
    // Unlock frees (no hand-off yet) and the waiter takes it, keeping CONTENDED.
    expect(m.unlock(A, w, 0, 1)).toBe(true);
    expect(w[0]).toBe(0);
    expect(m.lockStep(A, w, 0, 2, undefined, waiter, clock.now)).toBe(true);
    expect(w[0]).toBe(m.CONTENDED | (2 << m.OWNER_SHIFT));
  });

  it("a running thread may barge a free lock, but after ~1 ms the waiter gets it handed over", () => {
    const w = words(1);
    const clock = fakeClock();
    m.tryLock(A, w, 0, 1, undefined);
    const waiter = newWaiter(0);
    m.lockStep(A, w, 0, 2, undefined, waiter, clock.now);
    m.unlock(A, w, 0, 1);
    // Barging: thread 3 takes the free lock before the woken waiter runs.
    expect(m.tryLock(A, w, 0, 3, undefined)).toBe(true);
    clock.advance(m.FAIR_AFTER_MS);
    expect(m.lockStep(A, w, 0, 2, undefined, waiter, clock.now)).toBe(false);
    expect(w[0]! & m.STARVING).not.toBe(0);
    m.unlock(A, w, 0, 3);
    // Handed off: locked, no owner, a newcomer cannot take it …
    expect(w[0]! & m.HANDOFF).not.toBe(0);
    expect(m.tryLock(A, w, 0, 4, undefined)).toBe(false);
    const newcomer = newWaiter(0);
    expect(m.lockStep(A, w, 0, 4, undefined, newcomer, clock.now)).toBe(false);
    // … the parked waiter can.
    expect(m.lockStep(A, w, 0, 2, undefined, waiter, clock.now)).toBe(true);
    expect(m.ownerOf(w[0]!)).toBe(2);
    expect(w[0]! & (m.HANDOFF | m.STARVING)).toBe(0);
  });

  it("regression (model checker): a waiter whose park returned not-equal cannot claim a hand-off", () => {
    const w = words(1);
    const clock = fakeClock();
    m.tryLock(A, w, 0, 1, undefined);
    const starving = newWaiter(0);
    m.lockStep(A, w, 0, 2, undefined, starving, clock.now);
    recordWait(starving, "timed-out");
    clock.advance(m.FAIR_AFTER_MS);
    m.lockStep(A, w, 0, 2, undefined, starving, clock.now); // sets STARVING
    // Thread 3 decides to park, but the hand-off happens before it sleeps: its park says not-equal.
    const late = newWaiter(0);
    expect(m.lockStep(A, w, 0, 3, undefined, late, clock.now)).toBe(false);
    m.unlock(A, w, 0, 1);
    expect(w[0]! & m.HANDOFF).not.toBe(0);
    recordWait(late, "not-equal");
    expect(m.lockStep(A, w, 0, 3, undefined, late, clock.now)).toBe(false); // parks again instead
    recordWait(starving, "ok");
    expect(m.lockStep(A, w, 0, 2, undefined, starving, clock.now)).toBe(true);
    expect(m.ownerOf(w[0]!)).toBe(2);
  });

  it("a waiter that gives up passes a pending hand-off on (regression: hand-off to nobody)", () => {
    const w = words(1);
    const clock = fakeClock();
    m.tryLock(A, w, 0, 1, undefined);
    const waiter = newWaiter(0);
    m.lockStep(A, w, 0, 2, undefined, waiter, clock.now);
    clock.advance(2);
    m.lockStep(A, w, 0, 2, undefined, waiter, clock.now); // sets STARVING
    // It times out before the unlock: STARVING is cleared, so the unlock frees the lock.
    m.abandonLock(A, w, 0);
    expect(w[0]! & m.STARVING).toBe(0);
    m.unlock(A, w, 0, 1);
    expect(w[0]).toBe(0);
    // And if the hand-off already happened, abandoning turns it back into a free lock.
    m.tryLock(A, w, 0, 1, undefined);
    const other = newWaiter(0);
    m.lockStep(A, w, 0, 2, undefined, other, clock.now);
    clock.advance(2);
    m.lockStep(A, w, 0, 2, undefined, other, clock.now);
    m.unlock(A, w, 0, 1);
    expect(w[0]! & m.HANDOFF).not.toBe(0);
    m.abandonLock(A, w, 0);
    expect(w[0]).toBe(0);
  });

  it("keeps POISONED across unlocks; a dead owner is reaped (released, poisoned), a live one never", () => {
    const w = words(1);
    const live = table();
    m.tryLock(A, w, 0, 7, live);
    m.poisonLock(A, w, 0);
    expect(m.unlock(A, w, 0, 7)).toBe(true);
    expect(w[0]).toBe(m.POISONED);
    expect(m.tryLock(A, w, 0, 8, live)).toBe(true);
    expect(m.isPoisoned(A, w, 0)).toBe(true);
    m.clearPoison(A, w, 0);
    expect(m.tryLock(A, w, 0, 9, live)).toBe(false); // 8 is alive
    markDead(A, live, 8);
    expect(isDead(A, live, 8)).toBe(true);
    expect(isDead(A, live, 9)).toBe(false);
    expect(m.tryLock(A, w, 0, 9, live)).toBe(true);
    expect(m.ownerOf(w[0]!)).toBe(9);
    expect(m.isPoisoned(A, w, 0)).toBe(true);
  });

  it("lockBlocking times out when the lock stays held", () => {
    const w = words(1);
    m.tryLock(A, w, 0, 1, undefined);
    expect(m.lockBlocking(A, w, 0, 2, undefined, () => performance.now(), 3)).toBe(false);
    expect(m.ownerOf(w[0]!)).toBe(1);
  });

  it("property: any sequence of try/unlock/poison/clear by 3 threads matches a plain model", () => {
    const op = fc.record({
      kind: fc.constantFrom("try", "unlock", "poison", "clear"),
      who: fc.integer({ min: 1, max: 3 }),
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const w = words(1);
        let owner = 0;
        let poisoned = false;
        for (const { kind, who } of ops) {
          if (kind === "try") {
            expect(m.tryLock(A, w, 0, who, undefined)).toBe(owner === 0);
            if (owner === 0) owner = who;
          } else if (kind === "unlock") {
            expect(m.unlock(A, w, 0, who)).toBe(owner === who);
            if (owner === who) owner = 0;
          } else if (kind === "poison") {
            m.poisonLock(A, w, 0);
            poisoned = true;
          } else {
            m.clearPoison(A, w, 0);
            poisoned = false;
          }
          expect(m.ownerOf(w[0]!)).toBe(owner);
          expect(m.isLocked(A, w, 0)).toBe(owner !== 0);
          expect(m.isPoisoned(A, w, 0)).toBe(poisoned);
        }
      }),
    );
  });
});

describe("raw rwlock word", () => {
  it("readers share; a writer excludes; a waiting writer holds back new readers", () => {
    const w = words(rw.RW_LOCK_WORDS);
    expect(rw.tryRead(A, w, 0, undefined)).toBe(true);
    expect(rw.tryRead(A, w, 0, undefined)).toBe(true);
    expect(rw.tryWrite(A, w, 0, 3, undefined)).toBe(false);
    const writer = newWaiter(0);
    expect(rw.writeStep(A, w, 0, 3, undefined, writer, () => 0)).toBe(false);
    expect(writer.index).toBe(1); // writers park on the sequence word
    expect(w[0]! & rw.WRITERS_WAITING).not.toBe(0);
    expect(rw.tryRead(A, w, 0, undefined)).toBe(false); // writer preference
    const seq = w[1];
    rw.readUnlock(A, w, 0);
    expect(w[1]).toBe(seq); // not the last reader: nobody woken
    rw.readUnlock(A, w, 0);
    expect(w[1]).not.toBe(seq); // last one out bumps the writers' sequence
    expect(w[0]! & rw.WAITING).toBe(0);
    expect(rw.writeStep(A, w, 0, 3, undefined, writer, () => 0)).toBe(true);
    expect(w[0]! & rw.COUNT_MASK).toBe(3);
    expect(rw.readUnlock(A, w, 0)).toBe(false); // misuse: no reader holds it
    expect(rw.writeUnlock(A, w, 0, 4)).toBe(false); // misuse: not the writer
  });

  it("downgrade turns the write lock into one read share atomically", () => {
    const w = words(rw.RW_LOCK_WORDS);
    rw.tryWrite(A, w, 0, 2, undefined);
    expect(rw.downgrade(A, w, 0, 2)).toBe(true);
    expect(w[0]).toBe(1);
    expect(rw.tryWrite(A, w, 0, 3, undefined)).toBe(false);
    expect(rw.tryRead(A, w, 0, undefined)).toBe(true);
  });

  it("a dead writer is reaped: free and poisoned", () => {
    const w = words(rw.RW_LOCK_WORDS);
    const live = table();
    rw.tryWrite(A, w, 0, 6, live);
    rw.poisonRwLock(A, w, 0);
    expect(rw.tryRead(A, w, 0, live)).toBe(false);
    markDead(A, live, 6);
    expect(rw.tryRead(A, w, 0, live)).toBe(true);
    expect(w[0]! & rw.POISONED).not.toBe(0);
    rw.clearRwPoison(A, w, 0);
    expect(w[0]).toBe(1);
  });
});

describe("raw rwlock reader slots (owner death of readers)", () => {
  it("registers shares per thread, frees the slot at zero, and reaps only dead threads' shares", () => {
    const w = words(rw.RW_LOCK_WORDS);
    const live = table();
    for (const id of [4, 4, 5]) {
      expect(rw.tryRead(A, w, 0, live)).toBe(true);
      expect(rw.registerReader(A, w, 0, id)).toBe(true);
    }
    expect(w.slice(2, 6)).toEqual(Int32Array.from([4, 2, 5, 1]));
    expect(rw.reapDeadReaders(A, w, 0, 9, live)).toBe(false); // nobody is dead
    const writer = newWaiter(0);
    expect(rw.writeStep(A, w, 0, 9, live, writer, () => 0)).toBe(false);
    markDead(A, live, 4);
    expect(rw.reapDeadReaders(A, w, 0, 9, live)).toBe(true);
    expect(w[0]! & rw.COUNT_MASK).toBe(1);
    expect(w.slice(2, 4)).toEqual(Int32Array.from([0, 0]));
    rw.unregisterReader(A, w, 0, 5);
    rw.readUnlock(A, w, 0);
    expect(w.slice(4, 6)).toEqual(Int32Array.from([0, 0]));
    expect(w[0]! & (rw.COUNT_MASK | rw.POISONED)).toBe(0); // free, and readers never poison
    expect(rw.writeStep(A, w, 0, 9, live, writer, () => 0)).toBe(true);
  });

  it("more reading threads than slots: the extra ones go untracked", () => {
    const w = words(rw.RW_LOCK_WORDS);
    for (let id = 1; id <= rw.READER_SLOTS; id++) expect(rw.registerReader(A, w, 0, id)).toBe(true);
    expect(rw.registerReader(A, w, 0, 100)).toBe(false);
  });
});

describe("raw rwlock upgradable reads", () => {
  it("shares with readers, excludes other upgradables, upgrades once it is the only share", () => {
    const w = words(rw.RW_LOCK_WORDS);
    expect(rw.tryUpgradableRead(A, w, 0, 3, undefined)).toBe(true);
    expect(w[rw.UPGRADER_WORD]).toBe(3);
    expect(rw.tryRead(A, w, 0, undefined)).toBe(true); // plain readers share
    expect(rw.tryUpgradableRead(A, w, 0, 4, undefined)).toBe(false); // one upgradable at a time
    expect(rw.tryUpgrade(A, w, 0, 3)).toBe(false); // another reader is inside
    const up = newWaiter(0);
    expect(rw.upgradeStep(A, w, 0, 3, up)).toBe(false);
    expect(up.index).toBe(1);
    expect(w[0]! & (rw.UPGRADER_WAITING | rw.WRITERS_WAITING)).toBe(rw.UPGRADER_WAITING | rw.WRITERS_WAITING);
    expect(rw.tryRead(A, w, 0, undefined)).toBe(false); // new readers wait for the upgrade
    const seq = w[1];
    rw.readUnlock(A, w, 0);
    expect(w[1]).not.toBe(seq); // leaving the upgrader alone wakes it
    expect(rw.upgradeStep(A, w, 0, 3, up)).toBe(true);
    expect(w[0]! & (rw.WRITE_LOCKED | rw.COUNT_MASK | rw.UPGRADABLE)).toBe(rw.WRITE_LOCKED | 3);
    expect(w[rw.UPGRADER_WORD]).toBe(0);
    expect(rw.writeUnlock(A, w, 0, 3)).toBe(true);
    expect(w[0]).toBe(0); // free, waiting flags cleared
  });

  it("release and downgrade give the upgradable role back; a dead upgrader's role is reaped", () => {
    const w = words(rw.RW_LOCK_WORDS);
    const live = table();
    expect(rw.tryUpgradableRead(A, w, 0, 3, live)).toBe(true);
    expect(rw.downgradeUpgradable(A, w, 0, 3)).toBe(true);
    expect(w[0]).toBe(1);
    expect(rw.tryUpgradableRead(A, w, 0, 4, live)).toBe(true);
    expect(rw.upgradableUnlock(A, w, 0, 4)).toBe(true);
    expect(w[0]).toBe(1);
    rw.readUnlock(A, w, 0);
    expect(w[0]).toBe(0);
    expect(rw.tryUpgradableRead(A, w, 0, 5, live)).toBe(true);
    expect(rw.registerReader(A, w, 0, 5)).toBe(true);
    markDead(A, live, 5);
    expect(rw.tryUpgradableRead(A, w, 0, 6, live)).toBe(true); // role reaped, share still counted
    expect(w[0]! & rw.COUNT_MASK).toBe(2);
    expect(rw.reapDeadReaders(A, w, 0, 9, live)).toBe(true); // and the dead share reclaimed
    expect(w[0]! & rw.COUNT_MASK).toBe(1);
    expect(rw.tryUpgrade(A, w, 0, 6)).toBe(true);
  });
});

describe("raw semaphore, condvar, barrier, once", () => {
  it("semaphore: permits conserved; release past the maximum is refused; close sets the sign bit", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10 }),
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 1, max: 4 })), { maxLength: 40 }),
        (initial, ops) => {
          const w = words(sem.SLOTS);
          w[0] = initial;
          let model = initial;
          for (const [take, n] of ops) {
            if (take) {
              const result = sem.tryAcquire(A, w, 0, n);
              expect(result).toBe(model >= n ? sem.ACQUIRED : sem.BUSY);
              if (model >= n) model -= n;
            } else {
              expect(sem.release(A, w, 0, n)).toBe(true);
              model += n;
            }
            expect(sem.permitsOf(w[0]!)).toBe(model);
          }
        },
      ),
    );
    const w = words(sem.SLOTS);
    w[0] = sem.MAX_PERMITS;
    expect(sem.release(A, w, 0, 1)).toBe(false);
    expect(w[0]).toBe(sem.MAX_PERMITS);
    sem.close(A, w, 0);
    expect(sem.tryAcquire(A, w, 0, 1)).toBe(sem.CLOSED);
    const waiter = sem.newSemaphoreWaiter();
    expect(sem.acquireStep(A, w, 0, 1, 1, undefined, waiter, () => 0)).toBe(sem.CLOSED);
  });

  it("semaphore: a waiter registers before parking and leaves its count on exit", () => {
    const w = words(sem.SLOTS);
    w[2] = 2; // TOTAL
    const waiter = sem.newSemaphoreWaiter();
    expect(sem.acquireStep(A, w, 0, 2, 1, undefined, waiter, () => 0)).toBe(sem.PARK);
    expect(w[1]).toBe(1);
    sem.release(A, w, 0, 2);
    expect(sem.acquireStep(A, w, 0, 2, 1, undefined, waiter, () => 0)).toBe(sem.ACQUIRED);
    sem.leave(A, w, 0, waiter);
    sem.leave(A, w, 0, waiter);
    expect(w[1]).toBe(0);
  });

  it("condvar: a notify after registering is never lost; notifyOne issues exactly one wake-up", () => {
    const w = words(2);
    expect(cv.register(A, w, 0)).toBe(true);
    expect(cv.register(A, w, 0)).toBe(true);
    const first = newWaiter(0);
    expect(cv.waitStep(A, w, 0, first)).toBe(cv.PARK);
    cv.notifyOne(A, w, 0);
    // The sequence read by the step moved on: the park returns at once.
    expect(A.wait(w, 0, first.expected, 0)).toBe("not-equal");
    expect(cv.waitStep(A, w, 0, first)).toBe(cv.WOKEN);
    const second = newWaiter(0);
    expect(cv.waitStep(A, w, 0, second)).toBe(cv.PARK);
    expect(cv.leave(A, w, 0)).toBe(cv.LEFT);
    cv.notifyAll(A, w, 0);
    expect(w[1]).toBe(0);
  });

  it("barrier: exactly one leader per generation; generations advance", () => {
    const w = words(2);
    const first = barrier.arrive(A, w, 0, 3);
    const second = barrier.arrive(A, w, 0, 3);
    const waiter = newWaiter(0);
    expect(barrier.waitStep(A, w, 0, first.generation, waiter)).toBe(false);
    const third = barrier.arrive(A, w, 0, 3);
    expect([first.leader, second.leader, third.leader]).toEqual([false, false, true]);
    expect(barrier.waitStep(A, w, 0, first.generation, waiter)).toBe(true);
    expect(barrier.arrivedOf(w[0]!)).toBe(0);
    expect(barrier.arrive(A, w, 0, 3).generation).toBe(first.generation + 1);
  });

  it("once: start, fail (next caller starts), complete (final); a dead runner is reset", () => {
    const w = words(1);
    const live = table();
    expect(once.tryStart(A, w, 0, 1, live)).toBe(once.START);
    expect(once.tryStart(A, w, 0, 2, live)).toBe(once.RUNNING);
    once.fail(A, w, 0);
    expect(once.tryStart(A, w, 0, 2, live)).toBe(once.START);
    markDead(A, live, 2);
    const waiter = newWaiter(0);
    expect(once.waitStep(A, w, 0, 3, live, waiter)).toBe(once.START);
    once.complete(A, w, 0);
    expect(once.isComplete(A, w, 0)).toBe(true);
    expect(once.tryStart(A, w, 0, 4, live)).toBe(once.COMPLETE);
  });
});
