/**
 * `lockbox/postgres` (work in progress).
 *
 * @module lockbox/postgres
 */
export {};
