/**
 * Callbacks that can cross into a worker. A contract test cannot post a function, so it names one
 * of these recipes; every scope (in-process, threads in this thread, threads in a worker) builds the
 * same function from it. Recipes act on `value[0]` of an `Int32Array` (or, for `OnceCell`, on the
 * plain number a cell holds).
 */

/** A one-way start signal shared by this thread and the workers: closed until `open()`. */
export interface GateData {
  readonly $gate: Int32Array;
}

export type Recipe =
  /** Returns `value[0]`. */
  | { readonly fn: "get" }
  /** Returns the `permits` of the `SemaphorePermit` it is given (a `withPermit` callback). */
  | { readonly fn: "permits" }
  /** Sets `value[0] = to` and returns `to`. */
  | { readonly fn: "set"; readonly to: number }
  /**
   * Adds `by` to `value[0]` (a read-modify-write) and returns the new value; with `yield`, other
   * tasks run (or, blocking, time passes) between the read and the write, so an overlap loses updates.
   */
  | { readonly fn: "add"; readonly by: number; readonly yield?: boolean }
  /** Throws `Error(message)` (after setting `value[0] = to` when given). */
  | { readonly fn: "throw"; readonly message: string; readonly to?: number }
  /** Predicate: `value[0] < n`. */
  | { readonly fn: "lessThan"; readonly n: number }
  /** Predicate that throws `Error(message)` once `value[0] >= n` (returns `true` before). */
  | { readonly fn: "throwAtLeast"; readonly n: number; readonly message: string }
  /**
   * An initializer: counts its run in `runs[0]`, waits for `gate` when given, then either throws
   * `Error(fail)` or produces `to` (sets `value[0]` when it gets storage, returns `to` when it gets none).
   */
  | {
      readonly fn: "init";
      readonly to: number;
      readonly runs: Int32Array;
      readonly gate?: GateData;
      readonly fail?: string;
    };

/** Creates a gate in shared memory. `open()` lets every waiter through, in this thread and in workers. */
export function gate(): GateData & { open(): void; readonly opened: Promise<void> } {
  const word = new Int32Array(new SharedArrayBuffer(4));
  let resolve!: () => void;
  const opened = new Promise<void>((r) => {
    resolve = r;
  });
  return {
    $gate: word,
    opened,
    open() {
      Atomics.store(word, 0, 1);
      Atomics.notify(word, 0);
      resolve();
    },
  };
}

/** Waits for a gate without blocking the thread (the promise from `gate()` when known, else parking). */
async function waitGateAsync(g: GateData): Promise<void> {
  const known = (g as { opened?: Promise<void> }).opened;
  if (known !== undefined) return known;
  while (Atomics.load(g.$gate, 0) === 0) {
    const waited = Atomics.waitAsync(g.$gate, 0, 0, 50);
    if (waited.async) await waited.value;
  }
}

/** Blocks the thread until the gate opens (workers only), for at most 10 s. */
function waitGateSync(g: GateData): void {
  const deadline = performance.now() + 10_000;
  while (Atomics.load(g.$gate, 0) === 0 && performance.now() < deadline) Atomics.wait(g.$gate, 0, 0, 50);
}

type Cell = { [index: number]: number } | number | undefined;

/**
 * Builds the function a recipe names. `blocking`: the function runs inside a blocking call (a
 * worker's `*Sync` method), so it cannot await and waits for gates by blocking.
 */
export function build(recipe: Recipe, blocking: boolean): (value?: Cell) => unknown {
  if (recipe.fn === "permits") return (permit) => (permit as unknown as { permits: number }).permits;
  const fn = buildOnValue(recipe, blocking);
  // A `with*` callback gets a guard: the recipe acts on its value.
  return (arg) => fn(isGuard(arg) ? arg.value : arg);
}

function isGuard(x: unknown): x is { value: Cell } {
  return typeof x === "object" && x !== null && !ArrayBuffer.isView(x) && "release" in x;
}

function buildOnValue(recipe: Recipe, blocking: boolean): (value?: Cell) => unknown {
  switch (recipe.fn) {
    case "permits":
      throw new Error("unreachable");
    case "get":
      return (value) => (value as Int32Array)[0];
    case "set":
      return (value) => {
        (value as Int32Array)[0] = recipe.to;
        return recipe.to;
      };
    case "add":
      if (recipe.yield && !blocking) {
        return async (value) => {
          const array = value as Int32Array;
          const read = array[0]!;
          await new Promise((resolve) => setTimeout(resolve, 0));
          array[0] = read + recipe.by;
          return array[0];
        };
      }
      return (value) => {
        const array = value as Int32Array;
        const read = Atomics.load(array, 0);
        if (recipe.yield) for (let spin = 0; spin < 200; spin++) Atomics.load(array, 0);
        Atomics.store(array, 0, read + recipe.by);
        return read + recipe.by;
      };
    case "throw":
      return (value) => {
        if (recipe.to !== undefined) (value as Int32Array)[0] = recipe.to;
        throw new Error(recipe.message);
      };
    case "lessThan":
      return (value) => (value as Int32Array)[0]! < recipe.n;
    case "throwAtLeast":
      return (value) => {
        if ((value as Int32Array)[0]! >= recipe.n) throw new Error(recipe.message);
        return true;
      };
    case "init": {
      const finish = (value: Cell): unknown => {
        if (recipe.fail !== undefined) throw new Error(recipe.fail);
        if (value === undefined || typeof value === "number") return recipe.to;
        (value as Int32Array)[0] = recipe.to;
        return undefined;
      };
      if (blocking) {
        return (value) => {
          Atomics.add(recipe.runs, 0, 1);
          if (recipe.gate !== undefined) waitGateSync(recipe.gate);
          return finish(value);
        };
      }
      return (value) => {
        Atomics.add(recipe.runs, 0, 1);
        if (recipe.gate === undefined) return finish(value);
        return waitGateAsync(recipe.gate).then(() => finish(value));
      };
    }
  }
}

/** `true` for a recipe object (as opposed to a plain argument). */
export function isRecipe(x: unknown): x is Recipe {
  return (
    typeof x === "object" && x !== null && typeof (x as { fn?: unknown }).fn === "string" && !ArrayBuffer.isView(x)
  );
}
