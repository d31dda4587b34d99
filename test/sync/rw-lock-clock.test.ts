/**
 * In-process RwLock: the upgradable read's shared timeout is measured on the monotonic clock (issue 9,
 * finding 16, "the upgradable timeout reads Date.now()"). A wall clock that jumps (NTP, a suspended
 * laptop, a test's fake Date) must neither cut the wait short nor stretch it.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { RwLock } from "../../src/index.js";
import { assertPending } from "../helpers/poll.js";

afterEach(() => {
  vi.restoreAllMocks();
});

describe("RwLock.upgradableRead({ timeout }): the timeout spans both steps on the monotonic clock", () => {
  it("a wall-clock jump of an hour while it waits for the upgradable slot does not time it out", async () => {
    const lock = new RwLock(0);
    const holder = await lock.upgradableRead();
    // Waits for the upgradable slot (first step), with a generous timeout.
    const pending = lock.upgradableRead({ timeout: 5_000 });
    // A writer queues behind the holder: when the holder leaves, the writer takes the shared permits
    // first, so the second step (a shared permit) has to wait with what is left of the timeout.
    const writer = lock.write();
    const realNow = Date.now();
    vi.spyOn(Date, "now").mockImplementation(() => realNow + 3_600_000);
    holder.release();
    const guard = await writer;
    await new Promise((resolve) => setTimeout(resolve, 30)); // let any (wrongly) expired timer fire
    await assertPending(pending); // still waiting, not timed out by the jump
    guard.release();
    const upgradable = await pending;
    expect(upgradable.released).toBe(false);
    upgradable.release();
    expect(lock.readers).toBe(0);
  });
});
