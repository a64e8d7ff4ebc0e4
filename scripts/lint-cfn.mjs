#!/usr/bin/env node
// Lints the packaged CloudFormation with cfn-lint and checkov, offline; any finding fails.
// Deliberate exceptions live in .cfnlintrc.yaml and .checkov.yaml, each with its reason.
// Run `npm run package` first, or name another packaged template: lint-cfn.mjs [template.json]
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const template = process.argv[2] ?? join(root, ".serverless", "cloudformation-template-update-stack.json");
const venv = process.env.FLEETGATE_VENV ?? join(root, ".venv");
if (!existsSync(template)) {
  console.error(`lint-cfn: ${template} is missing; run npm run package first`);
  process.exit(2);
}

const run = (command, args) => {
  const result = spawnSync(command, args, { cwd: root, stdio: "inherit" });
  if (result.error) {
    console.error(`lint-cfn: ${command} could not run: ${result.error.message}`);
    process.exit(2);
  }
  return result.status ?? 1;
};

// On a fresh machine this creates .venv (cfn-lint, checkov); otherwise it returns at once.
const pythonEnv = join(root, "scripts", "python-env.mjs");
if (existsSync(pythonEnv) && run(process.execPath, [pythonEnv]) !== 0) process.exit(2);

const cfnLint = run(join(venv, "bin", "cfn-lint"), ["--config-file", ".cfnlintrc.yaml", "--", template]);
// checkov exits 0 when it cannot parse the template (it then checks nothing): read its JSON
// summary and fail on parsing errors and empty scans as well as on findings.
const checkov = (() => {
  const result = spawnSync(
    join(venv, "bin", "checkov"),
    [
      ...["-f", template, "--config-file", ".checkov.yaml", "--framework", "cloudformation"],
      ...["--compact", "--quiet", "--skip-download", "--output", "json"],
    ],
    // Offline: no Prisma Cloud guideline mapping download.
    { cwd: root, encoding: "utf8", env: { ...process.env, BC_SKIP_MAPPING: "TRUE" }, maxBuffer: 64 << 20 },
  );
  if (result.error) {
    console.error(`lint-cfn: checkov could not run: ${result.error.message}`);
    process.exit(2);
  }
  process.stderr.write(result.stderr);
  let report;
  try {
    report = [JSON.parse(result.stdout)].flat().find((r) => r.check_type === "cloudformation");
  } catch {
    process.stdout.write(result.stdout);
  }
  if (!report) {
    console.error("lint-cfn: checkov gave no cloudformation report");
    return result.status || 1;
  }
  const { passed, failed, skipped, parsing_errors: parsingErrors } = report.summary;
  for (const check of report.results.failed_checks ?? []) {
    const lines = check.file_line_range?.join("-") ?? "?";
    console.log(`checkov: FAILED ${check.check_id} ${check.resource} (lines ${lines}): ${check.check_name}`);
  }
  console.log(
    `checkov: ${passed} passed, ${failed} failed, ${skipped} skipped, ${parsingErrors} parsing errors`,
  );
  if (parsingErrors > 0 || passed === 0) return 1;
  return result.status ?? 1;
})();
console.log(`lint-cfn: cfn-lint exit ${cfnLint}, checkov exit ${checkov}`);
process.exit(cfnLint === 0 && checkov === 0 ? 0 : 1);
