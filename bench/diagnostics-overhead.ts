/**
 * What the diagnostics observer slot costs while diagnostics are off: lockbox's own bench processes
 * (the same `bench/worker.ts` scenarios `npm run bench` runs) on two versions of `src/`, A/B.
 *
 * ```sh
 * npx tsx bench/diagnostics-overhead.ts                      # before: 11cd930^ (the commit before the observer), after: this tree
 * npx tsx bench/diagnostics-overhead.ts --reps 9 --scenarios uncontended,contended
 * npx tsx bench/diagnostics-overhead.ts --before <ref> --after <ref>   # any two commits
 * ```
 *
 * - A ref is exported with `git archive` (src/ and bench/ only, no worktree) and transpiled like the
 *   bench runner does (`compile.ts`), into `node_modules/.cache/lockbox-overhead/<pid>/` (removed at
 *   the end). The working tree (the default `--after`) is transpiled as it is, uncommitted edits included.
 * - Both sides run the *same* scenario code: the `bench/` of `--after` is used for both (the scenarios
 *   call lockbox only through its public API), so only `src/` differs.
 * - Interleaved: every repetition runs each scenario on both sides, in an order that alternates (AB, BA,
 *   …), one fresh process each, so machine-load drift lands on both sides alike.
 * - Figures per process: the fastest of the scenario's measured passes, wall clock and (in-process
 *   scenarios) CPU time per operation (`process.cpuUsage()`, all threads); and the whole process's CPU
 *   time (startup, check and warm-up included), the only CPU figure the threads scenarios have.
 *   Tables show median [min–max] over repetitions, after ÷ before of the medians, and the p-value of a
 *   Mann–Whitney U test (is the difference more than this machine's noise?). Run `--after` equal to
 *   `--before` (an A/A run) to see the noise itself.
 * - `--same-process` adds a second view: both builds loaded in one process, alternating passes of the
 *   same two loops (uncontended: one task, lock/increment/release; contended: 100 tasks × 1,000, holding
 *   across an `await`), 30 passes each per process, three processes. Both sides then share the machine's
 *   state at every moment, which cancels most of the load noise that separate processes see.
 */

import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { compileForBench } from "./compile.js";
import { SCENARIOS } from "./scenarios.js";
import { type ChildResult, median, RESULT_PREFIX, runNode } from "./util.js";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..");

const { values: flags } = parseArgs({
  options: {
    before: { type: "string", default: "11cd930^" },
    after: { type: "string" },
    scenarios: { type: "string", default: "uncontended,contended,threads-sync,threads-async" },
    reps: { type: "string", default: "5" },
    "same-process": { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  },
});
if (flags.help) {
  process.stdout.write(
    "usage: npx tsx bench/diagnostics-overhead.ts [--before REF] [--after REF] [--scenarios a,b] [--reps N]\n" +
      "  --before  git ref of the baseline (default 11cd930^, the commit before the observer slot)\n" +
      "  --after   git ref to compare (default: this working tree)\n" +
      "  --same-process  also load both builds in one process and alternate uncontended and contended\n" +
      "                  passes of the lockbox Mutex (CPU ns per acquisition; 3 such processes)\n",
  );
  process.exit(0);
}
const reps = Number(flags.reps);
if (!Number.isInteger(reps) || reps < 1 || reps > 100) {
  throw new RangeError(`Expected \`--reps\` to be an integer from 1 to 100, got ${flags.reps}`);
}
const names = (flags.scenarios as string).split(",").map((s) => s.trim());
const scenarios = names.map((name) => {
  const scenario = SCENARIOS.find((s) => s.name === name);
  if (scenario === undefined) {
    throw new RangeError(
      `Expected \`--scenarios\` to name scenarios from ${SCENARIOS.map((s) => s.name).join(", ")}, got ${name}`,
    );
  }
  return scenario;
});

const work = join(root, "node_modules", ".cache", "lockbox-overhead", String(process.pid));
process.on("exit", () => rmSync(work, { recursive: true, force: true }));
// Interrupted: still remove the transpiled copies ("exit" handlers run on process.exit).
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => process.exit(130));

/** Transpiles `src/` of `ref` (or of this tree) with this tree's `bench/` into `work/<side>`. */
async function build(side: string, ref: string | undefined): Promise<string> {
  const source = join(work, `${side}-source`);
  mkdirSync(source, { recursive: true });
  if (ref === undefined) {
    execFileSync("cp", ["-r", join(root, "src"), source]);
  } else {
    const tar = execFileSync("git", ["-C", root, "archive", "--format=tar", ref, "src"], {
      maxBuffer: 256 * 1024 * 1024,
    });
    execFileSync("tar", ["-x", "-C", source], { input: tar });
  }
  execFileSync("cp", ["-r", here, join(source, "bench")]);
  const out = join(work, side);
  await compileForBench(source, out);
  return join(out, "bench", "worker.js");
}

process.stderr.write("transpiling both sides …\n");
const sides = {
  before: await build("before", flags.before),
  after: await build("after", flags.after),
};
const labels = { before: flags.before as string, after: flags.after ?? "working tree" };

/** The `--same-process` runner: imports both builds' `src/index.js` and alternates passes. */
const SAME_PROCESS_RUNNER = `
const [before, after] = await Promise.all(process.argv.slice(2, 4).map((p) => import(p)));
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) * 1000; };
async function uncontended(Mutex) {
  const m = new Mutex(0);
  const n = 300000;
  const c0 = cpu();
  for (let j = 0; j < n; j++) { const g = await m.lock(); g.value = g.value + 1; g.release(); }
  return (cpu() - c0) / n;
}
async function contended(Mutex) {
  const m = new Mutex(0);
  const task = async () => {
    for (let j = 0; j < 1000; j++) { const g = await m.lock(); const v = g.value; await null; g.value = v + 1; g.release(); }
  };
  const c0 = cpu();
  await Promise.all(Array.from({ length: 100 }, task));
  if (m.tryLock().value !== 100000) throw new Error("lost updates");
  return (cpu() - c0) / 100000;
}
const out = {};
for (const [name, loop] of [["uncontended", uncontended], ["contended", contended]]) {
  for (let i = 0; i < 3; i++) { await loop(before.Mutex); await loop(after.Mutex); }
  const r = { before: [], after: [] };
  for (let i = 0; i < 30; i++) {
    for (const side of i % 2 ? ["before", "after"] : ["after", "before"]) {
      r[side].push(await loop(side === "before" ? before.Mutex : after.Mutex));
    }
  }
  out[name] = r;
}
process.stdout.write(JSON.stringify(out));
`;

// Prints the whole process's CPU time (µs) as it exits: the worker ends with process.exit(0).
const CPU_HOOK =
  "data:text/javascript,process.on('exit',()=>{const u=process.cpuUsage();process.stdout.write('@@cpu '+(u.user+u.system)+'\\n')})";

interface Run {
  ns: number;
  cpuNs: number | undefined;
  processCpuMs: number;
}

async function runChild(worker: string, scenario: string, gc: boolean): Promise<Run> {
  const args = [...(gc ? ["--expose-gc"] : []), "--import", CPU_HOOK, worker, scenario, "lockbox"];
  const { code, stdout, stderr } = await runNode(args, root);
  const line = stdout.split("\n").find((l) => l.startsWith(RESULT_PREFIX));
  const cpu = stdout.split("\n").find((l) => l.startsWith("@@cpu "));
  if (line === undefined || cpu === undefined) {
    throw new Error(`${scenario} exited with ${code}: ${stderr.slice(0, 500)}`);
  }
  const result = JSON.parse(line.slice(RESULT_PREFIX.length)) as ChildResult;
  if (result.status !== "ok") throw new Error(`${scenario}: ${result.status}: ${result.message}`);
  return { ns: result.value, cpuNs: result.extra.cpuNs, processCpuMs: Number(cpu.slice(6)) / 1000 };
}

type Side = keyof typeof sides;
const results = new Map<string, Record<Side, Run[]>>(scenarios.map((s) => [s.name, { before: [], after: [] }]));
const loadStart = loadavg()[0] ?? 0;
const started = Date.now();
for (let rep = 0; rep < reps; rep++) {
  for (const [i, scenario] of scenarios.entries()) {
    const order: Side[] = (rep + i) % 2 === 0 ? ["before", "after"] : ["after", "before"];
    for (const side of order) {
      process.stderr.write(`rep ${rep + 1}/${reps} ${scenario.name} ${side}\n`);
      const run = await runChild(sides[side], scenario.name, scenario.gc === true);
      results.get(scenario.name)?.[side].push(run);
    }
  }
}
const loadEnd = loadavg()[0] ?? 0;

function cell(values: number[], digits: number): string {
  if (values.length === 0) return "–";
  return `${median(values).toFixed(digits)} [${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)}]`;
}
function ratio(a: number[], b: number[]): string {
  return a.length === 0 || b.length === 0 ? "–" : `${(median(b) / median(a)).toFixed(3)}`;
}

/**
 * Two-sided p-value of the Mann–Whitney U test (normal approximation with tie correction): the chance
 * of a difference in ranks at least this large if both sides came from the same distribution. A small
 * p (say < 0.05) says the sides differ; a large one says the difference is within the noise.
 */
function mannWhitneyP(a: number[], b: number[]): number {
  const all = [...a.map((v) => ({ v, side: 0 })), ...b.map((v) => ({ v, side: 1 }))].sort((x, y) => x.v - y.v);
  const ranks = new Array<number>(all.length);
  let ties = 0;
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j + 1 < all.length && all[j + 1]?.v === all[i]?.v) j++;
    const t = j - i + 1;
    ties += t ** 3 - t;
    for (let k = i; k <= j; k++) ranks[k] = (i + j) / 2 + 1;
    i = j + 1;
  }
  const n1 = a.length;
  const n2 = b.length;
  const n = n1 + n2;
  let r1 = 0;
  for (const [i, x] of all.entries()) if (x.side === 0) r1 += ranks[i] as number;
  const u = r1 - (n1 * (n1 + 1)) / 2;
  const mean = (n1 * n2) / 2;
  const sd = Math.sqrt(((n1 * n2) / 12) * (n + 1 - ties / (n * (n - 1))));
  if (sd === 0) return 1;
  const z = (Math.abs(u - mean) - 0.5) / sd;
  return Math.min(1, 2 * (1 - normalCdf(Math.max(0, z))));
}

/** Standard normal CDF (Abramowitz–Stegun 7.1.26 for erf; error below 1.5e-7). */
function normalCdf(z: number): number {
  const x = z / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return 0.5 * (1 + (1 - poly * Math.exp(-x * x)));
}

const lines = [
  `Diagnostics off, A/B: before = ${labels.before}, after = ${labels.after}; ${reps} interleaved repetitions, ` +
    `${new Date().toISOString().replace(/\.\d+Z$/, "Z")}, node ${process.version}, load ${loadStart.toFixed(1)} → ${loadEnd.toFixed(1)}, ` +
    `${((Date.now() - started) / 1000).toFixed(0)} s`,
  "",
  "| scenario | metric | before: median [min–max] | after: median [min–max] | after ÷ before | p (Mann–Whitney) |",
  "| --- | --- | --- | --- | --- | --- |",
];
for (const scenario of scenarios) {
  const r = results.get(scenario.name) as Record<Side, Run[]>;
  const metrics: [string, (run: Run) => number | undefined, number][] = [
    [`wall ${scenario.unit}`, (run) => run.ns, 1],
    [`CPU ${scenario.unit}`, (run) => run.cpuNs, 1],
    ["process CPU ms", (run) => run.processCpuMs, 0],
  ];
  for (const [label, pick, digits] of metrics) {
    const a = r.before.map(pick).filter((v): v is number => v !== undefined);
    const b = r.after.map(pick).filter((v): v is number => v !== undefined);
    if (a.length === 0 && b.length === 0) continue;
    const p = a.length > 1 && b.length > 1 ? mannWhitneyP(a, b).toFixed(2) : "–";
    lines.push(`| ${scenario.name} | ${label} | ${cell(a, digits)} | ${cell(b, digits)} | ${ratio(a, b)} | ${p} |`);
  }
}
if (flags["same-process"]) {
  const runner = join(work, "same-process.mjs");
  writeFileSync(runner, SAME_PROCESS_RUNNER);
  const index = (worker: string) => join(dirname(dirname(worker)), "src", "index.js");
  lines.push(
    "",
    "Same process, alternating passes (CPU ns per acquisition; per process: median of 30 passes per side):",
    "",
    "| loop | process | before | after | after ÷ before |",
    "| --- | --- | --- | --- | --- |",
  );
  for (let i = 1; i <= 3; i++) {
    process.stderr.write(`same process ${i}/3\n`);
    const text = execFileSync(process.execPath, [runner, index(sides.before), index(sides.after)], {
      encoding: "utf8",
    });
    const out = JSON.parse(text) as Record<string, { before: number[]; after: number[] }>;
    for (const [loop, r] of Object.entries(out)) {
      lines.push(
        `| ${loop} | ${i} | ${median(r.before).toFixed(1)} | ${median(r.after).toFixed(1)} | ${ratio(r.before, r.after)} |`,
      );
    }
  }
}
process.stdout.write(`${lines.join("\n")}\n`);
