/**
 * One bench process: runs one library through one scenario once (pre-check, warm-up, measured pass) and
 * prints one result line. The runner starts a fresh process for every library × scenario × repetition,
 * so no library's JIT state, heap or leftover timers leak into another's numbers.
 *
 * Usage: node --import tsx [--expose-gc] bench/worker.ts <scenario> <lib> [--quick]
 */

import { Skipped } from "./adapters.js";
import { SCENARIOS } from "./scenarios.js";
import { type ChildResult, RESULT_PREFIX, WrongResult } from "./util.js";

function report(result: ChildResult): void {
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(result)}\n`);
}

const [name, lib, ...flags] = process.argv.slice(2);
const scenario = SCENARIOS.find((s) => s.name === name);
if (scenario === undefined || lib === undefined) {
  report({ status: "error", message: `usage: worker.ts <scenario> <lib> [--quick]; got ${name} ${lib}` });
  process.exit(2);
}

try {
  const { value, extra } = await scenario.run(lib, flags.includes("--quick"));
  report({ status: "ok", value, extra });
} catch (error) {
  if (error instanceof WrongResult) report({ status: "wrong", message: error.message });
  else if (error instanceof Skipped) report({ status: "skipped", message: error.message });
  else report({ status: "error", message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
}
// Some peers leave timers behind (or a broken lock leaves tasks hanging): do not wait for them.
process.exit(0);
