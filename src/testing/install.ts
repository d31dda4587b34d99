/**
 * The explorer's observer, in lockbox's observer slot while at least one `explore` runs (several
 * concurrent explorations share it: each task knows its own run). Outside explorations the slot is
 * left as it was, so lockbox pays nothing.
 *
 * @internal
 */

import { installObserver, type Observer } from "../internal/observer.js";
import { aroundOp, grantOp, releaseOp, syncOp } from "./hooks.js";

const explorer: Observer = {
  around: (target, op, options, run) => aroundOp(target, op, options, run as (options: unknown) => Promise<never>),
  sync: (target, op) => syncOp(target, op),
  acquired: (target, guard) => grantOp(target, guard),
  released: (target, guard) => releaseOp(target, guard),
  // Blocked tasks are recognised by the scheduler itself (a task inside an operation whose promise did
  // not settle within its step), which also covers waits that never queue in a lockbox core.
  waiting: () => undefined,
  waitEnded: () => {},
};

let explorations = 0;
let uninstall: (() => void) | undefined;

/** Installs the explorer (reference-counted) and returns the function that gives the slot back. */
export function installExplorer(): () => void {
  if (explorations++ === 0) uninstall = installObserver(explorer);
  let done = false;
  return () => {
    if (done) return;
    done = true;
    if (--explorations === 0) {
      uninstall?.();
      uninstall = undefined;
    }
  };
}
