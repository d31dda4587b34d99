/**
 * A minimal test harness that runs inside the browser page: named checks, run one after another,
 * each with its own deadline, reported as plain data the Node runner prints. No framework: the page
 * loads nothing but this, the checks and the built package.
 */

/** Outcome of one check, as the runner receives it from `page.evaluate`. */
export interface CheckResult {
  name: string;
  status: "pass" | "fail" | "skip";
  /** Failure message (with stack) or skip reason. */
  detail?: string;
  ms: number;
}

/** Thrown by a check to mark itself skipped (for example: the export it needs is not in this build). */
export class Skip extends Error {}

interface Check {
  name: string;
  fn: () => Promise<void> | void;
  timeout: number;
}

const checks: Check[] = [];

/** Registers a check. `timeout` (ms) bounds it, so one hang fails one check, not the suite. */
export function check(name: string, fn: () => Promise<void> | void, timeout = 5_000): void {
  checks.push({ name, fn, timeout });
}

/** Runs every registered check in order. */
export async function runChecks(): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const { name, fn, timeout } of checks) {
    const start = performance.now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${timeout} ms`)), timeout);
    });
    try {
      await Promise.race([Promise.resolve().then(fn), deadline]);
      results.push({ name, status: "pass", ms: performance.now() - start });
    } catch (error) {
      const skipped = error instanceof Skip;
      results.push({ name, status: skipped ? "skip" : "fail", detail: render(error), ms: performance.now() - start });
    } finally {
      clearTimeout(timer);
    }
  }
  return results;
}

function render(error: unknown): string {
  if (error instanceof Error) return error instanceof Skip ? error.message : (error.stack ?? String(error));
  return String(error);
}

/** Throws with `message` unless `condition` holds. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}

/** Throws unless `actual` and `expected` are equal as JSON (arrays, numbers, strings, plain objects). */
export function assertEqual(actual: unknown, expected: unknown, message: string): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`assertion failed: ${message}: expected ${e}, got ${a}`);
}

/** Runs `fn` and returns what it throws; fails when it returns normally. */
export function thrown(fn: () => unknown, message: string): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error(`assertion failed: ${message}: expected a throw, it returned`);
}

/** Awaits `promise` and returns its rejection reason; fails when it fulfils. */
export async function rejection(promise: Promise<unknown>, message: string): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error(`assertion failed: ${message}: expected a rejection, it fulfilled`);
}

/** Lets every queued microtask (and those they queue) run; bounded, no clock involved. */
export async function flush(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await Promise.resolve();
}

/** Reports whether `promise` settled once the microtask queue is flushed. */
export async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  promise.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  await flush();
  return done;
}
