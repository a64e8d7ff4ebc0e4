import { describe, expect, it } from "vitest";
import { awsActionsOf } from "#test/support/aws-actions-in-code.js";
import { allows, type Deployment, operatorPolicy } from "#test/support/operator-policies.js";

/**
 * iam/claim-admin.json, the policy of whoever makes and revokes claim certificates: `fleetgate
 * claim` calls IoT Core and the lifecycle table with these credentials, so the policy grants exactly
 * the IoT and DynamoDB actions the claim commands' code calls (read from it, as the functions'
 * grants are), on the deployment's own certificates, claim policy and table items.
 */
const DEPLOYMENT: Deployment = {
  region: "eu-west-1",
  account: "123456789012",
  apiId: "a1b2c3d4e5",
  stage: "prod",
};
const policy = operatorPolicy("claim-admin", DEPLOYMENT);
const ACCOUNT = "eu-west-1:123456789012";

describe("the claim administrator's IAM policy", () => {
  it("grants every IoT and DynamoDB action the claim commands call, and no other", () => {
    const called = [...awsActionsOf("test/support/entries/claim-commands.ts")].filter(
      (action) => action.startsWith("iot:") || action.startsWith("dynamodb:"),
    );
    const granted = new Set(
      policy.Statement.flatMap((statement) => [statement.Action].flat()).filter(
        (action) => action.startsWith("iot:") || action.startsWith("dynamodb:"),
      ),
    );
    expect([...granted].sort()).toEqual(called.sort());
  });

  it("finds its deployment from the stack's outputs, and nothing of another stage's", () => {
    const stack = (stage: string) => `arn:aws:cloudformation:${ACCOUNT}:stack/fleetgate-${stage}/0a1b`;
    expect(allows(policy, "cloudformation:DescribeStacks", stack("prod"))).toBe(true);
    expect(allows(policy, "cloudformation:DescribeStacks", stack("dev"))).toBe(false);
  });

  it("changes certificates and lists versions of the claim policy only, in its own account and region", () => {
    const certificate = `arn:aws:iot:${ACCOUNT}:cert/${"c".repeat(64)}`;
    expect(allows(policy, "iot:UpdateCertificate", certificate)).toBe(true);
    expect(allows(policy, "iot:UpdateCertificate", certificate.replace("eu-west-1", "us-east-1"))).toBe(
      false,
    );
    expect(
      allows(policy, "iot:ListPolicyVersions", `arn:aws:iot:${ACCOUNT}:policy/fleetgate-prod-claim`),
    ).toBe(true);
    expect(
      allows(policy, "iot:ListPolicyVersions", `arn:aws:iot:${ACCOUNT}:policy/fleetgate-device-prod`),
    ).toBe(false);
  });

  it("reaches the deployment's table only for claim and batch items, and lists claims only", () => {
    const table = `arn:aws:dynamodb:${ACCOUNT}:table/fleetgate-prod-DevicesTable-1A2B3C`;
    expect(allows(policy, "dynamodb:PutItem", table)).toBe(true);
    expect(allows(policy, "dynamodb:PutItem", table.replace("prod", "dev"))).toBe(false);
    expect(allows(policy, "dynamodb:Query", `${table}/index/gsi1`)).toBe(true);
    expect(allows(policy, "dynamodb:Query", table)).toBe(false);
    const keys = policy.Statement.filter((statement) =>
      [statement.Action].flat().some((a) => a.startsWith("dynamodb:")),
    ).map((statement) => (statement as { Condition?: unknown }).Condition);
    expect(keys).toEqual([
      { "ForAllValues:StringLike": { "dynamodb:LeadingKeys": ["CLAIM#*", "BATCH#*"] } },
      { "ForAllValues:StringEquals": { "dynamodb:LeadingKeys": ["CLAIMS"] } },
    ]);
  });
});
