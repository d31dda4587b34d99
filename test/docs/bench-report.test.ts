/**
 * The published benchmark results say which commit they measured, and their charts use a linear axis
 * (a log axis made a 500× outlier look a few bars longer than lockbox).
 */
import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  describeCommit,
  gitCommit,
  type Report,
  renderMarkdown,
  renderSvg,
  type ScenarioReport,
} from "../../bench/report.js";

const root = new URL("../..", import.meta.url).pathname;

function scenario(ratios: Record<string, number>): ScenarioReport {
  const rows = Object.entries(ratios).map(([lib, ratio]) => ({
    lib,
    kind: lib === "floor" ? ("floor" as const) : lib === "lockbox" ? ("lockbox" as const) : ("peer" as const),
    status: "ok" as const,
    samples: [ratio * 100],
    failedRuns: 0,
    median: ratio * 100,
    min: ratio * 100,
    max: ratio * 100,
    ratio,
    ratioMin: ratio,
    ratioMax: ratio,
    extra: {},
  }));
  return { name: "s", title: "S", description: "d", unit: "ns/op", extras: {}, floorMedian: 100, rows };
}

/** x of each bar's right end, by the label that precedes it. */
function barEnds(svg: string): Map<string, number> {
  const ends = new Map<string, number>();
  const re = /text-anchor="end"[^>]*>([^<]+)<\/text>\n<rect x="([\d.]+)" y="[\d.]+" width="([\d.]+)"/g;
  for (const m of svg.matchAll(re)) ends.set(m[1] as string, Number(m[2]) + Number(m[3]));
  return ends;
}

describe("bench report", () => {
  it("records the commit of this checkout", () => {
    const commit = gitCommit(root);
    expect(commit.sha).toMatch(/^[0-9a-f]{7,}$/);
    expect(typeof commit.dirty).toBe("boolean");
    expect(describeCommit({ sha: "abc1234", dirty: true })).toBe("commit abc1234 with uncommitted changes");
  });

  it("the published results name the commit they measured", () => {
    const report = JSON.parse(readFileSync(`${root}bench/results/latest.json`, "utf8")) as Report;
    expect(report.meta.commit?.sha).toMatch(/^[0-9a-f]{7,}$/);
    const md = readFileSync(`${root}bench/results/latest.md`, "utf8");
    expect(md).toContain(`Measured at commit ${report.meta.commit?.sha}`);
    // latest.md is what renderMarkdown makes of latest.json (not edited by hand, not stale).
    expect(renderMarkdown(report)).toBe(md);
  });

  it("every published results file says which commit it measured (or that it was not recorded)", () => {
    const files = readdirSync(`${root}bench/results`).filter((f) => f.endsWith(".md"));
    expect(files.length).toBeGreaterThanOrEqual(3);
    for (const file of files) {
      const text = readFileSync(`${root}bench/results/${file}`, "utf8");
      expect(text, file).toMatch(/Measured at commit [0-9a-f]{7}|Commit measured: not recorded/);
    }
  });

  it("draws bars on a linear axis: lengths are proportional to the ratios", () => {
    const svg = renderSvg(scenario({ floor: 1, lockbox: 2, peer: 3 }));
    expect(svg).toContain("linear axis from 0");
    expect(svg).not.toMatch(/log/i);
    const ends = barEnds(svg);
    const zero = 170; // plotLeft
    const len = (lib: string) => (ends.get(lib) as number) - zero;
    expect(len("lockbox") / len("floor")).toBeCloseTo(2, 2);
    expect(len("peer") / len("floor")).toBeCloseTo(3, 2);
  });

  it("cuts bars past 8× with a break mark and says so, keeping the axis linear", () => {
    const svg = renderSvg(scenario({ floor: 1, lockbox: 2.5, slow: 500 }));
    expect(svg).toContain("are cut (break mark)");
    expect(svg).toContain("500× (cut)");
    expect(svg).toContain("<path d="); // the break mark
    const ends = barEnds(svg);
    const zero = 170;
    expect(((ends.get("lockbox") as number) - zero) / ((ends.get("floor") as number) - zero)).toBeCloseTo(2.5, 2);
  });
});
