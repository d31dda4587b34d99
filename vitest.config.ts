import { createRequire } from "node:module";
import { defineConfig } from "vitest/config";

// The TypeScript of this project, by path: the type matrix of test:package installs other TypeScript
// versions under aliases (typescript-5.2, typescript-7), whose `tsc` bins compete for node_modules/.bin.
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    exclude: ["test/browser/**", "node_modules/**"],
    typecheck: { enabled: true, include: ["test/types/**/*.test-d.ts"], tsconfig: "./tsconfig.json", checker: tsc },
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
