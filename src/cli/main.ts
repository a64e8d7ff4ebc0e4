import { userInfo } from "node:os";
import { loadStoreConfig } from "#adapters/config.js";
import { batchDeps } from "#adapters/wiring.js";
import { runCli } from "./program.js";

// The CLI talks to the table named by DEVICES_TABLE, with credentials from the standard AWS chain.
const actor = process.env.FLEETGATE_ACTOR ?? `cli:${userInfo().username}`;
process.exitCode = await runCli(process.argv.slice(2), {
  deps: () => batchDeps(loadStoreConfig()),
  out: (text) => process.stdout.write(text.endsWith("\n") ? text : `${text}\n`),
  err: (text) => process.stderr.write(text.endsWith("\n") ? text : `${text}\n`),
  actor,
});
