/**
 * The API reference builds with no warning (typedoc.json sets treatWarningsAsErrors): every public
 * scope is an entry point, every {@link} resolves, no type the docs reference is silently missing
 * (those left out on purpose are listed in `intentionallyNotExported`), and the README and docs/*.md
 * links resolve in the generated site.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify, stripVTControlCharacters } from "node:util";
import { afterAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const root = new URL("../..", import.meta.url).pathname;
const out = mkdtempSync(join(tmpdir(), "lockbox-typedoc-"));

afterAll(() => rmSync(out, { recursive: true, force: true }));

describe("TypeDoc", () => {
  it("builds the API reference of every scope with 0 warnings", async () => {
    const typedoc = join(root, "node_modules/typedoc/bin/typedoc");
    const result = await run(process.execPath, [typedoc, "--out", out], { cwd: root, timeout: 280_000 }).catch(
      (error: { stdout?: string; stderr?: string; code?: number }) => error,
    );
    const output = stripVTControlCharacters(`${result.stdout ?? ""}${result.stderr ?? ""}`);
    expect(output.split("\n").filter((line) => /\[(warning|error)\]/.test(line))).toEqual([]);
    expect("code" in result ? result.code : 0).toBe(0);

    const config = JSON.parse(readFileSync(join(root, "typedoc.json"), "utf8")) as { entryPoints: string[] };
    const scopes = Object.keys(
      (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { exports: Record<string, unknown> }).exports,
    ).filter((key) => key !== "./package.json");
    // One entry point per public scope: ".", "./threads", "./postgres", …
    expect(config.entryPoints.map((e) => e.replace(/^src\/?/, "./").replace(/\/?index\.ts$/, "")).sort()).toEqual(
      scopes.sort(),
    );
    const modules = readdirSync(join(out, "modules")).map((f) => f.replace(/\.html$/, ""));
    for (const scope of ["threads", "postgres", "redis", "diagnostics", "testing"]) {
      expect(modules.some((m) => m.endsWith(scope))).toBe(true);
    }
    // The guides are pages of the site, not raw files.
    expect(readdirSync(join(out, "documents")).sort()).toEqual(
      readdirSync(join(root, "docs"))
        .filter((f) => f.endsWith(".md"))
        .map((f) => f.replace(/\.md$/, ".html"))
        .sort(),
    );
  }, 300_000);
});
