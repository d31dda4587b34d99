/**
 * `npm run bench`: lockbox against every peer and against the floors, one fresh process per
 * library × scenario × repetition. Writes latest.md, latest.json and one SVG per scenario.
 *
 * Flags:
 *   --quick             smaller sizes, 1 repetition (a smoke run; results go to bench/results/partial/)
 *   --scenarios a,b     only these scenarios (see the list with --help)
 *   --libs x,y          only these libraries (the floor and reference rows always run)
 *   --reps N            repetitions (default 5, quick 1)
 *   --out DIR           where to write results (default bench/results, or bench/results/partial/ for
 *                       a quick or filtered run, so a smoke run never overwrites the published numbers)
 *   --timeout S         seconds before a bench process is killed and reported as an error (default 120)
 *   --tsx               run the TypeScript through `node --import tsx` instead of transpiling it first
 */

import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { compileForBench } from "./compile.js";
import { checkTargets, gitCommit, type Report, type Sample, summarize, writeResults } from "./report.js";
import { SCENARIOS, type Scenario } from "./scenarios.js";
import { type ChildResult, RESULT_PREFIX, runNode } from "./util.js";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..");

const { values: flags } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    scenarios: { type: "string" },
    libs: { type: "string" },
    reps: { type: "string" },
    out: { type: "string" },
    timeout: { type: "string", default: "120" },
    tsx: { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  },
});

if (flags.help) {
  process.stdout.write(
    `usage: npm run bench -- [--quick] [--scenarios a,b] [--libs x,y] [--reps N] [--out DIR] [--timeout S]\n\nscenarios:\n${SCENARIOS.map(
      (s) => `  ${s.name.padEnd(14)} ${s.title}  [${["floor", ...(s.refs ?? []), ...s.libs].join(", ")}]`,
    ).join("\n")}\n`,
  );
  process.exit(0);
}

const list = (text: string | undefined): string[] | undefined =>
  text
    ?.split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);

const quick = flags.quick === true;
const reps = flags.reps === undefined ? (quick ? 1 : 5) : Number(flags.reps);
if (!Number.isInteger(reps) || reps < 1 || reps > 100) {
  throw new RangeError(`Expected \`--reps\` to be an integer from 1 to 100, got ${flags.reps}`);
}
const timeoutMs = Number(flags.timeout) * 1000;
if (!(timeoutMs > 0)) throw new RangeError(`Expected \`--timeout\` to be a positive number, got ${flags.timeout}`);

const wantScenarios = list(flags.scenarios);
const wantLibs = list(flags.libs);
const unknown = wantScenarios?.filter((name) => !SCENARIOS.some((s) => s.name === name)) ?? [];
if (unknown.length > 0) {
  throw new RangeError(
    `Expected \`--scenarios\` to name scenarios from ${SCENARIOS.map((s) => s.name).join(", ")}, got ${unknown.join(", ")}`,
  );
}
const scenarios = SCENARIOS.filter((s) => wantScenarios === undefined || wantScenarios.includes(s.name));
const partial = quick || wantScenarios !== undefined || wantLibs !== undefined;
const outDir = resolve(flags.out ?? join(here, "results", partial ? "partial" : ""));

/**
 * Libraries of a scenario in this run: the floor and the reference rows (always: every ratio and the
 * targets' context need them), then the compared libraries that `--libs` keeps.
 */
function libsOf(scenario: Scenario): string[] {
  const kept = scenario.libs.filter((lib) => wantLibs === undefined || wantLibs.includes(lib));
  return ["floor", ...(scenario.refs ?? []), ...kept];
}

interface Job {
  rep: number;
  scenario: Scenario;
  lib: string;
}

// Repetitions are interleaved (all of rep 1, then all of rep 2, …) and each repetition rotates the order
// of libraries, so slow drift on a shared machine (other load, thermal state) spreads over every row
// instead of landing on whoever ran last.
const jobs: Job[] = [];
for (let rep = 0; rep < reps; rep++) {
  for (const scenario of scenarios) {
    if (rep >= (scenario.maxReps ?? reps)) continue;
    const libs = libsOf(scenario);
    const shift = rep % libs.length;
    for (const lib of [...libs.slice(shift), ...libs.slice(0, shift)]) jobs.push({ rep, scenario, lib });
  }
}

const isTty = process.stderr.isTTY === true;
function progress(text: string): void {
  if (isTty) process.stderr.write(`\r\x1b[K${text}`);
  else process.stderr.write(`${text}\n`);
}

// Bench processes run transpiled JavaScript by default (see compile.ts): bare `node` starts in a fraction
// of the time `node --import tsx` takes, and startup is not what is measured.
const useTsx = flags.tsx === true;
// One directory per run, so two runs at once (a smoke run beside a full one) cannot clobber each other.
const buildDir = join(root, "node_modules", ".cache", "lockbox-bench", String(process.pid));
if (!useTsx) {
  progress("transpiling src/ and bench/ …");
  await compileForBench(root, buildDir);
  process.on("exit", () => rmSync(buildDir, { recursive: true, force: true }));
}
const workerEntry = useTsx ? ["--import", "tsx", join(here, "worker.ts")] : [join(buildDir, "bench", "worker.js")];

async function runChild(job: Job): Promise<ChildResult> {
  const args = [
    ...(job.scenario.gc === true ? ["--expose-gc"] : []),
    ...workerEntry,
    job.scenario.name,
    job.lib,
    ...(quick ? ["--quick"] : []),
  ];
  const { code, signal, stdout, stderr } = await runNode(args, root, timeoutMs);
  const line = stdout.split("\n").find((l) => l.startsWith(RESULT_PREFIX));
  if (line !== undefined) return JSON.parse(line.slice(RESULT_PREFIX.length)) as ChildResult;
  if (signal === "SIGKILL") return { status: "error", message: `timed out after ${timeoutMs / 1000} s (hung?)` };
  return { status: "error", message: `exited with ${signal ?? code}: ${stderr.trim().slice(0, 500)}` };
}

// Before anything is written: the results are tracked files, and would make the tree look dirty.
const commit = gitCommit(here);
const started = Date.now();
const loadAtStart = loadavg()[0] ?? 0;
const samples = new Map<string, Map<string, Sample[]>>();
/** Scenario/lib pairs that were skipped or wrong: not repeated (the outcome does not change). */
const settled = new Set<string>();
for (const scenario of scenarios) {
  samples.set(scenario.name, new Map(libsOf(scenario).map((lib) => [lib, []])));
}

for (const [i, job] of jobs.entries()) {
  const key = `${job.scenario.name}\0${job.lib}`;
  if (settled.has(key)) continue;
  const elapsed = (Date.now() - started) / 1000;
  const eta = i === 0 ? "" : ` · eta ${Math.round((elapsed / i) * (jobs.length - i))} s`;
  progress(
    `[${String(i + 1).padStart(String(jobs.length).length)}/${jobs.length}] rep ${job.rep + 1}/${reps} ${job.scenario.name} · ${job.lib} · ${elapsed.toFixed(0)} s${eta}`,
  );
  const result = await runChild(job);
  const list = samples.get(job.scenario.name)?.get(job.lib) as Sample[];
  if (result.status === "ok") list.push({ status: "ok", value: result.value, extra: result.extra });
  else {
    list.push({ status: result.status, message: result.message });
    if (result.status !== "error") settled.add(key);
    if (isTty) process.stderr.write("\n");
    progress(`  ${job.scenario.name} · ${job.lib}: ${result.status}: ${result.message.split("\n")[0]}`);
  }
}
const seconds = (Date.now() - started) / 1000;
if (isTty) process.stderr.write("\n");

const summaries = scenarios.map((s) => summarize(s, samples.get(s.name) as Map<string, Sample[]>));
const argv = process.argv.slice(2);
const report: Report = {
  meta: {
    date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    node: process.version,
    cpu: cpus()[0]?.model.trim() ?? "unknown CPU",
    cores: cpus().length,
    reps,
    quick,
    seconds,
    load: [loadAtStart, loadavg()[0] ?? 0],
    command: `npm run bench${argv.length > 0 ? ` -- ${argv.join(" ")}` : ""}`,
    commit,
  },
  scenarios: summaries,
  targets: checkTargets(summaries),
};

mkdirSync(outDir, { recursive: true });
if (partial && flags.out === undefined) writeFileSync(join(outDir, ".gitignore"), "*\n");
writeFileSync(join(outDir, "latest.json"), `${JSON.stringify(report, null, 2)}\n`);
writeResults(outDir, report);

const rel = relative(process.cwd(), outDir) || ".";
process.stderr.write(`done in ${seconds.toFixed(0)} s → ${rel}/latest.md, latest.json, <scenario>.svg\n`);
for (const t of report.targets) {
  if (t.met === undefined) continue;
  process.stderr.write(
    `  target ${t.name}: ${t.goal} — ${t.measured} (CPU: ${t.cpu ?? "–"}) — ${t.met ? "met" : "MISSED"}\n`,
  );
}
const wrong = summaries.flatMap((s) => s.rows.filter((r) => r.status === "wrong").map((r) => `${s.name}/${r.lib}`));
if (wrong.length > 0) process.stderr.write(`  wrong results: ${wrong.join(", ")}\n`);
// A smoke run (--quick --reps 1) fails when the bench itself is broken: a floor or lockbox that errors
// or gives a wrong result. Peers that are wrong are findings, not failures.
const broken = summaries.flatMap((s) =>
  s.rows.filter((r) => (r.kind === "floor" || r.kind === "lockbox") && (r.status === "wrong" || r.status === "error")),
);
process.exitCode = broken.length > 0 ? 1 : 0;
