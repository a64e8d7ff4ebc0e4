#!/usr/bin/env node
// Deploys fleetgate to AWS with osls, after checking the params a deployment must set, and prints
// the stack's outputs (what `fleetgate config` reads).
//   npm run deploy -- --stage prod --region eu-west-1 --param bucketSuffix=123456789012 --param alarmEmail=ops@example.com
// Every argument goes to `osls deploy` as given (--aws-profile, --param, --verbose, ...), but
// --dry-run, which checks and says what would run without running it.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parse } from "yaml";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** The value of a `--name value` or `--name=value` option (or its short alias), last one wins. */
const optionOf = (argv, names) => {
  let value;
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    for (const name of names) {
      if (arg === name) value = argv[i + 1];
      else if (arg.startsWith(`${name}=`)) value = arg.slice(name.length + 1);
    }
  }
  return value;
};

/** Every `--param name=value` given. */
const paramsOf = (argv) => {
  const params = {};
  for (let i = 0; i < argv.length; i += 1) {
    const raw =
      argv[i] === "--param" ? argv[i + 1] : argv[i].startsWith("--param=") ? argv[i].slice(8) : undefined;
    if (raw === undefined) continue;
    const at = raw.indexOf("=");
    if (at > 0) params[raw.slice(0, at)] = raw.slice(at + 1);
  }
  return params;
};

/**
 * What a deployment would use, or why it must not go ahead: the stage, the region, the stack, and
 * the params that matter, from the command line first, then serverless.yml's params for the stage,
 * then its defaults (as osls resolves them).
 */
export const deploymentPlan = (argv, service) => {
  const stage = optionOf(argv, ["--stage", "-s"]) ?? "dev";
  // serverless.yml's provider.region: the --region option, else us-east-1 (not AWS_REGION).
  const region = optionOf(argv, ["--region", "-r"]) ?? "us-east-1";
  const given = paramsOf(argv);
  const param = (name) => given[name] ?? service.params?.[stage]?.[name] ?? service.params?.default?.[name];
  const problems = [];
  if (stage === "local")
    problems.push(
      "the local stage is the local stack's (npm start): its IAM grants are widened for the emulator; deploy another stage to AWS",
    );
  if (!/^[a-zA-Z0-9-]+$/.test(stage)) problems.push(`stage ${stage}: letters, digits and hyphens only`);
  const bucketSuffix = String(param("bucketSuffix") ?? "");
  const bucket = `fleetgate-${stage}-manifests-${bucketSuffix}`;
  if (!bucketSuffix || bucketSuffix === "change-me")
    problems.push(
      "set --param bucketSuffix=<suffix>: bucket names are global, so the manifest bucket needs a suffix of its own (your account id, say)",
    );
  else if (!/^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/.test(bucketSuffix) || bucket.length > 63)
    problems.push(
      `--param bucketSuffix=${bucketSuffix}: the bucket ${bucket} must be 3-63 lowercase letters, digits and hyphens`,
    );
  const alarmEmail = String(param("alarmEmail") ?? "");
  if (alarmEmail && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(alarmEmail))
    problems.push(`--param alarmEmail=${alarmEmail} is not an email address`);
  const threshold = param("refusalAlarmThreshold");
  if (threshold !== undefined && !(Number(threshold) >= 0))
    problems.push(`--param refusalAlarmThreshold=${threshold}: a number of refusals in 15 minutes`);
  return {
    stage,
    region,
    stackName: `fleetgate-${stage}`,
    profile: optionOf(argv, ["--aws-profile"]),
    bucket,
    alarmEmail,
    problems,
  };
};

/** The stack's outputs, as `name  value` lines. */
const printOutputs = async (plan) => {
  const { CloudFormationClient, DescribeStacksCommand } = await import("@aws-sdk/client-cloudformation");
  const client = new CloudFormationClient({
    region: plan.region,
    ...(plan.profile ? { profile: plan.profile } : {}),
  });
  const out = await client.send(new DescribeStacksCommand({ StackName: plan.stackName }));
  const outputs = (out.Stacks?.[0]?.Outputs ?? [])
    .filter(
      (o) =>
        !/LambdaFunctionQualifiedArn$|^ServerlessDeploymentBucketName$|^HttpApiUrl$/.test(o.OutputKey ?? ""),
    )
    .map((o) => [o.OutputKey ?? "", o.OutputValue ?? ""])
    .sort(([a], [b]) => a.localeCompare(b));
  const width = Math.max(...outputs.map(([key]) => key.length));
  console.log(`\nstack ${plan.stackName} (${plan.region}):`);
  for (const [key, value] of outputs) console.log(`  ${key.padEnd(width)}  ${value}`);
  console.log(
    `\npoint the CLI at it:  eval "$(npx fleetgate config --stage ${plan.stage} --region ${plan.region}${plan.profile ? ` --profile ${plan.profile}` : ""})"`,
  );
  if (!plan.alarmEmail)
    console.log(
      "no alarm email was given: subscribe someone to AlarmTopicArn, or deploy again with --param alarmEmail=...",
    );
  else
    console.log(`${plan.alarmEmail} gets an email from SNS to confirm the alarm subscription: confirm it.`);
};

const main = async () => {
  const dryRun = process.argv.includes("--dry-run");
  const argv = process.argv.slice(2).filter((arg) => arg !== "--dry-run");
  const service = parse(readFileSync(join(root, "serverless.yml"), "utf8"), { logLevel: "silent" });
  const plan = deploymentPlan(argv, service);
  if (plan.problems.length > 0) {
    for (const problem of plan.problems) console.error(`deploy: ${problem}`);
    console.error("deploy: nothing was deployed (README, Deployment: the params and their defaults)");
    process.exit(2);
  }
  console.log(`deploy: ${plan.stackName} to ${plan.region}, manifests in s3://${plan.bucket}`);
  if (dryRun) {
    console.log(`deploy: would run osls deploy ${argv.join(" ")} (dry run: nothing deployed)`);
    return;
  }
  const deployed = spawnSync(join(root, "node_modules", ".bin", "osls"), ["deploy", ...argv], {
    cwd: root,
    stdio: "inherit",
  });
  if (deployed.error) {
    console.error(`deploy: osls could not run: ${deployed.error.message} (npm ci first?)`);
    process.exit(1);
  }
  if (deployed.status !== 0) process.exit(deployed.status ?? 1);
  await printOutputs(plan);
};

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
