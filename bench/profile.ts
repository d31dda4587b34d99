/**
 * Where does the time go? Runs one bench process (one library through one scenario, full sizes) under
 * `node --cpu-prof` and prints the functions with the most self time, with their file and line in the
 * transpiled build (which keeps the source's line structure).
 *
 * Usage: npx tsx bench/profile.ts <scenario> <lib> [--top N] [--no-inline]
 *   --no-inline   profile with TurboFan inlining off: slower overall, but time stays attributed to the
 *                 function that spends it instead of the caller it was inlined into.
 *
 * The .cpuprofile files stay in bench/results/partial/profiles/ (open them in Chrome DevTools).
 */

import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { compileForBench } from "./compile.js";

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..");
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: "string", default: "25" }, "no-inline": { type: "boolean", default: false } },
});
const [scenario, lib] = positionals;
if (scenario === undefined || lib === undefined) {
  process.stderr.write("usage: npx tsx bench/profile.ts <scenario> <lib> [--top N] [--no-inline]\n");
  process.exit(2);
}

const build = join(root, "node_modules", ".cache", "lockbox-bench", `profile-${process.pid}`);
const out = join(here, "results", "partial", "profiles");
mkdirSync(out, { recursive: true });
await compileForBench(root, build);
const before = new Set(readdirSync(out));
const child = spawnSync(
  process.execPath,
  [
    "--cpu-prof",
    `--cpu-prof-dir=${out}`,
    "--expose-gc",
    ...(values["no-inline"] ? ["--max-inlined-bytecode-size=0"] : []),
    join(build, "bench", "worker.js"),
    scenario,
    lib,
  ],
  { encoding: "utf8" },
);
rmSync(build, { recursive: true, force: true });
process.stdout.write(child.stdout.trim() ? `${child.stdout.trim()}\n` : "");
if (child.status !== 0) process.stderr.write(child.stderr);

// The main thread's profile is the largest new file (others: loader or worker threads).
const files = readdirSync(out).filter((f) => f.endsWith(".cpuprofile") && !before.has(f));
for (const file of files) {
  const profile = JSON.parse(readFileSync(join(out, file), "utf8")) as CpuProfile;
  const time = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    time.set(id, (time.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const self = new Map<string, number>();
  let total = 0;
  for (const node of profile.nodes) {
    const t = time.get(node.id) ?? 0;
    total += t;
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url.replace(`file://${build}/`, "").replace(/^node:/, "node:");
    const key = `${functionName || "(anonymous)"}  ${where}${url ? `:${lineNumber + 1}` : ""}`;
    self.set(key, (self.get(key) ?? 0) + t);
  }
  if (total < 50_000) continue; // an idle helper thread
  process.stdout.write(`\n${file}: ${(total / 1000).toFixed(0)} ms sampled\n`);
  for (const [key, t] of [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top))) {
    process.stdout.write(
      `${(t / 1000).toFixed(1).padStart(9)} ms ${((100 * t) / total).toFixed(1).padStart(5)}%  ${key}\n`,
    );
  }
}
