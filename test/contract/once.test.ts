// The threads-blocking scope (workers) of this suite runs in threads-blocking.test.ts, which shares its workers.
import { OnceCell } from "../../src/sync/once-cell.js";
import { OnceLock } from "../../src/threads/index.js";
import { inProcess, threadsAsync } from "./actors.js";
import { runOnceContract } from "./once.contract.js";
import * as params from "./params.js";

const lock = () => new OnceLock(new Int32Array(new SharedArrayBuffer(4)));

runOnceContract(inProcess, () => new OnceCell<number>(), params.once.lockbox);
runOnceContract(threadsAsync, lock, params.once.threads);
