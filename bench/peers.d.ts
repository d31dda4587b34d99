// Minimal typings for the two peers that ship none (facts from their READMEs and sources).

declare module "mutexify/promise.js" {
  /** Resolves with a release function once the lock is yours. */
  type Acquire = (() => Promise<() => void>) & { readonly locked: boolean };
  const mutexify: () => Acquire;
  export default mutexify;
}

declare module "rwlock" {
  type Release = () => void;
  class ReadWriteLock {
    readLock(callback: (release: Release) => void): void;
    writeLock(callback: (release: Release) => void): void;
  }
  export default ReadWriteLock;
}
