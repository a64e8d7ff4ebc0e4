import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { awsActionsOf } from "#test/support/aws-actions-in-code.js";
import { PRODUCTION_PACKAGE, ROOT } from "#test/support/packaging-setup.js";

/**
 * Each function's role grants exactly what its code calls: an action the code calls and the role
 * lacks fails in AWS; an action the role grants and the code never calls is privilege to spare.
 * The code's actions are read from the code (test/support/aws-actions-in-code.ts); the Lambda
 * service's own calls for the function (logs, traces, polling its queue) are added from the template.
 */
type Statement = { Sid?: string; Effect: string; Action: string | string[]; Resource: unknown };
type Resource = { Type: string; Properties: Record<string, unknown> };
let resources: Record<string, Resource>;

beforeAll(() => {
  resources = JSON.parse(
    readFileSync(join(PRODUCTION_PACKAGE, "cloudformation-template-update-stack.json"), "utf8"),
  ).Resources;
});

const statementsOf = (role: string): Statement[] => {
  const properties = resources[role]?.Properties as
    | { Policies: { PolicyDocument: { Statement: Statement[] } }[] }
    | undefined;
  if (!properties) throw new Error(`no role ${role}`);
  return properties.Policies.flatMap((p) => p.PolicyDocument.Statement);
};

const functions = () =>
  Object.entries(resources)
    .filter(([, r]) => r.Type === "AWS::Lambda::Function")
    .map(([logicalId, r]) => {
      const properties = r.Properties as {
        Handler: string;
        Role: { "Fn::GetAtt": [string, string] };
        DeadLetterConfig?: unknown;
      };
      return {
        logicalId,
        entry: `${properties.Handler.replace(/\.handler$/, "")}.ts`,
        role: properties.Role["Fn::GetAtt"][0],
        deadLetters: properties.DeadLetterConfig !== undefined,
      };
    });

/** What the Lambda service does with the function's role: write its logs and traces, poll its queue. */
const platformActions = (logicalId: string, deadLetters: boolean): string[] => {
  const polled = Object.values(resources).some(
    (r) =>
      r.Type === "AWS::Lambda::EventSourceMapping" &&
      JSON.stringify(r.Properties.FunctionName).includes(`"${logicalId}"`),
  );
  return [
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    ...(polled
      ? ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"]
      : []),
    ...(deadLetters ? ["sqs:SendMessage"] : []),
  ];
};

describe("IAM grants, read from the code", () => {
  it("finds every function of the template", () => {
    expect(
      functions()
        .map((f) => f.entry)
        .sort(),
    ).toEqual([
      "functions/device-policy.ts",
      "functions/ingest-manifest.ts",
      "functions/jitr.ts",
      "functions/operations-api.ts",
      "functions/provisioning-hook.ts",
      "functions/recall-worker.ts",
      "functions/reconciler.ts",
      "functions/reservation-confirm.ts",
      "functions/retire-certificates.ts",
      "functions/rotation-worker.ts",
      "functions/rotation.ts",
    ]);
  });

  for (const name of [
    "jitr",
    "operations-api",
    "ingest-manifest",
    "recall-worker",
    "device-policy",
    "reconciler",
    "provisioning-hook",
    "reservation-confirm",
    "retire-certificates",
    "rotation",
    "rotation-worker",
  ]) {
    it(`grants functions/${name}.ts every action its code calls, and nothing it does not call`, () => {
      const fn = functions().find((f) => f.entry === `functions/${name}.ts`);
      if (!fn) throw new Error(`no function for functions/${name}.ts`);
      const needed = new Set([...awsActionsOf(fn.entry), ...platformActions(fn.logicalId, fn.deadLetters)]);
      const granted = new Set(
        statementsOf(fn.role)
          .filter((s) => s.Effect === "Allow")
          .flatMap((s) => [s.Action].flat()),
      );
      expect({
        missing: [...needed].filter((a) => !granted.has(a)).sort(),
        unused: [...granted].filter((a) => !needed.has(a)).sort(),
      }).toEqual({ missing: [], unused: [] });
    });
  }

  it("lets no role attach a policy to a certificate: AttachPolicy is granted on the devices' thing group only", () => {
    const grants = Object.entries(resources)
      .filter(([, r]) => r.Type === "AWS::IAM::Role")
      .flatMap(([role]) => statementsOf(role).map((s) => ({ role, ...s })))
      .filter((s) => [s.Action].flat().some((a) => a === "iot:AttachPolicy" || a === "iot:*" || a === "*"));
    expect(grants.map((g) => g.role)).toEqual(["DevicePolicyRole"]);
    for (const grant of grants)
      expect(JSON.stringify(grant.Resource)).toMatch(
        /^\{"Fn::Sub":"arn:\$\{AWS::Partition\}:iot:[^"]*:thinggroup\/fleetgate-dev-devices"\}$/,
      );
  });

  it("reads the code's calls, not a list: a command added to an adapter method shows up", () => {
    // The derivation itself must be able to fail: the JITR function calls no S3 and the
    // operations function does.
    expect([...awsActionsOf("functions/jitr.ts")].some((a) => a.startsWith("s3:"))).toBe(false);
    expect(awsActionsOf("functions/operations-api.ts").has("s3:PutObject")).toBe(true);
    expect(readFileSync(join(ROOT, "src", "adapters", "s3-manifests.ts"), "utf8")).toMatch(
      /PutObjectCommand/,
    );
  });
});
