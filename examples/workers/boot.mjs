// Examples run from TypeScript source, and a worker thread cannot load a .ts file by itself: this
// bootstrap registers tsx's loader in the worker, then imports the script that workerData names.
// In a compiled project, point the Worker at the built .js file instead and drop this file.
import { workerData } from "node:worker_threads";
import { register } from "tsx/esm/api";

register();
await import(new URL(workerData.script, import.meta.url).href);
