import { afterAll } from "vitest";
import { OnceCell } from "../../src/sync/once-cell.js";
import { OnceLock } from "../../src/threads/index.js";
import { inProcess, stopWorkers, threadsAsync, threadsBlocking } from "./actors.js";
import { runOnceContract } from "./once.contract.js";

afterAll(stopWorkers);

const lock = () => new OnceLock(new Int32Array(new SharedArrayBuffer(4)));

runOnceContract(inProcess, () => new OnceCell<number>(), { hasSet: true, hasWait: false });
runOnceContract(threadsAsync, lock, { hasSet: false, hasWait: true });
runOnceContract(threadsBlocking, lock, { hasSet: false, hasWait: true });
