/**
 * Transpiles `src/` and `bench/` to plain JavaScript once per run, so each of the ~250 bench processes
 * starts as bare `node` instead of `node --import tsx`. On a loaded 2-core machine the tsx loader costs
 * 0.2–0.7 s per process — minutes over a full run — and that is pure overhead, not measurement.
 *
 * The output mirrors the source tree under `node_modules/.cache/lockbox-bench/<pid>/` (untracked, inside
 * the project so the peers in `node_modules` resolve, removed when the run ends). Imports already end in `.js`, so they resolve
 * as they are. Each file is transpiled on its own (`transpileModule`: no type checking, as tsx does);
 * ES2022 keeps `#private` fields and static blocks as written, so the code measured is the code shipped.
 */

import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";

/** Compiles `root/src` and `root/bench` into `outDir`; returns the number of files written. */
export async function compileForBench(root: string, outDir: string): Promise<number> {
  const ts = (await import("typescript")).default;
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  // The project's package.json is above node_modules, where Node stops looking for a package scope.
  writeFileSync(join(outDir, "package.json"), '{ "type": "module" }\n');
  let count = 0;
  for (const dir of ["src", "bench"]) {
    for (const file of walk(join(root, dir))) {
      if (!file.endsWith(".ts") || file.endsWith(".d.ts")) continue;
      const { outputText } = ts.transpileModule(readFileSync(file, "utf8"), {
        fileName: file,
        compilerOptions: {
          target: ts.ScriptTarget.ES2022,
          module: ts.ModuleKind.ESNext,
          verbatimModuleSyntax: true,
          useDefineForClassFields: true,
        },
      });
      const out = join(outDir, relative(root, file)).replace(/\.ts$/, ".js");
      mkdirSync(dirname(out), { recursive: true });
      writeFileSync(out, outputText);
      count++;
    }
  }
  return count;
}

function* walk(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== "results") yield* walk(path);
    } else yield path;
  }
}
