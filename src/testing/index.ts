/**
 * `lockbox/testing` (work in progress).
 *
 * @module lockbox/testing
 */
export {};
