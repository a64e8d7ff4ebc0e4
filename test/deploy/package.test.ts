import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { lifecycleTableDefinition } from "#adapters/table-definition.js";
import { PRODUCTION_PACKAGE } from "#test/support/packaging-setup.js";

/** `npm run package` must work offline, and what it produces must be what we mean to deploy. */
const root = join(import.meta.dirname, "..", "..");

type Resource = { Type: string; Properties: Record<string, unknown> };
let resources: Record<string, Resource>;
const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
const only = (type: string): Resource => {
  const found = ofType(type);
  expect(found, type).toHaveLength(1);
  return found[0]?.[1] as Resource;
};

beforeAll(() => {
  // test/support/packaging-setup.ts packaged it.
  const template = JSON.parse(
    readFileSync(join(PRODUCTION_PACKAGE, "cloudformation-template-update-stack.json"), "utf8"),
  );
  resources = template.Resources;
});

/** Evaluates the Fn::Join / Fn::Split of literals that serverless.yml builds names with. */
const evaluate = (value: unknown): unknown => {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return value;
  const [[fn, args]] = Object.entries(value) as [[string, [unknown, unknown]]];
  const [separator, operand] = args;
  if (fn === "Fn::Join") return (evaluate(operand) as string[]).join(separator as string);
  if (fn === "Fn::Split") return (evaluate(operand) as string).split(separator as string);
  throw new Error(`cannot evaluate ${fn}`);
};

type Statement = { Action: string | string[]; Resource: unknown };
// IoT calls whose IAM action takes no resource (Service Authorization Reference).
const IOT_WITHOUT_RESOURCE = new Set(["iot:DescribeEndpoint", "iot:ListCACertificates"]);
const statementsOf = (role: string): Statement[] => {
  const properties = resources[role]?.Properties as
    | { Policies: { PolicyDocument: { Statement: Statement[] } }[] }
    | undefined;
  expect(properties, role).toBeDefined();
  return properties?.Policies.flatMap((p) => p.PolicyDocument.Statement) ?? [];
};

describe("packaged CloudFormation", () => {
  it("routes JITR events of pending certificates to the queue with SQL 2016-03-23 and an error action", () => {
    const payload = only("AWS::IoT::TopicRule").Properties.TopicRulePayload as Record<string, unknown>;
    expect(payload.Sql).toBe(
      "SELECT * FROM '$aws/events/certificates/registered/#' WHERE certificateStatus = 'PENDING_ACTIVATION'",
    );
    expect(payload.AwsIotSqlVersion).toBe("2016-03-23");
    expect(payload.Actions).toEqual([{ Sqs: expect.objectContaining({ QueueUrl: { Ref: "JitrQueue" } }) }]);
    expect(payload.ErrorAction).toBeDefined();
  });

  it("names the rule with only the characters IoT allows, and lets only that rule use its role", () => {
    const ruleName = only("AWS::IoT::TopicRule").Properties.RuleName;
    expect(evaluate(ruleName)).toBe("fleetgate_dev_jitr");
    expect(resources.TopicRuleRole?.Properties.AssumeRolePolicyDocument).toMatchObject({
      Statement: [
        {
          Principal: { Service: "iot.amazonaws.com" },
          Condition: {
            ArnEquals: {
              "aws:SourceArn": {
                "Fn::Sub": [expect.stringMatching(/:rule\/\$\{RuleName\}$/), { RuleName: ruleName }],
              },
            },
          },
        },
      ],
    });
  });

  it("gives the queue a dead-letter queue and reports partial batch failures", () => {
    const queue = resources.JitrQueue?.Properties as Record<string, unknown>;
    expect(queue.RedrivePolicy).toMatchObject({
      deadLetterTargetArn: { "Fn::GetAtt": ["JitrDeadLetterQueue", "Arn"] },
    });
    const mapping = ofType("AWS::Lambda::EventSourceMapping")
      .map(([, r]) => r.Properties as Record<string, unknown>)
      .find((m) => JSON.stringify(m.EventSourceArn).includes("JitrQueue")) as Record<string, unknown>;
    expect(mapping.FunctionResponseTypes).toEqual(["ReportBatchItemFailures"]);
    expect(mapping.ScalingConfig).toEqual({ MaximumConcurrency: 2 });
  });

  it("declares the table the adapters use: on demand, point-in-time recovery, encrypted, same keys and indexes", () => {
    const table = resources.DevicesTable?.Properties as Record<string, unknown>;
    const expected = lifecycleTableDefinition("x");
    expect(table.BillingMode).toBe("PAY_PER_REQUEST");
    expect(table.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
    expect(table.SSESpecification).toEqual({ SSEEnabled: true });
    expect(table.KeySchema).toEqual(expected.KeySchema);
    expect(table.AttributeDefinitions).toEqual(expected.AttributeDefinitions);
    expect(table.GlobalSecondaryIndexes).toEqual(expected.GlobalSecondaryIndexes);
  });

  // Which actions each role grants is test/deploy/iam-grants.test.ts; here, how wide they are.
  it("grants no wildcard action, and IoT actions only on the account's own ARNs", () => {
    const roles = Object.entries(resources).filter(([, r]) => r.Type === "AWS::IAM::Role");
    for (const [role] of roles) {
      for (const statement of statementsOf(role)) {
        const actions = [statement.Action].flat();
        expect(
          actions.filter((a) => a.includes("*")),
          role,
        ).toEqual([]);
        // Calls IAM knows no resource for are granted on "*" in a statement of their own.
        if (!actions.some((a) => a.startsWith("iot:")) || actions.every((a) => IOT_WITHOUT_RESOURCE.has(a)))
          continue;
        for (const resource of [statement.Resource].flat())
          expect(JSON.stringify(resource), `${role} ${actions}`).toMatch(
            /^\{"Fn::(Sub|GetAtt)":.*(arn:\$\{AWS::Partition\}:iot:\$\{AWS::Region\}:\$\{AWS::AccountId\}:|DeviceThingGroup)/,
          );
      }
    }
  });

  it("serves exactly the documented operations routes, each behind IAM authorisation", () => {
    const routes = ofType("AWS::ApiGatewayV2::Route").map(
      ([, r]) => r.Properties as { RouteKey: string; AuthorizationType: string },
    );
    const documented = Object.entries(
      parse(readFileSync(join(root, "openapi.yaml"), "utf8")).paths as Record<
        string,
        Record<string, unknown>
      >,
    ).flatMap(([path, methods]) => Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`));
    expect(routes.map((r) => r.RouteKey).sort()).toEqual(documented.sort());
    expect(new Set(routes.map((r) => r.AuthorizationType))).toEqual(new Set(["AWS_IAM"]));
  });

  it("logs access to the API and limits its request rate", () => {
    const stage = only("AWS::ApiGatewayV2::Stage").Properties;
    expect(stage.AccessLogSettings).toBeDefined();
    expect(stage.DefaultRouteSettings).toEqual({ ThrottlingBurstLimit: 20, ThrottlingRateLimit: 10 });
  });

  it("keeps manifests in a private, encrypted bucket whose uploads trigger the ingest function, expiring processed ones", () => {
    const bucket = resources.S3BucketManifests?.Properties as Record<string, unknown>;
    expect(bucket.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    expect(bucket.BucketEncryption).toBeDefined();
    expect(JSON.stringify(bucket.LifecycleConfiguration)).toMatch(/"ExpirationInDays":30/);
    expect(JSON.stringify(bucket.NotificationConfiguration)).toMatch(/IngestManifestLambdaFunction/);
    // S3 invokes it asynchronously: what still fails after Lambda's retries is kept, not dropped.
    expect(resources.IngestManifestLambdaFunction?.Properties.DeadLetterConfig).toEqual({
      TargetArn: { "Fn::GetAtt": ["IngestManifestDeadLetterQueue", "Arn"] },
    });
  });

  it("alarms on every dead-letter queue, notifying the alarm topic (and its optional email subscriber)", () => {
    const queues = Object.entries(resources)
      .filter(([id, r]) => r.Type === "AWS::SQS::Queue" && id.endsWith("DeadLetterQueue"))
      .map(([id]) => id);
    expect(queues).toHaveLength(3);
    const alarms = ofType("AWS::CloudWatch::Alarm").map(([, r]) => r.Properties);
    for (const queue of queues)
      expect(alarms).toContainEqual(
        expect.objectContaining({
          MetricName: "ApproximateNumberOfMessagesVisible",
          Dimensions: [{ Name: "QueueName", Value: { "Fn::GetAtt": [queue, "QueueName"] } }],
          Threshold: 1,
          AlarmActions: [{ Ref: "AlarmTopic" }],
        }),
      );
    expect(resources.AlarmEmailSubscription).toMatchObject({ Condition: "HasAlarmEmail" });
  });

  it("paces recalls through a queue with a dead-letter queue", () => {
    const queue = resources.RecallQueue?.Properties as Record<string, unknown>;
    expect(queue.RedrivePolicy).toMatchObject({
      deadLetterTargetArn: { "Fn::GetAtt": ["RecallDeadLetterQueue", "Arn"] },
    });
    const mappings = ofType("AWS::Lambda::EventSourceMapping").map(
      ([, r]) => r.Properties as { EventSourceArn: unknown; ScalingConfig?: unknown },
    );
    expect(mappings.map((m) => m.EventSourceArn)).toContainEqual({ "Fn::GetAtt": ["RecallQueue", "Arn"] });
  });

  it("bundles the handler as an ES module", () => {
    expect(existsSync(join(PRODUCTION_PACKAGE, "jitr.zip"))).toBe(true);
    const listing = spawnSync("python3", ["-m", "zipfile", "-l", join(PRODUCTION_PACKAGE, "jitr.zip")], {
      encoding: "utf8",
    });
    expect(listing.stdout).toMatch(/functions\/jitr\.mjs/);
  });

  it("passes cfn-lint and checkov", () => {
    const lint = spawnSync(
      process.execPath,
      [
        join(root, "scripts", "lint-cfn.mjs"),
        join(PRODUCTION_PACKAGE, "cloudformation-template-update-stack.json"),
      ],
      { cwd: root, encoding: "utf8" },
    );
    expect(lint.status, lint.stdout + lint.stderr).toBe(0);
  }, 120_000);
});
