import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { awsActionsOf } from "#test/support/aws-actions-in-code.js";
import { allows, type Deployment, invokeArn, operatorPolicy } from "#test/support/operator-policies.js";

/**
 * iam/ca-admin.json, the policy of whoever onboards and retires CAs: `fleetgate ca` calls IoT Core
 * with these credentials, so the policy grants exactly the IoT actions the CA commands' code calls
 * (read from it, as the functions' grants are) and, for a CA's recall, one route of the API.
 */
const ROOT = join(import.meta.dirname, "..", "..");
const DEPLOYMENT: Deployment = {
  region: "eu-west-1",
  account: "123456789012",
  apiId: "a1b2c3d4e5",
  stage: "prod",
};
const policy = operatorPolicy("ca-admin", DEPLOYMENT);
const CA = `arn:aws:iot:eu-west-1:123456789012:cacert/${"c".repeat(64)}`;

describe("the CA administrator's IAM policy", () => {
  it("grants every IoT action the ca commands call, and no other", () => {
    const called = awsActionsOf("test/support/entries/ca-commands.ts");
    const granted = new Set(
      policy.Statement.flatMap((statement) => [statement.Action].flat()).filter((a) => a.startsWith("iot:")),
    );
    expect([...granted].sort()).toEqual([...called].sort());
  });

  it("lets describing and changing a CA touch CA certificates only", () => {
    expect(allows(policy, "iot:UpdateCACertificate", CA)).toBe(true);
    expect(
      allows(policy, "iot:UpdateCACertificate", `arn:aws:iot:eu-west-1:123456789012:cert/${"c".repeat(64)}`),
    ).toBe(false);
    expect(allows(policy, "iot:UpdateCACertificate", CA.replace("eu-west-1", "us-east-1"))).toBe(false);
  });

  it("of the operations API, lets it call only a CA's recall", () => {
    const routes = Object.entries(
      parse(readFileSync(join(ROOT, "openapi.yaml"), "utf8")).paths as Record<
        string,
        Record<string, unknown>
      >,
    ).flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => ({ method: method.toUpperCase(), path })),
    );
    const invokable = routes
      .filter((route) =>
        allows(
          policy,
          "execute-api:Invoke",
          invokeArn(DEPLOYMENT, route.method, route.path.replace(/\{[^}]+\}/g, "x1")),
        ),
      )
      .map((route) => `${route.method} ${route.path}`);
    expect(invokable).toEqual(["POST /cas/{caCertificateId}/recall"]);
  });
});
