import type { Command } from "commander";
import { readStackOutputs, resolveStack, type StackFlags, stackOptions } from "./stack-outputs.js";
import { printableJson } from "./terminal.js";

/**
 * fleetgate config: the shell settings that point the CLI at a deployment, read from its stack's
 * outputs (CloudFormation DescribeStacks, with the operator's own credentials):
 *   eval "$(fleetgate config --stage prod)"
 */
export interface ConfigCommandIo {
  readonly out: (text: string) => void;
  /** The region from the AWS configuration: the environment, then the profile's config. */
  readonly awsRegion?: (profile: string | undefined) => Promise<string | undefined>;
}

/** A value as one shell word: single-quoted unless it is plainly safe. */
const shellWord = (value: string): string =>
  /^[A-Za-z0-9_./:@%+=,-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;

export const addConfigCommand = (program: Command, io: ConfigCommandIo): void => {
  stackOptions(
    program
      .command("config")
      .description(
        'print the export lines that point fleetgate at a deployment (its API URL and region), from its stack\'s outputs: eval "$(fleetgate config --stage prod)"',
      ),
  ).action(async (flags: StackFlags) => {
    const stack = await resolveStack(flags, io.awsRegion);
    const { OperationsApiUrl } = await readStackOutputs(stack, ["OperationsApiUrl"]);
    // The region too: the API's calls are signed for the region the AWS configuration names first.
    const settings = { FLEETGATE_API_URL: OperationsApiUrl, AWS_REGION: stack.region };
    io.out(
      flags.json
        ? printableJson({ stackName: stack.stackName, ...settings })
        : Object.entries(settings)
            .map(([name, value]) => `export ${name}=${shellWord(value)}`)
            .join("\n"),
    );
  });
};
