import type { Command } from "commander";
import { CliError } from "./failures.js";
import { httpsAgent } from "./http.js";

/**
 * Commands that work on a deployment with the operator's own AWS credentials (not through the
 * operations API) find what they need in its stack's outputs: these options say which stack.
 */
export interface StackFlags {
  stage: string;
  stackName?: string;
  region?: string;
  profile?: string;
  json?: boolean;
}

/** Where a deployment is: its stack's name and region, and the operator's profile. */
export interface StackOptions {
  readonly stackName: string;
  readonly region: string;
  readonly profile?: string | undefined;
}

export const stackOptions = (command: Command) =>
  command
    .option("--stage <stage>", "the deployment's stage: the stack is fleetgate-<stage>", "dev")
    .option("--stack-name <name>", "the stack's name (default fleetgate-<stage>)")
    .option(
      "--region <region>",
      "the stack's region (default: AWS_REGION, AWS_DEFAULT_REGION, the profile's)",
    )
    .option("--profile <name>", "AWS profile whose credentials are used (default: AWS_PROFILE, the chain)")
    .option("--json", "print JSON");

/** The stack the flags name, in the region given or the AWS configuration's. */
export const resolveStack = async (
  flags: StackFlags,
  awsRegion?: (profile: string | undefined) => Promise<string | undefined>,
): Promise<StackOptions> => {
  const region = flags.region ?? (await awsRegion?.(flags.profile));
  if (!region)
    throw new CliError({
      kind: "invalid",
      message: "no region: give --region, set AWS_REGION, or set region in the profile's config",
    });
  return {
    stackName: flags.stackName ?? `fleetgate-${flags.stage}`,
    region,
    ...(flags.profile ? { profile: flags.profile } : {}),
  };
};

/** SDK client settings for the stack's region and the operator's profile, trusting AWS_CA_BUNDLE. */
export const clientConfig = (options: StackOptions) => {
  const env = process.env;
  return {
    region: options.region,
    ...(options.profile ? { profile: options.profile } : {}),
    requestHandler: {
      httpsAgent: httpsAgent({ caBundle: env.AWS_CA_BUNDLE, nodeExtraCaCerts: env.NODE_EXTRA_CA_CERTS }),
    },
  };
};

/**
 * The stack's outputs by name (DescribeStacks), each asked for by name: a stack without one is an
 * older deployment, and said so. The SDK client is loaded here, by the command that runs.
 */
export const readStackOutputs = async <const K extends string>(
  options: StackOptions,
  names: readonly K[],
): Promise<Record<K, string>> => {
  const { CloudFormationClient, DescribeStacksCommand } = await import("@aws-sdk/client-cloudformation");
  let outputs: Record<string, string>;
  try {
    const out = await new CloudFormationClient(clientConfig(options)).send(
      new DescribeStacksCommand({ StackName: options.stackName }),
    );
    outputs = Object.fromEntries(
      (out.Stacks?.[0]?.Outputs ?? []).map((output) => [output.OutputKey ?? "", output.OutputValue ?? ""]),
    );
  } catch (error) {
    if ((error as Error).name === "ValidationError" && /does not exist/.test((error as Error).message))
      throw new CliError({
        kind: "notFound",
        message: `no stack ${options.stackName} in ${options.region}`,
        hint: "give --stack-name, or --stage for fleetgate-<stage>, and --region or --profile for where it is deployed",
      });
    throw error;
  }
  const missing = names.filter((name) => !outputs[name]);
  if (missing.length > 0)
    throw new CliError({
      kind: "invalid",
      message: `stack ${options.stackName} has no output ${missing.join(", ")}`,
      hint: "deploy this version of fleetgate: it names what the CLI needs in the stack's outputs",
    });
  return Object.fromEntries(names.map((name) => [name, outputs[name] as string])) as Record<K, string>;
};
