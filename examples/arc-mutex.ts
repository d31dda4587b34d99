/**
 * Arc<Mutex<T>>: counted shared ownership. Three tasks each own a clone of an Arc whose value holds a
 * Mutex; they add to the total through the Mutex, because the Arc itself gives only a read-only view
 * (mutation goes through an interior-mutable type, as in Rust). When the last strong handle drops, the
 * value's `[Symbol.dispose]` runs, and `Weak.upgrade()` returns `undefined` from then on.
 */
import { Arc, Mutex } from "lockbox";

class Tally implements Disposable {
  readonly total = new Mutex(0);
  closed = false;
  [Symbol.dispose](): void {
    this.closed = true;
  }
}

export async function main(): Promise<void> {
  const tally = new Tally();
  const shared = new Arc(tally);
  const watcher = shared.downgrade(); // a Weak: observes without keeping the value alive

  // #region tour
  async function task(handle: Arc<Tally>, amount: number): Promise<void> {
    try {
      for (let i = 0; i < 10; i++) {
        await handle.value.total.withLock(async (guard) => {
          const before = guard.value;
          await null; // other tasks run here; the Mutex keeps this atomic
          guard.value = before + amount;
        });
      }
    } finally {
      handle.drop(); // this task's share of ownership ends
    }
  }

  const amounts = [5, 10, 15];
  await Promise.all(amounts.map((amount) => task(shared.clone(), amount)));
  // #endregion tour
  console.log(`total: ${await shared.value.total.withLock((guard) => guard.value)}`);
  console.log(`strong count after the tasks: ${shared.strongCount}`);

  // Mutating through the Arc does not compile (Rust's E0596); only the Mutex inside can change state.
  const mistake = () => {
    // @ts-expect-error: through an Arc the value is DeepReadonly
    shared.value.closed = true;
  };
  void mistake;

  shared.drop(); // the last strong handle: the Tally is disposed now
  console.log(`disposed: ${tally.closed}; weak.upgrade(): ${watcher.upgrade()}`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
