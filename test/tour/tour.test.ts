/**
 * The `npm start` tour (examples/showcase.ts) as a reader sees it: run in a real terminal (a private
 * tmux server, its pane captured with `capture-pane -p`), paced by Enter keys sent to it; then with
 * NO_COLOR and --all in a narrow pane with the servers unreachable; then piped, as CI and scripts run it.
 *
 * Needs tmux (.ci/run installs it). Waits are bounded polls on what the pane shows, never sleeps that
 * assume a speed: the machine may be loaded.
 */
import { execFile, execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { extractSnippets, visibleWidth } from "../../examples/tour/format.js";

const run = promisify(execFile);
const root = new URL("../..", import.meta.url).pathname;
const socket = `lockbox-tour-test-${process.pid}`;
/** How long a stop may take to appear on a loaded machine before the test gives up. */
const WAIT_MS = 120_000;
const TEST_TIMEOUT_MS = 300_000;

/** Every stop's header, in order, as `n/11 · scope`. */
const HEADERS = [
  "1/11 · lockbox ",
  "2/11 · lockbox ",
  "3/11 · lockbox ",
  "4/11 · lockbox ",
  "5/11 · lockbox ",
  "6/11 · lockbox/threads ",
  "7/11 · lockbox/threads ",
  "8/11 · lockbox/diagnostics ",
  "9/11 · lockbox/testing ",
  "10/11 · lockbox/redis ",
  "11/11 · lockbox/postgres ",
];

/** The files whose `#region tour` code the stops show. */
const SHOWN = [
  "quick-start.ts",
  "rwlock-cache.ts",
  "semaphore-fetch.ts",
  "arc-mutex.ts",
  "refcell-track.ts",
  "worker-pool.ts",
  "workers/counter.ts",
  "workers/crash.ts",
  "worker-poison.ts",
  "deadlock.ts",
  "explore-lost-update.ts",
  "redis-stock.ts",
  "postgres-once.ts",
];

const EXIT_MARK = "[tour exited with";

function tmux(...args: string[]): string {
  return execFileSync("tmux", ["-L", socket, "-f", "/dev/null", ...args], {
    encoding: "utf8",
    env: { ...process.env, TERM: "xterm-256color" },
  });
}

/** Starts the tour in a new detached session `name`, a pane `columns` wide; `env` is set for the tour. */
function startTour(name: string, columns: number, env: string, args = ""): void {
  const command = `cd '${root}' && env -u NO_COLOR -u FORCE_COLOR ${env} node --import tsx examples/showcase.ts ${args}; echo "${EXIT_MARK} $?]"; sleep 600`;
  tmux("new-session", "-d", "-s", name, "-x", String(columns), "-y", "50", command);
}

/** The whole pane, scrollback included, wrapped lines joined (`-J`); with `-e`, escape codes kept. */
function capture(name: string, escapes = false): string {
  return tmux("capture-pane", "-p", "-J", ...(escapes ? ["-e"] : []), "-t", name, "-S", "-", "-E", "-");
}

async function waitFor(name: string, what: string, check: (screen: string) => boolean): Promise<string> {
  const end = Date.now() + WAIT_MS;
  let screen = capture(name);
  while (!check(screen)) {
    if (Date.now() > end || screen.includes(EXIT_MARK)) {
      throw new Error(`tour never showed ${what}; the pane shows:\n${screen}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    screen = capture(name);
  }
  return screen;
}

/** This process's environment without NO_COLOR and FORCE_COLOR, so the tour decides by itself. */
function withoutColourSettings(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NO_COLOR;
  delete env.FORCE_COLOR;
  return env;
}

const headerShown = (screen: string, index: number) => screen.includes(`━━━ ${HEADERS[index]}`);
const lines = (screen: string) => screen.split("\n").map((line) => line.trimEnd());
/** Text with line breaks and runs of spaces collapsed, to find a phrase the tour wrapped. */
const flat = (screen: string) => screen.replace(/\s+/g, " ");

beforeAll(() => {
  try {
    execFileSync("tmux", ["-V"]);
  } catch {
    throw new Error("tmux is needed to check the tour in a real terminal: apt-get install tmux (.ci/run does)");
  }
});

afterAll(() => {
  try {
    tmux("kill-server"); // this test's private server only (-L socket)
  } catch {
    // never started
  }
});

describe("npm start in a terminal", () => {
  it(
    "shows one stop at a time, paced by Enter, each with its code and file, in colour, within 80 columns",
    async () => {
      startTour("paced", 120, "TERM=xterm-256color");
      let screen = await waitFor("paced", "the first prompt", (s) => s.includes("Enter: stop 2/11"));
      expect(headerShown(screen, 0)).toBe(true);
      expect(headerShown(screen, 1)).toBe(false);
      expect(screen).toContain("› hits after 10 concurrent read-modify-writes: 10");

      for (let index = 1; index < HEADERS.length; index++) {
        tmux("send-keys", "-t", "paced", "Enter");
        const last = index === HEADERS.length - 1;
        const next = last ? "Where to go next" : `Enter: stop ${index + 2}/11`;
        screen = await waitFor("paced", next, (s) => s.includes(next));
        expect(headerShown(screen, index), HEADERS[index]).toBe(true);
        // Waiting at the prompt: the stop after it has not started.
        if (!last) expect(headerShown(screen, index + 1), HEADERS[index + 1]).toBe(false);
      }
      screen = await waitFor("paced", "its exit", (s) => s.includes(EXIT_MARK));
      expect(screen).toContain(`${EXIT_MARK} 0]`);

      // Stops appear in order, each once.
      const positions = HEADERS.map((header) => screen.indexOf(`━━━ ${header}`));
      expect(positions.every((p) => p >= 0)).toBe(true);
      expect([...positions].sort((a, b) => a - b)).toEqual(positions);

      // Every snippet is shown under its path and line numbers, line for line as the file has it now.
      for (const file of SHOWN) {
        const source = readFileSync(new URL(`../../examples/${file}`, import.meta.url), "utf8");
        for (const snippet of extractSnippets(source, `examples/${file}`)) {
          const range =
            snippet.first === snippet.last ? `line ${snippet.first}` : `lines ${snippet.first}-${snippet.last}`;
          expect(screen).toContain(`  examples/${file} ${range}`);
          const at = screen.indexOf(`  examples/${file} ${range}`);
          const shown = lines(screen.slice(at)).slice(1, 1 + snippet.lines.length);
          expect(shown).toEqual(snippet.lines.map((line) => `  │ ${line}`.trimEnd()));
        }
      }

      // The example output is there, the deliberate crash says so, the servers' stops ran.
      const text = flat(screen);
      expect(text).toContain("note: This stop crashes a worker on purpose");
      expect(text).toContain("› worker died (intended): crashed on purpose");
      expect(text).toContain("› counter: 40000 (expected 40000)");
      expect(text).toContain("› transfer: Deadlock: this wait would close a cycle");
      expect(text).toContain("› replayed: same failure");
      expect(text).toContain("› sold: 10, refused: 2, left in Redis: 0");
      expect(text).toContain("› the job ran 1 time(s) across 3 replicas");

      // Where next: docs, examples, API docs.
      const next = flat(screen.slice(screen.indexOf("Where to go next")));
      expect(next).toContain("docs/testing.md");
      expect(next).toContain("examples/postgres-balance.ts");
      expect(next).toContain("npm run docs");

      for (const line of lines(screen)) expect(visibleWidth(line), line).toBeLessThanOrEqual(80);
      // Colour on a terminal that has it (tmux re-emits the SGR codes the tour wrote).
      // biome-ignore lint/suspicious/noControlCharactersInRegex: an SGR escape sequence is what is looked for
      expect(capture("paced", true)).toMatch(/\x1b\[[0-9;]*m/);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "q at a prompt ends the tour there, still showing where to go next",
    async () => {
      startTour("quit", 100, "TERM=xterm-256color");
      await waitFor("quit", "the first prompt", (s) => s.includes("Enter: stop 2/11"));
      tmux("send-keys", "-t", "quit", "q", "Enter");
      const screen = await waitFor("quit", "its exit", (s) => s.includes(EXIT_MARK));
      expect(screen).toContain(`${EXIT_MARK} 0]`);
      expect(headerShown(screen, 1)).toBe(false);
      expect(screen).toContain("Where to go next");
      expect(screen).toContain("Tour done: 1 stop ran");
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "with NO_COLOR and --all: no escape codes, no waiting, the narrow pane's width, unreachable servers skipped in one line",
    async () => {
      startTour(
        "plain",
        64,
        "TERM=xterm-256color NO_COLOR=1 REDIS_URL=redis://127.0.0.1:1 LOCKBOX_PG_URL=postgres://postgres:secret@127.0.0.1:1/postgres",
        "--all",
      );
      const screen = await waitFor("plain", "its exit", (s) => s.includes(EXIT_MARK));
      expect(screen).toContain(`${EXIT_MARK} 0]`); // a skipped stop is not a failure
      expect(screen).not.toContain("Enter: stop");
      for (const [index] of HEADERS.entries()) expect(headerShown(screen, index), HEADERS[index]).toBe(true);
      for (const line of lines(screen)) expect(visibleWidth(line), line).toBeLessThanOrEqual(64);
      // biome-ignore lint/suspicious/noControlCharactersInRegex: looking for the escape character itself
      expect(capture("plain", true)).not.toMatch(/\x1b/);

      const services = screen.slice(screen.indexOf(`━━━ ${HEADERS[9]}`), screen.indexOf("Where to go next"));
      const text = flat(services);
      expect(text).toMatch(
        /skipped: no Redis at redis:\/\/127\.0\.0\.1:1 \((connect )?ECONNREFUSED[^)]*\)\. To see this stop, start one with `redis-server`/,
      );
      expect(text).toMatch(
        /skipped: no PostgreSQL at postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/postgres \((connect )?ECONNREFUSED[^)]*\)\. To see this stop, start one .* set LOCKBOX_PG_URL/,
      );
      expect(services).not.toContain("secret");
      // A skip line, never a stack trace or an error dump.
      expect(services).not.toMatch(/^\s*(›\s*)?at \S/m);
      expect(services).not.toMatch(/Error:|node:internal|\{ *errno/);
      expect(flat(screen)).toContain("Tour done: 9 stops ran, 2 skipped");
    },
    TEST_TIMEOUT_MS,
  );
});

describe("npm start piped (stdin not a terminal)", () => {
  it(
    "runs every stop without waiting, without colour, within 80 columns",
    async () => {
      const child = run(process.execPath, ["--import", "tsx", "examples/showcase.ts"], {
        cwd: root,
        // The servers' stops ran in the terminal test above; here they are skipped, to keep this run short.
        env: {
          ...withoutColourSettings(),
          REDIS_URL: "redis://127.0.0.1:1",
          LOCKBOX_PG_URL: "postgres://x@127.0.0.1:1/x",
        },
        timeout: TEST_TIMEOUT_MS - 10_000,
      });
      child.child.stdin?.end(); // a pipe, not a terminal: nothing will ever press Enter
      const { stdout } = await child;
      expect(stdout).not.toContain("\x1b");
      expect(stdout).not.toContain("Enter: stop");
      for (const [index] of HEADERS.entries()) expect(headerShown(stdout, index), HEADERS[index]).toBe(true);
      for (const line of lines(stdout)) expect(visibleWidth(line), line).toBeLessThanOrEqual(80);
      expect(stdout).toContain("Where to go next");
      expect(stdout).toMatch(/Tour done: 9 stops ran, 2 skipped, [\d.]+ s of running\./);
    },
    TEST_TIMEOUT_MS,
  );

  it("rejects an unknown argument, naming the accepted ones, with a usage that fits", async () => {
    const failed = await run(process.execPath, ["--import", "tsx", "examples/showcase.ts", "--fast"], {
      cwd: root,
    }).catch((error: { code: number; stderr: string }) => error);
    expect(failed).toMatchObject({ code: 2 });
    expect((failed as { stderr: string }).stderr).toContain('unknown argument "--fast"; accepted: --all, --help');
    // The usage that follows fits the 80 columns as well.
    const stderr = (failed as { stderr: string }).stderr;
    expect(stderr).toContain("--all    run every stop without waiting");
    for (const line of lines(stderr)) expect(visibleWidth(line), line).toBeLessThanOrEqual(80);
  });
});
