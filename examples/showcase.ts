/**
 * `npm start`: a short guided tour of lockbox in the terminal. Each stop runs one example from this
 * folder (the same files the README shows and the tests run) and says what happened and why.
 */
interface Stop {
  file: string;
  title: string;
  why: string;
}

const stops: Stop[] = [
  {
    file: "./quick-start.ts",
    title: "A value that lives inside its lock",
    why: "Mutex<T> owns the counter. The only way to reach it is the guard from lock()/withLock(), so ten tasks that each await mid-update still count to exactly 10. `using` releases the guard at block end.",
  },
  {
    file: "./rwlock-cache.ts",
    title: "Read-mostly data: RwLock with downgrade()",
    why: "Readers share the lock; a miss takes the write lock, fills the entry and downgrades atomically to a read guard, so no writer can slip in between. A queued writer blocks later readers: writers never starve.",
  },
  {
    file: "./semaphore-fetch.ts",
    title: "Limiting concurrency: Semaphore with timeouts",
    why: "Two permits means two fetches in flight. A request that cannot get a slot within its timeout leaves the queue at once and holds nothing: no dead waiter, no leaked permit, no stray timer.",
  },
  {
    file: "./arc-mutex.ts",
    title: "Arc<Mutex<T>>: counted ownership shared by tasks",
    why: "Arc gives shared, read-only access and counts its owners; mutation goes through the Mutex inside it, exactly as in Rust. When the last Arc drops, a disposable value is disposed.",
  },
  {
    file: "./refcell-track.ts",
    title: "RefCell: the borrow held across an await, caught",
    why: "RefCell checks Rust's borrow rules at run time. With { track: true } the error names the line where the conflicting borrow was taken — the classic bug of holding a Ref across an await.",
  },
  {
    file: "./worker-pool.ts",
    title: "Worker threads: one counter in shared memory",
    why: "lockbox/threads locks live in SharedArrayBuffer memory. The Mutex and its struct cross to workers through postMessage and are rebuilt with Mutex.from(); blocking lockSync() in workers and async lock() on the main thread exclude each other.",
  },
  {
    file: "./worker-poison.ts",
    title: "A worker dies holding the lock",
    why: "A supervised worker that exits while holding a lock leaves it released and poisoned; waiters wake with PoisonError instead of hanging forever, and can look at the data with ignorePoison, then clearPoison().",
  },
];

const line = "─".repeat(72);
const tour = stops;
const started = performance.now();
for (const [index, stop] of tour.entries()) {
  console.log(`\n${line}\n ${index + 1}/${tour.length}  ${stop.title}\n${line}`);
  const module = (await import(stop.file)) as { main(): Promise<void> };
  await module.main();
  console.log(`\n  why: ${stop.why}`);
}
console.log(
  `\n${line}\n Tour done in ${((performance.now() - started) / 1000).toFixed(1)} s. Next: README.md, npm test, npm run bench.\n${line}`,
);
