/**
 * The data-owning half of the locks that own data (`Mutex`, `RwLock`, `OnceLock`), as lock_api splits
 * `Mutex<R, T>` into a raw lock and the data it guards: {@link LockData} is the data, its handle and
 * the words it lives next to; each lock class drives its raw algorithm (src/threads/raw) over
 * `LockData.word` and adds its waiting (local queue, blocking and async waits). The exclusive guard of
 * either lock is one class, `ExclusiveGuard` (guard.ts), over a `LockData`.
 *
 * @internal
 */

import { checkOptionalBoolean, checkOptionsObject } from "../internal/validate.js";
import {
  allocateTagged,
  checkHandle,
  checkSharedBuffer,
  checkTaggedBuffer,
  type HandleBase,
  LAYOUT_VERSION,
} from "./memory/handle.js";
import { JsonCell } from "./memory/json.js";
import {
  bindData,
  type DataBinding,
  type DataHandle,
  dataFromHandle,
  dataHandle,
  type GuardValue,
} from "./memory/shared-data.js";
import { LIVENESS_WORDS } from "./raw/liveness-table.js";
import { adoptTable, ownerId, processTable } from "./runtime/liveness.js";
import { threadsName } from "./runtime/waits-for.js";

/** The handle fields every data-owning lock has beyond {@link HandleBase}. */
export interface DataLockParts {
  /** The lock words (each lock's raw module documents its layout). */
  readonly buffer: SharedArrayBuffer;
  /** The liveness table of the creating thread (owner-death detection). */
  readonly liveness: SharedArrayBuffer;
  /** The protected data's own handle. */
  readonly data: DataHandle;
  /** The lock's name, the same in every thread. */
  readonly name: string;
}

/** A data-owning lock's handle (its class adds `poison` where it has that option). */
type AnyDataHandle = HandleBase & DataLockParts & { readonly poison?: boolean };

/** What a lock class tells {@link LockData} about itself. */
export interface DataLockKind {
  /** The class name, for default names (`Mutex#3`) and messages. */
  readonly kind: string;
  /** The handle / memory tag (see handle.ts). */
  readonly tag: string;
  /** Lock words at the start of its buffer. */
  readonly words: number;
  /** Whether it takes the `poison` option (and its handle carries it). */
  readonly poisonOption: boolean;
  /** Its exclusive guard's class name, for messages (`"MutexGuard"`), if it has one. */
  readonly exclusiveGuard?: string;
}

/** How a guard's release gives the lock back, and poisons it: the owning lock's own raw calls. */
export interface ExclusiveHooks {
  /** Gives back the exclusive lock this thread holds (after the data is written back). */
  readonly unlock: () => void;
  /** Poisons the lock. */
  readonly poison: () => void;
}

const noop = (): void => {};

/** Set by {@link receiveLock} for the constructor call it makes. */
let restoring: AnyDataHandle | undefined;

/**
 * One lock's data side: its words and liveness table, its handle, name and poison option, and the data
 * with how a guard shows it. Made by the lock's constructor, fresh or from a
 * received handle ({@link receiveLock}).
 *
 * @internal
 */
export class LockData<T, H extends AnyDataHandle = AnyDataHandle> {
  /** The lock words. */
  readonly word: Int32Array;
  /** The liveness table of the creating thread. */
  readonly table: Int32Array;
  readonly handle: H;
  readonly name: string;
  /** Whether a failing `with*` callback poisons the lock. */
  readonly poisonOnError: boolean;
  /** The lock class this belongs to (what it told {@link create}). */
  readonly kind: DataLockKind;
  /** The public lock this belongs to (for `Condvar`, which is given a guard and needs its mutex). */
  readonly lock: object;
  readonly #binding: DataBinding<GuardValue<T>>;
  /**
   * What every guard shows, for data shown in place (everything but JSON: the binding's `open` returns
   * the data itself and its `close` writes nothing), so that an acquire calls neither. Unused for JSON.
   */
  readonly #shown: GuardValue<T>;
  /** The binding when release must write back (JSON), else `undefined`. */
  readonly #closing: DataBinding<GuardValue<T>> | undefined;
  /** The lock's own unlock and poison (see {@link ExclusiveHooks}); no-ops for a lock without exclusive guards. */
  readonly #unlock: () => void;
  readonly #poison: () => void;

  /**
   * The data side of a new lock `lock` of class `kind` over `data`: fresh (validating `options`), or —
   * inside {@link receiveLock} — over the received handle's memory.
   *
   * @throws TypeError when `data` cannot be shared or the options have the wrong type.
   */
  constructor(
    lock: object,
    kind: DataLockKind,
    data: T,
    options: { name?: string | undefined; poison?: boolean | undefined } | undefined,
    hooks?: ExclusiveHooks,
  ) {
    this.lock = lock;
    this.kind = kind;
    this.#unlock = hooks?.unlock ?? noop;
    this.#poison = hooks?.poison ?? noop;
    const handle = restoring as H | undefined;
    restoring = undefined;
    if (handle !== undefined) {
      this.word = new Int32Array(handle.buffer, 0, kind.words);
      this.table = adoptTable(handle.liveness);
      this.poisonOnError = handle.poison !== false;
      this.name = typeof handle.name === "string" ? handle.name : threadsName(kind.kind, undefined, ownerId);
      this.#binding = bindData(data);
      this.handle = handle;
    } else {
      checkOptionsObject("options", options);
      const poison = kind.poisonOption ? options?.poison : undefined;
      if (kind.poisonOption) checkOptionalBoolean("poison", poison);
      this.name = threadsName(kind.kind, options, ownerId);
      this.#binding = bindData(data);
      this.word = allocateTagged(kind.tag, kind.words);
      this.table = processTable();
      this.poisonOnError = poison !== false;
      const parts = {
        type: kind.tag,
        version: LAYOUT_VERSION,
        buffer: this.word.buffer as SharedArrayBuffer,
        liveness: this.table.buffer as SharedArrayBuffer,
        data: dataHandle(data),
      };
      this.handle = (
        kind.poisonOption ? { ...parts, poison: this.poisonOnError, name: this.name } : { ...parts, name: this.name }
      ) as H;
    }
    this.#closing = data instanceof JsonCell ? this.#binding : undefined;
    this.#shown = data as GuardValue<T>;
  }

  /**
   * On acquire: what the guard shows (the data itself, or JSON decoded now).
   *
   * @throws for JSON that cannot be decoded (the caller gives the lock back).
   */
  open(): GuardValue<T> {
    const closing = this.#closing;
    return closing === undefined ? this.#shown : closing.open();
  }

  /** On `guard.value = next`: stores `next`, returns what `value` shows from now on. */
  replace(next: GuardValue<T>): GuardValue<T> {
    return this.#binding.replace(next);
  }

  /** Writes `value` back (JSON; nothing for data shown in place). Throws past `maxBytes`, storing nothing. */
  close(value: GuardValue<T>): void {
    const closing = this.#closing;
    if (closing !== undefined) closing.close(value);
  }

  /** An exclusive guard's release: writes `value` back (JSON), and gives the lock back even when that throws. */
  releaseExclusive(value: GuardValue<T>): void {
    const closing = this.#closing;
    if (closing === undefined) {
      this.#unlock();
      return;
    }
    try {
      closing.close(value);
    } finally {
      this.#unlock();
    }
  }

  /** Poisons the lock (an exclusive guard's `poison()`). */
  poison(): void {
    this.#poison();
  }
}

/**
 * `Lock.from(received)`: checks a received handle (or posted lock) of class `kind` — version, and
 * buffers that are shared and large enough — rebuilds its data, and calls `make(data)` (the lock's
 * constructor), whose `new LockData` then adopts the handle.
 *
 * @throws TypeError for anything else; `method` (such as `"Mutex.from"`) names it in the message.
 */
export function receiveLock<L>(received: unknown, kind: DataLockKind, method: string, make: (data: unknown) => L): L {
  const handle = checkHandle<AnyDataHandle>(received, kind.tag, method);
  checkTaggedBuffer(method, handle.buffer, kind.tag, kind.words);
  checkSharedBuffer("handle.liveness", handle.liveness, LIVENESS_WORDS * 4);
  const data = dataFromHandle(handle.data);
  restoring = handle;
  try {
    return make(data);
  } finally {
    restoring = undefined;
  }
}
