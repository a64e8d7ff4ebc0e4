import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  CloudFormationClient,
  CreateStackCommand,
  DescribeStackEventsCommand,
  DescribeStackResourcesCommand,
  DescribeStacksCommand,
  type Stack,
  UpdateStackCommand,
} from "@aws-sdk/client-cloudformation";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { type LocalAws, localClientConfig } from "./ministack.js";

/**
 * Deploys the packaged artifact, as `osls deploy` does: the create template (the deployment
 * bucket), the function zips and the full template into that bucket, then an update from the
 * template's S3 URL (it is larger than the 51,200 bytes CloudFormation takes inline). Nothing
 * here is a second stack written for local use: the template and zips are what
 * `npm run package` makes.
 */
const ROOT = new URL("../../", import.meta.url).pathname;
export const LOCAL_STAGE = "local";
export const LOCAL_PACKAGE_DIR = join(ROOT, ".local", "package-local");

export interface DeployedStack {
  readonly stackName: string;
  readonly outputs: Readonly<Record<string, string>>;
  /** Physical ids of the stack's resources, by logical id. */
  readonly resources: Readonly<Record<string, string>>;
}

/** Packages the service for the local stage (osls + serverless-esbuild, offline). */
export const packageLocalStage = (directory = LOCAL_PACKAGE_DIR): void => {
  const result = spawnSync(
    process.execPath,
    [join(ROOT, "scripts", "package.mjs"), "--stage", LOCAL_STAGE, "--package", directory],
    { cwd: ROOT, encoding: "utf8" },
  );
  if (result.status !== 0)
    throw new Error(`packaging the local stage failed:\n${result.stdout}\n${result.stderr}`);
};

export const deployPackagedStack = async (
  aws: Pick<LocalAws, "endpoint" | "region" | "caBundlePath">,
  directory = LOCAL_PACKAGE_DIR,
  stackName = `fleetgate-${LOCAL_STAGE}`,
): Promise<DeployedStack> => {
  const config = localClientConfig(aws);
  const cloudFormation = new CloudFormationClient(config);
  const s3 = new S3Client({ ...config, forcePathStyle: true });
  const template = (name: string) => readFileSync(join(directory, name), "utf8");
  const capabilities = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"] as const;

  await cloudFormation.send(
    new CreateStackCommand({
      StackName: stackName,
      TemplateBody: template("cloudformation-template-create-stack.json"),
      Capabilities: [...capabilities],
    }),
  );
  await settle(cloudFormation, stackName);
  const bucket = (await physicalIds(cloudFormation, stackName)).ServerlessDeploymentBucket;
  if (!bucket) throw new Error("the create template made no deployment bucket");

  const update = template("cloudformation-template-update-stack.json");
  // The zips go where the update template's Code.S3Key points, under the artifact directory.
  const artifactDirectory = /"S3Key":\s*"([^"]+)\/[^/"]+\.zip"/.exec(update)?.[1];
  if (!artifactDirectory) throw new Error("the update template names no function zip");
  const upload = (name: string, body: Buffer | string) =>
    s3.send(new PutObjectCommand({ Bucket: bucket, Key: `${artifactDirectory}/${name}`, Body: body }));
  for (const zip of readdirSync(directory).filter((name) => name.endsWith(".zip")))
    await upload(zip, readFileSync(join(directory, zip)));
  const templateName = "compiled-cloudformation-template.json";
  await upload(templateName, update);

  await cloudFormation.send(
    new UpdateStackCommand({
      StackName: stackName,
      TemplateURL: `https://s3.amazonaws.com/${bucket}/${artifactDirectory}/${templateName}`,
      Capabilities: [...capabilities],
    }),
  );
  const stack = await settle(cloudFormation, stackName);
  return {
    stackName,
    outputs: Object.fromEntries((stack.Outputs ?? []).map((o) => [o.OutputKey ?? "", o.OutputValue ?? ""])),
    resources: await physicalIds(cloudFormation, stackName),
  };
};

/** Waits for the stack to leave its *_IN_PROGRESS state; fails with the resources that failed. */
const settle = async (cloudFormation: CloudFormationClient, stackName: string): Promise<Stack> => {
  const deadline = Date.now() + 300_000;
  for (;;) {
    const stack = (await cloudFormation.send(new DescribeStacksCommand({ StackName: stackName })))
      .Stacks?.[0];
    const status = stack?.StackStatus ?? "UNKNOWN";
    if (stack && status.endsWith("_COMPLETE") && !status.includes("ROLLBACK")) return stack;
    if (!status.endsWith("_IN_PROGRESS") || Date.now() > deadline) {
      const events = await cloudFormation.send(new DescribeStackEventsCommand({ StackName: stackName }));
      const failures = (events.StackEvents ?? [])
        .filter((event) => event.ResourceStatus?.endsWith("FAILED"))
        .map((event) => `${event.LogicalResourceId}: ${event.ResourceStatusReason}`);
      throw new Error(`stack ${stackName} is ${status}\n${failures.join("\n")}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
};

const physicalIds = async (cloudFormation: CloudFormationClient, stackName: string) => {
  const out = await cloudFormation.send(new DescribeStackResourcesCommand({ StackName: stackName }));
  return Object.fromEntries(
    (out.StackResources ?? []).map((r) => [r.LogicalResourceId ?? "", r.PhysicalResourceId ?? ""]),
  );
};
