/**
 * `lockbox/redis` (work in progress).
 *
 * @module lockbox/redis
 */
export {};
