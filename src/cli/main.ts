// Before any command loads the X.509 library, which checks for it as its module is evaluated: in
// the bundle a CommonJS side-effect import runs after the ES modules of its chunk, so the import
// beside the library's own (domain/certificate.ts) comes too late there.
import "reflect-metadata";
import { readFileSync } from "node:fs";
import { processIo } from "./process-io.js";
import { runCli } from "./program.js";

// The bundle has the version built in (scripts/build-cli.mjs); the sources read package.json.
declare const FLEETGATE_VERSION: string | undefined;
const version =
  typeof FLEETGATE_VERSION === "string"
    ? FLEETGATE_VERSION
    : (
        JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
          version: string;
        }
      ).version;

process.exitCode = await runCli(process.argv.slice(2), processIo(process, version));
