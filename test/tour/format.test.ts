/**
 * The tour's text layout (examples/tour/format.ts), without a terminal: wrapping, table splitting,
 * colour decisions, snippet extraction, and that every snippet in examples/ fits 80 columns as written.
 */
import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  extractSnippets,
  fitTables,
  layoutWidth,
  MAX_WIDTH,
  makeStyle,
  stripAnsi,
  useColour,
  visibleWidth,
  wrap,
} from "../../examples/tour/format.js";

const examples = new URL("../../examples/", import.meta.url);

describe("wrap", () => {
  it("breaks at spaces, never mid-word, with the first and hanging prefixes", () => {
    const text = "a lock that lives inside its value is reached only through a guard";
    const lines = wrap(text, 20, "why: ", "     ");
    expect(lines).toEqual([
      "why: a lock that",
      "     lives inside",
      "     its value is",
      "     reached only",
      "     through a guard",
    ]);
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(20);
    // Every word of the text survives whole.
    expect(lines.map((line) => line.trim().replace(/^why: /, "")).join(" ")).toBe(text);
  });

  it("cuts a word longer than a whole line, and keeps leading indentation and inner runs of spaces", () => {
    expect(wrap("x".repeat(25), 10)).toEqual(["xxxxxxxxxx", "xxxxxxxxxx", "xxxxx"]);
    expect(wrap("    at transfer (examples/deadlock.ts:31:16)", 80)).toEqual([
      "    at transfer (examples/deadlock.ts:31:16)",
    ]);
    expect(wrap("alice  Mutex    4", 80)).toEqual(["alice  Mutex    4"]);
  });

  it("returns the prefix alone for empty text", () => {
    expect(wrap("", 80, "  › ")).toEqual(["  ›"]);
  });

  it("never returns a line wider than the width, whatever the words", () => {
    const words = ["a", "bb", "ccc", "dddddddddd", "e".repeat(33), "ff", "—", "ggggg"];
    for (let width = 12; width <= 40; width++) {
      let seed = width;
      const text = Array.from({ length: 60 }, () => words[(seed = (seed * 7 + 3) % 8)]).join(" ");
      for (const line of wrap(text, width, "  › ", "  ›   ")) expect(visibleWidth(line)).toBeLessThanOrEqual(width);
    }
  });
});

describe("fitTables", () => {
  const table = [
    "lock   kind   acq  contended  timeouts  wait p50  wait p99",
    "-----  -----  ---  ---------  --------  --------  --------",
    "alice  Mutex    4          1         0  0.000 ms   81.0 ms",
    "bob    Mutex    3          1         0  0.000 ms   30.0 ms",
    "",
    "after the table",
  ];

  it("splits a table wider than the width into column groups that each repeat the first column", () => {
    const fitted = fitTables(table, 36);
    expect(fitted).toEqual([
      "lock   kind   acq  contended",
      "-----  -----  ---  ---------",
      "alice  Mutex    4          1",
      "bob    Mutex    3          1",
      "",
      "lock   timeouts  wait p50  wait p99",
      "-----  --------  --------  --------",
      "alice         0  0.000 ms   81.0 ms",
      "bob           0  0.000 ms   30.0 ms",
      "",
      "after the table",
    ]);
    for (const line of fitted) expect(line.length).toBeLessThanOrEqual(36);
  });

  it("leaves a table that fits, and other lines, unchanged", () => {
    expect(fitTables(table, 80)).toEqual(table);
    expect(fitTables(["- a list item", "-- not a table --"], 5)).toEqual(["- a list item", "-- not a table --"]);
  });
});

describe("colour", () => {
  const tty = { isTTY: true, hasColors: () => true };

  it("is on for a terminal that supports it, off when piped or when the terminal cannot", () => {
    expect(useColour(tty, {})).toBe(true);
    expect(useColour({ isTTY: false }, {})).toBe(false);
    expect(useColour({ isTTY: true, hasColors: () => false }, {})).toBe(false);
  });

  it("honours NO_COLOR (non-empty) over everything, and FORCE_COLOR", () => {
    expect(useColour(tty, { NO_COLOR: "1" })).toBe(false);
    expect(useColour(tty, { NO_COLOR: "1", FORCE_COLOR: "1" })).toBe(false);
    expect(useColour(tty, { NO_COLOR: "" })).toBe(true);
    expect(useColour({ isTTY: false }, { FORCE_COLOR: "1" })).toBe(true);
    expect(useColour(tty, { FORCE_COLOR: "0" })).toBe(false);
  });

  it("styles with SGR codes only when enabled, and stripAnsi removes them", () => {
    const on = makeStyle(true).bold(makeStyle(true).cyan("stop"));
    expect(on).toBe("\x1b[1m\x1b[36mstop\x1b[39m\x1b[22m");
    expect(stripAnsi(on)).toBe("stop");
    expect(visibleWidth(on)).toBe(4);
    expect(makeStyle(false).bold("stop")).toBe("stop");
  });

  it("lays out in the terminal's width, at most 80 columns", () => {
    expect(layoutWidth({ isTTY: true, columns: 200 })).toBe(MAX_WIDTH);
    expect(layoutWidth({ isTTY: true, columns: 64 })).toBe(64);
    expect(layoutWidth({ isTTY: false, columns: 30 })).toBe(MAX_WIDTH);
  });
});

describe("extractSnippets", () => {
  const source = [
    "import x from 'y';",
    "function f() {",
    "  // #region tour",
    "",
    "  const a = 1;",
    "    nested();",
    "  // #endregion tour",
    "  // #region tour",
    "  last();",
    "  // #endregion tour",
    "}",
  ].join("\n");

  it("returns each region dedented, with its 1-based line numbers", () => {
    expect(extractSnippets(source, "examples/f.ts")).toEqual([
      { file: "examples/f.ts", first: 5, last: 6, lines: ["const a = 1;", "  nested();"] },
      { file: "examples/f.ts", first: 9, last: 9, lines: ["last();"] },
    ]);
  });

  it("names the file and line when the markers are missing or unbalanced", () => {
    expect(() => extractSnippets("const a = 1;", "examples/a.ts")).toThrow(/examples\/a\.ts: no "\/\/ #region tour"/);
    expect(() => extractSnippets("// #region tour\nx;\n", "examples/b.ts")).toThrow(
      /examples\/b\.ts:1: .* never ended/,
    );
    expect(() => extractSnippets("x;\n// #endregion tour\n", "examples/c.ts")).toThrow(/examples\/c\.ts:2: .*without/);
    expect(() => extractSnippets("// #region tour\n// #region tour\n", "examples/d.ts")).toThrow(
      /examples\/d\.ts:2: .*inside another/,
    );
  });

  it("every tour region in examples/ fits in 80 columns beside the code gutter, as written", () => {
    const files = [
      ...readdirSync(examples).filter((f) => f.endsWith(".ts")),
      ...readdirSync(new URL("workers/", examples)).map((f) => `workers/${f}`),
    ];
    const withRegions = files.filter((f) => /^\s*\/\/ #region tour/m.test(readFileSync(new URL(f, examples), "utf8")));
    expect(withRegions.length).toBeGreaterThanOrEqual(11);
    for (const file of withRegions) {
      for (const snippet of extractSnippets(readFileSync(new URL(file, examples), "utf8"), file)) {
        expect(snippet.lines.length, `${file}:${snippet.first}: a stop's code should be a few lines`).toBeLessThan(26);
        for (const line of snippet.lines) {
          expect(visibleWidth(`  │ ${line}`), `${file}: ${line}`).toBeLessThanOrEqual(MAX_WIDTH);
        }
      }
    }
  });
});
