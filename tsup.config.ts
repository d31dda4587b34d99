import { rmSync } from "node:fs";
import { defineConfig, type Options } from "tsup";

/** The public entries (package.json "exports"), by output path. */
const entries = {
  index: "src/index.ts",
  "threads/index": "src/threads/index.ts",
  "postgres/index": "src/postgres/index.ts",
  "redis/index": "src/redis/index.ts",
  "diagnostics/index": "src/diagnostics/index.ts",
  "testing/index": "src/testing/index.ts",
};

const common: Options = {
  clean: false,
  sourcemap: true,
  target: "es2022",
  platform: "neutral",
};

export default defineConfig(() => {
  // One clean before both builds (each config's own `clean` would race the other's output).
  rmSync("dist", { recursive: true, force: true });
  return [
    // ESM: one output file per source module (dist/ mirrors src/), not a bundle. Together with
    // `"sideEffects": false` this lets an application's bundler drop every module it does not reach:
    // inside one bundled file, a class with a `static {}` block counts as a side effect and stays even
    // when unused, so `import { Mutex }` used to carry almost the whole library. Modules shared by
    // entries (errors.ts above all) exist once, so `instanceof` works across `lockbox` and
    // `lockbox/threads` (SPEC §1).
    {
      ...common,
      entry: ["src/**/*.ts"],
      format: ["esm"],
      bundle: false,
      dts: { entry: entries },
    },
    // CJS: bundled per entry, with shared chunks (tsup splits ESM by default but not CJS, which would
    // give each CJS entry its own error classes). `require` loads whole files, so per-module output
    // would buy nothing there.
    {
      ...common,
      entry: entries,
      format: ["cjs"],
      dts: true,
      treeshake: true,
      splitting: true,
    },
  ];
});
