#!/usr/bin/env node
// Lints the packaged CloudFormation with cfn-lint and checkov (offline). Run `npm run package` first.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const template = join(root, ".serverless", "cloudformation-template-update-stack.json");
const venv = process.env.FLEETGATE_VENV ?? join(root, ".venv");
if (!existsSync(template)) {
  console.error(`lint-cfn: ${template} is missing; run npm run package first`);
  process.exit(2);
}
const run = (tool, args) => {
  const result = spawnSync(join(venv, "bin", tool), args, {
    cwd: root,
    stdio: "inherit",
    env: { ...process.env, BC_SKIP_MAPPING: "TRUE" },
  });
  if (result.error) throw result.error;
  return result.status ?? 1;
};
const cfnLint = run("cfn-lint", ["--config-file", ".cfnlintrc.yaml"]);
const checkov = run("checkov", ["-f", template, "--config-file", ".checkov.yaml"]);
console.log(`lint-cfn: cfn-lint exit ${cfnLint}, checkov exit ${checkov}`);
process.exit(cfnLint === 0 && checkov === 0 ? 0 : 1);
