import { Notify } from "../../src/sync/notify.js";
import { inProcess } from "./actors.js";
import { runNotifyContract } from "./notify.contract.js";

// Notify has no lockbox/threads counterpart: one scope.
runNotifyContract(inProcess, () => new Notify());
