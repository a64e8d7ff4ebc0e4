/**
 * Builds the real adapters for the use cases; called once per container. Each function imports
 * only the wiring/ modules it uses, so no function bundles another's libraries: the idempotency
 * library is the operations API's alone, the X.509 parser and the CSV reader stay out of the
 * functions that verify no certificate and read no manifest. This module gathers the shared
 * builders for the CLI and the tests; no function imports it.
 */
export * from "./wiring/manifests.js";
export * from "./wiring/operations.js";
export * from "./wiring/provisioning.js";
export * from "./wiring/shared.js";
