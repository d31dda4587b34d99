/**
 * Worker side of test/threads/data-workers.test.ts. `workerData.mode` picks the scenario; each one
 * rebuilds shared data from handles only (no layout declared here) and reports with postMessage.
 */
import { parentPort, workerData } from "node:worker_threads";
import { AtomicI32, AtomicU64 } from "../../src/threads/atomics.js";
import { JsonCell } from "../../src/threads/memory/json.js";
import { type AnyStruct, StructLayout } from "../../src/threads/memory/struct.js";
import { Mutex } from "../../src/threads/mutex.js";

const port = parentPort!;
const data = workerData as { mode: string; [key: string]: unknown };

switch (data.mode) {
  case "count": {
    // Contended increments: the total must come out exact.
    const counter = AtomicI32.from(data.counter);
    const wide = AtomicU64.from(data.wide);
    const times = data.times as number;
    // Start line: report in, then block until the main thread says go, so the threads really overlap.
    const ready = AtomicI32.from(data.ready);
    const go = AtomicI32.from(data.go);
    ready.fetchAdd(1);
    ready.notify();
    while (go.load() === 0) go.waitSync(0);
    for (let i = 0; i < times; i++) {
      // Half through the compare-exchange loop, so a lost update in fetchUpdate shows in the total.
      if (i % 2 === 0) counter.fetchAdd(1);
      else counter.fetchUpdate((n) => n + 1);
      wide.fetchAdd(1n);
    }
    port.postMessage("done");
    break;
  }
  case "wait-sync": {
    const flag = AtomicI32.from(data.flag);
    port.postMessage("waiting");
    port.postMessage(flag.waitSync(0));
    break;
  }
  case "wait-async-timeout": {
    // No listener on parentPort: only the atomic's keep-alive holds this worker until the timeout.
    const flag = AtomicI32.from(data.flag);
    const result = await flag.waitAsync(0, { timeout: 20 });
    port.postMessage(result);
    break;
  }
  case "wait-async-notify": {
    const flag = AtomicI32.from(data.flag);
    const pending = flag.waitAsync(0);
    port.postMessage("waiting");
    port.postMessage(await pending);
    break;
  }
  case "notify": {
    const flag = AtomicI32.from(data.flag);
    flag.store(1);
    port.postMessage(flag.notify());
    break;
  }
  case "struct": {
    const s = StructLayout.fromHandle(data.struct);
    const seen = { id: s.id, name: s.name, inner: (s.inner as { x: number }).x };
    s.id = (s.id as bigint) + 1n;
    s.name = "wörker 😀";
    (s.inner as { x: number }).x = -7;
    (s.xs as Float64Array)[1] = 2.5;
    (s.slots as ReadonlyArray<{ x: number }>)[1]!.x = 11;
    s.ok = true;
    port.postMessage(seen);
    // Second step: report what the main thread wrote after our writes.
    port.once("message", () => {
      port.postMessage({ id: s.id, name: s.name, xs: Array.from(s.xs as Float64Array) });
    });
    break;
  }
  case "json": {
    const cell = JsonCell.from<{ from: string; items: number[] }>(data.cell);
    const value = cell.get();
    value.from = "worker";
    value.items = Array.from({ length: 200 }, (_, i) => i);
    cell.set(value);
    port.postMessage(cell.handle.buffer.byteLength);
    break;
  }
  case "locked-updates": {
    // Read-modify-write of every data kind under threads locks rebuilt from their handles alone: the
    // worker declares no layout. A lost update (a write-back outside the lock, a stale decode) shows
    // in the totals.
    const onStruct = Mutex.from<AnyStruct>(data.struct);
    const onJson = Mutex.from<JsonCell<{ n: number; log: string[] }>>(data.json);
    const onView = Mutex.from<Int32Array>(data.view);
    const onBuffer = Mutex.from<SharedArrayBuffer>(data.buffer);
    const times = data.times as number;
    const ready = AtomicI32.from(data.ready);
    const go = AtomicI32.from(data.go);
    ready.fetchAdd(1);
    ready.notify();
    while (go.load() === 0) go.waitSync(0);
    for (let i = 0; i < times; i++) {
      onStruct.withLockSync((guard) => {
        guard.value.count = (guard.value.count as number) + 1;
        guard.value.last = "worker ✓";
      });
      onJson.withLockSync((guard) => {
        guard.value.n += 1;
        if (i % 50 === 0) guard.value.log.push(`w${i}`);
      });
      onView.withLockSync((guard) => {
        guard.value[0]! += 1;
      });
      onBuffer.withLockSync((guard) => {
        const bytes = new Uint32Array(guard.value);
        bytes[1]! += 1;
      });
    }
    port.postMessage("done");
    break;
  }
  default:
    throw new Error(`unknown mode ${data.mode}`);
}
