/**
 * `lockbox/diagnostics` (work in progress).
 *
 * @module lockbox/diagnostics
 */
export {};
