/**
 * Child-process script for the keep-alive test: its only pending work is an async lock whose holder
 * (a worker) releases after a delay. Without a ref'd handle the process would exit before the lock
 * came (a pending waitAsync keeps nothing alive). Prints the value it read, then exits 0.
 */
import { Mutex, spawn } from "../../src/threads/index.js";

const mutex = new Mutex(new Int32Array(new SharedArrayBuffer(4)));
const holder = spawn(new URL("./lock-boot.mjs", import.meta.url), { workerData: null });
await new Promise<void>((resolve) => {
  holder.on("message", (message: { ready?: boolean; id?: number }) => {
    if (message.ready) holder.postMessage({ id: 1, op: "mutexHold", mutex, key: "g", mode: "sync" });
    else if (message.id === 1) resolve();
  });
});
// The worker holds the lock. It alone must not keep this process alive: drop the listener (which refs
// the worker's port) and unref it. Then ask it to release after 300 ms, and wait asynchronously.
holder.removeAllListeners("message");
holder.unref();
const guardHeld = mutex.isLocked;
holder.postMessage({ id: 2, op: "block", ms: 300 });
holder.postMessage({ id: 3, op: "release", key: "g" });
if (process.env.LOCKBOX_KEEPALIVE_CONTROL === "1") {
  // Control: a bare waitAsync on the same word, with no lockbox keep-alive. Node exits with code 13
  // ("unsettled top-level await") before the worker releases — which is what the keep-alive prevents.
  const word = new Int32Array(mutex.handle.buffer);
  const pending = Atomics.waitAsync(word, 0, Atomics.load(word, 0), 10_000);
  if (pending.async) await pending.value;
  console.log("control: woken");
} else {
  const guard = await mutex.lock({ timeout: 10_000 });
  console.log(`acquired after release (held before: ${guardHeld})`);
  guard.release();
}
await holder.terminate();
