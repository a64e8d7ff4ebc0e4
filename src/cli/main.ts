import { userInfo } from "node:os";
import { loadManifestConfig } from "#adapters/config.js";
import { manifestDeps } from "#adapters/wiring.js";
import { createApiClient } from "./api-client.js";
import { runCli } from "./program.js";

// The CLI's own configuration: the table for batch registration (DEVICES_TABLE), the operations
// API for device commands (FLEETGATE_API_URL or --api-url), credentials from the standard AWS chain.
const write = (stream: NodeJS.WriteStream) => (text: string) =>
  stream.write(text.endsWith("\n") ? text : `${text}\n`);
process.exitCode = await runCli(process.argv.slice(2), {
  deps: () => manifestDeps(loadManifestConfig()),
  devices: {
    api: ({ apiUrl, region }) => createApiClient({ baseUrl: apiUrl, region }),
    out: write(process.stdout),
    ...(process.env.FLEETGATE_API_URL ? { defaultApiUrl: process.env.FLEETGATE_API_URL } : {}),
    defaultRegion: process.env.AWS_REGION ?? "us-east-1",
  },
  out: write(process.stdout),
  err: write(process.stderr),
  actor: process.env.FLEETGATE_ACTOR ?? `cli:${userInfo().username}`,
});
