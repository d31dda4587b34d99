/**
 * `npm start`: a guided tour of lockbox in the terminal. Each stop shows the few lines of code it runs
 * (read from the example file itself, between `// #region tour` and `// #endregion tour`), runs that
 * example from this folder (the same files the README links and the tests run), and says what
 * happened and why.
 *
 * On a terminal it waits for Enter between stops (q then Enter quits); `--all`, or a stdin or stdout
 * that is not a terminal (a pipe, a file, CI), runs every stop without waiting. Colour only on a terminal that supports it (NO_COLOR
 * turns it off); every line fits in 80 columns (or the terminal's width, if narrower).
 *
 * Run: npm start            (or: npm start -- --all, npx tsx examples/showcase.ts --all)
 */
import { readdirSync, readFileSync } from "node:fs";
import { relative } from "node:path";
import { createInterface } from "node:readline";
import {
  extractSnippets,
  fitTables,
  layoutWidth,
  makeStyle,
  type Snippet,
  stripAnsi,
  useColour,
  wrap,
} from "./tour/format.js";

/** A service a stop needs, probed before it runs so that its absence is a skip line, not a stack trace. */
interface Service {
  name: string;
  /** Connects and asks for one trivial answer; rejects if there is no usable server at `url`. */
  probe(url: string): Promise<void>;
  /** How to get one, for the skip line. */
  start: string;
  /** The environment variable that picks the server. */
  env: string;
}

interface Stop {
  /** The example it runs, relative to this folder; it exports `main()` (and `url` when it needs a service). */
  file: string;
  /** The lockbox entry point it shows. */
  scope: string;
  title: string;
  /** Files (relative to this folder) whose tour regions are shown; default: `file`. */
  code?: string[];
  /** Said before the stop runs (what to expect). */
  before?: string;
  why: string;
  needs?: Service;
}

const redis: Service = {
  name: "Redis",
  async probe(url) {
    const { Redis } = await import("ioredis");
    const client = new Redis(url, {
      lazyConnect: true,
      connectTimeout: 2_000,
      commandTimeout: 2_000, // a server that accepts but never answers is unreachable too
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      retryStrategy: () => null,
    });
    let cause: unknown; // ioredis reports why in an "error" event, and rejects with "Connection is closed."
    client.on("error", (error) => {
      cause ??= error;
    });
    try {
      await client.connect();
      await client.ping();
    } catch (error) {
      throw cause ?? error;
    } finally {
      client.disconnect();
    }
  },
  start: "start one with `redis-server` (or `docker run -p 6379:6379 redis`)",
  env: "REDIS_URL",
};

const postgres: Service = {
  name: "PostgreSQL",
  async probe(url) {
    const { default: pg } = await import("pg");
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000, query_timeout: 2_000 });
    client.on("error", () => {}); // the rejection below carries it
    try {
      await client.connect();
      await client.query("SELECT 1");
    } finally {
      await client.end().catch(() => {});
    }
  },
  start: "start one (for example `docker run -p 5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust postgres`)",
  env: "LOCKBOX_PG_URL",
};

const stops: Stop[] = [
  {
    file: "quick-start.ts",
    scope: "lockbox",
    title: "A value that lives inside its lock",
    why: "Mutex<T> owns the counter and hands it out through a guard from lock() or withLock(), so ten tasks that each await in the middle of an update still count to exactly 10. `using` releases the guard at the end of the block. (A reference you copy out of guard.value outlives the guard: keep the work inside.)",
  },
  {
    file: "rwlock-cache.ts",
    scope: "lockbox",
    title: "Read-mostly data: RwLock with downgrade()",
    why: "Readers share the lock; a miss takes the write lock, fills the entry and downgrades atomically to a read guard, so no writer can slip in between. A queued writer blocks readers that arrive after it, so writers are not starved.",
  },
  {
    file: "semaphore-fetch.ts",
    scope: "lockbox",
    title: "Limiting concurrency: Semaphore with timeouts",
    why: "Two permits means at most two fetches in flight. A request that cannot get a permit within its timeout leaves the queue and holds nothing: no leaked permit, no waiter left behind.",
  },
  {
    file: "arc-mutex.ts",
    scope: "lockbox",
    title: "Arc<Mutex<T>>: counted ownership shared by tasks",
    why: "Arc gives shared, read-only access and counts its owners; changes go through the Mutex inside it, as in Rust. When the last Arc drops, a disposable value is disposed.",
  },
  {
    file: "refcell-track.ts",
    scope: "lockbox",
    title: "RefCell: a borrow held across an await, caught",
    why: "RefCell checks Rust's borrow rules at run time. With { track: true } the BorrowMutError names the line where the conflicting borrow was taken: here, a Ref held across an await.",
  },
  {
    file: "worker-pool.ts",
    scope: "lockbox/threads",
    title: "Worker threads: one counter in shared memory",
    code: ["worker-pool.ts", "workers/counter.ts"],
    why: "lockbox/threads locks live in SharedArrayBuffer memory. The Mutex crosses to each worker in workerData and is rebuilt there with Mutex.from(); blocking lockSync() in the workers and async lock() on the main thread exclude each other.",
  },
  {
    file: "worker-poison.ts",
    scope: "lockbox/threads",
    title: "A worker dies holding the lock",
    code: ["workers/crash.ts", "worker-poison.ts"],
    before:
      "This stop crashes a worker on purpose, while it holds the lock. The crash below is the demonstration, not a failure of the tour.",
    why: "The worker was started with spawn(), which supervises it: when it dies holding the lock, the lock is released and poisoned, and the waiting lock() rejects with PoisonError instead of hanging. lock({ ignorePoison: true }) lets you look at the half-done update and repair it; clearPoison() lets later callers in without an error.",
  },
  {
    file: "deadlock.ts",
    scope: "lockbox/diagnostics",
    title: "A deadlock, refused and explained",
    before:
      "Two transfers lock two accounts in opposite orders. The DeadlockError below is intended: it is what diagnostics do instead of hanging.",
    why: "With enableDiagnostics({ deadlocks: true }) the wait that would close a cycle is refused with a DeadlockError naming both locks and where each was taken; the other transfer completes. The lock-order inversion is reported too (a bug even in runs that happen not to hang), then a long wait, then per-lock statistics.",
  },
  {
    file: "explore-lost-update.ts",
    scope: "lockbox/testing",
    title: "A lost update found, shrunk and replayed",
    before:
      "The code under test has a bug on purpose; the failure reported below is explore() finding it, as intended.",
    why: "Run once, the two withdrawals look fine. explore() runs the test under many schedules, finds one that overdraws the account, shrinks it to a single task switch and gives a replay string that reproduces it every time, for a regression test.",
  },
  {
    file: "redis-stock.ts",
    scope: "lockbox/redis",
    title: "Across processes with Redis: stock and fencing tokens",
    needs: redis,
    why: "The same Mutex<T>, with its value stored in Redis next to the lock: acquire loads it, release writes it back, and a throw discards the change. Three stores stand for three processes. Each grant carries a fencing token that only grows, for systems that must refuse a stale holder.",
  },
  {
    file: "postgres-once.ts",
    scope: "lockbox/postgres",
    title: "Across processes with PostgreSQL: a job that runs once",
    needs: postgres,
    why: "Three replica processes race to run today's job. A lockbox/postgres Mutex guards the record of the last run, stored in the same table as the lock: the first replica runs the job and records it, the others see the record and skip.",
  },
];

const examples = new URL(".", import.meta.url);
const root = new URL("..", import.meta.url).pathname;
const rootPath = root.endsWith("/") ? root.slice(0, -1) : root;

function usage(): string {
  return [
    "Usage: npm start [-- --all]   (or: npx tsx examples/showcase.ts [--all])",
    "  --all    run every stop without waiting for Enter (the default when",
    "           stdin or stdout is not a terminal)",
    "  --help   show this",
    "NO_COLOR=1 turns colour off; REDIS_URL and LOCKBOX_PG_URL pick the servers.",
  ].join("\n");
}

const args = process.argv.slice(2);
for (const arg of args) {
  if (arg === "--help" || arg === "-h") {
    console.log(usage());
    process.exit(0);
  }
  if (arg !== "--all") {
    console.error(`showcase: unknown argument ${JSON.stringify(arg)}; accepted: --all, --help\n${usage()}`);
    process.exit(2);
  }
}

const out = process.stdout;
// `npm start -- --all | head` closes the pipe early: stop quietly, as other command-line tools do.
out.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code !== "EPIPE") throw error;
  process.exit(0);
});
const write = out.write.bind(out);
const style = makeStyle(useColour(out, process.env));
const width = layoutWidth(out);
/** Paced only when a person is there to press Enter and read: stdin and stdout both a terminal. */
const interactive = !args.includes("--all") && process.stdin.isTTY === true && out.isTTY === true;

function print(line = ""): void {
  write(`${line}\n`);
}

/** Prints a paragraph wrapped to the width, `label` in bold before it, continuation lines indented. */
function paragraph(label: string, text: string, colour: (s: string) => string = (s) => s): void {
  const first = `  ${label} `;
  for (const [i, line] of wrap(text, width, first, "  ".padEnd(first.length)).entries()) {
    print(i === 0 ? `  ${style.bold(label)} ${colour(line.slice(first.length))}` : colour(line));
  }
}

function header(index: number, stop: Stop): void {
  const tag = `${index + 1}/${stops.length} · ${stop.scope} `;
  print();
  print(style.cyan(`${"━".repeat(3)} ${style.bold(tag)}${"━".repeat(Math.max(3, width - tag.length - 4))}`));
  for (const line of wrap(stop.title, width, " ")) print(style.bold(line));
}

function showCode(snippet: Snippet): void {
  const range = snippet.first === snippet.last ? `line ${snippet.first}` : `lines ${snippet.first}-${snippet.last}`;
  print();
  print(`  ${style.green(snippet.file)} ${style.dim(range)}`);
  for (const code of snippet.lines) {
    // Snippets are written to fit (test/tour/format.test.ts checks it); a narrow terminal still wraps.
    const [first, ...more] = wrap(code, width, "  │ ", `  │ ${/^ */.exec(code)![0]}    `);
    print(`${style.dim("  │")}${first!.slice(3)}`);
    for (const line of more) print(`${style.dim("  │")}${line.slice(3)}`);
  }
}

/** A stack frame of this file: the tour's own machinery, noise in an example's stack trace. */
const TOUR_FRAME = /^\s+at .*\bexamples\/showcase\.ts:\d+/;

/**
 * While a stop runs, everything it writes to stdout and stderr (console.log included) comes through
 * here, line by line: escape codes removed, absolute paths made relative to the repository (and the
 * tour's own stack frames dropped), wide tables split, then wrapped to the width under an output gutter.
 */
function captureOutput(): () => void {
  const streams = [process.stdout, process.stderr] as const;
  const saved = streams.map((stream) => stream.write);
  const pending = ["", ""];
  const absolute = new RegExp(`(?:file://)?${rootPath.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}/`, "g");
  const emit = (text: string, isError: boolean) => {
    const lines = stripAnsi(text)
      .replace(absolute, "")
      .split("\n")
      .filter((line) => !TOUR_FRAME.test(line));
    for (const line of fitTables(lines, width - 4)) {
      const indent = /^\s*/.exec(line)![0];
      for (const wrapped of wrap(line, width, "  › ", `  ›${" ".repeat(indent.length + 3)}`)) {
        const body = wrapped.slice(3);
        print(`${style.dim("  ›")}${isError ? style.yellow(body) : body}`);
      }
    }
  };
  streams.forEach((stream, i) => {
    stream.write = ((chunk: string | Uint8Array, encoding?: unknown, callback?: unknown) => {
      const text = pending[i] + (typeof chunk === "string" ? chunk : Buffer.from(chunk).toString());
      const end = text.lastIndexOf("\n");
      pending[i] = text.slice(end + 1);
      if (end >= 0) emit(text.slice(0, end), i === 1);
      const done = typeof encoding === "function" ? encoding : callback;
      if (typeof done === "function") done();
      return true;
    }) as typeof stream.write;
  });
  return () => {
    streams.forEach((stream, i) => {
      stream.write = saved[i]!;
      if (pending[i] !== "") emit(pending[i]!, i === 1);
    });
  };
}

/** The first line of what went wrong, never a stack trace. */
function reason(error: unknown): string {
  const first = error instanceof AggregateError && error.errors.length > 0 ? error.errors[0] : error;
  const code = (first as { code?: unknown } | null)?.code;
  const message = (first instanceof Error ? first.message : String(first)).split("\n")[0] ?? "";
  return typeof code === "string" && !message.includes(code) ? `${code}${message ? `: ${message}` : ""}` : message;
}

/** `url` with any password hidden. */
function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@/]*@/, "//$1:***@");
}

async function runStop(stop: Stop): Promise<"ran" | "skipped" | "failed"> {
  const module = (await import(new URL(stop.file, examples).href)) as { main(): Promise<void>; url?: string };
  if (stop.needs !== undefined) {
    const url = module.url ?? "";
    try {
      await stop.needs.probe(url);
    } catch (error) {
      print();
      paragraph(
        "skipped:",
        `no ${stop.needs.name} at ${redact(url)} (${reason(error)}). To see this stop, ${stop.needs.start}, or set ${stop.needs.env} to one, then run the tour again.`,
        style.yellow,
      );
      return "skipped";
    }
  }
  print();
  print(`  ${style.bold("output")} ${style.dim(`of examples/${stop.file}`)}`);
  const restore = captureOutput();
  let failure: { error: unknown } | undefined;
  try {
    await module.main();
  } catch (error) {
    failure = { error };
  } finally {
    restore();
  }
  if (failure === undefined) return "ran";
  paragraph("this stop failed:", reason(failure.error), style.red);
  return "failed";
}

/** Reads Enter presses; lines typed while a stop runs are dropped, so a stop is never skipped unseen. */
function keyboard() {
  const lines = createInterface({ input: process.stdin, terminal: false });
  let waiting: ((line: string | undefined) => void) | undefined;
  let closed = false;
  lines.on("line", (line) => {
    const resolve = waiting;
    waiting = undefined;
    resolve?.(line);
  });
  lines.on("close", () => {
    closed = true;
    waiting?.(undefined);
  });
  return {
    next(): Promise<string | undefined> {
      if (closed) return Promise.resolve(undefined);
      return new Promise((resolve) => {
        waiting = resolve;
      });
    },
    close: () => lines.close(),
  };
}

function whereNext(): void {
  const shown = new Set(stops.flatMap((stop) => [stop.file, ...(stop.code ?? [])]));
  const more = readdirSync(examples)
    .filter((file) => file.endsWith(".ts") && !shown.has(file) && file !== "showcase.ts")
    .map((file) => `examples/${file}`);
  const docs = readdirSync(new URL("docs/", `file://${root}`))
    .filter((file) => file.endsWith(".md"))
    .map((file) => {
      const title = /^# (.+)$/m.exec(readFileSync(new URL(`docs/${file}`, `file://${root}`), "utf8"))?.[1];
      return `docs/${file}${title ? ` (${title.replace(/`/g, "")})` : ""}`;
    });
  print();
  print(style.cyan(`${"━".repeat(3)} ${style.bold("Where to go next ")}${"━".repeat(width - 21)}`));
  const item = (label: string, text: string) => {
    const first = `  ${label.padEnd(10)}`;
    for (const [i, line] of wrap(text, width, first, " ".repeat(first.length)).entries()) {
      print(i === 0 ? `  ${style.bold(label.padEnd(10))}${line.slice(first.length)}` : line);
    }
  };
  item("README", "README.md: install, each primitive, what is guaranteed and what is not, performance.");
  for (const [i, doc] of docs.entries()) item(i === 0 ? "docs" : "", doc);
  item("examples", `Run any stop alone: npx tsx examples/<file>.ts. Not in the tour: ${more.join(", ")}.`);
  item("API docs", "npm run docs, then open docs/api/index.html; the same TSDoc shows in your editor on hover.");
  item("tests", "npm test; benchmarks: npm run bench.");
  print();
}

const keys = interactive ? keyboard() : undefined;
const outcomes: Record<"ran" | "skipped" | "failed", number> = { ran: 0, skipped: 0, failed: 0 };
let running = 0;
print(style.bold("lockbox: a guided tour"));
for (const line of wrap(
  `${stops.length} stops, each showing the code it runs, its output and why. ${interactive ? "Press Enter to go on at each stop; q then Enter quits." : "Running all of them."}`,
  width,
)) {
  print(line);
}
for (const [index, stop] of stops.entries()) {
  if (keys !== undefined && index > 0) {
    const next = stops[index]!;
    const prompt = `Enter: stop ${index + 1}/${stops.length}, ${next.scope} · q: quit `;
    // Room is left at the end of the line for the q a reader may type.
    write(style.dim(`${prompt}${"─".repeat(Math.max(0, width - prompt.length - 4))} `));
    const answer = await keys.next();
    if (answer?.trim().toLowerCase() === "q") break;
  }
  header(index, stop);
  if (stop.before !== undefined) {
    print();
    paragraph("note:", stop.before);
  }
  for (const file of stop.code ?? [stop.file]) {
    const source = readFileSync(new URL(file, examples), "utf8");
    for (const snippet of extractSnippets(source, relative(root, new URL(file, examples).pathname))) {
      showCode(snippet);
    }
  }
  const started = performance.now();
  const outcome = await runStop(stop);
  running += performance.now() - started;
  outcomes[outcome]++;
  print();
  paragraph("why:", stop.why);
}
keys?.close();
whereNext();
const summary = [`${outcomes.ran} ${outcomes.ran === 1 ? "stop" : "stops"} ran`];
if (outcomes.skipped > 0) summary.push(`${outcomes.skipped} skipped`);
if (outcomes.failed > 0) summary.push(`${outcomes.failed} failed`);
print(style.dim(`Tour done: ${summary.join(", ")}, ${(running / 1000).toFixed(1)} s of running.`));
if (outcomes.failed > 0) process.exitCode = 1;
