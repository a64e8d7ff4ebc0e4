import { execFileSync } from "node:child_process";
import {
  CloudFormationClient,
  CloudFormationServiceException,
  DescribeStacksCommand,
} from "@aws-sdk/client-cloudformation";
import { mockClient } from "aws-sdk-client-mock";
import "aws-sdk-client-mock-vitest/extend";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { EXIT } from "#cli/failures.js";
import { awsEnvironment, runProcessCli, STATIC_KEYS } from "./real-cli.js";

/** fleetgate config as a process runs it, against a mocked CloudFormation. */
const cloudFormation = mockClient(CloudFormationClient);
const API_URL = "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com";

const stack = (outputs: Record<string, string>) =>
  cloudFormation.on(DescribeStacksCommand).resolves({
    Stacks: [
      {
        StackName: "fleetgate-prod",
        CreationTime: new Date(),
        StackStatus: "UPDATE_COMPLETE",
        Outputs: Object.entries(outputs).map(([OutputKey, OutputValue]) => ({ OutputKey, OutputValue })),
      },
    ],
  });

beforeEach(() => {
  cloudFormation.reset();
  awsEnvironment({ env: { ...STATIC_KEYS, AWS_REGION: "eu-west-1" } });
});

afterEach(() => {
  vi.unstubAllEnvs();
});

describe("fleetgate config", () => {
  it("prints the export lines for the stage's stack: its API URL and its region", async () => {
    stack({ OperationsApiUrl: API_URL, DevicesTableName: "fleetgate-prod-DevicesTable-X" });

    const result = await runProcessCli(["config", "--stage", "prod"]);

    expect(result.code, result.stderr).toBe(EXIT.ok);
    expect(cloudFormation).toHaveReceivedCommandWith(DescribeStacksCommand, { StackName: "fleetgate-prod" });
    expect(result.stdout).toBe(`export FLEETGATE_API_URL=${API_URL}\nexport AWS_REGION=eu-west-1\n`);
  });

  it("prints lines a shell evaluates into the settings the CLI reads", async () => {
    stack({ OperationsApiUrl: API_URL });

    const result = await runProcessCli(["config", "--stack-name", "fleetgate-prod"]);
    const shell = execFileSync(
      "sh",
      ["-c", `${result.stdout}\nprintf '%s %s' "$FLEETGATE_API_URL" "$AWS_REGION"`],
      {
        encoding: "utf8",
        env: { PATH: process.env.PATH },
      },
    );

    expect(shell).toBe(`${API_URL} eu-west-1`);
  });

  it("reads the named stack in the region given, and answers JSON with --json", async () => {
    stack({ OperationsApiUrl: API_URL });

    const result = await runProcessCli([
      "config",
      "--stack-name",
      "ops-fleet",
      "--region",
      "ap-south-1",
      "--json",
    ]);

    expect(result.code, result.stderr).toBe(EXIT.ok);
    expect(cloudFormation).toHaveReceivedCommandWith(DescribeStacksCommand, { StackName: "ops-fleet" });
    expect(JSON.parse(result.stdout)).toEqual({
      stackName: "ops-fleet",
      FLEETGATE_API_URL: API_URL,
      AWS_REGION: "ap-south-1",
    });
  });

  it("says there is no such stack with the not-found exit code", async () => {
    cloudFormation.on(DescribeStacksCommand).rejects(
      new CloudFormationServiceException({
        name: "ValidationError",
        $fault: "client",
        $metadata: {},
        message: "Stack with id fleetgate-nope does not exist",
      }),
    );

    const result = await runProcessCli(["config", "--stage", "nope"]);

    expect(result.code).toBe(EXIT.notFound);
    expect(result.stderr).toMatch(/no stack fleetgate-nope in eu-west-1/);
  });

  it("refuses credentials IAM denies with the not-authorised exit code", async () => {
    cloudFormation.on(DescribeStacksCommand).rejects(
      new CloudFormationServiceException({
        name: "AccessDenied",
        $fault: "client",
        $metadata: { httpStatusCode: 403 },
        message:
          "User: arn:aws:iam::123456789012:user/ops is not authorized to perform: cloudformation:DescribeStacks",
      }),
    );

    const result = await runProcessCli(["config", "--stage", "prod"]);

    expect(result.code).toBe(EXIT.notAuthorised);
  });

  it("says a stack of an older version, without the API URL among its outputs, must be deployed again", async () => {
    stack({ DevicesTableName: "fleetgate-prod-DevicesTable-X" });

    const result = await runProcessCli(["config", "--stage", "prod"]);

    expect(result.code).toBe(EXIT.invalid);
    expect(result.stderr).toMatch(/has no output OperationsApiUrl/);
  });
});
