/**
 * Model checking raw-mutex's revertOrphanedHandoff (what `Mutex.tryLock` does with a hand-off left
 * pending): taking a hand-off back never breaks exclusion, even when the waiter it was meant for is
 * alive and claims it at the same moment.
 */
import { describe, expect, it } from "vitest";
import {
  CONTENDED,
  HANDOFF,
  type HandoffSighting,
  lockStepper,
  lockWait,
  ORPHANED_AFTER_MS,
  revertOrphanedHandoff,
  tryLock,
  unlock,
} from "../../../src/threads/raw/raw-mutex.js";
import { newWaiter } from "../../../src/threads/raw/waiter.js";
import { ownerId } from "./drivers.js";
import { budget, check, explore, type Program, type ThreadContext } from "./explorer.js";

type Revert = typeof revertOrphanedHandoff;

/** T0: the starving waiter the hand-off was made for (it has slept). T1: a tryLock caller, later on. */
function program(revert: Revert): Program<Int32Array> {
  return {
    setup: () => Int32Array.of(CONTENDED | HANDOFF),
    names: (mem) => ({ mem }),
    threads: [
      (ctx: ThreadContext, mem: Int32Array) => {
        const waiter = newWaiter(0);
        waiter.parked = true;
        waiter.reported = true;
        waiter.slept = true;
        const step = lockStepper(ctx.atomics, mem, 0, ownerId(ctx), undefined, ctx.now);
        expect(lockWait(ctx.atomics, mem, 0, step, waiter, Number.POSITIVE_INFINITY, ctx.now)).toBe(true);
        ctx.enter("cs");
        ctx.leave("cs");
        expect(unlock(ctx.atomics, mem, 0, ownerId(ctx))).toBe(true);
      },
      (ctx: ThreadContext, mem: Int32Array) => {
        // Two sightings far enough apart (a local clock: the tryLock caller's own readings).
        let t = 0;
        const clock = () => (t += ORPHANED_AFTER_MS);
        const sighting: HandoffSighting = { word: 0, since: 0 };
        for (let k = 0; k < 2; k++) {
          if (tryLock(ctx.atomics, mem, 0, ownerId(ctx), undefined)) break;
          if (!revert(ctx.atomics, mem, 0, sighting, clock)) continue;
          if (tryLock(ctx.atomics, mem, 0, ownerId(ctx), undefined)) break;
        }
        if (ctx.atomics.load(mem, 0) >>> 8 !== ownerId(ctx)) return "busy";
        ctx.enter("cs");
        ctx.leave("cs");
        expect(unlock(ctx.atomics, mem, 0, ownerId(ctx))).toBe(true);
        return "took it";
      },
    ],
    final: (mem) => expect(mem[0]).toBe(0),
  };
}

describe("raw mutex: taking back an orphaned hand-off (model)", () => {
  it("exclusion holds whether the live waiter claims first or the tryLock caller takes it back", () => {
    let tookIt = 0;
    const report = check(program(revertOrphanedHandoff), {
      ...budget({ preemptionBound: 2, timeouts: 1 }),
      onSchedule: (steps) => {
        if (steps.some((s) => s.thread === 1 && s.text === "compareExchange(mem[0], 18, 0) -> 18")) tookIt++;
      },
    });
    expect(report.complete).toBe(true);
    expect(tookIt).toBeGreaterThan(0);
  });

  it("mutant: taking it back with a blind store clobbers the waiter's claim (two holders)", () => {
    const blind: Revert = (A, w, i, sighting, now) => {
      const s = A.load(w, i);
      if ((s & HANDOFF) === 0) return false;
      const t = now();
      if (sighting.word !== s) {
        sighting.word = s;
        sighting.since = t;
        return false;
      }
      A.store(w, i, 0); // BUG (on purpose): not a compare-exchange
      return true;
    };
    const report = explore(program(blind), { preemptionBound: 2, timeouts: 1 });
    expect(["exclusion", "thread-error", "final"]).toContain(report.failure?.kind);
  });
});
