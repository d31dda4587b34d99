/**
 * Real processes for the fault suite: throwaway redis-server instances (never the shared one), a TCP
 * proxy that can go silent, and fixture children that speak JSON lines on stdout.
 *
 * Everything started here is recorded and stopped by {@link stopAll} (called from afterAll).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const started = new Set<ChildProcess>();
const closers = new Set<() => void>();
const root = new URL("../..", import.meta.url).pathname;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` every 20 ms until it returns true or `ms` pass; returns whether it did. Bounded. */
export async function waitFor(check: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return true;
    await sleep(20);
  }
  return check();
}

/** A throwaway redis-server on `port` with its own data directory. */
export class ThrowawayRedis {
  readonly dir: string;
  #proc: ChildProcess | undefined;

  constructor(
    readonly port: number,
    readonly persistence: "none" | "aof-always",
  ) {
    this.dir = mkdtempSync(join(tmpdir(), `lockbox-redis-${port}-`));
    closers.add(() => rmSync(this.dir, { recursive: true, force: true }));
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const args = ["--port", String(this.port), "--bind", "127.0.0.1", "--dir", this.dir, "--save", ""];
    args.push(
      ...(this.persistence === "none" ? ["--appendonly", "no"] : ["--appendonly", "yes", "--appendfsync", "always"]),
    );
    const proc = spawn("redis-server", args, { stdio: "ignore" });
    started.add(proc);
    proc.once("exit", () => started.delete(proc));
    this.#proc = proc;
    const up = await waitFor(() => ping(this.port), 10_000);
    if (!up) throw new Error(`throwaway redis-server on port ${this.port} did not start (is redis-server on PATH?)`);
  }

  /** A crash: SIGKILL, no shutdown save. */
  async kill(): Promise<void> {
    const proc = this.#proc;
    if (proc === undefined || proc.exitCode !== null) return;
    const exited = new Promise((resolve) => proc.once("exit", resolve));
    proc.kill("SIGKILL");
    await exited;
  }
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.setTimeout(500);
    socket.once("connect", () => socket.write("PING\r\n"));
    socket.once("data", (d) => {
      socket.destroy();
      resolve(d.toString().startsWith("+PONG"));
    });
    socket.once("error", () => resolve(false));
    socket.once("timeout", () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/** A TCP proxy to `target`; `freeze()` makes it stop forwarding in both directions (half-open). */
export class SilentProxy {
  #server: net.Server;
  #frozen = false;
  readonly #sockets = new Set<net.Socket>();

  constructor(
    readonly port: number,
    readonly targetPort: number,
  ) {
    this.#server = net.createServer((inbound) => {
      const outbound = net.connect(targetPort, "127.0.0.1");
      for (const s of [inbound, outbound]) {
        this.#sockets.add(s);
        s.on("error", () => {});
        s.on("close", () => this.#sockets.delete(s));
      }
      inbound.on("data", (d) => {
        if (!this.#frozen) outbound.write(d);
      });
      outbound.on("data", (d) => {
        if (!this.#frozen) inbound.write(d);
      });
      inbound.on("close", () => outbound.destroy());
      outbound.on("close", () => inbound.destroy());
    });
    closers.add(() => this.close());
  }

  listen(): Promise<void> {
    return new Promise((resolve) => this.#server.listen(this.port, "127.0.0.1", resolve));
  }

  freeze(): void {
    this.#frozen = true;
  }

  close(): void {
    this.#server.close();
    for (const s of this.#sockets) s.destroy();
  }
}

/** A fixture child (`node --import tsx test/redis/fixtures/<file> …args`) that prints JSON lines. */
export class Fixture {
  readonly proc: ChildProcess;
  readonly events: Record<string, unknown>[] = [];
  #buffer = "";
  stderr = "";

  constructor(file: string, args: string[]) {
    this.proc = spawn(process.execPath, ["--import", "tsx", join(root, "test/redis/fixtures", file), ...args], {
      cwd: root,
      stdio: ["pipe", "pipe", "pipe"],
    });
    started.add(this.proc);
    this.proc.once("exit", () => started.delete(this.proc));
    this.proc.stdout!.on("data", (d: Buffer) => {
      this.#buffer += d.toString();
      let i = this.#buffer.indexOf("\n");
      while (i >= 0) {
        const line = this.#buffer.slice(0, i);
        this.#buffer = this.#buffer.slice(i + 1);
        if (line.startsWith("{")) this.events.push(JSON.parse(line));
        i = this.#buffer.indexOf("\n");
      }
    });
    this.proc.stderr!.on("data", (d: Buffer) => {
      this.stderr += d.toString();
    });
  }

  send(command: string): void {
    this.proc.stdin!.write(`${command}\n`);
  }

  /** Waits (bounded) for an event named `event`; throws with the child's stderr when it does not come. */
  async next(event: string, ms = 15_000): Promise<Record<string, unknown>> {
    const found = () => this.events.find((e) => e.event === event);
    await waitFor(() => found() !== undefined || this.proc.exitCode !== null, ms);
    const hit = found();
    if (hit === undefined) {
      throw new Error(
        `fixture never reported "${event}" (exit ${this.proc.exitCode}); events ${JSON.stringify(this.events)}; stderr: ${this.stderr}`,
      );
    }
    return hit;
  }

  exited(ms = 60_000): Promise<number | null> {
    if (this.proc.exitCode !== null) return Promise.resolve(this.proc.exitCode);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(null), ms);
      this.proc.once("exit", (code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
  }
}

/** Kills every child and server this module started, and removes the data directories. */
export async function stopAll(): Promise<void> {
  for (const proc of started) {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill("SIGCONT");
      proc.kill("SIGKILL");
    }
  }
  for (const close of closers) close();
  closers.clear();
  await sleep(50);
}
