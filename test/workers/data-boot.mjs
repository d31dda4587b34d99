// A worker cannot load TypeScript by itself: register tsx's ESM loader in this thread, then import
// the fixture that workerData names (relative to this directory).
import { workerData } from "node:worker_threads";
import { register } from "tsx/esm/api";

register();
await import(new URL(workerData.fixture, import.meta.url).href);
