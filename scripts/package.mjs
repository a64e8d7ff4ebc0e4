#!/usr/bin/env node
// Packages serverless.yml offline: dummy credentials, no telemetry, no AWS calls.
// Leaves .serverless/cloudformation-template-update-stack.json and the function zips.
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const stage = process.argv[2] ?? "dev";
const result = spawnSync(join(root, "node_modules", ".bin", "osls"), ["package", "--stage", stage], {
  cwd: root,
  stdio: "inherit",
  env: {
    ...process.env,
    AWS_ACCESS_KEY_ID: "AKIAPACKAGEOFFLINE00",
    AWS_SECRET_ACCESS_KEY: "package-offline",
    AWS_REGION: "us-east-1",
    SLS_TELEMETRY_DISABLED: "1",
    SLS_TRACKING_DISABLED: "1",
    SLS_NOTIFICATIONS_MODE: "off",
    SLS_DEPRECATION_DISABLE: "*",
  },
});
process.exit(result.status ?? 1);
