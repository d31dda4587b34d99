/**
 * Keeps the README and the guides honest where a machine can check them:
 * - every relative link (and `#anchor`) in README.md, docs/*.md and the bench Markdown resolves to a
 *   file (and a heading) in the repository;
 * - every ```ts block of the README type-checks against the real declarations, as a module of its
 *   own (blocks marked ```ts signatures are summaries of signatures and are listed, not checked).
 * Running the examples is test/examples.test.ts's job; the README links to them.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const root = resolve(new URL("../..", import.meta.url).pathname);
const read = (file: string): string => readFileSync(join(root, file), "utf8");

const markdownFiles = [
  "README.md",
  ...readdirSync(join(root, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => `docs/${f}`),
  "bench/README.md",
  ...readdirSync(join(root, "bench/results"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => `bench/results/${f}`),
];

/** The Markdown with fenced code blocks and inline code spans blanked out (links there are not links). */
function prose(text: string): string {
  return text.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, "").replace(/`[^`\n]*`/g, "``");
}

/** Every link target of a Markdown text: inline links, images and reference definitions. */
function linkTargets(text: string): string[] {
  const body = prose(text);
  const targets: string[] = [];
  for (const m of body.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) targets.push(m[1] as string);
  for (const m of body.matchAll(/^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+"[^"]*")?\s*$/gm)) targets.push(m[1] as string);
  return targets;
}

/** The headings of a Markdown text (outside code blocks), as written. */
function headings(text: string): string[] {
  const withoutCode = text.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, "");
  return [...withoutCode.matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)].map((m) => m[1] as string);
}

/**
 * The anchors a link may use: those both GitHub and TypeDoc (the API site renders README.md and
 * docs/*.md) give the heading. GitHub lower-cases, drops punctuation and turns each space into a
 * hyphen; TypeDoc drops a fixed set of punctuation, turns spaces into hyphens and collapses the first
 * run of hyphens. Repeated headings get -1, -2, … in both.
 */
function anchors(text: string): Set<string> {
  const github = (h: string) =>
    h
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, "")
      .trim()
      .replace(/\s/g, "-");
  const typedoc = (h: string) =>
    h
      .trim()
      .replace(/[\u2000-\u206F\u2E00-\u2E7F\\'!"#$%&()*+,./:;<=>?@[\]^`{|}~]/g, "")
      .replace(/\s/g, "-")
      .replace(/--+/, "-")
      .toLocaleLowerCase() || "_";
  const slugs = (slug: (h: string) => string) => {
    const seen = new Map<string, number>();
    return headings(text).map((h) => {
      const plain = h.replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1").replace(/<[^>]+>/g, "");
      const base = slug(plain);
      const n = seen.get(base) ?? 0;
      seen.set(base, n + 1);
      return n === 0 ? base : `${base}-${n}`;
    });
  };
  const fromTypedoc = new Set(slugs(typedoc));
  return new Set(slugs(github).filter((a) => fromTypedoc.has(a)));
}

/** Problems with the relative links of one Markdown file (empty when all resolve). */
function brokenLinks(file: string, text: string): string[] {
  const problems: string[] = [];
  for (const target of linkTargets(text)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:, …
    const [pathPart = "", anchor] = target.split("#", 2);
    const path = decodeURIComponent(pathPart);
    const resolved = path === "" ? join(root, file) : resolve(dirname(join(root, file)), path);
    if (!resolved.startsWith(root)) {
      problems.push(`${file}: ${target} points outside the repository`);
      continue;
    }
    if (!existsSync(resolved)) {
      problems.push(`${file}: ${target} does not exist (${relative(root, resolved)})`);
      continue;
    }
    if (statSync(resolved).isDirectory()) {
      // TypeDoc copies linked files into the API site; a directory cannot be, so the link would be dead there.
      problems.push(`${file}: ${target} is a directory; link to a file`);
      continue;
    }
    if (anchor !== undefined && resolved.endsWith(".md")) {
      const headings = anchors(readFileSync(resolved, "utf8"));
      if (!headings.has(anchor)) problems.push(`${file}: ${target}: no heading with anchor #${anchor}`);
    }
  }
  return problems;
}

interface Block {
  info: string;
  code: string;
  line: number;
}

function codeBlocks(text: string): Block[] {
  const blocks: Block[] = [];
  for (const m of text.matchAll(/^```([^\n]*)\n([\s\S]*?)^```\s*$/gm)) {
    blocks.push({
      info: (m[1] as string).trim(),
      code: m[2] as string,
      line: text.slice(0, m.index).split("\n").length,
    });
  }
  return blocks;
}

/** Type-checks each source as a module next to the tests, with the repository's compiler options. */
function typeCheck(sources: Map<string, string>): string[] {
  const configPath = join(root, "tsconfig.json");
  const config = ts.readConfigFile(configPath, ts.sys.readFile);
  const { options } = ts.parseJsonConfigFileContent(config.config, ts.sys, root);
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.fileExists = (f) => sources.has(f) || fileExists.call(host, f);
  host.readFile = (f) => sources.get(f) ?? readFile.call(host, f);
  host.getSourceFile = (f, lang, ...rest) => {
    const text = sources.get(f);
    return text === undefined ? getSourceFile.call(host, f, lang, ...rest) : ts.createSourceFile(f, text, lang);
  };
  const program = ts.createProgram([...sources.keys()], { ...options, noEmit: true }, host);
  return ts
    .getPreEmitDiagnostics(program)
    .filter((d) => d.file === undefined || sources.has(d.file.fileName))
    .map((d) => {
      const where =
        d.file === undefined || d.start === undefined
          ? ""
          : `${relative(root, d.file.fileName)}:${d.file.getLineAndCharacterOfPosition(d.start).line + 1}: `;
      return `${where}${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`;
    });
}

describe("README and docs", () => {
  it.each(markdownFiles)("%s: every relative link resolves", (file) => {
    expect(brokenLinks(file, read(file))).toEqual([]);
  });

  it.each(markdownFiles)("%s: every repository path named in inline code exists", (file) => {
    const text = read(file).replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, "");
    const paths = [...text.matchAll(/`((?:src|test|examples|bench|scripts|docs)\/[\w./-]*\w)`/g)].map(
      (m) => m[1] as string,
    );
    expect(paths.filter((p) => !existsSync(join(root, p)))).toEqual([]);
  });

  it.each(markdownFiles)("%s: headings are plain text", (file) => {
    // TypeDoc leaves inline code out of its table of contents and its anchors ("## `lockbox`: async
    // tasks" became ": async tasks", #-async-tasks), so headings carry no code spans.
    expect(headings(read(file)).filter((h) => h.includes("`"))).toEqual([]);
  });

  it("the link check fails on a missing file, a directory and a missing anchor", () => {
    const text = [
      "[gone](examples/no-such-example.ts)",
      "[dir](examples/)",
      "[anchor](docs/debugging.md#no-such-heading)",
      "[fine](docs/debugging.md#revokeonrelease) [web](https://example.com/x)",
      "[github only](README.md#rust--lockbox)",
      "`[in code](nowhere.md)`",
    ].join("\n");
    expect(brokenLinks("README.md", text)).toEqual([
      "README.md: examples/no-such-example.ts does not exist (examples/no-such-example.ts)",
      "README.md: examples/ is a directory; link to a file",
      "README.md: docs/debugging.md#no-such-heading: no heading with anchor #no-such-heading",
      "README.md: README.md#rust--lockbox: no heading with anchor #rust--lockbox",
    ]);
  });

  it("every ```ts block of the README type-checks against the real API", () => {
    const blocks = codeBlocks(read("README.md")).filter((b) => /^(ts|typescript)\b/.test(b.info));
    const unknown = blocks.filter((b) => b.info !== "ts" && b.info !== "ts signatures");
    expect(unknown.map((b) => `line ${b.line}: \`\`\`${b.info}`)).toEqual([]);
    const checked = blocks.filter((b) => b.info === "ts");
    // The quick start and one block per scope at least.
    expect(checked.length).toBeGreaterThanOrEqual(6);
    const sources = new Map(
      checked.map((b) => [join(root, "test/docs", `readme-block-line-${b.line}.ts`), `${b.code}\nexport {};\n`]),
    );
    // A block that misuses the API, checked in the same program: proves the check can fail.
    const wrong = join(root, "test/docs", "readme-block-wrong.ts");
    sources.set(
      wrong,
      'import { Mutex } from "lockbox";\nconst m = new Mutex(0);\nawait m.withLock((g) => g.value.push(1));\nexport {};\n',
    );
    const errors = typeCheck(sources);
    expect(errors.filter((e) => !e.startsWith("test/docs/readme-block-wrong.ts:"))).toEqual([]);
    expect(errors.join("\n")).toMatch(/readme-block-wrong\.ts:3: Property 'push' does not exist on type 'number'/);
  }, 120_000);
});
