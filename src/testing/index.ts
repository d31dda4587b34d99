/**
 * `lockbox/testing`: explore the interleavings of your own async code (loom for JavaScript).
 *
 * @module lockbox/testing
 */
export { ExplorationError } from "./exploration-error.js";
export { type ExploreContext, type ExploreOptions, type ExploreResult, explore } from "./explore.js";
