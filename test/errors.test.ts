/**
 * `instanceof` across copies of lockbox: an application that loads the package with `require` in one
 * place and `import` in another has two copies of every error class (the CommonJS and ES module
 * builds). A fresh module registry gives a second copy of src/errors.ts here; scripts/check-package.ts
 * checks the built CJS and ESM files the same way.
 */
import { describe, expect, it, vi } from "vitest";
import * as first from "../src/errors.js";
import { ExplorationError } from "../src/testing/exploration-error.js";

type Errors = typeof first;

async function secondCopy(): Promise<{ errors: Errors; exploration: typeof ExplorationError }> {
  vi.resetModules();
  const errors = (await import("../src/errors.js")) as Errors;
  const { ExplorationError: exploration } = await import("../src/testing/exploration-error.js");
  return { errors, exploration };
}

describe("error classes across copies of lockbox", () => {
  it("recognise each other's instances by kind, both ways", async () => {
    const { errors: second } = await secondCopy();
    expect(second.TimeoutError).not.toBe(first.TimeoutError); // really two copies
    const theirs = new second.TimeoutError("slow");
    expect(theirs instanceof first.TimeoutError).toBe(true);
    expect(theirs instanceof first.LockboxError).toBe(true);
    expect(theirs instanceof Error).toBe(true);
    expect(theirs instanceof first.PoisonError).toBe(false);
    const ours = new first.PoisonError("poisoned");
    expect(ours instanceof second.PoisonError).toBe(true);
    expect(ours instanceof second.LockboxError).toBe(true);
    expect(ours instanceof second.TimeoutError).toBe(false);
    expect(new first.LockboxError("base") instanceof second.TimeoutError).toBe(false);
  });

  it("covers every exported error class and keeps their fields", async () => {
    const { errors: second } = await secondCopy();
    const ours: Record<string, unknown> = { ...first };
    const theirs: Record<string, unknown> = { ...second };
    const names = Object.keys(ours).filter((name) => name.endsWith("Error"));
    expect(names.length).toBeGreaterThanOrEqual(11);
    for (const name of names) {
      const Theirs = theirs[name] as new (...args: unknown[]) => Error;
      const Ours = ours[name] as new (...args: unknown[]) => Error;
      const error = new Theirs("m", "lock", 1n);
      expect(error instanceof Ours, name).toBe(true);
      expect(error.name).toBe(name);
    }
    const lost = new second.LockLostError("lost", "stock", 7n);
    expect(lost instanceof first.LockLostError && lost.lockName === "stock" && lost.token === 7n).toBe(true);
  });

  it("ExplorationError (lockbox/testing) too", async () => {
    const { errors: second, exploration } = await secondCopy();
    const details = { cause: new Error("x"), seed: 1, schedule: "s", run: 1, preemptions: 0 };
    const error = new exploration("failed", details);
    expect(error instanceof ExplorationError).toBe(true);
    expect(error instanceof first.LockboxError).toBe(true);
    expect(new first.TimeoutError("t") instanceof exploration).toBe(false);
    expect(new ExplorationError("failed", details) instanceof second.LockboxError).toBe(true);
  });

  it("a subclass declared outside lockbox matches by prototype only", async () => {
    const { errors: second } = await secondCopy();
    class AppError extends first.LockboxError {}
    expect(new AppError("app") instanceof AppError).toBe(true);
    expect(new AppError("app") instanceof second.LockboxError).toBe(true); // it is a lockbox error
    expect(new second.TimeoutError("t") instanceof AppError).toBe(false); // but not every lockbox error is an AppError
    expect(new second.LockboxError("b") instanceof AppError).toBe(false);
  });

  it("non-errors and look-alikes without the brand are not instances", () => {
    for (const value of [null, undefined, 0, "TimeoutError", {}, new Error("plain"), { name: "TimeoutError" }]) {
      expect(value instanceof first.TimeoutError).toBe(false);
      expect(value instanceof first.LockboxError).toBe(false);
    }
  });

  it("keep their `name` when a minifier renames the classes", () => {
    // A minified bundle has `class t extends …`: the class's own `name` is gone, the kind string is not.
    const renamed = Object.entries(first).filter(
      (entry): entry is [string, typeof first.LockboxError] => typeof entry[1] === "function",
    );
    expect(renamed.length).toBeGreaterThan(8);
    for (const [exported, ErrorClass] of renamed) {
      const original = Object.getOwnPropertyDescriptor(ErrorClass, "name");
      Object.defineProperty(ErrorClass, "name", { value: "t", configurable: true });
      try {
        // BackendError and LockLostError take more arguments; a message is enough for the name.
        const error = Reflect.construct(ErrorClass, ["m", "lock", "x"]) as Error;
        expect(error.name, exported).toBe(exported);
      } finally {
        if (original !== undefined) Object.defineProperty(ErrorClass, "name", original);
      }
    }
    class AppError extends first.LockboxError {}
    expect(new AppError("app").name).toBe("AppError"); // no kind of its own: its class name
  });
});
