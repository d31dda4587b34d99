/**
 * Package checks that publint and attw do not make, run by `npm run test:package` after the build:
 *
 * 1. One class per error across entries: `lockbox` and `lockbox/threads` must hand out the very same
 *    error classes (SPEC §1: `instanceof` works across entries), in ESM and in CJS alike.
 *    The CommonJS and ES module builds are two copies of every class: each copy's errors must be
 *    `instanceof` the other copy's classes (an app may `require` lockbox in one place, `import` it in
 *    another).
 * 2. The tarball holds the built entries and nothing from src/, test/ or the tooling.
 * 3. Size budget: each entry listed under "size" in package.json, bundled and minified with esbuild,
 *    then gzipped, must stay within its budget in bytes. Every entry's size is printed either way.
 *    A key `dist/index.js#Mutex,Notify` budgets an application that imports only those names: it
 *    holds tree-shaking (the ESM build is one file per module and the package has no side effects,
 *    so primitives the application does not import must drop out of its bundle).
 *
 * Exits non-zero when a check fails. Usage: `tsx scripts/check-package.ts` (after `tsup`).
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";

const root = resolve(import.meta.dirname, "..");
const pkg = JSON.parse(readFileSync(resolve(root, "package.json"), "utf8")) as {
  size?: Record<string, number>;
};

const failures: string[] = [];
let passed = 0;

function check(name: string, ok: boolean, detail = ""): void {
  if (ok) passed++;
  else failures.push(name);
  console.log(`${ok ? "ok  " : "FAIL"} ${name}${detail ? `: ${detail}` : ""}`);
}

// 1. Shared error classes. Every error export of the main entry that the threads entry re-exports must
//    be the same object; a second copy would make `instanceof` fail across entries.
type Exports = Record<string, unknown>;
const esmMain = (await import(pathToFileURL(resolve(root, "dist/index.js")).href)) as Exports;
const esmThreads = (await import(pathToFileURL(resolve(root, "dist/threads/index.js")).href)) as Exports;
const require = createRequire(import.meta.url);
const cjsMain = require(resolve(root, "dist/index.cjs")) as Exports;
const cjsThreads = require(resolve(root, "dist/threads/index.cjs")) as Exports;
const errorNames = Object.keys(esmMain).filter((name) => /Error$/.test(name));
check("main entry exports LockboxError", errorNames.includes("LockboxError"));
for (const [format, main, threads] of [
  ["ESM", esmMain, esmThreads],
  ["CJS", cjsMain, cjsThreads],
] as const) {
  const split = errorNames.filter((name) => main[name] !== threads[name]);
  check(
    `${format}: lockbox and lockbox/threads share ${errorNames.length} error classes`,
    split.length === 0,
    split.length ? `different or missing in lockbox/threads: ${split.join(", ")}` : "",
  );
}

// 1b. Errors across the CJS and ESM copies: an application that `require`s lockbox in one place and
//     `import`s it in another has two copies of every class; each must recognise the other's errors.
for (const [from, to, fromName, toName] of [
  [cjsMain, esmMain, "CJS", "ESM"],
  [esmMain, cjsMain, "ESM", "CJS"],
] as const) {
  const mismatched = errorNames.filter((name) => {
    const Thrower = from[name] as new (...args: unknown[]) => Error;
    const error = new Thrower("m", "lock", 1n);
    const Base = to.LockboxError as abstract new (...args: never) => unknown;
    return !(error instanceof (to[name] as abstract new (...args: never) => unknown) && error instanceof Base);
  });
  check(
    `${fromName} errors are instanceof the ${toName} classes (${errorNames.length} classes)`,
    mismatched.length === 0,
    mismatched.join(", "),
  );
}
{
  // An error really thrown by the CommonJS copy, caught by code that imported the ES module.
  const RefCell = cjsMain.RefCell as new (value: number) => { borrowMut(): unknown };
  const cell = new RefCell(1);
  cell.borrowMut();
  let thrown: unknown;
  try {
    cell.borrowMut();
  } catch (error) {
    thrown = error;
  }
  const BorrowMutError = esmMain.BorrowMutError as abstract new (...args: never) => unknown;
  const TimeoutError = esmMain.TimeoutError as abstract new (...args: never) => unknown;
  check(
    "BorrowMutError thrown by the CJS build is instanceof the ESM BorrowMutError (and not TimeoutError)",
    thrown instanceof BorrowMutError && !(thrown instanceof TimeoutError),
  );
}

// 2. Tarball contents, as `npm pack` would publish them.
const [packed] = JSON.parse(
  execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: root, encoding: "utf8" }),
) as [{ files: { path: string }[] }];
const files = packed.files.map((file) => file.path);
for (const required of ["dist/index.js", "dist/index.cjs", "dist/index.d.ts", "dist/threads/index.js"]) {
  check(`tarball contains ${required}`, files.includes(required));
}
const stray = files.filter((file) => !/^(dist\/|package\.json$|README(\.md)?$|LICENSE(\.md)?$)/i.test(file));
check("tarball holds only dist/, package.json, README and LICENSE", stray.length === 0, stray.join(", "));

// 3. Size budget: what an application pays for importing the entry, minified and gzipped.
async function minGzip(key: string): Promise<number> {
  const [entry = key, names] = key.split("#");
  const file = JSON.stringify(resolve(root, entry));
  const result = await build({
    stdin: {
      contents: names === undefined ? `export * from ${file};` : `export { ${names} } from ${file};`,
      resolveDir: root,
      loader: "js",
    },
    bundle: true,
    minify: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    external: ["node:*"],
    write: false,
    logLevel: "silent",
  });
  const code = result.outputFiles[0]?.contents ?? new Uint8Array();
  return gzipSync(code, { level: 9 }).length;
}

const budgets = pkg.size ?? {};
check('package.json "size" budgets dist/index.js', typeof budgets["dist/index.js"] === "number");
check('package.json "size" budgets dist/index.js#Mutex', typeof budgets["dist/index.js#Mutex"] === "number");
for (const entry of new Set(["dist/index.js", "dist/threads/index.js", ...Object.keys(budgets)])) {
  const bytes = await minGzip(entry);
  const budget = budgets[entry];
  if (budget === undefined) {
    console.log(`info ${entry}: ${bytes} B min+gzip (no budget)`);
  } else {
    check(`${entry} within size budget`, bytes <= budget, `${bytes} B min+gzip, budget ${budget} B`);
  }
}

console.log(`${passed} passed, ${failures.length} failed`);
if (failures.length > 0) process.exitCode = 1;
