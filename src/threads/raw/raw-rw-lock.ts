/**
 * A writer-preferring reader-writer lock over shared words, with owner-death recovery of the writer,
 * of readers and of the upgradable reader, and poisoning. Split by concern:
 *
 * | file                  | what                                                                        |
 * |-----------------------|-----------------------------------------------------------------------------|
 * | ./rw-word.ts          | the layout, the state word: read, write, downgrade, give up, poison, dead writer |
 * | ./rw-reader-slots.ts  | reader slots, reaping the shares of dead readers, the reaping steps `RwLock` runs |
 * | ./rw-upgrade.ts       | upgradable reads, upgrade, and the lifecycle of an upgradable guard        |
 *
 * Every step goes through an `AtomicsLike`, so the model checker (test/threads/model) runs this code.
 */
export * from "./rw-reader-slots.js";
export * from "./rw-upgrade.js";
export * from "./rw-word.js";
