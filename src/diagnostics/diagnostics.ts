/**
 * The diagnostics observer: installed in the core's observer slot by `enableDiagnostics`,
 * removed by `disableDiagnostics`.
 *
 * Identity rules (JavaScript has no task identity, so every check is defined where identity is exact):
 * - A **scope** is one call of a callback form (`withLock`, `withRead`, `withWrite`, `withPermit`,
 *   `KeyedMutex.withLock`). It is a {@link Frame} carried by `AsyncLocalStorage` into everything its
 *   callback awaits; the frames up its parent chain that still hold their guard are its *held set*.
 * - A guard from a bare `lock()` belongs to no scope: it is never in a held set, so it never causes a
 *   deadlock or lock-order report. Its waits and holds still count for long waits, stats and traces.
 * - A frame stops holding the moment its guard is released (even early, inside the callback) or its
 *   call settles, so a task that outlives its scope (detached) no longer holds the scope's locks.
 *
 * @internal
 */

import { AsyncLocalStorage } from "node:async_hooks";
import { channel } from "node:diagnostics_channel";
import { ClosedError, DeadlockError, TimeoutError } from "../errors.js";
import { type AsyncOp, type HoldMode, installObserver, type Observable, type Observer } from "../internal/observer.js";
import { describe } from "../internal/validate.js";
import type { AcquireOptions } from "../types.js";
import { installView, Revocation } from "./revoke.js";
import { captureSite, formatSite } from "./stacks.js";
import { LockCounters, type LockStats, renderTable } from "./stats.js";

// ---- public option and report types -------------------------------------------------------------

/** A lock-order inversion (`onPotentialDeadlock`). */
export interface PotentialDeadlockReport {
  /** What a user reads: the locks, both orders, and where each nesting happened. */
  readonly message: string;
  /** The names of the locks of the inverted order, in the order of the cycle. */
  readonly locks: string[];
  /** Where each nesting of the cycle was taken: the earlier one(s) first, this one last. */
  readonly stacks: string[];
}

/** One current holder of a lock that was waited for too long. */
export interface LongWaitHolder {
  /** How long it has held the lock, in milliseconds. */
  readonly heldMs: number;
  /** Where it acquired the lock. */
  readonly stack: string;
}

/** A wait longer than `longWait` (`onLongWait`). */
export interface LongWaitReport {
  readonly message: string;
  /** The lock's name. */
  readonly lock: string;
  /** How long the waiter has waited so far, in milliseconds. */
  readonly waitedMs: number;
  /** Where the waiter called the acquire. */
  readonly waiterStack: string;
  /** The current holders, with where each acquired the lock. */
  readonly holders: LongWaitHolder[];
}

/** Options of {@link enableDiagnostics}. */
export interface DiagnosticsOptions {
  /**
   * Scope-carried deadlock detection (Node's `AsyncLocalStorage`): `true` rejects self-deadlocks and
   * wait cycles between scopes with `DeadlockError` and reports lock-order inversions through
   * `onPotentialDeadlock`; `"strict"` also rejects every acquire that takes an inverted order.
   */
  deadlocks?: boolean | "strict" | undefined;
  /** Receives lock-order inversions (default: `console.warn(report.message)`). */
  onPotentialDeadlock?: ((report: PotentialDeadlockReport) => void) | undefined;
  /** Report any wait longer than this many milliseconds (every acquire, tracked or not). */
  longWait?: number | undefined;
  /** Receives long waits (default: `console.warn(report.message)`). */
  onLongWait?: ((report: LongWaitReport) => void) | undefined;
  /** Hand out object values through views that throw `UseAfterReleaseError` once the guard is released. */
  revokeOnRelease?: boolean | undefined;
  /** Collect {@link lockStats}. */
  stats?: boolean | undefined;
  /** Record a trace for {@link takeTrace} and publish `lockbox:wait` / `acquire` / `release` events. */
  trace?: boolean | undefined;
}

/** One event of a Chrome trace-event file. */
export interface TraceEvent {
  name: string;
  cat?: string;
  ph: "X" | "M" | "i";
  ts: number;
  dur?: number;
  pid: number;
  tid: number;
  s?: "t" | "p" | "g";
  args?: Record<string, unknown>;
}

/** What {@link takeTrace} returns: Chrome's JSON object format, which Perfetto and chrome://tracing open. */
export interface Trace {
  traceEvents: TraceEvent[];
  displayTimeUnit: "ms";
}

// ---- state ---------------------------------------------------------------------------------------

const ACQUIRING = 0;
const HELD = 1;
const DONE = 2;

/** One scope: a call of a callback form. */
interface Frame {
  readonly parent: Frame | undefined;
  readonly res: Res;
  readonly mode: HoldMode;
  readonly site: Error | undefined;
  /** Trace tracks: the root scope's. */
  readonly group: Group;
  state: typeof ACQUIRING | typeof HELD | typeof DONE;
  /** Whether the frame's own acquire has been issued (it is the first acquire of its lock in it). */
  issued: boolean;
}

/** A lock, or one key of a KeyedMutex: what can be held and waited for. */
interface Res {
  readonly id: number;
  readonly name: string;
  readonly target: Observable;
  readonly holders: Map<object, Hold>;
  readonly waits: Set<Wait>;
  /** Trace tracks of its holds and waits outside any scope. */
  group: Group | undefined;
}

interface Hold {
  readonly res: Res[];
  readonly mode: HoldMode;
  readonly since: number;
  site: Error | undefined;
  frame: Frame | undefined;
  group: Group;
  rev: Revocation | undefined;
}

interface Wait {
  readonly res: Res;
  readonly mode: HoldMode;
  readonly frame: Frame | undefined;
  readonly since: number;
  readonly site: Error | undefined;
  readonly group: Group;
  /** Held frames of its scope chain at the time it queued (registered in `waitsByFrame`). */
  readonly heldFrames: Frame[];
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** The acquire call in progress (its synchronous part), so that holds and waits find their call site. */
interface Call {
  readonly target: Observable;
  readonly site: Error | undefined;
  readonly frame: Frame | undefined;
}

interface Settings {
  deadlocks: false | true | "strict";
  onPotentialDeadlock: (report: PotentialDeadlockReport) => void;
  longWait: number | undefined;
  onLongWait: (report: LongWaitReport) => void;
  revokeOnRelease: boolean;
  stats: boolean;
  trace: boolean;
}

const LOCK_KINDS = new Set([
  "Mutex",
  "RwLock",
  "Semaphore",
  "KeyedMutex",
  "DistributedMutex",
  "DistributedRwLock",
  "DistributedSemaphore",
]);
const WITH_OPS = new Set<AsyncOp>(["withLock", "withRead", "withWrite", "withPermit"]);
const ACQUIRE_OPS = new Set<AsyncOp>(["lock", "read", "write", "upgradableRead", "upgrade", "acquire", "lockMany"]);
const VIEW_GUARDS = new Set([
  "MutexGuard",
  "RwLockReadGuard",
  "RwLockWriteGuard",
  "RwLockUpgradableReadGuard",
  "Ref",
  "RefMut",
]);
/** Most events a trace keeps between two `takeTrace()` calls; later ones are counted, not kept. */
const MAX_TRACE_EVENTS = 1_000_000;

let settings: Settings | undefined;
let uninstall: (() => void) | undefined;
let als: AsyncLocalStorage<Frame> | undefined;

let resIds = 0;
// Replaced (not cleared) by disableDiagnostics: holds taken while on and released while off are
// never announced, so everything they touched is dropped at once.
let plainRes = new WeakMap<Observable, Res>();
let keyedRes = new WeakMap<Observable, Map<unknown, Res>>();
let holds = new WeakMap<object, Hold>();
const waits = new Map<object, Wait>();
const waitsByFrame = new Map<Frame, Set<Wait>>();
/** The wait that was just granted: the `acquired` that follows at once belongs to it. */
let granted: { wait: Wait; waitedMs: number } | undefined;
let current: Call | undefined;

/** Lock-order graph: outer → inner → the first nesting seen in that order. */
interface Nesting {
  readonly outerSite: Error | undefined;
  readonly innerSite: Error | undefined;
}
const order = new Map<Res, Map<Res, Nesting>>();
const reportedPairs = new Set<string>();

let counters = new WeakMap<Observable, LockCounters>();
/** Every lock's counters, for `lockStats()`; holds no reference to the locks themselves. */
let allCounters: LockCounters[] = [];

let traceEvents: TraceEvent[] = [];
let droppedEvents = 0;
/** Track (tid) names, for the trace's metadata events. */
let tracks = new Map<number, string>();
let trackIds = 0;
let scopeGroups = 0;
/** Tracks of root scopes that ended, reused by the next ones (a bounded number of tracks). */
let freeGroups: Group[] = [];

const waitChannel = channel("lockbox:wait");
const acquireChannel = channel("lockbox:acquire");
const releaseChannel = channel("lockbox:release");

const now = (): number => performance.now();

// ---- resources ----------------------------------------------------------------------------------

function resOf(target: Observable, key: unknown): Res {
  if (key === undefined) {
    let res = plainRes.get(target);
    if (res === undefined) {
      res = newRes(target, target.name);
      plainRes.set(target, res);
    }
    return res;
  }
  let byKey = keyedRes.get(target);
  if (byKey === undefined) {
    byKey = new Map();
    keyedRes.set(target, byKey);
  }
  let res = byKey.get(key);
  if (res === undefined) {
    res = newRes(target, `${target.name}[${describe(key)}]`);
    byKey.set(key, res);
  }
  return res;
}

function newRes(target: Observable, name: string): Res {
  return { id: ++resIds, name, target, holders: new Map(), waits: new Set(), group: undefined };
}

/** Every resource a hold covers: one, or each key of a `lockMany`. */
function resList(target: Observable, key: unknown): Res[] {
  if (Array.isArray(key)) return key.map((k) => resOf(target, k));
  return [resOf(target, key)];
}

function kindOf(target: Observable): string {
  return (target as { constructor?: { name?: string } }).constructor?.name ?? "lock";
}

function countersOf(target: Observable): LockCounters | undefined {
  if (settings?.stats !== true) return undefined;
  let c = counters.get(target);
  if (c === undefined) {
    const kind = kindOf(target);
    if (!LOCK_KINDS.has(kind)) return undefined;
    c = new LockCounters(target.name, kind);
    counters.set(target, c);
    allCounters.push(c);
  }
  return c;
}

function modeOfOp(op: AsyncOp): HoldMode {
  switch (op) {
    case "read":
    case "withRead":
      return "shared";
    case "upgradableRead":
      return "upgradable";
    case "acquire":
    case "withPermit":
      return "permits";
    default:
      return "exclusive";
  }
}

// ---- tracks ---------------------------------------------------------------------------------------

/**
 * The tracks of one root scope (or of one lock's waits and holds outside scopes). A trace viewer
 * needs the spans of one track to nest; a detached task or a shared hold can make spans overlap
 * without nesting, so a group has lanes (tids) and each span goes to the first lane where it nests.
 */
interface Group {
  readonly name: string;
  readonly lanes: Lane[];
}

interface Lane {
  readonly tid: number;
  /** Start and end (µs) of the latest spans on this lane, flat pairs, newest last. */
  readonly recent: number[];
}

/** Spans remembered per lane for the nesting check. */
const LANE_MEMORY = 64;

function rootGroup(): Group {
  return freeGroups.pop() ?? { name: `scope ${++scopeGroups}`, lanes: [] };
}

function groupOfRes(res: Res): Group {
  res.group ??= { name: `${res.name} (outside scopes)`, lanes: [] };
  return res.group;
}

/** The tid of the first lane of `group` where the span [start, end] nests with what is there. */
function place(group: Group, start: number, end: number): number {
  // Spans are placed when they end, so an earlier span on the lane ended no later than this one: it
  // conflicts exactly when it started before this one and ended after this one started.
  for (const lane of group.lanes) {
    const r = lane.recent;
    let fits = true;
    for (let i = 0; i < r.length; i += 2) {
      if ((r[i] as number) < start && start < (r[i + 1] as number)) {
        fits = false;
        break;
      }
    }
    if (fits) {
      r.push(start, end);
      if (r.length > LANE_MEMORY * 2) r.splice(0, 2);
      return lane.tid;
    }
  }
  const tid = ++trackIds;
  tracks.set(tid, group.lanes.length === 0 ? group.name : `${group.name} · ${group.lanes.length + 1}`);
  group.lanes.push({ tid, recent: [start, end] });
  return tid;
}

function emit(event: TraceEvent): void {
  if (traceEvents.length >= MAX_TRACE_EVENTS) {
    droppedEvents++;
    return;
  }
  traceEvents.push(event);
}

const µs = (ms: number): number => Math.round(ms * 1000);

// ---- the held set ----------------------------------------------------------------------------------

function heldFrames(frame: Frame | undefined): Frame[] {
  const held: Frame[] = [];
  for (let f = frame; f !== undefined; f = f.parent) if (f.state === HELD) held.push(f);
  return held;
}

// ---- deadlock detection ------------------------------------------------------------------------------

/** The scope frames that `wait` cannot pass until they release (only exact edges: no false reports). */
function blockers(wait: Wait): Frame[] {
  if (wait.mode === "permits" || wait.mode === "event") return []; // anyone may add permits or notify
  const out: Frame[] = [];
  for (const hold of wait.res.holders.values()) {
    const frame = hold.frame;
    if (frame === undefined || frame.state !== HELD) continue;
    if (hold.mode === "exclusive") out.push(frame);
    else if (wait.mode === "exclusive" && (hold.mode === "shared" || hold.mode === "upgradable")) out.push(frame);
  }
  return out;
}

function selfDeadlock(wait: Wait): DeadlockError | undefined {
  for (const frame of wait.heldFrames) {
    if (frame.res !== wait.res) continue;
    let why: string | undefined;
    if (frame.mode === "exclusive") why = `already holds ${frame.res.name} exclusively and now waits for it again`;
    else if (frame.mode === "shared" && wait.mode === "exclusive") {
      why = `holds a read guard of ${frame.res.name} and now waits to write it (a writer waits for every reader, itself included)`;
    } else if (frame.mode === "shared" && wait.mode === "shared") {
      for (const other of wait.res.waits) {
        if (other !== wait && other.mode === "exclusive") {
          why = `holds a read guard of ${frame.res.name} and waits to read it again behind a queued writer, which waits for the first read guard`;
          break;
        }
      }
    }
    if (why !== undefined) {
      return new DeadlockError(
        `Deadlock: this task ${why}.\n${frame.res.name} was taken at:\n${formatSite(frame.site)}\nand is waited for at:\n${formatSite(wait.site)}\n` +
          "(A task started inside that scope and not awaited by it shares its locks: start it with detach() from lockbox/diagnostics.)",
      );
    }
  }
  return undefined;
}

/** A cycle of waits that `wait` would close, as the list of (wait, frame it waits for) steps. */
function findCycle(start: Wait): { wait: Wait; frame: Frame }[] | undefined {
  const mine = new Set(start.heldFrames);
  if (mine.size === 0) return undefined;
  const seen = new Set<Wait>([start]);
  const path: { wait: Wait; frame: Frame }[] = [];
  const visit = (wait: Wait): boolean => {
    for (const frame of blockers(wait)) {
      path.push({ wait, frame });
      if (mine.has(frame)) return true;
      const next = waitsByFrame.get(frame);
      if (next !== undefined) {
        for (const other of next) {
          if (seen.has(other)) continue;
          seen.add(other);
          if (visit(other)) return true;
        }
      }
      path.pop();
    }
    return false;
  };
  return visit(start) ? path : undefined;
}

function cycleError(cycle: { wait: Wait; frame: Frame }[]): DeadlockError {
  const lines: string[] = [];
  const taken: string[] = [];
  cycle.forEach(({ wait, frame }, i) => {
    const holder = i === cycle.length - 1 ? "this task" : `scope ${i + 1}`;
    const waiter = i === 0 ? "this task" : `scope ${i}`;
    lines.push(`  ${waiter} waits for ${wait.res.name}, held by ${holder}`);
    taken.push(`${frame.res.name} was taken at:\n${formatSite(frame.site)}`);
  });
  return new DeadlockError(
    `Deadlock: this wait would close a cycle of ${cycle.length} waits, so it is refused:\n${lines.join("\n")}\n${taken.join("\n")}\nThis wait for ${cycle[0]?.wait.res.name} started at:\n${formatSite(cycle[0]?.wait.site)}\n` +
      "(A task started inside a scope and not awaited by it shares its locks: start it with detach() from lockbox/diagnostics.)",
  );
}

// ---- lock order (lockdep) -------------------------------------------------------------------------

/** A path inner →* outer in the order graph (an earlier nesting in the opposite order), if any. */
function orderPath(from: Res, to: Res): { outer: Res; inner: Res; nesting: Nesting }[] | undefined {
  const seen = new Set<Res>([from]);
  const queue: { res: Res; path: { outer: Res; inner: Res; nesting: Nesting }[] }[] = [{ res: from, path: [] }];
  while (queue.length > 0) {
    const { res, path } = queue.shift() as (typeof queue)[number];
    const edges = order.get(res);
    if (edges === undefined) continue;
    for (const [inner, nesting] of edges) {
      const step = [...path, { outer: res, inner, nesting }];
      if (inner === to) return step;
      if (!seen.has(inner)) {
        seen.add(inner);
        queue.push({ res: inner, path: step });
      }
    }
  }
  return undefined;
}

/**
 * Records the nesting of `frame`'s lock inside every lock its scope holds; returns the report of the
 * first inversion found. Read inside read is not an order (two readers never wait for each other).
 */
function checkOrder(frame: Frame, innerSite: Error | undefined): PotentialDeadlockReport | undefined {
  const s = settings as Settings;
  const inner = frame.res;
  let report: PotentialDeadlockReport | undefined;
  for (const outerFrame of heldFrames(frame.parent)) {
    const outer = outerFrame.res;
    if (outer === inner) continue;
    if (outerFrame.mode === "shared" && frame.mode === "shared") continue;
    const back = orderPath(inner, outer);
    if (back !== undefined) {
      const key = `${outer.id}>${inner.id}`;
      if (s.deadlocks !== "strict" && reportedPairs.has(key)) continue;
      reportedPairs.add(key);
      report ??= inversionReport(outer, inner, outerFrame.site, innerSite, back);
      continue;
    }
    let edges = order.get(outer);
    if (edges === undefined) {
      edges = new Map();
      order.set(outer, edges);
    }
    if (!edges.has(inner)) edges.set(inner, { outerSite: outerFrame.site, innerSite });
  }
  return report;
}

function inversionReport(
  outer: Res,
  inner: Res,
  outerSite: Error | undefined,
  innerSite: Error | undefined,
  back: { outer: Res; inner: Res; nesting: Nesting }[],
): PotentialDeadlockReport {
  const earlier = back.map(
    (step) =>
      `${step.inner.name} taken while holding ${step.outer.name} at:\n${formatSite(step.nesting.innerSite)}\n  (${step.outer.name} taken at:\n${formatSite(step.nesting.outerSite)})`,
  );
  const thisOne = `${inner.name} taken while holding ${outer.name} at:\n${formatSite(innerSite)}\n  (${outer.name} taken at:\n${formatSite(outerSite)})`;
  const locks = [outer.name, ...back.map((step) => step.outer.name)];
  const earlierOrder = back.map((step) => step.outer.name).join(" then ");
  return {
    message:
      `Potential deadlock (lock-order inversion): ${inner.name} is taken while holding ${outer.name}, ` +
      `but earlier ${back.length === 1 ? `${outer.name} was taken while holding ${inner.name}` : `the order was ${earlierOrder} then ${outer.name}`}. ` +
      `Tasks taking these locks in both orders at the same time would deadlock.\n` +
      `This order:\n  ${thisOne}\nEarlier order:\n  ${earlier.join("\n  ")}`,
    locks,
    stacks: [...back.map((step) => formatSite(step.nesting.innerSite)), formatSite(innerSite)],
  };
}

// ---- long waits ----------------------------------------------------------------------------------------

function reportLongWait(wait: Wait): void {
  const s = settings;
  if (s === undefined) return;
  const t = now();
  const waitedMs = Math.round(t - wait.since);
  const holders = [...wait.res.holders.values()].map((hold) => ({
    heldMs: Math.round(t - hold.since),
    stack: formatSite(hold.site),
  }));
  const holderText =
    holders.length === 0
      ? kindOf(wait.res.target).startsWith("Distributed")
        ? "no holder in this process (another process holds the lock, or this wait is behind other waiters)"
        : "no holder right now (it waits behind other waiters)"
      : holders.map((h, i) => `holder ${i + 1}, holding for ${h.heldMs} ms, acquired at:\n${h.stack}`).join("\n");
  const report: LongWaitReport = {
    message: `Long wait: waiting for ${wait.res.name} for ${waitedMs} ms (longWait: ${s.longWait} ms). Waiting at:\n${formatSite(wait.site)}\n${holderText}`,
    lock: wait.res.name,
    waitedMs,
    waiterStack: formatSite(wait.site),
    holders,
  };
  s.onLongWait(report);
}

// ---- the observer -------------------------------------------------------------------------------------

function needSites(s: Settings): boolean {
  return s.deadlocks !== false || s.longWait !== undefined;
}

const diagnosticsObserver: Observer = {
  around<R>(
    target: Observable,
    op: AsyncOp,
    options: AcquireOptions | undefined,
    run: (options: AcquireOptions | undefined) => Promise<R>,
    key?: unknown,
  ): Promise<R> {
    const s = settings;
    if (s === undefined) return run(options);
    const store = als?.getStore();
    if (WITH_OPS.has(op)) {
      if (als === undefined || Array.isArray(key)) return run(options);
      const res = resOf(target, key);
      const frame: Frame = {
        parent: store,
        res,
        mode: modeOfOp(op),
        site: needSites(s) ? captureSite() : undefined,
        group: store === undefined ? rootGroup() : store.group,
        state: ACQUIRING,
        issued: false,
      };
      const end = (): void => {
        frame.state = DONE;
        if (store === undefined) freeGroups.push(frame.group);
      };
      return als
        .run(frame, () => run(options))
        .then(
          (value) => {
            end();
            return value;
          },
          (error: unknown) => {
            end();
            throw error;
          },
        );
    }
    if (!ACQUIRE_OPS.has(op)) return run(options);
    // The first acquire of the frame's own lock inside a with* call is that call's acquire.
    const own =
      store !== undefined &&
      store.state === ACQUIRING &&
      !store.issued &&
      store.res.target === target &&
      !Array.isArray(key) &&
      store.res === resOf(target, key);
    const site = own ? (store as Frame).site : needSites(s) ? captureSite() : undefined;
    if (own) {
      const frame = store as Frame;
      frame.issued = true;
      if (s.deadlocks !== false) {
        const report = checkOrder(frame, site);
        if (report !== undefined) {
          if (s.deadlocks === "strict") {
            frame.state = DONE;
            return Promise.reject(new DeadlockError(report.message));
          }
          s.onPotentialDeadlock(report);
        }
      }
    }
    const call: Call = { target, site, frame: store };
    const previous = current;
    current = call;
    let pending: Promise<R>;
    try {
      pending = run(options);
    } finally {
      current = previous;
    }
    return pending.then((guard) => {
      const hold = typeof guard === "object" && guard !== null ? holds.get(guard) : undefined;
      if (hold !== undefined) {
        hold.site ??= site;
        if (own) {
          const frame = store as Frame;
          if (frame.state === ACQUIRING) {
            frame.state = HELD;
            hold.frame = frame;
            hold.group = frame.group;
          }
        }
      }
      return guard;
    });
  },

  sync(): void {},

  acquired(target: Observable, guard: object, mode: HoldMode, key?: unknown): void {
    const s = settings;
    if (s === undefined) return;
    const res = resList(target, key);
    const first = res[0] as Res;
    let t = now();
    let site: Error | undefined;
    let group: Group;
    let waitedMs = 0;
    let contended = false;
    const grant = granted;
    if (grant !== undefined && grant.wait.res.target === target) {
      granted = undefined;
      site = grant.wait.site;
      group = grant.wait.group;
      waitedMs = grant.waitedMs;
      contended = true;
      t = grant.wait.since + grant.waitedMs; // the hold begins at the grant that ended the wait
    } else {
      const call = current;
      if (call !== undefined && call.target === target) {
        site = call.site;
        group = call.frame?.group ?? groupOfRes(first);
      } else {
        site = needSites(s) ? captureSite() : undefined;
        group = als?.getStore()?.group ?? groupOfRes(first);
      }
    }
    let rev: Revocation | undefined;
    if (s.revokeOnRelease && VIEW_GUARDS.has(guard.constructor.name)) {
      rev = new Revocation(first.name);
      installView(guard, rev);
    }
    const hold: Hold = { res, mode, since: t, site, frame: undefined, group, rev };
    holds.set(guard, hold);
    for (const r of res) r.holders.set(guard, hold);
    const c = countersOf(target);
    if (c !== undefined) {
      c.acquisitions++;
      if (contended) c.contended++;
      c.wait.add(waitedMs);
    }
    if (s.trace && acquireChannel.hasSubscribers) {
      acquireChannel.publish({ lock: first.name, kind: kindOf(target), mode, waitedMs, guard });
    }
  },

  released(target: Observable, guard: object): void {
    const hold = holds.get(guard);
    if (hold === undefined) return;
    holds.delete(guard);
    for (const r of hold.res) r.holders.delete(guard);
    if (hold.frame !== undefined) hold.frame.state = DONE;
    if (hold.rev !== undefined) hold.rev.live = false;
    const s = settings;
    if (s === undefined) return;
    const t = now();
    const heldMs = t - hold.since;
    countersOf(target)?.hold.add(heldMs);
    const name = (hold.res[0] as Res).name;
    if (s.trace) {
      const ts = µs(hold.since);
      const dur = Math.max(1, µs(t) - ts);
      emit({
        name: `hold ${name}`,
        cat: "lockbox",
        ph: "X",
        ts,
        dur,
        pid: process.pid,
        tid: place(hold.group, ts, ts + dur),
        args: { lock: name, mode: hold.mode },
      });
      if (releaseChannel.hasSubscribers) releaseChannel.publish({ lock: name, kind: kindOf(target), heldMs, guard });
    }
  },

  waiting(target: Observable, mode: HoldMode, queued: number, key: unknown, ticket: object): Error | undefined {
    const s = settings;
    if (s === undefined) return undefined;
    const res = resOf(target, key);
    const frame = als?.getStore();
    const call = current;
    const site = call !== undefined && call.target === target ? call.site : needSites(s) ? captureSite() : undefined;
    const held = s.deadlocks === false ? [] : heldFrames(frame);
    const wait: Wait = {
      res,
      mode,
      frame,
      since: now(),
      site,
      group: frame?.group ?? groupOfRes(res),
      heldFrames: held,
      timer: undefined,
    };
    waits.set(ticket, wait);
    res.waits.add(wait);
    for (const f of held) {
      let set = waitsByFrame.get(f);
      if (set === undefined) {
        set = new Set();
        waitsByFrame.set(f, set);
      }
      set.add(wait);
    }
    const c = countersOf(target);
    if (c !== undefined && queued > c.maxQueue) c.maxQueue = queued;
    if (s.trace && waitChannel.hasSubscribers) {
      waitChannel.publish({ lock: res.name, kind: kindOf(target), mode, queued });
    }
    if (held.length > 0) {
      const error = selfDeadlock(wait) ?? cycleErrorOf(wait);
      if (error !== undefined) return error;
    }
    if (s.longWait !== undefined) {
      const timer = setTimeout(() => {
        wait.timer = undefined;
        if (waits.get(ticket) === wait) reportLongWait(wait);
      }, s.longWait);
      (timer as { unref?: () => void }).unref?.();
      wait.timer = timer;
    }
    return undefined;
  },

  waitEnded(ticket: object, reason: unknown): void {
    const wait = waits.get(ticket);
    if (wait === undefined) return;
    waits.delete(ticket);
    wait.res.waits.delete(wait);
    for (const f of wait.heldFrames) {
      const set = waitsByFrame.get(f);
      if (set !== undefined) {
        set.delete(wait);
        if (set.size === 0) waitsByFrame.delete(f);
      }
    }
    if (wait.timer !== undefined) clearTimeout(wait.timer);
    const s = settings;
    if (s === undefined) return;
    const t = now();
    const waitedMs = t - wait.since;
    if (reason === undefined) granted = { wait, waitedMs };
    else {
      const c = countersOf(wait.res.target);
      if (c !== undefined) {
        if (reason instanceof TimeoutError) c.timeouts++;
        else if (!(reason instanceof ClosedError) && !(reason instanceof DeadlockError)) c.aborts++;
      }
    }
    if (s.trace) {
      const outcome =
        reason === undefined ? "granted" : reason instanceof TimeoutError ? "timeout" : (reason as Error)?.name;
      const ts = µs(wait.since);
      const dur = Math.max(1, µs(t) - ts);
      emit({
        name: `wait ${wait.res.name}`,
        cat: "lockbox",
        ph: "X",
        ts,
        dur,
        pid: process.pid,
        tid: place(wait.group, ts, ts + dur),
        args: { lock: wait.res.name, mode: wait.mode, outcome: String(outcome) },
      });
    }
  },
};

function cycleErrorOf(wait: Wait): DeadlockError | undefined {
  const cycle = findCycle(wait);
  return cycle === undefined ? undefined : cycleError(cycle);
}

// ---- public functions ---------------------------------------------------------------------------------

const MAX_MS = 2 ** 31 - 1;

function checkBoolean(name: string, value: unknown): void {
  if (value !== undefined && typeof value !== "boolean") {
    throw new TypeError(`Expected \`${name}\` to be a boolean, got ${describe(value)}`);
  }
}

function checkCallback(name: string, value: unknown): void {
  if (value !== undefined && typeof value !== "function") {
    throw new TypeError(`Expected \`${name}\` to be a function, got ${describe(value)}`);
  }
}

const warn = (report: { message: string }): void => {
  console.warn(report.message);
};

/**
 * Turns diagnostics on (or replaces the options of the running diagnostics: statistics and lock-order
 * history are kept). Off by default; while off, lockbox pays one check of a module variable per
 * acquire.
 *
 * @example
 * ```ts
 * import { enableDiagnostics, formatLockStats } from "lockbox/diagnostics";
 *
 * enableDiagnostics({ deadlocks: true, longWait: 1_000, stats: true });
 * // … run the program …
 * console.log(formatLockStats());
 * ```
 *
 * **Throws**: `TypeError` / `RangeError` for bad options (nothing is changed then).
 */
export function enableDiagnostics(options: DiagnosticsOptions = {}): void {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`Expected \`options\` to be an object, got ${describe(options)}`);
  }
  const { deadlocks, onPotentialDeadlock, longWait, onLongWait, revokeOnRelease, stats, trace } = options;
  if (deadlocks !== undefined && typeof deadlocks !== "boolean" && deadlocks !== "strict") {
    throw new TypeError(`Expected \`deadlocks\` to be a boolean or "strict", got ${describe(deadlocks)}`);
  }
  checkCallback("onPotentialDeadlock", onPotentialDeadlock);
  checkCallback("onLongWait", onLongWait);
  if (longWait !== undefined) {
    if (typeof longWait !== "number") {
      throw new TypeError(
        `Expected \`longWait\` to be a number of milliseconds from 0 to ${MAX_MS}, got ${describe(longWait)}`,
      );
    }
    if (!(longWait >= 0 && longWait <= MAX_MS)) {
      throw new RangeError(
        `Expected \`longWait\` to be a number of milliseconds from 0 to ${MAX_MS}, got ${describe(longWait)}`,
      );
    }
  }
  checkBoolean("revokeOnRelease", revokeOnRelease);
  checkBoolean("stats", stats);
  checkBoolean("trace", trace);
  settings = {
    deadlocks: deadlocks ?? false,
    onPotentialDeadlock: onPotentialDeadlock ?? warn,
    longWait,
    onLongWait: onLongWait ?? warn,
    revokeOnRelease: revokeOnRelease === true,
    stats: stats === true,
    trace: trace === true,
  };
  const wantScopes = settings.deadlocks !== false || settings.trace;
  if (wantScopes && als === undefined) als = new AsyncLocalStorage<Frame>();
  if (!wantScopes && als !== undefined) {
    als.disable();
    als = undefined;
  }
  uninstall ??= installObserver(diagnosticsObserver);
}

/**
 * Turns diagnostics off and forgets everything they collected (statistics, lock-order history, an
 * untaken trace). Locks go back to their zero-cost paths. Idempotent.
 */
export function disableDiagnostics(): void {
  uninstall?.();
  uninstall = undefined;
  settings = undefined;
  als?.disable();
  als = undefined;
  for (const wait of waits.values()) if (wait.timer !== undefined) clearTimeout(wait.timer);
  waits.clear();
  waitsByFrame.clear();
  granted = undefined;
  current = undefined;
  plainRes = new WeakMap();
  keyedRes = new WeakMap();
  holds = new WeakMap();
  order.clear();
  reportedPairs.clear();
  counters = new WeakMap();
  allCounters = [];
  traceEvents = [];
  droppedEvents = 0;
  tracks = new Map();
  freeGroups = [];
}

/**
 * One entry per lock (`Mutex`, `RwLock`, `Semaphore`, `KeyedMutex`) used since diagnostics were
 * enabled with `stats: true`, busiest (most total wait) first. Empty when stats are off.
 *
 * @example
 * ```ts
 * for (const s of lockStats()) if (s.contended > 0) console.log(s.name, s.waitMs.p99);
 * ```
 */
export function lockStats(): LockStats[] {
  return allCounters
    .map((c) => c.snapshot())
    .sort((a, b) => b.contended - a.contended || b.acquisitions - a.acquisitions);
}

/** {@link lockStats} as a text table, for logs and terminals. */
export function formatLockStats(stats: readonly LockStats[] = lockStats()): string {
  return renderTable(stats);
}

/**
 * Returns the trace recorded since `enableDiagnostics({ trace: true })` or the last `takeTrace()`,
 * and clears it. The result is Chrome's trace-event JSON: `JSON.stringify` it to a file and open it
 * in https://ui.perfetto.dev (one track per scope, plus one per lock for waits and holds outside
 * scopes; `wait <lock>` and `hold <lock>` spans, timestamps in microseconds).
 *
 * @example
 * ```ts
 * writeFileSync("locks.trace.json", JSON.stringify(takeTrace()));
 * ```
 */
export function takeTrace(): Trace {
  const pid = typeof process === "object" ? process.pid : 0;
  const meta: TraceEvent[] = [
    { name: "process_name", ph: "M", ts: 0, pid, tid: 0, args: { name: "lockbox" } },
    ...[...tracks].map(
      ([tid, name]): TraceEvent => ({ name: "thread_name", ph: "M", ts: 0, pid, tid, args: { name } }),
    ),
  ];
  const events = traceEvents;
  if (droppedEvents > 0) {
    events.push({
      name: `lockbox: ${droppedEvents} events dropped (more than ${MAX_TRACE_EVENTS} between two takeTrace() calls)`,
      ph: "i",
      s: "p",
      ts: µs(now()),
      pid,
      tid: 0,
    });
  }
  traceEvents = [];
  droppedEvents = 0;
  return { traceEvents: [...meta, ...events], displayTimeUnit: "ms" };
}

/**
 * Runs `fn` outside every scope: the locks of the callback forms around this call are not in its held
 * set. For a task started inside a `withLock` (or `withRead`, …) callback and not awaited by it (fire
 * and forget): such a task inherits its parent scope's held set until that scope ends, so without
 * `detach` its wait for a lock the parent still holds would be reported as a deadlock (JavaScript
 * cannot tell a task that was started from one that is awaited). Returns what `fn` returns. With
 * diagnostics off it just calls `fn`.
 *
 * @example
 * ```ts
 * await cache.withLock(async (guard) => {
 *   guard.value.set(key, value);
 *   void detach(() => flushLater(cache)); // flushLater takes `cache` again, after this scope ends
 * });
 * ```
 */
export function detach<R>(fn: () => R): R {
  if (typeof fn !== "function") throw new TypeError(`Expected \`fn\` to be a function, got ${describe(fn)}`);
  return als === undefined ? fn() : als.exit(fn);
}

/** @internal For tests: the settings in force, or `undefined` when off. */
export function diagnosticsEnabled(): boolean {
  return settings !== undefined;
}

export type { DurationSummary, LockStats } from "./stats.js";
