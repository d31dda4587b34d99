/**
 * Every file in examples/ runs as a user would run it (`tsx examples/x.ts`) and prints what it claims.
 * Type-checking of the examples is part of `npm run typecheck` (tsconfig includes examples/).
 */
import { execFile } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);
const root = new URL("..", import.meta.url).pathname;

/** What each example must print; an example missing here fails the suite, so none runs unchecked. */
const expected: Record<string, RegExp[]> = {
  "quick-start.ts": [/hits after 10 concurrent read-modify-writes: 10/, /locked after the block\? false/],
  "rwlock-cache.ts": [/loads: 2 /, /readers now: 0, write-locked: false/],
  "semaphore-fetch.ts": [/\/e -> gave up waiting for a slot/, /at most 2 in flight; 2 permits free at the end/],
  "arc-mutex.ts": [/total: 300/, /strong count after the tasks: 1/, /disposed: true/],
  "refcell-track.ts": [/BorrowMutError/, /taken at:\s+at render \(.*refcell-track\.ts:\d+/, /theme now light/],
  "worker-pool.ts": [/counter: 40000 \(expected 40000\)/],
  "worker-poison.ts": [
    /worker died \(intended\): crashed on purpose/,
    /PoisonError/,
    /half-updated: alice 400, bob 500 \(total 900\)/,
    /after clearPoison: locked fine; alice 500, bob 500/,
  ],
  "deadlock.ts": [
    /\[potential deadlock\] Potential deadlock \(lock-order inversion\): alice is taken while holding bob/,
    /transfer: done/,
    /transfer: Deadlock: this wait would close a cycle of 2 waits, so it is refused/,
    /alice was taken at:\s+at transfer \(.*deadlock\.ts:\d+/,
    /balances: alice 70, bob 130 \(total 200\)/,
    /\[long wait\] Long wait: waiting for alice for \d+ ms \(longWait: 50 ms\)/,
    /alice\s+Mutex\s+4\s+1\s+0\s+0\s+1/,
  ],
  "redis-stock.ts": [
    /sold: 10, refused: 2, left in Redis: 0/,
    /fencing tokens strictly increasing in grant order: true/,
  ],
  "explore-lost-update.ts": [
    /found: overdraft: balance -40 in run \d+, 1 preemption/,
    /replay string: \S+/,
    /replayed: same failure/,
  ],
  "explore-node-test.ts": [/exhaustive: \d+ schedules, all passed/, /# pass 2/, /# fail 0/],
  "postgres-once.ts": [/the job ran 1 time\(s\) across 3 replicas/],
  "postgres-balance.ts": [
    /balance: 100 \(expected 100\)/,
    /ledger: 100 rows, in token order each one higher by 1: true/,
  ],
};

/**
 * showcase.ts (the `npm start` tour) runs every example above again in one process; running it here too
 * would double the slowest part of this file. test/tour/tour.test.ts runs it (with --all, in a real
 * terminal and piped) and checks what it prints.
 */
const coveredElsewhere = new Set(["showcase.ts"]);

const files = readdirSync(new URL("../examples", import.meta.url)).filter(
  (f) => f.endsWith(".ts") && !coveredElsewhere.has(f),
);

/**
 * Each example starts its own processes or workers (tsx compiles each one); under a loaded machine that
 * takes far longer than on a quiet one, so the limit is generous. A hang still fails.
 */
const EXAMPLE_TIMEOUT_MS = 120_000;

describe("examples", () => {
  it("every example has expectations", () => {
    expect(files.filter((f) => !(f in expected))).toEqual([]);
    expect([...coveredElsewhere].filter((f) => !existsSync(new URL(`../examples/${f}`, import.meta.url)))).toEqual([]);
  });

  it.each(files)(
    "%s runs and prints what it shows",
    async (file) => {
      const { stdout } = await run(process.execPath, ["--import", "tsx", `examples/${file}`], {
        cwd: root,
        timeout: EXAMPLE_TIMEOUT_MS - 5_000,
      });
      for (const pattern of expected[file] ?? []) expect(stdout).toMatch(pattern);
    },
    EXAMPLE_TIMEOUT_MS,
  );
});
