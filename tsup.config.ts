import { defineConfig } from "tsup";

export default defineConfig({
  entry: {
    index: "src/index.ts",
    "threads/index": "src/threads/index.ts",
    "postgres/index": "src/postgres/index.ts",
    "redis/index": "src/redis/index.ts",
    "diagnostics/index": "src/diagnostics/index.ts",
    "testing/index": "src/testing/index.ts",
  },
  format: ["esm", "cjs"],
  dts: true,
  clean: true,
  sourcemap: true,
  target: "es2022",
  platform: "neutral",
  treeshake: true,
  // Both entries must share one copy of every module they have in common (errors.ts above all), in
  // CJS as in ESM: SPEC §1 promises that `instanceof` works across `lockbox` and `lockbox/threads`.
  // tsup splits ESM by default but not CJS, which would give each CJS entry its own error classes.
  splitting: true,
});
