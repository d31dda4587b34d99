/**
 * Text layout for the `npm start` tour (examples/showcase.ts): colour, word wrapping to the terminal's
 * width (at most 80 columns), splitting tables too wide to fit, and the code snippets each stop shows,
 * read from the example files themselves between `// #region tour` and `// #endregion tour`.
 * Pure functions: test/tour/format.test.ts checks them without a terminal.
 */

/** The widest line the tour prints, whatever the terminal's width. */
export const MAX_WIDTH = 80;

/** The tour's colours. With colour off, every function returns its text unchanged. */
export interface Style {
  readonly enabled: boolean;
  bold(text: string): string;
  dim(text: string): string;
  cyan(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
  red(text: string): string;
}

/** A style that wraps text in ANSI SGR codes when `enabled`, and leaves it alone otherwise. */
export function makeStyle(enabled: boolean): Style {
  const sgr = (open: number, close: number) =>
    enabled ? (text: string) => `\x1b[${open}m${text}\x1b[${close}m` : (text: string) => text;
  return {
    enabled,
    bold: sgr(1, 22),
    dim: sgr(2, 22),
    cyan: sgr(36, 39),
    green: sgr(32, 39),
    yellow: sgr(33, 39),
    red: sgr(31, 39),
  };
}

/** What {@link useColour} needs to know about the output stream. */
export interface OutputStream {
  isTTY?: boolean;
  columns?: number;
  hasColors?: () => boolean;
}

/**
 * Colour only on a terminal that supports it. `NO_COLOR` (any non-empty value, https://no-color.org)
 * turns it off; `FORCE_COLOR` (other than `0`/`false`) turns it on even when piped.
 */
export function useColour(stream: OutputStream, env: Record<string, string | undefined>): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false;
  const force = env.FORCE_COLOR;
  if (force !== undefined) return force !== "0" && force !== "false";
  if (stream.isTTY !== true || typeof stream.hasColors !== "function") return false;
  return stream.hasColors();
}

/** The width to lay text out in: the terminal's, but never more than {@link MAX_WIDTH} (nor below 40). */
export function layoutWidth(stream: OutputStream): number {
  const columns = stream.isTTY === true && stream.columns !== undefined && stream.columns > 0 ? stream.columns : 0;
  return columns === 0 ? MAX_WIDTH : Math.max(40, Math.min(MAX_WIDTH, columns));
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching the escape character is the point
const ANSI = /\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]/g;

/** `text` without ANSI escape sequences. */
export function stripAnsi(text: string): string {
  return text.replace(ANSI, "");
}

/** Columns `text` takes: code points, escape sequences not counted (the tour prints no wide characters). */
export function visibleWidth(text: string): number {
  let width = 0;
  for (const _ of stripAnsi(text)) width++;
  return width;
}

/**
 * Greedy word wrap of one line of plain text into lines of at most `width` columns. The first line
 * starts with `first`, the others with `rest` (a hanging indent). Breaks at spaces; a word longer than
 * a whole line is cut. Runs of spaces inside a line are kept (aligned output stays aligned).
 */
export function wrap(text: string, width: number, first = "", rest = first): string[] {
  const lines: string[] = [];
  let line = first;
  let lineWidth = visibleWidth(first);
  let hasWord = false;
  let gap = "";
  const restWidth = visibleWidth(rest);
  const newLine = () => {
    lines.push(line.trimEnd());
    line = rest;
    lineWidth = restWidth;
    hasWord = false;
    gap = "";
  };
  for (const token of text.match(/\s+|\S+/g) ?? []) {
    if (/^\s/.test(token)) {
      // Leading spaces of the text are indentation (kept); at a break they are dropped.
      if (hasWord) gap = token;
      else if (lines.length === 0) {
        line += token;
        lineWidth += token.length;
      }
      continue;
    }
    let word = Array.from(token);
    if (hasWord && lineWidth + gap.length + word.length > width) newLine();
    if (hasWord) {
      line += gap;
      lineWidth += gap.length;
    }
    gap = "";
    while (lineWidth + word.length > width) {
      const room = Math.max(1, width - lineWidth);
      line += word.slice(0, room).join("");
      word = word.slice(room);
      newLine();
    }
    line += word.join("");
    lineWidth += word.length;
    hasWord = true;
  }
  lines.push(line.trimEnd());
  return lines;
}

/** A line of dashes separating a table's header from its rows: `-----  ----  ---`. */
const SEPARATOR = /^ *-+(?: +-+)+ *$/;

/**
 * Tables wider than `width` (a header line, a line of dash runs, then rows up to a blank line) are cut
 * into column groups that fit, each repeating the first column, one under the other. Other lines pass
 * through unchanged.
 */
export function fitTables(lines: readonly string[], width: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const separator = lines[i + 1];
    if (separator === undefined || !SEPARATOR.test(separator) || visibleWidth(separator.trimEnd()) <= width) {
      out.push(lines[i]!);
      continue;
    }
    let end = i + 2;
    while (end < lines.length && lines[end]!.trim() !== "") end++;
    const table = lines.slice(i, end);
    const starts = [...separator.matchAll(/-+/g)].map((match) => match.index);
    const runEnds = [...separator.matchAll(/-+/g)].map((match) => match.index + match[0].length);
    const column = (k: number) => ({ from: starts[k]!, to: k + 1 < starts.length ? starts[k + 1]! : Infinity });
    const columnWidth = (k: number) => (k + 1 < starts.length ? starts[k + 1]! : runEnds[k]!) - starts[k]!;
    const groups: number[][] = [];
    let group = [0];
    let groupWidth = starts[0]! + columnWidth(0);
    for (let k = 1; k < starts.length; k++) {
      if (group.length > 1 && groupWidth + columnWidth(k) > width) {
        groups.push(group);
        group = [0];
        groupWidth = starts[0]! + columnWidth(0);
      }
      group.push(k);
      groupWidth += columnWidth(k);
    }
    groups.push(group);
    for (const [g, columns] of groups.entries()) {
      if (g > 0) out.push("");
      for (const row of table) {
        const cells = columns.map((k) => {
          const { from, to } = column(k);
          return row.slice(from, to);
        });
        out.push((row.slice(0, starts[0]) + cells.join("")).trimEnd());
      }
    }
    i = end - 1;
  }
  return out;
}

/** A stop's code, as it stands in its example file. */
export interface Snippet {
  /** The file's path relative to the repository root, e.g. `examples/quick-start.ts`. */
  file: string;
  /** 1-based line numbers of the first and last line shown. */
  first: number;
  last: number;
  /** The lines, with their common indentation removed. */
  lines: string[];
}

const REGION_START = /^\s*\/\/ #region tour\b/;
const REGION_END = /^\s*\/\/ #endregion tour\b/;

/**
 * The code between each `// #region tour` and the next `// #endregion tour` in `source`, dedented (at
 * least one region; regions do not nest). `file` names the file in errors and in the result.
 */
export function extractSnippets(source: string, file: string): Snippet[] {
  const all = source.split(/\r?\n/);
  const snippets: Snippet[] = [];
  let open: number | undefined;
  for (const [i, line] of all.entries()) {
    if (REGION_START.test(line)) {
      if (open !== undefined) throw new Error(`${file}:${i + 1}: "// #region tour" inside another tour region`);
      open = i;
    } else if (REGION_END.test(line)) {
      if (open === undefined) throw new Error(`${file}:${i + 1}: "// #endregion tour" without a region to end`);
      snippets.push(snippet(all, open + 1, i, file));
      open = undefined;
    }
  }
  if (open !== undefined) throw new Error(`${file}:${open + 1}: "// #region tour" is never ended`);
  if (snippets.length === 0) throw new Error(`${file}: no "// #region tour" … "// #endregion tour" to show`);
  return snippets;
}

/** Lines `from` (inclusive) to `to` (exclusive) of `all`, blank edges trimmed, dedented. */
function snippet(all: readonly string[], from: number, to: number, file: string): Snippet {
  while (from < to && all[from]!.trim() === "") from++;
  while (to > from && all[to - 1]!.trim() === "") to--;
  if (from === to) throw new Error(`${file}:${from}: empty tour region`);
  const body = all.slice(from, to);
  const indent = Math.min(...body.filter((line) => line.trim() !== "").map((line) => /^ */.exec(line)![0].length));
  return { file, first: from + 1, last: to, lines: body.map((line) => line.slice(indent).trimEnd()) };
}
