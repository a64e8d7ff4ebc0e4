#!/usr/bin/env node
// Packages serverless.yml offline (osls + serverless-esbuild): dummy credentials, no AWS calls.
// Leaves .serverless/cloudformation-template-update-stack.json and one zip per function.
//   node scripts/package.mjs [--stage dev] [--region us-east-1] [--package <dir>]   (or: ... <stage>)
// --package puts the result in <dir> instead of .serverless (the local stack packages apart).
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { values, positionals } = parseArgs({
  options: { stage: { type: "string" }, region: { type: "string" }, package: { type: "string" } },
  allowPositionals: true,
});
const stage = values.stage ?? positionals[0] ?? "dev";
const region = values.region ?? "us-east-1";

// Credentials from the caller's profile or SSO must not leak in: packaging never needs real ones.
const env = { ...process.env };
for (const name of ["AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"]) {
  delete env[name];
}

const started = Date.now();
const result = spawnSync(
  join(root, "node_modules", ".bin", "osls"),
  ["package", "--stage", stage, "--region", region, ...(values.package ? ["--package", values.package] : [])],
  {
    cwd: root,
    stdio: "inherit",
    env: {
      ...env,
      AWS_ACCESS_KEY_ID: "testing",
      AWS_SECRET_ACCESS_KEY: "testing",
      AWS_REGION: region,
      AWS_DEFAULT_REGION: region,
      AWS_EC2_METADATA_DISABLED: "true",
      FLEETGATE_ESBUILD_DIR: `.esbuild/${stage}-${process.pid}`,
      // osls has no telemetry or update checks (checked: `package` opens no sockets); these
      // switches only keep it that way should a later version add some.
      SLS_TELEMETRY_DISABLED: "1",
      SLS_TRACKING_DISABLED: "1",
      SLS_NOTIFICATIONS_MODE: "off",
      SLS_DEPRECATION_DISABLE: "*",
    },
  },
);
if (result.error) {
  console.error(`package: osls could not run: ${result.error.message} (npm ci first?)`);
  process.exit(1);
}
if (result.status === 0) console.log(`package: ${stage} (${region}) in ${Date.now() - started} ms`);
process.exit(result.status ?? 1);
