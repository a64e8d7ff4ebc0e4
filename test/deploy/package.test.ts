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
const IOT_WITHOUT_RESOURCE = new Set([
  "iot:CreateCertificateFromCsr",
  "iot:DescribeEndpoint",
  "iot:ListCACertificates",
  "iot:ListPrincipalThings",
]);
const statementsOf = (role: string): Statement[] => {
  const properties = resources[role]?.Properties as
    | { Policies: { PolicyDocument: { Statement: Statement[] } }[] }
    | undefined;
  expect(properties, role).toBeDefined();
  return properties?.Policies.flatMap((p) => p.PolicyDocument.Statement) ?? [];
};

describe("packaged CloudFormation", () => {
  it("routes JITR events of pending certificates to the queue with SQL 2016-03-23 and an error action", () => {
    const payload = resources.JitrTopicRule?.Properties.TopicRulePayload as Record<string, unknown>;
    expect(payload.Sql).toBe(
      "SELECT * FROM '$aws/events/certificates/registered/#' WHERE certificateStatus = 'PENDING_ACTIVATION'",
    );
    expect(payload.AwsIotSqlVersion).toBe("2016-03-23");
    expect(payload.Actions).toEqual([{ Sqs: expect.objectContaining({ QueueUrl: { Ref: "JitrQueue" } }) }]);
    expect(payload.ErrorAction).toBeDefined();
  });

  it("names the rules with only the characters IoT allows, and lets only those two rules use their role", () => {
    const ruleName = resources.JitrTopicRule?.Properties.RuleName;
    const thingRuleName = resources.JitpThingRule?.Properties.RuleName;
    expect(evaluate(ruleName)).toBe("fleetgate_dev_jitr");
    expect(evaluate(thingRuleName)).toBe("fleetgate_dev_jitp_things");
    expect(
      ofType("AWS::IoT::TopicRule")
        .map(([name]) => name)
        .sort(),
    ).toEqual(["JitpThingRule", "JitrTopicRule", "PresenceTopicRule", "RotationTopicRule"]);
    const ruleArn = (name: unknown) => ({
      "Fn::Sub": [expect.stringMatching(/:rule\/\$\{RuleName\}$/), { RuleName: name }],
    });
    expect(resources.TopicRuleRole?.Properties.AssumeRolePolicyDocument).toMatchObject({
      Statement: [
        {
          Principal: { Service: "iot.amazonaws.com" },
          Condition: { ArnEquals: { "aws:SourceArn": [ruleArn(ruleName), ruleArn(thingRuleName)] } },
        },
      ],
    });
  });

  it("routes only the Things fleetgate's JITP template made to the JITR queue, from the registry's created events", () => {
    const payload = resources.JitpThingRule?.Properties.TopicRulePayload as Record<string, unknown>;
    expect(payload.Sql).toBe(
      "SELECT * FROM '$aws/events/thing/+/created' WHERE attributes.provisionedBy = 'jitp'",
    );
    expect(payload.AwsIotSqlVersion).toBe("2016-03-23");
    expect(payload.Actions).toEqual([{ Sqs: expect.objectContaining({ QueueUrl: { Ref: "JitrQueue" } }) }]);
    const jitr = resources.JitrTopicRule?.Properties.TopicRulePayload as Record<string, unknown>;
    expect(payload.ErrorAction).toEqual(jitr.ErrorAction);
  });

  it("ships a JITP template that leaves the certificate INACTIVE, linted, with a role that may only make the Thing and set the certificate", async () => {
    const { lintProvisioningTemplate, jitpProfile } = await import("#domain/provisioning-template.js");
    const template = resources.JitpTemplate?.Properties as Record<string, unknown>;
    expect(template).toMatchObject({ TemplateType: "JITP", Enabled: true });
    const body = template.TemplateBody as string;
    const context = { thingGroupName: "fleetgate-dev-devices" };
    expect(lintProvisioningTemplate(body, context, jitpProfile("AWS::IoT::Certificate::CommonName"))).toEqual(
      [],
    );
    expect(JSON.parse(body).Resources.certificate.Properties.Status).toBe("INACTIVE");
    const actions = (
      (resources.JitpProvisioningRole?.Properties.Policies ?? []) as {
        PolicyDocument: { Statement: { Action: string[] }[] };
      }[]
    )
      .flatMap((policy) => policy.PolicyDocument.Statement.flatMap((statement) => statement.Action))
      .sort();
    expect(actions).toEqual([
      "iot:AttachThingPrincipal",
      "iot:CreateThing",
      "iot:DescribeCertificate",
      "iot:DescribeThing",
      "iot:UpdateCertificate",
    ]);
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
    expect(queues).toEqual(
      expect.arrayContaining([
        "JitrDeadLetterQueue",
        "RecallDeadLetterQueue",
        "IngestManifestDeadLetterQueue",
      ]),
    );
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

describe("watching it: alarms, dashboard, traces and outputs", () => {
  type Alarm = {
    id: string;
    Namespace: string;
    MetricName: string;
    Dimensions?: { Name: string; Value: unknown }[];
    Statistic: string;
    Period: number;
    Threshold: number;
    ComparisonOperator: string;
    AlarmActions: unknown[];
    OKActions: unknown[];
    AlarmDescription: unknown;
  };
  let outputs: Record<string, unknown>;
  beforeAll(() => {
    outputs = JSON.parse(
      readFileSync(join(PRODUCTION_PACKAGE, "cloudformation-template-update-stack.json"), "utf8"),
    ).Outputs;
  });
  const alarms = () => ofType("AWS::CloudWatch::Alarm").map(([id, r]) => ({ id, ...r.Properties }) as Alarm);
  const alarmsOn = (namespace: string, metric: string, dimensions?: Alarm["Dimensions"]) =>
    alarms().filter(
      (a) =>
        a.Namespace === namespace &&
        a.MetricName === metric &&
        (dimensions === undefined || JSON.stringify(a.Dimensions ?? []) === JSON.stringify(dimensions)),
    );
  const functionIds = () => ofType("AWS::Lambda::Function").map(([id]) => id);
  // What the functions are told their metrics are: the alarms must watch those.
  const emitted = () => {
    const environment = resources.JitrLambdaFunction?.Properties.Environment as
      | { Variables: Record<string, string> }
      | undefined;
    const variables = environment?.Variables ?? {};
    return {
      namespace: variables.POWERTOOLS_METRICS_NAMESPACE as string,
      service: [{ Name: "service", Value: variables.POWERTOOLS_SERVICE_NAME }],
    };
  };

  it("alarms on every function's failed invocations and on its throttles", () => {
    expect(functionIds().length).toBeGreaterThanOrEqual(5);
    for (const id of functionIds())
      for (const metric of ["Errors", "Throttles"])
        expect(
          alarmsOn("AWS/Lambda", metric, [{ Name: "FunctionName", Value: { Ref: id } }]).map((a) => [
            a.Statistic,
            a.Threshold,
            a.ComparisonOperator,
          ]),
          `${id} ${metric}`,
        ).toEqual([["Sum", 1, "GreaterThanOrEqualToThreshold"]]);
  });

  it("alarms when IoT Core cannot deliver a JITR event: a metric filter counts every record the rule's error action writes", () => {
    const payload = resources.JitrTopicRule?.Properties.TopicRulePayload as {
      ErrorAction: { CloudwatchLogs: { LogGroupName: unknown } };
    };
    expect(payload.ErrorAction.CloudwatchLogs.LogGroupName).toEqual({ Ref: "TopicRuleErrorLogGroup" });
    const filter = only("AWS::Logs::MetricFilter").Properties as {
      LogGroupName: unknown;
      FilterPattern: string;
      MetricTransformations: { MetricNamespace: string; MetricName: string; MetricValue: string }[];
    };
    expect(filter.LogGroupName).toEqual({ Ref: "TopicRuleErrorLogGroup" });
    expect(filter.FilterPattern).toBe("");
    const [metric] = filter.MetricTransformations;
    expect(metric).toMatchObject({ MetricValue: "1" });
    expect(alarmsOn(metric?.MetricNamespace ?? "", metric?.MetricName ?? "")).toEqual([
      expect.objectContaining({ Statistic: "Sum", Threshold: 1 }),
    ]);
  });

  it("alarms on any 5xx answer of the operations API", () => {
    expect(alarmsOn("AWS/ApiGateway", "5xx", [{ Name: "ApiId", Value: { Ref: "HttpApi" } }])).toEqual([
      expect.objectContaining({
        Statistic: "Sum",
        Threshold: 1,
        ComparisonOperator: "GreaterThanOrEqualToThreshold",
      }),
    ]);
  });

  it("alarms on the metrics the functions emit: any security event, any FAILED batch, and refusals above the baseline", () => {
    const { namespace, service } = emitted();
    const on = (metric: string) => alarmsOn(namespace, metric, service);
    expect(on("SecurityEvent")).toEqual([
      expect.objectContaining({
        Statistic: "Sum",
        Threshold: 1,
        ComparisonOperator: "GreaterThanOrEqualToThreshold",
      }),
    ]);
    expect(on("BatchFailed")).toEqual([
      expect.objectContaining({
        Statistic: "Sum",
        Threshold: 1,
        ComparisonOperator: "GreaterThanOrEqualToThreshold",
      }),
    ]);
    // The baseline: more than 5 refusals in 15 minutes (param refusalAlarmThreshold).
    expect(on("Refused")).toEqual([
      expect.objectContaining({
        Statistic: "Sum",
        Period: 900,
        Threshold: 5,
        ComparisonOperator: "GreaterThanThreshold",
      }),
    ]);
  });

  it("has every alarm notify the alarm topic when it fires and when it clears, and tell the operator where to look", () => {
    expect(alarms().length).toBeGreaterThanOrEqual(18);
    for (const alarm of alarms()) {
      expect(alarm.AlarmActions, alarm.id).toEqual([{ Ref: "AlarmTopic" }]);
      expect(alarm.OKActions, alarm.id).toEqual([{ Ref: "AlarmTopic" }]);
      const description = JSON.stringify(alarm.AlarmDescription);
      expect(description, alarm.id).toMatch(/Look at|look at|run fleetgate/);
      expect(description.length, alarm.id).toBeLessThanOrEqual(1024);
    }
  });

  it("encrypts the alarm topic with a key CloudWatch may publish with (it cannot use the AWS-managed SNS key)", () => {
    expect(resources.AlarmTopic?.Properties.KmsMasterKeyId).toEqual({ Ref: "AlarmTopicKey" });
    const key = resources.AlarmTopicKey?.Properties as {
      EnableKeyRotation: boolean;
      KeyPolicy: { Statement: { Principal: unknown; Action: string | string[]; Condition?: unknown }[] };
    };
    expect(key.EnableKeyRotation).toBe(true);
    const cloudWatch = key.KeyPolicy.Statement.find(
      (s) => JSON.stringify(s.Principal) === JSON.stringify({ Service: "cloudwatch.amazonaws.com" }),
    );
    expect([cloudWatch?.Action].flat().sort()).toEqual(["kms:Decrypt", "kms:GenerateDataKey*"]);
    expect(cloudWatch?.Condition).toEqual({
      StringEquals: { "aws:SourceAccount": { Ref: "AWS::AccountId" } },
    });
  });

  describe("the dashboard", () => {
    let body: {
      widgets: { type: string; properties: { title?: string; metrics?: unknown[]; alarms?: string[] } }[];
    };
    let placeholders: string[];
    beforeAll(() => {
      const dashboard = only("AWS::CloudWatch::Dashboard").Properties as {
        DashboardBody: { "Fn::Sub": string };
      };
      const template = dashboard.DashboardBody["Fn::Sub"];
      placeholders = [...template.matchAll(/\$\{([^}]+)\}/g)].map((m) => m[1] as string);
      body = JSON.parse(template);
    });
    const widget = (title: RegExp) => {
      const found = body.widgets.find((w) => title.test(w.properties.title ?? ""));
      expect(found, String(title)).toBeDefined();
      return JSON.stringify(found?.properties.metrics ?? found?.properties.alarms);
    };

    it("names only the stack's own resources", () => {
      for (const placeholder of placeholders) {
        const [id] = placeholder.split(".");
        if (id?.startsWith("AWS::")) continue;
        expect(resources[id ?? ""], placeholder).toBeDefined();
      }
    });

    it("shows the provisioning rate, and its latency as the JITR function's duration and the queue's oldest event", () => {
      expect(widget(/Provisioning rate/)).toMatch(/"Fleetgate","Provisioned","service","fleetgate"/);
      const latency = widget(/latency/);
      expect(latency).toMatch(/"AWS\/Lambda","Duration","FunctionName","\$\{JitrLambdaFunction\}"/);
      expect(latency).toMatch(
        /"AWS\/SQS","ApproximateAgeOfOldestMessage","QueueName","\$\{JitrQueue.QueueName\}"/,
      );
    });

    it("breaks refusals and waits down by reason, with a search over the Reason dimension", () => {
      expect(widget(/Refusals by reason/)).toContain(
        `SEARCH('{Fleetgate,Reason,service} MetricName=\\"Refused\\"', 'Sum', 300)`,
      );
      expect(widget(/Waiting by reason/)).toContain(
        `SEARCH('{Fleetgate,Reason,service} MetricName=\\"Waiting\\"', 'Sum', 300)`,
      );
    });

    it("shows the depth and age of every queue, the dead-letter queues included", () => {
      const queues = ofType("AWS::SQS::Queue").map(([id]) => id);
      expect(queues).toEqual(expect.arrayContaining(["JitrQueue", "RecallQueue", "JitrDeadLetterQueue"]));
      for (const queue of queues) {
        expect(widget(/Queue depth/)).toContain(
          `"ApproximateNumberOfMessagesVisible","QueueName","\${${queue}.QueueName}"`,
        );
        expect(widget(/Queue age/)).toContain(
          `"ApproximateAgeOfOldestMessage","QueueName","\${${queue}.QueueName}"`,
        );
      }
    });

    it("shows every function's errors and throttles, the API's 4xx and 5xx, and every alarm's state", () => {
      for (const id of functionIds()) {
        expect(widget(/Lambda errors/)).toContain(`"Errors","FunctionName","\${${id}}"`);
        expect(widget(/Lambda throttles/)).toContain(`"Throttles","FunctionName","\${${id}}"`);
      }
      expect(widget(/Operations API/)).toMatch(
        /"4xx","ApiId","\$\{HttpApi\}".*"5xx","ApiId","\$\{HttpApi\}"/,
      );
      expect(JSON.parse(widget(/Alarms/)).sort()).toEqual(
        alarms()
          .map((a) => `\${${a.id}.Arn}`)
          .sort(),
      );
    });
  });

  it("traces AWS calls only in the JITR function and the operations API (the X-Ray SDK costs a cold start ~10 ms)", () => {
    const holdsXRay = (zip: string) =>
      spawnSync(
        "python3",
        [
          "-c",
          "import sys,zipfile; z=zipfile.ZipFile(sys.argv[1]); print(any(b'XRaySDKInstrumentation' in z.read(n) for n in z.namelist()))",
          join(PRODUCTION_PACKAGE, zip),
        ],
        { encoding: "utf8" },
      ).stdout.trim() === "True";
    const traced = ofType("AWS::Lambda::Function")
      .map(([, r]) => (r.Properties.Code as { S3Key: string }).S3Key.split("/").at(-1) as string)
      .filter(holdsXRay)
      .sort();
    expect(traced).toEqual(["jitr.zip", "operationsApi.zip"]);
  });

  it("outputs what fleetgate config and an operator need: the API, its region, the table, the queues, the alarm topic, the dashboard", () => {
    expect(Object.keys(outputs)).toEqual(
      expect.arrayContaining([
        "OperationsApiUrl",
        "HttpApiId",
        "Region",
        "DevicesTableName",
        "JitrQueueUrl",
        "JitrDeadLetterQueueUrl",
        "RecallQueueUrl",
        "RecallDeadLetterQueueUrl",
        "IngestManifestDeadLetterQueueUrl",
        "ManifestBucketName",
        "AlarmTopicArn",
        "DashboardUrl",
      ]),
    );
  });
});
