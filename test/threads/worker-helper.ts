/**
 * Real worker_threads for the threads tests: `startWorker()` spawns test/workers/lock-fixture.ts
 * (supervised, through `spawn`), `w.call(op, args)` runs one fixture operation and resolves with its
 * reply. Every call has a timeout, so a bug fails a test instead of hanging it.
 */
import { type SpawnedWorker, spawn } from "../../src/threads/index.js";

const BOOT = new URL("../workers/lock-boot.mjs", import.meta.url);

/** Multiplier for stress sizes (env LOCKBOX_STRESS, default 1: small enough for CI). */
export const STRESS = Math.max(1, Number(process.env.LOCKBOX_STRESS ?? 1) || 1);

export interface Reply {
  ok: boolean;
  value?: unknown;
  name?: string;
  message?: string;
}

export interface TestWorker {
  worker: SpawnedWorker;
  /** Runs `op` in the worker; resolves with the reply (rejects only on the call timeout or worker exit). */
  call(op: string, args?: Record<string, unknown>, timeout?: number): Promise<Reply>;
  /** Resolves with the exit code. */
  exited: Promise<number>;
}

const live = new Set<SpawnedWorker>();

/** Starts a fixture worker and waits until it is ready. */
export async function startWorker(): Promise<TestWorker> {
  const worker = spawn(BOOT, { workerData: null });
  live.add(worker);
  const pending = new Map<number, (reply: Reply) => void>();
  let nextId = 1;
  // Not events.once: that rejects on 'error' (a crash), and a crash is an expected way to exit here.
  const exited = new Promise<number>((resolve) => {
    worker.once("exit", (code) => {
      live.delete(worker);
      resolve(code);
    });
  });
  const ready = new Promise<void>((resolve, reject) => {
    worker.on("message", (message: { id?: number; ready?: boolean } & Reply) => {
      if (message.ready) return resolve();
      const settle = pending.get(message.id!);
      pending.delete(message.id!);
      settle?.(message);
    });
    worker.once("error", reject);
  });
  worker.on("error", () => {});
  await ready;
  return {
    worker,
    exited,
    call(op, args = {}, timeout = 15_000) {
      const id = nextId++;
      return new Promise<Reply>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`worker call ${op} timed out after ${timeout} ms`)), timeout);
        pending.set(id, (reply) => {
          clearTimeout(timer);
          resolve(reply);
        });
        exited.then((code) => {
          clearTimeout(timer);
          reject(new Error(`worker exited (code ${code}) during ${op}`));
        });
        worker.postMessage({ id, op, ...args });
      });
    },
  };
}

/** Terminates every worker still running (afterEach). */
export async function terminateAll(): Promise<void> {
  await Promise.all([...live].map((worker) => worker.terminate()));
  live.clear();
}

/** The value of an ok reply; throws with the worker's error otherwise. */
export function okValue(reply: Reply): unknown {
  if (!reply.ok) throw new Error(`worker failed: ${reply.name}: ${reply.message}`);
  return reply.value;
}

/** A start line for `count` workers (see the fixture's `startLine`): pass `line.start`, then `await line.go()`. */
export function startLine(count: number): { start: Int32Array; go(): Promise<void> } {
  const start = new Int32Array(new SharedArrayBuffer(8));
  return {
    start,
    async go() {
      while (Atomics.load(start, 1) < count) await new Promise((resolve) => setTimeout(resolve, 1));
      Atomics.store(start, 0, 1);
      Atomics.notify(start, 0);
    },
  };
}
