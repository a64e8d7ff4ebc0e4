#!/usr/bin/env node
// Bundles the fleetgate CLI into dist/: one ES module to start (fleetgate.mjs) and chunks that the
// commands import when they need them (the AWS credential chain, SigV4, the table's clients), so
// `--help` and `--version` parse only what they use. Every dependency is inside: the installed
// package needs no node_modules of its own. Run by `npm install` and `npm pack` (prepare).
import { readFileSync, renameSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = fileURLToPath(new URL("..", import.meta.url));
const { version } = JSON.parse(readFileSync(`${root}package.json`, "utf8"));
const dist = `${root}dist`;
// Built beside dist/ and swapped in whole, so a CLI running meanwhile never sees half a build.
const staging = `${dist}.${process.pid}`;

await build({
  absWorkingDir: root,
  entryPoints: { fleetgate: "src/cli/main.ts" },
  outdir: staging,
  outExtension: { ".js": ".mjs" },
  chunkNames: "chunks/[name]-[hash]",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20.19",
  // The ES module builds of the AWS SDK, as the functions' bundles take them.
  mainFields: ["module", "main"],
  minify: true,
  // Bundled CommonJS dependencies call require() for Node's modules: give each ES module one.
  banner: {
    js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
  },
  define: { FLEETGATE_VERSION: JSON.stringify(version) },
  logLevel: "warning",
});

const old = `${dist}.old.${process.pid}`;
try {
  renameSync(dist, old);
} catch {
  // No earlier build.
}
renameSync(staging, dist);
rmSync(old, { recursive: true, force: true });
