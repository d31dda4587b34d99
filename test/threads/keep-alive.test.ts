import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const SCRIPT = fileURLToPath(new URL("../workers/keep-alive-main.ts", import.meta.url));
const ROOT = fileURLToPath(new URL("../..", import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", SCRIPT],
      { timeout: 20_000, cwd: ROOT, env: { ...process.env, ...env } },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe("keep-alive of pending async waits (child process)", () => {
  it("a process whose only pending work is an async lock stays alive, gets the lock, exits 0", async () => {
    const result = await run();
    expect(result.stdout).toContain("acquired after release (held before: true)");
    expect(result.code).toBe(0);
  });

  it("control: a bare waitAsync in the same setup lets Node exit early (code 13)", async () => {
    const result = await run({ LOCKBOX_KEEPALIVE_CONTROL: "1" });
    expect(result.stdout).not.toContain("control: woken");
    expect(result.code).toBe(13);
  });
});
