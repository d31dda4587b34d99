/**
 * Small helpers shared by the bench processes: statistics, a seeded PRNG, a FIFO queue for the floors,
 * the error a scenario throws when a library gives a wrong result, and the runner's child process.
 */

import { spawn } from "node:child_process";

/** What a bench process reports; the runner parses the line that starts with {@link RESULT_PREFIX}. */
export type ChildResult =
  | { status: "ok"; value: number; extra: Record<string, number> }
  | { status: "wrong" | "skipped" | "error"; message: string };

export const RESULT_PREFIX = "@@lockbox-bench ";

/** Thrown by a scenario's correctness checks: the library is reported as wrong, not ranked. */
export class WrongResult extends Error {
  override readonly name = "WrongResult";
}

/** Fails the run with {@link WrongResult} unless `condition` holds. */
export function expect(condition: boolean, message: string): asserts condition {
  if (!condition) throw new WrongResult(message);
}

/** Median of a non-empty list (mean of the two middle values for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  if (sorted.length === 0) return Number.NaN;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/**
 * A seeded 32-bit PRNG (splitmix32: add a Weyl constant, then mix). Every library sees the same
 * sequence for the same seed, so the RwLock workload is identical across processes.
 */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    z ^= z >>> 16;
    return (z >>> 0) / 2 ** 32;
  };
}

/**
 * A FIFO queue on an array with a moving head: O(1) amortized push and shift. `Array.prototype.shift`
 * is O(n) once the array lives in V8's large-object space (roughly 100k pointers), which is the
 * quadratic drain the waiters scenario exposes in some peers; the floors must not have it.
 */
export class Fifo<T> {
  #items: (T | undefined)[] = [];
  #head = 0;

  get size(): number {
    return this.#items.length - this.#head;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  /** Removes and returns the oldest item; the caller checks `size` first. */
  shift(): T {
    const items = this.#items;
    const item = items[this.#head] as T;
    items[this.#head++] = undefined;
    if (this.#head === items.length) {
      items.length = 0;
      this.#head = 0;
    } else if (this.#head >= 4096 && this.#head * 2 >= items.length) {
      // Compact once the dead prefix is at least half the array: amortized O(1) per shift.
      this.#items = items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  peek(): T | undefined {
    return this.#items[this.#head];
  }
}

/** Resolves after the current macrotask: every microtask and `process.nextTick` queued so far has run. */
export function macrotask(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Monotonic time in nanoseconds, as a number (precise to well under a microsecond for bench spans). */
export function nowNs(): number {
  return Number(process.hrtime.bigint());
}

/** CPU time this process has used (all threads: user + system), in nanoseconds. */
export function cpuNs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) * 1000;
}

/** What one bench child process printed, and how it ended. */
export interface ChildOutput {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `node …args` in `cwd` and collects its output; with `timeoutMs`, kills it (SIGKILL) past that. */
export function runNode(args: readonly string[], cwd: string, timeoutMs?: number): Promise<ChildOutput> {
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
    });
    const timer = timeoutMs === undefined ? undefined : setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr });
    });
  });
}
