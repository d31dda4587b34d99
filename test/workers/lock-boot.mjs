// A worker cannot load TypeScript by itself: register tsx's ESM loader in this thread, then import
// the lock fixture (or the fixture that workerData.fixture names, relative to this directory).
import { workerData } from "node:worker_threads";
import { register } from "tsx/esm/api";

register();
await import(new URL(workerData?.fixture ?? "./lock-fixture.ts", import.meta.url).href);
