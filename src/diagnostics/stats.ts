/**
 * Per-lock statistics (`stats: true`): counters, and wait and hold durations summarized as p50, p99
 * and max.
 *
 * Percentiles come from a uniform reservoir sample of at most {@link RESERVOIR} durations per lock
 * and measure (exact until then; Vitter's algorithm R after), so memory stays bounded however long a
 * program runs; `max` is always exact.
 *
 * @internal
 */

/** Durations kept per lock and measure for the percentiles. */
export const RESERVOIR = 4096;

/** p50, p99 and max of a set of durations, in milliseconds. */
export interface DurationSummary {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

/** One entry of {@link lockStats}. */
export interface LockStats {
  /** The lock's name (`Mutex#3` when unnamed). */
  readonly name: string;
  /** `Mutex`, `RwLock`, `Semaphore`, `KeyedMutex` (all keys of one KeyedMutex together). */
  readonly kind: string;
  /** Holds granted: guards, permits, keys (a `lockMany` counts once). */
  readonly acquisitions: number;
  /** Acquisitions that had to wait in the queue first. */
  readonly contended: number;
  /** Waits that ended with a `TimeoutError` (not counted as acquisitions). */
  readonly timeouts: number;
  /** Waits that were aborted through their `signal` (not counted as acquisitions). */
  readonly aborts: number;
  /** Longest queue seen, counting the waiter that had just queued. */
  readonly maxQueue: number;
  /** Time from the acquire call to the grant, over all acquisitions (0 when it did not wait). */
  readonly waitMs: DurationSummary;
  /** Time from the grant to the release, over all releases. */
  readonly holdMs: DurationSummary;
}

class Samples {
  #values: number[] = [];
  #seen = 0;
  #max = 0;

  add(ms: number): void {
    this.#seen++;
    if (ms > this.#max) this.#max = ms;
    if (this.#values.length < RESERVOIR) {
      this.#values.push(ms);
      return;
    }
    const slot = Math.floor(Math.random() * this.#seen);
    if (slot < RESERVOIR) this.#values[slot] = ms;
  }

  summary(): DurationSummary {
    if (this.#values.length === 0) return { p50: 0, p99: 0, max: 0 };
    const sorted = [...this.#values].sort((a, b) => a - b);
    const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number;
    return { p50: round(at(0.5)), p99: round(at(0.99)), max: round(this.#max) };
  }
}

const round = (ms: number): number => Math.round(ms * 1000) / 1000;

/** The running statistics of one lock. */
export class LockCounters {
  acquisitions = 0;
  contended = 0;
  timeouts = 0;
  aborts = 0;
  maxQueue = 0;
  readonly wait = new Samples();
  readonly hold = new Samples();

  constructor(
    readonly name: string,
    readonly kind: string,
  ) {}

  snapshot(): LockStats {
    return {
      name: this.name,
      kind: this.kind,
      acquisitions: this.acquisitions,
      contended: this.contended,
      timeouts: this.timeouts,
      aborts: this.aborts,
      maxQueue: this.maxQueue,
      waitMs: this.wait.summary(),
      holdMs: this.hold.summary(),
    };
  }
}

/** Renders statistics as a fixed-width text table, busiest locks (by total wait) first as given. */
export function renderTable(stats: readonly LockStats[]): string {
  const header = [
    "lock",
    "kind",
    "acq",
    "contended",
    "timeouts",
    "aborts",
    "maxQueue",
    "wait p50",
    "wait p99",
    "wait max",
    "hold p50",
    "hold p99",
    "hold max",
  ];
  const ms = (n: number): string => `${n < 10 ? n.toFixed(3) : n < 1000 ? n.toFixed(1) : n.toFixed(0)} ms`;
  const rows = stats.map((s) => [
    s.name,
    s.kind,
    String(s.acquisitions),
    String(s.contended),
    String(s.timeouts),
    String(s.aborts),
    String(s.maxQueue),
    ms(s.waitMs.p50),
    ms(s.waitMs.p99),
    ms(s.waitMs.max),
    ms(s.holdMs.p50),
    ms(s.holdMs.p99),
    ms(s.holdMs.max),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => (i < 2 ? cell.padEnd(widths[i] as number) : cell.padStart(widths[i] as number)))
      .join("  ")
      .trimEnd();
  if (rows.length === 0) return `${line(header)}\n(no lock used since diagnostics were enabled with stats: true)`;
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}
