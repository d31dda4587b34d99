/**
 * Turns the runner's samples into the published results: a Markdown table per scenario, a JSON file,
 * and one hand-written SVG bar chart per scenario (ratio to the floor on a linear axis, min–max
 * whiskers). No dependencies: the SVG is plain strings.
 *
 * Run directly, it re-renders the Markdown and the charts of a results directory from its
 * `latest.json` without measuring anything: `npx tsx bench/report.ts [dir]` (default bench/results).
 */

import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Scenario } from "./scenarios.js";
import { median } from "./util.js";

export type RowKind = "lockbox" | "floor" | "peer" | "ref";
export type RowStatus = "ok" | "wrong" | "skipped" | "error";

export interface Row {
  lib: string;
  kind: RowKind;
  status: RowStatus;
  /** Why the row is wrong, skipped or failed. */
  message?: string | undefined;
  samples: number[];
  /** Repetitions that failed (error or timeout) while others succeeded. */
  failedRuns: number;
  median: number;
  min: number;
  max: number;
  /** median / floor median from the same run (lower is better). */
  ratio: number;
  ratioMin: number;
  ratioMax: number;
  /** Median of each extra metric over the repetitions. */
  extra: Record<string, number>;
}

export interface ScenarioReport {
  name: string;
  title: string;
  description: string;
  unit: string;
  extras: Record<string, string>;
  floorMedian: number;
  rows: Row[];
}

export interface Target {
  name: string;
  goal: string;
  /** On wall-clock medians: this decides `met`. */
  measured: string;
  /** The same figure on CPU-time medians (steadier on a shared machine). */
  cpu?: string | undefined;
  /** The best any implementation of the same job reached in this run (the floor), for context. */
  ceiling?: string | undefined;
  /** `undefined` when it could not be measured in this run. */
  met: boolean | undefined;
}

export interface Report {
  meta: {
    date: string;
    node: string;
    cpu: string;
    cores: number;
    reps: number;
    quick: boolean;
    seconds: number;
    /** 1-minute load average at the start and at the end of the run (other work on the machine). */
    load: [number, number];
    command: string;
    /** The source the numbers were measured at (absent in results from before it was recorded). */
    commit?: Commit | undefined;
  };
  scenarios: ScenarioReport[];
  targets: Target[];
}

/** The git commit a run measured. */
export interface Commit {
  /** Short sha of `HEAD`, or `"unknown"` outside a git checkout. */
  sha: string;
  /** Whether tracked files differed from `HEAD` (`null`: not known). */
  dirty: boolean | null;
  /** How the commit was found, when it was not recorded by the run itself. */
  note?: string | undefined;
}

/**
 * The commit being measured: `HEAD`'s short sha and whether tracked files differ from it (call it
 * before writing any results, which are tracked files themselves).
 */
export function gitCommit(cwd: string): Commit {
  const git = (...args: string[]): string =>
    execFileSync("git", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  try {
    const sha = git("rev-parse", "--short", "HEAD");
    const dirty = git("status", "--porcelain", "--untracked-files=no") !== "";
    return { sha, dirty };
  } catch {
    return { sha: "unknown", dirty: null, note: "not a git checkout" };
  }
}

/** `commit 8863445`, `commit 8863445 with uncommitted changes`, plus the note when there is one. */
export function describeCommit(commit: Commit | undefined): string {
  if (commit === undefined) return "commit not recorded";
  const state =
    commit.dirty === true ? " with uncommitted changes" : commit.dirty === false ? "" : " (working tree state unknown)";
  return `commit ${commit.sha}${state}${commit.note === undefined ? "" : `; ${commit.note}`}`;
}

export interface Sample {
  status: RowStatus;
  message?: string | undefined;
  value?: number | undefined;
  extra?: Record<string, number> | undefined;
}

export function kindOf(lib: string): RowKind {
  if (lib === "lockbox") return "lockbox";
  if (lib === "floor") return "floor";
  if (lib === "await-null" || lib === "floor+guard") return "ref";
  return "peer";
}

/** Aggregates one scenario's samples: medians, min–max, ratios to the floor's median. */
export function summarize(scenario: Scenario, samples: Map<string, Sample[]>): ScenarioReport {
  const rows: Row[] = [];
  for (const [lib, list] of samples) {
    const bad = list.find((s) => s.status === "wrong") ?? list.find((s) => s.status !== "ok");
    const ok = list.filter((s) => s.status === "ok");
    const values = ok.map((s) => s.value as number);
    const extra: Record<string, number> = {};
    for (const key of Object.keys(ok[0]?.extra ?? {})) extra[key] = median(ok.map((s) => s.extra?.[key] ?? Number.NaN));
    rows.push({
      lib,
      kind: kindOf(lib),
      // One wrong result disqualifies; an error in some repetitions only is reported beside the rest.
      status: bad?.status === "wrong" ? "wrong" : ok.length > 0 ? "ok" : (bad?.status ?? "error"),
      message: bad?.message,
      samples: values,
      failedRuns: list.length - ok.length,
      median: median(values),
      min: values.length > 0 ? Math.min(...values) : Number.NaN,
      max: values.length > 0 ? Math.max(...values) : Number.NaN,
      ratio: Number.NaN,
      ratioMin: Number.NaN,
      ratioMax: Number.NaN,
      extra,
    });
  }
  const floor = rows.find((r) => r.kind === "floor" && r.status === "ok");
  const floorMedian = floor?.median ?? Number.NaN;
  for (const row of rows) {
    row.ratio = row.median / floorMedian;
    row.ratioMin = row.min / floorMedian;
    row.ratioMax = row.max / floorMedian;
  }
  rows.sort((a, b) => rankKey(a) - rankKey(b) || a.median - b.median || a.lib.localeCompare(b.lib));
  return {
    name: scenario.name,
    title: scenario.title,
    description: scenario.description,
    unit: scenario.unit,
    extras: scenario.extras ?? {},
    floorMedian,
    rows,
  };
}

function rankKey(row: Row): number {
  return row.status === "ok" ? 0 : row.status === "wrong" ? 1 : row.status === "error" ? 2 : 3;
}

// ---------------------------------------------------------------------------------------------------
// Targets

function okRow(s: ScenarioReport | undefined, lib: string): Row | undefined {
  return s?.rows.find((r) => r.lib === lib && r.status === "ok");
}

function bestPeer(s: ScenarioReport | undefined): Row | undefined {
  return s?.rows.filter((r) => r.kind === "peer" && r.status === "ok").sort((a, b) => a.median - b.median)[0];
}

const x = (n: number): string => `${n.toFixed(2)}×`;

/** The goals the issue sets for lockbox, checked against this run. */
export function checkTargets(scenarios: ScenarioReport[]): Target[] {
  const by = (name: string) => scenarios.find((s) => s.name === name);
  const targets: Target[] = [];
  const cpu = (row: Row | undefined): number => row?.extra.cpuNs ?? Number.NaN;

  // Time targets: `value(a, b)` is the figure of merit of `a` against `b` (a time ratio, or a
  // throughput ratio), computed on wall-clock medians (decides "met") and on CPU-time medians.
  const timeTarget = (
    name: string,
    goal: string,
    scenario: string,
    against: (s: ScenarioReport) => Row | undefined,
    value: (lockbox: number, other: number) => number,
    ok: (v: number) => boolean,
    ceiling: ((s: ScenarioReport) => string) | undefined,
  ): void => {
    const s = by(scenario);
    const lockbox = okRow(s, "lockbox");
    const other = s === undefined ? undefined : against(s);
    if (s === undefined || lockbox === undefined || other === undefined) {
      targets.push({ name, goal, measured: "not run", cpu: "–", ceiling: "–", met: undefined });
      return;
    }
    const wall = value(lockbox.median, other.median);
    const byCpu = value(cpu(lockbox), cpu(other));
    const label = other.kind === "floor" ? "floor" : other.lib;
    targets.push({
      name,
      goal,
      measured: `${x(wall)} ${label}`,
      cpu: Number.isFinite(byCpu) ? `${x(byCpu)} ${label}` : "–",
      ceiling: ceiling === undefined ? "–" : ceiling(s),
      met: ok(wall),
    });
  };
  const floorRow = (s: ScenarioReport) => s.rows.find((r) => r.kind === "floor" && r.status === "ok");
  const timeRatio = (lockbox: number, other: number) => lockbox / other;
  const speedup = (lockbox: number, other: number) => other / lockbox;
  // What the floor itself reaches against the best peer: no implementation of the same job does better.
  const floorVsPeer = (s: ScenarioReport): string => {
    const floor = floorRow(s);
    const peer = bestPeer(s);
    return floor === undefined || peer === undefined ? "–" : `floor: ${x(peer.median / floor.median)} ${peer.lib}`;
  };

  timeTarget(
    "uncontended",
    "≤ 1.20× floor time",
    "uncontended",
    floorRow,
    timeRatio,
    (v) => v <= 1.2,
    (s) => {
      const guard = okRow(s, "floor+guard");
      return guard === undefined ? "–" : `floor+guard: ${x(guard.ratio)} floor`;
    },
  );
  timeTarget("contended", "≥ 0.85× floor throughput", "contended", floorRow, speedup, (v) => v >= 0.85, undefined);
  for (const [scenario, label] of [
    ["contended", "contended"],
    ["rwlock", "rwlock"],
    ["semaphore", "semaphore"],
  ] as const) {
    timeTarget(label, "≥ 1.40× best peer throughput", scenario, bestPeer, speedup, (v) => v >= 1.4, floorVsPeer);
  }

  const deep = by("waiters-100k");
  const shallow = by("waiters-10k");
  const deepLockbox = okRow(deep, "lockbox");
  const shallowLockbox = okRow(shallow, "lockbox");
  if (deepLockbox === undefined) {
    targets.push({
      name: "100k waiters: memory",
      goal: "≤ 250 heap bytes/waiter",
      measured: "not run",
      met: undefined,
    });
  } else {
    const bytes = deepLockbox.extra.bytesPerWaiter ?? Number.NaN;
    const floor = deep === undefined ? undefined : floorRow(deep);
    targets.push({
      name: "100k waiters: memory",
      goal: "≤ 250 heap bytes/waiter",
      measured: `${bytes.toFixed(0)} B/waiter`,
      ceiling: floor === undefined ? "–" : `floor: ${(floor.extra.bytesPerWaiter ?? Number.NaN).toFixed(0)} B`,
      met: bytes <= 250,
    });
  }
  const drainGoal = "flat: ns/waiter at 100k ≤ 1.5× at 10k";
  if (deepLockbox === undefined || shallowLockbox === undefined) {
    targets.push({ name: "100k waiters: drain", goal: drainGoal, measured: "not run", met: undefined });
  } else {
    const growth = deepLockbox.median / shallowLockbox.median;
    const cpuGrowth = cpu(deepLockbox) / cpu(shallowLockbox);
    targets.push({
      name: "100k waiters: drain",
      goal: drainGoal,
      measured: `${x(growth)} (${fmt(shallowLockbox.median)} → ${fmt(deepLockbox.median)} ns)`,
      cpu: Number.isFinite(cpuGrowth)
        ? `${x(cpuGrowth)} (${fmt(cpu(shallowLockbox))} → ${fmt(cpu(deepLockbox))} ns)`
        : "–",
      met: growth <= 1.5,
    });
  }
  return targets;
}

// ---------------------------------------------------------------------------------------------------
// Markdown

/** Rounds to 3 significant figures, with thousands separators for large values. */
export function fmt(n: number): string {
  if (!Number.isFinite(n)) return "–";
  if (Math.abs(n) >= 100) return Math.round(n).toLocaleString("en-US");
  return Number(n.toPrecision(3)).toString();
}

const escapeCell = (text: string): string => text.replace(/\|/g, "\\|").replace(/\s+/g, " ");

export function renderMarkdown(report: Report): string {
  const { meta } = report;
  const out: string[] = [];
  out.push("# lockbox benchmarks", "");
  out.push(
    `Measured at ${describeCommit(meta.commit)}.`,
    "",
    `Generated by \`${meta.command}\` on ${meta.date} · Node ${meta.node} · ${meta.cpu} (${meta.cores} cores) · ` +
      `${meta.reps} repetition${meta.reps === 1 ? "" : "s"} · ${meta.seconds.toFixed(0)} s · load average ${meta.load[0].toFixed(1)} → ${meta.load[1].toFixed(1)}` +
      `${meta.quick ? " · **quick sizes**" : ""}`,
    "",
    "Each row is one library; every library × scenario × repetition ran in a fresh Node process (a warm-up pass, " +
      "then the fastest of 3 measured passes), repetitions interleaved in rotating order. Times are medians over " +
      "the repetitions with min–max; **× floor** divides by the floor's median from this same run (lower is " +
      "better); CPU columns are the process's CPU time per operation (all threads, GC included). The floors " +
      "(bench/floors.ts) are the least a correct implementation can do. A library whose result fails a check is " +
      "listed as wrong, not ranked. Method and caveats: [bench/README.md](../README.md).",
    "",
  );
  out.push(
    "## Targets",
    "",
    "Measured on wall-clock medians (this decides *met*), and the same figure on CPU-time medians. " +
      "*Reference* is what the floor (or the floor handing out guards) reaches on the same figure: " +
      "no implementation of that job does better, so a goal beyond it cannot be met by any library.",
    "",
    "| target | goal | measured (wall) | by CPU time | reference | met |",
    "|---|---|---|---|---|---|",
  );
  for (const t of report.targets) {
    const met = t.met === undefined ? "–" : t.met ? "yes" : "**no**";
    out.push(`| ${t.name} | ${t.goal} | ${t.measured} | ${t.cpu ?? "–"} | ${t.ceiling ?? "–"} | ${met} |`);
  }
  out.push("");
  for (const s of report.scenarios) {
    out.push(`## ${s.title}`, "", s.description, "", `![${s.title}](${s.name}.svg)`, "");
    if (memoryView(s) !== undefined) out.push(`![${s.title}: heap bytes per waiter](${s.name}-memory.svg)`, "");
    const extraKeys = Object.keys(s.extras);
    const head = [
      "library",
      `${s.unit} (median)`,
      "min–max",
      "× floor",
      ...extraKeys.map((k) => s.extras[k] as string),
    ];
    out.push(`| ${head.join(" | ")} |`, `|${head.map((_, i) => (i === 0 ? "---" : "---:")).join("|")}|`);
    for (const r of s.rows) {
      const name = r.kind === "lockbox" ? "**lockbox**" : r.kind === "floor" ? "*floor*" : r.lib;
      if (r.status !== "ok") {
        const label = r.status === "wrong" ? "**WRONG**" : r.status;
        out.push(`| ${name} | ${label}: ${escapeCell(firstLine(r.message ?? ""))} |${" |".repeat(head.length - 2)}`);
        continue;
      }
      const failed = r.failedRuns > 0 ? ` (${r.failedRuns} of ${r.failedRuns + r.samples.length} runs failed)` : "";
      const cells = [
        name + failed,
        fmt(r.median),
        `${fmt(r.min)}–${fmt(r.max)}`,
        r.kind === "floor" ? "1" : fmt(r.ratio),
        ...extraKeys.map((k) => fmt(r.extra[k] ?? Number.NaN)),
      ];
      out.push(`| ${cells.join(" | ")} |`);
    }
    out.push("");
  }
  return out.join("\n");
}

function firstLine(text: string): string {
  return text.split("\n")[0] ?? "";
}

// ---------------------------------------------------------------------------------------------------
// SVG

const COLORS: Record<RowKind, string> = {
  lockbox: "#d9480f",
  floor: "#868e96",
  peer: "#4c6ef5",
  ref: "#adb5bd",
};

const xml = (text: string): string => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** Past this multiple of the floor a chart cuts its bars (see {@link renderSvg}). */
const CUT = 8;

/**
 * A horizontal bar chart of ratio to floor: one bar per library (median), whiskers from min to max, a
 * dashed line at 1× (the floor). The axis is always linear from 0, so bar lengths compare as the
 * numbers do. When some row passes 8× the floor (a quadratic drain, a slow peer), the axis ends just
 * past the rows below 8× and the longer bars are cut at its end, drawn with a break mark and labelled
 * "cut"; their values are printed beside them like every other row's.
 */
export function renderSvg(s: ScenarioReport, measure = "time"): string {
  const width = 760;
  const labelWidth = 170;
  const valueWidth = 190;
  const rowHeight = 26;
  const top = 52;
  const plotLeft = labelWidth;
  const plotRight = width - valueWidth;
  const rows = s.rows;
  const height = top + rows.length * rowHeight + 56;
  const ok = rows.filter((r) => r.status === "ok" && Number.isFinite(r.ratio));
  const hi = Math.max(1.5, ...ok.map((r) => r.ratioMax));
  const cut = hi > CUT;
  const inRange = ok.map((r) => r.ratioMax).filter((v) => v <= CUT);
  const domainHi = niceCeil((cut ? Math.max(1.5, ...inRange) : hi) * 1.05);
  const scale = (v: number): number => plotLeft + Math.max(0, Math.min(1, v / domainHi)) * (plotRight - plotLeft);
  const ticks = linearTicks(domainHi);
  const axis = cut ? `linear axis from 0; bars past ${fmtTick(domainHi)}× are cut (break mark)` : "linear axis from 0";
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="12">`,
    `<title>${xml(s.title)}</title>`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="12" y="22" font-size="15" font-weight="600" fill="#212529">${xml(s.title)}</text>`,
    `<text x="12" y="40" fill="#495057">${measure} ÷ floor, lower is better · ${axis}${measure === "time" ? " · whiskers: min–max" : ""}</text>`,
  );
  const plotBottom = top + rows.length * rowHeight;
  for (const t of ticks) {
    const tx = scale(t).toFixed(1);
    parts.push(
      `<line x1="${tx}" y1="${top - 4}" x2="${tx}" y2="${plotBottom}" stroke="#e9ecef"/>`,
      `<text x="${tx}" y="${plotBottom + 16}" text-anchor="middle" fill="#495057">${fmtTick(t)}×</text>`,
    );
  }
  rows.forEach((r, i) => {
    const y = top + i * rowHeight;
    const mid = y + rowHeight / 2;
    const weight = r.kind === "lockbox" ? ' font-weight="700"' : "";
    parts.push(
      `<text x="${plotLeft - 8}" y="${mid + 4}" text-anchor="end" fill="#212529"${weight}>${xml(r.lib)}</text>`,
    );
    if (r.status !== "ok" || !Number.isFinite(r.ratio)) {
      const label = r.status === "wrong" ? "WRONG RESULT (not ranked)" : r.status;
      const color = r.status === "wrong" ? "#c92a2a" : "#868e96";
      parts.push(`<text x="${plotLeft + 6}" y="${mid + 4}" fill="${color}">${xml(label)}</text>`);
      return;
    }
    const x0 = scale(0);
    const x1 = scale(r.ratio);
    parts.push(
      `<rect x="${x0.toFixed(1)}" y="${y + 5}" width="${Math.max(1, x1 - x0).toFixed(1)}" height="${rowHeight - 10}" fill="${COLORS[r.kind]}" rx="2"/>`,
    );
    if (r.ratio > domainHi) {
      // The break mark: a white zigzag across the end of a bar that runs past the axis.
      const bx = x1 - 14;
      parts.push(
        `<path d="M${bx.toFixed(1)} ${y + 3} l4 5 l-4 5 l4 5 M${(bx + 6).toFixed(1)} ${y + 3} l4 5 l-4 5 l4 5" stroke="#ffffff" stroke-width="2.5" fill="none"/>`,
      );
    }
    const wMin = scale(r.ratioMin);
    const wMax = scale(r.ratioMax);
    if (wMax - wMin > 0.5) {
      parts.push(
        `<line x1="${wMin.toFixed(1)}" y1="${mid}" x2="${wMax.toFixed(1)}" y2="${mid}" stroke="#212529" stroke-width="1.2"/>`,
        `<line x1="${wMin.toFixed(1)}" y1="${mid - 5}" x2="${wMin.toFixed(1)}" y2="${mid + 5}" stroke="#212529" stroke-width="1.2"/>`,
        `<line x1="${wMax.toFixed(1)}" y1="${mid - 5}" x2="${wMax.toFixed(1)}" y2="${mid + 5}" stroke="#212529" stroke-width="1.2"/>`,
      );
    }
    const mark = r.ratio > domainHi ? " (cut)" : "";
    parts.push(
      `<text x="${plotRight + 8}" y="${mid + 4}" fill="#212529"${weight}>${fmt(r.ratio)}×${mark} · ${fmt(r.median)} ${xml(s.unit)}</text>`,
    );
  });
  const one = scale(1).toFixed(1);
  parts.push(
    `<line x1="${one}" y1="${top - 4}" x2="${one}" y2="${plotBottom}" stroke="#495057" stroke-dasharray="4 3"/>`,
    `<text x="${one}" y="${plotBottom + 32}" text-anchor="middle" fill="#495057">floor</text>`,
  );
  const legend: [RowKind, string][] = [
    ["lockbox", "lockbox"],
    ["peer", "peer"],
    ["floor", "floor"],
    ["ref", "reference"],
  ];
  legend.forEach(([kind, label], i) => {
    const lx = plotRight + 8 + (i % 2) * 90;
    const ly = plotBottom + 30 + Math.floor(i / 2) * 16;
    parts.push(
      `<rect x="${lx}" y="${ly - 9}" width="10" height="10" fill="${COLORS[kind]}" rx="2"/>`,
      `<text x="${lx + 14}" y="${ly}" fill="#495057">${label}</text>`,
    );
  });
  parts.push("</svg>");
  return `${parts.join("\n")}\n`;
}

/**
 * The memory view of a waiters scenario: the same chart with heap bytes per waiter as the measure (a
 * second SVG, `<scenario>-memory.svg`), or `undefined` for scenarios that do not measure memory.
 */
export function memoryView(s: ScenarioReport): ScenarioReport | undefined {
  if (!("bytesPerWaiter" in s.extras)) return undefined;
  const floor = s.rows.find((r) => r.kind === "floor" && r.status === "ok");
  const floorBytes = floor?.extra.bytesPerWaiter ?? Number.NaN;
  const rows = s.rows.map((r): Row => {
    const bytes = r.extra.bytesPerWaiter ?? Number.NaN;
    // Memory is deterministic enough that one value stands for the repetitions: no whiskers.
    return {
      ...r,
      median: bytes,
      min: bytes,
      max: bytes,
      ratio: bytes / floorBytes,
      ratioMin: bytes / floorBytes,
      ratioMax: bytes / floorBytes,
    };
  });
  rows.sort((a, b) => (a.status === "ok" ? 0 : 1) - (b.status === "ok" ? 0 : 1) || a.median - b.median);
  return { ...s, name: `${s.name}-memory`, title: `${s.title}: heap bytes per waiter`, unit: "B/waiter", rows };
}

function niceCeil(v: number): number {
  const steps = [1.5, 2, 3, 4, 5, 6, 8];
  for (const s of steps) if (v <= s) return s;
  return Math.ceil(v);
}

function linearTicks(hi: number): number[] {
  const step = hi <= 2 ? 0.25 : hi <= 4 ? 0.5 : 1;
  const ticks: number[] = [];
  for (let t = 0; t <= hi + 1e-9; t += step) ticks.push(Number(t.toFixed(2)));
  return ticks;
}

function fmtTick(t: number): string {
  return t >= 1 ? t.toLocaleString("en-US") : String(Number(t.toPrecision(2)));
}

// ---------------------------------------------------------------------------------------------------
// Re-rendering from a results directory

/** Writes `latest.md` and every chart of `dir` from its `latest.json`. */
export function writeResults(dir: string, report: Report): void {
  writeFileSync(join(dir, "latest.md"), renderMarkdown(report));
  for (const s of report.scenarios) {
    writeFileSync(join(dir, `${s.name}.svg`), renderSvg(s));
    const memory = memoryView(s);
    if (memory !== undefined)
      writeFileSync(join(dir, `${memory.name}.svg`), renderSvg(memory, "heap bytes per waiter"));
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dir = resolve(process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), "results"));
  const report = JSON.parse(readFileSync(join(dir, "latest.json"), "utf8")) as Report;
  writeResults(dir, report);
  process.stderr.write(`re-rendered ${join(dir, "latest.md")} and its charts from latest.json\n`);
}
