/**
 * Real-browser suite (`npm run test:browser`): builds the package, serves dist/ and the check page
 * cross-origin isolated from 127.0.0.1, opens it in the system Chromium through playwright-core and
 * runs test/browser/page/checks.ts there. Prints one line per check, then "N passed, M failed", and
 * exits non-zero on any failure.
 *
 * Flags and environment:
 * - `--no-build`: use the dist/ that is already there.
 * - `--serve`: only start the server and print its address, to open the page in any browser and run
 *   `(await import("/page/checks.js")).runAll({ stress: 1 })` in its console; Ctrl-C stops it.
 * - `LOCKBOX_CHROMIUM`: browser binary (default /usr/bin/chromium; never a downloaded browser).
 * - `LOCKBOX_STRESS`: multiplier for the worker iteration counts and the time limits (default 1).
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { chromium } from "playwright-core";
import type { CheckResult } from "./page/harness.js";
import { startServer } from "./server.js";

const root = resolve(import.meta.dirname, "../..");
const executablePath = process.env.LOCKBOX_CHROMIUM ?? "/usr/bin/chromium";
const stress = Math.max(1, Number(process.env.LOCKBOX_STRESS ?? "1") || 1);
/** The whole run's limit; the default suite takes a few seconds. */
const SUITE_LIMIT_MS = 60_000 * stress;

function fail(message: string): never {
  console.error(`browser suite: ${message}`);
  console.log("0 passed, 1 failed");
  process.exit(1);
}

const started = performance.now();

if (!process.argv.includes("--no-build")) {
  const build = spawnSync(resolve(root, "node_modules/.bin/tsup"), ["--silent"], { cwd: root, stdio: "inherit" });
  if (build.status !== 0) fail(`the build (tsup) failed with status ${build.status}`);
}
for (const entry of ["dist/index.js", "dist/threads/index.js"]) {
  if (!existsSync(resolve(root, entry))) fail(`${entry} is missing: build with \`npx tsup\` first`);
}
if (!existsSync(executablePath)) {
  fail(`no browser at ${executablePath}: install it (apt-get install -y chromium) or set LOCKBOX_CHROMIUM`);
}

if (process.argv.includes("--serve")) {
  const server = await startServer(root);
  console.log(`serving ${server.url}/ (cross-origin isolated); Ctrl-C stops`);
  await new Promise(() => {});
}

// A hang anywhere (browser launch, page, server) must end the run, not the CI job's patience.
const watchdog = setTimeout(() => fail(`did not finish within ${SUITE_LIMIT_MS / 1000} s`), SUITE_LIMIT_MS);

const server = await startServer(root);
const browser = await chromium.launch({
  executablePath,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
let results: CheckResult[] = [];
try {
  const page = await browser.newPage();
  page.on("pageerror", (error) => console.log(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") console.log(`page console: ${message.text()}`);
  });
  await page.goto(`${server.url}/`);
  console.log(`browser: Chromium ${browser.version()}, page ${server.url}/, LOCKBOX_STRESS=${stress}`);
  results = await page.evaluate(
    async ({ url, options }) => {
      // Runs in the page: load the checks as a module of this origin and run them.
      const suite = (await import(url)) as { runAll(o: typeof options): Promise<CheckResult[]> };
      return suite.runAll(options);
    },
    { url: "/page/checks.js", options: { stress } },
  );
} finally {
  await browser.close();
  await server.close();
}
clearTimeout(watchdog);

const counts = { pass: 0, fail: 0, skip: 0 };
for (const result of results) {
  counts[result.status]++;
  const label = { pass: "ok  ", fail: "FAIL", skip: "skip" }[result.status];
  const time = result.status === "skip" ? "" : ` (${Math.round(result.ms)} ms)`;
  console.log(`${label} ${result.name}${time}`);
  if (result.detail !== undefined) console.log(`     ${result.detail.replaceAll("\n", "\n     ")}`);
}
console.log(`browser suite took ${((performance.now() - started) / 1000).toFixed(1)} s`);
if (counts.skip > 0) console.log(`${counts.skip} skipped (their exports are not in this build; reasons above)`);
if (results.length === 0) fail("no check ran");
console.log(`${counts.pass} passed, ${counts.fail} failed`);
process.exitCode = counts.fail > 0 ? 1 : 0;
