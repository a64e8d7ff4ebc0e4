#!/usr/bin/env node
// Runs the bundled CLI (dist/, made by scripts/build-cli.mjs on `npm install` and `npm pack`).
import { existsSync, readdirSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";

const bundle = fileURLToPath(new URL("../dist/fleetgate.mjs", import.meta.url));
const sources = fileURLToPath(new URL("../src/", import.meta.url));

/** Whether any source is newer than the bundle (only a development checkout has src/). */
const bundleIsStale = () => {
  if (!existsSync(bundle)) return true;
  const built = statSync(bundle).mtimeMs;
  return readdirSync(sources, { recursive: true }).some(
    (name) => statSync(`${sources}${name}`).mtimeMs > built,
  );
};

// In a development checkout whose sources changed since the last build, the sources run through
// tsx (a development dependency), so the local stack and the end-to-end tests, which spawn this
// file, never run a stale bundle. An installed package has no src/ and always runs the bundle.
if (existsSync(sources) && bundleIsStale()) {
  const { register } = await import("tsx/esm/api");
  register();
  await import("../src/cli/main.ts");
} else {
  await import("../dist/fleetgate.mjs");
}
