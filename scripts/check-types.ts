/**
 * Type matrix, run by `npm run test:package` after the build: the packed package, installed into a
 * throwaway consumer project, must type-check with `skipLibCheck: false` under
 *
 * - TypeScript 5.2 (the first with `using`), the project's own (5.9) and the newest (7.x);
 * - module resolution node16, nodenext, bundler and legacy `node` (node10; TypeScript 7 removed it);
 * - with `@types/node` (a Node project: `lib` without DOM) and without (a browser project: DOM lib);
 * - a `lib` with and without `esnext.disposable` (`using` must work either way: lockbox declares
 *   `Symbol.dispose` and `Disposable` where the lib does not).
 *
 * The consumer imports every entry that needs no optional peer (and, with `@types/node`, the postgres
 * and redis entries too, with their drivers' types), uses `using` on a guard, and calls the main APIs,
 * so a declaration that does not resolve or does not type-check in some setup fails here.
 *
 * The compilers are the devDependencies `typescript` and the aliases `typescript-5.2` and
 * `typescript-7` (`"typescript-5.2": "npm:typescript@5.2.2"`); `LOCKBOX_TS_PREFIX=<dir>` names another
 * `node_modules` folder to look for them in; `LOCKBOX_TYPES_ONLY=<text>` checks only the setups whose
 * name contains the text. Exits non-zero when a setup fails or a compiler is missing.
 * Usage: `tsx scripts/check-types.ts` (after `tsup`).
 */
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dirname, "..");
const modules = [join(root, "node_modules"), ...(process.env.LOCKBOX_TS_PREFIX ? [process.env.LOCKBOX_TS_PREFIX] : [])];

const compilers = [
  { label: "TS 5.2", pkg: "typescript-5.2" },
  { label: "TS 5.9", pkg: "typescript" },
  { label: "TS 7", pkg: "typescript-7" },
];
type Resolution = "node16" | "nodenext" | "bundler" | "node10";
const resolutions: Resolution[] = ["node16", "nodenext", "bundler", "node10"];

const failures: string[] = [];
let passed = 0;
function check(name: string, ok: boolean, detail = ""): void {
  if (ok) passed++;
  else failures.push(name);
  console.log(`${ok ? "ok  " : "FAIL"} ${name}${detail ? `:\n${detail}` : ""}`);
}

const work = mkdtempSync(join(tmpdir(), "lockbox-types-"));
try {
  // The package as published: `npm pack`, unpacked into each consumer's node_modules/lockbox.
  const [packed] = JSON.parse(
    execFileSync("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", work], {
      cwd: root,
      encoding: "utf8",
    }),
  ) as [{ filename: string }];
  const tarball = join(work, packed.filename);

  /** Writes `files` (path → text) under `dir`. */
  function write(dir: string, files: Record<string, string>): void {
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(join(dir, path, ".."), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
  }

  /** A consumer project: lockbox unpacked, plus (with Node) links to @types/node and the drivers. */
  function consumer(name: string, withNode: boolean): string {
    const dir = join(work, name);
    if (existsSync(dir)) return dir;
    mkdirSync(join(dir, "node_modules/lockbox"), { recursive: true });
    execFileSync("tar", ["-xzf", tarball, "-C", join(dir, "node_modules/lockbox"), "--strip-components=1"]);
    if (withNode) {
      for (const dep of ["@types/node", "@types/pg", "pg", "ioredis", "redis"]) {
        mkdirSync(join(dir, "node_modules", dep, ".."), { recursive: true });
        symlinkSync(join(root, "node_modules", dep), join(dir, "node_modules", dep));
      }
    }
    return dir;
  }

  const main = (drivers: boolean) => `
import { LockboxError, Mutex, RwLock, Semaphore, TimeoutError } from "lockbox";
import { lockStats } from "lockbox/diagnostics";
import { explore } from "lockbox/testing";
import { Mutex as SharedMutex, spawn, struct, supervise } from "lockbox/threads";
${drivers ? `import { PostgresStore } from "lockbox/postgres";\nimport { RedisStore } from "lockbox/redis";\n` : ""}
export async function demo(): Promise<number> {
  const mutex = new Mutex({ count: 0 });
  {
    using guard = await mutex.lock({ timeout: 100 });
    guard.value.count++;
  }
  const guard = await mutex.lock();
  guard[Symbol.dispose]();
  const rw = new RwLock([1, 2]);
  const read = await rw.read();
  const first: number | undefined = read.value[0];
  read.release();
  const permits = new Semaphore(2);
  (await permits.acquire()).release();
  const Point = struct({ x: "i32", y: "f64" });
  const shared = new SharedMutex(Point.create({ x: 1, y: 2 }));
  const sharedGuard = shared.lockSync();
  sharedGuard.value.x += 1;
  sharedGuard.release();
  const again = SharedMutex.from(shared.handle);
  void again;
  void spawn;
  void supervise;
  void lockStats;
  void explore;
  const error: unknown = new TimeoutError("x");
  if (error instanceof LockboxError) return first ?? 0;
  ${drivers ? "void PostgresStore;\n  void RedisStore;\n  " : ""}return 0;
}
`;

  interface Setup {
    name: string;
    resolution: Resolution;
    withNode: boolean;
    disposable: boolean;
  }
  // Every pair of dimensions is covered in full (all resolutions with and without @types/node, with and
  // without esnext.disposable; all four @types/node × lib pairs), which takes 6 compilations per
  // compiler instead of the full product's 16. LOCKBOX_TYPES_FULL=1 checks the full product.
  const full = process.env.LOCKBOX_TYPES_FULL === "1";
  // LOCKBOX_TYPES_ONLY=<text>: only the setups whose name contains it (while working on one).
  const only = process.env.LOCKBOX_TYPES_ONLY;
  const setups: Setup[] = [];
  for (const withNode of [true, false]) {
    for (const disposable of [true, false]) {
      for (const resolution of resolutions) {
        // A browser project without the disposable lib and a Node project with it, in every resolution;
        // the two other pairs in nodenext.
        const covering = withNode === disposable || resolution === "nodenext";
        if (!full && !covering) continue;
        const name = `${resolution}, ${withNode ? "@types/node" : "no @types/node (DOM)"}, lib ${disposable ? "with" : "without"} esnext.disposable`;
        setups.push({ name, resolution, withNode, disposable });
      }
    }
  }

  /** Writes the consumer project for `setup` (drivers: also import lockbox/postgres and lockbox/redis). */
  function project(setup: Setup, drivers: boolean): string {
    const { resolution, withNode, disposable } = setup;
    const dir = consumer(
      `${resolution}-${withNode ? "node" : "dom"}-${disposable ? "disp" : "nodisp"}${drivers ? "-drivers" : ""}`,
      withNode,
    );
    const lib = [...(withNode ? ["es2022"] : ["es2022", "dom"]), ...(disposable ? ["esnext.disposable"] : [])];
    const compilerOptions: Record<string, unknown> = {
      target: "es2022",
      lib,
      types: withNode ? ["node"] : [],
      strict: true,
      skipLibCheck: false,
      noEmit: true,
    };
    const files: Record<string, string> = {};
    if (resolution === "node16" || resolution === "nodenext") {
      compilerOptions.module = resolution;
      compilerOptions.moduleResolution = resolution;
      // Both kinds of importer: an ES module (the "import" types) and a CommonJS one ("require").
      files["src/esm.mts"] = main(drivers);
      files["src/cjs.cts"] = main(drivers);
    } else if (resolution === "bundler") {
      compilerOptions.module = "esnext";
      compilerOptions.moduleResolution = "bundler";
      files["src/index.ts"] = main(drivers);
    } else {
      compilerOptions.module = "commonjs";
      compilerOptions.moduleResolution = "node";
      files["src/index.ts"] = main(drivers);
    }
    files["tsconfig.json"] = JSON.stringify({ compilerOptions, include: ["src"] }, null, 2);
    files["package.json"] = JSON.stringify({ name: "consumer", private: true });
    write(dir, files);
    return dir;
  }

  function run(tsc: string, dir: string): Promise<{ code: number | null; output: string }> {
    return new Promise((done) => {
      const child = spawn(process.execPath, [tsc, "-p", dir], { cwd: dir });
      let output = "";
      child.stdout.on("data", (chunk) => {
        output += chunk;
      });
      child.stderr.on("data", (chunk) => {
        output += chunk;
      });
      child.on("close", (code) => done({ code, output }));
    });
  }

  const jobs: { name: string; tsc: string; dir: string }[] = [];
  for (const { label, pkg } of compilers) {
    const found = modules.map((dir) => join(dir, pkg)).find((dir) => existsSync(join(dir, "package.json")));
    if (found === undefined) {
      check(`${label} compiler installed`, false, `  no ${pkg} in ${modules.join(" or ")} (npm install)`);
      continue;
    }
    const version = (JSON.parse(readFileSync(join(found, "package.json"), "utf8")) as { version: string }).version;
    const major = Number(version.split(".")[0]);
    for (const setup of setups) {
      if (only !== undefined && !`TS ${version}, ${setup.name}`.includes(only)) continue;
      // TypeScript 7 removed moduleResolution node10 ("node"): nothing to check there.
      if (major >= 7 && setup.resolution === "node10") continue;
      // The drivers' own declarations (pg-protocol's generic Buffer) need a newer TypeScript than 5.2.
      const drivers = setup.withNode && !version.startsWith("5.2.");
      const dir = project(setup, drivers);
      jobs.push({
        name: `TS ${version}, ${setup.name}${drivers ? " (+ postgres, redis)" : ""}`,
        tsc: join(found, "bin/tsc"),
        dir,
      });
    }
  }
  // Two compilers at a time (the machine has two cores).
  let next = 0;
  await Promise.all(
    [0, 1].map(async () => {
      while (next < jobs.length) {
        const job = jobs[next++]!;
        const { code, output } = await run(job.tsc, job.dir);
        check(
          job.name,
          code === 0,
          code === 0
            ? ""
            : output
                .trim()
                .split("\n")
                .slice(0, 12)
                .map((line) => `  ${line}`)
                .join("\n"),
        );
      }
    }),
  );
} finally {
  rmSync(work, { recursive: true, force: true });
}

console.log(`${passed} passed, ${failures.length} failed`);
if (failures.length > 0) process.exitCode = 1;
