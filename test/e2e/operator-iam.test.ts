import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  CreateAccessKeyCommand,
  CreateUserCommand,
  DeleteAccessKeyCommand,
  DeleteUserCommand,
  DeleteUserPolicyCommand,
  IAMClient,
  PutUserPolicyCommand,
} from "@aws-sdk/client-iam";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { EXIT } from "#cli/failures.js";
import { localCliEnvironment } from "#local/local-cli.js";
import type { LocalStack } from "#local/local-stack.js";
import { localClientConfig } from "#local/ministack.js";
import { type OperatorPolicyName, operatorPolicy } from "#test/support/operator-policies.js";

/**
 * The operator policies of iam/ on the deployed stack (ministack evaluates IAM on every call, the
 * API's execute-api:Invoke included): an IAM user holding one runs the CLI as an operator does.
 */
const ROOT = new URL("../../", import.meta.url).pathname;
const execute = promisify(execFile);

let stack: LocalStack;
let iam: IAMClient;
const users: { name: string; policy: string; accessKeyId: string }[] = [];

/** An IAM user holding the policy (filled in for the local stack), and its keys. */
const operator = async (policy: OperatorPolicyName) => {
  const name = `fleetgate-e2e-${policy}-${randomUUID().slice(0, 8)}`;
  await iam.send(new CreateUserCommand({ UserName: name }));
  const document = operatorPolicy(policy, {
    region: stack.aws.region,
    account: stack.aws.accountId,
    apiId: stack.stack.outputs.HttpApiId ?? "",
    stage: "local",
  });
  await iam.send(
    new PutUserPolicyCommand({
      UserName: name,
      PolicyName: policy,
      PolicyDocument: JSON.stringify(document),
    }),
  );
  const key = (await iam.send(new CreateAccessKeyCommand({ UserName: name }))).AccessKey;
  if (!key?.AccessKeyId || !key.SecretAccessKey) throw new Error(`no access key for ${name}`);
  users.push({ name, policy, accessKeyId: key.AccessKeyId });
  return { accessKeyId: key.AccessKeyId, secretAccessKey: key.SecretAccessKey };
};

/** The CLI as a process, with the user's keys (the API's URL and the endpoint as the local stack's). */
const cliAs =
  (keys: { accessKeyId: string; secretAccessKey: string }) =>
  async (...args: string[]) => {
    try {
      const { stdout, stderr } = await execute(
        process.execPath,
        [join(ROOT, "bin", "fleetgate.mjs"), ...args],
        {
          cwd: ROOT,
          env: {
            PATH: process.env.PATH,
            HOME: process.env.HOME,
            AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
            ...localCliEnvironment(stack),
            AWS_ACCESS_KEY_ID: keys.accessKeyId,
            AWS_SECRET_ACCESS_KEY: keys.secretAccessKey,
            AWS_ENDPOINT_URL: stack.aws.endpoint,
          },
        },
      );
      return { code: 0, stdout, stderr };
    } catch (error) {
      const failed = error as { code?: number; stdout?: string; stderr?: string };
      return { code: failed.code ?? 1, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" };
    }
  };

beforeAll(() => {
  stack = inject("localStack");
  iam = new IAMClient(localClientConfig(stack.aws));
});

afterAll(async () => {
  for (const user of users) {
    await iam.send(new DeleteUserPolicyCommand({ UserName: user.name, PolicyName: user.policy }));
    await iam.send(new DeleteAccessKeyCommand({ UserName: user.name, AccessKeyId: user.accessKeyId }));
    await iam.send(new DeleteUserCommand({ UserName: user.name }));
  }
});

describe("an operator holding iam/operator-read-only.json", () => {
  it("reads through the API, and is refused a revoke with the not-authorised exit code", async () => {
    const fleetgate = cliAs(await operator("operator-read-only"));

    const list = await fleetgate("batch", "list", "--json");
    expect(list.code, list.stderr).toBe(EXIT.ok);
    expect(JSON.parse(list.stdout)).toHaveProperty("batches");

    const revoke = await fleetgate("device", "revoke", "e2e-iam-anyone", "--reason", "read-only tries");
    expect(revoke.code, revoke.stderr).toBe(EXIT.notAuthorised);
    expect(revoke.stderr).toMatch(/POST .*\/devices\/e2e-iam-anyone\/revoke/);
  });

  it("finds the deployment with fleetgate config: the stack's outputs are readable", async () => {
    const fleetgate = cliAs(await operator("operator-read-only"));

    const config = await fleetgate("config", "--stage", "local", "--json");

    expect(config.code, config.stderr).toBe(EXIT.ok);
    expect(JSON.parse(config.stdout)).toEqual({
      stackName: "fleetgate-local",
      FLEETGATE_API_URL: stack.stack.outputs.OperationsApiUrl,
      AWS_REGION: stack.aws.region,
    });
    expect(stack.stack.outputs.OperationsApiUrl).toContain(stack.stack.outputs.HttpApiId);
  });
});

describe("an operator holding iam/operator-admin.json", () => {
  it("gets through to the API for a revoke: an unknown device is not found, not refused", async () => {
    const fleetgate = cliAs(await operator("operator-admin"));

    const revoke = await fleetgate("device", "revoke", "e2e-iam-nobody", "--reason", "admin tries");

    expect(revoke.code, revoke.stderr).toBe(EXIT.notFound);
  });
});
