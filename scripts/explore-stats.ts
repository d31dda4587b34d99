/**
 * How many runs `explore` needs to find each of the six bugs of test/testing/programs.ts, at seeds
 * 1..20, per strategy (random, pct), and how many the exhaustive search needs (no seed). Shrinking is
 * off: this counts the runs of the search itself. Then the cost of a run: wall time of 1000 random
 * runs of each correct version (all pass), and the schedules an exhaustive search (bound 2) covers.
 *
 *   npx tsx scripts/explore-stats.ts            # seeds 1..20
 *   SEEDS=50 npx tsx scripts/explore-stats.ts   # seeds 1..50
 */
import { ExplorationError, explore } from "../src/testing/index.js";
import { programs } from "../test/testing/programs.js";

const seeds = Number(process.env.SEEDS ?? 20);
const cap = 10_000;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

async function runsToFind(
  body: Parameters<typeof explore>[0],
  options: Parameters<typeof explore>[1],
): Promise<number> {
  try {
    await explore(body, { ...options, runs: cap, shrink: false });
    return Number.POSITIVE_INFINITY;
  } catch (error) {
    if (!(error instanceof ExplorationError)) throw error;
    return error.run;
  }
}

const rows: string[][] = [["bug", "random: median (min-max)", "pct: median (min-max)", "exhaustive"]];
for (const program of programs) {
  const row = [program.name];
  for (const strategy of ["random", "pct"] as const) {
    const runs: number[] = [];
    for (let seed = 1; seed <= seeds; seed++) runs.push(await runsToFind(program.buggy, { strategy, seed }));
    row.push(`${median(runs)} (${Math.min(...runs)}-${Math.max(...runs)})`);
  }
  row.push(String(await runsToFind(program.buggy, { strategy: "exhaustive" })));
  rows.push(row);
}
const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] as string).length))) ?? [];
console.log(`Runs needed to find each bug (seeds 1..${seeds}, shrinking off, cap ${cap}):`);
for (const row of rows) console.log(row.map((cell, i) => cell.padEnd(widths[i] as number)).join("  "));

console.log("\nCorrect versions: 1000 random runs (seed 1), and the exhaustive search with preemptionBound 2:");
for (const program of programs) {
  const started = performance.now();
  const random = await explore(program.correct, { strategy: "random", seed: 1, runs: 1000 });
  const randomMs = performance.now() - started;
  const t0 = performance.now();
  const all = await explore(program.correct, { strategy: "exhaustive", preemptionBound: 2, runs: 100_000 });
  const allMs = performance.now() - t0;
  console.log(
    `${program.name.padEnd(58)} random: ${random.runs} runs (${random.schedulesExplored} distinct) in ${randomMs.toFixed(0)} ms` +
      `; exhaustive: ${all.schedulesExplored} schedules${all.exhaustive ? "" : " (capped)"} in ${allMs.toFixed(0)} ms`,
  );
}
